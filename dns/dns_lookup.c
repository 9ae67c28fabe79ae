/* dns_lookup.c - one domain's lookup: SRV of both services, then A and
 * AAAA of every target at once, then the ordered candidates; see dns.h.
 *
 * A lookup waits for its PENDING answers per stage. Finished lookups wait
 * in the resolver's DONE queue for a zero timer, so no callback ever runs
 * inside dns_resolve(), whether c-ares or the cache answered synchronously.
 * A lookup holds a reference per outstanding c-ares query, so a cancelled
 * lookup lives until c-ares has answered or been destroyed. */
#include "dns/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <idna.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "dns/dns_int.h"
#include "dns/dns_msg.h"

static void dns_lookup_step(struct dns_lookup *lk);

static void
dns_defer_cb(uv_timer_t *t);

void
dns__lookup_unref(struct dns_lookup *lk)
{
	size_t i;

	if (--lk->refs > 0)
		return;
	for (i = 0; i < lk->nhosts; i++)
		free(lk->hosts[i].name);
	free(lk->hosts);
	dns_srv_free(lk->srv[0]);
	dns_srv_free(lk->srv[1]);
	dns_srv_free(lk->plan);
	dns_cand_free(lk->result);
	free(lk->domain);
	free(lk);
}

/* The end of a lookup: off the active list, into the DONE queue, which a
 * zero timer delivers (never from inside dns_resolve or a cancel). */
void
dns__lookup_finish(struct dns_lookup *lk, int status,
                  struct dns_cand_list *result)
{
	struct dns_resolver *res = lk->res;

	lk->stage = DNS_STAGE_DONE;
	lk->status = status;
	lk->result = result;
	if (lk->prev != NULL)
		lk->prev->next = lk->next;
	else
		res->active = lk->next;
	if (lk->next != NULL)
		lk->next->prev = lk->prev;
	lk->prev = lk->next = NULL;
	if (res->done_tail != NULL)
		res->done_tail->next = lk;
	else
		res->done = lk;
	res->done_tail = lk;
	if (!res->closing)
		uv_timer_start(&res->defer, dns_defer_cb, 0, 0);
	log_debug(LOG_SUB_DNS, lk->connid,
	          "resolved domain=%s status=%s candidates=%zu addrs=%zu",
	          lk->domain, err_name(status),
	          result != NULL ? dns_cand_count(result) : 0,
	          result != NULL ? dns_cand_naddrs(result) : 0);
}

void
dns__deliver(struct dns_resolver *res)
{
	struct dns_lookup *lk;
	struct dns_cand_list *result;

	while ((lk = res->done) != NULL) {
		res->done = lk->next;
		if (res->done == NULL)
			res->done_tail = NULL;
		lk->next = NULL;
		result = lk->result;
		lk->result = NULL;  /* the callback owns it */
		lk->cb(lk->status, result, lk->arg);
		dns__lookup_unref(lk);
	}
}

static void
dns_defer_cb(uv_timer_t *t)
{
	dns__deliver(t->data);
}

static int
dns_parse_addrs(const uint8_t *ans, size_t len, uint16_t type,
                struct dns_host *h)
{
	struct ares_addrttl a4[DNS_MAX_ADDRS];
	struct ares_addr6ttl a6[DNS_MAX_ADDRS];
	int fam = type == DNS_MSG_T_AAAA, n = DNS_MAX_ADDRS, i, rc;
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;

