/* check_tls_uv.c - tls/ sessions bound to real libuv streams: a loopback
 * TCP pair and a socketpair, data both ways through the loop, read one
 * byte at a time or in large bursts, writers paced by
 * tls_session_pending(). Ends like libuv's MAKE_VALGRIND_HAPPY. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "cm/log.h"
#include "cm/util.h"
#include "tests/lib/testcert.h"
#include "tls/tls.h"

#define HIWAT (256 * 1024)
#define PIECE 16384

struct conn {
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
		uv_stream_t stream;
		uv_handle_t handle;
	} h;
	bool open;                      /* handle initialised, not closed */
	struct tls_session *tls;
	char *rbuf;
	size_t rsize;                   /* read buffer: 1 = byte by byte */
	size_t total, sent_plain;       /* what this side writes */
	size_t expect;                  /* what it must receive */
	struct util_buf rx;
	int hs, hs_calls, closed, closed_calls;
	bool bye;
	unsigned seed;
};

struct wreq {
	uv_write_t req;
	struct conn *c;
	size_t len;
	char data[];
};

static struct {
	char *dir, *crt, *key, *trust;
	struct testcert *ca, *leaf;
} fx;

static void
fx_setup(void)
{
	char *pem, *p;

	fx.dir = testcert_tmpdir();
	fx.trust = testcert_tmpdir();
	fx.ca = testcert_new(&(struct testcert_spec){.cn = "uv CA", .ca = true},
	                     NULL);
	fx.leaf = testcert_new(&(struct testcert_spec){
	    .dns = {"example.com"}, .eku = TESTCERT_EKU_SERVER}, fx.ca);
	testcert_write(fx.leaf, fx.dir, "leaf", true, &fx.crt, &fx.key);
	pem = testcert_pem(fx.ca, false);
	p = testcert_write_file(fx.trust, "ca.pem", pem);
	free(p);
	free(pem);
}

static void
fx_teardown(void)
{
	testcert_free(fx.leaf);
	testcert_free(fx.ca);
	free(fx.crt);
	free(fx.key);
	testcert_rmdir(fx.dir);
	testcert_rmdir(fx.trust);
}

static void
fill(char *buf, size_t len, size_t off, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)(((off + i) * 31 + seed) & 0xff);
}

static void pump_out(struct conn *c);
static void maybe_finish(struct conn *c);

static void
on_close(uv_handle_t *h)
{
	(void)h;
}

static void
conn_close(struct conn *c)
{
	if (c->open) {
		c->open = false;
		uv_close(&c->h.handle, on_close);
	}
}

static void
on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->c;

	/* Write callbacks run before close callbacks, whatever the status. */
	if (c->tls != NULL)
		tls_session_sent(c->tls, w->len);
	free(w);
	if (status == 0 && c->open) {
		pump_out(c);
		maybe_finish(c);
	}
}

static void
on_send(void *arg, const void *buf, size_t len)
{
	struct conn *c = arg;
	struct wreq *w = xmalloc(sizeof(*w) + len);
	uv_buf_t b;

	w->c = c;
	w->len = len;
	memcpy(w->data, buf, len);
	b = uv_buf_init(w->data, (unsigned)len);
	ck_assert_int_eq(uv_write(&w->req, &c->h.stream, &b, 1, on_write), 0);
}

/* Write plaintext while the ciphertext backlog is under the mark. */
static void
pump_out(struct conn *c)
{
	char piece[PIECE];
	size_t n;

	while (c->hs_calls == 1 && c->hs == 0 && c->sent_plain < c->total &&
	       tls_session_pending(c->tls) < HIWAT) {
		n = c->total - c->sent_plain < PIECE ? c->total - c->sent_plain
		                                     : PIECE;
		fill(piece, n, c->sent_plain, c->seed);
		ck_assert_int_eq(tls_session_write(c->tls, piece, n), 0);
		c->sent_plain += n;
	}
}

