/* dns.c - the asynchronous resolver: c-ares on libuv and the answer cache;
 * see dns.h.
 *
 * c-ares tells us which sockets it wants watched (sock_state_cb): each gets
 * a uv_poll_t, closed as soon as c-ares lets go of the socket (before c-ares
 * closes the fd, so a reused fd number is safe). One uv_timer_t follows
 * ares_timeout(). Answers go through the cache on their way in; a cache hit
 * answers at once. The lookups themselves are in dns_lookup.c. */
#include "dns/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm/err.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/util.h"
#include "dns/dns_cache.h"
#include "dns/dns_int.h"
#include "dns/dns_msg.h"

#define DNS_DEFAULT_NEG_TTL 60
#define DNS_DEFAULT_MAX_TTL 86400
#define DNS_CLASS_IN 1

static uint32_t
dns_csprng(void *arg)
{
	uint32_t v;

	(void)arg;
	util_random(&v, sizeof(v));
	return v;
}

static int
dns_ares_status(int astatus)
{
	switch (astatus) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENOTFOUND:
		return S2SD_EDNS_NXDOMAIN;
	case ARES_ENODATA:
		return S2SD_EDNS_NODATA;
	case ARES_ETIMEOUT:
		return S2SD_EDNS_TIMEOUT;
	case ARES_EBADRESP:
		return S2SD_EDNS_BADRESP;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return S2SD_EDNS_CANCELLED;
	case ARES_ENOMEM:
		fatalx("%s: c-ares is out of memory", __func__);
	default:  /* SERVFAIL, REFUSED, NOTIMP, FORMERR, ICMP refused, ... */
		return S2SD_EDNS_TEMP;
	}
}

/* --- c-ares on libuv ---------------------------------------------------- */

static void
dns_timer_cb(uv_timer_t *t);

/* Follow c-ares' next deadline (none: no query outstanding). */
static void
dns_arm_timer(struct dns_resolver *res)
{
	struct timeval tv, *tvp;
	uint64_t ms;

	if (res->closing)
		return;
	if ((tvp = ares_timeout(res->ch, NULL, &tv)) == NULL) {
		uv_timer_stop(&res->timer);
		return;
	}
	ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
	uv_timer_start(&res->timer, dns_timer_cb, ms, 0);
}

static void
dns_timer_cb(uv_timer_t *t)
{
	struct dns_resolver *res = t->data;

	ares_process_fd(res->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_arm_timer(res);
}

static void
dns_poll_cb(uv_poll_t *p, int status, int events)
{
	struct dns_sock *s = p->data;
	struct dns_resolver *res = s->res;
	ares_socket_t fd = s->fd;
	bool rd = status < 0 || (events & UV_READABLE);
	bool wr = status < 0 || (events & UV_WRITABLE);

	/* On a poll error let c-ares read and write: it sees the error
	 * itself and fails over to the next server. S may be closed in
	 * there (sock_state_cb), so only the copies are used. */
	ares_process_fd(res->ch, rd ? fd : ARES_SOCKET_BAD,
	                wr ? fd : ARES_SOCKET_BAD);
	dns_arm_timer(res);
}

static void
dns_handle_gone(struct dns_resolver *res);

static void
dns_sock_closed(uv_handle_t *h)
{
	struct dns_sock *s = h->data;
	struct dns_resolver *res = s->res;

	free(s);
	dns_handle_gone(res);
}

static void
dns_sock_close(struct dns_resolver *res, struct dns_sock *s)
{
	struct dns_sock **pp = &res->socks;

	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, dns_sock_closed);
}

static struct dns_sock *
dns_sock_open(struct dns_resolver *res, ares_socket_t fd)
{
	struct dns_sock *s = xcalloc(1, sizeof(*s));
	int rc;

	if ((rc = uv_poll_init_socket(res->loop, &s->poll, fd)) < 0) {
		/* The query will time out through the c-ares timer. */
		log_error(LOG_SUB_DNS, 0, "poll fd=%d error=%s", (int)fd,
		          err_name(rc));
		free(s);
		return NULL;
	}
	s->res = res;
	s->fd = fd;
	s->poll.data = s;
	s->next = res->socks;
	res->socks = s;
	res->handles++;
	return s;
}

static void
dns_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *res = data;
	struct dns_sock *s;

	for (s = res->socks; s != NULL && s->fd != fd; s = s->next)
		;
	if (!readable && !writable) {
		if (s != NULL)
			dns_sock_close(res, s);
		return;
	}
	if (s == NULL && (s = dns_sock_open(res, fd)) == NULL)
		return;
	uv_poll_start(&s->poll,
	              (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
	              dns_poll_cb);
}

/* --- queries through the cache ------------------------------------------ */

