/* dns_cache.h - raw DNS answers by (name, type), kept for their TTL.
 *
 * Pure: the clock is the caller's (now_ms, milliseconds, monotonic). Holds
 * positive answers and negative ones (NXDOMAIN, NODATA: RFC 2308) alike, as
 * a status plus the answer bytes, which it copies. At most MAX entries: the
 * least recently used one goes first. Names compare case-insensitively and
 * without a trailing dot. A hit's bytes are borrowed until the next call on
 * the cache. */
#ifndef S2SD_DNS_CACHE_H
#define S2SD_DNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dns_cache;

struct dns_cache_hit {
	int status;            /* as stored */
	const uint8_t *ans;    /* borrowed; NULL when stored without bytes */
	size_t len;
	uint64_t age_ms;       /* time since the entry was stored */
	uint64_t ttl_left_ms;
};

/* A cache of at most MAX entries (0: stores nothing). */
struct dns_cache *dns_cache_new(size_t max);
void dns_cache_free(struct dns_cache *c);  /* NULL ok */
/* Store (replacing any entry for NAME/TYPE); copies NAME and ANS. An entry
 * with TTL_MS 0 is not stored (and removes an older one). */
void dns_cache_put(struct dns_cache *c, const char *name, uint16_t type,
                   int status, const uint8_t *ans, size_t len,
                   uint64_t ttl_ms, uint64_t now_ms);
/* Look up; an expired entry is dropped and misses. Returns true on a hit. */
bool dns_cache_get(struct dns_cache *c, const char *name, uint16_t type,
                   uint64_t now_ms, struct dns_cache_hit *hit);
size_t dns_cache_count(const struct dns_cache *c);

#endif
