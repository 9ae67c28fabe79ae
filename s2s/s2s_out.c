/* s2s_out.c - outbound attempts: for a route that asks to connect, resolve
 * the remote domain, connect to its candidates in order, and run an
 * s2s_conn until the pair is authenticated. A candidate that fails at any
 * step before that (connect, TLS, stream error, authentication) makes the
 * attempt move to the next one; in security "optional" a TLS handshake
 * failure is first retried on the same candidate without TLS. Only when
 * every candidate failed does the route fail.
 *
 * XEP-0288: before all that, a route uses an inbound bidirectional stream
 * on which its pair is authenticated (the peer initiated it and asked for
 * bidi); when that stream ends, the route connects on its own next time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "dns/dns.h"
#include "dns/dns_connect.h"
#include "policy/policy.h"
#include "s2s/s2s_int.h"
#include "xmpp/stanza.h"

struct s2s_attempt {
	struct s2s *s;
	struct s2s_route *route;
	char *local;
	char *remote;
	uint64_t connid;
	struct dns_lookup *lk;
	struct dns_connect *dc;
	struct dns_cand_list *cands;
	size_t cand;            /* candidate of the current connection */
	bool no_tls;            /* retrying without TLS (security optional) */
	bool opened;            /* a peer opened a stream at some point */
	bool ready;
	int last_err;
	int cancel_err;         /* why a lookup or connect was cancelled */
	bool piggy;             /* riding on another route's stream */
	bool held;              /* authenticated, waiting for a XEP-0198
	                         * resumption towards its remote domain */
	s2s_probe_done *probe;  /* a test attempt (route NULL): its result */
	void *probe_arg;
	bool draining;          /* shutdown: delivers its queue, then closes */
	struct s2s_link *link;  /* the connection, once connected */
	struct s2s_attempt *lnext;      /* next attempt on the same link */
	struct s2s_attempt *next, **prevp;
};

static void
s2s_out_attach(struct s2s_attempt *a, struct s2s_link *l)
{
	a->link = l;
	a->lnext = l->attempts;
	l->attempts = a;
}

static void
s2s_out_detach(struct s2s_attempt *a)
{
	struct s2s_attempt **pp;

	if (a->link == NULL)
		return;
	for (pp = &a->link->attempts; *pp != NULL; pp = &(*pp)->lnext)
		if (*pp == a) {
			*pp = a->lnext;
			break;
		}
	a->link = NULL;
	a->lnext = NULL;
}

static void s2s_out_connect_from(struct s2s_attempt *a, size_t first);

static void
s2s_out_free(struct s2s_attempt *a)
{
	s2s_out_detach(a);
	if (a->next != NULL)
		a->next->prevp = a->prevp;
	*a->prevp = a->next;
	dns_cand_free(a->cands);
	free(a->local);
	free(a->remote);
	free(a);
}

/* The route failed with ERR: bounce its queue, forget the attempt. */
static void
s2s_out_fail(struct s2s_attempt *a, int err)
{
	struct s2s *s = a->s;

	if (s->closing)
		err = S2SD_ESHUTDOWN;
	/* A server that cannot prove its identity is not the server of that
	 * domain: bounce as not found, whatever it said before. */
	if (strcmp(err_condition(err), "remote-server-not-found") == 0 &&
	    strncmp(err_name(err), "S2SD_ETLS", 9) == 0)
		a->opened = false;
	log_info(LOG_SUB_S2S, a->connid, "out route-failed local=%s remote=%s "
	         "reason=%s opened=%s", a->local, a->remote, err_name(err),
	         a->opened ? "yes" : "no");
	if (a->probe != NULL) {
		a->probe(a->probe_arg, err, NULL);
		s2s_out_free(a);
		s2s__maybe_done(s);
		return;
	}
	s2s_route_set_data(a->route, NULL);
	s2s_route_failed(a->route, err, a->opened, uv_now(s->loop));
	s2s__sm_route_failed(s, a->local, a->remote);
	s2s_out_free(a);
	s2s__route_timer_arm(s);
	s2s__maybe_done(s);
}

