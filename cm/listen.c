/* listen.c - TCP listeners; see listen.h. */
#include "cm/listen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/log.h"
#include "cm/util.h"

#define LISTEN_BACKLOG 511

struct listen_one {
	uv_tcp_t tcp;
	struct listen_set *set;
	char addr[INET6_ADDRSTRLEN + 8];
};

struct listen_set {
	char *name;
	listen_accept_cb *cb;
	void *arg;
	struct listen_one *items;
	size_t n;
	size_t open;            /* handles not yet closed */
};

void
listen_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		uv_ip6_name(s6, host, sizeof(host));
		snprintf(buf, len, "[%s]:%d", host, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		uv_ip4_name(s4, host, sizeof(host));
		snprintf(buf, len, "%s:%d", host, ntohs(s4->sin_port));
	} else {
		snprintf(buf, len, "unknown");
	}
}

static void
listen_on_connection(uv_stream_t *server, int status)
{
	struct listen_one *one = server->data;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char peer[INET6_ADDRSTRLEN + 8];
	uv_tcp_t *client;
	int rc;

	if (status < 0) {
		log_warnx(LOG_SUB_CM, 0, "accept failed listener=%s error=%s",
		          one->addr, uv_strerror(status));
		return;
	}
	client = xmalloc(sizeof(*client));
	uv_tcp_init(server->loop, client);
	if ((rc = uv_accept(server, (uv_stream_t *)client)) < 0) {
		log_warnx(LOG_SUB_CM, 0, "accept failed listener=%s error=%s",
		          one->addr, uv_strerror(rc));
		uv_close((uv_handle_t *)client, (uv_close_cb)free);
		return;
	}
	if (uv_tcp_getpeername(client, (struct sockaddr *)&ss, &sslen) < 0)
		snprintf(peer, sizeof(peer), "unknown");
	else
		listen_format_addr((struct sockaddr *)&ss, peer, sizeof(peer));
	one->set->cb(one->set->arg, client, peer);
}

static int
listen_bind_one(uv_loop_t *loop, struct listen_one *one, const char *addr,
                char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss), port, rc;
	char host[256], spec[300];
	size_t len = strlen(addr);
	bool any_port = len > 2 && strcmp(addr + len - 2, ":0") == 0;
	unsigned flags = 0;

	/* Initialised first: the caller closes every handle up to this one. */
	uv_tcp_init(loop, &one->tcp);
	one->tcp.data = one;
	/* "host:0" asks for any free port (tests); the parser refuses port 0
	 * everywhere else, so strip it here. */
	snprintf(spec, sizeof(spec), "%.*s", (int)(any_port ? len - 2 : len),
	         addr);
	if (util_parse_hostport(spec, 5269, host, sizeof(host), &port) < 0 ||
	    (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) < 0 &&
	     uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) < 0)) {
		snprintf(why, whylen, "%s: not an IP address and port", addr);
		return UV_EINVAL;
	}
	if (any_port)
		((struct sockaddr_in *)&ss)->sin_port = 0;  /* same offset in v6 */
	/* [::] and 0.0.0.0 side by side: the IPv6 socket takes IPv6 only. */
	if (ss.ss_family == AF_INET6)
		flags = UV_TCP_IPV6ONLY;
	if ((rc = uv_tcp_bind(&one->tcp, (struct sockaddr *)&ss, flags)) == 0)
		rc = uv_listen((uv_stream_t *)&one->tcp, LISTEN_BACKLOG,
		               listen_on_connection);
	if (rc < 0) {
		snprintf(why, whylen, "%s: %s", addr, uv_strerror(rc));
		return rc;
	}
	uv_tcp_getsockname(&one->tcp, (struct sockaddr *)&ss, &sslen);
	listen_format_addr((struct sockaddr *)&ss, one->addr,
	                   sizeof(one->addr));
	return 0;
}

static void
listen_set_free(struct listen_set *set)
{
	free(set->items);
	free(set->name);
	free(set);
}

static void
listen_on_close(uv_handle_t *h)
{
	struct listen_one *one = h->data;

	if (--one->set->open == 0)
		listen_set_free(one->set);
}

int
listen_open(uv_loop_t *loop, const char *name, const char *const *addrs,
            listen_accept_cb *cb, void *arg, struct listen_set **out,
            char *why, size_t whylen)
{
	struct listen_set *set = xcalloc(1, sizeof(*set));
	size_t n = 0;
	int rc = 0;

	while (addrs[n] != NULL)
		n++;
	set->name = xstrdup(name);
	set->cb = cb;
	set->arg = arg;
	set->items = xcalloc(n, sizeof(*set->items));
	for (set->n = 0; set->n < n && rc == 0; set->n++) {
		set->items[set->n].set = set;
		rc = listen_bind_one(loop, &set->items[set->n], addrs[set->n],
		                     why, whylen);
	}
	if (rc < 0) {
		listen_close(set);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		log_info(LOG_SUB_CM, 0, "listening service=%s addr=%s", name,
		         set->items[i].addr);
	*out = set;
	return 0;
}

void
listen_close(struct listen_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	if (set->n == 0) {
		listen_set_free(set);
		return;
	}
	set->open = set->n;
	for (i = 0; i < set->n; i++)
		uv_close((uv_handle_t *)&set->items[i].tcp, listen_on_close);
}

const char *
listen_addr(const struct listen_set *set, size_t i)
{
	return set->items[i].addr;
}

size_t
listen_count(const struct listen_set *set)
{
	return set->n;
}
