/* spawn_gather N [eager] [copy]: N tasks that each return their index,
 * gathered in input order; prints the sum. `eager`: the loop starts tasks
 * eagerly (asyncio 3.12's eager_task_factory), so each runs inside
 * gather's call. `copy`: the tasks run in the copy stack mode. */
#include "bench.h"

static int task_fn(void *arg, void **result) {
    *result = arg;
    return 0;
}

static long n;
static double secs;
static long long sum;

static int main_task(void *arg, void **result) {
    (void)result;
    int rc = bench_apply(*(int *)arg);
    if (rc < 0) return rc;
    corio_aw *aws = malloc((size_t)n * sizeof *aws);
    corio_outcome *vals = malloc((size_t)n * sizeof *vals);
    if (!aws || !vals) return CORIO_ENOMEM;
    for (long i = 0; i < n; i++) aws[i] = CORIO_CORO(task_fn, (void *)(intptr_t)i);
    double t0 = bench_now();
    rc = corio_gather_wait(aws, (size_t)n, 0, vals);
    secs = bench_now() - t0;
    for (long i = 0; rc == 0 && i < n; i++) sum += (intptr_t)vals[i].value;
    free(aws);
    free(vals);
    return rc;
}

int main(int argc, char **argv) {
    n = bench_size(argc, argv, 1000000);
    int modes = bench_modes(argc, argv, BENCH_EAGER | BENCH_COPY);
    int rc = corio_run(main_task, &modes, NULL);
    if (rc < 0) return bench_fail("spawn_gather", rc);
    printf("spawn_gather n=%ld sum=%lld secs=%.6f\n", n, sum, secs);
    return bench_verdict("spawn_gather", sum == (long long)n * (n - 1) / 2);
}
