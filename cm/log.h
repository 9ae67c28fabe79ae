/* log.h - one line per event: time, level, subsystem, connection id, message.
 *
 * Each subsystem has its own level, so the federation (s2s) log can be turned
 * to debug or trace at run time while the rest stays at info. The level is
 * checked before anything is formatted. Output goes to stderr (the default,
 * and under systemd), a file (reopened on SIGUSR1 for logrotate) or syslog.
 * Messages are "event key=value ..."; callers never pass secrets (dialback
 * secret, component secrets, keys) or stanza bodies below trace. Not
 * thread-safe: s2sd is one loop. */
#ifndef S2SD_LOG_H
#define S2SD_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_TRACE,
};

enum log_sub {
	LOG_SUB_CM,     /* daemon: config, lifecycle, control */
	LOG_SUB_DNS,
	LOG_SUB_TLS,
	LOG_SUB_XML,
	LOG_SUB_S2S,
	LOG_SUB_ROUTER,
	LOG_SUB_POLICY,
	LOG_SUB_COUNT,
};

enum log_dest { LOG_DEST_STDERR, LOG_DEST_FILE, LOG_DEST_SYSLOG };

/* Current level per subsystem; read through log_wants(). */
extern enum log_level log_levels[LOG_SUB_COUNT];
/* The most detailed level any tap wants (-1: no tap). */
extern int log_tap_max;

static inline bool
log_wants(enum log_level level, enum log_sub sub)
{
	return level <= log_levels[sub] || (int)level <= log_tap_max;
}

/* A tap gets every line logged with connection id CONNID at LEVEL or more
 * important, whatever the subsystem levels are (s2sctl test collects a
 * transcript this way); the log itself still gets only what its levels
 * allow. MSG is the formatted message, valid during the call. While a tap
 * exists, lines up to its level are formatted for every connection. */
typedef void log_tap_fn(void *arg, enum log_level level, enum log_sub sub,
                        const char *msg);
void log_tap_add(uint64_t connid, enum log_level level, log_tap_fn *fn,
                 void *arg);
void log_tap_remove(uint64_t connid, log_tap_fn *fn, void *arg);

/* Send output to DEST (PATH only for LOG_DEST_FILE; copied). Returns 0 or
 * -errno; on error the previous destination stays in use. */
int log_open(enum log_dest dest, const char *path, const char *ident);
/* Reopen the log file (SIGUSR1). Returns 0 or -errno (old file kept). */
int log_reopen(void);
/* Flush and close the current destination; back to stderr. */
void log_close(void);
/* Set SUB's level; SUB < 0 sets every subsystem. */
void log_set_level(int sub, enum log_level level);

const char *log_level_name(enum log_level level);
const char *log_sub_name(enum log_sub sub);
/* Parse a level ("error".."trace") or subsystem name; -1 when unknown. */
int log_level_parse(const char *name);
int log_sub_parse(const char *name);

/* Write one line; CONNID 0 prints as "-". Use the macros below instead. */
void log_emit(enum log_level level, enum log_sub sub, uint64_t connid,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_at(level, sub, connid, ...)                                        \
	do {                                                                   \
		if (log_wants((level), (sub)))                                 \
			log_emit((level), (sub), (connid), __VA_ARGS__);       \
	} while (0)
#define log_error(sub, id, ...) log_at(LOG_LEVEL_ERROR, sub, id, __VA_ARGS__)
#define log_warnx(sub, id, ...) log_at(LOG_LEVEL_WARN, sub, id, __VA_ARGS__)
#define log_info(sub, id, ...) log_at(LOG_LEVEL_INFO, sub, id, __VA_ARGS__)
#define log_debug(sub, id, ...) log_at(LOG_LEVEL_DEBUG, sub, id, __VA_ARGS__)
#define log_trace(sub, id, ...) log_at(LOG_LEVEL_TRACE, sub, id, __VA_ARGS__)

/* Log at error level and exit(1): fatal() appends strerror(errno). fatalx()
 * is for broken invariants: it aborts so that a core is left. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
