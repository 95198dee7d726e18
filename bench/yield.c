/* yield N: two tasks each calling sleep(0) N times. */
#include "bench.h"

static long n;

static int yielder(void *arg, void **result) {
    (void)arg;
    for (long i = 0; i < n; i++) {
        int rc = corio_sleep(0);
        if (rc < 0) return rc;
    }
    *result = (void *)(intptr_t)n;
    return 0;
}

static double secs;
static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_aw two[] = {CORIO_CORO(yielder, NULL), CORIO_CORO(yielder, NULL)};
    double t0 = bench_now();
    int rc = corio_gather_wait(two, 2, 0, NULL);
    secs = bench_now() - t0;
    return rc;
}

int main(int argc, char **argv) {
    n = bench_size(argc, argv, 1000000);
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) return bench_fail("yield", rc);
    printf("yield n=%ld switches=%ld secs=%.6f\n", n, 2 * n, secs);
    return 0;
}