	/* c-ares follows the CNAME chain of the answer to the addresses. */
	rc = fam ? ares_parse_aaaa_reply(ans, (int)len, NULL, a6, &n)
	         : ares_parse_a_reply(ans, (int)len, NULL, a4, &n);
	if (rc != ARES_SUCCESS)
		return rc == ARES_ENODATA ? S2SD_EDNS_NODATA : S2SD_EDNS_BADRESP;
	for (i = 0; i < n; i++) {
		memset(&h->addrs[fam][i], 0, sizeof(h->addrs[fam][i]));
		if (fam) {
			sin6 = (struct sockaddr_in6 *)&h->addrs[fam][i];
			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, &a6[i].ip6addr, 16);
		} else {
			sin = (struct sockaddr_in *)&h->addrs[fam][i];
			sin->sin_family = AF_INET;
			sin->sin_addr = a4[i].ipaddr;
		}
	}
	h->n[fam] = (size_t)n;
	return n > 0 ? 0 : S2SD_EDNS_NODATA;
}

void
dns__lookup_answer(struct dns_lookup *lk, uint16_t type, size_t which, int st,
                  const uint8_t *ans, size_t len)
{
	struct dns_host *h;

	if (type == DNS_MSG_T_SRV) {
		if (st == 0)
			st = dns_srv_parse(ans, len, which, &lk->srv[which]);
		lk->srv_st[which] = st;
		log_debug(LOG_SUB_DNS, lk->connid,
		          "srv domain=%s service=%s status=%s records=%zu",
		          lk->domain, which ? "xmpps-server" : "xmpp-server",
		          err_name(st), dns_srv_count(lk->srv[which]));
	} else {
		h = &lk->hosts[which];
		if (st == 0)
			st = dns_parse_addrs(ans, len, type, h);
		h->st[type == DNS_MSG_T_AAAA] = st;
		log_debug(LOG_SUB_DNS, lk->connid,
		          "addr host=%s type=%s status=%s count=%zu", h->name,
		          type == DNS_MSG_T_AAAA ? "AAAA" : "A", err_name(st),
		          h->n[type == DNS_MSG_T_AAAA]);
	}
	lk->pending--;
	dns_lookup_step(lk);
}

/* Index of host NAME, added when new; -1 past DNS_MAX_HOSTS. */
static int
dns_lookup_host(struct dns_lookup *lk, const char *name, bool add)
{
	size_t i;

	for (i = 0; i < lk->nhosts; i++)
		if (strcasecmp(lk->hosts[i].name, name) == 0)
			return (int)i;
	if (!add || lk->nhosts == DNS_MAX_HOSTS)
		return -1;
	lk->hosts = xreallocarray(lk->hosts, lk->nhosts + 1,
	                          sizeof(*lk->hosts));
	memset(&lk->hosts[lk->nhosts], 0, sizeof(*lk->hosts));
	lk->hosts[lk->nhosts].name = xstrdup(name);
	return (int)lk->nhosts++;
}

/* A new result list carrying the SRV answers (for reports). */
static struct dns_cand_list *
dns_lookup_partial(const struct dns_lookup *lk)
{
	struct dns_cand_list *l = dns_cand_new(lk->domain);

	dns_cand_set_srv(l, true, lk->srv_st[1], lk->srv[1]);
	dns_cand_set_srv(l, false, lk->srv_st[0], lk->srv[0]);
	return l;
}

/* Stage 2: A and AAAA of every target (or of the domain), all at once. */
static void
dns_lookup_targets(struct dns_lookup *lk)
{
	size_t i;
	int rc;

	rc = dns_srv_plan(lk->srv_st[1], lk->srv[1], lk->srv_st[0], lk->srv[0],
	                  lk->res->rnd, lk->res->rnd_arg, &lk->plan);
	if (rc < 0) {
		dns__lookup_finish(lk, rc, dns_lookup_partial(lk));
		return;
	}
	lk->stage = DNS_STAGE_ADDR;
	if (rc == DNS_SRV_FALLBACK)
		dns_lookup_host(lk, lk->domain, true);
	for (i = 0; i < dns_srv_count(lk->plan); i++)
		if (dns_lookup_host(lk, dns_srv_get(lk->plan, i)->target,
		                    true) < 0)
			log_warnx(LOG_SUB_DNS, lk->connid,
			          "srv domain=%s target=%s skipped=too-many-targets",
			          lk->domain, dns_srv_get(lk->plan, i)->target);
	lk->pending++;  /* no completion while the queries go out */
	for (i = 0; i < lk->nhosts; i++) {
		dns__query(lk, lk->hosts[i].name, DNS_MSG_T_AAAA, i);
		dns__query(lk, lk->hosts[i].name, DNS_MSG_T_A, i);
	}
	lk->pending--;
	dns_lookup_step(lk);
}

