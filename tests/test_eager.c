/* Eager tasks (asyncio 3.12's eager_task_factory): a task created while
 * its loop runs starts inside the creating call, from a task or from a
 * callback, nested too; otherwise tasks start on a later iteration. A
 * gather of eager children that all finished is done when made. */
#include "test.h"

static trace tr;

/* Logs its start, yields once, logs again, returns 7. */
static int yields_once(void *arg, void **res) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s-start", (const char *)arg);
    trace_add(&tr, buf);
    ASSERT(corio_task_get_name(corio_current_task()) != NULL);
    int rc = corio_sleep(0);
    if (rc < 0) return rc;
    snprintf(buf, sizeof buf, "%s-resumed", (const char *)arg);
    trace_add(&tr, buf);
    *res = (void *)7;
    return 0;
}

static int at_once(void *arg, void **res) {
    trace_add(&tr, "D-done");
    *res = arg;
    return 0;
}

static int eager_body(void) {
    corio_task *main = corio_current_task();
    trace_add(&tr, "main");
    corio_task *c, *d;
    ASSERT_EQ(corio_create_task(yields_once, "C", "C", &c), 0);
    ASSERT(corio_current_task() == main); /* back in the creator */
    ASSERT(!corio_future_done(c));
    trace_add(&tr, "created");
    ASSERT_EQ(corio_create_task(at_once, (void *)8, NULL, &d), 0);
    ASSERT(corio_future_done(d)); /* finished inside the call */
    void *v = NULL;
    ASSERT_EQ(corio_future_result(d, &v), 0);
    ASSERT(v == (void *)8);
    ASSERT_EQ(corio_sleep(0), 0); /* C's step was queued first */
    trace_add(&tr, "main-back");
    ASSERT_EQ(corio_await(c, &v), 0);
    ASSERT(v == (void *)7);
    corio_future_unref(c);
    corio_future_unref(d);
    return 0;
}

TEST(eager_task_starts_inside_create) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_set_eager_tasks(NULL, 1), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_set_eager_tasks(loop, 1), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, test_run_body, (void *)eager_body, NULL, 0, &t), 0);
    ASSERT(!corio_future_done(t)); /* the loop is not running: a later iteration */
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    ASSERT_STR(tr.buf, "main C-start created D-done C-resumed main-back");
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

/* Nested: P starts G eagerly inside its own eager step; each comes back
 * to its creator when it first suspends. */
static int grandchild(void *arg, void **res) {
    (void)arg;
    (void)res;
    trace_add(&tr, "G-start");
    ASSERT_EQ(corio_sleep(0), 0);
    trace_add(&tr, "G-resumed");
    return 0;
}

static int parent(void *arg, void **res) {
    (void)arg;
    (void)res;
    trace_add(&tr, "P-start");
    ASSERT_EQ(corio_create_task(grandchild, NULL, NULL, NULL), 0);
    trace_add(&tr, "P-after-G");
    ASSERT_EQ(corio_sleep(0), 0);
    trace_add(&tr, "P-resumed");
    return 0;
}

static int nested_body(void) {
    ASSERT_EQ(corio_create_task(parent, NULL, NULL, NULL), 0);
    trace_add(&tr, "main-after-P");
    ASSERT_EQ(corio_sleep(0), 0);
    trace_add(&tr, "main-resumed");
    return 0;
}

static void cb_creates(void *arg) {
    (void)arg;
    trace_add(&tr, "cb-before");
    ASSERT_EQ(corio_create_task(at_once, NULL, NULL, NULL), 0); /* runs on the loop's stack */
    trace_add(&tr, "cb-after");
}

TEST(eager_task_nested_and_from_callback) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_set_eager_tasks(loop, 1), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, test_run_body, (void *)nested_body, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    ASSERT_STR(tr.buf, "P-start G-start P-after-G main-after-P G-resumed P-resumed main-resumed");
    corio_future_unref(t);
    tr.buf[0] = 0;
    ASSERT_EQ(corio_call_soon(loop, cb_creates, NULL, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK);
    ASSERT_STR(tr.buf, "cb-before D-done cb-after");
    close_loop(loop);
    return 0;
}

/* Copy-mode tasks start lazily even on an eager loop. */
static int copy_body(void) {
    ASSERT_EQ(corio_loop_set_stack_mode(corio_get_running_loop(), CORIO_STACK_COPY), 0);
    corio_task *d;
    ASSERT_EQ(corio_create_task(at_once, (void *)1, NULL, &d), 0);
    ASSERT(!corio_future_done(d));
    ASSERT_EQ(corio_await(d, NULL), 0);
    corio_future_unref(d);
    return 0;
}

/* The eager child cancels its creator: delivered at the creator's next
 * suspension, as for any running task. */
static int cancels_creator(void *arg, void **res) {
    (void)res;
    ASSERT_EQ(corio_task_cancel(arg, "from child"), 1);
    return 0;
}

