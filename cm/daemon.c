/* daemon.c - background mode, pid file, privilege drop; see daemon.h. */
#include "cm/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

int
daemon_background(void)
{
	int fds[2];
	unsigned char status = 1;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		perror("s2sd: pipe");
		exit(1);
	}
	if ((pid = fork()) < 0) {
		perror("s2sd: fork");
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		/* EOF without a byte: the child died during start-up. */
		while (read(fds[0], &status, 1) < 0 && errno == EINTR)
			;
		_exit(status);
	}
	close(fds[0]);
	if (setsid() < 0) {
		perror("s2sd: setsid");
		exit(1);
	}
	umask(027);
	return fds[1];
}

void
daemon_ready(int fd, int status)
{
	unsigned char b = (unsigned char)status;
	int null;

	if (fd < 0)
		return;
	if (status == 0 && (null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	while (write(fd, &b, 1) < 0 && errno == EINTR)
		;
	close(fd);
}

int
daemon_write_pidfile(const char *path, char *why, size_t whylen)
{
	char buf[32];
	int fd, len;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	          0644);
	if (fd < 0) {
		snprintf(why, whylen, "pid file %s: %s", path, strerror(errno));
		return -errno;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)len) != len) {
		snprintf(why, whylen, "pid file %s: write failed", path);
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

void
daemon_remove_pidfile(const char *path)
{
	/* After dropping root this may fail; the next start replaces it. */
	if (path != NULL && path[0] != '\0')
		unlink(path);
}

static int
daemon_lookup_group(const char *group, gid_t *gid, char *why, size_t whylen)
{
	struct group *gr;

	errno = 0;
	if ((gr = getgrnam(group)) == NULL) {
		snprintf(why, whylen, "unknown group '%s'", group);
		return -EINVAL;
	}
	*gid = gr->gr_gid;
	return 0;
}

/* USER's entry and the group to run as (GROUP, default the user's). */
static struct passwd *
daemon_lookup_user(const char *user, const char *group, gid_t *gid,
                   char *why, size_t whylen)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(why, whylen, "unknown user '%s'", user);
		return NULL;
	}
	*gid = pw->pw_gid;
	if (group != NULL && group[0] != '\0' &&
	    daemon_lookup_group(group, gid, why, whylen) < 0)
		return NULL;
	return pw;
}

int
daemon_give_file(const char *path, const char *user, const char *group,
                 char *why, size_t whylen)
{
	struct passwd *pw;
	gid_t gid;

	if ((pw = daemon_lookup_user(user, group, &gid, why, whylen)) == NULL)
		return -EINVAL;
	if (chown(path, pw->pw_uid, gid) < 0) {
		snprintf(why, whylen, "%s: cannot give it to %s: %s", path, user,
		         strerror(errno));
		return -errno;
	}
	return 0;
}

int
daemon_drop_privileges(const char *user, const char *group, char *why,
                       size_t whylen)
{
	struct passwd *pw;
	gid_t gid;

	if ((pw = daemon_lookup_user(user, group, &gid, why, whylen)) == NULL)
		return -EINVAL;
	if (initgroups(pw->pw_name, gid) < 0 || setgid(gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		snprintf(why, whylen, "cannot switch to user %s: %s", user,
		         strerror(errno));
		return -errno;
	}
	/* Make sure root cannot be regained. */
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		snprintf(why, whylen, "privilege drop to %s did not stick",
		         user);
		return -EPERM;
	}
	return 0;
}
