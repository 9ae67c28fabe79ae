/* check_flow.c - cm/flow: sources held by congested gates, high and low
 * water, several gates on one source, the stall escape, closed sources. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "cm/flow.h"
#include "cm/metrics.h"
#include "cm/util.h"

/* A reader: counts the pause and resume calls it gets. */
struct reader {
	int pauses, resumes;
	bool reading;
};

static void
reader_pause(void *arg)
{
	struct reader *r = arg;

	ck_assert_msg(r->reading, "paused twice");
	r->reading = false;
	r->pauses++;
}

static void
reader_resume(void *arg)
{
	struct reader *r = arg;

	ck_assert_msg(!r->reading, "resumed while reading");
	r->reading = true;
	r->resumes++;
}

static const struct flow_src_ops reader_ops = {reader_pause, reader_resume};
static const struct flow_opts opts = {1000, 200, 5000};

static struct flow_src *
reader_src(struct reader *r)
{
	*r = (struct reader){0, 0, true};
	return flow_src_new(&reader_ops, r, 1, "out");
}

/* A stanza from SRC reaches gate G at NOW. */
static void
deliver(struct flow_gate *g, struct flow_src *src, uint64_t now)
{
	struct flow_src *prev = flow_src_enter(src);

	flow_gate_hold(g, &opts, now);
	flow_src_leave(prev);
}

START_TEST(test_water_marks)
{
	struct reader r;
	struct flow_src *s = reader_src(&r);
	struct flow_gate g;

	metrics_reset();
	flow_gate_init(&g, LOG_SUB_S2S, 2, "out");
	ck_assert(!flow_gate_update(&g, &opts, 999, 0));
	deliver(&g, s, 0);
	ck_assert(r.reading);           /* under high water: nothing held */
	ck_assert(flow_gate_update(&g, &opts, 1000, 10));
	deliver(&g, s, 10);
	deliver(&g, s, 11);             /* held once, paused once */
	ck_assert_int_eq(r.pauses, 1);
	ck_assert_uint_eq(flow_src_holds(s), 1);
	ck_assert(flow_gate_update(&g, &opts, 500, 20));  /* above low */
	ck_assert(!r.reading);
	ck_assert(!flow_gate_update(&g, &opts, 200, 30)); /* at low water */
	ck_assert(r.reading);
	ck_assert_int_eq(r.resumes, 1);
	ck_assert_uint_eq(flow_src_holds(s), 0);
	ck_assert(metrics_value(METRICS_FLOW_PAUSES, "out", NULL, NULL) == 1);
	deliver(&g, s, 40);             /* drained: no longer congested */
	ck_assert(r.reading);
	flow_src_close(s);
	flow_gate_reset(&g);
}
END_TEST

START_TEST(test_no_current_source)
{
	struct flow_gate g;

	flow_gate_init(&g, LOG_SUB_ROUTER, 3, "in");
	flow_gate_update(&g, &opts, 5000, 0);
	flow_gate_hold(&g, &opts, 1);   /* a timer, not a reader: no-op */
	ck_assert_uint_eq(g.nheld, 0);
	ck_assert_uint_eq(flow_gate_deadline(&g, &opts), UINT64_MAX);
	flow_gate_reset(&g);
}
END_TEST

/* One source held by two gates reads again only when both let go. */
START_TEST(test_two_gates)
{
	struct reader r;
	struct flow_src *s = reader_src(&r);
	struct flow_gate a, b;

	flow_gate_init(&a, LOG_SUB_S2S, 4, "out");
	flow_gate_init(&b, LOG_SUB_S2S, 5, "out");
	flow_gate_update(&a, &opts, 2000, 0);
	flow_gate_update(&b, &opts, 2000, 0);
	deliver(&a, s, 0);
	deliver(&b, s, 0);
	ck_assert_int_eq(r.pauses, 1);
	ck_assert_uint_eq(flow_src_holds(s), 2);
	flow_gate_update(&a, &opts, 0, 1);
	ck_assert(!r.reading);
	flow_gate_update(&b, &opts, 0, 2);
	ck_assert(r.reading);
	ck_assert_int_eq(r.resumes, 1);
	flow_src_close(s);
}
END_TEST

