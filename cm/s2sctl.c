/* s2sctl.c - the s2sd admin tool.
 *
 * Commands that work without a running daemon read the configuration
 * themselves (-c, default the installed s2sd.conf). Each command is one row
 * of s2sctl_cmds[]; errors are one line on stderr and a non-zero exit. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/check.h"
#include "cm/config.h"
#include "cm/control.h"
#include "cm/log.h"
#include "cm/report.h"
#include "cm/util.h"
#include "dns/dns_report.h"
#include "policy/policy.h"
#include "tls/tls_cert.h"
#include "xmpp/jid.h"

#ifndef S2SD_VERSION
#define S2SD_VERSION "0.1.0"
#endif
#ifndef S2SD_CONFIG_DEFAULT
#define S2SD_CONFIG_DEFAULT "/etc/s2sd/s2sd.conf"
#endif

struct s2sctl {
	const char *config_path;
	bool json;              /* --json: the daemon answers in JSON */
	const char *socket;     /* -s, else the configuration's */
	struct config *cfg;     /* loaded on demand */
};

struct s2sctl_cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(struct s2sctl *ctl, int argc, char **argv);
};

static const struct s2sctl_cmd s2sctl_cmds[];

/* Load the configuration for a command that needs it; exits on errors. */
static const struct config *
s2sctl_config(struct s2sctl *ctl)
{
	struct util_buf errors = {0};

	if (ctl->cfg != NULL)
		return ctl->cfg;
	if (config_load(ctl->config_path, NULL, &ctl->cfg, &errors, NULL) < 0) {
		fprintf(stderr, "%s", errors.data != NULL ? errors.data : "");
		fprintf(stderr, "s2sctl: configuration %s has errors\n",
		        ctl->config_path);
		exit(1);
	}
	util_buf_free(&errors);
	return ctl->cfg;
}

static int
s2sctl_request(const char *path, bool json, int argc, char **argv,
               struct util_buf *out, char *why, size_t whylen)
{
	char **args = xcalloc((size_t)argc + 1, sizeof(*args));
	int rc;

	args[0] = "--json";
	memcpy(args + 1, argv, (size_t)argc * sizeof(*args));
	rc = json ? control_request(path, argc + 1, args, out, why, whylen)
	          : control_request(path, argc, argv, out, why, whylen);
	free(args);
	return rc;
}

/* Send ARGV to the running daemon, print its answer, return its status. */
static int
s2sctl_daemon(struct s2sctl *ctl, int argc, char **argv)
{
	const char *path = ctl->socket;
	struct util_buf out = {0};
	char why[512], sock[1024];
	int rc;

	/* Only the socket path is needed: a configuration being fixed may
	 * have errors, and the daemon will say what they are. */
	if (path == NULL) {
		config_peek(ctl->config_path, "general.control_socket", sock,
		            sizeof(sock));
		path = sock;
	}
	rc = s2sctl_request(path, ctl->json, argc, argv, &out, why,
	                    sizeof(why));
	if (rc < 0) {
		fprintf(stderr, "s2sctl: %s\n", why);
		util_buf_free(&out);
		return 1;
	}
	/* A failure that is one line is an error message: stderr. */
	if (out.data != NULL && rc != 0 && !ctl->json &&
	    strchr(out.data, '\n') == out.data + out.len - 1)
		fprintf(stderr, "s2sctl: %s", out.data);
	else if (out.data != NULL)
		fputs(out.data, stdout);
	util_buf_free(&out);
	return rc;
}

static int
s2sctl_usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: s2sctl [-c FILE] [-s SOCKET] [--json] COMMAND "
	             "[ARGS]\n"
	             "  -c FILE    configuration file (default %s)\n"
	             "  -s SOCKET  the daemon's control socket (default: from "
	             "the configuration)\n"
	             "  --json     machine-readable answers from the daemon\n"
	             "commands:\n", S2SD_CONFIG_DEFAULT);
	for (i = 0; s2sctl_cmds[i].name != NULL; i++)
		fprintf(out, "  %-8s %-32s %s\n", s2sctl_cmds[i].name,
		        s2sctl_cmds[i].args, s2sctl_cmds[i].help);
	return out == stdout ? 0 : 2;
}

static int
s2sctl_cmd_help(struct s2sctl *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argc;
	(void)argv;
	return s2sctl_usage(stdout);
}

static int
s2sctl_cmd_version(struct s2sctl *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argc;
	(void)argv;
	printf("s2sctl %s\n", S2SD_VERSION);
	return 0;
}

