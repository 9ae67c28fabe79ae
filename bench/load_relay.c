/* load_relay.c - relay mode: a XEP-0114 source component attached to server
 * X sends numbered message stanzas to a sink component attached to server Y;
 * they cross X's S2S stream to Y. The send time (ns) travels in the id, so
 * the sink measures latency without any clock shared with the servers.
 *
 * --rate 0 is the saturation run: a closed loop keeps at most --window
 * stanzas in flight (sent, not yet delivered or bounced), so a server that
 * queues without bound cannot turn the run into a memory test. --rate R
 * sends R stanzas/s open loop (latency). --raw skips the component handshake
 * and makes the sink listen: the ceiling run through two raw TLS forwarders.
 *
 * Phases: warm-up, measure (--duration), drain (up to --drain seconds for
 * what is in flight). One JSON object at the end. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/load.h"

#define RELAY_HIWAT (256 * 1024)        /* source bytes queued in the kernel */
#define RELAY_BATCH (64 * 1024)

enum relay_phase { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };

struct relay {
	uv_loop_t *loop;
	struct load_comp src, sink;
	uv_tcp_t listener;
	uv_timer_t tick;
	bool raw, stalled, printed;
	const char *from, *to;
	double rate, warmup, duration, drain, stall;
	uint64_t window;
	size_t body;
	char *pad;
	enum relay_phase ph;
	uint64_t seq, delivered, errors, bounces, other, stale;
	uint64_t t_start;       /* this run began: older ids are an earlier run's */
	uint64_t t0, t_measure, t_end, t_progress, t_drain;
	uint64_t deliv_measure, deliv_end, sent_measure, sent_end;
	struct load_hist lat;
	char bounce[320];
	const char *fail;
};

static void relay_pump(struct relay *r);

static void
relay_fail(struct load_comp *cp, const char *why)
{
	struct relay *r = cp->arg;

	if (r->ph == PH_DONE)
		return;
	if (r->fail == NULL)
		r->fail = why;
	fprintf(stderr, "load relay: %s: %s\n", cp == &r->sink ? "sink" :
	        "source", why);
	r->ph = PH_DONE;
}

static void
relay_ready(struct load_comp *cp)
{
	struct relay *r = cp->arg;

	if (!r->src.ready || !r->sink.ready)
		return;
	r->t0 = r->t_progress = load_now_ns();
	r->ph = PH_WARMUP;
	load_phase("ready");
	relay_pump(r);
}

/* The source sees bounces; the sink counts deliveries and, for stanzas sent
 * during the measurement, their latency. */
static void
relay_msg(struct load_comp *cp, bool err, uint64_t seq, uint64_t t,
          const char *p, size_t len)
{
	struct relay *r = cp->arg;

	if (cp == &r->src) {
		r->bounces += err;
		r->other += !err;
		if (err && r->bounce[0] == '\0')
			snprintf(r->bounce, sizeof(r->bounce), "%.*s", (int)len, p);
		return;
	}
	if (err || t == 0) {
		r->errors += err;
		r->other += !err;
		return;
	}
	if (t < r->t_start) {   /* a late stanza of an earlier run */
		r->stale++;
		return;
	}
	(void)seq;
	r->delivered++;
	r->t_progress = load_now_ns();
	if (r->ph == PH_MEASURE && t >= r->t_measure)
		load_hist_add(&r->lat, (r->t_progress - t) / 1000);
	if (r->delivered % 64 == 0)
		relay_pump(r);
}

static void
relay_comp(struct relay *r, struct load_comp *cp)
{
	load_comp_init(cp, r->loop, r);
	cp->raw = r->raw;
	cp->on_ready = relay_ready;
	cp->on_msg = relay_msg;
	cp->on_fail = relay_fail;
}

static uint64_t
relay_due(struct relay *r, uint64_t now)
{
	double secs;

	if (r->rate <= 0)
		return UINT64_MAX;
	secs = (double)(now - r->t0) / 1e9;
	return (uint64_t)(secs * r->rate);
}

/* Send what the rate and the window allow, in batches of RELAY_BATCH. */
static void
relay_pump(struct relay *r)
{
	struct util_buf b = { 0 };
	uint64_t now = load_now_ns(), due = relay_due(r, now), inflight;

	if (r->ph != PH_WARMUP && r->ph != PH_MEASURE)
		return;
	if (r->rate <= 0 && r->seq - r->delivered - r->errors - r->bounces >
	    r->window / 2 && r->src.c.queued > 0)
		return;         /* saturating: refill in halves, not per stanza */
	while (r->src.c.queued < RELAY_HIWAT && r->seq < due) {
		inflight = r->seq - r->delivered - r->errors - r->bounces;
		if (inflight >= r->window)
			break;
		util_buf_printf(&b, "<message from='s@%s/load' to='r@%s' id='%"
		                PRIu64 ".%" PRIu64 "' type='chat'><body>%s</body>"
		                "</message>", r->from, r->to, r->seq, now, r->pad);
		r->seq++;
		if (b.len >= RELAY_BATCH) {
			load_conn_write(&r->src.c, b.data, b.len);
			util_buf_reset(&b);
		}
	}
	if (b.len > 0)
		load_conn_write(&r->src.c, b.data, b.len);
	util_buf_free(&b);
}

