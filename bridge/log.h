/*
 * log.h - the process logger: the one global besides the signal flags.
 *
 * Text ("2025-06-18T10:00:00.123Z logbridge warn: msg key=value") or JSON
 * lines ({"time","level","msg",key:value...}), to stderr or a file that
 * SIGHUP reopens.
 *
 * Context (which file, offset, inode, stream, mirror file) goes in fields,
 * not inside the message, so that a JSON reader can filter on them:
 *
 *   lb_warn_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_U64("off", off)),
 *              "truncated below what was read: %llu bytes are lost", n);
 *
 * text: "... warn: truncated below what was read: 12 bytes are lost src=/x off=3"
 * json: {"time":...,"level":"warn","msg":"truncated ...","src":"/x","off":3}
 * Field names used across logbridge: src, off, line, dev, ino, file, dir,
 * stream, id.
 */
#ifndef LB_LOG_H
#define LB_LOG_H

enum lb_log_level { LB_LOG_ERROR = 0, LB_LOG_WARN, LB_LOG_INFO, LB_LOG_DEBUG };

/* Returns 0, or -1 for an unknown name. */
int lb_log_level_parse(const char *name, enum lb_log_level *out);

/* Configure the logger; path NULL = stderr. Returns 0 or -1 (errno set). */
int lb_log_open(enum lb_log_level level, int json, const char *path);
/* Reopen the log file (after logrotate moved it). */
int lb_log_reopen(void);
void lb_log_close(void);
int lb_log_enabled(enum lb_log_level level);

void lb_log(enum lb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum lb_log_kind { LB_LOG_STR, LB_LOG_U64 };

/* One field: a string (NULL: left out) or an unsigned number. */
struct lb_log_field {
    const char *key;
    enum lb_log_kind kind;
    const char *s;
    unsigned long long u;
};

#define LB_F_STR(k, v)                                                                             \
    {                                                                                              \
        .key = (k), .kind = LB_LOG_STR, .s = (v)                                                   \
    }
#define LB_F_U64(k, v)                                                                             \
    {                                                                                              \
        .key = (k), .kind = LB_LOG_U64, .u = (unsigned long long)(v)                               \
    }
/* The fields of one line (a compound literal, ended by a NULL key). */
#define LB_FIELDS(...) ((const struct lb_log_field[]){__VA_ARGS__, {.key = NULL}})

/* lb_log with fields (NULL: none). */
void lb_log_kv(enum lb_log_level level, const struct lb_log_field *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define lb_error_kv(f, ...) lb_log_kv(LB_LOG_ERROR, f, __VA_ARGS__)
#define lb_warn_kv(f, ...) lb_log_kv(LB_LOG_WARN, f, __VA_ARGS__)
#define lb_info_kv(f, ...) lb_log_kv(LB_LOG_INFO, f, __VA_ARGS__)

#define lb_error_log(...) lb_log(LB_LOG_ERROR, __VA_ARGS__)
#define lb_warn(...) lb_log(LB_LOG_WARN, __VA_ARGS__)
#define lb_info(...) lb_log(LB_LOG_INFO, __VA_ARGS__)
#define lb_debug(...)                                                                              \
    do {                                                                                           \
        if (lb_log_enabled(LB_LOG_DEBUG))                                                          \
            lb_log(LB_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

#endif
