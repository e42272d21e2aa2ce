/*
 * fx_sentinel.c - a master, a replica and three Sentinels (fx_sentinel.h).
 *
 * Settings, and why:
 *  - down-after-milliseconds 1000: a dead master is noticed in about a
 *    second (the default 30 s would make every test half a minute longer);
 *  - failover-timeout 3000: a failover that could not start (no eligible
 *    replica yet, a split vote) is tried again after 2 x 3 s, and a promoted
 *    replica has 3 s to say ROLE master; small, but not so small that a
 *    loaded machine aborts a good failover;
 *  - replica-priority 100 on both nodes (0 would make one unpromotable), and
 *    repl-diskless-sync-delay 0: a restarted node syncs at once instead of
 *    after Redis 7's 5 s wait for more replicas;
 *  - the Sentinels' own checks of a replica (link up, INFO fresh, not
 *    subjectively down, master link down for less than 10 x down-after)
 *    are met by a replica that was SIGSTOP'ed while the master died, as long
 *    as it is continued right after the kill: it answers the pings that
 *    waited, and its master link went down only when it noticed.
 */
#include "fx_sentinel.h"
#include "tail_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- data nodes ---------------------------------------------------------------------- */

/* The node's arguments: its port, and a replica of node master_of (-1: none). */
static void fx_node_args(struct fx_sentinel *s, int i, int master_of)
{
    char rep[64] = "";
    if (master_of >= 0)
        snprintf(rep, sizeof(rep), " --replicaof 127.0.0.1 %d", s->port[master_of]);
    snprintf(s->node[i].extra, sizeof(s->node[i].extra),
             "--port %d --bind 127.0.0.1 --replica-priority 100 --repl-diskless-sync yes "
             "--repl-diskless-sync-delay 0%s",
             s->port[i], rep);
}

redisContext *fx_sentinel_connect(struct fx_sentinel *s, int i)
{
    if (i < 0 || i > 1 || s->node[i].pid <= 0 || s->stopped[i])
        return NULL;
    return lbt_connect(&s->node[i]);
}

/* ROLE of node i: 'm' master, 's' replica (its master's port in *mport, and
 * whether its link is up in *up), 0 when it does not answer. */
static int fx_node_role(struct fx_sentinel *s, int i, int *mport, int *up)
{
    redisContext *c = fx_sentinel_connect(s, i);
    if (c == NULL)
        return 0;
    redisReply *r = redisCommand(c, "ROLE");
    int role = 0;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        if (strcmp(r->element[0]->str, "master") == 0) {
            role = 'm';
        } else if (strcmp(r->element[0]->str, "slave") == 0 && r->elements >= 4) {
            role = 's';
            if (mport != NULL)
                *mport = (int)r->element[2]->integer;
            if (up != NULL)
                *up = r->element[3]->type == REDIS_REPLY_STRING &&
                      strcmp(r->element[3]->str, "connected") == 0;
        }
    }
    freeReplyObject(r);
    redisFree(c);
    return role;
}

int fx_sentinel_is_master(struct fx_sentinel *s, int i)
{
    return fx_node_role(s, i, NULL, NULL) == 'm';
}

static int fx_node_by_port(const struct fx_sentinel *s, long port)
{
    for (int i = 0; i < 2; i++)
        if (s->port[i] == port)
            return i;
    return -1;
}

/* ---- Sentinels -------------------------------------------------------------------------- */

static redisContext *fx_sentinel_client(const struct fx_sentinel *s, int si)
{
    if (s->spid[si] <= 0)
        return NULL;
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->sport[si], tv);
    if (c == NULL || c->err) {
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

static int fx_sentinel_spawn(struct fx_sentinel *s, int si)
{
    char sub[300], conf[400], logp[400];
    snprintf(sub, sizeof(sub), "%s/s%d", s->dir, si);
    if (mkdir(sub, 0700) != 0 && errno != EEXIST)
        return -1;
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", sub);
    snprintf(logp, sizeof(logp), "%s/sentinel.log", sub);
    char text[1024];
    int n = snprintf(text, sizeof(text),
                     "port %d\n"
                     "bind 127.0.0.1\n"
                     "protected-mode no\n"
                     "daemonize no\n"
                     "dir %s\n"
                     "sentinel resolve-hostnames no\n"
                     "sentinel announce-hostnames no\n"
                     "sentinel monitor %s 127.0.0.1 %d 2\n"
                     "sentinel down-after-milliseconds %s 1000\n"
                     "sentinel failover-timeout %s 3000\n"
                     "sentinel parallel-syncs %s 1\n",
                     s->sport[si], sub, FX_SENT_NAME, s->port[s->master], FX_SENT_NAME,
                     FX_SENT_NAME, FX_SENT_NAME);
    if (lbt_write_file(conf, text, (size_t)n) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p < 0)
        return -1;
    if (p == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("redis-server", "redis-server", conf, "--sentinel", (char *)NULL);
        _exit(127);
    }
    s->spid[si] = p;
    int64_t end = lbt_now_ms() + 10000;
    while (lbt_now_ms() < end) {
        redisContext *c = fx_sentinel_client(s, si);
        if (c != NULL) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        }
        if (waitpid(p, NULL, WNOHANG) == p) {
            s->spid[si] = 0;
            return -1;
        }
        lbt_sleep_ms(20);
    }
    return -1;
}

