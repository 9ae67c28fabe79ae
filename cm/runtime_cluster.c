/* runtime_cluster.c - the cluster's options from the configuration; see
 * runtime_cluster.h. */
#include "cm/runtime_cluster.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "cm/config.h"
#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"

static char *
rc_keep(struct runtime_cluster_opts *ro, char *s)
{
	ro->strings = xreallocarray(ro->strings, ro->nstrings + 1,
	                            sizeof(*ro->strings));
	ro->strings[ro->nstrings++] = s;
	return s;
}

/* One policy line in canonical form (NULL when it is empty). */
static char *
rc_policy_line(const char *line, size_t len)
{
	struct util_buf b = {0};
	size_t i = 0, start;

	while (i < len && line[i] != '#') {
		while (i < len && isspace((unsigned char)line[i]))
			i++;
		if (i >= len || line[i] == '#')
			break;
		start = i;
		while (i < len && line[i] != '#' &&
		       !isspace((unsigned char)line[i]))
			i++;
		if (b.len > 0)
			util_buf_puts(&b, " ");
		for (; start < i; start++) {
			char ch = (char)tolower((unsigned char)line[start]);

			util_buf_append(&b, &ch, 1);
		}
	}
	return b.data;
}

static int
rc_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
runtime_cluster_policy_digest(const char *text, char *def, size_t deflen,
                              char hex[65])
{
	char **rules = NULL, *l;
	struct util_buf all = {0};
	size_t n = 0, i, len;
	uint8_t d[32];

	snprintf(def, deflen, "deny");
	for (; text != NULL && *text != '\0'; text += len + (text[len] != 0)) {
		len = strcspn(text, "\n");
		if ((l = rc_policy_line(text, len)) == NULL)
			continue;
		if (strncmp(l, "default ", 8) == 0) {
			snprintf(def, deflen, "%s", l + 8);
			free(l);
			continue;
		}
		rules = xreallocarray(rules, n + 1, sizeof(*rules));
		rules[n++] = l;
	}
	if (n > 1)
		qsort(rules, n, sizeof(*rules), rc_cmp);
	for (i = 0; i < n; i++) {
		util_buf_printf(&all, "%s\n", rules[i]);
		free(rules[i]);
	}
	free(rules);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, all.data != NULL ? all.data : "",
	                     all.len, d) < 0)
		fatalx("%s: SHA-256 unavailable", __func__);
	util_hex(d, sizeof(d), hex);
	util_buf_free(&all);
}

bool
runtime_cluster_configured(const struct config *cfg)
{
	size_t n;

	config_list(cfg, CONFIG_CLUSTER_PEERS, &n);
	return n > 0;
}

static const char *
rc_node_name(const struct config *cfg, struct runtime_cluster_opts *ro)
{
	const char *node = config_str(cfg, CONFIG_GENERAL_NODE_NAME);
	char host[256] = "";

	if (node[0] != '\0')
		return node;
	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	return rc_keep(ro, xstrdup(host));
}

static void
rc_summary(const struct config *cfg, struct runtime_cluster_opts *ro)
{
	struct cluster_summary *s = &ro->o.summary;
	struct util_buf text = {0};
	char def[16], hex[65];

	s->federation = config_bool(cfg, CONFIG_FED_ENABLED);
	s->security = config_str(cfg, CONFIG_FED_SECURITY);
	s->valid_certs = config_bool(cfg, CONFIG_FED_REQUIRE_VALID_CERTS);
	s->sasl_in = config_bool(cfg, CONFIG_FED_SASL_EXTERNAL_IN);
	s->sasl_out = config_bool(cfg, CONFIG_FED_SASL_EXTERNAL_OUT);
	s->dialback_secret = config_secret(cfg, CONFIG_FED_DIALBACK_SECRET_FILE);
	/* A policy that cannot be read fails the configuration elsewhere;
	 * here it is summarised as empty. */
	util_read_file(config_str(cfg, CONFIG_FILES_POLICY), &text);
	runtime_cluster_policy_digest(text.data, def, sizeof(def), hex);
	util_buf_free(&text);
	s->policy_default = rc_keep(ro, xstrdup(def));
	s->policy_digest = rc_keep(ro, xstrdup(hex));
}

static void
rc_xml(const struct config *cfg, struct xmlstream_opts *x)
{
	x->max_stanza = config_num(cfg, CONFIG_LIM_MAX_STANZA_SIZE);
	x->max_depth = (unsigned)config_num(cfg, CONFIG_LIM_MAX_DEPTH);
	x->max_attrs = (unsigned)config_num(cfg, CONFIG_LIM_MAX_ATTRS);
	x->max_attr_len = config_num(cfg, CONFIG_LIM_MAX_ATTR_LEN);
	x->max_text = config_num(cfg, CONFIG_LIM_MAX_TEXT_LEN);
}

int
runtime_cluster_opts(const struct config *cfg,
                     struct runtime_cluster_opts *ro, struct util_buf *errors)
{
	const char *const *peers;
	const char *eq;
	size_t n, i;

	memset(ro, 0, sizeof(*ro));
	peers = config_list(cfg, CONFIG_CLUSTER_PEERS, &n);
	ro->peers = xcalloc(n + 1, sizeof(*ro->peers));
	for (i = 0; i < n; i++) {
		/* The syntax name=host:port was checked with the config. */
		eq = strchr(peers[i], '=');
		ro->peers[i].name = rc_keep(ro, xstrndup(peers[i],
		                                         (size_t)(eq - peers[i])));
		ro->peers[i].addr = eq + 1;
	}
	ro->o.node = rc_node_name(cfg, ro);
	ro->o.secret = config_secret(cfg, CONFIG_CLUSTER_SECRET_FILE);
	ro->o.peers = ro->peers;
	ro->o.npeers = n;
	ro->o.timeout_ms = config_num(cfg, CONFIG_LIM_NEGOTIATION_TIMEOUT);
	ro->o.backoff_min_ms = config_num(cfg, CONFIG_LIM_BACKOFF_MIN);
	ro->o.backoff_max_ms = config_num(cfg, CONFIG_LIM_BACKOFF_MAX);
	rc_xml(cfg, &ro->o.xml);
	rc_summary(cfg, ro);
	if (n > 0 && ro->o.secret == NULL) {
		util_buf_printf(errors, "%s: cluster.peers needs "
		                "cluster.secret_file\n", config_path(cfg));
		runtime_cluster_opts_free(ro);
		return S2SD_ECONFIG;
	}
	return 0;
}

void
runtime_cluster_opts_free(struct runtime_cluster_opts *ro)
{
	size_t i;

	for (i = 0; i < ro->nstrings; i++)
		free(ro->strings[i]);
	free(ro->strings);
	free(ro->peers);
	memset(ro, 0, sizeof(*ro));
}
