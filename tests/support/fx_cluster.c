/*
 * fx_cluster.c - a Redis Cluster of three masters and three replicas for the
 * tests (see fx_cluster.h). Every question about the topology is asked of
 * the nodes themselves (CLUSTER NODES, CLUSTER INFO) over their unix
 * sockets; nothing here routes commands the way a cluster client would.
 */
#include "fx_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char fxcl_why[512];

static void fxcl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fxcl_why, sizeof(fxcl_why), fmt, ap);
    va_end(ap);
}

static int fxcl_live(const struct fx_cluster *c, int i)
{
    return c->n[i].r.pid > 0 && !c->n[i].stopped;
}

redisContext *fxcl_connect(struct fx_cluster *c, int i)
{
    if (!fxcl_live(c, i))
        return NULL;
    return lbt_connect(&c->n[i].r);
}

/* One command on node i; the reply (NULL when the node is down or the
 * connection failed). */
static redisReply *fxcl_cmd(struct fx_cluster *c, int i, const char *fmt, ...)
{
    redisContext *rc = fxcl_connect(c, i);
    if (rc == NULL)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    redisFree(rc);
    return r;
}

/* 1 when the reply is the status OK. */
static int fxcl_ok(redisReply *r)
{
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
    if (!ok)
        fxcl_fail("reply: %s", r == NULL ? "(no connection)" : r->str ? r->str : "(not a status)");
    freeReplyObject(r);
    return ok;
}

/* Run redis-cli with args (NULL-terminated), its output appended to
 * dir/cli.log. Its exit code, or -1. */
static int fxcl_cli(struct fx_cluster *c, ...)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = "redis-cli";
    va_list ap;
    va_start(ap, c);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = s;
    va_end(ap);
    argv[n] = NULL;
    char logp[400];
    snprintf(logp, sizeof(logp), "%s/cli.log", c->dir);
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (in >= 0)
            dup2(in, 0);
        execvp("redis-cli", (char *const *)argv);
        _exit(127);
    }
    if (p < 0)
        return -1;
    int rc = lbt_wait(p);
    if (rc != 0)
        fxcl_fail("redis-cli %s %s exited %d (see %s)", argv[1], argv[2], rc, logp);
    return rc;
}

/* ---- CLUSTER NODES, as one node sees it ------------------------------------------- */

struct fxcl_line {
    char id[48];
    int port;
    int myself, master, bad; /* bad: fail, pfail, handshake, noaddr, disconnected */
    char master_id[48];
    char slots[1024]; /* the slot fields, space separated ("[..]" = open slot) */
};

static int fxcl_parse_line(char *l, struct fxcl_line *o)
{
    memset(o, 0, sizeof(*o));
    /* eight fields, then the slots (if any) as the rest of the line */
    char *tok[9], *p = l;
    int nt = 0;
    while (nt < 8) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return -1;
        tok[nt++] = p;
        p += strcspn(p, " ");
        if (*p != '\0')
            *p++ = '\0';
    }
    tok[8] = p;
    snprintf(o->id, sizeof(o->id), "%s", tok[0]);
    const char *colon = strrchr(tok[1], ':');
    o->port = colon ? atoi(colon + 1) : 0;
    o->myself = strstr(tok[2], "myself") != NULL;
    o->master = strstr(tok[2], "master") != NULL;
    o->bad = strstr(tok[2], "fail") != NULL || strstr(tok[2], "handshake") != NULL ||
             strstr(tok[2], "noaddr") != NULL || strcmp(tok[7], "connected") != 0;
    snprintf(o->master_id, sizeof(o->master_id), "%s", tok[3]);
    snprintf(o->slots, sizeof(o->slots), "%s", tok[8] ? tok[8] : "");
    return 0;
}

/* The lines of CLUSTER NODES asked of node i: their count, or -1. */
static int fxcl_nodes(struct fx_cluster *c, int i, struct fxcl_line *out, int cap)
{
    redisReply *r = fxcl_cmd(c, i, "CLUSTER NODES");
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        fxcl_fail("CLUSTER NODES on node %d (port %d): %s", i, c->n[i].port,
                  r && r->str ? r->str : "no reply");
        freeReplyObject(r);
        return -1;
    }
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r(r->str, "\n", &save); l != NULL && n < cap;
         l = strtok_r(NULL, "\n", &save))
        if (fxcl_parse_line(l, &out[n]) == 0)
            n++;
    freeReplyObject(r);
    return n;
}

