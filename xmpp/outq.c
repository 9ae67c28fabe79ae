/* outq.c - one process-wide FIFO of connections holding batched output;
 * see outq.h. */
#include "xmpp/outq.h"

#include <stddef.h>

static struct outq_entry *outq_head, *outq_tail;

void
outq_remove(struct outq_entry *e)
{
	if (!e->queued)
		return;
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		outq_head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		outq_tail = e->prev;
	e->next = e->prev = NULL;
	e->queued = false;
}

void
outq_flush(void)
{
	struct outq_entry *e;

	while ((e = outq_head) != NULL) {
		outq_remove(e);
		e->flush(e);
	}
}

void
outq_mark(struct outq_entry *e)
{
	if (e == outq_tail)
		return;
	/* Queued earlier, now writing again after others: what the others
	 * hold may answer what E held, so all of it goes first. */
	if (e->queued)
		outq_flush();
	e->prev = outq_tail;
	e->next = NULL;
	if (outq_tail != NULL)
		outq_tail->next = e;
	else
		outq_head = e;
	outq_tail = e;
	e->queued = true;
}

bool
outq_is_empty(void)
{
	return outq_head == NULL;
}
