/* dns_connect.c - the connector; see dns_connect.h.
 *
 * The candidates are flattened into one array of attempts (one per address,
 * or a marker for a host without address) in the order to try. NEXT walks
 * it; RUNNING counts the connections in flight. Attempts are grouped by SRV
 * priority: racing across a priority boundary would let a fast backup beat
 * a slower primary, which RFC 2782 does not allow, so a new group waits
 * until the previous one has nothing in flight. Every handle (two timers of
 * the connector, a uv_tcp_t and a timer per started attempt) is counted;
 * the memory goes when the last close callback has run. */
#include "dns/dns_connect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"

#define DNS_CONNECT_TIMEOUT_MS 10000
#define DNS_CONNECT_RACE_MS 250

enum dns_att_state { DNS_ATT_IDLE, DNS_ATT_CONNECTING, DNS_ATT_OVER };

struct dns_attempt {
	struct dns_connect *dc;
	size_t cand, group;
	struct sockaddr_storage addr;   /* AF_UNSPEC: host without address */
	bool dup;                       /* same address already tried */
	enum dns_att_state state;
	uv_tcp_t *tcp;
	uv_connect_t req;
	uv_timer_t timer;
};

struct dns_connect_host {
	char *name;
	uint16_t port;
	bool direct_tls;
	int err;
};

struct dns_connect {
	uv_loop_t *loop;
	struct dns_connect_host *hosts;
	size_t nhosts;
	struct dns_attempt *att;
	size_t natt, next, group;
	int running, started, timeouts, handles;
	uv_timer_t kick, race;
	struct dns_connect_fail *fails;
	size_t nfails;
	dns_connect_cb *cb;
	void *arg;
	bool over, cancelled;
	uint32_t timeout_ms, race_ms;
	uint64_t connid, t0;
};

static void dns_connect_advance(struct dns_connect *dc);

static bool
dns_addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	size_t n = a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                    : sizeof(struct sockaddr_in);

	return a->ss_family == b->ss_family && memcmp(a, b, n) == 0;
}

static void
dns_connect_add_fail(struct dns_connect *dc, const struct dns_attempt *a,
                     int err)
{
	struct dns_connect_fail *f;
	char addr[64];

	dc->fails = xreallocarray(dc->fails, dc->nfails + 1, sizeof(*dc->fails));
	f = &dc->fails[dc->nfails++];
	f->host = dc->hosts[a->cand].name;
	f->port = dc->hosts[a->cand].port;
	f->addr = a->addr;
	f->err = err;
	dns_cand_addr_str(&a->addr, addr, sizeof(addr));
	log_debug(LOG_SUB_DNS, dc->connid, "connect fail host=%s addr=%s error=%s",
	          f->host, addr, err_name(err));
}

/* --- teardown ------------------------------------------------------------ */

static void
dns_connect_free(struct dns_connect *dc)
{
	size_t i;

	for (i = 0; i < dc->nhosts; i++)
		free(dc->hosts[i].name);
	free(dc->hosts);
	free(dc->att);
	free(dc->fails);
	free(dc);
}

static void
dns_connect_deliver(struct dns_connect *dc, int status,
                    const struct dns_attempt *win)
{
	struct dns_connect_result r;

	memset(&r, 0, sizeof(r));
	r.fails = dc->fails;
	r.nfails = dc->nfails;
	if (win != NULL) {
		r.tcp = win->tcp;
		r.cand = win->cand;
		r.direct_tls = dc->hosts[win->cand].direct_tls;
		r.addr = win->addr;
	}
	dc->cb(status, &r, dc->arg);
}

static void
dns_connect_handle_gone(struct dns_connect *dc)
{
	if (--dc->handles > 0)
		return;
	if (dc->cancelled)
		dns_connect_deliver(dc, UV_ECANCELED, NULL);
	dns_connect_free(dc);
}

static void
dns_connect_timer_closed(uv_handle_t *h)
{
	dns_connect_handle_gone(h->data);
}

static void
dns_attempt_timer_closed(uv_handle_t *h)
{
	struct dns_attempt *a = h->data;

	dns_connect_handle_gone(a->dc);
}

static void
dns_connect_tcp_closed(uv_handle_t *h)
{
	struct dns_attempt *a = h->data;

	free(h);
	dns_connect_handle_gone(a->dc);
}

static void
dns_tcp_free_cb(uv_handle_t *h)
{
	free(h);
}

void
dns_connect_tcp_close(uv_tcp_t *tcp)
{
	uv_close((uv_handle_t *)tcp, dns_tcp_free_cb);
}

/* Close an attempt in flight (its connect callback then sees ECANCELED
 * and OVER, and does nothing). */
