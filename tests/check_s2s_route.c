/* check_s2s_route.c - s2s/s2s_route: queues, hand-over, bounces, back-off,
 * and an accounting property test over random event sequences.
 *
 * The callbacks record what the route manager hands on: connect requests,
 * sent stanza ids, bounce replies (kept for inspection) and drops. The
 * clock is a plain variable and randomness a seeded xorshift. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cm/err.h"
#include "cm/flow.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "s2s/s2s_route.h"
#include "tests/lib/testutil.h"
#include "xmpp/stanza.h"
#include "xmpp/xmlstream.h"

#define LOCAL "example.com"
#define REMOTE "example.net"
#define MAX_EV 8192

struct rec_sent {
	struct s2s_route *r;
	char *id;
};

struct rec_drop {
	char *id;
	int err;
};

/* What the callbacks saw, plus hooks that re-enter the route manager. */
struct rec {
	struct s2s_routes *t;
	uint64_t now;
	size_t nconnect;
	struct s2s_route *connects[MAX_EV];
	size_t nsent;
	struct rec_sent sent[MAX_EV];
	size_t nbounce;
	struct stanza *bounces[MAX_EV];
	size_t ndrop;
	struct rec_drop drops[MAX_EV];
	int fail_in_connect;            /* 0, or the error to fail with */
	size_t close_after_sends;       /* 0, or close after that many */
	const char *submit_in_send;     /* submit this id from the 1st send */
	const char *submit_in_bounce;   /* ... from the 1st bounce */
	/* Called after the recording, to re-enter the route manager. */
	void (*on_connect)(struct rec *rc, struct s2s_route *r);
	void (*on_send)(struct rec *rc, struct s2s_route *r);
	void (*on_bounce)(struct rec *rc, const struct stanza *reply);
	/* Back-pressure: a fake stream whose unwritten bytes grow by
	 * per_send with each send. */
	size_t pending, per_send;
	uint64_t written_at;
	size_t nwatch, watch_low;
};

static struct stanza *mk(const char *kind, const char *id);

static void
rec_connect(void *arg, struct s2s_route *r)
{
	struct rec *rc = arg;

	ck_assert_uint_lt(rc->nconnect, MAX_EV);
	rc->connects[rc->nconnect++] = r;
	ck_assert_int_eq(s2s_route_state(r), S2S_ROUTE_CONNECTING);
	if (rc->fail_in_connect != 0)
		s2s_route_failed(r, rc->fail_in_connect, false, rc->now);
	if (rc->on_connect != NULL)
		rc->on_connect(rc, r);
}

static void
rec_send(void *arg, struct s2s_route *r, struct stanza *st)
{
	struct rec *rc = arg;

	ck_assert_uint_lt(rc->nsent, MAX_EV);
	ck_assert_int_eq(s2s_route_state(r), S2S_ROUTE_READY);
	rc->sent[rc->nsent].r = r;
	rc->sent[rc->nsent].id = xstrdup(stanza_attr(st, "id"));
	rc->nsent++;
	rc->pending += rc->per_send;
	stanza_free(st);
	if (rc->close_after_sends != 0 && rc->nsent == rc->close_after_sends)
		s2s_route_closed(r, rc->now);
	if (rc->submit_in_send != NULL && rc->nsent == 1)
		s2s_routes_submit(rc->t, s2s_route_local(r),
		                  s2s_route_remote(r),
		                  mk("chat", rc->submit_in_send), rc->now);
	if (rc->on_send != NULL)
		rc->on_send(rc, r);
}

static void
rec_bounce(void *arg, struct stanza *reply)
{
	struct rec *rc = arg;

	ck_assert_uint_lt(rc->nbounce, MAX_EV);
	rc->bounces[rc->nbounce++] = reply;
	if (rc->submit_in_bounce != NULL && rc->nbounce == 1)
		s2s_routes_submit(rc->t, LOCAL, REMOTE,
		                  mk("chat", rc->submit_in_bounce), rc->now);
	if (rc->on_bounce != NULL)
		rc->on_bounce(rc, reply);
}

static void
rec_drop(void *arg, struct stanza *st, int err)
{
	struct rec *rc = arg;

	ck_assert_uint_lt(rc->ndrop, MAX_EV);
	ck_assert_int_lt(err, 0);
	rc->drops[rc->ndrop].id = xstrdup(stanza_attr(st, "id"));
	rc->drops[rc->ndrop].err = err;
	rc->ndrop++;
	stanza_free(st);
}

static const struct s2s_route_cbs rec_cbs = {
    rec_connect, rec_send, rec_bounce, rec_drop, NULL, NULL};

static size_t
rec_pending(void *arg, struct s2s_route *r, uint64_t *written_at)
{
	struct rec *rc = arg;

	(void)r;
	*written_at = rc->written_at;
	return rc->pending;
}

static void
rec_watch(void *arg, struct s2s_route *r, size_t low)
{
	struct rec *rc = arg;

	ck_assert_int_eq(s2s_route_state(r), S2S_ROUTE_READY);
	rc->nwatch++;
	rc->watch_low = low;
}

static const struct s2s_route_cbs rec_flow_cbs = {
    rec_connect, rec_send, rec_bounce, rec_drop, rec_pending, rec_watch};

/* xorshift32; the state is never 0. */
static uint32_t
test_rand(void *arg)
{
	uint32_t *x = arg;

	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Exactly the middle of the jitter range: windows come out un-jittered. */
static uint32_t
mid_rand(void *arg)
{
	(void)arg;
	return UINT32_C(0x80000000);
}

static struct s2s_route_opts
test_opts(size_t max_stanzas, size_t max_bytes)
{
	struct s2s_route_opts o = {max_stanzas, max_bytes, 2000, 300000,
	                           mid_rand, NULL, 0, {0, 0, 0}};
	return o;
}

static void
rec_init(struct rec *rc, const struct s2s_route_opts *o)
{
	memset(rc, 0, sizeof(*rc));
	rc->now = 1000000;
	rc->t = s2s_routes_new(o, &rec_cbs, rc);
}

static void
rec_clear(struct rec *rc)
{
	size_t i;

	for (i = 0; i < rc->nsent; i++)
		free(rc->sent[i].id);
	for (i = 0; i < rc->nbounce; i++)
		stanza_free(rc->bounces[i]);
	for (i = 0; i < rc->ndrop; i++)
		free(rc->drops[i].id);
	rc->nsent = rc->nbounce = rc->ndrop = rc->nconnect = 0;
}

static void
rec_done(struct rec *rc, int err)
{
	s2s_routes_free(rc->t, err);
	rc->t = NULL;
	rec_clear(rc);
}

/* A stanza from a local user to a remote one. KIND: "chat", "error"
 * (message), "get", "set", "result" (iq), "subscribe", "available"
 * (presence). */
static struct stanza *
mk(const char *kind, const char *id)
{
	const char *name = "message", *type = kind;
	struct stanza *st;

	if (strcmp(kind, "get") == 0 || strcmp(kind, "set") == 0 ||
	    strcmp(kind, "result") == 0)
		name = "iq";
	else if (strcmp(kind, "subscribe") == 0 ||
	         strcmp(kind, "available") == 0)
		name = "presence";
	if (strcmp(kind, "available") == 0)
		type = NULL;
	st = stanza_new("jabber:server", name);
	stanza_set_attr(st, "from", "alice@" LOCAL "/desk");
	stanza_set_attr(st, "to", "bob@" REMOTE);
	stanza_set_attr(st, "id", id);
	if (type != NULL)
		stanza_set_attr(st, "type", type);
	if (strcmp(name, "message") == 0)
		stanza_add_text(stanza_add_child(st, NULL, "body"), "hello");
	return st;
}

static void
submit(struct rec *rc, const char *kind, const char *id)
{
	s2s_routes_submit(rc->t, LOCAL, REMOTE, mk(kind, id), rc->now);
}

static struct s2s_route *
route(struct rec *rc)
{
	struct s2s_route *r = s2s_routes_find(rc->t, LOCAL, REMOTE);

	ck_assert_ptr_nonnull(r);
	return r;
}

/* Check one bounce reply: addresses swapped, same id and element, type
 * error, the condition in the stanzas namespace with its error type, and a
 * text naming the remote domain. */
static void
check_bounce(const struct stanza *b, const char *name, const char *id,
             const char *cond, const char *type)
{
	const struct stanza *err, *text;
	char *s;

	ck_assert_str_eq(stanza_name(b), name);
	ck_assert_str_eq(stanza_ns(b), "jabber:server");
	ck_assert_str_eq(stanza_attr(b, "to"), "alice@" LOCAL "/desk");
	ck_assert_str_eq(stanza_attr(b, "from"), "bob@" REMOTE);
	ck_assert_str_eq(stanza_attr(b, "id"), id);
	ck_assert_str_eq(stanza_attr(b, "type"), "error");
	err = stanza_child(b, "jabber:server", "error");
	ck_assert_ptr_nonnull(err);
	ck_assert_str_eq(stanza_attr(err, "type"), type);
	ck_assert_ptr_nonnull(stanza_child(err, STANZA_NS_STANZAS, cond));
	text = stanza_child(err, STANZA_NS_STANZAS, "text");
	ck_assert_ptr_nonnull(text);
	s = stanza_text(text);
	ck_assert_msg(strstr(s, REMOTE) != NULL, "text: %s", s);
	free(s);
	ck_assert_ptr_null(stanza_child(b, NULL, "body"));
}

START_TEST(test_burst_connects_once)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;
	char id[16];
	int i;

	rec_init(&rc, &o);
	ck_assert_ptr_null(s2s_routes_find(rc.t, LOCAL, REMOTE));
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		submit(&rc, "chat", id);
	}
	ck_assert_uint_eq(rc.nconnect, 1);
	ck_assert_ptr_eq(rc.connects[0], route(&rc));
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_CONNECTING);
	ck_assert_uint_eq(s2s_route_queued(route(&rc), NULL), 10);
	ck_assert_uint_eq(rc.nsent + rc.nbounce + rc.ndrop, 0);
	ck_assert_str_eq(s2s_route_local(route(&rc)), LOCAL);
	ck_assert_str_eq(s2s_route_remote(route(&rc)), REMOTE);

	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 10);
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		ck_assert_str_eq(rc.sent[i].id, id);
	}
	ck_assert_uint_eq(s2s_route_queued(route(&rc), NULL), 0);
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_READY);

	submit(&rc, "chat", "direct");       /* straight to send */
	ck_assert_uint_eq(rc.nsent, 11);
	ck_assert_str_eq(rc.sent[10].id, "direct");
	ck_assert_uint_eq(rc.nconnect, 1);
	ck_assert_uint_eq(s2s_routes_deadline(rc.t), UINT64_MAX);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* Pairs are separate routes: same remote from two local domains. */
