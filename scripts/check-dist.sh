#!/usr/bin/env bash
# Fails when the committed bundle differs from a fresh build of src/ (as check-dist.yml does).
set -uo pipefail
cd "$(dirname "$0")/.."
npm run build --silent >/dev/null || { echo "the build failed"; exit 1; }
if ! git diff --quiet --exit-code -- dist || [ -n "$(git status --porcelain -- dist)" ]; then
  echo "dist/ differs from a fresh build of src/: run 'npm run build' and commit dist/"
  git status --short -- dist | head
  exit 1
fi
