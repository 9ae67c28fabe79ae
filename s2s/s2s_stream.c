/* s2s_stream.c - the part of an S2S stream common to both roles: parser
 * events, output, stream errors, closing, time-outs, pairs; see
 * s2s_stream.h. The role-specific negotiation is in s2s_stream_in.c and
 * s2s_stream_out.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "s2s/s2s_stream_int.h"
#include "xmpp/jid.h"
#include "xmpp/stanza.h"

#define S2S_DEFAULT_STEP_MS 30000

static const char *const s2s_state_names[S2S_ST_COUNT] = {
    "init",         "wait-header", "wait-features", "wait-proceed",
    "tls",          "wait-sasl",   "wait-dialback", "negotiating",
    "ready",        "closing",     "closed",
};

#define B(s) (1u << (s))
/* Legal transitions: from -> set of targets (CLOSING/CLOSED always ok). */
static const unsigned s2s_next[S2S_ST_COUNT] = {
    [S2S_ST_INIT] = B(S2S_ST_WAIT_HEADER),
    [S2S_ST_WAIT_HEADER] = B(S2S_ST_WAIT_FEATURES) | B(S2S_ST_NEGOTIATING) |
                           B(S2S_ST_WAIT_DIALBACK) | B(S2S_ST_READY),
    [S2S_ST_WAIT_FEATURES] = B(S2S_ST_WAIT_PROCEED) | B(S2S_ST_WAIT_SASL) |
                             B(S2S_ST_WAIT_DIALBACK) | B(S2S_ST_READY),
    [S2S_ST_WAIT_PROCEED] = B(S2S_ST_TLS),
    [S2S_ST_TLS] = B(S2S_ST_WAIT_HEADER),
    [S2S_ST_WAIT_SASL] = B(S2S_ST_WAIT_HEADER) | B(S2S_ST_WAIT_DIALBACK),
    [S2S_ST_WAIT_DIALBACK] = B(S2S_ST_READY),
    [S2S_ST_NEGOTIATING] = B(S2S_ST_TLS) | B(S2S_ST_WAIT_HEADER) |
                           B(S2S_ST_READY),
    [S2S_ST_READY] = 0,
    [S2S_ST_CLOSING] = 0,
    [S2S_ST_CLOSED] = 0,
};
#undef B

void
s2s_stream__enter(struct s2s_stream *st, enum s2s_state to)
{
	enum s2s_state from = st->state;
	bool closing = to == S2S_ST_CLOSING || to == S2S_ST_CLOSED;

	if (from == to)
		return;
	if (from == S2S_ST_CLOSED || (!closing && !(s2s_next[from] & (1u << to))))
		fatalx("%s: illegal transition %s -> %s", __func__,
		       s2s_state_names[from], s2s_state_names[to]);
	log_trace(LOG_SUB_S2S, st->opts.connid, "%s state %s -> %s",
	          st->opts.role == S2S_ROLE_IN ? "in" : "out",
	          s2s_state_names[from], s2s_state_names[to]);
	st->state = to;
	/* Every negotiation step gets its own time-out; READY has none here
	 * (idle time is the connection's business). */
	if (to == S2S_ST_READY || to == S2S_ST_CLOSED)
		st->deadline = UINT64_MAX;
	else
		st->deadline = st->now + st->opts.step_timeout_ms;
}

void
s2s_stream__setstr(char **dst, const char *src)
{
	free(*dst);
	*dst = src != NULL ? xstrdup(src) : NULL;
}

void
s2s_stream__send(struct s2s_stream *st, const char *buf, size_t len)
{
	if (log_wants(LOG_LEVEL_TRACE, LOG_SUB_XML))
		log_trace(LOG_SUB_XML, st->opts.connid, "send %.*s",
		          (int)len, buf);
	st->cbs.send(st->arg, buf, len);
}

