#!/bin/sh
# `make bench`: runs every contrib/bench/bench_*.sh in turn (cluster: scale-out
# over a throwaway 3-master cluster; import, mirror, parity, tail). Each starts
# its own throwaway redis-server(s) and prints its figures. BENCH_LINES scales
# the data sets (default 1000000; bench_cluster.sh: BENCH_CLUSTER_LINES).
set -e
cd "$(dirname "$0")/../.."
export LOGBRIDGE_BIN="$(pwd)/build/logbridge"
for b in contrib/bench/bench_*.sh; do
    [ -f "$b" ] || continue
    echo "=== $b"
    sh "$b"
done
