/* check_htab.c - cm/htab against a plain array model, with churn. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/htab.h"
#include "cm/util.h"
#include "tests/lib/testutil.h"

START_TEST(test_basic)
{
	struct htab *t = htab_new(0);
	int a = 1, b = 2;

	ck_assert_ptr_null(htab_get(t, "x"));
	ck_assert_ptr_null(htab_put(t, "x", &a));
	ck_assert_ptr_eq(htab_put(t, "x", &b), &a);   /* replace */
	ck_assert_ptr_eq(htab_get(t, "x"), &b);
	ck_assert_ptr_eq(htab_getn(t, "xyz", 1), &b);
	ck_assert_uint_eq(htab_count(t), 1);
	ck_assert_ptr_eq(htab_del(t, "x"), &b);
	ck_assert_ptr_null(htab_del(t, "x"));
	ck_assert_ptr_null(htab_get(t, "x"));
	ck_assert_uint_eq(htab_count(t), 0);
	htab_put(t, "", &a);                           /* empty key is a key */
	ck_assert_ptr_eq(htab_get(t, ""), &a);
	htab_free(t, NULL);
}
END_TEST

#define MODEL_KEYS 5000

static void
count_cb(void *arg, const char *key, void *value)
{
	(void)key;
	(void)value;
	(*(size_t *)arg)++;
}

/* Random puts and deletes over a small key space (so tombstones pile up),
 * checked against an array indexed by key number. */
START_TEST(test_against_model)
{
	static intptr_t model[MODEL_KEYS];
	struct htab *t = htab_new(4);
	char key[32];
	size_t live = 0, seen = 0;
	unsigned seed = 12345;
	int i, k;

	memset(model, 0, sizeof(model));
	for (i = 0; i < 200000; i++) {
		k = rand_r(&seed) % MODEL_KEYS;
		snprintf(key, sizeof(key), "dom%d.example", k);
		if (rand_r(&seed) % 3 == 0) {
			ck_assert_ptr_eq(htab_del(t, key), (void *)model[k]);
			live -= model[k] != 0;
			model[k] = 0;
		} else {
			ck_assert_ptr_eq(htab_put(t, key, (void *)(intptr_t)(i + 1)),
			                 (void *)model[k]);
			live += model[k] == 0;
			model[k] = i + 1;
		}
	}
	for (k = 0; k < MODEL_KEYS; k++) {
		snprintf(key, sizeof(key), "dom%d.example", k);
		ck_assert_ptr_eq(htab_get(t, key), (void *)model[k]);
	}
	ck_assert_uint_eq(htab_count(t), live);
	htab_foreach(t, count_cb, &seen);
	ck_assert_uint_eq(seen, live);
	htab_free(t, NULL);
}
END_TEST

START_TEST(test_free_values)
{
	struct htab *t = htab_new(100);
	char key[16];
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		htab_put(t, key, xstrdup(key));
	}
	ck_assert_str_eq(htab_get(t, "k999"), "k999");
	htab_free(t, free);   /* ASan reports any leak */
}
END_TEST

static Suite *
htab_suite(void)
{
	Suite *s = suite_create("htab");
	TCase *tc = tcase_create("htab");

	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_against_model);
	tcase_add_test(tc, test_free_values);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(htab_suite());
}
