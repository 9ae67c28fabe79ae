/* flow.c - back-pressure between readers and write backlogs; see flow.h.
 *
 * A gate holds few sources (the links feeding one route: usually one), so
 * they sit in a small array searched linearly. */
#include "cm/flow.h"

#include <stdlib.h>

#include "cm/metrics.h"
#include "cm/util.h"

struct flow_src {
	const struct flow_src_ops *ops;
	void *arg;
	uint64_t connid;
	const char *dir;
	unsigned holds;         /* gates holding it */
	unsigned refs;          /* the owner's (until closed) and the gates' */
	bool closed;
};

/* The source whose input is being processed (one loop, one thread). */
static struct flow_src *flow_current;

struct flow_src *
flow_src_new(const struct flow_src_ops *ops, void *arg, uint64_t connid,
             const char *dir)
{
	struct flow_src *s = xcalloc(1, sizeof(*s));

	s->ops = ops;
	s->arg = arg;
	s->connid = connid;
	s->dir = dir;
	s->refs = 1;
	return s;
}

static void
flow_src_unref(struct flow_src *s)
{
	if (s->refs == 0)
		fatalx("%s: no reference left", __func__);
	if (--s->refs == 0)
		free(s);
}

void
flow_src_close(struct flow_src *s)
{
	if (s == NULL)
		return;
	if (s->closed)
		fatalx("%s: closed twice", __func__);
	s->closed = true;
	if (flow_current == s)
		flow_current = NULL;
	flow_src_unref(s);
}

unsigned
flow_src_holds(const struct flow_src *s)
{
	return s->holds;
}

struct flow_src *
flow_src_enter(struct flow_src *s)
{
	struct flow_src *prev = flow_current;

	flow_current = s;
	return prev;
}

void
flow_src_leave(struct flow_src *prev)
{
	flow_current = prev;
}

struct flow_src *
flow_src_current(void)
{
	return flow_current;
}

/* A gate takes S: the first one stops it from reading. */
static void
flow_src_hold(struct flow_src *s, const struct flow_gate *g)
{
	s->refs++;
	if (s->holds++ > 0 || s->closed)
		return;
	metrics_inc(METRICS_FLOW_PAUSES, s->dir);
	log_debug(g->sub, s->connid, "flow pause dir=%s by=%016llx",
	          s->dir, (unsigned long long)g->connid);
	s->ops->pause(s->arg);
}

/* A gate lets go of S: the last one lets it read again. */
static void
flow_src_release(struct flow_src *s, const struct flow_gate *g)
{
	if (s->holds == 0)
		fatalx("%s: not held", __func__);
	if (--s->holds == 0 && !s->closed) {
		log_debug(g->sub, s->connid, "flow resume dir=%s by=%016llx",
		          s->dir, (unsigned long long)g->connid);
		s->ops->resume(s->arg);
	}
	flow_src_unref(s);
}

void
flow_gate_init(struct flow_gate *g, enum log_sub sub, uint64_t connid,
               const char *dir)
{
	*g = (struct flow_gate){0};
	g->sub = sub;
	g->connid = connid;
	g->dir = dir;
}

/* Let go of every source held. The array is detached first: a resume
 * callback may reach this gate again. */
static void
flow_gate_release_all(struct flow_gate *g)
{
	struct flow_src **held = g->held;
	size_t i, n = g->nheld;

	g->held = NULL;
	g->nheld = g->capheld = 0;
	for (i = 0; i < n; i++)
		flow_src_release(held[i], g);
	free(held);
}

void
flow_gate_reset(struct flow_gate *g)
{
	g->congested = false;
	g->stalled = false;
	flow_gate_release_all(g);
}

bool
flow_gate_update(struct flow_gate *g, const struct flow_opts *o,
                 size_t backlog, uint64_t now)
{
	if (o->high == 0) {
		if (g->congested)
			flow_gate_reset(g);
		return false;
	}
	if (!g->congested && backlog >= o->high) {
		g->congested = true;
		g->stalled = false;
		g->progress_at = now;
		log_debug(g->sub, g->connid, "flow congested dir=%s "
		          "backlog=%zu high=%zu", g->dir, backlog, o->high);
	} else if (g->congested && backlog <= o->low) {
		log_debug(g->sub, g->connid, "flow drained dir=%s backlog=%zu "
		          "low=%zu sources=%zu", g->dir, backlog, o->low,
		          g->nheld);
		flow_gate_reset(g);
	}
	return g->congested;
}

void
flow_gate_progress(struct flow_gate *g, uint64_t now)
{
	g->progress_at = now;
	if (!g->stalled)
		return;
	g->stalled = false;
	log_debug(g->sub, g->connid, "flow stall over dir=%s", g->dir);
}

/* No progress for stall_ms while congested: let every source go. */
static bool
flow_gate_check_stall(struct flow_gate *g, const struct flow_opts *o,
                      uint64_t now)
{
	if (!g->congested || g->stalled || o->stall_ms == 0 ||
	    now < g->progress_at + o->stall_ms)
		return g->stalled;
	g->stalled = true;
	metrics_inc(METRICS_FLOW_STALLS, g->dir);
	log_info(g->sub, g->connid, "flow stalled dir=%s no_progress_ms=%llu "
	         "limit=send_stall_timeout sources=%zu: released", g->dir,
	         (unsigned long long)(now - g->progress_at), g->nheld);
	flow_gate_release_all(g);
	return true;
}

void
flow_gate_hold(struct flow_gate *g, const struct flow_opts *o, uint64_t now)
{
	struct flow_src *s = flow_current;
	size_t i;

	if (s == NULL || s->closed || !g->congested ||
	    flow_gate_check_stall(g, o, now))
		return;
	for (i = 0; i < g->nheld; i++)
		if (g->held[i] == s)
			return;
	if (g->nheld == g->capheld) {
		g->capheld = g->capheld != 0 ? 2 * g->capheld : 4;
		g->held = xreallocarray(g->held, g->capheld, sizeof(*g->held));
	}
	g->held[g->nheld++] = s;
	flow_src_hold(s, g);
}

uint64_t
flow_gate_deadline(const struct flow_gate *g, const struct flow_opts *o)
{
	if (!g->congested || g->stalled || g->nheld == 0 || o->stall_ms == 0)
		return UINT64_MAX;
	return g->progress_at + o->stall_ms;
}

void
flow_gate_tick(struct flow_gate *g, const struct flow_opts *o, uint64_t now)
{
	flow_gate_check_stall(g, o, now);
}
