/* component.c - the XEP-0114 accept side as a pure state machine; see
 * component.h. */
#include "router/component.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "xmpp/stanza.h"

#define COMPONENT_NS_STREAM_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define COMPONENT_DEFAULT_HANDSHAKE_MS 30000
#define COMPONENT_DEFAULT_CLOSE_MS 5000
#define COMPONENT_SHA1_HEX 40

enum component_state {
	COMPONENT_ST_WAIT_HEADER,
	COMPONENT_ST_WAIT_HANDSHAKE,
	COMPONENT_ST_READY,
	COMPONENT_ST_CLOSING,   /* we sent </stream:stream>, wait for theirs */
	COMPONENT_ST_CLOSED,
	COMPONENT_ST_COUNT,
};

static const char *const component_state_names[COMPONENT_ST_COUNT] = {
    "wait-header", "wait-handshake", "ready", "closing", "closed"};

struct component {
	enum component_state state;
	struct component_opts opts;
	struct component_cbs cbs;
	void *arg;
	struct xmlstream *xml;
	char *id;
	char *name;             /* the header's 'to' */
	uint64_t now;
	uint64_t deadline;
	bool header_sent;
	bool close_sent;
};

#define B(s) (1u << (s))
/* Legal transitions: from -> set of targets (CLOSED always ok). */
static const unsigned component_next[COMPONENT_ST_COUNT] = {
    [COMPONENT_ST_WAIT_HEADER] = B(COMPONENT_ST_WAIT_HANDSHAKE),
    [COMPONENT_ST_WAIT_HANDSHAKE] = B(COMPONENT_ST_READY),
    [COMPONENT_ST_READY] = B(COMPONENT_ST_CLOSING),
    [COMPONENT_ST_CLOSING] = 0,
    [COMPONENT_ST_CLOSED] = 0,
};
#undef B

static void
component_enter_state(struct component *c, enum component_state to)
{
	enum component_state from = c->state;

	if (from == to)
		return;
	if (from == COMPONENT_ST_CLOSED ||
	    (to != COMPONENT_ST_CLOSED && !(component_next[from] & (1u << to))))
		fatalx("%s: illegal transition %s -> %s", __func__,
		       component_state_names[from], component_state_names[to]);
	log_trace(LOG_SUB_ROUTER, c->opts.connid, "component state %s -> %s",
	          component_state_names[from], component_state_names[to]);
	c->state = to;
	if (to == COMPONENT_ST_CLOSING)
		c->deadline = c->now + c->opts.close_timeout_ms;
	else if (to != COMPONENT_ST_WAIT_HANDSHAKE)
		c->deadline = UINT64_MAX;   /* the handshake time-out runs on */
}

static void
component_send_raw(struct component *c, const char *buf, size_t len)
{
	if (log_wants(LOG_LEVEL_TRACE, LOG_SUB_XML))
		log_trace(LOG_SUB_XML, c->opts.connid, "component send %.*s",
		          (int)len, buf);
	c->cbs.send(c->arg, buf, len);
}


static void
component_send_header(struct component *c)
{
	struct util_buf b = {0};

	util_buf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns:stream='"
	                  XMLSTREAM_NS_STREAMS "' xmlns='" COMPONENT_NS "'");
	if (c->name != NULL) {
		util_buf_puts(&b, " from='");
		stanza_escape(&b, c->name, strlen(c->name), true);
		util_buf_puts(&b, "'");
	}
	util_buf_puts(&b, " id='");
	stanza_escape(&b, c->id, strlen(c->id), true);
	util_buf_puts(&b, "'>");
	c->header_sent = true;
	component_send_raw(c, b.data, b.len);
	util_buf_free(&b);
}

static void
component_report_closed(struct component *c, int err, const char *why)
{
	if (c->state == COMPONENT_ST_CLOSED)
		return;
	xmlstream_stop(c->xml);
	component_enter_state(c, COMPONENT_ST_CLOSED);
	c->cbs.closed(c->arg, err, why != NULL ? why : err_str(err));
}

static void
component_send_close(struct component *c)
{
	if (c->close_sent)
		return;
	c->close_sent = true;
	component_send_raw(c, "</stream:stream>", 16);
}

