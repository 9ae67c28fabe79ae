/* policy_attr.c - pattern domains and per-domain overrides for policy.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy_int.h"
#include "xmpp/jid.h"

int
policy__domain_norm(const char *in, char *out, size_t outlen, char *why,
                    size_t whylen)
{
	if (strchr(in, '*') != NULL) {
		snprintf(why, whylen, "'*' is only allowed as the whole "
		         "left-most label ('*.example.com')");
		return -EINVAL;
	}
	if (jid_domain_prep(in, out, outlen, why, whylen) < 0)
		return -EINVAL;
	return 0;
}

struct policy_attr {
	const char *name;
	const char *const values[4];   /* index = stored value */
	size_t offset;
};

static const struct policy_attr policy_attrs[] = {
    {"security", {"none", "optional", "required", NULL},
     offsetof(struct policy_security, security)},
    {"certs", {"any", "valid", NULL, NULL},
     offsetof(struct policy_security, certs_valid)},
    {"dialback", {"no", "yes", NULL, NULL},
     offsetof(struct policy_security, dialback)},
};

int
policy__parse_attr(const char *tok, struct policy_security *sec, char *why,
                   size_t whylen)
{
	const char *eq = strchr(tok, '=');
	size_t i, v, nlen = eq != NULL ? (size_t)(eq - tok) : strlen(tok);

	for (i = 0; i < sizeof(policy_attrs) / sizeof(policy_attrs[0]); i++) {
		const struct policy_attr *a = &policy_attrs[i];
		if (strlen(a->name) != nlen || strncmp(a->name, tok, nlen) != 0)
			continue;
		for (v = 0; eq != NULL && v < 4 && a->values[v] != NULL; v++)
			if (strcmp(eq + 1, a->values[v]) == 0) {
				*(int *)((char *)sec + a->offset) = (int)v;
				return 0;
			}
		snprintf(why, whylen, "bad value in '%s' (%s=%s%s%s%s%s)", tok,
		         a->name, a->values[0], a->values[1] ? "|" : "",
		         a->values[1] ? a->values[1] : "",
		         a->values[2] ? "|" : "", a->values[2] ? a->values[2] : "");
		return -EINVAL;
	}
	snprintf(why, whylen, "unknown override '%.*s' (security, certs or "
	         "dialback)", (int)nlen, tok);
	return -EINVAL;
}
