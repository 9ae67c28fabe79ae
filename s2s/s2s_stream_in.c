/* s2s_stream_in.c - the receiving role of an S2S stream: header checks,
 * features by security mode, STARTTLS, SASL EXTERNAL, dialback (receiving
 * and authoritative roles) and the checks on every inbound stanza. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "s2s/s2s_sasl.h"
#include "s2s/s2s_stream_int.h"
#include "xmpp/jid.h"
#include "xmpp/stanza.h"

/* Does the peer certificate verify (chain and name) for DOMAIN? */
static bool
s2s_in_cert_ok(struct s2s_stream *st, const char *domain, char *why,
               size_t whylen)
{
	struct s2s_cert_check c = {0};

	if (!st->tls_on || domain == NULL) {
		snprintf(why, whylen, "no TLS");
		return false;
	}
	st->cbs.check_cert(st->arg, domain, &c);
	snprintf(why, whylen, "%s", c.why);
	return c.chain == 0 && c.name == 0;
}

static void
s2s_in_features(struct s2s_stream *st)
{
	struct stanza *tls = NULL, *mechs = NULL, *db = NULL, *lim;
	struct util_buf b = {0};
	char why[256], num[32];

	if (!st->tls_on && st->opts.security != S2S_SEC_NONE &&
	    st->opts.tls_available) {
		tls = stanza_new(S2S_NS_TLS, "starttls");
		if (st->opts.security == S2S_SEC_REQUIRED)
			stanza_add_child(tls, NULL, "required");
		st->tls_offered = true;
	}
	/* XEP-0178: EXTERNAL only when the certificate identifies the domain
	 * the peer claims in its header. */
	if (!st->sasl_done && st->opts.sasl_external &&
	    s2s_in_cert_ok(st, st->remote, why, sizeof(why))) {
		mechs = stanza_new(S2S_NS_SASL, "mechanisms");
		stanza_add_text(stanza_add_child(mechs, NULL, "mechanism"),
		                "EXTERNAL");
		st->sasl_offered = true;
	}
	if (!st->sasl_done && s2s_stream__dialback_usable(st)) {
		db = stanza_new(S2S_NS_DB_FEATURE, "dialback");
		stanza_add_child(db, NULL, "errors");
	}
	/* XEP-0478: what we accept, so that the peer can bounce instead of
	 * sending what we would refuse with a stream error. */
	lim = stanza_new(S2S_NS_LIMITS, "limits");
	snprintf(num, sizeof(num), "%zu", st->opts.xml.max_stanza != 0
	                                      ? st->opts.xml.max_stanza
	                                      : S2S_DEFAULT_MAX_STANZA);
	stanza_add_text(stanza_add_child(lim, NULL, "max-bytes"), num);
	if (st->opts.idle_ms >= 1000) {
		snprintf(num, sizeof(num), "%llu",
		         (unsigned long long)(st->opts.idle_ms / 1000));
		stanza_add_text(stanza_add_child(lim, NULL, "idle-seconds"),
		                num);
	}
	util_buf_puts(&b, "<stream:features>");
	if (tls != NULL)
		stanza_serialize(tls, S2S_NS_SERVER, &b);
	if (mechs != NULL)
		stanza_serialize(mechs, S2S_NS_SERVER, &b);
	if (db != NULL)
		stanza_serialize(db, S2S_NS_SERVER, &b);
	s2s_stream__sm_features(st, &b);
	s2s_stream__bidi_features(st, &b);
	stanza_serialize(lim, S2S_NS_SERVER, &b);
	util_buf_puts(&b, "</stream:features>");
	s2s_stream__send(st, b.data, b.len);
	util_buf_free(&b);
	stanza_free(tls);
	stanza_free(mechs);
	stanza_free(db);
	stanza_free(lim);
}

/* 'to' must be ours; 'from', when given, a valid domain the policy admits. */
static bool
s2s_in_check_header(struct s2s_stream *st, const struct stanza *hdr)
{
	char to[S2S_DOMAIN_MAX], from[S2S_DOMAIN_MAX];

	if (!s2s_stream__attr_domain(hdr, "to", to, sizeof(to)) ||
	    !st->cbs.is_local(st->arg, to)) {
		s2s_stream__fail(st, S2SD_EPROTO, "host-unknown",
		                 "this server does not serve the domain in 'to'");
		return false;
	}
	s2s_stream__setstr(&st->local, to);
	if (stanza_attr(hdr, "from") == NULL)
		return true;
	if (!s2s_stream__attr_domain(hdr, "from", from, sizeof(from))) {
		s2s_stream__fail(st, S2SD_EPROTO, "invalid-from",
		                 "'from' is not a valid domain");
		return false;
	}
	if (st->sasl_done && strcmp(from, st->remote) != 0) {
		s2s_stream__fail(st, S2SD_EPROTO, "invalid-from",
		                 "'from' differs from the authenticated domain");
		return false;
	}
	/* The policy is not applied here: a denied domain may still need to
	 * verify a dialback key with us (verification traffic is always
	 * allowed). SASL, dialback requests and stanzas are refused. */
	s2s_stream__setstr(&st->remote, from);
	return true;
}

