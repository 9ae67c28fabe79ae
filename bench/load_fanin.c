/* load_fanin.c - fan-in mode: N simulated remote domains (d1.load.test ...)
 * each open an inbound S2S stream to the server under test: stream header,
 * STARTTLS, TLS with the wildcard client certificate, SASL EXTERNAL, stream
 * restart. At most --concurrency handshakes run at once. The streams are
 * opened in steps (--steps 1000,10000): after each step the tool prints
 * "#phase idle N ..." and waits for a line on stdin, so that the caller can
 * read the server's memory with exactly N idle streams. After the last step
 * every stream sends messages to r@TO, received by a sink component on the
 * server, for --duration seconds (closed loop, --window in flight). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/load.h"

enum fs_state { FS_IDLE, FS_FEAT1, FS_PROCEED, FS_TLS, FS_FEAT2, FS_SUCCESS,
                FS_FEAT3, FS_READY, FS_DEAD };

#define FAN_MAX_STEPS 8
#define FAN_STREAM_HIWAT (32 * 1024)

struct fstream {
	struct load_conn c;
	struct fanin *f;
	unsigned idx;
	enum fs_state st;
	uint64_t t_start;       /* connect, for --handshake-timeout */
};

struct fstep {
	unsigned target, established, failed;
	double secs, ok_secs;   /* until the step ended / its last success */
	bool timed_out;
};

struct fanin {
	uv_loop_t *loop;
	uv_timer_t tick;
	uv_pipe_t ctl;
	struct load_comp sink;
	struct sockaddr_storage target;
	const char *target_addr, *domain, *to, *cert, *key, *src_base;
	unsigned count, src_count, concurrency, nsteps, step;
	double step_timeout, hs_timeout, warmup, duration;
	uint64_t window;
	gnutls_certificate_credentials_t cred;
	struct fstream *s;
	unsigned started, inprog, established, failed, dead, rr;
	struct fstep steps[FAN_MAX_STEPS];
	uint64_t t_step, t_last_ok, t_sweep;
	bool waiting, active, done;
	uint64_t seq, delivered, errors, t_act, t_measure, t_end;
	uint64_t deliv_measure, deliv_end;
	struct load_hist lat;
	char why[256];
};

static void fan_launch(struct fanin *f);

static void
fs_header(struct fstream *s)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "<?xml version='1.0'?><stream:stream "
	             "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/"
	             "streams' from='d%u.%s' to='%s' version='1.0'>", s->idx + 1,
	             s->f->domain, s->f->to);
	util_buf_reset(&s->c.in);
	load_conn_write(&s->c, buf, (size_t)n);
}

static void
fs_failed(struct fstream *s, const char *why)
{
	struct fanin *f = s->f;

	if (s->st == FS_DEAD)
		return;
	if (f->why[0] == '\0')
		snprintf(f->why, sizeof(f->why), "d%u: %s (state %d)",
		         s->idx + 1, why, (int)s->st);
	if (s->st == FS_READY) {
		f->established--;
		f->dead++;
	} else {
		f->inprog--;
		f->failed++;
	}
	s->st = FS_DEAD;
	load_conn_close(&s->c);
	fan_launch(f);
}

static bool
features_done(const char *in)
{
	return strstr(in, "</stream:features>") != NULL ||
	       strstr(in, "<stream:features/>") != NULL;
}

static void
fs_ready(struct fstream *s)
{
	struct fanin *f = s->f;

	s->st = FS_READY;
	f->inprog--;
	f->established++;
	f->t_last_ok = load_now_ns();
	util_buf_reset(&s->c.in);
	fan_launch(f);
}

static void
fs_tls(struct load_conn *c, int status)
{
	struct fstream *s = c->arg;

	if (status < 0) {
		fs_failed(s, gnutls_strerror(status));
		return;
	}
	s->st = FS_FEAT2;
	fs_header(s);
}

