/* s2s_route.c - outbound routes per (local, remote) domain pair; see
 * s2s_route.h.
 *
 * Each route has a FIFO of stanzas waiting for its stream, a state, a count
 * of consecutive failures and at most one timer: the end of its back-off
 * window (BACKOFF) or the time it is forgotten (IDLE with nothing queued).
 * Timers live in one binary min-heap so that s2s_routes_deadline() is O(1)
 * and s2s_routes_tick() O(k log n) however many routes there are.
 *
 * Every path that hands a whole queue on (failure, policy flush, shutdown)
 * first detaches it from the route and only then runs callbacks: a callback
 * that submits to the same route again sees an empty queue and a settled
 * state, so nothing is bounced twice and nothing new is swept up with the
 * old queue. */
#include "s2s/s2s_route.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/htab.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "xmpp/stanza.h"

/* Keys are "local\nremote"; most fit this buffer, longer ones are
 * allocated. */
#define ROUTE_KEY_BUF 512
#define ROUTE_NO_TIMER UINT64_MAX
#define ROUTE_NOT_IN_HEAP SIZE_MAX

struct route_item {
	struct route_item *next;
	struct stanza *st;
	size_t size;                    /* serialised bytes, for the bound */
};

/* A detached queue, handed on after the route is settled. */
struct route_list {
	struct route_item *head, *tail;
	size_t count, bytes;
};

struct s2s_route {
	struct s2s_routes *t;
	char *key;                      /* "local\nremote" */
	char *local, *remote;
	uint64_t id;                    /* connection id for log lines */
	enum s2s_route_state state;
	struct route_list q;
	unsigned failures;
	int last_err;                   /* of the last failure */
	bool last_opened;
	bool sm_opened;                 /* holds stanzas a peer had opened a
	                                 * stream for (s2s_routes_requeue) */
	uint64_t backoff_until;
	uint64_t timer_at;              /* ROUTE_NO_TIMER: none */
	size_t heap_idx;
	struct flow_gate gate;          /* back-pressure while READY */
	void *data;
	struct s2s_route *prev, *next;  /* every route of the table */
};

struct s2s_routes {
	struct s2s_route_opts opts;
	struct s2s_route_cbs cbs;
	void *arg;
	struct htab *byname;
	struct s2s_route *all;
	struct s2s_route **heap;
	size_t nheap, capheap;
	struct util_buf sizebuf;        /* reused to measure stanzas */
	size_t total_bytes;             /* queued on all routes */
	int closing_err;                /* s2s_routes_free() under way */
};

/* RFC 6120 8.3.3: the error type each defined condition usually takes. */
static const struct {
	const char *cond;
	const char *type;
} route_cond_types[] = {
    {"bad-request", "modify"},
    {"conflict", "cancel"},
    {"feature-not-implemented", "cancel"},
    {"forbidden", "auth"},
    {"gone", "cancel"},
    {"internal-server-error", "cancel"},
    {"item-not-found", "cancel"},
    {"jid-malformed", "modify"},
    {"not-acceptable", "modify"},
    {"not-allowed", "cancel"},
    {"not-authorized", "auth"},
    {"policy-violation", "modify"},
    {"recipient-unavailable", "wait"},
    {"redirect", "modify"},
    {"registration-required", "auth"},
    {"remote-server-not-found", "cancel"},
    {"remote-server-timeout", "wait"},
    {"resource-constraint", "wait"},
    {"service-unavailable", "cancel"},
    {"subscription-required", "auth"},
    {"undefined-condition", "cancel"},
    {"unexpected-request", "wait"},
};

static const char *const route_state_names[] = {
    [S2S_ROUTE_IDLE] = "idle",
    [S2S_ROUTE_CONNECTING] = "connecting",
    [S2S_ROUTE_READY] = "ready",
    [S2S_ROUTE_BACKOFF] = "backoff",
};

/* Conditions and error types. */

/* The error type for CONDITION, or NULL when it is no stanza condition
 * (err_condition() also yields stream-only ones such as not-well-formed). */
static const char *
route_cond_type(const char *cond)
{
	size_t i;

	for (i = 0; i < UTIL_ARRAY_LEN(route_cond_types); i++)
		if (strcmp(route_cond_types[i].cond, cond) == 0)
			return route_cond_types[i].type;
	return NULL;
}

