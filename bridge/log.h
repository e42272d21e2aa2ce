/*
 * log.h - the process logger: the one global besides the signal flags.
 *
 * Text ("2025-06-18T10:00:00.123Z warn msg key=value") or JSON lines, to
 * stderr or a file that SIGHUP reopens. Callers pass context as key=value
 * pairs inside the message; the JSON form keeps the message as one string.
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

#define lb_error_log(...) lb_log(LB_LOG_ERROR, __VA_ARGS__)
#define lb_warn(...) lb_log(LB_LOG_WARN, __VA_ARGS__)
#define lb_info(...) lb_log(LB_LOG_INFO, __VA_ARGS__)
#define lb_debug(...)                                                                              \
    do {                                                                                           \
        if (lb_log_enabled(LB_LOG_DEBUG))                                                          \
            lb_log(LB_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

#endif
