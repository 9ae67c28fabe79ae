/* check_config.c - s2sd.conf parsing: golden error files, values, defaults,
 * overrides, list continuation, secrets, the sample configuration. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm/config.h"
#include "cm/err.h"
#include "cm/util.h"
#include "tests/lib/testutil.h"

/* Each tests/data/config/NAME.conf has NAME.ref: the exact error output with
 * the file's path written as FILE and its directory as DIR. */
static const char *const golden[] = {
    "ok_minimal",     "typo_key",        "unknown_section",
    "bad_values",     "bad_enum",        "duplicate",
    "bad_addr",       "append_scalar",   "syntax",
    "none_needs_dialback", "required_needs_cert", "required_no_cert",
    "no_domain",      "dup_domain",      "bad_domain",
    "bad_pairs",      "backoff",         "missing_secret",
    "home_bogus",     "long_line",      "dup_idn",
};

START_TEST(test_golden)
{
	char *dir = testutil_data_path("config");
	char *conf = xasprintf("%s/%s.conf", dir, golden[_i]);
	char *ref = xasprintf("%s/%s.ref", dir, golden[_i]);
	char *expect = testutil_read_file(ref, NULL);
	struct util_buf errors = {0};
	struct config *cfg = NULL;
	int rc;

	rc = config_load(conf, NULL, &cfg, &errors, NULL);
	testutil_replace_all(&errors, conf, "FILE");
	testutil_replace_all(&errors, dir, "DIR");
	ck_assert_msg(strcmp(errors.data != NULL ? errors.data : "", expect) ==
	                  0, "%s: got:\n%s\nexpected:\n%s", golden[_i],
	              errors.data, expect);
	if (expect[0] == '\0') {
		ck_assert_int_eq(rc, 0);
		ck_assert_ptr_nonnull(cfg);
	} else {
		ck_assert_int_eq(rc, S2SD_ECONFIG);
		ck_assert_ptr_null(cfg);
	}
	config_unref(cfg);
	util_buf_free(&errors);
	free(expect);
	free(ref);
	free(conf);
	free(dir);
}
END_TEST

/* Write TEXT to a fresh temporary config file; returns its path. */
static char *
write_conf(const char *text)
{
	char *dir = testutil_tempdir();
	char *path = xasprintf("%s/s2sd.conf", dir);

	testutil_write_file(path, text, 0600);
	free(dir);
	return path;
}

static struct config *
load_ok(const char *path, const char *const *ov)
{
	struct util_buf errors = {0};
	struct config *cfg = NULL;

	ck_assert_msg(config_load(path, ov, &cfg, &errors, NULL) == 0,
	              "unexpected errors: %s", errors.data);
	util_buf_free(&errors);
	return cfg;
}

START_TEST(test_defaults_and_values)
{
	char *path = write_conf("[domains]\nim = Example.COM. b.example\n"
	                        "[limits]\nmax_stanza_size = 1m\n"
	                        "connect_timeout = 1500ms\n"
	                        "[files]\npolicy = pol\n");
	struct config *cfg = load_ok(path, NULL);
	char *dir = xstrdup(path);
	char *expect;
	size_t n;

	*strrchr(dir, '/') = '\0';
	ck_assert_uint_eq(config_num(cfg, CONFIG_LIM_MAX_STANZA_SIZE), 1048576);
	ck_assert_uint_eq(config_num(cfg, CONFIG_LIM_CONNECT_TIMEOUT), 1500);
	ck_assert_uint_eq(config_num(cfg, CONFIG_LIM_NEGOTIATION_TIMEOUT), 30000);
	ck_assert_int_eq(config_enum(cfg, CONFIG_FED_SECURITY),
	                 CONFIG_SECURITY_OPTIONAL);
	ck_assert(config_bool(cfg, CONFIG_FED_ENABLED));
	ck_assert_str_eq(config_list(cfg, CONFIG_DOMAINS_IM, &n)[0],
	                 "example.com");
	ck_assert_uint_eq(n, 2);
	ck_assert(config_is_local_domain(cfg, "b.example"));
	ck_assert(!config_is_local_domain(cfg, "c.example"));
	ck_assert_str_eq(config_list(cfg, CONFIG_FED_LISTEN, &n)[1],
	                 "[::]:5269");
	ck_assert_str_eq(config_list(cfg, CONFIG_COMP_LISTEN, NULL)[0],
	                 "127.0.0.1:5347");
	expect = xasprintf("%s/pol", dir);
	ck_assert_str_eq(config_str(cfg, CONFIG_FILES_POLICY), expect);
	ck_assert_ptr_null(config_secret(cfg, CONFIG_FED_DIALBACK_SECRET_FILE));
	config_unref(cfg);
	free(expect);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_overrides_and_append)
{
	char *path = write_conf("[domains]\nim = a.example\n"
	                        "aliases = x.a.example\n"
	                        "aliases += y.a.example z.a.example\n"
	                        "[federation]\nsecurity = optional\n");
	const char *ov[] = {"federation.listen=127.0.0.1:15269",
	                    "domains.aliases+=w.a.example", NULL};
	const char *bad[] = {"federation.security=", "nodot=1", NULL};
	struct util_buf errors = {0};
	struct config *cfg = load_ok(path, ov);
	size_t n;

	config_list(cfg, CONFIG_DOMAINS_ALIASES, &n);
	ck_assert_uint_eq(n, 4);
	ck_assert(config_is_local_domain(cfg, "w.a.example"));
	ck_assert_str_eq(config_str(cfg, CONFIG_FED_LISTEN), "127.0.0.1:15269");
	config_unref(cfg);
	cfg = NULL;
	ck_assert_int_eq(config_load(path, bad, &cfg, &errors, NULL),
	                 S2SD_ECONFIG);
	ck_assert_str_eq(errors.data,
	                 "command line: federation.security: '' is not one of "
	                 "none|optional|required\n"
	                 "command line: override 'nodot=1' is not "
	                 "section.name=value\n");
	util_buf_free(&errors);
	free(path);
}
END_TEST