void
s2s_stream__in_header(struct s2s_stream *st, const struct stanza *hdr)
{
	unsigned char rnd[16];
	char id[33];

	if (!s2s_in_check_header(st, hdr))
		return;
	/* A new, unpredictable id for every stream, restarts included. */
	util_random(rnd, sizeof(rnd));
	util_hex(rnd, sizeof(rnd), id);
	s2s_stream__setstr(&st->id, id);
	s2s_stream__send_header(st, st->local, st->remote);
	if (!st->peer_v1 && !s2s_stream__dialback_usable(st)) {
		s2s_stream__fail(st, S2SD_EPROTO, "unsupported-version",
		                 "version 1.0 is required");
		return;
	}
	if (st->peer_v1)
		s2s_in_features(st);
	if (st->sasl_done) {
		s2s_stream__pair_valid(st, &st->pairs[0]);
		return;
	}
	s2s_stream__enter(st, S2S_ST_NEGOTIATING);
}

static void
s2s_in_starttls(struct s2s_stream *st)
{
	static const char failure[] = "<failure xmlns='" S2S_NS_TLS "'/>"
	                              "</stream:stream>";
	static const char proceed[] = "<proceed xmlns='" S2S_NS_TLS "'/>";

	if (st->tls_on || !st->tls_offered) {
		/* RFC 6120 5.4.2.2: <failure/>, then close. */
		st->close_sent = true;
		s2s_stream__send(st, failure, sizeof(failure) - 1);
		s2s_stream__report_closed(st, S2SD_EPROTO, "STARTTLS not "
		                          "offered");
		return;
	}
	s2s_stream__send(st, proceed, sizeof(proceed) - 1);
	/* XEP-0288 2.1: a <bidi/> before TLS belongs to the stream TLS
	 * replaces; the peer asks again after it. */
	st->bidi = false;
	/* Stop parsing: what follows in this read came in clear. */
	xmlstream_reset(st->xml);
	s2s_stream__enter(st, S2S_ST_TLS);
	st->cbs.starttls(st->arg);
}

void
s2s_stream__in_tls_done(struct s2s_stream *st)
{
	s2s_stream__restart(st);
}

static void
s2s_in_sasl_failure(struct s2s_stream *st, const char *cond, const char *why)
{
	struct stanza *f = stanza_new(S2S_NS_SASL, "failure");

	stanza_add_child(f, NULL, cond);
	stanza_add_text(stanza_add_child(f, NULL, "text"), why);
	s2s_stream__send_elem(st, f);
	stanza_free(f);
	log_info(LOG_SUB_S2S, st->opts.connid, "in sasl-failure remote=%s "
	         "condition=%s reason=\"%s\"", st->remote ? st->remote : "-",
	         cond, why);
	if (++st->auth_tries >= S2S_MAX_AUTH_TRIES)
		s2s_stream__fail(st, S2SD_EAUTH, "not-authorized",
		                 "too many failed authentication attempts");
}

static void
s2s_in_auth(struct s2s_stream *st, const struct stanza *el)
{
	static const char success[] = "<success xmlns='" S2S_NS_SASL "'/>";
	const char *mech = stanza_attr(el, "mechanism"), *cond = NULL;
	char why[256], certwhy[256], *payload, *domain = NULL;
	const char *verified;

	if (!st->sasl_offered || mech == NULL || strcmp(mech, "EXTERNAL") != 0) {
		s2s_in_sasl_failure(st, "invalid-mechanism", "only EXTERNAL, "
		                    "and only when offered");
		return;
	}
	if (!st->cbs.allowed_in(st->arg, st->remote, why, sizeof(why))) {
		s2s_in_sasl_failure(st, "not-authorized", why);
		return;
	}
	verified = s2s_in_cert_ok(st, st->remote, certwhy, sizeof(certwhy))
	               ? st->remote : NULL;
	payload = stanza_text(el);
	if (s2s_sasl_server_external(verified, st->remote, payload, &domain,
	                             &cond, why, sizeof(why)) < 0) {
		free(payload);
		s2s_in_sasl_failure(st, cond, why);
		return;
	}
	free(payload);
	s2s_stream__send(st, success, sizeof(success) - 1);
	st->sasl_done = true;
	s2s_stream__setstr(&st->remote, domain);
	s2s_stream__pair_add(st, st->local, domain, S2S_AUTH_EXTERNAL,
	                     S2S_PAIR_PENDING);
	free(domain);
	s2s_stream__restart(st);
}

