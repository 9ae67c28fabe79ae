/* check_jid.c - xmpp/jid: splitting, the three stringprep profiles, IDNA
 * domains, IP literals, limits, reasons, and the ASCII fast path against
 * the libidn path. Expected A-labels were computed with Python's punycode
 * codec, not with the code under test. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "xmpp/jid.h"
#include "xmpp/jid_int.h"

struct parse_case {
	const char *in;
	size_t len;           /* 0: strlen(in) */
	const char *full;     /* NULL: an error is expected */
	const char *node;
	const char *domain;
	const char *resource;
	const char *ascii;    /* NULL: same as domain */
	const char *why;      /* the exact reason for errors */
};

#define OK(in, full, node, dom, res) {in, 0, full, node, dom, res, NULL, NULL}
#define OKA(in, full, node, dom, res, a) {in, 0, full, node, dom, res, a, NULL}
#define BAD(in, why) {in, 0, NULL, NULL, NULL, NULL, NULL, why}
#define BADN(in, len, why) {in, len, NULL, NULL, NULL, NULL, NULL, why}

static const struct parse_case parse_cases[] = {
    /* Splitting (RFC 7622 section 3.1). */
    OK("example.com", "example.com", NULL, "example.com", NULL),
    OK("user@example.com", "user@example.com", "user", "example.com", NULL),
    OK("user@example.com/res", "user@example.com/res", "user", "example.com",
       "res"),
    OK("example.com/res", "example.com/res", NULL, "example.com", "res"),
    OK("a@b/c@d", "a@b/c@d", "a", "b", "c@d"),
    OK("a/b@c", "a/b@c", NULL, "a", "b@c"),
    OK("a@b/c/d", "a@b/c/d", "a", "b", "c/d"),
    OK("a@b/ spaced res ", "a@b/ spaced res ", "a", "b", " spaced res "),
    OK("a@b/\"&'/:<>@", "a@b/\"&'/:<>@", "a", "b", "\"&'/:<>@"),
    /* Case: node and domain folded, resource kept. */
    OK("User@Example.COM/Res", "user@example.com/Res", "user", "example.com",
       "Res"),
    OK("ÄÖÜ@example.com/ÄÖÜ", "äöü@example.com/ÄÖÜ", "äöü", "example.com",
       "ÄÖÜ"),
    OK("Straße@example.com", "strasse@example.com", "strasse", "example.com",
       NULL),
    OK("\xc4\xb0@x", "i\xcc\x87@x", "i\xcc\x87", "x", NULL),   /* U+0130 */
    OK("\xce\xa3@x", "\xcf\x83@x", "\xcf\x83", "x", NULL),     /* Sigma */
    OK("\xe2\x84\xa6@x/\xe2\x84\xa6", "\xcf\x89@x/\xce\xa9", "\xcf\x89",
       "x", "\xce\xa9"),                                      /* Ohm */
    /* Compatibility characters (NFKC) and characters mapped to nothing. */
    OK("ＵＳＥＲ@example.com", "user@example.com", "user", "example.com",
       NULL),
    OK("\xef\xac\x81le@x", "file@x", "file", "x", NULL),       /* U+FB01 */
    OK("a@b/\xef\xbc\xb2\x65s", "a@b/Res", "a", "b", "Res"),   /* U+FF32 */
    OK("a@b/a\xc2\xa0\x62", "a@b/a b", "a", "b", "a b"),       /* U+00A0 */
    OK("x\xc2\xadx@a", "xx@a", "xx", "a", NULL),               /* U+00AD */
    OK("ｅｘａｍｐｌｅ．ｃｏｍ", "example.com", NULL, "example.com", NULL),
    OK("straße.de", "strasse.de", NULL, "strasse.de", NULL),
    /* Bidi: right-to-left only is fine. */
    OK("\xd7\x90\xd7\x91@example.com", "\xd7\x90\xd7\x91@example.com",
       "\xd7\x90\xd7\x91", "example.com", NULL),
    OK("a@b/\xd7\x90 \xd7\x91", "a@b/\xd7\x90 \xd7\x91", "a", "b",
       "\xd7\x90 \xd7\x91"),
    /* Unassigned in Unicode 3.2: accepted in node and resource. */
    OK("\xf0\x9f\x98\x80@example.com/\xf0\x9f\x93\xb1",
       "\xf0\x9f\x98\x80@example.com/\xf0\x9f\x93\xb1", "\xf0\x9f\x98\x80",
       "example.com", "\xf0\x9f\x93\xb1"),
    /* IDN: U-labels and A-labels prepare to the U-label form. */
    OKA("Bücher.example", "bücher.example", NULL, "bücher.example", NULL,
        "xn--bcher-kva.example"),
    OKA("xn--bcher-kva.example", "bücher.example", NULL, "bücher.example",
        NULL, "xn--bcher-kva.example"),
    OKA("XN--BCHER-KVA.Example.", "bücher.example", NULL, "bücher.example",
        NULL, "xn--bcher-kva.example"),
    OKA("user@BÜCHER.example", "user@bücher.example", "user",
        "bücher.example", NULL, "xn--bcher-kva.example"),
    OKA("test@xn--mnchen-3ya.de", "test@münchen.de", "test", "münchen.de",
        NULL, "xn--mnchen-3ya.de"),
    OKA("日本語.jp", "日本語.jp", NULL, "日本語.jp", NULL, "xn--wgv71a119e.jp"),
    OKA("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaü.x",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaü.x", NULL,
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaü.x", NULL,
        "xn--aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-8yf.x"),
    /* Labels and separators. */
    OK("example.com.", "example.com", NULL, "example.com", NULL),
    OK("example\xe3\x80\x82\x63om\xe3\x80\x82", "example.com", NULL,
       "example.com", NULL),                         /* U+3002 */
    OK("1a.example", "1a.example", NULL, "1a.example", NULL),
    OK("a-b.Example", "a-b.example", NULL, "a-b.example", NULL),
    OK("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x",
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x",
       NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x",
       NULL),
    /* IP literals. */
    OK("[::1]", "[::1]", NULL, "[::1]", NULL),
    OK("a@[2001:DB8:0:0:0:0:0:1]/r", "a@[2001:db8::1]/r", "a",
       "[2001:db8::1]", "r"),
    OK("[::FFFF:192.0.2.1]", "[::ffff:192.0.2.1]", NULL, "[::ffff:192.0.2.1]",
       NULL),
    OK("127.0.0.1", "127.0.0.1", NULL, "127.0.0.1", NULL),
    OK("u@192.0.2.1/r", "u@192.0.2.1/r", "u", "192.0.2.1", "r"),
    OK("a@\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97.0.0.1", "a@127.0.0.1", "a",
       "127.0.0.1", NULL),

    /* Nodeprep's own table, each character, and '/' '@' through NFKC. */
    BAD("a\"b@x", "node contains forbidden character '\"'"),
    BAD("a&b@x", "node contains forbidden character '&'"),
    BAD("a'b@x", "node contains forbidden character '''"),
    BAD("a:b@x", "node contains forbidden character ':'"),
    BAD("a<b@x", "node contains forbidden character '<'"),
    BAD("a>b@x", "node contains forbidden character '>'"),
    BAD("a\xef\xbc\x8f\x62@x", "node contains forbidden character U+FF0F"),
    BAD("a\xef\xbc\xa0\x62@x", "node contains forbidden character U+FF20"),
    BAD("a b@x", "node contains forbidden character U+0020"),
    BAD("a\x01\x62@x", "node contains forbidden character U+0001"),
    BAD("a\x7f\x62@x", "node contains forbidden character U+007F"),
    BAD("a\xc2\x80\x62@x", "node contains forbidden character U+0080"),
    BAD("a\xc2\xa0\x62@x", "node contains forbidden character U+00A0"),
    BAD("\xef\xbf\xbd@x", "node contains forbidden character U+FFFD"),
    BAD("\xee\x80\x80@x", "node contains forbidden character U+E000"),
    BAD("a\xe2\x80\x8e@x", "node contains forbidden character U+200E"),
    BAD("a\xef\xbf\xbf@x", "node contains forbidden character U+FFFF"),
    BAD("a\xe2\xbf\xb0@x", "node contains forbidden character U+2FF0"),
    BAD("a\xf3\xa0\x80\x81@x", "node contains forbidden character U+E0001"),
    BADN("a\0b@x", 5, "node contains forbidden character U+0000"),
    BAD("@x", "node is empty"),
    BAD("\xc2\xad@x", "node is empty after preparation"),
    BAD("\xd7\x90\x61@x",
        "node mixes left-to-right and right-to-left characters"),
    BAD("\xd7\x90\x31@x", "node has right-to-left characters but does not "
                          "start and end with one"),
    BAD("\xc0\xaf@x", "node is not valid UTF-8 (at byte 0)"),
    BAD("a\xed\xa0\x80@x", "node is not valid UTF-8 (at byte 1)"),
    BAD("ab\xe2\x82@x", "node is not valid UTF-8 (at byte 2)"),
    BAD("\xf5\x80\x80\x80@x", "node is not valid UTF-8 (at byte 0)"),
    BAD("a\x80@x", "node is not valid UTF-8 (at byte 1)"),

    /* Domains. */
    BADN("", 0, "domain is empty"),
    BAD("a@", "domain is empty"),
    BAD("a@.", "domain is empty"),
    BAD("a@/r", "domain is empty"),
    BAD("a..b", "domain contains an empty label"),
    BAD(".a", "domain contains an empty label"),
    BAD("a.b..", "domain contains an empty label"),
    BAD("a_b.example", "domain contains forbidden character '_'"),
    BAD("a@b@c", "domain contains forbidden character '@'"),
    BAD("*.example.com", "domain contains forbidden character '*'"),
    BAD("a b.example", "domain contains forbidden character U+0020"),
    BAD("a\xc2\xa0\x62.example", "domain contains forbidden character U+0020"),
    BAD("exa\xe2\x80\xa4mple.com", "domain contains forbidden character '.'"),
    BAD("-a.example", "domain label starts with a hyphen"),
    BAD("a-.example", "domain label ends with a hyphen"),
    BAD("xn--zz.example", "domain label 'xn--zz' is not a valid A-label"),
    BAD("xn--ls8h.la", "domain label 'xn--ls8h' is not a valid A-label"),
    BAD("xn--wca.example", "domain label 'xn--wca' is not a valid A-label"),
    BAD("xn--\xc3\xbc.example",
        "domain label starts with \"xn--\" but is not ASCII"),
    BAD("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x",
        "domain label longer than 63 bytes"),
    BAD("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaü.x",
        "domain label longer than 63 bytes"),
    BAD("\xf0\x9f\x98\x80.example",
        "domain contains code point U+1F600, unassigned in Unicode 3.2"),
    BAD("\xef\xbf\xbd.example", "domain contains forbidden character U+FFFD"),
    BAD("\xd8\xa7\xd9\x84\x61.example",
        "domain mixes left-to-right and right-to-left characters"),
    BAD("\xd8\xa7\x31.example", "domain has right-to-left characters but "
                                "does not start and end with one"),
    BAD("\xed\xa0\x80.example", "domain is not valid UTF-8 (at byte 0)"),
    BADN("a@b\0c", 5, "domain contains forbidden character U+0000"),
    BAD("::1", "domain is an IPv6 address without brackets"),
    BAD("[::1", "domain is not a valid IPv6 address literal"),
    BAD("[::g]", "domain is not a valid IPv6 address literal"),
    BAD("[fe80::1%eth0]", "domain is not a valid IPv6 address literal"),
    BAD("[1.2.3.4]", "domain is not a valid IPv6 address literal"),
    BAD("[::1]:5269", "domain is not a valid IPv6 address literal"),
    BAD("1.2.3", "domain is not a valid IPv4 address"),
    BAD("256.1.1.1", "domain is not a valid IPv4 address"),
    BAD("01.2.3.4", "domain is not a valid IPv4 address"),

    /* Resources. */
    BAD("a@b/", "resource is empty"),
    BAD("a@b/\x01", "resource contains forbidden character U+0001"),
    BAD("a@b/x\ty", "resource contains forbidden character U+0009"),
    BAD("a@b/\x7f", "resource contains forbidden character U+007F"),
    BAD("a@b/\xc2\x85", "resource contains forbidden character U+0085"),
    BAD("a@b/\xef\xbf\xbd", "resource contains forbidden character U+FFFD"),
    BAD("a@b/\xe2\x80\x8f", "resource contains forbidden character U+200F"),
    BAD("a@b/\xd7\x90\x61",
        "resource mixes left-to-right and right-to-left characters"),
    BAD("a@b/\xc0\x80", "resource is not valid UTF-8 (at byte 0)"),
    BADN("a@b/x\0y", 7, "resource contains forbidden character U+0000"),
};

