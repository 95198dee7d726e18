/* The combinators from C's side: what the differential suite cannot see
 * (bad input, ownership, sets, error groups, linear drains). Their asyncio
 * semantics are checked against CPython by tests/diff. */
#include "test.h"

#include <math.h>

static int job(void *arg, void **res) {
    intptr_t n = (intptr_t)arg;
    int rc = corio_sleep((double)n / 4);
    if (rc < 0) return rc;
    if (n < 0) return corio_raise(-EIO, "job %ld failed", (long)n);
    *res = arg;
    return 0;
}

static int bad_job(void *arg, void **res) {
    (void)res;
    int rc = corio_sleep((double)(intptr_t)arg / 4);
    if (rc < 0) return rc;
    return corio_raise(-EIO, "bad %ld", (long)(intptr_t)arg);
}


static int gather_body(void) {
    corio_aw aws[] = {CORIO_CORO(job, (void *)8), CORIO_CORO(job, (void *)4),
                      CORIO_CORO(bad_job, (void *)2)};
    corio_outcome out[3];
    /* return_exceptions: every position has its outcome, errors with messages. */
    ASSERT_EQ(corio_gather_wait(aws, 3, CORIO_RETURN_EXCEPTIONS, out), 0);
    ASSERT(out[0].value == (void *)8 && out[1].value == (void *)4 && out[2].value == NULL);
    ASSERT_EQ(out[0].code, 0);
    ASSERT_EQ(out[2].code, -EIO);
    ASSERT_STR(corio_error_message(out[2].error), "bad 2");
    corio_outcomes_clear(out, 3);
    /* The object form: per-position errors with their messages. */
    corio_future *g;
    ASSERT_EQ(corio_gather(aws, 3, CORIO_RETURN_EXCEPTIONS, &g), 0);
    ASSERT_EQ(corio_gather_size(g), 3);
    ASSERT_EQ(corio_gather_result(g, 0, NULL), CORIO_EINVALSTATE); /* not done */
    void *r;
    ASSERT_EQ(corio_await(g, &r), 0);
    void **list = r;
    ASSERT(list[0] == (void *)8 && list[1] == (void *)4);
    corio_error *e;
    ASSERT_EQ(corio_gather_exception(g, 2, &e), 0);
    ASSERT_STR(corio_error_message(e), "bad 2");
    corio_error_unref(e);
    ASSERT_EQ(corio_gather_result(g, 3, NULL), CORIO_EINVAL);
    ASSERT(corio_is_task(corio_gather_child(g, 0)));
    ASSERT(corio_gather_child(g, 3) == NULL);
    ASSERT_EQ(corio_future_cancel(g, NULL), 0); /* done */
    corio_future_unref(g);
    /* Without return_exceptions: the first error, with its message. */
    ASSERT_EQ(corio_gather_wait(aws, 3, 0, NULL), -EIO);
    ASSERT_STR(corio_error_message(corio_current_error()), "bad 2");
    /* Bad input. */
    ASSERT_EQ(corio_gather(NULL, 2, 0, &g), CORIO_EINVAL);
    ASSERT_EQ(corio_gather(aws, 1, 0, NULL), CORIO_EINVAL);
    corio_aw empty = {0};
    ASSERT_EQ(corio_gather(&empty, 1, 0, &g), CORIO_EINVAL);
    ASSERT_EQ(corio_gather_size(corio_current_task()), 0); /* not a gather (a size_t now) */
    /* Empty: done at once, with an empty result. */
    ASSERT_EQ(corio_gather(NULL, 0, 0, &g), 0);
    ASSERT(corio_future_done(g));
    ASSERT_EQ(corio_gather_size(g), 0);
    corio_future_unref(g);
    return 0;
}

TEST(gather_c_api) {
    in_task(gather_body);
    return 0;
}

TEST(gather_outside_task) {
    corio_loop *loop = vloop();
    corio_future *g;
    corio_aw coro = CORIO_CORO(job, (void *)4);
    ASSERT_EQ(corio_gather(&coro, 1, 0, &g), CORIO_ENOLOOP); /* a coroutine needs a loop */
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, job, (void *)4, NULL, 0, &t), 0);
    corio_aw fut = CORIO_FUT(t);
    ASSERT_EQ(corio_gather(&fut, 1, 0, &g), 0); /* futures bring their loop */
    void *r;
    ASSERT_EQ(corio_loop_run_until_complete(loop, g, &r), 0);
    ASSERT(((void **)r)[0] == (void *)4);
    corio_outcome out[1];
    ASSERT_EQ(corio_gather_wait(&fut, 1, 0, out), CORIO_ENOTINTASK);
    corio_future_unref(g);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

