/*
 * main.c - command dispatch: each command lives in its own file (jobs.h).
 */
#include "cli.h"
#include "error.h"
#include "jobs.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} lb_commands[] = {
    {"tail", lb_cmd_tail, "follow live files (inotify) and append each line to a stream"},
    {"import", lb_cmd_import, "one-shot import of history files (.gz too), resumable"},
    {"mirror", lb_cmd_mirror, "follow a stream and append each entry to a legacy file"},
    {"export", lb_cmd_export, "one-shot dump of a stream as legacy lines"},
    {"parity", lb_cmd_parity, "compare files and streams; text, JSON or JUnit report"},
    {"run", lb_cmd_run, "run the tail and mirror jobs of a JSON config, as a service"},
    {"check-config", lb_cmd_check_config, "validate a JSON config"},
    {"status", lb_cmd_status, "checkpoints, lag, consumer groups and mirrors at a glance"},
};

static void lb_usage(FILE *out)
{
    fprintf(out, "Usage: logbridge COMMAND [options]\n\n"
                 "Bridges legacy ROLE|TIMESTAMP|TYPE|DATA log files and Redis Streams,\n"
                 "exactly once in both directions.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(lb_commands) / sizeof(lb_commands[0]); i++)
        fprintf(out, "  %-13s %s\n", lb_commands[i].name, lb_commands[i].what);
    fprintf(out, "\n'logbridge COMMAND --help' lists a command's options.\n"
                 "Exit codes: 0 done, 1 differences (parity) or --strict met a bad line,\n"
                 "2 usage or config error, 3 runtime failure.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        lb_usage(stderr);
        return LB_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        lb_usage(stdout);
        return LB_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("logbridge %s\n", LB_VERSION);
        return LB_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(lb_commands) / sizeof(lb_commands[0]); i++) {
        if (strcmp(cmd, lb_commands[i].name) == 0)
            return lb_commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "logbridge: unknown command '%s'\n", cmd);
    lb_usage(stderr);
    return LB_EXIT_USAGE;
}
