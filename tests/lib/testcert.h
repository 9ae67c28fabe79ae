/* testcert.h - X.509 certificates made at test time (GnuTLS): CAs,
 * intermediates, leaves with chosen SANs (DNS, XmppAddr, SRV-ID), validity
 * windows, EKU, self-signed; written as PEM into a temporary directory.
 *
 * Test helpers only (linked into every test and bench, no Check): any
 * failure aborts with a message. A certificate borrows its issuer, which
 * must outlive it. Strings returned are owned by the caller (free()). Keys
 * are ECDSA P-256 unless the spec asks for RSA-2048 (slower to generate). */
#ifndef S2SD_TESTCERT_H
#define S2SD_TESTCERT_H

#include <stdbool.h>
#include <stddef.h>

#define TESTCERT_MAX_NAMES 8

enum testcert_eku {
	TESTCERT_EKU_NONE = 0,          /* no extendedKeyUsage extension */
	TESTCERT_EKU_SERVER = 1,        /* serverAuth */
	TESTCERT_EKU_CLIENT = 2,        /* clientAuth */
	TESTCERT_EKU_BOTH = 3,
};

struct testcert_spec {
	const char *cn;                         /* subject CN; NULL: none */
	const char *dns[TESTCERT_MAX_NAMES];    /* DNS-IDs (NULL ends) */
	const char *xmpp[TESTCERT_MAX_NAMES];   /* XmppAddr values */
	const char *srv[TESTCERT_MAX_NAMES];    /* "_xmpp-server.example.com" */
	long not_before;        /* seconds from now; both 0: -1 h .. +30 d */
	long not_after;
	bool ca;                /* CA:TRUE, keyCertSign; EKU ignored */
	unsigned eku;           /* enum testcert_eku bits */
	bool rsa;               /* RSA-2048 instead of ECDSA P-256 */
	bool sha1;              /* sign with SHA-1 (an insecure algorithm) */
};

struct testcert;

/* Make a certificate signed by ISSUER (borrowed; NULL: self-signed). */
struct testcert *testcert_new(const struct testcert_spec *spec,
                              const struct testcert *issuer);
void testcert_free(struct testcert *tc);                  /* NULL ok */

/* PEM of the certificate; with CHAIN, followed by its issuers up to, but
 * not including, the self-signed root. */
char *testcert_pem(const struct testcert *tc, bool chain);
char *testcert_key_pem(const struct testcert *tc);
/* DER of the certificate alone; *LEN gets its size. */
unsigned char *testcert_der(const struct testcert *tc, size_t *len);
/* A CRL signed by CA revoking the N certificates of REVOKED. */
char *testcert_crl_pem(const struct testcert *ca,
                       const struct testcert *const *revoked, size_t n);

/* Write DIR/NAME.crt (PEM, with CHAIN as above) and DIR/NAME.key (mode
 * 0600); the paths are returned when CRT / KEY are non-NULL. */
void testcert_write(const struct testcert *tc, const char *dir,
                    const char *name, bool chain, char **crt, char **key);
/* Write TEXT to DIR/NAME; returns the path. */
char *testcert_write_file(const char *dir, const char *name,
                          const char *text);

/* A fresh directory under $TMPDIR (or /tmp); remove it with its files. */
char *testcert_tmpdir(void);
void testcert_rmdir(char *dir);                           /* frees DIR */

#endif
