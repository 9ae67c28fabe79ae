/* runtime.c - the daemon's working parts built from a configuration; see
 * runtime.h. */
#include "cm/runtime.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/config.h"
#include "cm/control.h"
#include "cm/err.h"
#include "cm/listen.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/metrics_http.h"
#include "cm/report.h"
#include "cm/runtime_cluster.h"
#include "dns/dns.h"
#include "policy/policy.h"
#include "router/cluster.h"
#include "router/directory.h"
#include "router/router.h"
#include "s2s/s2s.h"
#include "tls/tls_ctx.h"
#include "xmpp/jid.h"
#include "xmpp/stanza.h"

#define RUNTIME_POLICY_DEBOUNCE_MS 300

struct runtime {
	uv_loop_t *loop;
	struct config *cfg;
	struct tls_ctx *tls;
	struct policy *pol;
	struct directory *dir;
	struct dns_resolver *dns;
	struct s2s *s2s;
	struct router *router;
	struct router_home *homes;
	struct cluster *cluster;        /* NULL: no cluster configured */
	struct listen_set *s2s_ls, *tls_ls, *comp_ls, *cluster_ls;
	struct metrics_http *metrics;   /* NULL: no endpoint configured */
	uv_fs_event_t pol_watch;
	uv_timer_t pol_debounce;
	char *pol_base;         /* the policy file's name in its directory */
	uv_fs_event_t dir_watch;
	uv_timer_t dir_debounce;
	char *dir_base;         /* the directory file's name */
	void (*stop_cb)(void *arg);
	void *stop_arg;
	int closing_parts;
};

/* ---- from the configuration ---- */

/* One set of water marks for S2S streams and home node links. */
static void
runtime_flow_opts(const struct config *cfg, struct flow_opts *o)
{
	o->high = config_num(cfg, CONFIG_LIM_SEND_HIGH_WATER);
	o->low = config_num(cfg, CONFIG_LIM_SEND_LOW_WATER);
	o->stall_ms = config_num(cfg, CONFIG_LIM_SEND_STALL_TIMEOUT);
}

static void
runtime_s2s_settings(const struct config *cfg, struct s2s_settings *set)
{
	size_t ncerts;

	memset(set, 0, sizeof(*set));
	config_list(cfg, CONFIG_TLS_CERT_FILES, &ncerts);
	set->security = (enum s2s_security)config_enum(cfg, CONFIG_FED_SECURITY);
	set->require_valid_certs = config_bool(cfg, CONFIG_FED_REQUIRE_VALID_CERTS);
	set->sasl_in = config_bool(cfg, CONFIG_FED_SASL_EXTERNAL_IN);
	set->sasl_out = config_bool(cfg, CONFIG_FED_SASL_EXTERNAL_OUT);
	set->have_cert = ncerts > 0;
	set->dialback_secret = config_secret(cfg, CONFIG_FED_DIALBACK_SECRET_FILE);
	set->xml.max_stanza = config_num(cfg, CONFIG_LIM_MAX_STANZA_SIZE);
	set->xml.max_depth = (unsigned)config_num(cfg, CONFIG_LIM_MAX_DEPTH);
	set->xml.max_attrs = (unsigned)config_num(cfg, CONFIG_LIM_MAX_ATTRS);
	set->xml.max_attr_len = config_num(cfg, CONFIG_LIM_MAX_ATTR_LEN);
	set->xml.max_text = config_num(cfg, CONFIG_LIM_MAX_TEXT_LEN);
	set->connect_timeout_ms = config_num(cfg, CONFIG_LIM_CONNECT_TIMEOUT);
	set->step_timeout_ms = config_num(cfg, CONFIG_LIM_NEGOTIATION_TIMEOUT);
	set->dialback_timeout_ms = config_num(cfg, CONFIG_LIM_DIALBACK_TIMEOUT);
	set->idle_ms = config_num(cfg, CONFIG_LIM_IDLE_TIMEOUT);
	set->keepalive_ms = config_num(cfg, CONFIG_LIM_KEEPALIVE);
	set->max_conns = config_num(cfg, CONFIG_LIM_MAX_CONNECTIONS);
	set->max_conns_per_addr = config_num(cfg, CONFIG_LIM_MAX_CONN_PER_ADDR);
	set->queue_max_stanzas = config_num(cfg, CONFIG_LIM_QUEUE_STANZAS);
	set->queue_max_bytes = config_num(cfg, CONFIG_LIM_QUEUE_BYTES);
	set->queue_total_bytes = config_num(cfg, CONFIG_LIM_QUEUE_TOTAL_BYTES);
	set->max_streams_per_domain =
	    config_num(cfg, CONFIG_LIM_MAX_STREAMS_PER_DOMAIN);
	set->in_rate.stanzas = config_num(cfg, CONFIG_LIM_IN_RATE_STANZAS);
	set->in_rate.bytes = config_num(cfg, CONFIG_LIM_IN_RATE_BYTES);
	set->in_rate.burst_ms = config_num(cfg, CONFIG_LIM_IN_RATE_BURST);
	set->in_rate.grace_ms = config_num(cfg, CONFIG_LIM_IN_RATE_GRACE);
	set->backoff_min_ms = config_num(cfg, CONFIG_LIM_BACKOFF_MIN);
	set->backoff_max_ms = config_num(cfg, CONFIG_LIM_BACKOFF_MAX);
	set->sm = config_bool(cfg, CONFIG_FED_STREAM_MANAGEMENT);
	set->sm_ack_every = (uint32_t)config_num(cfg, CONFIG_LIM_SM_ACK_EVERY);
	set->sm_ack_interval_ms = config_num(cfg, CONFIG_LIM_SM_ACK_INTERVAL);
	set->sm_ack_timeout_ms = config_num(cfg, CONFIG_LIM_SM_ACK_TIMEOUT);
	set->sm_resume_ms = config_num(cfg, CONFIG_LIM_SM_RESUME_TIMEOUT);
	set->bidi = config_bool(cfg, CONFIG_FED_BIDI);
	runtime_flow_opts(cfg, &set->flow);
}

