/* check_policy.c - the federation policy: matcher table, parse errors,
 * overrides, and a randomised comparison with a naive evaluator. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "policy/policy.h"
#include "tests/lib/testutil.h"

static const char spec_policy[] =
    "# the example of SPEC section 3\n"
    "default deny\n"
    "allow example.com                # both directions\n"
    "allow *.partner.org   in\n"
    "deny  spam.partner.org\n"
    "allow news.example.net out\n"
    "allow *.Deep.Example.ORG. both\n"
    "deny  *.x.deep.example.org out\n"
    "allow Bücher.example\n";

struct match_case {
	const char *domain;
	enum policy_dir dir;
	bool allow;
	int line;               /* 0 = the default (line 2) */
};

static const struct match_case match_cases[] = {
    {"example.com", POLICY_IN, true, 3},
    {"example.com", POLICY_OUT, true, 3},
    {"sub.example.com", POLICY_IN, false, 0},    /* exact only */
    {"partner.org", POLICY_IN, true, 4},         /* wildcard covers apex */
    {"a.partner.org", POLICY_IN, true, 4},
    {"a.b.partner.org", POLICY_IN, true, 4},
    {"a.partner.org", POLICY_OUT, false, 0},     /* in only */
    {"spam.partner.org", POLICY_IN, false, 5},   /* exact beats wildcard */
    {"spam.partner.org", POLICY_OUT, false, 5},
    {"x.spam.partner.org", POLICY_IN, true, 4},  /* exact is exact only */
    {"news.example.net", POLICY_OUT, true, 6},
    {"news.example.net", POLICY_IN, false, 0},
    {"other.org", POLICY_OUT, false, 0},
    {"deep.example.org", POLICY_OUT, true, 7},
    {"y.x.deep.example.org", POLICY_OUT, false, 8}, /* longer suffix wins */
    {"y.x.deep.example.org", POLICY_IN, true, 7},   /* ... per direction */
    {"x.deep.example.org", POLICY_OUT, false, 8},
    {"bücher.example", POLICY_OUT, true, 9},
    {"xpartner.org", POLICY_IN, false, 0},       /* label boundary */
};

START_TEST(test_match_table)
{
	const struct match_case *c = &match_cases[_i];
	struct util_buf errors = {0};
	struct policy_decision d;
	struct policy *p = NULL;

	ck_assert_msg(policy_parse("policy", spec_policy, &p, &errors) == 0,
	              "%s", errors.data);
	policy_check(p, c->domain, c->dir, &d);
	ck_assert_msg(d.allow == c->allow, "%s %s", c->domain,
	              policy_dir_name(c->dir));
	ck_assert_int_eq(d.line, c->line == 0 ? 2 : c->line);
	ck_assert_str_eq(d.file, "policy");
	if (c->line == 0)
		ck_assert_str_eq(d.rule, "default deny");
	ck_assert(policy_allows(p, c->domain, c->dir) == c->allow);
	policy_unref(p);
}
END_TEST

START_TEST(test_rule_text)
{
	struct policy_decision d;
	struct policy *p = NULL;
	struct util_buf errors = {0};

	ck_assert_int_eq(policy_parse("p", spec_policy, &p, &errors), 0);
	policy_check(p, "a.partner.org", POLICY_IN, &d);
	ck_assert_str_eq(d.rule, "allow *.partner.org in");
	policy_check(p, "deep.example.org", POLICY_IN, &d);
	ck_assert_str_eq(d.rule, "allow *.deep.example.org both");
	ck_assert_uint_eq(policy_rule_count(p), 7);
	policy_unref(p);
}
END_TEST

struct error_case {
	const char *text;
	const char *errors;
};

