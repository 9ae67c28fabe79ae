/* check_s2s_sasl.c - s2s/s2s_sasl: SASL EXTERNAL on the receiving side
 * (certificate, stream 'from', authzid, base64, mechanism syntax), the
 * initiating side's initial response, and libsasl2 start-up and shut-down.
 * Every base64 literal below was computed with Python's base64 module, not
 * with the code under test; the decoded text is in the comment. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "s2s/s2s_sasl.h"
#include "tests/lib/testutil.h"

#define BUCHER "b\xc3\xbc" "cher.example"   /* U-label, prepared form */

struct srv_case {
	const char *name;
	const char *verified;
	const char *from;
	const char *payload;
	const char *domain;     /* expected on success, NULL for a failure */
	const char *cond;       /* expected condition on failure */
};

#define OK(n, v, f, p, d) {n, v, f, p, d, NULL}
#define NO(n, v, f, p, c) {n, v, f, p, NULL, c}

static const struct srv_case srv_cases[] = {
    /* Empty response: the authzid is the verified domain. */
    OK("equals", "example.com", "example.com", "=", "example.com"),
    OK("empty", "example.com", "example.com", "", "example.com"),
    OK("no from", "example.com", NULL, "=", "example.com"),
    /* Explicit authzid naming the verified domain. */
    OK("authzid", "example.com", "example.com", "ZXhhbXBsZS5jb20=",
       "example.com"),                                 /* example.com */
    OK("authzid case", "example.com", "example.com", "RVhBTVBMRS5DT00=",
       "example.com"),                                 /* EXAMPLE.COM */
    OK("authzid dot", "example.com", NULL, "ZXhhbXBsZS5jb20u",
       "example.com"),                                 /* example.com. */
    OK("from case", "example.com", "EXAMPLE.com", "=", "example.com"),
    OK("ip literal", "127.0.0.1", "127.0.0.1", "MTI3LjAuMC4x",
       "127.0.0.1"),                                   /* 127.0.0.1 */
    /* IDN: U-label, A-label and upper case all prepare alike. */
    OK("idn u-label", BUCHER, BUCHER, "YsO8Y2hlci5leGFtcGxl", BUCHER),
    OK("idn a-label", BUCHER, BUCHER, "eG4tLWJjaGVyLWt2YS5leGFtcGxl",
       BUCHER),                                /* xn--bcher-kva.example */
    OK("idn upper", BUCHER, NULL, "QsOcQ0hFUi5FeGFtcGxl",
       BUCHER),                                /* B\u00dcCHER.Example */
    OK("idn from a-label", BUCHER, "xn--bcher-kva.example", "=", BUCHER),
    OK("idn verified a-label", "xn--bcher-kva.example", BUCHER,
       "YsO8Y2hlci5leGFtcGxl", BUCHER),
    /* The authzid names another domain. */
    NO("authzid other", "example.com", "example.com", "ZXhhbXBsZS5vcmc=",
       "invalid-authzid"),                             /* example.org */
    NO("authzid subdomain", "example.com", "example.com",
       "Y29uZmVyZW5jZS5leGFtcGxlLmNvbQ==",
       "invalid-authzid"),                  /* conference.example.com */
    NO("authzid jid", "example.com", NULL, "dXNlckBleGFtcGxlLmNvbQ==",
       "invalid-authzid"),                        /* user@example.com */
    NO("authzid space", "example.com", NULL, "ZXhhIG1wbGUuY29t",
       "invalid-authzid"),                            /* exa mple.com */
    NO("authzid newline", "example.com", NULL, "ZXhhbXBsZS5jb20K",
       "invalid-authzid"),                         /* example.com\n */
    /* The certificate did not verify: nothing else counts. */
    NO("unverified", NULL, "example.com", "=", "not-authorized"),
    NO("unverified authzid", NULL, "example.com", "ZXhhbXBsZS5jb20=",
       "not-authorized"),
    NO("unverified empty", "", "example.com", "=", "not-authorized"),
    /* The stream 'from' is not the certificate's domain. */
    NO("from other", "example.com", "example.org", "=", "not-authorized"),
    NO("from other authzid", "example.com", "example.org",
       "ZXhhbXBsZS5vcmc=", "not-authorized"),          /* example.org */
    NO("from empty", "example.com", "", "=", "not-authorized"),
    NO("from bad", "example.com", "a b", "=", "not-authorized"),
    /* Not canonical base64. */
    NO("b64 alphabet", "example.com", NULL, "!!!!", "incorrect-encoding"),
    NO("b64 no pad", "example.com", NULL, "ZXhhbXBsZS5jb20",
       "incorrect-encoding"),
    NO("b64 newline", "example.com", NULL, "ZXhhbXBsZS5jb20=\n",
       "incorrect-encoding"),
    NO("b64 space", "example.com", NULL, "ZXhh bXBsZS5jb20=",
       "incorrect-encoding"),
    NO("b64 stray bits", "example.com", NULL, "ZXhhbXBsZS5jb21=",
       "incorrect-encoding"),
    NO("b64 stray bits 2", "example.com", NULL, "QR==",
       "incorrect-encoding"),
    NO("b64 pads", "example.com", NULL, "==", "incorrect-encoding"),
    NO("b64 four pads", "example.com", NULL, "====", "incorrect-encoding"),
    NO("b64 pad inside", "example.com", NULL, "Zg=a", "incorrect-encoding"),
    NO("b64 after pad", "example.com", NULL, "Zg==Zg==",
       "incorrect-encoding"),
    NO("b64 leading pad", "example.com", NULL, "=ZXh", "incorrect-encoding"),
    /* Decodes, but breaks the EXTERNAL syntax (UTF-8 without NUL). */
    NO("nul inside", "example.com", NULL, "ZXhhbXBsZS5jb20AeA==",
       "malformed-request"),                     /* example.com\0x */
    NO("nul only", "example.com", NULL, "AA==", "malformed-request"),
    NO("utf8 ff", "example.com", NULL, "/w==", "malformed-request"),
    NO("utf8 overlong", "example.com", NULL, "wK8=", "malformed-request"),
    NO("utf8 surrogate", "example.com", NULL, "7aCA", "malformed-request"),
    NO("utf8 truncated", "example.com", NULL, "ww==", "malformed-request"),
};

