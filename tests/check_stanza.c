/* check_stanza.c - xmpp/stanza: the tree API, the serializer (exact output,
 * escaping, namespaces, prefixes, round trips through the parser), raw
 * bytes, bounce rules and error replies. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cm/util.h"
#include "xmpp/stanza.h"
#include "xmpp/xmlstream.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define HDR_SERVER                                                             \
	"<stream:stream xmlns='jabber:server' xmlns:stream='" NS_STREAMS "'>"

/* Canonical rendering: namespaces explicit, attributes in order. */
static void
dump_tree(struct util_buf *b, const struct stanza *st)
{
	const struct stanza *n;
	const char *ns, *name, *value;
	size_t i;

	util_buf_printf(b, "<{%s}%s", stanza_ns(st), stanza_name(st));
	for (i = 0; i < stanza_attr_count(st); i++) {
		stanza_attr_at(st, i, &ns, &name, &value);
		util_buf_printf(b, " {%s}%s=[%s]", ns ? ns : "", name, value);
	}
	util_buf_puts(b, ">");
	for (n = stanza_first_node(st); n != NULL; n = stanza_next_node(n)) {
		if (stanza_node_text(n) != NULL)
			util_buf_printf(b, "[%s]", stanza_node_text(n));
		else
			dump_tree(b, n);
	}
	util_buf_puts(b, "</>");
}

static char *
dump(const struct stanza *st)
{
	struct util_buf b = {0};
	size_t n;

	dump_tree(&b, st);
	return util_buf_steal(&b, &n);
}

static char *
ser(const struct stanza *st, const char *content_ns)
{
	struct util_buf b = {0};
	size_t n;

	stanza_serialize(st, content_ns, &b);
	return util_buf_steal(&b, &n);
}

struct one {
	struct stanza *st;
	int n;
	int err;
};

static void
one_stanza(void *arg, struct stanza *st)
{
	struct one *o = arg;

	o->n++;
	stanza_free(o->st);
	o->st = st;
}

static void
one_error(void *arg, int err, const char *detail)
{
	struct one *o = arg;

	(void)detail;
	o->err = err;
}

/* Parse one element inside HDR; fails the test unless exactly one. */
static struct stanza *
parse(const char *hdr, const char *xml)
{
	static const struct xmlstream_cbs cbs = {NULL, one_stanza, NULL,
	                                         one_error};
	struct one o = {0};
	struct xmlstream *xs = xmlstream_new(NULL, &cbs, &o);

	ck_assert_int_eq(xmlstream_feed(xs, hdr, strlen(hdr)), 0);
	ck_assert_int_eq(xmlstream_feed(xs, xml, strlen(xml)), 0);
	ck_assert_int_eq(o.err, 0);
	ck_assert_int_eq(o.n, 1);
	xmlstream_free(xs);
	return o.st;
}

START_TEST(test_build)
{
	struct stanza *m = stanza_new("jabber:server", "message"), *b, *c;
	char *t;

	ck_assert_str_eq(stanza_name(m), "message");
	ck_assert_str_eq(stanza_ns(m), "jabber:server");
	ck_assert_ptr_null(stanza_parent(m));
	stanza_add_text(m, "a");
	b = stanza_add_child(m, NULL, "body");
	ck_assert_str_eq(stanza_ns(b), "jabber:server");
	ck_assert_ptr_eq(stanza_parent(b), m);
	stanza_add_text(b, "hello ");
	stanza_add_text(b, "world");
	stanza_add_text(m, "b");
	c = stanza_add_child(m, "urn:x", "x");
	stanza_add_text(m, "c");
	ck_assert_ptr_eq(stanza_first_child(m), b);
	ck_assert_ptr_eq(stanza_next(b), c);
	ck_assert_ptr_null(stanza_next(c));
	ck_assert_ptr_eq(stanza_child(m, NULL, "x"), c);
	ck_assert_ptr_eq(stanza_child(m, "urn:x", "x"), c);
	ck_assert_ptr_null(stanza_child(m, "jabber:server", "x"));
	ck_assert_ptr_null(stanza_child(m, NULL, "subject"));
	/* Adjacent text is one node; stanza_text joins the direct ones. */
	ck_assert_str_eq(stanza_node_text(stanza_first_node(b)), "hello world");
	ck_assert_ptr_null(stanza_next_node(stanza_first_node(b)));
	ck_assert_ptr_null(stanza_node_text(b));
	t = stanza_text(m);
	ck_assert_str_eq(t, "abc");
	free(t);
	t = stanza_text(c);
	ck_assert_str_eq(t, "");
	free(t);
	ck_assert_ptr_null(stanza_first_child(c));
	ck_assert_ptr_null(stanza_first_node(c));
	/* NULL namespace: none. */
	c = stanza_new(NULL, "x");
	ck_assert_str_eq(stanza_ns(c), "");
	stanza_free(c);
	stanza_free(m);
	stanza_free(NULL);
}
END_TEST

