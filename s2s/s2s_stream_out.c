/* s2s_stream_out.c - the initiating role of an S2S stream: our header, the
 * choice among the peer's features (STARTTLS, SASL EXTERNAL, dialback) by
 * security mode, the certificate check after TLS, and the originating side
 * of dialback. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "s2s/s2s_sasl.h"
#include "s2s/s2s_stream_int.h"
#include "xmpp/stanza.h"

void
s2s_stream__out_start(struct s2s_stream *st)
{
	s2s_stream__send_header(st, st->local, st->remote);
}

/* <db:result from=LOCAL to=remote>KEY</db:result> for LOCAL. */
static void
s2s_out_send_result(struct s2s_stream *st, const char *local)
{
	char key[65];

	st->cbs.dialback_key(st->arg, st->remote, local, st->id, key);
	s2s_stream__send_db(st, "result", local, st->remote, NULL, NULL, key,
	                    NULL, NULL);
	s2s_stream__pair_add(st, local, st->remote, S2S_AUTH_DIALBACK,
	                     S2S_PAIR_PENDING);
}

static void
s2s_out_dialback(struct s2s_stream *st)
{
	if (st->id == NULL) {
		s2s_stream__fail(st, S2SD_EPROTO, "invalid-xml",
		                 "the peer's stream has no id for dialback");
		return;
	}
	s2s_out_send_result(st, st->local);
	s2s_stream__enter(st, S2S_ST_WAIT_DIALBACK);
}

bool
s2s_stream_can_add_pair(const struct s2s_stream *st)
{
	return st->opts.role == S2S_ROLE_OUT && st->state == S2S_ST_READY &&
	       !st->opts.verify_only && st->db_offered && st->id != NULL &&
	       s2s_stream__dialback_usable(st);
}

int
s2s_stream_add_pair(struct s2s_stream *st, const char *local)
{
	if (st->state != S2S_ST_READY || st->closed_reported)
		return -ENOTCONN;
	if (!s2s_stream_can_add_pair(st) || st->npairs == S2S_MAX_PAIRS)
		return -ENOTSUP;
	if (s2s_stream__pair(st, local, st->remote) != NULL)
		return 0;
	log_debug(LOG_SUB_S2S, st->opts.connid, "out piggyback local=%s "
	          "remote=%s", local, st->remote);
	s2s_out_send_result(st, local);
	return 0;
}

void
s2s_stream__out_header(struct s2s_stream *st, const struct stanza *hdr)
{
	s2s_stream__setstr(&st->id, stanza_attr(hdr, "id"));
	st->db_offered = xmlstream_prefix_ns(st->xml, "db") != NULL &&
	                 strcmp(xmlstream_prefix_ns(st->xml, "db"),
	                        S2S_NS_DIALBACK) == 0;
	if (st->peer_v1) {
		s2s_stream__enter(st, S2S_ST_WAIT_FEATURES);
		return;
	}
	if (st->opts.verify_only && st->opts.security != S2S_SEC_REQUIRED) {
		s2s_stream__enter(st, S2S_ST_READY);
		s2s_stream__out_flush_verifies(st);
		return;
	}
	/* A pre-1.0 peer has no features: dialback is all it knows. */
	if (st->db_offered && s2s_stream__dialback_usable(st))
		s2s_out_dialback(st);
	else
		s2s_stream__fail(st, S2SD_EPROTO, "unsupported-version",
		                 "the peer does not speak version 1.0");
}

static bool
s2s_out_offers_external(const struct stanza *features)
{
	const struct stanza *m, *c;
	char *text;
	bool found = false;

	m = stanza_child(features, S2S_NS_SASL, "mechanisms");
	for (c = m != NULL ? stanza_first_child(m) : NULL; c != NULL && !found;
	     c = stanza_next(c)) {
		text = stanza_text(c);
		found = strcmp(stanza_name(c), "mechanism") == 0 &&
		        strcmp(text, "EXTERNAL") == 0;
		free(text);
	}
	return found;
}

