/*
 * test_config.c - config.c: JSON entries become the argv of their job, and
 * every mistake is refused with the config path that names it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "lbtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct lb_config *parse_ok(const char *text)
{
    struct lb_error err = {0};
    struct lb_config *cfg = lb_config_parse(text, strlen(text), &err);
    if (cfg == NULL)
        fail_msg("refused: %s\n%s", err.msg, text);
    return cfg;
}

/* The config must be refused with a message that starts with want. */
static void parse_bad(const char *text, const char *want)
{
    struct lb_error err = {0};
    struct lb_config *cfg = lb_config_parse(text, strlen(text), &err);
    if (cfg != NULL) {
        lb_config_destroy(cfg);
        fail_msg("accepted: %s", text);
    }
    assert_int_equal(err.code, LB_EUSAGE);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("message '%s' does not start with '%s'", err.msg, want);
}

/* argv joined by spaces, for exact comparisons */
static const char *joined(const struct lb_config_job *j)
{
    static char buf[4096];
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < j->argc; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? " " : "", j->argv[i]);
    assert_null(j->argv[j->argc]);
    return buf;
}

static void config_entries_become_argv(void **state)
{
    (void)state;
    struct lb_config *cfg = parse_ok(
        "{\"redis\": \"unix:///run/redis.sock\", \"log_level\": \"debug\",\n"
        " \"tail\": [{\"paths\": [\"/var/log/a.log\", \"/var/log/b-*.log\"], \"stream\": \"app\",\n"
        "            \"maxlen\": 100000, \"rotate_wait\": 2.5, \"once\": false,\n"
        "            \"trim_ignore_groups\": true, \"from\": \"end\"}],\n"
        " \"mirror\": [{\"stream\": \"app\", \"file\": \"/srv/legacy/app.log\", \"from\": 0,\n"
        "              \"exclude_src\": [\"/var/log/a.log\", \"x\"], \"fsync\": \"always\"},\n"
        "             {\"stream\": \"b\", \"file\": \"/srv/legacy/b.log\", \"exclude_src\": "
        "\"one\"}]}");
    assert_int_equal(cfg->njobs, 3);
    assert_int_equal(cfg->ntail, 1);
    assert_int_equal(cfg->nmirror, 2);
    assert_int_equal(cfg->jobs[0].kind, LB_CONFIG_TAIL);
    assert_string_equal(cfg->jobs[0].prefix, "tail[0]");
    assert_string_equal(joined(&cfg->jobs[0]),
                        "tail --redis=unix:///run/redis.sock --log-level=debug --stream=app "
                        "--maxlen=100000 --rotate-wait=2.5 --trim-ignore-groups --from=end -- "
                        "/var/log/a.log /var/log/b-*.log");
    assert_int_equal(cfg->jobs[1].kind, LB_CONFIG_MIRROR);
    assert_string_equal(cfg->jobs[1].prefix, "mirror[0]");
    assert_string_equal(joined(&cfg->jobs[1]),
                        "mirror --redis=unix:///run/redis.sock --log-level=debug --stream=app "
                        "--file=/srv/legacy/app.log --from=0 --exclude-src=/var/log/a.log "
                        "--exclude-src=x --fsync=always");
    assert_string_equal(cfg->jobs[2].prefix, "mirror[1]");
    assert_string_equal(joined(&cfg->jobs[2]),
                        "mirror --redis=unix:///run/redis.sock --log-level=debug --stream=b "
                        "--file=/srv/legacy/b.log --exclude-src=one");
    /* the top level's common options, as the process uses them */
    assert_string_equal(cfg->c.redis_url, "unix:///run/redis.sock");
    assert_int_equal(cfg->c.log_level, LB_LOG_DEBUG);
    assert_null(cfg->c.metrics_file);
    lb_config_destroy(cfg);
}

static void config_entry_value_overrides_top_level(void **state)
{
    (void)state;
    struct lb_config *cfg = parse_ok(
        "{\"redis\": \"redis://a:6379/0\", \"no_provenance\": true, \"format\": \"jsonl\",\n"
        " \"tail\": [{\"paths\": [\"x\"], \"stream\": \"s\", \"redis\": \"redis://b:6380/1\",\n"
        "            \"no_provenance\": false},\n"
        "           {\"paths\": [\"-y\"], \"stream\": \"s2\"}]}");
    /* a false flag in the entry drops the top level's true */
    assert_string_equal(joined(&cfg->jobs[0]),
                        "tail --format=jsonl --stream=s --redis=redis://b:6380/1 -- x");
    assert_string_equal(joined(&cfg->jobs[1]),
                        "tail --redis=redis://a:6379/0 --no-provenance --format=jsonl "
                        "--stream=s2 -- -y");
    assert_int_equal(cfg->c.provenance, 0);
    assert_int_equal(cfg->c.jsonl, 1);
    lb_config_destroy(cfg);
}

