/* xmlstream.c - XMPP stream parser on expat; see xmlstream.h.
 *
 * Expat runs in namespace mode with triplets ("uri\1local\1prefix"), so every
 * element and attribute comes resolved and with the prefix it was written
 * with; the prefix tells whether an element leans on a declaration made
 * outside itself (on the stream header), which decides whether its raw bytes
 * can be forwarded as they are.
 *
 * Offsets are counted in bytes since the start of the stream (the last
 * reset). PEND keeps the input from PEND_BASE on: everything from the start
 * of the top-level element being parsed, or, between elements, the tail that
 * expat has not reported yet (a partial token). That is where the raw bytes
 * come from, and its length bounds what a peer can make us hold. */
#include "xmpp/xmlstream.h"

#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "xmpp/stanza.h"
#include "xmpp/xmlstream_int.h"

#define XMLSTREAM_SEP '\x01'    /* not an XML character: cannot be in a URI */
#define XMLSTREAM_DEF_STANZA (512 * 1024)
#define XMLSTREAM_MAX_STANZA ((size_t)1 << 40)
#define XMLSTREAM_DEF_DEPTH 64
#define XMLSTREAM_MAX_DEPTH 65536     /* bounds the per-depth text counters */
#define XMLSTREAM_DEF_ATTRS 64
#define XMLSTREAM_DEF_ATTR_LEN 4096
#define XMLSTREAM_DEF_TEXT (256 * 1024)

enum xmlstream_state {
	XMLSTREAM_PROLOG,       /* waiting for the header */
	XMLSTREAM_OPEN,
	XMLSTREAM_CLOSED,       /* </stream:stream> seen */
	XMLSTREAM_FAILED,
};

/* A namespace declaration: on the header (DEPTH 1) or inside the current
 * top-level element (DEPTH 2 and more). PREFIX NULL is the default. */
struct xmlstream_decl {
	char *prefix;
	char *uri;
	unsigned depth;
};

struct xmlstream {
	XML_Parser parser;
	struct xmlstream_opts opts;
	struct xmlstream_cbs cbs;
	void *arg;
	enum xmlstream_state state;
	int err;
	char detail[128];
	const char *limit;              /* the limit passed, see header */
	bool stopped;
	bool reset_pending;
	bool in_feed;                   /* callbacks may run */
	bool in_parse;                  /* expat is running */
	bool replaying;                 /* expat reads our copy of the header */
	char *hdr_prefix;               /* as the header was written, or NULL */

	struct stanza *hdr;
	struct xmlstream_decl *hdrns;   /* declarations on the header */
	size_t nhdrns;
	struct xmlstream_decl *ns;      /* declarations in the current element */
	size_t nns;
	unsigned pending_decls;         /* for the next start tag */
	bool pending_unsafe;
	bool bad_text;                  /* text at stream level, see enter */

	unsigned depth;                 /* open elements; the stream is 1 */
	size_t *textlen;                /* text so far per depth (max_depth+2) */
	struct stanza *top;             /* top-level element being built */
	struct stanza *cur;             /* innermost open element under TOP */
	bool safe;                      /* TOP's raw bytes are forwardable */

	struct util_buf pend;
	uint64_t pend_base;
	uint64_t fed;                   /* bytes given to expat */
	uint64_t mark;                  /* end of the last event outside TOP */
	uint64_t top_start;
	uint64_t ev_end;                /* end of the event being handled */
	int64_t base;                   /* stream offset of expat's byte 0 */
};

/* A name from expat split in place: "uri\1local\1prefix", "uri\1local" or
 * "local". */
struct xmlstream_qname {
	char *buf;              /* NULL, SMALL or allocated */
	const char *ns;         /* NULL: no namespace */
	const char *local;
	const char *prefix;     /* NULL: unprefixed */
	char small[128];
};

static void xmlstream_setup(struct xmlstream *xs);

/* XML's white space; NUL is not (and never comes from expat). */
static bool
xmlstream_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Split expat's "ns SEP local [SEP prefix]". An unqualified name (most
 * attributes) is used as it is; a short qualified one is cut up on the
 * stack: no allocation per name. Release with xmlstream_qname_done(). */
