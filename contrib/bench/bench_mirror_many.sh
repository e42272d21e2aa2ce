#!/bin/sh
# bench_mirror_many.sh - `logbridge mirror --once` over a template (one stream
# per event type, 8 types, DESIGN.md section 8) against the same entries from
# one stream: the issue 13 target is a template mirror >= 0.8x the speed of
# the single-stream one, same server, same run, and memory that does not grow
# with the streams' length.
#
# One throwaway redis-server (unix socket, no persistence) in a temp dir,
# stopped by PID. BENCH_LINES lines (default 1000000) are imported twice with
# `logbridge import`: into `one`, and through '{mt}:%{type}'. Then rounds of
# the two mirrors, interleaved (the machine is shared: a ratio within a round
# is what counts); each output must equal the file byte for byte.
#
#   BENCH_LINES    lines (default 1000000)
#   BENCH_RUNS     rounds (default 3); the best time of each kind is kept
#   BENCH_KEEP=1   keep the temp dir
#   LOGBRIDGE_BIN  the binary (default build/logbridge)
set -eu
. "$(dirname "$0")/lib.sh"

LINES=${BENCH_LINES:-1000000}
RUNS=${BENCH_RUNS:-3}
BIN=${LOGBRIDGE_BIN:-build/logbridge}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
[ -x "$BIN" ] || { echo "bench_mirror_many: $BIN is missing (make first)" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench_mirror_many.XXXXXX")
RPID=
cleanup() {
    if [ -n "$RPID" ]; then kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT INT TERM

bench_redis_start bench_mirror_many
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

FIX=$TMP/app.log
bench_gen_lines "$LINES" "$FIX" \
    "workflow.started workflow.finished step.started step.finished login logout pay error"
for s in one '{mt}:%{type}'; do
    "$BIN" import --redis "$URL" --stream "$s" --final --no-progress "$FIX" >/dev/null \
        2>"$TMP/imp.err" || { echo "bench_mirror_many: import into $s failed:" >&2; cat "$TMP/imp.err" >&2; exit 1; }
done
NS=$(redis-cli -s "$SOCK" --scan --pattern '{mt}:*' | wc -l | tr -d ' ')
echo "fixture: $LINES lines imported into one stream and into $NS type streams"

# run LABEL STREAM: prints "seconds peak_rss_kib", or FAILED when the file
# does not equal FIX
run() {
    out=$TMP/out.log
    rm -f "$out"
    redis-cli -s "$SOCK" DEL 'logbridge:mirror:{mt}' 'logbridge:mirror:{one}' >/dev/null
    t0=$(now)
    bench_rss "$TMP/rss" "$BIN" mirror --redis "$URL" --stream "$2" --file "$out" --once \
        --log-level warn >&2
    rss=$(cat "$TMP/rss")
    t1=$(now)
    if ! cmp -s "$out" "$FIX"; then
        echo "bench_mirror_many: $1: the mirror file differs from the imported file" >&2
        echo FAILED
        return
    fi
    echo "$(elapsed "$t0" "$t1") $rss"
}

B1=; BT=; R1=0; RT=0
n=0
printf '%-34s %9s %9s\n' "mirror --once (round)" "seconds" "peak RSS"
while [ $n -lt "$RUNS" ]; do
    n=$((n + 1))
    set -- $(run "one stream" one)
    [ "$1" != FAILED ] || exit 1
    printf '%-34s %9s %9s KiB\n' "one stream ($n)" "$1" "$2"
    if [ -z "$B1" ] || awk -v a="$1" -v b="$B1" 'BEGIN { exit !(a < b) }'; then B1=$1; fi
    [ "$2" -gt "$R1" ] && R1=$2
    set -- $(run "template" '{mt}:%{type}')
    [ "$1" != FAILED ] || exit 1
    printf '%-34s %9s %9s KiB\n' "template, $NS streams ($n)" "$1" "$2"
    if [ -z "$BT" ] || awk -v a="$1" -v b="$BT" 'BEGIN { exit !(a < b) }'; then BT=$1; fi
    [ "$2" -gt "$RT" ] && RT=$2
done
R=$(awk -v a="$B1" -v b="$BT" 'BEGIN { printf "%.2f", a / b }')
T=$(awk -v r="$R" 'BEGIN { print (r >= 0.8 ? "met" : "MISSED") }')
echo "mirror over a template of $NS streams: $BT s, one stream: $B1 s: speed ${R}x (target >= 0.8x: $T)"
echo "peak RSS: template $RT KiB, one stream $R1 KiB"