static void
relay_output(struct relay *r)
{
	double msecs = (double)(r->t_end - r->t_measure) / 1e9;
	uint64_t d = r->deliv_end - r->deliv_measure;
	uint64_t done = r->delivered + r->errors + r->bounces;
	uint64_t lost = r->seq > done ? r->seq - done : 0;

	printf("{\"mode\":\"relay\",\"raw\":%s,\"rate_target\":%.0f,"
	       "\"window\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"delivered\":%"
	       PRIu64 ",\"errors_at_sink\":%" PRIu64 ",\"bounced\":%" PRIu64
	       ",\"lost\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"stalled\":%s,"
	       "\"failed\":", r->raw ? "true" : "false", r->rate, r->window,
	       r->seq, r->delivered, r->errors, r->bounces, lost, r->stale,
	       r->stalled ? "true" : "false");
	if (r->fail != NULL)
		printf("\"%s\"", r->fail);
	else
		printf("null");
	printf(",\"measure\":{\"secs\":%.3f,\"sent\":%" PRIu64 ",\"delivered\":%"
	       PRIu64 ",\"rate\":%.1f},", msecs, r->sent_end - r->sent_measure, d,
	       msecs > 0 ? (double)d / msecs : 0.0);
	printf("\"latency_us\":{\"n\":%zu,\"p50\":%.0f,\"p99\":%.0f,"
	       "\"p999\":%.0f,\"max\":%.0f},\"bounce_sample\":\"", r->lat.n,
	       load_hist_q(&r->lat, 0.5), load_hist_q(&r->lat, 0.99),
	       load_hist_q(&r->lat, 0.999), load_hist_q(&r->lat, 1.0));
	for (const char *p = r->bounce; *p; p++)
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p >= 0x20)
			putchar(*p);
	printf("\"}\n");
	fflush(stdout);
	r->printed = true;
}

static void
relay_finish(struct relay *r)
{
	r->ph = PH_DONE;
	uv_timer_stop(&r->tick);
	load_conn_close(&r->src.c);
	load_conn_close(&r->sink.c);
	if (r->raw && !uv_is_closing((uv_handle_t *)&r->listener))
		uv_close((uv_handle_t *)&r->listener, NULL);
	uv_close((uv_handle_t *)&r->tick, NULL);
}

static void
relay_measure_end(struct relay *r, uint64_t now)
{
	r->t_end = now;
	r->deliv_end = r->delivered;
	r->sent_end = r->seq;
	r->t_drain = now;
	r->ph = PH_DRAIN;
	load_phase("drain");
}

static void
relay_tick(uv_timer_t *t)
{
	struct relay *r = t->data;
	uint64_t now = load_now_ns();
	uint64_t inflight = r->seq - r->delivered - r->errors - r->bounces;

	if (r->ph == PH_SETUP || r->ph == PH_DONE) {
		if (r->ph == PH_DONE)
			relay_finish(r);
		return;
	}
	if (r->ph == PH_WARMUP && now - r->t0 >= (uint64_t)(r->warmup * 1e9)) {
		r->t_measure = now;
		r->deliv_measure = r->delivered;
		r->sent_measure = r->seq;
		r->ph = PH_MEASURE;
		load_phase("measure");
	}
	if (r->ph == PH_MEASURE) {
		if (now - r->t_measure >= (uint64_t)(r->duration * 1e9))
			relay_measure_end(r, now);
		else if (inflight > 0 &&
		         now - r->t_progress >= (uint64_t)(r->stall * 1e9)) {
			r->stalled = true;
			relay_measure_end(r, now);
		}
	}
	if (r->ph == PH_DRAIN && (inflight == 0 ||
	    now - r->t_drain >= (uint64_t)(r->drain * 1e9))) {
		relay_output(r);
		relay_finish(r);
		return;
	}
	relay_pump(r);
}

static void
sink_accept(uv_stream_t *server, int status)
{
	struct relay *r = server->data;

	if (status < 0 || r->sink.ready)
		return;
	if (uv_accept(server, (uv_stream_t *)&r->sink.c.tcp) < 0) {
		relay_fail(&r->sink, "accept failed");
		return;
	}
	load_comp_accepted(&r->sink);
}

