/* check_fake_dns.c - tests/fake/fake_dns, the resolver the layers above
 * DNS test with: answers from expectations, the dns.h callback rules, and
 * the detection of unexpected and unused lookups. Linked with the fake
 * (tests/fake_dns.mk) instead of the real dns.o. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cm/err.h"
#include "tests/fake/fake_dns.h"

struct got {
	int calls, status;
	struct dns_cand_list *l;
};

static void
on_resolved(int status, struct dns_cand_list *l, void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->status = status;
	g->l = l;
}

static struct dns_resolver *
open_fake(uv_loop_t *loop)
{
	struct dns_resolver_opts o;
	struct dns_resolver *res;
	char why[64];

	memset(&o, 0, sizeof(o));
	/* The real resolver rejects this server list; the fake ignores it,
	 * which shows the fake is the one linked. */
	o.servers = "not-an-ip";
	uv_loop_init(loop);
	ck_assert_int_eq(dns_resolver_new(loop, &o, &res, why, sizeof(why)), 0);
	return res;
}

static void
close_fake(uv_loop_t *loop, struct dns_resolver *res)
{
	dns_resolver_close(res, NULL, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(loop), 0);
}

START_TEST(test_answers)
{
	uv_loop_t loop;
	struct dns_resolver *res = open_fake(&loop);
	const struct dns_cand *c;
	struct got g1 = {0}, g2 = {0};
	char addr[64];

	fake_dns_expect_text("example.net", "tls.example.net:5223/tls=127.0.0.2 "
	                                    "xmpp.example.net:5269=::1,127.0.0.3 "
	                                    "gone.example.net:5269=");
	fake_dns_expect("slow.example", S2SD_EDNS_TIMEOUT, NULL);
	ck_assert_int_eq(dns_resolve(res, "Example.NET", 1, on_resolved, &g1,
	                             NULL), 0);
	ck_assert_int_eq(dns_resolve(res, "slow.example", 1, on_resolved, &g2,
	                             NULL), 0);
	ck_assert_int_eq(g1.calls + g2.calls, 0);  /* only from the loop */
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(g1.calls, 1);
	ck_assert_int_eq(g1.status, 0);
	ck_assert_uint_eq(dns_cand_count(g1.l), 3);
	c = dns_cand_get(g1.l, 0);
	ck_assert_str_eq(c->host, "tls.example.net");
	ck_assert(c->direct_tls && c->via_srv);
	ck_assert_uint_eq(c->port, 5223);
	c = dns_cand_get(g1.l, 1);
	ck_assert_uint_eq(c->naddrs, 2);
	dns_cand_addr_str(&c->addrs[0], addr, sizeof(addr));
	ck_assert_str_eq(addr, "[::1]:5269");
	ck_assert_int_eq(dns_cand_get(g1.l, 2)->err, S2SD_EDNS_NXDOMAIN);
	ck_assert_int_eq(g2.status, S2SD_EDNS_TIMEOUT);
	ck_assert_ptr_null(g2.l);
	ck_assert_uint_eq(fake_dns_lookups(), 2);
	dns_cand_free(g1.l);
	fake_dns_verify();
	close_fake(&loop, res);
}
END_TEST

START_TEST(test_problems)
{
	uv_loop_t loop;
	struct dns_resolver *res = open_fake(&loop);
	struct got g = {0};
	char why[256];

	fake_dns_strict(false);
	fake_dns_expect_text("wanted.example", "x.wanted.example:5269=127.0.0.1");
	ck_assert_int_eq(dns_resolve(res, "stray.example", 0, on_resolved, &g,
	                             NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(g.status, S2SD_EDNS_NXDOMAIN);
	ck_assert_uint_eq(fake_dns_problems(why, sizeof(why)), 2);
	ck_assert(strstr(why, "unexpected lookup of stray.example") != NULL);
	ck_assert(strstr(why, "expected lookup of wanted.example not made") !=
	          NULL);
	ck_assert_uint_eq(fake_dns_lookups(), 0);
	close_fake(&loop, res);
}
END_TEST

/* In strict mode (the default) an unexpected lookup fails the test. */
START_TEST(test_strict_fails)
{
	uv_loop_t loop;
	struct dns_resolver *res = open_fake(&loop);
	struct got g = {0};

	dns_resolve(res, "stray.example", 0, on_resolved, &g, NULL);
}
END_TEST

START_TEST(test_cancel_close)
{
	uv_loop_t loop;
	struct dns_resolver *res = open_fake(&loop);
	struct dns_lookup *lk;
	struct got g1 = {0}, g2 = {0};

	fake_dns_expect_text("a.example", "a.example:5269/fallback=127.0.0.1");
	fake_dns_expect_text("b.example", "b.example:5269/fallback=127.0.0.1");
	ck_assert_int_eq(dns_resolve(res, "a.example", 0, on_resolved, &g1,
	                             &lk), 0);
	dns_lookup_cancel(lk);
	ck_assert_int_eq(dns_resolve(res, "b.example", 0, on_resolved, &g2,
	                             NULL), 0);
	dns_resolver_close(res, NULL, NULL);
	ck_assert_int_eq(dns_resolve(res, "c.example", 0, on_resolved, &g2,
	                             NULL), S2SD_ESHUTDOWN);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(g1.calls, 1);
	ck_assert_int_eq(g1.status, UV_ECANCELED);
	ck_assert_ptr_null(g1.l);
	ck_assert_int_eq(g2.calls, 1);
	ck_assert_int_eq(g2.status, UV_ECANCELED);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	fake_dns_verify();
}
END_TEST

static Suite *
fake_dns_suite(void)
{
	Suite *s = suite_create("fake_dns");
	TCase *tc = tcase_create("fake");

	tcase_add_test(tc, test_answers);
	tcase_add_test(tc, test_problems);
	tcase_add_exit_test(tc, test_strict_fails, 1);
	tcase_add_test(tc, test_cancel_close);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fake_dns_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
