/* check.c - the troubleshooter; see check.h. */
#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cm/check.h"
#include "cm/config.h"
#include "cm/control.h"
#include "cm/err.h"
#include "cm/report.h"
#include "cm/runtime.h"
#include "cm/runtime_cluster.h"
#include "cm/util.h"
#include "dns/dns.h"
#include "dns/dns_cand.h"
#include "tls/tls_cert.h"
#include "xmpp/jid.h"

#define CHECK_WARN_DAYS 30

struct check {
	struct config *cfg;
	struct report *r;
	int failures;
};

static void
check_add(struct check *c, const char *what, const char *result,
          const char *detail, const char *fix)
{
	report_record(c->r);
	report_str(c->r, "check", what);
	report_str(c->r, "result", result);
	report_str(c->r, "detail", detail);
	report_str(c->r, "fix", fix != NULL ? fix : "-");
	if (strcmp(result, "fail") == 0)
		c->failures++;
}

/* The first line of TEXT, for a detail column. */
static char *
check_first_line(const char *text)
{
	const char *nl = strchr(text, '\n');

	return nl != NULL ? xstrndup(text, (size_t)(nl - text)) : xstrdup(text);
}

static void
check_config(struct check *c)
{
	struct util_buf errors = {0};
	char *line;

	if (runtime_check(c->cfg, &errors) == 0) {
		check_add(c, "configuration", "ok", "every file it names loads",
		          NULL);
	} else {
		line = check_first_line(errors.data != NULL ? errors.data : "");
		check_add(c, "configuration", "fail", line,
		          "s2sd -n shows every error as FILE:LINE");
		free(line);
	}
	util_buf_free(&errors);
}

static void
check_federation(struct check *c)
{
	const char *sec = config_str(c->cfg, CONFIG_FED_SECURITY);

	if (config_bool(c->cfg, CONFIG_FED_ENABLED))
		check_add(c, "federation", "ok", "enabled on this node", NULL);
	else
		check_add(c, "federation", "warn", "disabled on this node",
		          "federation.enabled = yes here, or on another node "
		          "of the cluster");
	if (strcmp(sec, "none") == 0)
		check_add(c, "security", "warn", "none: S2S streams in clear",
		          "federation.security = required (or optional)");
	else
		check_add(c, "security", "ok", sec, NULL);
}