/* 1 when the slot fields list slot (as owned, not as open). */
static int fxcl_slot_in(const char *slots, int slot)
{
    const char *p = slots;
    while (*p) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        if (*p != '[') {
            char *e;
            long a = strtol(p, &e, 10), b = a;
            if (*e == '-')
                b = strtol(e + 1, &e, 10);
            if (slot >= a && slot <= b)
                return 1;
        }
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}

static int fxcl_lowest_slot(const char *slots)
{
    int low = -1;
    for (const char *p = slots; *p;) {
        while (*p == ' ')
            p++;
        if (*p && *p != '[') {
            int a = atoi(p);
            if (low < 0 || a < low)
                low = a;
        }
        while (*p && *p != ' ')
            p++;
    }
    return low;
}

/* Node i's own line of its CLUSTER NODES. */
static int fxcl_self(struct fx_cluster *c, int i, struct fxcl_line *self)
{
    struct fxcl_line l[FXCL_NODES + 2];
    int n = fxcl_nodes(c, i, l, FXCL_NODES + 2);
    for (int k = 0; k < n; k++)
        if (l[k].myself) {
            *self = l[k];
            return 0;
        }
    return -1;
}

static int fxcl_state_ok(struct fx_cluster *c, int i, int known)
{
    redisReply *r = fxcl_cmd(c, i, "CLUSTER INFO");
    int ok = r != NULL && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok");
    if (ok && known > 0) {
        char want[48];
        snprintf(want, sizeof(want), "cluster_known_nodes:%d\r", known);
        ok = strstr(r->str, want) != NULL && strstr(r->str, "cluster_slots_ok:16384") != NULL;
    }
    if (!ok)
        fxcl_fail("node %d (port %d): CLUSTER INFO not ok", i, c->n[i].port);
    freeReplyObject(r);
    return ok;
}

/* ---- health ----------------------------------------------------------------------- */

static int fxcl_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What node i believes about roles and slots, in a canonical text. */
static int fxcl_signature(struct fx_cluster *c, int i, char *out, size_t cap)
{
    struct fxcl_line l[FXCL_NODES + 2];
    int n = fxcl_nodes(c, i, l, FXCL_NODES + 2);
    if (n != FXCL_NODES) {
        if (n >= 0)
            fxcl_fail("node %d knows %d nodes", i, n);
        return -1;
    }
    char rows[FXCL_NODES][sizeof(l[0])];
    char *ptr[FXCL_NODES];
    for (int k = 0; k < n; k++) {
        if (l[k].bad || strchr(l[k].slots, '[') != NULL) {
            fxcl_fail("node %d sees node %s flagged or with an open slot (%s)", i, l[k].id,
                      l[k].slots);
            return -1;
        }
        snprintf(rows[k], sizeof(rows[k]), "%.47s %c %.47s %.1000s", l[k].id,
                 l[k].master ? 'M' : 'S', l[k].master ? "-" : l[k].master_id, l[k].slots);
        ptr[k] = rows[k];
    }
    qsort(ptr, (size_t)n, sizeof(ptr[0]), fxcl_cmp_str);
    size_t o = 0;
    out[0] = '\0';
    for (int k = 0; k < n && o < cap; k++)
        o += (size_t)snprintf(out + o, cap - o, "%s\n", ptr[k]);
    return 0;
}

static int fxcl_link_up(struct fx_cluster *c, int i)
{
    redisReply *r = fxcl_cmd(c, i, "INFO replication");
    int ok =
        r != NULL && r->type == REDIS_REPLY_STRING &&
        (strstr(r->str, "role:master") != NULL || strstr(r->str, "master_link_status:up") != NULL);
    if (!ok)
        fxcl_fail("node %d: replication link not up", i);
    freeReplyObject(r);
    return ok;
}

int fxcl_healthy(struct fx_cluster *c)
{
    static char first[8192], sig[8192];
    for (int i = 0; i < FXCL_NODES; i++) {
        if (!fxcl_live(c, i)) {
            fxcl_fail("node %d is down or stopped", i);
            return 0;
        }
        if (!fxcl_state_ok(c, i, FXCL_NODES) ||
            fxcl_signature(c, i, i == 0 ? first : sig, sizeof(sig)) != 0 || !fxcl_link_up(c, i))
            return 0;
        if (i > 0 && strcmp(first, sig) != 0) {
            fxcl_fail("nodes 0 and %d disagree:\n%s---\n%s", i, first, sig);
            return 0;
        }
    }
    return 1;
}

