/* timers N: arm N timers (call_at) with deadlines spread over one second in
 * a scrambled order, cancel every other one, let the rest fire; on the real
 * clock, as the peers' programs. Prints ns per arm and per cancel.
 *
 * The deadlines start LEAD after arming begins, LEAD = 0.25 s + 5 us per
 * timer in every program (bench/peers/README.md): later than arming and
 * cancelling take, so the measured work is inserting into and removing from
 * a set of pending timers, never firing one. The check line fails if
 * cancelling ended after LEAD, or if any but the N/2 kept timers fired. */
#include "bench.h"

static long fired;
static void on_fire(void *arg) {
    (void)arg;
    fired++;
}

static void on_done(void *loop) { corio_loop_stop(loop); }

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 1000000);
    corio_loop *loop;
    corio_handle **hs = malloc((size_t)n * sizeof *hs);
    if (!hs || corio_loop_new(&loop) < 0) return 1;
    double lead = 0.25 + 5e-6 * (double)n;
    double t0 = bench_now(), base = corio_loop_time(loop) + lead;
    for (long i = 0; i < n; i++)
        if (corio_call_at(loop, base + (double)((i * 7919) % n) / (double)n, on_fire, NULL, &hs[i]) < 0) return 1;
    double t1 = bench_now();
    for (long i = 0; i < n; i += 2) corio_handle_cancel(hs[i]);
    double t2 = bench_now();
    for (long i = 0; i < n; i++) corio_handle_unref(hs[i]);
    /* Stop once every deadline has passed: a timer firing twice, or one
     * cancelled firing anyway, shows in the count. */
    int rc = corio_call_at(loop, base + 1.05, on_done, loop, NULL);
    if (rc == 0) rc = corio_loop_run_forever(loop);
    corio_loop_free(loop);
    free(hs);
    long cancelled = (n + 1) / 2;
    printf("timers n=%ld fired=%ld arm_ns=%.1f cancel_ns=%.1f armed_in_lead=%d secs=%.6f\n", n, fired,
           (t1 - t0) * 1e9 / (double)n, (t2 - t1) * 1e9 / (double)cancelled, t2 - t0 < lead, t1 - t0);
    if (rc < 0) return bench_fail("timers", rc);
    return bench_verdict("timers", fired == n - cancelled && t2 - t0 < lead);
}
