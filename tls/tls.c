/* tls.c - a GnuTLS session over memory buffers; see tls.h.
 *
 * GnuTLS reads through tls_session_pull() (kept input first, then the bytes
 * of the current tls_session_feed() call, so input is copied once) and
 * writes through tls_session_push() into s->out. User callbacks never run
 * inside a GnuTLS call: output is handed to send() when the public call
 * that produced it is about to return (tls_session_leave), so a callback
 * may re-enter the session or free it. */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "tls/tls_int.h"

#define TLS_ALPN "xmpp-server"
#define TLS_MAX_SOFT_ERRORS 16
/* A TLS 1.3 record with its header, type byte and tag, and some room. */
#define TLS_OUT_FIRST (16384 + 512)

enum tls_state {
	TLS_ST_NEW,
	TLS_ST_HANDSHAKE,
	TLS_ST_OPEN,
	TLS_ST_CLOSED,          /* the peer sent close_notify */
	TLS_ST_FAILED,
};

struct tls_session {
	gnutls_session_t gs;
	struct tls_ctx *ctx;            /* reference */
	struct tls_trust *trust;        /* reference, taken at creation */
	struct tls_session_cbs cbs;
	uint64_t connid;
	bool server, direct;
	char *local, *remote, *to, *sni;
	enum tls_state state;
	bool bye_sent, held, read_stopped, dead, ticket_saved;
	bool feeding, starting;
	int depth;                      /* public calls on the stack */
	int err;
	char errbuf[256];
	const char *fail_class;         /* metrics label once failed */
	struct util_buf in;             /* kept ciphertext from in_off on */
	size_t in_off;
	const unsigned char *feed;      /* the current feed's unread bytes */
	size_t feed_len;
	struct util_buf out;            /* ciphertext not yet given to send */
	size_t inflight;                /* given to send, not confirmed */
	bool chain_done;                /* chain_rc, chain_why, peer_ids set */
	bool has_peer;                  /* the peer sent a parsable chain */
	int chain_rc;
	char chain_why[256];
	struct tls__ids peer_ids;       /* of the peer's leaf */
};

static const char *
tls_session_strstate(enum tls_state st)
{
	static const char *const names[] = {"new", "handshake", "open",
	                                    "closed", "failed"};

	return (size_t)st < UTIL_ARRAY_LEN(names) ? names[st] : "?";
}

static void
tls_session_enter_state(struct tls_session *s, enum tls_state to)
{
	static const unsigned allowed[] = {
	    [TLS_ST_NEW] = 1u << TLS_ST_HANDSHAKE,
	    [TLS_ST_HANDSHAKE] = 1u << TLS_ST_OPEN | 1u << TLS_ST_FAILED,
	    [TLS_ST_OPEN] = 1u << TLS_ST_CLOSED | 1u << TLS_ST_FAILED,
	    [TLS_ST_CLOSED] = 1u << TLS_ST_FAILED,
	    [TLS_ST_FAILED] = 0,
	};

	if (!(allowed[s->state] & (1u << to)))
		fatalx("%s: %s -> %s", __func__, tls_session_strstate(s->state),
		       tls_session_strstate(to));
	log_trace(LOG_SUB_TLS, s->connid, "state %s -> %s",
	          tls_session_strstate(s->state), tls_session_strstate(to));
	s->state = to;
}

static ssize_t
tls_session_push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
	struct tls_session *s = ptr;

	/* The buffer is freed whenever it empties (tls_session_release):
	 * start it at a full record, not at util_buf's 64 bytes doubled. */
	if (s->out.cap == 0) {
		s->out.cap = TLS_OUT_FIRST;
		s->out.data = xmalloc(s->out.cap);
	}
	util_buf_append(&s->out, buf, len);
	return (ssize_t)len;
}

static ssize_t
tls_session_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct tls_session *s = ptr;
	size_t kept = s->in.len - s->in_off, n;

	if (kept > 0) {
		n = kept < len ? kept : len;
		memcpy(buf, s->in.data + s->in_off, n);
		s->in_off += n;
		if (s->in_off == s->in.len) {
			util_buf_reset(&s->in);
			s->in_off = 0;
		}
		return (ssize_t)n;
	}
	if (s->feed_len > 0) {
		n = s->feed_len < len ? s->feed_len : len;
		memcpy(buf, s->feed, n);
		s->feed += n;
		s->feed_len -= n;
		return (ssize_t)n;
	}
	gnutls_transport_set_errno(s->gs, EAGAIN);
	return -1;
}

