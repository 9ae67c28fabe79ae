/* metrics.c - the metrics registry and its Prometheus text rendering.
 *
 * Families are fixed (METRICS_FAMILIES); each holds an array of series
 * pointers. Series are allocated one by one so that handles stay valid
 * while the array grows. Lookups are linear: label sets are small by rule. */
#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cm/metrics.h"

#define METRICS_LABELS 3

static const double metrics_bounds[] = METRICS_BUCKETS;
#define METRICS_NBUCKETS UTIL_ARRAY_LEN(metrics_bounds)

struct metrics_series {
	enum metrics_id id;
	char *labels[METRICS_LABELS];   /* NULL past the family's labels */
	double value;                   /* counters, gauges; histogram sum */
	uint64_t count;                 /* histogram observations */
	uint64_t buckets[METRICS_NBUCKETS];     /* histogram, not cumulative */
};

struct metrics_family {
	enum metrics_type type;
	const char *name;
	const char *help;
	const char *label_names[METRICS_LABELS];
};

static const struct metrics_family metrics_families[METRICS_N] = {
#define METRICS_X(id, type, name, help, l1, l2, l3)                          \
	[METRICS_##id] = {type, name, help, {l1, l2, l3}},
	METRICS_FAMILIES(METRICS_X)
#undef METRICS_X
};

struct metrics_collector_entry {
	metrics_collector *fn;
	void *arg;
};

static struct {
	struct metrics_series **series[METRICS_N];
	size_t nseries[METRICS_N];
	struct metrics_collector_entry *collectors;
	size_t ncollectors;
} metrics;

static bool
metrics_label_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static struct metrics_series *
metrics_find(enum metrics_id id, const char *const want[METRICS_LABELS])
{
	const struct metrics_family *f = &metrics_families[id];
	size_t i, k;

	for (i = 0; i < metrics.nseries[id]; i++) {
		struct metrics_series *s = metrics.series[id][i];

		for (k = 0; k < METRICS_LABELS && f->label_names[k] != NULL; k++)
			if (!metrics_label_eq(s->labels[k], want[k]))
				break;
		if (k == METRICS_LABELS || f->label_names[k] == NULL)
			return s;
	}
	return NULL;
}

struct metrics_series *
metrics_series(enum metrics_id id, const char *l1, const char *l2,
               const char *l3)
{
	const struct metrics_family *f = &metrics_families[id];
	const char *const want[METRICS_LABELS] = {l1, l2, l3};
	struct metrics_series *s;
	size_t k;

	if ((s = metrics_find(id, want)) != NULL)
		return s;
	s = xcalloc(1, sizeof(*s));
	s->id = id;
	for (k = 0; k < METRICS_LABELS && f->label_names[k] != NULL; k++)
		s->labels[k] = xstrdup(want[k] != NULL ? want[k] : "");
	metrics.series[id] = xreallocarray(metrics.series[id],
	                                   metrics.nseries[id] + 1,
	                                   sizeof(*metrics.series[id]));
	metrics.series[id][metrics.nseries[id]++] = s;
	return s;
}

void
metrics_series_add(struct metrics_series *s, double v)
{
	s->value += v;
}

void
metrics_series_set(struct metrics_series *s, double v)
{
	s->value = v;
}

void
metrics_series_observe(struct metrics_series *s, double v)
{
	size_t i;

	s->value += v;
	s->count++;
	for (i = 0; i < METRICS_NBUCKETS; i++) {
		if (v <= metrics_bounds[i]) {
			s->buckets[i]++;
			break;
		}
	}
}

void
metrics_inc(enum metrics_id id, const char *l1)
{
	metrics_series_add(metrics_series(id, l1, NULL, NULL), 1);
}

void
metrics_add(enum metrics_id id, const char *l1, double v)
{
	metrics_series_add(metrics_series(id, l1, NULL, NULL), v);
}

void
metrics_observe(enum metrics_id id, const char *l1, double v)
{
	metrics_series_observe(metrics_series(id, l1, NULL, NULL), v);
}

void
metrics_clear(enum metrics_id id)
{
	size_t i;

	for (i = 0; i < metrics.nseries[id]; i++) {
		struct metrics_series *s = metrics.series[id][i];

		s->value = 0;
		s->count = 0;
		memset(s->buckets, 0, sizeof(s->buckets));
	}
}

void
metrics_on_scrape(metrics_collector *fn, void *arg)
{
	metrics.collectors = xreallocarray(metrics.collectors,
	                                   metrics.ncollectors + 1,
	                                   sizeof(*metrics.collectors));
	metrics.collectors[metrics.ncollectors].fn = fn;
	metrics.collectors[metrics.ncollectors].arg = arg;
	metrics.ncollectors++;
}

void
metrics_off_scrape(metrics_collector *fn, void *arg)
{
	size_t i;

	for (i = 0; i < metrics.ncollectors; i++) {
		if (metrics.collectors[i].fn == fn &&
		    metrics.collectors[i].arg == arg) {
			memmove(&metrics.collectors[i], &metrics.collectors[i + 1],
			        (metrics.ncollectors - i - 1) *
			        sizeof(*metrics.collectors));
			metrics.ncollectors--;
			return;
		}
	}
}

/* A label value escaped as the exposition format says: \\, \" and \n. */
static void
metrics_put_label(struct util_buf *out, const char *name, const char *v)
{
	util_buf_printf(out, "%s=\"", name);
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			util_buf_printf(out, "\\%c", *v);
		else if (*v == '\n')
			util_buf_puts(out, "\\n");
		else
			util_buf_append(out, v, 1);
	}
	util_buf_puts(out, "\"");
}