/* The TLS context (none in security "none"). */
static int
runtime_tls(const struct config *cfg, struct tls_ctx **out,
            struct util_buf *errors)
{
	struct tls_ctx_config tc = {0};
	const char *trust = config_str(cfg, CONFIG_TLS_TRUST_DIR);
	char why[512];

	*out = NULL;
	if (config_enum(cfg, CONFIG_FED_SECURITY) == CONFIG_SECURITY_NONE)
		return 0;
	tc.cert_files = config_list(cfg, CONFIG_TLS_CERT_FILES, &tc.ncerts);
	tc.key_files = config_list(cfg, CONFIG_TLS_KEY_FILES, &tc.nkeys);
	tc.trust_dir = trust[0] != '\0' ? trust : NULL;
	tc.system_ca = config_bool(cfg, CONFIG_TLS_TRUST_SYSTEM);
	tc.priority = config_str(cfg, CONFIG_TLS_PRIORITY);
	if (tls_ctx_new(&tc, out, why, sizeof(why)) < 0) {
		util_buf_printf(errors, "%s: tls: %s\n", config_path(cfg), why);
		return S2SD_ECONFIG;
	}
	return 0;
}

static void
runtime_router_opts(struct runtime *rt, const struct config *cfg,
                    struct directory *dir, struct router_opts *o)
{
	size_t i, n = config_home_count(cfg);

	free(rt->homes);
	rt->homes = xcalloc(n, sizeof(*rt->homes));
	for (i = 0; i < n; i++) {
		rt->homes[i].name = config_home_name(cfg, i);
		rt->homes[i].secret = config_home_secret(cfg, i);
	}
	memset(o, 0, sizeof(*o));
	o->homes = rt->homes;
	o->nhomes = n;
	o->dir = dir;
	o->replace_on_conflict = config_enum(cfg, CONFIG_COMP_ON_CONFLICT) == 0;
	o->email_federation = config_bool(cfg, CONFIG_DOMAINS_EMAIL_FEDERATION);
	o->grace_ms = config_num(cfg, CONFIG_LIM_HOME_GRACE);
	o->queue_max_stanzas = config_num(cfg, CONFIG_LIM_QUEUE_STANZAS);
	o->queue_max_bytes = config_num(cfg, CONFIG_LIM_QUEUE_BYTES);
	o->handshake_timeout_ms = config_num(cfg, CONFIG_LIM_NEGOTIATION_TIMEOUT);
	o->xml.max_stanza = config_num(cfg, CONFIG_LIM_MAX_STANZA_SIZE);
	o->xml.max_depth = (unsigned)config_num(cfg, CONFIG_LIM_MAX_DEPTH);
	o->xml.max_attrs = (unsigned)config_num(cfg, CONFIG_LIM_MAX_ATTRS);
	o->xml.max_attr_len = config_num(cfg, CONFIG_LIM_MAX_ATTR_LEN);
	o->xml.max_text = config_num(cfg, CONFIG_LIM_MAX_TEXT_LEN);
	runtime_flow_opts(cfg, &o->flow);
}

static bool
runtime_home_known(void *arg, const char *node)
{
	const struct config *cfg = arg;
	size_t i;

	for (i = 0; i < config_home_count(cfg); i++)
		if (strcmp(config_home_name(cfg, i), node) == 0)
			return true;
	return false;
}