/* The stanza condition for ERR outside of a failed attempt (queue full,
 * policy, shutdown). */
static const char *
route_err_cond(int err)
{
	const char *cond = err_condition(err);

	return route_cond_type(cond) != NULL ? cond : "undefined-condition";
}

/* The condition for a failed attempt. A peer that opened a stream was found,
 * so whatever went wrong afterwards is a time-out from the sender's point of
 * view; so is a stream-level error, which also means the peer spoke. */
static const char *
route_fail_cond(int err, bool opened)
{
	const char *cond = err_condition(err);

	if (opened || route_cond_type(cond) == NULL)
		return "remote-server-timeout";
	return cond;
}

/* The timer heap. */

static void
route_heap_place(struct s2s_routes *t, size_t i, struct s2s_route *r)
{
	t->heap[i] = r;
	r->heap_idx = i;
}

static void
route_heap_up(struct s2s_routes *t, size_t i)
{
	struct s2s_route *r = t->heap[i];
	size_t parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (t->heap[parent]->timer_at <= r->timer_at)
			break;
		route_heap_place(t, i, t->heap[parent]);
		i = parent;
	}
	route_heap_place(t, i, r);
}

static void
route_heap_down(struct s2s_routes *t, size_t i)
{
	struct s2s_route *r = t->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= t->nheap)
			break;
		if (c + 1 < t->nheap &&
		    t->heap[c + 1]->timer_at < t->heap[c]->timer_at)
			c++;
		if (r->timer_at <= t->heap[c]->timer_at)
			break;
		route_heap_place(t, i, t->heap[c]);
		i = c;
	}
	route_heap_place(t, i, r);
}

static void
route_heap_remove(struct s2s_routes *t, struct s2s_route *r)
{
	size_t i = r->heap_idx;
	struct s2s_route *last;

	if (i == ROUTE_NOT_IN_HEAP)
		return;
	r->heap_idx = ROUTE_NOT_IN_HEAP;
	last = t->heap[--t->nheap];
	if (last == r)
		return;
	route_heap_place(t, i, last);
	route_heap_up(t, i);
	route_heap_down(t, last->heap_idx);
}

/* Arm R's single timer at AT, or disarm it (ROUTE_NO_TIMER). */
static void
route_set_timer(struct s2s_route *r, uint64_t at)
{
	struct s2s_routes *t = r->t;

	route_heap_remove(t, r);
	r->timer_at = at;
	if (at == ROUTE_NO_TIMER)
		return;
	if (t->nheap == t->capheap) {
		t->capheap = t->capheap ? 2 * t->capheap : 16;
		t->heap = xreallocarray(t->heap, t->capheap, sizeof(*t->heap));
	}
	route_heap_place(t, t->nheap++, r);
	route_heap_up(t, r->heap_idx);
}

static uint64_t
route_add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX - 1 : a + b;
}

/* Queues. */

static void
route_list_push(struct route_list *l, struct stanza *st, size_t size)
{
	struct route_item *it = xmalloc(sizeof(*it));

	it->next = NULL;
	it->st = st;
	it->size = size;
	if (l->tail != NULL)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	l->count++;
	l->bytes += size;
}

static struct stanza *
route_list_pop(struct route_list *l)
{
	struct route_item *it = l->head;
	struct stanza *st;

	if (it == NULL)
		return NULL;
	l->head = it->next;
	if (l->head == NULL)
		l->tail = NULL;
	l->count--;
	l->bytes -= it->size;
	st = it->st;
	free(it);
	return st;
}

/* Take R's whole queue, leaving it empty. */
static struct route_list
route_detach(struct s2s_route *r)
{
	struct route_list l = r->q;

	r->t->total_bytes -= l.bytes;
	memset(&r->q, 0, sizeof(r->q));
	return l;
}

/* The first stanza queued on R (NULL when none). */
static struct stanza *
route_take(struct s2s_route *r)
{
	size_t before = r->q.bytes;
	struct stanza *st = route_list_pop(&r->q);

	r->t->total_bytes -= before - r->q.bytes;
	return st;
}

