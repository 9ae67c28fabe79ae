/* config.c - s2sd.conf parsing and checks; see config.h. */
#include "cm/config.h"

#include <errno.h>
#include <stdarg.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cm/config_int.h"
#include "cm/err.h"
#include "cm/log.h"

const struct config_def config__defs[CONFIG_PARAM_COUNT] = {
#define CONFIG_PARAM_ROW(id, sec, nm, ty, def, mn, mx, fl, dc)                 \
	{sec, nm, sec "." nm, ty, def, mn, mx, fl, dc},
    CONFIG_PARAMS(CONFIG_PARAM_ROW)
#undef CONFIG_PARAM_ROW
};

static void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < CONFIG_PARAM_COUNT; i++)
		config__value_free(&cfg->v[i]);
	for (i = 0; i < cfg->nhomes; i++) {
		free(cfg->homes[i].name);
		free(cfg->homes[i].secret_file);
		free(cfg->homes[i].secret);
	}
	free(cfg->homes);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

struct config *
config_ref(struct config *cfg)
{
	cfg->refs++;
	return cfg;
}

void
config_unref(struct config *cfg)
{
	if (cfg == NULL)
		return;
	if (cfg->refs <= 0)
		fatalx("%s: refcount underflow", __func__);
	if (--cfg->refs == 0)
		config_free(cfg);
}

/* The ini reader: one line per call, counting lines for messages. Lines
 * longer than inih's buffer are refused rather than silently cut. */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	const char *start = p->input + p->pos, *nl;
	size_t len;

	if (*start == '\0')
		return NULL;
	nl = strchr(start, '\n');
	len = nl != NULL ? (size_t)(nl - start) + 1 : strlen(start);
	p->pos += len;
	p->line++;
	if (len >= (size_t)num - 1) {
		config__error(p, "line longer than %d characters (continue long "
		             "lists with 'name += more')", num - 2);
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	memcpy(str, start, len);
	str[len] = '\0';
	return str;
}

void
config__error(struct config_parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->line > 0)
		util_buf_printf(p->errors, "%s:%d: ", p->file, p->line);
	else
		util_buf_printf(p->errors, "%s: ", p->file);
	va_start(ap, fmt);
	config__vappend(p->errors, fmt, ap);
	va_end(ap);
	util_buf_puts(p->errors, "\n");
	p->nerr++;
	p->last_error_line = p->line;
}

void
config__warn(struct config_parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->warnings == NULL)
		return;
	util_buf_printf(p->warnings, "%s: warning: ", p->file);
	va_start(ap, fmt);
	config__vappend(p->warnings, fmt, ap);
	va_end(ap);
	util_buf_puts(p->warnings, "\n");
}

static int
config_find(const char *section, const char *name)
{
	int i;

	for (i = 0; i < CONFIG_PARAM_COUNT; i++)
		if (strcmp(config__defs[i].section, section) == 0 &&
		    strcmp(config__defs[i].name, name) == 0)
			return i;
	return -1;
}

/* "name +" (list continuation) -> "name", *APPEND = true. */
static void
config_split_append(const char *name, char *out, size_t outlen, bool *append)
{
	size_t len = strlen(name);

	*append = false;
	if (len > 0 && name[len - 1] == '+') {
		*append = true;
		len--;
		while (len > 0 && name[len - 1] == ' ')
			len--;
	}
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, name, len);
	out[len] = '\0';
}

static void
config_set(struct config_parse *p, const char *section, const char *rawname,
           const char *value)
{
	char name[128], why[256];
	bool append;
	int id;

	config_split_append(rawname, name, sizeof(name), &append);
	if ((id = config_find(section, name)) < 0) {
		config__error(p, "unknown setting '%s' in section [%s]", name,
		             section);
		return;
	}
	if (append && !config__type_is_list(config__defs[id].type)) {
		config__error(p, "'%s +=' is only for lists", config__defs[id].key);
		return;
	}
	if (!append && p->line > 0 && p->seen[id] != 0) {
		config__error(p, "duplicate setting %s (first set on line %d)",
		             config__defs[id].key, p->seen[id]);
		return;
	}
	if (config__value_parse(p->cfg, id, value, append, why, sizeof(why)) <
	    0) {
		config__error(p, "%s: %s", config__defs[id].key, why);
		return;
	}
	if (p->line > 0 && !append)
		p->seen[id] = p->line;
	p->cfg->v[id].line = p->line;
}

