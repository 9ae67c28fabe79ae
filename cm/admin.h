/* admin.h - the commands the daemon answers on its control socket (what
 * s2sctl sends): status, streams, routes, reload, policy test, route, log
 * level, close, test, cluster [summary]. A command line may start with
 * "--json": the answer is then JSON (an object for status and test, an
 * array for streams, routes and cluster, {"status": N, "text": "..."} for
 * the others) instead of text.
 *
 * ENV is borrowed for the call; REQ is the control request (a test answers
 * later through control_reply()). Returns the exit status for s2sctl or
 * CONTROL_PENDING. */
#ifndef S2SD_ADMIN_H
#define S2SD_ADMIN_H

#include <stdint.h>

#include "cm/util.h"

struct config;
struct control_req;
struct runtime;

struct admin_env {
	struct runtime *rt;
	const struct config *cfg;
	const char *config_path;
	const char *version;
	uint64_t uptime_ms;
	/* Reload everything; fills REPORT; returns the exit status. */
	int (*reload)(void *arg, struct util_buf *report);
	void *reload_arg;
};

int admin_command(const struct admin_env *env, struct control_req *req,
                  int argc, char **argv, struct util_buf *out);

#endif
