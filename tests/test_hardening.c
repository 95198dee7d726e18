/* Regression tests for the defects a hostile review found (issue 16), one
 * or more per defect, each failing before its fix (under ASan where the
 * defect was a use after free), and for the ownership rule's pieces. */
#include "test.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

static int sleep_ret(void *arg, void **res) {
    double d = (double)(intptr_t)arg / 10;
    int rc = corio_sleep(d);
    if (rc < 0) return rc;
    *res = arg;
    return 0;
}

/* Runs fn as the main task of a virtual-time loop; it must return 0. */
static void in_task_fn(corio_fn fn) {
    corio_loop *loop = vloop();
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, fn, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
}

static int fail_msg(void *arg, void **res) {
    (void)res;
    int rc = corio_sleep(0.1);
    if (rc < 0) return rc;
    return corio_raise(CORIO_EUSER(7), "job %ld failed", (long)(intptr_t)arg);
}

/* 1. Copy mode: gather_wait's outcomes reach the caller's array, though
 * it lives on the shared stack, which other tasks use while it waits. */
static int copy_gatherer2(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_outcome out[3];
    corio_aw aws[3] = {CORIO_CORO(sleep_ret, (void *)2), CORIO_CORO(fail_msg, (void *)9),
                       CORIO_CORO(sleep_ret, (void *)1)};
    ASSERT_EQ(corio_gather_wait(aws, 3, CORIO_RETURN_EXCEPTIONS, out), 0);
    ASSERT_EQ(out[0].code, 0);
    ASSERT_EQ((intptr_t)out[0].value, 2);
    ASSERT_EQ(out[1].code, CORIO_EUSER(7));
    ASSERT_STR(corio_error_message(out[1].error), "job 9 failed");
    ASSERT_EQ((intptr_t)out[2].value, 1);
    corio_outcomes_clear(out, 3);
    ASSERT(out[1].error == NULL);
    /* Fail fast: the pending ones say so, and nothing writes later. */
    ASSERT_EQ(corio_gather_wait(aws, 3, 0, out), CORIO_EUSER(7));
    ASSERT_EQ(out[0].code, CORIO_EINVALSTATE);
    ASSERT_EQ(out[1].code, CORIO_EUSER(7));
    corio_outcomes_clear(out, 3);
    return corio_sleep(1); /* the others finish meanwhile: no write into out */
}

TEST(copy_mode_gather_wait_outcomes) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    corio_task *a, *b;
    ASSERT_EQ(corio_loop_create_task(loop, copy_gatherer2, NULL, NULL, 0, &a), 0);
    ASSERT_EQ(corio_loop_create_task(loop, copy_gatherer2, NULL, NULL, 0, &b), 0);
    corio_aw both[2] = {CORIO_FUT(a), CORIO_FUT(b)};
    corio_future *g;
    ASSERT_EQ(corio_gather(both, 2, 0, &g), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, g, NULL), 0);
    corio_future_unref(g);
    corio_future_unref(a);
    corio_future_unref(b);
    close_loop(loop);
    return 0;
}

/* 2. Posting from other threads while the loop closes: CORIO_ECLOSED, never
 * a touch of freed memory (ASan saw one before). */
typedef struct poster {
    corio_loop *loop;
    _Atomic int go, stop;
    _Atomic long posted, refused;
} poster;

static void nop(void *arg) { (void)arg; }

static void *post_loop(void *arg) {
    poster *p = arg;
    while (!p->go) {
    }
    while (!p->stop) {
        int rc = corio_call_soon_threadsafe(p->loop, nop, NULL);
        if (rc == 0) p->posted++;
        else if (rc == CORIO_ECLOSED) p->refused++;
        else ASSERT(0);
    }
    return NULL;
}

TEST(thread_post_while_closing) {
    for (int round = 0; round < 20; round++) {
        poster p = {0};
        ASSERT_EQ(corio_loop_new(&p.loop), 0);
        pthread_t th[2];
        for (int i = 0; i < 2; i++) ASSERT_EQ(pthread_create(&th[i], NULL, post_loop, &p), 0);
        p.go = 1;
        usleep(200);
        ASSERT_EQ(corio_loop_close(p.loop), 0); /* while they post */
        long before = p.refused;
        while (p.refused < before + 10) {
        }
        ASSERT_EQ(corio_call_soon_threadsafe(p.loop, nop, NULL), CORIO_ECLOSED);
        p.stop = 1;
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        ASSERT_EQ(corio_loop_free(p.loop), 0);
    }
    return 0;
}

/* 3. run_coroutine_threadsafe futures complete (cancelled) when the loop
 * closes, whether their task had started or not; cancel and free after
 * the loop is gone are safe; nothing leaks (the runner counts fds). */
static int sleep_forever(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_sleep(CORIO_FOREVER);
}

typedef struct cf_case {
    corio_loop *loop;
    corio_cfuture *cf;
    int rc;
} cf_case;

static void *submit_and_wait(void *arg) {
    cf_case *c = arg;
    ASSERT_EQ(corio_run_coroutine_threadsafe(c->loop, sleep_forever, NULL, &c->cf), 0);
    c->rc = corio_cfuture_wait(c->cf, 30, NULL);
    return NULL;
}

static void stop_loop(void *arg) { corio_loop_stop(arg); }

