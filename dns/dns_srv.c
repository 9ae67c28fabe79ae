/* dns_srv.c - SRV answers for one domain: parse, order, merge; see dns_srv.h.
 *
 * Decisions, with the text they rest on:
 * - RFC 2782 and RFC 6120 3.2.1 step 3: a single SRV record whose target is
 *   "." means the service is decidedly not available: S2SD_ENULLSVC, and no
 *   fallback to the domain's address. RFC 2782 gives "." a meaning only as
 *   the sole record, so a "." next to real records is ignored.
 * - XEP-0368 rule 1: _xmpps-server and _xmpp-server records are one RRset for
 *   ordering, priorities and weights mixed. Ties (equal priority) are settled
 *   by the weighted draw alone: direct TLS gets no extra preference, so the
 *   operator's weights decide, as the XEP intends. XEP-0368 1.1.0: a "." for
 *   either service forbids the A/AAAA fallback.
 * - RFC 6120 3.2.1 step 9 lets a server fall back when it "does not receive
 *   a response" to its SRV query. We read that as a response without SRV
 *   records (NXDOMAIN or NODATA). A time-out or SERVFAIL says nothing about
 *   what the domain published: falling back could reach a host that is not
 *   the domain's XMPP service (and mismatch streams, step 8), so the attempt
 *   fails with a temporary error instead (the s2s layer bounces with
 *   remote-server-timeout or retries later). Records from the other service,
 *   if any arrived, are still used: they are published targets.
 * - Records with port 0, or a target that is not a plain host name, are
 *   dropped; identical (target, port) records keep the lowest priority. */
#include "dns/dns_srv.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "dns/dns_msg.h"

#define DNS_SRV_CNAME_HOPS 8
#define DNS_CLASS_IN 1

struct dns_srv_list {
	struct dns_srv_rec *recs;
	size_t n, cap;
};

struct dns_srv_list *
dns_srv_new(void)
{
	return xcalloc(1, sizeof(struct dns_srv_list));
}

size_t
dns_srv_add(struct dns_srv_list *l, const char *target, uint16_t prio,
            uint16_t weight, uint16_t port, uint32_t ttl, bool direct_tls)
{
	struct dns_srv_rec *r;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->recs = xreallocarray(l->recs, l->cap, sizeof(*l->recs));
	}
	r = &l->recs[l->n];
	r->target = xstrdup(target);
	r->prio = prio;
	r->weight = weight;
	r->port = port;
	r->ttl = ttl;
	r->direct_tls = direct_tls;
	return l->n++;
}

static void
dns_srv_append(struct dns_srv_list *dst, const struct dns_srv_list *src)
{
	const struct dns_srv_rec *r;
	size_t i;

	for (i = 0; i < dns_srv_count(src); i++) {
		r = &src->recs[i];
		dns_srv_add(dst, r->target, r->prio, r->weight, r->port, r->ttl,
		            r->direct_tls);
	}
}

struct dns_srv_list *
dns_srv_copy(const struct dns_srv_list *l)
{
	struct dns_srv_list *c = dns_srv_new();

	dns_srv_append(c, l);
	return c;
}

size_t
dns_srv_count(const struct dns_srv_list *l)
{
	return l != NULL ? l->n : 0;
}

const struct dns_srv_rec *
dns_srv_get(const struct dns_srv_list *l, size_t i)
{
	if (i >= dns_srv_count(l))
		fatalx("%s: index %zu of %zu", __func__, i, dns_srv_count(l));
	return &l->recs[i];
}

void
dns_srv_free(struct dns_srv_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free((char *)l->recs[i].target);
	free(l->recs);
	free(l);
}

/* A target we are willing to look up and put in a log line: LDH labels
 * (plus '_'), no empty label. ares_expand_name escapes anything else with a
 * backslash, which fails here. */
