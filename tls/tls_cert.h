/* tls_cert.h - certificate tooling behind "s2sctl cert show|check|
 * selfsigned|csr", with GnuTLS's X.509 API (no shelling out). These read
 * and write files: call them from s2sctl or a reload check, never per
 * connection.
 *
 * Reports are text lines appended to OUT (the caller prints them).
 * Generated keys are RSA-2048 by default: every XMPP server and TLS stack
 * accepts RSA, and it is what peers' benchmarks use, so figures compare;
 * ECDSA P-256 is offered for smaller, faster handshakes where all peers
 * take it. Key files are PKCS#8 PEM written with mode 0600. */
#ifndef S2SD_TLS_CERT_H
#define S2SD_TLS_CERT_H

#include <stddef.h>
#include <time.h>

#include "cm/util.h"

enum tls_cert_keytype {
	TLS_CERT_RSA2048,
	TLS_CERT_ECDSA_P256,
};

/* "cert show FILE": every certificate of the PEM file (subject, issuer,
 * SANs incl. XmppAddr and SRV-ID, CN, validity, key, EKU, SHA-256
 * fingerprint). Returns 0, or -errno / S2SD_ETLS_CREDS with a line. */
int tls_cert_show(const char *file, struct util_buf *out);

/* "cert check": does the configured certificate set cover every local
 * domain (IM and email domains, aliases; A-labels), is every certificate
 * valid at NOW (0: the clock) and does each key match its certificate?
 * Prints "problem: ..." (fatal), "warning: ..." (expires within WARN_DAYS,
 * 0: 14; no clientAuth EKU) and "ok: ..." lines and a summary. Returns 0,
 * or S2SD_ETLS_CREDS when there was any problem. Borrows everything. */
struct tls_cert_check_in {
	const char *const *cert_files;
	size_t ncerts;
	const char *const *key_files;   /* paired with cert_files */
	size_t nkeys;                   /* a different count is a problem */
	const char *const *domains;
	size_t ndomains;
	time_t now;
	unsigned warn_days;
};
int tls_cert_check(const struct tls_cert_check_in *in, struct util_buf *out);

/* What to generate. Every domain becomes a DNS SAN (no XmppAddr: ejabberd
 * 23.01 crashes on it); the first is also the subject CN. */
struct tls_cert_make {
	const char *out_file;           /* certificate (selfsigned) or CSR */
	const char *key_file;
	const char *const *domains;
	size_t ndomains;
	enum tls_cert_keytype keytype;
	unsigned days;                  /* self-signed validity; 0: 365 */
	time_t now;                     /* 0: the clock */
};

/* "cert selfsigned": a new key and a self-signed certificate (serverAuth
 * and clientAuth). Neither file may exist (never overwrites a key).
 * Returns 0, or -errno / S2SD_ETLS_CREDS with WHY. */
int tls_cert_selfsigned(const struct tls_cert_make *req, char *why,
                        size_t whylen);
/* "cert csr": a PKCS#10 request with every domain as DNS SAN, signed with
 * KEY_FILE, which is generated first when it does not exist. OUT_FILE is
 * replaced. Returns 0, or -errno / S2SD_ETLS_CREDS with WHY. */
int tls_cert_csr(const struct tls_cert_make *req, char *why, size_t whylen);

#endif
