/*
 * test_http.c - --http ADDR:PORT (DESIGN.md section 5): /metrics serves the
 * same Prometheus text as the metrics file (strictly parsed), /health is 200
 * while every job is connected and 503 with a JSON body naming the job and
 * the reason while Redis is down, for tail, mirror and run; a bad address or
 * a port in use is exit 2 naming the option. The client is a plain socket
 * (lbt_http.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fx_tail.h"
#include "lbt_http.h"
#include "lbt_prom.h"
#include "lbtest.h"
#include "tail_util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 20000

/* ---- /health -------------------------------------------------------------------- */

struct health_want {
    int port;
    int status;      /* 200 or 503 */
    const char *job; /* a job that must be named with state */
    const char *state;
    char seen[2048];
};

/* The job object named job in a /health body, or NULL. */
static const cJSON *health_job(const cJSON *root, const char *job)
{
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(root, "jobs");
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "job");
        if (cJSON_IsString(n) && strcmp(n->valuestring, job) == 0)
            return j;
    }
    return NULL;
}

static int health_is(void *ctx)
{
    struct health_want *w = ctx;
    struct lbt_http_resp r;
    if (lbt_http_get(w->port, "/health", &r) != 0) {
        snprintf(w->seen, sizeof(w->seen), "(no answer)");
        return 0;
    }
    snprintf(w->seen, sizeof(w->seen), "%d %s %s", r.status, r.ctype, r.body);
    cJSON *root = cJSON_Parse(r.body);
    const cJSON *j = health_job(root, w->job);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "state");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    int ok = r.status == w->status && strcmp(r.ctype, "application/json") == 0 &&
             cJSON_IsString(st) && strcmp(st->valuestring, w->state) == 0 &&
             cJSON_IsString(status) &&
             strcmp(status->valuestring, w->status == 200 ? "ok" : "unavailable") == 0;
    /* a job that is not ok says why */
    if (ok && strcmp(w->state, "ok") != 0) {
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(j, "reason");
        ok = cJSON_IsString(why) && strstr(why->valuestring, "redis") != NULL;
    }
    cJSON_Delete(root);
    lbt_http_free(&r);
    return ok;
}

static void wait_health(struct fx_tail *t, int port, int status, const char *job, const char *state)
{
    struct health_want w = {port, status, job, state, ""};
    if (!lbt_wait_for(health_is, &w, WAIT_MS)) {
        tu_dump(t->log, 3000);
        fail_msg("/health: expected %d with job %s %s; got: %s", status, job, state, w.seen);
    }
}

/* ---- /metrics ------------------------------------------------------------------- */

/* GET /metrics, parsed strictly; the value of name{job=job} (NAN: absent). */
static double metrics_value(int port, const char *name, const char *k, const char *v)
{
    struct lbt_http_resp r;
    if (lbt_http_get(port, "/metrics", &r) != 0)
        fail_msg("GET /metrics: no answer");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "text/plain"));
    assert_non_null(strstr(r.ctype, "version=0.0.4"));
    struct lbt_prom p;
    if (lbt_prom_parse_strict(r.body, &p) != 0)
        fail_msg("/metrics is not strict Prometheus text: %s\n%s", p.err, r.body);
    const struct lbt_prom_sample *s = lbt_prom_find(&p, name, k, v, NULL);
    double x = s != NULL ? s->value : -1;
    lbt_prom_free(&p);
    lbt_http_free(&r);
    return x;
}

/* Wait until a sample of /metrics is at least min: XLEN shows a batch once
 * Redis ran its EXEC, a little before logbridge has read the reply and
 * counted it. */
static void wait_metric_at_least(int port, const char *name, const char *k, const char *v,
                                 double min)
{
    int64_t end = lbt_now_ms() + WAIT_MS;
    double x;
    while ((x = metrics_value(port, name, k, v)) < min) {
        if (lbt_now_ms() > end)
            fail_msg("%s{%s=\"%s\"} is %g, expected at least %g", name, k, v, x, min);
        lbt_sleep_ms(20);
    }
}