/* <stream:error><CONDITION/><text>TEXT</text></stream:error> and the close
 * tag; the stream is over at once (RFC 6120 4.9.1.1). */
static void
component_fail(struct component *c, int err, const char *condition,
               const char *text)
{
	struct util_buf b = {0};
	struct stanza *el;

	if (c->state == COMPONENT_ST_CLOSED)
		return;
	log_info(LOG_SUB_ROUTER, c->opts.connid, "component stream-error "
	         "node=%s condition=%s reason=\"%s\"",
	         c->name != NULL ? c->name : "-", condition,
	         text != NULL ? text : err_str(err));
	if (!c->header_sent)
		component_send_header(c);
	if (!c->close_sent) {
		el = stanza_new(XMLSTREAM_NS_STREAMS, "error");
		stanza_add_child(el, COMPONENT_NS_STREAM_ERR, condition);
		if (text != NULL)
			stanza_add_text(stanza_add_child(el, COMPONENT_NS_STREAM_ERR,
			                                 "text"), text);
		/* Written by hand so that it uses the stream: prefix. */
		util_buf_puts(&b, "<stream:error>");
		for (struct stanza *ch = stanza_first_child(el); ch != NULL;
		     ch = stanza_next(ch))
			stanza_serialize(ch, COMPONENT_NS, &b);
		util_buf_puts(&b, "</stream:error>");
		component_send_raw(c, b.data, b.len);
		util_buf_free(&b);
		stanza_free(el);
		component_send_close(c);
	}
	component_report_closed(c, err, text);
}

/* Hex SHA-1 of the stream id and SECRET against what the peer sent (any
 * case, surrounding white space ignored), in constant time. */
static bool
component_handshake_ok(const struct component *c, const char *secret,
                       const char *got)
{
	size_t idlen = strlen(c->id), slen = strlen(secret), glen;
	char want[COMPONENT_SHA1_HEX + 1], have[COMPONENT_SHA1_HEX + 1];
	unsigned char digest[20];
	char *data = xmalloc(idlen + slen + 1);
	bool ok;

	memcpy(data, c->id, idlen);
	memcpy(data + idlen, secret, slen);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, data, idlen + slen, digest) < 0)
		fatalx("%s: SHA-1 unavailable", __func__);
	explicit_bzero(data, idlen + slen);
	free(data);
	util_hex(digest, sizeof(digest), want);
	while (isspace((unsigned char)*got))
		got++;
	glen = strlen(got);
	while (glen > 0 && isspace((unsigned char)got[glen - 1]))
		glen--;
	if (glen != COMPONENT_SHA1_HEX)
		return false;
	for (size_t i = 0; i < glen; i++)
		have[i] = (char)tolower((unsigned char)got[i]);
	ok = util_memeq_ct(want, have, COMPONENT_SHA1_HEX);
	explicit_bzero(want, sizeof(want));
	return ok;
}

static void
component_on_open(void *arg, const struct stanza *hdr)
{
	struct component *c = arg;
	const char *to = stanza_attr(hdr, "to");
	char text[128];

	if (strcmp(xmlstream_content_ns(c->xml), COMPONENT_NS) != 0) {
		component_fail(c, S2SD_EXML_NAMESPACE, "invalid-namespace",
		               "the content namespace must be "
		               COMPONENT_NS);
		return;
	}
	if (to == NULL || c->cbs.secret(c->arg, to) == NULL) {
		snprintf(text, sizeof(text), "no home node named '%.64s'",
		         to != NULL ? to : "");
		component_fail(c, S2SD_EAUTH, "host-unknown", text);
		return;
	}
	c->name = xstrdup(to);
	component_send_header(c);
	component_enter_state(c, COMPONENT_ST_WAIT_HANDSHAKE);
}

static void
component_on_handshake(struct component *c, const struct stanza *el)
{
	const char *secret = c->cbs.secret(c->arg, c->name);
	char *got = stanza_text(el), text[256] = "";
	bool ok;

	/* The node may have gone away in a reload since the header. */
	ok = secret != NULL && component_handshake_ok(c, secret, got);
	free(got);
	if (!ok) {
		component_fail(c, S2SD_EAUTH, "not-authorized",
		               "handshake does not match");
		return;
	}
	if (c->cbs.authenticated(c->arg, c->name, text, sizeof(text)) < 0) {
		component_fail(c, S2SD_EAUTH, "conflict",
		               text[0] != '\0' ? text : NULL);
		return;
	}
	component_enter_state(c, COMPONENT_ST_READY);
	component_send_raw(c, "<handshake/>", 12);
	log_info(LOG_SUB_ROUTER, c->opts.connid, "component ready node=%s",
	         c->name);
	c->cbs.ready(c->arg);
}