static void config_top_level_common_options_are_read(void **state)
{
    (void)state;
    struct lb_config *cfg = parse_ok(
        "{\"metrics_file\": \"/var/lib/node_exporter/logbridge.prom\", \"log_format\": \"json\",\n"
        " \"log_file\": \"/var/log/logbridge.log\", \"max_line\": 4096, \"encoding\": \"json\",\n"
        " \"json_field\": \"payload\", \"mirror\": [{\"stream\": \"s\", \"file\": \"/f\"}]}");
    assert_string_equal(cfg->c.metrics_file, "/var/lib/node_exporter/logbridge.prom");
    assert_string_equal(cfg->c.log_file, "/var/log/logbridge.log");
    assert_int_equal(cfg->c.log_json, 1);
    assert_int_equal(cfg->c.max_line, 4096);
    assert_int_equal(cfg->c.json_encoding, 1);
    assert_string_equal(cfg->c.json_field, "payload");
    assert_string_equal(joined(&cfg->jobs[0]),
                        "mirror --metrics-file=/var/lib/node_exporter/logbridge.prom "
                        "--log-format=json --log-file=/var/log/logbridge.log --max-line=4096 "
                        "--encoding=json --json-field=payload --stream=s --file=/f");
    lb_config_destroy(cfg);
}

static void config_unknown_keys_name_their_path(void **state)
{
    (void)state;
    parse_bad("{\"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\"},\n"
              "          {\"pathz\": [\"a\"], \"stream\": \"s\"}]}",
              "tail[1].pathz: unknown key");
    parse_bad("{\"mirror\": [{\"stream\": \"s\", \"file\": \"/f\", \"maxlen\": 3}]}",
              "mirror[0].maxlen: unknown key");
    parse_bad("{\"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\", \"fsync\": \"always\"}]}",
              "tail[0].fsync: unknown key");
    parse_bad("{\"redis_url\": \"x\", \"tail\": []}", "redis_url: unknown key");
    /* a typo gets a hint; a word far from every key does not */
    parse_bad("{\"tail\": [{\"pathz\": [\"a\"], \"stream\": \"s\"}]}",
              "tail[0].pathz: unknown key for a tail job (did you mean 'paths'?)");
    parse_bad("{\"mirrors\": []}", "mirrors: unknown key (did you mean 'mirror'?)");
    parse_bad("{\"metric_file\": \"/m\", \"tail\": []}",
              "metric_file: unknown key (did you mean 'metrics_file'?)");
    parse_bad("{\"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\", \"rotatewait\": 3}]}",
              "tail[0].rotatewait: unknown key for a tail job (did you mean 'rotate_wait'?)");
    parse_bad("{\"mirror\": [{\"stream\": \"s\", \"file\": \"/f\", \"exclude_scr\": \"x\"}]}",
              "mirror[0].exclude_scr: unknown key for a mirror job (did you mean "
              "'exclude_src'?)");
    struct lb_error err = {0};
    const char *far = "{\"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\", \"bogus\": 1}]}";
    assert_null(lb_config_parse(far, strlen(far), &err));
    assert_string_equal(err.msg, "tail[0].bogus: unknown key for a tail job");
    /* process-wide options only at the top; job options only in entries */
    parse_bad("{\"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\", \"log_level\": \"debug\"}]}",
              "tail[0].log_level: is a process-wide option");
    parse_bad("{\"stream\": \"s\", \"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\"}]}",
              "stream: is an option of a job");
    parse_bad("{\"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\", \"stream\": \"t\"}]}",
              "tail[0].stream: duplicate key");
    parse_bad("{\"tail\": [], \"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\"}]}",
              "tail: duplicate key");
}

static void config_wrong_types_name_their_path(void **state)
{
    (void)state;
    parse_bad("{\"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\", \"maxlen\": true}]}",
              "tail[0].maxlen: expected a number");
    parse_bad("{\"tail\": [{\"paths\": \"a.log\", \"stream\": \"s\"}]}",
              "tail[0].paths: expected a non-empty array");
    parse_bad("{\"tail\": [{\"paths\": [], \"stream\": \"s\"}]}",
              "tail[0].paths: expected a non-empty array");
    parse_bad("{\"tail\": [{\"paths\": [\"a\", 3], \"stream\": \"s\"}]}",
              "tail[0].paths: expected a non-empty array");
    parse_bad("{\"tail\": [{\"paths\": [\"a\"], \"stream\": 5}]}",
              "tail[0].stream: expected a string");
    parse_bad("{\"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\", \"once\": \"yes\"}]}",
              "tail[0].once: expected true or false");
    parse_bad("{\"mirror\": [{\"stream\": \"s\", \"file\": \"/f\", \"exclude_src\": [1]}]}",
              "mirror[0].exclude_src: expected a string or an array of strings");
    parse_bad("{\"mirror\": [{\"stream\": \"s\", \"file\": null}]}",
              "mirror[0].file: expected a string");
    parse_bad("{\"mirror\": [{\"stream\": \"s\", \"file\": \"/f\", \"from\": [0]}]}",
              "mirror[0].from: expected a string or a number");
    parse_bad("{\"tail\": {\"paths\": [\"a\"], \"stream\": \"s\"}}",
              "tail: expected an array of job objects");
    parse_bad("{\"tail\": [[\"a\"]]}", "tail[0]: expected an object");
    parse_bad("{\"log_level\": 3, \"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\"}]}",
              "log_level: expected a string");
    parse_bad("[{\"tail\": []}]", "expected a JSON object");
}

