/* fuzz_xmlstream.c - libFuzzer target for xmpp/xmlstream and the serializer.
 *
 * Input: byte 0 picks the limits, byte 1 the split point, the rest is the
 * stream. The stream is parsed whole and split in two (and in three, with
 * xmlstream_compact between the pieces): the event logs must be identical. Every stanza is serialised, and its
 * forwarding form written, and each must parse back, in a stream that
 * declares only the content namespace, to the same tree; a renamed copy
 * must do the same in a stream of the new namespace. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "xmpp/stanza.h"
#include "xmpp/xmlstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_run {
	struct xmlstream *xs;
	struct util_buf log;
	struct stanza *last;    /* the stanza of a parse-back */
	int nstanzas;
	bool check;             /* round-trip every stanza */
};

static void
fz_dump(struct util_buf *b, const struct stanza *st)
{
	const struct stanza *n;
	const char *ns, *name, *value;
	size_t i;

	util_buf_printf(b, "<{%s}%s", stanza_ns(st), stanza_name(st));
	for (i = 0; i < stanza_attr_count(st); i++) {
		stanza_attr_at(st, i, &ns, &name, &value);
		util_buf_printf(b, " {%s}%s=[%s]", ns ? ns : "", name, value);
	}
	util_buf_puts(b, ">");
	for (n = stanza_first_node(st); n != NULL; n = stanza_next_node(n)) {
		if (stanza_node_text(n) != NULL)
			util_buf_printf(b, "[%s]", stanza_node_text(n));
		else
			fz_dump(b, n);
	}
	util_buf_puts(b, "</>");
}

static char *
fz_dump_str(const struct stanza *st)
{
	struct util_buf b = {0};
	size_t n;

	fz_dump(&b, st);
	return util_buf_steal(&b, &n);
}

/* A header declaring NS as the default namespace, NS escaped. */
static void
fz_header(struct util_buf *b, const char *ns)
{
	struct stanza *tmp = stanza_new(NULL, "x");
	struct util_buf attr = {0};

	/* Let the serializer do the escaping: <x a='...'/>. */
	stanza_set_attr(tmp, "a", ns);
	stanza_serialize(tmp, NULL, &attr);
	util_buf_puts(b, "<stream:stream xmlns:stream='"
	                 "http://etherx.jabber.org/streams'");
	if (*ns != '\0') {
		util_buf_puts(b, " xmlns=");
		/* attr is "<x a='...'/>": keep the quoted value. */
		util_buf_append(b, attr.data + 5, attr.len - 7);
	}
	util_buf_puts(b, ">");
	util_buf_free(&attr);
	stanza_free(tmp);
}

static void fz_roundtrip(const struct stanza *st, const char *content_ns);

static void
fz_on_open(void *arg, const struct stanza *hdr)
{
	struct fz_run *r = arg;
	const char *prefix, *uri;
	size_t i;

	util_buf_puts(&r->log, "open ");
	fz_dump(&r->log, hdr);
	for (i = 0; xmlstream_nsdecl(r->xs, i, &prefix, &uri); i++)
		util_buf_printf(&r->log, " %s=%s", prefix ? prefix : "", uri);
	util_buf_puts(&r->log, "\n");
}

static void
fz_on_stanza(void *arg, struct stanza *st)
{
	struct fz_run *r = arg;
	size_t len;
	const char *raw = stanza_raw(st, &len);

	if (raw == NULL)
		abort();
	r->nstanzas++;
	util_buf_printf(&r->log, "stanza %d ", stanza_raw_is_safe(st));
	util_buf_append(&r->log, raw, len);
	util_buf_puts(&r->log, "\n");
	fz_dump(&r->log, st);
	util_buf_puts(&r->log, "\n");
	if (r->check)
		fz_roundtrip(st, xmlstream_content_ns(r->xs));
	if (strcmp(stanza_name(st), "proceed") == 0) {
		util_buf_puts(&r->log, "restart\n");
		xmlstream_reset(r->xs);
	}
	stanza_free(r->last);
	r->last = st;
}

static void
fz_on_close(void *arg)
{
	struct fz_run *r = arg;

	util_buf_puts(&r->log, "close\n");
}

static void
fz_on_error(void *arg, int err, const char *detail)
{
	struct fz_run *r = arg;

	util_buf_printf(&r->log, "error %s %s\n", err_name(err), detail);
}

static const struct xmlstream_cbs fz_cbs = {fz_on_open, fz_on_stanza,
                                            fz_on_close, fz_on_error};

/* Feed BUF; bytes left by a restart are fed again, as they belong to the
 * new stream. Returns the last result. */
