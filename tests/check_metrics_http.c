/* check_metrics_http.c - cm/metrics_http: the request parser fed whole and
 * by every prefix, responses, and the server on a real loop (keep-alive,
 * pipelining, close, junk, the client limit, the lag probe, stopping). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "cm/metrics.h"
#include "cm/metrics_http.h"
#include "cm/util.h"
#include "tests/lib/testutil.h"

#define FULL ((size_t)-1)       /* the parser consumes the whole input */

static const struct parse_case {
	const char *in;
	int status;
	bool keep_alive;
	bool head;
	size_t used;            /* FULL: all of IN */
} parse_cases[] = {
    {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, true, false, FULL},
    {"GET /metrics HTTP/1.1\nHost: x\n\n", 200, true, false, FULL},
    {"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 200, true, false, FULL},
    {"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, true, true, FULL},
    {"\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, true, false,
     FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200,
     false, false, FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: TE, Close\r\n\r\n",
     200, false, false, FULL},
    {"GET /metrics HTTP/1.0\r\n\r\n", 200, false, false, FULL},
    {"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, true,
     false, FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 200,
     true, false, FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", 200,
     false, false, FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
     200, false, false, FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: \xc3\xa9 \t\r\n\r\n", 200,
     true, false, FULL},
    /* Routing. */
    {"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, true, false, FULL},
    {"GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n", 404, true, false, FULL},
    {"GET http://x/metrics HTTP/1.1\r\nHost: x\r\n\r\n", 404, true, false,
     FULL},
    {"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405, true, false, FULL},
    {"get /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405, true, false, FULL},
    {"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 505, false, false, FULL},
    /* Junk. */
    {"junk\r\n\r\n", 400, false, false, FULL},
    {"GET  /metrics HTTP/1.1\r\n\r\n", 400, false, false, FULL},
    {"GET /metrics HTTP/1.1 \r\n\r\n", 400, false, false, FULL},
    {"GET /met\x01rics HTTP/1.1\r\n\r\n", 400, false, false, FULL},
    {"GET /metrics HTTP/1.1\r\n\r\n", 400, false, false, FULL},  /* Host */
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, false,
     false, FULL},
    {"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400, false, false, FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, false,
     false, FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400, false, false,
     FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400, false,
     false, FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400,
     false, false, FULL},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", 400, false,
     false, FULL},
};

/* Every prefix too: nothing until the head is complete (or a complete
 * line is bad), then the same answer as for the whole input. */
START_TEST(test_parse)
{
	const struct parse_case *pc = &parse_cases[_i];
	size_t len = strlen(pc->in), used, k;
	struct metrics_http_request req, whole;

	/* One case has a NUL inside: take its length from the table text. */
	if (strstr(pc->in, "X: a") != NULL)
		len = strlen(pc->in) + 1 + strlen(pc->in + strlen(pc->in) + 1);
	used = metrics_http_parse(pc->in, len, &whole);
	ck_assert_uint_eq(used, pc->used == FULL ? len : pc->used);
	ck_assert_int_eq(whole.status, pc->status);
	ck_assert_int_eq(whole.keep_alive, pc->keep_alive);
	if (pc->status == 200)
		ck_assert_int_eq(whole.head, pc->head);
	for (k = 0; k < len; k++) {
		used = metrics_http_parse(pc->in, k, &req);
		if (used == 0)
			continue;
		ck_assert_msg(whole.status != 200 && whole.status != 404 &&
		              whole.status != 405,
		              "valid head answered early at %zu", k);
		ck_assert_int_eq(req.status, whole.status);
		break;
	}
}
END_TEST

START_TEST(test_pipelined)
{
	const char *two = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
	                  "GET /nope HTTP/1.1\r\nHost: a\r\n\r\nGET /";
	struct metrics_http_request req;
	size_t len = strlen(two), used;

	used = metrics_http_parse(two, len, &req);
	ck_assert_uint_eq(used, 34);
	ck_assert_int_eq(req.status, 200);
	used += metrics_http_parse(two + used, len - used, &req);
	ck_assert_uint_eq(used, 65);
	ck_assert_int_eq(req.status, 404);
	ck_assert_uint_eq(metrics_http_parse(two + used, len - used, &req), 0);
}
END_TEST

START_TEST(test_head_limit)
{
	char *buf = xmalloc(METRICS_HTTP_HEAD_MAX + 10);
	struct metrics_http_request req;
	size_t n = METRICS_HTTP_HEAD_MAX;

	memcpy(buf, "GET /metrics HTTP/1.1\r\nHost: x\r\nX: ", 35);
	memset(buf + 35, 'a', METRICS_HTTP_HEAD_MAX + 10 - 35);
	ck_assert_uint_eq(metrics_http_parse(buf, n - 1, &req), 0);
	ck_assert_uint_eq(metrics_http_parse(buf, n, &req), n);
	ck_assert_int_eq(req.status, 431);
	ck_assert(!req.keep_alive);
	/* A head that ends exactly at the limit is fine; one byte more not. */
	memcpy(buf + n - 4, "\r\n\r\n", 4);
	ck_assert_uint_eq(metrics_http_parse(buf, n, &req), n);
	ck_assert_int_eq(req.status, 200);
	memcpy(buf + n - 4, "a\r\n\r\n", 5);
	ck_assert_uint_eq(metrics_http_parse(buf, n + 1, &req), n + 1);
	ck_assert_int_eq(req.status, 431);
	/* Empty lines alone count against the limit too. */
	for (size_t i = 0; i + 1 < n + 10; i += 2)
		memcpy(buf + i, "\r\n", 2);
	ck_assert_uint_eq(metrics_http_parse(buf, n, &req), n);
	ck_assert_int_eq(req.status, 431);
	free(buf);
}
END_TEST

/* The value of header NAME in response TEXT, or NULL. */
static const char *
header(const char *text, const char *name, char *out, size_t outlen)
{
	char want[64];
	const char *p;

	snprintf(want, sizeof(want), "\r\n%s: ", name);
	if ((p = strstr(text, want)) == NULL)
		return NULL;
	p += strlen(want);
	snprintf(out, outlen, "%.*s", (int)strcspn(p, "\r"), p);
	return out;
}

START_TEST(test_respond)
{
	struct metrics_http_request req = {200, false, true};
	struct util_buf b = {0};
	const char *body;
	size_t body_len;
	char v[128];

	metrics_inc(METRICS_BOUNCES, "not-allowed");
	metrics_http_respond(&req, &b);
	util_buf_append(&b, "", 1);
	ck_assert(strncmp(b.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
	ck_assert_str_eq(header(b.data, "Content-Type", v, sizeof(v)),
	                 "text/plain; version=0.0.4; charset=utf-8");
	ck_assert_str_eq(header(b.data, "Connection", v, sizeof(v)),
	                 "keep-alive");
	body = strstr(b.data, "\r\n\r\n") + 4;
	ck_assert_uint_eq(strtoul(header(b.data, "Content-Length", v,
	                                 sizeof(v)), NULL, 10), strlen(body));
	ck_assert_ptr_nonnull(strstr(body, "s2sd_bounces_total{condition="
	                             "\"not-allowed\"} 1\n"));
	body_len = strlen(body);
	/* HEAD: the same length announced, no body. */
	util_buf_reset(&b);
	req.head = true;
	req.keep_alive = false;
	metrics_http_respond(&req, &b);
	util_buf_append(&b, "", 1);
	ck_assert_str_eq(strstr(b.data, "\r\n\r\n"), "\r\n\r\n");
	ck_assert_str_eq(header(b.data, "Connection", v, sizeof(v)), "close");
	ck_assert_uint_eq(strtoul(header(b.data, "Content-Length", v,
	                                 sizeof(v)), NULL, 10), body_len);
	util_buf_reset(&b);
	req.status = 405;
	req.head = false;
	metrics_http_respond(&req, &b);
	util_buf_append(&b, "", 1);
	ck_assert(strncmp(b.data, "HTTP/1.1 405 Method Not Allowed\r\n", 33)
	          == 0);
	ck_assert_str_eq(header(b.data, "Allow", v, sizeof(v)), "GET, HEAD");
	util_buf_free(&b);
	metrics_reset();
}
END_TEST

/* ---- the server on a real loop ---- */

static uv_loop_t loop;
static struct metrics_http *srv;
static int srv_port;
static bool stopped;

static void
on_stopped(void *arg)
{
	*(bool *)arg = true;
}

static void
server_up(void)
{
	const char *addrs[] = {"127.0.0.1:0", NULL};
	char why[256];
	const char *a;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(metrics_http_start(&loop, addrs, &srv, why,
	                                    sizeof(why)), 0);
	ck_assert_uint_eq(metrics_http_count(srv), 1);
	a = metrics_http_addr(srv, 0);
	ck_assert(strncmp(a, "127.0.0.1:", 10) == 0);
	srv_port = atoi(a + 10);
	stopped = false;
}

static void
server_down(void)
{
	metrics_http_stop(srv, on_stopped, &stopped);
	ck_assert(!stopped);    /* never from inside the call */
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert(stopped);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	metrics_reset();
}

static int
client(void)
{
	struct sockaddr_in sin = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)srv_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Run the loop and read from FD until WANT responses are complete or the
 * peer closed (*EOF set); the responses are returned, concatenated. */
static char *
pump(int fd, int want, bool *eof)
{
	struct util_buf b = {0};
	uint64_t end = uv_hrtime() + 5000000000ULL;
	char chunk[4096], v[32];
	const char *p;
	int got;
	ssize_t n;

	*eof = false;
	while (uv_hrtime() < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			*eof = true;
			break;
		}
		if (n > 0)
			util_buf_append(&b, chunk, (size_t)n);
		util_buf_append(&b, "", 1);
		b.len--;
		for (got = 0, p = b.data; p != NULL && got < want; got++) {
			const char *body = strstr(p, "\r\n\r\n");

			if (body == NULL || header(p, "Content-Length", v,
			                           sizeof(v)) == NULL)
				break;
			body += 4;
			if (strlen(body) < strtoul(v, NULL, 10))
				break;
			p = body + strtoul(v, NULL, 10);
		}
		if (got == want)
			break;
		usleep(1000);
	}
	util_buf_append(&b, "", 1);
	return util_buf_steal(&b, NULL);
}

static int
count(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

START_TEST(test_serve_keepalive_pipelined)
{
	const char *reqs = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"
	                   "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n";
	bool eof;
	char *out;
	int fd;

	server_up();
	metrics_inc(METRICS_POLICY_DENIALS, "out");
	fd = client();
	ck_assert_int_eq(send(fd, reqs, strlen(reqs), 0), (ssize_t)strlen(reqs));
	out = pump(fd, 2, &eof);
	ck_assert(!eof);
	ck_assert(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	ck_assert_ptr_nonnull(strstr(out, "\ns2sd_policy_denials_total"
	                             "{direction=\"out\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 404 Not Found\r\n"));
	free(out);
	/* Still open: one more, byte by byte, asking to close. */
	reqs = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	for (size_t i = 0; reqs[i] != '\0'; i++) {
		ck_assert_int_eq(send(fd, reqs + i, 1, 0), 1);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	out = pump(fd, 2, &eof);
	ck_assert(eof);
	ck_assert_int_eq(count(out, "HTTP/1.1 200 OK\r\n"), 1);
	ck_assert_ptr_nonnull(strstr(out, "Connection: close\r\n"));
	free(out);
	close(fd);
	server_down();
}
END_TEST

START_TEST(test_serve_junk_and_halfclose)
{
	bool eof;
	char *out;
	int fd;

	server_up();
	fd = client();
	ck_assert_int_eq(send(fd, "\x16\x03\x01junk\r\n", 9, 0), 9);
	out = pump(fd, 2, &eof);
	ck_assert(eof);
	ck_assert(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
	ck_assert_int_eq(count(out, "HTTP/1.1"), 1);
	free(out);
	close(fd);
	/* A client that shuts its side after the request still gets the
	 * answer, then the close. */
	fd = client();
	ck_assert_int_eq(send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, 0), 25);
	shutdown(fd, SHUT_WR);
	out = pump(fd, 2, &eof);
	ck_assert(eof);
	ck_assert(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	free(out);
	close(fd);
	server_down();
}
END_TEST

START_TEST(test_serve_client_limit)
{
	int fds[METRICS_HTTP_MAX_CLIENTS + 1], i;
	bool eof;
	char *out;

	server_up();
	for (i = 0; i <= METRICS_HTTP_MAX_CLIENTS; i++) {
		fds[i] = client();
		/* Accept each in turn, so that the last is the one refused. */
		for (int k = 0; k < 20; k++)
			uv_run(&loop, UV_RUN_NOWAIT);
	}
	out = pump(fds[METRICS_HTTP_MAX_CLIENTS], 1, &eof);
	ck_assert(eof);
	ck_assert_str_eq(out, "");
	free(out);
	ck_assert(metrics_value(METRICS_LIMIT_HITS, "metrics_clients", NULL,
	                        NULL) == 1);
	/* The others are served; once one leaves, a newcomer is too. */
	ck_assert_int_eq(send(fds[0], "GET /metrics HTTP/1.0\r\n\r\n", 25, 0),
	                 25);
	out = pump(fds[0], 2, &eof);
	ck_assert(eof);
	ck_assert(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	free(out);
	close(fds[METRICS_HTTP_MAX_CLIENTS]);
	fds[METRICS_HTTP_MAX_CLIENTS] = client();
	ck_assert_int_eq(send(fds[METRICS_HTTP_MAX_CLIENTS],
	                      "GET /metrics HTTP/1.0\r\n\r\n", 25, 0), 25);
	out = pump(fds[METRICS_HTTP_MAX_CLIENTS], 1, &eof);
	ck_assert(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	free(out);
	for (i = 0; i <= METRICS_HTTP_MAX_CLIENTS; i++)
		close(fds[i]);
	/* Stopping closes clients that are still connected. */
	server_down();
}
END_TEST

START_TEST(test_lag_probe)
{
	uint64_t end;

	server_up();
	end = uv_hrtime() + (METRICS_HTTP_LAG_MS + 300) * 1000000ULL;
	while (uv_hrtime() < end &&
	       metrics_value(METRICS_LOOP_LAG, NULL, NULL, NULL) == 0) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(5000);
	}
	ck_assert(metrics_value(METRICS_LOOP_LAG, NULL, NULL, NULL) == 1);
	server_down();
}
END_TEST

START_TEST(test_bind_failure)
{
	const char *bad[] = {"127.0.0.1:0", "not-an-address:1", NULL};
	char why[256] = "";

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_lt(metrics_http_start(&loop, bad, &srv, why,
	                                    sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "not-an-address"));
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *
metrics_http_suite(void)
{
	Suite *s = suite_create("metrics_http");
	TCase *tc = tcase_create("parse");
	TCase *srvtc = tcase_create("server");

	tcase_add_loop_test(tc, test_parse, 0,
	                    (int)UTIL_ARRAY_LEN(parse_cases));
	tcase_add_test(tc, test_pipelined);
	tcase_add_test(tc, test_head_limit);
	tcase_add_test(tc, test_respond);
	suite_add_tcase(s, tc);
	tcase_add_test(srvtc, test_serve_keepalive_pipelined);
	tcase_add_test(srvtc, test_serve_junk_and_halfclose);
	tcase_add_test(srvtc, test_serve_client_limit);
	tcase_add_test(srvtc, test_lag_probe);
	tcase_add_test(srvtc, test_bind_failure);
	suite_add_tcase(s, srvtc);
	return s;
}

int
main(void)
{
	return testutil_run(metrics_http_suite());
}