/* Certificates in the trust directory (files holding a PEM certificate). */
static size_t
check_trust_count(const char *dir)
{
	struct util_buf b = {0};
	struct dirent *e;
	char path[4096];
	size_t n = 0;
	DIR *d;

	if (dir[0] == '\0' || (d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		util_buf_reset(&b);
		if (util_read_file(path, &b) == 0 && b.data != NULL &&
		    strstr(b.data, "-----BEGIN CERTIFICATE-----") != NULL)
			n++;
	}
	closedir(d);
	util_buf_free(&b);
	return n;
}

static void
check_auth(struct check *c)
{
	bool valid = config_bool(c->cfg, CONFIG_FED_REQUIRE_VALID_CERTS);
	bool db = config_str(c->cfg, CONFIG_FED_DIALBACK_SECRET_FILE)[0] != '\0';
	bool sasl = config_bool(c->cfg, CONFIG_FED_SASL_EXTERNAL_IN) ||
	            config_bool(c->cfg, CONFIG_FED_SASL_EXTERNAL_OUT);
	size_t n = check_trust_count(config_str(c->cfg, CONFIG_TLS_TRUST_DIR));
	char detail[200];

	snprintf(detail, sizeof(detail), "%zu certificate%s in trust_dir%s", n,
	         n == 1 ? "" : "s",
	         config_bool(c->cfg, CONFIG_TLS_TRUST_SYSTEM)
	             ? ", and the system CA bundle" : "");
	/* Without TLS (security none) nothing needs the trust store. */
	if (config_enum(c->cfg, CONFIG_FED_SECURITY) == 0)
		valid = false;
	if (n == 0 && !config_bool(c->cfg, CONFIG_TLS_TRUST_SYSTEM))
		check_add(c, "trust store", valid ? "fail" : "warn", detail,
		          "put the CA certificates of your peers in "
		          "tls.trust_dir, or tls.trust_system = yes");
	else
		check_add(c, "trust store", "ok", detail, NULL);
	if (!sasl && !db)
		check_add(c, "authentication", "fail",
		          "SASL EXTERNAL off and no dialback secret: no peer "
		          "can authenticate", "federation.sasl_external_in/out "
		          "= yes, or a dialback_secret_file");
	else if (!db && !valid)
		check_add(c, "authentication", "warn", "valid certificates are "
		          "not required but dialback is off: peers without a "
		          "trusted certificate cannot authenticate",
		          "federation.dialback_secret_file");
	else
		check_add(c, "authentication", "ok", sasl && db ?
		          "SASL EXTERNAL and dialback" : sasl ? "SASL EXTERNAL"
		                                             : "dialback", NULL);
}

/* Every local domain as A-labels: IM, email (when federated), aliases. */
static char **
check_domains(const struct config *cfg, size_t *n, bool srv_only)
{
	static const enum config_param params[] = {
	    CONFIG_DOMAINS_IM, CONFIG_DOMAINS_EMAIL, CONFIG_DOMAINS_ALIASES};
	const char *const *d;
	char ascii[JID_PART_MAX + 1], **list = NULL;
	size_t i;

	*n = 0;
	for (i = 0; i < UTIL_ARRAY_LEN(params); i++) {
		if (srv_only && params[i] == CONFIG_DOMAINS_EMAIL &&
		    !config_bool(cfg, CONFIG_DOMAINS_EMAIL_FEDERATION))
			continue;
		for (d = config_list(cfg, params[i], NULL); *d != NULL; d++) {
			if (jid_domain_to_ascii(*d, ascii, sizeof(ascii), NULL,
			                        0) < 0)
				continue;
			list = xreallocarray(list, *n + 1, sizeof(*list));
			list[(*n)++] = xstrdup(ascii);
		}
	}
	return list;
}

static void
check_free_domains(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static void
check_cert(struct check *c)
{
	struct tls_cert_check_in in = {0};
	struct util_buf out = {0};
	char **domains, *line;
	const char *p;
	size_t n;

	domains = check_domains(c->cfg, &n, false);
	in.cert_files = config_list(c->cfg, CONFIG_TLS_CERT_FILES, &in.ncerts);
	in.key_files = config_list(c->cfg, CONFIG_TLS_KEY_FILES, &in.nkeys);
	in.domains = (const char *const *)domains;
	in.ndomains = n;
	in.now = time(NULL);
	in.warn_days = CHECK_WARN_DAYS;
	if (tls_cert_check(&in, &out) < 0) {
		p = out.data != NULL ? strstr(out.data, "problem: ") : NULL;
		line = check_first_line(p != NULL ? p + 9 : "unusable");
		check_add(c, "certificate", config_enum(c->cfg,
		          CONFIG_FED_SECURITY) == 0 ? "warn" : "fail", line,
		          "s2sctl cert check; a new certificate: s2sctl cert csr");
		free(line);
	} else if (out.data != NULL &&
	           (p = strstr(out.data, "warning: ")) != NULL) {
		line = check_first_line(p + 9);
		check_add(c, "certificate", "warn", line, "s2sctl cert check");
		free(line);
	} else {
		check_add(c, "certificate", "ok", "covers every local domain, "
		          "email domain and alias", NULL);
	}
	util_buf_free(&out);
	check_free_domains(domains, n);
}

/* ---- SRV records ---- */

struct check_dns {
	int status;
	struct dns_cand_list *cands;
	bool done;
};

static void
check_on_resolved(int status, struct dns_cand_list *cands, void *arg)
{
	struct check_dns *cd = arg;

	cd->status = status;
	cd->cands = cands;
	cd->done = true;
}

/* Is SS (with its port) one of this node's S2S listeners? A wildcard
 * listener matches every address of this host's interfaces. */
static bool
check_is_ours(const struct config *cfg, const struct sockaddr_storage *ss,
              const struct ifaddrs *ifs)
{
	const char *const *l = config_list(cfg, CONFIG_FED_LISTEN, NULL);
	char host[256], addr[INET6_ADDRSTRLEN], ifaddr[INET6_ADDRSTRLEN];
	const struct ifaddrs *i;
	int port, sport;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		sport = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		sport = ntohs(in6->sin6_port);
	}
	for (; *l != NULL; l++) {
		if (util_parse_hostport(*l, 5269, host, sizeof(host), &port) < 0 ||
		    port != sport)
			continue;
		if (strcmp(host, addr) == 0)
			return true;
		if (strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0)
			continue;
		for (i = ifs; i != NULL; i = i->ifa_next) {
			if (i->ifa_addr == NULL || i->ifa_addr->sa_family !=
			    ss->ss_family)
				continue;
			if (i->ifa_addr->sa_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)
				          i->ifa_addr)->sin_addr, ifaddr,
				          sizeof(ifaddr));
			else
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
				          i->ifa_addr)->sin6_addr, ifaddr,
				          sizeof(ifaddr));
			if (strcmp(ifaddr, addr) == 0)
				return true;
		}
	}
	return false;
}