START_TEST(test_attrs)
{
	struct stanza *m = stanza_new("jabber:server", "message");
	const char *ns, *name, *value;

	ck_assert_ptr_null(stanza_attr(m, "to"));
	stanza_set_attr(m, "to", "a@b");
	stanza_set_attr(m, "type", "chat");
	stanza_set_attr_ns(m, STANZA_NS_XML, "lang", "en");
	stanza_set_attr_ns(m, "urn:x", "type", "other");
	stanza_set_attr(m, "to", "c@d");
	ck_assert_str_eq(stanza_attr(m, "to"), "c@d");
	ck_assert_str_eq(stanza_attr(m, "type"), "chat");
	ck_assert_str_eq(stanza_attr_ns(m, "urn:x", "type"), "other");
	ck_assert_str_eq(stanza_attr_ns(m, STANZA_NS_XML, "lang"), "en");
	ck_assert_ptr_null(stanza_attr(m, "lang"));
	/* "" and NULL are both "unqualified". */
	ck_assert_str_eq(stanza_attr_ns(m, "", "to"), "c@d");
	ck_assert_uint_eq(stanza_attr_count(m), 4);
	stanza_attr_at(m, 0, &ns, &name, &value);
	ck_assert_ptr_null(ns);
	ck_assert_str_eq(name, "to");
	ck_assert_str_eq(value, "c@d");
	stanza_attr_at(m, 2, &ns, &name, &value);
	ck_assert_str_eq(ns, STANZA_NS_XML);
	ck_assert_str_eq(name, "lang");
	stanza_del_attr(m, "type");
	stanza_del_attr(m, "absent");
	ck_assert_ptr_null(stanza_attr(m, "type"));
	ck_assert_str_eq(stanza_attr_ns(m, "urn:x", "type"), "other");
	stanza_del_attr_ns(m, "urn:x", "type");
	ck_assert_ptr_null(stanza_attr_ns(m, "urn:x", "type"));
	ck_assert_uint_eq(stanza_attr_count(m), 2);
	stanza_free(m);
}
END_TEST

START_TEST(test_copy)
{
	const char *xml = "<message to='a@b'><body xml:lang='en'>hi</body>"
	                  "<x xmlns='urn:x' xmlns:p='urn:p' p:k='v'>t<y/>u</x>"
	                  "</message>";
	struct stanza *st = parse(HDR_SERVER, xml), *cp, *cp2;
	char *d1, *d2;
	size_t len;

	cp = stanza_copy(st);
	d1 = dump(st);
	d2 = dump(cp);
	ck_assert_str_eq(d1, d2);
	free(d2);
	ck_assert_str_eq(stanza_raw(cp, &len), xml);
	ck_assert(stanza_raw_is_safe(cp));
	/* A copy of a child is a root without raw bytes. */
	cp2 = stanza_copy(stanza_child(st, NULL, "x"));
	ck_assert_ptr_null(stanza_parent(cp2));
	ck_assert_ptr_null(stanza_raw(cp2, NULL));
	ck_assert_ptr_nonnull(stanza_child(cp2, "urn:x", "y"));
	stanza_free(cp2);
	/* Independent: changing the copy leaves the original. */
	stanza_set_attr(stanza_child(cp, NULL, "body"), "id", "1");
	stanza_add_text(stanza_child(cp, "urn:x", "x"), "more");
	d2 = dump(st);
	ck_assert_str_eq(d1, d2);
	ck_assert_ptr_nonnull(stanza_raw(st, NULL));
	ck_assert_ptr_null(stanza_raw(cp, NULL));
	free(d1);
	free(d2);
	stanza_free(cp);
	stanza_free(st);
}
END_TEST

/* ---- serializer: exact output ---- */