static void
check_opt(const char *got, const char *want)
{
	if (want == NULL)
		ck_assert_ptr_null(got);
	else
		ck_assert_str_eq(got, want);
}

START_TEST(test_parse)
{
	const struct parse_case *c = &parse_cases[_i];
	size_t len = c->len ? c->len : strlen(c->in), flen;
	struct jid *j = (struct jid *)1;
	char why[256];
	int rc;

	rc = jid_parse(c->in, len, &j, why, sizeof(why));
	if (c->full == NULL) {
		ck_assert_int_eq(rc, S2SD_EJID);
		ck_assert_ptr_null(j);
		ck_assert_str_eq(why, c->why);
		return;
	}
	ck_assert_msg(rc == 0, "%s: %s", c->in, why);
	ck_assert_str_eq(jid_str(j, &flen), c->full);
	ck_assert_uint_eq(flen, strlen(c->full));
	check_opt(jid_node(j), c->node);
	ck_assert_str_eq(jid_domain(j), c->domain);
	check_opt(jid_resource(j), c->resource);
	ck_assert_str_eq(jid_domain_ascii(j), c->ascii ? c->ascii : c->domain);
	jid_free(j);
}
END_TEST

/* Every valid address is a fixed point: parsing its prepared form gives it
 * back, and the two compare equal. */
