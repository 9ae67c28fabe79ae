/* cluster_link.c - the router-to-router link protocol core; see
 * cluster_link.h.
 *
 * States: OPENING (header and hello sent, waiting for the peer's), UP,
 * CLOSED. Acknowledgements are batched: after each input buffer, one
 * <ack/> covers every <fwd/> it carried, which keeps a busy link at one
 * small element per read rather than one per stanza. */
#include "router/cluster_link.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "xmpp/stanza.h"

#define CLUSTER_NS_STREAM_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define CLUSTER_NONCE_LEN 16
#define CLUSTER_DEFAULT_UNACKED 10000
#define CLUSTER_FWD_OVERHEAD 1024       /* the <fwd> wrapper's bytes */
#define CLUSTER_HEX256 65

enum cluster_link_state { CL_OPENING, CL_UP, CL_CLOSED };

struct cluster_link {
	enum cluster_link_state state;
	struct cluster_link_opts opts;
	struct cluster_link_cbs cbs;
	void *arg;
	struct xmlstream *xml;
	char *local, *peer;
	uint8_t nonce[CLUSTER_NONCE_LEN], peer_nonce[CLUSTER_NONCE_LEN];
	bool have_summary;
	struct cluster_summary sum;     /* ours; strings owned below */
	char *sum_security, *sum_default, *sum_digest, *sum_secret;
	uint64_t tx_seq;                /* last seq sent */
	uint64_t rx_seq, rx_acked;      /* last seq received / acked */
	struct cluster_fwd *unacked, **unacked_tail;
	size_t nunacked;
	uint64_t forwarded, received;
	bool close_sent;
	char peer_db[CLUSTER_HEX256];   /* the peer's dialback digest, or "" */
};

static void
cluster_send(struct cluster_link *l, const char *buf, size_t len)
{
	if (log_wants(LOG_LEVEL_TRACE, LOG_SUB_XML))
		log_trace(LOG_SUB_XML, l->opts.connid, "cluster send %.*s",
		          (int)len, buf);
	l->cbs.send(l->arg, buf, len);
}

static void
cluster_send_buf(struct cluster_link *l, struct util_buf *b)
{
	cluster_send(l, b->data, b->len);
	util_buf_free(b);
}

static void
cluster_attr(struct util_buf *b, const char *name, const char *value)
{
	util_buf_printf(b, " %s='", name);
	stanza_escape(b, value, strlen(value), true);
	util_buf_puts(b, "'");
}

/* Names of nodes and home nodes: letters, digits, '.', '-', '_'. */
static bool
cluster_name_ok(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0' || strlen(s) > CLUSTER_NAME_MAX)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr(".-_", s[i]) == NULL)
			return false;
	return true;
}

static void
cluster_report_closed(struct cluster_link *l, int err, const char *why)
{
	if (l->state == CL_CLOSED)
		return;
	xmlstream_stop(l->xml);
	log_trace(LOG_SUB_ROUTER, l->opts.connid, "cluster link state %s -> "
	          "closed", l->state == CL_UP ? "up" : "opening");
	l->state = CL_CLOSED;
	l->cbs.closed(l->arg, err, why != NULL ? why : err_str(err));
}

static void
cluster_send_close(struct cluster_link *l)
{
	if (l->close_sent)
		return;
	l->close_sent = true;
	cluster_send(l, "</stream:stream>", 16);
}

void
cluster_link_close(struct cluster_link *l, int err, const char *condition,
                   const char *text)
{
	struct util_buf b = {0};

	if (l->state == CL_CLOSED)
		return;
	if (condition != NULL && !l->close_sent) {
		log_info(LOG_SUB_ROUTER, l->opts.connid, "cluster stream-error "
		         "peer=%s condition=%s reason=\"%s\"",
		         l->peer != NULL ? l->peer : "-", condition,
		         text != NULL ? text : err_str(err));
		util_buf_printf(&b, "<stream:error><%s xmlns='"
		                CLUSTER_NS_STREAM_ERR "'/>", condition);
		if (text != NULL) {
			util_buf_puts(&b, "<text xmlns='" CLUSTER_NS_STREAM_ERR
			                  "'>");
			stanza_escape(&b, text, strlen(text), false);
			util_buf_puts(&b, "</text>");
		}
		util_buf_puts(&b, "</stream:error>");
		cluster_send_buf(l, &b);
	}
	cluster_send_close(l);
	cluster_report_closed(l, err, text);
}

