/* s2s_stream_sm.c - XEP-0198 stream management on an S2S stream: the
 * feature, <enable/>/<enabled/>, <r/>/<a/>, <resume/>/<resumed/>/<failed/>.
 *
 * S2S streams carry stanzas one way (RFC 6120 without XEP-0288), so the
 * receiving side (IN) counts what it handles and answers <r/>, and the
 * initiating side (OUT) keeps what it sent until an <a/> covers it. Either
 * side answers the other's <r/>; OUT's count is 0 unless bidi is on.
 *
 * On a XEP-0288 stream both sides send and receive, so each keeps both
 * counters of the one session (XEP-0198 counts per stream, not per
 * direction): IN also queues what it sends, asks with <r/> and takes <a/>;
 * OUT also counts what it handles and answers <r/> with it; both send a
 * last <a/> before their closing tag. Resumption carries both counts: OUT
 * sends the h it handled in the old session and goes on counting from it;
 * IN goes on numbering what it sends from that h. What IN had sent without
 * an ack is not kept for the resumption: it went back to its routes when
 * the stream died (s2s_resume.c), so for that direction duplicates are
 * possible, as without resumption.
 *
 * Negotiation happens once the first pair is authenticated: dialback does
 * not restart the stream, so IN offers the feature from the start and
 * refuses <enable/> and <resume/> until then. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "s2s/s2s_stream_int.h"
#include "xmpp/stanza.h"

static const char *
s2s_sm_dir(const struct s2s_stream *st)
{
	return st->opts.role == S2S_ROLE_IN ? "in" : "out";
}

/* An 'h' attribute: decimal, 0..2^32-1. */
static bool
s2s_sm_parse_h(const struct stanza *el, uint32_t *h)
{
	const char *v = stanza_attr(el, "h");
	unsigned long long n;
	char *end;

	if (v == NULL || *v < '0' || *v > '9')
		return false;
	n = strtoull(v, &end, 10);
	if (*end != '\0' || n > UINT32_MAX)
		return false;
	*h = (uint32_t)n;
	return true;
}

static void
s2s_sm_send_a(struct s2s_stream *st, uint32_t h)
{
	char buf[96];
	int n = snprintf(buf, sizeof(buf), "<a xmlns='%s' h='%lu'/>",
	                 S2S_NS_SM, (unsigned long)h);

	s2s_stream__send(st, buf, (size_t)n);
	metrics_inc(METRICS_SM_ACKS, "out");
	log_debug(LOG_SUB_S2S, st->opts.connid, "%s sm ack-sent h=%lu",
	          s2s_sm_dir(st), (unsigned long)h);
}

static void
s2s_sm_send_r(struct s2s_stream *st)
{
	static const char r[] = "<r xmlns='" S2S_NS_SM "'/>";

	s2s_stream__send(st, r, sizeof(r) - 1);
	s2s_sm_r_sent(st->sm, st->now);
}

static void
s2s_sm_send_failed(struct s2s_stream *st, const char *cond)
{
	char buf[160];
	int n = snprintf(buf, sizeof(buf), "<failed xmlns='%s'><%s xmlns='%s'/>"
	                 "</failed>", S2S_NS_SM, cond, STANZA_NS_STANZAS);

	s2s_stream__send(st, buf, (size_t)n);
}

static void
s2s_sm_create(struct s2s_stream *st)
{
	if (st->sm == NULL)
		st->sm = s2s_sm_new(&st->opts.sm_opts);
}

void
s2s_stream_set_sm_cbs(struct s2s_stream *st,
                      const struct s2s_stream_sm_cbs *cbs)
{
	st->smcbs = *cbs;
}

void
s2s_stream__sm_features(struct s2s_stream *st, struct util_buf *b)
{
	if (st->opts.sm)
		util_buf_puts(b, "<sm xmlns='" S2S_NS_SM "'><optional/></sm>");
}

void
s2s_stream__sm_out_features(struct s2s_stream *st, const struct stanza *f)
{
	st->sm_offered = stanza_child(f, S2S_NS_SM, "sm") != NULL;
}

