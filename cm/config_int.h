/* config_int.h - shared between config.c (file, accessors) and
 * config_value.c (value parsing, checks). Not for other modules. */
#ifndef S2SD_CONFIG_INT_H
#define S2SD_CONFIG_INT_H

#include <stdarg.h>

#include "cm/config.h"

struct config_def {
	const char *section;
	const char *name;
	const char *key;        /* "section.name" */
	enum config_type type;
	const char *def;
	uint64_t min, max;      /* numbers; for CONFIG_T_ADDRS min = default port */
	int flags;
	const char *doc;
};

struct config_value {
	bool set;               /* given in the file or an override */
	int line;
	char *text;             /* normalised text of the value */
	uint64_t num;
	bool b;
	int e;
	char **list;            /* NULL-terminated */
	size_t nlist;
	char *secret;           /* CONFIG_F_SECRET file content */
};

struct config_home {
	char *name;
	char *secret_file;
	char *secret;
	int line;
};

struct config {
	int refs;
	char *path;
	char *dir;              /* for relative paths */
	struct config_value v[CONFIG_PARAM_COUNT];
	struct config_home *homes;
	size_t nhomes;
};

struct config_parse {
	struct config *cfg;
	const char *file;
	int line;               /* 0: not from a file line */
	struct util_buf *errors;
	struct util_buf *warnings;
	const char *input;
	size_t pos;
	int seen[CONFIG_PARAM_COUNT];   /* line of first setting */
	int nerr;
	int last_error_line;
};

extern const struct config_def config__defs[CONFIG_PARAM_COUNT];

void config__error(struct config_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void config__warn(struct config_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void config__vappend(struct util_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
bool config__line_reported(const struct config_parse *p, int line);
bool config__type_is_list(enum config_type t);
/* Parse VALUE into CFG->v[ID] (replacing, or appending for lists). Returns 0,
 * or -EINVAL with WHY filled. */
int config__value_parse(struct config *cfg, int id, const char *value,
                        bool append, char *why, size_t whylen);
void config__value_free(struct config_value *v);
void config__home_set(struct config_parse *p, const char *home,
                      const char *name, const char *value);
/* Cross-setting checks and secret files, after defaults are applied. */
void config__validate(struct config_parse *p);

#endif