static void
s2s_in_db_reply(struct s2s_stream *st, const char *name, const char *from,
                const char *to, const char *id, const char *type,
                const char *cond, const char *text)
{
	s2s_stream__send_db(st, name, from, to, id, type, NULL, cond, text);
}

/* The receiving role: the peer asks us to accept (to=LOCAL, from=REMOTE). */
static void
s2s_in_db_result(struct s2s_stream *st, const struct stanza *el)
{
	char local[S2S_DOMAIN_MAX], remote[S2S_DOMAIN_MAX], why[256];
	const char *err = NULL, *text = NULL;
	struct s2s_pair *p;
	char *key;

	if (!s2s_stream__attr_domain(el, "to", local, sizeof(local)) ||
	    !s2s_stream__attr_domain(el, "from", remote, sizeof(remote))) {
		s2s_stream__fail(st, S2SD_EPROTO, "improper-addressing",
		                 "db:result needs valid 'from' and 'to'");
		return;
	}
	if (!s2s_stream__dialback_usable(st))
		err = "not-allowed", text = "dialback is not available here";
	else if (!st->cbs.is_local(st->arg, local))
		err = "item-not-found", text = "domain not served here";
	else if (!st->cbs.allowed_in(st->arg, remote, why, sizeof(why)))
		err = "not-allowed", text = why;
	else if (st->tls_on && st->opts.require_valid_certs &&
	         !s2s_in_cert_ok(st, remote, why, sizeof(why)))
		err = "not-allowed", text = "valid certificates are required";
	if (err != NULL) {
		log_info(LOG_SUB_S2S, st->opts.connid, "in dialback-refused "
		         "local=%s remote=%s condition=%s reason=\"%s\"", local,
		         remote, err, text);
		s2s_in_db_reply(st, "result", local, remote, NULL, "error", err,
		                text);
		return;
	}
	p = s2s_stream__pair(st, local, remote);
	if (p != NULL && p->state == S2S_PAIR_VALID) {
		s2s_in_db_reply(st, "result", local, remote, NULL, "valid",
		                NULL, NULL);
		return;
	}
	if (p == NULL && (p = s2s_stream__pair_add(st, local, remote,
	                                           S2S_AUTH_DIALBACK,
	                                           S2S_PAIR_PENDING)) == NULL) {
		s2s_in_db_reply(st, "result", local, remote, NULL, "error",
		                "resource-constraint", "too many domain pairs");
		return;
	}
	key = stanza_text(el);
	st->cbs.dialback_verify(st->arg, local, remote, st->id, key);
	free(key);
}

/* The authoritative role: is KEY ours for (receiving=from, us=to, id)? */
static void
s2s_in_db_verify(struct s2s_stream *st, const struct stanza *el)
{
	char us[S2S_DOMAIN_MAX], receiving[S2S_DOMAIN_MAX], key[65];
	const char *id = stanza_attr(el, "id");
	char *given;
	bool valid;

	if (!s2s_stream__attr_domain(el, "to", us, sizeof(us)) ||
	    !s2s_stream__attr_domain(el, "from", receiving, sizeof(receiving)) ||
	    id == NULL) {
		s2s_stream__fail(st, S2SD_EPROTO, "improper-addressing",
		                 "db:verify needs 'from', 'to' and 'id'");
		return;
	}
	if (!st->opts.dialback || !st->cbs.is_local(st->arg, us)) {
		s2s_in_db_reply(st, "verify", us, receiving, id, "error",
		                "item-not-found", "not an authoritative server "
		                "for this domain");
		return;
	}
	st->cbs.dialback_key(st->arg, receiving, us, id, key);
	given = stanza_text(el);
	valid = strlen(given) == 64 && util_memeq_ct(given, key, 64);
	free(given);
	log_debug(LOG_SUB_S2S, st->opts.connid, "in dialback-verify "
	          "receiving=%s originating=%s result=%s", receiving, us,
	          valid ? "valid" : "invalid");
	s2s_in_db_reply(st, "verify", us, receiving, id,
	                valid ? "valid" : "invalid", NULL, NULL);
}