/* Serialised size: what the stanza costs on the wire, from its raw bytes
 * when it has them. */
static size_t
route_stanza_size(struct s2s_routes *t, const struct stanza *st)
{
	size_t len;

	if (stanza_raw(st, &len) != NULL)
		return len;
	util_buf_reset(&t->sizebuf);
	stanza_serialize(st, stanza_ns(st), &t->sizebuf);
	return t->sizebuf.len;
}

/* Bounces. */

/* Answer ST (taken) with CONDITION, or hand it to drop when RFC 6120 says
 * it must not be answered (errors, iq results, broadcast presence). */
static void
route_reject(struct s2s_route *r, struct stanza *st, const char *cond,
             int err)
{
	struct s2s_routes *t = r->t;
	struct stanza *reply;
	char *text;

	if (!stanza_is_bounceable(st)) {
		log_debug(LOG_SUB_S2S, r->id,
		          "route drop local=%s remote=%s stanza=%s reason=%s",
		          r->local, r->remote, stanza_name(st), err_name(err));
		t->cbs.drop(t->arg, st, err);
		return;
	}
	text = xasprintf("%s: %s", r->remote, err_str(err));
	reply = stanza_error_reply(st, route_cond_type(cond), cond, text);
	metrics_inc(METRICS_BOUNCES, cond);
	free(text);
	stanza_free(st);
	t->cbs.bounce(t->arg, reply);
}

static void
route_reject_list(struct s2s_route *r, struct route_list *l,
                  const char *cond, int err)
{
	struct stanza *st;

	while ((st = route_list_pop(l)) != NULL)
		route_reject(r, st, cond, err);
}

/* Queue ST (taken) on R, or bounce it when the queue is full: the newest
 * stanza is the one refused, so what waits keeps its order. */
/* The limit queuing SIZE more bytes on R would pass, or NULL. */
static const char *
route_full(const struct s2s_route *r, size_t size)
{
	const struct s2s_route_opts *o = &r->t->opts;
	size_t total = r->t->total_bytes;

	if (r->q.count >= o->max_stanzas)
		return "queue_max_stanzas";
	if (size > o->max_bytes || r->q.bytes > o->max_bytes - size)
		return "queue_max_bytes";
	if (o->total_max_bytes != 0 &&
	    (size > o->total_max_bytes || total > o->total_max_bytes - size))
		return "queue_total_bytes";
	return NULL;
}

static bool
route_enqueue(struct s2s_route *r, struct stanza *st)
{
	size_t size = route_stanza_size(r->t, st);
	const char *limit = route_full(r, size);

	if (limit != NULL) {
		metrics_inc(METRICS_LIMIT_HITS, limit);
		log_warnx(LOG_SUB_S2S, r->id,
		          "limit hit limit=%s local=%s remote=%s stanzas=%zu "
		          "bytes=%zu total_bytes=%zu size=%zu: bounced "
		          "resource-constraint", limit, r->local, r->remote,
		          r->q.count, r->q.bytes, r->t->total_bytes, size);
		route_reject(r, st, route_err_cond(S2SD_EQUEUE_FULL),
		             S2SD_EQUEUE_FULL);
		return false;
	}
	route_list_push(&r->q, st, size);
	r->t->total_bytes += size;
	return true;
}

/* States. */

static bool
route_transition_ok(enum s2s_route_state from, enum s2s_route_state to)
{
	switch (from) {
	case S2S_ROUTE_IDLE:
		return to == S2S_ROUTE_CONNECTING;
	case S2S_ROUTE_CONNECTING:
		return to != S2S_ROUTE_CONNECTING;
	case S2S_ROUTE_READY:
		return to == S2S_ROUTE_IDLE || to == S2S_ROUTE_BACKOFF;
	case S2S_ROUTE_BACKOFF:
		return to == S2S_ROUTE_IDLE;
	}
	return false;
}

static void
route_enter_state(struct s2s_route *r, enum s2s_route_state to)
{
	if (!route_transition_ok(r->state, to))
		fatalx("%s: %s -> %s for %s -> %s", __func__,
		       s2s_route_state_name(r->state), s2s_route_state_name(to),
		       r->local, r->remote);
	log_debug(LOG_SUB_S2S, r->id, "route state local=%s remote=%s %s -> %s",
	          r->local, r->remote, s2s_route_state_name(r->state),
	          s2s_route_state_name(to));
	r->state = to;
}

