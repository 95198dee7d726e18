/* A seeded cancellation storm: many tasks run random sequences of every
 * combinator and primitive (and to_thread) while a canceller cancels them
 * at random moments; in both stack modes, with and without eager tasks.
 * At the end every permit, lock and item is accounted for, every task is
 * done, and the loop closes cleanly (the runner checks descriptors; ASan
 * checks memory). Small in `make test`; by hand:
 *     CORIO_STORM_SEEDS=1000 build/tests/corio_tests thread_cancel_storm */
#include "test.h"

#include <stdint.h>

typedef struct world {
    uint64_t rng;
    corio_lock *lock;
    corio_semaphore *sem;
    corio_queue *q;
    corio_event *ev;
    corio_condition *cond;
    corio_barrier *barrier;
    int in_lock;        /* tasks inside the lock: never above 1 */
    size_t permits;     /* the semaphore's initial value */
    long put, got;      /* items through the queue */
    long ops;           /* operations that ran to their end */
    corio_task **workers;
    int nworkers;
} world;

static world W;

static uint64_t rnd(void) {
    W.rng ^= W.rng << 13;
    W.rng ^= W.rng >> 7;
    W.rng ^= W.rng << 17;
    return W.rng;
}
static int pick(int n) { return (int)(rnd() % (uint64_t)n); }
static double delay(void) { return (double)pick(5) / 8; } /* 0 .. 0.5 s, exact */

/* A child for the combinators: sleeps, then returns, fails or asks to be
 * cancelled. */
static int child(void *arg, void **res) {
    intptr_t how = (intptr_t)arg;
    int rc = corio_sleep((double)(how % 5) / 8);
    if (rc < 0) return rc;
    if (how % 7 == 3) return corio_raise(CORIO_EUSER(3), "child failed");
    *res = (void *)how;
    return 0;
}

static void *blocking(void *arg) { return arg; }
static int in_thread(void *arg, void **res) {
    *res = blocking(arg);
    return 0;
}

static corio_aw coro(void) { return CORIO_CORO(child, (void *)(intptr_t)pick(1000)); }

