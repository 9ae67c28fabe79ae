/* s2s_conn.c - an S2S stream bound to a libuv socket and a TLS session;
 * see s2s_conn.h. */
#include "s2s/s2s_conn.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "tls/tls.h"
#include "xmpp/jid.h"
#include "xmpp/outq.h"

/* Time to flush the last bytes and close_notify before a hard close. */
#define S2S_CONN_LINGER_MS 5000
#define S2S_CONN_READ_BUF 65536
/* A batch is flushed at the end of the loop turn or once it holds this
 * much: one TLS record's worth of plaintext. */
#define S2S_CONN_BATCH 16384
/* Spare batch buffers kept for reuse by all conns, and the largest kept. */
#define S2S_CONN_POOL 8
#define S2S_CONN_POOL_CAP (256 * 1024)

struct s2s_conn {
	uv_loop_t *loop;
	uv_tcp_t *tcp;
	uv_timer_t timer;
	uv_idle_t flush;        /* runs once per turn while a batch waits */
	struct s2s_stream *st;
	struct tls_session *tls;
	struct tls_ctx *tlsctx;
	struct s2s_conn_opts opts;
	struct s2s_conn_cbs cbs;
	void *arg;
	void *data;
	uint64_t id;
	char *peer;
	bool tls_up;            /* handshake done: writes go through TLS */
	bool direct;            /* TLS from the first byte */
	bool closed_reported;
	bool transport_closing;
	bool start_failed;      /* direct TLS could not start: report soon */
	bool tls_counted;       /* the handshake's outcome is in the metrics */
	int open_handles;
	uint64_t created, last_in, last_out;
	uint64_t stanzas_in, stanzas_out;
	char cert[272];         /* the peer certificate's last verdict */
	size_t pending;         /* bytes in uv_write not yet completed */
	size_t pending_tls;     /* ... of which TLS records (the TLS session
	                         * counts those as in flight too) */
	struct outq_entry oq;   /* queued while the batch holds bytes */
	struct util_buf batch;  /* written this turn, not yet flushed; from
	                         * the pool, back to it at the flush */
	uint64_t writes;        /* uv_write calls */
	/* Looked up once: [0] in, [1] out. */
	struct metrics_series *m_stanzas[2], *m_bytes[2];
	uint64_t paused_until;  /* reads stopped until then (0: reading) */
	/* Back-pressure (s2s_conn_hold_reading, s2s_conn_watch_drain). */
	unsigned read_holds;    /* untimed pauses: reading stops while > 0 */
	uint64_t last_written;  /* last write completion */
	size_t drain_low;
	s2s_conn_drain_cb *drain_cb;    /* one-shot; NULL: not watching */
	void *drain_arg;
};

struct s2s_conn_write {
	uv_write_t req;
	struct s2s_conn *c;
	size_t len;
	bool tls;               /* ciphertext from the TLS session */
	char bytes[];
};

/* Reads are consumed synchronously, so one buffer serves every conn. */
static char s2s_conn_rbuf[S2S_CONN_READ_BUF];
/* Batches are flushed within the turn, so a few buffers serve every conn:
 * an idle conn holds none. */
static struct util_buf s2s_conn_pool[S2S_CONN_POOL];
static size_t s2s_conn_npool;

static void s2s_conn_arm(struct s2s_conn *c);
static void s2s_conn_transport_close(struct s2s_conn *c);
static void s2s_conn_flow_written(struct s2s_conn *c);
static void s2s_conn_batch_give(struct s2s_conn *c);

static uint64_t
s2s_conn_now(const struct s2s_conn *c)
{
	return uv_now(c->loop);
}

static const char *
s2s_conn_dir(const struct s2s_conn *c)
{
	return c->opts.stream.role == S2S_ROLE_IN ? "in" : "out";
}

/* A handshake that never ended: the negotiation timer, or the peer left. */
static void
s2s_conn_tls_unfinished(struct s2s_conn *c, int err)
{
	if (c->tls == NULL || c->tls_counted)
		return;
	c->tls_counted = true;
	metrics_series_add(metrics_series(METRICS_TLS_FAILURES, s2s_conn_dir(c),
	                                  err == S2SD_ETIMEOUT ? "timeout"
	                                                       : "closed",
	                                  NULL), 1);
}

