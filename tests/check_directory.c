/* check_directory.c - the directory file: golden error files (every error
 * with FILE:LINE), lookups (user before domain default, aliases, IDN, case),
 * email mappings both ways, node checks, loading from a file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "router/directory.h"
#include "tests/lib/testutil.h"
#include "xmpp/jid.h"

/* Each tests/data/directory/NAME.in has NAME.ref: the exact error output
 * with the file's path written as FILE. */
static const char *const golden[] = {"syntax", "duplicates", "email",
                                     "whole_file"};

START_TEST(test_golden)
{
	char *dir = testutil_data_path("directory");
	char *in = xasprintf("%s/%s.in", dir, golden[_i]);
	char *ref = xasprintf("%s/%s.ref", dir, golden[_i]);
	char *want = testutil_read_file(ref, NULL);
	struct util_buf errors = {0};
	struct directory *d = NULL;

	ck_assert_int_eq(directory_load(in, &d, &errors), S2SD_ECONFIG);
	ck_assert_ptr_null(d);
	testutil_replace_all(&errors, in, "FILE");
	ck_assert_msg(strcmp(errors.data, want) == 0,
	              "%s: got:\n%s\nexpected:\n%s", golden[_i], errors.data,
	              want);
	util_buf_free(&errors);
	free(want);
	free(ref);
	free(in);
	free(dir);
}
END_TEST

static const char sample[] =
    "# a directory like etc/directory's example\n"
    "example.com                        node1\n"
    "alice@example.com                  Node2 email=Alice.Smith@Mail.Example.COM\n"
    "conference-2.cluster1.example.com  node3   # group chat alias\n"
    "proxy.example.com                  node3   # file transfer alias\n"
    "bob@example.com                    email=bob@mail.example.com\n"
    "Bücher.example                     node4\n"
    "carol@xn--bcher-kva.example        node1\n"
    "dave@example.org                   node2\n"
    "c#sharp@example.com                node4 # '#' inside a word\n";

struct lookup_case {
	const char *jid;        /* looked up by its prepared parts */
	const char *node;       /* NULL: no route */
	int line;
	bool by_user;
};

static const struct lookup_case lookup_cases[] = {
    {"alice@example.com", "node2", 3, true},      /* user beats domain */
    {"ALICE@Example.Com/phone", "node2", 3, true}, /* case, resource */
    {"zed@example.com", "node1", 2, false},        /* domain default */
    {"example.com", "node1", 2, false},            /* the domain itself */
    {"bob@example.com", "node1", 2, false},        /* email-only line */
    {"room@conference-2.cluster1.example.com/nick", "node3", 4, false},
    {"conference-2.cluster1.example.com", "node3", 4, false},
    {"proxy.example.com", "node3", 5, false},
    {"x@sub.example.com", NULL, 0, false},         /* no parent match */
    {"x@xn--bcher-kva.example", "node4", 7, false}, /* IDN A-label */
    {"x@BÜCHER.example", "node4", 7, false},
    {"carol@bücher.example", "node1", 8, true},
    {"dave@example.org", "node2", 9, true},
    {"erin@example.org", NULL, 0, false},          /* user, no default */
    {"c#sharp@example.com", "node4", 10, true},
    {"nobody@elsewhere.example", NULL, 0, false},
};

static struct directory *
parse_ok(const char *text)
{
	struct util_buf errors = {0};
	struct directory *d = NULL;

	ck_assert_msg(directory_parse("dir", text, &d, &errors) == 0, "%s",
	              errors.data);
	ck_assert_uint_eq(errors.len, 0);
	return d;
}

START_TEST(test_lookup)
{
	const struct lookup_case *c = &lookup_cases[_i];
	struct directory *d = parse_ok(sample);
	struct directory_match m;
	struct jid *j = NULL;
	bool found;

	ck_assert_int_eq(jid_parse(c->jid, strlen(c->jid), &j, NULL, 0), 0);
	found = directory_lookup(d, jid_node(j), jid_domain(j), &m);
	ck_assert_msg(found == (c->node != NULL), "%s", c->jid);
	if (found) {
		ck_assert_str_eq(m.node, c->node);
		ck_assert_int_eq(m.line, c->line);
		ck_assert_str_eq(m.file, "dir");
		ck_assert(m.by_user == c->by_user);
	}
	jid_free(j);
	directory_unref(d);
}
END_TEST