static bool
component_is(const struct stanza *el, const char *ns, const char *name)
{
	return strcmp(stanza_ns(el), ns) == 0 &&
	       strcmp(stanza_name(el), name) == 0;
}

static void
component_on_stream_error(struct component *c, const struct stanza *el)
{
	const char *cond = "undefined-condition";
	const struct stanza *ch;
	char why[256];

	for (ch = stanza_first_child(el); ch != NULL; ch = stanza_next(ch))
		if (strcmp(stanza_ns(ch), COMPONENT_NS_STREAM_ERR) == 0 &&
		    strcmp(stanza_name(ch), "text") != 0)
			cond = stanza_name(ch);
	snprintf(why, sizeof(why), "peer sent stream error %.64s", cond);
	component_send_close(c);
	component_report_closed(c, S2SD_ESTREAM, why);
}

static bool
component_is_stanza(const struct stanza *el)
{
	return component_is(el, COMPONENT_NS, "message") ||
	       component_is(el, COMPONENT_NS, "presence") ||
	       component_is(el, COMPONENT_NS, "iq");
}

static void
component_on_element(void *arg, struct stanza *el)
{
	struct component *c = arg;

	if (component_is(el, XMLSTREAM_NS_STREAMS, "error"))
		component_on_stream_error(c, el);
	else if (c->state == COMPONENT_ST_WAIT_HANDSHAKE &&
	         component_is(el, COMPONENT_NS, "handshake"))
		component_on_handshake(c, el);
	else if (c->state == COMPONENT_ST_WAIT_HANDSHAKE)
		component_fail(c, S2SD_EAUTH, "not-authorized",
		               "a handshake must come first");
	else if (c->state == COMPONENT_ST_READY && component_is_stanza(el)) {
		c->cbs.stanza(c->arg, el);
		return;
	} else if (c->state == COMPONENT_ST_READY)
		component_fail(c, S2SD_EPROTO, "unsupported-stanza-type",
		               "only message, presence and iq after the "
		               "handshake");
	else
		log_debug(LOG_SUB_ROUTER, c->opts.connid, "component ignore "
		          "element=%s state=%s", stanza_name(el),
		          component_state_names[c->state]);
	stanza_free(el);
}

static void
component_on_close(void *arg)
{
	struct component *c = arg;
	bool ok = c->state == COMPONENT_ST_READY ||
	          c->state == COMPONENT_ST_CLOSING;

	component_send_close(c);
	component_report_closed(c, ok ? 0 : S2SD_EPROTO,
	                        ok ? "closed by peer"
	                           : "peer closed the stream before the "
	                             "handshake");
}

static void
component_on_xml_error(void *arg, int err, const char *detail)
{
	struct component *c = arg;
	const char *limit = xmlstream_limit(c->xml);

	if (err == S2SD_EXML_LIMIT && limit != NULL)
		log_warnx(LOG_SUB_ROUTER, c->opts.connid, "limit hit limit=%s "
		          "node=%s detail=\"%s\"", limit,
		          c->name != NULL ? c->name : "-", detail);
	component_fail(arg, err, err_condition(err), detail);
}

struct component *
component_new(const struct component_opts *opts,
              const struct component_cbs *cbs, void *arg, uint64_t now)
{
	static const struct xmlstream_cbs xcbs = {
	    component_on_open, component_on_element, component_on_close,
	    component_on_xml_error};
	struct component *c = xcalloc(1, sizeof(*c));

	c->opts = *opts;
	c->opts.stream_id = NULL;
	if (c->opts.handshake_timeout_ms == 0)
		c->opts.handshake_timeout_ms = COMPONENT_DEFAULT_HANDSHAKE_MS;
	if (c->opts.close_timeout_ms == 0)
		c->opts.close_timeout_ms = COMPONENT_DEFAULT_CLOSE_MS;
	c->cbs = *cbs;
	c->arg = arg;
	c->id = xstrdup(opts->stream_id);
	c->xml = xmlstream_new(&opts->xml, &xcbs, c);
	c->now = now;
	c->deadline = now + c->opts.handshake_timeout_ms;
	return c;
}

