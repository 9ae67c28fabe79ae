/* check_tls_cert.c - tls/tls_cert: cert show, check, selfsigned, csr, on
 * certificates made at test time. Results are read back with GnuTLS
 * directly (fingerprints, CSR fields), not with the code under test. */
#include <check.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "tests/lib/testcert.h"
#include "tls/tls_cert.h"
#include "tls/tls_ctx.h"
#include "tls/tls_trust.h"

#define DAY (24L * 3600)

static struct {
	char *dir;
	struct testcert *root, *inter, *leaf, *other, *expired, *soon;
	char *leaf_crt, *leaf_key, *other_crt, *other_key;
	char *exp_crt, *exp_key, *soon_crt, *soon_key;
} fx;

static void
fx_setup(void)
{
	fx.dir = testcert_tmpdir();
	fx.root = testcert_new(&(struct testcert_spec){
	    .cn = "Cert Root", .ca = true}, NULL);
	fx.inter = testcert_new(&(struct testcert_spec){
	    .cn = "Cert Intermediate", .ca = true}, fx.root);
	fx.leaf = testcert_new(&(struct testcert_spec){
	    .cn = "example.com",
	    .dns = {"example.com", "*.conf.example.com"},
	    .xmpp = {"example.com"}, .srv = {"_xmpp-server.example.com"},
	    .eku = TESTCERT_EKU_BOTH}, fx.inter);
	testcert_write(fx.leaf, fx.dir, "leaf", true, &fx.leaf_crt,
	               &fx.leaf_key);
	fx.other = testcert_new(&(struct testcert_spec){
	    .dns = {"mail.example.com"}, .eku = TESTCERT_EKU_SERVER}, fx.root);
	testcert_write(fx.other, fx.dir, "other", false, &fx.other_crt,
	               &fx.other_key);
	fx.expired = testcert_new(&(struct testcert_spec){
	    .dns = {"example.com"}, .not_before = -30 * DAY,
	    .not_after = -2 * DAY, .eku = TESTCERT_EKU_BOTH}, fx.root);
	testcert_write(fx.expired, fx.dir, "expired", false, &fx.exp_crt,
	               &fx.exp_key);
	fx.soon = testcert_new(&(struct testcert_spec){
	    .dns = {"example.com"}, .not_before = -30 * DAY,
	    .not_after = 5 * DAY, .eku = TESTCERT_EKU_BOTH}, fx.root);
	testcert_write(fx.soon, fx.dir, "soon", false, &fx.soon_crt,
	               &fx.soon_key);
}

static void
fx_teardown(void)
{
	testcert_free(fx.leaf);
	testcert_free(fx.other);
	testcert_free(fx.expired);
	testcert_free(fx.soon);
	testcert_free(fx.inter);
	testcert_free(fx.root);
	free(fx.leaf_crt);
	free(fx.leaf_key);
	free(fx.other_crt);
	free(fx.other_key);
	free(fx.exp_crt);
	free(fx.exp_key);
	free(fx.soon_crt);
	free(fx.soon_key);
	testcert_rmdir(fx.dir);
}

#define assert_has(buf, s)                                                     \
	ck_assert_msg(strstr((buf)->data, (s)) != NULL,                        \
	              "output lacks \"%s\":\n%s", (s), (buf)->data)
#define assert_lacks(buf, s)                                                   \
	ck_assert_msg(strstr((buf)->data, (s)) == NULL,                        \
	              "output has \"%s\":\n%s", (s), (buf)->data)

/* The SHA-256 fingerprint as "AB:CD:...", computed here independently. */
static void
fingerprint(const struct testcert *tc, char *out)
{
	unsigned char md[32];
	size_t len, i;
	unsigned char *der = testcert_der(tc, &len);

	ck_assert_int_eq(gnutls_hash_fast(GNUTLS_DIG_SHA256, der, len, md), 0);
	for (i = 0; i < sizeof(md); i++)
		sprintf(out + 3 * i, "%02X%s", md[i], i + 1 < 32 ? ":" : "");
	free(der);
}

