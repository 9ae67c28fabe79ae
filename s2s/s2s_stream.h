/* s2s_stream.h - one server-to-server stream: negotiation (RFC 6120 stream
 * header and features, STARTTLS, SASL EXTERNAL per XEP-0178, dialback hooks
 * per XEP-0220), stanza checks, stream errors and the closing handshake.
 *
 * Pure: no socket, no TLS library, no clock read. The owner (s2s_conn)
 * feeds the plaintext it received with s2s_stream_input(), performs the TLS
 * handshake when the starttls callback asks and reports it with
 * s2s_stream_tls_done(), and arms a timer for s2s_stream_deadline(). The
 * stream answers through the callbacks in struct s2s_stream_cbs, each fired
 * from inside the call that caused it (never later, never from _new).
 *
 * XEP-0478: IN advertises max-bytes (xml.max_stanza) and idle-seconds in
 * its features; OUT remembers the peer's max-bytes and refuses to send a
 * larger stanza (the owner bounces it with policy-violation). A limit
 * passed by the peer's input (xmlstream_limit) and a negotiation step that
 * times out each count in s2sd_limit_hits_total and log one line.
 *
 * XEP-0198 (opts.sm, s2s_stream_sm.c): IN offers <sm/> and accepts
 * <enable/> or <resume/> once a pair is authenticated, counts the stanzas it
 * hands to the stanza callback and answers <r/> (and sends a last <a/>
 * before its closing tag); OUT enables it with resumption when offered,
 * keeps every stanza it sends until an <a/> covers it, asks with <r/> after
 * ack_every stanzas or ack_interval_ms, and fails the stream (connection-
 * timeout) when an answer is ack_timeout_ms late. What OUT did not get
 * acknowledged is taken with s2s_stream_sm_take() by the owner.
 *
 * XEP-0288 (opts.bidi, s2s_stream_bidi.c): IN advertises the feature and
 * takes the peer's <bidi/>; OUT requests it after TLS and before
 * authenticating, only when the policy admits the peer's domain inbound
 * and the peer proved that domain (certificate) or dialback is usable.
 * Once on, IN may send (s2s_stream_send_stanza) for its authenticated
 * pairs, in reverse (from LOCAL to REMOTE), and OUT hands stanzas of its
 * pairs, reversed, to the stanza callback. Stream management then counts
 * both directions on both sides (resumption carries both counts).
 *
 * Roles: S2S_ROLE_OUT (we initiate: we know LOCAL and REMOTE from the
 * start) and S2S_ROLE_IN (we receive: LOCAL comes from the peer's 'to',
 * REMOTE from its 'from' and its authentication).
 *
 * Lifetime: after the closed callback the stream only ignores input; the
 * owner frees it with s2s_stream_free() when the connection is gone, never
 * from inside a callback. Stanzas handed to callbacks are taken by them;
 * strings passed to callbacks are borrowed for the call. */
#ifndef S2SD_S2S_STREAM_H
#define S2SD_S2S_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s2s/s2s_sm.h"
#include "xmpp/xmlstream.h"

struct stanza;
struct s2s_stream;

enum s2s_role { S2S_ROLE_IN, S2S_ROLE_OUT };
enum s2s_auth { S2S_AUTH_NONE, S2S_AUTH_EXTERNAL, S2S_AUTH_DIALBACK };
/* Same values as enum config_security. */
enum s2s_security { S2S_SEC_NONE, S2S_SEC_OPTIONAL, S2S_SEC_REQUIRED };