static void
dns_cache_store(struct dns_resolver *res, const char *name, uint16_t type,
                int st, const uint8_t *ans, size_t len)
{
	uint32_t ttl;

	if (res->cache == NULL)
		return;
	if (st == 0) {
		if (!dns_msg_answer_ttl(ans, len, &ttl))
			return;
	} else if (!dns_msg_negative_ttl(ans, len, &ttl))
		ttl = res->neg_ttl_s;  /* no SOA to say how long: RFC 2308 5 */
	if (ttl > res->max_ttl_s)
		ttl = res->max_ttl_s;
	dns_cache_put(res->cache, name, type, st, ans, len, (uint64_t)ttl * 1000,
	              uv_now(res->loop));
}


static const char *
dns_type_name(uint16_t type)
{
	return type == DNS_MSG_T_SRV ? "SRV" : type == DNS_MSG_T_AAAA ? "AAAA"
	       : type == DNS_MSG_T_A ? "A" : "other";
}

/* An answered (not cancelled) query: its latency, and why it failed. */
static void
dns_count_answer(const struct dns_query *q, int astatus)
{
	const char *reason;

	metrics_observe(METRICS_DNS_LATENCY, dns_type_name(q->type),
	                (double)(uv_hrtime() - q->sent_ns) / 1e9);
	switch (astatus) {
	case ARES_SUCCESS:
		return;
	case ARES_ENOTFOUND:
		reason = "nxdomain";
		break;
	case ARES_ENODATA:
		reason = "nodata";
		break;
	case ARES_ESERVFAIL:
		reason = "servfail";
		break;
	case ARES_ETIMEOUT:
		reason = "timeout";
		break;
	case ARES_EREFUSED:
		reason = "refused";
		break;
	default:
		reason = "other";
		break;
	}
	metrics_inc(METRICS_DNS_FAILURES, reason);
}

static void
dns_ares_cb(void *arg, int astatus, int timeouts, unsigned char *abuf,
            int alen)
{
	struct dns_query *q = arg;
	struct dns_lookup *lk = q->lk;
	int st = dns_ares_status(astatus);
	size_t len = abuf != NULL && alen > 0 ? (size_t)alen : 0;

	(void)timeouts;
	if (astatus != ARES_ECANCELLED && astatus != ARES_EDESTRUCTION)
		dns_count_answer(q, astatus);
	if (!lk->res->closing && len > 0 &&
	    (st == 0 || st == S2SD_EDNS_NXDOMAIN || st == S2SD_EDNS_NODATA))
		dns_cache_store(lk->res, q->name, q->type, st, abuf, len);
	if (lk->stage != DNS_STAGE_DONE)
		dns__lookup_answer(lk, q->type, q->which, st, abuf, len);
	free(q->name);
	free(q);
	dns__lookup_unref(lk);
}

/* Ask for NAME/TYPE: from the cache (answered before this returns) or from
 * c-ares (answered later, or at once when it fails early). */
void
dns__query(struct dns_lookup *lk, const char *name, uint16_t type,
          size_t which)
{
	struct dns_resolver *res = lk->res;
	struct dns_cache_hit hit;
	struct dns_query *q;
	uint8_t *copy;

	lk->pending++;
	if (res->cache != NULL &&
	    dns_cache_get(res->cache, name, type, uv_now(res->loop), &hit)) {
		copy = hit.len > 0 ? xmemdup(hit.ans, hit.len) : NULL;
		dns_msg_age(copy, hit.len, (uint32_t)(hit.age_ms / 1000));
		log_trace(LOG_SUB_DNS, lk->connid, "cache hit name=%s type=%u",
		          name, type);
		dns__lookup_answer(lk, type, which, hit.status, copy, hit.len);
		free(copy);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->lk = lk;
	q->type = type;
	q->which = which;
	q->name = xstrdup(name);
	q->sent_ns = uv_hrtime();
	lk->refs++;
	metrics_inc(METRICS_DNS_LOOKUPS, dns_type_name(type));
	ares_query(res->ch, name, DNS_CLASS_IN, type, dns_ares_cb, q);
	dns_arm_timer(res);
}

/* --- the resolver -------------------------------------------------------- */

/* "127.0.0.1:5353 [::1]" -> "127.0.0.1:5353,[::1]:53" for c-ares, which
 * wants IP addresses (a name server given by name would need DNS). */
static int
dns_servers_csv(const char *servers, char **csv, char *why, size_t whylen)
{
	struct util_buf b = {0};
	char *copy = xstrdup(servers), *tok, *save = NULL;
	char host[INET6_ADDRSTRLEN + 1];
	uint8_t bin[16];
	int port, n = 0;

	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t,", &save), n++) {
		if (util_parse_hostport(tok, 53, host, sizeof(host), &port) < 0 ||
		    (inet_pton(AF_INET, host, bin) != 1 &&
		     inet_pton(AF_INET6, host, bin) != 1)) {
			snprintf(why, whylen,
			         "DNS server \"%s\" is not ip[:port] or [ipv6][:port]",
			         tok);
			free(copy);
			util_buf_free(&b);
			return -EINVAL;
		}
		util_buf_printf(&b, strchr(host, ':') ? "%s[%s]:%d" : "%s%s:%d",
		                n ? "," : "", host, port);
	}
	free(copy);
	if (n == 0) {
		snprintf(why, whylen, "empty DNS server list");
		return -EINVAL;
	}
	*csv = util_buf_steal(&b, NULL);
	return 0;
}

