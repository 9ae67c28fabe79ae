/* check_s2s_truth.c - the security truth table, cell by cell, through the
 * real stream state machine with scripted peers.
 *
 * Outbound: for each of our modes, "require valid certificates", the
 * peer's certificate and what the peer offers (STARTTLS, SASL EXTERNAL,
 * dialback), what the stream ends with. Inbound: the same for a peer that
 * connects to us and tries one way to authenticate. The tables are compared
 * with tests/data/s2s/truth-out.txt and truth-in.txt, which docs/security.md
 * reproduces; the test also checks that the document carries them. Set
 * S2SD_TRUTH_WRITE=1 to print the tables instead of comparing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/util.h"
#include "s2s/dialback.h"
#include "s2s/s2s_sasl.h"
#include "s2s/s2s_stream.h"
#include "tests/lib/testutil.h"
#include "xmpp/stanza.h"

enum peer_cert { PC_VALID, PC_SELF, PC_NAME, PC_EXPIRED, PC_NONE, PC_COUNT };

static const char *const mode_names[] = {"none", "optional", "required"};
static const char *const cert_names[] = {"valid", "self-signed", "wrong-name",
                                         "expired", "none"};

struct cell {
	struct s2s_stream *st;
	enum peer_cert cert;
	struct dialback_secret *secret;
	struct util_buf out;
	bool starttls, ready, closed, verify_asked;
	enum s2s_auth how;
	int err;
	char why[64];
};

static void
c_send(void *arg, const char *buf, size_t len)
{
	util_buf_append(&((struct cell *)arg)->out, buf, len);
}

static void
c_starttls(void *arg)
{
	((struct cell *)arg)->starttls = true;
}

static bool
c_local(void *arg, const char *d)
{
	(void)arg;
	return strcmp(d, "b.test") == 0;
}

static bool
c_allowed(void *arg, const char *r, char *w, size_t n)
{
	(void)arg;
	(void)r;
	(void)w;
	(void)n;
	return true;
}

static void
c_cert(void *arg, const char *domain, struct s2s_cert_check *o)
{
	static const int chain[] = {0, S2SD_ETLS_UNKNOWN_ISSUER, 0,
	                            S2SD_ETLS_EXPIRED, S2SD_ETLS_NOCERT};
	static const int name[] = {0, 0, S2SD_ETLS_NAME, 0, S2SD_ETLS_NOCERT};
	struct cell *c = arg;

	(void)domain;
	o->chain = chain[c->cert];
	o->name = name[c->cert];
	snprintf(o->why, sizeof(o->why), "%s", cert_names[c->cert]);
}

static void
c_auth(void *arg, const char *l, const char *r, enum s2s_auth how)
{
	struct cell *c = arg;

	(void)l;
	(void)r;
	c->ready = true;
	c->how = how;
}

static void
c_stanza(void *arg, struct stanza *st)
{
	(void)arg;
	stanza_free(st);
}

static void
c_key(void *arg, const char *r, const char *o, const char *id, char k[65])
{
	dialback_key(((struct cell *)arg)->secret, r, o, id, k);
}

static void
c_verify(void *arg, const char *l, const char *r, const char *id,
         const char *k)
{
	(void)l;
	(void)r;
	(void)id;
	(void)k;
	((struct cell *)arg)->verify_asked = true;
}

static void
c_vresult(void *arg, const char *l, const char *r, const char *id, bool v,
          int e)
{
	(void)arg;
	(void)l;
	(void)r;
	(void)id;
	(void)v;
	(void)e;
}

static void
c_refused(void *arg, const char *l, const char *r, int e)
{
	(void)arg;
	(void)l;
	(void)r;
	(void)e;
}

static void
c_closed(void *arg, int err, const char *why)
{
	struct cell *c = arg;

	c->closed = true;
	c->err = err;
	snprintf(c->why, sizeof(c->why), "%s", why);
}

static const struct s2s_stream_cbs cell_cbs = {
    c_send, c_starttls, c_local, c_allowed, c_cert, c_auth, c_stanza,
    c_key,  c_verify,   c_vresult, c_refused, c_closed,
};

static void
feed(struct cell *c, const char *s)
{
	if (!c->closed)
		s2s_stream_input(c->st, s, strlen(s), 1);
}

/* A short outcome for the table. */
static void
outcome(const struct cell *c, bool tls, char *out, size_t len)
{
	if (c->ready)
		snprintf(out, len, "%s %s",
		         c->how == S2S_AUTH_EXTERNAL ? "sasl-external"
		                                     : "dialback",
		         tls ? "over-tls" : "in-clear");
	else if (c->closed)
		snprintf(out, len, "refused: %s", err_name(c->err) + 5);
	else
		snprintf(out, len, "refused: no-outcome");
}