static int fxcl_healthy_cond(void *ctx)
{
    return fxcl_healthy(ctx);
}

int fxcl_wait_healthy(struct fx_cluster *c, int timeout_ms)
{
    return lbt_wait_for(fxcl_healthy_cond, c, timeout_ms) ? 0 : -1;
}

/* ---- topology questions --------------------------------------------------------- */

int fxcl_keyslot(struct fx_cluster *c, const char *key)
{
    for (int i = 0; i < FXCL_NODES; i++) {
        if (!fxcl_live(c, i))
            continue;
        redisReply *r = fxcl_cmd(c, i, "CLUSTER KEYSLOT %s", key);
        int slot = r != NULL && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
        freeReplyObject(r);
        if (slot >= 0)
            return slot;
    }
    fxcl_fail("CLUSTER KEYSLOT %s: no node answered", key);
    return -1;
}

int fxcl_owner(struct fx_cluster *c, int slot)
{
    int owner = -1, claims = 0;
    for (int i = 0; i < FXCL_NODES; i++) {
        struct fxcl_line self;
        if (!fxcl_live(c, i) || fxcl_self(c, i, &self) != 0)
            continue;
        if (self.master && fxcl_slot_in(self.slots, slot)) {
            owner = i;
            claims++;
        }
    }
    if (claims != 1) {
        fxcl_fail("slot %d is claimed by %d nodes", slot, claims);
        return -1;
    }
    return owner;
}

int fxcl_is_master(struct fx_cluster *c, int i)
{
    struct fxcl_line self;
    return fxcl_live(c, i) && fxcl_self(c, i, &self) == 0 && self.master;
}

int fxcl_replica_of(struct fx_cluster *c, int m)
{
    for (int i = 0; i < FXCL_NODES; i++) {
        struct fxcl_line self;
        if (i != m && fxcl_live(c, i) && fxcl_self(c, i, &self) == 0 && !self.master &&
            strcmp(self.master_id, c->n[m].id) == 0)
            return i;
    }
    fxcl_fail("node %d has no live replica", m);
    return -1;
}

int fxcl_masters(struct fx_cluster *c, int out[FXCL_NODES])
{
    int n = 0;
    for (int i = 0; i < FXCL_NODES; i++)
        if (fxcl_is_master(c, i))
            out[n++] = i;
    return n;
}

struct fxcl_owner_wait {
    struct fx_cluster *c;
    int slot, owner;
};

static int fxcl_owner_seen(void *ctx)
{
    struct fxcl_owner_wait *w = ctx;
    struct fx_cluster *c = w->c;
    for (int i = 0; i < FXCL_NODES; i++) {
        if (!fxcl_live(c, i))
            continue;
        if (!fxcl_state_ok(c, i, 0))
            return 0;
        struct fxcl_line l[FXCL_NODES + 2];
        int n = fxcl_nodes(c, i, l, FXCL_NODES + 2), seen = 0;
        for (int k = 0; k < n; k++)
            if (l[k].master && fxcl_slot_in(l[k].slots, w->slot)) {
                if (strcmp(l[k].id, c->n[w->owner].id) != 0 || strchr(l[k].slots, '[')) {
                    fxcl_fail("node %d sees slot %d at %s (%s)", i, w->slot, l[k].id, l[k].slots);
                    return 0;
                }
                seen = 1;
            }
        if (!seen) {
            fxcl_fail("node %d sees no owner of slot %d", i, w->slot);
            return 0;
        }
    }
    return 1;
}

int fxcl_wait_owner(struct fx_cluster *c, int slot, int owner, int timeout_ms)
{
    struct fxcl_owner_wait w = {c, slot, owner};
    return lbt_wait_for(fxcl_owner_seen, &w, timeout_ms) ? 0 : -1;
}

redisContext *fxcl_owner_conn(struct fx_cluster *c, const char *key)
{
    int slot = fxcl_keyslot(c, key);
    int owner = slot < 0 ? -1 : fxcl_owner(c, slot);
    return owner < 0 ? NULL : fxcl_connect(c, owner);
}