void
s2s_stream__send_elem(struct s2s_stream *st, const struct stanza *el)
{
	struct util_buf b = {0};

	stanza_serialize(el, S2S_NS_SERVER, &b);
	s2s_stream__send(st, b.data, b.len);
	util_buf_free(&b);
}


void
s2s_stream__send_header(struct s2s_stream *st, const char *from,
                        const char *to)
{
	struct util_buf b = {0};

	util_buf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns='"
	                  S2S_NS_SERVER "' xmlns:stream='"
	                  XMLSTREAM_NS_STREAMS "' xmlns:db='"
	                  S2S_NS_DIALBACK "'");
	if (from != NULL) {
		util_buf_puts(&b, " from='");
		stanza_escape(&b, from, strlen(from), true);
		util_buf_puts(&b, "'");
	}
	if (to != NULL) {
		util_buf_puts(&b, " to='");
		stanza_escape(&b, to, strlen(to), true);
		util_buf_puts(&b, "'");
	}
	if (st->opts.role == S2S_ROLE_IN && st->id != NULL) {
		util_buf_puts(&b, " id='");
		stanza_escape(&b, st->id, strlen(st->id), true);
		util_buf_puts(&b, "'");
	}
	util_buf_puts(&b, " version='1.0'>");
	st->header_sent = true;
	s2s_stream__send(st, b.data, b.len);
	util_buf_free(&b);
}

static void
s2s_put_attr(struct util_buf *b, const char *name, const char *value)
{
	if (value == NULL)
		return;
	util_buf_printf(b, " %s='", name);
	stanza_escape(b, value, strlen(value), true);
	util_buf_puts(b, "'");
}

void
s2s_stream__send_db(struct s2s_stream *st, const char *name, const char *from,
                    const char *to, const char *id, const char *type,
                    const char *text, const char *cond, const char *cond_text)
{
	struct util_buf b = {0};

	util_buf_printf(&b, "<db:%s", name);
	s2s_put_attr(&b, "from", from);
	s2s_put_attr(&b, "to", to);
	s2s_put_attr(&b, "id", id);
	s2s_put_attr(&b, "type", type);
	if (text == NULL && cond == NULL) {
		util_buf_puts(&b, "/>");
	} else {
		util_buf_puts(&b, ">");
		if (text != NULL)
			stanza_escape(&b, text, strlen(text), false);
		if (cond != NULL) {
			util_buf_printf(&b, "<error type='cancel'><%s xmlns='%s'/>",
			                cond, STANZA_NS_STANZAS);
			if (cond_text != NULL) {
				util_buf_printf(&b, "<text xmlns='%s'>",
				                STANZA_NS_STANZAS);
				stanza_escape(&b, cond_text, strlen(cond_text), false);
				util_buf_puts(&b, "</text>");
			}
			util_buf_puts(&b, "</error>");
		}
		util_buf_printf(&b, "</db:%s>", name);
	}
	/* The text is a dialback key: the trace shows everything else. */
	if (log_wants(LOG_LEVEL_TRACE, LOG_SUB_XML))
		log_trace(LOG_SUB_XML, st->opts.connid, "send <db:%s from='%s' "
		          "to='%s' id='%s' type='%s'>%s%s</db:%s>", name,
		          from ? from : "", to ? to : "", id ? id : "",
		          type ? type : "", text != NULL ? "[key redacted]" : "",
		          cond != NULL ? cond : "", name);
	st->cbs.send(st->arg, b.data, b.len);
	util_buf_free(&b);
}

void
s2s_stream__report_closed(struct s2s_stream *st, int err, const char *why)
{
	if (st->closed_reported)
		return;
	st->closed_reported = true;
	xmlstream_stop(st->xml);
	s2s_stream__enter(st, S2S_ST_CLOSED);
	if (st->opts.role == S2S_ROLE_OUT) {
		s2s_stream__out_fail_verifies(st, err < 0 ? err : S2SD_ESTREAM);
		s2s_stream__out_fail_pairs(st, err < 0 ? err : S2SD_ESTREAM);
	}
	st->cbs.closed(st->arg, err, why != NULL ? why : err_str(err));
}

