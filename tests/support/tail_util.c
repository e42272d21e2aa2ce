/*
 * tail_util.c - see tail_util.h.
 */
#include "tail_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

size_t tu_line(char *out, size_t cap, int gen, long seq, int pad)
{
    static const char fill[] = "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
                               "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmno";
    if (pad > (int)sizeof(fill) - 1)
        pad = (int)sizeof(fill) - 1;
    int n = snprintf(out, cap, "app|2025-06-18T10:%02ld:%02ld.%03ldZ|g%d|%ld %.*s\n",
                     (seq / 60000) % 60, (seq / 1000) % 60, seq % 1000, gen, seq, pad, fill);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int tu_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int tu_append_lines(const char *path, int gen, long from, long to, int pad)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return -1;
    char buf[65536];
    size_t o = 0;
    int rc = 0;
    for (long i = from; i < to && rc == 0; i++) {
        if (o + 512 > sizeof(buf)) {
            rc = tu_write_all(fd, buf, o);
            o = 0;
        }
        o += tu_line(buf + o, sizeof(buf) - o, gen, i, pad);
    }
    if (rc == 0 && o > 0)
        rc = tu_write_all(fd, buf, o);
    close(fd);
    return rc;
}

int tu_writer_main(void *ctx)
{
    const struct tu_writer *w = ctx;
    int fd = open(w->path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return 1;
    uint64_t rng = w->seed ^ 0x9e3779b97f4a7c15ULL;
    char buf[1 << 16];
    size_t n = 0;
    long b = 0;
    for (long i = 0; i < w->valid; i++) {
        n += tu_line(buf + n, sizeof(buf) - n, 0, i, (int)(tu_rand(&rng) % 60));
        if (i % 97 == 96 && b < w->bad)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "bad %ld\n", b++);
        if (n > 2048 || i + 1 == w->valid) {
            size_t o = 0;
            while (o < n) {
                size_t k = 1 + (size_t)(tu_rand(&rng) % 700);
                if (k > n - o)
                    k = n - o;
                if (tu_write_all(fd, buf + o, k) != 0)
                    return 2;
                o += k;
            }
            n = 0;
        }
        if (i % w->per_ms == 0)
            lbt_sleep_ms(1);
    }
    close(fd);
    return 0;
}

int tu_check_bad(redisContext *c, const char *dlq, long n, char *why, size_t cap)
{
    struct lbt_entry *e;
    long ne = lbt_xrange_all(c, dlq, &e);
    int rc = 0;
    if (ne != n) {
        snprintf(why, cap, "%s holds %ld entries, expected %ld", dlq, ne, n);
        rc = -1;
    }
    for (long i = 0; i < ne && rc == 0; i++) {
        const char *raw = lbt_field(&e[i], "raw");
        char want[32];
        snprintf(want, sizeof(want), "bad %ld", i);
        if (raw == NULL || strcmp(raw, want) != 0) {
            snprintf(why, cap, "%s entry %ld is '%s', expected '%s'", dlq, i, raw ? raw : "(none)",
                     want);
            rc = -1;
        }
    }
    lbt_entries_free(e, ne);
    return rc;
}

int tu_scale(void)
{
    const char *s = getenv("LB_TEST_SCALE");
    int n = s ? atoi(s) : 1;
    return n < 1 ? 1 : n;
}

uint64_t tu_seed(const char *what)
{
    const char *s = getenv("LB_TEST_SEED");
    uint64_t seed;
    if (s != NULL && *s) {
        seed = strtoull(s, NULL, 10);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
    }
    printf("%s: seed %" PRIu64 " (LB_TEST_SEED=%" PRIu64 " repeats it)\n", what, seed, seed);
    fflush(stdout);
    return seed ? seed : 1;
}

