/*
 * conn.h - logbridge's own transport: one socket (TCP or unix), optionally
 * TLS through OpenSSL, under hiredis's command builder and reply parser
 * (Debian's hiredis 0.14 has no TLS and no I/O hooks, DESIGN.md section 7).
 *
 * The socket is non-blocking and every wait is a poll() with a deadline, so
 * the connect, read and write timeouts hold the same way over TLS as over a
 * plain socket. Errors name the address given at open and say whether they
 * are worth retrying: LB_EREDIS (the server went away, timed out, refused
 * the connection) or LB_EAUTH (the certificates were refused, either way:
 * never retried, exit 3).
 */
#ifndef LB_CONN_H
#define LB_CONN_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* The TLS options (DESIGN.md section 7). Strings are borrowed. */
struct lb_tls_cfg {
    int on; /* rediss:// */
    const char *ca_file, *ca_dir;
    const char *cert_file, *key_file;
    const char *server_name; /* SNI and the name verified; NULL: the host */
    int insecure;            /* no verification at all */
};

/* An OpenSSL client context built from the options: CA store, client
 * certificate, TLS 1.2 at least. LB_EUSAGE naming the option and path when
 * a file cannot be used, LB_ENOMEM. */
struct lb_tls;
int lb_tls_create(const struct lb_tls_cfg *cfg, struct lb_tls **out, struct lb_error *err);
void lb_tls_destroy(struct lb_tls *t);

struct lb_conn {
    int fd;    /* -1 when closed */
    void *ssl; /* SSL *, NULL for a plain socket */
    char addr[300];
};

/* Connect to host:port (a name or an address) or, when path is not NULL, to
 * the unix socket path, within timeout_ms. addr names it in messages. */
int lb_conn_open(struct lb_conn *c, const char *host, int port, const char *path,
                 const char *addr, int timeout_ms, struct lb_error *err);

/* The TLS handshake on an open connection, verifying the server's
 * certificate for name (a host name or an IP address) unless the context is
 * insecure. A refusal says why: "unknown CA", "name mismatch", "expired",
 * "client certificate required". */
int lb_conn_tls(struct lb_conn *c, struct lb_tls *t, const char *name, int timeout_ms,
                struct lb_error *err);

/* Read what is there, up to n bytes: > 0 bytes read; 0 when nothing came
 * (timeout_ms == 0: nothing without waiting); < 0 an error code (a
 * timeout_ms > 0 that passes is LB_EREDIS). timeout_ms < 0 waits forever. */
ssize_t lb_conn_read(struct lb_conn *c, void *buf, size_t n, int timeout_ms,
                     struct lb_error *err);

/* Write all n bytes within timeout_ms (< 0: forever). 0 or an error code. */
int lb_conn_write(struct lb_conn *c, const void *buf, size_t n, int timeout_ms,
                  struct lb_error *err);

/* Close (safe on a closed or zeroed-then-fd=-1 connection). */
void lb_conn_close(struct lb_conn *c);

#endif
