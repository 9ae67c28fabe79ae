/* jid.c - XMPP address parsing and preparation (RFC 7622 section 3 split,
 * RFC 6122 stringprep profiles, IDNA2003 domains) on top of libidn.
 *
 * Every part goes through the same three steps: a shared pre-check (input
 * bound, strict UTF-8, no NUL), then either the ASCII fast path or the full
 * libidn path, then the 1023-byte limit. The fast path only runs on ASCII
 * input, where the profiles reduce to "fold A-Z" and "refuse a few bytes";
 * check_jid.c proves it yields the same results and reasons as the libidn
 * path on random ASCII. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idna.h>
#include <stringprep.h>

#include "cm/err.h"
#include "cm/util.h"
#include "xmpp/jid.h"
#include "xmpp/jid_int.h"

/* A part of more input bytes could only prepare to 1023 bytes or fewer by
 * being mostly code points mapped to nothing (soft hyphens, zero-width
 * joiners). Refusing it bounds the work on hostile input: libidn's NFKC
 * reorders a run of combining marks in quadratic time. */
#define JID_RAW_MAX (4 * JID_PART_MAX)
#define JID_LABEL_MAX 63
#define JID_ACE "xn--"

struct jid {
	const char *node;	  /* into buf, or NULL */
	const char *domain;	  /* into buf */
	const char *domain_ascii; /* into buf; == domain when all ASCII */
	const char *resource;	  /* into buf, or NULL */
	size_t len;		  /* of the full address at buf */
	unsigned refs;		  /* holders: callers and the cache */
	char buf[]; /* full \0 node \0 domain \0 res \0 ascii \0 */
};

/* Recently parsed addresses, by their input bytes: a relay sees the same
 * few from/to values on every stanza, and each stanza's addresses are
 * parsed at several layers (router, policy, stream pair, checks). An entry
 * holds a reference; a hit takes another one. Direct-mapped, so a miss
 * costs one hash and evicts at most one entry. */
#define JID_CACHE_SLOTS 256
#define JID_CACHE_INPUT_MAX 256

struct jid_cache_slot {
	struct jid *j;
	size_t len;
	char in[JID_CACHE_INPUT_MAX];
};

static struct jid_cache_slot jid_cache[JID_CACHE_SLOTS];

/* Where a reason goes, and which part it is about. */
struct prep {
	const char *what;
	char *why;
	size_t whylen;
};

/* A domain being prepared: the canonical U-label form, and the A-label form
 * when the full path built one (the fast path's output is its own). */
struct dom {
	char u[JID_PART_MAX + 1];
	size_t ulen;
	struct util_buf a;
	bool has_a;
};

static const char *const part_names[] = {"node", "domain", "resource"};

static int fail(struct prep *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct prep *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->why == NULL || p->whylen == 0)
		return S2SD_EJID;
	n = snprintf(p->why, p->whylen, "%s ", p->what);
	if (n >= 0 && (size_t)n < p->whylen) {
		va_start(ap, fmt);
		vsnprintf(p->why + n, p->whylen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return S2SD_EJID;
}

/* Printable ASCII is quoted as itself, everything else as U+XXXX. */
static const char *
cp_name(uint32_t c, char buf[16])
{
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, 16, "'%c'", (char)c);
	else
		snprintf(buf, 16, "U+%04X", (unsigned)c);
	return buf;
}

