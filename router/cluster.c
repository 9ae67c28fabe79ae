/* cluster.c - peers, routing through the cluster, reports and lifetime;
 * see cluster.h. The connections themselves are in cluster_conn.c.
 *
 * Peers are few (a cluster is a handful of nodes), as are the home nodes
 * each has attached, so lookups walk arrays. */
#include "router/cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/report.h"
#include "cm/util.h"
#include "router/cluster_hash.h"
#include "router/cluster_int.h"
#include "xmpp/jid.h"
#include "xmpp/stanza.h"

#define CLUSTER_DEFAULT_TIMEOUT_MS 10000

/* ---- small helpers ---- */

static bool
names_has(char **names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

static void
names_set(char ***names, size_t *n, const char *name, bool present)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*names)[i], name) == 0)
			break;
	if (present && i == *n) {
		*names = xreallocarray(*names, *n + 1, sizeof(**names));
		(*names)[(*n)++] = xstrdup(name);
	} else if (!present && i < *n) {
		free((*names)[i]);
		(*names)[i] = (*names)[--*n];
	}
}

static void
names_free(char ***names, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++)
		free((*names)[i]);
	free(*names);
	*names = NULL;
	*n = 0;
}

struct cluster_peer *
cluster__peer(const struct cluster *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->npeers; i++)
		if (strcmp(c->peers[i]->name, name) == 0)
			return c->peers[i];
	return NULL;
}

static const char *
cluster_peer_state(const struct cluster_peer *p)
{
	if (p->conn != NULL)
		return "up";
	if (p->pending != NULL)
		return "connecting";
	return p->connector ? "down" : "waiting";
}

/* ---- link callbacks (ARG: the connection) ---- */

static int
cluster_on_hello(void *arg, const char *node)
{
	struct cluster_conn *conn = arg;

	return conn->peer != NULL && strcmp(conn->peer->name, node) == 0
	           ? 0 : -EPERM;
}

static void
cluster_peer_sum_free(struct cluster_peer *p)
{
	free(p->sum_security);
	free(p->sum_default);
	free(p->sum_digest);
	p->sum_security = p->sum_default = p->sum_digest = NULL;
	p->has_summary = false;
}

static void
cluster_on_summary(void *arg, const struct cluster_summary *s)
{
	struct cluster_conn *conn = arg;
	struct cluster_peer *p = conn->peer;

	cluster_peer_sum_free(p);
	p->sum = *s;
	p->sum.security = p->sum_security = xstrdup(s->security);
	p->sum.policy_default = p->sum_default = xstrdup(s->policy_default);
	p->sum.policy_digest = p->sum_digest = xstrdup(s->policy_digest);
	p->has_summary = true;
	log_info(LOG_SUB_ROUTER, conn->connid, "cluster summary peer=%s "
	         "federation=%s security=%s", p->name,
	         s->federation ? "on" : "off", s->security);
}

static void
cluster_on_home(void *arg, const char *home, bool attached)
{
	struct cluster_conn *conn = arg;
	struct cluster_peer *p = conn->peer;

	names_set(&p->homes, &p->nhomes, home, attached);
	log_info(LOG_SUB_ROUTER, conn->connid, "cluster home %s peer=%s "
	         "home=%s", attached ? "attached" : "detached", p->name, home);
	if (attached)
		p->c->cbs.home_remote(p->c->arg, home);
}

static void
cluster_on_stanza(void *arg, const char *home, const char *origin,
                  struct stanza *st)
{
	struct cluster_conn *conn = arg;
	struct cluster *c = conn->c;

	conn->peer->received++;
	if (home != NULL)
		c->cbs.to_home(c->arg, home, origin, st);
	else
		c->cbs.to_remote(c->arg, st);
}

static void
cluster_on_link_closed(void *arg, int err, const char *why)
{
	struct cluster_conn *conn = arg;

	cluster__down(conn, err, why);
	cluster__conn_close(conn);
}