static int wait_body(void) {
    corio_task *ts[3];
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(corio_create_task(job, (void *)(intptr_t)(i + 1), NULL, &ts[i]), 0);
    corio_aw aws[] = {CORIO_FUT(ts[0]), CORIO_FUT(ts[1]), CORIO_FUT(ts[2]), CORIO_FUT(ts[0])};
    corio_futset *done, *pending;
    /* Bad input first: coroutines, empty, bad return_when, NaN timeout. */
    corio_aw coro = CORIO_CORO(job, NULL);
    ASSERT_EQ(corio_wait(&coro, 1, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done, &pending), CORIO_EINVAL);
    ASSERT_EQ(corio_wait(aws, 0, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done, &pending), CORIO_EINVAL);
    ASSERT_EQ(corio_wait(aws, 4, CORIO_FOREVER, 7, &done, &pending), CORIO_EINVAL);
    ASSERT_EQ(corio_wait(aws, 4, NAN, CORIO_ALL_COMPLETED, &done, &pending), CORIO_EINVAL);
    ASSERT_EQ(corio_wait(aws, 4, CORIO_FOREVER, CORIO_ALL_COMPLETED, NULL, &pending), CORIO_EINVAL);
    /* FIRST_COMPLETED: the duplicate counts once. */
    ASSERT_EQ(corio_wait(aws, 4, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done, &pending), 0);
    ASSERT_EQ(corio_futset_size(done), 1);
    ASSERT(corio_futset_get(done, 0) == ts[0]);
    ASSERT_EQ(corio_futset_size(pending), 2);
    ASSERT(corio_futset_contains(pending, ts[1]) && corio_futset_contains(pending, ts[2]));
    ASSERT(!corio_futset_contains(pending, ts[0]));
    ASSERT(corio_futset_get(pending, 2) == NULL);
    corio_futset_free(done);
    /* The pending set goes back into wait; timeout returns what is done. */
    ASSERT_EQ(corio_wait_set(pending, 0.3, CORIO_ALL_COMPLETED, &done), 0);
    ASSERT_EQ(corio_futset_size(done), 1);
    ASSERT_EQ(corio_futset_size(pending), 1);
    ASSERT(!corio_future_cancelled(ts[2])); /* a timeout cancels nothing */
    corio_futset_free(done);
    ASSERT_EQ(corio_wait_set(pending, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done), 0);
    ASSERT_EQ(corio_futset_size(pending), 0);
    corio_futset_free(done);
    ASSERT_EQ(corio_wait_set(pending, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done), CORIO_EINVAL);
    ASSERT(done == NULL);
    corio_futset_free(pending);
    /* Sets by hand. */
    corio_futset *s;
    ASSERT_EQ(corio_futset_new(&s), 0);
    ASSERT_EQ(corio_futset_add(s, ts[0]), 1);
    ASSERT_EQ(corio_futset_add(s, ts[0]), 0);
    ASSERT_EQ(corio_futset_add(s, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_futset_size(NULL), 0); /* a size_t now */
    corio_futset_free(s);
    corio_futset_free(NULL);
    for (int i = 0; i < 3; i++) corio_future_unref(ts[i]);
    return 0;
}

TEST(wait_c_api) {
    in_task(wait_body);
    return 0;
}

/* The drain loop is linear: each member's watch is started exactly once,
 * however many rounds there are (CPython re-adds a callback to every
 * pending future each round: n(n+1)/2 in all). Counted, not timed. */
extern _Thread_local long corio__watch_starts;
static int drain_body(void) {
    enum { N = 2000 };
    corio_futset *pending;
    ASSERT_EQ(corio_futset_new(&pending), 0);
    for (int i = 0; i < N; i++) {
        corio_task *t;
        ASSERT_EQ(corio_create_task(job, (void *)(intptr_t)(i + 1), NULL, &t), 0);
        ASSERT_EQ(corio_futset_add(pending, t), 1);
        corio_future_unref(t);
    }
    long before = corio__watch_starts;
    int rounds = 0, seen = 0;
    while (corio_futset_size(pending) > 0) {
        corio_futset *done;
        ASSERT_EQ(corio_wait_set(pending, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done), 0);
        seen += corio_futset_size(done);
        rounds++;
        corio_futset_free(done);
    }
    ASSERT_EQ(seen, N);
    ASSERT_EQ(rounds, N); /* distinct deadlines: one per round */
    ASSERT_EQ(corio__watch_starts - before, N);
    corio_futset_free(pending);
    return 0;
}

TEST(wait_drain_linear) {
    in_task(drain_body);
    return 0;
}

static int as_completed_body(void) {
    corio_aw aws[] = {CORIO_CORO(job, (void *)8), CORIO_CORO(bad_job, (void *)4),
                      CORIO_CORO(job, (void *)2)};
    corio_as_completed *it;
    ASSERT_EQ(corio_as_completed_new(aws, 3, CORIO_FOREVER, &it), 0);
    corio_future *f;
    intptr_t order[3];
    int k = 0, rc;
    while ((rc = corio_as_completed_next(it, &f)) == 1) {
        void *v = NULL;
        int r = corio_future_result(f, &v);
        order[k++] = r == 0 ? (intptr_t)v : r;
        corio_future_unref(f); /* next hands out a reference */
    }
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(k, 3);
    ASSERT_EQ(order[0], 2);
    ASSERT_EQ(order[1], -EIO);
    ASSERT_EQ(order[2], 8);
    ASSERT_EQ(corio_as_completed_next(it, &f), 0); /* stays exhausted */
    corio_as_completed_free(it);
    /* Timeout: every remaining step fails with it; nothing is cancelled. */
    corio_task *slow;
    ASSERT_EQ(corio_create_task(job, (void *)40, NULL, &slow), 0);
    corio_aw s = CORIO_FUT(slow);
    ASSERT_EQ(corio_as_completed_new(&s, 1, 1.0, &it), 0);
    ASSERT_EQ(corio_as_completed_next(it, &f), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_as_completed_next(it, &f), 0);
    ASSERT(!corio_future_done(slow));
    corio_as_completed_free(it);
    ASSERT_EQ(corio_task_cancel(slow, NULL), 1);
    ASSERT_EQ(corio_await(slow, NULL), CORIO_ECANCELED);
    corio_future_unref(slow);
    ASSERT_EQ(corio_as_completed_new(NULL, 0, CORIO_FOREVER, &it), 0); /* empty */
    ASSERT_EQ(corio_as_completed_next(it, &f), 0);
    corio_as_completed_free(it);
    ASSERT_EQ(corio_as_completed_next(NULL, &f), CORIO_EINVAL);
    return 0;
}

TEST(as_completed_c_api) {
    in_task(as_completed_body);
    return 0;
}

static int timeout_body(void) {
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(NAN, &cm), CORIO_EINVAL);
    ASSERT_EQ(corio_timeout_enter(2, &cm), 0);
    double t0 = corio_loop_time(corio_get_running_loop());
    ASSERT(fabs(corio_timeout_when(cm) - (t0 + 2)) < 1e-9);
    ASSERT_EQ(corio_timeout_reschedule(cm, t0 + 1), 0); /* move it earlier */
    ASSERT(!corio_timeout_expired(cm));
    int rc = corio_sleep(5);
    ASSERT_EQ(rc, CORIO_ECANCELED);
    ASSERT(corio_timeout_expired(cm));
    ASSERT_EQ(corio_timeout_reschedule(cm, t0 + 9), CORIO_EINVALSTATE); /* expired */
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_error_code(corio_current_error()), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_task_cancelling(corio_current_task()), 0);
    ASSERT_EQ(corio_loop_time(corio_get_running_loop()), t0 + 1);
    /* No deadline; then nested: the inner, earlier one fires. */
    ASSERT_EQ(corio_timeout_enter(CORIO_FOREVER, &cm), 0);
    ASSERT(isinf(corio_timeout_when(cm)));
    corio_timeout *inner;
    ASSERT_EQ(corio_timeout_enter(0.5, &inner), 0);
    rc = corio_sleep(1);
    ASSERT_EQ(corio_timeout_exit(inner, rc), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_timeout_exit(cm, 0), 0);
    /* In time: the body's code passes through. */
    ASSERT_EQ(corio_timeout_at_enter(corio_loop_time(corio_get_running_loop()) + 1, &cm), 0);
    ASSERT_EQ(corio_timeout_exit(cm, -EPIPE), -EPIPE);
    ASSERT_EQ(corio_timeout_exit(NULL, 0), CORIO_EINVAL);
    /* wait_for with a coroutine runs it in this task. */
    void *r;
    ASSERT_EQ(corio_wait_for(CORIO_CORO(job, (void *)4), 2, &r), 0);
    ASSERT(r == (void *)4);
    ASSERT_EQ(corio_wait_for(CORIO_CORO(job, (void *)40), 2, &r), CORIO_ETIMEDOUT);
    corio_aw none = {0};
    ASSERT_EQ(corio_wait_for(none, 1, &r), CORIO_EINVAL);
    return 0;
}

