/*
 * conn.c - the socket under every Redis command: TCP or unix, plain or TLS,
 * non-blocking with poll() deadlines (see conn.h).
 *
 * With TLS a read may need the socket writable and a write readable (a
 * renegotiation, a session ticket): SSL_get_error says which, and the wait
 * polls for that. OpenSSL's error queue is per thread and sticky, so it is
 * cleared before every call whose failure is then read from it.
 */
#include "conn.h"

#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct lb_tls {
    SSL_CTX *ctx;
    int insecure;
    int has_cert;
};

/* ---- TLS context ------------------------------------------------------------ */

/* The first OpenSSL error in the queue as text (the queue is emptied). */
static const char *lb_ssl_errstr(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, cap, "unknown error");
    else
        ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

int lb_tls_create(const struct lb_tls_cfg *cfg, struct lb_tls **out, struct lb_error *err)
{
    char why[256];
    *out = NULL;
    struct lb_tls *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        free(t);
        return lb_error_set(err, LB_ENOMEM, "TLS: cannot make a context: %s",
                            lb_ssl_errstr(why, sizeof(why)));
    }
    t->insecure = cfg->insecure;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int rc = 0;
    if (cfg->insecure) {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
        if (cfg->ca_file != NULL || cfg->ca_dir != NULL) {
            if (SSL_CTX_load_verify_locations(t->ctx, cfg->ca_file, cfg->ca_dir) != 1)
                rc = lb_error_set(err, LB_EUSAGE, "%s %s: cannot load CA certificates: %s",
                                  cfg->ca_file ? "--tls-ca-file" : "--tls-ca-dir",
                                  cfg->ca_file ? cfg->ca_file : cfg->ca_dir,
                                  lb_ssl_errstr(why, sizeof(why)));
        } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
            rc = lb_error_set(err, LB_EUSAGE, "TLS: cannot load the system CA store: %s",
                              lb_ssl_errstr(why, sizeof(why)));
        }
    }
    if (rc == 0 && (cfg->cert_file != NULL) != (cfg->key_file != NULL))
        rc = lb_error_set(err, LB_EUSAGE, "%s: is required with %s",
                          cfg->cert_file ? "--tls-key-file" : "--tls-cert-file",
                          cfg->cert_file ? "--tls-cert-file" : "--tls-key-file");
    if (rc == 0 && cfg->cert_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, cfg->cert_file) != 1)
            rc = lb_error_set(err, LB_EUSAGE, "--tls-cert-file %s: %s", cfg->cert_file,
                              lb_ssl_errstr(why, sizeof(why)));
        else if (SSL_CTX_use_PrivateKey_file(t->ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1)
            rc = lb_error_set(err, LB_EUSAGE, "--tls-key-file %s: %s", cfg->key_file,
                              lb_ssl_errstr(why, sizeof(why)));
        else if (SSL_CTX_check_private_key(t->ctx) != 1)
            rc = lb_error_set(err, LB_EUSAGE,
                              "--tls-key-file %s: not the key of the certificate in %s",
                              cfg->key_file, cfg->cert_file);
        t->has_cert = 1;
    }
    if (rc != 0) {
        lb_tls_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

void lb_tls_destroy(struct lb_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

/* ---- waiting ------------------------------------------------------------------ */

/* Wait until fd is ready for events, at most until deadline (a monotonic
 * time; < 0 forever). 1 ready, 0 the deadline passed, -1 poll failed. */
static int lb_conn_wait(int fd, short events, double deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            double left = deadline - lb_clock_mono();
            ms = left <= 0 ? 0 : (int)(left * 1000.0) + 1;
        }
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static double lb_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1.0 : lb_clock_mono() + timeout_ms / 1000.0;
}

/* ---- connect ------------------------------------------------------------------ */

static int lb_conn_try(struct lb_conn *c, const struct sockaddr *sa, socklen_t len,
                       double deadline)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int e = 0;
    if (connect(fd, sa, len) != 0) {
        e = errno;
        if (e == EINPROGRESS) {
            int w = lb_conn_wait(fd, POLLOUT, deadline);
            socklen_t el = sizeof(e);
            if (w == 0)
                e = ETIMEDOUT;
            else if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
                e = errno;
        }
    }
    if (e != 0) {
        close(fd);
        return e;
    }
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    }
    c->fd = fd;
    return 0;
}