/* Every series of a parsed text, as "name{labels}" lines (to compare sets). */
static char *series_set(const char *text)
{
    struct lbt_prom p;
    if (lbt_prom_parse_strict(text, &p) != 0)
        fail_msg("not strict Prometheus text: %s\n%s", p.err, text);
    size_t cap = 1 + p.n * 2400, o = 0;
    char *out = calloc(1, cap);
    for (size_t i = 0; i < p.n; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s{%s}\n", p.s[i].name, p.s[i].labels);
    lbt_prom_free(&p);
    return out;
}

/* ---- tests ------------------------------------------------------------------------ */

static void http_tail_health_follows_redis(void **state)
{
    struct fx_tail *t = *state;
    int port = lbt_free_port();
    assert_true(port > 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 50, 10), 0);
    fx_tail_spawn(t, "--http", addr, "--metrics-file", t->metrics, t->path, NULL);
    fx_tail_wait_xlen(t, 50, WAIT_MS);
    wait_health(t, port, 200, "tail", "ok");
    assert_true(metrics_value(port, "logbridge_redis_up", "job", "tail") == 1);
    wait_metric_at_least(port, "logbridge_bytes_read_total", "src", t->path, 1);

    /* the same series as the file (written at exit or every 5 s: compare sets) */
    struct lbt_http_resp r;
    assert_int_equal(lbt_http_get(port, "/metrics", &r), 0);
    char *from_http = series_set(r.body);
    lbt_http_free(&r);

    /* Redis away: 503 naming the job and why; back: 200 */
    lbt_redis_kill(&t->r, SIGTERM);
    wait_health(t, port, 503, "tail", "down");
    assert_true(metrics_value(port, "logbridge_redis_up", "job", "tail") == 0);
    assert_int_equal(tu_append_lines(t->path, 0, 50, 80, 10), 0);
    assert_int_equal(lbt_redis_restart(&t->r), 0);
    redisFree(t->c);
    t->c = lbt_connect(&t->r);
    assert_non_null(t->c);
    wait_health(t, port, 200, "tail", "ok");
    fx_tail_wait_xlen(t, 80, WAIT_MS);
    assert_true(metrics_value(port, "logbridge_redis_up", "job", "tail") == 1);

    /* unknown paths and other methods */
    assert_int_equal(lbt_http_get(port, "/nope", &r), 0);
    assert_int_equal(r.status, 404);
    lbt_http_free(&r);
    assert_int_equal(lbt_http_req(port, "POST", "/metrics", &r), 0);
    assert_int_equal(r.status, 405);
    lbt_http_free(&r);
    assert_int_equal(lbt_http_req(port, "HEAD", "/health", &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    lbt_http_free(&r);

    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    char *text = lbt_read_file(t->metrics, NULL);
    assert_non_null(text);
    char *from_file = series_set(text);
    free(text);
    assert_string_equal(from_http, from_file);
    free(from_http);
    free(from_file);
    fx_tail_check_seq(t, t->path, 80, 1, 3000);
}

static void http_mirror_health_and_metrics(void **state)
{
    struct fx_tail *t = *state;
    int port = lbt_free_port();
    char addr[64], legacy[600];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", t->dir);
    const char *args[] = {"mirror", "--redis", t->r.url, "--stream", "s",
                          "--file", legacy,    "--http", addr,       NULL};
    t->pid = lbt_spawn(args, t->log);
    assert_true(t->pid > 0);
    wait_health(t, port, 200, "mirror", "ok");
    assert_true(metrics_value(port, "logbridge_mirror_lag_entries", "file", legacy) == 0);
    assert_true(metrics_value(port, "logbridge_redis_up", "job", "mirror") == 1);
    lbt_redis_kill(&t->r, SIGTERM);
    wait_health(t, port, 503, "mirror", "down");
    assert_int_equal(lbt_redis_restart(&t->r), 0);
    wait_health(t, port, 200, "mirror", "ok");
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
}

static void write_text(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void write_text(const char *path, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    assert_int_equal(lbt_write_file(path, text, (size_t)n), 0);
}

static void http_run_health_names_each_job(void **state)
{
    struct fx_tail *t = *state;
    int port = lbt_free_port();
    char cfg[600], legacy[600];
    snprintf(cfg, sizeof(cfg), "%s/config.json", t->dir);
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", t->dir);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 20, 10), 0);
    write_text(cfg,
               "{\"redis\": \"%s\", \"http\": \"127.0.0.1:%d\",\n"
               " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"s\"}],\n"
               " \"mirror\": [{\"stream\": \"s\", \"file\": \"%s\"}]}\n",
               t->r.url, port, t->path, legacy);
    const char *args[] = {"run", "--config", cfg, NULL};
    t->pid = lbt_spawn(args, t->log);
    assert_true(t->pid > 0);
    fx_tail_wait_xlen(t, 20, WAIT_MS);
    wait_health(t, port, 200, "tail[0]", "ok");
    wait_health(t, port, 200, "mirror[0]", "ok");
    wait_metric_at_least(port, "logbridge_batch_seconds_count", "job", "tail[0]", 1);
    lbt_redis_kill(&t->r, SIGTERM);
    wait_health(t, port, 503, "tail[0]", "down");
    wait_health(t, port, 503, "mirror[0]", "down");
    assert_int_equal(lbt_redis_restart(&t->r), 0);
    wait_health(t, port, 200, "tail[0]", "ok");
    wait_health(t, port, 200, "mirror[0]", "ok");
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
}

/* A port another socket holds. Returns the listening fd; *port set. */
static int hold_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void http_bad_address_or_port_in_use_is_exit_2(void **state)
{
    struct fx_tail *t = *state;
    char err[4096], addr[64], cfg[600], legacy[600];
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    static const char *const bad[] = {"9187",      "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
                                      "[::1:9187", "a:b:9187",  "127.0.0.1:x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(fx_tail_run(t, err, sizeof(err), "--http", bad[i], t->path, NULL), 2);
        if (strstr(err, "logbridge tail: --http: ") == NULL ||
            strstr(err, "Try 'logbridge tail --help'.") == NULL)
            fail_msg("--http %s: %s", bad[i], err);
    }
    int port;
    int fd = hold_port(&port);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--http", addr, t->path, NULL), 2);
    if (strstr(err, "--http: ") == NULL || strstr(err, "in use") == NULL)
        fail_msg("port in use: %s", err);
    assert_int_equal(tu_ckpt_off(t->c, "logbridge:ckpt:{s}", t->path, NULL), -1);
    /* a name that does not resolve */
    assert_int_equal(
        fx_tail_run(t, err, sizeof(err), "--http", "no-such-host.invalid:9187", t->path, NULL), 2);
    assert_non_null(strstr(err, "--http: no-such-host.invalid:9187"));

    /* the config key: check-config judges the syntax, run the binding */
    snprintf(cfg, sizeof(cfg), "%s/config.json", t->dir);
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", t->dir);
    write_text(cfg,
               "{\"redis\": \"%s\", \"http\": \"nope\",\n"
               " \"mirror\": [{\"stream\": \"s\", \"file\": \"%s\"}]}\n",
               t->r.url, legacy);
    const char *check[] = {"check-config", "--config", cfg, NULL};
    assert_int_equal(lbt_run(check, NULL, 0, err, sizeof(err), NULL, 0), 2);
    if (strstr(err, ": http: expected ADDR:PORT") == NULL)
        fail_msg("%s", err);
    write_text(cfg,
               "{\"redis\": \"%s\", \"http\": \"%s\",\n"
               " \"mirror\": [{\"stream\": \"s\", \"file\": \"%s\"}]}\n",
               t->r.url, addr, legacy);
    const char *run[] = {"run", "--config", cfg, NULL};
    assert_int_equal(lbt_run(run, NULL, 0, err, sizeof(err), NULL, 0), 2);
    if (strstr(err, "config.json: http: ") == NULL || strstr(err, "in use") == NULL)
        fail_msg("run, port in use: %s", err);
    /* inside a job entry it is the process's option */
    write_text(cfg,
               "{\"redis\": \"%s\",\n"
               " \"mirror\": [{\"stream\": \"s\", \"file\": \"%s\", \"http\": \"%s\"}]}\n",
               t->r.url, legacy, addr);
    assert_int_equal(lbt_run(check, NULL, 0, err, sizeof(err), NULL, 0), 2);
    assert_non_null(strstr(err, "mirror[0].http: is a process-wide option"));
    close(fd);
    /* one-shot commands have nothing to serve */
    const char *imp[] = {"import", "--redis", t->r.url, "--stream", "s",
                         "--http", addr,      t->path,  NULL};
    assert_int_equal(lbt_run(imp, NULL, 0, err, sizeof(err), NULL, 0), 2);
    assert_non_null(strstr(err, "unknown option '--http'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(http_tail_health_follows_redis, fx_tail_setup_aof,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(http_mirror_health_and_metrics, fx_tail_setup_aof,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(http_run_health_names_each_job, fx_tail_setup_aof,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(http_bad_address_or_port_in_use_is_exit_2, fx_tail_setup,
                                        fx_tail_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
