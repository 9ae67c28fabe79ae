/* load.h - the s2sd load tool (bench/load*.c, one program: build/bench/load).
 * Not linked into s2sd. Modes: relay (XEP-0114 source -> server X -> S2S ->
 * server Y -> XEP-0114 sink), fanin (N inbound TLS S2S streams with SASL
 * EXTERNAL towards one server) and forward (a raw TLS byte relay, the
 * ceiling). Every mode prints "#phase ..." progress lines and ends with one
 * JSON object on stdout; bench/run.py reads both.
 *
 * struct load_conn: one TCP connection on the tool's loop with an optional
 * GnuTLS client session over memory push/pull. The owner allocates it
 * (load_conn_init) and sets callbacks; plaintext accumulates in `in`, which
 * the owner consumes. load_conn_close() calls on_close once, from the loop,
 * after which the owner may free the struct. */
#ifndef S2SD_LOAD_H
#define S2SD_LOAD_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cm/util.h"

struct load_conn;

typedef void load_conn_cb(struct load_conn *c, int status);

struct load_conn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	struct util_buf in;             /* plaintext not consumed yet */
	struct util_buf cin;            /* ciphertext not given to GnuTLS yet */
	size_t cin_off;                 /* how much of cin GnuTLS took */
	struct util_buf cout;           /* ciphertext GnuTLS pushed */
	gnutls_session_t tls;           /* NULL: plain */
	bool tls_ready, closing;
	size_t queued;                  /* bytes written, not yet on the wire */
	load_conn_cb *on_connect;       /* status 0 or a libuv error */
	load_conn_cb *on_tls;           /* 0 or a GnuTLS error */
	load_conn_cb *on_data;          /* new bytes in `in` (status 0) */
	load_conn_cb *on_end;           /* EOF or read/write error: closes */
	void (*on_close)(struct load_conn *c);
	void *arg;
};

/* Zero C and bind it to LOOP. */
void load_conn_init(struct load_conn *c, uv_loop_t *loop, void *arg);
/* Connect to ADDR (from SRC when not NULL). Returns 0 or a libuv error
 * (then no callback). on_connect fires once. */
int load_conn_connect(struct load_conn *c, const struct sockaddr *addr,
                      const struct sockaddr *src);
/* Start reading on an accepted C (tcp already initialised and accepted). */
int load_conn_start(struct load_conn *c);
/* Start a TLS client handshake with CRED (borrowed, outlives C); SNI NAME.
 * Bytes already in `in` are dropped. on_tls fires once. */
int load_conn_starttls(struct load_conn *c, gnutls_certificate_credentials_t cred,
                       const char *name);
/* Send LEN bytes (copied), encrypted when TLS is up. */
void load_conn_write(struct load_conn *c, const char *buf, size_t len);
void load_conn_close(struct load_conn *c);   /* idempotent */

/* Latency samples in microseconds. */
struct load_hist {
	uint32_t *v;
	size_t n, cap;
};
void load_hist_add(struct load_hist *h, uint64_t us);
/* Quantile Q (0..1) after sorting; 0 when empty. Sorts in place. */
double load_hist_q(struct load_hist *h, double q);
void load_hist_free(struct load_hist *h);

/* Parse "host:port" or "[v6]:port" into SS. 0 or -EINVAL. */
int load_addr(const char *s, struct sockaddr_storage *ss);
/* A progress line "#phase ..." on stdout, flushed. */
void load_phase(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Monotonic time in ns (uv_hrtime). */
uint64_t load_now_ns(void);
/* Find the value of attribute NAME in the start tag [p, end): copied into
 * OUT (size OUTLEN). True when found. */
bool load_attr(const char *p, const char *end, const char *name, char *out,
               size_t outlen);

/* A XEP-0114 component connection (source or sink) or, with `raw`, a bare
 * byte stream. The owner fills addr/name/secret and the callbacks, calls
 * load_comp_init() and then load_comp_connect() (or accepts into c.tcp and
 * calls load_comp_accepted()). on_ready fires once the handshake is done,
 * on_msg for every complete <message> received (ERR: type='error'; SEQ and
 * T from an id "SEQ.T", 0 when the id is not ours), on_fail once. */
struct load_comp {
	struct load_conn c;
	const char *addr, *name, *secret;
	bool raw, ready, failed;
	int st;
	void (*on_ready)(struct load_comp *cp);
	void (*on_msg)(struct load_comp *cp, bool err, uint64_t seq, uint64_t t,
	               const char *p, size_t len);
	void (*on_fail)(struct load_comp *cp, const char *why);
	void (*on_close)(struct load_comp *cp);
	void *arg;
};
void load_comp_init(struct load_comp *cp, uv_loop_t *loop, void *arg);
int load_comp_connect(struct load_comp *cp);         /* 0 or -1 (printed) */
void load_comp_accepted(struct load_comp *cp);

int load_relay_main(int argc, char **argv);
int load_fanin_main(int argc, char **argv);
int load_forward_main(int argc, char **argv);

#endif
