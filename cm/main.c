/* main.c - the s2sd daemon: options, start-up, signals, reload, shutdown.
 *
 * Start-up order: read the configuration (errors are fatal, printed as
 * FILE:LINE), set up logging, go to the background (unless -f), bind the
 * listeners, drop root, write the pid file, then run the loop. SIGTERM and
 * SIGINT stop gracefully, SIGHUP reloads, SIGUSR1 reopens the log file. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cm/admin.h"
#include "cm/config.h"
#include "cm/control.h"
#include "cm/daemon.h"
#include "cm/err.h"
#include "cm/log.h"
#include "cm/notify.h"
#include "cm/runtime.h"
#include "cm/util.h"
#include "s2s/s2s_sasl.h"

#ifndef S2SD_VERSION
#define S2SD_VERSION "0.1.0"
#endif
#ifndef S2SD_CONFIG_DEFAULT
#define S2SD_CONFIG_DEFAULT "/etc/s2sd/s2sd.conf"
#endif

struct s2sd_opts {
	const char *config_path;
	const char **overrides;         /* NULL-terminated */
	size_t noverrides;
	bool foreground;
	bool check_only;
	bool verbose;
};

struct s2sd {
	uv_loop_t loop;
	struct s2sd_opts opts;
	struct config *cfg;
	struct runtime *rt;
	struct control *control;
	uint64_t started_ms;
	uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
	uv_timer_t drain;       /* bounds a graceful stop */
	bool signals_on;        /* the uv_signal_t handles are initialised */
	bool stopping;
};

static void
s2sd_usage(FILE *out)
{
	fprintf(out,
	        "usage: s2sd [-fnvV] [-c FILE] [-o section.name=value]...\n"
	        "  -c FILE   configuration file (default %s)\n"
	        "  -f        stay in the foreground, log to stderr\n"
	        "  -n        check the configuration and exit (0 when valid)\n"
	        "  -o S.N=V  override a setting of the configuration file\n"
	        "  -v        with -n: print every setting; else log at debug\n"
	        "  -V        print the version and exit\n",
	        S2SD_CONFIG_DEFAULT);
}

