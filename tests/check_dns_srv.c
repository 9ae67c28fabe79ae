/* check_dns_srv.c - dns/dns_msg and dns/dns_srv: parsing captured answers
 * (tests/data/dns/NAME.hex), RFC 2782 ordering with a seeded random source,
 * the XEP-0368 merge and the RFC 6120 3.2 fallback rules. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/util.h"
#include "dns/dns_msg.h"
#include "dns/dns_srv.h"

/* Read a hex text file ('#' comments, whitespace ignored). */
static uint8_t *
read_hex(const char *name, size_t *len)
{
	const char *src = getenv("S2SD_SRC");
	char path[512], line[256];
	uint8_t *buf = xmalloc(65536);
	size_t n = 0, i;
	unsigned v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/data/dns/%s",
	         src != NULL ? src : ".", name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#')
			continue;
		for (i = 0; isxdigit((unsigned char)line[i]) &&
		            isxdigit((unsigned char)line[i + 1]);
		     i += 2) {
			ck_assert(sscanf(line + i, "%2x", &v) == 1);
			buf[n++] = (uint8_t)v;
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

/* "target:port:prio:weight:ttl[:tls],..." in list order. */
static char *
srv_str(const struct dns_srv_list *l)
{
	struct util_buf b = {0};
	const struct dns_srv_rec *r;
	size_t i;

	util_buf_puts(&b, "");
	for (i = 0; i < dns_srv_count(l); i++) {
		r = dns_srv_get(l, i);
		util_buf_printf(&b, "%s%s:%u:%u:%u:%u%s", i ? "," : "",
		                r->target, r->port, r->prio, r->weight, r->ttl,
		                r->direct_tls ? ":tls" : "");
	}
	return util_buf_steal(&b, NULL);
}

struct parse_case {
	const char *file;
	bool tls;
	int rc;
	const char *recs;
};

static const struct parse_case parse_cases[] = {
    {"srv_a.hex", false, 0,
     "xmpp2.a.test:5270:20:0:300,xmpp1.a.test:5269:10:50:300"},
    {"srvs_a.hex", true, 0, "tls.a.test:5223:10:50:300:tls"},
    {"srv_w.hex", false, 0,
     "backup.w.test:5269:7:0:300,w0.w.test:5269:5:0:300,"
     "w3.w.test:5269:5:60:300,w2.w.test:5269:5:30:300,"
     "w1.w.test:5269:5:10:300"},
    {"srv_dot.hex", false, S2SD_ENULLSVC, NULL},
    {"srv_nx.hex", false, S2SD_EDNS_NXDOMAIN, NULL},
    {"srv_nx_soa.hex", false, S2SD_EDNS_NXDOMAIN, NULL},
    {"srv_nodata.hex", false, S2SD_EDNS_NODATA, NULL},
    {"srv_nodata_soa.hex", false, S2SD_EDNS_NODATA, NULL},
    {"srv_refused.hex", false, S2SD_EDNS_TEMP, NULL},
    {"a_cname.hex", false, S2SD_EDNS_BADRESP, NULL},  /* not an SRV answer */
    /* The owner is reached through a CNAME; the stray record is not ours. */
    {"srv_cname_owner.hex", false, 0, "x.real.test:5269:1:0:40"},
    /* "." among others, port 0, a bad target dropped; the duplicate keeps
     * the lower priority and the lower TTL. */
    {"srv_mixed.hex", false, 0,
     "good.m.test:5269:2:5:70,two.m.test:5270:4:5:100"},
};

START_TEST(test_parse)
{
	const struct parse_case *c = &parse_cases[_i];
	struct dns_srv_list *l = (void *)1;
	size_t len;
	uint8_t *ans = read_hex(c->file, &len);
	char *s;

	ck_assert_int_eq(dns_srv_parse(ans, len, c->tls, &l), c->rc);
	if (c->recs == NULL) {
		ck_assert_ptr_null(l);
	} else {
		s = srv_str(l);
		ck_assert_str_eq(s, c->recs);
		free(s);
	}
	dns_srv_free(l);
	free(ans);
}
END_TEST

/* Every truncation of a captured answer is either rejected as malformed or
 * (when only the unread additional section was cut) parses the same. */
START_TEST(test_parse_truncated)
{
	const struct parse_case *c = &parse_cases[_i];
	struct dns_srv_list *l;
	size_t len, cut;
	uint8_t *ans = read_hex(c->file, &len), *part;
	int rc;

	for (cut = 0; cut < len; cut++) {
		part = xmemdup(ans, cut);  /* exact size: ASan sees overreads */
		rc = dns_srv_parse(part, cut, c->tls, &l);
		ck_assert_msg(rc == S2SD_EDNS_BADRESP || rc == c->rc,
		              "%s cut at %zu: %s", c->file, cut, err_name(rc));
		if (cut < 12)
			ck_assert_int_eq(rc, S2SD_EDNS_BADRESP);
		dns_srv_free(l);
		free(part);
	}
	free(ans);
}
END_TEST

static uint32_t
xorshift(void *arg)
{
	uint64_t *s = arg;

	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (uint32_t)((*s * 2685821657736338717ULL) >> 32);
}

/* Flipped bytes never crash the parser nor produce an unknown status. */
START_TEST(test_parse_mutated)
{
	static const char *files[] = {"srv_a.hex", "srv_w.hex",
	                              "srv_cname_owner.hex", "srv_nx_soa.hex"};
	struct dns_srv_list *l;
	uint64_t seed = 42;
	size_t len, f, k;
	uint8_t *ans;
	int rc, round;

	for (f = 0; f < UTIL_ARRAY_LEN(files); f++) {
		ans = read_hex(files[f], &len);
		for (round = 0; round < 2000; round++) {
			uint8_t *m = xmemdup(ans, len);

			for (k = 0; k < 3; k++)
				m[xorshift(&seed) % len] = (uint8_t)xorshift(&seed);
			rc = dns_srv_parse(m, len, false, &l);
			ck_assert(rc == 0 || rc == S2SD_EDNS_BADRESP ||
			          rc == S2SD_EDNS_NXDOMAIN || rc == S2SD_EDNS_NODATA ||
			          rc == S2SD_EDNS_TEMP || rc == S2SD_ENULLSVC);
			ck_assert(rc != 0 || dns_srv_count(l) > 0);
			dns_srv_free(l);
			free(m);
		}
		free(ans);
	}
}
END_TEST

/* A name that points at itself (compression loop) is malformed. */
START_TEST(test_parse_loop)
{
	static const uint8_t msg[] = {
	    0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
	    1, 'x', 0, 0, 33, 0, 1,                  /* question x. SRV */
	    0xc0, 19, 0, 33, 0, 1, 0, 0, 0, 60, 0, 7,  /* owner: pointer to self */
	    0, 0, 0, 0, 0x14, 0x95, 0};
	struct dns_srv_list *l;

	ck_assert_int_eq(dns_srv_parse(msg, sizeof(msg), false, &l),
	                 S2SD_EDNS_BADRESP);
	ck_assert_ptr_null(l);
}
END_TEST

START_TEST(test_msg_ttls)
{
	uint32_t ttl = 0;
	size_t len;
	uint8_t *ans = read_hex("srv_a.hex", &len);
	uint8_t *nx = NULL;

	ck_assert(dns_msg_answer_ttl(ans, len, &ttl));
	ck_assert_uint_eq(ttl, 300);
	dns_msg_age(ans, len, 100);
	ck_assert(dns_msg_answer_ttl(ans, len, &ttl));
	ck_assert_uint_eq(ttl, 200);
	dns_msg_age(ans, len, 1000);  /* stops at 0, no wrap-around */
	ck_assert(dns_msg_answer_ttl(ans, len, &ttl));
	ck_assert_uint_eq(ttl, 0);
	ck_assert(!dns_msg_negative_ttl(ans, len, &ttl));
	free(ans);

	/* RFC 2308: min(SOA TTL 600, SOA MINIMUM 1200). */
	nx = read_hex("srv_nx_soa.hex", &len);
	ck_assert(!dns_msg_answer_ttl(nx, len, &ttl));
	ck_assert(dns_msg_negative_ttl(nx, len, &ttl));
	ck_assert_uint_eq(ttl, 600);
	free(nx);
	nx = read_hex("srv_nodata_soa.hex", &len);
	ck_assert(dns_msg_negative_ttl(nx, len, &ttl));
	ck_assert_uint_eq(ttl, 600);
	free(nx);
	nx = read_hex("srv_nx.hex", &len);  /* dnsmasq sends no SOA */
	ck_assert(!dns_msg_negative_ttl(nx, len, &ttl));
	free(nx);
}
END_TEST

static struct dns_srv_list *
mklist(const char *spec, bool tls)
{
	struct dns_srv_list *l = dns_srv_new();
	char target[64];
	unsigned prio, weight, port;
	int n;

	/* "target/prio/weight/port ..." */
	while (sscanf(spec, " %63[^/]/%u/%u/%u%n", target, &prio, &weight,
	              &port, &n) == 4) {
		dns_srv_add(l, target, (uint16_t)prio, (uint16_t)weight,
		            (uint16_t)port, 60, tls);
		spec += n;
	}
	return l;
}

START_TEST(test_order_priority)
{
	struct dns_srv_list *l = mklist("c/30/5/1 a/10/5/1 b/20/0/1 d/65535/1/1",
	                                false);
	uint64_t seed = 7;
	char *s;

	dns_srv_order(l, xorshift, &seed);
	s = srv_str(l);
	ck_assert_str_eq(s, "a:1:10:5:60,b:1:20:0:60,c:1:30:5:60,"
	                    "d:1:65535:1:60");
	free(s);
	dns_srv_free(l);
}
END_TEST

/* Count, over DRAWS orderings of SPEC, how often each target comes first
 * and how often the complete order equals WANT. */
static void
draw_firsts(const char *spec, bool tls, int draws, const char *names,
            double *freq, const char *want, double *want_freq)
{
	struct dns_srv_list *base = mklist(spec, tls), *l;
	uint64_t seed = 20240101;
	int d, hits = 0;
	size_t k, n = strlen(names);
	char *s;

	for (k = 0; k < n; k++)
		freq[k] = 0;
	for (d = 0; d < draws; d++) {
		l = dns_srv_copy(base);
		dns_srv_order(l, xorshift, &seed);
		freq[strchr(names, dns_srv_get(l, 0)->target[0]) - names] += 1;
		if (want != NULL) {
			s = srv_str(l);
			hits += strcmp(s, want) == 0;
			free(s);
		}
		dns_srv_free(l);
	}
	for (k = 0; k < n; k++)
		freq[k] /= draws;
	if (want_freq != NULL)
		*want_freq = (double)hits / draws;
	dns_srv_free(base);
}

#define ck_assert_near(v, want, tol)                                           \
	ck_assert_msg((v) > (want) - (tol) && (v) < (want) + (tol),           \
	              "%s = %.4f, want %.4f +- %.4f", #v, (v), (want), (tol))

/* RFC 2782: within one priority a record comes first with a probability
 * proportional to its weight; then the draw repeats over the rest. */
START_TEST(test_order_weights)
{
	double f[3], p;

	draw_firsts("a/5/10/1 b/5/30/1 c/5/60/1", false, 10000, "abc", f,
	            "c:1:5:60:60,b:1:5:30:60,a:1:5:10:60", &p);
	ck_assert_near(f[0], 0.10, 0.02);
	ck_assert_near(f[1], 0.30, 0.02);
	ck_assert_near(f[2], 0.60, 0.02);
	ck_assert_near(p, 0.60 * 30.0 / 40.0, 0.02);
}
END_TEST

/* All weights 0: every record is equally likely to be first. One weight 0
 * among weighted records: first only when the draw is 0 (1 in sum + 1). */
START_TEST(test_order_zero_weights)
{
	double f[3];

	draw_firsts("a/1/0/1 b/1/0/1 c/1/0/1", false, 9000, "abc", f, NULL,
	            NULL);
	ck_assert_near(f[0], 1.0 / 3, 0.03);
	ck_assert_near(f[1], 1.0 / 3, 0.03);
	ck_assert_near(f[2], 1.0 / 3, 0.03);
	draw_firsts("z/1/0/1 h/1/100/1", false, 10000, "zh", f, NULL, NULL);
	ck_assert_near(f[0], 1.0 / 101, 0.006);
	ck_assert_near(f[1], 100.0 / 101, 0.006);
}
END_TEST

/* The captured five-record answer: priority 7 is always last. */
START_TEST(test_order_captured)
{
	struct dns_srv_list *l;
	uint64_t seed = 99;
	double first[4] = {0};
	size_t len;
	uint8_t *ans = read_hex("srv_w.hex", &len);
	int d;

	for (d = 0; d < 10000; d++) {
		ck_assert_int_eq(dns_srv_parse(ans, len, false, &l), 0);
		dns_srv_order(l, xorshift, &seed);
		ck_assert_str_eq(dns_srv_get(l, 4)->target, "backup.w.test");
		first[dns_srv_get(l, 0)->target[1] - '0'] += 1.0 / 10000;
		dns_srv_free(l);
	}
	ck_assert_near(first[0], 1.0 / 101, 0.006);
	ck_assert_near(first[1], 10.0 / 101, 0.02);
	ck_assert_near(first[2], 30.0 / 101, 0.02);
	ck_assert_near(first[3], 60.0 / 101, 0.02);
	free(ans);
}
END_TEST

struct plan_case {
	int st_xmpps, st_xmpp;
	int rc;
	size_t count;
};

#define NX S2SD_EDNS_NXDOMAIN
#define ND S2SD_EDNS_NODATA
#define NUL S2SD_ENULLSVC
#define TMO S2SD_EDNS_TIMEOUT
#define TMP S2SD_EDNS_TEMP
#define BAD S2SD_EDNS_BADRESP

static const struct plan_case plan_cases[] = {
    {0, 0, 0, 3},                    /* both merged */
    {NX, 0, 0, 2},                   /* the usual: no direct TLS */
    {0, ND, 0, 1},                   /* direct TLS only */
    {0, TMO, 0, 1},                  /* records we have are tried */
    {TMP, 0, 0, 2},
    {NUL, 0, 0, 2},                  /* no direct TLS, STARTTLS records */
    {NX, NX, DNS_SRV_FALLBACK, 0},   /* no SRV at all: domain:5269 */
    {ND, NX, DNS_SRV_FALLBACK, 0},
    {ND, ND, DNS_SRV_FALLBACK, 0},
    {NX, NUL, NUL, 0},               /* RFC 6120 3.2.1 step 3 */
    {NUL, NX, NUL, 0},               /* XEP-0368 1.1.0: no A/AAAA fallback */
    {NUL, NUL, NUL, 0},
    {NX, TMO, TMO, 0},               /* no silent fallback on time-out */
    {NX, TMP, TMP, 0},
    {NX, BAD, BAD, 0},
    {TMO, NX, TMO, 0},               /* xmpps may hold the only records */
    {TMO, NUL, TMO, 0},
    {TMP, TMO, TMO, 0},
};

START_TEST(test_plan)
{
	const struct plan_case *c = &plan_cases[_i];
	struct dns_srv_list *xs = mklist("s/10/0/5223", true);
	struct dns_srv_list *x = mklist("p/10/0/5269 q/20/0/5269", false);
	struct dns_srv_list *out = (void *)1;
	uint64_t seed = 3;

	ck_assert_int_eq(dns_srv_plan(c->st_xmpps, c->st_xmpps == 0 ? xs : NULL,
	                              c->st_xmpp, c->st_xmpp == 0 ? x : NULL,
	                              xorshift, &seed, &out),
	                 c->rc);
	ck_assert_uint_eq(dns_srv_count(out), c->count);
	ck_assert(c->count > 0 || out == NULL);
	dns_srv_free(out);
	dns_srv_free(xs);
	dns_srv_free(x);
}
END_TEST

/* XEP-0368: one RRset for ordering. A lower priority of either service
 * wins outright; at equal priority the weights decide, no service bias. */
START_TEST(test_plan_merge_order)
{
	struct dns_srv_list *xs = mklist("t/5/50/5223 u/20/0/5223", true);
	struct dns_srv_list *x = mklist("p/10/0/5269 q/5/50/5269", false);
	struct dns_srv_list *out;
	uint64_t seed = 11;
	int d, tls_first = 0;
	char *s;

	for (d = 0; d < 10000; d++) {
		ck_assert_int_eq(dns_srv_plan(0, xs, 0, x, xorshift, &seed,
		                              &out), 0);
		ck_assert_uint_eq(dns_srv_count(out), 4);
		tls_first += dns_srv_get(out, 0)->direct_tls;
		if (d == 0) {
			s = srv_str(out);
			ck_assert(strstr(s, "p:5269:10:0:60,u:5223:20:0:60:tls") !=
			          NULL);
			free(s);
		}
		dns_srv_free(out);
	}
	ck_assert_near(tls_first / 10000.0, 0.5, 0.03);
	dns_srv_free(xs);
	dns_srv_free(x);
}
END_TEST

static Suite *
dns_srv_suite(void)
{
	Suite *s = suite_create("dns_srv");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_parse, 0, UTIL_ARRAY_LEN(parse_cases));
	tcase_add_loop_test(tc, test_parse_truncated, 0,
	                    UTIL_ARRAY_LEN(parse_cases));
	tcase_add_test(tc, test_parse_mutated);
	tcase_add_test(tc, test_parse_loop);
	tcase_add_test(tc, test_msg_ttls);
	suite_add_tcase(s, tc);
	tc = tcase_create("order");
	tcase_add_test(tc, test_order_priority);
	tcase_add_test(tc, test_order_weights);
	tcase_add_test(tc, test_order_zero_weights);
	tcase_add_test(tc, test_order_captured);
	tcase_add_loop_test(tc, test_plan, 0, UTIL_ARRAY_LEN(plan_cases));
	tcase_add_test(tc, test_plan_merge_order);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dns_srv_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
