/* bench_tls.c - throughput of the tls/ session layer through a loopback TCP
 * pair driven by libuv, against the raw socket figure for the same bytes,
 * and handshakes per second (full and resumed) with sessions joined in
 * memory. RSA-2048 server certificate, as peers' benchmarks use. Each
 * transfer stops after BENCH_SECS or BENCH_BYTES, whichever comes first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cm/log.h"
#include "cm/util.h"
#include "tests/lib/testcert.h"
#include "tls/tls.h"

#define BENCH_SECS 1.5
#define BENCH_BYTES (32ULL << 30)
#define BENCH_PIECE 16384       /* plaintext per tls_session_write */
#define BENCH_RAW_PIECE 65536   /* per uv_write on the raw socket */
#define BENCH_HIWAT (1 << 20)   /* pending ciphertext / write queue */

struct side {
	uv_tcp_t tcp;
	struct tls_session *tls;
	struct bench *b;
	char rbuf[65536];
	bool sender;
};

struct bench {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct side client, server;
	bool use_tls, started, done_sending;
	struct tls_ctx *cctx, *sctx;
	char payload[BENCH_RAW_PIECE];
	uint64_t sent, received;
	char suite[64];                 /* negotiated, for the table */
	uint64_t t_start, t_end;        /* uv_hrtime() */
	int closed;
};

struct wreq {
	uv_write_t req;
	struct side *s;
	size_t len;
	char data[];
};

static void produce(struct side *s);
static void finish_if_done(struct bench *b);

static void
on_close(uv_handle_t *h)
{
	struct side *s = h->data;

	if (s != NULL)
		s->b->closed++;
}

static void
on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct side *s = w->s;

	if (s->tls != NULL)
		tls_session_sent(s->tls, w->len);
	free(w);
	if (status == 0)
		produce(s);
}

static void
write_copy(struct side *s, const void *buf, size_t len)
{
	struct wreq *w = xmalloc(sizeof(*w) + len);
	uv_buf_t b;

	w->s = s;
	w->len = len;
	memcpy(w->data, buf, len);
	b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_write) != 0)
		fatalx("uv_write");
}

/* The raw socket writes straight from the payload, without a copy. */
static void
write_raw(struct side *s)
{
	struct wreq *w = xmalloc(sizeof(*w));
	uv_buf_t b = uv_buf_init(s->b->payload, sizeof(s->b->payload));

	w->s = s;
	w->len = sizeof(s->b->payload);
	if (uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_write) != 0)
		fatalx("uv_write");
}

static bool
time_up(struct bench *b)
{
	return b->sent >= BENCH_BYTES ||
	       (double)(uv_hrtime() - b->t_start) / 1e9 >= BENCH_SECS;
}

/* Write while the backlog is under the mark (pending ciphertext for TLS,
 * the libuv write queue for the raw socket). */
static void
produce(struct side *s)
{
	struct bench *b = s->b;

	if (!s->sender || !b->started || b->done_sending)
		return;
	while (!time_up(b)) {
		if (b->use_tls) {
			if (tls_session_pending(s->tls) >= BENCH_HIWAT)
				return;
			if (tls_session_write(s->tls, b->payload, BENCH_PIECE) < 0)
				fatalx("tls_session_write");
			b->sent += BENCH_PIECE;
		} else {
			if (uv_stream_get_write_queue_size(
			        (uv_stream_t *)&s->tcp) >= BENCH_HIWAT)
				return;
			write_raw(s);
			b->sent += sizeof(b->payload);
		}
	}
	b->done_sending = true;
	finish_if_done(b);
}

static void
finish_if_done(struct bench *b)
{
	if (!b->done_sending || b->received < b->sent || b->t_end != 0)
		return;
	b->t_end = uv_hrtime();
	uv_close((uv_handle_t *)&b->client.tcp, on_close);
	uv_close((uv_handle_t *)&b->server.tcp, on_close);
}

static void
on_tls_send(void *arg, const void *buf, size_t len)
{
	write_copy(arg, buf, len);
}

static void
on_tls_handshake(void *arg, int status)
{
	struct side *s = arg;

	if (status != 0)
		fatalx("handshake failed: %s", tls_session_error(s->tls));
	if (s->sender) {
		snprintf(s->b->suite, sizeof(s->b->suite), "%s %s",
		         tls_session_version(s->tls), tls_session_cipher(s->tls));
		s->b->t_start = uv_hrtime();
		s->b->started = true;
		produce(s);
	}
}

static void
on_tls_data(void *arg, const void *buf, size_t len)
{
	struct side *s = arg;

	(void)buf;
	s->b->received += len;
}

