/* fuzz_policy.c - libFuzzer target for the policy parser and matcher: any
 * text either parses or yields errors; a parsed policy answers lookups for
 * domains taken from the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm/util.h"
#include "policy/policy.h"
#include "xmpp/jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct util_buf errors = {0};
	struct policy_decision d;
	struct policy_security s;
	struct policy *p = NULL;
	char *text = xstrndup((const char *)data, size);
	char dom[JID_PART_MAX + 1], *line, *save = NULL;

	if (policy_parse("fuzz", text, &p, &errors) == 0) {
		/* Query with every word of the input that prepares as a domain. */
		for (line = strtok_r(text, " \t\n*", &save); line != NULL;
		     line = strtok_r(NULL, " \t\n*", &save)) {
			if (jid_domain_prep(line, dom, sizeof(dom), NULL, 0) < 0)
				continue;
			policy_check(p, dom, POLICY_IN, &d);
			policy_check(p, dom, POLICY_OUT, &d);
			if (d.rule == NULL || d.file == NULL)
				abort();
			policy_security(p, dom, &s);
		}
		policy_unref(p);
	} else if (p != NULL || errors.len == 0) {
		abort();   /* a failure always says why and returns nothing */
	}
	util_buf_free(&errors);
	free(text);
	return 0;
}
