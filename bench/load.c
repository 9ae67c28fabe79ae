/* load.c - the load tool's entry point and the pieces every mode shares:
 * a TCP connection with an optional GnuTLS client session over memory
 * push/pull (so that the handshake never blocks the loop), latency samples,
 * address parsing and progress lines. See load.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/load.h"

struct wreq {
	uv_write_t req;
	struct load_conn *c;
	size_t len;
	char data[];
};

/* One read buffer for the whole loop: every read is consumed at once. */
static char rbuf[65536];

static void
conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	*buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void
conn_end(struct load_conn *c)
{
	if (c->closing)
		return;
	if (c->on_end != NULL)
		c->on_end(c, UV_EOF);
	load_conn_close(c);
}

static void
on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct load_conn *c = w->c;

	c->queued -= w->len;
	free(w);
	if (status < 0)
		conn_end(c);
}

static void
write_raw(struct load_conn *c, const char *buf, size_t len)
{
	struct wreq *w;
	uv_buf_t b;

	if (c->closing || len == 0)
		return;
	w = xmalloc(sizeof(*w) + len);
	w->c = c;
	w->len = len;
	memcpy(w->data, buf, len);
	b = uv_buf_init(w->data, (unsigned)len);
	c->queued += len;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
		c->queued -= len;
		free(w);
		conn_end(c);
	}
}

static void
flush_tls(struct load_conn *c)
{
	if (c->cout.len > 0) {
		write_raw(c, c->cout.data, c->cout.len);
		util_buf_reset(&c->cout);
	}
}

static ssize_t
tls_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	struct load_conn *c = p;

	util_buf_append(&c->cout, data, len);
	return (ssize_t)len;
}

/* Ciphertext is read from cin at offset cin_off; the caller compacts cin
 * once GnuTLS has taken what it could (no memmove per record). */
static ssize_t
tls_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	struct load_conn *c = p;
	size_t avail = c->cin.len - c->cin_off;

	if (avail == 0) {
		gnutls_transport_set_errno(c->tls, EAGAIN);
		return -1;
	}
	if (len > avail)
		len = avail;
	memcpy(data, c->cin.data + c->cin_off, len);
	c->cin_off += len;
	return (ssize_t)len;
}

static void
compact_cin(struct load_conn *c)
{
	util_buf_consume(&c->cin, c->cin_off);
	c->cin_off = 0;
}

static void
tls_read(struct load_conn *c)
{
	size_t before = c->in.len, off = c->cin_off;
	ssize_t r;

	for (;;) {
		r = gnutls_record_recv(c->tls, rbuf, sizeof(rbuf));
		if (r > 0) {
			util_buf_append(&c->in, rbuf, (size_t)r);
			continue;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			/* GnuTLS says AGAIN after a post-handshake message
			 * (a TLS 1.3 ticket) too: go on while that consumed
			 * input and more is there. */
			if (c->cin_off > off && c->cin_off < c->cin.len) {
				off = c->cin_off;
				continue;
			}
			break;
		}
		if (r < 0 && !gnutls_error_is_fatal((int)r))
			continue;
		compact_cin(c);
		conn_end(c);
		return;
	}
	compact_cin(c);
	flush_tls(c);   /* post-handshake messages (TLS 1.3 key updates) */
	if (c->in.len > before && c->on_data != NULL)
		c->on_data(c, 0);
}

static void
tls_step(struct load_conn *c)
{
	int r;

	/* a warning alert is not the end of the handshake: go on at once */
	do
		r = gnutls_handshake(c->tls);
	while (r < 0 && r != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(r));
	if (getenv("LOAD_DEBUG") != NULL)
		fprintf(stderr, "load: handshake %d %s\n", r, gnutls_strerror(r));
	flush_tls(c);
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ||
	    (r < 0 && !gnutls_error_is_fatal(r))) {
		compact_cin(c);
		return;
	}
	compact_cin(c);
	if (r < 0) {
		c->on_tls(c, r);
		return;
	}
	c->tls_ready = true;
	c->on_tls(c, 0);
	if (!c->closing && c->cin.len > 0)
		tls_read(c);
}

static void
conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct load_conn *c = s->data;

	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		conn_end(c);
		return;
	}
	if (c->tls == NULL) {
		util_buf_append(&c->in, buf->base, (size_t)nread);
		if (c->on_data != NULL)
			c->on_data(c, 0);
		return;
	}
	util_buf_append(&c->cin, buf->base, (size_t)nread);
	if (c->tls_ready)
		tls_read(c);
	else
		tls_step(c);
}

void
load_conn_init(struct load_conn *c, uv_loop_t *loop, void *arg)
{
	memset(c, 0, sizeof(*c));
	uv_tcp_init(loop, &c->tcp);
	c->tcp.data = c;
	c->arg = arg;
}