static int
fz_feed(struct fz_run *r, const uint8_t *buf, size_t len)
{
	int rc;

	for (;;) {
		rc = xmlstream_feed(r->xs, buf, len);
		if (rc <= 0)
			return rc;
		if ((size_t)rc > len)
			abort();
		buf += len - (size_t)rc;
		len = (size_t)rc;
	}
}

static char *
fz_run(const struct xmlstream_opts *o, const uint8_t *buf, size_t len,
       const size_t *cuts, size_t ncuts, bool check)
{
	struct fz_run r = {.check = check};
	size_t i, from = 0, n;
	int rc = 0;

	r.xs = xmlstream_new(o, &fz_cbs, &r);
	for (i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		/* The three-piece run also compacts between pieces, as the
		 * owner of an idle stream does: nothing may change. */
		if (ncuts == 2)
			xmlstream_compact(r.xs);
		rc = fz_feed(&r, buf + from, to - from);
		from = to;
	}
	/* The last answer, which repeats an error however it was reached. */
	util_buf_printf(&r.log, "rc %d\n", rc);
	xmlstream_free(r.xs);
	stanza_free(r.last);
	return util_buf_steal(&r.log, &n);
}

/* Parse HDR + BYTES: exactly one stanza, no error; returns it. */
static struct stanza *
fz_parse_back(const char *ns, const char *bytes, size_t len)
{
	struct xmlstream_opts o = {.max_stanza = 1 << 24, .max_attrs = 100000,
	                           .max_depth = 100000};
	struct fz_run r = {0};
	struct util_buf hdr = {0};
	struct stanza *st;

	fz_header(&hdr, ns);
	r.xs = xmlstream_new(&o, &fz_cbs, &r);
	if (xmlstream_feed(r.xs, hdr.data, hdr.len) != 0 ||
	    xmlstream_feed(r.xs, bytes, len) != 0 || r.nstanzas != 1) {
		fprintf(stderr, "parse-back failed:\n%s%.*s\n%s", hdr.data,
		        (int)len, bytes, r.log.data);
		abort();
	}
	xmlstream_free(r.xs);
	util_buf_free(&hdr);
	util_buf_free(&r.log);
	st = r.last;
	return st;
}

static void
fz_same(const struct stanza *a, const struct stanza *b, const char *what)
{
	char *da = fz_dump_str(a), *db = fz_dump_str(b);

	if (strcmp(da, db) != 0) {
		fprintf(stderr, "%s differs:\n%s\n%s\n", what, da, db);
		abort();
	}
	free(da);
	free(db);
}

static void
fz_check_back(const struct stanza *st, const char *ns, bool forward)
{
	struct util_buf out = {0};
	struct stanza *back;

	if (forward)
		stanza_write(st, ns, &out);
	else
		stanza_serialize(st, ns, &out);
	back = fz_parse_back(ns, out.data, out.len);
	fz_same(st, back, forward ? "forwarded" : "serialised");
	stanza_free(back);
	util_buf_free(&out);
}

static void
fz_roundtrip(const struct stanza *st, const char *content_ns)
{
	struct stanza *copy = stanza_copy(st);

	fz_same(st, copy, "copy");
	fz_check_back(st, content_ns, false);
	fz_check_back(st, content_ns, true);
	stanza_rename_ns(copy, content_ns, "urn:renamed");
	fz_check_back(copy, "urn:renamed", true);
	stanza_free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xmlstream_opts o = {0};
	size_t cuts[2];
	char *a, *b, *c;

	if (size < 2)
		return 0;
	log_set_level(-1, LOG_LEVEL_ERROR);
	/* Small limits half of the time, so that their paths are reached. */
	if (data[0] & 1) {
		o.max_stanza = 32 + (size_t)(data[0] >> 1) * 4;
		o.max_depth = 1 + (data[0] >> 5);
		o.max_attrs = 1 + ((data[0] >> 2) & 7);
	}
	cuts[0] = size > 2 ? data[1] % (size - 2) : 0;
	cuts[1] = cuts[0] + (size - 2 - cuts[0]) / 2;
	a = fz_run(&o, data + 2, size - 2, NULL, 0, true);
	b = fz_run(&o, data + 2, size - 2, cuts, 1, false);
	c = fz_run(&o, data + 2, size - 2, cuts, 2, false);
	if (strcmp(a, b) != 0 || strcmp(a, c) != 0) {
		fprintf(stderr, "split at %zu,%zu changes events:\n%s\n--\n%s\n--\n%s\n",
		        cuts[0], cuts[1], a, b, c);
		abort();
	}
	free(a);
	free(b);
	free(c);
	return 0;
}
