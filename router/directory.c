/* directory.c - directory file parser and lookups; see directory.h. */
#include "router/directory.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/htab.h"
#include "cm/log.h"
#include "xmpp/jid.h"

#define DIRECTORY_MAX_WORDS 8
#define DIRECTORY_NODE_MAX 255
/* "node@domain" of two prepared parts, with room for the '@' and NUL. */
#define DIRECTORY_KEY_MAX (2 * JID_PART_MAX + 2)

/* One line that maps an address. */
struct directory_entry {
	char *key;              /* prepared "user@domain" or "domain" */
	char *node;             /* NULL: a user on the domain default */
	char *email;            /* prepared email address, or NULL */
	int line;
	bool user;
};

struct directory {
	int refs;
	char *file;
	struct htab *users;     /* bare JID -> entry */
	struct htab *domains;   /* domain -> entry */
	struct htab *emails;    /* email address -> the user's entry */
	struct directory_entry **entries;
	size_t nentries;
};

struct directory_parse {
	struct directory *d;
	const char *name;
	int line;
	struct util_buf *errors;
	int nerr;
};

static void directory_perror(struct directory_parse *pp, int line,
                             const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
directory_perror(struct directory_parse *pp, int line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	util_buf_printf(pp->errors, "%s:%d: %s\n", pp->name, line, msg);
	pp->nerr++;
}

static void
directory_entry_free(struct directory_entry *e)
{
	free(e->key);
	free(e->node);
	free(e->email);
	free(e);
}

static void
directory_free(struct directory *d)
{
	size_t i;

	for (i = 0; i < d->nentries; i++)
		directory_entry_free(d->entries[i]);
	free(d->entries);
	htab_free(d->users, NULL);
	htab_free(d->domains, NULL);
	htab_free(d->emails, NULL);
	free(d->file);
	free(d);
}

struct directory *
directory_ref(struct directory *d)
{
	d->refs++;
	return d;
}

void
directory_unref(struct directory *d)
{
	if (d == NULL)
		return;
	if (d->refs <= 0)
		fatalx("%s: refcount underflow", __func__);
	if (--d->refs == 0)
		directory_free(d);
}

/* Prepare WORD as a bare address: "user@domain" (USER true) or "domain".
 * Returns the prepared key (owned) or NULL with WHY filled. */
static char *
directory_prep_addr(const char *word, bool *user, char *why, size_t whylen)
{
	struct jid *j = NULL, *bare;
	char *key;

	if (jid_parse(word, strlen(word), &j, why, whylen) < 0)
		return NULL;
	if (jid_resource(j) != NULL) {
		snprintf(why, whylen, "a resource is not allowed here");
		jid_free(j);
		return NULL;
	}
	bare = jid_bare(j);
	key = xstrdup(jid_str(bare, NULL));
	*user = jid_node(j) != NULL;
	jid_free(bare);
	jid_free(j);
	return key;
}

/* Node names follow host-name spelling so that they fit every place they
 * are written (config sections, stream headers, log lines). */
static char *
directory_prep_node(const char *word)
{
	size_t i, n = strlen(word);
	char *node;

	if (n == 0 || n > DIRECTORY_NODE_MAX)
		return NULL;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)word[i]) && strchr("._-", word[i]) ==
		    NULL)
			return NULL;
	node = xstrdup(word);
	for (i = 0; i < n; i++)
		node[i] = (char)tolower((unsigned char)node[i]);
	return node;
}

static void
directory_add_email(struct directory_parse *pp, struct directory_entry *e,
                    const char *value)
{
	struct directory_entry *other;
	char why[256];
	bool user;

	if (e->email != NULL) {
		directory_perror(pp, pp->line, "email= given twice");
		return;
	}
	e->email = directory_prep_addr(value, &user, why, sizeof(why));
	if (e->email == NULL) {
		directory_perror(pp, pp->line, "bad email address '%s': %s",
		                 value, why);
		return;
	}
	if (!user) {
		directory_perror(pp, pp->line, "email address '%s' must be "
		                 "user@domain", value);
	} else if ((other = htab_get(pp->d->emails, e->email)) != NULL) {
		directory_perror(pp, pp->line, "email address '%s' is already "
		                 "used on line %d", e->email, other->line);
	} else {
		htab_put(pp->d->emails, e->email, e);
		return;
	}
	free(e->email);
	e->email = NULL;
}

