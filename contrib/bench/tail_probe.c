/*
 * tail_probe.c - load and measurements for contrib/bench/bench_tail.sh.
 *
 *   tail_probe latency SOCK STREAM FILE RATE SECONDS
 *     A writer appends one line per write(2) at RATE lines/s, each carrying
 *     its write time (CLOCK_REALTIME ns) in DATA; a reader in XREAD BLOCK
 *     sees the entries and measures append -> entry visible. Prints
 *     "latency rate=R n=N p50=..us p99=..us max=..us".
 *
 *   tail_probe floor SOCK FILE RATE SECONDS
 *     What the machine allows, without logbridge: a writer appends as above
 *     and a thread woken by inotify reads the lines (write -> read), and a
 *     client does XADD + a read of it from a second connection (one round
 *     trip each). Prints p50/p99/max of both.
 *
 *   tail_probe throughput SOCK CKPTKEY FILE RATE SECONDS
 *     A writer appends at RATE lines/s (in 1 ms chunks) for SECONDS; every
 *     second the lag (file size - committed offset) is sampled. Prints the
 *     samples and "throughput rate=R sustained=yes|no ...": sustained when
 *     the lag stays below a quarter of a second of input (a rate that cannot
 *     be kept up with makes it grow without bound), the backlog is gone
 *     within 1 s of the writer stopping, and the writer did reach the rate.
 *
 * Built by the script with: cc -O2 -pthread tail_probe.c -lhiredis
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t mono_ns)
{
    struct timespec ts = {mono_ns / 1000000000, mono_ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static redisContext *conn(const char *sock)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectUnixWithTimeout(sock, tv);
    if (c == NULL || c->err) {
        fprintf(stderr, "cannot connect to %s\n", sock);
        exit(1);
    }
    return c;
}

/* ---- latency ------------------------------------------------------------------ */

struct lat {
    const char *sock, *stream, *file;
    long rate, total;
    int64_t *samples;
    long got;
    volatile int reader_ready;
};

