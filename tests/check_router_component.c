/* check_router_component.c - the XEP-0114 accept core (router/component.c):
 * scripted home nodes, each script fed whole, byte by byte and in random
 * splits with the same events and output expected; handshake checks,
 * stream errors, time-outs, the closing handshake. */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "router/component.h"
#include "tests/lib/testutil.h"
#include "xmpp/stanza.h"

#define ID "3BF96D32"
#define SECRET "s3cr&t"
#define HDR(to)                                                                \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' to='" to "'>"
#define OUR_HDR(from)                                                          \
	"<?xml version='1.0'?><stream:stream xmlns:stream='"                   \
	"http://etherx.jabber.org/streams' xmlns='jabber:component:accept'"    \
	from " id='" ID "'>"
#define SERR(cond, text)                                                       \
	"<stream:error><" cond " xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" \
	"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>" text "</text>"   \
	"</stream:error></stream:stream>"

struct peer {
	struct component *c;
	struct util_buf out;    /* what the component sent */
	struct util_buf ev;     /* events, ';'-separated */
	int refuse;             /* authenticated() result */
	bool close_in_stanza;
};

static void
p_send(void *arg, const char *buf, size_t len)
{
	util_buf_append(&((struct peer *)arg)->out, buf, len);
}

static const char *
p_secret(void *arg, const char *name)
{
	(void)arg;
	return strcmp(name, "node1") == 0 || strcmp(name, "Node.2") == 0
	           ? SECRET
	           : NULL;
}

static int
p_auth(void *arg, const char *name, char *text, size_t len)
{
	struct peer *p = arg;

	util_buf_printf(&p->ev, "auth:%s;", name);
	if (p->refuse < 0)
		snprintf(text, len, "%s is attached", name);
	return p->refuse;
}

static void
p_ready(void *arg)
{
	util_buf_puts(&((struct peer *)arg)->ev, "ready;");
}

static void
p_stanza(void *arg, struct stanza *st)
{
	struct peer *p = arg;

	util_buf_printf(&p->ev, "%s:%s:%s;", stanza_name(st), stanza_ns(st),
	                stanza_attr(st, "id") ? stanza_attr(st, "id") : "");
	stanza_free(st);
	if (p->close_in_stanza)
		component_close(p->c, S2SD_EPROTO, "policy-violation", NULL, 0);
}

static void
p_closed(void *arg, int err, const char *why)
{
	util_buf_printf(&((struct peer *)arg)->ev, "closed:%s:%s;",
	                err == 0 ? "0" : err_name(err), why);
}

static const struct component_cbs pcbs = {p_send,  p_secret, p_auth,
                                          p_ready, p_stanza, p_closed};

static void
peer_init(struct peer *p)
{
	struct component_opts o = {.stream_id = ID,
	                           .handshake_timeout_ms = 1000,
	                           .close_timeout_ms = 500};

	memset(p, 0, sizeof(*p));
	p->c = component_new(&o, &pcbs, p, 100);
}

static void
peer_free(struct peer *p)
{
	component_free(p->c);
	util_buf_free(&p->out);
	util_buf_free(&p->ev);
}

/* The handshake a home node sends for SECRET and the stream id. */
static char *
handshake(const char *secret)
{
	char *data = xasprintf("%s%s", ID, secret), hex[41];
	unsigned char d[20];

	ck_assert_int_eq(gnutls_hash_fast(GNUTLS_DIG_SHA1, data, strlen(data),
	                                  d), 0);
	util_hex(d, sizeof(d), hex);
	free(data);
	return xasprintf("<handshake>%s</handshake>", hex);
}

/* Feed TEXT in pieces: MODE 0 whole, 1 byte by byte, 2+ random splits. */
static void
feed(struct peer *p, const char *text, int mode, unsigned *seed)
{
	size_t len = strlen(text), off = 0, n;

	while (off < len) {
		n = mode == 0 ? len : mode == 1 ? 1 : 1 + (size_t)rand_r(seed) % 13;
		if (n > len - off)
			n = len - off;
		component_input(p->c, text + off, n, 200);
		off += n;
	}
}

struct script {
	const char *name;
	const char *in;         /* "%H" is replaced by the right handshake */
	const char *out;
	const char *events;
	int refuse;
};

