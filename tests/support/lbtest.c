/*
 * lbtest.c - see lbtest.h. Plain POSIX; failures are returned, and the
 * tests assert on them.
 */
#include "lbtest.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t lbt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lbt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int lbt_wait_for(int (*cond)(void *), void *ctx, int timeout_ms)
{
    int64_t end = lbt_now_ms() + timeout_ms;
    int delay = 2;
    for (;;) {
        if (cond(ctx))
            return 1;
        if (lbt_now_ms() >= end)
            return 0;
        lbt_sleep_ms(delay);
        if (delay < 50)
            delay *= 2;
    }
}

int lbt_xread_client(void *redis_ctx)
{
    redisReply *r = redisCommand(redis_ctx, "CLIENT LIST");
    int yes = r != NULL && r->type == REDIS_REPLY_STRING && strstr(r->str, "cmd=xread") != NULL;
    freeReplyObject(r);
    return yes;
}

int lbt_mkdtemp(char *out, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, cap, "%s/lbtest.XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(out) ? 0 : -1;
}

void lbt_rmdir(const char *dir)
{
    if (dir == NULL || dir[0] == '\0' || strstr(dir, "lbtest.") == NULL)
        return;
    pid_t p = fork();
    if (p == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (p > 0)
        waitpid(p, NULL, 0);
}

/* ---- redis-server ------------------------------------------------------------ */

static pid_t lbt_redis_exec(struct lbt_redis *r)
{
    char logp[400];
    snprintf(logp, sizeof(logp), "%s/redis.log", r->dir);
    pid_t p = fork();
    if (p != 0)
        return p;
    int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    const char *argv[64];
    int n = 0;
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--unixsocket";
    argv[n++] = r->sock;
    argv[n++] = "--unixsocketperm";
    argv[n++] = "700";
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = r->aof ? "yes" : "no";
    argv[n++] = "--appendfsync";
    argv[n++] = "always";
    /* Redis 7.0 with aof-load-truncated yes cuts a torn transaction at its
     * last whole command, leaving a MULTI without EXEC in the file that the
     * next restart replays into the following transaction (a partial batch
     * comes back). We run Redis the way contrib/redis-aof.md says: refuse a
     * torn AOF, and repair it with redis-check-aof --fix (lbt_redis_restart). */
    argv[n++] = "--aof-load-truncated";
    argv[n++] = "no";
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    char extra[512];
    snprintf(extra, sizeof(extra), "%s", r->extra);
    for (char *t = strtok(extra, " "); t != NULL && n < 62; t = strtok(NULL, " "))
        argv[n++] = t;
    argv[n] = NULL;
    execvp("redis-server", (char *const *)argv);
    _exit(127);
}

static int lbt_redis_ping(void *ctx)
{
    struct lbt_redis *r = ctx;
    redisContext *c = lbt_connect(r);
    if (c == NULL)
        return 0;
    redisReply *rep = redisCommand(c, "PING");
    /* a server with requirepass answers NOAUTH: it is up all the same */
    int ok =
        rep != NULL && (rep->type == REDIS_REPLY_STATUS ||
                        (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOAUTH", 6) == 0));
    freeReplyObject(rep);
    redisFree(c);
    return ok;
}

/* Wait until the server answers (1), or it exits (0), or 10 s pass (-1). */
static int lbt_redis_up(struct lbt_redis *r)
{
    int64_t end = lbt_now_ms() + 10000;
    int delay = 2;
    while (lbt_now_ms() < end) {
        if (lbt_redis_ping(r))
            return 1;
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            r->pid = 0;
            return 0;
        }
        lbt_sleep_ms(delay);
        if (delay < 50)
            delay *= 2;
    }
    return -1;
}

int lbt_redis_restart(struct lbt_redis *r)
{
    r->pid = lbt_redis_exec(r);
    if (r->pid < 0)
        return -1;
    int up = lbt_redis_up(r);
    if (up == 0 && r->aof) {
        /* A torn AOF: repair it as an operator would, then start again. */
        char cmd[800];
        snprintf(cmd, sizeof(cmd),
                 "echo y | redis-check-aof --fix %s/appendonlydir/appendonly.aof.manifest "
                 ">>%s/redis.log 2>&1",
                 r->dir, r->dir);
        if (system(cmd) != 0)
            return -1;
        r->aof_repairs++;
        r->pid = lbt_redis_exec(r);
        up = lbt_redis_up(r);
    }
    return up == 1 ? 0 : -1;
}

int lbt_redis_start(struct lbt_redis *r, int aof)
{
    char extra[512];
    snprintf(extra, sizeof(extra), "%s", r->extra);
    memset(r, 0, sizeof(*r));
    snprintf(r->extra, sizeof(r->extra), "%s", extra);
    r->aof = aof;
    if (lbt_mkdtemp(r->dir, sizeof(r->dir)) != 0)
        return -1;
    snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
    snprintf(r->url, sizeof(r->url), "unix://%s", r->sock);
    return lbt_redis_restart(r);
}

void lbt_redis_kill(struct lbt_redis *r, int sig)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, sig);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
}

