#!/bin/sh
# bench_cluster.sh - scale-out with Redis Cluster (issue 12; DESIGN.md
# section 9): K `logbridge import`s running at the same time into K streams
# whose slots are on K different masters of a throwaway 3-master cluster (no
# replicas), against the same K imports into K streams of one single
# redis-server, in one run, for K = 1, 2, 3. Every server listens on
# 127.0.0.1 over TCP (a cluster speaks TCP), no persistence; each is stopped
# by PID at the end.
#
# Target (the issue): with 3 masters, >= 1.5x the single server's lines/s on
# this 2-vCPU machine. Redis processes and the imports compete for the two
# cores here, so the figure is also given per master, with the CPU each side
# spent per line (redis-server from /proc/PID/stat, logbridge from
# /usr/bin/time): what a machine with a core per master would reach follows
# from those (README, "Measured").
#
#   BENCH_CLUSTER_LINES  lines per import (default 300000)
#   BENCH_RUNS           rounds, the best of each figure kept (default 3)
#   BENCH_KEEP=1         keep the temp dir (fixture, logs)
#   LOGBRIDGE_BIN        the binary (default build/logbridge)
#
# In each round every K is measured on the single server and on the cluster
# one after the other (which goes first alternates by round), so a slow
# moment of a shared machine hits both alike; ratios are taken within a K.
#
# run_k prints "lines/s seconds redis_cpu_s client_cpu_s"; `set -- $(f)`
# splits that on purpose.
# shellcheck disable=SC2046
set -eu
. "$(dirname "$0")/lib.sh"

LINES=${BENCH_CLUSTER_LINES:-300000}
RUNS=${BENCH_RUNS:-3}
BIN=${LOGBRIDGE_BIN:-build/logbridge}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
KMAX=3

for tool in redis-server redis-cli awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench_cluster: $tool is missing" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench_cluster: $BIN is missing (make first)" >&2; exit 1; }
TIMEV=
[ -x /usr/bin/time ] && TIMEV=/usr/bin/time

bench_tmp bench_cluster

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
CLK=$(getconf CLK_TCK 2>/dev/null || echo 100)
# cpu_s PID...: the CPU seconds (user + system) the processes spent so far
cpu_s() {
    for p in "$@"; do cat "/proc/$p/stat"; done 2>/dev/null |
        awk -v hz="$CLK" '{ sub(/^.*\) /, ""); t += $12 + $13 } END { printf "%.3f", t / hz }'
}

# ---- the servers: three cluster masters and one single server
M_PORT=
M_PID=
k=0
while [ $k -lt $KMAX ]; do
    bench_redis_start_tcp bench_cluster "$TMP/node$k" --cluster-enabled yes \
        --cluster-config-file nodes.conf --cluster-node-timeout 5000
    PIDS="$PIDS $BPID"
    M_PORT="$M_PORT $BPORT"
    M_PID="$M_PID $BPID"
    k=$((k + 1))
done
bench_redis_start_tcp bench_cluster "$TMP/single"
PIDS="$PIDS $BPID"
S_PORT=$BPORT
S_PID=$BPID
# shellcheck disable=SC2086
set -- $M_PORT
FIRST=$1
CREATE=
SEEDS=
for p in $M_PORT; do
    CREATE="$CREATE 127.0.0.1:$p"
    SEEDS="$SEEDS${SEEDS:+,}127.0.0.1:$p"
done
# shellcheck disable=SC2086
redis-cli --cluster create $CREATE --cluster-replicas 0 --cluster-yes >"$TMP/create.log" 2>&1 ||
    { echo "bench_cluster: redis-cli --cluster create failed:" >&2; tail -n 5 "$TMP/create.log" >&2; exit 1; }
cluster_ok() {
    for p in $M_PORT; do
        redis-cli -p "$p" CLUSTER INFO | tr -d '\r' | grep -qx 'cluster_state:ok' || return 1
    done
}
i=0
until cluster_ok; do
    i=$((i + 1))
    [ $i -lt 600 ] || { echo "bench_cluster: the cluster did not reach cluster_state:ok" >&2; exit 1; }
    sleep 0.05
done