START_TEST(test_idempotent)
{
	const struct parse_case *c = &parse_cases[_i];
	struct jid *a, *b;
	const char *s;
	size_t len = c->len ? c->len : strlen(c->in), slen;

	if (c->full == NULL)
		return;
	ck_assert_int_eq(jid_parse(c->in, len, &a, NULL, 0), 0);
	s = jid_str(a, &slen);
	ck_assert_int_eq(jid_parse(s, slen, &b, NULL, 0), 0);
	ck_assert_str_eq(jid_str(b, NULL), s);
	ck_assert_str_eq(jid_domain_ascii(b), jid_domain_ascii(a));
	ck_assert(jid_equal(a, b));
	jid_free(a);
	jid_free(b);
}
END_TEST

/* Generated inputs at the limits: PRE + UNIT * COUNT + SUF. */
struct limit_case {
	const char *pre, *unit;
	int count;
	const char *suf;
	enum jid__part part;  /* the part whose prepared length is checked */
	size_t plen;          /* its expected length; 0: expect WHY */
	const char *why;
};

static const struct limit_case limit_cases[] = {
    {"", "a", 1023, "@x", JID__NODE, 1023, NULL},
    {"", "a", 1024, "@x", JID__NODE, 0, "node longer than 1023 bytes"},
    {"", "é", 511, "a@x", JID__NODE, 1023, NULL},
    {"", "é", 512, "@x", JID__NODE, 0, "node longer than 1023 bytes"},
    {"", "É", 512, "@x", JID__NODE, 0, "node longer than 1023 bytes"},
    {"", "\xc2\xad", 2000, "a@x", JID__NODE, 1, NULL},
    {"", "a", 4093, "@x", JID__NODE, 0,
     "node longer than 4092 bytes before preparation"},
    {"x/", "r", 1023, "", JID__RESOURCE, 1023, NULL},
    {"x/", "r", 1024, "", JID__RESOURCE, 0, "resource longer than 1023 bytes"},
    /* U+FDFA expands to 18 code points, 33 bytes, under NFKC. */
    {"x/", "\xef\xb7\xba", 31, "", JID__RESOURCE, 1023, NULL},
    {"x/", "\xef\xb7\xba", 32, "", JID__RESOURCE, 0,
     "resource longer than 1023 bytes"},
    {"x/", "\xef\xb7\xba", 400, "", JID__RESOURCE, 0,
     "resource longer than 1023 bytes"},
    {"", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.",
     16, "bbbbbbbbbbbbbbb", JID__DOMAIN, 1023, NULL},
    {"", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.",
     16, "bbbbbbbbbbbbbbb.", JID__DOMAIN, 1023, NULL},
    {"", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.",
     16, "bbbbbbbbbbbbbbbb", JID__DOMAIN, 0, "domain longer than 1023 bytes"},
    {"", "ü.", 340, "xyz", JID__DOMAIN, 1023, NULL},
    {"", "ü.", 340, "xyzw", JID__DOMAIN, 0, "domain longer than 1023 bytes"},
};

