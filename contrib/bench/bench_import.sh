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
# The TLS row (issue 11): a second redis-server listens on 127.0.0.1 on a
# plain TCP port and on a TLS port (certificates made with the openssl CLI in
# the temp dir, no client certificates); logbridge imports the same file
# over redis://127.0.0.1 and over rediss://127.0.0.1 with --tls-ca-file, in
# interleaved rounds (best of BENCH_RUNS each). Target: TLS >= 0.8x TCP.
#
#   BENCH_LINES    lines in the fixture (default 1000000)
#   BENCH_BATCHES  --batch values to compare (default "500 1000 5000")
#   BENCH_RUNS     runs of each figure, the best kept (default 3: one slow
#                  run on a shared machine says little)
#   BENCH_KEEP=1   keep the temp dir (fixture, RESP file, logs)
#   LOGBRIDGE_BIN  the binary (default build/logbridge)
#   BENCH_REF_BIN  a reference binary (e.g. an older build) measured in the
#                  same runs against the same redis-server
#   BENCH_TLS=0   leave out the TLS row
#   BENCH_CMDSTATS=1  also print, for the best run of each figure, what
#                  redis-server spent per command (INFO commandstats:
#                  calls and usec_per_call of exec, eval, evalsha, xadd,
#                  xrevrange), to tell Redis-side cost from client cost
#
# Every figure is measured in rounds: in each round redis-cli --pipe, the
# binary and (when set) the reference run one after the other (the two
# binaries swap places every other round), and the best of BENCH_RUNS rounds
# is kept for each: a slow moment of a shared machine then hits all of them
# alike, and ratios are taken within one figure.
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
REF=${BENCH_REF_BIN:-}
case $REF in /* | "") ;; *) REF=$(pwd)/$REF ;; esac
CMDSTATS=${BENCH_CMDSTATS:-0}
TLS=${BENCH_TLS:-1}

for tool in redis-server redis-cli awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench_import: $tool is missing" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench_import: $BIN is missing (make first)" >&2; exit 1; }
[ -z "$REF" ] || [ -x "$REF" ] || { echo "bench_import: $REF is missing" >&2; exit 1; }
if [ "$TLS" = 1 ] && ! command -v openssl >/dev/null 2>&1; then
    echo "bench_import: openssl is missing (make deps): no TLS row" >&2
    TLS=0
fi

bench_tmp bench_import

bench_redis_start bench_import
# the server that rcli and run_logbridge talk to (the TLS row switches both)
RSOCK=$SOCK
LB_URL=unix://$SOCK
rcli() { redis-cli -s "$RSOCK" "$@"; }


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
echo "binary: $BIN"
[ -z "$REF" ] || echo "reference: $REF"
echo

# ---- one logbridge run: prints "lines/s seconds peak_rss_kib"
run_logbridge() { # bin stream batch [extra args...]
    lbin=$1; stream=$2; batch=$3; shift 3
    rcli FLUSHALL >/dev/null
    [ "$CMDSTATS" != 1 ] || rcli CONFIG RESETSTAT >/dev/null
    t0=$(now)
    bench_rss "$TMP/rss" "$lbin" import --redis "$LB_URL" --stream "$stream" --batch "$batch" \
        --no-progress "$@" "$FIX" >"$TMP/lb.out" 2>"$TMP/lb.err" || true
    rss=$(cat "$TMP/rss")
    t1=$(now)
    [ "$CMDSTATS" != 1 ] || rcli INFO commandstats >"$TMP/cmdstats.last"
    got=$(rcli XLEN "$stream")
    if [ "$got" != "$LINES" ]; then
        echo "bench_import: $lbin import --batch $batch $*: wrote $got entries, want $LINES" >&2
        tail -n 3 "$TMP/lb.err" >&2
        echo "FAILED - -"
        return 0
    fi
    s=$(elapsed "$t0" "$t1")
    echo "$(rate "$LINES" "$s") $s $rss"
}

# ---- the reference: redis-cli --pipe, prints "lines/s seconds"
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

# INFO commandstats of the last run -> "exec=calls/usec_per_call ..."
cmdstats_line() {
    tr -d '\r' <"$TMP/cmdstats.last" | awk -F'[:,=]' '
        /^cmdstat_(exec|eval|evalsha|xadd|xrevrange)[:]/ {
            sub(/^cmdstat_/, "", $1); printf "%s=%s/%s ", $1, $3, $7 }'
}

# One figure: RUNS rounds of redis-cli --pipe, the binary and the reference.
# Sets, best of RUNS: P_R (pipe lines/s), L_R L_S L_RSS (binary:
# lines/s, s, max peak RSS), F_R (reference lines/s), and L_CS F_CS (the
# commandstats of their best runs). A failed run of the binary exits; one of
# the reference marks its figure FAILED.
P_BEST=0 # the best pipe figure of the whole run
measure() { # batch [extra args...] (none with spaces)
    margs="$*"
    P_R=0; L_R=0; L_S=0; L_RSS=0; F_R=0; L_CS=; F_CS=
    m=0
    while [ $m -lt "$RUNS" ]; do
        m=$((m + 1))
        set -- $(run_pipe)
        if [ "$1" -gt "$P_R" ]; then P_R=$1; fi
        if [ "$1" -gt "$P_BEST" ]; then P_BEST=$1; P_BEST_S=$2; fi
        # the binary first in odd rounds, the reference first in even ones
        for who in $(if [ $((m % 2)) = 1 ]; then echo L F; else echo F L; fi); do
            if [ "$who" = L ]; then
                # shellcheck disable=SC2086 # margs holds options without spaces
                set -- $(run_logbridge "$BIN" history $margs)
                [ "$1" != FAILED ] || exit 1
                if [ "$1" -gt "$L_R" ]; then
                    L_R=$1; L_S=$2
                    [ "$CMDSTATS" != 1 ] || L_CS=$(cmdstats_line)
                fi
                if [ "$3" -gt "$L_RSS" ]; then L_RSS=$3; fi
            elif [ -n "$REF" ] && [ "$F_R" != FAILED ]; then
                # shellcheck disable=SC2086
                set -- $(run_logbridge "$REF" history $margs)
                if [ "$1" = FAILED ]; then F_R=FAILED; continue; fi
                if [ "$1" -gt "$F_R" ]; then
                    F_R=$1
                    [ "$CMDSTATS" != 1 ] || F_CS=$(cmdstats_line)
                fi
            fi
        done
    done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# The TLS row: RUNS rounds of the binary over TCP and over TLS to the same
# server (the first of the two alternates). Sets, best of RUNS: C_R C_S C_RSS
# (TCP: lines/s, s, max peak RSS) and T_R T_S T_RSS (TLS).
measure_tls() {
    C_R=0; C_S=0; C_RSS=0; T_R=0; T_S=0; T_RSS=0
    RSOCK=$TSOCK
    m=0
    while [ $m -lt "$RUNS" ]; do
        m=$((m + 1))
        for who in $(if [ $((m % 2)) = 1 ]; then echo C T; else echo T C; fi); do
            if [ "$who" = C ]; then
                LB_URL=redis://127.0.0.1:$TCP_PORT
                set -- $(run_logbridge "$BIN" history 1000)
                [ "$1" != FAILED ] || exit 1
                if [ "$1" -gt "$C_R" ]; then C_R=$1; C_S=$2; fi
                if [ "$3" -gt "$C_RSS" ]; then C_RSS=$3; fi
            else
                LB_URL=rediss://127.0.0.1:$TLS_PORT
                set -- $(run_logbridge "$BIN" history 1000 --tls-ca-file "$TLSDIR/ca.crt")
                [ "$1" != FAILED ] || exit 1
                if [ "$1" -gt "$T_R" ]; then T_R=$1; T_S=$2; fi
                if [ "$3" -gt "$T_RSS" ]; then T_RSS=$3; fi
            fi
        done
    done
    RSOCK=$SOCK
    LB_URL=unix://$SOCK
}

# The figures, in the order of the first table; the comparison table and the
# commandstats are collected on the way.
CMP=$TMP/compare.txt
MAIN=$TMP/main.txt
CSF=$TMP/cmdstats.txt
: >"$CMP"; : >"$MAIN"; : >"$CSF"
figure() { # label short-label batch [extra args...]
    flabel=$1; slabel=$2; shift 2
    measure "$@"
    printf '%-46s %10s %9s %8s KiB\n' "$flabel" "$L_R" "$L_S" "$L_RSS" >>"$MAIN"
    if [ -n "$REF" ]; then
        if [ "$F_R" = FAILED ]; then lf=-; else lf=$(ratio "$L_R" "$F_R"); fi
        printf '%-34s %9s %9s %6s %9s %6s %7s\n' "$slabel" "$P_R" "$L_R" "$(ratio "$L_R" "$P_R")" \
            "$F_R" "$(ratio "$F_R" "$P_R")" "$lf" >>"$CMP"
    else
        printf '%-34s %9s %9s %6s\n' "$slabel" "$P_R" "$L_R" "$(ratio "$L_R" "$P_R")" >>"$CMP"
    fi
    if [ "$CMDSTATS" = 1 ]; then
        echo "$slabel | binary:    $L_CS" >>"$CSF"
        [ -z "$REF" ] || echo "$slabel | reference: $F_CS" >>"$CSF"
    fi
}

figure "logbridge import (--batch 1000, the default)" "1000" 1000
LR=$L_R; LRSS=$L_RSS; PR1000=$P_R
for b in $BATCHES; do
    [ "$b" = 1000 ] && continue
    figure "logbridge import --batch $b" "$b" "$b"
done
figure "logbridge import --encoding json" "1000 --encoding json" 1000 --encoding json
figure "logbridge import --id ts (script path)" "1000 --id ts" 1000 --id ts
figure "logbridge import --no-provenance (script path)" "1000 --no-provenance" 1000 --no-provenance
export LOGBRIDGE_SINK_MODE=script
figure "logbridge import, LOGBRIDGE_SINK_MODE=script" "1000, LOGBRIDGE_SINK_MODE=script" 1000
unset LOGBRIDGE_SINK_MODE
if [ "$TLS" = 1 ]; then
    TLSDIR=$TMP/tls
    bench_tls_certs "$TLSDIR"
    bench_redis_start_tls bench_import "$TLSDIR"
    measure_tls
fi

printf '%-46s %10s %9s %12s\n' "run (best of $RUNS)" "lines/s" "seconds" "peak RSS"
printf '%-46s %10s %9s %12s\n' "redis-cli --pipe (pre-built RESP XADDs)" "$P_BEST" "$P_BEST_S" "-"
cat "$MAIN"

echo
echo "interleaved rounds, best of $RUNS (lines/s; ratio = / redis-cli --pipe of the same rounds)"
if [ -n "$REF" ]; then
    printf '%-34s %9s %9s %6s %9s %6s %7s\n' "--batch [options]" "pipe" "logbridge" "ratio" \
        "reference" "ratio" "lb/ref"
else
    printf '%-34s %9s %9s %6s\n' "--batch [options]" "pipe" "logbridge" "ratio"
fi
cat "$CMP"
if [ "$TLS" = 1 ]; then
    echo
    echo "TLS: one redis-server on 127.0.0.1, TCP port $TCP_PORT and TLS port $TLS_PORT; --batch 1000;"
    echo "interleaved rounds, best of $RUNS"
    printf '%-46s %10s %9s %12s\n' "run" "lines/s" "seconds" "peak RSS"
    printf '%-46s %10s %9s %8s KiB\n' "logbridge import, redis://127.0.0.1 (TCP)" "$C_R" "$C_S" \
        "$C_RSS"
    printf '%-46s %10s %9s %8s KiB\n' "logbridge import, rediss://127.0.0.1 (TLS)" "$T_R" "$T_S" \
        "$T_RSS"
fi
if [ "$CMDSTATS" = 1 ]; then
    echo
    echo "redis-server per command (calls/usec_per_call) in the best run of each figure"
    cat "$CSF"
fi

echo
# the target compares the default batch with redis-cli --pipe of the same rounds
RATIO=$(ratio "$LR" "$PR1000")
SPEED=$(awk -v r="$RATIO" 'BEGIN { print (r >= 1.0 ? "met" : "MISSED") }')
MEM=$(awk -v k="$LRSS" 'BEGIN { print (k > 0 && k <= 16384 ? "met" : "MISSED") }')
echo "ratio logbridge / redis-cli --pipe: ${RATIO}x (target >= 1.0x: $SPEED)"
echo "logbridge peak RSS: $LRSS KiB (target <= 16384 KiB: $MEM)"
if [ "$TLS" = 1 ]; then
    TRATIO=$(ratio "$T_R" "$C_R")
    TSPEED=$(awk -v r="$TRATIO" 'BEGIN { print (r >= 0.8 ? "met" : "MISSED") }')
    echo "ratio import over TLS / over TCP: ${TRATIO}x (target >= 0.8x: $TSPEED)"
fi
