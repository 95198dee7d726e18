/* timers N: arm N timers with spread deadlines, cancel half, let the rest
 * fire. Prints a check line and ns per arm, per cancel, per fire. */
#define _POSIX_C_SOURCE 200809L
#include <corio.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long fired;
static void on_fire(void *arg) {
    (void)arg;
    fired++;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    if (n <= 0) {
        fprintf(stderr, "usage: timers N\n");
        return 2;
    }
    corio_loop *loop;
    if (corio_loop_new(&loop) < 0 || corio_loop_set_virtual_time(loop, 1) < 0) return 1;
    corio_handle **hs = malloc((size_t)n * sizeof *hs);
    if (!hs) return 1;
    /* Deadlines spread over 0..1 s in a scrambled order. */
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        double when = (double)((i * 7919) % n) / (double)n;
        if (corio_call_at(loop, when, on_fire, NULL, &hs[i]) < 0) return 1;
    }
    double t1 = now_s();
    for (long i = 0; i < n; i += 2) corio_handle_cancel(hs[i]);
    double t2 = now_s();
    for (long i = 0; i < n; i++) corio_handle_unref(hs[i]);
    double t3 = now_s();
    int rc = corio_loop_run_forever(loop); /* virtual time: ends when all fired */
    double t4 = now_s();
    corio_loop_free(loop);
    free(hs);
    long cancelled = (n + 1) / 2;
    printf("timers n=%ld fired=%ld arm_ns=%.1f cancel_ns=%.1f fire_ns=%.1f secs=%.6f\n", n, fired,
           (t1 - t0) * 1e9 / (double)n, (t2 - t1) * 1e9 / (double)cancelled,
           (t4 - t3) * 1e9 / (double)(n - cancelled), t1 - t0);
    return (rc == CORIO_EDEADLK && fired == n - cancelled) ? 0 : 1;
}