uint64_t tu_rand(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void tu_args_init(struct tu_args *a)
{
    a->n = 0;
    a->v[0] = NULL;
}

void tu_args_add(struct tu_args *a, ...)
{
    va_list ap;
    va_start(ap, a);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        if (a->n + 1 < (int)(sizeof(a->v) / sizeof(a->v[0])))
            a->v[a->n++] = s;
    va_end(ap);
    a->v[a->n] = NULL;
}

pid_t tu_fork(int (*fn)(void *), void *ctx)
{
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p == 0)
        _exit(fn(ctx));
    return p;
}

int tu_try_wait(pid_t pid, int *code)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r != pid)
        return 0;
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 1;
}

static long long tu_json_num(const char *s, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(s, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static unsigned long long tu_json_unum(const char *s, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(s, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

long long tu_ckpt_off(redisContext *c, const char *ckpt_key, const char *src, long long *line)
{
    redisReply *r = redisCommand(c, "HGET %s %s", ckpt_key, src);
    long long off = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        off = tu_json_num(r->str, "off");
        if (line != NULL)
            *line = tu_json_num(r->str, "line");
    }
    freeReplyObject(r);
    return off;
}

int tu_ckpt_ident(redisContext *c, const char *ckpt_key, const char *src, unsigned long long *dev,
                  unsigned long long *ino)
{
    redisReply *r = redisCommand(c, "HGET %s %s", ckpt_key, src);
    int rc = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        *dev = tu_json_unum(r->str, "dev");
        *ino = tu_json_unum(r->str, "ino");
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

struct tu_xlen_ctx {
    redisContext *c;
    const char *key, *src;
    long long n;
};

static int tu_xlen_ok(void *p)
{
    struct tu_xlen_ctx *x = p;
    return lbt_xlen(x->c, x->key) >= x->n;
}

int tu_wait_xlen(redisContext *c, const char *key, long long n, int timeout_ms)
{
    struct tu_xlen_ctx x = {c, key, NULL, n};
    return lbt_wait_for(tu_xlen_ok, &x, timeout_ms);
}

static int tu_ckpt_ok(void *p)
{
    struct tu_xlen_ctx *x = p;
    return tu_ckpt_off(x->c, x->key, x->src, NULL) >= x->n;
}

int tu_wait_ckpt(redisContext *c, const char *ckpt_key, const char *src, long long want,
                 int timeout_ms)
{
    struct tu_xlen_ctx x = {c, ckpt_key, src, want};
    return lbt_wait_for(tu_ckpt_ok, &x, timeout_ms);
}

int tu_check_seq(redisContext *c, const char *stream, const char *src, long n, int strict,
                 char *why, size_t cap)
{
    struct lbt_entry *e = NULL;
    long ne = lbt_xrange_all(c, stream, &e);
    if (ne < 0) {
        snprintf(why, cap, "XRANGE %s failed", stream);
        return -1;
    }
    unsigned char *seen = calloc((size_t)n + 1, 1);
    long last_by_gen[64];
    for (int g = 0; g < 64; g++)
        last_by_gen[g] = -1;
    long last = -1, count = 0, dups = 0, out_of_range = 0, disorder = 0;
    char first[256] = "";
    for (long i = 0; i < ne; i++) {
        if (src != NULL) {
            const char *s = lbt_field(&e[i], "src");
            if (s == NULL || strcmp(s, src) != 0)
                continue;
        }
        const char *type = lbt_field(&e[i], "type");
        const char *data = lbt_field(&e[i], "data");
        if (type == NULL || data == NULL || type[0] != 'g') {
            if (!first[0])
                snprintf(first, sizeof(first), "entry %s lacks type/data", e[i].id);
            out_of_range++;
            continue;
        }
        int gen = atoi(type + 1) & 63;
        long seq = strtol(data, NULL, 10);
        count++;
        if (seq < 0 || seq >= n) {
            if (!first[0])
                snprintf(first, sizeof(first), "entry %s has seq %ld, outside 0..%ld", e[i].id, seq,
                         n - 1);
            out_of_range++;
            continue;
        }
        if (seen[seq]) {
            if (!first[0])
                snprintf(first, sizeof(first), "seq %ld is twice (again at %s)", seq, e[i].id);
            dups++;
        }
        seen[seq] = 1;
        if (seq <= last_by_gen[gen] || (strict && seq <= last)) {
            if (!first[0])
                snprintf(first, sizeof(first), "seq %ld at %s comes after %ld", seq, e[i].id,
                         strict ? last : last_by_gen[gen]);
            disorder++;
        }
        last_by_gen[gen] = seq;
        last = seq;
    }
    long missing = 0, first_missing = -1;
    char ranges[200] = "";
    size_t rl = 0;
    for (long i = 0; i < n; i++)
        if (!seen[i]) {
            if (first_missing < 0)
                first_missing = i;
            missing++;
            long j = i;
            while (j + 1 < n && !seen[j + 1])
                j++;
            if (rl + 40 < sizeof(ranges))
                rl += (size_t)snprintf(ranges + rl, sizeof(ranges) - rl, " %ld-%ld", i, j);
            missing += j - i;
            i = j;
        }
    free(seen);
    lbt_entries_free(e, ne);
    if (dups == 0 && missing == 0 && out_of_range == 0 && disorder == 0)
        return 0;
    snprintf(why, cap,
             "%ld entries for %ld lines: %ld missing (first %ld; ranges%s), %ld duplicates, "
             "%ld out of order, %ld foreign; first problem: %s",
             count, n, missing, first_missing, ranges, dups, disorder, out_of_range, first);
    return -1;
}

long long tu_cpu_ticks(pid_t pid)
{
    char p[64], buf[2048];
    snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* fields after the command name (which may hold spaces): state is 3 */
    char *q = strrchr(buf, ')');
    if (q == NULL)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

long tu_rss_kib(pid_t pid)
{
    char p[64], buf[4096];
    snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *q = strstr(buf, "VmRSS:");
    return q ? strtol(q + 6, NULL, 10) : -1;
}

void tu_dump(const char *path, size_t last)
{
    size_t n = 0;
    char *s = lbt_read_file(path, &n);
    if (s == NULL)
        return;
    fprintf(stderr, "--- end of %s:\n%s\n---\n", path, n > last ? s + n - last : s);
    free(s);
}

int tu_file_has(const char *path, const char *needle)
{
    char *s = lbt_read_file(path, NULL);
    int r = s != NULL && strstr(s, needle) != NULL;
    free(s);
    return r;
}

long long tu_fd_pos(pid_t pid, const char *path)
{
    char d[64];
    snprintf(d, sizeof(d), "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(d);
    if (dir == NULL)
        return -1;
    long long pos = -1;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL && pos < 0) {
        char l[400], target[4096];
        snprintf(l, sizeof(l), "%s/%s", d, de->d_name);
        ssize_t n = readlink(l, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, path) != 0)
            continue;
        char info[400], buf[512];
        snprintf(info, sizeof(info), "/proc/%d/fdinfo/%s", (int)pid, de->d_name);
        int fd = open(info, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (r > 0) {
            buf[r] = '\0';
            char *p = strstr(buf, "pos:");
            if (p != NULL)
                pos = strtoll(p + 4, NULL, 10);
        }
    }
    closedir(dir);
    return pos;
}

static int tu_has_report(const char *s)
{
    return strstr(s, "Sanitizer") != NULL || strstr(s, "runtime error:") != NULL;
}

int tu_text_sane(const char *text)
{
    if (text == NULL || !tu_has_report(text))
        return 0;
    fprintf(stderr, "--- a sanitizer report:\n%s\n---\n", text);
    return -1;
}

int tu_log_sane(const char *path)
{
    char *s = lbt_read_file(path, NULL);
    int rc = tu_text_sane(s);
    free(s);
    return rc;
}

struct tu_log_ctx {
    const char *path, *needle;
};

static int tu_log_has(void *p)
{
    struct tu_log_ctx *x = p;
    return tu_file_has(x->path, x->needle);
}

int tu_wait_log(const char *path, const char *needle, int timeout_ms)
{
    struct tu_log_ctx x = {path, needle};
    return lbt_wait_for(tu_log_has, &x, timeout_ms);
}
