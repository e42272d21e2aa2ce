/*
 * log.c - the process logger and lb_error_set.
 *
 * The logger is process state by design (STYLE.md allows it): every job logs
 * through it, and SIGHUP reopens its file. Writes are one write(2) per line
 * so that lines from a crashing process are whole.
 */
#include "log.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    enum lb_log_level level;
    int json;
    int fd;
    char *path;
} lb_logger = {LB_LOG_INFO, 0, 2, NULL};

static const char *const lb_level_names[] = {"error", "warn", "info", "debug"};

int lb_error_set(struct lb_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int lb_log_level_parse(const char *name, enum lb_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, lb_level_names[i]) == 0) {
            *out = (enum lb_log_level)i;
            return 0;
        }
    }
    return -1;
}

static int lb_log_openfd(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int lb_log_open(enum lb_log_level level, int json, const char *path)
{
    lb_logger.level = level;
    lb_logger.json = json;
    if (path == NULL)
        return 0;
    int fd = lb_log_openfd(path);
    if (fd < 0)
        return -1;
    lb_log_close();
    lb_logger.fd = fd;
    lb_logger.path = strdup(path);
    return 0;
}

/*
 * Reopen onto the same fd number. Other threads (the jobs of `run`) write to
 * lb_logger.fd at any time without a lock, so the number must never be
 * closed and freed: with "open new, swap, close old",
 *  1. a job thread loads lb_logger.fd (old) and is about to write(2);
 *  2. this thread swaps in the new fd and closes old;
 *  3. a mirror thread reopening its file on the same SIGHUP gets old's number;
 *  4. the job's log line lands in the mirror file (and its checkpointed size).
 * dup3 replaces the file behind the number atomically: a write lands in the
 * old file or the new one, never in another. dup3, not dup2, keeps
 * O_CLOEXEC on the number.
 */
int lb_log_reopen(void)
{
    if (lb_logger.path == NULL)
        return 0;
    int fd = lb_log_openfd(lb_logger.path);
    if (fd < 0)
        return -1;
    if (dup3(fd, lb_logger.fd, O_CLOEXEC) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    return 0;
}

void lb_log_close(void)
{
    if (lb_logger.path != NULL) {
        close(lb_logger.fd);
        free(lb_logger.path);
        lb_logger.path = NULL;
    }
    lb_logger.fd = 2;
}

int lb_log_enabled(enum lb_log_level level)
{
    return level <= lb_logger.level;
}

/* JSON string body escaping for the message (log lines are not hot). */
static size_t lb_log_json_escape(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s != '\0' && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

/* A text value as is, or quoted when a reader could not tell where it ends. */
static size_t lb_log_text_value(const char *v, char *out, size_t cap)
{
    int quote = *v == '\0' || strpbrk(v, " \"=\\") != NULL;
    for (const char *p = v; *p && !quote; p++)
        quote = (unsigned char)*p < 0x20;
    if (!quote)
        return (size_t)snprintf(out, cap, "%s", v);
    size_t o = 0;
    out[o++] = '"';
    o += lb_log_json_escape(v, out + o, cap - o - 2);
    out[o++] = '"';
    out[o] = '\0';
    return o;
}

/* The fields after the message: " key=value" (text) or ,"key":value (JSON). */
static size_t lb_log_fields(const struct lb_log_field *f, int json, char *out, size_t cap)
{
    size_t o = 0;
    char num[32];
    for (; f != NULL && f->key != NULL && o + 40 < cap; f++) {
        if (f->kind == LB_LOG_STR && f->s == NULL)
            continue;
        const char *v = f->s;
        if (f->kind == LB_LOG_U64) {
            snprintf(num, sizeof(num), "%llu", f->u);
            v = num;
        }
        if (json) {
            o += (size_t)snprintf(out + o, cap - o, ",\"");
            o += lb_log_json_escape(f->key, out + o, cap - o);
            o += (size_t)snprintf(out + o, cap - o, "\":%s", f->kind == LB_LOG_STR ? "\"" : "");
            o += lb_log_json_escape(v, out + o, cap - o - 2);
            if (f->kind == LB_LOG_STR)
                out[o++] = '"';
        } else {
            o += (size_t)snprintf(out + o, cap - o, " %s=", f->key);
            if (o < cap)
                o += lb_log_text_value(v, out + o, cap - o);
        }
        if (o >= cap)
            o = cap - 1;
    }
    out[o] = '\0';
    return o;
}

static void lb_log_v(enum lb_log_level level, const struct lb_log_field *f, const char *fmt,
                     va_list ap)
{
    int saved = errno;
    char msg[2048], fields[2048], line[8400];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    lb_log_fields(f, lb_logger.json, fields, sizeof(fields));

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[96];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    size_t n;
    if (lb_logger.json) {
        n = (size_t)snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"",
                             when, lb_level_names[level]);
        n += lb_log_json_escape(msg, line + n, sizeof(line) - n - 4 - strlen(fields));
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\"%s}\n", fields);
    } else {
        n = (size_t)snprintf(line, sizeof(line), "%s logbridge %s: %s%s\n", when,
                             lb_level_names[level], msg, fields);
    }
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    ssize_t w = write(lb_logger.fd, line, n);
    (void)w;
    errno = saved;
}

void lb_log(enum lb_log_level level, const char *fmt, ...)
{
    if (!lb_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    lb_log_v(level, NULL, fmt, ap);
    va_end(ap);
}

void lb_log_kv(enum lb_log_level level, const struct lb_log_field *f, const char *fmt, ...)
{
    if (!lb_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    lb_log_v(level, f, fmt, ap);
    va_end(ap);
}