START_TEST(test_pairs_separate)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct s2s_route *a, *b;
	struct rec rc;

	rec_init(&rc, &o);
	s2s_routes_submit(rc.t, "a.example", "x.example", mk("chat", "1"), 0);
	s2s_routes_submit(rc.t, "b.example", "x.example", mk("chat", "2"), 0);
	s2s_routes_submit(rc.t, "a.example", "x.example", mk("chat", "3"), 0);
	ck_assert_uint_eq(rc.nconnect, 2);
	a = s2s_routes_find(rc.t, "a.example", "x.example");
	b = s2s_routes_find(rc.t, "b.example", "x.example");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert_ptr_null(s2s_routes_find(rc.t, "x.example", "a.example"));
	ck_assert_uint_eq(s2s_route_queued(a, NULL), 2);
	ck_assert_uint_eq(s2s_route_queued(b, NULL), 1);
	s2s_route_set_data(a, &rc);
	ck_assert_ptr_eq(s2s_route_data(a), &rc);
	ck_assert_ptr_null(s2s_route_data(b));
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* Queue bounds: by count, then by bytes. The newest is bounced with
 * resource-constraint (wait); the others are delivered in order. */
START_TEST(test_queue_count_bound)
{
	struct s2s_route_opts o = test_opts(3, 1 << 20);
	double hits = metrics_value(METRICS_LIMIT_HITS, "queue_max_stanzas",
	                            NULL, NULL);
	double rcs = metrics_value(METRICS_BOUNCES, "resource-constraint",
	                           NULL, NULL);
	struct rec rc;
	size_t bytes;

	rec_init(&rc, &o);
	submit(&rc, "chat", "1");
	submit(&rc, "chat", "2");
	submit(&rc, "chat", "3");
	submit(&rc, "chat", "4");
	submit(&rc, "get", "5");
	ck_assert_uint_eq(rc.nbounce, 2);
	/* Metrics: each refusal is a limit hit and a bounce; the depth. */
	ck_assert(metrics_value(METRICS_LIMIT_HITS, "queue_max_stanzas", NULL,
	                        NULL) == hits + 2);
	ck_assert(metrics_value(METRICS_BOUNCES, "resource-constraint", NULL,
	                        NULL) == rcs + 2);
	ck_assert_uint_eq(s2s_routes_queued(rc.t, &bytes), 3);
	ck_assert_uint_gt(bytes, 0);
	check_bounce(rc.bounces[0], "message", "4", "resource-constraint",
	             "wait");
	check_bounce(rc.bounces[1], "iq", "5", "resource-constraint", "wait");
	ck_assert_uint_eq(s2s_route_queued(route(&rc), NULL), 3);
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 3);
	ck_assert_str_eq(rc.sent[0].id, "1");
	ck_assert_str_eq(rc.sent[2].id, "3");
	ck_assert_uint_eq(rc.nconnect, 1);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

static size_t
serialized_size(const struct stanza *st)
{
	struct util_buf b = {0};
	size_t n;

	stanza_serialize(st, "jabber:server", &b);
	n = b.len;
	util_buf_free(&b);
	return n;
}

