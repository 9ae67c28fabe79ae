/* tls_ctx.c - certificates per domain, priorities, ticket key and the
 * client resumption cache; see tls_ctx.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "tls/tls_int.h"

/* Resumption data for one (local, remote) pair: the client certificate is
 * part of a resumed session, so a ticket got while acting for one local
 * domain is never used for another. */
struct tls_ctx_resume {
	char *key;              /* "local remote" */
	gnutls_datum_t data;    /* gnutls_malloc'd */
	uint64_t seq;           /* for evicting the oldest */
};

struct tls_ctx {
	int refs;
	struct tls__cred *creds;
	size_t ncreds;
	gnutls_certificate_credentials_t gcreds;
	gnutls_priority_t prio;
	gnutls_datum_t ticket_key;
	struct tls_trust *trust;
	struct tls_ctx_resume *resume;
	size_t nresume, resume_max;
	uint64_t resume_seq;
};

static void
tls_ctx_cred_free(struct tls__cred *c)
{
	unsigned i;

	for (i = 0; i < c->npcerts; i++)
		gnutls_pcert_deinit(&c->pcerts[i]);
	free(c->pcerts);
	gnutls_privkey_deinit(c->key);
	tls__ids_free(&c->ids);
	free(c->file);
}

/* Import one certificate chain and its key; the key must match the leaf. */
static int
tls_ctx_load_cred(struct tls__cred *c, const char *crt_file,
                  const char *key_file, char *why, size_t whylen)
{
	gnutls_x509_crt_t *chain;
	unsigned n, i;
	int rc;

	memset(c, 0, sizeof(*c));
	c->file = xstrdup(crt_file);
	if ((rc = tls__load_chain(crt_file, &chain, &n, why, whylen)) < 0)
		return rc;
	if ((rc = tls__load_key(key_file, &c->key, why, whylen)) < 0)
		goto out;
	if (!tls__key_matches(chain[0], c->key)) {
		snprintf(why, whylen, "%s does not match the certificate in %s",
		         key_file, crt_file);
		rc = S2SD_ETLS_CREDS;
		goto out;
	}
	tls__crt_ids(chain[0], &c->ids);
	c->pcerts = xcalloc(n, sizeof(*c->pcerts));
	for (i = 0; i < n && rc >= 0; i++, c->npcerts++)
		rc = gnutls_pcert_import_x509(&c->pcerts[i], chain[i], 0);
	if (rc < 0) {
		c->npcerts--;
		snprintf(why, whylen, "%s: %s", crt_file, gnutls_strerror(rc));
		rc = S2SD_ETLS_CREDS;
	}
out:
	tls__free_chain(chain, n);
	return rc < 0 ? rc : 0;
}