/* The RFC 6120 4.9.3 stream error condition for ERR. err_condition() gives
 * stanza conditions for bounces; streams have their own names. */
static const char *
s2s_stream_condition(int err)
{
	switch (err) {
	case S2SD_ETIMEOUT: return "connection-timeout";
	case S2SD_ESHUTDOWN: return "system-shutdown";
	case S2SD_EPOLICY: return "policy-violation";
	case S2SD_EAUTH: return "not-authorized";
	case S2SD_ELIMIT:
	case S2SD_EQUEUE_FULL: return "resource-constraint";
	case S2SD_EXML_MALFORMED:
	case S2SD_EXML_RESTRICTED:
	case S2SD_EXML_LIMIT:
	case S2SD_EXML_NAMESPACE:
	case S2SD_EXML_CLOSED:
	case S2SD_EXML_ENCODING: return err_condition(err);
	default: return "undefined-condition";
	}
}

void
s2s_stream__fail(struct s2s_stream *st, int err, const char *condname,
                 const char *text)
{
	s2s_stream__fail_app(st, err, condname, text, NULL);
}

/* <stream:error><COND/><text>TEXT</text>APP</stream:error></stream:stream> */
void
s2s_stream__fail_app(struct s2s_stream *st, int err, const char *condname,
                     const char *text, const char *app)
{
	struct stanza *cond, *txt;
	struct util_buf b = {0};
	const char *why = text != NULL ? text : err_str(err);

	if (condname == NULL)
		condname = s2s_stream_condition(err);

	if (st->closed_reported)
		return;
	log_debug(LOG_SUB_S2S, st->opts.connid, "%s stream-error condition=%s "
	          "reason=\"%s\"", st->opts.role == S2S_ROLE_IN ? "in" : "out",
	          condname, why);
	/* RFC 6120 4.9.1.1: even an error answers with a header first. */
	if (!st->header_sent && st->opts.role == S2S_ROLE_IN)
		s2s_stream__send_header(st, st->local, st->remote);
	if (!st->close_sent) {
		cond = stanza_new(S2S_NS_STREAM_ERR, condname);
		txt = stanza_new(S2S_NS_STREAM_ERR, "text");
		stanza_add_text(txt, why);
		util_buf_puts(&b, "<stream:error>");
		stanza_serialize(cond, S2S_NS_SERVER, &b);
		stanza_serialize(txt, S2S_NS_SERVER, &b);
		if (app != NULL)
			util_buf_puts(&b, app);
		util_buf_puts(&b, "</stream:error></stream:stream>");
		st->close_sent = true;
		s2s_stream__send(st, b.data, b.len);
		util_buf_free(&b);
		stanza_free(cond);
		stanza_free(txt);
	}
	s2s_stream__report_closed(st, err, why);
}

void
s2s_stream__restart(struct s2s_stream *st)
{
	xmlstream_reset(st->xml);
	st->header_sent = false;
	s2s_stream__enter(st, S2S_ST_WAIT_HEADER);
}

bool
s2s_stream__is(const struct stanza *el, const char *ns, const char *name)
{
	return strcmp(stanza_ns(el), ns) == 0 &&
	       strcmp(stanza_name(el), name) == 0;
}

bool
s2s_stream__attr_domain(const struct stanza *el, const char *name,
                        char *out, size_t outlen)
{
	const char *v = stanza_attr(el, name);

	return v != NULL && jid_domain_prep(v, out, outlen, NULL, 0) >= 0;
}

struct s2s_pair *
s2s_stream__pair(struct s2s_stream *st, const char *local, const char *remote)
{
	size_t i;

	for (i = 0; i < st->npairs; i++)
		if (strcmp(st->pairs[i].local, local) == 0 &&
		    strcmp(st->pairs[i].remote, remote) == 0)
			return &st->pairs[i];
	return NULL;
}

