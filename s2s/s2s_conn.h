/* s2s_conn.h - one S2S connection: the TCP socket, TLS once negotiated
 * (STARTTLS, or from the first byte for XEP-0368 direct TLS), the stream
 * state machine (s2s_stream.h) and one timer for negotiation steps, idle
 * time-out and whitespace keepalives.
 *
 * Ownership: the conn takes TCP at creation and owns it, the TLS session,
 * the stream and the timer; it takes a reference on the TLS context. Reads
 * use one buffer shared by all connections (consumed synchronously), so an
 * idle connection holds no read buffer. Output is batched per loop turn
 * (a uv_idle handle flushes it) in a buffer lent by a pool shared by all
 * connections, so an idle connection holds no write buffer either; each
 * socket write is one allocation freed in its callback.
 *
 * Lifetime: s2s_conn_close() is idempotent. When the stream is over the
 * closed callback runs exactly once (getters still work during it); the conn
 * then flushes what it wrote (close_notify included), closes its handles
 * and frees itself. The owner must forget the conn when the closed callback
 * returns. No callback runs before s2s_conn_new() returns. */
#ifndef S2SD_S2S_CONN_H
#define S2SD_S2S_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "s2s/s2s_stream.h"

struct stanza;
struct tls_ctx;
struct s2s_conn;

struct s2s_conn_opts {
	struct s2s_stream_opts stream;  /* role, security, domains (OUT) ... */
	struct tls_ctx *tls;    /* NULL: no TLS at all; referenced */
	uint64_t idle_ms;       /* close a ready stream idle this long (0: no) */
	uint64_t keepalive_ms;  /* whitespace after this much silence (0: no) */
	const char *peer;       /* "addr:port" for logs (copied) */
};

struct s2s_conn_cbs {
	bool (*is_local)(void *arg, const char *domain);
	bool (*allowed_in)(void *arg, const char *remote, char *why,
	                   size_t whylen);
	void (*authenticated)(void *arg, struct s2s_conn *c, const char *local,
	                      const char *remote, enum s2s_auth how);
	/* IN: an accepted stanza (takes ST). */
	void (*stanza)(void *arg, struct s2s_conn *c, struct stanza *st);
	void (*dialback_key)(void *arg, const char *receiving,
	                     const char *originating, const char *id,
	                     char key[65]);
	void (*dialback_verify)(void *arg, struct s2s_conn *c,
	                        const char *local, const char *remote,
	                        const char *id, const char *key);
	/* OUT: the answer to a <db:verify/> sent with s2s_conn_send_verify. */
	void (*verify_result)(void *arg, struct s2s_conn *c, const char *local,
	                      const char *remote, const char *id, bool valid,
	                      int err);
	/* OUT: a pair added with s2s_conn_add_pair() was refused. */
	void (*pair_refused)(void *arg, struct s2s_conn *c, const char *local,
	                     const char *remote, int err);
	/* The stream is over (ERR 0: clean close). Once. */
	void (*closed)(void *arg, struct s2s_conn *c, int err,
	               const char *why);
	/* XEP-0198 resumption, as in struct s2s_stream_sm_cbs (NULL: not
	 * supported). */
	bool (*sm_resume)(void *arg, struct s2s_conn *c, const char *previd,
	                  uint32_t *h);
	bool (*sm_resumed)(void *arg, struct s2s_conn *c, const char *previd,
	                   uint32_t h);
	void (*sm_resume_failed)(void *arg, struct s2s_conn *c,
	                         const char *previd);
};

/* Returns owned (it frees itself after closing). OPTS and CBS copied. */
struct s2s_conn *s2s_conn_new(uv_loop_t *loop, uv_tcp_t *tcp,
                              const struct s2s_conn_opts *opts,
                              const struct s2s_conn_cbs *cbs, void *arg);
/* Close: ERR 0 sends </stream:stream> and waits for the peer's; otherwise a
 * stream error for ERR with TEXT (may be NULL). */
