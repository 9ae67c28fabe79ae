/* metrics_http.c - the Prometheus scrape endpoint and the loop lag probe;
 * see metrics_http.h.
 *
 * The parser is stateless: it runs over everything buffered each time a
 * read arrives. The buffer is at most METRICS_HTTP_HEAD_MAX bytes, so the
 * repeated work is bounded and the parser stays a pure function that a
 * fuzzer and a test can drive with any split of the input. */
#include "cm/metrics_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm/listen.h"
#include "cm/log.h"
#include "cm/metrics.h"

#define MH_PATH "/metrics"
#define MH_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- the request parser (pure) ---- */

struct mh_parse {
	bool have_line;         /* the request line was seen */
	bool http11;
	bool head;
	int route;              /* 200, 404 or 405 from the request line */
	int nhost;
	bool conn_close, conn_keep, body;
};

/* RFC 9110 5.6.2 token characters. */
static bool
mh_tchar(unsigned char ch)
{
	if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool
mh_token(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!mh_tchar((unsigned char)s[i]))
			return false;
	return n > 0;
}

static bool
mh_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* "/metrics", optionally with a query string (scrapers may add one). */
static bool
mh_is_metrics_path(const char *s, size_t n)
{
	size_t plen = strlen(MH_PATH);

	return n >= plen && memcmp(s, MH_PATH, plen) == 0 &&
	       (n == plen || s[plen] == '?');
}

/* METHOD SP TARGET SP HTTP/D.D, single spaces (RFC 9112 3). Returns 0, or
 * the status to fail with. */
static int
mh_request_line(struct mh_parse *p, const char *s, size_t n)
{
	const char *sp1 = memchr(s, ' ', n), *sp2, *v;
	size_t i, tlen;

	if (sp1 == NULL || !mh_token(s, (size_t)(sp1 - s)))
		return 400;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - s));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return 400;
	tlen = (size_t)(sp2 - sp1 - 1);
	for (i = 0; i < tlen; i++)
		if ((unsigned char)sp1[1 + i] <= 0x20 ||
		    (unsigned char)sp1[1 + i] >= 0x7f)
			return 400;
	v = sp2 + 1;
	if (n - (size_t)(v - s) != 8 || memcmp(v, "HTTP/", 5) != 0 ||
	    v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return 400;
	if (v[5] != '1')
		return 505;
	p->http11 = v[7] >= '1';
	/* Methods are case-sensitive (RFC 9110 9.1). */
	p->head = sp1 - s == 4 && memcmp(s, "HEAD", 4) == 0;
	if (!mh_is_metrics_path(sp1 + 1, tlen))
		p->route = 404;
	else if (p->head || (sp1 - s == 3 && memcmp(s, "GET", 3) == 0))
		p->route = 200;
	else
		p->route = 405;
	p->have_line = true;
	return 0;
}

/* The comma-separated options of a Connection header. */
static void
mh_connection(struct mh_parse *p, const char *v, size_t n)
{
	size_t i = 0, start, end;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < n && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (mh_eq(v + start, end - start, "close"))
			p->conn_close = true;
		else if (mh_eq(v + start, end - start, "keep-alive"))
			p->conn_keep = true;
	}
}

/* NAME ":" OWS VALUE OWS (RFC 9112 5); no obs-fold, no space before the
 * colon. Returns false for a malformed line. */
static bool
mh_header(struct mh_parse *p, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n), *v;
	size_t nlen, vlen, i;

	if (colon == NULL || !mh_token(s, (size_t)(colon - s)))
		return false;
	nlen = (size_t)(colon - s);
	v = colon + 1;
	vlen = n - nlen - 1;
	for (i = 0; i < vlen; i++) {
		unsigned char ch = (unsigned char)v[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return false;
	}
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (mh_eq(s, nlen, "host")) {
		p->nhost++;
	} else if (mh_eq(s, nlen, "connection")) {
		mh_connection(p, v, vlen);
	} else if (mh_eq(s, nlen, "content-length")) {
		if (vlen == 0 || strspn(v, "0123456789") < vlen)
			return false;
		if (strspn(v, "0") < vlen)
			p->body = true;
	} else if (mh_eq(s, nlen, "transfer-encoding")) {
		p->body = true;
	}
	return true;
}

static size_t
mh_fail(struct metrics_http_request *req, int status, size_t len)
{
	req->status = status;
	req->keep_alive = false;
	return len;
}