TEST(timeout_c_api) {
    in_task(timeout_body);
    ASSERT_EQ(corio_timeout_enter(1, &(corio_timeout *){NULL}), CORIO_ENOTINTASK);
    return 0;
}

static int shield_body(void) {
    corio_task *t;
    ASSERT_EQ(corio_create_task(job, (void *)4, NULL, &t), 0);
    corio_future *s;
    ASSERT_EQ(corio_shield(CORIO_FUT(t), &s), 0);
    ASSERT(s != t);
    ASSERT_EQ(corio_future_cancel(s, NULL), 1); /* cancels the shield only */
    ASSERT(!corio_future_done(t));
    void *r;
    ASSERT_EQ(corio_await(t, &r), 0);
    ASSERT(r == (void *)4);
    corio_future_unref(s);
    ASSERT_EQ(corio_shield(CORIO_FUT(t), &s), 0); /* done: shield(x) is x */
    ASSERT(s == t);
    corio_future_unref(s);
    corio_future_unref(t);
    ASSERT_EQ(corio_shield(CORIO_FUT(NULL), NULL), CORIO_EINVAL);
    return 0;
}

TEST(shield_c_api) {
    in_task(shield_body);
    return 0;
}

/* A shield whose inner task is still pending when the loop closes: the
 * shield's internal state (kept alive only by callbacks between the two
 * futures) is freed by the close; LSan would report it otherwise. */