static const struct script scripts[] = {
    {"ok", HDR("node1") "%H<message id='m1' to='a@example.com'><body>hi"
                        "</body></message><presence id='p1'/> <iq id='i1' "
                        "type='get'/></stream:stream>",
     OUR_HDR(" from='node1'") "<handshake/></stream:stream>",
     "auth:node1;ready;message:jabber:component:accept:m1;presence:jabber:"
     "component:accept:p1;iq:jabber:component:accept:i1;closed:0:closed by "
     "peer;", 0},
    {"name-as-sent", HDR("Node.2") "%H",
     OUR_HDR(" from='Node.2'") "<handshake/>", "auth:Node.2;ready;", 0},
    {"unknown-name", HDR("node9") "%H",
     OUR_HDR("") SERR("host-unknown", "no home node named 'node9'"),
     "closed:S2SD_EAUTH:no home node named 'node9';", 0},
    {"no-to",
     "<stream:stream xmlns='jabber:component:accept' "
     "xmlns:stream='http://etherx.jabber.org/streams'>",
     OUR_HDR("") SERR("host-unknown", "no home node named ''"),
     "closed:S2SD_EAUTH:no home node named '';", 0},
    {"bad-handshake", HDR("node1") "<handshake>0123456789abcdef0123456789"
                                   "abcdef01234567</handshake>",
     OUR_HDR(" from='node1'") SERR("not-authorized",
                                   "handshake does not match"),
     "closed:S2SD_EAUTH:handshake does not match;", 0},
    {"short-handshake", HDR("node1") "<handshake>00</handshake>",
     OUR_HDR(" from='node1'") SERR("not-authorized",
                                   "handshake does not match"),
     "closed:S2SD_EAUTH:handshake does not match;", 0},
    {"stanza-first", HDR("node1") "<message to='x@y'/>",
     OUR_HDR(" from='node1'") SERR("not-authorized",
                                   "a handshake must come first"),
     "closed:S2SD_EAUTH:a handshake must come first;", 0},
    {"client-ns",
     "<stream:stream xmlns='jabber:client' "
     "xmlns:stream='http://etherx.jabber.org/streams' to='node1'>",
     OUR_HDR("") SERR("invalid-namespace", "the content namespace must be "
                                           "jabber:component:accept"),
     "closed:S2SD_EXML_NAMESPACE:the content namespace must be "
     "jabber:component:accept;", 0},
    {"refused", HDR("node1") "%H",
     OUR_HDR(" from='node1'") SERR("conflict", "node1 is attached"),
     "auth:node1;closed:S2SD_EAUTH:node1 is attached;", -EEXIST},
    {"not-a-stanza", HDR("node1") "%H<db:result xmlns:db='jabber:server:"
                                  "dialback'/><message/>",
     OUR_HDR(" from='node1'") "<handshake/>" SERR(
         "unsupported-stanza-type", "only message, presence and iq after "
                                    "the handshake"),
     "auth:node1;ready;closed:S2SD_EPROTO:only message, presence and iq "
     "after the handshake;", 0},
    {"handshake-twice", HDR("node1") "%H%H",
     OUR_HDR(" from='node1'") "<handshake/>" SERR(
         "unsupported-stanza-type", "only message, presence and iq after "
                                    "the handshake"),
     "auth:node1;ready;closed:S2SD_EPROTO:only message, presence and iq "
     "after the handshake;", 0},
    {"peer-error", HDR("node1") "%H<stream:error><conflict xmlns='urn:ietf:"
                                "params:xml:ns:xmpp-streams'/><text xmlns='"
                                "urn:ietf:params:xml:ns:xmpp-streams'>x"
                                "</text></stream:error><message/>",
     OUR_HDR(" from='node1'") "<handshake/></stream:stream>",
     "auth:node1;ready;closed:S2SD_ESTREAM:peer sent stream error "
     "conflict;", 0},
    {"doctype", "<?xml version='1.0'?><!DOCTYPE x>",
     OUR_HDR("") "<stream:error><restricted-xml",
     "closed:S2SD_EXML_RESTRICTED:", 0},
    {"garbage", HDR("node1") "%H<message><body></message>",
     OUR_HDR(" from='node1'") "<handshake/><stream:error><not-well-formed",
     "auth:node1;ready;closed:S2SD_EXML_MALFORMED:", 0},
    {"close-before-auth", HDR("node1") "</stream:stream>",
     OUR_HDR(" from='node1'") "</stream:stream>",
     "closed:S2SD_EPROTO:peer closed the stream before the handshake;", 0},
};

static char *
expand(const char *in)
{
	struct util_buf b = {0};
	char *hs = handshake(SECRET);
	const char *p;

	for (p = in; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'H') {
			util_buf_puts(&b, hs);
			p++;
		} else {
			util_buf_append(&b, p, 1);
		}
	}
	free(hs);
	return util_buf_steal(&b, NULL);
}

/* Output and events must start with the script's (error texts from expat
 * vary in detail, so those scripts give a prefix). */
