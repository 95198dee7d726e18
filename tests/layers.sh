#!/bin/sh
# The layers of src/ (src/README.md), checked two ways:
#  1. includes: each file includes only the headers its folder may;
#  2. links (when an object directory is given): no object of a lower
#     layer uses a symbol that an object of a higher layer defines.
# usage: layers.sh SRC_DIR [OBJ_DIR]   (OBJ_DIR: .../CMakeFiles/corio_obj.dir)
set -u
src=$1/src
obj=${2:-}
fail=0

# What a folder may include besides its own files, corio.h and system headers.
allowed() {
    case $1 in
    platform) echo "" ;;
    util) echo "platform/sys.h" ;;
    core) echo "backend/backend.h util/ platform/" ;;
    backend) echo "core/internal.h core/contract.h util/ platform/" ;;
    aio|sync|threads) echo "core/contract.h util/ platform/" ;;
    io) echo "core/contract.h backend/backend.h util/ platform/" ;;
    tls|process) echo "core/contract.h io/ util/ platform/" ;;
    signal) echo "core/contract.h backend/backend.h util/ platform/" ;;
    runner) echo "core/contract.h threads/threads.h aio/aio.h signal/ util/ platform/" ;;
    adapters) echo "corio_curl.h corio_pq.h corio_redis.h" ;;
    *) echo "?" ;;
    esac
}

for f in $(cd "$src" && find . -name '*.[ch]' | sed 's|^\./||' | sort); do
    dir=${f%%/*}
    [ "$dir" = "$f" ] && { echo "layers: $f is outside every layer folder"; fail=1; continue; }
    ok=$(allowed "$dir")
    [ "$ok" = "?" ] && { echo "layers: $dir/ is not a known layer (tests/layers.sh)"; fail=1; continue; }
    for inc in $(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$src/$f"); do
        case $inc in corio.h|"$dir"/*) continue ;; esac
        good=0
        for a in $ok; do
            case $a in
            */) case $inc in "$a"*) good=1 ;; esac ;;
            *) [ "$inc" = "$a" ] && good=1 ;;
            esac
        done
        [ $good = 1 ] || { echo "layers: src/$f includes \"$inc\", which $dir/ may not"; fail=1; }
    done
done

# Link level: lower layers (platform, util, core, backend) must not need
# any symbol defined by the layers above them.
if [ -n "$obj" ]; then
    command -v nm >/dev/null || { echo "layers: no nm, link check skipped"; exit $fail; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for d in aio sync threads io tls process signal runner; do
        [ -d "$obj/src/$d" ] || continue
        find "$obj/src/$d" -name '*.o' -exec nm --defined-only {} + 2>/dev/null |
            awk 'NF == 3 && $2 ~ /[TDBR]/ {print $3}'
    done | sort -u > "$tmp/upper"
    for d in platform util core backend; do
        [ -d "$obj/src/$d" ] || continue
        for o in $(find "$obj/src/$d" -name '*.o' | sort); do
            nm --undefined-only "$o" | awk '{print $NF}' | sort -u > "$tmp/need"
            bad=$(comm -12 "$tmp/need" "$tmp/upper")
            [ -z "$bad" ] && continue
            echo "layers: ${o#$obj/} (a lower layer) uses symbols of a higher one:" $bad
            fail=1
        done
    done
    [ -s "$tmp/upper" ] || { echo "layers: no objects under $obj"; fail=1; }
fi
[ $fail = 0 ] && echo "layers: every include and link edge points down"
exit $fail
