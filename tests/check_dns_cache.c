/* check_dns_cache.c - dns/dns_cache: TTL expiry on a fake clock, negative
 * entries, the size bound (least recently used goes first), name
 * normalisation. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "dns/dns_cache.h"

static const uint8_t ans1[] = {1, 2, 3, 4};
static const uint8_t ans2[] = {9, 8, 7};

START_TEST(test_ttl_expiry)
{
	struct dns_cache *c = dns_cache_new(8);
	struct dns_cache_hit hit;
	uint64_t now = 1000000;

	dns_cache_put(c, "a.example", 33, 0, ans1, sizeof(ans1), 300000, now);
	ck_assert(dns_cache_get(c, "a.example", 33, now + 299999, &hit));
	ck_assert_int_eq(hit.status, 0);
	ck_assert_uint_eq(hit.len, sizeof(ans1));
	ck_assert(memcmp(hit.ans, ans1, sizeof(ans1)) == 0);
	ck_assert_uint_eq(hit.age_ms, 299999);
	ck_assert_uint_eq(hit.ttl_left_ms, 1);
	ck_assert(!dns_cache_get(c, "a.example", 33, now + 300000, &hit));
	ck_assert_uint_eq(dns_cache_count(c), 0);  /* expired entry dropped */
	dns_cache_free(c);
}
END_TEST

START_TEST(test_key)
{
	struct dns_cache *c = dns_cache_new(8);
	struct dns_cache_hit hit;

	dns_cache_put(c, "Mixed.Example.", 1, 0, ans1, sizeof(ans1), 1000, 0);
	ck_assert(dns_cache_get(c, "mixed.example", 1, 10, &hit));
	ck_assert(dns_cache_get(c, "MIXED.EXAMPLE.", 1, 10, &hit));
	ck_assert(!dns_cache_get(c, "mixed.example", 28, 10, &hit));
	ck_assert(!dns_cache_get(c, "other.example", 1, 10, &hit));
	/* A newer answer replaces the old one. */
	dns_cache_put(c, "mixed.example", 1, 0, ans2, sizeof(ans2), 1000, 20);
	ck_assert_uint_eq(dns_cache_count(c), 1);
	ck_assert(dns_cache_get(c, "Mixed.example", 1, 30, &hit));
	ck_assert_uint_eq(hit.len, sizeof(ans2));
	ck_assert_uint_eq(hit.age_ms, 10);
	/* TTL 0 is not stored and removes what was there. */
	dns_cache_put(c, "mixed.example", 1, 0, ans1, sizeof(ans1), 0, 40);
	ck_assert(!dns_cache_get(c, "mixed.example", 1, 40, &hit));
	dns_cache_free(c);
}
END_TEST

START_TEST(test_negative)
{
	struct dns_cache *c = dns_cache_new(8);
	struct dns_cache_hit hit;

	dns_cache_put(c, "nx.example", 33, S2SD_EDNS_NXDOMAIN, NULL, 0, 60000,
	              0);
	dns_cache_put(c, "nd.example", 28, S2SD_EDNS_NODATA, ans1, sizeof(ans1),
	              5000, 0);
	ck_assert(dns_cache_get(c, "nx.example", 33, 59999, &hit));
	ck_assert_int_eq(hit.status, S2SD_EDNS_NXDOMAIN);
	ck_assert_ptr_null(hit.ans);
	ck_assert(dns_cache_get(c, "nd.example", 28, 4999, &hit));
	ck_assert_int_eq(hit.status, S2SD_EDNS_NODATA);
	ck_assert(!dns_cache_get(c, "nd.example", 28, 5000, &hit));
	ck_assert(!dns_cache_get(c, "nx.example", 33, 60000, &hit));
	dns_cache_free(c);
}
END_TEST

START_TEST(test_lru_bound)
{
	struct dns_cache *c = dns_cache_new(3);
	struct dns_cache_hit hit;
	char name[32];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "h%d.example", i);
		dns_cache_put(c, name, 1, 0, ans1, sizeof(ans1), 1000, i);
	}
	/* Use h0: h1 is now the least recently used and goes first. */
	ck_assert(dns_cache_get(c, "h0.example", 1, 5, &hit));
	dns_cache_put(c, "h3.example", 1, 0, ans1, sizeof(ans1), 1000, 6);
	ck_assert_uint_eq(dns_cache_count(c), 3);
	ck_assert(!dns_cache_get(c, "h1.example", 1, 7, &hit));
	ck_assert(dns_cache_get(c, "h0.example", 1, 7, &hit));
	ck_assert(dns_cache_get(c, "h2.example", 1, 7, &hit));
	ck_assert(dns_cache_get(c, "h3.example", 1, 7, &hit));
	/* Many more names: never above the bound. */
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "n%d.example", i);
		dns_cache_put(c, name, 1, 0, ans1, sizeof(ans1), 1000, 10);
		ck_assert_uint_le(dns_cache_count(c), 3);
	}
	ck_assert(dns_cache_get(c, "n999.example", 1, 11, &hit));
	ck_assert(!dns_cache_get(c, "n996.example", 1, 11, &hit));
	dns_cache_free(c);

	c = dns_cache_new(0);  /* a disabled cache stores nothing */
	dns_cache_put(c, "x.example", 1, 0, ans1, sizeof(ans1), 1000, 0);
	ck_assert(!dns_cache_get(c, "x.example", 1, 1, &hit));
	dns_cache_free(c);
	dns_cache_free(NULL);
}
END_TEST

static Suite *
dns_cache_suite(void)
{
	Suite *s = suite_create("dns_cache");
	TCase *tc = tcase_create("cache");

	tcase_add_test(tc, test_ttl_expiry);
	tcase_add_test(tc, test_key);
	tcase_add_test(tc, test_negative);
	tcase_add_test(tc, test_lru_bound);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dns_cache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
