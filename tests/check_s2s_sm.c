/* check_s2s_sm.c - XEP-0198 on S2S streams: the counters and queue
 * (s2s_sm), the table of resumable sessions, and two real streams (an
 * initiating and a receiving s2s_stream joined by memory, dialback, fake
 * clock) negotiating, counting, acknowledging, timing out and resuming.
 * The stream scenarios run with the bytes handed over whole and one byte at
 * a time. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "s2s/dialback.h"
#include "s2s/s2s_sm.h"
#include "s2s/s2s_stream.h"
#include "tests/lib/testutil.h"
#include "xmpp/stanza.h"

static struct stanza *
msg(int n)
{
	struct stanza *st = stanza_new("jabber:server", "message");
	char id[16];

	snprintf(id, sizeof(id), "m%d", n);
	stanza_set_attr(st, "from", "alice@a.test");
	stanza_set_attr(st, "to", "bob@b.test");
	stanza_set_attr(st, "id", id);
	return st;
}

/* Stanza N sent: its bytes go to the queue. */
static bool
sent(struct s2s_sm *sm, int n, uint64_t now)
{
	struct stanza *st = msg(n);
	struct util_buf b = {0};
	bool r;

	stanza_serialize(st, "jabber:server", &b);
	r = s2s_sm_sent(sm, b.data, b.len, "a.test", "b.test", now);
	util_buf_free(&b);
	stanza_free(st);
	return r;
}

static const struct s2s_sm_opts sm_opts = {3, 1000, 5000};

/* ---- the counters ---- */

/* The queue keeps the bytes sent; a taken item is parsed back into the
 * same stanza: other namespaces, xml:lang, escaped text and attributes. */
START_TEST(test_bytes_parse_back)
{
	struct s2s_sm *sm = s2s_sm_new(&sm_opts);
	struct stanza *st = msg(7), *x;
	struct util_buf a = {0}, b = {0};
	struct s2s_sm_item *it;

	stanza_set_attr_ns(st, STANZA_NS_XML, "lang", "de");
	stanza_add_text(stanza_add_child(st, NULL, "body"), "a<b & 'c' \"d\"");
	x = stanza_add_child(st, "urn:example:x", "x");
	stanza_set_attr(x, "v", "1 < 2 & 'q'");
	stanza_set_attr_ns(x, "urn:example:attr", "k", "v");
	stanza_add_child(x, "urn:example:y", "y");
	stanza_serialize(st, "jabber:server", &a);
	s2s_sm_sent(sm, a.data, a.len, "a.test", "b.test", 0);
	it = s2s_sm_take(sm);
	ck_assert_ptr_nonnull(it);
	ck_assert_str_eq(it->local, "a.test");
	ck_assert_str_eq(it->remote, "b.test");
	ck_assert_uint_eq(it->seq, 1);
	stanza_serialize(it->st, "jabber:server", &b);
	ck_assert_str_eq(b.data, a.data);
	ck_assert_str_eq(stanza_ns(it->st), "jabber:server");
	ck_assert_str_eq(stanza_attr_ns(it->st, STANZA_NS_XML, "lang"), "de");
	ck_assert_ptr_null(s2s_sm_take(sm));
	s2s_sm_item_free(it);
	stanza_free(st);
	util_buf_free(&a);
	util_buf_free(&b);
	s2s_sm_free(sm);
}
END_TEST

