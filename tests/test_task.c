/* Tasks and futures: start, results, errors, names, await, callbacks,
 * reports of unread errors and of tasks destroyed pending. */
#include "test.h"

#include <fenv.h>
#include <math.h>

static trace tr;

static int job(void *arg, void **res) {
    intptr_t n = (intptr_t)arg;
    int rc = corio_sleep((double)n);
    if (rc < 0) return rc;
    *res = (void *)n;
    return 0;
}

TEST(task_basic) {
    corio_loop *loop = vloop();
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, job, (void *)3, NULL, 0, &t), 0);
    ASSERT(corio_is_task(t));
    ASSERT(!corio_future_done(t));
    ASSERT_EQ(corio_future_result(t, NULL), CORIO_EINVALSTATE);
    corio_error *e = (corio_error *)1;
    ASSERT_EQ(corio_future_exception(t, &e), CORIO_EINVALSTATE);
    ASSERT(e == NULL);
    ASSERT_STR(corio_task_get_name(t), "Task-1");
    void *res = NULL;
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, &res), 0);
    ASSERT(res == (void *)3);
    ASSERT(corio_future_done(t) && !corio_future_cancelled(t));
    ASSERT_EQ(corio_loop_time(loop), 3);
    ASSERT_EQ(corio_future_exception(t, &e), 0);
    ASSERT(e == NULL);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

static int record(void *arg, void **res) {
    (void)res;
    trace_add(&tr, arg);
    return 0;
}

static int spawner(void *arg, void **res) {
    (void)arg;
    (void)res;
    /* create_task does not run the task inside the call. */
    ASSERT_EQ(corio_create_task(record, "child", "kid", NULL), 0);
    trace_add(&tr, "after-create");
    ASSERT_EQ(corio_sleep(0), 0);
    trace_add(&tr, "parent-resumed");
    return 0;
}

TEST(task_starts_later) {
    corio_loop *loop = vloop();
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, spawner, NULL, "parent", 0, &t), 0);
    ASSERT_EQ(corio_create_task(record, "x", NULL, NULL), CORIO_ENOLOOP); /* no running loop */
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    ASSERT_STR(tr.buf, "after-create child parent-resumed");
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

static int pingpong(void *arg, void **res) {
    (void)res;
    for (int i = 0; i < 3; i++) {
        trace_add(&tr, arg);
        ASSERT_EQ(corio_sleep(0), 0);
    }
    return 0;
}

TEST(sleep0_interleaves_fifo) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_create_task(loop, pingpong, "A", NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_create_task(loop, pingpong, "B", NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_create_task(loop, pingpong, "C", NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK); /* all done, nothing left */
    ASSERT_STR(tr.buf, "A B C A B C A B C");
    close_loop(loop);
    return 0;
}

/* sleep(0) meets every kind of next event: a callback, a task that has
 * not started, a task with a cancel to take, nothing but itself, and a
 * cancel of the yielding task itself (asyncio gives the same trace). */
static corio_task *yb;
static void trace_cb(void *arg) { trace_add(&tr, arg); }

static int yield_a(void *arg, void **res) {
    (void)arg, (void)res;
    trace_add(&tr, "A0");
    ASSERT_EQ(corio_sleep(NAN), CORIO_EINVAL); /* no yield: the order below is unchanged */
    ASSERT_EQ(corio_call_soon(corio_get_running_loop(), trace_cb, "cb1", NULL), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    trace_add(&tr, "A1");
    ASSERT_EQ(corio_task_cancel(yb, NULL), 1);
    ASSERT_EQ(corio_sleep(0), 0);
    trace_add(&tr, "A2");
    ASSERT_EQ(corio_sleep(0), 0);
    trace_add(&tr, "A3");
    ASSERT_EQ(corio_task_cancel(corio_current_task(), NULL), 1);
    ASSERT_EQ(corio_sleep(0), CORIO_ECANCELED);
    trace_add(&tr, "A-self-cancelled");
    ASSERT_EQ(corio_task_uncancel(corio_current_task()), 0);
    return 0;
}

static int yield_b(void *arg, void **res) {
    (void)arg, (void)res;
    trace_add(&tr, "B0");
    ASSERT_EQ(corio_sleep(0), CORIO_ECANCELED);
    trace_add(&tr, "B-cancelled");
    return 0;
}

TEST(sleep0_every_next_event) {
    ASSERT_EQ(corio_sleep(0), CORIO_ENOTINTASK);
    ASSERT_EQ(corio_sleep(1), CORIO_ENOTINTASK);
    corio_loop *loop = vloop();
    corio_task *a;
    ASSERT_EQ(corio_loop_create_task(loop, yield_a, NULL, NULL, 0, &a), 0);
    ASSERT_EQ(corio_loop_create_task(loop, yield_b, NULL, NULL, 0, &yb), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, a, NULL), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, yb, NULL), 0);
    ASSERT_STR(tr.buf, "A0 B0 cb1 A1 B-cancelled A2 A3 A-self-cancelled");
    corio_future_unref(a);
    corio_future_unref(yb);
    close_loop(loop);
    return 0;
}

