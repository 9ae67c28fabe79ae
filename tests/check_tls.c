/* check_tls.c - tls/: sessions joined in memory (handshake, data both ways
 * in every split, close, back-pressure, resumption, SNI, ALPN), contexts
 * and trust stores, and the peer verification matrix. Certificates are made
 * once per test case by the unchecked fixture (tests/lib/testcert). */
#include <check.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "tests/lib/testcert.h"
#include "tls/tls.h"
#include "tls/tls_ctx.h"
#include "tls/tls_int.h"
#include "tls/tls_trust.h"

/* ---- certificates ------------------------------------------------------ */

enum leaf {
	L_EXAMPLE, L_CLIENT, L_CLIENTONLY, L_WILD, L_XMPP, L_SRV, L_WRONG,
	L_EXPIRED, L_FUTURE, L_UNKNOWN, L_SELF, L_INTER, L_INTER_NOCHAIN,
	L_CNONLY, L_CNSAN, L_REVOKED, L_SHA1, L_SNI_A, L_SNI_B, L_SNI_C,
	L_COUNT
};

static struct {
	char *certs, *trust, *trust_pin, *trust_crl, *trust_empty;
	struct testcert *root, *inter, *other, *leaf[L_COUNT];
	char *crt[L_COUNT], *key[L_COUNT];
} fx;

#define DAY (24L * 3600)

static void
fx_leaf(enum leaf l, const char *name, const struct testcert_spec *spec,
        const struct testcert *issuer, bool chain)
{
	fx.leaf[l] = testcert_new(spec, issuer);
	testcert_write(fx.leaf[l], fx.certs, name, chain, &fx.crt[l],
	               &fx.key[l]);
}

static void
fx_leaves(void)
{
	const struct testcert *r = fx.root;

	fx_leaf(L_EXAMPLE, "example", &(struct testcert_spec){
	    .cn = "example.com", .dns = {"example.com"},
	    .eku = TESTCERT_EKU_SERVER}, r, false);
	fx_leaf(L_CLIENT, "client", &(struct testcert_spec){
	    .dns = {"client.test"}, .eku = TESTCERT_EKU_SERVER}, r, false);
	fx_leaf(L_CLIENTONLY, "clientonly", &(struct testcert_spec){
	    .dns = {"client.test"}, .eku = TESTCERT_EKU_CLIENT}, r, false);
	fx_leaf(L_WILD, "wild", &(struct testcert_spec){
	    .dns = {"*.example.com"}, .eku = TESTCERT_EKU_SERVER}, r, false);
	fx_leaf(L_XMPP, "xmpp", &(struct testcert_spec){
	    .xmpp = {"example.com"}}, r, false);
	fx_leaf(L_SRV, "srv", &(struct testcert_spec){
	    .srv = {"_xmpp-server.example.com"}}, r, false);
	fx_leaf(L_WRONG, "wrong", &(struct testcert_spec){
	    .dns = {"other.org"}}, r, false);
	fx_leaf(L_EXPIRED, "expired", &(struct testcert_spec){
	    .dns = {"example.com"}, .not_before = -30 * DAY,
	    .not_after = -DAY}, r, false);
	fx_leaf(L_FUTURE, "future", &(struct testcert_spec){
	    .dns = {"example.com"}, .not_before = DAY,
	    .not_after = 30 * DAY}, r, false);
	fx_leaf(L_UNKNOWN, "unknown", &(struct testcert_spec){
	    .dns = {"example.com"}}, fx.other, false);
	fx_leaf(L_SELF, "self", &(struct testcert_spec){
	    .cn = "example.com", .dns = {"example.com"},
	    .eku = TESTCERT_EKU_BOTH}, NULL, false);
	fx_leaf(L_INTER, "inter", &(struct testcert_spec){
	    .dns = {"example.com"}}, fx.inter, true);
	fx_leaf(L_CNONLY, "cnonly", &(struct testcert_spec){
	    .cn = "example.com"}, r, false);
	fx_leaf(L_CNSAN, "cnsan", &(struct testcert_spec){
	    .cn = "example.com", .dns = {"other.org"}}, r, false);
	fx_leaf(L_REVOKED, "revoked", &(struct testcert_spec){
	    .dns = {"example.com"}}, r, false);
	fx_leaf(L_SHA1, "sha1", &(struct testcert_spec){
	    .dns = {"example.com"}, .sha1 = true}, r, false);
	fx_leaf(L_SNI_A, "a", &(struct testcert_spec){
	    .dns = {"a.example"}}, r, false);
	fx_leaf(L_SNI_B, "b", &(struct testcert_spec){
	    .dns = {"b.example"}}, r, false);
	fx_leaf(L_SNI_C, "c", &(struct testcert_spec){
	    .xmpp = {"c.example"}}, r, false);
	/* The same certificate as L_INTER, without its intermediate. */
	fx.leaf[L_INTER_NOCHAIN] = NULL;
	testcert_write(fx.leaf[L_INTER], fx.certs, "inter_nochain", false,
	               &fx.crt[L_INTER_NOCHAIN], &fx.key[L_INTER_NOCHAIN]);
}

static void
fx_trust(void)
{
	const struct testcert *rev[1];
	char *pem, *p;

	pem = testcert_pem(fx.root, false);
	p = testcert_write_file(fx.trust, "root.pem", pem);
	free(p);
	p = testcert_write_file(fx.trust_pin, "root.pem", pem);
	free(p);
	p = testcert_write_file(fx.trust_crl, "root.pem", pem);
	free(p);
	free(pem);
	pem = testcert_pem(fx.leaf[L_SELF], false);
	p = testcert_write_file(fx.trust_pin, "pinned-peer.crt", pem);
	free(p);
	free(pem);
	rev[0] = fx.leaf[L_REVOKED];
	pem = testcert_crl_pem(fx.root, rev, 1);
	p = testcert_write_file(fx.trust_crl, "root.crl", pem);
	free(p);
	free(pem);
}

static void
fx_setup(void)
{
	fx.certs = testcert_tmpdir();
	fx.trust = testcert_tmpdir();
	fx.trust_pin = testcert_tmpdir();
	fx.trust_crl = testcert_tmpdir();
	fx.trust_empty = testcert_tmpdir();
	fx.root = testcert_new(&(struct testcert_spec){
	    .cn = "s2sd Test Root", .ca = true}, NULL);
	fx.inter = testcert_new(&(struct testcert_spec){
	    .cn = "s2sd Test Intermediate", .ca = true}, fx.root);
	fx.other = testcert_new(&(struct testcert_spec){
	    .cn = "Other Root", .ca = true}, NULL);
	fx_leaves();
	fx_trust();
}

static void
fx_teardown(void)
{
	int i;

	for (i = 0; i < L_COUNT; i++) {
		testcert_free(fx.leaf[i]);
		free(fx.crt[i]);
		free(fx.key[i]);
	}
	testcert_free(fx.inter);
	testcert_free(fx.root);
	testcert_free(fx.other);
	testcert_rmdir(fx.certs);
	testcert_rmdir(fx.trust);
	testcert_rmdir(fx.trust_pin);
	testcert_rmdir(fx.trust_crl);
	testcert_rmdir(fx.trust_empty);
}

/* ---- contexts ---------------------------------------------------------- */

static struct tls_ctx *
ctx_make(const enum leaf *leaves, size_t n, const char *trust,
         const char *priority)
{
	const char *crt[4], *key[4];
	struct tls_ctx_config cfg = {.cert_files = crt, .ncerts = n,
	                             .key_files = key, .nkeys = n,
	                             .trust_dir = trust, .priority = priority};
	struct tls_ctx *ctx = NULL;
	char why[256];
	size_t i;

	for (i = 0; i < n; i++) {
		crt[i] = fx.crt[leaves[i]];
		key[i] = fx.key[leaves[i]];
	}
	ck_assert_msg(tls_ctx_new(&cfg, &ctx, why, sizeof(why)) == 0, "%s",
	              why);
	return ctx;
}

