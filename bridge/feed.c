/*
 * feed.c - classify a line and queue it; see feed.h.
 *
 * jsonl strings are unescaped into a scratch area that lives as long as the
 * batch (the sink's arguments point into it), and is as large as the source's
 * buffer, because a batch never holds more line bytes than that buffer.
 */
#include "feed.h"

#include <stdlib.h>

struct lb_feed {
    int jsonl;
    int json_encoding;
    char *scratch;
    size_t cap, used;
};

struct lb_feed *lb_feed_create(int jsonl, int json_encoding, size_t scratch_cap,
                               struct lb_error *err)
{
    struct lb_feed *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    f->jsonl = jsonl;
    f->json_encoding = json_encoding;
    if (jsonl) {
        f->cap = scratch_cap;
        f->scratch = malloc(scratch_cap);
        if (f->scratch == NULL) {
            free(f);
            lb_error_set(err, LB_ENOMEM, "out of memory");
            return NULL;
        }
    }
    return f;
}

void lb_feed_destroy(struct lb_feed *f)
{
    if (f == NULL)
        return;
    free(f->scratch);
    free(f);
}

void lb_feed_reset(struct lb_feed *f)
{
    f->used = 0;
}

enum lb_reason lb_feed_classify(struct lb_feed *f, const struct lb_line *line,
                                struct lb_record *rec)
{
    if (line->too_long)
        return LB_REASON_TOO_LONG;
    enum lb_reason why;
    if (f->jsonl) {
        if (f->cap - f->used < line->n)
            return LB_REASON_TOO_LONG; /* cannot happen: see the file comment */
        why = lb_jsonl_parse(line->p, line->n, rec, f->scratch + f->used, f->cap - f->used);
        if (why == LB_PARSE_OK)
            f->used += line->n;
    } else {
        why = lb_pipe_parse(line->p, line->n, rec);
    }
    /* A JSON entry cannot carry bytes that are not UTF-8; checked on the
     * parsed fields so that jsonl's own escapes are already resolved. */
    if (why == LB_PARSE_OK && f->json_encoding &&
        !(lb_utf8_valid(rec->role.p, rec->role.n) && lb_utf8_valid(rec->ts.p, rec->ts.n) &&
          lb_utf8_valid(rec->type.p, rec->type.n) && lb_utf8_valid(rec->data.p, rec->data.n)))
        why = LB_REASON_INVALID_UTF8;
    return why;
}

int lb_feed_queue(struct lb_sink *k, enum lb_reason why, const struct lb_record *rec,
                  const struct lb_line *line, uint64_t line_no)
{
    if (why == LB_PARSE_OK)
        return lb_sink_add(k, rec, line->off, line_no);
    if (why == LB_PARSE_BLANK)
        return 0;
    size_t n = line->n < LB_SOURCE_RAW_MAX ? line->n : LB_SOURCE_RAW_MAX;
    size_t full = line->full_len;
    /* The '\r' of a CRLF ending is not part of the line (DESIGN.md section 1). */
    if (n == full && n > 0 && line->p[n - 1] == '\r')
        n--, full--;
    return lb_sink_add_bad(k, why, line->p, n, full, line->off, line_no);
}
