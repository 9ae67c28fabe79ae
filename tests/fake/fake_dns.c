/* fake_dns.c - the expectation-driven resolver; see fake_dns.h. */
#include "tests/fake/fake_dns.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm/err.h"
#include "cm/util.h"

struct fake_expect {
	char *domain;
	int status;
	struct dns_cand_list *answer;
	bool used;
};

struct dns_lookup {
	struct dns_lookup *next;
	int status;
	struct dns_cand_list *answer;
	dns_resolve_cb *cb;
	void *arg;
};

struct dns_resolver {
	uv_timer_t defer;
	struct dns_lookup *queue, *tail;
	bool closing;
	dns_resolver_close_cb *close_cb;
	void *close_arg;
};

static struct fake_expect *fake_exp;
static size_t fake_nexp, fake_served;
static bool fake_lax;
static struct util_buf fake_unexpected;

void
fake_dns_expect(const char *domain, int status, struct dns_cand_list *answer)
{
	struct fake_expect *e;

	fake_exp = xreallocarray(fake_exp, fake_nexp + 1, sizeof(*fake_exp));
	e = &fake_exp[fake_nexp++];
	e->domain = xstrdup(domain);
	e->status = status;
	e->answer = answer;
	e->used = false;
}

/* One "host:port[/tls][/fallback]=ip,ip" item. */
static void
fake_dns_item(struct dns_cand_list *l, char *item)
{
	char *eq = strchr(item, '='), *colon, *flags, *ip, *save = NULL;
	size_t c;
	long port;

	ck_assert_msg(eq != NULL, "fake_dns: no '=' in \"%s\"", item);
	*eq = '\0';
	flags = strchr(item, '/');
	if (flags != NULL)
		*flags++ = '\0';
	colon = strrchr(item, ':');
	ck_assert_msg(colon != NULL, "fake_dns: no port in \"%s\"", item);
	*colon = '\0';
	port = strtol(colon + 1, NULL, 10);
	ck_assert_msg(port > 0 && port < 65536, "fake_dns: bad port");
	c = dns_cand_add(l, item, (uint16_t)port,
	                 flags != NULL && strstr(flags, "tls") != NULL,
	                 flags == NULL || strstr(flags, "fallback") == NULL, 0,
	                 0, 0);
	for (ip = strtok_r(eq + 1, ",", &save); ip != NULL;
	     ip = strtok_r(NULL, ",", &save))
		ck_assert_msg(dns_cand_add_addr_str(l, c, ip) == 0,
		              "fake_dns: bad address \"%s\"", ip);
	if (dns_cand_get(l, c)->naddrs == 0)
		dns_cand_set_err(l, c, S2SD_EDNS_NXDOMAIN);
}

void
fake_dns_expect_text(const char *domain, const char *spec)
{
	struct dns_cand_list *l = dns_cand_new(domain);
	char *copy = xstrdup(spec), *item, *save = NULL;

	for (item = strtok_r(copy, " ", &save); item != NULL;
	     item = strtok_r(NULL, " ", &save))
		fake_dns_item(l, item);
	free(copy);
	fake_dns_expect(domain, 0, l);
}

void
fake_dns_strict(bool strict)
{
	fake_lax = !strict;
}

size_t
fake_dns_problems(char *why, size_t whylen)
{
	struct util_buf b = {0};
	size_t i, n = 0;
	char *s;

	util_buf_puts(&b, fake_unexpected.data != NULL ? fake_unexpected.data
	                                               : "");
	for (i = 0; fake_unexpected.data != NULL && fake_unexpected.data[i];
	     i++)
		n += fake_unexpected.data[i] == '\n';
	for (i = 0; i < fake_nexp; i++)
		if (!fake_exp[i].used) {
			util_buf_printf(&b, "expected lookup of %s not made\n",
			                fake_exp[i].domain);
			n++;
		}
	s = util_buf_steal(&b, NULL);
	snprintf(why, whylen, "%s", s);
	free(s);
	return n;
}

size_t
fake_dns_lookups(void)
{
	return fake_served;
}