START_TEST(test_queue_byte_bound)
{
	struct stanza *probe = mk("chat", "1");
	size_t one = serialized_size(probe), bytes;
	struct s2s_route_opts o = test_opts(100, 2 * one + one / 2);
	struct rec rc;

	stanza_free(probe);
	rec_init(&rc, &o);
	submit(&rc, "chat", "1");
	submit(&rc, "chat", "2");
	ck_assert_uint_eq(s2s_route_queued(route(&rc), &bytes), 2);
	ck_assert_uint_eq(bytes, 2 * one);
	submit(&rc, "chat", "3");            /* would exceed max_bytes */
	submit(&rc, "error", "4");   /* errors are dropped, not bounced */
	ck_assert_uint_eq(rc.nbounce, 1);
	check_bounce(rc.bounces[0], "message", "3", "resource-constraint",
	             "wait");
	ck_assert_uint_eq(rc.ndrop, 1);
	ck_assert_str_eq(rc.drops[0].id, "4");
	ck_assert_int_eq(rc.drops[0].err, S2SD_EQUEUE_FULL);
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 2);
	ck_assert_uint_eq(s2s_route_queued(route(&rc), &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* queue_total_bytes bounds all routes together: the route's own bounds
 * would take the stanza, the total refuses it; sending frees room. */
START_TEST(test_queue_total_bound)
{
	struct stanza *probe = mk("chat", "1");
	size_t one = serialized_size(probe);
	struct s2s_route_opts o = test_opts(100, 100 * one);
	struct rec rc;

	stanza_free(probe);
	o.total_max_bytes = 2 * one + one / 2;
	rec_init(&rc, &o);
	submit(&rc, "chat", "1");
	s2s_routes_submit(rc.t, LOCAL, "other.example", mk("chat", "2"),
	                  rc.now);
	ck_assert_uint_eq(s2s_routes_queued_bytes(rc.t), 2 * one);
	submit(&rc, "chat", "3");
	ck_assert_uint_eq(rc.nbounce, 1);
	check_bounce(rc.bounces[0], "message", "3", "resource-constraint",
	             "wait");
	ck_assert_int_eq((int)metrics_value(METRICS_LIMIT_HITS,
	                                    "queue_total_bytes", NULL, NULL),
	                 1);
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 1);
	ck_assert_uint_eq(s2s_routes_queued_bytes(rc.t), one);
	s2s_routes_submit(rc.t, LOCAL, "other.example", mk("chat", "4"),
	                  rc.now);
	ck_assert_uint_eq(rc.nbounce, 1);
	ck_assert_uint_eq(s2s_routes_queued_bytes(rc.t), 2 * one);
	/* A failure hands the queue back: the total follows. */
	s2s_route_failed(s2s_routes_find(rc.t, LOCAL, "other.example"),
	                 S2SD_ECONNECT, false, rc.now);
	ck_assert_uint_eq(s2s_routes_queued_bytes(rc.t), 0);
	ck_assert_uint_eq(rc.nbounce, 3);
	rec_done(&rc, S2SD_ESHUTDOWN);
	metrics_reset();
}
END_TEST

static void
take_stanza(void *arg, struct stanza *st)
{
	*(struct stanza **)arg = st;
}

/* A parsed stanza counts as the bytes it came in as (the padding inside
 * its start tag is kept), not as its re-serialisation. */
START_TEST(test_queue_counts_raw_bytes)
{
	static const char head[] =
	    "<stream:stream xmlns='jabber:server' version='1.0' "
	    "xmlns:stream='http://etherx.jabber.org/streams'>";
	static const char msg[] =
	    "<message from='alice@" LOCAL "/desk' to='bob@" REMOTE "'    "
	    "id='raw'     type='chat'><body>hi</body></message>";
	struct xmlstream_cbs xcbs = {NULL, take_stanza, NULL, NULL};
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct stanza *st = NULL;
	struct xmlstream *xs = xmlstream_new(NULL, &xcbs, &st);
	size_t raw, bytes;
	struct rec rc;

	ck_assert_int_eq(xmlstream_feed(xs, head, strlen(head)), 0);
	ck_assert_int_eq(xmlstream_feed(xs, msg, strlen(msg)), 0);
	xmlstream_free(xs);
	ck_assert_ptr_nonnull(st);
	ck_assert_ptr_nonnull(stanza_raw(st, &raw));
	ck_assert_uint_eq(raw, strlen(msg));
	ck_assert_uint_ne(raw, serialized_size(st));
	rec_init(&rc, &o);
	s2s_routes_submit(rc.t, LOCAL, REMOTE, st, rc.now);
	ck_assert_uint_eq(s2s_route_queued(route(&rc), &bytes), 1);
	ck_assert_uint_eq(bytes, raw);
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_str_eq(rc.sent[0].id, "raw");
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* Domains at the 1023-byte limit (keys longer than any fixed buffer), the
 * CSPRNG as jitter source, state names. */
START_TEST(test_long_domains_csprng)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	char a[1024], b[1024];
	struct s2s_route *r;
	struct rec rc;
	uint64_t w;

	memset(a, 'a', sizeof(a) - 1);
	memset(b, 'b', sizeof(b) - 1);
	a[sizeof(a) - 1] = b[sizeof(b) - 1] = '\0';
	o.rnd = NULL;
	rec_init(&rc, &o);
	s2s_routes_submit(rc.t, a, b, mk("chat", "1"), rc.now);
	s2s_routes_submit(rc.t, b, a, mk("chat", "2"), rc.now);
	ck_assert_uint_eq(rc.nconnect, 2);
	r = s2s_routes_find(rc.t, a, b);
	ck_assert_ptr_eq(r, rc.connects[0]);
	ck_assert_str_eq(s2s_route_remote(r), b);
	ck_assert_ptr_eq(s2s_routes_find(rc.t, b, a), rc.connects[1]);
	s2s_route_failed(r, S2SD_ECONNECT, false, rc.now);
	w = s2s_route_backoff_until(r) - rc.now;
	ck_assert_uint_ge(w, 1500);
	ck_assert_uint_le(w, 2500);
	ck_assert_str_eq(s2s_route_state_name(s2s_route_state(r)), "backoff");
	ck_assert_str_eq(s2s_route_state_name(S2S_ROUTE_IDLE), "idle");
	ck_assert_str_eq(s2s_route_state_name(S2S_ROUTE_CONNECTING),
	                 "connecting");
	ck_assert_str_eq(s2s_route_state_name(S2S_ROUTE_READY), "ready");
	ck_assert_str_eq(s2s_route_state_name((enum s2s_route_state)9), "?");
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* A stanza larger than the whole byte bound can never wait: it bounces and
 * no connection is started for it. */
START_TEST(test_queue_oversized_first)
{
	struct s2s_route_opts o = test_opts(100, 16);
	struct rec rc;

	rec_init(&rc, &o);
	submit(&rc, "chat", "big");
	ck_assert_uint_eq(rc.nconnect, 0);
	ck_assert_uint_eq(rc.nbounce, 1);
	check_bounce(rc.bounces[0], "message", "big", "resource-constraint",
	             "wait");
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_IDLE);
	/* The unused route is forgotten by the next tick. */
	ck_assert_uint_eq(s2s_routes_deadline(rc.t), rc.now);
	s2s_routes_tick(rc.t, rc.now);
	ck_assert_ptr_null(s2s_routes_find(rc.t, LOCAL, REMOTE));
	ck_assert_uint_eq(s2s_routes_deadline(rc.t), UINT64_MAX);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

struct fail_case {
	int err;
	bool opened;
	const char *cond;
	const char *type;
};

static const struct fail_case fail_cases[] = {
    {S2SD_EDNS_NXDOMAIN, false, "remote-server-not-found", "cancel"},
    {S2SD_ENULLSVC, false, "remote-server-not-found", "cancel"},
    {S2SD_ECONNECT, false, "remote-server-not-found", "cancel"},
    {-ECONNREFUSED, false, "remote-server-not-found", "cancel"},
    {S2SD_EDNS_TIMEOUT, false, "remote-server-timeout", "wait"},
    {S2SD_ETIMEOUT, false, "remote-server-timeout", "wait"},
    {-ETIMEDOUT, false, "remote-server-timeout", "wait"},
    /* Once the peer opened a stream, any failure is a time-out. */
    {S2SD_ECONNECT, true, "remote-server-timeout", "wait"},
    {-ECONNRESET, true, "remote-server-timeout", "wait"},
    {S2SD_ETLS_VERIFY, true, "remote-server-timeout", "wait"},
    {S2SD_EAUTH, true, "remote-server-timeout", "wait"},
    {S2SD_ETIMEOUT, true, "remote-server-timeout", "wait"},
    /* Other conditions as err_condition() gives them... */
    {S2SD_EPOLICY, false, "not-allowed", "cancel"},
    {S2SD_ETLS_CREDS, false, "internal-server-error", "cancel"},
    /* ... except stream-only ones: the peer spoke, so a time-out. */
    {S2SD_EXML_MALFORMED, false, "remote-server-timeout", "wait"},
};

/* Failure: every queued stanza is answered (or dropped if it must not be),
 * in order, with the condition for ERR and OPENED. */
START_TEST(test_failure_bounces)
{
	const struct fail_case *c = &fail_cases[_i];
	static const char *const kinds[] = {"chat", "get", "set", "subscribe",
	                                    "error", "result", "available"};
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;
	char id[8];
	size_t i;

	double before = metrics_value(METRICS_BOUNCES, c->cond, NULL, NULL);

	rec_init(&rc, &o);
	for (i = 0; i < UTIL_ARRAY_LEN(kinds); i++) {
		snprintf(id, sizeof(id), "%zu", i);
		submit(&rc, kinds[i], id);
	}
	s2s_route_failed(route(&rc), c->err, c->opened, rc.now);
	/* Each answer is counted with its condition; drops are not. */
	ck_assert(metrics_value(METRICS_BOUNCES, c->cond, NULL, NULL) ==
	          before + 4);
	ck_assert_uint_eq(rc.nsent, 0);
	ck_assert_uint_eq(rc.nbounce, 4);
	check_bounce(rc.bounces[0], "message", "0", c->cond, c->type);
	check_bounce(rc.bounces[1], "iq", "1", c->cond, c->type);
	check_bounce(rc.bounces[2], "iq", "2", c->cond, c->type);
	check_bounce(rc.bounces[3], "presence", "3", c->cond, c->type);
	ck_assert_uint_eq(rc.ndrop, 3);
	for (i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "%zu", i + 4);
		ck_assert_str_eq(rc.drops[i].id, id);
		ck_assert_int_eq(rc.drops[i].err, c->err);
	}
	ck_assert_uint_eq(s2s_route_queued(route(&rc), NULL), 0);
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_BACKOFF);
	ck_assert_uint_eq(s2s_route_failures(route(&rc)), 1);

	/* During the window: the same answer at once, no new attempt. */
	submit(&rc, "chat", "late");
	ck_assert_uint_eq(rc.nconnect, 1);
	ck_assert_uint_eq(rc.nbounce, 5);
	check_bounce(rc.bounces[4], "message", "late", c->cond, c->type);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* The bounce text is "<remote>: <reason>", nothing more. */
START_TEST(test_bounce_text)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	const struct stanza *err;
	struct rec rc;
	char *s, *want;

	rec_init(&rc, &o);
	submit(&rc, "chat", "1");
	s2s_route_failed(route(&rc), S2SD_EDNS_NXDOMAIN, false, rc.now);
	ck_assert_uint_eq(rc.nbounce, 1);
	err = stanza_child(rc.bounces[0], NULL, "error");
	s = stanza_text(stanza_child(err, STANZA_NS_STANZAS, "text"));
	want = xasprintf("%s: %s", REMOTE, err_str(S2SD_EDNS_NXDOMAIN));
	ck_assert_str_eq(s, want);
	free(s);
	free(want);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* Fail the route once more: submit, expect a connect, report failure.
 * Returns the window length. */
static uint64_t
fail_once(struct rec *rc, int err)
{
	size_t before = rc->nconnect;
	uint64_t until;

	submit(rc, "chat", "x");
	ck_assert_uint_eq(rc->nconnect, before + 1);
	s2s_route_failed(route(rc), err, false, rc->now);
	ck_assert_int_eq(s2s_route_state(route(rc)), S2S_ROUTE_BACKOFF);
	until = s2s_route_backoff_until(route(rc));
	ck_assert_uint_eq(s2s_routes_deadline(rc->t), until);
	ck_assert_uint_gt(until, rc->now);
	return until - rc->now;
}

/* Run the clock to the end of the current window. */
static void
end_window(struct rec *rc)
{
	uint64_t until = s2s_route_backoff_until(route(rc));

	s2s_routes_tick(rc->t, until - 1);
	ck_assert_int_eq(s2s_route_state(route(rc)), S2S_ROUTE_BACKOFF);
	rc->now = until;
	s2s_routes_tick(rc->t, rc->now);
	ck_assert_int_eq(s2s_route_state(route(rc)), S2S_ROUTE_IDLE);
	ck_assert_uint_eq(s2s_route_backoff_until(route(rc)), 0);
}

/* Windows double from backoff_min up to backoff_max (no jitter here). */
START_TEST(test_backoff_windows)
{
	static const uint64_t want[] = {2000, 4000, 8000, 16000, 20000, 20000};
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;
	size_t i;

	o.backoff_max_ms = 20000;
	rec_init(&rc, &o);
	for (i = 0; i < UTIL_ARRAY_LEN(want); i++) {
		ck_assert_uint_eq(fail_once(&rc, S2SD_ECONNECT), want[i]);
		ck_assert_uint_eq(s2s_route_failures(route(&rc)), i + 1);
		end_window(&rc);
	}
	/* A success resets the count: the next window is short again. */
	submit(&rc, "chat", "ok");
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(s2s_route_failures(route(&rc)), 0);
	s2s_route_failed(route(&rc), -ECONNRESET, true, rc.now);
	ck_assert_uint_eq(s2s_route_backoff_until(route(&rc)) - rc.now, 2000);
	rec_clear(&rc);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* With the defaults one transient failure costs about 2 s, never minutes,
 * and a huge failure count neither overflows nor exceeds the jittered cap. */
START_TEST(test_backoff_defaults_and_cap)
{
	struct s2s_route_opts o = test_opts(1000, 4 << 20);
	uint32_t seed = 7;
	struct rec rc;
	uint64_t w;
	int i;

	o.rnd = test_rand;
	o.rnd_arg = &seed;
	rec_init(&rc, &o);
	w = fail_once(&rc, S2SD_EDNS_TEMP);
	ck_assert_uint_ge(w, 1500);
	ck_assert_uint_le(w, 2500);
	for (i = 0; i < 200; i++) {
		end_window(&rc);
		w = fail_once(&rc, S2SD_EDNS_TEMP);
	}
	ck_assert_uint_ge(w, 300000 * 3 / 4);
	ck_assert_uint_le(w, 300000 * 5 / 4);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* Jitter: over many seeds every window stays within +-25% of the nominal
 * one, and the spread really covers most of that range. */
START_TEST(test_backoff_jitter)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	uint64_t lo = UINT64_MAX, hi = 0, w, nominal;
	uint32_t seed;
	struct rec rc;
	int s, n;

	o.rnd = test_rand;
	o.rnd_arg = &seed;
	for (s = 1; s <= 300; s++) {
		seed = (uint32_t)s * 2654435761u;
		rec_init(&rc, &o);
		for (n = 1; n <= 3; n++) {
			nominal = 2000u << (n - 1);
			w = fail_once(&rc, S2SD_ECONNECT);
			ck_assert_uint_ge(w * 4, nominal * 3);
			ck_assert_uint_le(w * 4, nominal * 5);
			lo = w * 1000 / nominal < lo ? w * 1000 / nominal : lo;
			hi = w * 1000 / nominal > hi ? w * 1000 / nominal : hi;
			end_window(&rc);
		}
		rec_done(&rc, S2SD_ESHUTDOWN);
	}
	ck_assert_uint_lt(lo, 780);
	ck_assert_uint_gt(hi, 1220);
}
END_TEST

/* After the window: back to IDLE, the next stanza connects, and an idle
 * route with failures is forgotten only backoff_max later. */
START_TEST(test_backoff_then_reconnect)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;
	uint64_t until;

	rec_init(&rc, &o);
	fail_once(&rc, S2SD_EDNS_NXDOMAIN);
	until = s2s_route_backoff_until(route(&rc));
	end_window(&rc);
	ck_assert_uint_eq(s2s_routes_deadline(rc.t), until + 300000);
	submit(&rc, "chat", "again");
	ck_assert_uint_eq(rc.nconnect, 2);
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_CONNECTING);
	ck_assert_uint_eq(s2s_routes_deadline(rc.t), UINT64_MAX);
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 1);
	ck_assert_str_eq(rc.sent[0].id, "again");

	/* Fail and stay quiet: the failures are forgotten with the route. */
	s2s_route_failed(route(&rc), S2SD_ECONNECT, false, rc.now);
	end_window(&rc);
	ck_assert_uint_eq(s2s_route_failures(route(&rc)), 1);
	s2s_routes_tick(rc.t, rc.now + 300000 - 1);
	ck_assert_ptr_nonnull(s2s_routes_find(rc.t, LOCAL, REMOTE));
	s2s_routes_tick(rc.t, rc.now + 300000);
	ck_assert_ptr_null(s2s_routes_find(rc.t, LOCAL, REMOTE));
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* The timer heap against a model: many routes fail, back off, go idle,
 * are forgotten or reconnect (which takes their timer out of the middle
 * of the heap). The expected timer of each route is tracked here; the
 * deadline must always be the earliest, and ticks must apply exactly the
 * timers due. */
