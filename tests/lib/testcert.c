/* testcert.c - test-time certificates; see testcert.h. */
#include "tests/lib/testcert.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cm/util.h"

#define TESTCERT_OID_XMPPADDR "1.3.6.1.5.5.7.8.5"
#define TESTCERT_OID_DNSSRV "1.3.6.1.5.5.7.8.7"

struct testcert {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	const struct testcert *issuer;  /* borrowed; NULL when self-signed */
};

#define TC(call)                                                               \
	do {                                                                   \
		int tc_rc_ = (call);                                           \
		if (tc_rc_ < 0)                                                \
			testcert_die(#call, tc_rc_);                           \
	} while (0)

static void __attribute__((noreturn))
testcert_die(const char *what, int rc)
{
	fprintf(stderr, "testcert: %s: %s\n", what, gnutls_strerror(rc));
	abort();
}

static void
testcert_keygen(struct testcert *tc, bool rsa)
{
	TC(gnutls_x509_privkey_init(&tc->key));
	if (rsa)
		TC(gnutls_x509_privkey_generate(tc->key, GNUTLS_PK_RSA, 2048, 0));
	else
		TC(gnutls_x509_privkey_generate(
		    tc->key, GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
}

/* SRV-ID values are IA5Strings; GnuTLS encodes only UTF8 and OCTET
 * strings for othernames, so this builds the short DER by hand. */
static void
testcert_add_srv(gnutls_x509_crt_t crt, const char *srv)
{
	unsigned char der[260];
	size_t len = strlen(srv);

	if (len > 127) {
		fprintf(stderr, "testcert: SRV-ID too long\n");
		abort();
	}
	der[0] = 0x16;
	der[1] = (unsigned char)len;
	memcpy(der + 2, srv, len);
	TC(gnutls_x509_crt_set_subject_alt_othername(
	    crt, TESTCERT_OID_DNSSRV, der, (unsigned)len + 2,
	    GNUTLS_FSAN_APPEND));
}

static void
testcert_add_names(gnutls_x509_crt_t crt, const struct testcert_spec *spec)
{
	size_t i;

	for (i = 0; i < TESTCERT_MAX_NAMES && spec->dns[i] != NULL; i++)
		TC(gnutls_x509_crt_set_subject_alt_name(
		    crt, GNUTLS_SAN_DNSNAME, spec->dns[i],
		    (unsigned)strlen(spec->dns[i]), GNUTLS_FSAN_APPEND));
	for (i = 0; i < TESTCERT_MAX_NAMES && spec->xmpp[i] != NULL; i++)
		TC(gnutls_x509_crt_set_subject_alt_othername(
		    crt, TESTCERT_OID_XMPPADDR, spec->xmpp[i],
		    (unsigned)strlen(spec->xmpp[i]),
		    GNUTLS_FSAN_APPEND | GNUTLS_FSAN_ENCODE_UTF8_STRING));
	for (i = 0; i < TESTCERT_MAX_NAMES && spec->srv[i] != NULL; i++)
		testcert_add_srv(crt, spec->srv[i]);
}

static void
testcert_set_usage(gnutls_x509_crt_t crt, const struct testcert_spec *spec)
{
	unsigned ku = GNUTLS_KEY_DIGITAL_SIGNATURE;

	if (spec->ca) {
		TC(gnutls_x509_crt_set_basic_constraints(crt, 1, -1));
		ku |= GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN;
	} else {
		TC(gnutls_x509_crt_set_basic_constraints(crt, 0, -1));
		if (spec->rsa)
			ku |= GNUTLS_KEY_KEY_ENCIPHERMENT;
		if (spec->eku & TESTCERT_EKU_SERVER)
			TC(gnutls_x509_crt_set_key_purpose_oid(
			    crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
		if (spec->eku & TESTCERT_EKU_CLIENT)
			TC(gnutls_x509_crt_set_key_purpose_oid(
			    crt, GNUTLS_KP_TLS_WWW_CLIENT, 0));
	}
	TC(gnutls_x509_crt_set_key_usage(crt, ku));
}

static void
testcert_set_ids(struct testcert *tc, const struct testcert *issuer)
{
	unsigned char serial[16], id[64];
	size_t idlen = sizeof(id);

	util_random(serial, sizeof(serial));
	serial[0] &= 0x7f;  /* a positive INTEGER */
	serial[0] |= 0x01;  /* and no leading zero byte to strip */
	TC(gnutls_x509_crt_set_serial(tc->crt, serial, sizeof(serial)));
	TC(gnutls_x509_privkey_get_key_id(tc->key, GNUTLS_KEYID_USE_SHA1, id,
	                                  &idlen));
	TC(gnutls_x509_crt_set_subject_key_id(tc->crt, id, idlen));
	if (issuer != NULL) {
		idlen = sizeof(id);
		TC(gnutls_x509_crt_get_subject_key_id(issuer->crt, id, &idlen,
		                                      NULL));
		TC(gnutls_x509_crt_set_authority_key_id(tc->crt, id, idlen));
	}
}

/* GnuTLS answers SAN queries on a certificate only after a round trip
 * through DER, so the signed certificate is re-imported. */
static void
testcert_reimport(struct testcert *tc)
{
	gnutls_datum_t der;

	TC(gnutls_x509_crt_export2(tc->crt, GNUTLS_X509_FMT_DER, &der));
	gnutls_x509_crt_deinit(tc->crt);
	TC(gnutls_x509_crt_init(&tc->crt));
	TC(gnutls_x509_crt_import(tc->crt, &der, GNUTLS_X509_FMT_DER));
	gnutls_free(der.data);
}

struct testcert *
testcert_new(const struct testcert_spec *spec, const struct testcert *issuer)
{
	struct testcert *tc = xcalloc(1, sizeof(*tc));
	time_t now = time(NULL);
	long from = spec->not_before, until = spec->not_after;

	if (from == 0 && until == 0) {
		from = -3600;
		until = 30L * 86400;
	}
	tc->issuer = issuer;
	testcert_keygen(tc, spec->rsa);
	TC(gnutls_x509_crt_init(&tc->crt));
	TC(gnutls_x509_crt_set_version(tc->crt, 3));
	TC(gnutls_x509_crt_set_activation_time(tc->crt, now + from));
	TC(gnutls_x509_crt_set_expiration_time(tc->crt, now + until));
	if (spec->cn != NULL)
		TC(gnutls_x509_crt_set_dn_by_oid(tc->crt,
		                                 GNUTLS_OID_X520_COMMON_NAME, 0,
		                                 spec->cn, strlen(spec->cn)));
	TC(gnutls_x509_crt_set_key(tc->crt, tc->key));
	testcert_add_names(tc->crt, spec);
	testcert_set_usage(tc->crt, spec);
	testcert_set_ids(tc, issuer);
	TC(gnutls_x509_crt_sign2(tc->crt, issuer ? issuer->crt : tc->crt,
	                         issuer ? issuer->key : tc->key,
	                         spec->sha1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256,
	                         0));
	testcert_reimport(tc);
	return tc;
}

void
testcert_free(struct testcert *tc)
{
	if (tc == NULL)
		return;
	gnutls_x509_crt_deinit(tc->crt);
	gnutls_x509_privkey_deinit(tc->key);
	free(tc);
}

static char *
testcert_datum_str(gnutls_datum_t *d)
{
	char *s = xstrndup((const char *)d->data, d->size);

	gnutls_free(d->data);
	return s;
}

char *
testcert_pem(const struct testcert *tc, bool chain)
{
	struct util_buf b = {0};
	gnutls_datum_t d;
	const struct testcert *c;

	for (c = tc; c != NULL; c = chain ? c->issuer : NULL) {
		if (c != tc && c->issuer == NULL)
			break;  /* the root stays in the trust store */
		TC(gnutls_x509_crt_export2(c->crt, GNUTLS_X509_FMT_PEM, &d));
		util_buf_append(&b, d.data, d.size);
		gnutls_free(d.data);
	}
	return util_buf_steal(&b, NULL);
}

char *
testcert_key_pem(const struct testcert *tc)
{
	gnutls_datum_t d;

	TC(gnutls_x509_privkey_export2(tc->key, GNUTLS_X509_FMT_PEM, &d));
	return testcert_datum_str(&d);
}

unsigned char *
testcert_der(const struct testcert *tc, size_t *len)
{
	gnutls_datum_t d;
	unsigned char *p;

	TC(gnutls_x509_crt_export2(tc->crt, GNUTLS_X509_FMT_DER, &d));
	p = xmemdup(d.data, d.size);
	*len = d.size;
	gnutls_free(d.data);
	return p;
}

char *
testcert_crl_pem(const struct testcert *ca,
                 const struct testcert *const *revoked, size_t n)
{
	gnutls_x509_crl_t crl;
	gnutls_datum_t d;
	time_t now = time(NULL);
	size_t i;

	TC(gnutls_x509_crl_init(&crl));
	TC(gnutls_x509_crl_set_version(crl, 2));
	TC(gnutls_x509_crl_set_this_update(crl, now - 60));
	TC(gnutls_x509_crl_set_next_update(crl, now + 86400));
	TC(gnutls_x509_crl_set_number(crl, "\x01", 1));
	for (i = 0; i < n; i++)
		TC(gnutls_x509_crl_set_crt(crl, revoked[i]->crt, now - 60));
	TC(gnutls_x509_crl_sign2(crl, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0));
	TC(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &d));
	gnutls_x509_crl_deinit(crl);
	return testcert_datum_str(&d);
}

static char *
testcert_write_mode(const char *dir, const char *name, const char *text,
                    mode_t mode)
{
	char *path = xasprintf("%s/%s", dir, name);
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) < 0) {
		fprintf(stderr, "testcert: write %s: %s\n", path,
		        strerror(errno));
		abort();
	}
	return path;
}

char *
testcert_write_file(const char *dir, const char *name, const char *text)
{
	return testcert_write_mode(dir, name, text, 0644);
}

void
testcert_write(const struct testcert *tc, const char *dir, const char *name,
               bool chain, char **crt, char **key)
{
	char *fname, *pem, *path;

	fname = xasprintf("%s.crt", name);
	pem = testcert_pem(tc, chain);
	path = testcert_write_mode(dir, fname, pem, 0644);
	free(pem);
	free(fname);
	if (crt != NULL)
		*crt = path;
	else
		free(path);
	fname = xasprintf("%s.key", name);
	pem = testcert_key_pem(tc);
	path = testcert_write_mode(dir, fname, pem, 0600);
	free(pem);
	free(fname);
	if (key != NULL)
		*key = path;
	else
		free(path);
}

char *
testcert_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir = xasprintf("%s/s2sd-test-XXXXXX",
	                      base != NULL && *base != '\0' ? base : "/tmp");

	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "testcert: mkdtemp %s: %s\n", dir,
		        strerror(errno));
		abort();
	}
	return dir;
}

void
testcert_rmdir(char *dir)
{
	DIR *d;
	struct dirent *e;
	char *path;

	if (dir == NULL)
		return;
	if ((d = opendir(dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			path = xasprintf("%s/%s", dir, e->d_name);
			unlink(path);
			free(path);
		}
		closedir(d);
	}
	rmdir(dir);
	free(dir);
}