/* OUT: <enable resume='true'/>; counting starts now (XEP-0198 4). */
static void
s2s_sm_out_enable(struct s2s_stream *st)
{
	static const char en[] = "<enable xmlns='" S2S_NS_SM "' resume='true'/>";

	s2s_sm_create(st);
	s2s_sm_out_start(st->sm, 0, st->now);
	s2s_stream__send(st, en, sizeof(en) - 1);
	st->sm_state = S2S_SMS_ENABLING;
	st->sm_tried = true;
	st->sm_wait_until = st->now + st->opts.sm_opts.ack_timeout_ms;
}

void
s2s_stream__sm_after_auth(struct s2s_stream *st)
{
	if (st->opts.role != S2S_ROLE_OUT || !st->opts.sm || !st->sm_offered ||
	    st->sm_tried || st->opts.verify_only || st->closed_reported ||
	    st->state != S2S_ST_READY)
		return;
	s2s_sm_out_enable(st);
}

int
s2s_stream_sm_resume(struct s2s_stream *st, const char *previd, uint32_t h)
{
	struct util_buf b = {0};

	if (st->opts.role != S2S_ROLE_OUT || !st->opts.sm || !st->sm_offered ||
	    st->sm_tried || st->state != S2S_ST_READY || st->closed_reported)
		return -ENOTSUP;
	s2s_sm_create(st);
	/* XEP-0288: what we handled in that session; counting goes on. */
	s2s_sm_in_set_h(st->sm, h);
	s2s_stream__setstr(&st->sm_previd, previd);
	util_buf_puts(&b, "<resume xmlns='" S2S_NS_SM "' previd='");
	stanza_escape(&b, previd, strlen(previd), true);
	util_buf_printf(&b, "' h='%lu'/>", (unsigned long)h);
	s2s_stream__send(st, b.data, b.len);
	util_buf_free(&b);
	st->sm_state = S2S_SMS_RESUMING;
	st->sm_tried = true;
	st->sm_wait_until = st->now + st->opts.sm_opts.ack_timeout_ms;
	log_debug(LOG_SUB_S2S, st->opts.connid, "out sm resume previd=%s",
	          previd);
	return 0;
}

static void s2s_sm_got_a(struct s2s_stream *st, const struct stanza *el);

/* IN: <enable/>, only on an authenticated stream, once. */
static void
s2s_sm_in_enable(struct s2s_stream *st, const struct stanza *el)
{
	const char *r = stanza_attr(el, "resume");
	bool resume = r != NULL && (strcmp(r, "true") == 0 || strcmp(r, "1") == 0);
	unsigned char rnd[16];
	char id[33], buf[192];
	int n;

	s2s_sm_create(st);
	st->sm_state = S2S_SMS_ON;
	if (!resume || st->opts.sm_resume_ms == 0 || st->smcbs.resume == NULL) {
		n = snprintf(buf, sizeof(buf), "<enabled xmlns='%s'/>", S2S_NS_SM);
	} else {
		/* Unguessable, and bound to the authenticated domains anyway. */
		util_random(rnd, sizeof(rnd));
		util_hex(rnd, sizeof(rnd), id);
		s2s_stream__setstr(&st->sm_id, id);
		n = snprintf(buf, sizeof(buf), "<enabled xmlns='%s' id='%s' "
		             "resume='true' max='%llu'/>", S2S_NS_SM, id,
		             (unsigned long long)(st->opts.sm_resume_ms / 1000));
	}
	s2s_stream__send(st, buf, (size_t)n);
	log_info(LOG_SUB_S2S, st->opts.connid, "in sm enabled remote=%s "
	         "resume=%s", st->remote != NULL ? st->remote : "-",
	         st->sm_id != NULL ? "yes" : "no");
}

/* IN: <resume previd h/>: the owner checks the id and the binding. */
static void
s2s_sm_in_resume(struct s2s_stream *st, const struct stanza *el)
{
	const char *previd = stanza_attr(el, "previd");
	struct util_buf b = {0};
	uint32_t h = 0, peer_h = 0;

	if (previd == NULL || st->smcbs.resume == NULL ||
	    st->opts.sm_resume_ms == 0 ||
	    !st->smcbs.resume(st->arg, previd, &h)) {
		s2s_sm_send_failed(st, "item-not-found");
		return;
	}
	s2s_sm_create(st);
	s2s_sm_in_set_h(st->sm, h);
	/* What we send is numbered on from what the peer handled of it (0
	 * unless the stream was bidirectional); the unacknowledged rest went
	 * back to the routes when the old stream died. */
	if (!s2s_sm_parse_h(el, &peer_h))
		peer_h = 0;
	s2s_sm_out_start(st->sm, peer_h, st->now);
	s2s_stream__setstr(&st->sm_id, previd);
	st->sm_state = S2S_SMS_ON;
	util_buf_puts(&b, "<resumed xmlns='" S2S_NS_SM "' previd='");
	stanza_escape(&b, previd, strlen(previd), true);
	util_buf_printf(&b, "' h='%lu'/>", (unsigned long)h);
	s2s_stream__send(st, b.data, b.len);
	util_buf_free(&b);
	log_info(LOG_SUB_S2S, st->opts.connid, "in sm resumed previd=%s h=%lu "
	         "remote=%s", previd, (unsigned long)h,
	         st->remote != NULL ? st->remote : "-");
}