static void config_bad_top_level_values_name_their_key(void **state)
{
    (void)state;
    const char *job = "\"tail\": [{\"paths\": [\"a\"], \"stream\": \"s\"}]";
    char text[512];
    static const struct {
        const char *kv, *want;
    } cases[] = {
        {"\"log_level\": \"loud\"", "log_level: expected error, warn, info or debug"},
        {"\"log_format\": \"xml\"", "log_format: expected text or json"},
        {"\"format\": \"csv\"", "format: expected pipe or jsonl"},
        {"\"encoding\": \"msgpack\"", "encoding: expected fields or json"},
        {"\"redis\": \"http://x\"", "redis: "},
        {"\"max_line\": 8", "max_line: expected a number of bytes"},
        {"\"max_line\": \"big\"", "max_line: expected a number of bytes"},
        {"\"metrics_file\": \"\"", "metrics_file: expected a path"},
        {"\"json_field\": \"\"", "json_field: expected a field name"},
        {"\"no_provenance\": 1", "no_provenance: expected true or false"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "{%s, %s}", cases[i].kv, job);
        parse_bad(text, cases[i].want);
    }
}

static void config_required_keys_are_named(void **state)
{
    (void)state;
    parse_bad("{\"tail\": [{\"paths\": [\"a\"]}]}", "tail[0].stream: is required");
    parse_bad("{\"tail\": [{\"stream\": \"s\"}]}", "tail[0].paths: is required");
    parse_bad("{\"mirror\": [{\"stream\": \"s\"}]}", "mirror[0].file: is required");
    parse_bad("{\"mirror\": [{\"file\": \"/f\"}]}", "mirror[0].stream: is required");
    parse_bad("{\"redis\": \"redis://h\"}", "no jobs");
    parse_bad("{\"tail\": [], \"mirror\": []}", "no jobs");
}

static void config_invalid_json_names_the_line(void **state)
{
    (void)state;
    parse_bad("{\n  \"tail\": [\n    {\"paths\": [\"a\"] \"stream\": \"s\"}\n  ]\n}\n",
              "line 3: invalid JSON");
    parse_bad("{\n  \"tail\": [\n", "line 3: invalid JSON");
    parse_bad("", "line 1: invalid JSON");
    parse_bad("{\"tail\": []} trailing", "line 1: invalid JSON");
    parse_bad("{\"tail\": [],\n \"mirror\": [],}\n", "line 2: invalid JSON");
    const char nul[] = "{\"tail\": [\0]}";
    struct lb_error err = {0};
    assert_null(lb_config_parse(nul, sizeof(nul) - 1, &err));
    assert_non_null(strstr(err.msg, "NUL"));
}

static void config_refuses_two_mirrors_on_one_file(void **state)
{
    (void)state;
    parse_bad("{\"mirror\": [{\"stream\": \"a\", \"file\": \"/srv/x.log\"},\n"
              "            {\"stream\": \"b\", \"file\": \"/srv/../srv/x.log\"}]}",
              "mirror[1].file: /srv/x.log is already the file of mirror[0]");
}

