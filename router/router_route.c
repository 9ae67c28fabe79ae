/* router_route.c - the routing rules: where a stanza from S2S or from a
 * home node goes, which 'from' a home node may use, the email address
 * rewriting, bounces, and the same reasoning in words for s2sctl route.
 *
 * The one rule behind the 'from' check: a home node may send from exactly
 * the addresses that the directory routes to it (the users mapped to it,
 * and every address of the domains and aliases mapped to it, except users
 * mapped elsewhere), in local domains only. With email federation on, an
 * email address counts as the user's internal JID, so a node may also send
 * from its users' email addresses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "router/component.h"
#include "router/directory.h"
#include "router/router_int.h"
#include "xmpp/jid.h"
#include "xmpp/stanza.h"

/* The parsed address in attribute ATTR of ST, or NULL (absent, bad). */
static struct jid *
route_jid(const struct stanza *st, const char *attr)
{
	const char *v = stanza_attr(st, attr);
	struct jid *j = NULL;

	if (v != NULL)
		jid_parse(v, strlen(v), &j, NULL, 0);
	return j;
}

static struct jid *
route_with_resource(const char *bare, const char *resource)
{
	char *s = resource != NULL ? xasprintf("%s/%s", bare, resource)
	                           : xstrdup(bare);
	struct jid *j = NULL;

	jid_parse(s, strlen(s), &j, NULL, 0);
	free(s);
	return j;
}

/* With email federation on: the internal address behind email address J
 * (J's resource kept), else NULL. Returned owned. */
static struct jid *
route_email_to_user(const struct router *r, const struct jid *j)
{
	const char *user;

	if (!r->opts.email_federation || jid_node(j) == NULL ||
	    (user = directory_user_of(r->dir, jid_node(j), jid_domain(j),
	                              NULL)) == NULL)
		return NULL;
	return route_with_resource(user, jid_resource(j));
}

/* With email federation on: the email address of internal address J. */
static struct jid *
route_user_to_email(const struct router *r, const struct jid *j)
{
	const char *email;

	if (!r->opts.email_federation || jid_node(j) == NULL ||
	    (email = directory_email_of(r->dir, jid_node(j), jid_domain(j),
	                                NULL)) == NULL)
		return NULL;
	return route_with_resource(email, jid_resource(j));
}

/* A federated stanza to the raw internal JID of a user who federates with
 * an email address: the outside world must not learn or use it. */
static bool
route_is_hidden(const struct router *r, const struct jid *j)
{
	return r->opts.email_federation && jid_node(j) != NULL &&
	       directory_email_of(r->dir, jid_node(j), jid_domain(j), NULL) !=
	           NULL;
}

/* RFC 6120 8.3.3 error types for the conditions the router uses. */
static const char *
route_error_type(const char *condition)
{
	if (strcmp(condition, "resource-constraint") == 0)
		return "wait";
	if (strcmp(condition, "jid-malformed") == 0)
		return "modify";
	return "cancel";
}

static void
route_log(const char *what, const struct stanza *st, const char *detail)
{
	const char *f = stanza_attr(st, "from"), *t = stanza_attr(st, "to");

	log_debug(LOG_SUB_ROUTER, 0, "%s %s from=%s to=%s%s%s", what,
	          stanza_name(st), f != NULL ? f : "-", t != NULL ? t : "-",
	          *detail != '\0' ? " " : "", detail);
}

/* Out to S2S: the sender's email address for federation, jabber:server. */
static void
route_to_remote(struct router *r, struct stanza *st)
{
	struct jid *from = route_jid(st, "from"), *email = NULL;

	if (from != NULL && (email = route_user_to_email(r, from)) != NULL)
		stanza_set_attr(st, "from", jid_str(email, NULL));
	jid_free(email);
	jid_free(from);
	stanza_rename_ns(st, COMPONENT_NS, ROUTER_NS_SERVER);
	route_log("remote", st, "");
	r->cbs.to_remote(r->arg, st);
}