static void
xmlstream_qname_split(const char *name, struct xmlstream_qname *q)
{
	char *a, *b;
	size_t len;

	q->buf = NULL;
	q->ns = NULL;
	q->local = name;
	q->prefix = NULL;
	if (strchr(name, XMLSTREAM_SEP) == NULL)
		return;
	len = strlen(name);
	q->buf = len < sizeof(q->small) ? memcpy(q->small, name, len + 1)
	                                : xmemdup(name, len + 1);
	a = strchr(q->buf, XMLSTREAM_SEP);
	*a++ = '\0';
	q->ns = q->buf;
	q->local = a;
	if ((b = strchr(a, XMLSTREAM_SEP)) != NULL) {
		*b++ = '\0';
		q->prefix = b;
	}
}

static void
xmlstream_qname_done(struct xmlstream_qname *q)
{
	if (q->buf != q->small)
		free(q->buf);
}

/* Offsets in the stream of the current event's start and end: expat
 * counts from its own start, which is BASE (see xmlstream_compact). */
static uint64_t
xmlstream_event_start(struct xmlstream *xs)
{
	return (uint64_t)(XML_GetCurrentByteIndex(xs->parser) + xs->base);
}

static uint64_t
xmlstream_event_end(struct xmlstream *xs)
{
	return xmlstream_event_start(xs) +
	       (uint64_t)XML_GetCurrentByteCount(xs->parser);
}

/* Events come from the peer's bytes, not from a replayed header. */
static bool
xmlstream_live(const struct xmlstream *xs)
{
	return !xs->stopped && !xs->reset_pending && !xs->replaying &&
	       xs->state != XMLSTREAM_FAILED && xs->state != XMLSTREAM_CLOSED;
}

/* Record the stream's one error, stop expat, and tell the caller. */
static void
xmlstream_fail(struct xmlstream *xs, int err, const char *detail)
{
	if (xs->state == XMLSTREAM_FAILED || xs->stopped || xs->reset_pending)
		return;
	xs->state = XMLSTREAM_FAILED;
	xs->err = err;
	snprintf(xs->detail, sizeof(xs->detail), "%s", detail);
	if (xs->in_parse)
		XML_StopParser(xs->parser, XML_FALSE);
	if (xs->cbs.error != NULL)
		xs->cbs.error(xs->arg, err, xs->detail);
}

/* A limit was passed: NAME is its setting, DETAIL says by how much. */
static void
xmlstream_limit_fail(struct xmlstream *xs, const char *name,
                     const char *detail)
{
	if (!xmlstream_live(xs))
		return;
	xs->limit = name;
	/* One place counts the XML limits of every stream kind (S2S and the
	 * home nodes' component links). */
	metrics_inc(METRICS_LIMIT_HITS, name);
	xmlstream_fail(xs, S2SD_EXML_LIMIT, detail);
}

static void
xmlstream_size_fail(struct xmlstream *xs)
{
	char why[96];

	snprintf(why, sizeof(why), "stanza larger than %zu bytes",
	         xs->opts.max_stanza);
	xmlstream_limit_fail(xs, "max_stanza_size", why);
}

/* Where the bytes we must hold start: the open top-level element, or the
 * first byte no event has covered yet. */
static uint64_t
xmlstream_hold_from(const struct xmlstream *xs)
{
	return xs->depth >= 2 ? xs->top_start : xs->mark;
}

/* Common entry of every handler but text: ignore events after a stop or
 * error (expat may still deliver a few), and refuse a token that takes what
 * is held past the limit (for a top-level element: its size so far). */
static bool
xmlstream_enter_any(struct xmlstream *xs)
{
	if (!xmlstream_live(xs))
		return false;
	xs->ev_end = xmlstream_event_end(xs);
	if (xs->ev_end - xmlstream_hold_from(xs) > xs->opts.max_stanza) {
		xmlstream_size_fail(xs);
		return false;
	}
	return true;
}

/* Text at stream level is refused at the next event that is not text:
 * expat cuts text differently at the end of a buffer (before "]]>", for
 * one), and this way any split gives the same first error. */