static void
on_handshake(void *arg, int status)
{
	struct conn *c = arg;

	c->hs = status;
	c->hs_calls++;
	ck_assert_int_eq(status, 0);
	pump_out(c);
}

static void
on_data(void *arg, const void *buf, size_t len)
{
	struct conn *c = arg;

	util_buf_append(&c->rx, buf, len);
}

static void
on_closed(void *arg, int status)
{
	struct conn *c = arg;

	c->closed = status;
	c->closed_calls++;
}

/* Both sides: once all is written and read, send close_notify; once the
 * peer's close_notify came and ours is written, close the socket. */
static void
maybe_finish(struct conn *c)
{
	if (!c->bye && c->hs_calls == 1 && c->sent_plain == c->total &&
	    (c->rx.len == c->expect || c->closed_calls == 1)) {
		c->bye = true;
		ck_assert_int_eq(tls_session_close(c->tls), 0);
	}
	if (c->bye && c->closed_calls == 1 && tls_session_pending(c->tls) == 0)
		conn_close(c);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)hint;
	*buf = uv_buf_init(c->rbuf, (unsigned)c->rsize);
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;

	if (nread < 0) {
		conn_close(c);  /* EOF or error: the checks will tell */
		return;
	}
	if (nread > 0)
		tls_session_feed(c->tls, buf->base, (size_t)nread);
	maybe_finish(c);
}

static struct tls_session_cbs
conn_cbs(struct conn *c)
{
	return (struct tls_session_cbs){on_send, on_handshake, on_data,
	                                on_closed, c};
}

static void
conn_start(struct conn *c, struct tls_ctx *ctx, bool server)
{
	struct tls_session_cbs cbs = conn_cbs(c);

	c->h.handle.data = c;
	c->open = true;
	c->rbuf = xmalloc(c->rsize);
	if (server)
		ck_assert_int_eq(tls_session_new_server(ctx, "example.com",
		                                        false, 0, &cbs, &c->tls),
		                 0);
	else
		ck_assert_int_eq(tls_session_new_client(ctx, "client.test",
		                                        "example.com", false, 0,
		                                        &cbs, &c->tls),
		                 0);
	ck_assert_int_eq(uv_read_start(&c->h.stream, on_alloc, on_read), 0);
	ck_assert_int_eq(tls_session_start(c->tls), 0);
}

static void
conn_free(struct conn *c)
{
	tls_session_free(c->tls);
	c->tls = NULL;
	free(c->rbuf);
	util_buf_free(&c->rx);
}

struct mode {
	bool tcp;
	size_t rsize, up, down;
};

static const struct mode modes[] = {
    {true, 65536, 4 << 20, 3 << 20},
    {true, 1, 40000, 30000},
    {false, 65536, 4 << 20, 3 << 20},
    {false, 1, 40000, 30000},
    {true, 7, 300000, 0},
};

static struct {
	uv_tcp_t listener;
	struct conn *server;
	struct tls_ctx *ctx;
} srv;

static void
on_connection(uv_stream_t *l, int status)
{
	struct conn *c = srv.server;

	ck_assert_int_eq(status, 0);
	ck_assert_int_eq(uv_tcp_init(l->loop, &c->h.tcp), 0);
	ck_assert_int_eq(uv_accept(l, &c->h.stream), 0);
	conn_start(c, srv.ctx, true);
	uv_close((uv_handle_t *)l, on_close);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	ck_assert_int_eq(status, 0);
	conn_start(c, (struct tls_ctx *)req->handle->loop->data, false);
}

