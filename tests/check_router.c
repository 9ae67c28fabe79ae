/* check_router.c - the routing rules with in-memory links (no network): a
 * home node here is bytes in and bytes out of router__attach(), S2S is
 * router_deliver() and the to_remote callback, and the clock is injected.
 * Covers the directory routes, the from check, local delivery, email
 * rewriting both ways, grace queues, conflicts, reconfiguration, shutdown
 * and router_explain. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "cm/err.h"
#include "cm/flow.h"
#include "cm/log.h"
#include "cm/util.h"
#include "router/component.h"
#include "router/directory.h"
#include "router/router.h"
#include "router/router_int.h"
#include "tests/lib/testutil.h"
#include "xmpp/stanza.h"
#include "xmpp/xmlstream.h"

static const char dir_text[] =
    "example.com                        node1\n"
    "alice@example.com                  node2 "
    "email=alice.smith@mail.example.com\n"
    "bob@example.com                    email=bob@mail.example.com\n"
    "carol@example.com                  node2\n"
    "conference-2.cluster1.example.com  node3\n"
    "proxy.example.com                  node3\n"
    "example.org                        node4\n";

static const char *const local_domains[] = {
    "example.com", "mail.example.com", "conference-2.cluster1.example.com",
    "proxy.example.com", "example.org", NULL};

static struct router_home homes[] = {
    {"node1", "secret1"}, {"node2", "secret2"}, {"Node3", "secret3"},
    {"node4", "secret4"}};

struct mem {
	struct router_link *l;
	struct util_buf out;
	bool close_asked;
	bool gone;
	bool paused;            /* back-pressure stopped its reading */
	size_t written;         /* bytes of OUT the "socket" has written */
};

static struct fx {
	uv_loop_t loop;
	struct router *r;
	struct directory *dir;
	struct router_opts opts;
	uint64_t now;
	struct util_buf remote;         /* to_remote stanzas, one a line */
	int nremote;
	struct mem links[16];
	int nlinks;
	int close_cbs;
	const char *peer_home;          /* attached at a cluster peer */
	struct util_buf peer;           /* to_peer: "home origin to\n" */
	char homes[128];                /* home_changed: "+x -y " */
} F;

static uint64_t
fx_clock(void *arg)
{
	(void)arg;
	return F.now;
}

static bool
fx_is_local(void *arg, const char *domain)
{
	(void)arg;
	for (size_t i = 0; local_domains[i] != NULL; i++)
		if (strcmp(local_domains[i], domain) == 0)
			return true;
	return false;
}

static void
fx_to_remote(void *arg, struct stanza *st)
{
	(void)arg;
	ck_assert_str_eq(stanza_ns(st), "jabber:server");
	stanza_serialize(st, "jabber:server", &F.remote);
	util_buf_puts(&F.remote, "\n");
	F.nremote++;
	stanza_free(st);
}

static bool
fx_to_peer(void *arg, const char *home, const char *origin, struct stanza *st)
{
	(void)arg;
	if (F.peer_home == NULL || strcmp(home, F.peer_home) != 0)
		return false;
	util_buf_printf(&F.peer, "%s %s %s\n", home, origin ? origin : "-",
	                stanza_attr(st, "id"));
	stanza_free(st);
	return true;
}

static void
fx_home_changed(void *arg, const char *home, bool attached)
{
	size_t n = strlen(F.homes);

	(void)arg;
	snprintf(F.homes + n, sizeof(F.homes) - n, "%c%s ",
	         attached ? '+' : '-', home);
}

static const struct router_cbs fx_cbs = {fx_is_local, fx_to_remote,
                                         fx_to_peer, fx_home_changed};

static struct directory *
dir_parse(const char *text)
{
	struct util_buf errors = {0};
	struct directory *d = NULL;

	ck_assert_msg(directory_parse("dir", text, &d, &errors) == 0, "%s",
	              errors.data);
	return d;
}

static void
fx_setup(bool email, uint64_t grace_ms, bool replace)
{
	char why[256];

	log_set_level(-1, LOG_LEVEL_ERROR);
	memset(&F, 0, sizeof(F));
	F.now = 1000;
	ck_assert_int_eq(uv_loop_init(&F.loop), 0);
	F.dir = dir_parse(dir_text);
	F.opts.homes = homes;
	F.opts.nhomes = UTIL_ARRAY_LEN(homes);
	F.opts.dir = F.dir;
	F.opts.email_federation = email;
	F.opts.grace_ms = grace_ms;
	F.opts.replace_on_conflict = replace;
	F.opts.handshake_timeout_ms = 5000;
	ck_assert_msg(router_new(&F.loop, &F.opts, &fx_cbs, NULL, &F.r, why,
	                         sizeof(why)) == 0, "%s", why);
	router__set_clock(F.r, fx_clock, NULL);
}

/* The in-memory transport. */

static void
mem_write(void *t, const char *buf, size_t len)
{
	struct mem *m = t;

	ck_assert(!m->close_asked);
	util_buf_append(&m->out, buf, len);
}

static void
mem_close(void *t)
{
	struct mem *m = t;

	ck_assert(!m->close_asked);
	m->close_asked = true;
}

static const struct router_transport mem_ops = {mem_write, mem_close};

static struct mem *
mem_new(void)
{
	struct mem *m = &F.links[F.nlinks++];

	ck_assert_int_le(F.nlinks, (int)UTIL_ARRAY_LEN(F.links));
	m->l = router__attach(F.r, &mem_ops, m, "mem");
	return m;
}

static void
mem_in(struct mem *m, const char *s)
{
	router__link_input(m->l, s, strlen(s));
}

/* The transport finished closing (what libuv's close callback does). */
static void
mem_gone(struct mem *m)
{
	ck_assert(m->close_asked);
	ck_assert(!m->gone);
	m->gone = true;
	router__link_gone(m->l);
	util_buf_free(&m->out);
}

/* Everything the link got since the last call (owned). */
static char *
mem_take(struct mem *m)
{
	char *s = xstrdup(m->out.data != NULL ? m->out.data : "");

	util_buf_reset(&m->out);
	m->written = 0;         /* flow tests: mem_written() first */
	return s;
}