/* One random operation; returns its code (ECANCELED ends the worker). */
static int one_op(void) {
    int rc = 0;
    switch (pick(15)) {
    case 0: rc = corio_sleep(delay()); break;
    case 1:
        if ((rc = corio_lock_acquire(W.lock)) == 0) {
            ASSERT_EQ(++W.in_lock, 1);
            int s = corio_sleep(delay());
            W.in_lock--;
            ASSERT_EQ(corio_lock_release(W.lock), 0);
            rc = s;
        }
        break;
    case 2:
        if ((rc = corio_semaphore_acquire(W.sem)) == 0) {
            ASSERT(corio_semaphore_value(W.sem) < W.permits);
            int s = corio_sleep(delay());
            ASSERT_EQ(corio_semaphore_release(W.sem), 0);
            rc = s;
        }
        break;
    case 3:
        if (pick(2)) {
            if ((rc = corio_queue_put(W.q, (void *)1)) == 0) W.put++;
        } else {
            void *item;
            if ((rc = corio_queue_get(W.q, &item)) == 0) W.got++, corio_queue_task_done(W.q);
        }
        break;
    case 4: {
        corio_timeout *cm;
        if ((rc = corio_timeout_enter(delay(), &cm)) < 0) break;
        rc = corio_timeout_exit(cm, corio_event_wait(W.ev));
        break;
    }
    case 5: {
        corio_timeout *cm;
        if ((rc = corio_timeout_enter(delay(), &cm)) < 0) break;
        int r = corio_condition_acquire(W.cond);
        if (r == 0) {
            r = corio_condition_wait(W.cond);
            ASSERT(corio_condition_locked(W.cond)); /* taken back, even when cancelled */
            ASSERT_EQ(corio_condition_release(W.cond), 0);
        }
        rc = corio_timeout_exit(cm, r);
        break;
    }
    case 6: {
        corio_aw aws[3] = {coro(), coro(), coro()};
        corio_outcome out[3] = {{0, NULL, NULL}, {0, NULL, NULL}, {0, NULL, NULL}};
        rc = corio_gather_wait(aws, 3, pick(2) ? CORIO_RETURN_EXCEPTIONS : 0, pick(2) ? out : NULL);
        corio_outcomes_clear(out, 3);
        break;
    }
    case 7: rc = corio_wait_for(coro(), delay(), NULL); break;
    case 8: {
        corio_aw aws[3] = {coro(), coro(), coro()};
        corio_as_completed *it;
        if ((rc = corio_as_completed_new(aws, 3, delay() + 0.1, &it)) < 0) break;
        corio_future *f;
        while ((rc = corio_as_completed_next(it, &f)) == 1) {
            (void)corio_future_result(f, NULL);
            corio_future_unref(f);
        }
        ASSERT_EQ(corio_as_completed_free(it), 0);
        break;
    }
    case 9: {
        corio_aw aws[3] = {coro(), coro(), coro()};
        rc = corio_any(aws, 3, NULL, NULL);
        break;
    }
    case 10: {
        corio_taskgroup *tg;
        if ((rc = corio_taskgroup_enter(&tg)) < 0) break;
        for (int i = 0; i < 2; i++) (void)corio_taskgroup_create_task(tg, child, (void *)(intptr_t)pick(1000), NULL, NULL);
        rc = corio_taskgroup_exit(tg, corio_sleep(delay()));
        break;
    }
    case 11: {
        corio_future *s;
        if ((rc = corio_shield(coro(), &s)) < 0) break;
        rc = corio_await(s, NULL);
        corio_future_unref(s);
        break;
    }
    case 12: {
        corio_task *ts[2];
        for (int i = 0; i < 2; i++) ASSERT_EQ(corio_create_task(child, (void *)(intptr_t)pick(1000), NULL, &ts[i]), 0);
        corio_futset *done, *pending;
        rc = corio_wait_tasks(ts, 2, delay(), pick(3), &done, &pending);
        if (rc == 0) {
            corio_futset_cancel(pending, NULL);
            ASSERT_EQ(corio_futset_free(done), 0);
            ASSERT_EQ(corio_futset_free(pending), 0);
        }
        for (int i = 0; i < 2; i++) {
            (void)corio_future_result(ts[i], NULL); /* seen: no "never retrieved" */
            corio_future_unref(ts[i]);
        }
        break;
    }
    case 13: rc = corio_to_thread(in_thread, (void *)1, NULL, NULL); break;
    default: {
        corio_timeout *cm;
        if ((rc = corio_timeout_enter(delay(), &cm)) < 0) break;
        rc = corio_timeout_exit(cm, corio_barrier_wait(W.barrier, NULL));
        break;
    }
    }
    if (rc >= 0 || rc == CORIO_ETIMEDOUT) W.ops++;
    return rc;
}

static int worker(void *arg, void **res) {
    (void)arg;
    (void)res;
    for (int i = 0; i < 8; i++) {
        int rc = one_op();
        if (rc == CORIO_ECANCELED) return rc;
    }
    return 0;
}

/* Cancels workers at random moments; sets and clears the event; notifies. */
static int canceller(void *arg, void **res) {
    (void)arg;
    (void)res;
    for (int k = 0; k < 60; k++) {
        int rc = corio_sleep(delay() / 2);
        if (rc < 0) return rc;
        corio_task_cancel(W.workers[pick(W.nworkers)], "storm");
        if (pick(3) == 0) corio_event_set(W.ev);
        if (pick(3) == 0) corio_event_clear(W.ev);
        if (corio_condition_acquire(W.cond) == 0) {
            corio_condition_notify(W.cond, (size_t)pick(3));
            corio_condition_release(W.cond);
        }
        if (pick(8) == 0) corio_barrier_reset(W.barrier);
    }
    return 0;
}

/* Errors of children nobody awaited any more (a cancelled as_completed,
 * a shield whose waiter left) are reported, as asyncio reports them; any
 * other report (a task destroyed pending, a scope never exited) is a bug. */
static long unretrieved;
static void on_report(corio_loop *loop, const char *msg, corio_future *fut, const corio_error *err,
                      void *arg) {
    (void)loop, (void)fut, (void)err, (void)arg;
    if (strstr(msg, "exception was never retrieved")) {
        unretrieved++;
        return;
    }
    fprintf(stderr, "storm: unexpected report: %s\n", msg);
    ASSERT(0);
}

