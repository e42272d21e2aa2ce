# contrib/bench/lib.sh - sourced by the bench_*.sh scripts (not run alone).
#
# bench_tmp NAME: a temp dir in TMP, removed at exit (kept with
#   BENCH_KEEP=1), and a trap that stops the processes whose PIDs are in
#   RPID, TPID, LPID and PIDS (a space-separated list) by PID.
# now, elapsed START END (seconds, 3 decimals), rate N SECONDS (per second).
# bench_params NAME: LINES (BENCH_LINES, default 1000000), RUNS (BENCH_RUNS,
#   default 3) and BIN (LOGBRIDGE_BIN, default build/logbridge, made
#   absolute; it must exist).
# bench_redis_start NAME: start a throwaway redis-server on a unix socket in
#   $TMP (no persistence), wait until it answers, set SOCK, URL and RPID.
#   The caller's cleanup trap stops it by RPID.
# bench_gen_lines N FILE [TYPES]: N valid legacy lines (roles, ISO-8601 ms
#   timestamps, 60-200 byte DATA with '|' now and then), the same for every
#   run; TYPES: the event types, space-separated (default 7 of them).
# bench_rss RSSFILE CMD [ARGS...]: run CMD (its output goes where the
#   caller's does) and write its peak RSS in KiB to RSSFILE (GNU time, else
#   the kernel's VmHWM sampled every 10 ms); returns CMD's exit status.
# bench_tls_certs DIR: a CA (ca.crt) and a server certificate for 127.0.0.1
#   and localhost (server.crt, server.key) made with the openssl CLI in DIR:
#   EC P-256, no network.
# bench_redis_start_tls NAME DIR: a second throwaway redis-server, run from
#   DIR (certificates of bench_tls_certs), on a unix socket and on 127.0.0.1
#   on a plain TCP port and a TLS port next to it (no client certificates):
#   the same server for both transports. Sets TSOCK, TCP_PORT, TLS_PORT and
#   TPID (the caller's cleanup stops it). Ports are tried from a pid-derived
#   start until a pair binds.
# bench_redis_start_tcp NAME DIR [redis-server options...]: a throwaway
#   redis-server run from DIR on 127.0.0.1 (no persistence) with the extra
#   options given; it takes two ports, P (clients) and P+1 (given as
#   --cluster-port, the bus of a cluster node). Sets BPORT and BPID (the
#   caller's cleanup stops it). Ports are tried from a pid-derived start
#   (BENCH_PORT_NEXT carries on from the last call) until a pair binds.

bench_cleanup() {
    for _p in ${RPID:-} ${TPID:-} ${LPID:-} ${PIDS:-}; do kill "$_p" 2>/dev/null || true; done
    for _p in ${RPID:-} ${TPID:-} ${LPID:-} ${PIDS:-}; do wait "$_p" 2>/dev/null || true; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}

bench_params() {
    LINES=${BENCH_LINES:-1000000}
    RUNS=${BENCH_RUNS:-3}
    BIN=${LOGBRIDGE_BIN:-build/logbridge}
    case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
    [ -x "$BIN" ] || { echo "$1: $BIN is missing (make first)" >&2; exit 1; }
}

bench_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    RPID=
    TPID=
    LPID=
    PIDS=
    trap bench_cleanup EXIT INT TERM
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

bench_redis_start() {
    SOCK=$TMP/redis.sock
    URL=unix://$SOCK
    redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$TMP" --save "" \
        --appendonly no --daemonize no >"$TMP/redis.log" 2>&1 &
    RPID=$!
    _i=0
    until redis-cli -s "$SOCK" ping >/dev/null 2>&1; do
        _i=$((_i + 1))
        [ $_i -lt 200 ] || { echo "$1: redis-server did not start" >&2; exit 1; }
        sleep 0.05
    done
}

bench_gen_lines() {
    LC_ALL=C awk -v n="$1" -v tl="${3:-login click pay logout error view search}" 'BEGIN {
        srand(20250618);
        split("web worker billing api-7 batch_job cron", roles, " ");
        nt = split(tl, types, " ");
        alpha = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789=:,.-_/";
        al = length(alpha);
        # a pool of random text to cut DATA from (cheaper than a char at a time)
        pool = "";
        for (k = 0; k < 4096; k++) {
            c = int(rand() * 100);
            pool = pool (c < 2 ? "|" : substr(alpha, int(rand() * al) + 1, 1));
        }
        t = 1750240800000;
        for (i = 0; i < n; i++) {
            t += int(rand() * 3);
            s = int(t / 1000); ms = t % 1000;
            # 2025-06-18 plus the seconds of the day (the fixture spans < 1 day)
            d = s - 1750204800;
            printf "%s|2025-06-18T%02d:%02d:%02d.%03dZ|%s|", roles[int(rand() * 6) + 1],
                   int(d / 3600) % 24, int(d / 60) % 60, d % 60, ms, types[int(rand() * nt) + 1];
            len = 60 + int(rand() * 141);
            print substr(pool, int(rand() * (4096 - len)) + 1, len);
        }
    }' >"$2"
}

