#!/bin/sh
# Optional dependencies from Debian's packages: valgrind (stack
# registration, soak test), pkg-config (install check), clang (second
# compiler), python3 (differential tests), an aarch64 cross compiler and
# qemu-user (the aarch64 context switch). Needs root.
set -e
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    cmake make gcc clang pkg-config valgrind python3 \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