static char *
limit_input(const struct limit_case *c, size_t *len)
{
	struct util_buf b = {0};
	int i;

	util_buf_puts(&b, c->pre);
	for (i = 0; i < c->count; i++)
		util_buf_puts(&b, c->unit);
	util_buf_puts(&b, c->suf);
	return util_buf_steal(&b, len);
}

START_TEST(test_limits)
{
	const struct limit_case *c = &limit_cases[_i];
	const char *part;
	struct jid *j;
	char why[256];
	size_t len;
	char *in = limit_input(c, &len);
	int rc = jid_parse(in, len, &j, why, sizeof(why));

	if (c->plen == 0) {
		ck_assert_int_eq(rc, S2SD_EJID);
		ck_assert_str_eq(why, c->why);
		free(in);
		return;
	}
	ck_assert_msg(rc == 0, "%s", why);
	part = c->part == JID__NODE ? jid_node(j)
	       : c->part == JID__DOMAIN ? jid_domain(j) : jid_resource(j);
	ck_assert_uint_eq(strlen(part), c->plen);
	jid_free(j);
	free(in);
}
END_TEST

struct equal_case {
	const char *a, *b;
	bool equal;
};

static const struct equal_case equal_cases[] = {
    {"Bücher.example", "xn--bcher-kva.example", true},
    {"u@BÜCHER.example/r", "U@xn--bcher-kva.EXAMPLE./r", true},
    {"User@Example.com", "user@example.com", true},
    {"u@example.com/Res", "u@example.com/res", false},
    {"u@example.com", "u@example.com/r", false},
    {"example.com", "u@example.com", false},
    {"[::1]", "[0:0:0:0:0:0:0:1]", true},
    {"ＵＳＥＲ@ｅｘａｍｐｌｅ．ｃｏｍ", "user@example.com", true},
    {"a@b/c@d", "a@b/c@d", true},
};

