/* The benchmark workloads on libuv, with callbacks (no tasks).
 *   libuv_bench NAME N */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static long n, count;
static long long sum;
static uv_loop_t *loop;

static double now(void) { return (double)uv_hrtime() / 1e9; }

/* spawn_gather: each "task" is a zero-delay timer writing its index. */
static long *results;
static void task_cb(uv_timer_t *t) {
    long i = (long)(intptr_t)t->data;
    results[i] = i;
    count++;
}

/* sleepers: N one-second timers. */
static void sleeper_cb(uv_timer_t *t) {
    (void)t;
    count++;
}

/* pingpong: two parties alternate through idle-free zero timers. */
static uv_timer_t ping_t, pong_t;
static long last;
static void pong_cb(uv_timer_t *t);
static void ping_cb(uv_timer_t *t) {
    (void)t;
    last = count;
    if (++count < 2 * n) uv_timer_start(&pong_t, pong_cb, 0, 0);
}
static void pong_cb(uv_timer_t *t) {
    (void)t;
    if (++count < 2 * n) uv_timer_start(&ping_t, ping_cb, 0, 0);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *name = argv[1];
    n = atol(argv[2]);
    loop = uv_default_loop();
    double t0 = now(), t1, t2;
    char out[256];
    if (!strcmp(name, "spawn_gather") || !strcmp(name, "sleepers") || !strcmp(name, "timers")) {
        uv_timer_t *ts = malloc((size_t)n * sizeof *ts);
        results = calloc((size_t)n, sizeof *results);
        int timers = !strcmp(name, "timers");
        for (long i = 0; i < n; i++) {
            uv_timer_init(loop, &ts[i]);
            ts[i].data = (void *)(intptr_t)i;
            uint64_t ms = timers ? (uint64_t)((i * 7919) % n) * 1000 / (uint64_t)n : name[0] == 's' && name[1] == 'l' ? 1000 : 0;
            uv_timer_start(&ts[i], name[0] == 's' && name[1] == 'p' ? task_cb : sleeper_cb, ms, 0);
        }
        t1 = now();
        if (timers)
            for (long i = 0; i < n; i += 2) uv_timer_stop(&ts[i]);
        t2 = now();
        uv_run(loop, UV_RUN_DEFAULT);
        double secs = now() - t0;
        for (long i = 0; i < n; i++) sum += results[i];
        if (name[0] == 's' && name[1] == 'p')
            snprintf(out, sizeof out, "spawn_gather n=%ld sum=%lld secs=%.6f", n, sum, secs);
        else if (!timers)
            snprintf(out, sizeof out, "sleepers n=%ld mode=default sum=%ld secs=%.6f", n, count, secs);
        else
            snprintf(out, sizeof out, "timers n=%ld fired=%ld arm_ns=%.1f cancel_ns=%.1f secs=%.6f", n, count,
                     (t1 - t0) * 1e9 / (double)n, (t2 - t1) * 1e9 / (double)((n + 1) / 2), t1 - t0);
        for (long i = 0; i < n; i++) uv_close((uv_handle_t *)&ts[i], NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        free(ts);
        free(results);
    } else if (!strcmp(name, "pingpong")) {
        uv_timer_init(loop, &ping_t);
        uv_timer_init(loop, &pong_t);
        uv_timer_start(&ping_t, ping_cb, 0, 0);
        uv_run(loop, UV_RUN_DEFAULT);
        snprintf(out, sizeof out, "pingpong n=%ld last=%ld handoffs=%ld secs=%.6f", n, last / 2, 2 * n, now() - t0);
        uv_close((uv_handle_t *)&ping_t, NULL);
        uv_close((uv_handle_t *)&pong_t, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
    } else {
        fprintf(stderr, "libuv_bench: no %s workload (callbacks have no tasks to wait on)\n", name);
        return 3;
    }
    puts(out);
    uv_loop_close(loop);
    return 0;
}