/* The transport failed under the stream: report once, close. */
static void
s2s_conn_abort(struct s2s_conn *c, int err, const char *why)
{
	if (!c->closed_reported) {
		c->closed_reported = true;
		s2s_conn_tls_unfinished(c, err);
		log_info(LOG_SUB_S2S, c->id, "connection lost peer=%s state=%s "
		         "reason=\"%s\"", c->peer, s2s_stream_state_name(c->st),
		         why);
		c->cbs.closed(c->arg, c, err, why);
	}
	s2s_conn_transport_close(c);
}

static void
s2s_conn_on_close(uv_handle_t *h)
{
	struct s2s_conn *c = h->data;

	if (--c->open_handles > 0)
		return;
	outq_remove(&c->oq);
	s2s_conn_batch_give(c);
	s2s_stream_free(c->st);
	tls_session_free(c->tls);
	tls_ctx_unref(c->tlsctx);
	free(c->tcp);
	free(c->peer);
	free(c);
}

static void
s2s_conn_on_write(uv_write_t *req, int status)
{
	struct s2s_conn_write *w = (struct s2s_conn_write *)req;
	struct s2s_conn *c = w->c;

	c->pending -= w->len;
	if (w->tls)
		c->pending_tls -= w->len;
	if (w->tls && c->tls != NULL)
		tls_session_sent(c->tls, w->len);
	free(w);
	if (status < 0 && !c->transport_closing)
		s2s_conn_abort(c, status, uv_strerror(status));
	else if (status >= 0)
		s2s_conn_flow_written(c);
}

static void
s2s_conn_raw_write(struct s2s_conn *c, const void *buf, size_t len, bool tls)
{
	struct s2s_conn_write *w;
	uv_buf_t b;

	if (c->transport_closing && uv_is_closing((uv_handle_t *)c->tcp))
		return;
	w = xmalloc(sizeof(*w) + len);
	w->c = c;
	w->len = len;
	w->tls = tls;
	memcpy(w->bytes, buf, len);
	b = uv_buf_init(w->bytes, (unsigned)len);
	c->pending += len;
	if (tls)
		c->pending_tls += len;
	metrics_series_add(c->m_bytes[1], (double)len);
	if (uv_write(&w->req, (uv_stream_t *)c->tcp, &b, 1,
	             s2s_conn_on_write) < 0) {
		c->pending -= len;
		if (tls)
			c->pending_tls -= len;
		free(w);
		return;
	}
	c->writes++;
	c->last_out = s2s_conn_now(c);
}

static void
s2s_conn_batch_take(struct s2s_conn *c)
{
	if (c->batch.data == NULL && s2s_conn_npool > 0)
		c->batch = s2s_conn_pool[--s2s_conn_npool];
}

static void
s2s_conn_batch_give(struct s2s_conn *c)
{
	if (c->batch.data == NULL)
		return;
	if (s2s_conn_npool < S2S_CONN_POOL &&
	    c->batch.cap <= S2S_CONN_POOL_CAP) {
		util_buf_reset(&c->batch);
		s2s_conn_pool[s2s_conn_npool++] = c->batch;
	} else {
		util_buf_free(&c->batch);
	}
	memset(&c->batch, 0, sizeof(c->batch));
}

/* Everything the stream wrote since the last flush, as one TLS write (one
 * record up to 16 KiB of plaintext) and one socket write. Only from
 * outq_flush(), which keeps the order between connections. */
static void
s2s_conn_write_batch(struct outq_entry *e)
{
	struct s2s_conn *c = (struct s2s_conn *)((char *)e -
	                                         offsetof(struct s2s_conn, oq));

	if (!uv_is_closing((uv_handle_t *)&c->flush))
		uv_idle_stop(&c->flush);
	if (c->batch.len > 0) {
		if (c->tls_up)
			tls_session_write(c->tls, c->batch.data, c->batch.len);
		else
			s2s_conn_raw_write(c, c->batch.data, c->batch.len,
			                   false);
	}
	s2s_conn_batch_give(c);
}

