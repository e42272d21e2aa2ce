/*
 * fuzz_redis_url.c - libFuzzer harness for lb_redis_url_parse
 * (bridge/redis_url.c): every URL form of DESIGN.md section 7.
 *
 * Beyond "never crashes": an accepted URL has a socket path or 1..16 hosts,
 * each with a non-empty host and a port in 1..65535; a Sentinel URL names
 * its master; every string is terminated within its buffer; a user never
 * comes without a password.
 *
 * FUZZ_LINK: bridge/redis_url.c bridge/log.c bridge/clock.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define TERMINATED(a) CHECK(memchr((a), '\0', sizeof(a)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (url == NULL)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    struct lb_redis_cfg cfg;
    struct lb_error err = {0};
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    unsetenv("LOGBRIDGE_SENTINEL_PASSWORD");
    if (lb_redis_url_parse(url, &cfg, &err) == 0) {
        TERMINATED(cfg.path);
        TERMINATED(cfg.user);
        TERMINATED(cfg.pass);
        TERMINATED(cfg.addr);
        TERMINATED(cfg.master);
        CHECK(cfg.db >= 0);
        CHECK(cfg.user[0] == '\0' || cfg.pass[0] != '\0');
        if (cfg.is_unix) {
            CHECK(cfg.path[0] == '/');
            CHECK(!cfg.sentinel && !cfg.tls.on);
        } else {
            CHECK(cfg.nhosts >= 1 && cfg.nhosts <= LB_REDIS_MAX_HOSTS);
            for (int i = 0; i < cfg.nhosts; i++) {
                TERMINATED(cfg.hosts[i].host);
                CHECK(cfg.hosts[i].host[0] != '\0');
                CHECK(cfg.hosts[i].port >= 1 && cfg.hosts[i].port <= 65535);
            }
            CHECK(!cfg.sentinel || cfg.master[0] != '\0');
        }
    } else {
        CHECK(err.code == LB_EUSAGE);
        TERMINATED(err.msg);
    }
    free(url);
    return 0;
}
