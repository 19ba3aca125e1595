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
rm -f "$out"/*.json
passed=0 failed=0
count() { if [ "$1" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $2" >&2; fi; }

bed_started=0
if testbed/build; then
  if testbed/up; then bed_started=1; else count 1 "testbed/up"; fi
else
  count 1 "testbed/build"
fi

# The kind cluster (node image built when not cached) starts once the bed is up: its tests use
# the bed's metric pipeline.
kind_started=0
if [ "$bed_started" = 1 ]; then
  if testbed/kind/up; then kind_started=1; else count 1 "testbed/kind/up"; fi
fi

# Unit tests run in parallel; the bed and e2e files share one cluster and one Karpenter, so
# they run one file at a time, after the unit tests.
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$out/unit.json" "$@"
unit_rc=$?
vitest_rc=$unit_rc
if [ "$bed_started" = 1 ]; then
  npx vitest run --project bed --project e2e --no-file-parallelism --reporter=default --reporter=json --outputFile.json="$out/cluster.json" "$@"
  cluster_rc=$?
  [ "$cluster_rc" -ne 0 ] && vitest_rc=$cluster_rc
fi

# The kind tests need the bed's metric pipeline; they run (and fail) without a cluster too.
filter=(); [ $# -gt 0 ] && filter=(--passWithNoTests) # a file filter given for other projects
npx vitest run --project kind --no-file-parallelism "${filter[@]}" --reporter=default --reporter=json --outputFile.json="$out/kind.json" "$@"
kind_rc=$?
[ "$kind_rc" -ne 0 ] && vitest_rc=$kind_rc

if [ "$kind_started" = 1 ]; then
  testbed/kind/down; count $? "testbed/kind/down"
fi
if [ "$bed_started" = 1 ]; then
  testbed/down; count $? "testbed/down"
  testbed/check-down; count $? "testbed/check-down: a bed process was left running"
fi

reports=()
for r in "$out/unit.json" "$out/cluster.json" "$out/kind.json"; do [ -f "$r" ] && reports+=("$r"); done
if [ ${#reports[@]} -gt 0 ]; then
  # The failures are named again here, next to the counts: CI shows only the end of the log.
  read -r vp vf < <(node -e '
    let p = 0, f = 0;
    for (const file of process.argv.slice(1)) {
      const r = require(file);
      p += r.numPassedTests;
      f += r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
      for (const suite of r.testResults) {
        const where = suite.name.replace(process.cwd() + "/", "");
        const failed = suite.assertionResults.filter((t) => t.status === "failed");
        for (const t of failed) console.error(`FAILED: ${where} > ${t.fullName}: ${(t.failureMessages[0] ?? "").split("\n")[0].slice(0, 300)}`);
        if (suite.status === "failed" && failed.length === 0) console.error(`FAILED: ${where} did not load: ${(suite.message ?? "").split("\n")[0].slice(0, 300)}`);
      }
    }
    console.log(p, f);' "${reports[@]}")
  passed=$((passed + vp)) failed=$((failed + vf))
  [ "$vitest_rc" -ne 0 ] && [ "$vf" -eq 0 ] && count 1 "vitest exited $vitest_rc (a suite failed to load)"
else
  count 1 "vitest produced no report"
fi
[ -n "${TEST_COUNTS:-}" ] && echo "$passed $failed" > "$TEST_COUNTS"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