struct s2s_stream_opts {
	enum s2s_role role;
	enum s2s_security security;
	bool require_valid_certs;
	bool sasl_external;     /* IN: offer it; OUT: use it when offered */
	bool dialback;          /* dialback may be used (a secret is set) */
	bool tls_available;     /* IN: we have a certificate to offer TLS */
	bool direct_tls;        /* TLS was up before the first byte (XEP-0368) */
	bool verify_only;       /* OUT: a dialback verification stream: no
	                         * authentication, only <db:verify/> */
	const char *local;      /* OUT: our domain (prepared); IN: NULL */
	const char *remote;     /* OUT: the peer's domain (prepared); IN: NULL */
	struct xmlstream_opts xml;
	uint64_t step_timeout_ms;       /* each negotiation step; 0: 30 s */
	uint64_t connid;        /* for log lines */
	uint64_t idle_ms;       /* IN: advertised as XEP-0478 idle-seconds */
	/* XEP-0198: IN offers it and accepts <enable/> once authenticated;
	 * OUT enables it (asking for resumption) when offered. */
	bool sm;
	struct s2s_sm_opts sm_opts;
	uint64_t sm_resume_ms;  /* IN: grant resumption this long (0: no) */
	/* XEP-0288: IN offers bidirectional use and accepts the request; OUT
	 * requests it when offered (see s2s_stream_bidi.c). */
	bool bidi;
};

/* The peer certificate checked against one domain (0 = fine). */
struct s2s_cert_check {
	int chain;              /* 0, S2SD_ETLS_NOCERT or a chain error */
	int name;               /* 0, S2SD_ETLS_NOCERT or S2SD_ETLS_NAME */
	char why[256];
};

struct s2s_stream_cbs {
	/* Bytes for the peer (the owner encrypts once TLS is on). */
	void (*send)(void *arg, const char *buf, size_t len);
	/* Start TLS now (we received or sent <proceed/>); answer with
	 * s2s_stream_tls_done(). */
	void (*starttls)(void *arg);
	/* Is DOMAIN (prepared) one of our domains? */
	bool (*is_local)(void *arg, const char *domain);
	/* May REMOTE (prepared) send to us? false: fill WHY (the rule). */
	bool (*allowed_in)(void *arg, const char *remote, char *why,
	                   size_t whylen);
	/* Check the TLS peer certificate for DOMAIN (prepared). */
	void (*check_cert)(void *arg, const char *domain,
	                   struct s2s_cert_check *out);
	/* The pair (LOCAL, REMOTE) is authenticated on this stream: OUT may
	 * now send for it; IN accepts stanzas from REMOTE to LOCAL. */
	void (*authenticated)(void *arg, const char *local, const char *remote,
	                      enum s2s_auth how);
	/* IN: a stanza from an authenticated pair, addresses checked. */
	void (*stanza)(void *arg, struct stanza *st);
	/* Dialback (XEP-0220): the key for (RECEIVING, ORIGINATING, ID) as
	 * lowercase hex into KEY (65 bytes). */
	void (*dialback_key)(void *arg, const char *receiving,
	                     const char *originating, const char *id,
	                     char key[65]);
	/* Dialback, receiving role: verify KEY for the pair with the
	 * authoritative server of REMOTE; answer with
	 * s2s_stream_dialback_verified(). */
	void (*dialback_verify)(void *arg, const char *local,
	                        const char *remote, const char *id,
	                        const char *key);
	/* OUT: the authoritative server answered a <db:verify/> we sent:
	 * VALID, or ERR < 0 (its error, or the stream failed first). */
	void (*verify_result)(void *arg, const char *local, const char *remote,
	                      const char *id, bool valid, int err);
	/* OUT: a pair added with s2s_stream_add_pair() was refused by the
	 * peer (ERR S2SD_EAUTH) or could not be tried. */
	void (*pair_refused)(void *arg, const char *local, const char *remote,
	                     int err);
	/* The stream is over: ERR 0 for a clean close, else the reason (WHY
	 * says it for logs). Once. The owner closes the connection once the
	 * bytes already sent are written. */
	void (*closed)(void *arg, int err, const char *why);
};

/* XEP-0198 resumption (set with s2s_stream_set_sm_cbs; NULL members:
 * unsupported). Fired like the others, with the stream's ARG. */