/* ---- summary ---- */

/* HMAC-SHA256(SHA-256(secret), "s2sd-cluster-dialback" + both nonces in a
 * fixed order): both ends compute the same value for the same secret, and
 * it differs on every link. */
static void
cluster_dialback_digest(const struct cluster_link *l, const char *secret,
                        char hex[CLUSTER_HEX256])
{
	static const char label[] = "s2sd-cluster-dialback";
	uint8_t key[32], mac[32], msg[sizeof(label) + 2 * CLUSTER_NONCE_LEN];
	const uint8_t *a = l->nonce, *b = l->peer_nonce;

	if (memcmp(a, b, CLUSTER_NONCE_LEN) > 0) {
		a = l->peer_nonce;
		b = l->nonce;
	}
	memcpy(msg, label, sizeof(label));
	memcpy(msg + sizeof(label), a, CLUSTER_NONCE_LEN);
	memcpy(msg + sizeof(label) + CLUSTER_NONCE_LEN, b, CLUSTER_NONCE_LEN);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, secret, strlen(secret), key) < 0 ||
	    gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, sizeof(key), msg,
	                     sizeof(msg), mac) < 0)
		fatalx("%s: SHA-256 unavailable", __func__);
	util_hex(mac, sizeof(mac), hex);
	explicit_bzero(key, sizeof(key));
}

static const char *
cluster_yn(bool v)
{
	return v ? "yes" : "no";
}

static void
cluster_send_summary(struct cluster_link *l)
{
	const struct cluster_summary *s = &l->sum;
	struct util_buf b = {0};
	char hex[CLUSTER_HEX256];

	util_buf_puts(&b, "<summary");
	cluster_attr(&b, "federation", cluster_yn(s->federation));
	cluster_attr(&b, "security", s->security);
	cluster_attr(&b, "valid-certs", cluster_yn(s->valid_certs));
	cluster_attr(&b, "sasl-in", cluster_yn(s->sasl_in));
	cluster_attr(&b, "sasl-out", cluster_yn(s->sasl_out));
	cluster_attr(&b, "policy-default", s->policy_default);
	cluster_attr(&b, "policy", s->policy_digest);
	if (s->dialback_secret != NULL)
		cluster_dialback_digest(l, s->dialback_secret, hex);
	cluster_attr(&b, "dialback", s->dialback_secret != NULL ? hex : "none");
	util_buf_puts(&b, "/>");
	cluster_send_buf(l, &b);
}

static void
cluster_sum_free(struct cluster_link *l)
{
	if (l->sum_secret != NULL)
		explicit_bzero(l->sum_secret, strlen(l->sum_secret));
	free(l->sum_secret);
	free(l->sum_security);
	free(l->sum_default);
	free(l->sum_digest);
	l->sum_secret = l->sum_security = l->sum_default = l->sum_digest = NULL;
}

void
cluster_link_set_summary(struct cluster_link *l,
                         const struct cluster_summary *s)
{
	cluster_sum_free(l);
	l->sum = *s;
	l->sum.security = l->sum_security = xstrdup(s->security);
	l->sum.policy_default = l->sum_default = xstrdup(s->policy_default);
	l->sum.policy_digest = l->sum_digest = xstrdup(s->policy_digest);
	l->sum.dialback_secret = l->sum_secret =
	    s->dialback_secret != NULL ? xstrdup(s->dialback_secret) : NULL;
	l->have_summary = true;
	if (l->state == CL_UP)
		cluster_send_summary(l);
}