/* The end of the loop turn (the next turn's idle phase, before polling). */
static void
s2s_conn_on_flush(uv_idle_t *h)
{
	uv_idle_stop(h);
	outq_flush();
}

/* ---- stream callbacks ---- */

static void
s2s_conn_st_send(void *arg, const char *buf, size_t len)
{
	struct s2s_conn *c = arg;

	outq_mark(&c->oq);
	s2s_conn_batch_take(c);
	util_buf_append(&c->batch, buf, len);
	/* Once closing, the close sequence needs the bytes on the socket. */
	if (c->batch.len >= S2S_CONN_BATCH || c->transport_closing ||
	    uv_is_closing((uv_handle_t *)&c->flush))
		outq_flush();
	else
		uv_idle_start(&c->flush, s2s_conn_on_flush);
}

static void
s2s_conn_tls_send(void *arg, const void *buf, size_t len)
{
	s2s_conn_raw_write(arg, buf, len, true);
}

static void
s2s_conn_tls_data(void *arg, const void *buf, size_t len)
{
	struct s2s_conn *c = arg;

	s2s_stream_input(c->st, buf, len, s2s_conn_now(c));
}

static void
s2s_conn_tls_handshake(void *arg, int status)
{
	struct s2s_conn *c = arg;

	c->tls_counted = true;
	outq_flush();           /* anything before this point was plaintext */
	if (status == 0) {
		c->tls_up = true;
		log_info(LOG_SUB_TLS, c->id, "tls ok version=%s cipher=%s "
		         "resumed=%s", tls_session_version(c->tls),
		         tls_session_cipher(c->tls),
		         tls_session_is_resumed(c->tls) ? "yes" : "no");
		metrics_series_add(metrics_series(METRICS_TLS_HANDSHAKES,
		                                  s2s_conn_dir(c),
		                                  tls_session_version(c->tls),
		                                  NULL), 1);
	} else {
		metrics_series_add(metrics_series(METRICS_TLS_FAILURES,
		                                  s2s_conn_dir(c),
		                                  tls_session_fail_class(c->tls),
		                                  NULL), 1);
		log_info(LOG_SUB_TLS, c->id, "tls failed peer=%s reason=\"%s\"",
		         c->peer, tls_session_error(c->tls));
	}
	if (!c->direct) {
		s2s_stream_tls_done(c->st, status < 0 ? S2SD_ETLS_HANDSHAKE : 0,
		                    s2s_conn_now(c));
	} else if (status < 0) {
		s2s_conn_abort(c, S2SD_ETLS_HANDSHAKE, "TLS handshake failed");
		return;
	} else {
		s2s_stream_start(c->st, s2s_conn_now(c));
	}
	s2s_conn_arm(c);
}

static void
s2s_conn_tls_closed(void *arg, int status)
{
	struct s2s_conn *c = arg;

	s2s_conn_abort(c, s2s_stream_is_ready(c->st) ? 0 : S2SD_ESTREAM,
	               status == 0 ? "TLS closed by peer" : "TLS error");
}

static int
s2s_conn_tls_start(struct s2s_conn *c)
{
	struct tls_session_cbs tcbs = {s2s_conn_tls_send,
	                               s2s_conn_tls_handshake,
	                               s2s_conn_tls_data, s2s_conn_tls_closed,
	                               c};
	const struct s2s_stream *st = c->st;
	int rc;

	if (c->tlsctx == NULL)
		return S2SD_ETLS;
	if (c->opts.stream.role == S2S_ROLE_OUT) {
		char ascii[JID_PART_MAX + 1];
		if (jid_domain_to_ascii(s2s_stream_remote(st), ascii,
		                        sizeof(ascii), NULL, 0) < 0)
			return S2SD_ETLS;
		rc = tls_session_new_client(c->tlsctx, s2s_stream_local(st),
		                            ascii, c->direct, c->id, &tcbs,
		                            &c->tls);
	} else {
		rc = tls_session_new_server(c->tlsctx, s2s_stream_local(st),
		                            c->direct, c->id, &tcbs, &c->tls);
	}
	if (rc < 0)
		return rc;
	return tls_session_start(c->tls);
}

