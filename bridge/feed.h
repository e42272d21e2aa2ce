/*
 * feed.h - the step between reader and sink that every file job shares:
 * a line is classified (blank, bad with a reason, or a record) and queued in
 * the sink, and the outcome counted.
 */
#ifndef LB_FEED_H
#define LB_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "sink.h"
#include "source.h"

struct lb_feed;

/* jsonl: --format jsonl; json_encoding: lines must be UTF-8. scratch_cap:
 * the largest total of line bytes in one batch (the source's buffer size). */
struct lb_feed *lb_feed_create(int jsonl, int json_encoding, size_t scratch_cap,
                               struct lb_error *err);
void lb_feed_destroy(struct lb_feed *f);

/* Classify a line; on LB_PARSE_OK rec holds its fields (slices into the line
 * or into the feed's scratch, valid until lb_feed_reset). */
enum lb_reason lb_feed_classify(struct lb_feed *f, const struct lb_line *line,
                                struct lb_record *rec);

/* Queue what classify decided: a record or a DLQ entry (blank: nothing). */
int lb_feed_queue(struct lb_sink *k, enum lb_reason why, const struct lb_record *rec,
                  const struct lb_line *line, uint64_t line_no);

/* After a batch is committed (or dropped): the scratch is free again. */
void lb_feed_reset(struct lb_feed *f);

#endif
