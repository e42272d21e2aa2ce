#!/bin/sh
# contrib/ci/parity-chain.sh - parity of a tailed file and every rotated
# generation of it still on disk, however often it was rotated.
#
#   parity-chain.sh LIVE_PATH --stream S [parity options...]
#
# tail gives every generation of LIVE_PATH the live path's name (its src), so
# the whole chain is compared with --src LIVE_PATH. The generations are found
# next to it, as logrotate names them, and given oldest first:
#   LIVE.N[.gz] ... LIVE.2.gz LIVE.1   (numbered: highest number oldest)
#   LIVE-20250617[.gz] ...             (dateext: earliest date oldest)
# then LIVE itself. parity matches each run of entries to the file it was read
# from, so generations deleted by logrotate (or not listed here) are not
# compared, a generation missing from the middle of the chain is named, and
# lines tail has not committed yet are pending, not missing.
#
# Environment: LOGBRIDGE (the binary, default: logbridge from PATH), and
# logbridge's own LOGBRIDGE_REDIS and LOGBRIDGE_REDIS_PASSWORD.
# Exit code: parity's (0 equal, 1 differences, 2 usage, 3 Redis/I/O).
set -eu

if [ $# -lt 1 ]; then
    echo "usage: parity-chain.sh LIVE_PATH --stream S [parity options...]" >&2
    exit 2
fi
live=$1
shift
dir=$(dirname -- "$live")
base=$(basename -- "$live")

# One name a line, oldest first (names with a newline are not supported).
chain=$(
    cd "$dir" && ls -1a | awk -v b="$base" '
        function num(s) { return s ~ /^[0-9]+$/ }
        index($0, b ".") == 1 {
            rest = substr($0, length(b) + 2); sub(/\.gz$/, "", rest)
            if (num(rest)) printf "1 %012d %s\n", 999999999999 - rest, $0
            next
        }
        index($0, b "-") == 1 {
            rest = substr($0, length(b) + 2); sub(/\.gz$/, "", rest)
            if (rest ~ /^[0-9]/) printf "0 %s %s\n", rest, $0
        }' | sort -k1,1n -k2,2 | cut -d' ' -f3-
)

set -- "$@" --src "$live"
old_ifs=$IFS
IFS='
'
for f in $chain; do
    set -- "$@" "$dir/$f"
done
IFS=$old_ifs
exec "${LOGBRIDGE:-logbridge}" parity "$@" "$live"
