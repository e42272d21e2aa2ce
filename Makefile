# logbridge - see README.md. `make` builds build/logbridge.
#
# Sources are found by wildcard so that a new module or test needs no edit
# here: bridge/*.c and parsers/*.c make the binary, tests/unit/test_*.c and
# tests/integration/test_*.c each make one cmocka test binary.

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/logbridge
# systemd reads units from /usr/local/lib/systemd/system too; a package
# installs into /lib/systemd/system (debian/rules sets it).
UNITDIR ?= $(PREFIX)/lib/systemd/system
STRIP   ?= strip

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla
STD     := -std=c11 -D_GNU_SOURCE
OPT     ?= -O2 -g
CFLAGS_ALL = $(STD) $(WARN) $(OPT) -MMD -MP -Iparsers -Ibridge -I$(BUILD)/gen -Itests/support $(CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
LIBS    := -lhiredis -lssl -lcrypto -lcjson -lmicrohttpd -lz -lm
TLIBS   := -lcmocka

PARSER_SRC  := $(sort $(wildcard parsers/*.c))
BRIDGE_SRC  := $(sort $(filter-out bridge/main.c,$(wildcard bridge/*.c)))
SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))
UNIT_SRC    := $(sort $(wildcard tests/unit/test_*.c))
INTEG_SRC   := $(sort $(wildcard tests/integration/test_*.c))
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))

OBJ  = $(BUILD)/obj
CORE_OBJ    = $(PARSER_SRC:%.c=$(OBJ)/%.o) $(BRIDGE_SRC:%.c=$(OBJ)/%.o)
SUPPORT_OBJ = $(SUPPORT_SRC:%.c=$(OBJ)/%.o)
UNIT_BIN    = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_BIN   = $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)

.SECONDARY:
.PHONY: all test check fuzz bench demo install uninstall deb deb-deps check-deb clean deps unit integration tests-build
all: $(BUILD)/logbridge

$(BUILD)/logbridge: $(OBJ)/bridge/main.o $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.o,$^) $(LIBS) $(LDFLAGS)

# The batch script is kept as Lua for reading and compiled in as a C string,
# without its comments and indentation: the fast path sends the body with
# every batch, and Redis hashes it each time (line numbers are kept).
$(BUILD)/gen/sink_script.h: bridge/sink_script.lua
	@mkdir -p $(dir $@)
	{ echo '#define LB_SINK_SCRIPT \'; \
	  sed -e 's/^[[:space:]]*--.*$$//' -e 's/^[[:space:]]*//' \
	      -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n" \\/' $<; \
	  echo '    ""'; } > $@
$(OBJ)/bridge/sink.o: $(BUILD)/gen/sink_script.h

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(CORE_OBJ) $(SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.c %.o,$^) $(LIBS) $(TLIBS) $(LDFLAGS)

$(BUILD)/tests/integration/%: tests/integration/%.c $(CORE_OBJ) $(SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.c %.o,$^) $(LIBS) $(TLIBS) $(LDFLAGS)

tests-build: $(BUILD)/logbridge $(UNIT_BIN) $(INTEG_BIN)

# `make test`: every unit and integration test against real redis-servers that
# the tests start themselves. tests/run.sh prints "N passed, N failed, N skipped".
test: deps tests-build
	LOGBRIDGE_BIN=$(abspath $(BUILD)/logbridge) sh tests/run.sh $(UNIT_BIN) $(INTEG_BIN)

unit: tests-build
	LOGBRIDGE_BIN=$(abspath $(BUILD)/logbridge) sh tests/run.sh $(UNIT_BIN)

integration: tests-build
	LOGBRIDGE_BIN=$(abspath $(BUILD)/logbridge) sh tests/run.sh $(INTEG_BIN)

# `make check`: the same tests built with ASan + UBSan, in their own tree.
check: deps
	$(MAKE) BUILD=build/san OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" test

# `make fuzz`: libFuzzer harnesses over the parsers, FUZZ_SECONDS each. A
# harness that needs bridge/ sources names them in a " * FUZZ_LINK: " line.
FUZZ_SECONDS ?= 20
fuzz: deps
	@mkdir -p $(BUILD)/fuzz
	@set -e; for f in $(FUZZ_SRC); do \
	    n=$$(basename $$f .c); \
	    extra=$$(sed -n 's/^ \* FUZZ_LINK: //p' $$f); \
	    clang -std=c11 -D_GNU_SOURCE -g -O1 -Iparsers -Ibridge -fsanitize=fuzzer,address,undefined \
	        -fno-sanitize-recover=all -o $(BUILD)/fuzz/$$n $$f $(PARSER_SRC) $$extra; \
	    mkdir -p $(BUILD)/fuzz/corpus-$$n; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	    rc=0; $(BUILD)/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        $(BUILD)/fuzz/corpus-$$n fixtures/ > $(BUILD)/fuzz/$$n.log 2>&1 || rc=$$?; \
	    grep -E '^stat::number_of_executed_units|^Done' $(BUILD)/fuzz/$$n.log || true; \
	    if [ $$rc -ne 0 ]; then tail -n 40 $(BUILD)/fuzz/$$n.log; echo "fuzz: $$n FAILED"; exit 1; fi; \
	done

bench: deps all
	sh contrib/bench/run.sh

demo: deps all
	sh contrib/demo.sh

# `make install`: the stripped binary, the man page, the systemd unit (its
# paths made to match BINDIR), and under DOCDIR the README, the reference,
# the logrotate example and the example configs. `make uninstall` removes
# exactly these. STRIP=true keeps the symbols (a Debian build strips later,
# into a -dbgsym package).
INSTALLED_DOCS     := README.md docs/REFERENCE.md
INSTALLED_EXAMPLES := $(sort $(wildcard contrib/config/*.json)) contrib/logrotate.d/logbridge \
                      contrib/ci/parity-junit.yml contrib/ci/parity-chain.sh contrib/ci/junit.xsd
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 -s --strip-program=$(STRIP) $(BUILD)/logbridge $(DESTDIR)$(BINDIR)/logbridge
	install -m 0644 contrib/logbridge.1 $(DESTDIR)$(MANDIR)/man1/logbridge.1
	sed 's|/usr/local/bin/logbridge|$(BINDIR)/logbridge|g' contrib/logbridge@.service \
	    > $(DESTDIR)$(UNITDIR)/logbridge@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/logbridge@.service
	install -m 0644 $(INSTALLED_DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(INSTALLED_EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/logbridge $(DESTDIR)$(MANDIR)/man1/logbridge.1 \
	    $(DESTDIR)$(UNITDIR)/logbridge@.service
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(INSTALLED_DOCS))) \
	    $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(INSTALLED_EXAMPLES)))
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null

# `make deb`: a Debian package built the Debian way (dpkg-buildpackage with
# debian/; lintian checks it), left in build/deb/. Its tools are not in
# `make deps`: debhelper and lintian pull in about a hundred packages (perl
# modules, man-db triggers), which every CI run of `make test` would pay for
# although only packaging needs them; `make deb-deps` installs them.
# `make check-deb` builds the package, lists it, unpacks it into a
# throwaway root and runs the binary from there (tests/check_deb.sh).
DEB_PKGS := debhelper dpkg-dev lintian fakeroot
deb-deps:
	@$(MAKE) --no-print-directory deps DEPS_PKGS="$(DEB_PKGS) $(filter lib%-dev,$(DEPS_PKGS))"

deb: deb-deps
	sh tests/check_deb.sh --build-only

check-deb: deb-deps
	sh tests/check_deb.sh

# Installs from Debian's packages only what is missing; does nothing otherwise.
DEPS_PKGS := libhiredis-dev libssl-dev openssl redis-sentinel libcjson-dev libmicrohttpd-dev zlib1g-dev libcmocka-dev redis-server redis-tools clang libclang-rt-14-dev logrotate libxml2-utils
deps:
	@missing=""; for p in $(DEPS_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

clean:
	rm -rf build

-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)
