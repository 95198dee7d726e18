/* Event, Lock, Semaphore, BoundedSemaphore, Condition, Barrier, Queue:
 * behaviour, bad input, and the cancellation races (a waiter cancelled
 * after being woken must hand its wake-up, permit or item on). The timing
 * and order against CPython is in tests/diff. */
#include "test.h"

static trace tr;


/* A named task running fn(arg) in the current loop. */
static corio_task *spawn(corio_fn fn, void *arg) {
    corio_task *t;
    ASSERT_EQ(corio_create_task(fn, arg, NULL, &t), 0);
    return t;
}

static int finish(corio_task *t) {
    int rc = corio_await(t, NULL);
    corio_future_unref(t);
    return rc;
}

/* ---- Event -------------------------------------------------------------- */

static corio_event *ev;
static int ev_waiter(void *arg, void **res) {
    (void)res;
    int rc = corio_event_wait(ev);
    if (rc == 0) trace_add(&tr, arg);
    return rc;
}

static int event_body(void) {
    ASSERT_EQ(corio_event_new(&ev), 0);
    ASSERT(!corio_event_is_set(ev));
    corio_task *a = spawn(ev_waiter, "a"), *b = spawn(ev_waiter, "b"), *c = spawn(ev_waiter, "c");
    ASSERT_EQ(corio_sleep(1), 0);
    ASSERT_EQ(corio_event_free(ev), CORIO_EBUSY); /* tasks wait on it */
    ASSERT_EQ(corio_task_cancel(b, NULL), 1);
    ASSERT_EQ(corio_event_set(ev), 0);
    ASSERT_EQ(finish(a), 0);
    ASSERT_EQ(finish(b), CORIO_ECANCELED);
    ASSERT_EQ(finish(c), 0);
    ASSERT_STR(tr.buf, "a c"); /* all woken, in order */
    ASSERT_EQ(corio_event_wait(ev), 0); /* set: no waiting */
    ASSERT_EQ(corio_event_clear(ev), 0);
    ASSERT(!corio_event_is_set(ev));
    ASSERT_EQ(corio_event_free(ev), 0);
    ASSERT_EQ(corio_event_wait(NULL), CORIO_EINVAL);
    return 0;
}

TEST(sync_event) {
    in_task(event_body);
    return 0;
}

/* ---- Lock --------------------------------------------------------------- */

static corio_lock *lk;
static int holders;

static int lock_user(void *arg, void **res) {
    (void)res;
    int rc = corio_lock_acquire(lk);
    if (rc < 0) return rc;
    ASSERT_EQ(++holders, 1); /* mutual exclusion */
    trace_add(&tr, arg);
    rc = corio_sleep(1);
    holders--;
    corio_lock_release(lk);
    return rc;
}

static int lock_body(void) {
    ASSERT_EQ(corio_lock_new(&lk), 0);
    ASSERT_EQ(corio_lock_release(lk), CORIO_EINVALSTATE); /* not held */
    corio_task *t[4];
    const char *names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) t[i] = spawn(lock_user, (void *)names[i]);
    ASSERT_EQ(corio_sleep(0.5), 0);
    ASSERT(corio_lock_locked(lk));
    ASSERT_EQ(corio_task_cancel(t[2], NULL), 1); /* c gives its place up */
    for (int i = 0; i < 4; i++) finish(t[i]);
    ASSERT_STR(tr.buf, "a b d"); /* FIFO */
    ASSERT(!corio_lock_locked(lk));
    ASSERT_EQ(corio_lock_free(lk), 0);
    return 0;
}

TEST(sync_lock_fifo) {
    in_task(lock_body);
    return 0;
}

/* The head waiter is woken (the lock is passed to it), then cancelled
 * before it runs: the lock must go on to the next waiter, not stay taken. */
static void release_and_cancel(void *arg) {
    corio_task **ts = arg;
    ASSERT_EQ(corio_lock_release(lk), 0);     /* wakes ts[0] */
    ASSERT_EQ(corio_task_cancel(ts[0], NULL), 1); /* ...which is cancelled before running */
}

