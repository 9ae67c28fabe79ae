/* s2s.c - the S2S service: settings, inbound connections and limits, the
 * connection callbacks shared by both directions, reload and shutdown; see
 * s2s.h. Outbound attempts are in s2s_out.c. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/htab.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "policy/policy.h"
#include "s2s/dialback.h"
#include "s2s/s2s_int.h"
#include "tls/tls_ctx.h"
#include "xmpp/jid.h"
#include "xmpp/stanza.h"

static bool s2s_attr_domain(const struct stanza *st, const char *name,
                            char *out, size_t outlen);

struct s2s_link *
s2s__link_new(struct s2s *s, enum s2s_role role, const char *addr)
{
	struct s2s_link *l = xcalloc(1, sizeof(*l));

	l->s = s;
	l->role = role;
	l->addr = addr != NULL ? xstrdup(addr) : NULL;
	l->next = s->links;
	if (l->next != NULL)
		l->next->prevp = &l->next;
	l->prevp = &s->links;
	s->links = l;
	s->nlinks++;
	return l;
}

/* Ready IN links by the remote domain of their stream, so that counting a
 * domain's streams looks at that domain's links only (a scan of every link
 * per handshake was a third of the CPU with 10,000 streams). */
static void
s2s_in_ready_add(struct s2s_link *l, const char *remote)
{
	if (l->in_remote != NULL || remote == NULL)
		return;
	l->in_remote = xstrdup(remote);
	l->in_next = htab_get(l->s->in_ready, remote);
	htab_put(l->s->in_ready, remote, l);
}

static void
s2s_in_ready_del(struct s2s_link *l)
{
	struct s2s_link *head, **pp;

	if (l->in_remote == NULL)
		return;
	head = htab_get(l->s->in_ready, l->in_remote);
	for (pp = &head; *pp != NULL && *pp != l; pp = &(*pp)->in_next)
		;
	if (*pp == NULL)
		fatalx("%s: link not indexed", __func__);
	*pp = l->in_next;
	if (head == NULL)
		htab_del(l->s->in_ready, l->in_remote);
	else
		htab_put(l->s->in_ready, l->in_remote, head);
	free(l->in_remote);
	l->in_remote = NULL;
}

static void
s2s_link_free(struct s2s_link *l)
{
	struct s2s *s = l->s;
	intptr_t n;

	s2s_in_ready_del(l);
	if (l->next != NULL)
		l->next->prevp = l->prevp;
	*l->prevp = l->next;
	s->nlinks--;
	if (l->addr != NULL) {
		n = (intptr_t)htab_get(s->per_addr, l->addr) - 1;
		if (n <= 0)
			htab_del(s->per_addr, l->addr);
		else
			htab_put(s->per_addr, l->addr, (void *)n);
	}
	free(l->addr);
	free(l);
}

/* Per-domain overrides from the policy apply to outbound streams, where the
 * remote domain is known before the stream starts. */
void
s2s__conn_opts(const struct s2s *s, enum s2s_role role, const char *local,
               const char *remote, struct s2s_conn_opts *o)
{
	struct policy_security ps;

	memset(o, 0, sizeof(*o));
	o->stream.role = role;
	o->stream.security = s->set.security;
	o->stream.require_valid_certs = s->set.require_valid_certs;
	o->stream.sasl_external = role == S2S_ROLE_IN ? s->set.sasl_in
	                                              : s->set.sasl_out;
	o->stream.dialback = s->db != NULL;
	o->stream.tls_available = s->tls != NULL && s->set.have_cert;
	o->stream.local = local;
	o->stream.remote = remote;
	o->stream.xml = s->set.xml;
	o->stream.step_timeout_ms = s->set.step_timeout_ms;
	o->stream.idle_ms = s->set.idle_ms;
	o->stream.sm = s->set.sm;
	o->stream.sm_opts.ack_every = s->set.sm_ack_every;
	o->stream.sm_opts.ack_interval_ms = s->set.sm_ack_interval_ms;
	o->stream.sm_opts.ack_timeout_ms = s->set.sm_ack_timeout_ms;
	o->stream.sm_resume_ms = s->set.sm_resume_ms;
	o->stream.bidi = s->set.bidi;
	o->tls = s->tls;
	o->idle_ms = s->set.idle_ms;
	o->keepalive_ms = s->set.keepalive_ms;
	if (role != S2S_ROLE_OUT || remote == NULL)
		return;
	policy_security(s->pol, remote, &ps);
	if (ps.security >= 0)
		o->stream.security = (enum s2s_security)ps.security;
	if (ps.certs_valid >= 0)
		o->stream.require_valid_certs = ps.certs_valid;
	if (ps.dialback == 0)
		o->stream.dialback = false;
}

