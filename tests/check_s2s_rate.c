/* check_s2s_rate.c - s2s/s2s_rate: token buckets per remote domain on a
 * fake clock: burst, pause and its length, debt, persistent excess closed
 * after the grace period, recovery, domains apart, rates off, sweeping. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>

#include "cm/util.h"
#include "s2s/s2s_rate.h"

static struct s2s_rate *
mk(uint64_t stanzas, uint64_t bytes, uint64_t burst_ms, uint64_t grace_ms)
{
	struct s2s_rate_opts o = {stanzas, bytes, burst_ms, grace_ms};

	return s2s_rate_new(&o);
}

static enum s2s_rate_verdict
charge(struct s2s_rate *r, const char *d, size_t bytes, uint64_t now,
       uint64_t *wait)
{
	return s2s_rate_charge(r, d, bytes, now, wait);
}

START_TEST(test_burst_then_pause)
{
	struct s2s_rate *r = mk(10, 0, 1000, 30000);
	uint64_t wait;
	int i;

	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(charge(r, "a.test", 100, 1000, &wait),
		                 S2S_RATE_OK);
		ck_assert_uint_eq(wait, 0);
	}
	/* The 11th is one stanza of debt: 100 ms at 10 per second. */
	ck_assert_int_eq(charge(r, "a.test", 100, 1000, &wait),
	                 S2S_RATE_PAUSE);
	ck_assert_uint_eq(wait, 100);
	/* Debt adds up: the caller could not stop the rest of a read. */
	ck_assert_int_eq(charge(r, "a.test", 100, 1000, &wait),
	                 S2S_RATE_PAUSE);
	ck_assert_uint_eq(wait, 200);
	/* After the pause, the bucket is out of debt but empty. */
	ck_assert_int_eq(charge(r, "a.test", 100, 1200, &wait),
	                 S2S_RATE_PAUSE);
	ck_assert_uint_eq(wait, 100);
	s2s_rate_free(r);
}
END_TEST

START_TEST(test_bytes)
{
	struct s2s_rate *r = mk(0, 1000, 1000, 30000);
	uint64_t wait;

	ck_assert_int_eq(charge(r, "a.test", 600, 0, &wait), S2S_RATE_OK);
	ck_assert_int_eq(charge(r, "a.test", 900, 0, &wait), S2S_RATE_PAUSE);
	ck_assert_uint_eq(wait, 500);
	ck_assert_int_eq(charge(r, "a.test", 1, 500, &wait), S2S_RATE_PAUSE);
	ck_assert_uint_eq(wait, 1);
	s2s_rate_free(r);
}
END_TEST

/* A peer that sends as fast as the pauses let it stays over: closed once
 * the grace period has passed, not before. */
START_TEST(test_persistent_closed)
{
	struct s2s_rate *r = mk(10, 0, 1000, 5000);
	uint64_t now = 0, wait = 0, first = UINT64_MAX;
	enum s2s_rate_verdict v = S2S_RATE_OK;
	int n;

	for (n = 0; n < 1000 && v != S2S_RATE_CLOSE; n++) {
		v = charge(r, "a.test", 10, now, &wait);
		if (v == S2S_RATE_PAUSE && first == UINT64_MAX)
			first = now;
		now += v == S2S_RATE_PAUSE ? wait : 0;
	}
	ck_assert_int_eq(v, S2S_RATE_CLOSE);
	ck_assert_uint_eq(first, 0);
	ck_assert_uint_ge(now - first, 5000);
	ck_assert_uint_lt(now - first, 5200);
	s2s_rate_free(r);
}
END_TEST

/* A burst, then well under the rate: no longer over, and a later burst
 * starts a new grace period. */