int fx_sentinel_ask(struct fx_sentinel *s, int si)
{
    redisContext *c = fx_sentinel_client(s, si);
    if (c == NULL)
        return -1;
    redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", FX_SENT_NAME);
    int node = -1;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        node = fx_node_by_port(s, strtol(r->element[1]->str, NULL, 10));
    freeReplyObject(r);
    redisFree(c);
    return node;
}

int fx_sentinel_master(struct fx_sentinel *s)
{
    for (int si = 0; si < 3; si++) {
        int n = fx_sentinel_ask(s, si);
        if (n >= 0)
            return n;
    }
    return -1;
}

/* The value of key in a flat (key, value, ...) reply, or "". */
static const char *fx_kv(const redisReply *r, const char *key)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return "";
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, key) == 0 &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return r->element[i + 1]->str;
    return "";
}

/* Sentinel si reports node m as a master it can fail over (flags exactly
 * "master", both other Sentinels known) and node r as its healthy replica.
 * why: what is missing. */
static int fx_sentinel_agrees(struct fx_sentinel *s, int si, int m, int r, char *why, size_t cap)
{
    if (fx_sentinel_ask(s, si) != m) {
        snprintf(why, cap, "sentinel %d does not name node %d (port %d) as master", si, m,
                 s->port[m]);
        return 0;
    }
    redisContext *c = fx_sentinel_client(s, si);
    if (c == NULL) {
        snprintf(why, cap, "sentinel %d does not answer", si);
        return 0;
    }
    int ok = 0;
    redisReply *mr = redisCommand(c, "SENTINEL master %s", FX_SENT_NAME);
    redisReply *rr = redisCommand(c, "SENTINEL replicas %s", FX_SENT_NAME);
    if (strcmp(fx_kv(mr, "flags"), "master") != 0 ||
        strcmp(fx_kv(mr, "num-other-sentinels"), "2") != 0) {
        snprintf(why, cap, "sentinel %d: master flags '%s', %s other sentinels known", si,
                 fx_kv(mr, "flags"), fx_kv(mr, "num-other-sentinels"));
    } else if (rr == NULL || rr->type != REDIS_REPLY_ARRAY) {
        snprintf(why, cap, "sentinel %d: no answer to SENTINEL replicas", si);
    } else {
        snprintf(why, cap, "sentinel %d does not list node %d (port %d) as a healthy replica", si,
                 r, s->port[r]);
        for (size_t i = 0; i < rr->elements && !ok; i++) {
            const redisReply *e = rr->element[i];
            if (strtol(fx_kv(e, "port"), NULL, 10) != s->port[r])
                continue;
            ok = strcmp(fx_kv(e, "flags"), "slave") == 0 &&
                 strcmp(fx_kv(e, "master-link-status"), "ok") == 0 &&
                 strtol(fx_kv(e, "master-port"), NULL, 10) == s->port[m];
            if (!ok)
                snprintf(why, cap, "sentinel %d: replica port %d: flags '%s', link '%s'", si,
                         s->port[r], fx_kv(e, "flags"), fx_kv(e, "master-link-status"));
        }
    }
    freeReplyObject(mr);
    freeReplyObject(rr);
    redisFree(c);
    return ok;
}

struct fx_health {
    struct fx_sentinel *s;
    char why[300];
};

/* Node s->master is master with the other node as its connected replica,
 * and every Sentinel agrees. */
