/* notify.h - tell systemd how the daemon is doing (sd_notify(3)).
 *
 * Under a Type=notify unit systemd passes NOTIFY_SOCKET; every call sends one
 * datagram there through libsystemd. Without NOTIFY_SOCKET (started by hand,
 * by another service manager, by tests) every call is a no-op returning 0.
 * Nothing is kept between calls; the calls never block the loop for longer
 * than one sendmsg() on a local datagram socket, and never call back.
 * Each returns 1 when the message was sent, 0 when there is no
 * NOTIFY_SOCKET, or a negative errno (also logged at debug). */
#ifndef S2SD_NOTIFY_H
#define S2SD_NOTIFY_H

/* "READY=1": start-up (or a reload) is complete. */
int notify_ready(void);
/* "RELOADING=1" with "MONOTONIC_USEC=" now: a reload begins; follow it
 * with notify_ready() whatever the outcome. */
int notify_reloading(void);
/* "STOPPING=1": a graceful stop begins. */
int notify_stopping(void);
/* "STATUS=" and the formatted text (one line, shown by systemctl status;
 * newlines are replaced by spaces). */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
