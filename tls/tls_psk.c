/* tls_psk.c - TLS 1.3 with a pre-shared key over memory buffers; see
 * tls_psk.h.
 *
 * Ciphertext produced while GnuTLS runs (the push function) is collected
 * and handed to send() once the GnuTLS call returns, so a send callback
 * never sees the session in the middle of a call. */
#include "tls/tls_psk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"

/* Only PSK key exchanges with a fresh (EC)DHE share, TLS 1.3 only. */
#define TLS_PSK_PRIORITY \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK"
#define TLS_PSK_SALT "s2sd cluster link"
#define TLS_PSK_INFO "s2sd-cluster-psk-v1"

enum tls_psk_state { TP_NEW, TP_HANDSHAKE, TP_OPEN, TP_OVER };

struct tls_psk {
	gnutls_session_t gs;
	gnutls_psk_client_credentials_t ccred;
	gnutls_psk_server_credentials_t scred;
	struct tls_psk_cbs cbs;
	enum tls_psk_state state;
	bool server;
	uint64_t connid;
	struct util_buf out;
	const uint8_t *feed;
	size_t feed_len;
	char *identity;
	char error[160];
};

int
tls_psk_derive(const char *secret, uint8_t key[TLS_PSK_KEY_LEN])
{
	gnutls_datum_t ikm = {(unsigned char *)secret, (unsigned)strlen(secret)};
	gnutls_datum_t salt = {(unsigned char *)TLS_PSK_SALT,
	                       sizeof(TLS_PSK_SALT) - 1};
	gnutls_datum_t info = {(unsigned char *)TLS_PSK_INFO,
	                       sizeof(TLS_PSK_INFO) - 1};
	uint8_t prk[32];
	gnutls_datum_t prkd = {prk, sizeof(prk)};
	int rc;

	rc = gnutls_hkdf_extract(GNUTLS_MAC_SHA256, &ikm, &salt, prk);
	if (rc == 0)
		rc = gnutls_hkdf_expand(GNUTLS_MAC_SHA256, &prkd, &info, key,
		                        TLS_PSK_KEY_LEN);
	explicit_bzero(prk, sizeof(prk));
	return rc < 0 ? S2SD_ETLS : 0;
}

static ssize_t
tls_psk_push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
	struct tls_psk *s = ptr;

	util_buf_append(&s->out, buf, len);
	return (ssize_t)len;
}

static ssize_t
tls_psk_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct tls_psk *s = ptr;
	size_t n;

	if (s->feed_len == 0) {
		gnutls_transport_set_errno(s->gs, EAGAIN);
		return -1;
	}
	n = s->feed_len < len ? s->feed_len : len;
	memcpy(buf, s->feed, n);
	s->feed += n;
	s->feed_len -= n;
	return (ssize_t)n;
}

static int
tls_psk_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct tls_psk *s = ptr;

	(void)ms;
	return s->feed_len > 0 ? 1 : 0;
}

static void
tls_psk_flush(struct tls_psk *s)
{
	struct util_buf b = s->out;

	if (b.len == 0)
		return;
	memset(&s->out, 0, sizeof(s->out));
	s->cbs.send(s->cbs.arg, b.data, b.len);
	util_buf_free(&b);
}

static int
tls_psk_server_key(gnutls_session_t gs, const char *username,
                   gnutls_datum_t *key)
{
	struct tls_psk *s = gnutls_session_get_ptr(gs);
	uint8_t k[TLS_PSK_KEY_LEN];

	if (s->cbs.key == NULL || s->cbs.key(s->cbs.arg, username, k) < 0) {
		snprintf(s->error, sizeof(s->error), "unknown identity '%.64s'",
		         username);
		return -1;
	}
	key->data = gnutls_malloc(sizeof(k));
	if (key->data == NULL)
		fatalx("%s: out of memory", __func__);
	memcpy(key->data, k, sizeof(k));
	key->size = sizeof(k);
	explicit_bzero(k, sizeof(k));
	free(s->identity);
	s->identity = xstrdup(username);
	return 0;
}

