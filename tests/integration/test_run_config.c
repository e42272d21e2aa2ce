/*
 * test_run_config.c - `run` and `check-config` refuse a bad config with exit
 * 2 and a message naming the config path, before anything starts (no Redis
 * is needed to be refused); a good config is "config OK".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lbtest.h"

#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fx {
    char dir[256];
    char cfg[320];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_mkdtemp(f->dir, sizeof(f->dir)) != 0)
        return -1;
    snprintf(f->cfg, sizeof(f->cfg), "%s/app.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    lbt_rmdir(f->dir);
    free(f);
    return 0;
}

static char out[65536], err[65536];

/* Run `cmd --config FILE` with text as the config. Returns the exit code. */
static int with_config(struct fx *f, const char *cmd, const char *text)
{
    assert_int_equal(lbt_write_file(f->cfg, text, strlen(text)), 0);
    const char *args[] = {cmd, "--config", f->cfg, NULL};
    return lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0);
}

/* Both commands refuse text with exit 2, one line on stderr naming the
 * config file and containing want, nothing on stdout. */
static void refused(struct fx *f, const char *text, const char *want)
{
    static const char *const cmds[] = {"check-config", "run"};
    for (int i = 0; i < 2; i++) {
        int rc = with_config(f, cmds[i], text);
        if (rc != 2)
            fail_msg("%s exited %d (want 2) for:\n%s\nstderr: %s", cmds[i], rc, text, err);
        if (strstr(err, want) == NULL)
            fail_msg("%s: stderr lacks '%s':\n%s", cmds[i], want, err);
        if (strstr(err, f->cfg) == NULL)
            fail_msg("%s: stderr does not name the config file:\n%s", cmds[i], err);
        const char *nl = strchr(err, '\n');
        if (nl == NULL || nl[1] != '\0')
            fail_msg("%s: expected one line on stderr:\n%s", cmds[i], err);
        assert_string_equal(out, "");
    }
}

/* A Redis that is not there: a config error must not wait for it. */
#define NOREDIS "\"redis\": \"unix:///nonexistent/lbtest-redis.sock\""

static void run_config_unknown_key_names_its_path(void **state)
{
    struct fx *f = *state;
    refused(f,
            "{" NOREDIS ",\n \"tail\": [{\"paths\": [\"/tmp/a.log\"], \"stream\": \"S\"},\n"
            "          {\"pathz\": [\"/tmp/b.log\"], \"stream\": \"S\"}]}\n",
            "tail[1].pathz: unknown key");
    refused(f, "{" NOREDIS ", \"mirrors\": []}\n", "mirrors: unknown key");
}

static void run_config_wrong_type_names_its_path(void **state)
{
    struct fx *f = *state;
    refused(f,
            "{" NOREDIS ", \"tail\": [{\"paths\": [\"/tmp/a.log\"], \"stream\": \"S\", "
            "\"maxlen\": true}]}",
            "tail[0].maxlen: expected a number");
    refused(f, "{" NOREDIS ", \"tail\": [{\"paths\": \"/tmp/a.log\", \"stream\": \"S\"}]}",
            "tail[0].paths: expected a non-empty array");
    refused(f,
            "{" NOREDIS ", \"mirror\": [{\"stream\": \"S\", \"file\": \"/tmp/m\", \"once\": "
            "\"no\"}]}",
            "mirror[0].once: expected true or false");
}

/* Values are judged by the jobs' own option parsers, named as config keys */
static void run_config_bad_value_names_its_path(void **state)
{
    struct fx *f = *state;
    refused(f,
            "{" NOREDIS ", \"tail\": [{\"paths\": [\"/tmp/a.log\"], \"stream\": \"S\", "
            "\"maxlen\": 0}]}",
            "tail[0].maxlen: expected a positive integer");
    refused(f,
            "{" NOREDIS ", \"tail\": [{\"paths\": [\"/tmp/a.log\"], \"stream\": \"S\"},\n"
            "  {\"paths\": [\"/tmp/b.log\"], \"stream\": \"S\", \"rotate_wait\": -1}]}",
            "tail[1].rotate_wait:");
    refused(f,
            "{" NOREDIS ", \"mirror\": [{\"stream\": \"S\", \"file\": \"/tmp/m\", \"fsync\": "
            "\"sometimes\"}]}",
            "mirror[0].fsync:");
    refused(f,
            "{" NOREDIS ", \"tail\": [{\"paths\": [\"/tmp/a.log\"], \"stream\": \"S\", "
            "\"from\": \"middle\"}]}",
            "tail[0].from:");
    refused(f, "{\"redis\": \"http://x\", \"mirror\": [{\"stream\": \"S\", \"file\": \"/m\"}]}",
            "redis:");
    refused(f,
            "{" NOREDIS ", \"log_level\": \"loud\", \"mirror\": [{\"stream\": \"S\", \"file\": "
            "\"/m\"}]}",
            "log_level: expected error, warn, info or debug");
}