#define MANY 200
#define MODEL_BACKOFF 1
#define MODEL_IDLE 2

struct model {
	struct rec rc;
	uint32_t seed;
	char names[MANY][32];
	int state[MANY];                /* 0 absent/connecting, or above */
	uint64_t exp[MANY];             /* UINT64_MAX: no timer */
};

static void
model_fail(struct model *m, int i)
{
	struct s2s_route *r = s2s_routes_find(m->rc.t, LOCAL, m->names[i]);

	s2s_route_failed(r, S2SD_ECONNECT, false, m->rc.now);
	m->state[i] = MODEL_BACKOFF;
	m->exp[i] = s2s_route_backoff_until(r);
}

static void
model_touch(struct model *m, int i)
{
	if (m->state[i] == 0 && m->exp[i] == 0) {       /* connecting */
		model_fail(m, i);
		return;
	}
	if (m->state[i] == MODEL_BACKOFF)
		return;
	s2s_routes_submit(m->rc.t, LOCAL, m->names[i], mk("chat", "1"),
	                  m->rc.now);
	m->state[i] = 0;
	m->exp[i] = 0;                  /* 0 marks "connecting" */
	if (test_rand(&m->seed) % 2)
		model_fail(m, i);
}

/* Apply the timers due at NOW to the model, the way the table should. */
static void
model_tick(struct model *m, uint64_t max_ms)
{
	bool again = true;
	int i;

	while (again) {
		again = false;
		for (i = 0; i < MANY; i++) {
			if (m->state[i] == 0 || m->exp[i] > m->rc.now)
				continue;
			again = true;
			if (m->state[i] == MODEL_BACKOFF) {
				m->state[i] = MODEL_IDLE;
				m->exp[i] += max_ms;
			} else {
				m->state[i] = 0;
				m->exp[i] = UINT64_MAX;
			}
		}
	}
}