static int lock_race_body(void) {
    ASSERT_EQ(corio_lock_new(&lk), 0);
    ASSERT_EQ(corio_lock_acquire(lk), 0);
    corio_task *ts[2] = {spawn(lock_user, "first"), spawn(lock_user, "second")};
    ASSERT_EQ(corio_sleep(0.5), 0);
    ASSERT_EQ(corio_call_soon(corio_get_running_loop(), release_and_cancel, ts, NULL), 0);
    ASSERT_EQ(finish(ts[0]), CORIO_ECANCELED);
    ASSERT_EQ(finish(ts[1]), 0);
    ASSERT_STR(tr.buf, "second");
    ASSERT(!corio_lock_locked(lk));
    ASSERT_EQ(corio_lock_free(lk), 0);
    return 0;
}

TEST(sync_lock_cancelled_after_wakeup) {
    in_task(lock_race_body);
    return 0;
}

/* ---- Semaphore ------------------------------------------------------------ */

static corio_semaphore *sem;
static int sem_user(void *arg, void **res) {
    (void)res;
    int rc = corio_semaphore_acquire(sem);
    if (rc < 0) return rc;
    trace_add(&tr, arg);
    rc = corio_sleep(1);
    corio_semaphore_release(sem);
    return rc;
}

static void release_then_cancel(void *arg) {
    corio_task **ts = arg;
    ASSERT_EQ(corio_semaphore_release(sem), 0); /* hands the permit to ts[0] */
    ASSERT_EQ(corio_task_cancel(ts[0], NULL), 1);
}

static int sem_body(void) {
    ASSERT_EQ(corio_semaphore_new(NULL, 2), CORIO_EINVAL);
    ASSERT_EQ(corio_semaphore_new(&sem, 2), 0);
    const char *names[] = {"a", "b", "c", "d", "e"};
    corio_task *t[5];
    for (int i = 0; i < 5; i++) t[i] = spawn(sem_user, (void *)names[i]);
    for (int i = 0; i < 5; i++) ASSERT_EQ(finish(t[i]), 0);
    ASSERT_STR(tr.buf, "a b c d e");
    ASSERT_EQ(corio_semaphore_value(sem), 2);
    /* Stolen-permit race: a woken waiter cancelled before it runs gives
     * the permit back and the next waiter gets it. */
    tr.buf[0] = 0;
    ASSERT_EQ(corio_semaphore_acquire(sem), 0);
    ASSERT_EQ(corio_semaphore_acquire(sem), 0);
    ASSERT(corio_semaphore_locked(sem));
    corio_task *ts[2] = {spawn(sem_user, "x"), spawn(sem_user, "y")};
    ASSERT_EQ(corio_sleep(0.5), 0);
    ASSERT_EQ(corio_call_soon(corio_get_running_loop(), release_then_cancel, ts, NULL), 0);
    ASSERT_EQ(finish(ts[0]), CORIO_ECANCELED);
    ASSERT_EQ(finish(ts[1]), 0);
    ASSERT_STR(tr.buf, "y");
    corio_semaphore_release(sem);
    ASSERT_EQ(corio_semaphore_value(sem), 2); /* nothing lost, nothing made up */
    ASSERT_EQ(corio_semaphore_free(sem), 0);
    /* Bounded: one release too many is an error. */
    ASSERT_EQ(corio_bounded_semaphore_new(&sem, 1), 0);
    ASSERT_EQ(corio_semaphore_release(sem), -EOVERFLOW);
    ASSERT_EQ(corio_semaphore_acquire(sem), 0);
    ASSERT_EQ(corio_semaphore_release(sem), 0);
    ASSERT_EQ(corio_semaphore_release(sem), -EOVERFLOW);
    ASSERT_EQ(corio_semaphore_free(sem), 0);
    return 0;
}

TEST(sync_semaphore) {
    in_task(sem_body);
    return 0;
}

/* A wait honours the task's timeout scope. */
static int timeout_wait_body(void) {
    ASSERT_EQ(corio_semaphore_new(&sem, 0), 0);
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(2, &cm), 0);
    int rc = corio_semaphore_acquire(sem);
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_loop_time(corio_get_running_loop()), 2);
    ASSERT_EQ(corio_semaphore_free(sem), 0);
    return 0;
}

