#!/bin/sh
# Each deterministic example prints what its asyncio original prints
# (1 and 3 print elapsed time, 4, 5 and 13 random delays: left out).
set -u
src=$1; bin=$2
command -v python3 >/dev/null || { echo "no python3: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names="ex02_wait ex06_fetch ex07_might_fail ex08_first_exception ex09_deadline ex10_first_wins ex11_split ex12_as_completed ex14_pipeline ex15_rate_limit ex16_to_thread ex17_tcp_echo ex18_unix_echo ex19_chat ex20_udp_echo ex21_names ex22_tls_echo ex23_command_lines ex24_pipeline"
names="$names ex25_graceful_shutdown"
# The Python originals run side by side (they mostly sleep); the C ones one
# at a time, so that they do not load the machine. No example's output may
# depend on how far apart in real time two things happen (ex15 once printed
# a running count that did: whether three sleeps armed microseconds apart
# end in one loop pass or three is the machine's speed, not semantics).
for e in $names; do
    (python3 "$src/examples/$e.py" > "$tmp/$e.py" 2>&1) &
done
# The I/O examples run on each backend there is (io_uring where the loop
# gets it: CORIO_DEBUG says which one runs).
io="ex17_tcp_echo ex18_unix_echo ex19_chat ex20_udp_echo ex21_names ex22_tls_echo ex23_command_lines ex24_pipeline"
io="$io ex25_graceful_shutdown"
backends=epoll
if CORIO_DEBUG=1 CORIO_BACKEND=io_uring "$bin/ex20_udp_echo" 2>&1 >/dev/null | grep -q "running on io_uring"; then
    backends="epoll io_uring"
else
    echo "io_uring unavailable here (make deps installs liburing-dev): I/O examples on epoll only"
fi
# The fetch examples (semantics.md 12) talk HTTP over loopback to a server
# each starts itself; their originals use aiohttp (Debian's python3-aiohttp,
# which a pyenv python3 may lack: /usr/bin/python3 is tried too). They run on
# each backend; their Python originals one after another, so that timings
# of 100 ms steps do not compete with each other for the machine.
net="ex26_fetch_all ex27_first_response ex28_fetch_with_deadline ex29_fetch_errors ex30_fetch_as_completed ex31_crawler"
aiohttp_py=""
for p in python3 /usr/bin/python3; do
    if "$p" -c "import aiohttp" 2>/dev/null; then aiohttp_py=$p; break; fi
done
if [ ! -x "$bin/ex26_fetch_all" ]; then
    echo "fetch examples skipped: libcurl4-openssl-dev not installed (make deps)"
    net=""
elif [ -z "$aiohttp_py" ]; then
    echo "fetch examples skipped: python3-aiohttp not installed (make deps)"
    net=""
fi
(for e in $net; do "$aiohttp_py" "$src/examples/$e.py" > "$tmp/$e.py" 2>&1; done) &
names="$names $net"
io="$io $net"
runs=""
for e in $names; do
    case " $io " in *" $e "*) bs=$backends ;; *) bs=epoll ;; esac
    for b in $bs; do
        CORIO_BACKEND=$b "$bin/$e" > "$tmp/$e.$b.c" 2>&1; echo $? > "$tmp/$e.$b.crc"
        runs="$runs $e.$b"
    done
done
wait
fail=0
for r in $runs; do
    e=${r%.*}
    if [ "$(cat "$tmp/$r.crc")" = 77 ]; then # ex21 without OpenSSL or the openssl command
        echo "$e (${r##*.}): skipped ($(tail -n 1 "$tmp/$r.c"))"
    elif [ "$(cat "$tmp/$r.crc")" != 0 ] || ! cmp -s "$tmp/$e.py" "$tmp/$r.c"; then
        echo "$e (${r##*.}) differs from its Python original:"
        diff "$tmp/$e.py" "$tmp/$r.c"
        fail=1
    else
        echo "$e (${r##*.}): same as Python"
    fi
done
exit $fail
