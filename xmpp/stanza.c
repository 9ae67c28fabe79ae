/* stanza.c - the element tree, its serializer and stanza helpers; see
 * stanza.h. Trees are walked iteratively (parent pointers) so that depth is
 * bounded by memory, not by the C stack. */
#include "xmpp/stanza.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/util.h"
#include "xmpp/xmlstream_int.h"

#define STANZA_NS_XMLNS "http://www.w3.org/2000/xmlns/"

struct stanza_attrib {
	char *ns;       /* NULL: unqualified */
	char *name;
	char *prefix;   /* received prefix, a hint for the serializer; or NULL */
	char *value;
};

struct stanza {
	struct stanza *root;    /* itself for a root: O(1) from deep nodes */
	struct stanza *parent;
	struct stanza *next;
	struct stanza *first;
	struct stanza *last;
	char *name;     /* NULL for a text node */
	char *ns;
	char *text;     /* text node: TEXTLEN bytes, NUL-terminated */
	size_t textlen;
	size_t textcap;
	struct stanza_attrib *attrs;
	size_t nattrs, attrcap;
	char *raw;      /* roots from the parser: bytes as received */
	size_t rawlen;
	bool raw_safe;
};

/* Names and namespaces that nearly every stanza carries are shared, not
 * copied: a pointer into this pool is never freed. The pool is one string
 * so that "is it shared?" is a range check. */
static const char stanza_pool[] =
    "\0jabber:server\0jabber:client\0jabber:component:accept\0message\0"
    "presence\0iq\0body\0from\0to\0id\0type\0lang\0subject\0thread\0"
    "error\0text\0show\0status\0priority\0" STANZA_NS_XML "\0"
    STANZA_NS_STANZAS "\0xml\0";

#define STANZA_POOL_MAX 32

struct stanza_pool_ent {
	const char *s;
	size_t len;
};

/* The pool's strings with their lengths, and for each first byte the set
 * of entries starting with it; found once. */
static const struct stanza_pool_ent *
stanza_pool_index(const uint32_t **by_first)
{
	static struct stanza_pool_ent ents[STANZA_POOL_MAX];
	static uint32_t first[256];
	static size_t nents;
	const char *p = stanza_pool, *end = stanza_pool + sizeof(stanza_pool);

	if (nents == 0) {
		for (; p < end && nents < STANZA_POOL_MAX; p += strlen(p) + 1) {
			first[(unsigned char)*p] |= UINT32_C(1) << nents;
			ents[nents].s = p;
			ents[nents++].len = strlen(p);
		}
	}
	*by_first = first;
	return ents;
}

static char *
stanza_str(const char *s)
{
	const uint32_t *by_first;
	const struct stanza_pool_ent *e = stanza_pool_index(&by_first);
	uint32_t m = by_first[(unsigned char)*s];
	size_t len = strlen(s);
	int i;

	for (; m != 0; m &= m - 1) {
		i = __builtin_ctz(m);
		if (e[i].len == len && memcmp(e[i].s, s, len) == 0)
			return (char *)e[i].s;
	}
	return xmemdup(s, len + 1);
}

static void
stanza_str_free(char *s)
{
	if (s < stanza_pool || s >= stanza_pool + sizeof(stanza_pool))
		free(s);
}

static bool
stanza_is_elem(const struct stanza *st)
{
	return st->name != NULL;
}

/* A name we can write unprefixed without breaking the output (an element
 * may be called "xmlns", an unqualified attribute may not). Every name the
 * parser yields passes; anything else is a bug in the caller. */
static void
stanza_check_name(const char *name, const char *what)
{
	if (name == NULL || *name == '\0' || strpbrk(name, " \t\r\n<>&'\"=/:") ||
	    (strcmp(what, "attribute") == 0 && strcmp(name, "xmlns") == 0))
		fatalx("stanza: bad %s name \"%s\"", what, name ? name : "");
}

static struct stanza *
stanza_alloc(const char *ns, const char *name)
{
	struct stanza *st = xcalloc(1, sizeof(*st));

	st->root = st;
	st->ns = stanza_str(ns != NULL ? ns : "");
	st->name = name != NULL ? stanza_str(name) : NULL;
	return st;
}

/* The xmlns namespace holds declarations, never elements. */
static void
stanza_check_elem(const char *ns, const char *name)
{
	stanza_check_name(name, "element");
	if (ns != NULL && strcmp(ns, STANZA_NS_XMLNS) == 0)
		fatalx("stanza: element %s in the xmlns namespace", name);
}