/* The words after the address: an optional node, then name=value. */
static void
directory_parse_rest(struct directory_parse *pp, struct directory_entry *e,
                     char **w, int nw)
{
	bool named = nw > 0 && strchr(w[0], '=') == NULL;
	int i = 0;

	if (named) {
		if ((e->node = directory_prep_node(w[0])) == NULL)
			directory_perror(pp, pp->line, "bad home node name "
			                 "'%s' (letters, digits, '.', '-' and "
			                 "'_')", w[0]);
		i = 1;
	}
	for (; i < nw; i++) {
		if (strncmp(w[i], "email=", 6) != 0)
			directory_perror(pp, pp->line, "unknown word '%s' "
			                 "(expected email=ADDRESS)", w[i]);
		else if (!e->user)
			directory_perror(pp, pp->line, "email= needs a user "
			                 "address (user@domain), not a domain");
		else
			directory_add_email(pp, e, w[i] + 6);
	}
	if (!named && !e->user)
		directory_perror(pp, pp->line, "'%s' needs a home node", e->key);
	else if (!named && nw == 0)
		directory_perror(pp, pp->line, "'%s' needs a home node or an "
		                 "email= address", e->key);
}

static void
directory_add_line(struct directory_parse *pp, char **w, int nw)
{
	struct directory_entry *e, *other;
	struct htab *t;
	char why[256];

	e = xcalloc(1, sizeof(*e));
	e->line = pp->line;
	e->key = directory_prep_addr(w[0], &e->user, why, sizeof(why));
	if (e->key == NULL) {
		directory_perror(pp, pp->line, "bad address '%s': %s", w[0],
		                 why);
		directory_entry_free(e);
		return;
	}
	t = e->user ? pp->d->users : pp->d->domains;
	if ((other = htab_get(t, e->key)) != NULL) {
		directory_perror(pp, pp->line, "'%s' is already mapped on line "
		                 "%d", e->key, other->line);
		directory_entry_free(e);
		return;
	}
	htab_put(t, e->key, e);
	pp->d->entries = xreallocarray(pp->d->entries, pp->d->nentries + 1,
	                               sizeof(*pp->d->entries));
	pp->d->entries[pp->d->nentries++] = e;
	directory_parse_rest(pp, e, w + 1, nw - 1);
}

static void
directory_parse_line(struct directory_parse *pp, char *line)
{
	char *w[DIRECTORY_MAX_WORDS], *save = NULL, *t;
	int nw = 0;

	for (t = strtok_r(line, " \t\r", &save); t != NULL;
	     t = strtok_r(NULL, " \t\r", &save)) {
		if (*t == '#')
			break;
		if (nw == DIRECTORY_MAX_WORDS) {
			directory_perror(pp, pp->line, "too many words");
			return;
		}
		w[nw++] = t;
	}
	if (nw > 0)
		directory_add_line(pp, w, nw);
}

/* Whole-file checks: a user without a node needs its domain's default,
 * and an email address must not be another user's internal address (the
 * inbound rewrite would make that user unreachable). */
static void
directory_check(struct directory_parse *pp)
{
	struct directory_entry *e, *other;
	const char *at;
	size_t i;

	for (i = 0; i < pp->d->nentries; i++) {
		e = pp->d->entries[i];
		at = strchr(e->key, '@');
		if (e->user && e->node == NULL && e->email != NULL &&
		    htab_get(pp->d->domains, at + 1) == NULL)
			directory_perror(pp, e->line, "'%s' has no home node: "
			                 "name one on this line or map '%s'",
			                 e->key, at + 1);
		if (e->email != NULL &&
		    (other = htab_get(pp->d->users, e->email)) != NULL)
			directory_perror(pp, e->line, "email address '%s' is the "
			                 "user address of line %d", e->email,
			                 other->line);
	}
}

int
directory_parse(const char *name, const char *text, struct directory **out,
                struct util_buf *errors)
{
	struct directory_parse pp = {0};
	char *copy = xstrdup(text), *line, *next;

	pp.d = xcalloc(1, sizeof(*pp.d));
	pp.d->refs = 1;
	pp.d->file = xstrdup(name);
	pp.d->users = htab_new(64);
	pp.d->domains = htab_new(16);
	pp.d->emails = htab_new(16);
	pp.name = name;
	pp.errors = errors;
	for (line = copy; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		pp.line++;
		directory_parse_line(&pp, line);
	}
	free(copy);
	if (pp.nerr == 0)
		directory_check(&pp);
	if (pp.nerr > 0) {
		directory_unref(pp.d);
		return S2SD_ECONFIG;
	}
	*out = pp.d;
	return 0;
}