static void
s2s_conn_st_starttls(void *arg)
{
	struct s2s_conn *c = arg;

	outq_flush();           /* <proceed/> goes before the TLS hello */
	if (s2s_conn_tls_start(c) < 0)
		s2s_stream_tls_done(c->st, S2SD_ETLS, s2s_conn_now(c));
}

static bool
s2s_conn_st_is_local(void *arg, const char *domain)
{
	struct s2s_conn *c = arg;

	return c->cbs.is_local(c->arg, domain);
}

static bool
s2s_conn_st_allowed_in(void *arg, const char *remote, char *why,
                       size_t whylen)
{
	struct s2s_conn *c = arg;

	return c->cbs.allowed_in(c->arg, remote, why, whylen);
}

static void
s2s_conn_st_check_cert(void *arg, const char *domain,
                       struct s2s_cert_check *out)
{
	struct s2s_conn *c = arg;
	char ascii[JID_PART_MAX + 1], why1[256] = "", why2[256] = "";

	if (c->tls == NULL || !c->tls_up) {
		out->chain = out->name = S2SD_ETLS_NOCERT;
		snprintf(out->why, sizeof(out->why), "no TLS");
		return;
	}
	out->chain = tls_session_verify_chain(c->tls, why1, sizeof(why1));
	if (jid_domain_to_ascii(domain, ascii, sizeof(ascii), NULL, 0) < 0)
		snprintf(ascii, sizeof(ascii), "%s", domain);
	out->name = tls_session_verify_name(c->tls, ascii, why2, sizeof(why2));
	snprintf(out->why, sizeof(out->why), "%.120s; %.120s",
	         out->chain != 0 ? why1 : "chain ok",
	         out->name != 0 ? why2 : "name ok");
	if (out->chain == 0 && out->name == 0)
		snprintf(c->cert, sizeof(c->cert), "valid");
	else
		snprintf(c->cert, sizeof(c->cert), "invalid (%s)", out->why);
}

static void
s2s_conn_st_authenticated(void *arg, const char *local, const char *remote,
                          enum s2s_auth how)
{
	struct s2s_conn *c = arg;

	c->cbs.authenticated(c->arg, c, local, remote, how);
}

static void
s2s_conn_st_stanza(void *arg, struct stanza *st)
{
	struct s2s_conn *c = arg;

	c->stanzas_in++;
	metrics_series_add(c->m_stanzas[0], 1);
	c->cbs.stanza(c->arg, c, st);
}

static void
s2s_conn_st_db_key(void *arg, const char *receiving, const char *originating,
                   const char *id, char key[65])
{
	struct s2s_conn *c = arg;

	c->cbs.dialback_key(c->arg, receiving, originating, id, key);
}

static void
s2s_conn_st_db_verify(void *arg, const char *local, const char *remote,
                      const char *id, const char *key)
{
	struct s2s_conn *c = arg;

	c->cbs.dialback_verify(c->arg, c, local, remote, id, key);
}

static void
s2s_conn_st_verify_result(void *arg, const char *local, const char *remote,
                          const char *id, bool valid, int err)
{
	struct s2s_conn *c = arg;

	c->cbs.verify_result(c->arg, c, local, remote, id, valid, err);
}

static void
s2s_conn_st_pair_refused(void *arg, const char *local, const char *remote,
                         int err)
{
	struct s2s_conn *c = arg;

	c->cbs.pair_refused(c->arg, c, local, remote, err);
}

