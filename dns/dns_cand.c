/* dns_cand.c - the candidate list; see dns_cand.h. */
#include "dns/dns_cand.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/util.h"

/* The public view plus the storage behind its pointers. */
struct dns_cand_slot {
	struct dns_cand pub;
	char *host;
	struct sockaddr_storage *addrs;
	size_t cap;
};

struct dns_cand_list {
	char *domain;
	struct dns_cand_slot *c;
	size_t n, cap;
	int srv_status[2];            /* [direct_tls] */
	struct dns_srv_list *srv[2];
};

struct dns_cand_list *
dns_cand_new(const char *domain)
{
	struct dns_cand_list *l = xcalloc(1, sizeof(*l));

	l->domain = xstrdup(domain);
	l->srv_status[0] = l->srv_status[1] = 1;
	return l;
}

static struct dns_cand_slot *
dns_cand_slot(const struct dns_cand_list *l, size_t i)
{
	if (i >= l->n)
		fatalx("%s: index %zu of %zu", __func__, i, l->n);
	return &l->c[i];
}

size_t
dns_cand_add(struct dns_cand_list *l, const char *host, uint16_t port,
             bool direct_tls, bool via_srv, uint16_t prio, uint16_t weight,
             uint32_t ttl)
{
	struct dns_cand_slot *s;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->c = xreallocarray(l->c, l->cap, sizeof(*l->c));
	}
	s = &l->c[l->n];
	memset(s, 0, sizeof(*s));
	s->host = xstrdup(host);
	s->pub.host = s->host;
	s->pub.port = port;
	s->pub.direct_tls = direct_tls;
	s->pub.via_srv = via_srv;
	s->pub.prio = prio;
	s->pub.weight = weight;
	s->pub.ttl = ttl;
	return l->n++;
}

int
dns_cand_add_addr(struct dns_cand_list *l, size_t i, const struct sockaddr *sa)
{
	struct dns_cand_slot *s = dns_cand_slot(l, i);
	struct sockaddr_storage *ss;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (s->pub.naddrs == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4;
		s->addrs = xreallocarray(s->addrs, s->cap, sizeof(*s->addrs));
	}
	ss = &s->addrs[s->pub.naddrs++];
	memset(ss, 0, sizeof(*ss));
	if (sa->sa_family == AF_INET) {
		memcpy(ss, sa, sizeof(struct sockaddr_in));
		((struct sockaddr_in *)ss)->sin_port = htons(s->pub.port);
	} else {
		memcpy(ss, sa, sizeof(struct sockaddr_in6));
		((struct sockaddr_in6 *)ss)->sin6_port = htons(s->pub.port);
	}
	s->pub.addrs = s->addrs;
	return 0;
}

int
dns_cand_add_addr_str(struct dns_cand_list *l, size_t i, const char *ip)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		return dns_cand_add_addr(l, i, (struct sockaddr *)&sin);
	}
	if (inet_pton(AF_INET6, ip, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		return dns_cand_add_addr(l, i, (struct sockaddr *)&sin6);
	}
	return -EINVAL;
}

void
dns_cand_set_err(struct dns_cand_list *l, size_t i, int err)
{
	dns_cand_slot(l, i)->pub.err = err;
}

void
dns_cand_interleave(struct dns_cand_list *l, size_t i)
{
	struct dns_cand_slot *s = dns_cand_slot(l, i);
	struct sockaddr_storage *out;
	size_t n = s->pub.naddrs, k = 0, i6 = 0, i4 = 0;
	int want = AF_INET6;

	if (n < 2)
		return;
	out = xcalloc(n, sizeof(*out));
	while (k < n) {
		/* Take the next address of the wanted family, or of the other
		 * family once the wanted one is used up. */
		size_t *ix = want == AF_INET6 ? &i6 : &i4;

		while (*ix < n && s->addrs[*ix].ss_family != want)
			(*ix)++;
		if (*ix < n)
			out[k++] = s->addrs[(*ix)++];
		want = want == AF_INET6 ? AF_INET : AF_INET6;
	}
	memcpy(s->addrs, out, n * sizeof(*out));
	free(out);
}

void
dns_cand_set_srv(struct dns_cand_list *l, bool direct_tls, int status,
                 const struct dns_srv_list *srv)
{
	dns_srv_free(l->srv[direct_tls]);
	l->srv[direct_tls] = srv != NULL ? dns_srv_copy(srv) : NULL;
	l->srv_status[direct_tls] = status;
}

int
dns_cand_srv(const struct dns_cand_list *l, bool direct_tls,
             const struct dns_srv_list **srv)
{
	*srv = l->srv[direct_tls];
	return l->srv_status[direct_tls];
}

const char *
dns_cand_domain(const struct dns_cand_list *l)
{
	return l->domain;
}

size_t
dns_cand_count(const struct dns_cand_list *l)
{
	return l->n;
}

const struct dns_cand *
dns_cand_get(const struct dns_cand_list *l, size_t i)
{
	return &dns_cand_slot(l, i)->pub;
}

size_t
dns_cand_naddrs(const struct dns_cand_list *l)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		n += l->c[i].pub.naddrs;
	return n;
}

struct dns_cand_list *
dns_cand_copy(const struct dns_cand_list *l)
{
	struct dns_cand_list *c = dns_cand_new(l->domain);
	const struct dns_cand *p;
	size_t i, j, k;

	for (i = 0; i < l->n; i++) {
		p = &l->c[i].pub;
		k = dns_cand_add(c, p->host, p->port, p->direct_tls, p->via_srv,
		                 p->prio, p->weight, p->ttl);
		c->c[k].pub.err = p->err;
		for (j = 0; j < p->naddrs; j++)
			dns_cand_add_addr(c, k, (const struct sockaddr *)&p->addrs[j]);
	}
	dns_cand_set_srv(c, false, l->srv_status[0], l->srv[0]);
	dns_cand_set_srv(c, true, l->srv_status[1], l->srv[1]);
	return c;
}

void
dns_cand_free(struct dns_cand_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->c[i].host);
		free(l->c[i].addrs);
	}
	free(l->c);
	dns_srv_free(l->srv[0]);
	dns_srv_free(l->srv[1]);
	free(l->domain);
	free(l);
}

void
dns_cand_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
	} else
		snprintf(buf, len, "-");
}
