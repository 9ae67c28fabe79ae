/* fuzz_tls_verify.c - libFuzzer driver for the tls/ code that reads what a
 * peer's certificate presents: RFC 6125 name matching on arbitrary SAN
 * strings (tls_verify), and identity extraction from arbitrary DER
 * certificates (tls__crt_ids, tls__dn, ...) feeding the same matcher.
 *
 * Input: byte 0 selects the mode. Even: byte 1 holds flags, then
 * '\n'-separated fields, the first the reference domain, each further one a
 * kind byte then the value (NULs and any byte allowed). Odd: the rest is a
 * DER certificate. */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "tls/tls_int.h"
#include "tls/tls_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_IDS 32

static const char *const fuzz_domains[] = {
    "example.com", "a.example.com", "conference.a.example.com",
    "xn--bcher-kva.example", "EXAMPLE.COM.", "com",
};

/* Check the verdict is consistent whatever WHY's size. */
static void
fuzz_match(const char *domain, const struct tls_verify_id *ids, size_t n,
           bool has_san)
{
	char why[256], tiny[4];
	size_t m = SIZE_MAX, i;
	int rc, rc2;

	rc = tls_verify_name(domain, ids, n, has_san, &m, why, sizeof(why));
	rc2 = tls_verify_name(domain, ids, n, has_san, NULL, tiny,
	                      sizeof(tiny));
	if (rc != rc2 || (rc == 0 && m >= n) ||
	    (rc != 0 && rc != S2SD_ETLS_NAME && rc != -EINVAL) ||
	    strlen(why) >= sizeof(why) || strlen(tiny) >= sizeof(tiny))
		abort();
	for (i = 0; i < n; i++) {
		tls_verify_id_format(&ids[i], why, sizeof(why));
		if (ids[i].kind == TLS_VERIFY_DNS)
			(void)tls_verify_dns_match(ids[i].value, ids[i].len,
			                           domain);
	}
}

static void
fuzz_fields(const uint8_t *data, size_t size)
{
	struct tls_verify_id ids[FUZZ_MAX_IDS];
	const uint8_t *p = data + 2, *end = data + size, *nl;
	char *domain = NULL;
	size_t n = 0, len;

	while (p <= end && n < FUZZ_MAX_IDS) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl != NULL ? nl : end) - p);
		if (domain == NULL)
			domain = xstrndup((const char *)p, len);
		else if (len > 0) {
			ids[n].kind = (enum tls_verify_kind)(p[0] % 4);
			ids[n].value = (const char *)p + 1;
			ids[n].len = len - 1;
			n++;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (domain == NULL)
		domain = xstrdup("");
	fuzz_match(domain, ids, n, data[1] & 1);
	free(domain);
}

static void
fuzz_der(const uint8_t *data, size_t size)
{
	gnutls_datum_t der = {(unsigned char *)data + 1,
	                      (unsigned)(size - 1)};
	gnutls_x509_crt_t crt;
	struct tls__ids ids;
	char buf[512];
	size_t i;

	if (gnutls_x509_crt_init(&crt) < 0)
		abort();
	if (gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) >= 0) {
		tls__crt_ids(crt, &ids);
		for (i = 0; i < UTIL_ARRAY_LEN(fuzz_domains); i++)
			fuzz_match(fuzz_domains[i], ids.v, ids.n, ids.has_san);
		tls__dn(crt, false, buf, sizeof(buf));
		tls__dn(crt, true, buf, sizeof(buf));
		tls__fingerprint(crt, buf, sizeof(buf));
		(void)tls__is_self_signed(crt);
		tls__ids_free(&ids);
	}
	gnutls_x509_crt_deinit(crt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	if (data[0] & 1)
		fuzz_der(data, size);
	else
		fuzz_fields(data, size);
	return 0;
}
