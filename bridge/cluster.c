/*
 * cluster.c - Redis Cluster's rules as logbridge needs them (cluster.h).
 */
#include "cluster.h"

#include "checkpoint.h"
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CRC16-CCITT (XMODEM), as Redis's crc16.c: polynomial 0x1021, init 0. */
static unsigned lb_crc16(const char *buf, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)(unsigned char)buf[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
        crc &= 0xffff;
    }
    return crc;
}

unsigned lb_cluster_keyslot(const char *key, size_t len)
{
    /* the bytes between the first '{' and the first '}' after it, when
     * there are any; else the whole key */
    const char *l = memchr(key, '{', len);
    if (l != NULL) {
        size_t from = (size_t)(l - key) + 1;
        const char *r = memchr(l + 1, '}', len - from);
        if (r != NULL && r > l + 1)
            return lb_crc16(l + 1, (size_t)(r - l - 1)) & (LB_CLUSTER_SLOTS - 1);
    }
    return lb_crc16(key, len) & (LB_CLUSTER_SLOTS - 1);
}

int lb_cluster_stream_slot(const char *stream, unsigned *slot, char *why, size_t cap)
{
    const char *ph = strstr(stream, "%{");
    unsigned s;
    if (ph == NULL) {
        s = lb_cluster_keyslot(stream, strlen(stream));
    } else {
        /* A template's names keep one slot only when its hash tag comes
         * before any placeholder: a value with a '{' or '}' in it could
         * otherwise make another tag. */
        const char *l = memchr(stream, '{', (size_t)(ph - stream));
        const char *r = l != NULL ? memchr(l + 1, '}', (size_t)(ph - l - 1)) : NULL;
        if (l == NULL || r == NULL || r == l + 1) {
            snprintf(why, cap,
                     "the template '%s' has no hash tag before its first placeholder, so its "
                     "streams would be spread over the cluster's slots; write it as "
                     "'{name}:%%{type}'",
                     stream);
            return -1;
        }
        s = lb_crc16(l + 1, (size_t)(r - l - 1)) & (LB_CLUSTER_SLOTS - 1);
    }
    static const char *const kinds[] = {"ckpt", "dlq", "mirror", "streams"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char key[LB_KEY_MAX];
        lb_key_derive(stream, kinds[i], key, sizeof(key));
        if (lb_cluster_keyslot(key, strlen(key)) != s) {
            snprintf(why, cap,
                     "the stream '%s' (slot %u) and the key %s logbridge derives from it (slot "
                     "%u) would be in different cluster slots; give the stream a hash tag such "
                     "as '{app}:events'",
                     stream, s, key, lb_cluster_keyslot(key, strlen(key)));
            return -1;
        }
    }
    *slot = s;
    return 0;
}

static int lb_set_host(struct lb_redis_host *out, const char *host, size_t n, long port)
{
    if (n >= sizeof(out->host) || port <= 0 || port > 65535)
        return -1;
    memcpy(out->host, host, n);
    out->host[n] = '\0';
    out->port = (int)port;
    return 0;
}

static long lb_int_of(const redisReply *e)
{
    if (e == NULL)
        return -1;
    if (e->type == REDIS_REPLY_INTEGER)
        return (long)e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtol(e->str, NULL, 10);
    return -1;
}

/* The address of a node: its endpoint (or ip), "" or "?" meaning the node
 * we asked. */
static int lb_node_addr(const char *ep, size_t n, long port, const char *asked,
                        struct lb_redis_host *out)
{
    if (n == 0 || (n == 1 && ep[0] == '?'))
        return lb_set_host(out, asked, strlen(asked), port);
    return lb_set_host(out, ep, n, port);
}

static int lb_shards_owner(const redisReply *rep, unsigned slot, const char *asked, int tls,
                           struct lb_redis_host *out)
{
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *slots = lb_reply_map_get(rep->element[i], "slots");
        const redisReply *nodes = lb_reply_map_get(rep->element[i], "nodes");
        if (slots == NULL || nodes == NULL || slots->type != REDIS_REPLY_ARRAY ||
            nodes->type != REDIS_REPLY_ARRAY)
            continue;
        int mine = 0;
        for (size_t k = 0; k + 1 < slots->elements; k += 2)
            mine |= lb_int_of(slots->element[k]) <= (long)slot &&
                    (long)slot <= lb_int_of(slots->element[k + 1]);
        for (size_t k = 0; mine && k < nodes->elements; k++) {
            const redisReply *nd = nodes->element[k];
            const redisReply *role = lb_reply_map_get(nd, "role");
            if (role == NULL || role->type != REDIS_REPLY_STRING || strcmp(role->str, "master"))
                continue;
            const redisReply *ep = lb_reply_map_get(nd, "endpoint");
            if (ep == NULL || ep->type != REDIS_REPLY_STRING)
                ep = lb_reply_map_get(nd, "ip");
            long port = lb_int_of(lb_reply_map_get(nd, tls ? "tls-port" : "port"));
            if (port <= 0)
                port = lb_int_of(lb_reply_map_get(nd, "port"));
            if (ep != NULL && ep->type == REDIS_REPLY_STRING)
                return lb_node_addr(ep->str, ep->len, port, asked, out);
        }
    }
    return -1;
}

static int lb_slots_owner(const redisReply *rep, unsigned slot, const char *asked,
                          struct lb_redis_host *out)
{
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *r = rep->element[i];
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
            !(lb_int_of(r->element[0]) <= (long)slot && (long)slot <= lb_int_of(r->element[1])))
            continue;
        const redisReply *m = r->element[2];
        if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
            m->element[0]->type != REDIS_REPLY_STRING)
            continue;
        return lb_node_addr(m->element[0]->str, m->element[0]->len, lb_int_of(m->element[1]),
                            asked, out);
    }
    return -1;
}

int lb_cluster_owner(const redisReply *rep, int shards, unsigned slot, const char *asked, int tls,
                     struct lb_redis_host *out)
{
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
        return -1;
    return shards ? lb_shards_owner(rep, slot, asked, tls, out)
                  : lb_slots_owner(rep, slot, asked, out);
}

int lb_cluster_redirect(const char *msg, const char *asked, struct lb_redis_host *out)
{
    int kind = strncmp(msg, "MOVED ", 6) == 0 ? 1 : strncmp(msg, "ASK ", 4) == 0 ? 2 : 0;
    if (kind == 0)
        return 0;
    const char *p = strchr(msg, ' ') + 1; /* the slot */
    const char *node = strchr(p, ' ');
    if (node == NULL)
        return 0;
    node++;
    size_t n = strcspn(node, " ");
    const char *colon = NULL;
    for (const char *x = node; x < node + n; x++)
        if (*x == ':')
            colon = x; /* the last ':': an IPv6 address has more */
    if (colon == NULL)
        return 0;
    long port = strtol(colon + 1, NULL, 10);
    if (lb_node_addr(node, (size_t)(colon - node), port, asked, out) != 0)
        return 0;
    return kind;
}