START_TEST(test_equal)
{
	const struct equal_case *c = &equal_cases[_i];
	struct jid *a, *b;

	ck_assert_int_eq(jid_parse(c->a, strlen(c->a), &a, NULL, 0), 0);
	ck_assert_int_eq(jid_parse(c->b, strlen(c->b), &b, NULL, 0), 0);
	ck_assert_int_eq(jid_equal(a, b), c->equal);
	ck_assert_int_eq(jid_equal(b, a), c->equal);
	ck_assert(jid_equal(a, a));
	ck_assert(!jid_equal(a, NULL));
	jid_free(a);
	jid_free(b);
}
END_TEST

START_TEST(test_bare)
{
	const char *in = "U@Bücher.example/R";
	struct jid *j, *b, *bb;

	ck_assert_int_eq(jid_parse(in, strlen(in), &j, NULL, 0), 0);
	b = jid_bare(j);
	ck_assert_str_eq(jid_str(b, NULL), "u@bücher.example");
	ck_assert_str_eq(jid_node(b), "u");
	ck_assert_ptr_null(jid_resource(b));
	ck_assert_str_eq(jid_domain_ascii(b), "xn--bcher-kva.example");
	bb = jid_bare(b);
	ck_assert(jid_equal(b, bb));
	ck_assert(!jid_equal(j, b));
	jid_free(bb);
	jid_free(b);
	jid_free(j);
	ck_assert_int_eq(jid_parse("example.com/r", 13, &j, NULL, 0), 0);
	b = jid_bare(j);
	ck_assert_str_eq(jid_str(b, NULL), "example.com");
	ck_assert_ptr_null(jid_node(b));
	jid_free(b);
	jid_free(j);
	jid_free(NULL);
	ck_assert(jid_equal(NULL, NULL));
}
END_TEST

struct dom_case {
	const char *in;
	int rc;             /* 0: success */
	const char *u, *a;  /* prepared and ASCII forms, or the reason */
};

static const struct dom_case dom_cases[] = {
    {"Example.COM.", 0, "example.com", "example.com"},
    {"BÜCHER.example", 0, "bücher.example", "xn--bcher-kva.example"},
    {"xn--mnchen-3ya.de", 0, "münchen.de", "xn--mnchen-3ya.de"},
    {"äöü.ＤＥ", 0, "äöü.de", "xn--4ca0bs.de"},
    {"[::1]", 0, "[::1]", "[::1]"},
    {"192.0.2.1", 0, "192.0.2.1", "192.0.2.1"},
    {"*.example.com", S2SD_EJID, "domain contains forbidden character '*'",
     NULL},
    {"user@example.com", S2SD_EJID, "domain contains forbidden character '@'",
     NULL},
    {"", S2SD_EJID, "domain is empty", NULL},
};