static void config_refuses_a_mirror_loop(void **state)
{
    (void)state;
    /* tailed into S and mirrored from S: lines would come back forever */
    parse_bad("{\"tail\": [{\"paths\": [\"/var/log/app.log\"], \"stream\": \"S\"}],\n"
              " \"mirror\": [{\"stream\": \"S\", \"file\": \"/var/log/app.log\"}]}",
              "mirror[0].file: /var/log/app.log is matched by tail[0].paths[0]");
    /* the same with loop prevention is fine */
    struct lb_config *cfg =
        parse_ok("{\"tail\": [{\"paths\": [\"/var/log/app.log\"], \"stream\": \"S\"}],\n"
                 " \"mirror\": [{\"stream\": \"S\", \"file\": \"/var/log/app.log\",\n"
                 "               \"exclude_src\": \"/var/log/app.log\"}]}");
    lb_config_destroy(cfg);
    /* with --name, the src to exclude is the name */
    parse_bad("{\"tail\": [{\"paths\": [\"/var/log/app.log\"], \"stream\": \"S\", \"name\": "
              "\"app\"}],\n"
              " \"mirror\": [{\"stream\": \"S\", \"file\": \"/var/log/app.log\",\n"
              "               \"exclude_src\": \"/var/log/app.log\"}]}",
              "mirror[0].file: /var/log/app.log is matched by tail[0].paths[0]");
    cfg = parse_ok("{\"tail\": [{\"paths\": [\"/var/log/app.log\"], \"stream\": \"S\", \"name\": "
                   "\"app\"}],\n"
                   " \"mirror\": [{\"stream\": \"S\", \"file\": \"/var/log/app.log\",\n"
                   "               \"exclude_src\": [\"app\"]}]}");
    lb_config_destroy(cfg);
    /* another stream is no loop */
    cfg = parse_ok("{\"tail\": [{\"paths\": [\"/var/log/app.log\"], \"stream\": \"S\"}],\n"
                   " \"mirror\": [{\"stream\": \"T\", \"file\": \"/var/log/app.log\"}]}");
    lb_config_destroy(cfg);
}

static void config_refuses_one_src_in_two_tails(void **state)
{
    (void)state;
    parse_bad("{\"tail\": [{\"paths\": [\"/var/log/a.log\"], \"stream\": \"S\"},\n"
              "          {\"paths\": [\"/var/log/b.log\", \"/var/log/../log/a.log\"], "
              "\"stream\": \"S\"}]}",
              "tail[1].paths: src /var/log/a.log is already read by tail[0]");
    /* within one entry */
    parse_bad("{\"tail\": [{\"paths\": [\"/var/log/a.log\", \"/var/log/a.log\"], \"stream\": "
              "\"S\"}]}",
              "tail[0].paths: src /var/log/a.log is already read by tail[0]");
    /* one checkpoint hash for streams with the same hash tag */
    parse_bad("{\"tail\": [{\"paths\": [\"/var/log/a.log\"], \"stream\": \"{app}:x\"},\n"
              "          {\"paths\": [\"/var/log/a.log\"], \"stream\": \"{app}:y\"}]}",
              "tail[1].paths: src /var/log/a.log is already read by tail[0]");
    /* other streams, other names, or globs: fine */
    struct lb_config *cfg =
        parse_ok("{\"tail\": [{\"paths\": [\"/var/log/a.log\"], \"stream\": \"S\"},\n"
                 "          {\"paths\": [\"/var/log/a.log\"], \"stream\": \"T\"},\n"
                 "          {\"paths\": [\"/var/log/a.log\"], \"stream\": \"S\", \"name\": "
                 "\"a2\"},\n"
                 "          {\"paths\": [\"/var/log/*.log\"], \"stream\": \"S\"}]}");
    assert_int_equal(cfg->ntail, 4);
    lb_config_destroy(cfg);
}

static void config_load_reads_a_file(void **state)
{
    (void)state;
    char dir[256], path[320];
    assert_int_equal(lbt_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/c.json", dir);
    struct lb_error err = {0};
    assert_null(lb_config_load(path, &err));
    assert_int_equal(err.code, LB_EIO);
    /* bigger than the first read buffer */
    size_t cap = 64 * 1024;
    char *text = malloc(cap);
    size_t o = (size_t)snprintf(text, cap, "{\"mirror\": [");
    for (int i = 0; i < 400; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s{\"stream\": \"s%d\", \"file\": \"/f/%d\"}",
                              i ? ",\n" : "", i, i);
    o += (size_t)snprintf(text + o, cap - o, "]}\n");
    assert_int_equal(lbt_write_file(path, text, o), 0);
    struct lb_config *cfg = lb_config_load(path, &err);
    if (cfg == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(cfg->nmirror, 400);
    assert_string_equal(cfg->jobs[399].prefix, "mirror[399]");
    lb_config_destroy(cfg);
    lb_config_destroy(NULL);
    free(text);
    lbt_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_entries_become_argv),
        cmocka_unit_test(config_entry_value_overrides_top_level),
        cmocka_unit_test(config_top_level_common_options_are_read),
        cmocka_unit_test(config_unknown_keys_name_their_path),
        cmocka_unit_test(config_wrong_types_name_their_path),
        cmocka_unit_test(config_bad_top_level_values_name_their_key),
        cmocka_unit_test(config_required_keys_are_named),
        cmocka_unit_test(config_invalid_json_names_the_line),
        cmocka_unit_test(config_refuses_two_mirrors_on_one_file),
        cmocka_unit_test(config_refuses_a_mirror_loop),
        cmocka_unit_test(config_refuses_one_src_in_two_tails),
        cmocka_unit_test(config_load_reads_a_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
