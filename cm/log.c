/* log.c - line logger; see log.h. */
#include "cm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "cm/util.h"
#include <unistd.h>

enum log_level log_levels[LOG_SUB_COUNT] = {
    LOG_LEVEL_INFO, LOG_LEVEL_INFO, LOG_LEVEL_INFO, LOG_LEVEL_INFO,
    LOG_LEVEL_INFO, LOG_LEVEL_INFO, LOG_LEVEL_INFO,
};

static const char *const log_level_names[] = {
    "error", "warn", "info", "debug", "trace",
};
static const char *const log_sub_names[LOG_SUB_COUNT] = {
    "cm", "dns", "tls", "xml", "s2s", "router", "policy",
};

static struct {
	enum log_dest dest;
	FILE *file;     /* LOG_DEST_FILE only */
	char *path;     /* LOG_DEST_FILE only */
} log_state = {LOG_DEST_STDERR, NULL, NULL};

static FILE *
log_file_open(const char *path)
{
	int fd;
	FILE *fp;

	/* Log files may hold peer addresses: not world-readable. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return NULL;
	fp = fdopen(fd, "a");
	if (fp == NULL) {
		close(fd);
		return NULL;
	}
	setvbuf(fp, NULL, _IOLBF, 0);
	return fp;
}

void
log_close(void)
{
	if (log_state.dest == LOG_DEST_FILE && log_state.file != NULL)
		fclose(log_state.file);
	if (log_state.dest == LOG_DEST_SYSLOG)
		closelog();
	free(log_state.path);
	log_state.file = NULL;
	log_state.path = NULL;
	log_state.dest = LOG_DEST_STDERR;
}

int
log_open(enum log_dest dest, const char *path, const char *ident)
{
	FILE *fp = NULL;
	char *copy = NULL;

	if (dest == LOG_DEST_FILE) {
		if (path == NULL)
			return -EINVAL;
		if ((fp = log_file_open(path)) == NULL)
			return -errno;
		if ((copy = strdup(path)) == NULL) {
			fclose(fp);
			return -ENOMEM;
		}
	}
	log_close();
	log_state.dest = dest;
	log_state.file = fp;
	log_state.path = copy;
	if (dest == LOG_DEST_SYSLOG)
		openlog(ident != NULL ? ident : "s2sd", LOG_PID | LOG_NDELAY,
		        LOG_DAEMON);
	return 0;
}

int
log_reopen(void)
{
	FILE *fp;

	if (log_state.dest != LOG_DEST_FILE)
		return 0;
	if ((fp = log_file_open(log_state.path)) == NULL)
		return -errno;
	fclose(log_state.file);
	log_state.file = fp;
	return 0;
}

void
log_set_level(int sub, enum log_level level)
{
	int i;

	for (i = 0; i < LOG_SUB_COUNT; i++)
		if (sub < 0 || sub == i)
			log_levels[i] = level;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_LEVEL_TRACE)
		return "?";
	return log_level_names[level];
}

const char *
log_sub_name(enum log_sub sub)
{
	if ((unsigned)sub >= LOG_SUB_COUNT)
		return "?";
	return log_sub_names[sub];
}

static int
log_lookup(const char *const *names, int count, const char *name)
{
	int i;

	for (i = 0; i < count; i++)
		if (strcasecmp(names[i], name) == 0)
			return i;
	return -1;
}

int
log_level_parse(const char *name)
{
	if (strcasecmp(name, "warning") == 0)
		return LOG_LEVEL_WARN;
	return log_lookup(log_level_names, LOG_LEVEL_TRACE + 1, name);
}

int
log_sub_parse(const char *name)
{
	return log_lookup(log_sub_names, LOG_SUB_COUNT, name);
}

static int
log_syslog_priority(enum log_level level)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG,
	                           LOG_DEBUG};
	return prio[level];
}

/* Peers choose some of what is logged (names, error texts): a control
 * character must not forge or split a line. */
static void
log_sanitize(char *msg)
{
	unsigned char *p;

	for (p = (unsigned char *)msg; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
		else if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
}

/* ---- taps ---- */

struct log_tap {
	uint64_t connid;
	enum log_level level;
	log_tap_fn *fn;
	void *arg;
};

static struct {
	struct log_tap *v;
	size_t n;
} log_taps;

int log_tap_max = -1;

static void
log_tap_recompute(void)
{
	size_t i;

	log_tap_max = -1;
	for (i = 0; i < log_taps.n; i++)
		if ((int)log_taps.v[i].level > log_tap_max)
			log_tap_max = (int)log_taps.v[i].level;
}

void
log_tap_add(uint64_t connid, enum log_level level, log_tap_fn *fn, void *arg)
{
	log_taps.v = xreallocarray(log_taps.v, log_taps.n + 1,
	                           sizeof(*log_taps.v));
	log_taps.v[log_taps.n++] = (struct log_tap){connid, level, fn, arg};
	log_tap_recompute();
}

void
log_tap_remove(uint64_t connid, log_tap_fn *fn, void *arg)
{
	size_t i;

	for (i = 0; i < log_taps.n; i++) {
		if (log_taps.v[i].connid == connid && log_taps.v[i].fn == fn &&
		    log_taps.v[i].arg == arg) {
			log_taps.v[i] = log_taps.v[--log_taps.n];
			break;
		}
	}
	if (log_taps.n == 0) {
		free(log_taps.v);
		log_taps.v = NULL;
	}
	log_tap_recompute();
}

/* Hand MSG to the taps of CONNID; true when the log itself wants it. */
static bool
log_to_taps(enum log_level level, enum log_sub sub, uint64_t connid,
            const char *msg)
{
	size_t i;

	for (i = 0; i < log_taps.n && connid != 0; i++)
		if (log_taps.v[i].connid == connid && level <= log_taps.v[i].level)
			log_taps.v[i].fn(log_taps.v[i].arg, level, sub, msg);
	return level <= log_levels[sub];
}

static void
log_vemit(enum log_level level, enum log_sub sub, uint64_t connid,
          const char *fmt, va_list ap)
{
	char msg[2048], id[17] = "-", stamp[40];
	struct timespec ts;
	struct tm tm;
	FILE *out;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_sanitize(msg);
	if (log_tap_max >= 0 && !log_to_taps(level, sub, connid, msg))
		return;
	if (connid != 0)
		snprintf(id, sizeof(id), "%016" PRIx64, connid);
	if (log_state.dest == LOG_DEST_SYSLOG) {
		syslog(log_syslog_priority(level), "%s %s %s %s",
		       log_level_name(level), log_sub_name(sub), id, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	out = log_state.dest == LOG_DEST_FILE ? log_state.file : stderr;
	fprintf(out, "%s.%03ldZ %-5s %-6s %s %s\n", stamp,
	        ts.tv_nsec / 1000000, log_level_name(level), log_sub_name(sub),
	        id, msg);
}

void
log_emit(enum log_level level, enum log_sub sub, uint64_t connid,
         const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, sub, connid, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	char msg[1024];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_emit(LOG_LEVEL_ERROR, LOG_SUB_CM, 0, "fatal: %s: %s", msg,
	         strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERROR, LOG_SUB_CM, 0, fmt, ap);
	va_end(ap);
	abort();
}