static struct stanza *
mk_message(void)
{
	struct stanza *m = stanza_new("jabber:server", "message"), *b;

	stanza_set_attr(m, "to", "a@b");
	stanza_set_attr(m, "type", "chat");
	b = stanza_add_child(m, NULL, "body");
	stanza_add_text(b, "hi & <you>");
	return m;
}

static struct stanza *
mk_foreign(void)
{
	struct stanza *iq = stanza_new("jabber:server", "iq"), *q, *x;

	stanza_set_attr(iq, "type", "get");
	q = stanza_add_child(iq, "jabber:iq:version", "query");
	stanza_add_child(q, NULL, "name");
	x = stanza_add_child(q, "urn:x", "x");
	stanza_add_child(x, "jabber:server", "back");
	stanza_add_child(iq, NULL, "tail");
	return iq;
}

static struct stanza *
mk_nons(void)
{
	struct stanza *x = stanza_new(NULL, "x");

	stanza_add_child(x, NULL, "y");
	stanza_add_child(x, "urn:z", "z");
	return x;
}

static struct stanza *
mk_nsattrs(void)
{
	struct stanza *m = stanza_new("jabber:server", "message"), *c, *d;

	stanza_set_attr_ns(m, STANZA_NS_XML, "lang", "en");
	stanza_set_attr_ns(m, "urn:a", "k", "1");
	stanza_set_attr_ns(m, "urn:a", "l", "2");
	stanza_set_attr_ns(m, "urn:b", "k", "3");
	c = stanza_add_child(m, NULL, "c");
	stanza_set_attr_ns(c, "urn:a", "m", "4");
	d = stanza_add_child(c, NULL, "d");
	stanza_set_attr_ns(d, "urn:c", "n", "5");
	stanza_add_child(m, NULL, "e");
	return m;
}

static struct stanza *
mk_escape(void)
{
	struct stanza *b = stanza_new("jabber:server", "body");

	stanza_set_attr(b, "v", "a'b\"c<d>e&f\tg\nh\ri");
	stanza_add_text(b, "<&>]]>\r\n\"'\x01z");
	return b;
}

struct ser_case {
	struct stanza *(*make)(void);
	const char *content_ns;
	const char *expect;
};

static const struct ser_case ser_cases[] = {
    {mk_message, "jabber:server",
     "<message to='a@b' type='chat'><body>hi &amp; &lt;you&gt;</body>"
     "</message>"},
    {mk_message, "jabber:component:accept",
     "<message xmlns='jabber:server' to='a@b' type='chat'><body>hi &amp; "
     "&lt;you&gt;</body></message>"},
    {mk_message, NULL,
     "<message xmlns='jabber:server' to='a@b' type='chat'><body>hi &amp; "
     "&lt;you&gt;</body></message>"},
    {mk_foreign, "jabber:server",
     "<iq type='get'><query xmlns='jabber:iq:version'><name/><x "
     "xmlns='urn:x'><back xmlns='jabber:server'/></x></query><tail/></iq>"},
    {mk_nons, "jabber:server", "<x xmlns=''><y/><z xmlns='urn:z'/></x>"},
    {mk_nons, NULL, "<x><y/><z xmlns='urn:z'/></x>"},
    {mk_nons, "", "<x><y/><z xmlns='urn:z'/></x>"},
    {mk_nsattrs, "jabber:server",
     "<message xml:lang='en' xmlns:ns0='urn:a' ns0:k='1' ns0:l='2' "
     "xmlns:ns1='urn:b' ns1:k='3'><c ns0:m='4'><d xmlns:ns0='urn:c' "
     "ns0:n='5'/></c><e/></message>"},
    {mk_escape, "jabber:server",
     "<body v='a&apos;b&quot;c&lt;d&gt;e&amp;f&#9;g&#10;h&#13;i'>&lt;&amp;"
     "&gt;]]&gt;&#13;\n\"'\xef\xbf\xbdz</body>"},
};

START_TEST(test_serialize)
{
	const struct ser_case *c = &ser_cases[_i];
	struct stanza *st = c->make(), *back;
	char *out = ser(st, c->content_ns), *hdr, *d1, *d2;

	ck_assert_str_eq(out, c->expect);
	/* And it means the same inside such a stream (the escape case lost
	 * its control character on purpose: XML cannot carry it). */
	if (c->make != mk_escape && c->content_ns != NULL) {
		hdr = xasprintf("<stream:stream xmlns='%s' xmlns:stream='%s'>",
		                c->content_ns, NS_STREAMS);
		back = parse(hdr, out);
		d1 = dump(st);
		d2 = dump(back);
		ck_assert_str_eq(d1, d2);
		free(d1);
		free(d2);
		free(hdr);
		stanza_free(back);
	}
	free(out);
	stanza_free(st);
}
END_TEST