static void
s2s_sm_in_element(struct s2s_stream *st, const struct stanza *el)
{
	const char *name = stanza_name(el);
	bool authed = st->auth != S2S_AUTH_NONE &&
	              (st->state == S2S_ST_READY || st->state == S2S_ST_CLOSING);

	if (strcmp(name, "enable") == 0 || strcmp(name, "resume") == 0) {
		if (!st->opts.sm)
			s2s_sm_send_failed(st, "feature-not-implemented");
		else if (!authed || st->sm_state != S2S_SMS_OFF)
			s2s_sm_send_failed(st, "unexpected-request");
		else if (name[0] == 'e')
			s2s_sm_in_enable(st, el);
		else
			s2s_sm_in_resume(st, el);
	} else if (strcmp(name, "r") == 0 && st->sm_state == S2S_SMS_ON) {
		s2s_sm_send_a(st, s2s_sm_in_h(st->sm));
	} else if (strcmp(name, "a") == 0 && st->sm_state == S2S_SMS_ON &&
	           st->bidi) {
		s2s_sm_got_a(st, el);
	}
	/* <a/> for the nothing we sent, and <r/> without a session, are
	 * ignored (XEP-0198 leaves them without an answer). */
}

/* The peer acknowledged H of what we sent. */
static void
s2s_sm_out_ack(struct s2s_stream *st, uint32_t h)
{
	char app[160];
	int n;

	metrics_inc(METRICS_SM_ACKS, "in");
	n = s2s_sm_acked(st->sm, h, st->now);
	if (n >= 0) {
		log_debug(LOG_SUB_S2S, st->opts.connid, "%s sm acked h=%lu "
		          "new=%d unacked=%zu", s2s_sm_dir(st), (unsigned long)h, n,
		          s2s_sm_unacked(st->sm));
		return;
	}
	/* XEP-0198 4: more than was sent is a stream error. */
	snprintf(app, sizeof(app), "<handled-count-too-high xmlns='%s' h='%lu' "
	         "send-count='%lu'/>", S2S_NS_SM, (unsigned long)h,
	         (unsigned long)s2s_sm_sent_count(st->sm));
	s2s_stream__fail_app(st, S2SD_EPROTO, "undefined-condition",
	                     "the acknowledged count is not one we sent", app);
}

/* An <a/> for what we sent: OUT always, IN on a bidi stream. */
static void
s2s_sm_got_a(struct s2s_stream *st, const struct stanza *el)
{
	uint32_t h;

	if (s2s_sm_parse_h(el, &h))
		s2s_sm_out_ack(st, h);
	else
		s2s_stream__fail(st, S2SD_EPROTO, "invalid-xml",
		                 "<a/> without a valid h");
}

static void
s2s_sm_out_enabled(struct s2s_stream *st, const struct stanza *el)
{
	const char *r = stanza_attr(el, "resume"), *id = stanza_attr(el, "id");

	st->sm_state = S2S_SMS_ON;
	st->sm_wait_until = 0;
	/* Resumable only with an id: Prosody echoes resume='true' on S2S
	 * without one (it resumes c2s sessions only). */
	if (r != NULL && (strcmp(r, "true") == 0 || strcmp(r, "1") == 0) &&
	    id != NULL && *id != '\0')
		s2s_stream__setstr(&st->sm_id, id);
	log_info(LOG_SUB_S2S, st->opts.connid, "out sm enabled remote=%s "
	         "resume=%s", st->remote, st->sm_id != NULL ? "yes" : "no");
}