static bool
runtime_cfg_local(void *arg, const char *domain)
{
	return config_is_local_domain(arg, domain);
}

/* The cluster's settings are complete and consistent. */
static void
runtime_check_cluster(const struct config *cfg, struct util_buf *errors)
{
	struct runtime_cluster_opts ro;
	size_t i;

	if (!runtime_cluster_configured(cfg) ||
	    runtime_cluster_opts(cfg, &ro, errors) < 0)
		return;
	for (i = 0; i < ro.o.npeers; i++)
		if (strcmp(ro.o.peers[i].name, ro.o.node) == 0)
			util_buf_printf(errors, "%s: cluster.peers names this "
			                "node (%s) itself\n", config_path(cfg),
			                ro.o.node);
	runtime_cluster_opts_free(&ro);
}

/* Every file the configuration names, read and checked (no port bound):
 * the TLS context, the policy and the directory against the home nodes
 * and local domains. On success the objects are returned; on failure
 * ERRORS has a line per problem. */
static int
runtime_files(struct config *cfg, struct tls_ctx **tls, struct policy **pol,
              struct directory **dir, struct util_buf *errors)
{
	size_t before = errors->len;

	*tls = NULL;
	*pol = NULL;
	*dir = NULL;
	runtime_tls(cfg, tls, errors);
	policy_load(config_str(cfg, CONFIG_FILES_POLICY), pol, errors);
	if (directory_load(config_str(cfg, CONFIG_FILES_DIRECTORY), dir,
	                   errors) == 0) {
		directory_check_nodes(*dir, runtime_home_known, cfg, errors);
		directory_check_domains(*dir, runtime_cfg_local, cfg, errors);
	}
	runtime_check_cluster(cfg, errors);
	if (errors->len == before)
		return 0;
	tls_ctx_unref(*tls);
	policy_unref(*pol);
	directory_unref(*dir);
	*tls = NULL;
	*pol = NULL;
	*dir = NULL;
	return S2SD_ECONFIG;
}

int
runtime_check(struct config *cfg, struct util_buf *errors)
{
	struct tls_ctx *tls;
	struct policy *pol;
	struct directory *dir;

	if (runtime_files(cfg, &tls, &pol, &dir, errors) < 0)
		return S2SD_ECONFIG;
	tls_ctx_unref(tls);
	policy_unref(pol);
	directory_unref(dir);
	return 0;
}

/* ---- glue between the parts ---- */

static bool
runtime_is_local(void *arg, const char *domain)
{
	struct runtime *rt = arg;

	return config_is_local_domain(rt->cfg, domain);
}

static void
runtime_deliver(void *arg, struct stanza *st)
{
	struct runtime *rt = arg;

	router_deliver(rt->router, st);
}

static void
runtime_to_remote(void *arg, struct stanza *st)
{
	struct runtime *rt = arg;
	struct stanza *reply;

	struct jid *to = NULL;
	const char *t = stanza_attr(st, "to");
	int rc = -ENOENT;

	if (rt->s2s == NULL) {
		/* The last step of a shutdown: S2S is gone (router_drain()
		 * answered what waited while it was still up). */
		log_info(LOG_SUB_ROUTER, 0, "drop %s for a remote domain: the "
		         "federation service is closed", stanza_name(st));
		stanza_free(st);
		return;
	}
	if (config_bool(rt->cfg, CONFIG_FED_ENABLED)) {
		s2s_send(rt->s2s, st);
		return;
	}
	/* Federation is off here: a federation node of the cluster sends
	 * it, else it cannot leave. */
	if (rt->cluster != NULL && t != NULL &&
	    jid_parse(t, strlen(t), &to, NULL, 0) == 0)
		rc = cluster_to_remote(rt->cluster, jid_domain(to), NULL, st);
	jid_free(to);
	if (rc == 0)
		return;
	reply = stanza_is_bounceable(st)
	            ? stanza_error_reply(st, "cancel", "service-unavailable",
	                                 rt->cluster != NULL
	                                     ? "no federation node of the "
	                                       "cluster is reachable"
	                                     : "federation is disabled on "
	                                       "this node")
	            : NULL;
	stanza_free(st);
	if (reply != NULL) {
		metrics_inc(METRICS_BOUNCES, "service-unavailable");
		router_deliver(rt->router, reply);
	}
}

/* ---- the cluster ---- */

static bool
runtime_to_peer(void *arg, const char *home, const char *origin,
                struct stanza *st)
{
	struct runtime *rt = arg;

	return rt->cluster != NULL &&
	       cluster_to_home(rt->cluster, home, origin, st) == 0;
}

static void
runtime_home_changed(void *arg, const char *home, bool attached)
{
	struct runtime *rt = arg;

	if (rt->cluster != NULL)
		cluster_home_changed(rt->cluster, home, attached);
}