#define HDR_OUT                                                                \
	"<stream:stream xmlns='jabber:server' xmlns:stream="                  \
	"'http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' " \
	"from='a.test' to='b.test' id='ID1' version='1.0'>"
#define HDR_OUT_NODB                                                           \
	"<stream:stream xmlns='jabber:server' xmlns:stream="                  \
	"'http://etherx.jabber.org/streams' from='a.test' to='b.test' "       \
	"id='ID1' version='1.0'>"

/* We connect to a peer that offers TLS, EXT and DB as told. */
static void
run_out(int mode, bool valid, enum peer_cert cert, bool tls, bool ext,
        bool db, char *result, size_t len)
{
	struct s2s_stream_opts o = {
	    .role = S2S_ROLE_OUT, .security = (enum s2s_security)mode,
	    .require_valid_certs = valid, .sasl_external = true,
	    .dialback = true, .local = "b.test", .remote = "a.test"};
	struct cell c = {.cert = cert};
	char features[512];

	c.secret = dialback_secret_new("s");
	c.st = s2s_stream_new(&o, &cell_cbs, &c, 1);
	s2s_stream_start(c.st, 1);
	snprintf(features, sizeof(features), "%s<stream:features>%s%s%s"
	         "</stream:features>", db ? HDR_OUT : HDR_OUT_NODB,
	         tls ? "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" : "",
	         "", db ? "<dialback xmlns='urn:xmpp:features:dialback'/>" : "");
	feed(&c, features);
	if (c.out.data != NULL && strstr(c.out.data, "<starttls")) {
		feed(&c, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
		s2s_stream_tls_done(c.st, 0, 1);
		snprintf(features, sizeof(features), "%s<stream:features>%s%s"
		         "</stream:features>", db ? HDR_OUT : HDR_OUT_NODB,
		         ext ? "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
		               "<mechanism>EXTERNAL</mechanism></mechanisms>" : "",
		         db ? "<dialback xmlns='urn:xmpp:features:dialback'/>" : "");
		feed(&c, features);
	}
	if (c.out.data != NULL && strstr(c.out.data, "mechanism='EXTERNAL'")) {
		feed(&c, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
		feed(&c, HDR_OUT "<stream:features/>");
	} else if (c.out.data != NULL && strstr(c.out.data, "<db:result")) {
		feed(&c, "<db:result from='a.test' to='b.test' type='valid'/>");
	}
	outcome(&c, s2s_stream_tls_on(c.st), result, len);
	s2s_stream_free(c.st);
	dialback_secret_free(c.secret);
	util_buf_free(&c.out);
}

#define HDR_IN                                                                 \
	"<stream:stream xmlns='jabber:server' xmlns:stream="                  \
	"'http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' " \
	"from='a.test' to='b.test' version='1.0'>"

/* A peer connects to us, does STARTTLS or not, then tries EXT or DB. */
static void
run_in(int mode, bool valid, enum peer_cert cert, bool tls, bool ext,
       char *result, size_t len)
{
	struct s2s_stream_opts o = {
	    .role = S2S_ROLE_IN, .security = (enum s2s_security)mode,
	    .require_valid_certs = valid, .sasl_external = true,
	    .dialback = true, .tls_available = true};
	struct cell c = {.cert = cert};

	c.secret = dialback_secret_new("s");
	c.st = s2s_stream_new(&o, &cell_cbs, &c, 1);
	s2s_stream_start(c.st, 1);
	feed(&c, HDR_IN);
	if (tls && c.out.data != NULL && strstr(c.out.data, "<starttls")) {
		feed(&c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
		s2s_stream_tls_done(c.st, 0, 1);
		feed(&c, HDR_IN);
	}
	if (ext) {
		util_buf_reset(&c.out);
		feed(&c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
		         "mechanism='EXTERNAL'>=</auth>");
		if (c.out.data != NULL && strstr(c.out.data, "<success"))
			feed(&c, HDR_IN);
		else if (!c.closed)
			snprintf(c.why, sizeof(c.why), "sasl-failure");
	} else {
		feed(&c, "<db:result from='a.test' to='b.test'>k</db:result>");
		if (c.verify_asked)
			s2s_stream_dialback_verified(c.st, "b.test", "a.test",
			                             true, 0, 1);
	}
	if (!c.ready && !c.closed && c.why[0] != '\0')
		snprintf(result, len, "refused: %s", c.why);
	else if (!c.ready && !c.closed && !c.verify_asked && !ext)
		snprintf(result, len, "refused: dialback-error");
	else
		outcome(&c, s2s_stream_tls_on(c.st), result, len);
	s2s_stream_free(c.st);
	dialback_secret_free(c.secret);
	util_buf_free(&c.out);
}

static char *
table_out(void)
{
	struct util_buf t = {0};
	char r[128];
	int m, v, pc, off;

	util_buf_puts(&t, "mode     valid-certs peer-cert   peer-offers  "
	                  "outcome\n");
	for (m = 0; m < 3; m++)
		for (v = 1; v >= 0; v--)
			for (pc = 0; pc < PC_COUNT; pc++)
				for (off = 7; off >= 0; off--) {
					run_out(m, v, pc, off & 4, off & 2, off & 1,
					        r, sizeof(r));
					util_buf_printf(&t, "%-8s %-11s %-11s %s %s "
					                "%s     %s\n", mode_names[m],
					                v ? "on" : "off", cert_names[pc],
					                off & 4 ? "TLS" : "---",
					                off & 2 ? "EXT" : "---",
					                off & 1 ? "DB" : "--", r);
				}
	return util_buf_steal(&t, NULL);
}

static char *
table_in(void)
{
	static const char *const tries[] = {"starttls+external",
	                                    "starttls+dialback",
	                                    "clear+external", "clear+dialback"};
	struct util_buf t = {0};
	char r[128];
	int m, v, pc, k;

	util_buf_puts(&t, "mode     valid-certs peer-cert   peer-tries         "
	                  "outcome\n");
	for (m = 0; m < 3; m++)
		for (v = 1; v >= 0; v--)
			for (pc = 0; pc < PC_COUNT; pc++)
				for (k = 0; k < 4; k++) {
					run_in(m, v, pc, k < 2, k % 2 == 0, r,
					       sizeof(r));
					util_buf_printf(&t, "%-8s %-11s %-11s %-18s %s\n",
					                mode_names[m], v ? "on" : "off",
					                cert_names[pc], tries[k], r);
				}
	return util_buf_steal(&t, NULL);
}

static void
compare(const char *name, char *got)
{
	char *path = testutil_data_path(name), *want, *doc, *docpath;

	if (getenv("S2SD_TRUTH_WRITE") != NULL) {
		printf("%s", got);
	} else {
		want = testutil_read_file(path, NULL);
		ck_assert_msg(strcmp(got, want) == 0, "%s differs; got:\n%s",
		              name, got);
		docpath = testutil_src_path("docs/security.md");
		doc = testutil_read_file(docpath, NULL);
		ck_assert_msg(strstr(doc, want) != NULL, "docs/security.md does "
		              "not carry %s verbatim", name);
		free(doc);
		free(docpath);
		free(want);
	}
	free(got);
	free(path);
}

START_TEST(test_outbound)
{
	compare("s2s/truth-out.txt", table_out());
}
END_TEST

START_TEST(test_inbound)
{
	compare("s2s/truth-in.txt", table_in());
}
END_TEST

static void
setup(void)
{
	char why[200];

	log_set_level(-1, LOG_LEVEL_ERROR);
	ck_assert_int_eq(s2s_sasl_init(why, sizeof(why)), 0);
}

static void
teardown(void)
{
	s2s_sasl_done();
}

static Suite *
truth_suite(void)
{
	Suite *s = suite_create("s2s_truth");
	TCase *tc = tcase_create("truth");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_outbound);
	tcase_add_test(tc, test_inbound);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(truth_suite());
}
