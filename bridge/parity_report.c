/*
 * parity_report.c - the three forms of a parity report: a short text for
 * people, one JSON object for scripts, JUnit XML for CI.
 *
 * Compared lines are arbitrary bytes (the legacy format does not promise
 * UTF-8), but JSON and XML must be valid: every writer decodes UTF-8 strictly
 * and writes U+FFFD for a byte that does not start a valid sequence (and, in
 * XML, for the control characters XML 1.0 cannot carry at all). The text form
 * shows control bytes as \xNN so that a hostile line cannot drive a terminal.
 */
#include "parity_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LB_TEXT_EXAMPLE_MAX 240 /* bytes of a line shown in the text report */

static const char lb_replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

const char *lb_parity_kind_name(enum lb_parity_kind k)
{
    switch (k) {
    case LB_PK_MISSING:
        return "missing_in_stream";
    case LB_PK_EXTRA:
        return "extra_in_stream";
    case LB_PK_MISMATCHED:
        return "mismatched";
    case LB_PK_OOO:
        return "out_of_order";
    }
    return "unknown";
}

int lb_parity_equal(const struct lb_parity_counts *c)
{
    return c->missing == 0 && c->extra == 0 && c->mismatched == 0 && c->ooo == 0;
}

/* ---- JSON ------------------------------------------------------------------- */

static void lb_json_str(FILE *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            size_t j = i + 1;
            while (j < n && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' && p[j] != '\\')
                j++;
            fwrite(p + i, 1, j - i, out);
            i = j;
            continue;
        }
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n':
                fputs("\\n", out);
                break;
            case '\r':
                fputs("\\r", out);
                break;
            case '\t':
                fputs("\\t", out);
                break;
            default:
                fputs("\\u00", out);
                fputc(hex[c >> 4], out);
                fputc(hex[c & 15], out);
            }
            i++;
        } else {
            size_t len = lb_utf8_seq_len((const char *)p + i, n - i);
            if (len == 0) {
                fputs(lb_replacement, out);
                i++;
            } else {
                fwrite(p + i, 1, len, out);
                i += len;
            }
        }
    }
    fputc('"', out);
}

static void lb_json_cstr(FILE *out, const char *s)
{
    lb_json_str(out, s, strlen(s));
}

int lb_parity_write_json(FILE *out, const struct lb_parity_report *r)
{
    const struct lb_parity_counts *c = &r->c;
    fprintf(out,
            "{\"equal\":%s,\"file_lines\":%" PRIu64 ",\"stream_entries\":%" PRIu64
            ",\"matched\":%" PRIu64 ",\"missing_in_stream\":%" PRIu64
            ",\"extra_in_stream\":%" PRIu64 ",\"mismatched\":%" PRIu64 ",\"out_of_order\":%" PRIu64
            ",\"trimmed\":%" PRIu64 ",\"bad_lines\":%" PRIu64 ",\"pending\":%" PRIu64
            ",\"accepted\":%" PRIu64 ",\"baseline_unused\":%" PRIu64 ",\"examples\":[",
            lb_parity_equal(c) ? "true" : "false", c->file_lines, c->stream_entries, c->matched,
            c->missing, c->extra, c->mismatched, c->ooo, c->trimmed, c->bad, c->pending,
            c->accepted, r->baseline_unused);
    for (size_t i = 0; i < r->nexamples; i++) {
        const struct lb_parity_example *e = &r->examples[i];
        fputs(i ? ",{\"kind\":" : "{\"kind\":", out);
        lb_json_cstr(out, lb_parity_kind_name(e->kind));
        fputs(",\"file\":", out);
        if (e->file >= 0 && e->file < r->nfiles)
            lb_json_cstr(out, r->files[e->file].path);
        else
            fputs("null", out);
        if (e->line > 0)
            fprintf(out, ",\"line\":%" PRIu64, e->line);
        else
            fputs(",\"line\":null", out);
        if (e->has_id)
            fprintf(out, ",\"id\":\"%" PRIu64 "-%" PRIu64 "\"", e->ms, e->seq);
        else
            fputs(",\"id\":null", out);
        fputs(",\"stream\":", out);
        if (e->stream != NULL)
            lb_json_cstr(out, e->stream);
        else
            fputs("null", out);
        fputs(",\"expected\":", out);
        if (e->expected != NULL)
            lb_json_str(out, e->expected, e->expected_n);
        else
            fputs("null", out);
        fputs(",\"actual\":", out);
        if (e->actual != NULL)
            lb_json_str(out, e->actual, e->actual_n);
        else
            fputs("null", out);
        fputc('}', out);
    }
    fputs("]}\n", out);
    return ferror(out) ? -1 : 0;
}