void
component_free(struct component *c)
{
	if (c == NULL)
		return;
	xmlstream_free(c->xml);
	free(c->id);
	free(c->name);
	free(c);
}

int
component_input(struct component *c, const void *buf, size_t len,
                uint64_t now)
{
	c->now = now;
	if (c->state == COMPONENT_ST_CLOSED)
		return S2SD_ESTREAM;
	/* The handshake digest is derived from the secret: never logged. */
	if (log_wants(LOG_LEVEL_TRACE, LOG_SUB_XML) &&
	    c->state == COMPONENT_ST_WAIT_HANDSHAKE)
		log_trace(LOG_SUB_XML, c->opts.connid, "component recv [%zu bytes "
		          "during the handshake: redacted]", len);
	else if (log_wants(LOG_LEVEL_TRACE, LOG_SUB_XML))
		log_trace(LOG_SUB_XML, c->opts.connid, "component recv %.*s",
		          (int)len, (const char *)buf);
	/* No callback resets the parser, so it never stops early with bytes
	 * left; a negative result has already closed the stream. */
	xmlstream_feed(c->xml, buf, len);
	return c->state == COMPONENT_ST_CLOSED ? S2SD_ESTREAM : 0;
}

void
component_eof(struct component *c, int err)
{
	component_report_closed(c, err, err == 0 ? "connection closed by peer"
	                                         : err_str(err));
}

/* One serialization buffer for every component's stanzas: the send
 * callback copies the bytes, so it is free again when the send returns (a
 * nested send, should a callback ever make one, uses its own). */
#define COMPONENT_SCRATCH_KEEP (64 * 1024)
static struct util_buf component_scratch;
static bool component_scratch_busy;

int
component_send(struct component *c, const struct stanza *st)
{
	struct util_buf own = {0}, *b = &own;

	if (c->state != COMPONENT_ST_READY)
		return -ENOTCONN;
	if (!component_scratch_busy) {
		component_scratch_busy = true;
		b = &component_scratch;
		util_buf_reset(b);
	}
	stanza_write(st, COMPONENT_NS, b);
	component_send_raw(c, b->data, b->len);
	if (b == &component_scratch) {
		if (b->cap > COMPONENT_SCRATCH_KEEP)
			util_buf_free(b);
		component_scratch_busy = false;
	}
	util_buf_free(&own);
	return 0;
}

void
component_close(struct component *c, int err, const char *condition,
                const char *text, uint64_t now)
{
	c->now = now;
	if (c->state == COMPONENT_ST_CLOSED || c->state == COMPONENT_ST_CLOSING)
		return;
	if (condition != NULL || c->state != COMPONENT_ST_READY) {
		component_fail(c, err, condition != NULL ? condition
		                                        : "system-shutdown",
		               text);
		return;
	}
	component_send_close(c);
	component_enter_state(c, COMPONENT_ST_CLOSING);
}

uint64_t
component_deadline(const struct component *c)
{
	return c->state == COMPONENT_ST_CLOSED ? UINT64_MAX : c->deadline;
}

void
component_tick(struct component *c, uint64_t now)
{
	c->now = now;
	if (c->state == COMPONENT_ST_CLOSED || now < c->deadline)
		return;
	if (c->state == COMPONENT_ST_CLOSING)
		component_report_closed(c, 0, "peer did not close in time");
	else {
		metrics_inc(METRICS_LIMIT_HITS, "negotiation_timeout");
		component_fail(c, S2SD_ETIMEOUT, "connection-timeout",
		               "no handshake in time");
	}
}

const char *
component_name(const struct component *c)
{
	return c->name;
}

const char *
component_id(const struct component *c)
{
	return c->id;
}

bool
component_is_ready(const struct component *c)
{
	return c->state == COMPONENT_ST_READY;
}

bool
component_is_closed(const struct component *c)
{
	return c->state == COMPONENT_ST_CLOSED;
}

const char *
component_state_name(const struct component *c)
{
	return component_state_names[c->state];
}
