/* router.c - the router's lifetime, home nodes, links and grace queues; see
 * router.h. The routing rules are in router_route.c, the TCP side of a link
 * in router_tcp.c.
 *
 * One timer serves the router: it fires at the earliest of the links'
 * deadlines (handshake and close time-outs) and the heads of the grace
 * queues. Home nodes and pending handshakes are few, so the earliest is
 * found by walking them. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm/err.h"
#include "cm/htab.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "router/component.h"
#include "router/directory.h"
#include "router/router_int.h"
#include "xmpp/stanza.h"

#define ROUTER_DEFAULT_QUEUE_STANZAS 1000
#define ROUTER_DEFAULT_QUEUE_BYTES (4 * 1024 * 1024)
#define ROUTER_NAME_MAX 256

static void router_node_flush(struct router *r, struct router_node *n);
static void router_link_flow_update(struct router_link *l);

uint64_t
router__now(const struct router *r)
{
	return r->clock != NULL ? r->clock(r->clock_arg) : uv_now(r->loop);
}

static void
router_lower(const char *in, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; in[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

struct router_node *
router__node(const struct router *r, const char *name)
{
	char key[ROUTER_NAME_MAX];

	if (strlen(name) >= sizeof(key))
		return NULL;
	router_lower(name, key, sizeof(key));
	return htab_get(r->node_by_name, key);
}

/* Queued stanzas are counted in serialised bytes, the size they will have
 * on the link. */
static size_t
router_stanza_bytes(const struct stanza *st)
{
	struct util_buf b = {0};
	size_t n;

	if (stanza_raw(st, &n) != NULL)
		return n;
	stanza_serialize(st, NULL, &b);
	n = b.len;
	util_buf_free(&b);
	return n;
}

