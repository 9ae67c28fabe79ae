/* runtime.h - the daemon's working parts, built from one configuration:
 * the TLS context, the federation policy, the DNS resolver, the S2S service,
 * the router with its home-node listener, and the S2S listeners.
 *
 * runtime_start() reads every file it needs (certificates, keys, trust
 * store, policy, directory) and binds every port, or does nothing and says
 * why: call it before dropping privileges. runtime_reload() builds the new
 * policy, TLS context and directory first and applies them only if all of
 * them are valid, so a broken file never replaces a working one; established
 * streams stay unless the new policy forbids them. The policy file is also
 * watched and reloaded on its own when it changes. runtime_stop() closes
 * every stream properly, bounces what cannot be delivered, and calls CB once
 * everything is closed (the runtime is gone then). The configuration is
 * referenced, not copied. */
#ifndef S2SD_RUNTIME_H
#define S2SD_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "cm/util.h"
#include "s2s/s2s.h"

struct config;
struct report;
struct runtime;

/* Returns 0 with *OUT, or a negative code with WHY filled. */
int runtime_start(uv_loop_t *loop, struct config *cfg, struct runtime **out,
                  char *why, size_t whylen);
/* Switch to CFG (referenced). Returns 0, or S2SD_ECONFIG with one
 * "FILE:LINE: message" line per problem in ERRORS (the old state stays). */
int runtime_reload(struct runtime *rt, struct config *cfg,
                   struct util_buf *errors);
/* Read and check every file CFG names, bind nothing (s2sd -n). Returns 0,
 * or S2SD_ECONFIG with "FILE:LINE: message" lines in ERRORS. */
int runtime_check(struct config *cfg, struct util_buf *errors);
void runtime_stop(struct runtime *rt, void (*cb)(void *arg), void *arg);
/* The running policy's decision for DOMAIN in DIR ("in"/"out", NULL:
 * both) and the rule that made it; returns 0 when allowed, 1 when denied,
 * 2 for a bad domain or direction. */
int runtime_policy_test(const struct runtime *rt, const char *domain,
                        const char *dir, struct util_buf *out);
/* Where a stanza to JID would go and why (router_explain). */
void runtime_route(const struct runtime *rt, const char *jid,
                   struct util_buf *out);
/* Streams, one line each (see s2s_describe). */
void runtime_describe(const struct runtime *rt, struct util_buf *out);
/* s2sctl status (fields added to R's current record: listeners, counts),
 * streams and routes (records added; see s2s.h). */
void runtime_status(const struct runtime *rt, struct report *r);
void runtime_streams(const struct runtime *rt, struct report *r);
void runtime_routes(const struct runtime *rt, struct report *r);
/* Close DOMAIN's streams properly. Returns 0, 1 when there was none, 2 for
 * a bad domain; OUT says what happened. */
int runtime_close_domain(struct runtime *rt, const char *domain,
                         struct util_buf *out);
/* s2sctl test: a fresh outbound stream to DOMAIN from FROM (NULL: the
 * first IM domain). Returns CONTROL_PENDING when the test runs (DONE gets
 * the transcript, see s2s_test; it may run before this returns), or an
 * exit status with OUT saying why nothing was tried. */
int runtime_test(struct runtime *rt, const char *domain, const char *from,
                 bool trace, s2s_test_done *done, void *arg,
                 struct util_buf *out);
/* s2sctl cluster: the peers as records in R; with SUMMARY, every node's
 * settings as "key=value" lines in OUT (cluster_summary_text) for s2sctl
 * check. Returns 0, or 1 with OUT saying there is no cluster. */
int runtime_cluster(const struct runtime *rt, bool summary, struct report *r,
                    struct util_buf *out);

#endif