static bool
cluster_bool_attr(const struct stanza *el, const char *name, bool *out)
{
	const char *v = stanza_attr(el, name);

	if (v == NULL || (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0))
		return false;
	*out = strcmp(v, "yes") == 0;
	return true;
}

static bool
cluster_word_attr(const struct stanza *el, const char *name, size_t max,
                  const char **out)
{
	const char *v = stanza_attr(el, name);
	size_t i;

	if (v == NULL || *v == '\0' || strlen(v) > max)
		return false;
	for (i = 0; v[i] != '\0'; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '-')
			return false;
	*out = v;
	return true;
}

bool
cluster_link_dialback_same(const struct cluster_link *l)
{
	char mine[CLUSTER_HEX256];

	if (l->peer_db[0] == '\0' || !l->have_summary ||
	    l->sum.dialback_secret == NULL)
		return false;
	cluster_dialback_digest(l, l->sum.dialback_secret, mine);
	return strlen(l->peer_db) == strlen(mine) &&
	       util_memeq_ct(l->peer_db, mine, strlen(mine));
}

static void
cluster_on_summary(struct cluster_link *l, const struct stanza *el)
{
	struct cluster_summary s = {0};
	const char *db = NULL;

	if (!cluster_bool_attr(el, "federation", &s.federation) ||
	    !cluster_bool_attr(el, "valid-certs", &s.valid_certs) ||
	    !cluster_bool_attr(el, "sasl-in", &s.sasl_in) ||
	    !cluster_bool_attr(el, "sasl-out", &s.sasl_out) ||
	    !cluster_word_attr(el, "security", 16, &s.security) ||
	    !cluster_word_attr(el, "policy-default", 16, &s.policy_default) ||
	    !cluster_word_attr(el, "policy", 64, &s.policy_digest) ||
	    !cluster_word_attr(el, "dialback", 64, &db)) {
		cluster_link_close(l, S2SD_EPROTO, "bad-format",
		                   "malformed summary");
		return;
	}
	s.has_dialback = strcmp(db, "none") != 0;
	snprintf(l->peer_db, sizeof(l->peer_db), "%s", s.has_dialback ? db : "");
	s.dialback_same = cluster_link_dialback_same(l);
	l->cbs.summary(l->arg, &s);
}

/* ---- hello, header ---- */

static void
cluster_send_header(struct cluster_link *l)
{
	struct util_buf b = {0};
	char hex[2 * CLUSTER_NONCE_LEN + 1];

	util_buf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns:stream='"
	                  XMLSTREAM_NS_STREAMS "' xmlns='" CLUSTER_LINK_NS
	                  "' version='1.0'");
	cluster_attr(&b, "from", l->local);
	util_buf_puts(&b, "><hello");
	cluster_attr(&b, "node", l->local);
	util_hex(l->nonce, sizeof(l->nonce), hex);
	cluster_attr(&b, "nonce", hex);
	util_buf_puts(&b, "/>");
	cluster_send_buf(l, &b);
}

static int
cluster_unhex(const char *s, uint8_t *out, size_t len)
{
	size_t i;
	unsigned v;

	if (s == NULL || strlen(s) != 2 * len)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)s[2 * i]) ||
		    !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static void
cluster_on_hello(struct cluster_link *l, const struct stanza *el)
{
	const char *node = stanza_attr(el, "node");

	if (!cluster_name_ok(node) ||
	    cluster_unhex(stanza_attr(el, "nonce"), l->peer_nonce,
	                  CLUSTER_NONCE_LEN) < 0) {
		cluster_link_close(l, S2SD_EPROTO, "bad-format",
		                   "malformed hello");
		return;
	}
	if (l->cbs.hello(l->arg, node) < 0) {
		cluster_link_close(l, S2SD_EAUTH, "not-authorized",
		                   "unknown or unexpected node name");
		return;
	}
	l->peer = xstrdup(node);
	l->state = CL_UP;
	log_debug(LOG_SUB_ROUTER, l->opts.connid, "cluster link state opening "
	          "-> up peer=%s", node);
	if (l->have_summary)
		cluster_send_summary(l);
}

