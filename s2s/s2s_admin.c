/* s2s_admin.c - what s2sctl asks of the S2S service: the streams and routes
 * as reports, closing a domain's streams, and a test route with its
 * transcript (s2sctl test DOMAIN). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/report.h"
#include "cm/util.h"
#include "policy/policy.h"
#include "s2s/s2s_int.h"

/* Queued on the routes a link serves (OUT), in stanzas and bytes. */
static size_t
s2s_admin_queued(const struct s2s *s, const struct s2s_link *l,
                 size_t *bytes)
{
	const struct s2s_stream *st = s2s_conn_stream(l->conn);
	const struct s2s_route *r;
	size_t n = 0, b;

	*bytes = s2s_conn_pending(l->conn);
	if ((l->role != S2S_ROLE_OUT && l->attempts == NULL) ||
	    s2s_stream_remote(st) == NULL)
		return 0;
	for (r = s2s_routes_next(s->routes, NULL); r != NULL;
	     r = s2s_routes_next(s->routes, r)) {
		if (strcmp(s2s_route_remote(r), s2s_stream_remote(st)) != 0)
			continue;
		n += s2s_route_queued(r, &b);
		*bytes += b;
	}
	return n;
}

static void
s2s_admin_stream(const struct s2s *s, const struct s2s_link *l,
                 struct report *r)
{
	const struct s2s_stream *st = s2s_conn_stream(l->conn);
	const char *v = s2s_conn_tls_version(l->conn);
	const char *cipher = s2s_conn_tls_cipher(l->conn);
	struct s2s_conn_info info;
	size_t queued, bytes;

	s2s_conn_info(l->conn, &info);
	queued = s2s_admin_queued(s, l, &bytes);
	report_record(r);
	report_strf(r, "id", "%016llx", (unsigned long long)s2s_conn_id(l->conn));
	report_str(r, "dir", l->vchan != NULL ? "verify"
	                     : l->role == S2S_ROLE_IN ? "in" : "out");
	report_str(r, "local", s2s_stream_local(st) ? s2s_stream_local(st) : "-");
	report_str(r, "remote",
	           s2s_stream_remote(st) ? s2s_stream_remote(st) : "-");
	report_str(r, "peer", s2s_conn_peer(l->conn));
	report_str(r, "auth", s2s_auth_name(s2s_stream_auth(st)));
	report_str(r, "tls", v != NULL ? v : "none");
	report_str(r, "cipher", cipher != NULL ? cipher : "-");
	report_str(r, "cert", info.cert);
	report_str(r, "state", s2s_stream_state_name(st));
	report_num(r, "age", (int64_t)(info.age_ms / 1000));
	report_num(r, "idle", (int64_t)(info.idle_ms / 1000));
	report_num(r, "queued", (int64_t)queued);
	report_num(r, "queued_bytes", (int64_t)bytes);
	report_num(r, "in", (int64_t)s2s_conn_stanzas_in(l->conn));
	report_num(r, "out", (int64_t)s2s_conn_stanzas_out(l->conn));
	/* XEP-0198: on or off, and what waits for an ack (OUT). */
	report_str(r, "sm", s2s_stream_sm_on(st) ? "on" : "off");
	report_num(r, "unacked", (int64_t)s2s_stream_sm_unacked(st));
	/* XEP-0288: the stream carries both directions. */
	report_str(r, "bidi", s2s_stream_bidi(st) ? "yes" : "no");
}

void
s2s_streams_report(const struct s2s *s, struct report *r)
{
	const struct s2s_link *l;

	for (l = s->links; l != NULL; l = l->next)
		if (l->conn != NULL)
			s2s_admin_stream(s, l, r);
}

void
s2s_routes_report(const struct s2s *s, struct report *r)
{
	const struct s2s_route *rt;
	uint64_t now = uv_now(s->loop), until;
	size_t bytes, n;
	int err;

	for (rt = s2s_routes_next(s->routes, NULL); rt != NULL;
	     rt = s2s_routes_next(s->routes, rt)) {
		until = s2s_route_backoff_until(rt);
		err = s2s_route_last_err(rt);
		n = s2s_route_queued(rt, &bytes);
		report_record(r);
		report_str(r, "local", s2s_route_local(rt));
		report_str(r, "remote", s2s_route_remote(rt));
		report_str(r, "state", s2s_route_state_name(s2s_route_state(rt)));
		report_num(r, "failures", s2s_route_failures(rt));
		report_num(r, "backoff", until > now ? (int64_t)((until - now +
		                                                  999) / 1000) : 0);
		report_str(r, "last_error", err != 0 ? err_name(err) : "-");
		report_num(r, "queued", (int64_t)n);
		report_num(r, "queued_bytes", (int64_t)bytes);
	}
}

