/* s2s_stream_int.h - shared by s2s_stream.c (core: input, output, errors,
 * closing), s2s_stream_in.c (receiving role) and s2s_stream_out.c
 * (initiating role). Not for other modules. */
#ifndef S2SD_S2S_STREAM_INT_H
#define S2SD_S2S_STREAM_INT_H

#include "cm/util.h"
#include "s2s/s2s_stream.h"

#define S2S_NS_SERVER "jabber:server"
#define S2S_NS_DIALBACK "jabber:server:dialback"
#define S2S_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define S2S_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define S2S_NS_STREAM_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define S2S_NS_DB_FEATURE "urn:xmpp:features:dialback"
#define S2S_NS_LIMITS "urn:xmpp:stream-limits:0"
/* XEP-0288: the request, and the stream feature. */
#define S2S_NS_BIDI "urn:xmpp:bidi"
#define S2S_NS_BIDI_FEATURE "urn:xmpp:features:bidi"

#define S2S_DOMAIN_MAX 1024     /* prepared domain plus NUL */
#define S2S_MAX_PAIRS 64        /* authenticated pairs on one stream */
#define S2S_MAX_AUTH_TRIES 3    /* SASL or dialback attempts per stream */
#define S2S_DEFAULT_MAX_STANZA (512 * 1024)     /* xmlstream's default */

enum s2s_state {
	S2S_ST_INIT,
	S2S_ST_WAIT_HEADER,     /* both: the peer's stream header */
	S2S_ST_WAIT_FEATURES,   /* OUT */
	S2S_ST_WAIT_PROCEED,    /* OUT: sent <starttls/> */
	S2S_ST_TLS,             /* both: handshake under way */
	S2S_ST_WAIT_SASL,       /* OUT: sent <auth/> */
	S2S_ST_WAIT_DIALBACK,   /* OUT: sent <db:result/> */
	S2S_ST_NEGOTIATING,     /* IN: features sent, nothing authenticated */
	S2S_ST_READY,           /* both: stanzas flow */
	S2S_ST_CLOSING,         /* we sent </stream:stream> */
	S2S_ST_CLOSED,
	S2S_ST_COUNT,
};

/* XEP-0198 on this stream (s2s_stream_sm.c). */
enum s2s_sm_state {
	S2S_SMS_OFF,
	S2S_SMS_ENABLING,       /* OUT: <enable/> sent */
	S2S_SMS_RESUMING,       /* OUT: <resume/> sent */
	S2S_SMS_ON,
};

enum s2s_pair_state { S2S_PAIR_PENDING, S2S_PAIR_VALID };

struct s2s_pair {
	char *local;
	char *remote;
	enum s2s_auth how;
	enum s2s_pair_state state;
};

/* A <db:verify/> request waiting for the stream, or for its answer. */
struct s2s_verify_req {
	char *local, *remote, *id, *key;
	bool sent;
	struct s2s_verify_req *next;
};

struct s2s_stream {
	struct s2s_stream_opts opts;
	struct s2s_stream_cbs cbs;
	void *arg;
	enum s2s_state state;
	struct xmlstream *xml;
	uint64_t deadline;
	uint64_t now;           /* time of the current call */
	uint64_t last_input;    /* time of the last bytes from the peer */
	bool compact_due;       /* input came since the parser was compacted */
	char *local;            /* our domain on this stream */
	char *remote;           /* the peer's domain (header 'from', auth) */
	char *id;               /* IN: ours; OUT: the peer's */
	bool header_sent;       /* our header on the current (restarted) stream */
	bool peer_opened;       /* the peer sent a header at least once */
	bool peer_v1;           /* ... with version='1.0' */
	bool tls_on;
	bool sasl_done;         /* SASL succeeded (stream restarted) */
	bool tls_offered;       /* IN: <starttls/> was in our features */
	bool sasl_offered;      /* IN: EXTERNAL was in our features */
	bool db_offered;        /* OUT: the peer offers dialback */
	bool sasl_failed;       /* OUT: EXTERNAL failed once */
	bool close_sent;
	bool closed_reported;
	unsigned auth_tries;
	size_t peer_max_bytes;  /* OUT: XEP-0478 max-bytes, 0: none */
	enum s2s_auth auth;     /* how the first pair was authenticated */
	struct s2s_pair *pairs; /* grown on demand: most streams have one */
	size_t npairs, cappairs;
	struct s2s_verify_req *verifies;
	struct s2s_stream_sm_cbs smcbs;
	struct s2s_sm *sm;      /* XEP-0198 counters, NULL until used */
	enum s2s_sm_state sm_state;
	bool sm_offered;        /* OUT: the peer offers it */
	bool sm_tried;          /* OUT: enable or resume was sent */
	char *sm_id;            /* resumable session (IN ours, OUT peer's) */
	char *sm_previd;        /* OUT: the session being resumed */
	uint64_t sm_wait_until; /* OUT: answer to enable/resume due */
	bool bidi_offered;      /* XEP-0288. IN: in our features; OUT: in
	                         * the peer's */
	bool bidi;              /* negotiated: IN sends, OUT receives too */
};

/* Core (s2s_stream.c). */
void s2s_stream__enter(struct s2s_stream *st, enum s2s_state to);
void s2s_stream__send(struct s2s_stream *st, const char *buf, size_t len);
void s2s_stream__send_elem(struct s2s_stream *st, const struct stanza *el);
void s2s_stream__send_header(struct s2s_stream *st, const char *from,
                             const char *to);