static int
s2sctl_cmd_config(struct s2sctl *ctl, int argc, char **argv)
{
	const struct config *cfg = s2sctl_config(ctl);
	struct util_buf dump = {0};
	const char *line, *nl;
	int i, shown = 0;

	config_dump(cfg, &dump);
	for (line = dump.data; line != NULL && *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		for (i = 1; i < argc; i++)
			if (strncmp(line, argv[i], strlen(argv[i])) == 0)
				break;
		if (argc == 1 || i < argc) {
			printf("%.*s\n", (int)(nl - line), line);
			shown++;
		}
	}
	util_buf_free(&dump);
	if (argc > 1 && shown == 0) {
		fprintf(stderr, "s2sctl: no setting matches\n");
		return 1;
	}
	return 0;
}

static int
s2sctl_policy_print(const struct policy *p, const char *domain,
                    enum policy_dir dir)
{
	struct policy_decision d;

	policy_check(p, domain, dir, &d);
	printf("%s %s: %s by '%s' (%s:%d)\n", domain, policy_dir_name(dir),
	       d.allow ? "allow" : "deny", d.rule, d.file, d.line);
	return d.allow ? 0 : 1;
}

static void
s2sctl_policy_overrides(const struct policy *p, const char *domain)
{
	static const char *const security[] = {"none", "optional", "required"};
	static const char *const certs[] = {"any", "valid"};
	static const char *const yesno[] = {"no", "yes"};
	struct policy_security s;

	policy_security(p, domain, &s);
	if (s.file == NULL)
		return;
	printf("%s: overrides from %s:%d:", domain, s.file, s.line);
	if (s.security >= 0)
		printf(" security=%s", security[s.security]);
	if (s.certs_valid >= 0)
		printf(" certs=%s", certs[s.certs_valid]);
	if (s.dialback >= 0)
		printf(" dialback=%s", yesno[s.dialback]);
	printf("\n");
}

/* policy test DOMAIN [in|out] [-f FILE]: exit 0 when allowed (in every
 * direction asked), 1 when denied, 2 on errors. */
static int
s2sctl_cmd_policy(struct s2sctl *ctl, int argc, char **argv)
{
	const char *file = NULL, *dirarg = NULL, *domain = NULL;
	char dom[JID_PART_MAX + 1], why[200];
	struct util_buf errors = {0};
	struct policy *p = NULL;
	int i, rc = 0;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (domain == NULL)
			domain = argv[i];
		else if (dirarg == NULL)
			dirarg = argv[i];
		else
			domain = NULL, i = argc;
	}
	if (argc < 3 || strcmp(argv[1], "test") != 0 || domain == NULL ||
	    (dirarg != NULL && strcmp(dirarg, "in") != 0 &&
	     strcmp(dirarg, "out") != 0)) {
		fprintf(stderr, "usage: s2sctl policy test DOMAIN [in|out] "
		        "[-f FILE]\n");
		return 2;
	}
	if (jid_domain_prep(domain, dom, sizeof(dom), why, sizeof(why)) < 0) {
		fprintf(stderr, "s2sctl: %s: %s\n", domain, why);
		return 2;
	}
	if (file == NULL) {
		/* The running daemon's policy, as it is in force now. */
		char *dargv[4] = {"policy", "test", dom, (char *)dirarg};
		return s2sctl_daemon(ctl, dirarg != NULL ? 4 : 3, dargv);
	}
	if (policy_load(file, &p, &errors) < 0) {
		fprintf(stderr, "%s", errors.data);
		util_buf_free(&errors);
		return 2;
	}
	if (dirarg == NULL || strcmp(dirarg, "in") == 0)
		rc |= s2sctl_policy_print(p, dom, POLICY_IN);
	if (dirarg == NULL || strcmp(dirarg, "out") == 0)
		rc |= s2sctl_policy_print(p, dom, POLICY_OUT);
	s2sctl_policy_overrides(p, dom);
	policy_unref(p);
	return rc;
}

/* dns [-s SERVERS] [--no-connect] DOMAIN: the resolution s2sd would do.
 * Servers: -s, else the configuration's dns.servers, else resolv.conf (a
 * missing configuration file is fine here; a broken one is not). */
static int
s2sctl_cmd_dns(struct s2sctl *ctl, int argc, char **argv)
{
	const char *servers = NULL, *domain = NULL;
	bool connect = true;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			servers = argv[++i];
		else if (strcmp(argv[i], "--no-connect") == 0)
			connect = false;
		else if (domain == NULL && argv[i][0] != '-')
			domain = argv[i];
		else
			domain = NULL, i = argc;
	}
	if (domain == NULL) {
		fprintf(stderr, "usage: s2sctl dns [-s HOST:PORT,...] "
		        "[--no-connect] DOMAIN\n");
		return 2;
	}
	if (servers == NULL && access(ctl->config_path, F_OK) == 0)
		servers = config_str(s2sctl_config(ctl), CONFIG_DNS_SERVERS);
	return dns_report_run(domain, servers != NULL && *servers != '\0'
	                                  ? servers : NULL, connect, stdout);
}