/* ---- text --------------------------------------------------------------------- */

/* A line for a terminal: printable bytes as they are, control bytes as \xNN,
 * at most LB_TEXT_EXAMPLE_MAX bytes of it. */
static void lb_text_line(FILE *out, const char *s, size_t n)
{
    size_t shown = n > LB_TEXT_EXAMPLE_MAX ? LB_TEXT_EXAMPLE_MAX : n;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    if (shown < n)
        fprintf(out, "... (%zu bytes)", n);
}

static void lb_text_example(FILE *out, const struct lb_parity_report *r,
                            const struct lb_parity_example *e)
{
    fprintf(out, "  %-18s", lb_parity_kind_name(e->kind));
    if (e->file >= 0 && e->file < r->nfiles) {
        fputc(' ', out);
        lb_text_line(out, r->files[e->file].path, strlen(r->files[e->file].path));
        if (e->line > 0)
            fprintf(out, ":%" PRIu64, e->line);
    }
    if (e->has_id)
        fprintf(out, " id=%" PRIu64 "-%" PRIu64, e->ms, e->seq);
    if (e->stream != NULL) {
        fputs(" stream=", out);
        lb_text_line(out, e->stream, strlen(e->stream));
    }
    fputc('\n', out);
    if (e->expected != NULL) {
        fputs("      expected: ", out);
        lb_text_line(out, e->expected, e->expected_n);
        fputc('\n', out);
    }
    if (e->actual != NULL) {
        fputs("      actual:   ", out);
        lb_text_line(out, e->actual, e->actual_n);
        fputc('\n', out);
    }
}