static struct tls_ctx *
ctx_one(enum leaf l, const char *trust)
{
	return ctx_make(&l, 1, trust, NULL);
}

static struct tls_ctx *
ctx_none(const char *trust)
{
	return ctx_make(NULL, 0, trust, NULL);
}

/* ---- two sessions joined in memory ------------------------------------- */

struct end {
	struct tls_session *s;
	struct util_buf wire;           /* ciphertext sent, not delivered */
	size_t wire_off;
	struct util_buf rx;             /* plaintext received */
	int hs, hs_calls, closed, closed_calls;
	size_t sends;
	size_t stop_at;                 /* read_stop once rx reaches this */
	bool free_on_data, echo;
	const char *write_in_send;      /* written (once) from send() */
};

static void
end_send(void *arg, const void *buf, size_t len)
{
	struct end *e = arg;

	const char *w = e->write_in_send;

	ck_assert_uint_gt(len, 0);
	util_buf_append(&e->wire, buf, len);
	e->sends++;
	if (w != NULL) {
		e->write_in_send = NULL;
		ck_assert_int_eq(tls_session_write(e->s, w, strlen(w)), 0);
	}
}

static void
end_handshake(void *arg, int status)
{
	struct end *e = arg;

	e->hs = status;
	e->hs_calls++;
}

static void
end_data(void *arg, const void *buf, size_t len)
{
	struct end *e = arg;

	util_buf_append(&e->rx, buf, len);
	if (e->echo)
		ck_assert_int_eq(tls_session_write(e->s, buf, len), 0);
	if (e->stop_at != 0 && e->rx.len >= e->stop_at)
		tls_session_read_stop(e->s);
	if (e->free_on_data) {
		tls_session_free(e->s);
		e->s = NULL;
	}
}

static void
end_closed(void *arg, int status)
{
	struct end *e = arg;

	e->closed = status;
	e->closed_calls++;
}

static struct tls_session_cbs
end_cbs(struct end *e)
{
	return (struct tls_session_cbs){end_send, end_handshake, end_data,
	                                end_closed, e};
}

static void
end_free(struct end *e)
{
	tls_session_free(e->s);
	util_buf_free(&e->wire);
	util_buf_free(&e->rx);
	memset(e, 0, sizeof(*e));
}

/* Deliver FROM's ciphertext to TO, CHUNK bytes per feed (0: all at once),
 * confirming each piece as written. Returns whether anything moved. */
static bool
deliver(struct end *from, struct end *to, size_t chunk)
{
	size_t n;
	char *piece;

	if (from->wire.len == from->wire_off)
		return false;
	while (from->wire_off < from->wire.len) {
		n = from->wire.len - from->wire_off;
		if (chunk != 0 && chunk < n)
			n = chunk;
		piece = xmemdup(from->wire.data + from->wire_off, n);
		from->wire_off += n;
		if (from->s != NULL)
			tls_session_sent(from->s, n);
		if (to->s != NULL)
			tls_session_feed(to->s, piece, n);
		free(piece);
	}
	util_buf_reset(&from->wire);
	from->wire_off = 0;
	return true;
}

static void
run(struct end *a, struct end *b, size_t chunk)
{
	bool moved;

	do {
		moved = deliver(a, b, chunk);
		moved = deliver(b, a, chunk) || moved;
	} while (moved);
}

struct pair_opts {
	const char *local, *remote, *to;
	bool direct;
	size_t chunk;
};

/* Client C (for LOCAL, to REMOTE) and server S; handshake run to its end. */
static void
pair(struct end *c, struct end *s, struct tls_ctx *cctx,
     struct tls_ctx *sctx, const struct pair_opts *o)
{
	struct tls_session_cbs cc = end_cbs(c), sc = end_cbs(s);

	ck_assert_int_eq(tls_session_new_client(cctx, o->local, o->remote,
	                                        o->direct, 1, &cc, &c->s),
	                 0);
	ck_assert_int_eq(tls_session_new_server(sctx, o->to, o->direct, 2, &sc,
	                                        &s->s),
	                 0);
	ck_assert_int_eq(tls_session_start(s->s), 0);
	ck_assert_int_eq(s->sends, 0);
	ck_assert_int_eq(tls_session_start(c->s), 0);
	ck_assert_int_eq(tls_session_start(c->s), -EALREADY);
	ck_assert_uint_gt(c->wire.len, 0);
	ck_assert_int_eq(c->hs_calls, 0);
	run(c, s, o->chunk);
}

static const struct pair_opts plain = {"client.test", "example.com", NULL,
                                       false, 0};

static void
assert_up(const struct end *c, const struct end *s)
{
	ck_assert_int_eq(c->hs_calls, 1);
	ck_assert_int_eq(s->hs_calls, 1);
	ck_assert_int_eq(c->hs, 0);
	ck_assert_int_eq(s->hs, 0);
}

/* Fill BUF with a recognisable pattern. */
static void
pattern(char *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)((i * 131 + seed) & 0xff);
}

/* ---- session tests ----------------------------------------------------- */

