/* check_cluster_link.c - the router-to-router link protocol: two cores
 * joined in memory (whole, byte by byte), hello checks, summaries with the
 * dialback digest, attach/detach, forwards with acknowledgements, what is
 * left unacknowledged when the link is lost, and hostile input. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "router/cluster_link.h"
#include "tests/lib/testutil.h"
#include "xmpp/stanza.h"

struct side {
	struct cluster_link *l;
	struct util_buf out;            /* bytes for the other side */
	const char *expect;             /* hello must name this node */
	int hellos, closed, err;
	char why[128];
	bool got_summary;
	bool fed, has_db, db_same;
	char policy[80];
	char homes[256];                /* "+x -y " */
	int stanzas;
	char last_home[64], last_origin[64], last_body[64];
	bool last_remote;
};

static void
on_send(void *arg, const char *buf, size_t len)
{
	struct side *s = arg;

	util_buf_append(&s->out, buf, len);
}

static int
on_hello(void *arg, const char *node)
{
	struct side *s = arg;

	s->hellos++;
	return s->expect == NULL || strcmp(node, s->expect) == 0 ? 0 : -EPERM;
}

static void
on_summary(void *arg, const struct cluster_summary *sum)
{
	struct side *s = arg;

	s->got_summary = true;
	s->fed = sum->federation;
	s->has_db = sum->has_dialback;
	s->db_same = sum->dialback_same;
	snprintf(s->policy, sizeof(s->policy), "%s %s %s", sum->security,
	         sum->policy_default, sum->policy_digest);
}

static void
on_home(void *arg, const char *home, bool attached)
{
	struct side *s = arg;
	size_t n = strlen(s->homes);

	snprintf(s->homes + n, sizeof(s->homes) - n, "%c%s ",
	         attached ? '+' : '-', home);
}

static void
on_stanza(void *arg, const char *home, const char *origin, struct stanza *st)
{
	struct side *s = arg;
	struct stanza *body = stanza_child(st, NULL, "body");
	char *text = body != NULL ? stanza_text(body) : xstrdup("");

	s->stanzas++;
	s->last_remote = home == NULL;
	snprintf(s->last_home, sizeof(s->last_home), "%s", home ? home : "-");
	snprintf(s->last_origin, sizeof(s->last_origin), "%s",
	         origin ? origin : "-");
	snprintf(s->last_body, sizeof(s->last_body), "%s", text);
	free(text);
	stanza_free(st);
}

static void
on_closed(void *arg, int err, const char *why)
{
	struct side *s = arg;

	s->closed++;
	s->err = err;
	snprintf(s->why, sizeof(s->why), "%s", why);
}

static const struct cluster_link_cbs cbs = {on_send, on_hello, on_summary,
                                            on_home, on_stanza, on_closed};

static void
side_init(struct side *s, const char *local, const char *expect,
          uint8_t nonce_byte)
{
	struct cluster_link_opts o = {0};
	uint8_t nonce[16];

	memset(s, 0, sizeof(*s));
	memset(nonce, nonce_byte, sizeof(nonce));
	o.local = local;
	o.nonce = nonce;
	o.max_unacked = 3;
	s->expect = expect;
	s->l = cluster_link_new(&o, &cbs, s);
}

static void
side_free(struct side *s)
{
	cluster_link_free(s->l);
	util_buf_free(&s->out);
}

/* Move what FROM wrote into TO: whole, or byte by byte when SPLIT. */
static void
pump_one(struct side *from, struct side *to, bool split)
{
	struct util_buf b = from->out;
	size_t i;

	memset(&from->out, 0, sizeof(from->out));
	if (b.len == 0)
		return;
	if (!split)
		cluster_link_input(to->l, b.data, b.len);
	else
		for (i = 0; i < b.len; i++)
			cluster_link_input(to->l, b.data + i, 1);
	util_buf_free(&b);
}

static void
pump(struct side *a, struct side *b, bool split)
{
	while (a->out.len > 0 || b->out.len > 0) {
		pump_one(a, b, split);
		pump_one(b, a, split);
	}
}

static struct stanza *
msg(const char *to, const char *body)
{
	struct stanza *st = stanza_new("jabber:server", "message");

	stanza_set_attr(st, "from", "u@remote.example");
	stanza_set_attr(st, "to", to);
	stanza_set_attr(st, "type", "chat");
	stanza_add_text(stanza_add_child(st, NULL, "body"), body);
	return st;
}

static void
summary(struct cluster_summary *s, const char *secret, bool fed)
{
	memset(s, 0, sizeof(*s));
	s->federation = fed;
	s->security = "required";
	s->valid_certs = true;
	s->sasl_in = s->sasl_out = true;
	s->policy_default = "deny";
	s->policy_digest = "00ff";
	s->dialback_secret = secret;
}

