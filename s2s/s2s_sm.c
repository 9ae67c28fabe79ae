/* s2s_sm.c - XEP-0198 counters, the unacknowledged queue and the table of
 * resumable sessions; see s2s_sm.h. */
#include "s2s/s2s_sm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/util.h"
#include "xmpp/stanza.h"
#include "xmpp/xmlstream.h"

struct s2s_sm {
	struct s2s_sm_opts opts;
	uint32_t acked;         /* h of the last valid <a/> (or the base) */
	size_t nunacked;
	struct s2s_sm_item *head, *tail;
	uint32_t since_r;       /* sent since the last <r/> */
	uint64_t pending_since; /* when the first of those was sent */
	unsigned r_out;         /* <r/> not answered yet */
	uint64_t r_first_at;    /* when the oldest of them was sent */
	uint64_t r_last_at;
	uint32_t in_h;          /* receiving side: stanzas handled */
};

static struct s2s_sm_item *s2s_sm_pop(struct s2s_sm *sm);

struct s2s_sm *
s2s_sm_new(const struct s2s_sm_opts *opts)
{
	struct s2s_sm *sm = xcalloc(1, sizeof(*sm));

	sm->opts = *opts;
	if (sm->opts.ack_every == 0)
		sm->opts.ack_every = 1;
	return sm;
}

void
s2s_sm_item_free(struct s2s_sm_item *it)
{
	if (it == NULL)
		return;
	stanza_free(it->st);
	free(it);
}

static void
s2s_sm_clear(struct s2s_sm *sm)
{
	struct s2s_sm_item *it;

	while ((it = s2s_sm_pop(sm)) != NULL)
		s2s_sm_item_free(it);
}

void
s2s_sm_free(struct s2s_sm *sm)
{
	if (sm == NULL)
		return;
	s2s_sm_clear(sm);
	free(sm);
}

void
s2s_sm_out_start(struct s2s_sm *sm, uint32_t base, uint64_t now)
{
	(void)now;
	s2s_sm_clear(sm);
	sm->acked = base;
	sm->since_r = 0;
	sm->pending_since = 0;
	sm->r_out = 0;
}

bool
s2s_sm_sent(struct s2s_sm *sm, const char *xml, size_t len,
            const char *local, const char *remote, uint64_t now)
{
	size_t llen = strlen(local) + 1, rlen = strlen(remote) + 1;
	struct s2s_sm_item *it = xmalloc(sizeof(*it) + llen + rlen + len);

	it->local = (char *)(it + 1);
	it->remote = it->local + llen;
	it->xml = it->remote + rlen;
	memcpy(it->local, local, llen);
	memcpy(it->remote, remote, rlen);
	memcpy(it->xml, xml, len);
	it->len = len;
	it->st = NULL;
	it->next = NULL;
	/* Numbers wrap at 2^32 (XEP-0198 section 4). */
	it->seq = sm->acked + (uint32_t)sm->nunacked + 1;
	if (sm->tail != NULL)
		sm->tail->next = it;
	else
		sm->head = it;
	sm->tail = it;
	sm->nunacked++;
	if (sm->since_r++ == 0)
		sm->pending_since = now;
	return sm->since_r >= sm->opts.ack_every;
}

void
s2s_sm_r_sent(struct s2s_sm *sm, uint64_t now)
{
	sm->since_r = 0;
	sm->pending_since = 0;
	if (sm->r_out++ == 0)
		sm->r_first_at = now;
	sm->r_last_at = now;
}

bool
s2s_sm_h_valid(const struct s2s_sm *sm, uint32_t h)
{
	/* Mod 2^32: a count behind the last one wraps to a huge distance and
	 * is refused like one beyond what was sent. */
	return (uint64_t)(uint32_t)(h - sm->acked) <= (uint64_t)sm->nunacked;
}

