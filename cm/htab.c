/* htab.c - open-addressing string hash table; see htab.h. */
#include "cm/htab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm/util.h"

struct htab_slot {
	char *key;              /* NULL: empty; HTAB_TOMB: deleted */
	size_t keylen;
	uint64_t hash;
	void *value;
};

struct htab {
	struct htab_slot *slots;
	size_t cap;             /* power of two */
	size_t count;           /* live entries */
	size_t used;            /* live + tombstones */
};

static char htab_tomb_key;
#define HTAB_TOMB (&htab_tomb_key)

static uint64_t htab_seed;

/* FNV-1a over a random per-process seed, then a final avalanche (from
 * splitmix64) so that the low bits used for the index depend on every byte. */
static uint64_t
htab_hash(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ htab_seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

struct htab *
htab_new(size_t size_hint)
{
	struct htab *t = xcalloc(1, sizeof(*t));

	while (htab_seed == 0)
		util_random(&htab_seed, sizeof(htab_seed));
	t->cap = 16;
	while (t->cap < size_hint * 2)
		t->cap *= 2;
	t->slots = xcalloc(t->cap, sizeof(*t->slots));
	return t;
}

void
htab_free(struct htab *t, void (*free_value)(void *))
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->cap; i++) {
		if (t->slots[i].key == NULL || t->slots[i].key == HTAB_TOMB)
			continue;
		if (free_value != NULL)
			free_value(t->slots[i].value);
		free(t->slots[i].key);
	}
	free(t->slots);
	free(t);
}

/* Index of KEY's slot, or of the empty slot where it would go. */
static size_t
htab_find(const struct htab *t, const char *key, size_t len, uint64_t h)
{
	size_t mask = t->cap - 1, i = h & mask, tomb = SIZE_MAX;
	const struct htab_slot *s;

	for (;; i = (i + 1) & mask) {
		s = &t->slots[i];
		if (s->key == NULL)
			return tomb != SIZE_MAX ? tomb : i;
		if (s->key == HTAB_TOMB) {
			if (tomb == SIZE_MAX)
				tomb = i;
		} else if (s->hash == h && s->keylen == len &&
		           memcmp(s->key, key, len) == 0) {
			return i;
		}
	}
}

static void
htab_grow(struct htab *t)
{
	struct htab_slot *old = t->slots;
	size_t oldcap = t->cap, i, j;

	/* Rehash into a table with room; tombstones disappear. */
	if (t->count * 4 >= t->cap)
		t->cap *= 2;
	t->slots = xcalloc(t->cap, sizeof(*t->slots));
	for (i = 0; i < oldcap; i++) {
		if (old[i].key == NULL || old[i].key == HTAB_TOMB)
			continue;
		for (j = old[i].hash & (t->cap - 1); t->slots[j].key != NULL;
		     j = (j + 1) & (t->cap - 1))
			;
		t->slots[j] = old[i];
	}
	t->used = t->count;
	free(old);
}

void *
htab_put(struct htab *t, const char *key, void *value)
{
	size_t len = strlen(key), i;
	uint64_t h = htab_hash(key, len);
	void *prev;

	if ((t->used + 1) * 4 >= t->cap * 3)
		htab_grow(t);
	i = htab_find(t, key, len, h);
	if (t->slots[i].key != NULL && t->slots[i].key != HTAB_TOMB) {
		prev = t->slots[i].value;
		t->slots[i].value = value;
		return prev;
	}
	if (t->slots[i].key == NULL)
		t->used++;
	t->slots[i] = (struct htab_slot){xmemdup(key, len + 1), len, h, value};
	t->count++;
	return NULL;
}

void *
htab_getn(const struct htab *t, const char *key, size_t len)
{
	size_t i = htab_find(t, key, len, htab_hash(key, len));

	if (t->slots[i].key == NULL || t->slots[i].key == HTAB_TOMB)
		return NULL;
	return t->slots[i].value;
}

void *
htab_get(const struct htab *t, const char *key)
{
	return htab_getn(t, key, strlen(key));
}

void *
htab_del(struct htab *t, const char *key)
{
	size_t len = strlen(key), i = htab_find(t, key, len,
	                                        htab_hash(key, len));
	void *value;

	if (t->slots[i].key == NULL || t->slots[i].key == HTAB_TOMB)
		return NULL;
	value = t->slots[i].value;
	free(t->slots[i].key);
	t->slots[i].key = HTAB_TOMB;
	t->slots[i].value = NULL;
	t->count--;
	return value;
}

size_t
htab_count(const struct htab *t)
{
	return t->count;
}

void
htab_foreach(const struct htab *t,
             void (*fn)(void *arg, const char *key, void *value), void *arg)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->slots[i].key != NULL && t->slots[i].key != HTAB_TOMB)
			fn(arg, t->slots[i].key, t->slots[i].value);
}