const struct cluster_link_cbs cluster__link_cbs = {
    cluster__conn_link_send, cluster_on_hello, cluster_on_summary,
    cluster_on_home, cluster_on_stanza, cluster_on_link_closed};

/* ---- links up and down ---- */

void
cluster__up(struct cluster_conn *conn)
{
	struct cluster_peer *p = conn->peer;
	struct cluster *c = conn->c;
	struct cluster_conn *old = p->conn;
	size_t i;

	conn->up = true;
	if (p->pending == conn)
		p->pending = NULL;
	/* A peer that restarted connects again before we saw the old link
	 * fail: the new link wins. */
	if (old != NULL) {
		log_info(LOG_SUB_ROUTER, old->connid, "cluster link replaced "
		         "peer=%s by=%016llx", p->name,
		         (unsigned long long)conn->connid);
		cluster_link_close(old->link, S2SD_EAUTH, "conflict",
		                   "replaced by a new link");
	}
	p->conn = conn;
	p->fails = 0;
	p->up_since = uv_now(c->loop);
	p->last_error[0] = '\0';
	metrics_add(METRICS_CLUSTER_LINKS, NULL, 1);
	log_info(LOG_SUB_ROUTER, conn->connid, "cluster link up peer=%s "
	         "addr=%s", p->name, conn->addr);
	for (i = 0; i < c->nhomes; i++)
		cluster_link_announce(conn->link, c->homes[i], true);
}

void
cluster__down(struct cluster_conn *conn, int err, const char *why)
{
	struct cluster_peer *p = conn->peer;

	if (p == NULL) {
		log_info(LOG_SUB_ROUTER, conn->connid, "cluster link failed "
		         "addr=%s error=%s reason=\"%s\"", conn->addr,
		         err_name(err), why);
		return;
	}
	snprintf(p->last_error, sizeof(p->last_error), "%s", why);
	if (p->pending == conn)
		p->pending = NULL;
	if (p->conn == conn) {
		p->conn = NULL;
		names_free(&p->homes, &p->nhomes);
		cluster_peer_sum_free(p);
		metrics_add(METRICS_CLUSTER_LINKS, NULL, -1);
		log_info(LOG_SUB_ROUTER, conn->connid, "cluster link down "
		         "peer=%s error=%s reason=\"%s\" unacked=%zu", p->name,
		         err == 0 ? "none" : err_name(err), why,
		         conn->link != NULL ? cluster_link_unacked(conn->link)
		                            : 0);
	} else {
		log_info(LOG_SUB_ROUTER, conn->connid, "cluster link failed "
		         "peer=%s error=%s reason=\"%s\"", p->name,
		         err == 0 ? "none" : err_name(err), why);
	}
	if (p->connector && !p->c->closing && p->conn == NULL &&
	    p->pending == NULL) {
		p->fails++;
		cluster__schedule(p);
	}
}

static void
cluster_on_retry(uv_timer_t *t)
{
	struct cluster_peer *p = t->data;
	struct cluster *c = p->c;
	uv_tcp_t *tcp;

	if (c->closing || p->conn != NULL || p->pending != NULL)
		return;
	tcp = xmalloc(sizeof(*tcp));
	uv_tcp_init(c->loop, tcp);
	p->pending = cluster__conn_new(c, tcp, p, p->addr_text);
	cluster__conn_connect(p->pending);
}

/* Jittered exponential back-off: half the delay fixed, half random, so
 * that nodes that lost a peer together do not retry in lockstep. */
void
cluster__schedule(struct cluster_peer *p)
{
	struct cluster *c = p->c;
	uint64_t d = c->backoff_min_ms, half;
	uint32_t r;
	unsigned i;

	if (uv_is_active((uv_handle_t *)&p->retry))
		return;
	for (i = 1; i < p->fails && d < c->backoff_max_ms; i++)
		d *= 2;
	if (d > c->backoff_max_ms)
		d = c->backoff_max_ms;
	if (p->fails == 0)
		d = 0;
	util_random(&r, sizeof(r));
	half = d / 2;
	d = half + (half > 0 ? r % (half + 1) : 0);
	log_debug(LOG_SUB_ROUTER, 0, "cluster retry peer=%s in_ms=%llu",
	          p->name, (unsigned long long)d);
	uv_timer_start(&p->retry, cluster_on_retry, d, 0);
}

