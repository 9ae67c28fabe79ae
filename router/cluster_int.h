/* cluster_int.h - shared between cluster.c (peers, routing, reports,
 * lifetime) and cluster_conn.c (one TCP + TLS-PSK + link connection). */
#ifndef S2SD_CLUSTER_INT_H
#define S2SD_CLUSTER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "router/cluster.h"
#include "tls/tls_psk.h"

#define CLUSTER_READ_BUF 16384

struct cluster_peer {
	struct cluster *c;
	char *name;
	char *addr_text;
	struct sockaddr_storage addr;
	bool connector;                 /* our name is smaller: we connect */
	struct cluster_conn *conn;      /* the link that is up, or NULL */
	struct cluster_conn *pending;   /* our connection attempt */
	uv_timer_t retry;
	unsigned fails;
	bool has_summary, dialback_same;
	struct cluster_summary sum;     /* strings owned below */
	char *sum_security, *sum_default, *sum_digest;
	char **homes;                   /* attached there */
	size_t nhomes;
	uint64_t forwarded, received, up_since;
	char last_error[160];
};

struct cluster_conn {
	struct cluster_conn *next, **prevp;
	struct cluster *c;
	struct cluster_peer *peer;      /* inbound: once TLS named it */
	uv_tcp_t *tcp;
	uv_connect_t creq;
	uv_shutdown_t sreq;
	uv_timer_t timer;               /* set-up limit, then flush limit */
	struct tls_psk *tls;
	struct cluster_link *link;
	int open;                       /* handles not closed yet */
	bool outbound, up, closing, handles_closing;
	uint64_t connid;
	char addr[80];
	char rbuf[CLUSTER_READ_BUF];
};

struct cluster {
	uv_loop_t *loop;
	char *node;
	uint8_t key[TLS_PSK_KEY_LEN];
	struct cluster_cbs cbs;
	void *arg;
	struct cluster_summary sum;     /* strings owned below */
	char *sum_security, *sum_default, *sum_digest, *sum_secret;
	struct xmlstream_opts xml;
	uint64_t timeout_ms, backoff_min_ms, backoff_max_ms;
	struct cluster_peer **peers;
	size_t npeers;
	struct cluster_conn *conns;
	char **homes;                   /* attached here */
	size_t nhomes;
	bool closing;
	int open;                       /* peer timers not closed yet */
	void (*close_cb)(void *arg);
	void *close_arg;
};

/* cluster.c: events from a connection. */
struct cluster_peer *cluster__peer(const struct cluster *c, const char *name);
/* The link of CONN is up: make it the peer's link. */
void cluster__up(struct cluster_conn *conn);
/* CONN's link is down (or never came up): forget it, maybe retry. */
void cluster__down(struct cluster_conn *conn, int err, const char *why);
/* CONN is closed and about to be freed: route what it did not get
 * acknowledged; maybe finish closing the cluster. */
void cluster__gone(struct cluster_conn *conn);
/* After a connection was freed: finish closing the cluster if it was the
 * last thing open. */
void cluster__maybe_done(struct cluster *c);
void cluster__schedule(struct cluster_peer *p);
extern const struct cluster_link_cbs cluster__link_cbs;

/* cluster_conn.c */
struct cluster_conn *cluster__conn_new(struct cluster *c, uv_tcp_t *tcp,
                                       struct cluster_peer *outbound_to,
                                       const char *addr);
void cluster__conn_connect(struct cluster_conn *conn);
void cluster__conn_close(struct cluster_conn *conn);
/* The link's send callback (ARG: the connection). */
void cluster__conn_link_send(void *arg, const char *buf, size_t len);

#endif