static void
s2s_out_send_auth(struct s2s_stream *st)
{
	struct stanza *a = stanza_new(S2S_NS_SASL, "auth");
	char *payload = s2s_sasl_client_external(st->local);

	stanza_set_attr(a, "mechanism", "EXTERNAL");
	stanza_add_text(a, payload);
	s2s_stream__send_elem(st, a);
	stanza_free(a);
	free(payload);
	s2s_stream__enter(st, S2S_ST_WAIT_SASL);
}

/* XEP-0478: the peer's max-bytes, from the latest features (each restart
 * sends new ones); absent or unreadable means no advertised limit. */
static void
s2s_out_limits(struct s2s_stream *st, const struct stanza *f)
{
	const struct stanza *lim = stanza_child(f, S2S_NS_LIMITS, "limits");
	const struct stanza *mb;
	unsigned long long v;
	char *text, *end;

	st->peer_max_bytes = 0;
	mb = lim != NULL ? stanza_child(lim, S2S_NS_LIMITS, "max-bytes") : NULL;
	if (mb == NULL)
		return;
	text = stanza_text(mb);
	v = strtoull(text, &end, 10);
	if (end != text && *end == '\0' && text[0] != '-' && v > 0 &&
	    v <= SIZE_MAX)
		st->peer_max_bytes = (size_t)v;
	log_debug(LOG_SUB_S2S, st->opts.connid, "out peer-limits max_bytes=%s",
	          text);
	free(text);
}

/* "starttls(required) sasl:EXTERNAL dialback ..." for the log. */
static void
s2s_out_log_features(const struct s2s_stream *st, const struct stanza *f)
{
	char list[512];
	const struct stanza *c, *m;
	size_t len = 0;
	char *text;

	list[0] = '\0';
	for (c = stanza_first_child(f); c != NULL && len < sizeof(list);
	     c = stanza_next(c)) {
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
		                        len > 0 ? " " : "", stanza_name(c));
		if (strcmp(stanza_name(c), "mechanisms") != 0)
			continue;
		for (m = stanza_first_child(c); m != NULL && len < sizeof(list);
		     m = stanza_next(m)) {
			text = stanza_text(m);
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			                        ":%.40s", text);
			free(text);
		}
	}
	log_debug(LOG_SUB_S2S, st->opts.connid, "out features remote=%s "
	          "offered=\"%s\"", st->remote, list);
}

static void
s2s_out_features(struct s2s_stream *st, const struct stanza *f)
{
	static const char starttls[] = "<starttls xmlns='" S2S_NS_TLS "'/>";
	const struct stanza *tls = stanza_child(f, S2S_NS_TLS, "starttls");

	if (log_wants(LOG_LEVEL_DEBUG, LOG_SUB_S2S))
		s2s_out_log_features(st, f);
	s2s_out_limits(st, f);
	s2s_stream__sm_out_features(st, f);
	s2s_stream__bidi_out_features(st, f);
	if (stanza_child(f, S2S_NS_DB_FEATURE, "dialback") != NULL)
		st->db_offered = true;
	if (!st->tls_on && tls != NULL && st->opts.security != S2S_SEC_NONE) {
		s2s_stream__send(st, starttls, sizeof(starttls) - 1);
		s2s_stream__enter(st, S2S_ST_WAIT_PROCEED);
	} else if (!st->tls_on && st->opts.security == S2S_SEC_REQUIRED) {
		s2s_stream__fail(st, S2SD_ETLS, "policy-violation",
		                 "TLS is required and the peer does not offer "
		                 "STARTTLS");
	} else if (!st->tls_on && tls != NULL &&
	           stanza_child(tls, S2S_NS_TLS, "required") != NULL) {
		s2s_stream__fail(st, S2SD_ETLS, "policy-violation",
		                 "the peer requires TLS and security is none");
	} else if (st->opts.verify_only) {
		/* A verification stream authenticates nothing (XEP-0220 2.1.2):
		 * it only carries <db:verify/> once TLS is settled. */
		s2s_stream__enter(st, S2S_ST_READY);
		s2s_stream__out_flush_verifies(st);
	} else if (st->sasl_done) {
		s2s_stream__pair_valid(
		    st, s2s_stream__pair_add(st, st->local, st->remote,
		                             S2S_AUTH_EXTERNAL, S2S_PAIR_PENDING));
	} else if (st->tls_on && st->opts.sasl_external && !st->sasl_failed &&
	           s2s_out_offers_external(f)) {
		s2s_stream__bidi_out_request(st);       /* XEP-0288: before */
		s2s_out_send_auth(st);
	} else if (st->db_offered && s2s_stream__dialback_usable(st)) {
		s2s_stream__bidi_out_request(st);
		s2s_out_dialback(st);
	} else {
		s2s_stream__fail(st, S2SD_EAUTH, "policy-violation",
		                 "no authentication method in common");
	}
}