/* Direct switches (a suspending task runs the next task step itself, and
 * starts the next iteration when it cannot block) keep the loop's order
 * and its stop: stop() from a task ends the run after the current
 * iteration, as asyncio's does. */
static long counts[3];
static int counter(void *arg, void **res) {
    (void)res;
    long *c = arg;
    for (;;) {
        ++*c;
        if (c == &counts[0] && *c == 10) corio_loop_stop(corio_get_running_loop());
        int rc = corio_sleep(0);
        if (rc < 0) return rc;
    }
}

TEST(direct_switch_stop_after_iteration) {
    corio_loop *loop = vloop();
    corio_task *ts[3];
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(corio_loop_create_task(loop, counter, &counts[i], NULL, 0, &ts[i]), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), 0);
    ASSERT_EQ(counts[0], 10); /* the other two finish the iteration A stopped in */
    ASSERT_EQ(counts[1], 10);
    ASSERT_EQ(counts[2], 10);
    for (int i = 0; i < 3; i++) ASSERT_EQ(corio_task_cancel(ts[i], NULL), 1);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK);
    for (int i = 0; i < 3; i++) {
        ASSERT(corio_future_cancelled(ts[i]));
        corio_future_unref(ts[i]);
    }
    ASSERT_EQ(counts[1], 10); /* the cancel ended each at its sleep */
    close_loop(loop);
    return 0;
}

/* A cancel that lands while the target's step waits in the batch reaches
 * it on a direct switch too; tasks of both stack modes interleave. */
static corio_task *victim;
static int canceller(void *arg, void **res) {
    (void)arg, (void)res;
    trace_add(&tr, "c");
    return corio_task_cancel(victim, "go") == 1 ? 0 : -1; /* victim's step is next */
}
static int victim_body(void *arg, void **res) {
    (void)arg, (void)res;
    trace_add(&tr, "v");
    int rc = corio_sleep(0);
    trace_add(&tr, rc == CORIO_ECANCELED ? "v-cancelled" : "v-resumed");
    return rc;
}
static int yielder_twice(void *arg, void **res) {
    (void)res;
    for (int i = 0; i < 2; i++) {
        trace_add(&tr, arg);
        corio_sleep(0);
    }
    return 0;
}

