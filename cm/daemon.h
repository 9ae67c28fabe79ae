/* daemon.h - process start-up: background mode, pid file, privilege drop.
 *
 * daemon_background() forks; the parent waits on a pipe until the child
 * reports with daemon_ready() and exits with the status the child sent (so
 * "s2sd" returns non-zero when binding fails), or 1 if the child died first.
 * Call it before creating the libuv loop. All functions run at start-up only
 * (they may block). */
#ifndef S2SD_DAEMON_H
#define S2SD_DAEMON_H

#include <stddef.h>

/* In the child: returns the pipe's write end; never returns in the parent. */
int daemon_background(void);
/* Report STATUS (0 = running) to the waiting parent and close FD; with
 * status 0 also detach stdin/stdout/stderr. FD < 0 is a no-op. */
void daemon_ready(int fd, int status);
/* Write our pid to PATH (0644), replacing a stale file. 0 or -errno. */
int daemon_write_pidfile(const char *path, char *why, size_t whylen);
void daemon_remove_pidfile(const char *path);
/* Switch to USER (and GROUP, default the user's group), with its
 * supplementary groups. Returns 0 or a negative code with WHY filled. */
/* Before dropping root: make PATH (the log file) belong to USER (and
 * GROUP, default the user's) so that it can be reopened and rotated as
 * that user. Returns 0 or a negative code with WHY filled. */
int daemon_give_file(const char *path, const char *user, const char *group,
                     char *why, size_t whylen);
int daemon_drop_privileges(const char *user, const char *group, char *why,
                           size_t whylen);

#endif