int lb_parity_write_text(FILE *out, const struct lb_parity_report *r)
{
    const struct lb_parity_counts *c = &r->c;
    int eq = lb_parity_equal(c);
    fputs(eq ? "EQUAL" : "DIFFERENT", out);
    fputs(": stream ", out);
    lb_text_line(out, r->stream, strlen(r->stream));
    fprintf(out, " vs %d file%s (order %s, aligned by %s)\n", r->nfiles, r->nfiles == 1 ? "" : "s",
            r->order_any ? "any" : "strict",
            r->order_any    ? "content"
            : r->aligned_by ? "src/off"
                            : "content");
    const struct {
        const char *name;
        uint64_t v;
    } rows[] = {
        {"file_lines", c->file_lines}, {"stream_entries", c->stream_entries},
        {"matched", c->matched},       {"missing_in_stream", c->missing},
        {"extra_in_stream", c->extra}, {"mismatched", c->mismatched},
        {"out_of_order", c->ooo},      {"trimmed", c->trimmed},
        {"bad_lines", c->bad},         {"pending", c->pending},
        {"accepted", c->accepted},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        fprintf(out, "  %-18s %" PRIu64 "\n", rows[i].name, rows[i].v);
    if (c->trimmed > 0)
        fprintf(out,
                "  (%" PRIu64 " line%s older than the stream's retained entries: trimmed, "
                "not missing)\n",
                c->trimmed, c->trimmed == 1 ? " is" : "s are");
    if (c->outside > 0)
        fprintf(out, "  (%" PRIu64 " line%s outside the --from/--to window, not compared)\n",
                c->outside, c->outside == 1 ? "" : "s");
    if (c->pending > 0)
        fprintf(out,
                "  (%" PRIu64 " line%s past the checkpoint of a file being tailed: pending, "
                "not missing)\n",
                c->pending, c->pending == 1 ? " is" : "s are");
    if (c->accepted > 0 || r->baseline != NULL)
        fprintf(out,
                "  (%" PRIu64 " difference%s accepted by the baseline; %" PRIu64
                " of its items matched no difference)\n",
                c->accepted, c->accepted == 1 ? "" : "s", r->baseline_unused);
    if (r->nexamples > 0) {
        uint64_t diffs = c->missing + c->extra + c->mismatched + c->ooo;
        fprintf(out, "examples (%zu of %" PRIu64 "):\n", r->nexamples, diffs);
        for (size_t i = 0; i < r->nexamples; i++)
            lb_text_example(out, r, &r->examples[i]);
    }
    return ferror(out) ? -1 : 0;
}

/* ---- JUnit XML ------------------------------------------------------------------- */

/* XML 1.0 text or attribute value: markup escaped, invalid UTF-8 and the
 * characters XML cannot carry (controls other than tab, LF, CR; U+FFFE/F)
 * replaced by U+FFFD. In attributes, tab/LF/CR become character references
 * so that attribute normalisation keeps them. */
static void lb_xml_str(FILE *out, const char *s, size_t n, int attr)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        switch (c) {
        case '&':
            fputs("&amp;", out);
            i++;
            continue;
        case '<':
            fputs("&lt;", out);
            i++;
            continue;
        case '>':
            fputs("&gt;", out);
            i++;
            continue;
        case '"':
            fputs(attr ? "&quot;" : "\"", out);
            i++;
            continue;
        case '\'':
            fputs(attr ? "&apos;" : "'", out);
            i++;
            continue;
        case '\t':
        case '\n':
        case '\r':
            if (attr)
                fprintf(out, "&#%d;", c);
            else if (c == '\r')
                fputs("&#13;", out); /* a raw CR would be normalised away */
            else
                fputc(c, out);
            i++;
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            /* 0x7f is allowed by XML 1.0 but discouraged; controls are not. */
            if (c == 0x7f)
                fputs("&#127;", out);
            else
                fputs(lb_replacement, out);
            i++;
            continue;
        }
        size_t len = lb_utf8_seq_len((const char *)p + i, n - i);
        if (len == 0) {
            fputs(lb_replacement, out);
            i++;
        } else if (len == 3 && p[i] == 0xEF && p[i + 1] == 0xBF &&
                   (p[i + 2] == 0xBE || p[i + 2] == 0xBF)) {
            fputs(lb_replacement, out); /* U+FFFE, U+FFFF: not XML characters */
            i += 3;
        } else {
            fwrite(p + i, 1, len, out);
            i += len;
        }
    }
}

static void lb_xml_cstr(FILE *out, const char *s, int attr)
{
    lb_xml_str(out, s, strlen(s), attr);
}

static void lb_junit_counts(FILE *out, const struct lb_parity_counts *c)
{
    fprintf(out,
            "file_lines=%" PRIu64 " matched=%" PRIu64 " missing_in_stream=%" PRIu64
            " mismatched=%" PRIu64 " out_of_order=%" PRIu64 " trimmed=%" PRIu64
            " bad_lines=%" PRIu64 " pending=%" PRIu64 " accepted=%" PRIu64 "\n",
            c->file_lines, c->matched, c->missing, c->mismatched, c->ooo, c->trimmed, c->bad,
            c->pending, c->accepted);
}

