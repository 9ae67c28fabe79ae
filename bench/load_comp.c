/* load_comp.c - the tool's XEP-0114 component side (source and sink of the
 * relay and fan-in modes): stream header, <handshake>hex SHA-1(stream id +
 * secret)</handshake>, then a scan for complete <message> elements. A
 * string scan, not an XML parser: the servers under test send well-formed
 * XML, and the tool must stay much cheaper than they are. See load.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "bench/load.h"

enum comp_state { CS_CONNECT, CS_HEADER, CS_HANDSHAKE, CS_READY };

static void
comp_fail(struct load_comp *cp, const char *why)
{
	if (cp->failed)
		return;
	cp->failed = true;
	if (cp->on_fail != NULL)
		cp->on_fail(cp, why);
}

static void
send_header(struct load_comp *cp)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "<?xml version='1.0'?><stream:stream "
	             "xmlns='jabber:component:accept' xmlns:stream="
	             "'http://etherx.jabber.org/streams' to='%s'>", cp->name);
	load_conn_write(&cp->c, buf, (size_t)n);
	cp->st = CS_HEADER;
}

/* The server's header carries the stream id: answer with the handshake. */
static void
comp_header(struct load_comp *cp)
{
	struct util_buf *in = &cp->c.in;
	char id[256], hex[41], buf[128], *p, *end;
	struct util_buf b = { 0 };
	uint8_t dig[20];
	int n;

	if ((p = strstr(in->data, "<stream:stream")) == NULL ||
	    (end = strchr(p, '>')) == NULL)
		return;
	if (!load_attr(p + 1, end, "id", id, sizeof(id))) {
		comp_fail(cp, "no stream id in the server's header");
		return;
	}
	util_buf_puts(&b, id);
	util_buf_puts(&b, cp->secret);
	gnutls_hash_fast(GNUTLS_DIG_SHA1, b.data, b.len, dig);
	util_buf_free(&b);
	util_hex(dig, sizeof(dig), hex);
	n = snprintf(buf, sizeof(buf), "<handshake>%s</handshake>", hex);
	load_conn_write(&cp->c, buf, (size_t)n);
	util_buf_consume(in, (size_t)(end + 1 - in->data));
	cp->st = CS_HANDSHAKE;
}

static void
comp_ready(struct load_comp *cp)
{
	cp->st = CS_READY;
	cp->ready = true;
	if (cp->on_ready != NULL)
		cp->on_ready(cp);
}

static void
comp_handshake(struct load_comp *cp)
{
	struct util_buf *in = &cp->c.in;
	char *p, *end;

	if (strstr(in->data, "<stream:error") != NULL) {
		fprintf(stderr, "load: %s said: %.300s\n", cp->addr, in->data);
		comp_fail(cp, "stream error during the component handshake");
		return;
	}
	if ((p = strstr(in->data, "<handshake")) == NULL ||
	    (end = strchr(p, '>')) == NULL)
		return;
	util_buf_consume(in, (size_t)(end + 1 - in->data));
	comp_ready(cp);
}

static void
comp_message(struct load_comp *cp, const char *p, const char *stag,
             const char *end)
{
	char id[64], type[16];
	uint64_t seq = 0, t = 0;
	bool err;

	err = load_attr(p + 1, stag, "type", type, sizeof(type)) &&
	      strcmp(type, "error") == 0;
	if (!load_attr(p + 1, stag, "id", id, sizeof(id)) ||
	    sscanf(id, "%" SCNu64 ".%" SCNu64, &seq, &t) != 2)
		seq = t = 0;
	cp->on_msg(cp, err, seq, t, p, (size_t)(end - p));
}

/* Hand over every complete <message> in the input; keep a partial one. */
static void
comp_scan(struct load_comp *cp)
{
	struct util_buf *in = &cp->c.in;
	char *p = in->data, *stag, *end;
	size_t keep;

	if ((p = strstr(in->data, "<stream:error")) != NULL) {
		fprintf(stderr, "load: %s said: %.300s\n", cp->addr, p);
		comp_fail(cp, "stream error");
		return;
	}
	p = in->data;
	while ((p = strstr(p, "<message")) != NULL) {
		if ((stag = strchr(p, '>')) == NULL)
			break;
		if (stag[-1] == '/')
			end = stag + 1;
		else if ((end = strstr(stag, "</message>")) != NULL)
			end += strlen("</message>");
		else
			break;
		comp_message(cp, p, stag, end);
		if (cp->c.closing)
			return;
		p = end;
	}
	if (p != NULL) {
		util_buf_consume(in, (size_t)(p - in->data));
		return;
	}
	/* nothing open: keep a tail that may begin a "<message" */
	keep = in->len < 16 ? in->len : 16;
	util_buf_consume(in, in->len - keep);
}

static void
comp_data(struct load_conn *c, int status)
{
	struct load_comp *cp = c->arg;

	(void)status;
	if (cp->st == CS_HEADER)
		comp_header(cp);
	if (cp->st == CS_HANDSHAKE)
		comp_handshake(cp);
	if (cp->st == CS_READY && !cp->failed)
		comp_scan(cp);
}

static void
comp_end(struct load_conn *c, int status)
{
	(void)status;
	comp_fail(c->arg, "the server closed the connection");
}

static void
comp_closed(struct load_conn *c)
{
	struct load_comp *cp = c->arg;

	if (cp->on_close != NULL)
		cp->on_close(cp);
}

static void
comp_connected(struct load_conn *c, int status)
{
	struct load_comp *cp = c->arg;

	if (status < 0) {
		fprintf(stderr, "load: connect %s: %s\n", cp->addr,
		        uv_strerror(status));
		comp_fail(cp, "connect failed");
		return;
	}
	if (cp->raw)
		comp_ready(cp);
	else
		send_header(cp);
}

void
load_comp_init(struct load_comp *cp, uv_loop_t *loop, void *arg)
{
	load_conn_init(&cp->c, loop, cp);
	cp->arg = arg;
	cp->st = CS_CONNECT;
	cp->c.on_connect = comp_connected;
	cp->c.on_data = comp_data;
	cp->c.on_end = comp_end;
	cp->c.on_close = comp_closed;
}

int
load_comp_connect(struct load_comp *cp)
{
	struct sockaddr_storage ss;
	int e;

	if (load_addr(cp->addr, &ss) < 0) {
		fprintf(stderr, "load: bad address %s\n", cp->addr);
		return -1;
	}
	if ((e = load_conn_connect(&cp->c, (struct sockaddr *)&ss, NULL)) < 0) {
		fprintf(stderr, "load: connect %s: %s\n", cp->addr, uv_strerror(e));
		return -1;
	}
	return 0;
}

void
load_comp_accepted(struct load_comp *cp)
{
	if (load_conn_start(&cp->c) < 0) {
		comp_fail(cp, "accept failed");
		return;
	}
	comp_ready(cp);
}