void
s2s__bounce(struct s2s *s, struct stanza *st, const char *type,
            const char *cond, const char *text)
{
	struct stanza *reply = NULL;

	if (stanza_is_bounceable(st)) {
		reply = stanza_error_reply(st, type, cond, text);
		metrics_inc(METRICS_BOUNCES, cond);
	} else
		log_debug(LOG_SUB_S2S, 0, "drop unanswerable stanza "
		          "condition=%s", cond);
	stanza_free(st);
	if (reply != NULL)
		s->cbs.deliver(s->arg, reply);
}

/* ---- connection callbacks (both directions) ---- */

static bool
s2s_cb_is_local(void *arg, const char *domain)
{
	struct s2s_link *l = arg;

	return l->s->cbs.is_local(l->s->arg, domain);
}

static bool
s2s_cb_allowed_in(void *arg, const char *remote, char *why, size_t whylen)
{
	struct s2s_link *l = arg;
	struct policy_decision d;

	policy_check(l->s->pol, remote, POLICY_IN, &d);
	if (!d.allow) {
		metrics_inc(METRICS_POLICY_DENIALS, "in");
		snprintf(why, whylen, "federation with %s is not allowed (%s, "
		         "%s:%d)", remote, d.rule, d.file, d.line);
		log_info(LOG_SUB_POLICY, 0, "deny in remote=%s rule=\"%s\" "
		         "at=%s:%d", remote, d.rule, d.file, d.line);
	}
	return d.allow;
}

/* max_streams_per_domain: authenticated inbound streams from REMOTE, this
 * one included. Counted only once authenticated: a header's 'from' proves
 * nothing, and counting it would let anyone lock a domain out. */
static void
s2s_in_streams_limit(struct s2s_link *l, struct s2s_conn *c,
                     const char *remote)
{
	const struct s2s_link *o;
	const struct s2s_stream *st;
	size_t n = 0, max = l->s->set.max_streams_per_domain;

	s2s_in_ready_add(l, s2s_stream_remote(s2s_conn_stream(c)));
	if (max == 0)
		return;
	for (o = htab_get(l->s->in_ready, remote); o != NULL; o = o->in_next) {
		if (o->role != S2S_ROLE_IN || o->conn == NULL)
			continue;
		st = s2s_conn_stream(o->conn);
		if (s2s_stream_is_ready(st) && s2s_stream_remote(st) != NULL &&
		    strcmp(s2s_stream_remote(st), remote) == 0)
			n++;
	}
	if (n <= max)
		return;
	metrics_inc(METRICS_LIMIT_HITS, "max_streams_per_domain");
	log_warnx(LOG_SUB_S2S, s2s_conn_id(c), "limit hit "
	          "limit=max_streams_per_domain remote=%s streams=%zu max=%zu: "
	          "close", remote, n, max);
	s2s_conn_close(c, S2SD_ELIMIT, "too many streams from this domain");
}

static void
s2s_cb_authenticated(void *arg, struct s2s_conn *c, const char *local,
                     const char *remote, enum s2s_auth how)
{
	struct s2s_link *l = arg;
	const char *v = s2s_conn_tls_version(c);

	/* One line per pair when it becomes usable: operators and the interop
	 * suite read the authentication method and TLS version here. */
	log_info(LOG_SUB_S2S, s2s_conn_id(c), "stream ready dir=%s local=%s "
	         "remote=%s auth=%s tls=%s addr=%s",
	         l->role == S2S_ROLE_IN ? "in" : "out", local, remote,
	         s2s_auth_name(how), v != NULL ? v : "none",
	         s2s_conn_peer(c));
	metrics_series_add(metrics_series(METRICS_STREAMS_OPENED,
	                                  l->role == S2S_ROLE_IN ? "in" : "out",
	                                  s2s_auth_name(how), NULL), 1);
	if (l->role == S2S_ROLE_OUT)
		s2s__out_authenticated(l, local, remote);
	else
		s2s_in_streams_limit(l, c, remote);
}

