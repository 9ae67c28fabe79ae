/* check_s2s_live.c - two S2S services (a.test and b.test) on one loop,
 * federating over real TCP on 127.0.0.1 with real TLS (certificates from a
 * CA made at test time) and SASL EXTERNAL. DNS answers come from the fake
 * resolver (tests/fake/fake_dns.c) so candidates point at loopback ports;
 * the real-DNS path is covered by the dns tests and the integration tests. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cm/err.h"
#include "cm/listen.h"
#include "cm/log.h"
#include "cm/util.h"
#include "dns/dns.h"
#include "policy/policy.h"
#include "s2s/s2s.h"
#include "s2s/s2s_sasl.h"
#include "tests/fake/fake_dns.h"
#include "tests/lib/testcert.h"
#include "tests/lib/testutil.h"
#include "tls/tls_ctx.h"
#include "xmpp/stanza.h"

#define MAX_GOT 10100

struct side {
	const char *domain;
	const char *domain2;    /* a second local domain (piggybacking) */
	struct s2s *s2s;
	struct tls_ctx *tls;
	struct policy *pol;
	struct listen_set *ls;
	int port;
	struct stanza *got[MAX_GOT];
	size_t ngot;
};

struct world {
	uv_loop_t loop;
	uv_timer_t guard;
	struct dns_resolver *dns;
	struct side a, b;
	char *dir;              /* the trust store: the CA */
	char *keydir;           /* our certificates and keys */
	struct testcert *ca;
	size_t want_a, want_b;  /* stop the loop when both are reached */
	bool timed_out;
};

static struct world W;

static bool
side_is_local(void *arg, const char *domain)
{
	struct side *sd = arg;

	return strcmp(sd->domain, domain) == 0 ||
	       (sd->domain2 != NULL && strcmp(sd->domain2, domain) == 0);
}

static void
side_deliver(void *arg, struct stanza *st)
{
	struct side *sd = arg;

	if (sd->ngot < MAX_GOT)
		sd->got[sd->ngot++] = st;
	else
		stanza_free(st);
	if (W.a.ngot >= W.want_a && W.b.ngot >= W.want_b)
		uv_stop(&W.loop);
}

static void
on_accept(void *arg, uv_tcp_t *client, const char *peer)
{
	struct side *sd = arg;

	s2s_accept(sd->s2s, client, peer, false);
}

static struct tls_ctx *
make_tls(const char *domain, bool trusted_cert)
{
	struct testcert_spec spec = {.cn = domain, .eku = TESTCERT_EKU_BOTH};
	struct testcert *leaf;
	struct tls_ctx_config tc = {0};
	struct tls_ctx *ctx;
	char *crt, *key, why[256];

	spec.dns[0] = domain;
	spec.xmpp[0] = domain;
	leaf = testcert_new(&spec, trusted_cert ? W.ca : NULL);
	testcert_write(leaf, W.keydir, domain, true, &crt, &key);
	tc.cert_files = (const char *const *)&crt;
	tc.ncerts = 1;
	tc.key_files = (const char *const *)&key;
	tc.nkeys = 1;
	tc.trust_dir = W.dir;   /* holds ca.crt only: self-signed leaves are
	                         * not pinned */
	ck_assert_msg(tls_ctx_new(&tc, &ctx, why, sizeof(why)) == 0, "%s", why);
	testcert_free(leaf);
	free(crt);
	free(key);
	return ctx;
}

/* Settings for the next side_start() beyond the arguments. */
static struct {
	bool any_cert;          /* require_valid_certs off */
	const char *secret;     /* dialback secret (NULL: none) */
	size_t max_streams;     /* max_streams_per_domain (0: none) */
} next;

