/* fuzz_component.c - libFuzzer target for a hostile home node: its bytes
 * go through the router's link handling (router/component.c and the
 * routing rules of router_route.c) on an in-memory transport, no socket.
 *
 * The first input byte picks the setting: bit 0 authenticates the link
 * first (a valid header and handshake the fuzzer could never guess), bit 1
 * turns email federation on, bit 2 sets the grace period to zero, bits 3-5
 * cut the rest into reads of 1..8 * 64 bytes. The clock moves between reads
 * so grace and handshake time-outs fire. Invariants: whatever the router
 * sends towards S2S is in jabber:server and comes from a local domain. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "cm/log.h"
#include "cm/util.h"
#include "router/directory.h"
#include "router/router.h"
#include "router/router_int.h"
#include "xmpp/jid.h"
#include "xmpp/stanza.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char dir_text[] =
    "example.com node1\n"
    "alice@example.com node2 email=alice.smith@mail.example.com\n"
    "bob@example.com email=bob@mail.example.com\n"
    "conference.example.com node2\n";

static struct router_home homes[] = {{"node1", "s1"}, {"node2", "s2"}};

struct fz {
	struct router_link *l;
	struct util_buf out;
	bool close_asked;
	uint64_t now;
};

static bool
fz_is_local(void *arg, const char *domain)
{
	(void)arg;
	return strcmp(domain, "example.com") == 0 ||
	       strcmp(domain, "mail.example.com") == 0 ||
	       strcmp(domain, "conference.example.com") == 0;
}

static void
fz_to_remote(void *arg, struct stanza *st)
{
	const char *from = stanza_attr(st, "from");
	struct jid *j = NULL;

	if (strcmp(stanza_ns(st), "jabber:server") != 0 || from == NULL ||
	    jid_parse(from, strlen(from), &j, NULL, 0) < 0 ||
	    !fz_is_local(arg, jid_domain(j)))
		abort();
	jid_free(j);
	stanza_free(st);
}

static void
fz_write(void *t, const char *buf, size_t len)
{
	struct fz *f = t;

	if (f->close_asked)
		abort();        /* no write after close */
	if (f->out.len < 65536)
		util_buf_append(&f->out, buf, len);
}

static void
fz_close(void *t)
{
	((struct fz *)t)->close_asked = true;
}

static const struct router_transport fz_ops = {fz_write, fz_close};

static uint64_t
fz_clock(void *arg)
{
	return ((struct fz *)arg)->now;
}

static void
fz_authenticate(struct fz *f)
{
	static const char hdr[] =
	    "<stream:stream xmlns='jabber:component:accept' xmlns:stream="
	    "'http://etherx.jabber.org/streams' to='node2'>";
	char buf[128], hex[41], id[33];
	unsigned char d[20];
	const char *p;

	router__link_input(f->l, hdr, strlen(hdr));
	if ((p = strstr(f->out.data, " id='")) == NULL)
		abort();
	snprintf(id, sizeof(id), "%.32s", p + 5);
	snprintf(buf, sizeof(buf), "%ss2", id);
	gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, strlen(buf), d);
	util_hex(d, sizeof(d), hex);
	snprintf(buf, sizeof(buf), "<handshake>%s</handshake>", hex);
	router__link_input(f->l, buf, strlen(buf));
	if (strstr(f->out.data, "<handshake/>") == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct router_cbs cbs = {fz_is_local, fz_to_remote, NULL, NULL};
	struct router_opts o = {0};
	struct util_buf errors = {0};
	struct directory *dir = NULL;
	struct router *r = NULL;
	struct fz f = {.now = 1000};
	uv_loop_t loop;
	size_t off = 1, chunk;
	char why[256];

	if (size < 1)
		return 0;
	log_set_level(-1, LOG_LEVEL_ERROR);
	if (uv_loop_init(&loop) != 0 ||
	    directory_parse("fuzz", dir_text, &dir, &errors) != 0)
		abort();
	o.homes = homes;
	o.nhomes = 2;
	o.dir = dir;
	o.email_federation = data[0] & 2;
	o.grace_ms = (data[0] & 4) ? 0 : 5000;
	o.queue_max_stanzas = 16;
	o.handshake_timeout_ms = 3000;
	if (router_new(&loop, &o, &cbs, NULL, &r, why, sizeof(why)) != 0)
		abort();
	router__set_clock(r, fz_clock, &f);
	f.l = router__attach(r, &fz_ops, &f, "fuzz");
	if (data[0] & 1)
		fz_authenticate(&f);
	chunk = 64 * (1 + ((data[0] >> 3) & 7));
	while (off < size && !f.close_asked) {
		size_t n = size - off < chunk ? size - off : chunk;

		router__link_input(f.l, data + off, n);
		off += n;
		f.now += 700;
		router__tick(r);
	}
	router_close(r, NULL, NULL);
	router__link_gone(f.l);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		abort();
	directory_unref(dir);
	util_buf_free(&f.out);
	util_buf_free(&errors);
	return 0;
}