/* One negotiation step on what the server sent; an error text or NULL. */
static const char *
fs_step(struct fstream *s)
{
	static const char tls[] = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
	static const char auth[] = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'"
	                           " mechanism='EXTERNAL'>=</auth>";
	const char *in = s->c.in.data;

	switch (s->st) {
	case FS_FEAT1:
		if (!features_done(in))
			return NULL;
		if (strstr(in, "<starttls") == NULL)
			return "no STARTTLS offered";
		s->st = FS_PROCEED;
		load_conn_write(&s->c, tls, strlen(tls));
		return NULL;
	case FS_PROCEED:
		if (strstr(in, "<proceed") == NULL)
			return NULL;
		s->st = FS_TLS;
		if (load_conn_starttls(&s->c, s->f->cred, s->f->to) < 0)
			return "TLS set-up";
		return NULL;
	case FS_FEAT2:
		if (!features_done(in))
			return NULL;
		if (strstr(in, "EXTERNAL") == NULL)
			return "no SASL EXTERNAL offered";
		s->st = FS_SUCCESS;
		util_buf_reset(&s->c.in);
		load_conn_write(&s->c, auth, strlen(auth));
		return NULL;
	case FS_SUCCESS:
		if (strstr(in, "<failure") != NULL)
			return "SASL EXTERNAL refused";
		if (strstr(in, "<success") == NULL)
			return NULL;
		s->st = FS_FEAT3;
		fs_header(s);
		return NULL;
	case FS_FEAT3:
		if (features_done(in))
			fs_ready(s);
		return NULL;
	default:
		util_buf_reset(&s->c.in);
		return NULL;
	}
}

static void
fs_data(struct load_conn *c, int status)
{
	struct fstream *s = c->arg;
	const char *e, *why;

	(void)status;
	if ((e = strstr(c->in.data, "<stream:error")) != NULL) {
		fprintf(stderr, "load fanin: d%u: %.200s\n", s->idx + 1, e);
		fs_failed(s, "stream error");
		return;
	}
	if ((why = fs_step(s)) != NULL)
		fs_failed(s, why);
}

static void
fs_end(struct load_conn *c, int status)
{
	(void)status;
	fs_failed(c->arg, "closed by the server");
}

static void
fs_connected(struct load_conn *c, int status)
{
	struct fstream *s = c->arg;

	if (status < 0) {
		fs_failed(s, uv_strerror(status));
		return;
	}
	s->st = FS_FEAT1;
	fs_header(s);
}

static void
fs_start(struct fanin *f, struct fstream *s)
{
	struct sockaddr_in src;
	uint32_t base;

	load_conn_init(&s->c, f->loop, s);
	s->f = f;
	s->idx = (unsigned)(s - f->s);
	s->c.on_connect = fs_connected;
	s->c.on_tls = fs_tls;
	s->c.on_data = fs_data;
	s->c.on_end = fs_end;
	uv_ip4_addr(f->src_base, 0, &src);
	base = ntohl(src.sin_addr.s_addr);
	src.sin_addr.s_addr = htonl(base + s->idx % f->src_count);
	f->inprog++;
	s->st = FS_FEAT1;
	s->t_start = load_now_ns();
	if (load_conn_connect(&s->c, (struct sockaddr *)&f->target,
	                      (struct sockaddr *)&src) < 0)
		fs_failed(s, "connect");
}

static void
fan_step_done(struct fanin *f, bool timed_out)
{
	struct fstep *st = &f->steps[f->step];

	st->established = f->established;
	st->failed = f->failed;
	st->secs = (double)(load_now_ns() - f->t_step) / 1e9;
	st->ok_secs = f->t_last_ok > f->t_step ?
	              (double)(f->t_last_ok - f->t_step) / 1e9 : 0;
	st->timed_out = timed_out;
	f->waiting = true;
	load_phase("idle %u established=%u failed=%u secs=%.2f%s", st->target,
	           f->established, f->failed, st->secs,
	           timed_out ? " timed-out" : "");
}

/* Start handshakes up to the concurrency cap and the current step. */
static void
fan_launch(struct fanin *f)
{
	struct fstep *st;

	if (f->waiting || f->active || f->done || f->step >= f->nsteps)
		return;
	st = &f->steps[f->step];
	while (f->inprog < f->concurrency && f->started < st->target)
		fs_start(f, &f->s[f->started++]);
	if (f->started >= st->target && f->inprog == 0)
		fan_step_done(f, false);
}

