/* err.h - s2sd's own error codes and what each one means to a peer.
 *
 * Functions return 0 (or a count) on success and a negative code on failure:
 * either -errno / a libuv UV_E* code passed through untouched, or one of the
 * S2SD_E* codes below, numbered from -5000 down so they never collide with
 * -errno, UV_EOF or UV_EAI_*. The table gives each code a message, whether the
 * failure is temporary (worth retrying soon, as Postfix's DNS_RETRY) and the
 * RFC 6120 condition to send back (a stanza error for bounces, a stream error
 * for stream-level failures). All lookups are pure and thread-safe. */
#ifndef S2SD_ERR_H
#define S2SD_ERR_H

#include <stdbool.h>

/* X(name, value, temporary, condition, message) */
#define S2SD_ERR_MAP(X)                                                        \
	X(EDNS_NXDOMAIN, -5000, false, "remote-server-not-found",             \
	  "domain does not exist (NXDOMAIN)")                                  \
	X(EDNS_NODATA, -5001, false, "remote-server-not-found",               \
	  "no records of the requested type")                                  \
	X(EDNS_TEMP, -5002, true, "remote-server-not-found",                  \
	  "DNS server failure (SERVFAIL or refused)")                          \
	X(EDNS_TIMEOUT, -5003, true, "remote-server-timeout",                 \
	  "DNS lookup timed out")                                              \
	X(ENULLSVC, -5004, false, "remote-server-not-found",                  \
	  "service decidedly not available (SRV target \".\")")                \
	X(EDNS_BADRESP, -5005, true, "remote-server-not-found",               \
	  "malformed DNS answer")                                              \
	X(EDNS_CANCELLED, -5006, true, "remote-server-not-found",             \
	  "DNS lookup cancelled")                                              \
	X(ECONNECT, -5010, true, "remote-server-not-found",                   \
	  "no candidate accepted the connection")                              \
	X(ETIMEOUT, -5011, true, "remote-server-timeout", "timed out")         \
	X(ETLS, -5020, true, "remote-server-timeout", "TLS failure")           \
	X(ETLS_HANDSHAKE, -5021, true, "remote-server-timeout",               \
	  "TLS handshake failed")                                              \
	X(ETLS_VERIFY, -5022, false, "remote-server-not-found",                 \
	  "certificate chain does not verify")                                 \
	X(ETLS_NAME, -5023, false, "remote-server-not-found",                   \
	  "certificate does not identify the domain")                          \
	X(ETLS_NOCERT, -5024, false, "remote-server-not-found",                 \
	  "no certificate presented")                                          \
	X(ETLS_CREDS, -5025, false, "internal-server-error",                  \
	  "bad certificate or key")                                            \
	X(EXML_MALFORMED, -5030, false, "not-well-formed", "malformed XML")     \
	X(EXML_RESTRICTED, -5031, false, "restricted-xml",                    \
	  "restricted XML (DTD, entity, comment or processing instruction)")   \
	X(EXML_LIMIT, -5032, false, "policy-violation",                       \
	  "XML limit exceeded (size, depth or attributes)")                    \
	X(EXML_NAMESPACE, -5033, false, "invalid-namespace",                  \
	  "invalid stream namespace")                                          \
	X(EXML_CLOSED, -5034, false, "not-well-formed",                       \
	  "input after the end of the stream")                                 \
	X(EJID, -5040, false, "jid-malformed", "malformed JID")                \
	X(EPOLICY, -5050, false, "not-allowed", "denied by policy")            \
	X(ECONFIG, -5060, false, "internal-server-error",                     \
	  "configuration error")                                               \
	X(EQUEUE_FULL, -5070, true, "resource-constraint", "queue full")       \
	X(ELIMIT, -5071, true, "resource-constraint", "limit reached")         \
	X(ESTREAM, -5080, true, "remote-server-timeout",                      \
	  "stream error from the peer")                                        \
	X(EPROTO, -5081, false, "undefined-condition", "protocol violation")   \
	X(EAUTH, -5082, false, "not-authorized", "authentication failed")      \
	X(ESHUTDOWN, -5090, true, "service-unavailable", "shutting down")     \
	X(EXML_ENCODING, -5300, false, "unsupported-encoding",                \
	  "stream encoding is not UTF-8")                                     \
	X(ETLS_EXPIRED, -5200, false, "remote-server-not-found",                \
	  "certificate expired")                                               \
	X(ETLS_NOT_YET_VALID, -5201, false, "remote-server-not-found",          \
	  "certificate not yet valid")                                         \
	X(ETLS_UNKNOWN_ISSUER, -5202, false, "remote-server-not-found",         \
	  "certificate issuer is not in the trust store")                      \
	X(ETLS_REVOKED, -5203, false, "remote-server-not-found",                \
	  "certificate revoked")                                               \
	X(ETLS_INSECURE, -5204, false, "remote-server-not-found",               \
	  "certificate uses an insecure algorithm")                            \
	X(ETLS_PURPOSE, -5205, false, "remote-server-not-found",                \
	  "certificate is not for TLS server use")

enum err_code {
#define S2SD_ERR_ENUM(name, value, temp, cond, msg) S2SD_##name = (value),
	S2SD_ERR_MAP(S2SD_ERR_ENUM)
#undef S2SD_ERR_ENUM
};

/* Message for any error code (S2SD_E*, -errno, UV_E*); never NULL. */
const char *err_str(int code);
/* Symbolic name ("S2SD_EDNS_NXDOMAIN", "ECONNREFUSED", ...); never NULL. */
const char *err_name(int code);
/* True when the failure may go away by itself (retry soon). */
bool err_is_temporary(int code);
/* The RFC 6120 condition element name to send back; never NULL. Errors that
 * are not in the table map to "undefined-condition" (temporary network errors
 * to "remote-server-not-found"). */
const char *err_condition(int code);

#endif