/* Decode one strict UTF-8 sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Returns its length, 0 if invalid. */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n, i;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f, min = 0x80;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static size_t
utf8_encode(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* The pre-check every part shares, whichever path follows. Decodes into
 * CPS when not NULL (room for LEN code points). Sets *NCP and *ASCII. */
static int
precheck(struct prep *p, const char *in, size_t len, uint32_t *cps, size_t *ncp,
	 bool *ascii)
{
	size_t i = 0, n, count = 0;
	uint32_t c;
	char name[16];

	if (len > JID_RAW_MAX)
		return fail(p, "longer than %d bytes before preparation",
			    JID_RAW_MAX);
	*ascii = true;
	while (i < len) {
		n = utf8_decode((const unsigned char *)in + i, len - i, &c);
		if (n == 0)
			return fail(p, "is not valid UTF-8 (at byte %zu)", i);
		/* libidn's NFKC stops at a NUL: refuse it before libidn. */
		if (c == 0)
			return fail(p, "contains forbidden character %s",
				    cp_name(c, name));
		if (c >= 0x80)
			*ascii = false;
		if (cps != NULL)
			cps[count] = c;
		count++;
		i += n;
	}
	*ncp = count;
	return 0;
}

/* Encode CPS as UTF-8 into OUT (JID_PART_MAX + 1 bytes). */
static int
encode_part(struct prep *p, const uint32_t *cps, size_t n, char *out)
{
	size_t i, len = 0;
	char tmp[4];
	size_t k;

	for (i = 0; i < n; i++) {
		k = utf8_encode(cps[i], tmp);
		if (len + k > JID_PART_MAX)
			return fail(p, "longer than %d bytes", JID_PART_MAX);
		memcpy(out + len, tmp, k);
		len += k;
	}
	out[len] = '\0';
	return (int)len;
}

/* libidn says only that some code point failed; find the first input code
 * point that fails the same way on its own, for a precise reason. */
static bool
find_culprit(const uint32_t *cps, size_t n, int want, int flags,
	     const Stringprep_profile *profile, uint32_t *culprit)
{
	uint32_t one[64];
	size_t i, len;

	for (i = 0; i < n; i++) {
		one[0] = cps[i];
		len = 1;
		if (stringprep_4i(one, &len, UTIL_ARRAY_LEN(one),
				  (Stringprep_profile_flags)flags,
				  profile) == want) {
			*culprit = cps[i];
			return true;
		}
	}
	return false;
}

/* Turn a stringprep failure into a reason. TOOLONG is the reason for a
 * result that outgrew its buffer (see the buffer sizes at the callers). */
static int
explain(struct prep *p, int rc, const uint32_t *cps, size_t n, int flags,
	const Stringprep_profile *profile, const char *toolong)
{
	uint32_t c;
	char name[16];

	switch (rc) {
	case STRINGPREP_CONTAINS_PROHIBITED:
		if (find_culprit(cps, n, rc, flags, profile, &c))
			return fail(p, "contains forbidden character %s",
				    cp_name(c, name));
		return fail(p, "contains a forbidden character");
	case STRINGPREP_CONTAINS_UNASSIGNED:
		if (find_culprit(cps, n, rc, flags, profile, &c))
			return fail(p,
				    "contains code point %s, unassigned in "
				    "Unicode 3.2",
				    cp_name(c, name));
		return fail(p, "contains an unassigned code point");
	case STRINGPREP_BIDI_BOTH_L_AND_RAL:
		return fail(p, "mixes left-to-right and right-to-left "
			       "characters");
	case STRINGPREP_BIDI_LEADTRAIL_NOT_RAL:
		return fail(p, "has right-to-left characters but does not "
			       "start and end with one");
	case STRINGPREP_BIDI_CONTAINS_PROHIBITED:
		return fail(p, "contains a character forbidden in "
			       "right-to-left text");
	case STRINGPREP_TOO_SMALL_BUFFER:
		return fail(p, "%s", toolong);
	default:
		return fail(p, "cannot be prepared (%s)",
			    stringprep_strerror((Stringprep_rc)rc));
	}
}

/* ---- node and resource ---- */

static bool
ascii_forbidden(enum jid__part part, unsigned char c)
{
	if (c < 0x20 || c == 0x7f)
		return true; /* RFC 3454 C.2.1, in both profiles */
	/* Nodeprep also refuses the space (C.1.1) and its own table. */
	return part == JID__NODE && (c == ' ' || strchr("\"&'/:<>@", c));
}

static int
prep_fast(struct prep *p, enum jid__part part, const char *in, size_t len,
	  char *out)
{
	size_t i;
	unsigned char c;
	char name[16];

	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (ascii_forbidden(part, c))
			return fail(p, "contains forbidden character %s",
				    cp_name(c, name));
	}
	if (len > JID_PART_MAX)
		return fail(p, "longer than %d bytes", JID_PART_MAX);
	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		/* Nodeprep's B.2 folds A-Z; Resourceprep keeps case. */
		out[i] = part == JID__NODE && c >= 'A' && c <= 'Z'
			     ? (char)(c + 32)
			     : (char)c;
	}
	out[len] = '\0';
	return (int)len;
}