/* ---- routing ---- */

/* The domain of ST's 'to' (prepared), into DOM; false when unusable. */
static bool
cluster_to_domain(const struct stanza *st, char *dom, size_t len)
{
	const char *to = stanza_attr(st, "to");
	struct jid *j = NULL;

	if (to == NULL || jid_parse(to, strlen(to), &j, NULL, 0) < 0)
		return false;
	snprintf(dom, len, "%s", jid_domain(j));
	jid_free(j);
	return true;
}

int
cluster_to_home(struct cluster *c, const char *home, const char *origin,
                struct stanza *st)
{
	struct cluster_peer *p;
	size_t i;

	if (c->closing)
		return -ENOENT;
	for (i = 0; i < c->npeers; i++) {
		p = c->peers[i];
		if (p->conn == NULL || !names_has(p->homes, p->nhomes, home))
			continue;
		if (cluster_link_forward(p->conn->link, home, origin, st) < 0)
			return -ENOENT;
		p->forwarded++;
		metrics_inc(METRICS_CLUSTER_FORWARDED, "home");
		log_debug(LOG_SUB_ROUTER, p->conn->connid, "cluster forward "
		          "peer=%s home=%s", p->name, home);
		return 0;
	}
	return -ENOENT;
}

int
cluster_to_remote(struct cluster *c, const char *domain, const char *origin,
                  struct stanza *st)
{
	const char *names[64];
	struct cluster_peer *up[64], *p;
	size_t i, n = 0;
	int k;

	if (c->closing)
		return -ENOENT;
	for (i = 0; i < c->npeers && n < UTIL_ARRAY_LEN(names); i++) {
		p = c->peers[i];
		if (p->conn != NULL && p->has_summary && p->sum.federation) {
			up[n] = p;
			names[n++] = p->name;
		}
	}
	if ((k = cluster_hash_pick(names, n, domain)) < 0)
		return -ENOENT;
	p = up[k];
	if (cluster_link_forward(p->conn->link, NULL, origin, st) < 0)
		return -ENOENT;
	p->forwarded++;
	metrics_inc(METRICS_CLUSTER_FORWARDED, "remote");
	log_debug(LOG_SUB_ROUTER, p->conn->connid, "cluster forward peer=%s "
	          "remote=%s", p->name, domain);
	return 0;
}

/* One stanza the lost link did not acknowledge: route it again. */
static void
cluster_reroute(struct cluster *c, struct cluster_fwd *f)
{
	struct stanza *st = f->st;
	char dom[JID_PART_MAX + 1];

	f->st = NULL;
	if (f->home != NULL) {
		/* The router tries the other peers, else waits for the home
		 * node to come back, else answers. */
		c->cbs.to_home(c->arg, f->home, f->origin, st);
	} else if (!cluster_to_domain(st, dom, sizeof(dom)) ||
	           cluster_to_remote(c, dom, f->origin, st) < 0) {
		c->cbs.bounce(c->arg, st, f->origin, "remote-server-timeout",
		              "the federation node sending this stanza went "
		              "away and no other one is up");
	}
	cluster_fwd_free(f);
}

void
cluster__gone(struct cluster_conn *conn)
{
	struct cluster_fwd *f;
	size_t n = 0;

	if (conn->link == NULL)
		return;
	while ((f = cluster_link_pop_unacked(conn->link)) != NULL) {
		cluster_reroute(conn->c, f);
		n++;
	}
	if (n > 0)
		log_info(LOG_SUB_ROUTER, conn->connid, "cluster rerouted "
		         "stanzas=%zu peer=%s", n,
		         conn->peer != NULL ? conn->peer->name : "-");
}

