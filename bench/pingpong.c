/* pingpong N [copy]: two tasks hand control back and forth N round trips
 * through a pair of queues (2N one-way hand-offs); the last value ping gets
 * back must be the last it sent. `copy`: the copy stack mode. */
#include "bench.h"

static long n;
static corio_queue *to_pong, *to_ping;

static int ping(void *arg, void **result) {
    (void)arg;
    void *v;
    for (long i = 0; i < n; i++) {
        int rc = corio_queue_put(to_pong, (void *)(intptr_t)i);
        if (rc == 0) rc = corio_queue_get(to_ping, &v);
        if (rc < 0) return rc;
    }
    *result = v;
    return 0;
}

static int pong(void *arg, void **result) {
    (void)arg;
    (void)result;
    for (long i = 0; i < n; i++) {
        void *v;
        int rc = corio_queue_get(to_pong, &v);
        if (rc == 0) rc = corio_queue_put(to_ping, v);
        if (rc < 0) return rc;
    }
    return 0;
}

static double secs;
static long last;
static int main_task(void *arg, void **result) {
    (void)result;
    int rc = bench_apply(*(int *)arg);
    if (rc < 0) return rc;
    corio_aw two[] = {CORIO_CORO(ping, NULL), CORIO_CORO(pong, NULL)};
    corio_outcome vals[2];
    double t0 = bench_now();
    rc = corio_gather_wait(two, 2, 0, vals);
    secs = bench_now() - t0;
    last = (long)(intptr_t)vals[0].value;
    return rc;
}

int main(int argc, char **argv) {
    n = bench_size(argc, argv, 1000000);
    int modes = bench_modes(argc, argv, BENCH_COPY);
    if (corio_queue_new(&to_pong, 1) < 0 || corio_queue_new(&to_ping, 1) < 0) return 1;
    int rc = corio_run(main_task, &modes, NULL);
    if (rc < 0) return bench_fail("pingpong", rc);
    printf("pingpong n=%ld last=%ld handoffs=%ld secs=%.6f\n", n, last, 2 * n, secs);
    corio_queue_free(to_pong);
    corio_queue_free(to_ping);
    return bench_verdict("pingpong", last == n - 1);
}