static void
s2s_conn_st_closed(void *arg, int err, const char *why)
{
	struct s2s_conn *c = arg;

	log_info(LOG_SUB_S2S, c->id, "%s close local=%s remote=%s reason=%s "
	         "detail=\"%s\" stanzas_in=%llu stanzas_out=%llu",
	         c->opts.stream.role == S2S_ROLE_IN ? "in" : "out",
	         s2s_stream_local(c->st) ? s2s_stream_local(c->st) : "-",
	         s2s_stream_remote(c->st) ? s2s_stream_remote(c->st) : "-",
	         err == 0 ? "normal" : err_name(err), why,
	         (unsigned long long)c->stanzas_in,
	         (unsigned long long)c->stanzas_out);
	if (!c->closed_reported) {
		c->closed_reported = true;
		s2s_conn_tls_unfinished(c, err);
		c->cbs.closed(c->arg, c, err, why);
	}
	s2s_conn_transport_close(c);
}

static bool
s2s_conn_sm_resume_cb(void *arg, const char *previd, uint32_t *h)
{
	struct s2s_conn *c = arg;

	return c->cbs.sm_resume != NULL &&
	       c->cbs.sm_resume(c->arg, c, previd, h);
}

static bool
s2s_conn_sm_resumed_cb(void *arg, const char *previd, uint32_t h)
{
	struct s2s_conn *c = arg;

	return c->cbs.sm_resumed == NULL || c->cbs.sm_resumed(c->arg, c, previd,
	                                                      h);
}

static void
s2s_conn_sm_failed_cb(void *arg, const char *previd)
{
	struct s2s_conn *c = arg;

	if (c->cbs.sm_resume_failed != NULL)
		c->cbs.sm_resume_failed(c->arg, c, previd);
}

static const struct s2s_stream_sm_cbs s2s_conn_sm_cbs = {
    s2s_conn_sm_resume_cb, s2s_conn_sm_resumed_cb, s2s_conn_sm_failed_cb,
};

static const struct s2s_stream_cbs s2s_conn_stream_cbs = {
    s2s_conn_st_send,          s2s_conn_st_starttls,
    s2s_conn_st_is_local,      s2s_conn_st_allowed_in,
    s2s_conn_st_check_cert,    s2s_conn_st_authenticated,
    s2s_conn_st_stanza,        s2s_conn_st_db_key,
    s2s_conn_st_db_verify,     s2s_conn_st_verify_result,
    s2s_conn_st_pair_refused,  s2s_conn_st_closed,
};

/* ---- socket ---- */

static void
s2s_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	*buf = uv_buf_init(s2s_conn_rbuf, sizeof(s2s_conn_rbuf));
}

static void
s2s_conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct s2s_conn *c = s->data;

	if (n < 0) {
		s2s_conn_abort(c, s2s_stream_is_ready(c->st) ? 0 : S2SD_ESTREAM,
		               n == UV_EOF ? "connection closed by peer"
		                           : uv_strerror((int)n));
		return;
	}
	if (n == 0)
		return;
	c->last_in = s2s_conn_now(c);
	metrics_series_add(c->m_bytes[0], (double)n);
	if (c->tls != NULL)
		tls_session_feed(c->tls, buf->base, (size_t)n);
	else
		s2s_stream_input(c->st, buf->base, (size_t)n, c->last_in);
	if (!c->transport_closing)
		s2s_conn_arm(c);
}

static void
s2s_conn_on_shutdown(uv_shutdown_t *req, int status)
{
	struct s2s_conn *c = req->data;

	(void)status;
	free(req);
	if (!uv_is_closing((uv_handle_t *)c->tcp))
		uv_close((uv_handle_t *)c->tcp, s2s_conn_on_close);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, s2s_conn_on_close);
}

static void
s2s_conn_on_linger(uv_timer_t *t)
{
	struct s2s_conn *c = t->data;

	/* The peer does not read what is left: give up on it. */
	if (!uv_is_closing((uv_handle_t *)c->tcp))
		uv_close((uv_handle_t *)c->tcp, s2s_conn_on_close);
	uv_close((uv_handle_t *)&c->timer, s2s_conn_on_close);
}

/* The second step of closing, from the loop: whatever the stream wrote in
 * the callback that decided to close (a stream error inside a TLS data
 * callback, say) has reached the socket by now; libuv refuses writes after
 * uv_shutdown(). Send close_notify, shut down, close. */