/* IDLE with nothing queued: forget the route at AT (s2s_routes_tick). */
static void
route_go_idle(struct s2s_route *r, uint64_t at)
{
	route_enter_state(r, S2S_ROUTE_IDLE);
	route_set_timer(r, at);
}

/* Start an attempt for what R has queued. Last, because the owner may
 * report the outcome from inside the callback. */
static void
route_connect(struct s2s_route *r)
{
	route_set_timer(r, ROUTE_NO_TIMER);
	route_enter_state(r, S2S_ROUTE_CONNECTING);
	r->t->cbs.connect(r->t->arg, r);
}

/* Back-off window for the Nth consecutive failure: backoff_min doubled
 * N-1 times, capped at backoff_max, then jittered by up to 25% either
 * way. */
static uint64_t
route_backoff_window(const struct s2s_route_opts *o, unsigned n)
{
	uint64_t w = o->backoff_min_ms, span, off;
	uint32_t rnd;

	if (w == 0)
		return 0;
	while (n-- > 1 && w < o->backoff_max_ms)
		w = w > UINT64_MAX / 2 ? UINT64_MAX : 2 * w;
	if (w > o->backoff_max_ms)
		w = o->backoff_max_ms;
	span = w / 2;
	rnd = o->rnd(o->rnd_arg);
	/* RND / 2^32 of the span, without modulo bias or overflow. */
	off = (uint64_t)(((unsigned __int128)rnd * (span + 1)) >> 32);
	return w - w / 4 + off;
}

static uint32_t
route_rand_csprng(void *arg)
{
	uint32_t v;

	(void)arg;
	util_random(&v, sizeof(v));
	return v;
}

/* Back-pressure. */

static bool
route_flow_on(const struct s2s_routes *t)
{
	return t->opts.flow.high != 0 && t->cbs.pending != NULL &&
	       t->cbs.watch != NULL;
}

/* The bytes R's stream has not written; its last progress moves the
 * gate's stall clock. */
static size_t
route_pending(struct s2s_route *r)
{
	uint64_t written = 0;
	size_t n = r->t->cbs.pending(r->t->arg, r, &written);

	if (r->gate.congested && written > r->gate.progress_at)
		flow_gate_progress(&r->gate, written);
	return n;
}

/* A READY route's one timer is the stall check of its gate. Set only when
 * it changes: this runs for every stanza. */
static void
route_flow_timer(struct s2s_route *r)
{
	uint64_t at = flow_gate_deadline(&r->gate, &r->t->opts.flow);

	if (at != r->timer_at)
		route_set_timer(r, at);
}

/* After R handed stanzas to its stream, or the stream drained: enter or
 * leave congestion (leaving lets the sources go) and, congested, ask to
 * hear when the stream drains. */
static void
route_flow_update(struct s2s_route *r, uint64_t now)
{
	struct s2s_routes *t = r->t;
	size_t pending;

	if (!route_flow_on(t) || r->state != S2S_ROUTE_READY)
		return;
	pending = route_pending(r);
	if (flow_gate_update(&r->gate, &t->opts.flow, pending + r->q.bytes,
	                     now))
		t->cbs.watch(t->arg, r, t->opts.flow.low);
	route_flow_timer(r);
}

/* A stanza waits on congested R: hold the reader that submitted it. */
static void
route_flow_hold(struct s2s_route *r, uint64_t now)
{
	if (!r->gate.congested || !route_flow_on(r->t))
		return;
	route_pending(r);
	flow_gate_hold(&r->gate, &r->t->opts.flow, now);
	route_flow_timer(r);
}

/* Hand R's queue to its stream in order while the stream is under high
 * water. Pop before each send: a send callback may close or fail the
 * route, which then owns what is left. */
static void
route_flush(struct s2s_route *r, uint64_t now)
{
	struct s2s_routes *t = r->t;
	struct stanza *st;

	while (r->state == S2S_ROUTE_READY && r->q.count != 0 &&
	       (!route_flow_on(t) || route_pending(r) < t->opts.flow.high)) {
		st = route_take(r);
		t->cbs.send(t->arg, r, st);
	}
	route_flow_update(r, now);
}