static int fx_healthy(void *ctx)
{
    struct fx_health *h = ctx;
    struct fx_sentinel *s = h->s;
    int m = s->master, r = 1 - m, mport = 0, up = 0;
    if (fx_node_role(s, m, NULL, NULL) != 'm') {
        snprintf(h->why, sizeof(h->why), "node %d (port %d) does not say ROLE master", m,
                 s->port[m]);
        return 0;
    }
    int role = fx_node_role(s, r, &mport, &up);
    if (role != 's' || mport != s->port[m] || !up) {
        snprintf(h->why, sizeof(h->why), "node %d (port %d) is not a connected replica of %d", r,
                 s->port[r], s->port[m]);
        if (role == 'm' || (role == 's' && mport != s->port[m])) {
            /* left behind by a test that ended early: make it one */
            redisContext *c = fx_sentinel_connect(s, r);
            if (c != NULL) {
                freeReplyObject(redisCommand(c, "REPLICAOF 127.0.0.1 %d", s->port[m]));
                redisFree(c);
            }
        }
        return 0;
    }
    for (int si = 0; si < 3; si++)
        if (!fx_sentinel_agrees(s, si, m, r, h->why, sizeof(h->why)))
            return 0;
    return 1;
}

/* ---- life ----------------------------------------------------------------------------------- */

int fx_sentinel_start(struct fx_sentinel *s, int aof)
{
    memset(s, 0, sizeof(*s));
    if (lbt_mkdtemp(s->dir, sizeof(s->dir)) != 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if ((s->port[i] = lbt_free_port()) <= 0)
            return -1;
    for (int i = 0; i < 3; i++)
        if ((s->sport[i] = lbt_free_port()) <= 0)
            return -1;
    /* lbt_free_port may hand out one port twice: the kernel is free to
     * reuse a closed one at once */
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < i; j++) {
            int *pi = i < 2 ? &s->port[i] : &s->sport[i - 2];
            int pj = j < 2 ? s->port[j] : s->sport[j - 2];
            if (*pi == pj)
                return -1;
        }
    s->master = 0;
    fx_node_args(s, 0, -1);
    fx_node_args(s, 1, 0);
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = lbt_redis_start(&s->node[i], aof);
    for (int si = 0; si < 3 && rc == 0; si++)
        rc = fx_sentinel_spawn(s, si);
    snprintf(s->url, sizeof(s->url), "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/%s",
             s->sport[0], s->sport[1], s->sport[2], FX_SENT_NAME);
    char why[300];
    if (rc == 0 && fx_sentinel_restore(s, why, sizeof(why)) != 0) {
        fprintf(stderr, "fx_sentinel_start: %s\n", why);
        rc = -1;
    }
    if (rc != 0) {
        fx_sentinel_dump(s);
        fx_sentinel_stop(s);
    }
    return rc;
}

void fx_sentinel_stop(struct fx_sentinel *s)
{
    for (int si = 0; si < 3; si++)
        if (s->spid[si] > 0) {
            kill(s->spid[si], SIGKILL);
            waitpid(s->spid[si], NULL, 0);
            s->spid[si] = 0;
        }
    for (int i = 0; i < 2; i++) {
        if (s->stopped[i] && s->node[i].pid > 0)
            kill(s->node[i].pid, SIGCONT);
        s->stopped[i] = 0;
        if (s->node[i].dir[0] != '\0')
            lbt_redis_stop(&s->node[i], 1);
    }
    if (s->dir[0] != '\0')
        lbt_rmdir(s->dir);
    s->dir[0] = '\0';
}