/* NAME{labels[,le="B"]} with the series' labels; LE may be NULL. */
static void
metrics_put_name(struct util_buf *out, const char *name, const char *suffix,
                 const struct metrics_series *s, const char *le)
{
	const struct metrics_family *f = &metrics_families[s->id];
	bool any = false;
	size_t k;

	util_buf_printf(out, "%s%s", name, suffix);
	for (k = 0; k < METRICS_LABELS && f->label_names[k] != NULL; k++) {
		util_buf_puts(out, any ? "," : "{");
		metrics_put_label(out, f->label_names[k], s->labels[k]);
		any = true;
	}
	if (le != NULL) {
		util_buf_puts(out, any ? "," : "{");
		metrics_put_label(out, "le", le);
		any = true;
	}
	if (any)
		util_buf_puts(out, "}");
}

static void
metrics_put_value(struct util_buf *out, double v)
{
	if (isinf(v))
		util_buf_puts(out, v > 0 ? " +Inf\n" : " -Inf\n");
	else if (isnan(v))
		util_buf_puts(out, " NaN\n");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		util_buf_printf(out, " %.0f\n", v);    /* counters: exact */
	else
		util_buf_printf(out, " %.15g\n", v);
}

static void
metrics_put_histogram(struct util_buf *out, const char *name,
                      const struct metrics_series *s)
{
	uint64_t cum = 0;
	char le[32];
	size_t i;

	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cum += s->buckets[i];
		snprintf(le, sizeof(le), "%g", metrics_bounds[i]);
		metrics_put_name(out, name, "_bucket", s, le);
		util_buf_printf(out, " %llu\n", (unsigned long long)cum);
	}
	metrics_put_name(out, name, "_bucket", s, "+Inf");
	util_buf_printf(out, " %llu\n", (unsigned long long)s->count);
	metrics_put_name(out, name, "_sum", s, NULL);
	metrics_put_value(out, s->value);
	metrics_put_name(out, name, "_count", s, NULL);
	util_buf_printf(out, " %llu\n", (unsigned long long)s->count);
}

static void
metrics_put_family(struct util_buf *out, enum metrics_id id)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	const struct metrics_family *f = &metrics_families[id];
	size_t i;

	util_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
	                f->name, types[f->type]);
	/* A family without labels always has its one series, so that it
	 * reads 0 before anything happened. */
	if (f->label_names[0] == NULL)
		metrics_series(id, NULL, NULL, NULL);
	for (i = 0; i < metrics.nseries[id]; i++) {
		const struct metrics_series *s = metrics.series[id][i];

		if (f->type == METRICS_HISTOGRAM) {
			metrics_put_histogram(out, f->name, s);
			continue;
		}
		metrics_put_name(out, f->name, "", s, NULL);
		metrics_put_value(out, s->value);
	}
}

void
metrics_render(struct util_buf *out)
{
	size_t i;

	for (i = 0; i < metrics.ncollectors; i++)
		metrics.collectors[i].fn(metrics.collectors[i].arg);
	for (i = 0; i < METRICS_N; i++)
		metrics_put_family(out, (enum metrics_id)i);
}

double
metrics_value(enum metrics_id id, const char *l1, const char *l2,
              const char *l3)
{
	const char *const want[METRICS_LABELS] = {l1, l2, l3};
	const struct metrics_series *s = metrics_find(id, want);

	if (s == NULL)
		return 0;
	return metrics_families[id].type == METRICS_HISTOGRAM ? (double)s->count
	                                                      : s->value;
}

void
metrics_reset(void)
{
	size_t i, j, k;

	for (i = 0; i < METRICS_N; i++) {
		for (j = 0; j < metrics.nseries[i]; j++) {
			for (k = 0; k < METRICS_LABELS; k++)
				free(metrics.series[i][j]->labels[k]);
			free(metrics.series[i][j]);
		}
		free(metrics.series[i]);
	}
	free(metrics.collectors);
	memset(&metrics, 0, sizeof(metrics));
}