static void lb_junit_example(FILE *out, const struct lb_parity_report *r,
                             const struct lb_parity_example *e)
{
    lb_xml_cstr(out, lb_parity_kind_name(e->kind), 0);
    if (e->file >= 0 && e->file < r->nfiles) {
        fputc(' ', out);
        lb_xml_cstr(out, r->files[e->file].path, 0);
        if (e->line > 0)
            fprintf(out, ":%" PRIu64, e->line);
    }
    if (e->has_id)
        fprintf(out, " id=%" PRIu64 "-%" PRIu64, e->ms, e->seq);
    if (e->stream != NULL) {
        fputs(" stream=", out);
        lb_xml_cstr(out, e->stream, 0);
    }
    fputc('\n', out);
    if (e->expected != NULL) {
        fputs("  expected: ", out);
        lb_xml_str(out, e->expected, e->expected_n, 0);
        fputc('\n', out);
    }
    if (e->actual != NULL) {
        fputs("  actual:   ", out);
        lb_xml_str(out, e->actual, e->actual_n, 0);
        fputc('\n', out);
    }
}

static void lb_junit_property(FILE *out, const char *name, const char *value)
{
    fprintf(out, "    <property name=\"%s\" value=\"", name);
    lb_xml_cstr(out, value, 1);
    fputs("\"/>\n", out);
}

/* A FILE's test case name: its route, and for a rotated generation its place
 * counted back from the newest FILE of the route. Paths change as logrotate
 * renames the files; the route and the place do not, so CI keeps one
 * history per test case. */
static void lb_junit_name(FILE *out, const struct lb_parity_file *f)
{
    lb_xml_cstr(out, f->route != NULL ? f->route : f->path, 1);
    if (f->generation != 0)
        fprintf(out, " (generation %d)", f->generation);
}

/*
 * JUnit XML as Jenkins and GitLab read it (contrib/ci/junit.xsd is the
 * schema, checked by the tests with xmllint): one <testsuite> with name,
 * tests, failures, errors, skipped, time, timestamp (UTC, no zone, as the
 * schema's pattern wants) and hostname; <properties>; one <testcase> per
 * FILE (failed when it has missing, mismatched or out-of-order lines) and
 * one for the stream (entries found in no FILE), each with classname, name
 * and time; then the suite's <system-out> and <system-err>. A test case's
 * time is the run's time shared out by the lines and entries it compared:
 * the FILEs are read side by side, so no case has a time of its own.
 */