struct s2s_pair *
s2s_stream__pair_add(struct s2s_stream *st, const char *local,
                     const char *remote, enum s2s_auth how,
                     enum s2s_pair_state state)
{
	struct s2s_pair *p = s2s_stream__pair(st, local, remote);

	if (p != NULL)
		return p;
	if (st->npairs == S2S_MAX_PAIRS)
		return NULL;
	if (st->npairs == st->cappairs) {
		st->cappairs = st->cappairs == 0 ? 1 : st->cappairs * 2;
		st->pairs = xreallocarray(st->pairs, st->cappairs,
		                          sizeof(*st->pairs));
	}
	p = &st->pairs[st->npairs++];
	p->local = xstrdup(local);
	p->remote = xstrdup(remote);
	p->how = how;
	p->state = state;
	return p;
}

/* A pair becomes usable: the first one makes the stream ready. */
void
s2s_stream__pair_valid(struct s2s_stream *st, struct s2s_pair *p)
{
	p->state = S2S_PAIR_VALID;
	if (st->auth == S2S_AUTH_NONE)
		st->auth = p->how;
	if (st->state != S2S_ST_READY)
		s2s_stream__enter(st, S2S_ST_READY);
	log_info(LOG_SUB_S2S, st->opts.connid, "%s authenticated local=%s "
	         "remote=%s auth=%s tls=%s",
	         st->opts.role == S2S_ROLE_IN ? "in" : "out", p->local,
	         p->remote, s2s_auth_name(p->how), st->tls_on ? "yes" : "no");
	st->cbs.authenticated(st->arg, p->local, p->remote, p->how);
	/* After the callback: it may ask to resume a session instead. */
	s2s_stream__sm_after_auth(st);
}

/* Dialback is allowed where a secret is set and, without TLS, only when
 * the security mode tolerates clear text. */
bool
s2s_stream__dialback_usable(const struct s2s_stream *st)
{
	return st->opts.dialback &&
	       (st->tls_on || st->opts.security != S2S_SEC_REQUIRED);
}

static void
s2s_on_open(void *arg, const struct stanza *hdr)
{
	struct s2s_stream *st = arg;

	st->peer_opened = true;
	if (log_wants(LOG_LEVEL_TRACE, LOG_SUB_XML))
		log_trace(LOG_SUB_XML, st->opts.connid, "recv <stream:stream "
		          "from='%s' to='%s' id='%s' version='%s'>",
		          stanza_attr(hdr, "from") ?: "", stanza_attr(hdr, "to") ?: "",
		          stanza_attr(hdr, "id") ?: "",
		          stanza_attr(hdr, "version") ?: "");
	if (strcmp(xmlstream_content_ns(st->xml), S2S_NS_SERVER) != 0) {
		s2s_stream__fail(st, S2SD_EXML_NAMESPACE, NULL,
		                 "the content namespace must be jabber:server");
		return;
	}
	st->peer_v1 = stanza_attr(hdr, "version") != NULL &&
	              strtol(stanza_attr(hdr, "version"), NULL, 10) >= 1;
	if (st->opts.role == S2S_ROLE_IN)
		s2s_stream__in_header(st, hdr);
	else
		s2s_stream__out_header(st, hdr);
}

static void
s2s_on_stream_error(struct s2s_stream *st, const struct stanza *el)
{
	const struct stanza *c;
	char *text = NULL, why[512];
	const char *cond = "undefined-condition";

	for (c = stanza_first_child(el); c != NULL; c = stanza_next(c)) {
		if (strcmp(stanza_ns(c), S2S_NS_STREAM_ERR) != 0)
			continue;
		if (strcmp(stanza_name(c), "text") == 0) {
			free(text);
			text = stanza_text(c);
		} else {
			cond = stanza_name(c);
		}
	}
	snprintf(why, sizeof(why), "peer sent stream error %s%s%s", cond,
	         text != NULL ? ": " : "", text != NULL ? text : "");
	free(text);
	if (!st->close_sent) {
		st->close_sent = true;
		s2s_stream__send(st, "</stream:stream>", 16);
	}
	s2s_stream__report_closed(st, S2SD_ESTREAM, why);
}