static int
prep_full(struct prep *p, enum jid__part part, const uint32_t *cps, size_t n,
	  char *out)
{
	const Stringprep_profile *profile = part == JID__NODE
						? stringprep_xmpp_nodeprep
						: stringprep_xmpp_resourceprep;
	/* Room for the mapping steps (at most 4 code points each) so that only
	 * NFKC can run out, and then the result has over 1023 code points. */
	size_t max = (4 * n > JID_PART_MAX ? 4 * n : JID_PART_MAX) + 2;
	uint32_t *buf = xmalloc(max * sizeof(*buf));
	size_t len = n;
	int rc;

	memcpy(buf, cps, n * sizeof(*buf));
	/* Unassigned code points allowed: see jid.h. */
	rc = stringprep_4i(buf, &len, max, 0, profile);
	if (rc != STRINGPREP_OK)
		rc = explain(p, rc, cps, n, 0, profile,
			     "longer than 1023 bytes");
	else
		rc = encode_part(p, buf, len, out);
	free(buf);
	return rc;
}

/* ---- domain ---- */

static int
std3_char(struct prep *p, uint32_t c)
{
	char name[16];

	if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-')
		return 0;
	return fail(p, "contains forbidden character %s", cp_name(c, name));
}

static int
std3_hyphens(struct prep *p, uint32_t first, uint32_t last)
{
	if (first == '-')
		return fail(p, "label starts with a hyphen");
	if (last == '-')
		return fail(p, "label ends with a hyphen");
	return 0;
}

static bool
has_ace_prefix(const char *s, size_t len)
{
	return len >= 4 && strncasecmp(s, JID_ACE, 4) == 0;
}

/* Append one label to both forms; the 1023-byte limit is on the U form. */
static int
dom_append(struct prep *p, struct dom *d, const char *u, size_t ulen,
	   const char *a, size_t alen)
{
	size_t dot = d->ulen > 0;

	if (d->ulen + dot + ulen > JID_PART_MAX)
		return fail(p, "longer than %d bytes", JID_PART_MAX);
	if (dot)
		d->u[d->ulen] = '.';
	memcpy(d->u + d->ulen + dot, u, ulen);
	d->ulen += dot + ulen;
	d->u[d->ulen] = '\0';
	if (d->has_a) {
		if (dot)
			util_buf_append(&d->a, ".", 1);
		util_buf_append(&d->a, a, alen);
	}
	return 0;
}

static int
label_fast(struct prep *p, struct dom *d, const char *s, size_t n)
{
	char low[JID_LABEL_MAX];
	size_t i;
	int rc;

	if (n == 0)
		return fail(p, "contains an empty label");
	for (i = 0; i < n; i++)
		if ((rc = std3_char(p, (unsigned char)s[i])) < 0)
			return rc;
	if ((rc = std3_hyphens(p, (unsigned char)s[0],
			       (unsigned char)s[n - 1])) < 0)
		return rc;
	if (n > JID_LABEL_MAX)
		return fail(p, "label longer than %d bytes", JID_LABEL_MAX);
	for (i = 0; i < n; i++)
		low[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
	return dom_append(p, d, low, n, low, n);
}

/* ASCII, and no label in A-label form (those need decoding by libidn). */
static bool
domain_fast_ok(const char *in, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && in[i] != '.')
			continue;
		if (has_ace_prefix(in + start, i - start))
			return false;
		start = i + 1;
	}
	return true;
}

static int
domain_fast(struct prep *p, struct dom *d, const char *in, size_t len)
{
	size_t i, start = 0;
	int rc;

	for (i = 0; i <= len; i++) {
		if (i < len && in[i] != '.')
			continue;
		if ((rc = label_fast(p, d, in + start, i - start)) < 0)
			return rc;
		start = i + 1;
	}
	return 0;
}

