#!/bin/sh
# Runs each cmocka test binary given, and prints one closing line
# "tests: N passed, N failed, N skipped" (N counts test cases, from cmocka's
# own summary lines; a skipped test is neither passed nor failed, and says
# why in its output). Exit status: 0 only when every binary passed.
passed=0; failed=0; skipped=0; badbin=0
# cmocka's summary line "[  <WORD>  ] N test(s)..." of one kind, summed.
count() {
    sed -n "s/^\[  $1 *\] \([0-9]*\) test.*/\1/p" "$2" | awk '{s+=$1} END {print s+0}'
}
for t in "$@"; do
    echo "=== $t"
    out=$(mktemp)
    "$t" >"$out" 2>&1
    rc=$?
    cat "$out"
    p=$(count PASSED "$out")
    f=$(count FAILED "$out")
    s=$(count SKIPPED "$out")
    rm -f "$out"
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!!! $t exited $rc without a cmocka failure line"
        failed=$((failed + 1)); badbin=1
    fi
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ $badbin -eq 0 ]