void
router__bounce(struct router *r, struct stanza *st, const char *origin,
               const char *condition, const char *text)
{
	struct router_node *n;
	struct stanza *reply;
	char detail[96];

	snprintf(detail, sizeof(detail), "condition=%s", condition);
	if (!stanza_is_bounceable(st)) {
		route_log("drop", st, detail);
		stanza_free(st);
		return;
	}
	route_log("bounce", st, detail);
	metrics_inc(METRICS_BOUNCES, condition);
	reply = stanza_error_reply(st, route_error_type(condition), condition,
	                           text);
	stanza_free(st);
	if (origin == NULL)
		route_to_remote(r, reply);
	else if ((n = router__node(r, origin)) != NULL)
		router__to_node(r, n, reply, NULL);
	else {
		route_log("drop", reply, "reason=\"sender's home node is gone\"");
		stanza_free(reply);
	}
}

/* Deliver ST (taken) to the home node of local address TO, or answer. */
static void
route_local(struct router *r, struct stanza *st, const struct jid *to,
            const char *origin)
{
	struct directory_match m;
	struct router_node *n;

	if (!directory_lookup(r->dir, jid_node(to), jid_domain(to), &m) ||
	    (n = router__node(r, m.node)) == NULL) {
		router__bounce(r, st, origin, "service-unavailable",
		               "no home node serves this address");
		return;
	}
	router__to_node(r, n, st, origin);
}

void
router__from_s2s(struct router *r, struct stanza *st)
{
	struct jid *to = route_jid(st, "to"), *user;

	if (to == NULL) {
		router__bounce(r, st, NULL, "jid-malformed",
		               "the 'to' address is missing or malformed");
		return;
	}
	if ((user = route_email_to_user(r, to)) != NULL) {
		stanza_set_attr(st, "to", jid_str(user, NULL));
		jid_free(to);
		to = user;
	} else if (route_is_hidden(r, to)) {
		route_log("drop", st, "reason=\"internal JID of a user who "
		          "federates with an email address\"");
		stanza_free(st);
		jid_free(to);
		return;
	}
	route_local(r, st, to, NULL);
	jid_free(to);
}

/* May home node NODE send from FROM? false with WHY filled. */
static bool
route_from_ok(const struct router *r, const char *node,
              const struct jid *from, char *why, size_t whylen)
{
	struct directory_match m;
	struct jid *user;
	bool found;

	if (from == NULL) {
		snprintf(why, whylen, "the 'from' address is missing or "
		         "malformed");
		return false;
	}
	if (!r->cbs.is_local(r->arg, jid_domain(from))) {
		snprintf(why, whylen, "'from' must be in a local domain; "
		         "%.200s is not", jid_domain(from));
		return false;
	}
	user = route_email_to_user(r, from);
	found = directory_lookup(r->dir, jid_node(user ? user : from),
	                         jid_domain(user ? user : from), &m);
	jid_free(user);
	if (!found)
		snprintf(why, whylen, "the directory maps no home node to this "
		         "'from' address");
	else if (strcmp(m.node, node) != 0)
		snprintf(why, whylen, "this 'from' address belongs to home node "
		         "%s (%s:%d)", m.node, m.file, m.line);
	return found && strcmp(m.node, node) == 0;
}

void
router__from_node(struct router *r, struct router_link *l, struct stanza *st)
{
	struct jid *from = route_jid(st, "from"), *to = NULL, *user;
	const char *node = l->node->name;
	char why[512];

	if (!route_from_ok(r, node, from, why, sizeof(why))) {
		router__bounce(r, st, node, "not-allowed", why);
	} else if (stanza_attr(st, "to") == NULL) {
		router__bounce(r, st, node, "service-unavailable",
		               "no 'to' address: the router itself offers no "
		               "service");
	} else if ((to = route_jid(st, "to")) == NULL) {
		router__bounce(r, st, node, "jid-malformed",
		               "the 'to' address is malformed");
	} else if (!r->cbs.is_local(r->arg, jid_domain(to))) {
		route_to_remote(r, st);
	} else if ((user = route_email_to_user(r, to)) != NULL) {
		stanza_set_attr(st, "to", jid_str(user, NULL));
		route_local(r, st, user, node);
		jid_free(user);
	} else {
		route_local(r, st, to, node);
	}
	jid_free(from);
	jid_free(to);
}