/* A-label to U-label with IDNA2003 ToUnicode, which checks that ToASCII of
 * the result gives the A-label back; a label failing that is refused rather
 * than passed through (ToUnicode's "never fails" would let two spellings of
 * one domain compare unequal). */
static int
alabel_decode(struct prep *p, const char *a, size_t alen, char *u, size_t *ulen)
{
	uint32_t in[JID_LABEL_MAX], out[JID_LABEL_MAX + 1];
	size_t i, outlen = UTIL_ARRAY_LEN(out);

	for (i = 0; i < alen; i++)
		in[i] = (unsigned char)a[i];
	if (idna_to_unicode_44i(in, alen, out, &outlen,
				IDNA_USE_STD3_ASCII_RULES) != IDNA_SUCCESS)
		return fail(p, "label '%.*s' is not a valid A-label", (int)alen,
			    a);
	*ulen = 0;
	for (i = 0; i < outlen; i++)
		*ulen += utf8_encode(out[i], u + *ulen);
	return 0;
}

static int
ascii_explain(struct prep *p, int rc)
{
	switch (rc) {
	case IDNA_INVALID_LENGTH:
	case IDNA_PUNYCODE_ERROR: /* the encoder ran out of room */
		return fail(p, "label longer than %d bytes", JID_LABEL_MAX);
	case IDNA_CONTAINS_ACE_PREFIX:
		return fail(p, "label starts with \"" JID_ACE "\" but is not "
			       "ASCII");
	default:
		return fail(p, "label fails ToASCII (%s)",
			    idna_strerror((Idna_rc)rc));
	}
}

/* One label of N code points at RAW: Nameprep then ToASCII, in BUF (MAX
 * code points). Appends the U and A forms to D. */
static int
label_full(struct prep *p, struct dom *d, const uint32_t *raw, size_t n,
	   uint32_t *buf, size_t max)
{
	char a[JID_LABEL_MAX + 1], u[4 * JID_LABEL_MAX];
	size_t i, alen, ulen = 0, len = n;
	bool ascii = true;
	int rc;

	if (n == 0)
		return fail(p, "contains an empty label");
	memcpy(buf, raw, n * sizeof(*buf));
	rc = stringprep_4i(buf, &len, max, STRINGPREP_NO_UNASSIGNED,
			   stringprep_nameprep);
	if (rc != STRINGPREP_OK)
		return explain(p, rc, raw, n, STRINGPREP_NO_UNASSIGNED,
			       stringprep_nameprep,
			       "label longer than 63 bytes");
	if (len == 0)
		return fail(p, "contains an empty label");
	for (i = 0; i < len; i++) {
		if ((rc = std3_char(p, buf[i])) < 0)
			return rc;
		ascii = ascii && buf[i] < 0x80;
	}
	if ((rc = std3_hyphens(p, buf[0], buf[len - 1])) < 0)
		return rc;
	if (ascii && len > JID_LABEL_MAX)
		return fail(p, "label longer than %d bytes", JID_LABEL_MAX);
	if (ascii) {
		for (i = 0; i < len; i++)
			a[i] = (char)buf[i];
		a[len] = '\0';
	} else if ((rc = idna_to_ascii_4i(buf, len, a,
					  IDNA_USE_STD3_ASCII_RULES)) != 0) {
		return ascii_explain(p, rc);
	}
	alen = strlen(a);
	if (!has_ace_prefix(a, alen))
		return dom_append(p, d, a, alen, a, alen);
	if ((rc = alabel_decode(p, a, alen, u, &ulen)) < 0)
		return rc;
	return dom_append(p, d, u, ulen, a, alen);
}

static bool
is_dot(uint32_t c)
{
	/* The IDNA2003 label separators (RFC 3490 section 3.1). */
	return c == '.' || c == 0x3002 || c == 0xff0e || c == 0xff61;
}