/* Inbound rate of the sending domain (s2s_rate.h): pause this stream's
 * reads while the domain is in debt; close it once it has been over for
 * the grace period. Returns false when the stream was closed. */
static bool
s2s_in_rate(struct s2s_link *l, struct s2s_conn *c, const struct stanza *st)
{
	char domain[JID_PART_MAX + 1];
	enum s2s_rate_verdict v;
	uint64_t wait;
	size_t len = 0;

	if (!s2s_attr_domain(st, "from", domain, sizeof(domain)))
		return true;
	stanza_raw(st, &len);
	v = s2s_rate_charge(l->s->rate, domain, len, uv_now(l->s->loop), &wait);
	if (v == S2S_RATE_PAUSE) {
		if (s2s_conn_pause_reading(c, wait)) {
			metrics_inc(METRICS_LIMIT_HITS, "in_rate");
			log_info(LOG_SUB_S2S, s2s_conn_id(c), "limit hit "
			         "limit=in_rate remote=%s pause_ms=%llu", domain,
			         (unsigned long long)wait);
		}
	} else if (v == S2S_RATE_CLOSE) {
		metrics_inc(METRICS_LIMIT_HITS, "in_rate_grace");
		log_warnx(LOG_SUB_S2S, s2s_conn_id(c), "limit hit "
		          "limit=in_rate_grace remote=%s grace_ms=%llu: close",
		          domain, (unsigned long long)l->s->set.in_rate.grace_ms);
		return false;
	}
	return true;
}

static void
s2s_cb_stanza(void *arg, struct s2s_conn *c, struct stanza *st)
{
	struct s2s_link *l = arg;
	/* Inbound: on an IN stream, or on an OUT one with XEP-0288. */
	bool keep = s2s_in_rate(l, c, st);

	/* The stanza arrived authenticated: delivered even when it is the
	 * one that closes the stream. */
	l->s->cbs.deliver(l->s->arg, st);
	if (!keep)
		s2s_conn_close(c, S2SD_EPOLICY, "inbound rate limit exceeded "
		               "for longer than the grace period");
}

static void
s2s_cb_db_key(void *arg, const char *receiving, const char *originating,
              const char *id, char key[65])
{
	struct s2s_link *l = arg;

	dialback_key(l->s->db, receiving, originating, id, key);
}

static void
s2s_cb_db_verify(void *arg, struct s2s_conn *c, const char *local,
                 const char *remote, const char *id, const char *key)
{
	struct s2s_link *l = arg;

	s2s__verify_request(l->s, c, local, remote, id, key);
}

static void
s2s_cb_verify_result(void *arg, struct s2s_conn *c, const char *local,
                     const char *remote, const char *id, bool valid, int err)
{
	struct s2s_link *l = arg;

	(void)c;
	s2s__verify_result(l->s, l, local, remote, id, valid, err);
}

static void
s2s_cb_pair_refused(void *arg, struct s2s_conn *c, const char *local,
                    const char *remote, int err)
{
	struct s2s_link *l = arg;

	(void)c;
	s2s__out_pair_refused(l, local, remote, err);
}

static void
s2s_cb_closed(void *arg, struct s2s_conn *c, int err, const char *why)
{
	struct s2s_link *l = arg;
	struct s2s *s = l->s;

	(void)c;
	(void)why;
	/* What the callbacks below hand back to the routes may make a route
	 * look for a stream at once: never this one. */
	l->closed = true;
	if (l->vchan != NULL) {
		s2s__verify_chan_closed(l);
	} else if (l->role == S2S_ROLE_OUT) {
		s2s__out_closed(l, err);
		s2s__sm_out_closed(l);
	} else {
		/* XEP-0288: routes that sent on it, then what it sent and
		 * the peer did not acknowledge. */
		s2s__out_closed(l, err);
		s2s__sm_out_closed(l);
		s2s__sm_in_closed(l);
	}
	s2s_link_free(l);
	s2s__maybe_done(s);
}

const struct s2s_conn_cbs s2s__conn_cbs = {
    s2s_cb_is_local, s2s_cb_allowed_in, s2s_cb_authenticated,
    s2s_cb_stanza,   s2s_cb_db_key,     s2s_cb_db_verify,
    s2s_cb_verify_result, s2s_cb_pair_refused, s2s_cb_closed,
    s2s__sm_cb_resume, s2s__sm_cb_resumed, s2s__sm_cb_resume_failed,
};