int
directory_load(const char *path, struct directory **out,
               struct util_buf *errors)
{
	struct util_buf text = {0};
	int rc;

	if ((rc = util_read_file(path, &text)) < 0) {
		util_buf_printf(errors, "%s: cannot open: %s\n", path,
		                strerror(-rc));
		util_buf_free(&text);
		return S2SD_ECONFIG;
	}
	if (text.len != strlen(text.data != NULL ? text.data : "")) {
		util_buf_printf(errors, "%s: contains a NUL byte\n", path);
		util_buf_free(&text);
		return S2SD_ECONFIG;
	}
	rc = directory_parse(path, text.data != NULL ? text.data : "", out,
	                     errors);
	util_buf_free(&text);
	return rc;
}

/* The entry for NODE@DOMAIN in T (NODE NULL: DOMAIN), without allocating. */
static struct directory_entry *
directory_get(const struct htab *t, const char *node, const char *domain)
{
	char key[DIRECTORY_KEY_MAX];
	int n;

	if (node == NULL)
		return htab_get(t, domain);
	n = snprintf(key, sizeof(key), "%s@%s", node, domain);
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;    /* longer than any prepared address */
	return htab_get(t, key);
}

bool
directory_lookup(const struct directory *d, const char *node,
                 const char *domain, struct directory_match *out)
{
	struct directory_entry *e = NULL;

	if (node != NULL)
		e = directory_get(d->users, node, domain);
	out->by_user = e != NULL && e->node != NULL;
	/* A user line without a node only carries an email address: the user
	 * lives on the domain default's node. */
	if (e == NULL || e->node == NULL)
		e = htab_get(d->domains, domain);
	if (e == NULL)
		return false;
	out->node = e->node;
	out->key = e->key;
	out->file = d->file;
	out->line = e->line;
	return true;
}

const char *
directory_email_of(const struct directory *d, const char *node,
                   const char *domain, int *line)
{
	struct directory_entry *e;

	if (node == NULL || (e = directory_get(d->users, node, domain)) == NULL ||
	    e->email == NULL)
		return NULL;
	if (line != NULL)
		*line = e->line;
	return e->email;
}

const char *
directory_user_of(const struct directory *d, const char *node,
                  const char *domain, int *line)
{
	struct directory_entry *e;

	if (node == NULL || (e = directory_get(d->emails, node, domain)) == NULL)
		return NULL;
	if (line != NULL)
		*line = e->line;
	return e->key;
}

int
directory_check_nodes(const struct directory *d,
                      bool (*known)(void *arg, const char *node), void *arg,
                      struct util_buf *errors)
{
	struct directory_entry *e;
	size_t i;
	int n = 0;

	for (i = 0; i < d->nentries; i++) {
		e = d->entries[i];
		if (e->node == NULL || known(arg, e->node))
			continue;
		util_buf_printf(errors, "%s:%d: unknown home node '%s' (no "
		                "[home %s] section in the configuration)\n",
		                d->file, e->line, e->node, e->node);
		n++;
	}
	return n;
}

static const char *
directory_domain_of(const char *addr)
{
	const char *at = strchr(addr, '@');

	return at != NULL ? at + 1 : addr;
}

int
directory_check_domains(const struct directory *d,
                        bool (*is_local)(void *arg, const char *domain),
                        void *arg, struct util_buf *errors)
{
	static const char hint[] = "is not a local domain (domains.im, "
	                           "domains.email or domains.aliases)";
	struct directory_entry *e;
	const char *dom;
	size_t i;
	int n = 0;

	for (i = 0; i < d->nentries; i++) {
		e = d->entries[i];
		dom = directory_domain_of(e->key);
		if (!is_local(arg, dom)) {
			util_buf_printf(errors, "%s:%d: '%s' %s\n", d->file,
			                e->line, dom, hint);
			n++;
		}
		dom = e->email != NULL ? directory_domain_of(e->email) : NULL;
		if (dom != NULL && !is_local(arg, dom)) {
			util_buf_printf(errors, "%s:%d: email address '%s': "
			                "'%s' %s\n", d->file, e->line, e->email,
			                dom, hint);
			n++;
		}
	}
	return n;
}

const char *
directory_file(const struct directory *d)
{
	return d->file;
}

size_t
directory_count(const struct directory *d)
{
	return d->nentries;
}
