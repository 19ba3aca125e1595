#!/usr/bin/env bash
# Makes a Debian bookworm rootfs tarball with debootstrap: debootstrap.sh OUT.tar VARIANT PACKAGES(comma list)
# The mirror is the one apt on this machine already uses (read from its sources, never written down here).
set -euo pipefail
out=$1 variant=$2 pkgs=$3
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[[ -z $mirror ]] && mirror=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null || true)
[[ -n $mirror ]] || { echo "debootstrap.sh: no Debian mirror found in apt's sources" >&2; exit 1; }
dir=$(mktemp -d "${out%/*}/.rootfs.XXXXXX")
trap 'rm -rf "$dir"' EXIT
args=(--variant="$variant" --components=main)
[[ -n $pkgs ]] && args+=(--include="$pkgs")
debootstrap "${args[@]}" bookworm "$dir" "$mirror" >"$out.log" 2>&1 || { tail -n 30 "$out.log" >&2; exit 1; }
# apt caches and lists are not needed in an image
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/var/log/*.log
tar -C "$dir" --numeric-owner -cf "$out.tmp" .
mv -f "$out.tmp" "$out"
