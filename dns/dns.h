/* dns.h - find where to connect for a remote XMPP domain, asynchronously.
 *
 * c-ares runs on the caller's libuv loop (one uv_poll_t per c-ares socket,
 * one uv_timer_t for its time-outs): no thread, no blocking call. A lookup
 * asks for _xmpps-server._tcp and _xmpp-server._tcp, then A and AAAA of
 * every target at once, and calls back exactly once, never before
 * dns_resolve() has returned, with the candidates in the order to try them
 * (rules in dns_srv.h, result in dns_cand.h). Answers, negative ones
 * included, are cached for their TTL. Closing is asynchronous: lookups still
 * pending call back with UV_ECANCELED, then the close callback runs once all
 * handles are closed and the resolver is freed. */
#ifndef S2SD_DNS_H
#define S2SD_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dns/dns_cand.h"
#include "dns/dns_srv.h"

struct dns_resolver;
struct dns_lookup;

/* Filled by the caller; zero values pick the defaults noted. */
struct dns_resolver_opts {
	const char *servers;  /* "ip[:port]" list (space or comma separated,
	                       * IPv6 as [::1]:53); NULL/"" = /etc/resolv.conf */
	uint32_t timeout_ms;  /* first try per server; c-ares doubles it each
	                       * round (0: resolv.conf, else 5000) */
	uint32_t tries;       /* rounds over the servers (0: resolv.conf, else 4) */
	size_t cache_size;    /* answers kept (0: no cache) */
	uint32_t neg_ttl_s;   /* negative answers without an SOA (0: 60) */
	uint32_t max_ttl_s;   /* upper bound on any TTL (0: 86400) */
	dns_rand_fn *rnd;     /* SRV weight draws (NULL: the CSPRNG) */
	void *rnd_arg;
};

/* STATUS 0: CANDS has at least one address. Otherwise S2SD_EDNS_* (every
 * lookup failed the same way, see err_condition()), S2SD_ENULLSVC, or
 * UV_ECANCELED (dns_lookup_cancel, dns_resolver_close). CANDS is returned
 * owned (dns_cand_free); on failure it may still carry what was found (the
 * SRV results, each target's error) and is NULL when nothing was. */
typedef void dns_resolve_cb(int status, struct dns_cand_list *cands,
                            void *arg);
typedef void dns_resolver_close_cb(void *arg);

/* Create a resolver on LOOP (reads resolv.conf now when no servers are
 * given). Returns 0, or -EINVAL with a reason in WHY (bad server list),
 * or another negative code when c-ares cannot start. */
int dns_resolver_new(uv_loop_t *loop, const struct dns_resolver_opts *opts,
                     struct dns_resolver **out, char *why, size_t whylen);
/* Cancel every lookup and close; CB (may be NULL) runs after the last
 * handle is closed, from the loop. The resolver is gone when CB runs. */
void dns_resolver_close(struct dns_resolver *res, dns_resolver_close_cb *cb,
                        void *arg);

/* Resolve DOMAIN (UTF-8 or A-labels; an IP literal needs no DNS). CONNID
 * tags the log lines. On 0, CB will run once; *OUT (may be NULL) is the
 * handle for dns_lookup_cancel, valid until CB runs. Returns -EINVAL (bad
 * domain) or S2SD_ESHUTDOWN (closing) without calling back. */
int dns_resolve(struct dns_resolver *res, const char *domain, uint64_t connid,
                dns_resolve_cb *cb, void *arg, struct dns_lookup **out);
/* CB runs with UV_ECANCELED (from the loop, not from here). Only before
 * the lookup's callback has run. */
void dns_lookup_cancel(struct dns_lookup *lk);

#endif
