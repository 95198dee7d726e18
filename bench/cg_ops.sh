#!/bin/sh
# cg_ops.sh BUILD_DIR: instructions per operation of the corio benchmark
# programs already built in BUILD_DIR/bench (callgrind.sh's method and
# units, without checking out and building commits: for iterating on the
# working tree). Per op = (Ir(N2) - Ir(N1)) / (N2 - N1); spawn_gather's op
# is a task, yield's is one sleep(0) in each of two tasks (2 switches),
# pingpong's one round trip (2 hand-offs); the last column halves those.
# Env: N1 (20000), N2 (120000).
set -eu
b=${1:?usage: cg_ops.sh BUILD_DIR}/bench
N1=${N1:-20000}
N2=${N2:-120000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/corio-cgo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        --log-file="$tmp/vg.log" "$@" >/dev/null 2>&1 || { echo "cg_ops.sh: $* failed" >&2; exit 1; }
    awk '/Collected :/ { print $NF }' "$tmp/vg.log"
}
printf "%-20s %10s %10s\n" workload "Ir/op" "Ir/switch"
for w in spawn_gather spawn_gather_eager yield pingpong; do
    case $w in
        spawn_gather_eager) prog=spawn_gather extra=eager div=1 ;;
        spawn_gather) prog=$w extra= div=1 ;;
        *) prog=$w extra= div=2 ;;
    esac
    a=$(ir "$b/$prog" "$N1" $extra)
    z=$(ir "$b/$prog" "$N2" $extra)
    awk -v a="$a" -v z="$z" -v n1="$N1" -v n2="$N2" -v w="$w" -v d="$div" \
        'BEGIN { p = (z - a) / (n2 - n1); printf "%-20s %10.2f %10.2f\n", w, p, p / d }'
done