# owner_port SLOT: the port of the master that owns SLOT (CLUSTER NODES)
owner_port() {
    redis-cli -p "$FIRST" CLUSTER NODES | tr -d '\r' | awk -v s="$1" '
        $3 ~ /master/ { for (f = 9; f <= NF; f++) { n = split($f, r, "-"); if (n == 1) r[2] = r[1]
            if ($f !~ /^\[/ && s + 0 >= r[1] + 0 && s + 0 <= r[2] + 0) { sub(/@.*/, "", $2);
                sub(/.*:/, "", $2); print $2 } } }'
}
# one hash tag per master: TAG_<port>, the first "bN" whose slot it owns
n=0
found=0
while [ $found -lt $KMAX ] && [ $n -lt 1000 ]; do
    slot=$(redis-cli -p "$FIRST" CLUSTER KEYSLOT "{b$n}")
    op=$(owner_port "$slot")
    if [ -n "$op" ] && eval "[ -z \"\${TAG_$op:-}\" ]"; then
        eval "TAG_$op=b$n"
        found=$((found + 1))
    fi
    n=$((n + 1))
done
[ $found = $KMAX ] || { echo "bench_cluster: no hash tag found for every master" >&2; exit 1; }
TAGS=
for p in $M_PORT; do TAGS="$TAGS $(eval "echo \$TAG_$p")"; done

# ---- the fixture (the same file for every import: each stream has its own
# checkpoint, so they do not see each other)
FIX=$TMP/history.log
echo "generating $LINES lines..."
bench_gen_lines "$LINES" "$FIX"
echo "fixture: $LINES lines per import, $(wc -c <"$FIX" | tr -d ' ') bytes;" \
    "redis-server $(redis-server --version | awk '{print $3}'); $(nproc 2>/dev/null || echo '?') CPUs"
echo "binary: $BIN"
echo "cluster: 3 masters, no replicas (ports$M_PORT), hash tags$TAGS, one per master;"
echo "single: one redis-server (port $S_PORT); every server over TCP on 127.0.0.1"
echo

flush_all() { for p in "$@"; do redis-cli -p "$p" FLUSHALL >/dev/null; done; }

# run_k K single|cluster: K imports at once, into {tag_1}:bench..{tag_K}:bench
run_k() {
    kk=$1; where=$2
    if [ "$where" = single ]; then
        url=redis://127.0.0.1:$S_PORT; ports=$S_PORT; spids=$S_PID
    else
        url=redis://$SEEDS; ports=$M_PORT; spids=$M_PID
    fi
    # shellcheck disable=SC2086
    flush_all $ports
    # shellcheck disable=SC2086
    c0=$(cpu_s $spids)
    t0=$(now)
    j=0; lps=
    for tag in $TAGS; do
        [ $j -lt "$kk" ] || break
        if [ -n "$TIMEV" ]; then
            "$TIMEV" -f '%U %S' -o "$TMP/time.$j" "$BIN" import --redis "$url" \
                --stream "{$tag}:bench" --batch 1000 --no-progress "$FIX" \
                >"$TMP/lb.$j.out" 2>"$TMP/lb.$j.err" &
        else
            "$BIN" import --redis "$url" --stream "{$tag}:bench" --batch 1000 --no-progress \
                "$FIX" >"$TMP/lb.$j.out" 2>"$TMP/lb.$j.err" &
        fi
        lps="$lps $!"
        j=$((j + 1))
    done
    failed=0
    for p in $lps; do wait "$p" || failed=1; done
    t1=$(now)
    # shellcheck disable=SC2086
    c1=$(cpu_s $spids)
    j=0; ccpu=0
    for tag in $TAGS; do
        [ $j -lt "$kk" ] || break
        if [ "$where" = single ]; then
            got=$(redis-cli -p "$S_PORT" XLEN "{$tag}:bench")
        else
            got=$(redis-cli -p "$(owner_port "$(redis-cli -p "$FIRST" CLUSTER KEYSLOT "{$tag}")")" \
                XLEN "{$tag}:bench")
        fi
        if [ "$failed" != 0 ] || [ "$got" != "$LINES" ]; then
            echo "bench_cluster: K=$kk $where: {$tag}:bench holds $got entries, want $LINES" >&2
            tail -n 3 "$TMP/lb.$j.err" >&2
            echo "FAILED - - -"
            return 0
        fi
        if [ -n "$TIMEV" ]; then
            ccpu=$(awk -v a="$ccpu" '{ printf "%.3f", a + $1 + $2 }' "$TMP/time.$j")
        fi
        j=$((j + 1))
    done
    s=$(elapsed "$t0" "$t1")
    echo "$(rate $((kk * LINES)) "$s") $s $(elapsed "$c0" "$c1") $ccpu"
}

# best of RUNS rounds per K and place: R_<where>_<K> (lines/s), and the CPU
# of that best run: RC_ (redis-server seconds), CC_ (logbridge seconds)
for w in single cluster; do
    for kk in 1 2 3; do eval "R_${w}_$kk=0 RC_${w}_$kk=0 CC_${w}_$kk=0"; done
done
# shellcheck disable=SC2034 # read back through eval
R_single_1=0 R_single_2=0 R_single_3=0 R_cluster_1=0 R_cluster_2=0 R_cluster_3=0
L_single=0 L_cluster=0
m=0
while [ $m -lt "$RUNS" ]; do
    m=$((m + 1))
    for kk in 1 2 3; do
        for w in $(if [ $((m % 2)) = 1 ]; then echo single cluster; else echo cluster single; fi); do
            set -- $(run_k "$kk" "$w")
            [ "$1" != FAILED ] || exit 1
            echo "round $m: K=$kk $w: $1 lines/s ($2 s; redis-server CPU $3 s, logbridge CPU $4 s)"
            if [ "$1" -gt "$(eval "echo \$R_${w}_$kk")" ]; then
                eval "R_${w}_$kk=$1 RC_${w}_$kk=$3 CC_${w}_$kk=$4"
            fi
            eval "L_$w=$1"
        done
        # the ratio of this round (the two ran one after the other)
        eval "Q_$kk=\"\${Q_$kk:-} $(ratio "$L_cluster" "$L_single")\""
    done
done
# median WORDS...: the middle one (the lower middle of an even count)
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo
echo "K imports at once, $LINES lines each, --batch 1000; best of $RUNS interleaved rounds (lines/s, all K streams together)"
printf '%-3s %12s %12s %7s %8s %15s %14s %14s\n' K "single" "cluster" ratio "median" \
    "cluster/master" "redis us/line" "client us/line"
for kk in 1 2 3; do
    rs=$(eval "echo \$R_single_$kk"); rc=$(eval "echo \$R_cluster_$kk")
    # CPU per line of the best cluster run: every master together, every import together
    rus=$(awk -v c="$(eval "echo \$RC_cluster_$kk")" -v n=$((kk * LINES)) 'BEGIN { printf "%.2f", c * 1e6 / n }')
    cus=$(awk -v c="$(eval "echo \$CC_cluster_$kk")" -v n=$((kk * LINES)) 'BEGIN { printf "%.2f", c * 1e6 / n }')
    # shellcheck disable=SC2046
    printf '%-3s %12s %12s %6sx %7sx %15s %14s %14s\n' "$kk" "$rs" "$rc" "$(ratio "$rc" "$rs")" \
        "$(median $(eval "echo \$Q_$kk"))" "$(rate "$rc" "$kk")" "$rus" "$cus"
done
echo "(ratio: best cluster / best single; median: of the rounds' own ratios, K=3:$Q_3;"
echo " us/line: CPU of the best cluster run per line, every master resp. every import together)"
echo
R3=$(ratio "$R_cluster_3" "$R_single_3")
# shellcheck disable=SC2086
M3=$(median $Q_3)
OK=$(awk -v r="$R3" 'BEGIN { print (r >= 1.5 ? "met" : "MISSED") }')
MOK=$(awk -v r="$M3" 'BEGIN { print (r >= 1.5 ? "met" : "MISSED") }')
echo "scale-out: cluster of 3 masters / single server, K=3: ${R3}x best of $RUNS (target >= 1.5x: $OK);" \
    "${M3}x median of the rounds ($MOK)"
echo "cluster K=3 / cluster K=1: $(ratio "$R_cluster_3" "$R_cluster_1")x;" \
    "single K=3 / single K=1: $(ratio "$R_single_3" "$R_single_1")x"
