/* s2s_resume.c - XEP-0198 across streams: what happens to unacknowledged
 * stanzas when an outbound stream dies, and to the receiving side's
 * session when its transport dies.
 *
 * Sending side. The stanzas a dead stream did not get acknowledged must
 * neither be lost nor blindly sent twice: the peer may have handled some of
 * them before the connection broke. When the peer granted resumption, they
 * wait here ("orphans", one set per remote domain) while the routes of their
 * pairs connect again; the first stream authenticated towards that domain
 * sends <resume previd/>, and every route authenticated towards it is held
 * until the answer. <resumed h/> says how many the peer handled: those are
 * dropped, the rest go back to the front of their own routes, and the held
 * routes are released, so they go out first, counted in the resumed session.
 * <failed/> (the peer restarted, or its session expired) sends all of them
 * again: duplicates are then possible, as the peer's count is lost with its
 * state. Without resumption they are sent again at once, with the same
 * caveat. If a route fails instead, its orphans bounce like its queue
 * (remote-server-timeout: the peer had opened a stream).
 *
 * Receiving side. A session whose transport died (no closing handshake, no
 * stream error) is kept in the table with its handled count and the remote
 * domains authenticated on it, for sm_resume_timeout; a new stream on which
 * the same domains are authenticated may resume it. A stream still alive
 * with that session (the peer gave up on it first, e.g. on an ack time-out)
 * is closed and its count taken over. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "s2s/s2s_int.h"
#include "xmpp/stanza.h"

#define S2S_SM_TABLE_MAX 4096

struct s2s_orphans {
	char *remote;
	char *previd;
	uint32_t in_h;          /* XEP-0288: what the dead stream handled */
	struct s2s_sm_item *head, *tail;
	size_t n;
	uint64_t expires;
	struct s2s_link *resumer;       /* the stream that sent <resume/> */
	struct s2s_orphans *next;
};

void
s2s__sm_init(struct s2s *s)
{
	s->smtab = s2s_sm_table_new(S2S_SM_TABLE_MAX);
}

static struct s2s_orphans *
s2s_orphans_find(const struct s2s *s, const char *remote)
{
	struct s2s_orphans *o;

	for (o = s->orphans; o != NULL; o = o->next)
		if (strcmp(o->remote, remote) == 0)
			return o;
	return NULL;
}

static void
s2s_orphans_unlink(struct s2s *s, struct s2s_orphans *o)
{
	struct s2s_orphans **pp;

	for (pp = &s->orphans; *pp != NULL; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	while (o->head != NULL) {
		struct s2s_sm_item *it = o->head;
		o->head = it->next;
		s2s_sm_item_free(it);
	}
	free(o->remote);
	free(o->previd);
	free(o);
}

static void
s2s_sm_bounce(struct s2s *s, struct s2s_sm_item *it, const char *type,
              const char *cond, const char *why)
{
	char text[1200];

	snprintf(text, sizeof(text), "%.1000s: %s", it->remote, why);
	s2s__bounce(s, it->st, type, cond, text);
	it->st = NULL;
	s2s_sm_item_free(it);
}

/* Hand LIST back to the routes of its pairs, each pair's in order. */
static void
s2s_sm_requeue(struct s2s *s, struct s2s_sm_item *list)
{
	struct stanza **sts = NULL;
	struct s2s_sm_item *it, *next, *rest, **pp;
	char *local, *remote;
	size_t n, cap = 0;

	while (list != NULL) {
		local = xstrdup(list->local);
		remote = xstrdup(list->remote);
		/* Pull this pair's stanzas out, in order; keep the others. */
		n = 0;
		rest = NULL;
		pp = &rest;
		for (it = list; it != NULL; it = next) {
			next = it->next;
			if (strcmp(it->local, local) != 0 ||
			    strcmp(it->remote, remote) != 0) {
				*pp = it;
				pp = &it->next;
				continue;
			}
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				sts = xreallocarray(sts, cap, sizeof(*sts));
			}
			sts[n++] = it->st;
			it->st = NULL;
			s2s_sm_item_free(it);
		}
		*pp = NULL;
		metrics_series_add(metrics_series(METRICS_SM_RESENT, NULL, NULL,
		                                  NULL), (double)n);
		s2s_routes_requeue(s->routes, local, remote, sts, n,
		                   uv_now(s->loop));
		free(local);
		free(remote);
		list = rest;
	}
	free(sts);
	s2s__route_timer_arm(s);
}