void
cluster_home_changed(struct cluster *c, const char *home, bool attached)
{
	size_t i;

	names_set(&c->homes, &c->nhomes, home, attached);
	for (i = 0; i < c->npeers; i++)
		if (c->peers[i]->conn != NULL)
			cluster_link_announce(c->peers[i]->conn->link, home,
			                      attached);
}

void
cluster_accept(struct cluster *c, uv_tcp_t *client, const char *peer)
{
	struct cluster_conn *conn = cluster__conn_new(c, client, NULL, peer);

	if (c->closing)
		cluster__conn_close(conn);
}

/* ---- configuration ---- */

static void
cluster_set_summary(struct cluster *c, const struct cluster_summary *s)
{
	size_t i;

	if (c->sum_secret != NULL)
		explicit_bzero(c->sum_secret, strlen(c->sum_secret));
	free(c->sum_secret);
	free(c->sum_security);
	free(c->sum_default);
	free(c->sum_digest);
	c->sum = *s;
	c->sum.security = c->sum_security = xstrdup(s->security);
	c->sum.policy_default = c->sum_default = xstrdup(s->policy_default);
	c->sum.policy_digest = c->sum_digest = xstrdup(s->policy_digest);
	c->sum.dialback_secret = c->sum_secret =
	    s->dialback_secret != NULL ? xstrdup(s->dialback_secret) : NULL;
	for (i = 0; i < c->npeers; i++)
		if (c->peers[i]->conn != NULL)
			cluster_link_set_summary(c->peers[i]->conn->link, &c->sum);
}

static int
cluster_peer_addr(const char *text, struct sockaddr_storage *ss)
{
	char host[256];
	int port;

	if (util_parse_hostport(text, 5270, host, sizeof(host), &port) < 0)
		return -EINVAL;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0 ||
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return -EINVAL;
}

static int
cluster_check_opts(const struct cluster_opts *o, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	size_t i, j;

	if (o->secret == NULL || *o->secret == '\0') {
		snprintf(why, whylen, "the cluster needs a secret "
		         "(cluster.secret_file)");
		return S2SD_ECONFIG;
	}
	for (i = 0; i < o->npeers; i++) {
		if (strcmp(o->peers[i].name, o->node) == 0) {
			snprintf(why, whylen, "cluster peer %s is this node's "
			         "own name", o->node);
			return S2SD_ECONFIG;
		}
		if (cluster_peer_addr(o->peers[i].addr, &ss) < 0) {
			snprintf(why, whylen, "cluster peer %s: '%s' is not "
			         "IP:PORT (no DNS names here)", o->peers[i].name,
			         o->peers[i].addr);
			return S2SD_ECONFIG;
		}
		for (j = 0; j < i; j++)
			if (strcmp(o->peers[i].name, o->peers[j].name) == 0) {
				snprintf(why, whylen, "cluster peer %s is listed "
				         "twice", o->peers[i].name);
				return S2SD_ECONFIG;
			}
	}
	return 0;
}

static struct cluster_peer *
cluster_peer_new(struct cluster *c, const struct cluster_peer_opts *po)
{
	struct cluster_peer *p = xcalloc(1, sizeof(*p));

	p->c = c;
	p->name = xstrdup(po->name);
	p->addr_text = xstrdup(po->addr);
	cluster_peer_addr(po->addr, &p->addr);
	p->connector = strcmp(c->node, p->name) < 0;
	uv_timer_init(c->loop, &p->retry);
	p->retry.data = p;
	c->open++;
	if (p->connector)
		cluster__schedule(p);
	return p;
}