static void
s2sd_parse_args(int argc, char **argv, struct s2sd_opts *o)
{
	int ch;

	o->config_path = S2SD_CONFIG_DEFAULT;
	o->overrides = xcalloc((size_t)argc + 1, sizeof(char *));
	while ((ch = getopt(argc, argv, "c:fno:vVh")) != -1) {
		switch (ch) {
		case 'c': o->config_path = optarg; break;
		case 'f': o->foreground = true; break;
		case 'n': o->check_only = true; break;
		case 'o': o->overrides[o->noverrides++] = optarg; break;
		case 'v': o->verbose = true; break;
		case 'V': printf("s2sd %s\n", S2SD_VERSION); exit(0);
		case 'h': s2sd_usage(stdout); exit(0);
		default: s2sd_usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		s2sd_usage(stderr);
		exit(2);
	}
}

/* Per-subsystem levels from log.level and log.levels. */
static void
s2sd_apply_log_levels(const struct config *cfg, bool verbose)
{
	const char *const *pairs = config_list(cfg, CONFIG_LOG_LEVELS, NULL);
	char sub[32];
	size_t len;

	log_set_level(-1, verbose ? LOG_LEVEL_DEBUG
	                          : (enum log_level)config_enum(cfg, CONFIG_LOG_LEVEL));
	for (; *pairs != NULL; pairs++) {
		len = strcspn(*pairs, "=");
		snprintf(sub, sizeof(sub), "%.*s", (int)len, *pairs);
		log_set_level(log_sub_parse(sub),
		              (enum log_level)log_level_parse(*pairs + len + 1));
	}
}

static int
s2sd_open_log(const struct config *cfg, bool foreground)
{
	const char *file = config_str(cfg, CONFIG_LOG_FILE);

	if (file[0] != '\0')
		return log_open(LOG_DEST_FILE, file, "s2sd");
	if (config_bool(cfg, CONFIG_LOG_SYSLOG) || !foreground)
		return log_open(LOG_DEST_SYSLOG, NULL, "s2sd");
	return log_open(LOG_DEST_STDERR, NULL, NULL);
}

/* Print each line of B to the log at LEVEL, or to stderr before the log is
 * set up. */
static void
s2sd_report_lines(const struct util_buf *b, bool to_log, enum log_level level)
{
	const char *line = b->data, *nl;

	for (; line != NULL && *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			nl = line + strlen(line) - 1;
		if (to_log)
			log_at(level, LOG_SUB_CM, 0, "config %.*s",
			       (int)(nl - line), line);
		else
			fprintf(stderr, "%.*s\n", (int)(nl - line), line);
	}
}

/* Load the configuration named by the options; problems go to the log (or
 * stderr before the log is set up). */
static struct config *
s2sd_load_config(const struct s2sd_opts *o, bool to_log)
{
	struct util_buf errors = {0}, warnings = {0};
	struct config *cfg = NULL;

	config_load(o->config_path, o->overrides, &cfg, &errors, &warnings);
	s2sd_report_lines(&warnings, to_log, LOG_LEVEL_WARN);
	s2sd_report_lines(&errors, to_log, LOG_LEVEL_ERROR);
	util_buf_free(&errors);
	util_buf_free(&warnings);
	return cfg;
}

/* Reload everything; problems go to the log and, when REPORT is not NULL,
 * to it (s2sctl reload). Returns 0, or 1 when the old state was kept. */
static int
s2sd_reload(struct s2sd *d, struct util_buf *report)
{
	struct util_buf changed = {0}, errors = {0}, warnings = {0};
	struct config *cfg = NULL;
	int rc;

	notify_reloading();
	log_info(LOG_SUB_CM, 0, "reload start config=%s", d->opts.config_path);
	config_load(d->opts.config_path, d->opts.overrides, &cfg, &errors,
	            &warnings);
	s2sd_report_lines(&warnings, true, LOG_LEVEL_WARN);
	if (cfg != NULL && d->rt != NULL &&
	    runtime_reload(d->rt, cfg, &errors) < 0) {
		config_unref(cfg);
		cfg = NULL;
	}
	if (cfg == NULL) {
		s2sd_report_lines(&errors, true, LOG_LEVEL_ERROR);
		log_error(LOG_SUB_CM, 0, "reload failed: the previous "
		          "configuration stays in force");
		if (report != NULL)
			util_buf_printf(report, "%sreload failed: the previous "
			                "configuration stays in force\n",
			                errors.data != NULL ? errors.data : "");
		util_buf_free(&errors);
		util_buf_free(&warnings);
		notify_status("reload failed, the previous configuration stays");
		notify_ready();
		return 1;
	}
	if (report != NULL && warnings.data != NULL)
		util_buf_puts(report, warnings.data);
	util_buf_free(&errors);
	util_buf_free(&warnings);
	util_buf_reset(&changed);
	if (config_restart_changes(d->cfg, cfg, &changed) > 0)
		log_warnx(LOG_SUB_CM, 0, "reload: changed settings need a "
		          "restart to take effect: %s", changed.data);
	util_buf_free(&changed);
	if (strcmp(config_str(cfg, CONFIG_LOG_FILE),
	           config_str(d->cfg, CONFIG_LOG_FILE)) != 0 ||
	    config_bool(cfg, CONFIG_LOG_SYSLOG) !=
	        config_bool(d->cfg, CONFIG_LOG_SYSLOG)) {
		if ((rc = s2sd_open_log(cfg, d->opts.foreground)) < 0)
			log_error(LOG_SUB_CM, 0, "reload: cannot open log: %s",
			          err_str(rc));
	}
	s2sd_apply_log_levels(cfg, d->opts.verbose);
	config_unref(d->cfg);
	d->cfg = cfg;
	log_info(LOG_SUB_CM, 0, "reload done");
	if (report != NULL)
		util_buf_puts(report, "reload done\n");
	notify_status("running config=%s", d->opts.config_path);
	notify_ready();
	return 0;
}

static int
s2sd_reload_cmd(void *arg, struct util_buf *report)
{
	return s2sd_reload(arg, report);
}

/* The control socket's commands (s2sctl): cm/admin.c. */
static int
s2sd_control(void *arg, struct control_req *req, int argc, char **argv,
             struct util_buf *out)
{
	struct s2sd *d = arg;
	struct admin_env env = {
	    d->rt, d->cfg, d->opts.config_path, S2SD_VERSION,
	    uv_now(&d->loop) - d->started_ms, s2sd_reload_cmd, d,
	};

	if (d->rt == NULL) {
		util_buf_puts(out, "s2sd is stopping\n");
		return 1;
	}
	return admin_command(&env, req, argc, argv, out);
}

static void
s2sd_on_drain(uv_timer_t *t)
{
	(void)t;
	/* Peers that do not close their side within the drain time are not
	 * waited for any longer. */
	log_warnx(LOG_SUB_CM, 0, "shutdown drain time-out: exiting with "
	          "streams still open");
	s2s_sasl_done();
	log_close();
	exit(0);
}

static void
s2sd_on_stopped(void *arg)
{
	struct s2sd *d = arg;

	d->rt = NULL;
	uv_close((uv_handle_t *)&d->drain, NULL);
}

static void
s2sd_stop(struct s2sd *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = true;
	notify_stopping();
	log_info(LOG_SUB_CM, 0, "stopping reason=%s", why);
	control_close(d->control);
	d->control = NULL;
	if (d->rt != NULL) {
		uv_timer_init(&d->loop, &d->drain);
		uv_timer_start(&d->drain, s2sd_on_drain,
		               config_num(d->cfg, CONFIG_LIM_SHUTDOWN_DRAIN), 0);
		uv_unref((uv_handle_t *)&d->drain);
		runtime_stop(d->rt, s2sd_on_stopped, d);
	}
	if (!d->signals_on)
		return;
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->sig_usr1, NULL);
}

