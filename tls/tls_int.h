/* tls_int.h - shared internals of tls/ (tls.c, tls_ctx.c, tls_trust.c,
 * tls_cert.c, tls_x509.c). Not for other modules: they use tls.h, tls_ctx.h,
 * tls_trust.h and tls_cert.h. Everything here is prefixed tls__. */
#ifndef S2SD_TLS_INT_H
#define S2SD_TLS_INT_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tls/tls_ctx.h"
#include "tls/tls_trust.h"
#include "tls/tls_verify.h"

/* The identities a certificate presents, owned (tls__ids_free). */
struct tls__ids {
	struct tls_verify_id *v;        /* values owned by this struct */
	size_t n;
	bool has_san;                   /* any subjectAltName extension */
};

/* One of our own certificates: chain, key and names (tls_ctx.c). */
struct tls__cred {
	gnutls_pcert_st *pcerts;        /* leaf first */
	unsigned npcerts;
	gnutls_privkey_t key;
	struct tls__ids ids;            /* of the leaf */
	char *file;
};

/* tls_x509.c: certificates, keys and names. WHY gets a human reason. */
void tls__crt_ids(gnutls_x509_crt_t crt, struct tls__ids *out);
void tls__ids_free(struct tls__ids *ids);
void tls__ids_copy(const struct tls__ids *from, struct tls__ids *to);
void tls__dn(gnutls_x509_crt_t crt, bool issuer, char *buf, size_t len);
void tls__time_str(time_t t, char *buf, size_t len);
void tls__fingerprint(gnutls_x509_crt_t crt, char *buf, size_t len);
bool tls__is_self_signed(gnutls_x509_crt_t crt);
int tls__read_file(const char *path, gnutls_datum_t *data, char *why,
                   size_t whylen);
void tls__datum_free(gnutls_datum_t *data);     /* wipes, then frees */
int tls__load_chain(const char *path, gnutls_x509_crt_t **crts, unsigned *n,
                    char *why, size_t whylen);
void tls__free_chain(gnutls_x509_crt_t *crts, unsigned n);
int tls__load_key(const char *path, gnutls_privkey_t *key, char *why,
                  size_t whylen);
bool tls__key_matches(gnutls_x509_crt_t crt, gnutls_privkey_t key);
/* Human text for a GnuTLS error, naming the alert for alert errors. */
void tls__gnutls_why(gnutls_session_t gs, int rc, char *why, size_t whylen);
/* The metrics label for a failure: "certificate" or "protocol". */
const char *tls__fail_class(gnutls_session_t gs, int rc);

/* tls_trust.c: verify CHAIN (leaf first) for TLS server use. Returns 0 or
 * an S2SD_ETLS_* chain code with WHY. */
int tls__trust_verify(const struct tls_trust *trust, gnutls_x509_crt_t *chain,
                      unsigned n, char *why, size_t whylen);

/* tls_vcache.c: peer chains a trust store accepted, keyed by the SHA-256
 * of the chain's DER (tls__vcache_key). get copies the leaf's identities
 * into IDS (owned by the caller) on a hit; put copies IDS and keeps them
 * until the chain's first notAfter, five minutes at most. */
#define TLS__VCACHE_KEY 32
struct tls__vcache;
struct tls__vcache *tls__vcache_new(void);
void tls__vcache_free(struct tls__vcache *vc);
void tls__vcache_key(const gnutls_datum_t *der, unsigned n, uint8_t *key);
bool tls__vcache_get(struct tls__vcache *vc, const uint8_t *key, time_t now,
                     struct tls__ids *ids);
void tls__vcache_put(struct tls__vcache *vc, const uint8_t *key, time_t now,
                     gnutls_x509_crt_t *chain, unsigned n,
                     const struct tls__ids *ids);
uint64_t tls__vcache_hits(const struct tls__vcache *vc);
/* tls_trust.c: the cache of verdicts on this trust store (created on first
 * use; freed with the store, so a reload starts afresh). */
struct tls__vcache *tls__trust_vcache(struct tls_trust *trust);

/* tls_ctx.c: what sessions take from their context. */
gnutls_certificate_credentials_t tls__ctx_creds(const struct tls_ctx *ctx);
gnutls_priority_t tls__ctx_priority(const struct tls_ctx *ctx);
const gnutls_datum_t *tls__ctx_ticket_key(const struct tls_ctx *ctx);
/* The certificate to present for NAME (NULL: none covers it). */
const struct tls__cred *tls__ctx_pick(const struct tls_ctx *ctx,
                                      const char *name);
const struct tls__cred *tls__ctx_first(const struct tls_ctx *ctx);
/* Client resumption data per (local, remote) domain pair: take removes the
 * entry (TLS 1.3 tickets are single-use) and fills DATA (gnutls_free). */
bool tls__ctx_cache_take(struct tls_ctx *ctx, const char *local,
                         const char *remote, gnutls_datum_t *data);
void tls__ctx_cache_put(struct tls_ctx *ctx, const char *local,
                        const char *remote, const gnutls_datum_t *data);

/* tls.c: the certificate callback the context installs. */
int tls__retrieve(gnutls_session_t gs, const gnutls_datum_t *req_ca_rdn,
                  int nreqs, const gnutls_pk_algorithm_t *pk_algos,
                  int pk_algos_length, gnutls_pcert_st **pcert,
                  unsigned int *pcert_length, gnutls_privkey_t *privkey);

#endif