TEST(thread_cfuture_completed_at_close) {
    /* Not started: the loop never ran. */
    cf_case c = {0};
    ASSERT_EQ(corio_loop_new(&c.loop), 0);
    ASSERT_EQ(corio_run_coroutine_threadsafe(c.loop, sleep_forever, NULL, &c.cf), 0);
    ASSERT_EQ(corio_loop_close(c.loop), 0);
    ASSERT_EQ(corio_cfuture_wait(c.cf, 30, NULL), CORIO_ECANCELED);
    ASSERT_EQ(corio_loop_free(c.loop), 0);
    ASSERT_EQ(corio_cfuture_cancel(c.cf), 0); /* done already: the freed loop is not touched */
    corio_cfuture_free(c.cf);
    /* Started, and suspended forever, from another thread that waits. */
    cf_case d = {0};
    ASSERT_EQ(corio_loop_new(&d.loop), 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, submit_and_wait, &d), 0);
    while (corio_all_tasks(d.loop, NULL, 0) == 0) { /* its task starts on this loop */
        corio_handle *h;
        ASSERT_EQ(corio_call_later(d.loop, 0.001, stop_loop, d.loop, &h), 0);
        ASSERT_EQ(corio_loop_run_forever(d.loop), 0);
        corio_handle_unref(h);
    }
    corio_cfuture_free(NULL);
    ASSERT_EQ(corio_loop_free(d.loop), 0); /* closes: the waiter wakes */
    pthread_join(th, NULL);
    ASSERT_EQ(d.rc, CORIO_ECANCELED);
    corio_cfuture_free(d.cf);
    return 0;
}

/* 11a. Waiting on a cfuture from the loop's own thread can never finish. */
static int wait_own(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_cfuture *cf;
    ASSERT_EQ(corio_run_coroutine_threadsafe(corio_get_running_loop(), sleep_ret, (void *)1, &cf), 0);
    ASSERT_EQ(corio_cfuture_wait(cf, 5, NULL), CORIO_EDEADLK);
    ASSERT_EQ(corio_cfuture_wait(cf, CORIO_FOREVER, NULL), CORIO_EDEADLK);
    corio_cfuture_free(cf);
    return 0;
}

TEST(thread_cfuture_wait_own_loop) {
    in_task_fn(wait_own);
    return 0;
}

/* 9. cfuture_wait with a huge timeout waits (it timed out at once). */
static void *slow_complete(void *arg) {
    cf_case *c = arg;
    c->rc = corio_cfuture_wait(c->cf, 1e20, NULL);
    return NULL;
}

TEST(thread_cfuture_huge_timeout) {
    cf_case c = {0};
    ASSERT_EQ(corio_loop_new(&c.loop), 0);
    ASSERT_EQ(corio_run_coroutine_threadsafe(c.loop, sleep_ret, (void *)1, &c.cf), 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, slow_complete, &c), 0);
    usleep(20000);
    corio_handle *h;
    ASSERT_EQ(corio_call_later(c.loop, 0.3, stop_loop, c.loop, &h), 0);
    ASSERT_EQ(corio_loop_run_forever(c.loop), 0);
    corio_handle_unref(h);
    pthread_join(th, NULL);
    ASSERT_EQ(c.rc, 0);
    ASSERT_EQ(corio_cfuture_wait(c.cf, -INFINITY, NULL), 0); /* done: no wait */
    ASSERT_EQ(corio_cfuture_wait(c.cf, NAN, NULL), CORIO_EINVAL);
    corio_cfuture_free(c.cf);
    close_loop(c.loop);
    return 0;
}

/* 4 and 13. A woken waiter still counts until it has left the call. */
static corio_queue *the_q;
static int getter(void *arg, void **res) {
    (void)arg;
    (void)res;
    void *item;
    ASSERT_EQ(corio_queue_get(the_q, &item), CORIO_ESHUTDOWN);
    return 0;
}

static int free_while_woken(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_task *g;
    ASSERT_EQ(corio_create_task(getter, NULL, NULL, &g), 0);
    ASSERT_EQ(corio_sleep(0), 0); /* it waits */
    ASSERT_EQ(corio_queue_shutdown(the_q, 0), 0); /* woken, not resumed */
    ASSERT_EQ(corio_queue_free(the_q), CORIO_EBUSY);
    ASSERT_EQ(corio_await(g, NULL), 0);
    ASSERT_EQ(corio_queue_free(the_q), 0);
    corio_future_unref(g);
    return 0;
}

static corio_as_completed *the_ac;
static int ac_getter(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_future *f;
    ASSERT_EQ(corio_as_completed_next(the_ac, &f), 1);
    corio_future_unref(f);
    return 0;
}

static corio_futset *the_set;
static int set_waiter(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_futset *done;
    ASSERT_EQ(corio_wait_set(the_set, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done), 0);
    ASSERT_EQ(corio_futset_free(done), 0);
    return 0;
}

