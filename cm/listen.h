/* listen.h - TCP listeners for a list of "host:port" / "[v6]:port" addresses.
 *
 * listen_open() binds and listens on every address or on none (all-or-
 * nothing, so start-up fails before privileges are dropped). Each accepted
 * connection is handed to the accept callback as a uv_tcp_t initialised on
 * the loop: the callback takes it and must eventually uv_close() it and free
 * it with free() (it was allocated with xmalloc). listen_close() stops
 * accepting and frees the set once the handles are closed; no callback runs
 * after it returns. */
#ifndef S2SD_LISTEN_H
#define S2SD_LISTEN_H

#include <stddef.h>
#include <uv.h>

struct listen_set;

/* PEER is the peer address as text ("1.2.3.4:5678", "[::1]:5678"), borrowed. */
typedef void listen_accept_cb(void *arg, uv_tcp_t *client, const char *peer);

/* NAME labels log lines ("s2s", "component"). Returns 0, or a negative code
 * with WHY filled (and nothing bound). */
int listen_open(uv_loop_t *loop, const char *name, const char *const *addrs,
                listen_accept_cb *cb, void *arg, struct listen_set **out,
                char *why, size_t whylen);
void listen_close(struct listen_set *set);      /* NULL ok */
/* "host:port" of listener I as actually bound (port 0 resolved); borrowed. */
const char *listen_addr(const struct listen_set *set, size_t i);
size_t listen_count(const struct listen_set *set);
/* Format a sockaddr as "1.2.3.4:5678" / "[::1]:5678" into BUF. */
void listen_format_addr(const struct sockaddr *sa, char *buf, size_t len);

#endif
