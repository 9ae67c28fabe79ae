/* check_dns_live.c - dns/dns, dns_connect and dns_report against a real DNS
 * server: dnsmasq on 127.0.0.1 and a free high port, with SRV, A, AAAA and
 * CNAME data written by each test; listeners on 127.0.0.x made by the test.
 *
 * dnsmasq is started per test (fork/exec) and killed by PID at the end of
 * the test, or by the kernel when the test process dies first
 * (PR_SET_PDEATHSIG: a failing assertion ends the forked test process).
 * Its directory belongs to main(), which removes it whatever happened.
 * Only 127.0.0.0/8 and ::1. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "cm/err.h"
#include "cm/util.h"
#include "dns/dns.h"
#include "dns/dns_connect.h"
#include "dns/dns_report.h"

static struct {
	pid_t pid;
	int port;
	char dir[64];
} dm;

static void
dm_stop(void)
{
	if (dm.pid > 0) {
		kill(dm.pid, SIGTERM);
		waitpid(dm.pid, NULL, 0);
		dm.pid = 0;
	}
}

static void
dm_rmdir(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/zone.conf", dm.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/log", dm.dir);
	unlink(path);
	rmdir(dm.dir);
}

/* A port that is free for UDP and TCP on 127.0.0.1 right now. */
static int
free_port(int type)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, type, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, len), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* Any answer to a query for "ready.test" means dnsmasq is serving. */
static bool
dm_answers(void)
{
	static const uint8_t q[] = {0x42, 0x42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	                            5, 'r', 'e', 'a', 'd', 'y', 4, 't', 'e',
	                            's', 't', 0, 0, 1, 0, 1};
	struct timeval tv = {0, 50000};
	struct sockaddr_in sin;
	uint8_t buf[512];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	ssize_t n;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)dm.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&sin, sizeof(sin));
	n = recv(fd, buf, sizeof(buf), 0);
	close(fd);
	return n >= 12 && buf[0] == 0x42 && buf[1] == 0x42;
}

static void
dm_exec(const char *extra)
{
	char conf[128], port[32], log[128];
	int fd;

	snprintf(conf, sizeof(conf), "--conf-file=%s/zone.conf", dm.dir);
	snprintf(port, sizeof(port), "--port=%d", dm.port);
	snprintf(log, sizeof(log), "%s/log", dm.dir);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	/* As root dnsmasq would switch to "nobody"; staying root keeps it
	 * able to read the zone in our private directory. */
	execlp("dnsmasq", "dnsmasq", "--keep-in-foreground", "--no-resolv",
	       "--no-hosts", conf, port, "--listen-address=127.0.0.1",
	       "--bind-interfaces", "--log-facility=-", "--log-queries",
	       "--pid-file=", getuid() == 0 ? "--user=root" : "--local-service",
	       extra, (char *)NULL);
	_exit(127);
}

/* (Re)start dnsmasq with ZONE; keeps the port across restarts. */
static void
dm_start(const char *zone, const char *extra)
{
	char path[128];
	FILE *f;
	int i;

	dm_stop();
	if (dm.port == 0)
		dm.port = free_port(SOCK_DGRAM);
	snprintf(path, sizeof(path), "%s/zone.conf", dm.dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "local=/test/\n%s", zone);
	fclose(f);
	ck_assert_int_ge(dm.pid = fork(), 0);
	if (dm.pid == 0)
		dm_exec(extra != NULL ? extra : "--local-ttl=60");
	for (i = 0; i < 100 && !dm_answers(); i++)
		usleep(30000);
	ck_assert_msg(i < 100, "dnsmasq does not answer (see %s/log)", dm.dir);
}

static char *
dm_servers(void)
{
	return xasprintf("127.0.0.1:%d", dm.port);
}

/* --- resolving ------------------------------------------------------------ */

struct answer {
	int calls, status;
	struct dns_cand_list *l;
	uint64_t ms;
};

static uint64_t t0;

static void
on_resolved(int status, struct dns_cand_list *l, void *arg)
{
	struct answer *a = arg;

	a->calls++;
	a->status = status;
	a->l = l;
	a->ms = (uv_hrtime() - t0) / 1000000;
}