START_TEST(test_domain_prep)
{
	const struct dom_case *c = &dom_cases[_i];
	char out[JID_PART_MAX + 1], why[128];

	ck_assert_int_eq(jid_domain_prep(c->in, out, sizeof(out), why,
	                                 sizeof(why)),
	                 c->rc ? c->rc : (int)strlen(c->u));
	ck_assert_str_eq(c->rc ? why : out, c->u);
	ck_assert_int_eq(jid_domain_to_ascii(c->in, out, sizeof(out), why,
	                                     sizeof(why)),
	                 c->rc ? c->rc : (int)strlen(c->a));
	ck_assert_str_eq(c->rc ? why : out, c->rc ? c->u : c->a);
}
END_TEST

START_TEST(test_domain_nospace)
{
	char out[22], why[128];

	/* "bücher.example" is 15 bytes, its A-label form 21. */
	ck_assert_int_eq(jid_domain_prep("Bücher.example", out, 16, why, 128),
	                 15);
	ck_assert_int_eq(jid_domain_prep("Bücher.example", out, 15, why, 128),
	                 -ENOSPC);
	ck_assert_int_eq(jid_domain_to_ascii("Bücher.example", out, 22, NULL, 0),
	                 21);
	ck_assert_str_eq(out, "xn--bcher-kva.example");
	ck_assert_int_eq(jid_domain_to_ascii("Bücher.example", out, 21, why,
	                                     sizeof(why)),
	                 -ENOSPC);
	ck_assert_str_eq(why, "domain longer than the output buffer (21 bytes)");
}
END_TEST