int lbt_redis_save(const struct lbt_redis *r)
{
    redisContext *c = lbt_connect(r);
    if (c == NULL)
        return -1;
    redisReply *rep = redisCommand(c, "SAVE");
    int ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    redisFree(c);
    return ok ? 0 : -1;
}

int lbt_redis_rollback(struct lbt_redis *r)
{
    if (r->aof)
        return -1; /* the AOF would bring the writes back */
    lbt_redis_kill(r, SIGKILL);
    return lbt_redis_restart(r);
}

void lbt_redis_stop(struct lbt_redis *r, int cleanup)
{
    lbt_redis_kill(r, SIGKILL);
    if (cleanup)
        lbt_rmdir(r->dir);
}

int lbt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

redisContext *lbt_connect(const struct lbt_redis *r)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectUnixWithTimeout(r->sock, tv);
    if (c == NULL)
        return NULL;
    if (c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

/* ---- logbridge --------------------------------------------------------------- */

const char *lbt_bin(void)
{
    const char *b = getenv("LOGBRIDGE_BIN");
    return b && *b ? b : "build/logbridge";
}

static void lbt_exec_bin(const char *const *args)
{
    const char *argv[128];
    int n = 0;
    argv[n++] = lbt_bin();
    for (; args[n - 1] != NULL && n < 127; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    execv(lbt_bin(), (char *const *)argv);
    _exit(127);
}

/* Fork and exec logbridge: stdin from in_fd (or /dev/null when < 0), stdout
 * and stderr appended to their files (inherited when NULL). */
static pid_t lbt_spawn_in(const char *const *args, const char *out_path, const char *err_path,
                          int in_fd)
{
    pid_t p = fork();
    if (p != 0)
        return p;
    int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
    if (in >= 0)
        dup2(in, 0);
    /* O_APPEND: when both name one file, neither overwrites the other */
    const char *paths[2] = {out_path, err_path};
    for (int k = 0; k < 2; k++) {
        if (paths[k] == NULL)
            continue;
        int fd = open(paths[k], O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0 && fd != 1 + k) {
            dup2(fd, 1 + k);
            close(fd);
        }
    }
    lbt_exec_bin(args);
    return -1;
}

pid_t lbt_spawn_split(const char *const *args, const char *out_path, const char *err_path)
{
    return lbt_spawn_in(args, out_path, err_path, -1);
}

pid_t lbt_spawn(const char *const *args, const char *log_path)
{
    return lbt_spawn_in(args, log_path, log_path, -1);
}

pid_t lbt_spawn_piped(const char *const *args, const char *log_path, int *stdin_w)
{
    int fds[2];
    /* both ends close-on-exec: dup2 onto 0 clears it for the child's stdin */
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t p = lbt_spawn_in(args, log_path, log_path, fds[0]);
    close(fds[0]);
    if (p < 0) {
        close(fds[1]);
        return -1;
    }
    *stdin_w = fds[1];
    return p;
}

int lbt_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

static char *lbt_slurp_fd(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(fd, tmp, sizeof(tmp));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (buf != NULL && n + 1 < cap) {
            size_t take = (size_t)r < cap - 1 - n ? (size_t)r : cap - 1 - n;
            memcpy(buf + n, tmp, take);
            n += take;
        }
    }
    if (buf != NULL && cap > 0)
        buf[n] = '\0';
    return buf;
}

int lbt_run(const char *const *args, char *out, size_t outcap, char *errbuf, size_t errcap,
            const char *stdin_data, size_t stdin_len)
{
    char dir[256], op[300], ep[300], ip[300];
    if (lbt_mkdtemp(dir, sizeof(dir)) != 0)
        return -1;
    snprintf(op, sizeof(op), "%s/out", dir);
    snprintf(ep, sizeof(ep), "%s/err", dir);
    snprintf(ip, sizeof(ip), "%s/in", dir);
    lbt_write_file(ip, stdin_data ? stdin_data : "", stdin_data ? stdin_len : 0);
    pid_t p = fork();
    if (p == 0) {
        int i = open(ip, O_RDONLY), o = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0644),
            e = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(i, 0);
        dup2(o, 1);
        dup2(e, 2);
        lbt_exec_bin(args);
    }
    int rc = lbt_wait(p);
    int fd = open(op, O_RDONLY);
    if (fd >= 0) {
        lbt_slurp_fd(fd, out, outcap);
        close(fd);
    }
    fd = open(ep, O_RDONLY);
    if (fd >= 0) {
        lbt_slurp_fd(fd, errbuf, errcap);
        close(fd);
    }
    lbt_rmdir(dir);
    return rc;
}