static void
s2sd_on_signal(uv_signal_t *h, int signum)
{
	struct s2sd *d = h->data;
	int rc;

	switch (signum) {
	case SIGTERM:
	case SIGINT:
		s2sd_stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
		s2sd_reload(d, NULL);
		break;
	case SIGUSR1:
		if ((rc = log_reopen()) < 0)
			log_error(LOG_SUB_CM, 0, "log reopen failed: %s",
			          err_str(rc));
		else
			log_info(LOG_SUB_CM, 0, "log reopened");
		break;
	}
}

static void
s2sd_signals(struct s2sd *d)
{
	uv_signal_t *h[] = {&d->sig_term, &d->sig_int, &d->sig_hup,
	                    &d->sig_usr1};
	int sig[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < UTIL_ARRAY_LEN(h); i++) {
		uv_signal_init(&d->loop, h[i]);
		h[i]->data = d;
		uv_signal_start(h[i], s2sd_on_signal, sig[i]);
	}
	d->signals_on = true;
}

/* Bind, drop root, write the pid file. Returns 0 or 1 (logged). */
static int
s2sd_start(struct s2sd *d)
{
	const char *user = config_str(d->cfg, CONFIG_GENERAL_USER);
	const char *pid_file = config_str(d->cfg, CONFIG_GENERAL_PID_FILE);
	char why[512];

	/* A daemon facing the internet does not keep root by accident: only
	 * an explicit "user = root" does. */
	if (geteuid() == 0 && user[0] == '\0') {
		log_error(LOG_SUB_CM, 0, "refusing to run as root: set "
		          "general.user to the user to run as after binding "
		          "the ports (user = root keeps root, not advised)");
		return 1;
	}
	if (strcmp(user, "root") == 0)
		log_warnx(LOG_SUB_CM, 0, "running as root (general.user = root)");
	if (s2s_sasl_init(why, sizeof(why)) < 0) {
		log_error(LOG_SUB_CM, 0, "SASL: %s", why);
		return 1;
	}
	/* Every file and port, while still root. */
	if (runtime_start(&d->loop, d->cfg, &d->rt, why, sizeof(why)) < 0) {
		log_error(LOG_SUB_CM, 0, "cannot start: %s", why);
		d->rt = NULL;
		return 1;
	}
	if (control_open(&d->loop, config_str(d->cfg, CONFIG_GENERAL_CONTROL_SOCKET),
	                 config_str(d->cfg, CONFIG_GENERAL_CONTROL_GROUP),
	                 s2sd_control, d, &d->control, why, sizeof(why)) < 0) {
		log_error(LOG_SUB_CM, 0, "cannot start: %s", why);
		return 1;
	}
	d->started_ms = uv_now(&d->loop);
	if (pid_file[0] != '\0' &&
	    daemon_write_pidfile(pid_file, why, sizeof(why)) < 0) {
		log_error(LOG_SUB_CM, 0, "%s", why);
		return 1;
	}
	if (user[0] != '\0' && strcmp(user, "root") != 0) {
		/* The log was opened as root: the user reopens it (SIGUSR1)
		 * and logrotate, running as the user, compresses it. */
		if (config_str(d->cfg, CONFIG_LOG_FILE)[0] != '\0' &&
		    daemon_give_file(config_str(d->cfg, CONFIG_LOG_FILE), user,
		                     config_str(d->cfg, CONFIG_GENERAL_GROUP),
		                     why, sizeof(why)) < 0)
			log_warnx(LOG_SUB_CM, 0, "%s", why);
		if (daemon_drop_privileges(user, config_str(d->cfg,
		                           CONFIG_GENERAL_GROUP), why,
		                           sizeof(why)) < 0) {
			log_error(LOG_SUB_CM, 0, "%s", why);
			return 1;
		}
		log_info(LOG_SUB_CM, 0, "privileges dropped user=%s", user);
	}
	s2sd_signals(d);
	return 0;
}