/* GnuTLS asks whether input is available without waiting (MS is 0 for a
 * non-blocking session); 0 means "nothing yet". */
static int
tls_session_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct tls_session *s = ptr;

	(void)ms;
	return (s->in.len - s->in_off) + s->feed_len > 0 ? 1 : 0;
}

/* Keep the unread part of the current feed (read stopped, session over). */
static void
tls_session_keep_feed(struct tls_session *s)
{
	if (s->feed_len > 0)
		util_buf_append(&s->in, s->feed, s->feed_len);
	s->feed = NULL;
	s->feed_len = 0;
}

static void
tls_session_flush(struct tls_session *s)
{
	struct util_buf out;

	/* send() may write again: that output goes out in the next turn. */
	while (!s->held && s->out.len > 0 && !s->dead && s->cbs.send != NULL) {
		out = s->out;
		memset(&s->out, 0, sizeof(s->out));
		s->inflight += out.len;
		s->cbs.send(s->cbs.arg, out.data, out.len);
		if (s->out.data == NULL) {
			util_buf_reset(&out);
			s->out = out;   /* keep the allocation */
		} else
			util_buf_free(&out);
	}
}

static void
tls_session_destroy(struct tls_session *s)
{
	gnutls_deinit(s->gs);
	tls__ids_free(&s->peer_ids);
	util_buf_free(&s->in);
	util_buf_free(&s->out);
	free(s->local);
	free(s->remote);
	free(s->to);
	free(s->sni);
	tls_trust_unref(s->trust);
	tls_ctx_unref(s->ctx);
	free(s);
}

static void
tls_session_enter(struct tls_session *s)
{
	s->depth++;
}

/* An idle stream holds no buffers: most of them stay idle for hours, and
 * a busy one pays one allocation per read or flush, small beside the
 * cipher work on the same bytes. */
static void
tls_session_release(struct tls_session *s)
{
	if (s->in.len == s->in_off) {
		util_buf_free(&s->in);
		s->in_off = 0;
	}
	if (s->out.len == 0)
		util_buf_free(&s->out);
}

/* Every public call that may produce output or call back ends here. */
static void
tls_session_leave(struct tls_session *s)
{
	if (s->depth == 1) {
		tls_session_flush(s);
		tls_session_release(s);
	}
	if (--s->depth == 0 && s->dead)
		tls_session_destroy(s);
}

static void
tls_session_fail(struct tls_session *s, int code, int grc)
{
	tls__gnutls_why(s->gs, grc, s->errbuf, sizeof(s->errbuf));
	s->fail_class = tls__fail_class(s->gs, grc);
	s->err = code;
	/* Tell the peer why, unless it told us. */
	if (grc != GNUTLS_E_FATAL_ALERT_RECEIVED)
		gnutls_alert_send_appropriate(s->gs, grc);
	log_debug(LOG_SUB_TLS, s->connid, "tls failed state=%s error=\"%s\"",
	          tls_session_strstate(s->state), s->errbuf);
	tls_session_enter_state(s, TLS_ST_FAILED);
}

/* Client side: keep resumption data once the server sent a ticket. */
static void
tls_session_save_ticket(struct tls_session *s)
{
	gnutls_datum_t data;

	if (s->server || s->ticket_saved || s->state != TLS_ST_OPEN)
		return;
	/* TLS 1.3 tickets come after the handshake; TLS 1.2 state (ticket
	 * or session id) is there as soon as the handshake completes. */
	if (gnutls_protocol_get_version(s->gs) == GNUTLS_TLS1_3 &&
	    !(gnutls_session_get_flags(s->gs) & GNUTLS_SFLAGS_SESSION_TICKET))
		return;
	if (gnutls_session_get_data2(s->gs, &data) < 0)
		return;
	tls__ctx_cache_put(s->ctx, s->local, s->remote, &data);
	gnutls_free(data.data);
	s->ticket_saved = true;
	log_trace(LOG_SUB_TLS, s->connid, "ticket saved remote=%s", s->remote);
}

