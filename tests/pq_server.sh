#!/bin/sh
# A PostgreSQL server on loopback for the pq_* tests (tests/test_pq.c).
#   pq_server.sh start STATE [OWNER_PID]
#       initdb into a new directory under /tmp, start postgres on a free
#       port (127.0.0.1 and a Unix socket in that directory), write
#       "PORT DIR SSL" to STATE, or "skip REASON" when it cannot; exits 0
#       either way (the tests then skip, 77, with the reason). SSL is 1
#       when openssl made a certificate: the server then has TLS on, and
#       its pg_hba takes TLS on 127.0.0.1 only from the role corio_ssl, so
#       `postgres` with sslmode=prefer is refused over TLS and libpq
#       retries without it on a new socket (the tests want that path).
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
    ssl=0 sslopts=""
    if command -v openssl >/dev/null 2>&1 &&
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj /CN=127.0.0.1 -keyout "$dir/server.key" -out "$dir/server.crt" >/dev/null 2>&1; then
        chmod 600 "$dir/server.key"
        [ -z "$as" ] || chown postgres: "$dir/server.key" "$dir/server.crt"
        printf '%s\n' "local all all trust" "hostnossl all all 127.0.0.1/32 trust" \
            "hostssl all corio_ssl 127.0.0.1/32 trust" >"$dir/data/pg_hba.conf"
        ssl=1 sslopts="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
    fi
    for try in 1 2 3 4 5 6 7 8; do
        # A port in 30000..49999; a taken one makes postgres fail: next.
        port=$((30000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
        if $as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -o "-k $dir -p $port \
            -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=16MB \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off $sslopts" start >/dev/null 2>&1; then
            [ $ssl = 0 ] || $as "$bindir/psql" -q -h "$dir" -p "$port" -U postgres -d postgres \
                -c "create role corio_ssl login" >/dev/null 2>&1 || ssl=0
            echo "$port $dir $ssl" >"$state"
            (
                trap '' HUP INT
                while kill -0 "$owner" 2>/dev/null && [ -f "$state" ] && [ -d "$dir/data" ]; do
                    sleep 1
                done
                stop_dir "$dir"
                [ "$(cat "$state" 2>/dev/null)" != "$port $dir $ssl" ] || rm -f "$state"
            ) </dev/null >/dev/null 2>&1 &
            echo "pq_server: postgres on 127.0.0.1:$port and $dir, TLS $ssl (try $try)"
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
    read -r port dir _ <"$state" || true
    rm -f "$state"
    [ "$port" = skip ] || stop_dir "$dir"
    echo "pq_server: stopped"
    ;;
*)
    echo "usage: pq_server.sh start|stop STATE [OWNER_PID]"
    exit 2
    ;;
esac