START_TEST(test_show)
{
	struct util_buf out = {0};
	char fp[100];

	ck_assert_int_eq(tls_cert_show(fx.leaf_crt, &out), 0);
	assert_has(&out, "certificate 1 of 2 (leaf)");
	assert_has(&out, "certificate 2 of 2\n");
	assert_has(&out, "subject:     CN=example.com");
	assert_has(&out, "issuer:      CN=Cert Intermediate");
	assert_has(&out, "subject:     CN=Cert Intermediate");
	assert_has(&out, "DNS:example.com, DNS:*.conf.example.com, "
	                 "XmppAddr:example.com, SRV-ID:_xmpp-server.example.com");
	assert_has(&out, "cn:          example.com (ignored: SANs present)");
	assert_has(&out, "(valid now)");
	assert_has(&out, "key:         ECDSA SECP256R1");
	assert_has(&out, "ext key use: serverAuth, clientAuth");
	assert_has(&out, "ca:          yes");
	fingerprint(fx.leaf, fp);
	assert_has(&out, fp);
	util_buf_reset(&out);
	ck_assert_int_eq(tls_cert_show(fx.exp_crt, &out), 0);
	assert_has(&out, "(EXPIRED)");
	util_buf_reset(&out);
	ck_assert_int_eq(tls_cert_show("/nonexistent.pem", &out), -ENOENT);
	assert_has(&out, "/nonexistent.pem");
	util_buf_reset(&out);
	ck_assert_int_eq(tls_cert_show(fx.leaf_key, &out), S2SD_ETLS_CREDS);
	util_buf_free(&out);
}
END_TEST

/* SAN values longer than the first read buffer are read whole. */
START_TEST(test_show_long_san)
{
	char longname[600], *crt;
	struct testcert *tc;
	struct util_buf out = {0};

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memcpy(longname + 500, ".example.org", 13);
	tc = testcert_new(&(struct testcert_spec){.xmpp = {longname},
	                                          .dns = {"after.example"}},
	                  fx.root);
	testcert_write(tc, fx.dir, "long", false, &crt, NULL);
	ck_assert_int_eq(tls_cert_show(crt, &out), 0);
	longname[200] = '\0';
	assert_has(&out, longname);
	assert_has(&out, "DNS:after.example");
	util_buf_free(&out);
	free(crt);
	testcert_free(tc);
}
END_TEST

START_TEST(test_check_ok)
{
	const char *crt[] = {fx.leaf_crt, fx.other_crt};
	const char *key[] = {fx.leaf_key, fx.other_key};
	const char *doms[] = {"example.com", "room.conf.example.com",
	                      "mail.example.com"};
	struct tls_cert_check_in in = {crt, 2, key, 2, doms, 3, 0, 0};
	struct util_buf out = {0};

	ck_assert_int_eq(tls_cert_check(&in, &out), 0);
	assert_has(&out, "ok: example.com is covered by");
	assert_has(&out, "ok: room.conf.example.com is covered by");
	assert_has(&out, "(DNS:*.conf.example.com)");
	assert_has(&out, "ok: mail.example.com is covered by");
	assert_has(&out, "other.crt (DNS:mail.example.com)");
	/* The serverAuth-only certificate: a warning, not a problem. */
	assert_has(&out, "warning: ");
	assert_has(&out, "no clientAuth");
	assert_has(&out, "0 problems, 1 warning\n");
	util_buf_free(&out);
}
END_TEST

