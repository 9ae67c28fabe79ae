/* check_tls_verify.c - tls/tls_verify: RFC 6125 / XEP-0178 name matching on
 * presented identities, without certificates (check_tls_x509.c covers the
 * same rules on real certificates). */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "cm/err.h"
#include "tls/tls_verify.h"

#define ID(k, s) {(k), (s), sizeof(s) - 1}
#define DNS(s) ID(TLS_VERIFY_DNS, s)
#define SRV(s) ID(TLS_VERIFY_SRV, s)
#define XMPP(s) ID(TLS_VERIFY_XMPP, s)
#define CN(s) ID(TLS_VERIFY_CN, s)

struct name_case {
	const char *domain;
	struct tls_verify_id ids[4];
	size_t n;
	bool has_san;
	int rc;
	size_t matched;         /* when rc == 0 */
	const char *why;        /* substring of the reason when rc != 0 */
};

static const struct name_case name_cases[] = {
    /* DNS-ID, exact, case and trailing dot insensitive. */
    {"example.com", {DNS("example.com")}, 1, true, 0, 0, NULL},
    {"Example.COM", {DNS("example.com.")}, 1, true, 0, 0, NULL},
    {"example.com.", {DNS("EXAMPLE.com")}, 1, true, 0, 0, NULL},
    {"example.org", {DNS("example.com")}, 1, true, S2SD_ETLS_NAME, 0,
     "certificate names DNS:example.com but not example.org"},
    /* Wildcards: one left-most label only. */
    {"a.example.com", {DNS("*.example.com")}, 1, true, 0, 0, NULL},
    {"example.com", {DNS("*.example.com")}, 1, true, S2SD_ETLS_NAME, 0,
     "wildcard *.example.com does not cover example.com itself"},
    {"conference.a.example.com", {DNS("*.example.com")}, 1, true,
     S2SD_ETLS_NAME, 0,
     "wildcard *.example.com covers one label only, not "
     "conference.a.example.com"},
    {"a.com", {DNS("*.com")}, 1, true, S2SD_ETLS_NAME, 0, "too broad"},
    {"a.b.example.com", {DNS("*.*.example.com")}, 1, true, S2SD_ETLS_NAME,
     0, "too broad or malformed"},
    {"foo.example.com", {DNS("f*.example.com")}, 1, true, S2SD_ETLS_NAME, 0,
     "not foo.example.com"},
    {"foo.example.com", {DNS("*oo.example.com")}, 1, true, S2SD_ETLS_NAME,
     0, NULL},
    {".example.com", {DNS("*.example.com")}, 1, true, S2SD_ETLS_NAME, 0,
     NULL},
    /* Embedded NUL never matches. */
    {"example.com", {DNS("example.com\0.evil.org")}, 1, true,
     S2SD_ETLS_NAME, 0, "DNS:example.com?.evil.org"},
    /* SRV-ID: xmpp-server service only; domain part like a DNS-ID. */
    {"example.com", {SRV("_xmpp-server.example.com")}, 1, true, 0, 0, NULL},
    {"example.com", {SRV("_XMPP-Server.Example.com")}, 1, true, 0, 0, NULL},
    {"a.example.com", {SRV("_xmpp-server.*.example.com")}, 1, true, 0, 0,
     NULL},
    {"example.com", {SRV("_xmpp-client.example.com")}, 1, true,
     S2SD_ETLS_NAME, 0, "is for another service"},
    {"example.com", {SRV("_xmpp-server.")}, 1, true, S2SD_ETLS_NAME, 0,
     NULL},
    {"example.com", {SRV("_xmpp-server")}, 1, true, S2SD_ETLS_NAME, 0, NULL},
    /* XmppAddr: bare domain only, IDN compared as A-labels, no wildcard. */
    {"example.com", {XMPP("example.com")}, 1, true, 0, 0, NULL},
    {"xn--bcher-kva.example", {XMPP("b\xc3\xbc" "cher.example")}, 1, true, 0,
     0, NULL},
    {"XN--BCHER-KVA.example", {XMPP("B\xc3\x9c" "CHER.example")}, 1, true, 0,
     0, NULL},
    {"example.com", {XMPP("user@example.com")}, 1, true, S2SD_ETLS_NAME, 0,
     "names a user"},
    {"example.com", {XMPP("example.com/res")}, 1, true, S2SD_ETLS_NAME, 0,
     NULL},
    {"example.org", {XMPP("user@example.com")}, 1, true, S2SD_ETLS_NAME, 0,
     "certificate names XmppAddr:user@example.com but not example.org"},
    {"a.example.com", {XMPP("*.example.com")}, 1, true, S2SD_ETLS_NAME, 0,
     NULL},
    {"example.com", {XMPP("\xff\xfe")}, 1, true, S2SD_ETLS_NAME, 0, NULL},
    /* CN only without any subjectAltName. */
    {"example.com", {CN("example.com")}, 1, false, 0, 0, NULL},
    {"a.example.com", {CN("*.example.com")}, 1, false, 0, 0, NULL},
    {"example.com", {CN("example.com")}, 1, true, S2SD_ETLS_NAME, 0,
     "CN example.com is ignored because the certificate has subjectAltName"},
    {"example.com", {DNS("other.org"), CN("example.com")}, 2, true,
     S2SD_ETLS_NAME, 0, "CN example.com is ignored"},
    /* Several identities: the first that matches is reported. */
    {"example.com", {DNS("a.org"), XMPP("b.org"), SRV("_xmpp-server.example.com"),
                     DNS("example.com")}, 4, true, 0, 2, NULL},
    {"example.com", {DNS("a.org"), XMPP("b.org")}, 2, true, S2SD_ETLS_NAME, 0,
     "certificate names DNS:a.org, XmppAddr:b.org but not example.com"},
    {"example.com", {{0}}, 0, true, S2SD_ETLS_NAME, 0, "has no DNS"},
    {"", {DNS("example.com")}, 1, true, -EINVAL, 0, NULL},
};