void s2s_conn_close(struct s2s_conn *c, int err, const char *text);
/* OUT: write ST (borrowed). 0, or -ENOTCONN (not ready for its pair). */
int s2s_conn_send(struct s2s_conn *c, const struct stanza *st);
/* OUT: ask the peer to verify a dialback key (s2s_stream_send_verify). */
int s2s_conn_send_verify(struct s2s_conn *c, const char *local,
                         const char *remote, const char *id, const char *key);
/* OUT: piggyback LOCAL on this ready stream (s2s_stream_add_pair). */
int s2s_conn_add_pair(struct s2s_conn *c, const char *local);
/* XEP-0198 (s2s_stream_sm_resume, _sm_take, _sm_forget on the stream). */
int s2s_conn_sm_resume(struct s2s_conn *c, const char *previd, uint32_t h);
struct s2s_sm_item *s2s_conn_sm_take(struct s2s_conn *c);
void s2s_conn_sm_forget(struct s2s_conn *c);
void s2s_conn_dialback_verified(struct s2s_conn *c, const char *local,
                                const char *remote, bool valid, int err);
/* Stop reading for MS milliseconds (rate limits): what was already read is
 * still processed; reading resumes by itself. A pause under way is only
 * ever extended. Returns true when reading was running until now. */
bool s2s_conn_pause_reading(struct s2s_conn *c, uint64_t ms);
bool s2s_conn_is_paused(const struct s2s_conn *c);
/* Back-pressure: untimed pauses, counted. Reading stops at the first hold
 * and runs again at the last release unless a timed pause (above) is
 * under way, which resumes it when it ends; either keeps it stopped. */
void s2s_conn_hold_reading(struct s2s_conn *c);
void s2s_conn_release_reading(struct s2s_conn *c);
/* One shot: CB(ARG, C) runs from a write completion once the bytes pending
 * (s2s_conn_pending) are down to LOW; a new watch replaces the old one, CB
 * NULL cancels it; never after the closed callback. */
typedef void s2s_conn_drain_cb(void *arg, struct s2s_conn *c);
void s2s_conn_watch_drain(struct s2s_conn *c, size_t low,
                          s2s_conn_drain_cb *cb, void *arg);
/* The time (uv_now) of the last write completion, 0 before any. */
uint64_t s2s_conn_last_written(const struct s2s_conn *c);

const struct s2s_stream *s2s_conn_stream(const struct s2s_conn *c);
uint64_t s2s_conn_id(const struct s2s_conn *c);
const char *s2s_conn_peer(const struct s2s_conn *c);
/* "TLS1.3" / cipher name, or NULL without TLS. */
const char *s2s_conn_tls_version(const struct s2s_conn *c);
const char *s2s_conn_tls_cipher(const struct s2s_conn *c);
/* Bytes handed over (s2s_conn_send and the stream's own output) and not
 * yet written to the socket. */
size_t s2s_conn_pending(const struct s2s_conn *c);
/* Socket writes so far: what is sent during one loop turn is batched into
 * one write (and one TLS record per 16 KiB) at the end of the turn. */
uint64_t s2s_conn_writes(const struct s2s_conn *c);
struct s2s_conn_info {
	uint64_t age_ms;        /* since the connection was set up */
	uint64_t idle_ms;       /* since the last byte in either direction */
	const char *cert;       /* "valid", "invalid (why)", "not checked", "-"
	                         * (no TLS); borrowed from C */
};
void s2s_conn_info(const struct s2s_conn *c, struct s2s_conn_info *out);
uint64_t s2s_conn_stanzas_in(const struct s2s_conn *c);
uint64_t s2s_conn_stanzas_out(const struct s2s_conn *c);
/* An owner pointer (e.g. the route or the attempt); NULL initially. */
void s2s_conn_set_data(struct s2s_conn *c, void *data);
void *s2s_conn_data(const struct s2s_conn *c);

#endif
