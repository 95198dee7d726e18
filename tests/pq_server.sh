#!/bin/sh
# A PostgreSQL server on loopback for the pq_* tests (tests/test_pq.c).
#   pq_server.sh start STATE [OWNER_PID]
#       initdb into a new directory under /tmp, start postgres on a free
#       port (127.0.0.1 and a Unix socket in that directory), write
#       "PORT DIR" to STATE, or "skip REASON" when it cannot; exits 0
#       either way (the tests then skip, 77, with the reason).
#   pq_server.sh stop STATE
#       stop it and remove the directory and STATE.
# PostgreSQL refuses to run as root: as root the server runs as the
# `postgres` user (runuser, else setpriv). A watchdog stops the server once
# OWNER_PID (default: the caller, ctest for the fixture) is gone or STATE
# was removed, so an interrupted run leaves no postgres behind.
set -u
cmd=${1:-}
state=${2:-}
[ -n "$state" ] || { echo "usage: pq_server.sh start|stop STATE [OWNER_PID]"; exit 2; }

bindir=${CORIO_PG_BINDIR:-}
if [ -z "$bindir" ]; then
    bindir=$(pg_config --bindir 2>/dev/null || true)
    [ -x "$bindir/initdb" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi

as=""
if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        as=none
    elif command -v runuser >/dev/null 2>&1; then
        as="runuser -u postgres --"
    elif command -v setpriv >/dev/null 2>&1; then
        as="setpriv --reuid=postgres --regid=postgres --init-groups --"
    else
        as=none
    fi
fi

stop_dir() {
    [ -d "$1/data" ] && $as "$bindir/pg_ctl" -D "$1/data" -m immediate -w -t 30 stop >/dev/null 2>&1
    rm -rf "$1"
}

skip() {
    echo "skip $*" >"$state"
    echo "pq_server: $*: the pq tests skip"
    exit 0
}

case $cmd in
start)
    owner=${3:-$PPID}
    [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] ||
        skip "no PostgreSQL server found (Debian: postgresql; or set CORIO_PG_BINDIR)"
    [ "$as" != none ] || skip "running as root without a postgres user and runuser or setpriv"
    dir=$(mktemp -d /tmp/corio-pq.XXXXXX) || skip "mktemp failed"
    [ -z "$as" ] || chown postgres: "$dir" || { rm -rf "$dir"; skip "cannot chown $dir to postgres"; }
    if ! $as "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 --locale=C \
        >"$dir/initdb.log" 2>&1; then
        tail -n 5 "$dir/initdb.log"
        rm -rf "$dir"
        skip "initdb failed"
    fi
    for try in 1 2 3 4 5 6 7 8; do
        # A port in 30000..49999; a taken one makes postgres fail: next.
        port=$((30000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
        if $as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -o "-k $dir -p $port \
            -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=16MB \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null 2>&1; then
            echo "$port $dir" >"$state"
            (
                trap '' HUP INT
                while kill -0 "$owner" 2>/dev/null && [ -f "$state" ] && [ -d "$dir/data" ]; do
                    sleep 1
                done
                stop_dir "$dir"
                [ "$(cat "$state" 2>/dev/null)" != "$port $dir" ] || rm -f "$state"
            ) </dev/null >/dev/null 2>&1 &
            echo "pq_server: postgres on 127.0.0.1:$port and $dir (try $try)"
            exit 0
        fi
        tail -n 1 "$dir/log" 2>/dev/null
    done
    tail -n 5 "$dir/log" 2>/dev/null
    stop_dir "$dir"
    skip "postgres did not start"
    ;;
stop)
    [ -f "$state" ] || exit 0
    read -r port dir <"$state" || true
    rm -f "$state"
    [ "$port" = skip ] || stop_dir "$dir"
    echo "pq_server: stopped"
    ;;
*)
    echo "usage: pq_server.sh start|stop STATE [OWNER_PID]"
    exit 2
    ;;
esac