static void stop_loop(void *arg) { corio_loop_stop(arg); }

TEST(shield_freed_at_close) {
    corio_loop *loop = vloop();
    reports r = {0};
    corio_loop_set_exception_handler(loop, capture_report, &r);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, job, (void *)4000, NULL, 0, &t), 0);
    corio_future *outer;
    ASSERT_EQ(corio_shield(CORIO_FUT(t), &outer), 0); /* outside a task: t brings the loop */
    ASSERT_EQ(corio_call_later(loop, 1, stop_loop, loop, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), 0);
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(r.n, 1); /* the task, destroyed pending */
    ASSERT(!corio_future_done(outer));
    corio_future_unref(outer);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_free(loop), 0);
    ASSERT_EQ(r.n, 1); /* nothing held any more */
    return 0;
}

static int tg_body(void) {
    corio_taskgroup *tg;
    ASSERT_EQ(corio_taskgroup_enter(&tg), 0);
    corio_task *a;
    ASSERT_EQ(corio_taskgroup_create_task(tg, job, (void *)4, "a", &a), 0);
    ASSERT_EQ(corio_taskgroup_create_task(tg, bad_job, (void *)2, NULL, NULL), 0);
    ASSERT_EQ(corio_taskgroup_create_task(tg, bad_job, (void *)2, NULL, NULL), 0);
    int rc = corio_sleep(10); /* the first failure cancels the body */
    ASSERT_EQ(rc, CORIO_ECANCELED);
    ASSERT_EQ(corio_taskgroup_create_task(tg, job, NULL, NULL, NULL), CORIO_EINVALSTATE);
    rc = corio_taskgroup_exit(tg, rc);
    ASSERT_EQ(rc, CORIO_EGROUP);
    const corio_error *g = corio_current_error();
    ASSERT_EQ(corio_error_code(g), CORIO_EGROUP);
    ASSERT_EQ(corio_error_group_size(g), 2);
    ASSERT_STR(corio_error_message(corio_error_group_get(g, 0)), "bad 2");
    ASSERT(corio_error_group_get(g, 2) == NULL);
    ASSERT(corio_future_cancelled(a));
    ASSERT_EQ(corio_task_cancelling(corio_current_task()), 0); /* its own cancel withdrawn */
    corio_future_unref(a);
    /* A clean group; the body's own error joins the group. */
    ASSERT_EQ(corio_taskgroup_enter(&tg), 0);
    ASSERT_EQ(corio_taskgroup_create_task(tg, job, (void *)1, NULL, NULL), 0);
    ASSERT_EQ(corio_taskgroup_exit(tg, 0), 0);
    ASSERT_EQ(corio_taskgroup_enter(&tg), 0);
    ASSERT_EQ(corio_taskgroup_exit(tg, corio_raise(-ENOSPC, "body")), CORIO_EGROUP);
    ASSERT_EQ(corio_error_group_size(corio_current_error()), 1);
    ASSERT_EQ(corio_taskgroup_create_task(NULL, job, NULL, NULL, NULL), CORIO_EINVAL);
    return 0;
}

TEST(taskgroup_c_api) {
    in_task(tg_body);
    return 0;
}

static int any_body(void) {
    corio_aw aws[] = {CORIO_CORO(job, (void *)8), CORIO_CORO(bad_job, (void *)1),
                      CORIO_CORO(job, (void *)4)};
    size_t win = 99;
    void *r;
    ASSERT_EQ(corio_any(aws, 3, &win, &r), 0);
    ASSERT_EQ(win, 2);
    ASSERT(r == (void *)4);
    corio_aw bad[] = {CORIO_CORO(bad_job, (void *)1), CORIO_CORO(bad_job, (void *)2)};
    ASSERT_EQ(corio_any(bad, 2, &win, &r), CORIO_EGROUP);
    ASSERT_EQ(corio_error_group_size(corio_current_error()), 2);
    ASSERT_EQ(corio_any(NULL, 0, &win, &r), CORIO_EINVAL);
    return 0;
}

TEST(any_c_api) {
    in_task(any_body);
    return 0;
}