/* ---- parse -> serialize -> parse ---- */

static const char *const roundtrip_cases[] = {
    "<message to='a@b' type='chat' xml:lang='en'><body>caf&#233; &#x1F600; "
    "&lt;&amp;&gt;&quot;&apos;</body></message>",
    "<message><body><![CDATA[<b>x</b> & ]]></body><x xmlns='urn:x'>t<y "
    "a='&#10;&#9;&#13; x'/>u</x></message>",
    "<presence xmlns:p='urn:p' p:a='1'><x xmlns:p='urn:q' p:a='2'><y "
    "xmlns:p='urn:p' p:a='3'/></x></presence>",
    "<message><x xmlns=''><y/><z xmlns='jabber:server'/></x></message>",
    "<iq xmlns='jabber:client' type='get'><q xmlns:a='urn:a' xmlns:b='urn:b' "
    "a:x='1' b:x='2' x='3'/></iq>",
    "<message><html xmlns='http://jabber.org/protocol/xhtml-im'><body "
    "xmlns='http://www.w3.org/1999/xhtml'><p style='a:b'>x <em>y</em></p>"
    "</body></html></message>",
    "<result xmlns='jabber:server:dialback' from='a' to='b'>k</result>",
    "<message>\r\n  <body>\r\n</body>\n</message>",
    "<xmlns><xmlns xmlns:xmlnsfoo='urn:x' xmlnsfoo:a='1'/></xmlns>",
    "<m xmlns:ns0='urn:x' xmlns:ns1='urn:y' ns1:a='1' ns0:b='2'><n "
    "xmlns:ns1='urn:z' ns1:a='3' ns0:c='4'/></m>",
    "<message><xml:x xml:lang='en'><y/>t</xml:x><xml:e/></message>",
};

START_TEST(test_roundtrip)
{
	struct stanza *st = parse(HDR_SERVER, roundtrip_cases[_i]), *back;
	char *out = ser(st, "jabber:server"), *d1 = dump(st), *d2;

	back = parse(HDR_SERVER, out);
	d2 = dump(back);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	free(out);
	stanza_free(back);
	stanza_free(st);
}
END_TEST

/* The prefix of a reused binding cannot be redeclared for another URI on
 * the same element, whichever attribute comes first. */
START_TEST(test_prefix_conflict)
{
	struct stanza *x = stanza_new("jabber:server", "x"), *y, *back;
	char *out, *d1, *d2;

	stanza_set_attr_ns(x, "urn:1", "a", "1");
	y = stanza_add_child(x, NULL, "y");
	stanza_set_attr_ns(y, "urn:1", "c", "3");
	stanza_set_attr_ns(y, "urn:2", "b", "2");
	out = ser(x, "jabber:server");
	ck_assert_str_eq(out, "<x xmlns:ns0='urn:1' ns0:a='1'><y ns0:c='3' "
	                      "xmlns:ns1='urn:2' ns1:b='2'/></x>");
	back = parse(HDR_SERVER, out);
	d1 = dump(x);
	d2 = dump(back);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	free(out);
	stanza_free(back);
	stanza_free(x);
}
END_TEST

/* Trees far deeper than any parsed stanza do not use the C stack. */
START_TEST(test_deep)
{
	struct stanza *root = stanza_new("jabber:server", "m"), *n = root, *cp;
	struct util_buf out = {0};
	int i;

	for (i = 0; i < 200000; i++)
		n = stanza_add_child(n, NULL, "e");
	stanza_add_text(n, "x");
	cp = stanza_copy(root);
	stanza_serialize(cp, "jabber:server", &out);
	ck_assert_uint_eq(out.len, 3 + 200000 * 7 + 1 + 4);
	util_buf_free(&out);
	stanza_free(cp);
	stanza_free(root);
}
END_TEST

/* ---- raw bytes ---- */

static void
mut_set_attr(struct stanza *st)
{
	stanza_set_attr(stanza_child(st, NULL, "body"), "x", "1");
}

static void
mut_del_attr(struct stanza *st)
{
	stanza_del_attr(st, "to");
}