/* Send every orphan of O again (no count from the peer), release. */
static void
s2s_orphans_resend(struct s2s *s, struct s2s_orphans *o, const char *why)
{
	struct s2s_sm_item *list = o->head;
	char *remote = xstrdup(o->remote);

	log_info(LOG_SUB_S2S, 0, "out sm resend-all remote=%s previd=%s "
	         "stanzas=%zu reason=\"%s\": duplicates possible", o->remote,
	         o->previd, o->n, why);
	o->head = o->tail = NULL;
	o->n = 0;
	s2s_orphans_unlink(s, o);
	s2s_sm_requeue(s, list);
	s2s__out_release_held(s, remote);
	free(remote);
}

static struct s2s_orphans *
s2s_orphans_by_resumer(const struct s2s *s, const struct s2s_link *l)
{
	struct s2s_orphans *o;

	for (o = s->orphans; o != NULL; o = o->next)
		if (o->resumer == l)
			return o;
	return NULL;
}

/* Take the unacknowledged stanzas of a dead stream (in order). */
static struct s2s_sm_item *
s2s_sm_take_all(struct s2s_link *l, size_t *n)
{
	struct s2s_sm_item *head = NULL, **tail = &head, *it;

	*n = 0;
	while ((it = s2s_conn_sm_take(l->conn)) != NULL) {
		*tail = it;
		tail = &it->next;
		(*n)++;
	}
	return head;
}

/* Have the routes of O's pairs connect. A route may find a stream at
 * once (an inbound XEP-0288 stream) and take, resend or free O and its
 * items from inside the kick: the pairs are copied first and O is not
 * touched afterwards. */
static void
s2s_orphans_kick(struct s2s *s, struct s2s_orphans *o)
{
	struct s2s_sm_item *it;
	char **pairs = NULL;
	size_t n = 0, i;

	for (it = o->head; it != NULL; it = it->next) {
		for (i = 0; i < n; i += 2)
			if (strcmp(pairs[i], it->local) == 0 &&
			    strcmp(pairs[i + 1], it->remote) == 0)
				break;
		if (i < n)
			continue;
		pairs = xreallocarray(pairs, n + 2, sizeof(*pairs));
		pairs[n++] = xstrdup(it->local);
		pairs[n++] = xstrdup(it->remote);
	}
	for (i = 0; i < n; i += 2)
		s2s_routes_kick(s->routes, pairs[i], pairs[i + 1],
		                uv_now(s->loop));
	for (i = 0; i < n; i++)
		free(pairs[i]);
	free(pairs);
}