int lb_parity_write_junit(FILE *out, const struct lb_parity_report *r)
{
    int failures = r->c.extra > 0;
    for (int i = 0; i < r->nfiles; i++) {
        const struct lb_parity_counts *f = &r->files[i].c;
        failures += f->missing + f->mismatched + f->ooo > 0;
    }
    double units = (double)r->c.file_lines + (double)r->c.stream_entries;
    double per = units > 0 ? r->seconds / units : 0;
    char ts[32] = "1970-01-01T00:00:00";
    time_t t0 = (time_t)r->started;
    struct tm tm;
    if (gmtime_r(&t0, &tm) != NULL)
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"logbridge parity ", out);
    lb_xml_cstr(out, r->stream, 1);
    fprintf(out,
            "\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"0\" time=\"%.3f\" "
            "timestamp=\"%s\" hostname=\"",
            r->nfiles + 1, failures, r->seconds, ts);
    lb_xml_cstr(out, r->hostname != NULL && r->hostname[0] != '\0' ? r->hostname : "localhost", 1);
    fputs("\">\n  <properties>\n", out);
    lb_junit_property(out, "stream", r->stream);
    lb_junit_property(out, "order", r->order_any ? "any" : "strict");
    lb_junit_property(out, "aligned_by", r->order_any || !r->aligned_by ? "content" : "src/off");
    if (r->baseline != NULL)
        lb_junit_property(out, "baseline", r->baseline);
    fputs("  </properties>\n", out);
    for (int i = 0; i < r->nfiles; i++) {
        const struct lb_parity_counts *f = &r->files[i].c;
        fputs("  <testcase classname=\"logbridge.parity\" name=\"", out);
        lb_junit_name(out, &r->files[i]);
        fprintf(out, "\" time=\"%.3f\">\n", per * (double)f->file_lines);
        if (f->missing + f->mismatched + f->ooo > 0) {
            fprintf(out,
                    "    <failure type=\"parity\" message=\"missing_in_stream=%" PRIu64
                    " mismatched=%" PRIu64 " out_of_order=%" PRIu64 "\">",
                    f->missing, f->mismatched, f->ooo);
            lb_junit_counts(out, f);
            for (size_t k = 0; k < r->nexamples; k++)
                if (r->examples[k].file == i)
                    lb_junit_example(out, r, &r->examples[k]);
            fputs("</failure>\n", out);
        }
        fputs("    <system-out>file=", out);
        lb_xml_cstr(out, r->files[i].path, 0);
        fputc('\n', out);
        lb_junit_counts(out, f);
        fputs("</system-out>\n  </testcase>\n", out);
    }
    /* Entries that belong to no line cannot be pinned on a file. */
    fputs("  <testcase classname=\"logbridge.parity\" name=\"stream ", out);
    lb_xml_cstr(out, r->stream, 1);
    fprintf(out, "\" time=\"%.3f\">\n", per * (double)r->c.stream_entries);
    if (r->c.extra > 0) {
        fprintf(out,
                "    <failure type=\"parity\" message=\"extra_in_stream=%" PRIu64 "\">"
                "stream_entries=%" PRIu64 " extra_in_stream=%" PRIu64 "\n",
                r->c.extra, r->c.stream_entries, r->c.extra);
        for (size_t k = 0; k < r->nexamples; k++)
            if (r->examples[k].kind == LB_PK_EXTRA)
                lb_junit_example(out, r, &r->examples[k]);
        fputs("</failure>\n", out);
    }
    fprintf(out,
            "    <system-out>stream_entries=%" PRIu64 " extra_in_stream=%" PRIu64
            "</system-out>\n  </testcase>\n",
            r->c.stream_entries, r->c.extra);
    fprintf(out, "  <system-out>%s: ", lb_parity_equal(&r->c) ? "EQUAL" : "DIFFERENT");
    lb_junit_counts(out, &r->c);
    fprintf(out, "stream_entries=%" PRIu64 " extra_in_stream=%" PRIu64 "</system-out>\n",
            r->c.stream_entries, r->c.extra);
    fputs("  <system-err></system-err>\n</testsuite>\n", out);
    return ferror(out) ? -1 : 0;
}

/* ---- the report ------------------------------------------------------------------------------ */

static int lb_parity_emit_report(const struct lb_parity_opts *o, const struct lb_parity_report *r,
                                 FILE *out)
{
    switch (o->report) {
    case LB_REPORT_JSON:
        return lb_parity_write_json(out, r);
    case LB_REPORT_JUNIT:
        return lb_parity_write_junit(out, r);
    default:
        return lb_parity_write_text(out, r);
    }
}

/* --out: a temp file in the same directory, fsync'ed, renamed over PATH. */
int lb_parity_write_out(const struct lb_parity_opts *o, const struct lb_parity_report *r,
                        struct lb_error *err)
{
    if (o->out == NULL) {
        int rc = lb_parity_emit_report(o, r, stdout);
        if (fflush(stdout) != 0 || rc != 0)
            return lb_error_set(err, LB_EIO, "writing the report: %s", strerror(errno));
        return 0;
    }
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", o->out) >= (int)sizeof(tmp))
        return lb_error_set(err, LB_EIO, "%s: path too long", o->out);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return lb_error_set(err, LB_EIO, "%s: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return lb_error_set(err, LB_EIO, "%s: %s", tmp, strerror(e));
    }
    int rc = lb_parity_emit_report(o, r, f);
    if (rc == 0 && fflush(f) != 0)
        rc = -1;
    if (rc == 0 && fsync(fileno(f)) != 0)
        rc = -1;
    int e = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0) {
        /* mkstemp made it 0600; a report is as readable as any file we create. */
        mode_t um = umask(0);
        umask(um);
        chmod(tmp, 0666 & ~um);
    }
    if (rc == 0 && rename(tmp, o->out) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        return lb_error_set(err, LB_EIO, "%s: %s", o->out, strerror(e));
    }
    return 0;
}