static void
mut_add_child(struct stanza *st)
{
	stanza_add_child(stanza_child(st, NULL, "body"), NULL, "b");
}

static void
mut_add_text(struct stanza *st)
{
	stanza_add_text(st, " ");
}

static void
mut_rename_child(struct stanza *st)
{
	stanza_rename_ns(stanza_child(st, NULL, "body"), "jabber:server",
	                 "urn:other");
}

static void (*const mutations[])(struct stanza *) = {
    mut_set_attr, mut_del_attr, mut_add_child, mut_add_text,
    mut_rename_child,
};

START_TEST(test_raw_dropped)
{
	const char *xml = "<message to='a@b'><body>hi</body></message>";
	struct stanza *st = parse(HDR_SERVER, xml);
	struct util_buf out = {0};
	size_t len;

	ck_assert_str_eq(stanza_raw(st, &len), xml);
	ck_assert(stanza_raw_is_safe(st));
	mutations[_i](st);
	ck_assert_ptr_null(stanza_raw(st, &len));
	ck_assert_uint_eq(len, 0);
	ck_assert(!stanza_raw_is_safe(st));
	stanza_write(st, "jabber:server", &out);
	ck_assert_str_ne(out.data, xml);
	util_buf_free(&out);
	stanza_free(st);
}
END_TEST

START_TEST(test_raw_kept)
{
	const char *xml = "<message to='a@b'><body>hi</body></message>";
	struct stanza *st = parse(HDR_SERVER, xml);

	/* Deleting what is not there and renaming an absent namespace change
	 * nothing. */
	stanza_del_attr(st, "from");
	stanza_rename_ns(st, "urn:absent", "urn:other");
	ck_assert_str_eq(stanza_raw(st, NULL), xml);
	stanza_free(st);
	/* Unsafe raw bytes do not survive a rename. */
	st = parse(HDR_SERVER, "<message xmlns='jabber:server'><body/></message>");
	ck_assert(!stanza_raw_is_safe(st));
	ck_assert_ptr_nonnull(stanza_raw(st, NULL));
	stanza_rename_ns(st, "jabber:server", "jabber:client");
	ck_assert_ptr_null(stanza_raw(st, NULL));
	stanza_free(st);
}
END_TEST

/* ---- bounces and error replies ---- */

struct bounce_case {
	const char *hdr;
	const char *xml;
	bool bounce;
};

#define HDR_CLIENT                                                             \
	"<stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS "'>"
#define HDR_COMP                                                               \
	"<stream:stream xmlns='jabber:component:accept' xmlns:stream='"     \
	NS_STREAMS "'>"

static const struct bounce_case bounce_cases[] = {
    {HDR_SERVER, "<message/>", true},
    {HDR_SERVER, "<message type='chat'/>", true},
    {HDR_SERVER, "<message type='groupchat'/>", true},
    {HDR_SERVER, "<message type='headline'/>", true},
    {HDR_SERVER, "<message type='error'/>", false},
    {HDR_SERVER, "<iq type='get'/>", true},
    {HDR_SERVER, "<iq type='set'/>", true},
    {HDR_SERVER, "<iq type='result'/>", false},
    {HDR_SERVER, "<iq type='error'/>", false},
    {HDR_SERVER, "<iq/>", false},
    {HDR_SERVER, "<presence/>", false},
    {HDR_SERVER, "<presence type='unavailable'/>", false},
    {HDR_SERVER, "<presence type='probe'/>", false},
    {HDR_SERVER, "<presence type='error'/>", false},
    {HDR_SERVER, "<presence type='subscribe'/>", true},
    {HDR_SERVER, "<presence type='subscribed'/>", true},
    {HDR_SERVER, "<presence type='unsubscribe'/>", true},
    {HDR_SERVER, "<presence type='unsubscribed'/>", true},
    {HDR_CLIENT, "<message type='chat'/>", true},
    {HDR_COMP, "<iq type='get'/>", true},
    {HDR_SERVER, "<db:result xmlns:db='jabber:server:dialback'/>", false},
    {HDR_SERVER, "<message xmlns='urn:other'/>", false},
    {HDR_SERVER, "<stream:error xmlns:stream='" NS_STREAMS "'/>", false},
};

START_TEST(test_bounceable)
{
	const struct bounce_case *c = &bounce_cases[_i];
	struct stanza *st = parse(c->hdr, c->xml);

	ck_assert(stanza_is_bounceable(st) == c->bounce);
	/* A child is never a stanza. */
	ck_assert(!stanza_is_bounceable(stanza_add_child(st, NULL, "message")));
	stanza_free(st);
}
END_TEST

