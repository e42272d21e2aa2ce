/*
 * health.c - the jobs' states (health.h) and the /health body.
 */
#include "health.h"

#include "clock.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lb_health_job {
    char name[64];
    enum lb_health_state st;
    double since; /* CLOCK_REALTIME seconds */
    char why[200];
};

struct lb_health {
    pthread_mutex_t lock;
    struct lb_health_job *j;
    int n;
};

struct lb_health *lb_health_create(void)
{
    struct lb_health *h = calloc(1, sizeof(*h));
    if (h != NULL)
        pthread_mutex_init(&h->lock, NULL);
    return h;
}

void lb_health_destroy(struct lb_health *h)
{
    if (h == NULL)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h->j);
    free(h);
}

int lb_health_add(struct lb_health *h, const char *name)
{
    pthread_mutex_lock(&h->lock);
    struct lb_health_job *j = realloc(h->j, (size_t)(h->n + 1) * sizeof(*j));
    int idx = -1;
    if (j != NULL) {
        h->j = j;
        idx = h->n++;
        memset(&j[idx], 0, sizeof(j[idx]));
        snprintf(j[idx].name, sizeof(j[idx].name), "%s", name);
        j[idx].st = LB_HEALTH_STARTING;
        j[idx].since = lb_clock_real();
    }
    pthread_mutex_unlock(&h->lock);
    return idx;
}

void lb_health_set(struct lb_health *h, int idx, enum lb_health_state st, const char *why)
{
    if (h == NULL || idx < 0)
        return;
    pthread_mutex_lock(&h->lock);
    if (idx < h->n) {
        struct lb_health_job *j = &h->j[idx];
        if (j->st != st)
            j->since = lb_clock_real();
        j->st = st;
        snprintf(j->why, sizeof(j->why), "%s", why != NULL ? why : "");
    }
    pthread_mutex_unlock(&h->lock);
}

const char *lb_health_state_name(enum lb_health_state st)
{
    static const char *const names[] = {"starting", "ok", "down", "done", "failed"};
    return st <= LB_HEALTH_FAILED ? names[st] : "?";
}

int lb_health_report(struct lb_health *h, char **body)
{
    *body = NULL;
    int healthy = 1;
    cJSON *root = cJSON_CreateObject();
    cJSON *status = cJSON_AddStringToObject(root, "status", "ok");
    cJSON *jobs = cJSON_AddArrayToObject(root, "jobs");
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < h->n; i++) {
        const struct lb_health_job *j = &h->j[i];
        healthy &= j->st == LB_HEALTH_OK || j->st == LB_HEALTH_DONE;
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(jobs, o)) {
            cJSON_Delete(o);
            continue;
        }
        cJSON_AddStringToObject(o, "job", j->name);
        cJSON_AddStringToObject(o, "state", lb_health_state_name(j->st));
        cJSON_AddNumberToObject(o, "since", j->since);
        if (j->why[0] != '\0')
            cJSON_AddStringToObject(o, "reason", j->why);
    }
    pthread_mutex_unlock(&h->lock);
    if (!healthy && status != NULL)
        cJSON_SetValuestring(status, "unavailable");
    *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return healthy ? 200 : 503;
}