/* A short or absent WHY buffer is respected. */
START_TEST(test_why_buffer)
{
	struct jid *j;
	char why[8];

	memset(why, 'x', sizeof(why));
	ck_assert_int_eq(jid_parse("a b@c", 5, &j, why, 5), S2SD_EJID);
	ck_assert_str_eq(why, "node");
	ck_assert_int_eq(why[5], 'x');
	ck_assert_int_eq(jid_parse("a b@c", 5, &j, why, 1), S2SD_EJID);
	ck_assert_str_eq(why, "");
	ck_assert_int_eq(jid_parse("a b@c", 5, &j, NULL, 0), S2SD_EJID);
	ck_assert_int_eq(jid_parse("a@b", 3, &j, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "");
	jid_free(j);
}
END_TEST

/* ---- ASCII fast path against the libidn path ---- */

static uint64_t
rnd(uint64_t *s)
{
	/* xorshift64: a fixed seed makes every run test the same strings. */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
check_same(enum jid__part part, const char *in, size_t len)
{
	char fast[JID_PART_MAX + 1], full[JID_PART_MAX + 1];
	char wfast[256] = "", wfull[256] = "";
	int rfast, rfull;

	rfast = jid__prep_part(part, in, len, false, fast, wfast, sizeof(wfast));
	rfull = jid__prep_part(part, in, len, true, full, wfull, sizeof(wfull));
	ck_assert_msg(rfast == rfull, "part %d '%.*s': fast %d (%s), full %d "
	              "(%s)", part, (int)len, in, rfast, wfast, rfull, wfull);
	if (rfast >= 0)
		ck_assert_msg(memcmp(fast, full, (size_t)rfast + 1) == 0,
		              "part %d '%.*s': '%s' vs '%s'", part, (int)len, in,
		              fast, full);
	else
		ck_assert_str_eq(wfast, wfull);
}

/* Every ASCII byte alone and inside a longer part, in each part. */
START_TEST(test_fast_exhaustive)
{
	enum jid__part part = (enum jid__part)_i;
	char s[8];
	int c;

	for (c = 0; c < 128; c++) {
		s[0] = (char)c;
		check_same(part, s, 1);
		memcpy(s, "Ab", 2);
		s[2] = (char)c;
		memcpy(s + 3, "-9.Z", 4);
		check_same(part, s, 7);
	}
}
END_TEST

/* Draw mostly from the characters that matter to the rules. */
static char
rnd_char(uint64_t *seed)
{
	static const char pick[] = "aZ09-.@/ _\"&':<>xnXN";
	uint64_t r = rnd(seed);

	if (r % 4 == 0)
		return (char)((r >> 8) % 128);
	return pick[(r >> 8) % (sizeof(pick) - 1)];
}

START_TEST(test_fast_random)
{
	enum jid__part part = (enum jid__part)_i;
	uint64_t seed = 0x5eed0000u + (uint64_t)_i;
	char s[1100];
	size_t len, k;
	int n;

	for (n = 0; n < 6000; n++) {
		uint64_t r = rnd(&seed);
		/* Short strings mostly; some around the 63 and 1023 limits. */
		len = r % 8 == 0 ? 1015 + (r >> 8) % 16
		      : r % 8 == 1 ? 58 + (r >> 8) % 10 : (r >> 8) % 24;
		for (k = 0; k < len; k++)
			s[k] = rnd_char(&seed);
		/* Sometimes long valid-looking runs and A-label prefixes. */
		if (r % 5 == 0)
			for (k = 0; k < len; k++)
				s[k] = k % 9 == 8 ? '.' : "abcXYZ019"[rnd(&seed) % 9];
		if (r % 7 == 0 && len >= 4)
			memcpy(s, (r >> 20) % 2 ? "xn--" : "XN--", 4);
		check_same(part, s, len);
	}
}
END_TEST

/* The parse cache: a repeated input gives the same prepared address (the
 * same shared object while it is cached), its holders free it
 * independently, eviction by many other inputs keeps held ones valid, and
 * an invalid input is refused again with its reason. */
START_TEST(test_parse_cache)
{
	struct jid *a = NULL, *b = NULL, *c = NULL, *other;
	char in[64], why[128];
	int i;

	ck_assert_int_eq(jid_parse("Ann@Example.COM/Desk", 20, &a, NULL, 0), 0);
	ck_assert_int_eq(jid_parse("Ann@Example.COM/Desk", 20, &b, why,
	                           sizeof(why)), 0);
	ck_assert_str_eq(why, "");
	ck_assert_ptr_eq(a, b);
	ck_assert_str_eq(jid_str(b, NULL), "ann@example.com/Desk");
	jid_free(a);
	ck_assert_str_eq(jid_str(b, NULL), "ann@example.com/Desk");
	for (i = 0; i < 4000; i++) {
		snprintf(in, sizeof(in), "u%d@d%d.example", i, i % 97);
		ck_assert_int_eq(jid_parse(in, strlen(in), &other, NULL, 0), 0);
		ck_assert_str_eq(jid_str(other, NULL), in);
		jid_free(other);
	}
	ck_assert_str_eq(jid_domain(b), "example.com");
	ck_assert_int_eq(jid_parse("Ann@Example.COM/Desk", 20, &c, NULL, 0), 0);
	ck_assert(jid_equal(b, c));
	jid_free(b);
	jid_free(c);
	for (i = 0; i < 2; i++) {
		ck_assert_int_lt(jid_parse("a@b@c@", 6, &a, why, sizeof(why)),
		                 0);
		ck_assert_ptr_null(a);
		ck_assert_str_ne(why, "");
	}
}
END_TEST

static Suite *
jid_suite(void)
{
	Suite *s = suite_create("jid");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse, 0, UTIL_ARRAY_LEN(parse_cases));
	tcase_add_loop_test(tc, test_idempotent, 0, UTIL_ARRAY_LEN(parse_cases));
	tcase_add_loop_test(tc, test_limits, 0, UTIL_ARRAY_LEN(limit_cases));
	tcase_add_loop_test(tc, test_equal, 0, UTIL_ARRAY_LEN(equal_cases));
	tcase_add_test(tc, test_bare);
	tcase_add_loop_test(tc, test_domain_prep, 0, UTIL_ARRAY_LEN(dom_cases));
	tcase_add_test(tc, test_domain_nospace);
	tcase_add_test(tc, test_why_buffer);
	tcase_add_test(tc, test_parse_cache);
	tcase_add_loop_test(tc, test_fast_exhaustive, JID__NODE,
	                    JID__RESOURCE + 1);
	tcase_add_loop_test(tc, test_fast_random, JID__NODE, JID__RESOURCE + 1);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(jid_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
