#!/bin/sh
# Optional dependencies from Debian's packages: valgrind headers (stack
# registration), pkg-config (install check), clang (second compiler),
# python3 (differential tests). Needs root.
set -e
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    cmake make gcc clang pkg-config valgrind python3 >/dev/null