static void
fan_sink_msg(struct load_comp *cp, bool err, uint64_t seq, uint64_t t,
             const char *p, size_t len)
{
	struct fanin *f = cp->arg;

	(void)seq;
	(void)p;
	(void)len;
	if (err || t == 0) {
		f->errors += err;
		return;
	}
	f->delivered++;
	if (f->t_measure != 0 && t >= f->t_measure && f->t_end == 0)
		load_hist_add(&f->lat, (load_now_ns() - t) / 1000);
}

static void
fan_sink_fail(struct load_comp *cp, const char *why)
{
	struct fanin *f = cp->arg;

	if (f->done)
		return;
	snprintf(f->why, sizeof(f->why), "sink: %s", why);
	fprintf(stderr, "load fanin: sink: %s\n", why);
	f->done = true;
}

/* Every ready stream in turn sends one message while the window allows. */
static void
fan_pump(struct fanin *f)
{
	char buf[512];
	uint64_t now = load_now_ns();
	unsigned tries = 0;
	struct fstream *s;
	int n;

	while (f->seq - f->delivered - f->errors < f->window &&
	       tries < f->started && f->established > 0) {
		s = &f->s[f->rr];
		f->rr = (f->rr + 1) % f->started;
		if (s->st != FS_READY || s->c.queued > FAN_STREAM_HIWAT) {
			tries++;
			continue;
		}
		tries = 0;
		n = snprintf(buf, sizeof(buf), "<message from='u@d%u.%s/load' "
		             "to='r@%s' id='%" PRIu64 ".%" PRIu64 "' type='chat'>"
		             "<body>fan-in load stanza, about a hundred bytes of "
		             "text like a short chat line.</body></message>",
		             s->idx + 1, f->domain, f->to, f->seq++, now);
		load_conn_write(&s->c, buf, (size_t)n);
	}
}

static void
fan_output(struct fanin *f)
{
	double secs = (double)(f->t_end - f->t_measure) / 1e9;
	uint64_t d = f->deliv_end - f->deliv_measure;

	printf("{\"mode\":\"fanin\",\"count\":%u,\"concurrency\":%u,"
	       "\"established\":%u,\"failed\":%u,\"dropped_later\":%u,\"steps\":[",
	       f->count, f->concurrency, f->established, f->failed, f->dead);
	for (unsigned i = 0; i < f->nsteps; i++) {
		struct fstep *st = &f->steps[i];
		unsigned prev = i ? f->steps[i - 1].established : 0;

		/* the rate counts successes until the last of them: a
		 * stream that hangs until --handshake-timeout is a failure,
		 * not a slower rate */
		printf("%s{\"target\":%u,\"established\":%u,\"failed\":%u,"
		       "\"secs\":%.3f,\"ok_secs\":%.3f,\"timed_out\":%s,"
		       "\"handshakes_per_s\":%.1f}", i ? "," : "", st->target,
		       st->established, st->failed, st->secs, st->ok_secs,
		       st->timed_out ? "true" : "false", st->ok_secs > 0 ?
		       (double)(st->established - prev) / st->ok_secs : 0.0);
	}
	printf("],\"active\":{\"streams\":%u,\"secs\":%.3f,\"delivered\":%" PRIu64
	       ",\"rate\":%.1f,\"errors\":%" PRIu64 ",\"p50_us\":%.0f,"
	       "\"p99_us\":%.0f},\"first_error\":\"", f->established, secs, d,
	       secs > 0 ? (double)d / secs : 0.0, f->errors,
	       load_hist_q(&f->lat, 0.5), load_hist_q(&f->lat, 0.99));
	for (const char *p = f->why; *p; p++)
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p >= 0x20)
			putchar(*p);
	printf("\"}\n");
	fflush(stdout);
}

static void
fan_close(struct fanin *f)
{
	for (unsigned i = 0; i < f->started; i++)
		load_conn_close(&f->s[i].c);
	load_conn_close(&f->sink.c);
	uv_timer_stop(&f->tick);
	uv_close((uv_handle_t *)&f->tick, NULL);
	uv_close((uv_handle_t *)&f->ctl, NULL);
}

