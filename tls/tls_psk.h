/* tls_psk.h - a TLS 1.3 session authenticated by a pre-shared key (GnuTLS
 * PSK with ECDHE or DHE, so a leaked key does not open recorded traffic),
 * over the caller's buffers: the cluster's router-to-router links. The
 * client proves the key with its binder, the server with its Finished, so a
 * completed handshake authenticates both ends. The client's identity is its
 * node name; the server asks KEY for the key of an identity (refusing
 * unknown ones). No certificates.
 *
 * Like tls.h: the caller feeds received ciphertext; the session calls back
 * with ciphertext to send, once with the handshake result, with decrypted
 * data, and once with closed (0: the peer's close_notify). Callbacks borrow
 * their buffers, never run before the call that caused them returns, and
 * must not call tls_psk_free. Keys are wiped when the session is freed. */
#ifndef S2SD_TLS_PSK_H
#define S2SD_TLS_PSK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_PSK_KEY_LEN 32

struct tls_psk;

struct tls_psk_cbs {
	void (*send)(void *arg, const void *buf, size_t len);
	void (*handshake)(void *arg, int status);
	void (*data)(void *arg, const void *buf, size_t len);
	void (*closed)(void *arg, int status);
	/* Server: the key of IDENTITY into KEY; 0, or negative (unknown). */
	int (*key)(void *arg, const char *identity,
	           uint8_t key[TLS_PSK_KEY_LEN]);
	void *arg;
};

/* The link key from the cluster secret: HKDF-SHA256 (RFC 5869), salt and
 * info fixed labels. 0, or S2SD_ETLS. */
int tls_psk_derive(const char *secret, uint8_t key[TLS_PSK_KEY_LEN]);
/* IDENTITY and KEY are copied. Return 0 with *OUT owned, or S2SD_ETLS. */
int tls_psk_new_client(const char *identity,
                       const uint8_t key[TLS_PSK_KEY_LEN],
                       const struct tls_psk_cbs *cbs, uint64_t connid,
                       struct tls_psk **out);
int tls_psk_new_server(const struct tls_psk_cbs *cbs, uint64_t connid,
                       struct tls_psk **out);
/* Start the handshake (the client's hello goes to send). */
int tls_psk_start(struct tls_psk *s);
/* Received ciphertext (borrowed). 0, or negative once the session is
 * over (failures are reported through handshake/closed). */
int tls_psk_feed(struct tls_psk *s, const void *buf, size_t len);
/* Encrypt and send. 0, -ENOTCONN before the handshake, -EPIPE after. */
int tls_psk_write(struct tls_psk *s, const void *buf, size_t len);
/* close_notify, once. */
void tls_psk_close(struct tls_psk *s);
void tls_psk_free(struct tls_psk *s);   /* NULL ok */
/* Server, after the handshake: the identity the client proved. */
const char *tls_psk_identity(const struct tls_psk *s);
const char *tls_psk_error(const struct tls_psk *s); /* "" when none */
/* The key exchange agreed ("ECDHE-PSK", "DHE-PSK"), for logs and tests. */
const char *tls_psk_kx(const struct tls_psk *s);

#endif
