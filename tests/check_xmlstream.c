/* check_xmlstream.c - xmpp/xmlstream: transcripts fed whole, byte by byte and
 * split everywhere give the same events; restricted XML, malformed input,
 * limits, restart, close, stop and verbatim forwarding. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "xmpp/stanza.h"
#include "xmpp/xmlstream.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define HDR                                                                    \
	"<stream:stream xmlns='jabber:server' xmlns:stream='" NS_STREAMS    \
	"' to='a.example' from='b.example' version='1.0'>"

/* Canonical rendering of a tree: every name with its namespace, attributes
 * in order, text quoted with C escapes. */
static void
dump_str(struct util_buf *b, const char *s, size_t len)
{
	size_t i;

	util_buf_puts(b, "\"");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			util_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			util_buf_puts(b, "\\n");
		else if (c < 0x20 || c == 0x7f)
			util_buf_printf(b, "\\x%02x", c);
		else
			util_buf_append(b, &s[i], 1);
	}
	util_buf_puts(b, "\"");
}

static void
dump_tree(struct util_buf *b, const struct stanza *st)
{
	const struct stanza *n;
	const char *ns, *name, *value;
	size_t i;

	util_buf_printf(b, "<{%s}%s", stanza_ns(st), stanza_name(st));
	for (i = 0; i < stanza_attr_count(st); i++) {
		stanza_attr_at(st, i, &ns, &name, &value);
		util_buf_printf(b, ns ? " {%s}%s=" : " %s%s=", ns ? ns : "", name);
		dump_str(b, value, strlen(value));
	}
	util_buf_puts(b, ">");
	for (n = stanza_first_node(st); n != NULL; n = stanza_next_node(n)) {
		if (stanza_node_text(n) != NULL)
			dump_str(b, stanza_node_text(n),
			         strlen(stanza_node_text(n)));
		else
			dump_tree(b, n);
	}
	util_buf_puts(b, "</>");
}

/* One stream under test and the log of its events. */
struct run {
	struct xmlstream *xs;
	struct util_buf log;
	int nstanzas;
	int nerrors;
	int last_err;
	bool restart;           /* reset on starttls/proceed/auth/success */
	int stop_after;         /* stop after this many stanzas (0: never) */
	bool reset_in_open;
	struct stanza *keep;    /* first stanza, kept for inspection */
};

static void
on_open(void *arg, const struct stanza *hdr)
{
	struct run *r = arg;
	const char *prefix, *uri;
	size_t i;

	util_buf_puts(&r->log, "open ");
	dump_tree(&r->log, hdr);
	for (i = 0; xmlstream_nsdecl(r->xs, i, &prefix, &uri); i++)
		util_buf_printf(&r->log, " %s=%s", prefix ? prefix : "",
		                uri);
	util_buf_puts(&r->log, "\n");
	ck_assert_ptr_eq(xmlstream_header(r->xs), hdr);
	if (r->reset_in_open)
		xmlstream_reset(r->xs);
}

static bool
is_restart(const struct stanza *st)
{
	static const char *const names[][2] = {
	    {"urn:ietf:params:xml:ns:xmpp-tls", "starttls"},
	    {"urn:ietf:params:xml:ns:xmpp-tls", "proceed"},
	    {"urn:ietf:params:xml:ns:xmpp-sasl", "auth"},
	    {"urn:ietf:params:xml:ns:xmpp-sasl", "success"},
	};
	size_t i;

	for (i = 0; i < UTIL_ARRAY_LEN(names); i++)
		if (strcmp(stanza_ns(st), names[i][0]) == 0 &&
		    strcmp(stanza_name(st), names[i][1]) == 0)
			return true;
	return false;
}

static void
on_stanza(void *arg, struct stanza *st)
{
	struct run *r = arg;
	size_t len;
	const char *raw = stanza_raw(st, &len);

	ck_assert_ptr_nonnull(raw);
	r->nstanzas++;
	util_buf_printf(&r->log, "stanza safe=%d raw=",
	                stanza_raw_is_safe(st));
	dump_str(&r->log, raw, len);
	util_buf_puts(&r->log, "\n  ");
	dump_tree(&r->log, st);
	util_buf_puts(&r->log, "\n");
	if (r->restart && is_restart(st)) {
		util_buf_puts(&r->log, "restart\n");
		xmlstream_reset(r->xs);
	}
	if (r->stop_after > 0 && r->nstanzas == r->stop_after)
		xmlstream_stop(r->xs);
	if (r->keep == NULL)
		r->keep = st;
	else
		stanza_free(st);
}

static void
on_close(void *arg)
{
	struct run *r = arg;

	util_buf_puts(&r->log, "close\n");
}

static void
on_error(void *arg, int err, const char *detail)
{
	struct run *r = arg;

	r->nerrors++;
	r->last_err = err;
	util_buf_printf(&r->log, "error %s %s\n", err_name(err), detail);
}

static const struct xmlstream_cbs cbs = {on_open, on_stanza, on_close,
                                         on_error};

static void
run_init(struct run *r, const struct xmlstream_opts *opts)
{
	memset(r, 0, sizeof(*r));
	r->xs = xmlstream_new(opts, &cbs, r);
	r->restart = true;
}

static void
run_done(struct run *r)
{
	xmlstream_free(r->xs);
	stanza_free(r->keep);
	util_buf_free(&r->log);
}

/* When set, run_feed compacts the stream before every piece (as an idle
 * stream's owner does) and counts the times it took. */
static bool compact_each;
static int ncompacted;

/* Feed one piece; a restart from a callback leaves bytes unparsed, which
 * belong to the new stream here, so feed them again. Returns the last
 * result. */
