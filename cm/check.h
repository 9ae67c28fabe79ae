/* check.h - `s2sctl check`: the troubleshooter for this node's federation
 * set-up, run from the configuration (no daemon needed).
 *
 * Each check adds one record to the report: check (what), result (ok, warn
 * or fail), detail (what was found) and fix (what to change; "-" when
 * nothing). Checks: the configuration and every file it names load;
 * federation is on; the security mode; the trust store is not empty when
 * valid certificates are required; an authentication method exists for
 * peers (SASL EXTERNAL, dialback); the certificate covers every local IM
 * domain, email domain and alias and is not about to expire; and, unless
 * NO_DNS, an _xmpp-server._tcp SRV record exists for every local domain,
 * whose targets include this node's S2S listener, with equal priority and
 * weight among several targets. With a cluster (cluster.peers), the
 * running daemon is asked for every node's settings ("cluster summary")
 * and they are compared: federation on at least one node; the same
 * security mode, valid-certificate requirement, SASL settings, dialback
 * secret (compared as per-link digests), policy default and rules on every
 * node; each mismatch a failed record naming the nodes and the fix.
 *
 * Blocks the caller (DNS runs on a private loop): for s2sctl only. The
 * configuration is borrowed. Returns the number of failed checks. */
#ifndef S2SD_CHECK_H
#define S2SD_CHECK_H

#include <stdbool.h>

struct config;
struct report;

int check_run(struct config *cfg, bool no_dns, struct report *r);
/* The cluster comparison alone, from the text of "cluster summary" (the
 * first line is this node). Returns the number of failed checks. */
int check_cluster_text(const char *summary, struct report *r);

#endif