/* A local domain without a SAN and a key that does not match. */
START_TEST(test_check_problems)
{
	const char *crt[] = {fx.leaf_crt}, *key[] = {fx.other_key};
	const char *doms[] = {"example.com", "chat.example.com",
	                      "a.b.conf.example.com"};
	struct tls_cert_check_in in = {crt, 1, key, 1, doms, 3, 0, 0};
	struct util_buf out = {0};

	ck_assert_int_eq(tls_cert_check(&in, &out), S2SD_ETLS_CREDS);
	assert_has(&out, "problem: key ");
	assert_has(&out, "other.key does not match the certificate in ");
	assert_has(&out, "ok: example.com is covered");
	assert_has(&out, "problem: no certificate covers chat.example.com (");
	assert_has(&out, "but not chat.example.com");
	assert_has(&out, "problem: no certificate covers a.b.conf.example.com");
	assert_has(&out, "wildcard *.conf.example.com covers one label only");
	assert_has(&out, "3 problems, 0 warnings\n");
	util_buf_free(&out);
}
END_TEST

START_TEST(test_check_validity)
{
	const char *crt[] = {fx.exp_crt, fx.soon_crt};
	const char *key[] = {fx.exp_key, fx.soon_key};
	const char *doms[] = {"example.com"};
	struct tls_cert_check_in in = {crt, 1, key, 1, doms, 1, 0, 0};
	struct util_buf out = {0};

	ck_assert_int_eq(tls_cert_check(&in, &out), S2SD_ETLS_CREDS);
	assert_has(&out, "expired on 20");
	util_buf_reset(&out);
	in.cert_files = crt + 1;
	in.key_files = key + 1;
	ck_assert_int_eq(tls_cert_check(&in, &out), 0);
	assert_has(&out, "warning: ");
	assert_has(&out, "expires on 20");
	util_buf_reset(&out);
	in.warn_days = 3;
	ck_assert_int_eq(tls_cert_check(&in, &out), 0);
	assert_lacks(&out, "expires on");
	util_buf_reset(&out);
	/* Seen from 10 days later, it has expired; from 60 days earlier it
	 * is not valid yet. */
	in.now = time(NULL) + 10 * DAY;
	ck_assert_int_eq(tls_cert_check(&in, &out), S2SD_ETLS_CREDS);
	assert_has(&out, "expired on");
	util_buf_reset(&out);
	in.now = time(NULL) - 60 * DAY;
	ck_assert_int_eq(tls_cert_check(&in, &out), S2SD_ETLS_CREDS);
	assert_has(&out, "is not valid before");
	util_buf_reset(&out);
	in.nkeys = 0;
	ck_assert_int_eq(tls_cert_check(&in, &out), S2SD_ETLS_CREDS);
	assert_has(&out, "1 certificate files but 0 key files");
	util_buf_reset(&out);
	in.ncerts = 0;
	ck_assert_int_eq(tls_cert_check(&in, &out), S2SD_ETLS_CREDS);
	assert_has(&out, "no certificate configured");
	assert_has(&out, "no certificate covers example.com");
	util_buf_free(&out);
}
END_TEST

static mode_t
file_mode(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mode & 0777;
}

static const enum tls_cert_keytype keytypes[] = {TLS_CERT_ECDSA_P256,
                                                 TLS_CERT_RSA2048};

