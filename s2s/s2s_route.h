/* s2s_route.h - outbound routes, one per (local domain, remote domain) pair.
 *
 * A route queues stanzas while its stream is set up, hands them over in
 * order once the stream is ready, and bounces them when the attempt fails.
 * After a failure the route stays in back-off for a while: stanzas submitted
 * then bounce at once, without a new attempt. The window starts short
 * (backoff_min, seconds), doubles with each consecutive failure up to
 * backoff_max, and is jittered (+-25%), so one transient DNS or connect
 * failure never turns into minutes of bounced messages; a success resets it.
 *
 * Pure: no I/O, no clock read (NOW is passed in), randomness injected. The
 * owner starts the actual connection when asked (connect callback) and
 * reports the outcome with s2s_route_ready() / s2s_route_failed(). Stanzas
 * passed in are taken; callbacks hand them on (taken by the callee). Bounces
 * follow RFC 6120 8.3: only stanzas for which stanza_is_bounceable() holds
 * are answered (never errors, never iq results), with the error type RFC
 * 6120 8.3.3 gives the condition (cancel for remote-server-not-found,
 * not-allowed, service-unavailable; wait for remote-server-timeout,
 * resource-constraint) and a text "REMOTE: reason"; the others are dropped
 * through the drop callback, which logs them. Callbacks run from inside the
 * calls below; they may submit and report outcomes again, but must not call
 * s2s_routes_tick() or s2s_routes_free().
 *
 * Memory: a route stays valid until s2s_routes_tick() forgets it. Only IDLE
 * routes with nothing queued are forgotten: right after a normal close, and
 * backoff_max after the end of a back-off window (failures are remembered
 * that long). So the owner must drop its route pointer once it reported
 * _failed or _closed, and the table holds the pairs in use plus those that
 * failed within the last 2.25 * backoff_max. */
#ifndef S2SD_S2S_ROUTE_H
#define S2SD_S2S_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm/flow.h"

struct stanza;
struct s2s_routes;
struct s2s_route;

enum s2s_route_state {
	S2S_ROUTE_IDLE,         /* no stream, nothing queued */
	S2S_ROUTE_CONNECTING,   /* connect asked, stanzas queue */
	S2S_ROUTE_READY,        /* stanzas go straight to send */
	S2S_ROUTE_BACKOFF,      /* failed recently: stanzas bounce */
};

typedef uint32_t s2s_route_rand_fn(void *arg);

struct s2s_route_opts {
	size_t max_stanzas;       /* queue bound while connecting (>= 1) */
	size_t max_bytes;         /* ... in serialised bytes (>= 1) */
	uint64_t backoff_min_ms;  /* 0: no back-off window */
	uint64_t backoff_max_ms;  /* >= backoff_min_ms; jitter may exceed it */
	s2s_route_rand_fn *rnd;   /* jitter; NULL: the CSPRNG */
	void *rnd_arg;
	size_t total_max_bytes;   /* all routes' queues together (0: none) */
	/* Back-pressure on READY routes (flow.h; high 0: off, or the
	 * pending/watch callbacks are NULL). */
	struct flow_opts flow;
};

struct s2s_route_cbs {
	/* Start setting up a stream for R; report with _ready / _failed. */
	void (*connect)(void *arg, struct s2s_route *r);
	/* R is ready: write ST on its stream (takes ST). */
	void (*send)(void *arg, struct s2s_route *r, struct stanza *st);
	/* Deliver an error reply back towards the original sender (takes). */
	void (*bounce)(void *arg, struct stanza *reply);
	/* ST cannot be delivered and must not be answered (takes; log it). */
	void (*drop)(void *arg, struct stanza *st, int err);
	/* Back-pressure (both NULL: none). Bytes R's stream has not written
	 * yet, and *WRITTEN_AT the time of its last write progress. */
	size_t (*pending)(void *arg, struct s2s_route *r, uint64_t *written_at);
	/* R is congested: call s2s_route_drained() once its stream's
	 * pending bytes are down to LOW. */
	void (*watch)(void *arg, struct s2s_route *r, size_t low);
};

/* OPTS and CBS are copied. Returns owned. */
struct s2s_routes *s2s_routes_new(const struct s2s_route_opts *opts,
                                  const struct s2s_route_cbs *cbs, void *arg);
/* Bounce everything queued with ERR (e.g. S2SD_ESHUTDOWN) and free every
 * route, connecting and ready ones too (the owner closes or forgets its
 * streams). What a bounce callback submits meanwhile bounces at once. */
void s2s_routes_free(struct s2s_routes *t, int err);      /* NULL ok */

/* Route ST (taken) from LOCAL to REMOTE (prepared domains). Creates the
 * route on first use and asks to connect when it is idle. A full queue
 * (the route's own bounds, or total_max_bytes over all routes) bounces ST
 * with resource-constraint, counts a limit hit and logs it; back-off
 * bounces it with the condition of the last failure. */
void s2s_routes_submit(struct s2s_routes *t, const char *local,
                       const char *remote, struct stanza *st, uint64_t now);
struct s2s_route *s2s_routes_find(const struct s2s_routes *t,
                                  const char *local, const char *remote);

