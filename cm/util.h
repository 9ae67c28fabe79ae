/* util.h - leaf helpers every module may use.
 *
 * Allocation never fails (out of memory is fatal). Randomness comes from
 * GnuTLS's CSPRNG; there is no fallback (fail closed). struct util_buf is a
 * growable byte buffer the caller embeds; it owns its data until
 * util_buf_free() or util_buf_steal(). The parse helpers take NUL-terminated
 * text and return 0 or -EINVAL / -ERANGE, writing their output only on
 * success. */
#ifndef S2SD_UTIL_H
#define S2SD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fill BUF with LEN bytes from the CSPRNG (fatal if it fails). */
void util_random(void *buf, size_t len);
/* A random non-zero 64-bit connection id for log lines. */
uint64_t util_connid(void);
/* Compare in time independent of the contents (secrets, keys, hashes). */
bool util_memeq_ct(const void *a, const void *b, size_t len);
/* Lowercase hex of IN into OUT, which holds 2 * LEN + 1 bytes. */
void util_hex(const void *in, size_t len, char *out);

struct util_buf {
	char *data;     /* NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
};

void util_buf_append(struct util_buf *b, const void *p, size_t n);
void util_buf_puts(struct util_buf *b, const char *s);
void util_buf_printf(struct util_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Drop the first N bytes. */
void util_buf_consume(struct util_buf *b, size_t n);
void util_buf_reset(struct util_buf *b);  /* len = 0, keeps memory */
void util_buf_free(struct util_buf *b);   /* frees data, zeroes b */
/* Returns the data (owned by the caller, never NULL) and empties B. */
char *util_buf_steal(struct util_buf *b, size_t *len);

/* Append the whole file PATH to OUT (start-up and reload only: it blocks).
 * Returns 0 or -errno. */
int util_read_file(const char *path, struct util_buf *out);

/* "yes/no/on/off/true/false/1/0". */
int util_parse_bool(const char *s, bool *out);
/* "512", "256k", "1m", "2g" (binary units). */
int util_parse_size(const char *s, uint64_t *out);
/* "250ms", "30s", "5m", "2h", "1d"; a bare number is seconds. */
int util_parse_duration_ms(const char *s, uint64_t *out);
/* "host", "host:port", "1.2.3.4:5269", "[::1]:5269", "[::1]": HOST gets the
 * host without brackets; PORT gets DEFAULT_PORT when none is given. */
int util_parse_hostport(const char *s, int default_port, char *host,
                        size_t hostlen, int *port);

#endif
