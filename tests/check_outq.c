/* check_outq.c - the order in which batched connections are flushed:
 * oldest mark first, a connection writing again behind others makes
 * everything go first, removal forgets without flushing. */
#include <check.h>
#include <string.h>

#include "tests/lib/testutil.h"
#include "xmpp/outq.h"

struct conn {
	struct outq_entry e;    /* first: the callback casts back */
	char name;
};

static char order[32];
static size_t norder;

static void
flush_cb(struct outq_entry *e)
{
	ck_assert(!e->queued);
	order[norder++] = ((struct conn *)e)->name;
	order[norder] = '\0';
}

static struct conn A = {{NULL, NULL, false, flush_cb}, 'a'};
static struct conn B = {{NULL, NULL, false, flush_cb}, 'b'};
static struct conn C = {{NULL, NULL, false, flush_cb}, 'c'};

static void
setup(void)
{
	outq_flush();
	norder = 0;
	order[0] = '\0';
}

START_TEST(test_fifo)
{
	outq_mark(&B.e);
	outq_mark(&A.e);
	outq_mark(&A.e);        /* newest already: nothing happens */
	outq_mark(&C.e);
	ck_assert_str_eq(order, "");
	ck_assert(!outq_is_empty());
	outq_flush();
	ck_assert_str_eq(order, "bac");
	ck_assert(outq_is_empty());
	outq_flush();
	ck_assert_str_eq(order, "bac");
}
END_TEST

/* A wrote, then B (an ack for what A held, say), then A again: A's older
 * bytes and B's go out before A's new ones are queued. */
START_TEST(test_rewrite_behind_others)
{
	outq_mark(&A.e);
	outq_mark(&B.e);
	outq_mark(&A.e);
	ck_assert_str_eq(order, "ab");
	ck_assert(A.e.queued);
	ck_assert(!B.e.queued);
	outq_mark(&C.e);
	outq_flush();
	ck_assert_str_eq(order, "abac");
}
END_TEST

START_TEST(test_remove)
{
	outq_mark(&A.e);
	outq_mark(&B.e);
	outq_mark(&C.e);
	outq_remove(&B.e);
	outq_remove(&B.e);      /* not queued: no-op */
	ck_assert(!B.e.queued);
	outq_remove(&C.e);      /* the tail */
	outq_mark(&B.e);
	outq_flush();
	ck_assert_str_eq(order, "ab");
	outq_mark(&C.e);
	outq_remove(&C.e);      /* the only one */
	ck_assert(outq_is_empty());
	outq_flush();
	ck_assert_str_eq(order, "ab");
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("outq");
	TCase *tc = tcase_create("order");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_rewrite_behind_others);
	tcase_add_test(tc, test_remove);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(suite());
}
