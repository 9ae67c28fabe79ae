/* outq.h - the order in which batched output reaches the sockets.
 *
 * Connections batch what they write during a loop turn and flush it later
 * (s2s_conn, the router's links). Bytes must still reach the kernel no
 * later than anything written after them on another connection: an
 * acknowledgement (a cluster <ack/>, an XEP-0198 <a/>) must never leave
 * before the stanzas it covers, or a crash between the two flushes loses
 * them. Every batching connection embeds a struct outq_entry and marks it
 * when it appends; every flush goes through outq_flush(), which flushes the
 * queued entries oldest first; a writer that does not batch calls
 * outq_flush() before it writes.
 *
 * Pure: no I/O, no loop; one queue per process (single-threaded). The
 * entries are the caller's; flush callbacks run from outq_mark() and
 * outq_flush() and must not mark again. */
#ifndef S2SD_OUTQ_H
#define S2SD_OUTQ_H

#include <stdbool.h>

struct outq_entry {
	struct outq_entry *next, *prev;
	bool queued;
	void (*flush)(struct outq_entry *e);    /* write the batch now */
};

/* E is about to append bytes to its batch: queue it (a no-op when it is
 * the newest entry already). When E is queued behind others, everything
 * queued is flushed first, E's older bytes included. */
void outq_mark(struct outq_entry *e);
/* Flush every queued entry, oldest first (each is unqueued before its
 * callback runs). */
void outq_flush(void);
/* Forget E without flushing it (its connection is going away). */
void outq_remove(struct outq_entry *e);
bool outq_is_empty(void);

#endif
