/* testutil.c - helpers for Check tests; see testutil.h. */
#define _XOPEN_SOURCE 700
#include "tests/lib/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm/util.h"

struct testutil_dir {
	char *path;
	pid_t owner;
};

static struct testutil_dir *testutil_dirs;
static size_t testutil_ndirs;

static int
testutil_rm(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void
testutil_cleanup(void)
{
	size_t i;

	for (i = 0; i < testutil_ndirs; i++) {
		/* A forked test child must not remove its parent's dirs. */
		if (testutil_dirs[i].owner == getpid())
			nftw(testutil_dirs[i].path, testutil_rm, 16,
			     FTW_DEPTH | FTW_PHYS);
		free(testutil_dirs[i].path);
	}
	free(testutil_dirs);
	testutil_dirs = NULL;
	testutil_ndirs = 0;
}

char *
testutil_src_path(const char *rel)
{
	const char *src = getenv("S2SD_SRC");

	return xasprintf("%s/%s", src != NULL && *src != '\0' ? src : ".", rel);
}

char *
testutil_data_path(const char *rel)
{
	char *sub = xasprintf("tests/data/%s", rel);
	char *path = testutil_src_path(sub);

	free(sub);
	return path;
}

char *
testutil_tempdir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *path = xasprintf("%s/s2sd-test-XXXXXX",
	                       tmp != NULL && *tmp != '\0' ? tmp : "/tmp");

	if (mkdtemp(path) == NULL)
		ck_abort_msg("mkdtemp %s: %s", path, strerror(errno));
	if (testutil_ndirs == 0)
		atexit(testutil_cleanup);
	testutil_dirs = xreallocarray(testutil_dirs, testutil_ndirs + 1,
	                              sizeof(*testutil_dirs));
	testutil_dirs[testutil_ndirs].path = xstrdup(path);
	testutil_dirs[testutil_ndirs++].owner = getpid();
	return path;
}

char *
testutil_read_file(const char *path, size_t *len)
{
	struct util_buf b = {0};
	char chunk[4096];
	size_t n;
	FILE *fp = fopen(path, "rb");

	if (fp == NULL)
		ck_abort_msg("open %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		util_buf_append(&b, chunk, n);
	fclose(fp);
	return util_buf_steal(&b, len);
}

void
testutil_write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		ck_abort_msg("write %s: %s", path, strerror(errno));
	fchmod(fd, mode);
	close(fd);
}

void
testutil_replace_all(struct util_buf *b, const char *from, const char *to)
{
	struct util_buf out = {0};
	const char *p = b->data != NULL ? b->data : "", *hit;

	while ((hit = strstr(p, from)) != NULL) {
		util_buf_append(&out, p, (size_t)(hit - p));
		util_buf_puts(&out, to);
		p = hit + strlen(from);
	}
	util_buf_puts(&out, p);
	util_buf_free(b);
	*b = out;
}

int
testutil_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
