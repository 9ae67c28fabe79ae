/* router_int.h - shared between router.c (lifetime, home nodes, links,
 * grace queues), router_route.c (the routing rules, email rewriting,
 * explain) and router_tcp.c (the libuv transport of a link).
 *
 * A link is one XEP-0114 connection: a component core plus a transport
 * that writes bytes and closes. The TCP transport is router_tcp.c; tests
 * and the fuzzer attach in-memory transports with router__attach(). */
#ifndef S2SD_ROUTER_INT_H
#define S2SD_ROUTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm/flow.h"
#include "router/router.h"

#define ROUTER_NS_SERVER "jabber:server"

struct htab;
struct component;

/* How a link reaches its peer. write copies BUF. close flushes what was
 * written, closes, and later (never from inside close) calls
 * router__link_gone(); after close, write is never called again. */
struct router_transport {
	void (*write)(void *t, const char *buf, size_t len);
	void (*close)(void *t);
};

/* A stanza waiting for a detached home node. */
struct router_qent {
	struct router_qent *next;
	struct stanza *st;
	char *origin;           /* home node it came from; NULL: S2S */
	uint64_t deadline;
	size_t bytes;
};

struct router_node {
	struct router_node *next;
	char *name;             /* lower case */
	char *secret;
	struct router_link *link;       /* the attached (ready) link */
	uint64_t attached_at;
	struct router_qent *qhead, **qtail;
	size_t qlen, qbytes;
};

struct router_link {
	struct router_link *next, **prevp;
	struct router *r;
	struct component *comp;
	const struct router_transport *tp;
	void *t;
	struct router_node *node;       /* while attached */
	uint64_t connid;
	char peer[64];
	bool closed;            /* the component reported closed */
	/* Back-pressure (router__link_flow; off for transports without). */
	void (*pause)(void *t, bool stop);      /* NULL: no flow control */
	struct flow_src *src;   /* its reading, paused by congested routes */
	struct flow_gate gate;  /* its write backlog, pausing S2S streams */
	size_t pending;         /* bytes written and not yet completed */
	uint64_t written_at;    /* last write completion */
};

struct router {
	uv_loop_t *loop;
	struct router_opts opts;        /* homes and dir cleared */
	struct directory *dir;          /* one reference; never NULL */
	struct router_cbs cbs;
	void *arg;
	struct router_node *nodes;
	struct htab *node_by_name;
	struct router_link *links;
	size_t nlinks;
	uv_timer_t timer;
	bool closing;
	bool draining;          /* router_drain(): nothing waits any more */
	bool timer_closed;
	void (*close_cb)(void *arg);
	void *close_arg;
	uint64_t (*clock)(void *arg);   /* tests; NULL: uv_now() */
	void *clock_arg;
};

/* router.c */
uint64_t router__now(const struct router *r);
struct router_node *router__node(const struct router *r, const char *name);
/* Hand ST (taken) to home node N: written when attached, else queued for
 * the grace period (or bounced). ORIGIN: the node it came from, or NULL
 * for S2S; where a bounce goes. */
void router__to_node(struct router *r, struct router_node *n,
                     struct stanza *st, const char *origin);
/* Re-arm the timer for the earliest deadline. */
void router__arm(struct router *r);
/* Transports: */
struct router_link *router__attach(struct router *r,
                                   const struct router_transport *tp,
                                   void *t, const char *peer);
void router__link_input(struct router_link *l, const void *buf, size_t len);
void router__link_eof(struct router_link *l, int err);
void router__link_gone(struct router_link *l);
/* Back-pressure for a transport that can stop reading (PAUSE(t, true))
 * and reports every write completion with router__link_written(): the
 * link becomes a flow source (cm/flow.h) while its input is processed,
 * and its write backlog a gate for what is delivered to it. */
void router__link_flow(struct router_link *l, void (*pause)(void *t,
                                                            bool stop));
void router__link_written(struct router_link *l, size_t len);
/* Tests: read the time from CLOCK instead of the loop; run the timers. */
void router__set_clock(struct router *r, uint64_t (*clock)(void *arg),
                       void *arg);
void router__tick(struct router *r);

/* router_route.c */
/* A stanza from S2S for a local recipient (takes ST). */
void router__from_s2s(struct router *r, struct stanza *st);
/* A stanza from the home node of link L (takes ST). */
void router__from_node(struct router *r, struct router_link *l,
                       struct stanza *st);
/* Answer ST (taken) with an error towards ORIGIN (NULL: S2S), if it is
 * bounceable; otherwise drop it with a debug line saying WHY. */
void router__bounce(struct router *r, struct stanza *st, const char *origin,
                    const char *condition, const char *text);

/* router_tcp.c: a TCP link for CLIENT (taken). */
void router__tcp_accept(struct router *r, uv_tcp_t *client,
                        const char *peer);

#endif
