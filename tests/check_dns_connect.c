/* check_dns_connect.c - dns/dns_connect on loopback: the order of attempts,
 * Happy Eyeballs racing, priority groups, time-outs, the failure list,
 * cancel, and the callback rules (once, never before start returns).
 *
 * Listening sockets accept; a closed port refuses; a listener with a full
 * accept queue (backlog 0 and one connection never accepted) drops SYNs,
 * which makes an attempt hang until its time-out. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "cm/err.h"
#include "cm/util.h"
#include "dns/dns_connect.h"

/* A TCP socket bound to IP:0; *PORT gets the port. */
static int
bound_socket(const char *ip, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
	int fd = socket(fam, SOCK_STREAM, 0);

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)fam;
	if (fam == AF_INET)
		inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr);
	else
		inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(fam == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                             : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static int
listener(const char *ip, int *port)
{
	int fd = bound_socket(ip, port);

	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

/* Whether ::1 exists here (some containers have no IPv6 at all). */
static bool
have_ipv6(void)
{
	struct sockaddr_in6 sin6;
	int fd = socket(AF_INET6, SOCK_STREAM, 0), rc;

	if (fd < 0)
		return false;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	rc = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	close(fd);
	return rc == 0;
}

/* A port where nothing listens: connections are refused. */
static int
refused_port(const char *ip)
{
	int port, fd = bound_socket(ip, &port);

	close(fd);
	return port;
}

/* A listener whose accept queue is full: SYNs are dropped. FILLER must be
 * closed by the caller too. */
static int
blackhole(const char *ip, int *port, int *filler)
{
	struct sockaddr_in sin;
	int fd = bound_socket(ip, port);

	ck_assert_int_eq(listen(fd, 0), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)*port);
	inet_pton(AF_INET, ip, &sin.sin_addr);
	*filler = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*filler, (struct sockaddr *)&sin, sizeof(sin)),
	                 0);
	return fd;
}

struct outcome {
	int calls;
	int status;
	size_t cand;
	bool direct_tls;
	int peer_port;
	int peer_addr;  /* last byte of a peer's IPv4 address */
	char fails[1024];
	uint64_t ms;
	bool started;  /* set right after dns_connect_start returned */
};

static uint64_t t_start;

static void
on_connect(int status, const struct dns_connect_result *r, void *arg)
{
	struct outcome *o = arg;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char line[256];
	size_t i;

	ck_assert_msg(o->started, "callback before dns_connect_start returned");
	o->calls++;
	o->status = status;
	o->ms = (uv_hrtime() - t_start) / 1000000;
	o->fails[0] = '\0';
	for (i = 0; i < r->nfails; i++) {
		dns_connect_fail_str(&r->fails[i], line, sizeof(line));
		strncat(o->fails, line, sizeof(o->fails) - strlen(o->fails) - 2);
		strcat(o->fails, "\n");
	}
	if (status != 0) {
		ck_assert_ptr_null(r->tcp);
		return;
	}
	o->cand = r->cand;
	o->direct_tls = r->direct_tls;
	ck_assert_int_eq(uv_tcp_getpeername(r->tcp, (struct sockaddr *)&ss,
	                                    &len), 0);
	if (ss.ss_family == AF_INET)
		o->peer_addr = ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) &
		               0xff;
	o->peer_port = ntohs(ss.ss_family == AF_INET
	                         ? ((struct sockaddr_in *)&ss)->sin_port
	                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
	dns_connect_tcp_close(r->tcp);
}

static void
run(struct dns_cand_list *l, uint32_t timeout_ms, uint32_t race_ms,
    struct outcome *o)
{
	struct dns_connect_opts opts = {timeout_ms, race_ms, 0};
	uv_loop_t loop;

	memset(o, 0, sizeof(*o));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	t_start = uv_hrtime();
	ck_assert_int_eq(dns_connect_start(&loop, l, &opts, on_connect, o, NULL),
	                 0);
	o->started = true;
	dns_cand_free(l);  /* borrowed during the start call only */
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(o->calls, 1);
	ck_assert_int_eq(uv_loop_close(&loop), 0);  /* every handle closed */
}

static size_t
cand(struct dns_cand_list *l, const char *host, int port, int prio, bool tls)
{
	return dns_cand_add(l, host, (uint16_t)port, tls, true, (uint16_t)prio,
	                    0, 60);
}

