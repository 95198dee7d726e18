/* The loop: lifecycle, bad input, call_soon/later/at order, virtual time,
 * stop, run_until_complete. */
#include "test.h"

#include <math.h>

TEST(loop_new_close) {
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT(loop);
    ASSERT(!corio_loop_is_running(loop));
    ASSERT(!corio_loop_is_closed(loop));
    ASSERT(corio_loop_time(loop) > 0);
    close_loop(loop);
    return 0;
}

static void nop(void *arg) { (void)arg; }
static int body(void *arg, void **res) {
    (void)arg;
    (void)res;
    return 0;
}

TEST(loop_bad_input) {
    ASSERT_EQ(corio_loop_new(NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_close(NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_run_forever(NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_stop(NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_call_soon(NULL, nop, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_set_stack_size(NULL, 1 << 20), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_set_virtual_time(NULL, 1), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_time(NULL), -1);
    ASSERT_EQ(corio_handle_cancel(NULL), CORIO_EINVAL);
    corio_handle_unref(NULL);
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_call_soon(loop, NULL, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_call_later(loop, NAN, nop, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_call_at(loop, NAN, nop, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_set_stack_size(loop, 1), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_run_until_complete(loop, NULL, NULL), CORIO_EINVAL);
    /* Suspending calls outside a task. */
    ASSERT_EQ(corio_sleep(0), CORIO_ENOTINTASK);
    ASSERT_EQ(corio_sleep(1), CORIO_ENOTINTASK);
    corio_future *f;
    ASSERT_EQ(corio_future_new(loop, &f), 0);
    ASSERT_EQ(corio_await(f, NULL), CORIO_ENOTINTASK);
    ASSERT(corio_current_task() == NULL);
    ASSERT(corio_get_running_loop() == NULL);
    /* After close the handle stays valid until free: use after close is a
     * clean error. */
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT(corio_loop_is_closed(loop));
    ASSERT_EQ(corio_loop_close(loop), CORIO_ECLOSED);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_ECLOSED);
    ASSERT_EQ(corio_call_soon(loop, nop, NULL, NULL), CORIO_ECLOSED);
    ASSERT_EQ(corio_future_set_result(f, NULL), CORIO_ECLOSED);
    ASSERT_EQ(corio_future_cancel(f, NULL), CORIO_ECLOSED);
    ASSERT_EQ(corio_loop_create_task(loop, body, NULL, NULL, 0, NULL), CORIO_ECLOSED);
    corio_future_unref(f);
    ASSERT_EQ(corio_loop_free(loop), 0);
    return 0;
}

typedef struct order {
    trace t;
    corio_loop *loop;
} order;

static void mark_a(void *arg) { trace_add(&((order *)arg)->t, "a"); }
static void mark_b(void *arg) { trace_add(&((order *)arg)->t, "b"); }
static void mark_c(void *arg) { trace_add(&((order *)arg)->t, "c"); }
static void stop_cb(void *arg) {
    order *o = arg;
    trace_add(&o->t, "stop");
    corio_loop_stop(o->loop);
}
/* Schedules b from inside a: b must run on the next iteration, after c. */
static void a_then_b(void *arg) {
    order *o = arg;
    trace_add(&o->t, "a");
    ASSERT_EQ(corio_call_soon(o->loop, mark_b, o, NULL), 0);
}

TEST(call_soon_fifo) {
    order o = {.loop = vloop()};
    ASSERT_EQ(corio_call_soon(o.loop, a_then_b, &o, NULL), 0);
    ASSERT_EQ(corio_call_soon(o.loop, mark_c, &o, NULL), 0);
    ASSERT_EQ(corio_call_later(o.loop, 1, stop_cb, &o, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(o.loop), 0);
    ASSERT_STR(o.t.buf, "a c b stop");
    close_loop(o.loop);
    return 0;
}

TEST(call_soon_cancel) {
    order o = {.loop = vloop()};
    corio_handle *h;
    ASSERT_EQ(corio_call_soon(o.loop, mark_a, &o, &h), 0);
    ASSERT_EQ(corio_call_soon(o.loop, mark_b, &o, NULL), 0);
    ASSERT(!corio_handle_cancelled(h));
    ASSERT_EQ(corio_handle_cancel(h), 0);
    ASSERT(corio_handle_cancelled(h));
    ASSERT_EQ(corio_handle_cancel(h), 0); /* twice is harmless */
    corio_handle_unref(h);
    ASSERT_EQ(corio_call_later(o.loop, 0.5, stop_cb, &o, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(o.loop), 0);
    ASSERT_STR(o.t.buf, "b stop");
    close_loop(o.loop);
    return 0;
}

/* Cancelled handles stay in place (as asyncio's); they never fire, never
 * move the virtual clock, and a sweep frees them once they outnumber the
 * live ones. Half are released right after the cancel, so a sweep or the
 * front of the queue is what frees them (ASan checks that, and no leak). */
static int fired_at_1;
static void at_1(void *arg) {
    corio_loop *loop = arg;
    ASSERT_EQ(corio_loop_time(loop), 1);
    fired_at_1++;
}
static void never(void *arg) {
    (void)arg;
    ASSERT(0);
}

TEST(timers_lazy_cancel_sweep) {
    corio_loop *loop = vloop();
    enum { N = 5000 };
    static corio_handle *hs[N];
    for (int i = 0; i < N; i++) /* near (buckets, soon) and far */
        ASSERT_EQ(corio_call_later(loop, (i % 3 == 0) ? 0.5 + i * 1e-4 : 100 + i, never, NULL, &hs[i]), 0);
    ASSERT_EQ(corio_call_later(loop, 1, at_1, loop, NULL), 0);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(corio_handle_cancel(hs[i]), 0);
        if (i % 2) corio_handle_unref(hs[i]);
    }
    corio_handle *soon;
    ASSERT_EQ(corio_call_soon(loop, never, NULL, &soon), 0);
    ASSERT_EQ(corio_handle_cancel(soon), 0); /* a cancelled call_soon is skipped */
    corio_handle_unref(soon);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK);
    ASSERT_EQ(fired_at_1, 1);
    ASSERT_EQ(corio_loop_time(loop), 1); /* the dead timers did not move the clock */
    for (int i = 0; i < N; i += 2) corio_handle_unref(hs[i]);
    close_loop(loop);
    return 0;
}

TEST(timers_order) {
    order o = {.loop = vloop()};
    /* Equal deadlines fire in the order they were armed. */
    ASSERT_EQ(corio_call_later(o.loop, 2, mark_c, &o, NULL), 0);
    ASSERT_EQ(corio_call_later(o.loop, 1, mark_a, &o, NULL), 0);
    ASSERT_EQ(corio_call_later(o.loop, 1, mark_b, &o, NULL), 0);
    ASSERT_EQ(corio_call_later(o.loop, 1, mark_c, &o, NULL), 0);
    ASSERT_EQ(corio_call_at(o.loop, 0.5, mark_b, &o, NULL), 0);
    corio_handle *h;
    ASSERT_EQ(corio_call_later(o.loop, 1.5, mark_a, &o, &h), 0);
    ASSERT(fabs(corio_handle_when(h) - 1.5) < 1e-9);
    ASSERT_EQ(corio_handle_cancel(h), 0);
    corio_handle_unref(h);
    ASSERT_EQ(corio_call_later(o.loop, 3, stop_cb, &o, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(o.loop), 0);
    ASSERT_STR(o.t.buf, "b a b c c stop");
    ASSERT(fabs(corio_loop_time(o.loop) - 3.0) < 1e-9);
    close_loop(o.loop);
    return 0;
}

/* Many timers, random deadlines, some cancelled: they fire sorted. */
static double last_fired;
static int fired;
static void check_sorted(void *arg) {
    double when = *(double *)arg;
    ASSERT(when >= last_fired);
    last_fired = when;
    fired++;
}

TEST(timers_heap_many) {
    corio_loop *loop = vloop();
    enum { N = 5000 };
    static double whens[N];
    static corio_handle *hs[N];
    unsigned seed = 12345;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245 + 12345;
        whens[i] = (double)(seed % 1000) / 100.0;
        ASSERT_EQ(corio_call_at(loop, whens[i], check_sorted, &whens[i], &hs[i]), 0);
    }
    int cancelled = 0;
    for (int i = 0; i < N; i += 3) {
        ASSERT_EQ(corio_handle_cancel(hs[i]), 0);
        cancelled++;
    }
    for (int i = 0; i < N; i++) corio_handle_unref(hs[i]);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK); /* virtual: nothing left */
    ASSERT_EQ(fired, N - cancelled);
    close_loop(loop);
    return 0;
}

TEST(virtual_time_jumps) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_time(loop), 0);
    order o = {.loop = loop};
    ASSERT_EQ(corio_call_later(loop, 3600, stop_cb, &o, NULL), 0);
    ASSERT_EQ(corio_loop_set_virtual_time(loop, 0), CORIO_EBUSY); /* timers armed */
    ASSERT_EQ(corio_loop_run_forever(loop), 0);
    ASSERT_EQ(corio_loop_time(loop), 3600);
    close_loop(loop);
    return 0;
}

TEST(real_time_sleeps) {
    /* Real clock: a 20 ms timer fires no earlier than 20 ms later. */
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    order o = {.loop = loop};
    double t0 = corio_loop_time(loop);
    ASSERT_EQ(corio_call_later(loop, 0.02, stop_cb, &o, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), 0);
    ASSERT(corio_loop_time(loop) - t0 >= 0.02);
    close_loop(loop);
    return 0;
}

TEST(stop_before_run) {
    /* asyncio: stop() before run_forever runs one iteration, then stops. */
    order o = {.loop = vloop()};
    ASSERT_EQ(corio_call_soon(o.loop, a_then_b, &o, NULL), 0);
    ASSERT_EQ(corio_loop_stop(o.loop), 0);
    ASSERT_EQ(corio_loop_run_forever(o.loop), 0);
    ASSERT_STR(o.t.buf, "a");
    ASSERT_EQ(corio_loop_stop(o.loop), 0);
    ASSERT_EQ(corio_loop_run_forever(o.loop), 0);
    ASSERT_STR(o.t.buf, "a b");
    close_loop(o.loop);
    return 0;
}

static void resolve(void *arg) { corio_future_set_result(arg, (void *)42); }

TEST(run_until_complete_future) {
    corio_loop *loop = vloop();
    corio_future *f;
    ASSERT_EQ(corio_future_new(loop, &f), 0);
    ASSERT_EQ(corio_call_later(loop, 5, resolve, f, NULL), 0);
    void *res = NULL;
    ASSERT_EQ(corio_loop_run_until_complete(loop, f, &res), 0);
    ASSERT(res == (void *)42);
    ASSERT(fabs(corio_loop_time(loop) - 5) < 1e-9);
    /* Done already: returns at once. */
    ASSERT_EQ(corio_loop_run_until_complete(loop, f, &res), 0);
    corio_future_unref(f);
    /* A future nothing will ever complete: a clean deadlock error. */
    ASSERT_EQ(corio_future_new(loop, &f), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, f, NULL), CORIO_EDEADLK);
    corio_future_unref(f);
    close_loop(loop);
    return 0;
}

TEST(run_until_complete_wrong_loop) {
    corio_loop *a = vloop(), *b = vloop();
    corio_future *f;
    ASSERT_EQ(corio_future_new(a, &f), 0);
    ASSERT_EQ(corio_loop_run_until_complete(b, f, NULL), CORIO_EWRONGLOOP);
    corio_future_unref(f);
    close_loop(a);
    close_loop(b);
    return 0;
}

static void stopper(void *arg) { corio_loop_stop(arg); }

TEST(run_until_complete_stopped_early) {
    corio_loop *loop = vloop();
    corio_future *f;
    ASSERT_EQ(corio_future_new(loop, &f), 0);
    ASSERT_EQ(corio_call_later(loop, 1, stopper, loop, NULL), 0);
    ASSERT_EQ(corio_call_later(loop, 2, resolve, f, NULL), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, f, NULL), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_loop_run_until_complete(loop, f, NULL), 0);
    corio_future_unref(f);
    close_loop(loop);
    return 0;
}

TEST(close_releases_pending_callbacks) {
    corio_loop *loop = vloop();
    order o = {.loop = loop};
    corio_handle *h;
    ASSERT_EQ(corio_call_soon(loop, mark_a, &o, NULL), 0);
    ASSERT_EQ(corio_call_later(loop, 10, mark_b, &o, &h), 0);
    close_loop(loop);
    ASSERT_STR(o.t.buf, ""); /* never ran */
    ASSERT_EQ(corio_handle_cancel(h), 0);
    corio_handle_unref(h);
    return 0;
}

TEST(strerror_all) {
    int codes[] = {0, CORIO_EINVAL, CORIO_ENOMEM, CORIO_ECANCELED, CORIO_ETIMEDOUT,
                   CORIO_EBUSY, CORIO_EDEADLK, CORIO_EINVALSTATE, CORIO_ENOTINTASK,
                   CORIO_ECLOSED, CORIO_ERUNNING, CORIO_ENOLOOP, CORIO_EWRONGLOOP,
                   CORIO_ENOTTASK};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = corio_strerror(codes[i]);
        ASSERT(s && *s && strcmp(s, "unknown error") != 0);
    }
    ASSERT_STR(corio_strerror(-99999), "unknown error");
    ASSERT_STR(corio_strerror(12345), "unknown error");
    ASSERT_STR(corio_strerror(CORIO_ECANCELED), "cancelled");
    ASSERT_STR(corio_version(), "0.2.0");
    return 0;
}