static bool
dns_srv_target_ok(const char *t)
{
	size_t i, label = 0;

	for (i = 0; t[i] != '\0'; i++) {
		if (t[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)t[i]) || t[i] == '-' ||
		           t[i] == '_') {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return i > 0 && i <= 253 && label > 0;
}

static int
dns_srv_rcode(int rcode)
{
	switch (rcode) {
	case 0:
		return 0;
	case 3:
		return S2SD_EDNS_NXDOMAIN;
	default:  /* SERVFAIL, REFUSED, FORMERR, NOTIMP: the server's problem */
		return S2SD_EDNS_TEMP;
	}
}

/* Follow CNAMEs in the answer section from NAME (replaced in place), so that
 * an SRV owner reached through an alias is accepted. */
static int
dns_srv_canonical(const uint8_t *ans, size_t len, char *name)
{
	char next[DNS_MSG_NAMELEN];
	struct dns_msg m;
	struct dns_msg_rr rr;
	size_t end, hop;
	int rc;

	for (hop = 0; hop < DNS_SRV_CNAME_HOPS; hop++) {
		if (dns_msg_open(&m, ans, len) < 0)
			return S2SD_EDNS_BADRESP;
		next[0] = '\0';
		while ((rc = dns_msg_next(&m, &rr)) == 1 &&
		       rr.section == DNS_MSG_AN) {
			if (rr.type != DNS_MSG_T_CNAME ||
			    strcasecmp(rr.name, name) != 0)
				continue;
			if (dns_msg_name(&m, rr.rdoff, next, sizeof(next),
			                 &end) < 0 || end != rr.rdoff + rr.rdlen)
				return S2SD_EDNS_BADRESP;
			break;
		}
		if (rc < 0)
			return S2SD_EDNS_BADRESP;
		if (next[0] == '\0')
			return 0;
		memcpy(name, next, strlen(next) + 1);
	}
	return 0;
}

static struct dns_srv_rec *
dns_srv_find(const struct dns_srv_list *l, const char *target, uint16_t port)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->recs[i].port == port &&
		    strcasecmp(l->recs[i].target, target) == 0)
			return &l->recs[i];
	return NULL;
}

struct dns_srv_tally {
	size_t all, nulls;
};

/* Read one SRV RDATA: priority, weight, port, target (uncompressed per
 * RFC 2782, but compression is tolerated as c-ares does). */
static int
dns_srv_read(const struct dns_msg *m, const struct dns_msg_rr *rr,
             bool direct_tls, struct dns_srv_list *l, struct dns_srv_tally *t)
{
	char target[DNS_MSG_NAMELEN];
	const uint8_t *p = m->buf + rr->rdoff;
	struct dns_srv_rec *dup;
	uint16_t port, prio, weight;
	size_t end;

	if (rr->rdlen < 7 ||
	    dns_msg_name(m, rr->rdoff + 6, target, sizeof(target), &end) < 0 ||
	    end != rr->rdoff + rr->rdlen)
		return S2SD_EDNS_BADRESP;
	t->all++;
	prio = dns_msg_u16(p);
	weight = dns_msg_u16(p + 2);
	port = dns_msg_u16(p + 4);
	if (target[0] == '\0') {
		t->nulls++;
		return 0;
	}
	if (port == 0 || !dns_srv_target_ok(target))
		return 0;
	if ((dup = dns_srv_find(l, target, port)) != NULL) {
		/* The same server twice: keep the more preferred record. */
		if (prio < dup->prio) {
			dup->prio = prio;
			dup->weight = weight;
		}
		if (rr->ttl < dup->ttl)
			dup->ttl = rr->ttl;
	} else if (l->n < DNS_SRV_MAX)
		dns_srv_add(l, target, prio, weight, port, rr->ttl,
		            direct_tls);
	return 0;
}

static int
dns_srv_collect(const uint8_t *ans, size_t len, const char *owner,
                bool direct_tls, struct dns_srv_list *l,
                struct dns_srv_tally *t)
{
	struct dns_msg m;
	struct dns_msg_rr rr;
	int rc;

	if (dns_msg_open(&m, ans, len) < 0)
		return S2SD_EDNS_BADRESP;
	while ((rc = dns_msg_next(&m, &rr)) == 1 && rr.section == DNS_MSG_AN) {
		if (rr.type != DNS_MSG_T_SRV || rr.rclass != DNS_CLASS_IN ||
		    strcasecmp(rr.name, owner) != 0)
			continue;
		if (dns_srv_read(&m, &rr, direct_tls, l, t) < 0)
			return S2SD_EDNS_BADRESP;
	}
	return rc < 0 ? S2SD_EDNS_BADRESP : 0;
}

/* Sort by priority, keeping the answer order among equals (insertion sort:
 * stable, and lists hold at most 2 * DNS_SRV_MAX records). */
static void
dns_srv_sort_prio(struct dns_srv_list *l)
{
	struct dns_srv_rec r;
	size_t i, j;

	for (i = 1; i < l->n; i++) {
		r = l->recs[i];
		for (j = i; j > 0 && l->recs[j - 1].prio > r.prio; j--)
			l->recs[j] = l->recs[j - 1];
		l->recs[j] = r;
	}
}

int
dns_srv_parse(const uint8_t *ans, size_t len, bool direct_tls,
              struct dns_srv_list **out)
{
	struct dns_srv_tally tally = {0, 0};
	struct dns_msg m;
	struct dns_srv_list *l;
	char owner[DNS_MSG_NAMELEN];
	int rc;