static void
up(struct side *a, struct side *b, bool split)
{
	side_init(a, "node-a", "node-b", 1);
	side_init(b, "node-b", "node-a", 2);
	cluster_link_start(a->l);
	cluster_link_start(b->l);
	pump(a, b, split);
	ck_assert(cluster_link_is_up(a->l));
	ck_assert(cluster_link_is_up(b->l));
	ck_assert_str_eq(cluster_link_peer(a->l), "node-b");
	ck_assert_str_eq(cluster_link_peer(b->l), "node-a");
}

START_TEST(test_hello_summary)
{
	struct side a, b;
	struct cluster_summary s;

	up(&a, &b, _i == 1);
	summary(&s, "secret-1", true);
	cluster_link_set_summary(a.l, &s);
	summary(&s, "secret-1", false);
	cluster_link_set_summary(b.l, &s);
	pump(&a, &b, _i == 1);
	ck_assert(a.got_summary && b.got_summary);
	ck_assert(!a.fed && b.fed);
	ck_assert(a.has_db && a.db_same && b.has_db && b.db_same);
	ck_assert_str_eq(a.policy, "required deny 00ff");
	/* A reload with another secret: both now see a difference. */
	summary(&s, "secret-2", false);
	cluster_link_set_summary(b.l, &s);
	pump(&a, &b, _i == 1);
	ck_assert(a.has_db && !a.db_same);
	ck_assert(b.db_same);   /* as received, before b's reload */
	ck_assert(!cluster_link_dialback_same(b.l));
	side_free(&a);
	side_free(&b);
}
END_TEST

/* The digest differs on every link: it cannot be replayed or compared
 * with a precomputed table. */
START_TEST(test_dialback_digest_per_link)
{
	struct side a, b;
	struct cluster_summary s;
	char *first, *p;

	up(&a, &b, false);
	summary(&s, "secret-1", true);
	cluster_link_set_summary(a.l, &s);
	first = xstrdup(strstr(a.out.data, "dialback='"));
	ck_assert_ptr_null(strstr(a.out.data, "secret-1"));
	side_free(&a);
	side_free(&b);
	side_init(&a, "node-a", NULL, 7);
	side_init(&b, "node-b", NULL, 2);
	cluster_link_start(a.l);
	cluster_link_start(b.l);
	pump(&a, &b, false);
	cluster_link_set_summary(a.l, &s);
	p = strstr(a.out.data, "dialback='");
	ck_assert_ptr_nonnull(p);
	ck_assert(strncmp(first, p, 74) != 0);
	free(first);
	side_free(&a);
	side_free(&b);
}
END_TEST

START_TEST(test_homes_and_forward)
{
	struct side a, b;
	struct stanza *st;

	up(&a, &b, _i == 1);
	cluster_link_announce(a.l, "home1", true);
	cluster_link_announce(a.l, "home2", true);
	cluster_link_announce(a.l, "home1", false);
	pump(&a, &b, _i == 1);
	ck_assert_str_eq(b.homes, "+home1 +home2 -home1 ");
	ck_assert_int_eq(cluster_link_forward(b.l, "home2", "home9",
	                                      msg("x@local", "one")), 0);
	ck_assert_int_eq(cluster_link_forward(b.l, NULL, NULL,
	                                      msg("y@remote", "two & <3")), 0);
	ck_assert_uint_eq(cluster_link_unacked(b.l), 2);
	pump(&a, &b, _i == 1);
	ck_assert_int_eq(a.stanzas, 2);
	ck_assert(a.last_remote);
	ck_assert_str_eq(a.last_body, "two & <3");
	ck_assert_uint_eq(cluster_link_unacked(b.l), 0);
	ck_assert_uint_eq(cluster_link_forwarded(b.l), 2);
	ck_assert_uint_eq(cluster_link_received(a.l), 2);
	/* The window is bounded: the caller keeps the stanza. */
	ck_assert_int_eq(cluster_link_forward(b.l, "h", NULL, msg("a@l", "1")),
	                 0);
	ck_assert_int_eq(cluster_link_forward(b.l, "h", NULL, msg("a@l", "2")),
	                 0);
	ck_assert_int_eq(cluster_link_forward(b.l, "h", NULL, msg("a@l", "3")),
	                 0);
	st = msg("a@l", "4");
	ck_assert_int_eq(cluster_link_forward(b.l, "h", NULL, st), S2SD_ELIMIT);
	stanza_free(st);
	side_free(&a);
	side_free(&b);
}
END_TEST

/* Lost before the acknowledgement: the sender gets them back in order. */
START_TEST(test_unacked_after_loss)
{
	struct side a, b;
	struct cluster_fwd *f;

	up(&a, &b, false);
	cluster_link_forward(a.l, "home1", NULL, msg("x@l", "m1"));
	pump_one(&a, &b, false);        /* b got m1; its ack is not read */
	util_buf_reset(&b.out);
	cluster_link_forward(a.l, NULL, "home3", msg("x@r", "m2"));
	ck_assert_ptr_null(cluster_link_pop_unacked(a.l));  /* still up */
	cluster_link_eof(a.l, -ECONNRESET);
	ck_assert_int_eq(a.closed, 1);
	ck_assert_int_eq(a.err, -ECONNRESET);
	f = cluster_link_pop_unacked(a.l);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->home, "home1");
	cluster_fwd_free(f);
	f = cluster_link_pop_unacked(a.l);
	ck_assert_ptr_null(f->home);
	ck_assert_str_eq(f->origin, "home3");
	cluster_fwd_free(f);
	ck_assert_ptr_null(cluster_link_pop_unacked(a.l));
	ck_assert_int_eq(cluster_link_forward(a.l, "h", NULL, NULL), -ENOTCONN);
	side_free(&a);
	side_free(&b);
}
END_TEST

