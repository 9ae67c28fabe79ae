/* tls_vcache.c - chains a trust store accepted, remembered by the SHA-256
 * of the chain exactly as the peer presented it (see tls_int.h).
 *
 * Verifying a peer chain (path building, one signature check per link:
 * an ECDSA P-256 verify alone is some 0.15 ms) and parsing the certificates
 * for their names cost as much as a fifth of an inbound handshake, and the
 * same peers present the same chain on every connection. The verdict on
 * the same bytes against the same immutable trust store changes only with
 * time, so an entry lives until the first notAfter of the chain, and at
 * most TLS_VCACHE_TTL. Only acceptances are kept: a failure is verified
 * again each time (a chain may become valid at its notBefore). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "cm/log.h"
#include "cm/util.h"
#include "tls/tls_int.h"

#define TLS_VCACHE_SLOTS 256    /* direct-mapped: a clash replaces */
#define TLS_VCACHE_TTL 300      /* seconds */

struct tls__vcache_entry {
	uint8_t key[TLS__VCACHE_KEY];
	time_t until;                   /* 0: empty */
	struct tls__ids ids;
};

struct tls__vcache {
	struct tls__vcache_entry e[TLS_VCACHE_SLOTS];
	uint64_t hits;
};

struct tls__vcache *
tls__vcache_new(void)
{
	return xcalloc(1, sizeof(struct tls__vcache));
}

void
tls__vcache_free(struct tls__vcache *vc)
{
	size_t i;

	if (vc == NULL)
		return;
	for (i = 0; i < TLS_VCACHE_SLOTS; i++)
		tls__ids_free(&vc->e[i].ids);
	free(vc);
}

/* Each certificate's length goes in too, so that no two chains give the
 * same byte stream. */
void
tls__vcache_key(const gnutls_datum_t *der, unsigned n,
                uint8_t *key)
{
	gnutls_hash_hd_t h;
	uint8_t len[4];
	unsigned i;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		fatalx("%s: gnutls_hash_init", __func__);
	for (i = 0; i < n; i++) {
		len[0] = (uint8_t)(der[i].size >> 24);
		len[1] = (uint8_t)(der[i].size >> 16);
		len[2] = (uint8_t)(der[i].size >> 8);
		len[3] = (uint8_t)der[i].size;
		gnutls_hash(h, len, sizeof(len));
		gnutls_hash(h, der[i].data, der[i].size);
	}
	gnutls_hash_deinit(h, key);
}

static struct tls__vcache_entry *
tls_vcache_slot(struct tls__vcache *vc, const uint8_t *key)
{
	return &vc->e[key[0] % TLS_VCACHE_SLOTS];
}

bool
tls__vcache_get(struct tls__vcache *vc, const uint8_t *key, time_t now,
                struct tls__ids *ids)
{
	struct tls__vcache_entry *e = tls_vcache_slot(vc, key);

	if (e->until == 0 || memcmp(e->key, key, TLS__VCACHE_KEY) != 0)
		return false;
	if (now >= e->until) {
		tls__ids_free(&e->ids);
		e->until = 0;
		return false;
	}
	tls__ids_copy(&e->ids, ids);
	vc->hits++;
	return true;
}

void
tls__vcache_put(struct tls__vcache *vc, const uint8_t *key, time_t now,
                gnutls_x509_crt_t *chain, unsigned n,
                const struct tls__ids *ids)
{
	struct tls__vcache_entry *e = tls_vcache_slot(vc, key);
	time_t until = now + TLS_VCACHE_TTL, t;
	unsigned i;

	for (i = 0; i < n; i++) {
		t = gnutls_x509_crt_get_expiration_time(chain[i]);
		if (t != (time_t)-1 && t < until)
			until = t;
	}
	if (until <= now)
		return;
	tls__ids_free(&e->ids);
	memcpy(e->key, key, TLS__VCACHE_KEY);
	e->until = until;
	tls__ids_copy(ids, &e->ids);
}

uint64_t
tls__vcache_hits(const struct tls__vcache *vc)
{
	return vc != NULL ? vc->hits : 0;
}
