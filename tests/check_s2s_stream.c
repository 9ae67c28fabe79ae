/* check_s2s_stream.c - the S2S stream state machine against scripted peers.
 *
 * Every scenario runs twice: the peer's bytes fed whole, then one byte at a
 * time. Both runs must produce the same event log (the random stream id
 * replaced by "ID"), and each run asserts what a peer would see. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "s2s/dialback.h"
#include "s2s/s2s_sasl.h"
#include "s2s/s2s_stream.h"
#include "tests/lib/testutil.h"
#include "xmpp/stanza.h"

#define PEER_HDR(from, to)                                                     \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "           \
	"xmlns:stream='http://etherx.jabber.org/streams' "                    \
	"xmlns:db='jabber:server:dialback' from='" from "' to='" to "' "      \
	"version='1.0'>"
#define OUT_PEER_HDR                                                           \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "           \
	"xmlns:stream='http://etherx.jabber.org/streams' "                    \
	"xmlns:db='jabber:server:dialback' from='a.test' to='b.test' "        \
	"id='peerid1' version='1.0'>"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define FEATURES(x) "<stream:features>" x "</stream:features>"
#define STARTTLS "<starttls xmlns='" NS_TLS "'/>"
#define EXTERNAL                                                               \
	"<mechanisms xmlns='" NS_SASL "'><mechanism>EXTERNAL</mechanism>"      \
	"</mechanisms>"
#define DBFEAT "<dialback xmlns='urn:xmpp:features:dialback'/>"
/* XEP-0478 as we advertise it: the default max_stanza, idle_ms / 1000. */
#define LIMITS                                                                 \
	"<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>524288</max-bytes>" \
	"<idle-seconds>600</idle-seconds></limits>"
#define MSG(from, to)                                                          \
	"<message from='" from "' to='" to "' id='m1'><body>hi</body></message>"

struct harness {
	struct s2s_stream *st;
	struct util_buf out;        /* bytes sent, since the last take */
	struct util_buf log;        /* every event, for the split comparison */
	bool bytewise;
	uint64_t now;
	int starttls, closed, closed_err, auths, verifies, nstanzas;
	int verify_results, verify_err, refused, refused_err;
	bool verify_valid;
	enum s2s_auth auth_how;
	char auth_pair[256], verify_key[80], closed_why[256];
	int cert_chain, cert_name;  /* what check_cert answers */
	const char *deny;           /* a domain the policy denies */
	struct dialback_secret *secret;
};

static void
h_log(struct harness *h, const char *fmt, const char *a, const char *b)
{
	util_buf_printf(&h->log, fmt, a, b);
	util_buf_puts(&h->log, "\n");
}

/* Append TEXT to the log with the stream's current id (random, new on
 * every restart) written as "ID". */
static void
h_log_normalised(struct harness *h, const char *text)
{
	const char *id = h->st != NULL ? s2s_stream_id(h->st) : NULL;
	const char *p = text, *hit;

	while (id != NULL && (hit = strstr(p, id)) != NULL) {
		util_buf_append(&h->log, p, (size_t)(hit - p));
		util_buf_puts(&h->log, "ID");
		p = hit + strlen(id);
	}
	util_buf_puts(&h->log, p);
}

static void
h_send(void *arg, const char *buf, size_t len)
{
	struct harness *h = arg;
	char *copy = xstrndup(buf, len);

	util_buf_append(&h->out, buf, len);
	util_buf_puts(&h->log, "send ");
	h_log_normalised(h, copy);
	util_buf_puts(&h->log, "\n");
	free(copy);
}

static void
h_starttls(void *arg)
{
	struct harness *h = arg;

	h->starttls++;
	h_log(h, "starttls%s%s", "", "");
}

static bool
h_is_local(void *arg, const char *domain)
{
	(void)arg;
	return strcmp(domain, "b.test") == 0 || strcmp(domain, "b2.test") == 0;
}

static bool
h_allowed_in(void *arg, const char *remote, char *why, size_t whylen)
{
	struct harness *h = arg;

	if (h->deny != NULL && strcmp(remote, h->deny) == 0) {
		snprintf(why, whylen, "denied by 'deny %s' (policy:2)", remote);
		return false;
	}
	return true;
}

static void
h_check_cert(void *arg, const char *domain, struct s2s_cert_check *out)
{
	struct harness *h = arg;

	out->chain = h->cert_chain;
	out->name = h->cert_name;
	snprintf(out->why, sizeof(out->why), "checked for %s", domain);
}

static void
h_authenticated(void *arg, const char *local, const char *remote,
                enum s2s_auth how)
{
	struct harness *h = arg;

	h->auths++;
	h->auth_how = how;
	snprintf(h->auth_pair, sizeof(h->auth_pair), "%s %s", local, remote);
	h_log(h, "authenticated %s %s", local, remote);
}

static void
h_stanza(void *arg, struct stanza *st)
{
	struct harness *h = arg;

	h->nstanzas++;
	h_log(h, "stanza from %s to %s", stanza_attr(st, "from"),
	      stanza_attr(st, "to"));
	stanza_free(st);
}

static void
h_db_key(void *arg, const char *receiving, const char *originating,
         const char *id, char key[65])
{
	struct harness *h = arg;

	dialback_key(h->secret, receiving, originating, id, key);
}

static void
h_db_verify(void *arg, const char *local, const char *remote, const char *id,
            const char *key)
{
	struct harness *h = arg;

	(void)id;
	h->verifies++;
	snprintf(h->verify_key, sizeof(h->verify_key), "%s", key);
	h_log(h, "verify %s %s", local, remote);
}

static void
h_verify_result(void *arg, const char *local, const char *remote,
                const char *id, bool valid, int err)
{
	struct harness *h = arg;
	char text[300];

	h->verify_results++;
	h->verify_valid = valid;
	h->verify_err = err;
	snprintf(text, sizeof(text), "%s %s %s", local, remote, id);
	h_log(h, "verify-result %s %s", text, valid ? "valid" : err_name(err));
}

static void
h_pair_refused(void *arg, const char *local, const char *remote, int err)
{
	struct harness *h = arg;

	h->refused++;
	h->refused_err = err;
	h_log(h, "pair-refused %s %s", local, remote);
}

static void
h_closed(void *arg, int err, const char *why)
{
	struct harness *h = arg;

	h->closed++;
	h->closed_err = err;
	snprintf(h->closed_why, sizeof(h->closed_why), "%s", why);
	h_log(h, "closed %s %s", err_name(err), why);
}

static const struct s2s_stream_cbs h_cbs = {
    h_send,          h_starttls, h_is_local, h_allowed_in, h_check_cert,
    h_authenticated, h_stanza,   h_db_key,   h_db_verify,  h_verify_result,
    h_pair_refused,  h_closed,
};