TEST(direct_switch_cancel_and_mixed_modes) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_create_task(loop, victim_body, NULL, NULL, 0, &victim), 0);
    ASSERT_EQ(corio_loop_create_task(loop, yielder_twice, "o1", NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    ASSERT_EQ(corio_loop_create_task(loop, yielder_twice, "k1", NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_OWN), 0);
    ASSERT_EQ(corio_loop_create_task(loop, canceller, NULL, NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_create_task(loop, yielder_twice, "o2", NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK);
    ASSERT_STR(tr.buf, "v o1 k1 c o2 v-cancelled o1 k1 o2");
    ASSERT(corio_future_cancelled(victim));
    corio_future_unref(victim);
    close_loop(loop);
    return 0;
}

/* Sleeps armed in deadline order fill a bucket that opens whole into the
 * timers' run (no heap); a sleep cancelled while its window is open
 * leaves the run at once, and the others keep their order. */
static double wake_times[8];
static int timed_sleeper(void *arg, void **res) {
    (void)res;
    long i = (long)(intptr_t)arg;
    int rc = corio_sleep(1.0 + (double)i * 1e-5); /* one ~1 ms window */
    wake_times[i] = corio_loop_time(corio_get_running_loop());
    char name[24];
    snprintf(name, sizeof name, rc == CORIO_ECANCELED ? "x%ld" : "s%ld", i);
    trace_add(&tr, name);
    return 0;
}
static corio_task *sleepers8[8];
static void cancel_s5(void *arg) {
    (void)arg;
    trace_add(&tr, "cancel");
    ASSERT_EQ(corio_task_cancel(sleepers8[5], NULL), 1);
}

TEST(sleep_sorted_window_run) {
    corio_loop *loop = vloop();
    for (long i = 0; i < 8; i++)
        ASSERT_EQ(corio_loop_create_task(loop, timed_sleeper, (void *)(intptr_t)i, NULL, 0, &sleepers8[i]), 0);
    /* Fires from the sleepers' window, opened by then, just before them. */
    ASSERT_EQ(corio_call_at(loop, 1.0 - 1e-6, cancel_s5, NULL, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK);
    ASSERT_STR(tr.buf, "cancel x5 s0 s1 s2 s3 s4 s6 s7");
    for (int i = 0; i < 8; i++) {
        if (i != 5) ASSERT(wake_times[i] >= 1.0 + i * 1e-5 - 1e-9);
        corio_future_unref(sleepers8[i]);
    }
    close_loop(loop);
    return 0;
}

static int sleeper_named(void *arg, void **res) {
    (void)res;
    int rc = corio_sleep(1);
    trace_add(&tr, arg);
    return rc;
}

TEST(sleep_equal_deadlines_fifo) {
    corio_loop *loop = vloop();
    const char *names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(corio_loop_create_task(loop, sleeper_named, (void *)names[i], NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK);
    ASSERT_STR(tr.buf, "a b c d");
    ASSERT_EQ(corio_loop_time(loop), 1);
    close_loop(loop);
    return 0;
}

static int names_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_task *me = corio_current_task();
    ASSERT(me);
    ASSERT_STR(corio_task_get_name(me), "worker");
    ASSERT_EQ(corio_task_set_name(me, "renamed"), 0);
    ASSERT_STR(corio_task_get_name(me), "renamed");
    corio_task *all[8];
    int n = corio_all_tasks(NULL, all, 8);
    ASSERT_EQ(n, 2); /* this one and the sleeper */
    ASSERT_EQ(corio_all_tasks(NULL, all, 1), 2); /* the count, not truncated silently */
    ASSERT_EQ(corio_all_tasks(NULL, NULL, 0), 2);
    ASSERT_EQ(corio_all_tasks(NULL, NULL, 3), 0); /* no buffer for cap: nothing to count into */
    ASSERT(corio_get_running_loop() == corio_future_loop(me));
    return 0;
}

TEST(task_names_current_all) {
    corio_loop *loop = vloop();
    corio_task *a, *b;
    ASSERT_EQ(corio_loop_create_task(loop, job, (void *)1, NULL, 0, &a), 0);
    ASSERT_EQ(corio_loop_create_task(loop, names_body, NULL, "worker", 0, &b), 0);
    ASSERT_STR(corio_task_get_name(a), "Task-1");
    ASSERT_EQ(corio_loop_run_until_complete(loop, b, NULL), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, a, NULL), 0);
    ASSERT_EQ(corio_all_tasks(loop, NULL, 0), 0);
    ASSERT_EQ(corio_task_set_name(a, NULL), CORIO_EINVAL);
    ASSERT(corio_task_get_name(NULL) == NULL);
    corio_future_unref(a);
    corio_future_unref(b);
    close_loop(loop);
    return 0;
}

static int failing(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_sleep(1), 0);
    return corio_raise(-EIO, "disk %d failed", 7);
}

static int awaiter(void *arg, void **res) {
    corio_task *inner = arg;
    (void)res;
    void *r = NULL;
    int rc = corio_await(inner, &r);
    ASSERT_EQ(rc, -EIO);
    /* Re-raise as another error: the inner one becomes the cause. */
    return corio_raise(-EPROTO, "request failed");
}

TEST(task_error_chain) {
    corio_loop *loop = vloop();
    corio_task *inner, *outer;
    ASSERT_EQ(corio_loop_create_task(loop, failing, NULL, NULL, 0, &inner), 0);
    ASSERT_EQ(corio_loop_create_task(loop, awaiter, inner, NULL, 0, &outer), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, outer, NULL), -EPROTO);
    corio_error *e, *ie;
    ASSERT_EQ(corio_future_exception(outer, &e), 0);
    ASSERT_EQ(corio_error_code(e), -EPROTO);
    ASSERT_STR(corio_error_message(e), "request failed");
    const corio_error *c = corio_error_cause(e);
    ASSERT(c);
    ASSERT_EQ(corio_error_code(c), -EIO);
    ASSERT_STR(corio_error_message(c), "disk 7 failed");
    ASSERT(corio_error_cause(c) == NULL);
    ASSERT_EQ(corio_future_exception(inner, &ie), 0);
    ASSERT(ie == c); /* the same error value, shared */
    corio_error_unref(ie);
    corio_error_unref(e);
    corio_future_unref(inner);
    corio_future_unref(outer);
    close_loop(loop);
    return 0;
}

static int plain_fail(void *arg, void **res) {
    (void)arg;
    (void)res;
    return -ENOENT; /* no message: strerror stands in */
}

static int propagate(void *arg, void **res) {
    (void)res;
    return corio_await(arg, NULL); /* the same error travels up */
}

TEST(task_error_propagates) {
    corio_loop *loop = vloop();
    corio_task *a, *b;
    ASSERT_EQ(corio_loop_create_task(loop, plain_fail, NULL, NULL, 0, &a), 0);
    ASSERT_EQ(corio_loop_create_task(loop, propagate, a, NULL, 0, &b), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, b, NULL), -ENOENT);
    corio_error *ea, *eb;
    ASSERT_EQ(corio_future_exception(a, &ea), 0);
    ASSERT_EQ(corio_future_exception(b, &eb), 0);
    ASSERT(ea == eb);
    ASSERT_STR(corio_error_message(ea), "No such file or directory");
    corio_error_unref(ea);
    corio_error_unref(eb);
    corio_future_unref(a);
    corio_future_unref(b);
    close_loop(loop);
    return 0;
}

