#!/bin/sh
# Install into a temporary prefix, then build and run an outside program
# with nothing but `pkg-config --cflags --libs corio`.
set -eu
src=$1; build=$2
[ -z "${CORIO_SANITIZE:-}" ] || { echo "sanitized build: an outside program cannot load it; skipped"; exit 77; }
command -v pkg-config >/dev/null || { echo "pkg-config missing: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pcdir=$(dirname "$(find "$tmp/prefix" -name corio.pc | head -n 1)")
export PKG_CONFIG_PATH="$pcdir"
${CC:-cc} -std=c17 -Wall -Wextra -Werror -o "$tmp/hello" "$src/examples/hello.c" \
    $(pkg-config --cflags --libs corio) -Wl,-rpath,"$tmp/prefix/lib" -Wl,-rpath,"$(pkg-config --variable=libdir corio)"
out=$("$tmp/hello")
echo "$out"
# The sleep is 0.01 s; a loaded machine may print more, never less.
secs=${out#hello from Task-1 after }
secs=${secs% s}
[ "$out" = "hello from Task-1 after $secs s" ] && awk -v s="$secs" 'BEGIN { exit !(s + 0 >= 0.01) }' ||
    { echo "unexpected output"; exit 1; }
# Only the public API is exported from the shared library.
so=$(find "$tmp/prefix" -name 'libcorio.so.*.*' | head -n 1)
if command -v nm >/dev/null; then
    bad=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^corio_' | grep -v '^CORIO_' || true)
    [ -z "$bad" ] || { echo "unexpected exports: $bad"; exit 1; }
    ! nm -D --defined-only "$so" | grep -q ' corio__' || { echo "internal symbols exported"; exit 1; }
fi
# The hiredis adapter, where it was built: an outside program with
# `pkg-config --cflags --libs corio-redis`, and with CMake's component.
if pc=$(find "$tmp/prefix" -name corio-redis.pc | head -n 1) && [ -n "$pc" ]; then
    cat > "$tmp/redis.c" <<'PROG'
#include <corio_redis.h>
#include <stdio.h>
int main(void) {
    corio_redis *r = NULL;
    int rc = corio_redis_connect("127.0.0.1", 6379, 1, &r); /* outside a task */
    printf("%s\n", corio_strerror(rc));
    return rc == CORIO_ENOTINTASK && !r ? 0 : 1;
}
PROG
    ${CC:-cc} -std=c17 -Wall -Wextra -Werror -o "$tmp/redis" "$tmp/redis.c" \
        $(pkg-config --cflags --libs corio-redis) -Wl,-rpath,"$(pkg-config --variable=libdir corio)"
    "$tmp/redis" || { echo "corio-redis: unexpected result"; exit 1; }
    mkdir -p "$tmp/cm"
    cat > "$tmp/cm/CMakeLists.txt" <<'PROJ'
cmake_minimum_required(VERSION 3.16)
project(outside C)
find_package(corio REQUIRED COMPONENTS redis)
add_executable(redis_outside ../redis.c)
target_link_libraries(redis_outside PRIVATE corio::corio_redis)
PROJ
    cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
        -DCMAKE_BUILD_RPATH="$(pkg-config --variable=libdir corio)" >/dev/null &&
        cmake --build "$tmp/cm/build" >/dev/null && "$tmp/cm/build/redis_outside" >/dev/null ||
        { echo "corio-redis: the CMake component failed"; exit 1; }
    echo "corio-redis: pkg-config and CMake component ok"
fi
# The libpq adapter, where it was built: its own pkg-config name, and only
# corio_pq_* exported. The program connects to a closed loopback port.
if [ -f "$pcdir/corio-pq.pc" ]; then
    cat >"$tmp/pq.c" <<'PQ'
#include <corio_pq.h>
#include <stdio.h>
static int body(void *arg, void **res) {
    (void)arg, (void)res;
    PGconn *c;
    int rc = corio_pq_connect("host=127.0.0.1 port=1 connect_timeout=10", &c);
    printf("%s\n", rc == CORIO_EPQ && !c ? "refused" : "unexpected");
    return 0;
}
int main(void) { return corio_run(body, NULL, NULL); }
PQ
    ${CC:-cc} -std=c17 -Wall -Wextra -Werror -o "$tmp/pq" "$tmp/pq.c" \
        $(pkg-config --cflags --libs corio-pq) -Wl,-rpath,"$(pkg-config --variable=libdir corio)"
    [ "$("$tmp/pq")" = refused ] || { echo "corio-pq: unexpected output"; exit 1; }
    echo "corio-pq: linked and ran"
    so=$(find "$tmp/prefix" -name 'libcorio_pq.so.*.*' | head -n 1)
    if command -v nm >/dev/null; then
        bad=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^corio_pq_' | grep -v '^CORIO_PQ_' || true)
        [ -z "$bad" ] || { echo "libcorio_pq: unexpected exports: $bad"; exit 1; }
    fi
fi
# The libcurl adapter, where it was built: its own header, library and
# corio-curl.pc (which requires corio and libcurl).
if [ -f "$pcdir/corio-curl.pc" ]; then
    cat > "$tmp/curl.c" <<'PROG'
#include <corio_curl.h>
#include <stdio.h>
static int body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_curl *c;
    int rc = corio_curl_new(&c);
    if (rc == 0) rc = corio_curl_free(c);
    return rc;
}
int main(void) {
    int rc = corio_run(body, NULL, NULL);
    printf("corio_curl: %s\n", rc == 0 ? "ok" : corio_strerror(rc));
    return rc != 0;
}
PROG
    ${CC:-cc} -std=c17 -Wall -Wextra -Werror -o "$tmp/curl" "$tmp/curl.c" \
        $(pkg-config --cflags --libs corio-curl) -Wl,-rpath,"$(pkg-config --variable=libdir corio)"
    "$tmp/curl"
    so=$(find "$tmp/prefix" -name 'libcorio_curl.so.*.*' | head -n 1)
    if command -v nm >/dev/null; then
        bad=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^corio_' || true)
        [ -z "$bad" ] || { echo "libcorio_curl: unexpected exports: $bad"; exit 1; }
    fi
fi
