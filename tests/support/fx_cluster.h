/*
 * fx_cluster.h - a real Redis Cluster for the tests: three masters and three
 * replicas on 127.0.0.1 (free TCP ports; each node also keeps a unix socket
 * for the test's own inspection), `cluster-enabled yes`,
 * `cluster-node-timeout 2000`, created with `redis-cli --cluster create
 * ... --cluster-replicas 1 --cluster-yes` and waited for until every node
 * says `cluster_state:ok` and all agree. Meant to be started once per test
 * binary (cmocka group setup): a test leaves it healthy again (fxcl_restore).
 *
 * The faults a test applies: moving a slot (redis-cli --cluster reshard, or
 * a manual migration key by key with pauses), CLUSTER FAILOVER on a replica,
 * kill -9 of a master and its replica's promotion, the killed node brought
 * back as a replica, SIGSTOP of a replica.
 *
 * This is not a cluster client: the test side finds the node that owns a
 * slot (each node's own CLUSTER NODES line) and talks to it with plain
 * hiredis over its unix socket. The functions never assert (they also run in
 * forked children); they return -1 and leave a reason in fxcl_why.
 */
#ifndef FX_CLUSTER_H
#define FX_CLUSTER_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "lbtest.h"

#define FXCL_NODES 6
#define FXCL_MASTERS 3
#define FXCL_WAIT_MS 30000

/* A hash tag whose slot is 0 (CLUSTER KEYSLOT 06S = 0, checked at start).
 * Slot 0 is always the lowest slot of the master that owns it, and
 * `redis-cli --cluster reshard --cluster-slots 1` moves a source's lowest
 * slot: so reshard moves exactly this slot, in both directions. */
#define FXCL_SLOT0_TAG "06S"

struct fxcl_node {
    struct lbt_redis r; /* r.pid 0 while killed; r.sock for inspection */
    int port;
    char id[48];
    int stopped; /* SIGSTOPped by fxcl_stop_node */
};

struct fx_cluster {
    struct fxcl_node n[FXCL_NODES];
    char dir[256]; /* redis-cli's output (cli.log) */
};

/* Why the last fxcl_ call failed (per process). */
extern char fxcl_why[512];

/* Start the six nodes, create the cluster, wait until it is healthy. */
int fxcl_start(struct fx_cluster *c);
/* Kill every node and remove their dirs. */
void fxcl_stop(struct fx_cluster *c);

/* 1 when every node runs, says cluster_state:ok, knows 6 connected nodes
 * without fail flags, all agree on roles and slots, no slot is open, and
 * each replica's link to its master is up. */
int fxcl_healthy(struct fx_cluster *c);
int fxcl_wait_healthy(struct fx_cluster *c, int timeout_ms);
/* Leave the cluster healthy after a test, whatever it did: resume stopped
 * nodes, restart killed ones, close open slots (redis-cli --cluster fix).
 * 0, or -1 when it stays unhealthy. */
int fxcl_restore(struct fx_cluster *c);

/* A connection to node i's unix socket (NULL when it is down). */
redisContext *fxcl_connect(struct fx_cluster *c, int i);

/* CLUSTER KEYSLOT key, asked of a live node (-1 on error). */
int fxcl_keyslot(struct fx_cluster *c, const char *key);
/* The index of the node that claims slot as a master in its own CLUSTER
 * NODES line; -1 when none or several do. */
int fxcl_owner(struct fx_cluster *c, int slot);
/* Wait until every live node sees node `owner` as the master of slot and
 * says cluster_state:ok (also while a node is down). */
int fxcl_wait_owner(struct fx_cluster *c, int slot, int owner, int timeout_ms);
/* A connection to the owner of key's slot (NULL on failure). */
redisContext *fxcl_owner_conn(struct fx_cluster *c, const char *key);
/* 1 when live node i is a master in its own view. */
int fxcl_is_master(struct fx_cluster *c, int i);
/* A live replica of master m (-1: none). */
int fxcl_replica_of(struct fx_cluster *c, int m);
/* The live masters, in index order: their count. */
int fxcl_masters(struct fx_cluster *c, int out[FXCL_NODES]);
/* "redis://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3": the live masters, the
 * owner of slot last (so that it is not the first seed; slot < 0: in index
 * order). */
void fxcl_seed_url(struct fx_cluster *c, int slot, char *out, size_t cap);
/* "redis://127.0.0.1:P" of node i. */
void fxcl_node_url(struct fx_cluster *c, int i, char *out, size_t cap);

/* DEL every key of slot on its owner. */
int fxcl_flush_slot(struct fx_cluster *c, int slot);

/* A probe that finds a key wherever it is, also in the middle of a
 * migration: HGET key field on every live master after ASKING, the first
 * string reply (malloc'ed) or NULL. For watching a checkpoint move. */
char *fxcl_hget_any(struct fx_cluster *c, const char *key, const char *field);

/* Move slot (the lowest of its owner, checked) to master `to` with
 * `redis-cli --cluster reshard ... --cluster-slots 1 --cluster-yes`, then
 * wait until every node agrees. */
int fxcl_reshard_slot(struct fx_cluster *c, int slot, int to);

/* A manual migration in steps: CLUSTER SETSLOT IMPORTING on the target and
 * MIGRATING on the source; MIGRATE one key at a time (key gets its name; 1
 * when one moved, 0 when none is left); SETSLOT NODE on the target, the
 * source and the other masters, then wait until every node agrees. */
int fxcl_migrate_begin(struct fx_cluster *c, int slot, int from, int to);
int fxcl_migrate_key(struct fx_cluster *c, int slot, int from, int to, char *key, size_t cap);
int fxcl_migrate_end(struct fx_cluster *c, int slot, int from, int to);
/* All three, with pause_ms between the keys. */
int fxcl_move_slot(struct fx_cluster *c, int slot, int to, int pause_ms);

/* CLUSTER FAILOVER on replica r; wait until it is the master of its old
 * master's slots and the cluster is healthy. */
int fxcl_failover(struct fx_cluster *c, int r);
/* kill -9 of node i (no wait for anything). */
void fxcl_kill(struct fx_cluster *c, int i);
/* Start killed node i again (same dir and nodes.conf, no data: it comes
 * back as a replica) and wait until the cluster is healthy. */
int fxcl_revive(struct fx_cluster *c, int i);
/* SIGSTOP / SIGCONT node i. */
int fxcl_pause_node(struct fx_cluster *c, int i);
int fxcl_resume_node(struct fx_cluster *c, int i);

#endif
