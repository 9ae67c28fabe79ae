/* check_dns_cand.c - dns/dns_cand: building candidate lists, Happy Eyeballs
 * interleaving (RFC 8305 4), copies, address formatting. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "dns/dns_cand.h"

/* The addresses of candidate I as "a b c". */
static char *
addrs_str(const struct dns_cand_list *l, size_t i)
{
	const struct dns_cand *c = dns_cand_get(l, i);
	struct util_buf b = {0};
	char a[64];
	size_t k;

	util_buf_puts(&b, "");
	for (k = 0; k < c->naddrs; k++) {
		dns_cand_addr_str(&c->addrs[k], a, sizeof(a));
		util_buf_printf(&b, "%s%s", k ? " " : "", a);
	}
	return util_buf_steal(&b, NULL);
}

struct il_case {
	const char *in;   /* addresses in the order the lookups gave them */
	const char *out;
};

static const struct il_case il_cases[] = {
    {"127.0.0.1 127.0.0.2 ::1 ::2",
     "[::1]:5269 127.0.0.1:5269 [::2]:5269 127.0.0.2:5269"},
    {"::1 ::2 ::3 127.0.0.1",
     "[::1]:5269 127.0.0.1:5269 [::2]:5269 [::3]:5269"},
    {"127.0.0.1 127.0.0.2", "127.0.0.1:5269 127.0.0.2:5269"},
    {"::1", "[::1]:5269"},
    {"127.0.0.3 ::1 127.0.0.4 127.0.0.5",
     "[::1]:5269 127.0.0.3:5269 127.0.0.4:5269 127.0.0.5:5269"},
    {"", ""},
};

START_TEST(test_interleave)
{
	const struct il_case *c = &il_cases[_i];
	struct dns_cand_list *l = dns_cand_new("example.net");
	char *in = xstrdup(c->in), *tok, *save = NULL, *s;
	size_t i = dns_cand_add(l, "xmpp.example.net", 5269, false, true, 0,
	                        0, 60);

	for (tok = strtok_r(in, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save))
		ck_assert_int_eq(dns_cand_add_addr_str(l, i, tok), 0);
	dns_cand_interleave(l, i);
	s = addrs_str(l, i);
	ck_assert_str_eq(s, c->out);
	free(s);
	free(in);
	dns_cand_free(l);
}
END_TEST

START_TEST(test_build_copy)
{
	struct dns_cand_list *l = dns_cand_new("example.net"), *c;
	struct dns_srv_list *srv = dns_srv_new();
	const struct dns_srv_list *got;
	const struct dns_cand *p;
	size_t a, b;
	char *s;

	a = dns_cand_add(l, "tls.example.net", 5223, true, true, 5, 10, 600);
	b = dns_cand_add(l, "gone.example.net", 5269, false, true, 10, 0, 600);
	ck_assert_int_eq(dns_cand_add_addr_str(l, a, "127.0.0.7"), 0);
	ck_assert_int_eq(dns_cand_add_addr_str(l, a, "bogus"), -EINVAL);
	dns_cand_set_err(l, b, S2SD_EDNS_NXDOMAIN);
	dns_srv_add(srv, "tls.example.net", 5, 10, 5223, 600, true);
	dns_cand_set_srv(l, true, 0, srv);
	dns_cand_set_srv(l, false, S2SD_EDNS_NXDOMAIN, NULL);
	dns_srv_free(srv);

	c = dns_cand_copy(l);
	dns_cand_free(l);
	ck_assert_str_eq(dns_cand_domain(c), "example.net");
	ck_assert_uint_eq(dns_cand_count(c), 2);
	ck_assert_uint_eq(dns_cand_naddrs(c), 1);
	p = dns_cand_get(c, 0);
	ck_assert_str_eq(p->host, "tls.example.net");
	ck_assert(p->direct_tls && p->via_srv);
	ck_assert_uint_eq(p->port, 5223);
	ck_assert_uint_eq(p->prio, 5);
	ck_assert_uint_eq(p->weight, 10);
	s = addrs_str(c, 0);
	ck_assert_str_eq(s, "127.0.0.7:5223");  /* the candidate's port */
	free(s);
	p = dns_cand_get(c, 1);
	ck_assert_int_eq(p->err, S2SD_EDNS_NXDOMAIN);
	ck_assert_uint_eq(p->naddrs, 0);
	ck_assert_int_eq(dns_cand_srv(c, true, &got), 0);
	ck_assert_uint_eq(dns_srv_count(got), 1);
	ck_assert_int_eq(dns_cand_srv(c, false, &got), S2SD_EDNS_NXDOMAIN);
	ck_assert_ptr_null(got);
	dns_cand_free(c);
	dns_cand_free(NULL);
}
END_TEST

static Suite *
dns_cand_suite(void)
{
	Suite *s = suite_create("dns_cand");
	TCase *tc = tcase_create("cand");

	tcase_add_loop_test(tc, test_interleave, 0, UTIL_ARRAY_LEN(il_cases));
	tcase_add_test(tc, test_build_copy);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dns_cand_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