START_TEST(test_email)
{
	struct directory *d = parse_ok(sample);
	int line = 0;

	ck_assert_str_eq(directory_email_of(d, "alice", "example.com", &line),
	                 "alice.smith@mail.example.com");
	ck_assert_int_eq(line, 3);
	ck_assert_str_eq(directory_user_of(d, "alice.smith",
	                                   "mail.example.com", &line),
	                 "alice@example.com");
	ck_assert_str_eq(directory_email_of(d, "bob", "example.com", NULL),
	                 "bob@mail.example.com");
	ck_assert_str_eq(directory_user_of(d, "bob", "mail.example.com", &line),
	                 "bob@example.com");
	ck_assert_int_eq(line, 6);
	/* No mapping: users federate with their JID. */
	ck_assert_ptr_null(directory_email_of(d, "zed", "example.com", NULL));
	ck_assert_ptr_null(directory_email_of(d, "dave", "example.org", NULL));
	ck_assert_ptr_null(directory_email_of(d, NULL, "example.com", NULL));
	/* The two maps are not mixed up. */
	ck_assert_ptr_null(directory_user_of(d, "alice", "example.com", NULL));
	ck_assert_ptr_null(directory_email_of(d, "alice.smith",
	                                      "mail.example.com", NULL));
	ck_assert_ptr_null(directory_user_of(d, NULL, "mail.example.com",
	                                     NULL));
	/* An email address is not routed by itself: the router rewrites it
	 * to the user first. */
	{
		struct directory_match m;
		ck_assert(!directory_lookup(d, "alice.smith",
		                            "mail.example.com", &m));
	}
	directory_unref(d);
}
END_TEST

static bool
known_12(void *arg, const char *node)
{
	int *calls = arg;

	(*calls)++;
	return strcmp(node, "node1") == 0 || strcmp(node, "node2") == 0;
}

START_TEST(test_check_nodes)
{
	struct directory *d = parse_ok(sample);
	struct util_buf errors = {0};
	int calls = 0;

	ck_assert_int_eq(directory_check_nodes(d, known_12, &calls, &errors),
	                 4);
	ck_assert_str_eq(errors.data,
	                 "dir:4: unknown home node 'node3' (no [home node3] "
	                 "section in the configuration)\n"
	                 "dir:5: unknown home node 'node3' (no [home node3] "
	                 "section in the configuration)\n"
	                 "dir:7: unknown home node 'node4' (no [home node4] "
	                 "section in the configuration)\n"
	                 "dir:10: unknown home node 'node4' (no [home node4] "
	                 "section in the configuration)\n");
	ck_assert_int_eq(calls, 8);    /* every line with a node */
	util_buf_free(&errors);
	directory_unref(d);
}
END_TEST

static bool
local_example_com(void *arg, const char *domain)
{
	(void)arg;
	return strcmp(domain, "example.com") == 0 ||
	       strcmp(domain, "conference-2.cluster1.example.com") == 0 ||
	       strcmp(domain, "bücher.example") == 0;
}

START_TEST(test_check_domains)
{
	static const char hint[] = "is not a local domain (domains.im, "
	                           "domains.email or domains.aliases)\n";
	struct directory *d = parse_ok(sample);
	struct util_buf errors = {0};
	char *want;

	ck_assert_int_eq(directory_check_domains(d, local_example_com, NULL,
	                                         &errors), 4);
	want = xasprintf("dir:3: email address 'alice.smith@mail.example.com': "
	                 "'mail.example.com' %s"
	                 "dir:5: 'proxy.example.com' %s"
	                 "dir:6: email address 'bob@mail.example.com': "
	                 "'mail.example.com' %s"
	                 "dir:9: 'example.org' %s", hint, hint, hint, hint);
	ck_assert_str_eq(errors.data, want);
	free(want);
	util_buf_free(&errors);
	directory_unref(d);
}
END_TEST

