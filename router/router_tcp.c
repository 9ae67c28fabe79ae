/* router_tcp.c - the TCP side of a home node's link: reads go to the link
 * synchronously from one fixed buffer; writes made during one loop turn are
 * batched (xmpp/outq.h keeps the order with other connections) and go out
 * as one uv_write at the end of the turn, in a buffer lent by a small pool
 * shared by all links (an idle link holds none); closing flushes what was
 * written (uv_shutdown) before closing the handles, with a time limit for a
 * peer that stopped reading. The last close callback tells the router the
 * link is gone and frees the connection. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/util.h"
#include "router/router_int.h"
#include "xmpp/outq.h"

#define ROUTER_TCP_READ_BUF 16384
#define ROUTER_TCP_FLUSH_MS 5000
#define ROUTER_TCP_BATCH 16384          /* flushed early past this */
#define ROUTER_TCP_POOL 8               /* spare batch buffers, all links */
#define ROUTER_TCP_POOL_CAP (256 * 1024)

struct router_tcp {
	uv_tcp_t *tcp;          /* taken from the listener; freed on close */
	uv_timer_t timer;       /* deferred error, then the flush limit */
	uv_shutdown_t shutdown;
	uv_idle_t flush;        /* runs once per turn while a batch waits */
	struct outq_entry oq;
	struct util_buf batch;  /* from the pool while it holds bytes */
	struct router_link *link;
	int open;               /* handles not closed yet */
	int error;              /* a write failure to report */
	bool closing;           /* the link asked to close */
	bool handles_closing;
	char rbuf[ROUTER_TCP_READ_BUF];
};

/* A flushed batch: the buffer goes back to the pool when written. */
struct router_tcp_write {
	uv_write_t req;
	struct util_buf buf;
};

static struct util_buf router_tcp_pool[ROUTER_TCP_POOL];
static size_t router_tcp_npool;

static void
router_tcp_buf_give(struct util_buf *b)
{
	if (b->data != NULL && router_tcp_npool < ROUTER_TCP_POOL &&
	    b->cap <= ROUTER_TCP_POOL_CAP) {
		util_buf_reset(b);
		router_tcp_pool[router_tcp_npool++] = *b;
	} else {
		util_buf_free(b);
	}
	memset(b, 0, sizeof(*b));
}

static void
router_tcp_on_closed(uv_handle_t *h)
{
	struct router_tcp *c = h->data;

	if (--c->open > 0)
		return;
	outq_remove(&c->oq);
	router_tcp_buf_give(&c->batch);
	router__link_gone(c->link);
	free(c->tcp);
	free(c);
}

static void
router_tcp_close_handles(struct router_tcp *c)
{
	if (c->handles_closing)
		return;
	c->handles_closing = true;
	uv_close((uv_handle_t *)&c->timer, router_tcp_on_closed);
	uv_close((uv_handle_t *)&c->flush, router_tcp_on_closed);
	uv_close((uv_handle_t *)c->tcp, router_tcp_on_closed);
}

static void
router_tcp_on_timer(uv_timer_t *t)
{
	struct router_tcp *c = t->data;

	if (c->closing)
		router_tcp_close_handles(c);    /* the flush took too long */
	else if (c->error != 0)
		router__link_eof(c->link, c->error);
}

static void
router_tcp_on_write(uv_write_t *req, int status)
{
	struct router_tcp_write *w = (struct router_tcp_write *)req;
	struct router_tcp *c = req->handle->data;
	size_t len = w->buf.len;

	router_tcp_buf_give(&w->buf);
	free(w);
	router__link_written(c->link, len);
	if (status < 0 && !c->closing)
		router__link_eof(c->link, status);
}

/* The batch as one write, from outq_flush() only. A failure is reported
 * from the timer: the caller may be in the middle of a link's work. */
