/* router.h - where a stanza goes: to a home node attached over XEP-0114
 * (the router is the server side of jabber:component:accept), or to S2S
 * towards a remote domain.
 *
 * Home nodes authenticate with the handshake of XEP-0114 (hex SHA-1 of the
 * stream id and the node's secret, compared in constant time). The
 * directory (router/directory.h) maps users and domains to home nodes.
 * Stanzas from S2S (router_deliver) go to the recipient's home node; a
 * stanza for a node that is not attached waits up to grace_ms for it, then
 * is answered with service-unavailable (bounceable stanzas only); a full
 * queue (queue_max_*) answers resource-constraint. Stanzas from a home node
 * must come from an address of a local domain that the directory routes to
 * that node (else not-allowed back to it); to a local domain they are
 * delivered locally, to a remote one they go to the to_remote callback
 * (which applies the policy). Order per (from, to) pair is preserved.
 * In a cluster, a home node attached to another node is reached through
 * the to_peer callback; attach and detach are reported via home_changed.
 *
 * Email address for federation (directory mappings, when email_federation
 * is on): outbound 'from' is rewritten to the user's email address,
 * inbound 'to' from the email address to the internal JID (also inside
 * presence subscriptions), and federated stanzas to the raw internal JID of
 * a mapped user are dropped (debug log line).
 *
 * Ownership: router_deliver and the to_remote callback take the stanza.
 * router_accept takes CLIENT (freed with free() after uv_close). Options are
 * copied; the directory is referenced (directory_ref). router_close stops
 * everything and calls CB once every handle is closed, then the router is
 * gone. */
#ifndef S2SD_ROUTER_H
#define S2SD_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cm/flow.h"
#include "cm/util.h"
#include "xmpp/xmlstream.h"

struct stanza;
struct directory;
struct router;

struct router_home {
	const char *name;       /* the component's 'to' / handshake name */
	const char *secret;
};

struct router_opts {
	const struct router_home *homes;
	size_t nhomes;
	struct directory *dir;  /* referenced, not copied */
	bool replace_on_conflict;   /* a second link replaces the first */
	bool email_federation;
	uint64_t grace_ms;      /* stanzas wait this long for a home node */
	size_t queue_max_stanzas;   /* per home node; 0: 1000 */
	size_t queue_max_bytes;     /* per home node; 0: 4 MiB */
	uint64_t handshake_timeout_ms;
	struct xmlstream_opts xml;
	/* Back-pressure on home node links (cm/flow.h): above flow.high bytes
	 * not yet written to a link, what is delivered to its node waits in
	 * the node's queue (queue_max_*) and the S2S streams (flow sources)
	 * that delivered it stop being read until the link is down to
	 * flow.low, or made no progress for flow.stall_ms. A home node link
	 * is itself a flow source while its input is processed (routes
	 * towards S2S may pause it). high 0: off. */
	struct flow_opts flow;
};

struct router_cbs {
	/* Is DOMAIN (prepared) one of ours (IM, email, alias)? */
	bool (*is_local)(void *arg, const char *domain);
	/* A stanza for a remote domain (takes ST); also error replies. */
	void (*to_remote)(void *arg, struct stanza *st);
	/* Cluster (both may be NULL). A stanza (ST) for home node HOME, not
	 * attached here: true when another node took it (ST taken), false
	 * to keep it (grace queue, then bounce). */
	bool (*to_peer)(void *arg, const char *home, const char *origin,
	                struct stanza *st);
	/* Home node HOME attached here, or left. */
	void (*home_changed)(void *arg, const char *home, bool attached);
};

int router_new(uv_loop_t *loop, const struct router_opts *opts,
               const struct router_cbs *cbs, void *arg, struct router **out,
               char *why, size_t whylen);
/* A stanza for a local recipient (takes ST): from S2S, or a bounce. */
void router_deliver(struct router *r, struct stanza *st);
/* From another cluster node: a stanza (taken) for home node HOME, sent
 * by home node ORIGIN (NULL: S2S), which that node already checked. */
void router_deliver_home(struct router *r, const char *home,
                         const char *origin, struct stanza *st);
/* Home node HOME attached on another cluster node: what waits for it here
 * goes there (through to_peer). */
void router_home_remote(struct router *r, const char *home);
/* A home node connected to the component listener (takes CLIENT). */
void router_accept(struct router *r, uv_tcp_t *client, const char *peer);
/* Reload: new home nodes, secrets, directory. Links whose node is gone or
 * whose secret changed are closed; others stay. 0 or S2SD_ECONFIG + WHY. */
int router_reconfigure(struct router *r, const struct router_opts *opts,
                       char *why, size_t whylen);
/* Where a stanza to JID would go and why ("s2sctl route JID"). */
void router_explain(const struct router *r, const char *jid,
                    struct util_buf *out);
/* Shutdown begins: answer every stanza that waits for a home node now,
 * and from now on answer a stanza for a node that is not attached at once
 * instead of waiting, while S2S can still carry the answers (call it
 * before closing S2S; router_close() answers what waits too, but by then
 * answers for remote senders have no way out). Links stay up. */
void router_drain(struct router *r);
void router_close(struct router *r, void (*cb)(void *arg), void *arg);

#endif
