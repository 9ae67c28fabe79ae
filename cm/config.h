/* config.h - s2sd.conf: an INI file read with libinih, driven by the table in
 * config_params.h, plus one [home NAME] section per home node (XEP-0114).
 *
 * A loaded config is immutable and refcounted: config_load() returns it with
 * one reference; config_unref() drops one and frees at zero. Strings returned
 * by accessors are borrowed from the config and valid while a reference is
 * held. Relative paths are resolved against the config file's directory.
 * Secret files are read at load time; their contents are only reachable
 * through config_secret() and are never printed. Errors are reported as
 * "FILE:LINE: message" lines, every error of the file (not just the first). */
#ifndef S2SD_CONFIG_H
#define S2SD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm/config_params.h"
#include "cm/util.h"

enum config_type {
	CONFIG_T_STR,      /* free text */
	CONFIG_T_PATH,     /* a path, made absolute */
	CONFIG_T_PATHS,    /* space-separated paths */
	CONFIG_T_LIST,     /* space-separated words */
	CONFIG_T_DOMAINS,  /* space-separated domains, normalised */
	CONFIG_T_ADDRS,    /* space-separated host:port, [v6]:port */
	CONFIG_T_BOOL,
	CONFIG_T_SIZE,     /* bytes: 512, 256k, 1m */
	CONFIG_T_DURATION, /* ms: 250ms, 30s, 5m, 1h, 1d */
	CONFIG_T_COUNT,
	CONFIG_T_ENUM,     /* one of the choices in the doc string */
	CONFIG_T_LEVEL,    /* log level name */
};

#define CONFIG_F_RESTART 0x1
#define CONFIG_F_SECRET 0x2

enum config_param {
#define CONFIG_PARAM_ENUM(id, sec, name, type, def, min, max, flags, doc)      \
	CONFIG_##id,
	CONFIG_PARAMS(CONFIG_PARAM_ENUM)
#undef CONFIG_PARAM_ENUM
	CONFIG_PARAM_COUNT
};

/* Values of federation.security, in the order of its choices. */
enum config_security {
	CONFIG_SECURITY_NONE,
	CONFIG_SECURITY_OPTIONAL,
	CONFIG_SECURITY_REQUIRED,
};

struct config;

/* Load PATH, then apply OVERRIDES ("section.name=value", NULL-terminated or
 * NULL) as if they were the last lines of the file. On success *OUT gets a
 * config with one reference. On failure returns S2SD_ECONFIG and appends one
 * "FILE:LINE: message\n" per problem to ERRORS. Warnings (not fatal) are
 * appended to WARNINGS when it is not NULL. */
int config_load(const char *path, const char *const *overrides,
                struct config **out, struct util_buf *errors,
                struct util_buf *warnings);
/* The value of one setting KEY ("section.name") as written in PATH (a
 * relative path made absolute), or its default, whatever errors the rest of
 * the file has: for s2sctl, to find the daemon of a file being fixed.
 * Returns 0, or -ENOENT when the file cannot be read (OUT gets the
 * default then). */
int config_peek(const char *path, const char *key, char *out, size_t len);
struct config *config_ref(struct config *cfg);
void config_unref(struct config *cfg);  /* NULL ok */

const char *config_path(const struct config *cfg);
/* Typed values. Durations are in ms, sizes in bytes. */
const char *config_str(const struct config *cfg, enum config_param p);
uint64_t config_num(const struct config *cfg, enum config_param p);
bool config_bool(const struct config *cfg, enum config_param p);
int config_enum(const struct config *cfg, enum config_param p);
/* List values; *N gets the count. The array is NULL-terminated. */
const char *const *config_list(const struct config *cfg, enum config_param p,
                               size_t *n);
/* Content of a CONFIG_F_SECRET file (trailing newline stripped); NULL when
 * unset. */
const char *config_secret(const struct config *cfg, enum config_param p);

/* Home nodes ([home NAME] sections), in file order. */
size_t config_home_count(const struct config *cfg);
const char *config_home_name(const struct config *cfg, size_t i);
const char *config_home_secret(const struct config *cfg, size_t i);

/* True when DOMAIN (normalised) is a local IM domain, email domain or alias. */
bool config_is_local_domain(const struct config *cfg, const char *domain);

/* Every setting as "section.name = value" lines (secrets shown as
 * "<secret from FILE>"), for `s2sd -n -v`. */
void config_dump(const struct config *cfg, struct util_buf *out);
/* Names of restart-only settings whose values differ; returns the count. */
int config_restart_changes(const struct config *old, const struct config *new_,
                           struct util_buf *names);
/* Name of a parameter as "section.name". */
const char *config_param_name(enum config_param p);

#endif