static bool
xmlstream_enter(struct xmlstream *xs)
{
	if (!xmlstream_enter_any(xs))
		return false;
	if (xs->bad_text) {
		xmlstream_fail(xs, S2SD_EXML_MALFORMED, "text at stream level");
		return false;
	}
	return true;
}

static void
xmlstream_decl_push(struct xmlstream_decl **v, size_t *n, const char *prefix,
                    const char *uri, unsigned depth)
{
	struct xmlstream_decl *d;

	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	d = &(*v)[(*n)++];
	d->prefix = prefix != NULL ? xstrdup(prefix) : NULL;
	d->uri = xstrdup(uri != NULL ? uri : "");
	d->depth = depth;
}

static void
xmlstream_decl_pop(struct xmlstream_decl *v, size_t *n, unsigned depth)
{
	while (*n > 0 && v[*n - 1].depth >= depth) {
		(*n)--;
		free(v[*n].prefix);
		free(v[*n].uri);
	}
}

static void
xmlstream_on_startns(void *arg, const XML_Char *prefix, const XML_Char *uri)
{
	struct xmlstream *xs = arg;

	char why[96];

	if (!xmlstream_enter(xs))
		return;
	if (uri != NULL && strlen(uri) > xs->opts.max_attr_len) {
		snprintf(why, sizeof(why), "namespace name longer than %zu "
		         "bytes", xs->opts.max_attr_len);
		xmlstream_limit_fail(xs, "max_attr_len", why);
		return;
	}
	xs->pending_decls++;
	if (xs->depth == 0) {
		xmlstream_decl_push(&xs->hdrns, &xs->nhdrns, prefix, uri, 1);
		return;
	}
	/* Declaring the content namespace inside an element makes its
	 * meaning differ from "inherit the stream's default": see safe. */
	if (strcmp(uri != NULL ? uri : "", xmlstream_content_ns(xs)) == 0)
		xs->pending_unsafe = true;
	xmlstream_decl_push(&xs->ns, &xs->nns, prefix, uri, xs->depth + 1);
}

static bool
xmlstream_bound_inside(const struct xmlstream *xs, const char *prefix)
{
	size_t i;

	for (i = 0; i < xs->nns; i++)
		if (xs->ns[i].prefix != NULL &&
		    strcmp(xs->ns[i].prefix, prefix) == 0)
			return true;
	return false;
}

/* A prefix that is not declared inside the top-level element comes from
 * the header: forwarding the raw bytes elsewhere would leave it unbound. */
static void
xmlstream_check_prefix(struct xmlstream *xs, const char *prefix)
{
	if (prefix != NULL && strcmp(prefix, "xml") != 0 &&
	    !xmlstream_bound_inside(xs, prefix))
		xs->safe = false;
}

static void
xmlstream_add_attrs(struct xmlstream *xs, struct stanza *st,
                    const XML_Char **atts)
{
	struct xmlstream_qname q;

	for (; atts[0] != NULL; atts += 2) {
		xmlstream_qname_split(atts[0], &q);
		if (xs->depth >= 1)
			xmlstream_check_prefix(xs, q.prefix);
		stanza__add_attr(st, q.ns, q.local, q.prefix, atts[1]);
		xmlstream_qname_done(&q);
	}
}

static bool
xmlstream_check_attrs(struct xmlstream *xs, const XML_Char **atts)
{
	unsigned n = xs->pending_decls;
	char why[96];
	size_t i;

	for (i = 0; atts[i] != NULL; i += 2) {
		n++;
		if (strlen(atts[i + 1]) > xs->opts.max_attr_len) {
			snprintf(why, sizeof(why), "attribute value longer than "
			         "%zu bytes", xs->opts.max_attr_len);
			xmlstream_limit_fail(xs, "max_attr_len", why);
			return false;
		}
	}
	xs->pending_decls = 0;
	if (n > xs->opts.max_attrs) {
		snprintf(why, sizeof(why), "more than %u attributes on one "
		         "element", xs->opts.max_attrs);
		xmlstream_limit_fail(xs, "max_attrs", why);
		return false;
	}
	return true;
}

