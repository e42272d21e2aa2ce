/*
 * stream_set.c - the streams of a job (see stream_set.h).
 */
#include "stream_set.h"

#include <stdio.h>
#include <string.h>

int lb_streams_add(struct lb_streams *s, const char *arg, char *why, size_t cap)
{
    if (*arg == '\0')
        return snprintf(why, cap, "expected a stream name"), -1;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], arg) == 0)
            return snprintf(why, cap, "'%s' given twice", arg), -1;
    if (s->n == LB_STREAMS_MAX)
        return snprintf(why, cap, "can be given at most %d times", LB_STREAMS_MAX), -1;
    s->v[s->n++] = arg;
    return 0;
}

int lb_stream_is_template(const char *s)
{
    return strstr(s, "%{") != NULL;
}
