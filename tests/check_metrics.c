/* check_metrics.c - cm/metrics: series, label escaping, histograms, the
 * exposition text and collectors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/metrics.h"
#include "cm/util.h"
#include "tests/lib/testutil.h"

static char *
render(void)
{
	struct util_buf b = {0};

	metrics_render(&b);
	return util_buf_steal(&b, NULL);
}

START_TEST(test_counters)
{
	struct metrics_series *in = metrics_series(METRICS_STANZAS, "in", NULL,
	                                           NULL);
	char *text;

	ck_assert_ptr_eq(metrics_series(METRICS_STANZAS, "in", NULL, NULL), in);
	metrics_series_add(in, 3);
	metrics_inc(METRICS_STANZAS, "in");
	metrics_add(METRICS_STANZAS, "out", 2);
	/* Labels past the family's are ignored. */
	metrics_series_add(metrics_series(METRICS_STANZAS, "out", "x", "y"), 1);
	ck_assert(metrics_value(METRICS_STANZAS, "in", NULL, NULL) == 4);
	ck_assert(metrics_value(METRICS_STANZAS, "out", NULL, NULL) == 3);
	ck_assert(metrics_value(METRICS_STANZAS, "none", NULL, NULL) == 0);
	text = render();
	ck_assert_ptr_nonnull(strstr(text, "# TYPE s2sd_stanzas_total counter\n"));
	ck_assert_ptr_nonnull(strstr(text, "\ns2sd_stanzas_total{direction=\"in\"} 4\n"));
	ck_assert_ptr_nonnull(strstr(text, "\ns2sd_stanzas_total{direction=\"out\"} 3\n"));
	/* Label-less families read 0 before anything happened. */
	ck_assert_ptr_nonnull(strstr(text, "\ns2sd_queue_stanzas 0\n"));
	free(text);
	metrics_reset();
}
END_TEST

START_TEST(test_three_labels_and_escaping)
{
	char *text;

	metrics_series_set(metrics_series(METRICS_STREAMS, "in", "external",
	                                  "TLS1.3"), 2);
	metrics_series_set(metrics_series(METRICS_STREAMS, "in", "dialback",
	                                  NULL), 1);
	metrics_inc(METRICS_LIMIT_HITS, "a\"b\\c\nd");
	text = render();
	ck_assert_ptr_nonnull(strstr(text, "s2sd_streams{direction=\"in\","
	                             "auth=\"external\",tls=\"TLS1.3\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "s2sd_streams{direction=\"in\","
	                             "auth=\"dialback\",tls=\"\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "s2sd_limit_hits_total{limit="
	                             "\"a\\\"b\\\\c\\nd\"} 1\n"));
	free(text);
	metrics_clear(METRICS_STREAMS);
	ck_assert(metrics_value(METRICS_STREAMS, "in", "external", "TLS1.3") == 0);
	metrics_reset();
}
END_TEST

START_TEST(test_histogram)
{
	char *text;

	metrics_observe(METRICS_DNS_LATENCY, "SRV", 0.0004);
	metrics_observe(METRICS_DNS_LATENCY, "SRV", 0.003);
	metrics_observe(METRICS_DNS_LATENCY, "SRV", 60);
	ck_assert(metrics_value(METRICS_DNS_LATENCY, "SRV", NULL, NULL) == 3);
	text = render();
	ck_assert_ptr_nonnull(strstr(text, "# TYPE s2sd_dns_latency_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(text, "s2sd_dns_latency_seconds_bucket"
	                             "{type=\"SRV\",le=\"0.0005\"} 1\n"));
	/* Buckets are cumulative. */
	ck_assert_ptr_nonnull(strstr(text, "s2sd_dns_latency_seconds_bucket"
	                             "{type=\"SRV\",le=\"0.005\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "s2sd_dns_latency_seconds_bucket"
	                             "{type=\"SRV\",le=\"10\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "s2sd_dns_latency_seconds_bucket"
	                             "{type=\"SRV\",le=\"+Inf\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "s2sd_dns_latency_seconds_count"
	                             "{type=\"SRV\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "s2sd_dns_latency_seconds_sum"
	                             "{type=\"SRV\"} 60.0034"));
	/* A label-less histogram renders without braces around nothing. */
	ck_assert_ptr_nonnull(strstr(text, "s2sd_event_loop_lag_seconds_bucket"
	                             "{le=\"+Inf\"} 0\n"));
	free(text);
	metrics_reset();
}
END_TEST

static int collected;

static void
collect(void *arg)
{
	int *n = arg;

	(*n)++;
	metrics_clear(METRICS_QUEUE_STANZAS);
	metrics_add(METRICS_QUEUE_STANZAS, NULL, 7);
}

START_TEST(test_collectors)
{
	char *text;

	collected = 0;
	metrics_on_scrape(collect, &collected);
	text = render();
	ck_assert_int_eq(collected, 1);
	ck_assert_ptr_nonnull(strstr(text, "\ns2sd_queue_stanzas 7\n"));
	free(text);
	metrics_off_scrape(collect, &collected);
	text = render();
	ck_assert_int_eq(collected, 1);
	free(text);
	metrics_reset();
}
END_TEST

/* Every line is a comment or NAME[{...}] VALUE: what a scraper parses. */
START_TEST(test_exposition_lines)
{
	char *text, *line, *save = NULL;

	metrics_inc(METRICS_BOUNCES, "remote-server-not-found");
	metrics_observe(METRICS_LOOP_LAG, NULL, 0.01);
	text = render();
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strrchr(line, ' ');

		if (line[0] == '#') {
			ck_assert(strncmp(line, "# HELP ", 7) == 0 ||
			          strncmp(line, "# TYPE ", 7) == 0);
			continue;
		}
		ck_assert_ptr_nonnull(sp);
		ck_assert_msg(strncmp(line, "s2sd_", 5) == 0, "%s", line);
		ck_assert_msg(strtod(sp + 1, NULL) >= 0, "%s", line);
	}
	free(text);
	metrics_reset();
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_three_labels_and_escaping);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_collectors);
	tcase_add_test(tc, test_exposition_lines);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(metrics_suite());
}
