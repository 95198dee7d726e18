#!/bin/sh
# The exported API three ways, which must agree: the CORIO_API declarations
# of include/corio.h, the version script src/corio.map, and the dynamic
# symbols libcorio.so really exports.
#   abi_check.sh SOURCE_DIR LIBCORIO_SO
set -u
src=$1; lib=$2
command -v nm >/dev/null || { echo "no nm: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
grep -E '^CORIO_API' "$src/include/corio.h" | grep -o 'corio_[a-z0-9_]*(' | tr -d '(' | sort -u > "$tmp/header"
sed -n '/global:/,/local:/p' "$src/src/corio.map" | grep -o 'corio_[a-z0-9_]*' | sort -u > "$tmp/map"
nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | grep '^corio_' | sort -u > "$tmp/lib"
fail=0
if ! cmp -s "$tmp/header" "$tmp/map"; then
    echo "corio.h (<) and corio.map (>) disagree:"; diff "$tmp/header" "$tmp/map"; fail=1
fi
if ! cmp -s "$tmp/map" "$tmp/lib"; then
    echo "corio.map (<) and the library's exports (>) disagree:"; diff "$tmp/map" "$tmp/lib"; fail=1
fi
[ $fail = 0 ] && echo "abi: $(wc -l < "$tmp/map") symbols, header = map = library"
exit $fail