START_TEST(test_count_and_ack)
{
	struct s2s_sm *sm = s2s_sm_new(&sm_opts);
	struct s2s_sm_item *it;
	int i;

	s2s_sm_out_start(sm, 0, 0);
	ck_assert(!sent(sm, 1, 10));
	ck_assert(!sent(sm, 2, 10));
	ck_assert(sent(sm, 3, 10));  /* r */
	s2s_sm_r_sent(sm, 10);
	for (i = 4; i <= 5; i++)
		sent(sm, i, 10);
	ck_assert_uint_eq(s2s_sm_sent_count(sm), 5);
	ck_assert_int_eq(s2s_sm_acked(sm, 3, 20), 3);
	ck_assert_uint_eq(s2s_sm_unacked(sm), 2);
	/* Beyond what was sent, and backwards: refused, nothing changes. */
	ck_assert_int_eq(s2s_sm_acked(sm, 6, 20), -ERANGE);
	ck_assert_int_eq(s2s_sm_acked(sm, 2, 20), -ERANGE);
	ck_assert_uint_eq(s2s_sm_unacked(sm), 2);
	ck_assert_int_eq(s2s_sm_acked(sm, 3, 20), 0);   /* same h again */
	it = s2s_sm_take(sm);
	ck_assert_uint_eq(it->seq, 4);
	ck_assert_str_eq(stanza_attr(it->st, "id"), "m4");
	ck_assert_str_eq(it->local, "a.test");
	s2s_sm_item_free(it);
	s2s_sm_free(sm);
}
END_TEST

START_TEST(test_wraparound)
{
	struct s2s_sm *sm = s2s_sm_new(&sm_opts);
	struct s2s_sm_item *it;
	int i;

	/* A resumed session whose count is about to wrap (mod 2^32). */
	s2s_sm_out_start(sm, UINT32_MAX - 1, 0);
	for (i = 1; i <= 4; i++)
		sent(sm, i, 0);
	ck_assert_uint_eq(s2s_sm_sent_count(sm), 2);
	ck_assert(!s2s_sm_h_valid(sm, UINT32_MAX - 2));
	ck_assert(!s2s_sm_h_valid(sm, 3));
	ck_assert(s2s_sm_h_valid(sm, 0));
	ck_assert_int_eq(s2s_sm_acked(sm, 1, 0), 3);
	it = s2s_sm_take(sm);
	ck_assert_uint_eq(it->seq, 2);
	s2s_sm_item_free(it);
	s2s_sm_in_set_h(sm, UINT32_MAX);
	s2s_sm_in_handled(sm);
	ck_assert_uint_eq(s2s_sm_in_h(sm), 0);
	s2s_sm_free(sm);
}
END_TEST

START_TEST(test_timers)
{
	struct s2s_sm *sm = s2s_sm_new(&sm_opts);

	s2s_sm_out_start(sm, 0, 0);
	ck_assert_uint_eq(s2s_sm_deadline(sm), UINT64_MAX);
	sent(sm, 1, 100);
	/* Unacked data waits ack_interval for an <r/>. */
	ck_assert_uint_eq(s2s_sm_deadline(sm), 1100);
	ck_assert_int_eq(s2s_sm_tick(sm, 1099), S2S_SM_NOTHING);
	ck_assert_int_eq(s2s_sm_tick(sm, 1100), S2S_SM_SEND_R);
	s2s_sm_r_sent(sm, 1100);
	/* Then the answer has ack_timeout. */
	ck_assert_uint_eq(s2s_sm_deadline(sm), 6100);
	ck_assert_int_eq(s2s_sm_tick(sm, 6099), S2S_SM_NOTHING);
	ck_assert_int_eq(s2s_sm_tick(sm, 6100), S2S_SM_DEAD);
	ck_assert_int_eq(s2s_sm_acked(sm, 1, 6000), 1);
	ck_assert_uint_eq(s2s_sm_deadline(sm), UINT64_MAX);
	s2s_sm_free(sm);
}
END_TEST

/* ---- the table ---- */

static bool
authed_b(void *arg, const char *remote)
{
	(void)arg;
	return strcmp(remote, "b.test") == 0;
}

static bool
authed_c(void *arg, const char *remote)
{
	(void)arg;
	return strcmp(remote, "c.test") == 0;
}