int
cluster_new(uv_loop_t *loop, const struct cluster_opts *opts,
            const struct cluster_cbs *cbs, void *arg, struct cluster **out,
            char *why, size_t whylen)
{
	struct cluster *c;
	size_t i;
	int rc;

	if ((rc = cluster_check_opts(opts, why, whylen)) < 0)
		return rc;
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->node = xstrdup(opts->node);
	if (tls_psk_derive(opts->secret, c->key) < 0)
		fatalx("%s: HKDF unavailable", __func__);
	c->cbs = *cbs;
	c->arg = arg;
	c->xml = opts->xml;
	c->timeout_ms = opts->timeout_ms != 0 ? opts->timeout_ms
	                                      : CLUSTER_DEFAULT_TIMEOUT_MS;
	c->backoff_min_ms = opts->backoff_min_ms != 0 ? opts->backoff_min_ms
	                                              : 1000;
	c->backoff_max_ms = opts->backoff_max_ms >= c->backoff_min_ms
	                        ? opts->backoff_max_ms : c->backoff_min_ms;
	cluster_set_summary(c, &opts->summary);
	c->peers = xcalloc(opts->npeers + 1, sizeof(*c->peers));
	for (i = 0; i < opts->npeers; i++)
		c->peers[c->npeers++] = cluster_peer_new(c, &opts->peers[i]);
	log_info(LOG_SUB_ROUTER, 0, "cluster node=%s peers=%zu federation=%s",
	         c->node, c->npeers, opts->summary.federation ? "on" : "off");
	*out = c;
	return 0;
}

/* Peers and the secret are fixed for the cluster's life (the daemon
 * reports them as needing a restart); the settings summary follows. */
int
cluster_reconfigure(struct cluster *c, const struct cluster_opts *opts,
                    char *why, size_t whylen)
{
	uint8_t key[TLS_PSK_KEY_LEN];
	bool same = opts->npeers == c->npeers &&
	            strcmp(opts->node, c->node) == 0;
	size_t i;

	for (i = 0; same && i < opts->npeers; i++)
		same = cluster__peer(c, opts->peers[i].name) != NULL &&
		       strcmp(cluster__peer(c, opts->peers[i].name)->addr_text,
		              opts->peers[i].addr) == 0;
	if (opts->secret != NULL && tls_psk_derive(opts->secret, key) == 0 &&
	    !util_memeq_ct(key, c->key, sizeof(key)))
		same = false;
	explicit_bzero(key, sizeof(key));
	cluster_set_summary(c, &opts->summary);
	if (same)
		return 0;
	snprintf(why, whylen, "cluster node name, peers or secret changed: "
	         "restart s2sd to apply");
	return 1;
}

/* ---- reports ---- */

size_t
cluster_links_up(const struct cluster *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->npeers; i++)
		n += c->peers[i]->conn != NULL;
	return n;
}

void
cluster_status_line(const struct cluster *c, struct util_buf *out)
{
	size_t i;

	util_buf_printf(out, "node=%s", c->node);
	for (i = 0; i < c->npeers; i++)
		util_buf_printf(out, " %s=%s", c->peers[i]->name,
		                cluster_peer_state(c->peers[i]));
}

static void
cluster_homes_text(const struct cluster_peer *p, struct util_buf *b)
{
	size_t i;

	for (i = 0; i < p->nhomes; i++)
		util_buf_printf(b, "%s%s", i > 0 ? "," : "", p->homes[i]);
	if (p->nhomes == 0)
		util_buf_puts(b, "-");
}

void
cluster_peers_report(const struct cluster *c, struct report *r)
{
	const struct cluster_peer *p;
	struct util_buf homes = {0};
	size_t i;

	for (i = 0; i < c->npeers; i++) {
		p = c->peers[i];
		util_buf_reset(&homes);
		cluster_homes_text(p, &homes);
		report_record(r);
		report_str(r, "node", p->name);
		report_str(r, "address", p->addr_text);
		report_str(r, "link", cluster_peer_state(p));
		report_str(r, "federation", !p->has_summary ? "-"
		                            : p->sum.federation ? "on" : "off");
		report_str(r, "homes", homes.data);
		report_num(r, "forwarded", (int64_t)p->forwarded);
		report_num(r, "received", (int64_t)p->received);
		report_num(r, "unacked", p->conn != NULL ? (int64_t)
		           cluster_link_unacked(p->conn->link) : 0);
		report_str(r, "error", p->last_error[0] != '\0' ? p->last_error
		                                                : "-");
	}
	util_buf_free(&homes);
}

