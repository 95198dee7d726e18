/* yield N [copy]: two tasks each calling sleep(0) N times; each returns
 * how many it made, and the check line adds them up. */
#include "bench.h"

static long n;

static int yielder(void *arg, void **result) {
    (void)arg;
    long i = 0;
    for (; i < n; i++) {
        int rc = corio_sleep(0);
        if (rc < 0) return rc;
    }
    *result = (void *)(intptr_t)i;
    return 0;
}

static double secs;
static long switches;
static int main_task(void *arg, void **result) {
    (void)result;
    int rc = bench_apply(*(int *)arg);
    if (rc < 0) return rc;
    corio_aw two[] = {CORIO_CORO(yielder, NULL), CORIO_CORO(yielder, NULL)};
    corio_outcome vals[2];
    double t0 = bench_now();
    rc = corio_gather_wait(two, 2, 0, vals);
    secs = bench_now() - t0;
    if (rc == 0) switches = (long)(intptr_t)vals[0].value + (long)(intptr_t)vals[1].value;
    return rc;
}

int main(int argc, char **argv) {
    n = bench_size(argc, argv, 1000000);
    int modes = bench_modes(argc, argv, BENCH_COPY);
    int rc = corio_run(main_task, &modes, NULL);
    if (rc < 0) return bench_fail("yield", rc);
    printf("yield n=%ld switches=%ld secs=%.6f\n", n, switches, secs);
    return bench_verdict("yield", switches == 2 * n);
}