static int await_bad(void *arg, void **res) {
    corio_future *other_loop_fut = arg;
    (void)res;
    ASSERT_EQ(corio_await(corio_current_task(), NULL), CORIO_EDEADLK);
    ASSERT_EQ(corio_await(NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_await(other_loop_fut, NULL), CORIO_EWRONGLOOP);
    ASSERT_EQ(corio_loop_run_forever(corio_get_running_loop()), CORIO_ERUNNING);
    return 0;
}

TEST(await_bad_input) {
    corio_loop *loop = vloop(), *other = vloop();
    corio_future *f;
    ASSERT_EQ(corio_future_new(other, &f), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, await_bad, f, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    corio_future_unref(f);
    close_loop(loop);
    close_loop(other);
    return 0;
}

static void later_result(void *arg) { ASSERT_EQ(corio_future_set_result(arg, (void *)7), 0); }

static int await_future(void *arg, void **res) {
    corio_future *f = arg;
    void *r = NULL;
    ASSERT_EQ(corio_call_later(corio_get_running_loop(), 2, later_result, f, NULL), 0);
    ASSERT_EQ(corio_await(f, &r), 0);
    ASSERT(r == (void *)7);
    /* Awaiting a done future returns at once, without yielding. */
    trace_add(&tr, "again");
    ASSERT_EQ(corio_await(f, &r), 0);
    trace_add(&tr, "no-yield");
    *res = r;
    return 0;
}

static int bystander(void *arg, void **res) {
    (void)arg;
    (void)res;
    for (int i = 0; i < 4; i++) {
        if (corio_sleep(0) < 0) break;
    }
    return 0;
}

TEST(await_future_and_done_future) {
    corio_loop *loop = vloop();
    corio_future *f;
    ASSERT_EQ(corio_future_new(loop, &f), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, await_future, f, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_create_task(loop, bystander, NULL, NULL, 0, NULL), 0);
    void *r;
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, &r), 0);
    ASSERT(r == (void *)7);
    ASSERT_STR(tr.buf, "again no-yield");
    corio_future_unref(t);
    corio_future_unref(f);
    close_loop(loop);
    return 0;
}

static void on_done(corio_future *f, void *arg) {
    (void)f;
    trace_add(&tr, arg);
}

static void complete_now(void *arg) {
    corio_future *f = arg;
    ASSERT_EQ(corio_future_set_result(f, NULL), 0);
    trace_add(&tr, "completed"); /* callbacks have not run inside set_result */
}