/* The stream stopped being the route's: nothing holds its sources. */
static void
route_flow_end(struct s2s_route *r)
{
	flow_gate_reset(&r->gate);
}

/* The table. */

struct s2s_routes *
s2s_routes_new(const struct s2s_route_opts *opts,
               const struct s2s_route_cbs *cbs, void *arg)
{
	struct s2s_routes *t;

	if (opts->max_stanzas == 0 || opts->max_bytes == 0 ||
	    opts->backoff_min_ms > opts->backoff_max_ms ||
	    (opts->flow.high != 0 && opts->flow.low >= opts->flow.high))
		fatalx("%s: bad options", __func__);
	if (cbs->connect == NULL || cbs->send == NULL || cbs->bounce == NULL ||
	    cbs->drop == NULL)
		fatalx("%s: missing callback", __func__);
	t = xcalloc(1, sizeof(*t));
	t->opts = *opts;
	if (t->opts.rnd == NULL)
		t->opts.rnd = route_rand_csprng;
	t->cbs = *cbs;
	t->arg = arg;
	t->byname = htab_new(0);
	return t;
}

static void
route_free(struct s2s_route *r)
{
	struct s2s_routes *t = r->t;

	if (r->q.count != 0)
		fatalx("%s: %s -> %s still queues", __func__, r->local,
		       r->remote);
	route_heap_remove(t, r);
	flow_gate_reset(&r->gate);
	htab_del(t->byname, r->key);
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		t->all = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	free(r->key);
	free(r->local);
	free(r->remote);
	free(r);
}

void
s2s_routes_free(struct s2s_routes *t, int err)
{
	struct route_list l;
	struct s2s_route *r;

	if (t == NULL)
		return;
	/* A bounce callback may still submit: such stanzas bounce at once
	 * (s2s_routes_submit), and a route it creates joins this loop. */
	t->closing_err = err != 0 ? err : S2SD_ESHUTDOWN;
	while ((r = t->all) != NULL) {
		l = route_detach(r);
		if (l.count != 0)
			log_info(LOG_SUB_S2S, r->id,
			         "route flush local=%s remote=%s stanzas=%zu "
			         "reason=%s",
			         r->local, r->remote, l.count, err_name(err));
		route_reject_list(r, &l, route_err_cond(err), err);
		route_free(r);
	}
	htab_free(t->byname, NULL);
	free(t->heap);
	util_buf_free(&t->sizebuf);
	free(t);
}

/* Build "local\nremote" in BUF (or an allocation, stored in *OWNED). */
static const char *
route_key(const char *local, const char *remote, char *buf, size_t len,
          char **owned)
{
	int n;

	*owned = NULL;
	if (strchr(local, '\n') != NULL || strchr(remote, '\n') != NULL)
		fatalx("%s: newline in a domain", __func__);
	n = snprintf(buf, len, "%s\n%s", local, remote);
	if (n >= 0 && (size_t)n < len)
		return buf;
	*owned = xasprintf("%s\n%s", local, remote);
	return *owned;
}

struct s2s_route *
s2s_routes_find(const struct s2s_routes *t, const char *local,
                const char *remote)
{
	char buf[ROUTE_KEY_BUF], *owned;
	struct s2s_route *r;

	r = htab_get(t->byname, route_key(local, remote, buf, sizeof(buf),
	                                  &owned));
	free(owned);
	return r;
}

static struct s2s_route *
route_new(struct s2s_routes *t, const char *local, const char *remote)
{
	struct s2s_route *r = xcalloc(1, sizeof(*r));

	r->t = t;
	r->local = xstrdup(local);
	r->remote = xstrdup(remote);
	r->key = xasprintf("%s\n%s", local, remote);
	r->id = util_connid();
	r->state = S2S_ROUTE_IDLE;
	r->timer_at = ROUTE_NO_TIMER;
	r->heap_idx = ROUTE_NOT_IN_HEAP;
	flow_gate_init(&r->gate, LOG_SUB_S2S, r->id, "out");
	htab_put(t->byname, r->key, r);
	r->next = t->all;
	if (t->all != NULL)
		t->all->prev = r;
	t->all = r;
	log_debug(LOG_SUB_S2S, r->id, "route new local=%s remote=%s", local,
	          remote);
	return r;
}