struct stanza *
stanza_new(const char *ns, const char *name)
{
	stanza_check_elem(ns, name);
	return stanza_alloc(ns, name);
}

static void
stanza_free_node(struct stanza *st)
{
	size_t i;

	for (i = 0; i < st->nattrs; i++) {
		stanza_str_free(st->attrs[i].ns);
		stanza_str_free(st->attrs[i].name);
		stanza_str_free(st->attrs[i].prefix);
		free(st->attrs[i].value);
	}
	free(st->attrs);
	stanza_str_free(st->name);
	stanza_str_free(st->ns);
	free(st->text);
	free(st->raw);
	free(st);
}

void
stanza_free(struct stanza *st)
{
	struct stanza *n, *next;

	if (st == NULL)
		return;
	if (st->parent != NULL)
		fatalx("%s: not a root", __func__);
	/* Post-order without recursion: descend to a leaf, free it, go on with
	 * its sibling or climb to the parent, now one child lighter. */
	n = st;
	for (;;) {
		while (n->first != NULL)
			n = n->first;
		if (n == st)
			break;
		next = n->next != NULL ? n->next : n->parent;
		n->parent->first = n->next;
		stanza_free_node(n);
		n = next;
	}
	stanza_free_node(st);
}

/* Any change below a root makes its raw bytes stale. */
static void
stanza_touch(struct stanza *st)
{
	st = st->root;
	free(st->raw);
	st->raw = NULL;
	st->rawlen = 0;
	st->raw_safe = false;
}

static void
stanza_link(struct stanza *parent, struct stanza *child)
{
	child->parent = parent;
	child->root = parent->root;
	if (parent->last != NULL)
		parent->last->next = child;
	else
		parent->first = child;
	parent->last = child;
}

static void
stanza_copy_attrs(struct stanza *dst, const struct stanza *src)
{
	size_t i;

	for (i = 0; i < src->nattrs; i++)
		stanza__add_attr(dst, src->attrs[i].ns, src->attrs[i].name,
		                 src->attrs[i].prefix, src->attrs[i].value);
}

/* Grow a text node by LEN bytes. */
static void
stanza_text_append(struct stanza *t, const char *text, size_t len)
{
	if (t->textlen + len + 1 > t->textcap) {
		t->textcap = t->textcap * 2 > t->textlen + len + 1
		                 ? t->textcap * 2
		                 : t->textlen + len + 1;
		t->text = xrealloc(t->text, t->textcap);
	}
	memcpy(t->text + t->textlen, text, len);
	t->textlen += len;
	t->text[t->textlen] = '\0';
}

static struct stanza *
stanza_copy_node(const struct stanza *src)
{
	struct stanza *dst = stanza_alloc(src->ns, src->name);

	stanza_copy_attrs(dst, src);
	if (!stanza_is_elem(src))
		stanza_text_append(dst, src->text, src->textlen);
	return dst;
}

struct stanza *
stanza_copy(const struct stanza *st)
{
	struct stanza *root = stanza_copy_node(st), *dst = root, *c;
	const struct stanza *src = st;

	/* Pre-order walk of ST, mirrored by DST in the copy. */
	for (;;) {
		if (src->first != NULL) {
			src = src->first;
			c = stanza_copy_node(src);
			stanza_link(dst, c);
			dst = c;
			continue;
		}
		while (src != st && src->next == NULL) {
			src = src->parent;
			dst = dst->parent;
		}
		if (src == st)
			break;
		src = src->next;
		c = stanza_copy_node(src);
		stanza_link(dst->parent, c);
		dst = c;
	}
	if (st->parent == NULL && st->raw != NULL)
		stanza__set_raw(root, st->raw, st->rawlen, st->raw_safe);
	return root;
}

const char *
stanza_name(const struct stanza *st)
{
	return st->name;
}

const char *
stanza_ns(const struct stanza *st)
{
	return st->ns;
}

struct stanza *
stanza_parent(const struct stanza *st)
{
	return st->parent;
}

/* "" and NULL both mean "no namespace" for an attribute. */
static bool
stanza_ns_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static struct stanza_attrib *
stanza_find_attr(const struct stanza *st, const char *ns, const char *name)
{
	size_t i;

	for (i = 0; i < st->nattrs; i++)
		if (strcmp(st->attrs[i].name, name) == 0 &&
		    stanza_ns_eq(st->attrs[i].ns, ns))
			return &st->attrs[i];
	return NULL;
}