static void
xmlstream_open_header(struct xmlstream *xs, const struct xmlstream_qname *q,
                      const XML_Char **atts)
{
	if (q->ns == NULL || strcmp(q->ns, XMLSTREAM_NS_STREAMS) != 0 ||
	    strcmp(q->local, "stream") != 0) {
		xmlstream_fail(xs, S2SD_EXML_NAMESPACE, "not a stream header");
		return;
	}
	xs->hdr = stanza_new(q->ns, q->local);
	xs->hdr_prefix = q->prefix != NULL ? xstrdup(q->prefix) : NULL;
	xmlstream_add_attrs(xs, xs->hdr, atts);
	xs->depth = 1;
	xs->state = XMLSTREAM_OPEN;
	xs->mark = xs->ev_end;
	if (xs->cbs.open != NULL)
		xs->cbs.open(xs->arg, xs->hdr);
}

static void
xmlstream_open_elem(struct xmlstream *xs, const struct xmlstream_qname *q,
                    const XML_Char **atts)
{
	const char *ns = q->ns != NULL ? q->ns : "";
	char why[96];

	if (xs->depth > xs->opts.max_depth) {
		snprintf(why, sizeof(why), "elements nested deeper than %u",
		         xs->opts.max_depth);
		xmlstream_limit_fail(xs, "max_depth", why);
		return;
	}
	if (xs->depth == 1) {
		xs->top = stanza_new(ns, q->local);
		xs->cur = xs->top;
		xs->top_start = xmlstream_event_start(xs);
		xs->safe = strcmp(ns, xmlstream_content_ns(xs)) == 0;
	} else {
		xs->cur = stanza_add_child(xs->cur, ns, q->local);
	}
	if (xs->pending_unsafe)
		xs->safe = false;
	xs->pending_unsafe = false;
	xs->depth++;
	xs->textlen[xs->depth] = 0;
	xmlstream_check_prefix(xs, q->prefix);
	xmlstream_add_attrs(xs, xs->cur, atts);
}

static void
xmlstream_on_start(void *arg, const XML_Char *name, const XML_Char **atts)
{
	struct xmlstream *xs = arg;
	struct xmlstream_qname q;

	if (!xmlstream_enter(xs) || !xmlstream_check_attrs(xs, atts))
		return;
	xmlstream_qname_split(name, &q);
	if (xs->depth == 0)
		xmlstream_open_header(xs, &q, atts);
	else
		xmlstream_open_elem(xs, &q, atts);
	xmlstream_qname_done(&q);
}

static void
xmlstream_close_top(struct xmlstream *xs)
{
	struct stanza *st = xs->top;
	uint64_t off = xs->top_start - xs->pend_base;

	xs->top = xs->cur = NULL;
	xs->mark = xs->ev_end;
	stanza__set_raw(st, xs->pend.data + off, xs->ev_end - xs->top_start,
	                xs->safe);
	if (xs->cbs.stanza != NULL)
		xs->cbs.stanza(xs->arg, st);
	else
		stanza_free(st);
}

static void
xmlstream_on_end(void *arg, const XML_Char *name)
{
	struct xmlstream *xs = arg;

	(void)name;
	if (!xmlstream_enter(xs))
		return;
	xmlstream_decl_pop(xs->ns, &xs->nns, xs->depth);
	xs->depth--;
	if (xs->depth >= 2) {
		xs->cur = stanza_parent(xs->cur);
	} else if (xs->depth == 1) {
		xmlstream_close_top(xs);
	} else {
		/* </stream:stream>: what follows is checked by hand. */
		xs->state = XMLSTREAM_CLOSED;
		XML_StopParser(xs->parser, XML_FALSE);
		if (xs->cbs.close != NULL)
			xs->cbs.close(xs->arg);
	}
}