static void
s2s_out_on_connected(int status, const struct dns_connect_result *r,
                     void *arg)
{
	struct s2s_attempt *a = arg;
	struct s2s *s = a->s;
	const struct dns_cand *cand;
	struct s2s_conn_opts o;
	char addr[INET6_ADDRSTRLEN + 8], why[256];
	size_t i;

	a->dc = NULL;
	for (i = 0; i < r->nfails; i++) {
		dns_connect_fail_str(&r->fails[i], why, sizeof(why));
		log_info(LOG_SUB_S2S, a->connid, "out connect-failed remote=%s "
		         "%s", a->remote, why);
	}
	if (status < 0) {
		a->last_err = status == UV_ECANCELED ? a->cancel_err : status;
		s2s_out_fail(a, a->last_err);
		return;
	}
	a->cand += r->cand;
	cand = dns_cand_get(a->cands, a->cand);
	dns_cand_addr_str(&r->addr, addr, sizeof(addr));
	log_info(LOG_SUB_S2S, a->connid, "out connect domain=%s addr=%s via=%s "
	         "prio=%u tls=%s", a->remote, addr,
	         cand->via_srv ? "srv" : "fallback", cand->prio,
	         r->direct_tls ? "direct" : a->no_tls ? "off" : "starttls");
	s2s_out_attach(a, s2s__link_new(s, S2S_ROLE_OUT, NULL));
	s2s__conn_opts(s, S2S_ROLE_OUT, a->local, a->remote, &o);
	o.stream.direct_tls = r->direct_tls;
	o.stream.connid = a->connid;
	o.peer = addr;
	if (a->no_tls)
		o.stream.security = S2S_SEC_NONE;
	a->link->conn = s2s_conn_new(s->loop, r->tcp, &o, &s2s__conn_cbs,
	                             a->link);
}

/* Connect to the candidates from FIRST on (the connector tries them all). */
static void
s2s_out_connect_from(struct s2s_attempt *a, size_t first)
{
	struct dns_cand_list *tail;
	const struct dns_cand *c;
	struct dns_connect_opts co = {0};
	size_t i, k, n = dns_cand_count(a->cands);

	if (first >= n) {
		s2s_out_fail(a, a->last_err != 0 ? a->last_err : S2SD_ECONNECT);
		return;
	}
	tail = dns_cand_new(a->remote);
	for (i = first; i < n; i++) {
		c = dns_cand_get(a->cands, i);
		dns_cand_add(tail, c->host, c->port, c->direct_tls, c->via_srv,
		             c->prio, c->weight, c->ttl);
		for (k = 0; k < c->naddrs; k++)
			dns_cand_add_addr(tail, i - first,
			                  (const struct sockaddr *)&c->addrs[k]);
		if (c->err != 0)
			dns_cand_set_err(tail, i - first, c->err);
	}
	a->cand = first;
	co.attempt_timeout_ms = (uint32_t)a->s->set.connect_timeout_ms;
	co.connid = a->connid;
	if (dns_connect_start(a->s->loop, tail, &co, s2s_out_on_connected, a,
	                      &a->dc) < 0) {
		dns_cand_free(tail);
		s2s_out_fail(a, S2SD_ECONNECT);
		return;
	}
	dns_cand_free(tail);
}

/* What DNS said, in the order the candidates will be tried. */
static void
s2s_out_log_cands(const struct s2s_attempt *a)
{
	const struct dns_cand *c;
	char addrs[512], one[INET6_ADDRSTRLEN + 8];
	size_t i, k, n = dns_cand_count(a->cands), len;

	for (i = 0; i < n; i++) {
		c = dns_cand_get(a->cands, i);
		addrs[0] = '\0';
		for (k = 0, len = 0; k < c->naddrs && len < sizeof(addrs); k++) {
			dns_cand_addr_str(&c->addrs[k], one, sizeof(one));
			len += (size_t)snprintf(addrs + len, sizeof(addrs) - len,
			                        "%s%s", k > 0 ? "," : "", one);
		}
		log_debug(LOG_SUB_DNS, a->connid, "candidate %zu host=%s port=%u "
		          "via=%s prio=%u weight=%u tls=%s addrs=%s%s%s", i + 1,
		          c->host, c->port, c->via_srv ? "srv" : "fallback",
		          c->prio, c->weight, c->direct_tls ? "direct" : "starttls",
		          c->naddrs > 0 ? addrs : "none",
		          c->err != 0 ? " error=" : "",
		          c->err != 0 ? err_name(c->err) : "");
	}
}

