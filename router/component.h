/* component.h - the server side of one XEP-0114 stream (jabber:component:
 * accept): the peer's header names a home node, it proves the node's secret
 * with <handshake>hex SHA-1(stream id + secret)</handshake> (compared in
 * constant time), then exchanges stanzas. Stream errors: host-unknown (no
 * such node), not-authorized (bad or missing handshake), invalid-namespace,
 * connection-timeout (no handshake in time), unsupported-stanza-type, the
 * XML ones, and whatever the owner closes with (conflict, system-shutdown).
 *
 * Pure: no socket, no clock read, no randomness (the stream id comes in the
 * options). The owner feeds what it read with component_input(), arms a
 * timer for component_deadline() and calls component_tick(). Callbacks fire
 * from inside the call that caused them, never from _new; they may call
 * component_send() and component_close() but not component_free(). Strings
 * passed to callbacks are borrowed for the call; stanzas are taken. */
#ifndef S2SD_COMPONENT_H
#define S2SD_COMPONENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xmpp/xmlstream.h"

#define COMPONENT_NS "jabber:component:accept"

struct stanza;
struct component;

struct component_opts {
	const char *stream_id;          /* copied; random, from the caller */
	uint64_t handshake_timeout_ms;  /* header and handshake; 0: 30 s */
	uint64_t close_timeout_ms;      /* wait for the peer's close; 0: 5 s */
	struct xmlstream_opts xml;
	uint64_t connid;                /* for log lines */
};

struct component_cbs {
	/* Bytes for the peer. */
	void (*send)(void *arg, const char *buf, size_t len);
	/* The secret of home node NAME (the header's 'to'), NULL if unknown. */
	const char *(*secret)(void *arg, const char *name);
	/* The handshake for NAME is valid: 0 accepts it, a negative code
	 * refuses it with a conflict stream error (TEXT says why). */
	int (*authenticated)(void *arg, const char *name, char *text,
	                     size_t textlen);
	/* <handshake/> was sent: stanzas may flow both ways now. */
	void (*ready)(void *arg);
	/* A message, presence or iq from the ready stream (takes ST). */
	void (*stanza)(void *arg, struct stanza *st);
	/* Over, once: ERR 0 for a clean close, else the reason. The owner
	 * closes the connection once the bytes already sent are written. */
	void (*closed)(void *arg, int err, const char *why);
};

/* OPTS (and its strings) and CBS are copied. Returns owned. */
struct component *component_new(const struct component_opts *opts,
                                const struct component_cbs *cbs, void *arg,
                                uint64_t now);
void component_free(struct component *c);       /* NULL ok; not from a cb */

/* Bytes from the peer (borrowed). 0, or the error that closed the stream. */
int component_input(struct component *c, const void *buf, size_t len,
                    uint64_t now);
/* The connection is gone (EOF: ERR 0, or an I/O error): report closed. */
void component_eof(struct component *c, int err);
/* Write ST (borrowed; elements in COMPONENT_NS). 0, or -ENOTCONN when the
 * stream is not ready. */
int component_send(struct component *c, const struct stanza *st);
/* Close: CONDITION NULL sends </stream:stream> and waits for the peer's
 * close; otherwise a stream error CONDITION (TEXT may be NULL) first, and
 * closed(ERR) at once. No-op once closing. */
void component_close(struct component *c, int err, const char *condition,
                     const char *text, uint64_t now);
/* Next time-out (UINT64_MAX: none) and what to call when it passes. */
uint64_t component_deadline(const struct component *c);
void component_tick(struct component *c, uint64_t now);

/* The home node name from the peer's header (NULL before it), the stream
 * id, the state for logs. Borrowed. */
const char *component_name(const struct component *c);
const char *component_id(const struct component *c);
bool component_is_ready(const struct component *c);
bool component_is_closed(const struct component *c);
const char *component_state_name(const struct component *c);

#endif
