#!/usr/bin/env bash
# Builds (when not cached) and starts the local test bed, then runs the bundled action end to
# end against it in process mode, main then post, as a runner would. Extra inputs: name=value.
# The bed stays up afterwards (testbed/down stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node24.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/index.js ] || npm run build
testbed/build
testbed/up
exec node --disable-warning=ExperimentalWarning --import ./testbed/lib/resolve-ts.mjs scripts/run-local.ts "$@"