static void
tcp_pair(uv_loop_t *loop, struct conn *c, struct conn *s,
         uv_connect_t *creq)
{
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof(bound);

	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
	ck_assert_int_eq(uv_tcp_init(loop, &srv.listener), 0);
	ck_assert_int_eq(uv_tcp_bind(&srv.listener,
	                             (const struct sockaddr *)&addr, 0), 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&srv.listener, 1,
	                           on_connection), 0);
	ck_assert_int_eq(uv_tcp_getsockname(&srv.listener,
	                                    (struct sockaddr *)&bound, &len),
	                 0);
	srv.server = s;
	ck_assert_int_eq(uv_tcp_init(loop, &c->h.tcp), 0);
	c->open = true;
	creq->data = c;
	ck_assert_int_eq(uv_tcp_connect(creq, &c->h.tcp,
	                                (const struct sockaddr *)&bound,
	                                on_connect), 0);
}

static void
socket_pair(uv_loop_t *loop, struct tls_ctx *cctx, struct conn *c,
            struct conn *s)
{
	int fds[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	ck_assert_int_eq(uv_pipe_init(loop, &c->h.pipe, 0), 0);
	ck_assert_int_eq(uv_pipe_open(&c->h.pipe, fds[0]), 0);
	ck_assert_int_eq(uv_pipe_init(loop, &s->h.pipe, 0), 0);
	ck_assert_int_eq(uv_pipe_open(&s->h.pipe, fds[1]), 0);
	conn_start(s, srv.ctx, true);
	conn_start(c, cctx, false);
}

static void
check_side(const struct conn *c, size_t len, unsigned seed)
{
	char *want = xmalloc(len + 1);

	ck_assert_int_eq(c->hs_calls, 1);
	ck_assert_int_eq(c->hs, 0);
	ck_assert_int_eq(c->closed_calls, 1);
	ck_assert_int_eq(c->closed, 0);
	ck_assert_uint_eq(c->rx.len, len);
	fill(want, len, 0, seed);
	ck_assert(len == 0 || memcmp(c->rx.data, want, len) == 0);
	free(want);
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

START_TEST(test_loop)
{
	const struct mode *m = &modes[_i];
	const char *crt[] = {fx.crt}, *key[] = {fx.key};
	struct tls_ctx_config scfg = {.cert_files = crt, .ncerts = 1,
	                              .key_files = key, .nkeys = 1,
	                              .trust_dir = fx.trust};
	struct tls_ctx_config ccfg = {.trust_dir = fx.trust};
	struct tls_ctx *cctx;
	struct conn c = {.rsize = m->rsize, .total = m->up, .expect = m->down,
	                 .seed = 1};
	struct conn s = {.rsize = m->rsize, .total = m->down, .expect = m->up,
	                 .seed = 2};
	uv_connect_t creq;
	uv_loop_t loop;
	char why[256];

	ck_assert_int_eq(tls_ctx_new(&scfg, &srv.ctx, why, sizeof(why)), 0);
	ck_assert_int_eq(tls_ctx_new(&ccfg, &cctx, why, sizeof(why)), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	loop.data = cctx;
	if (m->tcp)
		tcp_pair(&loop, &c, &s, &creq);
	else
		socket_pair(&loop, cctx, &c, &s);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	check_side(&s, m->up, 1);
	check_side(&c, m->down, 2);
	ck_assert_int_eq(tls_session_verify_chain(c.tls, why, sizeof(why)), 0);
	ck_assert_int_eq(tls_session_verify_name(c.tls, "example.com", why,
	                                         sizeof(why)), 0);
	conn_free(&c);
	conn_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(srv.ctx);
	/* MAKE_VALGRIND_HAPPY: every handle closed, the loop closes clean. */
	uv_walk(&loop, close_walk, NULL);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *
tls_uv_suite(void)
{
	Suite *s = suite_create("tls_uv");
	TCase *tc = tcase_create("loop");

	tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_loop, 0, UTIL_ARRAY_LEN(modes));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tls_uv_suite());
	int failed;

	log_open(LOG_DEST_FILE, "/dev/null", NULL);
	log_set_level(-1, LOG_LEVEL_TRACE);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	log_close();
	return failed == 0 ? 0 : 1;
}
