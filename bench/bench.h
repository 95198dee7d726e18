/* Shared by the corio benchmark programs: size and mode arguments, timing,
 * the verdict. Each program prints one check line ending in secs=<seconds
 * of the work>, and exits 1 when the line shows a wrong answer. */
#ifndef CORIO_BENCH_H
#define CORIO_BENCH_H
#define _POSIX_C_SOURCE 200809L
#include <corio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* The words a program takes after N, as bits: `copy` runs its tasks in the
 * copy stack mode, `eager` starts them eagerly (asyncio 3.12's factory),
 * `as_completed` is wait_loop's other drain. Each program names the ones
 * it accepts; any other word is a usage error (exit 2). */
enum { BENCH_COPY = 1, BENCH_EAGER = 2, BENCH_AS_COMPLETED = 4 };

static inline int bench_modes(int argc, char **argv, int accepted) {
    static const char *const words[] = {"copy", "eager", "as_completed"};
    int modes = 0;
    for (int i = 2; i < argc; i++) {
        int bit = 0;
        for (int w = 0; w < 3; w++)
            if ((accepted & (1 << w)) && !strcmp(argv[i], words[w])) bit = 1 << w;
        if (!bit) {
            fprintf(stderr, "%s: unknown mode %s\n", argv[0], argv[i]);
            exit(2);
        }
        modes |= bit;
    }
    return modes;
}

/* Puts the running loop in the stack mode and task start the modes ask
 * for; the first thing a program's main task does. 0 or a corio code. */
static inline int bench_apply(int modes) {
    corio_loop *loop = corio_get_running_loop();
    int rc = 0;
    if (modes & BENCH_COPY) rc = corio_loop_set_stack_mode(loop, CORIO_STACK_COPY);
    if (rc == 0 && (modes & BENCH_EAGER)) rc = corio_loop_set_eager_tasks(loop, 1);
    return rc;
}

/* The exit status for a printed check line: a wrong answer fails the run,
 * so it can never pass for a fast one. */
static inline int bench_verdict(const char *name, int ok) {
    if (!ok) fprintf(stderr, "%s: wrong answer (see the check line)\n", name);
    return ok ? 0 : 1;
}
#endif
