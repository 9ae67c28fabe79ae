/* metrics.h - the daemon's counters, gauges and histograms, rendered in the
 * Prometheus text exposition format (0.0.4).
 *
 * One registry per process (the daemon is one thread on one loop). A family
 * is a row of METRICS_FAMILIES; a series is a family plus the values of its
 * labels (up to three). Label values must come from small fixed sets
 * (directions, auth methods, error conditions, reasons): never a domain or
 * an address, so the number of series stays bounded.
 *
 * Ownership: label values are copied when a series is first used. A series
 * handle (struct metrics_series *) stays valid until metrics_reset(); hot
 * paths look a series up once and keep the handle. Gauges that describe a
 * state (open streams, queue depths) are set by collectors registered with
 * metrics_on_scrape(), which run at the start of every metrics_render(). */
#ifndef S2SD_METRICS_H
#define S2SD_METRICS_H

#include <stddef.h>

#include "cm/util.h"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

/* X(id, type, name, help, label1, label2, label3): unused labels are NULL.
 * Histograms take at most one label and use METRICS_BUCKETS (seconds). */
#define METRICS_FAMILIES(X)                                                    \
	X(STREAMS, METRICS_GAUGE, "s2sd_streams",                              \
	  "open S2S streams", "direction", "auth", "tls")                      \
	X(STREAMS_OPENED, METRICS_COUNTER, "s2sd_streams_opened_total",        \
	  "S2S streams authenticated", "direction", "auth", NULL)              \
	X(STANZAS, METRICS_COUNTER, "s2sd_stanzas_total",                      \
	  "stanzas received (in) and sent (out) on S2S streams", "direction",  \
	  NULL, NULL)                                                          \
	X(BYTES, METRICS_COUNTER, "s2sd_bytes_total",                          \
	  "bytes received (in) and sent (out) on S2S connections",            \
	  "direction", NULL, NULL)                                             \
	X(BOUNCES, METRICS_COUNTER, "s2sd_bounces_total",                      \
	  "stanzas bounced to their sender, by error condition", "condition", \
	  NULL, NULL)                                                          \
	X(POLICY_DENIALS, METRICS_COUNTER, "s2sd_policy_denials_total",        \
	  "streams or stanzas refused by the federation policy", "direction", \
	  NULL, NULL)                                                          \
	X(LIMIT_HITS, METRICS_COUNTER, "s2sd_limit_hits_total",                \
	  "times a configured limit was reached", "limit", NULL, NULL)        \
	X(DNS_LOOKUPS, METRICS_COUNTER, "s2sd_dns_lookups_total",              \
	  "DNS queries sent", "type", NULL, NULL)                              \
	X(DNS_FAILURES, METRICS_COUNTER, "s2sd_dns_failures_total",            \
	  "DNS queries that failed, by reason", "reason", NULL, NULL)          \
	X(DNS_LATENCY, METRICS_HISTOGRAM, "s2sd_dns_latency_seconds",          \
	  "time to answer a DNS query", "type", NULL, NULL)                    \
	X(TLS_HANDSHAKES, METRICS_COUNTER, "s2sd_tls_handshakes_total",        \
	  "TLS handshakes completed", "direction", "version", NULL)            \
	X(TLS_FAILURES, METRICS_COUNTER, "s2sd_tls_handshake_failures_total",  \
	  "TLS handshakes failed, by reason", "direction", "reason", NULL)     \
	X(QUEUE_STANZAS, METRICS_GAUGE, "s2sd_queue_stanzas",                  \
	  "stanzas waiting in outbound route queues", NULL, NULL, NULL)        \
	X(QUEUE_BYTES, METRICS_GAUGE, "s2sd_queue_bytes",                      \
	  "bytes waiting in outbound route queues", NULL, NULL, NULL)          \
	X(LOOP_LAG, METRICS_HISTOGRAM, "s2sd_event_loop_lag_seconds",          \
	  "how late the event loop ran a periodic timer", NULL, NULL, NULL)    \
	X(HOME_NODES, METRICS_GAUGE, "s2sd_home_nodes_attached",               \
	  "home nodes attached over XEP-0114", NULL, NULL, NULL)               \
	X(HOME_STANZAS, METRICS_COUNTER, "s2sd_home_node_stanzas_total",       \
	  "stanzas delivered to home nodes", NULL, NULL, NULL)                 \
	X(SM_ACKS, METRICS_COUNTER, "s2sd_sm_acks_total",                      \
	  "XEP-0198 acks received (in) and sent (out)", "direction", NULL,    \
	  NULL)                                                                \
	X(SM_RESENT, METRICS_COUNTER, "s2sd_sm_resent_total",                  \
	  "unacknowledged stanzas sent again after a stream died", NULL, NULL, \
	  NULL)                                                                \
	X(SM_RESUMED, METRICS_COUNTER, "s2sd_sm_resumed_total",                \
	  "XEP-0198 resumptions by side and result", "side", "result", NULL) \
	X(CLUSTER_LINKS, METRICS_GAUGE, "s2sd_cluster_links_up",               \
	  "router-to-router links to other cluster nodes that are up", NULL,  \
	  NULL, NULL)                                                          \
	X(CLUSTER_FORWARDED, METRICS_COUNTER, "s2sd_cluster_forwarded_total",  \
	  "stanzas forwarded to other cluster nodes", "kind", NULL, NULL) \
	X(BIDI_STREAMS, METRICS_GAUGE, "s2sd_bidi_streams",                    \
	  "open S2S streams carrying both directions (XEP-0288)", "direction", \
	  NULL, NULL)                                                          \
	X(BIDI_NEGOTIATED, METRICS_COUNTER, "s2sd_bidi_negotiated_total",      \
	  "XEP-0288 bidirectional streams negotiated", "direction", NULL, NULL) \
	X(FLOW_PAUSES, METRICS_COUNTER, "s2sd_flow_pauses_total",              \
	  "readers paused by back-pressure (out: home node links, in: S2S "    \
	  "streams)", "direction", NULL, NULL)                                 \
	X(FLOW_STALLS, METRICS_COUNTER, "s2sd_flow_stalls_total",              \
	  "congested writers that made no progress for the stall time-out "    \
	  "and let their readers go", "direction", NULL, NULL)