START_TEST(test_handshake_and_data)
{
	struct tls_ctx *cctx = ctx_one(L_CLIENT, fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct end c = {0}, s = {0};
	char why[256];

	pair(&c, &s, cctx, sctx, &plain);
	assert_up(&c, &s);
	ck_assert_str_eq(tls_session_version(c.s), "TLS1.3");
	ck_assert_str_eq(tls_session_version(s.s), "TLS1.3");
	ck_assert_str_eq(tls_session_sni(s.s), "example.com");
	ck_assert_ptr_null(tls_session_sni(c.s));
	ck_assert(!tls_session_is_resumed(c.s));
	ck_assert(!tls_session_alpn_xmpp(c.s));
	ck_assert_str_ne(tls_session_cipher(c.s), "-");
	/* Both facts, both directions. */
	ck_assert_int_eq(tls_session_verify_chain(c.s, why, sizeof(why)), 0);
	ck_assert_int_eq(tls_session_verify_name(c.s, "example.com", why,
	                                         sizeof(why)), 0);
	ck_assert_int_eq(tls_session_verify_chain(s.s, why, sizeof(why)), 0);
	ck_assert_int_eq(tls_session_verify_name(s.s, "client.test", why,
	                                         sizeof(why)), 0);
	ck_assert_int_eq(tls_session_verify_name(s.s, "example.com", why,
	                                         sizeof(why)), S2SD_ETLS_NAME);
	ck_assert_str_eq(tls_session_error(c.s), "");
	ck_assert_ptr_null(tls_session_fail_class(c.s));

	ck_assert_int_eq(tls_session_write(c.s, "<stream:stream>", 15), 0);
	ck_assert_int_eq(tls_session_write(s.s, "<features/>", 11), 0);
	run(&c, &s, 0);
	ck_assert_str_eq(s.rx.data, "<stream:stream>");
	ck_assert_str_eq(c.rx.data, "<features/>");
	ck_assert_uint_eq(tls_session_pending(c.s), 0);
	ck_assert_uint_eq(tls_session_pending(s.s), 0);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* An idle session keeps no buffers; the peer's chain is checked once and
 * dropped, its names kept: later questions get the same answers, and
 * traffic after a quiet spell still flows both ways. */
START_TEST(test_idle_release)
{
	struct tls_ctx *cctx = ctx_one(L_CLIENT, fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct end c = {0}, s = {0};
	char big[40000], why[256];
	int round;

	pair(&c, &s, cctx, sctx, &plain);
	assert_up(&c, &s);
	ck_assert_uint_eq(tls_session_buffer_bytes(c.s), 0);
	ck_assert_uint_eq(tls_session_buffer_bytes(s.s), 0);
	ck_assert_int_eq(tls_session_verify_chain(s.s, why, sizeof(why)), 0);
	for (round = 0; round < 2; round++) {
		ck_assert_int_eq(tls_session_verify_name(s.s, "client.test",
		                                         why, sizeof(why)), 0);
		ck_assert_int_eq(tls_session_verify_name(s.s, "other.test",
		                                         why, sizeof(why)),
		                 S2SD_ETLS_NAME);
		ck_assert_int_eq(tls_session_verify_chain(s.s, NULL, 0), 0);
		pattern(big, sizeof(big), (unsigned)round);
		ck_assert_int_eq(tls_session_write(c.s, big, sizeof(big)), 0);
		ck_assert_int_eq(tls_session_write(s.s, big, 100), 0);
		run(&c, &s, round == 0 ? 0 : 1000);
		ck_assert_uint_eq(s.rx.len, sizeof(big));
		ck_assert_mem_eq(s.rx.data, big, sizeof(big));
		ck_assert_uint_eq(c.rx.len, 100);
		util_buf_reset(&s.rx);
		util_buf_reset(&c.rx);
		ck_assert_uint_eq(tls_session_buffer_bytes(c.s), 0);
		ck_assert_uint_eq(tls_session_buffer_bytes(s.s), 0);
	}
	/* Input kept while reading is stopped is a buffer until read. */
	s.stop_at = 1;
	ck_assert_int_eq(tls_session_write(c.s, "<a/>", 4), 0);
	ck_assert_int_eq(tls_session_write(c.s, "<b/>", 4), 0);
	deliver(&c, &s, 0);
	ck_assert_uint_gt(tls_session_buffer_bytes(s.s), 0);
	s.stop_at = 0;
	tls_session_read_start(s.s);
	ck_assert_int_eq(tls_session_feed(s.s, NULL, 0), 0);
	ck_assert_str_eq(s.rx.data, "<a/><b/>");
	ck_assert_uint_eq(tls_session_buffer_bytes(s.s), 0);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* The trust store remembers chains it accepted: the same chain again is
 * not verified again, and gets the same answers; failures are verified
 * every time; another store (a reload) starts with nothing. */
START_TEST(test_verify_cache)
{
	static const struct {
		enum leaf cert;
		const char *domain;
		int chain, name;
		uint64_t hits;          /* after this session */
	} steps[] = {
	    {L_CLIENT, "client.test", 0, 0, 0},
	    {L_CLIENT, "client.test", 0, 0, 1},
	    {L_EXPIRED, "example.com", S2SD_ETLS_EXPIRED, 0, 1},
	    {L_EXPIRED, "example.com", S2SD_ETLS_EXPIRED, 0, 1},
	    {L_CLIENTONLY, "client.test", S2SD_ETLS_PURPOSE, 0, 1},
	    {L_CLIENTONLY, "client.test", S2SD_ETLS_PURPOSE, 0, 1},
	    {L_WILD, "a.example.com", 0, 0, 1},
	    {L_WILD, "a.b.example.com", 0, S2SD_ETLS_NAME, 2},
	    {L_CLIENT, "client.test", 0, 0, 3},
	};
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust), *cctx, *other;
	struct tls_trust *trust = tls_ctx_trust(sctx);
	struct end c = {0}, s = {0};
	char why[256];
	size_t i;

	for (i = 0; i < UTIL_ARRAY_LEN(steps); i++) {
		cctx = ctx_one(steps[i].cert, fx.trust);
		pair(&c, &s, cctx, sctx, &plain);
		assert_up(&c, &s);
		ck_assert_int_eq(tls_session_verify_chain(s.s, why,
		                                          sizeof(why)),
		                 steps[i].chain);
		ck_assert_int_eq(tls_session_verify_name(s.s, steps[i].domain,
		                                         why, sizeof(why)),
		                 steps[i].name);
		ck_assert_int_eq(tls_session_verify_name(s.s, "other.test",
		                                         NULL, 0),
		                 S2SD_ETLS_NAME);
		ck_assert_uint_eq(tls__vcache_hits(tls__trust_vcache(trust)),
		                  steps[i].hits);
		end_free(&c);
		end_free(&s);
		tls_ctx_unref(cctx);
	}
	/* Another store: verified afresh. */
	other = ctx_one(L_EXAMPLE, fx.trust);
	cctx = ctx_one(L_CLIENT, fx.trust);
	ck_assert_ptr_ne(tls_ctx_trust(other), trust);
	pair(&c, &s, cctx, other, &plain);
	ck_assert_int_eq(tls_session_verify_chain(s.s, NULL, 0), 0);
	ck_assert_uint_eq(
	    tls__vcache_hits(tls__trust_vcache(tls_ctx_trust(other))), 0);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(other);
	tls_ctx_unref(sctx);
}
END_TEST

/* Every split of the input: one byte per feed, small pieces, records cut
 * anywhere, one large burst. Data goes both ways in the same run. */
static const size_t splits[] = {1, 2, 7, 100, 1500, 16384 + 5, 0};

START_TEST(test_splits)
{
	struct tls_ctx *cctx = ctx_one(L_CLIENT, fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct pair_opts o = plain;
	struct end c = {0}, s = {0};
	size_t len = splits[_i] == 1 ? 20000 : 300000;
	char *up = xmalloc(len), *down = xmalloc(len);

	o.chunk = splits[_i];
	pair(&c, &s, cctx, sctx, &o);
	assert_up(&c, &s);
	pattern(up, len, 1);
	pattern(down, len, 2);
	ck_assert_int_eq(tls_session_write(c.s, up, len), 0);
	ck_assert_int_eq(tls_session_write(s.s, down, len), 0);
	run(&c, &s, o.chunk);
	ck_assert_uint_eq(s.rx.len, len);
	ck_assert_uint_eq(c.rx.len, len);
	ck_assert(memcmp(s.rx.data, up, len) == 0);
	ck_assert(memcmp(c.rx.data, down, len) == 0);
	free(up);
	free(down);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* The server echoes from inside its data callback (re-entrant write). */
START_TEST(test_echo_reentrant)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct end c = {0}, s = {.echo = true};
	char buf[50000];

	pair(&c, &s, cctx, sctx, &plain);
	assert_up(&c, &s);
	pattern(buf, sizeof(buf), 9);
	ck_assert_int_eq(tls_session_write(c.s, buf, sizeof(buf)), 0);
	run(&c, &s, 3000);
	ck_assert_uint_eq(c.rx.len, sizeof(buf));
	ck_assert(memcmp(c.rx.data, buf, sizeof(buf)) == 0);
	/* No client certificate: the server has nothing to verify. */
	ck_assert_int_eq(tls_session_verify_chain(s.s, NULL, 0),
	                 S2SD_ETLS_NOCERT);
	ck_assert_int_eq(tls_session_verify_name(s.s, "client.test", NULL, 0),
	                 S2SD_ETLS_NOCERT);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

START_TEST(test_close_notify)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct end c = {0}, s = {0};

	pair(&c, &s, cctx, sctx, &plain);
	ck_assert_int_eq(tls_session_write(c.s, "</stream:stream>", 16), 0);
	ck_assert_int_eq(tls_session_close(c.s), 0);
	ck_assert_int_eq(tls_session_close(c.s), -EPIPE);
	ck_assert_int_eq(tls_session_write(c.s, "x", 1), -EPIPE);
	run(&c, &s, 0);
	/* Data before close_notify arrives first, then closed(0). */
	ck_assert_str_eq(s.rx.data, "</stream:stream>");
	ck_assert_int_eq(s.closed_calls, 1);
	ck_assert_int_eq(s.closed, 0);
	ck_assert_int_eq(c.closed_calls, 0);
	/* The server may still answer, then closes its side. */
	ck_assert_int_eq(tls_session_write(s.s, "</stream:stream>", 16), 0);
	ck_assert_int_eq(tls_session_close(s.s), 0);
	run(&c, &s, 0);
	ck_assert_str_eq(c.rx.data, "</stream:stream>");
	ck_assert_int_eq(c.closed_calls, 1);
	ck_assert_int_eq(c.closed, 0);
	ck_assert_int_eq(tls_session_feed(s.s, "x", 1), -EPIPE);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

START_TEST(test_not_connected)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_session_cbs cbs = {end_send, end_handshake, end_data,
	                              end_closed, NULL};
	struct end c = {0};
	struct tls_session *s;

	cbs.arg = &c;
	ck_assert_int_eq(tls_session_new_client(cctx, NULL, "example.com",
	                                        false, 0, &cbs, &s), 0);
	c.s = s;
	ck_assert_int_eq(tls_session_write(s, "x", 1), -ENOTCONN);
	ck_assert_int_eq(tls_session_close(s), -ENOTCONN);
	ck_assert_int_eq(tls_session_verify_chain(s, NULL, 0), -ENOTCONN);
	ck_assert_int_eq(tls_session_verify_name(s, "example.com", NULL, 0),
	                 -ENOTCONN);
	ck_assert_int_eq(c.sends, 0);
	end_free(&c);
	tls_ctx_unref(cctx);
}
END_TEST

/* Garbage instead of a ServerHello fails the handshake once, with an
 * alert for the peer, and later calls report the same error. */
START_TEST(test_garbage)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct end c = {0}, s = {0};
	struct tls_session_cbs cc = end_cbs(&c), sc = end_cbs(&s);
	static const char junk[] = "<?xml version='1.0'?><stream:stream>"
	                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

	ck_assert_int_eq(tls_session_new_client(cctx, NULL, "example.com",
	                                        false, 0, &cc, &c.s), 0);
	ck_assert_int_eq(tls_session_start(c.s), 0);
	ck_assert_int_eq(tls_session_feed(c.s, junk, sizeof(junk) - 1), 0);
	ck_assert_int_eq(c.hs_calls, 1);
	ck_assert_int_eq(c.hs, S2SD_ETLS_HANDSHAKE);
	ck_assert_int_eq(c.closed_calls, 0);
	ck_assert_str_ne(tls_session_error(c.s), "");
	ck_assert_str_eq(tls_session_fail_class(c.s), "protocol");
	ck_assert_int_eq(tls_session_feed(c.s, "x", 1), S2SD_ETLS_HANDSHAKE);
	ck_assert_int_eq(tls_session_write(c.s, "x", 1), S2SD_ETLS_HANDSHAKE);

	ck_assert_int_eq(tls_session_new_server(sctx, NULL, false, 0, &sc,
	                                        &s.s), 0);
	ck_assert_int_eq(tls_session_start(s.s), 0);
	ck_assert_int_eq(tls_session_feed(s.s, junk, sizeof(junk) - 1), 0);
	ck_assert_int_eq(s.hs, S2SD_ETLS_HANDSHAKE);
	ck_assert_int_eq(s.hs_calls, 1);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* Output written from inside send() goes out before the call returns. */
START_TEST(test_write_from_send)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct end c = {0}, s = {0};
	size_t sends;

	pair(&c, &s, cctx, sctx, &plain);
	sends = c.sends;
	c.write_in_send = "-second";
	ck_assert_int_eq(tls_session_write(c.s, "first", 5), 0);
	ck_assert_uint_eq(c.sends, sends + 2);
	ck_assert_uint_eq(tls_session_pending(c.s), c.wire.len);
	run(&c, &s, 0);
	ck_assert_str_eq(s.rx.data, "first-second");
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* Bytes fed to a server before _start are kept, in order. */
START_TEST(test_feed_before_start)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct end c = {0}, s = {0};
	struct tls_session_cbs cc = end_cbs(&c), sc = end_cbs(&s);

	ck_assert_int_eq(tls_session_new_client(cctx, NULL, "example.com",
	                                        false, 0, &cc, &c.s), 0);
	ck_assert_int_eq(tls_session_new_server(sctx, NULL, false, 0, &sc,
	                                        &s.s), 0);
	ck_assert_int_eq(tls_session_start(c.s), 0);
	deliver(&c, &s, 10);
	ck_assert_uint_gt(tls_session_buffered(s.s), 0);
	ck_assert_int_eq(s.sends, 0);
	ck_assert_int_eq(tls_session_start(s.s), 0);
	ck_assert_int_eq(tls_session_feed(s.s, NULL, 0), 0);
	run(&c, &s, 0);
	assert_up(&c, &s);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* Freeing a session from its own data callback is deferred safely. */
START_TEST(test_free_in_callback)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct end c = {0}, s = {0};
	char buf[40000];

	pair(&c, &s, cctx, sctx, &plain);
	s.free_on_data = true;
	s.echo = true;
	pattern(buf, sizeof(buf), 3);
	ck_assert_int_eq(tls_session_write(c.s, buf, sizeof(buf)), 0);
	run(&c, &s, 0);
	ck_assert_ptr_null(s.s);
	ck_assert_uint_gt(s.rx.len, 0);
	ck_assert_uint_lt(s.rx.len, sizeof(buf));
	/* Nothing reached send() after the free. */
	ck_assert_uint_eq(c.rx.len, 0);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* "Stop producing": while held, ciphertext stays in the session and counts
 * as pending; release hands it over in one piece; sent() confirms it. */
START_TEST(test_hold_output)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct end c = {0}, s = {0};
	char buf[100000];
	size_t sends;

	pair(&c, &s, cctx, sctx, &plain);
	ck_assert_uint_eq(tls_session_pending(c.s), 0);
	tls_session_hold(c.s, true);
	sends = c.sends;
	pattern(buf, sizeof(buf), 4);
	ck_assert_int_eq(tls_session_write(c.s, buf, sizeof(buf)), 0);
	ck_assert_int_eq(tls_session_write(c.s, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(c.sends, sends);
	ck_assert_uint_gt(tls_session_pending(c.s), 2 * sizeof(buf));
	ck_assert_uint_eq(c.wire.len, 0);
	tls_session_hold(c.s, false);
	ck_assert_uint_eq(c.sends, sends + 1);
	ck_assert_uint_eq(tls_session_pending(c.s), c.wire.len);
	tls_session_sent(c.s, 1000);
	ck_assert_uint_eq(tls_session_pending(c.s), c.wire.len - 1000);
	tls_session_sent(c.s, c.wire.len - 1000);
	ck_assert_uint_eq(tls_session_pending(c.s), 0);
	/* deliver() confirms again what it moves: feed without it. */
	ck_assert_int_eq(tls_session_feed(s.s, c.wire.data, c.wire.len), 0);
	util_buf_reset(&c.wire);
	ck_assert_uint_eq(s.rx.len, 2 * sizeof(buf));
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* read_stop from the data callback keeps the rest of the input; resuming
 * needs an explicit feed and delivers it, in order. */
START_TEST(test_read_stop)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct end c = {0}, s = {0};
	char buf[200000];

	pair(&c, &s, cctx, sctx, &plain);
	s.stop_at = 20000;
	pattern(buf, sizeof(buf), 5);
	ck_assert_int_eq(tls_session_write(c.s, buf, sizeof(buf)), 0);
	run(&c, &s, 0);
	ck_assert_uint_ge(s.rx.len, 20000);
	ck_assert_uint_lt(s.rx.len, sizeof(buf));
	ck_assert_uint_gt(tls_session_buffered(s.s), 0);
	/* More input while stopped is kept too. */
	ck_assert_int_eq(tls_session_write(c.s, "tail", 4), 0);
	run(&c, &s, 0);
	ck_assert_uint_lt(s.rx.len, sizeof(buf));
	s.stop_at = 0;
	tls_session_read_start(s.s);
	ck_assert_uint_lt(s.rx.len, sizeof(buf));
	ck_assert_int_eq(tls_session_feed(s.s, NULL, 0), 0);
	ck_assert_uint_eq(s.rx.len, sizeof(buf) + 4);
	ck_assert(memcmp(s.rx.data, buf, sizeof(buf)) == 0);
	ck_assert(memcmp(s.rx.data + sizeof(buf), "tail", 4) == 0);
	ck_assert_uint_eq(tls_session_buffered(s.s), 0);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* Resumption per (local, remote): TLS 1.3 tickets and TLS 1.2 tickets.
 * The peer's certificate is still there to verify after resumption. */
static const char *const resume_prio[] = {
    NULL, "NORMAL:-VERS-ALL:+VERS-TLS1.2"};

START_TEST(test_resumption)
{
	enum leaf cl = L_CLIENT, sl = L_EXAMPLE;
	struct tls_ctx *cctx = ctx_make(&cl, 1, fx.trust, resume_prio[_i]);
	struct tls_ctx *sctx = ctx_make(&sl, 1, fx.trust, resume_prio[_i]);
	struct pair_opts other = plain;
	struct end c = {0}, s = {0};
	int round;

	for (round = 0; round < 3; round++) {
		pair(&c, &s, cctx, sctx, &plain);
		assert_up(&c, &s);
		ck_assert_str_eq(tls_session_version(c.s),
		                 _i == 0 ? "TLS1.3" : "TLS1.2");
		/* TLS 1.3 tickets arrive after the handshake, with data. */
		ck_assert_int_eq(tls_session_write(s.s, "<stream>", 8), 0);
		run(&c, &s, 0);
		ck_assert_int_eq(tls_session_is_resumed(c.s), round > 0);
		ck_assert_int_eq(tls_session_is_resumed(s.s), round > 0);
		ck_assert_int_eq(tls_session_verify_chain(c.s, NULL, 0), 0);
		ck_assert_int_eq(tls_session_verify_name(c.s, "example.com",
		                                         NULL, 0), 0);
		ck_assert_int_eq(tls_session_verify_chain(s.s, NULL, 0), 0);
		ck_assert_int_eq(tls_session_verify_name(s.s, "client.test",
		                                         NULL, 0), 0);
		end_free(&c);
		end_free(&s);
		ck_assert_uint_eq(tls_ctx_resume_count(cctx), 1);
	}
	/* Another local domain does not use that ticket. */
	other.local = "other.test";
	pair(&c, &s, cctx, sctx, &other);
	assert_up(&c, &s);
	ck_assert(!tls_session_is_resumed(c.s));
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* After a reload the new contexts inherit the ticket key and the
 * resumption data, so the next connection still resumes. */
START_TEST(test_resumption_across_reload)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust), *c2, *s2;
	struct end c = {0}, s = {0};

	pair(&c, &s, cctx, sctx, &plain);
	ck_assert_int_eq(tls_session_write(s.s, "x", 1), 0);
	run(&c, &s, 0);
	end_free(&c);
	end_free(&s);
	c2 = ctx_none(fx.trust);
	s2 = ctx_one(L_EXAMPLE, fx.trust);
	tls_ctx_inherit(c2, cctx);
	tls_ctx_inherit(s2, sctx);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
	pair(&c, &s, c2, s2, &plain);
	assert_up(&c, &s);
	ck_assert(tls_session_is_resumed(c.s));
	ck_assert(tls_session_is_resumed(s.s));
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(c2);
	tls_ctx_unref(s2);
}
END_TEST

/* SNI picks the right certificate among three domains (one per file);
 * without a matching SNI the stream's 'to' decides. */
struct sni_case {
	const char *remote, *to, *expect;
};

static const struct sni_case sni_cases[] = {
    {"a.example", NULL, "a.example"},
    {"b.example", "c.example", "b.example"},
    {"c.example", NULL, "c.example"},
    {"unknown.example", "b.example", "b.example"},
    {"unknown.example", NULL, "a.example"},
};

START_TEST(test_sni)
{
	const struct sni_case *k = &sni_cases[_i];
	enum leaf three[] = {L_SNI_A, L_SNI_B, L_SNI_C};
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_make(three, 3, fx.trust, NULL);
	struct pair_opts o = {"client.test", k->remote, k->to, false, 0};
	struct end c = {0}, s = {0};
	const char *others[] = {"a.example", "b.example", "c.example"};
	char why[256];
	size_t i;

	ck_assert(tls_ctx_covers(sctx, "b.example"));
	ck_assert(!tls_ctx_covers(sctx, "d.example"));
	pair(&c, &s, cctx, sctx, &o);
	assert_up(&c, &s);
	ck_assert_str_eq(tls_session_sni(s.s), k->remote);
	ck_assert_int_eq(tls_session_verify_name(c.s, k->expect, why,
	                                         sizeof(why)), 0);
	for (i = 0; i < 3; i++)
		if (strcmp(others[i], k->expect) != 0)
			ck_assert_int_eq(tls_session_verify_name(c.s, others[i],
			                                         NULL, 0),
			                 S2SD_ETLS_NAME);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* Direct TLS (XEP-0368) agrees on ALPN xmpp-server; STARTTLS sends none.
 * A direct-TLS server also takes clients that send no ALPN. */
START_TEST(test_alpn)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct pair_opts o = plain;
	struct end c = {0}, s = {0};
	struct tls_session_cbs cc = end_cbs(&c), sc = end_cbs(&s);

	o.direct = true;
	pair(&c, &s, cctx, sctx, &o);
	assert_up(&c, &s);
	ck_assert(tls_session_alpn_xmpp(c.s));
	ck_assert(tls_session_alpn_xmpp(s.s));
	end_free(&c);
	end_free(&s);
	ck_assert_int_eq(tls_session_new_client(cctx, NULL, "example.com",
	                                        false, 0, &cc, &c.s), 0);
	ck_assert_int_eq(tls_session_new_server(sctx, NULL, true, 0, &sc,
	                                        &s.s), 0);
	tls_session_start(s.s);
	tls_session_start(c.s);
	run(&c, &s, 0);
	assert_up(&c, &s);
	ck_assert(!tls_session_alpn_xmpp(c.s));
	ck_assert(!tls_session_alpn_xmpp(s.s));
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* TLS 1.0 and 1.1 are refused by default; the same client handshakes with
 * a server configured to allow them, so the refusal is ours. */
#define OLD_ONLY "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0"

START_TEST(test_old_versions_refused)
{
	enum leaf sl = L_EXAMPLE;
	struct tls_ctx *cctx = ctx_make(NULL, 0, fx.trust, OLD_ONLY);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct tls_ctx *lax = ctx_make(&sl, 1, fx.trust,
	                               "NORMAL:+VERS-TLS1.1:+VERS-TLS1.0");
	struct end c = {0}, s = {0};

	pair(&c, &s, cctx, sctx, &plain);
	ck_assert_int_eq(c.hs, S2SD_ETLS_HANDSHAKE);
	ck_assert_int_eq(s.hs, S2SD_ETLS_HANDSHAKE);
	ck_assert_int_eq(c.hs_calls, 1);
	ck_assert_int_eq(s.hs_calls, 1);
	/* Metrics: a version mismatch is a protocol failure on both sides;
	 * certificate trouble is told apart (our errors and peer alerts). */
	ck_assert_str_eq(tls_session_fail_class(c.s), "protocol");
	ck_assert_str_eq(tls_session_fail_class(s.s), "protocol");
	ck_assert_str_eq(tls__fail_class(NULL, GNUTLS_E_CERTIFICATE_ERROR),
	                 "certificate");
	ck_assert_str_eq(tls__fail_class(NULL, GNUTLS_E_NO_CERTIFICATE_FOUND),
	                 "certificate");
	ck_assert_str_eq(tls__fail_class(NULL, GNUTLS_E_DECRYPTION_FAILED),
	                 "protocol");
	end_free(&c);
	end_free(&s);
	pair(&c, &s, cctx, lax, &plain);
	assert_up(&c, &s);
	ck_assert_str_eq(tls_session_version(c.s), "TLS1.1");
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
	tls_ctx_unref(lax);
}
END_TEST

/* ---- renegotiation, against a bare GnuTLS peer ------------------------- */

/* A GnuTLS TLS 1.2 peer on memory buffers, for what our API never does:
 * renegotiate. */
struct raw {
	gnutls_session_t gs;
	gnutls_certificate_credentials_t cred;
	struct util_buf in, out;        /* from / to our session */
	size_t off;
};

static ssize_t
raw_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	util_buf_append(&((struct raw *)p)->out, buf, len);
	return (ssize_t)len;
}

static ssize_t
raw_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct raw *r = p;
	size_t n = r->in.len - r->off;

	if (n == 0) {
		gnutls_transport_set_errno(r->gs, EAGAIN);
		return -1;
	}
	n = n < len ? n : len;
	memcpy(buf, r->in.data + r->off, n);
	r->off += n;
	return (ssize_t)n;
}

static void
raw_init(struct raw *r, bool server)
{
	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(gnutls_certificate_allocate_credentials(&r->cred), 0);
	if (server)
		ck_assert_int_ge(gnutls_certificate_set_x509_key_file(
		                     r->cred, fx.crt[L_EXAMPLE], fx.key[L_EXAMPLE],
		                     GNUTLS_X509_FMT_PEM), 0);
	ck_assert_int_eq(gnutls_init(&r->gs, (server ? GNUTLS_SERVER
	                                             : GNUTLS_CLIENT) |
	                                         GNUTLS_NONBLOCK), 0);
	ck_assert_int_eq(gnutls_priority_set_direct(
	                     r->gs, "NORMAL:-VERS-ALL:+VERS-TLS1.2", NULL), 0);
	ck_assert_int_eq(gnutls_credentials_set(r->gs, GNUTLS_CRD_CERTIFICATE,
	                                        r->cred), 0);
	gnutls_transport_set_ptr(r->gs, r);
	gnutls_transport_set_push_function(r->gs, raw_push);
	gnutls_transport_set_pull_function(r->gs, raw_pull);
}

static void
raw_free(struct raw *r)
{
	gnutls_deinit(r->gs);
	gnutls_certificate_free_credentials(r->cred);
	util_buf_free(&r->in);
	util_buf_free(&r->out);
}

/* Move bytes both ways once; R's handshake runs while HS is set. */
static int
raw_step(struct raw *r, struct end *e, bool hs)
{
	int rc = GNUTLS_E_AGAIN;

	util_buf_append(&r->in, e->wire.data, e->wire.len);
	if (e->wire.len > 0)
		tls_session_sent(e->s, e->wire.len);
	util_buf_reset(&e->wire);
	if (hs)
		rc = gnutls_handshake(r->gs);
	if (r->out.len > 0) {
		tls_session_feed(e->s, r->out.data, r->out.len);
		util_buf_reset(&r->out);
	}
	return rc;
}

static void
raw_handshake(struct raw *r, struct end *e)
{
	int rc, i;

	for (i = 0; i < 20; i++)
		if ((rc = raw_step(r, e, true)) == 0)
			break;
	ck_assert_int_eq(rc, 0);
	raw_step(r, e, false);
	ck_assert_int_eq(e->hs, 0);
	ck_assert_int_eq(e->hs_calls, 1);
}

/* After a refused renegotiation both ends still exchange data. */
static void
raw_exchange(struct raw *r, struct end *e)
{
	char buf[64];
	ssize_t n;

	ck_assert_int_eq(gnutls_record_send(r->gs, "ping", 4), 4);
	ck_assert_int_eq(tls_session_write(e->s, "pong", 4), 0);
	raw_step(r, e, false);
	ck_assert_uint_eq(e->rx.len, 4);
	ck_assert(memcmp(e->rx.data, "ping", 4) == 0);
	do
		n = gnutls_record_recv(r->gs, buf, sizeof(buf));
	while (n == GNUTLS_E_WARNING_ALERT_RECEIVED);
	ck_assert_int_eq(n, 4);
	ck_assert(memcmp(buf, "pong", 4) == 0);
	ck_assert_int_eq(e->closed_calls, 0);
}

/* The peer's server asks us (client) to renegotiate: we decline with a
 * no_renegotiation warning and the session goes on. */
START_TEST(test_renegotiation_server_asks)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_session_cbs cc;
	struct end c = {0};
	struct raw r;
	int rc;

	raw_init(&r, true);
	cc = end_cbs(&c);
	ck_assert_int_eq(tls_session_new_client(cctx, NULL, "example.com",
	                                        false, 0, &cc, &c.s), 0);
	ck_assert_int_eq(tls_session_start(c.s), 0);
	raw_handshake(&r, &c);
	ck_assert_str_eq(tls_session_version(c.s), "TLS1.2");
	ck_assert_int_eq(gnutls_rehandshake(r.gs), 0);
	raw_step(&r, &c, false);        /* HelloRequest to us */
	rc = raw_step(&r, &c, true);    /* our answer to the peer */
	ck_assert_int_eq(rc, GNUTLS_E_WARNING_ALERT_RECEIVED);
	ck_assert_int_eq(gnutls_alert_get(r.gs), GNUTLS_A_NO_RENEGOTIATION);
	raw_exchange(&r, &c);
	raw_free(&r);
	end_free(&c);
	tls_ctx_unref(cctx);
}
END_TEST

/* The peer's client starts a renegotiation with us (server): GnuTLS would
 * run that handshake on our next read, so the session ends, with a fatal
 * no_renegotiation alert and a clear reason. */
START_TEST(test_renegotiation_client_asks)
{
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, fx.trust);
	struct tls_session_cbs sc;
	struct end s = {0};
	struct raw r;
	int rc, i;

	raw_init(&r, false);
	sc = end_cbs(&s);
	ck_assert_int_eq(tls_session_new_server(sctx, NULL, false, 0, &sc,
	                                        &s.s), 0);
	ck_assert_int_eq(tls_session_start(s.s), 0);
	raw_handshake(&r, &s);
	for (i = 0, rc = GNUTLS_E_AGAIN; i < 5 && rc == GNUTLS_E_AGAIN; i++)
		rc = raw_step(&r, &s, true);
	ck_assert_int_eq(rc, GNUTLS_E_FATAL_ALERT_RECEIVED);
	ck_assert_int_eq(gnutls_alert_get(r.gs), GNUTLS_A_NO_RENEGOTIATION);
	ck_assert_int_eq(s.closed_calls, 1);
	ck_assert_int_eq(s.closed, S2SD_ETLS);
	ck_assert_str_eq(tls_session_error(s.s),
	                 "peer asked to renegotiate (refused)");
	ck_assert_int_eq(tls_session_write(s.s, "x", 1), S2SD_ETLS);
	raw_free(&r);
	end_free(&s);
	tls_ctx_unref(sctx);
}
END_TEST

/* ---- verification matrix ----------------------------------------------- */

enum { T_ROOT, T_PIN, T_CRL, T_EMPTY };

struct vcase {
	enum leaf cert;         /* what the server presents */
	int trust;              /* the client's trust store */
	const char *domain;     /* the client's reference identity */
	int chain;
	const char *chain_why;
	int name;
	const char *name_why;
};

static const struct vcase vcases[] = {
    {L_EXAMPLE, T_ROOT, "example.com", 0, NULL, 0, NULL},
    {L_EXAMPLE, T_ROOT, "EXAMPLE.com", 0, NULL, 0, NULL},
    {L_WILD, T_ROOT, "a.example.com", 0, NULL, 0, NULL},
    {L_WILD, T_ROOT, "example.com", 0, NULL, S2SD_ETLS_NAME,
     "wildcard *.example.com does not cover example.com itself"},
    {L_WILD, T_ROOT, "conference.a.example.com", 0, NULL, S2SD_ETLS_NAME,
     "wildcard *.example.com covers one label only, not "
     "conference.a.example.com"},
    {L_XMPP, T_ROOT, "example.com", 0, NULL, 0, NULL},
    {L_XMPP, T_ROOT, "a.example.com", 0, NULL, S2SD_ETLS_NAME,
     "certificate names XmppAddr:example.com but not a.example.com"},
    {L_SRV, T_ROOT, "example.com", 0, NULL, 0, NULL},
    {L_SRV, T_ROOT, "example.org", 0, NULL, S2SD_ETLS_NAME,
     "SRV-ID:_xmpp-server.example.com but not example.org"},
    {L_WRONG, T_ROOT, "example.com", 0, NULL, S2SD_ETLS_NAME,
     "certificate names DNS:other.org but not example.com"},
    {L_EXPIRED, T_ROOT, "example.com", S2SD_ETLS_EXPIRED,
     "certificate expired on 20", 0, NULL},
    {L_FUTURE, T_ROOT, "example.com", S2SD_ETLS_NOT_YET_VALID,
     "certificate is not valid before 20", 0, NULL},
    {L_UNKNOWN, T_ROOT, "example.com", S2SD_ETLS_UNKNOWN_ISSUER,
     "issuer CN=Other Root is not in the trust store", 0, NULL},
    {L_SELF, T_ROOT, "example.com", S2SD_ETLS_UNKNOWN_ISSUER,
     "self-signed certificate CN=example.com is not pinned in the trust "
     "store", 0, NULL},
    {L_SELF, T_PIN, "example.com", 0, NULL, 0, NULL},
    {L_INTER, T_ROOT, "example.com", 0, NULL, 0, NULL},
    {L_INTER_NOCHAIN, T_ROOT, "example.com", S2SD_ETLS_UNKNOWN_ISSUER,
     "issuer CN=s2sd Test Intermediate is not in the trust store", 0, NULL},
    {L_EXAMPLE, T_EMPTY, "example.com", S2SD_ETLS_UNKNOWN_ISSUER,
     "issuer CN=s2sd Test Root is not in the trust store", 0, NULL},
    {L_CNONLY, T_ROOT, "example.com", 0, NULL, 0, NULL},
    {L_CNONLY, T_ROOT, "example.org", 0, NULL, S2SD_ETLS_NAME,
     "certificate names CN:example.com but not example.org"},
    {L_CNSAN, T_ROOT, "example.com", 0, NULL, S2SD_ETLS_NAME,
     "CN example.com is ignored because the certificate has "
     "subjectAltName"},
    {L_REVOKED, T_CRL, "example.com", S2SD_ETLS_REVOKED, "revoked", 0,
     NULL},
    {L_REVOKED, T_ROOT, "example.com", 0, NULL, 0, NULL},
    {L_EXAMPLE, T_CRL, "example.com", 0, NULL, 0, NULL},
    {L_SHA1, T_ROOT, "example.com", S2SD_ETLS_INSECURE,
     "insecure algorithm", 0, NULL},
};

static const char *
trust_dir(int t)
{
	switch (t) {
	case T_PIN:
		return fx.trust_pin;
	case T_CRL:
		return fx.trust_crl;
	case T_EMPTY:
		return fx.trust_empty;
	default:
		return fx.trust;
	}
}

static void
assert_verdict(struct tls_session *s, const char *domain, int chain,
               const char *chain_why, int name, const char *name_why)
{
	char why[256];
	int rc;

	rc = tls_session_verify_chain(s, why, sizeof(why));
	ck_assert_msg(rc == chain, "chain %s (%s), want %s", err_name(rc), why,
	              err_name(chain));
	if (chain_why != NULL)
		ck_assert_msg(strstr(why, chain_why) != NULL, "'%s' lacks '%s'",
		              why, chain_why);
	/* Cached: the same answer again. */
	ck_assert_int_eq(tls_session_verify_chain(s, NULL, 0), chain);
	rc = tls_session_verify_name(s, domain, why, sizeof(why));
	ck_assert_msg(rc == name, "name %s (%s), want %s", err_name(rc), why,
	              err_name(name));
	if (name_why != NULL)
		ck_assert_msg(strstr(why, name_why) != NULL, "'%s' lacks '%s'",
		              why, name_why);
}

/* The client verifies the server. */
START_TEST(test_verify_outbound)
{
	const struct vcase *k = &vcases[_i];
	struct tls_ctx *cctx = ctx_none(trust_dir(k->trust));
	struct tls_ctx *sctx = ctx_one(k->cert, fx.trust);
	struct pair_opts o = plain;
	struct end c = {0}, s = {0};

	o.remote = k->domain;
	pair(&c, &s, cctx, sctx, &o);
	/* Verification never breaks the handshake: that is the caller's
	 * decision (dialback may still authenticate the peer). */
	assert_up(&c, &s);
	assert_verdict(c.s, k->domain, k->chain, k->chain_why, k->name,
	               k->name_why);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* The server verifies the client's certificate, for the server purpose:
 * a serverAuth-only certificate (what public CAs issue since 2026) passes,
 * a clientAuth-only one does not. */
static const struct vcase inbound_cases[] = {
    {L_CLIENT, T_ROOT, "client.test", 0, NULL, 0, NULL},
    {L_CLIENTONLY, T_ROOT, "client.test", S2SD_ETLS_PURPOSE,
     "is not for TLS server use", 0, NULL},
    {L_EXPIRED, T_ROOT, "example.com", S2SD_ETLS_EXPIRED,
     "certificate expired on", 0, NULL},
    {L_SELF, T_PIN, "example.com", 0, NULL, 0, NULL},
    {L_WILD, T_ROOT, "a.b.example.com", 0, NULL, S2SD_ETLS_NAME,
     "covers one label only"},
};

START_TEST(test_verify_inbound)
{
	const struct vcase *k = &inbound_cases[_i];
	struct tls_ctx *cctx = ctx_one(k->cert, fx.trust);
	struct tls_ctx *sctx = ctx_one(L_EXAMPLE, trust_dir(k->trust));
	struct end c = {0}, s = {0};

	pair(&c, &s, cctx, sctx, &plain);
	assert_up(&c, &s);
	assert_verdict(s.s, k->domain, k->chain, k->chain_why, k->name,
	               k->name_why);
	end_free(&c);
	end_free(&s);
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
}
END_TEST

/* A reload installs a new trust store: sessions started before keep the
 * old one (and its verdict), new sessions use the new one. */
START_TEST(test_trust_reload)
{
	struct tls_ctx *cctx = ctx_none(fx.trust);
	struct tls_ctx *sctx = ctx_one(L_SELF, fx.trust);
	struct tls_trust *pin;
	struct end c1 = {0}, s1 = {0}, c2 = {0}, s2 = {0};
	char why[256];

	pair(&c1, &s1, cctx, sctx, &plain);
	ck_assert_int_eq(tls_trust_load(fx.trust_pin, false, &pin, why,
	                                sizeof(why)), 0);
	ck_assert_uint_eq(tls_trust_ndir(pin), 2);
	tls_ctx_set_trust(cctx, pin);
	tls_trust_unref(pin);
	pair(&c2, &s2, cctx, sctx, &plain);
	ck_assert_int_eq(tls_session_verify_chain(c1.s, NULL, 0),
	                 S2SD_ETLS_UNKNOWN_ISSUER);
	ck_assert_int_eq(tls_session_verify_chain(c2.s, NULL, 0), 0);
	ck_assert_ptr_eq(tls_ctx_trust(cctx), pin);
	/* The context may go first: sessions hold their references. */
	tls_ctx_unref(cctx);
	tls_ctx_unref(sctx);
	ck_assert_int_eq(tls_session_write(c1.s, "x", 1), 0);
	run(&c1, &s1, 0);
	ck_assert_str_eq(s1.rx.data, "x");
	end_free(&c1);
	end_free(&s1);
	end_free(&c2);
	end_free(&s2);
}
END_TEST

/* ---- contexts and trust stores: errors ---------------------------------- */

START_TEST(test_ctx_errors)
{
	const char *crt[] = {fx.crt[L_EXAMPLE]}, *key[] = {fx.key[L_WRONG]};
	const char *nofile[] = {"/nonexistent/s2sd.crt"};
	struct tls_ctx_config cfg = {.cert_files = crt, .ncerts = 1,
	                             .key_files = key, .nkeys = 1,
	                             .trust_dir = fx.trust};
	struct tls_ctx *ctx = NULL;
	char why[512];

	ck_assert_int_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)),
	                 S2SD_ETLS_CREDS);
	ck_assert_msg(strstr(why, "does not match the certificate") != NULL,
	              "%s", why);
	ck_assert_ptr_null(ctx);
	cfg.cert_files = nofile;
	ck_assert_int_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)), -ENOENT);
	ck_assert_msg(strstr(why, "/nonexistent/s2sd.crt") != NULL, "%s", why);
	cfg.cert_files = key;   /* a key is no certificate */
	ck_assert_int_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)),
	                 S2SD_ETLS_CREDS);
	cfg.cert_files = crt;
	key[0] = fx.key[L_EXAMPLE];
	cfg.priority = "NORMAL:+NO-SUCH-THING";
	ck_assert_int_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)),
	                 S2SD_ECONFIG);
	ck_assert_msg(strstr(why, "NO-SUCH-THING") != NULL, "%s", why);
	cfg.priority = NULL;
	cfg.trust_dir = "/nonexistent";
	ck_assert_int_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)), -ENOENT);
	cfg.trust_dir = fx.trust;
	cfg.nkeys = 0;
	ck_assert_int_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)),
	                 S2SD_ECONFIG);
	ck_assert_msg(strstr(why, "1 certificate files but 0 key files") !=
	              NULL, "%s", why);
	cfg.nkeys = 1;
	ck_assert_int_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)), 0);
	tls_ctx_unref(ctx);
}
END_TEST