void fxcl_node_url(struct fx_cluster *c, int i, char *out, size_t cap)
{
    snprintf(out, cap, "redis://127.0.0.1:%d", c->n[i].port);
}

void fxcl_seed_url(struct fx_cluster *c, int slot, char *out, size_t cap)
{
    int m[FXCL_NODES];
    int n = fxcl_masters(c, m);
    int owner = slot >= 0 ? fxcl_owner(c, slot) : -1;
    size_t o = (size_t)snprintf(out, cap, "redis://");
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < n && o < cap; k++)
            if ((m[k] == owner) == (pass == 1))
                o += (size_t)snprintf(out + o, cap - o, "%s127.0.0.1:%d",
                                      out[o - 1] == '/' ? "" : ",", c->n[m[k]].port);
}

int fxcl_flush_slot(struct fx_cluster *c, int slot)
{
    int owner = fxcl_owner(c, slot);
    if (owner < 0)
        return -1;
    redisContext *rc = fxcl_connect(c, owner);
    if (rc == NULL)
        return -1;
    int rv = 0;
    for (;;) {
        redisReply *r = redisCommand(rc, "CLUSTER GETKEYSINSLOT %d 100", slot);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
            rv = -1;
            freeReplyObject(r);
            break;
        }
        size_t n = r->elements;
        for (size_t k = 0; k < n; k++)
            freeReplyObject(redisCommand(rc, "DEL %b", r->element[k]->str, r->element[k]->len));
        freeReplyObject(r);
        if (n == 0)
            break;
    }
    redisFree(rc);
    return rv;
}

char *fxcl_hget_any(struct fx_cluster *c, const char *key, const char *field)
{
    for (int i = 0; i < FXCL_NODES; i++) {
        redisContext *rc = fxcl_connect(c, i);
        if (rc == NULL)
            continue;
        char *v = NULL;
        redisReply *r = redisCommand(rc, "ROLE");
        int master = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                     strcmp(r->element[0]->str, "master") == 0;
        freeReplyObject(r);
        if (master) {
            freeReplyObject(redisCommand(rc, "ASKING"));
            r = redisCommand(rc, "HGET %s %s", key, field);
            if (r != NULL && r->type == REDIS_REPLY_STRING)
                v = strdup(r->str);
            freeReplyObject(r);
        }
        redisFree(rc);
        if (v != NULL)
            return v;
    }
    return NULL;
}

/* ---- moving slots ------------------------------------------------------------------ */

int fxcl_reshard_slot(struct fx_cluster *c, int slot, int to)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        if (fxcl_wait_healthy(c, FXCL_WAIT_MS) != 0)
            return -1;
        int from = fxcl_owner(c, slot);
        struct fxcl_line self;
        if (from < 0 || fxcl_self(c, from, &self) != 0)
            return -1;
        if (from == to)
            return 0;
        if (fxcl_lowest_slot(self.slots) != slot) {
            fxcl_fail("slot %d is not the lowest of node %d (%s): reshard would move another", slot,
                      from, self.slots);
            return -1;
        }
        char seed[32];
        snprintf(seed, sizeof(seed), "127.0.0.1:%d", c->n[from].port);
        int rc =
            fxcl_cli(c, "--cluster", "reshard", seed, "--cluster-from", c->n[from].id,
                     "--cluster-to", c->n[to].id, "--cluster-slots", "1", "--cluster-yes", NULL);
        if (rc == 0 && fxcl_wait_owner(c, slot, to, FXCL_WAIT_MS) == 0)
            return fxcl_wait_healthy(c, FXCL_WAIT_MS);
        /* a refused start (nodes still settling) leaves nothing open: try again */
    }
    return -1;
}

int fxcl_migrate_begin(struct fx_cluster *c, int slot, int from, int to)
{
    if (!fxcl_ok(fxcl_cmd(c, to, "CLUSTER SETSLOT %d IMPORTING %s", slot, c->n[from].id)))
        return -1;
    if (!fxcl_ok(fxcl_cmd(c, from, "CLUSTER SETSLOT %d MIGRATING %s", slot, c->n[to].id)))
        return -1;
    return 0;
}

