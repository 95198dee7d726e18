#!/bin/sh
# make bench: runs each corio benchmark (QUICK=1 for small sizes).
set -e
build=${1:-build}
if [ "${QUICK:-0}" = 1 ]; then n=10000; else n=1000000; fi
echo "== sleepers $n =="
"$build/bench/sleepers" "$n"