START_TEST(test_trust_errors)
{
	char *dir = testcert_tmpdir(), *p, why[512];
	struct tls_trust *t = NULL;
	const struct testcert *rev[] = {fx.leaf[L_REVOKED]};
	char *pem;

	/* Files without a known extension are ignored (README, hash links). */
	p = testcert_write_file(dir, "README", "not a certificate");
	free(p);
	p = testcert_write_file(dir, "0a1b2c3d.0", "junk");
	free(p);
	ck_assert_int_eq(tls_trust_load(dir, false, &t, why, sizeof(why)), 0);
	ck_assert_uint_eq(tls_trust_ndir(t), 0);
	tls_trust_unref(t);
	/* A CRL from an untrusted CA is refused, not silently ignored. */
	pem = testcert_crl_pem(fx.other, rev, 1);
	p = testcert_write_file(dir, "other.crl", pem);
	free(p);
	free(pem);
	t = NULL;
	ck_assert_int_eq(tls_trust_load(dir, false, &t, why, sizeof(why)),
	                 S2SD_ETLS_CREDS);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(why, "other.crl") != NULL, "%s", why);
	testcert_rmdir(dir);
	dir = testcert_tmpdir();
	p = testcert_write_file(dir, "broken.pem", "-----BEGIN CERTIFICATE-----"
	                        "\nAAAA\n-----END CERTIFICATE-----\n");
	free(p);
	ck_assert_int_eq(tls_trust_load(dir, false, &t, why, sizeof(why)),
	                 S2SD_ETLS_CREDS);
	ck_assert_msg(strstr(why, "broken.pem") != NULL, "%s", why);
	testcert_rmdir(dir);
	ck_assert_int_eq(tls_trust_load(fx.trust_crl, false, &t, why,
	                                sizeof(why)), 0);
	ck_assert_uint_eq(tls_trust_ncrl(t), 1);
	ck_assert_int_eq(tls_trust_verify_file(t, fx.crt[L_REVOKED], why,
	                                       sizeof(why)),
	                 S2SD_ETLS_REVOKED);
	ck_assert_int_eq(tls_trust_verify_file(t, fx.crt[L_INTER], why,
	                                       sizeof(why)), 0);
	tls_trust_unref(t);
}
END_TEST

