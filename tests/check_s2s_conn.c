/* check_s2s_conn.c - s2s_conn's write batching over a real loopback socket:
 * an OUT connection (no TLS, dialback) against a scripted peer on a raw
 * libuv socket. Stanzas sent in one loop turn leave in one socket write and
 * in order; a batch is cut at 16 KiB; a connection whose peer reset it with
 * a batch pending reports the failure once; closing with a batch pending
 * sends the batch, then the closing tag. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cm/util.h"
#include "s2s/s2s_conn.h"
#include "tests/lib/testutil.h"
#include "xmpp/stanza.h"

struct fixture {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_tcp_t *peer;         /* the scripted side, accepted */
	uv_tcp_t *out_tcp;
	uv_connect_t creq;
	struct s2s_conn *out;
	struct util_buf got;    /* everything the peer read */
	size_t answered;        /* how much of GOT the script looked at */
	bool ready, peer_eof, peer_closed;
	int closed, closed_err;
	char closed_why[128];
	uint64_t writes_at_close;
	char rbuf[65536];
};

static struct fixture F;

static void
peer_send(const char *s)
{
	uv_buf_t b = uv_buf_init((char *)s, (unsigned)strlen(s));

	ck_assert_int_eq(uv_try_write((uv_stream_t *)F.peer, &b, 1),
	                 (int)strlen(s));
}

/* The receiving server's side of dialback, answering as bytes arrive. */
static void
peer_script(void)
{
	const char *seen = F.got.data != NULL ? F.got.data + F.answered : "";

	if (strstr(seen, "<stream:stream") != NULL) {
		peer_send("<stream:stream xmlns='jabber:server' xmlns:stream="
		          "'http://etherx.jabber.org/streams' xmlns:db="
		          "'jabber:server:dialback' from='y.test' to='x.test' "
		          "id='peer1' version='1.0'><stream:features><dialback "
		          "xmlns='urn:xmpp:features:dialback'/>"
		          "</stream:features>");
		F.answered = F.got.len;
	} else if (strstr(seen, "</db:result>") != NULL) {
		peer_send("<db:result from='y.test' to='x.test' type='valid'/>");
		F.answered = F.got.len;
	}
}

static void
peer_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	*buf = uv_buf_init(F.rbuf, sizeof(F.rbuf));
}

static void
peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)s;
	if (n < 0) {
		F.peer_eof = true;
		uv_read_stop(s);
		return;
	}
	util_buf_append(&F.got, buf->base, (size_t)n);
	if (!F.ready)
		peer_script();
}

static void
on_accept(uv_stream_t *l, int status)
{
	ck_assert_int_eq(status, 0);
	F.peer = xcalloc(1, sizeof(*F.peer));
	uv_tcp_init(&F.loop, F.peer);
	ck_assert_int_eq(uv_accept(l, (uv_stream_t *)F.peer), 0);
	uv_read_start((uv_stream_t *)F.peer, peer_alloc, peer_read);
}

static bool
cb_is_local(void *arg, const char *domain)
{
	(void)arg;
	return strcmp(domain, "x.test") == 0;
}

static bool
cb_allowed_in(void *arg, const char *remote, char *why, size_t whylen)
{
	(void)arg;
	(void)remote;
	(void)why;
	(void)whylen;
	return true;
}

static void
cb_authenticated(void *arg, struct s2s_conn *c, const char *local,
                 const char *remote, enum s2s_auth how)
{
	(void)arg;
	(void)c;
	(void)local;
	(void)remote;
	ck_assert_int_eq(how, S2S_AUTH_DIALBACK);
	F.ready = true;
}

static void
cb_db_key(void *arg, const char *receiving, const char *originating,
          const char *id, char key[65])
{
	(void)arg;
	(void)receiving;
	(void)originating;
	(void)id;
	snprintf(key, 65, "%064d", 7);
}

