/* stanza.h - a small XML element tree for stanzas and the serializer.
 *
 * A struct stanza is an element: namespace URI ("" = none), local name,
 * attributes (unqualified, or namespaced such as xml:lang) and children that
 * are elements or text, in order. Adjacent text is kept as one text node.
 * A root (from stanza_new, stanza_copy, stanza_error_reply or the stream
 * parser) is owned by the caller and freed with stanza_free(); children are
 * owned by their parent, and pointers to them stay valid until the root is
 * freed. Every string argument is copied; every returned string is borrowed
 * from the tree (valid until it is changed or freed) unless said otherwise.
 * Strings are UTF-8 without NUL; the serializer escapes them.
 *
 * A root from xmlstream also carries the raw bytes it was received as, and
 * whether forwarding them verbatim is namespace-safe (see stanza_raw). Any
 * change to the tree drops the raw bytes. */
#ifndef S2SD_STANZA_H
#define S2SD_STANZA_H

#include <stdbool.h>
#include <stddef.h>

#define STANZA_NS_XML "http://www.w3.org/XML/1998/namespace"
#define STANZA_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

struct stanza;
struct util_buf;

/* New root element. NS NULL means no namespace. Returns owned. */
struct stanza *stanza_new(const char *ns, const char *name);
/* Free a root and everything under it. NULL ok; a child is a fatal error. */
void stanza_free(struct stanza *st);
/* Deep copy as a new root (owned), raw bytes included when ST has them. */
struct stanza *stanza_copy(const struct stanza *st);

const char *stanza_name(const struct stanza *st);
const char *stanza_ns(const struct stanza *st);          /* never NULL */
struct stanza *stanza_parent(const struct stanza *st);   /* NULL for a root */

/* Attribute value or NULL: unqualified NAME, or NAME in namespace NS. */
const char *stanza_attr(const struct stanza *st, const char *name);
const char *stanza_attr_ns(const struct stanza *st, const char *ns,
                           const char *name);
/* Add or replace. NS NULL = unqualified. Names with ':' or "xmlns" and the
 * xmlns namespace are programming errors (fatal). */
void stanza_set_attr(struct stanza *st, const char *name, const char *value);
void stanza_set_attr_ns(struct stanza *st, const char *ns, const char *name,
                        const char *value);
void stanza_del_attr(struct stanza *st, const char *name);
void stanza_del_attr_ns(struct stanza *st, const char *ns, const char *name);
/* Attributes in order: I < stanza_attr_count(); NS is NULL if unqualified. */
size_t stanza_attr_count(const struct stanza *st);
void stanza_attr_at(const struct stanza *st, size_t i, const char **ns,
                    const char **name, const char **value);

/* Element children only, in order; NULL at the end. */
struct stanza *stanza_first_child(const struct stanza *st);
struct stanza *stanza_next(const struct stanza *child);
/* First child element with that namespace (NULL: any) and NAME. */
struct stanza *stanza_child(const struct stanza *st, const char *ns,
                            const char *name);
/* All children, text nodes included. stanza_node_text() gives a text node's
 * text (borrowed) and NULL for an element. */
struct stanza *stanza_first_node(const struct stanza *st);
struct stanza *stanza_next_node(const struct stanza *node);
const char *stanza_node_text(const struct stanza *node);
/* Concatenated text of ST's direct text children; returns owned (free()),
 * "" when there is none. */
char *stanza_text(const struct stanza *st);

/* Append a child element (NS NULL: the parent's namespace); the parent owns
 * it and the returned pointer is borrowed. */
struct stanza *stanza_add_child(struct stanza *parent, const char *ns,
                                const char *name);
void stanza_add_text(struct stanza *st, const char *text);
/* Every element of the tree in namespace FROM moves to namespace TO (the
 * content namespace of another stream: jabber:server to
 * jabber:component:accept). Raw bytes survive when they are safe. */
void stanza_rename_ns(struct stanza *st, const char *from, const char *to);

/* Append ST to OUT so that, inside a stream whose default namespace is
 * CONTENT_NS (NULL = none), it means the same element: no xmlns where the
 * namespace is inherited, declarations for the others, generated prefixes for
 * namespaced attributes, everything escaped. */
void stanza_serialize(const struct stanza *st, const char *content_ns,
                      struct util_buf *out);
/* The bytes ST was received as (borrowed), or NULL: not parsed, or changed.
 * They are safe to forward verbatim into a stream whose default namespace is
 * stanza_ns(ST) when stanza_raw_is_safe(): they declare everything they use
 * except that default namespace. */
const char *stanza_raw(const struct stanza *st, size_t *len);
bool stanza_raw_is_safe(const struct stanza *st);
/* Forwarding: the raw bytes when safe for CONTENT_NS, else serialize. */
void stanza_write(const struct stanza *st, const char *content_ns,
                  struct util_buf *out);

/* Append LEN bytes of S to OUT escaped as XML text (ATTR false) or as a
 * '-quoted attribute value (ATTR true): for the few places that write a
 * tag by hand (stream headers, prefixed elements). */
void stanza_escape(struct util_buf *out, const char *s, size_t len,
                   bool attr);

/* A message (any type but error), presence of a subscription type or iq
 * get/set in jabber:server, jabber:client or jabber:component:accept: a
 * stanza that is answered with an error when it cannot be delivered. Other
 * presence (available, unavailable, probe) is not: RFC 6121 8.5 has it
 * silently ignored, and bouncing broadcasts would flood the sender. */
bool stanza_is_bounceable(const struct stanza *st);
/* The RFC 6120 8.3 error reply to ST (returns owned): same element, to and
 * from swapped, id copied, type='error', <error type=TYPE><CONDITION/>
 * [<text>TEXT</text>]</error>. TEXT may be NULL. The original payload is
 * not included. */
struct stanza *stanza_error_reply(const struct stanza *st, const char *type,
                                  const char *condition, const char *text);

#endif
