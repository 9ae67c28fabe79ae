/* tls_cert.c - cert show, check, selfsigned, csr; see tls_cert.h. */
#include "tls/tls_cert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/err.h"
#include "tls/tls_int.h"

#define TLS_CERT_WARN_DAYS 14

/* ---- show -------------------------------------------------------------- */

static void
tls_cert_show_key(gnutls_x509_crt_t crt, struct util_buf *out)
{
	gnutls_ecc_curve_t curve;
	unsigned bits = 0;
	int pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	const char *name = gnutls_pk_get_name((gnutls_pk_algorithm_t)pk);

	if (pk == GNUTLS_PK_ECDSA &&
	    gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, NULL, NULL) >= 0)
		util_buf_printf(out, "  key:         ECDSA %s\n",
		                gnutls_ecc_curve_get_name(curve));
	else
		util_buf_printf(out, "  key:         %s %u bits\n",
		                name != NULL ? name : "unknown", bits);
}

static void
tls_cert_show_names(gnutls_x509_crt_t crt, struct util_buf *out)
{
	struct tls__ids ids;
	char one[512];
	size_t i, shown = 0;

	tls__crt_ids(crt, &ids);
	util_buf_puts(out, "  names:       ");
	for (i = 0; i < ids.n; i++) {
		if (ids.v[i].kind == TLS_VERIFY_CN)
			continue;
		tls_verify_id_format(&ids.v[i], one, sizeof(one));
		util_buf_printf(out, "%s%s", shown++ ? ", " : "", one);
	}
	util_buf_printf(out, "%s\n", shown ? "" : ids.has_san
	                                             ? "(no DNS, SRV-ID or "
	                                               "XmppAddr)"
	                                             : "(no subjectAltName)");
	for (i = 0; i < ids.n; i++) {
		if (ids.v[i].kind != TLS_VERIFY_CN)
			continue;
		tls_verify_id_format(&ids.v[i], one, sizeof(one));
		util_buf_printf(out, "  cn:          %s%s\n", one + 3,
		                ids.has_san ? " (ignored: SANs present)" : "");
	}
	tls__ids_free(&ids);
}

static void
tls_cert_show_eku(gnutls_x509_crt_t crt, struct util_buf *out)
{
	char oid[128];
	size_t size;
	unsigned i, critical;
	const char *name;

	util_buf_puts(out, "  ext key use: ");
	for (i = 0;; i++) {
		size = sizeof(oid);
		if (gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &size,
		                                        &critical) < 0)
			break;
		if (strcmp(oid, GNUTLS_KP_TLS_WWW_SERVER) == 0)
			name = "serverAuth";
		else if (strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0)
			name = "clientAuth";
		else
			name = oid;
		util_buf_printf(out, "%s%s", i ? ", " : "", name);
	}
	util_buf_puts(out, i == 0 ? "(any)\n" : "\n");
}

static const char *
tls_cert_validity(gnutls_x509_crt_t crt, time_t now)
{
	if (gnutls_x509_crt_get_expiration_time(crt) < now)
		return "EXPIRED";
	if (gnutls_x509_crt_get_activation_time(crt) > now)
		return "NOT YET VALID";
	return "valid now";
}

static void
tls_cert_show_one(gnutls_x509_crt_t crt, unsigned idx, unsigned n,
                  struct util_buf *out)
{
	char buf[512], when[64];
	unsigned char serial[64];
	size_t slen = sizeof(serial);
	unsigned ca = 0;

	util_buf_printf(out, "certificate %u of %u%s\n", idx + 1, n,
	                idx == 0 ? " (leaf)" : "");
	tls__dn(crt, false, buf, sizeof(buf));
	util_buf_printf(out, "  subject:     %s\n", buf);
	tls__dn(crt, true, buf, sizeof(buf));
	util_buf_printf(out, "  issuer:      %s\n", buf);
	if (gnutls_x509_crt_get_serial(crt, serial, &slen) >= 0 && slen <= 64) {
		util_hex(serial, slen, buf);
		util_buf_printf(out, "  serial:      %s\n", buf);
	}
	tls__time_str(gnutls_x509_crt_get_activation_time(crt), when,
	              sizeof(when));
	util_buf_printf(out, "  not before:  %s\n", when);
	tls__time_str(gnutls_x509_crt_get_expiration_time(crt), when,
	              sizeof(when));
	util_buf_printf(out, "  not after:   %s (%s)\n", when,
	                tls_cert_validity(crt, time(NULL)));
	tls_cert_show_key(crt, out);
	tls_cert_show_names(crt, out);
	tls_cert_show_eku(crt, out);
	util_buf_printf(out, "  ca:          %s\n",
	                gnutls_x509_crt_get_basic_constraints(crt, NULL, &ca,
	                                                      NULL) >= 0 &&
	                        ca
	                    ? "yes"
	                    : "no");
	tls__fingerprint(crt, buf, sizeof(buf));
	util_buf_printf(out, "  sha256:      %s\n", buf);
}

