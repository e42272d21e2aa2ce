/*
 * http.c - the --http server (http.h): logbridge binds the listening socket
 * itself (so that "address in use" is an exit-2 error naming the address,
 * before any job starts) and hands it to libmicrohttpd, which accepts and
 * answers on its own thread. Only GET and HEAD of /metrics and /health;
 * everything else is 404 or 405.
 */
#include "http.h"

#include "health.h"
#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LB_HTTP_CONNECTIONS 32 /* a scraper or two, a probe: more is a mistake */
#define LB_HTTP_TIMEOUT_SEC 10 /* an idle or slow client is dropped */

struct lb_http {
    struct MHD_Daemon *d;
    struct lb_metrics *m;
    struct lb_health *h;
};

int lb_http_addr_parse(const char *s, char *host, size_t hcap, char *port, size_t pcap, char *why,
                       size_t wcap)
{
    const char *colon, *h0 = s, *h1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return snprintf(why, wcap, "expected [IPV6]:PORT, got '%s'", s), -1;
        h0 = s + 1;
        h1 = close;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return snprintf(why, wcap,
                            "expected ADDR:PORT (e.g. 127.0.0.1:9187, [::1]:9187 or :9187 for "
                            "every interface), got '%s'",
                            s),
                   -1;
        h1 = colon;
    }
    const char *p = colon + 1;
    size_t pn = strlen(p);
    long v = 0;
    for (size_t i = 0; i < pn && v <= 65535; i++)
        v = p[i] >= '0' && p[i] <= '9' ? v * 10 + (p[i] - '0') : 65536;
    if (pn == 0 || pn > 5 || v < 1 || v > 65535)
        return snprintf(why, wcap, "expected a port from 1 to 65535 after the last ':', got '%s'",
                        s),
               -1;
    size_t hn = (size_t)(h1 - h0);
    if (hn + 1 > hcap || pn + 1 > pcap)
        return snprintf(why, wcap, "'%s' is too long", s), -1;
    memcpy(host, h0, hn);
    host[hn] = '\0';
    memcpy(port, p, pn + 1);
    return 0;
}

/* ---- answers ------------------------------------------------------------------------ */

static enum MHD_Result lb_http_reply(struct MHD_Connection *c, unsigned status, const char *type,
                                     char *body, size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result lb_http_text(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result lb_http_text(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MHD_NO;
    return lb_http_reply(c, status, "text/plain; charset=utf-8", s, (size_t)n);
}

static enum MHD_Result lb_http_answer(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_size, void **req)
{
    (void)version, (void)upload_data, (void)req;
    struct lb_http *s = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return lb_http_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (*upload_size != 0)
        return lb_http_text(c, MHD_HTTP_BAD_REQUEST, "a GET has no body\n");
    if (strcmp(url, "/metrics") == 0 && s->m != NULL) {
        size_t n;
        char *text = lb_metrics_render(s->m, &n);
        if (text == NULL)
            return lb_http_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return lb_http_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, n);
    }
    if (strcmp(url, "/health") == 0 && s->h != NULL) {
        char *body;
        int status = lb_health_report(s->h, &body);
        if (body == NULL)
            return lb_http_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        size_t n = strlen(body);
        return lb_http_reply(c, (unsigned)status, "application/json", body, n);
    }
    return lb_http_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /health\n");
}

static void lb_http_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (!lb_log_enabled(LB_LOG_DEBUG))
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    lb_debug("http: %s", msg);
}

/* ---- the socket and the server -------------------------------------------------------- */

/* A listening socket on host:port (host "": every interface). -1 with err. */
static int lb_http_listen(const char *addr, const char *host, const char *port,
                          struct lb_error *err)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
    if (g != 0)
        return lb_error_set(err, LB_EUSAGE, "%s: %s", addr,
                            g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g)),
               -1;
    int fd = -1, e = 0;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        /* a restart must not wait for the old connections' TIME_WAIT; two
         * listeners on one port are still refused (no SO_REUSEPORT) */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 16) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        lb_error_set(err, LB_EUSAGE, "%s: cannot listen: %s", addr, strerror(e));
    return fd;
}

struct lb_http *lb_http_start(const char *addr, struct lb_metrics *m, struct lb_health *h,
                              struct lb_error *err)
{
    char host[256], port[8], why[200];
    if (lb_http_addr_parse(addr, host, sizeof(host), port, sizeof(port), why, sizeof(why)) != 0) {
        lb_error_set(err, LB_EUSAGE, "%s", why);
        return NULL;
    }
    struct lb_http *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    s->m = m;
    s->h = h;
    int fd = lb_http_listen(addr, host, port, err);
    if (fd < 0) {
        free(s);
        return NULL;
    }
    /* MHD closes fd when the daemon stops (or fails to start) */
    s->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            lb_http_answer, s, MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)LB_HTTP_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)LB_HTTP_TIMEOUT_SEC,
                            MHD_OPTION_EXTERNAL_LOGGER, lb_http_log, NULL, MHD_OPTION_END);
    if (s->d == NULL) {
        lb_error_set(err, LB_EIO, "%s: the HTTP server (libmicrohttpd) did not start", addr);
        free(s);
        return NULL;
    }
    return s;
}

void lb_http_stop(struct lb_http *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->d);
    free(s);
}
