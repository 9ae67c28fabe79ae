/* check_cluster_check.c - s2sctl check across the cluster, from the text
 * of "cluster summary": each mismatch a failed record naming the nodes and
 * the fix; and the policy digest the summaries carry (order, comments and
 * spacing do not matter, rules do). */
#include <check.h>
#include <string.h>

#include "cm/check.h"
#include "cm/report.h"
#include "cm/runtime_cluster.h"
#include "cm/util.h"
#include "tests/lib/testutil.h"

#define SAME " valid_certs=yes sasl_in=yes sasl_out=yes policy_default=deny " \
             "policy=abc"

struct cc_case {
	const char *summary;
	int failures;
	const char *needle;     /* in the rendered report */
};

static const struct cc_case cc_cases[] = {
    {"node=a self=yes link=up federation=yes security=required" SAME
     " dialback=set\n"
     "node=b self=no link=up federation=no security=required" SAME
     " dialback=same\n", 0, "cluster security"},
    {"node=a self=yes link=up federation=yes security=required" SAME
     " dialback=set\n"
     "node=b self=no link=up federation=no security=optional" SAME
     " dialback=same\n", 1, "a: required; b: optional"},
    {"node=a self=yes link=up federation=yes security=required" SAME
     " dialback=set\n"
     "node=b self=no link=up federation=no security=optional" SAME
     " dialback=same\n", 1, "federation.security the same on every node "
     "(a, b)"},
    {"node=a self=yes link=up federation=no security=required" SAME
     " dialback=none\n"
     "node=b self=no link=up federation=no security=required" SAME
     " dialback=none\n", 1, "federation is off on every node"},
    {"node=a self=yes link=up federation=yes security=required" SAME
     " dialback=set\n"
     "node=b self=no link=up federation=yes security=required" SAME
     " dialback=different\n"
     "node=c self=no link=up federation=yes security=required" SAME
     " dialback=none\n", 1, "same content on every node (a, b, c)"},
    {"node=a self=yes link=up federation=yes security=required "
     "valid_certs=yes sasl_in=yes sasl_out=yes policy_default=deny "
     "policy=abc dialback=none\n"
     "node=b self=no link=up federation=yes security=required "
     "valid_certs=no sasl_in=no sasl_out=yes policy_default=allow "
     "policy=abd dialback=none\n", 4, "cluster policy rules"},
    {"node=a self=yes link=up federation=yes security=required" SAME
     " dialback=none\nnode=b self=no link=waiting\n", 0, "b: waiting"},
    {"garbage", 1, "unreadable"},
};

START_TEST(test_cluster_text)
{
	const struct cc_case *k = &cc_cases[_i];
	struct report *r = report_new();
	struct util_buf out = {0};

	ck_assert_int_eq(check_cluster_text(k->summary, r), k->failures);
	report_render(r, REPORT_TABLE, &out);
	ck_assert_msg(strstr(out.data, k->needle) != NULL, "%s", out.data);
	util_buf_free(&out);
	report_free(r);
}
END_TEST

START_TEST(test_policy_digest)
{
	char d1[16], d2[16], d3[16], h1[65], h2[65], h3[65];

	runtime_cluster_policy_digest("default deny\nallow a.example\n"
	                              "deny b.example in  # no\n", d1,
	                              sizeof(d1), h1);
	runtime_cluster_policy_digest("# comment\n  deny   B.example in\n"
	                              "allow a.example\n\ndefault deny", d2,
	                              sizeof(d2), h2);
	runtime_cluster_policy_digest("default allow\nallow a.example\n", d3,
	                              sizeof(d3), h3);
	ck_assert_str_eq(d1, "deny");
	ck_assert_str_eq(d3, "allow");
	ck_assert_str_eq(h1, h2);
	ck_assert_str_ne(h1, h3);
	ck_assert_uint_eq(strlen(h1), 64);
}
END_TEST

static Suite *
cluster_check_suite(void)
{
	Suite *s = suite_create("cluster_check");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_cluster_text, 0, UTIL_ARRAY_LEN(cc_cases));
	tcase_add_test(tc, test_policy_digest);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(cluster_check_suite());
}
