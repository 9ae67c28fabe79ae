/* control.c - UNIX control socket, server and client; see control.h. */
#include "cm/control.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cm/log.h"

#define CONTROL_LINE_MAX 4096
#define CONTROL_ARGS_MAX 16

struct control_req {
	uv_pipe_t pipe;                 /* first: freed from its close cb */
	uv_write_t write;
	struct control *ctl;
	struct util_buf in;
	char *reply;
	bool pending;           /* the handler answers later (control_reply) */
	bool gone;              /* closed while pending: freed by the reply */
	struct control_req *next, **prevp;
};

struct control {
	uv_pipe_t server;
	char *path;
	control_handler *handler;
	void *arg;
	struct control_req *clients;
	bool closing;
};

static void
control_client_closed(uv_handle_t *h)
{
	struct control_req *cl = (struct control_req *)h;

	if (cl->next != NULL)
		cl->next->prevp = cl->prevp;
	*cl->prevp = cl->next;
	cl->next = NULL;
	cl->prevp = &cl->next;
	if (cl->pending) {
		cl->gone = true;        /* control_reply() frees it */
		return;
	}
	util_buf_free(&cl->in);
	free(cl->reply);
	free(cl);
}

static void
control_client_close(struct control_req *cl)
{
	if (!uv_is_closing((uv_handle_t *)&cl->pipe))
		uv_close((uv_handle_t *)&cl->pipe, control_client_closed);
}

static void
control_on_written(uv_write_t *w, int status)
{
	(void)status;
	control_client_close(w->data);
}

/* Split LINE in place into words. */
static int
control_split(char *line, char **argv)
{
	char *save = NULL, *w;
	int argc = 0;

	for (w = strtok_r(line, " \t\r", &save); w != NULL && argc <
	     CONTROL_ARGS_MAX; w = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = w;
	return argc;
}

static void
control_send(struct control_req *cl, int status, const char *text,
             size_t len)
{
	struct util_buf reply = {0};
	uv_buf_t b;

	util_buf_printf(&reply, "status %d\n", status);
	if (text != NULL)
		util_buf_append(&reply, text, len);
	cl->reply = util_buf_steal(&reply, NULL);
	b = uv_buf_init(cl->reply, (unsigned)strlen(cl->reply));
	cl->write.data = cl;
	if (uv_write(&cl->write, (uv_stream_t *)&cl->pipe, &b, 1,
	             control_on_written) < 0)
		control_client_close(cl);
}

static void
control_run(struct control_req *cl, char *line)
{
	char *argv[CONTROL_ARGS_MAX];
	struct util_buf out = {0};
	int argc = control_split(line, argv), status;

	uv_read_stop((uv_stream_t *)&cl->pipe);
	/* A handler may answer through control_reply() before it returns. */
	cl->pending = true;
	if (argc == 0) {
		util_buf_puts(&out, "empty command\n");
		status = 2;
	} else {
		log_debug(LOG_SUB_CM, 0, "control command=%s", argv[0]);
		status = cl->ctl->handler(cl->ctl->arg, cl, argc, argv, &out);
	}
	if (status != CONTROL_PENDING) {
		cl->pending = false;
		control_send(cl, status, out.data, out.len);
	}
	util_buf_free(&out);
}

void
control_reply(struct control_req *req, int status, const char *text)
{
	struct control_req *cl = req;

	cl->pending = false;
	if (cl->gone) {
		util_buf_free(&cl->in);
		free(cl);
		return;
	}
	control_send(cl, status, text, text != NULL ? strlen(text) : 0);
}

static void
control_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char rbuf[CONTROL_LINE_MAX];

	(void)h;
	(void)hint;
	*buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void
control_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct control_req *cl = (struct control_req *)s;
	char *nl;

	if (n < 0) {
		control_client_close(cl);
		return;
	}
	util_buf_append(&cl->in, buf->base, (size_t)n);
	if ((nl = memchr(cl->in.data, '\n', cl->in.len)) != NULL) {
		*nl = '\0';
		control_run(cl, cl->in.data);
	} else if (cl->in.len > CONTROL_LINE_MAX) {
		control_client_close(cl);
	}
}

