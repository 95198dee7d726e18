#!/bin/sh
# callgrind.sh [COMMIT...]: instructions per operation of the corio
# benchmarks at each commit (default HEAD), for checking that a refactor
# stays within 1% of the instructions it replaces. Instruction counts
# (callgrind's Ir) are deterministic, unlike wall time on a shared machine.
#
# Each commit is checked out with `git worktree add --detach` into a temp
# dir, configured like `make bench` (plain configure, CMake's default
# RelWithDebInfo) and only the `benchmarks` target is built. Each workload
# runs under callgrind at two sizes N1 < N2; per-op Ir is
#   (Ir(N2) - Ir(N1)) / (N2 - N1)
# so the fixed cost (process start-up, dynamic linking, loop setup and
# teardown) cancels and only the per-N cost remains. One "op" is one unit
# of N: spawn_gather a task, yield one sleep(0) in each of its two tasks
# (2 switches), pingpong one round trip (2 hand-offs).
#
# The table ends with ratio = last commit / first commit.
# Env: N1 (20000), N2 (120000), JOBS (2), KEEP=1 keeps the worktrees.
set -eu
N1=${N1:-20000}
N2=${N2:-120000}
JOBS=${JOBS:-2}
[ $# -gt 0 ] || set -- HEAD
repo=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/corio-cg.XXXXXX")
res=$tmp/results
: >"$res"
cleanup() {
    for wt in "$tmp"/wt-*; do
        [ -d "$wt" ] && git -C "$repo" worktree remove --force "$wt" 2>/dev/null
    done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$tmp"
}
[ "${KEEP:-0}" = 1 ] || trap cleanup EXIT INT TERM

# ir BIN ARGS...: total Ir of one run (from the "Collected :" line).
ir() {
    log=$tmp/vg.log
    if ! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            --log-file="$log" "$@" >"$tmp/out" 2>&1; then
        echo "callgrind.sh: $* failed:" >&2
        cat "$tmp/out" >&2
        return 1
    fi
    awk '/Collected :/ { print $NF; found = 1 } END { exit !found }' "$log"
}

cols=""
for c in "$@"; do
    sha=$(git -C "$repo" rev-parse --short "$c^{commit}")
    cols="$cols $sha"
    wt=$tmp/wt-$sha
    git -C "$repo" worktree add --detach --quiet "$wt" "$sha"
    echo "== $sha: building" >&2
    if ! { cmake -S "$wt" -B "$wt/build" >/dev/null &&
           cmake --build "$wt/build" -j "$JOBS" --target benchmarks >"$tmp/build.log" 2>&1; }; then
        echo "callgrind.sh: $sha does not build; its column is '-'" >&2
        tail -20 "$tmp/build.log" >&2
        continue
    fi
    b=$wt/build/bench
    for w in spawn_gather spawn_gather_eager yield pingpong; do
        case $w in
            spawn_gather_eager) prog=spawn_gather extra=eager ;;
            *) prog=$w extra= ;;
        esac
        echo "== $sha: $w" >&2
        a=$(ir "$b/$prog" "$N1" $extra) && z=$(ir "$b/$prog" "$N2" $extra) || {
            echo "$sha $w -" >>"$res"
            continue
        }
        echo "$sha $w $(awk -v a="$a" -v z="$z" -v n1="$N1" -v n2="$N2" \
            'BEGIN { printf "%.2f", (z - a) / (n2 - n1) }')" >>"$res"
    done
    git -C "$repo" worktree remove --force "$wt"
done

awk -v cols="$cols" -v n1="$N1" -v n2="$N2" '
    { v[$1 " " $2] = $3; if (!($2 in seen)) { seen[$2] = 1; ws[++nw] = $2 } }
    END {
        nc = split(cols, c, " ")
        printf "Ir per op, (Ir(%d) - Ir(%d)) / %d\n", n2, n1, n2 - n1
        printf "%-20s", "workload"
        for (i = 1; i <= nc; i++) printf " %12s", c[i]
        if (nc > 1) printf " %8s", "ratio"
        printf "\n"
        for (j = 1; j <= nw; j++) {
            printf "%-20s", ws[j]
            for (i = 1; i <= nc; i++) {
                x = v[c[i] " " ws[j]]
                printf " %12s", x == "" ? "-" : x
            }
            f = v[c[1] " " ws[j]]; l = v[c[nc] " " ws[j]]
            if (nc > 1) {
                if (f == "" || f == "-" || l == "" || l == "-" || f + 0 == 0) printf " %8s", "-"
                else printf " %8.4f", l / f
            }
            printf "\n"
        }
    }' "$res"
