/* config_value.c - typed values, home node sections, cross-setting checks and
 * secret files for config.c; see config_int.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cm/config_int.h"
#include "cm/err.h"
#include "cm/log.h"
#include "xmpp/jid.h"

void
config__vappend(struct util_buf *b, const char *fmt, va_list ap)
{
	char tmp[1024];

	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	util_buf_puts(b, tmp);
}

bool
config__line_reported(const struct config_parse *p, int line)
{
	return p->last_error_line == line;
}

bool
config__type_is_list(enum config_type t)
{
	return t == CONFIG_T_PATHS || t == CONFIG_T_LIST ||
	       t == CONFIG_T_DOMAINS || t == CONFIG_T_ADDRS;
}

static char *
config_abspath(const struct config *cfg, const char *value)
{
	if (value[0] == '\0' || value[0] == '/')
		return xstrdup(value);
	return xasprintf("%s/%s", cfg->dir, value);
}

/* A domain as written in the config, prepared as JIDs prepare domains
 * (case-folded, IDNA, trailing dot removed), so that it compares equal to the
 * domain of any JID. */
static int
config_domain_norm(const char *in, char **out, char *why, size_t whylen)
{
	char dom[JID_PART_MAX + 1], reason[200];

	if (jid_domain_prep(in, dom, sizeof(dom), reason, sizeof(reason)) < 0) {
		snprintf(why, whylen, "'%s' is not a valid domain: %s", in,
		         reason);
		return -EINVAL;
	}
	*out = xstrdup(dom);
	return 0;
}

static int
config_addr_norm(const char *in, int defport, char **out, char *why,
                 size_t whylen)
{
	char host[256];
	int port;

	if (util_parse_hostport(in, defport, host, sizeof(host), &port) < 0) {
		snprintf(why, whylen, "'%s' is not host:port or [ipv6]:port",
		         in);
		return -EINVAL;
	}
	if (strchr(host, ':') != NULL)
		*out = xasprintf("[%s]:%d", host, port);
	else
		*out = xasprintf("%s:%d", host, port);
	return 0;
}

static int
config_item_norm(const struct config *cfg, const struct config_def *d,
                 const char *word, char **out, char *why, size_t whylen)
{
	switch (d->type) {
	case CONFIG_T_PATHS:
		*out = config_abspath(cfg, word);
		return 0;
	case CONFIG_T_DOMAINS:
		return config_domain_norm(word, out, why, whylen);
	case CONFIG_T_ADDRS:
		return config_addr_norm(word, (int)d->min, out, why, whylen);
	default:
		*out = xstrdup(word);
		return 0;
	}
}

static void
config_list_add(struct config_value *v, char *item)
{
	v->list = xreallocarray(v->list, v->nlist + 2, sizeof(char *));
	v->list[v->nlist++] = item;
	v->list[v->nlist] = NULL;
}

static void
config_list_text(struct config_value *v)
{
	struct util_buf b = {0};
	size_t i;

	for (i = 0; i < v->nlist; i++)
		util_buf_printf(&b, "%s%s", i > 0 ? " " : "", v->list[i]);
	free(v->text);
	v->text = util_buf_steal(&b, NULL);
}

static int
config_parse_list(struct config *cfg, int id, const char *value, bool append,
                  char *why, size_t whylen)
{
	const struct config_def *d = &config__defs[id];
	struct config_value nv = {0};
	char *copy = xstrdup(value), *save = NULL, *w, *item;
	size_t i;

	if (append)
		for (i = 0; i < cfg->v[id].nlist; i++)
			config_list_add(&nv, xstrdup(cfg->v[id].list[i]));
	for (w = strtok_r(copy, " \t,", &save); w != NULL;
	     w = strtok_r(NULL, " \t,", &save)) {
		if (config_item_norm(cfg, d, w, &item, why, whylen) < 0) {
			free(copy);
			config__value_free(&nv);
			return -EINVAL;
		}
		config_list_add(&nv, item);
	}
	free(copy);
	if (nv.list == NULL)
		nv.list = xcalloc(1, sizeof(char *));  /* empty, terminated */
	config__value_free(&cfg->v[id]);
	cfg->v[id] = nv;
	config_list_text(&cfg->v[id]);
	return 0;
}