struct live {
	uv_loop_t loop;
	struct dns_resolver *res;
};

static void
live_open(struct live *lv, const char *servers, uint32_t timeout_ms,
          uint32_t neg_ttl_s)
{
	struct dns_resolver_opts o = {servers, timeout_ms, 2, 128, neg_ttl_s,
	                              0, NULL, NULL};
	char why[128];

	ck_assert_int_eq(uv_loop_init(&lv->loop), 0);
	ck_assert_int_eq(dns_resolver_new(&lv->loop, &o, &lv->res, why,
	                                  sizeof(why)), 0);
}

static void
on_closed(void *arg)
{
	(*(int *)arg)++;
}

static void
live_close(struct live *lv)
{
	int closed = 0;

	dns_resolver_close(lv->res, on_closed, &closed);
	uv_run(&lv->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(closed, 1);
	ck_assert_int_eq(uv_loop_close(&lv->loop), 0);
}

static void
resolve(struct live *lv, const char *domain, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	t0 = uv_hrtime();
	ck_assert_int_eq(dns_resolve(lv->res, domain, 0, on_resolved, a, NULL),
	                 0);
	ck_assert_int_eq(a->calls, 0);  /* never before dns_resolve returns */
	uv_run(&lv->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(a->calls, 1);
}

/* "host:port[/tls][/fallback]=addr,addr;..." */
static char *
cands_str(const struct dns_cand_list *l)
{
	struct util_buf b = {0};
	const struct dns_cand *c;
	char addr[64];
	size_t i, k;

	util_buf_puts(&b, "");
	for (i = 0; l != NULL && i < dns_cand_count(l); i++) {
		c = dns_cand_get(l, i);
		util_buf_printf(&b, "%s%s:%u%s%s=", i ? ";" : "", c->host, c->port,
		                c->direct_tls ? "/tls" : "",
		                c->via_srv ? "" : "/fallback");
		for (k = 0; k < c->naddrs; k++) {
			dns_cand_addr_str(&c->addrs[k], addr, sizeof(addr));
			util_buf_printf(&b, "%s%s", k ? "," : "", addr);
		}
	}
	return util_buf_steal(&b, NULL);
}

static void
expect(struct live *lv, const char *domain, int status, const char *want)
{
	struct answer a;
	char *s;

	resolve(lv, domain, &a);
	ck_assert_msg(a.status == status, "%s: %s, want %s", domain,
	              err_name(a.status), err_name(status));
	if (want != NULL) {
		s = cands_str(a.l);
		ck_assert_msg(strcmp(s, want) == 0, "%s:\n got %s\nwant %s",
		              domain, s, want);
		free(s);
	}
	dns_cand_free(a.l);
}

static const char zone[] =
    "srv-host=_xmpp-server._tcp.single.test,xmpp.single.test,5269,0,5\n"
    "host-record=xmpp.single.test,127.0.0.2,::1\n"
    "srv-host=_xmpps-server._tcp.mix.test,tls.mix.test,5223,5,0\n"
    "srv-host=_xmpp-server._tcp.mix.test,plain.mix.test,5269,10,0\n"
    "host-record=tls.mix.test,127.0.0.5\n"
    "host-record=plain.mix.test,127.0.0.6\n"
    "host-record=nosrv.test,127.0.0.7,::1\n"
    "srv-host=_xmpp-server._tcp.dot.test,.\n"
    "host-record=dot.test,127.0.0.8\n"
    "srv-host=_xmpp-server._tcp.cn.test,alias.cn.test,5270,0,0\n"
    "cname=alias.cn.test,real.cn.test\n"
    "host-record=real.cn.test,127.0.0.9\n"
    "srv-host=_xmpp-server._tcp.half.test,ok.half.test,5269,1,0\n"
    "srv-host=_xmpp-server._tcp.half.test,gone.half.test,5269,2,0\n"
    "host-record=ok.half.test,127.0.0.12\n";

START_TEST(test_records)
{
	struct live lv;
	char *servers;

	dm_start(zone, NULL);
	servers = dm_servers();
	live_open(&lv, servers, 1000, 60);
	/* A single SRV record; IPv6 first (RFC 8305). */
	expect(&lv, "single.test", 0, "xmpp.single.test:5269=[::1]:5269,"
	                              "127.0.0.2:5269");
	/* XEP-0368: direct TLS at priority 5 before STARTTLS at 10. */
	expect(&lv, "mix.test", 0, "tls.mix.test:5223/tls=127.0.0.5:5223;"
	                           "plain.mix.test:5269=127.0.0.6:5269");
	/* No SRV: the domain itself on 5269 (RFC 6120 3.2.2). */
	expect(&lv, "nosrv.test", 0, "nosrv.test:5269/fallback=[::1]:5269,"
	                             "127.0.0.7:5269");
	/* "." wins over the domain's own A record. */
	expect(&lv, "dot.test", S2SD_ENULLSVC, "");
	expect(&lv, "nosuch.test", S2SD_EDNS_NXDOMAIN,
	       "nosuch.test:5269/fallback=");
	/* Outside dnsmasq's zone, with no upstream: REFUSED, a temporary
	 * server failure, not a missing domain. */
	expect(&lv, "outside.example", S2SD_EDNS_TEMP, NULL);
	/* The SRV target is an alias: c-ares follows the CNAME. */
	expect(&lv, "cn.test", 0, "alias.cn.test:5270=127.0.0.9:5270");
	/* A target without address is kept (the connector reports it). */
	expect(&lv, "half.test", 0, "ok.half.test:5269=127.0.0.12:5269;"
	                            "gone.half.test:5269=");
	/* Names are case-insensitive and may end with a dot; IDNs go out
	 * as A-labels (xn--), which this zone does not have. */
	expect(&lv, "Single.TEST.", 0, NULL);
	expect(&lv, "bücher.test", S2SD_EDNS_NXDOMAIN, NULL);
	live_close(&lv);
	free(servers);
}
END_TEST

static int
listen_on(const char *ip, int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sin.sin_addr);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	return fd;
}

struct conn_out {
	int calls, status;
	size_t cand;
	char fails[512];
};

static void
on_connected(int status, const struct dns_connect_result *r, void *arg)
{
	struct conn_out *o = arg;
	size_t i;

	o->calls++;
	o->status = status;
	o->cand = r->cand;
	for (i = 0; i < r->nfails; i++)
		dns_connect_fail_str(&r->fails[i], o->fails + strlen(o->fails),
		                     sizeof(o->fails) - strlen(o->fails));
	if (status == 0)
		dns_connect_tcp_close(r->tcp);
}

/* Two priorities: the first target refuses, the connector lands on the
 * second (RFC 6120 3.2.1 step 7). */
START_TEST(test_two_priorities_connect)
{
	int refused = free_port(SOCK_STREAM), port = free_port(SOCK_STREAM);
	int lfd = listen_on("127.0.0.4", port);
	struct dns_connect_opts copts = {2000, 250, 0};
	struct conn_out o;
	struct answer a;
	struct live lv;
	char *z, *servers, want[256];

	z = xasprintf("srv-host=_xmpp-server._tcp.two.test,first.two.test,%d,10,0\n"
	              "srv-host=_xmpp-server._tcp.two.test,second.two.test,%d,20,0\n"
	              "host-record=first.two.test,127.0.0.3\n"
	              "host-record=second.two.test,127.0.0.4\n",
	              refused, port);
	dm_start(z, NULL);
	servers = dm_servers();
	live_open(&lv, servers, 1000, 60);
	resolve(&lv, "two.test", &a);
	ck_assert_int_eq(a.status, 0);
	ck_assert_uint_eq(dns_cand_count(a.l), 2);
	ck_assert_str_eq(dns_cand_get(a.l, 0)->host, "first.two.test");
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(dns_connect_start(&lv.loop, a.l, &copts, on_connected,
	                                   &o, NULL), 0);
	dns_cand_free(a.l);
	uv_run(&lv.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.status, 0);
	ck_assert_uint_eq(o.cand, 1);
	snprintf(want, sizeof(want), "first.two.test 127.0.0.3:%d ECONNREFUSED "
	         "(connection refused)", refused);
	ck_assert_str_eq(o.fails, want);
	live_close(&lv);
	close(lfd);
	free(servers);
	free(z);
}
END_TEST

/* A DNS "server" that never answers: a bound UDP socket nobody reads.
 * Returns the server list for it; *FD is the socket to close. */
static char *
silent_server(int *fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	*fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(*fd, (struct sockaddr *)&sin, len), 0);
	ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&sin, &len), 0);
	return xasprintf("127.0.0.1:%d", ntohs(sin.sin_port));
}

