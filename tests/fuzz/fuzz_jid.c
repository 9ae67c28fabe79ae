/* fuzz_jid.c - libFuzzer target for xmpp/jid.
 *
 * Parses the input as a JID. A valid address must be a fixed point: its
 * prepared form parses again to the same address, the bare form and the
 * ASCII domain lead back to the same domain. For every input, each part is
 * also prepared by the ASCII fast path and by the forced libidn path, which
 * must agree (result and reason). Any disagreement aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp/jid.h"
#include "xmpp/jid_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,     \
				#cond);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

static void
check_paths(enum jid__part part, const char *in, size_t len)
{
	char fast[JID_PART_MAX + 1], full[JID_PART_MAX + 1];
	char wfast[256] = "", wfull[256] = "";
	int rfast, rfull;

	rfast =
	    jid__prep_part(part, in, len, false, fast, wfast, sizeof(wfast));
	rfull = jid__prep_part(part, in, len, true, full, wfull, sizeof(wfull));
	FUZZ_ASSERT(rfast == rfull);
	if (rfast >= 0)
		FUZZ_ASSERT(memcmp(fast, full, (size_t)rfast + 1) == 0);
	else
		FUZZ_ASSERT(strcmp(wfast, wfull) == 0);
}

static void
check_fixed_point(const struct jid *j)
{
	char dom[JID_PART_MAX + 1], why[256];
	struct jid *again, *bare;
	const char *s;
	size_t len;

	s = jid_str(j, &len);
	FUZZ_ASSERT(strlen(s) == len);
	FUZZ_ASSERT(jid_parse(s, len, &again, why, sizeof(why)) == 0);
	FUZZ_ASSERT(jid_equal(j, again));
	FUZZ_ASSERT(strcmp(jid_str(again, NULL), s) == 0);
	FUZZ_ASSERT(strcmp(jid_domain_ascii(again), jid_domain_ascii(j)) == 0);
	jid_free(again);

	bare = jid_bare(j);
	FUZZ_ASSERT(jid_resource(bare) == NULL);
	FUZZ_ASSERT(strcmp(jid_domain(bare), jid_domain(j)) == 0);
	jid_free(bare);

	/* The A-label form names the same domain. */
	FUZZ_ASSERT(jid_domain_prep(jid_domain_ascii(j), dom, sizeof(dom), why,
				    sizeof(why)) >= 0);
	FUZZ_ASSERT(strcmp(dom, jid_domain(j)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct jid *j;
	char why[256];
	enum jid__part part;

	if (jid_parse(s, size, &j, why, sizeof(why)) == 0) {
		check_fixed_point(j);
		jid_free(j);
	} else {
		FUZZ_ASSERT(j == NULL && why[0] != '\0');
	}
	/* Bounded so that one input stays cheap for the full path. */
	if (size <= 2048)
		for (part = JID__NODE; part <= JID__RESOURCE; part++)
			check_paths(part, s, size);
	return 0;
}
