/* check_util.c - cm/util and cm/err: value parsers, buffers, helpers. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/err.h"
#include "cm/util.h"

struct size_case {
	const char *in;
	int rc;
	uint64_t out;
};

static const struct size_case size_cases[] = {
    {"0", 0, 0},          {"512", 0, 512},       {"256k", 0, 262144},
    {"1M", 0, 1048576},   {"2g", 0, 2147483648ULL}, {"1kb", 0, 1024},
    {"", -EINVAL, 0},     {"k", -EINVAL, 0},     {"12x", -EINVAL, 0},
    {"-1", -EINVAL, 0},   {" 1", -EINVAL, 0},
    {"99999999999999999999", -ERANGE, 0},
    {"17179869184g", -ERANGE, 0},
};

START_TEST(test_parse_size)
{
	const struct size_case *c = &size_cases[_i];
	uint64_t v = 7;

	ck_assert_int_eq(util_parse_size(c->in, &v), c->rc);
	if (c->rc == 0)
		ck_assert_uint_eq(v, c->out);
	else
		ck_assert_uint_eq(v, 7);
}
END_TEST

static const struct size_case dur_cases[] = {
    {"250ms", 0, 250}, {"30s", 0, 30000}, {"5m", 0, 300000},
    {"2h", 0, 7200000}, {"1d", 0, 86400000}, {"10", 0, 10000},
    {"1S", -EINVAL, 0}, {"s", -EINVAL, 0}, {"1.5s", -EINVAL, 0},
};

START_TEST(test_parse_duration)
{
	const struct size_case *c = &dur_cases[_i];
	uint64_t v = 7;

	ck_assert_int_eq(util_parse_duration_ms(c->in, &v), c->rc);
	if (c->rc == 0)
		ck_assert_uint_eq(v, c->out);
}
END_TEST

struct hp_case {
	const char *in;
	int rc;
	const char *host;
	int port;
};

static const struct hp_case hp_cases[] = {
    {"127.0.0.1:5269", 0, "127.0.0.1", 5269},
    {"[::1]:53", 0, "::1", 53},
    {"[::]", 0, "::", 5269},
    {"example.com", 0, "example.com", 5269},
    {"example.com:5270", 0, "example.com", 5270},
    {"::1", -EINVAL, NULL, 0},
    {"[::1", -EINVAL, NULL, 0},
    {"[::1]x", -EINVAL, NULL, 0},
    {"host:0", -EINVAL, NULL, 0},
    {"host:65536", -EINVAL, NULL, 0},
    {"host:", -EINVAL, NULL, 0},
    {":5269", -EINVAL, NULL, 0},
    {"", -EINVAL, NULL, 0},
};

START_TEST(test_parse_hostport)
{
	const struct hp_case *c = &hp_cases[_i];
	char host[64];
	int port = -1;

	ck_assert_int_eq(util_parse_hostport(c->in, 5269, host, sizeof(host),
	                                     &port), c->rc);
	if (c->rc == 0) {
		ck_assert_str_eq(host, c->host);
		ck_assert_int_eq(port, c->port);
	}
}
END_TEST

START_TEST(test_parse_bool)
{
	bool b = false;

	ck_assert_int_eq(util_parse_bool("Yes", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(util_parse_bool("off", &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(util_parse_bool("maybe", &b), -EINVAL);
}
END_TEST

START_TEST(test_buf)
{
	struct util_buf b = {0};
	size_t len;
	char *s;

	util_buf_puts(&b, "hello");
	util_buf_printf(&b, " %d %s", 42, "world");
	ck_assert_str_eq(b.data, "hello 42 world");
	util_buf_consume(&b, 6);
	ck_assert_str_eq(b.data, "42 world");
	ck_assert_uint_eq(b.len, 8);
	for (int i = 0; i < 1000; i++)
		util_buf_append(&b, "x", 1);
	ck_assert_uint_eq(b.len, 1008);
	s = util_buf_steal(&b, &len);
	ck_assert_uint_eq(len, 1008);
	ck_assert_ptr_null(b.data);
	free(s);
	util_buf_free(&b);
	/* A buffer that never got data steals as "", not garbage. */
	s = util_buf_steal(&b, &len);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_hex_ct)
{
	char out[9];

	util_hex("\x00\xab\x10\xff", 4, out);
	ck_assert_str_eq(out, "00ab10ff");
	ck_assert(util_memeq_ct("abc", "abc", 3));
	ck_assert(!util_memeq_ct("abc", "abd", 3));
	ck_assert(util_connid() != 0);
}
END_TEST

START_TEST(test_err_table)
{
	ck_assert_str_eq(err_name(S2SD_EDNS_NXDOMAIN), "S2SD_EDNS_NXDOMAIN");
	ck_assert_str_eq(err_condition(S2SD_EDNS_TIMEOUT),
	                 "remote-server-timeout");
	ck_assert_str_eq(err_condition(S2SD_EXML_RESTRICTED), "restricted-xml");
	ck_assert(err_is_temporary(S2SD_EDNS_TEMP));
	ck_assert(!err_is_temporary(S2SD_ENULLSVC));
	ck_assert_str_eq(err_name(-ECONNREFUSED), "ECONNREFUSED");
	ck_assert(err_is_temporary(-ECONNREFUSED));
	ck_assert_str_eq(err_condition(-ECONNREFUSED),
	                 "remote-server-not-found");
	ck_assert_str_eq(err_condition(-ETIMEDOUT), "remote-server-timeout");
	ck_assert_str_eq(err_str(0), "success");
}
END_TEST

START_TEST(test_read_file)
{
	struct util_buf b = {0};
	char path[] = "/tmp/s2sd-util-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "abc\n", 4), 4);
	close(fd);
	ck_assert_int_eq(util_read_file(path, &b), 0);
	ck_assert_str_eq(b.data, "abc\n");
	ck_assert_uint_eq(b.len, 4);
	truncate(path, 0);
	util_buf_reset(&b);
	ck_assert_int_eq(util_read_file(path, &b), 0);
	ck_assert_str_eq(b.data, "");       /* empty, but a string */
	unlink(path);
	ck_assert_int_eq(util_read_file(path, &b), -ENOENT);
	util_buf_free(&b);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse_size, 0, UTIL_ARRAY_LEN(size_cases));
	tcase_add_loop_test(tc, test_parse_duration, 0, UTIL_ARRAY_LEN(dur_cases));
	tcase_add_loop_test(tc, test_parse_hostport, 0, UTIL_ARRAY_LEN(hp_cases));
	tcase_add_test(tc, test_parse_bool);
	tcase_add_test(tc, test_buf);
	tcase_add_test(tc, test_hex_ct);
	tcase_add_test(tc, test_err_table);
	tcase_add_test(tc, test_read_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