static void
cluster_on_open(void *arg, const struct stanza *hdr)
{
	struct cluster_link *l = arg;

	(void)hdr;
	if (strcmp(xmlstream_content_ns(l->xml), CLUSTER_LINK_NS) != 0)
		cluster_link_close(l, S2SD_EXML_NAMESPACE, "invalid-namespace",
		                   "the content namespace must be "
		                   CLUSTER_LINK_NS);
}

/* ---- forwarding and acknowledgements ---- */

static bool
cluster_seq_attr(const struct stanza *el, uint64_t *out)
{
	const char *v = stanza_attr(el, "seq");
	char *end;

	if (v == NULL || !isdigit((unsigned char)*v) || strlen(v) > 19)
		return false;
	*out = strtoull(v, &end, 10);
	return *end == '\0';
}

static void
cluster_on_ack(struct cluster_link *l, const struct stanza *el)
{
	struct cluster_fwd *f;
	uint64_t seq;

	if (!cluster_seq_attr(el, &seq) || seq > l->tx_seq) {
		cluster_link_close(l, S2SD_EPROTO, "bad-format",
		                   "ack for a stanza never sent");
		return;
	}
	while ((f = l->unacked) != NULL && f->seq <= seq) {
		if ((l->unacked = f->next) == NULL)
			l->unacked_tail = &l->unacked;
		l->nunacked--;
		cluster_fwd_free(f);
	}
}

static bool
cluster_is_stanza(const struct stanza *el)
{
	const char *n = stanza_name(el), *ns = stanza_ns(el);

	return (strcmp(ns, "jabber:server") == 0 ||
	        strcmp(ns, "jabber:component:accept") == 0) &&
	       (strcmp(n, "message") == 0 || strcmp(n, "presence") == 0 ||
	        strcmp(n, "iq") == 0);
}

static void
cluster_on_fwd(struct cluster_link *l, const struct stanza *el)
{
	const char *home = stanza_attr(el, "home");
	const char *origin = stanza_attr(el, "origin");
	const char *remote = stanza_attr(el, "remote");
	struct stanza *ch = stanza_first_child(el);
	uint64_t seq;

	if (!cluster_seq_attr(el, &seq) || seq != l->rx_seq + 1) {
		cluster_link_close(l, S2SD_EPROTO, "bad-format",
		                   "forward out of sequence");
		return;
	}
	if (ch == NULL || stanza_next(ch) != NULL || !cluster_is_stanza(ch) ||
	    (origin != NULL && !cluster_name_ok(origin)) ||
	    (remote != NULL ? strcmp(remote, "yes") != 0 || home != NULL
	                    : !cluster_name_ok(home))) {
		cluster_link_close(l, S2SD_EPROTO, "bad-format",
		                   "malformed forward");
		return;
	}
	l->rx_seq = seq;
	l->received++;
	l->cbs.stanza(l->arg, home, origin, stanza_copy(ch));
}

static void
cluster_on_home(struct cluster_link *l, const struct stanza *el,
                bool attached)
{
	const char *home = stanza_attr(el, "home");

	if (!cluster_name_ok(home)) {
		cluster_link_close(l, S2SD_EPROTO, "bad-format",
		                   "malformed home node name");
		return;
	}
	l->cbs.home(l->arg, home, attached);
}

static bool
cluster_is(const struct stanza *el, const char *ns, const char *name)
{
	return strcmp(stanza_ns(el), ns) == 0 &&
	       strcmp(stanza_name(el), name) == 0;
}

static void
cluster_on_stream_error(struct cluster_link *l, const struct stanza *el)
{
	const char *cond = "undefined-condition";
	const struct stanza *ch;
	char why[128];

	for (ch = stanza_first_child(el); ch != NULL; ch = stanza_next(ch))
		if (strcmp(stanza_ns(ch), CLUSTER_NS_STREAM_ERR) == 0 &&
		    strcmp(stanza_name(ch), "text") != 0)
			cond = stanza_name(ch);
	snprintf(why, sizeof(why), "peer sent stream error %.64s", cond);
	cluster_send_close(l);
	cluster_report_closed(l, S2SD_ESTREAM, why);
}

