/* control.h - the daemon's UNIX control socket, the way s2sctl talks to a
 * running s2sd: one command line per connection ("policy test example.com
 * in"), answered with a "status N" line (N: the exit status for s2sctl)
 * followed by text, then the connection is closed.
 *
 * The socket is created mode 0660, its directory 0750 if it has to be made;
 * with GROUP set both belong to that group, else only root can use it. The
 * handler runs on the loop and fills OUT; ARGV is borrowed for the call. */
#ifndef S2SD_CONTROL_H
#define S2SD_CONTROL_H

#include <stddef.h>
#include <uv.h>

#include "cm/util.h"

struct control;
/* One command being answered (the connection it came on). */
struct control_req;

/* Returns the exit status for s2sctl (0: success), or CONTROL_PENDING when
 * the answer comes later through control_reply(REQ, ...), which must then be
 * called exactly once, even if the client went away or the control socket
 * was closed meanwhile (REQ stays valid until then). */
#define CONTROL_PENDING (-1000)
typedef int control_handler(void *arg, struct control_req *req, int argc,
                            char **argv, struct util_buf *out);
/* Answer a pending request with STATUS and TEXT (borrowed, may be NULL). */
void control_reply(struct control_req *req, int status, const char *text);

/* Returns 0, or a negative code with WHY filled (nothing left behind). */
int control_open(uv_loop_t *loop, const char *path, const char *group,
                 control_handler *handler, void *arg, struct control **out,
                 char *why, size_t whylen);
/* Stop listening, close open connections, remove the socket file. */
void control_close(struct control *c);                    /* NULL ok */

/* Client side (s2sctl, blocking): send ARGV as one line to PATH, append the
 * reply text to OUT. Returns the daemon's status, or -errno when the daemon
 * cannot be reached (WHY filled). */
int control_request(const char *path, int argc, char **argv,
                    struct util_buf *out, char *why, size_t whylen);

#endif
