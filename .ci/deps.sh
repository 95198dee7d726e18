#!/bin/sh
# Optional dependencies from Debian's packages: valgrind (stack
# registration, soak test), pkg-config (install check), clang (second
# compiler), python3 (differential tests), an aarch64 cross compiler and
# qemu-user (the aarch64 context switch), liburing-dev (the io_uring
# backend), libhiredis-dev and redis-server (the hiredis adapter and its
# tests), libssl-dev and openssl (TLS; the TLS example makes its
# certificate with the openssl command), libpq-dev and postgresql (the
# libpq adapter and its tests), libcurl4-openssl-dev (the libcurl adapter;
# the fetch examples, whose originals need python3-aiohttp),
# nginx (its tests and fetch_many's server), and the benchmark peers:
# python3-aiohttp, Go,
# Node.js, uvloop, tokio (Debian's crate registry), libuv, gnuplot, time.
# Needs root.
set -e
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# `env`: an assignment after an (empty) $SUDO would be taken for a command.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    cmake make gcc clang pkg-config valgrind python3 \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user time \
    golang-go nodejs python3-uvloop librust-tokio-dev libuv1-dev gnuplot-nox \
    liburing-dev libhiredis-dev redis-server libssl-dev openssl libpq-dev postgresql \
    libcurl4-openssl-dev nginx python3-aiohttp >/dev/null
