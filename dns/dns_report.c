/* dns_report.c - `s2sctl dns DOMAIN`; see dns_report.h.
 *
 * Procedural on purpose: the report owns its loop, so each step (resolve,
 * then one connect check per address) runs the loop until it is done. The
 * checks connect to one address at a time through the same connector s2sd
 * uses, so what the report says is what s2sd would see. */
#include "dns/dns_report.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "dns/dns.h"
#include "dns/dns_connect.h"

#define DNS_REPORT_TIMEOUT_MS 2000
#define DNS_REPORT_TRIES 2
#define DNS_REPORT_CONNECT_MS 5000

struct dns_report {
	bool done;
	int status;
	struct dns_cand_list *cands;
};

static void
dns_report_resolved(int status, struct dns_cand_list *cands, void *arg)
{
	struct dns_report *r = arg;

	r->done = true;
	r->status = status;
	r->cands = cands;
}

static void
dns_report_srv(FILE *out, const struct dns_cand_list *l, bool tls)
{
	const char *svc = tls ? "_xmpps-server._tcp" : "_xmpp-server._tcp";
	const struct dns_srv_list *srv;
	const struct dns_srv_rec *rec;
	int st = dns_cand_srv(l, tls, &srv);
	size_t i;

	if (st == 1)
		return;  /* an IP literal: no SRV lookup */
	if (st != 0) {
		fprintf(out, "%s.%s: %s (%s)\n", svc, dns_cand_domain(l),
		        err_name(st), err_str(st));
		return;
	}
	fprintf(out, "%s.%s: %zu record%s\n", svc, dns_cand_domain(l),
	        dns_srv_count(srv), dns_srv_count(srv) == 1 ? "" : "s");
	for (i = 0; i < dns_srv_count(srv); i++) {
		rec = dns_srv_get(srv, i);
		fprintf(out, "  priority %u weight %u port %u ttl %u  %s\n",
		        rec->prio, rec->weight, rec->port, rec->ttl, rec->target);
	}
}

static void
dns_report_connected(int status, const struct dns_connect_result *res,
                     void *arg)
{
	struct dns_report *r = arg;

	r->done = true;
	r->status = status;
	if (status == 0)
		dns_connect_tcp_close(res->tcp);
	if (status < 0 && res->nfails > 0)
		r->status = res->fails[0].err;  /* the real cause */
}

/* Connect to one address, the way s2sd's connector would. */
static int
dns_report_check(uv_loop_t *loop, const struct dns_cand *c, size_t k,
                 uint64_t *ms)
{
	struct dns_connect_opts opts = {DNS_REPORT_CONNECT_MS, 0, 0};
	struct dns_cand_list *one = dns_cand_new(c->host);
	struct dns_report r = {false, 0, NULL};
	size_t i = dns_cand_add(one, c->host, c->port, c->direct_tls, true, 0,
	                        0, 0);
	uint64_t t0 = uv_hrtime();

	dns_cand_add_addr(one, i, (const struct sockaddr *)&c->addrs[k]);
	if (dns_connect_start(loop, one, &opts, dns_report_connected, &r,
	                      NULL) == 0)
		uv_run(loop, UV_RUN_DEFAULT);
	dns_cand_free(one);
	*ms = (uv_hrtime() - t0) / 1000000;
	return r.status;
}

/* One candidate and its addresses; returns how many connected (with
 * checks) or how many addresses it has (without). */
static size_t
dns_report_cand(FILE *out, uv_loop_t *loop, const struct dns_cand *c,
                size_t n, bool try_connect)
{
	size_t k, good = 0;
	uint64_t ms;
	char addr[64];
	int rc;

	fprintf(out, "  %zu. %s:%u  %s  %s", n, c->host, c->port,
	        c->direct_tls ? "direct-tls" : "starttls",
	        c->via_srv ? "" : "(no SRV: the domain itself)");
	if (c->via_srv)
		fprintf(out, "priority %u weight %u", c->prio, c->weight);
	fprintf(out, "\n");
	if (c->naddrs == 0)
		fprintf(out, "       no address: %s (%s)\n", err_name(c->err),
		        err_str(c->err));
	for (k = 0; k < c->naddrs; k++) {
		dns_cand_addr_str(&c->addrs[k], addr, sizeof(addr));
		if (!try_connect) {
			fprintf(out, "       %s\n", addr);
			good++;
			continue;
		}
		rc = dns_report_check(loop, c, k, &ms);
		if (rc == 0)
			good++;
		fprintf(out, "       %-40s %s", addr,
		        rc == 0 ? "connect ok" : "connect failed: ");
		if (rc == 0)
			fprintf(out, " (%llu ms)\n", (unsigned long long)ms);
		else
			fprintf(out, "%s (%s)\n", err_name(rc), err_str(rc));
	}
	return good;
}

static int
dns_report_print(FILE *out, uv_loop_t *loop, const struct dns_report *r,
                 bool try_connect)
{
	const struct dns_cand_list *l = r->cands;
	size_t i, good = 0;

	if (l != NULL) {
		dns_report_srv(out, l, true);
		dns_report_srv(out, l, false);
	}
	if (l != NULL && dns_cand_count(l) > 0) {
		fprintf(out, "order s2sd would try (equal priorities are drawn "
		             "by weight: the order may differ next time):\n");
		for (i = 0; i < dns_cand_count(l); i++)
			good += dns_report_cand(out, loop, dns_cand_get(l, i),
			                        i + 1, try_connect);
	}
	if (r->status != 0) {
		fprintf(out, "result: not reachable: %s (%s; a peer gets %s)\n",
		        err_name(r->status), err_str(r->status),
		        err_condition(r->status));
		return DNS_REPORT_UNREACHABLE;
	}
	if (good == 0) {
		fprintf(out, "result: not reachable: no address accepted a "
		             "connection\n");
		return DNS_REPORT_UNREACHABLE;
	}
	fprintf(out, "result: reachable (%zu address%s %s)\n", good,
	        good == 1 ? "" : "es", try_connect ? "accepted" : "found");
	return DNS_REPORT_OK;
}

int
dns_report_run(const char *domain, const char *servers, bool try_connect,
               FILE *out)
{
	struct dns_resolver_opts opts = {servers, DNS_REPORT_TIMEOUT_MS,
	                                 DNS_REPORT_TRIES, 64, 0, 0, NULL, NULL};
	struct dns_report r = {false, 0, NULL};
	struct dns_resolver *res;
	uv_loop_t loop;
	char why[256];
	int rc;

	uv_loop_init(&loop);
	if ((rc = dns_resolver_new(&loop, &opts, &res, why, sizeof(why))) < 0) {
		fprintf(out, "resolver: %s\n", why);
		uv_loop_close(&loop);
		return DNS_REPORT_USAGE;
	}
	fprintf(out, "domain %s, resolver %s\n", domain,
	        servers != NULL && servers[0] != '\0' ? servers
	                                              : "/etc/resolv.conf");
	if ((rc = dns_resolve(res, domain, 0, dns_report_resolved, &r,
	                      NULL)) < 0)
		fprintf(out, "%s: not a domain name (%s)\n", domain, err_str(rc));
	else {
		uv_run(&loop, UV_RUN_DEFAULT);
		rc = dns_report_print(out, &loop, &r, try_connect);
	}
	dns_cand_free(r.cands);
	dns_resolver_close(res, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		fatalx("%s: handles left open", __func__);
	return rc < 0 ? DNS_REPORT_USAGE : rc;
}
