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