int
tls_cert_show(const char *file, struct util_buf *out)
{
	gnutls_x509_crt_t *chain;
	unsigned n, i;
	char why[512];
	int rc;

	if ((rc = tls__load_chain(file, &chain, &n, why, sizeof(why))) < 0) {
		util_buf_printf(out, "%s\n", why);
		return rc;
	}
	for (i = 0; i < n; i++)
		tls_cert_show_one(chain[i], i, n, out);
	tls__free_chain(chain, n);
	return 0;
}

/* ---- check ------------------------------------------------------------- */

struct tls_cert_loaded {
	const char *file;
	gnutls_x509_crt_t *chain;
	unsigned n;
	struct tls__ids ids;
};

struct tls_cert_tally {
	unsigned problems, warnings;
	struct util_buf *out;
};

static void __attribute__((format(printf, 3, 4)))
tls_cert_report(struct tls_cert_tally *t, bool problem, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	util_buf_printf(t->out, "%s: %s\n", problem ? "problem" : "warning",
	                line);
	if (problem)
		t->problems++;
	else
		t->warnings++;
}

static void
tls_cert_check_time(struct tls_cert_tally *t, const char *file,
                    gnutls_x509_crt_t crt, time_t now, unsigned warn_days)
{
	time_t until = gnutls_x509_crt_get_expiration_time(crt);
	time_t from = gnutls_x509_crt_get_activation_time(crt);
	char dn[256], when[64];

	tls__dn(crt, false, dn, sizeof(dn));
	if (until < now) {
		tls__time_str(until, when, sizeof(when));
		tls_cert_report(t, true, "%s: certificate %s expired on %s",
		                file, dn, when);
	} else if (from > now) {
		tls__time_str(from, when, sizeof(when));
		tls_cert_report(t, true, "%s: certificate %s is not valid "
		                "before %s", file, dn, when);
	} else if (until - now < (time_t)warn_days * 86400) {
		tls__time_str(until, when, sizeof(when));
		tls_cert_report(t, false, "%s: certificate %s expires on %s",
		                file, dn, when);
	}
}

/* Peers verify our certificate for TLS server use; some still insist on
 * clientAuth for the certificate we present when we connect out. */
static void
tls_cert_check_eku(struct tls_cert_tally *t, const char *file,
                   gnutls_x509_crt_t crt)
{
	bool server, client;

	server = gnutls_x509_crt_check_key_purpose(
	    crt, GNUTLS_KP_TLS_WWW_SERVER, 0) != 0;
	client = gnutls_x509_crt_check_key_purpose(
	    crt, GNUTLS_KP_TLS_WWW_CLIENT, 0) != 0;
	if (!server)
		tls_cert_report(t, true, "%s: certificate is not for TLS "
		                "server use (extendedKeyUsage lacks serverAuth)",
		                file);
	else if (!client)
		tls_cert_report(t, false, "%s: no clientAuth extendedKeyUsage: "
		                "peers that insist on it refuse SASL EXTERNAL from "
		                "us (dialback still works)", file);
}

static void
tls_cert_check_pair(struct tls_cert_tally *t, struct tls_cert_loaded *l,
                    const char *key_file, const struct tls_cert_check_in *in)
{
	gnutls_privkey_t key;
	char why[512];
	unsigned i;

	if (tls__load_chain(l->file, &l->chain, &l->n, why, sizeof(why)) < 0) {
		l->chain = NULL;
		l->n = 0;
		tls_cert_report(t, true, "%s", why);
		return;
	}
	tls__crt_ids(l->chain[0], &l->ids);
	if (tls__load_key(key_file, &key, why, sizeof(why)) < 0)
		tls_cert_report(t, true, "%s", why);
	else {
		if (!tls__key_matches(l->chain[0], key))
			tls_cert_report(t, true, "key %s does not match the "
			                "certificate in %s", key_file, l->file);
		gnutls_privkey_deinit(key);
	}
	for (i = 0; i < l->n; i++)
		tls_cert_check_time(t, l->file, l->chain[i], in->now,
		                    in->warn_days);
	tls_cert_check_eku(t, l->file, l->chain[0]);
}

