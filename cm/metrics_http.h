/* metrics_http.h - the Prometheus scrape endpoint: a small HTTP/1.1 server
 * on the daemon's loop that answers GET (or HEAD) /metrics with the
 * registry's exposition (metrics.h), and the event-loop lag probe.
 *
 * Everything a client sends is hostile. The request head is parsed by a
 * pure function (no I/O, fed whole buffers, tested and fuzzed on its own):
 * at most METRICS_HTTP_HEAD_MAX bytes, strict request line and header
 * syntax; no request body is read (a request that announces one is
 * answered and the connection closed). A connection gets
 * METRICS_HTTP_TIMEOUT_MS to send a whole head and as long to take a
 * response; at most METRICS_HTTP_MAX_CLIENTS are served at once (more are
 * closed at accept and counted as a limit hit). Keep-alive follows
 * HTTP/1.1 and HTTP/1.0 rules; pipelined requests are answered in order,
 * one at a time.
 *
 * The server also runs a repeating METRICS_HTTP_LAG_MS timer and records
 * how late each tick ran in s2sd_event_loop_lag_seconds.
 *
 * Lifetime: metrics_http_start() binds every address or none (call it
 * before privileges are dropped). metrics_http_stop() closes the listeners,
 * every client and the timer, and calls CB once all handles are closed;
 * the server is gone then. No callback runs before start returns. */
#ifndef S2SD_METRICS_HTTP_H
#define S2SD_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "cm/util.h"

#define METRICS_HTTP_HEAD_MAX 8192
#define METRICS_HTTP_TIMEOUT_MS 10000
#define METRICS_HTTP_MAX_CLIENTS 64
#define METRICS_HTTP_LAG_MS 1000

/* What a request head asks for. */
struct metrics_http_request {
	int status;     /* 200, or the error to answer: 400 404 405 431 505 */
	bool head;      /* HEAD: the headers without the body */
	bool keep_alive;        /* another request may follow */
};

/* Parse the request head at the start of BUF (LEN bytes, borrowed).
 * Returns 0 when the head is incomplete and still valid so far (read more),
 * else the number of bytes the head took, with REQ filled. An invalid or
 * oversized head returns LEN with an error status and keep_alive false. */
size_t metrics_http_parse(const char *buf, size_t len,
                          struct metrics_http_request *req);
/* Append the whole response to REQ to OUT: for 200 the current exposition
 * (collectors run), else a short text error. */
void metrics_http_respond(const struct metrics_http_request *req,
                          struct util_buf *out);

struct metrics_http;

/* Listen on ADDRS ("host:port", NULL-terminated, borrowed; "host:0" picks a
 * free port). Returns 0 with *OUT, or a negative code with WHY filled and
 * nothing bound. */
int metrics_http_start(uv_loop_t *loop, const char *const *addrs,
                       struct metrics_http **out, char *why, size_t whylen);
/* "host:port" of listener I as bound (borrowed), and how many there are. */
const char *metrics_http_addr(const struct metrics_http *m, size_t i);
size_t metrics_http_count(const struct metrics_http *m);
/* Close everything; CB(ARG) (may be NULL) runs from the loop once done. */
void metrics_http_stop(struct metrics_http *m, void (*cb)(void *arg),
                       void *arg);

#endif