/* One element as the peer sent it, dialback keys redacted. */
static void
s2s_trace_recv(const struct s2s_stream *st, const struct stanza *el)
{
	struct util_buf b = {0};

	if (strcmp(stanza_ns(el), S2S_NS_DIALBACK) == 0) {
		log_trace(LOG_SUB_XML, st->opts.connid, "recv <db:%s from='%s' "
		          "to='%s' id='%s' type='%s'>[redacted]</db:%s>",
		          stanza_name(el), stanza_attr(el, "from") ?: "",
		          stanza_attr(el, "to") ?: "", stanza_attr(el, "id") ?: "",
		          stanza_attr(el, "type") ?: "", stanza_name(el));
		return;
	}
	stanza_serialize(el, S2S_NS_SERVER, &b);
	log_trace(LOG_SUB_XML, st->opts.connid, "recv %.*s", (int)b.len,
	          b.data != NULL ? b.data : "");
	util_buf_free(&b);
}

static void
s2s_on_stanza(void *arg, struct stanza *el)
{
	struct s2s_stream *st = arg;

	if (log_wants(LOG_LEVEL_TRACE, LOG_SUB_XML))
		s2s_trace_recv(st, el);

	if (s2s_stream__is(el, XMLSTREAM_NS_STREAMS, "error")) {
		s2s_on_stream_error(st, el);
		stanza_free(el);
	} else if (strcmp(stanza_ns(el), S2S_NS_SM) == 0) {
		/* XEP-0198 elements, also while closing (the final <a/>). */
		s2s_stream__sm_element(st, el);
		stanza_free(el);
	} else if (st->state == S2S_ST_CLOSING &&
	           ((st->opts.role != S2S_ROLE_IN && !st->bidi) ||
	            st->auth == S2S_AUTH_NONE)) {
		stanza_free(el);    /* nothing to negotiate while leaving */
	} else if (st->opts.role == S2S_ROLE_IN) {
		/* Also while closing: what the peer sent before it saw our
		 * closing tag is delivered, not lost (RFC 6120 4.4 lets us
		 * process data until its own closing tag). */
		s2s_stream__in_element(st, el);
	} else {
		s2s_stream__out_element(st, el);
	}
}

static void
s2s_on_close(void *arg)
{
	struct s2s_stream *st = arg;
	bool was_ready = st->state == S2S_ST_READY ||
	                 st->state == S2S_ST_CLOSING;

	s2s_stream__sm_final_ack(st);
	if (!st->close_sent) {
		st->close_sent = true;
		s2s_stream__send(st, "</stream:stream>", 16);
	}
	s2s_stream__report_closed(st, was_ready ? 0 : S2SD_EPROTO,
	                          was_ready ? "closed by peer"
	                                    : "peer closed the stream during "
	                                      "negotiation");
}

static void
s2s_on_xml_error(void *arg, int err, const char *detail)
{
	struct s2s_stream *st = arg;
	const char *limit = xmlstream_limit(st->xml);
	char text[256];

	if (err != S2SD_EXML_LIMIT || limit == NULL) {
		s2s_stream__fail(st, err, NULL, detail);
		return;
	}
	/* Counted in s2sd_limit_hits_total by the parser itself. */
	log_warnx(LOG_SUB_XML, st->opts.connid, "limit hit limit=%s dir=%s "
	          "remote=%s state=%s detail=\"%s\"", limit,
	          st->opts.role == S2S_ROLE_IN ? "in" : "out",
	          st->remote != NULL ? st->remote : "-",
	          s2s_state_names[st->state], detail);
	/* Name the advertised limit: a peer that reads XEP-0478 features
	 * learns why, and what to bounce next time. */
	snprintf(text, sizeof(text), "%s (%s; max-bytes %zu advertised per "
	         "XEP-0478)", detail, limit, st->opts.xml.max_stanza != 0
	                                        ? st->opts.xml.max_stanza
	                                        : S2S_DEFAULT_MAX_STANZA);
	s2s_stream__fail(st, err, NULL, text);
}