START_TEST(test_selfsigned)
{
	char *dir = testcert_tmpdir(), *empty = testcert_tmpdir();
	char *crt = xasprintf("%s/self.crt", dir);
	char *key = xasprintf("%s/self.key", dir);
	const char *doms[] = {"example.com", "conference.example.com"};
	struct tls_cert_make req = {crt, key, doms, 2, keytypes[_i], 30, 0};
	const char *const *crts = (const char *const *)&crt;
	const char *const *keys = (const char *const *)&key;
	struct tls_cert_check_in in = {crts, 1, keys, 1, doms, 2, 0, 0};
	struct tls_ctx_config cfg = {.cert_files = crts, .ncerts = 1,
	                             .key_files = keys, .nkeys = 1};
	struct util_buf out = {0};
	struct tls_trust *trust;
	struct tls_ctx *ctx;
	char why[512];

	ck_assert_msg(tls_cert_selfsigned(&req, why, sizeof(why)) == 0, "%s",
	              why);
	ck_assert_int_eq(file_mode(key), 0600);
	ck_assert_int_eq(file_mode(crt), 0644);
	ck_assert_int_eq(tls_cert_show(crt, &out), 0);
	assert_has(&out, "subject:     CN=example.com");
	assert_has(&out, "names:       DNS:example.com, DNS:conference.example.com\n");
	ck_assert_ptr_null(strstr(out.data, "XmppAddr"));
	assert_has(&out, "ext key use: serverAuth, clientAuth");
	assert_has(&out, _i == 0 ? "ECDSA SECP256R1" : "RSA 2048 bits");
	assert_has(&out, "ca:          no");
	util_buf_reset(&out);
	ck_assert_int_eq(tls_cert_check(&in, &out), 0);
	assert_has(&out, "0 problems, 0 warnings");
	util_buf_free(&out);
	/* Usable as our certificate, and as a pinned peer certificate. */
	ck_assert_int_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)), 0);
	ck_assert(tls_ctx_covers(ctx, "conference.example.com"));
	tls_ctx_unref(ctx);
	ck_assert_int_eq(tls_trust_load(dir, false, &trust, why, sizeof(why)),
	                 0);
	ck_assert_int_eq(tls_trust_verify_file(trust, crt, why, sizeof(why)),
	                 0);
	tls_trust_unref(trust);
	ck_assert_int_eq(tls_trust_load(empty, false, &trust, why,
	                                sizeof(why)), 0);
	ck_assert_int_eq(tls_trust_verify_file(trust, crt, why, sizeof(why)),
	                 S2SD_ETLS_UNKNOWN_ISSUER);
	ck_assert_msg(strstr(why, "not pinned") != NULL, "%s", why);
	tls_trust_unref(trust);
	/* Never overwrites. */
	ck_assert_int_eq(tls_cert_selfsigned(&req, why, sizeof(why)), -EEXIST);
	ck_assert_int_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)), 0);
	tls_ctx_unref(ctx);
	unlink(crt);
	ck_assert_int_eq(tls_cert_selfsigned(&req, why, sizeof(why)), -EEXIST);
	ck_assert_msg(strstr(why, "self.key") != NULL, "%s", why);
	ck_assert_int_eq(access(crt, F_OK), -1);
	free(crt);
	free(key);
	testcert_rmdir(dir);
	testcert_rmdir(empty);
}
END_TEST