static void
tls_session_handshake_ok(struct tls_session *s)
{
	tls_session_enter_state(s, TLS_ST_OPEN);
	log_debug(LOG_SUB_TLS, s->connid, "handshake ok role=%s version=%s "
	          "cipher=%s resumed=%s sni=%s alpn=%s",
	          s->server ? "server" : "client", tls_session_version(s),
	          tls_session_cipher(s),
	          tls_session_is_resumed(s) ? "yes" : "no",
	          s->sni != NULL ? s->sni : "-",
	          tls_session_alpn_xmpp(s) ? TLS_ALPN : "-");
	tls_session_save_ticket(s);
	if (s->cbs.handshake != NULL)
		s->cbs.handshake(s->cbs.arg, 0);
}

static void
tls_session_do_handshake(struct tls_session *s)
{
	int rc, soft = 0;

	for (;;) {
		rc = gnutls_handshake(s->gs);
		if (rc == GNUTLS_E_AGAIN)
			return;
		/* Warning alerts (unrecognized_name, ...) do not end it. */
		if (rc < 0 && !gnutls_error_is_fatal(rc) &&
		    ++soft < TLS_MAX_SOFT_ERRORS)
			continue;
		break;
	}
	if (rc < 0) {
		tls_session_fail(s, S2SD_ETLS_HANDSHAKE, rc);
		/* A failure inside tls_session_start() is its return value. */
		if (s->cbs.handshake != NULL && !s->starting)
			s->cbs.handshake(s->cbs.arg, S2SD_ETLS_HANDSHAKE);
		return;
	}
	tls_session_handshake_ok(s);
}

static void
tls_session_peer_closed(struct tls_session *s, int status)
{
	if (status == 0) {
		log_debug(LOG_SUB_TLS, s->connid, "peer sent close_notify");
		tls_session_enter_state(s, TLS_ST_CLOSED);
	}
	if (s->cbs.closed != NULL)
		s->cbs.closed(s->cbs.arg, status);
}

/* A non-fatal record-layer event; returns false when the loop must end.
 * No renegotiation: a server's HelloRequest gets a no_renegotiation
 * warning and the session goes on. A client's renegotiation cannot be
 * declined that way (GnuTLS runs the handshake on the next read once it
 * reported one), so it ends the session with a fatal no_renegotiation. */
static bool
tls_session_soft_error(struct tls_session *s, ssize_t n, int *soft)
{
	if (n == GNUTLS_E_REHANDSHAKE && s->server) {
		gnutls_alert_send(s->gs, GNUTLS_AL_FATAL,
		                  GNUTLS_A_NO_RENEGOTIATION);
		s->err = S2SD_ETLS;
		snprintf(s->errbuf, sizeof(s->errbuf), "peer asked to "
		         "renegotiate (refused)");
		log_debug(LOG_SUB_TLS, s->connid, "tls failed error=\"%s\"",
		          s->errbuf);
		tls_session_enter_state(s, TLS_ST_FAILED);
		tls_session_peer_closed(s, S2SD_ETLS);
		return false;
	}
	if (n == GNUTLS_E_REHANDSHAKE) {
		log_debug(LOG_SUB_TLS, s->connid, "renegotiation refused");
		gnutls_alert_send(s->gs, GNUTLS_AL_WARNING,
		                  GNUTLS_A_NO_RENEGOTIATION);
	}
	return ++*soft < TLS_MAX_SOFT_ERRORS;
}