struct s2s_stream_sm_cbs {
	/* IN: the peer, authenticated on this stream, asks to resume session
	 * PREVID: true and *H (the handled count kept for it), or false
	 * (<failed/> follows). */
	bool (*resume)(void *arg, const char *previd, uint32_t *h);
	/* OUT: the peer resumed PREVID and handled H of what we had sent in
	 * it: false when H is impossible (the stream then fails). */
	bool (*resumed)(void *arg, const char *previd, uint32_t h);
	/* OUT: the peer could not resume PREVID (a fresh session is being
	 * enabled on this stream instead). */
	void (*resume_failed)(void *arg, const char *previd);
};

/* OPTS (and its strings) and CBS are copied. Returns owned. */
struct s2s_stream *s2s_stream_new(const struct s2s_stream_opts *opts,
                                  const struct s2s_stream_cbs *cbs,
                                  void *arg, uint64_t now);
void s2s_stream_free(struct s2s_stream *st);    /* NULL ok; not from a cb */

/* OUT: send our stream header. IN: start the first step's time-out. */
void s2s_stream_start(struct s2s_stream *st, uint64_t now);
/* Plaintext from the peer (borrowed). Returns 0, or the negative error
 * that closed the stream. */
int s2s_stream_input(struct s2s_stream *st, const void *buf, size_t len,
                     uint64_t now);
/* The TLS handshake asked for by the starttls callback finished: STATUS 0,
 * or its error (the stream then closes; OUT callers may retry without TLS
 * where the security mode allows it). */
void s2s_stream_tls_done(struct s2s_stream *st, int status, uint64_t now);
/* Receiving role: the authoritative server's answer for a dialback request
 * (VALID true/false, or ERR < 0 when it could not be asked). */
void s2s_stream_dialback_verified(struct s2s_stream *st, const char *local,
                                  const char *remote, bool valid, int err,
                                  uint64_t now);
/* The time for the calls below that take none (send_stanza, add_pair,
 * keepalive): set it before them. */
void s2s_stream_set_time(struct s2s_stream *st, uint64_t now);
/* OUT, or IN on a bidi stream: send ST (borrowed) from LOCAL; verbatim
 * when namespace-safe. 0, or -ENOTCONN when the pair is not authenticated
 * or the stream not ready (or IN without bidi), or
 * -EMSGSIZE when it is larger than the peer's XEP-0478 max-bytes (nothing
 * is sent). */
int s2s_stream_send_stanza(struct s2s_stream *st, const struct stanza *s);
/* OUT: ask the peer, as the authoritative server of REMOTE, whether KEY is
 * the key for (LOCAL receiving, REMOTE originating, ID). Sent once the
 * stream can carry it (queued until then); the answer comes through the
 * verify_result callback. Returns 0, or -ENOTCONN when closed. */
int s2s_stream_send_verify(struct s2s_stream *st, const char *local,
                           const char *remote, const char *id,
                           const char *key);
/* OUT, ready: authenticate one more local domain LOCAL towards the same
 * remote domain on this stream with dialback (piggybacking, XEP-0220 2.4):
 * the authenticated or pair_refused callback follows. 0, or -ENOTSUP when
 * the stream cannot (no dialback offered or usable), -ENOTCONN when not
 * ready. */
int s2s_stream_add_pair(struct s2s_stream *st, const char *local);
/* Can s2s_stream_add_pair() be used on this stream? */
bool s2s_stream_can_add_pair(const struct s2s_stream *st);
/* The peer's XEP-0478 max-bytes (0: it advertised none). */
size_t s2s_stream_peer_max_bytes(const struct s2s_stream *st);
/* Whitespace keepalive (only when ready). */
void s2s_stream_keepalive(struct s2s_stream *st);
/* Close: ERR 0 sends </stream:stream>; otherwise a stream error with the
 * condition err_condition(ERR) and TEXT (may be NULL) first. Then waits for
 * the peer's close until the deadline. */