/* <db:NAME from to [id] [type]>TEXT | error</db:NAME>, written with the
 * db: prefix of our header: ejabberd matches dialback elements by that
 * prefixed name. COND (NULL: none) makes it an error reply. */
void s2s_stream__send_db(struct s2s_stream *st, const char *name,
                         const char *from, const char *to, const char *id,
                         const char *type, const char *text,
                         const char *cond, const char *cond_text);
/* Stream error COND (NULL: the stream condition for ERR) with TEXT, close,
 * report closed(ERR). */
void s2s_stream__fail(struct s2s_stream *st, int err, const char *cond,
                      const char *text);
/* The same with APP (serialised XML, may be NULL) after the condition: an
 * application-specific condition (RFC 6120 4.9.4). */
void s2s_stream__fail_app(struct s2s_stream *st, int err, const char *cond,
                          const char *text, const char *app);
/* Report closed(ERR, WHY) once, without sending anything. */
void s2s_stream__report_closed(struct s2s_stream *st, int err,
                               const char *why);
void s2s_stream__restart(struct s2s_stream *st);
bool s2s_stream__is(const struct stanza *el, const char *ns,
                    const char *name);
/* Prepare attribute NAME of EL as a domain into OUT; false if absent or
 * invalid. */
bool s2s_stream__attr_domain(const struct stanza *el, const char *name,
                             char *out, size_t outlen);
struct s2s_pair *s2s_stream__pair(struct s2s_stream *st, const char *local,
                                  const char *remote);
struct s2s_pair *s2s_stream__pair_add(struct s2s_stream *st,
                                      const char *local, const char *remote,
                                      enum s2s_auth how,
                                      enum s2s_pair_state state);
void s2s_stream__pair_valid(struct s2s_stream *st, struct s2s_pair *p);
bool s2s_stream__dialback_usable(const struct s2s_stream *st);
void s2s_stream__setstr(char **dst, const char *src);

/* XEP-0198 (s2s_stream_sm.c). */
void s2s_stream__sm_features(struct s2s_stream *st, struct util_buf *b);
void s2s_stream__sm_out_features(struct s2s_stream *st,
                                 const struct stanza *features);
/* OUT: the first pair is valid (after the authenticated callback). */
void s2s_stream__sm_after_auth(struct s2s_stream *st);
/* An element in the XEP-0198 namespace (borrowed). */
void s2s_stream__sm_element(struct s2s_stream *st, const struct stanza *el);
/* IN: a stanza is handed to the stanza callback. */
void s2s_stream__sm_handled(struct s2s_stream *st);
/* OUT: the LEN bytes at XML (one stanza, borrowed) were written for
 * (LOCAL, REMOTE). */
void s2s_stream__sm_sent(struct s2s_stream *st, const char *xml, size_t len,
                         const char *local, const char *remote);
/* IN: our last <a/> before the closing tag. */
void s2s_stream__sm_final_ack(struct s2s_stream *st);
uint64_t s2s_stream__sm_deadline(const struct s2s_stream *st);
void s2s_stream__sm_tick(struct s2s_stream *st);
void s2s_stream__sm_free(struct s2s_stream *st);

/* XEP-0288 (s2s_stream_bidi.c). */
void s2s_stream__bidi_features(struct s2s_stream *st, struct util_buf *b);
bool s2s_stream__bidi_is_request(const struct stanza *el);
/* IN: the peer's <bidi/> (either namespace). */
void s2s_stream__bidi_request(struct s2s_stream *st);
/* OUT: note whether FEATURES offer it; before authenticating, request it
 * when the reverse direction may be accepted. */
void s2s_stream__bidi_out_features(struct s2s_stream *st,
                                   const struct stanza *features);
void s2s_stream__bidi_out_request(struct s2s_stream *st);
/* OUT, bidi on: a stanza from the peer (taken). */
void s2s_stream__bidi_out_stanza(struct s2s_stream *st, struct stanza *el);
/* OUT, bidi on: the peer asks to authenticate one of its domains with
 * dialback on our stream: refused with a dialback error. */
void s2s_stream__bidi_out_db_request(struct s2s_stream *st,
                                     const struct stanza *el);

/* Receiving role (s2s_stream_in.c). */
void s2s_stream__in_header(struct s2s_stream *st, const struct stanza *hdr);
void s2s_stream__in_element(struct s2s_stream *st, struct stanza *el);
void s2s_stream__in_tls_done(struct s2s_stream *st);
void s2s_stream__in_verified(struct s2s_stream *st, const char *local,
                             const char *remote, bool valid, int err);

/* Initiating role (s2s_stream_out.c). */
void s2s_stream__out_start(struct s2s_stream *st);
void s2s_stream__out_header(struct s2s_stream *st, const struct stanza *hdr);
void s2s_stream__out_element(struct s2s_stream *st, struct stanza *el);
void s2s_stream__out_tls_done(struct s2s_stream *st);
/* Send every queued <db:verify/> once the stream can carry them. */
void s2s_stream__out_flush_verifies(struct s2s_stream *st);
/* Report pending piggybacked pairs as refused with ERR (closing). */
void s2s_stream__out_fail_pairs(struct s2s_stream *st, int err);
/* Answer every open verification with ERR (the stream is ending). */
void s2s_stream__out_fail_verifies(struct s2s_stream *st, int err);

#endif