static int
dns_channel_init(struct dns_resolver *res, const struct dns_resolver_opts *o,
                 const char *csv, char *why, size_t whylen)
{
	struct ares_options ao;
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS, rc;

	memset(&ao, 0, sizeof(ao));
	ao.sock_state_cb = dns_sock_state_cb;
	ao.sock_state_cb_data = res;
	ao.flags = ARES_FLAG_NOSEARCH;  /* remote domains are absolute */
	if (o->timeout_ms > 0) {
		ao.timeout = (int)o->timeout_ms;
		mask |= ARES_OPT_TIMEOUTMS;
	}
	if (o->tries > 0) {
		ao.tries = (int)o->tries;
		mask |= ARES_OPT_TRIES;
	}
	if ((rc = ares_init_options(&res->ch, &ao, mask)) != ARES_SUCCESS) {
		snprintf(why, whylen, "c-ares: %s", ares_strerror(rc));
		return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
	}
	res->ch_ok = true;
	if (csv != NULL &&
	    (rc = ares_set_servers_ports_csv(res->ch, csv)) != ARES_SUCCESS) {
		snprintf(why, whylen, "c-ares servers %s: %s", csv,
		         ares_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

int
dns_resolver_new(uv_loop_t *loop, const struct dns_resolver_opts *opts,
                 struct dns_resolver **out, char *why, size_t whylen)
{
	struct dns_resolver *res;
	char *csv = NULL;
	int rc;

	*out = NULL;
	if (opts->servers != NULL && opts->servers[0] != '\0' &&
	    (rc = dns_servers_csv(opts->servers, &csv, why, whylen)) < 0)
		return rc;
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(why, whylen, "c-ares: %s", ares_strerror(rc));
		free(csv);
		return -EIO;
	}
	res = xcalloc(1, sizeof(*res));
	res->loop = loop;
	if ((rc = dns_channel_init(res, opts, csv, why, whylen)) < 0) {
		if (res->ch_ok)
			ares_destroy(res->ch);
		ares_library_cleanup();
		free(res);
		free(csv);
		return rc;
	}
	log_debug(LOG_SUB_DNS, 0, "resolver servers=%s",
	          csv != NULL ? csv : "system");
	free(csv);
	res->neg_ttl_s = opts->neg_ttl_s ? opts->neg_ttl_s : DNS_DEFAULT_NEG_TTL;
	res->max_ttl_s = opts->max_ttl_s ? opts->max_ttl_s : DNS_DEFAULT_MAX_TTL;
	res->rnd = opts->rnd != NULL ? opts->rnd : dns_csprng;
	res->rnd_arg = opts->rnd_arg;
	res->cache = opts->cache_size > 0 ? dns_cache_new(opts->cache_size)
	                                  : NULL;
	uv_timer_init(loop, &res->timer);
	uv_timer_init(loop, &res->defer);
	res->timer.data = res->defer.data = res;
	res->handles = 2;
	*out = res;
	return 0;
}

/* The last handle is closed: deliver what is left, then free. */
static void
dns_handle_gone(struct dns_resolver *res)
{
	dns_resolver_close_cb *cb = res->close_cb;
	void *arg = res->close_arg;

	if (--res->handles > 0)
		return;
	dns__deliver(res);
	dns_cache_free(res->cache);
	ares_library_cleanup();
	free(res);
	if (cb != NULL)
		cb(arg);
}

static void
dns_handle_closed(uv_handle_t *h)
{
	dns_handle_gone(h->data);
}

void
dns_resolver_close(struct dns_resolver *res, dns_resolver_close_cb *cb,
                   void *arg)
{
	if (res->closing)
		fatalx("%s: closed twice", __func__);
	res->closing = true;
	res->close_cb = cb;
	res->close_arg = arg;
	while (res->active != NULL)
		dns__lookup_finish(res->active, UV_ECANCELED, NULL);
	/* Outstanding queries call back with ARES_EDESTRUCTION (their
	 * lookups are done, so nothing new starts) and c-ares releases its
	 * sockets, which closes their poll handles. */
	ares_destroy(res->ch);
	while (res->socks != NULL)
		dns_sock_close(res, res->socks);
	uv_close((uv_handle_t *)&res->timer, dns_handle_closed);
	uv_close((uv_handle_t *)&res->defer, dns_handle_closed);
}
