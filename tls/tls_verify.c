/* tls_verify.c - RFC 6125 / XEP-0178 name matching; see tls_verify.h.
 *
 * Everything here works on (pointer, length) pairs because presented
 * identities come straight from a peer's certificate: a SAN string may hold
 * NUL bytes ("example.com\0.evil.org"), which must never match. */
#include "tls/tls_verify.h"

#include <errno.h>
#include <idna.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"

#define TLS_VERIFY_MAX_DOMAIN 253
#define TLS_VERIFY_SRV_PREFIX "_xmpp-server."

static char
tls_verify_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool
tls_verify_ascii_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		if (tls_verify_lower(a[i]) != tls_verify_lower(b[i]))
			return false;
	return true;
}

/* Drop one trailing dot: "example.com." names the same domain. */
static size_t
tls_verify_trim(const char *s, size_t len)
{
	if (len > 1 && s[len - 1] == '.')
		len--;
	return len;
}

static bool
tls_verify_has_nul(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

/* A wildcard pattern "*.REST": REST must have at least two labels, no empty
 * label and no further '*', so "*.com" and "*.*.example.com" never match. */
static bool
tls_verify_wild_rest_ok(const char *rest, size_t len)
{
	size_t i;

	if (len == 0 || rest[0] == '.' || rest[len - 1] == '.')
		return false;
	if (memchr(rest, '*', len) != NULL || memchr(rest, '.', len) == NULL)
		return false;
	for (i = 1; i < len; i++)
		if (rest[i] == '.' && rest[i - 1] == '.')
			return false;
	return true;
}

static bool
tls_verify_dns_match_len(const char *pat, size_t plen, const char *dom,
                         size_t dlen)
{
	const char *dot;

	if (plen == 0 || dlen == 0 || tls_verify_has_nul(pat, plen))
		return false;
	plen = tls_verify_trim(pat, plen);
	if (memchr(pat, '*', plen) == NULL)
		return tls_verify_ascii_eq(pat, plen, dom, dlen);
	if (plen < 2 || pat[0] != '*' || pat[1] != '.' ||
	    !tls_verify_wild_rest_ok(pat + 2, plen - 2))
		return false;
	/* The wildcard stands for exactly one non-empty left-most label. */
	dot = memchr(dom, '.', dlen);
	if (dot == NULL || dot == dom)
		return false;
	return tls_verify_ascii_eq(pat + 2, plen - 2, dot + 1,
	                           dlen - (size_t)(dot + 1 - dom));
}

bool
tls_verify_dns_match(const char *pattern, size_t plen, const char *domain)
{
	size_t dlen = strlen(domain);

	return tls_verify_dns_match_len(pattern, plen, domain,
	                                tls_verify_trim(domain, dlen));
}

static bool
tls_verify_srv_match(const char *v, size_t len, const char *dom, size_t dlen)
{
	size_t plen = strlen(TLS_VERIFY_SRV_PREFIX);

	if (len <= plen || !tls_verify_ascii_eq(v, plen, TLS_VERIFY_SRV_PREFIX,
	                                         plen))
		return false;
	return tls_verify_dns_match_len(v + plen, len - plen, dom, dlen);
}

static bool
tls_verify_is_ascii(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* An XmppAddr identifies a server only as a bare domain JID. Non-ASCII
 * values are internationalised domains: compare their A-label form. */
static bool
tls_verify_xmpp_match(const char *v, size_t len, const char *dom, size_t dlen)
{
	char *copy, *ace = NULL;
	bool ok;

	if (len == 0 || tls_verify_has_nul(v, len) || memchr(v, '@', len) ||
	    memchr(v, '/', len) || memchr(v, '*', len))
		return false;
	if (tls_verify_is_ascii(v, len))
		return tls_verify_ascii_eq(v, tls_verify_trim(v, len), dom,
		                           dlen);
	if (len > 4 * TLS_VERIFY_MAX_DOMAIN)
		return false;
	copy = xstrndup(v, len);
	ok = idna_to_ascii_8z(copy, &ace, 0) == IDNA_SUCCESS &&
	     tls_verify_ascii_eq(ace, tls_verify_trim(ace, strlen(ace)), dom,
	                         dlen);
	free(ace);
	free(copy);
	return ok;
}

static bool
tls_verify_one(const struct tls_verify_id *id, bool has_san, const char *dom,
               size_t dlen)
{
	switch (id->kind) {
	case TLS_VERIFY_DNS:
		return tls_verify_dns_match_len(id->value, id->len, dom, dlen);
	case TLS_VERIFY_SRV:
		return tls_verify_srv_match(id->value, id->len, dom, dlen);
	case TLS_VERIFY_XMPP:
		return tls_verify_xmpp_match(id->value, id->len, dom, dlen);
	case TLS_VERIFY_CN:
		return !has_san &&
		       tls_verify_dns_match_len(id->value, id->len, dom, dlen);
	}
	return false;
}

const char *
tls_verify_kind_name(enum tls_verify_kind kind)
{
	switch (kind) {
	case TLS_VERIFY_DNS:
		return "DNS";
	case TLS_VERIFY_SRV:
		return "SRV-ID";
	case TLS_VERIFY_XMPP:
		return "XmppAddr";
	case TLS_VERIFY_CN:
		return "CN";
	}
	return "?";
}

/* Copy LEN untrusted bytes into OUT (SIZE > 0), unprintables as '?'. */
static void
tls_verify_sanitize(const char *v, size_t len, char *out, size_t size)
{
	size_t i;

	for (i = 0; i < len && i + 1 < size; i++)
		out[i] = (v[i] > 0x20 && v[i] < 0x7f) ? v[i] : '?';
	out[i] = '\0';
}

void
tls_verify_id_format(const struct tls_verify_id *id, char *buf, size_t size)
{
	char val[TLS_VERIFY_MAX_DOMAIN + 1];

	if (size == 0)
		return;
	tls_verify_sanitize(id->value, id->len, val, sizeof(val));
	snprintf(buf, size, "%s:%s", tls_verify_kind_name(id->kind), val);
}

/* Why the wildcard V ("*." + rest, LEN bytes) misses DOM, if it is close. */
static bool
tls_verify_wild_miss(const char *v, size_t len, const char *val,
                     const char *dom, size_t dlen, char *why, size_t whylen)
{
	if (!tls_verify_wild_rest_ok(v + 2, len - 2)) {
		snprintf(why, whylen, "wildcard %s is too broad or malformed",
		         val);
		return true;
	}
	if (tls_verify_ascii_eq(v + 2, len - 2, dom, dlen)) {
		snprintf(why, whylen, "wildcard %s does not cover %.*s itself",
		         val, (int)dlen, dom);
		return true;
	}
	/* ".example.com" ends DOM, but more than one label precedes it. */
	if (dlen > len - 1 && tls_verify_ascii_eq(v + 1, len - 1,
	                                          dom + dlen - (len - 1),
	                                          len - 1)) {
		snprintf(why, whylen, "wildcard %s covers one label only, not "
		         "%.*s", val, (int)dlen, dom);
		return true;
	}
	return false;
}

/* A "near miss" explains a failure better than the list of names: a
 * wildcard that would need more labels, a user JID of the domain, another
 * SRV service, a CN shadowed by SANs. Returns true when it wrote WHY. */
static bool
tls_verify_near_miss(const struct tls_verify_id *id, bool has_san,
                     const char *dom, size_t dlen, char *why, size_t whylen)
{
	char val[TLS_VERIFY_MAX_DOMAIN + 1];
	const char *v = id->value, *p;
	size_t len = tls_verify_trim(v, id->len);

	if (len == 0 || tls_verify_has_nul(v, len))
		return false;
	tls_verify_sanitize(v, len, val, sizeof(val));
	if ((id->kind == TLS_VERIFY_DNS ||
	     (id->kind == TLS_VERIFY_CN && !has_san)) &&
	    len > 2 && v[0] == '*' && v[1] == '.')
		return tls_verify_wild_miss(v, len, val, dom, dlen, why,
		                            whylen);
	if (id->kind == TLS_VERIFY_XMPP && (p = memchr(v, '@', len)) != NULL &&
	    tls_verify_ascii_eq(p + 1, len - (size_t)(p + 1 - v), dom, dlen)) {
		snprintf(why, whylen, "XmppAddr %s names a user, not the "
		         "server %.*s", val, (int)dlen, dom);
		return true;
	}
	if (id->kind == TLS_VERIFY_SRV && v[0] == '_' &&
	    (p = memchr(v, '.', len)) != NULL &&
	    tls_verify_dns_match_len(p + 1, len - (size_t)(p + 1 - v), dom,
	                             dlen)) {
		snprintf(why, whylen, "SRV-ID %s is for another service than "
		         "xmpp-server", val);
		return true;
	}
	if (id->kind == TLS_VERIFY_CN && has_san &&
	    tls_verify_dns_match_len(v, len, dom, dlen)) {
		snprintf(why, whylen, "CN %s is ignored because the "
		         "certificate has subjectAltName entries", val);
		return true;
	}
	return false;
}

/* "certificate names DNS:a.org, XmppAddr:b.org but not c.org". */
static void
tls_verify_list_names(const struct tls_verify_id *ids, size_t n,
                      bool has_san, const char *dom, size_t dlen, char *why,
                      size_t whylen)
{
	struct util_buf b = {0};
	char one[TLS_VERIFY_MAX_DOMAIN + 16];
	size_t i, shown = 0;

	for (i = 0; i < n; i++) {
		if (ids[i].kind == TLS_VERIFY_CN && has_san)
			continue;
		tls_verify_id_format(&ids[i], one, sizeof(one));
		util_buf_printf(&b, "%s%s", shown++ ? ", " : "", one);
	}
	if (shown == 0)
		snprintf(why, whylen, "certificate has no DNS, SRV-ID, XmppAddr "
		         "or CN identity (needed %.*s)", (int)dlen, dom);
	else
		snprintf(why, whylen, "certificate names %s but not %.*s",
		         b.data, (int)dlen, dom);
	util_buf_free(&b);
}

int
tls_verify_name(const char *domain, const struct tls_verify_id *ids,
                size_t n, bool has_san, size_t *matched, char *why,
                size_t whylen)
{
	size_t dlen = tls_verify_trim(domain, strlen(domain)), i;
	char dummy[1];

	if (why == NULL || whylen == 0) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	why[0] = '\0';
	if (dlen == 0 || dlen > TLS_VERIFY_MAX_DOMAIN) {
		snprintf(why, whylen, "bad reference domain");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (tls_verify_one(&ids[i], has_san, domain, dlen)) {
			if (matched != NULL)
				*matched = i;
			return 0;
		}
	}
	for (i = 0; i < n; i++)
		if (tls_verify_near_miss(&ids[i], has_san, domain, dlen, why,
		                         whylen))
			return S2SD_ETLS_NAME;
	tls_verify_list_names(ids, n, has_san, domain, dlen, why, whylen);
	return S2SD_ETLS_NAME;
}