struct s2s_stream *
s2s_stream_new(const struct s2s_stream_opts *opts,
               const struct s2s_stream_cbs *cbs, void *arg, uint64_t now)
{
	static const struct xmlstream_cbs xcbs = {
	    s2s_on_open, s2s_on_stanza, s2s_on_close, s2s_on_xml_error};
	struct s2s_stream *st = xcalloc(1, sizeof(*st));

	st->opts = *opts;
	st->opts.local = st->opts.remote = NULL;
	if (st->opts.step_timeout_ms == 0)
		st->opts.step_timeout_ms = S2S_DEFAULT_STEP_MS;
	st->cbs = *cbs;
	st->arg = arg;
	st->now = now;
	st->deadline = UINT64_MAX;
	st->xml = xmlstream_new(&opts->xml, &xcbs, st);
	st->tls_on = opts->direct_tls;
	s2s_stream__setstr(&st->local, opts->local);
	s2s_stream__setstr(&st->remote, opts->remote);
	return st;
}

void
s2s_stream_free(struct s2s_stream *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->npairs; i++) {
		free(st->pairs[i].local);
		free(st->pairs[i].remote);
	}
	free(st->pairs);
	while (st->verifies != NULL) {
		struct s2s_verify_req *r = st->verifies;
		st->verifies = r->next;
		free(r->local);
		free(r->remote);
		free(r->id);
		free(r->key);
		free(r);
	}
	s2s_stream__sm_free(st);
	xmlstream_free(st->xml);
	free(st->local);
	free(st->remote);
	free(st->id);
	free(st);
}

void
s2s_stream_start(struct s2s_stream *st, uint64_t now)
{
	st->now = now;
	s2s_stream__enter(st, S2S_ST_WAIT_HEADER);
	if (st->opts.role == S2S_ROLE_OUT)
		s2s_stream__out_start(st);
}

int
s2s_stream_input(struct s2s_stream *st, const void *buf, size_t len,
                 uint64_t now)
{
	const char *p = buf;
	int rc;

	st->now = now;
	/* Plaintext while the TLS handshake is pending: the peer did not wait
	 * for <proceed/> (or sent data after <starttls/>), whatever read the
	 * bytes came in. The owner routes bytes to TLS from now on. */
	if (st->state == S2S_ST_TLS && len > 0) {
		s2s_stream__fail(st, S2SD_EPROTO, "policy-violation",
		                 "data after STARTTLS before the TLS handshake");
		return S2SD_ESTREAM;
	}
	st->last_input = now;
	st->compact_due = true;
	while (len > 0 && !st->closed_reported) {
		rc = xmlstream_feed(st->xml, p, len);
		if (rc <= 0)
			break;
		/* The parser stopped early: a stream restart with bytes left.
		 * After <starttls/>/<proceed/> they came in clear ahead of the
		 * handshake (the CVE-2011-0411 class): refuse them. After a
		 * SASL restart they belong to the new stream. */
		if (st->state == S2S_ST_TLS) {
			s2s_stream__fail(st, S2SD_EPROTO, "policy-violation",
			                 "data after STARTTLS before the TLS "
			                 "handshake");
			break;
		}
		p += len - (size_t)rc;
		len = (size_t)rc;
	}
	return st->closed_reported ? S2SD_ESTREAM : 0;
}

