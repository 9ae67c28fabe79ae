/* bench_relay.c - the per-stanza work of a relay X -> Y without sockets,
 * TLS or the router: a component's stanzas parsed (xmlstream, XEP-0114
 * namespace), their addresses parsed as the router and s2s do, renamed to
 * jabber:server and sent on a ready OUT stream (dialback, XEP-0198 on); the
 * bytes fed to the IN stream of Y, whose stanzas are renamed back and
 * serialized for the sink component. Reports ns and heap allocations
 * (malloc, calloc, realloc, counted by wrapping glibc's) per stanza, for
 * X and Y together. For stable figures run it under callgrind or
 * perf stat.
 *
 * Usage: bench_relay [N] (default 200000). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm/util.h"
#include "s2s/dialback.h"
#include "s2s/s2s_stream.h"
#include "xmpp/jid.h"
#include "xmpp/stanza.h"
#include "xmpp/xmlstream.h"

#define NS_COMP "jabber:component:accept"
#define NS_SERVER "jabber:server"

struct side {
	struct s2s_stream *st;
	struct util_buf inbox;  /* bytes from the other side, not yet fed */
	bool ready;
	int verify;             /* a dialback verification to answer */
	char vlocal[64], vremote[64];
};

static struct side x, y;
static struct dialback_secret *secret;
static struct util_buf sink;
static uint64_t delivered;

static void
x_send(void *arg, const char *buf, size_t len)
{
	(void)arg;
	util_buf_append(&y.inbox, buf, len);
}

static void
y_send(void *arg, const char *buf, size_t len)
{
	(void)arg;
	util_buf_append(&x.inbox, buf, len);
}

static void
no_starttls(void *arg)
{
	(void)arg;
	fprintf(stderr, "unexpected starttls\n");
	exit(1);
}

static bool
is_local(void *arg, const char *domain)
{
	(void)arg;
	return strcmp(domain, "y.test") == 0;
}

static bool
allowed_in(void *arg, const char *remote, char *why, size_t whylen)
{
	(void)arg;
	(void)remote;
	(void)why;
	(void)whylen;
	return true;
}

static void
check_cert(void *arg, const char *domain, struct s2s_cert_check *out)
{
	(void)arg;
	(void)domain;
	out->chain = out->name = -1;
	snprintf(out->why, sizeof(out->why), "no TLS");
}

static void
authenticated(void *arg, const char *local, const char *remote,
              enum s2s_auth how)
{
	struct side *s = arg;

	(void)local;
	(void)remote;
	(void)how;
	s->ready = true;
}

/* Y: what the router does towards the sink component. */
static void
y_stanza(void *arg, struct stanza *st)
{
	(void)arg;
	stanza_rename_ns(st, NS_SERVER, NS_COMP);
	util_buf_reset(&sink);
	stanza_write(st, NS_COMP, &sink);
	stanza_free(st);
	delivered++;
}

static void
db_key(void *arg, const char *receiving, const char *originating,
       const char *id, char key[65])
{
	(void)arg;
	dialback_key(secret, receiving, originating, id, key);
}

static void
db_verify(void *arg, const char *local, const char *remote, const char *id,
          const char *key)
{
	struct side *s = arg;

	s->verify = dialback_key_check(secret, local, remote, id, key) ? 1 : 2;
	snprintf(s->vlocal, sizeof(s->vlocal), "%s", local);
	snprintf(s->vremote, sizeof(s->vremote), "%s", remote);
}

static void
closed(void *arg, int err, const char *why)
{
	(void)arg;
	fprintf(stderr, "stream closed err=%d why=%s\n", err, why);
	exit(1);
}

static void
pump(void)
{
	struct util_buf b;
	int rounds;

	for (rounds = 0; rounds < 100; rounds++) {
		if (y.verify != 0) {
			s2s_stream_dialback_verified(y.st, y.vlocal, y.vremote,
			                             y.verify == 1, 0, 0);
			y.verify = 0;
		}
		if (x.inbox.len == 0 && y.inbox.len == 0)
			return;
		b = y.inbox;
		memset(&y.inbox, 0, sizeof(y.inbox));
		s2s_stream_input(y.st, b.data, b.len, 0);
		util_buf_free(&b);
		b = x.inbox;
		memset(&x.inbox, 0, sizeof(x.inbox));
		s2s_stream_input(x.st, b.data, b.len, 0);
		util_buf_free(&b);
	}
}

