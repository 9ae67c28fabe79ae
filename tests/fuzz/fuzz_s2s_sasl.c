/* fuzz_s2s_sasl.c - libFuzzer target for SASL EXTERNAL on the receiving
 * side. The input is split at '\n' into VERIFIED, FROM and PAYLOAD; the
 * first byte's low bits make VERIFIED (1) or FROM (2) NULL. Checked on
 * every input: a success returns the prepared verified domain, which the
 * stream 'from' (when given) also prepares to; a failure returns no domain
 * and an RFC 6120 6.5 condition; the initiating side's response for a
 * domain that prepares is accepted for that domain. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "s2s/s2s_sasl.h"
#include "xmpp/jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const conds[] = {
    "not-authorized",  "invalid-authzid",        "incorrect-encoding",
    "malformed-request", "temporary-auth-failure",
};

static void
check_failure(int rc, const char *dom, const char *cond)
{
	size_t i;

	if (rc != S2SD_EAUTH || dom != NULL || cond == NULL)
		abort();
	for (i = 0; i < UTIL_ARRAY_LEN(conds); i++)
		if (strcmp(cond, conds[i]) == 0)
			return;
	abort();
}

static void
check_success(const char *verified, const char *from, const char *dom,
              const char *cond)
{
	char want[JID_PART_MAX + 1];

	if (dom == NULL || cond != NULL || verified == NULL ||
	    jid_domain_prep(verified, want, sizeof(want), NULL, 0) < 0 ||
	    strcmp(dom, want) != 0)
		abort();
	if (from != NULL &&
	    (jid_domain_prep(from, want, sizeof(want), NULL, 0) < 0 ||
	     strcmp(dom, want) != 0))
		abort();
}

/* What the initiating side sends for a domain is accepted for it. */
static void
check_roundtrip(const char *verified)
{
	char dom[JID_PART_MAX + 1], *p, *got = NULL;
	const char *cond = NULL;

	if (verified == NULL ||
	    jid_domain_prep(verified, dom, sizeof(dom), NULL, 0) < 0)
		return;
	p = s2s_sasl_client_external(dom);
	if (s2s_sasl_server_external(verified, dom, p, &got, &cond, NULL,
	                             0) != 0 || strcmp(got, dom) != 0)
		abort();
	free(got);
	free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char *text, *part[3] = {NULL, NULL, NULL}, *save = NULL, *dom = NULL;
	const char *cond = NULL, *verified, *from;
	char why[256];
	unsigned flags;
	int i, rc;

	if (!ready && s2s_sasl_init(why, sizeof(why)) != 0)
		abort();
	ready = 1;
	if (size == 0)
		return 0;
	flags = data[0];
	text = xstrndup((const char *)data + 1, size - 1);
	/* strtok_r would merge empty fields; keep them ("" payloads). */
	part[0] = text;
	for (i = 1; i < 3 && part[i - 1] != NULL; i++) {
		save = strchr(part[i - 1], '\n');
		if (save != NULL)
			*save++ = '\0';
		part[i] = save;
	}
	verified = flags & 1 ? NULL : part[0];
	from = flags & 2 ? NULL : part[1];
	rc = s2s_sasl_server_external(verified, from,
	                              part[2] != NULL ? part[2] : "", &dom,
	                              &cond, why, sizeof(why));
	if (rc == 0)
		check_success(verified, from, dom, cond);
	else
		check_failure(rc, dom, cond);
	if (verified == NULL && (rc == 0 || strcmp(cond, "not-authorized")))
		abort();            /* no certificate, no success */
	free(dom);
	check_roundtrip(verified);
	free(text);
	return 0;
}
