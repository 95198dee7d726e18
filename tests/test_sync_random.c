/* Randomized cancellation: 100 000 operations on a Semaphore, a Lock, a
 * Condition, an Event and a bounded Queue by many tasks, with cancels
 * falling at random moments. Invariants checked all along and at the end:
 * no permit lost or made up, mutual exclusion, no item lost or duplicated,
 * no wake-up lost (every task finishes: a lost wake-up would hang it and
 * the virtual-time loop would report a deadlock). */
#include "test.h"

enum { OPS = 100000, WORKERS = 64, PERMITS = 3, QMAX = 4 };

static corio_semaphore *sem;
static corio_lock *lock;
static corio_condition *cond;
static corio_queue *q;
static long ops, in_sem, in_lock, put_ok, got_ok, cond_counter, cond_seen;
static long long put_sum, got_sum;
static unsigned seed = 42;

static unsigned rnd(void) {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) & 0xffffff;
}

static int nonzero(void *arg) {
    (void)arg;
    return cond_counter > 0;
}

/* One random operation; cancellation may hit any suspension. */
static int one_op(long k) {
    int rc;
    switch (rnd() % 5) {
    case 0:
        if ((rc = corio_semaphore_acquire(sem)) < 0) return rc;
        ASSERT(++in_sem <= PERMITS);
        rc = corio_sleep((rnd() % 4) * 0.25);
        in_sem--;
        corio_semaphore_release(sem);
        return rc;
    case 1:
        if ((rc = corio_lock_acquire(lock)) < 0) return rc;
        ASSERT_EQ(++in_lock, 1);
        rc = corio_sleep((rnd() % 3) * 0.25);
        in_lock--;
        corio_lock_release(lock);
        return rc;
    case 2: /* producer */
        if ((rc = corio_queue_put(q, (void *)(intptr_t)(k + 1))) < 0) return rc;
        put_ok++;
        put_sum += k + 1;
        return 0;
    case 3: { /* consumer, with a bound on how long it waits */
        corio_timeout *cm;
        void *v;
        if ((rc = corio_timeout_enter(1.0, &cm)) < 0) return rc;
        rc = corio_queue_get(q, &v);
        if (rc == 0) got_ok++, got_sum += (intptr_t)v;
        rc = corio_timeout_exit(cm, rc);
        return rc == CORIO_ETIMEDOUT ? 0 : rc;
    }
    default: /* condition: half signal, half wait (bounded) */
        if ((rc = corio_condition_acquire(cond)) < 0) return rc;
        if (rnd() % 2) {
            cond_counter++;
            corio_condition_notify(cond, 1);
        } else {
            corio_timeout *cm;
            if ((rc = corio_timeout_enter(1.0, &cm)) == 0) {
                rc = corio_condition_wait_for(cond, nonzero, NULL);
                if (rc == 0) cond_counter--, cond_seen++;
                rc = corio_timeout_exit(cm, rc);
                if (rc == CORIO_ETIMEDOUT) rc = 0;
            }
        }
        ASSERT(corio_condition_locked(cond)); /* held again in every case */
        corio_condition_release(cond);
        return rc;
    }
}

static int worker(void *arg, void **res) {
    (void)arg;
    (void)res;
    while (ops < OPS) {
        long k = ops++;
        int rc = one_op(k);
        if (rc == CORIO_ECANCELED) {
            corio_task_uncancel(corio_current_task()); /* handled: go on */
            continue;
        }
        ASSERT_EQ(rc, 0);
    }
    return 0;
}

static corio_task *workers[WORKERS];
static int alive = 1;

static void canceller(void *arg) {
    corio_loop *loop = arg;
    if (!alive) return;
    corio_task *t = workers[rnd() % WORKERS];
    if (!corio_future_done(t)) corio_task_cancel(t, NULL);
    corio_call_later(loop, (rnd() % 8) * 0.125, canceller, loop, NULL);
}

TEST(sync_random_cancellation) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_semaphore_new(&sem, PERMITS), 0);
    ASSERT_EQ(corio_lock_new(&lock), 0);
    ASSERT_EQ(corio_condition_new(&cond, NULL), 0);
    ASSERT_EQ(corio_queue_new(&q, QMAX), 0);
    for (int i = 0; i < WORKERS; i++)
        ASSERT_EQ(corio_loop_create_task(loop, worker, NULL, NULL, 0, &workers[i]), 0);
    ASSERT_EQ(corio_call_soon(loop, canceller, loop, NULL), 0);
    corio_aw aws[WORKERS];
    for (int i = 0; i < WORKERS; i++) aws[i] = CORIO_FUT(workers[i]);
    corio_future *all;
    ASSERT_EQ(corio_gather(aws, WORKERS, 0, &all), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, all, NULL), 0);
    alive = 0;
    /* Drain what the producers left. */
    void *v;
    while (corio_queue_get_nowait(q, &v) == 0) got_ok++, got_sum += (intptr_t)v;
    ASSERT_EQ(put_ok, got_ok);     /* no item lost or duplicated */
    ASSERT_EQ(put_sum, got_sum);
    ASSERT_EQ(corio_semaphore_value(sem), PERMITS); /* no permit lost or made up */
    ASSERT(!corio_lock_locked(lock));
    ASSERT(ops >= OPS);
    fprintf(stderr, "ops %ld: %ld items through the queue, %ld condition hand-offs\n", ops, got_ok,
            cond_seen);
    ASSERT(got_ok > 1000 && cond_seen > 100); /* the races were really exercised */
    corio_future_unref(all);
    for (int i = 0; i < WORKERS; i++) corio_future_unref(workers[i]);
    ASSERT_EQ(corio_semaphore_free(sem), 0);
    ASSERT_EQ(corio_lock_free(lock), 0);
    ASSERT_EQ(corio_condition_free(cond), 0);
    ASSERT_EQ(corio_queue_free(q), 0);
    close_loop(loop);
    return 0;
}
