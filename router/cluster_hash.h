/* cluster_hash.h - rendezvous (highest random weight) hashing: which node
 * of the cluster sends a remote domain's outbound traffic. Every node that
 * is up gets a pseudo-random weight for the key; the highest wins. A key
 * sticks to its node while that node is up; when it goes, only its keys
 * move, spread over the others; keys spread evenly over the nodes.
 *
 * Pure: no state, no I/O, no randomness; the same inputs give the same
 * answer on every node. Strings are borrowed. */
#ifndef S2SD_CLUSTER_HASH_H
#define S2SD_CLUSTER_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The weight of NODE for KEY (64 well-mixed bits). */
uint64_t cluster_hash_weight(const char *node, const char *key);
/* Index into NODES (N names) of the node with the highest weight for KEY;
 * ties go to the smaller name. -1 when N is 0. */
int cluster_hash_pick(const char *const *nodes, size_t n, const char *key);

#endif