static void *lat_reader(void *p)
{
    struct lat *L = p;
    redisContext *c = conn(L->sock);
    struct timeval tv = {30, 0};
    redisSetTimeout(c, tv);
    char last[64] = "$";
    L->reader_ready = 1;
    while (L->got < L->total) {
        redisReply *r =
            redisCommand(c, "XREAD COUNT 1000 BLOCK 5000 STREAMS %s %s", L->stream, last);
        int64_t t = now_ns(CLOCK_REALTIME);
        if (r == NULL) {
            fprintf(stderr, "XREAD failed\n");
            break;
        }
        if (r->type == REDIS_REPLY_NIL) {
            freeReplyObject(r);
            fprintf(stderr, "no entry for 5 s (got %ld of %ld)\n", L->got, L->total);
            break;
        }
        redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            redisReply *e = entries->element[i];
            snprintf(last, sizeof(last), "%s", e->element[0]->str);
            redisReply *f = e->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                if (strcmp(f->element[k]->str, "data") == 0 && L->got < L->total)
                    L->samples[L->got++] = t - strtoll(f->element[k + 1]->str, NULL, 10);
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int latency(int argc, char **argv)
{
    if (argc != 7)
        return 2;
    struct lat L = {argv[2], argv[3], argv[4], atol(argv[5]), 0, NULL, 0, 0};
    double secs = atof(argv[6]);
    L.total = (long)((double)L.rate * secs);
    L.samples = calloc((size_t)L.total + 1, sizeof(int64_t));
    int fd = open(L.file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0 || L.samples == NULL)
        return 1;
    pthread_t th;
    pthread_create(&th, NULL, lat_reader, &L);
    while (!L.reader_ready)
        usleep(1000);
    usleep(200000); /* the reader is in XREAD BLOCK */
    int64_t t0 = now_ns(CLOCK_MONOTONIC), step = 1000000000 / L.rate;
    char line[256];
    for (long i = 0; i < L.total; i++) {
        sleep_until(t0 + i * step);
        int n = snprintf(line, sizeof(line), "bench|2025-06-18T10:00:00.000Z|lat|%lld seq=%ld\n",
                         (long long)now_ns(CLOCK_REALTIME), i);
        if (write_all(fd, line, (size_t)n) != 0)
            return 1;
    }
    pthread_join(th, NULL);
    close(fd);
    if (L.got == 0) {
        printf("latency rate=%ld n=0\n", L.rate);
        return 1;
    }
    qsort(L.samples, (size_t)L.got, sizeof(int64_t), cmp64);
    printf("latency rate=%ld/s n=%ld p50=%.0fus p99=%.0fus max=%.0fus\n", L.rate, L.got,
           (double)L.samples[L.got / 2] / 1e3, (double)L.samples[(L.got * 99) / 100] / 1e3,
           (double)L.samples[L.got - 1] / 1e3);
    free(L.samples);
    return L.got == L.total ? 0 : 1;
}

/* ---- floor -------------------------------------------------------------------------- */

struct floor_ctx {
    const char *file;
    long total, got;
    int64_t *samples;
    int in, fd;
};

static void *floor_watcher(void *p)
{
    struct floor_ctx *F = p;
    char ev[4096], buf[65536];
    size_t have = 0; /* an incomplete line kept from the last read */
    while (F->got < F->total) {
        if (read(F->in, ev, sizeof(ev)) <= 0)
            break;
        ssize_t r;
        while ((r = read(F->fd, buf + have, sizeof(buf) - have)) > 0) {
            int64_t t = now_ns(CLOCK_REALTIME);
            size_t n = have + (size_t)r;
            char *q = buf;
            for (char *e; F->got < F->total && (e = memchr(q, '\n', (size_t)(buf + n - q)));
                 q = e + 1)
                F->samples[F->got++] = t - strtoll(q, NULL, 10);
            have = (size_t)(buf + n - q);
            memmove(buf, q, have);
        }
    }
    return NULL;
}

static void floor_report(const char *what, int64_t *v, long n)
{
    if (n == 0)
        return;
    qsort(v, (size_t)n, sizeof(int64_t), cmp64);
    printf("floor %s n=%ld p50=%.0fus p99=%.0fus max=%.0fus\n", what, n, (double)v[n / 2] / 1e3,
           (double)v[(n * 99) / 100] / 1e3, (double)v[n - 1] / 1e3);
}

static int floor_main(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    const char *sock = argv[2];
    long rate = atol(argv[4]);
    struct floor_ctx F = {argv[3], (long)((double)rate * atof(argv[5])), 0, NULL, -1, -1};
    F.samples = calloc((size_t)F.total + 1, sizeof(int64_t));
    int wfd = open(F.file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    F.in = inotify_init1(IN_CLOEXEC);
    F.fd = open(F.file, O_RDONLY);
    if (wfd < 0 || F.in < 0 || F.fd < 0 || F.samples == NULL ||
        inotify_add_watch(F.in, F.file, IN_MODIFY) < 0)
        return 1;
    lseek(F.fd, 0, SEEK_END);
    pthread_t th;
    pthread_create(&th, NULL, floor_watcher, &F);
    usleep(100000);
    int64_t t0 = now_ns(CLOCK_MONOTONIC), step = 1000000000 / rate;
    char line[64];
    for (long i = 0; i < F.total; i++) {
        sleep_until(t0 + i * step);
        int n = snprintf(line, sizeof(line), "%lld\n", (long long)now_ns(CLOCK_REALTIME));
        if (write_all(wfd, line, (size_t)n) != 0)
            return 1;
    }
    pthread_join(th, NULL);
    char what[64];
    snprintf(what, sizeof(what), "inotify write->read at %ld/s", rate);
    floor_report(what, F.samples, F.got);
    redisContext *a = conn(sock), *b = conn(sock);
    long m = rate < 2000 ? rate : 2000;
    t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < m; i++) {
        sleep_until(t0 + i * (1000000000 / rate));
        int64_t s0 = now_ns(CLOCK_REALTIME);
        freeReplyObject(redisCommand(a, "XADD floor * data %lld", (long long)s0));
        freeReplyObject(redisCommand(b, "XREVRANGE floor + - COUNT 1"));
        F.samples[i] = now_ns(CLOCK_REALTIME) - s0;
    }
    freeReplyObject(redisCommand(a, "DEL floor"));
    snprintf(what, sizeof(what), "redis XADD + read back (2 round trips) at %ld/s", rate);
    floor_report(what, F.samples, m);
    redisFree(a);
    redisFree(b);
    close(wfd);
    return 0;
}

/* ---- throughput ------------------------------------------------------------------- */

struct thr {
    const char *file;
    long rate;
    double secs;
    volatile int done;
    volatile long written;
};

static void *thr_writer(void *p)
{
    struct thr *T = p;
    int fd = open(T->file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 22;
    char *buf = malloc(cap);
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    long total = (long)((double)T->rate * T->secs), i = 0;
    for (long ms = 1; i < total; ms++) {
        long want = (long)((double)T->rate * (double)ms / 1000.0);
        if (want > total)
            want = total;
        size_t n = 0;
        for (; i < want; i++) {
            if (n + 128 > cap) {
                write_all(fd, buf, n);
                n = 0;
            }
            n += (size_t)snprintf(buf + n, cap - n,
                                  "web|2025-06-18T10:00:00.123Z|click|user=%ld page=/a/b/c\n", i);
        }
        if (n > 0 && write_all(fd, buf, n) != 0)
            break;
        T->written = i;
        sleep_until(t0 + ms * 1000000);
    }
    free(buf);
    close(fd);
    T->done = 1;
    return NULL;
}

static long long ckpt_off(redisContext *c, const char *key, const char *src)
{
    redisReply *r = redisCommand(c, "HGET %s %s", key, src);
    long long off = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "\"off\":");
        if (p)
            off = atoll(p + 6);
    }
    freeReplyObject(r);
    return off;
}

static int throughput(int argc, char **argv)
{
    if (argc != 7)
        return 2;
    const char *sock = argv[2], *key = argv[3];
    struct thr T = {argv[4], atol(argv[5]), atof(argv[6]), 0, 0};
    char src[4096];
    if (realpath(T.file, src) == NULL)
        snprintf(src, sizeof(src), "%s", T.file);
    redisContext *c = conn(sock);
    long long base = ckpt_off(c, key, src);
    if (base < 0)
        base = 0;
    struct stat st;
    long long size0 = stat(T.file, &st) == 0 ? (long long)st.st_size : 0;
    pthread_t th;
    pthread_create(&th, NULL, thr_writer, &T);
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    double first = -1, lastlag = 0, maxlag = 0;
    long bytes_per_line = 60;
    printf("throughput rate=%ld/s lag samples (bytes):", T.rate);
    for (int s = 1; !T.done; s++) {
        sleep_until(t0 + (int64_t)s * 1000000000);
        long long off = ckpt_off(c, key, src);
        long long size = stat(T.file, &st) == 0 ? (long long)st.st_size : 0;
        double lag = (double)(size - (off < 0 ? 0 : off));
        printf(" %.0f", lag);
        fflush(stdout);
        if (first < 0)
            first = lag;
        lastlag = lag;
        if (lag > maxlag)
            maxlag = lag;
    }
    pthread_join(th, NULL);
    long long size = stat(T.file, &st) == 0 ? (long long)st.st_size : 0;
    int64_t tw = now_ns(CLOCK_MONOTONIC);
    while (ckpt_off(c, key, src) < size && now_ns(CLOCK_MONOTONIC) - tw < 60000000000LL)
        usleep(1000);
    double drain = (double)(now_ns(CLOCK_MONOTONIC) - tw) / 1e9;
    double wall = (double)(tw - t0) / 1e9;
    if (T.written > 0)
        bytes_per_line = (long)((size - size0) / T.written);
    /* Keeping up means the backlog stays small (below a quarter of a second
     * of input: it grows without bound otherwise) and is gone soon after the
     * writer stops. */
    double quarter = 0.25 * (double)T.rate * (double)bytes_per_line;
    int sustained = maxlag <= quarter && drain < 1.0 && (double)T.written / wall > 0.9 * T.rate;
    printf("\nthroughput rate=%ld/s lines=%ld in %.1fs (%.0f lines/s written, %.1f MB) "
           "lag: first %.0f, last %.0f, max %.0f bytes; backlog gone %.2fs after the writer "
           "stopped: sustained=%s\n",
           T.rate, T.written, wall, (double)T.written / wall, (double)(size - size0) / 1e6, first,
           lastlag, maxlag, drain, sustained ? "yes" : "no");
    (void)base;
    redisFree(c);
    return sustained ? 0 : 3;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "latency") == 0)
        return latency(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "throughput") == 0)
        return throughput(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "floor") == 0)
        return floor_main(argc, argv);
    fprintf(stderr, "usage: tail_probe latency SOCK STREAM FILE RATE SECONDS\n"
                    "       tail_probe throughput SOCK CKPTKEY FILE RATE SECONDS\n"
                    "       tail_probe floor SOCK FILE RATE SECONDS\n");
    return 2;
}
