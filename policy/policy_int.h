/* policy_int.h - shared between policy.c and policy_attr.c. */
#ifndef S2SD_POLICY_INT_H
#define S2SD_POLICY_INT_H

#include <stddef.h>

#include "policy/policy.h"

/* Normalise a pattern's domain part (without "*.") into OUT; 0 or -EINVAL
 * with WHY filled. */
int policy__domain_norm(const char *in, char *out, size_t outlen, char *why,
                        size_t whylen);
/* Apply one "name=value" override to SEC; 0 or -EINVAL with WHY filled. */
int policy__parse_attr(const char *tok, struct policy_security *sec,
                       char *why, size_t whylen);

#endif