struct reply_case {
	const char *in;
	const char *type;
	const char *cond;
	const char *text;
	const char *expect;
};

static const struct reply_case reply_cases[] = {
    {"<message from='a@x.example/r' to='b@y.example' id='m1' type='chat'>"
     "<body>hi</body></message>",
     "cancel", "service-unavailable", "gone & away",
     "<message to='a@x.example/r' from='b@y.example' id='m1' type='error'>"
     "<error type='cancel'><service-unavailable "
     "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "
     "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>gone &amp; "
     "away</text></error></message>"},
    {"<iq from='x.example' to='y.example' id='q' type='get'><ping "
     "xmlns='urn:xmpp:ping'/></iq>",
     "wait", "remote-server-timeout", NULL,
     "<iq to='x.example' from='y.example' id='q' type='error'><error "
     "type='wait'><remote-server-timeout "
     "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"},
    {"<presence to='c@y.example' type='subscribe'/>", "cancel",
     "remote-server-not-found", NULL,
     "<presence from='c@y.example' type='error'><error type='cancel'>"
     "<remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
     "</error></presence>"},
};

START_TEST(test_error_reply)
{
	const struct reply_case *c = &reply_cases[_i];
	struct stanza *st = parse(HDR_SERVER, c->in), *r;
	char *out;

	r = stanza_error_reply(st, c->type, c->cond, c->text);
	ck_assert_ptr_null(stanza_raw(r, NULL));
	ck_assert(!stanza_is_bounceable(r));
	out = ser(r, "jabber:server");
	ck_assert_str_eq(out, c->expect);
	free(out);
	/* In a component stream the reply keeps its namespace. */
	out = ser(r, "jabber:component:accept");
	ck_assert_ptr_nonnull(strstr(out, " xmlns='jabber:server'"));
	free(out);
	stanza_free(r);
	stanza_free(st);
}
END_TEST

/* ---- programming errors are fatal (abort) ---- */

START_TEST(test_fatal_free_child)
{
	struct stanza *m = stanza_new("jabber:server", "message");

	stanza_free(stanza_add_child(m, NULL, "body"));
}
END_TEST

START_TEST(test_fatal_xmlns_attr)
{
	struct stanza *m = stanza_new("jabber:server", "message");

	stanza_set_attr(m, "xmlns", "urn:x");
}
END_TEST

START_TEST(test_fatal_bad_name)
{
	stanza_new("jabber:server", "a:b");
}
END_TEST

START_TEST(test_fatal_error_type)
{
	struct stanza *m = stanza_new("jabber:server", "message");

	stanza_error_reply(m, "fatal", "bad-request", NULL);
}
END_TEST

static Suite *
stanza_suite(void)
{
	Suite *s = suite_create("stanza");
	TCase *tc = tcase_create("tree");

	tcase_add_test(tc, test_build);
	tcase_add_test(tc, test_attrs);
	tcase_add_test(tc, test_copy);
	tcase_add_test(tc, test_deep);
	suite_add_tcase(s, tc);
	tc = tcase_create("serialize");
	tcase_add_loop_test(tc, test_serialize, 0, UTIL_ARRAY_LEN(ser_cases));
	tcase_add_loop_test(tc, test_roundtrip, 0,
	                    UTIL_ARRAY_LEN(roundtrip_cases));
	tcase_add_test(tc, test_prefix_conflict);
	tcase_add_loop_test(tc, test_raw_dropped, 0, UTIL_ARRAY_LEN(mutations));
	tcase_add_test(tc, test_raw_kept);
	suite_add_tcase(s, tc);
	tc = tcase_create("stanzas");
	tcase_add_loop_test(tc, test_bounceable, 0,
	                    UTIL_ARRAY_LEN(bounce_cases));
	tcase_add_loop_test(tc, test_error_reply, 0,
	                    UTIL_ARRAY_LEN(reply_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("fatal");
	tcase_add_test_raise_signal(tc, test_fatal_free_child, SIGABRT);
	tcase_add_test_raise_signal(tc, test_fatal_xmlns_attr, SIGABRT);
	tcase_add_test_raise_signal(tc, test_fatal_bad_name, SIGABRT);
	tcase_add_test_raise_signal(tc, test_fatal_error_type, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(stanza_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