static void
s2s_out_on_resolved(int status, struct dns_cand_list *cands, void *arg)
{
	struct s2s_attempt *a = arg;

	a->lk = NULL;
	if (status < 0) {
		dns_cand_free(cands);
		log_info(LOG_SUB_DNS, a->connid, "out resolve-failed remote=%s "
		         "reason=%s", a->remote, err_name(status));
		s2s_out_fail(a, status == UV_ECANCELED ? a->cancel_err
		                                       : status);
		return;
	}
	a->cands = cands;
	if (log_wants(LOG_LEVEL_DEBUG, LOG_SUB_DNS))
		s2s_out_log_cands(a);
	s2s_out_connect_from(a, 0);
}

static void
s2s_out_resolve(struct s2s_attempt *a)
{
	int rc = dns_resolve(a->s->dns, a->remote, a->connid,
	                     s2s_out_on_resolved, a, &a->lk);

	if (rc < 0)
		s2s_out_fail(a, rc);
}

/* A ready outbound stream to REMOTE that can take one more pair. */
static struct s2s_link *
s2s_out_piggy_link(struct s2s *s, const char *remote)
{
	struct s2s_link *l;
	const struct s2s_stream *st;

	for (l = s->links; l != NULL; l = l->next) {
		if (l->role != S2S_ROLE_OUT || l->vchan != NULL || l->closed ||
		    (l->attempts != NULL && l->attempts->probe != NULL))
			continue;
		st = s2s_conn_stream(l->conn);
		if (s2s_stream_can_add_pair(st) &&
		    strcmp(s2s_stream_remote(st), remote) == 0)
			return l;
	}
	return NULL;
}

/* XEP-0288: a ready inbound bidi stream on which (LOCAL, REMOTE) is an
 * authenticated pair: our stanzas for it may go there. */
static struct s2s_link *
s2s_out_bidi_link(struct s2s *s, const char *local, const char *remote)
{
	struct s2s_link *l;
	const struct s2s_stream *st;

	for (l = s->links; l != NULL; l = l->next) {
		if (l->role != S2S_ROLE_IN || l->conn == NULL || l->closed)
			continue;
		st = s2s_conn_stream(l->conn);
		if (s2s_stream_bidi(st) && s2s_stream_is_ready(st) &&
		    s2s_stream_has_pair(st, local, remote))
			return l;
	}
	return NULL;
}

static struct s2s_attempt *
s2s_out_attempt_new(struct s2s *s, const char *local, const char *remote,
                    uint64_t connid)
{
	struct s2s_attempt *a = xcalloc(1, sizeof(*a));

	a->s = s;
	a->local = xstrdup(local);
	a->remote = xstrdup(remote);
	a->connid = connid;
	a->cancel_err = S2SD_ESHUTDOWN;
	a->draining = s->closing;
	a->next = s->attempts;
	if (a->next != NULL)
		a->next->prevp = &a->next;
	a->prevp = &s->attempts;
	s->attempts = a;
	return a;
}

void
s2s__out_probe(struct s2s *s, const char *local, const char *remote,
               uint64_t connid, s2s_probe_done *done, void *arg)
{
	struct s2s_attempt *a = s2s_out_attempt_new(s, local, remote, connid);

	a->probe = done;
	a->probe_arg = arg;
	log_info(LOG_SUB_S2S, a->connid, "out test-start local=%s remote=%s",
	         a->local, a->remote);
	s2s_out_resolve(a);
}