static int
domain_full(struct prep *p, struct dom *d, const uint32_t *cps, size_t n)
{
	/* As for nodes: mapping cannot run out, so running out in NFKC means
	 * more than 63 code points, too long for any label. */
	size_t max = 4 * n + JID_LABEL_MAX + 2;
	uint32_t *buf = xmalloc(max * sizeof(*buf));
	size_t i, start = 0;
	int rc = 0;

	d->has_a = true;
	for (i = 0; i <= n && rc == 0; i++) {
		if (i < n && !is_dot(cps[i]))
			continue;
		rc = label_full(p, d, cps + start, i - start, buf, max);
		start = i + 1;
	}
	free(buf);
	return rc;
}

static int
prep_ipv6(struct prep *p, struct dom *d, const char *in, size_t len)
{
	char txt[INET6_ADDRSTRLEN];
	struct in6_addr addr;

	if (len < 3 || in[len - 1] != ']' || len - 2 >= sizeof(txt))
		return fail(p, "is not a valid IPv6 address literal");
	memcpy(txt, in + 1, len - 2);
	txt[len - 2] = '\0';
	if (inet_pton(AF_INET6, txt, &addr) != 1)
		return fail(p, "is not a valid IPv6 address literal");
	/* inet_ntop gives the RFC 5952 form: lower case, "::" compressed. */
	inet_ntop(AF_INET6, &addr, txt, sizeof(txt));
	d->ulen = (size_t)snprintf(d->u, sizeof(d->u), "[%s]", txt);
	return 0;
}

static bool
is_bare_ipv6(const char *in, size_t len)
{
	char txt[INET6_ADDRSTRLEN];
	struct in6_addr addr;

	if (len >= sizeof(txt) || memchr(in, ':', len) == NULL)
		return false;
	memcpy(txt, in, len);
	txt[len] = '\0';
	return inet_pton(AF_INET6, txt, &addr) == 1;
}

/* Digits and dots only is an IPv4 literal or nothing: such a name cannot
 * be a DNS host (no numeric TLD) and resolvers would read "1.2.3" as an
 * address. inet_pton refuses leading zeros and short forms. */
static int
check_ipv4(struct prep *p, struct dom *d)
{
	struct in_addr addr;

	if (strspn(d->u, "0123456789.") != d->ulen)
		return 0;
	if (inet_pton(AF_INET, d->u, &addr) != 1)
		return fail(p, "is not a valid IPv4 address");
	return 0;
}

/* RFC 7622 section 3.2: one trailing dot is removed before anything else.
 * The input is valid UTF-8, so three final bytes starting with a lead byte
 * are one whole code point. */
static size_t
strip_dot(const char *in, size_t len)
{
	static const char *const dots[] = {"\xe3\x80\x82", "\xef\xbc\x8e",
					   "\xef\xbd\xa1"};
	size_t i;

	if (len > 0 && in[len - 1] == '.')
		return len - 1;
	for (i = 0; len >= 3 && i < UTIL_ARRAY_LEN(dots); i++)
		if (memcmp(in + len - 3, dots[i], 3) == 0)
			return len - 3;
	return len;
}

static int
prep_domain(struct prep *p, const char *in, size_t len, bool full,
	    struct dom *d)
{
	uint32_t *cps;
	size_t n;
	bool ascii;
	int rc;

	d->ulen = 0;
	d->u[0] = '\0';
	d->has_a = false;
	memset(&d->a, 0, sizeof(d->a));
	if ((rc = precheck(p, in, len, NULL, &n, &ascii)) < 0)
		return rc;
	if ((len = strip_dot(in, len)) == 0)
		return fail(p, "is empty");
	if (in[0] == '[')
		return prep_ipv6(p, d, in, len);
	if (is_bare_ipv6(in, len))
		return fail(p, "is an IPv6 address without brackets");
	if (ascii && !full && domain_fast_ok(in, len)) {
		rc = domain_fast(p, d, in, len);
	} else {
		cps = xmalloc(len * sizeof(*cps));
		precheck(p, in, len, cps, &n, &ascii);
		rc = domain_full(p, d, cps, n);
		free(cps);
	}
	return rc < 0 ? rc : check_ipv4(p, d);
}

/* The A-label form of a prepared domain, borrowed from D. */
static const char *
dom_ascii(const struct dom *d, size_t *len)
{
	if (d->has_a && d->a.len > 0) {
		*len = d->a.len;
		return d->a.data;
	}
	*len = d->ulen;
	return d->u;
}