START_TEST(test_script)
{
	const struct script *s = &scripts[_i % UTIL_ARRAY_LEN(scripts)];
	int mode = (int)(_i / UTIL_ARRAY_LEN(scripts));
	unsigned seed = 7u + (unsigned)_i;
	char *in = expand(s->in);
	struct peer p;

	peer_init(&p);
	p.refuse = s->refuse;
	feed(&p, in, mode, &seed);
	ck_assert_msg(strncmp(p.out.data, s->out, strlen(s->out)) == 0,
	              "%s/%d out:\n%s\nwant:\n%s", s->name, mode, p.out.data,
	              s->out);
	ck_assert_msg(strncmp(p.ev.data ? p.ev.data : "", s->events,
	                      strlen(s->events)) == 0,
	              "%s/%d events:\n%s\nwant:\n%s", s->name, mode,
	              p.ev.data, s->events);
	peer_free(&p);
	free(in);
}
END_TEST

START_TEST(test_handshake_case_and_space)
{
	char *hs = handshake(SECRET), *hex = strchr(hs, '>') + 1, *in;
	struct peer p;

	for (char *q = hex; *q != '<'; q++)
		*q = (char)toupper((unsigned char)*q);
	hex[-1] = '\0';
	in = xasprintf(HDR("node1") "<handshake>\n  %.40s\t</handshake>", hex);
	peer_init(&p);
	feed(&p, in, 0, NULL);
	ck_assert_str_eq(p.ev.data, "auth:node1;ready;");
	ck_assert(component_is_ready(p.c));
	ck_assert_str_eq(component_name(p.c), "node1");
	ck_assert_str_eq(component_id(p.c), ID);
	peer_free(&p);
	free(in);
	free(hs);
}
END_TEST

START_TEST(test_wrong_secret)
{
	char *hs = handshake("not the secret"), *in;
	struct peer p;

	in = xasprintf(HDR("node1") "%s", hs);
	peer_init(&p);
	feed(&p, in, 0, NULL);
	ck_assert_str_eq(p.ev.data,
	                 "closed:S2SD_EAUTH:handshake does not match;");
	ck_assert(component_is_closed(p.c));
	/* Input after the close is ignored. */
	ck_assert_int_eq(component_input(p.c, "<x/>", 4, 300), S2SD_ESTREAM);
	peer_free(&p);
	free(in);
	free(hs);
}
END_TEST

static struct peer *
ready_peer(void)
{
	struct peer *p = xmalloc(sizeof(*p));
	char *in = expand(HDR("node1") "%H");

	peer_init(p);
	feed(p, in, 0, NULL);
	free(in);
	ck_assert(component_is_ready(p->c));
	util_buf_reset(&p->out);
	util_buf_reset(&p->ev);
	return p;
}

START_TEST(test_handshake_timeout)
{
	struct peer p;

	peer_init(&p);
	ck_assert_uint_eq(component_deadline(p.c), 1100);
	component_input(p.c, HDR("node1"), strlen(HDR("node1")), 600);
	/* The whole handshake has one time limit, not one per step. */
	ck_assert_uint_eq(component_deadline(p.c), 1100);
	component_tick(p.c, 1099);
	ck_assert_ptr_null(p.ev.data);
	component_tick(p.c, 1100);
	ck_assert_str_eq(p.ev.data, "closed:S2SD_ETIMEOUT:no handshake in "
	                            "time;");
	ck_assert(strstr(p.out.data, SERR("connection-timeout",
	                                  "no handshake in time")) != NULL);
	ck_assert_uint_eq(component_deadline(p.c), UINT64_MAX);
	peer_free(&p);
}
END_TEST

START_TEST(test_ready_has_no_deadline)
{
	struct peer *p = ready_peer();

	ck_assert_uint_eq(component_deadline(p->c), UINT64_MAX);
	component_tick(p->c, 1000000);
	ck_assert(component_is_ready(p->c));
	peer_free(p);
	free(p);
}
END_TEST

START_TEST(test_send)
{
	struct peer *p = ready_peer(), q;
	struct stanza *st = stanza_new(COMPONENT_NS, "message");

	stanza_set_attr(st, "to", "a@example.com");
	stanza_add_text(stanza_add_child(st, NULL, "body"), "<&>");
	ck_assert_int_eq(component_send(p->c, st), 0);
	ck_assert_str_eq(p->out.data, "<message to='a@example.com'><body>"
	                              "&lt;&amp;&gt;</body></message>");
	peer_init(&q);
	ck_assert_int_eq(component_send(q.c, st), -ENOTCONN);
	ck_assert_ptr_null(q.out.data);
	peer_free(&q);
	stanza_free(st);
	peer_free(p);
	free(p);
}
END_TEST