START_TEST(test_table)
{
	struct s2s_sm_table *t = s2s_sm_table_new(2);
	const char *rb[] = {"b.test"}, *rbc[] = {"b.test", "c.test"};
	uint32_t h = 0;

	s2s_sm_table_put(t, "id1", 42, rb, 1, 1000, 0);
	/* Bound to b.test: a stream authenticated for c.test may not take
	 * it, and the entry stays for its owner. */
	ck_assert_int_eq(s2s_sm_table_take(t, "id1", authed_c, NULL, &h, 10),
	                 -EPERM);
	ck_assert_int_eq(s2s_sm_table_take(t, "nope", authed_b, NULL, &h, 10),
	                 -ENOENT);
	ck_assert_int_eq(s2s_sm_table_take(t, "id1", authed_b, NULL, &h, 10), 0);
	ck_assert_uint_eq(h, 42);
	ck_assert_int_eq(s2s_sm_table_take(t, "id1", authed_b, NULL, &h, 10),
	                 -ENOENT);
	/* Every domain of the session must be authenticated again. */
	s2s_sm_table_put(t, "id2", 7, rbc, 2, 1000, 0);
	ck_assert_int_eq(s2s_sm_table_take(t, "id2", authed_b, NULL, &h, 10),
	                 -EPERM);
	/* Expiry, and the oldest goes when full. */
	s2s_sm_table_put(t, "id3", 1, rb, 1, 500, 0);
	s2s_sm_table_put(t, "id4", 1, rb, 1, 5000, 0);
	ck_assert_uint_eq(s2s_sm_table_count(t), 2);
	ck_assert_int_eq(s2s_sm_table_take(t, "id2", authed_b, NULL, &h, 10),
	                 -ENOENT);
	ck_assert_int_eq(s2s_sm_table_take(t, "id3", authed_b, NULL, &h, 600),
	                 -ENOENT);
	ck_assert_int_eq(s2s_sm_table_take(t, "id4", authed_b, NULL, &h, 600), 0);
	s2s_sm_table_free(t);
}
END_TEST

/* ---- two streams ---- */

struct side {
	struct s2s_stream *st;
	struct util_buf out;
	struct pair *pair;
	int auths, stanzas, closed, closed_err;
	char closed_why[256];
	char db_local[64], db_remote[64], db_id[64], db_key[80];
	bool db_pending;
};

struct pair {
	struct side out, in;
	struct dialback_secret *secret;
	struct s2s_sm_table *table;     /* the receiving side's sessions */
	const char *resume_id;          /* OUT resumes this when set */
	bool bytewise;
	uint64_t now;
	int resumed, resume_failed;
	uint32_t resumed_h;
};

/* What S wrote and was not handed over yet (returns owned). */
static char *
side_text(const struct side *s)
{
	return xstrndup(s->out.data != NULL ? s->out.data : "", s->out.len);
}

static void
p_send(void *arg, const char *buf, size_t len)
{
	struct side *s = arg;

	util_buf_append(&s->out, buf, len);
}

static void
p_starttls(void *arg)
{
	(void)arg;
	ck_abort_msg("no TLS in these tests");
}

static bool
p_is_local(void *arg, const char *domain)
{
	(void)arg;
	return strcmp(domain, "b.test") == 0;
}

static bool
p_allowed(void *arg, const char *remote, char *why, size_t whylen)
{
	(void)arg;
	(void)remote;
	(void)why;
	(void)whylen;
	return true;
}

static void
p_check_cert(void *arg, const char *domain, struct s2s_cert_check *out)
{
	(void)arg;
	(void)domain;
	out->chain = out->name = S2SD_ETLS_NOCERT;
}

static void
p_authenticated(void *arg, const char *local, const char *remote,
                enum s2s_auth how)
{
	struct side *s = arg;

	(void)local;
	(void)remote;
	(void)how;
	s->auths++;
	if (s == &s->pair->out && s->pair->resume_id != NULL)
		ck_assert_int_eq(s2s_stream_sm_resume(s->st,
		                                      s->pair->resume_id, 0), 0);
}