static void run_config_missing_stream_names_its_path(void **state)
{
    struct fx *f = *state;
    refused(f, "{" NOREDIS ", \"tail\": [{\"paths\": [\"/tmp/a.log\"]}]}",
            "tail[0].stream: is required");
    refused(f, "{" NOREDIS ", \"mirror\": [{\"file\": \"/tmp/m\"}]}",
            "mirror[0].stream: is required");
    refused(f, "{" NOREDIS "}", "no jobs");
}

static void run_config_invalid_json_names_its_line(void **state)
{
    struct fx *f = *state;
    refused(f,
            "{\n  " NOREDIS ",\n  \"tail\": [\n    {\"paths\": [\"/tmp/a.log\"] \"stream\": "
            "\"S\"}\n  ]\n}\n",
            "line 4: invalid JSON");
    refused(f, "{\n  \"tail\": [\n", "line 3: invalid JSON");
    refused(f, "", "line 1: invalid JSON");
}

static void run_config_unreadable_file_is_exit_2(void **state)
{
    struct fx *f = *state;
    char path[400];
    snprintf(path, sizeof(path), "%s/none.json", f->dir);
    const char *args[] = {"run", "--config", path, NULL};
    assert_int_equal(lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    assert_non_null(strstr(err, path));
    const char *a2[] = {"run", NULL};
    assert_int_equal(lbt_run(a2, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    assert_non_null(strstr(err, "--config"));
    const char *a3[] = {"run", "--config", path, "extra", NULL};
    assert_int_equal(lbt_run(a3, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    const char *a4[] = {"check-config", "--bogus", NULL};
    assert_int_equal(lbt_run(a4, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    const char *a5[] = {"run", "--help", NULL};
    assert_int_equal(lbt_run(a5, out, sizeof(out), err, sizeof(err), NULL, 0), 0);
    assert_non_null(strstr(out, "--config FILE"));
}

static void run_config_unwritable_log_file_is_exit_2(void **state)
{
    struct fx *f = *state;
    char text[1024];
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"log_file\": \"%s/no/such/dir/x.log\",\n"
             " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.log\"}]}\n",
             f->dir, f->dir);
    assert_int_equal(with_config(f, "run", text), 2);
    assert_non_null(strstr(err, "log_file: "));
    assert_non_null(strstr(err, "no/such/dir/x.log"));
}

static void run_check_config_accepts_a_good_config(void **state)
{
    struct fx *f = *state;
    char text[4096];
    snprintf(
        text, sizeof(text),
        "{" NOREDIS ", \"metrics_file\": \"%s/m.prom\", \"log_format\": \"json\",\n"
        " \"tail\": [{\"paths\": [\"%s/a.log\", \"%s/b-*.log\"], \"stream\": \"S\",\n"
        "            \"maxlen\": 100000, \"rotate_wait\": 2.5, \"trim_ignore_groups\": true},\n"
        "          {\"paths\": [\"%s/c.log\"], \"stream\": \"{x}:%%{type}\", \"name\": "
        "\"c\", \"once\": false}],\n"
        " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/legacy.log\", \"from\": 0,\n"
        "              \"exclude_src\": [\"%s/a.log\"], \"fsync\": \"always\"}]}\n",
        f->dir, f->dir, f->dir, f->dir, f->dir, f->dir);
    int rc = with_config(f, "check-config", text);
    if (rc != 0)
        fail_msg("check-config exited %d: %s", rc, err);
    assert_string_equal(out, "config OK: 2 tail, 1 mirror jobs\n");
    /* the shipped examples are valid too (their directories are the target
     * machine's: --syntax-only checks the config alone) */
    static const char *const examples[] = {
        "contrib/config/phase1-tail-parity.json",
        "contrib/config/phase2-mirror.json",
        "contrib/config/phase3-cutover.json",
    };
    for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        const char *args[] = {"check-config", "--syntax-only", "--config", examples[i], NULL};
        rc = lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0);
        if (rc != 0)
            fail_msg("%s: exit %d: %s", examples[i], rc, err);
        assert_non_null(strstr(out, "config OK"));
    }
}

/* check-config accepts text (exit 0, "config OK"). */
static void accepted(struct fx *f, const char *text)
{
    int rc = with_config(f, "check-config", text);
    if (rc != 0)
        fail_msg("check-config exited %d for:\n%s\nstderr: %s", rc, text, err);
    assert_non_null(strstr(out, "config OK"));
}

/* A tail route that can read the mirror's file back into the stream the
 * mirror reads: whatever the path looks like, it is a loop (issue 9 item 6:
 * a glob "/dir/ *.log" with a mirror writing /dir/m.log turned one seed line into
 * 8,499 entries in 3 s). */
static void run_config_refuses_a_glob_that_matches_the_mirror_file(void **state)
{
    struct fx *f = *state;
    char text[4096], want[1024];
    /* the mirror file does not exist yet */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/a.txt\", \"%s/*.log\"], \"stream\": "
             "\"S\"}],\n \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.log\"}]}\n",
             f->dir, f->dir, f->dir);
    snprintf(want, sizeof(want),
             "mirror[0].file: %s/m.log is matched by tail[0].paths[1] (%s/*.log) into stream "
             "'S', so its lines would come back forever: add \"exclude_src\": [\"%s/m.log\"] to "
             "mirror[0]",
             f->dir, f->dir, f->dir);
    refused(f, text, want);
    /* with that src excluded it is fine */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/*.log\"], \"stream\": \"S\"}],\n"
             " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.log\", \"exclude_src\": "
             "[\"%s/m.log\"]}]}\n",
             f->dir, f->dir, f->dir);
    accepted(f, text);
    /* a glob that does not match the name, or another stream, is no loop */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/*.txt\", \"%s/*.log\"], \"stream\": "
             "\"S\"}, {\"paths\": [\"%s/*.log\"], \"stream\": \"T\"}],\n"
             " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.out\"},"
             " {\"stream\": \"U\", \"file\": \"%s/u.log\"}]}\n",
             f->dir, f->dir, f->dir, f->dir, f->dir);
    accepted(f, text);
    /* a dot file is not matched by *, as tail's own scan (FNM_PERIOD) */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/*.log\"], \"stream\": \"S\"}],\n"
             " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/.m.log\"}]}\n",
             f->dir, f->dir);
    accepted(f, text);
    /* a relative mirror path with ".." is the same file */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/m?log\"], \"stream\": \"S\"}],\n"
             " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/sub/../m.log\"}]}\n",
             f->dir, f->dir);
    refused(f, text, "is matched by tail[0].paths[0]");
}

/* Symlinks: a glob in a directory reached through a link, a literal path
 * that is a link to the (not yet created) mirror file, a glob that matches a
 * link to it. */
static void run_config_refuses_a_loop_through_symlinks(void **state)
{
    struct fx *f = *state;
    char real[300], link[300], cur[300], logs[300], entry[300], text[4096], want[2048];
    snprintf(real, sizeof(real), "%s/real", f->dir);
    snprintf(link, sizeof(link), "%s/link", f->dir);
    snprintf(cur, sizeof(cur), "%s/current.log", f->dir);
    snprintf(logs, sizeof(logs), "%s/logs", f->dir);
    snprintf(entry, sizeof(entry), "%s/logs/x.log", f->dir);
    assert_int_equal(mkdir(real, 0755), 0);
    assert_int_equal(mkdir(logs, 0755), 0);
    assert_int_equal(symlink(real, link), 0);
    assert_int_equal(symlink("real/m.log", cur), 0); /* dangling until the mirror starts */
    assert_int_equal(symlink("../real/m.log", entry), 0);

    /* tail through the linked directory: src is named under the link */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/*.log\"], \"stream\": \"S\"}],\n"
             " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.log\"}]}\n",
             link, real);
    snprintf(want, sizeof(want),
             "mirror[0].file: %s/m.log is matched by tail[0].paths[0] (%s/*.log) into stream "
             "'S', so its lines would come back forever: add \"exclude_src\": [\"%s/m.log\"]",
             real, link, link);
    refused(f, text, want);
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/*.log\"], \"stream\": \"S\"}],\n"
             " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.log\", \"exclude_src\": "
             "\"%s/m.log\"}]}\n",
             link, real, link);
    accepted(f, text);

    /* the mirror named through the link, the tail through the real dir */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/m.log\"], \"stream\": \"S\"}],\n"
             " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.log\"}]}\n",
             real, link);
    refused(f, text, "is matched by tail[0].paths[0]");

    /* a literal path that is a dangling link to the mirror file */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"S\"}],\n"
             " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.log\"}]}\n",
             cur, real);
    snprintf(want, sizeof(want), "is matched by tail[0].paths[0] (%s)", cur);
    refused(f, text, want);

    /* a glob that matches a link to the mirror file */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/*.log\"], \"stream\": \"S\"}],\n"
             " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.log\"}]}\n",
             logs, real);
    snprintf(want, sizeof(want), "add \"exclude_src\": [\"%s\"]", entry);
    refused(f, text, want);
}

/* A template stream renders the mirror's stream: the same family. */
static void run_config_refuses_a_loop_through_a_template(void **state)
{
    struct fx *f = *state;
    char text[4096];
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/*.log\"], \"stream\": "
             "\"{ev}:%%{type}\"}],\n \"mirror\": [{\"stream\": \"{ev}:good\", \"file\": "
             "\"%s/m.log\"}]}\n",
             f->dir, f->dir);
    refused(f, text, "into '{ev}:%{type}' (which renders stream '{ev}:good')");
    /* a mirror over a template reads what a tail writes by name (DESIGN.md section 8) */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/*.log\"], \"stream\": "
             "\"{ev}:good\"}],\n \"mirror\": [{\"stream\": [\"{x}:a\", \"{ev}:%%{type}\"], "
             "\"file\": \"%s/m.log\"}]}\n",
             f->dir, f->dir);
    refused(f, text, "into '{ev}:good' (a stream of the mirror's template '{ev}:%{type}')");
    /* a name the template cannot render */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/*.log\"], \"stream\": "
             "\"{ev}:%%{type}\"}],\n \"mirror\": [{\"stream\": \"{ev}-good\", \"file\": "
             "\"%s/m.log\"}]}\n",
             f->dir, f->dir);
    accepted(f, text);
    /* with a name, the name is the src to exclude */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/m.log\"], \"stream\": "
             "\"{ev}:%%{role}:%%{type}\", \"name\": \"app\"}],\n \"mirror\": [{\"stream\": "
             "\"{ev}:a:b\", \"file\": \"%s/m.log\", \"exclude_src\": [\"%s/m.log\"]}]}\n",
             f->dir, f->dir, f->dir);
    refused(f, text, "add \"exclude_src\": [\"app\"]");
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/m.log\"], \"stream\": "
             "\"{ev}:%%{role}:%%{type}\", \"name\": \"app\"}],\n \"mirror\": [{\"stream\": "
             "\"{ev}:a:b\", \"file\": \"%s/m.log\", \"exclude_src\": [\"app\"]}]}\n",
             f->dir, f->dir);
    accepted(f, text);
}

