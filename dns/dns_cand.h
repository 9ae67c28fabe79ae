/* dns_cand.h - the candidates for one S2S connection: where to connect to a
 * remote domain, in the order to try them (RFC 6120 3.2, XEP-0368).
 *
 * Pure data. dns_resolve() builds a list; tests and fakes build their own
 * with the same calls. A list owns its strings, addresses and the SRV
 * records it carries for reports. A struct dns_cand from dns_cand_get() is
 * borrowed: valid until the list is changed or freed. */
#ifndef S2SD_DNS_CAND_H
#define S2SD_DNS_CAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/dns_srv.h"

struct dns_cand_list;

struct dns_cand {
	const char *host;      /* SRV target, or the domain on fallback */
	uint16_t port;
	bool direct_tls;       /* TLS from the first byte (XEP-0368) */
	bool via_srv;          /* false: RFC 6120 3.2.2 fallback, port 5269 */
	uint16_t prio, weight;
	uint32_t ttl;          /* of the SRV record, seconds */
	int err;               /* why HOST has no address (S2SD_EDNS_*), or 0 */
	size_t naddrs;
	const struct sockaddr_storage *addrs;  /* port set; Happy Eyeballs order */
};

/* A new empty list for DOMAIN (copied). */
struct dns_cand_list *dns_cand_new(const char *domain);
/* Append a candidate (HOST copied). Returns its index. */
size_t dns_cand_add(struct dns_cand_list *l, const char *host, uint16_t port,
                    bool direct_tls, bool via_srv, uint16_t prio,
                    uint16_t weight, uint32_t ttl);
/* Append an IPv4/IPv6 address (copied; the candidate's port is set in it).
 * Returns 0 or -EAFNOSUPPORT. */
int dns_cand_add_addr(struct dns_cand_list *l, size_t i,
                      const struct sockaddr *sa);
/* Parse a numeric address ("192.0.2.1", "2001:db8::1") and append it.
 * Returns 0 or -EINVAL. */
int dns_cand_add_addr_str(struct dns_cand_list *l, size_t i, const char *ip);
void dns_cand_set_err(struct dns_cand_list *l, size_t i, int err);
/* RFC 8305 4: reorder candidate I's addresses IPv6, IPv4, IPv6, ... keeping
 * the order within each family. */
void dns_cand_interleave(struct dns_cand_list *l, size_t i);
/* Keep the result of one SRV lookup for reports (STATUS as dns_srv_parse
 * returns it; SRV borrowed and copied, NULL ok). */
void dns_cand_set_srv(struct dns_cand_list *l, bool direct_tls, int status,
                      const struct dns_srv_list *srv);
/* That result: returns its status, *SRV borrowed (NULL when none). A
 * status of 1 means the lookup was not made (IP literal domain, fakes). */
int dns_cand_srv(const struct dns_cand_list *l, bool direct_tls,
                 const struct dns_srv_list **srv);

const char *dns_cand_domain(const struct dns_cand_list *l);
size_t dns_cand_count(const struct dns_cand_list *l);
const struct dns_cand *dns_cand_get(const struct dns_cand_list *l, size_t i);
/* Total number of addresses over all candidates. */
size_t dns_cand_naddrs(const struct dns_cand_list *l);
struct dns_cand_list *dns_cand_copy(const struct dns_cand_list *l);
void dns_cand_free(struct dns_cand_list *l);  /* NULL ok */
/* "[2001:db8::1]:5269" / "192.0.2.1:5269" into BUF (64 bytes suffice). */
void dns_cand_addr_str(const struct sockaddr_storage *ss, char *buf,
                       size_t len);

#endif