static int
dns_err_rank(int err)
{
	switch (err) {
	case S2SD_EDNS_TIMEOUT:
		return 5;
	case S2SD_EDNS_TEMP:
		return 4;
	case S2SD_EDNS_BADRESP:
		return 3;
	case S2SD_EDNS_NXDOMAIN:
		return 2;
	case S2SD_EDNS_NODATA:
		return 1;
	default:
		return 0;
	}
}

/* Why a host has no address: NXDOMAIN from either query is definitive
 * (the name does not exist); otherwise the more temporary error. */
static int
dns_host_err(const struct dns_host *h)
{
	if (h->st[0] == S2SD_EDNS_NXDOMAIN || h->st[1] == S2SD_EDNS_NXDOMAIN)
		return S2SD_EDNS_NXDOMAIN;
	if (dns_err_rank(h->st[0]) == 0 && dns_err_rank(h->st[1]) == 0)
		return S2SD_EDNS_NODATA;
	return dns_err_rank(h->st[0]) >= dns_err_rank(h->st[1]) ? h->st[0]
	                                                        : h->st[1];
}

static void
dns_fill_cand(struct dns_cand_list *l, size_t c, const struct dns_host *h)
{
	size_t i;
	int fam;

	for (fam = 1; fam >= 0; fam--)
		for (i = 0; i < h->n[fam]; i++)
			dns_cand_add_addr(l, c,
			                  (const struct sockaddr *)&h->addrs[fam][i]);
	if (h->n[0] + h->n[1] == 0)
		dns_cand_set_err(l, c, dns_host_err(h));
	dns_cand_interleave(l, c);
}

/* Stage 3: the candidates in plan order, each with its addresses. */
static void
dns_lookup_complete(struct dns_lookup *lk)
{
	struct dns_cand_list *l = dns_lookup_partial(lk);
	const struct dns_srv_rec *r;
	int h, worst = 0;
	size_t i, c;

	if (lk->plan == NULL) {
		c = dns_cand_add(l, lk->domain, DNS_SRV_PORT, false, false, 0, 0,
		                 0);
		dns_fill_cand(l, c, &lk->hosts[0]);
	}
	for (i = 0; i < dns_srv_count(lk->plan); i++) {
		r = dns_srv_get(lk->plan, i);
		if ((h = dns_lookup_host(lk, r->target, false)) < 0)
			continue;
		c = dns_cand_add(l, r->target, r->port, r->direct_tls, true,
		                 r->prio, r->weight, r->ttl);
		dns_fill_cand(l, c, &lk->hosts[h]);
	}
	for (i = 0; i < dns_cand_count(l); i++)
		if (dns_err_rank(dns_cand_get(l, i)->err) > dns_err_rank(worst))
			worst = dns_cand_get(l, i)->err;
	dns__lookup_finish(lk, dns_cand_naddrs(l) > 0 ? 0 : worst, l);
}

static void
dns_lookup_step(struct dns_lookup *lk)
{
	if (lk->pending > 0 || lk->stage == DNS_STAGE_DONE)
		return;
	if (lk->stage == DNS_STAGE_SRV)
		dns_lookup_targets(lk);
	else
		dns_lookup_complete(lk);
}

/* RFC 6120 3.2.1: a domain that is an IP address ("192.0.2.1",
 * "[2001:db8::1]") is connected to directly, without DNS. */