static void
xmlstream_on_chars(void *arg, const XML_Char *s, int len)
{
	struct xmlstream *xs = arg;
	int i;

	char why[96];

	if (!xmlstream_enter_any(xs))
		return;
	if (xs->depth >= 2) {
		/* Text between children adds up: the whole element's text. */
		xs->textlen[xs->depth] += (size_t)len;
		if (xs->textlen[xs->depth] > xs->opts.max_text) {
			snprintf(why, sizeof(why), "more than %zu bytes of text "
			         "in one element", xs->opts.max_text);
			xmlstream_limit_fail(xs, "max_text_len", why);
			return;
		}
		stanza__add_text_len(xs->cur, s, (size_t)len);
		return;
	}
	for (i = 0; i < len; i++)
		if (!xmlstream_is_space(s[i]))
			xs->bad_text = true;
	if (!xs->bad_text)
		xs->mark = xs->ev_end;
}

static void
xmlstream_on_xmldecl(void *arg, const XML_Char *version,
                     const XML_Char *encoding, int standalone)
{
	struct xmlstream *xs = arg;

	(void)version;
	(void)standalone;
	if (!xmlstream_enter(xs))
		return;
	if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0) {
		xmlstream_fail(xs, S2SD_EXML_ENCODING, "encoding is not UTF-8");
		return;
	}
	xs->mark = xs->ev_end;
}

static void
xmlstream_restricted(struct xmlstream *xs, const char *what)
{
	if (xmlstream_enter(xs))
		xmlstream_fail(xs, S2SD_EXML_RESTRICTED, what);
}

static void
xmlstream_on_comment(void *arg, const XML_Char *data)
{
	(void)data;
	xmlstream_restricted(arg, "comment");
}

static void
xmlstream_on_pi(void *arg, const XML_Char *target, const XML_Char *data)
{
	(void)target;
	(void)data;
	xmlstream_restricted(arg, "processing instruction");
}

/* Called at the '[' or '>' of <!DOCTYPE ...: before any declaration in an
 * internal subset is read, so no entity is ever defined or expanded. */
static void
xmlstream_on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
                     const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	xmlstream_restricted(arg, "DTD");
}

static void
xmlstream_on_entity(void *arg, const XML_Char *name, int is_param,
                    const XML_Char *value, int value_len,
                    const XML_Char *base, const XML_Char *sysid,
                    const XML_Char *pubid, const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	xmlstream_restricted(arg, "entity declaration");
}

/* Map an error expat found by itself. */
static void
xmlstream_expat_error(struct xmlstream *xs)
{
	enum XML_Error e = XML_GetErrorCode(xs->parser);
	int err = S2SD_EXML_MALFORMED;

	switch (e) {
	case XML_ERROR_NO_MEMORY:
		fatalx("%s: expat out of memory", __func__);
	case XML_ERROR_UNDEFINED_ENTITY:
	case XML_ERROR_RECURSIVE_ENTITY_REF:
	case XML_ERROR_BINARY_ENTITY_REF:
	case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
	case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
	case XML_ERROR_PARAM_ENTITY_REF:
	case XML_ERROR_ENTITY_DECLARED_IN_PE:
	case XML_ERROR_NOT_STANDALONE:
		err = S2SD_EXML_RESTRICTED;
		break;
	case XML_ERROR_UNKNOWN_ENCODING:
	case XML_ERROR_INCORRECT_ENCODING:
		err = S2SD_EXML_ENCODING;
		break;
	default:
		break;
	}
	xmlstream_fail(xs, err, XML_ErrorString(e));
}

static void
xmlstream_setup(struct xmlstream *xs)
{
	static const XML_Memory_Handling_Suite mem = {xmalloc, xrealloc, free};
	XML_Parser p;

	/* Out of memory is fatal in xmalloc: expat never sees NULL. */
	p = XML_ParserCreate_MM("UTF-8", &mem, (XML_Char[]){XMLSTREAM_SEP, 0});
	if (p == NULL)
		fatalx("%s: XML_ParserCreate_MM", __func__);
	XML_SetReturnNSTriplet(p, 1);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
	/* A stream must see each complete token at once, not when more bytes
	 * happen to arrive. */
	XML_SetReparseDeferralEnabled(p, XML_FALSE);
#endif
	XML_SetUserData(p, xs);
	XML_SetElementHandler(p, xmlstream_on_start, xmlstream_on_end);
	XML_SetCharacterDataHandler(p, xmlstream_on_chars);
	XML_SetStartNamespaceDeclHandler(p, xmlstream_on_startns);
	XML_SetXmlDeclHandler(p, xmlstream_on_xmldecl);
	XML_SetCommentHandler(p, xmlstream_on_comment);
	XML_SetProcessingInstructionHandler(p, xmlstream_on_pi);
	XML_SetStartDoctypeDeclHandler(p, xmlstream_on_doctype);
	XML_SetEntityDeclHandler(p, xmlstream_on_entity);
	xs->parser = p;
	/* Depth 1 is the stream, up to max_depth + 1 the stanza's elements. */
	xs->textlen = xcalloc((size_t)xs->opts.max_depth + 2,
	                      sizeof(*xs->textlen));
}