static int
config_parse_enum(const struct config_def *d, const char *value, int *out,
                  char *why, size_t whylen)
{
	const char *c = d->doc, *end = strchr(d->doc, ':');
	size_t len, vlen = strlen(value);
	int i = 0;

	while (c < end) {
		len = strcspn(c, "|:");
		if (len == vlen && strncmp(c, value, len) == 0) {
			*out = i;
			return 0;
		}
		c += len + 1;
		i++;
	}
	snprintf(why, whylen, "'%s' is not one of %.*s", value,
	         (int)(end - d->doc), d->doc);
	return -EINVAL;
}

static int
config_parse_number(const struct config_def *d, const char *value,
                    uint64_t *out, char *why, size_t whylen)
{
	int rc;

	if (d->type == CONFIG_T_SIZE)
		rc = util_parse_size(value, out);
	else if (d->type == CONFIG_T_DURATION)
		rc = util_parse_duration_ms(value, out);
	else
		rc = util_parse_size(value, out) < 0 || !isdigit(
		         (unsigned char)value[strlen(value) - 1]) ? -EINVAL : 0;
	if (rc < 0) {
		snprintf(why, whylen, "'%s' is not a valid %s", value,
		         d->type == CONFIG_T_SIZE       ? "size (e.g. 512k)"
		         : d->type == CONFIG_T_DURATION ? "duration (e.g. 30s)"
		                                        : "number");
		return -EINVAL;
	}
	if (*out < d->min || (d->max != 0 && *out > d->max)) {
		snprintf(why, whylen, "%s is out of range", value);
		return -ERANGE;
	}
	return 0;
}

void
config__value_free(struct config_value *v)
{
	size_t i;

	free(v->text);
	for (i = 0; i < v->nlist; i++)
		free(v->list[i]);
	free(v->list);
	free(v->secret);
	memset(v, 0, sizeof(*v));
}

static int
config_parse_scalar(struct config *cfg, int id, const char *value, char *why,
                    size_t whylen)
{
	const struct config_def *d = &config__defs[id];
	struct config_value *v = &cfg->v[id];
	int lvl;

	switch (d->type) {
	case CONFIG_T_BOOL:
		if (util_parse_bool(value, &v->b) < 0) {
			snprintf(why, whylen, "'%s' is not yes or no", value);
			return -EINVAL;
		}
		break;
	case CONFIG_T_SIZE:
	case CONFIG_T_DURATION:
	case CONFIG_T_COUNT:
		if (config_parse_number(d, value, &v->num, why, whylen) < 0)
			return -EINVAL;
		break;
	case CONFIG_T_ENUM:
		if (config_parse_enum(d, value, &v->e, why, whylen) < 0)
			return -EINVAL;
		break;
	case CONFIG_T_LEVEL:
		if ((lvl = log_level_parse(value)) < 0) {
			snprintf(why, whylen, "'%s' is not a log level (error, "
			         "warn, info, debug, trace)", value);
			return -EINVAL;
		}
		v->e = lvl;
		break;
	default:
		break;
	}
	free(v->text);
	v->text = d->type == CONFIG_T_PATH ? config_abspath(cfg, value)
	                                   : xstrdup(value);
	return 0;
}

int
config__value_parse(struct config *cfg, int id, const char *value,
                    bool append, char *why, size_t whylen)
{
	int rc;

	if (config__type_is_list(config__defs[id].type))
		rc = config_parse_list(cfg, id, value, append, why, whylen);
	else
		rc = config_parse_scalar(cfg, id, value, why, whylen);
	if (rc == 0)
		cfg->v[id].set = true;
	return rc;
}

void
config__home_set(struct config_parse *p, const char *home, const char *name,
                 const char *value)
{
	struct config *cfg = p->cfg;
	struct config_home *h = NULL;
	size_t i;

	for (i = 0; i < cfg->nhomes; i++)
		if (strcmp(cfg->homes[i].name, home) == 0)
			h = &cfg->homes[i];
	if (strcmp(name, "secret_file") != 0) {
		config__error(p, "unknown setting '%s' in section [home %s]",
		              name, home);
		return;
	}
	if (h == NULL) {
		cfg->homes = xreallocarray(cfg->homes, cfg->nhomes + 1,
		                           sizeof(*cfg->homes));
		h = &cfg->homes[cfg->nhomes++];
		memset(h, 0, sizeof(*h));
		h->name = xstrdup(home);
	} else if (h->secret_file != NULL) {
		config__error(p, "duplicate setting secret_file for home node "
		              "'%s' (first set on line %d)", home, h->line);
		return;
	}
	h->secret_file = config_abspath(cfg, value);
	h->line = p->line;
}