static void
check_srv_one(struct check *c, const char *domain,
              const struct check_dns *cd, const struct ifaddrs *ifs)
{
	struct util_buf targets = {0};
	const struct dns_cand *k, *first = NULL;
	bool ours = false, uneven = false;
	char what[300], fix[600];
	size_t i, j, nsrv = 0;

	snprintf(what, sizeof(what), "srv %s", domain);
	for (i = 0; cd->cands != NULL && i < dns_cand_count(cd->cands); i++) {
		k = dns_cand_get(cd->cands, i);
		if (!k->via_srv)
			continue;
		nsrv++;
		util_buf_printf(&targets, "%s%s:%u (priority %u weight %u)",
		                targets.len > 0 ? ", " : "", k->host, k->port,
		                k->prio, k->weight);
		if (first == NULL)
			first = k;
		else if (k->prio != first->prio || k->weight != first->weight)
			uneven = true;
		for (j = 0; j < k->naddrs; j++)
			ours = ours || check_is_ours(c->cfg, &k->addrs[j], ifs);
	}
	snprintf(fix, sizeof(fix), "publish _xmpp-server._tcp.%s. SRV "
	         "<priority> <weight> <port> <this node's host name>. for every "
	         "federation node, same priority and weight", domain);
	if (nsrv == 0)
		check_add(c, what, "fail", cd->status < 0 && cd->cands == NULL ?
		          err_str(cd->status) : "no _xmpp-server._tcp record: "
		          "peers fall back to the domain on port 5269", fix);
	else if (!ours)
		check_add(c, what, "warn", targets.data, "if this node federates, "
		          "add it to the SRV records");
	else if (uneven)
		check_add(c, what, "warn", targets.data, "give every federation "
		          "node the same priority and weight");
	else
		check_add(c, what, "ok", targets.data, NULL);
	util_buf_free(&targets);
}

static void
check_srv(struct check *c)
{
	struct dns_resolver_opts o = {0};
	struct dns_resolver *res;
	struct check_dns cd;
	struct ifaddrs *ifs = NULL;
	char **domains, why[256];
	uv_loop_t loop;
	size_t n, i;

	domains = check_domains(c->cfg, &n, true);
	uv_loop_init(&loop);
	o.servers = config_str(c->cfg, CONFIG_DNS_SERVERS);
	o.timeout_ms = (uint32_t)config_num(c->cfg, CONFIG_DNS_TIMEOUT);
	o.tries = (uint32_t)config_num(c->cfg, CONFIG_DNS_TRIES);
	if (dns_resolver_new(&loop, &o, &res, why, sizeof(why)) < 0) {
		check_add(c, "dns", "fail", why, "dns.servers");
		goto out;
	}
	if (getifaddrs(&ifs) < 0)
		ifs = NULL;
	for (i = 0; i < n; i++) {
		memset(&cd, 0, sizeof(cd));
		if (dns_resolve(res, domains[i], 0, check_on_resolved, &cd,
		                NULL) < 0)
			continue;
		while (!cd.done)
			uv_run(&loop, UV_RUN_ONCE);
		check_srv_one(c, domains[i], &cd, ifs);
		dns_cand_free(cd.cands);
	}
	if (ifs != NULL)
		freeifaddrs(ifs);
	dns_resolver_close(res, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
out:
	uv_loop_close(&loop);
	check_free_domains(domains, n);
}

/* ---- the cluster ---- */

#define CHECK_MAX_NODES 32

/* One node's line of "cluster summary". */
struct check_node {
	char name[64], link[16], fed[8], security[16], valid_certs[8];
	char sasl_in[8], sasl_out[8], policy_default[16], policy[72];
	char dialback[16];
	bool self, has;
};

static void
check_node_word(struct check_node *n, const char *k, const char *v)
{
	static const struct {
		const char *key;
		size_t off, len;
	} map[] = {
#define F(key, field) {key, offsetof(struct check_node, field), \
	               sizeof(((struct check_node *)0)->field)}
	    F("node", name), F("link", link), F("federation", fed),
	    F("security", security), F("valid_certs", valid_certs),
	    F("sasl_in", sasl_in), F("sasl_out", sasl_out),
	    F("policy_default", policy_default), F("policy", policy),
	    F("dialback", dialback),
#undef F
	};
	size_t i;

	if (strcmp(k, "self") == 0)
		n->self = strcmp(v, "yes") == 0;
	for (i = 0; i < UTIL_ARRAY_LEN(map); i++)
		if (strcmp(k, map[i].key) == 0)
			snprintf((char *)n + map[i].off, map[i].len, "%s", v);
	if (strcmp(k, "security") == 0)
		n->has = true;
}