static void
s2s_sm_out_resumed(struct s2s_stream *st, const struct stanza *el)
{
	const char *previd = stanza_attr(el, "previd");
	uint32_t h;

	if (previd == NULL || strcmp(previd, st->sm_previd) != 0 ||
	    !s2s_sm_parse_h(el, &h)) {
		s2s_stream__fail(st, S2SD_EPROTO, "invalid-xml",
		                 "<resumed/> for another session or without h");
		return;
	}
	/* The numbering continues from what the peer handled. */
	s2s_sm_out_start(st->sm, h, st->now);
	s2s_stream__setstr(&st->sm_id, previd);
	st->sm_state = S2S_SMS_ON;
	st->sm_wait_until = 0;
	if (st->smcbs.resumed != NULL &&
	    !st->smcbs.resumed(st->arg, previd, h))
		s2s_stream__fail(st, S2SD_EPROTO, "undefined-condition",
		                 "the resumed count is not one we sent");
}

static void
s2s_sm_out_failed(struct s2s_stream *st)
{
	char *previd;

	st->sm_wait_until = 0;
	if (st->sm_state == S2S_SMS_ENABLING) {
		/* What went out since <enable/> is not covered: it was sent
		 * like on a stream without stream management. */
		log_info(LOG_SUB_S2S, st->opts.connid, "out sm refused "
		         "remote=%s unacked=%zu", st->remote,
		         s2s_sm_unacked(st->sm));
		s2s_sm_out_start(st->sm, 0, st->now);
		st->sm_state = S2S_SMS_OFF;
		return;
	}
	/* Resumption failed: a fresh session first, so that what is sent
	 * again is counted. */
	previd = st->sm_previd;
	st->sm_previd = NULL;
	log_info(LOG_SUB_S2S, st->opts.connid, "out sm resume-failed "
	         "previd=%s remote=%s", previd, st->remote);
	s2s_sm_in_set_h(st->sm, 0);     /* a new session counts from 0 */
	s2s_sm_out_enable(st);
	if (st->smcbs.resume_failed != NULL)
		st->smcbs.resume_failed(st->arg, previd);
	free(previd);
}

static void
s2s_sm_out_element(struct s2s_stream *st, const struct stanza *el)
{
	const char *name = stanza_name(el);

	if (strcmp(name, "r") == 0) {
		/* What we handled: nothing unless the peer sends on a bidi
		 * stream. */
		s2s_sm_send_a(st, st->sm != NULL ? s2s_sm_in_h(st->sm) : 0);
	} else if (strcmp(name, "a") == 0 && st->sm_state != S2S_SMS_OFF &&
	           st->sm_state != S2S_SMS_RESUMING) {
		s2s_sm_got_a(st, el);
	} else if (strcmp(name, "enabled") == 0 &&
	           st->sm_state == S2S_SMS_ENABLING) {
		s2s_sm_out_enabled(st, el);
	} else if (strcmp(name, "resumed") == 0 &&
	           st->sm_state == S2S_SMS_RESUMING) {
		s2s_sm_out_resumed(st, el);
	} else if (strcmp(name, "failed") == 0 &&
	           (st->sm_state == S2S_SMS_ENABLING ||
	            st->sm_state == S2S_SMS_RESUMING)) {
		s2s_sm_out_failed(st);
	} else if (strcmp(name, "a") != 0) {
		s2s_stream__fail(st, S2SD_EPROTO, "unsupported-stanza-type",
		                 "unexpected stream management element");
	}
}

void
s2s_stream__sm_element(struct s2s_stream *st, const struct stanza *el)
{
	if (st->opts.role == S2S_ROLE_IN)
		s2s_sm_in_element(st, el);
	else
		s2s_sm_out_element(st, el);
}

void
s2s_stream__sm_handled(struct s2s_stream *st)
{
	if (st->sm_state == S2S_SMS_ON)
		s2s_sm_in_handled(st->sm);
}

void
s2s_stream__sm_sent(struct s2s_stream *st, const char *xml, size_t len,
                    const char *local, const char *remote)
{
	if (st->sm_state != S2S_SMS_ON && st->sm_state != S2S_SMS_ENABLING)
		return;
	if (s2s_sm_sent(st->sm, xml, len, local, remote, st->now))
		s2s_sm_send_r(st);
}

void
s2s_stream__sm_final_ack(struct s2s_stream *st)
{
	if ((st->opts.role == S2S_ROLE_IN || st->bidi) &&
	    st->sm_state == S2S_SMS_ON && !st->close_sent)
		s2s_sm_send_a(st, s2s_sm_in_h(st->sm));
}