/* The system bundle (package ca-certificates) adds public roots; our test
 * root is only in the directory. */
START_TEST(test_trust_system)
{
	struct tls_ctx_config cfg = {.system_ca = true};
	struct tls_trust *t;
	struct tls_ctx *ctx;
	char why[256];

	ck_assert_msg(tls_trust_load(fx.trust, true, &t, why, sizeof(why)) == 0,
	              "%s", why);
	ck_assert_uint_ge(tls_trust_nsystem(t), 50);
	ck_assert_uint_eq(tls_trust_ndir(t), 1);
	ck_assert_int_eq(tls_trust_verify_file(t, fx.crt[L_EXAMPLE], why,
	                                       sizeof(why)), 0);
	tls_trust_unref(t);
	ck_assert_int_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)), 0);
	ck_assert_uint_ge(tls_trust_nsystem(tls_ctx_trust(ctx)), 50);
	ck_assert_int_eq(tls_trust_verify_file(tls_ctx_trust(ctx),
	                                       fx.crt[L_EXAMPLE], why,
	                                       sizeof(why)),
	                 S2SD_ETLS_UNKNOWN_ISSUER);
	tls_ctx_unref(ctx);
}
END_TEST

/* ---- suite ------------------------------------------------------------- */

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("session");
	TCase *tv = tcase_create("verify");

	tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_handshake_and_data);
	tcase_add_test(tc, test_idle_release);
	tcase_add_test(tc, test_verify_cache);
	tcase_add_loop_test(tc, test_splits, 0, UTIL_ARRAY_LEN(splits));
	tcase_add_test(tc, test_echo_reentrant);
	tcase_add_test(tc, test_close_notify);
	tcase_add_test(tc, test_not_connected);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_feed_before_start);
	tcase_add_test(tc, test_write_from_send);
	tcase_add_test(tc, test_free_in_callback);
	tcase_add_test(tc, test_hold_output);
	tcase_add_test(tc, test_read_stop);
	tcase_add_loop_test(tc, test_resumption, 0,
	                    UTIL_ARRAY_LEN(resume_prio));
	tcase_add_test(tc, test_resumption_across_reload);
	tcase_add_loop_test(tc, test_sni, 0, UTIL_ARRAY_LEN(sni_cases));
	tcase_add_test(tc, test_alpn);
	tcase_add_test(tc, test_old_versions_refused);
	tcase_add_test(tc, test_renegotiation_server_asks);
	tcase_add_test(tc, test_renegotiation_client_asks);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(tv, fx_setup, fx_teardown);
	tcase_set_timeout(tv, 60);
	tcase_add_loop_test(tv, test_verify_outbound, 0,
	                    UTIL_ARRAY_LEN(vcases));
	tcase_add_loop_test(tv, test_verify_inbound, 0,
	                    UTIL_ARRAY_LEN(inbound_cases));
	tcase_add_test(tv, test_trust_reload);
	tcase_add_test(tv, test_ctx_errors);
	tcase_add_test(tv, test_trust_errors);
	tcase_add_test(tv, test_trust_system);
	suite_add_tcase(s, tv);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tls_suite());
	int failed;

	/* Every log line is formatted (trace), none is shown. */
	log_open(LOG_DEST_FILE, "/dev/null", NULL);
	log_set_level(-1, LOG_LEVEL_TRACE);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	log_close();
	return failed == 0 ? 0 : 1;
}