static void
cluster_sum_words(const struct cluster_summary *s, struct util_buf *out)
{
	util_buf_printf(out, " federation=%s security=%s valid_certs=%s "
	                "sasl_in=%s sasl_out=%s policy_default=%s policy=%s",
	                s->federation ? "yes" : "no", s->security,
	                s->valid_certs ? "yes" : "no", s->sasl_in ? "yes" : "no",
	                s->sasl_out ? "yes" : "no", s->policy_default,
	                s->policy_digest);
}

void
cluster_summary_text(const struct cluster *c, struct util_buf *out)
{
	const struct cluster_peer *p;
	size_t i;

	util_buf_printf(out, "node=%s self=yes link=up", c->node);
	cluster_sum_words(&c->sum, out);
	util_buf_printf(out, " dialback=%s\n",
	                c->sum.dialback_secret != NULL ? "set" : "none");
	for (i = 0; i < c->npeers; i++) {
		p = c->peers[i];
		util_buf_printf(out, "node=%s self=no link=%s", p->name,
		                cluster_peer_state(p));
		if (p->has_summary) {
			cluster_sum_words(&p->sum, out);
			util_buf_printf(out, " dialback=%s",
			                !p->sum.has_dialback ? "none"
			                : p->conn != NULL &&
			                  cluster_link_dialback_same(p->conn->link)
			                    ? "same" : "different");
		}
		util_buf_puts(out, "\n");
	}
}

/* ---- closing ---- */

static void
cluster_free(struct cluster *c)
{
	struct cluster_peer *p;
	size_t i;

	for (i = 0; i < c->npeers; i++) {
		p = c->peers[i];
		names_free(&p->homes, &p->nhomes);
		cluster_peer_sum_free(p);
		free(p->name);
		free(p->addr_text);
		free(p);
	}
	free(c->peers);
	names_free(&c->homes, &c->nhomes);
	if (c->sum_secret != NULL)
		explicit_bzero(c->sum_secret, strlen(c->sum_secret));
	explicit_bzero(c->key, sizeof(c->key));
	free(c->sum_secret);
	free(c->sum_security);
	free(c->sum_default);
	free(c->sum_digest);
	free(c->node);
	free(c);
}

void
cluster__maybe_done(struct cluster *c)
{
	void (*cb)(void *) = c->close_cb;
	void *arg = c->close_arg;

	if (!c->closing || c->open > 0 || c->conns != NULL)
		return;
	cluster_free(c);
	if (cb != NULL)
		cb(arg);
}

static void
cluster_on_timer_closed(uv_handle_t *h)
{
	struct cluster_peer *p = h->data;
	struct cluster *c = p->c;

	c->open--;
	cluster__maybe_done(c);
}

void
cluster_close(struct cluster *c, void (*cb)(void *arg), void *arg)
{
	struct cluster_conn *conn;
	size_t i;

	if (c->closing)
		fatalx("%s: closed twice", __func__);
	c->closing = true;
	c->close_cb = cb;
	c->close_arg = arg;
	/* Walking is safe: connections leave the list only from their close
	 * callbacks, which run later. */
	for (conn = c->conns; conn != NULL; conn = conn->next) {
		if (conn->link != NULL && !cluster_link_is_closed(conn->link))
			cluster_link_close(conn->link, S2SD_ESHUTDOWN, NULL,
			                   NULL);
		else
			cluster__conn_close(conn);
	}
	for (i = 0; i < c->npeers; i++) {
		uv_timer_stop(&c->peers[i]->retry);
		uv_close((uv_handle_t *)&c->peers[i]->retry,
		         cluster_on_timer_closed);
	}
}