static int set_frees_busy(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_future *f;
    ASSERT_EQ(corio_future_new(corio_get_running_loop(), &f), 0);
    corio_aw one = CORIO_FUT(f);
    ASSERT_EQ(corio_as_completed_new(&one, 1, CORIO_FOREVER, &the_ac), 0);
    ASSERT_EQ(corio_futset_new(&the_set), 0);
    ASSERT_EQ(corio_futset_add(the_set, f), 1);
    corio_task *a, *b;
    ASSERT_EQ(corio_create_task(ac_getter, NULL, NULL, &a), 0);
    ASSERT_EQ(corio_create_task(set_waiter, NULL, NULL, &b), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_as_completed_free(the_ac), CORIO_EBUSY); /* waiting */
    ASSERT_EQ(corio_futset_free(the_set), CORIO_EBUSY);
    ASSERT_EQ(corio_futset_await(the_set), CORIO_EBUSY);
    ASSERT_EQ(corio_future_set_result(f, NULL), 0);
    ASSERT_EQ(corio_sleep(0), 0); /* the watches ran: both woken, not resumed */
    ASSERT_EQ(corio_as_completed_free(the_ac), CORIO_EBUSY);
    ASSERT_EQ(corio_futset_free(the_set), CORIO_EBUSY);
    ASSERT_EQ(corio_await(a, NULL), 0);
    ASSERT_EQ(corio_await(b, NULL), 0);
    ASSERT_EQ(corio_as_completed_free(the_ac), 0);
    ASSERT_EQ(corio_futset_free(the_set), 0);
    corio_future_unref(a);
    corio_future_unref(b);
    corio_future_unref(f);
    return 0;
}

TEST(free_busy_while_woken) {
    ASSERT_EQ(corio_queue_new(&the_q, 0), 0);
    in_task_fn(free_while_woken);
    in_task_fn(set_frees_busy);
    return 0;
}

/* 5. The overflow message names the task when the loop was created in one
 * thread and runs in another. */
static volatile int bottomless = 1;
static int __attribute__((noinline)) blow(volatile char *prev) {
    volatile char pad[512];
    pad[0] = prev ? prev[0] : 1;
    return bottomless ? blow(pad) + pad[1] : 0;
}
static int recurse_forever(void *arg, void **res) {
    (void)arg;
    *res = (void *)(intptr_t)blow(NULL);
    return 0;
}

static void *run_elsewhere(void *arg) {
    corio_loop *loop = arg;
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, recurse_forever, NULL, "far-diver", 0, &t), 0);
    corio_loop_run_until_complete(loop, t, NULL);
    return NULL;
}

TEST(stack_overflow_message_other_thread) {
    if (getenv("CORIO_TEST_EMULATED")) {
        puts("skipped: qemu-user ignores MADV_GUARD_INSTALL, so there is no guard page");
        return TEST_SKIP;
    }
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        corio_loop *loop = vloop(); /* made here, run by another thread */
        pthread_t th;
        pthread_create(&th, NULL, run_elsewhere, loop);
        pthread_join(th, NULL);
        _exit(0); /* not reached */
    }
    close(fds[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    fprintf(stderr, "child said: %s", buf);
    ASSERT(WIFSIGNALED(status));
    ASSERT(strstr(buf, "corio: task 'far-diver' overflowed its stack"));
    return 0;
}

/* 6. After close the handle stays valid until free: no future alive. */
TEST(loop_valid_after_close) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_loop_is_closed(loop), 1);
    ASSERT_EQ(corio_loop_close(loop), CORIO_ECLOSED);
    ASSERT_EQ(corio_call_soon_threadsafe(loop, nop, NULL), CORIO_ECLOSED);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_ECLOSED);
    ASSERT_EQ(corio_loop_set_thread_pool_size(loop, 2), CORIO_ECLOSED);
    ASSERT_EQ(corio_loop_free(loop), 0);
    ASSERT_EQ(corio_loop_free(NULL), 0);
    /* free without close closes. */
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    return 0;
}

/* A program still holding a future when it frees the loop hears of it. */
TEST(loop_free_reports_held_references) {
    reports r = {0};
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_set_exception_handler(loop, capture_report, &r), 0);
    corio_future *f;
    ASSERT_EQ(corio_future_new(loop, &f), 0);
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(r.n, 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    ASSERT_EQ(r.n, 1);
    ASSERT(strstr(r.last, "still referenced"));
    ASSERT_EQ(corio_future_set_result(f, NULL), CORIO_ECLOSED);
    corio_future_unref(f); /* the loop's memory goes now */
    return 0;
}

/* 7. create_task on a group that has exited: CORIO_EINVALSTATE. */
static int group_after_exit(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_taskgroup *tg;
    ASSERT_EQ(corio_taskgroup_enter(&tg), 0);
    ASSERT_EQ(corio_taskgroup_create_task(tg, sleep_ret, (void *)1, NULL, NULL), 0);
    ASSERT_EQ(corio_taskgroup_exit(tg, 0), 0);
    ASSERT_EQ(corio_taskgroup_create_task(tg, sleep_ret, (void *)1, NULL, NULL), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_taskgroup_exit(tg, 0), CORIO_EINVALSTATE); /* twice */
    return 0;
}

TEST(taskgroup_create_after_exit) {
    in_task_fn(group_after_exit);
    ASSERT_EQ(corio_taskgroup_create_task(NULL, sleep_ret, NULL, NULL, NULL), CORIO_EINVAL);
    return 0;
}

/* 8. A scope left open when its task ends is disarmed and reported, and
 * never cancels anything later; so is a task group. */
static int leave_scope_open(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(1.0, &cm), 0);
    return 0; /* no exit */
}

static int leave_group_open(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_taskgroup *tg;
    ASSERT_EQ(corio_taskgroup_enter(&tg), 0);
    ASSERT_EQ(corio_taskgroup_create_task(tg, sleep_ret, (void *)5, NULL, NULL), 0);
    return 0;
}