static int
run_feed(struct run *r, const char *buf, size_t len)
{
	int rc;

	for (;;) {
		if (compact_each && xmlstream_compact(r->xs) &&
		    xmlstream_is_compact(r->xs))
			ncompacted++;
		rc = xmlstream_feed(r->xs, buf, len);
		ck_assert_int_le(rc, (int)len);
		if (rc <= 0 || r->stop_after > 0)
			return rc;
		buf += len - (size_t)rc;
		len = (size_t)rc;
	}
}

/* Feed DATA cut at the CUTS offsets (ascending) and return the log. */
static char *
run_split(const struct xmlstream_opts *opts, const char *data, size_t len,
          const size_t *cuts, size_t ncuts)
{
	struct run r;
	size_t i, from = 0, n;
	char *log;

	run_init(&r, opts);
	for (i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		run_feed(&r, data + from, to - from);
		from = to;
	}
	util_buf_append(&r.log, "", 0);
	log = util_buf_steal(&r.log, &n);
	run_done(&r);
	return log;
}

static char *
run_whole(const struct xmlstream_opts *opts, const char *data, size_t len)
{
	return run_split(opts, data, len, NULL, 0);
}

static char *
run_bytes(const struct xmlstream_opts *opts, const char *data, size_t len)
{
	size_t *cuts = xcalloc(len + 1, sizeof(*cuts));
	size_t i;
	char *log;

	for (i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	log = run_split(opts, data, len, cuts, len > 0 ? len - 1 : 0);
	free(cuts);
	return log;
}

/* xorshift64*: reproducible random splits. */
static uint64_t
rnd_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Every split into two, and ROUNDS random splits, give EXPECT. */
static void
check_splits(const struct xmlstream_opts *opts, const char *data, size_t len,
             const char *expect, int rounds)
{
	size_t *cuts = xcalloc(len + 1, sizeof(*cuts));
	uint64_t seed = 0x5eed5eed12345678ULL;
	size_t i, n;
	char *log;

	log = run_bytes(opts, data, len);
	ck_assert_str_eq(log, expect);
	free(log);
	for (i = 0; i <= len; i++) {
		log = run_split(opts, data, len, &i, 1);
		if (strcmp(log, expect) != 0)
			ck_abort_msg("split at %zu differs:\n%s\nvs\n%s", i,
			             log, expect);
		free(log);
	}
	while (rounds-- > 0) {
		for (n = 0, i = 0;; n++) {
			i += 1 + rnd_next(&seed) % 97;
			if (i >= len)
				break;
			cuts[n] = i;
		}
		log = run_split(opts, data, len, cuts, n);
		ck_assert_str_eq(log, expect);
		free(log);
	}
	free(cuts);
}

/* ---- transcripts ---- */

static const char *const transcripts[] = {
    "rfc6120_tls_sasl_in",  "rfc6120_tls_sasl_out", "xep0220_dialback_in",
    "xep0220_dialback_out", "xep0220_authoritative", "xep0198_sm",
    "prosody_traffic",      "ejabberd_traffic",     "header_prefixes",
    "stream_error",         "component_accept",
};

static char *
read_file(const char *name, const char *ext, size_t *len)
{
	const char *src = getenv("S2SD_SRC");
	char *path = xasprintf("%s/tests/data/xmlstream/%s.%s",
	                       src ? src : ".", name, ext);
	struct util_buf b = {0};
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		ck_abort_msg("cannot open %s", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		util_buf_append(&b, chunk, n);
	fclose(f);
	free(path);
	util_buf_append(&b, "", 0);
	return util_buf_steal(&b, len);
}

START_TEST(test_transcript)
{
	size_t len, elen;
	char *data = read_file(transcripts[_i], "xml", &len);
	char *log = run_whole(NULL, data, len), *expect;

	if (getenv("S2SD_REGEN_GOLDEN") != NULL) {
		char *path = xasprintf("%s/tests/data/xmlstream/%s.events",
		                       getenv("S2SD_SRC"), transcripts[_i]);
		FILE *f = fopen(path, "wb");

		ck_assert_ptr_nonnull(f);
		fputs(log, f);
		fclose(f);
		free(path);
	}
	expect = read_file(transcripts[_i], "events", &elen);
	ck_assert_str_eq(log, expect);
	/* A transcript is a valid stream: no error, something parsed. */
	ck_assert_ptr_null(strstr(log, "\nerror "));
	ck_assert_int_eq(strncmp(log, "open ", 5), 0);
	ck_assert_ptr_nonnull(strstr(log, "\nstanza "));
	check_splits(NULL, data, len, expect, 40);
	free(log);
	free(expect);
	free(data);
}
END_TEST

/* A stream compacted wherever it can be (between any two pieces of any
 * split) gives the same events, raw bytes included. */
START_TEST(test_transcript_compact)
{
	size_t len, elen;
	char *data = read_file(transcripts[_i], "xml", &len);
	char *expect = read_file(transcripts[_i], "events", &elen);

	compact_each = true;
	ncompacted = 0;
	check_splits(NULL, data, len, expect, 10);
	ck_assert_int_gt(ncompacted, 0);
	compact_each = false;
	free(expect);
	free(data);
}
END_TEST

/* ---- restricted and malformed input ---- */

struct bad_case {
	const char *in;
	int err;        /* 0: none expected */
	int stanzas;    /* delivered before the error */
	bool opened;
	size_t len;     /* 0: strlen(in) */
};

#define LOL "<!ENTITY lol 'lol'>"
#define LOLS(n, m)                                                             \
	"<!ENTITY lol" #n " '&lol" #m ";&lol" #m ";&lol" #m ";&lol" #m ";&lol" \
	#m ";&lol" #m ";&lol" #m ";&lol" #m ";&lol" #m ";&lol" #m ";'>"

static const struct bad_case bad_cases[] = {
    /* 0: restricted XML, RFC 6120 11.1 */
    {"<!DOCTYPE stream:stream>" HDR, S2SD_EXML_RESTRICTED, 0, false, 0},
    {"<?xml version='1.0'?><!DOCTYPE s [<!ENTITY a 'b'>]>" HDR "&a;",
     S2SD_EXML_RESTRICTED, 0, false, 0},
    {"<?xml version='1.0'?><!DOCTYPE lolz [" LOL LOLS(1, ) LOLS(2, 1)
         LOLS(3, 2) LOLS(4, 3) LOLS(5, 4) LOLS(6, 5) LOLS(7, 6) LOLS(8, 7)
             LOLS(9, 8) "]>" HDR "<message><body>&lol9;</body></message>",
     S2SD_EXML_RESTRICTED, 0, false, 0},
    {"<!DOCTYPE s [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" HDR
     "<message><body>&x;</body></message>",
     S2SD_EXML_RESTRICTED, 0, false, 0},
    {"<!DOCTYPE s SYSTEM 'http://127.0.0.1/evil.dtd'>" HDR,
     S2SD_EXML_RESTRICTED, 0, false, 0},
    {"<!DOCTYPE s [<!ENTITY % p SYSTEM 'http://127.0.0.1/p'> %p;]>" HDR,
     S2SD_EXML_RESTRICTED, 0, false, 0},
    /* 6 */
    {HDR "<message><body>&foo;</body></message>", S2SD_EXML_RESTRICTED, 0,
     true, 0},
    {HDR "<message to='&foo;'/>", S2SD_EXML_RESTRICTED, 0, true, 0},
    {"<!-- hello -->" HDR, S2SD_EXML_RESTRICTED, 0, false, 0},
    {HDR "<message><!-- c --><body/></message>", S2SD_EXML_RESTRICTED, 0,
     true, 0},
    {HDR "<presence/><!-- between --><presence/>", S2SD_EXML_RESTRICTED, 1,
     true, 0},
    {HDR "<message><?pi data?></message>", S2SD_EXML_RESTRICTED, 0, true, 0},
    /* 12 */
    {"<?xml-stylesheet href='a.xsl'?>" HDR, S2SD_EXML_RESTRICTED, 0, false,
     0},
    {"<?xml version='1.0' encoding='UTF-8'?>" HDR "<presence/>", 0, 1, true,
     0},
    {"<?xml version='1.0' encoding='ISO-8859-1'?>" HDR, S2SD_EXML_ENCODING,
     0, false, 0},
    {" <?xml version='1.0'?>" HDR, S2SD_EXML_MALFORMED, 0, false, 0},
    /* 16: malformed */
    {HDR "<message><body></message>", S2SD_EXML_MALFORMED, 0, true, 0},
    {HDR "<message><body>\xff</body></message>", S2SD_EXML_MALFORMED, 0, true,
     0},
    {HDR "<message><body>\xc0\xaf</body></message>", S2SD_EXML_MALFORMED, 0,
     true, 0},
    {HDR "<message><body>\xed\xa0\x80</body></message>", S2SD_EXML_MALFORMED,
     0, true, 0},
    {HDR "<message to='a<b'/>", S2SD_EXML_MALFORMED, 0, true, 0},
    {HDR "<foo:message/>", S2SD_EXML_MALFORMED, 0, true, 0},
    /* 22 */
    {HDR "<message to='a' to='b'/>", S2SD_EXML_MALFORMED, 0, true, 0},
    {HDR "<message xmlns:a='urn:u' xmlns:b='urn:u' a:x='1' b:x='2'/>",
     S2SD_EXML_MALFORMED, 0, true, 0},
    {HDR "<presence/>hello<presence/>", S2SD_EXML_MALFORMED, 1, true, 0},
    {HDR "<message><body>&#0;</body></message>", S2SD_EXML_MALFORMED, 0, true,
     0},
    {HDR "<message><body>a\0b</body></message>", S2SD_EXML_MALFORMED, 0, true,
     sizeof(HDR "<message><body>a\0b</body></message>") - 1},
    {HDR "<message><body>\x01</body></message>", S2SD_EXML_MALFORMED, 0, true,
     0},
    /* 28: the stream element itself */
    {"<stream:stream xmlns:stream='urn:wrong'>", S2SD_EXML_NAMESPACE, 0,
     false, 0},
    {"<stream xmlns='jabber:server'>", S2SD_EXML_NAMESPACE, 0, false, 0},
    {"<stream:features xmlns:stream='" NS_STREAMS "'>", S2SD_EXML_NAMESPACE,
     0, false, 0},
    {"<s:stream xmlns:s='" NS_STREAMS "' xmlns='jabber:server'><presence/>",
     0, 1, true, 0},
    /* 32: the end of the stream */
    {HDR "<presence/></stream:stream> \r\n\t ", 0, 1, true, 0},
    {HDR "<presence/></stream:stream><presence/>", S2SD_EXML_CLOSED, 1, true,
     0},
    {HDR "</stream:stream>x", S2SD_EXML_CLOSED, 0, true, 0},
    {HDR "</stream:stream>\n<!-- c -->", S2SD_EXML_CLOSED, 0, true, 0},
    {HDR "</stream:stream>\0", S2SD_EXML_CLOSED, 0, true,
     sizeof(HDR "</stream:stream>\0") - 1},
    {HDR "<presence/></message>", S2SD_EXML_MALFORMED, 1, true, 0},
    /* 38: NUL, and UTF-16 (which expat would switch to by itself) */
    {"\0<\0s", S2SD_EXML_MALFORMED, 0, false, 4},
    {"\xff\xfe<\0s\0", S2SD_EXML_MALFORMED, 0, false, 6},
    {"\xfe\xff\0<\0s", S2SD_EXML_MALFORMED, 0, false, 6},
    {"<?xml version='1.0' encoding='UTF-16'?>" HDR, S2SD_EXML_ENCODING, 0,
     false, 0},
    /* 42: text at stream level is refused at the next event */
    {HDR "<presence/>text ]]> more", S2SD_EXML_MALFORMED, 1, true, 0},
    {HDR "<presence/> x </stream:stream>", S2SD_EXML_MALFORMED, 1, true, 0},
    {HDR "<presence/><![CDATA[x]]><presence/>", S2SD_EXML_MALFORMED, 1, true,
     0},
    {HDR "<presence/><![CDATA[ ]]><presence/>", 0, 2, true, 0},
    {"hello" HDR, S2SD_EXML_MALFORMED, 0, false, 0},
    {"\n \t" HDR "<presence/>", 0, 1, true, 0},
};

START_TEST(test_bad)
{
	const struct bad_case *c = &bad_cases[_i];
	size_t len = c->len ? c->len : strlen(c->in), n;
	struct run r;
	char *log;
	int rc;

	run_init(&r, NULL);
	r.restart = false;
	rc = run_feed(&r, c->in, len);
	ck_assert_int_eq(rc, c->err);
	ck_assert_int_eq(r.nerrors, c->err ? 1 : 0);
	ck_assert_int_eq(r.last_err, c->err);
	ck_assert_int_eq(r.nstanzas, c->stanzas);
	ck_assert(c->opened == (strncmp(r.log.data ? r.log.data : "", "open",
	                                4) == 0));
	/* Errors stick: more input gets the same answer and no event. */
	if (c->err != 0) {
		ck_assert_int_eq(xmlstream_feed(r.xs, "<a/>", 4), c->err);
		ck_assert_int_eq(r.nerrors, 1);
	}
	log = util_buf_steal(&r.log, &n);
	run_done(&r);
	check_splits(NULL, c->in, len, log, 10);
	free(log);
}
END_TEST

/* ---- limits: just below and just above each ---- */

/* A stanza of exactly SIZE bytes. */
static char *
sized_stanza(size_t size)
{
	const char *open = "<message><body>", *close = "</body></message>";
	size_t fixed = strlen(open) + strlen(close);
	char *fill;
	char *s;

	ck_assert_uint_gt(size, fixed);
	fill = xcalloc(1, size - fixed + 1);
	memset(fill, 'x', size - fixed);
	s = xasprintf("%s%s%s", open, fill, close);
	free(fill);
	ck_assert_uint_eq(strlen(s), size);
	return s;
}

/* Run IN whole, check the outcome, then the split invariance. */
static void
check_outcome(const struct xmlstream_opts *o, const char *in, int err,
              int stanzas)
{
	struct run r;
	char *log;
	size_t n;

	run_init(&r, o);
	ck_assert_int_eq(run_feed(&r, in, strlen(in)), err);
	ck_assert_int_eq(r.last_err, err);
	ck_assert_int_eq(r.nstanzas, stanzas);
	log = util_buf_steal(&r.log, &n);
	run_done(&r);
	check_splits(o, in, strlen(in), log, 5);
	free(log);
}

START_TEST(test_limit_size)
{
	struct xmlstream_opts o = {.max_stanza = 200};
	int delta = _i - 1;  /* -1, 0, +1 */
	char *st = sized_stanza((size_t)(200 + delta));
	char *in = xasprintf(HDR "%s<presence/>", st);
	double hits = metrics_value(METRICS_LIMIT_HITS, "max_stanza_size", NULL,
	                            NULL);

	check_outcome(&o, in, delta > 0 ? S2SD_EXML_LIMIT : 0,
	              delta > 0 ? 0 : 2);
	/* Each refusal (whole and every split run) is a limit hit. */
	ck_assert_int_eq(metrics_value(METRICS_LIMIT_HITS, "max_stanza_size",
	                               NULL, NULL) > hits, delta > 0);
	free(in);
	free(st);
}
END_TEST

/* A token that never ends is refused once it is past the limit, before
 * expat has seen all of it: a slow peer cannot make us buffer more. */
START_TEST(test_limit_partial)
{
	struct xmlstream_opts o = {.max_stanza = 200};
	static const char *const starts[] = {HDR "<message to='", HDR "<message>",
	                                     "<stream:stream to='"};
	struct run r;
	char fill[64];
	int i, rc = 0;

	memset(fill, 'A', sizeof(fill));
	run_init(&r, &o);
	ck_assert_int_eq(run_feed(&r, starts[_i], strlen(starts[_i])), 0);
	for (i = 0; i < 10 && rc == 0; i++)
		rc = run_feed(&r, fill, sizeof(fill));
	ck_assert_int_eq(rc, S2SD_EXML_LIMIT);
	ck_assert_int_eq(r.nerrors, 1);
	/* Refused within one read of crossing the limit. */
	ck_assert_int_le(i * 64, 200 + 64);
	run_done(&r);
}
END_TEST

START_TEST(test_limit_header)
{
	struct xmlstream_opts o = {.max_stanza = strlen(HDR) - 1 + _i};

	check_outcome(&o, HDR "<a/>", _i == 0 ? S2SD_EXML_LIMIT : 0,
	              _i == 0 ? 0 : 1);
}
END_TEST

static char *
nested(int levels)
{
	struct util_buf b = {0};
	size_t n;
	int i;

	util_buf_puts(&b, HDR);
	for (i = 0; i < levels; i++)
		util_buf_printf(&b, "<e%d>", i);
	util_buf_puts(&b, "text");
	for (i = levels - 1; i >= 0; i--)
		util_buf_printf(&b, "</e%d>", i);
	util_buf_puts(&b, "<presence/>");
	return util_buf_steal(&b, &n);
}

START_TEST(test_limit_depth)
{
	struct xmlstream_opts o = {.max_depth = 5};
	char *ok = nested(5), *bad = nested(6);
	double hits = metrics_value(METRICS_LIMIT_HITS, "max_depth", NULL, NULL);

	check_outcome(&o, ok, 0, 2);
	ck_assert(metrics_value(METRICS_LIMIT_HITS, "max_depth", NULL, NULL) ==
	          hits);
	check_outcome(&o, bad, S2SD_EXML_LIMIT, 0);
	ck_assert(metrics_value(METRICS_LIMIT_HITS, "max_depth", NULL, NULL) >
	          hits);
	free(ok);
	free(bad);
	/* The default is 64. */
	ok = nested(64);
	bad = nested(65);
	check_outcome(NULL, ok, 0, 2);
	check_outcome(NULL, bad, S2SD_EXML_LIMIT, 0);
	free(ok);
	free(bad);
}
END_TEST

START_TEST(test_limit_attrs)
{
	struct xmlstream_opts o = {.max_attrs = 6};
	double hits = metrics_value(METRICS_LIMIT_HITS, "max_attrs", NULL, NULL);

	check_outcome(&o, HDR "<m a='1' b='2' c='3' d='4' e='5' f='6'/>", 0, 1);
	ck_assert(metrics_value(METRICS_LIMIT_HITS, "max_attrs", NULL, NULL) ==
	          hits);
	check_outcome(&o, HDR "<m a='1' b='2' c='3' d='4' e='5' f='6' g='7'/>",
	              S2SD_EXML_LIMIT, 0);
	ck_assert(metrics_value(METRICS_LIMIT_HITS, "max_attrs", NULL, NULL) >
	          hits);
	/* Namespace declarations count as well. */
	check_outcome(&o,
	              HDR "<m a='1' b='2' c='3' d='4' xmlns:x='u' xmlns='v'/>", 0,
	              1);
	check_outcome(&o,
	              HDR "<m a='1' b='2' c='3' d='4' e='5' xmlns:x='u' "
	                  "xmlns='v'/>",
	              S2SD_EXML_LIMIT, 0);
	check_outcome(&o, HDR "<m><n a='1' b='2' c='3' d='4' e='5' f='6' "
	                  "g='7'/></m>",
	              S2SD_EXML_LIMIT, 0);
}
END_TEST

START_TEST(test_limit_attr_len)
{
	/* The header's own namespace names are 32 bytes: keep above. */
	struct xmlstream_opts o = {.max_attr_len = 40};
#define V40 "0123456789012345678901234567890123456789"

	check_outcome(&o, HDR "<m id='" V40 "'/>", 0, 1);
	check_outcome(&o, HDR "<m id='" V40 "A'/>", S2SD_EXML_LIMIT, 0);
	/* Decoded length: five characters written as entities are five. */
	check_outcome(&o, HDR "<m id='&lt;&gt;&amp;&apos;&quot;"
	                  "01234567890123456789012345678901234'/>", 0, 1);
	check_outcome(&o, HDR "<m><n xmlns='urn:" V40 "'/></m>",
	              S2SD_EXML_LIMIT, 0);
#undef V40
}
END_TEST

/* Text is counted per element: all its text, around children too. */
START_TEST(test_limit_text)
{
	struct xmlstream_opts o = {.max_text = 8};

	check_outcome(&o, HDR "<m><b>01234567</b><b>01234567</b></m>", 0, 1);
	check_outcome(&o, HDR "<m><b>012345678</b></m>", S2SD_EXML_LIMIT, 0);
	check_outcome(&o, HDR "<m>0123<x/>4567</m>", 0, 1);
	check_outcome(&o, HDR "<m>0123<x/>45678</m>", S2SD_EXML_LIMIT, 0);
	check_outcome(&o, HDR "<m>&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;"
	                  "</m>", 0, 1);
}
END_TEST

/* Each limit names its setting (for the metric and the log line). */
START_TEST(test_limit_names)
{
	static const struct {
		struct xmlstream_opts o;
		const char *in, *name;
	} cases[] = {
	    {{.max_stanza = 100}, HDR "<m>" "0123456789012345678901234567890123"
	     "456789012345678901234567890123456789012345678901234567890123456789"
	     "</m>", "max_stanza_size"},
	    {{.max_depth = 4}, HDR "<a><b><c><d><e/></d></c></b></a>",
	     "max_depth"},
	    {{.max_attrs = 4}, HDR "<a b='' c='' d='' e='' f=''/>", "max_attrs"},
	    {{.max_attr_len = 33}, HDR "<a b='0123456789012345678901234567890123'/>",
	     "max_attr_len"},
	    {{.max_text = 5}, HDR "<a>123456</a>", "max_text_len"},
	    {{0}, HDR "<a>x</a>", NULL},
	};
	struct run r;

	run_init(&r, &cases[_i].o);
	run_feed(&r, cases[_i].in, strlen(cases[_i].in));
	if (cases[_i].name == NULL)
		ck_assert_ptr_null(xmlstream_limit(r.xs));
	else
		ck_assert_str_eq(xmlstream_limit(r.xs), cases[_i].name);
	run_done(&r);
}
END_TEST

/* Qualified names longer than the parser's stack buffer for splitting
 * them, next to short ones: the same tree either way. */
START_TEST(test_long_qualified_names)
{
	char ns[300], in[1200];
	struct stanza *x;
	struct run r;

	memset(ns, 'n', sizeof(ns) - 1);
	memcpy(ns, "urn:", 4);
	ns[sizeof(ns) - 1] = '\0';
	snprintf(in, sizeof(in), HDR "<message to='a@b' xmlns:p='%s' "
	         "p:k='v1' xml:lang='en'><x xmlns='%s' p:q='v2'/></message>",
	         ns, ns);
	run_init(&r, NULL);
	run_feed(&r, in, strlen(in));
	ck_assert_ptr_nonnull(r.keep);
	ck_assert_str_eq(stanza_attr(r.keep, "to"), "a@b");
	ck_assert_str_eq(stanza_attr_ns(r.keep, ns, "k"), "v1");
	ck_assert_str_eq(stanza_attr_ns(r.keep, STANZA_NS_XML, "lang"), "en");
	x = stanza_first_child(r.keep);
	ck_assert_str_eq(stanza_ns(x), ns);
	ck_assert_str_eq(stanza_name(x), "x");
	ck_assert_str_eq(stanza_attr_ns(x, ns, "q"), "v2");
	run_done(&r);
}
END_TEST

/* ---- restart, close, stop ---- */

#define HDR2                                                                   \
	"<stream:stream xmlns='jabber:component:accept' xmlns:stream='"     \
	NS_STREAMS "' from='c.example'>"

START_TEST(test_reset_outside)
{
	struct run r;

	run_init(&r, NULL);
	ck_assert_ptr_null(xmlstream_header(r.xs));
	ck_assert_int_eq(run_feed(&r, HDR "<stream:features/><mess", 
	                          strlen(HDR "<stream:features/><mess")), 0);
	ck_assert_str_eq(xmlstream_content_ns(r.xs), "jabber:server");
	ck_assert_str_eq(xmlstream_prefix_ns(r.xs, "stream"), NS_STREAMS);
	xmlstream_reset(r.xs);
	ck_assert_ptr_null(xmlstream_header(r.xs));
	ck_assert_ptr_null(xmlstream_prefix_ns(r.xs, "stream"));
	ck_assert_int_eq(run_feed(&r, HDR2 "<presence/>",
	                          strlen(HDR2 "<presence/>")), 0);
	ck_assert_str_eq(xmlstream_content_ns(r.xs), "jabber:component:accept");
	ck_assert_str_eq(stanza_attr(xmlstream_header(r.xs), "from"),
	                 "c.example");
	ck_assert_int_eq(r.nstanzas, 2);
	ck_assert_int_eq(r.nerrors, 0);
	/* The old stream's partial "<mess" is gone: a clean presence. */
	ck_assert_ptr_nonnull(strstr(r.log.data, "stanza safe=1 raw=\"<presence/>\""));
	run_done(&r);
}
END_TEST

START_TEST(test_reset_inside)
{
	const char *in = HDR "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	                     "<injected/>";
	struct run r;
	int rc;

	run_init(&r, NULL);
	r.stop_after = 0;
	rc = xmlstream_feed(r.xs, in, strlen(in));
	/* The bytes after <proceed/> are left for the caller to drop. */
	ck_assert_int_eq(rc, (int)strlen("<injected/>"));
	ck_assert_int_eq(r.nstanzas, 1);
	ck_assert_ptr_null(xmlstream_header(r.xs));
	ck_assert_int_eq(run_feed(&r, HDR2, strlen(HDR2)), 0);
	ck_assert_str_eq(xmlstream_content_ns(r.xs), "jabber:component:accept");
	ck_assert_int_eq(r.nerrors, 0);
	run_done(&r);

	/* From the open callback: the rest of the buffer is not parsed. */
	run_init(&r, NULL);
	r.reset_in_open = true;
	rc = xmlstream_feed(r.xs, HDR "<presence/>", strlen(HDR "<presence/>"));
	ck_assert_int_eq(rc, (int)strlen("<presence/>"));
	ck_assert_int_eq(r.nstanzas, 0);
	ck_assert_ptr_null(xmlstream_header(r.xs));
	run_done(&r);
}
END_TEST

/* Compaction frees the parser only between stanzas with nothing held, and
 * the stream goes on with its header's namespaces afterwards. */
START_TEST(test_compact)
{
	const char *part = "<message from='a@b.example'><body>hi</bo";
	const char *tail = "<stream:error><x xmlns='urn:x'/></stream:error>"
	                   "</stream:stream>";
	struct run r;

	run_init(&r, NULL);
	/* Before the header: nothing to give back yet. */
	ck_assert(!xmlstream_compact(r.xs));
	ck_assert_int_eq(run_feed(&r, HDR, strlen(HDR)), 0);
	ck_assert(xmlstream_compact(r.xs));
	ck_assert(xmlstream_is_compact(r.xs));
	ck_assert(xmlstream_compact(r.xs));     /* again: no change */
	ck_assert_str_eq(xmlstream_prefix_ns(r.xs, "stream"), NS_STREAMS);
	ck_assert_int_eq(run_feed(&r, part, strlen(part)), 0);
	ck_assert(!xmlstream_is_compact(r.xs));
	/* Inside a stanza, or a tag cut short: refused, nothing lost. */
	ck_assert(!xmlstream_compact(r.xs));
	ck_assert_int_eq(run_feed(&r, "dy></message><pres", 18), 0);
	ck_assert(!xmlstream_compact(r.xs));
	ck_assert_int_eq(run_feed(&r, "ence/>", 6), 0);
	ck_assert(xmlstream_compact(r.xs));
	ck_assert_int_eq(r.nstanzas, 2);
	/* A prefix from the header still resolves after a compaction; the
	 * stream's end tag still matches the header. */
	ck_assert_int_eq(run_feed(&r, tail, strlen(tail)), 0);
	ck_assert_int_eq(r.nerrors, 0);
	ck_assert_int_eq(r.nstanzas, 3);
	ck_assert_ptr_nonnull(strstr(r.log.data, "<{" NS_STREAMS "}error>"));
	ck_assert_ptr_nonnull(strstr(r.log.data, "\nclose\n"));
	ck_assert(!xmlstream_compact(r.xs));    /* closed */
	run_done(&r);
}
END_TEST

START_TEST(test_close)
{
	const char *in = HDR "<presence/></stream:stream>\n";
	struct run r;

	run_init(&r, NULL);
	ck_assert_int_eq(run_feed(&r, in, strlen(in)), 0);
	ck_assert_ptr_nonnull(strstr(r.log.data, "\nclose\n"));
	ck_assert_int_eq(xmlstream_feed(r.xs, " \r\n", 3), 0);
	ck_assert_int_eq(r.nerrors, 0);
	ck_assert_int_eq(xmlstream_feed(r.xs, " <presence/>", 12),
	                 S2SD_EXML_CLOSED);
	ck_assert_int_eq(xmlstream_feed(r.xs, " ", 1), S2SD_EXML_CLOSED);
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_int_eq(r.nstanzas, 1);
	run_done(&r);
}
END_TEST

START_TEST(test_stop)
{
	const char *in = HDR "<presence/><message/><iq/>";
	struct run r;
	int rc;

	run_init(&r, NULL);
	r.stop_after = 1;
	rc = xmlstream_feed(r.xs, in, strlen(in));
	ck_assert_int_eq(rc, (int)strlen("<message/><iq/>"));
	ck_assert_int_eq(r.nstanzas, 1);
	ck_assert_int_eq(xmlstream_feed(r.xs, "<iq/>", 5), -ECANCELED);
	ck_assert_int_eq(r.nstanzas, 1);
	ck_assert_int_eq(r.nerrors, 0);
	run_done(&r);

	/* Stopped between two feeds, in the middle of an element. */
	run_init(&r, NULL);
	ck_assert_int_eq(xmlstream_feed(r.xs, HDR "<mes", strlen(HDR) + 4), 0);
	xmlstream_stop(r.xs);
	ck_assert_int_eq(xmlstream_feed(r.xs, "sage/>", 6), -ECANCELED);
	ck_assert_int_eq(r.nstanzas, 0);
	run_done(&r);
}
END_TEST

/* The error callback may restart the stream (the caller decided to go on
 * with a fresh stream on the same bytes); also outside expat's parse. */
static void
on_error_reset(void *arg, int err, const char *detail)
{
	struct run *r = arg;

	on_error(arg, err, detail);
	xmlstream_reset(r->xs);
}

START_TEST(test_reset_in_error)
{
	static const struct xmlstream_cbs cbs_reset = {on_open, on_stanza,
	                                               on_close, on_error_reset};
	static const char *const bad[] = {
	    HDR "</stream:stream>junk", HDR "<a>\0", HDR "<a></b>"};
	static const size_t badlen[] = {20, 4, 7};
	struct run r;

	run_init(&r, NULL);
	xmlstream_free(r.xs);
	r.xs = xmlstream_new(NULL, &cbs_reset, &r);
	ck_assert_int_eq(xmlstream_feed(r.xs, bad[_i], strlen(HDR) + badlen[_i]),
	                 r.last_err);
	ck_assert_int_lt(r.last_err, 0);
	ck_assert_ptr_null(xmlstream_header(r.xs));
	ck_assert_int_eq(run_feed(&r, HDR "<iq/>", strlen(HDR "<iq/>")), 0);
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_ptr_nonnull(xmlstream_header(r.xs));
	run_done(&r);
}
END_TEST

/* Absurd limits are clamped, not wrapped around. */
START_TEST(test_huge_limit)
{
	struct xmlstream_opts o = {.max_stanza = SIZE_MAX,
	                           .max_depth = UINT32_MAX,
	                           .max_attrs = UINT32_MAX};

	check_outcome(&o, HDR "<presence/><message><body>x</body></message>",
	              0, 2);
}
END_TEST

static void
on_stanza_free(void *arg, struct stanza *st)
{
	struct run *r = arg;

	stanza_free(st);
	xmlstream_free(r->xs);
}

static void
on_stanza_feed(void *arg, struct stanza *st)
{
	struct run *r = arg;

	stanza_free(st);
	xmlstream_feed(r->xs, "<a/>", 4);
}

START_TEST(test_fatal_callback)
{
	struct xmlstream_cbs c = cbs;
	struct run r;

	c.stanza = _i == 0 ? on_stanza_free : on_stanza_feed;
	memset(&r, 0, sizeof(r));
	r.xs = xmlstream_new(NULL, &c, &r);
	xmlstream_feed(r.xs, HDR "<a/>", strlen(HDR "<a/>"));
}
END_TEST

/* ---- verbatim forwarding and re-serialisation ---- */

#define HDR_PREFIXES                                                           \
	"<stream:stream xmlns='jabber:server' xmlns:stream='" NS_STREAMS    \
	"' xmlns:db='jabber:server:dialback' xmlns:foo='urn:example:foo'>"

struct fwd_case {
	const char *stanza;
	bool safe;
};

static const struct fwd_case fwd_cases[] = {
    {"<message to='x@a.example'><body>hi</body><foo:x foo:a='1'/></message>",
     false},
    {"<message><x foo:a='1'/></message>", false},
    {"<db:result from='b.example' to='a.example'>k3y</db:result>", false},
    {"<message xmlns:bar='urn:bar'><bar:y bar:z='2'>t</bar:y></message>",
     true},
    {"<message xmlns:foo='urn:other'><foo:y foo:z='2'/></message>", true},
    {"<message xmlns='jabber:server'><body>x</body></message>", false},
    {"<message><z xmlns:s='jabber:server'><s:body/></z></message>", false},
    {"<iq xmlns='jabber:client' type='get'/>", false},
    {"<message xml:lang='de'><body xml:lang='en'>x</body></message>", true},
    {"<message><x xmlns=''><y/></x></message>", true},
    {"<message><html xmlns='http://jabber.org/protocol/xhtml-im'><body "
     "xmlns='http://www.w3.org/1999/xhtml'><p>a &amp; b</p></body></html>"
     "</message>",
     true},
    {"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
     "</stream:features>",
     false},
};

static struct stanza *
parse_one(const char *hdr, const char *data, size_t len)
{
	struct run r;
	struct stanza *st;

	run_init(&r, NULL);
	ck_assert_int_eq(run_feed(&r, hdr, strlen(hdr)), 0);
	ck_assert_int_eq(run_feed(&r, data, len), 0);
	ck_assert_int_eq(r.nstanzas, 1);
	st = r.keep;
	r.keep = NULL;
	run_done(&r);
	return st;
}

static char *
dump(const struct stanza *st)
{
	struct util_buf b = {0};
	size_t n;

	dump_tree(&b, st);
	return util_buf_steal(&b, &n);
}

START_TEST(test_forward)
{
	const struct fwd_case *c = &fwd_cases[_i];
	struct stanza *st, *back;
	struct util_buf out = {0};
	char *d1, *d2;
	size_t rawlen;
	const char *raw;

	st = parse_one(HDR_PREFIXES, c->stanza, strlen(c->stanza));
	raw = stanza_raw(st, &rawlen);
	ck_assert_str_eq(raw, c->stanza);
	ck_assert_uint_eq(rawlen, strlen(c->stanza));
	ck_assert(stanza_raw_is_safe(st) == c->safe);
	stanza_write(st, "jabber:server", &out);
	if (c->safe) {
		ck_assert_str_eq(out.data, c->stanza);
	} else {
		struct util_buf ser = {0};

		stanza_serialize(st, "jabber:server", &ser);
		ck_assert_str_eq(out.data, ser.data);
		util_buf_free(&ser);
	}
	/* Into a stream that declares nothing but its default namespace the
	 * written bytes mean the same tree. */
	back = parse_one(HDR, out.data, out.len);
	d1 = dump(st);
	d2 = dump(back);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	stanza_free(back);
	util_buf_free(&out);
	stanza_free(st);
}
END_TEST

/* Renaming the content namespace keeps safe raw bytes: they mean the renamed
 * tree in a stream of the new namespace. */
START_TEST(test_forward_rename)
{
	const char *in = "<message to='u@c.example'><body>hi</body>"
	                 "<x xmlns='urn:x'><y/></x></message>";
	struct stanza *st = parse_one(HDR, in, strlen(in)), *back;
	struct util_buf out = {0};
	char *d1, *d2;

	ck_assert(stanza_raw_is_safe(st));
	stanza_rename_ns(st, "jabber:server", "jabber:component:accept");
	ck_assert(stanza_raw_is_safe(st));
	ck_assert_str_eq(stanza_ns(stanza_child(st, NULL, "body")),
	                 "jabber:component:accept");
	ck_assert_str_eq(stanza_ns(stanza_child(st, NULL, "x")), "urn:x");
	stanza_write(st, "jabber:component:accept", &out);
	ck_assert_str_eq(out.data, in);
	back = parse_one(HDR2, out.data, out.len);
	d1 = dump(st);
	d2 = dump(back);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	stanza_free(back);
	/* Into a jabber:server stream the same tree must be re-serialised. */
	util_buf_reset(&out);
	stanza_write(st, "jabber:server", &out);
	ck_assert_str_ne(out.data, in);
	/* Any change drops the raw bytes. */
	stanza_set_attr(stanza_child(st, NULL, "body"), "x", "1");
	ck_assert_ptr_null(stanza_raw(st, NULL));
	ck_assert(!stanza_raw_is_safe(st));
	util_buf_free(&out);
	stanza_free(st);
}
END_TEST

static Suite *
xmlstream_suite(void)
{
	Suite *s = suite_create("xmlstream");
	TCase *tc = tcase_create("transcripts");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_transcript, 0,
	                    UTIL_ARRAY_LEN(transcripts));
	tcase_add_loop_test(tc, test_transcript_compact, 0,
	                    UTIL_ARRAY_LEN(transcripts));
	suite_add_tcase(s, tc);
	tc = tcase_create("bad");
	tcase_add_loop_test(tc, test_bad, 0, UTIL_ARRAY_LEN(bad_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_loop_test(tc, test_limit_size, 0, 3);
	tcase_add_loop_test(tc, test_limit_partial, 0, 3);
	tcase_add_loop_test(tc, test_limit_header, 0, 2);
	tcase_add_test(tc, test_limit_depth);
	tcase_add_test(tc, test_limit_attrs);
	tcase_add_test(tc, test_limit_attr_len);
	tcase_add_test(tc, test_limit_text);
	tcase_add_loop_test(tc, test_limit_names, 0, 6);
	tcase_add_test(tc, test_long_qualified_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("control");
	tcase_add_test(tc, test_reset_outside);
	tcase_add_test(tc, test_reset_inside);
	tcase_add_test(tc, test_compact);
	tcase_add_test(tc, test_close);
	tcase_add_test(tc, test_stop);
	tcase_add_loop_test(tc, test_reset_in_error, 0, 3);
	tcase_add_test(tc, test_huge_limit);
	tcase_add_loop_test_raise_signal(tc, test_fatal_callback, SIGABRT, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("forward");
	tcase_add_loop_test(tc, test_forward, 0, UTIL_ARRAY_LEN(fwd_cases));
	tcase_add_test(tc, test_forward_rename);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(xmlstream_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