void s2s_stream_close(struct s2s_stream *st, int err, const char *text,
                      uint64_t now);
/* Next time-out (UINT64_MAX: none) and what to call when it passes. A
 * ready stream that has read nothing for S2S_STREAM_COMPACT_MS gives its
 * parser memory back at the tick (xmlstream_compact), once per quiet
 * spell. */
#define S2S_STREAM_COMPACT_MS 1000
uint64_t s2s_stream_deadline(const struct s2s_stream *st);
void s2s_stream_tick(struct s2s_stream *st, uint64_t now);
/* The parser holds no memory but the header's (see above). */
bool s2s_stream_is_compact(const struct s2s_stream *st);

/* Facts for logs, s2sctl and the owner. Strings borrowed from the stream;
 * NULL when not known yet. */
bool s2s_stream_is_ready(const struct s2s_stream *st);
bool s2s_stream_is_closed(const struct s2s_stream *st);
bool s2s_stream_peer_opened(const struct s2s_stream *st);
bool s2s_stream_tls_on(const struct s2s_stream *st);
enum s2s_auth s2s_stream_auth(const struct s2s_stream *st);
const char *s2s_stream_local(const struct s2s_stream *st);
const char *s2s_stream_remote(const struct s2s_stream *st);
const char *s2s_stream_id(const struct s2s_stream *st);
const char *s2s_stream_state_name(const struct s2s_stream *st);
const char *s2s_auth_name(enum s2s_auth how);
/* True when (LOCAL, REMOTE) is authenticated on this stream. */
bool s2s_stream_has_pair(const struct s2s_stream *st, const char *local,
                         const char *remote);

/* XEP-0198: resumption callbacks (copied), before s2s_stream_start(). */
void s2s_stream_set_sm_cbs(struct s2s_stream *st,
                           const struct s2s_stream_sm_cbs *cbs);
/* XEP-0198. OUT, from the authenticated callback of the stream's first
 * pair: resume session PREVID, in which we handled H stanzas (0 unless it
 * was bidirectional), instead of enabling a new one (answered through
 * sm_resumed / sm_resume_failed). 0, or -ENOTSUP when the peer does not
 * offer stream management (or it is off or already under way). */
int s2s_stream_sm_resume(struct s2s_stream *st, const char *previd,
                         uint32_t h);
/* Stream management is enabled (or being enabled) on this stream. */
bool s2s_stream_sm_on(const struct s2s_stream *st);
/* XEP-0288 is on for this stream. */
bool s2s_stream_bidi(const struct s2s_stream *st);
/* Stanzas sent and not acknowledged yet (OUT, or IN on a bidi stream). */
size_t s2s_stream_sm_unacked(const struct s2s_stream *st);
/* The resumable session id (IN: ours; OUT: the peer's), or NULL. */
const char *s2s_stream_sm_id(const struct s2s_stream *st);
/* IN: stanzas handled in the session so far (h). */
uint32_t s2s_stream_sm_h(const struct s2s_stream *st);
/* IN: the session may be resumed: resumption was granted and the stream
 * did not end with a closing handshake or a stream error (only the
 * transport died under it). */
bool s2s_stream_sm_resumable(const struct s2s_stream *st);
/* IN: the session was taken over by another stream: not resumable. */
void s2s_stream_sm_forget(struct s2s_stream *st);
/* The oldest unacknowledged stanza we sent (returns owned), or NULL. */
struct s2s_sm_item *s2s_stream_sm_take(struct s2s_stream *st);
/* The Ith authenticated pair (false past the last). */
bool s2s_stream_pair_at(const struct s2s_stream *st, size_t i,
                        const char **local, const char **remote);
/* True when some pair with remote domain REMOTE is authenticated. */
bool s2s_stream_has_remote(const struct s2s_stream *st, const char *remote);

#endif
