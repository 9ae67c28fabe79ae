/* bench_policy.c - policy lookups per second and parse (reload) time with
 * 100,000 rules; the parse is synchronous, so its time is the longest stall
 * of the event loop that a reload causes. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cm/util.h"
#include "policy/policy.h"

#define RULES 100000
#define LOOKUPS 2000000

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(void)
{
	struct util_buf text = {0}, errors = {0};
	struct policy *p = NULL;
	char dom[128];
	double t0, parse_s, lookup_s;
	unsigned seed = 1;
	long allowed = 0;
	int i;

	util_buf_puts(&text, "default deny\n");
	for (i = 0; i < RULES; i++)
		util_buf_printf(&text, "%s %sd%d.load%d.test %s\n",
		                i % 3 ? "allow" : "deny", i % 2 ? "*." : "", i,
		                i % 97, i % 5 == 0 ? "in" : "both");
	t0 = now_s();
	if (policy_parse("bench", text.data, &p, &errors) != 0) {
		fprintf(stderr, "%s", errors.data);
		return 1;
	}
	parse_s = now_s() - t0;
	t0 = now_s();
	for (i = 0; i < LOOKUPS; i++) {
		int r = rand_r(&seed) % (RULES * 2);
		/* Half hit a rule (often via a wildcard), half miss. */
		snprintf(dom, sizeof(dom), "x.y.d%d.load%d.test", r, r % 97);
		allowed += policy_allows(p, dom, i % 2 ? POLICY_IN : POLICY_OUT);
	}
	lookup_s = now_s() - t0;
	printf("policy rules                 %d\n", RULES);
	printf("policy parse (reload stall)  %.1f ms\n", parse_s * 1000);
	printf("policy lookups per second    %.0f  (%d lookups, %ld allowed)\n",
	       LOOKUPS / lookup_s, LOOKUPS, allowed);
	policy_unref(p);
	util_buf_free(&text);
	return 0;
}
