/* s2s_stream_bidi.c - XEP-0288 bidirectional S2S streams: the feature, the
 * request, and what each role may do once it is on.
 *
 * The receiving side (IN) advertises <bidi xmlns='urn:xmpp:features:bidi'/>
 * and the initiating side (OUT) answers with <bidi xmlns='urn:xmpp:bidi'/>
 * after TLS and before SASL or dialback; there is no reply. Historic variant:
 * the two namespaces have been mixed up in the wild - ejabberd's
 * mod_s2s_bidi (24.10 on) looks for the urn:xmpp:bidi element inside the
 * stream features when it initiates, and peers built on that reading
 * advertise it there (one project reports ejabberd 24.12 taking only that
 * form). So the feature is recognised under either namespace, and so is the
 * request; we only ever send the XEP's form. ejabberd 23.01 and Prosody
 * before 0.12 (without the community mod_bidi) have no XEP-0288 at all.
 *
 * Who may send what, once on. XEP-0288 2.2: IN sends only for what the
 * initiator authenticated - with SASL EXTERNAL, from the domain in the
 * stream's 'to' to the authenticated domain; with dialback, the inverse of
 * each pair the initiator got validated. Those are exactly IN's valid pairs
 * (local, remote), so s2s_stream_send_stanza() checks the pair as on OUT.
 * Dialback proves the initiator's domain through its authoritative server:
 * sending to that domain over the connection it opened needs no more proof
 * than accepting from it does.
 *
 * OUT accepts stanzas from the peer only for the inverse of its own valid
 * pairs (from REMOTE to LOCAL), and only asks for bidi when it could accept
 * the peer as an inbound server: the policy admits REMOTE "in", and the
 * peer proved REMOTE with a certificate that verifies for it (chain and
 * name), or - where dialback is usable on this stream, i.e. valid
 * certificates are not required - REMOTE is the domain we resolved and
 * connected to, the same DNS-based proof dialback rests on. Otherwise no
 * <bidi/> is sent: the peer opens its own connection, which IN checks as
 * usual. An unsolicited <db:result type='valid'/> still ends the stream
 * (XEP-0288 4 forbids routing on it).
 *
 * The initiator "MAY" be asked by the receiving server to validate more of
 * its domains with dialback on the same stream (XEP-0288 2.2, last
 * paragraph). We do not act as receiving server on our own outbound
 * stream: such a request gets a dialback error (XEP-0220 2.4 errors, which
 * the XEP requires a bidi initiator to support), and the peer uses a
 * connection of its own for that domain. */
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

static bool
s2s_bidi_is_elem(const struct stanza *el)
{
	return strcmp(stanza_name(el), "bidi") == 0 &&
	       (strcmp(stanza_ns(el), S2S_NS_BIDI) == 0 ||
	        strcmp(stanza_ns(el), S2S_NS_BIDI_FEATURE) == 0);
}

bool
s2s_stream__bidi_is_request(const struct stanza *el)
{
	return s2s_bidi_is_elem(el);
}

static void
s2s_bidi_on(struct s2s_stream *st)
{
	const char *dir = st->opts.role == S2S_ROLE_IN ? "in" : "out";

	st->bidi = true;
	metrics_inc(METRICS_BIDI_NEGOTIATED, dir);
	log_info(LOG_SUB_S2S, st->opts.connid, "%s bidi enabled remote=%s "
	         "tls=%s", dir, st->remote != NULL ? st->remote : "-",
	         st->tls_on ? "yes" : "no");
}

void
s2s_stream__bidi_features(struct s2s_stream *st, struct util_buf *b)
{
	/* Before authentication only: after a SASL restart the stream is
	 * authenticated and the request has been made (or not). */
	if (!st->opts.bidi || st->sasl_done)
		return;
	util_buf_puts(b, "<bidi xmlns='" S2S_NS_BIDI_FEATURE "'/>");
	st->bidi_offered = true;
}

void
s2s_stream__bidi_request(struct s2s_stream *st)
{
	if (!st->bidi_offered) {
		/* Not offered (off here): no reply is defined, so the peer
		 * learns nothing; it keeps one direction per connection. */
		log_debug(LOG_SUB_S2S, st->opts.connid, "in bidi ignored "
		          "remote=%s: not offered",
		          st->remote != NULL ? st->remote : "-");
		return;
	}
	/* Some peers repeat it after the SASL restart: once is enough. */
	if (!st->bidi)
		s2s_bidi_on(st);
}

