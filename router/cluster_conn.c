/* cluster_conn.c - one connection between two nodes of the cluster: TCP,
 * then TLS 1.3 with the cluster key (tls/tls_psk.h), then the link protocol
 * (router/cluster_link.h). Bytes flow read -> tls_psk_feed -> link input,
 * and link send -> tls_psk_write -> uv_write (one allocation per write,
 * freed in its callback). One timer bounds the set-up (connect, TLS,
 * hello), then the flush on close. Closing shuts the socket down after the
 * last write and closes the handles; the last close callback hands the
 * connection back to cluster.c, which routes what was not acknowledged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "router/cluster_int.h"
#include "xmpp/outq.h"

#define CLUSTER_FLUSH_MS 2000

struct cluster_write {
	uv_write_t req;
	char data[];
};

static void
conn_on_closed(uv_handle_t *h)
{
	struct cluster_conn *conn = h->data;
	struct cluster *c = conn->c;

	if (--conn->open > 0)
		return;
	cluster__gone(conn);
	if (conn->next != NULL)
		conn->next->prevp = conn->prevp;
	*conn->prevp = conn->next;
	cluster_link_free(conn->link);
	tls_psk_free(conn->tls);
	free(conn->tcp);
	free(conn);
	cluster__maybe_done(c);
}

static void
conn_close_handles(struct cluster_conn *conn)
{
	if (conn->handles_closing)
		return;
	conn->handles_closing = true;
	uv_close((uv_handle_t *)&conn->timer, conn_on_closed);
	uv_close((uv_handle_t *)conn->tcp, conn_on_closed);
}

static void
conn_on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	conn_close_handles(req->data);
}

static void
conn_on_flush_timer(uv_timer_t *t)
{
	conn_close_handles(t->data);
}

/* Flush what was written, then close. Idempotent. */
void
cluster__conn_close(struct cluster_conn *conn)
{
	if (conn->closing)
		return;
	conn->closing = true;
	if (conn->tls != NULL)
		tls_psk_close(conn->tls);
	uv_read_stop((uv_stream_t *)conn->tcp);
	conn->sreq.data = conn;
	uv_timer_stop(&conn->timer);
	if (uv_shutdown(&conn->sreq, (uv_stream_t *)conn->tcp,
	                conn_on_shutdown) < 0) {
		conn_close_handles(conn);
		return;
	}
	uv_timer_start(&conn->timer, conn_on_flush_timer, CLUSTER_FLUSH_MS, 0);
}

/* A failure of the transport: the link (if any) reports closed, which
 * closes the connection; otherwise close it here. */
static void
conn_fail(struct cluster_conn *conn, int err, const char *why)
{
	if (conn->closing)
		return;
	if (conn->link != NULL && !cluster_link_is_closed(conn->link)) {
		cluster_link_eof(conn->link, err);
		return;
	}
	cluster__down(conn, err, why);
	cluster__conn_close(conn);
}

static void
conn_on_write(uv_write_t *req, int status)
{
	struct cluster_conn *conn = req->handle->data;

	free(req);
	if (status < 0 && !conn->closing)
		conn_fail(conn, status, uv_strerror(status));
}

static void
conn_tls_send(void *arg, const void *buf, size_t len)
{
	struct cluster_conn *conn = arg;
	struct cluster_write *w;
	uv_buf_t b;
	int rc;

	if (conn->handles_closing)
		return;
	w = xmalloc(sizeof(*w) + len);
	memcpy(w->data, buf, len);
	b = uv_buf_init(w->data, (unsigned)len);
	if ((rc = uv_write(&w->req, (uv_stream_t *)conn->tcp, &b, 1,
	                   conn_on_write)) < 0) {
		free(w);
		log_debug(LOG_SUB_ROUTER, conn->connid, "cluster write failed "
		          "error=%s", uv_strerror(rc));
	}
}

void
cluster__conn_link_send(void *arg, const char *buf, size_t len)
{
	struct cluster_conn *conn = arg;

	/* Unbatched: what other connections batched goes first (an <ack/>
	 * must not leave before the stanzas it covers; outq.h). */
	outq_flush();
	/* After close_notify nothing more can go out; the link is over. */
	tls_psk_write(conn->tls, buf, len);
}

static void
conn_tls_handshake(void *arg, int status)
{
	struct cluster_conn *conn = arg;
	struct cluster_link_opts o = {0};
	uint8_t nonce[16];
	const char *ident;

	if (status < 0) {
		conn_fail(conn, status, tls_psk_error(conn->tls));
		return;
	}
	if (!conn->outbound) {
		ident = tls_psk_identity(conn->tls);
		if ((conn->peer = cluster__peer(conn->c, ident)) == NULL)
			fatalx("%s: TLS accepted an unknown node", __func__);
	}
	util_random(nonce, sizeof(nonce));
	o.local = conn->c->node;
	o.nonce = nonce;
	o.xml = conn->c->xml;
	o.connid = conn->connid;
	conn->link = cluster_link_new(&o, &cluster__link_cbs, conn);
	cluster_link_set_summary(conn->link, &conn->c->sum);
	cluster_link_start(conn->link);
}