static void
tls_cert_check_domain(struct tls_cert_tally *t, const char *domain,
                      const struct tls_cert_loaded *l, size_t n)
{
	struct util_buf reasons = {0};
	char why[512], one[256];
	size_t i, m;

	for (i = 0; i < n; i++) {
		if (l[i].n == 0)
			continue;
		if (tls_verify_name(domain, l[i].ids.v, l[i].ids.n,
		                    l[i].ids.has_san, &m, why, sizeof(why)) == 0) {
			tls_verify_id_format(&l[i].ids.v[m], one, sizeof(one));
			util_buf_printf(t->out, "ok: %s is covered by %s (%s)\n",
			                domain, l[i].file, one);
			util_buf_free(&reasons);
			return;
		}
		util_buf_printf(&reasons, "%s%s: %s", reasons.len ? "; " : "",
		                l[i].file, why);
	}
	tls_cert_report(t, true, "no certificate covers %s (%s)", domain,
	                reasons.len ? reasons.data : "no usable certificate");
	util_buf_free(&reasons);
}

int
tls_cert_check(const struct tls_cert_check_in *in, struct util_buf *out)
{
	struct tls_cert_check_in cin = *in;
	struct tls_cert_tally t = {0, 0, out};
	struct tls_cert_loaded *l = xcalloc(in->ncerts, sizeof(*l));
	size_t i;

	if (cin.now == 0)
		cin.now = time(NULL);
	if (cin.warn_days == 0)
		cin.warn_days = TLS_CERT_WARN_DAYS;
	if (in->ncerts == 0)
		tls_cert_report(&t, true, "no certificate configured");
	if (in->nkeys != in->ncerts)
		tls_cert_report(&t, true, "%zu certificate files but %zu key "
		                "files: they are paired", in->ncerts, in->nkeys);
	for (i = 0; i < in->ncerts; i++) {
		l[i].file = in->cert_files[i];
		if (i < in->nkeys)
			tls_cert_check_pair(&t, &l[i], in->key_files[i], &cin);
	}
	for (i = 0; i < in->ndomains; i++)
		tls_cert_check_domain(&t, in->domains[i], l, in->ncerts);
	for (i = 0; i < in->ncerts; i++) {
		if (l[i].chain != NULL)
			tls__free_chain(l[i].chain, l[i].n);
		tls__ids_free(&l[i].ids);
	}
	free(l);
	util_buf_printf(out, "%u problem%s, %u warning%s\n", t.problems,
	                t.problems == 1 ? "" : "s", t.warnings,
	                t.warnings == 1 ? "" : "s");
	return t.problems > 0 ? S2SD_ETLS_CREDS : 0;
}

/* ---- selfsigned, csr ----------------------------------------------------- */

static int
tls_cert_gnutls(int rc, const char *what, char *why, size_t whylen)
{
	if (rc >= 0)
		return 0;
	snprintf(why, whylen, "%s: %s", what, gnutls_strerror(rc));
	return S2SD_ETLS_CREDS;
}

/* Domains become SANs verbatim: they must look like A-label host names. */
static int
tls_cert_check_domains(const struct tls_cert_make *req, char *why,
                       size_t whylen)
{
	size_t i, len;
	const char *d;

	if (req->ndomains == 0) {
		snprintf(why, whylen, "no domain given");
		return -EINVAL;
	}
	for (i = 0; i < req->ndomains; i++) {
		d = req->domains[i];
		len = strlen(d);
		if (len == 0 || len > 253 || strspn(d, "abcdefghijklmnopqrstuvwxyz"
		                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                                       "0123456789-.*") != len) {
			snprintf(why, whylen, "\"%s\" is not a domain in A-label "
			         "form", d);
			return -EINVAL;
		}
	}
	return 0;
}

/* Write LEN bytes to PATH; EXCL refuses to replace an existing file. */
static int
tls_cert_write(const char *path, const void *data, size_t len, mode_t mode,
               bool excl, char *why, size_t whylen)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC);
	int fd = open(path, flags, mode), rc = 0;

	if (fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
		rc = errno != 0 ? -errno : -EIO;
		snprintf(why, whylen, "%s: %s", path, strerror(-rc));
	}
	if (close(fd) < 0 && rc == 0) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
	}
	if (rc < 0)
		unlink(path);
	return rc;
}