void
s2s_stream__in_verified(struct s2s_stream *st, const char *local,
                        const char *remote, bool valid, int err)
{
	struct s2s_pair *p = s2s_stream__pair(st, local, remote);
	size_t i;

	if (p == NULL || p->state != S2S_PAIR_PENDING)
		return;
	if (err < 0) {
		s2s_in_db_reply(st, "result", local, remote, NULL, "error",
		                err_condition(err), err_str(err));
	} else if (valid) {
		s2s_in_db_reply(st, "result", local, remote, NULL, "valid",
		                NULL, NULL);
		s2s_stream__pair_valid(st, p);
		return;
	} else {
		s2s_in_db_reply(st, "result", local, remote, NULL, "invalid",
		                NULL, NULL);
	}
	log_info(LOG_SUB_S2S, st->opts.connid, "in dialback-failed local=%s "
	         "remote=%s result=%s", local, remote,
	         err < 0 ? err_name(err) : "invalid");
	/* Forget the pair; without any valid pair the stream has no use. */
	free(p->local);
	free(p->remote);
	*p = st->pairs[--st->npairs];
	for (i = 0; i < st->npairs; i++)
		if (st->pairs[i].state == S2S_PAIR_VALID)
			return;
	if (++st->auth_tries >= S2S_MAX_AUTH_TRIES || !valid)
		s2s_stream__fail(st, S2SD_EAUTH, "not-authorized",
		                 "dialback verification failed");
}

/* May domain FROM send to our domain TO on this stream? SASL authenticates
 * the peer's domain towards all of ours; dialback only the exact pair. */
static bool
s2s_in_pair_ok(struct s2s_stream *st, const char *to, const char *from)
{
	const struct s2s_pair *p = s2s_stream__pair(st, to, from);

	if (p != NULL)
		return p->state == S2S_PAIR_VALID;
	return st->auth == S2S_AUTH_EXTERNAL && st->remote != NULL &&
	       strcmp(from, st->remote) == 0;
}

/* Stanzas: only from an authenticated domain, only to one of ours. */
static void
s2s_in_stanza(struct s2s_stream *st, struct stanza *el)
{
	const char *f = stanza_attr(el, "from"), *t = stanza_attr(el, "to");
	struct jid *jf = NULL, *jt = NULL;

	if (st->auth == S2S_AUTH_NONE) {
		s2s_stream__fail(st, S2SD_EAUTH, "not-authorized",
		                 "stanza before authentication");
	} else if (f == NULL || t == NULL) {
		s2s_stream__fail(st, S2SD_EPROTO, "improper-addressing",
		                 "stanza without 'from' or 'to'");
	} else if (jid_parse(f, strlen(f), &jf, NULL, 0) < 0) {
		s2s_stream__fail(st, S2SD_EPROTO, "invalid-from",
		                 "malformed 'from'");
	} else if (jid_parse(t, strlen(t), &jt, NULL, 0) < 0 ||
	           !st->cbs.is_local(st->arg, jid_domain(jt))) {
		s2s_stream__fail(st, S2SD_EPROTO, "host-unknown",
		                 "'to' is not a domain served here");
	} else if (!s2s_in_pair_ok(st, jid_domain(jt), jid_domain(jf))) {
		s2s_stream__fail(st, S2SD_EPROTO, "invalid-from",
		                 "'from' is not authenticated on this stream");
	} else {
		jid_free(jf);
		jid_free(jt);
		/* XEP-0198 h: what is handed on counts as handled. */
		s2s_stream__sm_handled(st);
		st->cbs.stanza(st->arg, el);
		return;
	}
	jid_free(jf);
	jid_free(jt);
	stanza_free(el);
}

static bool
s2s_in_is_stanza(const struct stanza *el)
{
	const char *n = stanza_name(el);

	return strcmp(stanza_ns(el), S2S_NS_SERVER) == 0 &&
	       (strcmp(n, "message") == 0 || strcmp(n, "presence") == 0 ||
	        strcmp(n, "iq") == 0);
}

void
s2s_stream__in_element(struct s2s_stream *st, struct stanza *el)
{
	bool is_tls = s2s_stream__is(el, S2S_NS_TLS, "starttls");

	if (st->state == S2S_ST_CLOSING) {
		if (s2s_in_is_stanza(el))
			s2s_in_stanza(st, el);
		else
			stanza_free(el);
		return;
	}
	/* Inbound "required" comes before anything else. */
	if (!st->tls_on && st->opts.security == S2S_SEC_REQUIRED && !is_tls)
		s2s_stream__fail(st, S2SD_EPOLICY, "policy-violation",
		                 "TLS is required: negotiate STARTTLS first");
	else if (is_tls)
		s2s_in_starttls(st);
	else if (s2s_stream__is(el, S2S_NS_SASL, "auth"))
		s2s_in_auth(st, el);
	else if (s2s_stream__is(el, S2S_NS_DIALBACK, "result"))
		s2s_in_db_result(st, el);
	else if (s2s_stream__is(el, S2S_NS_DIALBACK, "verify"))
		s2s_in_db_verify(st, el);
	else if (s2s_stream__bidi_is_request(el))
		s2s_stream__bidi_request(st);
	else if (s2s_in_is_stanza(el)) {
		s2s_in_stanza(st, el);
		return;
	} else
		s2s_stream__fail(st, S2SD_EPROTO, "unsupported-stanza-type",
		                 "unexpected element");
	stanza_free(el);
}
