/* dns_msg.h - walk the resource records of one raw DNS answer (RFC 1035).
 *
 * Pure: no I/O, no allocation that outlives a call. The caller keeps the
 * message and a struct dns_msg cursor on its stack; every pointer and offset
 * refers into the caller's buffer. Names are expanded with c-ares'
 * ares_expand_name (compression, loops, escaping of odd bytes), returned
 * without the trailing dot, and the root name is "". Every function returns
 * S2SD_EDNS_BADRESP on a malformed message and never reads past LEN. */
#ifndef S2SD_DNS_MSG_H
#define S2SD_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_MSG_NAMELEN 1025  /* escaped names can be 4x the 255 wire bytes */
#define DNS_MSG_T_A 1
#define DNS_MSG_T_CNAME 5
#define DNS_MSG_T_SOA 6
#define DNS_MSG_T_AAAA 28
#define DNS_MSG_T_SRV 33
#define DNS_MSG_T_OPT 41

enum dns_msg_section { DNS_MSG_AN, DNS_MSG_NS, DNS_MSG_AR };

/* Cursor over one message; the caller allocates it (dns_msg_open fills it). */
struct dns_msg {
	const uint8_t *buf;
	size_t len;
	int rcode;               /* header RCODE: 0 NOERROR, 3 NXDOMAIN, ... */
	uint16_t qtype;
	char qname[DNS_MSG_NAMELEN];
	uint16_t count[3];       /* records per section */
	size_t pos;              /* offset of the next record */
	unsigned section, left;  /* where dns_msg_next is */
};

struct dns_msg_rr {
	enum dns_msg_section section;
	char name[DNS_MSG_NAMELEN];
	uint16_t type, rclass;
	uint32_t ttl;            /* RFC 2181 8: values above 2^31-1 read as 0 */
	size_t rdoff;            /* offset of the RDATA in the message */
	uint16_t rdlen;
	size_t ttloff;           /* offset of the TTL field (dns_msg_age) */
};

/* Parse the header and the single question. Returns 0 or S2SD_EDNS_BADRESP. */
int dns_msg_open(struct dns_msg *m, const uint8_t *buf, size_t len);
/* Next record of the answer, authority, then additional section.
 * Returns 1 (RR filled), 0 at the end, or S2SD_EDNS_BADRESP. */
int dns_msg_next(struct dns_msg *m, struct dns_msg_rr *rr);
/* Expand the name at OFF into OUT; *END gets the offset just past its wire
 * form. Returns 0 or S2SD_EDNS_BADRESP (also when it does not fit OUTLEN). */
int dns_msg_name(const struct dns_msg *m, size_t off, char *out,
                 size_t outlen, size_t *end);
/* Big-endian readers; the caller has checked the bounds. */
uint16_t dns_msg_u16(const uint8_t *p);
uint32_t dns_msg_u32(const uint8_t *p);

/* Smallest TTL in the answer section (the lifetime of a positive answer).
 * Returns false when the answer section is empty or the message is bad. */
bool dns_msg_answer_ttl(const uint8_t *buf, size_t len, uint32_t *ttl);
/* RFC 2308 5: a negative answer lives min(SOA TTL, SOA MINIMUM) when the
 * authority section has an SOA. Returns false when it has none. */
bool dns_msg_negative_ttl(const uint8_t *buf, size_t len, uint32_t *ttl);
/* Subtract SECS from every TTL in BUF (an answer served from a cache ages),
 * stopping at 0. A malformed message is left as far as it could be walked. */
void dns_msg_age(uint8_t *buf, size_t len, uint32_t secs);

#endif
