/* dialback.c - XEP-0185 dialback keys with GnuTLS; see dialback.h. */
#include "s2s/dialback.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/util.h"

struct dialback_secret {
	char hmac_key[2 * 32 + 1];      /* hex(SHA256(secret)) */
};

struct dialback_secret *
dialback_secret_new(const char *secret)
{
	struct dialback_secret *s = xcalloc(1, sizeof(*s));
	unsigned char digest[32];
	int rc;

	rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, secret, strlen(secret), digest);
	if (rc < 0)
		fatalx("%s: SHA-256: %s", __func__, gnutls_strerror(rc));
	util_hex(digest, sizeof(digest), s->hmac_key);
	gnutls_memset(digest, 0, sizeof(digest));
	return s;
}

void
dialback_secret_free(struct dialback_secret *s)
{
	if (s == NULL)
		return;
	gnutls_memset(s, 0, sizeof(*s));
	free(s);
}

void
dialback_key(const struct dialback_secret *s, const char *receiving,
             const char *originating, const char *id, char out[65])
{
	unsigned char mac[32];
	char *text = xasprintf("%s %s %s", receiving, originating, id);
	int rc;

	rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, s->hmac_key,
	                      strlen(s->hmac_key), text, strlen(text), mac);
	if (rc < 0)
		fatalx("%s: HMAC-SHA256: %s", __func__, gnutls_strerror(rc));
	util_hex(mac, sizeof(mac), out);
	free(text);
}

bool
dialback_key_check(const struct dialback_secret *s, const char *receiving,
                   const char *originating, const char *id, const char *key)
{
	char expect[DIALBACK_KEY_LEN + 1];

	if (strlen(key) != DIALBACK_KEY_LEN)
		return false;
	dialback_key(s, receiving, originating, id, expect);
	return util_memeq_ct(expect, key, DIALBACK_KEY_LEN);
}