static void
p_stanza(void *arg, struct stanza *st)
{
	struct side *s = arg;

	s->stanzas++;
	stanza_free(st);
}

static void
p_db_key(void *arg, const char *receiving, const char *originating,
         const char *id, char key[65])
{
	struct side *s = arg;

	dialback_key(s->pair->secret, receiving, originating, id, key);
}

/* Answered after the input call (the stream does not expect it inside). */
static void
p_db_verify(void *arg, const char *local, const char *remote, const char *id,
            const char *key)
{
	struct side *s = arg;

	snprintf(s->db_local, sizeof(s->db_local), "%s", local);
	snprintf(s->db_remote, sizeof(s->db_remote), "%s", remote);
	snprintf(s->db_id, sizeof(s->db_id), "%s", id);
	snprintf(s->db_key, sizeof(s->db_key), "%s", key);
	s->db_pending = true;
}

static void
p_verify_result(void *arg, const char *local, const char *remote,
                const char *id, bool valid, int err)
{
	(void)arg, (void)local, (void)remote, (void)id, (void)valid, (void)err;
}

static void
p_pair_refused(void *arg, const char *local, const char *remote, int err)
{
	(void)arg, (void)local, (void)remote, (void)err;
}

static void
p_closed(void *arg, int err, const char *why)
{
	struct side *s = arg;

	s->closed++;
	s->closed_err = err;
	snprintf(s->closed_why, sizeof(s->closed_why), "%s", why);
}

static const struct s2s_stream_cbs p_cbs = {
    p_send,          p_starttls, p_is_local,  p_allowed,
    p_check_cert,    p_authenticated, p_stanza, p_db_key,
    p_db_verify,     p_verify_result, p_pair_refused, p_closed,
};

static bool
p_has_remote(void *arg, const char *remote)
{
	return s2s_stream_has_remote(arg, remote);
}

/* The receiving side's resume: the production table, bound to the
 * domains authenticated on the new stream. */
static bool
p_sm_resume(void *arg, const char *previd, uint32_t *h)
{
	struct side *s = arg;

	return s2s_sm_table_take(s->pair->table, previd, p_has_remote, s->st, h,
	                         s->pair->now) == 0;
}

static bool
p_sm_resumed(void *arg, const char *previd, uint32_t h)
{
	struct side *s = arg;

	(void)previd;
	s->pair->resumed++;
	s->pair->resumed_h = h;
	return h <= 100;
}

static void
p_sm_failed(void *arg, const char *previd)
{
	struct side *s = arg;

	(void)previd;
	s->pair->resume_failed++;
}

static const struct s2s_stream_sm_cbs p_smcbs = {p_sm_resume, p_sm_resumed,
                                                 p_sm_failed};

static void
side_init(struct pair *p, struct side *s, enum s2s_role role,
          const char *local)
{
	struct s2s_stream_opts o = {0};

	s->pair = p;
	o.role = role;
	o.security = S2S_SEC_NONE;
	o.dialback = true;
	o.local = role == S2S_ROLE_OUT ? local : NULL;
	o.remote = role == S2S_ROLE_OUT ? "b.test" : NULL;
	o.sm = true;
	o.sm_opts = sm_opts;
	o.sm_resume_ms = 60000;
	s->st = s2s_stream_new(&o, &p_cbs, s, p->now);
	s2s_stream_set_sm_cbs(s->st, &p_smcbs);
}

static void
pair_init(struct pair *p, bool bytewise, const char *local)
{
	memset(&p->out, 0, sizeof(p->out));
	memset(&p->in, 0, sizeof(p->in));
	p->bytewise = bytewise;
	side_init(p, &p->out, S2S_ROLE_OUT, local);
	side_init(p, &p->in, S2S_ROLE_IN, NULL);
	s2s_stream_start(p->in.st, p->now);
	s2s_stream_start(p->out.st, p->now);
}