static size_t
check_parse_nodes(const char *text, struct check_node *nodes, size_t max)
{
	char *copy = xstrdup(text), *line, *word, *sl, *sw, *eq;
	size_t n = 0;

	for (line = strtok_r(copy, "\n", &sl); line != NULL && n < max;
	     line = strtok_r(NULL, "\n", &sl)) {
		memset(&nodes[n], 0, sizeof(nodes[n]));
		for (word = strtok_r(line, " ", &sw); word != NULL;
		     word = strtok_r(NULL, " ", &sw))
			if ((eq = strchr(word, '=')) != NULL) {
				*eq = '\0';
				check_node_word(&nodes[n], word, eq + 1);
			}
		if (nodes[n].name[0] != '\0')
			n++;
	}
	free(copy);
	return n;
}

static void
check_cluster_links(struct check *c, const struct check_node *nodes,
                    size_t n)
{
	struct util_buf up = {0}, down = {0};
	size_t i;

	for (i = 1; i < n; i++)
		util_buf_printf(strcmp(nodes[i].link, "up") == 0 ? &up : &down,
		                "%s%s%s%s", (strcmp(nodes[i].link, "up") == 0
		                             ? up.len : down.len) > 0 ? ", " : "",
		                nodes[i].name,
		                strcmp(nodes[i].link, "up") == 0 ? "" : ": ",
		                strcmp(nodes[i].link, "up") == 0 ? ""
		                                                 : nodes[i].link);
	if (down.len > 0)
		check_add(c, "cluster links", "warn", down.data, "start s2sd on "
		          "those nodes; check cluster.peers, cluster.listen and "
		          "that every node has the same cluster secret");
	else
		check_add(c, "cluster links", "ok", up.len > 0 ? up.data
		          : "no peers", NULL);
	util_buf_free(&up);
	util_buf_free(&down);
}

static void
check_cluster_fed(struct check *c, const struct check_node *nodes, size_t n)
{
	struct util_buf on = {0}, all = {0};
	size_t i;

	for (i = 0; i < n; i++) {
		if (!nodes[i].has)
			continue;
		util_buf_printf(&all, "%s%s", all.len > 0 ? ", " : "",
		                nodes[i].name);
		if (strcmp(nodes[i].fed, "yes") == 0)
			util_buf_printf(&on, "%s%s", on.len > 0 ? ", " : "",
			                nodes[i].name);
	}
	if (on.len == 0)
		check_add(c, "cluster federation", "fail", "federation is off "
		          "on every node", "federation.enabled = yes on at "
		          "least one node");
	else
		check_add(c, "cluster federation", "ok", on.data, NULL);
	util_buf_free(&on);
	util_buf_free(&all);
}

/* One setting: the same on every node that sent its summary? */
static void
check_cluster_same(struct check *c, const struct check_node *nodes, size_t n,
                   size_t off, const char *what, const char *setting)
{
	struct util_buf detail = {0}, names = {0};
	const char *mine = (const char *)&nodes[0] + off, *v;
	char label[96], fix[300];
	bool differ = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!nodes[i].has)
			continue;
		v = (const char *)&nodes[i] + off;
		util_buf_printf(&detail, "%s%s: %.16s", detail.len > 0 ? "; " : "",
		                nodes[i].name, v);
		if (strcmp(v, mine) != 0) {
			differ = true;
			util_buf_printf(&names, ", %s", nodes[i].name);
		}
	}
	snprintf(label, sizeof(label), "cluster %s", what);
	snprintf(fix, sizeof(fix), "set %s the same on every node (%s%s)",
	         setting, nodes[0].name, names.data != NULL ? names.data : "");
	check_add(c, label, differ ? "fail" : "ok", detail.data,
	          differ ? fix : NULL);
	util_buf_free(&detail);
	util_buf_free(&names);
}