/* Every local domain of the configuration (IM, email, aliases) in A-label
 * form, appended to *LIST (strings owned by the list). */
static void
s2sctl_local_domains(struct s2sctl *ctl, char ***list, size_t *n)
{
	static const enum config_param params[] = {
	    CONFIG_DOMAINS_IM, CONFIG_DOMAINS_EMAIL, CONFIG_DOMAINS_ALIASES};
	const struct config *cfg = s2sctl_config(ctl);
	const char *const *d;
	char ascii[JID_PART_MAX + 1];
	size_t i;

	for (i = 0; i < UTIL_ARRAY_LEN(params); i++)
		for (d = config_list(cfg, params[i], NULL); *d != NULL; d++) {
			if (jid_domain_to_ascii(*d, ascii, sizeof(ascii), NULL,
			                        0) < 0)
				continue;   /* config already refused bad ones */
			*list = xreallocarray(*list, *n + 1, sizeof(char *));
			(*list)[(*n)++] = xstrdup(ascii);
		}
}

static void
s2sctl_print_buf(struct util_buf *b)
{
	if (b->data != NULL)
		fputs(b->data, stdout);
	util_buf_free(b);
}

static int
s2sctl_cert_check(struct s2sctl *ctl)
{
	const struct config *cfg = s2sctl_config(ctl);
	struct tls_cert_check_in in = {0};
	struct util_buf out = {0};
	char **domains = NULL;
	size_t n = 0, i;
	int rc;

	in.cert_files = config_list(cfg, CONFIG_TLS_CERT_FILES, &in.ncerts);
	in.key_files = config_list(cfg, CONFIG_TLS_KEY_FILES, &in.nkeys);
	s2sctl_local_domains(ctl, &domains, &n);
	in.domains = (const char *const *)domains;
	in.ndomains = n;
	rc = tls_cert_check(&in, &out);
	s2sctl_print_buf(&out);
	for (i = 0; i < n; i++)
		free(domains[i]);
	free(domains);
	return rc < 0 ? 1 : 0;
}

/* cert selfsigned|csr [-d DOMAIN]... [--ecdsa] [--days N] OUT KEY */
static int
s2sctl_cert_make(struct s2sctl *ctl, int argc, char **argv, bool csr)
{
	struct tls_cert_make req = {.keytype = TLS_CERT_RSA2048};
	char **domains = NULL, why[512];
	size_t n = 0, i;
	int rc, k;

	for (k = 2; k < argc; k++) {
		if (strcmp(argv[k], "-d") == 0 && k + 1 < argc) {
			domains = xreallocarray(domains, n + 1, sizeof(char *));
			domains[n++] = xstrdup(argv[++k]);
		} else if (strcmp(argv[k], "--ecdsa") == 0) {
			req.keytype = TLS_CERT_ECDSA_P256;
		} else if (strcmp(argv[k], "--days") == 0 && k + 1 < argc) {
			req.days = (unsigned)strtoul(argv[++k], NULL, 10);
		} else if (req.out_file == NULL) {
			req.out_file = argv[k];
		} else if (req.key_file == NULL) {
			req.key_file = argv[k];
		} else {
			req.key_file = NULL;
			break;
		}
	}
	if (req.out_file == NULL || req.key_file == NULL) {
		fprintf(stderr, "usage: s2sctl cert %s [-d DOMAIN]... [--ecdsa] "
		        "[--days N] %s KEYFILE\n", csr ? "csr" : "selfsigned",
		        csr ? "CSRFILE" : "CERTFILE");
		rc = 2;
		goto out;
	}
	if (n == 0)
		s2sctl_local_domains(ctl, &domains, &n);
	req.domains = (const char *const *)domains;
	req.ndomains = n;
	rc = csr ? tls_cert_csr(&req, why, sizeof(why))
	         : tls_cert_selfsigned(&req, why, sizeof(why));
	if (rc < 0)
		fprintf(stderr, "s2sctl: %s\n", why);
	else
		printf("wrote %s and %s for %zu domain%s\n", req.out_file,
		       req.key_file, n, n == 1 ? "" : "s");
	rc = rc < 0 ? 1 : 0;
out:
	for (i = 0; i < n; i++)
		free(domains[i]);
	free(domains);
	return rc;
}

