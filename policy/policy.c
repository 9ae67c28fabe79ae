/* policy.c - federation policy parser and matcher; see policy.h. */
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/htab.h"
#include "cm/log.h"
#include "policy/policy_int.h"

#define POLICY_DIR_BITS(in, out) (((in) ? 1u : 0u) | ((out) ? 2u : 0u))

struct policy_rule {
	bool allow;
	unsigned dirs;                  /* bit POLICY_IN, bit POLICY_OUT */
	int line;
	char *text;                     /* normalised, for decisions */
	bool has_sec;
	struct policy_security sec;
};

/* All rules of one pattern ("example.com" or the suffix of "*.example.com"). */
struct policy_entry {
	struct policy_rule *slot[2];    /* deciding rule per direction */
	struct policy_rule *sec;        /* the rule carrying overrides */
};

struct policy {
	int refs;
	char *file;
	struct policy_rule deflt;
	bool has_default;
	struct htab *exact;
	struct htab *wild;
	struct policy_rule **rules;
	size_t nrules;
};

struct policy_parse {
	struct policy *p;
	const char *name;
	int line;
	struct util_buf *errors;
	int nerr;
	bool saw_default;       /* a default line, even a bad one */
};

static void policy_perror(struct policy_parse *pp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
policy_perror(struct policy_parse *pp, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (pp->line > 0)
		util_buf_printf(pp->errors, "%s:%d: %s\n", pp->name, pp->line,
		                msg);
	else
		util_buf_printf(pp->errors, "%s: %s\n", pp->name, msg);
	pp->nerr++;
}

const char *
policy_dir_name(enum policy_dir dir)
{
	return dir == POLICY_IN ? "in" : "out";
}

static void
policy_rule_free(struct policy_rule *r)
{
	free(r->text);
	free(r);
}

static void
policy_free(struct policy *p)
{
	size_t i;

	for (i = 0; i < p->nrules; i++)
		policy_rule_free(p->rules[i]);
	free(p->rules);
	htab_free(p->exact, free);
	htab_free(p->wild, free);
	free(p->deflt.text);
	free(p->file);
	free(p);
}

struct policy *
policy_ref(struct policy *p)
{
	p->refs++;
	return p;
}

void
policy_unref(struct policy *p)
{
	if (p == NULL)
		return;
	if (p->refs <= 0)
		fatalx("%s: refcount underflow", __func__);
	if (--p->refs == 0)
		policy_free(p);
}

size_t
policy_rule_count(const struct policy *p)
{
	return p->nrules;
}

static int
policy_parse_dir(const char *tok, unsigned *dirs)
{
	if (strcmp(tok, "in") == 0)
		*dirs = POLICY_DIR_BITS(1, 0);
	else if (strcmp(tok, "out") == 0)
		*dirs = POLICY_DIR_BITS(0, 1);
	else if (strcmp(tok, "both") == 0)
		*dirs = POLICY_DIR_BITS(1, 1);
	else
		return -EINVAL;
	return 0;
}

/* Put R into the entry of KEY in T; conflicts are errors. */
static void
policy_insert(struct policy_parse *pp, struct htab *t, const char *key,
              struct policy_rule *r)
{
	struct policy_entry *e = htab_get(t, key);
	int d;

	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		htab_put(t, key, e);
	}
	for (d = POLICY_IN; d <= POLICY_OUT; d++) {
		if (!(r->dirs & (1u << d)))
			continue;
		if (e->slot[d] != NULL) {
			policy_perror(pp, "'%s' conflicts with line %d for "
			              "direction %s", r->text, e->slot[d]->line,
			              policy_dir_name(d));
			continue;
		}
		e->slot[d] = r;
	}
	if (r->has_sec) {
		if (e->sec != NULL)
			policy_perror(pp, "overrides for this pattern are "
			              "already set on line %d", e->sec->line);
		else
			e->sec = r;
	}
}

static void
policy_rule_text(struct policy_rule *r, const char *pattern, bool wildcard)
{
	static const char *const dirnames[] = {"", "in", "out", "both"};

	r->text = xasprintf("%s %s%s %s", r->allow ? "allow" : "deny",
	                    wildcard ? "*." : "", pattern, dirnames[r->dirs]);
}

static void
policy_add_rule(struct policy_parse *pp, bool allow, char **tok, int ntok)
{
	struct policy_rule *r = xcalloc(1, sizeof(*r));
	const char *pat = tok[0];
	bool wildcard = strncmp(pat, "*.", 2) == 0;
	char dom[1024], why[256];
	int i = 1;

	r->allow = allow;
	r->line = pp->line;
	r->sec = (struct policy_security){-1, -1, -1, NULL, 0};
	r->dirs = POLICY_DIR_BITS(1, 1);
	if (ntok > 1 && strchr(tok[1], '=') == NULL) {
		if (policy_parse_dir(tok[1], &r->dirs) < 0) {
			policy_perror(pp, "unknown direction '%s' (in, out or "
			              "both)", tok[1]);
			policy_rule_free(r);
			return;
		}
		i = 2;
	}
	if (policy__domain_norm(wildcard ? pat + 2 : pat, dom, sizeof(dom),
	                        why, sizeof(why)) < 0) {
		policy_perror(pp, "bad pattern '%s': %s", pat, why);
		policy_rule_free(r);
		return;
	}
	for (; i < ntok; i++)
		if (policy__parse_attr(tok[i], &r->sec, why, sizeof(why)) < 0)
			policy_perror(pp, "%s", why);
		else
			r->has_sec = true;
	r->sec.file = pp->p->file;
	r->sec.line = pp->line;
	policy_rule_text(r, dom, wildcard);
	pp->p->rules = xreallocarray(pp->p->rules, pp->p->nrules + 1,
	                             sizeof(*pp->p->rules));
	pp->p->rules[pp->p->nrules++] = r;
	policy_insert(pp, wildcard ? pp->p->wild : pp->p->exact, dom, r);
}

