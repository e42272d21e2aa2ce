/*
 * test_log.c - the process logger (bridge/log.c): SIGHUP's reopen while other
 * threads log and open files of their own (issue 9 item 7).
 *
 * Under `run` the job threads write to the log fd without a lock while the
 * main thread reopens it on SIGHUP, and a mirror thread may reopen its own
 * file on the same SIGHUP. The log's fd number must stay the log's: if the
 * reopen freed it, the mirror's open could get it and a job's log line would
 * land in the mirror file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#include <cjson/cJSON.h>

struct fx {
    char dir[64];
    char log[128];
    char other[128];
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/lb-log-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->log, sizeof(f->log), "%s/bridge.log", f->dir);
    snprintf(f->other, sizeof(f->other), "%s/mirror.log", f->dir);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    lb_log_close();
    DIR *d = opendir(f->dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char p[PATH_MAX];
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The fd number whose /proc link names path, or -1. */
static int fd_of(const char *path)
{
    for (int fd = 0; fd < 1024; fd++) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, path) == 0)
            return fd;
    }
    return -1;
}

/* After a reopen the number the logger wrote to still names the log (the new
 * file), and a file opened next gets another number. */
static void log_reopen_keeps_the_fd_number(void **state)
{
    struct fx *f = *state;
    assert_int_equal(lb_log_open(LB_LOG_INFO, 0, f->log), 0);
    int fd = fd_of(f->log);
    assert_true(fd > 2);
    char rotated[160];
    snprintf(rotated, sizeof(rotated), "%s.1", f->log);
    assert_int_equal(rename(f->log, rotated), 0);
    assert_int_equal(lb_log_reopen(), 0);
    int other = open(f->other, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(other >= 0);
    assert_int_not_equal(other, fd);
    assert_int_equal(fd_of(f->log), fd);
    /* and still close-on-exec */
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    lb_info("after the reopen");
    close(other);
    struct stat st;
    assert_int_equal(stat(f->log, &st), 0);
    assert_true(st.st_size > 0);
    assert_int_equal(stat(f->other, &st), 0);
    assert_int_equal(st.st_size, 0);
}

#define LOGGERS 3
#define LINES 20000

struct race {
    atomic_int loggers_left;
    long other_writes;
    const char *other;
};

static void *logger_main(void *arg)
{
    struct race *r = arg;
    static atomic_int next_id;
    int id = atomic_fetch_add(&next_id, 1);
    for (int i = 0; i < LINES; i++)
        lb_info("logline t=%d i=%d", id, i);
    atomic_fetch_sub(&r->loggers_left, 1);
    return NULL;
}

/* What a mirror job does on SIGHUP: close its file and open it again. */
static void *reopener_main(void *arg)
{
    struct race *r = arg;
    while (atomic_load(&r->loggers_left) > 0) {
        int fd = open(r->other, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "MIRROR\n", 7), 7);
        r->other_writes++;
        close(fd);
    }
    return NULL;
}

/* Count lines of a file: those equal to want (when not NULL) go to *good,
 * the others to *bad; lines containing "logline" to *logged. */
static void count_lines(const char *path, const char *want, long *good, long *bad, long *logged)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[512];
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (want != NULL) {
            if (strcmp(line, want) == 0)
                (*good)++;
            else
                (*bad)++;
        }
        if (strstr(line, "logline") != NULL)
            (*logged)++;
    }
    fclose(fp);
}

/* Job threads log, a mirror-like thread reopens its file, the main thread
 * rotates and reopens the log as fast as it can: every log line is in a log
 * generation, and the other file holds only its own lines. */
