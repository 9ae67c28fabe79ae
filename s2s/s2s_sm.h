/* s2s_sm.h - XEP-0198 stream management state for S2S streams: the
 * counters and the unacknowledged queue of one stream (struct s2s_sm), and
 * the sessions a receiving server keeps for resumption after their transport
 * died (struct s2s_sm_table).
 *
 * Pure: no I/O, no clock read (NOW is passed in). Counters are mod 2^32 as
 * the XEP says. The sending side keeps every stanza it sent until an <a/>
 * covers it; items handed out by s2s_sm_take() are owned by the caller
 * (s2s_sm_item_free). The table copies what it is given. */
#ifndef S2SD_S2S_SM_H
#define S2SD_S2S_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S2S_NS_SM "urn:xmpp:sm:3"

struct stanza;
struct s2s_sm;
struct s2s_sm_table;

struct s2s_sm_opts {
	uint32_t ack_every;     /* <r/> after this many unacked (0: 1) */
	uint64_t ack_interval_ms;       /* ... or unacked data this old */
	uint64_t ack_timeout_ms;        /* no <a/> this long after <r/>: dead */
};

/* One sent, unacknowledged stanza and the pair it was sent for. The queue
 * keeps only the bytes that were sent (one allocation per stanza); ST is
 * parsed back from them by s2s_sm_take(), the rare path. */
struct s2s_sm_item {
	uint32_t seq;           /* its number in the session (1 = first) */
	char *local, *remote;   /* in the item's own allocation */
	struct stanza *st;      /* NULL while queued */
	struct s2s_sm_item *next;
	size_t len;             /* of xml */
	char *xml;              /* in the item's own allocation */
};

enum s2s_sm_due { S2S_SM_NOTHING, S2S_SM_SEND_R, S2S_SM_DEAD };

struct s2s_sm *s2s_sm_new(const struct s2s_sm_opts *opts);  /* owned */
void s2s_sm_free(struct s2s_sm *sm);                        /* NULL ok */

/* Sending side: count from BASE (0 after <enable/>, the peer's h after
 * <resumed/>); anything still queued is dropped. */
void s2s_sm_out_start(struct s2s_sm *sm, uint32_t base, uint64_t now);
/* The LEN bytes at XML, one stanza as sent in a jabber:server stream
 * (declaring every namespace it uses but that default one), were sent for
 * (LOCAL, REMOTE): keep them (everything copied). True when an <r/> is due
 * now (ack_every reached); the caller sends it and reports
 * s2s_sm_r_sent(). */
bool s2s_sm_sent(struct s2s_sm *sm, const char *xml, size_t len,
                 const char *local, const char *remote, uint64_t now);
void s2s_sm_r_sent(struct s2s_sm *sm, uint64_t now);
/* The peer's <a h/>: drop what it covers. Returns how many, or -ERANGE when
 * H acknowledges more than was sent (or goes back): a protocol error. */
int s2s_sm_acked(struct s2s_sm *sm, uint32_t h, uint64_t now);
/* Is H a valid answer now (without acting on it)? */
bool s2s_sm_h_valid(const struct s2s_sm *sm, uint32_t h);
/* Stanzas sent in this session so far (mod 2^32) and acknowledged. */
uint32_t s2s_sm_sent_count(const struct s2s_sm *sm);
uint32_t s2s_sm_acked_count(const struct s2s_sm *sm);
size_t s2s_sm_unacked(const struct s2s_sm *sm);
/* The oldest unacknowledged item (returns owned, with ST parsed back from
 * the bytes) or NULL. */
struct s2s_sm_item *s2s_sm_take(struct s2s_sm *sm);
void s2s_sm_item_free(struct s2s_sm_item *it);              /* NULL ok */

/* Time-outs of the sending side: when an <r/> is due for old unacked data,
 * or when the peer is dead because its <a/> is late (UINT64_MAX: none). */
uint64_t s2s_sm_deadline(const struct s2s_sm *sm);
enum s2s_sm_due s2s_sm_tick(const struct s2s_sm *sm, uint64_t now);

/* Receiving side: one more stanza handled; the count (h) so far. */
void s2s_sm_in_handled(struct s2s_sm *sm);
uint32_t s2s_sm_in_h(const struct s2s_sm *sm);
void s2s_sm_in_set_h(struct s2s_sm *sm, uint32_t h);

/* Sessions kept for resumption, keyed by their id. Each remembers the
 * remote domains authenticated on its stream: only a stream on which all of
 * them are authenticated again may resume it (resumption is bound to the
 * authenticated peer, not to knowledge of the id). */
typedef bool s2s_sm_authed_fn(void *arg, const char *remote);

struct s2s_sm_table *s2s_sm_table_new(size_t max_entries);
void s2s_sm_table_free(struct s2s_sm_table *t);             /* NULL ok */
/* Keep session ID with handled count H for the remote domains REMOTES[N]
 * until EXPIRES (copied). Expired entries are pruned; at MAX the oldest
 * goes. A second put for ID replaces the first. */
void s2s_sm_table_put(struct s2s_sm_table *t, const char *id, uint32_t h,
                      const char *const *remotes, size_t n, uint64_t expires,
                      uint64_t now);
/* Resume ID on a stream where AUTHED says which remote domains are
 * authenticated: 0 and *H (the entry is gone), -ENOENT (unknown or
 * expired) or -EPERM (bound to another domain: the entry stays). */
int s2s_sm_table_take(struct s2s_sm_table *t, const char *id,
                      s2s_sm_authed_fn *authed, void *arg, uint32_t *h,
                      uint64_t now);
void s2s_sm_table_del(struct s2s_sm_table *t, const char *id);
size_t s2s_sm_table_count(const struct s2s_sm_table *t);

#endif