static void
fan_active_tick(struct fanin *f, uint64_t now)
{
	if (f->t_measure == 0 && now - f->t_act >= (uint64_t)(f->warmup * 1e9)) {
		f->t_measure = now;
		f->deliv_measure = f->delivered;
		load_phase("measure");
	}
	if (f->t_measure != 0 &&
	    now - f->t_measure >= (uint64_t)(f->duration * 1e9)) {
		f->t_end = now;
		f->deliv_end = f->delivered;
		f->done = true;
		return;
	}
	fan_pump(f);
}

/* Handshakes that take longer than --handshake-timeout fail (twice a
 * second, so that the scan over every stream stays cheap). */
static void
fan_sweep(struct fanin *f, uint64_t now)
{
	uint64_t limit = (uint64_t)(f->hs_timeout * 1e9);

	for (unsigned i = 0; i < f->started; i++) {
		struct fstream *s = &f->s[i];

		if (s->st != FS_READY && s->st != FS_DEAD &&
		    now - s->t_start >= limit)
			fs_failed(s, "handshake timed out");
	}
}

static void
fan_tick(uv_timer_t *t)
{
	struct fanin *f = t->data;
	uint64_t now = load_now_ns();

	if (f->done) {
		if (f->t_end == 0) {
			f->t_end = f->t_measure = now;
			f->deliv_end = f->deliv_measure = f->delivered;
		}
		fan_output(f);
		fan_close(f);
		return;
	}
	if (f->active) {
		fan_active_tick(f, now);
		return;
	}
	if (now - f->t_sweep >= 500000000ULL) {
		f->t_sweep = now;
		fan_sweep(f, now);
	}
	if (!f->waiting && f->step < f->nsteps &&
	    now - f->t_step >= (uint64_t)(f->step_timeout * 1e9))
		fan_step_done(f, true);
}

/* "next" on stdin: the caller has read the server's memory. */
static void
fan_next(struct fanin *f)
{
	if (!f->waiting)
		return;
	f->waiting = false;
	if (++f->step < f->nsteps) {
		f->t_step = load_now_ns();
		fan_launch(f);
		return;
	}
	f->active = true;
	f->t_act = load_now_ns();
	load_phase("active streams=%u", f->established);
}

static void
ctl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char b[256];

	(void)h;
	(void)hint;
	*buf = uv_buf_init(b, sizeof(b));
}

static void
ctl_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct fanin *f = st->data;

	if (nread < 0) {            /* the caller went away: finish now */
		uv_read_stop(st);
		f->done = true;
		return;
	}
	for (ssize_t i = 0; i < nread; i++)
		if (buf->base[i] == '\n')
			fan_next(f);
}

static void
fan_sink_ready(struct load_comp *cp)
{
	struct fanin *f = cp->arg;

	f->t_step = load_now_ns();
	load_phase("idle 0 established=0 failed=0 secs=0");
	f->waiting = true;
	f->step = (unsigned)-1;     /* "next" moves to step 0 */
}

static const struct option fan_opts[] = {
	{ "target", required_argument, NULL, 'a' },
	{ "to", required_argument, NULL, 't' },
	{ "domain", required_argument, NULL, 'D' },
	{ "steps", required_argument, NULL, 'n' },
	{ "sources", required_argument, NULL, 's' },
	{ "source-count", required_argument, NULL, 'S' },
	{ "cert", required_argument, NULL, 'C' },
	{ "key", required_argument, NULL, 'K' },
	{ "concurrency", required_argument, NULL, 'c' },
	{ "step-timeout", required_argument, NULL, 'T' },
	{ "handshake-timeout", required_argument, NULL, 'H' },
	{ "sink", required_argument, NULL, 'k' },
	{ "sink-name", required_argument, NULL, 'N' },
	{ "sink-secret", required_argument, NULL, 'P' },
	{ "window", required_argument, NULL, 'w' },
	{ "warmup", required_argument, NULL, 'W' },
	{ "duration", required_argument, NULL, 'd' },
	{ NULL, 0, NULL, 0 },
};

static const char fan_usage[] =
"usage: load fanin --target HOST:PORT --to DOMAIN --cert PEM --key PEM\n"
"                  --sink HOST:PORT --sink-name NAME --sink-secret S\n"
"                  [--domain load.test] [--steps 1000,10000]\n"
"                  [--sources 127.0.1.1 --source-count 40]\n"
"                  [--concurrency 100] [--step-timeout S] [--window N]\n"
"                  [--handshake-timeout S]\n"
"                  [--warmup S] [--duration S]\n"
"  streams come from d1.DOMAIN ... dN.DOMAIN; stdin: one line per step\n";