static int
sink_listen(struct relay *r)
{
	struct sockaddr_storage ss;

	if (load_addr(r->sink.addr, &ss) < 0)
		return -1;
	uv_tcp_init(r->loop, &r->listener);
	r->listener.data = r;
	if (uv_tcp_bind(&r->listener, (struct sockaddr *)&ss, 0) < 0 ||
	    uv_listen((uv_stream_t *)&r->listener, 4, sink_accept) < 0) {
		fprintf(stderr, "load relay: cannot listen on %s\n", r->sink.addr);
		return -1;
	}
	load_phase("listening %s", r->sink.addr);
	return 0;
}

static const struct option relay_opts[] = {
	{ "src", required_argument, NULL, 'S' },
	{ "src-name", required_argument, NULL, 'n' },
	{ "src-secret", required_argument, NULL, 's' },
	{ "sink", required_argument, NULL, 'K' },
	{ "sink-name", required_argument, NULL, 'N' },
	{ "sink-secret", required_argument, NULL, 'k' },
	{ "from", required_argument, NULL, 'f' },
	{ "to", required_argument, NULL, 't' },
	{ "rate", required_argument, NULL, 'r' },
	{ "window", required_argument, NULL, 'w' },
	{ "warmup", required_argument, NULL, 'W' },
	{ "duration", required_argument, NULL, 'd' },
	{ "drain", required_argument, NULL, 'D' },
	{ "stall", required_argument, NULL, 'T' },
	{ "body", required_argument, NULL, 'b' },
	{ "raw", no_argument, NULL, 'R' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char relay_usage[] =
"usage: load relay --src HOST:PORT --src-name NAME --src-secret S\n"
"                  --sink HOST:PORT --sink-name NAME --sink-secret S\n"
"                  --from DOMAIN --to DOMAIN [--rate N/s (0: saturate)]\n"
"                  [--window N] [--warmup S] [--duration S] [--drain S]\n"
"                  [--stall S] [--body BYTES] [--raw]\n"
"  --raw: no component handshake; the sink listens on --sink (ceiling run)\n";

static int
relay_args(struct relay *r, int argc, char **argv)
{
	int o;

	while ((o = getopt_long(argc, argv, "", relay_opts, NULL)) != -1) {
		switch (o) {
		case 'S': r->src.addr = optarg; break;
		case 'n': r->src.name = optarg; break;
		case 's': r->src.secret = optarg; break;
		case 'K': r->sink.addr = optarg; break;
		case 'N': r->sink.name = optarg; break;
		case 'k': r->sink.secret = optarg; break;
		case 'f': r->from = optarg; break;
		case 't': r->to = optarg; break;
		case 'r': r->rate = atof(optarg); break;
		case 'w': r->window = strtoull(optarg, NULL, 10); break;
		case 'W': r->warmup = atof(optarg); break;
		case 'd': r->duration = atof(optarg); break;
		case 'D': r->drain = atof(optarg); break;
		case 'T': r->stall = atof(optarg); break;
		case 'b': r->body = strtoul(optarg, NULL, 10); break;
		case 'R': r->raw = true; break;
		default: fputs(relay_usage, stderr); return -1;
		}
	}
	if (r->src.addr == NULL || r->sink.addr == NULL || r->from == NULL ||
	    r->to == NULL || (!r->raw && (r->src.name == NULL ||
	    r->src.secret == NULL || r->sink.name == NULL ||
	    r->sink.secret == NULL))) {
		fputs(relay_usage, stderr);
		return -1;
	}
	return 0;
}

int
load_relay_main(int argc, char **argv)
{
	struct relay r = { .window = 2000, .warmup = 2, .duration = 10,
	                   .drain = 3, .stall = 5, .body = 100 };
	int rc;

	if (relay_args(&r, argc, argv) < 0)
		return 2;
	r.loop = uv_default_loop();
	r.t_start = load_now_ns();
	r.pad = xmalloc(r.body + 1);
	memset(r.pad, 'x', r.body);
	r.pad[r.body] = '\0';
	relay_comp(&r, &r.src);
	relay_comp(&r, &r.sink);
	uv_timer_init(r.loop, &r.tick);
	r.tick.data = &r;
	uv_timer_start(&r.tick, relay_tick, 1, 1);
	if ((r.raw ? sink_listen(&r) : load_comp_connect(&r.sink)) < 0 ||
	    load_comp_connect(&r.src) < 0) {
		r.fail = "setup";
		r.ph = PH_DONE;
	}
	uv_run(r.loop, UV_RUN_DEFAULT);
	rc = r.fail != NULL ? 1 : 0;
	if (!r.printed) {
		if (r.t_end == 0) {
			r.t_end = r.t_measure;
			r.deliv_end = r.deliv_measure = r.delivered;
			r.sent_end = r.sent_measure = r.seq;
		}
		relay_output(&r);
	}
	load_hist_free(&r.lat);
	free(r.pad);
	uv_loop_close(r.loop);
	return rc;
}