static void
check_cluster_dialback(struct check *c, const struct check_node *nodes,
                       size_t n)
{
	struct util_buf detail = {0}, names = {0};
	bool set = strcmp(nodes[0].dialback, "set") == 0, bad;
	char fix[300];
	size_t i;

	util_buf_printf(&detail, "%s: %s", nodes[0].name, set ? "set" : "none");
	for (i = 1; i < n; i++) {
		if (!nodes[i].has)
			continue;
		bad = set ? strcmp(nodes[i].dialback, "same") != 0
		          : strcmp(nodes[i].dialback, "none") != 0;
		util_buf_printf(&detail, "; %s: %s", nodes[i].name,
		                nodes[i].dialback);
		if (bad)
			util_buf_printf(&names, ", %s", nodes[i].name);
	}
	snprintf(fix, sizeof(fix), "give federation.dialback_secret_file the "
	         "same content on every node (%s%s)", nodes[0].name,
	         names.data != NULL ? names.data : "");
	check_add(c, "cluster dialback secret", names.len > 0 ? "fail" : "ok",
	          detail.data, names.len > 0 ? fix : NULL);
	util_buf_free(&detail);
	util_buf_free(&names);
}

int
check_cluster_text(const char *summary, struct report *r)
{
	struct check c = {NULL, r, 0};
	struct check_node nodes[CHECK_MAX_NODES];
	size_t n = check_parse_nodes(summary, nodes, CHECK_MAX_NODES);

	if (n == 0 || !nodes[0].self || !nodes[0].has) {
		check_add(&c, "cluster", "fail", "the daemon's cluster summary "
		          "is unreadable", "s2sctl cluster summary");
		return c.failures;
	}
	check_cluster_links(&c, nodes, n);
	check_cluster_fed(&c, nodes, n);
	check_cluster_same(&c, nodes, n, offsetof(struct check_node, security),
	                   "security", "federation.security");
	check_cluster_same(&c, nodes, n,
	                   offsetof(struct check_node, valid_certs),
	                   "valid certificates",
	                   "federation.require_valid_certs");
	check_cluster_same(&c, nodes, n, offsetof(struct check_node, sasl_in),
	                   "sasl in", "federation.sasl_external_in");
	check_cluster_same(&c, nodes, n, offsetof(struct check_node, sasl_out),
	                   "sasl out", "federation.sasl_external_out");
	check_cluster_dialback(&c, nodes, n);
	check_cluster_same(&c, nodes, n,
	                   offsetof(struct check_node, policy_default),
	                   "policy default", "the policy's default line");
	check_cluster_same(&c, nodes, n, offsetof(struct check_node, policy),
	                   "policy rules", "the policy rules (copy the policy "
	                   "file)");
	return c.failures;
}

/* The running daemon knows the other nodes' settings (its links). */
static void
check_cluster(struct check *c)
{
	char *argv[] = {"cluster", "summary"}, why[512];
	struct util_buf out = {0};
	int rc;

	if (!runtime_cluster_configured(c->cfg))
		return;
	rc = control_request(config_str(c->cfg, CONFIG_GENERAL_CONTROL_SOCKET),
	                     2, argv, &out, why, sizeof(why));
	if (rc != 0)
		check_add(c, "cluster", "warn", rc < 0 ? why : "the daemon "
		          "has no cluster (restart it after configuring one)",
		          "start s2sd here, then run s2sctl check again to "
		          "compare the nodes' settings");
	else
		c->failures += check_cluster_text(out.data != NULL ? out.data
		                                                    : "", c->r);
	util_buf_free(&out);
}

int
check_run(struct config *cfg, bool no_dns, struct report *r)
{
	struct check c = {cfg, r, 0};

	check_config(&c);
	check_federation(&c);
	check_auth(&c);
	check_cert(&c);
	if (!no_dns)
		check_srv(&c);
	check_cluster(&c);
	return c.failures;
}