START_TEST(test_clean_close_peer_answers)
{
	struct peer *p = ready_peer();
	struct stanza *st = stanza_new(COMPONENT_NS, "message");

	component_close(p->c, 0, NULL, NULL, 1000);
	ck_assert_str_eq(p->out.data, "</stream:stream>");
	ck_assert_str_eq(component_state_name(p->c), "closing");
	ck_assert_uint_eq(component_deadline(p->c), 1500);
	ck_assert_int_eq(component_send(p->c, st), -ENOTCONN);
	component_close(p->c, 0, NULL, NULL, 1000);      /* no-op */
	/* A stanza still in flight from the peer is not delivered. */
	component_input(p->c, "<message id='late'/></stream:stream>", 36,
	                1200);
	ck_assert_str_eq(p->ev.data, "closed:0:closed by peer;");
	ck_assert_str_eq(p->out.data, "</stream:stream>");
	stanza_free(st);
	peer_free(p);
	free(p);
}
END_TEST

START_TEST(test_clean_close_peer_silent)
{
	struct peer *p = ready_peer();

	component_close(p->c, 0, NULL, NULL, 1000);
	component_tick(p->c, 1499);
	ck_assert_uint_eq(p->ev.len, 0);
	component_tick(p->c, 1500);
	ck_assert_str_eq(p->ev.data, "closed:0:peer did not close in time;");
	peer_free(p);
	free(p);
}
END_TEST

START_TEST(test_close_with_error)
{
	struct peer *p = ready_peer(), q;

	component_close(p->c, S2SD_EAUTH, "conflict", "replaced", 1000);
	ck_assert_str_eq(p->out.data, SERR("conflict", "replaced"));
	ck_assert_str_eq(p->ev.data, "closed:S2SD_EAUTH:replaced;");
	/* Before the peer's header: our header comes first. */
	peer_init(&q);
	component_close(q.c, S2SD_ESHUTDOWN, "system-shutdown", NULL, 0);
	ck_assert_str_eq(q.out.data,
	                 OUR_HDR("") "<stream:error><system-shutdown xmlns='"
	                 "urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
	                 "</stream:stream>");
	ck_assert_str_eq(q.ev.data, "closed:S2SD_ESHUTDOWN:shutting down;");
	peer_free(&q);
	peer_free(p);
	free(p);
}
END_TEST

START_TEST(test_eof)
{
	struct peer *p = ready_peer();

	component_eof(p->c, 0);
	ck_assert_str_eq(p->ev.data, "closed:0:connection closed by peer;");
	component_eof(p->c, -ECONNRESET);     /* once only */
	ck_assert_str_eq(p->ev.data, "closed:0:connection closed by peer;");
	ck_assert_uint_eq(p->out.len, 0);       /* nothing written */
	peer_free(p);
	free(p);
}
END_TEST

START_TEST(test_close_from_stanza_callback)
{
	struct peer *p = ready_peer();
	const char *in = "<message id='a'/><message id='b'/>";

	p->close_in_stanza = true;
	component_input(p->c, in, strlen(in), 1000);
	ck_assert_str_eq(p->ev.data, "message:jabber:component:accept:a;"
	                             "closed:S2SD_EPROTO:protocol violation;");
	peer_free(p);
	free(p);
}
END_TEST

START_TEST(test_limits)
{
	struct component_opts o = {.stream_id = ID, .xml = {.max_stanza = 200}};
	char *in = expand(HDR("node1") "%H"), big[400];
	struct peer p;

	memset(&p, 0, sizeof(p));
	p.c = component_new(&o, &pcbs, &p, 0);
	feed(&p, in, 0, NULL);
	memset(big, 'x', sizeof(big));
	memcpy(big, "<message><body>", 15);
	component_input(p.c, big, sizeof(big), 0);
	ck_assert(strstr(p.out.data, "<policy-violation") != NULL);
	ck_assert(strstr(p.ev.data, "closed:S2SD_EXML_LIMIT:") != NULL);
	peer_free(&p);
	free(in);
}
END_TEST

static Suite *
component_suite(void)
{
	Suite *s = suite_create("router_component");
	TCase *tc = tcase_create("component");

	tcase_add_loop_test(tc, test_script, 0, 4 * UTIL_ARRAY_LEN(scripts));
	tcase_add_test(tc, test_handshake_case_and_space);
	tcase_add_test(tc, test_wrong_secret);
	tcase_add_test(tc, test_handshake_timeout);
	tcase_add_test(tc, test_ready_has_no_deadline);
	tcase_add_test(tc, test_send);
	tcase_add_test(tc, test_clean_close_peer_answers);
	tcase_add_test(tc, test_clean_close_peer_silent);
	tcase_add_test(tc, test_close_with_error);
	tcase_add_test(tc, test_eof);
	tcase_add_test(tc, test_close_from_stanza_callback);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	log_set_level(-1, LOG_LEVEL_ERROR);
	return testutil_run(component_suite()) == 0 ? EXIT_SUCCESS
	                                             : EXIT_FAILURE;
}