START_TEST(test_selfsigned_bad_domain)
{
	char *dir = testcert_tmpdir();
	char *crt = xasprintf("%s/x.crt", dir), *key = xasprintf("%s/x.key", dir);
	const char *bad[] = {"example.com", "user@example.com"};
	struct tls_cert_make req = {crt, key, bad, 2, TLS_CERT_ECDSA_P256, 0, 0};
	char why[256];

	ck_assert_int_eq(tls_cert_selfsigned(&req, why, sizeof(why)), -EINVAL);
	ck_assert_msg(strstr(why, "user@example.com") != NULL, "%s", why);
	req.ndomains = 0;
	ck_assert_int_eq(tls_cert_csr(&req, why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(access(crt, F_OK), -1);
	ck_assert_int_eq(access(key, F_OK), -1);
	free(crt);
	free(key);
	testcert_rmdir(dir);
}
END_TEST

/* Read a CSR back with GnuTLS: signature, CN, DNS SANs, public key id. */
static void
check_csr(const char *path, const char *const *doms, size_t n,
          unsigned char *keyid, size_t *keyidlen)
{
	gnutls_x509_crq_t crq;
	gnutls_datum_t pem;
	char buf[256];
	size_t size;
	unsigned type, critical, i;

	ck_assert_int_eq(gnutls_load_file(path, &pem), 0);
	ck_assert_int_eq(gnutls_x509_crq_init(&crq), 0);
	ck_assert_int_eq(gnutls_x509_crq_import(crq, &pem, GNUTLS_X509_FMT_PEM),
	                 0);
	ck_assert_int_eq(gnutls_x509_crq_verify(crq, 0), 0);
	size = sizeof(buf);
	ck_assert_int_eq(gnutls_x509_crq_get_dn_by_oid(
	                     crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size),
	                 0);
	ck_assert_str_eq(buf, doms[0]);
	for (i = 0; i <= n; i++) {
		size = sizeof(buf);
		if (i == n) {
			ck_assert_int_eq(gnutls_x509_crq_get_subject_alt_name(
			                     crq, i, buf, &size, &type, &critical),
			                 GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
			break;
		}
		ck_assert_int_eq(gnutls_x509_crq_get_subject_alt_name(
		                     crq, i, buf, &size, &type, &critical),
		                 GNUTLS_SAN_DNSNAME);
		ck_assert_str_eq(buf, doms[i]);
	}
	ck_assert_int_eq(gnutls_x509_crq_get_key_id(crq, GNUTLS_KEYID_USE_SHA256,
	                                            keyid, keyidlen), 0);
	gnutls_x509_crq_deinit(crq);
	gnutls_free(pem.data);
}

START_TEST(test_csr)
{
	char *dir = testcert_tmpdir();
	char *csr = xasprintf("%s/req.csr", dir), *key = xasprintf("%s/k.pem", dir);
	const char *doms[] = {"example.com", "conference.example.com",
	                      "mail.example.com"};
	struct tls_cert_make req = {csr, key, doms, 3, TLS_CERT_ECDSA_P256, 0,
	                            0};
	unsigned char id1[64], id2[64];
	size_t len1 = sizeof(id1), len2 = sizeof(id2);
	gnutls_datum_t k1, k2;
	char why[256];

	/* No key yet: one is generated (0600), then the CSR. */
	ck_assert_msg(tls_cert_csr(&req, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(file_mode(key), 0600);
	check_csr(csr, doms, 3, id1, &len1);
	ck_assert_int_eq(gnutls_load_file(key, &k1), 0);
	/* With the key present it is reused, the CSR replaced. */
	req.ndomains = 1;
	ck_assert_msg(tls_cert_csr(&req, why, sizeof(why)) == 0, "%s", why);
	check_csr(csr, doms, 1, id2, &len2);
	ck_assert_int_eq(gnutls_load_file(key, &k2), 0);
	ck_assert_uint_eq(k1.size, k2.size);
	ck_assert(memcmp(k1.data, k2.data, k1.size) == 0);
	ck_assert_uint_eq(len1, len2);
	ck_assert(memcmp(id1, id2, len1) == 0);
	gnutls_free(k1.data);
	gnutls_free(k2.data);
	/* A key file that is not a key is an error, and stays as it was. */
	unlink(key);
	free(testcert_write_file(dir, "k.pem", "garbage"));
	ck_assert_int_eq(tls_cert_csr(&req, why, sizeof(why)), S2SD_ETLS_CREDS);
	ck_assert_msg(strstr(why, "k.pem") != NULL, "%s", why);
	free(csr);
	free(key);
	testcert_rmdir(dir);
}
END_TEST

static Suite *
tls_cert_suite(void)
{
	Suite *s = suite_create("tls_cert");
	TCase *tc = tcase_create("cert");

	tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_show);
	tcase_add_test(tc, test_show_long_san);
	tcase_add_test(tc, test_check_ok);
	tcase_add_test(tc, test_check_problems);
	tcase_add_test(tc, test_check_validity);
	tcase_add_loop_test(tc, test_selfsigned, 0, UTIL_ARRAY_LEN(keytypes));
	tcase_add_test(tc, test_selfsigned_bad_domain);
	tcase_add_test(tc, test_csr);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tls_cert_suite());
	int failed;

	log_open(LOG_DEST_FILE, "/dev/null", NULL);
	log_set_level(-1, LOG_LEVEL_TRACE);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	log_close();
	return failed == 0 ? 0 : 1;
}
