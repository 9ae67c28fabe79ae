/* fuzz_s2s_peer.h - the callbacks both S2S negotiation targets give the
 * stream under test (fuzz_s2s_stream.c: receiving role, fuzz_s2s_out.c:
 * originating role). Included by exactly one .c each: everything static.
 * TLS "completes" when asked, the certificate verdict and a dialback
 * verification's answer come from flag bits of the input. */
#ifndef S2SD_FUZZ_S2S_PEER_H
#define S2SD_FUZZ_S2S_PEER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "s2s/s2s_sasl.h"
#include "s2s/dialback.h"
#include "s2s/s2s_stream.h"
#include "xmpp/stanza.h"

struct fz {
	struct s2s_stream *st;
	struct dialback_secret *secret;
	uint8_t flags;
	int tls_pending, verify_pending;
	char vlocal[1100], vremote[1100];
	const char *const *locals;      /* our domains, NULL-terminated */
};

static void fz_send(void *a, const char *b, size_t n) { (void)a; (void)b; (void)n; }
static void fz_starttls(void *a) { ((struct fz *)a)->tls_pending = 1; }
static bool fz_local(void *a, const char *d)
{
	const char *const *l;

	for (l = ((struct fz *)a)->locals; *l != NULL; l++)
		if (strcmp(d, *l) == 0)
			return true;
	return false;
}
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

/* Once per process: quiet logs, SASL ready (both targets need it). */
static void
fz_init_once(void)
{
	static int init;
	char why[128];

	if (init)
		return;
	log_set_level(-1, LOG_LEVEL_ERROR);
	if (s2s_sasl_init(why, sizeof(why)) != 0)
		abort();
	init = 1;
}

#endif
