/* s2s_verify.c - the receiving role of dialback (XEP-0220 2.1.2): an
 * inbound stream asks whether a key is valid; we ask the authoritative
 * server of the originating domain with <db:verify/>, over a ready outbound
 * stream to that domain when there is one, otherwise over a verification
 * stream opened for it (DNS, connector, a verify-only s2s_conn that
 * authenticates nothing). Each request has its own time-out. Verification
 * traffic is not federated traffic: the policy does not apply to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "dns/dns.h"
#include "dns/dns_connect.h"
#include "s2s/s2s_int.h"

#define S2S_VERIFY_TICK_MS 250

struct s2s_vreq {
	uint64_t in_connid;     /* the inbound stream waiting (may be gone) */
	char *local, *remote, *id, *key;
	uint64_t deadline;
	struct s2s_vchan *chan; /* waiting for this channel to connect */
	struct s2s_vreq *next;
};

struct s2s_vchan {
	struct s2s *s;
	char *local, *remote;
	uint64_t connid;
	struct dns_lookup *lk;
	struct dns_connect *dc;
	struct dns_cand_list *cands;    /* kept for a retry without TLS */
	bool no_tls;            /* security optional: TLS failed, in clear */
	struct s2s_link *link;
	struct s2s_vchan *next, **prevp;
};

static void s2s_verify_arm(struct s2s *s);

struct s2s_link *
s2s__link_by_id(struct s2s *s, uint64_t connid)
{
	struct s2s_link *l;

	for (l = s->links; l != NULL; l = l->next)
		if (l->conn != NULL && s2s_conn_id(l->conn) == connid)
			return l;
	return NULL;
}

static void
s2s_vreq_free(struct s2s_vreq *r)
{
	free(r->local);
	free(r->remote);
	free(r->id);
	free(r->key);
	free(r);
}

/* Answer R to its inbound stream (if still there) and forget it. */
static void
s2s_vreq_answer(struct s2s *s, struct s2s_vreq *r, bool valid, int err)
{
	struct s2s_vreq **pp;
	struct s2s_link *l;

	for (pp = &s->vreqs; *pp != NULL && *pp != r; pp = &(*pp)->next)
		;
	if (*pp == r)
		*pp = r->next;
	log_info(LOG_SUB_S2S, r->in_connid, "in dialback-verified local=%s "
	         "remote=%s result=%s", r->local, r->remote,
	         err < 0 ? err_name(err) : valid ? "valid" : "invalid");
	if ((l = s2s__link_by_id(s, r->in_connid)) != NULL)
		s2s_conn_dialback_verified(l->conn, r->local, r->remote, valid,
		                           err);
	s2s_vreq_free(r);
}

static void
s2s_vchan_free(struct s2s_vchan *ch)
{
	if (ch->next != NULL)
		ch->next->prevp = ch->prevp;
	*ch->prevp = ch->next;
	dns_cand_free(ch->cands);
	free(ch->local);
	free(ch->remote);
	free(ch);
}

/* The channel could not be set up: every request waiting on it fails. */
static void
s2s_vchan_fail(struct s2s_vchan *ch, int err)
{
	struct s2s *s = ch->s;
	struct s2s_vreq *r, *next;

	for (r = s->vreqs; r != NULL; r = next) {
		next = r->next;
		if (r->chan == ch)
			s2s_vreq_answer(s, r, false, err);
	}
	s2s_vchan_free(ch);
	s2s__maybe_done(s);
}

