/* s2s_rate.h - inbound rate limits per remote domain (SPEC 5): two token
 * buckets per domain, one for stanzas and one for stanza bytes, refilled
 * at the configured rates and holding burst_ms worth of them.
 *
 * Pure: no I/O, no clock read (NOW is passed in). A stanza that arrived is
 * always charged, so a bucket may go into debt (the bytes were read
 * already); the verdict tells the owner what to do with the stream that
 * carried it: go on, pause reading until the debt is repaid (WAIT_MS), or
 * close it with policy-violation because the domain has been over its rate
 * for longer than grace_ms. A domain is "over" from its first pause until
 * both buckets are back above half full, which only happens once it sends
 * clearly less than the rate: a peer that keeps sending as fast as the
 * pauses let it stays over, and is closed after the grace period.
 *
 * Memory: one small entry per domain that sent recently; entries whose
 * buckets are full again are forgotten (swept as the table grows). Domain
 * strings are copied. */
#ifndef S2SD_S2S_RATE_H
#define S2SD_S2S_RATE_H

#include <stddef.h>
#include <stdint.h>

struct s2s_rate;

struct s2s_rate_opts {
	uint64_t stanzas;       /* per second; 0: no stanza limit */
	uint64_t bytes;         /* per second; 0: no byte limit */
	uint64_t burst_ms;      /* bucket size, in time at the rate (>= 1) */
	uint64_t grace_ms;      /* over this long: close */
};

enum s2s_rate_verdict { S2S_RATE_OK, S2S_RATE_PAUSE, S2S_RATE_CLOSE };

/* OPTS copied. Returns owned. */
struct s2s_rate *s2s_rate_new(const struct s2s_rate_opts *opts);
void s2s_rate_free(struct s2s_rate *r);         /* NULL ok */
/* Reload: new rates; the domains keep their current state. */
void s2s_rate_set_opts(struct s2s_rate *r, const struct s2s_rate_opts *opts);
/* Charge one stanza of BYTES from DOMAIN (borrowed). On S2S_RATE_PAUSE,
 * *WAIT_MS (> 0) is how long until both buckets are out of debt; it is 0
 * otherwise. */
enum s2s_rate_verdict s2s_rate_charge(struct s2s_rate *r, const char *domain,
                                      size_t bytes, uint64_t now,
                                      uint64_t *wait_ms);
/* Domains currently remembered (tests). */
size_t s2s_rate_count(const struct s2s_rate *r);
/* Forget every domain whose buckets are full again at NOW. */
void s2s_rate_sweep(struct s2s_rate *r, uint64_t now);

#endif