static void
setup(void)
{
	struct s2s_stream_cbs xc = {x_send, no_starttls, is_local, allowed_in,
	                            check_cert, authenticated, NULL, db_key,
	                            db_verify, NULL, NULL, closed};
	struct s2s_stream_cbs yc = xc;
	struct s2s_stream_opts xo = {0}, yo;

	secret = dialback_secret_new("bench secret");
	yc.send = y_send;
	yc.stanza = y_stanza;
	xo.role = S2S_ROLE_OUT;
	xo.security = S2S_SEC_NONE;
	xo.dialback = true;
	xo.local = "x.test";
	xo.remote = "y.test";
	xo.sm = true;
	xo.sm_opts.ack_every = 100;
	xo.sm_opts.ack_interval_ms = 1000000;
	xo.sm_opts.ack_timeout_ms = 1000000;
	yo = xo;
	yo.role = S2S_ROLE_IN;
	yo.local = yo.remote = NULL;
	x.st = s2s_stream_new(&xo, &xc, &x, 0);
	y.st = s2s_stream_new(&yo, &yc, &y, 0);
	s2s_stream_start(y.st, 0);
	s2s_stream_start(x.st, 0);
	pump();
	if (!x.ready || !s2s_stream_is_ready(x.st)) {
		fprintf(stderr, "streams did not become ready\n");
		exit(1);
	}
}

/* X: what the router and s2s do with a stanza from the source component:
 * parse both addresses (route, policy, stream pair), rename, send. */
static void
x_stanza(void *arg, struct stanza *st)
{
	struct jid *f = NULL, *t = NULL;
	const char *fs = stanza_attr(st, "from"), *ts = stanza_attr(st, "to");
	int i;

	(void)arg;
	for (i = 0; i < 2; i++) {
		jid_parse(fs, strlen(fs), &f, NULL, 0);
		jid_parse(ts, strlen(ts), &t, NULL, 0);
		jid_free(f);
		jid_free(t);
	}
	stanza_rename_ns(st, NS_COMP, NS_SERVER);
	if (s2s_stream_send_stanza(x.st, st) < 0) {
		fprintf(stderr, "send failed\n");
		exit(1);
	}
	stanza_free(st);
}

/* Allocation counter: glibc exports __libc_malloc, so malloc can be
 * interposed in this program only. */
static uint64_t nallocs;
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

void *malloc(size_t n);
void *calloc(size_t a, size_t b);
void *realloc(void *p, size_t n);

void *
malloc(size_t n)
{
	nallocs++;
	return __libc_malloc(n);
}

void *
calloc(size_t a, size_t b)
{
	nallocs++;
	return __libc_calloc(a, b);
}

void *
realloc(void *p, size_t n)
{
	nallocs++;
	return __libc_realloc(p, n);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static const char hdr[] =
	    "<stream:stream xmlns='" NS_COMP "' "
	    "xmlns:stream='http://etherx.jabber.org/streams' from='src.x.test'>";
	struct xmlstream_cbs cbs = {NULL, x_stanza, NULL, NULL};
	struct xmlstream *xs;
	long n = argc > 1 ? atol(argv[1]) : 200000, i;
	char msg[512];
	uint64_t a0;
	double t0, dt;
	int len;

	setup();
	xs = xmlstream_new(NULL, &cbs, NULL);
	xmlstream_feed(xs, hdr, sizeof(hdr) - 1);
	a0 = nallocs;
	t0 = now_s();
	for (i = 0; i < n; i++) {
		len = snprintf(msg, sizeof(msg),
		               "<message from='load@x.test/src' to='sink@y.test/r' "
		               "id='m%ld' type='chat'><body>load stanza %ld "
		               "0123456789abcdef0123456789abcdef</body>"
		               "</message>", i, i);
		xmlstream_feed(xs, msg, (size_t)len);
		if ((i & 63) == 63)
			pump();
	}
	pump();
	dt = now_s() - t0;
	if (delivered != (uint64_t)n) {
		fprintf(stderr, "delivered %llu of %ld\n",
		        (unsigned long long)delivered, n);
		return 1;
	}
	printf("relay path: %ld stanzas, %.0f ns/stanza, %.1f allocations/"
	       "stanza\n", n, dt * 1e9 / (double)n,
	       (double)(nallocs - a0) / (double)n);
	printf("last delivered: %.*s\n", (int)sink.len, sink.data);
	xmlstream_free(xs);
	s2s_stream_free(x.st);
	s2s_stream_free(y.st);
	dialback_secret_free(secret);
	util_buf_free(&sink);
	return 0;
}