static void storm(uint64_t seed, int mode, int eager) {
    memset(&W, 0, sizeof W);
    W.rng = seed * 0x9E3779B97F4A7C15ull + 1;
    W.permits = 3;
    W.nworkers = 40;
    ASSERT_EQ(corio_lock_new(&W.lock), 0);
    ASSERT_EQ(corio_semaphore_new(&W.sem, W.permits), 0);
    ASSERT_EQ(corio_queue_new(&W.q, 4), 0);
    ASSERT_EQ(corio_event_new(&W.ev), 0);
    ASSERT_EQ(corio_condition_new(&W.cond, NULL), 0);
    ASSERT_EQ(corio_barrier_new(&W.barrier, 3), 0);
    W.workers = calloc((size_t)W.nworkers, sizeof *W.workers);
    ASSERT(W.workers);
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_set_exception_handler(loop, on_report, NULL), 0);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, mode), 0);
    ASSERT_EQ(corio_loop_set_eager_tasks(loop, eager), 0);
    ASSERT_EQ(corio_loop_set_thread_pool_size(loop, 2), 0);
    for (int i = 0; i < W.nworkers; i++)
        ASSERT_EQ(corio_loop_create_task(loop, worker, NULL, NULL, 0, &W.workers[i]), 0);
    corio_task *c;
    ASSERT_EQ(corio_loop_create_task(loop, canceller, NULL, NULL, 0, &c), 0);
    /* Until every worker is done (the barrier and the queue may strand a
     * few: cancel the rest at the end, as asyncio.run would). */
    ASSERT_EQ(corio_loop_run_until_complete(loop, c, NULL), 0);
    for (int round = 0; round < 100; round++) {
        int left = 0;
        for (int i = 0; i < W.nworkers; i++)
            if (!corio_future_done(W.workers[i])) left++, corio_task_cancel(W.workers[i], "end");
        if (!left) break;
        corio_future *g;
        ASSERT_EQ(corio_gather_tasks(W.workers, (size_t)W.nworkers, CORIO_RETURN_EXCEPTIONS, &g), 0);
        int rc = corio_loop_run_until_complete(loop, g, NULL);
        ASSERT(rc == 0 || rc == CORIO_EDEADLK);
        corio_future_unref(g);
    }
    for (int i = 0; i < W.nworkers; i++) {
        ASSERT(corio_future_done(W.workers[i]));
        int rc = corio_future_result(W.workers[i], NULL);
        ASSERT(rc == 0 || rc == CORIO_ECANCELED);
        corio_future_unref(W.workers[i]);
    }
    /* Let the children the combinators left behind finish. */
    int rc = corio_loop_run_forever(loop);
    ASSERT_EQ(rc, CORIO_EDEADLK);
    ASSERT_EQ(corio_all_tasks(loop, NULL, 0), 0);
    /* Nothing lost, nothing duplicated. */
    ASSERT(!corio_lock_locked(W.lock));
    ASSERT_EQ(W.in_lock, 0);
    ASSERT_EQ(corio_semaphore_value(W.sem), W.permits);
    ASSERT_EQ(W.put - W.got, (long)corio_queue_qsize(W.q));
    ASSERT(W.ops > 0);
    if (getenv("CORIO_STORM_VERBOSE"))
        fprintf(stderr, "seed %llu mode %d eager %d: %ld ops, %ld items, %ld unretrieved\n",
                (unsigned long long)seed, mode, eager, W.ops, W.put, unretrieved);
    corio_future_unref(c);
    close_loop(loop);
    ASSERT_EQ(corio_lock_free(W.lock), 0);
    ASSERT_EQ(corio_semaphore_free(W.sem), 0);
    ASSERT_EQ(corio_queue_free(W.q), 0);
    ASSERT_EQ(corio_event_free(W.ev), 0);
    ASSERT_EQ(corio_condition_free(W.cond), 0);
    ASSERT_EQ(corio_barrier_free(W.barrier), 0);
    free(W.workers);
}

TEST(thread_cancel_storm) {
    const char *e = getenv("CORIO_STORM_SEEDS");
    long seeds = e ? atol(e) : 12;
    for (long s = 1; s <= seeds; s++) storm((uint64_t)s, (int)(s % 2), (int)((s / 2) % 2));
    return 0;
}
