#!/bin/sh
# contrib/demo.sh - the dual-run story of logbridge in under 30 seconds.
#
# `make demo` runs it after `make deps all`. Everything happens in a temp dir
# (mktemp -d) with a throwaway redis-server on a unix socket; both are removed
# on exit, however the script ends. Exit status 0 only when every step worked.
#
#   1. history: the rotated generation app.log.1.gz is imported (once)
#   2. `logbridge run` tails the live app.log into a stream and mirrors the
#      stream into a legacy-format file, from one JSON config
#   3. the legacy app keeps appending lines (one of them malformed); a new
#      service writes to the stream directly with XADD
#   4. parity proves file == stream; export proves mirror == stream; status
#      shows zero lag; the entries, the dead-letter queue and the checkpoints
#      are shown as they are in Redis
#   5. SIGTERM: logbridge commits and exits 0; its metrics file is shown
#
# Environment: LOGBRIDGE_BIN (default build/logbridge), TMPDIR.
set -eu

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
LB=${LOGBRIDGE_BIN:-$ROOT/build/logbridge}
STREAM='app:events'

if [ -t 1 ]; then B=$(printf '\033[1m'); N=$(printf '\033[0m'); else B=''; N=''; fi
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
say() { printf '   %s\n' "$*"; }
fail() {
    printf 'demo: FAILED: %s\n' "$*" >&2
    exit 1
}
# Show a command the way an operator would type it, then run it.
lb() {
    printf '$ logbridge %s\n' "$*"
    "$LB" "$@"
}
rcli() {
    printf '$ redis-cli %s\n' "$*"
    redis-cli -s "$SOCK" "$@"
}
# redis-cli's raw replies, one entry (or hash field) per line for reading:
#   XRANGE:  <id>  role=web  timestamp=...  (IDs start an entry: fields pair up)
#   HGETALL: <field>  =>  <value>
rcli_entries() {
    printf '$ redis-cli %s\n' "$*"
    redis-cli -s "$SOCK" "$@" | awk '
        function flush() { if (id != "") print "     " id "  " line; line = "" }
        n % 2 == 0 && /^[0-9]+-[0-9]+$/ { flush(); id = $0; n = 0; next }
        { if (n % 2 == 0) k = $0; else line = line "  " k "=" $0; n++ }
        END { flush() }'
}
rcli_hash() {
    printf '$ redis-cli %s\n' "$*"
    redis-cli -s "$SOCK" "$@" | awk 'NR % 2 { k = $0; next } { print "     " k "  =>  " $0 }'
}
# wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds.
wait_for() {
    _t=$1
    _what=$2
    shift 2
    _end=$(($(date +%s) + _t))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$_end" ] || fail "timed out after ${_t}s waiting for $_what"
        sleep 0.1
    done
}
now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

[ -x "$LB" ] || fail "$LB is not built: run 'make' (or 'make demo')"
command -v redis-server >/dev/null || fail "redis-server is not installed (make deps)"
command -v redis-cli >/dev/null || fail "redis-cli is not installed (make deps)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/logbridge-demo.XXXXXX")
SOCK=$TMP/redis.sock
REDIS_PID=''
RUN_PID=''
cleanup() {
    rc=$?
    set +e
    if [ -n "$RUN_PID" ]; then
        kill -TERM "$RUN_PID" 2>/dev/null
        wait "$RUN_PID" 2>/dev/null
    fi
    if [ -n "$REDIS_PID" ]; then
        kill "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$TMP"
mkdir logs legacy

step "0. A throwaway Redis"
# AOF with fsync every second, as contrib/redis-aof.md recommends
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$TMP" --save '' \
    --appendonly yes --appendfsync everysec --daemonize no --logfile "$TMP/redis.log" &
REDIS_PID=$!
wait_for 10 "redis-server to answer" redis-cli -s "$SOCK" ping
say "redis-server pid $REDIS_PID on $SOCK (appendonly yes, appendfsync everysec)"
export LOGBRIDGE_REDIS="unix://$SOCK"
say "LOGBRIDGE_REDIS=$LOGBRIDGE_REDIS (every logbridge command below uses it)"

step "1. The legacy app's log: a rotated generation and the live file"
cp "$ROOT/fixtures/app.log.1.gz" logs/app.log.1.gz
cp "$ROOT/fixtures/app.log" logs/app.log
say "logs/app.log.1.gz (yesterday, compressed) and logs/app.log (live, still written):"
sed 's/^/     | /' logs/app.log

step "2. Import the history once (resumable; a rerun writes nothing)"
lb import --stream "$STREAM" --final --no-progress logs/app.log.1.gz
lb import --stream "$STREAM" --final --no-progress logs/app.log.1.gz

step "3. One config runs the live side: tail app.log -> stream -> mirror file"
cat >config.json <<EOF
{
  "redis": "unix://$SOCK",
  "metrics_file": "$TMP/logbridge.prom",
  "log_file": "$TMP/logbridge.log",
  "log_format": "json",
  "tail": [
    {"paths": ["$TMP/logs/app.log"], "stream": "$STREAM", "rotate_wait": 2}
  ],
  "mirror": [
    {"stream": "$STREAM", "file": "$TMP/legacy/app-events.log", "fsync": "batch"}
  ]
}
EOF
sed 's/^/     | /' config.json
lb check-config --config config.json
printf '$ logbridge run --config config.json &\n'
"$LB" run --config config.json &
RUN_PID=$!
say "logbridge run pid $RUN_PID (its JSON log: logbridge.log)"
SRC="$TMP/logs/app.log"
wait_for 15 "the tail to catch up with app.log" \
    "$LB" parity --no-pending --stream "$STREAM" --src "$SRC" logs/app.log

step "4. Both worlds write: the legacy app appends, a new service XADDs"
say "the legacy app appends 20 lines (one malformed, one blank) to logs/app.log"
i=1
while [ $i -le 20 ]; do
    case $i in
    7) printf 'web|%s|click|half a line without\n' "not-a-time" >>logs/app.log ;;
    13) printf '\n' >>logs/app.log ;;
    *) printf 'web|%s|click|path=/item/%d user=u%d\n' "$(now)" $i $((i % 4)) >>logs/app.log ;;
    esac
    i=$((i + 1))
    sleep 0.02
