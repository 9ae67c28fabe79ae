/* runtime_cluster.h - the cluster's options from the configuration: this
 * node's name (general.node_name, else the host name), the peers
 * (cluster.peers "name=ip:port"), the secret (cluster.secret_file) and this
 * node's settings summary for s2sctl check (federation, security, valid
 * certificates, SASL, dialback secret, policy default and a digest of the
 * policy rules). Reads the policy file: start-up and reload only.
 *
 * The options point into CFG (borrowed: keep a reference while they are
 * used) and into storage owned by O; free with runtime_cluster_opts_free. */
#ifndef S2SD_RUNTIME_CLUSTER_H
#define S2SD_RUNTIME_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "router/cluster.h"

struct config;
struct util_buf;

struct runtime_cluster_opts {
	struct cluster_opts o;
	struct cluster_peer_opts *peers;
	char **strings;                 /* everything allocated for O */
	size_t nstrings;
};

/* Is a cluster configured (cluster.peers not empty)? */
bool runtime_cluster_configured(const struct config *cfg);
/* Fill RO from CFG. 0, or S2SD_ECONFIG with a "FILE: message" line in
 * ERRORS (RO is then empty). */
int runtime_cluster_opts(const struct config *cfg,
                         struct runtime_cluster_opts *ro,
                         struct util_buf *errors);
void runtime_cluster_opts_free(struct runtime_cluster_opts *ro);
/* The default decision of policy TEXT ("allow"/"deny") into DEF and the
 * hex SHA-256 of its rules into HEX: lines without comments, words
 * lower-cased and single-spaced, sorted (the policy is
 * most-specific-first, so the order of lines does not matter). */
void runtime_cluster_policy_digest(const char *text, char *def, size_t deflen,
                                   char hex[65]);

#endif
