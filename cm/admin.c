/* admin.c - control socket commands; see admin.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/admin.h"
#include "cm/config.h"
#include "cm/control.h"
#include "cm/log.h"
#include "cm/report.h"
#include "cm/runtime.h"

struct admin_cmd {
	const char *name;
	int minargs, maxargs;   /* counting the name */
	int (*run)(const struct admin_env *env, struct control_req *req,
	           bool json, int argc, char **argv, struct util_buf *out);
};

static void
admin_render(struct report *r, enum report_format text, enum report_format json,
             bool want_json, struct util_buf *out)
{
	report_render(r, want_json ? json : text, out);
	report_free(r);
}

static int
admin_status(const struct admin_env *env, struct control_req *req, bool json,
             int argc, char **argv, struct util_buf *out)
{
	struct report *r = report_new();
	char host[256] = "";
	const char *node = config_str(env->cfg, CONFIG_GENERAL_NODE_NAME);

	(void)req;
	(void)argc;
	(void)argv;
	if (node[0] == '\0' && gethostname(host, sizeof(host) - 1) == 0)
		node = host;
	report_record(r);
	report_str(r, "version", env->version);
	report_num(r, "pid", (int64_t)getpid());
	report_num(r, "uptime", (int64_t)(env->uptime_ms / 1000));
	report_str(r, "config", env->config_path);
	report_str(r, "node", node);
	report_str(r, "federation",
	           config_bool(env->cfg, CONFIG_FED_ENABLED) ? "on" : "off");
	report_str(r, "security", config_str(env->cfg, CONFIG_FED_SECURITY));
	runtime_status(env->rt, r);
	admin_render(r, REPORT_LIST, REPORT_JSON_OBJECT, json, out);
	return 0;
}

static int
admin_streams(const struct admin_env *env, struct control_req *req,
              bool json, int argc, char **argv, struct util_buf *out)
{
	struct report *r = report_new();

	(void)req;
	(void)argc;
	(void)argv;
	runtime_streams(env->rt, r);
	if (!json && report_count(r) == 0)
		util_buf_puts(out, "no streams\n");
	admin_render(r, REPORT_TABLE, REPORT_JSON, json, out);
	return 0;
}

static int
admin_routes(const struct admin_env *env, struct control_req *req, bool json,
             int argc, char **argv, struct util_buf *out)
{
	struct report *r = report_new();

	(void)req;
	(void)argc;
	(void)argv;
	runtime_routes(env->rt, r);
	if (!json && report_count(r) == 0)
		util_buf_puts(out, "no routes\n");
	admin_render(r, REPORT_TABLE, REPORT_JSON, json, out);
	return 0;
}

static int
admin_reload(const struct admin_env *env, struct control_req *req, bool json,
             int argc, char **argv, struct util_buf *out)
{
	(void)req;
	(void)json;
	(void)argc;
	(void)argv;
	return env->reload(env->reload_arg, out);
}

static int
admin_policy(const struct admin_env *env, struct control_req *req, bool json,
             int argc, char **argv, struct util_buf *out)
{
	(void)req;
	(void)json;
	if (strcmp(argv[1], "test") != 0 || argc < 3) {
		util_buf_puts(out, "usage: policy test DOMAIN [in|out]\n");
		return 2;
	}
	return runtime_policy_test(env->rt, argv[2], argc == 4 ? argv[3] : NULL,
	                           out);
}

static int
admin_route(const struct admin_env *env, struct control_req *req, bool json,
            int argc, char **argv, struct util_buf *out)
{
	(void)req;
	(void)json;
	(void)argc;
	runtime_route(env->rt, argv[1], out);
	return 0;
}

static int
admin_log(const struct admin_env *env, struct control_req *req, bool json,
          int argc, char **argv, struct util_buf *out)
{
	int lvl, sub = -1;

	(void)env;
	(void)req;
	(void)json;
	if (strcmp(argv[1], "level") != 0 || argc < 3 ||
	    (lvl = log_level_parse(argv[2])) < 0) {
		util_buf_puts(out, "usage: log level error|warn|info|debug|trace "
		              "[SUBSYSTEM]\n");
		return 2;
	}
	if (argc == 4 && (sub = log_sub_parse(argv[3])) < 0) {
		util_buf_printf(out, "unknown subsystem %s (cm dns tls xml s2s "
		                "router policy)\n", argv[3]);
		return 2;
	}
	log_set_level(sub, (enum log_level)lvl);
	log_info(LOG_SUB_CM, 0, "log level %s for %s", argv[2],
	         argc == 4 ? argv[3] : "all subsystems");
	util_buf_printf(out, "log level %s for %s\n", argv[2],
	                argc == 4 ? argv[3] : "all subsystems");
	return 0;
}