void
s2s_stream_tls_done(struct s2s_stream *st, int status, uint64_t now)
{
	st->now = now;
	if (st->state != S2S_ST_TLS)
		return;
	if (status < 0) {
		s2s_stream__report_closed(st, status, "TLS handshake failed");
		return;
	}
	st->tls_on = true;
	if (st->opts.role == S2S_ROLE_IN)
		s2s_stream__in_tls_done(st);
	else
		s2s_stream__out_tls_done(st);
}

void
s2s_stream_dialback_verified(struct s2s_stream *st, const char *local,
                             const char *remote, bool valid, int err,
                             uint64_t now)
{
	st->now = now;
	if (!st->closed_reported && st->opts.role == S2S_ROLE_IN)
		s2s_stream__in_verified(st, local, remote, valid, err);
}

void
s2s_stream_set_time(struct s2s_stream *st, uint64_t now)
{
	st->now = now;
}

/* One serialization buffer for every stream's stanzas: its bytes are
 * copied by the send callback, so it is free again when the send returns.
 * A very large stanza's memory is not kept. */
#define S2S_STREAM_SCRATCH_KEEP (64 * 1024)
static struct util_buf s2s_stream_scratch;
static bool s2s_stream_scratch_busy;

static int
s2s_stream_send_bytes(struct s2s_stream *st, const struct stanza *s,
                      const char *from, const char *to, struct util_buf *b)
{
	stanza_write(s, S2S_NS_SERVER, b);
	if (st->peer_max_bytes != 0 && b->len > st->peer_max_bytes)
		return -EMSGSIZE;
	s2s_stream__send(st, b->data, b->len);
	s2s_stream__sm_sent(st, b->data, b->len, from, to);
	return 0;
}

int
s2s_stream_send_stanza(struct s2s_stream *st, const struct stanza *s)
{
	struct util_buf own = {0}, *b = &own;
	struct s2s_pair *p;
	struct jid *jf = NULL, *jt = NULL;
	const char *f = stanza_attr(s, "from"), *t = stanza_attr(s, "to");
	int rc = -ENOTCONN;

	/* While a session is being resumed nothing may be sent: it would be
	 * counted in neither session. IN sends only on a bidi stream. */
	if (st->state != S2S_ST_READY || st->sm_state == S2S_SMS_RESUMING ||
	    (st->opts.role == S2S_ROLE_IN && !st->bidi) ||
	    f == NULL || t == NULL ||
	    jid_parse(f, strlen(f), &jf, NULL, 0) < 0 ||
	    jid_parse(t, strlen(t), &jt, NULL, 0) < 0)
		goto out;
	p = s2s_stream__pair(st, jid_domain(jf), jid_domain(jt));
	if (p == NULL || p->state != S2S_PAIR_VALID)
		goto out;
	if (!s2s_stream_scratch_busy) {
		s2s_stream_scratch_busy = true;
		b = &s2s_stream_scratch;
		util_buf_reset(b);
	}
	rc = s2s_stream_send_bytes(st, s, jid_domain(jf), jid_domain(jt), b);
	if (b == &s2s_stream_scratch) {
		if (b->cap > S2S_STREAM_SCRATCH_KEEP)
			util_buf_free(b);
		s2s_stream_scratch_busy = false;
	}
out:
	util_buf_free(&own);
	jid_free(jf);
	jid_free(jt);
	return rc;
}

size_t
s2s_stream_peer_max_bytes(const struct s2s_stream *st)
{
	return st->peer_max_bytes;
}

void
s2s_stream_keepalive(struct s2s_stream *st)
{
	if (st->state == S2S_ST_READY)
		s2s_stream__send(st, " ", 1);
}

void
s2s_stream_close(struct s2s_stream *st, int err, const char *text,
                 uint64_t now)
{
	st->now = now;
	if (st->closed_reported || st->state == S2S_ST_CLOSING)
		return;
	if (err != 0) {
		s2s_stream__fail(st, err, NULL, text);
		return;
	}
	if (!st->header_sent && st->opts.role == S2S_ROLE_IN)
		s2s_stream__send_header(st, st->local, st->remote);
	s2s_stream__sm_final_ack(st);
	st->close_sent = true;
	s2s_stream__send(st, "</stream:stream>", 16);
	s2s_stream__enter(st, S2S_ST_CLOSING);
}