static void
cluster_on_element(void *arg, struct stanza *el)
{
	struct cluster_link *l = arg;

	if (cluster_is(el, XMLSTREAM_NS_STREAMS, "error"))
		cluster_on_stream_error(l, el);
	else if (l->state == CL_OPENING && cluster_is(el, CLUSTER_LINK_NS,
	                                              "hello"))
		cluster_on_hello(l, el);
	else if (l->state == CL_OPENING)
		cluster_link_close(l, S2SD_EPROTO, "not-authorized",
		                   "hello must come first");
	else if (cluster_is(el, CLUSTER_LINK_NS, "fwd"))
		cluster_on_fwd(l, el);
	else if (cluster_is(el, CLUSTER_LINK_NS, "ack"))
		cluster_on_ack(l, el);
	else if (cluster_is(el, CLUSTER_LINK_NS, "attach"))
		cluster_on_home(l, el, true);
	else if (cluster_is(el, CLUSTER_LINK_NS, "detach"))
		cluster_on_home(l, el, false);
	else if (cluster_is(el, CLUSTER_LINK_NS, "summary"))
		cluster_on_summary(l, el);
	else
		cluster_link_close(l, S2SD_EPROTO, "unsupported-stanza-type",
		                   "unknown element on a cluster link");
	stanza_free(el);
}

static void
cluster_on_close(void *arg)
{
	struct cluster_link *l = arg;
	bool up = l->state == CL_UP;

	cluster_send_close(l);
	cluster_report_closed(l, up ? 0 : S2SD_EPROTO,
	                      up ? "closed by peer"
	                         : "peer closed the stream before its hello");
}

static void
cluster_on_xml_error(void *arg, int err, const char *detail)
{
	struct cluster_link *l = arg;
	const char *limit = xmlstream_limit(l->xml);

	if (err == S2SD_EXML_LIMIT && limit != NULL)
		log_warnx(LOG_SUB_ROUTER, l->opts.connid, "cluster limit hit "
		          "limit=%s peer=%s", limit,
		          l->peer != NULL ? l->peer : "-");
	cluster_link_close(l, err, err_condition(err), detail);
}

/* ---- public ---- */

struct cluster_link *
cluster_link_new(const struct cluster_link_opts *opts,
                 const struct cluster_link_cbs *cbs, void *arg)
{
	static const struct xmlstream_cbs xcbs = {
	    cluster_on_open, cluster_on_element, cluster_on_close,
	    cluster_on_xml_error};
	struct cluster_link *l = xcalloc(1, sizeof(*l));
	struct xmlstream_opts xo = opts->xml;

	l->opts = *opts;
	l->opts.local = NULL;
	l->opts.nonce = NULL;
	if (l->opts.max_unacked == 0)
		l->opts.max_unacked = CLUSTER_DEFAULT_UNACKED;
	l->cbs = *cbs;
	l->arg = arg;
	l->local = xstrdup(opts->local);
	memcpy(l->nonce, opts->nonce, sizeof(l->nonce));
	/* A stanza of the largest size still fits with its wrapper. */
	if (xo.max_stanza != 0)
		xo.max_stanza += CLUSTER_FWD_OVERHEAD;
	if (xo.max_depth != 0)
		xo.max_depth++;
	l->xml = xmlstream_new(&xo, &xcbs, l);
	l->unacked_tail = &l->unacked;
	return l;
}

void
cluster_fwd_free(struct cluster_fwd *f)
{
	if (f == NULL)
		return;
	stanza_free(f->st);
	free(f->home);
	free(f->origin);
	free(f);
}