int lb_conn_open(struct lb_conn *c, const char *host, int port, const char *path,
                 const char *addr, int timeout_ms, struct lb_error *err)
{
    c->fd = -1;
    c->ssl = NULL;
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    double deadline = lb_deadline(timeout_ms);
    int e;
    if (path != NULL) {
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof(sun.sun_path))
            return lb_error_set(err, LB_EUSAGE, "unix socket path too long: %s", path);
        memcpy(sun.sun_path, path, strlen(path));
        e = lb_conn_try(c, (const struct sockaddr *)&sun, sizeof(sun), deadline);
    } else {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        char ps[16];
        snprintf(ps, sizeof(ps), "%d", port);
        int g = getaddrinfo(host, ps, &hints, &res);
        if (g != 0)
            return lb_error_set(err, LB_EREDIS, "redis at %s: cannot resolve %s: %s", c->addr,
                                host, gai_strerror(g));
        e = ENOENT;
        for (struct addrinfo *a = res; a != NULL && c->fd < 0; a = a->ai_next)
            e = lb_conn_try(c, a->ai_addr, a->ai_addrlen, deadline);
        freeaddrinfo(res);
    }
    if (c->fd < 0)
        return lb_error_set(err, LB_EREDIS, "redis at %s: cannot connect: %s", c->addr,
                            e == ETIMEDOUT ? "timed out" : strerror(e));
    return 0;
}

/* ---- TLS handshake --------------------------------------------------------------- */

/* Why the server's certificate was not accepted, in an operator's words. */
static const char *lb_verify_reason(long v)
{
    switch (v) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
        return "name mismatch: the server's certificate is not for this name "
               "(see --tls-server-name)";
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return "the server's certificate expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return "the server's certificate is not valid yet";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
        return "unknown CA: the server's certificate is not signed by a CA we trust "
               "(see --tls-ca-file, --tls-ca-dir)";
    default:
        return NULL;
    }
}

/* Why the server refused us, from the alert it sent. NULL: not an alert
 * about certificates (then the connection is worth retrying). */
static const char *lb_alert_reason(unsigned long e, int has_cert)
{
    if (ERR_GET_LIB(e) != ERR_LIB_SSL)
        return NULL;
    switch (ERR_GET_REASON(e)) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return "client certificate required (see --tls-cert-file, --tls-key-file)";
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        return has_cert ? "the server refused the handshake"
                        : "the server refused the handshake: client certificate required? "
                          "(see --tls-cert-file, --tls-key-file)";
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        return "the server does not trust our client certificate (unknown CA)";
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
        return "the server refused our client certificate";
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        return "the server says our client certificate expired";
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        return "no TLS 1.2 or later there (is it a TLS port?)";
    default:
        return NULL;
    }
}

/* A failed SSL call: the error code and message it deserves. */
static int lb_conn_ssl_fail(struct lb_conn *c, int ret, const char *during, struct lb_error *err)
{
    SSL *ssl = c->ssl;
    int se = SSL_get_error(ssl, ret);
    if (se == SSL_ERROR_ZERO_RETURN)
        return lb_error_set(err, LB_EREDIS, "redis at %s: server closed the connection", c->addr);
    if (se == SSL_ERROR_SYSCALL) {
        int e = errno;
        ERR_clear_error();
        return lb_error_set(err, LB_EREDIS, "redis at %s: %s", c->addr,
                            e != 0 ? strerror(e) : "server closed the connection");
    }
    /* the verification result is the handshake's: after it (and with
     * --tls-insecure, which records one but goes on) it explains nothing */
    long v = strcmp(during, "handshake") == 0 ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = ERR_peek_error();
    const char *why = v != X509_V_OK ? lb_verify_reason(v) : NULL;
    char buf[200];
    if (v != X509_V_OK) {
        ERR_clear_error();
        if (why == NULL)
            why = X509_verify_cert_error_string(v);
        return lb_error_set(err, LB_EAUTH, "redis at %s: TLS %s: certificate verification failed: %s",
                            c->addr, during, why);
    }
    why = lb_alert_reason(e, 0);
    if (why != NULL) {
        ERR_clear_error();
        return lb_error_set(err, LB_EAUTH, "redis at %s: TLS %s: %s", c->addr, during, why);
    }
    return lb_error_set(err, LB_EREDIS, "redis at %s: TLS %s: %s", c->addr, during,
                        lb_ssl_errstr(buf, sizeof(buf)));
}

int lb_conn_tls(struct lb_conn *c, struct lb_tls *t, const char *name, int timeout_ms,
                struct lb_error *err)
{
    ERR_clear_error();
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL || SSL_set_fd(ssl, c->fd) != 1) {
        SSL_free(ssl);
        return lb_error_set(err, LB_ENOMEM, "out of memory for TLS");
    }
    c->ssl = ssl;
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    /* SNI carries host names only; an address is verified against IP SANs */
    if (!is_ip)
        SSL_set_tlsext_host_name(ssl, name);
    if (!t->insecure) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) : SSL_set1_host(ssl, name);
        if (ok != 1)
            return lb_error_set(err, LB_EUSAGE, "TLS: cannot verify the name '%s'", name);
    }
    double deadline = lb_deadline(timeout_ms);
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(ssl);
        if (r == 1)
            return 0;
        int se = SSL_get_error(ssl, r);
        short ev = se == SSL_ERROR_WANT_READ ? POLLIN : se == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (ev == 0) {
            unsigned long e = ERR_peek_error();
            const char *why = lb_alert_reason(e, t->has_cert);
            if (why != NULL && (t->insecure || SSL_get_verify_result(ssl) == X509_V_OK)) {
                ERR_clear_error();
                return lb_error_set(err, LB_EAUTH, "redis at %s: TLS handshake: %s", c->addr,
                                    why);
            }
            return lb_conn_ssl_fail(c, r, t->insecure ? "handshake (insecure)" : "handshake", err);
        }
        int w = lb_conn_wait(c->fd, ev, deadline);
        if (w <= 0)
            return lb_error_set(err, LB_EREDIS, "redis at %s: TLS handshake %s", c->addr,
                                w == 0 ? "timed out" : strerror(errno));
    }
}

