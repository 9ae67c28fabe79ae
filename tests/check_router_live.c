/* check_router_live.c - the router on a real libuv loop with a component
 * listener on 127.0.0.1 (ephemeral port) and real XEP-0114 home nodes:
 * slixmpp's ComponentXMPP (tests/data/router/home_node.py) run as
 * subprocesses with Debian's /usr/bin/python3. S2S is played by the test:
 * router_deliver() in, the to_remote callback out.
 *
 * Each home node is stopped by its PID at the end of its test. Should a
 * test die first, the node sees its stdin close and exits, the kernel kills
 * it with its parent (PR_SET_PDEATHSIG), and the unchecked teardown kills
 * every PID the tests recorded that still runs the helper. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/listen.h"
#include "cm/log.h"
#include "cm/util.h"
#include "router/directory.h"
#include "router/router.h"
#include "tests/lib/testutil.h"
#include "xmpp/stanza.h"
#include "xmpp/xmlstream.h"

#define PYTHON "/usr/bin/python3"
#define WAIT_MS 20000           /* a python start on a busy machine */

static const char dir_text[] =
    "example.com                        node1\n"
    "alice@example.com                  node2 "
    "email=alice.smith@mail.example.com\n"
    "carol@example.com                  node2\n"
    "conference-2.cluster1.example.com  node3\n";

static const char *const local_domains[] = {
    "example.com", "mail.example.com", "conference-2.cluster1.example.com",
    NULL};

static struct router_home homes[] = {
    {"node1", "secret one"}, {"node2", "secret-2 <&'\">"}, {"node3", "s3"}};

struct home {
	uv_process_t proc;
	uv_pipe_t in, out;
	struct util_buf rx;     /* its stdout */
	bool started, exited, out_eof;
};

static struct live {
	uv_loop_t loop;
	uv_timer_t tick;
	struct router *r;
	struct router_opts opts;
	uv_tcp_t server;
	struct directory *dir;
	char port[16];
	struct util_buf remote;         /* stanzas for S2S, one a line */
	int nremote;
	struct home homes[8];
	int nhomes;
	bool router_closed;
} L;

static char *pid_file;          /* set before the tests fork */

/* The loop. */

static void
on_tick(uv_timer_t *t)
{
	(void)t;
}

static void
run_once(void)
{
	uv_timer_start(&L.tick, on_tick, 20, 0);
	uv_run(&L.loop, UV_RUN_ONCE);
}

#define RUN_UNTIL(cond, what)                                                  \
	do {                                                                   \
		uint64_t end_ = uv_now(&L.loop) + WAIT_MS;                     \
		while (!(cond)) {                                              \
			if (uv_now(&L.loop) >= end_)                           \
				ck_abort_msg("timed out waiting for %s",       \
				             what);                            \
			run_once();                                            \
		}                                                              \
	} while (0)

/* Run the loop for MS milliseconds. */
static void
run_for(uint64_t ms)
{
	uint64_t end;

	uv_update_time(&L.loop);
	end = uv_now(&L.loop) + ms;
	while (uv_now(&L.loop) < end)
		run_once();
}

/* The router's side of S2S. */

static bool
live_is_local(void *arg, const char *domain)
{
	(void)arg;
	for (size_t i = 0; local_domains[i] != NULL; i++)
		if (strcmp(local_domains[i], domain) == 0)
			return true;
	return false;
}

static void
live_to_remote(void *arg, struct stanza *st)
{
	(void)arg;
	ck_assert_str_eq(stanza_ns(st), "jabber:server");
	stanza_serialize(st, "jabber:server", &L.remote);
	util_buf_puts(&L.remote, "\n");
	L.nremote++;
	stanza_free(st);
}

static const struct router_cbs live_cbs = {live_is_local, live_to_remote, NULL, NULL};

static void
grab(void *arg, struct stanza *st)
{
	*(struct stanza **)arg = st;
}

/* A stanza from S2S (jabber:server), as the S2S layer hands it over. */
static void
s2s(const char *text)
{
	struct xmlstream_cbs cbs = {.stanza = grab};
	struct stanza *st = NULL;
	struct xmlstream *xs = xmlstream_new(NULL, &cbs, &st);
	const char *hdr = "<stream:stream xmlns='jabber:server' xmlns:stream='"
	                  XMLSTREAM_NS_STREAMS "'>";

	xmlstream_feed(xs, hdr, strlen(hdr));
	xmlstream_feed(xs, text, strlen(text));
	xmlstream_free(xs);
	ck_assert_ptr_nonnull(st);
	router_deliver(L.r, st);
}