static void
tls_session_read_records(struct tls_session *s)
{
	gnutls_packet_t pkt;
	gnutls_datum_t d;
	ssize_t n;
	size_t before = SIZE_MAX, left;
	int soft = 0;

	while (s->state == TLS_ST_OPEN && !s->read_stopped && !s->dead) {
		pkt = NULL;
		n = gnutls_record_recv_packet(s->gs, &pkt);
		if (n > 0) {
			gnutls_packet_get(pkt, &d, NULL);
			if (s->cbs.data != NULL)
				s->cbs.data(s->cbs.arg, d.data, d.size);
			gnutls_packet_deinit(pkt);
			continue;
		}
		if (pkt != NULL)
			gnutls_packet_deinit(pkt);
		if (n == 0) {
			tls_session_peer_closed(s, 0);
			break;
		}
		if (n == GNUTLS_E_AGAIN) {
			/* GnuTLS also says AGAIN after a post-handshake
			 * message (a TLS 1.3 ticket or key update): go on
			 * while that consumed input and input remains. */
			left = tls_session_buffered(s);
			if (left == 0 || left >= before)
				break;
			before = left;
			continue;
		}
		if (!gnutls_error_is_fatal((int)n) || n == GNUTLS_E_REHANDSHAKE) {
			if (tls_session_soft_error(s, n, &soft))
				continue;
			if (s->state != TLS_ST_OPEN)
				break;
		}
		tls_session_fail(s, S2SD_ETLS, (int)n);
		tls_session_peer_closed(s, S2SD_ETLS);
		break;
	}
	tls_session_save_ticket(s);
}

static void
tls_session_pump(struct tls_session *s)
{
	if (s->state == TLS_ST_HANDSHAKE && !s->dead)
		tls_session_do_handshake(s);
	tls_session_read_records(s);
}

static bool
tls_session_is_ip(const char *name)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, name, buf) == 1 ||
	       inet_pton(AF_INET6, name, buf) == 1;
}

static int
tls_session_setup(struct tls_session *s)
{
	gnutls_datum_t alpn = {(unsigned char *)TLS_ALPN, sizeof(TLS_ALPN) - 1};
	int rc;

	gnutls_session_set_ptr(s->gs, s);
	gnutls_transport_set_ptr(s->gs, s);
	gnutls_transport_set_push_function(s->gs, tls_session_push);
	gnutls_transport_set_pull_function(s->gs, tls_session_pull);
	gnutls_transport_set_pull_timeout_function(s->gs,
	                                           tls_session_pull_timeout);
	/* The caller's negotiation timer bounds the handshake. */
	gnutls_handshake_set_timeout(s->gs, 0);
	if ((rc = gnutls_priority_set(s->gs, tls__ctx_priority(s->ctx))) < 0 ||
	    (rc = gnutls_credentials_set(s->gs, GNUTLS_CRD_CERTIFICATE,
	                                 tls__ctx_creds(s->ctx))) < 0)
		return rc;
	if (s->direct && (rc = gnutls_alpn_set_protocols(s->gs, &alpn, 1,
	                                                 0)) < 0)
		return rc;
	return 0;
}

static int
tls_session_create(struct tls_ctx *ctx, bool server, bool direct,
                   uint64_t connid, const struct tls_session_cbs *cbs,
                   struct tls_session **out)
{
	struct tls_session *s = xcalloc(1, sizeof(*s));
	unsigned flags = (server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
	                 GNUTLS_NONBLOCK;
	int rc;

	s->ctx = tls_ctx_ref(ctx);
	s->trust = tls_trust_ref(tls_ctx_trust(ctx));
	s->cbs = *cbs;
	s->server = server;
	s->direct = direct;
	s->connid = connid;
	if ((rc = gnutls_init(&s->gs, flags)) < 0) {
		s->gs = NULL;
		log_error(LOG_SUB_TLS, connid, "gnutls_init: %s",
		          gnutls_strerror(rc));
		tls_ctx_unref(s->ctx);
		tls_trust_unref(s->trust);
		free(s);
		return S2SD_ETLS;
	}
	*out = s;
	if ((rc = tls_session_setup(s)) < 0) {
		log_error(LOG_SUB_TLS, connid, "tls setup: %s",
		          gnutls_strerror(rc));
		tls_session_destroy(s);
		return S2SD_ETLS;
	}
	return 0;
}

int
tls_session_new_client(struct tls_ctx *ctx, const char *local,
                       const char *remote, bool direct, uint64_t connid,
                       const struct tls_session_cbs *cbs,
                       struct tls_session **out)
{
	struct tls_session *s;
	gnutls_datum_t data;
	int rc;