/* ---- read and write --------------------------------------------------------------- */

ssize_t lb_conn_read(struct lb_conn *c, void *buf, size_t n, int timeout_ms,
                     struct lb_error *err)
{
    if (c->fd < 0)
        return lb_error_set(err, LB_EREDIS, "redis at %s: not connected", c->addr);
    double deadline = lb_deadline(timeout_ms);
    int chunk = n > (size_t)1 << 30 ? 1 << 30 : (int)n;
    for (;;) {
        short ev = POLLIN;
        if (c->ssl != NULL) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(c->ssl, buf, chunk);
            if (r > 0)
                return r;
            int se = SSL_get_error(c->ssl, r);
            if (se == SSL_ERROR_WANT_WRITE)
                ev = POLLOUT;
            else if (se != SSL_ERROR_WANT_READ)
                return lb_conn_ssl_fail(c, r, "read", err);
        } else {
            ssize_t r = read(c->fd, buf, n);
            if (r > 0)
                return r;
            if (r == 0)
                return lb_error_set(err, LB_EREDIS, "redis at %s: server closed the connection",
                                    c->addr);
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return lb_error_set(err, LB_EREDIS, "redis at %s: %s", c->addr, strerror(errno));
        }
        if (timeout_ms == 0)
            return 0;
        int w = lb_conn_wait(c->fd, ev, deadline);
        if (w < 0)
            return lb_error_set(err, LB_EREDIS, "redis at %s: %s", c->addr, strerror(errno));
        if (w == 0)
            return lb_error_set(err, LB_EREDIS, "redis at %s: no reply within %d ms", c->addr,
                                timeout_ms);
    }
}

int lb_conn_write(struct lb_conn *c, const void *buf, size_t n, int timeout_ms,
                  struct lb_error *err)
{
    if (c->fd < 0)
        return lb_error_set(err, LB_EREDIS, "redis at %s: not connected", c->addr);
    double deadline = lb_deadline(timeout_ms);
    const char *p = buf;
    while (n > 0) {
        short ev = POLLOUT;
        size_t want = n > (size_t)1 << 30 ? (size_t)1 << 30 : n;
        if (c->ssl != NULL) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_write(c->ssl, p, (int)want);
            if (r > 0) {
                p += r;
                n -= (size_t)r;
                continue;
            }
            int se = SSL_get_error(c->ssl, r);
            if (se == SSL_ERROR_WANT_READ)
                ev = POLLIN;
            else if (se == SSL_ERROR_SYSCALL) {
                /* The server may have said why before it went away: with
                 * TLS 1.3 our handshake ends before the server has seen our
                 * certificate, so its "certificate required" alert races our
                 * first command, and its close with that command unread
                 * resets the connection. The send fails with ECONNRESET while
                 * the alert still waits in our receive queue: read it. */
                int rc = lb_conn_ssl_fail(c, r, "write", err); /* before errno changes */
                char tmp[256];
                ERR_clear_error();
                int r2 = SSL_read(c->ssl, tmp, sizeof(tmp));
                if (r2 <= 0 && SSL_get_error(c->ssl, r2) == SSL_ERROR_SSL)
                    return lb_conn_ssl_fail(c, r2, "write", err);
                ERR_clear_error();
                return rc;
            } else if (se != SSL_ERROR_WANT_WRITE)
                return lb_conn_ssl_fail(c, r, "write", err);
        } else {
            ssize_t r = send(c->fd, p, want, MSG_NOSIGNAL);
            if (r > 0) {
                p += r;
                n -= (size_t)r;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                return lb_error_set(err, LB_EREDIS, "redis at %s: %s", c->addr, strerror(errno));
        }
        int w = lb_conn_wait(c->fd, ev, deadline);
        if (w < 0)
            return lb_error_set(err, LB_EREDIS, "redis at %s: %s", c->addr, strerror(errno));
        if (w == 0)
            return lb_error_set(err, LB_EREDIS, "redis at %s: could not send within %d ms",
                                c->addr, timeout_ms);
    }
    return 0;
}

void lb_conn_close(struct lb_conn *c)
{
    if (c->ssl != NULL) {
        SSL_free(c->ssl); /* no close_notify: the socket may be dead, and we never wait */
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}
