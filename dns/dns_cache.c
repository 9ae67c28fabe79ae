/* dns_cache.c - TTL and LRU bounded answer cache; see dns_cache.h.
 *
 * A chained hash table for lookups plus a doubly linked list in use order
 * (head = most recent) for eviction, the layout of Postfix's htable with an
 * LRU list on top. Entries are few (hundreds of remote domains), so the
 * table is sized once from MAX and never grows. */
#include "dns/dns_cache.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cm/util.h"

struct dns_cache_entry {
	struct dns_cache_entry *next;       /* hash chain */
	struct dns_cache_entry *lprev, *lnext;  /* LRU list */
	char *name;                         /* normalised */
	uint16_t type;
	int status;
	uint8_t *ans;
	size_t len;
	uint64_t stored_ms, expires_ms;
	uint32_t hash;
};

struct dns_cache {
	struct dns_cache_entry **tab;
	size_t nbuckets, count, max;
	struct dns_cache_entry *head, *tail;
};

struct dns_cache *
dns_cache_new(size_t max)
{
	struct dns_cache *c = xcalloc(1, sizeof(*c));

	c->max = max;
	c->nbuckets = 16;
	while (c->nbuckets < max && c->nbuckets < ((size_t)1 << 20))
		c->nbuckets <<= 1;
	c->tab = xcalloc(c->nbuckets, sizeof(*c->tab));
	return c;
}

/* Lowercase, without the trailing dot: "Example.NET." == "example.net". */
static char *
dns_cache_norm(const char *name)
{
	size_t i, n = strlen(name);
	char *s;

	if (n > 0 && name[n - 1] == '.')
		n--;
	s = xstrndup(name, n);
	for (i = 0; i < n; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	return s;
}

/* FNV-1a over the name and the type. */
static uint32_t
dns_cache_hash(const char *name, uint16_t type)
{
	uint32_t h = 2166136261U;

	for (; *name != '\0'; name++)
		h = (h ^ (uint8_t)*name) * 16777619U;
	h = (h ^ (type & 0xff)) * 16777619U;
	return (h ^ (type >> 8)) * 16777619U;
}

static void
dns_cache_unlink_lru(struct dns_cache *c, struct dns_cache_entry *e)
{
	if (e->lprev != NULL)
		e->lprev->lnext = e->lnext;
	else
		c->head = e->lnext;
	if (e->lnext != NULL)
		e->lnext->lprev = e->lprev;
	else
		c->tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void
dns_cache_push_lru(struct dns_cache *c, struct dns_cache_entry *e)
{
	e->lprev = NULL;
	e->lnext = c->head;
	if (c->head != NULL)
		c->head->lprev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void
dns_cache_remove(struct dns_cache *c, struct dns_cache_entry *e)
{
	struct dns_cache_entry **pp = &c->tab[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	dns_cache_unlink_lru(c, e);
	c->count--;
	free(e->name);
	free(e->ans);
	free(e);
}

static struct dns_cache_entry *
dns_cache_find(const struct dns_cache *c, const char *norm, uint16_t type,
               uint32_t hash)
{
	struct dns_cache_entry *e;

	for (e = c->tab[hash & (c->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == hash && e->type == type &&
		    strcmp(e->name, norm) == 0)
			return e;
	return NULL;
}

void
dns_cache_put(struct dns_cache *c, const char *name, uint16_t type, int status,
              const uint8_t *ans, size_t len, uint64_t ttl_ms, uint64_t now_ms)
{
	char *norm = dns_cache_norm(name);
	uint32_t hash = dns_cache_hash(norm, type);
	struct dns_cache_entry *e = dns_cache_find(c, norm, type, hash);

	if (e != NULL)
		dns_cache_remove(c, e);
	if (ttl_ms == 0 || c->max == 0) {
		free(norm);
		return;
	}
	while (c->count >= c->max)
		dns_cache_remove(c, c->tail);
	e = xcalloc(1, sizeof(*e));
	e->name = norm;
	e->type = type;
	e->hash = hash;
	e->status = status;
	e->ans = len > 0 ? xmemdup(ans, len) : NULL;
	e->len = len;
	e->stored_ms = now_ms;
	e->expires_ms = now_ms + ttl_ms;
	e->next = c->tab[hash & (c->nbuckets - 1)];
	c->tab[hash & (c->nbuckets - 1)] = e;
	dns_cache_push_lru(c, e);
	c->count++;
}

bool
dns_cache_get(struct dns_cache *c, const char *name, uint16_t type,
              uint64_t now_ms, struct dns_cache_hit *hit)
{
	char *norm = dns_cache_norm(name);
	uint32_t hash = dns_cache_hash(norm, type);
	struct dns_cache_entry *e = dns_cache_find(c, norm, type, hash);

	free(norm);
	if (e == NULL)
		return false;
	if (now_ms >= e->expires_ms) {
		dns_cache_remove(c, e);
		return false;
	}
	dns_cache_unlink_lru(c, e);
	dns_cache_push_lru(c, e);
	hit->status = e->status;
	hit->ans = e->ans;
	hit->len = e->len;
	hit->age_ms = now_ms - e->stored_ms;
	hit->ttl_left_ms = e->expires_ms - now_ms;
	return true;
}

size_t
dns_cache_count(const struct dns_cache *c)
{
	return c->count;
}

void
dns_cache_free(struct dns_cache *c)
{
	while (c != NULL && c->tail != NULL)
		dns_cache_remove(c, c->tail);
	if (c != NULL)
		free(c->tab);
	free(c);
}