TEST(done_callbacks) {
    corio_loop *loop = vloop();
    corio_future *f;
    ASSERT_EQ(corio_future_new(loop, &f), 0);
    ASSERT_EQ(corio_future_add_done_callback(f, on_done, "one"), 0);
    ASSERT_EQ(corio_future_add_done_callback(f, on_done, "two"), 0);
    ASSERT_EQ(corio_future_add_done_callback(f, on_done, "gone"), 0);
    ASSERT_EQ(corio_future_add_done_callback(f, on_done, "gone"), 0);
    ASSERT_EQ(corio_future_remove_done_callback(f, on_done, "gone"), 2);
    ASSERT_EQ(corio_future_remove_done_callback(f, on_done, "absent"), 0);
    ASSERT_EQ(corio_future_add_done_callback(f, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_call_soon(loop, complete_now, f, NULL), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, f, NULL), 0);
    /* The callbacks ran after "completed"; run_until_complete stops after
     * the iteration where its own callback ran. */
    ASSERT_STR(tr.buf, "completed one two");
    /* Added to a done future: scheduled for the next iteration. */
    ASSERT_EQ(corio_future_add_done_callback(f, on_done, "late"), 0);
    ASSERT_STR(tr.buf, "completed one two");
    ASSERT_EQ(corio_future_set_result(f, NULL), CORIO_EINVALSTATE);
    corio_future_unref(f); /* the scheduled callback keeps it alive */
    ASSERT_EQ(corio_loop_stop(loop), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), 0);
    ASSERT_STR(tr.buf, "completed one two late");
    close_loop(loop);
    return 0;
}

