/* flow.h - back-pressure between readers and the write backlogs they fill.
 *
 * A source is a reader that can stop reading: a home node's XEP-0114 link,
 * an inbound S2S stream. Its owner makes it current (flow_src_enter/_leave)
 * while it processes what it read, so whatever the stanzas reach on the way
 * knows who sent them. A gate watches one write backlog (an S2S route and
 * its stream, a home node's link) with a high and a low water mark: when a
 * stanza reaches a congested gate (the backlog went over high water and has
 * not come down to low water since), the gate holds the current source,
 * which stops reading until every gate holding it let go. A gate lets go of
 * all its sources when its backlog comes down to low water, and also when
 * its writes made no progress for stall_ms: a stalled peer must not stop
 * the sources for good (stanzas for it then wait in the queues behind the
 * gate, which bounce beyond their limits). Progress ends the stall.
 *
 * One loop, one thread: the current source is a global. Sources are
 * refcounted: a gate holds a reference on each source it holds, the owner
 * one until flow_src_close() (the reader is gone: its callbacks are not
 * called any more). Gates are embedded by their owners; time comes in as
 * NOW. Callbacks (pause/resume) run from inside flow_gate_* calls and must
 * not call back into flow. */
#ifndef S2SD_FLOW_H
#define S2SD_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm/log.h"

struct flow_src;

struct flow_opts {
	size_t high;            /* congested from this backlog on (0: off) */
	size_t low;             /* ... until it is down to this (< high) */
	uint64_t stall_ms;      /* no write progress this long: let go (0:
	                         * never) */
};

struct flow_src_ops {
	void (*pause)(void *arg);       /* stop reading */
	void (*resume)(void *arg);      /* read again */
};

struct flow_gate {
	enum log_sub sub;
	uint64_t connid;
	const char *dir;        /* "out" (a route), "in" (a home node link):
	                         * log lines and metrics (static) */
	bool congested;
	bool stalled;           /* congested, no progress: holds nothing */
	uint64_t progress_at;   /* congestion start or last progress */
	struct flow_src **held;
	size_t nheld, capheld;
};

/* OPS is borrowed (static); DIR labels s2sd_flow_pauses_total ("out":
 * traffic towards S2S, "in": from S2S). Returns owned (flow_src_close). */
struct flow_src *flow_src_new(const struct flow_src_ops *ops, void *arg,
                              uint64_t connid, const char *dir);
void flow_src_close(struct flow_src *s);                 /* NULL ok */
/* How many gates hold S (0: reading as far as flow goes). */
unsigned flow_src_holds(const struct flow_src *s);
/* Make S (NULL ok) current; returns the previous one for _leave. */
struct flow_src *flow_src_enter(struct flow_src *s);
void flow_src_leave(struct flow_src *prev);
struct flow_src *flow_src_current(void);

void flow_gate_init(struct flow_gate *g, enum log_sub sub, uint64_t connid,
                    const char *dir);
/* Let go of every source and forget the state (the backlog is gone). */
void flow_gate_reset(struct flow_gate *g);
/* The backlog is BACKLOG bytes now: enter congestion at high water, leave
 * it (letting go of every source) at low water. Returns congested. */
bool flow_gate_update(struct flow_gate *g, const struct flow_opts *o,
                      size_t backlog, uint64_t now);
/* Bytes were written at NOW: a stall is over. */
void flow_gate_progress(struct flow_gate *g, uint64_t now);
/* A stanza reached G while congested: hold the current source unless the
 * gate stalled (no progress for stall_ms, checked here too). */
void flow_gate_hold(struct flow_gate *g, const struct flow_opts *o,
                    uint64_t now);
/* When the gate stalls if nothing is written (UINT64_MAX: never), and the
 * check for that time. */
uint64_t flow_gate_deadline(const struct flow_gate *g,
                            const struct flow_opts *o);
void flow_gate_tick(struct flow_gate *g, const struct flow_opts *o,
                    uint64_t now);

#endif
