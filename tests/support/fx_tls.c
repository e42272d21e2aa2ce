/*
 * fx_tls.c - the fixture of the TLS tests (fx_tls.h). The certificates come
 * from the openssl CLI with a config file of our own (so that the system's
 * openssl.cnf changes nothing), EC P-256 keys (fast to make). The expired
 * certificate is made with `openssl ca -startdate/-enddate`: `openssl x509`
 * of OpenSSL 3.0 cannot set a validity period in the past.
 */
#include "fx_tls.h"
#include "tail_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* ---- certificates ------------------------------------------------------------------ */

static const char fxt_cnf[] = "[req]\n"
                              "distinguished_name = dn\n"
                              "prompt = no\n"
                              "[dn]\n"
                              "CN = unused\n"
                              "[ca_ext]\n"
                              "basicConstraints = critical, CA:TRUE\n"
                              "keyUsage = critical, keyCertSign, cRLSign\n"
                              "subjectKeyIdentifier = hash\n"
                              "[good_ext]\n"
                              "basicConstraints = critical, CA:FALSE\n"
                              "keyUsage = critical, digitalSignature, keyEncipherment\n"
                              "extendedKeyUsage = serverAuth\n"
                              "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                              "[wrong_name_ext]\n"
                              "basicConstraints = critical, CA:FALSE\n"
                              "keyUsage = critical, digitalSignature, keyEncipherment\n"
                              "extendedKeyUsage = serverAuth\n"
                              "subjectAltName = DNS:other.example\n"
                              "[localhost_ext]\n"
                              "basicConstraints = critical, CA:FALSE\n"
                              "keyUsage = critical, digitalSignature, keyEncipherment\n"
                              "extendedKeyUsage = serverAuth\n"
                              "subjectAltName = DNS:localhost\n"
                              "[client_ext]\n"
                              "basicConstraints = critical, CA:FALSE\n"
                              "keyUsage = critical, digitalSignature, keyEncipherment\n"
                              "extendedKeyUsage = clientAuth\n"
                              /* `openssl ca`, for the expired certificate only */
                              "[ca]\n"
                              "default_ca = past\n"
                              "[past]\n"
                              "database = index.txt\n"
                              "new_certs_dir = .\n"
                              "serial = serial\n"
                              "default_md = sha256\n"
                              "policy = any\n"
                              "unique_subject = no\n"
                              "[any]\n"
                              "commonName = supplied\n";

/* Run `openssl ARGS...` (NULL-terminated) in dir, its output appended to
 * dir/openssl.log. 0, or -1 after printing the command and the log. */
static int fxt_openssl(const char *dir, ...)
{
    const char *argv[48];
    int n = 0;
    argv[n++] = "openssl";
    va_list ap;
    va_start(ap, dir);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && n < 47)
        argv[n++] = s;
    va_end(ap);
    argv[n] = NULL;
    char logp[400];
    snprintf(logp, sizeof(logp), "%s/openssl.log", dir);
    pid_t p = fork();
    if (p == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || chdir(dir) != 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp("openssl", (char *const *)argv);
        _exit(127);
    }
    int code = p > 0 ? lbt_wait(p) : -1;
    if (code == 0)
        return 0;
    fprintf(stderr, "fx_tls: openssl exited %d (127: is the openssl package installed?):", code);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\n");
    char *log = lbt_read_file(logp, NULL);
    if (log != NULL) {
        size_t len = strlen(log);
        fprintf(stderr, "%s\n", len > 3000 ? log + len - 3000 : log);
        free(log);
    }
    return -1;
}

/* A CA: name.key, name.crt; a hashed directory name.d holding the certificate. */
static int fxt_make_ca(const char *dir, const char *name, const char *cn, char *crt, size_t crtcap,
                       char *hashed, size_t hashedcap)
{
    char key[64], cert[64], subj[128], sub[64];
    snprintf(key, sizeof(key), "%s.key", name);
    snprintf(cert, sizeof(cert), "%s.crt", name);
    snprintf(subj, sizeof(subj), "/CN=%s", cn);
    snprintf(sub, sizeof(sub), "%s.d", name);
    if (fxt_openssl(dir, "req", "-x509", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "3650", "-subj", subj, "-extensions", "ca_ext", NULL) != 0)
        return -1;
    snprintf(crt, crtcap, "%s/%s", dir, cert);
    snprintf(hashed, hashedcap, "%s/%s", dir, sub);
    /* the directory form of --tls-ca-dir: certificates under their subject
     * hash, as c_rehash / openssl rehash make them */
    char copy[400];
    snprintf(copy, sizeof(copy), "%s/ca.pem", hashed);
    size_t n;
    char *pem = lbt_read_file(crt, &n);
    int rc = pem != NULL && mkdir(hashed, 0755) == 0 && lbt_write_file(copy, pem, n) == 0 ? 0 : -1;
    free(pem);
    if (rc != 0) {
        fprintf(stderr, "fx_tls: cannot fill %s\n", hashed);
        return -1;
    }
    return fxt_openssl(dir, "rehash", sub, NULL);
}