/* ---- the service ---- */

static void
s2s_apply_settings(struct s2s *s, const struct s2s_settings *set)
{
	s->set = *set;
	dialback_secret_free(s->db);
	s->db = set->dialback_secret != NULL
	            ? dialback_secret_new(set->dialback_secret) : NULL;
	s->set.dialback_secret = NULL;  /* only the derived key is kept */
}

static void
s2s_on_route_timer(uv_timer_t *t)
{
	struct s2s *s = t->data;

	s2s_routes_tick(s->routes, uv_now(s->loop));
	s2s__route_timer_arm(s);
}

/* At each scrape: the open streams and what waits in the route queues. */
static void
s2s_metrics_collect(void *arg)
{
	const struct s2s *s = arg;
	const struct s2s_link *l;
	const char *v;
	size_t bytes = 0, n;

	metrics_clear(METRICS_STREAMS);
	metrics_clear(METRICS_BIDI_STREAMS);
	for (l = s->links; l != NULL; l = l->next) {
		if (s2s_stream_bidi(s2s_conn_stream(l->conn)))
			metrics_series_add(metrics_series(
			    METRICS_BIDI_STREAMS,
			    l->role == S2S_ROLE_IN ? "in" : "out", NULL, NULL), 1);
		v = s2s_conn_tls_version(l->conn);
		metrics_series_add(metrics_series(
		    METRICS_STREAMS, l->role == S2S_ROLE_IN ? "in" : "out",
		    s2s_auth_name(s2s_stream_auth(s2s_conn_stream(l->conn))),
		    v != NULL ? v : "none"), 1);
	}
	n = s->routes != NULL ? s2s_routes_queued(s->routes, &bytes) : 0;
	metrics_series_set(metrics_series(METRICS_QUEUE_STANZAS, NULL, NULL,
	                                  NULL), (double)n);
	metrics_series_set(metrics_series(METRICS_QUEUE_BYTES, NULL, NULL,
	                                  NULL), (double)bytes);
}

void
s2s__route_timer_arm(struct s2s *s)
{
	uint64_t next, now = uv_now(s->loop);

	if (s->routes == NULL)
		return;
	next = s2s_routes_deadline(s->routes);
	if (next == UINT64_MAX)
		uv_timer_stop(&s->route_timer);
	else
		uv_timer_start(&s->route_timer, s2s_on_route_timer,
		               next > now ? next - now : 0, 0);
}

static void
s2s_route_opts_from(const struct s2s_settings *set, struct s2s_route_opts *ro)
{
	memset(ro, 0, sizeof(*ro));
	ro->max_stanzas = set->queue_max_stanzas;
	ro->max_bytes = set->queue_max_bytes;
	ro->backoff_min_ms = set->backoff_min_ms;
	ro->backoff_max_ms = set->backoff_max_ms;
	ro->total_max_bytes = set->queue_total_bytes;
}

int
s2s_new(uv_loop_t *loop, const struct s2s_settings *set, struct tls_ctx *tls,
        struct dns_resolver *dns, struct policy *pol,
        const struct s2s_cbs *cbs, void *arg, struct s2s **out)
{
	struct s2s *s = xcalloc(1, sizeof(*s));
	struct s2s_route_opts ro;

	s->loop = loop;
	s2s_apply_settings(s, set);
	s->rate = s2s_rate_new(&set->in_rate);
	s->tls = tls != NULL ? tls_ctx_ref(tls) : NULL;
	s->pol = policy_ref(pol);
	s->dns = dns;
	s->cbs = *cbs;
	s->arg = arg;
	s->per_addr = htab_new(64);
	s->in_ready = htab_new(64);
	s2s_route_opts_from(set, &ro);
	s->routes = s2s_routes_new(&ro, &s2s__route_cbs, s);
	uv_timer_init(loop, &s->route_timer);
	s->route_timer.data = s;
	s2s__verify_init(s);
	s2s__sm_init(s);
	metrics_on_scrape(s2s_metrics_collect, s);
	*out = s;
	return 0;
}

