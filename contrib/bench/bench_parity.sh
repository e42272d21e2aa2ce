#!/bin/sh
# bench_parity.sh - `logbridge parity` of a BENCH_LINES-line file against the
# stream `logbridge import` made of it: wall time and peak RSS.
#
# One throwaway redis-server (unix socket, no persistence) in a temp dir,
# stopped by PID at the end. Runs:
#   strict      the headline: --order strict, aligned by src/off
#   content     --order strict --no-provenance: aligned by content
#   any         --order any: the multiset (memory O(distinct entries))
#   1000 XDELs  strict again after deleting 1000 scattered entries: the cost
#               of differences (and a check that all 1000 are found)
#   json        (BENCH_JSON=1) the same file imported with --encoding json
#   template    the same file imported through '{tp}:%{type}' (one stream per
#               type, 7 types), parity over the template: the streams merged
#
# Targets (the issue): strict <= 2 s and peak RSS <= 64 MiB for 1M lines;
# over a template (issue 13) <= 1.5x the single-stream strict time.
#
#   BENCH_LINES    lines in the fixture (default 1000000)
#   BENCH_RUNS     runs of each figure, best time kept (default 3)
#   BENCH_JSON=1   also the json encoding (one more import)
#   BENCH_KEEP=1   keep the temp dir
#   LOGBRIDGE_BIN  the binary (default build/logbridge)
set -eu
. "$(dirname "$0")/lib.sh"

bench_params bench_parity

for tool in redis-server redis-cli awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench_parity: $tool is missing" >&2; exit 1; }
done

bench_tmp bench_parity

bench_redis_start bench_parity
rcli() { redis-cli -s "$SOCK" "$@"; }

# ---- the fixture: realistic lines, 60-200 bytes of DATA with '|' now and then
FIX=$TMP/app.log
echo "generating $LINES lines..."
bench_gen_lines "$LINES" "$FIX"
BYTES=$(wc -c <"$FIX" | tr -d ' ')

import() { # stream [extra args]
    s=$1; shift
    t0=$(now)
    "$BIN" import --redis "$URL" --stream "$s" --final --no-progress "$@" "$FIX" >"$TMP/imp.out" \
        2>"$TMP/imp.err" || { echo "bench_parity: import $* failed:" >&2; cat "$TMP/imp.err" >&2; return 1; }
    t1=$(now)
    echo "imported into $s ($*) in $(elapsed "$t0" "$t1") s"
}

# ---- one parity run: prints "seconds peak_rss_kib exit_code"
run_parity() { # args...
    t0=$(now)
    rc=0
    bench_rss "$TMP/rss" "$BIN" parity --redis "$URL" --report json "$@" "$FIX" \
        >"$TMP/par.out" 2>"$TMP/par.err" || rc=$?
    rss=$(cat "$TMP/rss")
    t1=$(now)
    echo "$(elapsed "$t0" "$t1") $rss $rc"
}

# key of the JSON report (numbers only)
jkey() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$TMP/par.out"; }

# best of RUNS; checks the exit code and the matched / missing counts
best() { # label want_rc want_matched want_missing args...
    label=$1; wrc=$2; wm=$3; wmiss=$4; shift 4
    bs=; brss=0
    n=0
    while [ $n -lt "$RUNS" ]; do
        n=$((n + 1))
        set -- $(run_parity "$@") "$@"
        s=$1; rss=$2; rc=$3; shift 3
        if [ "$rc" != "$wrc" ] || [ "$(jkey matched)" != "$wm" ] ||
            [ "$(jkey missing_in_stream)" != "$wmiss" ]; then
            echo "bench_parity: $label: exit $rc, report:" >&2
            cat "$TMP/par.out" "$TMP/par.err" >&2
            exit 1
        fi
        if [ -z "$bs" ] || awk -v a="$s" -v b="$bs" 'BEGIN { exit !(a < b) }'; then bs=$s; fi
        [ "$rss" -gt "$brss" ] && brss=$rss
    done
    printf '%-46s %9s %9s KiB\n' "$label" "$bs" "$brss"
    LAST_S=$bs
    LAST_RSS=$brss
}

import prov
echo "fixture: $LINES lines, $BYTES bytes; redis-server $(redis-server --version | awk '{print $3}')"
echo
printf '%-46s %9s %13s\n' "parity run (best of $RUNS)" "seconds" "peak RSS"
best "strict, aligned by src/off" 0 "$LINES" 0 --stream prov
S_STRICT=$LAST_S
RSS_STRICT=$LAST_RSS
best "strict --no-provenance (aligned by content)" 0 "$LINES" 0 --stream prov --no-provenance
best "--order any" 0 "$LINES" 0 --stream prov --order any

# ---- many streams: one per type, merged back (DESIGN.md section 8)
import '{tp}:%{type}'
NTP=$(rcli --scan --pattern '{tp}:*' | wc -l | tr -d ' ')
best "strict over a template ($NTP streams)" 0 "$LINES" 0 --stream '{tp}:%{type}'
S_TMPL=$LAST_S
# the single stream again, right after: the ratio takes the better of the two
# single-stream figures (the first run after an import is often the slowest)
best "strict, aligned by src/off (again)" 0 "$LINES" 0 --stream prov
S_ONE=$(awk -v a="$S_STRICT" -v b="$LAST_S" 'BEGIN { print (b < a ? b : a) }')
best "--order any over a template" 0 "$LINES" 0 --stream '{tp}:%{type}' --order any
rcli EVAL "for _, k in ipairs(redis.call('KEYS', '{tp}:*')) do redis.call('DEL', k) end" 0 >/dev/null

# ---- differences: 1000 entries deleted, spread over the stream
STEP=$((LINES / 1000))
[ "$STEP" -ge 1 ] || STEP=1
rcli XRANGE prov - + | awk -v step="$STEP" '/^[0-9]+-[0-9]+$/ { if (n++ % step == step / 2) print "XDEL prov " $0 }' |
    head -n 1000 >"$TMP/xdel.txt"
NDEL=$(wc -l <"$TMP/xdel.txt" | tr -d ' ')
redis-cli -s "$SOCK" <"$TMP/xdel.txt" >/dev/null
best "strict, $NDEL entries deleted" 1 $((LINES - NDEL)) "$NDEL" --stream prov
best "--order any, $NDEL entries deleted" 1 $((LINES - NDEL)) "$NDEL" --stream prov --order any
best "content, $NDEL entries deleted" 1 $((LINES - NDEL)) "$NDEL" --stream prov --no-provenance

if [ "${BENCH_JSON:-0}" = 1 ]; then
    rcli DEL prov >/dev/null
    if import jsonenc --encoding json; then
        best "strict, json encoding" 0 "$LINES" 0 --stream jsonenc
    fi
fi

echo
T=$(awk -v s="$S_STRICT" 'BEGIN { print (s <= 2.0 ? "met" : "MISSED") }')
M=$(awk -v k="$RSS_STRICT" 'BEGIN { print (k > 0 && k <= 65536 ? "met" : "MISSED") }')
echo "strict parity of $LINES lines: $S_STRICT s (target <= 2 s: $T), peak RSS $RSS_STRICT KiB (target <= 65536 KiB: $M)"
R=$(awk -v a="$S_TMPL" -v b="$S_ONE" 'BEGIN { printf "%.2f", a / b }')
T=$(awk -v r="$R" 'BEGIN { print (r <= 1.5 ? "met" : "MISSED") }')
echo "strict parity over a template of $NTP streams: $S_TMPL s = ${R}x the single stream's $S_ONE s (target <= 1.5x: $T)"
