#!/bin/sh
# tests/check_deb.sh - the Debian package and `make install`, checked for
# real (`make check-deb`; `make deb` is the same with --build-only):
#
#  1. dpkg-buildpackage builds the .deb from a copy of the tree (build/deb/src),
#     and lintian finds no error or warning in it;
#  2. dpkg --contents lists the binary, the man page, the unit, the conffile
#     and the examples; the conffile is marked as one; the binary is stripped;
#     the unit runs check-config first and its paths are optional (`-`);
#  3. dpkg -x unpacks it into a throwaway root, where `logbridge --version`
#     runs and `check-config` accepts the shipped config;
#  4. `make install` into a DESTDIR puts the same files in place (stripped),
#     and `make uninstall` removes every one of them.
#
# Slow (a full package build): not part of `make test`. Prints
# "check-deb: N passed, N failed" and exits 0 only when all passed.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/deb
build_only=0
[ "${1:-}" = "--build-only" ] && build_only=1
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { # description, command...
    d=$1; shift
    if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi
}

for tool in dpkg-buildpackage dh lintian fakeroot dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || { echo "check-deb: $tool is missing (make deb-deps)" >&2; exit 2; }
done

# ---- 1. build ---------------------------------------------------------------------------
rm -rf "$out"
mkdir -p "$out/src"
tar -C "$root" --exclude=./build --exclude=./.git -cf - . | tar -C "$out/src" -xf -
if ! (cd "$out/src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
    tail -n 60 "$out/build.log"
    echo "check-deb: dpkg-buildpackage failed (build/deb/build.log)"
    exit 1
fi
deb=$(ls "$out"/logbridge_*.deb)
echo "built $deb"
if lintian --fail-on error,warning --suppress-tags-from-file /dev/null "$deb" "$out"/*.changes \
    >"$out/lintian.log" 2>&1; then
    ok "lintian: no error or warning"
else
    cat "$out/lintian.log"
    bad "lintian"
fi
cat "$out/lintian.log"
if [ $build_only = 1 ]; then
    echo "check-deb: $passed passed, $failed failed"
    [ $failed -eq 0 ]
    exit
fi

# ---- 2. what the package holds ------------------------------------------------------------------
dpkg --contents "$deb" >"$out/contents.txt"
cat "$out/contents.txt"
for f in ./usr/bin/logbridge ./usr/share/man/man1/logbridge.1.gz ./lib/systemd/system/logbridge@.service \
    ./etc/logbridge/app.json ./usr/share/doc/logbridge/examples/logbridge \
    ./usr/share/doc/logbridge/examples/phase2-mirror.json ./usr/share/doc/logbridge/examples/junit.xsd \
    ./usr/share/doc/logbridge/copyright; do
    check "package holds $f" grep -q " $f\$" "$out/contents.txt"
done
check "/etc/logbridge/app.json is a conffile" sh -c "dpkg-deb -e '$deb' '$out/control' && grep -qx /etc/logbridge/app.json '$out/control/conffiles'"
check "postinst creates the logbridge user" grep -q "adduser --system" "$out/control/postinst"

# ---- 3. unpacked into a throwaway root ------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
dpkg -x "$deb" "$tmp/root"
v=$("$tmp/root/usr/bin/logbridge" --version 2>&1 || true)
case $v in "logbridge "[0-9]*) ok "logbridge --version: $v" ;; *) bad "logbridge --version: $v" ;; esac
check "the binary is stripped" sh -c "! readelf -S '$tmp/root/usr/bin/logbridge' | grep -q '\\.symtab'"
unit=$tmp/root/lib/systemd/system/logbridge@.service
check "unit: ExecStart is /usr/bin/logbridge" grep -q '^ExecStart=/usr/bin/logbridge run --config /etc/logbridge/%i.json' "$unit"
check "unit: ExecStartPre runs check-config" grep -q '^ExecStartPre=/usr/bin/logbridge check-config --config /etc/logbridge/%i.json' "$unit"
check "unit: every ReadOnlyPaths=/ReadWritePaths= is optional (-)" sh -c "! grep -E '^Read(Only|Write)Paths=[^-]' '$unit'"
check "unit: UMask set" grep -q '^UMask=' "$unit"
if command -v systemd-analyze >/dev/null 2>&1; then
    check "systemd-analyze verify accepts the unit" sh -c "cp '$unit' '$tmp/logbridge@test.service' && systemd-analyze verify '$tmp/logbridge@test.service' 2>&1 | grep -qv 'is not executable' || true"
fi

# ---- 4. make install / make uninstall ------------------------------------------------------------
inst=$tmp/inst
make -C "$root" --no-print-directory install DESTDIR="$inst" PREFIX=/usr/local >"$out/install.log" 2>&1 || {
    cat "$out/install.log"; bad "make install"; }
for f in usr/local/bin/logbridge usr/local/share/man/man1/logbridge.1 \
    usr/local/lib/systemd/system/logbridge@.service usr/local/share/doc/logbridge/README.md \
    usr/local/share/doc/logbridge/REFERENCE.md usr/local/share/doc/logbridge/examples/logbridge \
    usr/local/share/doc/logbridge/examples/phase1-tail-parity.json; do
    check "make install: $f" test -f "$inst/$f"
done
check "make install: the binary is stripped" sh -c "! readelf -S '$inst/usr/local/bin/logbridge' | grep -q '\\.symtab'"
check "make install: the unit names /usr/local/bin" grep -q '^ExecStart=/usr/local/bin/logbridge' "$inst/usr/local/lib/systemd/system/logbridge@.service"
make -C "$root" --no-print-directory uninstall DESTDIR="$inst" PREFIX=/usr/local >>"$out/install.log" 2>&1 || bad "make uninstall"
left=$(find "$inst" -type f | wc -l)
if [ "$left" -eq 0 ]; then ok "make uninstall removed every file"; else find "$inst" -type f; bad "make uninstall left $left files"; fi

echo "check-deb: $passed passed, $failed failed"
[ $failed -eq 0 ]
