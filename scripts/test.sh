#!/usr/bin/env bash
# The whole test suite: unit, test bed and end to end. Builds the test bed when its binaries
# are not cached, starts it, runs every vitest project against it, stops it, and checks that
# no bed process is left. Last line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/node24.sh
[ -d node_modules ] || npm ci --no-audit --no-fund

out="${TEST_OUT:-$PWD/.tmp/test}"
mkdir -p "$out"
passed=0 failed=0
count() { if [ "$1" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $2" >&2; fi; }

bed_started=0
if testbed/build; then
  if testbed/up; then bed_started=1; else count 1 "testbed/up"; fi
else
  count 1 "testbed/build"
fi

# One vitest run over all projects; the JSON report is what we count.
npx vitest run --reporter=default --reporter=json --outputFile.json="$out/vitest.json" "$@"
vitest_rc=$?

if [ "$bed_started" = 1 ]; then
  testbed/down; count $? "testbed/down"
  testbed/check-down; count $? "testbed/check-down: a bed process was left running"
fi

if [ -f "$out/vitest.json" ]; then
  read -r vp vf < <(node -e 'const r = require(process.argv[1]); console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0))' "$out/vitest.json")
  passed=$((passed + vp)) failed=$((failed + vf))
  [ "$vitest_rc" -ne 0 ] && [ "$vf" -eq 0 ] && count 1 "vitest exited $vitest_rc (a suite failed to load)"
else
  count 1 "vitest produced no report"
fi
[ -n "${TEST_COUNTS:-}" ] && echo "$passed $failed" > "$TEST_COUNTS"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
