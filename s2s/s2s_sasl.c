/* s2s_sasl.c - SASL EXTERNAL for S2S streams (RFC 6120 section 6, XEP-0178
 * section 3) through Cyrus libsasl2.
 *
 * The receiving side runs every <auth mechanism='EXTERNAL'> through a fresh
 * libsasl2 server connection whose external authentication identity is the
 * domain the peer certificate verified for. libsasl2 runs the EXTERNAL
 * mechanism; two per-attempt callbacks put s2sd's rules into it: the
 * canonicalisation callback prepares a wire authzid as a domain (IDNA, case)
 * and the proxy-policy callback allows only authzid == authenticated domain.
 * What libsasl2 cannot tell apart (base64, mechanism syntax, the stream
 * 'from') is checked here first, so each failure maps to its RFC 6120 6.5
 * condition:
 *   no verified certificate, or 'from' not its domain  not-authorized
 *   not canonical base64                                incorrect-encoding
 *   not UTF-8, NUL inside, longer than libsasl2 allows  malformed-request
 *   authzid not a domain, or another domain             invalid-authzid
 *   libsasl2 itself failing                             temporary-auth-failure
 *
 * libsasl2 is initialised so that it reads, loads and writes nothing of its
 * own: no config file (every option comes from s2s_sasl_getopt), no plugin
 * directory (EXTERNAL is built into libsasl2 itself), no saslauthd, and an
 * in-process auxprop plugin instead of sasldb. Its log goes to cm/log at
 * debug; what it would send to syslog(3) is masked. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <sasl/saslutil.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "s2s/s2s_sasl.h"
#include "xmpp/jid.h"

#define S2S_SASL_APPNAME "s2sd"
#define S2S_SASL_AUXPROP "s2sd"
#define S2S_SASL_SERVICE "xmpp"
/* EXTERNAL ignores the server name, but a NULL one makes libsasl2 call
 * gethostname() and a blocking getaddrinfo() for every connection. */
#define S2S_SASL_FQDN "s2sd.invalid"
/* Only TLS sessions with a verified peer certificate get here. libsasl2
 * uses the external SSF solely to decide whether a SASL security layer is
 * needed; EXTERNAL never has one, so the value is nominal. */
#define S2S_SASL_TLS_SSF 128
/* libsasl2's EXTERNAL refuses initial responses over 16384 bytes; this is
 * the base64 length of that, and it keeps lengths within libsasl2's
 * unsigned. */
#define S2S_SASL_PAYLOAD_MAX (16384 / 3 * 4 + 4)

enum s2s_sasl_fault {
	S2S_SASL_FAULT_NONE,
	S2S_SASL_FAULT_AUTHZID_PREP,    /* the authzid is not a domain */
	S2S_SASL_FAULT_AUTHZID_OTHER,   /* a domain, but not the verified one */
};

/* One attempt, the context of the per-connection callbacks. */
struct s2s_sasl_attempt {
	const char *verified;           /* prepared, borrowed */
	enum s2s_sasl_fault fault;
	char authzid[JID_PART_MAX + 1]; /* prepared authzid, for the reason */
	char why[160];
};

static bool s2s_sasl_ready;

