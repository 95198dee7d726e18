/* Cancellation: at every suspension point, before start, of oneself,
 * forwarded through awaits, handled and ignored, counted, with messages. */
#include "test.h"

static trace tr;

static int sleep_long(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_sleep(100);
}

static int yield_loop(void *arg, void **res) {
    (void)arg;
    (void)res;
    for (;;) {
        int rc = corio_sleep(0);
        if (rc < 0) return rc;
    }
}

static int await_arg(void *arg, void **res) { return corio_await(arg, res); }

static void cancel_cb(void *arg) { ASSERT_EQ(corio_task_cancel(arg, "from timer"), 1); }

/* Cancel a task blocked in each kind of suspension: each returns
 * CORIO_ECANCELED and the task ends cancelled with the message. */
TEST(cancel_every_suspension_point) {
    corio_loop *loop = vloop();
    corio_future *never;
    ASSERT_EQ(corio_future_new(loop, &never), 0);
    corio_task *blocked;
    ASSERT_EQ(corio_loop_create_task(loop, sleep_long, NULL, NULL, 0, &blocked), 0);
    struct {
        corio_fn fn;
        void *arg;
        double at; /* virtual time only moves when nothing is ready: a task
                      that yields forever must be cancelled at time 0 */
    } kinds[] = {{sleep_long, NULL, 1}, {yield_loop, NULL, 0}, {await_arg, never, 1},
                 {await_arg, blocked, 1}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        corio_task *t;
        ASSERT_EQ(corio_loop_create_task(loop, kinds[i].fn, kinds[i].arg, NULL, 0, &t), 0);
        ASSERT_EQ(corio_call_later(loop, kinds[i].at, cancel_cb, t, NULL), 0);
        ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), CORIO_ECANCELED);
        ASSERT(corio_future_cancelled(t));
        corio_error *e;
        ASSERT_EQ(corio_future_exception(t, &e), 0);
        ASSERT_EQ(corio_error_code(e), CORIO_ECANCELED);
        ASSERT_STR(corio_error_message(e), "from timer");
        corio_error_unref(e);
        ASSERT_EQ(corio_task_cancel(t, NULL), 0); /* done: nothing to cancel */
        corio_future_unref(t);
    }
    /* The awaited future and task were cancelled with their waiters. */
    ASSERT(corio_future_cancelled(never));
    ASSERT(corio_future_cancelled(blocked));
    corio_future_unref(never);
    corio_future_unref(blocked);
    close_loop(loop);
    return 0;
}

static int never_runs(void *arg, void **res) {
    (void)arg;
    (void)res;
    trace_add(&tr, "ran");
    return 0;
}

TEST(cancel_before_start) {
    corio_loop *loop = vloop();
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, never_runs, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_task_cancel(t, "early"), 1);
    ASSERT_EQ(corio_task_cancelling(t), 1);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), CORIO_ECANCELED);
    ASSERT_STR(tr.buf, "");
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

static int handles_cancel(void *arg, void **res) {
    (void)arg;
    int rc = corio_sleep(10);
    ASSERT_EQ(rc, CORIO_ECANCELED);
    corio_task *me = corio_current_task();
    ASSERT_EQ(corio_task_cancelling(me), 1);
    ASSERT_EQ(corio_task_uncancel(me), 0);
    /* Handled: it goes on, sleeps again undisturbed, returns a value. */
    ASSERT_EQ(corio_sleep(1), 0);
    *res = (void *)99;
    return 0;
}

TEST(cancel_handled_task_goes_on) {
    corio_loop *loop = vloop();
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, handles_cancel, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_call_later(loop, 1, cancel_cb, t, NULL), 0);
    void *r;
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, &r), 0);
    ASSERT(r == (void *)99);
    ASSERT(!corio_future_cancelled(t));
    ASSERT_EQ(corio_loop_time(loop), 2);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

static int cancel_self(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_task *me = corio_current_task();
    ASSERT_EQ(corio_task_cancel(me, "myself"), 1);
    trace_add(&tr, "still-running"); /* a cancel is delivered at a suspension */
    int rc = corio_sleep(5);
    trace_add(&tr, rc == CORIO_ECANCELED ? "cancelled" : "not-cancelled");
    return rc;
}

TEST(cancel_self_next_suspension) {
    corio_loop *loop = vloop();
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, cancel_self, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), CORIO_ECANCELED);
    ASSERT_STR(tr.buf, "still-running cancelled");
    ASSERT_EQ(corio_loop_time(loop), 0); /* the sleep never waited */
    corio_error *e;
    ASSERT_EQ(corio_future_exception(t, &e), 0);
    ASSERT_STR(corio_error_message(e), "myself");
    corio_error_unref(e);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

static int ignore_cancel(void *arg, void **res) {
    (void)arg;
    ASSERT_EQ(corio_sleep(10), CORIO_ECANCELED);
    trace_add(&tr, "inner-ignored");
    ASSERT_EQ(corio_sleep(1), 0);
    *res = (void *)5;
    return 0;
}

