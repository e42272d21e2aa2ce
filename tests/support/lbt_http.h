/*
 * lbt_http.h - a tiny HTTP/1.0 client over a plain socket, for the tests of
 * --http (curl may not be installed, and a test should not depend on it).
 */
#ifndef LBT_HTTP_H
#define LBT_HTTP_H

#include <stddef.h>

struct lbt_http_resp {
    int status;      /* e.g. 200 */
    char ctype[128]; /* Content-Type, "" when absent */
    char *body;      /* malloc'ed, NUL-terminated */
    size_t len;
};

/* Send "METHOD PATH HTTP/1.0" to 127.0.0.1:port and read the whole answer
 * (the server closes). Returns 0 with r filled (free with lbt_http_free), or
 * -1 (cannot connect, timeout of 5 s, not HTTP). */
int lbt_http_req(int port, const char *method, const char *path, struct lbt_http_resp *r);
int lbt_http_get(int port, const char *path, struct lbt_http_resp *r);
void lbt_http_free(struct lbt_http_resp *r);

#endif