static uint64_t
model_deadline(const struct model *m)
{
	uint64_t want = UINT64_MAX;
	int i;

	for (i = 0; i < MANY; i++)
		if (m->state[i] != 0 && m->exp[i] < want)
			want = m->exp[i];
	return want;
}

START_TEST(test_timer_heap_model)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	static struct model m;
	struct s2s_route *r;
	int i, step;

	memset(&m, 0, sizeof(m));
	m.seed = 99;
	o.backoff_min_ms = 100;
	o.backoff_max_ms = 3000;
	o.rnd = test_rand;
	o.rnd_arg = &m.seed;
	rec_init(&m.rc, &o);
	for (i = 0; i < MANY; i++) {
		snprintf(m.names[i], sizeof(m.names[i]), "r%d.example", i);
		m.exp[i] = UINT64_MAX;
	}
	for (step = 0; step < 20000; step++) {
		if (test_rand(&m.seed) % 3 != 0) {
			model_touch(&m, (int)(test_rand(&m.seed) % MANY));
		} else {
			m.rc.now += test_rand(&m.seed) % 200;
			s2s_routes_tick(m.rc.t, m.rc.now);
			model_tick(&m, o.backoff_max_ms);
		}
		ck_assert_uint_eq(s2s_routes_deadline(m.rc.t),
		                  model_deadline(&m));
		rec_clear(&m.rc);
	}
	for (i = 0; i < MANY; i++) {
		r = s2s_routes_find(m.rc.t, LOCAL, m.names[i]);
		ck_assert_int_eq(r == NULL, m.state[i] == 0 && m.exp[i] != 0);
	}
	rec_done(&m.rc, S2SD_ESHUTDOWN);
}
END_TEST

/* backoff_min 0: no window at all; the next stanza connects at once. */
START_TEST(test_backoff_disabled)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;

	o.backoff_min_ms = 0;
	rec_init(&rc, &o);
	submit(&rc, "chat", "1");
	s2s_route_failed(route(&rc), S2SD_ECONNECT, false, rc.now);
	ck_assert_uint_eq(rc.nbounce, 1);
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_IDLE);
	submit(&rc, "chat", "2");
	ck_assert_uint_eq(rc.nconnect, 2);
	ck_assert_uint_eq(s2s_route_failures(route(&rc)), 1);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* A normal close: IDLE without back-off, reconnect on the next stanza; the
 * idle route is forgotten by the next tick if nothing comes. */
START_TEST(test_closed_reconnect)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;

	rec_init(&rc, &o);
	submit(&rc, "chat", "1");
	s2s_route_ready(route(&rc), rc.now);
	s2s_route_closed(route(&rc), rc.now);
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_IDLE);
	ck_assert_uint_eq(s2s_route_failures(route(&rc)), 0);
	submit(&rc, "chat", "2");
	ck_assert_uint_eq(rc.nconnect, 2);
	ck_assert_uint_eq(rc.nbounce, 0);
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 2);
	s2s_route_closed(route(&rc), rc.now + 5);
	ck_assert_uint_eq(s2s_routes_deadline(rc.t), rc.now + 5);
	s2s_routes_tick(rc.t, rc.now + 5);
	ck_assert_ptr_null(s2s_routes_find(rc.t, LOCAL, REMOTE));
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* Policy denial after a reload: not-allowed (cancel), state kept. */
START_TEST(test_flush_bounce_policy)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;

	rec_init(&rc, &o);
	submit(&rc, "chat", "1");
	submit(&rc, "set", "2");
	submit(&rc, "result", "3");
	s2s_route_flush_bounce(route(&rc), S2SD_EPOLICY);
	ck_assert_uint_eq(rc.nbounce, 2);
	check_bounce(rc.bounces[0], "message", "1", "not-allowed", "cancel");
	check_bounce(rc.bounces[1], "iq", "2", "not-allowed", "cancel");
	ck_assert_uint_eq(rc.ndrop, 1);
	ck_assert_int_eq(rc.drops[0].err, S2SD_EPOLICY);
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_CONNECTING);
	ck_assert_uint_eq(s2s_route_queued(route(&rc), NULL), 0);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* At shutdown, what can be answered bounces; answers stay, in order, for
 * the stream that may still carry them. */
START_TEST(test_bounce_answerable)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;

	rec_init(&rc, &o);
	submit(&rc, "chat", "1");
	submit(&rc, "result", "2");
	submit(&rc, "set", "3");
	submit(&rc, "available", "4");
	ck_assert_uint_eq(s2s_route_bounce_answerable(route(&rc),
	                                              S2SD_ESHUTDOWN), 2);
	ck_assert_uint_eq(rc.nbounce, 2);
	ck_assert_str_eq(stanza_attr(rc.bounces[0], "id"), "1");
	ck_assert_str_eq(stanza_attr(rc.bounces[1], "id"), "3");
	ck_assert_uint_eq(rc.ndrop, 0);
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_CONNECTING);
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 2);
	ck_assert_str_eq(rc.sent[0].id, "2");
	ck_assert_str_eq(rc.sent[1].id, "4");
	ck_assert_uint_eq(s2s_route_bounce_answerable(route(&rc),
	                                              S2SD_ESHUTDOWN), 0);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* Shutdown bounces whatever waits with service-unavailable. */
START_TEST(test_free_shutdown)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;
	size_t i;

	rec_init(&rc, &o);
	submit(&rc, "chat", "1");
	submit(&rc, "subscribe", "2");
	submit(&rc, "available", "3");
	s2s_routes_submit(rc.t, "b.example", "c.example", mk("get", "4"), 0);
	s2s_routes_free(rc.t, S2SD_ESHUTDOWN);
	ck_assert_uint_eq(rc.nbounce, 3);
	ck_assert_uint_eq(rc.ndrop, 1);
	ck_assert_str_eq(rc.drops[0].id, "3");
	ck_assert_int_eq(rc.drops[0].err, S2SD_ESHUTDOWN);
	for (i = 0; i < rc.nbounce; i++) {
		const struct stanza *e = stanza_child(rc.bounces[i], NULL,
		                                      "error");
		ck_assert_ptr_nonnull(stanza_child(e, STANZA_NS_STANZAS,
		                                   "service-unavailable"));
		ck_assert_str_eq(stanza_attr(e, "type"), "cancel");
	}
	s2s_routes_free(NULL, 0);
	rec_clear(&rc);
}
END_TEST

/* The owner reports failure from inside connect (a cached negative DNS
 * answer): the stanza bounces once, the route backs off. */
