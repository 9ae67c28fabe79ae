/* check_tls_psk.c - TLS 1.3 PSK sessions joined in memory: the same key
 * authenticates both ends (identity known to the server), a wrong key or
 * an unknown identity fails on both sides, data flows both ways, the key
 * derivation is deterministic and secret-dependent. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "tests/lib/testutil.h"
#include "tls/tls_psk.h"

struct end {
	struct tls_psk *s;
	struct util_buf out, data;
	int hs, hs_status, closed, closed_status;
	const uint8_t *server_key;      /* the key the server knows */
};

static void
e_send(void *arg, const void *buf, size_t len)
{
	struct end *e = arg;

	util_buf_append(&e->out, buf, len);
}

static void
e_handshake(void *arg, int status)
{
	struct end *e = arg;

	e->hs++;
	e->hs_status = status;
}

static void
e_data(void *arg, const void *buf, size_t len)
{
	struct end *e = arg;

	util_buf_append(&e->data, buf, len);
}

static void
e_closed(void *arg, int status)
{
	struct end *e = arg;

	e->closed++;
	e->closed_status = status;
}

static int
e_key(void *arg, const char *identity, uint8_t key[TLS_PSK_KEY_LEN])
{
	struct end *e = arg;

	if (strcmp(identity, "node-a") != 0)
		return -1;
	memcpy(key, e->server_key, TLS_PSK_KEY_LEN);
	return 0;
}

static void
pump(struct end *c, struct end *s)
{
	struct util_buf b;

	while (c->out.len > 0 || s->out.len > 0) {
		b = c->out;
		memset(&c->out, 0, sizeof(c->out));
		if (b.len > 0)
			tls_psk_feed(s->s, b.data, b.len);
		util_buf_free(&b);
		b = s->out;
		memset(&s->out, 0, sizeof(s->out));
		if (b.len > 0)
			tls_psk_feed(c->s, b.data, b.len);
		util_buf_free(&b);
	}
}

static void
pair(struct end *c, struct end *s, const char *ident, const char *csecret,
     const char *ssecret, uint8_t *ckey, uint8_t *skey)
{
	struct tls_psk_cbs cb = {e_send, e_handshake, e_data, e_closed, e_key,
	                         NULL};

	memset(c, 0, sizeof(*c));
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(tls_psk_derive(csecret, ckey), 0);
	ck_assert_int_eq(tls_psk_derive(ssecret, skey), 0);
	s->server_key = skey;
	cb.arg = c;
	ck_assert_int_eq(tls_psk_new_client(ident, ckey, &cb, 1, &c->s), 0);
	cb.arg = s;
	ck_assert_int_eq(tls_psk_new_server(&cb, 2, &s->s), 0);
	ck_assert_int_eq(tls_psk_start(s->s), 0);
	ck_assert_int_eq(tls_psk_start(c->s), 0);
	pump(c, s);
}

static void
unpair(struct end *c, struct end *s)
{
	tls_psk_free(c->s);
	tls_psk_free(s->s);
	util_buf_free(&c->out);
	util_buf_free(&s->out);
	util_buf_free(&c->data);
	util_buf_free(&s->data);
}

START_TEST(test_ok_and_data)
{
	uint8_t ck[TLS_PSK_KEY_LEN], sk[TLS_PSK_KEY_LEN];
	struct end c, s;

	pair(&c, &s, "node-a", "cluster secret", "cluster secret", ck, sk);
	ck_assert_int_eq(c.hs, 1);
	ck_assert_int_eq(c.hs_status, 0);
	ck_assert_int_eq(s.hs, 1);
	ck_assert_int_eq(s.hs_status, 0);
	ck_assert_str_eq(tls_psk_identity(s.s), "node-a");
	/* Forward secrecy: the PSK is mixed with a fresh (EC)DHE share. */
	ck_assert_str_eq(tls_psk_kx(c.s), "ECDHE-PSK");
	ck_assert_str_eq(tls_psk_kx(s.s), "ECDHE-PSK");
	ck_assert_int_eq(tls_psk_write(c.s, "hello", 5), 0);
	ck_assert_int_eq(tls_psk_write(s.s, "world!", 6), 0);
	pump(&c, &s);
	ck_assert_uint_eq(s.data.len, 5);
	ck_assert(memcmp(s.data.data, "hello", 5) == 0);
	ck_assert_uint_eq(c.data.len, 6);
	tls_psk_close(c.s);
	pump(&c, &s);
	ck_assert_int_eq(s.closed, 1);
	ck_assert_int_eq(s.closed_status, 0);
	ck_assert_int_eq(tls_psk_write(c.s, "x", 1), -EPIPE);
	unpair(&c, &s);
}
END_TEST

/* _i 0: different secrets; 1: an identity the server does not know. */
START_TEST(test_refused)
{
	uint8_t ck[TLS_PSK_KEY_LEN], sk[TLS_PSK_KEY_LEN];
	struct end c, s;

	pair(&c, &s, _i == 0 ? "node-a" : "node-x", "secret one",
	     _i == 0 ? "secret two" : "secret one", ck, sk);
	ck_assert_int_eq(c.hs, 1);
	ck_assert_int_eq(c.hs_status, S2SD_ETLS_HANDSHAKE);
	ck_assert_int_eq(s.hs, 1);
	ck_assert_int_eq(s.hs_status, S2SD_ETLS_HANDSHAKE);
	ck_assert_int_eq(tls_psk_write(c.s, "x", 1), -EPIPE);
	ck_assert_uint_eq(s.data.len, 0);
	ck_assert_str_ne(tls_psk_error(s.s), "");
	unpair(&c, &s);
}
END_TEST

START_TEST(test_derive)
{
	uint8_t a[TLS_PSK_KEY_LEN], b[TLS_PSK_KEY_LEN], c[TLS_PSK_KEY_LEN];

	ck_assert_int_eq(tls_psk_derive("s1", a), 0);
	ck_assert_int_eq(tls_psk_derive("s1", b), 0);
	ck_assert_int_eq(tls_psk_derive("s2", c), 0);
	ck_assert(memcmp(a, b, sizeof(a)) == 0);
	ck_assert(memcmp(a, c, sizeof(a)) != 0);
	ck_assert(memcmp(a, "s1", 2) != 0);
}
END_TEST

START_TEST(test_garbage)
{
	uint8_t ck[TLS_PSK_KEY_LEN], sk[TLS_PSK_KEY_LEN];
	struct end c, s;
	struct tls_psk_cbs cb = {e_send, e_handshake, e_data, e_closed, e_key,
	                         NULL};

	memset(&s, 0, sizeof(s));
	(void)ck;
	tls_psk_derive("x", sk);
	s.server_key = sk;
	cb.arg = &s;
	ck_assert_int_eq(tls_psk_new_server(&cb, 2, &s.s), 0);
	tls_psk_start(s.s);
	tls_psk_feed(s.s, "<stream:stream>", 15);
	ck_assert_int_eq(s.hs, 1);
	ck_assert_int_eq(s.hs_status, S2SD_ETLS_HANDSHAKE);
	memset(&c, 0, sizeof(c));
	unpair(&c, &s);
}
END_TEST

static Suite *
tls_psk_suite(void)
{
	Suite *s = suite_create("tls_psk");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_ok_and_data);
	tcase_add_loop_test(tc, test_refused, 0, 2);
	tcase_add_test(tc, test_derive);
	tcase_add_test(tc, test_garbage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(tls_psk_suite());
}
