/* sleepers N [copy]: N tasks that each sleep 1.0 s, all awaited; prints
 * the check line, wall time and peak RSS per task. The 1 000 000-task
 * program. `copy`: the tasks run in the copy stack mode. */
#include "bench.h"

#include <sys/resource.h>

static int sleeper(void *arg, void **result) {
    int rc = corio_sleep(1.0);
    if (rc < 0) return rc;
    *result = arg;
    return 0;
}

typedef struct {
    long n;
    long long sum;
    int modes;
} job;

static int main_task(void *arg, void **result) {
    (void)result;
    job *j = arg;
    int rc = bench_apply(j->modes);
    corio_task **ts = calloc((size_t)j->n, sizeof *ts);
    if (!ts) return CORIO_ENOMEM;
    long made = 0;
    for (; made < j->n && rc == 0; made++)
        rc = corio_create_task(sleeper, (void *)(intptr_t)1, NULL, &ts[made]);
    if (rc < 0 && made > 0) made--;
    for (long i = 0; i < made; i++) {
        void *r = NULL;
        int a = corio_await(ts[i], &r);
        if (a == 0) j->sum += (intptr_t)r;
        else if (rc == 0) rc = a;
        corio_future_unref(ts[i]);
    }
    free(ts);
    return rc;
}

int main(int argc, char **argv) {
    job j = {.n = bench_size(argc, argv, 100000), .modes = bench_modes(argc, argv, BENCH_COPY)};
    double t0 = bench_now();
    int rc = corio_run(main_task, &j, NULL);
    double wall = bench_now() - t0;
    if (rc < 0) return bench_fail("sleepers", rc);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("sleepers n=%ld mode=%s sum=%lld rss_mb=%.1f bytes_per_task=%.0f secs=%.6f\n", j.n,
           (j.modes & BENCH_COPY) ? "copy" : "default", j.sum, (double)ru.ru_maxrss / 1024,
           (double)ru.ru_maxrss * 1024 / (double)j.n, wall);
    return bench_verdict("sleepers", j.sum == j.n);
}