static void
mem_expect(struct mem *m, const char *want)
{
	char *got = mem_take(m);

	ck_assert_msg(strcmp(got, want) == 0, "got:\n%s\nwant:\n%s", got, want);
	free(got);
}

static void
mem_expect_has(struct mem *m, const char *const *parts)
{
	char *got = mem_take(m);

	for (; *parts != NULL; parts++)
		ck_assert_msg(strstr(got, *parts) != NULL,
		              "missing:\n%s\nin:\n%s", *parts, got);
	free(got);
}

static char *
sha1_hex(const char *a, const char *b)
{
	char *data = xasprintf("%s%s", a, b), *hex = xmalloc(41);
	unsigned char d[20];

	ck_assert_int_eq(gnutls_hash_fast(GNUTLS_DIG_SHA1, data, strlen(data),
	                                  d), 0);
	util_hex(d, sizeof(d), hex);
	free(data);
	return hex;
}

/* A home node that connects and authenticates; what arrives with the
 * handshake reply (queued stanzas) stays in its buffer. */
static struct mem *
home(const char *name, const char *secret)
{
	struct mem *m = mem_new();
	char *hdr = xasprintf("<stream:stream xmlns='jabber:component:accept' "
	                      "xmlns:stream='http://etherx.jabber.org/streams' "
	                      "to='%s'>", name);
	char *id, *hs, *p;

	mem_in(m, hdr);
	p = strstr(m->out.data, " id='");
	ck_assert_ptr_nonnull(p);
	id = xstrndup(p + 5, strcspn(p + 5, "'"));
	hs = sha1_hex(id, secret);
	util_buf_reset(&m->out);
	free(hdr);
	hdr = xasprintf("<handshake>%s</handshake>", hs);
	mem_in(m, hdr);
	ck_assert_msg(strncmp(m->out.data, "<handshake/>", 12) == 0, "%s",
	              m->out.data);
	util_buf_consume(&m->out, 12);
	free(hdr);
	free(hs);
	free(id);
	return m;
}

static void
grab(void *arg, struct stanza *st)
{
	struct stanza **out = arg;

	ck_assert_ptr_null(*out);
	*out = st;
}

static struct stanza *
xml(const char *ns, const char *text)
{
	struct xmlstream_cbs cbs = {.stanza = grab};
	struct stanza *st = NULL;
	struct xmlstream *xs = xmlstream_new(NULL, &cbs, &st);
	char *hdr = xasprintf("<stream:stream xmlns='%s' xmlns:stream='"
	                      XMLSTREAM_NS_STREAMS "'>", ns);

	ck_assert_int_eq(xmlstream_feed(xs, hdr, strlen(hdr)), 0);
	ck_assert_int_eq(xmlstream_feed(xs, text, strlen(text)), 0);
	xmlstream_free(xs);
	free(hdr);
	ck_assert_ptr_nonnull(st);
	return st;
}

/* A stanza from S2S. */
static void
s2s(const char *text)
{
	router_deliver(F.r, xml("jabber:server", text));
}

static char *
remote_take(void)
{
	char *s = xstrdup(F.remote.data != NULL ? F.remote.data : "");

	util_buf_reset(&F.remote);
	F.nremote = 0;
	return s;
}

static void
remote_expect(const char *want)
{
	char *got = remote_take();

	ck_assert_msg(strcmp(got, want) == 0, "got:\n%s\nwant:\n%s", got, want);
	free(got);
}

static void
on_router_closed(void *arg)
{
	(void)arg;
	F.close_cbs++;
}