	if ((rc = tls_session_create(ctx, false, direct, connid, cbs, &s)) < 0)
		return rc;
	s->local = local != NULL ? xstrdup(local) : NULL;
	s->remote = xstrdup(remote);
	/* RFC 6066: SNI carries host names only, never an address. */
	if (!tls_session_is_ip(remote) &&
	    (rc = gnutls_server_name_set(s->gs, GNUTLS_NAME_DNS, remote,
	                                 strlen(remote))) < 0) {
		tls_session_destroy(s);
		return S2SD_ETLS;
	}
	if (tls__ctx_cache_take(ctx, local, remote, &data)) {
		if (gnutls_session_set_data(s->gs, data.data, data.size) < 0)
			log_debug(LOG_SUB_TLS, connid, "stale resumption data "
			          "remote=%s", remote);
		gnutls_free(data.data);
	}
	*out = s;
	return 0;
}

int
tls_session_new_server(struct tls_ctx *ctx, const char *to, bool direct,
                       uint64_t connid, const struct tls_session_cbs *cbs,
                       struct tls_session **out)
{
	struct tls_session *s;
	int rc;

	if ((rc = tls_session_create(ctx, true, direct, connid, cbs, &s)) < 0)
		return rc;
	s->to = to != NULL ? xstrdup(to) : NULL;
	/* Ask for a certificate but do not require one: dialback may still
	 * authenticate a peer without one. */
	gnutls_certificate_server_set_request(s->gs, GNUTLS_CERT_REQUEST);
	if (gnutls_session_ticket_enable_server(s->gs,
	                                        tls__ctx_ticket_key(ctx)) < 0) {
		tls_session_destroy(s);
		return S2SD_ETLS;
	}
	*out = s;
	return 0;
}

int
tls__retrieve(gnutls_session_t gs, const gnutls_datum_t *req_ca_rdn,
              int nreqs, const gnutls_pk_algorithm_t *pk_algos,
              int pk_algos_length, gnutls_pcert_st **pcert,
              unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
	struct tls_session *s = gnutls_session_get_ptr(gs);
	const struct tls__cred *c = NULL;
	char name[256];
	size_t len = sizeof(name);
	unsigned type;

	(void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
	if (s->server) {
		if (gnutls_server_name_get(gs, name, &len, &type, 0) == 0 &&
		    type == GNUTLS_NAME_DNS && s->sni == NULL)
			s->sni = xstrdup(name);
		c = tls__ctx_pick(s->ctx, s->sni);
		if (c == NULL)
			c = tls__ctx_pick(s->ctx, s->to);
	} else
		c = tls__ctx_pick(s->ctx, s->local);
	if (c == NULL)
		c = tls__ctx_first(s->ctx);
	*pcert = c != NULL ? c->pcerts : NULL;
	*pcert_length = c != NULL ? c->npcerts : 0;
	*privkey = c != NULL ? c->key : NULL;
	log_trace(LOG_SUB_TLS, s->connid, "certificate %s",
	          c != NULL ? c->file : "none");
	return 0;
}

int
tls_session_start(struct tls_session *s)
{
	if (s->state != TLS_ST_NEW)
		return -EALREADY;
	tls_session_enter(s);
	tls_session_enter_state(s, TLS_ST_HANDSHAKE);
	/* The client's hello goes out now; a server waits for it. Nothing
	 * can complete yet, so no callback but send() runs. */
	if (!s->server) {
		s->starting = true;
		tls_session_do_handshake(s);
		s->starting = false;
	}
	tls_session_leave(s);
	return s->state == TLS_ST_FAILED ? s->err : 0;
}

int
tls_session_feed(struct tls_session *s, const void *buf, size_t len)
{
	if (s->state == TLS_ST_FAILED)
		return s->err;
	if (s->state == TLS_ST_CLOSED || s->dead)
		return -EPIPE;
	if (s->feeding || s->state == TLS_ST_NEW) {
		/* Re-entered from a callback, or not started: keep the bytes
		 * in order behind what the running feed has not read yet. */
		tls_session_keep_feed(s);
		if (len > 0)
			util_buf_append(&s->in, buf, len);
		return 0;
	}
	tls_session_enter(s);
	s->feeding = true;
	s->feed = buf;
	s->feed_len = len;
	tls_session_pump(s);
	tls_session_keep_feed(s);
	s->feeding = false;
	tls_session_leave(s);
	return 0;
}

int
tls_session_write(struct tls_session *s, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;
	int rc = 0, soft = 0;

	if (s->state == TLS_ST_FAILED)
		return s->err;
	if (s->state != TLS_ST_OPEN && s->state != TLS_ST_CLOSED)
		return -ENOTCONN;
	if (s->bye_sent || s->dead)
		return -EPIPE;
	tls_session_enter(s);
	while (len > 0) {
		/* Push never blocks, so GnuTLS takes up to a record each time
		 * and AGAIN cannot happen; a retry is bounded all the same. */
		n = gnutls_record_send(s->gs, p, len);
		if ((n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) &&
		    ++soft < TLS_MAX_SOFT_ERRORS)
			continue;
		if (n < 0) {
			tls_session_fail(s, S2SD_ETLS, (int)n);
			rc = S2SD_ETLS;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	tls_session_leave(s);
	return rc;
}

int
tls_session_close(struct tls_session *s)
{
	if (s->state == TLS_ST_FAILED)
		return s->err;
	if (s->state != TLS_ST_OPEN && s->state != TLS_ST_CLOSED)
		return -ENOTCONN;
	if (s->bye_sent)
		return -EPIPE;
	tls_session_enter(s);
	s->bye_sent = true;
	/* SHUT_WR: send close_notify without waiting for the peer's. */
	if (gnutls_bye(s->gs, GNUTLS_SHUT_WR) < 0)
		log_debug(LOG_SUB_TLS, s->connid, "close_notify not sent");
	tls_session_leave(s);
	return 0;
}

void
tls_session_free(struct tls_session *s)
{
	if (s == NULL)
		return;
	memset(&s->cbs, 0, sizeof(s->cbs));
	if (s->depth > 0) {
		s->dead = true;  /* destroyed when the outermost call returns */
		return;
	}
	tls_session_destroy(s);
}

size_t
tls_session_pending(const struct tls_session *s)
{
	return s->inflight + s->out.len;
}

void
tls_session_sent(struct tls_session *s, size_t n)
{
	if (n > s->inflight)
		fatalx("%s: %zu bytes confirmed, %zu in flight", __func__, n,
		       s->inflight);
	s->inflight -= n;
}

void
tls_session_hold(struct tls_session *s, bool hold)
{
	s->held = hold;
	if (!hold && s->depth == 0) {
		tls_session_enter(s);
		tls_session_leave(s);  /* flushes what was held */
	}
}

void
tls_session_read_stop(struct tls_session *s)
{
	s->read_stopped = true;
}

void
tls_session_read_start(struct tls_session *s)
{
	s->read_stopped = false;
}

size_t
tls_session_buffer_bytes(const struct tls_session *s)
{
	return s->in.cap + s->out.cap;
}

size_t
tls_session_buffered(const struct tls_session *s)
{
	return s->in.len - s->in_off + s->feed_len;
}

static bool
tls_session_is_up(const struct tls_session *s)
{
	return s->state == TLS_ST_OPEN || s->state == TLS_ST_CLOSED;
}

/* Parse the peer's chain DER[0..N). The parsed certificates are large
 * (libtasn1 trees, some 15 KiB for a leaf and its CA) and a stream lives
 * for hours, so they are kept only while tls_session_check_peer() runs. */
static int
tls_session_import_peer(const gnutls_datum_t *der, unsigned nder,
                        gnutls_x509_crt_t **chain, unsigned *n)
{
	unsigned i;

	*n = 0;
	*chain = gnutls_calloc(nder, sizeof(**chain));
	if (*chain == NULL)
		fatal("gnutls_calloc");
	for (i = 0; i < nder; i++) {
		if (gnutls_x509_crt_init(&(*chain)[i]) < 0)
			fatal("gnutls_x509_crt_init");
		++*n;
		if (gnutls_x509_crt_import((*chain)[i], &der[i],
		                           GNUTLS_X509_FMT_DER) < 0)
			break;
	}
	if (i < nder) {
		/* An unparsable certificate: keep none, verify nothing. */
		tls__free_chain(*chain, *n);
		*chain = NULL;
		*n = 0;
		return S2SD_ETLS_NOCERT;
	}
	return 0;
}

/* Verify and take the leaf's identities; an accepted chain is remembered
 * by the trust store (tls_vcache.c). */
static void
tls_session_verify_peer(struct tls_session *s, const gnutls_datum_t *der,
                        unsigned nder)
{
	struct tls__vcache *vc = s->trust != NULL ? tls__trust_vcache(s->trust)
	                                          : NULL;
	uint8_t key[TLS__VCACHE_KEY];
	gnutls_x509_crt_t *chain;
	time_t now = time(NULL);
	unsigned n;

	if (vc != NULL) {
		tls__vcache_key(der, nder, key);
		if (tls__vcache_get(vc, key, now, &s->peer_ids)) {
			s->has_peer = true;
			s->chain_rc = 0;
			s->chain_why[0] = '\0';
			return;
		}
	}
	if ((s->chain_rc = tls_session_import_peer(der, nder, &chain, &n)) < 0)
		return;
	s->has_peer = true;
	tls__crt_ids(chain[0], &s->peer_ids);
	s->chain_rc = tls__trust_verify(s->trust, chain, n, s->chain_why,
	                                sizeof(s->chain_why));
	if (s->chain_rc == 0 && vc != NULL)
		tls__vcache_put(vc, key, now, chain, n, &s->peer_ids);
	tls__free_chain(chain, n);
}

/* Once per session: the chain's verdict and the leaf's identities, which
 * is all later questions need. */
static void
tls_session_check_peer(struct tls_session *s)
{
	const gnutls_datum_t *der;
	unsigned nder = 0;

	if (s->chain_done)
		return;
	s->chain_done = true;
	der = gnutls_certificate_get_peers(s->gs, &nder);
	if (der != NULL && nder > 0)
		tls_session_verify_peer(s, der, nder);
	else
		s->chain_rc = S2SD_ETLS_NOCERT;
	if (s->chain_rc == S2SD_ETLS_NOCERT)
		snprintf(s->chain_why, sizeof(s->chain_why),
		         "peer presented no certificate");
}

int
tls_session_verify_chain(struct tls_session *s, char *why, size_t whylen)
{
	if (!tls_session_is_up(s))
		return -ENOTCONN;
	tls_session_check_peer(s);
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", s->chain_why);
	return s->chain_rc;
}

int
tls_session_verify_name(struct tls_session *s, const char *domain, char *why,
                        size_t whylen)
{
	if (!tls_session_is_up(s))
		return -ENOTCONN;
	tls_session_check_peer(s);
	if (!s->has_peer) {
		if (why != NULL && whylen > 0)
			snprintf(why, whylen, "peer presented no certificate");
		return S2SD_ETLS_NOCERT;
	}
	return tls_verify_name(domain, s->peer_ids.v, s->peer_ids.n,
	                       s->peer_ids.has_san, NULL, why, whylen);
}

const char *
tls_session_version(const struct tls_session *s)
{
	const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(
	    s->gs));

	return v != NULL ? v : "-";
}

const char *
tls_session_cipher(const struct tls_session *s)
{
	const char *c = tls_session_is_up(s) ? gnutls_ciphersuite_get(s->gs)
	                                     : NULL;

	return c != NULL ? c : "-";
}

bool
tls_session_is_resumed(const struct tls_session *s)
{
	return tls_session_is_up(s) && gnutls_session_is_resumed(s->gs) != 0;
}

const char *
tls_session_sni(const struct tls_session *s)
{
	return s->sni;
}

bool
tls_session_alpn_xmpp(const struct tls_session *s)
{
	gnutls_datum_t p;

	return tls_session_is_up(s) &&
	       gnutls_alpn_get_selected_protocol(s->gs, &p) == 0 &&
	       p.size == sizeof(TLS_ALPN) - 1 &&
	       memcmp(p.data, TLS_ALPN, p.size) == 0;
}

const char *
tls_session_error(const struct tls_session *s)
{
	return s->errbuf;
}

const char *
tls_session_fail_class(const struct tls_session *s)
{
	return s->fail_class;
}
