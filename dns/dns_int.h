/* dns_int.h - what dns.c (the resolver: c-ares on libuv, the cache) and
 * dns_lookup.c (one domain's lookup, a two-stage machine) share. Not for
 * other modules: they use dns.h. */
#ifndef S2SD_DNS_INT_H
#define S2SD_DNS_INT_H

#include <ares.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "dns/dns.h"

#define DNS_MAX_HOSTS 32   /* distinct SRV targets looked up; more is abuse */
#define DNS_MAX_ADDRS 16   /* addresses kept per family and target */

struct dns_cache;

struct dns_sock {
	struct dns_sock *next;
	struct dns_resolver *res;
	ares_socket_t fd;
	uv_poll_t poll;
};

struct dns_host {
	char *name;
	int st[2];                          /* [0] A, [1] AAAA */
	struct sockaddr_storage addrs[2][DNS_MAX_ADDRS];
	size_t n[2];
};

enum dns_stage { DNS_STAGE_SRV, DNS_STAGE_ADDR, DNS_STAGE_DONE };

struct dns_lookup {
	struct dns_resolver *res;
	struct dns_lookup *prev, *next;     /* res->active, then res->done */
	char *domain;                       /* A-labels, no trailing dot */
	uint64_t connid;
	dns_resolve_cb *cb;
	void *arg;
	int refs;                           /* 1 + outstanding c-ares queries */
	int pending;                        /* answers this stage waits for */
	enum dns_stage stage;
	int srv_st[2];                      /* [direct_tls] */
	struct dns_srv_list *srv[2];
	struct dns_srv_list *plan;          /* NULL: fallback to the domain */
	struct dns_host *hosts;
	size_t nhosts;
	int status;
	struct dns_cand_list *result;
};

struct dns_query {
	struct dns_lookup *lk;
	uint16_t type;
	size_t which;                       /* SRV: direct_tls; else host */
	char *name;
	uint64_t sent_ns;                   /* uv_hrtime(), for the latency */
};

struct dns_resolver {
	uv_loop_t *loop;
	ares_channel ch;
	bool ch_ok, closing;
	uv_timer_t timer;                   /* c-ares time-outs */
	uv_timer_t defer;                   /* delivers the DONE queue */
	int handles;
	struct dns_sock *socks;
	struct dns_cache *cache;
	struct dns_lookup *active;
	struct dns_lookup *done, *done_tail;
	uint32_t neg_ttl_s, max_ttl_s;
	dns_rand_fn *rnd;
	void *rnd_arg;
	dns_resolver_close_cb *close_cb;
	void *close_arg;
};

/* Ask for NAME/TYPE on behalf of LK: the answer goes to
 * dns__lookup_answer(), from the cache before this returns, or from c-ares
 * later (or at once when c-ares fails early). */
void dns__query(struct dns_lookup *lk, const char *name, uint16_t type,
                size_t which);
/* An answer (or failure) for LK; ANS borrowed. */
void dns__lookup_answer(struct dns_lookup *lk, uint16_t type, size_t which,
                        int st, const uint8_t *ans, size_t len);
void dns__lookup_unref(struct dns_lookup *lk);
/* End LK with STATUS (RESULT taken) and queue its callback. */
void dns__lookup_finish(struct dns_lookup *lk, int status,
                        struct dns_cand_list *result);
/* Run the callbacks of the finished lookups. */
void dns__deliver(struct dns_resolver *res);

#endif
