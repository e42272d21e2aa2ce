/*
 * record.h - the legacy event record and the pure parsers around it.
 *
 * Everything declared here is pure: bytes in, records out, no I/O, no Redis,
 * no allocation.  A record is a set of slices into the caller's line buffer
 * (pipe format) or into a caller-provided scratch buffer (jsonl, whose strings
 * must be unescaped), so parsing a line never calls malloc.
 *
 * Contract: ../shared/DESIGN.md section 1 (the line), section 2 (the entry),
 * section 5 (mirror's CR/LF escape).
 */
#ifndef LB_RECORD_H
#define LB_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* A byte range; not NUL-terminated. */
struct lb_slice {
    const char *p;
    size_t n;
};

/* Result of parsing one line. LB_PARSE_OK and LB_PARSE_BLANK are not errors;
 * every other value is a bad-line reason code (DESIGN.md section 3). */
enum lb_reason {
    LB_PARSE_OK = 0,
    LB_PARSE_BLANK,         /* empty line or "\r" alone: skipped, counted */
    LB_REASON_FIELDS,       /* fewer than three '|' (or jsonl: a key missing) */
    LB_REASON_ROLE,         /* ROLE empty, > 255 bytes, or has a control byte */
    LB_REASON_TYPE,         /* TYPE empty, > 255 bytes, or has a control byte */
    LB_REASON_TIMESTAMP,    /* TIMESTAMP does not parse */
    LB_REASON_TOO_LONG,     /* longer than --max-line (decided by the reader) */
    LB_REASON_INVALID_UTF8, /* json encoding only (decided by the caller) */
    LB_REASON_JSON,         /* jsonl: not a JSON object, or a key of the wrong type */
};

/* "fields", "role", ... for the reason codes; "ok"/"blank" for the others. */
const char *lb_reason_name(enum lb_reason r);

struct lb_record {
    struct lb_slice role;
    struct lb_slice ts; /* verbatim */
    struct lb_slice type;
    struct lb_slice data; /* may be empty; may contain '|' */
    int64_t ts_ms;        /* parsed TIMESTAMP, ms since epoch UTC, sub-ms truncated */
};

#define LB_FIELD_MAX 255 /* ROLE and TYPE are 1..255 bytes */

/* ---- timestamp.c ------------------------------------------------------ */

/* Parse a TIMESTAMP (RFC 3339 / ISO-8601 date-time, or an epoch number by
 * digit count: <=11 s [.frac], 13 ms, 16 us, 19 ns). Returns 0 and sets *ms,
 * or -1 when it is not valid. Negative epochs and years before 1970 are
 * allowed where the form allows them (ms may be negative). */
int lb_ts_parse(const char *s, size_t n, int64_t *ms);

/* Format ms since epoch as "2025-06-18T10:00:00.123Z" into out (>= 32 bytes).
 * Returns the length written (not counting the NUL). */
size_t lb_ts_format_ms(int64_t ms, char *out);

/* ---- pipe.c ----------------------------------------------------------- */

/* Parse one legacy line. `line` excludes the '\n'; a trailing '\r' is dropped
 * here. The line length limit is the reader's job (LB_REASON_TOO_LONG).
 * On LB_PARSE_OK, rec's slices point into `line`. */
enum lb_reason lb_pipe_parse(const char *line, size_t n, struct lb_record *rec);

/* ---- jsonl.c ---------------------------------------------------------- */

/* Parse one jsonl line: an object with keys "role", "timestamp", "type"
 * (strings) and "data" (any JSON value; a non-string is kept as its compact
 * JSON text). Other keys are ignored. Unescaped strings are written into
 * scratch[0..cap); rec's slices point into `line` or `scratch`. scratch must
 * hold at least n bytes (unescaping and compacting never grow the text).
 * Same validity rules as the pipe format (role/type/timestamp). */
enum lb_reason lb_jsonl_parse(const char *line, size_t n, struct lb_record *rec, char *scratch,
                              size_t cap);

/* ---- format.c: record -> legacy line, and small text helpers ---------- */

/* Length (1..4) of the valid UTF-8 sequence at s, or 0 when none starts
 * there (Unicode table 3-7: no overlongs, no surrogates, <= U+10FFFF). */
size_t lb_utf8_seq_len(const char *s, size_t n);

/* 1 when s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int lb_utf8_valid(const char *s, size_t n);

/* 1 when a value can be a ROLE or TYPE of a legacy line written by mirror:
 * 1..255 bytes, no '|', no CR, no LF. */
int lb_format_field_ok(const char *s, size_t n);

/* Bytes needed for the escaped form of s (CR -> "\r", LF -> "\n", both as two
 * characters; nothing else, not even backslashes). */
size_t lb_format_escaped_len(const char *s, size_t n);

/* Write the escaped form of s into out (which has room for
 * lb_format_escaped_len bytes). Returns bytes written; adds the number of
 * escapes made to *escapes when escapes is not NULL. */
size_t lb_format_escape(const char *s, size_t n, char *out, size_t *escapes);

/* Write "role|ts|type|data\n" with the escape above applied to every field.
 * Returns the length, or 0 when cap is too small (nothing useful written).
 * The caller checks lb_format_field_ok on role and type first. */
size_t lb_format_line(const struct lb_record *rec, char *out, size_t cap, size_t *escapes);

/* Bytes needed for lb_format_line (including the '\n'). */
size_t lb_format_line_len(const struct lb_record *rec);

/* JSON string body escaping (no surrounding quotes): '"', '\\', control
 * bytes as \uXXXX or the short forms. The input must be valid UTF-8 for the
 * result to be valid JSON. Returns bytes written; out must have room for
 * lb_json_escaped_len(s, n). */
size_t lb_json_escaped_len(const char *s, size_t n);
size_t lb_json_escape(const char *s, size_t n, char *out);

#endif