/* Extra options for h_init_ex (XEP-0288, XEP-0198). */
struct h_extra {
	bool bidi, sm;
};

static void
h_init_ex(struct harness *h, enum s2s_role role, enum s2s_security sec,
          bool bytewise, const struct h_extra *x)
{
	struct s2s_stream_opts o = {
	    .role = role, .security = sec, .require_valid_certs = true,
	    .sasl_external = true, .dialback = true, .tls_available = true,
	    .step_timeout_ms = 5000, .connid = 1, .idle_ms = 600000,
	    .local = role == S2S_ROLE_OUT ? "b.test" : NULL,
	    .remote = role == S2S_ROLE_OUT ? "a.test" : NULL};

	if (x != NULL) {
		o.bidi = x->bidi;
		o.sm = x->sm;
		o.sm_opts.ack_every = 1;
		o.sm_opts.ack_interval_ms = 1000;
		o.sm_opts.ack_timeout_ms = 5000;
		o.sm_resume_ms = 60000;
	}
	memset(h, 0, sizeof(*h));
	h->bytewise = bytewise;
	h->now = 1000;
	h->secret = dialback_secret_new("test-secret");
	h->st = s2s_stream_new(&o, &h_cbs, h, h->now);
	s2s_stream_start(h->st, h->now);
}

static void
h_init(struct harness *h, enum s2s_role role, enum s2s_security sec,
       bool bytewise)
{
	h_init_ex(h, role, sec, bytewise, NULL);
}

static void
h_feed(struct harness *h, const char *text)
{
	size_t len = strlen(text), i;

	if (!h->bytewise) {
		s2s_stream_input(h->st, text, len, h->now);
		return;
	}
	for (i = 0; i < len; i++)
		s2s_stream_input(h->st, text + i, 1, h->now);
}

/* The bytes sent since the last call (owned by H until the next call). */
static const char *
h_take(struct harness *h)
{
	static char *last;

	free(last);
	last = util_buf_steal(&h->out, NULL);
	return last;
}

#define ck_sent(h, s)                                                          \
	do {                                                                   \
		const char *o_ = h_take(h);                                    \
		ck_assert_msg(strstr(o_, (s)) != NULL, "missing %s in: %s",    \
		              (s), o_);                                        \
	} while (0)

/* The log (ids already normalised), returned owned; frees the harness. */
static char *
h_finish(struct harness *h)
{
	s2s_stream_free(h->st);
	dialback_secret_free(h->secret);
	util_buf_free(&h->out);
	h_take(h);
	return util_buf_steal(&h->log, NULL);
}

/* ---- receiving role ---- */

static void
in_required_refuses_dialback_before_tls(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_REQUIRED, h->bytewise);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	{
		const char *o = h_take(h);
		ck_assert_ptr_nonnull(strstr(o, "<starttls xmlns='" NS_TLS
		                                "'><required/></starttls>"));
		/* Nothing but TLS is advertised before TLS. */
		ck_assert_ptr_null(strstr(o, "urn:xmpp:features:dialback"));
		ck_assert_ptr_null(strstr(o, "mechanisms"));
	}
	ck_assert_int_eq(h->closed, 0);
	h_feed(h, "<db:result from='a.test' to='b.test'>abc</db:result>");
	ck_sent(h, "<policy-violation");
	ck_assert_int_eq(h->closed_err, S2SD_EPOLICY);
	ck_assert_int_eq(h->verifies, 0);
}

static void
in_required_sasl_external(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_REQUIRED, h->bytewise);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	h_take(h);
	h_feed(h, STARTTLS);
	ck_sent(h, "<proceed xmlns='" NS_TLS "'/>");
	ck_assert_int_eq(h->starttls, 1);
	s2s_stream_tls_done(h->st, 0, h->now);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	{
		const char *o = h_take(h);
		ck_assert_ptr_nonnull(strstr(o, "<mechanism>EXTERNAL</mechanism>"));
		ck_assert_ptr_null(strstr(o, "starttls"));
	}
	h_feed(h, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>YS50ZXN0"
	          "</auth>");
	ck_sent(h, "<success xmlns='" NS_SASL "'/>");
	h_feed(h, PEER_HDR("a.test", "b.test"));
	ck_sent(h, "<stream:features>" LIMITS "</stream:features>");
	ck_assert_int_eq(h->auths, 1);
	ck_assert_int_eq(h->auth_how, S2S_AUTH_EXTERNAL);
	ck_assert_str_eq(h->auth_pair, "b.test a.test");
	h_feed(h, MSG("alice@a.test/r", "bob@b.test"));
	h_feed(h, MSG("carol@a.test", "dave@b2.test"));  /* SASL: all ours */
	ck_assert_int_eq(h->nstanzas, 2);
	h_feed(h, MSG("mallory@evil.test", "bob@b.test"));
	ck_sent(h, "<invalid-from");
	ck_assert_int_eq(h->nstanzas, 2);
	ck_assert_int_eq(h->closed, 1);
}

static void
in_plaintext_after_starttls(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_REQUIRED, h->bytewise);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	h_feed(h, STARTTLS MSG("a@a.test", "b@b.test"));
	ck_sent(h, "<policy-violation");
	ck_assert_int_eq(h->closed_err, S2SD_EPROTO);
	ck_assert_int_eq(h->nstanzas, 0);
}

static void
in_host_unknown(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, PEER_HDR("a.test", "c.test"));
	{
		const char *o = h_take(h);
		/* RFC 6120 4.9.1.1: our header first, then the error. */
		ck_assert_ptr_nonnull(strstr(o, "<stream:stream"));
		ck_assert_ptr_nonnull(strstr(o, "<host-unknown"));
	}
	ck_assert_int_eq(h->closed, 1);
}

static void
in_bad_namespace(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, "<stream:stream xmlns='jabber:client' xmlns:stream="
	          "'http://etherx.jabber.org/streams' to='b.test' "
	          "version='1.0'>");
	ck_sent(h, "<invalid-namespace");
	ck_assert_int_eq(h->closed_err, S2SD_EXML_NAMESPACE);
}

static void
in_dialback_valid(struct harness *h)
{
	char key[65], buf[512];

	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	{
		const char *o = h_take(h);
		ck_assert_ptr_nonnull(strstr(o, "<starttls xmlns='" NS_TLS
		                                "'/>"));
		ck_assert_ptr_nonnull(strstr(o, "urn:xmpp:features:dialback"));
	}
	dialback_key(h->secret, "b.test", "a.test", s2s_stream_id(h->st), key);
	snprintf(buf, sizeof(buf), "<db:result from='a.test' to='b.test'>%s"
	         "</db:result>", key);
	h_feed(h, buf);
	ck_assert_int_eq(h->verifies, 1);
	ck_assert_str_eq(h->verify_key, key);
	h_feed(h, MSG("a@a.test", "b@b.test"));  /* not yet verified */
	ck_assert_int_eq(h->closed, 1);
	ck_assert_int_eq(h->closed_err, S2SD_EAUTH);
}