/* One gate holds every source that reached it while congested. */
START_TEST(test_many_sources)
{
	struct reader r[9];
	struct flow_src *s[9];
	struct flow_gate g;
	size_t i;

	flow_gate_init(&g, LOG_SUB_S2S, 6, "out");
	flow_gate_update(&g, &opts, 1500, 0);
	for (i = 0; i < 9; i++) {
		s[i] = reader_src(&r[i]);
		deliver(&g, s[i], 0);
		ck_assert(!r[i].reading);
	}
	ck_assert_uint_eq(g.nheld, 9);
	flow_gate_update(&g, &opts, 100, 1);
	for (i = 0; i < 9; i++) {
		ck_assert(r[i].reading);
		flow_src_close(s[i]);
	}
}
END_TEST

/* No write progress for stall_ms: the gate lets go and holds nothing
 * more; progress ends the stall, and it holds again. */
START_TEST(test_stall)
{
	struct reader r;
	struct flow_src *s = reader_src(&r);
	struct flow_gate g;

	metrics_reset();
	flow_gate_init(&g, LOG_SUB_S2S, 7, "out");
	flow_gate_update(&g, &opts, 1000, 100);
	deliver(&g, s, 100);
	ck_assert_uint_eq(flow_gate_deadline(&g, &opts), 5100);
	flow_gate_progress(&g, 3000);   /* some bytes went out */
	ck_assert_uint_eq(flow_gate_deadline(&g, &opts), 8000);
	flow_gate_tick(&g, &opts, 7999);
	ck_assert(!r.reading);
	flow_gate_tick(&g, &opts, 8000);
	ck_assert(r.reading && g.stalled);
	ck_assert(metrics_value(METRICS_FLOW_STALLS, "out", NULL, NULL) == 1);
	ck_assert_uint_eq(flow_gate_deadline(&g, &opts), UINT64_MAX);
	deliver(&g, s, 8001);           /* stalled: not held */
	ck_assert(r.reading);
	flow_gate_progress(&g, 9000);
	ck_assert(!g.stalled && g.congested);
	deliver(&g, s, 9000);
	ck_assert(!r.reading);
	ck_assert_int_eq(r.pauses, 2);
	flow_gate_update(&g, &opts, 0, 9500);
	ck_assert(r.reading);
	flow_src_close(s);
}
END_TEST

/* stall_ms 0: never lets go; high 0: off (a reload turning it off lets go
 * of what was held). */
START_TEST(test_off)
{
	static const struct flow_opts nostall = {1000, 200, 0};
	static const struct flow_opts off = {0, 0, 0};
	struct reader r;
	struct flow_src *s = reader_src(&r);
	struct flow_src *prev;
	struct flow_gate g;

	flow_gate_init(&g, LOG_SUB_S2S, 8, "out");
	flow_gate_update(&g, &nostall, 1000, 0);
	prev = flow_src_enter(s);
	flow_gate_hold(&g, &nostall, 0);
	flow_src_leave(prev);
	ck_assert_uint_eq(flow_gate_deadline(&g, &nostall), UINT64_MAX);
	flow_gate_tick(&g, &nostall, UINT64_MAX / 2);
	ck_assert(!r.reading);
	ck_assert(!flow_gate_update(&g, &off, 1 << 20, 1));
	ck_assert(r.reading && !g.congested);
	flow_src_close(s);
}
END_TEST

/* A source closed while held gets no callback any more; the gate's
 * reference keeps it valid until the gate lets go (ASan: no leak, no
 * use after free). */
START_TEST(test_closed_source)
{
	struct reader r;
	struct flow_src *s = reader_src(&r);
	struct flow_gate g;

	flow_gate_init(&g, LOG_SUB_S2S, 9, "out");
	flow_gate_update(&g, &opts, 1000, 0);
	ck_assert_ptr_null(flow_src_enter(s));
	flow_gate_hold(&g, &opts, 0);
	flow_src_close(s);              /* closed while current */
	ck_assert_ptr_null(flow_src_current());
	flow_gate_hold(&g, &opts, 0);   /* nothing current: no-op */
	flow_gate_update(&g, &opts, 0, 1);
	ck_assert_int_eq(r.resumes, 0);
	ck_assert_uint_eq(g.nheld, 0);
}
END_TEST

static Suite *
flow_suite(void)
{
	Suite *s = suite_create("flow");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_water_marks);
	tcase_add_test(tc, test_no_current_source);
	tcase_add_test(tc, test_two_gates);
	tcase_add_test(tc, test_many_sources);
	tcase_add_test(tc, test_stall);
	tcase_add_test(tc, test_off);
	tcase_add_test(tc, test_closed_source);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(flow_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