int fx_sentinel_group_setup(void **state)
{
    struct fx_sentinel *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    if (fx_sentinel_start(s, 0) != 0) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

int fx_sentinel_group_teardown(void **state)
{
    struct fx_sentinel *s = *state;
    if (s != NULL) {
        fx_sentinel_stop(s);
        free(s);
    }
    *state = NULL;
    return 0;
}

int fx_sentinel_restore(struct fx_sentinel *s, char *why, size_t cap)
{
    for (int i = 0; i < 2; i++)
        if (s->stopped[i])
            fx_sentinel_signal(s, i, SIGCONT);
    for (int si = 0; si < 3; si++)
        if (s->spid[si] <= 0 || waitpid(s->spid[si], NULL, WNOHANG) == s->spid[si]) {
            s->spid[si] = 0;
            snprintf(why, cap, "sentinel %d is not running", si);
            return -1;
        }
    int m = fx_sentinel_master(s);
    if (m < 0) {
        snprintf(why, cap, "no sentinel names a master of ours");
        return -1;
    }
    if (s->node[m].pid <= 0 && (m = fx_sentinel_wait_promotion(s, m, FX_SENT_WAIT_MS)) < 0) {
        snprintf(why, cap, "the master is dead and no replica was promoted");
        return -1;
    }
    s->master = m;
    int r = 1 - m;
    if (s->node[r].pid <= 0) {
        fx_node_args(s, r, m);
        if (lbt_redis_restart(&s->node[r]) != 0) {
            snprintf(why, cap, "node %d did not start again", r);
            return -1;
        }
    }
    struct fx_health h = {s, ""};
    if (!lbt_wait_for(fx_healthy, &h, FX_SENT_WAIT_MS)) {
        snprintf(why, cap, "not healthy in time: %s", h.why);
        fx_sentinel_dump(s);
        return -1;
    }
    redisContext *c = fx_sentinel_connect(s, m);
    if (c == NULL) {
        snprintf(why, cap, "cannot connect to the master");
        return -1;
    }
    redisReply *f = redisCommand(c, "FLUSHALL");
    redisReply *w = redisCommand(c, "WAIT 1 %d", FX_SENT_WAIT_MS);
    int ok = f != NULL && f->type == REDIS_REPLY_STATUS && w != NULL &&
             w->type == REDIS_REPLY_INTEGER && w->integer == 1;
    freeReplyObject(f);
    freeReplyObject(w);
    redisFree(c);
    if (!ok) {
        snprintf(why, cap, "FLUSHALL was not acknowledged by the replica");
        return -1;
    }
    return 0;
}

/* ---- failures ------------------------------------------------------------------------------ */

int fx_sentinel_kill_master(struct fx_sentinel *s)
{
    int m = s->master;
    lbt_redis_kill(&s->node[m], SIGKILL);
    s->stopped[m] = 0;
    return m;
}

int fx_sentinel_wait_promotion(struct fx_sentinel *s, int old, int timeout_ms)
{
    int64_t end = lbt_now_ms() + timeout_ms;
    while (lbt_now_ms() < end) {
        for (int si = 0; si < 3; si++) {
            int n = fx_sentinel_ask(s, si);
            if (n >= 0 && n != old && fx_sentinel_is_master(s, n)) {
                s->master = n;
                s->failovers++;
                return n;
            }
        }
        lbt_sleep_ms(50);
    }
    fprintf(stderr, "fx_sentinel: no promotion of a node other than %d in %d ms\n", old,
            timeout_ms);
    fx_sentinel_dump(s);
    return -1;
}

void fx_sentinel_signal(struct fx_sentinel *s, int i, int sig)
{
    if (s->node[i].pid <= 0)
        return;
    kill(s->node[i].pid, sig);
    if (sig == SIGSTOP)
        s->stopped[i] = 1;
    else if (sig == SIGCONT)
        s->stopped[i] = 0;
}

int fx_sentinel_isolate_replica(struct fx_sentinel *s)
{
    int r = 1 - s->master;
    fx_sentinel_signal(s, r, SIGSTOP);
    redisContext *c = fx_sentinel_connect(s, s->master);
    if (c == NULL)
        return -1;
    redisReply *k = redisCommand(c, "CLIENT KILL TYPE replica");
    int ok = k != NULL && k->type == REDIS_REPLY_INTEGER && k->integer >= 1;
    freeReplyObject(k);
    redisFree(c);
    return ok ? r : -1;
}

struct fx_link_ctx {
    struct fx_sentinel *s;
    int r;
};

static int fx_link_down(void *ctx)
{
    struct fx_link_ctx *x = ctx;
    int up = 1;
    return fx_node_role(x->s, x->r, NULL, &up) == 's' && !up;
}

int fx_sentinel_resume_replica(struct fx_sentinel *s, int r)
{
    fx_sentinel_signal(s, r, SIGCONT);
    struct fx_link_ctx x = {s, r};
    return lbt_wait_for(fx_link_down, &x, FX_SENT_WAIT_MS) ? 0 : -1;
}

void fx_sentinel_dump(const struct fx_sentinel *s)
{
    char p[400];
    for (int si = 0; si < 3; si++) {
        snprintf(p, sizeof(p), "%s/s%d/sentinel.log", s->dir, si);
        tu_dump(p, 2500);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "%s/redis.log", s->node[i].dir);
        tu_dump(p, 1500);
    }
}