const char *
stanza_attr(const struct stanza *st, const char *name)
{
	return stanza_attr_ns(st, NULL, name);
}

const char *
stanza_attr_ns(const struct stanza *st, const char *ns, const char *name)
{
	const struct stanza_attrib *a = stanza_find_attr(st, ns, name);

	return a != NULL ? a->value : NULL;
}

void
stanza__add_attr(struct stanza *st, const char *ns, const char *name,
                 const char *prefix, const char *value)
{
	struct stanza_attrib *a;

	/* Room for a few at once: a stanza rarely has more than four. */
	if (st->nattrs == st->attrcap) {
		st->attrcap = st->attrcap == 0 ? 4 : 2 * st->attrcap;
		st->attrs = xreallocarray(st->attrs, st->attrcap, sizeof(*a));
	}
	a = &st->attrs[st->nattrs++];
	a->ns = ns != NULL && *ns != '\0' ? stanza_str(ns) : NULL;
	a->name = stanza_str(name);
	a->prefix = prefix != NULL ? stanza_str(prefix) : NULL;
	a->value = xstrdup(value);
}

void
stanza_set_attr(struct stanza *st, const char *name, const char *value)
{
	stanza_set_attr_ns(st, NULL, name, value);
}

void
stanza_set_attr_ns(struct stanza *st, const char *ns, const char *name,
                   const char *value)
{
	struct stanza_attrib *a;

	stanza_check_name(name, "attribute");
	if (!stanza_is_elem(st) || stanza_ns_eq(ns, STANZA_NS_XMLNS))
		fatalx("%s: bad attribute %s", __func__, name);
	stanza_touch(st);
	a = stanza_find_attr(st, ns, name);
	if (a == NULL) {
		stanza__add_attr(st, ns, name, NULL, value);
		return;
	}
	free(a->value);
	a->value = xstrdup(value);
}

void
stanza_del_attr(struct stanza *st, const char *name)
{
	stanza_del_attr_ns(st, NULL, name);
}

void
stanza_del_attr_ns(struct stanza *st, const char *ns, const char *name)
{
	struct stanza_attrib *a = stanza_find_attr(st, ns, name);
	size_t i;

	if (a == NULL)
		return;
	stanza_touch(st);
	i = (size_t)(a - st->attrs);
	stanza_str_free(a->ns);
	stanza_str_free(a->name);
	stanza_str_free(a->prefix);
	free(a->value);
	memmove(a, a + 1, (st->nattrs - i - 1) * sizeof(*a));
	st->nattrs--;
}

size_t
stanza_attr_count(const struct stanza *st)
{
	return st->nattrs;
}

void
stanza_attr_at(const struct stanza *st, size_t i, const char **ns,
               const char **name, const char **value)
{
	if (i >= st->nattrs)
		fatalx("%s: index %zu of %zu", __func__, i, st->nattrs);
	*ns = st->attrs[i].ns;
	*name = st->attrs[i].name;
	*value = st->attrs[i].value;
}

static struct stanza *
stanza_elem_from(struct stanza *n)
{
	while (n != NULL && !stanza_is_elem(n))
		n = n->next;
	return n;
}

struct stanza *
stanza_first_child(const struct stanza *st)
{
	return stanza_elem_from(st->first);
}

struct stanza *
stanza_next(const struct stanza *child)
{
	return stanza_elem_from(child->next);
}

struct stanza *
stanza_child(const struct stanza *st, const char *ns, const char *name)
{
	struct stanza *c;

	for (c = stanza_first_child(st); c != NULL; c = stanza_next(c))
		if (strcmp(c->name, name) == 0 &&
		    (ns == NULL || strcmp(c->ns, ns) == 0))
			return c;
	return NULL;
}

struct stanza *
stanza_first_node(const struct stanza *st)
{
	return st->first;
}

struct stanza *
stanza_next_node(const struct stanza *node)
{
	return node->next;
}

const char *
stanza_node_text(const struct stanza *node)
{
	return stanza_is_elem(node) ? NULL : node->text;
}

char *
stanza_text(const struct stanza *st)
{
	struct util_buf b = {0};
	const struct stanza *n;
	size_t len;

	util_buf_append(&b, "", 0);     /* "" rather than nothing */
	for (n = st->first; n != NULL; n = n->next)
		if (!stanza_is_elem(n))
			util_buf_append(&b, n->text, n->textlen);
	return util_buf_steal(&b, &len);
}