/* RFC 6120 3.2.1 step 7: the first target refuses, the next one is tried. */
START_TEST(test_next_target)
{
	struct dns_cand_list *l = dns_cand_new("example.test");
	int port, lfd = listener("127.0.0.2", &port);
	int bad = refused_port("127.0.0.1");
	struct outcome o;
	size_t c;
	char want[256];

	c = cand(l, "one.example.test", bad, 10, false);
	dns_cand_add_addr_str(l, c, "127.0.0.1");
	c = cand(l, "two.example.test", port, 20, true);
	dns_cand_add_addr_str(l, c, "127.0.0.2");
	run(l, 2000, 250, &o);
	ck_assert_int_eq(o.status, 0);
	ck_assert_uint_eq(o.cand, 1);
	ck_assert(o.direct_tls);
	ck_assert_int_eq(o.peer_port, port);
	snprintf(want, sizeof(want),
	         "one.example.test 127.0.0.1:%d ECONNREFUSED (connection "
	         "refused)\n", bad);
	ck_assert_str_eq(o.fails, want);
	close(lfd);
}
END_TEST

/* A TCP listener on IP:PORT (a port already in use on another address). */
static int
listener_on(const char *ip, int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sin.sin_addr);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

/* RFC 8305: the host's first address hangs; its second address starts
 * after the race delay and wins long before the first would time out. */
START_TEST(test_race)
{
	struct dns_cand_list *l = dns_cand_new("example.test");
	int port, filler, bfd = blackhole("127.0.0.3", &port, &filler);
	int lfd = listener_on("127.0.0.4", port);
	struct outcome o;
	size_t c;

	c = cand(l, "a.example.test", port, 5, false);
	dns_cand_add_addr_str(l, c, "127.0.0.3");
	dns_cand_add_addr_str(l, c, "127.0.0.4");
	run(l, 5000, 250, &o);
	ck_assert_int_eq(o.status, 0);
	ck_assert_uint_eq(o.cand, 0);
	ck_assert_int_eq(o.peer_addr, 4);
	ck_assert_msg(o.ms >= 240 && o.ms < 2000, "won after %llu ms",
	              (unsigned long long)o.ms);
	ck_assert_str_eq(o.fails, "");  /* the loser was closed, not failed */
	close(lfd);
	close(filler);
	close(bfd);
}
END_TEST

/* A backup (higher priority number) is not raced against a slow primary:
 * it starts only when the primary's attempt has timed out. */
START_TEST(test_priority_waits)
{
	struct dns_cand_list *l = dns_cand_new("example.test");
	int bport, filler, bfd = blackhole("127.0.0.5", &bport, &filler);
	int lport, lfd = listener("127.0.0.6", &lport);
	struct outcome o;
	size_t c;
	char want[256];

	c = cand(l, "primary.example.test", bport, 1, false);
	dns_cand_add_addr_str(l, c, "127.0.0.5");
	c = cand(l, "backup.example.test", lport, 2, false);
	dns_cand_add_addr_str(l, c, "127.0.0.6");
	run(l, 600, 50, &o);
	ck_assert_int_eq(o.status, 0);
	ck_assert_uint_eq(o.cand, 1);
	ck_assert_msg(o.ms >= 590, "backup raced after %llu ms",
	              (unsigned long long)o.ms);
	snprintf(want, sizeof(want),
	         "primary.example.test 127.0.0.5:%d ETIMEDOUT (connection "
	         "timed out)\n", bport);
	ck_assert_str_eq(o.fails, want);
	close(lfd);
	close(filler);
	close(bfd);
}
END_TEST

/* Nothing works: every address and the host without address are reported
 * in order; a duplicate address is tried once. */