static const struct error_case error_cases[] = {
    {"allow a.example\n", "p: no 'default allow' or 'default deny' line\n"},
    {"default deny\ndefault allow\n",
     "p:2: default already set on line 1\n"},
    {"default maybe\n", "p:1: expected 'default allow' or 'default deny'\n"},
    {"default deny\nalow a.example\n",
     "p:2: unknown keyword 'alow' (expected default, allow or deny)\n"},
    {"default deny\nallow\n", "p:2: 'allow' needs a domain pattern\n"},
    {"default deny\nallow a.example inbound\n",
     "p:2: unknown direction 'inbound' (in, out or both)\n"},
    {"default deny\nallow *a.example\n",
     "p:2: bad pattern '*a.example': '*' is only allowed as the whole "
     "left-most label ('*.example.com')\n"},
    {"default deny\nallow a.*.example\n",
     "p:2: bad pattern 'a.*.example': '*' is only allowed as the whole "
     "left-most label ('*.example.com')\n"},
    {"default deny\nallow a..example\n",
     "p:2: bad pattern 'a..example': domain contains an empty label\n"},
    {"default deny\nallow a.example\ndeny A.Example. in\n",
     "p:3: 'deny a.example in' conflicts with line 2 for direction in\n"},
    {"default deny\nallow *.a.example out\ndeny *.a.example\n",
     "p:3: 'deny *.a.example both' conflicts with line 2 for direction "
     "out\n"},
    {"default deny\nallow a.example in security=strict\n",
     "p:2: bad value in 'security=strict' (security=none|optional|"
     "required)\n"},
    {"default deny\nallow a.example in tls=yes\n",
     "p:2: unknown override 'tls' (security, certs or dialback)\n"},
    {"default deny\nallow a.example in certs=valid\n"
     "deny a.example out dialback=no\n",
     "p:3: overrides for this pattern are already set on line 2\n"},
    {"bogus\ndefault deny\nallow x y z\n",
     "p:1: unknown keyword 'bogus' (expected default, allow or deny)\n"
     "p:3: unknown direction 'y' (in, out or both)\n"},
};

START_TEST(test_parse_errors)
{
	const struct error_case *c = &error_cases[_i];
	struct util_buf errors = {0};
	struct policy *p = NULL;

	ck_assert_int_eq(policy_parse("p", c->text, &p, &errors),
	                 S2SD_ECONFIG);
	ck_assert_ptr_null(p);
	ck_assert_str_eq(errors.data, c->errors);
	util_buf_free(&errors);
}
END_TEST

START_TEST(test_security_overrides)
{
	const char *text = "default allow\n"
	                   "allow *.corp.example both security=required "
	                   "certs=valid\n"
	                   "allow old.corp.example dialback=yes certs=any\n"
	                   "deny bad.example\n";
	struct util_buf errors = {0};
	struct policy_security s;
	struct policy *p = NULL;

	ck_assert_int_eq(policy_parse("p", text, &p, &errors), 0);
	policy_security(p, "a.corp.example", &s);
	ck_assert_int_eq(s.security, 2);
	ck_assert_int_eq(s.certs_valid, 1);
	ck_assert_int_eq(s.dialback, -1);
	ck_assert_int_eq(s.line, 2);
	policy_security(p, "old.corp.example", &s);
	ck_assert_int_eq(s.security, -1);    /* the exact rule's set only */
	ck_assert_int_eq(s.certs_valid, 0);
	ck_assert_int_eq(s.dialback, 1);
	policy_security(p, "bad.example", &s);
	ck_assert_int_eq(s.security, -1);
	ck_assert_ptr_null(s.file);
	ck_assert_ptr_eq(policy_ref(p), p);
	policy_unref(p);
	policy_unref(p);
}
END_TEST

/* The naive reference: look at every rule, keep the most specific match. */
struct naive_rule {
	char pattern[64];
	bool wildcard, allow;
	unsigned dirs;
	int line;
};

static int
naive_labels(const char *d)
{
	int n = 1;

	for (; *d != '\0'; d++)
		n += *d == '.';
	return n;
}

static int
naive_eval(const struct naive_rule *r, int n, bool deflt, const char *domain,
           int dir, int *line)
{
	int i, best = -1, spec, dl = (int)strlen(domain), pl;
	bool allow = deflt;

	*line = 1;
	for (i = 0; i < n; i++) {
		if (!(r[i].dirs & (1u << dir)))
			continue;
		pl = (int)strlen(r[i].pattern);
		if (!r[i].wildcard && strcmp(domain, r[i].pattern) == 0)
			spec = 2 * naive_labels(r[i].pattern) + 1;
		else if (r[i].wildcard &&
		         (strcmp(domain, r[i].pattern) == 0 ||
		          (dl > pl && domain[dl - pl - 1] == '.' &&
		           strcmp(domain + dl - pl, r[i].pattern) == 0)))
			spec = 2 * naive_labels(r[i].pattern);
		else
			continue;
		if (spec > best) {
			best = spec;
			allow = r[i].allow;
			*line = r[i].line;
		}
	}
	return allow;
}