static bool
remote_has(const char *needle)
{
	return L.remote.data != NULL && strstr(L.remote.data, needle) != NULL;
}

/* What cm/listen.c does for the daemon (it refuses port 0, and the test
 * wants an ephemeral port): accept into a malloc'd handle and hand it over. */
static void
on_connection(uv_stream_t *server, int status)
{
	uv_tcp_t *client = xmalloc(sizeof(*client));
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char peer[64];

	ck_assert_int_eq(status, 0);
	uv_tcp_init(server->loop, client);
	ck_assert_int_eq(uv_accept(server, (uv_stream_t *)client), 0);
	uv_tcp_getpeername(client, (struct sockaddr *)&ss, &len);
	listen_format_addr((struct sockaddr *)&ss, peer, sizeof(peer));
	router_accept(L.r, client, peer);
}

static void
listen_ephemeral(void)
{
	struct sockaddr_in sin;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	uv_ip4_addr("127.0.0.1", 0, &sin);
	uv_tcp_init(&L.loop, &L.server);
	ck_assert_int_eq(uv_tcp_bind(&L.server, (struct sockaddr *)&sin, 0), 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&L.server, 16, on_connection),
	                 0);
	uv_tcp_getsockname(&L.server, (struct sockaddr *)&ss, &len);
	snprintf(L.port, sizeof(L.port), "%d",
	         ntohs(((struct sockaddr_in *)&ss)->sin_port));
}

static void
live_setup(bool email, uint64_t grace_ms)
{
	struct util_buf errors = {0};
	char why[256];

	memset(&L, 0, sizeof(L));
	log_set_level(LOG_SUB_ROUTER, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(uv_loop_init(&L.loop), 0);
	uv_timer_init(&L.loop, &L.tick);
	ck_assert_int_eq(directory_parse("dir", dir_text, &L.dir, &errors), 0);
	L.opts.homes = homes;
	L.opts.nhomes = UTIL_ARRAY_LEN(homes);
	L.opts.dir = L.dir;
	L.opts.email_federation = email;
	L.opts.grace_ms = grace_ms;
	L.opts.replace_on_conflict = true;
	L.opts.handshake_timeout_ms = 10000;
	ck_assert_msg(router_new(&L.loop, &L.opts, &live_cbs, NULL, &L.r, why,
	                         sizeof(why)) == 0, "%s", why);
	listen_ephemeral();
}

/* Home nodes. */

static void
home_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	buf->base = xmalloc(hint);
	buf->len = hint;
}

static void
home_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct home *h = s->data;

	if (n > 0)
		util_buf_append(&h->rx, buf->base, (size_t)n);
	else if (n < 0)
		h->out_eof = true;
	free(buf->base);
}

static void
home_on_exit(uv_process_t *p, int64_t status, int sig)
{
	struct home *h = p->data;

	(void)status;
	(void)sig;
	h->exited = true;
	uv_close((uv_handle_t *)p, NULL);
}

static void
record_pid(int pid)
{
	FILE *fp = fopen(pid_file, "a");

	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "%d\n", pid);
	fclose(fp);
}

static struct home *
home_start(const char *name, const char *secret)
{
	struct home *h = &L.homes[L.nhomes++];
	char *script = testutil_data_path("router/home_node.py");
	char *args[] = {PYTHON, script, (char *)name, (char *)secret,
	                "127.0.0.1", L.port, NULL};
	uv_stdio_container_t io[3];
	uv_process_options_t o = {0};

	uv_pipe_init(&L.loop, &h->in, 0);
	uv_pipe_init(&L.loop, &h->out, 0);
	h->in.data = h->out.data = h->proc.data = h;
	io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	io[0].data.stream = (uv_stream_t *)&h->in;
	io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[1].data.stream = (uv_stream_t *)&h->out;
	io[2].flags = UV_INHERIT_FD;
	io[2].data.fd = 2;
	o.file = PYTHON;
	o.args = args;
	o.stdio = io;
	o.stdio_count = 3;
	o.exit_cb = home_on_exit;
	ck_assert_int_eq(uv_spawn(&L.loop, &h->proc, &o), 0);
	h->started = true;
	record_pid(h->proc.pid);
	uv_read_start((uv_stream_t *)&h->out, home_alloc, home_on_read);
	free(script);
	return h;
}

static bool
home_has(const struct home *h, const char *needle)
{
	return h->rx.data != NULL && strstr(h->rx.data, needle) != NULL;
}