static void
on_tls_closed(void *arg, int status)
{
	(void)arg;
	(void)status;
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct side *s = h->data;

	(void)hint;
	*buf = uv_buf_init(s->rbuf, sizeof(s->rbuf));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct side *s = st->data;

	if (nread <= 0)
		return;
	if (s->tls != NULL)
		tls_session_feed(s->tls, buf->base, (size_t)nread);
	else
		s->b->received += (uint64_t)nread;
	finish_if_done(s->b);
}

static void
side_start(struct side *s, bool server)
{
	struct tls_session_cbs cbs = {on_tls_send, on_tls_handshake, on_tls_data,
	                              on_tls_closed, s};
	struct bench *b = s->b;
	int rc;

	s->tcp.data = s;
	if (uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) != 0)
		fatalx("uv_read_start");
	if (!b->use_tls) {
		if (s->sender) {
			b->t_start = uv_hrtime();
			b->started = true;
			produce(s);
		}
		return;
	}
	rc = server ? tls_session_new_server(b->sctx, "bench.example", false, 0,
	                                     &cbs, &s->tls)
	            : tls_session_new_client(b->cctx, "client.example",
	                                     "bench.example", false, 0, &cbs,
	                                     &s->tls);
	if (rc < 0 || tls_session_start(s->tls) < 0)
		fatalx("tls session");
}

static void
on_connection(uv_stream_t *l, int status)
{
	struct bench *b = l->data;

	if (status != 0 || uv_tcp_init(b->loop, &b->server.tcp) != 0 ||
	    uv_accept(l, (uv_stream_t *)&b->server.tcp) != 0)
		fatalx("accept");
	uv_tcp_nodelay(&b->server.tcp, 1);
	side_start(&b->server, true);
	uv_close((uv_handle_t *)l, on_close);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct bench *b = req->data;

	if (status != 0)
		fatalx("connect: %s", uv_strerror(status));
	uv_tcp_nodelay(&b->client.tcp, 1);
	side_start(&b->client, false);
}

/* One transfer client -> server; returns MB/s (10^6 bytes). */
static double
transfer(struct bench *b, uint64_t *bytes, double *secs)
{
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof(bound);
	uv_connect_t creq;
	uv_loop_t loop;

	b->loop = &loop;
	b->client.b = b->server.b = b;
	b->client.sender = true;
	if (uv_loop_init(&loop) != 0 || uv_ip4_addr("127.0.0.1", 0, &addr) ||
	    uv_tcp_init(&loop, &b->listener) ||
	    uv_tcp_bind(&b->listener, (struct sockaddr *)&addr, 0) ||
	    uv_listen((uv_stream_t *)&b->listener, 1, on_connection) ||
	    uv_tcp_getsockname(&b->listener, (struct sockaddr *)&bound, &len) ||
	    uv_tcp_init(&loop, &b->client.tcp))
		fatalx("loopback setup");
	b->listener.data = b;
	creq.data = b;
	if (uv_tcp_connect(&creq, &b->client.tcp, (struct sockaddr *)&bound,
	                   on_connect) != 0)
		fatalx("uv_tcp_connect");
	uv_run(&loop, UV_RUN_DEFAULT);
	tls_session_free(b->client.tls);
	tls_session_free(b->server.tls);
	if (uv_loop_close(&loop) != 0)
		fatalx("uv_loop_close: handles left");
	*bytes = b->received;
	*secs = (double)(b->t_end - b->t_start) / 1e9;
	return (double)b->received / 1e6 / *secs;
}

/* ---- handshakes in memory ---------------------------------------------- */

struct mem_end {
	struct tls_session *s;
	struct util_buf wire;
	int hs;
};

static void
mem_send(void *arg, const void *buf, size_t len)
{
	util_buf_append(&((struct mem_end *)arg)->wire, buf, len);
}

static void
mem_handshake(void *arg, int status)
{
	((struct mem_end *)arg)->hs = status == 0 ? 1 : -1;
}

static void
mem_pass(struct mem_end *from, struct mem_end *to)
{
	char *p;
	size_t n;

	while (from->wire.len > 0) {
		p = util_buf_steal(&from->wire, &n);
		tls_session_feed(to->s, p, n);
		tls_session_sent(from->s, n);
		free(p);
	}
}

static void
mem_handshake_once(struct tls_ctx *cctx, struct tls_ctx *sctx,
                   const char *local)
{
	struct mem_end c = {0}, e = {0};
	struct tls_session_cbs cc = {mem_send, mem_handshake, NULL, NULL, &c};
	struct tls_session_cbs sc = {mem_send, mem_handshake, NULL, NULL, &e};

	if (tls_session_new_client(cctx, local, "bench.example", false, 0, &cc,
	                           &c.s) < 0 ||
	    tls_session_new_server(sctx, NULL, false, 0, &sc, &e.s) < 0)
		fatalx("session");
	tls_session_start(e.s);
	tls_session_start(c.s);
	while (c.wire.len > 0 || e.wire.len > 0) {
		mem_pass(&c, &e);
		mem_pass(&e, &c);
	}
	if (c.hs != 1 || e.hs != 1)
		fatalx("memory handshake failed");
	tls_session_free(c.s);
	tls_session_free(e.s);
	util_buf_free(&c.wire);
	util_buf_free(&e.wire);
}