static void
s2s_conn_on_closing(uv_timer_t *t)
{
	struct s2s_conn *c = t->data;
	uv_shutdown_t *req;

	outq_flush();
	uv_close((uv_handle_t *)&c->flush, s2s_conn_on_close);
	if (c->tls != NULL && c->tls_up)
		tls_session_close(c->tls);
	uv_timer_start(&c->timer, s2s_conn_on_linger, S2S_CONN_LINGER_MS, 0);
	req = xmalloc(sizeof(*req));
	req->data = c;
	if (uv_shutdown(req, (uv_stream_t *)c->tcp, s2s_conn_on_shutdown) < 0) {
		free(req);
		uv_close((uv_handle_t *)c->tcp, s2s_conn_on_close);
		uv_close((uv_handle_t *)&c->timer, s2s_conn_on_close);
	}
}

static void
s2s_conn_transport_close(struct s2s_conn *c)
{
	if (c->transport_closing)
		return;
	c->transport_closing = true;
	uv_read_stop((uv_stream_t *)c->tcp);
	uv_timer_start(&c->timer, s2s_conn_on_closing, 0, 0);
}

/* ---- timer: negotiation steps, idle, keepalive ---- */

static uint64_t
s2s_conn_next(const struct s2s_conn *c)
{
	uint64_t next = s2s_stream_deadline(c->st), t;

	if (c->paused_until != 0 && c->paused_until < next)
		next = c->paused_until;

	if (!s2s_stream_is_ready(c->st))
		return next;
	if (c->opts.idle_ms > 0) {
		t = (c->last_in > c->last_out ? c->last_in : c->last_out) +
		    c->opts.idle_ms;
		next = t < next ? t : next;
	}
	if (c->opts.keepalive_ms > 0) {
		t = c->last_out + c->opts.keepalive_ms;
		next = t < next ? t : next;
	}
	return next;
}

static void
s2s_conn_on_timer(uv_timer_t *t)
{
	struct s2s_conn *c = t->data;
	uint64_t now = s2s_conn_now(c);
	uint64_t last = c->last_in > c->last_out ? c->last_in : c->last_out;

	if (c->start_failed) {
		s2s_conn_abort(c, S2SD_ETLS, "cannot start TLS");
		return;
	}
	if (c->paused_until != 0 && now >= c->paused_until) {
		c->paused_until = 0;
		if (!c->transport_closing && c->read_holds == 0) {
			log_debug(LOG_SUB_S2S, c->id, "reading resumed");
			uv_read_start((uv_stream_t *)c->tcp, s2s_conn_alloc,
			              s2s_conn_on_read);
		}
	}
	s2s_stream_tick(c->st, now);
	if (!c->closed_reported && s2s_stream_is_ready(c->st)) {
		if (c->opts.idle_ms > 0 && now >= last + c->opts.idle_ms) {
			log_info(LOG_SUB_S2S, c->id, "idle close after %llu ms "
			         "limit=idle_timeout",
			         (unsigned long long)(now - last));
			metrics_inc(METRICS_LIMIT_HITS, "idle_timeout");
			s2s_stream_close(c->st, 0, NULL, now);
		} else if (c->opts.keepalive_ms > 0 &&
		           now >= c->last_out + c->opts.keepalive_ms) {
			s2s_stream_keepalive(c->st);
			c->last_out = now;
		}
	}
	if (!c->transport_closing)
		s2s_conn_arm(c);
}

static void
s2s_conn_arm(struct s2s_conn *c)
{
	uint64_t next, now;

	/* Once closing, the timer belongs to the close sequence. */
	if (c->transport_closing)
		return;
	next = s2s_conn_next(c);
	now = s2s_conn_now(c);
	if (next == UINT64_MAX)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, s2s_conn_on_timer,
		               next > now ? next - now : 0, 0);
}

