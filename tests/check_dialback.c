/* check_dialback.c - XEP-0185 keys: the XEP's own example, and agreement
 * with an independent implementation (Python's hmac) on random triples. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/util.h"
#include "s2s/dialback.h"
#include "tests/lib/testutil.h"

START_TEST(test_xep0185_example)
{
	struct dialback_secret *s = dialback_secret_new("s3cr3tf0rd14lb4ck");
	char key[65];

	/* XEP-0185 section 3: receiving xmpp.example.com, originating
	 * example.org, stream id D60000229F. */
	dialback_key(s, "xmpp.example.com", "example.org", "D60000229F", key);
	ck_assert_str_eq(key, "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2"
	                      "686482ba5b89323075643");
	ck_assert(dialback_key_check(s, "xmpp.example.com", "example.org",
	                             "D60000229F", key));
	/* Any change of role, id, key or length fails. */
	ck_assert(!dialback_key_check(s, "example.org", "xmpp.example.com",
	                              "D60000229F", key));
	ck_assert(!dialback_key_check(s, "xmpp.example.com", "example.org",
	                              "D60000229G", key));
	key[10] ^= 1;
	ck_assert(!dialback_key_check(s, "xmpp.example.com", "example.org",
	                              "D60000229F", key));
	ck_assert(!dialback_key_check(s, "xmpp.example.com", "example.org",
	                              "D60000229F", "37c69b"));
	dialback_secret_free(s);
}
END_TEST

/* Compare with python3's hmac module on seeded random inputs. */
START_TEST(test_against_python)
{
	char cmd[4096], line[128], key[65], secret[40], recv[40], orig[40],
	    id[40];
	unsigned seed = 7;
	struct dialback_secret *s;
	FILE *py;
	int i;

	for (i = 0; i < 20; i++) {
		snprintf(secret, sizeof(secret), "sec%u", (unsigned)rand_r(&seed));
		snprintf(recv, sizeof(recv), "r%u.example", (unsigned)rand_r(&seed));
		snprintf(orig, sizeof(orig), "o%u.example", (unsigned)rand_r(&seed));
		snprintf(id, sizeof(id), "%08x%08x", (unsigned)rand_r(&seed),
		         (unsigned)rand_r(&seed));
		snprintf(cmd, sizeof(cmd),
		         "python3 -c 'import hmac,hashlib,sys;"
		         "k=hashlib.sha256(sys.argv[1].encode()).hexdigest().encode();"
		         "print(hmac.new(k,(sys.argv[2]+\" \"+sys.argv[3]+\" \"+"
		         "sys.argv[4]).encode(),hashlib.sha256).hexdigest())' "
		         "%s %s %s %s", secret, recv, orig, id);
		py = popen(cmd, "r");
		ck_assert_ptr_nonnull(py);
		ck_assert_ptr_nonnull(fgets(line, sizeof(line), py));
		ck_assert_int_eq(pclose(py), 0);
		line[strcspn(line, "\n")] = '\0';
		s = dialback_secret_new(secret);
		dialback_key(s, recv, orig, id, key);
		ck_assert_str_eq(key, line);
		dialback_secret_free(s);
	}
}
END_TEST

static Suite *
dialback_suite(void)
{
	Suite *s = suite_create("dialback");
	TCase *tc = tcase_create("keys");

	tcase_add_test(tc, test_xep0185_example);
	tcase_add_test(tc, test_against_python);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(dialback_suite());
}