enum metrics_id {
#define METRICS_X(id, type, name, help, l1, l2, l3) METRICS_##id,
	METRICS_FAMILIES(METRICS_X)
#undef METRICS_X
	METRICS_N
};

/* Histogram bucket upper bounds in seconds (+Inf is implied). */
#define METRICS_BUCKETS                                                        \
	{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,  \
	 2.5, 5, 10}

struct metrics_series;

/* The series of ID with these label values (as many as the family has;
 * the others are ignored). Created on first use, never NULL. */
struct metrics_series *metrics_series(enum metrics_id id, const char *l1,
                                      const char *l2, const char *l3);
void metrics_series_add(struct metrics_series *s, double v);  /* ctr, gauge */
void metrics_series_set(struct metrics_series *s, double v);  /* gauge */
void metrics_series_observe(struct metrics_series *s, double v); /* histo */

/* Shorthands for one-label (or label-less: L1 NULL) families. */
void metrics_inc(enum metrics_id id, const char *l1);
void metrics_add(enum metrics_id id, const char *l1, double v);
void metrics_observe(enum metrics_id id, const char *l1, double v);

/* Set every series of ID to 0 (a collector does this before it sets the
 * gauges of the current state, so vanished states read 0). */
void metrics_clear(enum metrics_id id);

/* FN(ARG) runs at the start of each metrics_render(). Remove it with
 * metrics_off_scrape() before ARG goes away. */
typedef void metrics_collector(void *arg);
void metrics_on_scrape(metrics_collector *fn, void *arg);
void metrics_off_scrape(metrics_collector *fn, void *arg);

/* Append the whole exposition to OUT. */
void metrics_render(struct util_buf *out);
/* The value of one series (0 when it does not exist); for histograms the
 * number of observations. For tests and s2sctl. */
double metrics_value(enum metrics_id id, const char *l1, const char *l2,
                     const char *l3);
/* Forget every series and collector (tests; exit). */
void metrics_reset(void);

#endif
