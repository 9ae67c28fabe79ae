/* testutil.h - small helpers shared by the Check tests.
 *
 * Paths come back owned by the caller (free()). Source files are found via
 * $S2SD_SRC (set by scripts/run-tests.sh), else the current directory.
 * Temporary directories are removed when the process that made them exits.
 * Failures abort the test with ck_abort. */
#ifndef S2SD_TESTUTIL_H
#define S2SD_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

char *testutil_src_path(const char *rel);          /* $S2SD_SRC/rel */
char *testutil_data_path(const char *rel);         /* .../tests/data/rel */
char *testutil_tempdir(void);
/* Whole file, NUL-terminated; *LEN (if not NULL) gets the size. */
char *testutil_read_file(const char *path, size_t *len);
void testutil_write_file(const char *path, const char *text, mode_t mode);
/* Replace every FROM in B by TO (golden outputs with temporary paths). */
struct util_buf;
void testutil_replace_all(struct util_buf *b, const char *from,
                          const char *to);
/* Run S with CK_NORMAL output; returns the process exit status (0 when
 * every test passed). Frees the runner. */
int testutil_run(Suite *s);

#endif