struct s2s_conn *
s2s_conn_new(uv_loop_t *loop, uv_tcp_t *tcp, const struct s2s_conn_opts *opts,
             const struct s2s_conn_cbs *cbs, void *arg)
{
	struct s2s_conn *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->tcp = tcp;
	c->opts = *opts;
	c->cbs = *cbs;
	c->arg = arg;
	c->id = opts->stream.connid != 0 ? opts->stream.connid : util_connid();
	c->opts.stream.connid = c->id;
	c->peer = xstrdup(opts->peer != NULL ? opts->peer : "-");
	c->opts.peer = c->peer;
	c->tlsctx = opts->tls != NULL ? tls_ctx_ref(opts->tls) : NULL;
	c->direct = opts->stream.direct_tls;
	c->created = c->last_in = c->last_out = uv_now(loop);
	c->m_stanzas[0] = metrics_series(METRICS_STANZAS, "in", NULL, NULL);
	c->m_stanzas[1] = metrics_series(METRICS_STANZAS, "out", NULL, NULL);
	c->m_bytes[0] = metrics_series(METRICS_BYTES, "in", NULL, NULL);
	c->m_bytes[1] = metrics_series(METRICS_BYTES, "out", NULL, NULL);
	c->st = s2s_stream_new(&c->opts.stream, &s2s_conn_stream_cbs, c,
	                       uv_now(loop));
	s2s_stream_set_sm_cbs(c->st, &s2s_conn_sm_cbs);
	tcp->data = c;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	uv_idle_init(loop, &c->flush);
	c->flush.data = c;
	c->oq.flush = s2s_conn_write_batch;
	c->open_handles = 3;
	uv_tcp_nodelay(tcp, 1);
	uv_read_start((uv_stream_t *)tcp, s2s_conn_alloc, s2s_conn_on_read);
	if (c->direct && s2s_conn_tls_start(c) < 0) {
		/* No callback before we return: report from the loop. */
		c->start_failed = true;
		uv_timer_start(&c->timer, s2s_conn_on_timer, 0, 0);
		return c;
	}
	if (!c->direct)
		s2s_stream_start(c->st, uv_now(loop));
	s2s_conn_arm(c);
	return c;
}

void
s2s_conn_close(struct s2s_conn *c, int err, const char *text)
{
	if (c->closed_reported || c->transport_closing)
		return;
	s2s_stream_close(c->st, err, text, s2s_conn_now(c));
	if (!c->transport_closing)
		s2s_conn_arm(c);
}

int
s2s_conn_send(struct s2s_conn *c, const struct stanza *st)
{
	int rc;

	if (c->closed_reported)
		return -ENOTCONN;
	/* XEP-0198 timers start at the send. */
	s2s_stream_set_time(c->st, s2s_conn_now(c));
	if ((rc = s2s_stream_send_stanza(c->st, st)) == 0) {
		c->stanzas_out++;
		metrics_series_add(c->m_stanzas[1], 1);
	}
	if (!c->transport_closing)
		s2s_conn_arm(c);
	return rc;
}

int
s2s_conn_sm_resume(struct s2s_conn *c, const char *previd, uint32_t h)
{
	int rc;

	if (c->closed_reported)
		return -ENOTCONN;
	rc = s2s_stream_sm_resume(c->st, previd, h);
	if (!c->transport_closing)
		s2s_conn_arm(c);
	return rc;
}

struct s2s_sm_item *
s2s_conn_sm_take(struct s2s_conn *c)
{
	return s2s_stream_sm_take(c->st);
}

void
s2s_conn_sm_forget(struct s2s_conn *c)
{
	s2s_stream_sm_forget(c->st);
}

int
s2s_conn_send_verify(struct s2s_conn *c, const char *local,
                     const char *remote, const char *id, const char *key)
{
	int rc;

	if (c->closed_reported)
		return -ENOTCONN;
	rc = s2s_stream_send_verify(c->st, local, remote, id, key);
	if (!c->transport_closing)
		s2s_conn_arm(c);
	return rc;
}

int
s2s_conn_add_pair(struct s2s_conn *c, const char *local)
{
	int rc;

	if (c->closed_reported)
		return -ENOTCONN;
	rc = s2s_stream_add_pair(c->st, local);
	if (rc == 0)
		c->last_out = s2s_conn_now(c);
	return rc;
}

void
s2s_conn_dialback_verified(struct s2s_conn *c, const char *local,
                           const char *remote, bool valid, int err)
{
	s2s_stream_dialback_verified(c->st, local, remote, valid, err,
	                             s2s_conn_now(c));
}