static int sleeper2(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_sleep(2.0); /* would be cancelled at t=1 by the stale scope */
}

TEST(timeout_left_open_disarmed) {
    reports r = {0};
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_set_exception_handler(loop, capture_report, &r), 0);
    corio_task *a, *b, *c;
    ASSERT_EQ(corio_loop_create_task(loop, leave_scope_open, NULL, NULL, 0, &a), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, a, NULL), 0);
    ASSERT_EQ(r.n, 1);
    ASSERT(strstr(r.last, "timeout scope was never exited"));
    corio_future_unref(a); /* its memory may be reused by the next task */
    ASSERT_EQ(corio_loop_create_task(loop, sleeper2, NULL, NULL, 0, &b), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, b, NULL), 0);
    ASSERT(!corio_future_cancelled(b));
    ASSERT_EQ(corio_loop_create_task(loop, leave_group_open, NULL, NULL, 0, &c), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, c, NULL), 0);
    ASSERT_EQ(r.n, 2);
    ASSERT(strstr(r.last, "task group was never exited"));
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK); /* its task ran on and finished */
    corio_future_unref(b);
    corio_future_unref(c);
    close_loop(loop);
    return 0;
}

/* 9. One rule for every timeout and delay. */
static int rule_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_loop *loop = corio_get_running_loop();
    double t0 = corio_loop_time(loop);
    ASSERT_EQ(corio_sleep(NAN), CORIO_EINVAL);
    ASSERT_EQ(corio_sleep(-INFINITY), 0); /* now: a yield */
    ASSERT(corio_loop_time(loop) == t0);
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(NAN, &cm), CORIO_EINVAL);
    ASSERT_EQ(corio_timeout_enter(-INFINITY, &cm), 0); /* expires at once */
    ASSERT_EQ(corio_timeout_exit(cm, corio_sleep(10)), CORIO_ETIMEDOUT);
    ASSERT(corio_loop_time(loop) == t0);
    ASSERT_EQ(corio_timeout_enter(CORIO_FOREVER, &cm), 0);
    ASSERT(corio_timeout_when(cm) == CORIO_FOREVER);
    ASSERT_EQ(corio_timeout_reschedule(cm, NAN), CORIO_EINVAL);
    ASSERT_EQ(corio_timeout_reschedule(cm, -INFINITY), 0);
    ASSERT_EQ(corio_timeout_exit(cm, corio_sleep(10)), CORIO_ETIMEDOUT);
    corio_task *t;
    ASSERT_EQ(corio_create_task(sleep_ret, (void *)10, NULL, &t), 0);
    corio_aw one = CORIO_FUT(t);
    ASSERT_EQ(corio_wait_for(one, NAN, NULL), CORIO_EINVAL);
    corio_futset *done, *pending;
    ASSERT_EQ(corio_wait(&one, 1, -INFINITY, CORIO_ALL_COMPLETED, &done, &pending), 0);
    ASSERT_EQ(corio_futset_size(done), 0); /* returned at once (it meant forever) */
    ASSERT_EQ(corio_futset_size(pending), 1);
    corio_futset_free(done);
    ASSERT_EQ(corio_wait_set(pending, NAN, 0, &done), CORIO_EINVAL);
    corio_futset_free(pending);
    corio_as_completed *it;
    ASSERT_EQ(corio_as_completed_new(&one, 1, -INFINITY, &it), 0);
    corio_future *f;
    ASSERT_EQ(corio_as_completed_next(it, &f), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_as_completed_free(it), 0);
    ASSERT_EQ(corio_wait_for(one, -INFINITY, NULL), CORIO_ETIMEDOUT); /* cancelled at once */
    corio_future_unref(t);
    /* Beyond the clock's range: saturates, and in virtual time returns
     * once the clock gets there; then the clock stays at its end. */
    ASSERT_EQ(corio_sleep(1e300), 0);
    double end = corio_loop_time(loop);
    ASSERT(end > 9.2e9 && end < 9.3e9);
    ASSERT_EQ(corio_sleep(1e18), 0);
    ASSERT(corio_loop_time(loop) == end);
    return 0;
}

TEST(timeouts_one_rule) {
    in_task_fn(rule_body);
    corio_loop *loop = vloop();
    corio_handle *h;
    ASSERT_EQ(corio_call_later(loop, NAN, nop, NULL, &h), CORIO_EINVAL);
    ASSERT_EQ(corio_call_at(loop, -1e300, nop, NULL, &h), 0); /* a deadline long past */
    ASSERT(corio_handle_when(h) < 0);
    corio_handle_unref(h);
    ASSERT_EQ(corio_call_later(loop, CORIO_FOREVER, nop, NULL, &h), 0); /* never runs */
    ASSERT(corio_handle_when(h) == CORIO_FOREVER);
    corio_handle_unref(h);
    ASSERT_EQ(corio_call_later(loop, CORIO_FOREVER, nop, NULL, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, sleep_forever, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), CORIO_EDEADLK); /* forever */
    ASSERT_EQ(corio_task_cancel(t, NULL), 1);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), CORIO_ECANCELED);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

/* 10. Counts that would overflow are refused. */
TEST(counts_never_wrap) {
    corio_semaphore *s;
    ASSERT_EQ(corio_semaphore_new(&s, SIZE_MAX - 1), 0);
    ASSERT_EQ(corio_semaphore_release(s), 0);
    ASSERT_EQ(corio_semaphore_value(s), SIZE_MAX);
    ASSERT_EQ(corio_semaphore_release(s), -EOVERFLOW);
    ASSERT_EQ(corio_semaphore_value(s), SIZE_MAX);
    ASSERT_EQ(corio_semaphore_free(s), 0);
    return 0;
}

