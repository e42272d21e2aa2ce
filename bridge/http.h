/*
 * http.h - --http ADDR:PORT: /metrics (the Prometheus text of the metrics
 * registry, the same as the --metrics-file) and /health (health.h), served
 * by libmicrohttpd from its own thread. The registry and the health table
 * lock themselves, so the handler reads them while the jobs write.
 */
#ifndef LB_HTTP_H
#define LB_HTTP_H

#include <stddef.h>

#include "error.h"

struct lb_metrics;
struct lb_health;
struct lb_http;

/* Split "ADDR:PORT" ("127.0.0.1:9187", "[::1]:9187", "localhost:9187",
 * ":9187" for every interface) into host (empty: every interface) and port
 * (1-65535). Returns 0, or -1 with why (what a good value is). */
int lb_http_addr_parse(const char *s, char *host, size_t hcap, char *port, size_t pcap, char *why,
                       size_t wcap);

/* Bind addr and serve m and h (either may be NULL: 404 then) until
 * lb_http_stop. Call it after lb_signals_start (the server's thread must
 * inherit the blocked signals). Returns NULL with err: LB_EUSAGE when addr
 * is bad, cannot be resolved or bound (in use, not ours); LB_EIO or
 * LB_ENOMEM otherwise. The message names addr, not the option. */
struct lb_http *lb_http_start(const char *addr, struct lb_metrics *m, struct lb_health *h,
                              struct lb_error *err);
/* Stop the thread and close the socket. NULL: nothing. */
void lb_http_stop(struct lb_http *s);

#endif
