#!/bin/sh
# The demo tour: each seed scenario under a short heading.
set -e
dir=${1:-build/examples}
run() {
    printf '\n== %s ==\n' "$1"
    "$dir/$2"
}
run "1. two sleeping jobs, concurrently (expect [1, 2] after ~2 s)" ex01_two_jobs
run "3. breakfast: coffee 2 s and toast 1 s (expect ~2.00 s)" ex03_breakfast