static int
tls_ctx_load_creds(struct tls_ctx *ctx, const struct tls_ctx_config *cfg,
                   char *why, size_t whylen)
{
	size_t i;
	int rc;

	if (cfg->nkeys != cfg->ncerts) {
		snprintf(why, whylen, "%zu certificate files but %zu key files: "
		         "they are paired", cfg->ncerts, cfg->nkeys);
		return S2SD_ECONFIG;
	}
	ctx->creds = xcalloc(cfg->ncerts, sizeof(*ctx->creds));
	for (i = 0; i < cfg->ncerts; i++) {
		rc = tls_ctx_load_cred(&ctx->creds[i], cfg->cert_files[i],
		                       cfg->key_files[i], why, whylen);
		ctx->ncreds++;
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
tls_ctx_init_gnutls(struct tls_ctx *ctx, const char *priority, char *why,
                    size_t whylen)
{
	const char *err = NULL;
	int rc;

	if ((rc = gnutls_certificate_allocate_credentials(&ctx->gcreds)) < 0 ||
	    (rc = gnutls_session_ticket_key_generate(&ctx->ticket_key)) < 0) {
		snprintf(why, whylen, "%s", gnutls_strerror(rc));
		return S2SD_ETLS;
	}
	/* Our callback picks the certificate: by SNI, then by the stream's
	 * 'to' domain, then the first one (tls__retrieve in tls.c). */
	gnutls_certificate_set_retrieve_function2(ctx->gcreds, tls__retrieve);
	rc = gnutls_priority_init2(&ctx->prio, priority, &err, 0);
	if (rc < 0) {
		ctx->prio = NULL;
		snprintf(why, whylen, "bad TLS priority string \"%s\" at \"%s\"",
		         priority, err != NULL ? err : "?");
		return S2SD_ECONFIG;
	}
	return 0;
}

static void
tls_ctx_free(struct tls_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->ncreds; i++)
		tls_ctx_cred_free(&ctx->creds[i]);
	free(ctx->creds);
	for (i = 0; i < ctx->nresume; i++) {
		free(ctx->resume[i].key);
		gnutls_free(ctx->resume[i].data.data);
	}
	free(ctx->resume);
	if (ctx->gcreds != NULL)
		gnutls_certificate_free_credentials(ctx->gcreds);
	if (ctx->prio != NULL)
		gnutls_priority_deinit(ctx->prio);
	if (ctx->ticket_key.data != NULL) {
		gnutls_memset(ctx->ticket_key.data, 0, ctx->ticket_key.size);
		gnutls_free(ctx->ticket_key.data);
	}
	tls_trust_unref(ctx->trust);
	free(ctx);
}

int
tls_ctx_new(const struct tls_ctx_config *cfg, struct tls_ctx **out,
            char *why, size_t whylen)
{
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	int rc;

	ctx->refs = 1;
	ctx->resume_max = cfg->resume_max ? cfg->resume_max
	                                  : TLS_CTX_RESUME_MAX_DEFAULT;
	rc = tls_ctx_init_gnutls(ctx, cfg->priority ? cfg->priority
	                                            : TLS_CTX_PRIORITY_DEFAULT,
	                         why, whylen);
	if (rc >= 0)
		rc = tls_ctx_load_creds(ctx, cfg, why, whylen);
	if (rc >= 0)
		rc = tls_trust_load(cfg->trust_dir, cfg->system_ca, &ctx->trust,
		                    why, whylen);
	if (rc < 0) {
		tls_ctx_free(ctx);
		return rc;
	}
	log_info(LOG_SUB_TLS, 0, "tls context certs=%zu priority=\"%s\"",
	         ctx->ncreds, cfg->priority ? cfg->priority
	                                    : TLS_CTX_PRIORITY_DEFAULT);
	*out = ctx;
	return 0;
}

struct tls_ctx *
tls_ctx_ref(struct tls_ctx *ctx)
{
	ctx->refs++;
	return ctx;
}

void
tls_ctx_unref(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->refs <= 0)
		fatalx("%s: refcount underflow", __func__);
	if (--ctx->refs == 0)
		tls_ctx_free(ctx);
}

void
tls_ctx_set_trust(struct tls_ctx *ctx, struct tls_trust *trust)
{
	tls_trust_ref(trust);
	tls_trust_unref(ctx->trust);
	ctx->trust = trust;
}

struct tls_trust *
tls_ctx_trust(const struct tls_ctx *ctx)
{
	return ctx->trust;
}

static void
tls_ctx_datum_copy(gnutls_datum_t *dst, const gnutls_datum_t *src)
{
	dst->data = gnutls_malloc(src->size ? src->size : 1);
	if (dst->data == NULL)
		fatal("gnutls_malloc %u", src->size);
	memcpy(dst->data, src->data, src->size);
	dst->size = src->size;
}

static struct tls_ctx_resume *
tls_ctx_resume_find(const struct tls_ctx *ctx, const char *key)
{
	size_t i;

	for (i = 0; i < ctx->nresume; i++)
		if (strcmp(ctx->resume[i].key, key) == 0)
			return &ctx->resume[i];
	return NULL;
}