/* Two mirrors on one file, one of them named through a symlink. */
static void run_config_refuses_two_mirrors_on_one_file_through_a_link(void **state)
{
    struct fx *f = *state;
    char real[400], link[400], text[4096];
    snprintf(real, sizeof(real), "%s/real", f->dir);
    snprintf(link, sizeof(link), "%s/link", f->dir);
    assert_int_equal(mkdir(real, 0755), 0);
    assert_int_equal(symlink(real, link), 0);
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"mirror\": [{\"stream\": \"A\", \"file\": \"%s/m.log\"},\n"
             " {\"stream\": \"B\", \"file\": \"%s/m.log\"}]}\n",
             real, link);
    refused(f, text, "is already the file of mirror[0]");
}

/* ---- the environment (preflight.c) ----------------------------------------------- */

/* A tailed directory that does not exist: exit 2 naming the path and the
 * key that allows it, not exit 3 at runtime; allowed, the config is OK. */
static void check_config_missing_tail_directory_names_the_path(void **state)
{
    struct fx *f = *state;
    char text[2048], want[1024];
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/a.log\", \"%s/nodir/b.log\"], "
             "\"stream\": \"S\"}]}\n",
             f->dir, f->dir);
    snprintf(want, sizeof(want),
             "tail[0].paths[1]: directory %s/nodir does not exist (create it, or set "
             "\"allow_missing_dirs\": true in tail[0] to wait for it)",
             f->dir);
    refused(f, text, want);
    /* a glob's directory too */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/a.log\"], \"stream\": \"S\"},\n"
             " {\"paths\": [\"%s/later/*.log\"], \"stream\": \"S\"}]}\n",
             f->dir, f->dir);
    snprintf(want, sizeof(want), "tail[1].paths[0]: directory %s/later does not exist", f->dir);
    refused(f, text, want);
    /* explicitly allowed to appear later */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/later/*.log\", \"%s/nodir/b.log\"], "
             "\"stream\": \"S\", \"allow_missing_dirs\": true}]}\n",
             f->dir, f->dir);
    accepted(f, text);
    /* --syntax-only does not look at the machine */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/nodir/b.log\"], \"stream\": \"S\"}]}\n",
             f->dir);
    assert_int_equal(lbt_write_file(f->cfg, text, strlen(text)), 0);
    const char *args[] = {"check-config", "--syntax-only", "--config", f->cfg, NULL};
    assert_int_equal(lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0), 0);
    assert_non_null(strstr(out, "config OK"));
}

