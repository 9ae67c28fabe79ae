/* xmlstream_int.h - what the stream parser needs from stanza.c beyond the
 * public API: building a tree from parser events without the checks and
 * copies meant for callers, and attaching the raw bytes. Not for other
 * modules. */
#ifndef S2SD_XMLSTREAM_INT_H
#define S2SD_XMLSTREAM_INT_H

#include <stdbool.h>
#include <stddef.h>

struct stanza;

/* Append LEN bytes of text (merged with a trailing text node). */
void stanza__add_text_len(struct stanza *st, const char *text, size_t len);
/* Append an attribute the parser has already checked to be unique. NS NULL =
 * unqualified; PREFIX is the prefix it was received with (a hint for the
 * serializer), NULL if none. */
void stanza__add_attr(struct stanza *st, const char *ns, const char *name,
                      const char *prefix, const char *value);
/* Attach a copy of the LEN raw bytes ST was received as. */
void stanza__set_raw(struct stanza *st, const char *raw, size_t len,
                     bool safe);

#endif
