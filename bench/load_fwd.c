/* load_fwd.c - forward mode: the ceiling of the relay. Two of these stand
 * where servers X and Y stand: X' accepts the source's plain TCP stream and
 * forwards its bytes over TLS to Y', which decrypts and forwards them in
 * plain TCP to the sink. No XML, no routing: what is left is the cost of
 * moving the same bytes through one TLS stream, the floor under any S2S
 * relay. Blocking sockets, one thread per direction (GnuTLS allows one
 * sender and one receiver in parallel on a session); one process per side,
 * so that its CPU is measured like a server's. */
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/load.h"

struct fwd {
	const char *listen, *connect, *cert, *key;
	bool tls_in, tls_out;
	gnutls_certificate_credentials_t cred;
};

struct pipe_end {
	int fd;
	gnutls_session_t tls;   /* NULL: plain */
};

struct pump {
	struct pipe_end from, to;
};

static ssize_t
end_read(struct pipe_end *e, char *buf, size_t len)
{
	ssize_t r;

	if (e->tls == NULL)
		return read(e->fd, buf, len);
	do
		r = gnutls_record_recv(e->tls, buf, len);
	while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
	return r < 0 ? -1 : r;
}

static int
end_write(struct pipe_end *e, const char *buf, size_t len)
{
	ssize_t r;

	while (len > 0) {
		r = e->tls == NULL ? write(e->fd, buf, len) :
		    gnutls_record_send(e->tls, buf, len);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r <= 0)
			return -1;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

static void *
pump_run(void *arg)
{
	struct pump *p = arg;
	static __thread char buf[65536];
	ssize_t n;

	while ((n = end_read(&p->from, buf, sizeof(buf))) > 0)
		if (end_write(&p->to, buf, (size_t)n) < 0)
			break;
	shutdown(p->to.fd, SHUT_WR);
	return NULL;
}

static int
tcp_fd(const char *addr, bool listening)
{
	struct sockaddr_storage ss;
	int fd, one = 1;

	if (load_addr(addr, &ss) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listening ? bind(fd, (struct sockaddr *)&ss, sizeof(ss)) < 0 ||
	    listen(fd, 16) < 0 : connect(fd, (struct sockaddr *)&ss,
	    ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in)) < 0) {
		perror(addr);
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static gnutls_session_t
fwd_tls(struct fwd *f, int fd, bool server)
{
	gnutls_session_t s;
	int r;

	gnutls_init(&s, server ? GNUTLS_SERVER : GNUTLS_CLIENT);
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, f->cred);
	gnutls_transport_set_int(s, fd);
	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		fprintf(stderr, "load forward: TLS: %s\n", gnutls_strerror(r));
		gnutls_deinit(s);
		return NULL;
	}
	return s;
}

/* One accepted connection: forward both ways until both ends are done. */
static void
fwd_serve(struct fwd *f, int in)
{
	struct pump a, b;
	pthread_t ta, tb;
	int out = tcp_fd(f->connect, false);

	if (out < 0) {
		close(in);
		return;
	}
	a.from.fd = b.to.fd = in;
	a.to.fd = b.from.fd = out;
	a.from.tls = b.to.tls = f->tls_in ? fwd_tls(f, in, true) : NULL;
	a.to.tls = b.from.tls = f->tls_out ? fwd_tls(f, out, false) : NULL;
	if ((f->tls_in && a.from.tls == NULL) || (f->tls_out && a.to.tls == NULL))
		goto done;
	load_phase("forwarding %s -> %s", f->listen, f->connect);
	pthread_create(&ta, NULL, pump_run, &a);
	pthread_create(&tb, NULL, pump_run, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
done:
	if (a.from.tls != NULL)
		gnutls_deinit(a.from.tls);
	if (a.to.tls != NULL)
		gnutls_deinit(a.to.tls);
	close(in);
	close(out);
}

static const struct option fwd_opts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "connect", required_argument, NULL, 'c' },
	{ "tls-in", no_argument, NULL, 'i' },
	{ "tls-out", no_argument, NULL, 'o' },
	{ "cert", required_argument, NULL, 'C' },
	{ "key", required_argument, NULL, 'K' },
	{ NULL, 0, NULL, 0 },
};

static const char fwd_usage[] =
"usage: load forward --listen HOST:PORT --connect HOST:PORT\n"
"                    [--tls-in --cert PEM --key PEM | --tls-out]\n";

int
load_forward_main(int argc, char **argv)
{
	struct fwd f = { 0 };
	int o, lfd, fd;

	while ((o = getopt_long(argc, argv, "", fwd_opts, NULL)) != -1) {
		switch (o) {
		case 'l': f.listen = optarg; break;
		case 'c': f.connect = optarg; break;
		case 'i': f.tls_in = true; break;
		case 'o': f.tls_out = true; break;
		case 'C': f.cert = optarg; break;
		case 'K': f.key = optarg; break;
		default: fputs(fwd_usage, stderr); return 2;
		}
	}
	if (f.listen == NULL || f.connect == NULL ||
	    (f.tls_in && (f.cert == NULL || f.key == NULL))) {
		fputs(fwd_usage, stderr);
		return 2;
	}
	gnutls_certificate_allocate_credentials(&f.cred);
	if (f.tls_in && gnutls_certificate_set_x509_key_file(f.cred, f.cert,
	    f.key, GNUTLS_X509_FMT_PEM) < 0) {
		fprintf(stderr, "load forward: cannot load %s\n", f.cert);
		return 1;
	}
	if ((lfd = tcp_fd(f.listen, true)) < 0)
		return 1;
	load_phase("listening %s", f.listen);
	while ((fd = accept(lfd, NULL, NULL)) >= 0)
		fwd_serve(&f, fd);
	perror("accept");
	return 1;
}
