/*
 * fx_sentinel.h - a Sentinel deployment for the failover tests (DESIGN.md
 * section 7): two data nodes (redis-server on free 127.0.0.1 ports, each with
 * a unix socket of its own through which the tests inspect it) that start as
 * master and replica, and three Sentinels (`redis-server sentinel.conf
 * --sentinel`, quorum 2, down-after 1 s) monitoring them under the name
 * FX_SENT_NAME. It is started ONCE per test binary (the cmocka group setup:
 * a failover takes seconds, a start of everything more), and every test's
 * setup brings it back to "a master and a healthy replica, both empty, every
 * Sentinel agreeing" (fx_sentinel_restore): whichever node is master then.
 *
 * The roles move with every failover: the tests never assume that node 0 is
 * the master; they ask (fx_sentinel_master) as logbridge does.
 *
 * Everything is stopped by PID, never by name.
 */
#ifndef FX_SENTINEL_H
#define FX_SENTINEL_H

#include <stddef.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>

#include "lbtest.h"

#define FX_SENT_NAME "lbmaster"
/* Deadline of every wait on the deployment (a failover takes a few seconds;
 * a loaded machine may take many more, and failing is worse). */
#define FX_SENT_WAIT_MS 90000

struct fx_sentinel {
    struct lbt_redis node[2]; /* the data nodes; .pid 0 while dead */
    int port[2];              /* their TCP ports */
    int stopped[2];           /* SIGSTOP'ed by fx_sentinel_signal */
    int master;               /* the node the fixture last saw as master */
    char dir[256];            /* the Sentinels' configs and logs */
    pid_t spid[3];
    int sport[3];
    char url[512]; /* redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/NAME */
    int failovers; /* promotions seen by fx_sentinel_wait_promotion */
};

/* cmocka group setup / teardown: *state is the struct fx_sentinel. */
int fx_sentinel_group_setup(void **state);
int fx_sentinel_group_teardown(void **state);

/* Start the nodes (node 0 master, node 1 its replica; aof: appendonly on
 * both) and the Sentinels; wait until healthy. 0, or -1 (stopped again). */
int fx_sentinel_start(struct fx_sentinel *s, int aof);
/* Stop every process by its PID (SIGCONT first if stopped) and remove the
 * dirs. */
void fx_sentinel_stop(struct fx_sentinel *s);

/* Bring the deployment back to a master with one healthy replica: continue
 * stopped nodes, wait for a promotion when the master is dead, restart a
 * dead node as a replica of the master, wait until every Sentinel reports
 * that master (flags "master", the two other Sentinels known) and that
 * replica (flags "slave", link ok), then FLUSHALL on the master and WAIT for
 * the replica. 0, or -1 with why. */
int fx_sentinel_restore(struct fx_sentinel *s, char *why, size_t cap);

/* The node Sentinel si reports as master (get-master-addr-by-name), or -1. */
int fx_sentinel_ask(struct fx_sentinel *s, int si);
/* The node the Sentinels report as master, asked in turn (the first that
 * answers with a node of ours), or -1. */
int fx_sentinel_master(struct fx_sentinel *s);
/* 1 when node i answers ROLE with "master". */
int fx_sentinel_is_master(struct fx_sentinel *s, int i);
/* A client on node i's unix socket (NULL on failure). */
redisContext *fx_sentinel_connect(struct fx_sentinel *s, int i);

/* kill -9 the current master (s->master); returns its index. */
int fx_sentinel_kill_master(struct fx_sentinel *s);
/* Wait until a Sentinel reports a node other than old as master AND that
 * node answers ROLE master; sets s->master. Returns it, or -1 after
 * timeout_ms (with the Sentinels' logs on stderr). */
int fx_sentinel_wait_promotion(struct fx_sentinel *s, int old, int timeout_ms);

/* SIGSTOP / SIGCONT node i. */
void fx_sentinel_signal(struct fx_sentinel *s, int i, int sig);
/* Acknowledged-write loss, made certain: SIGSTOP the replica and make the
 * master drop its link (CLIENT KILL TYPE replica), so that nothing the master
 * acknowledges from now on reaches the replica (not even through the
 * stopped process's socket buffer). Returns the replica's index, or -1. */
int fx_sentinel_isolate_replica(struct fx_sentinel *s);

/* SIGCONT the isolated replica r and wait until it says its master link is
 * down: it has applied all that reached it (the data before the EOF), so
 * what it holds now is what it will hold when promoted. 0, or -1. */
int fx_sentinel_resume_replica(struct fx_sentinel *s, int r);

/* Print the last bytes of every Sentinel's and node's log on stderr. */
void fx_sentinel_dump(const struct fx_sentinel *s);

#endif