static bool
dns_literal_ip(const char *domain, char *ip, size_t iplen)
{
	uint8_t bin[16];
	size_t n = strlen(domain);

	if (n >= 2 && domain[0] == '[' && domain[n - 1] == ']') {
		domain++;
		n -= 2;
	}
	if (n >= iplen)
		return false;
	memcpy(ip, domain, n);
	ip[n] = '\0';
	return inet_pton(AF_INET, ip, bin) == 1 ||
	       inet_pton(AF_INET6, ip, bin) == 1;
}

static void
dns_lookup_literal(struct dns_lookup *lk, const char *ip)
{
	struct dns_cand_list *l = dns_cand_new(lk->domain);
	size_t c = dns_cand_add(l, ip, DNS_SRV_PORT, false, false, 0, 0, 0);

	if (dns_cand_add_addr_str(l, c, ip) < 0)
		fatalx("%s: %s is not an address after all", __func__, ip);
	dns__lookup_finish(lk, 0, l);
}

static void
dns_lookup_srv(struct dns_lookup *lk)
{
	char *q;

	lk->pending++;  /* no completion while the queries go out */
	q = xasprintf("_xmpps-server._tcp.%s", lk->domain);
	dns__query(lk, q, DNS_MSG_T_SRV, 1);
	free(q);
	q = xasprintf("_xmpp-server._tcp.%s", lk->domain);
	dns__query(lk, q, DNS_MSG_T_SRV, 0);
	free(q);
	lk->pending--;
	dns_lookup_step(lk);
}

/* A-labels, lowercase, no trailing dot, LDH (and '_') labels only. */
static int
dns_domain_norm(const char *domain, char **out)
{
	char *ace = NULL, *s;
	size_t i, n;

	for (i = 0; domain[i] != '\0' && (unsigned char)domain[i] < 0x80; i++)
		;
	if (domain[i] != '\0') {
		if (idna_to_ascii_8z(domain, &ace, 0) != IDNA_SUCCESS)
			return -EINVAL;
		s = xstrdup(ace);
		free(ace);
	} else
		s = xstrdup(domain);
	n = strlen(s);
	if (n > 0 && s[n - 1] == '.')
		s[--n] = '\0';
	for (i = 0; i < n; i++) {
		s[i] = (char)tolower((unsigned char)s[i]);
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' &&
		    !(s[i] == '.' && i > 0 && s[i - 1] != '.'))
			break;
	}
	if (n == 0 || n > 253 || i < n || s[n - 1] == '.') {
		free(s);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

int
dns_resolve(struct dns_resolver *res, const char *domain, uint64_t connid,
            dns_resolve_cb *cb, void *arg, struct dns_lookup **out)
{
	char ip[INET6_ADDRSTRLEN], *name;
	struct dns_lookup *lk;
	bool literal = dns_literal_ip(domain, ip, sizeof(ip));

	if (out != NULL)
		*out = NULL;
	if (res->closing)
		return S2SD_ESHUTDOWN;
	if (literal)
		name = xstrdup(domain);
	else if (dns_domain_norm(domain, &name) < 0)
		return -EINVAL;
	lk = xcalloc(1, sizeof(*lk));
	lk->res = res;
	lk->domain = name;
	lk->connid = connid;
	lk->cb = cb;
	lk->arg = arg;
	lk->refs = 1;
	lk->next = res->active;
	if (res->active != NULL)
		res->active->prev = lk;
	res->active = lk;
	log_debug(LOG_SUB_DNS, connid, "resolve domain=%s", name);
	if (literal)
		dns_lookup_literal(lk, ip);
	else
		dns_lookup_srv(lk);
	if (out != NULL)
		*out = lk;
	return 0;
}

void
dns_lookup_cancel(struct dns_lookup *lk)
{
	if (lk->stage == DNS_STAGE_DONE) {
		/* Finished, callback not yet run: it reports the cancel. */
		dns_cand_free(lk->result);
		lk->result = NULL;
		lk->status = UV_ECANCELED;
		return;
	}
	dns__lookup_finish(lk, UV_ECANCELED, NULL);
}

