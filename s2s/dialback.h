/* dialback.h - XEP-0185 dialback keys: lowercase hex of
 * HMAC-SHA256(hex(SHA256(secret)), receiving ' ' originating ' ' stream-id).
 *
 * struct dialback_secret keeps only the hex SHA-256 of the secret (the HMAC
 * key), never the secret itself, and is wiped when freed. Domains are passed
 * in their prepared form on both the originating and the authoritative side,
 * so the keys agree however a peer spells them. Pure: GnuTLS hashing only. */
#ifndef S2SD_DIALBACK_H
#define S2SD_DIALBACK_H

#include <stdbool.h>

#define DIALBACK_KEY_LEN 64     /* hex characters */

struct dialback_secret;

/* SECRET is borrowed (not kept). Returns owned, never NULL. */
struct dialback_secret *dialback_secret_new(const char *secret);
void dialback_secret_free(struct dialback_secret *s);      /* NULL ok */
/* The key for the triple into OUT (DIALBACK_KEY_LEN + 1 bytes). */
void dialback_key(const struct dialback_secret *s, const char *receiving,
                  const char *originating, const char *id, char out[65]);
/* Is KEY (from the wire) the key for the triple? Constant time. */
bool dialback_key_check(const struct dialback_secret *s, const char *receiving,
                        const char *originating, const char *id,
                        const char *key);

#endif