static void
home_on_written(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

static void
home_cmd(struct home *h, const char *cmd)
{
	size_t len = strlen(cmd);
	uv_write_t *w = xmalloc(sizeof(*w) + len + 1);
	char *data = (char *)(w + 1);
	uv_buf_t b;

	memcpy(data, cmd, len);
	data[len] = '\n';
	b = uv_buf_init(data, (unsigned)len + 1);
	ck_assert_int_eq(uv_write(w, (uv_stream_t *)&h->in, &b, 1,
	                          home_on_written), 0);
}

static void
home_send(struct home *h, const char *xml)
{
	char *cmd = xasprintf("SEND %s", xml);

	home_cmd(h, cmd);
	free(cmd);
}

static struct home *
home_ready(const char *name, const char *secret)
{
	struct home *h = home_start(name, secret);

	RUN_UNTIL(home_has(h, "READY\n") || h->exited, "READY");
	ck_assert_msg(home_has(h, "READY\n"), "%s did not attach: %s", name,
	              h->rx.data);
	return h;
}

/* Stop by PID (if it still runs) and release its handles. */
static void
home_stop(struct home *h)
{
	if (!h->started)
		return;
	if (!h->exited)
		uv_process_kill(&h->proc, SIGTERM);
	RUN_UNTIL(h->exited, "the home node to exit");
	if (!uv_is_closing((uv_handle_t *)&h->in))
		uv_close((uv_handle_t *)&h->in, NULL);
	if (!uv_is_closing((uv_handle_t *)&h->out))
		uv_close((uv_handle_t *)&h->out, NULL);
	h->started = false;
}

static void
on_router_closed(void *arg)
{
	(void)arg;
	L.router_closed = true;
}

static void
live_teardown(void)
{
	int i;

	for (i = 0; i < L.nhomes; i++)
		home_stop(&L.homes[i]);
	router_close(L.r, on_router_closed, NULL);
	uv_close((uv_handle_t *)&L.server, NULL);
	uv_close((uv_handle_t *)&L.tick, NULL);
	ck_assert_int_eq(uv_run(&L.loop, UV_RUN_DEFAULT), 0);
	ck_assert(L.router_closed);
	ck_assert_int_eq(uv_loop_close(&L.loop), 0);
	directory_unref(L.dir);
	util_buf_free(&L.remote);
	for (i = 0; i < L.nhomes; i++)
		util_buf_free(&L.homes[i].rx);
}

/* A user mapped to node2 receives while node1 does not; the domain default
 * and a chat alias route to their nodes; the from check answers
 * not-allowed; local traffic stays local; remote traffic leaves. */
START_TEST(test_routes)
{
	struct home *n1, *n2, *n3;

	live_setup(false, 30000);
	n1 = home_ready("node1", "secret one");
	n2 = home_ready("node2", "secret-2 <&'\">");
	n3 = home_ready("node3", "s3");
	s2s("<message from='r@remote.example/a' to='alice@example.com/desk' "
	    "id='m1'><body>to alice</body></message>");
	s2s("<message from='r@remote.example/a' to='zed@example.com' "
	    "id='m2'><body>to zed</body></message>");
	s2s("<presence from='r@remote.example/a' to='room@conference-2."
	    "cluster1.example.com/r'/>");
	RUN_UNTIL(home_has(n2, "id=m1\t") && home_has(n1, "id=m2\t") &&
	          home_has(n3, "RECV presence"), "the three deliveries");
	ck_assert(home_has(n2, "RECV message id=m1\tfrom=r@remote.example/a\t"
	                       "to=alice@example.com/desk\tbody=to alice\n"));
	/* node1 got m2 after m1 was routed: had m1 gone to node1, it would
	 * have come first on the same link. */
	ck_assert(!home_has(n1, "id=m1"));
	ck_assert(!home_has(n3, "id=m1") && !home_has(n2, "id=m2"));
	ck_assert(home_has(n3, "RECV presence from=r@remote.example/a\tto=room@"
	                       "conference-2.cluster1.example.com/r\n"));
	/* From node2 to a remote user: out to S2S in jabber:server. */
	home_send(n2, "<message from='alice@example.com/desk' to='r@remote."
	              "example' id='o1'><body>out</body></message>");
	RUN_UNTIL(L.nremote == 1, "the outbound stanza");
	ck_assert_str_eq(L.remote.data,
	                 "<message from='alice@example.com/desk' to='r@remote."
	                 "example' id='o1'><body>out</body></message>\n");
	/* node2 may not send as zed (node1's domain default). */
	home_send(n2, "<message from='zed@example.com' to='r@remote.example' "
	              "id='bad1'/>");
	/* Nor from a domain that is not local. */
	home_send(n2, "<message from='x@elsewhere.example' to='r@remote."
	              "example' id='bad2'/>");
	RUN_UNTIL(home_has(n2, "id=bad2\t"), "the second not-allowed");
	ck_assert(home_has(n2, "RECV message id=bad1\tfrom=r@remote.example\t"
	                       "to=zed@example.com\ttype=error\terror=not-"
	                       "allowed\n"));
	ck_assert(home_has(n2, "type=error\terror=not-allowed\n"));
	ck_assert_int_eq(L.nremote, 1);
	/* Local delivery: node1 to carol on node2, no federation. */
	home_send(n1, "<message from='zed@example.com/x' to='carol@example.com'"
	              " id='l1'><body>local</body></message>");
	RUN_UNTIL(home_has(n2, "id=l1\t"), "the local delivery");
	ck_assert(home_has(n2, "RECV message id=l1\tfrom=zed@example.com/x\t"
	                       "to=carol@example.com\tbody=local\n"));
	ck_assert_int_eq(L.nremote, 1);
	live_teardown();
}
END_TEST

/* A stanza for a detached node is delivered when the node attaches within
 * the grace period, and bounced after it. */
START_TEST(test_grace)
{
	struct home *n2;
	char why[128];
	uint64_t t0;

	live_setup(false, 30000);
	n2 = home_ready("node2", "secret-2 <&'\">");
	home_cmd(n2, "QUIT");
	RUN_UNTIL(n2->exited, "node2 to leave");
	s2s("<message from='r@remote.example' to='carol@example.com' "
	    "id='g1'><body>wait for me</body></message>");
	run_for(200);
	/* Back within the grace period: the stanza follows the handshake. */
	n2 = home_ready("node2", "secret-2 <&'\">");
	RUN_UNTIL(home_has(n2, "id=g1\t"), "the waiting stanza");
	ck_assert(home_has(n2, "READY\nRECV message id=g1\t"));
	ck_assert_int_eq(L.nremote, 0);
	/* The node leaves; a short grace period now. */
	home_cmd(n2, "QUIT");
	RUN_UNTIL(n2->exited, "node2 to leave");
	ck_assert(home_has(n2, "CLOSED\n"));
	L.opts.grace_ms = 500;
	ck_assert_int_eq(router_reconfigure(L.r, &L.opts, why, sizeof(why)), 0);
	uv_update_time(&L.loop);
	t0 = uv_now(&L.loop);
	s2s("<presence from='r@remote.example' to='carol@example.com' "
	    "type='unavailable'/>");
	s2s("<message from='r@remote.example' to='carol@example.com' "
	    "id='g2'/>");
	RUN_UNTIL(L.nremote == 1, "the bounce");
	ck_assert_uint_ge(uv_now(&L.loop) - t0, 500);
	ck_assert_str_eq(L.remote.data,
	                 "<message to='r@remote.example' from='carol@example."
	                 "com' id='g2' type='error'><error type='cancel'>"
	                 "<service-unavailable xmlns='urn:ietf:params:xml:ns:"
	                 "xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:"
	                 "xmpp-stanzas' xml:lang='en'>home node node2 is not "
	                 "attached</text></error></message>\n");
	/* The unavailable presence was dropped, not answered (RFC 6121). */
	run_for(300);
	ck_assert_int_eq(L.nremote, 1);
	live_teardown();
}
END_TEST

/* Email address for federation, both ways; the raw internal JID of a
 * mapped user is dropped; a user without a mapping uses the JID. */
START_TEST(test_email)
{
	struct home *n2;

	live_setup(true, 30000);
	n2 = home_ready("node2", "secret-2 <&'\">");
	home_send(n2, "<message from='alice@example.com/desk' to='r@remote."
	              "example' id='e1'><body>hi</body></message>");
	RUN_UNTIL(L.nremote == 1, "the outbound stanza");
	ck_assert_str_eq(L.remote.data,
	                 "<message from='alice.smith@mail.example.com/desk' "
	                 "to='r@remote.example' id='e1'><body>hi</body>"
	                 "</message>\n");
	s2s("<message from='r@remote.example/a' to='alice.smith@mail.example."
	    "com/desk' id='e2'/>");
	s2s("<presence from='r@remote.example' to='alice.smith@mail.example."
	    "com' type='subscribe'/>");
	RUN_UNTIL(home_has(n2, "RECV presence"), "the subscription request");
	ck_assert(home_has(n2, "RECV message id=e2\tfrom=r@remote.example/a\t"
	                       "to=alice@example.com/desk\n"));
	ck_assert(home_has(n2, "RECV presence from=r@remote.example\tto=alice@"
	                       "example.com\ttype=subscribe\n"));
	home_send(n2, "<presence from='alice@example.com' to='r@remote.example'"
	              " type='subscribed'/>");
	RUN_UNTIL(L.nremote == 2, "the subscription approval");
	ck_assert(remote_has("\n<presence from='alice.smith@mail.example.com' "
	                     "to='r@remote.example' type='subscribed'/>\n"));
	/* To the internal JID: dropped; the stanza after it arrives. */
	s2s("<message from='r@remote.example' to='alice@example.com' "
	    "id='raw'/>");
	s2s("<message from='r@remote.example' to='alice.smith@mail.example."
	    "com' id='sync'/>");
	RUN_UNTIL(home_has(n2, "id=sync\t"), "the stanza after the drop");
	ck_assert(!home_has(n2, "id=raw"));
	ck_assert_int_eq(L.nremote, 2);
	/* carol has no email address: she federates with her JID. */
	home_send(n2, "<message from='carol@example.com' to='r@remote.example' "
	              "id='e3'/>");
	RUN_UNTIL(L.nremote == 3, "carol's message");
	ck_assert(remote_has("\n<message from='carol@example.com' to='r@remote."
	                     "example' id='e3'/>\n"));
	live_teardown();
}
END_TEST

/* A second connection for a node replaces the first (or is refused);
 * a wrong secret and an unknown node name are refused. */
START_TEST(test_conflict_and_auth)
{
	struct home *a, *b, *c, *d, *e;
	char why[128];

	live_setup(false, 30000);
	a = home_ready("node2", "secret-2 <&'\">");
	b = home_ready("node2", "secret-2 <&'\">");
	RUN_UNTIL(a->exited, "the replaced node to leave");
	ck_assert(home_has(a, "STREAM-ERROR conflict replaced by a new "
	                      "connection for this home node\n"));
	s2s("<message from='r@remote.example' to='carol@example.com' "
	    "id='c1'/>");
	RUN_UNTIL(home_has(b, "id=c1\t"), "delivery to the new link");
	L.opts.replace_on_conflict = false;
	ck_assert_int_eq(router_reconfigure(L.r, &L.opts, why, sizeof(why)), 0);
	c = home_start("node2", "secret-2 <&'\">");
	RUN_UNTIL(c->exited, "the refused node to leave");
	ck_assert(home_has(c, "STREAM-ERROR conflict home node node2 is "
	                      "already attached\n"));
	ck_assert(!home_has(c, "READY"));
	d = home_start("node1", "not the secret");
	e = home_start("node9", "x");
	RUN_UNTIL(d->exited && e->exited, "the refused nodes to leave");
	ck_assert(home_has(d, "STREAM-ERROR not-authorized handshake does not "
	                      "match\n"));
	ck_assert(home_has(e, "STREAM-ERROR host-unknown no home node named "
	                      "'node9'\n"));
	/* b is still attached and served. */
	s2s("<message from='r@remote.example' to='carol@example.com' "
	    "id='c2'/>");
	RUN_UNTIL(home_has(b, "id=c2\t"), "delivery to the attached link");
	live_teardown();
}
END_TEST

/* Parent side, also after a crashed test: kill recorded helpers still
 * running (the PID is checked against the helper's command line first). */
static void
kill_leftovers(void)
{
	char line[64], path[64], *cmd;
	FILE *fp = fopen(pid_file, "r");
	size_t len;
	int pid;

	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		pid = atoi(line);
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		if (pid <= 0 || access(path, R_OK) != 0)
			continue;
		cmd = testutil_read_file(path, &len);
		for (size_t i = 0; i < len; i++)    /* NUL between arguments */
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		if (strstr(cmd, "home_node.py") != NULL)
			kill(pid, SIGKILL);
		free(cmd);
	}
	fclose(fp);
}

static bool
slixmpp_missing(void)
{
	return system(PYTHON " -c 'import slixmpp' 2>/dev/null") != 0;
}

static Suite *
live_suite(void)
{
	Suite *s = suite_create("router_live");
	TCase *tc = tcase_create("live");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, NULL, kill_leftovers);
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_grace);
	tcase_add_test(tc, test_email);
	tcase_add_test(tc, test_conflict_and_auth);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	char *dir;

	if (slixmpp_missing()) {
		printf("skip: %s cannot import slixmpp (install "
		       "python3-slixmpp)\n", PYTHON);
		return 77;
	}
	dir = testutil_tempdir();
	pid_file = xasprintf("%s/pids", dir);
	free(dir);
	return testutil_run(live_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