static void
runtime_cluster_to_home(void *arg, const char *home, const char *origin,
                        struct stanza *st)
{
	struct runtime *rt = arg;

	router_deliver_home(rt->router, home, origin, st);
}

static void
runtime_cluster_bounce(void *arg, struct stanza *st, const char *origin,
                       const char *condition, const char *text)
{
	struct runtime *rt = arg;
	struct stanza *reply = NULL;

	(void)origin;   /* the reply goes by its 'to', a local user */
	if (stanza_is_bounceable(st)) {
		reply = stanza_error_reply(st, "cancel", condition, text);
		metrics_inc(METRICS_BOUNCES, condition);
	}
	stanza_free(st);
	if (reply != NULL)
		router_deliver(rt->router, reply);
}

/* From a node without federation: sent as if it came from a home node
 * here (the policy applies in s2s_send). */
static void
runtime_cluster_to_remote(void *arg, struct stanza *st)
{
	struct runtime *rt = arg;

	if (config_bool(rt->cfg, CONFIG_FED_ENABLED))
		s2s_send(rt->s2s, st);
	else
		runtime_cluster_bounce(rt, st, NULL, "service-unavailable",
		                       "federation is disabled on this node");
}

static void
runtime_cluster_home_remote(void *arg, const char *home)
{
	struct runtime *rt = arg;

	router_home_remote(rt->router, home);
}

static void
runtime_on_cluster(void *arg, uv_tcp_t *client, const char *peer)
{
	struct runtime *rt = arg;

	cluster_accept(rt->cluster, client, peer);
}

static int
runtime_cluster_start(struct runtime *rt, char *why, size_t whylen)
{
	static const struct cluster_cbs ccbs = {
	    runtime_cluster_to_home, runtime_cluster_to_remote,
	    runtime_cluster_bounce, runtime_cluster_home_remote};
	struct runtime_cluster_opts ro;
	struct util_buf errors = {0};
	size_t n;
	int rc;

	if (!runtime_cluster_configured(rt->cfg))
		return 0;
	if (runtime_cluster_opts(rt->cfg, &ro, &errors) < 0) {
		snprintf(why, whylen, "%s", errors.data);
		why[strcspn(why, "\n")] = '\0';
		util_buf_free(&errors);
		return S2SD_ECONFIG;
	}
	rc = cluster_new(rt->loop, &ro.o, &ccbs, rt, &rt->cluster, why, whylen);
	runtime_cluster_opts_free(&ro);
	if (rc < 0)
		return rc;
	config_list(rt->cfg, CONFIG_CLUSTER_LISTEN, &n);
	if (n > 0 && listen_open(rt->loop, "cluster",
	                         config_list(rt->cfg, CONFIG_CLUSTER_LISTEN,
	                                     NULL),
	                         runtime_on_cluster, rt, &rt->cluster_ls, why,
	                         whylen) < 0)
		return S2SD_ECONFIG;
	return 0;
}

/* After a reload (of the configuration or the policy): our summary. */
static void
runtime_cluster_update(struct runtime *rt, const struct config *cfg)
{
	struct runtime_cluster_opts ro;
	struct util_buf errors = {0};
	char why[256];

	if (rt->cluster == NULL || !runtime_cluster_configured(cfg) ||
	    runtime_cluster_opts(cfg, &ro, &errors) < 0) {
		util_buf_free(&errors);
		return;
	}
	if (cluster_reconfigure(rt->cluster, &ro.o, why, sizeof(why)) > 0)
		log_warnx(LOG_SUB_ROUTER, 0, "%s", why);
	runtime_cluster_opts_free(&ro);
}

static void
runtime_on_s2s(void *arg, uv_tcp_t *client, const char *peer)
{
	struct runtime *rt = arg;

	s2s_accept(rt->s2s, client, peer, false);
}

static void
runtime_on_s2s_tls(void *arg, uv_tcp_t *client, const char *peer)
{
	struct runtime *rt = arg;

	s2s_accept(rt->s2s, client, peer, true);
}

static void
runtime_on_component(void *arg, uv_tcp_t *client, const char *peer)
{
	struct runtime *rt = arg;

	router_accept(rt->router, client, peer);
}

/* ---- the policy file watch ---- */

