/* tls_trust.h - the trust store peers' certificates are verified against:
 * every *.pem, *.crt, *.cer and *.crl file of one directory (CA roots,
 * intermediates, CRLs, and pinned self-signed peer certificates, which then
 * verify as themselves) plus, when asked, the system CA bundle.
 *
 * A trust store is immutable once loaded and refcounted. Reload builds a
 * new one (tls_trust_load) and installs it with tls_ctx_set_trust(): new
 * sessions use it, established sessions keep the reference they took when
 * they started, so a reload never changes the verdict on an open stream.
 * Loading reads files: call it at startup or reload only, never per
 * connection. */
#ifndef S2SD_TLS_TRUST_H
#define S2SD_TLS_TRUST_H

#include <stdbool.h>
#include <stddef.h>

struct tls_trust;

/* Load DIR (NULL: none) and, with SYSTEM_CA, the system bundle. A file that
 * cannot be read or parsed, a missing directory or an unavailable system
 * bundle is an error: returns S2SD_ETLS_CREDS or -errno with WHY naming the
 * file, and *OUT untouched. On success *OUT is owned (tls_trust_unref). */
int tls_trust_load(const char *dir, bool system_ca, struct tls_trust **out,
                   char *why, size_t whylen);

/* Take another reference; returns T. */
struct tls_trust *tls_trust_ref(struct tls_trust *t);
/* Drop a reference; the last one frees. NULL ok. */
void tls_trust_unref(struct tls_trust *t);

/* Certificates loaded from the directory / from the system bundle, and
 * CRLs accepted (signed by a trusted CA), for s2sctl and logs. */
size_t tls_trust_ndir(const struct tls_trust *t);
size_t tls_trust_nsystem(const struct tls_trust *t);
size_t tls_trust_ncrl(const struct tls_trust *t);

/* Verify the PEM chain in FILE (leaf first) for TLS server use, as a peer's
 * would be: 0, or an S2SD_ETLS_* chain code / -errno with WHY. For s2sctl
 * (does our own certificate chain to the store?); reads the file. */
int tls_trust_verify_file(const struct tls_trust *t, const char *file,
                          char *why, size_t whylen);

#endif