static void
s2s_out_route_connect(void *arg, struct s2s_route *r)
{
	struct s2s *s = arg;
	struct s2s_attempt *a;
	struct s2s_link *l;

	a = s2s_out_attempt_new(s, s2s_route_local(r), s2s_route_remote(r),
	                        util_connid());
	a->route = r;
	s2s_route_set_data(r, a);
	log_debug(LOG_SUB_S2S, a->connid, "out route-start local=%s remote=%s",
	          a->local, a->remote);
	if ((l = s2s_out_bidi_link(s, a->local, a->remote)) != NULL) {
		log_info(LOG_SUB_S2S, s2s_conn_id(l->conn), "out route-bidi "
		         "local=%s remote=%s: on the peer's inbound stream",
		         a->local, a->remote);
		s2s_out_attach(a, l);
		s2s__out_authenticated(l, a->local, a->remote);
		return;
	}
	/* One TCP connection serves several local domains: piggyback on a
	 * ready stream to the same domain when dialback allows it. */
	if ((l = s2s_out_piggy_link(s, a->remote)) != NULL) {
		s2s_out_attach(a, l);
		a->piggy = true;
		if (s2s_conn_add_pair(l->conn, a->local) == 0)
			return;
		s2s_out_detach(a);
		a->piggy = false;
	}
	s2s_out_resolve(a);
}

/* XEP-0478: ST is larger than the peer said it accepts. Bounced with
 * policy-violation and no 'by' (the policy is the peer's), not sent into a
 * stream error that would cut the whole stream. */
static void
s2s_out_too_big(struct s2s *s, struct s2s_attempt *a, struct stanza *st)
{
	size_t max = s2s_stream_peer_max_bytes(s2s_conn_stream(a->link->conn));
	char text[320];

	metrics_inc(METRICS_LIMIT_HITS, "peer_max_bytes");
	log_info(LOG_SUB_S2S, s2s_conn_id(a->link->conn), "limit hit "
	         "limit=peer_max_bytes local=%s remote=%s max_bytes=%zu: "
	         "bounced policy-violation", a->local, a->remote, max);
	snprintf(text, sizeof(text), "%.200s accepts stanzas of at most %zu "
	         "bytes (XEP-0478 max-bytes)", a->remote, max);
	s2s__bounce(s, st, "modify", "policy-violation", text);
}

static void
s2s_out_route_send(void *arg, struct s2s_route *r, struct stanza *st)
{
	struct s2s *s = arg;
	struct s2s_attempt *a = s2s_route_data(r);
	int rc = -ENOTCONN;

	if (a != NULL && a->link != NULL)
		rc = s2s_conn_send(a->link->conn, st);
	if (rc == 0) {
		stanza_free(st);
		return;
	}
	if (rc == -EMSGSIZE) {
		s2s_out_too_big(s, a, st);
		return;
	}
	s2s__bounce(s, st, "wait", "remote-server-timeout",
	            "the stream to the remote server is gone");
}

static void
s2s_out_route_bounce(void *arg, struct stanza *reply)
{
	struct s2s *s = arg;

	s->cbs.deliver(s->arg, reply);
}

static void
s2s_out_route_drop(void *arg, struct stanza *st, int err)
{
	(void)arg;
	log_debug(LOG_SUB_S2S, 0, "drop undeliverable stanza that is not "
	          "answered reason=%s name=%s", err_name(err),
	          stanza_name(st));
	stanza_free(st);
}

/* Back-pressure: the route's stream is its attempt's link. */
static size_t
s2s_out_route_pending(void *arg, struct s2s_route *r, uint64_t *written_at)
{
	struct s2s_attempt *a = s2s_route_data(r);

	(void)arg;
	if (a == NULL || a->link == NULL || a->link->closed)
		return 0;
	*written_at = s2s_conn_last_written(a->link->conn);
	return s2s_conn_pending(a->link->conn);
}

/* The link's stream drained: every route on it may go on. Routes stay
 * valid until the route timer forgets them, so they are collected first:
 * a send may close the link and take its attempts apart. */
static void
s2s_out_drained(void *arg, struct s2s_conn *c)
{
	struct s2s_link *l = arg;
	struct s2s_route *small[8], **rs = small;
	struct s2s_attempt *a;
	size_t n = 0, i;

	(void)c;
	for (a = l->attempts; a != NULL; a = a->lnext)
		n += a->ready && a->route != NULL;
	if (n > UTIL_ARRAY_LEN(small))
		rs = xcalloc(n, sizeof(*rs));
	n = 0;
	for (a = l->attempts; a != NULL; a = a->lnext)
		if (a->ready && a->route != NULL)
			rs[n++] = a->route;
	for (i = 0; i < n; i++)
		s2s_route_drained(rs[i], uv_now(l->s->loop));
	if (rs != small)
		free(rs);
	s2s__route_timer_arm(l->s);
}

