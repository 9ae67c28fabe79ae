/* htab.h - a string-keyed hash table (open addressing, linear probing).
 *
 * The table copies keys and borrows values: the caller owns what the values
 * point to. The hash is keyed with a per-process random seed, so remote
 * peers cannot choose keys that collide. Iteration order is unspecified;
 * the table must not be changed while iterating. */
#ifndef S2SD_HTAB_H
#define S2SD_HTAB_H

#include <stdbool.h>
#include <stddef.h>

struct htab;

struct htab *htab_new(size_t size_hint);
/* Free the table and its keys; FREE_VALUE (may be NULL) is called on each
 * value. NULL table ok. */
void htab_free(struct htab *t, void (*free_value)(void *));
/* Insert or replace; returns the previous value for KEY (or NULL). */
void *htab_put(struct htab *t, const char *key, void *value);
void *htab_get(const struct htab *t, const char *key);
/* Same, for a key that is not NUL-terminated. */
void *htab_getn(const struct htab *t, const char *key, size_t len);
/* Remove KEY; returns its value (or NULL). */
void *htab_del(struct htab *t, const char *key);
size_t htab_count(const struct htab *t);
/* Call FN for each entry. */
void htab_foreach(const struct htab *t,
                  void (*fn)(void *arg, const char *key, void *value),
                  void *arg);

#endif