uint64_t
s2s_stream_deadline(const struct s2s_stream *st)
{
	uint64_t sm, next;

	if (st->closed_reported)
		return UINT64_MAX;
	sm = s2s_stream__sm_deadline(st);
	next = sm < st->deadline ? sm : st->deadline;
	if (st->compact_due && st->state == S2S_ST_READY &&
	    st->last_input + S2S_STREAM_COMPACT_MS < next)
		next = st->last_input + S2S_STREAM_COMPACT_MS;
	return next;
}

/* An idle stream's parser and buffers go (some 10 KiB each, and most
 * streams are idle most of the time); the next input rebuilds them. A
 * stream caught inside a stanza tries again after its next input. */
static void
s2s_stream_compact(struct s2s_stream *st, uint64_t now)
{
	if (!st->compact_due || st->state != S2S_ST_READY ||
	    now < st->last_input + S2S_STREAM_COMPACT_MS)
		return;
	st->compact_due = false;
	if (xmlstream_compact(st->xml))
		log_trace(LOG_SUB_XML, st->opts.connid, "parser compacted");
}

bool
s2s_stream_is_compact(const struct s2s_stream *st)
{
	return xmlstream_is_compact(st->xml);
}

void
s2s_stream_tick(struct s2s_stream *st, uint64_t now)
{
	st->now = now;
	if (!st->closed_reported)
		s2s_stream__sm_tick(st);
	if (!st->closed_reported)
		s2s_stream_compact(st, now);
	if (st->closed_reported || now < st->deadline)
		return;
	if (st->state == S2S_ST_CLOSING) {
		s2s_stream__report_closed(st, 0, "peer did not close in time");
		return;
	}
	metrics_inc(METRICS_LIMIT_HITS, "negotiation_timeout");
	log_warnx(LOG_SUB_S2S, st->opts.connid, "limit hit "
	          "limit=negotiation_timeout dir=%s remote=%s state=%s "
	          "step_ms=%llu", st->opts.role == S2S_ROLE_IN ? "in" : "out",
	          st->remote != NULL ? st->remote : "-",
	          s2s_state_names[st->state],
	          (unsigned long long)st->opts.step_timeout_ms);
	s2s_stream__fail(st, S2SD_ETIMEOUT, NULL, "negotiation timed out");
}

bool
s2s_stream_is_ready(const struct s2s_stream *st)
{
	return st->state == S2S_ST_READY;
}

bool
s2s_stream_is_closed(const struct s2s_stream *st)
{
	return st->closed_reported;
}

bool
s2s_stream_peer_opened(const struct s2s_stream *st)
{
	return st->peer_opened;
}

bool
s2s_stream_tls_on(const struct s2s_stream *st)
{
	return st->tls_on;
}

enum s2s_auth
s2s_stream_auth(const struct s2s_stream *st)
{
	return st->auth;
}

const char *
s2s_stream_local(const struct s2s_stream *st)
{
	return st->local;
}

const char *
s2s_stream_remote(const struct s2s_stream *st)
{
	return st->remote;
}

const char *
s2s_stream_id(const struct s2s_stream *st)
{
	return st->id;
}

const char *
s2s_stream_state_name(const struct s2s_stream *st)
{
	return s2s_state_names[st->state];
}

const char *
s2s_auth_name(enum s2s_auth how)
{
	static const char *const names[] = {"none", "external", "dialback"};

	return names[how];
}

bool
s2s_stream_has_pair(const struct s2s_stream *st, const char *local,
                    const char *remote)
{
	const struct s2s_pair *p =
	    s2s_stream__pair((struct s2s_stream *)st, local, remote);

	return p != NULL && p->state == S2S_PAIR_VALID;
}