/* The blank line ended a head of HEADLEN bytes (of LEN buffered). */
static size_t
mh_finish(const struct mh_parse *p, size_t headlen, size_t len,
          struct metrics_http_request *req)
{
	/* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one ever. */
	if (p->nhost > 1 || (p->http11 && p->nhost != 1))
		return mh_fail(req, 400, len);
	req->status = p->route;
	req->head = p->head;
	/* A body is never read, so the next request cannot be found. */
	req->keep_alive = !p->body && !p->conn_close &&
	                  (p->http11 || p->conn_keep);
	return headlen;
}

size_t
metrics_http_parse(const char *buf, size_t len,
                   struct metrics_http_request *req)
{
	struct mh_parse p = {0};
	const char *nl;
	size_t pos = 0, eol, n;
	int rc;

	memset(req, 0, sizeof(*req));
	while ((nl = memchr(buf + pos, '\n', len - pos)) != NULL) {
		eol = (size_t)(nl - buf);
		if (eol + 1 > METRICS_HTTP_HEAD_MAX)
			return mh_fail(req, 431, len);
		n = eol - pos;
		if (n > 0 && buf[eol - 1] == '\r')
			n--;
		if (n == 0 && p.have_line)
			return mh_finish(&p, eol + 1, len, req);
		/* RFC 9112 2.2: empty lines before the request line are
		 * ignored (some clients send one after a request). */
		if (n > 0 && !p.have_line) {
			if ((rc = mh_request_line(&p, buf + pos, n)) != 0)
				return mh_fail(req, rc, len);
		} else if (n > 0 && !mh_header(&p, buf + pos, n)) {
			return mh_fail(req, 400, len);
		}
		pos = eol + 1;
	}
	if (len >= METRICS_HTTP_HEAD_MAX)
		return mh_fail(req, 431, len);
	return 0;
}

static const struct {
	int status;
	const char *reason;
	const char *text;
} mh_statuses[] = {
    {200, "OK", NULL},
    {400, "Bad Request", "bad request\n"},
    {404, "Not Found", "not found; the metrics are at " MH_PATH "\n"},
    {405, "Method Not Allowed", "only GET and HEAD\n"},
    {431, "Request Header Fields Too Large", "request head too large\n"},
    {505, "HTTP Version Not Supported", "HTTP/1.0 and HTTP/1.1 only\n"},
};

void
metrics_http_respond(const struct metrics_http_request *req,
                     struct util_buf *out)
{
	struct util_buf body = {0};
	size_t i;

	for (i = 0; i + 1 < UTIL_ARRAY_LEN(mh_statuses); i++)
		if (mh_statuses[i].status == req->status)
			break;
	if (mh_statuses[i].status != req->status)
		fatalx("%s: status %d", __func__, req->status);
	if (req->status == 200)
		metrics_render(&body);
	else
		util_buf_puts(&body, mh_statuses[i].text);
	util_buf_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	                "Content-Length: %zu\r\nConnection: %s\r\n",
	                req->status, mh_statuses[i].reason,
	                req->status == 200 ? MH_CONTENT_TYPE
	                                   : "text/plain; charset=utf-8",
	                body.len, req->keep_alive ? "keep-alive" : "close");
	if (req->status == 405)
		util_buf_puts(out, "Allow: GET, HEAD\r\n");
	util_buf_puts(out, "\r\n");
	if (!req->head)
		util_buf_append(out, body.data, body.len);
	util_buf_free(&body);
}

/* ---- the server ---- */

struct mh_conn {
	struct metrics_http *m;
	uv_tcp_t *tcp;          /* from the listener; freed after close */
	uv_timer_t timer;       /* the head, or the response, is late */
	uint64_t id;
	char buf[METRICS_HTTP_HEAD_MAX];
	size_t len;
	bool writing;           /* a response is on its way: no parsing */
	bool eof;               /* the client shut its side */
	bool done;              /* close once the response is written */
	bool closing;
	int handles;
	struct mh_conn *next, **prevp;
};

struct mh_write {
	uv_write_t req;
	struct mh_conn *c;
	char *data;
};

struct metrics_http {
	uv_loop_t *loop;
	struct listen_set *ls;
	uv_timer_t lag;
	uint64_t lag_due_ms;    /* when the probe should run, loop time */
	struct mh_conn *conns;
	size_t nconns;
	int handles;            /* the lag timer and every client handle */
	bool stopping;
	void (*stop_cb)(void *arg);
	void *stop_arg;
};