static void
runtime_reload_policy(struct runtime *rt)
{
	struct util_buf errors = {0};
	struct s2s_settings set;
	struct policy *pol = NULL;
	const char *path = config_str(rt->cfg, CONFIG_FILES_POLICY);

	if (policy_load(path, &pol, &errors) < 0) {
		log_error(LOG_SUB_POLICY, 0, "policy reload failed, the "
		          "previous policy stays in force: %s", errors.data);
		util_buf_free(&errors);
		return;
	}
	runtime_s2s_settings(rt->cfg, &set);
	s2s_reconfigure(rt->s2s, &set, rt->tls, pol);
	policy_unref(rt->pol);
	rt->pol = pol;
	log_info(LOG_SUB_POLICY, 0, "policy reloaded file=%s rules=%zu", path,
	         policy_rule_count(pol));
	runtime_cluster_update(rt, rt->cfg);
}

static void
runtime_reload_directory(struct runtime *rt)
{
	struct util_buf errors = {0};
	struct directory *dir = NULL;
	struct router_opts ro;
	const char *path = config_str(rt->cfg, CONFIG_FILES_DIRECTORY);
	char why[512];

	if (directory_load(path, &dir, &errors) == 0) {
		directory_check_nodes(dir, runtime_home_known, rt->cfg, &errors);
		directory_check_domains(dir, runtime_cfg_local, rt->cfg, &errors);
	}
	if (errors.len == 0) {
		runtime_router_opts(rt, rt->cfg, dir, &ro);
		if (router_reconfigure(rt->router, &ro, why, sizeof(why)) < 0)
			util_buf_printf(&errors, "%s\n", why);
	}
	if (errors.len > 0) {
		log_error(LOG_SUB_ROUTER, 0, "directory reload failed, the "
		          "previous directory stays in force: %s", errors.data);
		directory_unref(dir);
		runtime_router_opts(rt, rt->cfg, rt->dir, &ro);
		util_buf_free(&errors);
		return;
	}
	directory_unref(rt->dir);
	rt->dir = dir;
	log_info(LOG_SUB_ROUTER, 0, "directory reloaded file=%s entries=%zu",
	         path, directory_count(dir));
}

static void
runtime_on_debounce(uv_timer_t *t)
{
	runtime_reload_policy(t->data);
}

static void
runtime_on_dir_debounce(uv_timer_t *t)
{
	runtime_reload_directory(t->data);
}

static void
runtime_on_dir_event(uv_fs_event_t *h, const char *name, int events,
                     int status)
{
	struct runtime *rt = h->data;

	(void)events;
	if (status < 0 || name == NULL || strcmp(name, rt->dir_base) != 0)
		return;
	uv_timer_start(&rt->dir_debounce, runtime_on_dir_debounce,
	               RUNTIME_POLICY_DEBOUNCE_MS, 0);
}

static void
runtime_on_policy_event(uv_fs_event_t *h, const char *name, int events,
                        int status)
{
	struct runtime *rt = h->data;

	(void)events;
	if (status < 0 || name == NULL || strcmp(name, rt->pol_base) != 0)
		return;
	/* Editors write in several steps: wait for the file to settle. */
	uv_timer_start(&rt->pol_debounce, runtime_on_debounce,
	               RUNTIME_POLICY_DEBOUNCE_MS, 0);
}

/* Watch FILE through its directory: a file replaced by rename (as
 * editors save) keeps being seen. */
static void
runtime_watch_file(uv_fs_event_t *w, uv_fs_event_cb cb, const char *file,
                   char **base)
{
	char *copy = xstrdup(file), *copy2 = xstrdup(file);
	int rc;

	free(*base);
	*base = xstrdup(basename(copy));
	uv_fs_event_stop(w);    /* a reload may move the file */
	rc = uv_fs_event_start(w, cb, dirname(copy2), 0);
	if (rc < 0)
		log_warnx(LOG_SUB_CM, 0, "cannot watch %s (reload with SIGHUP): "
		          "%s", file, uv_strerror(rc));
	free(copy);
	free(copy2);
}

static void
runtime_watch_policy(struct runtime *rt)
{
	runtime_watch_file(&rt->pol_watch, runtime_on_policy_event,
	                   config_str(rt->cfg, CONFIG_FILES_POLICY),
	                   &rt->pol_base);
	runtime_watch_file(&rt->dir_watch, runtime_on_dir_event,
	                   config_str(rt->cfg, CONFIG_FILES_DIRECTORY),
	                   &rt->dir_base);
}

/* ---- start, reload, stop ---- */