static void
side_start(struct side *sd, const char *domain, enum s2s_security sec,
           bool trusted_cert, const char *policy_text)
{
	struct s2s_settings set = {
	    .security = sec, .require_valid_certs = !next.any_cert,
	    .dialback_secret = next.secret, .dialback_timeout_ms = 3000,
	    .sasl_in = true,
	    .sasl_out = true, .have_cert = true, .connect_timeout_ms = 2000,
	    .step_timeout_ms = 1500, .idle_ms = 60000, .max_conns = 100,
	    .max_conns_per_addr = 100, .queue_max_stanzas = 20000,
	    .queue_max_bytes = 64 << 20, .backoff_min_ms = 2000,
	    .backoff_max_ms = 60000,
	    .max_streams_per_domain = next.max_streams};
	struct s2s_cbs cbs = {side_is_local, side_deliver};
	struct util_buf errors = {0};
	const char *addrs[] = {"127.0.0.1:0", NULL};
	char why[256];

	sd->domain = domain;
	sd->tls = make_tls(domain, trusted_cert);
	ck_assert_int_eq(policy_parse("policy", policy_text, &sd->pol,
	                              &errors), 0);
	ck_assert_int_eq(s2s_new(&W.loop, &set, sd->tls, W.dns, sd->pol, &cbs,
	                         sd, &sd->s2s), 0);
	ck_assert_int_eq(listen_open(&W.loop, domain, addrs, on_accept, sd,
	                             &sd->ls, why, sizeof(why)), 0);
	sd->port = atoi(strrchr(listen_addr(sd->ls, 0), ':') + 1);
}

static void
on_guard(uv_timer_t *t)
{
	(void)t;
	W.timed_out = true;
	uv_stop(&W.loop);
}

static void
world_start(void)
{
	struct testcert_spec ca = {.cn = "Test CA", .ca = true};
	struct dns_resolver_opts dopts = {0};
	char why[256];

	memset(&W, 0, sizeof(W));
	memset(&next, 0, sizeof(next));
	uv_loop_init(&W.loop);
	uv_timer_init(&W.loop, &W.guard);
	W.dir = testcert_tmpdir();
	W.keydir = testcert_tmpdir();
	W.ca = testcert_new(&ca, NULL);
	testcert_write(W.ca, W.dir, "ca", false, NULL, NULL);
	ck_assert_int_eq(dns_resolver_new(&W.loop, &dopts, &W.dns, why,
	                                  sizeof(why)), 0);
}

/* Run until A got WANT_A and B got WANT_B stanzas, or SECS passed. */
static void
world_run(size_t want_a, size_t want_b, unsigned secs)
{
	W.want_a = want_a;
	W.want_b = want_b;
	W.timed_out = false;
	if (W.a.ngot >= want_a && W.b.ngot >= want_b)
		return;
	uv_timer_start(&W.guard, on_guard, secs * 1000ULL, 0);
	uv_run(&W.loop, UV_RUN_DEFAULT);
	uv_timer_stop(&W.guard);
}

static void
side_stop(struct side *sd)
{
	size_t i;

	if (sd->s2s != NULL)
		s2s_close(sd->s2s, NULL, NULL);
	listen_close(sd->ls);
	tls_ctx_unref(sd->tls);
	policy_unref(sd->pol);
	for (i = 0; i < sd->ngot; i++)
		stanza_free(sd->got[i]);
}

static void
world_stop(void)
{
	/* Bounces made while closing go to the deliver callbacks: let them
	 * arrive, then everything must be closed (libuv's "valgrind happy"). */
	W.want_a = W.want_b = SIZE_MAX;
	side_stop(&W.a);
	side_stop(&W.b);
	dns_resolver_close(W.dns, NULL, NULL);
	uv_close((uv_handle_t *)&W.guard, NULL);
	/* A uv_stop() from a synchronous bounce may still be pending: run
	 * until nothing is left. */
	while (uv_run(&W.loop, UV_RUN_DEFAULT) != 0)
		;
	ck_assert_int_eq(uv_loop_close(&W.loop), 0);
	testcert_free(W.ca);
	testcert_rmdir(W.dir);
	testcert_rmdir(W.keydir);
	fake_dns_verify();
}

static void
send_msg(struct side *from, const char *to, int n)
{
	struct stanza *m = stanza_new("jabber:server", "message");
	char id[32], f[64];

	snprintf(id, sizeof(id), "m%d", n);
	snprintf(f, sizeof(f), "alice@%s/r", from->domain);
	stanza_set_attr(m, "from", f);
	stanza_set_attr(m, "to", to);
	stanza_set_attr(m, "id", id);
	stanza_add_text(stanza_add_child(m, NULL, "body"), "hello");
	s2s_send(from->s2s, m);
}

/* The error condition of a bounce received by SD, or "" if none. */
static const char *
bounce_condition(const struct side *sd, size_t i)
{
	const struct stanza *e = stanza_child(sd->got[i], "jabber:server",
	                                      "error");
	const struct stanza *c = e != NULL ? stanza_first_child(e) : NULL;

	return c != NULL ? stanza_name(c) : "";
}

