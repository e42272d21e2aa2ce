/*
 * cluster.h - what logbridge needs of Redis Cluster's rules (DESIGN.md
 * sections 3 and 7): the slot of a key (CRC16 of its hash tag, with Redis's
 * exact rules for '{', '}' and empty tags), whether every key a stream or
 * template derives lives in one slot, the master of a slot from CLUSTER
 * SHARDS or CLUSTER SLOTS, and the node a MOVED or ASK names.
 *
 * A job's keys are all in one slot by construction, so a job talks to one
 * master: the one that owns its slot.
 */
#ifndef LB_CLUSTER_H
#define LB_CLUSTER_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "redis.h"

#define LB_CLUSTER_SLOTS 16384

/* The slot of key[0..len) (Redis's keyHashSlot). */
unsigned lb_cluster_keyslot(const char *key, size_t len);

/* 0 when the stream name or template and every key derived from it
 * (logbridge:ckpt:{T}, ...) share one slot whatever a template's
 * placeholders expand to, with *slot set; -1 with why set otherwise. */
int lb_cluster_stream_slot(const char *stream, unsigned *slot, char *why, size_t cap);

/* The master of slot in a CLUSTER SHARDS reply (shards != 0) or a CLUSTER
 * SLOTS reply. asked: the node the reply came from, for an empty or "?"
 * endpoint; tls: use the TLS port when the node lists one. 0, or -1 when
 * no master serves the slot. */
int lb_cluster_owner(const redisReply *rep, int shards, unsigned slot, const char *asked, int tls,
                     struct lb_redis_host *out);

/* "MOVED 3999 127.0.0.1:6381" or "ASK ...": 1 (moved) or 2 (ask) with the
 * node in out (an empty host means the node that answered: asked), 0 for
 * any other message. */
int lb_cluster_redirect(const char *msg, const char *asked, struct lb_redis_host *out);

#endif
