/* The benchmark workloads on libuv, with callbacks (no tasks).
 *   libuv_bench NAME N
 * A task that is ready to run is an idle handle: libuv runs the idle
 * handles once per loop iteration, and one started from an idle callback
 * on the next iteration, the nearest thing libuv has to a ready queue. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static uv_loop_t *loop;

static double now(void) { return (double)uv_hrtime() / 1e9; }

static void close_all(uv_handle_t *hs, size_t size, long n) {
    for (long i = 0; i < n; i++) uv_close((uv_handle_t *)((char *)hs + (size_t)i * size), NULL);
    uv_run(loop, UV_RUN_DEFAULT);
}

/* The check line, and the exit status: a wrong answer fails the run. */
static int verdict(const char *line, int ok) {
    puts(line);
    if (!ok) fprintf(stderr, "libuv_bench: wrong answer (see the check line)\n");
    return ok ? 0 : 1;
}

/* spawn_gather: a task per index, an idle handle that runs once on the
 * next iteration, writes its index to its slot and stops. */
static long *results;

static void task_cb(uv_idle_t *h) {
    long i = (long)(intptr_t)h->data;
    results[i] = i;
    uv_idle_stop(h);
}

static int spawn_gather(long n, char *out, size_t len) {
    uv_idle_t *hs = malloc((size_t)n * sizeof *hs);
    results = calloc((size_t)n, sizeof *results);
    if (!hs || !results) return -1;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        uv_idle_init(loop, &hs[i]);
        hs[i].data = (void *)(intptr_t)i;
        uv_idle_start(&hs[i], task_cb);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    double secs = now() - t0;
    long long sum = 0;
    for (long i = 0; i < n; i++) sum += results[i];
    snprintf(out, len, "spawn_gather n=%ld sum=%lld secs=%.6f", n, sum, secs);
    close_all((uv_handle_t *)hs, sizeof *hs, n);
    free(hs);
    free(results);
    return sum == (long long)n * (n - 1) / 2;
}

/* pingpong: two parties, each an idle handle; a hand-off stops the
 * sender's handle and starts the receiver's, which runs on the next loop
 * iteration, as a task woken by a queue runs on a later step. */
static uv_idle_t ping_h, pong_h;
static long rounds, sent, to_pong, to_ping, last, handoffs;

static void pong_cb(uv_idle_t *h);
static void ping_cb(uv_idle_t *h) {
    uv_idle_stop(h);
    if (handoffs > 0) last = to_ping; /* the value pong sent back */
    if (sent == rounds) return;
    to_pong = sent++;
    handoffs++;
    uv_idle_start(&pong_h, pong_cb);
}

static void pong_cb(uv_idle_t *h) {
    uv_idle_stop(h);
    to_ping = to_pong;
    handoffs++;
    uv_idle_start(&ping_h, ping_cb);
}

static int pingpong(long n, char *out, size_t len) {
    uv_idle_init(loop, &ping_h);
    uv_idle_init(loop, &pong_h);
    rounds = n;
    last = -1;
    double t0 = now();
    uv_idle_start(&ping_h, ping_cb);
    uv_run(loop, UV_RUN_DEFAULT);
    double secs = now() - t0;
    snprintf(out, len, "pingpong n=%ld last=%ld handoffs=%ld secs=%.6f", n, last, handoffs, secs);
    uv_close((uv_handle_t *)&ping_h, NULL);
    uv_close((uv_handle_t *)&pong_h, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return last == n - 1 && handoffs == 2 * n;
}

/* sleepers and timers: a timer per task. */
static long fired;
static void fire_cb(uv_timer_t *t) {
    (void)t;
    fired++;
}

static int sleepers(long n, char *out, size_t len) {
    uv_timer_t *ts = malloc((size_t)n * sizeof *ts);
    if (!ts) return -1;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        uv_timer_init(loop, &ts[i]);
        uv_timer_start(&ts[i], fire_cb, 1000, 0);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    snprintf(out, len, "sleepers n=%ld mode=default sum=%ld secs=%.6f", n, fired, now() - t0);
    close_all((uv_handle_t *)ts, sizeof *ts, n);
    free(ts);
    return fired == n;
}

/* timers: deadlines LEAD + a spread over 1 s (bench/timers.c says why);
 * uv_run returns once the kept half has fired. */
static int timers(long n, char *out, size_t len) {
    uv_timer_t *ts = malloc((size_t)n * sizeof *ts);
    if (!ts) return -1;
    double lead = 0.25 + 5e-6 * (double)n;
    uint64_t lead_ms = (uint64_t)(lead * 1000);
    uv_update_time(loop); /* deadlines count from here, not from the loop's creation */
    double t0 = now();
    for (long i = 0; i < n; i++) {
        uv_timer_init(loop, &ts[i]);
        uv_timer_start(&ts[i], fire_cb, lead_ms + (uint64_t)((i * 7919) % n) * 1000 / (uint64_t)n, 0);
    }
    double t1 = now();
    for (long i = 0; i < n; i += 2) uv_timer_stop(&ts[i]);
    double t2 = now();
    int in_lead = t2 - t0 < lead;
    uv_run(loop, UV_RUN_DEFAULT);
    long cancelled = (n + 1) / 2;
    snprintf(out, len, "timers n=%ld fired=%ld arm_ns=%.1f cancel_ns=%.1f armed_in_lead=%d secs=%.6f", n,
             fired, (t1 - t0) * 1e9 / (double)n, (t2 - t1) * 1e9 / (double)cancelled, in_lead, t1 - t0);
    close_all((uv_handle_t *)ts, sizeof *ts, n);
    free(ts);
    return fired == n - cancelled && in_lead;
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*run)(long, char *, size_t);
    } workloads[] = {{"spawn_gather", spawn_gather}, {"pingpong", pingpong}, {"sleepers", sleepers},
                     {"timers", timers}};
    long n = argc > 2 ? atol(argv[2]) : 0;
    if (n <= 0) {
        fprintf(stderr, "usage: libuv_bench NAME N\n");
        return 2;
    }
    loop = uv_default_loop();
    for (size_t w = 0; w < sizeof workloads / sizeof *workloads; w++) {
        if (strcmp(argv[1], workloads[w].name) != 0) continue;
        char out[256];
        int ok = workloads[w].run(n, out, sizeof out);
        if (ok < 0) return fprintf(stderr, "libuv_bench: out of memory\n"), 1;
        uv_loop_close(loop);
        return verdict(out, ok);
    }
    fprintf(stderr, "libuv_bench: no %s workload (callbacks have no tasks to wait on)\n", argv[1]);
    return 3;
}