static int
s2sctl_cmd_cert(struct s2sctl *ctl, int argc, char **argv)
{
	struct util_buf out = {0};
	int rc;

	if (argc == 3 && strcmp(argv[1], "show") == 0) {
		rc = tls_cert_show(argv[2], &out);
		s2sctl_print_buf(&out);
		return rc < 0 ? 1 : 0;
	}
	if (argc == 2 && strcmp(argv[1], "check") == 0)
		return s2sctl_cert_check(ctl);
	if (argc >= 2 && strcmp(argv[1], "selfsigned") == 0)
		return s2sctl_cert_make(ctl, argc, argv, false);
	if (argc >= 2 && strcmp(argv[1], "csr") == 0)
		return s2sctl_cert_make(ctl, argc, argv, true);
	fprintf(stderr, "usage: s2sctl cert show FILE | check | selfsigned ... "
	        "| csr ...\n");
	return 2;
}

/* check [--no-dns]: the troubleshooter (cm/check.h). */
static int
s2sctl_cmd_check(struct s2sctl *ctl, int argc, char **argv)
{
	struct report *r = report_new();
	struct util_buf out = {0};
	bool no_dns = argc == 2 && strcmp(argv[1], "--no-dns") == 0;
	int failures;

	if (argc > 2 || (argc == 2 && !no_dns)) {
		fprintf(stderr, "usage: s2sctl check [--no-dns]\n");
		report_free(r);
		return 2;
	}
	s2sctl_config(ctl);
	log_set_level(-1, LOG_LEVEL_ERROR);
	failures = check_run(ctl->cfg, no_dns, r);
	report_render(r, ctl->json ? REPORT_JSON : REPORT_TABLE, &out);
	if (!ctl->json)
		util_buf_printf(&out, "%d check%s failed\n", failures,
		                failures == 1 ? "" : "s");
	fputs(out.data, stdout);
	util_buf_free(&out);
	report_free(r);
	return failures > 0 ? 1 : 0;
}

static int
s2sctl_cmd_daemon(struct s2sctl *ctl, int argc, char **argv)
{
	return s2sctl_daemon(ctl, argc, argv);
}

static const struct s2sctl_cmd s2sctl_cmds[] = {
    {"status", "", "the running daemon: version, uptime, streams",
     s2sctl_cmd_daemon},
    {"streams", "", "every stream: direction, domains, peer, auth, TLS, "
     "certificate, age, idle, queues, stanzas", s2sctl_cmd_daemon},
    {"routes", "", "every outbound route: state, failures, back-off, queue",
     s2sctl_cmd_daemon},
    {"close", "DOMAIN", "close the streams with DOMAIN properly",
     s2sctl_cmd_daemon},
    {"cluster", "[summary]", "the cluster: peers, links, home nodes, "
     "forwarded; summary: every node's settings", s2sctl_cmd_daemon},
    {"test", "DOMAIN [FROM] [trace]",
     "connect to DOMAIN now and print the transcript", s2sctl_cmd_daemon},
    {"reload", "", "reload configuration, policy, directory, certificates",
     s2sctl_cmd_daemon},
    {"route", "JID", "where a stanza to JID would go, and why",
     s2sctl_cmd_daemon},
    {"log", "level LEVEL [SUBSYSTEM]", "change a log level at run time",
     s2sctl_cmd_daemon},
    {"cert", "show FILE|check|selfsigned|csr",
     "certificate tooling (check: covers every local domain?)",
     s2sctl_cmd_cert},
    {"dns", "[-s SERVERS] [--no-connect] DOMAIN",
     "SRV records, the order s2sd tries them, reachability", s2sctl_cmd_dns},
    {"policy", "test DOMAIN [in|out] [-f FILE]",
     "the decision and rule (file:line), running daemon or FILE",
     s2sctl_cmd_policy},
    {"check", "[--no-dns]", "troubleshoot: settings, certificate, trust, "
     "SRV records", s2sctl_cmd_check},
    {"config", "[PREFIX...]", "print the effective settings (no secrets)",
     s2sctl_cmd_config},
    {"version", "", "print the version", s2sctl_cmd_version},
    {"help", "", "this list", s2sctl_cmd_help},
    {NULL, NULL, NULL, NULL},
};

int
main(int argc, char **argv)
{
	struct s2sctl ctl = {S2SD_CONFIG_DEFAULT, false, NULL, NULL};
	const struct s2sctl_cmd *cmd;
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "+c:s:hj", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': ctl.config_path = optarg; break;
		case 's': ctl.socket = optarg; break;
		case 'j': ctl.json = true; break;
		case 'h': return s2sctl_usage(stdout);
		default: return s2sctl_usage(stderr);
		}
	}
	if (optind >= argc)
		return s2sctl_usage(stderr);
	for (cmd = s2sctl_cmds; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, argv[optind]) == 0)
			break;
	if (cmd->name == NULL) {
		fprintf(stderr, "s2sctl: unknown command '%s' (try s2sctl help)\n",
		        argv[optind]);
		return 2;
	}
	rc = cmd->run(&ctl, argc - optind, argv + optind);
	config_unref(ctl.cfg);
	return rc;
}