static void
dns_attempt_close(struct dns_attempt *a)
{
	a->state = DNS_ATT_OVER;
	a->dc->running--;
	uv_close((uv_handle_t *)a->tcp, dns_connect_tcp_closed);
	uv_close((uv_handle_t *)&a->timer, dns_attempt_timer_closed);
	a->tcp = NULL;
}

/* The end, whatever it is: no more attempts, timers closed. */
static void
dns_connect_stop(struct dns_connect *dc)
{
	size_t i;

	dc->over = true;
	for (i = 0; i < dc->natt; i++)
		if (dc->att[i].state == DNS_ATT_CONNECTING)
			dns_attempt_close(&dc->att[i]);
	uv_close((uv_handle_t *)&dc->kick, dns_connect_timer_closed);
	uv_close((uv_handle_t *)&dc->race, dns_connect_timer_closed);
}

void
dns_connect_cancel(struct dns_connect *dc)
{
	if (dc->over)
		fatalx("%s: the connector has already called back", __func__);
	dc->cancelled = true;
	dns_connect_stop(dc);
}

/* --- attempts ------------------------------------------------------------ */

static void
dns_attempt_won(struct dns_attempt *a)
{
	struct dns_connect *dc = a->dc;
	char addr[64];

	dns_cand_addr_str(&a->addr, addr, sizeof(addr));
	log_debug(LOG_SUB_DNS, dc->connid,
	          "connect ok host=%s addr=%s direct_tls=%s ms=%llu",
	          dc->hosts[a->cand].name, addr,
	          dc->hosts[a->cand].direct_tls ? "yes" : "no",
	          (unsigned long long)(uv_now(dc->loop) - dc->t0));
	/* The winner's socket leaves our books: the caller owns it now. */
	a->state = DNS_ATT_OVER;
	dc->running--;
	uv_close((uv_handle_t *)&a->timer, dns_attempt_timer_closed);
	a->tcp->data = NULL;
	dc->handles--;
	dns_connect_stop(dc);
	dns_connect_deliver(dc, 0, a);
}

static void
dns_attempt_failed(struct dns_attempt *a, int err)
{
	struct dns_connect *dc = a->dc;

	dns_connect_add_fail(dc, a, err);
	if (err == UV_ETIMEDOUT)
		dc->timeouts++;
	dns_attempt_close(a);
	dns_connect_advance(dc);  /* RFC 8305 5: the next one starts now */
}

static void
dns_attempt_connect_cb(uv_connect_t *req, int status)
{
	struct dns_attempt *a = req->data;

	if (a->state != DNS_ATT_CONNECTING)
		return;  /* closed by us: status is UV_ECANCELED */
	if (status == 0)
		dns_attempt_won(a);
	else
		dns_attempt_failed(a, status);
}

static void
dns_attempt_timeout_cb(uv_timer_t *t)
{
	metrics_inc(METRICS_LIMIT_HITS, "connect_timeout");
	dns_attempt_failed(t->data, UV_ETIMEDOUT);
}

/* Returns 0 when the attempt is in flight, else the (recorded) error. */
static int
dns_attempt_start(struct dns_connect *dc, struct dns_attempt *a)
{
	char addr[64];
	int rc;

	a->tcp = xmalloc(sizeof(*a->tcp));
	if ((rc = uv_tcp_init(dc->loop, a->tcp)) < 0) {
		free(a->tcp);
		a->tcp = NULL;
		dns_connect_add_fail(dc, a, rc);
		return rc;
	}
	a->tcp->data = a;
	a->req.data = a;
	dc->handles++;
	dns_cand_addr_str(&a->addr, addr, sizeof(addr));
	log_debug(LOG_SUB_DNS, dc->connid, "connect try host=%s addr=%s",
	          dc->hosts[a->cand].name, addr);
	rc = uv_tcp_connect(&a->req, a->tcp, (struct sockaddr *)&a->addr,
	                    dns_attempt_connect_cb);
	if (rc < 0) {  /* no route, no IPv6 here, ...: next address */
		dns_connect_add_fail(dc, a, rc);
		uv_close((uv_handle_t *)a->tcp, dns_connect_tcp_closed);
		a->tcp = NULL;
		return rc;
	}
	uv_timer_init(dc->loop, &a->timer);
	a->timer.data = a;
	uv_timer_start(&a->timer, dns_attempt_timeout_cb, dc->timeout_ms, 0);
	dc->handles++;
	a->state = DNS_ATT_CONNECTING;
	dc->running++;
	dc->started++;
	return 0;
}

static void
dns_connect_race_cb(uv_timer_t *t)
{
	dns_connect_advance(t->data);
}

/* Start what may start now: the next attempt of the group in flight, or
 * of the next group when nothing is in flight. Ends the connector when
 * nothing is left. */
