/* notify.c - sd_notify(3) messages for systemd; see notify.h. */
#include "cm/notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "cm/log.h"

/* Send STATE unless the daemon was not started by a notify-aware manager.
 * The environment is read each time, not cached, so that tests (and a
 * manager that hands a socket to a re-executed daemon) see the current
 * value. */
static int
notify_send(const char *state)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	int rc;

	if (sock == NULL || sock[0] == '\0')
		return 0;
	rc = sd_notify(0, state);
	if (rc < 0)
		log_debug(LOG_SUB_CM, 0, "sd_notify failed socket=%s error=%s",
		          sock, strerror(-rc));
	return rc < 0 ? rc : 1;
}

int
notify_ready(void)
{
	return notify_send("READY=1");
}

int
notify_reloading(void)
{
	struct timespec ts;
	char state[64];

	/* systemd (253 and later, Type=notify-reload) wants the time of the
	 * reload request with RELOADING=1 to tell this reload from an older
	 * one; older versions ignore the field. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	             (unsigned long long)ts.tv_nsec / 1000ULL);
	return notify_send(state);
}

int
notify_stopping(void)
{
	return notify_send("STOPPING=1");
}

int
notify_status(const char *fmt, ...)
{
	char state[512], *nl;
	va_list ap;
	int n;

	n = snprintf(state, sizeof(state), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(state + n, sizeof(state) - (size_t)n, fmt, ap);
	va_end(ap);
	/* A newline would start a new, unintended assignment. */
	for (nl = state; (nl = strchr(nl, '\n')) != NULL;)
		*nl = ' ';
	return notify_send(state);
}