int
s2s_sm_acked(struct s2s_sm *sm, uint32_t h, uint64_t now)
{
	uint32_t n;
	uint32_t i;

	if (!s2s_sm_h_valid(sm, h))
		return -ERANGE;
	n = h - sm->acked;
	for (i = 0; i < n; i++)
		s2s_sm_item_free(s2s_sm_pop(sm));
	sm->acked = h;
	if (sm->r_out > 0 && --sm->r_out > 0)
		sm->r_first_at = sm->r_last_at;
	/* What the answer did not cover (sent after the <r/>) still needs
	 * one: time it from now. */
	if (sm->r_out == 0 && sm->nunacked > 0 && sm->since_r == 0) {
		sm->since_r = sm->nunacked > UINT32_MAX ? UINT32_MAX
		                                        : (uint32_t)sm->nunacked;
		sm->pending_since = now;
	}
	return (int)n;
}

uint32_t
s2s_sm_sent_count(const struct s2s_sm *sm)
{
	return sm->acked + (uint32_t)sm->nunacked;
}

uint32_t
s2s_sm_acked_count(const struct s2s_sm *sm)
{
	return sm->acked;
}

size_t
s2s_sm_unacked(const struct s2s_sm *sm)
{
	return sm->nunacked;
}

static struct s2s_sm_item *
s2s_sm_pop(struct s2s_sm *sm)
{
	struct s2s_sm_item *it = sm->head;

	if (it == NULL)
		return NULL;
	sm->head = it->next;
	if (sm->head == NULL)
		sm->tail = NULL;
	it->next = NULL;
	sm->nunacked--;
	return it;
}

static void
s2s_sm_parsed(void *arg, struct stanza *st)
{
	struct stanza **out = arg;

	if (*out == NULL)
		*out = st;
	else
		stanza_free(st);
}

/* The stanza back from the bytes that were sent. They passed our limits
 * once, on input, whatever they were configured to: parse without any. */
static struct stanza *
s2s_sm_parse(const char *xml, size_t len)
{
	static const char hdr[] = "<stream:stream xmlns='jabber:server' "
	                          "xmlns:stream='" XMLSTREAM_NS_STREAMS "'>";
	struct xmlstream_opts o = {len + 4096, 100000, 100000, len + 1,
	                           len + 1};
	struct xmlstream_cbs cbs = {NULL, s2s_sm_parsed, NULL, NULL};
	struct stanza *st = NULL;
	struct xmlstream *xs = xmlstream_new(&o, &cbs, &st);

	if (xmlstream_feed(xs, hdr, sizeof(hdr) - 1) < 0 ||
	    xmlstream_feed(xs, xml, len) < 0) {
		stanza_free(st);
		st = NULL;
	}
	xmlstream_free(xs);
	return st;
}

struct s2s_sm_item *
s2s_sm_take(struct s2s_sm *sm)
{
	struct s2s_sm_item *it;

	while ((it = s2s_sm_pop(sm)) != NULL) {
		if ((it->st = s2s_sm_parse(it->xml, it->len)) != NULL)
			return it;
		/* Cannot happen: we serialized these bytes ourselves. */
		log_error(LOG_SUB_S2S, 0, "sm unacked stanza seq=%lu does not "
		          "parse back; dropped", (unsigned long)it->seq);
		s2s_sm_item_free(it);
	}
	return NULL;
}

static uint64_t
s2s_sm_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX - 1 : a + b;
}

uint64_t
s2s_sm_deadline(const struct s2s_sm *sm)
{
	uint64_t next = UINT64_MAX, t;

	if (sm->r_out > 0)
		next = s2s_sm_add(sm->r_first_at, sm->opts.ack_timeout_ms);
	if (sm->since_r > 0) {
		t = s2s_sm_add(sm->pending_since, sm->opts.ack_interval_ms);
		next = t < next ? t : next;
	}
	return next;
}

enum s2s_sm_due
s2s_sm_tick(const struct s2s_sm *sm, uint64_t now)
{
	if (sm->r_out > 0 &&
	    now >= s2s_sm_add(sm->r_first_at, sm->opts.ack_timeout_ms))
		return S2S_SM_DEAD;
	if (sm->since_r > 0 &&
	    now >= s2s_sm_add(sm->pending_since, sm->opts.ack_interval_ms))
		return S2S_SM_SEND_R;
	return S2S_SM_NOTHING;
}

void
s2s_sm_in_handled(struct s2s_sm *sm)
{
	sm->in_h++;     /* wraps at 2^32 by design */
}

uint32_t
s2s_sm_in_h(const struct s2s_sm *sm)
{
	return sm->in_h;
}