/* An inbound stream from a.test to b.test, authenticated with dialback;
 * what was sent so far stays readable with h_take(). */
static void
h_in_dialback_ready(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	h_feed(h, "<db:result from='a.test' to='b.test'>k</db:result>");
	s2s_stream_dialback_verified(h->st, "b.test", "a.test", true, 0,
	                             h->now);
}

static void
in_dialback_then_stanzas(struct harness *h)
{
	h_in_dialback_ready(h);
	ck_sent(h, "type='valid'");
	ck_assert_int_eq(h->auth_how, S2S_AUTH_DIALBACK);
	h_feed(h, MSG("a@a.test", "b@b.test"));
	ck_assert_int_eq(h->nstanzas, 1);
	/* Dialback authorises the exact pair only. */
	h_feed(h, MSG("a@a.test", "x@b2.test"));
	ck_sent(h, "<invalid-from");
	ck_assert_int_eq(h->nstanzas, 1);
}

static void
in_dialback_invalid(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	h_feed(h, "<db:result from='a.test' to='b.test'>forged</db:result>");
	h_take(h);
	s2s_stream_dialback_verified(h->st, "b.test", "a.test", false, 0,
	                             h->now);
	ck_sent(h, "type='invalid'");
	ck_assert_int_eq(h->auths, 0);
	ck_assert_int_eq(h->closed_err, S2SD_EAUTH);
}

static void
in_db_verify_authoritative(struct harness *h)
{
	char key[65], buf[512];

	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, PEER_HDR("c.test", "b.test"));
	dialback_key(h->secret, "c.test", "b.test", "S1", key);
	snprintf(buf, sizeof(buf), "<db:verify from='c.test' to='b.test' "
	         "id='S1'>%s</db:verify>", key);
	h_take(h);
	h_feed(h, buf);
	ck_sent(h, "type='valid'");
	key[0] = key[0] == 'a' ? 'b' : 'a';
	snprintf(buf, sizeof(buf), "<db:verify from='c.test' to='b.test' "
	         "id='S1'>%s</db:verify>", key);
	h_feed(h, buf);
	ck_sent(h, "type='invalid'");
	ck_assert_int_eq(h->closed, 0);
}

/* A denied domain still gets its dialback keys verified (verification
 * traffic is always allowed); its own dialback request is refused. */
static void
in_policy_denied(struct harness *h)
{
	char key[65], buf[512];

	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h->deny = "a.test";
	h_feed(h, PEER_HDR("a.test", "b.test"));
	ck_sent(h, "<stream:features>");
	dialback_key(h->secret, "a.test", "b.test", "S9", key);
	snprintf(buf, sizeof(buf), "<db:verify from='a.test' to='b.test' "
	         "id='S9'>%s</db:verify>", key);
	h_feed(h, buf);
	ck_sent(h, "type='valid'");
	h_feed(h, "<db:result from='a.test' to='b.test'>k</db:result>");
	ck_sent(h, "<not-allowed");
	ck_assert_int_eq(h->verifies, 0);
	h_feed(h, MSG("a@a.test", "b@b.test"));
	ck_sent(h, "<not-authorized");
	ck_assert_int_eq(h->nstanzas, 0);
}

static void
in_policy_denied_dialback(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h->deny = "a.test";
	/* No 'from' on the header: the refusal comes with db:result, and
	 * no verification is even asked for. */
	h_feed(h, "<stream:stream xmlns='jabber:server' xmlns:stream="
	          "'http://etherx.jabber.org/streams' xmlns:db="
	          "'jabber:server:dialback' to='b.test' version='1.0'>");
	h_take(h);
	h_feed(h, "<db:result from='a.test' to='b.test'>k</db:result>");
	ck_sent(h, "<not-allowed");
	ck_assert_int_eq(h->verifies, 0);
	ck_assert_int_eq(h->auths, 0);
}

static void
in_stanza_before_auth(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	h_feed(h, MSG("a@a.test", "b@b.test"));
	ck_sent(h, "<not-authorized");
	ck_assert_int_eq(h->nstanzas, 0);
}

static void
in_timeout(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, "<?xml version='1.0'?>");
	ck_assert_uint_eq(s2s_stream_deadline(h->st), 6000);
	s2s_stream_tick(h->st, 5999);
	ck_assert_int_eq(h->closed, 0);
	s2s_stream_tick(h->st, 6000);
	ck_sent(h, "<connection-timeout");
	ck_assert_int_eq(h->closed_err, S2SD_ETIMEOUT);
}

static void
in_close_then_garbage(struct harness *h)
{
	h_in_dialback_ready(h);
	h_take(h);
	h_feed(h, "</stream:stream>garbage<<<");
	ck_sent(h, "</stream:stream>");
	ck_assert_int_eq(h->closed, 1);
	ck_assert_int_eq(h->closed_err, 0);
}

static void
in_bad_cert_no_external(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_REQUIRED, h->bytewise);
	h->cert_chain = S2SD_ETLS_VERIFY;
	h_feed(h, PEER_HDR("a.test", "b.test"));
	h_feed(h, STARTTLS);
	s2s_stream_tls_done(h->st, 0, h->now);
	h_take(h);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	{
		const char *o = h_take(h);
		ck_assert_ptr_null(strstr(o, "EXTERNAL"));
		ck_assert_ptr_nonnull(strstr(o, "urn:xmpp:features:dialback"));
	}
	h_feed(h, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>=</auth>");
	ck_sent(h, "<invalid-mechanism");
	/* Dialback over TLS is refused too: valid certificates required. */
	h_feed(h, "<db:result from='a.test' to='b.test'>k</db:result>");
	ck_sent(h, "<not-allowed");
	ck_assert_int_eq(h->verifies, 0);
	ck_assert_int_eq(h->auths, 0);
}

static void
in_legacy_dialback(struct harness *h)
{
	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, "<stream:stream xmlns='jabber:server' xmlns:stream="
	          "'http://etherx.jabber.org/streams' xmlns:db="
	          "'jabber:server:dialback' to='b.test'>");
	{
		const char *o = h_take(h);
		ck_assert_ptr_nonnull(strstr(o, "<stream:stream"));
		ck_assert_ptr_null(strstr(o, "features"));
	}
	h_feed(h, "<db:result from='a.test' to='b.test'>k</db:result>");
	ck_assert_int_eq(h->verifies, 1);
}

/* ---- initiating role ---- */