static void
tls_psk_fail(struct tls_psk *s, int gerr)
{
	bool in_handshake = s->state != TP_OPEN;

	if (s->error[0] == '\0')
		snprintf(s->error, sizeof(s->error), "%s", gnutls_strerror(gerr));
	s->state = TP_OVER;
	/* Tell the peer, so that it fails now rather than at its time-out. */
	gnutls_alert_send_appropriate(s->gs, gerr);
	tls_psk_flush(s);
	log_info(LOG_SUB_TLS, s->connid, "cluster tls %s failed: %s",
	         in_handshake ? "handshake" : "session", s->error);
	if (in_handshake)
		s->cbs.handshake(s->cbs.arg, S2SD_ETLS_HANDSHAKE);
	else
		s->cbs.closed(s->cbs.arg, S2SD_ETLS);
}

static int
tls_psk_new(bool server, uint64_t connid, const struct tls_psk_cbs *cbs,
            struct tls_psk **out)
{
	struct tls_psk *s = xcalloc(1, sizeof(*s));
	int rc;

	s->server = server;
	s->connid = connid;
	s->cbs = *cbs;
	rc = gnutls_init(&s->gs, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
	                             GNUTLS_NONBLOCK);
	if (rc < 0) {
		free(s);
		return S2SD_ETLS;
	}
	gnutls_session_set_ptr(s->gs, s);
	gnutls_transport_set_ptr(s->gs, s);
	gnutls_transport_set_push_function(s->gs, tls_psk_push);
	gnutls_transport_set_pull_function(s->gs, tls_psk_pull);
	gnutls_transport_set_pull_timeout_function(s->gs, tls_psk_pull_timeout);
	gnutls_handshake_set_timeout(s->gs, 0);
	if (gnutls_priority_set_direct(s->gs, TLS_PSK_PRIORITY, NULL) < 0) {
		tls_psk_free(s);
		return S2SD_ETLS;
	}
	*out = s;
	return 0;
}

int
tls_psk_new_client(const char *identity, const uint8_t key[TLS_PSK_KEY_LEN],
                   const struct tls_psk_cbs *cbs, uint64_t connid,
                   struct tls_psk **out)
{
	gnutls_datum_t k = {(unsigned char *)key, TLS_PSK_KEY_LEN};
	struct tls_psk *s;
	int rc;

	if ((rc = tls_psk_new(false, connid, cbs, &s)) < 0)
		return rc;
	if (gnutls_psk_allocate_client_credentials(&s->ccred) < 0 ||
	    gnutls_psk_set_client_credentials(s->ccred, identity, &k,
	                                      GNUTLS_PSK_KEY_RAW) < 0 ||
	    gnutls_credentials_set(s->gs, GNUTLS_CRD_PSK, s->ccred) < 0) {
		tls_psk_free(s);
		return S2SD_ETLS;
	}
	s->identity = xstrdup(identity);
	*out = s;
	return 0;
}

int
tls_psk_new_server(const struct tls_psk_cbs *cbs, uint64_t connid,
                   struct tls_psk **out)
{
	struct tls_psk *s;
	int rc;

	if ((rc = tls_psk_new(true, connid, cbs, &s)) < 0)
		return rc;
	if (gnutls_psk_allocate_server_credentials(&s->scred) < 0) {
		tls_psk_free(s);
		return S2SD_ETLS;
	}
	gnutls_psk_set_server_credentials_function(s->scred,
	                                           tls_psk_server_key);
	if (gnutls_credentials_set(s->gs, GNUTLS_CRD_PSK, s->scred) < 0) {
		tls_psk_free(s);
		return S2SD_ETLS;
	}
	*out = s;
	return 0;
}

