/* dns_connect.h - connect to the first reachable candidate of a remote
 * domain (RFC 6120 3.2.1 steps 5-7, RFC 8305 Happy Eyeballs).
 *
 * Every address of every candidate is tried in list order, each attempt
 * with its own time-out. Within one SRV priority the next address starts
 * RACE_DELAY after the previous one, or at once when that one fails; a
 * higher priority number starts only when every attempt before it has
 * failed or timed out (a backup stays a backup). The first connection wins
 * and the other attempts are closed. The candidate list is borrowed during
 * dns_connect_start() only. The callback runs exactly once, never before
 * dns_connect_start() has returned; after dns_connect_cancel() it runs with
 * UV_ECANCELED once the attempts are closed. */
#ifndef S2SD_DNS_CONNECT_H
#define S2SD_DNS_CONNECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dns/dns_cand.h"

struct dns_connect;

/* One address (or host) passed on the way. */
struct dns_connect_fail {
	const char *host;               /* the candidate's host */
	uint16_t port;
	struct sockaddr_storage addr;   /* AF_UNSPEC: the host had no address */
	int err;                        /* UV_ECONNREFUSED, UV_ETIMEDOUT, ... */
};

struct dns_connect_result {
	uv_tcp_t *tcp;     /* status 0: connected and handed over, the caller
	                    * owns it (close with dns_connect_tcp_close) */
	size_t cand;       /* the winner's index in the candidate list */
	bool direct_tls;   /* start TLS at once (XEP-0368), not STARTTLS */
	struct sockaddr_storage addr;
	const struct dns_connect_fail *fails;  /* borrowed during the callback */
	size_t nfails;
};

/* STATUS: 0, S2SD_ETIMEOUT (every attempt timed out), S2SD_ECONNECT
 * (nothing accepted), UV_ECANCELED. R is borrowed, never NULL. */
typedef void dns_connect_cb(int status, const struct dns_connect_result *r,
                            void *arg);

struct dns_connect_opts {
	uint32_t attempt_timeout_ms;  /* per address (0: 10000) */
	uint32_t race_delay_ms;       /* RFC 8305 Connection Attempt Delay
	                               * (0: 250) */
	uint64_t connid;              /* for the log lines */
};

/* Start. Returns 0 (CB will run; *OUT, may be NULL, is valid until then)
 * or -EINVAL for an empty list (no callback). */
int dns_connect_start(uv_loop_t *loop, const struct dns_cand_list *cands,
                      const struct dns_connect_opts *opts, dns_connect_cb *cb,
                      void *arg, struct dns_connect **out);
/* Stop every attempt; CB runs with UV_ECANCELED from the loop. Only before
 * the callback has run. */
void dns_connect_cancel(struct dns_connect *dc);
/* Close and free a handed-over connection. */
void dns_connect_tcp_close(uv_tcp_t *tcp);
/* "host [addr]:port ERRNAME (message)" into BUF. */
void dns_connect_fail_str(const struct dns_connect_fail *f, char *buf,
                          size_t len);

#endif