TEST(sync_wait_honours_timeout) {
    in_task(timeout_wait_body);
    return 0;
}

/* ---- Condition ------------------------------------------------------------ */

static corio_condition *cond;
static int ready_count;

static int is_ready(void *arg) {
    (void)arg;
    return ready_count > 0;
}

static int cond_waiter(void *arg, void **res) {
    (void)res;
    int rc = corio_condition_acquire(cond);
    if (rc < 0) return rc;
    rc = corio_condition_wait_for(cond, is_ready, NULL);
    if (rc == 0) {
        ready_count--;
        trace_add(&tr, arg);
    }
    ASSERT(corio_condition_locked(cond)); /* held again, even when cancelled */
    corio_condition_release(cond);
    return rc;
}

static int cond_body(void) {
    ASSERT_EQ(corio_condition_new(&cond, NULL), 0);
    ASSERT_EQ(corio_condition_wait(cond), CORIO_EINVALSTATE);   /* without the lock */
    ASSERT_EQ(corio_condition_notify(cond, 1), CORIO_EINVALSTATE);
    corio_task *t[3] = {spawn(cond_waiter, "a"), spawn(cond_waiter, "b"), spawn(cond_waiter, "c")};
    ASSERT_EQ(corio_sleep(1), 0);
    ASSERT_EQ(corio_condition_acquire(cond), 0);
    ready_count = 1;
    ASSERT_EQ(corio_condition_notify(cond, 1), 0);
    ASSERT_EQ(corio_condition_release(cond), 0);
    ASSERT_EQ(corio_sleep(1), 0);
    ASSERT_STR(tr.buf, "a");
    /* Notified, then cancelled before it runs: the notify passes to c. */
    ASSERT_EQ(corio_condition_acquire(cond), 0);
    ready_count = 1;
    ASSERT_EQ(corio_condition_notify(cond, 1), 0); /* wakes b */
    ASSERT_EQ(corio_task_cancel(t[1], NULL), 1);   /* b is cancelled before it runs */
    ASSERT_EQ(corio_condition_release(cond), 0);
    ASSERT_EQ(finish(t[0]), 0);
    ASSERT_EQ(finish(t[1]), CORIO_ECANCELED);
    ASSERT_EQ(finish(t[2]), 0);
    ASSERT_STR(tr.buf, "a c");
    ASSERT_EQ(corio_condition_free(cond), 0);
    return 0;
}

TEST(sync_condition) {
    in_task(cond_body);
    return 0;
}

/* ---- Barrier ---------------------------------------------------------------- */

static corio_barrier *bar;
static int bar_user(void *arg, void **res) {
    int rc = corio_sleep((double)(intptr_t)arg);
    if (rc < 0) return rc;
    size_t index;
    rc = corio_barrier_wait(bar, &index);
    *res = (void *)index;
    return rc;
}

static int barrier_body(void) {
    ASSERT_EQ(corio_barrier_new(&bar, 0), CORIO_EINVAL);
    ASSERT_EQ(corio_barrier_new(&bar, 3), 0);
    ASSERT_EQ(corio_barrier_parties(bar), 3);
    corio_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = spawn(bar_user, (void *)(intptr_t)(i + 1));
    ASSERT_EQ(corio_sleep(2.5), 0);
    ASSERT_EQ(corio_barrier_n_waiting(bar), 2);
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        void *idx;
        ASSERT_EQ(corio_await(t[i], &idx), 0);
        seen |= 1 << (intptr_t)idx;
        corio_future_unref(t[i]);
    }
    ASSERT_EQ(seen, 7); /* indices 0, 1, 2 */
    /* Reset with a waiter: it gets CORIO_EBROKEN; the barrier is usable. */
    t[0] = spawn(bar_user, 0);
    ASSERT_EQ(corio_sleep(0.5), 0);
    ASSERT_EQ(corio_barrier_reset(bar), 0);
    ASSERT_EQ(finish(t[0]), CORIO_EBROKEN);
    ASSERT(!corio_barrier_broken(bar));
    /* Abort: broken for everyone, now and later. */
    t[0] = spawn(bar_user, 0);
    ASSERT_EQ(corio_sleep(0.5), 0);
    ASSERT_EQ(corio_barrier_abort(bar), 0);
    ASSERT_EQ(finish(t[0]), CORIO_EBROKEN);
    ASSERT(corio_barrier_broken(bar));
    ASSERT_EQ(corio_barrier_wait(bar, NULL), CORIO_EBROKEN);
    ASSERT_EQ(corio_barrier_free(bar), 0);
    return 0;
}