static int
s2sd_run(struct s2sd *d)
{
	int ready_fd = -1, rc;

	/* Nothing s2sd creates (log, pid file, state) is for everyone. */
	umask(027);
	if (!d->opts.foreground)
		ready_fd = daemon_background();
	if ((rc = s2sd_open_log(d->cfg, d->opts.foreground)) < 0) {
		fprintf(stderr, "s2sd: cannot open log: %s\n", err_str(rc));
		daemon_ready(ready_fd, 1);
		return 1;
	}
	uv_loop_init(&d->loop);
	if (s2sd_start(d) != 0) {
		daemon_ready(ready_fd, 1);
		s2sd_stop(d, "start-up failed");
		uv_run(&d->loop, UV_RUN_DEFAULT);
		uv_loop_close(&d->loop);
		s2s_sasl_done();
		return 1;
	}
	log_info(LOG_SUB_CM, 0, "started version=%s config=%s pid=%ld",
	         S2SD_VERSION, d->opts.config_path, (long)getpid());
	daemon_ready(ready_fd, 0);
	notify_status("running config=%s", d->opts.config_path);
	notify_ready();
	uv_run(&d->loop, UV_RUN_DEFAULT);
	if ((rc = uv_loop_close(&d->loop)) != 0)
		log_error(LOG_SUB_CM, 0, "loop close: %s", err_str(rc));
	s2s_sasl_done();
	daemon_remove_pidfile(config_str(d->cfg, CONFIG_GENERAL_PID_FILE));
	log_info(LOG_SUB_CM, 0, "stopped");
	return 0;
}

int
main(int argc, char **argv)
{
	struct s2sd d = {0};
	struct util_buf dump = {0};
	int rc;

	s2sd_parse_args(argc, argv, &d.opts);
	d.cfg = s2sd_load_config(&d.opts, false);
	if (d.cfg == NULL) {
		fprintf(stderr, "s2sd: configuration %s has errors\n",
		        d.opts.config_path);
		free(d.opts.overrides);
		return 1;
	}
	s2sd_apply_log_levels(d.cfg, d.opts.verbose && !d.opts.check_only);
	if (d.opts.check_only) {
		if (d.opts.verbose) {
			config_dump(d.cfg, &dump);
			fputs(dump.data, stdout);
			util_buf_free(&dump);
		}
		util_buf_reset(&dump);
		log_set_level(-1, LOG_LEVEL_WARN);  /* only problems */
		if (runtime_check(d.cfg, &dump) < 0) {
			fputs(dump.data, stderr);
			fprintf(stderr, "s2sd: configuration %s has errors\n",
			        d.opts.config_path);
			rc = 1;
		} else {
			printf("s2sd: configuration %s is valid\n",
			       d.opts.config_path);
			rc = 0;
		}
		util_buf_free(&dump);
	} else {
		rc = s2sd_run(&d);
	}
	config_unref(d.cfg);
	free(d.opts.overrides);
	log_close();
	return rc;
}
