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

/* One live connection of the service. */
struct s2s_link {
	struct s2s *s;
	struct s2s_conn *conn;
	enum s2s_role role;
	char *addr;                     /* IN: peer address, for limits */
	struct s2s_attempt *attempt;    /* OUT: what it was opened for */
	struct s2s_link *next, **prevp;
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

/* s2s_out.c */
extern const struct s2s_route_cbs s2s__route_cbs;
/* The connection of LINK (an attempt's) was authenticated / closed. */
void s2s__out_authenticated(struct s2s_link *l, const char *local,
                            const char *remote);
void s2s__out_closed(struct s2s_link *l, int err);
void s2s__out_cancel_all(struct s2s *s);
/* Reload: bounce and stop routes whose remote the policy now denies. */
void s2s__out_policy_changed(struct s2s *s);

#endif
