#!/usr/bin/env bash
# Time from a fresh clone to a green test run: clone, `./dev setup` (venv + install, with
# pip's cache off so every package is downloaded as on a fresh machine), then `./dev test`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
t0=$(now)
git clone -q "$repo" "$work/veriframe"
cd "$work/veriframe"
PIP_NO_CACHE_DIR=1 ./dev setup
t1=$(now)
./dev test -q -p no:cacheprovider 2>&1 | tail -1
t2=$(now)
printf 'clone + install: %.0f s\ntests: %.0f s\nfresh clone to green: %.0f s\n' \
  "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t2 - $t0" | bc)"
