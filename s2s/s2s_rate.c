/* s2s_rate.c - per-domain token buckets for inbound traffic; see
 * s2s_rate.h.
 *
 * Tokens are kept in thousandths, so that a rate of R per second refills
 * exactly R thousandths per millisecond: integer arithmetic, no drift, and
 * the time to repay a debt D is ceil(D / R) ms. */
#include "s2s/s2s_rate.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cm/htab.h"
#include "cm/util.h"

#define RATE_MILLI 1000
#define RATE_SWEEP_MIN 64       /* entries before the first sweep */

struct rate_bucket {
	int64_t tokens;         /* thousandths; negative: debt */
};

struct rate_entry {
	char *domain;
	struct rate_bucket st, by;
	uint64_t last;          /* time of the last refill */
	bool over;
	uint64_t over_since;
};

struct s2s_rate {
	struct s2s_rate_opts opts;
	struct htab *byname;
	size_t sweep_at;        /* sweep when the table grows past this */
};

static int64_t
rate_cap(uint64_t rate, uint64_t burst_ms)
{
	/* rate * burst_ms thousandths = rate * burst seconds tokens. Settings
	 * bound both (1 GiB/s, 1 h), so this fits comfortably. */
	return (int64_t)(rate * burst_ms);
}

static void
rate_refill(struct rate_bucket *b, uint64_t rate, uint64_t burst_ms,
            uint64_t elapsed)
{
	int64_t cap = rate_cap(rate, burst_ms);
	uint64_t need;

	if (rate == 0 || b->tokens >= cap)
		return;
	need = (uint64_t)(cap - b->tokens);
	/* Compare in time, not tokens: RATE * ELAPSED may not fit. */
	if (elapsed >= need / rate + 1)
		b->tokens = cap;
	else
		b->tokens += (int64_t)(rate * elapsed);
	if (b->tokens > cap)
		b->tokens = cap;
}

/* Time until B is out of debt at RATE (0 when it is not in debt). */
static uint64_t
rate_wait(const struct rate_bucket *b, uint64_t rate)
{
	if (rate == 0 || b->tokens >= 0)
		return 0;
	return ((uint64_t)-b->tokens + rate - 1) / rate;
}

static bool
rate_half_full(const struct rate_bucket *b, uint64_t rate, uint64_t burst_ms)
{
	return rate == 0 || b->tokens >= rate_cap(rate, burst_ms) / 2;
}

static bool
rate_full(const struct s2s_rate *r, const struct rate_entry *e)
{
	return (r->opts.stanzas == 0 ||
	        e->st.tokens >= rate_cap(r->opts.stanzas, r->opts.burst_ms)) &&
	       (r->opts.bytes == 0 ||
	        e->by.tokens >= rate_cap(r->opts.bytes, r->opts.burst_ms));
}

static void
rate_entry_free(void *p)
{
	struct rate_entry *e = p;

	free(e->domain);
	free(e);
}

struct s2s_rate *
s2s_rate_new(const struct s2s_rate_opts *opts)
{
	struct s2s_rate *r = xcalloc(1, sizeof(*r));

	s2s_rate_set_opts(r, opts);
	r->byname = htab_new(0);
	r->sweep_at = RATE_SWEEP_MIN;
	return r;
}

void
s2s_rate_free(struct s2s_rate *r)
{
	if (r == NULL)
		return;
	htab_free(r->byname, rate_entry_free);
	free(r);
}

void
s2s_rate_set_opts(struct s2s_rate *r, const struct s2s_rate_opts *opts)
{
	r->opts = *opts;
	if (r->opts.burst_ms == 0)
		r->opts.burst_ms = 1;
}

/* Bring E's buckets up to NOW. */
static void
rate_update(const struct s2s_rate *r, struct rate_entry *e, uint64_t now)
{
	uint64_t elapsed = now > e->last ? now - e->last : 0;

	rate_refill(&e->st, r->opts.stanzas, r->opts.burst_ms, elapsed);
	rate_refill(&e->by, r->opts.bytes, r->opts.burst_ms, elapsed);
	e->last = now > e->last ? now : e->last;
}

static struct rate_entry *
rate_entry(struct s2s_rate *r, const char *domain, uint64_t now)
{
	struct rate_entry *e = htab_get(r->byname, domain);

	if (e != NULL)
		return e;
	if (htab_count(r->byname) >= r->sweep_at) {
		s2s_rate_sweep(r, now);
		r->sweep_at = 2 * htab_count(r->byname);
		if (r->sweep_at < RATE_SWEEP_MIN)
			r->sweep_at = RATE_SWEEP_MIN;
	}
	e = xcalloc(1, sizeof(*e));
	e->domain = xstrdup(domain);
	e->st.tokens = rate_cap(r->opts.stanzas, r->opts.burst_ms);
	e->by.tokens = rate_cap(r->opts.bytes, r->opts.burst_ms);
	e->last = now;
	htab_put(r->byname, e->domain, e);
	return e;
}

enum s2s_rate_verdict
s2s_rate_charge(struct s2s_rate *r, const char *domain, size_t bytes,
                uint64_t now, uint64_t *wait_ms)
{
	struct rate_entry *e;
	uint64_t ws, wb;

	*wait_ms = 0;
	if (r->opts.stanzas == 0 && r->opts.bytes == 0)
		return S2S_RATE_OK;
	e = rate_entry(r, domain, now);
	rate_update(r, e, now);
	if (r->opts.stanzas != 0)
		e->st.tokens -= RATE_MILLI;
	if (r->opts.bytes != 0)
		e->by.tokens -= (int64_t)bytes * RATE_MILLI;
	ws = rate_wait(&e->st, r->opts.stanzas);
	wb = rate_wait(&e->by, r->opts.bytes);
	if (ws == 0 && wb == 0) {
		if (e->over &&
		    rate_half_full(&e->st, r->opts.stanzas, r->opts.burst_ms) &&
		    rate_half_full(&e->by, r->opts.bytes, r->opts.burst_ms))
			e->over = false;
		return S2S_RATE_OK;
	}
	if (!e->over) {
		e->over = true;
		e->over_since = now;
	}
	if (now - e->over_since >= r->opts.grace_ms)
		return S2S_RATE_CLOSE;
	*wait_ms = ws > wb ? ws : wb;
	return S2S_RATE_PAUSE;
}

size_t
s2s_rate_count(const struct s2s_rate *r)
{
	return htab_count(r->byname);
}

struct rate_sweep {
	const struct s2s_rate *r;
	uint64_t now;
	struct rate_entry **gone;
	size_t ngone;
};

static void
rate_sweep_one(void *arg, const char *key, void *value)
{
	struct rate_sweep *sw = arg;
	struct rate_entry *e = value;

	(void)key;
	rate_update(sw->r, e, sw->now);
	if (rate_full(sw->r, e))
		sw->gone[sw->ngone++] = e;
}

void
s2s_rate_sweep(struct s2s_rate *r, uint64_t now)
{
	struct rate_sweep sw = {r, now, NULL, 0};
	size_t i;

	/* Collected first: the table must not change while iterating. */
	sw.gone = xcalloc(htab_count(r->byname) + 1, sizeof(*sw.gone));
	htab_foreach(r->byname, rate_sweep_one, &sw);
	for (i = 0; i < sw.ngone; i++) {
		htab_del(r->byname, sw.gone[i]->domain);
		rate_entry_free(sw.gone[i]);
	}
	free(sw.gone);
}