void
s2s_stream__out_tls_done(struct s2s_stream *st)
{
	struct s2s_cert_check c = {0};

	st->cbs.check_cert(st->arg, st->remote, &c);
	log_info(LOG_SUB_S2S, st->opts.connid, "out cert domain=%s chain=%s "
	         "name=%s verdict=%s reason=\"%s\"", st->remote,
	         err_name(c.chain), err_name(c.name),
	         c.chain == 0 && c.name == 0 ? "valid" : "invalid", c.why);
	if (st->opts.require_valid_certs && (c.chain != 0 || c.name != 0)) {
		s2s_stream__fail(st, c.chain != 0 ? c.chain : c.name,
		                 "undefined-condition", c.why);
		return;
	}
	s2s_stream__restart(st);
	s2s_stream__out_start(st);
}

static void
s2s_out_sasl_answer(struct s2s_stream *st, const struct stanza *el)
{
	const struct stanza *c;

	if (strcmp(stanza_name(el), "success") == 0) {
		st->sasl_done = true;
		s2s_stream__restart(st);
		s2s_stream__out_start(st);
		return;
	}
	c = stanza_first_child(el);
	log_info(LOG_SUB_S2S, st->opts.connid, "out sasl-failure remote=%s "
	         "condition=%s", st->remote, c != NULL ? stanza_name(c) : "-");
	st->sasl_failed = true;
	/* Some peers offer EXTERNAL and then refuse it (ejabberd when it
	 * cannot validate our certificate): fall back to dialback. */
	if (st->db_offered && s2s_stream__dialback_usable(st)) {
		s2s_out_dialback(st);
		return;
	}
	s2s_stream__fail(st, S2SD_EAUTH, "policy-violation",
	                 "SASL EXTERNAL failed and dialback is not possible");
}

/* An answer for a pair added on a ready stream. */
static void
s2s_out_piggy_result(struct s2s_stream *st, const struct stanza *el)
{
	char local[S2S_DOMAIN_MAX];
	const char *type = stanza_attr(el, "type");
	struct s2s_pair *p = NULL;
	size_t i;

	if (s2s_stream__attr_domain(el, "to", local, sizeof(local)))
		p = s2s_stream__pair(st, local, st->remote);
	if (p == NULL || p->state != S2S_PAIR_PENDING || type == NULL) {
		s2s_stream__fail(st, S2SD_EPROTO, "invalid-xml",
		                 "db:result answer without a request");
		return;
	}
	if (strcmp(type, "valid") == 0) {
		s2s_stream__pair_valid(st, p);
		return;
	}
	log_info(LOG_SUB_S2S, st->opts.connid, "out piggyback-refused "
	         "local=%s remote=%s type=%s", local, st->remote, type);
	free(p->local);
	free(p->remote);
	i = (size_t)(p - st->pairs);
	st->pairs[i] = st->pairs[--st->npairs];
	st->cbs.pair_refused(st->arg, local, st->remote, S2SD_EAUTH);
}