static void
cb_closed(void *arg, struct s2s_conn *c, int err, const char *why)
{
	(void)arg;
	F.closed++;
	F.closed_err = err;
	snprintf(F.closed_why, sizeof(F.closed_why), "%s", why);
	F.writes_at_close = s2s_conn_writes(c);
	F.out = NULL;
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct s2s_conn_opts o = {0};
	struct s2s_conn_cbs cbs = {0};

	(void)req;
	ck_assert_int_eq(status, 0);
	o.stream.role = S2S_ROLE_OUT;
	o.stream.security = S2S_SEC_NONE;
	o.stream.dialback = true;
	o.stream.local = "x.test";
	o.stream.remote = "y.test";
	o.peer = "test";
	cbs.is_local = cb_is_local;
	cbs.allowed_in = cb_allowed_in;
	cbs.authenticated = cb_authenticated;
	cbs.dialback_key = cb_db_key;
	cbs.closed = cb_closed;
	F.out = s2s_conn_new(&F.loop, F.out_tcp, &o, &cbs, NULL);
}

static void
run_until(bool (*done)(void))
{
	int i;

	for (i = 0; i < 20000 && !done(); i++)
		uv_run(&F.loop, UV_RUN_ONCE);
	ck_assert(done());
}

static bool
is_ready(void)
{
	return F.ready;
}

static void
setup(void)
{
	struct sockaddr_in sin;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	memset(&F, 0, sizeof(F));
	uv_loop_init(&F.loop);
	uv_tcp_init(&F.loop, &F.listener);
	uv_ip4_addr("127.0.0.1", 0, &sin);
	ck_assert_int_eq(uv_tcp_bind(&F.listener, (struct sockaddr *)&sin, 0),
	                 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&F.listener, 4, on_accept),
	                 0);
	uv_tcp_getsockname(&F.listener, (struct sockaddr *)&ss, &len);
	F.out_tcp = xcalloc(1, sizeof(*F.out_tcp));
	uv_tcp_init(&F.loop, F.out_tcp);
	ck_assert_int_eq(uv_tcp_connect(&F.creq, F.out_tcp,
	                                (struct sockaddr *)&ss, on_connect),
	                 0);
	run_until(is_ready);
	util_buf_reset(&F.got);
}

static void
free_handle(uv_handle_t *h)
{
	if (h != (uv_handle_t *)&F.listener)
		free(h);
}

static void
teardown(void)
{
	if (F.out != NULL)
		s2s_conn_close(F.out, 0, NULL);
	if (F.peer != NULL && !uv_is_closing((uv_handle_t *)F.peer))
		uv_close((uv_handle_t *)F.peer, free_handle);
	uv_close((uv_handle_t *)&F.listener, free_handle);
	while (uv_run(&F.loop, UV_RUN_DEFAULT) != 0)
		;
	ck_assert_int_eq(uv_loop_close(&F.loop), 0);
	util_buf_free(&F.got);
}

/* Stanza I with a body of PAD bytes. */
static int
send_msg(int i, size_t pad)
{
	struct stanza *st = stanza_new("jabber:server", "message");
	char id[16], *body = xmalloc(pad + 1);
	int rc;

	snprintf(id, sizeof(id), "m%d", i);
	memset(body, 'x', pad);
	body[pad] = '\0';
	stanza_set_attr(st, "from", "a@x.test");
	stanza_set_attr(st, "to", "b@y.test");
	stanza_set_attr(st, "id", id);
	stanza_add_text(stanza_add_child(st, NULL, "body"), body);
	rc = s2s_conn_send(F.out, st);
	stanza_free(st);
	free(body);
	return rc;
}

static size_t want_bytes;

static bool
got_enough(void)
{
	return F.got.len >= want_bytes;
}

/* Ids in the order the peer got them are 0..N-1. */
static void
assert_in_order(int n)
{
	const char *p = F.got.data;
	char id[24];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "id='m%d'", i);
		p = strstr(p, id);
		ck_assert_msg(p != NULL, "stanza %d missing or out of order", i);
	}
}