START_TEST(test_all_fail)
{
	struct dns_cand_list *l = dns_cand_new("example.test");
	const char *ip2 = have_ipv6() ? "::1" : "127.0.0.17";
	int p1 = refused_port("127.0.0.7"), p2 = refused_port(ip2);
	struct outcome o;
	size_t c;
	char want[512], a2[64];

	c = cand(l, "x.example.test", p1, 1, false);
	dns_cand_add_addr_str(l, c, "127.0.0.7");
	c = cand(l, "gone.example.test", 5269, 1, false);
	dns_cand_set_err(l, c, S2SD_EDNS_NXDOMAIN);
	c = cand(l, "y.example.test", p2, 2, false);
	dns_cand_add_addr_str(l, c, ip2);
	dns_cand_addr_str(&dns_cand_get(l, c)->addrs[0], a2, sizeof(a2));
	c = cand(l, "x-again.example.test", p1, 3, false);
	dns_cand_add_addr_str(l, c, "127.0.0.7");
	run(l, 2000, 250, &o);
	ck_assert_int_eq(o.status, S2SD_ECONNECT);
	snprintf(want, sizeof(want),
	         "x.example.test 127.0.0.7:%d ECONNREFUSED (connection refused)\n"
	         "gone.example.test:5269 S2SD_EDNS_NXDOMAIN (domain does not "
	         "exist (NXDOMAIN))\n"
	         "y.example.test %s ECONNREFUSED (connection refused)\n",
	         p1, a2);
	ck_assert_str_eq(o.fails, want);
}
END_TEST

START_TEST(test_all_timeout)
{
	struct dns_cand_list *l = dns_cand_new("example.test");
	int bport, filler, bfd = blackhole("127.0.0.8", &bport, &filler);
	struct outcome o;
	size_t c;

	c = cand(l, "slow.example.test", bport, 1, false);
	dns_cand_add_addr_str(l, c, "127.0.0.8");
	run(l, 300, 250, &o);
	ck_assert_int_eq(o.status, S2SD_ETIMEOUT);
	ck_assert_msg(o.ms >= 290 && o.ms < 1500, "%llu ms",
	              (unsigned long long)o.ms);
	ck_assert(strstr(o.fails, "ETIMEDOUT") != NULL);
	close(filler);
	close(bfd);
}
END_TEST

static void
cancel_cb(uv_timer_t *t)
{
	dns_connect_cancel(t->data);
	uv_close((uv_handle_t *)t, NULL);
}

/* Cancel while an attempt hangs: one callback, UV_ECANCELED, all closed. */
START_TEST(test_cancel)
{
	struct dns_cand_list *l = dns_cand_new("example.test");
	int bport, filler, bfd = blackhole("127.0.0.9", &bport, &filler);
	struct dns_connect_opts opts = {5000, 250, 0};
	struct dns_connect *dc;
	struct outcome o;
	uv_timer_t t;
	uv_loop_t loop;
	size_t c;

	memset(&o, 0, sizeof(o));
	c = cand(l, "slow.example.test", bport, 1, false);
	dns_cand_add_addr_str(l, c, "127.0.0.9");
	uv_loop_init(&loop);
	t_start = uv_hrtime();
	ck_assert_int_eq(dns_connect_start(&loop, l, &opts, on_connect, &o,
	                                   &dc), 0);
	o.started = true;
	dns_cand_free(l);
	uv_timer_init(&loop, &t);
	t.data = dc;
	uv_timer_start(&t, cancel_cb, 100, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.status, UV_ECANCELED);
	ck_assert_msg(o.ms < 1000, "%llu ms", (unsigned long long)o.ms);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	close(filler);
	close(bfd);
}
END_TEST

START_TEST(test_empty)
{
	struct dns_cand_list *l = dns_cand_new("example.test");
	struct dns_connect_opts opts = {0, 0, 0};
	struct dns_connect *dc = (void *)1;
	struct outcome o;
	uv_loop_t loop;

	memset(&o, 0, sizeof(o));
	uv_loop_init(&loop);
	ck_assert_int_eq(dns_connect_start(&loop, l, &opts, on_connect, &o,
	                                   &dc), -EINVAL);
	ck_assert_ptr_null(dc);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(o.calls, 0);  /* an error return never calls back */
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	dns_cand_free(l);
}
END_TEST

static Suite *
dns_connect_suite(void)
{
	Suite *s = suite_create("dns_connect");
	TCase *tc = tcase_create("connect");

	tcase_add_test(tc, test_next_target);
	tcase_add_test(tc, test_race);
	tcase_add_test(tc, test_priority_waits);
	tcase_add_test(tc, test_all_fail);
	tcase_add_test(tc, test_all_timeout);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_empty);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dns_connect_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
