/* cluster_link.h - one router-to-router link of the cluster: the protocol
 * core, with no socket, no TLS, no clock (cluster.c runs it inside a
 * TLS-PSK session over TCP).
 *
 * Both sides send a stream header in CLUSTER_LINK_NS and a <hello node=
 * nonce=/>; the hello's name is checked by the owner (it must be the node
 * the TLS identity proved). Then, in any order: <summary/> (this node's
 * settings for s2sctl check; the dialback secret only as an HMAC keyed with
 * both hellos' nonces, so a digest from one link says nothing on another),
 * <attach home=/> and <detach home=/> (home nodes attached to the sender),
 * <fwd seq=N home= origin=>STANZA</fwd> (for home node HOME, attached to
 * the receiver) or <fwd seq=N remote='yes'>STANZA</fwd> (for a remote
 * domain, to be sent over S2S by the receiver), and <ack seq=N/>
 * (cumulative: every fwd up to N was handed on). Forwarded stanzas stay
 * with the sender until acknowledged: when the link is lost the owner takes
 * them back (cluster_link_pop_unacked) and routes them again or bounces
 * them, so none is silently lost. Peer input is hostile: xmlstream limits,
 * strict sequence numbers, bounded names.
 *
 * Callbacks fire from inside cluster_link_input (and close/eof), never from
 * _new or _start; they may call cluster_link_close but not _free. Strings
 * passed to callbacks are borrowed for the call; stanzas are taken. */
#ifndef S2SD_CLUSTER_LINK_H
#define S2SD_CLUSTER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xmpp/xmlstream.h"

#define CLUSTER_LINK_NS "urn:s2sd:cluster:0"
#define CLUSTER_NAME_MAX 255

struct stanza;
struct cluster_link;

/* A node's settings, for comparison across the cluster. Strings borrowed.
 * Sent: DIALBACK_SECRET is the secret itself (never sent; NULL: none).
 * Received: DIALBACK_SECRET is NULL; HAS_DIALBACK / DIALBACK_SAME say
 * whether the peer has one and whether it equals ours. */
struct cluster_summary {
	bool federation;
	const char *security;           /* none | optional | required */
	bool valid_certs;
	bool sasl_in, sasl_out;
	const char *policy_default;     /* allow | deny */
	const char *policy_digest;      /* hex SHA-256 of the sorted rules */
	const char *dialback_secret;
	bool has_dialback;
	bool dialback_same;
};

/* A forwarded stanza that was not acknowledged (owned by the caller after
 * cluster_link_pop_unacked; free with cluster_fwd_free). */
struct cluster_fwd {
	struct cluster_fwd *next;
	uint64_t seq;
	char *home;             /* NULL: for a remote domain */
	char *origin;           /* the sender's home node; NULL: S2S */
	struct stanza *st;
};

struct cluster_link_opts {
	const char *local;              /* this node's name (copied) */
	const uint8_t *nonce;           /* 16 random bytes (copied) */
	struct xmlstream_opts xml;      /* max_stanza is raised for <fwd> */
	size_t max_unacked;             /* 0: 10000 */
	uint64_t connid;
};

struct cluster_link_cbs {
	void (*send)(void *arg, const char *buf, size_t len);
	/* The peer says it is NODE: 0 accepts, negative refuses. */
	int (*hello)(void *arg, const char *node);
	/* The peer's settings (first after hello, again after its reloads). */
	void (*summary)(void *arg, const struct cluster_summary *s);
	void (*home)(void *arg, const char *home, bool attached);
	/* A stanza (taken) for HOME (NULL: a remote domain); ORIGIN may be
	 * NULL. */
	void (*stanza)(void *arg, const char *home, const char *origin,
	               struct stanza *st);
	/* Over, once: ERR 0 for a clean close. */
	void (*closed)(void *arg, int err, const char *why);
};

/* OPTS and CBS are copied. Returns owned. */
struct cluster_link *cluster_link_new(const struct cluster_link_opts *opts,
                                      const struct cluster_link_cbs *cbs,
                                      void *arg);
/* Drops whatever is unacknowledged (pop it first). NULL ok; not from a
 * callback. */
void cluster_link_free(struct cluster_link *l);
/* Send the header and hello (once, before any input). */
void cluster_link_start(struct cluster_link *l);
/* Bytes from the peer (borrowed). 0, or the error that closed the link. */
int cluster_link_input(struct cluster_link *l, const void *buf, size_t len);
/* The transport is gone (ERR 0: EOF). */
void cluster_link_eof(struct cluster_link *l, int err);
/* Our settings (copied; sent now if the link is up, else once it is). */
void cluster_link_set_summary(struct cluster_link *l,
                              const struct cluster_summary *s);
/* Announce that home node HOME attached to (or left) this node. */
void cluster_link_announce(struct cluster_link *l, const char *home,
                           bool attached);
/* Forward ST for HOME (NULL: remote domain). Takes ST on success only:
 * 0, or -ENOTCONN (not up), S2SD_ELIMIT (too many unacknowledged). */
int cluster_link_forward(struct cluster_link *l, const char *home,
                         const char *origin, struct stanza *st);
/* Close: a stream error CONDITION (NULL: a clean </stream:stream>);
 * closed() fires at once. No-op once closed. */
void cluster_link_close(struct cluster_link *l, int err,
                        const char *condition, const char *text);
/* After closed: the oldest unacknowledged forward, or NULL. */
struct cluster_fwd *cluster_link_pop_unacked(struct cluster_link *l);
void cluster_fwd_free(struct cluster_fwd *f);            /* NULL ok */

bool cluster_link_is_up(const struct cluster_link *l);
bool cluster_link_is_closed(const struct cluster_link *l);
const char *cluster_link_peer(const struct cluster_link *l); /* NULL early */
/* Does the peer's last summary carry the same dialback secret as ours
 * (now: after our reload too)? false when either has none. */
bool cluster_link_dialback_same(const struct cluster_link *l);
size_t cluster_link_unacked(const struct cluster_link *l);
uint64_t cluster_link_forwarded(const struct cluster_link *l);
uint64_t cluster_link_received(const struct cluster_link *l);

#endif