/* Paths relative to the directory check-config ran in mean something else
 * to a service that starts in /. */
static void check_config_relative_paths_are_refused(void **state)
{
    struct fx *f = *state;
    char text[2048];
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/a.log\", \"app.log\"], \"stream\": "
             "\"S\"}]}\n",
             f->dir);
    refused(f, text, "tail[0].paths[1]: 'app.log' is not an absolute path");
    refused(f, "{" NOREDIS ", \"mirror\": [{\"stream\": \"S\", \"file\": \"legacy/m.log\"}]}",
            "mirror[0].file: 'legacy/m.log' is not an absolute path");
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"metrics_file\": \"m.prom\", \"mirror\": [{\"stream\": \"S\", "
             "\"file\": \"%s/m.log\"}]}",
             f->dir);
    refused(f, text, "metrics_file: 'm.prom' is not an absolute path");
}

/* Outputs: the metrics file's and a mirror's directory must exist; a tailed
 * path that is a directory is a mistake. */
static void check_config_output_directories_must_exist(void **state)
{
    struct fx *f = *state;
    char text[2048], want[1024];
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"metrics_file\": \"%s/prom/m.prom\", \"mirror\": [{\"stream\": "
             "\"S\", \"file\": \"%s/m.log\"}]}",
             f->dir, f->dir);
    snprintf(want, sizeof(want),
             "metrics_file: cannot create %s/prom/m.prom: directory %s/prom does not exist", f->dir,
             f->dir);
    refused(f, text, want);
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.log\"},"
             " {\"stream\": \"T\", \"file\": \"%s/legacy/t.log\"}]}",
             f->dir, f->dir);
    snprintf(want, sizeof(want),
             "mirror[1].file: cannot create %s/legacy/t.log: directory %s/legacy does not exist",
             f->dir, f->dir);
    refused(f, text, want);
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"S\"}]}", f->dir);
    snprintf(want, sizeof(want),
             "tail[0].paths[0]: %s is a directory, not a file (a glob such as %s/*.log", f->dir,
             f->dir);
    refused(f, text, want);
    /* a mirror file that is a symlink is never written through */
    char target[400], link[400];
    snprintf(target, sizeof(target), "%s/target.log", f->dir);
    snprintf(link, sizeof(link), "%s/link.log", f->dir);
    assert_int_equal(lbt_write_file(target, "", 0), 0);
    assert_int_equal(symlink(target, link), 0);
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"mirror\": [{\"stream\": \"S\", \"file\": \"%s\"}]}", link);
    refused(f, text, "mirror[0].file: ");
    assert_non_null(strstr(err, "is a symlink"));
}

