/* tls_trust.c - trust store and chain verification; see tls_trust.h.
 *
 * Peers are verified for the TLS WWW *server* purpose whichever side of the
 * connection they are on: an inbound s2s peer presents its server
 * certificate as a client certificate, and since 2026 public CAs issue
 * server certificates without the clientAuth EKU, so insisting on the client
 * purpose would break SASL EXTERNAL federation with every such peer. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "tls/tls_int.h"

struct tls_trust {
	int refs;
	gnutls_x509_trust_list_t tl;
	size_t ndir, nsys, ncrl;
	struct tls__vcache *vc;         /* verdicts, see tls_vcache.c */
};

static int
tls_trust_filter(const struct dirent *e)
{
	static const char *const exts[] = {".pem", ".crt", ".cer", ".crl"};
	size_t len = strlen(e->d_name), i;

	if (e->d_name[0] == '.')
		return 0;
	for (i = 0; i < UTIL_ARRAY_LEN(exts); i++)
		if (len > 4 && strcasecmp(e->d_name + len - 4, exts[i]) == 0)
			return 1;
	return 0;
}

/* Add the certificates of one file (pass 0) or its CRLs (pass 1: CRLs are
 * accepted only when a CA already in the list signed them). */
static int
tls_trust_add_file(struct tls_trust *t, const char *path, int pass,
                   char *why, size_t whylen)
{
	gnutls_datum_t data;
	bool has_crt, has_crl;
	int rc;

	if ((rc = tls__read_file(path, &data, why, whylen)) < 0)
		goto out;
	has_crt = memmem(data.data, data.size, "-----BEGIN CERTIFICATE", 22);
	has_crl = memmem(data.data, data.size, "-----BEGIN X509 CRL", 19);
	rc = 0;
	if (!has_crt && !has_crl) {
		snprintf(why, whylen, "%s: no PEM certificate or CRL", path);
		rc = S2SD_ETLS_CREDS;
	} else if (pass == 0 && has_crt) {
		rc = gnutls_x509_trust_list_add_trust_mem(
		    t->tl, &data, NULL, GNUTLS_X509_FMT_PEM,
		    GNUTLS_TL_NO_DUPLICATES, 0);
		if (rc >= 0)
			t->ndir += (size_t)rc;
	} else if (pass == 1 && has_crl) {
		rc = gnutls_x509_trust_list_add_trust_mem(
		    t->tl, NULL, &data, GNUTLS_X509_FMT_PEM,
		    GNUTLS_TL_VERIFY_CRL, 0);
		if (rc == 0) {
			snprintf(why, whylen, "%s: CRL not signed by a CA of "
			         "the trust store", path);
			rc = S2SD_ETLS_CREDS;
		} else if (rc > 0)
			t->ncrl += (size_t)rc;
	}
	if (rc < 0 && rc > -5000) {  /* a GnuTLS error */
		snprintf(why, whylen, "%s: %s", path, gnutls_strerror(rc));
		rc = S2SD_ETLS_CREDS;
	}
out:
	tls__datum_free(&data);
	return rc < 0 ? rc : 0;
}