START_TEST(test_secrets_never_dumped)
{
	char *path = write_conf("[domains]\nim = a.example\n[federation]\n"
	                        "security = none\n"
	                        "dialback_secret_file = db.secret\n"
	                        "[home node1]\nsecret_file = n1.secret\n");
	char *dir = xstrdup(path), *db, *n1;
	struct util_buf dump = {0}, warnings = {0}, errors = {0};
	struct config *cfg = NULL;

	*strrchr(dir, '/') = '\0';
	db = xasprintf("%s/db.secret", dir);
	n1 = xasprintf("%s/n1.secret", dir);
	testutil_write_file(db, "s3cr3t-dialback\n", 0600);
	testutil_write_file(n1, "s3cr3t-node1", 0644);
	ck_assert_int_eq(config_load(path, NULL, &cfg, &errors, &warnings), 0);
	ck_assert_str_eq(config_secret(cfg, CONFIG_FED_DIALBACK_SECRET_FILE),
	                 "s3cr3t-dialback");
	ck_assert_uint_eq(config_home_count(cfg), 1);
	ck_assert_str_eq(config_home_name(cfg, 0), "node1");
	ck_assert_str_eq(config_home_secret(cfg, 0), "s3cr3t-node1");
	/* The node secret is world-readable: warned about, not refused. */
	ck_assert_ptr_nonnull(strstr(warnings.data, "n1.secret is readable"));
	config_dump(cfg, &dump);
	ck_assert_ptr_nonnull(strstr(dump.data, "federation.security = none"));
	ck_assert_ptr_null(strstr(dump.data, "s3cr3t"));
	config_unref(cfg);
	util_buf_free(&dump);
	util_buf_free(&warnings);
	util_buf_free(&errors);
	free(db);
	free(n1);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_refcount_and_restart_changes)
{
	char *p1 = write_conf("[domains]\nim = a.example\n[federation]\n"
	                      "listen = 127.0.0.1:1\n");
	char *p2 = write_conf("[domains]\nim = a.example\n[federation]\n"
	                      "listen = 127.0.0.1:2\n[log]\nlevel = debug\n");
	struct config *a = load_ok(p1, NULL), *b = load_ok(p2, NULL);
	struct util_buf names = {0};

	ck_assert_int_eq(config_restart_changes(a, b, &names), 1);
	ck_assert_str_eq(names.data, "federation.listen");
	ck_assert_ptr_eq(config_ref(a), a);
	config_unref(a);
	config_unref(a);
	config_unref(b);
	util_buf_free(&names);
	free(p1);
	free(p2);
}
END_TEST

START_TEST(test_peek_despite_errors)
{
	char *path = write_conf("[general]\ncontrol_socket = ctl.sock\n"
	                        "[limits]\nbogus = 1\nmax_depth = lots\n");
	char *dir = xstrdup(path), *expect, out[512];

	*strrchr(dir, '/') = '\0';
	expect = xasprintf("%s/ctl.sock", dir);
	ck_assert_int_eq(config_peek(path, "general.control_socket", out,
	                             sizeof(out)), 0);
	ck_assert_str_eq(out, expect);
	/* Not in the file: the default. */
	ck_assert_int_eq(config_peek(path, "general.state_dir", out,
	                             sizeof(out)), 0);
	ck_assert_str_eq(out, "/var/lib/s2sd");
	ck_assert_int_eq(config_peek("/nonexistent.conf", "general.state_dir",
	                             out, sizeof(out)), -ENOENT);
	free(expect);
	free(dir);
	free(path);
}
END_TEST

/* The shipped sample must stay valid, with every setting documented in it. */
START_TEST(test_sample_config)
{
	char *path = testutil_src_path("etc/s2sd.conf");
	char *text = testutil_read_file(path, NULL);
	struct config *cfg = load_ok(path, NULL);
	char *key;
	int id;

	for (id = 0; id < CONFIG_PARAM_COUNT; id++) {
		const char *dot = strchr(config_param_name(id), '.');
		key = xasprintf("\n%s =", dot + 1);
		if (strstr(text, key) == NULL) {
			free(key);
			key = xasprintf("\n;%s =", dot + 1);
		}
		ck_assert_msg(strstr(text, key) != NULL,
		              "%s is not documented in etc/s2sd.conf",
		              config_param_name(id));
		free(key);
	}
	config_unref(cfg);
	free(text);
	free(path);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_loop_test(tc, test_golden, 0, UTIL_ARRAY_LEN(golden));
	tcase_add_test(tc, test_defaults_and_values);
	tcase_add_test(tc, test_overrides_and_append);
	tcase_add_test(tc, test_secrets_never_dumped);
	tcase_add_test(tc, test_refcount_and_restart_changes);
	tcase_add_test(tc, test_sample_config);
	tcase_add_test(tc, test_peek_despite_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(config_suite());
}