static void
tls_ctx_resume_drop(struct tls_ctx *ctx, struct tls_ctx_resume *r)
{
	free(r->key);
	gnutls_free(r->data.data);
	*r = ctx->resume[--ctx->nresume];
}

/* Store DATA under KEY (taken), evicting the oldest entry when full. */
static void
tls_ctx_resume_put(struct tls_ctx *ctx, char *key, const gnutls_datum_t *data)
{
	struct tls_ctx_resume *r = tls_ctx_resume_find(ctx, key), *old;
	size_t i;

	if (r != NULL)
		tls_ctx_resume_drop(ctx, r);
	if (ctx->nresume >= ctx->resume_max) {
		for (old = &ctx->resume[0], i = 1; i < ctx->nresume; i++)
			if (ctx->resume[i].seq < old->seq)
				old = &ctx->resume[i];
		tls_ctx_resume_drop(ctx, old);
	}
	ctx->resume = xreallocarray(ctx->resume, ctx->nresume + 1,
	                            sizeof(*ctx->resume));
	r = &ctx->resume[ctx->nresume++];
	r->key = key;
	r->seq = ++ctx->resume_seq;
	tls_ctx_datum_copy(&r->data, data);
}

void
tls_ctx_inherit(struct tls_ctx *new_ctx, const struct tls_ctx *old_ctx)
{
	size_t i;

	gnutls_memset(new_ctx->ticket_key.data, 0, new_ctx->ticket_key.size);
	gnutls_free(new_ctx->ticket_key.data);
	tls_ctx_datum_copy(&new_ctx->ticket_key, &old_ctx->ticket_key);
	for (i = 0; i < old_ctx->nresume; i++)
		tls_ctx_resume_put(new_ctx, xstrdup(old_ctx->resume[i].key),
		                   &old_ctx->resume[i].data);
}

bool
tls_ctx_covers(const struct tls_ctx *ctx, const char *domain)
{
	return tls__ctx_pick(ctx, domain) != NULL;
}

size_t
tls_ctx_resume_count(const struct tls_ctx *ctx)
{
	return ctx->nresume;
}

gnutls_certificate_credentials_t
tls__ctx_creds(const struct tls_ctx *ctx)
{
	return ctx->gcreds;
}

gnutls_priority_t
tls__ctx_priority(const struct tls_ctx *ctx)
{
	return ctx->prio;
}

const gnutls_datum_t *
tls__ctx_ticket_key(const struct tls_ctx *ctx)
{
	return &ctx->ticket_key;
}

const struct tls__cred *
tls__ctx_pick(const struct tls_ctx *ctx, const char *name)
{
	const struct tls__cred *c;
	size_t i;

	if (name == NULL || *name == '\0')
		return NULL;
	for (i = 0; i < ctx->ncreds; i++) {
		c = &ctx->creds[i];
		if (tls_verify_name(name, c->ids.v, c->ids.n, c->ids.has_san,
		                    NULL, NULL, 0) == 0)
			return c;
	}
	return NULL;
}

const struct tls__cred *
tls__ctx_first(const struct tls_ctx *ctx)
{
	return ctx->ncreds > 0 ? &ctx->creds[0] : NULL;
}

bool
tls__ctx_cache_take(struct tls_ctx *ctx, const char *local,
                    const char *remote, gnutls_datum_t *data)
{
	char *key = xasprintf("%s %s", local ? local : "", remote);
	struct tls_ctx_resume *r = tls_ctx_resume_find(ctx, key);

	free(key);
	if (r == NULL)
		return false;
	*data = r->data;
	r->data.data = NULL;
	tls_ctx_resume_drop(ctx, r);
	return true;
}

void
tls__ctx_cache_put(struct tls_ctx *ctx, const char *local,
                   const char *remote, const gnutls_datum_t *data)
{
	tls_ctx_resume_put(ctx, xasprintf("%s %s", local ? local : "", remote),
	                   data);
}
