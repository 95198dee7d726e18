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
