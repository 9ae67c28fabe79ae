/* inbound.c - interim answer to inbound S2S connections; see inbound.h. */
#include "cm/inbound.h"

#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/util.h"

struct inbound_conn {
	uv_tcp_t *tcp;          /* taken from listen.c; freed on close */
	uv_write_t write;
	uv_shutdown_t shutdown;
	uint64_t id;
	char *bytes;
	struct inbound_conn *next, **prevp;
};

static struct inbound_conn *inbound_list;

static void
inbound_on_close(uv_handle_t *h)
{
	struct inbound_conn *c = h->data;

	if (c->next != NULL)
		c->next->prevp = c->prevp;
	*c->prevp = c->next;
	free(c->bytes);
	free(c->tcp);
	free(c);
}

static void
inbound_close(struct inbound_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)c->tcp))
		uv_close((uv_handle_t *)c->tcp, inbound_on_close);
}

static void
inbound_on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	inbound_close(req->data);
}

static void
inbound_on_write(uv_write_t *req, int status)
{
	struct inbound_conn *c = req->data;

	if (status < 0 || uv_is_closing((uv_handle_t *)c->tcp) ||
	    uv_shutdown(&c->shutdown, (uv_stream_t *)c->tcp,
	                inbound_on_shutdown) < 0)
		inbound_close(c);
}

void
inbound_accept(uv_tcp_t *client, const char *peer, const struct config *cfg)
{
	struct inbound_conn *c = xcalloc(1, sizeof(*c));
	unsigned char rnd[16];
	char sid[33];
	uv_buf_t buf;

	(void)cfg;
	c->tcp = client;
	client->data = c;
	c->id = util_connid();
	c->next = inbound_list;
	if (c->next != NULL)
		c->next->prevp = &c->next;
	c->prevp = &inbound_list;
	inbound_list = c;
	util_random(rnd, sizeof(rnd));
	util_hex(rnd, sizeof(rnd), sid);
	c->bytes = xasprintf(
	    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' id='%s' "
	    "version='1.0'><stream:error><undefined-condition "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>inbound federation "
	    "is not available on this server yet</text></stream:error>"
	    "</stream:stream>", sid);
	log_info(LOG_SUB_S2S, c->id, "in refuse peer=%s reason=inbound streams "
	         "not built yet", peer);
	buf = uv_buf_init(c->bytes, (unsigned)strlen(c->bytes));
	c->write.data = c->shutdown.data = c;
	if (uv_write(&c->write, (uv_stream_t *)c->tcp, &buf, 1,
	             inbound_on_write) < 0)
		inbound_close(c);
}

void
inbound_shutdown(void)
{
	struct inbound_conn *c;

	for (c = inbound_list; c != NULL; c = c->next)
		inbound_close(c);
}