static void
router_tcp_write_batch(struct outq_entry *e)
{
	struct router_tcp *c = (struct router_tcp *)((char *)e -
	                                             offsetof(struct router_tcp,
	                                                      oq));
	struct router_tcp_write *w;
	uv_buf_t b;
	size_t len;
	int rc;

	if (!c->handles_closing)
		uv_idle_stop(&c->flush);
	if (c->batch.len == 0 || c->handles_closing || c->error != 0) {
		/* never written: not pending any more (back-pressure) */
		if (c->batch.len != 0)
			router__link_written(c->link, c->batch.len);
		router_tcp_buf_give(&c->batch);
		return;
	}
	w = xmalloc(sizeof(*w));
	w->buf = c->batch;
	memset(&c->batch, 0, sizeof(c->batch));
	b = uv_buf_init(w->buf.data, (unsigned)w->buf.len);
	if ((rc = uv_write(&w->req, (uv_stream_t *)c->tcp, &b, 1,
	                   router_tcp_on_write)) < 0) {
		len = w->buf.len;
		router_tcp_buf_give(&w->buf);
		free(w);
		router__link_written(c->link, len);
		c->error = rc;
		if (!c->closing)
			uv_timer_start(&c->timer, router_tcp_on_timer, 0, 0);
	}
}

static void
router_tcp_on_flush(uv_idle_t *h)
{
	uv_idle_stop(h);
	outq_flush();
}

static void
router_tcp_write(void *arg, const char *buf, size_t len)
{
	struct router_tcp *c = arg;

	if (c->closing || c->error != 0) {
		router__link_written(c->link, len);     /* never pending */
		return;
	}
	outq_mark(&c->oq);
	if (c->batch.data == NULL && router_tcp_npool > 0)
		c->batch = router_tcp_pool[--router_tcp_npool];
	util_buf_append(&c->batch, buf, len);
	if (c->batch.len >= ROUTER_TCP_BATCH)
		outq_flush();
	else
		uv_idle_start(&c->flush, router_tcp_on_flush);
}

static void
router_tcp_on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	router_tcp_close_handles(req->data);
}

static void
router_tcp_close(void *arg)
{
	struct router_tcp *c = arg;

	if (c->closing)
		return;
	outq_flush();            /* what was written goes before the FIN */
	c->closing = true;
	uv_read_stop((uv_stream_t *)c->tcp);
	c->shutdown.data = c;
	if (c->error != 0 ||
	    uv_shutdown(&c->shutdown, (uv_stream_t *)c->tcp,
	                router_tcp_on_shutdown) < 0) {
		router_tcp_close_handles(c);
		return;
	}
	uv_timer_start(&c->timer, router_tcp_on_timer, ROUTER_TCP_FLUSH_MS, 0);
}

static void
router_tcp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct router_tcp *c = h->data;

	(void)hint;
	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void
router_tcp_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct router_tcp *c = s->data;

	if (n > 0)
		router__link_input(c->link, buf->base, (size_t)n);
	else if (n < 0)
		router__link_eof(c->link, n == UV_EOF ? 0 : (int)n);
}

/* Back-pressure (router__link_flow): stop or restart reading. */
static void
router_tcp_pause(void *arg, bool stop)
{
	struct router_tcp *c = arg;

	if (c->closing || c->error != 0)
		return;
	if (stop)
		uv_read_stop((uv_stream_t *)c->tcp);
	else
		uv_read_start((uv_stream_t *)c->tcp, router_tcp_alloc,
		              router_tcp_on_read);
}

static const struct router_transport router_tcp_ops = {
    router_tcp_write, router_tcp_close};

void
router__tcp_accept(struct router *r, uv_tcp_t *client, const char *peer)
{
	struct router_tcp *c = xcalloc(1, sizeof(*c));
	int rc;

	c->tcp = client;
	client->data = c;
	uv_timer_init(client->loop, &c->timer);
	c->timer.data = c;
	uv_idle_init(client->loop, &c->flush);
	c->flush.data = c;
	c->oq.flush = router_tcp_write_batch;
	c->open = 3;
	uv_tcp_nodelay(client, 1);
	/* The link may close at once (the router is closing): then the
	 * transport is already closing when attach returns. */
	c->link = router__attach(r, &router_tcp_ops, c, peer);
	if (c->closing)
		return;
	router__link_flow(c->link, router_tcp_pause);
	if ((rc = uv_read_start((uv_stream_t *)client, router_tcp_alloc,
	                        router_tcp_on_read)) < 0) {
		log_warnx(LOG_SUB_ROUTER, 0, "read start failed peer=%s error=%s",
		          peer, uv_strerror(rc));
		c->error = rc;
		uv_timer_start(&c->timer, router_tcp_on_timer, 0, 0);
	}
}