static int
runtime_listen(struct runtime *rt, char *why, size_t whylen)
{
	const struct config *cfg = rt->cfg;
	size_t n;

	config_list(cfg, CONFIG_METRICS_LISTEN, &n);
	if (n > 0 && metrics_http_start(rt->loop,
	                                config_list(cfg, CONFIG_METRICS_LISTEN,
	                                            NULL),
	                                &rt->metrics, why, whylen) < 0)
		return S2SD_ECONFIG;
	config_list(cfg, CONFIG_COMP_LISTEN, &n);
	if (n > 0 && listen_open(rt->loop, "component",
	                         config_list(cfg, CONFIG_COMP_LISTEN, NULL),
	                         runtime_on_component, rt, &rt->comp_ls, why,
	                         whylen) < 0)
		return S2SD_ECONFIG;
	if (!config_bool(cfg, CONFIG_FED_ENABLED))
		return 0;
	if (listen_open(rt->loop, "s2s", config_list(cfg, CONFIG_FED_LISTEN,
	                                              NULL),
	                runtime_on_s2s, rt, &rt->s2s_ls, why, whylen) < 0)
		return S2SD_ECONFIG;
	config_list(cfg, CONFIG_FED_DIRECT_TLS_LISTEN, &n);
	if (n > 0 && listen_open(rt->loop, "s2s-direct-tls",
	                         config_list(cfg, CONFIG_FED_DIRECT_TLS_LISTEN,
	                                     NULL),
	                         runtime_on_s2s_tls, rt, &rt->tls_ls, why,
	                         whylen) < 0)
		return S2SD_ECONFIG;
	return 0;
}

static int
runtime_dns(struct runtime *rt, char *why, size_t whylen)
{
	const struct config *cfg = rt->cfg;
	struct dns_resolver_opts o = {0};

	o.servers = config_str(cfg, CONFIG_DNS_SERVERS);
	o.timeout_ms = (uint32_t)config_num(cfg, CONFIG_DNS_TIMEOUT);
	o.tries = (uint32_t)config_num(cfg, CONFIG_DNS_TRIES);
	o.cache_size = config_num(cfg, CONFIG_DNS_CACHE_SIZE);
	return dns_resolver_new(rt->loop, &o, &rt->dns, why, whylen);
}

/* Files first (nothing bound yet), then the parts, then the ports. */
static int
runtime_build(struct runtime *rt, char *why, size_t whylen)
{
	struct s2s_cbs scbs = {runtime_is_local, runtime_deliver};
	struct router_cbs rcbs = {runtime_is_local, runtime_to_remote,
	                          runtime_to_peer, runtime_home_changed};
	struct util_buf errors = {0};
	struct router_opts ro;
	struct s2s_settings set;
	int rc = 0;

	if (runtime_files(rt->cfg, &rt->tls, &rt->pol, &rt->dir, &errors) < 0) {
		snprintf(why, whylen, "%s", errors.data);
		why[strcspn(why, "\n")] = '\0';
		util_buf_free(&errors);
		return S2SD_ECONFIG;
	}
	if ((rc = runtime_dns(rt, why, whylen)) < 0)
		return rc;
	runtime_s2s_settings(rt->cfg, &set);
	s2s_new(rt->loop, &set, rt->tls, rt->dns, rt->pol, &scbs, rt, &rt->s2s);
	runtime_router_opts(rt, rt->cfg, rt->dir, &ro);
	if ((rc = router_new(rt->loop, &ro, &rcbs, rt, &rt->router, why,
	                     whylen)) < 0)
		return rc;
	if ((rc = runtime_cluster_start(rt, why, whylen)) < 0)
		return rc;
	return runtime_listen(rt, why, whylen);
}

int
runtime_start(uv_loop_t *loop, struct config *cfg, struct runtime **out,
              char *why, size_t whylen)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	int rc;

	rt->loop = loop;
	rt->cfg = config_ref(cfg);
	uv_fs_event_init(loop, &rt->pol_watch);
	rt->pol_watch.data = rt;
	uv_timer_init(loop, &rt->pol_debounce);
	rt->pol_debounce.data = rt;
	uv_fs_event_init(loop, &rt->dir_watch);
	rt->dir_watch.data = rt;
	uv_timer_init(loop, &rt->dir_debounce);
	rt->dir_debounce.data = rt;
	if ((rc = runtime_build(rt, why, whylen)) < 0) {
		/* The caller exits: stop what was started, let the loop close
		 * it, and report. */
		runtime_stop(rt, NULL, NULL);
		return rc;
	}
	runtime_watch_policy(rt);
	*out = rt;
	return 0;
}

int
runtime_reload(struct runtime *rt, struct config *cfg,
               struct util_buf *errors)
{
	struct tls_ctx *tls = NULL;
	struct policy *pol = NULL;
	struct directory *dir = NULL;
	struct router_opts ro;
	struct s2s_settings set;
	char why[512];