static void
random_domain(unsigned *seed, char *out, size_t len)
{
	static const char *const labels[] = {"a", "b", "c", "dd"};
	int depth = 1 + rand_r(seed) % 4, i;

	out[0] = '\0';
	for (i = 0; i < depth; i++) {
		strncat(out, labels[rand_r(seed) % 4], len - strlen(out) - 1);
		if (i + 1 < depth)
			strncat(out, ".", len - strlen(out) - 1);
	}
}

#define RANDOM_POLICIES 400
#define QUERIES_PER_POLICY 50   /* 400 * 50 = 20,000 cases */

START_TEST(test_random_against_naive)
{
	unsigned seed = 20261122;
	struct naive_rule rules[24];
	struct util_buf text = {0}, errors = {0};
	struct policy_decision d;
	struct policy *p;
	char dom[64];
	int k, n, i, q, dir, line;
	bool deflt, used;
	long checked = 0;

	for (k = 0; k < RANDOM_POLICIES; k++) {
		deflt = rand_r(&seed) % 2;
		util_buf_reset(&text);
		util_buf_printf(&text, "default %s\n", deflt ? "allow" : "deny");
		for (n = 0, i = 0; i < 24; i++) {
			struct naive_rule r = {.wildcard = rand_r(&seed) % 2,
			                       .allow = rand_r(&seed) % 2,
			                       .dirs = 1 + rand_r(&seed) % 3};
			random_domain(&seed, r.pattern, sizeof(r.pattern));
			used = false;
			for (q = 0; q < n; q++)
				used |= strcmp(rules[q].pattern, r.pattern) == 0 &&
				        rules[q].wildcard == r.wildcard &&
				        (rules[q].dirs & r.dirs) != 0;
			if (used)
				continue;   /* the parser rejects conflicts */
			r.line = n + 2;
			rules[n++] = r;
			util_buf_printf(&text, "%s %s%s %s\n",
			                r.allow ? "allow" : "deny",
			                r.wildcard ? "*." : "", r.pattern,
			                r.dirs == 1 ? "in" : r.dirs == 2 ? "out"
			                                                 : "both");
		}
		p = NULL;
		ck_assert_msg(policy_parse("r", text.data, &p, &errors) == 0,
		              "%s\n%s", text.data, errors.data);
		for (q = 0; q < QUERIES_PER_POLICY; q++, checked++) {
			random_domain(&seed, dom, sizeof(dom));
			dir = rand_r(&seed) % 2;
			policy_check(p, dom, dir, &d);
			ck_assert_msg(d.allow == naive_eval(rules, n, deflt, dom,
			                                    dir, &line) &&
			                  d.line == line,
			              "%s %s: got %d line %d, naive line %d\n%s",
			              dom, dir ? "out" : "in", d.allow, d.line,
			              line, text.data);
		}
		policy_unref(p);
	}
	ck_assert_int_eq(checked, 20000);
	util_buf_free(&text);
	util_buf_free(&errors);
}
END_TEST

START_TEST(test_load_file)
{
	char *path = testutil_src_path("etc/policy");
	struct util_buf errors = {0};
	struct policy *p = NULL;

	ck_assert_msg(policy_load(path, &p, &errors) == 0, "%s", errors.data);
	ck_assert(policy_allows(p, "anything.example", POLICY_OUT));
	policy_unref(p);
	p = NULL;
	ck_assert_int_eq(policy_load("/nonexistent/policy", &p, &errors),
	                 S2SD_ECONFIG);
	ck_assert_ptr_nonnull(strstr(errors.data, "cannot open"));
	util_buf_free(&errors);
	free(path);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");

	tcase_add_loop_test(tc, test_match_table, 0,
	                    UTIL_ARRAY_LEN(match_cases));
	tcase_add_test(tc, test_rule_text);
	tcase_add_loop_test(tc, test_parse_errors, 0,
	                    UTIL_ARRAY_LEN(error_cases));
	tcase_add_test(tc, test_security_overrides);
	tcase_add_test(tc, test_random_against_naive);
	tcase_add_test(tc, test_load_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(policy_suite());
}