static void
dns_connect_advance(struct dns_connect *dc)
{
	struct dns_attempt *a;

	while (!dc->over && dc->next < dc->natt) {
		a = &dc->att[dc->next];
		if (dc->running > 0 && a->group != dc->group)
			return;
		dc->next++;
		if (a->dup)
			continue;
		if (a->addr.ss_family == AF_UNSPEC) {
			dns_connect_add_fail(dc, a, dc->hosts[a->cand].err);
			continue;
		}
		if (dns_attempt_start(dc, a) == 0) {
			dc->group = a->group;
			uv_timer_start(&dc->race, dns_connect_race_cb,
			               dc->race_ms, 0);
			return;
		}
	}
	if (!dc->over && dc->running == 0) {
		dns_connect_stop(dc);
		dns_connect_deliver(dc,
		                    dc->started > 0 && dc->timeouts == dc->started
		                        ? S2SD_ETIMEOUT
		                        : S2SD_ECONNECT,
		                    NULL);
	}
}

static void
dns_connect_kick_cb(uv_timer_t *t)
{
	dns_connect_advance(t->data);
}

/* --- setup --------------------------------------------------------------- */

static void
dns_connect_plan(struct dns_connect *dc, const struct dns_cand_list *l)
{
	const struct dns_cand *c;
	struct dns_attempt *a;
	size_t i, k, j, group = 0;

	dc->nhosts = dns_cand_count(l);
	dc->hosts = xcalloc(dc->nhosts, sizeof(*dc->hosts));
	dc->att = xcalloc(dns_cand_naddrs(l) + dc->nhosts, sizeof(*dc->att));
	for (i = 0; i < dc->nhosts; i++) {
		c = dns_cand_get(l, i);
		dc->hosts[i].name = xstrdup(c->host);
		dc->hosts[i].port = c->port;
		dc->hosts[i].direct_tls = c->direct_tls;
		dc->hosts[i].err = c->err != 0 ? c->err : S2SD_EDNS_NODATA;
		if (i > 0 && c->prio != dns_cand_get(l, i - 1)->prio)
			group++;
		for (k = 0; k < c->naddrs || (k == 0 && c->naddrs == 0); k++) {
			a = &dc->att[dc->natt++];
			a->dc = dc;
			a->cand = i;
			a->group = group;
			if (c->naddrs == 0)
				continue;  /* AF_UNSPEC: the host had none */
			a->addr = c->addrs[k];
			for (j = 0; j + 1 < dc->natt && !a->dup; j++)
				a->dup = dc->att[j].addr.ss_family != AF_UNSPEC &&
				         dns_addr_eq(&dc->att[j].addr, &a->addr) &&
				         dc->hosts[dc->att[j].cand].direct_tls ==
				             c->direct_tls;
		}
	}
}

int
dns_connect_start(uv_loop_t *loop, const struct dns_cand_list *cands,
                  const struct dns_connect_opts *opts, dns_connect_cb *cb,
                  void *arg, struct dns_connect **out)
{
	struct dns_connect *dc;

	if (out != NULL)
		*out = NULL;
	if (dns_cand_count(cands) == 0)
		return -EINVAL;
	dc = xcalloc(1, sizeof(*dc));
	dc->loop = loop;
	dc->cb = cb;
	dc->arg = arg;
	dc->connid = opts->connid;
	dc->timeout_ms = opts->attempt_timeout_ms ? opts->attempt_timeout_ms
	                                          : DNS_CONNECT_TIMEOUT_MS;
	dc->race_ms = opts->race_delay_ms ? opts->race_delay_ms
	                                  : DNS_CONNECT_RACE_MS;
	dc->t0 = uv_now(loop);
	dns_connect_plan(dc, cands);
	uv_timer_init(loop, &dc->kick);
	uv_timer_init(loop, &dc->race);
	dc->kick.data = dc->race.data = dc;
	dc->handles = 2;
	/* The first attempt starts from the loop: no callback can run
	 * before this returns. */
	uv_timer_start(&dc->kick, dns_connect_kick_cb, 0, 0);
	if (out != NULL)
		*out = dc;
	return 0;
}

void
dns_connect_fail_str(const struct dns_connect_fail *f, char *buf, size_t len)
{
	char addr[64];

	if (f->addr.ss_family == AF_UNSPEC)
		snprintf(buf, len, "%s:%u %s (%s)", f->host, f->port,
		         err_name(f->err), err_str(f->err));
	else {
		dns_cand_addr_str(&f->addr, addr, sizeof(addr));
		snprintf(buf, len, "%s %s %s (%s)", f->host, addr,
		         err_name(f->err), err_str(f->err));
	}
}