	if (runtime_files(cfg, &tls, &pol, &dir, errors) < 0)
		return S2SD_ECONFIG;
	if (tls != NULL && rt->tls != NULL)
		tls_ctx_inherit(tls, rt->tls);
	runtime_router_opts(rt, cfg, dir, &ro);
	if (router_reconfigure(rt->router, &ro, why, sizeof(why)) < 0) {
		util_buf_printf(errors, "%s: %s\n", config_path(cfg), why);
		tls_ctx_unref(tls);
		policy_unref(pol);
		directory_unref(dir);
		runtime_router_opts(rt, rt->cfg, rt->dir, &ro);
		return S2SD_ECONFIG;
	}
	runtime_s2s_settings(cfg, &set);
	s2s_reconfigure(rt->s2s, &set, tls, pol);
	tls_ctx_unref(rt->tls);
	policy_unref(rt->pol);
	directory_unref(rt->dir);
	config_unref(rt->cfg);
	rt->tls = tls;
	rt->pol = pol;
	rt->dir = dir;
	rt->cfg = config_ref(cfg);
	runtime_watch_policy(rt);
	runtime_cluster_update(rt, cfg);
	return 0;
}

static void
runtime_part_closed(void *arg)
{
	struct runtime *rt = arg;
	void (*cb)(void *) = rt->stop_cb;
	void *cbarg = rt->stop_arg;

	if (--rt->closing_parts > 0)
		return;
	tls_ctx_unref(rt->tls);
	policy_unref(rt->pol);
	directory_unref(rt->dir);
	config_unref(rt->cfg);
	free(rt->homes);
	free(rt->pol_base);
	free(rt->dir_base);
	free(rt);
	if (cb != NULL)
		cb(cbarg);
}

static void
runtime_handle_closed(uv_handle_t *h)
{
	runtime_part_closed(h->data);
}

static void
runtime_router_closed(void *arg)
{
	struct runtime *rt = arg;

	if (rt->dns != NULL)
		dns_resolver_close(rt->dns, runtime_part_closed, rt);
	else
		runtime_part_closed(rt);
}

/* S2S first (its bounces still reach home nodes through the router), then
 * the router, then the resolver. */
static void
runtime_s2s_closed(void *arg)
{
	struct runtime *rt = arg;

	rt->s2s = NULL;         /* freed; the router's last answers see it */
	if (rt->router != NULL)
		router_close(rt->router, runtime_router_closed, rt);
	else
		runtime_router_closed(rt);
}

/* The cluster first: what its links did not get acknowledged still
 * reaches S2S and the router. */
static void
runtime_cluster_closed(void *arg)
{
	struct runtime *rt = arg;

	rt->cluster = NULL;
	if (rt->s2s != NULL)
		s2s_close(rt->s2s, runtime_s2s_closed, rt);
	else
		runtime_s2s_closed(rt);
}

void
runtime_stop(struct runtime *rt, void (*cb)(void *arg), void *arg)
{
	rt->stop_cb = cb;
	rt->stop_arg = arg;
	listen_close(rt->s2s_ls);
	listen_close(rt->tls_ls);
	listen_close(rt->comp_ls);
	listen_close(rt->cluster_ls);
	rt->s2s_ls = rt->tls_ls = rt->comp_ls = rt->cluster_ls = NULL;
	rt->closing_parts = 5;  /* four handles and the chain of services */
	if (rt->metrics != NULL) {
		rt->closing_parts++;
		metrics_http_stop(rt->metrics, runtime_part_closed, rt);
		rt->metrics = NULL;
	}
	uv_close((uv_handle_t *)&rt->pol_watch, runtime_handle_closed);
	uv_close((uv_handle_t *)&rt->pol_debounce, runtime_handle_closed);
	uv_close((uv_handle_t *)&rt->dir_watch, runtime_handle_closed);
	uv_close((uv_handle_t *)&rt->dir_debounce, runtime_handle_closed);
	/* Stanzas waiting for home nodes are answered while S2S and the
	 * cluster can still carry the answers. */
	if (rt->router != NULL)
		router_drain(rt->router);
	if (rt->cluster != NULL)
		cluster_close(rt->cluster, runtime_cluster_closed, rt);
	else
		runtime_cluster_closed(rt);
}

static void
runtime_policy_line(const struct runtime *rt, const char *domain,
                    enum policy_dir dir, int *rc, struct util_buf *out)
{
	struct policy_decision d;

	policy_check(rt->pol, domain, dir, &d);
	util_buf_printf(out, "%s %s: %s by '%s' (%s:%d)\n", domain,
	                policy_dir_name(dir), d.allow ? "allow" : "deny",
	                d.rule, d.file, d.line);
	if (!d.allow)
		*rc = 1;
}

