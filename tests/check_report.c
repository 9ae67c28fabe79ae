/* check_report.c - cm/report: the table, list and JSON forms. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cm/report.h"
#include "cm/util.h"
#include "tests/lib/testutil.h"

static char *
render(const struct report *r, enum report_format f)
{
	struct util_buf b = {0};

	report_render(r, f, &b);
	return b.data != NULL ? util_buf_steal(&b, NULL) : xstrdup("");
}

static struct report *
two_streams(void)
{
	struct report *r = report_new();

	report_record(r);
	report_str(r, "dir", "out");
	report_str(r, "remote", "example.org");
	report_num(r, "in", 12);
	report_record(r);
	report_str(r, "dir", "in");
	report_str(r, "remote", "b.test");
	report_num(r, "in", 3);
	report_bool(r, "bidi", true);   /* only on this record */
	return r;
}

START_TEST(test_table)
{
	struct report *r = two_streams();
	char *t = render(r, REPORT_TABLE);

	ck_assert_str_eq(t, "DIR  REMOTE       IN  BIDI\n"
	                    "out  example.org  12  -\n"
	                    "in   b.test       3   yes\n");
	free(t);
	report_free(r);
	r = report_new();
	t = render(r, REPORT_TABLE);
	ck_assert_str_eq(t, "");
	free(t);
	report_free(r);
}
END_TEST

START_TEST(test_list_and_lines)
{
	struct report *r = report_new();
	char *t;

	report_str(r, "domain", "example.org");
	report_strf(r, "result", "%s (%d)", "failed", 3);
	report_line(r, "dns: 1 record");
	report_line(r, "connect 127.0.0.1:5269 ok");
	t = render(r, REPORT_LIST);
	ck_assert_str_eq(t, "domain: example.org\n"
	                    "result: failed (3)\n"
	                    "  dns: 1 record\n"
	                    "  connect 127.0.0.1:5269 ok\n");
	free(t);
	t = render(r, REPORT_JSON_OBJECT);
	ck_assert_str_eq(t, "{\"domain\": \"example.org\", \"result\": "
	                    "\"failed (3)\", \"transcript\": [\"dns: 1 record\", "
	                    "\"connect 127.0.0.1:5269 ok\"]}\n");
	free(t);
	report_free(r);
}
END_TEST

START_TEST(test_json)
{
	struct report *r = two_streams();
	char *t = render(r, REPORT_JSON);

	ck_assert_str_eq(t, "[{\"dir\": \"out\", \"remote\": \"example.org\", "
	                    "\"in\": 12},\n {\"dir\": \"in\", \"remote\": "
	                    "\"b.test\", \"in\": 3, \"bidi\": true}]\n");
	free(t);
	report_free(r);
	r = report_new();
	t = render(r, REPORT_JSON);
	ck_assert_str_eq(t, "[]\n");
	free(t);
	t = render(r, REPORT_JSON_OBJECT);
	ck_assert_str_eq(t, "{}\n");
	free(t);
	report_free(r);
}
END_TEST

/* Hostile text (a peer's stream error text) stays valid JSON. */
START_TEST(test_json_escaping)
{
	struct util_buf b = {0};

	report_json_string(&b, "a\"b\\c\nd\x01\te\x7f\xc3\xa9");
	ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\u0001\\te\\u007f\xc3\xa9\"");
	util_buf_free(&b);
}
END_TEST

static Suite *
report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");

	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_list_and_lines);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_json_escaping);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(report_suite());
}