static void
policy_set_default(struct policy_parse *pp, char **tok, int ntok)
{
	struct policy *p = pp->p;

	pp->saw_default = true;
	if (ntok != 1 || (strcmp(tok[0], "allow") != 0 &&
	                  strcmp(tok[0], "deny") != 0)) {
		policy_perror(pp, "expected 'default allow' or 'default deny'");
		return;
	}
	if (p->has_default) {
		policy_perror(pp, "default already set on line %d",
		              p->deflt.line);
		return;
	}
	p->has_default = true;
	p->deflt.allow = strcmp(tok[0], "allow") == 0;
	p->deflt.line = pp->line;
	p->deflt.dirs = POLICY_DIR_BITS(1, 1);
	p->deflt.text = xasprintf("default %s", tok[0]);
}

#define POLICY_MAX_TOKENS 16

static void
policy_parse_line(struct policy_parse *pp, char *line)
{
	char *tok[POLICY_MAX_TOKENS], *save = NULL, *t;
	int ntok = 0;

	line[strcspn(line, "#")] = '\0';
	for (t = strtok_r(line, " \t\r", &save); t != NULL;
	     t = strtok_r(NULL, " \t\r", &save)) {
		if (ntok == POLICY_MAX_TOKENS) {
			policy_perror(pp, "too many words");
			return;
		}
		tok[ntok++] = t;
	}
	if (ntok == 0)
		return;
	if (strcmp(tok[0], "default") == 0)
		policy_set_default(pp, tok + 1, ntok - 1);
	else if (strcmp(tok[0], "allow") == 0 || strcmp(tok[0], "deny") == 0) {
		if (ntok < 2)
			policy_perror(pp, "'%s' needs a domain pattern", tok[0]);
		else
			policy_add_rule(pp, tok[0][0] == 'a', tok + 1, ntok - 1);
	} else {
		policy_perror(pp, "unknown keyword '%s' (expected default, "
		              "allow or deny)", tok[0]);
	}
}

int
policy_parse(const char *name, const char *text, struct policy **out,
             struct util_buf *errors)
{
	struct policy_parse pp = {0};
	char *copy = xstrdup(text), *line, *next;

	pp.p = xcalloc(1, sizeof(*pp.p));
	pp.p->refs = 1;
	pp.p->file = xstrdup(name);
	pp.p->exact = htab_new(64);
	pp.p->wild = htab_new(64);
	pp.name = name;
	pp.errors = errors;
	for (line = copy; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		pp.line++;
		policy_parse_line(&pp, line);
	}
	free(copy);
	pp.line = 0;
	if (!pp.saw_default)
		policy_perror(&pp, "no 'default allow' or 'default deny' line");
	if (pp.nerr > 0) {
		policy_unref(pp.p);
		return S2SD_ECONFIG;
	}
	*out = pp.p;
	return 0;
}

int
policy_load(const char *path, struct policy **out, struct util_buf *errors)
{
	struct util_buf text = {0};
	int rc;

	if ((rc = util_read_file(path, &text)) < 0) {
		util_buf_printf(errors, "%s: cannot open: %s\n", path,
		                strerror(-rc));
		util_buf_free(&text);
		return S2SD_ECONFIG;
	}
	rc = policy_parse(path, text.data, out, errors);
	util_buf_free(&text);
	return rc;
}

static void
policy_decide(const struct policy *p, const struct policy_rule *r,
              struct policy_decision *out)
{
	out->allow = r->allow;
	out->file = p->file;
	out->line = r->line;
	out->rule = r->text;
}

/* Walk the candidates most specific first: the exact domain, then the
 * wildcard on the domain itself and on each parent. FN picks from an entry;
 * returns the first entry it accepts. */
static const struct policy_entry *
policy_walk(const struct policy *p, const char *domain,
            bool (*fn)(const struct policy_entry *, int), int arg)
{
	const struct policy_entry *e;
	const char *s;

	e = htab_get(p->exact, domain);
	if (e != NULL && fn(e, arg))
		return e;
	for (s = domain;; s++) {
		e = htab_get(p->wild, s);
		if (e != NULL && fn(e, arg))
			return e;
		if ((s = strchr(s, '.')) == NULL)
			return NULL;
	}
}

static bool
policy_has_dir(const struct policy_entry *e, int dir)
{
	return e->slot[dir] != NULL;
}

static bool
policy_has_sec(const struct policy_entry *e, int unused)
{
	(void)unused;
	return e->sec != NULL;
}

void
policy_check(const struct policy *p, const char *domain, enum policy_dir dir,
             struct policy_decision *out)
{
	const struct policy_entry *e = policy_walk(p, domain, policy_has_dir,
	                                           (int)dir);

	policy_decide(p, e != NULL ? e->slot[dir] : &p->deflt, out);
}

void
policy_security(const struct policy *p, const char *domain,
                struct policy_security *out)
{
	const struct policy_entry *e = policy_walk(p, domain, policy_has_sec,
	                                           0);

	if (e != NULL) {
		*out = e->sec->sec;
		return;
	}
	*out = (struct policy_security){-1, -1, -1, NULL, 0};
}