bench_rss() {
    _rf=$1
    shift
    _rc=0
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%M' -o "$_rf.time" "$@" || _rc=$?
        tail -n 1 "$_rf.time" >"$_rf"
        return $_rc
    fi
    "$@" &
    _lp=$!
    _rss=0
    while kill -0 "$_lp" 2>/dev/null; do
        _r=$(awk '/^VmHWM/ { print $2 }' "/proc/$_lp/status" 2>/dev/null || echo 0)
        [ -n "$_r" ] && [ "$_r" -gt "$_rss" ] && _rss=$_r
        sleep 0.01
    done
    wait "$_lp" || _rc=$?
    echo "$_rss" >"$_rf"
    return $_rc
}

bench_tls_certs() {
    mkdir -p "$1"
    cat >"$1/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF
    if ! (cd "$1" &&
        openssl req -x509 -config openssl.cnf -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=bench-ca -extensions ca_ext &&
        openssl req -new -config openssl.cnf -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -nodes -keyout server.key -out server.csr -subj /CN=bench-server &&
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 1 -days 30 \
            -extfile openssl.cnf -extensions server_ext -out server.crt) >"$1/openssl.log" 2>&1; then
        echo "bench: openssl could not make the certificates:" >&2
        cat "$1/openssl.log" >&2
        exit 1
    fi
}

bench_redis_start_tls() {
    TSOCK=$2/redis.sock
    _p=$((20000 + ($$ * 7) % 20000))
    _try=0
    while :; do
        TCP_PORT=$_p
        TLS_PORT=$((_p + 1))
        redis-server --port "$TCP_PORT" --bind 127.0.0.1 --tls-port "$TLS_PORT" \
            --tls-cert-file "$2/server.crt" --tls-key-file "$2/server.key" \
            --tls-ca-cert-file "$2/ca.crt" --tls-auth-clients no \
            --unixsocket "$TSOCK" --unixsocketperm 700 --dir "$2" --save "" --appendonly no \
            --daemonize no >"$2/redis.log" 2>&1 &
        TPID=$!
        _i=0
        # up, or gone (a port in use ends it at once), or 10 s
        while kill -0 "$TPID" 2>/dev/null && ! redis-cli -s "$TSOCK" ping >/dev/null 2>&1; do
            _i=$((_i + 1))
            [ $_i -lt 200 ] || break
            sleep 0.05
        done
        redis-cli -s "$TSOCK" ping >/dev/null 2>&1 && return 0
        kill "$TPID" 2>/dev/null || true
        wait "$TPID" 2>/dev/null || true
        TPID=
        _try=$((_try + 1))
        if [ $_try -ge 20 ]; then
            echo "$1: redis-server with TLS did not start:" >&2
            tail -n 5 "$2/redis.log" >&2
            exit 1
        fi
        _p=$((_p + 2))
        [ $_p -lt 60000 ] || _p=20000
    done
}

BENCH_PORT_NEXT=
bench_redis_start_tcp() {
    _name=$1; _dir=$2; shift 2
    mkdir -p "$_dir"
    [ -n "$BENCH_PORT_NEXT" ] || BENCH_PORT_NEXT=$((30000 + ($$ * 11) % 20000))
    _try=0
    while :; do
        BPORT=$BENCH_PORT_NEXT
        BENCH_PORT_NEXT=$((BENCH_PORT_NEXT + 2))
        [ $BENCH_PORT_NEXT -lt 60000 ] || BENCH_PORT_NEXT=30000
        redis-server --port "$BPORT" --bind 127.0.0.1 --cluster-port $((BPORT + 1)) \
            --dir "$_dir" --save "" --appendonly no --daemonize no "$@" >"$_dir/redis.log" 2>&1 &
        BPID=$!
        _i=0
        # up, or gone (a port in use ends it at once), or 10 s
        while kill -0 "$BPID" 2>/dev/null && ! redis-cli -p "$BPORT" ping >/dev/null 2>&1; do
            _i=$((_i + 1))
            [ $_i -lt 200 ] || break
            sleep 0.05
        done
        redis-cli -p "$BPORT" ping >/dev/null 2>&1 && return 0
        kill "$BPID" 2>/dev/null || true
        wait "$BPID" 2>/dev/null || true
        BPID=
        _try=$((_try + 1))
        if [ $_try -ge 20 ]; then
            echo "$_name: redis-server on 127.0.0.1 did not start:" >&2
            tail -n 5 "$_dir/redis.log" >&2
            exit 1
        fi
    done
}