uint64_t
s2s_stream__sm_deadline(const struct s2s_stream *st)
{
	uint64_t next = UINT64_MAX;

	if ((st->opts.role != S2S_ROLE_OUT && !st->bidi) || st->sm == NULL ||
	    st->state != S2S_ST_READY)
		return UINT64_MAX;
	if (st->sm_wait_until != 0)
		next = st->sm_wait_until;
	if (st->sm_state == S2S_SMS_ON || st->sm_state == S2S_SMS_ENABLING) {
		uint64_t t = s2s_sm_deadline(st->sm);
		next = t < next ? t : next;
	}
	return next;
}

void
s2s_stream__sm_tick(struct s2s_stream *st)
{
	char why[128];
	enum s2s_sm_due due;

	if (s2s_stream__sm_deadline(st) > st->now)
		return;
	due = s2s_sm_tick(st->sm, st->now);
	if (st->sm_wait_until != 0 && st->now >= st->sm_wait_until)
		due = S2S_SM_DEAD;
	if (due == S2S_SM_SEND_R) {
		s2s_sm_send_r(st);
		return;
	}
	if (due != S2S_SM_DEAD)
		return;
	/* XEP-0198 leaves the time-out to us: a peer that does not answer
	 * is as good as gone; what it did not acknowledge is handled by the
	 * owner as for a lost connection. */
	snprintf(why, sizeof(why), "no stream management answer within %llu "
	         "ms", (unsigned long long)st->opts.sm_opts.ack_timeout_ms);
	metrics_inc(METRICS_LIMIT_HITS, "sm_ack_timeout");
	log_warnx(LOG_SUB_S2S, st->opts.connid, "limit hit "
	          "limit=sm_ack_timeout dir=%s remote=%s unacked=%zu",
	          s2s_sm_dir(st), st->remote, s2s_sm_unacked(st->sm));
	s2s_stream__fail(st, S2SD_ETIMEOUT, NULL, why);
}

void
s2s_stream__sm_free(struct s2s_stream *st)
{
	s2s_sm_free(st->sm);
	st->sm = NULL;
	free(st->sm_id);
	free(st->sm_previd);
	st->sm_id = st->sm_previd = NULL;
}

bool
s2s_stream_sm_on(const struct s2s_stream *st)
{
	return st->sm_state != S2S_SMS_OFF;
}

size_t
s2s_stream_sm_unacked(const struct s2s_stream *st)
{
	return st->sm != NULL && (st->opts.role == S2S_ROLE_OUT || st->bidi)
	           ? s2s_sm_unacked(st->sm) : 0;
}

const char *
s2s_stream_sm_id(const struct s2s_stream *st)
{
	return st->sm_id;
}

uint32_t
s2s_stream_sm_h(const struct s2s_stream *st)
{
	return st->sm != NULL ? s2s_sm_in_h(st->sm) : 0;
}

bool
s2s_stream_sm_resumable(const struct s2s_stream *st)
{
	return st->opts.role == S2S_ROLE_IN && st->sm_state == S2S_SMS_ON &&
	       st->sm_id != NULL && !st->closed_reported;
}

void
s2s_stream_sm_forget(struct s2s_stream *st)
{
	free(st->sm_id);
	st->sm_id = NULL;
}

struct s2s_sm_item *
s2s_stream_sm_take(struct s2s_stream *st)
{
	return st->sm != NULL && (st->opts.role == S2S_ROLE_OUT || st->bidi)
	           ? s2s_sm_take(st->sm) : NULL;
}

bool
s2s_stream_pair_at(const struct s2s_stream *st, size_t i, const char **local,
                   const char **remote)
{
	size_t k, n = 0;

	for (k = 0; k < st->npairs; k++) {
		if (st->pairs[k].state != S2S_PAIR_VALID)
			continue;
		if (n++ == i) {
			*local = st->pairs[k].local;
			*remote = st->pairs[k].remote;
			return true;
		}
	}
	return false;
}

bool
s2s_stream_has_remote(const struct s2s_stream *st, const char *remote)
{
	const char *l, *r;
	size_t i;

	for (i = 0; s2s_stream_pair_at(st, i, &l, &r); i++)
		if (strcmp(r, remote) == 0)
			return true;
	return false;
}