struct xmlstream *
xmlstream_new(const struct xmlstream_opts *opts,
              const struct xmlstream_cbs *cbs, void *arg)
{
	struct xmlstream *xs = xcalloc(1, sizeof(*xs));

	if (opts != NULL)
		xs->opts = *opts;
	if (xs->opts.max_stanza == 0)
		xs->opts.max_stanza = XMLSTREAM_DEF_STANZA;
	/* Offsets plus the limit must not wrap. */
	if (xs->opts.max_stanza > XMLSTREAM_MAX_STANZA)
		xs->opts.max_stanza = XMLSTREAM_MAX_STANZA;
	if (xs->opts.max_depth == 0)
		xs->opts.max_depth = XMLSTREAM_DEF_DEPTH;
	if (xs->opts.max_depth > XMLSTREAM_MAX_DEPTH)
		xs->opts.max_depth = XMLSTREAM_MAX_DEPTH;
	if (xs->opts.max_attrs == 0)
		xs->opts.max_attrs = XMLSTREAM_DEF_ATTRS;
	if (xs->opts.max_attr_len == 0)
		xs->opts.max_attr_len = XMLSTREAM_DEF_ATTR_LEN;
	if (xs->opts.max_text == 0)
		xs->opts.max_text = XMLSTREAM_DEF_TEXT;
	if (cbs != NULL)
		xs->cbs = *cbs;
	xs->arg = arg;
	xmlstream_setup(xs);
	return xs;
}

/* Back to the state of a new stream, parser included. */
static void
xmlstream_clear(struct xmlstream *xs)
{
	XML_ParserFree(xs->parser);
	xs->parser = NULL;
	stanza_free(xs->hdr);
	stanza_free(xs->top);
	xs->hdr = xs->top = xs->cur = NULL;
	free(xs->hdr_prefix);
	xs->hdr_prefix = NULL;
	xs->base = 0;
	xmlstream_decl_pop(xs->hdrns, &xs->nhdrns, 0);
	xmlstream_decl_pop(xs->ns, &xs->nns, 0);
	free(xs->hdrns);
	free(xs->ns);
	xs->hdrns = xs->ns = NULL;
	util_buf_free(&xs->pend);
	xs->state = XMLSTREAM_PROLOG;
	xs->err = 0;
	xs->limit = NULL;
	xs->stopped = xs->reset_pending = false;
	xs->pending_decls = 0;
	xs->pending_unsafe = xs->safe = xs->bad_text = false;
	xs->depth = 0;
	xs->pend_base = xs->fed = xs->mark = xs->top_start = xs->ev_end = 0;
	free(xs->textlen);
	xs->textlen = NULL;
}

void
xmlstream_free(struct xmlstream *xs)
{
	if (xs == NULL)
		return;
	if (xs->in_feed)
		fatalx("%s: called from a callback", __func__);
	xmlstream_clear(xs);
	free(xs);
}

void
xmlstream_stop(struct xmlstream *xs)
{
	if (xs->in_parse && !xs->stopped && !xs->reset_pending)
		XML_StopParser(xs->parser, XML_FALSE);
	xs->stopped = true;
}