static void
s2s_out_route_watch(void *arg, struct s2s_route *r, size_t low)
{
	struct s2s_attempt *a = s2s_route_data(r);

	(void)arg;
	if (a != NULL && a->link != NULL && !a->link->closed)
		s2s_conn_watch_drain(a->link->conn, low, s2s_out_drained,
		                     a->link);
}

const struct s2s_route_cbs s2s__route_cbs = {
    s2s_out_route_connect, s2s_out_route_send,    s2s_out_route_bounce,
    s2s_out_route_drop,    s2s_out_route_pending, s2s_out_route_watch,
};

static struct s2s_attempt *
s2s_out_on_link(struct s2s_link *l, const char *local, const char *remote)
{
	struct s2s_attempt *a;

	for (a = l->attempts; a != NULL; a = a->lnext)
		if (!a->ready && strcmp(local, a->local) == 0 &&
		    strcmp(remote, a->remote) == 0)
			return a;
	return NULL;
}

void
s2s__out_authenticated(struct s2s_link *l, const char *local,
                       const char *remote)
{
	struct s2s_attempt *a = s2s_out_on_link(l, local, remote);
	struct s2s *s;

	if (a == NULL)
		return;
	/* XEP-0198: stanzas of a dead stream to this domain go first. */
	if (a->probe == NULL && s2s__sm_hold(l, remote)) {
		a->held = true;
		return;
	}
	s = a->s;
	a->ready = true;
	if (a->probe != NULL) {
		/* A test only: report, then close the stream properly. */
		a->probe(a->probe_arg, 0, l);
		a->probe = NULL;
		s2s_conn_close(l->conn, 0, NULL);
		return;
	}
	s2s_route_ready(a->route, uv_now(s->loop));
	s2s__route_timer_arm(s);
	/* Shutting down: the queue is on the stream now; close after it. */
	if (s->closing && !s2s__out_link_draining(l))
		s2s_conn_close(l->conn, 0, NULL);
}

void
s2s__out_release_held(struct s2s *s, const char *remote)
{
	struct s2s_attempt *a;

	/* From the head each time: a release may end other attempts. */
	for (;;) {
		for (a = s->attempts; a != NULL; a = a->next)
			if (a->held && strcmp(a->remote, remote) == 0)
				break;
		if (a == NULL)
			return;
		a->held = false;
		a->ready = true;
		s2s_route_ready(a->route, uv_now(s->loop));
		s2s__route_timer_arm(s);
	}
}

/* A piggybacked pair was refused: this route gets its own connection. */
void
s2s__out_pair_refused(struct s2s_link *l, const char *local,
                      const char *remote, int err)
{
	struct s2s_attempt *a = s2s_out_on_link(l, local, remote);

	if (a == NULL || !a->piggy)
		return;
	log_info(LOG_SUB_S2S, a->connid, "out piggyback-failed local=%s "
	         "remote=%s reason=%s: own connection", local, remote,
	         err_name(err));
	s2s_out_detach(a);
	a->piggy = false;
	if (a->s->closing)
		s2s_out_fail(a, S2SD_ESHUTDOWN);
	else
		s2s_out_resolve(a);
}

static void s2s_out_one_closed(struct s2s_attempt *a, struct s2s_link *l,
                               int err);

void
s2s__out_closed(struct s2s_link *l, int err)
{
	struct s2s_attempt *a;

	while ((a = l->attempts) != NULL) {
		s2s_out_detach(a);
		s2s_out_one_closed(a, l, err);
	}
}

