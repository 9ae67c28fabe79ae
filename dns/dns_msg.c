/* dns_msg.c - a bounds-checked walk over a raw DNS message; see dns_msg.h.
 *
 * Only the framing is parsed here (header, question, the fixed part of each
 * resource record); callers read the RDATA of the types they know. Name
 * decompression is left to c-ares, which has handled hostile input for a long
 * time, instead of writing another pointer-chasing loop. */
#include "dns/dns_msg.h"

#include <ares.h>
#include <string.h>

#include "cm/err.h"

#define DNS_MSG_HDRLEN 12

uint16_t
dns_msg_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t
dns_msg_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

int
dns_msg_name(const struct dns_msg *m, size_t off, char *out, size_t outlen,
             size_t *end)
{
	char *name = NULL;
	long enclen = 0;
	size_t n;

	/* ares_expand_name takes an int length: bigger messages cannot be
	 * DNS messages anyway (65535 bytes at most over TCP). */
	if (off >= m->len || m->len > 65535)
		return S2SD_EDNS_BADRESP;
	if (ares_expand_name(m->buf + off, m->buf, (int)m->len, &name,
	                     &enclen) != ARES_SUCCESS)
		return S2SD_EDNS_BADRESP;
	n = strlen(name);
	if (n >= outlen || enclen <= 0 || off + (size_t)enclen > m->len) {
		ares_free_string(name);
		return S2SD_EDNS_BADRESP;
	}
	memcpy(out, name, n + 1);
	ares_free_string(name);
	*end = off + (size_t)enclen;
	return 0;
}

int
dns_msg_open(struct dns_msg *m, const uint8_t *buf, size_t len)
{
	size_t end;

	memset(m, 0, sizeof(*m));
	m->buf = buf;
	m->len = len;
	if (len < DNS_MSG_HDRLEN || dns_msg_u16(buf + 4) != 1)
		return S2SD_EDNS_BADRESP;
	if ((buf[2] & 0x80) == 0)  /* QR: this is a query, not an answer */
		return S2SD_EDNS_BADRESP;
	m->rcode = buf[3] & 0x0f;
	m->count[DNS_MSG_AN] = dns_msg_u16(buf + 6);
	m->count[DNS_MSG_NS] = dns_msg_u16(buf + 8);
	m->count[DNS_MSG_AR] = dns_msg_u16(buf + 10);
	if (dns_msg_name(m, DNS_MSG_HDRLEN, m->qname, sizeof(m->qname),
	                 &end) < 0 || end + 4 > len)
		return S2SD_EDNS_BADRESP;
	m->qtype = dns_msg_u16(buf + end);
	m->pos = end + 4;
	m->section = DNS_MSG_AN;
	m->left = m->count[DNS_MSG_AN];
	return 0;
}

int
dns_msg_next(struct dns_msg *m, struct dns_msg_rr *rr)
{
	size_t end;

	while (m->left == 0) {
		if (m->section == DNS_MSG_AR)
			return 0;
		m->section++;
		m->left = m->count[m->section];
	}
	if (dns_msg_name(m, m->pos, rr->name, sizeof(rr->name), &end) < 0 ||
	    end + 10 > m->len)
		return S2SD_EDNS_BADRESP;
	rr->section = (enum dns_msg_section)m->section;
	rr->type = dns_msg_u16(m->buf + end);
	rr->rclass = dns_msg_u16(m->buf + end + 2);
	rr->ttloff = end + 4;
	rr->ttl = dns_msg_u32(m->buf + end + 4);
	if (rr->ttl > 0x7fffffffU)
		rr->ttl = 0;
	rr->rdlen = dns_msg_u16(m->buf + end + 8);
	rr->rdoff = end + 10;
	if (rr->rdoff + rr->rdlen > m->len)
		return S2SD_EDNS_BADRESP;
	m->pos = rr->rdoff + rr->rdlen;
	m->left--;
	return 1;
}

bool
dns_msg_answer_ttl(const uint8_t *buf, size_t len, uint32_t *ttl)
{
	struct dns_msg m;
	struct dns_msg_rr rr;
	bool found = false;

	if (dns_msg_open(&m, buf, len) < 0)
		return false;
	while (dns_msg_next(&m, &rr) == 1 && rr.section == DNS_MSG_AN) {
		if (!found || rr.ttl < *ttl)
			*ttl = rr.ttl;
		found = true;
	}
	return found;
}

bool
dns_msg_negative_ttl(const uint8_t *buf, size_t len, uint32_t *ttl)
{
	struct dns_msg m;
	struct dns_msg_rr rr;
	char name[DNS_MSG_NAMELEN];
	size_t end;
	uint32_t minimum;

	if (dns_msg_open(&m, buf, len) < 0)
		return false;
	while (dns_msg_next(&m, &rr) == 1) {
		if (rr.section != DNS_MSG_NS || rr.type != DNS_MSG_T_SOA)
			continue;
		/* MNAME and RNAME, then five 32-bit fields; MINIMUM last. */
		if (dns_msg_name(&m, rr.rdoff, name, sizeof(name), &end) < 0 ||
		    dns_msg_name(&m, end, name, sizeof(name), &end) < 0 ||
		    end + 20 != rr.rdoff + rr.rdlen)
			return false;
		minimum = dns_msg_u32(buf + end + 16);
		*ttl = minimum < rr.ttl ? minimum : rr.ttl;
		return true;
	}
	return false;
}

void
dns_msg_age(uint8_t *buf, size_t len, uint32_t secs)
{
	struct dns_msg m;
	struct dns_msg_rr rr;
	uint32_t t;
	uint8_t *p;

	if (dns_msg_open(&m, buf, len) < 0)
		return;
	while (dns_msg_next(&m, &rr) == 1) {
		if (rr.type == DNS_MSG_T_OPT)  /* its "TTL" holds EDNS flags */
			continue;
		t = rr.ttl > secs ? rr.ttl - secs : 0;
		p = buf + rr.ttloff;
		p[0] = (uint8_t)(t >> 24);
		p[1] = (uint8_t)(t >> 16);
		p[2] = (uint8_t)(t >> 8);
		p[3] = (uint8_t)t;
	}
}