static void
expect_b_at(int port_first, int port_second)
{
	char spec[128];

	if (port_second > 0)
		snprintf(spec, sizeof(spec), "b.test:%d=127.0.0.1 "
		         "b.test:%d=127.0.0.1", port_first, port_second);
	else
		snprintf(spec, sizeof(spec), "b.test:%d=127.0.0.1", port_first);
	fake_dns_expect_text("b.test", spec);
}

START_TEST(test_sasl_external_required)
{
	struct util_buf d = {0};

	world_start();
	side_start(&W.a, "a.test", S2S_SEC_REQUIRED, true, "default allow\n");
	side_start(&W.b, "b.test", S2S_SEC_REQUIRED, true, "default allow\n");
	expect_b_at(W.b.port, 0);
	send_msg(&W.a, "bob@b.test", 1);
	send_msg(&W.a, "bob@b.test", 2);
	world_run(0, 2, 10);
	ck_assert_msg(!W.timed_out, "not delivered");
	ck_assert_uint_eq(W.a.ngot, 0);
	ck_assert_str_eq(stanza_attr(W.b.got[0], "id"), "m1");
	ck_assert_str_eq(stanza_attr(W.b.got[1], "id"), "m2");
	s2s_describe(W.b.s2s, &d);
	ck_assert_msg(strstr(d.data, " in local=b.test remote=a.test") &&
	                  strstr(d.data, "auth=external tls=TLS1.3"),
	              "%s", d.data);
	util_buf_reset(&d);
	s2s_describe(W.a.s2s, &d);
	ck_assert_msg(strstr(d.data, " out local=a.test remote=b.test") &&
	                  strstr(d.data, "auth=external tls=TLS1.3 state=ready"),
	              "%s", d.data);
	util_buf_free(&d);
	world_stop();
}
END_TEST

static size_t count_lines(struct side *sd, const char *what);

/* max_streams_per_domain counts a domain's authenticated inbound streams:
 * three servers of a.test, a limit of two, so the third stream is closed;
 * once one of the two has gone, the third gets in. */
START_TEST(test_streams_per_domain)
{
	static struct side a2, a3;

	world_start();
	next.max_streams = 2;
	side_start(&W.b, "b.test", S2S_SEC_REQUIRED, true, "default allow\n");
	next.max_streams = 0;
	side_start(&W.a, "a.test", S2S_SEC_REQUIRED, true, "default allow\n");
	memset(&a2, 0, sizeof(a2));
	memset(&a3, 0, sizeof(a3));
	side_start(&a2, "a.test", S2S_SEC_REQUIRED, true, "default allow\n");
	side_start(&a3, "a.test", S2S_SEC_REQUIRED, true, "default allow\n");
	expect_b_at(W.b.port, 0);
	expect_b_at(W.b.port, 0);
	expect_b_at(W.b.port, 0);
	send_msg(&W.a, "bob@b.test", 1);
	world_run(0, 1, 10);
	send_msg(&a2, "bob@b.test", 2);
	world_run(0, 2, 10);
	ck_assert_msg(!W.timed_out, "not delivered");
	ck_assert_uint_eq(count_lines(&W.b, " in local=b.test remote=a.test"),
	                  2);
	send_msg(&a3, "bob@b.test", 3);
	world_run(0, 3, 2);
	ck_assert_msg(W.timed_out, "a third stream was accepted");
	ck_assert_uint_eq(W.b.ngot, 2);
	ck_assert_uint_eq(count_lines(&W.b, " in local=b.test remote=a.test"),
	                  2);
	side_stop(&a2);
	memset(&a2, 0, sizeof(a2));
	world_run(0, 3, 1);     /* a2's stream goes away */
	ck_assert_uint_eq(count_lines(&W.b, " in local=b.test remote=a.test"),
	                  1);
	expect_b_at(W.b.port, 0);       /* a3 connects again */
	send_msg(&a3, "bob@b.test", 4);
	world_run(0, 3, 10);
	ck_assert_msg(!W.timed_out, "the third stream was refused again");
	ck_assert_str_eq(stanza_attr(W.b.got[2], "id"), "m4");
	side_stop(&a3);
	world_stop();
}
END_TEST