/* Close the router like the daemon does and check nothing leaks. */
static void
fx_teardown(void)
{
	int i;

	router_close(F.r, on_router_closed, NULL);
	for (i = 0; i < F.nlinks; i++)
		if (!F.links[i].gone)
			mem_gone(&F.links[i]);
	ck_assert_int_eq(uv_run(&F.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(F.close_cbs, 1);
	ck_assert_int_eq(uv_loop_close(&F.loop), 0);
	directory_unref(F.dir);
	util_buf_free(&F.remote);
	util_buf_free(&F.peer);
}

#define BOUNCE(cond)                                                           \
	"<error type='cancel'><" cond                                          \
	" xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "                 \
	"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>"

START_TEST(test_routes_from_s2s)
{
	struct mem *n1, *n2, *n3, *n4;

	fx_setup(false, 30000, true);
	n1 = home("node1", "secret1");
	n2 = home("node2", "secret2");
	n3 = home("node3", "secret3");      /* config spells it Node3 */
	n4 = home("NODE4", "secret4");      /* names ignore case */
	s2s("<message from='r@remote.example' to='alice@example.com/x' "
	    "id='m1'><body>hi</body></message>");
	mem_expect(n2, "<message from='r@remote.example' to='alice@example.com"
	               "/x' id='m1'><body>hi</body></message>");
	mem_expect(n1, "");
	s2s("<message from='r@remote.example' to='Zed@Example.COM' id='m2'/>");
	mem_expect(n1, "<message from='r@remote.example' to='Zed@Example.COM' "
	               "id='m2'/>");
	s2s("<presence from='r@remote.example/a' to='room@conference-2.cluster1."
	    "example.com/nick'/>");
	mem_expect(n3, "<presence from='r@remote.example/a' to='room@"
	               "conference-2.cluster1.example.com/nick'/>");
	s2s("<iq from='r@remote.example/a' to='proxy.example.com' id='i1' "
	    "type='get'><query xmlns='http://jabber.org/protocol/bytestreams'/>"
	    "</iq>");
	mem_expect(n3, "<iq from='r@remote.example/a' to='proxy.example.com' "
	               "id='i1' type='get'><query xmlns='http://jabber.org/"
	               "protocol/bytestreams'/></iq>");
	s2s("<message from='r@remote.example' to='x@example.org' id='m3'/>");
	mem_expect(n4, "<message from='r@remote.example' to='x@example.org' "
	               "id='m3'/>");
	mem_expect(n1, "");
	mem_expect(n2, "");
	ck_assert_int_eq(F.nremote, 0);
	fx_teardown();
}
END_TEST

START_TEST(test_no_route_bounces)
{
	char *got;

	fx_setup(false, 30000, true);
	/* mail.example.com is local but no line maps it. */
	s2s("<message from='r@remote.example/a' to='x@mail.example.com' "
	    "id='m1'/>");
	got = remote_take();
	ck_assert_msg(strstr(got, "<message to='r@remote.example/a' from='x@"
	                          "mail.example.com' id='m1' type='error'>"
	                          BOUNCE("service-unavailable")) == got, "%s",
	              got);
	free(got);
	/* Presence broadcasts and errors are not answered (RFC 6121 8.5). */
	s2s("<presence from='r@remote.example/a' to='x@mail.example.com'/>");
	s2s("<message from='r@remote.example/a' to='x@mail.example.com' "
	    "type='error'/>");
	s2s("<iq from='r@remote.example/a' to='x@mail.example.com' id='1' "
	    "type='result'/>");
	ck_assert_int_eq(F.nremote, 0);
	/* Presence subscriptions are. */
	s2s("<presence from='r@remote.example' to='x@mail.example.com' "
	    "type='subscribe'/>");
	ck_assert_int_eq(F.nremote, 1);
	free(remote_take());
	/* A 'to' that is no JID. */
	s2s("<message from='r@remote.example' to='a@b@c' id='bad'/>");
	got = remote_take();
	ck_assert(strstr(got, "<error type='modify'><jid-malformed") != NULL);
	free(got);
	fx_teardown();
}
END_TEST

START_TEST(test_from_check)
{
	static const char *const alice_owned[] = {
	    "<message to='alice@example.com' from='zed@example.com' id='f1' "
	    "type='error'>" BOUNCE("not-allowed") "this 'from' address belongs "
	    "to home node node2 (dir:2)</text></error></message>",
	    NULL};
	struct mem *n1, *n2;
	char *got;

	fx_setup(false, 30000, true);
	n1 = home("node1", "secret1");
	n2 = home("node2", "secret2");
	/* alice is node2's; node1 may not send as her. */
	mem_in(n1, "<message from='zed@example.com' to='alice@example.com' "
	           "id='f1'/>");
	mem_in(n1, "<message from='alice@example.com' to='zed@example.com' "
	           "id='f1'/>");
	got = mem_take(n2);
	ck_assert_str_eq(got, "<message from='zed@example.com' to='alice@"
	                      "example.com' id='f1'/>");
	free(got);
	got = mem_take(n1);
	for (int i = 0; alice_owned[i] != NULL; i++)
		ck_assert_msg(strstr(got, alice_owned[i]) != NULL, "%s", got);
	free(got);
	/* A remote domain, a domain mapped elsewhere, no from, a bad from. */
	mem_in(n1, "<message from='x@remote.example' to='y@remote.example' "
	           "id='f2'/>");
	mem_expect_has(n1, (const char *const[]){
	                       "id='f2' type='error'", "not-allowed",
	                       "must be in a local domain; remote.example is "
	                       "not", NULL});
	mem_in(n1, "<message from='room@conference-2.cluster1.example.com' "
	           "to='y@remote.example' id='f3'/>");
	mem_expect_has(n1, (const char *const[]){
	                       "id='f3' type='error'", "belongs to home node "
	                                               "node3 (dir:5)", NULL});
	mem_in(n1, "<message to='y@remote.example' id='f4'/>");
	mem_expect_has(n1, (const char *const[]){
	                       "<message from='y@remote.example' id='f4' "
	                       "type='error'>", "missing or malformed", NULL});
	mem_in(n1, "<message from='@example.com' to='y@remote.example' "
	           "id='f5'/>");
	mem_expect_has(n1, (const char *const[]){"id='f5' type='error'",
	                                         "not-allowed", NULL});
	/* mail.example.com is local, but no line routes it to anybody. */
	mem_in(n1, "<message from='x@mail.example.com' to='y@remote.example' "
	           "id='f6'/>");
	mem_expect_has(n1, (const char *const[]){
	                       "id='f6' type='error'", "maps no home node",
	                       NULL});
	/* An error stanza with a bad from is dropped, not answered. */
	mem_in(n1, "<message from='alice@example.com' to='y@remote.example' "
	           "type='error'/>");
	mem_expect(n1, "");
	ck_assert_int_eq(F.nremote, 0);
	/* What node1 may use: its domain, aliases of others excluded. */
	mem_in(n1, "<presence from='example.com' to='y@remote.example' "
	           "type='subscribed'/>");
	mem_in(n1, "<message from='zed@example.com/r' to='y@remote.example' "
	           "id='ok'><body>x</body></message>");
	remote_expect("<presence from='example.com' to='y@remote.example' "
	              "type='subscribed'/>\n<message from='zed@example.com/r' "
	              "to='y@remote.example' id='ok'><body>x</body></message>\n");
	fx_teardown();
}
END_TEST

START_TEST(test_local_delivery)
{
	struct mem *n1, *n2, *n3;

	fx_setup(false, 30000, true);
	n1 = home("node1", "secret1");
	n2 = home("node2", "secret2");
	n3 = home("node3", "secret3");
	/* Local recipients are served without federation. */
	mem_in(n1, "<message from='zed@example.com/a' to='carol@example.com' "
	           "id='l1'/>");
	mem_expect(n2, "<message from='zed@example.com/a' to='carol@example.com'"
	               " id='l1'/>");
	mem_in(n2, "<presence from='carol@example.com/x' to='room@conference-2"
	           ".cluster1.example.com/carol'/>");
	mem_expect(n3, "<presence from='carol@example.com/x' to='room@"
	               "conference-2.cluster1.example.com/carol'/>");
	/* A node may send to its own users through the router. */
	mem_in(n1, "<message from='zed@example.com' to='yan@example.com' "
	           "id='l2'/>");
	mem_expect(n1, "<message from='zed@example.com' to='yan@example.com' "
	               "id='l2'/>");
	/* No route: answered to the sender node. */
	mem_in(n1, "<iq from='zed@example.com' to='x@mail.example.com' id='l3' "
	           "type='get'/>");
	mem_expect_has(n1, (const char *const[]){
	                       "<iq to='zed@example.com' from='x@mail.example."
	                       "com' id='l3' type='error'>",
	                       "service-unavailable", NULL});
	/* No 'to', a bad 'to'. */
	mem_in(n1, "<iq from='zed@example.com' id='l4' type='get'/>");
	mem_expect_has(n1, (const char *const[]){"id='l4' type='error'",
	                                         "service-unavailable", NULL});
	mem_in(n1, "<message from='zed@example.com' to='a@@b' id='l5'/>");
	mem_expect_has(n1, (const char *const[]){"id='l5' type='error'",
	                                         "<error type='modify'>"
	                                         "<jid-malformed", NULL});
	ck_assert_int_eq(F.nremote, 0);
	fx_teardown();
}
END_TEST

START_TEST(test_email_federation)
{
	struct mem *n1, *n2;

	fx_setup(true, 30000, true);
	n1 = home("node1", "secret1");
	n2 = home("node2", "secret2");
	/* Outbound: from becomes the email address, resource kept. */
	mem_in(n2, "<message from='alice@example.com/desk' to='r@remote.example'"
	           " id='e1'><body>x</body></message>");
	remote_expect("<message from='alice.smith@mail.example.com/desk' to='r@"
	              "remote.example' id='e1'><body>x</body></message>\n");
	/* Inbound to the email address: the user's internal JID. */
	s2s("<message from='r@remote.example/a' to='Alice.Smith@mail.example."
	    "com/desk' id='e2'/>");
	mem_expect(n2, "<message from='r@remote.example/a' to='alice@example."
	               "com/desk' id='e2'/>");
	/* Presence subscriptions both ways. */
	s2s("<presence from='r@remote.example' to='alice.smith@mail.example.com'"
	    " type='subscribe'/>");
	mem_expect(n2, "<presence from='r@remote.example' to='alice@example."
	               "com' type='subscribe'/>");
	mem_in(n2, "<presence from='alice@example.com' to='r@remote.example' "
	           "type='subscribed'/>");
	remote_expect("<presence from='alice.smith@mail.example.com' to='r@"
	              "remote.example' type='subscribed'/>\n");
	/* The raw internal JID of a mapped user is dropped, unanswered. */
	s2s("<message from='r@remote.example' to='alice@example.com' "
	    "id='e3'/>");
	s2s("<presence from='r@remote.example' to='bob@example.com/x' "
	    "type='subscribe'/>");
	mem_expect(n2, "");
	mem_expect(n1, "");
	ck_assert_int_eq(F.nremote, 0);
	/* bob has an email address but no own line: node1 serves him. */
	s2s("<message from='r@remote.example' to='bob@mail.example.com' "
	    "id='e4'/>");
	mem_expect(n1, "<message from='r@remote.example' to='bob@example.com' "
	               "id='e4'/>");
	mem_in(n1, "<message from='bob@example.com' to='r@remote.example' "
	           "id='e5'/>");
	remote_expect("<message from='bob@mail.example.com' to='r@remote."
	              "example' id='e5'/>\n");
	/* Users without an email address federate with their JID. */
	mem_in(n2, "<message from='carol@example.com' to='r@remote.example' "
	           "id='e6'/>");
	remote_expect("<message from='carol@example.com' to='r@remote.example' "
	              "id='e6'/>\n");
	s2s("<message from='r@remote.example' to='carol@example.com' "
	    "id='e7'/>");
	mem_expect(n2, "<message from='r@remote.example' to='carol@example.com'"
	               " id='e7'/>");
	/* A node may send from its users' email addresses, not others'. */
	mem_in(n2, "<message from='alice.smith@mail.example.com' to='r@remote."
	           "example' id='e8'/>");
	remote_expect("<message from='alice.smith@mail.example.com' to='r@"
	              "remote.example' id='e8'/>\n");
	mem_in(n2, "<message from='bob@mail.example.com' to='r@remote.example' "
	           "id='e9'/>");
	mem_expect_has(n2, (const char *const[]){"id='e9' type='error'",
	                                         "belongs to home node node1",
	                                         NULL});
	/* Local traffic keeps internal JIDs; email addresses reach users. */
	mem_in(n1, "<message from='bob@example.com' to='alice.smith@mail."
	           "example.com' id='e10'/>");
	mem_expect(n2, "<message from='bob@example.com' to='alice@example.com' "
	               "id='e10'/>");
	mem_in(n1, "<message from='bob@example.com' to='alice@example.com' "
	           "id='e11'/>");
	mem_expect(n2, "<message from='bob@example.com' to='alice@example.com' "
	               "id='e11'/>");
	ck_assert_int_eq(F.nremote, 0);
	fx_teardown();
}
END_TEST

START_TEST(test_email_off)
{
	struct mem *n1, *n2;

	fx_setup(false, 30000, true);
	n1 = home("node1", "secret1");
	n2 = home("node2", "secret2");
	mem_in(n2, "<message from='alice@example.com' to='r@remote.example' "
	           "id='o1'/>");
	remote_expect("<message from='alice@example.com' to='r@remote.example' "
	              "id='o1'/>\n");
	s2s("<message from='r@remote.example' to='alice@example.com' "
	    "id='o2'/>");
	mem_expect(n2, "<message from='r@remote.example' to='alice@example.com' "
	               "id='o2'/>");
	/* The email address means nothing then: mail.example.com has no
	 * line, so the stanza is answered. */
	s2s("<message from='r@remote.example' to='alice.smith@mail.example.com'"
	    " id='o3'/>");
	ck_assert_int_eq(F.nremote, 1);
	free(remote_take());
	mem_expect(n1, "");
	fx_teardown();
}
END_TEST

START_TEST(test_grace_delivered_on_attach)
{
	struct mem *n2;
	char want[4096] = "";
	int i;

	fx_setup(true, 30000, true);
	for (i = 0; i < 50; i++) {
		char s[256];

		snprintf(s, sizeof(s), "<message from='r@remote.example' to='"
		         "alice.smith@mail.example.com' id='q%d'/>", i);
		s2s(s);
		snprintf(s, sizeof(s), "<message from='r@remote.example' to='"
		         "alice@example.com' id='q%d'/>", i);
		strcat(want, s);
		F.now += 100;
	}
	ck_assert_uint_eq(router__node(F.r, "node2")->qlen, 50);
	ck_assert_int_eq(F.nremote, 0);
	F.now = 1000 + 29999;
	router__tick(F.r);
	ck_assert_int_eq(F.nremote, 0);
	n2 = home("node2", "secret2");
	/* In order, right after the handshake reply. */
	mem_expect(n2, want);
	ck_assert_uint_eq(router__node(F.r, "node2")->qlen, 0);
	F.now += 100000;
	router__tick(F.r);
	ck_assert_int_eq(F.nremote, 0);
	fx_teardown();
}
END_TEST

START_TEST(test_grace_expires)
{
	struct mem *n1, *n2;
	char *got;

	fx_setup(true, 30000, true);
	n1 = home("node1", "secret1");
	n2 = home("node2", "secret2");
	mem_in(n2, "</stream:stream>");     /* node2 leaves */
	mem_expect(n2, "</stream:stream>");
	mem_gone(n2);
	s2s("<message from='r@remote.example' to='alice.smith@mail.example.com"
	    "/d' id='g1'/>");
	s2s("<presence from='r@remote.example' to='alice.smith@mail.example."
	    "com'/>");
	F.now += 10000;
	mem_in(n1, "<message from='zed@example.com' to='carol@example.com' "
	           "id='g2'/>");
	F.now += 19999;
	router__tick(F.r);
	ck_assert_int_eq(F.nremote, 0);
	F.now += 1;
	router__tick(F.r);
	/* Bounced from the user's email address, not the internal JID. */
	got = remote_take();
	ck_assert_msg(strstr(got, "<message to='r@remote.example' from='alice."
	                          "smith@mail.example.com/d' id='g1' type='error'"
	                          ">" BOUNCE("service-unavailable") "home node "
	                          "node2 is not attached</text>") == got,
	              "%s", got);
	ck_assert(strchr(got, '\n') == got + strlen(got) - 1);   /* one only */
	free(got);
	mem_expect(n1, "");
	F.now += 10000;
	router__tick(F.r);
	/* The stanza from node1 bounces back to node1. */
	mem_expect_has(n1, (const char *const[]){
	                       "<message to='zed@example.com' from='carol@"
	                       "example.com' id='g2' type='error'>",
	                       "service-unavailable", NULL});
	ck_assert_int_eq(F.nremote, 0);
	fx_teardown();
}
END_TEST

START_TEST(test_grace_zero_and_queue_bound)
{
	struct mem *n1;
	char *got;
	int i;

	fx_setup(false, 0, true);
	n1 = home("node1", "secret1");
	mem_in(n1, "<message from='zed@example.com' to='carol@example.com' "
	           "id='z1'/>");
	mem_expect_has(n1, (const char *const[]){"id='z1' type='error'",
	                                         "service-unavailable", NULL});
	fx_teardown();

	fx_setup(false, 30000, true);
	F.opts.queue_max_stanzas = 3;
	{
		char why[128];
		ck_assert_int_eq(router_reconfigure(F.r, &F.opts, why,
		                                    sizeof(why)), 0);
	}
	for (i = 0; i < 5; i++)
		s2s("<message from='r@remote.example' to='carol@example.com' "
		    "id='b'/>");
	ck_assert_int_eq(F.nremote, 2);
	got = remote_take();
	ck_assert(strstr(got, "<error type='wait'><resource-constraint") !=
	          NULL);
	free(got);
	ck_assert_uint_eq(router__node(F.r, "node2")->qlen, 3);
	fx_teardown();
}
END_TEST

START_TEST(test_conflict_replace)
{
	struct mem *a, *b;

	fx_setup(false, 30000, true);
	a = home("node2", "secret2");
	b = home("node2", "secret2");
	mem_expect_has(a, (const char *const[]){
	                       "<stream:error><conflict", "replaced by a new "
	                       "connection", "</stream:stream>", NULL});
	ck_assert(a->close_asked);
	mem_gone(a);
	s2s("<message from='r@remote.example' to='carol@example.com' id='c1'/>");
	mem_expect(b, "<message from='r@remote.example' to='carol@example.com' "
	              "id='c1'/>");
	fx_teardown();
}
END_TEST

START_TEST(test_conflict_refuse)
{
	struct mem *a, *b;
	char *hdr, *id, *hs, *p;

	fx_setup(false, 30000, false);
	a = home("node2", "secret2");
	b = mem_new();
	mem_in(b, "<stream:stream xmlns='jabber:component:accept' xmlns:stream="
	          "'http://etherx.jabber.org/streams' to='node2'>");
	p = strstr(b->out.data, " id='");
	id = xstrndup(p + 5, 32);
	hs = sha1_hex(id, "secret2");
	hdr = xasprintf("<handshake>%s</handshake>", hs);
	util_buf_reset(&b->out);
	mem_in(b, hdr);
	mem_expect(b, "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:"
	              "xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-"
	              "streams'>home node node2 is already attached</text>"
	              "</stream:error></stream:stream>");
	ck_assert(b->close_asked);
	ck_assert(!a->close_asked);
	s2s("<message from='r@remote.example' to='carol@example.com' id='c1'/>");
	mem_expect(a, "<message from='r@remote.example' to='carol@example.com' "
	              "id='c1'/>");
	free(hdr);
	free(hs);
	free(id);
	fx_teardown();
}
END_TEST

START_TEST(test_bad_handshakes)
{
	struct mem *m;

	fx_setup(false, 30000, true);
	m = mem_new();
	mem_in(m, "<stream:stream xmlns='jabber:component:accept' xmlns:stream="
	          "'http://etherx.jabber.org/streams' to='node9'>");
	mem_expect_has(m, (const char *const[]){"<host-unknown", NULL});
	ck_assert(m->close_asked);
	m = mem_new();
	mem_in(m, "<stream:stream xmlns='jabber:component:accept' xmlns:stream="
	          "'http://etherx.jabber.org/streams' to='node1'><handshake>"
	          "da39a3ee5e6b4b0d3255bfef95601890afd80709</handshake>");
	mem_expect_has(m, (const char *const[]){"<not-authorized", NULL});
	ck_assert(m->close_asked);
	/* A handshake time-out. */
	m = mem_new();
	F.now += 4999;
	router__tick(F.r);
	ck_assert(!m->close_asked);
	F.now += 1;
	router__tick(F.r);
	mem_expect_has(m, (const char *const[]){"<connection-timeout", NULL});
	ck_assert(m->close_asked);
	fx_teardown();
}
END_TEST

START_TEST(test_reconfigure)
{
	static struct router_home homes2[] = {
	    {"node1", "secret1"}, {"node2", "changed"}, {"node5", "secret5"}};
	struct mem *n1, *n2, *n3;
	struct directory *d2;
	char why[256];

	fx_setup(false, 30000, true);
	n1 = home("node1", "secret1");
	n2 = home("node2", "secret2");
	n3 = home("node3", "secret3");
	s2s("<message from='r@remote.example' to='x@example.org' id='r1'/>");
	ck_assert_uint_eq(router__node(F.r, "node4")->qlen, 1);
	/* A directory naming an unknown node is refused; nothing changes. */
	F.opts.homes = homes2;
	F.opts.nhomes = UTIL_ARRAY_LEN(homes2);
	ck_assert_int_eq(router_reconfigure(F.r, &F.opts, why, sizeof(why)),
	                 S2SD_ECONFIG);
	ck_assert_str_eq(why, "dir:5: unknown home node 'node3' (no [home "
	                      "node3] section in the configuration)");
	ck_assert(!n3->close_asked);
	ck_assert_uint_eq(router__node(F.r, "node4")->qlen, 1);
	d2 = dir_parse("example.com node1\ncarol@example.com node5\n"
	               "dave@example.com node2\n");
	F.opts.dir = d2;
	ck_assert_msg(router_reconfigure(F.r, &F.opts, why, sizeof(why)) == 0,
	              "%s", why);
	/* node3 is gone, node2's secret changed, node1 stays. */
	mem_expect_has(n3, (const char *const[]){"<host-gone", NULL});
	mem_expect_has(n2, (const char *const[]){"<reset", NULL});
	ck_assert(n3->close_asked && n2->close_asked && !n1->close_asked);
	/* node4's waiting stanza is answered at once. */
	ck_assert_int_eq(F.nremote, 1);
	free(remote_take());
	ck_assert_ptr_null(router__node(F.r, "node4"));
	/* The new directory routes. */
	s2s("<message from='r@remote.example' to='carol@example.com' id='r2'/>");
	ck_assert_uint_eq(router__node(F.r, "node5")->qlen, 1);
	s2s("<message from='r@remote.example' to='alice@example.com' id='r3'/>");
	mem_expect(n1, "<message from='r@remote.example' to='alice@example.com'"
	               " id='r3'/>");
	/* node2 attaches again with its new secret. */
	mem_gone(n2);
	n2 = home("node2", "changed");
	s2s("<message from='r@remote.example' to='dave@example.com' id='r4'/>");
	mem_expect(n2, "<message from='r@remote.example' to='dave@example.com' "
	               "id='r4'/>");
	directory_unref(d2);
	fx_teardown();
}
END_TEST

START_TEST(test_new_errors)
{
	static struct router_home dup[] = {{"node1", "a"}, {"NODE1", "b"}};
	static struct router_home nosecret[] = {{"node1", ""}};
	struct router_opts o = {0};
	struct router *r = NULL;
	struct directory *d = dir_parse("example.com node1\nx.example node2\n");
	uv_loop_t loop;
	char why[256];

	uv_loop_init(&loop);
	o.homes = dup;
	o.nhomes = 2;
	ck_assert_int_eq(router_new(&loop, &o, &fx_cbs, NULL, &r, why,
	                            sizeof(why)), S2SD_ECONFIG);
	ck_assert_str_eq(why, "home node NODE1 is listed twice");
	o.homes = nosecret;
	o.nhomes = 1;
	ck_assert_int_eq(router_new(&loop, &o, &fx_cbs, NULL, &r, why,
	                            sizeof(why)), S2SD_ECONFIG);
	ck_assert_str_eq(why, "home node node1 has no secret");
	o.homes = dup;
	o.nhomes = 1;
	o.dir = d;
	ck_assert_int_eq(router_new(&loop, &o, &fx_cbs, NULL, &r, why,
	                            sizeof(why)), S2SD_ECONFIG);
	ck_assert_str_eq(why, "dir:2: unknown home node 'node2' (no [home "
	                      "node2] section in the configuration)");
	ck_assert_ptr_null(r);
	directory_unref(d);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_shutdown)
{
	struct mem *n1;

	fx_setup(false, 30000, true);
	n1 = home("node1", "secret1");
	s2s("<message from='r@remote.example' to='carol@example.com' id='s1'/>");
	mem_in(n1, "<message from='zed@example.com' to='carol@example.com' "
	           "id='s2'/>");
	router_close(F.r, on_router_closed, NULL);
	/* Both waiting stanzas are answered, then the links close. */
	ck_assert_int_eq(F.nremote, 1);
	free(remote_take());
	mem_expect_has(n1, (const char *const[]){
	                       "id='s2' type='error'", "service-unavailable",
	                       "<stream:error><system-shutdown", NULL});
	ck_assert(n1->close_asked);
	/* Deliveries after router_close are answered at once. */
	s2s("<message from='r@remote.example' to='zed@example.com' id='s3'/>");
	ck_assert_int_eq(F.nremote, 1);
	free(remote_take());
	/* A connection arriving now is refused. */
	ck_assert(mem_new()->close_asked);
	ck_assert_int_eq(F.close_cbs, 0);
	mem_gone(n1);
	mem_gone(&F.links[1]);
	ck_assert_int_eq(uv_run(&F.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(F.close_cbs, 1);
	ck_assert_int_eq(uv_loop_close(&F.loop), 0);
	directory_unref(F.dir);
	util_buf_free(&F.remote);
}
END_TEST

/* Shutdown begins with router_drain() while S2S still runs: what waits
 * for a home node is answered now (the answers for remote senders can
 * still leave), nothing waits from then on, attached links keep working. */
START_TEST(test_drain)
{
	struct mem *n1;
	char *got;

	fx_setup(false, 30000, true);
	n1 = home("node1", "secret1");
	s2s("<message from='r@remote.example' to='carol@example.com' id='d1'/>");
	mem_in(n1, "<message from='zed@example.com' to='carol@example.com' "
	           "id='d2'/>");
	ck_assert_int_eq(F.nremote, 0);
	router_drain(F.r);
	got = remote_take();
	ck_assert_msg(strstr(got, "<message to='r@remote.example' from='carol@"
	                          "example.com' id='d1' type='error'>"
	                          BOUNCE("service-unavailable") "home node "
	                          "node2 is not attached</text>") == got,
	              "%s", got);
	free(got);
	mem_expect_has(n1, (const char *const[]){
	                       "id='d2' type='error'", "service-unavailable",
	                       NULL});
	ck_assert_uint_eq(router__node(F.r, "node2")->qlen, 0);
	/* Nothing waits any more: answered at once, no timer needed. */
	s2s("<message from='r@remote.example' to='carol@example.com' id='d3'/>");
	ck_assert_int_eq(F.nremote, 1);
	free(remote_take());
	ck_assert_uint_eq(router__node(F.r, "node2")->qlen, 0);
	/* The attached node still gets its stanzas; a second drain is a
	 * no-op. */
	s2s("<message from='r@remote.example' to='zed@example.com' id='d4'/>");
	mem_expect_has(n1, (const char *const[]){"id='d4'", NULL});
	ck_assert(!n1->close_asked);
	router_drain(F.r);
	ck_assert_int_eq(F.nremote, 0);
	fx_teardown();
}
END_TEST

START_TEST(test_explain)
{
	struct util_buf b = {0};
	struct mem *n2;

	fx_setup(true, 30000, true);
	n2 = home("node2", "secret2");
	(void)n2;
	router_explain(F.r, "Alice@Example.com/desk", &b);
	ck_assert_msg(strstr(b.data,
	                     "address: alice@example.com/desk\n"
	                     "email federation: on\n"
	                     "domain: example.com is local\n"
	                     "email: federates as alice.smith@mail.example.com "
	                     "(dir:2); federated stanzas to this internal "
	                     "address are dropped\n"
	                     "route: home node node2 (dir:2, user "
	                     "alice@example.com)\n"
	                     "node: node2 attached for 0s (link ") == b.data,
	              "%s", b.data);
	ck_assert(strstr(b.data, "from: only home node node2 may send from "
	                         "this address\n") != NULL);
	util_buf_reset(&b);
	router_explain(F.r, "bob@mail.example.com", &b);
	ck_assert_str_eq(b.data,
	                 "address: bob@mail.example.com\n"
	                 "email federation: on\n"
	                 "domain: mail.example.com is local\n"
	                 "email: the federated address of bob@example.com "
	                 "(dir:3); stanzas to it go to that user\n"
	                 "route: home node node1 (dir:1, domain example.com)\n"
	                 "node: node1 not attached; stanzas wait 30000 ms for "
	                 "it, then bounce (0 waiting)\n"
	                 "from: only home node node1 may send from this "
	                 "address\n");
	util_buf_reset(&b);
	router_explain(F.r, "x@remote.example", &b);
	ck_assert_str_eq(b.data,
	                 "address: x@remote.example\n"
	                 "email federation: on\n"
	                 "domain: remote.example is not local\n"
	                 "route: s2s: stanzas from home nodes go to the remote "
	                 "domain if the policy allows 'out' for it\n");
	util_buf_reset(&b);
	router_explain(F.r, "x@mail.example.com", &b);
	ck_assert(strstr(b.data, "route: none: no line of dir maps "
	                         "mail.example.com; stanzas to it are answered "
	                         "with service-unavailable\n") != NULL);
	util_buf_reset(&b);
	router_explain(F.r, "a@@b", &b);
	ck_assert(strncmp(b.data, "address: invalid: ", 18) == 0);
	util_buf_free(&b);
	fx_teardown();
}
END_TEST

/* The cluster hooks: attach/detach reported, a home node attached at a
 * peer gets stanzas from S2S and from local home nodes through to_peer
 * (what waited for it too), stanzas from a peer reach local home nodes. */
START_TEST(test_cluster_hooks)
{
	struct mem *n1;

	fx_setup(false, 30000, true);
	n1 = home("node1", "secret1");
	ck_assert_str_eq(F.homes, "+node1 ");
	s2s("<message from='r@remote.example' to='carol@example.com' id='q1'/>");
	ck_assert_ptr_null(F.peer.data);        /* waits: nobody has node2 */
	F.peer_home = "node2";
	router_home_remote(F.r, "node2");
	s2s("<message from='r@remote.example' to='carol@example.com' id='q2'/>");
	mem_in(n1, "<message from='zed@example.com' to='carol@example.com' "
	           "id='q3'/>");
	ck_assert_str_eq(F.peer.data, "node2 - q1\nnode2 - q2\n"
	                              "node2 node1 q3\n");
	router_deliver_home(F.r, "node1", "node2",
	                    xml("jabber:server", "<message from='carol@"
	                        "example.com' to='zed@example.com' id='p1'/>"));
	mem_expect_has(n1, (const char *const[]){"id='p1'", NULL});
	router_deliver_home(F.r, "nosuch", NULL,
	                    xml("jabber:server", "<message from='r@remote."
	                        "example' to='zed@example.com' id='p2'/>"));
	ck_assert_int_eq(F.nremote, 1);
	ck_assert_ptr_nonnull(strstr(F.remote.data, "service-unavailable"));
	free(remote_take());
	mem_in(n1, "</stream:stream>");
	ck_assert_str_eq(F.homes, "+node1 -node1 ");
	fx_teardown();
}
END_TEST

/* Back-pressure (cm/flow.h) on a home node link whose socket does not
 * write: the S2S streams delivering into it stop reading above high water
 * while their stanzas wait in the node's queue; written down to low water,
 * the queue goes out in order and they read again. A link that makes no
 * progress for stall_ms lets them go (the queue bounds apply then). */

static void
mem_pause(void *t, bool stop)
{
	struct mem *m = t;

	ck_assert(m->paused != stop);
	m->paused = stop;
}

/* The "socket" wrote everything the link was given. */
static void
mem_written(struct mem *m)
{
	size_t n = m->out.len - m->written;

	m->written = m->out.len;
	router__link_written(m->l, n);
}

struct s2s_reader {
	bool paused;
	int pauses;
};

static void
s2s_reader_pause(void *arg)
{
	struct s2s_reader *r = arg;

	r->paused = true;
	r->pauses++;
}

static void
s2s_reader_resume(void *arg)
{
	((struct s2s_reader *)arg)->paused = false;
}

static const struct flow_src_ops s2s_reader_ops = {s2s_reader_pause,
                                                   s2s_reader_resume};

/* A 100-byte stanza for node1 from the inbound S2S stream SRC. */
static void
s2s_from(struct flow_src *src, int i)
{
	char text[160];
	struct flow_src *prev = flow_src_enter(src);

	snprintf(text, sizeof(text), "<message from='r@remote.example' "
	         "to='zed@example.com' id='f%03d'><body>0123456789</body>"
	         "</message>", i);
	s2s(text);
	flow_src_leave(prev);
}

static void
fx_flow(size_t high, size_t low, uint64_t stall_ms, size_t qmax)
{
	char why[128];

	F.opts.flow = (struct flow_opts){high, low, stall_ms};
	F.opts.queue_max_stanzas = qmax;
	ck_assert_int_eq(router_reconfigure(F.r, &F.opts, why, sizeof(why)),
	                 0);
}

START_TEST(test_flow_s2s_into_slow_link)
{
	struct s2s_reader rd = {0};
	struct flow_src *src;
	struct mem *n1;
	char *got, id[24];
	int i;

	fx_setup(false, 30000, true);
	fx_flow(1000, 200, 5000, 1000);
	n1 = home("node1", "secret1");
	router__link_flow(n1->l, mem_pause);
	util_buf_reset(&n1->out);
	src = flow_src_new(&s2s_reader_ops, &rd, 42, "in");
	/* 1,000 bytes unwritten (the 11th stanza of 97 bytes): congested;
	 * the next stanza waits and its stream stops reading. */
	for (i = 0; i < 12; i++)
		s2s_from(src, i);
	ck_assert(rd.paused);
	ck_assert_int_eq(rd.pauses, 1);
	ck_assert_uint_eq(router__node(F.r, "node1")->qlen, 1);
	ck_assert(strstr(n1->out.data, "id='f010'") != NULL);
	ck_assert(strstr(n1->out.data, "id='f011'") == NULL);
	s2s_from(src, 12);      /* read before the pause took effect */
	ck_assert_uint_eq(router__node(F.r, "node1")->qlen, 2);
	/* Written: the queue goes out in order, the stream reads again. */
	mem_written(n1);
	ck_assert(!rd.paused);
	ck_assert_uint_eq(router__node(F.r, "node1")->qlen, 0);
	mem_written(n1);
	got = mem_take(n1);
	ck_assert(strstr(got, "id='f011'") != NULL);
	ck_assert(strstr(got, "id='f011'") < strstr(got, "id='f012'"));
	free(got);
	ck_assert(!n1->paused);         /* answers were not involved */

	/* A link that writes nothing for stall_ms lets the stream go; what
	 * waits beyond queue_max_stanzas then bounces. */
	fx_flow(1000, 200, 5000, 3);
	for (i = 20; i < 32; i++)
		s2s_from(src, i);
	ck_assert(rd.paused);
	F.now += 4999;
	router__tick(F.r);
	ck_assert(rd.paused);
	F.now += 1;
	router__tick(F.r);
	ck_assert(!rd.paused);
	for (i = 32; i < 37; i++)
		s2s_from(src, i);
	ck_assert(!rd.paused);
	ck_assert_uint_eq(router__node(F.r, "node1")->qlen, 3);
	got = remote_take();
	ck_assert(strstr(got, "<resource-constraint") != NULL);
	free(got);
	/* Progress again: everything that waited goes out, in order. */
	mem_written(n1);
	got = mem_take(n1);
	for (i = 20; i < 34; i++) {
		snprintf(id, sizeof(id), "id='f%03d'", i);
		ck_assert_msg(strstr(got, id) != NULL, "%s missing", id);
	}
	free(got);
	flow_src_close(src);
	fx_teardown();
}
END_TEST

/* A home node that does not read the answers to what it sends: its own
 * reading stops too. */
START_TEST(test_flow_link_answers)
{
	struct mem *n1;
	int i;

	fx_setup(false, 30000, true);
	fx_flow(400, 100, 5000, 1000);
	n1 = home("node1", "secret1");
	router__link_flow(n1->l, mem_pause);
	util_buf_reset(&n1->out);
	for (i = 0; i < 6 && !n1->paused; i++)
		mem_in(n1, "<message from='zed@example.com' to='nobody@"
		           "mail.example.com' id='q'><body>0123456789</body>"
		           "</message>");
	ck_assert(n1->paused);
	/* Each write lets the queued answers out; reading resumes at low
	 * water, and every answer reached the node. */
	for (int k = 0; k < 8 && n1->paused; k++)
		mem_written(n1);
	ck_assert(!n1->paused);
	ck_assert_uint_eq(router__node(F.r, "node1")->qlen, 0);
	{
		const char *p = n1->out.data;
		int answers = 0;

		while ((p = strstr(p, "type='error'")) != NULL) {
			answers++;
			p++;
		}
		ck_assert_int_eq(answers, i);
	}
	fx_teardown();
}
END_TEST

static Suite *
router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("router");

	tcase_add_test(tc, test_routes_from_s2s);
	tcase_add_test(tc, test_no_route_bounces);
	tcase_add_test(tc, test_from_check);
	tcase_add_test(tc, test_local_delivery);
	tcase_add_test(tc, test_email_federation);
	tcase_add_test(tc, test_email_off);
	tcase_add_test(tc, test_grace_delivered_on_attach);
	tcase_add_test(tc, test_grace_expires);
	tcase_add_test(tc, test_grace_zero_and_queue_bound);
	tcase_add_test(tc, test_conflict_replace);
	tcase_add_test(tc, test_conflict_refuse);
	tcase_add_test(tc, test_bad_handshakes);
	tcase_add_test(tc, test_reconfigure);
	tcase_add_test(tc, test_new_errors);
	tcase_add_test(tc, test_shutdown);
	tcase_add_test(tc, test_drain);
	tcase_add_test(tc, test_explain);
	tcase_add_test(tc, test_cluster_hooks);
	tcase_add_test(tc, test_flow_s2s_into_slow_link);
	tcase_add_test(tc, test_flow_link_answers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(router_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