/* A certificate for key.csr signed by ca (ca.crt, ca.key), extensions ext. */
static int fxt_sign(const char *dir, const char *csr, const char *ca, const char *ext,
                    const char *serial, const char *out)
{
    char cacrt[64], cakey[64];
    snprintf(cacrt, sizeof(cacrt), "%s.crt", ca);
    snprintf(cakey, sizeof(cakey), "%s.key", ca);
    return fxt_openssl(dir, "x509", "-req", "-in", csr, "-CA", cacrt, "-CAkey", cakey,
                       "-set_serial", serial, "-days", "3650", "-extfile", "openssl.cnf",
                       "-extensions", ext, "-out", out, NULL);
}

int fxt_certs_make(struct fxt_certs *c)
{
    memset(c, 0, sizeof(*c));
    if (lbt_mkdtemp(c->dir, sizeof(c->dir)) != 0)
        return -1;
    /* a copy: GCC's -Wrestrict cannot tell c->dir from the members written below */
    char d[sizeof(c->dir)];
    memcpy(d, c->dir, sizeof(d));
    char p[400];
    snprintf(p, sizeof(p), "%s/openssl.cnf", d);
    if (lbt_write_file(p, fxt_cnf, sizeof(fxt_cnf) - 1) != 0)
        return -1;
    if (fxt_make_ca(d, "ca", "logbridge test CA", c->ca, sizeof(c->ca), c->ca_dir,
                    sizeof(c->ca_dir)) != 0 ||
        fxt_make_ca(d, "wrong-ca", "logbridge wrong CA", c->wrong_ca, sizeof(c->wrong_ca),
                    c->wrong_ca_dir, sizeof(c->wrong_ca_dir)) != 0)
        return -1;
    /* one key for every server certificate; its subject's CN names no host,
     * so that only the SANs can match */
    if (fxt_openssl(d, "req", "-new", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out",
                    "server.csr", "-subj", "/CN=logbridge test server", NULL) != 0 ||
        fxt_sign(d, "server.csr", "ca", "good_ext", "10", "good.crt") != 0 ||
        fxt_sign(d, "server.csr", "wrong-ca", "good_ext", "11", "wrong-ca-server.crt") != 0 ||
        fxt_sign(d, "server.csr", "ca", "wrong_name_ext", "12", "wrong-name.crt") != 0 ||
        fxt_sign(d, "server.csr", "ca", "localhost_ext", "13", "localhost.crt") != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/index.txt", d);
    if (lbt_write_file(p, "", 0) != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/serial", d);
    if (lbt_write_file(p, "14\n", 3) != 0)
        return -1;
    if (fxt_openssl(d, "ca", "-batch", "-config", "openssl.cnf", "-name", "past", "-cert", "ca.crt",
                    "-keyfile", "ca.key", "-startdate", "20200101000000Z", "-enddate",
                    "20200102000000Z", "-extfile", "openssl.cnf", "-extensions", "good_ext",
                    "-notext", "-in", "server.csr", "-out", "expired.crt", NULL) != 0)
        return -1;
    if (fxt_openssl(d, "req", "-new", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "client.key", "-out",
                    "client.csr", "-subj", "/CN=logbridge test client", NULL) != 0 ||
        fxt_sign(d, "client.csr", "ca", "client_ext", "20", "client.crt") != 0)
        return -1;
    snprintf(c->server_key, sizeof(c->server_key), "%s/server.key", d);
    static const char *const names[FXT_NCERTS] = {"good.crt", "wrong-ca-server.crt",
                                                  "wrong-name.crt", "localhost.crt", "expired.crt"};
    for (int i = 0; i < FXT_NCERTS; i++)
        snprintf(c->server[i], sizeof(c->server[i]), "%s/%s", d, names[i]);
    snprintf(c->client, sizeof(c->client), "%s/client.crt", d);
    snprintf(c->client_key, sizeof(c->client_key), "%s/client.key", d);
    return 0;
}

void fxt_certs_remove(struct fxt_certs *c)
{
    if (c->dir[0] != '\0')
        lbt_rmdir(c->dir);
    c->dir[0] = '\0';
}

/* ---- servers ---------------------------------------------------------------------------- */

int fxt_server_args(const struct fxt_certs *c, int port, enum fxt_cert which, const char *auth,
                    char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "--bind 127.0.0.1 --tls-port %d --tls-cert-file %s --tls-key-file %s "
                     "--tls-ca-cert-file %s --tls-auth-clients %s",
                     port, c->server[which], c->server_key, c->ca, auth);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "fx_tls: the redis-server arguments do not fit (TMPDIR too long?)\n");
        return -1;
    }
    return 0;
}

