/*
 * fx_tls.h - the fixture of the TLS tests (DESIGN.md section 7): the
 * certificates, made at test time with the openssl CLI in a temp dir once
 * per test binary, and redis-servers that serve TLS on a free loopback port.
 * The unix socket of struct lbt_redis stays: it is the test's own hiredis
 * client's way in (Debian's hiredis has no TLS), so every check of what
 * logbridge wrote goes around the transport under test.
 *
 * One server per binary (fxt_group_setup) serves most tests: each test's
 * setup (fxt_setup_shared) flushes it and sets its TLS back to the good
 * certificate with optional client certificates; a test switches to another
 * certificate or to required client certificates with fxt_use (CONFIG SET:
 * Redis reloads its TLS context for new connections). A test that kills and
 * restarts the server has its own (fxt_setup_own_aof).
 *
 * A test's state is struct fxt, whose first member is struct fx_import: the
 * import fixture's helpers (verify, spawn, the kids killed by the teardown)
 * work on &t->fx, and fx_import_teardown is the teardown.
 */
#ifndef FX_TLS_H
#define FX_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

#include "fx_import.h"
#include "lbtest.h"

/* The server certificates. All have the same key (fxt_certs.server_key). */
enum fxt_cert {
    FXT_GOOD,       /* signed by the CA; SANs IP:127.0.0.1 and DNS:localhost */
    FXT_WRONG_CA,   /* the same SANs, signed by the other CA */
    FXT_WRONG_NAME, /* signed by the CA; one SAN, DNS:other.example */
    FXT_LOCALHOST,  /* signed by the CA; one SAN, DNS:localhost */
    FXT_EXPIRED,    /* signed by the CA; the good SANs; valid 2020-01-01 to 2020-01-02 */
    FXT_NCERTS
};

struct fxt_certs {
    char dir[256];
    char ca[320];           /* the CA's certificate (PEM) */
    char ca_dir[320];       /* a hashed directory (openssl rehash) holding only ca */
    char wrong_ca[320];     /* the other CA's certificate */
    char wrong_ca_dir[320]; /* a hashed directory holding only wrong_ca */
    char server_key[320];
    char server[FXT_NCERTS][320];
    char client[320], client_key[320]; /* signed by the CA, for clientAuth */
};

/* Make every certificate in a new temp dir. 0, or -1 after printing the
 * failing openssl command and its output on stderr. */
int fxt_certs_make(struct fxt_certs *c);
void fxt_certs_remove(struct fxt_certs *c);

/* The redis-server arguments that serve TLS on 127.0.0.1:port with
 * certificate which; auth: "no", "optional" or "yes" (--tls-auth-clients).
 * The CA file the server trusts for client certificates is the CA. 0, or -1
 * when they do not fit in cap (struct lbt_redis.extra holds 512 bytes). */
int fxt_server_args(const struct fxt_certs *c, int port, enum fxt_cert which, const char *auth,
                    char *out, size_t cap);
/* Switch a running server to certificate which and auth (CONFIG SET over the
 * test's client). 0 or -1. */
int fxt_use_on(redisContext *rc, const struct fxt_certs *c, enum fxt_cert which, const char *auth);

/* One TLS redis-server (and the certificates) for a test binary. */
struct fxt_group {
    struct lbt_redis r; /* first: fx_import_setup_shared_sized copies it */
    struct fxt_certs certs;
    int port;
};
int fxt_group_setup(void **state);
int fxt_group_teardown(void **state);

/* A test's state. */
struct fxt {
    struct fx_import fx; /* first: fx_import_teardown frees it all */
    struct fxt_group *g; /* the binary's certificates (and server) */
    int port;            /* the TLS port of fx.r */
    char url[64];        /* rediss://127.0.0.1:PORT */
    char addr[40];       /* 127.0.0.1:PORT, as error messages must name it */
    char run_out[512];   /* fxt_run's stdout, whole (t->fx.out holds its start) */
    char run_err[512];   /* fxt_run's stderr, whole (t->fx.err holds its start) */
};

/* A test on the group's server: flushed, serving FXT_GOOD, client
 * certificates optional. */
int fxt_setup_shared(void **state);
/* A test with its own server (AOF on), serving FXT_GOOD, client
 * certificates optional, on a port of its own. */
int fxt_setup_own_aof(void **state);
/* The teardown of both. */
int fxt_teardown(void **state);

/* fxt_use_on on the test's server. Fails the test when Redis refuses. */
void fxt_use(struct fxt *t, enum fxt_cert which, const char *auth);

/* Run logbridge with args (NULL-terminated) for at most timeout_ms: its exit
 * code, or -1 when it was still running then (it is killed). Its stdout lands
 * in t->fx.out and t->run_out, its stderr in t->fx.err and t->run_err (the
 * buffers hold the first FX_IMPORT_OUTCAP - 1 bytes); the time it took in *ms
 * (may be NULL). A deadline, because a transport that hangs must fail the
 * test, not the CI job. */
int fxt_run(struct fxt *t, const char *const *args, int timeout_ms, int64_t *ms);

#endif