START_TEST(test_untrusted_certificate_bounces)
{
	world_start();
	side_start(&W.a, "a.test", S2S_SEC_REQUIRED, true, "default allow\n");
	side_start(&W.b, "b.test", S2S_SEC_REQUIRED, false, "default allow\n");
	expect_b_at(W.b.port, 0);
	send_msg(&W.a, "bob@b.test", 1);
	world_run(1, 0, 10);
	ck_assert_msg(!W.timed_out, "no bounce");
	ck_assert_uint_eq(W.b.ngot, 0);
	ck_assert_str_eq(stanza_attr(W.a.got[0], "type"), "error");
	ck_assert_str_eq(stanza_attr(W.a.got[0], "to"), "alice@a.test/r");
	ck_assert_str_eq(bounce_condition(&W.a, 0), "remote-server-not-found");
	world_stop();
}
END_TEST

/* A port with nothing listening: bind, read the port, close. */
static int
dead_port(void)
{
	uv_tcp_t t;
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss), port;

	uv_tcp_init(&W.loop, &t);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	uv_tcp_bind(&t, (struct sockaddr *)&sa, 0);
	uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&W.loop, UV_RUN_NOWAIT);
	return port;
}

START_TEST(test_second_srv_target)
{
	world_start();
	side_start(&W.a, "a.test", S2S_SEC_REQUIRED, true, "default allow\n");
	side_start(&W.b, "b.test", S2S_SEC_REQUIRED, true, "default allow\n");
	expect_b_at(dead_port(), W.b.port);
	send_msg(&W.a, "bob@b.test", 1);
	world_run(0, 1, 10);
	ck_assert_msg(!W.timed_out && W.b.ngot == 1, "not delivered via the "
	              "second target");
	world_stop();
}
END_TEST

START_TEST(test_nxdomain_bounces)
{
	world_start();
	side_start(&W.a, "a.test", S2S_SEC_REQUIRED, true, "default allow\n");
	fake_dns_expect("nx.test", S2SD_EDNS_NXDOMAIN, NULL);
	send_msg(&W.a, "bob@nx.test", 1);
	world_run(1, 0, 5);
	ck_assert_str_eq(bounce_condition(&W.a, 0), "remote-server-not-found");
	world_stop();
}
END_TEST

static void
on_silent_accept(void *arg, uv_tcp_t *client, const char *peer)
{
	(void)peer;
	/* Accept and say nothing: a peer that never opens a stream. */
	*(uv_tcp_t **)arg = client;
}

START_TEST(test_silent_peer_times_out)
{
	struct listen_set *ls;
	const char *addrs[] = {"127.0.0.1:0", NULL};
	uv_tcp_t *held = NULL;
	char why[128];
	int port;

	world_start();
	side_start(&W.a, "a.test", S2S_SEC_REQUIRED, true, "default allow\n");
	ck_assert_int_eq(listen_open(&W.loop, "silent", addrs, on_silent_accept,
	                             &held, &ls, why, sizeof(why)), 0);
	port = atoi(strrchr(listen_addr(ls, 0), ':') + 1);
	expect_b_at(port, 0);
	send_msg(&W.a, "bob@b.test", 1);
	world_run(1, 0, 10);
	ck_assert_msg(!W.timed_out, "no bounce");
	ck_assert_str_eq(bounce_condition(&W.a, 0), "remote-server-timeout");
	if (held != NULL)
		uv_close((uv_handle_t *)held, (uv_close_cb)free);
	listen_close(ls);
	world_stop();
}
END_TEST

START_TEST(test_policy_out_denied_without_lookup)
{
	world_start();
	side_start(&W.a, "a.test", S2S_SEC_REQUIRED, true,
	           "default allow\ndeny b.test out\n");
	send_msg(&W.a, "bob@b.test", 1);   /* the fake is strict: no lookup */
	world_run(1, 0, 5);
	ck_assert_str_eq(bounce_condition(&W.a, 0), "not-allowed");
	world_stop();
}
END_TEST

#define ORDER_N 10000

