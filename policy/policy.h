/* policy.h - the admins' federation policy: allow/deny by remote domain and
 * direction, plus per-domain security overrides (s2sd-policy(5)).
 *
 *   default allow|deny
 *   allow|deny PATTERN [in|out|both] [security=none|optional|required]
 *                                    [certs=valid|any] [dialback=yes|no]
 *
 * PATTERN is a domain (only that domain) or *.domain (the domain and every
 * subdomain). For a (domain, direction) query the most specific rule whose
 * pattern matches and whose direction covers the query decides: an exact
 * domain beats a wildcard, a longer wildcard beats a shorter one; otherwise
 * the default decides. A lookup costs one hash probe per label of the
 * domain, whatever the number of rules.
 *
 * A parsed policy is immutable and refcounted; strings in a decision are
 * borrowed from the policy and valid while a reference is held. Domains
 * passed to lookups must already be normalised (jid_domain_prep). */
#ifndef S2SD_POLICY_H
#define S2SD_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "cm/util.h"

enum policy_dir { POLICY_IN, POLICY_OUT };

struct policy;

struct policy_decision {
	bool allow;
	const char *file;       /* where the deciding line is */
	int line;
	const char *rule;       /* "allow *.partner.org in", or "default deny" */
};

/* Per-domain overrides; -1 = not set by the policy (use the config). */
struct policy_security {
	int security;           /* enum config_security values */
	int certs_valid;        /* 1 = valid certificates required, 0 = any */
	int dialback;           /* 1 = allowed, 0 = not */
	const char *file;
	int line;
};

/* Parse TEXT; NAME is used in messages ("FILE:LINE: message\n" appended to
 * ERRORS, every error of the text). Returns 0 with *OUT (one reference) or
 * S2SD_ECONFIG. */
int policy_parse(const char *name, const char *text, struct policy **out,
                 struct util_buf *errors);
/* Read and parse PATH (start-up and reload only: it blocks). */
int policy_load(const char *path, struct policy **out, struct util_buf *errors);
struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p);    /* NULL ok */

void policy_check(const struct policy *p, const char *domain,
                  enum policy_dir dir, struct policy_decision *out);
static inline bool
policy_allows(const struct policy *p, const char *domain, enum policy_dir dir)
{
	struct policy_decision d;

	policy_check(p, domain, dir, &d);
	return d.allow;
}
/* Overrides from the most specific matching rule that sets any. */
void policy_security(const struct policy *p, const char *domain,
                     struct policy_security *out);
size_t policy_rule_count(const struct policy *p);
const char *policy_dir_name(enum policy_dir dir);

#endif