START_TEST(test_reenter_fail_in_connect)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;

	rec_init(&rc, &o);
	rc.fail_in_connect = S2SD_EDNS_NXDOMAIN;
	submit(&rc, "chat", "1");
	ck_assert_uint_eq(rc.nconnect, 1);
	ck_assert_uint_eq(rc.nbounce, 1);
	check_bounce(rc.bounces[0], "message", "1", "remote-server-not-found",
	             "cancel");
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_BACKOFF);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* The stream closes in the middle of the hand-over: what is left waits for
 * a new stream, in order, and a stanza submitted meanwhile goes after it. */
START_TEST(test_reenter_close_in_send)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	static const char *const want[] = {"1", "2", "3", "4", "5"};
	struct rec rc;
	size_t i;

	rec_init(&rc, &o);
	rc.close_after_sends = 2;
	submit(&rc, "chat", "1");
	submit(&rc, "chat", "2");
	submit(&rc, "chat", "3");
	submit(&rc, "chat", "4");
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 2);
	ck_assert_uint_eq(rc.nconnect, 2);
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_CONNECTING);
	ck_assert_uint_eq(s2s_route_queued(route(&rc), NULL), 2);
	submit(&rc, "chat", "5");
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 5);
	for (i = 0; i < 5; i++)
		ck_assert_str_eq(rc.sent[i].id, want[i]);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* A stanza submitted from inside a send during the hand-over goes after
 * the ones still waiting. */
START_TEST(test_reenter_submit_in_send)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	static const char *const want[] = {"1", "2", "3", "new", "direct"};
	struct rec rc;
	size_t i;

	rec_init(&rc, &o);
	rc.submit_in_send = "new";
	submit(&rc, "chat", "1");
	submit(&rc, "chat", "2");
	submit(&rc, "chat", "3");
	s2s_route_ready(route(&rc), rc.now);
	submit(&rc, "chat", "direct");
	ck_assert_uint_eq(rc.nsent, 5);
	for (i = 0; i < 5; i++)
		ck_assert_str_eq(rc.sent[i].id, want[i]);
	ck_assert_uint_eq(s2s_route_queued(route(&rc), NULL), 0);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* Without back-off a sender may retry from inside its bounce: the retry
 * starts a new attempt and is not swept up with the failed queue. */
START_TEST(test_reenter_submit_in_bounce)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rec rc;

	o.backoff_min_ms = 0;
	rec_init(&rc, &o);
	rc.submit_in_bounce = "retry";
	submit(&rc, "chat", "1");
	submit(&rc, "chat", "2");
	s2s_route_failed(route(&rc), S2SD_ECONNECT, false, rc.now);
	ck_assert_uint_eq(rc.nbounce, 2);
	ck_assert_str_eq(stanza_attr(rc.bounces[1], "id"), "2");
	ck_assert_uint_eq(rc.nconnect, 2);
	ck_assert_int_eq(s2s_route_state(route(&rc)), S2S_ROUTE_CONNECTING);
	ck_assert_uint_eq(s2s_route_queued(route(&rc), NULL), 1);
	s2s_route_ready(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 1);
	ck_assert_str_eq(rc.sent[0].id, "retry");
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* Reporting an outcome that is not pending is a broken invariant. */
START_TEST(test_ready_twice_fatal)
{
	struct s2s_route_opts o = test_opts(100, 1 << 20);
	struct rlimit nocore = {0, 0};
	struct rec rc;

	setrlimit(RLIMIT_CORE, &nocore);
	rec_init(&rc, &o);
	submit(&rc, "chat", "1");
	s2s_route_ready(route(&rc), rc.now);
	s2s_route_ready(route(&rc), rc.now);
}
END_TEST

/* The property test. */

#define P_LOCALS 2
#define P_REMOTES 3
#define P_STEPS 4000
#define P_MAX_IDS (2 * P_STEPS)

static const char *const p_locals[P_LOCALS] = {"a.example", "b.example"};
static const char *const p_remotes[P_REMOTES] = {"x.example", "y.example",
                                                 "z.example"};

struct prop {
	struct rec rc;                         /* first: hooks cast back */
	uint32_t seed;
	int nids;
	unsigned char outcome[P_MAX_IDS];      /* times handed on */
	int route_of[P_MAX_IDS];               /* pair index */
	int last_sent[P_LOCALS * P_REMOTES];   /* highest id sent per pair */
};

static uint32_t
p_rand(struct prop *p, uint32_t n)
{
	return test_rand(&p->seed) % n;
}

static int
p_id(const struct stanza *st)
{
	return atoi(stanza_attr(st, "id"));
}

static int
p_pair(const struct s2s_route *r)
{
	int l, x;

	for (l = 0; l < P_LOCALS; l++)
		for (x = 0; x < P_REMOTES; x++)
			if (strcmp(s2s_route_local(r), p_locals[l]) == 0 &&
			    strcmp(s2s_route_remote(r), p_remotes[x]) == 0)
				return l * P_REMOTES + x;
	ck_abort_msg("unknown route");
	return -1;
}

/* Account for what the callbacks recorded, then forget it. Sent ids must
 * rise per pair: submission order is id order. */
/* Bytes queued on every route, summed route by route. */
static size_t
p_queued(struct prop *p)
{
	const struct s2s_route *r;
	size_t sum = 0, bytes;
	int l, x;

	for (l = 0; l < P_LOCALS; l++)
		for (x = 0; x < P_REMOTES; x++) {
			r = s2s_routes_find(p->rc.t, p_locals[l], p_remotes[x]);
			if (r != NULL) {
				s2s_route_queued(r, &bytes);
				sum += bytes;
			}
		}
	return sum;
}

static void
p_collect(struct prop *p)
{
	struct rec *rc = &p->rc;
	int id, pair;
	size_t i;

	for (i = 0; i < rc->nsent; i++) {
		id = atoi(rc->sent[i].id);
		pair = p_pair(rc->sent[i].r);
		ck_assert_int_eq(pair, p->route_of[id]);
		ck_assert_int_gt(id, p->last_sent[pair]);
		p->last_sent[pair] = id;
		p->outcome[id]++;
	}
	for (i = 0; i < rc->nbounce; i++) {
		id = p_id(rc->bounces[i]);
		ck_assert_str_eq(stanza_attr(rc->bounces[i], "type"), "error");
		p->outcome[id]++;
	}
	for (i = 0; i < rc->ndrop; i++)
		p->outcome[atoi(rc->drops[i].id)]++;
	rec_clear(rc);
}

static void
p_submit(struct prop *p, int pair)
{
	static const char *const kinds[] = {"chat", "chat",   "chat", "get",
	                                    "set",  "result", "error",
	                                    "available", "subscribe"};
	struct stanza *st;
	char id[16];

	ck_assert_int_lt(p->nids, P_MAX_IDS);
	snprintf(id, sizeof(id), "%d", p->nids);
	p->route_of[p->nids] = pair;
	p->nids++;
	st = mk(kinds[p_rand(p, UTIL_ARRAY_LEN(kinds))], id);
	s2s_routes_submit(p->rc.t, p_locals[pair / P_REMOTES],
	                  p_remotes[pair % P_REMOTES], st, p->rc.now);
}

static const int p_errs[] = {S2SD_EDNS_NXDOMAIN, S2SD_ECONNECT,
                             S2SD_ETIMEOUT, -ECONNRESET, S2SD_EPOLICY};

/* The owner fails some attempts synchronously (a cached DNS failure). */
static void
p_on_connect(struct rec *rc, struct s2s_route *r)
{
	struct prop *p = (struct prop *)rc;

	if (p_rand(p, 8) == 0 && s2s_route_state(r) == S2S_ROUTE_CONNECTING)
		s2s_route_failed(r, p_errs[p_rand(p, UTIL_ARRAY_LEN(p_errs))],
		                 false, rc->now);
}

/* From inside a send: submit more to the same pair, or lose the stream. */
static void
p_on_send(struct rec *rc, struct s2s_route *r)
{
	struct prop *p = (struct prop *)rc;
	uint32_t what = p_rand(p, 40);

	if (what == 0)
		p_submit(p, p_pair(r));
	else if (what == 1 && s2s_route_state(r) == S2S_ROUTE_READY)
		s2s_route_closed(r, rc->now);
	else if (what == 2 && s2s_route_state(r) == S2S_ROUTE_READY)
		s2s_route_failed(r, -ECONNRESET, true, rc->now);
}