void
s2s_sm_in_set_h(struct s2s_sm *sm, uint32_t h)
{
	sm->in_h = h;
}

/* ---- resumable sessions ---- */

struct s2s_sm_entry {
	char *id;
	uint32_t h;
	char **remotes;
	size_t nremotes;
	uint64_t expires;
	uint64_t order;         /* put order: the oldest is evicted first */
};

struct s2s_sm_table {
	struct s2s_sm_entry *e;
	size_t n, max;
	uint64_t next_order;
};

struct s2s_sm_table *
s2s_sm_table_new(size_t max_entries)
{
	struct s2s_sm_table *t = xcalloc(1, sizeof(*t));

	t->max = max_entries > 0 ? max_entries : 1;
	t->e = xcalloc(t->max, sizeof(*t->e));
	return t;
}

static void
s2s_sm_entry_drop(struct s2s_sm_table *t, size_t i)
{
	struct s2s_sm_entry *e = &t->e[i];
	size_t k;

	free(e->id);
	for (k = 0; k < e->nremotes; k++)
		free(e->remotes[k]);
	free(e->remotes);
	t->e[i] = t->e[--t->n];
}

void
s2s_sm_table_free(struct s2s_sm_table *t)
{
	if (t == NULL)
		return;
	while (t->n > 0)
		s2s_sm_entry_drop(t, 0);
	free(t->e);
	free(t);
}

static struct s2s_sm_entry *
s2s_sm_find(const struct s2s_sm_table *t, const char *id, size_t *idx)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->e[i].id, id) == 0) {
			*idx = i;
			return &t->e[i];
		}
	return NULL;
}

static void
s2s_sm_prune(struct s2s_sm_table *t, uint64_t now)
{
	size_t i = 0;

	while (i < t->n) {
		if (t->e[i].expires <= now)
			s2s_sm_entry_drop(t, i);
		else
			i++;
	}
}

static void
s2s_sm_evict_oldest(struct s2s_sm_table *t)
{
	size_t i, old = 0;

	for (i = 1; i < t->n; i++)
		if (t->e[i].order < t->e[old].order)
			old = i;
	log_info(LOG_SUB_S2S, 0, "sm session-evicted id=%s remote=%s: table "
	         "full", t->e[old].id, t->e[old].nremotes > 0
	                                   ? t->e[old].remotes[0] : "-");
	s2s_sm_entry_drop(t, old);
}

void
s2s_sm_table_put(struct s2s_sm_table *t, const char *id, uint32_t h,
                 const char *const *remotes, size_t n, uint64_t expires,
                 uint64_t now)
{
	struct s2s_sm_entry *e;
	size_t i;

	s2s_sm_table_del(t, id);
	s2s_sm_prune(t, now);
	if (t->n == t->max)
		s2s_sm_evict_oldest(t);
	e = &t->e[t->n++];
	e->id = xstrdup(id);
	e->h = h;
	e->remotes = xcalloc(n > 0 ? n : 1, sizeof(*e->remotes));
	for (i = 0; i < n; i++)
		e->remotes[i] = xstrdup(remotes[i]);
	e->nremotes = n;
	e->expires = expires;
	e->order = t->next_order++;
}

int
s2s_sm_table_take(struct s2s_sm_table *t, const char *id,
                  s2s_sm_authed_fn *authed, void *arg, uint32_t *h,
                  uint64_t now)
{
	struct s2s_sm_entry *e;
	size_t i, k;

	s2s_sm_prune(t, now);
	if ((e = s2s_sm_find(t, id, &i)) == NULL)
		return -ENOENT;
	/* A session without any authenticated domain is nobody's. */
	if (e->nremotes == 0)
		return -EPERM;
	for (k = 0; k < e->nremotes; k++)
		if (!authed(arg, e->remotes[k]))
			return -EPERM;
	*h = e->h;
	s2s_sm_entry_drop(t, i);
	return 0;
}

void
s2s_sm_table_del(struct s2s_sm_table *t, const char *id)
{
	size_t i;

	if (s2s_sm_find(t, id, &i) != NULL)
		s2s_sm_entry_drop(t, i);
}

size_t
s2s_sm_table_count(const struct s2s_sm_table *t)
{
	return t->n;
}