static void
s2s_vchan_on_connected(int status, const struct dns_connect_result *res,
                       void *arg)
{
	struct s2s_vchan *ch = arg;
	struct s2s *s = ch->s;
	struct s2s_conn_opts o;
	struct s2s_vreq *r;
	char addr[INET6_ADDRSTRLEN + 8];

	ch->dc = NULL;
	if (status < 0) {
		s2s_vchan_fail(ch, status == UV_ECANCELED ? S2SD_ESHUTDOWN
		                                          : status);
		return;
	}
	dns_cand_addr_str(&res->addr, addr, sizeof(addr));
	log_info(LOG_SUB_S2S, ch->connid, "out verify-connect domain=%s "
	         "addr=%s", ch->remote, addr);
	ch->link = s2s__link_new(s, S2S_ROLE_OUT, NULL);
	ch->link->vchan = ch;
	s2s__conn_opts(s, S2S_ROLE_OUT, ch->local, ch->remote, &o);
	o.stream.verify_only = true;
	o.stream.direct_tls = res->direct_tls;
	if (ch->no_tls)
		o.stream.security = S2S_SEC_NONE;
	o.stream.connid = ch->connid;
	o.peer = addr;
	ch->link->conn = s2s_conn_new(s->loop, res->tcp, &o, &s2s__conn_cbs,
	                              ch->link);
	/* Hand every waiting request to the stream; it sends them when it can. */
	for (r = s->vreqs; r != NULL; r = r->next)
		if (r->chan == ch) {
			r->chan = NULL;
			s2s_conn_send_verify(ch->link->conn, r->local, r->remote,
			                     r->id, r->key);
		}
}

static void
s2s_vchan_connect(struct s2s_vchan *ch)
{
	struct dns_connect_opts co = {0};

	co.attempt_timeout_ms = (uint32_t)ch->s->set.connect_timeout_ms;
	co.connid = ch->connid;
	if (dns_connect_start(ch->s->loop, ch->cands, &co,
	                      s2s_vchan_on_connected, ch, &ch->dc) < 0)
		s2s_vchan_fail(ch, S2SD_ECONNECT);
}

static void
s2s_vchan_on_resolved(int status, struct dns_cand_list *cands, void *arg)
{
	struct s2s_vchan *ch = arg;

	ch->lk = NULL;
	if (status < 0) {
		dns_cand_free(cands);
		s2s_vchan_fail(ch, status == UV_ECANCELED ? S2SD_ESHUTDOWN
		                                          : status);
		return;
	}
	ch->cands = cands;
	s2s_vchan_connect(ch);
}

/* In security "optional" a verification stream whose TLS handshake failed
 * is retried in clear, as routes are. */
static bool
s2s_vchan_may_retry(const struct s2s_vchan *ch, int err)
{
	return (err == S2SD_ETLS_HANDSHAKE || err == S2SD_ETLS) && !ch->no_tls &&
	       ch->s->set.security == S2S_SEC_OPTIONAL && !ch->s->closing &&
	       ch->cands != NULL;
}

static struct s2s_vchan *
s2s_vchan_open(struct s2s *s, const char *local, const char *remote)
{
	struct s2s_vchan *ch = xcalloc(1, sizeof(*ch));

	ch->s = s;
	ch->local = xstrdup(local);
	ch->remote = xstrdup(remote);
	ch->connid = util_connid();
	ch->next = s->vchans;
	if (ch->next != NULL)
		ch->next->prevp = &ch->next;
	ch->prevp = &s->vchans;
	s->vchans = ch;
	if (dns_resolve(s->dns, remote, ch->connid, s2s_vchan_on_resolved, ch,
	                &ch->lk) < 0) {
		s2s_vchan_free(ch);
		return NULL;
	}
	return ch;
}

/* A ready stream to REMOTE that can carry <db:verify/>: an authenticated
 * outbound one, or a verification stream already open. */
static struct s2s_link *
s2s_verify_find_link(struct s2s *s, const char *remote)
{
	struct s2s_link *l;
	const struct s2s_stream *st;

	for (l = s->links; l != NULL; l = l->next) {
		if (l->role != S2S_ROLE_OUT || l->conn == NULL || l->closed)
			continue;
		st = s2s_conn_stream(l->conn);
		if (s2s_stream_is_closed(st) || s2s_stream_remote(st) == NULL ||
		    strcmp(s2s_stream_remote(st), remote) != 0)
			continue;
		if (s2s_stream_is_ready(st) || l->vchan != NULL)
			return l;
	}
	return NULL;
}