static void
router_enqueue(struct router *r, struct router_node *n, struct stanza *st,
               const char *origin)
{
	struct router_qent *q;
	size_t bytes = router_stanza_bytes(st);

	if (n->qlen >= r->opts.queue_max_stanzas ||
	    n->qbytes + bytes > r->opts.queue_max_bytes) {
		const char *limit = n->qlen >= r->opts.queue_max_stanzas
		                        ? "queue_max_stanzas" : "queue_max_bytes";

		log_info(LOG_SUB_ROUTER, 0, "queue full node=%s limit=%s "
		         "stanzas=%zu bytes=%zu", n->name, limit, n->qlen,
		         n->qbytes);
		metrics_inc(METRICS_LIMIT_HITS, limit);
		router__bounce(r, st, origin, "resource-constraint",
		               "too many stanzas wait for this home node");
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->st = st;
	q->origin = origin != NULL ? xstrdup(origin) : NULL;
	q->deadline = router__now(r) + r->opts.grace_ms;
	q->bytes = bytes;
	*n->qtail = q;
	n->qtail = &q->next;
	n->qlen++;
	n->qbytes += bytes;
	log_debug(LOG_SUB_ROUTER, 0, "queue node=%s stanzas=%zu grace_ms=%llu",
	          n->name, n->qlen, (unsigned long long)r->opts.grace_ms);
}

static struct router_qent *
router_dequeue(struct router_node *n)
{
	struct router_qent *q = n->qhead;

	if (q == NULL)
		return NULL;
	if ((n->qhead = q->next) == NULL)
		n->qtail = &n->qhead;
	n->qlen--;
	n->qbytes -= q->bytes;
	return q;
}

static void
router_send_link(struct router_link *l, struct stanza *st)
{
	stanza_rename_ns(st, ROUTER_NS_SERVER, COMPONENT_NS);
	if (log_wants(LOG_LEVEL_DEBUG, LOG_SUB_ROUTER))
		log_debug(LOG_SUB_ROUTER, l->connid, "deliver node=%s %s "
		          "from=%s to=%s", l->node->name, stanza_name(st),
		          stanza_attr(st, "from") ? stanza_attr(st, "from") : "-",
		          stanza_attr(st, "to") ? stanza_attr(st, "to") : "-");
	if (component_send(l->comp, st) < 0)
		fatalx("%s: attached link is not ready", __func__);
	metrics_inc(METRICS_HOME_STANZAS, NULL);
	stanza_free(st);
}

/* Attached node N's link is congested or stanzas wait before ST: ST
 * (taken) waits too, and the reader that delivered it may be held. */
static void
router_wait_link(struct router *r, struct router_node *n, struct stanza *st,
                 const char *origin)
{
	struct router_link *l = n->link;
	size_t before = n->qlen;

	router_enqueue(r, n, st, origin);
	/* The link itself too, when these are answers to what it sends: a
	 * home node that does not read its answers must not send more (the
	 * stall time-out covers one that stops reading altogether). */
	if (n->qlen > before)
		flow_gate_hold(&l->gate, &r->opts.flow, router__now(r));
}

void
router__to_node(struct router *r, struct router_node *n, struct stanza *st,
                const char *origin)
{
	char text[ROUTER_NAME_MAX + 64];

	if (n->link != NULL && (n->qhead != NULL || n->link->gate.congested)) {
		router_wait_link(r, n, st, origin);
		return;
	}
	if (n->link != NULL) {
		router_send_link(n->link, st);
		router_link_flow_update(n->link);
		return;
	}
	if (!r->closing && r->cbs.to_peer != NULL &&
	    r->cbs.to_peer(r->arg, n->name, origin, st))
		return;
	if (r->closing || r->draining || r->opts.grace_ms == 0) {
		snprintf(text, sizeof(text), "home node %s is not attached",
		         n->name);
		router__bounce(r, st, origin, "service-unavailable", text);
		return;
	}
	router_enqueue(r, n, st, origin);
}

/* Every queued stanza is answered (the node is gone or its time is up):
 * those whose deadline passed, or all when ALL. */
static void
router_node_expire(struct router *r, struct router_node *n, bool all,
                   uint64_t now)
{
	char text[ROUTER_NAME_MAX + 64];
	struct router_qent *q;

	/* What waits for an attached node's congested link has no grace
	 * deadline (the queue bounds apply); it gets one when the link
	 * goes. */
	if (n->link != NULL && !all)
		return;
	snprintf(text, sizeof(text), "home node %s is not attached", n->name);
	while (n->qhead != NULL && (all || n->qhead->deadline <= now)) {
		q = router_dequeue(n);
		log_debug(LOG_SUB_ROUTER, 0, "grace over node=%s", n->name);
		router__bounce(r, q->st, q->origin, "service-unavailable",
		               text);
		free(q->origin);
		free(q);
	}
}

/* The node's link is ready, or drained: hand over what waited, in
 * order, while the link is under high water. */
static void
router_node_flush(struct router *r, struct router_node *n)
{
	struct router_qent *q;

	while (n->link != NULL && n->qhead != NULL &&
	       (n->link->pause == NULL || r->opts.flow.high == 0 ||
	        n->link->pending < r->opts.flow.high)) {
		q = router_dequeue(n);
		router_send_link(n->link, q->st);
		free(q->origin);
		free(q);
	}
	if (n->link != NULL)
		router_link_flow_update(n->link);
}

/* Back-pressure on a link: enter or leave congestion with what it has not
 * written plus what waits for it (leaving lets the S2S streams go). */
static void
router_link_flow_update(struct router_link *l)
{
	size_t backlog = l->pending;

	if (l->pause == NULL)
		return;
	if (l->node != NULL)
		backlog += l->node->qbytes;
	flow_gate_update(&l->gate, &l->r->opts.flow, backlog,
	                 router__now(l->r));
}

void
router__link_written(struct router_link *l, size_t len)
{
	struct router *r = l->r;

	if (l->pause == NULL)
		return;         /* counted from router__link_flow() on only */
	if (len > l->pending)
		fatalx("%s: %zu bytes written, %zu pending", __func__, len,
		       l->pending);
	l->pending -= len;
	l->written_at = router__now(r);
	if (l->closed || !l->gate.congested)
		return;
	flow_gate_progress(&l->gate, l->written_at);
	if (l->pending <= r->opts.flow.low && l->node != NULL)
		router_node_flush(r, l->node);
	else
		router_link_flow_update(l);
	router__arm(r);
}

static void
router_link_src_pause(void *arg)
{
	struct router_link *l = arg;

	l->pause(l->t, true);
}

static void
router_link_src_resume(void *arg)
{
	struct router_link *l = arg;

	l->pause(l->t, false);
}

void
router__link_flow(struct router_link *l, void (*pause)(void *t, bool stop))
{
	static const struct flow_src_ops ops = {router_link_src_pause,
	                                        router_link_src_resume};

	if (l->pause != NULL || l->closed)
		return;
	l->pause = pause;
	l->src = flow_src_new(&ops, l, l->connid, "out");
}

static uint64_t
router_deadline(const struct router *r)
{
	const struct router_link *l;
	const struct router_node *n;
	uint64_t d = UINT64_MAX, x;

	for (l = r->links; l != NULL; l = l->next) {
		if (!l->closed && (x = component_deadline(l->comp)) < d)
			d = x;
		if ((x = flow_gate_deadline(&l->gate, &r->opts.flow)) < d)
			d = x;
	}
	for (n = r->nodes; n != NULL; n = n->next)
		if (n->link == NULL && n->qhead != NULL &&
		    n->qhead->deadline < d)
			d = n->qhead->deadline;
	return d;
}

static void
router_on_timer(uv_timer_t *t)
{
	router__tick(t->data);
}

void
router__arm(struct router *r)
{
	uint64_t d, now;

	/* Closing: the links end with stream errors and the queues are
	 * answered, so nothing waits for a deadline. */
	if (r->closing)
		return;
	if ((d = router_deadline(r)) == UINT64_MAX) {
		uv_timer_stop(&r->timer);
		return;
	}
	now = router__now(r);
	uv_timer_start(&r->timer, router_on_timer, d > now ? d - now : 0, 0);
}

void
router__tick(struct router *r)
{
	uint64_t now = router__now(r);
	struct router_link *l;
	struct router_node *n;

	/* Links are only unlinked from router__link_gone(), which never runs
	 * from inside a tick, so the walk is safe. */
	for (l = r->links; l != NULL; l = l->next) {
		if (l->closed)
			continue;
		component_tick(l->comp, now);
		if (l->gate.congested && l->written_at > l->gate.progress_at)
			flow_gate_progress(&l->gate, l->written_at);
		flow_gate_tick(&l->gate, &r->opts.flow, now);
	}
	for (n = r->nodes; n != NULL; n = n->next)
		router_node_expire(r, n, false, now);
	router__arm(r);
}

void
router__set_clock(struct router *r, uint64_t (*clock)(void *arg), void *arg)
{
	r->clock = clock;
	r->clock_arg = arg;
}

/* Node N's link went while stanzas waited for it to drain: from now on
 * they wait for the node like any other, for the grace period. */
static void
router_node_regrace(struct router *r, struct router_node *n)
{
	uint64_t at = router__now(r) + r->opts.grace_ms;
	struct router_qent *q;

	for (q = n->qhead; q != NULL; q = q->next)
		q->deadline = at;
}

/* Component callbacks. */

static void
router_link_send(void *arg, const char *buf, size_t len)
{
	struct router_link *l = arg;

	if (l->pause != NULL)
		l->pending += len;
	l->tp->write(l->t, buf, len);
}

static const char *
router_link_secret(void *arg, const char *name)
{
	struct router_link *l = arg;
	struct router_node *n = router__node(l->r, name);

	return n != NULL ? n->secret : NULL;
}

static int
router_link_authenticated(void *arg, const char *name, char *text,
                          size_t textlen)
{
	struct router_link *l = arg;
	struct router *r = l->r;
	struct router_node *n = router__node(r, name);
	struct router_link *old;

	if (n == NULL || r->closing)
		return -ENOENT;
	if ((old = n->link) != NULL && !r->opts.replace_on_conflict) {
		snprintf(text, textlen, "home node %s is already attached",
		         n->name);
		log_info(LOG_SUB_ROUTER, l->connid, "link refused node=%s "
		         "peer=%s attached=%016llx", n->name, l->peer,
		         (unsigned long long)old->connid);
		return -EEXIST;
	}
	if (old != NULL) {
		log_info(LOG_SUB_ROUTER, old->connid, "link replaced node=%s "
		         "by=%016llx", n->name, (unsigned long long)l->connid);
		component_close(old->comp, S2SD_EAUTH, "conflict",
		                "replaced by a new connection for this home "
		                "node", router__now(r));
	}
	return 0;
}

static void
router_link_ready(void *arg)
{
	struct router_link *l = arg;
	struct router_node *n = router__node(l->r, component_name(l->comp));

	if (n == NULL || n->link != NULL)
		fatalx("%s: node vanished or still attached", __func__);
	n->link = l;
	n->attached_at = router__now(l->r);
	metrics_add(METRICS_HOME_NODES, NULL, 1);
	l->node = n;
	log_info(LOG_SUB_ROUTER, l->connid, "link attached node=%s peer=%s "
	         "waiting=%zu", n->name, l->peer, n->qlen);
	if (l->r->cbs.home_changed != NULL)
		l->r->cbs.home_changed(l->r->arg, n->name, true);
	router_node_flush(l->r, n);
}

static void
router_link_stanza(void *arg, struct stanza *st)
{
	struct router_link *l = arg;

	router__from_node(l->r, l, st);
}

static void
router_link_closed(void *arg, int err, const char *why)
{
	struct router_link *l = arg;

	l->closed = true;
	flow_gate_reset(&l->gate);
	flow_src_close(l->src);
	l->src = NULL;
	log_info(LOG_SUB_ROUTER, l->connid, "link closed node=%s peer=%s "
	         "error=%s reason=\"%s\"", l->node != NULL ? l->node->name
	         : (component_name(l->comp) ? component_name(l->comp) : "-"),
	         l->peer, err == 0 ? "none" : err_name(err), why);
	if (l->node != NULL) {
		metrics_add(METRICS_HOME_NODES, NULL, -1);
		l->node->link = NULL;
		router_node_regrace(l->r, l->node);
		if (l->r->cbs.home_changed != NULL && !l->r->closing)
			l->r->cbs.home_changed(l->r->arg, l->node->name, false);
		l->node = NULL;
	}
	l->tp->close(l->t);
}

struct router_link *
router__attach(struct router *r, const struct router_transport *tp, void *t,
               const char *peer)
{
	static const struct component_cbs ccbs = {
	    router_link_send,  router_link_secret, router_link_authenticated,
	    router_link_ready, router_link_stanza, router_link_closed};
	struct router_link *l = xcalloc(1, sizeof(*l));
	struct component_opts copts = {0};
	unsigned char rnd[16];
	char id[2 * sizeof(rnd) + 1];

	l->r = r;
	l->tp = tp;
	l->t = t;
	l->connid = util_connid();
	flow_gate_init(&l->gate, LOG_SUB_ROUTER, l->connid, "in");
	snprintf(l->peer, sizeof(l->peer), "%s", peer);
	util_random(rnd, sizeof(rnd));
	util_hex(rnd, sizeof(rnd), id);
	copts.stream_id = id;
	copts.handshake_timeout_ms = r->opts.handshake_timeout_ms;
	copts.xml = r->opts.xml;
	copts.connid = l->connid;
	l->comp = component_new(&copts, &ccbs, l, router__now(r));
	if ((l->next = r->links) != NULL)
		l->next->prevp = &l->next;
	l->prevp = &r->links;
	r->links = l;
	r->nlinks++;
	log_info(LOG_SUB_ROUTER, l->connid, "link accept peer=%s", l->peer);
	if (r->closing)
		component_close(l->comp, S2SD_ESHUTDOWN, "system-shutdown",
		                NULL, router__now(r));
	router__arm(r);
	return l;
}

void
router__link_input(struct router_link *l, const void *buf, size_t len)
{
	struct flow_src *prev = flow_src_enter(l->src);

	component_input(l->comp, buf, len, router__now(l->r));
	flow_src_leave(prev);
	router__arm(l->r);
}

void
router__link_eof(struct router_link *l, int err)
{
	component_eof(l->comp, err);
	router__arm(l->r);
}

static void
router_maybe_done(struct router *r)
{
	void (*cb)(void *) = r->close_cb;
	void *arg = r->close_arg;

	if (!r->closing || !r->timer_closed || r->nlinks > 0)
		return;
	htab_free(r->node_by_name, NULL);
	directory_unref(r->dir);
	free(r);
	if (cb != NULL)
		cb(arg);
}

void
router__link_gone(struct router_link *l)
{
	struct router *r = l->r;

	if (!l->closed)
		fatalx("%s: transport closed under a live link", __func__);
	if (l->next != NULL)
		l->next->prevp = l->prevp;
	*l->prevp = l->next;
	component_free(l->comp);
	free(l);
	r->nlinks--;
	router_maybe_done(r);
}

/* Home nodes from the options. */

static void
router_node_free(struct router_node *n)
{
	if (n->secret != NULL)
		explicit_bzero(n->secret, strlen(n->secret));
	free(n->secret);
	free(n->name);
	free(n);
}

static bool
router_known_home(void *arg, const char *node)
{
	const struct router_opts *opts = arg;
	size_t i;

	for (i = 0; i < opts->nhomes; i++)
		if (strcasecmp(opts->homes[i].name, node) == 0)
			return true;
	return false;
}

/* Home names unique (case-insensitively), secrets set, and every node the
 * directory names is a home. */
static int
router_check_opts(const struct router_opts *opts, char *why, size_t whylen)
{
	struct util_buf errors = {0};
	size_t i, j;

	for (i = 0; i < opts->nhomes; i++) {
		if (opts->homes[i].name == NULL || *opts->homes[i].name == '\0' ||
		    strlen(opts->homes[i].name) >= ROUTER_NAME_MAX) {
			snprintf(why, whylen, "home node %zu: bad name", i + 1);
			return S2SD_ECONFIG;
		}
		if (opts->homes[i].secret == NULL ||
		    *opts->homes[i].secret == '\0') {
			snprintf(why, whylen, "home node %s has no secret",
			         opts->homes[i].name);
			return S2SD_ECONFIG;
		}
		for (j = 0; j < i; j++)
			if (strcasecmp(opts->homes[i].name,
			               opts->homes[j].name) == 0) {
				snprintf(why, whylen, "home node %s is listed "
				         "twice", opts->homes[i].name);
				return S2SD_ECONFIG;
			}
	}
	if (opts->dir != NULL &&
	    directory_check_nodes(opts->dir, router_known_home, (void *)opts,
	                          &errors) > 0) {
		/* The first line says it; the daemon's checks list them all. */
		errors.data[strcspn(errors.data, "\n")] = '\0';
		snprintf(why, whylen, "%s", errors.data);
		util_buf_free(&errors);
		return S2SD_ECONFIG;
	}
	return 0;
}

static void
router_set_opts(struct router *r, const struct router_opts *opts)
{
	struct directory *old = r->dir;
	struct util_buf empty = {0};

	r->opts = *opts;
	r->opts.homes = NULL;
	r->opts.nhomes = 0;
	r->opts.dir = NULL;
	if (r->opts.queue_max_stanzas == 0)
		r->opts.queue_max_stanzas = ROUTER_DEFAULT_QUEUE_STANZAS;
	if (r->opts.queue_max_bytes == 0)
		r->opts.queue_max_bytes = ROUTER_DEFAULT_QUEUE_BYTES;
	if (opts->dir != NULL)
		r->dir = directory_ref(opts->dir);
	else if (directory_parse("(none)", "", &r->dir, &empty) < 0)
		fatalx("%s: empty directory", __func__);
	directory_unref(old);
	util_buf_free(&empty);
}

static struct router_node *
router_node_new(struct router *r, const struct router_home *h)
{
	struct router_node *n = xcalloc(1, sizeof(*n));
	char key[ROUTER_NAME_MAX];

	router_lower(h->name, key, sizeof(key));
	n->name = xstrdup(key);
	n->secret = xstrdup(h->secret);
	n->qtail = &n->qhead;
	n->next = r->nodes;
	r->nodes = n;
	htab_put(r->node_by_name, n->name, n);
	return n;
}

int
router_new(uv_loop_t *loop, const struct router_opts *opts,
           const struct router_cbs *cbs, void *arg, struct router **out,
           char *why, size_t whylen)
{
	struct router *r;
	size_t i;
	int rc;

	if ((rc = router_check_opts(opts, why, whylen)) < 0)
		return rc;
	r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->cbs = *cbs;
	r->arg = arg;
	r->node_by_name = htab_new(16);
	router_set_opts(r, opts);
	for (i = 0; i < opts->nhomes; i++)
		router_node_new(r, &opts->homes[i]);
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	*out = r;
	return 0;
}

/* A home node left the configuration: close its link, answer what waits,
 * forget it. */
static void
router_node_remove(struct router *r, struct router_node **pp)
{
	struct router_node *n = *pp;

	if (n->link != NULL)
		component_close(n->link->comp, S2SD_ECONFIG, "host-gone",
		                "this home node was removed from the "
		                "configuration", router__now(r));
	*pp = n->next;
	htab_del(r->node_by_name, n->name);
	router_node_expire(r, n, true, 0);
	log_info(LOG_SUB_ROUTER, 0, "home node removed node=%s", n->name);
	router_node_free(n);
}

static const struct router_home *
router_find_home(const struct router_opts *opts, const char *name)
{
	size_t i;

	for (i = 0; i < opts->nhomes; i++)
		if (strcasecmp(opts->homes[i].name, name) == 0)
			return &opts->homes[i];
	return NULL;
}

/* New water marks: the links' gates follow; turned off, what waits for
 * an attached node goes now and nothing holds S2S streams any more. */
static void
router_flow_reconfigure(struct router *r)
{
	struct router_node *n;

	for (n = r->nodes; n != NULL; n = n->next) {
		if (n->link == NULL)
			continue;
		if (r->opts.flow.high == 0)
			flow_gate_reset(&n->link->gate);
		router_node_flush(r, n);
	}
}

int
router_reconfigure(struct router *r, const struct router_opts *opts,
                   char *why, size_t whylen)
{
	const struct router_home *h;
	struct router_node **pp, *n;
	size_t i, len;
	int rc;

	if (r->closing) {
		snprintf(why, whylen, "the router is shutting down");
		return S2SD_ECONFIG;
	}
	if ((rc = router_check_opts(opts, why, whylen)) < 0)
		return rc;
	router_set_opts(r, opts);
	router_flow_reconfigure(r);
	for (pp = &r->nodes; (n = *pp) != NULL;) {
		if ((h = router_find_home(opts, n->name)) == NULL) {
			router_node_remove(r, pp);
			continue;
		}
		len = strlen(h->secret);
		if (len != strlen(n->secret) ||
		    !util_memeq_ct(h->secret, n->secret, len)) {
			if (n->link != NULL)
				component_close(n->link->comp, S2SD_ECONFIG,
				                "reset", "the secret of this "
				                "home node changed",
				                router__now(r));
			explicit_bzero(n->secret, strlen(n->secret));
			free(n->secret);
			n->secret = xstrdup(h->secret);
		}
		pp = &n->next;
	}
	for (i = 0; i < opts->nhomes; i++)
		if (router__node(r, opts->homes[i].name) == NULL)
			router_node_new(r, &opts->homes[i]);
	log_info(LOG_SUB_ROUTER, 0, "reconfigured homes=%zu directory=%s "
	         "entries=%zu email_federation=%s", opts->nhomes,
	         directory_file(r->dir), directory_count(r->dir),
	         r->opts.email_federation ? "on" : "off");
	router__arm(r);
	return 0;
}

void
router_deliver(struct router *r, struct stanza *st)
{
	if (r->closing) {
		router__bounce(r, st, NULL, "service-unavailable",
		               "the router is shutting down");
		return;
	}
	router__from_s2s(r, st);
	router__arm(r);
}

void
router_deliver_home(struct router *r, const char *home, const char *origin,
                    struct stanza *st)
{
	struct router_node *n = router__node(r, home);

	if (n == NULL || r->closing) {
		router__bounce(r, st, origin, "service-unavailable",
		               n == NULL ? "no such home node on this cluster "
		                           "node" : "the router is shutting down");
		return;
	}
	router__to_node(r, n, st, origin);
	router__arm(r);
}

/* The queue goes to the peer in order; what it does not take (the link
 * dropped meanwhile) stays queued. */
void
router_home_remote(struct router *r, const char *home)
{
	struct router_node *n = router__node(r, home);
	struct router_qent *q;

	if (n == NULL || n->link != NULL || r->cbs.to_peer == NULL)
		return;
	while ((q = n->qhead) != NULL &&
	       r->cbs.to_peer(r->arg, n->name, q->origin, q->st)) {
		router_dequeue(n);
		free(q->origin);
		free(q);
	}
	router__arm(r);
}

void
router_accept(struct router *r, uv_tcp_t *client, const char *peer)
{
	router__tcp_accept(r, client, peer);
}

void
router_drain(struct router *r)
{
	struct router_node *n;

	if (r->closing || r->draining)
		return;
	r->draining = true;
	log_info(LOG_SUB_ROUTER, 0, "drain: stanzas no longer wait for "
	         "home nodes");
	/* An attached node's queue waits for its link to drain, not for
	 * the node: it is delivered. */
	for (n = r->nodes; n != NULL; n = n->next)
		if (n->link == NULL)
			router_node_expire(r, n, true, 0);
	router__arm(r);
}

static void
router_on_timer_closed(uv_handle_t *h)
{
	struct router *r = h->data;

	r->timer_closed = true;
	router_maybe_done(r);
}

void
router_close(struct router *r, void (*cb)(void *arg), void *arg)
{
	struct router_node *n;
	struct router_link *l;

	if (r->closing)
		fatalx("%s: closed twice", __func__);
	r->closing = true;
	r->close_cb = cb;
	r->close_arg = arg;
	/* Answer what waits first, while the links that may take the
	 * answers are still up. */
	for (n = r->nodes; n != NULL; n = n->next)
		router_node_expire(r, n, true, 0);
	for (l = r->links; l != NULL; l = l->next)
		component_close(l->comp, S2SD_ESHUTDOWN, "system-shutdown",
		                NULL, router__now(r));
	while ((n = r->nodes) != NULL) {
		r->nodes = n->next;
		router_node_free(n);
	}
	/* Later deliveries find no node and are answered at once. */
	htab_free(r->node_by_name, NULL);
	r->node_by_name = htab_new(1);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, router_on_timer_closed);
}