/* Keep LIST for a resumption of PREVID; have its routes connect. */
static void
s2s_orphans_new(struct s2s *s, const char *remote, const char *previd,
                uint32_t in_h, struct s2s_sm_item *list, size_t n)
{
	struct s2s_orphans *o = xcalloc(1, sizeof(*o));
	struct s2s_sm_item *it, **pp;

	o->remote = xstrdup(remote);
	o->previd = xstrdup(previd);
	o->in_h = in_h;
	o->head = list;
	for (it = list; it != NULL; it = it->next)
		o->tail = it;
	o->n = n;
	o->expires = uv_now(s->loop) + s->set.sm_resume_ms;
	o->next = s->orphans;
	s->orphans = o;
	/* Pairs whose route is in back-off cannot wait for a stream. */
	for (pp = &o->head; (it = *pp) != NULL;) {
		struct s2s_route *r = s2s_routes_find(s->routes, it->local,
		                                      it->remote);
		if (r == NULL || s2s_route_state(r) != S2S_ROUTE_BACKOFF) {
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		o->n--;
		s2s_sm_bounce(s, it, "wait", "remote-server-timeout",
		              "the stream died and the route is failing");
	}
	for (o->tail = NULL, it = o->head; it != NULL; it = it->next)
		o->tail = it;
	if (o->n == 0) {
		s2s_orphans_unlink(s, o);
		s2s__route_timer_arm(s);
		return;
	}
	s2s_orphans_kick(s, o);
	s2s__route_timer_arm(s);
}

void
s2s__sm_out_closed(struct s2s_link *l)
{
	struct s2s *s = l->s;
	const struct s2s_stream *st = s2s_conn_stream(l->conn);
	/* IN (a XEP-0288 stream we sent on): the session is the peer's to
	 * resume, not ours; what we sent goes back to the routes. */
	const char *previd = l->role == S2S_ROLE_OUT ? s2s_stream_sm_id(st)
	                                             : NULL;
	const char *remote = s2s_stream_remote(st);
	struct s2s_orphans *o;
	struct s2s_sm_item *list, *it;
	size_t n;

	/* A stream that died before the answer to its <resume/>: whether the
	 * peer took the session over is unknown, and routes may be held for
	 * it. Send everything again rather than hold them any longer (a
	 * second failure in a row; duplicates are possible then). */
	while ((o = s2s_orphans_by_resumer(s, l)) != NULL) {
		o->resumer = NULL;
		s2s_orphans_resend(s, o, "the stream resuming the session died");
	}
	if ((list = s2s_sm_take_all(l, &n)) == NULL)
		return;
	log_info(LOG_SUB_S2S, s2s_conn_id(l->conn), "out sm unacked remote=%s "
	         "stanzas=%zu previd=%s", remote, n,
	         previd != NULL ? previd : "-");
	if (s->closing) {
		while ((it = list) != NULL) {
			list = it->next;
			s2s_sm_bounce(s, it, "cancel", "service-unavailable",
			              "shutting down");
		}
	} else if (previd == NULL || s->set.sm_resume_ms == 0 ||
	           s2s_orphans_find(s, remote) != NULL) {
		log_info(LOG_SUB_S2S, s2s_conn_id(l->conn), "out sm resend "
		         "remote=%s stanzas=%zu: no resumable session, "
		         "duplicates possible", remote, n);
		s2s_sm_requeue(s, list);
	} else {
		s2s_orphans_new(s, remote, previd, s2s_stream_sm_h(st), list,
		                n);
	}
}

bool
s2s__sm_hold(struct s2s_link *l, const char *remote)
{
	struct s2s *s = l->s;
	struct s2s_orphans *o = s2s_orphans_find(s, remote);

	if (o == NULL)
		return false;
	if (o->resumer != NULL)
		return true;
	if (uv_now(s->loop) >= o->expires) {
		s2s_orphans_resend(s, o, "resumption window over");
		return false;
	}
	if (s2s_conn_sm_resume(l->conn, o->previd, o->in_h) == 0) {
		o->resumer = l;
		return true;
	}
	s2s_orphans_resend(s, o, "the new stream offers no stream management");
	return false;
}

static struct s2s_orphans *
s2s_orphans_of(struct s2s_link *l, const char *previd)
{
	struct s2s_orphans *o;

	for (o = l->s->orphans; o != NULL; o = o->next)
		if (o->resumer == l && strcmp(o->previd, previd) == 0)
			return o;
	return NULL;
}

bool
s2s__sm_cb_resumed(void *arg, struct s2s_conn *c, const char *previd,
                   uint32_t h)
{
	struct s2s_link *l = arg;
	struct s2s *s = l->s;
	struct s2s_orphans *o = s2s_orphans_of(l, previd);
	struct s2s_sm_item *it;
	uint32_t acked, base;
	char *remote;

	if (o == NULL)
		return true;
	/* The orphans are numbered base+1 .. base+n (mod 2^32); with none
	 * left (their route failed meanwhile) nothing can be acknowledged. */
	base = o->head != NULL ? o->head->seq - 1 : h;
	acked = h - base;
	if ((uint64_t)acked > (uint64_t)o->n) {
		log_warnx(LOG_SUB_S2S, s2s_conn_id(c), "out sm resumed with a "
		          "bad count previd=%s h=%lu first=%lu unacked=%zu",
		          previd, (unsigned long)h, (unsigned long)o->head->seq,
		          o->n);
		metrics_series_add(metrics_series(METRICS_SM_RESUMED, "out",
		                                  "bad-h", NULL), 1);
		return false;
	}
	log_info(LOG_SUB_S2S, s2s_conn_id(c), "out sm resumed remote=%s "
	         "previd=%s h=%lu handled=%lu resend=%zu", o->remote, previd,
	         (unsigned long)h, (unsigned long)acked, o->n - acked);
	metrics_series_add(metrics_series(METRICS_SM_RESUMED, "out", "ok",
	                                  NULL), 1);
	/* Handled by the peer: delivered, not to be sent again. */
	for (; acked > 0; acked--, o->n--) {
		it = o->head;
		o->head = it->next;
		s2s_sm_item_free(it);
	}
	it = o->head;
	o->head = o->tail = NULL;
	o->n = 0;
	remote = xstrdup(o->remote);
	s2s_orphans_unlink(s, o);
	s2s_sm_requeue(s, it);
	s2s__out_release_held(s, remote);
	free(remote);
	return true;
}

void
s2s__sm_cb_resume_failed(void *arg, struct s2s_conn *c, const char *previd)
{
	struct s2s_link *l = arg;
	struct s2s_orphans *o = s2s_orphans_of(l, previd);

	(void)c;
	if (o == NULL)
		return;
	metrics_series_add(metrics_series(METRICS_SM_RESUMED, "out", "failed",
	                                  NULL), 1);
	s2s_orphans_resend(l->s, o, "the peer could not resume the session");
}

void
s2s__sm_route_failed(struct s2s *s, const char *local, const char *remote)
{
	struct s2s_orphans *o = s2s_orphans_find(s, remote);
	struct s2s_sm_item *it, **pp;

	if (o == NULL)
		return;
	for (pp = &o->head; (it = *pp) != NULL;) {
		if (strcmp(it->local, local) != 0) {
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		o->n--;
		s2s_sm_bounce(s, it, "wait", "remote-server-timeout",
		              "the stream died and no new one could be set up");
	}
	for (o->tail = NULL, it = o->head; it != NULL; it = it->next)
		o->tail = it;
	if (o->n == 0 && o->resumer == NULL) {
		char *r = xstrdup(o->remote);
		s2s_orphans_unlink(s, o);
		s2s__out_release_held(s, r);
		free(r);
	}
}

/* ---- receiving side ---- */

void
s2s__sm_in_closed(struct s2s_link *l)
{
	const struct s2s_stream *st = s2s_conn_stream(l->conn);
	const char *remotes[64], *lo, *re;
	size_t i, k, n = 0;
	uint64_t now = uv_now(l->s->loop);

	if (l->s->set.sm_resume_ms == 0 || !s2s_stream_sm_resumable(st))
		return;
	for (i = 0; n < 64 && s2s_stream_pair_at(st, i, &lo, &re); i++) {
		for (k = 0; k < n && strcmp(remotes[k], re) != 0; k++)
			;
		if (k == n)
			remotes[n++] = re;
	}
	s2s_sm_table_put(l->s->smtab, s2s_stream_sm_id(st),
	                 s2s_stream_sm_h(st), remotes, n,
	                 now + l->s->set.sm_resume_ms, now);
	log_info(LOG_SUB_S2S, s2s_conn_id(l->conn), "in sm kept id=%s h=%lu "
	         "remote=%s for_ms=%llu", s2s_stream_sm_id(st),
	         (unsigned long)s2s_stream_sm_h(st), n > 0 ? remotes[0] : "-",
	         (unsigned long long)l->s->set.sm_resume_ms);
}

static bool
s2s_sm_authed(void *arg, const char *remote)
{
	return s2s_stream_has_remote(arg, remote);
}

/* An inbound stream still alive with session PREVID, other than L. */
static struct s2s_link *
s2s_sm_live(struct s2s *s, struct s2s_link *l, const char *previd)
{
	struct s2s_link *o;
	const char *id;

	for (o = s->links; o != NULL; o = o->next) {
		if (o == l || o->role != S2S_ROLE_IN || o->conn == NULL ||
		    o->closed)
			continue;
		id = s2s_stream_sm_id(s2s_conn_stream(o->conn));
		if (id != NULL && strcmp(id, previd) == 0)
			return o;
	}
	return NULL;
}

static void
s2s_sm_resume_result(struct s2s_conn *c, const char *previd, const char *res,
                     const char *remote)
{
	metrics_series_add(metrics_series(METRICS_SM_RESUMED, "in", res, NULL),
	                   1);
	if (strcmp(res, "refused") == 0)
		log_warnx(LOG_SUB_S2S, s2s_conn_id(c), "in sm resume-refused "
		          "previd=%s remote=%s: the session belongs to another "
		          "domain", previd, remote);
	else
		log_info(LOG_SUB_S2S, s2s_conn_id(c), "in sm resume-%s "
		         "previd=%s remote=%s", res, previd, remote);
}

bool
s2s__sm_cb_resume(void *arg, struct s2s_conn *c, const char *previd,
                  uint32_t *h)
{
	struct s2s_link *l = arg, *live;
	struct s2s *s = l->s;
	const struct s2s_stream *st = s2s_conn_stream(c);
	const char *remote = s2s_stream_remote(st) ? s2s_stream_remote(st)
	                                           : "-";
	uint64_t now = uv_now(s->loop);
	int rc;

	/* The peer may give up on a stream before we notice: its session is
	 * taken over as if its transport had died now. */
	if ((live = s2s_sm_live(s, l, previd)) != NULL)
		s2s__sm_in_closed(live);
	rc = s2s_sm_table_take(s->smtab, previd, s2s_sm_authed, (void *)st, h,
	                       now);
	if (rc == -EPERM && live != NULL)
		s2s_sm_table_del(s->smtab, previd);
	if (rc < 0) {
		s2s_sm_resume_result(c, previd, rc == -EPERM ? "refused"
		                                              : "unknown", remote);
		return false;
	}
	s2s_sm_resume_result(c, previd, "ok", remote);
	if (live != NULL) {
		log_info(LOG_SUB_S2S, s2s_conn_id(live->conn), "in sm "
		         "taken-over previd=%s by=%016llx", previd,
		         (unsigned long long)s2s_conn_id(c));
		s2s_conn_sm_forget(live->conn);
		s2s_conn_close(live->conn, S2SD_ESTREAM,
		               "the session was resumed on another stream");
	}
	return true;
}

/* ---- shutdown ---- */

void
s2s__sm_close(struct s2s *s)
{
	struct s2s_orphans *o;
	struct s2s_sm_item *it;

	while ((o = s->orphans) != NULL) {
		while ((it = o->head) != NULL) {
			o->head = it->next;
			s2s_sm_bounce(s, it, "cancel", "service-unavailable",
			              "shutting down");
		}
		s2s_orphans_unlink(s, o);
	}
}

void
s2s__sm_free(struct s2s *s)
{
	s2s__sm_close(s);
	s2s_sm_table_free(s->smtab);
	s->smtab = NULL;
}