/* "s2sctl route JID": the same decisions, in words. */

static void
explain_node(const struct router *r, const char *name, struct util_buf *out)
{
	struct router_node *n = router__node(r, name);
	uint64_t now = router__now(r);

	if (n == NULL)
		util_buf_printf(out, "node: %s is not configured\n", name);
	else if (n->link != NULL)
		util_buf_printf(out, "node: %s attached for %llus (link "
		                "%016llx from %s)\n", n->name,
		                (unsigned long long)(now - n->attached_at) / 1000,
		                (unsigned long long)n->link->connid,
		                n->link->peer);
	else
		util_buf_printf(out, "node: %s not attached; stanzas wait %llu "
		                "ms for it, then bounce (%zu waiting)\n", n->name,
		                (unsigned long long)r->opts.grace_ms, n->qlen);
}

static void
explain_email(const struct router *r, const struct jid *j,
              struct util_buf *out)
{
	const char *s;
	int line;

	if (jid_node(j) == NULL)
		return;
	if ((s = directory_user_of(r->dir, jid_node(j), jid_domain(j),
	                           &line)) != NULL)
		util_buf_printf(out, "email: the federated address of %s "
		                "(%s:%d)%s\n", s, directory_file(r->dir), line,
		                r->opts.email_federation
		                    ? "; stanzas to it go to that user"
		                    : "; unused: email federation is off");
	if ((s = directory_email_of(r->dir, jid_node(j), jid_domain(j),
	                            &line)) != NULL)
		util_buf_printf(out, "email: federates as %s (%s:%d)%s\n", s,
		                directory_file(r->dir), line,
		                r->opts.email_federation
		                    ? "; federated stanzas to this internal "
		                      "address are dropped"
		                    : "; unused: email federation is off");
}

static void
explain_local(const struct router *r, const struct jid *j,
              struct util_buf *out)
{
	struct jid *user = route_email_to_user(r, j);
	const struct jid *k = user != NULL ? user : j;
	struct directory_match m;

	explain_email(r, j, out);
	if (!directory_lookup(r->dir, jid_node(k), jid_domain(k), &m)) {
		util_buf_printf(out, "route: none: no line of %s maps %s; "
		                "stanzas to it are answered with "
		                "service-unavailable\n", directory_file(r->dir),
		                jid_domain(k));
	} else {
		util_buf_printf(out, "route: home node %s (%s:%d, %s %s)\n",
		                m.node, m.file, m.line,
		                m.by_user ? "user" : "domain", m.key);
		explain_node(r, m.node, out);
		util_buf_printf(out, "from: only home node %s may send from "
		                "this address\n", m.node);
	}
	jid_free(user);
}

void
router_explain(const struct router *r, const char *jid, struct util_buf *out)
{
	struct jid *j = NULL;
	char why[256];

	if (jid_parse(jid, strlen(jid), &j, why, sizeof(why)) < 0) {
		util_buf_printf(out, "address: invalid: %s\n", why);
		return;
	}
	util_buf_printf(out, "address: %s\n", jid_str(j, NULL));
	util_buf_printf(out, "email federation: %s\n",
	                r->opts.email_federation ? "on" : "off");
	if (!r->cbs.is_local(r->arg, jid_domain(j))) {
		util_buf_printf(out, "domain: %s is not local\nroute: s2s: "
		                "stanzas from home nodes go to the remote "
		                "domain if the policy allows 'out' for it\n",
		                jid_domain(j));
	} else {
		util_buf_printf(out, "domain: %s is local\n", jid_domain(j));
		explain_local(r, j, out);
	}
	jid_free(j);
}
