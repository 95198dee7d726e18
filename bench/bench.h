/* Shared by the corio benchmark programs: size argument and timing. Each
 * program prints one check line ending in secs=<seconds of the work>. */
#ifndef CORIO_BENCH_H
#define CORIO_BENCH_H
#define _POSIX_C_SOURCE 200809L
#include <corio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline long bench_size(int argc, char **argv, long dflt) {
    long n = argc > 1 ? atol(argv[1]) : dflt;
    if (n <= 0) {
        fprintf(stderr, "usage: %s N\n", argv[0]);
        exit(2);
    }
    return n;
}

static inline int bench_fail(const char *what, int rc) {
    fprintf(stderr, "%s: %s\n", what, corio_strerror(rc));
    return 1;
}
#endif
