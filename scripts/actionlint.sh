#!/usr/bin/env bash
# Lints the project's workflows and the examples (they are workflows too) with actionlint.
# actionlint is built from the wrapper module tools/actionlint (its go.mod pins the version) the
# first time, and kept outside the repository under $GAC_CACHE/bin/actionlint-<version>.
# Exits non-zero on any finding. Extra arguments are passed to actionlint.
set -euo pipefail
cd "$(dirname "$0")/.."

GAC_CACHE="${GAC_CACHE:-$HOME/.cache/gpu-autoscaling-conformance}"
version=$(go list -C tools/actionlint -m -f '{{.Version}}' github.com/rhysd/actionlint)
bin="$GAC_CACHE/bin/actionlint-$version"

if [ ! -x "$bin" ]; then
  echo "building actionlint $version into $bin" >&2
  mkdir -p "$GAC_CACHE/bin"
  tmp="$bin.tmp.$$"
  # Build to a temporary name, then rename: a cancelled build never leaves a broken cached binary.
  CGO_ENABLED=0 go build -C tools/actionlint -trimpath -o "$tmp" github.com/rhysd/actionlint/cmd/actionlint
  mv -f "$tmp" "$bin"
fi

shopt -s nullglob
files=(.github/workflows/*.yml .github/workflows/*.yaml examples/*.yml examples/*.yaml)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no workflow files found" >&2
  exit 1
fi
# shellcheck (and pyflakes) are used for run: scripts when on PATH, as on GitHub's runners.
command -v shellcheck >/dev/null || echo "note: shellcheck not on PATH; run: scripts are not shell-checked" >&2
"$bin" "$@" "${files[@]}"
echo "actionlint $version: ${#files[@]} files clean"