struct stanza *
stanza_add_child(struct stanza *parent, const char *ns, const char *name)
{
	struct stanza *c;

	stanza_check_elem(ns, name);
	if (!stanza_is_elem(parent))
		fatalx("%s: parent is text", __func__);
	stanza_touch(parent);
	c = stanza_alloc(ns != NULL ? ns : parent->ns, name);
	stanza_link(parent, c);
	return c;
}

void
stanza__add_text_len(struct stanza *st, const char *text, size_t len)
{
	struct stanza *t = st->last;

	if (len == 0)
		return;
	if (t == NULL || stanza_is_elem(t)) {
		t = stanza_alloc(NULL, NULL);
		stanza_link(st, t);
	}
	stanza_text_append(t, text, len);
}

void
stanza_add_text(struct stanza *st, const char *text)
{
	if (!stanza_is_elem(st))
		fatalx("%s: not an element", __func__);
	stanza_touch(st);
	stanza__add_text_len(st, text, strlen(text));
}

void
stanza__set_raw(struct stanza *st, const char *raw, size_t len, bool safe)
{
	free(st->raw);
	st->raw = xmemdup(raw, len + 1);
	st->raw[len] = '\0';
	st->rawlen = len;
	st->raw_safe = safe;
}

/* Next node of a pre-order walk of the tree under ROOT, or NULL. */
static struct stanza *
stanza_walk_next(const struct stanza *root, struct stanza *n)
{
	if (n->first != NULL)
		return n->first;
	while (n != root && n->next == NULL)
		n = n->parent;
	return n == root ? NULL : n->next;
}

void
stanza_rename_ns(struct stanza *st, const char *from, const char *to)
{
	struct stanza *n, *root = st->root;
	bool changed = false, keep;

	/* Safe raw bytes take their content namespace from the stream they
	 * are written into and declare no other element in FROM, so they
	 * still mean the renamed tree when that namespace is TO. */
	keep = st == root && root->raw_safe && strcmp(root->ns, from) == 0;
	for (n = st; n != NULL; n = stanza_walk_next(st, n)) {
		if (!stanza_is_elem(n) || strcmp(n->ns, from) != 0)
			continue;
		stanza_str_free(n->ns);
		n->ns = stanza_str(to);
		changed = true;
	}
	if (changed && !keep)
		stanza_touch(st);
}

const char *
stanza_raw(const struct stanza *st, size_t *len)
{
	if (len != NULL)
		*len = st->rawlen;
	return st->raw;
}

bool
stanza_raw_is_safe(const struct stanza *st)
{
	return st->raw != NULL && st->raw_safe;
}

void
stanza_write(const struct stanza *st, const char *content_ns,
             struct util_buf *out)
{
	if (stanza_raw_is_safe(st) &&
	    stanza_ns_eq(st->ns, content_ns))
		util_buf_append(out, st->raw, st->rawlen);
	else
		stanza_serialize(st, content_ns, out);
}