static void
mh_handle_gone(struct metrics_http *m)
{
	void (*cb)(void *) = m->stop_cb;
	void *arg = m->stop_arg;

	if (--m->handles > 0 || !m->stopping)
		return;
	free(m);
	if (cb != NULL)
		cb(arg);
}

static void
mh_conn_closed(uv_handle_t *h)
{
	struct mh_conn *c = h->data;
	struct metrics_http *m = c->m;

	if (--c->handles > 0) {
		mh_handle_gone(m);
		return;
	}
	free(c->tcp);
	free(c);
	mh_handle_gone(m);
}

static void
mh_conn_close(struct mh_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	*c->prevp = c->next;
	c->m->nconns--;
	uv_close((uv_handle_t *)c->tcp, mh_conn_closed);
	uv_close((uv_handle_t *)&c->timer, mh_conn_closed);
}

static void
mh_on_timeout(uv_timer_t *t)
{
	struct mh_conn *c = t->data;

	log_debug(LOG_SUB_CM, c->id, "metrics client timed out writing=%s "
	          "buffered=%zu", c->writing ? "yes" : "no", c->len);
	mh_conn_close(c);
}

static void
mh_on_shutdown(uv_shutdown_t *req, int status)
{
	struct mh_conn *c = req->data;

	(void)status;
	free(req);
	mh_conn_close(c);
}

/* The response is written: FIN, then close (the client reads it all). */
static void
mh_conn_finish(struct mh_conn *c)
{
	uv_shutdown_t *req = xmalloc(sizeof(*req));

	req->data = c;
	uv_read_stop((uv_stream_t *)c->tcp);
	if (uv_shutdown(req, (uv_stream_t *)c->tcp, mh_on_shutdown) < 0) {
		free(req);
		mh_conn_close(c);
	}
}

static void mh_conn_process(struct mh_conn *c);
static void mh_conn_read(struct mh_conn *c);

static void
mh_on_write(uv_write_t *req, int status)
{
	struct mh_write *w = (struct mh_write *)req;
	struct mh_conn *c = w->c;

	free(w->data);
	free(w);
	if (c->closing)
		return;
	c->writing = false;
	if (status < 0) {
		mh_conn_close(c);
	} else if (c->done) {
		mh_conn_finish(c);
	} else {
		/* Waiting for the next request: a fresh time limit. */
		uv_timer_start(&c->timer, mh_on_timeout,
		               METRICS_HTTP_TIMEOUT_MS, 0);
		mh_conn_process(c);     /* a pipelined request may wait */
		if (!c->closing && !c->writing)
			mh_conn_read(c);
	}
}

static void
mh_conn_respond(struct mh_conn *c, const struct metrics_http_request *req)
{
	struct util_buf out = {0};
	struct mh_write *w = xcalloc(1, sizeof(*w));
	uv_buf_t b;
	size_t len;

	metrics_http_respond(req, &out);
	log_debug(LOG_SUB_CM, c->id, "metrics request status=%d bytes=%zu "
	          "keep_alive=%s", req->status, out.len,
	          req->keep_alive ? "yes" : "no");
	w->c = c;
	w->data = util_buf_steal(&out, &len);
	b = uv_buf_init(w->data, (unsigned)len);
	c->writing = true;
	c->done = !req->keep_alive;
	/* One response at a time: reading resumes when it is written. */
	uv_read_stop((uv_stream_t *)c->tcp);
	uv_timer_start(&c->timer, mh_on_timeout, METRICS_HTTP_TIMEOUT_MS, 0);
	if (uv_write(&w->req, (uv_stream_t *)c->tcp, &b, 1, mh_on_write) < 0) {
		free(w->data);
		free(w);
		mh_conn_close(c);
	}
}

/* Answer the request at the head of the buffer, if it is complete. */
static void
mh_conn_process(struct mh_conn *c)
{
	struct metrics_http_request req;
	size_t used;

	if (c->writing || c->closing)
		return;
	used = metrics_http_parse(c->buf, c->len, &req);
	if (used == 0) {
		if (c->eof)
			mh_conn_close(c);
		return;
	}
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	if (c->eof)
		req.keep_alive = false;
	mh_conn_respond(c, &req);
}