static void
sasl_setup(void)
{
	char why[256] = "";

	ck_assert_msg(s2s_sasl_init(why, sizeof(why)) == 0, "init: %s", why);
}

static void
sasl_teardown(void)
{
	s2s_sasl_done();
}

/* Run one attempt and check the result against DOMAIN / COND. */
static void
expect(const char *name, const char *verified, const char *from,
       const char *payload, const char *domain, const char *cond)
{
	char why[256] = "unset", *got = (char *)"unset";
	const char *gcond = "unset";
	int rc;

	rc = s2s_sasl_server_external(verified, from, payload, &got, &gcond,
	                              why, sizeof(why));
	if (domain != NULL) {
		ck_assert_msg(rc == 0, "%s: rc %d cond %s why %s", name, rc,
		              gcond != NULL ? gcond : "-", why);
		ck_assert_str_eq(got, domain);
		ck_assert_ptr_null(gcond);
	} else {
		ck_assert_msg(rc == S2SD_EAUTH, "%s: rc %d", name, rc);
		ck_assert_ptr_null(got);
		ck_assert_ptr_nonnull(gcond);
		ck_assert_msg(strcmp(gcond, cond) == 0, "%s: cond %s, want %s"
		              " (why: %s)", name, gcond, cond, why);
		ck_assert_msg(why[0] != '\0' && strcmp(why, "unset") != 0,
		              "%s: no reason", name);
	}
	free(got);
}

START_TEST(test_server)
{
	const struct srv_case *c = &srv_cases[_i];

	expect(c->name, c->verified, c->from, c->payload, c->domain, c->cond);
}
END_TEST

/* The reasons name the domains involved, prepared. */
START_TEST(test_reasons)
{
	char why[256], *dom = NULL;
	const char *cond = NULL;

	ck_assert_int_eq(s2s_sasl_server_external("example.com", NULL,
	                                          "ZXhhbXBsZS5vcmc=", &dom,
	                                          &cond, why, sizeof(why)),
	                 S2SD_EAUTH);
	ck_assert_ptr_nonnull(strstr(why, "example.org"));
	ck_assert_ptr_nonnull(strstr(why, "example.com"));
	ck_assert_int_eq(s2s_sasl_server_external("example.com", "EXAMPLE.org",
	                                          "=", &dom, &cond, why,
	                                          sizeof(why)),
	                 S2SD_EAUTH);
	ck_assert_ptr_nonnull(strstr(why, "from example.org"));
	/* A NULL or tiny WHY is allowed. */
	ck_assert_int_eq(s2s_sasl_server_external(NULL, NULL, "=", &dom,
	                                          &cond, NULL, 0),
	                 S2SD_EAUTH);
	ck_assert_int_eq(s2s_sasl_server_external("example.com", NULL,
	                                          "ZXhhbXBsZS5vcmc=", &dom,
	                                          &cond, why, 1),
	                 S2SD_EAUTH);
	ck_assert_str_eq(why, "");
	ck_assert_str_eq(cond, "invalid-authzid");
}
END_TEST

