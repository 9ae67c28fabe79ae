/* dns_report.h - `s2sctl dns DOMAIN`: how s2sd finds a remote domain, as
 * an admin reads it (the XMPP counterpart of the nslookup checks).
 *
 * Runs its own libuv loop (blocking the caller, never a daemon loop):
 * resolves DOMAIN exactly as s2sd does and prints to OUT the SRV records
 * of both services (priority, weight, port, TTL), the order s2sd would try
 * the candidates in, the addresses of each target and, when asked, whether
 * a TCP connection to each address succeeds. */
#ifndef S2SD_DNS_REPORT_H
#define S2SD_DNS_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#define DNS_REPORT_OK 0           /* reachable */
#define DNS_REPORT_UNREACHABLE 1  /* DNS failed, "." or no address (with
                                   * TRY_CONNECT: no connection) */
#define DNS_REPORT_USAGE 2        /* bad domain or server list */

/* SERVERS as dns_resolver_opts.servers (NULL: /etc/resolv.conf). Returns
 * one of the DNS_REPORT_* exit statuses above. */
int dns_report_run(const char *domain, const char *servers, bool try_connect,
                   FILE *out);

#endif