/* Generate a key, write it (PKCS#8 PEM, 0600, never replacing a file) and
 * return it as an abstract key. */
static int
tls_cert_new_key(const struct tls_cert_make *req, gnutls_privkey_t *out,
                 char *why, size_t whylen)
{
	gnutls_x509_privkey_t xkey;
	gnutls_datum_t pem = {NULL, 0};
	int rc;

	if ((rc = gnutls_x509_privkey_init(&xkey)) < 0)
		return tls_cert_gnutls(rc, "key", why, whylen);
	if (req->keytype == TLS_CERT_ECDSA_P256)
		rc = gnutls_x509_privkey_generate(
		    xkey, GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	else
		rc = gnutls_x509_privkey_generate(xkey, GNUTLS_PK_RSA, 2048, 0);
	if (rc >= 0)
		rc = gnutls_x509_privkey_export2_pkcs8(
		    xkey, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &pem);
	if ((rc = tls_cert_gnutls(rc, "key generation", why, whylen)) == 0)
		rc = tls_cert_write(req->key_file, pem.data, pem.size, 0600,
		                    true, why, whylen);
	if (rc == 0 && ((rc = gnutls_privkey_init(out)) < 0 ||
	                (rc = gnutls_privkey_import_x509(
	                     *out, xkey, GNUTLS_PRIVKEY_IMPORT_COPY)) < 0))
		rc = tls_cert_gnutls(rc, "key import", why, whylen);
	if (pem.data != NULL) {
		gnutls_memset(pem.data, 0, pem.size);
		gnutls_free(pem.data);
	}
	gnutls_x509_privkey_deinit(xkey);
	return rc;
}

static int
tls_cert_set_names(gnutls_x509_crt_t crt, const struct tls_cert_make *req)
{
	size_t i;
	int rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME,
	                                       0, req->domains[0],
	                                       strlen(req->domains[0]));

	/* DNS-IDs only: every peer checks them (RFC 6125, RFC 7590), while an
	 * XmppAddr SAN makes ejabberd 23.01 (Debian 12) crash its S2S process
	 * on our certificate (badarg in xmpp_stream_pkix:get_cert_domains),
	 * which would cut federation with it. */
	for (i = 0; i < req->ndomains && rc >= 0; i++)
		rc = gnutls_x509_crt_set_subject_alt_name(
		    crt, GNUTLS_SAN_DNSNAME, req->domains[i],
		    (unsigned)strlen(req->domains[i]), GNUTLS_FSAN_APPEND);
	return rc;
}