START_TEST(test_ten_thousand_in_order)
{
	char id[32];
	int i;

	world_start();
	side_start(&W.a, "a.test", S2S_SEC_REQUIRED, true, "default allow\n");
	side_start(&W.b, "b.test", S2S_SEC_REQUIRED, true, "default allow\n");
	expect_b_at(W.b.port, 0);
	for (i = 0; i < ORDER_N; i++)
		send_msg(&W.a, "bob@b.test", i);
	world_run(0, ORDER_N, 60);
	ck_assert_uint_eq(W.b.ngot, ORDER_N);
	ck_assert_uint_eq(W.a.ngot, 0);
	for (i = 0; i < ORDER_N; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		ck_assert_str_eq(stanza_attr(W.b.got[i], "id"), id);
	}
	world_stop();
}
END_TEST

static bool a_closed;

static void
on_a_closed(void *arg)
{
	(void)arg;
	W.a.s2s = NULL;
	a_closed = true;
	uv_stop(&W.loop);
}

/* A shutdown while a route is being set up bounces the messages waiting
 * on it but delivers the answer (type error) among them, which no bounce
 * could replace, then closes; the service is gone once that stream
 * closed. */
START_TEST(test_shutdown_delivers_queued)
{
	struct stanza *err = stanza_new("jabber:server", "message");

	world_start();
	side_start(&W.a, "a.test", S2S_SEC_REQUIRED, true, "default allow\n");
	side_start(&W.b, "b.test", S2S_SEC_REQUIRED, true, "default allow\n");
	expect_b_at(W.b.port, 0);
	send_msg(&W.a, "bob@b.test", 1);
	stanza_set_attr(err, "from", "alice@a.test");
	stanza_set_attr(err, "to", "bob@b.test");
	stanza_set_attr(err, "id", "e1");
	stanza_set_attr(err, "type", "error");
	s2s_send(W.a.s2s, err);
	send_msg(&W.a, "bob@b.test", 2);
	a_closed = false;
	W.want_a = W.want_b = SIZE_MAX;     /* bounces come synchronously */
	s2s_close(W.a.s2s, on_a_closed, NULL);
	ck_assert(!a_closed);
	ck_assert_uint_eq(W.a.ngot, 2);
	ck_assert_str_eq(stanza_attr(W.a.got[0], "id"), "m1");
	ck_assert_str_eq(stanza_attr(W.a.got[0], "type"), "error");
	ck_assert_str_eq(stanza_attr(W.a.got[1], "id"), "m2");
	/* While closing: a message bounces at once, an answer joins e1. */
	send_msg(&W.a, "bob@b.test", 3);
	ck_assert_uint_eq(W.a.ngot, 3);
	ck_assert_str_eq(stanza_attr(W.a.got[2], "id"), "m3");
	err = stanza_new("jabber:server", "message");
	stanza_set_attr(err, "from", "alice@a.test");
	stanza_set_attr(err, "to", "bob@b.test");
	stanza_set_attr(err, "id", "e2");
	stanza_set_attr(err, "type", "error");
	s2s_send(W.a.s2s, err);
	world_run(3, 2, 10);
	ck_assert_msg(!W.timed_out, "not delivered: b got %zu", W.b.ngot);
	ck_assert_uint_eq(W.b.ngot, 2);
	ck_assert_str_eq(stanza_attr(W.b.got[0], "id"), "e1");
	ck_assert_str_eq(stanza_attr(W.b.got[1], "id"), "e2");
	if (!a_closed)
		world_run(3, SIZE_MAX, 10);
	ck_assert_msg(a_closed && !W.timed_out, "a did not finish closing");
	ck_assert_uint_eq(W.a.ngot, 3);
	ck_assert_uint_eq(W.b.ngot, 2);
	world_stop();
}
END_TEST

static void
expect_a_at(int port)
{
	char spec[64];

	snprintf(spec, sizeof(spec), "a.test:%d=127.0.0.1", port);
	fake_dns_expect_text("a.test", spec);
}

static void
describe_has(struct side *sd, const char *what)
{
	struct util_buf d = {0};

	s2s_describe(sd->s2s, &d);
	ck_assert_msg(d.data != NULL && strstr(d.data, what) != NULL,
	              "'%s' not in:\n%s", what, d.data);
	util_buf_free(&d);
}