TEST(sync_barrier) {
    in_task(barrier_body);
    return 0;
}

/* ---- Queue ------------------------------------------------------------------------ */

static int cmp_int(const void *a, const void *b) {
    intptr_t x = (intptr_t)a, y = (intptr_t)b;
    return x < y ? -1 : x > y;
}

static int queue_order_body(void) {
    corio_queue *q;
    intptr_t in[] = {3, 1, 2, 1};
    struct {
        int kind;
        intptr_t out[4];
    } cases[] = {{0, {3, 1, 2, 1}}, {1, {1, 2, 1, 3}}, {2, {1, 1, 2, 3}}};
    for (int c = 0; c < 3; c++) {
        if (cases[c].kind == 0) ASSERT_EQ(corio_queue_new(&q, 0), 0);
        if (cases[c].kind == 1) ASSERT_EQ(corio_lifo_queue_new(&q, 0), 0);
        if (cases[c].kind == 2) ASSERT_EQ(corio_priority_queue_new(&q, 0, cmp_int), 0);
        for (int i = 0; i < 4; i++) ASSERT_EQ(corio_queue_put(q, (void *)in[i]), 0);
        ASSERT_EQ(corio_queue_qsize(q), 4);
        ASSERT(!corio_queue_full(q));
        for (int i = 0; i < 4; i++) {
            void *v;
            ASSERT_EQ(corio_queue_get(q, &v), 0);
            ASSERT_EQ((intptr_t)v, cases[c].out[i]);
            ASSERT_EQ(corio_queue_task_done(q), 0);
        }
        void *v;
        ASSERT_EQ(corio_queue_get_nowait(q, &v), CORIO_EEMPTY);
        ASSERT_EQ(corio_queue_task_done(q), CORIO_EINVAL); /* too many */
        ASSERT_EQ(corio_queue_join(q), 0);
        ASSERT_EQ(corio_queue_free(q), 0);
    }
    ASSERT_EQ(corio_priority_queue_new(&q, 0, NULL), CORIO_EINVAL);
    /* Many items: the ring and the heap grow. */
    ASSERT_EQ(corio_priority_queue_new(&q, 0, cmp_int), 0);
    for (intptr_t i = 0; i < 1000; i++) ASSERT_EQ(corio_queue_put_nowait(q, (void *)((i * 7919) % 1000)), 0);
    for (intptr_t i = 0; i < 1000; i++) {
        void *v;
        ASSERT_EQ(corio_queue_get_nowait(q, &v), 0);
        ASSERT_EQ((intptr_t)v, i);
    }
    ASSERT_EQ(corio_queue_free(q), 0);
    return 0;
}

TEST(queue_orders) {
    in_task(queue_order_body);
    return 0;
}

static corio_queue *qq;
static int producer(void *arg, void **res) {
    (void)res;
    for (intptr_t i = 1; i <= (intptr_t)arg; i++) {
        int rc = corio_queue_put(qq, (void *)i);
        if (rc < 0) return rc;
    }
    return 0;
}

static int consumer(void *arg, void **res) {
    (void)arg;
    intptr_t sum = 0;
    for (;;) {
        void *v;
        int rc = corio_queue_get(qq, &v);
        if (rc == CORIO_ESHUTDOWN) break;
        if (rc < 0) return rc;
        sum += (intptr_t)v;
        corio_queue_task_done(qq);
        ASSERT_EQ(corio_sleep(0.1), 0);
    }
    *res = (void *)sum;
    return 0;
}