static int
prep_part(struct prep *p, enum jid__part part, const char *in, size_t len,
	  bool full, char *out)
{
	uint32_t *cps;
	size_t n;
	bool ascii;
	int rc;

	if ((rc = precheck(p, in, len, NULL, &n, &ascii)) < 0)
		return rc;
	if (len == 0)
		return fail(p, "is empty");
	if (ascii && !full)
		return prep_fast(p, part, in, len, out);
	cps = xmalloc(n * sizeof(*cps));
	precheck(p, in, len, cps, &n, &ascii);
	rc = prep_full(p, part, cps, n, out);
	free(cps);
	if (rc == 0)
		return fail(p, "is empty after preparation");
	return rc;
}

int
jid__prep_part(enum jid__part part, const char *in, size_t len, bool full,
	       char *out, char *why, size_t whylen)
{
	struct prep p = {part_names[part], why, whylen};
	struct dom d;
	int rc;

	if (part != JID__DOMAIN)
		return prep_part(&p, part, in, len, full, out);
	rc = prep_domain(&p, in, len, full, &d);
	if (rc == 0) {
		memcpy(out, d.u, d.ulen + 1);
		rc = (int)d.ulen;
	}
	util_buf_free(&d.a);
	return rc;
}

/* ---- struct jid ---- */

static const char *
put(char **w, const char *s, size_t n)
{
	char *start = *w;

	memcpy(start, s, n);
	start[n] = '\0';
	*w += n + 1;
	return start;
}

/* NODE and RES may be NULL (absent); ASCII is NULL when equal to DOM. */
static struct jid *
jid_build(const char *node, size_t nlen, const char *dom, size_t dlen,
	  const char *ascii, size_t alen, const char *res, size_t rlen)
{
	size_t full = (node ? nlen + 1 : 0) + dlen + (res ? rlen + 1 : 0);
	size_t size = 2 * full + 4 + (ascii ? alen : 0);
	struct jid *j = xmalloc(sizeof(*j) + size);
	char *w = j->buf;

	if (node) {
		memcpy(w, node, nlen);
		w[nlen] = '@';
		w += nlen + 1;
	}
	memcpy(w, dom, dlen);
	w += dlen;
	if (res) {
		*w++ = '/';
		memcpy(w, res, rlen);
		w += rlen;
	}
	*w++ = '\0';
	j->len = full;
	j->refs = 1;
	j->node = node ? put(&w, node, nlen) : NULL;
	j->domain = put(&w, dom, dlen);
	j->resource = res ? put(&w, res, rlen) : NULL;
	j->domain_ascii = ascii ? put(&w, ascii, alen) : j->domain;
	return j;
}

static struct jid_cache_slot *
jid_cache_slot(const char *s, size_t len)
{
	uint64_t h = len, w;
	size_t i;

	/* Eight bytes a step: this runs for every address of every stanza. */
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
		h ^= h >> 29;
	}
	for (w = 0; i < len; i++)
		w = w << 8 | (unsigned char)s[i];
	h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
	h ^= h >> 32;
	return &jid_cache[h % JID_CACHE_SLOTS];
}

static void
jid_cache_put(struct jid_cache_slot *slot, const char *s, size_t len,
	      struct jid *j)
{
	jid_free(slot->j);
	memcpy(slot->in, s, len);
	slot->len = len;
	slot->j = j;
	j->refs++;
}

static int jid_parse_uncached(const char *s, size_t len, struct jid **out,
			      char *why, size_t whylen);

int
jid_parse(const char *s, size_t len, struct jid **out, char *why, size_t whylen)
{
	struct jid_cache_slot *slot = NULL;
	int rc;

	if (len > 0 && len <= JID_CACHE_INPUT_MAX) {
		slot = jid_cache_slot(s, len);
		if (slot->j != NULL && slot->len == len &&
		    memcmp(slot->in, s, len) == 0) {
			if (why != NULL && whylen > 0)
				why[0] = '\0';
			slot->j->refs++;
			*out = slot->j;
			return 0;
		}
	}
	rc = jid_parse_uncached(s, len, out, why, whylen);
	if (rc == 0 && slot != NULL)
		jid_cache_put(slot, s, len, *out);
	return rc;
}