/* check-config as the service's user (nobody): a directory it cannot write
 * is named. Root passes every permission check, so the test drops to
 * nobody when it runs as root. Returns the exit code; stderr in err. */
static int check_as_nobody(struct fx *f)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t p = fork();
    if (p == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
            _exit(99);
        execl(lbt_bin(), "logbridge", "check-config", "--config", f->cfg, (char *)NULL);
        _exit(98);
    }
    close(pfd[1]);
    size_t n = 0;
    ssize_t k;
    while ((k = read(pfd[0], err + n, sizeof(err) - 1 - n)) > 0)
        n += (size_t)k;
    err[n] = '\0';
    close(pfd[0]);
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void check_config_unwritable_mirror_directory_is_named(void **state)
{
    struct fx *f = *state;
    char ro[400], text[2048], want[1024];
    snprintf(ro, sizeof(ro), "%s/ro", f->dir);
    assert_int_equal(mkdir(ro, 0555), 0);
    assert_int_equal(chmod(ro, 0555), 0);
    assert_int_equal(chmod(f->dir, 0755), 0); /* nobody may look inside */
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/m.log\"}]}", ro);
    assert_int_equal(lbt_write_file(f->cfg, text, strlen(text)), 0);
    assert_int_equal(chmod(f->cfg, 0644), 0);
    int rc = check_as_nobody(f);
    if (rc == 99)
        skip(); /* cannot drop to nobody here */
    snprintf(want, sizeof(want),
             "mirror[0].file: cannot create %s/m.log: directory %s is not writable: Permission "
             "denied",
             ro, ro);
    if (rc != 2 || strstr(err, want) == NULL)
        fail_msg("exit %d, stderr:\n%s\nwant: %s", rc, err, want);
    /* and a tailed directory it cannot read */
    assert_int_equal(chmod(ro, 0300), 0);
    snprintf(text, sizeof(text),
             "{" NOREDIS ", \"tail\": [{\"paths\": [\"%s/*.log\"], \"stream\": \"S\"}]}", ro);
    assert_int_equal(lbt_write_file(f->cfg, text, strlen(text)), 0);
    rc = check_as_nobody(f);
    snprintf(want, sizeof(want), "tail[0].paths[0]: directory %s is not readable", ro);
    if (rc != 2 || strstr(err, want) == NULL)
        fail_msg("exit %d, stderr:\n%s\nwant: %s", rc, err, want);
    chmod(ro, 0755);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(run_config_unknown_key_names_its_path, setup, teardown),
        cmocka_unit_test_setup_teardown(run_config_wrong_type_names_its_path, setup, teardown),
        cmocka_unit_test_setup_teardown(run_config_bad_value_names_its_path, setup, teardown),
        cmocka_unit_test_setup_teardown(run_config_missing_stream_names_its_path, setup, teardown),
        cmocka_unit_test_setup_teardown(run_config_invalid_json_names_its_line, setup, teardown),
        cmocka_unit_test_setup_teardown(run_config_unreadable_file_is_exit_2, setup, teardown),
        cmocka_unit_test_setup_teardown(run_config_unwritable_log_file_is_exit_2, setup, teardown),
        cmocka_unit_test_setup_teardown(check_config_missing_tail_directory_names_the_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(check_config_relative_paths_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(check_config_output_directories_must_exist, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(check_config_unwritable_mirror_directory_is_named, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(run_check_config_accepts_a_good_config, setup, teardown),
        cmocka_unit_test_setup_teardown(run_config_refuses_a_glob_that_matches_the_mirror_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(run_config_refuses_a_loop_through_symlinks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(run_config_refuses_a_loop_through_a_template, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(run_config_refuses_two_mirrors_on_one_file_through_a_link,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
