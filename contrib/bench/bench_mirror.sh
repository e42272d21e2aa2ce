#!/bin/sh
# bench_mirror.sh - `logbridge mirror --once` of BENCH_LINES entries (default
# 1000000) from a stream into a new file: entries/s and peak RSS, for the
# fields encoding (--fsync batch, and never) and the json encoding.
# Targets: >= 500k entries/s with --fsync batch, peak RSS <= 16 MiB.
#
# Starts its own redis-server (unix socket, no persistence) in a temp dir and
# stops it by PID. The streams are filled with redis-cli --pipe.
set -eu
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
BIN=${LOGBRIDGE_BIN:-$(pwd)/build/logbridge}
N=${BENCH_LINES:-1000000}
bench_tmp bench_mirror

bench_redis_start bench_mirror


# The standard test line (as tests/support/lbtest.c lbt_line).
awk -v n="$N" 'BEGIN {
    split("web worker billing", roles, " "); split("login click pay logout error", types, " ");
    for (i = 0; i < n; i++) {
        s = 1750233600 + int(i / 1000);
        printf "%s|2025-06-18T%02d:%02d:%02d.%03dZ|%s|data-%d k=v|x=%d\n",
            roles[i % 3 + 1], int(s / 3600) % 24, int(s / 60) % 60, s % 60, i % 1000,
            types[i % 5 + 1], i, i * 7
    }
}' >"$TMP/in.log"

# Fill both streams through redis-cli --pipe (RESP built by awk), with the
# fields that `logbridge import` writes: role timestamp type data src off, and
# the same as one json_payload object.
awk -v src="$TMP/in.log" '
function bulk(s) { return "$" length(s) "\r\n" s "\r\n" }
{
    split($0, f, "|"); d = substr($0, length(f[1]) + length(f[2]) + length(f[3]) + 4)
    printf "*15\r\n%s%s%s", bulk("XADD"), bulk("bench"), bulk("*")
    printf "%s%s%s%s%s%s", bulk("role"), bulk(f[1]), bulk("timestamp"), bulk(f[2]), bulk("type"), bulk(f[3])
    printf "%s%s%s%s%s%s", bulk("data"), bulk(d), bulk("src"), bulk(src), bulk("off"), bulk(off)
    j = sprintf("{\"role\":\"%s\",\"timestamp\":\"%s\",\"type\":\"%s\",\"data\":\"%s\",\"src\":\"%s\",\"off\":%d}", f[1], f[2], f[3], d, src, off)
    printf "*5\r\n%s%s%s%s%s", bulk("XADD"), bulk("benchjson"), bulk("*"), bulk("json_payload"), bulk(j)
    off += length($0) + 1
}' "$TMP/in.log" >"$TMP/fill.resp"
t0=$(now)
redis-cli -s "$TMP/redis.sock" --pipe <"$TMP/fill.resp" >"$TMP/fill.out"
t1=$(now)
echo "filled 2 streams with $N entries each in $(echo "$t1 - $t0" | bc) s"

# run_mirror LABEL STREAM FSYNC: prints entries/s and peak RSS.
run_mirror() {
    out="$TMP/out.$1.log"
    rm -f "$out"
    t0=$(now)
    bench_rss "$TMP/rss" "$BIN" mirror --redis "$URL" --stream "$2" --file "$out" \
        --fsync "$3" --once --log-level warn
    rss_kib=$(cat "$TMP/rss")
    t1=$(now)
    lines=$(wc -l <"$out")
    secs=$(echo "$t1 - $t0" | bc)
    rate=$(echo "$lines / $secs" | bc)
    if [ "$lines" -ne "$N" ]; then
        echo "mirror $1: FAILED: $lines lines written, expected $N"
        exit 1
    fi
    if [ "$2" = bench ] && ! cmp -s "$out" "$TMP/in.log"; then
        echo "mirror $1: FAILED: the file differs from the imported one"
        exit 1
    fi
    echo "mirror $1: $lines entries in $secs s = $rate entries/s, peak RSS $((rss_kib / 1024)) MiB ($rss_kib KiB)"
}

run_mirror "fields --fsync batch" bench batch
run_mirror "fields --fsync never" bench never
run_mirror "json --fsync batch" benchjson batch

t0=$(now)
"$BIN" export --redis "$URL" --stream bench --log-level warn >"$TMP/export.log"
t1=$(now)
secs=$(echo "$t1 - $t0" | bc)
echo "export (stdout): $N entries in $secs s = $(echo "$N / $secs" | bc) entries/s"