static void
pair_free(struct pair *p)
{
	s2s_stream_free(p->out.st);
	s2s_stream_free(p->in.st);
	util_buf_free(&p->out.out);
	util_buf_free(&p->in.out);
}

/* Move what FROM wrote into TO. */
static bool
pair_move(struct pair *p, struct side *from, struct side *to)
{
	struct util_buf b = from->out;
	size_t i;

	if (b.len == 0)
		return false;
	memset(&from->out, 0, sizeof(from->out));
	if (!p->bytewise)
		s2s_stream_input(to->st, b.data, b.len, p->now);
	else
		for (i = 0; i < b.len; i++)
			s2s_stream_input(to->st, b.data + i, 1, p->now);
	util_buf_free(&b);
	return true;
}

/* Run both sides until neither has anything to say. */
static void
pump(struct pair *p)
{
	bool moved = true;
	struct side *in = &p->in;

	while (moved) {
		moved = pair_move(p, &p->out, &p->in);
		moved = pair_move(p, &p->in, &p->out) || moved;
		if (in->db_pending) {
			in->db_pending = false;
			s2s_stream_dialback_verified(
			    in->st, in->db_local, in->db_remote,
			    dialback_key_check(p->secret, in->db_local,
			                       in->db_remote, in->db_id,
			                       in->db_key), 0, p->now);
			moved = true;
		}
	}
}

static void
send_n(struct pair *p, int from, int n)
{
	struct stanza *st;
	int i;

	for (i = from; i < from + n; i++) {
		st = msg(i);
		s2s_stream_set_time(p->out.st, p->now);
		ck_assert_int_eq(s2s_stream_send_stanza(p->out.st, st), 0);
		stanza_free(st);
	}
}

static struct pair *
pair_new(bool bytewise, const char *local)
{
	struct pair *p = xcalloc(1, sizeof(*p));

	p->secret = dialback_secret_new("s3cret");
	p->table = s2s_sm_table_new(16);
	p->now = 1000;
	pair_init(p, bytewise, local);
	pump(p);
	return p;
}

static void
pair_destroy(struct pair *p)
{
	pair_free(p);
	dialback_secret_free(p->secret);
	s2s_sm_table_free(p->table);
	free(p);
}

/* The receiving side's transport died: keep its session as s2s does. */
static char *
keep_session(struct pair *p)
{
	const char *l, *r, *remotes[1];
	char *id = xstrdup(s2s_stream_sm_id(p->in.st));

	ck_assert(s2s_stream_sm_resumable(p->in.st));
	ck_assert(s2s_stream_pair_at(p->in.st, 0, &l, &r));
	remotes[0] = r;
	s2s_sm_table_put(p->table, id, s2s_stream_sm_h(p->in.st), remotes, 1,
	                 p->now + 60000, p->now);
	return id;
}

START_TEST(test_negotiate_and_ack)
{
	struct pair *p = pair_new(_i == 1, "a.test");

	ck_assert_int_eq(p->out.auths, 1);
	ck_assert(s2s_stream_sm_on(p->out.st));
	ck_assert(s2s_stream_sm_on(p->in.st));
	ck_assert_ptr_nonnull(s2s_stream_sm_id(p->out.st));
	ck_assert_str_eq(s2s_stream_sm_id(p->out.st), s2s_stream_sm_id(p->in.st));
	/* ack_every 3: the third stanza brings an <r/>, the answer acks 3. */
	send_n(p, 1, 4);
	pump(p);
	ck_assert_int_eq(p->in.stanzas, 4);
	ck_assert_uint_eq(s2s_stream_sm_h(p->in.st), 4);
	ck_assert_uint_eq(s2s_stream_sm_unacked(p->out.st), 1);
	/* The fourth gets its <r/> after ack_interval. */
	ck_assert_uint_eq(s2s_stream_deadline(p->out.st), p->now + 1000);
	p->now += 1000;
	s2s_stream_tick(p->out.st, p->now);
	pump(p);
	ck_assert_uint_eq(s2s_stream_sm_unacked(p->out.st), 0);
	/* Nothing left to wait for but the idle parser's compaction. */
	ck_assert_uint_eq(s2s_stream_deadline(p->out.st),
	                  p->now + S2S_STREAM_COMPACT_MS);
	p->now += S2S_STREAM_COMPACT_MS;
	s2s_stream_tick(p->out.st, p->now);
	ck_assert(s2s_stream_is_compact(p->out.st));
	ck_assert_uint_eq(s2s_stream_deadline(p->out.st), UINT64_MAX);
	/* A clean close: IN's final <a/>, nothing to resume. */
	s2s_stream_close(p->out.st, 0, NULL, p->now);
	pump(p);
	ck_assert_int_eq(p->out.closed, 1);
	ck_assert_int_eq(p->out.closed_err, 0);
	ck_assert(!s2s_stream_sm_resumable(p->in.st));
	pair_destroy(p);
}
END_TEST