/* A server that never answers: a time-out error, in bounded time (c-ares
 * doubles the per-try time-out: 200 + 400 ms), and no fallback. */
START_TEST(test_timeout)
{
	struct answer a;
	struct live lv;
	int fd;
	char *servers = silent_server(&fd);

	live_open(&lv, servers, 200, 60);
	resolve(&lv, "silent.test", &a);
	ck_assert_int_eq(a.status, S2SD_EDNS_TIMEOUT);
	ck_assert_str_eq(err_condition(a.status), "remote-server-timeout");
	ck_assert_msg(a.ms >= 500 && a.ms < 3000, "%llu ms",
	              (unsigned long long)a.ms);
	ck_assert_uint_eq(dns_cand_count(a.l), 0);  /* no fallback tried */
	dns_cand_free(a.l);
	live_close(&lv);
	close(fd);
	free(servers);
}
END_TEST

static void
timer_noop(uv_timer_t *t)
{
	(void)t;  /* a one-shot timer: it only has to fire */
}

static void
wait_ms(uv_loop_t *loop, uint64_t ms)
{
	uv_timer_t t;

	uv_timer_init(loop, &t);
	uv_timer_start(&t, timer_noop, ms, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
}

/* TTLs: dnsmasq is restarted with new data; the cache keeps answering the
 * old data (positive and negative) until the TTL of 2 s has passed. */
START_TEST(test_ttl_expiry)
{
	struct live lv;
	char *servers;

	dm_start("host-record=ttl.test,127.0.0.10\n", "--local-ttl=2");
	servers = dm_servers();
	live_open(&lv, servers, 1000, 2);
	expect(&lv, "ttl.test", 0, "ttl.test:5269/fallback=127.0.0.10:5269");
	expect(&lv, "late.test", S2SD_EDNS_NXDOMAIN, NULL);
	dm_start("host-record=ttl.test,127.0.0.11\n"
	         "host-record=late.test,127.0.0.13\n", "--local-ttl=2");
	expect(&lv, "ttl.test", 0, "ttl.test:5269/fallback=127.0.0.10:5269");
	expect(&lv, "late.test", S2SD_EDNS_NXDOMAIN, NULL);
	wait_ms(&lv.loop, 2100);
	expect(&lv, "ttl.test", 0, "ttl.test:5269/fallback=127.0.0.11:5269");
	expect(&lv, "late.test", 0, "late.test:5269/fallback=127.0.0.13:5269");
	live_close(&lv);
	free(servers);
}
END_TEST

/* No DNS for an IP literal domain; cancel and close call back once with
 * UV_ECANCELED; a closing resolver refuses new lookups. */
START_TEST(test_literal_cancel_close)
{
	struct answer a1, a2;
	struct dns_lookup *lk;
	struct live lv;
	int fd;
	char *servers = silent_server(&fd);

	live_open(&lv, servers, 5000, 60);
	expect(&lv, "127.0.0.1", 0, "127.0.0.1:5269/fallback=127.0.0.1:5269");
	expect(&lv, "[::1]", 0, "::1:5269/fallback=[::1]:5269");
	ck_assert_int_eq(dns_resolve(lv.res, "bad..name", 0, on_resolved, &a1,
	                             NULL), -EINVAL);

	memset(&a1, 0, sizeof(a1));
	memset(&a2, 0, sizeof(a2));
	ck_assert_int_eq(dns_resolve(lv.res, "one.test", 0, on_resolved, &a1,
	                             &lk), 0);
	ck_assert_int_eq(dns_resolve(lv.res, "two.test", 0, on_resolved, &a2,
	                             NULL), 0);
	dns_lookup_cancel(lk);
	ck_assert_int_eq(a1.calls, 0);  /* from the loop, not from cancel */
	uv_run(&lv.loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(a1.calls, 1);
	ck_assert_int_eq(a1.status, UV_ECANCELED);
	ck_assert_int_eq(a2.calls, 0);  /* still waiting for the server */
	dns_resolver_close(lv.res, NULL, NULL);
	ck_assert_int_eq(dns_resolve(lv.res, "three.test", 0, on_resolved, &a1,
	                             NULL), S2SD_ESHUTDOWN);
	uv_run(&lv.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(a2.calls, 1);
	ck_assert_int_eq(a2.status, UV_ECANCELED);
	ck_assert_int_eq(a1.calls, 1);
	ck_assert_int_eq(uv_loop_close(&lv.loop), 0);
	close(fd);
	free(servers);
}
END_TEST

/* dns_report_run: what `s2sctl dns` prints, and its exit status. */
START_TEST(test_report)
{
	int okp = free_port(SOCK_STREAM), badp = free_port(SOCK_STREAM);
	int lfd = listen_on("127.0.0.14", okp);
	char *z, *servers, *text = NULL;
	size_t len = 0;
	FILE *out;
	int rc;

	z = xasprintf("srv-host=_xmpps-server._tcp.report.test,tls.report.test,"
	              "%d,5,0\n"
	              "srv-host=_xmpp-server._tcp.report.test,a.report.test,%d,"
	              "10,60\n"
	              "srv-host=_xmpp-server._tcp.report.test,b.report.test,%d,"
	              "20,0\n"
	              "host-record=tls.report.test,127.0.0.14\n"
	              "host-record=a.report.test,127.0.0.15,::1\n",
	              okp, badp, badp);
	dm_start(z, NULL);
	servers = dm_servers();
	out = open_memstream(&text, &len);
	rc = dns_report_run("report.test", servers, true, out);
	fclose(out);
	fprintf(stderr, "%s", text);  /* kept in the test log */
	ck_assert_int_eq(rc, DNS_REPORT_OK);
	ck_assert(strstr(text, "_xmpp-server._tcp.report.test: 2 records") !=
	          NULL);
	ck_assert(strstr(text, "priority 10 weight 60 port") != NULL);
	ck_assert(strstr(text, "1. tls.report.test") != NULL);
	ck_assert(strstr(text, "2. a.report.test") != NULL);
	ck_assert(strstr(text, "3. b.report.test") != NULL);
	ck_assert(strstr(text, "connect ok") != NULL);
	ck_assert(strstr(text, "connect failed: ECONNREFUSED") != NULL);
	ck_assert(strstr(text, "no address: S2SD_EDNS_NXDOMAIN") != NULL);
	free(text);

	out = open_memstream(&text, &len);
	rc = dns_report_run("nosuch.test", servers, false, out);
	fclose(out);
	ck_assert_int_eq(rc, DNS_REPORT_UNREACHABLE);
	ck_assert(strstr(text, "remote-server-not-found") != NULL);
	free(text);
	out = open_memstream(&text, &len);
	ck_assert_int_eq(dns_report_run("x.test", "not-an-ip", false, out),
	                 DNS_REPORT_USAGE);
	fclose(out);
	free(text);
	close(lfd);
	free(servers);
	free(z);
}
END_TEST

static Suite *
dns_live_suite(void)
{
	Suite *s = suite_create("dns_live");
	TCase *tc = tcase_create("dnsmasq");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, NULL, dm_stop);
	tcase_add_test(tc, test_records);
	tcase_add_test(tc, test_two_priorities_connect);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_ttl_expiry);
	tcase_add_test(tc, test_literal_cancel_close);
	tcase_add_test(tc, test_report);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dns_live_suite());
	int failed;

	snprintf(dm.dir, sizeof(dm.dir), "/tmp/s2sd-dns-XXXXXX");
	if (mkdtemp(dm.dir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	srunner_run_all(sr, CK_NORMAL);
	dm_rmdir();
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
