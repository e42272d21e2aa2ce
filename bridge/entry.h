/*
 * entry.h - one stream entry as a legacy record: the one decoder of mirror,
 * export and parity.
 *
 * An entry is [id, [field, value, ...]] (a hiredis or arena reply). The
 * first occurrence of a field name wins (XADD allows repeats). The fields
 * encoding is read without copying; an entry with no `role` field whose
 * --json-field holds a JSON object is the json encoding, decoded with cJSON
 * (role, type, src must be strings there; timestamp and data may be any
 * JSON value, taken as its compact JSON text; off a number or a string). A
 * missing or empty timestamp is the ID's milliseconds
 * (2025-06-18T10:00:00.123Z). The decoder also gives mirror's verdict: why
 * the entry cannot be a legacy line, if it cannot.
 */
#ifndef LB_ENTRY_H
#define LB_ENTRY_H

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <stdint.h>

#include "record.h"
#include "stream_id.h"

struct lb_entry {
    struct lb_sid id;
    const char *id_str; /* the ID as Redis sent it, for messages ("?" if none) */
    struct lb_record rec;
    struct lb_slice src;
    int has_src;
    uint64_t off;
    int has_off;
    int id_ok; /* id parsed */
    int has_role, has_type;
    int json;       /* decoded from the json field's object */
    int ts_from_id; /* rec.ts (and rec.ts_ms) come from the ID */
    /* Why the entry cannot be a legacy line: set by the decoder only when
     * it is `malformed` (not [id, [fields]] at all) or its json field holds
     * no object (`why_first`: decided before any rule about src, nothing of
     * the entry can be trusted); the rest by lb_entry_verdict. */
    const char *why;
    int malformed, why_first;
};

/* What the entry's slices may point into, until the next decode. */
struct lb_entry_decoder {
    const char *json_field;
    size_t json_field_len;
    cJSON *json;
    char *own_ts, *own_data; /* non-string JSON timestamp / data as text */
    char ts[40];             /* a timestamp made from the ID */
};

void lb_entry_decoder_init(struct lb_entry_decoder *d, const char *json_field);
/* Free what the last entry held (its slices become invalid). NULL-safe. */
void lb_entry_release(struct lb_entry_decoder *d);

/* Decode e into *out; out's slices live until the next decode or release.
 * Cheap: the verdict is not computed (parity does not need it). */
void lb_entry_decode(struct lb_entry_decoder *d, const redisReply *e, struct lb_entry *out);

/* Mirror's verdict, in the order it is told: NULL when the entry makes a
 * legacy line, else why not (no role or type, one that is empty, longer
 * than 255 bytes or holds '|', CR or LF, a timestamp with '|', an ID whose
 * milliseconds cannot be a timestamp). Also stored in e->why. */
const char *lb_entry_verdict(struct lb_entry *e);

#endif