void
s2s_status_report(const struct s2s *s, struct report *r)
{
	const struct s2s_link *l;
	const struct s2s_route *rt;
	size_t in = 0, out = 0, routes = 0, queued = 0, b;

	for (l = s->links; l != NULL; l = l->next)
		l->role == S2S_ROLE_IN ? in++ : out++;
	for (rt = s2s_routes_next(s->routes, NULL); rt != NULL;
	     rt = s2s_routes_next(s->routes, rt)) {
		routes++;
		queued += s2s_route_queued(rt, &b);
	}
	report_num(r, "streams_in", (int64_t)in);
	report_num(r, "streams_out", (int64_t)out);
	report_num(r, "routes", (int64_t)routes);
	report_num(r, "queued", (int64_t)queued);
}

size_t
s2s_close_domain(struct s2s *s, const char *remote)
{
	struct s2s_link *l, *next;
	const char *rem;
	size_t n = 0;

	for (l = s->links; l != NULL; l = next) {
		next = l->next;
		if (l->conn == NULL)
			continue;
		rem = s2s_stream_remote(s2s_conn_stream(l->conn));
		if (rem == NULL || strcmp(rem, remote) != 0)
			continue;
		log_info(LOG_SUB_S2S, s2s_conn_id(l->conn), "closing by admin "
		         "request remote=%s", remote);
		s2s_conn_close(l->conn, 0, NULL);
		n++;
	}
	return n;
}

/* ---- s2sctl test ---- */

struct s2s_test {
	struct s2s *s;
	uint64_t connid;
	uint64_t started;
	enum log_level level;
	struct report *r;
	s2s_test_done *done;
	void *arg;
};

static void
s2s_test_tap(void *arg, enum log_level level, enum log_sub sub,
             const char *msg)
{
	struct s2s_test *t = arg;
	char line[2200];

	snprintf(line, sizeof(line), "%6.3fs %-5s %-6s %s",
	         (double)(uv_now(t->s->loop) - t->started) / 1000.0,
	         log_level_name(level), log_sub_name(sub), msg);
	report_line(t->r, line);
}

static void
s2s_test_result(void *arg, int err, struct s2s_link *l)
{
	struct s2s_test *t = arg;
	const struct s2s_stream *st;
	struct s2s_conn_info info;
	const char *v;

	log_tap_remove(t->connid, s2s_test_tap, t);
	report_str(t->r, "result", err == 0 ? "ok" : "failed");
	if (err != 0) {
		report_str(t->r, "error", err_name(err));
		report_str(t->r, "reason", err_str(err));
	}
	if (l != NULL && l->conn != NULL) {
		st = s2s_conn_stream(l->conn);
		s2s_conn_info(l->conn, &info);
		v = s2s_conn_tls_version(l->conn);
		report_str(t->r, "peer", s2s_conn_peer(l->conn));
		report_str(t->r, "auth", s2s_auth_name(s2s_stream_auth(st)));
		report_str(t->r, "tls", v != NULL ? v : "none");
		report_str(t->r, "cipher", s2s_conn_tls_cipher(l->conn) != NULL
		                           ? s2s_conn_tls_cipher(l->conn) : "-");
		report_str(t->r, "cert", info.cert);
	}
	report_num(t->r, "time_ms", (int64_t)(uv_now(t->s->loop) - t->started));
	t->done(t->arg, t->r, err == 0 ? 0 : 1);
	free(t);
}

int
s2s_test(struct s2s *s, const char *local, const char *remote, bool trace,
         s2s_test_done *done, void *arg)
{
	struct policy_decision d;
	struct s2s_test *t;

	if (s->closing)
		return S2SD_ESHUTDOWN;
	policy_check(s->pol, remote, POLICY_OUT, &d);
	if (!d.allow)
		return S2SD_EPOLICY;
	t = xcalloc(1, sizeof(*t));
	t->s = s;
	t->connid = util_connid();
	t->started = uv_now(s->loop);
	t->level = trace ? LOG_LEVEL_TRACE : LOG_LEVEL_DEBUG;
	t->r = report_new();
	t->done = done;
	t->arg = arg;
	report_record(t->r);
	report_str(t->r, "from", local);
	report_str(t->r, "domain", remote);
	report_strf(t->r, "id", "%016llx", (unsigned long long)t->connid);
	log_tap_add(t->connid, t->level, s2s_test_tap, t);
	s2s__out_probe(s, local, remote, t->connid, s2s_test_result, t);
	return 0;
}