static void
control_on_connection(uv_stream_t *server, int status)
{
	struct control *c = server->data;
	struct control_req *cl;

	if (status < 0 || c->closing)
		return;
	cl = xcalloc(1, sizeof(*cl));
	cl->ctl = c;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	cl->next = c->clients;
	if (cl->next != NULL)
		cl->next->prevp = &cl->next;
	cl->prevp = &c->clients;
	c->clients = cl;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) < 0 ||
	    uv_read_start((uv_stream_t *)&cl->pipe, control_alloc,
	                  control_on_read) < 0)
		control_client_close(cl);
}

/* The socket and its directory: owner root (or us), group GROUP. */
static int
control_permissions(const char *path, const char *group, char *why,
                    size_t whylen)
{
	char *copy = xstrdup(path);
	const char *dir = dirname(copy);
	struct group *gr = NULL;
	gid_t gid = (gid_t)-1;
	int rc = 0;

	if (group != NULL && group[0] != '\0') {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(why, whylen, "control group '%s' unknown", group);
			free(copy);
			return -EINVAL;
		}
		gid = gr->gr_gid;
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		rc = -errno;
	} else if (gid != (gid_t)-1 && chown(dir, (uid_t)-1, gid) < 0) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		rc = -errno;
	}
	free(copy);
	return rc;
}

int
control_open(uv_loop_t *loop, const char *path, const char *group,
             control_handler *handler, void *arg, struct control **out,
             char *why, size_t whylen)
{
	struct control *c;
	struct group *gr;
	mode_t old;
	int rc;

	if ((rc = control_permissions(path, group, why, whylen)) < 0)
		return rc;
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->handler = handler;
	c->arg = arg;
	uv_pipe_init(loop, &c->server, 0);
	c->server.data = c;
	unlink(path);   /* a stale socket from a crash */
	old = umask(0117);
	rc = uv_pipe_bind(&c->server, path);
	umask(old);
	if (rc == 0 && group != NULL && group[0] != '\0' &&
	    (gr = getgrnam(group)) != NULL && chown(path, (uid_t)-1,
	                                             gr->gr_gid) < 0)
		rc = -errno;
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&c->server, 16,
		               control_on_connection);
	if (rc < 0) {
		snprintf(why, whylen, "control socket %s: %s", path,
		         uv_strerror(rc));
		uv_close((uv_handle_t *)&c->server, (uv_close_cb)free);
		free(c->path);
		return rc;
	}
	log_info(LOG_SUB_CM, 0, "listening service=control path=%s", path);
	*out = c;
	return 0;
}

static void
control_server_closed(uv_handle_t *h)
{
	struct control *c = h->data;

	free(c->path);
	free(c);
}

void
control_close(struct control *c)
{
	struct control_req *cl, *next;

	if (c == NULL)
		return;
	c->closing = true;
	for (cl = c->clients; cl != NULL; cl = next) {
		next = cl->next;
		control_client_close(cl);
	}
	unlink(c->path);
	uv_close((uv_handle_t *)&c->server, control_server_closed);
}

int
control_request(const char *path, int argc, char **argv, struct util_buf *out,
                char *why, size_t whylen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct util_buf line = {0};
	char buf[4096], *nl;
	ssize_t n;
	int fd, i, status = -EPROTO;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, whylen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(why, whylen, "cannot reach s2sd at %s: %s (is it "
		         "running?)", path, strerror(errno));
		status = -errno;
		if (fd >= 0)
			close(fd);
		return status;
	}
	for (i = 0; i < argc; i++)
		util_buf_printf(&line, "%s%s", i > 0 ? " " : "", argv[i]);
	util_buf_puts(&line, "\n");
	if (write(fd, line.data, line.len) != (ssize_t)line.len) {
		snprintf(why, whylen, "write to %s: %s", path, strerror(errno));
		util_buf_free(&line);
		close(fd);
		return -EIO;
	}
	util_buf_reset(&line);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		util_buf_append(&line, buf, (size_t)n);
	close(fd);
	if (line.data != NULL && sscanf(line.data, "status %d", &status) == 1 &&
	    (nl = strchr(line.data, '\n')) != NULL)
		util_buf_puts(out, nl + 1);
	else
		snprintf(why, whylen, "no answer from s2sd at %s", path);
	util_buf_free(&line);
	return status;
}