void
xmlstream_reset(struct xmlstream *xs)
{
	if (xs->in_feed) {
		/* Expat cannot be freed under its own callback: finish when
		 * xmlstream_feed returns. */
		if (xs->in_parse && !xs->stopped && !xs->reset_pending)
			XML_StopParser(xs->parser, XML_FALSE);
		xs->reset_pending = true;
		return;
	}
	xmlstream_clear(xs);
	xmlstream_setup(xs);
}

/* After </stream:stream> only whitespace may follow. */
static int
xmlstream_after_close(struct xmlstream *xs, const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!xmlstream_is_space(buf[i])) {
			xmlstream_fail(xs, S2SD_EXML_CLOSED,
			               "data after the end of the stream");
			return xs->err;
		}
	return 0;
}

/* Run expat over BUF (already appended to PEND). Expat never gets more than
 * one byte past the limit from where we hold bytes, and the limit is checked
 * at that point: expat then sees the same prefixes and we check at the same
 * offsets however the caller splits the input, so the outcome is the same
 * (an error past the limit in a token that never ends, for instance, is
 * always the limit's). */
static void
xmlstream_parse(struct xmlstream *xs, const char *buf, size_t len)
{
	uint64_t room;
	size_t n;

	xs->in_parse = true;
	while (len > 0 && xmlstream_live(xs)) {
		room = xmlstream_hold_from(xs) + xs->opts.max_stanza + 1 - xs->fed;
		n = len < room ? len : (size_t)room;
		xs->fed += n;
		if (XML_Parse(xs->parser, buf, (int)n, XML_FALSE) !=
		        XML_STATUS_OK &&
		    xmlstream_live(xs))
			xmlstream_expat_error(xs);
		buf += n;
		len -= n;
		if (xmlstream_live(xs) &&
		    xs->fed - xmlstream_hold_from(xs) > xs->opts.max_stanza)
			xmlstream_size_fail(xs);
	}
	xs->in_parse = false;
}

/* Drop what no event or raw copy can need any more. */
static void
xmlstream_trim(struct xmlstream *xs)
{
	uint64_t from = xmlstream_hold_from(xs);

	util_buf_consume(&xs->pend, (size_t)(from - xs->pend_base));
	xs->pend_base = from;
	/* Nothing held: most streams wait here for long. */
	if (xs->pend.len == 0)
		util_buf_free(&xs->pend);
}

/* A compacted stream gets a new parser, which first reads a copy of the
 * header with the same qualified name and namespace declarations (and no
 * events): it is then where the old one was. Expat counts the copy's
 * bytes, so BASE puts its offsets back on the peer's. */
static int
xmlstream_resume(struct xmlstream *xs)
{
	struct util_buf b = {0};
	enum XML_Status st;
	size_t i;

	xmlstream_setup(xs);
	util_buf_puts(&b, "<");
	if (xs->hdr_prefix != NULL)
		util_buf_printf(&b, "%s:", xs->hdr_prefix);
	util_buf_puts(&b, "stream");
	for (i = 0; i < xs->nhdrns; i++) {
		util_buf_puts(&b, " xmlns");
		if (xs->hdrns[i].prefix != NULL)
			util_buf_printf(&b, ":%s", xs->hdrns[i].prefix);
		util_buf_puts(&b, "='");
		stanza_escape(&b, xs->hdrns[i].uri, strlen(xs->hdrns[i].uri),
		              true);
		util_buf_puts(&b, "'");
	}
	util_buf_puts(&b, ">");
	xs->replaying = true;
	st = XML_Parse(xs->parser, b.data, (int)b.len, XML_FALSE);
	xs->replaying = false;
	xs->base = (int64_t)xs->fed - (int64_t)b.len;
	util_buf_free(&b);
	if (st == XML_STATUS_OK)
		return 0;
	/* Expat took this header once: not the peer's doing. */
	log_error(LOG_SUB_XML, 0, "xmlstream cannot resume a compacted "
	          "stream: %s", XML_ErrorString(XML_GetErrorCode(xs->parser)));
	xmlstream_fail(xs, S2SD_EXML_MALFORMED, "stream could not resume");
	return xs->err;
}

