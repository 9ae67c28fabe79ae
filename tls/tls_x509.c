/* tls_x509.c - certificate, key and name helpers shared by tls/ (see
 * tls_int.h). Files are read here only at startup, reload or from s2sctl. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "tls/tls_int.h"

#define TLS_X509_MAX_SANS 1024
#define TLS_X509_MAX_FILE (4 * 1024 * 1024)

static void
tls_x509_add(struct tls__ids *ids, enum tls_verify_kind kind, const char *v,
             size_t len)
{
	ids->v = xreallocarray(ids->v, ids->n + 1, sizeof(*ids->v));
	ids->v[ids->n].kind = kind;
	ids->v[ids->n].value = xmemdup(v, len);
	ids->v[ids->n].len = len;
	ids->n++;
}

static bool
tls_x509_has_san(gnutls_x509_crt_t crt)
{
	size_t size = 0;
	unsigned critical;
	int rc = gnutls_x509_crt_get_extension_by_oid(crt, "2.5.29.17", 0, NULL,
	                                              &size, &critical);

	return rc != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE;
}

/* Collect DNS-IDs, XmppAddrs and SRV-IDs (GnuTLS decodes both otherNames);
 * entries GnuTLS refuses to decode are skipped, never guessed at. */
static void
tls_x509_sans(gnutls_x509_crt_t crt, struct tls__ids *ids)
{
	size_t cap = 256, size;
	char *buf = xmalloc(cap);
	unsigned seq, type, critical;
	int rc;

	for (seq = 0; seq < TLS_X509_MAX_SANS; seq++) {
		size = cap;
		rc = gnutls_x509_crt_get_subject_alt_name2(crt, seq, buf, &size,
		                                           &type, &critical);
		if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER) {
			/* SIZE now says what it needs: grow and ask again. */
			cap = size + 1;
			buf = xrealloc(buf, cap);
			size = cap;
			rc = gnutls_x509_crt_get_subject_alt_name2(
			    crt, seq, buf, &size, &type, &critical);
		}
		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (rc < 0)
			continue;
		if (type == GNUTLS_SAN_DNSNAME)
			tls_x509_add(ids, TLS_VERIFY_DNS, buf, size);
		else if (type == GNUTLS_SAN_OTHERNAME_XMPP)
			tls_x509_add(ids, TLS_VERIFY_XMPP, buf, size);
		else if (type == GNUTLS_SAN_OTHERNAME_SRV)
			tls_x509_add(ids, TLS_VERIFY_SRV, buf, size);
	}
	free(buf);
}

static void
tls_x509_cns(gnutls_x509_crt_t crt, struct tls__ids *ids)
{
	char buf[1024];
	size_t size;
	unsigned idx;

	for (idx = 0; idx < 16; idx++) {
		size = sizeof(buf);
		if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME,
		                                  idx, 0, buf, &size) < 0)
			break;
		tls_x509_add(ids, TLS_VERIFY_CN, buf, size);
	}
}

void
tls__crt_ids(gnutls_x509_crt_t crt, struct tls__ids *out)
{
	memset(out, 0, sizeof(*out));
	out->has_san = tls_x509_has_san(crt);
	tls_x509_sans(crt, out);
	tls_x509_cns(crt, out);
}

void
tls__ids_free(struct tls__ids *ids)
{
	size_t i;

	if (ids == NULL)
		return;
	for (i = 0; i < ids->n; i++)
		free((void *)ids->v[i].value);
	free(ids->v);
	ids->v = NULL;
	ids->n = 0;
}

void
tls__ids_copy(const struct tls__ids *from, struct tls__ids *to)
{
	size_t i;

	to->n = from->n;
	to->has_san = from->has_san;
	to->v = from->n > 0 ? xcalloc(from->n, sizeof(*to->v)) : NULL;
	for (i = 0; i < from->n; i++) {
		to->v[i] = from->v[i];
		to->v[i].value = xmemdup(from->v[i].value, from->v[i].len);
	}
}

void
tls__dn(gnutls_x509_crt_t crt, bool issuer, char *buf, size_t len)
{
	gnutls_datum_t d = {NULL, 0};
	int rc = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &d, 0)
	                : gnutls_x509_crt_get_dn3(crt, &d, 0);

	if (rc < 0 || d.size == 0)
		snprintf(buf, len, "(empty name)");
	else
		snprintf(buf, len, "%.*s", (int)d.size, (const char *)d.data);
	gnutls_free(d.data);
}

void
tls__time_str(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "(invalid time)");
}

void
tls__fingerprint(gnutls_x509_crt_t crt, char *buf, size_t len)
{
	unsigned char md[32];
	size_t size = sizeof(md), i, off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, md,
	                                    &size) < 0)
		return;
	for (i = 0; i < size && off + 4 <= len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%02X",
		                        i ? ":" : "", md[i]);
}

bool
tls__is_self_signed(gnutls_x509_crt_t crt)
{
	return gnutls_x509_crt_check_issuer(crt, crt) == 1;
}

/* Read a whole (small) file; DATA gets malloc'd bytes (tls__datum_free,
 * also on error). */
