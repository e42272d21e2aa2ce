#!/bin/sh
# Runs each cmocka test binary given, and prints one closing line
# "tests: N passed, N failed" (N counts test cases, from cmocka's own lines).
# Exit status: 0 only when every binary passed.
passed=0; failed=0; badbin=0
for t in "$@"; do
    echo "=== $t"
    out=$(mktemp)
    "$t" >"$out" 2>&1
    rc=$?
    cat "$out"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    rm -f "$out"
    passed=$((passed + p)); failed=$((failed + f))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!!! $t exited $rc without a cmocka failure line"
        failed=$((failed + 1)); badbin=1
    fi
done
echo "tests: $passed passed, $failed failed"
[ $failed -eq 0 ] && [ $badbin -eq 0 ]