void
s2s_routes_submit(struct s2s_routes *t, const char *local,
                  const char *remote, struct stanza *st, uint64_t now)
{
	struct s2s_route *r = s2s_routes_find(t, local, remote);

	if (r == NULL)
		r = route_new(t, local, remote);
	if (t->closing_err != 0) {
		route_reject(r, st, route_err_cond(t->closing_err),
		             t->closing_err);
		return;
	}
	switch (r->state) {
	case S2S_ROUTE_READY:
		/* Stanzas still waiting (a hand-over in progress, or the
		 * stream is congested) go first. */
		if (r->q.count != 0 || r->gate.congested) {
			if (route_enqueue(r, st))
				route_flow_hold(r, now);
		} else {
			t->cbs.send(t->arg, r, st);
			route_flow_update(r, now);
		}
		break;
	case S2S_ROUTE_CONNECTING:
		route_enqueue(r, st);
		break;
	case S2S_ROUTE_BACKOFF:
		route_reject(r, st,
		             route_fail_cond(r->last_err, r->last_opened),
		             r->last_err);
		break;
	case S2S_ROUTE_IDLE:
		/* A refusal runs the bounce callback, which may have
		 * submitted again and started an attempt meanwhile. */
		if (route_enqueue(r, st))
			route_connect(r);
		else if (r->state == S2S_ROUTE_IDLE &&
		         r->timer_at == ROUTE_NO_TIMER)
			route_set_timer(r, now);        /* new, never used */
		break;
	}
}

/* Outcomes reported by the owner. */

void
s2s_route_ready(struct s2s_route *r, uint64_t now)
{
	if (r->state != S2S_ROUTE_CONNECTING)
		fatalx("%s: route %s -> %s is %s", __func__, r->local,
		       r->remote, s2s_route_state_name(r->state));
	route_enter_state(r, S2S_ROUTE_READY);
	r->failures = 0;
	r->sm_opened = false;
	flow_gate_reset(&r->gate);
	route_flush(r, now);
}

void
s2s_route_drained(struct s2s_route *r, uint64_t now)
{
	if (r->state == S2S_ROUTE_READY)
		route_flush(r, now);
}

bool
s2s_route_congested(const struct s2s_route *r)
{
	return r->gate.congested;
}

void
s2s_route_failed(struct s2s_route *r, int err, bool opened, uint64_t now)
{
	struct s2s_routes *t = r->t;
	struct route_list l;
	uint64_t window;

	if (r->state != S2S_ROUTE_CONNECTING && r->state != S2S_ROUTE_READY)
		fatalx("%s: route %s -> %s is %s", __func__, r->local,
		       r->remote, s2s_route_state_name(r->state));
	if (r->failures < UINT_MAX)
		r->failures++;
	opened = opened || r->sm_opened;
	r->sm_opened = false;
	route_flow_end(r);
	r->last_err = err;
	r->last_opened = opened;
	window = route_backoff_window(&t->opts, r->failures);
	r->backoff_until = route_add_sat(now, window);
	l = route_detach(r);
	log_info(LOG_SUB_S2S, r->id,
	         "route backoff local=%s remote=%s failures=%u until_ms=%llu "
	         "window_ms=%llu reason=%s opened=%s bounced=%zu",
	         r->local, r->remote, r->failures,
	         (unsigned long long)r->backoff_until,
	         (unsigned long long)window, err_name(err),
	         opened ? "yes" : "no", l.count);
	if (window == 0) {
		route_go_idle(r, route_add_sat(now, t->opts.backoff_max_ms));
	} else {
		route_enter_state(r, S2S_ROUTE_BACKOFF);
		route_set_timer(r, r->backoff_until);
	}
	route_reject_list(r, &l, route_fail_cond(err, opened), err);
}

void
s2s_route_closed(struct s2s_route *r, uint64_t now)
{
	if (r->state != S2S_ROUTE_READY)
		fatalx("%s: route %s -> %s is %s", __func__, r->local,
		       r->remote, s2s_route_state_name(r->state));
	route_flow_end(r);
	route_enter_state(r, S2S_ROUTE_IDLE);
	/* Closed in the middle of a hand-over, or congested: the rest needs a
	 * new stream. */
	if (r->q.count != 0)
		route_connect(r);
	else
		route_set_timer(r, now);
}