static int
config_handler(void *user, const char *section, const char *name,
               const char *value)
{
	struct config_parse *p = user;

	if (strncmp(section, "home ", 5) == 0)
		config__home_set(p, section + 5, name, value);
	else
		config_set(p, section, name, value);
	return 1;   /* keep going: report every error, not just the first */
}

static void
config_apply_override(struct config_parse *p, const char *ov)
{
	char section[64], name[128];
	const char *dot = strchr(ov, '.'), *eq = strchr(ov, '=');

	if (dot == NULL || eq == NULL || dot > eq ||
	    (size_t)(dot - ov) >= sizeof(section) ||
	    (size_t)(eq - dot - 1) >= sizeof(name)) {
		config__error(p, "override '%s' is not section.name=value", ov);
		return;
	}
	memcpy(section, ov, (size_t)(dot - ov));
	section[dot - ov] = '\0';
	memcpy(name, dot + 1, (size_t)(eq - dot - 1));
	name[eq - dot - 1] = '\0';
	config_set(p, section, name, eq + 1);
}

static void
config_apply_defaults(struct config *cfg)
{
	char why[256];
	int i;

	for (i = 0; i < CONFIG_PARAM_COUNT; i++) {
		if (cfg->v[i].set)
			continue;
		if (config__value_parse(cfg, i, config__defs[i].def, false, why,
		                       sizeof(why)) < 0)
			fatalx("%s: default of %s: %s", __func__,
			       config__defs[i].key, why);
		cfg->v[i].set = false;  /* still "not set by the admin" */
	}
}

static char *
config_read_file(const char *path, struct util_buf *errors)
{
	struct util_buf b = {0};
	int rc;

	if ((rc = util_read_file(path, &b)) < 0) {
		util_buf_printf(errors, "%s: cannot open: %s\n", path,
		                strerror(-rc));
		util_buf_free(&b);
		return NULL;
	}
	return util_buf_steal(&b, NULL);
}

static struct config *
config_new(const char *path)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	char *slash;

	cfg->refs = 1;
	cfg->path = xstrdup(path);
	cfg->dir = xstrdup(path);
	if ((slash = strrchr(cfg->dir, '/')) != NULL)
		slash[slash == cfg->dir ? 1 : 0] = '\0';
	else
		strcpy(cfg->dir, ".");
	return cfg;
}

int
config_load(const char *path, const char *const *overrides,
            struct config **out, struct util_buf *errors,
            struct util_buf *warnings)
{
	struct config_parse p = {0};
	char *text;
	int rc;

	if ((text = config_read_file(path, errors)) == NULL)
		return S2SD_ECONFIG;
	p.cfg = config_new(path);
	p.file = path;
	p.errors = errors;
	p.warnings = warnings;
	p.input = text;
	ini_allow_multiline = false;
	rc = ini_parse_stream(config_reader, &p, config_handler, &p);
	if (rc > 0 && !config__line_reported(&p, rc)) {
		p.line = rc;
		config__error(&p, "syntax error (expected [section] or "
		             "name = value)");
	}
	free(text);
	p.line = 0;
	p.file = "command line";
	for (; overrides != NULL && *overrides != NULL; overrides++)
		config_apply_override(&p, *overrides);
	p.file = path;
	config_apply_defaults(p.cfg);
	if (p.nerr == 0)
		config__validate(&p);
	if (p.nerr > 0) {
		config_unref(p.cfg);
		return S2SD_ECONFIG;
	}
	*out = p.cfg;
	return 0;
}

struct config_peek {
	const char *section, *name;
	char *out;
	size_t len;
	bool found;
};

static int
config_peek_handler(void *user, const char *section, const char *name,
                    const char *value)
{
	struct config_peek *pk = user;

	if (strcmp(section, pk->section) == 0 && strcmp(name, pk->name) == 0) {
		snprintf(pk->out, pk->len, "%s", value);
		pk->found = true;
	}
	return 1;
}