static bool
stanza_is_one_of(const char *s, const char *const *list)
{
	for (; s != NULL && *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

bool
stanza_is_bounceable(const struct stanza *st)
{
	static const char *const content_ns[] = {
	    "jabber:server", "jabber:client", "jabber:component:accept", NULL};
	static const char *const iq_types[] = {"get", "set", NULL};
	static const char *const sub_types[] = {
	    "subscribe", "subscribed", "unsubscribe", "unsubscribed", NULL};
	const char *type = stanza_attr(st, "type");

	if (st->parent != NULL || !stanza_is_one_of(st->ns, content_ns))
		return false;
	if (strcmp(st->name, "message") == 0)
		return type == NULL || strcmp(type, "error") != 0;
	if (strcmp(st->name, "iq") == 0)
		return stanza_is_one_of(type, iq_types);
	if (strcmp(st->name, "presence") == 0)
		return stanza_is_one_of(type, sub_types);
	return false;
}

struct stanza *
stanza_error_reply(const struct stanza *st, const char *type,
                   const char *condition, const char *text)
{
	static const char *const types[] = {"auth",   "cancel", "continue",
	                                    "modify", "wait",   NULL};
	struct stanza *r, *err, *t;
	const char *v;

	if (!stanza_is_one_of(type, types))
		fatalx("%s: bad error type %s", __func__, type ? type : "");
	r = stanza_new(st->ns, st->name);
	if ((v = stanza_attr(st, "from")) != NULL)
		stanza_set_attr(r, "to", v);
	if ((v = stanza_attr(st, "to")) != NULL)
		stanza_set_attr(r, "from", v);
	if ((v = stanza_attr(st, "id")) != NULL)
		stanza_set_attr(r, "id", v);
	stanza_set_attr(r, "type", "error");
	err = stanza_add_child(r, NULL, "error");
	stanza_set_attr(err, "type", type);
	stanza_add_child(err, STANZA_NS_STANZAS, condition);
	if (text != NULL) {
		t = stanza_add_child(err, STANZA_NS_STANZAS, "text");
		stanza_set_attr_ns(t, STANZA_NS_XML, "lang", "en");
		stanza_add_text(t, text);
	}
	return r;
}

/* The serializer. Elements are always written unprefixed with a default
 * namespace declaration where it changes; namespaced attributes get a prefix
 * declared on their element unless an enclosing element already binds the
 * same prefix to the same URI. */

struct stanza_decl {
	char *prefix;
	const char *uri;
	size_t depth;
};

struct stanza_ser {
	struct util_buf *out;
	struct stanza_decl *decls;      /* prefixes in scope, innermost last */
	size_t ndecls;
	const char **dflt;              /* default namespace per depth */
	size_t dfltcap;
	size_t depth;
	size_t mark;                    /* decls[mark..] are on this element */
};

/* \r and, in attributes, \t and \n become references so that the parser's
 * normalisation gives back the same value; control characters XML cannot
 * carry at all (only reachable through the API) become U+FFFD. */
void
stanza_escape(struct util_buf *out, const char *s, size_t len, bool attr)
{
	size_t i, run = 0;
	const char *rep;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c > '>' || (c >= ' ' && c != '&' && c != '<' && c != '>' &&
		                 c != '\'' && c != '"'))
			continue;       /* the common case, decided at once */
		if (c == '&')
			rep = "&amp;";
		else if (c == '<')
			rep = "&lt;";
		else if (c == '>')
			rep = "&gt;";
		else if (c == '\r')
			rep = "&#13;";
		else if (attr && c == '\'')
			rep = "&apos;";
		else if (attr && c == '"')
			rep = "&quot;";
		else if (attr && c == '\t')
			rep = "&#9;";
		else if (attr && c == '\n')
			rep = "&#10;";
		else if (c < 0x20 && c != '\t' && c != '\n')
			rep = "\xef\xbf\xbd";
		else
			continue;
		util_buf_append(out, s + run, i - run);
		util_buf_puts(out, rep);
		run = i + 1;
	}
	util_buf_append(out, s + run, len - run);
}

static void
stanza_put_attr(struct util_buf *out, const char *prefix, const char *name,
                const char *value)
{
	util_buf_puts(out, " ");
	if (prefix != NULL) {
		util_buf_puts(out, prefix);
		util_buf_puts(out, ":");
	}
	util_buf_puts(out, name);
	util_buf_puts(out, "='");
	stanza_escape(out, value, strlen(value), true);
	util_buf_puts(out, "'");
}

/* The innermost declaration of PREFIX in scope, or NULL. */
static const struct stanza_decl *
stanza_ser_lookup(const struct stanza_ser *s, const char *prefix)
{
	size_t i;

	for (i = s->ndecls; i > 0; i--)
		if (strcmp(s->decls[i - 1].prefix, prefix) == 0)
			return &s->decls[i - 1];
	return NULL;
}

/* A prefix already bound to URI and not shadowed, or NULL. */
static const char *
stanza_ser_find_uri(const struct stanza_ser *s, const char *uri)
{
	size_t i;

	for (i = s->ndecls; i > 0; i--)
		if (strcmp(s->decls[i - 1].uri, uri) == 0 &&
		    stanza_ser_lookup(s, s->decls[i - 1].prefix) ==
		        &s->decls[i - 1])
			return s->decls[i - 1].prefix;
	return NULL;
}

/* A new declaration must not take a prefix another attribute of the same
 * element already uses (through a declaration here or further out). */
static bool
stanza_ser_prefix_free(const struct stanza_ser *s, const struct stanza *el,
                       const char *prefix, size_t upto)
{
	const struct stanza_decl *d;
	size_t i;

	if (strncmp(prefix, "xml", 3) == 0)
		return false;
	for (i = s->mark; i < s->ndecls; i++)
		if (strcmp(s->decls[i].prefix, prefix) == 0)
			return false;
	for (i = 0; i < upto; i++) {
		if (el->attrs[i].ns == NULL ||
		    strcmp(el->attrs[i].ns, STANZA_NS_XML) == 0)
			continue;
		d = stanza_ser_lookup(s, prefix);
		if (d != NULL && strcmp(d->uri, el->attrs[i].ns) == 0)
			return false;
	}
	return true;
}