/* Lengths: a long authzid that is not a domain, and a response longer
 * than libsasl2's EXTERNAL accepts. */
START_TEST(test_long)
{
	struct util_buf b = {0};
	int i;

	for (i = 0; i < 700; i++)
		util_buf_puts(&b, "YWFh");          /* "aaa": 2100 bytes */
	expect("long label", "example.com", NULL, b.data, NULL,
	       "invalid-authzid");
	util_buf_reset(&b);
	for (i = 0; i < 5462; i++)
		util_buf_puts(&b, "YWFh");          /* 16386 bytes */
	expect("too long", "example.com", NULL, b.data, NULL,
	       "malformed-request");
	util_buf_free(&b);
}
END_TEST

struct cli_case {
	const char *local;
	const char *payload;
};

static const struct cli_case cli_cases[] = {
    {"example.com", "ZXhhbXBsZS5jb20="},
    {"a", "YQ=="},
    {"a.bc", "YS5iYw=="},
    {"ab.cd", "YWIuY2Q="},
    {"abc.de", "YWJjLmRl"},
    {"a.b.c.example.org", "YS5iLmMuZXhhbXBsZS5vcmc="},
    {BUCHER, "YsO8Y2hlci5leGFtcGxl"},
    {"[::1]", "Wzo6MV0="},
};

/* The initiating side's response is base64 of LOCAL, and the receiving
 * side accepts it for a certificate of that domain. */
START_TEST(test_client_roundtrip)
{
	const struct cli_case *c = &cli_cases[_i];
	char *p = s2s_sasl_client_external(c->local);

	ck_assert_str_eq(p, c->payload);
	expect(c->local, c->local, c->local, p, c->local, NULL);
	expect(c->local, c->local, NULL, p, c->local, NULL);
	expect(c->local, "other.example", NULL, p, NULL, "invalid-authzid");
	free(p);
}
END_TEST

/* Init and done are idempotent and may cycle; the syslog mask the module
 * sets around libsasl2's global calls is the caller's again afterwards. */
START_TEST(test_init_done)
{
	int mask = LOG_UPTO(LOG_INFO);
	char why[128];
	int i;

	setlogmask(mask);
	s2s_sasl_done();                 /* before init: a no-op */
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(s2s_sasl_init(why, sizeof(why)), 0);
		ck_assert_int_eq(s2s_sasl_init(why, sizeof(why)), 0);
		ck_assert_int_eq(setlogmask(0), mask);
		expect("cycle", "example.com", NULL, "ZXhhbXBsZS5jb20=",
		       "example.com", NULL);
		s2s_sasl_done();
		s2s_sasl_done();
		ck_assert_int_eq(setlogmask(0), mask);
	}
}
END_TEST

/* libsasl2 would read SASL_CONF_PATH/s2sd.conf and load plugins from
 * SASL_PATH if the module let it; a config file naming a canon_user plugin
 * that does not exist would make every attempt fail. */
START_TEST(test_no_files)
{
	char *dir = testutil_tempdir();
	char *conf = xasprintf("%s/s2sd.conf", dir);
	char why[128];

	testutil_write_file(conf, "canon_user_plugin: nonexistent\n"
	                    "mech_list: PLAIN\n", 0644);
	ck_assert_int_eq(setenv("SASL_CONF_PATH", dir, 1), 0);
	ck_assert_int_eq(setenv("SASL_PATH", dir, 1), 0);
	log_set_level(LOG_SUB_S2S, LOG_LEVEL_DEBUG);  /* log callback too */
	ck_assert_int_eq(s2s_sasl_init(why, sizeof(why)), 0);
	expect("no files", "example.com", NULL, "ZXhhbXBsZS5jb20=",
	       "example.com", NULL);
	expect("no files bad", "example.com", NULL, "ZXhhbXBsZS5vcmc=", NULL,
	       "invalid-authzid");
	s2s_sasl_done();
	log_set_level(LOG_SUB_S2S, LOG_LEVEL_INFO);
	free(conf);
	free(dir);
}
END_TEST

static Suite *
sasl_suite(void)
{
	Suite *s = suite_create("s2s_sasl");
	TCase *tc = tcase_create("server");

	tcase_add_checked_fixture(tc, sasl_setup, sasl_teardown);
	tcase_add_loop_test(tc, test_server, 0, UTIL_ARRAY_LEN(srv_cases));
	tcase_add_test(tc, test_reasons);
	tcase_add_test(tc, test_long);
	tcase_add_loop_test(tc, test_client_roundtrip, 0,
	                    UTIL_ARRAY_LEN(cli_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("lifecycle");
	tcase_add_test(tc, test_init_done);
	tcase_add_test(tc, test_no_files);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(sasl_suite());
}