int
config_peek(const char *path, const char *key, char *out, size_t len)
{
	char section[64], *dot = strchr(key, '.'), *dir, *slash;
	struct config_peek pk = {section, dot + 1, out, len, false};
	int id;

	snprintf(section, sizeof(section), "%.*s", (int)(dot - key), key);
	for (id = 0; id < CONFIG_PARAM_COUNT; id++)
		if (strcmp(config__defs[id].key, key) == 0)
			snprintf(out, len, "%s", config__defs[id].def);
	if (ini_parse(path, config_peek_handler, &pk) < 0)
		return -ENOENT;
	if (pk.found && out[0] != '/' && out[0] != '\0' &&
	    (slash = strrchr(path, '/')) != NULL) {
		dir = xstrndup(path, (size_t)(slash - path));
		dot = xasprintf("%s/%s", dir, out);
		snprintf(out, len, "%s", dot);
		free(dot);
		free(dir);
	}
	return 0;
}

const char *
config_path(const struct config *cfg)
{
	return cfg->path;
}

const char *
config_param_name(enum config_param p)
{
	return config__defs[p].key;
}

const char *
config_str(const struct config *cfg, enum config_param p)
{
	return cfg->v[p].text != NULL ? cfg->v[p].text : "";
}

uint64_t
config_num(const struct config *cfg, enum config_param p)
{
	return cfg->v[p].num;
}

bool
config_bool(const struct config *cfg, enum config_param p)
{
	return cfg->v[p].b;
}

int
config_enum(const struct config *cfg, enum config_param p)
{
	return cfg->v[p].e;
}

const char *const *
config_list(const struct config *cfg, enum config_param p, size_t *n)
{
	if (n != NULL)
		*n = cfg->v[p].nlist;
	return (const char *const *)cfg->v[p].list;
}

const char *
config_secret(const struct config *cfg, enum config_param p)
{
	return cfg->v[p].secret;
}

size_t
config_home_count(const struct config *cfg)
{
	return cfg->nhomes;
}

const char *
config_home_name(const struct config *cfg, size_t i)
{
	return cfg->homes[i].name;
}

const char *
config_home_secret(const struct config *cfg, size_t i)
{
	return cfg->homes[i].secret;
}

bool
config_is_local_domain(const struct config *cfg, const char *domain)
{
	static const enum config_param lists[] = {
	    CONFIG_DOMAINS_IM, CONFIG_DOMAINS_EMAIL, CONFIG_DOMAINS_ALIASES};
	size_t i, j;

	for (i = 0; i < UTIL_ARRAY_LEN(lists); i++)
		for (j = 0; j < cfg->v[lists[i]].nlist; j++)
			if (strcmp(cfg->v[lists[i]].list[j], domain) == 0)
				return true;
	return false;
}

void
config_dump(const struct config *cfg, struct util_buf *out)
{
	const struct config_value *v;
	size_t i;
	int id;

	for (id = 0; id < CONFIG_PARAM_COUNT; id++) {
		v = &cfg->v[id];
		util_buf_printf(out, "%s = %s", config__defs[id].key,
		                v->text != NULL ? v->text : "");
		if (v->secret != NULL)
			util_buf_puts(out, "  (secret loaded, not shown)");
		util_buf_puts(out, "\n");
	}
	for (i = 0; i < cfg->nhomes; i++)
		util_buf_printf(out, "home %s secret_file = %s  (secret loaded, "
		                "not shown)\n", cfg->homes[i].name,
		                cfg->homes[i].secret_file);
}

int
config_restart_changes(const struct config *old, const struct config *new_,
                       struct util_buf *names)
{
	int id, n = 0;

	for (id = 0; id < CONFIG_PARAM_COUNT; id++) {
		if (!(config__defs[id].flags & CONFIG_F_RESTART))
			continue;
		if (strcmp(config_str(old, id), config_str(new_, id)) == 0)
			continue;
		util_buf_printf(names, "%s%s", n > 0 ? " " : "",
		                config__defs[id].key);
		n++;
	}
	return n;
}
