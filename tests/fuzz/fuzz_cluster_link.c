/* fuzz_cluster_link.c - libFuzzer target for a hostile cluster peer: its
 * bytes go into router/cluster_link.c (the router-to-router protocol
 * core), no socket. The first byte picks the setting: bit 0 prefixes a
 * valid header and hello (so the fuzzer reaches forwards, acks and
 * summaries), bit 1 forwards two stanzas of our own first (so acks have
 * something to acknowledge), bits 2-4 cut the rest into reads of 1..8 * 32
 * bytes. Invariants: no callback after closed, forwarded stanzas are
 * message/presence/iq, every unacknowledged stanza comes back once after
 * the close. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/util.h"
#include "router/cluster_link.h"
#include "xmpp/stanza.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	bool closed;
	size_t out;
};

static void
fz_send(void *arg, const char *buf, size_t len)
{
	struct fz *z = arg;

	(void)buf;
	z->out += len;
}

static int
fz_hello(void *arg, const char *node)
{
	struct fz *z = arg;

	if (z->closed)
		abort();
	return strcmp(node, "node-b") == 0 ? 0 : -1;
}

static void
fz_summary(void *arg, const struct cluster_summary *s)
{
	struct fz *z = arg;

	if (z->closed || s->security == NULL || s->policy_digest == NULL)
		abort();
}

static void
fz_home(void *arg, const char *home, bool attached)
{
	struct fz *z = arg;

	(void)attached;
	if (z->closed || home == NULL)
		abort();
}

static void
fz_stanza(void *arg, const char *home, const char *origin, struct stanza *st)
{
	struct fz *z = arg;
	const char *n = stanza_name(st);

	(void)home;
	(void)origin;
	if (z->closed || (strcmp(n, "message") != 0 &&
	                  strcmp(n, "presence") != 0 && strcmp(n, "iq") != 0))
		abort();
	stanza_free(st);
}

static void
fz_closed(void *arg, int err, const char *why)
{
	struct fz *z = arg;

	(void)err;
	if (z->closed || why == NULL)
		abort();
	z->closed = true;
}

static const struct cluster_link_cbs fz_cbs = {
    fz_send, fz_hello, fz_summary, fz_home, fz_stanza, fz_closed};

static const char fz_prefix[] =
    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
    "xmlns='urn:s2sd:cluster:0'><hello node='node-b' "
    "nonce='0102030405060708090a0b0c0d0e0f10'/>";

static void
fz_forward_two(struct cluster_link *l)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct stanza *st = stanza_new("jabber:server", "message");

		stanza_set_attr(st, "to", "a@example.com");
		if (cluster_link_forward(l, "home1", NULL, st) < 0)
			stanza_free(st);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster_link_opts o = {0};
	struct cluster_summary s = {false, "required", true, true, true,
	                            "deny", "00", "secret", false, false};
	struct cluster_fwd *f;
	struct fz z = {0};
	struct cluster_link *l;
	uint8_t nonce[16] = {0};
	size_t chunk, off = 1, n;

	if (size < 1)
		return 0;
	log_set_level(-1, LOG_LEVEL_ERROR);
	o.local = "node-a";
	o.nonce = nonce;
	o.xml.max_stanza = 16384;
	o.max_unacked = 4;
	l = cluster_link_new(&o, &fz_cbs, &z);
	cluster_link_start(l);
	cluster_link_set_summary(l, &s);
	if (data[0] & 1)
		cluster_link_input(l, fz_prefix, sizeof(fz_prefix) - 1);
	if (data[0] & 2)
		fz_forward_two(l);
	chunk = 32u * (((data[0] >> 2) & 7) + 1);
	while (off < size && !z.closed) {
		n = size - off < chunk ? size - off : chunk;
		cluster_link_input(l, data + off, n);
		off += n;
	}
	cluster_link_eof(l, 0);
	n = cluster_link_unacked(l);
	while ((f = cluster_link_pop_unacked(l)) != NULL) {
		n--;
		cluster_fwd_free(f);
	}
	if (n != 0)
		abort();
	cluster_link_free(l);
	return 0;
}
