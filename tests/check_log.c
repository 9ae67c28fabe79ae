/* check_log.c - cm/log: line format, levels per subsystem, file reopen. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/log.h"
#include "cm/util.h"
#include "tests/lib/testutil.h"

static int evaluated;

static const char *
side_effect(void)
{
	evaluated++;
	return "x";
}

START_TEST(test_line_format)
{
	char *dir = testutil_tempdir();
	char *path = xasprintf("%s/s2sd.log", dir);
	char *text;

	ck_assert_int_eq(log_open(LOG_DEST_FILE, path, "t"), 0);
	log_set_level(-1, LOG_LEVEL_INFO);
	log_info(LOG_SUB_S2S, 0x5f0c2a91d3e84b17ULL, "out connect domain=%s",
	         "example.net");
	log_warnx(LOG_SUB_DNS, 0, "lookup failed");
	log_close();
	text = testutil_read_file(path, NULL);
	/* 2026-11-22T15:40:01.123Z info  s2s    5f0c2a91d3e84b17 out connect ... */
	ck_assert_int_eq(text[4], '-');
	ck_assert_int_eq(text[10], 'T');
	ck_assert_int_eq(text[23], 'Z');
	ck_assert_ptr_nonnull(strstr(text, "Z info  s2s    5f0c2a91d3e84b17 "
	                                   "out connect domain=example.net\n"));
	ck_assert_ptr_nonnull(strstr(text, "Z warn  dns    - lookup failed\n"));
	free(text);
	free(path);
	free(dir);
}
END_TEST

START_TEST(test_levels_per_subsystem)
{
	char *dir = testutil_tempdir();
	char *path = xasprintf("%s/s2sd.log", dir);
	char *text;

	ck_assert_int_eq(log_open(LOG_DEST_FILE, path, "t"), 0);
	log_set_level(-1, LOG_LEVEL_WARN);
	log_set_level(LOG_SUB_S2S, LOG_LEVEL_TRACE);
	evaluated = 0;
	log_info(LOG_SUB_DNS, 0, "hidden %s", side_effect());
	ck_assert_int_eq(evaluated, 0);   /* not even formatted */
	log_trace(LOG_SUB_S2S, 0, "shown %s", side_effect());
	ck_assert_int_eq(evaluated, 1);
	log_error(LOG_SUB_DNS, 0, "error shown");
	log_close();
	text = testutil_read_file(path, NULL);
	ck_assert_ptr_null(strstr(text, "hidden"));
	ck_assert_ptr_nonnull(strstr(text, "trace s2s    - shown x"));
	ck_assert_ptr_nonnull(strstr(text, "error dns    - error shown"));
	free(text);
	free(path);
	free(dir);
}
END_TEST

START_TEST(test_reopen)
{
	char *dir = testutil_tempdir();
	char *path = xasprintf("%s/s2sd.log", dir);
	char *rotated = xasprintf("%s/s2sd.log.1", dir);
	char *a, *b;

	log_set_level(-1, LOG_LEVEL_INFO);
	ck_assert_int_eq(log_open(LOG_DEST_FILE, path, "t"), 0);
	log_info(LOG_SUB_CM, 0, "before");
	ck_assert_int_eq(rename(path, rotated), 0);
	ck_assert_int_eq(log_reopen(), 0);
	log_info(LOG_SUB_CM, 0, "after");
	log_close();
	a = testutil_read_file(rotated, NULL);
	b = testutil_read_file(path, NULL);
	ck_assert_ptr_nonnull(strstr(a, "before"));
	ck_assert_ptr_null(strstr(a, "after"));
	ck_assert_ptr_nonnull(strstr(b, "after"));
	free(a);
	free(b);
	free(rotated);
	free(path);
	free(dir);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_int_eq(log_level_parse("TRACE"), LOG_LEVEL_TRACE);
	ck_assert_int_eq(log_level_parse("warning"), LOG_LEVEL_WARN);
	ck_assert_int_eq(log_level_parse("loud"), -1);
	ck_assert_int_eq(log_sub_parse("router"), LOG_SUB_ROUTER);
	ck_assert_int_eq(log_sub_parse("nope"), -1);
	ck_assert_str_eq(log_level_name(LOG_LEVEL_DEBUG), "debug");
	ck_assert_int_lt(log_open(LOG_DEST_FILE, "/nonexistent/dir/x.log", "t"),
	                 0);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_line_format);
	tcase_add_test(tc, test_levels_per_subsystem);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(log_suite());
}