START_TEST(test_refcount_and_count)
{
	struct directory *d = parse_ok(sample);

	ck_assert_ptr_eq(directory_ref(d), d);
	directory_unref(d);
	ck_assert_uint_eq(directory_count(d), 9);
	ck_assert_str_eq(directory_file(d), "dir");
	directory_unref(d);
	directory_unref(NULL);
	d = parse_ok("# nothing but comments\n\n   \t\n");
	ck_assert_uint_eq(directory_count(d), 0);
	directory_unref(d);
}
END_TEST

START_TEST(test_sample_file)
{
	char *path = testutil_src_path("etc/directory");
	struct util_buf errors = {0};
	struct directory *d = NULL;

	ck_assert_msg(directory_load(path, &d, &errors) == 0, "%s",
	              errors.data);
	directory_unref(d);
	free(path);
}
END_TEST

START_TEST(test_load_errors)
{
	char *dir = testutil_tempdir();
	char *path = xasprintf("%s/directory", dir);
	struct util_buf errors = {0};
	struct directory *d = NULL;
	char *want;
	FILE *fp;

	ck_assert_int_eq(directory_load(path, &d, &errors), S2SD_ECONFIG);
	want = xasprintf("%s: cannot open: No such file or directory\n", path);
	ck_assert_str_eq(errors.data, want);
	free(want);
	util_buf_reset(&errors);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fwrite("example.com node1\n\0x.example node2\n", 1, 36, fp);
	fclose(fp);
	ck_assert_int_eq(directory_load(path, &d, &errors), S2SD_ECONFIG);
	ck_assert_ptr_null(d);
	want = xasprintf("%s: contains a NUL byte\n", path);
	ck_assert_str_eq(errors.data, want);
	free(want);
	util_buf_free(&errors);
	free(path);
	free(dir);
}
END_TEST

/* A large directory: every user found by one probe, the rest by domain. */
START_TEST(test_many_users)
{
	struct util_buf text = {0};
	struct directory_match m;
	struct directory *d;
	char user[32];
	int i;

	util_buf_puts(&text, "example.com node0\n");
	for (i = 0; i < 20000; i++)
		util_buf_printf(&text, "u%d@example.com node%d email=m%d@mail."
		                "example.com\n", i, 1 + i % 7, i);
	d = parse_ok(text.data);
	for (i = 0; i < 20000; i += 97) {
		snprintf(user, sizeof(user), "u%d", i);
		ck_assert(directory_lookup(d, user, "example.com", &m));
		ck_assert_int_eq(m.line, i + 2);
		snprintf(user, sizeof(user), "node%d", 1 + i % 7);
		ck_assert_str_eq(m.node, user);
		snprintf(user, sizeof(user), "m%d", i);
		ck_assert_ptr_nonnull(directory_user_of(d, user,
		                                        "mail.example.com",
		                                        NULL));
	}
	ck_assert(directory_lookup(d, "u20000", "example.com", &m));
	ck_assert_str_eq(m.node, "node0");
	directory_unref(d);
	util_buf_free(&text);
}
END_TEST

static Suite *
directory_suite(void)
{
	Suite *s = suite_create("directory");
	TCase *tc = tcase_create("directory");

	tcase_add_loop_test(tc, test_golden, 0, UTIL_ARRAY_LEN(golden));
	tcase_add_loop_test(tc, test_lookup, 0, UTIL_ARRAY_LEN(lookup_cases));
	tcase_add_test(tc, test_email);
	tcase_add_test(tc, test_check_nodes);
	tcase_add_test(tc, test_check_domains);
	tcase_add_test(tc, test_refcount_and_count);
	tcase_add_test(tc, test_sample_file);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_many_users);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(directory_suite()) == 0 ? EXIT_SUCCESS
	                                             : EXIT_FAILURE;
}