/* 11b. Unknown gather flags. */
static int bad_flags(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_aw one = CORIO_CORO(sleep_ret, (void *)1);
    corio_future *g;
    ASSERT_EQ(corio_gather(&one, 1, 2, &g), CORIO_EINVAL);
    ASSERT_EQ(corio_gather_wait(&one, 1, ~0, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_all_tasks(NULL, NULL, 0), 1); /* nothing was made */
    return 0;
}

TEST(gather_unknown_flags) {
    in_task_fn(bad_flags);
    return 0;
}

/* 12. Deadlines order as CPython's floats: 0.1*3 is after 0.3. */
static void mark(void *arg) { trace_add(((trace **)arg)[0], ((const char **)arg)[1]); }

static int float_order_task(void *arg, void **res) {
    (void)res;
    trace *tr = arg;
    int rc = corio_sleep(0.1 * 3);
    trace_add(tr, "sleep");
    return rc;
}

static int float_order_main(void *arg, void **res) {
    (void)res;
    trace *tr = arg;
    corio_task *t;
    ASSERT_EQ(corio_loop_set_eager_tasks(corio_get_running_loop(), 1), 0);
    ASSERT_EQ(corio_create_task(float_order_task, tr, NULL, &t), 0); /* sleeps 0.1*3 at t=0 */
    corio_aw one = CORIO_FUT(t);
    corio_futset *done, *pending;
    ASSERT_EQ(corio_wait(&one, 1, 0.3, CORIO_ALL_COMPLETED, &done, &pending), 0);
    trace_add(tr, corio_futset_size(done) ? "wait-done" : "wait-timeout");
    corio_futset_free(done);
    corio_futset_free(pending);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    return 0;
}

TEST(deadlines_order_as_floats) {
    trace tr = {{0}};
    corio_loop *loop = vloop();
    const void *a[2] = {&tr, "a"}, *b[2] = {&tr, "b"};
    ASSERT_EQ(corio_call_later(loop, 0.1 * 3, mark, a, NULL), 0);
    ASSERT_EQ(corio_call_later(loop, 0.3, mark, b, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK);
    ASSERT_STR(tr.buf, "b a");
    close_loop(loop);
    /* Seed exercise 3 under eager tasks: CPython times the wait out first. */
    trace tr2 = {{0}};
    loop = vloop();
    corio_task *m;
    ASSERT_EQ(corio_loop_create_task(loop, float_order_main, &tr2, NULL, 0, &m), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, m, NULL), 0);
    ASSERT_STR(tr2.buf, "wait-timeout sleep");
    corio_future_unref(m);
    close_loop(loop);
    return 0;
}

/* 13. Double exit of a timeout scope is detected (not a use after free). */
static int double_exit(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_timeout *cm, *inner;
    ASSERT_EQ(corio_timeout_enter(5, &cm), 0);
    ASSERT_EQ(corio_timeout_enter(6, &inner), 0);
    ASSERT_EQ(corio_timeout_exit(inner, 0), 0);
    ASSERT_EQ(corio_timeout_exit(inner, 0), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_timeout_exit(cm, 0), 0);
    ASSERT_EQ(corio_timeout_exit(cm, 0), CORIO_EINVALSTATE);
    return 0;
}

TEST(timeout_double_exit_detected) {
    in_task_fn(double_exit);
    return 0;
}

/* Results nobody takes go to the release hook: a fail-fast gather's other
 * children, corio_any's second success, a task that finished after its
 * waiter gave up, a result awaited with NULL. */
static _Atomic int released;
static void count_release(void *p) {
    ASSERT(p != NULL);
    released++;
    free(p);
}

static int alloc_result(void *arg, void **res) {
    ASSERT_EQ(corio_future_set_release(corio_current_task(), count_release), 0);
    int rc = corio_sleep((double)(intptr_t)arg / 10);
    if (rc < 0) return rc;
    *res = malloc(16);
    return 0;
}

static int release_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    /* fail fast: the two others finish later, nobody takes their results */
    corio_aw aws[3] = {CORIO_CORO(alloc_result, (void *)3), CORIO_CORO(fail_msg, (void *)1),
                       CORIO_CORO(alloc_result, (void *)2)};
    ASSERT_EQ(corio_gather_wait(aws, 3, 0, NULL), CORIO_EUSER(7));
    ASSERT_EQ(corio_sleep(1), 0);
    ASSERT_EQ(released, 2);
    /* any: two succeed in the same round; the winner's is taken */
    corio_aw two[2] = {CORIO_CORO(alloc_result, (void *)1), CORIO_CORO(alloc_result, (void *)1)};
    size_t win;
    void *r;
    ASSERT_EQ(corio_any(two, 2, &win, &r), 0);
    ASSERT_EQ(win, 0);
    ASSERT_EQ(released, 3);
    free(r);
    /* wait gives up on it; it finishes after its last reference went */
    corio_task *t;
    ASSERT_EQ(corio_create_task(alloc_result, (void *)5, NULL, &t), 0);
    corio_futset *done, *pending;
    ASSERT_EQ(corio_wait_tasks(&t, 1, 0.1, CORIO_ALL_COMPLETED, &done, &pending), 0);
    ASSERT_EQ(corio_futset_size(pending), 1);
    corio_futset_free(done);
    corio_futset_free(pending);
    corio_future_unref(t);
    ASSERT_EQ(released, 3);
    ASSERT_EQ(corio_sleep(1), 0);
    ASSERT_EQ(released, 4);
    /* awaited with NULL: not taken */
    ASSERT_EQ(corio_create_task(alloc_result, (void *)1, NULL, &t), 0);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(released, 5);
    /* taken: not released */
    ASSERT_EQ(corio_create_task(alloc_result, (void *)1, NULL, &t), 0);
    ASSERT_EQ(corio_await(t, &r), 0);
    corio_future_unref(t);
    ASSERT_EQ(released, 5);
    free(r);
    return 0;
}