static int
tls_cert_set_fields(gnutls_x509_crt_t crt, gnutls_pubkey_t pub,
                    const struct tls_cert_make *req)
{
	unsigned char serial[20], id[64];
	size_t idlen = sizeof(id);
	time_t now = req->now ? req->now : time(NULL);
	unsigned days = req->days ? req->days : 365;
	unsigned ku = GNUTLS_KEY_DIGITAL_SIGNATURE;
	int rc;

	util_random(serial, sizeof(serial));
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x01);
	if (req->keytype == TLS_CERT_RSA2048)
		ku |= GNUTLS_KEY_KEY_ENCIPHERMENT;
	if ((rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
	    (rc = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
	    (rc = gnutls_x509_crt_set_expiration_time(
	         crt, now + (time_t)days * 86400)) < 0 ||
	    (rc = gnutls_x509_crt_set_pubkey(crt, pub)) < 0 ||
	    (rc = tls_cert_set_names(crt, req)) < 0 ||
	    (rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_usage(crt, ku)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_purpose_oid(
	         crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_purpose_oid(
	         crt, GNUTLS_KP_TLS_WWW_CLIENT, 0)) < 0 ||
	    (rc = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA1, id,
	                                   &idlen)) < 0)
		return rc;
	return gnutls_x509_crt_set_subject_key_id(crt, id, idlen);
}

static int
tls_cert_pubkey(gnutls_privkey_t key, gnutls_pubkey_t *pub)
{
	int rc;

	if ((rc = gnutls_pubkey_init(pub)) < 0)
		return rc;
	if ((rc = gnutls_pubkey_import_privkey(*pub, key, 0, 0)) < 0) {
		gnutls_pubkey_deinit(*pub);
		*pub = NULL;
	}
	return rc;
}

static int
tls_cert_sign_self(const struct tls_cert_make *req, gnutls_privkey_t key,
                   gnutls_datum_t *pem)
{
	gnutls_x509_crt_t crt;
	gnutls_pubkey_t pub = NULL;
	int rc;

	if ((rc = gnutls_x509_crt_init(&crt)) < 0)
		return rc;
	if ((rc = tls_cert_pubkey(key, &pub)) >= 0 &&
	    (rc = tls_cert_set_fields(crt, pub, req)) >= 0 &&
	    (rc = gnutls_x509_crt_privkey_sign(crt, crt, key,
	                                       GNUTLS_DIG_SHA256, 0)) >= 0)
		rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, pem);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

int
tls_cert_selfsigned(const struct tls_cert_make *req, char *why,
                    size_t whylen)
{
	gnutls_privkey_t key = NULL;
	gnutls_datum_t pem = {NULL, 0};
	int rc;

	if ((rc = tls_cert_check_domains(req, why, whylen)) < 0)
		return rc;
	/* Claim the certificate's name first: a failure leaves no key. */
	if ((rc = tls_cert_write(req->out_file, "", 0, 0644, true, why,
	                         whylen)) < 0)
		return rc;
	if ((rc = tls_cert_new_key(req, &key, why, whylen)) == 0) {
		rc = tls_cert_gnutls(tls_cert_sign_self(req, key, &pem),
		                     "self-signed certificate", why, whylen);
		if (rc == 0)
			rc = tls_cert_write(req->out_file, pem.data, pem.size,
			                    0644, false, why, whylen);
		if (rc < 0)
			unlink(req->key_file);
	}
	if (rc < 0)
		unlink(req->out_file);
	gnutls_free(pem.data);
	gnutls_privkey_deinit(key);
	return rc;
}

static int
tls_cert_make_csr(const struct tls_cert_make *req, gnutls_privkey_t key,
                  gnutls_datum_t *pem)
{
	gnutls_x509_crq_t crq;
	gnutls_pubkey_t pub = NULL;
	size_t i;
	int rc;

	if ((rc = gnutls_x509_crq_init(&crq)) < 0)
		return rc;
	if ((rc = tls_cert_pubkey(key, &pub)) >= 0 &&
	    (rc = gnutls_x509_crq_set_version(crq, 1)) >= 0 &&
	    (rc = gnutls_x509_crq_set_dn_by_oid(
	         crq, GNUTLS_OID_X520_COMMON_NAME, 0, req->domains[0],
	         strlen(req->domains[0]))) >= 0 &&
	    (rc = gnutls_x509_crq_set_pubkey(crq, pub)) >= 0 &&
	    (rc = gnutls_x509_crq_set_key_purpose_oid(
	         crq, GNUTLS_KP_TLS_WWW_SERVER, 0)) >= 0 &&
	    (rc = gnutls_x509_crq_set_key_purpose_oid(
	         crq, GNUTLS_KP_TLS_WWW_CLIENT, 0)) >= 0) {
		for (i = 0; i < req->ndomains && rc >= 0; i++)
			rc = gnutls_x509_crq_set_subject_alt_name(
			    crq, GNUTLS_SAN_DNSNAME, req->domains[i],
			    (unsigned)strlen(req->domains[i]),
			    GNUTLS_FSAN_APPEND);
	}
	if (rc >= 0 && (rc = gnutls_x509_crq_privkey_sign(
	                    crq, key, GNUTLS_DIG_SHA256, 0)) >= 0)
		rc = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, pem);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crq_deinit(crq);
	return rc;
}

int
tls_cert_csr(const struct tls_cert_make *req, char *why, size_t whylen)
{
	gnutls_privkey_t key = NULL;
	gnutls_datum_t pem = {NULL, 0};
	int rc;

	if ((rc = tls_cert_check_domains(req, why, whylen)) < 0)
		return rc;
	if (access(req->key_file, F_OK) == 0)
		rc = tls__load_key(req->key_file, &key, why, whylen);
	else if (errno == ENOENT)
		rc = tls_cert_new_key(req, &key, why, whylen);
	else {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", req->key_file, strerror(errno));
	}
	if (rc == 0)
		rc = tls_cert_gnutls(tls_cert_make_csr(req, key, &pem), "CSR",
		                     why, whylen);
	if (rc == 0)
		rc = tls_cert_write(req->out_file, pem.data, pem.size, 0644,
		                    false, why, whylen);
	gnutls_free(pem.data);
	gnutls_privkey_deinit(key);
	return rc;
}
