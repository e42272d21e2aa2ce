#!/bin/sh
# bench_import.sh - `logbridge import` throughput and peak memory against the
# fastest way to load the same entries by hand: `redis-cli --pipe` fed with
# pre-built RESP XADD commands carrying the same fields (role, timestamp,
# type, data, src, off). One throwaway redis-server (unix socket, no
# persistence) in a temp dir serves every run, FLUSHALL between runs; it is
# stopped by PID at the end.
#
# Targets (the issue): logbridge >= 1.0x redis-cli --pipe, peak RSS <= 16 MiB.
#
#   BENCH_LINES    lines in the fixture (default 1000000)
#   BENCH_BATCHES  --batch values to compare (default "500 1000 5000")
#   BENCH_RUNS     runs of each figure, the best kept (default 3: one slow
#                  run on a shared machine says little)
#   BENCH_KEEP=1   keep the temp dir (fixture, RESP file, logs)
#   LOGBRIDGE_BIN  the binary (default build/logbridge)
#
# The run functions print "lines/s seconds rss"; `set -- $(f)` splits that
# on purpose.
# shellcheck disable=SC2046
set -eu
. "$(dirname "$0")/lib.sh"

LINES=${BENCH_LINES:-1000000}
BATCHES=${BENCH_BATCHES:-"500 1000 5000"}
RUNS=${BENCH_RUNS:-3}
BIN=${LOGBRIDGE_BIN:-build/logbridge}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac

for tool in redis-server redis-cli awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench_import: $tool is missing" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench_import: $BIN is missing (make first)" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench_import.XXXXXX")
RPID=
cleanup() {
    if [ -n "$RPID" ]; then kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT INT TERM

bench_redis_start bench_import
rcli() { redis-cli -s "$SOCK" "$@"; }

now() { date +%s.%N; }
# elapsed START END -> seconds
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

# ---- the fixture: roles, ISO-8601 ms timestamps, 60-200 byte DATA with '|' now and then
FIX=$TMP/history.log
echo "generating $LINES lines..."
bench_gen_lines "$LINES" "$FIX"
BYTES=$(wc -c <"$FIX" | tr -d ' ')

# ---- the same entries as RESP XADDs, with src and off as logbridge writes them
RESP=$TMP/history.resp
LC_ALL=C awk -v src="$FIX" '
function bulk(s) { return "$" length(s) "\r\n" s "\r\n" }
BEGIN { off = 0; hdr = "*15\r\n" bulk("XADD") bulk("piped") bulk("*") }
{
    line = $0
    p1 = index(line, "|"); role = substr(line, 1, p1 - 1); rest = substr(line, p1 + 1)
    p2 = index(rest, "|"); ts = substr(rest, 1, p2 - 1); rest = substr(rest, p2 + 1)
    p3 = index(rest, "|"); type = substr(rest, 1, p3 - 1); data = substr(rest, p3 + 1)
    printf "%s%s%s%s%s%s%s%s%s%s%s%s%s", hdr, bulk("role"), bulk(role), bulk("timestamp"), \
        bulk(ts), bulk("type"), bulk(type), bulk("data"), bulk(data), bulk("src"), bulk(src), \
        bulk("off"), bulk(off)
    off += length(line) + 1
}' "$FIX" >"$RESP"

echo "fixture: $LINES lines, $BYTES bytes; redis-server $(redis-server --version | awk '{print $3}')"
echo

# ---- one logbridge run: prints "lines/s seconds peak_rss_kib"
TIMEV=
[ -x /usr/bin/time ] && TIMEV=/usr/bin/time
run_logbridge() { # stream batch [extra args...]
    stream=$1; batch=$2; shift 2
    rcli FLUSHALL >/dev/null
    t0=$(now)
    if [ -n "$TIMEV" ]; then
        "$TIMEV" -f '%M' -o "$TMP/time.out" "$BIN" import --redis "unix://$SOCK" --stream "$stream" \
            --batch "$batch" --no-progress "$@" "$FIX" >"$TMP/lb.out" 2>"$TMP/lb.err" || true
        rss=$(tail -n 1 "$TMP/time.out")
    else
        "$BIN" import --redis "unix://$SOCK" --stream "$stream" --batch "$batch" --no-progress \
            "$@" "$FIX" >"$TMP/lb.out" 2>"$TMP/lb.err" &
        lp=$!
        rss=0
        while kill -0 "$lp" 2>/dev/null; do
            r=$(awk '/^VmHWM/ { print $2 }' "/proc/$lp/status" 2>/dev/null || echo 0)
            [ -n "$r" ] && [ "$r" -gt "$rss" ] && rss=$r
            sleep 0.01
        done
        wait "$lp" || true
    fi
    t1=$(now)
    got=$(rcli XLEN "$stream")
    if [ "$got" != "$LINES" ]; then
        echo "bench_import: logbridge import --batch $batch $*: wrote $got entries, want $LINES" >&2
        tail -n 3 "$TMP/lb.err" >&2
        echo "FAILED - -"
        return 0
    fi
    s=$(elapsed "$t0" "$t1")
    echo "$(rate "$LINES" "$s") $s $rss"
}

# ---- the reference: redis-cli --pipe (best of RUNS)
run_pipe() {
    rcli FLUSHALL >/dev/null
    t0=$(now)
    redis-cli -s "$SOCK" --pipe <"$RESP" >"$TMP/pipe.out" 2>&1
    t1=$(now)
    got=$(rcli XLEN piped)
    [ "$got" = "$LINES" ] || { echo "bench_import: redis-cli --pipe wrote $got, want $LINES" >&2; cat "$TMP/pipe.out" >&2; exit 1; }
    s=$(elapsed "$t0" "$t1")
    echo "$(rate "$LINES" "$s") $s"
}
# best of RUNS for a logbridge variant: prints "lines/s seconds max_peak_rss_kib"
best_of() { # batch [extra args...] (none with spaces)
    bargs="$*"; br=0; bs=0; brss=0; k=0
    while [ $k -lt "$RUNS" ]; do
        k=$((k + 1))
        # shellcheck disable=SC2086 # bargs holds options without spaces
        set -- $(run_logbridge history $bargs)
        if [ "$1" = FAILED ]; then echo "FAILED - -"; return 0; fi
        if [ "$1" -gt "$br" ]; then br=$1; bs=$2; fi
        if [ "$3" -gt "$brss" ]; then brss=$3; fi
    done
    echo "$br $bs $brss"
}

PR=0; PS=0
n=0
while [ $n -lt "$RUNS" ]; do
    n=$((n + 1))
    set -- $(run_pipe)
    if [ "$1" -gt "$PR" ]; then PR=$1; PS=$2; fi
done
set -- $(best_of 1000)
LR=$1; LS=$2; LRSS=$3
[ "$LR" != FAILED ] || exit 1

printf '%-46s %10s %9s %12s\n' "run (best of $RUNS)" "lines/s" "seconds" "peak RSS"
printf '%-46s %10s %9s %12s\n' "redis-cli --pipe (pre-built RESP XADDs)" "$PR" "$PS" "-"
printf '%-46s %10s %9s %8s KiB\n' "logbridge import (--batch 1000, the default)" "$LR" "$LS" "$LRSS"
for b in $BATCHES; do
    [ "$b" = 1000 ] && continue
    set -- $(best_of "$b")
    printf '%-46s %10s %9s %8s KiB\n' "logbridge import --batch $b" "$1" "$2" "$3"
done
set -- $(best_of 1000 --encoding json)
printf '%-46s %10s %9s %8s KiB\n' "logbridge import --encoding json" "$1" "$2" "$3"
set -- $(best_of 1000 --id ts)
printf '%-46s %10s %9s %8s KiB\n' "logbridge import --id ts (script path)" "$1" "$2" "$3"
export LOGBRIDGE_SINK_MODE=script
set -- $(best_of 1000)
unset LOGBRIDGE_SINK_MODE
printf '%-46s %10s %9s %8s KiB\n' "logbridge import, LOGBRIDGE_SINK_MODE=script" "$1" "$2" "$3"

echo
RATIO=$(awk -v a="$LR" -v b="$PR" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
SPEED=$(awk -v r="$RATIO" 'BEGIN { print (r >= 1.0 ? "met" : "MISSED") }')
MEM=$(awk -v k="$LRSS" 'BEGIN { print (k > 0 && k <= 16384 ? "met" : "MISSED") }')
echo "ratio logbridge / redis-cli --pipe: ${RATIO}x (target >= 1.0x: $SPEED)"
echo "logbridge peak RSS: $LRSS KiB (target <= 16384 KiB: $MEM)"