void
s2s_route_flush_bounce(struct s2s_route *r, int err)
{
	struct route_list l = route_detach(r);

	if (l.count != 0)
		log_info(LOG_SUB_S2S, r->id,
		         "route flush local=%s remote=%s stanzas=%zu reason=%s",
		         r->local, r->remote, l.count, err_name(err));
	route_reject_list(r, &l, route_err_cond(err), err);
}

/* XEP-0198 re-sends. */

/* Put STS[N] before what R queues, in order. */
static void
route_push_front(struct s2s_route *r, struct stanza **sts, size_t n)
{
	struct route_list front = {0};
	size_t i, size;

	for (i = 0; i < n; i++) {
		size = route_stanza_size(r->t, sts[i]);
		route_list_push(&front, sts[i], size);
		r->t->total_bytes += size;
	}
	if (front.head == NULL)
		return;
	front.tail->next = r->q.head;
	if (r->q.tail == NULL)
		r->q.tail = front.tail;
	r->q.head = front.head;
	r->q.count += front.count;
	r->q.bytes += front.bytes;
}

void
s2s_routes_requeue(struct s2s_routes *t, const char *local,
                   const char *remote, struct stanza **sts, size_t n,
                   uint64_t now)
{
	struct s2s_route *r = s2s_routes_find(t, local, remote);
	size_t i;

	if (r == NULL)
		r = route_new(t, local, remote);
	log_debug(LOG_SUB_S2S, r->id, "route requeue local=%s remote=%s "
	          "stanzas=%zu state=%s", local, remote, n,
	          s2s_route_state_name(r->state));
	if (t->closing_err != 0 || r->state == S2S_ROUTE_BACKOFF) {
		for (i = 0; i < n; i++)
			route_reject(r, sts[i], t->closing_err != 0
			             ? route_err_cond(t->closing_err)
			             : route_fail_cond(r->last_err, true),
			             t->closing_err != 0 ? t->closing_err
			                                 : r->last_err);
		return;
	}
	/* A send may close the route: the rest then waits like a queue. */
	for (i = 0; i < n && r->state == S2S_ROUTE_READY && r->q.count == 0 &&
	     !r->gate.congested; i++)
		t->cbs.send(t->arg, r, sts[i]);
	if (i < n) {
		r->sm_opened = true;
		route_push_front(r, sts + i, n - i);
		if (r->state == S2S_ROUTE_IDLE)
			route_connect(r);
	}
	route_flow_update(r, now);
}

enum s2s_route_state
s2s_routes_kick(struct s2s_routes *t, const char *local, const char *remote,
                uint64_t now)
{
	struct s2s_route *r = s2s_routes_find(t, local, remote);

	(void)now;
	if (r == NULL)
		r = route_new(t, local, remote);
	if (t->closing_err == 0 && r->state == S2S_ROUTE_IDLE)
		route_connect(r);
	return r->state;
}

size_t
s2s_route_bounce_answerable(struct s2s_route *r, int err)
{
	struct route_list l = route_detach(r);
	struct stanza *st;
	size_t size;

	while ((st = route_list_pop(&l)) != NULL) {
		if (stanza_is_bounceable(st)) {
			route_reject(r, st, route_err_cond(err), err);
			continue;
		}
		/* route_detach() took it off the total: it counts again. */
		size = route_stanza_size(r->t, st);
		route_list_push(&r->q, st, size);
		r->t->total_bytes += size;
	}
	if (r->q.count != 0)
		log_info(LOG_SUB_S2S, r->id, "route keep local=%s remote=%s "
		         "unanswerable=%zu reason=%s", r->local, r->remote,
		         r->q.count, err_name(err));
	return r->q.count;
}

/* Timers. */

uint64_t
s2s_routes_deadline(const struct s2s_routes *t)
{
	return t->nheap != 0 ? t->heap[0]->timer_at : UINT64_MAX;
}