int
load_conn_start(struct load_conn *c)
{
	uv_tcp_nodelay(&c->tcp, 1);
	return uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

static void
on_connected(uv_connect_t *req, int status)
{
	struct load_conn *c = req->data;

	if (c->closing)
		return;
	if (status == 0)
		status = load_conn_start(c);
	c->on_connect(c, status);
}

int
load_conn_connect(struct load_conn *c, const struct sockaddr *addr,
                  const struct sockaddr *src)
{
	int r;

	if (src != NULL && (r = uv_tcp_bind(&c->tcp, src, 0)) < 0)
		return r;
	c->creq.data = c;
	return uv_tcp_connect(&c->creq, &c->tcp, addr, on_connected);
}

int
load_conn_starttls(struct load_conn *c, gnutls_certificate_credentials_t cred,
                   const char *name)
{
	int r;

	r = gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	if (r < 0)
		return r;
	if ((r = gnutls_set_default_priority(c->tls)) < 0 ||
	    (r = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, cred)) < 0 ||
	    (r = gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, name,
	                                strlen(name))) < 0)
		return r;
	gnutls_transport_set_ptr(c->tls, c);
	gnutls_transport_set_push_function(c->tls, tls_push);
	gnutls_transport_set_pull_function(c->tls, tls_pull);
	util_buf_reset(&c->in);
	tls_step(c);
	return 0;
}

void
load_conn_write(struct load_conn *c, const char *buf, size_t len)
{
	ssize_t r;

	if (c->closing)
		return;
	if (c->tls == NULL) {
		write_raw(c, buf, len);
		return;
	}
	while (len > 0) {
		r = gnutls_record_send(c->tls, buf, len);
		if (r < 0) {
			conn_end(c);
			return;
		}
		buf += r;
		len -= (size_t)r;
	}
	flush_tls(c);
}

static void
conn_closed(uv_handle_t *h)
{
	struct load_conn *c = h->data;

	if (c->tls != NULL)
		gnutls_deinit(c->tls);
	c->tls = NULL;
	util_buf_free(&c->in);
	util_buf_free(&c->cin);
	util_buf_free(&c->cout);
	if (c->on_close != NULL)
		c->on_close(c);
}

void
load_conn_close(struct load_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

void
load_hist_add(struct load_hist *h, uint64_t us)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 65536;
		h->v = xreallocarray(h->v, h->cap, sizeof(*h->v));
	}
	h->v[h->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

double
load_hist_q(struct load_hist *h, double q)
{
	size_t i;

	if (h->n == 0)
		return 0;
	qsort(h->v, h->n, sizeof(*h->v), cmp_u32);
	i = (size_t)(q * (double)(h->n - 1) + 0.5);
	return h->v[i < h->n ? i : h->n - 1];
}

void
load_hist_free(struct load_hist *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}

int
load_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	size_t n;
	int port;

	if (colon == NULL || (n = (size_t)(colon - s)) >= sizeof(host) || n == 0)
		return -EINVAL;
	port = atoi(colon + 1);
	if (s[0] == '[' && s[n - 1] == ']') {
		memcpy(host, s + 1, n - 2);
		host[n - 2] = '\0';
		return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) < 0 ?
		       -EINVAL : 0;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	return uv_ip4_addr(host, port, (struct sockaddr_in *)ss) < 0 ? -EINVAL : 0;
}

void
load_phase(const char *fmt, ...)
{
	va_list ap;

	fputs("#phase ", stdout);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

uint64_t
load_now_ns(void)
{
	return uv_hrtime();
}

bool
load_attr(const char *p, const char *end, const char *name, char *out,
          size_t outlen)
{
	size_t nl = strlen(name), i;
	const char *q;
	char quote;

	for (; p + nl + 2 < end; p++) {
		if ((p[-1] != ' ' && p[-1] != '\t' && p[-1] != '\n') ||
		    memcmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		quote = p[nl + 1];
		if (quote != '\'' && quote != '"')
			continue;
		q = p + nl + 2;
		for (i = 0; q + i < end && q[i] != quote && i + 1 < outlen; i++)
			out[i] = q[i];
		out[i] = '\0';
		return true;
	}
	return false;
}

static void
usage(void)
{
	fputs("usage: load relay|fanin|forward [options]  (load MODE --help)\n",
	      stderr);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage();
		return 2;
	}
	if (strcmp(argv[1], "relay") == 0)
		return load_relay_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "fanin") == 0)
		return load_fanin_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "forward") == 0)
		return load_forward_main(argc - 1, argv + 1);
	usage();
	return 2;
}