static int outer_awaits(void *arg, void **res) {
    int rc = corio_await(arg, res);
    trace_add(&tr, rc == 0 ? "outer-got-value" : "outer-cancelled");
    return rc;
}

/* asyncio: cancelling a task that awaits another cancels that one; if it
 * swallows the cancel and returns, the outer await gets its value. */
TEST(cancel_forwarded_and_swallowed) {
    corio_loop *loop = vloop();
    corio_task *inner, *outer;
    ASSERT_EQ(corio_loop_create_task(loop, ignore_cancel, NULL, NULL, 0, &inner), 0);
    ASSERT_EQ(corio_loop_create_task(loop, outer_awaits, inner, NULL, 0, &outer), 0);
    ASSERT_EQ(corio_call_later(loop, 1, cancel_cb, outer, NULL), 0);
    void *r;
    ASSERT_EQ(corio_loop_run_until_complete(loop, outer, &r), 0);
    ASSERT(r == (void *)5);
    ASSERT_STR(tr.buf, "inner-ignored outer-got-value");
    ASSERT_EQ(corio_task_cancelling(outer), 1);
    ASSERT_EQ(corio_task_cancelling(inner), 1);
    corio_future_unref(inner);
    corio_future_unref(outer);
    close_loop(loop);
    return 0;
}

static void complete_and_cancel(void *arg) {
    corio_future **fs = arg;
    ASSERT_EQ(corio_future_set_result(fs[0], (void *)1), 0);
    /* The waiter's wake-up is queued but has not run: the cancel wins. */
    ASSERT_EQ(corio_task_cancel(fs[1], NULL), 1);
}

TEST(cancel_after_result_before_wakeup) {
    corio_loop *loop = vloop();
    corio_future *fs[2];
    ASSERT_EQ(corio_future_new(loop, &fs[0]), 0);
    ASSERT_EQ(corio_loop_create_task(loop, await_arg, fs[0], NULL, 0, &fs[1]), 0);
    ASSERT_EQ(corio_call_later(loop, 1, complete_and_cancel, fs, NULL), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, fs[1], NULL), CORIO_ECANCELED);
    ASSERT(!corio_future_cancelled(fs[0]));
    corio_future_unref(fs[0]);
    corio_future_unref(fs[1]);
    close_loop(loop);
    return 0;
}

static void cancel_twice(void *arg) {
    ASSERT_EQ(corio_task_cancel(arg, "one"), 1);
    ASSERT_EQ(corio_task_cancel(arg, "two"), 1);
    ASSERT_EQ(corio_task_cancelling(arg), 2);
}

static int uncancel_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_sleep(5), CORIO_ECANCELED);
    corio_task *me = corio_current_task();
    ASSERT_EQ(corio_task_cancelling(me), 2);
    ASSERT_EQ(corio_task_uncancel(me), 1);
    /* Two requests, one delivery: no second cancel at the next suspension
     * (checked against CPython). */
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_task_uncancel(me), 0);
    ASSERT_EQ(corio_task_uncancel(me), 0); /* never below zero */
    ASSERT_EQ(corio_sleep(1), 0);
    return 0;
}

TEST(cancel_counting_uncancel) {
    corio_loop *loop = vloop();
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, uncancel_body, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_call_later(loop, 1, cancel_twice, t, NULL), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

static void cancel_then_uncancel(void *arg) {
    /* 3.13: uncancel to zero withdraws a not-yet-delivered request. */
    ASSERT_EQ(corio_task_cancel(arg, NULL), 1);
    ASSERT_EQ(corio_task_uncancel(arg), 0);
}

static int yield_twice(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    return 0;
}

TEST(uncancel_withdraws_pending_request) {
    corio_loop *loop = vloop();
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, yield_twice, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_call_soon(loop, cancel_then_uncancel, t, NULL), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

static int cancels_plain_future_waiter(void *arg, void **res) {
    (void)res;
    corio_future *f = arg;
    int rc = corio_await(f, NULL);
    ASSERT_EQ(rc, CORIO_ECANCELED);
    /* Cancelled from outside by cancelling the future itself: the task
     * sees the cancel code but was not itself cancelled. */
    ASSERT_EQ(corio_task_cancelling(corio_current_task()), 0);
    return rc; /* propagating it still ends the task cancelled */
}

static void cancel_future(void *arg) { ASSERT_EQ(corio_future_cancel(arg, "fut-msg"), 1); }

TEST(cancel_awaited_future_propagates) {
    corio_loop *loop = vloop();
    corio_future *f;
    ASSERT_EQ(corio_future_new(loop, &f), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, cancels_plain_future_waiter, f, NULL, 0, &t), 0);
    ASSERT_EQ(corio_call_later(loop, 1, cancel_future, f, NULL), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), CORIO_ECANCELED);
    ASSERT(corio_future_cancelled(t));
    corio_error *e;
    ASSERT_EQ(corio_future_exception(t, &e), 0);
    ASSERT_STR(corio_error_message(e), "fut-msg"); /* the message travelled */
    corio_error_unref(e);
    corio_future_unref(f);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}