static void
out_to_tls(struct harness *h, enum s2s_security sec)
{
	h_init(h, S2S_ROLE_OUT, sec, h->bytewise);
	ck_sent(h, "from='b.test' to='a.test' version='1.0'>");
	h_feed(h, OUT_PEER_HDR FEATURES(STARTTLS DBFEAT));
	ck_sent(h, STARTTLS);
	h_feed(h, "<proceed xmlns='" NS_TLS "'/>");
	ck_assert_int_eq(h->starttls, 1);
	s2s_stream_tls_done(h->st, 0, h->now);
}

static void
out_required_external(struct harness *h)
{
	out_to_tls(h, S2S_SEC_REQUIRED);
	ck_sent(h, "<stream:stream");
	h_feed(h, OUT_PEER_HDR FEATURES(EXTERNAL DBFEAT));
	ck_sent(h, "mechanism='EXTERNAL'>Yi50ZXN0</auth>");  /* "b.test" */
	h_feed(h, "<success xmlns='" NS_SASL "'/>");
	ck_sent(h, "<stream:stream");
	ck_assert_int_eq(h->auths, 0);
	h_feed(h, OUT_PEER_HDR "<stream:features/>");
	ck_assert_int_eq(h->auths, 1);
	ck_assert_int_eq(h->auth_how, S2S_AUTH_EXTERNAL);
	ck_assert(s2s_stream_is_ready(h->st));
	ck_assert(s2s_stream_tls_on(h->st));
	{
		struct stanza *m = stanza_new("jabber:server", "message");
		stanza_set_attr(m, "from", "x@b.test");
		stanza_set_attr(m, "to", "y@a.test");
		ck_assert_int_eq(s2s_stream_send_stanza(h->st, m), 0);
		ck_sent(h, "<message from='x@b.test' to='y@a.test'/>");
		stanza_set_attr(m, "from", "x@b2.test");  /* pair not authed */
		ck_assert_int_eq(s2s_stream_send_stanza(h->st, m), -ENOTCONN);
		stanza_free(m);
	}
}

static void
out_required_without_starttls(struct harness *h)
{
	h_init(h, S2S_ROLE_OUT, S2S_SEC_REQUIRED, h->bytewise);
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT));
	ck_assert_int_eq(h->closed_err, S2SD_ETLS);
	ck_assert_ptr_null(strstr(h_take(h), "<db:result"));
}

static void
out_bad_cert(struct harness *h)
{
	h->cert_name = S2SD_ETLS_NAME;
	out_to_tls(h, S2S_SEC_REQUIRED);
	h->cert_name = S2SD_ETLS_NAME;
	ck_assert_int_eq(h->closed, 0);
}

static void
out_bad_cert_check(struct harness *h)
{
	h_init(h, S2S_ROLE_OUT, S2S_SEC_REQUIRED, h->bytewise);
	h->cert_name = S2SD_ETLS_NAME;
	h_feed(h, OUT_PEER_HDR FEATURES(STARTTLS));
	h_feed(h, "<proceed xmlns='" NS_TLS "'/>");
	s2s_stream_tls_done(h->st, 0, h->now);
	ck_assert_int_eq(h->closed_err, S2SD_ETLS_NAME);
	ck_assert_ptr_nonnull(strstr(h->closed_why, "checked for a.test"));
}

static void
out_sasl_failure_then_dialback(struct harness *h)
{
	char key[65], expect[128];

	out_to_tls(h, S2S_SEC_REQUIRED);
	h_feed(h, OUT_PEER_HDR FEATURES(EXTERNAL DBFEAT));
	h_take(h);
	h_feed(h, "<failure xmlns='" NS_SASL "'><not-authorized/></failure>");
	dialback_key(h->secret, "a.test", "b.test", "peerid1", key);
	snprintf(expect, sizeof(expect), ">%s</db:result>", key);
	ck_sent(h, expect);
	h_feed(h, "<db:result from='a.test' to='b.test' type='valid'/>");
	ck_assert_int_eq(h->auth_how, S2S_AUTH_DIALBACK);
	ck_assert(s2s_stream_is_ready(h->st));
}

static void
out_optional_clear_dialback(struct harness *h)
{
	h_init(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT));
	ck_sent(h, "<db:result from='b.test' to='a.test'>");
	h_feed(h, "<db:result from='a.test' to='b.test' type='invalid'/>");
	ck_assert_int_eq(h->closed_err, S2SD_EAUTH);
	ck_assert_int_eq(h->auths, 0);
}

/* XEP-0478: the peer's max-bytes is respected: a larger stanza is refused
 * with -EMSGSIZE and nothing of it is sent; a smaller one goes. */
static void
out_respects_peer_max_bytes(struct harness *h)
{
	struct stanza *m;

	h_init(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT "<limits xmlns='urn:xmpp:"
	          "stream-limits:0'><max-bytes>200</max-bytes></limits>"));
	ck_sent(h, "<db:result from='b.test' to='a.test'>");
	h_feed(h, "<db:result from='a.test' to='b.test' type='valid'/>");
	ck_assert_int_eq(h->auths, 1);
	ck_assert_uint_eq(s2s_stream_peer_max_bytes(h->st), 200);
	m = stanza_new("jabber:server", "message");
	stanza_set_attr(m, "from", "bob@b.test");
	stanza_set_attr(m, "to", "alice@a.test");
	stanza_add_text(stanza_add_child(m, NULL, "body"), "short");
	ck_assert_int_eq(s2s_stream_send_stanza(h->st, m), 0);
	ck_sent(h, "<body>short</body>");
	stanza_free(m);
	m = stanza_new("jabber:server", "message");
	stanza_set_attr(m, "from", "bob@b.test");
	stanza_set_attr(m, "to", "alice@a.test");
	stanza_add_text(stanza_add_child(m, NULL, "body"),
	                "0123456789012345678901234567890123456789"
	                "0123456789012345678901234567890123456789"
	                "0123456789012345678901234567890123456789"
	                "0123456789012345678901234567890123456789");
	ck_assert_int_eq(s2s_stream_send_stanza(h->st, m), -EMSGSIZE);
	ck_assert_str_eq(h_take(h), "");
	stanza_free(m);
}

/* A limit passed by the peer: policy-violation naming the limit and the
 * advertised max-bytes, and a limit hit counted under its setting. */
static void
in_depth_limit(struct harness *h)
{
	double before = metrics_value(METRICS_LIMIT_HITS, "max_depth", NULL,
	                              NULL);
	struct util_buf b = {0};
	int i;

	h_init(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	h_take(h);
	for (i = 0; i < 70; i++)
		util_buf_puts(&b, "<a>");
	util_buf_append(&b, "", 1);
	h_feed(h, b.data);
	util_buf_free(&b);
	ck_sent(h, "<policy-violation xmlns='urn:ietf:params:xml:ns:"
	           "xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:"
	           "xmpp-streams'>elements nested deeper than 64 (max_depth; "
	           "max-bytes 524288 advertised per XEP-0478)</text>");
	ck_assert_int_eq(h->closed_err, S2SD_EXML_LIMIT);
	ck_assert(metrics_value(METRICS_LIMIT_HITS, "max_depth", NULL, NULL) ==
	          before + 1);
}

static void
out_unprompted_success(struct harness *h)
{
	h_init(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT));
	h_feed(h, "<success xmlns='" NS_SASL "'/>");
	ck_sent(h, "<unsupported-stanza-type");
	ck_assert_int_eq(h->auths, 0);
}

