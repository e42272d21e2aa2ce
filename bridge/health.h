/*
 * health.h - what each job of the process says about itself, for --http's
 * /health (DESIGN.md section 5): 200 when every job is connected and
 * committing or idle, 503 with a JSON body naming the job and the reason
 * otherwise.
 *
 * A job's state is set by the job's own thread (lb_job_redis_up, job.h) and
 * read by the HTTP thread: the table is under a mutex.
 */
#ifndef LB_HEALTH_H
#define LB_HEALTH_H

enum lb_health_state {
    LB_HEALTH_STARTING = 0, /* not connected yet */
    LB_HEALTH_OK,           /* connected; committing or idle */
    LB_HEALTH_DOWN,         /* Redis unreachable or refusing: waiting with backoff */
    LB_HEALTH_DONE,         /* returned 0 (--once, or a stop) */
    LB_HEALTH_FAILED        /* returned an error */
};

struct lb_health;

struct lb_health *lb_health_create(void);
void lb_health_destroy(struct lb_health *h);

/* Add a job named name ("tail", "mirror[1]") in state STARTING. Returns its
 * index, or -1 (out of memory). */
int lb_health_add(struct lb_health *h, const char *name);

/* Set job idx's state and why (NULL: none; kept up to 200 bytes). The time of
 * the change is kept when the state changes. h NULL: nothing. */
void lb_health_set(struct lb_health *h, int idx, enum lb_health_state st, const char *why);

/* The HTTP status (200 or 503) and the JSON body (malloc'ed; NULL when out
 * of memory):
 * {"status":"ok"|"unavailable","jobs":[{"job":"tail[0]","state":"ok",
 *  "since":1718700000.123,"reason":"..."}]} ("reason" only when there is one). */
int lb_health_report(struct lb_health *h, char **body);

const char *lb_health_state_name(enum lb_health_state st);

#endif