int fxcl_migrate_key(struct fx_cluster *c, int slot, int from, int to, char *key, size_t cap)
{
    redisContext *rc = fxcl_connect(c, from);
    if (rc == NULL)
        return -1;
    int rv = -1;
    redisReply *r = redisCommand(rc, "CLUSTER GETKEYSINSLOT %d 1", slot);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
        rv = 0;
    } else if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
        snprintf(key, cap, "%s", r->element[0]->str);
        redisReply *m = redisCommand(rc, "MIGRATE 127.0.0.1 %d %b 0 10000", c->n[to].port,
                                     r->element[0]->str, r->element[0]->len);
        rv = m != NULL && m->type == REDIS_REPLY_STATUS ? 1 : -1;
        if (rv < 0)
            fxcl_fail("MIGRATE %s: %s", key, m && m->str ? m->str : "no reply");
        freeReplyObject(m);
    }
    freeReplyObject(r);
    redisFree(rc);
    return rv;
}

int fxcl_migrate_end(struct fx_cluster *c, int slot, int from, int to)
{
    /* the target first, then the source, then the other masters (the order
     * of the Redis manual: the target must own the slot before the source
     * stops redirecting with ASK) */
    if (!fxcl_ok(fxcl_cmd(c, to, "CLUSTER SETSLOT %d NODE %s", slot, c->n[to].id)) ||
        !fxcl_ok(fxcl_cmd(c, from, "CLUSTER SETSLOT %d NODE %s", slot, c->n[to].id)))
        return -1;
    int m[FXCL_NODES];
    int n = fxcl_masters(c, m);
    for (int k = 0; k < n; k++)
        if (m[k] != to && m[k] != from)
            freeReplyObject(fxcl_cmd(c, m[k], "CLUSTER SETSLOT %d NODE %s", slot, c->n[to].id));
    return fxcl_wait_owner(c, slot, to, FXCL_WAIT_MS);
}

int fxcl_move_slot(struct fx_cluster *c, int slot, int to, int pause_ms)
{
    int from = fxcl_owner(c, slot);
    if (from < 0 || from == to || fxcl_migrate_begin(c, slot, from, to) != 0)
        return from == to ? 0 : -1;
    char key[512];
    int r;
    while ((r = fxcl_migrate_key(c, slot, from, to, key, sizeof(key))) == 1)
        lbt_sleep_ms(pause_ms);
    if (r < 0)
        return -1;
    return fxcl_migrate_end(c, slot, from, to);
}

/* ---- failures ---------------------------------------------------------------------- */

struct fxcl_master_wait {
    struct fx_cluster *c;
    int i;
};

static int fxcl_became_master(void *ctx)
{
    struct fxcl_master_wait *w = ctx;
    return fxcl_is_master(w->c, w->i);
}

int fxcl_failover(struct fx_cluster *c, int r)
{
    struct fxcl_master_wait w = {c, r};
    for (int attempt = 0; attempt < 3; attempt++) {
        if (!fxcl_ok(fxcl_cmd(c, r, "CLUSTER FAILOVER")))
            return -1;
        /* a manual failover that cannot finish in time is abandoned by
         * Redis: then it is asked again */
        if (lbt_wait_for(fxcl_became_master, &w, 10000))
            return fxcl_wait_healthy(c, FXCL_WAIT_MS);
    }
    fxcl_fail("node %d did not become a master after CLUSTER FAILOVER", r);
    return -1;
}

void fxcl_kill(struct fx_cluster *c, int i)
{
    lbt_redis_kill(&c->n[i].r, SIGKILL);
    c->n[i].stopped = 0;
}

int fxcl_revive(struct fx_cluster *c, int i)
{
    if (c->n[i].r.pid <= 0 && lbt_redis_restart(&c->n[i].r) != 0) {
        fxcl_fail("node %d did not start again (see %s/redis.log)", i, c->n[i].r.dir);
        return -1;
    }
    return fxcl_wait_healthy(c, FXCL_WAIT_MS);
}

int fxcl_pause_node(struct fx_cluster *c, int i)
{
    if (c->n[i].r.pid <= 0 || kill(c->n[i].r.pid, SIGSTOP) != 0)
        return -1;
    c->n[i].stopped = 1;
    return 0;
}

int fxcl_resume_node(struct fx_cluster *c, int i)
{
    if (c->n[i].r.pid <= 0 || kill(c->n[i].r.pid, SIGCONT) != 0)
        return -1;
    c->n[i].stopped = 0;
    return 0;
}