/* The body of xmlstream_feed, which runs with callbacks allowed. */
static int
xmlstream_feed_cb(struct xmlstream *xs, const char *buf, size_t len)
{
	uint64_t start = xs->fed, left;
	const char *nul;
	size_t n;

	if (xs->state == XMLSTREAM_CLOSED)
		return xmlstream_after_close(xs, buf, len);
	if (xs->parser == NULL && xmlstream_resume(xs) < 0)
		return xs->err;
	/* NUL is never XML. Expat also takes a NUL among the first bytes (or
	 * a UTF-16 BOM) as a switch to UTF-16 even when told UTF-8, which
	 * would make raw bytes differ from what they mean: expat never sees
	 * one. UTF-16 markup cannot get past it, as its '<' has a NUL. */
	nul = memchr(buf, '\0', len);
	n = nul != NULL ? (size_t)(nul - buf) : len;
	util_buf_append(&xs->pend, buf, n);
	xmlstream_parse(xs, buf, n);
	/* Bytes after the event during which a callback stopped or reset. */
	left = start + len - xs->ev_end;
	if (left > len)
		left = len;
	if (xs->state == XMLSTREAM_FAILED)
		return xs->err;
	if (xs->stopped || xs->reset_pending)
		return (int)left;
	if (xs->state == XMLSTREAM_CLOSED)
		return xmlstream_after_close(xs, buf + len - left, (size_t)left);
	xmlstream_trim(xs);
	if (nul == NULL)
		return 0;
	xmlstream_fail(xs, S2SD_EXML_MALFORMED, "NUL byte");
	return xs->err;
}

int
xmlstream_feed(struct xmlstream *xs, const void *buf, size_t len)
{
	int rc;

	if (xs->in_feed)
		fatalx("%s: called from a callback", __func__);
	if (len > INT_MAX)
		fatalx("%s: %zu bytes at once", __func__, len);
	if (xs->stopped)
		return -ECANCELED;
	if (xs->state == XMLSTREAM_FAILED)
		return xs->err;
	if (len == 0)
		return 0;
	xs->in_feed = true;
	rc = xmlstream_feed_cb(xs, buf, len);
	xs->in_feed = false;
	if (xs->reset_pending)
		xmlstream_reset(xs);
	return rc;
}

bool
xmlstream_compact(struct xmlstream *xs)
{
	if (xs->parser == NULL)
		return true;
	/* Between top-level elements, every byte fed reported by an event:
	 * expat holds nothing but the header's context, which the header
	 * and its declarations (kept here) give back. */
	if (xs->in_feed || xs->state != XMLSTREAM_OPEN || xs->depth != 1 ||
	    xs->bad_text || xs->pending_decls > 0 || xs->mark != xs->fed)
		return false;
	XML_ParserFree(xs->parser);
	xs->parser = NULL;
	free(xs->textlen);
	xs->textlen = NULL;
	util_buf_free(&xs->pend);
	return true;
}

bool
xmlstream_is_compact(const struct xmlstream *xs)
{
	return xs->parser == NULL && xs->pend.cap == 0;
}

const struct stanza *
xmlstream_header(const struct xmlstream *xs)
{
	return xs->hdr;
}

const char *
xmlstream_limit(const struct xmlstream *xs)
{
	return xs->state == XMLSTREAM_FAILED ? xs->limit : NULL;
}

const char *
xmlstream_content_ns(const struct xmlstream *xs)
{
	const char *uri = xmlstream_prefix_ns(xs, NULL);

	return uri != NULL ? uri : "";
}

const char *
xmlstream_prefix_ns(const struct xmlstream *xs, const char *prefix)
{
	size_t i;

	for (i = 0; i < xs->nhdrns; i++)
		if (prefix == NULL ? xs->hdrns[i].prefix == NULL
		                   : xs->hdrns[i].prefix != NULL &&
		                         strcmp(xs->hdrns[i].prefix, prefix) == 0)
			return xs->hdrns[i].uri;
	return NULL;
}

bool
xmlstream_nsdecl(const struct xmlstream *xs, size_t i, const char **prefix,
                 const char **uri)
{
	if (i >= xs->nhdrns)
		return false;
	*prefix = xs->hdrns[i].prefix;
	*uri = xs->hdrns[i].uri;
	return true;
}