void
s2s_accept(struct s2s *s, uv_tcp_t *client, const char *peer,
           bool direct_tls)
{
	struct s2s_conn_opts o;
	struct s2s_link *l;
	char addr[INET6_ADDRSTRLEN + 2];
	const char *limit = NULL;
	intptr_t n;
	int err = 0;

	/* Limits are per address, not per port. */
	snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(peer, "]"),
	         peer[0] == '[' ? peer + 1 : peer);
	if (peer[0] != '[')
		addr[strcspn(addr, ":")] = '\0';
	n = (intptr_t)htab_get(s->per_addr, addr);
	if (s->closing)
		err = S2SD_ESHUTDOWN;
	else if ((limit = s->nlinks >= s->set.max_conns ? "max_connections"
	                  : (size_t)n >= s->set.max_conns_per_addr
	                      ? "max_connections_per_addr" : NULL) != NULL)
		err = S2SD_ELIMIT;
	htab_put(s->per_addr, addr, (void *)(n + 1));
	l = s2s__link_new(s, S2S_ROLE_IN, addr);
	s2s__conn_opts(s, S2S_ROLE_IN, NULL, NULL, &o);
	o.stream.direct_tls = direct_tls;
	o.peer = peer;
	l->conn = s2s_conn_new(s->loop, client, &o, &s2s__conn_cbs, l);
	log_debug(LOG_SUB_S2S, s2s_conn_id(l->conn), "in accept peer=%s "
	          "direct_tls=%s", peer, direct_tls ? "yes" : "no");
	if (err != 0) {
		log_warnx(LOG_SUB_S2S, s2s_conn_id(l->conn), "in refuse peer=%s "
		          "reason=%s limit=%s connections=%zu from_addr=%ld",
		          peer, err_name(err), limit != NULL ? limit : "-",
		          s->nlinks, (long)n);
		if (limit != NULL)
			metrics_inc(METRICS_LIMIT_HITS, limit);
		s2s_conn_close(l->conn, err, err == S2SD_ELIMIT
		                                 ? "too many connections"
		                                 : "shutting down");
	}
}

/* Domain of the JID in attribute NAME into OUT; false when invalid. */
static bool
s2s_attr_domain(const struct stanza *st, const char *name, char *out,
                size_t outlen)
{
	const char *v = stanza_attr(st, name);
	struct jid *j = NULL;

	if (v == NULL || jid_parse(v, strlen(v), &j, NULL, 0) < 0)
		return false;
	snprintf(out, outlen, "%s", jid_domain(j));
	jid_free(j);
	return true;
}

void
s2s_send(struct s2s *s, struct stanza *st)
{
	char from[JID_PART_MAX + 1], to[JID_PART_MAX + 1], text[1200];
	struct policy_decision d;

	if (!s2s_attr_domain(st, "from", from, sizeof(from)) ||
	    !s2s_attr_domain(st, "to", to, sizeof(to))) {
		s2s__bounce(s, st, "modify", "jid-malformed",
		            "invalid 'from' or 'to'");
		return;
	}
	/* Shutting down: what can be answered is; an answer (an error
	 * reply for a remote sender, say) still takes its route, whose
	 * attempt delivers it before the service closes (not once the
	 * routes are gone: then it is dropped). */
	if (s->closing && (stanza_is_bounceable(st) || s->routes == NULL)) {
		s2s__bounce(s, st, "wait", "service-unavailable",
		            "the federation service is shutting down");
		return;
	}
	policy_check(s->pol, to, POLICY_OUT, &d);
	if (!d.allow) {
		metrics_inc(METRICS_POLICY_DENIALS, "out");
		log_info(LOG_SUB_POLICY, 0, "deny out remote=%s rule=\"%s\" "
		         "at=%s:%d", to, d.rule, d.file, d.line);
		snprintf(text, sizeof(text), "federation with %s is not allowed "
		         "by policy", to);
		s2s__bounce(s, st, "cancel", "not-allowed", text);
		return;
	}
	s2s_routes_submit(s->routes, from, to, st, uv_now(s->loop));
	s2s__route_timer_arm(s);
}

void
s2s_reconfigure(struct s2s *s, const struct s2s_settings *set,
                struct tls_ctx *tls, struct policy *pol)
{
	struct s2s_link *l, *next;
	const struct s2s_stream *st;
	struct s2s_route_opts ro;
	const char *remote;