static void
s2s_out_db_result(struct s2s_stream *st, const struct stanza *el)
{
	const char *type = stanza_attr(el, "type");
	struct s2s_pair *p = s2s_stream__pair(st, st->local, st->remote);
	const struct stanza *e, *c;

	if (type != NULL && strcmp(type, "valid") == 0 && p != NULL) {
		s2s_stream__pair_valid(st, p);
		return;
	}
	e = stanza_child(el, S2S_NS_SERVER, "error");
	c = e != NULL ? stanza_first_child(e) : NULL;
	log_info(LOG_SUB_S2S, st->opts.connid, "out dialback-failed local=%s "
	         "remote=%s type=%s condition=%s", st->local, st->remote,
	         type != NULL ? type : "-", c != NULL ? stanza_name(c) : "-");
	if (!st->close_sent) {
		st->close_sent = true;
		s2s_stream__send(st, "</stream:stream>", 16);
	}
	s2s_stream__report_closed(st, S2SD_EAUTH, "dialback refused by the "
	                          "peer");
}

static struct s2s_verify_req **
s2s_out_find_verify(struct s2s_stream *st, const char *local,
                    const char *remote, const char *id)
{
	struct s2s_verify_req **pp;

	for (pp = &st->verifies; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->sent && strcmp((*pp)->local, local) == 0 &&
		    strcmp((*pp)->remote, remote) == 0 &&
		    strcmp((*pp)->id, id) == 0)
			return pp;
	return NULL;
}

static void
s2s_out_verify_free(struct s2s_verify_req *r)
{
	free(r->local);
	free(r->remote);
	free(r->id);
	free(r->key);
	free(r);
}

/* <db:verify from=REMOTE to=LOCAL id=ID type=.../>: the answer to one of
 * our requests; anything unasked for is a protocol error. */
static void
s2s_out_db_verify(struct s2s_stream *st, const struct stanza *el)
{
	char local[S2S_DOMAIN_MAX], remote[S2S_DOMAIN_MAX];
	const char *type = stanza_attr(el, "type"), *id = stanza_attr(el, "id");
	struct s2s_verify_req **pp = NULL, *r;

	if (type != NULL && id != NULL &&
	    s2s_stream__attr_domain(el, "to", local, sizeof(local)) &&
	    s2s_stream__attr_domain(el, "from", remote, sizeof(remote)))
		pp = s2s_out_find_verify(st, local, remote, id);
	if (pp == NULL) {
		s2s_stream__fail(st, S2SD_EPROTO, "invalid-xml",
		                 "db:verify answer without a request");
		return;
	}
	r = *pp;
	*pp = r->next;
	log_debug(LOG_SUB_S2S, st->opts.connid, "out dialback-verify-answer "
	          "local=%s remote=%s type=%s", local, remote, type);
	st->cbs.verify_result(st->arg, local, remote, id,
	                      strcmp(type, "valid") == 0,
	                      strcmp(type, "error") == 0 ? S2SD_EAUTH : 0);
	s2s_out_verify_free(r);
}

void
s2s_stream__out_flush_verifies(struct s2s_stream *st)
{
	struct s2s_verify_req *r;

	if (st->state != S2S_ST_READY)
		return;
	for (r = st->verifies; r != NULL && !st->closed_reported; r = r->next) {
		if (r->sent)
			continue;
		r->sent = true;
		s2s_stream__send_db(st, "verify", r->local, r->remote, r->id,
		                    NULL, r->key, NULL, NULL);
	}
}

void
s2s_stream__out_fail_pairs(struct s2s_stream *st, int err)
{
	size_t i;

	/* Only pairs added on a ready stream: the first pair's failure is
	 * the stream's own. */
	for (i = 0; i < st->npairs; i++)
		if (st->pairs[i].state == S2S_PAIR_PENDING &&
		    st->auth != S2S_AUTH_NONE)
			st->cbs.pair_refused(st->arg, st->pairs[i].local,
			                     st->pairs[i].remote, err);
}