TEST(results_nobody_takes_are_released) {
    in_task_fn(release_body);
    return 0;
}

/* asyncio.run(main, loop_factory=...): the clean-up on a configured loop. */
static int leaves_work(void *arg, void **res) {
    (void)arg;
    ASSERT_EQ(corio_create_task(sleep_forever, NULL, "left", NULL), 0);
    ASSERT_EQ(corio_sleep(100), 0); /* virtual: instant */
    *res = (void *)42;
    return 0;
}

TEST(run_main_on_a_configured_loop) {
    corio_loop *loop = vloop();
    reports r = {0};
    ASSERT_EQ(corio_loop_set_exception_handler(loop, capture_report, &r), 0);
    void *res = NULL;
    ASSERT_EQ(corio_loop_run_main(loop, leaves_work, NULL, &res), 0);
    ASSERT_EQ((intptr_t)res, 42);
    ASSERT_EQ(r.n, 0); /* the one left was cancelled and awaited, not destroyed pending */
    ASSERT(corio_loop_is_closed(loop));
    ASSERT(corio_loop_time(loop) == 100);
    ASSERT_EQ(corio_loop_run_main(loop, leaves_work, NULL, &res), CORIO_ECLOSED);
    ASSERT_EQ(corio_loop_free(loop), 0);
    return 0;
}

/* wait / gather / any over the tasks a program holds; set helpers. */
static int tasks_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_task *ts[3];
    for (intptr_t i = 0; i < 3; i++) ASSERT_EQ(corio_create_task(sleep_ret, (void *)(i + 1), NULL, &ts[i]), 0);
    corio_future *g;
    ASSERT_EQ(corio_gather_tasks(ts, 3, 0, &g), 0);
    void **vals;
    ASSERT_EQ(corio_await(g, (void **)&vals), 0);
    ASSERT_EQ((intptr_t)vals[2], 3);
    corio_future_unref(g);
    corio_futset *done, *pending;
    ASSERT_EQ(corio_wait_tasks(ts, 3, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done, &pending), 0);
    ASSERT_EQ(corio_futset_size(done), 3);
    corio_futset_free(done);
    corio_futset_free(pending);
    for (int i = 0; i < 3; i++) corio_future_unref(ts[i]);
    for (intptr_t i = 0; i < 3; i++) ASSERT_EQ(corio_create_task(sleep_ret, (void *)(10 * (i + 1)), NULL, &ts[i]), 0);
    size_t win;
    void *r;
    ASSERT_EQ(corio_any_tasks(ts, 3, &win, &r), 0);
    ASSERT_EQ(win, 0);
    ASSERT(corio_future_cancelled(ts[1]) && corio_future_cancelled(ts[2]));
    for (int i = 0; i < 3; i++) corio_future_unref(ts[i]);
    corio_futset *s;
    ASSERT_EQ(corio_futset_new(&s), 0);
    for (intptr_t i = 0; i < 3; i++) {
        corio_task *t;
        ASSERT_EQ(corio_create_task(sleep_ret, (void *)(i + 1), NULL, &t), 0);
        ASSERT_EQ(corio_futset_add(s, t), 1);
        corio_future_unref(t);
    }
    ASSERT_EQ(corio_sleep(0.15), 0);
    ASSERT_EQ(corio_futset_cancel(s, "enough"), 2);
    ASSERT_EQ(corio_futset_await(s), 0);
    ASSERT_EQ(corio_futset_size(s), 3);
    for (size_t i = 0; i < 3; i++) ASSERT(corio_future_done(corio_futset_get(s, i)));
    ASSERT_EQ(corio_futset_free(s), 0);
    corio_task *bad[1] = {NULL};
    ASSERT_EQ(corio_gather_tasks(bad, 1, 0, &g), CORIO_EINVAL);
    return 0;
}

TEST(combinators_over_tasks) {
    in_task_fn(tasks_body);
    return 0;
}

/* The program's own error codes, and a generic runtime error. */
TEST(user_error_codes) {
    ASSERT_STR(corio_strerror(CORIO_EUSER(5)), "program error 5");
    ASSERT_STR(corio_strerror(CORIO_EUSER(CORIO_EUSER_MAX)), "program error 9999");
    ASSERT_STR(corio_strerror(CORIO_ERUNTIME), "runtime error");
    ASSERT_STR(corio_strerror(CORIO_EUSER(CORIO_EUSER_MAX) - 1), "unknown error");
    ASSERT(CORIO_EUSER(0) < -4999);
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", CORIO_VERSION_MAJOR, CORIO_VERSION_MINOR, CORIO_VERSION_PATCH);
    ASSERT_STR(corio_version(), v);
    return 0;
}