static int
admin_close(const struct admin_env *env, struct control_req *req, bool json,
            int argc, char **argv, struct util_buf *out)
{
	(void)req;
	(void)json;
	(void)argc;
	return runtime_close_domain(env->rt, argv[1], out);
}

struct admin_test {
	struct control_req *req;
	bool json;
};

static void
admin_test_done(void *arg, struct report *r, int status)
{
	struct admin_test *t = arg;
	struct util_buf out = {0};

	admin_render(r, REPORT_LIST, REPORT_JSON_OBJECT, t->json, &out);
	control_reply(t->req, status, out.data);
	util_buf_free(&out);
	free(t);
}

/* test DOMAIN [FROM] [trace] */
static int
admin_test(const struct admin_env *env, struct control_req *req, bool json,
           int argc, char **argv, struct util_buf *out)
{
	struct admin_test *t = xcalloc(1, sizeof(*t));
	bool trace = strcmp(argv[argc - 1], "trace") == 0;
	const char *from = argc - trace == 3 ? argv[2] : NULL;
	int rc;

	t->req = req;
	t->json = json;
	rc = runtime_test(env->rt, argv[1], from, trace, admin_test_done, t,
	                  out);
	if (rc != CONTROL_PENDING)
		free(t);
	return rc;
}

/* cluster [summary]: the peers and their links, or every node's settings
 * (what s2sctl check compares). */
static int
admin_cluster(const struct admin_env *env, struct control_req *req,
              bool json, int argc, char **argv, struct util_buf *out)
{
	struct report *r;
	int rc;

	(void)req;
	if (argc == 2 && strcmp(argv[1], "summary") != 0) {
		util_buf_puts(out, "usage: cluster [summary]\n");
		return 2;
	}
	if (argc == 2)
		return runtime_cluster(env->rt, true, NULL, out);
	r = report_new();
	if ((rc = runtime_cluster(env->rt, false, r, out)) == 0)
		admin_render(r, REPORT_TABLE, REPORT_JSON, json, out);
	else
		report_free(r);
	return rc;
}

static const struct admin_cmd admin_cmds[] = {
    {"status", 1, 1, admin_status},
    {"streams", 1, 1, admin_streams},
    {"routes", 1, 1, admin_routes},
    {"reload", 1, 1, admin_reload},
    {"policy", 3, 4, admin_policy},
    {"route", 2, 2, admin_route},
    {"log", 3, 4, admin_log},
    {"close", 2, 2, admin_close},
    {"test", 2, 4, admin_test},
    {"cluster", 1, 2, admin_cluster},
};

/* Commands whose answer is text: wrapped for --json. */
static void
admin_wrap_json(int status, struct util_buf *text)
{
	struct util_buf j = {0};

	util_buf_printf(&j, "{\"status\": %d, \"text\": ", status);
	report_json_string(&j, text->data != NULL ? text->data : "");
	util_buf_puts(&j, "}\n");
	util_buf_free(text);
	*text = j;
}

int
admin_command(const struct admin_env *env, struct control_req *req, int argc,
              char **argv, struct util_buf *out)
{
	const struct admin_cmd *c;
	bool json = false, structured;
	size_t i;
	int rc;

	if (argc > 1 && strcmp(argv[0], "--json") == 0) {
		json = true;
		argc--;
		argv++;
	}
	for (i = 0; i < UTIL_ARRAY_LEN(admin_cmds); i++) {
		c = &admin_cmds[i];
		if (strcmp(c->name, argv[0]) != 0)
			continue;
		if (argc < c->minargs || argc > c->maxargs) {
			util_buf_printf(out, "wrong number of arguments for %s "
			                "(s2sctl help)\n", argv[0]);
			return 2;
		}
		rc = c->run(env, req, json, argc, argv, out);
		structured = c->run == admin_status || c->run == admin_streams ||
		             c->run == admin_routes || c->run == admin_test ||
		             (c->run == admin_cluster && argc == 1);
		if (json && rc != CONTROL_PENDING && (!structured || rc != 0))
			admin_wrap_json(rc, out);
		return rc;
	}
	util_buf_printf(out, "unknown command '%s' (s2sctl help)\n", argv[0]);
	return 2;
}
