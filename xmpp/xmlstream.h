/* xmlstream.h - incremental XMPP stream parser (RFC 6120 restricted XML on
 * libexpat). No I/O: the caller feeds the bytes it read and gets events.
 *
 * Events, in stream order, each fired from inside xmlstream_feed(): open
 * (the <stream:stream> header; HDR is borrowed, valid until reset or free),
 * stanza (each complete top-level element; the callback takes it and frees
 * it with stanza_free), close (</stream:stream>) and error (once; DETAIL is
 * borrowed for the call). The same bytes give the same events however they
 * are split between calls. A callback may call xmlstream_stop() or
 * xmlstream_reset() but never xmlstream_feed() or xmlstream_free() (fatal).
 *
 * Restricted XML (RFC 6120 11.1: DTD, entity declarations and references
 * other than the five predefined, comments, processing instructions) is
 * S2SD_EXML_RESTRICTED; the XML declaration is allowed at the very start,
 * with UTF-8 only (else S2SD_EXML_ENCODING). Malformed input, NUL bytes and
 * text other than white space between stanzas (reported at the next event)
 * are S2SD_EXML_MALFORMED; a root that is not {streams}stream is
 * S2SD_EXML_NAMESPACE. White space after </stream:stream> is ignored;
 * anything else is S2SD_EXML_CLOSED. A token already longer than max_stanza
 * is refused (S2SD_EXML_LIMIT) without waiting for its end, so a peer never
 * makes us hold more than max_stanza bytes (plus one read). */
#ifndef S2SD_XMLSTREAM_H
#define S2SD_XMLSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#define XMLSTREAM_NS_STREAMS "http://etherx.jabber.org/streams"

struct xmlstream;
struct stanza;

/* Limits (0 = default). S2SD_EXML_LIMIT when one is passed;
 * xmlstream_limit() then names it. Text is counted per element (all the
 * character data directly inside one element, after entity decoding): that
 * bounds the longest string a consumer gets from stanza_text(), which the
 * stanza size alone does not (a whole stanza's text is already bounded by
 * max_stanza, as decoding never makes text longer). */
struct xmlstream_opts {
	size_t max_stanza;   /* raw bytes of one top-level element: 512 KiB */
	unsigned max_depth;  /* nesting in a stanza, the stanza itself is 1: 64 */
	unsigned max_attrs;  /* attributes + xmlns declarations per element: 64 */
	size_t max_attr_len; /* bytes of one attribute value (decoded): 4 KiB */
	size_t max_text;     /* bytes of text in one element (decoded): 256 KiB */
};

typedef void xmlstream_open_fn(void *arg, const struct stanza *hdr);
typedef void xmlstream_stanza_fn(void *arg, struct stanza *st);
typedef void xmlstream_close_fn(void *arg);
typedef void xmlstream_error_fn(void *arg, int err, const char *detail);

/* Any member may be NULL (a stanza nobody takes is freed). */
struct xmlstream_cbs {
	xmlstream_open_fn *open;
	xmlstream_stanza_fn *stanza;
	xmlstream_close_fn *close;
	xmlstream_error_fn *error;
};

/* OPTS (NULL = defaults) and CBS are copied. Returns owned. */
struct xmlstream *xmlstream_new(const struct xmlstream_opts *opts,
                                const struct xmlstream_cbs *cbs, void *arg);
void xmlstream_free(struct xmlstream *xs);   /* NULL ok; not from a callback */

/* Parse LEN bytes (borrowed). Returns 0, or the number of trailing bytes
 * left unparsed because a callback called xmlstream_stop() or
 * xmlstream_reset() (after STARTTLS such bytes came in clear: drop them), or
 * the negative S2SD_EXML_* error (also on every later call), or -ECANCELED
 * once stopped. */
int xmlstream_feed(struct xmlstream *xs, const void *buf, size_t len);
/* Deliver no more events, in this feed or later. */
void xmlstream_stop(struct xmlstream *xs);
/* Stream restart (after STARTTLS or SASL): forget the header, namespaces,
 * errors and buffered input; expect a new header. From a callback, the rest
 * of the current buffer is not parsed. */
void xmlstream_reset(struct xmlstream *xs);
/* For an idle stream: between top-level elements, with no partial token
 * held, free the parser and buffers (some 10 KiB); the next feed rebuilds
 * them and goes on as if nothing happened. Not from a callback. True when
 * compact (now or already), false when the stream is not at such a point
 * (nothing changes). xmlstream_is_compact: no parser or buffer held. */
bool xmlstream_compact(struct xmlstream *xs);
bool xmlstream_is_compact(const struct xmlstream *xs);

/* The header of the current stream (borrowed), NULL before it arrived. */
const struct stanza *xmlstream_header(const struct xmlstream *xs);
/* After S2SD_EXML_LIMIT: the setting name of the limit that was passed
 * ("max_stanza_size", "max_depth", "max_attrs", "max_attr_len",
 * "max_text_len"); NULL otherwise. Static string. */
const char *xmlstream_limit(const struct xmlstream *xs);
/* Namespaces declared on the header: the default (content) namespace, ""
 * when none; the URI of PREFIX or NULL; the I-th declaration (PREFIX NULL for
 * the default), false past the last. Strings borrowed like the header. */
const char *xmlstream_content_ns(const struct xmlstream *xs);
const char *xmlstream_prefix_ns(const struct xmlstream *xs,
                                const char *prefix);
bool xmlstream_nsdecl(const struct xmlstream *xs, size_t i,
                      const char **prefix, const char **uri);

#endif
