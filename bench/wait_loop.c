/* wait_loop N [as_completed] [copy]: N tasks with delays spread evenly
 * over 0..1 s, drained by the wait(FIRST_COMPLETED) loop or by
 * as_completed; copy runs the tasks in the copy stack mode (no page per
 * task to fault in). secs is the overhead: wall time minus the 1 s the
 * tasks take anyway. */
#include "bench.h"

static long n;
static int modes;

static int sleeper(void *arg, void **result) {
    int rc = corio_sleep((double)(intptr_t)arg / (double)n);
    if (rc == 0) *result = arg;
    return rc;
}

static long long sum;
static long rounds;
static double wall;

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    int rc = bench_apply(modes);
    if (rc < 0) return rc;
    double t0 = bench_now();
    if (modes & BENCH_AS_COMPLETED) {
        corio_aw *aws = malloc((size_t)n * sizeof *aws);
        for (long i = 0; i < n; i++) aws[i] = CORIO_CORO(sleeper, (void *)(intptr_t)i);
        corio_as_completed *it;
        rc = corio_as_completed_new(aws, (size_t)n, CORIO_FOREVER, &it);
        corio_future *f;
        while (rc >= 0 && (rc = corio_as_completed_next(it, &f)) == 1) {
            void *v;
            corio_future_result(f, &v);
            corio_future_unref(f); /* next hands out a reference */
            sum += (intptr_t)v;
            rounds++;
        }
        corio_as_completed_free(it);
        free(aws);
    } else {
        corio_futset *pending;
        rc = corio_futset_new(&pending);
        for (long i = 0; i < n && rc >= 0; i++) {
            corio_task *t;
            if ((rc = corio_create_task(sleeper, (void *)(intptr_t)i, NULL, &t)) < 0) break;
            rc = corio_futset_add(pending, t);
            corio_future_unref(t);
        }
        while (rc >= 0 && corio_futset_size(pending) > 0) {
            corio_futset *done;
            if ((rc = corio_wait_set(pending, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done)) < 0) break;
            for (size_t i = 0; i < corio_futset_size(done); i++) {
                void *v;
                corio_future_result(corio_futset_get(done, i), &v);
                sum += (intptr_t)v;
            }
            rounds++;
            corio_futset_free(done);
        }
        corio_futset_free(pending);
    }
    wall = bench_now() - t0;
    return rc < 0 ? rc : 0;
}

int main(int argc, char **argv) {
    n = bench_size(argc, argv, 10000);
    modes = bench_modes(argc, argv, BENCH_AS_COMPLETED | BENCH_COPY);
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) return bench_fail("wait_loop", rc);
    printf("wait_loop n=%ld style=%s stacks=%s sum=%lld rounds=%ld secs=%.6f\n", n,
           (modes & BENCH_AS_COMPLETED) ? "as_completed" : "wait", (modes & BENCH_COPY) ? "copy" : "own", sum,
           rounds, wall - 1.0);
    return bench_verdict("wait_loop", sum == (long long)n * (n - 1) / 2);
}
