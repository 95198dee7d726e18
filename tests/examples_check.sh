#!/bin/sh
# Each deterministic example prints what its asyncio original prints
# (1 and 3 print elapsed time, 4, 5 and 13 random delays: left out).
set -u
src=$1; bin=$2
command -v python3 >/dev/null || { echo "no python3: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names="ex02_wait ex06_fetch ex07_might_fail ex08_first_exception ex09_deadline ex10_first_wins ex11_split ex12_as_completed ex14_pipeline ex15_rate_limit ex16_to_thread ex17_tcp_echo ex18_unix_echo ex19_chat ex20_udp_echo"
# The Python originals run side by side (they mostly sleep); the C ones one
# at a time, so that they do not load the machine. No example's output may
# depend on how far apart in real time two things happen (ex15 once printed
# a running count that did: whether three sleeps armed microseconds apart
# end in one loop pass or three is the machine's speed, not semantics).
for e in $names; do
    (python3 "$src/examples/$e.py" > "$tmp/$e.py" 2>&1) &
done
for e in $names; do
    "$bin/$e" > "$tmp/$e.c" 2>&1; echo $? > "$tmp/$e.crc"
done
wait
fail=0
for e in $names; do
    if [ "$(cat "$tmp/$e.crc")" != 0 ] || ! cmp -s "$tmp/$e.py" "$tmp/$e.c"; then
        echo "$e differs from its Python original:"
        diff "$tmp/$e.py" "$tmp/$e.c"
        fail=1
    else
        echo "$e: same as Python"
    fi
done
exit $fail