	s2s_apply_settings(s, set);
	s2s_rate_set_opts(s->rate, &set->in_rate);
	s2s_route_opts_from(set, &ro);
	s2s_routes_set_limits(s->routes, &ro);
	if (tls != s->tls) {
		tls_ctx_unref(s->tls);
		s->tls = tls != NULL ? tls_ctx_ref(tls) : NULL;
	}
	policy_unref(s->pol);
	s->pol = policy_ref(pol);
	/* Inbound streams from domains now denied are closed, and outbound
	 * bidi streams that carry stanzas from them (XEP-0288: the direction
	 * cannot be turned off alone; their routes connect again, without
	 * bidi); outbound ones are otherwise handled with their routes. */
	for (l = s->links; l != NULL; l = next) {
		next = l->next;
		st = s2s_conn_stream(l->conn);
		remote = s2s_stream_remote(st);
		if ((l->role != S2S_ROLE_IN && !s2s_stream_bidi(st)) ||
		    remote == NULL || policy_allows(s->pol, remote, POLICY_IN))
			continue;
		log_info(LOG_SUB_POLICY, s2s_conn_id(l->conn), "reload closes "
		         "%s stream remote=%s", l->role == S2S_ROLE_IN ? "in"
		         : "out bidi", remote);
		s2s_conn_close(l->conn, S2SD_EPOLICY,
		               "federation is no longer allowed by policy");
	}
	s2s__out_policy_changed(s);
}

static void
s2s_on_timer_closed(uv_handle_t *h)
{
	struct s2s *s = h->data;
	void (*cb)(void *) = s->close_cb;
	void *arg = s->close_arg;

	metrics_off_scrape(s2s_metrics_collect, s);
	htab_free(s->per_addr, NULL);
	htab_free(s->in_ready, NULL);
	s2s__sm_free(s);
	s2s_rate_free(s->rate);
	dialback_secret_free(s->db);
	tls_ctx_unref(s->tls);
	policy_unref(s->pol);
	free(s);
	if (cb != NULL)
		cb(arg);
}

/* Shutdown completes when the last connection and attempt are gone. */
void
s2s__maybe_done(struct s2s *s)
{
	struct s2s_routes *routes;

	if (!s->closing || s->links != NULL || s->attempts != NULL ||
	    s->vchans != NULL || s->routes == NULL)
		return;
	routes = s->routes;
	s->routes = NULL;
	s2s_routes_free(routes, S2SD_ESHUTDOWN);
	/* Close callbacks run in uv_close() order: free after the last. */
	uv_close((uv_handle_t *)&s->route_timer, NULL);
	uv_close((uv_handle_t *)&s->verify_timer, s2s_on_timer_closed);
}

void
s2s_close(struct s2s *s, void (*cb)(void *arg), void *arg)
{
	struct s2s_link *l, *next;

	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	s2s__out_cancel_all(s);
	s2s__verify_close(s);
	s2s__sm_close(s);
	for (l = s->links; l != NULL; l = next) {
		next = l->next;
		if (!s2s__out_link_draining(l))
			s2s_conn_close(l->conn, 0, NULL);
	}
	s2s__maybe_done(s);
}

void
s2s_describe(const struct s2s *s, struct util_buf *out)
{
	const struct s2s_link *l;
	const struct s2s_stream *st;
	const char *v;

	for (l = s->links; l != NULL; l = l->next) {
		st = s2s_conn_stream(l->conn);
		v = s2s_conn_tls_version(l->conn);
		util_buf_printf(out, "%016llx %s local=%s remote=%s peer=%s "
		                "auth=%s tls=%s state=%s in=%llu out=%llu\n",
		                (unsigned long long)s2s_conn_id(l->conn),
		                l->role == S2S_ROLE_IN ? "in" : "out",
		                s2s_stream_local(st) ? s2s_stream_local(st) : "-",
		                s2s_stream_remote(st) ? s2s_stream_remote(st) : "-",
		                s2s_conn_peer(l->conn),
		                s2s_auth_name(s2s_stream_auth(st)),
		                v != NULL ? v : "none", s2s_stream_state_name(st),
		                (unsigned long long)s2s_conn_stanzas_in(l->conn),
		                (unsigned long long)s2s_conn_stanzas_out(l->conn));
	}
}

size_t
s2s_stream_count(const struct s2s *s)
{
	return s->nlinks;
}
