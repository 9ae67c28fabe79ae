/* fuzz_metrics_http.c - libFuzzer target for the metrics endpoint's request
 * parser: any bytes, parsed as a stream of pipelined requests the way the
 * server consumes them, never read past the input, always a known status,
 * and the same answer for every prefix that already decides; each answer
 * is rendered as a response. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm/metrics.h"
#include "cm/metrics_http.h"
#include "cm/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_request(const char *buf, size_t len, size_t used,
              const struct metrics_http_request *req)
{
	struct metrics_http_request again;
	struct util_buf out = {0};

	if (used > len)
		abort();
	if (req->status != 200 && req->status != 400 && req->status != 404 &&
	    req->status != 405 && req->status != 431 && req->status != 505)
		abort();
	if (req->status >= 400 && req->status != 404 && req->status != 405 &&
	    (req->keep_alive || used != len))
		abort();    /* errors close the connection */
	/* The head alone decides: parsing exactly it gives the same. */
	if (req->status < 400 || req->status == 404 || req->status == 405) {
		if (metrics_http_parse(buf, used, &again) != used ||
		    again.status != req->status ||
		    again.keep_alive != req->keep_alive)
			abort();
	}
	metrics_http_respond(req, &out);
	if (out.len < 17 || memcmp(out.data, "HTTP/1.1 ", 9) != 0)
		abort();
	util_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct metrics_http_request req;
	size_t off = 0, used;

	while (off < size) {
		/* The server never holds more than a head's worth. */
		size_t len = size - off < METRICS_HTTP_HEAD_MAX
		                 ? size - off : METRICS_HTTP_HEAD_MAX;

		if ((used = metrics_http_parse(buf + off, len, &req)) == 0)
			break;
		check_request(buf + off, len, used, &req);
		if (!req.keep_alive)
			break;
		off += used;
	}
	metrics_reset();
	return 0;
}
