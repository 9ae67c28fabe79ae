/* dns_srv.h - SRV records of one domain: parse, order, merge (RFC 2782,
 * RFC 6120 3.2, XEP-0368).
 *
 * Pure: no I/O, no clock; randomness comes from the caller (dns_rand_fn).
 * A list owns its records and their strings; records are read through
 * dns_srv_get() and stay valid until the list is changed or freed.
 * Rules decided here (see dns_srv.c for the reasons): a single "." target is
 * S2SD_ENULLSVC; "." among other records is ignored; _xmpps-server and
 * _xmpp-server records of one priority form one RFC 2782 group, drawn by
 * weight with no preference for either service; an SRV time-out or server
 * failure never falls back to the domain's own address. */
#ifndef S2SD_DNS_SRV_H
#define S2SD_DNS_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_SRV_MAX 64        /* records kept per answer; the rest ignored */
#define DNS_SRV_FALLBACK 1    /* dns_srv_plan: use the domain itself, 5269 */
#define DNS_SRV_PORT 5269

struct dns_srv_list;

struct dns_srv_rec {
	const char *target;   /* owned by the list; never "." */
	uint16_t prio, weight, port;
	uint32_t ttl;         /* seconds */
	bool direct_tls;      /* from _xmpps-server (XEP-0368) */
};

/* A uniform 32-bit random number. */
typedef uint32_t dns_rand_fn(void *arg);

/* Parse the raw answer to an SRV query (question section included).
 * Returns 0 and *OUT (owned, >= 1 record, answer order), or
 * S2SD_ENULLSVC, S2SD_EDNS_NXDOMAIN, S2SD_EDNS_NODATA, S2SD_EDNS_TEMP (RCODE
 * SERVFAIL, REFUSED, ...) or S2SD_EDNS_BADRESP, with *OUT NULL. */
int dns_srv_parse(const uint8_t *ans, size_t len, bool direct_tls,
                  struct dns_srv_list **out);

/* Combine the results of the two lookups (each a status as returned by
 * dns_srv_parse and its list, borrowed, NULL unless the status is 0).
 * Returns 0 with *OUT the merged records in the order to try them (owned),
 * DNS_SRV_FALLBACK when the domain publishes no SRV at all, or the error
 * that ends the attempt (S2SD_ENULLSVC or a temporary S2SD_EDNS_*). */
int dns_srv_plan(int st_xmpps, const struct dns_srv_list *xmpps,
                 int st_xmpp, const struct dns_srv_list *xmpp,
                 dns_rand_fn *rnd, void *arg, struct dns_srv_list **out);

/* RFC 2782 order, in place: by priority, then a weighted random draw within
 * each priority (weight 0 records first in the draw, so they are picked
 * only when the number drawn is 0, or in random order if all are 0). */
void dns_srv_order(struct dns_srv_list *l, dns_rand_fn *rnd, void *arg);

struct dns_srv_list *dns_srv_new(void);
/* Append a record; copies TARGET. Returns its index. */
size_t dns_srv_add(struct dns_srv_list *l, const char *target, uint16_t prio,
                   uint16_t weight, uint16_t port, uint32_t ttl,
                   bool direct_tls);
struct dns_srv_list *dns_srv_copy(const struct dns_srv_list *l);
size_t dns_srv_count(const struct dns_srv_list *l);    /* NULL: 0 */
const struct dns_srv_rec *dns_srv_get(const struct dns_srv_list *l, size_t i);
void dns_srv_free(struct dns_srv_list *l);             /* NULL ok */

#endif