static void
out_restart_skipped(struct harness *h)
{
	out_to_tls(h, S2S_SEC_REQUIRED);
	h_feed(h, OUT_PEER_HDR FEATURES(EXTERNAL));
	h_feed(h, "<success xmlns='" NS_SASL "'/>");
	h_take(h);
	/* No new header: the features are not in any stream. */
	h_feed(h, "<stream:features/>");
	ck_assert_int_eq(h->closed, 1);
	ck_assert_int_eq(h->auths, 0);
}

static void
out_peer_stream_error(struct harness *h)
{
	h_init(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise);
	h_feed(h, OUT_PEER_HDR "<stream:error><host-unknown xmlns="
	          "'urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
	ck_assert_int_eq(h->closed_err, S2SD_ESTREAM);
	ck_assert_ptr_nonnull(strstr(h->closed_why, "host-unknown"));
	ck_assert(s2s_stream_peer_opened(h->st));
}

static void
out_verify_stream(struct harness *h)
{
	struct s2s_stream_opts o = {
	    .role = S2S_ROLE_OUT, .security = S2S_SEC_OPTIONAL,
	    .dialback = true, .verify_only = true, .local = "b.test",
	    .remote = "a.test", .step_timeout_ms = 5000, .connid = 1};
	bool bytewise = h->bytewise;

	memset(h, 0, sizeof(*h));
	h->bytewise = bytewise;
	h->now = 1000;
	h->secret = dialback_secret_new("test-secret");
	h->st = s2s_stream_new(&o, &h_cbs, h, h->now);
	s2s_stream_start(h->st, h->now);
	/* Queued until the stream can carry it. */
	ck_assert_int_eq(s2s_stream_send_verify(h->st, "b.test", "a.test",
	                                        "ID7", "cafe"), 0);
	ck_assert_ptr_null(strstr(h_take(h), "db:verify"));
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT));
	ck_sent(h, "<db:verify from='b.test' to='a.test' id='ID7'>cafe"
	           "</db:verify>");
	ck_assert_int_eq(h->auths, 0);      /* nothing is authenticated */
	h_feed(h, "<db:verify from='a.test' to='b.test' id='ID7' "
	          "type='valid'/>");
	ck_assert_int_eq(h->verify_results, 1);
	ck_assert(h->verify_valid);
	/* Another request whose stream dies: answered with an error. */
	s2s_stream_send_verify(h->st, "b.test", "a.test", "ID8", "beef");
	h_feed(h, "<db:verify from='a.test' to='b.test' id='NOPE' "
	          "type='valid'/>");      /* never asked: protocol error */
	ck_assert_int_eq(h->closed, 1);
	ck_assert_int_eq(h->verify_results, 2);
	ck_assert(!h->verify_valid);
	ck_assert_int_lt(h->verify_err, 0);
}

static void
out_piggyback(struct harness *h)
{
	char key[65], expect[160];

	h_init(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise);
	ck_assert_int_eq(s2s_stream_add_pair(h->st, "b2.test"), -ENOTCONN);
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT));
	h_feed(h, "<db:result from='a.test' to='b.test' type='valid'/>");
	ck_assert_int_eq(h->auths, 1);
	h_take(h);
	ck_assert(s2s_stream_can_add_pair(h->st));
	ck_assert_int_eq(s2s_stream_add_pair(h->st, "b2.test"), 0);
	dialback_key(h->secret, "a.test", "b2.test", "peerid1", key);
	snprintf(expect, sizeof(expect), "from='b2.test' to='a.test'>%s", key);
	ck_sent(h, expect);
	h_feed(h, "<db:result from='a.test' to='b2.test' type='valid'/>");
	ck_assert_int_eq(h->auths, 2);
	ck_assert_str_eq(h->auth_pair, "b2.test a.test");
	ck_assert(s2s_stream_has_pair(h->st, "b2.test", "a.test"));
	/* A third pair refused: reported, the stream stays. */
	ck_assert_int_eq(s2s_stream_add_pair(h->st, "b3.test"), 0);
	h_feed(h, "<db:result from='a.test' to='b3.test' type='invalid'/>");
	ck_assert_int_eq(h->refused, 1);
	ck_assert(s2s_stream_is_ready(h->st));
	/* A pending one when the stream dies is reported too. */
	ck_assert_int_eq(s2s_stream_add_pair(h->st, "b4.test"), 0);
	h_feed(h, "</stream:stream>");
	ck_assert_int_eq(h->refused, 2);
	ck_assert_int_eq(h->closed, 1);
}

/* We close (shutdown); what the peer sent before it saw our closing tag
 * is still delivered, then its close completes the handshake. */
static void
in_closing_delivers_in_flight(struct harness *h)
{
	h_in_dialback_ready(h);
	h_take(h);
	s2s_stream_close(h->st, 0, NULL, h->now);
	ck_sent(h, "</stream:stream>");
	h_feed(h, MSG("a@a.test", "b@b.test"));
	ck_assert_int_eq(h->nstanzas, 1);
	/* Negotiation is over, though: a new dialback request is ignored. */
	h_feed(h, "<db:result from='a.test' to='b2.test'>k</db:result>");
	ck_assert_int_eq(h->verifies, 1);   /* only the first, before closing */
	h_feed(h, "</stream:stream>");
	ck_assert_int_eq(h->closed, 1);
	ck_assert_int_eq(h->closed_err, 0);
}

/* XEP-0368: TLS was up before the first byte: no STARTTLS offered, SASL
 * EXTERNAL at once; a <starttls/> anyway is refused. */
static void
in_direct_tls(struct harness *h)
{
	struct s2s_stream_opts o = {
	    .role = S2S_ROLE_IN, .security = S2S_SEC_REQUIRED,
	    .require_valid_certs = true, .sasl_external = true,
	    .dialback = true, .tls_available = true, .direct_tls = true,
	    .step_timeout_ms = 5000, .connid = 1};
	bool bytewise = h->bytewise;

	memset(h, 0, sizeof(*h));
	h->bytewise = bytewise;
	h->now = 1000;
	h->secret = dialback_secret_new("test-secret");
	h->st = s2s_stream_new(&o, &h_cbs, h, h->now);
	s2s_stream_start(h->st, h->now);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	{
		const char *out = h_take(h);
		ck_assert_ptr_null(strstr(out, "starttls"));
		ck_assert_ptr_nonnull(strstr(out, "<mechanism>EXTERNAL"));
	}
	h_feed(h, STARTTLS);
	ck_sent(h, "<failure xmlns='" NS_TLS "'/>");
	ck_assert_int_eq(h->closed, 1);
	ck_assert_int_eq(h->starttls, 0);
}

