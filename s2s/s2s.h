/* s2s.h - the S2S service: inbound connections handed over by the
 * listeners, outbound routes (one per (local, remote) pair: DNS, the
 * connector, then an s2s_conn), the federation policy in both directions,
 * reload and graceful shutdown.
 *
 * Outbound: s2s_send() takes a stanza from a local sender. A domain the
 * policy denies for "out" gets not-allowed back at once, before any DNS or
 * connection; otherwise the stanza goes to its route (s2s_route.h), which
 * queues, flushes and bounces. Every candidate of the remote domain is
 * tried before a route fails; in security "optional" a failed TLS handshake
 * is retried on the same candidate without TLS (dialback).
 *
 * Inbound: streams are refused for domains the policy denies for "in";
 * accepted stanzas go to the deliver callback, during which the stream is
 * the current flow source (cm/flow.h): a congested home node link it
 * delivers into may pause its reading. Limits: connections in total
 * and per remote address, authenticated streams per remote domain, and the
 * inbound rate per remote domain (s2s_rate.h: reads pause, then the stream
 * closes with policy-violation). Each limit hit counts in
 * s2sd_limit_hits_total{limit=<setting>} and logs one line.
 *
 * XEP-0198 (settings sm*): stanzas an outbound stream sent and the peer
 * did not acknowledge before the stream died are sent again first on the
 * next stream to that domain (after a resumption between s2sd peers, only
 * those the peer did not handle), or bounced remote-server-timeout when the
 * route fails (s2s_resume.c).
 *
 * XEP-0288 (setting bidi): one connection carries both directions. The
 * route of (local, remote) uses an authenticated inbound bidi stream on
 * which (local, remote) is a valid pair before opening a connection; an
 * outbound bidi stream delivers what the peer sends for its pairs. The
 * policy still applies per direction: s2s_send refuses "out" before any
 * route, and an outbound stream asks for bidi only when the policy admits
 * the remote domain "in" (a reload that changes that closes it).
 *
 * Ownership: s2s_send and the deliver callback take the stanza; s2s_accept
 * takes CLIENT. The service references the TLS context and the policy, and
 * borrows the resolver (which must outlive it). s2s_close() closes every
 * stream properly, bounces what is queued, and calls CB once everything is
 * closed; the service is gone then. */
#ifndef S2SD_S2S_H
#define S2SD_S2S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cm/flow.h"
#include "cm/util.h"
#include "s2s/s2s_rate.h"
#include "s2s/s2s_stream.h"

struct dns_resolver;
struct policy;
struct report;
struct stanza;
struct tls_ctx;
struct s2s;

struct s2s_settings {
	enum s2s_security security;
	bool require_valid_certs;
	bool sasl_in;
	bool sasl_out;
	bool have_cert;         /* we can be a TLS server (STARTTLS offered) */
	const char *dialback_secret;    /* NULL: no dialback (copied as a key) */
	struct xmlstream_opts xml;
	uint64_t connect_timeout_ms;
	uint64_t step_timeout_ms;
	uint64_t dialback_timeout_ms;
	uint64_t idle_ms;
	uint64_t keepalive_ms;
	size_t max_conns;
	size_t max_conns_per_addr;
	size_t queue_max_stanzas;
	size_t queue_max_bytes;
	size_t queue_total_bytes;       /* all routes together */
	size_t max_streams_per_domain;  /* authenticated inbound streams */
	struct s2s_rate_opts in_rate;   /* per remote domain */
	uint64_t backoff_min_ms;
	uint64_t backoff_max_ms;
	/* XEP-0198 stream management (s2s_sm.h): offered, accepted and used
	 * when on; <r/> after sm_ack_every stanzas or sm_ack_interval_ms of
	 * unacked data; a peer silent sm_ack_timeout_ms after <r/> is dead;
	 * sessions are kept (IN) and resumed (OUT) within sm_resume_ms. */
	bool sm;
	uint32_t sm_ack_every;
	uint64_t sm_ack_interval_ms;
	uint64_t sm_ack_timeout_ms;
	uint64_t sm_resume_ms;
	/* XEP-0288: offered on inbound streams and requested on outbound
	 * ones; a route to a domain whose inbound stream is bidirectional
	 * sends on it instead of connecting. */
	bool bidi;
	/* Back-pressure on outbound routes (cm/flow.h, s2s_route.h): above
	 * flow.high bytes not yet written to a stream, the home node links
	 * feeding its routes stop being read. */
	struct flow_opts flow;
};

struct s2s_cbs {
	/* Is DOMAIN (prepared) one of ours? */
	bool (*is_local)(void *arg, const char *domain);
	/* A stanza for a local recipient: from a peer, or an error reply for
	 * a local sender (takes ST). */
	void (*deliver)(void *arg, struct stanza *st);
};

int s2s_new(uv_loop_t *loop, const struct s2s_settings *set,
            struct tls_ctx *tls, struct dns_resolver *dns,
            struct policy *pol, const struct s2s_cbs *cbs, void *arg,
            struct s2s **out);
/* An inbound connection from a listener (takes CLIENT). */
void s2s_accept(struct s2s *s, uv_tcp_t *client, const char *peer,
                bool direct_tls);
/* An outbound stanza from a local sender (takes ST). */
void s2s_send(struct s2s *s, struct stanza *st);
/* Reload: settings, TLS context (new handshakes) and policy. Streams the
 * new policy forbids are closed and their queues bounced with not-allowed;
 * the others stay. */
void s2s_reconfigure(struct s2s *s, const struct s2s_settings *set,
                     struct tls_ctx *tls, struct policy *pol);
void s2s_close(struct s2s *s, void (*cb)(void *arg), void *arg);

/* One line per stream, for logs and s2sctl: direction, local, remote,
 * peer, auth, TLS version, state, stanzas in/out. */
void s2s_describe(const struct s2s *s, struct util_buf *out);
size_t s2s_stream_count(const struct s2s *s);

/* For s2sctl (records appended to R, see cm/report.h): every stream (id,
 * dir, local, remote, peer, auth, tls, cipher, cert verdict, state, age and
 * idle seconds, queued stanzas/bytes, stanzas in/out); every route (local,
 * remote, state, failures, back-off seconds left, last error, queued); and
 * counts for status (fields added to R's current record). */
void s2s_streams_report(const struct s2s *s, struct report *r);
void s2s_routes_report(const struct s2s *s, struct report *r);
void s2s_status_report(const struct s2s *s, struct report *r);
/* Close every stream whose remote domain is REMOTE with the closing
 * handshake (queued stanzas stay on their routes). Returns how many. */
size_t s2s_close_domain(struct s2s *s, const char *remote);
/* Try a fresh outbound stream from LOCAL to REMOTE now, alone (no route, no
 * sharing), collecting every log line of the attempt (debug, or trace with
 * the XML: dialback keys are never logged) as the transcript. DONE runs
 * once with the report (taken: free it with report_free) and 0 when REMOTE
 * authenticated us, 1 when not; it may run before s2s_test returns.
 * Returns 0, S2SD_EPOLICY (the policy denies REMOTE outbound: nothing
 * tried) or S2SD_ESHUTDOWN. */
typedef void s2s_test_done(void *arg, struct report *r, int status);
int s2s_test(struct s2s *s, const char *local, const char *remote, bool trace,
             s2s_test_done *done, void *arg);

#endif