done
say "a new service writes to the stream directly (no file involved):"
for n in 1001 1002 1003; do
    rcli XADD "$STREAM" '*' role checkout timestamp "$(now)" type order_placed \
        data "order=$n total=19.90 currency=EUR"
done

step "5. Proof: parity (file == stream), export (mirror == stream), status"
wait_for 15 "the live lines to reach the stream" \
    "$LB" parity --no-pending --stream "$STREAM" --src "$SRC" logs/app.log
mirror_caught_up() {
    [ -f legacy/app-events.log ] &&
        [ "$(wc -l <legacy/app-events.log)" -eq "$(redis-cli -s "$SOCK" XLEN "$STREAM")" ]
}
wait_for 15 "the mirror to catch up" mirror_caught_up
lb parity --stream "$STREAM" --src "$SRC" logs/app.log ||
    fail "parity found differences in logs/app.log"
lb parity --stream "$STREAM" --src "$TMP/logs/app.log.1.gz" logs/app.log.1.gz ||
    fail "parity found differences in logs/app.log.1.gz"
printf '$ logbridge export --stream %s | cmp - legacy/app-events.log\n' "$STREAM"
"$LB" export --stream "$STREAM" | cmp - legacy/app-events.log ||
    fail "the mirror file differs from the stream"
say "the mirror file holds every entry of the stream as a legacy line, in order:"
say "history, the live lines and the new service's orders ($(wc -l <legacy/app-events.log) lines)"
tail -n 4 legacy/app-events.log | sed 's/^/     | /'
lb status --stream "$STREAM"
lb status --stream "$STREAM" --json >status.json
grep -q '"lag_bytes":0' status.json || fail "status shows lag for app.log: $(cat status.json)"
grep -q '"behind":0' status.json || fail "status shows the mirror behind: $(cat status.json)"
grep -q '"lag_bytes":[1-9]' status.json && fail "status shows lag: $(cat status.json)"
say "zero lag: every committed byte is in the stream, every entry is in the mirror"

step "6. What Redis holds"
say "the first entries: the four parts byte-exact, and provenance (src, off):"
rcli_entries XRANGE "$STREAM" - + COUNT 2
say "the newest entry, from the new service:"
rcli_entries XREVRANGE "$STREAM" + - COUNT 1
say "bad lines are never dropped: the dead-letter stream keeps them with a reason:"
rcli_entries XRANGE "logbridge:dlq:{$STREAM}" - + COUNT 2
say "the checkpoints (how far each file is committed, updated atomically with its entries):"
rcli_hash HGETALL "logbridge:ckpt:{$STREAM}"
say "the mirror's checkpoint (written after the file is synced):"
rcli_hash HGETALL "logbridge:mirror:{$STREAM}"

step "7. SIGTERM: commit what was read, exit 0"
printf '$ kill -TERM %s\n' "$RUN_PID"
kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
RUN_PID=''
[ "$rc" -eq 0 ] || fail "logbridge run exited $rc after SIGTERM"
say "logbridge run exited 0; its metrics file (Prometheus text, for node_exporter):"
grep -E '^logbridge_(lines_total|mirror_entries_total)' logbridge.prom | sed 's/^/     | /' ||
    fail "no line counters in the metrics file"
say "its last log line: $(tail -n 1 logbridge.log)"

total=$(redis-cli -s "$SOCK" XLEN "$STREAM")
dlq=$(redis-cli -s "$SOCK" XLEN "logbridge:dlq:{$STREAM}")
printf '\n%sdemo OK%s: %s entries in %s, %s bad lines in its dead-letter stream, parity equal,\n' \
    "$B" "$N" "$total" "$STREAM" "$dlq"
printf 'mirror equal, zero lag. (The temp dir and redis-server pid %s are removed now.)\n' \
    "$REDIS_PID"