void
s2s_routes_tick(struct s2s_routes *t, uint64_t now)
{
	struct s2s_route *r;

	while (t->nheap != 0 && t->heap[0]->timer_at <= now) {
		r = t->heap[0];
		if (r->state == S2S_ROUTE_BACKOFF) {
			/* Remember the failures for another backoff_max, so
			 * that a peer that keeps failing keeps backing off
			 * longer; after that it starts from backoff_min. */
			route_go_idle(r, route_add_sat(r->backoff_until,
			                               t->opts.backoff_max_ms));
		} else if (r->state == S2S_ROUTE_IDLE) {
			log_debug(LOG_SUB_S2S, r->id,
			          "route forget local=%s remote=%s failures=%u",
			          r->local, r->remote, r->failures);
			route_free(r);
		} else if (r->state == S2S_ROUTE_READY && route_flow_on(t)) {
			/* The stall check: progress moves the deadline on,
			 * a stall removes it. */
			route_pending(r);
			flow_gate_tick(&r->gate, &t->opts.flow, now);
			route_flow_timer(r);
			if (r->timer_at <= now)
				fatalx("%s: stall timer did not move",
				       __func__);
		} else {
			fatalx("%s: timer on a %s route", __func__,
			       s2s_route_state_name(r->state));
		}
	}
}

/* Accessors. */

enum s2s_route_state
s2s_route_state(const struct s2s_route *r)
{
	return r->state;
}

const char *
s2s_route_state_name(enum s2s_route_state s)
{
	if ((size_t)s < UTIL_ARRAY_LEN(route_state_names))
		return route_state_names[s];
	return "?";
}

const char *
s2s_route_local(const struct s2s_route *r)
{
	return r->local;
}

const char *
s2s_route_remote(const struct s2s_route *r)
{
	return r->remote;
}

size_t
s2s_routes_queued(const struct s2s_routes *t, size_t *bytes)
{
	const struct s2s_route *r;
	size_t n = 0, b = 0;

	for (r = t->all; r != NULL; r = r->next) {
		n += r->q.count;
		b += r->q.bytes;
	}
	if (bytes != NULL)
		*bytes = b;
	return n;
}

void
s2s_routes_set_limits(struct s2s_routes *t, const struct s2s_route_opts *o)
{
	struct s2s_route *r;

	if (o->max_stanzas == 0 || o->max_bytes == 0 ||
	    o->backoff_min_ms > o->backoff_max_ms ||
	    (o->flow.high != 0 && o->flow.low >= o->flow.high))
		fatalx("%s: bad options", __func__);
	t->opts.max_stanzas = o->max_stanzas;
	t->opts.max_bytes = o->max_bytes;
	t->opts.total_max_bytes = o->total_max_bytes;
	t->opts.backoff_min_ms = o->backoff_min_ms;
	t->opts.backoff_max_ms = o->backoff_max_ms;
	t->opts.flow = o->flow;
	/* Back-pressure turned off: nothing holds its sources any more, and
	 * what waits goes on with the next stanza or drain. */
	if (route_flow_on(t))
		return;
	for (r = t->all; r != NULL; r = r->next) {
		route_flow_end(r);
		if (r->state == S2S_ROUTE_READY)
			route_flush(r, 0);
	}
}

size_t
s2s_routes_queued_bytes(const struct s2s_routes *t)
{
	return t->total_bytes;
}

size_t
s2s_route_queued(const struct s2s_route *r, size_t *bytes)
{
	if (bytes != NULL)
		*bytes = r->q.bytes;
	return r->q.count;
}

unsigned
s2s_route_failures(const struct s2s_route *r)
{
	return r->failures;
}

int
s2s_route_last_err(const struct s2s_route *r)
{
	return r->last_err;
}

const struct s2s_route *
s2s_routes_next(const struct s2s_routes *t, const struct s2s_route *r)
{
	return r == NULL ? t->all : r->next;
}

uint64_t
s2s_route_backoff_until(const struct s2s_route *r)
{
	return r->state == S2S_ROUTE_BACKOFF ? r->backoff_until : 0;
}

void
s2s_route_set_data(struct s2s_route *r, void *data)
{
	r->data = data;
}

void *
s2s_route_data(const struct s2s_route *r)
{
	return r->data;
}
