/* tls_ctx.h - what every TLS session of the daemon shares: our certificates
 * (one multi-SAN certificate, or one per local domain), the trust store, the
 * priority string, the session-ticket key (server side) and the resumption
 * data per remote domain (client side).
 *
 * A context is refcounted: each session holds a reference, so a reload
 * builds a new context (tls_ctx_new, then tls_ctx_inherit to keep tickets
 * and resumption data valid) and drops its own reference to the old one,
 * which lives on until its last session ends. Creating a context reads
 * files: startup and reload only. */
#ifndef S2SD_TLS_CTX_H
#define S2SD_TLS_CTX_H

#include <stdbool.h>
#include <stddef.h>

struct tls_trust;

/* TLS 1.2 and 1.3 only; GnuTLS's NORMAL set otherwise. */
#define TLS_CTX_PRIORITY_DEFAULT "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define TLS_CTX_RESUME_MAX_DEFAULT 1024

/* Filled in by the caller; every pointer is borrowed during tls_ctx_new. */
struct tls_ctx_config {
	const char *const *cert_files;  /* PEM chains, leaf first */
	size_t ncerts;                  /* 0: no certificate (client only) */
	const char *const *key_files;   /* PEM keys, paired with cert_files */
	size_t nkeys;                   /* must equal ncerts */
	const char *trust_dir;          /* NULL: no directory */
	bool system_ca;                 /* add the system CA bundle */
	const char *priority;           /* NULL: TLS_CTX_PRIORITY_DEFAULT */
	size_t resume_max;              /* 0: TLS_CTX_RESUME_MAX_DEFAULT */
};

struct tls_ctx;

/* Load certificates, keys and trust store and check them: as many keys as
 * certificates, every key matching its certificate, the priority string
 * parsing. Returns 0 with
 * *OUT owned (tls_ctx_unref), or S2SD_ETLS_CREDS / S2SD_ECONFIG / -errno
 * with WHY naming the file or setting. */
int tls_ctx_new(const struct tls_ctx_config *cfg, struct tls_ctx **out,
                char *why, size_t whylen);
struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx);         /* returns CTX */
void tls_ctx_unref(struct tls_ctx *ctx);                  /* NULL ok */

/* Use TRUST (a new reference is taken) for sessions created from now on;
 * sessions already created keep the trust store they started with. */
void tls_ctx_set_trust(struct tls_ctx *ctx, struct tls_trust *trust);
/* The current trust store (borrowed). */
struct tls_trust *tls_ctx_trust(const struct tls_ctx *ctx);

/* Copy OLD's ticket key and resumption data into NEW, after a reload, so
 * peers' tickets and ours stay usable. */
void tls_ctx_inherit(struct tls_ctx *new_ctx, const struct tls_ctx *old_ctx);

/* Does one of our certificates name DOMAIN (A-label)? */
bool tls_ctx_covers(const struct tls_ctx *ctx, const char *domain);
/* Number of remote domains with resumption data. */
size_t tls_ctx_resume_count(const struct tls_ctx *ctx);

#endif