/* ---- XEP-0288 ---- */

#define BIDI_FEAT "<bidi xmlns='urn:xmpp:features:bidi'/>"
#define BIDI_REQ "<bidi xmlns='urn:xmpp:bidi'/>"

/* A message from FROM to TO, to send on the stream. */
static int
h_send_msg(struct harness *h, const char *from, const char *to)
{
	struct stanza *m = stanza_new("jabber:server", "message");
	int rc;

	stanza_set_attr(m, "from", from);
	stanza_set_attr(m, "to", to);
	rc = s2s_stream_send_stanza(h->st, m);
	stanza_free(m);
	return rc;
}

/* IN with bidi: a.test asks with REQ, then dialback for (b.test, a.test). */
static void
h_in_bidi_ready(struct harness *h, const char *req, const struct h_extra *x)
{
	h_init_ex(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise, x);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	ck_sent(h, BIDI_FEAT);
	h_feed(h, req);
	h_feed(h, "<db:result from='a.test' to='b.test'>k</db:result>");
	s2s_stream_dialback_verified(h->st, "b.test", "a.test", true, 0,
	                             h->now);
	ck_sent(h, "type='valid'");
}

/* IN: the request makes the stream carry our stanzas, for the reverse of
 * the validated pair only, and nothing before the pair is valid. */
static void
in_bidi_dialback(struct harness *h)
{
	struct h_extra x = {.bidi = true};

	h_init_ex(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise, &x);
	h_feed(h, PEER_HDR("a.test", "b.test") BIDI_REQ);
	ck_assert(s2s_stream_bidi(h->st));
	h_feed(h, "<db:result from='a.test' to='b.test'>k</db:result>");
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), -ENOTCONN);
	s2s_stream_dialback_verified(h->st, "b.test", "a.test", true, 0,
	                             h->now);
	h_take(h);
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), 0);
	ck_sent(h, "<message from='x@b.test' to='y@a.test'/>");
	ck_assert_int_eq(h_send_msg(h, "x@b2.test", "y@a.test"), -ENOTCONN);
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@c.test"), -ENOTCONN);
	/* The other direction is unchanged. */
	h_feed(h, MSG("a@a.test", "b@b.test"));
	ck_assert_int_eq(h->nstanzas, 1);
	ck_assert_int_eq(h->closed, 0);
}

/* IN: the historic form of the request (the feature's namespace) is
 * accepted; a repeated request changes nothing. */
static void
in_bidi_historic_request(struct harness *h)
{
	struct h_extra x = {.bidi = true};

	h_in_bidi_ready(h, BIDI_FEAT, &x);
	ck_assert(s2s_stream_bidi(h->st));
	h_feed(h, BIDI_REQ);    /* again, after authentication */
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), 0);
	ck_assert_int_eq(h->closed, 0);
}

/* IN without a request, or with bidi off: one direction only; an
 * unsolicited <bidi/> is ignored without ending the stream. */
static void
in_bidi_not_requested(struct harness *h)
{
	struct h_extra x = {.bidi = false};

	h_in_dialback_ready(h);
	ck_assert(!s2s_stream_bidi(h->st));
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), -ENOTCONN);
	free(h_finish(h));
	h_init_ex(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise, &x);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	ck_assert_ptr_null(strstr(h_take(h), "bidi"));
	h_feed(h, BIDI_REQ "<db:result from='a.test' to='b.test'>k"
	          "</db:result>");
	s2s_stream_dialback_verified(h->st, "b.test", "a.test", true, 0,
	                             h->now);
	ck_assert(!s2s_stream_bidi(h->st));
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), -ENOTCONN);
	ck_assert_int_eq(h->closed, 0);
}

/* IN: a request made before STARTTLS dies with the stream TLS replaces
 * (XEP-0288 2.1); asked again after TLS, it holds. */
static void
in_bidi_before_tls(struct harness *h)
{
	struct h_extra x = {.bidi = true};

	h_init_ex(h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, h->bytewise, &x);
	h_feed(h, PEER_HDR("a.test", "b.test") BIDI_REQ);
	ck_assert(s2s_stream_bidi(h->st));
	h_feed(h, STARTTLS);
	ck_assert_int_eq(h->starttls, 1);
	s2s_stream_tls_done(h->st, 0, h->now);
	ck_assert(!s2s_stream_bidi(h->st));
	h_feed(h, PEER_HDR("a.test", "b.test"));
	ck_sent(h, BIDI_FEAT);
	h_feed(h, BIDI_REQ);
	ck_assert(s2s_stream_bidi(h->st));
}

/* OUT: asked for right before dialback; the peer's stanzas for the reverse
 * of our pair are delivered, anything else ends the stream. */
static void
out_bidi_dialback(struct harness *h)
{
	struct h_extra x = {.bidi = true};
	const char *o;

	h_init_ex(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise, &x);
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT BIDI_FEAT));
	o = h_take(h);
	ck_assert_ptr_nonnull(strstr(o, BIDI_REQ "<db:result from='b.test'"));
	ck_assert(s2s_stream_bidi(h->st));
	h_feed(h, MSG("a@a.test", "b@b.test"));         /* too early */
	ck_assert_int_eq(h->nstanzas, 0);
	ck_assert_int_eq(h->closed, 1);
	free(h_finish(h));

	h_init_ex(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise, &x);
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT BIDI_FEAT));
	h_feed(h, "<db:result from='a.test' to='b.test' type='valid'/>");
	h_feed(h, MSG("a@a.test", "b@b.test"));
	ck_assert_int_eq(h->nstanzas, 1);
	h_feed(h, MSG("a@a.test", "b2@b2.test"));       /* not our pair */
	ck_sent(h, "<invalid-from");
	ck_assert_int_eq(h->nstanzas, 1);
	ck_assert_int_eq(h->closed, 1);
}

/* OUT: the feature under the request's namespace (the historic variant)
 * is taken as an offer; a dialback request from the peer on our stream is
 * answered with a dialback error and the stream stays. */
static void
out_bidi_historic_feature(struct harness *h)
{
	struct h_extra x = {.bidi = true};

	h_init_ex(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise, &x);
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT BIDI_REQ));
	ck_sent(h, BIDI_REQ);
	h_feed(h, "<db:result from='a.test' to='b.test' type='valid'/>");
	h_feed(h, "<db:result from='conf.a.test' to='b.test'>k</db:result>");
	ck_sent(h, "<db:result from='b.test' to='conf.a.test' type='error'>");
	ck_assert_int_eq(h->closed, 0);
	h_feed(h, MSG("a@a.test", "b@b.test"));
	ck_assert_int_eq(h->nstanzas, 1);
}