/* Returns S2SD_EAUTH after filling COND and WHY. */
static int
s2s_sasl_fail(const char **cond, const char *c, char *why, size_t whylen,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
s2s_sasl_fail(const char **cond, const char *c, char *why, size_t whylen,
              const char *fmt, ...)
{
	va_list ap;

	*cond = c;
	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return S2SD_EAUTH;
}

/* libsasl2 messages may quote wire data: keep control bytes out of the
 * log line. */
static int
s2s_sasl_log(void *ctx, int level, const char *message)
{
	char clean[512];
	size_t i;

	(void)ctx;
	if (message == NULL || !log_wants(LOG_LEVEL_DEBUG, LOG_SUB_S2S))
		return SASL_OK;
	for (i = 0; message[i] != '\0' && i < sizeof(clean) - 1; i++) {
		unsigned char c = (unsigned char)message[i];
		clean[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	clean[i] = '\0';
	log_debug(LOG_SUB_S2S, 0, "sasl libsasl2 level=%d msg=\"%s\"", level,
	          clean);
	return SASL_OK;
}

/* The options s2sd sets. Anything else is unset (no config file is read),
 * so libsasl2 keeps its defaults; an unset plugin_list means no plugin list
 * file is opened. */
static int
s2s_sasl_getopt(void *ctx, const char *plugin, const char *option,
                const char **result, unsigned *len)
{
	(void)ctx;
	(void)plugin;
	if (option == NULL)
		return SASL_FAIL;
	if (strcmp(option, "mech_list") == 0)
		*result = "EXTERNAL";
	else if (strcmp(option, "auxprop_plugin") == 0)
		*result = S2S_SASL_AUXPROP;
	else
		return SASL_FAIL;
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

/* An empty search path: opendir("") fails, so no plugin is loaded and no
 * configuration file name is built from a real directory. */
static int
s2s_sasl_getpath(void *ctx, const char **path)
{
	(void)ctx;
	*path = "";
	return SASL_OK;
}

static int
s2s_sasl_getconfpath(void *ctx, char **path)
{
	(void)ctx;
	*path = (char *)"";
	return SASL_OK;
}

/* Refuse every file libsasl2 would open (config file, plugin, plugin list):
 * SASL_CONTINUE means "skip it", so a missing /etc/sasl2/s2sd.conf and an
 * installed libsasl2-modules make no difference. */
static int
s2s_sasl_verifyfile(void *ctx, const char *file, sasl_verify_type_t type)
{
	(void)ctx;
	log_debug(LOG_SUB_S2S, 0, "sasl skip file=%s type=%d",
	          file != NULL ? file : "-", (int)type);
	return SASL_CONTINUE;
}

/* libsasl2 stores callbacks as int (*)(void); going through void (*)(void),
 * the generic function pointer type, keeps -Wcast-function-type quiet. */
#define S2S_SASL_CB(fn) ((sasl_callback_ft)(void (*)(void))(fn))

static const sasl_callback_t s2s_sasl_global_cbs[] = {
    {SASL_CB_LOG, S2S_SASL_CB(s2s_sasl_log), NULL},
    {SASL_CB_GETOPT, S2S_SASL_CB(s2s_sasl_getopt), NULL},
    {SASL_CB_GETPATH, S2S_SASL_CB(s2s_sasl_getpath), NULL},
    {SASL_CB_GETCONFPATH, S2S_SASL_CB(s2s_sasl_getconfpath), NULL},
    {SASL_CB_VERIFYFILE, S2S_SASL_CB(s2s_sasl_verifyfile), NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

/* libsasl2 looks every authzid up in the auxprop plugins and fails the
 * attempt (SASL_NOMECH) when none is loaded: only an externally verified
 * authentication identity may go without properties (canonusr.c). Domains
 * have no stored properties, so this in-process plugin answers "none, and
 * that is fine"; the auxprop_plugin option makes it the only one asked. */
static int
s2s_sasl_auxprop_lookup(void *glob, sasl_server_params_t *sparams,
                        unsigned flags, const char *user, unsigned ulen)
{
	(void)glob;
	(void)sparams;
	(void)flags;
	(void)user;
	(void)ulen;
	return SASL_OK;
}

static sasl_auxprop_plug_t s2s_sasl_auxprop = {
    .auxprop_lookup = s2s_sasl_auxprop_lookup,
    .name = (char *)S2S_SASL_AUXPROP,
};

static int
s2s_sasl_auxprop_init(const sasl_utils_t *utils, int max_version,
                      int *out_version, sasl_auxprop_plug_t **plug,
                      const char *plugname)
{
	(void)utils;
	(void)plugname;
	if (max_version < SASL_AUXPROP_PLUG_VERSION)
		return SASL_BADVERS;
	*out_version = SASL_AUXPROP_PLUG_VERSION;
	*plug = &s2s_sasl_auxprop;
	return SASL_OK;
}

/* libsasl2 sends messages that belong to no connection straight to
 * syslog(3), whatever SASL_CB_LOG says (common.c, _sasl_getcallback() with
 * conn == NULL); at start-up that is a debug line about the empty plugin
 * path. Masking syslog while the global calls run keeps them silent; glibc
 * checks the mask before it opens /dev/log. s2sd is single-threaded here. */
static int
s2s_sasl_global_init(void)
{
	int mask = setlogmask(LOG_MASK(LOG_EMERG));
	int r = sasl_server_init(s2s_sasl_global_cbs, S2S_SASL_APPNAME);

	if (r == SASL_OK)
		r = sasl_auxprop_add_plugin(S2S_SASL_AUXPROP,
		                            s2s_sasl_auxprop_init);
	if (r != SASL_OK)
		sasl_server_done();
	setlogmask(mask);
	return r;
}

int
s2s_sasl_init(char *why, size_t whylen)
{
	int r;

	if (s2s_sasl_ready)
		return 0;
	r = s2s_sasl_global_init();
	if (r != SASL_OK) {
		if (why != NULL && whylen > 0)
			snprintf(why, whylen, "libsasl2 initialisation: %s",
			         sasl_errstring(r, NULL, NULL));
		return S2SD_EAUTH;
	}
	s2s_sasl_ready = true;
	log_debug(LOG_SUB_S2S, 0, "sasl init mech=EXTERNAL");
	return 0;
}

void
s2s_sasl_done(void)
{
	int mask;

	if (!s2s_sasl_ready)
		return;
	mask = setlogmask(LOG_MASK(LOG_EMERG));
	sasl_server_done();
	setlogmask(mask);
	s2s_sasl_ready = false;
}

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF) without NUL: the EXTERNAL message syntax, RFC 4422 appendix A
 * (authz-id-string = 1*( UTF8-char-no-nul )). */
static bool
s2s_sasl_is_utf8_no_nul(const unsigned char *s, size_t len)
{
	size_t i = 0, k, n;
	uint32_t c, min;

	while (i < len) {
		if (s[i] >= 0x01 && s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			n = 2, c = s[i] & 0x1f, min = 0x80;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			n = 3, c = s[i] & 0x0f, min = 0x800;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			n = 4, c = s[i] & 0x07, min = 0x10000;
		else
			return false;       /* NUL, continuation or bad lead */
		if (len - i < n)
			return false;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/* Decode the <auth/> character data. "" and "=" are the empty response
 * (RFC 6120 6.4.2); anything else must be canonical base64 (RFC 4648
 * section 4: padded, no whitespace, no stray bits; RFC 6120 6.4.2 leaves no
 * room for anything else). libsasl2's decoder accepts stray bits, so the
 * result is encoded again and must give back the input. Returns 0 with
 * *OUT (owned, NUL-terminated) and *OUTLEN, or -EINVAL. */
static int
s2s_sasl_decode(const char *in, size_t len, char **out, size_t *outlen)
{
	unsigned n = 0, cap = (unsigned)(len / 4 * 3 + 1);
	char *buf, *again;
	int r;

	if (len == 0 || (len == 1 && in[0] == '=')) {
		*out = xstrdup("");
		*outlen = 0;
		return 0;
	}
	if (len % 4 != 0)
		return -EINVAL;
	buf = xmalloc(cap + 1);
	r = sasl_decode64(in, (unsigned)len, buf, cap, &n);
	if (r == SASL_OK) {
		again = xmalloc(len + 1);
		r = sasl_encode64(buf, n, again, (unsigned)len + 1, NULL);
		if (r != SASL_OK || memcmp(again, in, len) != 0)
			r = SASL_BADPROT;
		free(again);
	}
	if (r != SASL_OK) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

/* The certificate decides; the stream 'from', when given, must name the
 * same domain: XEP-0178 (1.2) section 3 has the receiving server match the
 * 'from' of the stream header against the certificate and answer
 * <not-authorized/> when it does not match. VDOM receives the prepared
 * verified domain. */
static int
s2s_sasl_check_peer(const char *verified, const char *from, char *vdom,
                    const char **cond, char *why, size_t whylen)
{
	char fdom[JID_PART_MAX + 1];

	if (verified == NULL ||
	    jid_domain_prep(verified, vdom, JID_PART_MAX + 1, NULL, 0) < 0)
		return s2s_sasl_fail(cond, "not-authorized", why, whylen,
		                     "peer certificate not verified");
	if (from == NULL)
		return 0;
	if (jid_domain_prep(from, fdom, sizeof(fdom), NULL, 0) < 0)
		return s2s_sasl_fail(cond, "not-authorized", why, whylen,
		                     "stream from is not a domain");
	if (strcmp(fdom, vdom) != 0)
		return s2s_sasl_fail(cond, "not-authorized", why, whylen,
		                     "stream from %s is not the certificate "
		                     "domain %s", fdom, vdom);
	return 0;
}

/* Base64 and mechanism syntax, which libsasl2 would not tell apart from
 * other failures. *AUTHZID gets the decoded response (owned). */
static int
s2s_sasl_check_payload(const char *payload, char **authzid, size_t *alen,
                       const char **cond, char *why, size_t whylen)
{
	size_t len = payload != NULL ? strlen(payload) : 0;

	if (len > S2S_SASL_PAYLOAD_MAX)
		return s2s_sasl_fail(cond, "malformed-request", why, whylen,
		                     "initial response longer than %d bytes",
		                     S2S_SASL_PAYLOAD_MAX);
	if (s2s_sasl_decode(len > 0 ? payload : "", len, authzid, alen) < 0)
		return s2s_sasl_fail(cond, "incorrect-encoding", why, whylen,
		                     "initial response is not base64");
	if (!s2s_sasl_is_utf8_no_nul((const unsigned char *)*authzid,
	                             *alen)) {
		free(*authzid);
		*authzid = NULL;
		return s2s_sasl_fail(cond, "malformed-request", why, whylen,
		                     "authzid is not UTF-8 without NUL");
	}
	return 0;
}

/* SASL_CB_CANON_USER: both identities leave libsasl2's canonicalisation as
 * prepared domains, so equal domains are equal strings for the proxy
 * policy. The authentication identity is the verified domain, already
 * prepared (preparing is idempotent); the authzid comes from the wire. */
static int
s2s_sasl_canon(sasl_conn_t *conn, void *ctx, const char *in, unsigned inlen,
               unsigned flags, const char *realm, char *out, unsigned outmax,
               unsigned *outlen)
{
	struct s2s_sasl_attempt *a = ctx;
	char *s = xstrndup(in, inlen);
	int n;

	(void)realm;
	n = jid_domain_prep(s, out, outmax, a->why, sizeof(a->why));
	free(s);
	if (n < 0) {
		if ((flags & SASL_CU_AUTHID) == 0)
			a->fault = S2S_SASL_FAULT_AUTHZID_PREP;
		sasl_seterror(conn, SASL_NOLOG, "identity is not a domain");
		return SASL_BADAUTH;
	}
	if ((flags & SASL_CU_AUTHID) == 0)
		memcpy(a->authzid, out, (size_t)n + 1);
	*outlen = (unsigned)n;
	return SASL_OK;
}

/* SASL_CB_PROXY_POLICY: a server may act only as the domain its certificate
 * verified for (RFC 6120 6.5.6: otherwise <invalid-authzid/>). */
static int
s2s_sasl_authorize(sasl_conn_t *conn, void *ctx, const char *req,
                   unsigned rlen, const char *auth, unsigned alen,
                   const char *realm, unsigned urlen, struct propctx *props)
{
	struct s2s_sasl_attempt *a = ctx;
	size_t vlen = strlen(a->verified);

	(void)realm;
	(void)urlen;
	(void)props;
	if (alen != vlen || memcmp(auth, a->verified, vlen) != 0 ||
	    rlen != alen || memcmp(req, auth, alen) != 0) {
		a->fault = S2S_SASL_FAULT_AUTHZID_OTHER;
		sasl_seterror(conn, SASL_NOLOG, "authzid is not the "
		              "authenticated domain");
		return SASL_NOAUTHZ;
	}
	return SASL_OK;
}

/* A server connection for one attempt, authenticated externally as VDOM.
 * CBS must outlive the connection. */
static int
s2s_sasl_new(const char *vdom, const sasl_callback_t *cbs,
             sasl_conn_t **conn)
{
	sasl_security_properties_t sec = {0};   /* no SASL security layer */
	sasl_ssf_t ssf = S2S_SASL_TLS_SSF;
	int r;

	r = sasl_server_new(S2S_SASL_SERVICE, S2S_SASL_FQDN, NULL, NULL, NULL,
	                    cbs, 0, conn);
	if (r == SASL_OK)
		r = sasl_setprop(*conn, SASL_SEC_PROPS, &sec);
	if (r == SASL_OK)
		r = sasl_setprop(*conn, SASL_SSF_EXTERNAL, &ssf);
	if (r == SASL_OK)
		r = sasl_setprop(*conn, SASL_AUTH_EXTERNAL, vdom);
	return r;
}

/* libsasl2 said yes: the identity it authorised must be the verified
 * domain. Anything else means the callbacks above were bypassed; the
 * attempt fails closed and says so at error level rather than aborting,
 * because a peer must not be able to stop the daemon. */
static int
s2s_sasl_success(sasl_conn_t *conn, const char *vdom, char **domain,
                 const char **cond, char *why, size_t whylen)
{
	const void *user = NULL;

	if (sasl_getprop(conn, SASL_USERNAME, &user) != SASL_OK ||
	    user == NULL || strcmp(user, vdom) != 0) {
		log_error(LOG_SUB_S2S, 0, "sasl external unexpected identity "
		          "from libsasl2 domain=%s", vdom);
		return s2s_sasl_fail(cond, "not-authorized", why, whylen,
		                     "libsasl2 authorised another identity");
	}
	*domain = xstrdup(vdom);
	return 0;
}

/* Map a failed sasl_server_start() to its RFC 6120 6.5 condition. */
static int
s2s_sasl_failure(sasl_conn_t *conn, int r, const struct s2s_sasl_attempt *a,
                 const char **cond, char *why, size_t whylen)
{
	const char *detail = conn != NULL ? sasl_errdetail(conn)
	                                  : sasl_errstring(r, NULL, NULL);

	if (a->fault == S2S_SASL_FAULT_AUTHZID_PREP)
		return s2s_sasl_fail(cond, "invalid-authzid", why, whylen,
		                     "authzid: %s", a->why);
	if (a->fault == S2S_SASL_FAULT_AUTHZID_OTHER)
		return s2s_sasl_fail(cond, "invalid-authzid", why, whylen,
		                     "authzid %s is not the certificate "
		                     "domain %s", a->authzid, a->verified);
	switch (r) {
	case SASL_BADPROT:
		return s2s_sasl_fail(cond, "malformed-request", why, whylen,
		                     "libsasl2: %s", detail);
	case SASL_NOMEM:
	case SASL_FAIL:
	case SASL_NOTINIT:
	case SASL_BADPARAM:
	case SASL_NOMECH:
	case SASL_TRYAGAIN:
		log_warnx(LOG_SUB_S2S, 0, "sasl external libsasl2 failure "
		          "code=%d", r);
		return s2s_sasl_fail(cond, "temporary-auth-failure", why,
		                     whylen, "libsasl2: %s", detail);
	default:
		return s2s_sasl_fail(cond, "not-authorized", why, whylen,
		                     "libsasl2: %s", detail);
	}
}

/* Run EXTERNAL with AUTHZID (ALEN bytes, "" for none) as initial response
 * on a fresh libsasl2 connection. */
static int
s2s_sasl_run(const char *vdom, const char *authzid, size_t alen,
             char **domain, const char **cond, char *why, size_t whylen)
{
	struct s2s_sasl_attempt a = {.verified = vdom};
	const sasl_callback_t cbs[] = {
	    {SASL_CB_CANON_USER, S2S_SASL_CB(s2s_sasl_canon), &a},
	    {SASL_CB_PROXY_POLICY, S2S_SASL_CB(s2s_sasl_authorize), &a},
	    {SASL_CB_LIST_END, NULL, NULL},
	};
	sasl_conn_t *conn = NULL;
	const char *out = NULL;
	unsigned outlen = 0;
	int r, rc;

	r = s2s_sasl_new(vdom, cbs, &conn);
	if (r == SASL_OK)
		r = sasl_server_start(conn, "EXTERNAL", authzid,
		                      (unsigned)alen, &out, &outlen);
	if (r == SASL_OK)
		rc = s2s_sasl_success(conn, vdom, domain, cond, why, whylen);
	else
		rc = s2s_sasl_failure(conn, r, &a, cond, why, whylen);
	sasl_dispose(&conn);
	return rc;
}

int
s2s_sasl_server_external(const char *verified, const char *from,
                         const char *payload, char **domain,
                         const char **cond, char *why, size_t whylen)
{
	char vdom[JID_PART_MAX + 1];
	char *authzid = NULL;
	size_t alen = 0;
	int rc;

	*domain = NULL;
	*cond = NULL;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (!s2s_sasl_ready)
		fatalx("%s: s2s_sasl_init() was not called", __func__);
	rc = s2s_sasl_check_peer(verified, from, vdom, cond, why, whylen);
	if (rc == 0)
		rc = s2s_sasl_check_payload(payload, &authzid, &alen, cond, why,
		                            whylen);
	if (rc == 0)
		rc = s2s_sasl_run(vdom, authzid, alen, domain, cond, why,
		                  whylen);
	free(authzid);
	return rc;
}

/* XEP-0178 (1.2) section 3: receivers now go by the stream 'from', but the
 * initiating server SHOULD still send its sending domain as authorization
 * identity for older ones, as Prosody does. libsasl2's client API would
 * only wrap this one string, so it is not used (and not initialised). */
char *
s2s_sasl_client_external(const char *local)
{
	size_t len = local != NULL ? strlen(local) : 0;
	unsigned cap = (unsigned)((len + 2) / 3 * 4 + 1);
	char *out;

	if (len == 0 || len > JID_PART_MAX)
		fatalx("%s: local domain missing or too long", __func__);
	out = xmalloc(cap);
	if (sasl_encode64(local, (unsigned)len, out, cap, NULL) != SASL_OK)
		fatalx("%s: sasl_encode64 failed", __func__);
	return out;
}
