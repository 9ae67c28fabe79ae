/* fuzz_tls_session.c - libFuzzer driver for the session layer around GnuTLS
 * (tls.c): arbitrary bytes from the network fed to a server and to a client
 * session, in pieces whose size the input chooses, with the callbacks
 * writing, closing and stopping reads as a real caller would. GnuTLS
 * parses the records; this checks our buffering, state machine and
 * callback rules never misbehave on hostile input.
 *
 * Input: byte 0 = piece size (0: all at once), byte 1 = behaviour bits,
 * rest = bytes "from the peer". A self-signed certificate is made once, at
 * start, with tls_cert_selfsigned() into a temporary directory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/log.h"
#include "cm/util.h"
#include "tls/tls.h"
#include "tls/tls_cert.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tls_ctx *fuzz_server, *fuzz_client;

struct fuzz_end {
	struct tls_session *s;
	unsigned bits;
	size_t sent;
	int hs, closed;
};

static void
fuzz_send(void *arg, const void *buf, size_t len)
{
	struct fuzz_end *e = arg;

	(void)buf;
	e->sent += len;
}

static void
fuzz_handshake(void *arg, int status)
{
	struct fuzz_end *e = arg;

	if (e->hs++ != 0)
		abort();  /* exactly once */
	if (status == 0 && (e->bits & 1))
		tls_session_write(e->s, "<stream:stream>", 15);
}

static void
fuzz_data(void *arg, const void *buf, size_t len)
{
	struct fuzz_end *e = arg;

	(void)buf;
	if (len == 0 || e->hs != 1)
		abort();
	if (e->bits & 2)
		tls_session_read_stop(e->s);
	if (e->bits & 4)
		tls_session_close(e->s);
}

static void
fuzz_closed(void *arg, int status)
{
	struct fuzz_end *e = arg;

	(void)status;
	if (e->closed++ != 0 || e->hs != 1)
		abort();
}

static void
fuzz_run(struct tls_ctx *ctx, bool server, const uint8_t *p, size_t n,
         size_t piece, unsigned bits)
{
	struct fuzz_end e = {NULL, bits, 0, 0, 0};
	struct tls_session_cbs cbs = {fuzz_send, fuzz_handshake, fuzz_data,
	                              fuzz_closed, &e};
	size_t off, k;
	int rc;

	rc = server ? tls_session_new_server(ctx, "fuzz.example", bits & 8, 0,
	                                     &cbs, &e.s)
	            : tls_session_new_client(ctx, "a.example", "fuzz.example",
	                                     bits & 8, 0, &cbs, &e.s);
	if (rc < 0 || tls_session_start(e.s) < 0)
		abort();
	for (off = 0; off < n; off += k) {
		k = piece == 0 || piece > n - off ? n - off : piece;
		tls_session_feed(e.s, p + off, k);
		if ((bits & 16) && e.sent > 0)
			tls_session_sent(e.s, e.sent);
		e.sent = 0;
		if (bits & 2)
			tls_session_read_start(e.s);
	}
	if (tls_session_pending(e.s) > 0 && !(bits & 16))
		tls_session_sent(e.s, tls_session_pending(e.s));
	tls_session_free(e.s);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/s2sd-fuzz-XXXXXX", why[256];
	char *crt, *key;
	const char *doms[] = {"fuzz.example"};
	struct tls_cert_make req = {NULL, NULL, doms, 1, TLS_CERT_ECDSA_P256,
	                            0, 0};
	struct tls_ctx_config cfg = {.ncerts = 1, .nkeys = 1};

	(void)argc, (void)argv;
	log_set_level(-1, LOG_LEVEL_ERROR);
	if (mkdtemp(dir) == NULL)
		abort();
	crt = xasprintf("%s/c.pem", dir);
	key = xasprintf("%s/k.pem", dir);
	req.out_file = crt;
	req.key_file = key;
	cfg.cert_files = (const char *const *)&crt;
	cfg.key_files = (const char *const *)&key;
	if (tls_cert_selfsigned(&req, why, sizeof(why)) < 0 ||
	    tls_ctx_new(&cfg, &fuzz_server, why, sizeof(why)) < 0 ||
	    tls_ctx_new(&cfg, &fuzz_client, why, sizeof(why)) < 0) {
		fprintf(stderr, "fuzz init: %s\n", why);
		abort();
	}
	unlink(crt);
	unlink(key);
	rmdir(dir);
	free(crt);
	free(key);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	fuzz_run(fuzz_server, true, data + 2, size - 2, data[0], data[1]);
	fuzz_run(fuzz_client, false, data + 2, size - 2, data[0], data[1]);
	return 0;
}