/* ---- found by a second hostile review ------------------------------------ */

/* A gather nobody takes the result of, and corio_any asked for no result:
 * each child's result goes back through its release hook. */
static int release_body2(void *arg, void **res) {
    (void)arg;
    (void)res;
    released = 0;
    corio_aw aws[2] = {CORIO_CORO(alloc_result, (void *)1), CORIO_CORO(alloc_result, (void *)2)};
    corio_future *g;
    ASSERT_EQ(corio_gather(aws, 2, 0, &g), 0);
    ASSERT_EQ(corio_await(g, NULL), 0);
    corio_future_unref(g);
    ASSERT_EQ(released, 2);
    /* taken through the gather's result: the program has them */
    ASSERT_EQ(corio_gather(aws, 2, 0, &g), 0);
    void **vals;
    ASSERT_EQ(corio_await(g, (void **)&vals), 0);
    free(vals[0]);
    free(vals[1]);
    corio_future_unref(g);
    ASSERT_EQ(released, 2);
    ASSERT_EQ(corio_any(aws, 1, NULL, NULL), 0);
    ASSERT_EQ(released, 3);
    return 0;
}

TEST(results_dropped_by_gather_and_any_are_released) {
    in_task_fn(release_body2);
    return 0;
}

/* An empty as_completed outlives its loop: freeing it touches nothing of
 * the loop's (ASan: a use after free before the fix). */
static corio_as_completed *empty_it;
static int make_empty_ac(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_as_completed_new(NULL, 0, CORIO_FOREVER, &empty_it);
}

TEST(as_completed_empty_outlives_loop) {
    ASSERT_EQ(corio_run(make_empty_ac, NULL, NULL), 0);
    ASSERT_EQ(corio_as_completed_free(empty_it), 0);
    return 0;
}

/* Closing a loop while a pool job waits on a coroutine of that loop: close
 * completes the job's cfuture (cancelled) before it joins the worker, so
 * it returns instead of hanging (the test's timeout catches a hang). */
static corio_loop *cb_loop;
static _Atomic int worker_rc = 1;
static int sleep_long(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_sleep(100);
}
static int waits_on_loop(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_cfuture *cf;
    ASSERT_EQ(corio_run_coroutine_threadsafe(cb_loop, sleep_long, NULL, &cf), 0);
    worker_rc = corio_cfuture_wait(cf, CORIO_FOREVER, NULL);
    corio_cfuture_free(cf);
    return 0;
}
static int offload_waiter(void *arg, void **res) {
    (void)arg;
    return corio_to_thread(waits_on_loop, NULL, NULL, res);
}
static int start_offload(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_create_task(offload_waiter, NULL, NULL, NULL), 0);
    return corio_sleep(0.2); /* real time: the worker blocks meanwhile */
}

TEST(thread_close_while_job_waits_on_loop) {
    ASSERT_EQ(corio_loop_new(&cb_loop), 0);
    corio_task *m;
    ASSERT_EQ(corio_loop_create_task(cb_loop, start_offload, NULL, NULL, 0, &m), 0);
    ASSERT_EQ(corio_loop_run_until_complete(cb_loop, m, NULL), 0);
    corio_future_unref(m);
    corio_loop_set_exception_handler(cb_loop, quiet, NULL);
    ASSERT_EQ(corio_loop_close(cb_loop), 0);
    ASSERT_EQ(worker_rc, CORIO_ECANCELED);
    ASSERT_EQ(corio_loop_free(cb_loop), 0);
    return 0;
}

/* wait_set refuses a set another task awaits (it would move members under
 * the await), so the await returns only when every member is done. */
static corio_futset *busy_set;
static corio_future *members[3];
static int awaits_set(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_futset_await(busy_set), 0);
    for (int i = 0; i < 3; i++) ASSERT(corio_future_done(members[i]));
    return 0;
}
static int waits_set(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_futset *done = NULL;
    ASSERT_EQ(corio_wait_set(busy_set, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done), CORIO_EBUSY);
    ASSERT(done == NULL);
    return 0;
}
static int futset_race_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_loop *loop = corio_get_running_loop();
    ASSERT_EQ(corio_futset_new(&busy_set), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(corio_future_new(loop, &members[i]), 0);
        ASSERT_EQ(corio_futset_add(busy_set, members[i]), 1);
    }
    corio_task *a, *b;
    ASSERT_EQ(corio_create_task(awaits_set, NULL, NULL, &a), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_create_task(waits_set, NULL, NULL, &b), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(corio_future_set_result(members[i], NULL), 0);
        ASSERT_EQ(corio_sleep(0.01), 0);
    }
    ASSERT_EQ(corio_await(a, NULL), 0);
    ASSERT_EQ(corio_await(b, NULL), 0);
    corio_future_unref(a);
    corio_future_unref(b);
    for (int i = 0; i < 3; i++) corio_future_unref(members[i]);
    ASSERT_EQ(corio_futset_free(busy_set), 0);
    return 0;
}

TEST(wait_set_refuses_an_awaited_set) {
    in_task_fn(futset_race_body);
    return 0;
}

/* Loops in two threads cancel futures without a message: the shared bare
 * cancel error is not counted (TSan: a data race before the fix). */