void
s2s_stream__out_fail_verifies(struct s2s_stream *st, int err)
{
	struct s2s_verify_req *r;

	while ((r = st->verifies) != NULL) {
		st->verifies = r->next;
		st->cbs.verify_result(st->arg, r->local, r->remote, r->id,
		                      false, err);
		s2s_out_verify_free(r);
	}
}

int
s2s_stream_send_verify(struct s2s_stream *st, const char *local,
                       const char *remote, const char *id, const char *key)
{
	struct s2s_verify_req *r, **pp;

	if (st->closed_reported || st->state == S2S_ST_CLOSING)
		return -ENOTCONN;
	r = xcalloc(1, sizeof(*r));
	r->local = xstrdup(local);
	r->remote = xstrdup(remote);
	r->id = xstrdup(id);
	r->key = xstrdup(key);
	for (pp = &st->verifies; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = r;
	s2s_stream__out_flush_verifies(st);
	return 0;
}

static bool
s2s_out_is_stanza(const struct stanza *el)
{
	const char *n = stanza_name(el);

	return strcmp(stanza_ns(el), S2S_NS_SERVER) == 0 &&
	       (strcmp(n, "message") == 0 || strcmp(n, "presence") == 0 ||
	        strcmp(n, "iq") == 0);
}

/* XEP-0288: what the peer may send us on a bidi stream once ready. True
 * when EL was handled (and taken or freed). */
static bool
s2s_out_bidi_element(struct s2s_stream *st, struct stanza *el)
{
	if (!st->bidi || (st->state != S2S_ST_READY &&
	                  st->state != S2S_ST_CLOSING))
		return false;
	if (s2s_out_is_stanza(el)) {
		s2s_stream__bidi_out_stanza(st, el);
		return true;
	}
	if (s2s_stream__is(el, S2S_NS_DIALBACK, "result") &&
	    stanza_attr(el, "type") == NULL) {
		s2s_stream__bidi_out_db_request(st, el);
		stanza_free(el);
		return true;
	}
	return false;
}

void
s2s_stream__out_element(struct s2s_stream *st, struct stanza *el)
{
	if (s2s_out_bidi_element(st, el))
		return;
	if (st->state == S2S_ST_CLOSING) {
		stanza_free(el);        /* nothing to negotiate while leaving */
		return;
	}
	if (s2s_stream__is(el, S2S_NS_DIALBACK, "verify") &&
	    st->state != S2S_ST_WAIT_HEADER)
		s2s_out_db_verify(st, el);
	else if (st->state == S2S_ST_WAIT_FEATURES &&
	    s2s_stream__is(el, XMLSTREAM_NS_STREAMS, "features"))
		s2s_out_features(st, el);
	else if (st->state == S2S_ST_WAIT_PROCEED &&
	         s2s_stream__is(el, S2S_NS_TLS, "proceed")) {
		xmlstream_reset(st->xml);
		s2s_stream__enter(st, S2S_ST_TLS);
		st->cbs.starttls(st->arg);
	} else if (st->state == S2S_ST_WAIT_PROCEED &&
	           s2s_stream__is(el, S2S_NS_TLS, "failure")) {
		s2s_stream__report_closed(st, S2SD_ETLS_HANDSHAKE,
		                          "the peer refused STARTTLS");
	} else if (st->state == S2S_ST_WAIT_SASL &&
	           strcmp(stanza_ns(el), S2S_NS_SASL) == 0 &&
	           (strcmp(stanza_name(el), "success") == 0 ||
	            strcmp(stanza_name(el), "failure") == 0))
		s2s_out_sasl_answer(st, el);
	else if (st->state == S2S_ST_WAIT_DIALBACK &&
	         s2s_stream__is(el, S2S_NS_DIALBACK, "result"))
		s2s_out_db_result(st, el);
	else if (st->state == S2S_ST_READY &&
	         s2s_stream__is(el, S2S_NS_DIALBACK, "result"))
		s2s_out_piggy_result(st, el);
	else
		s2s_stream__fail(st, S2SD_EPROTO, "unsupported-stanza-type",
		                 "unexpected element during negotiation");
	stanza_free(el);
}
