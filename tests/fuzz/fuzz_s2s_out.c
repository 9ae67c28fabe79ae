/* fuzz_s2s_out.c - libFuzzer target for the outbound S2S negotiation and
 * the originating side of dialback: the input is what the server we connect
 * to answers (features, <proceed/>, SASL results, <db:result/> and
 * <db:verify/> answers, stream errors, stanzas), cut into reads at points
 * taken from its first bytes. Flags from the first byte choose the
 * security mode, the certificate verdict, a verification-only stream, a
 * piggybacked second pair and a <db:verify/> sent on the stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "s2s/dialback.h"
#include "s2s/s2s_sasl.h"
#include "s2s/s2s_stream.h"
#include "xmpp/stanza.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	struct s2s_stream *st;
	struct dialback_secret *secret;
	uint8_t flags;
	int tls_pending, verify_pending;
	char vlocal[1100], vremote[1100];
};

static void fz_send(void *a, const char *b, size_t n) { (void)a; (void)b; (void)n; }
static void fz_starttls(void *a) { ((struct fz *)a)->tls_pending = 1; }
static bool fz_local(void *a, const char *d) { (void)a; return strcmp(d, "a.test") == 0 || strcmp(d, "c.test") == 0; }
static bool fz_allowed(void *a, const char *r, char *w, size_t n)
{
	(void)a; (void)w; (void)n;
	return strcmp(r, "denied.test") != 0;
}
static void fz_cert(void *a, const char *d, struct s2s_cert_check *o)
{
	struct fz *f = a;

	(void)d;
	o->chain = (f->flags & 1) ? 0 : S2SD_ETLS_VERIFY;
	o->name = (f->flags & 2) ? 0 : S2SD_ETLS_NAME;
	o->why[0] = '\0';
}
static void fz_auth(void *a, const char *l, const char *r, enum s2s_auth h)
{
	(void)a; (void)l; (void)r; (void)h;
}
static void fz_stanza(void *a, struct stanza *s)
{
	(void)a;
	/* What is accepted must carry from and to. */
	if (stanza_attr(s, "from") == NULL || stanza_attr(s, "to") == NULL)
		abort();
	stanza_free(s);
}
static void fz_key(void *a, const char *r, const char *o, const char *id, char k[65])
{
	dialback_key(((struct fz *)a)->secret, r, o, id, k);
}
static void fz_verify(void *a, const char *l, const char *r, const char *id, const char *k)
{
	struct fz *f = a;

	(void)id; (void)k;
	f->verify_pending = 1;
	strncpy(f->vlocal, l, sizeof(f->vlocal) - 1);
	strncpy(f->vremote, r, sizeof(f->vremote) - 1);
}
static void fz_vresult(void *a, const char *l, const char *r, const char *id, bool v, int e)
{
	(void)a; (void)l; (void)r; (void)id; (void)v; (void)e;
}
static void fz_refused(void *a, const char *l, const char *r, int e)
{
	(void)a; (void)l; (void)r; (void)e;
}
static void fz_closed(void *a, int e, const char *w) { (void)a; (void)e; (void)w; }

static const struct s2s_stream_cbs fz_cbs = {
    fz_send, fz_starttls, fz_local, fz_allowed, fz_cert,
    fz_auth, fz_stanza, fz_key, fz_verify, fz_vresult, fz_refused, fz_closed,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct fz f = {0};
	struct s2s_stream_opts o = {.role = S2S_ROLE_OUT, .sasl_external = true,
	                            .dialback = true, .local = "a.test",
	                            .remote = "b.test", .sm = true,
	                            .sm_opts = {2, 1000, 5000}};
	size_t pos, chunk;
	uint64_t now = 1;
	char why[128];
	bool extra_sent = false;

	if (!init) {
		log_set_level(-1, LOG_LEVEL_ERROR);
		if (s2s_sasl_init(why, sizeof(why)) != 0)
			abort();
		init = 1;
	}
	if (size < 2)
		return 0;
	f.flags = data[0];
	o.security = (enum s2s_security)(data[0] >> 2 & 3) % 3;
	o.require_valid_certs = data[0] & 0x10;
	o.verify_only = (data[1] & 0xc0) == 0xc0;
	chunk = 1 + data[1] % 64;
	f.secret = dialback_secret_new("fuzz");
	f.st = s2s_stream_new(&o, &fz_cbs, &f, now);
	s2s_stream_start(f.st, now);
	if (o.verify_only)
		s2s_stream_send_verify(f.st, "a.test", "b.test", "id1",
		                       "0123456789abcdef");
	for (pos = 2; pos < size && !s2s_stream_is_closed(f.st); pos += chunk) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		s2s_stream_input(f.st, data + pos, n, ++now);
		if (f.tls_pending) {
			f.tls_pending = 0;
			s2s_stream_tls_done(f.st, (f.flags & 0x20) ? -1 : 0, now);
		}
		/* Once ready: a second local domain, a verification request. */
		if (!extra_sent && s2s_stream_is_ready(f.st)) {
			extra_sent = true;
			if ((f.flags & 0x40) && s2s_stream_can_add_pair(f.st))
				s2s_stream_add_pair(f.st, "c.test");
			if (f.flags & 0x80)
				s2s_stream_send_verify(f.st, "a.test", "b.test",
				                       "id2", "fedcba9876543210");
		}
	}
	s2s_stream_tick(f.st, now + 60000);
	s2s_stream_free(f.st);
	dialback_secret_free(f.secret);
	return 0;
}