int
runtime_policy_test(const struct runtime *rt, const char *domain,
                    const char *dir, struct util_buf *out)
{
	char dom[JID_PART_MAX + 1], why[200];
	int rc = 0;

	if (jid_domain_prep(domain, dom, sizeof(dom), why, sizeof(why)) < 0) {
		util_buf_printf(out, "%s: %s\n", domain, why);
		return 2;
	}
	if (dir != NULL && strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0) {
		util_buf_printf(out, "direction must be in or out\n");
		return 2;
	}
	if (dir == NULL || strcmp(dir, "in") == 0)
		runtime_policy_line(rt, dom, POLICY_IN, &rc, out);
	if (dir == NULL || strcmp(dir, "out") == 0)
		runtime_policy_line(rt, dom, POLICY_OUT, &rc, out);
	return rc;
}

void
runtime_route(const struct runtime *rt, const char *jid, struct util_buf *out)
{
	router_explain(rt->router, jid, out);
}

void
runtime_describe(const struct runtime *rt, struct util_buf *out)
{
	s2s_describe(rt->s2s, out);
}

static void
runtime_listeners(const struct listen_set *ls, const char *kind,
                  struct util_buf *b)
{
	size_t i;

	for (i = 0; ls != NULL && i < listen_count(ls); i++)
		util_buf_printf(b, "%s%s=%s", b->len > 0 ? " " : "", kind,
		                listen_addr(ls, i));
}

void
runtime_status(const struct runtime *rt, struct report *r)
{
	struct util_buf b = {0};

	runtime_listeners(rt->s2s_ls, "s2s", &b);
	runtime_listeners(rt->tls_ls, "s2s-direct-tls", &b);
	runtime_listeners(rt->comp_ls, "components", &b);
	runtime_listeners(rt->cluster_ls, "cluster", &b);
	report_str(r, "listeners", b.data != NULL ? b.data : "none");
	util_buf_reset(&b);
	if (rt->cluster != NULL) {
		cluster_status_line(rt->cluster, &b);
		report_str(r, "cluster", b.data);
	}
	util_buf_free(&b);
	s2s_status_report(rt->s2s, r);
}

void
runtime_streams(const struct runtime *rt, struct report *r)
{
	s2s_streams_report(rt->s2s, r);
}

void
runtime_routes(const struct runtime *rt, struct report *r)
{
	s2s_routes_report(rt->s2s, r);
}

int
runtime_close_domain(struct runtime *rt, const char *domain,
                     struct util_buf *out)
{
	char dom[JID_PART_MAX + 1], why[200];
	size_t n;

	if (jid_domain_prep(domain, dom, sizeof(dom), why, sizeof(why)) < 0) {
		util_buf_printf(out, "%s: %s\n", domain, why);
		return 2;
	}
	n = s2s_close_domain(rt->s2s, dom);
	if (n == 0) {
		util_buf_printf(out, "no stream with %s\n", dom);
		return 1;
	}
	util_buf_printf(out, "closing %zu stream%s with %s\n", n,
	                n == 1 ? "" : "s", dom);
	return 0;
}

int
runtime_test(struct runtime *rt, const char *domain, const char *from,
             bool trace, s2s_test_done *done, void *arg,
             struct util_buf *out)
{
	char dom[JID_PART_MAX + 1], local[JID_PART_MAX + 1], why[200];
	const char *const *ims;
	size_t nims;
	int rc;

	ims = config_list(rt->cfg, CONFIG_DOMAINS_IM, &nims);
	if (from == NULL && nims == 0) {
		util_buf_printf(out, "no local domain: set domains.im\n");
		return 2;
	}
	if (jid_domain_prep(domain, dom, sizeof(dom), why, sizeof(why)) < 0 ||
	    jid_domain_prep(from != NULL ? from : ims[0], local, sizeof(local),
	                    why, sizeof(why)) < 0) {
		util_buf_printf(out, "%s\n", why);
		return 2;
	}
	if (!runtime_is_local(rt, local)) {
		util_buf_printf(out, "%s is not a local domain\n", local);
		return 2;
	}
	if (runtime_is_local(rt, dom)) {
		util_buf_printf(out, "%s is a local domain\n", dom);
		return 2;
	}
	rc = s2s_test(rt->s2s, local, dom, trace, done, arg);
	if (rc == S2SD_EPOLICY) {
		util_buf_printf(out, "the policy denies outbound federation "
		                "with %s (s2sctl policy test %s)\n", dom, dom);
		return 1;
	}
	if (rc < 0) {
		util_buf_printf(out, "%s\n", err_str(rc));
		return 1;
	}
	return CONTROL_PENDING;
}

int
runtime_cluster(const struct runtime *rt, bool summary, struct report *r,
                struct util_buf *out)
{
	if (rt->cluster == NULL) {
		util_buf_puts(out, "no cluster configured (cluster.peers)\n");
		return 1;
	}
	if (summary)
		cluster_summary_text(rt->cluster, out);
	else
		cluster_peers_report(rt->cluster, r);
	return 0;
}