static int queue_bounded_body(void) {
    ASSERT_EQ(corio_queue_new(&qq, 2), 0);
    ASSERT_EQ(corio_queue_maxsize(qq), 2);
    corio_task *p = spawn(producer, (void *)10), *c = spawn(consumer, NULL);
    ASSERT_EQ(corio_sleep(0.05), 0);
    ASSERT(corio_queue_full(qq));
    ASSERT_EQ(corio_queue_put_nowait(qq, (void *)99), CORIO_EFULL);
    ASSERT_EQ(finish(p), 0);
    ASSERT_EQ(corio_queue_join(qq), 0); /* all 10 processed */
    ASSERT_EQ(corio_queue_shutdown(qq, 0), 0);
    void *sum;
    ASSERT_EQ(corio_await(c, &sum), 0);
    ASSERT_EQ((intptr_t)sum, 55);
    corio_future_unref(c);
    ASSERT_EQ(corio_queue_put(qq, NULL), CORIO_ESHUTDOWN);
    ASSERT_EQ(corio_queue_free(qq), 0);
    /* Immediate shutdown drops the items and releases join(). */
    ASSERT_EQ(corio_queue_new(&qq, 0), 0);
    ASSERT_EQ(corio_queue_put(qq, (void *)1), 0);
    ASSERT_EQ(corio_queue_put(qq, (void *)2), 0);
    ASSERT_EQ(corio_queue_shutdown(qq, 1), 0);
    ASSERT_EQ(corio_queue_qsize(qq), 0);
    ASSERT_EQ(corio_queue_join(qq), 0);
    void *v;
    ASSERT_EQ(corio_queue_get(qq, &v), CORIO_ESHUTDOWN);
    ASSERT_EQ(corio_queue_free(qq), 0);
    return 0;
}

TEST(queue_bounded_join_shutdown) {
    in_task(queue_bounded_body);
    return 0;
}

/* A getter woken for an item, then cancelled before it runs: the item is
 * not lost, the next getter receives it. */
static int getter(void *arg, void **res) {
    void *v;
    int rc = corio_queue_get(qq, &v);
    if (rc == 0) trace_add(&tr, arg), *res = v;
    return rc;
}

static void put_and_cancel(void *arg) {
    corio_task **ts = arg;
    ASSERT_EQ(corio_queue_put_nowait(qq, (void *)7), 0); /* wakes ts[0] */
    ASSERT_EQ(corio_task_cancel(ts[0], NULL), 1);
}

static int queue_race_body(void) {
    ASSERT_EQ(corio_queue_new(&qq, 0), 0);
    corio_task *ts[2] = {spawn(getter, "first"), spawn(getter, "second")};
    ASSERT_EQ(corio_sleep(0.5), 0);
    ASSERT_EQ(corio_call_soon(corio_get_running_loop(), put_and_cancel, ts, NULL), 0);
    ASSERT_EQ(finish(ts[0]), CORIO_ECANCELED);
    void *v;
    ASSERT_EQ(corio_await(ts[1], &v), 0);
    ASSERT_EQ((intptr_t)v, 7);
    corio_future_unref(ts[1]);
    ASSERT_STR(tr.buf, "second");
    ASSERT_EQ(corio_queue_qsize(qq), 0);
    ASSERT_EQ(corio_queue_free(qq), 0);
    return 0;
}

TEST(queue_cancelled_getter_loses_nothing) {
    in_task(queue_race_body);
    return 0;
}

TEST(sync_outside_task) {
    corio_lock *l;
    ASSERT_EQ(corio_lock_new(&l), 0);
    ASSERT_EQ(corio_lock_acquire(l), CORIO_ENOTINTASK);
    ASSERT_EQ(corio_lock_free(l), 0);
    corio_queue *q;
    ASSERT_EQ(corio_queue_new(&q, 1), 0);
    ASSERT_EQ(corio_queue_put_nowait(q, NULL), 0); /* no loop needed */
    ASSERT_EQ(corio_queue_put(q, NULL), CORIO_ENOTINTASK);
    void *v;
    ASSERT_EQ(corio_queue_get_nowait(q, &v), 0);
    ASSERT_EQ(corio_queue_free(q), 0);
    ASSERT_EQ(corio_event_new(NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_queue_get(NULL, &v), CORIO_EINVAL);
    return 0;
}