bool
s2s_conn_pause_reading(struct s2s_conn *c, uint64_t ms)
{
	uint64_t until = s2s_conn_now(c) + (ms > 0 ? ms : 1);
	bool was_reading = c->paused_until == 0;

	if (c->transport_closing)
		return false;
	if (until > c->paused_until)
		c->paused_until = until;
	if (was_reading)
		uv_read_stop((uv_stream_t *)c->tcp);
	s2s_conn_arm(c);
	return was_reading;
}

bool
s2s_conn_is_paused(const struct s2s_conn *c)
{
	return c->paused_until != 0 || c->read_holds > 0;
}

/* ---- back-pressure: untimed pauses and the drain watch ---- */

void
s2s_conn_hold_reading(struct s2s_conn *c)
{
	if (c->read_holds++ == 0 && !c->transport_closing)
		uv_read_stop((uv_stream_t *)c->tcp);
}

void
s2s_conn_release_reading(struct s2s_conn *c)
{
	if (c->read_holds == 0)
		fatalx("%s: not held", __func__);
	/* A rate-limit pause under way resumes reading from the timer. */
	if (--c->read_holds == 0 && c->paused_until == 0 &&
	    !c->transport_closing)
		uv_read_start((uv_stream_t *)c->tcp, s2s_conn_alloc,
		              s2s_conn_on_read);
}

void
s2s_conn_watch_drain(struct s2s_conn *c, size_t low, s2s_conn_drain_cb *cb,
                     void *arg)
{
	c->drain_low = low;
	c->drain_cb = cb;
	c->drain_arg = arg;
}

uint64_t
s2s_conn_last_written(const struct s2s_conn *c)
{
	return c->last_written;
}

/* A write completed: progress, and the drain watch may fire (once). */
static void
s2s_conn_flow_written(struct s2s_conn *c)
{
	s2s_conn_drain_cb *cb = c->drain_cb;

	c->last_written = s2s_conn_now(c);
	if (cb == NULL || c->closed_reported ||
	    s2s_conn_pending(c) > c->drain_low)
		return;
	c->drain_cb = NULL;
	cb(c->drain_arg, c);
}

const struct s2s_stream *
s2s_conn_stream(const struct s2s_conn *c)
{
	return c->st;
}

uint64_t
s2s_conn_id(const struct s2s_conn *c)
{
	return c->id;
}

const char *
s2s_conn_peer(const struct s2s_conn *c)
{
	return c->peer;
}

const char *
s2s_conn_tls_version(const struct s2s_conn *c)
{
	return c->tls_up ? tls_session_version(c->tls) : NULL;
}

const char *
s2s_conn_tls_cipher(const struct s2s_conn *c)
{
	return c->tls_up ? tls_session_cipher(c->tls) : NULL;
}

size_t
s2s_conn_pending(const struct s2s_conn *c)
{
	return c->pending - c->pending_tls + c->batch.len +
	       (c->tls != NULL ? tls_session_pending(c->tls) : 0);
}

uint64_t
s2s_conn_writes(const struct s2s_conn *c)
{
	return c->writes;
}

void
s2s_conn_info(const struct s2s_conn *c, struct s2s_conn_info *out)
{
	uint64_t now = s2s_conn_now(c);
	uint64_t last = c->last_in > c->last_out ? c->last_in : c->last_out;

	out->age_ms = now - c->created;
	out->idle_ms = now > last ? now - last : 0;
	if (c->cert[0] != '\0')
		out->cert = c->cert;
	else
		out->cert = c->tls_up ? "not checked" : "-";
}

uint64_t
s2s_conn_stanzas_in(const struct s2s_conn *c)
{
	return c->stanzas_in;
}

uint64_t
s2s_conn_stanzas_out(const struct s2s_conn *c)
{
	return c->stanzas_out;
}

void
s2s_conn_set_data(struct s2s_conn *c, void *data)
{
	c->data = data;
}

void *
s2s_conn_data(const struct s2s_conn *c)
{
	return c->data;
}
