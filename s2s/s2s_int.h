/* s2s_int.h - shared by s2s.c (the service, inbound side, reload, shutdown)
 * and s2s_out.c (outbound attempts over routes). Not for other modules. */
#ifndef S2SD_S2S_INT_H
#define S2SD_S2S_INT_H

#include "s2s/s2s.h"
#include "s2s/s2s_conn.h"
#include "s2s/s2s_route.h"

struct dialback_secret;
struct htab;
struct s2s_attempt;
struct s2s_orphans;
struct s2s_sm_table;
struct s2s_vchan;
struct s2s_vreq;

/* One live connection of the service. */
struct s2s_link {
	struct s2s *s;
	struct s2s_conn *conn;
	enum s2s_role role;
	char *addr;                     /* IN: peer address, for limits */
	struct s2s_attempt *attempts;   /* OUT: the routes it serves (the
	                                 * first opened it, others piggyback) */
	struct s2s_vchan *vchan;        /* OUT: a dialback verification stream */
	bool closed;                    /* its conn reported the end: it is
	                                 * being taken apart, nothing may be
	                                 * attached to it any more */
	struct s2s_link *next, **prevp;
	char *in_remote;                /* IN, once ready: its key in in_ready */
	struct s2s_link *in_next;       /* ... and the next one of that key */
};

struct s2s {
	uv_loop_t *loop;
	struct s2s_settings set;
	struct dialback_secret *db;     /* NULL: dialback off */
	struct tls_ctx *tls;
	struct policy *pol;
	struct dns_resolver *dns;
	struct s2s_cbs cbs;
	void *arg;
	struct s2s_routes *routes;
	uv_timer_t route_timer;
	struct s2s_link *links;
	size_t nlinks;
	struct s2s_attempt *attempts;   /* outbound attempts under way */
	struct htab *per_addr;          /* IN peer address -> count */
	struct htab *in_ready;          /* IN stream remote -> its ready links
	                                 * (max_streams_per_domain) */
	struct s2s_rate *rate;          /* IN rate per remote domain */
	struct s2s_vchan *vchans;       /* verification streams being set up */
	struct s2s_vreq *vreqs;         /* dialback verifications under way */
	uv_timer_t verify_timer;
	struct s2s_sm_table *smtab;     /* IN sessions kept for resumption */
	struct s2s_orphans *orphans;    /* OUT stanzas waiting to resume */
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
};

/* s2s.c */
struct s2s_link *s2s__link_new(struct s2s *s, enum s2s_role role,
                               const char *addr);
/* Options for a new connection of ROLE (policy overrides for REMOTE). */
void s2s__conn_opts(const struct s2s *s, enum s2s_role role,
                    const char *local, const char *remote,
                    struct s2s_conn_opts *o);
extern const struct s2s_conn_cbs s2s__conn_cbs;
void s2s__route_timer_arm(struct s2s *s);
void s2s__maybe_done(struct s2s *s);
/* Answer ST (taken) with an error for ERR towards its local sender. */
void s2s__bounce(struct s2s *s, struct stanza *st, const char *type,
                 const char *cond, const char *text);

/* s2s_verify.c: the receiving role of dialback. */
void s2s__verify_init(struct s2s *s);
/* IN conn C asks: is KEY valid for (LOCAL receiving, REMOTE originating,
 * ID)? The answer goes to s2s_conn_dialback_verified() on C (if alive). */
void s2s__verify_request(struct s2s *s, struct s2s_conn *c, const char *local,
                         const char *remote, const char *id, const char *key);
/* An answer (or error) for a request sent on link L. */
void s2s__verify_result(struct s2s *s, struct s2s_link *l, const char *local,
                        const char *remote, const char *id, bool valid,
                        int err);
void s2s__verify_chan_closed(struct s2s_link *l);
void s2s__verify_close(struct s2s *s);
/* The link whose connection has this id, or NULL. */
struct s2s_link *s2s__link_by_id(struct s2s *s, uint64_t connid);

/* s2s_out.c */
extern const struct s2s_route_cbs s2s__route_cbs;
/* The connection of LINK (an attempt's) was authenticated / closed. */
void s2s__out_authenticated(struct s2s_link *l, const char *local,
                            const char *remote);
void s2s__out_closed(struct s2s_link *l, int err);
void s2s__out_pair_refused(struct s2s_link *l, const char *local,
                           const char *remote, int err);
/* Shutdown: bounce what waits on routes being set up and stop their
 * attempts, except where answers wait (they cannot be bounced): those go
 * on, deliver, then close (the daemon's drain time bounds them).
 * s2s__out_link_draining() tells whether L carries such an attempt and
 * must stay open. */
void s2s__out_cancel_all(struct s2s *s);
/* A test attempt (s2sctl test) from LOCAL to REMOTE, logged under CONNID:
 * resolve and try every candidate like a route would, but alone (never
 * piggybacked on or shared). DONE runs once: ERR 0 with the link when the
 * pair is authenticated (the stream is closed properly right after), or
 * the error that ended the last candidate (L NULL), also at shutdown. */
typedef void s2s_probe_done(void *arg, int err, struct s2s_link *l);
void s2s__out_probe(struct s2s *s, const char *local, const char *remote,
                    uint64_t connid, s2s_probe_done *done, void *arg);
bool s2s__out_link_draining(const struct s2s_link *l);
/* Reload: bounce and stop routes whose remote the policy now denies. */
void s2s__out_policy_changed(struct s2s *s);
/* XEP-0198: routes towards REMOTE held while a session is resumed go on. */
void s2s__out_release_held(struct s2s *s, const char *remote);

/* s2s_resume.c: XEP-0198 across streams (see there). */
void s2s__sm_init(struct s2s *s);
/* Shutdown: bounce what waits for a resumption; _free also frees. */
void s2s__sm_close(struct s2s *s);
void s2s__sm_free(struct s2s *s);
/* The connection of L closed (from the closed callback, after the
 * attempts were told): keep or hand on its XEP-0198 state. */
void s2s__sm_in_closed(struct s2s_link *l);
void s2s__sm_out_closed(struct s2s_link *l);
/* OUT: a pair towards REMOTE is authenticated on L: true when its route
 * must wait for a resumption (released with s2s__out_release_held). */
bool s2s__sm_hold(struct s2s_link *l, const char *remote);
/* The route of (LOCAL, REMOTE) failed: bounce its stanzas waiting here. */
void s2s__sm_route_failed(struct s2s *s, const char *local,
                          const char *remote);
/* The resumption callbacks of struct s2s_conn_cbs (ARG: the link). */
bool s2s__sm_cb_resume(void *arg, struct s2s_conn *c, const char *previd,
                       uint32_t *h);
bool s2s__sm_cb_resumed(void *arg, struct s2s_conn *c, const char *previd,
                        uint32_t h);
void s2s__sm_cb_resume_failed(void *arg, struct s2s_conn *c,
                              const char *previd);

#endif
