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
