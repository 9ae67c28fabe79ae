/* util.c - allocation, randomness, buffers, value parsers; see util.h. */
#include "cm/util.h"

#include <ctype.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"

void *
xmalloc(size_t size)
{
	void *p = malloc(size == 0 ? 1 : size);

	if (p == NULL)
		fatal("xmalloc %zu", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		fatal("xcalloc %zu*%zu", n, size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size == 0 ? 1 : size);

	if (q == NULL)
		fatal("xrealloc %zu", size);
	return q;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		fatalx("xreallocarray: %zu*%zu overflows", n, size);
	return xrealloc(p, n * size);
}

char *
xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *
xmemdup(const void *p, size_t n)
{
	void *q = xmalloc(n);

	if (n > 0)
		memcpy(q, p, n);
	return q;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("xasprintf");
	return s;
}

void
util_random(void *buf, size_t len)
{
	int rc = gnutls_rnd(GNUTLS_RND_RANDOM, buf, len);

	if (rc < 0)
		fatalx("util_random: %s", gnutls_strerror(rc));
}

uint64_t
util_connid(void)
{
	uint64_t id;

	do {
		if (gnutls_rnd(GNUTLS_RND_NONCE, &id, sizeof(id)) < 0)
			fatalx("util_connid: no randomness");
	} while (id == 0);
	return id;
}

bool
util_memeq_ct(const void *a, const void *b, size_t len)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char diff = 0;
	size_t i;

	for (i = 0; i < len; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

void
util_hex(const void *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static void
util_buf_reserve(struct util_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 64;
	while (b->cap < need)
		b->cap *= 2;
	b->data = xrealloc(b->data, b->cap);
}

void
util_buf_append(struct util_buf *b, const void *p, size_t n)
{
	util_buf_reserve(b, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
util_buf_puts(struct util_buf *b, const char *s)
{
	util_buf_append(b, s, strlen(s));
}

void
util_buf_printf(struct util_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("util_buf_printf: bad format");
	util_buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
util_buf_consume(struct util_buf *b, size_t n)
{
	if (n >= b->len) {
		util_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
util_buf_reset(struct util_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
util_buf_free(struct util_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
util_buf_steal(struct util_buf *b, size_t *len)
{
	char *p;

	util_buf_reserve(b, 0);
	b->data[b->len] = '\0';   /* also when nothing was ever appended */
	p = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

int
util_read_file(const char *path, struct util_buf *out)
{
	char chunk[65536];
	size_t n;
	FILE *fp;
	int rc = 0;

	if ((fp = fopen(path, "r")) == NULL)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		util_buf_append(out, chunk, n);
	if (ferror(fp))
		rc = -EIO;
	fclose(fp);
	util_buf_append(out, "", 0);   /* NUL-terminated even when empty */
	return rc;
}

int
util_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "on", "true", "1"};
	static const char *const no[] = {"no", "off", "false", "0"};
	size_t i;

	for (i = 0; i < UTIL_ARRAY_LEN(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Parse the leading unsigned decimal of S; END gets the rest. */
static int
util_parse_number(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	*end = p;
	return 0;
}

static int
util_scale(uint64_t v, uint64_t mult, uint64_t *out)
{
	if (mult != 0 && v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int
util_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {{"", 1}, {"b", 1}, {"k", 1024}, {"kb", 1024},
	             {"m", 1024 * 1024}, {"mb", 1024 * 1024},
	             {"g", 1024ULL * 1024 * 1024}, {"gb", 1024ULL * 1024 * 1024}};
	const char *end;
	uint64_t v;
	size_t i;
	int rc;

	if ((rc = util_parse_number(s, &v, &end)) < 0)
		return rc;
	for (i = 0; i < UTIL_ARRAY_LEN(units); i++)
		if (strcasecmp(end, units[i].suffix) == 0)
			return util_scale(v, units[i].mult, out);
	return -EINVAL;
}

int
util_parse_duration_ms(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000},
	             {"h", 3600000}, {"d", 86400000}};
	const char *end;
	uint64_t v;
	size_t i;
	int rc;

	if ((rc = util_parse_number(s, &v, &end)) < 0)
		return rc;
	for (i = 0; i < UTIL_ARRAY_LEN(units); i++)
		if (strcmp(end, units[i].suffix) == 0)
			return util_scale(v, units[i].mult, out);
	return -EINVAL;
}

static int
util_parse_port(const char *s, int *port)
{
	uint64_t v;
	const char *end;

	if (util_parse_number(s, &v, &end) < 0 || *end != '\0')
		return -EINVAL;
	if (v == 0 || v > 65535)
		return -ERANGE;
	*port = (int)v;
	return 0;
}

int
util_parse_hostport(const char *s, int default_port, char *host,
                    size_t hostlen, int *port)
{
	const char *h = s, *hend, *colon;
	int p = default_port;

	if (*s == '[') {
		h = s + 1;
		if ((hend = strchr(h, ']')) == NULL)
			return -EINVAL;
		if (hend[1] == ':') {
			if (util_parse_port(hend + 2, &p) < 0)
				return -EINVAL;
		} else if (hend[1] != '\0')
			return -EINVAL;
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return -EINVAL;  /* bare IPv6 needs brackets */
		hend = colon != NULL ? colon : s + strlen(s);
		if (colon != NULL && util_parse_port(colon + 1, &p) < 0)
			return -EINVAL;
	}
	if (hend == h || (size_t)(hend - h) >= hostlen || p <= 0)
		return -EINVAL;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	*port = p;
	return 0;
}