void
s2s__verify_request(struct s2s *s, struct s2s_conn *c, const char *local,
                    const char *remote, const char *id, const char *key)
{
	struct s2s_vreq *r = xcalloc(1, sizeof(*r));
	struct s2s_link *l;
	struct s2s_vchan *ch;

	r->in_connid = s2s_conn_id(c);
	r->local = xstrdup(local);
	r->remote = xstrdup(remote);
	r->id = xstrdup(id);
	r->key = xstrdup(key);
	r->deadline = uv_now(s->loop) + s->set.dialback_timeout_ms;
	r->next = s->vreqs;
	s->vreqs = r;
	log_debug(LOG_SUB_S2S, r->in_connid, "in dialback-verify-ask local=%s "
	          "remote=%s", local, remote);
	if (s->closing) {
		s2s_vreq_answer(s, r, false, S2SD_ESHUTDOWN);
		return;
	}
	if ((l = s2s_verify_find_link(s, remote)) != NULL) {
		s2s_conn_send_verify(l->conn, local, remote, id, key);
	} else {
		for (ch = s->vchans; ch != NULL; ch = ch->next)
			if (ch->link == NULL && strcmp(ch->remote, remote) == 0)
				break;
		if (ch == NULL && (ch = s2s_vchan_open(s, local, remote)) ==
		                      NULL) {
			s2s_vreq_answer(s, r, false, S2SD_ECONNECT);
			return;
		}
		r->chan = ch;
	}
	s2s_verify_arm(s);
}

void
s2s__verify_result(struct s2s *s, struct s2s_link *l, const char *local,
                   const char *remote, const char *id, bool valid, int err)
{
	struct s2s_vreq *r;

	for (r = s->vreqs; r != NULL; r = r->next) {
		if (r->chan != NULL || strcmp(r->local, local) != 0 ||
		    strcmp(r->remote, remote) != 0 || strcmp(r->id, id) != 0)
			continue;
		if (l->vchan != NULL && err < 0 && s2s_vchan_may_retry(l->vchan,
		                                                       err)) {
			r->chan = l->vchan;   /* asked again after the retry */
			return;
		}
		s2s_vreq_answer(s, r, valid, err);
		return;
	}
}

/* A verification stream ended. Requests it could not carry because TLS
 * failed are retried in clear; the others were answered by the stream. */
void
s2s__verify_chan_closed(struct s2s_link *l)
{
	struct s2s_vchan *ch = l->vchan;
	struct s2s_vreq *r;

	l->vchan = NULL;
	ch->link = NULL;
	for (r = ch->s->vreqs; r != NULL; r = r->next)
		if (r->chan == ch)
			break;
	if (r != NULL && !ch->no_tls && !ch->s->closing) {
		log_info(LOG_SUB_S2S, ch->connid, "out verify-retry-without-tls "
		         "remote=%s", ch->remote);
		ch->no_tls = true;
		s2s_vchan_connect(ch);
		return;
	}
	if (r != NULL)
		s2s_vchan_fail(ch, S2SD_ETLS_HANDSHAKE);
	else
		s2s_vchan_free(ch);
}

static void
s2s_verify_on_tick(uv_timer_t *t)
{
	struct s2s *s = t->data;
	struct s2s_vreq *r, *next;
	uint64_t now = uv_now(s->loop);

	for (r = s->vreqs; r != NULL; r = next) {
		next = r->next;
		if (now >= r->deadline) {
			metrics_inc(METRICS_LIMIT_HITS, "dialback_timeout");
			s2s_vreq_answer(s, r, false, S2SD_ETIMEOUT);
		}
	}
	s2s_verify_arm(s);
}

static void
s2s_verify_arm(struct s2s *s)
{
	if (s->vreqs == NULL)
		uv_timer_stop(&s->verify_timer);
	else if (!uv_is_active((uv_handle_t *)&s->verify_timer))
		uv_timer_start(&s->verify_timer, s2s_verify_on_tick,
		               S2S_VERIFY_TICK_MS, S2S_VERIFY_TICK_MS);
}

void
s2s__verify_init(struct s2s *s)
{
	uv_timer_init(s->loop, &s->verify_timer);
	s->verify_timer.data = s;
}

/* Shutdown: answer everything, stop lookups and connects under way. */
void
s2s__verify_close(struct s2s *s)
{
	struct s2s_vchan *ch, *next;

	while (s->vreqs != NULL)
		s2s_vreq_answer(s, s->vreqs, false, S2SD_ESHUTDOWN);
	for (ch = s->vchans; ch != NULL; ch = next) {
		next = ch->next;
		if (ch->lk != NULL)
			dns_lookup_cancel(ch->lk);
		else if (ch->dc != NULL)
			dns_connect_cancel(ch->dc);
	}
	uv_timer_stop(&s->verify_timer);
}
