/* check_notify.c - cm/notify: the datagrams systemd would receive on its
 * NOTIFY_SOCKET, and silence without one. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cm/notify.h"

/* A datagram socket standing in for systemd's, bound under a temporary
 * directory and named in NOTIFY_SOCKET. */
struct fake_manager {
	char dir[64];
	char path[96];
	int fd;
};

static void
manager_open(struct fake_manager *m)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 2};

	snprintf(m->dir, sizeof(m->dir), "/tmp/check_notify.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(m->dir));
	snprintf(m->path, sizeof(m->path), "%s/notify", m->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", m->path);
	m->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(m->fd, 0);
	ck_assert_int_eq(bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(setsockopt(m->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	                            sizeof(tv)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", m->path, 1), 0);
}

static void
manager_close(struct fake_manager *m)
{
	unsetenv("NOTIFY_SOCKET");
	close(m->fd);
	unlink(m->path);
	rmdir(m->dir);
}

/* The next datagram, NUL-terminated, into BUF. */
static void
manager_recv(struct fake_manager *m, char *buf, size_t len)
{
	ssize_t n = recv(m->fd, buf, len - 1, 0);

	ck_assert_msg(n >= 0, "no datagram: %s", strerror(errno));
	buf[n] = '\0';
}

START_TEST(test_ready_stopping)
{
	struct fake_manager m;
	char buf[512];

	manager_open(&m);
	ck_assert_int_eq(notify_ready(), 1);
	manager_recv(&m, buf, sizeof(buf));
	ck_assert_str_eq(buf, "READY=1");
	ck_assert_int_eq(notify_stopping(), 1);
	manager_recv(&m, buf, sizeof(buf));
	ck_assert_str_eq(buf, "STOPPING=1");
	manager_close(&m);
}
END_TEST

START_TEST(test_reloading_has_monotonic_time)
{
	struct fake_manager m;
	struct timespec before, after;
	unsigned long long usec, lo, hi;
	char buf[512];

	manager_open(&m);
	clock_gettime(CLOCK_MONOTONIC, &before);
	ck_assert_int_eq(notify_reloading(), 1);
	clock_gettime(CLOCK_MONOTONIC, &after);
	manager_recv(&m, buf, sizeof(buf));
	ck_assert_int_eq(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec),
	                 1);
	lo = (unsigned long long)before.tv_sec * 1000000ULL +
	     (unsigned long long)before.tv_nsec / 1000ULL;
	hi = (unsigned long long)after.tv_sec * 1000000ULL +
	     (unsigned long long)after.tv_nsec / 1000ULL;
	ck_assert_uint_ge(usec, lo);
	ck_assert_uint_le(usec, hi);
	manager_close(&m);
}
END_TEST

START_TEST(test_status_one_line)
{
	struct fake_manager m;
	char buf[1024];

	manager_open(&m);
	ck_assert_int_eq(notify_status("running config=%s n=%d", "/x.conf", 3),
	                 1);
	manager_recv(&m, buf, sizeof(buf));
	ck_assert_str_eq(buf, "STATUS=running config=/x.conf n=3");
	/* A newline in the text must not smuggle in another assignment. */
	ck_assert_int_eq(notify_status("bad\nREADY=1"), 1);
	manager_recv(&m, buf, sizeof(buf));
	ck_assert_str_eq(buf, "STATUS=bad READY=1");
	manager_close(&m);
}
END_TEST

START_TEST(test_no_socket_is_noop)
{
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(notify_ready(), 0);
	ck_assert_int_eq(notify_reloading(), 0);
	ck_assert_int_eq(notify_stopping(), 0);
	ck_assert_int_eq(notify_status("x"), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "", 1), 0);
	ck_assert_int_eq(notify_ready(), 0);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(test_missing_socket_is_error)
{
	ck_assert_int_eq(setenv("NOTIFY_SOCKET",
	                        "/nonexistent-dir-s2sd/notify", 1), 0);
	ck_assert_int_lt(notify_ready(), 0);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

static Suite *
notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_ready_stopping);
	tcase_add_test(tc, test_reloading_has_monotonic_time);
	tcase_add_test(tc, test_status_one_line);
	tcase_add_test(tc, test_no_socket_is_noop);
	tcase_add_test(tc, test_missing_socket_is_error);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(notify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