static int
fan_steps(struct fanin *f, const char *spec)
{
	char *copy = xstrdup(spec), *tok, *save = NULL;

	f->nsteps = 0;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (f->nsteps == FAN_MAX_STEPS)
			break;
		f->steps[f->nsteps++].target = (unsigned)strtoul(tok, NULL, 10);
	}
	free(copy);
	f->count = f->nsteps ? f->steps[f->nsteps - 1].target : 0;
	return f->count > 0 ? 0 : -1;
}

static int
fan_args(struct fanin *f, int argc, char **argv)
{
	int o;

	while ((o = getopt_long(argc, argv, "", fan_opts, NULL)) != -1) {
		switch (o) {
		case 'a': f->target_addr = optarg; break;
		case 't': f->to = optarg; break;
		case 'D': f->domain = optarg; break;
		case 'n': if (fan_steps(f, optarg) < 0) return -1; break;
		case 's': f->src_base = optarg; break;
		case 'S': f->src_count = (unsigned)atoi(optarg); break;
		case 'C': f->cert = optarg; break;
		case 'K': f->key = optarg; break;
		case 'c': f->concurrency = (unsigned)atoi(optarg); break;
		case 'T': f->step_timeout = atof(optarg); break;
		case 'H': f->hs_timeout = atof(optarg); break;
		case 'k': f->sink.addr = optarg; break;
		case 'N': f->sink.name = optarg; break;
		case 'P': f->sink.secret = optarg; break;
		case 'w': f->window = strtoull(optarg, NULL, 10); break;
		case 'W': f->warmup = atof(optarg); break;
		case 'd': f->duration = atof(optarg); break;
		default: return -1;
		}
	}
	if (f->target_addr == NULL || f->to == NULL || f->cert == NULL ||
	    f->key == NULL || f->sink.addr == NULL || f->sink.name == NULL ||
	    f->sink.secret == NULL || f->src_count == 0 ||
	    load_addr(f->target_addr, &f->target) < 0)
		return -1;
	return 0;
}

int
load_fanin_main(int argc, char **argv)
{
	struct fanin f = { .domain = "load.test", .src_base = "127.0.1.1",
	                   .src_count = 40, .concurrency = 100,
	                   .step_timeout = 120, .hs_timeout = 15, .window = 2000, .warmup = 2,
	                   .duration = 10 };

	fan_steps(&f, "1000,10000");
	f.waiting = true;           /* until the sink is attached */
	f.loop = uv_default_loop();
	load_comp_init(&f.sink, f.loop, &f);
	if (fan_args(&f, argc, argv) < 0) {
		fputs(fan_usage, stderr);
		return 2;
	}
	gnutls_certificate_allocate_credentials(&f.cred);
	if (gnutls_certificate_set_x509_key_file(f.cred, f.cert, f.key,
	    GNUTLS_X509_FMT_PEM) < 0) {
		fprintf(stderr, "load fanin: cannot load %s / %s\n", f.cert, f.key);
		return 1;
	}
	f.s = xcalloc(f.count, sizeof(*f.s));
	f.sink.on_ready = fan_sink_ready;
	f.sink.on_msg = fan_sink_msg;
	f.sink.on_fail = fan_sink_fail;
	uv_timer_init(f.loop, &f.tick);
	f.tick.data = &f;
	uv_timer_start(&f.tick, fan_tick, 1, 1);
	uv_pipe_init(f.loop, &f.ctl, 0);
	f.ctl.data = &f;
	uv_pipe_open(&f.ctl, 0);
	uv_read_start((uv_stream_t *)&f.ctl, ctl_alloc, ctl_read);
	if (load_comp_connect(&f.sink) < 0)
		f.done = true;
	uv_run(f.loop, UV_RUN_DEFAULT);
	free(f.s);
	load_hist_free(&f.lat);
	gnutls_certificate_free_credentials(f.cred);
	uv_loop_close(f.loop);
	return f.why[0] != '\0' && f.established == 0 ? 1 : 0;
}