static const char *
stanza_ser_declare(struct stanza_ser *s, const struct stanza *el, size_t ai)
{
	const struct stanza_attrib *a = &el->attrs[ai];
	struct stanza_decl *d;
	char gen[32];
	const char *p = a->prefix;
	unsigned n;

	for (n = 0; p == NULL || !stanza_ser_prefix_free(s, el, p, ai); n++) {
		snprintf(gen, sizeof(gen), "ns%u", n);
		p = gen;
	}
	s->decls = xreallocarray(s->decls, s->ndecls + 1, sizeof(*d));
	d = &s->decls[s->ndecls++];
	d->prefix = xstrdup(p);
	d->uri = a->ns;
	d->depth = s->depth;
	stanza_put_attr(s->out, "xmlns", d->prefix, d->uri);
	return d->prefix;
}

static void
stanza_ser_attrs(struct stanza_ser *s, const struct stanza *el)
{
	const struct stanza_attrib *a;
	const char *prefix;
	size_t i;

	s->mark = s->ndecls;
	for (i = 0; i < el->nattrs; i++) {
		a = &el->attrs[i];
		if (a->ns == NULL)
			prefix = NULL;
		else if (strcmp(a->ns, STANZA_NS_XML) == 0)
			prefix = "xml";
		else if ((prefix = stanza_ser_find_uri(s, a->ns)) == NULL)
			prefix = stanza_ser_declare(s, el, i);
		stanza_put_attr(s->out, prefix, a->name, a->value);
	}
}

/* The XML namespace cannot be a default namespace: its elements are
 * written with the predeclared xml: prefix. */
static bool
stanza_is_xml_ns(const struct stanza *n)
{
	return strcmp(n->ns, STANZA_NS_XML) == 0;
}

static void
stanza_ser_enter(struct stanza_ser *s, const struct stanza *n)
{
	const char *inherited;

	if (!stanza_is_elem(n)) {
		stanza_escape(s->out, n->text, n->textlen, false);
		return;
	}
	inherited = s->dflt[s->depth];
	s->depth++;
	if (s->depth >= s->dfltcap) {
		s->dfltcap *= 2;
		s->dflt = xreallocarray(s->dflt, s->dfltcap, sizeof(*s->dflt));
	}
	s->dflt[s->depth] = stanza_is_xml_ns(n) ? inherited : n->ns;
	util_buf_puts(s->out, stanza_is_xml_ns(n) ? "<xml:" : "<");
	util_buf_puts(s->out, n->name);
	if (!stanza_is_xml_ns(n) && strcmp(n->ns, inherited) != 0)
		stanza_put_attr(s->out, NULL, "xmlns", n->ns);
	stanza_ser_attrs(s, n);
	util_buf_puts(s->out, n->first != NULL ? ">" : "/>");
}

static void
stanza_ser_leave(struct stanza_ser *s, const struct stanza *n)
{
	if (!stanza_is_elem(n))
		return;
	if (n->first != NULL) {
		util_buf_puts(s->out, stanza_is_xml_ns(n) ? "</xml:" : "</");
		util_buf_puts(s->out, n->name);
		util_buf_puts(s->out, ">");
	}
	while (s->ndecls > 0 && s->decls[s->ndecls - 1].depth == s->depth)
		free(s->decls[--s->ndecls].prefix);
	s->depth--;
}

void
stanza_serialize(const struct stanza *st, const char *content_ns,
                 struct util_buf *out)
{
	struct stanza_ser s = {.out = out, .dfltcap = 16};
	const struct stanza *n = st;

	s.dflt = xcalloc(s.dfltcap, sizeof(*s.dflt));
	s.dflt[0] = content_ns != NULL ? content_ns : "";
	/* Pre-order walk calling leave on the way up, as in stanza_free. */
	for (;;) {
		stanza_ser_enter(&s, n);
		if (n->first != NULL) {
			n = n->first;
			continue;
		}
		stanza_ser_leave(&s, n);
		while (n != st && n->next == NULL) {
			n = n->parent;
			stanza_ser_leave(&s, n);
		}
		if (n == st)
			break;
		n = n->next;
	}
	free(s.dflt);
	free(s.decls);
}
