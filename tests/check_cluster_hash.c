/* check_cluster_hash.c - rendezvous hashing: deterministic, sticky while a
 * node is up, only the failed node's keys move, even spread. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cm/util.h"
#include "router/cluster_hash.h"
#include "tests/lib/testutil.h"

#define NKEYS 3000

static const char *const nodes3[] = {"node-a", "node-b", "node-c"};

static void
key_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, "remote%d.example", i);
}

START_TEST(test_empty_and_single)
{
	ck_assert_int_eq(cluster_hash_pick(nodes3, 0, "x.example"), -1);
	ck_assert_int_eq(cluster_hash_pick(nodes3, 1, "x.example"), 0);
}
END_TEST

START_TEST(test_deterministic_and_order_free)
{
	const char *rev[] = {"node-c", "node-b", "node-a"};
	char key[64];
	int i, a, b;

	for (i = 0; i < 200; i++) {
		key_name(key, sizeof(key), i);
		a = cluster_hash_pick(nodes3, 3, key);
		b = cluster_hash_pick(rev, 3, key);
		ck_assert_int_ge(a, 0);
		/* The same node whatever the order of the list. */
		ck_assert_str_eq(nodes3[a], rev[b]);
		ck_assert_int_eq(cluster_hash_pick(nodes3, 3, key), a);
	}
	ck_assert(cluster_hash_weight("ab", "c") !=
	          cluster_hash_weight("a", "bc"));
}
END_TEST

/* Every node gets a fair share: within 20% of an even third. */
START_TEST(test_spread)
{
	int count[3] = {0, 0, 0}, i;
	char key[64];

	for (i = 0; i < NKEYS; i++) {
		key_name(key, sizeof(key), i);
		count[cluster_hash_pick(nodes3, 3, key)]++;
	}
	for (i = 0; i < 3; i++) {
		ck_assert_int_gt(count[i], NKEYS / 3 * 8 / 10);
		ck_assert_int_lt(count[i], NKEYS / 3 * 12 / 10);
	}
}
END_TEST

/* Node _i fails: its keys spread over the other two, nothing else moves;
 * when it comes back, every key returns to where it was. */
START_TEST(test_failover_moves_only_lost_keys)
{
	const char *up[2];
	int moved[3] = {0, 0, 0}, i, j, before, after;
	char key[64];

	for (i = 0, j = 0; i < 3; i++)
		if (i != _i)
			up[j++] = nodes3[i];
	for (i = 0; i < NKEYS; i++) {
		key_name(key, sizeof(key), i);
		before = cluster_hash_pick(nodes3, 3, key);
		after = cluster_hash_pick(up, 2, key);
		if (before != _i) {
			ck_assert_str_eq(up[after], nodes3[before]);
			continue;
		}
		for (j = 0; j < 3; j++)
			if (strcmp(nodes3[j], up[after]) == 0)
				moved[j]++;
	}
	ck_assert_int_eq(moved[_i], 0);
	for (j = 0; j < 3; j++)
		if (j != _i)
			ck_assert_int_gt(moved[j], NKEYS / 3 / 4);
}
END_TEST

static Suite *
cluster_hash_suite(void)
{
	Suite *s = suite_create("cluster_hash");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_empty_and_single);
	tcase_add_test(tc, test_deterministic_and_order_free);
	tcase_add_test(tc, test_spread);
	tcase_add_loop_test(tc, test_failover_moves_only_lost_keys, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(cluster_hash_suite());
}