static void
mh_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct mh_conn *c = h->data;

	(void)hint;
	/* Reads stop whenever the buffer is full (a head is complete or
	 * over the limit), so there is always room here. */
	*buf = uv_buf_init(c->buf + c->len,
	                   (unsigned)(sizeof(c->buf) - c->len));
}

static void
mh_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct mh_conn *c = s->data;

	(void)buf;
	if (n < 0) {
		c->eof = true;
		uv_read_stop(s);
	} else {
		c->len += (size_t)n;
	}
	mh_conn_process(c);
}

static void
mh_conn_read(struct mh_conn *c)
{
	if (c->eof || c->len == sizeof(c->buf))
		return;
	if (uv_read_start((uv_stream_t *)c->tcp, mh_alloc, mh_on_read) < 0)
		mh_conn_close(c);
}

static void
mh_on_accept(void *arg, uv_tcp_t *client, const char *peer)
{
	struct metrics_http *m = arg;
	struct mh_conn *c;

	if (m->stopping || m->nconns >= METRICS_HTTP_MAX_CLIENTS) {
		if (!m->stopping) {
			metrics_inc(METRICS_LIMIT_HITS, "metrics_clients");
			log_info(LOG_SUB_CM, 0, "metrics client refused peer=%s "
			         "limit=metrics_clients clients=%zu", peer,
			         m->nconns);
		}
		uv_close((uv_handle_t *)client, (uv_close_cb)free);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->m = m;
	c->tcp = client;
	c->id = util_connid();
	client->data = c;
	uv_timer_init(m->loop, &c->timer);
	c->timer.data = c;
	c->handles = 2;
	m->handles += 2;
	if ((c->next = m->conns) != NULL)
		c->next->prevp = &c->next;
	c->prevp = &m->conns;
	m->conns = c;
	m->nconns++;
	log_debug(LOG_SUB_CM, c->id, "metrics client peer=%s", peer);
	uv_timer_start(&c->timer, mh_on_timeout, METRICS_HTTP_TIMEOUT_MS, 0);
	mh_conn_read(c);
}

/* How late the probe ran, against the time libuv was asked for. Both are
 * on the loop's own millisecond clock (a coarse clock on Linux: mixing it
 * with uv_hrtime() would read a few ms of lag on an idle loop). A loop
 * blocked for 300 ms shows up as one observation of 0.3 s. */
static void
mh_on_lag(uv_timer_t *t)
{
	struct metrics_http *m = t->data;
	/* libuv re-armed the timer from the loop time before calling us. */
	uint64_t next = uv_now(m->loop) + METRICS_HTTP_LAG_MS, now;

	uv_update_time(m->loop);
	now = uv_now(m->loop);
	metrics_observe(METRICS_LOOP_LAG, NULL,
	                now > m->lag_due_ms
	                    ? (double)(now - m->lag_due_ms) / 1000 : 0);
	m->lag_due_ms = next;
}

int
metrics_http_start(uv_loop_t *loop, const char *const *addrs,
                   struct metrics_http **out, char *why, size_t whylen)
{
	struct metrics_http *m = xcalloc(1, sizeof(*m));
	int rc;

	m->loop = loop;
	rc = listen_open(loop, "metrics", addrs, mh_on_accept, m, &m->ls, why,
	                 whylen);
	if (rc < 0) {
		free(m);
		return rc;
	}
	uv_timer_init(loop, &m->lag);
	m->lag.data = m;
	m->handles = 1;
	m->lag_due_ms = uv_now(loop) + METRICS_HTTP_LAG_MS;
	uv_timer_start(&m->lag, mh_on_lag, METRICS_HTTP_LAG_MS,
	               METRICS_HTTP_LAG_MS);
	*out = m;
	return 0;
}

const char *
metrics_http_addr(const struct metrics_http *m, size_t i)
{
	return listen_addr(m->ls, i);
}

size_t
metrics_http_count(const struct metrics_http *m)
{
	return listen_count(m->ls);
}

static void
mh_lag_closed(uv_handle_t *h)
{
	mh_handle_gone(h->data);
}

void
metrics_http_stop(struct metrics_http *m, void (*cb)(void *arg), void *arg)
{
	m->stopping = true;
	m->stop_cb = cb;
	m->stop_arg = arg;
	listen_close(m->ls);
	m->ls = NULL;
	while (m->conns != NULL)
		mh_conn_close(m->conns);
	uv_close((uv_handle_t *)&m->lag, mh_lag_closed);
}