	*out = NULL;
	if (dns_msg_open(&m, ans, len) < 0 || m.qtype != DNS_MSG_T_SRV)
		return S2SD_EDNS_BADRESP;
	if ((rc = dns_srv_rcode(m.rcode)) < 0)
		return rc;
	memcpy(owner, m.qname, sizeof(owner));
	if (dns_srv_canonical(ans, len, owner) < 0)
		return S2SD_EDNS_BADRESP;
	l = dns_srv_new();
	rc = dns_srv_collect(ans, len, owner, direct_tls, l, &tally);
	if (rc == 0 && l->n > 0) {
		*out = l;
		return 0;
	}
	dns_srv_free(l);
	if (rc < 0)
		return rc;
	if (tally.all == 0)
		return S2SD_EDNS_NODATA;
	/* Only "." (the RFC's case) or "." with unusable records left. */
	return tally.nulls > 0 ? S2SD_ENULLSVC : S2SD_EDNS_BADRESP;
}

/* A uniform number in [0, max], by scaling rather than modulo. */
static uint32_t
dns_srv_uniform(uint32_t max, dns_rand_fn *rnd, void *arg)
{
	return (uint32_t)(((uint64_t)rnd(arg) * ((uint64_t)max + 1)) >> 32);
}

/* RFC 2782's "arrange in any order, weight 0 first": a random arrangement
 * (so that all-zero groups are spread evenly), then a stable partition that
 * moves the zero weights to the front. */
static void
dns_srv_arrange(struct dns_srv_rec *r, size_t n, dns_rand_fn *rnd, void *arg)
{
	struct dns_srv_rec t;
	size_t i, j, z = 0;

	for (i = n; i > 1; i--) {
		j = dns_srv_uniform((uint32_t)(i - 1), rnd, arg);
		t = r[i - 1];
		r[i - 1] = r[j];
		r[j] = t;
	}
	for (i = 0; i < n; i++) {
		if (r[i].weight != 0)
			continue;
		t = r[i];
		memmove(&r[z + 1], &r[z], (i - z) * sizeof(*r));
		r[z++] = t;
	}
}

/* One priority group: RFC 2782's running-sum selection, repeated until
 * every record has been picked. The picked record is rotated to the front
 * so the rest keeps its arrangement (zero weights first). */
static void
dns_srv_draw(struct dns_srv_rec *r, size_t n, dns_rand_fn *rnd, void *arg)
{
	struct dns_srv_rec t;
	uint32_t sum, run, pick;
	size_t k, i;

	dns_srv_arrange(r, n, rnd, arg);
	for (k = 0; k + 1 < n; k++) {
		for (sum = 0, i = k; i < n; i++)
			sum += r[i].weight;
		pick = dns_srv_uniform(sum, rnd, arg);
		for (run = 0, i = k; i < n - 1; i++) {
			run += r[i].weight;
			if (run >= pick)
				break;
		}
		t = r[i];
		memmove(&r[k + 1], &r[k], (i - k) * sizeof(*r));
		r[k] = t;
	}
}

void
dns_srv_order(struct dns_srv_list *l, dns_rand_fn *rnd, void *arg)
{
	size_t i, j;

	dns_srv_sort_prio(l);
	for (i = 0; i < l->n; i = j) {
		for (j = i + 1; j < l->n && l->recs[j].prio == l->recs[i].prio;
		     j++)
			;
		dns_srv_draw(&l->recs[i], j - i, rnd, arg);
	}
}

/* Errors that say nothing about what the domain published. */
static bool
dns_srv_is_unknown(int st)
{
	return st < 0 && st != S2SD_EDNS_NXDOMAIN && st != S2SD_EDNS_NODATA &&
	       st != S2SD_ENULLSVC;
}

int
dns_srv_plan(int st_xmpps, const struct dns_srv_list *xmpps, int st_xmpp,
             const struct dns_srv_list *xmpp, dns_rand_fn *rnd, void *arg,
             struct dns_srv_list **out)
{
	struct dns_srv_list *l;

	*out = NULL;
	if ((st_xmpps == 0 && dns_srv_count(xmpps) > 0) ||
	    (st_xmpp == 0 && dns_srv_count(xmpp) > 0)) {
		l = dns_srv_new();
		if (st_xmpps == 0)
			dns_srv_append(l, xmpps);
		if (st_xmpp == 0)
			dns_srv_append(l, xmpp);
		dns_srv_order(l, rnd, arg);
		*out = l;
		return 0;
	}
	if (dns_srv_is_unknown(st_xmpp))
		return st_xmpp;
	if (dns_srv_is_unknown(st_xmpps))
		return st_xmpps;
	if (st_xmpp == S2SD_ENULLSVC || st_xmpps == S2SD_ENULLSVC)
		return S2SD_ENULLSVC;
	return DNS_SRV_FALLBACK;
}
