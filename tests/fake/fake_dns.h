/* fake_dns.h - a dns.h resolver for the unit tests of the layers above DNS
 * (the model is Postfix's mock_dns): lookups are answered from expectations
 * the test sets, with no network and no c-ares.
 *
 * Link tests/fake/fake_dns.c into the test (EXTRA_check_<name> in
 * tests/<name>.mk). It defines every function of dns.h, so the linker never
 * pulls the real resolver (dns.o, dns_lookup.o) from libs2sd.a; dns_cand,
 * dns_srv and dns_connect stay the real ones. The fake keeps dns.h's
 * callback rules: answers come from the loop through a zero timer, never
 * from inside dns_resolve(); cancel and close answer UV_ECANCELED.
 * Expectations are global: set them, run, then fake_dns_verify(). */
#ifndef S2SD_FAKE_DNS_H
#define S2SD_FAKE_DNS_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/dns.h"

/* Expect one lookup of DOMAIN (case-insensitive), answered with STATUS and
 * a copy of ANSWER (taken; NULL ok). Expectations are used in the order
 * they were set; the same domain may be expected several times. */
void fake_dns_expect(const char *domain, int status,
                     struct dns_cand_list *answer);
/* Expect DOMAIN, answered with status 0 and the candidates of SPEC:
 * space-separated "host:port[/tls][/fallback]=ip,ip" items; an item with
 * no address ("host:port=") gets S2SD_EDNS_NXDOMAIN as its error. */
void fake_dns_expect_text(const char *domain, const char *spec);
/* Strict (the default): an unexpected lookup fails the test at once.
 * Otherwise it is answered with S2SD_EDNS_NXDOMAIN and recorded. */
void fake_dns_strict(bool strict);
/* Count the problems so far (unexpected lookups, expectations not used)
 * and describe them in WHY. */
size_t fake_dns_problems(char *why, size_t whylen);
/* Fail the test if there is any problem; then forget every expectation. */
void fake_dns_verify(void);
/* Lookups answered from expectations since the last verify. */
size_t fake_dns_lookups(void);

#endif