int fxt_use_on(redisContext *rc, const struct fxt_certs *c, enum fxt_cert which, const char *auth)
{
    return iu_cmd(rc, "CONFIG", "SET", "tls-cert-file", c->server[which], "tls-key-file",
                  c->server_key, "tls-auth-clients", auth, NULL);
}

int fxt_group_setup(void **state)
{
    struct fxt_group *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return -1;
    *state = g;
    if (fxt_certs_make(&g->certs) != 0)
        return -1;
    g->port = lbt_free_port();
    if (g->port <= 0)
        return -1;
    if (fxt_server_args(&g->certs, g->port, FXT_GOOD, "optional", g->r.extra, sizeof(g->r.extra)) !=
        0)
        return -1;
    if (lbt_redis_start(&g->r, 0) != 0) {
        fprintf(stderr, "fx_tls: redis-server with TLS did not start (see %s/redis.log)\n",
                g->r.dir);
        return -1;
    }
    return 0;
}

int fxt_group_teardown(void **state)
{
    struct fxt_group *g = *state;
    if (g == NULL)
        return 0;
    if (g->r.pid > 0)
        lbt_redis_stop(&g->r, 1);
    fxt_certs_remove(&g->certs);
    free(g);
    return 0;
}

static void fxt_names(struct fxt *t, struct fxt_group *g, int port)
{
    t->g = g;
    t->port = port;
    snprintf(t->url, sizeof(t->url), "rediss://127.0.0.1:%d", port);
    snprintf(t->addr, sizeof(t->addr), "127.0.0.1:%d", port);
    snprintf(t->run_out, sizeof(t->run_out), "%s/run.out", t->fx.dir);
    snprintf(t->run_err, sizeof(t->run_err), "%s/run.err", t->fx.dir);
}

int fxt_setup_shared(void **state)
{
    struct fxt_group *g = *state;
    if (fx_import_setup_shared_sized(state, sizeof(struct fxt)) != 0)
        return -1;
    struct fxt *t = *state;
    fxt_names(t, g, g->port);
    return fxt_use_on(t->fx.c, &g->certs, FXT_GOOD, "optional");
}

int fxt_setup_own_aof(void **state)
{
    struct fxt_group *g = *state;
    int port = lbt_free_port();
    if (port <= 0)
        return -1;
    char extra[512];
    if (fxt_server_args(&g->certs, port, FXT_GOOD, "optional", extra, sizeof(extra)) != 0)
        return -1;
    if (fx_import_setup_sized(state, sizeof(struct fxt), 1, extra) != 0)
        return -1;
    fxt_names(*state, g, port);
    return 0;
}

int fxt_teardown(void **state)
{
    /* logbridge runs as a child: a sanitizer's report is only in its output */
    struct fxt *t = *state;
    int bad = t != NULL && t->fx.log[0] != '\0' && tu_log_sane(t->fx.log) != 0;
    int rc = fx_import_teardown(state);
    return bad ? -1 : rc;
}

void fxt_use(struct fxt *t, enum fxt_cert which, const char *auth)
{
    if (fxt_use_on(t->fx.c, &t->g->certs, which, auth) != 0)
        fail_msg("CONFIG SET of the TLS certificate %d, auth %s was refused", (int)which, auth);
}

/* ---- running logbridge ---------------------------------------------------------------- */

static void fxt_slurp(const char *path, char *buf, size_t cap)
{
    size_t n = 0;
    char *text = lbt_read_file(path, &n);
    if (n > cap - 1)
        n = cap - 1;
    if (text != NULL)
        memcpy(buf, text, n);
    buf[n] = '\0';
    free(text);
}

int fxt_run(struct fxt *t, const char *const *args, int timeout_ms, int64_t *ms)
{
    unlink(t->run_out);
    unlink(t->run_err);
    int64_t t0 = lbt_now_ms();
    /* not one of t->fx.kids: it is waited for (or killed) right here */
    pid_t pid = lbt_spawn_split(args, t->run_out, t->run_err);
    int code = pid > 0 ? fx_import_wait_exit(pid, timeout_ms) : -1;
    if (ms != NULL)
        *ms = lbt_now_ms() - t0;
    fxt_slurp(t->run_out, t->fx.out, FX_IMPORT_OUTCAP);
    fxt_slurp(t->run_err, t->fx.err, FX_IMPORT_OUTCAP);
    if (tu_text_sane(t->fx.err) != 0)
        fail_msg("a sanitizer report in logbridge's stderr (above)");
    return code;
}