static int
tls_trust_add_dir(struct tls_trust *t, const char *dir, char *why,
                  size_t whylen)
{
	struct dirent **names;
	char *path;
	int n, i, pass, rc = 0;

	if ((n = scandir(dir, &names, tls_trust_filter, alphasort)) < 0) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return rc;
	}
	for (pass = 0; pass < 2 && rc == 0; pass++) {
		for (i = 0; i < n && rc == 0; i++) {
			path = xasprintf("%s/%s", dir, names[i]->d_name);
			rc = tls_trust_add_file(t, path, pass, why, whylen);
			free(path);
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static void
tls_trust_free(struct tls_trust *t)
{
	if (t->tl != NULL)
		gnutls_x509_trust_list_deinit(t->tl, 1);
	tls__vcache_free(t->vc);
	free(t);
}

int
tls_trust_load(const char *dir, bool system_ca, struct tls_trust **out,
               char *why, size_t whylen)
{
	struct tls_trust *t = xcalloc(1, sizeof(*t));
	int rc;

	t->refs = 1;
	if ((rc = gnutls_x509_trust_list_init(&t->tl, 0)) < 0) {
		snprintf(why, whylen, "trust list: %s", gnutls_strerror(rc));
		tls_trust_free(t);
		return S2SD_ETLS_CREDS;
	}
	if (dir != NULL && (rc = tls_trust_add_dir(t, dir, why, whylen)) < 0) {
		tls_trust_free(t);
		return rc;
	}
	if (system_ca) {
		rc = gnutls_x509_trust_list_add_system_trust(
		    t->tl, GNUTLS_TL_NO_DUPLICATES, 0);
		if (rc <= 0) {
			snprintf(why, whylen, "system CA bundle unavailable: %s",
			         rc < 0 ? gnutls_strerror(rc) : "empty");
			tls_trust_free(t);
			return S2SD_ETLS_CREDS;
		}
		t->nsys = (size_t)rc;
	}
	log_info(LOG_SUB_TLS, 0, "trust loaded dir=%s certs=%zu crls=%zu "
	         "system=%zu", dir != NULL ? dir : "-", t->ndir, t->ncrl,
	         t->nsys);
	*out = t;
	return 0;
}

struct tls_trust *
tls_trust_ref(struct tls_trust *t)
{
	t->refs++;
	return t;
}

void
tls_trust_unref(struct tls_trust *t)
{
	if (t == NULL)
		return;
	if (t->refs <= 0)
		fatalx("%s: refcount underflow", __func__);
	if (--t->refs == 0)
		tls_trust_free(t);
}

struct tls__vcache *
tls__trust_vcache(struct tls_trust *t)
{
	if (t->vc == NULL)
		t->vc = tls__vcache_new();
	return t->vc;
}

size_t
tls_trust_ndir(const struct tls_trust *t)
{
	return t->ndir;
}

size_t
tls_trust_nsystem(const struct tls_trust *t)
{
	return t->nsys;
}

size_t
tls_trust_ncrl(const struct tls_trust *t)
{
	return t->ncrl;
}

/* The first certificate of CHAIN whose validity window excludes NOW. */
static int
tls_trust_find_time(gnutls_x509_crt_t *chain, unsigned n, bool expired,
                    time_t now)
{
	unsigned i;
	time_t t;

	for (i = 0; i < n; i++) {
		t = expired ? gnutls_x509_crt_get_expiration_time(chain[i])
		            : gnutls_x509_crt_get_activation_time(chain[i]);
		if (expired ? t < now : t > now)
			return (int)i;
	}
	return -1;
}

static int
tls_trust_why_time(gnutls_x509_crt_t *chain, unsigned n, bool expired,
                   char *why, size_t whylen)
{
	int i = tls_trust_find_time(chain, n, expired, time(NULL));
	char when[64], dn[256];

	if (i < 0) {
		snprintf(why, whylen, "a trusted CA of the chain %s",
		         expired ? "has expired" : "is not valid yet");
		return expired ? S2SD_ETLS_EXPIRED : S2SD_ETLS_NOT_YET_VALID;
	}
	tls__time_str(expired ? gnutls_x509_crt_get_expiration_time(chain[i])
	                      : gnutls_x509_crt_get_activation_time(chain[i]),
	              when, sizeof(when));
	if (i == 0)
		dn[0] = '\0';
	else
		tls__dn(chain[i], false, dn, sizeof(dn));
	snprintf(why, whylen, "%scertificate%s%s %s %s",
	         i == 0 ? "" : "chain ", i == 0 ? "" : " ", dn,
	         expired ? "expired on" : "is not valid before", when);
	return expired ? S2SD_ETLS_EXPIRED : S2SD_ETLS_NOT_YET_VALID;
}

static int
tls_trust_why_issuer(gnutls_x509_crt_t *chain, unsigned n, char *why,
                     size_t whylen)
{
	char dn[256];

	if (n == 1 && tls__is_self_signed(chain[0])) {
		tls__dn(chain[0], false, dn, sizeof(dn));
		snprintf(why, whylen, "self-signed certificate %s is not pinned "
		         "in the trust store", dn);
	} else {
		tls__dn(chain[n - 1], true, dn, sizeof(dn));
		snprintf(why, whylen, "issuer %s is not in the trust store", dn);
	}
	return S2SD_ETLS_UNKNOWN_ISSUER;
}

static int
tls_trust_why_insecure(gnutls_x509_crt_t *chain, unsigned n, char *why,
                       size_t whylen)
{
	const char *name = NULL;
	unsigned i;
	int alg;

	for (i = 0; i < n && name == NULL; i++) {
		alg = gnutls_x509_crt_get_signature_algorithm(chain[i]);
		if (alg >= 0 && !gnutls_sign_is_secure2((gnutls_sign_algorithm_t)
		                                        alg, 0))
			name = gnutls_sign_get_name((gnutls_sign_algorithm_t)alg);
	}
	snprintf(why, whylen, "certificate chain uses an insecure algorithm%s%s",
	         name != NULL ? ": " : "", name != NULL ? name : "");
	return S2SD_ETLS_INSECURE;
}

/* Turn GnuTLS status bits into one code and the most useful reason. */
static int
tls_trust_why(gnutls_x509_crt_t *chain, unsigned n, unsigned status,
              char *why, size_t whylen)
{
	char dn[256];
	gnutls_datum_t txt;

	tls__dn(chain[0], false, dn, sizeof(dn));
	if (status & GNUTLS_CERT_REVOKED) {
		snprintf(why, whylen, "certificate %s (or its issuer) has been "
		         "revoked", dn);
		return S2SD_ETLS_REVOKED;
	}
	if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
		return tls_trust_why_issuer(chain, n, why, whylen);
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		return tls_trust_why_insecure(chain, n, why, whylen);
	if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
		return tls_trust_why_time(chain, n,
		                          status & GNUTLS_CERT_EXPIRED, why,
		                          whylen);
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH) {
		snprintf(why, whylen, "certificate %s is not for TLS server "
		         "use (extendedKeyUsage lacks serverAuth)", dn);
		return S2SD_ETLS_PURPOSE;
	}
	if (gnutls_certificate_verification_status_print(
	        status, GNUTLS_CRT_X509, &txt, 0) >= 0) {
		snprintf(why, whylen, "%s", (const char *)txt.data);
		gnutls_free(txt.data);
	} else
		snprintf(why, whylen, "chain does not verify (status 0x%x)",
		         status);
	return S2SD_ETLS_VERIFY;
}

int
tls__trust_verify(const struct tls_trust *t, gnutls_x509_crt_t *chain,
                  unsigned n, char *why, size_t whylen)
{
	gnutls_typed_vdata_st vd = {GNUTLS_DT_KEY_PURPOSE_OID,
	                            (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER,
	                            0};
	unsigned status = 0;
	int rc;

	if (n == 0) {
		snprintf(why, whylen, "no certificate");
		return S2SD_ETLS_NOCERT;
	}
	rc = gnutls_x509_trust_list_verify_crt2(t->tl, chain, n, &vd, 1, 0,
	                                        &status, NULL);
	if (rc < 0) {
		snprintf(why, whylen, "chain verification failed: %s",
		         gnutls_strerror(rc));
		return S2SD_ETLS_VERIFY;
	}
	if (status == 0) {
		why[0] = '\0';
		return 0;
	}
	return tls_trust_why(chain, n, status, why, whylen);
}

int
tls_trust_verify_file(const struct tls_trust *t, const char *file, char *why,
                      size_t whylen)
{
	gnutls_x509_crt_t *chain;
	unsigned n;
	int rc;

	if ((rc = tls__load_chain(file, &chain, &n, why, whylen)) < 0)
		return rc;
	rc = tls__trust_verify(t, chain, n, why, whylen);
	tls__free_chain(chain, n);
	return rc;
}