START_TEST(test_one_turn_one_write)
{
	uint64_t w0 = s2s_conn_writes(F.out);
	int i;

	for (i = 0; i < 50; i++)
		ck_assert_int_eq(send_msg(i, 10), 0);
	/* Nothing reached the socket yet: all of it is pending. */
	ck_assert_uint_eq(s2s_conn_writes(F.out), w0);
	ck_assert_uint_gt(s2s_conn_pending(F.out), 50 * 60);
	want_bytes = s2s_conn_pending(F.out);
	run_until(got_enough);
	ck_assert_uint_eq(s2s_conn_writes(F.out), w0 + 1);
	ck_assert_uint_eq(F.got.len, want_bytes);
	assert_in_order(50);
	ck_assert_uint_eq(s2s_conn_pending(F.out), 0);
}
END_TEST

START_TEST(test_batch_cut_at_16k)
{
	uint64_t w0 = s2s_conn_writes(F.out), w;
	int i;

	/* About 100 KiB: six or seven full batches, the rest at turn end. */
	for (i = 0; i < 200; i++)
		ck_assert_int_eq(send_msg(i, 400), 0);
	w = s2s_conn_writes(F.out) - w0;
	ck_assert_uint_ge(w, 5);
	ck_assert_uint_le(w, 7);
	want_bytes = 200 * 470;
	run_until(got_enough);
	w = s2s_conn_writes(F.out) - w0;
	ck_assert_uint_ge(w, 6);
	ck_assert_uint_le(w, 8);
	assert_in_order(200);
}
END_TEST

static bool
is_closed(void)
{
	return F.closed > 0;
}

START_TEST(test_write_error_with_batch_pending)
{
	uint64_t w0 = s2s_conn_writes(F.out);
	int i;

	for (i = 0; i < 20; i++)
		ck_assert_int_eq(send_msg(i, 10), 0);
	/* The peer resets the connection before the batch is flushed: the
	 * flush fails (or the read sees the reset first: a ready stream that
	 * loses its transport reports 0 with the reason); closed runs once
	 * and the batch's memory goes (ASan/LSan check that). */
	uv_tcp_close_reset(F.peer, free_handle);
	F.peer = NULL;
	run_until(is_closed);
	ck_assert_int_eq(F.closed, 1);
	ck_assert_uint_le(F.writes_at_close, w0 + 1);
	ck_assert_msg(strstr(F.closed_why, "reset") != NULL ||
	              strstr(F.closed_why, "closed") != NULL ||
	              strstr(F.closed_why, "pipe") != NULL,
	              "why: %s", F.closed_why);
}
END_TEST

static bool
peer_done(void)
{
	return F.peer_eof;
}

START_TEST(test_close_with_batch_pending)
{
	const char *end;
	int i;

	for (i = 0; i < 30; i++)
		ck_assert_int_eq(send_msg(i, 10), 0);
	s2s_conn_close(F.out, 0, NULL);
	/* The peer answers the closing tag; the conn then shuts down. */
	peer_send("</stream:stream>");
	run_until(peer_done);
	assert_in_order(30);
	end = strstr(F.got.data, "</stream:stream>");
	ck_assert_ptr_nonnull(end);
	ck_assert_ptr_nonnull(strstr(F.got.data, "id='m29'"));
	ck_assert(strstr(F.got.data, "id='m29'") < end);
	ck_assert_int_eq(F.closed, 1);
	ck_assert_int_eq(F.closed_err, 0);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("s2s_conn");
	TCase *tc = tcase_create("batching");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_one_turn_one_write);
	tcase_add_test(tc, test_batch_cut_at_16k);
	tcase_add_test(tc, test_write_error_with_batch_pending);
	tcase_add_test(tc, test_close_with_batch_pending);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(suite());
}
