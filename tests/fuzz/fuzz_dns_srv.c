/* fuzz_dns_srv.c - libFuzzer target for SRV answer parsing and ordering
 * (dns/dns_msg, dns/dns_srv, dns/dns_cand).
 *
 * The input is a raw DNS answer. It is parsed as both services, ordered
 * with a random source fed from the input, merged by dns_srv_plan, turned
 * into candidates, and its TTLs read and aged. Invariants checked: a
 * successful parse yields records with a target and a port; ordering keeps
 * every record and sorts priorities; the plan's result is ordered too.
 * Seed corpus: the answers in tests/data/dns (hex text, decode first). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "dns/dns_cand.h"
#include "dns/dns_msg.h"
#include "dns/dns_srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_rand {
	const uint8_t *p;
	size_t n, i;
};

static uint32_t
fuzz_rand(void *arg)
{
	struct fuzz_rand *r = arg;
	uint32_t v = 0;
	int k;

	for (k = 0; k < 4; k++, r->i++)
		v = (v << 8) | (r->n ? r->p[r->i % r->n] : 0);
	return v * 2654435761U + (uint32_t)r->i;
}

static void
fuzz_check_sorted(const struct dns_srv_list *l, size_t want)
{
	size_t i;

	if (dns_srv_count(l) != want)
		__builtin_trap();
	for (i = 0; i < dns_srv_count(l); i++) {
		const struct dns_srv_rec *r = dns_srv_get(l, i);

		if (r->target[0] == '\0' || r->port == 0)
			__builtin_trap();
		if (i > 0 && dns_srv_get(l, i - 1)->prio > r->prio)
			__builtin_trap();
	}
}

static void
fuzz_candidates(const struct dns_srv_list *plan)
{
	struct dns_cand_list *c = dns_cand_new("fuzz.example");
	const struct dns_srv_rec *r;
	size_t i, k;

	for (i = 0; i < dns_srv_count(plan); i++) {
		r = dns_srv_get(plan, i);
		k = dns_cand_add(c, r->target, r->port, r->direct_tls, true,
		                 r->prio, r->weight, r->ttl);
		dns_cand_add_addr_str(c, k, i % 2 ? "127.0.0.1" : "::1");
		dns_cand_add_addr_str(c, k, "::2");
		dns_cand_interleave(c, k);
	}
	dns_cand_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rand rnd = {data, size, 0};
	struct dns_srv_list *a = NULL, *b = NULL, *plan = NULL;
	int sa, sb, sp;
	uint32_t ttl;
	uint8_t *copy;

	sa = dns_srv_parse(data, size, true, &a);
	sb = dns_srv_parse(data, size, false, &b);
	if (sa != sb || (sa == 0) != (a != NULL))
		__builtin_trap();
	if (a != NULL) {
		dns_srv_order(a, fuzz_rand, &rnd);
		fuzz_check_sorted(a, dns_srv_count(b));
	}
	sp = dns_srv_plan(sa, a, sb, b, fuzz_rand, &rnd, &plan);
	if (sp == 0) {
		fuzz_check_sorted(plan, dns_srv_count(a) + dns_srv_count(b));
		fuzz_candidates(plan);
	}
	dns_msg_answer_ttl(data, size, &ttl);
	dns_msg_negative_ttl(data, size, &ttl);
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	dns_msg_age(copy, size, 100);
	free(copy);
	dns_srv_free(plan);
	dns_srv_free(a);
	dns_srv_free(b);
	return 0;
}
