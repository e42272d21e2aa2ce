/*
 * lbt_http.c - see lbt_http.h.
 */
#include "lbt_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

void lbt_http_free(struct lbt_http_resp *r)
{
    free(r->body);
    r->body = NULL;
}

static int lbt_http_parse(char *buf, size_t n, struct lbt_http_resp *r)
{
    char *end = strstr(buf, "\r\n\r\n");
    if (end == NULL || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    *end = '\0';
    for (char *h = strstr(buf, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "Content-Type:", 13) == 0) {
            const char *v = h + 15;
            while (*v == ' ')
                v++;
            size_t k = strcspn(v, "\r");
            snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)k, v);
        }
    }
    size_t off = (size_t)(end + 4 - buf);
    r->len = n - off;
    r->body = malloc(r->len + 1);
    if (r->body == NULL)
        return -1;
    memcpy(r->body, buf + off, r->len);
    r->body[r->len] = '\0';
    return 0;
}

int lbt_http_req(int port, const char *method, const char *path, struct lbt_http_resp *r)
{
    memset(r, 0, sizeof(*r));
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[512];
    int rn = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        send(fd, req, (size_t)rn, MSG_NOSIGNAL) != rn) {
        close(fd);
        return -1;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    int rc = -1;
    while (buf != NULL) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            break;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap * 2);
            if (b == NULL)
                break;
            buf = b;
            cap *= 2;
        }
        ssize_t k = recv(fd, buf + n, cap - n - 1, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            break;
        if (k == 0) {
            buf[n] = '\0';
            rc = lbt_http_parse(buf, n, r);
            break;
        }
        n += (size_t)k;
    }
    free(buf);
    close(fd);
    return rc;
}

int lbt_http_get(int port, const char *path, struct lbt_http_resp *r)
{
    return lbt_http_req(port, "GET", path, r);
}