START_TEST(test_dialback_clear)
{
	world_start();
	next.secret = "secret-of-a";
	side_start(&W.a, "a.test", S2S_SEC_NONE, true, "default allow\n");
	next.secret = "secret-of-b";
	side_start(&W.b, "b.test", S2S_SEC_NONE, true, "default allow\n");
	expect_b_at(W.b.port, 0);
	expect_a_at(W.a.port);   /* B verifies A's key with A */
	send_msg(&W.a, "bob@b.test", 1);
	world_run(0, 1, 10);
	ck_assert_msg(!W.timed_out, "not delivered");
	describe_has(&W.b, "remote=a.test");
	describe_has(&W.b, "auth=dialback tls=none state=ready");
	describe_has(&W.a, "auth=dialback tls=none state=ready");
	world_stop();
}
END_TEST

START_TEST(test_dialback_over_tls_untrusted)
{
	world_start();
	next.any_cert = true;
	next.secret = "secret-of-a";
	side_start(&W.a, "a.test", S2S_SEC_REQUIRED, false, "default allow\n");
	next.any_cert = true;
	next.secret = "secret-of-b";
	side_start(&W.b, "b.test", S2S_SEC_REQUIRED, false, "default allow\n");
	expect_b_at(W.b.port, 0);
	expect_a_at(W.a.port);
	send_msg(&W.a, "bob@b.test", 1);
	world_run(0, 1, 10);
	ck_assert_msg(!W.timed_out, "not delivered");
	/* Certificates that do not verify rule out EXTERNAL, not dialback. */
	describe_has(&W.b, "auth=dialback tls=TLS1.3 state=ready");
	world_stop();
}
END_TEST

START_TEST(test_policy_in_refuses_without_verification)
{
	world_start();
	next.secret = "secret-of-a";
	side_start(&W.a, "a.test", S2S_SEC_NONE, true, "default allow\n");
	next.secret = "secret-of-b";
	side_start(&W.b, "b.test", S2S_SEC_NONE, true,
	           "default allow\ndeny a.test in\n");
	expect_b_at(W.b.port, 0);
	/* No expectation for a.test: a verification lookup fails the test. */
	send_msg(&W.a, "bob@b.test", 1);
	world_run(1, 0, 10);
	ck_assert_msg(!W.timed_out, "no bounce");
	ck_assert_uint_eq(W.b.ngot, 0);
	ck_assert_str_eq(stanza_attr(W.a.got[0], "type"), "error");
	world_stop();
}
END_TEST

/* A raw peer: connect, write TEXT, collect what comes back until EOF. */
struct raw_peer {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	char *text;
	struct util_buf got;
	bool done;
};

static void
raw_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[65536];

	(void)h;
	(void)hint;
	*b = uv_buf_init(buf, sizeof(buf));
}

static void
raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct raw_peer *p = s->data;

	if (n > 0) {
		util_buf_append(&p->got, b->base, (size_t)n);
		return;
	}
	if (n < 0 && !p->done) {
		p->done = true;
		uv_close((uv_handle_t *)&p->tcp, NULL);
		uv_stop(&W.loop);
	}
}

static void
raw_written(uv_write_t *w, int status)
{
	(void)w;
	(void)status;
}

static void
raw_connected(uv_connect_t *c, int status)
{
	struct raw_peer *p = c->data;
	uv_buf_t b = uv_buf_init(p->text, (unsigned)strlen(p->text));

	ck_assert_int_eq(status, 0);
	uv_read_start((uv_stream_t *)&p->tcp, raw_alloc, raw_read);
	uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &b, 1, raw_written);
}

START_TEST(test_forged_dialback_refused)
{
	struct raw_peer p = {0};
	struct sockaddr_in sa;

	world_start();
	next.secret = "secret-of-a";
	side_start(&W.a, "a.test", S2S_SEC_NONE, true, "default allow\n");
	next.secret = "secret-of-b";
	side_start(&W.b, "b.test", S2S_SEC_NONE, true, "default allow\n");
	expect_a_at(W.a.port);   /* B asks the real a.test: invalid */
	p.text = "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	         "xmlns:stream='http://etherx.jabber.org/streams' "
	         "xmlns:db='jabber:server:dialback' from='a.test' "
	         "to='b.test' version='1.0'><db:result from='a.test' "
	         "to='b.test'>0123456789abcdef0123456789abcdef0123456789"
	         "abcdef0123456789abcdef</db:result>";
	uv_tcp_init(&W.loop, &p.tcp);
	p.tcp.data = &p;
	p.creq.data = &p;
	uv_ip4_addr("127.0.0.1", W.b.port, &sa);
	uv_tcp_connect(&p.creq, &p.tcp, (struct sockaddr *)&sa, raw_connected);
	W.want_a = W.want_b = SIZE_MAX;
	uv_timer_start(&W.guard, on_guard, 10000, 0);
	uv_run(&W.loop, UV_RUN_DEFAULT);
	uv_timer_stop(&W.guard);
	ck_assert_msg(p.done, "B did not close the forged stream");
	ck_assert_msg(strstr(p.got.data, "type='invalid'") != NULL, "%s",
	              p.got.data);
	ck_assert_uint_eq(W.b.ngot, 0);
	util_buf_free(&p.got);
	world_stop();
}
END_TEST