static void
conn_tls_data(void *arg, const void *buf, size_t len)
{
	struct cluster_conn *conn = arg;

	if (conn->link == NULL || cluster_link_is_closed(conn->link))
		return;
	cluster_link_input(conn->link, buf, len);
	if (!conn->up && cluster_link_is_up(conn->link)) {
		uv_timer_stop(&conn->timer);
		cluster__up(conn);
	}
}

static void
conn_tls_closed(void *arg, int status)
{
	struct cluster_conn *conn = arg;

	conn_fail(conn, status, status == 0 ? "closed by peer"
	                                    : tls_psk_error(conn->tls));
}

static int
conn_tls_key(void *arg, const char *identity, uint8_t key[TLS_PSK_KEY_LEN])
{
	struct cluster_conn *conn = arg;
	struct cluster_peer *p = cluster__peer(conn->c, identity);

	if (p == NULL)
		return -ENOENT;
	memcpy(key, conn->c->key, TLS_PSK_KEY_LEN);
	return 0;
}

static void
conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct cluster_conn *conn = h->data;

	(void)hint;
	*buf = uv_buf_init(conn->rbuf, sizeof(conn->rbuf));
}

static void
conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct cluster_conn *conn = s->data;

	if (n > 0)
		tls_psk_feed(conn->tls, buf->base, (size_t)n);
	else if (n < 0)
		conn_fail(conn, n == UV_EOF ? 0 : (int)n,
		          n == UV_EOF ? "connection closed by peer"
		                      : uv_strerror((int)n));
}

static void
conn_on_timeout(uv_timer_t *t)
{
	struct cluster_conn *conn = t->data;

	if (conn->link != NULL && !cluster_link_is_closed(conn->link))
		cluster_link_close(conn->link, S2SD_ETIMEOUT,
		                   "connection-timeout", "no hello in time");
	else
		conn_fail(conn, S2SD_ETIMEOUT, "set-up timed out");
}

static void
conn_start_reading(struct cluster_conn *conn)
{
	int rc;

	uv_tcp_nodelay(conn->tcp, 1);
	uv_tcp_keepalive(conn->tcp, 1, 10);
	if ((rc = uv_read_start((uv_stream_t *)conn->tcp, conn_alloc,
	                        conn_on_read)) < 0 ||
	    (rc = tls_psk_start(conn->tls)) < 0)
		conn_fail(conn, rc, "cannot start");
}

static void
conn_on_connect(uv_connect_t *req, int status)
{
	struct cluster_conn *conn = req->data;

	if (conn->closing)
		return;
	if (status < 0) {
		conn_fail(conn, status, uv_strerror(status));
		return;
	}
	log_debug(LOG_SUB_ROUTER, conn->connid, "cluster connected peer=%s "
	          "addr=%s", conn->peer->name, conn->addr);
	conn_start_reading(conn);
}

void
cluster__conn_connect(struct cluster_conn *conn)
{
	int rc;

	conn->creq.data = conn;
	rc = uv_tcp_connect(&conn->creq, conn->tcp,
	                    (const struct sockaddr *)&conn->peer->addr,
	                    conn_on_connect);
	if (rc < 0)
		conn_fail(conn, rc, uv_strerror(rc));
}

struct cluster_conn *
cluster__conn_new(struct cluster *c, uv_tcp_t *tcp,
                  struct cluster_peer *outbound_to, const char *addr)
{
	struct cluster_conn *conn = xcalloc(1, sizeof(*conn));
	struct tls_psk_cbs tcbs = {conn_tls_send, conn_tls_handshake,
	                           conn_tls_data, conn_tls_closed, conn_tls_key,
	                           conn};
	int rc;

	conn->c = c;
	conn->tcp = tcp;
	conn->peer = outbound_to;
	conn->outbound = outbound_to != NULL;
	conn->connid = util_connid();
	snprintf(conn->addr, sizeof(conn->addr), "%s", addr);
	tcp->data = conn;
	uv_timer_init(c->loop, &conn->timer);
	conn->timer.data = conn;
	conn->open = 2;
	if ((conn->next = c->conns) != NULL)
		conn->next->prevp = &conn->next;
	conn->prevp = &c->conns;
	c->conns = conn;
	rc = conn->outbound
	         ? tls_psk_new_client(c->node, c->key, &tcbs, conn->connid,
	                              &conn->tls)
	         : tls_psk_new_server(&tcbs, conn->connid, &conn->tls);
	if (rc < 0)
		fatalx("%s: cannot set up TLS-PSK", __func__);
	uv_timer_start(&conn->timer, conn_on_timeout, c->timeout_ms, 0);
	log_info(LOG_SUB_ROUTER, conn->connid, "cluster %s addr=%s%s%s",
	         conn->outbound ? "connect" : "accept", addr,
	         conn->outbound ? " peer=" : "",
	         conn->outbound ? outbound_to->name : "");
	if (!conn->outbound)
		conn_start_reading(conn);
	return conn;
}
