# contrib/bench/lib.sh - sourced by the bench_*.sh scripts (not run alone).
#
# bench_redis_start NAME: start a throwaway redis-server on a unix socket in
#   $TMP (no persistence), wait until it answers, set SOCK, URL and RPID.
#   The caller's cleanup trap stops it by RPID.
# bench_gen_lines N FILE: N valid legacy lines (roles, ISO-8601 ms timestamps,
#   60-200 byte DATA with '|' now and then), the same for every seed run.

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
    LC_ALL=C awk -v n="$1" 'BEGIN {
        srand(20250618);
        split("web worker billing api-7 batch_job cron", roles, " ");
        split("login click pay logout error view search", types, " ");
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
                   int(d / 3600) % 24, int(d / 60) % 60, d % 60, ms, types[int(rand() * 7) + 1];
            len = 60 + int(rand() * 141);
            print substr(pool, int(rand() * (4096 - len)) + 1, len);
        }
    }' >"$2"
}