static int
jid_parse_uncached(const char *s, size_t len, struct jid **out, char *why,
		   size_t whylen)
{
	struct prep p = {"domain", why, whylen};
	char node[JID_PART_MAX + 1], res[JID_PART_MAX + 1];
	const char *slash, *at, *dom, *ascii;
	size_t dlen, alen;
	int nlen = 0, rlen = 0, rc;
	struct dom d;

	*out = NULL;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (len == 0)
		return fail(&p, "is empty");
	/* RFC 7622 section 3.1: the first '/' starts the resource, and the
	 * node ends at the first '@' before it. */
	slash = memchr(s, '/', len);
	dlen = slash ? (size_t)(slash - s) : len;
	at = memchr(s, '@', dlen);
	dom = at ? at + 1 : s;
	dlen -= (size_t)(dom - s);
	if (at && (nlen = jid__prep_part(JID__NODE, s, (size_t)(at - s), false,
					 node, why, whylen)) < 0)
		return nlen;
	if ((rc = prep_domain(&p, dom, dlen, false, &d)) == 0 && slash)
		rc = rlen = jid__prep_part(JID__RESOURCE, slash + 1,
					   len - (size_t)(slash + 1 - s), false,
					   res, why, whylen);
	if (rc >= 0) {
		ascii = dom_ascii(&d, &alen);
		*out = jid_build(at ? node : NULL, (size_t)nlen, d.u, d.ulen,
				 ascii == d.u ? NULL : ascii, alen,
				 slash ? res : NULL, (size_t)rlen);
		rc = 0;
	}
	util_buf_free(&d.a);
	return rc;
}

void
jid_free(struct jid *j)
{
	if (j != NULL && --j->refs == 0)
		free(j);
}

const char *
jid_node(const struct jid *j)
{
	return j->node;
}

const char *
jid_domain(const struct jid *j)
{
	return j->domain;
}

const char *
jid_resource(const struct jid *j)
{
	return j->resource;
}

const char *
jid_domain_ascii(const struct jid *j)
{
	return j->domain_ascii;
}

const char *
jid_str(const struct jid *j, size_t *len)
{
	if (len != NULL)
		*len = j->len;
	return j->buf;
}

struct jid *
jid_bare(const struct jid *j)
{
	return jid_build(j->node, j->node ? strlen(j->node) : 0, j->domain,
			 strlen(j->domain),
			 j->domain_ascii == j->domain ? NULL : j->domain_ascii,
			 strlen(j->domain_ascii), NULL, 0);
}

bool
jid_equal(const struct jid *a, const struct jid *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	/* Parts cannot contain the separators before them, so the full
	 * prepared string decides. */
	return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

/* Shared by the two bare-domain entry points; WANT_ASCII picks the form. */
static int
domain_prep_to(const char *in, bool want_ascii, char *out, size_t outlen,
	       char *why, size_t whylen)
{
	struct prep p = {"domain", why, whylen};
	struct dom d;
	const char *s;
	size_t len;
	int rc;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	rc = prep_domain(&p, in, strlen(in), false, &d);
	if (rc == 0) {
		s = want_ascii ? dom_ascii(&d, &len) : (len = d.ulen, d.u);
		if (len < outlen) {
			memcpy(out, s, len + 1);
			rc = (int)len;
		} else {
			rc = -ENOSPC;
			if (why != NULL && whylen > 0)
				snprintf(why, whylen,
					 "domain longer than the "
					 "output buffer (%zu bytes)",
					 len);
		}
	}
	util_buf_free(&d.a);
	return rc;
}

int
jid_domain_prep(const char *in, char *out, size_t outlen, char *why,
		size_t whylen)
{
	return domain_prep_to(in, false, out, outlen, why, whylen);
}

int
jid_domain_to_ascii(const char *in, char *out, size_t outlen, char *why,
		    size_t whylen)
{
	return domain_prep_to(in, true, out, outlen, why, whylen);
}