/* Handshakes per second; RESUME reuses one local domain (and its ticket),
 * otherwise each handshake is for a new pair, hence full. */
static double
handshakes(struct tls_ctx *cctx, struct tls_ctx *sctx, bool resume,
           unsigned *count)
{
	uint64_t t0 = uv_hrtime(), t;
	char local[32];
	unsigned n = 0;

	do {
		snprintf(local, sizeof(local), "c%u.example", resume ? 0 : n);
		mem_handshake_once(cctx, sctx, local);
		n++;
		t = uv_hrtime() - t0;
	} while ((double)t / 1e9 < 0.75);
	*count = n;
	return n / ((double)t / 1e9);
}

static struct tls_ctx *
make_ctx(const char *crt, const char *key, const char *trust)
{
	const char *c[] = {crt}, *k[] = {key};
	struct tls_ctx_config cfg = {.cert_files = c, .ncerts = crt != NULL,
	                             .key_files = k, .nkeys = crt != NULL,
	                             .trust_dir = trust};
	struct tls_ctx *ctx;
	char why[256];

	if (tls_ctx_new(&cfg, &ctx, why, sizeof(why)) < 0)
		fatalx("tls_ctx_new: %s", why);
	return ctx;
}

int
main(void)
{
	struct testcert *ca, *leaf;
	char *dir = testcert_tmpdir(), *trust = testcert_tmpdir(), *crt, *key;
	char *pem, *p;
	struct bench *raw = xcalloc(1, sizeof(*raw));
	struct bench *tls = xcalloc(1, sizeof(*tls));
	double raw_mbs, tls_mbs, raw_s, tls_s, full, resumed;
	uint64_t raw_n, tls_n;
	unsigned nfull, nres;

	log_set_level(-1, LOG_LEVEL_WARN);
	ca = testcert_new(&(struct testcert_spec){.cn = "Bench CA", .ca = true,
	                                          .rsa = true}, NULL);
	leaf = testcert_new(&(struct testcert_spec){
	    .dns = {"bench.example"}, .eku = TESTCERT_EKU_SERVER, .rsa = true},
	    ca);
	testcert_write(leaf, dir, "leaf", true, &crt, &key);
	pem = testcert_pem(ca, false);
	p = testcert_write_file(trust, "ca.pem", pem);
	tls->sctx = make_ctx(crt, key, trust);
	tls->cctx = make_ctx(NULL, NULL, trust);
	tls->use_tls = true;
	util_random(raw->payload, sizeof(raw->payload));
	memcpy(tls->payload, raw->payload, sizeof(tls->payload));

	raw_mbs = transfer(raw, &raw_n, &raw_s);
	tls_mbs = transfer(tls, &tls_n, &tls_s);
	full = handshakes(tls->cctx, tls->sctx, false, &nfull);
	resumed = handshakes(tls->cctx, tls->sctx, true, &nres);

	printf("%-34s %12s %8s %10s\n", "loopback TCP, one direction", "bytes",
	       "secs", "MB/s");
	printf("%-34s %12llu %8.3f %10.1f\n", "raw socket (libuv)",
	       (unsigned long long)raw_n, raw_s, raw_mbs);
	printf("%-34s %12llu %8.3f %10.1f\n", "tls_session, both ends 1 thread",
	       (unsigned long long)tls_n, tls_s, tls_mbs);
	printf("%-34s %12s %8s %9.0f%%\n", "tls / raw", "", "",
	       100.0 * tls_mbs / raw_mbs);
	printf("  (%s; encryption and decryption share one loop)\n",
	       tls->suite);
	printf("%-34s %12s %8s %10s\n", "handshakes in memory (both ends)",
	       "count", "", "per sec");
	printf("%-34s %12u %8s %10.0f\n", "full (ECDHE, RSA-2048 signature)",
	       nfull, "", full);
	printf("%-34s %12u %8s %10.0f\n", "resumed (TLS1.3 ticket)", nres, "",
	       resumed);

	tls_ctx_unref(tls->sctx);
	tls_ctx_unref(tls->cctx);
	free(raw);
	free(tls);
	free(pem);
	free(p);
	free(crt);
	free(key);
	testcert_free(leaf);
	testcert_free(ca);
	testcert_rmdir(dir);
	testcert_rmdir(trust);
	return 0;
}