/* The stream is ready: hand over the queue in order, then go READY. */
void s2s_route_ready(struct s2s_route *r, uint64_t now);
/* The attempt (or a ready stream, abnormally) failed with ERR (S2SD_E* or
 * -errno). OPENED tells whether the peer ever opened a stream: queued
 * stanzas bounce remote-server-timeout if it did, else with
 * err_condition(ERR) (remote-server-not-found for DNS and connect failures,
 * remote-server-timeout for time-outs and for stream-level conditions such
 * as not-well-formed, which only a peer that spoke can cause). Enters
 * back-off. Reporting an
 * outcome (_ready, _failed, _closed) in a state that has none pending is a
 * broken invariant (fatal). */
void s2s_route_failed(struct s2s_route *r, int err, bool opened,
                      uint64_t now);
/* A ready stream closed normally (idle time-out, peer closed): back to
 * IDLE; the next stanza connects again. Closed in the middle of the
 * hand-over (from a send callback), what is left asks to connect again. */
void s2s_route_closed(struct s2s_route *r, uint64_t now);
/* Back-pressure (READY routes): above high water (the stream's pending
 * bytes plus the queue) the route stops handing stanzas to its stream;
 * they wait on its queue (within its bounds) and the gate holds the
 * current flow source (flow.h), the reader that submitted them. The owner
 * reports, as asked by the watch callback, that the stream drained to low
 * water: the queue goes on while the stream is under high water, and the
 * sources go once all is down to low water. A stream that writes nothing
 * for the stall time lets them go (s2s_routes_tick; order is kept: what is
 * queued still waits). */
void s2s_route_drained(struct s2s_route *r, uint64_t now);
bool s2s_route_congested(const struct s2s_route *r);
/* Bounce everything queued on R with CONDITION-bearing ERR and keep its
 * state (used when policy changes deny the route). */
void s2s_route_flush_bounce(struct s2s_route *r, int err);

/* XEP-0198: STS[N] (taken) were sent on a stream that died before they
 * were acknowledged. They go back to the front of the route of (LOCAL,
 * REMOTE), in order, before anything newer and beyond the queue bounds
 * (they were accepted once): an IDLE route connects again, a READY one with
 * nothing waiting sends them at once, one in back-off bounces them. As the
 * peer had opened a stream, a failure bounces them remote-server-timeout. */
void s2s_routes_requeue(struct s2s_routes *t, const char *local,
                        const char *remote, struct stanza **sts, size_t n,
                        uint64_t now);
/* Have the route of (LOCAL, REMOTE) connect even with nothing queued (a
 * session to resume); created when needed. Returns its state after. */
enum s2s_route_state s2s_routes_kick(struct s2s_routes *t, const char *local,
                                     const char *remote, uint64_t now);
/* Shutdown: bounce what waits on R and can be answered, with ERR; keep, in
 * order, what cannot (errors, iq results, broadcast presence: delivering
 * them is their only chance). Returns how many stanzas stay queued. */
size_t s2s_route_bounce_answerable(struct s2s_route *r, int err);

/* Earliest timer (UINT64_MAX when none) and the timer for it: routes whose
 * back-off window ended go back to IDLE (nothing waits during back-off: the
 * next stanza connects), idle routes due to be forgotten are freed,
 * congested routes whose stream stalled let their sources go. */
uint64_t s2s_routes_deadline(const struct s2s_routes *t);
void s2s_routes_tick(struct s2s_routes *t, uint64_t now);

enum s2s_route_state s2s_route_state(const struct s2s_route *r);
const char *s2s_route_state_name(enum s2s_route_state s);
const char *s2s_route_local(const struct s2s_route *r);
const char *s2s_route_remote(const struct s2s_route *r);
size_t s2s_route_queued(const struct s2s_route *r, size_t *bytes);
/* The same summed over every route of T (metrics). */
size_t s2s_routes_queued(const struct s2s_routes *t, size_t *bytes);
/* Reload: new queue bounds and back-off window from O (the randomness is
 * kept). Queues already longer keep what they hold; new stanzas see the
 * new bounds; a back-off window under way keeps its end. */
void s2s_routes_set_limits(struct s2s_routes *t,
                           const struct s2s_route_opts *o);
/* Bytes queued on all routes of the table together. */
size_t s2s_routes_queued_bytes(const struct s2s_routes *t);
/* Consecutive failures and the end of the current back-off window (0 when
 * not in BACKOFF). */
unsigned s2s_route_failures(const struct s2s_route *r);
uint64_t s2s_route_backoff_until(const struct s2s_route *r);
/* The error of the last failure (0: none yet; kept after a success). */
int s2s_route_last_err(const struct s2s_route *r);
/* Walk every route: R NULL gives the first, NULL ends. Nothing may be
 * submitted or ticked during the walk. */
const struct s2s_route *s2s_routes_next(const struct s2s_routes *t,
                                        const struct s2s_route *r);
/* Owner's per-route pointer (e.g. its connection); NULL initially. */
void s2s_route_set_data(struct s2s_route *r, void *data);
void *s2s_route_data(const struct s2s_route *r);

#endif