static void
send_from(struct side *sd, const char *from, const char *to, int n)
{
	struct stanza *m = stanza_new("jabber:server", "message");
	char id[32];

	snprintf(id, sizeof(id), "m%d", n);
	stanza_set_attr(m, "from", from);
	stanza_set_attr(m, "to", to);
	stanza_set_attr(m, "id", id);
	s2s_send(sd->s2s, m);
}

static size_t
count_lines(struct side *sd, const char *what)
{
	struct util_buf d = {0};
	const char *p;
	size_t n = 0;

	s2s_describe(sd->s2s, &d);
	for (p = d.data; p != NULL && (p = strstr(p, what)) != NULL; p++)
		n++;
	util_buf_free(&d);
	return n;
}

START_TEST(test_piggyback_one_connection)
{
	char spec[64];

	world_start();
	next.secret = "secret-of-a";
	W.a.domain2 = "a2.test";
	side_start(&W.a, "a1.test", S2S_SEC_NONE, true, "default allow\n");
	next.secret = "secret-of-b";
	side_start(&W.b, "b.test", S2S_SEC_NONE, true, "default allow\n");
	expect_b_at(W.b.port, 0);
	snprintf(spec, sizeof(spec), "a1.test:%d=127.0.0.1", W.a.port);
	fake_dns_expect_text("a1.test", spec);
	snprintf(spec, sizeof(spec), "a2.test:%d=127.0.0.1", W.a.port);
	fake_dns_expect_text("a2.test", spec);
	send_from(&W.a, "x@a1.test", "bob@b.test", 1);
	world_run(0, 1, 10);
	ck_assert_uint_eq(W.b.ngot, 1);
	send_from(&W.a, "y@a2.test", "bob@b.test", 2);
	world_run(0, 2, 10);
	ck_assert_msg(!W.timed_out && W.b.ngot == 2, "a2.test not delivered");
	ck_assert_str_eq(stanza_attr(W.b.got[1], "from"), "y@a2.test");
	/* Both pairs on one outbound TCP connection. */
	ck_assert_uint_eq(count_lines(&W.a, " out "), 1);
	ck_assert_uint_eq(count_lines(&W.a, " out local=a1.test remote=b.test"), 1);
	world_stop();
}
END_TEST

static void
setup(void)
{
	char why[256];

	/* As in the daemon: a write to a peer that left is an error code. */
	signal(SIGPIPE, SIG_IGN);
	log_set_level(-1, getenv("TEST_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	ck_assert_int_eq(s2s_sasl_init(why, sizeof(why)), 0);
}

static void
teardown(void)
{
	s2s_sasl_done();
}

static Suite *
live_suite(void)
{
	Suite *s = suite_create("s2s_live");
	TCase *tc = tcase_create("live");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sasl_external_required);
	tcase_add_test(tc, test_streams_per_domain);
	tcase_add_test(tc, test_untrusted_certificate_bounces);
	tcase_add_test(tc, test_second_srv_target);
	tcase_add_test(tc, test_nxdomain_bounces);
	tcase_add_test(tc, test_silent_peer_times_out);
	tcase_add_test(tc, test_policy_out_denied_without_lookup);
	tcase_add_test(tc, test_ten_thousand_in_order);
	tcase_add_test(tc, test_shutdown_delivers_queued);
	tcase_add_test(tc, test_dialback_clear);
	tcase_add_test(tc, test_dialback_over_tls_untrusted);
	tcase_add_test(tc, test_policy_in_refuses_without_verification);
	tcase_add_test(tc, test_forged_dialback_refused);
	tcase_add_test(tc, test_piggyback_one_connection);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(live_suite());
}