void
fake_dns_verify(void)
{
	char why[1024];
	size_t i, n = fake_dns_problems(why, sizeof(why));

	for (i = 0; i < fake_nexp; i++) {
		free(fake_exp[i].domain);
		dns_cand_free(fake_exp[i].answer);
	}
	free(fake_exp);
	fake_exp = NULL;
	fake_nexp = fake_served = 0;
	util_buf_free(&fake_unexpected);
	ck_assert_msg(n == 0, "fake_dns: %s", why);
}

/* --- dns.h ---------------------------------------------------------------- */

int
dns_resolver_new(uv_loop_t *loop, const struct dns_resolver_opts *opts,
                 struct dns_resolver **out, char *why, size_t whylen)
{
	struct dns_resolver *res = xcalloc(1, sizeof(*res));

	(void)opts;
	(void)why;
	(void)whylen;
	uv_timer_init(loop, &res->defer);
	res->defer.data = res;
	*out = res;
	return 0;
}

static void
fake_dns_deliver(struct dns_resolver *res)
{
	struct dns_lookup *lk;

	while ((lk = res->queue) != NULL) {
		res->queue = lk->next;
		if (res->queue == NULL)
			res->tail = NULL;
		lk->cb(lk->status, lk->answer, lk->arg);
		free(lk);
	}
}

static void
fake_dns_defer_cb(uv_timer_t *t)
{
	fake_dns_deliver(t->data);
}

static struct fake_expect *
fake_dns_find(const char *domain)
{
	size_t i;

	for (i = 0; i < fake_nexp; i++)
		if (!fake_exp[i].used &&
		    strcasecmp(fake_exp[i].domain, domain) == 0)
			return &fake_exp[i];
	return NULL;
}

int
dns_resolve(struct dns_resolver *res, const char *domain, uint64_t connid,
            dns_resolve_cb *cb, void *arg, struct dns_lookup **out)
{
	struct fake_expect *e;
	struct dns_lookup *lk;

	(void)connid;
	if (res->closing)
		return S2SD_ESHUTDOWN;
	if (domain[0] == '\0')
		return -EINVAL;
	e = fake_dns_find(domain);
	/* Strict: fail before anything is allocated for this lookup. */
	ck_assert_msg(e != NULL || fake_lax,
	              "fake_dns: unexpected lookup of %s", domain);
	lk = xcalloc(1, sizeof(*lk));
	lk->cb = cb;
	lk->arg = arg;
	if (e != NULL) {
		e->used = true;
		fake_served++;
		lk->status = e->status;
		lk->answer = e->answer != NULL ? dns_cand_copy(e->answer) : NULL;
	} else {
		util_buf_printf(&fake_unexpected, "unexpected lookup of %s\n",
		                domain);
		lk->status = S2SD_EDNS_NXDOMAIN;
	}
	if (res->tail != NULL)
		res->tail->next = lk;
	else
		res->queue = lk;
	res->tail = lk;
	uv_timer_start(&res->defer, fake_dns_defer_cb, 0, 0);
	if (out != NULL)
		*out = lk;
	return 0;
}

void
dns_lookup_cancel(struct dns_lookup *lk)
{
	dns_cand_free(lk->answer);
	lk->answer = NULL;
	lk->status = UV_ECANCELED;
}

static void
fake_dns_closed(uv_handle_t *h)
{
	struct dns_resolver *res = h->data;
	dns_resolver_close_cb *cb = res->close_cb;
	void *arg = res->close_arg;

	fake_dns_deliver(res);
	free(res);
	if (cb != NULL)
		cb(arg);
}

void
dns_resolver_close(struct dns_resolver *res, dns_resolver_close_cb *cb,
                   void *arg)
{
	struct dns_lookup *lk;

	res->closing = true;
	res->close_cb = cb;
	res->close_arg = arg;
	for (lk = res->queue; lk != NULL; lk = lk->next)
		dns_lookup_cancel(lk);
	uv_close((uv_handle_t *)&res->defer, fake_dns_closed);
}