int
tls__read_file(const char *path, gnutls_datum_t *data, char *why,
               size_t whylen)
{
	struct util_buf b = {0};
	char chunk[8192];
	size_t n;
	FILE *f = fopen(path, "re");
	int rc = 0;

	data->data = NULL;
	data->size = 0;
	if (f == NULL) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return rc;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
	       b.len <= TLS_X509_MAX_FILE)
		util_buf_append(&b, chunk, n);
	if (ferror(f) || b.len > TLS_X509_MAX_FILE) {
		rc = ferror(f) ? -EIO : -EFBIG;
		snprintf(why, whylen, "%s: %s", path, strerror(-rc));
	}
	fclose(f);
	explicit_bzero(chunk, sizeof(chunk));
	data->size = (unsigned)b.len;
	data->data = (unsigned char *)util_buf_steal(&b, NULL);
	return rc;
}

void
tls__datum_free(gnutls_datum_t *d)
{
	if (d->data != NULL)
		explicit_bzero(d->data, d->size);
	free(d->data);
	d->data = NULL;
}

int
tls__load_chain(const char *path, gnutls_x509_crt_t **crts, unsigned *n,
                char *why, size_t whylen)
{
	gnutls_datum_t data;
	int rc;

	if ((rc = tls__read_file(path, &data, why, whylen)) < 0) {
		tls__datum_free(&data);
		return rc;
	}
	rc = gnutls_x509_crt_list_import2(crts, n, &data, GNUTLS_X509_FMT_PEM,
	                                  GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	tls__datum_free(&data);
	if (rc == GNUTLS_E_CERTIFICATE_LIST_UNSORTED) {
		snprintf(why, whylen, "%s: certificates are not in chain order "
		         "(leaf first, then its issuers)", path);
		return S2SD_ETLS_CREDS;
	}
	if (rc < 0 || *n == 0) {
		snprintf(why, whylen, "%s: no PEM certificate: %s", path,
		         rc < 0 ? gnutls_strerror(rc) : "empty");
		if (rc >= 0)
			tls__free_chain(*crts, *n);
		return S2SD_ETLS_CREDS;
	}
	return 0;
}

void
tls__free_chain(gnutls_x509_crt_t *crts, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
}

int
tls__load_key(const char *path, gnutls_privkey_t *key, char *why,
              size_t whylen)
{
	gnutls_datum_t data;
	int rc;

	if ((rc = tls__read_file(path, &data, why, whylen)) < 0) {
		tls__datum_free(&data);
		return rc;
	}
	if ((rc = gnutls_privkey_init(key)) >= 0)
		rc = gnutls_privkey_import_x509_raw(*key, &data,
		                                    GNUTLS_X509_FMT_PEM, NULL, 0);
	tls__datum_free(&data);
	if (rc < 0) {
		snprintf(why, whylen, "%s: no usable PEM private key: %s", path,
		         gnutls_strerror(rc));
		gnutls_privkey_deinit(*key);
		*key = NULL;
		return S2SD_ETLS_CREDS;
	}
	return 0;
}

bool
tls__key_matches(gnutls_x509_crt_t crt, gnutls_privkey_t key)
{
	unsigned char a[64], b[64];
	size_t alen = sizeof(a), blen = sizeof(b);
	gnutls_pubkey_t pub;
	bool ok = false;

	if (gnutls_pubkey_init(&pub) < 0)
		return false;
	if (gnutls_pubkey_import_privkey(pub, key, 0, 0) >= 0 &&
	    gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, a,
	                             &alen) >= 0 &&
	    gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, b,
	                               &blen) >= 0)
		ok = alen == blen && memcmp(a, b, alen) == 0;
	gnutls_pubkey_deinit(pub);
	return ok;
}

void
tls__gnutls_why(gnutls_session_t gs, int rc, char *why, size_t whylen)
{
	const char *alert;

	if (gs != NULL && (rc == GNUTLS_E_FATAL_ALERT_RECEIVED ||
	                   rc == GNUTLS_E_WARNING_ALERT_RECEIVED)) {
		alert = gnutls_alert_get_name(gnutls_alert_get(gs));
		snprintf(why, whylen, "peer sent alert: %s",
		         alert != NULL ? alert : "unknown");
		return;
	}
	snprintf(why, whylen, "%s", gnutls_strerror(rc));
}

/* A certificate refused on either side (an alert from the peer or our own
 * check) is an operator's problem of another kind than a protocol
 * mismatch: the metrics tell them apart. */
const char *
tls__fail_class(gnutls_session_t gs, int rc)
{
	if (gs != NULL && (rc == GNUTLS_E_FATAL_ALERT_RECEIVED ||
	                   rc == GNUTLS_E_WARNING_ALERT_RECEIVED)) {
		switch (gnutls_alert_get(gs)) {
		case GNUTLS_A_SSL3_NO_CERTIFICATE:
		case GNUTLS_A_BAD_CERTIFICATE:
		case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
		case GNUTLS_A_CERTIFICATE_REVOKED:
		case GNUTLS_A_CERTIFICATE_EXPIRED:
		case GNUTLS_A_CERTIFICATE_UNKNOWN:
		case GNUTLS_A_UNKNOWN_CA:
		case GNUTLS_A_CERTIFICATE_UNOBTAINABLE:
		case GNUTLS_A_CERTIFICATE_REQUIRED:
			return "certificate";
		default:
			return "protocol";
		}
	}
	switch (rc) {
	case GNUTLS_E_CERTIFICATE_ERROR:
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_CERTIFICATE_KEY_MISMATCH:
		return "certificate";
	default:
		return "protocol";
	}
}