START_TEST(test_clean_close)
{
	struct side a, b;

	up(&a, &b, false);
	cluster_link_close(a.l, 0, NULL, NULL);
	pump(&a, &b, false);
	ck_assert_int_eq(a.closed, 1);
	ck_assert_int_eq(b.closed, 1);
	ck_assert_int_eq(b.err, 0);
	side_free(&a);
	side_free(&b);
}
END_TEST

struct bad_case {
	const char *input;      /* after a valid header (and hello if UP) */
	bool after_hello;
	int err;
};

#define HDR "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' " \
            "xmlns='urn:s2sd:cluster:0'>"
#define HELLO "<hello node='node-b' nonce='0102030405060708090a0b0c0d0e0f10'/>"

static const struct bad_case bad_cases[] = {
    {"<fwd seq='1' home='h'><message xmlns='jabber:server'/></fwd>", false,
     S2SD_EPROTO},
    {"<hello node='node-x' nonce='0102030405060708090a0b0c0d0e0f10'/>", false,
     S2SD_EAUTH},
    {"<hello node='bad name' nonce='0102030405060708090a0b0c0d0e0f10'/>",
     false, S2SD_EPROTO},
    {"<hello node='node-b' nonce='xyz'/>", false, S2SD_EPROTO},
    {"<fwd seq='2' home='h'><message xmlns='jabber:server'/></fwd>", true,
     S2SD_EPROTO},
    {"<fwd seq='1' home='h'><foo xmlns='jabber:server'/></fwd>", true,
     S2SD_EPROTO},
    {"<fwd seq='1' home='h' remote='yes'><message xmlns='jabber:server'/>"
     "</fwd>", true, S2SD_EPROTO},
    {"<fwd seq='1'><message xmlns='jabber:server'/></fwd>", true,
     S2SD_EPROTO},
    {"<fwd seq='1' home='h'><message xmlns='jabber:server'/><iq "
     "xmlns='jabber:server'/></fwd>", true, S2SD_EPROTO},
    {"<ack seq='5'/>", true, S2SD_EPROTO},
    {"<ack seq='-1'/>", true, S2SD_EPROTO},
    {"<attach home='../x y'/>", true, S2SD_EPROTO},
    {"<summary federation='maybe'/>", true, S2SD_EPROTO},
    {"<what/>", true, S2SD_EPROTO},
    {"<!DOCTYPE x>", true, S2SD_EXML_MALFORMED},
    {"<?pi x?>", true, S2SD_EXML_RESTRICTED},
    {"</stream:stream>", false, S2SD_EPROTO},
};

START_TEST(test_hostile)
{
	const struct bad_case *c = &bad_cases[_i];
	struct side a;
	struct util_buf in = {0};

	side_init(&a, "node-a", "node-b", 1);
	cluster_link_start(a.l);
	util_buf_puts(&in, HDR);
	if (c->after_hello)
		util_buf_puts(&in, HELLO);
	util_buf_puts(&in, c->input);
	ck_assert_int_eq(cluster_link_input(a.l, in.data, in.len),
	                 S2SD_ESTREAM);
	ck_assert_int_eq(a.closed, 1);
	ck_assert_int_eq(a.err, c->err);
	ck_assert_int_eq(a.stanzas, 0);
	ck_assert_ptr_nonnull(strstr(a.out.data, "</stream:stream>"));
	util_buf_free(&in);
	side_free(&a);
}
END_TEST

START_TEST(test_wrong_namespace)
{
	struct side a;
	const char *in = "<stream:stream xmlns:stream='http://etherx.jabber.org"
	                 "/streams' xmlns='jabber:server'>";

	side_init(&a, "node-a", NULL, 1);
	ck_assert_int_eq(cluster_link_input(a.l, in, strlen(in)), S2SD_ESTREAM);
	ck_assert_int_eq(a.err, S2SD_EXML_NAMESPACE);
	side_free(&a);
}
END_TEST

static Suite *
cluster_link_suite(void)
{
	Suite *s = suite_create("cluster_link");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_hello_summary, 0, 2);
	tcase_add_test(tc, test_dialback_digest_per_link);
	tcase_add_loop_test(tc, test_homes_and_forward, 0, 2);
	tcase_add_test(tc, test_unacked_after_loss);
	tcase_add_test(tc, test_clean_close);
	tcase_add_loop_test(tc, test_hostile, 0, UTIL_ARRAY_LEN(bad_cases));
	tcase_add_test(tc, test_wrong_namespace);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(cluster_link_suite());
}