/* ---- files ---------------------------------------------------------------------- */

static int lbt_put(const char *path, const void *data, size_t n, int flags)
{
    int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
    if (fd < 0)
        return -1;
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return close(fd);
}

int lbt_write_file(const char *path, const void *data, size_t n)
{
    return lbt_put(path, data, n, O_TRUNC);
}

int lbt_append_file(const char *path, const void *data, size_t n)
{
    return lbt_put(path, data, n, O_APPEND);
}

char *lbt_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        if (r == 0)
            break;
        len += r;
    }
    fclose(f);
    buf[len] = '\0';
    if (n != NULL)
        *n = len;
    return buf;
}

long lbt_count_lines(const char *path)
{
    size_t n = 0;
    char *s = lbt_read_file(path, &n);
    long lines = 0;
    for (size_t i = 0; s != NULL && i < n; i++)
        lines += s[i] == '\n';
    free(s);
    return lines;
}

int lbt_count_in_file(const char *path, const char *needle)
{
    size_t n = 0;
    char *text = lbt_read_file(path, &n);
    int c = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        c++;
    free(text);
    return c;
}

long long lbt_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* ---- streams ---------------------------------------------------------------------- */

long long lbt_xlen(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "XLEN %s", key);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

long lbt_xrange_all(redisContext *c, const char *key, struct lbt_entry **out)
{
    long n = 0, cap = 1024;
    struct lbt_entry *e = calloc((size_t)cap, sizeof(*e));
    char from[64] = "-";
    for (;;) {
        redisReply *r = redisCommand(c, "XRANGE %s %s + COUNT 10000", key, from);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            lbt_entries_free(e, n);
            *out = NULL;
            return -1;
        }
        if (r->elements == 0) {
            freeReplyObject(r);
            break;
        }
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *it = r->element[i];
            if (n == cap) {
                cap *= 2;
                e = realloc(e, (size_t)cap * sizeof(*e));
            }
            struct lbt_entry *x = &e[n++];
            memset(x, 0, sizeof(*x));
            snprintf(x->id, sizeof(x->id), "%s", it->element[0]->str);
            redisReply *f = it->element[1];
            x->nf = f->elements / 2;
            x->names = calloc(x->nf + 1, sizeof(char *));
            x->values = calloc(x->nf + 1, sizeof(char *));
            x->vlens = calloc(x->nf + 1, sizeof(size_t));
            for (size_t j = 0; j < x->nf; j++) {
                x->names[j] = strdup(f->element[2 * j]->str);
                x->values[j] = malloc(f->element[2 * j + 1]->len + 1);
                memcpy(x->values[j], f->element[2 * j + 1]->str, f->element[2 * j + 1]->len + 1);
                x->vlens[j] = f->element[2 * j + 1]->len;
            }
        }
        /* next page: exclusive start after the last id */
        snprintf(from, sizeof(from), "(%s", r->element[r->elements - 1]->element[0]->str);
        freeReplyObject(r);
    }
    *out = e;
    return n;
}

void lbt_entries_free(struct lbt_entry *e, long n)
{
    if (e == NULL)
        return;
    for (long i = 0; i < n; i++) {
        for (size_t j = 0; j < e[i].nf; j++) {
            free(e[i].names[j]);
            free(e[i].values[j]);
        }
        free(e[i].names);
        free(e[i].values);
        free(e[i].vlens);
    }
    free(e);
}

const char *lbt_field(const struct lbt_entry *e, const char *name)
{
    for (size_t j = 0; j < e->nf; j++)
        if (strcmp(e->names[j], name) == 0)
            return e->values[j];
    return NULL;
}

size_t lbt_line(char *out, size_t cap, long i)
{
    static const char *const roles[] = {"web", "worker", "billing"};
    static const char *const types[] = {"login", "click", "pay", "logout", "error"};
    long s = 1750233600L + i / 1000;
    long ms = i % 1000;
    long sec = s % 60, min = (s / 60) % 60, hour = (s / 3600) % 24;
    int n = snprintf(out, cap, "%s|2025-06-18T%02ld:%02ld:%02ld.%03ldZ|%s|data-%ld k=v|x=%ld\n",
                     roles[i % 3], hour, min, sec, ms, types[i % 5], i, i * 7);
    return n < 0 ? 0 : (size_t)n;
}

void lbt_line_fields(long i, char parts[4][256])
{
    char line[512];
    lbt_line(line, sizeof(line), i);
    const char *p = line;
    for (int k = 0; k < 3; k++) {
        const char *bar = strchr(p, '|');
        snprintf(parts[k], 256, "%.*s", (int)(bar - p), p);
        p = bar + 1;
    }
    snprintf(parts[3], 256, "%.*s", (int)strcspn(p, "\n"), p);
}
