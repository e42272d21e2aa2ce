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
# Then many streams (no target; memory and speed per stream): BENCH_MANY_LINES
# lines over BENCH_MANY types (default 200000 over 1000), mirrored from one
# stream and through a template, once each; and a live mirror of each, caught
# up, fed BENCH_TRICKLE entries at 200/s (default 2000; into random type
# streams for the template): the CPU time Redis and the mirror spent on them.
#
#   BENCH_LINES    lines (default 1000000)
#   BENCH_RUNS     rounds (default 3); the best time of each kind is kept
#   BENCH_MANY, BENCH_MANY_LINES, BENCH_TRICKLE  the many-streams rows
#                  (BENCH_MANY=0: none)
#   BENCH_KEEP=1   keep the temp dir
#   LOGBRIDGE_BIN  the binary (default build/logbridge)
set -eu
. "$(dirname "$0")/lib.sh"

bench_params bench_mirror_many

bench_tmp bench_mirror_many

bench_redis_start bench_mirror_many

FIX=$TMP/app.log
bench_gen_lines "$LINES" "$FIX" \
    "workflow.started workflow.finished step.started step.finished login logout pay error"
# import_into STREAM...: FIX imported into each STREAM (a name or a template)
import_into() {
    for s in "$@"; do
        "$BIN" import --redis "$URL" --stream "$s" --final --no-progress "$FIX" >/dev/null \
            2>"$TMP/imp.err" || { echo "bench_mirror_many: import into $s failed:" >&2; cat "$TMP/imp.err" >&2; exit 1; }
    done
}
import_into one '{mt}:%{type}'
NS=$(redis-cli -s "$SOCK" --scan --pattern '{mt}:*' | wc -l | tr -d ' ')
echo "fixture: $LINES lines imported into one stream and into $NS type streams"

# run LABEL STREAM: prints "seconds peak_rss_kib", or FAILED when the file
# does not equal FIX
run() {
    out=$TMP/out.log
    rm -f "$out"
    redis-cli -s "$SOCK" DEL 'logbridge:mirror:{mt}' 'logbridge:mirror:{one}' \
        'logbridge:mirror:{many}' 'logbridge:mirror:{manyone}' >/dev/null
    t0=$(now)
    bench_rss "$TMP/rss" "$BIN" mirror --redis "$URL" --stream "$2" --file "$out" --once \
        --log-level warn >&2
    rss=$(cat "$TMP/rss")
    t1=$(now)
    if ! cmp -s "$out" "$FIX"; then
        echo "bench_mirror_many: $1: the mirror file differs from $FIX" >&2
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

MANY=${BENCH_MANY:-1000}
[ "$MANY" -gt 0 ] || exit 0
MLINES=${BENCH_MANY_LINES:-200000}
FIX=$TMP/many.log
bench_gen_lines "$MLINES" "$FIX" "$(seq 1 "$MANY" | sed 's/^/t/' | tr '\n' ' ')"
import_into '{manyone}' '{many}:%{type}'
NM=$(redis-cli -s "$SOCK" --scan --pattern '{many}:*' | wc -l | tr -d ' ')
set -- $(run "one stream" '{manyone}')
[ "$1" != FAILED ] || exit 1
M1=$1; MR1=$2
set -- $(run "template" '{many}:%{type}')
[ "$1" != FAILED ] || exit 1
echo "$MLINES lines over $NM streams: template $1 s, one stream $M1 s ($(awk -v a="$M1" -v b="$1" 'BEGIN { printf "%.2f", a / b }')x); peak RSS template $2 KiB, one stream $MR1 KiB"

# live STREAM KEYFMT: a live mirror of STREAM caught up with the fixture, then
# the trickle into KEYFMT (awk printf format of the key, given a type number);
# prints "redis_cpu_ms mirror_cpu_ms"
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }
live() {
    out=$TMP/live.log
    rm -f "$out"
    redis-cli -s "$SOCK" DEL 'logbridge:mirror:{many}' 'logbridge:mirror:{manyone}' >/dev/null
    "$BIN" mirror --redis "$URL" --stream "$1" --file "$out" --log-level warn &
    LPID=$!
    want=$(wc -l <"$FIX")
    until [ "$(cat "$out" 2>/dev/null | wc -l)" -ge "$want" ]; do sleep 0.2; done
    r0=$(cpu_ms "$RPID"); m0=$(cpu_ms "$LPID")
    awk -v n="$TRICKLE" -v ns="$MANY" -v fmt="$2" 'BEGIN {
        srand(11);
        for (i = 0; i < n; i++) {
            t = int(rand() * ns) + 1;
            key = index(fmt, "%d") ? sprintf(fmt, t) : fmt;
            printf "XADD %s * role web timestamp 2025-06-18T10:00:01.193Z type t%d data trickle-%d\n", key, t, i;
            fflush();
            if (i % 10 == 9) system("sleep 0.05");
        }
    }' | redis-cli -s "$SOCK" >/dev/null
    want=$((want + TRICKLE))
    until [ "$(wc -l <"$out")" -ge "$want" ]; do sleep 0.1; done
    r1=$(cpu_ms "$RPID"); m1=$(cpu_ms "$LPID")
    kill "$LPID"; wait "$LPID" || true; LPID=
    echo "$((r1 - r0)) $((m1 - m0))"
}
TRICKLE=${BENCH_TRICKLE:-2000}
set -- $(live '{manyone}' '{manyone}')
L1R=$1; L1M=$2
set -- $(live '{many}:%{type}' '{many}:t%d')
echo "live, $TRICKLE entries at 200/s: over $NM streams Redis $1 ms and mirror $2 ms of CPU; one stream: Redis $L1R ms, mirror $L1M ms"