START_TEST(test_bad_h)
{
	struct pair *p = pair_new(_i == 1, "a.test");
	static const char a[] = "<a xmlns='urn:xmpp:sm:3' h='2'/>";
	char *text;

	send_n(p, 1, 1);
	s2s_stream_input(p->out.st, a, sizeof(a) - 1, p->now);
	ck_assert_int_eq(p->out.closed, 1);
	ck_assert_int_eq(p->out.closed_err, S2SD_EPROTO);
	text = side_text(&p->out);
	ck_assert_ptr_nonnull(strstr(text, "<handled-count-too-high xmlns='urn:"
	                                   "xmpp:sm:3' h='2' send-count='1'/>"));
	ck_assert_ptr_nonnull(strstr(text, "undefined-condition"));
	free(text);
	pair_destroy(p);
}
END_TEST

START_TEST(test_ack_timeout)
{
	struct pair *p = pair_new(_i == 1, "a.test");
	struct s2s_sm_item *it;

	send_n(p, 1, 3);        /* with its <r/>, which is never delivered */
	util_buf_free(&p->out.out);
	ck_assert_uint_eq(s2s_stream_sm_unacked(p->out.st), 3);
	p->now += 5000;
	s2s_stream_tick(p->out.st, p->now);
	ck_assert_int_eq(p->out.closed, 1);
	ck_assert_int_eq(p->out.closed_err, S2SD_ETIMEOUT);
	/* The owner takes the unacknowledged stanzas, in order. */
	it = s2s_stream_sm_take(p->out.st);
	ck_assert_str_eq(stanza_attr(it->st, "id"), "m1");
	s2s_sm_item_free(it);
	pair_destroy(p);
}
END_TEST

START_TEST(test_resume)
{
	struct pair *p = pair_new(_i == 1, "a.test");
	char *id;

	send_n(p, 1, 5);
	pump(p);                /* 3 acked by the <r/> at the third */
	send_n(p, 6, 1);
	/* The connection dies: m6 may or may not have arrived; here it did,
	 * the <a/> for it did not. */
	pair_move(p, &p->out, &p->in);
	util_buf_free(&p->in.out);
	ck_assert_uint_eq(s2s_stream_sm_h(p->in.st), 6);
	id = keep_session(p);
	pair_free(p);
	p->resume_id = id;
	pair_init(p, p->bytewise, "a.test");
	pump(p);
	ck_assert_int_eq(p->resumed, 1);
	ck_assert_uint_eq(p->resumed_h, 6);
	ck_assert_int_eq(p->resume_failed, 0);
	ck_assert(s2s_stream_sm_on(p->in.st));
	/* The numbering goes on from the peer's count. */
	send_n(p, 7, 3);
	pump(p);
	ck_assert_uint_eq(s2s_stream_sm_h(p->in.st), 9);
	ck_assert_uint_eq(s2s_stream_sm_unacked(p->out.st), 0);
	ck_assert_uint_eq(s2s_sm_table_count(p->table), 0);
	free(id);
	pair_destroy(p);
}
END_TEST