TEST(future_states) {
    corio_loop *loop = vloop();
    corio_future *f;
    ASSERT_EQ(corio_future_new(NULL, &f), CORIO_EINVAL);
    ASSERT_EQ(corio_future_new(loop, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_future_new(loop, &f), 0);
    ASSERT_EQ(corio_future_set_error(f, 5, "positive"), CORIO_EINVAL);
    ASSERT_EQ(corio_future_set_error(f, CORIO_ECANCELED, "use cancel"), CORIO_EINVAL);
    ASSERT_EQ(corio_future_set_error(f, -EPIPE, "pipe %s", "broke"), 0);
    ASSERT_EQ(corio_future_set_result(f, NULL), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_future_cancel(f, "late"), 0);
    ASSERT_EQ(corio_future_result(f, NULL), -EPIPE);
    corio_error *e;
    ASSERT_EQ(corio_future_exception(f, &e), 0);
    ASSERT_STR(corio_error_message(e), "pipe broke");
    /* set_exception shares an existing error. */
    corio_future *g;
    ASSERT_EQ(corio_future_new(loop, &g), 0);
    ASSERT_EQ(corio_future_set_exception(g, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_future_set_exception(g, e), 0);
    ASSERT_EQ(corio_future_result(g, NULL), -EPIPE);
    corio_error_unref(e);
    corio_future_unref(g);
    corio_future_unref(f);
    /* Cancel a plain future, with a message. */
    ASSERT_EQ(corio_future_new(loop, &f), 0);
    ASSERT_EQ(corio_future_cancel(f, "stop it"), 1);
    ASSERT(corio_future_cancelled(f));
    ASSERT_EQ(corio_future_result(f, NULL), CORIO_ECANCELED);
    ASSERT_EQ(corio_future_exception(f, &e), 0);
    ASSERT_EQ(corio_error_code(e), CORIO_ECANCELED);
    ASSERT_STR(corio_error_message(e), "stop it");
    corio_error_unref(e);
    ASSERT_EQ(corio_future_cancel(f, NULL), 0);
    /* Task-only calls on a plain future, and the other way round. */
    ASSERT_EQ(corio_task_cancelling(f), 0); /* a plain future has no requests (a size_t now) */
    ASSERT_EQ(corio_task_set_name(f, "x"), CORIO_ENOTTASK);
    corio_future_unref(f);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, plain_fail, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_future_set_result(t, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), -ENOENT);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

TEST(report_unretrieved_error) {
    corio_loop *loop = vloop();
    reports r = {0};
    ASSERT_EQ(corio_loop_set_exception_handler(loop, capture_report, &r), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, plain_fail, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_create_task(loop, plain_fail, NULL, NULL, 0, NULL), 0); /* fire and forget */
    corio_task *sleeper;
    ASSERT_EQ(corio_loop_create_task(loop, job, (void *)1, NULL, 0, &sleeper), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, sleeper, NULL), 0);
    /* The forgotten task's error was reported when the loop dropped it. */
    ASSERT_EQ(r.n, 1);
    ASSERT_STR(r.last, "Task exception was never retrieved");
    ASSERT_EQ(r.last_code, -ENOENT);
    corio_future_unref(t); /* ours, unread: reported now */
    ASSERT_EQ(r.n, 2);
    /* Read errors are not reported. */
    ASSERT_EQ(corio_loop_create_task(loop, plain_fail, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), -ENOENT);
    corio_future_unref(t);
    corio_future_unref(sleeper);
    ASSERT_EQ(r.n, 2);
    close_loop(loop);
    return 0;
}

static int forever(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_sleep(1e9);
}

TEST(report_destroyed_pending) {
    corio_loop *loop = vloop();
    reports r = {0};
    ASSERT_EQ(corio_loop_set_exception_handler(loop, capture_report, &r), 0);
    corio_task *held, *waiter;
    ASSERT_EQ(corio_loop_create_task(loop, forever, NULL, NULL, 0, &held), 0);
    ASSERT_EQ(corio_loop_create_task(loop, propagate, held, NULL, 0, &waiter), 0);
    ASSERT_EQ(corio_loop_create_task(loop, forever, NULL, NULL, 0, NULL), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, job, (void *)1, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_create_task(loop, forever, NULL, NULL, 0, NULL), 0); /* never started */
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(r.n, 4);
    ASSERT_STR(r.last, "Task was destroyed but it is pending!");
    ASSERT(!corio_future_done(held));
    ASSERT_EQ(corio_task_cancel(held, NULL), CORIO_ECLOSED);
    corio_future_unref(waiter);
    corio_future_unref(held);
    ASSERT_EQ(corio_loop_free(loop), 0);
    return 0;
}

static int fp_task(void *arg, void **res) {
    (void)res;
    int mode = (int)(intptr_t)arg;
    ASSERT_EQ(fesetround(mode), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(corio_sleep(0), 0);
        ASSERT_EQ(fegetround(), mode); /* each task keeps its own FP control */
    }
    return 0;
}

TEST(switch_preserves_fp_control) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_create_task(loop, fp_task, (void *)(intptr_t)FE_UPWARD, NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_create_task(loop, fp_task, (void *)(intptr_t)FE_DOWNWARD, NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK);
    ASSERT_EQ(fegetround(), FE_TONEAREST);
    close_loop(loop);
    return 0;
}

static int callee_saved(void *arg, void **res) {
    (void)arg;
    /* Values live across switches in callee-saved registers and on the stack. */
    volatile double acc = 0;
    long a = 1, b = 2, c = 3, d = 4, e = 5, g = 6;
    for (int i = 0; i < 50; i++) {
        acc += sqrt((double)i);
        a += b; b += c; c += d; d += e; e += g; g += 1;
        ASSERT_EQ(corio_sleep(0), 0);
    }
    *res = (void *)(intptr_t)(a + b + c + d + e + g + (long)acc);
    return 0;
}

TEST(switch_preserves_registers) {
    corio_loop *loop = vloop();
    corio_task *t1, *t2;
    ASSERT_EQ(corio_loop_create_task(loop, callee_saved, NULL, NULL, 0, &t1), 0);
    ASSERT_EQ(corio_loop_create_task(loop, callee_saved, NULL, NULL, 0, &t2), 0);
    void *r1, *r2;
    ASSERT_EQ(corio_loop_run_until_complete(loop, t1, &r1), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t2, &r2), 0);
    /* Same computation, run without switching, must agree. */
    double acc = 0;
    long a = 1, b = 2, c = 3, d = 4, e = 5, g = 6;
    for (int i = 0; i < 50; i++) {
        acc += sqrt((double)i);
        a += b; b += c; c += d; d += e; e += g; g += 1;
    }
    ASSERT(r1 == (void *)(intptr_t)(a + b + c + d + e + g + (long)acc));
    ASSERT(r1 == r2);
    corio_future_unref(t1);
    corio_future_unref(t2);
    close_loop(loop);
    return 0;
}