/* OUT: the policy denies a.test inbound: no <bidi/> is sent, and what the
 * peer sends on our stream anyway is refused. Bidi off: never asked. */
static void
out_bidi_policy_denied_in(struct harness *h)
{
	struct h_extra x = {.bidi = true};

	h_init_ex(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise, &x);
	h->deny = "a.test";
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT BIDI_FEAT));
	ck_assert_ptr_null(strstr(h_take(h), "urn:xmpp:bidi"));
	ck_assert(!s2s_stream_bidi(h->st));
	h_feed(h, "<db:result from='a.test' to='b.test' type='valid'/>");
	ck_assert(s2s_stream_is_ready(h->st));
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), 0);
	h_feed(h, MSG("a@a.test", "b@b.test"));
	ck_assert_int_eq(h->nstanzas, 0);
	ck_assert_int_eq(h->closed, 1);
	free(h_finish(h));

	x.bidi = false;
	h_init_ex(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise, &x);
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT BIDI_FEAT));
	ck_assert_ptr_null(strstr(h_take(h), "urn:xmpp:bidi"));
}

/* OUT after TLS with a certificate that does not prove a.test and
 * dialback not allowed: SASL EXTERNAL proceeds, no <bidi/>. */
static void
out_bidi_unproven_peer(struct harness *h)
{
	struct h_extra x = {.bidi = true};

	h_init_ex(h, S2S_ROLE_OUT, S2S_SEC_REQUIRED, h->bytewise, &x);
	h_feed(h, OUT_PEER_HDR FEATURES(STARTTLS));
	h_feed(h, "<proceed xmlns='" NS_TLS "'/>");
	s2s_stream_tls_done(h->st, 0, h->now);
	h->cert_name = S2SD_ETLS_NAME;  /* from now on */
	h_feed(h, OUT_PEER_HDR FEATURES(EXTERNAL BIDI_FEAT));
	{
		const char *o = h_take(h);
		ck_assert_ptr_nonnull(strstr(o, "mechanism='EXTERNAL'"));
		ck_assert_ptr_null(strstr(o, "urn:xmpp:bidi"));
	}
}

/* XEP-0198 on a bidi stream, IN side: what IN sends is counted, asked for
 * and acknowledged; what it handles is answered. */
static void
in_bidi_sm(struct harness *h)
{
	struct h_extra x = {.bidi = true, .sm = true};

	h_in_bidi_ready(h, BIDI_REQ, &x);
	h_feed(h, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
	{
		const char *o = h_take(h);
		ck_assert_ptr_nonnull(strstr(o, "<enabled xmlns='urn:xmpp:sm:3'/>"));
		ck_assert_ptr_null(strstr(o, "resume="));
	}
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), 0);
	ck_sent(h, "<r xmlns='urn:xmpp:sm:3'/>");       /* ack_every 1 */
	ck_assert_uint_eq(s2s_stream_sm_unacked(h->st), 1);
	h_feed(h, "<a xmlns='urn:xmpp:sm:3' h='1'/>");
	ck_assert_uint_eq(s2s_stream_sm_unacked(h->st), 0);
	h_feed(h, MSG("a@a.test", "b@b.test") "<r xmlns='urn:xmpp:sm:3'/>");
	ck_sent(h, "<a xmlns='urn:xmpp:sm:3' h='1'/>");
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), 0);
	h_feed(h, "<a xmlns='urn:xmpp:sm:3' h='5'/>");  /* more than sent */
	ck_sent(h, "<handled-count-too-high");
	ck_assert_int_eq(h->closed, 1);
	{
		struct s2s_sm_item *it = s2s_stream_sm_take(h->st);
		ck_assert_ptr_nonnull(it);
		s2s_sm_item_free(it);
	}
}

/* XEP-0198 on a bidi stream, OUT side: stanzas from the peer count in the
 * h we answer and send before our closing tag. */
static void
out_bidi_sm(struct harness *h)
{
	struct h_extra x = {.bidi = true, .sm = true};

	h_init_ex(h, S2S_ROLE_OUT, S2S_SEC_OPTIONAL, h->bytewise, &x);
	h_feed(h, OUT_PEER_HDR FEATURES(DBFEAT BIDI_FEAT
	          "<sm xmlns='urn:xmpp:sm:3'/>"));
	h_feed(h, "<db:result from='a.test' to='b.test' type='valid'/>");
	ck_sent(h, "<enable xmlns='urn:xmpp:sm:3'");
	h_feed(h, MSG("a@a.test", "b@b.test"));         /* before enabled */
	h_feed(h, "<enabled xmlns='urn:xmpp:sm:3' id='s1' resume='true'/>");
	ck_assert_str_eq(s2s_stream_sm_id(h->st), "s1");
	h_feed(h, MSG("a@a.test", "b@b.test") MSG("a@a.test", "b@b.test")
	          "<r xmlns='urn:xmpp:sm:3'/>");
	ck_sent(h, "<a xmlns='urn:xmpp:sm:3' h='2'/>");
	ck_assert_int_eq(h->nstanzas, 3);
	h_feed(h, MSG("a@a.test", "b@b.test"));
	s2s_stream_close(h->st, 0, NULL, h->now);
	ck_sent(h, "<a xmlns='urn:xmpp:sm:3' h='3'/></stream:stream>");
}

static bool
h_sm_resume(void *arg, const char *previd, uint32_t *h)
{
	(void)arg;
	*h = 7;
	return strcmp(previd, "s1") == 0;
}

/* XEP-0198 resumption of a bidi session, IN side: our handled count comes
 * from the kept session, what we send is numbered on from the peer's h. */
static void
in_bidi_sm_resume(struct harness *h)
{
	static const struct s2s_stream_sm_cbs smcbs = {h_sm_resume, NULL, NULL};
	struct h_extra x = {.bidi = true, .sm = true};

	h_in_bidi_ready(h, BIDI_REQ, &x);
	s2s_stream_set_sm_cbs(h->st, &smcbs);
	h_feed(h, "<resume xmlns='urn:xmpp:sm:3' previd='s1' h='3'/>");
	ck_sent(h, "<resumed xmlns='urn:xmpp:sm:3' previd='s1' h='7'/>");
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), 0);
	ck_sent(h, "<r xmlns='urn:xmpp:sm:3'/>");
	h_feed(h, "<a xmlns='urn:xmpp:sm:3' h='4'/>");
	ck_assert_uint_eq(s2s_stream_sm_unacked(h->st), 0);
	h_feed(h, MSG("a@a.test", "b@b.test") "<r xmlns='urn:xmpp:sm:3'/>");
	ck_sent(h, "<a xmlns='urn:xmpp:sm:3' h='8'/>");
	ck_assert_int_eq(h->closed, 0);
}