START_TEST(test_resume_other_domain)
{
	struct pair *p = pair_new(_i == 1, "a.test");
	char *id;

	send_n(p, 1, 2);
	pump(p);
	id = keep_session(p);
	pair_free(p);
	/* The new stream is authenticated for c.test, not a.test: the
	 * session id alone does not let it take a.test's session. */
	p->resume_id = id;
	pair_init(p, p->bytewise, "c.test");
	pump(p);
	ck_assert_int_eq(p->out.auths, 1);
	ck_assert_int_eq(p->resumed, 0);
	ck_assert_int_eq(p->resume_failed, 1);
	ck_assert_uint_eq(s2s_sm_table_count(p->table), 1);
	/* A fresh session is enabled instead. */
	ck_assert(s2s_stream_sm_on(p->out.st));
	ck_assert_str_ne(s2s_stream_sm_id(p->out.st), id);
	free(id);
	pair_destroy(p);
}
END_TEST

START_TEST(test_resume_unknown)
{
	struct pair *p = pair_new(_i == 1, "a.test");

	pair_free(p);
	/* The peer restarted: it knows no session. */
	p->resume_id = "0123456789abcdef";
	pair_init(p, p->bytewise, "a.test");
	pump(p);
	ck_assert_int_eq(p->resume_failed, 1);
	ck_assert(s2s_stream_sm_on(p->out.st));
	send_n(p, 1, 3);
	pump(p);
	ck_assert_uint_eq(s2s_stream_sm_h(p->in.st), 3);
	ck_assert_uint_eq(s2s_stream_sm_unacked(p->out.st), 0);
	pair_destroy(p);
}
END_TEST

START_TEST(test_enable_before_auth)
{
	struct pair *p = xcalloc(1, sizeof(*p));
	char *text;
	static const char hdr[] =
	    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' "
	    "xmlns:db='jabber:server:dialback' from='a.test' to='b.test' "
	    "version='1.0'><enable xmlns='urn:xmpp:sm:3'/>";

	p->secret = dialback_secret_new("s3cret");
	p->table = s2s_sm_table_new(4);
	side_init(p, &p->in, S2S_ROLE_IN, NULL);
	s2s_stream_start(p->in.st, 0);

	s2s_stream_input(p->in.st, hdr, sizeof(hdr) - 1, 0);
	text = side_text(&p->in);
	ck_assert_ptr_nonnull(strstr(text, "<sm xmlns='urn:xmpp:sm:3'"));
	ck_assert_ptr_nonnull(strstr(text, "<failed xmlns='urn:xmpp:sm:3'>"
	                                   "<unexpected-request"));
	free(text);
	ck_assert(!s2s_stream_sm_on(p->in.st));
	s2s_stream_free(p->in.st);
	util_buf_free(&p->in.out);
	dialback_secret_free(p->secret);
	s2s_sm_table_free(p->table);
	free(p);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("s2s_sm");
	TCase *tc = tcase_create("sm");
	TCase *ts = tcase_create("streams");

	tcase_add_test(tc, test_count_and_ack);
	tcase_add_test(tc, test_bytes_parse_back);
	tcase_add_test(tc, test_wraparound);
	tcase_add_test(tc, test_timers);
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	/* _i 0: bytes handed over whole; 1: one byte at a time. */
	tcase_add_loop_test(ts, test_negotiate_and_ack, 0, 2);
	tcase_add_loop_test(ts, test_bad_h, 0, 2);
	tcase_add_loop_test(ts, test_ack_timeout, 0, 2);
	tcase_add_loop_test(ts, test_resume, 0, 2);
	tcase_add_loop_test(ts, test_resume_other_domain, 0, 2);
	tcase_add_loop_test(ts, test_resume_unknown, 0, 2);
	tcase_add_test(ts, test_enable_before_auth);
	suite_add_tcase(s, ts);
	return testutil_run(s);
}
