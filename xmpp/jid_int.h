/* jid_int.h - internals of jid.c that its tests call; nothing else includes
 * this file. */
#ifndef S2SD_JID_INT_H
#define S2SD_JID_INT_H

#include <stdbool.h>
#include <stddef.h>

enum jid__part { JID__NODE, JID__DOMAIN, JID__RESOURCE };

/* Prepare one part (LEN bytes of IN) exactly as jid_parse() does, writing
 * the canonical form into OUT (JID_PART_MAX + 1 bytes). FULL forces the
 * libidn path even for ASCII input, so tests can check that the ASCII fast
 * path gives identical results and reasons. Returns the length written or
 * S2SD_EJID. */
int jid__prep_part(enum jid__part part, const char *in, size_t len, bool full,
		   char *out, char *why, size_t whylen);

#endif