/* Idle for S2S_STREAM_COMPACT_MS: the parser is compacted at the tick,
 * once. After it the stream reads and sends as before (a bidi stream
 * authenticated with SASL EXTERNAL, then a second pair by dialback), and
 * closes cleanly. */
static void
h_idle(struct harness *h)
{
	ck_assert_uint_eq(s2s_stream_deadline(h->st),
	                  h->now + S2S_STREAM_COMPACT_MS);
	h->now += S2S_STREAM_COMPACT_MS;
	s2s_stream_tick(h->st, h->now);
	ck_assert(s2s_stream_is_compact(h->st));
	ck_assert_uint_eq(s2s_stream_deadline(h->st), UINT64_MAX);
}

static void
in_idle_compact(struct harness *h)
{
	struct h_extra x = {.bidi = true};

	h_init_ex(h, S2S_ROLE_IN, S2S_SEC_REQUIRED, h->bytewise, &x);
	h_feed(h, PEER_HDR("a.test", "b.test"));
	h_feed(h, STARTTLS);
	s2s_stream_tls_done(h->st, 0, h->now);
	h_feed(h, PEER_HDR("a.test", "b.test") BIDI_REQ);
	h_feed(h, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>YS50ZXN0"
	          "</auth>");
	ck_sent(h, "<success xmlns='" NS_SASL "'/>");
	/* Still negotiating: nothing to compact. */
	ck_assert(!s2s_stream_is_compact(h->st));
	h_feed(h, PEER_HDR("a.test", "b.test"));
	ck_assert_int_eq(h->auths, 1);
	ck_assert(s2s_stream_bidi(h->st));
	h_take(h);
	h_idle(h);
	h_feed(h, MSG("a@a.test", "b@b.test"));
	ck_assert_int_eq(h->nstanzas, 1);
	ck_assert(!s2s_stream_is_compact(h->st));
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), 0);
	ck_sent(h, "<message from='x@b.test' to='y@a.test'/>");
	h_idle(h);
	ck_assert_int_eq(h_send_msg(h, "x@b.test", "y@a.test"), 0);
	ck_sent(h, "<message from='x@b.test' to='y@a.test'/>");
	h_feed(h, "<db:result from='a2.test' to='b.test'>k</db:result>");
	s2s_stream_dialback_verified(h->st, "b.test", "a2.test", true, 0,
	                             h->now);
	ck_sent(h, "type='valid'");
	h_idle(h);
	h_feed(h, MSG("c@a2.test", "b@b.test") "</stream:stream>");
	ck_assert_int_eq(h->nstanzas, 2);
	ck_assert_int_eq(h->closed, 1);
	ck_assert_int_eq(h->closed_err, 0);
}

typedef void scenario_fn(struct harness *h);

static scenario_fn *const scenarios[] = {
    in_required_refuses_dialback_before_tls,
    in_required_sasl_external,
    in_plaintext_after_starttls,
    in_host_unknown,
    in_bad_namespace,
    in_dialback_valid,
    in_dialback_then_stanzas,
    in_dialback_invalid,
    in_db_verify_authoritative,
    in_policy_denied,
    in_policy_denied_dialback,
    in_stanza_before_auth,
    in_timeout,
    in_close_then_garbage,
    in_bad_cert_no_external,
    in_legacy_dialback,
    out_required_external,
    out_required_without_starttls,
    out_bad_cert_check,
    out_sasl_failure_then_dialback,
    out_optional_clear_dialback,
    out_unprompted_success,
    out_restart_skipped,
    out_peer_stream_error,
    out_verify_stream,
    out_piggyback,
    in_closing_delivers_in_flight,
    in_direct_tls,
    out_respects_peer_max_bytes,
    in_depth_limit,
    in_bidi_dialback,
    in_bidi_historic_request,
    in_bidi_not_requested,
    in_bidi_before_tls,
    out_bidi_dialback,
    out_bidi_historic_feature,
    out_bidi_policy_denied_in,
    out_bidi_unproven_peer,
    in_bidi_sm,
    out_bidi_sm,
    in_bidi_sm_resume,
    in_idle_compact,
};

/* Slowloris: bytes trickling in never move a step's deadline. One byte a
 * second of a stream header under a 5 s step: closed at 5 s with
 * connection-timeout, counted as a negotiation_timeout hit. */
START_TEST(test_slowloris_step_deadline)
{
	static const char hdr[] = PEER_HDR("a.test", "b.test");
	struct harness h;
	uint64_t start, deadline;
	size_t i;

	memset(&h, 0, sizeof(h));
	h_init(&h, S2S_ROLE_IN, S2S_SEC_OPTIONAL, false);
	start = h.now;
	deadline = s2s_stream_deadline(h.st);
	ck_assert_uint_eq(deadline, start + 5000);
	for (i = 0; i < sizeof(hdr) - 1 && h.closed == 0; i++) {
		h.now += 1000;
		if (h.now >= s2s_stream_deadline(h.st))
			s2s_stream_tick(h.st, h.now);
		else
			s2s_stream_input(h.st, hdr + i, 1, h.now);
		if (h.closed == 0)
			ck_assert_uint_eq(s2s_stream_deadline(h.st), deadline);
	}
	ck_assert_int_eq(h.closed, 1);
	ck_assert_int_eq(h.closed_err, S2SD_ETIMEOUT);
	ck_assert_uint_eq(h.now, start + 5000);
	ck_sent(&h, "<connection-timeout");
	ck_assert(metrics_value(METRICS_LIMIT_HITS, "negotiation_timeout",
	                        NULL, NULL) == 1);
	free(h_finish(&h));
}
END_TEST

START_TEST(test_scenario_split_invariant)
{
	struct harness h;
	char *whole, *bytes;

	memset(&h, 0, sizeof(h));
	scenarios[_i](&h);
	whole = h_finish(&h);
	memset(&h, 0, sizeof(h));
	h.bytewise = true;
	scenarios[_i](&h);
	bytes = h_finish(&h);
	ck_assert_str_eq(whole, bytes);
	free(whole);
	free(bytes);
}
END_TEST

static void
setup(void)
{
	char why[256];

	ck_assert_msg(s2s_sasl_init(why, sizeof(why)) == 0, "%s", why);
}

static void
teardown(void)
{
	s2s_sasl_done();
}

static Suite *
stream_suite(void)
{
	Suite *s = suite_create("s2s_stream");
	TCase *tc = tcase_create("scenarios");

	(void)out_bad_cert;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_scenario_split_invariant, 0,
	                    UTIL_ARRAY_LEN(scenarios));
	tcase_add_test(tc, test_slowloris_step_deadline);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	log_set_level(-1, LOG_LEVEL_WARN);
	return testutil_run(stream_suite());
}