/* A sender that retries at once when its stanza bounces. */
static void
p_on_bounce(struct rec *rc, const struct stanza *reply)
{
	struct prop *p = (struct prop *)rc;

	if (p_rand(p, 16) == 0)
		p_submit(p, p->route_of[p_id(reply)]);
}

/* One random event on PAIR, if its state allows it. */
static void
p_event(struct prop *p, int pair)
{
	struct s2s_route *r = s2s_routes_find(
	    p->rc.t, p_locals[pair / P_REMOTES], p_remotes[pair % P_REMOTES]);
	uint32_t what = p_rand(p, 10);
	int err = p_errs[p_rand(p, UTIL_ARRAY_LEN(p_errs))];

	if (r == NULL)
		return;
	switch (s2s_route_state(r)) {
	case S2S_ROUTE_CONNECTING:
		if (what < 5)
			s2s_route_ready(r, p->rc.now);
		else if (what < 9)
			s2s_route_failed(r, err, p_rand(p, 2), p->rc.now);
		else
			s2s_route_flush_bounce(r, S2SD_EPOLICY);
		break;
	case S2S_ROUTE_READY:
		if (what < 4)
			s2s_route_closed(r, p->rc.now);
		else if (what < 6)
			s2s_route_failed(r, err, true, p->rc.now);
		break;
	default:
		break;
	}
}

static void
p_step(struct prop *p)
{
	uint32_t what = p_rand(p, 100);
	int pair = (int)p_rand(p, P_LOCALS * P_REMOTES);
	uint64_t dl;

	if (what < 55) {
		p_submit(p, pair);
	} else if (what < 85) {
		p_event(p, pair);
	} else if (what < 95) {
		p->rc.now += p_rand(p, 3000);
		s2s_routes_tick(p->rc.t, p->rc.now);
	} else if ((dl = s2s_routes_deadline(p->rc.t)) != UINT64_MAX) {
		/* Jump to the next deadline, as the owner's timer would. */
		ck_assert_uint_ge(dl, p->rc.now);
		if (dl > p->rc.now)
			p->rc.now = dl;
		s2s_routes_tick(p->rc.t, p->rc.now);
		ck_assert_uint_gt(s2s_routes_deadline(p->rc.t), p->rc.now);
	}
	p_collect(p);
}

START_TEST(test_property_accounting)
{
	static struct prop p;
	struct s2s_route_opts o = test_opts(4, 4096);
	int i;

	memset(&p, 0, sizeof(p));
	for (i = 0; i < P_LOCALS * P_REMOTES; i++)
		p.last_sent[i] = -1;
	p.seed = 0x9e3779b9u ^ (uint32_t)(_i * 7919 + 1);
	/* Odd rounds without back-off: failed routes go IDLE at once. */
	o.backoff_min_ms = _i % 2 ? 0 : 500;
	o.backoff_max_ms = 8000;
	o.rnd = test_rand;
	o.rnd_arg = &p.seed;
	/* Below the sum of the routes' bounds: the total bound bites too. */
	o.total_max_bytes = 600;
	rec_init(&p.rc, &o);
	p.rc.on_connect = p_on_connect;
	p.rc.on_send = p_on_send;
	p.rc.on_bounce = p_on_bounce;
	while (p.nids < P_STEPS)
		p_step(&p);
	ck_assert_uint_eq(s2s_routes_queued_bytes(p.rc.t), p_queued(&p));
	s2s_routes_free(p.rc.t, S2SD_ESHUTDOWN);
	p_collect(&p);
	for (i = 0; i < p.nids; i++)
		ck_assert_msg(p.outcome[i] == 1, "stanza %d handed on %d times",
		              i, p.outcome[i]);
}
END_TEST


/* Back-pressure. A fake reader counts its pauses and resumptions. */
struct fake_src {
	int pauses, resumes;
	bool paused;
};

static void
fake_pause(void *arg)
{
	struct fake_src *f = arg;

	ck_assert(!f->paused);
	f->paused = true;
	f->pauses++;
}

static void
fake_resume(void *arg)
{
	struct fake_src *f = arg;

	ck_assert(f->paused);
	f->paused = false;
	f->resumes++;
}

static const struct flow_src_ops fake_src_ops = {fake_pause, fake_resume};

/* A ready route with high 300, low 100, stall 5 s; 100 bytes a send. */
static void
flow_init(struct rec *rc, struct s2s_route_opts *o)
{
	*o = test_opts(4, 1 << 20);
	o->flow.high = 300;
	o->flow.low = 100;
	o->flow.stall_ms = 5000;
	memset(rc, 0, sizeof(*rc));
	rc->now = 1000000;
	rc->per_send = 100;
	rc->t = s2s_routes_new(o, &rec_flow_cbs, rc);
	submit(rc, "chat", "1");
	s2s_route_ready(route(rc), rc->now);
}

/* Submit ID from reader SRC (the current flow source meanwhile). */
static void
submit_from(struct rec *rc, struct flow_src *src, const char *remote,
            const char *id)
{
	struct flow_src *prev = flow_src_enter(src);

	s2s_routes_submit(rc->t, LOCAL, remote, mk("chat", id), rc->now);
	flow_src_leave(prev);
}

/* Above high water stanzas wait and the reader pauses; the drain hands
 * the queue over in order up to high water, and the reader goes on only
 * once all is down to low water. */
START_TEST(test_flow_route_backpressure)
{
	struct s2s_route_opts o;
	struct fake_src f = {0};
	struct flow_src *src = flow_src_new(&fake_src_ops, &f, 7, "out");
	double pauses = metrics_value(METRICS_FLOW_PAUSES, "out", NULL, NULL);
	struct rec rc;
	char id[16];
	int i;

	flow_init(&rc, &o);
	submit_from(&rc, src, REMOTE, "2");
	ck_assert(!s2s_route_congested(route(&rc)));
	submit_from(&rc, src, REMOTE, "3");    /* 300: congested */
	ck_assert(s2s_route_congested(route(&rc)));
	ck_assert_uint_eq(rc.nwatch, 1);
	ck_assert_uint_eq(rc.watch_low, 100);
	ck_assert_int_eq(f.pauses, 0);  /* nothing waits yet */
	submit_from(&rc, src, REMOTE, "4");
	submit_from(&rc, src, REMOTE, "5");
	ck_assert_uint_eq(rc.nsent, 3);
	ck_assert_uint_eq(s2s_route_queued(route(&rc), NULL), 2);
	ck_assert_int_eq(f.pauses, 1);
	ck_assert_uint_eq(flow_src_holds(src), 1);
	ck_assert_double_eq(metrics_value(METRICS_FLOW_PAUSES, "out", NULL,
	                                  NULL), pauses + 1);
	rc.pending = 100;               /* drained to low water */
	s2s_route_drained(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 5);
	ck_assert(s2s_route_congested(route(&rc)));     /* 300 again */
	ck_assert(f.paused);
	ck_assert_uint_eq(rc.nwatch, 2);
	rc.pending = 50;
	s2s_route_drained(route(&rc), rc.now);
	ck_assert(!s2s_route_congested(route(&rc)));
	ck_assert_int_eq(f.resumes, 1);
	ck_assert_uint_eq(flow_src_holds(src), 0);
	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "%d", i + 1);
		ck_assert_str_eq(rc.sent[i].id, id);
	}
	submit_from(&rc, src, REMOTE, "6");      /* straight on again */
	ck_assert_uint_eq(rc.nsent, 6);
	ck_assert_uint_eq(rc.nbounce, 0);
	flow_src_close(src);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* A stream that writes nothing for the stall time lets the reader go; its
 * stanzas keep waiting up to the queue bound, then bounce; progress keeps
 * the back-pressure on, and ends a stall. */