static void
s2s_out_one_closed(struct s2s_attempt *a, struct s2s_link *l, int err)
{
	struct s2s *s = l->s;

	if (s2s_stream_peer_opened(s2s_conn_stream(l->conn)))
		a->opened = true;
	a->held = false;        /* not ready: it fails over like one */
	if (l->role == S2S_ROLE_IN && !a->ready) {
		/* XEP-0288: it waited on the peer's bidi stream (a resumption
		 * held it) and has no candidates of its own yet. */
		if (s->closing)
			s2s_out_fail(a, S2SD_ESHUTDOWN);
		else
			s2s_out_resolve(a);
		return;
	}
	if (a->ready && a->route == NULL) {
		s2s_out_free(a);                /* a test attempt, reported */
		return;
	}
	if (a->ready) {
		s2s_route_set_data(a->route, NULL);
		s2s_route_closed(a->route, uv_now(s->loop));
		s2s_out_free(a);
		s2s__route_timer_arm(s);
		return;
	}
	a->last_err = err != 0 ? err : S2SD_EPROTO;
	if (s->closing) {
		s2s_out_fail(a, S2SD_ESHUTDOWN);
	} else if (!policy_allows(s->pol, a->remote, POLICY_OUT)) {
		s2s_out_fail(a, S2SD_EPOLICY);
	} else if ((err == S2SD_ETLS_HANDSHAKE || err == S2SD_ETLS) &&
	           !a->no_tls && s->set.security == S2S_SEC_OPTIONAL) {
		/* "optional": TLS could not be set up; try again in clear and
		 * authenticate with dialback. */
		log_info(LOG_SUB_S2S, a->connid, "out retry-without-tls "
		         "remote=%s", a->remote);
		a->no_tls = true;
		s2s_out_connect_from(a, a->cand);
	} else {
		a->no_tls = false;
		s2s_out_connect_from(a, a->cand + 1);
	}
}

void
s2s__out_cancel_all(struct s2s *s)
{
	struct s2s_attempt *a, *next;
	size_t queued;

	for (a = s->attempts; a != NULL; a = next) {
		next = a->next;
		/* What waits for a stream being set up is bounced, except
		 * answers (errors, iq results), which cannot be: the attempt
		 * goes on to deliver those. */
		if (!a->ready && (queued = s2s_route_bounce_answerable(
		                      a->route, S2SD_ESHUTDOWN)) > 0) {
			a->draining = true;
			log_info(LOG_SUB_S2S, a->connid, "out drain local=%s "
			         "remote=%s answers=%zu", a->local, a->remote,
			         queued);
			continue;
		}
		a->cancel_err = S2SD_ESHUTDOWN;
		if (a->lk != NULL)
			dns_lookup_cancel(a->lk);
		else if (a->dc != NULL)
			dns_connect_cancel(a->dc);
	}
}

/* XEP-0288: the route of A, riding on the peer's inbound stream, may no
 * longer send: it leaves the stream, which stays for the other direction. */
static void
s2s_out_leave_bidi(struct s2s_attempt *a)
{
	struct s2s *s = a->s;

	s2s_out_detach(a);
	if (!a->ready) {
		s2s_out_fail(a, S2SD_EPOLICY);
		return;
	}
	s2s_route_set_data(a->route, NULL);
	s2s_route_closed(a->route, uv_now(s->loop));
	s2s_out_free(a);
	s2s__route_timer_arm(s);
}

bool
s2s__out_link_draining(const struct s2s_link *l)
{
	const struct s2s_attempt *a;

	for (a = l->attempts; a != NULL; a = a->lnext)
		if (a->draining && !a->ready)
			return true;
	return false;
}

void
s2s__out_policy_changed(struct s2s *s)
{
	struct s2s_attempt *a, *next;

	for (a = s->attempts; a != NULL; a = next) {
		next = a->next;
		if (policy_allows(s->pol, a->remote, POLICY_OUT))
			continue;
		log_info(LOG_SUB_POLICY, a->connid, "reload stops route "
		         "local=%s remote=%s", a->local, a->remote);
		if (a->route != NULL)
			s2s_route_flush_bounce(a->route, S2SD_EPOLICY);
		a->cancel_err = S2SD_EPOLICY;
		if (a->link != NULL && a->link->role == S2S_ROLE_IN)
			s2s_out_leave_bidi(a);
		else if (a->link != NULL)
			s2s_conn_close(a->link->conn, S2SD_EPOLICY,
			               "federation is no longer allowed by policy");
		else if (a->lk != NULL)
			dns_lookup_cancel(a->lk);
		else if (a->dc != NULL)
			dns_connect_cancel(a->dc);
	}
}