void
cluster_link_free(struct cluster_link *l)
{
	struct cluster_fwd *f;

	if (l == NULL)
		return;
	while ((f = l->unacked) != NULL) {
		l->unacked = f->next;
		cluster_fwd_free(f);
	}
	xmlstream_free(l->xml);
	cluster_sum_free(l);
	free(l->local);
	free(l->peer);
	free(l);
}

void
cluster_link_start(struct cluster_link *l)
{
	cluster_send_header(l);
}

int
cluster_link_input(struct cluster_link *l, const void *buf, size_t len)
{
	char ack[48];
	int n;

	if (l->state == CL_CLOSED)
		return S2SD_ESTREAM;
	if (log_wants(LOG_LEVEL_TRACE, LOG_SUB_XML))
		log_trace(LOG_SUB_XML, l->opts.connid, "cluster recv %.*s",
		          (int)len, (const char *)buf);
	xmlstream_feed(l->xml, buf, len);
	if (l->state == CL_UP && l->rx_seq > l->rx_acked) {
		n = snprintf(ack, sizeof(ack), "<ack seq='%" PRIu64 "'/>",
		             l->rx_seq);
		cluster_send(l, ack, (size_t)n);
		l->rx_acked = l->rx_seq;
	}
	return l->state == CL_CLOSED ? S2SD_ESTREAM : 0;
}

void
cluster_link_eof(struct cluster_link *l, int err)
{
	cluster_report_closed(l, err, err == 0 ? "connection closed by peer"
	                                       : err_str(err));
}

void
cluster_link_announce(struct cluster_link *l, const char *home,
                      bool attached)
{
	struct util_buf b = {0};

	if (l->state != CL_UP)
		return;
	util_buf_puts(&b, attached ? "<attach" : "<detach");
	cluster_attr(&b, "home", home);
	util_buf_puts(&b, "/>");
	cluster_send_buf(l, &b);
}

int
cluster_link_forward(struct cluster_link *l, const char *home,
                     const char *origin, struct stanza *st)
{
	struct util_buf b = {0};
	struct cluster_fwd *f;

	if (l->state != CL_UP)
		return -ENOTCONN;
	if (l->nunacked >= l->opts.max_unacked)
		return S2SD_ELIMIT;
	f = xcalloc(1, sizeof(*f));
	f->seq = ++l->tx_seq;
	f->home = home != NULL ? xstrdup(home) : NULL;
	f->origin = origin != NULL ? xstrdup(origin) : NULL;
	f->st = st;
	util_buf_printf(&b, "<fwd seq='%" PRIu64 "'", f->seq);
	if (home != NULL)
		cluster_attr(&b, "home", home);
	else
		util_buf_puts(&b, " remote='yes'");
	if (origin != NULL)
		cluster_attr(&b, "origin", origin);
	util_buf_puts(&b, ">");
	stanza_serialize(st, CLUSTER_LINK_NS, &b);
	util_buf_puts(&b, "</fwd>");
	*l->unacked_tail = f;
	l->unacked_tail = &f->next;
	l->nunacked++;
	l->forwarded++;
	cluster_send_buf(l, &b);
	return 0;
}

struct cluster_fwd *
cluster_link_pop_unacked(struct cluster_link *l)
{
	struct cluster_fwd *f = l->unacked;

	if (l->state != CL_CLOSED || f == NULL)
		return NULL;
	if ((l->unacked = f->next) == NULL)
		l->unacked_tail = &l->unacked;
	l->nunacked--;
	f->next = NULL;
	return f;
}

bool
cluster_link_is_up(const struct cluster_link *l)
{
	return l->state == CL_UP;
}

bool
cluster_link_is_closed(const struct cluster_link *l)
{
	return l->state == CL_CLOSED;
}

const char *
cluster_link_peer(const struct cluster_link *l)
{
	return l->peer;
}

size_t
cluster_link_unacked(const struct cluster_link *l)
{
	return l->nunacked;
}

uint64_t
cluster_link_forwarded(const struct cluster_link *l)
{
	return l->forwarded;
}

uint64_t
cluster_link_received(const struct cluster_link *l)
{
	return l->received;
}