static int bare_cancels(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_loop *loop = corio_get_running_loop();
    for (int i = 0; i < 5000; i++) {
        corio_future *f;
        ASSERT_EQ(corio_future_new(loop, &f), 0);
        ASSERT_EQ(corio_future_cancel(f, NULL), 1);
        corio_future_unref(f);
    }
    return 0;
}
static void *bare_cancel_thread(void *arg) {
    (void)arg;
    ASSERT_EQ(corio_run(bare_cancels, NULL, NULL), 0);
    return NULL;
}

TEST(thread_bare_cancel_shared) {
    pthread_t th[2];
    for (int i = 0; i < 2; i++) ASSERT_EQ(pthread_create(&th[i], NULL, bare_cancel_thread, NULL), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    return 0;
}

/* A task destroyed pending at close inside one of corio's own waits: what
 * corio holds in that call's frame (a gather, a set of futures, a job's
 * future) is let go by the loop, so closing leaves no reference behind
 * ("loop freed while N future(s) ... are still referenced" before). */
static int forever_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_sleep(CORIO_FOREVER);
}
static int in_gather_wait(void *arg, void **res) {
    (void)res;
    corio_aw aws[2] = {CORIO_CORO(forever_body, NULL), CORIO_CORO(forever_body, NULL)};
    corio_outcome outs[2];
    return corio_gather_wait(aws, 2, 0, arg ? outs : NULL);
}
static int in_any(void *arg, void **res) {
    (void)arg;
    corio_aw aws[2] = {CORIO_CORO(forever_body, NULL), CORIO_CORO(forever_body, NULL)};
    return corio_any(aws, 2, NULL, res);
}
static int in_wait(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_task *ts[2];
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(corio_create_task(forever_body, NULL, NULL, &ts[i]), 0);
        corio_future_unref(ts[i]); /* borrowed: the loop holds a live task */
    }
    corio_futset *done, *pending;
    return corio_wait_tasks(ts, 2, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done, &pending);
}
static int blocks_a_while(void *arg, void **res) {
    (void)arg;
    (void)res;
    usleep(100000);
    return 0;
}
static int in_to_thread(void *arg, void **res) {
    (void)arg;
    return corio_to_thread(blocks_a_while, NULL, NULL, res);
}

static void destroyed_inside(corio_fn fn, void *arg, int copy) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    if (copy) ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    reports r = {0};
    ASSERT_EQ(corio_loop_set_exception_handler(loop, capture_report, &r), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, fn, arg, NULL, 0, &t), 0);
    for (int i = 0; i < 4; i++) { /* t starts and waits; what finishes at once is seen */
        ASSERT_EQ(corio_loop_stop(loop), 0);
        ASSERT_EQ(corio_loop_run_forever(loop), 0);
    }
    ASSERT(!corio_future_done(t));
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_close(loop), 0);
    int before = r.n; /* the pending tasks, destroyed */
    ASSERT(before >= 1);
    ASSERT_EQ(corio_loop_free(loop), 0);
    ASSERT_EQ(r.n, before); /* no "still referenced" report */
}

TEST(destroyed_inside_own_waits_holds_nothing) {
    for (int copy = 0; copy < 2; copy++) {
        destroyed_inside(in_gather_wait, NULL, copy);
        destroyed_inside(in_gather_wait, (void *)1, copy);
        destroyed_inside(in_any, NULL, copy);
        destroyed_inside(in_wait, NULL, copy);
        destroyed_inside(in_to_thread, NULL, copy);
    }
    return 0;
}

/* Virtual time with a pool job in flight: a timer already due still fires
 * (the poll does not wait for the job), so a job that waits for it ends. */
static _Atomic int due_fired;
static void mark_due(void *arg) {
    (void)arg;
    due_fired = 1;
}
static int waits_for_timer(void *arg, void **res) {
    (void)arg;
    (void)res;
    for (int i = 0; i < 5000 && !due_fired; i++) usleep(1000);
    return due_fired ? 0 : CORIO_ETIMEDOUT;
}
static int due_timer_body(void *arg, void **res) {
    (void)arg;
    ASSERT_EQ(corio_call_later(corio_get_running_loop(), 0.0, mark_due, NULL, NULL), 0);
    return corio_to_thread(waits_for_timer, NULL, NULL, res);
}

TEST(thread_virtual_due_timer_with_job) {
    due_fired = 0;
    in_task_fn(due_timer_body);
    return 0;
}

/* A gather_wait destroyed pending at close after one child finished: that
 * child's result goes to its release hook (it was not collected away). */
static int quick_alloc(void *arg, void **res) {
    (void)arg;
    ASSERT_EQ(corio_future_set_release(corio_current_task(), count_release), 0);
    *res = malloc(8);
    return 0;
}
static int gather_wait_forever(void *arg, void **res) {
    (void)res;
    corio_aw aws[2] = {CORIO_CORO(quick_alloc, NULL), CORIO_CORO(forever_body, NULL)};
    corio_outcome outs[2];
    return corio_gather_wait(aws, 2, (int)(intptr_t)arg, outs);
}

TEST(gather_wait_destroyed_releases_collected) {
    for (int copy = 0; copy < 2; copy++)
        for (int flags = 0; flags <= CORIO_RETURN_EXCEPTIONS; flags += CORIO_RETURN_EXCEPTIONS) {
            released = 0;
            destroyed_inside(gather_wait_forever, (void *)(intptr_t)flags, copy);
            ASSERT_EQ(released, 1);
        }
    return 0;
}