START_TEST(test_flow_route_stall)
{
	struct s2s_route_opts o;
	struct fake_src f = {0};
	struct flow_src *src = flow_src_new(&fake_src_ops, &f, 7, "out");
	double stalls = metrics_value(METRICS_FLOW_STALLS, "out", NULL, NULL);
	uint64_t t0;
	struct rec rc;

	flow_init(&rc, &o);
	t0 = rc.now;
	submit_from(&rc, src, REMOTE, "2");
	submit_from(&rc, src, REMOTE, "3");
	submit_from(&rc, src, REMOTE, "4");
	ck_assert(f.paused);
	ck_assert_uint_eq(s2s_routes_deadline(rc.t), t0 + 5000);
	s2s_routes_tick(rc.t, t0 + 4999);
	ck_assert(f.paused);
	rc.written_at = t0 + 3000;      /* slow, but it writes */
	s2s_routes_tick(rc.t, t0 + 5000);
	ck_assert(f.paused);
	ck_assert_uint_eq(s2s_routes_deadline(rc.t), t0 + 8000);
	s2s_routes_tick(rc.t, t0 + 8000);
	ck_assert(!f.paused);
	ck_assert_int_eq(f.resumes, 1);
	ck_assert_double_eq(metrics_value(METRICS_FLOW_STALLS, "out", NULL,
	                                  NULL), stalls + 1);
	ck_assert_uint_eq(s2s_routes_deadline(rc.t), UINT64_MAX);
	rc.now = t0 + 8000;
	submit_from(&rc, src, REMOTE, "5");     /* waits, holds nobody */
	submit_from(&rc, src, REMOTE, "6");
	submit_from(&rc, src, REMOTE, "7");
	ck_assert(!f.paused);
	submit_from(&rc, src, REMOTE, "8");     /* over max_stanzas 4 */
	ck_assert_uint_eq(rc.nbounce, 1);
	check_bounce(rc.bounces[0], "message", "8", "resource-constraint",
	             "wait");
	ck_assert_uint_eq(s2s_route_queued(route(&rc), NULL), 4);
	rc.written_at = t0 + 9000;      /* it writes again */
	rc.now = t0 + 9000;
	submit_from(&rc, src, REMOTE, "9");
	ck_assert_uint_eq(rc.nbounce, 2);       /* queue still full */
	rc.pending = 0;
	s2s_route_drained(route(&rc), rc.now);
	ck_assert_uint_eq(rc.nsent, 6);         /* 1-3, then 4-6 */
	ck_assert_str_eq(rc.sent[3].id, "4");
	ck_assert_str_eq(rc.sent[5].id, "6");
	submit_from(&rc, src, REMOTE, "10");    /* 7 and 10 wait: held */
	ck_assert(f.paused);
	ck_assert_int_eq(f.pauses, 2);
	flow_src_close(src);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* One reader held by two congested routes reads again only when both let
 * go; a route whose stream closes lets go and reconnects for its queue. */
START_TEST(test_flow_two_routes)
{
	struct s2s_route_opts o;
	struct fake_src f = {0};
	struct flow_src *src = flow_src_new(&fake_src_ops, &f, 7, "out");
	struct s2s_route *a, *b;
	struct rec rc;

	flow_init(&rc, &o);
	submit_from(&rc, src, "other.net", "b1");
	b = s2s_routes_find(rc.t, LOCAL, "other.net");
	s2s_route_ready(b, rc.now);
	a = route(&rc);
	/* The fake stream is shared: 300 bytes congest a, 400 b. */
	submit_from(&rc, src, REMOTE, "a2");
	submit_from(&rc, src, REMOTE, "a-wait");
	ck_assert_uint_eq(flow_src_holds(src), 1);
	submit_from(&rc, src, "other.net", "b2");
	submit_from(&rc, src, "other.net", "b-wait");
	ck_assert(s2s_route_congested(a));
	ck_assert(s2s_route_congested(b));
	ck_assert_uint_eq(flow_src_holds(src), 2);
	ck_assert_int_eq(f.pauses, 1);
	s2s_route_closed(a, rc.now);    /* lets go, reconnects */
	ck_assert_uint_eq(flow_src_holds(src), 1);
	ck_assert(f.paused);
	ck_assert_int_eq(s2s_route_state(a), S2S_ROUTE_CONNECTING);
	ck_assert_uint_eq(s2s_route_queued(a, NULL), 1);
	rc.pending = 0;
	s2s_route_drained(b, rc.now);   /* b-wait goes: 100, low water */
	ck_assert_uint_eq(flow_src_holds(src), 0);
	ck_assert_int_eq(f.resumes, 1);
	ck_assert_str_eq(rc.sent[rc.nsent - 1].id, "b-wait");
	flow_src_close(src);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

/* A reader that is gone is never paused or resumed again, and a reload
 * that turns back-pressure off hands the queue on. */
START_TEST(test_flow_src_closed_and_off)
{
	struct s2s_route_opts o;
	struct fake_src f = {0};
	struct flow_src *src = flow_src_new(&fake_src_ops, &f, 7, "out");
	struct rec rc;

	flow_init(&rc, &o);
	submit_from(&rc, src, REMOTE, "2");
	submit_from(&rc, src, REMOTE, "3");
	submit_from(&rc, src, REMOTE, "4");
	ck_assert(f.paused);
	flow_src_close(src);            /* the gate keeps its reference */
	ck_assert_ptr_null(flow_src_current());
	o.flow.high = 0;
	s2s_routes_set_limits(rc.t, &o);
	ck_assert_int_eq(f.resumes, 0); /* closed: not called */
	ck_assert(!s2s_route_congested(route(&rc)));
	ck_assert_uint_eq(rc.nsent, 4);
	submit(&rc, "chat", "5");
	ck_assert_uint_eq(rc.nsent, 5);
	rec_done(&rc, S2SD_ESHUTDOWN);
}
END_TEST

static Suite *
route_suite(void)
{
	Suite *s = suite_create("s2s_route");
	TCase *tc = tcase_create("core");
	const char *fork = getenv("CK_FORK");

	tcase_add_test(tc, test_burst_connects_once);
	tcase_add_test(tc, test_pairs_separate);
	tcase_add_test(tc, test_queue_count_bound);
	tcase_add_test(tc, test_queue_byte_bound);
	tcase_add_test(tc, test_queue_total_bound);
	tcase_add_test(tc, test_queue_oversized_first);
	tcase_add_test(tc, test_queue_counts_raw_bytes);
	tcase_add_test(tc, test_long_domains_csprng);
	tcase_add_loop_test(tc, test_failure_bounces, 0,
	                    UTIL_ARRAY_LEN(fail_cases));
	tcase_add_test(tc, test_bounce_text);
	tcase_add_test(tc, test_backoff_windows);
	tcase_add_test(tc, test_backoff_defaults_and_cap);
	tcase_add_test(tc, test_backoff_jitter);
	tcase_add_test(tc, test_backoff_then_reconnect);
	tcase_add_test(tc, test_backoff_disabled);
	tcase_add_test(tc, test_timer_heap_model);
	tcase_add_test(tc, test_closed_reconnect);
	tcase_add_test(tc, test_flush_bounce_policy);
	tcase_add_test(tc, test_free_shutdown);
	tcase_add_test(tc, test_bounce_answerable);
	tcase_add_test(tc, test_reenter_fail_in_connect);
	tcase_add_test(tc, test_reenter_close_in_send);
	tcase_add_test(tc, test_reenter_submit_in_send);
	tcase_add_test(tc, test_reenter_submit_in_bounce);
	/* An abort can only be expected from a forked test. */
	if (fork == NULL || strcmp(fork, "no") != 0)
		tcase_add_test_raise_signal(tc, test_ready_twice_fatal,
		                            SIGABRT);
	tcase_add_loop_test(tc, test_property_accounting, 0, 8);
	tcase_add_test(tc, test_flow_route_backpressure);
	tcase_add_test(tc, test_flow_route_stall);
	tcase_add_test(tc, test_flow_two_routes);
	tcase_add_test(tc, test_flow_src_closed_and_off);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(route_suite());
}
