/* cluster.h - this node's place in the s2sd cluster: one router-to-router
 * link to every peer node (TCP, TLS 1.3 with a key derived from the
 * cluster secret, identity = node name; the node with the smaller name
 * connects, reconnecting with jittered back-off), over which the nodes
 * announce their attached home nodes, forward stanzas and exchange their
 * settings for s2sctl check (router/cluster_link.h).
 *
 * Routing: cluster_to_home forwards a stanza to the peer where a home node
 * is attached; cluster_to_remote hands an outbound federated stanza to a
 * federation-enabled peer chosen by rendezvous hashing on the remote domain
 * (sticky while that peer is up, spread otherwise). A forwarded stanza is
 * kept until the peer acknowledges it; when a link is lost, what it did not
 * acknowledge is routed again (another peer, or the local router's grace
 * queue) or answered through the bounce callback: never silently lost
 * (a stanza the peer handed on just before it died may arrive twice).
 *
 * Peers are addressed by IP literal (no DNS in the loop). Ownership:
 * options are copied; stanzas passed in are taken on success (0) only;
 * stanzas passed to callbacks are taken. cluster_accept takes CLIENT (freed
 * with free() after uv_close). cluster_close closes every link, routes what
 * is unacknowledged, and calls CB once every handle is closed. */
#ifndef S2SD_CLUSTER_H
#define S2SD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "router/cluster_link.h"
#include "xmpp/xmlstream.h"

struct report;
struct stanza;
struct util_buf;
struct cluster;

struct cluster_peer_opts {
	const char *name;
	const char *addr;               /* "ip:port", "[ip6]:port" */
};

struct cluster_opts {
	const char *node;               /* this node's name */
	const char *secret;             /* the cluster secret */
	const struct cluster_peer_opts *peers;
	size_t npeers;
	struct cluster_summary summary; /* ours; federation is in it */
	struct xmlstream_opts xml;
	uint64_t timeout_ms;            /* connect + TLS + hello; 0: 10 s */
	uint64_t backoff_min_ms, backoff_max_ms;
};

struct cluster_cbs {
	/* From a peer, for home node HOME attached here (takes ST). */
	void (*to_home)(void *arg, const char *home, const char *origin,
	                struct stanza *st);
	/* From a peer, for a remote domain: send over S2S (takes ST). */
	void (*to_remote)(void *arg, struct stanza *st);
	/* Could not be delivered through the cluster (takes ST): answer the
	 * sender with CONDITION (home node ORIGIN, NULL: S2S). */
	void (*bounce)(void *arg, struct stanza *st, const char *origin,
	               const char *condition, const char *text);
	/* Home node HOME is now attached on a peer: what waits for it here
	 * may go there. */
	void (*home_remote)(void *arg, const char *home);
};

int cluster_new(uv_loop_t *loop, const struct cluster_opts *opts,
                const struct cluster_cbs *cbs, void *arg,
                struct cluster **out, char *why, size_t whylen);
/* A peer connected to the cluster listener (takes CLIENT). */
void cluster_accept(struct cluster *c, uv_tcp_t *client, const char *peer);
/* Forward ST to the peer where HOME is attached. 0 (taken), or -ENOENT
 * (no linked peer has it attached; ST stays with the caller). */
int cluster_to_home(struct cluster *c, const char *home, const char *origin,
                    struct stanza *st);
/* Hand ST for remote DOMAIN to a federation-enabled peer. 0 (taken), or
 * -ENOENT (none is up; ST stays with the caller). */
int cluster_to_remote(struct cluster *c, const char *domain,
                      const char *origin, struct stanza *st);
/* A home node attached to (or left) this node: tell the peers. */
void cluster_home_changed(struct cluster *c, const char *home, bool attached);
/* Reload: our settings (peers and secret changes need a restart: they are
 * reported in WHY and 1 is returned; 0 when nothing else changed). */
int cluster_reconfigure(struct cluster *c, const struct cluster_opts *opts,
                        char *why, size_t whylen);
/* "peer=state ..." for s2sctl status. */
void cluster_status_line(const struct cluster *c, struct util_buf *out);
/* One record per peer (node, address, state, federation, homes, counts). */
void cluster_peers_report(const struct cluster *c, struct report *r);
/* This node's and the peers' settings, one line per node, "key=value"
 * words (the first line is this node): for s2sctl check. */
void cluster_summary_text(const struct cluster *c, struct util_buf *out);
size_t cluster_links_up(const struct cluster *c);
void cluster_close(struct cluster *c, void (*cb)(void *arg), void *arg);

#endif