static int cancel_body(void) {
    ASSERT_EQ(corio_create_task(cancels_creator, corio_current_task(), NULL, NULL), 0);
    ASSERT_EQ(corio_sleep(0), CORIO_ECANCELED);
    ASSERT_EQ(corio_task_uncancel(corio_current_task()), 0);
    return 0;
}

TEST(eager_task_copy_mode_and_cancel) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_set_eager_tasks(loop, 1), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, test_run_body, (void *)copy_body, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_OWN), 0);
    ASSERT_EQ(corio_loop_create_task(loop, test_run_body, (void *)cancel_body, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

/* gather_wait over eager children: those done at once are collected (and
 * let go) then; a failure among them ends the gather before it is
 * awaited; a child still pending reads as CORIO_EINVALSTATE and keeps
 * running. */
static int fails_at_once(void *arg, void **res) {
    (void)arg;
    (void)res;
    return -5;
}

static int sleeps(void *arg, void **res) {
    int rc = corio_sleep(1);
    if (rc < 0) return rc;
    *res = arg;
    return 0;
}

static int gather_body(void) {
    corio_aw aws[] = {CORIO_CORO(at_once, (void *)1), CORIO_CORO(fails_at_once, NULL),
                      CORIO_CORO(sleeps, (void *)3), CORIO_CORO(at_once, (void *)4)};
    corio_outcome o[4];
    for (int i = 0; i < 4; i++) o[i] = (corio_outcome){9, NULL, NULL};
    double t0 = corio_loop_time(corio_get_running_loop());
    ASSERT_EQ(corio_gather_wait(aws, 4, 0, o), -5);
    ASSERT(corio_loop_time(corio_get_running_loop()) == t0); /* no wait at all */
    ASSERT(o[0].value == (void *)1 && o[3].value == (void *)4 && !o[1].value && !o[2].value);
    ASSERT(o[0].code == 0 && o[1].code == -5 && o[2].code == CORIO_EINVALSTATE && o[3].code == 0);
    ASSERT(o[1].error && !o[2].error);
    corio_outcomes_clear(o, 4);
    /* All well, with return_exceptions: everything by the time it returns. */
    corio_aw ok[] = {CORIO_CORO(at_once, (void *)5), CORIO_CORO(sleeps, (void *)6),
                     CORIO_CORO(fails_at_once, NULL)};
    ASSERT_EQ(corio_gather_wait(ok, 3, CORIO_RETURN_EXCEPTIONS, o), 0);
    ASSERT(o[0].value == (void *)5 && o[1].value == (void *)6 && !o[2].value);
    ASSERT(o[0].code == 0 && o[1].code == 0 && o[2].code == -5);
    corio_outcomes_clear(o, 3);
    /* The public gather of children all done: done when it returns. */
    corio_aw two[] = {CORIO_CORO(at_once, (void *)7), CORIO_CORO(at_once, (void *)8)};
    corio_future *g;
    ASSERT_EQ(corio_gather(two, 2, 0, &g), 0);
    ASSERT(corio_future_done(g));
    ASSERT(corio_future_done(corio_gather_child(g, 1)));
    void *r;
    ASSERT_EQ(corio_future_result(g, &r), 0);
    ASSERT(((void **)r)[0] == (void *)7 && ((void **)r)[1] == (void *)8);
    corio_future_unref(g);
    return 0;
}

TEST(eager_gather_collects) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_set_eager_tasks(loop, 1), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, test_run_body, (void *)gather_body, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK); /* the pending child finishes */
    close_loop(loop);
    return 0;
}

/* A gather_wait cancelled while its children run: nothing writes into
 * the caller's arrays after it returns (ASan would see it: they are
 * freed right after). */
static int cancelled_gather_body(void) {
    corio_aw aws[] = {CORIO_CORO(sleeps, (void *)1), CORIO_CORO(sleeps, (void *)2)};
    corio_outcome *outs = malloc(2 * sizeof *outs);
    ASSERT(outs);
    ASSERT_EQ(corio_gather_wait(aws, 2, 0, outs), CORIO_ECANCELED);
    corio_outcomes_clear(outs, 2);
    free(outs);
    return 0;
}

static int waits_cancelled_gather(void *arg, void **res) {
    (void)arg;
    (void)res;
    int rc = cancelled_gather_body();
    ASSERT_EQ(corio_task_uncancel(corio_current_task()), 0);
    return rc;
}

static void cancel_it(void *arg) { ASSERT_EQ(corio_task_cancel(arg, NULL), 1); }

TEST(gather_wait_cancelled_writes_nothing_after) {
    for (int eager = 0; eager < 2; eager++) {
        corio_loop *loop = vloop();
        ASSERT_EQ(corio_loop_set_eager_tasks(loop, eager), 0);
        corio_task *t;
        ASSERT_EQ(corio_loop_create_task(loop, waits_cancelled_gather, NULL, NULL, 0, &t), 0);
        ASSERT_EQ(corio_call_later(loop, 0.5, cancel_it, t, NULL), 0);
        ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
        ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK); /* the children end, cancelled */
        ASSERT_EQ(corio_all_tasks(loop, NULL, 0), 0);
        corio_future_unref(t);
        close_loop(loop);
    }
    return 0;
}
