/* cluster_hash.c - rendezvous hashing; see cluster_hash.h.
 *
 * The weight is FNV-1a over "node\0key" finished with the splitmix64
 * mixer: FNV alone leaves the high bits poorly mixed for short strings
 * that differ in their last byte (node1, node2), which would skew the
 * spread; the mixer makes every input bit reach every output bit. */
#include <string.h>

#include "router/cluster_hash.h"

#define CLUSTER_FNV_OFFSET 0xcbf29ce484222325ULL
#define CLUSTER_FNV_PRIME 0x100000001b3ULL

static uint64_t
cluster_fnv(uint64_t h, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= CLUSTER_FNV_PRIME;
	}
	return h;
}

static uint64_t
cluster_mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t
cluster_hash_weight(const char *node, const char *key)
{
	uint64_t h = CLUSTER_FNV_OFFSET;

	/* The NUL keeps ("ab", "c") apart from ("a", "bc"). */
	h = cluster_fnv(h, node, strlen(node) + 1);
	h = cluster_fnv(h, key, strlen(key));
	return cluster_mix(h);
}

int
cluster_hash_pick(const char *const *nodes, size_t n, const char *key)
{
	uint64_t best = 0, w;
	int pick = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		w = cluster_hash_weight(nodes[i], key);
		if (pick < 0 || w > best ||
		    (w == best && strcmp(nodes[i], nodes[pick]) < 0)) {
			best = w;
			pick = (int)i;
		}
	}
	return pick;
}
