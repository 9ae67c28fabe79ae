/* s2s_sasl.h - SASL EXTERNAL on S2S streams (RFC 6120 section 6, XEP-0178)
 * through Cyrus libsasl2.
 *
 * Receiving server: an <auth mechanism='EXTERNAL'> succeeds only when the
 * peer's TLS certificate verified (chain and name) for the domain the peer
 * claims, and the authorization identity, when given, is that same domain.
 * Initiating server: the initial response names our local domain.
 * No I/O. s2s_sasl_init() once at start-up, s2s_sasl_done() at exit. */
#ifndef S2SD_S2S_SASL_H
#define S2SD_S2S_SASL_H

#include <stddef.h>

/* Returns 0, or S2SD_EAUTH with WHY filled when libsasl2 cannot start. */
int s2s_sasl_init(char *why, size_t whylen);
void s2s_sasl_done(void);

/* Receiving server. VERIFIED: the domain the peer certificate verified for
 * (chain and name, prepared form), or NULL when it did not verify. FROM: the
 * 'from' of the peer's stream header, or NULL. PAYLOAD: the character data
 * of <auth/> (base64; "" or "=" for an empty response). All borrowed.
 * Returns 0 with *DOMAIN = the authenticated domain (returned owned, free()),
 * or S2SD_EAUTH with *COND = the RFC 6120 6.5 condition element name
 * ("not-authorized", "invalid-authzid", "incorrect-encoding",
 * "malformed-request", ...; static) and a reason in WHY. */
int s2s_sasl_server_external(const char *verified, const char *from,
                             const char *payload, char **domain,
                             const char **cond, char *why, size_t whylen);

/* Initiating server: the character data for <auth mechanism='EXTERNAL'>
 * carrying LOCAL (our domain) as authorization identity; returned owned. */
char *s2s_sasl_client_external(const char *local);

#endif