static void
tls_psk_handshake_step(struct tls_psk *s)
{
	int rc = gnutls_handshake(s->gs);

	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
		tls_psk_flush(s);
		return;
	}
	if (rc < 0) {
		tls_psk_fail(s, rc);
		return;
	}
	s->state = TP_OPEN;
	tls_psk_flush(s);
	log_debug(LOG_SUB_TLS, s->connid, "cluster tls ok identity=%s "
	          "version=%s kx=%s", s->identity != NULL ? s->identity : "-",
	          gnutls_protocol_get_name(gnutls_protocol_get_version(s->gs)),
	          tls_psk_kx(s));
	s->cbs.handshake(s->cbs.arg, 0);
}

int
tls_psk_start(struct tls_psk *s)
{
	if (s->state != TP_NEW)
		return -EALREADY;
	s->state = TP_HANDSHAKE;
	if (!s->server)
		tls_psk_handshake_step(s);
	return 0;
}

/* Decrypt everything fed; stop at the first failure or the peer's close. */
static void
tls_psk_read(struct tls_psk *s)
{
	char buf[16384];
	ssize_t n;

	while (s->state == TP_OPEN) {
		n = gnutls_record_recv(s->gs, buf, sizeof(buf));
		if (n > 0) {
			s->cbs.data(s->cbs.arg, buf, (size_t)n);
			continue;
		}
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			break;
		if (n == 0) {
			s->state = TP_OVER;
			tls_psk_flush(s);
			s->cbs.closed(s->cbs.arg, 0);
			return;
		}
		if (!gnutls_error_is_fatal((int)n))
			continue;
		tls_psk_fail(s, (int)n);
		return;
	}
	tls_psk_flush(s);
}

int
tls_psk_feed(struct tls_psk *s, const void *buf, size_t len)
{
	if (s->state == TP_OVER || s->state == TP_NEW)
		return -EPIPE;
	s->feed = buf;
	s->feed_len = len;
	if (s->state == TP_HANDSHAKE)
		tls_psk_handshake_step(s);
	if (s->state == TP_OPEN)
		tls_psk_read(s);
	/* What a failure left unread is dropped with the session. */
	s->feed = NULL;
	s->feed_len = 0;
	return s->state == TP_OVER ? -EPIPE : 0;
}

int
tls_psk_write(struct tls_psk *s, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	if (s->state == TP_OVER)
		return -EPIPE;
	if (s->state != TP_OPEN)
		return -ENOTCONN;
	while (len > 0) {
		n = gnutls_record_send(s->gs, p, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;       /* memory push never blocks */
		if (n < 0) {
			s->state = TP_OVER;
			tls_psk_flush(s);
			return S2SD_ETLS;
		}
		p += n;
		len -= (size_t)n;
	}
	tls_psk_flush(s);
	return 0;
}

void
tls_psk_close(struct tls_psk *s)
{
	if (s->state != TP_OPEN)
		return;
	gnutls_bye(s->gs, GNUTLS_SHUT_WR);
	s->state = TP_OVER;
	tls_psk_flush(s);
}

void
tls_psk_free(struct tls_psk *s)
{
	if (s == NULL)
		return;
	gnutls_deinit(s->gs);
	if (s->ccred != NULL)
		gnutls_psk_free_client_credentials(s->ccred);
	if (s->scred != NULL)
		gnutls_psk_free_server_credentials(s->scred);
	util_buf_free(&s->out);
	free(s->identity);
	free(s);
}

const char *
tls_psk_identity(const struct tls_psk *s)
{
	return s->state == TP_OPEN || s->state == TP_OVER ? s->identity : NULL;
}

const char *
tls_psk_kx(const struct tls_psk *s)
{
	const char *n = gnutls_kx_get_name(gnutls_kx_get(s->gs));

	return n != NULL ? n : "-";
}

const char *
tls_psk_error(const struct tls_psk *s)
{
	return s->error;
}