START_TEST(test_recovers)
{
	struct s2s_rate *r = mk(10, 0, 1000, 2000);
	uint64_t wait;
	int i;

	for (i = 0; i < 11; i++)
		charge(r, "a.test", 1, 0, &wait);
	ck_assert_uint_eq(wait, 100);
	/* Two stanzas a second for 3 s: the bucket refills past half. */
	for (i = 1; i <= 6; i++)
		ck_assert_int_eq(charge(r, "a.test", 1, (uint64_t)i * 500,
		                        &wait), S2S_RATE_OK);
	for (i = 0; i < 20; i++)
		ck_assert_int_ne(charge(r, "a.test", 1, 3000, &wait),
		                 S2S_RATE_CLOSE);
	ck_assert_int_eq(charge(r, "a.test", 1, 3000, &wait), S2S_RATE_PAUSE);
	s2s_rate_free(r);
}
END_TEST

START_TEST(test_domains_apart)
{
	struct s2s_rate *r = mk(2, 0, 1000, 30000);
	uint64_t wait;

	charge(r, "a.test", 1, 0, &wait);
	charge(r, "a.test", 1, 0, &wait);
	ck_assert_int_eq(charge(r, "a.test", 1, 0, &wait), S2S_RATE_PAUSE);
	ck_assert_int_eq(charge(r, "b.test", 1, 0, &wait), S2S_RATE_OK);
	ck_assert_int_eq(charge(r, "b.test", 1, 0, &wait), S2S_RATE_OK);
	ck_assert_uint_eq(s2s_rate_count(r), 2);
	s2s_rate_free(r);
}
END_TEST

START_TEST(test_off)
{
	struct s2s_rate *r = mk(0, 0, 1000, 1000);
	uint64_t wait;
	int i;

	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(charge(r, "a.test", 65536, 0, &wait),
		                 S2S_RATE_OK);
	ck_assert_uint_eq(s2s_rate_count(r), 0);
	s2s_rate_free(r);
}
END_TEST

/* Domains whose buckets are full again are forgotten; busy ones stay. */
START_TEST(test_sweep)
{
	struct s2s_rate *r = mk(10, 10000, 1000, 30000);
	char d[32];
	uint64_t wait;
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(d, sizeof(d), "d%d.test", i);
		charge(r, d, 100, (uint64_t)i, &wait);
	}
	/* Swept while growing: far fewer than 1000 are kept. */
	ck_assert_uint_lt(s2s_rate_count(r), 1000);
	charge(r, "busy.test", 100, 5000, &wait);
	s2s_rate_sweep(r, 5000);
	ck_assert_uint_eq(s2s_rate_count(r), 1);
	s2s_rate_sweep(r, 6000);
	ck_assert_uint_eq(s2s_rate_count(r), 0);
	s2s_rate_free(r);
}
END_TEST

/* Huge time steps and rates neither overflow nor overfill. */
START_TEST(test_extremes)
{
	struct s2s_rate *r = mk(10000000, 1024ULL * 1024 * 1024, 3600000,
	                        3600000);
	uint64_t wait;

	ck_assert_int_eq(charge(r, "a.test", 64 << 20, 0, &wait),
	                 S2S_RATE_OK);
	ck_assert_int_eq(charge(r, "a.test", 1, UINT64_MAX / 2, &wait),
	                 S2S_RATE_OK);
	s2s_rate_free(r);
	r = mk(1, 1, 1000, 1000);
	ck_assert_int_eq(charge(r, "a.test", 64 << 20, 0, &wait),
	                 S2S_RATE_PAUSE);
	ck_assert_uint_eq(wait, (64ULL << 20) * 1000 - 1000);
	s2s_rate_free(r);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("s2s_rate");
	TCase *tc = tcase_create("rate");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_burst_then_pause);
	tcase_add_test(tc, test_bytes);
	tcase_add_test(tc, test_persistent_closed);
	tcase_add_test(tc, test_recovers);
	tcase_add_test(tc, test_domains_apart);
	tcase_add_test(tc, test_off);
	tcase_add_test(tc, test_sweep);
	tcase_add_test(tc, test_extremes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