START_TEST(test_name)
{
	const struct name_case *c = &name_cases[_i];
	char why[256] = "unset";
	size_t matched = 99;
	int rc;

	rc = tls_verify_name(c->domain, c->ids, c->n, c->has_san, &matched,
	                     why, sizeof(why));
	ck_assert_msg(rc == c->rc, "case %d %s: rc %d want %d (%s)", _i,
	              c->domain, rc, c->rc, why);
	if (rc == 0) {
		ck_assert_uint_eq(matched, c->matched);
		ck_assert_str_eq(why, "");
	} else {
		ck_assert_uint_eq(matched, 99);
		ck_assert(why[0] != '\0');
	}
	if (c->why != NULL)
		ck_assert_msg(strstr(why, c->why) != NULL, "case %d: '%s' lacks "
		              "'%s'", _i, why, c->why);
}
END_TEST

START_TEST(test_why_truncates)
{
	struct tls_verify_id ids[] = {DNS("a-rather-long-name.example.org")};
	char why[8];

	ck_assert_int_eq(tls_verify_name("example.com", ids, 1, true, NULL, why,
	                                 sizeof(why)),
	                 S2SD_ETLS_NAME);
	ck_assert_uint_eq(strlen(why), sizeof(why) - 1);
	ck_assert_int_eq(tls_verify_name("example.com", ids, 1, true, NULL, NULL,
	                                 0),
	                 S2SD_ETLS_NAME);
}
END_TEST

START_TEST(test_dns_match)
{
	ck_assert(tls_verify_dns_match("*.example.com", 13, "x.example.com"));
	ck_assert(!tls_verify_dns_match("*.example.com", 13, "example.com"));
	ck_assert(tls_verify_dns_match("example.com", 11, "EXAMPLE.com."));
	ck_assert(!tls_verify_dns_match("", 0, "example.com"));
	ck_assert(!tls_verify_dns_match("example.com", 11, ""));
}
END_TEST

START_TEST(test_format)
{
	struct tls_verify_id id = SRV("_xmpp-server.a\x01" "b");
	char buf[64];

	tls_verify_id_format(&id, buf, sizeof(buf));
	ck_assert_str_eq(buf, "SRV-ID:_xmpp-server.a?b");
	tls_verify_id_format(&id, buf, 5);
	ck_assert_str_eq(buf, "SRV-");
	ck_assert_str_eq(tls_verify_kind_name(TLS_VERIFY_XMPP), "XmppAddr");
}
END_TEST

static Suite *
tls_verify_suite(void)
{
	Suite *s = suite_create("tls_verify");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_name, 0,
	                    sizeof(name_cases) / sizeof(name_cases[0]));
	tcase_add_test(tc, test_why_truncates);
	tcase_add_test(tc, test_dns_match);
	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tls_verify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
