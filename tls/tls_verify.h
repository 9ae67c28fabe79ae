/* tls_verify.h - does a certificate identify an XMPP domain? (RFC 6125,
 * RFC 7590, XEP-0178). Pure: no I/O, no clock, no GnuTLS session; the caller
 * extracts the presented identities from the certificate and passes them in.
 *
 * The reference identity is always the XMPP domain (the stream's to/from),
 * never the SRV target host, in A-label form; comparison is ASCII
 * case-insensitive and ignores one trailing dot. Presented identities are
 * untrusted bytes (they come from a peer's certificate): every value carries
 * its length, may hold NULs or any byte, and is only borrowed during a call.
 *
 *   SRV-ID    "_xmpp-server.DOMAIN" (otherName id-on-dnsSRV); the domain part
 *             is matched like a DNS-ID.
 *   XmppAddr  a bare domain JID (otherName id-on-xmppAddr), UTF-8; converted
 *             to A-labels before comparing; never a wildcard.
 *   DNS-ID    exact, or "*." + at least two labels, covering exactly one
 *             left-most label: "*.example.com" matches "a.example.com", not
 *             "example.com" nor "a.b.example.com". No partial wildcards.
 *   CN        matched like a DNS-ID, but only when the certificate has no
 *             subjectAltName extension at all. */
#ifndef S2SD_TLS_VERIFY_H
#define S2SD_TLS_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

enum tls_verify_kind {
	TLS_VERIFY_DNS,
	TLS_VERIFY_SRV,
	TLS_VERIFY_XMPP,
	TLS_VERIFY_CN,
};

/* One presented identity; callers build arrays of these. */
struct tls_verify_id {
	enum tls_verify_kind kind;
	const char *value;      /* borrowed, LEN bytes, not NUL-terminated */
	size_t len;
};

/* Does the identity set IDS[0..N) identify DOMAIN? HAS_SAN tells whether the
 * certificate carries a subjectAltName extension (CN entries are then
 * ignored). Returns 0 and sets *MATCHED (if non-NULL) to the index of the
 * identity that matched; S2SD_ETLS_NAME when none does, with a human reason
 * in WHY ("wildcard *.example.com covers one label only, not a.b.example.com");
 * -EINVAL when DOMAIN is empty or too long. WHY may be NULL. */
int tls_verify_name(const char *domain, const struct tls_verify_id *ids,
                    size_t n, bool has_san, size_t *matched, char *why,
                    size_t whylen);

/* Does one DNS-ID (or CN) pattern of PLEN bytes match DOMAIN? */
bool tls_verify_dns_match(const char *pattern, size_t plen,
                          const char *domain);

/* "DNS", "SRV-ID", "XmppAddr" or "CN". */
const char *tls_verify_kind_name(enum tls_verify_kind kind);

/* Write "KIND:value" into BUF (NUL-terminated, SIZE bytes, truncating) with
 * unprintable bytes shown as '?', for logs and s2sctl. */
void tls_verify_id_format(const struct tls_verify_id *id, char *buf,
                          size_t size);

#endif