int fxcl_restore(struct fx_cluster *c)
{
    for (int i = 0; i < FXCL_NODES; i++) {
        if (c->n[i].stopped)
            fxcl_resume_node(c, i);
        if (c->n[i].r.pid <= 0 && lbt_redis_restart(&c->n[i].r) != 0) {
            fxcl_fail("node %d did not start again", i);
            return -1;
        }
    }
    if (fxcl_wait_healthy(c, FXCL_WAIT_MS) == 0)
        return 0;
    /* a migration left open by a failed test */
    char seed[32];
    snprintf(seed, sizeof(seed), "127.0.0.1:%d", c->n[0].port);
    fxcl_cli(c, "--cluster", "fix", seed, "--cluster-yes", NULL);
    return fxcl_wait_healthy(c, FXCL_WAIT_MS);
}

/* ---- start and stop --------------------------------------------------------------- */

/* n distinct ports, each free a moment ago. */
static int fxcl_ports(int *out, int n)
{
    for (int k = 0; k < n; k++) {
        int p = 0;
        for (int tries = 0; tries < 50 && p == 0; tries++) {
            p = lbt_free_port();
            for (int j = 0; j < k && p != 0; j++)
                if (out[j] == p)
                    p = 0;
        }
        if (p == 0)
            return -1;
        out[k] = p;
    }
    return 0;
}

int fxcl_start(struct fx_cluster *c)
{
    memset(c, 0, sizeof(*c));
    if (lbt_mkdtemp(c->dir, sizeof(c->dir)) != 0)
        return -1;
    int ports[2 * FXCL_NODES];
    if (fxcl_ports(ports, 2 * FXCL_NODES) != 0) {
        fxcl_fail("no free ports");
        return -1;
    }
    for (int i = 0; i < FXCL_NODES; i++) {
        struct fxcl_node *n = &c->n[i];
        n->port = ports[i];
        /* the bus port is given (cluster-port) rather than port + 10000,
         * which may be taken or past 65535 for a kernel-chosen port;
         * validity factor 0: a replica cut off for a while may still be
         * promoted (the acknowledged-write-loss test needs that); no replica
         * migration: the topology changes only when a test changes it; a
         * full sync starts at once (not 5 s later, waiting for more replicas) */
        snprintf(n->r.extra, sizeof(n->r.extra),
                 "--port %d --bind 127.0.0.1 --cluster-enabled yes --cluster-port %d "
                 "--cluster-config-file nodes.conf --cluster-node-timeout 2000 "
                 "--cluster-replica-validity-factor 0 --cluster-allow-replica-migration no "
                 "--repl-diskless-sync-delay 0",
                 ports[i], ports[FXCL_NODES + i]);
        if (lbt_redis_start(&n->r, 0) != 0) {
            fxcl_fail("node %d did not start (port %d)", i, ports[i]);
            return -1;
        }
        redisReply *r = fxcl_cmd(c, i, "CLUSTER MYID");
        if (r == NULL || r->type != REDIS_REPLY_STRING) {
            freeReplyObject(r);
            fxcl_fail("CLUSTER MYID on node %d failed", i);
            return -1;
        }
        snprintf(n->id, sizeof(n->id), "%s", r->str);
        freeReplyObject(r);
    }
    char addr[FXCL_NODES][32];
    for (int i = 0; i < FXCL_NODES; i++)
        snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d", c->n[i].port);
    if (fxcl_cli(c, "--cluster", "create", addr[0], addr[1], addr[2], addr[3], addr[4], addr[5],
                 "--cluster-replicas", "1", "--cluster-yes", NULL) != 0)
        return -1;
    if (fxcl_wait_healthy(c, 60000) != 0)
        return -1;
    if (fxcl_keyslot(c, "{" FXCL_SLOT0_TAG "}:x") != 0) {
        fxcl_fail("the slot of {" FXCL_SLOT0_TAG "} is not 0");
        return -1;
    }
    int m[FXCL_NODES];
    if (fxcl_masters(c, m) != FXCL_MASTERS) {
        fxcl_fail("the cluster has not %d masters", FXCL_MASTERS);
        return -1;
    }
    return 0;
}

void fxcl_stop(struct fx_cluster *c)
{
    for (int i = 0; i < FXCL_NODES; i++) {
        if (c->n[i].stopped)
            kill(c->n[i].r.pid, SIGCONT);
        if (c->n[i].r.dir[0] != '\0')
            lbt_redis_stop(&c->n[i].r, 1);
    }
    lbt_rmdir(c->dir);
}
