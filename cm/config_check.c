/* config_check.c - checks across settings and secret files, run once a
 * config is fully parsed; see config_int.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cm/config_int.h"
#include "cm/log.h"

#define CONFIG_SECRET_MAX 4096

/* Report at the line where setting ID was given (if it was). */
#define config_error_at(p, id, ...)                                            \
	do {                                                                   \
		(p)->line = (p)->cfg->v[(id)].line;                            \
		config__error((p), __VA_ARGS__);                               \
		(p)->line = 0;                                                 \
	} while (0)

/* Read a secret file: at most CONFIG_SECRET_MAX bytes, trailing newlines
 * stripped, not empty. Returns the secret or NULL with WHY filled. */
static char *
config_read_secret(const char *path, char *why, size_t whylen, bool *loose)
{
	char buf[CONFIG_SECRET_MAX + 1];
	struct stat st;
	size_t n;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(why, whylen, "cannot open %s: %s", path,
		         strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf), fp);
	*loose = fstat(fileno(fp), &st) == 0 && (st.st_mode & 077) != 0;
	fclose(fp);
	if (n > CONFIG_SECRET_MAX) {
		snprintf(why, whylen, "%s is larger than %d bytes", path,
		         CONFIG_SECRET_MAX);
		return NULL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == 0 || memchr(buf, '\0', n) != NULL) {
		snprintf(why, whylen, "%s is empty or not text", path);
		return NULL;
	}
	return xstrndup(buf, n);
}

static char *
config_load_secret(struct config_parse *p, const char *path, int line)
{
	char why[512], *secret;
	bool loose = false;

	p->line = line;
	if ((secret = config_read_secret(path, why, sizeof(why), &loose)) ==
	    NULL)
		config__error(p, "%s", why);
	else if (loose)
		config__warn(p, "%s is readable by group or others; chmod 600",
		             path);
	p->line = 0;
	return secret;
}

static void
config_check_secrets(struct config_parse *p)
{
	struct config *cfg = p->cfg;
	size_t i;
	int id;

	for (id = 0; id < CONFIG_PARAM_COUNT; id++) {
		if (!(config__defs[id].flags & CONFIG_F_SECRET) ||
		    config_str(cfg, id)[0] == '\0')
			continue;
		cfg->v[id].secret =
		    config_load_secret(p, config_str(cfg, id), cfg->v[id].line);
	}
	for (i = 0; i < cfg->nhomes; i++)
		cfg->homes[i].secret = config_load_secret(
		    p, cfg->homes[i].secret_file, cfg->homes[i].line);
}

static void
config_check_security(struct config_parse *p)
{
	const struct config *cfg = p->cfg;
	int sec = config_enum(cfg, CONFIG_FED_SECURITY);
	size_t ncert, nkey;

	config_list(cfg, CONFIG_TLS_CERT_FILES, &ncert);
	config_list(cfg, CONFIG_TLS_KEY_FILES, &nkey);
	if (ncert != nkey)
		config_error_at(p, CONFIG_TLS_KEY_FILES, "tls.key_files has "
		                "%zu entries but tls.cert_files has %zu: they "
		                "are paired", nkey, ncert);
	if (sec == CONFIG_SECURITY_NONE &&
	    config_str(cfg, CONFIG_FED_DIALBACK_SECRET_FILE)[0] == '\0')
		config_error_at(p, CONFIG_FED_SECURITY, "security = none "
		                "authenticates with dialback only: set "
		                "federation.dialback_secret_file");
	if (sec == CONFIG_SECURITY_REQUIRED && ncert == 0)
		config_error_at(p, CONFIG_FED_SECURITY, "security = required "
		                "needs a certificate: set tls.cert_files and "
		                "tls.key_files");
	if (sec == CONFIG_SECURITY_OPTIONAL && ncert == 0)
		config__warn(p, "no certificate (tls.cert_files): STARTTLS "
		             "will not be offered");
	if (sec != CONFIG_SECURITY_NONE &&
	    config_bool(cfg, CONFIG_FED_REQUIRE_VALID_CERTS) &&
	    config_str(cfg, CONFIG_TLS_TRUST_DIR)[0] == '\0' &&
	    !config_bool(cfg, CONFIG_TLS_TRUST_SYSTEM))
		config__warn(p, "require_valid_certs is on but there is no "
		             "trust store (tls.trust_dir, tls.trust_system): "
		             "no peer certificate can verify");
}

static void
config_check_domains(struct config_parse *p)
{
	static const enum config_param lists[] = {
	    CONFIG_DOMAINS_IM, CONFIG_DOMAINS_EMAIL, CONFIG_DOMAINS_ALIASES};
	const struct config *cfg = p->cfg;
	const char *const *a, *const *b;
	size_t i, j, na, nb, x, y;

	config_list(cfg, CONFIG_DOMAINS_IM, &na);
	if (na == 0)
		config__error(p, "domains.im: at least one local IM domain is "
		              "needed");
	for (i = 0; i < UTIL_ARRAY_LEN(lists); i++)
		for (j = i; j < UTIL_ARRAY_LEN(lists); j++) {
			a = config_list(cfg, lists[i], &na);
			b = config_list(cfg, lists[j], &nb);
			for (x = 0; x < na; x++)
				for (y = i == j ? x + 1 : 0; y < nb; y++)
					if (strcmp(a[x], b[y]) == 0)
						config_error_at(p, lists[j], "domain "
						    "%s is listed twice", a[x]);
		}
}

static void
config_check_pairs(struct config_parse *p, enum config_param id,
                   bool (*check)(const char *k, const char *v), const char *what)
{
	const char *const *items = config_list(p->cfg, id, NULL);
	const char *eq;

	for (; *items != NULL; items++) {
		eq = strchr(*items, '=');
		if (eq == NULL || eq == *items || !check(*items, eq + 1))
			config_error_at(p, id, "%s: '%s' is not %s",
			                config_param_name(id), *items, what);
	}
}

static bool
config_level_pair_ok(const char *k, const char *v)
{
	char sub[32];
	size_t len = (size_t)(strchr(k, '=') - k);

	if (len >= sizeof(sub))
		return false;
	memcpy(sub, k, len);
	sub[len] = '\0';
	return log_sub_parse(sub) >= 0 && log_level_parse(v) >= 0;
}

static bool
config_peer_pair_ok(const char *k, const char *v)
{
	char host[256];
	int port;

	(void)k;
	return util_parse_hostport(v, 5270, host, sizeof(host), &port) == 0;
}

void
config__validate(struct config_parse *p)
{
	const struct config *cfg = p->cfg;

	config_check_security(p);
	config_check_domains(p);
	config_check_pairs(p, CONFIG_LOG_LEVELS, config_level_pair_ok,
	                   "subsystem=level");
	config_check_pairs(p, CONFIG_CLUSTER_PEERS, config_peer_pair_ok,
	                   "name=host:port");
	if (config_num(cfg, CONFIG_LIM_BACKOFF_MIN) >
	    config_num(cfg, CONFIG_LIM_BACKOFF_MAX))
		config_error_at(p, CONFIG_LIM_BACKOFF_MIN, "limits.backoff_min "
		                "is larger than limits.backoff_max");
	if (config_num(cfg, CONFIG_LIM_SEND_HIGH_WATER) != 0 &&
	    config_num(cfg, CONFIG_LIM_SEND_LOW_WATER) >=
	        config_num(cfg, CONFIG_LIM_SEND_HIGH_WATER))
		config_error_at(p, CONFIG_LIM_SEND_LOW_WATER, "limits."
		                "send_low_water must be below "
		                "limits.send_high_water");
	config_check_secrets(p);
}