static void log_reopen_under_threads_keeps_lines_in_the_log(void **state)
{
    struct fx *f = *state;
    assert_int_equal(lb_log_open(LB_LOG_INFO, 0, f->log), 0);
    struct race r = {.other = f->other};
    atomic_store(&r.loggers_left, LOGGERS);
    pthread_t t[LOGGERS + 1];
    for (int i = 0; i < LOGGERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, logger_main, &r), 0);
    assert_int_equal(pthread_create(&t[LOGGERS], NULL, reopener_main, &r), 0);
    int gens = 0;
    while (atomic_load(&r.loggers_left) > 0) {
        char rotated[160];
        snprintf(rotated, sizeof(rotated), "%s.%d", f->log, ++gens);
        assert_int_equal(rename(f->log, rotated), 0);
        assert_int_equal(lb_log_reopen(), 0);
    }
    for (int i = 0; i <= LOGGERS; i++)
        pthread_join(t[i], NULL);
    lb_log_close();

    long good = 0, bad = 0, logged_other = 0;
    count_lines(f->other, "MIRROR\n", &good, &bad, &logged_other);
    assert_int_equal(bad, 0);
    assert_int_equal(logged_other, 0);
    assert_int_equal(good, r.other_writes);

    long logged = 0, unused = 0;
    count_lines(f->log, NULL, &unused, &unused, &logged);
    for (int g = 1; g <= gens; g++) {
        char rotated[160];
        snprintf(rotated, sizeof(rotated), "%s.%d", f->log, g);
        count_lines(rotated, NULL, &unused, &unused, &logged);
    }
    assert_int_equal(logged, (long)LOGGERS * LINES);
    print_message("%d reopens, %ld reopens of the other file\n", gens, r.other_writes);
}

/* The last line of the log file (NUL-terminated, malloc'ed). */
static char *last_line(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char buf[8192], *last = NULL;
    while (fgets(buf, sizeof(buf), fp) != NULL) {
        free(last);
        last = strdup(buf);
    }
    fclose(fp);
    assert_non_null(last);
    return last;
}

/* Fields: JSON members of their type (strings escaped, numbers bare, a NULL
 * string left out); in text " key=value" after the message, quoted when a
 * value has a space, a quote or an '='. */
static void log_kv_fields_in_json_and_text(void **state)
{
    struct fx *f = *state;
    assert_int_equal(lb_log_open(LB_LOG_INFO, 1, f->log), 0);
    lb_warn_kv(LB_FIELDS(LB_F_STR("src", "/var/log/a \"b\"\\c.log"),
                         LB_F_U64("off", 18446744073709551615ULL), LB_F_STR("none", NULL),
                         LB_F_STR("stream", "s\n2")),
               "lost %d bytes", 7);
    char *l = last_line(f->log);
    cJSON *o = cJSON_Parse(l);
    if (!cJSON_IsObject(o))
        fail_msg("not JSON: %s", l);
    assert_string_equal(cJSON_GetObjectItem(o, "msg")->valuestring, "lost 7 bytes");
    assert_string_equal(cJSON_GetObjectItem(o, "level")->valuestring, "warn");
    assert_string_equal(cJSON_GetObjectItem(o, "src")->valuestring, "/var/log/a \"b\"\\c.log");
    assert_string_equal(cJSON_GetObjectItem(o, "stream")->valuestring, "s\n2");
    assert_null(cJSON_GetObjectItem(o, "none"));
    assert_non_null(strstr(l, "\"off\":18446744073709551615"));
    cJSON_Delete(o);
    free(l);
    /* below the level: nothing */
    lb_debug("quiet");
    lb_log_kv(LB_LOG_DEBUG, LB_FIELDS(LB_F_STR("src", "x")), "quiet");
    l = last_line(f->log);
    assert_null(strstr(l, "quiet"));
    free(l);

    assert_int_equal(lb_log_open(LB_LOG_INFO, 0, f->log), 0);
    lb_info_kv(LB_FIELDS(LB_F_STR("src", "/var/log/a.log"), LB_F_U64("off", 12),
                         LB_F_STR("file", "/x/my file.log"), LB_F_STR("empty", "")),
               "rotated");
    l = last_line(f->log);
    const char *want = " logbridge info: rotated src=/var/log/a.log off=12 file=\"/x/my file.log\" "
                       "empty=\"\"\n";
    if (strstr(l, want) == NULL)
        fail_msg("'%s' lacks '%s'", l, want);
    free(l);
    /* without fields, as before */
    lb_info("plain %s", "message");
    l = last_line(f->log);
    assert_non_null(strstr(l, " logbridge info: plain message\n"));
    free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(log_reopen_keeps_the_fd_number, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(log_kv_fields_in_json_and_text, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(log_reopen_under_threads_keeps_lines_in_the_log, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