void
s2s_stream__bidi_out_features(struct s2s_stream *st, const struct stanza *f)
{
	const struct stanza *c;

	st->bidi_offered = false;
	for (c = stanza_first_child(f); c != NULL; c = stanza_next(c))
		if (s2s_bidi_is_elem(c))
			st->bidi_offered = true;
}

/* Would we accept REMOTE as the sender of stanzas on this stream? */
static bool
s2s_bidi_out_peer_ok(struct s2s_stream *st, char *why, size_t whylen)
{
	struct s2s_cert_check c = {0};

	if (!st->cbs.allowed_in(st->arg, st->remote, why, whylen))
		return false;
	if (st->tls_on) {
		st->cbs.check_cert(st->arg, st->remote, &c);
		if (c.chain == 0 && c.name == 0)
			return true;
	}
	/* The rule IN applies to a dialback request (s2s_stream_in.c). */
	if (s2s_stream__dialback_usable(st) &&
	    !(st->tls_on && st->opts.require_valid_certs))
		return true;
	snprintf(why, whylen, "the peer's certificate does not prove %s",
	         st->remote);
	return false;
}

void
s2s_stream__bidi_out_request(struct s2s_stream *st)
{
	static const char req[] = "<bidi xmlns='" S2S_NS_BIDI "'/>";
	char why[300];

	if (!st->opts.bidi || !st->bidi_offered || st->bidi ||
	    st->opts.verify_only)
		return;
	if (!s2s_bidi_out_peer_ok(st, why, sizeof(why))) {
		log_info(LOG_SUB_S2S, st->opts.connid, "out bidi not-requested "
		         "remote=%s reason=\"%s\"", st->remote, why);
		return;
	}
	s2s_stream__send(st, req, sizeof(req) - 1);
	s2s_bidi_on(st);
}

/* OUT: a stanza from REMOTE's side: only the inverse of a valid pair. */
void
s2s_stream__bidi_out_stanza(struct s2s_stream *st, struct stanza *el)
{
	const char *f = stanza_attr(el, "from"), *t = stanza_attr(el, "to");
	struct jid *jf = NULL, *jt = NULL;
	bool ok;

	if (f == NULL || t == NULL) {
		s2s_stream__fail(st, S2SD_EPROTO, "improper-addressing",
		                 "stanza without 'from' or 'to'");
	} else if (jid_parse(f, strlen(f), &jf, NULL, 0) < 0 ||
	           jid_parse(t, strlen(t), &jt, NULL, 0) < 0) {
		s2s_stream__fail(st, S2SD_EPROTO, "jid-malformed",
		                 "malformed 'from' or 'to'");
	} else {
		ok = s2s_stream_has_pair(st, jid_domain(jt), jid_domain(jf));
		jid_free(jf);
		jid_free(jt);
		if (ok) {
			s2s_stream__sm_handled(st);
			st->cbs.stanza(st->arg, el);
			return;
		}
		jf = jt = NULL;
		s2s_stream__fail(st, S2SD_EPROTO, "invalid-from",
		                 "'from' and 'to' are not a pair authenticated "
		                 "on this bidirectional stream");
	}
	jid_free(jf);
	jid_free(jt);
	stanza_free(el);
}

void
s2s_stream__bidi_out_db_request(struct s2s_stream *st, const struct stanza *el)
{
	char from[S2S_DOMAIN_MAX], to[S2S_DOMAIN_MAX];

	if (!s2s_stream__attr_domain(el, "from", from, sizeof(from)) ||
	    !s2s_stream__attr_domain(el, "to", to, sizeof(to))) {
		s2s_stream__fail(st, S2SD_EPROTO, "improper-addressing",
		                 "db:result needs valid 'from' and 'to'");
		return;
	}
	log_info(LOG_SUB_S2S, st->opts.connid, "out bidi dialback-refused "
	         "local=%s remote=%s: not validated on our outbound stream",
	         to, from);
	s2s_stream__send_db(st, "result", to, from, NULL, "error", NULL,
	                    "feature-not-implemented", "validate this domain "
	                    "on a connection of your own");
}

bool
s2s_stream_bidi(const struct s2s_stream *st)
{
	return st->bidi;
}
