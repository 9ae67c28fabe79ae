/* tls.h - one TLS session over the caller's buffers (GnuTLS with memory
 * push/pull): no socket, no loop, no clock. The caller feeds received
 * ciphertext in; the session calls back with ciphertext to send and with
 * decrypted data. s2s_conn binds it to a libuv stream; tests join two
 * sessions in memory.
 *
 * STARTTLS: create the session when <proceed/> is sent (server) or received
 * (client), then feed only bytes read after that point. RFC 6120 forbids a
 * peer to send TLS data before <proceed/>, so bytes that arrive in the same
 * read after <starttls/> or <proceed/> are plaintext injected ahead of the
 * handshake (the CVE-2011-0411 class): the caller must not feed them but fail
 * the stream. Direct TLS (XEP-0368): create the session on connect/accept
 * with DIRECT set (ALPN "xmpp-server") and feed everything.
 *
 * Callbacks (send is required, the others may be NULL; all borrow their
 * buffers for the call only; none runs before the call that starts the
 * session returns):
 *   send       ciphertext to write to the socket (copy it);
 *   handshake  once: 0 when the handshake is complete, or a negative error;
 *   data       decrypted application data;
 *   closed     once, after a successful handshake: 0 when the peer sent
 *              close_notify, or a negative error. Reply with
 *              tls_session_close() and close the socket when it is written.
 * Callbacks may call any tls_session_* function, tls_session_free included
 * (the free is then deferred to the end of the current call).
 *
 * Back-pressure. Output: the session counts ciphertext handed to send() and
 * not yet confirmed with tls_session_sent() plus ciphertext it holds back:
 * tls_session_pending(). When the socket is slow the caller calls
 * tls_session_hold(s, true) ("stop producing"): ciphertext then stays in the
 * session, plaintext writes are still accepted and encrypted; the writer
 * above should stop while pending() is over its high-water mark.
 * tls_session_hold(s, false) hands everything held to send(). Input:
 * tls_session_read_stop() (from a data callback too) stops decryption;
 * ciphertext fed meanwhile is kept (stop the socket reads as well);
 * tls_session_read_start() never calls back: feed (NULL, 0) to resume.
 *
 * No renegotiation (TLS 1.2): a server's HelloRequest is declined with a
 * no_renegotiation warning and the session goes on; a client that starts a
 * renegotiation gets a fatal no_renegotiation and closed(S2SD_ETLS). TLS 1.3
 * key updates are handled. The handshake has no timer of its own: the
 * caller's negotiation timer bounds it. Peers are verified after the
 * handshake, on demand, and never abort it: chain and name are separate
 * facts (tls_session_verify_*), the caller decides (dialback may still
 * authenticate a peer whose certificate does not verify). */
#ifndef S2SD_TLS_H
#define S2SD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/tls_ctx.h"

struct tls_session;

typedef void tls_send_cb(void *arg, const void *buf, size_t len);
typedef void tls_handshake_cb(void *arg, int status);
typedef void tls_data_cb(void *arg, const void *buf, size_t len);
typedef void tls_closed_cb(void *arg, int status);

struct tls_session_cbs {
	tls_send_cb *send;
	tls_handshake_cb *handshake;
	tls_data_cb *data;
	tls_closed_cb *closed;
	void *arg;
};

/* Client: SNI = REMOTE (the remote XMPP domain, A-label), our certificate
 * for LOCAL, resumption data kept per (LOCAL, REMOTE). Server: certificate
 * by SNI, else by TO (the stream's 'to', NULL when unknown as with direct
 * TLS), else the first. Both copy the strings and CBS, take a reference on
 * CTX and its current trust store. Return 0 with *OUT owned
 * (tls_session_free), or S2SD_ETLS. Nothing is sent before _start. */
int tls_session_new_client(struct tls_ctx *ctx, const char *local,
                           const char *remote, bool direct, uint64_t connid,
                           const struct tls_session_cbs *cbs,
                           struct tls_session **out);
int tls_session_new_server(struct tls_ctx *ctx, const char *to, bool direct,
                           uint64_t connid, const struct tls_session_cbs *cbs,
                           struct tls_session **out);
/* Start the handshake: the client's hello goes to send(); a server waits
 * for it (bytes fed before _start are kept: feed (NULL, 0) afterwards).
 * 0, -EALREADY, or S2SD_ETLS_HANDSHAKE when the hello cannot be made (no
 * callback then; tls_session_error() says why). */
int tls_session_start(struct tls_session *s);
/* Process LEN received bytes (copied as needed; NULL/0 resumes kept input).
 * Failures are reported through the handshake/closed callbacks; returns 0,
 * or the earlier error / -EPIPE when the session is already over. */
int tls_session_feed(struct tls_session *s, const void *buf, size_t len);
/* Encrypt and send LEN bytes. 0, -ENOTCONN before the handshake completed,
 * -EPIPE after close, or S2SD_ETLS (the session is then over; no callback). */
int tls_session_write(struct tls_session *s, const void *buf, size_t len);
/* Send close_notify (once); further writes fail, reads go on until the
 * peer's close_notify. 0, or -ENOTCONN / -EPIPE. */
int tls_session_close(struct tls_session *s);
void tls_session_free(struct tls_session *s);             /* NULL ok */

size_t tls_session_pending(const struct tls_session *s);
void tls_session_sent(struct tls_session *s, size_t n);
void tls_session_hold(struct tls_session *s, bool hold);
void tls_session_read_stop(struct tls_session *s);
void tls_session_read_start(struct tls_session *s);
size_t tls_session_buffered(const struct tls_session *s); /* kept input */
/* Bytes of buffer the session holds (0 between calls when nothing is kept
 * or held back: idle sessions keep no buffers). */
size_t tls_session_buffer_bytes(const struct tls_session *s);

/* Chain check against the trust store the session started with, for the
 * TLS server purpose whichever our role: 0, S2SD_ETLS_NOCERT, or a chain
 * code (S2SD_ETLS_VERIFY, _EXPIRED, _NOT_YET_VALID, _UNKNOWN_ISSUER,
 * _REVOKED, _INSECURE, _PURPOSE) with a reason in WHY. -ENOTCONN before the
 * handshake. Computed once, then cached. */
int tls_session_verify_chain(struct tls_session *s, char *why, size_t whylen);
/* Does the peer's certificate identify DOMAIN (A-label; the XMPP domain,
 * never the SRV target)? 0, S2SD_ETLS_NOCERT or S2SD_ETLS_NAME with WHY. */
int tls_session_verify_name(struct tls_session *s, const char *domain,
                            char *why, size_t whylen);

/* After the handshake: "TLS1.3", cipher suite name, resumed?, the SNI the
 * client asked for (server side; NULL if none), ALPN "xmpp-server"
 * agreed. The strings live as long as the session. */
const char *tls_session_version(const struct tls_session *s);
const char *tls_session_cipher(const struct tls_session *s);
bool tls_session_is_resumed(const struct tls_session *s);
const char *tls_session_sni(const struct tls_session *s);
bool tls_session_alpn_xmpp(const struct tls_session *s);
/* Why the session failed ("" if it did not), for logs and s2sctl. */
const char *tls_session_error(const struct tls_session *s);
/* The same as a metrics label: "certificate" (one was refused on either
 * side) or "protocol"; NULL if the session did not fail. */
const char *tls_session_fail_class(const struct tls_session *s);

#endif
