/* Copy-mode tasks: one shared stack, each suspended task's bytes saved
 * and restored. Locals (at several depths) must survive every switch, and
 * corio's own waiters must work although the frame is copied away. */
#include "test.h"

static corio_lock *lock;
static corio_queue *q;
static long in_lock;

/* Recurse `depth` frames, suspend at the bottom in several ways, and check
 * every frame's locals afterwards. */
static int __attribute__((noinline)) deep(int depth, intptr_t seed) {
    volatile intptr_t mine[8];
    for (int i = 0; i < 8; i++) mine[i] = seed * 31 + depth * 7 + i;
    int rc = 0;
    if (depth > 0) {
        rc = deep(depth - 1, seed);
    } else {
        if ((rc = corio_sleep(0.25)) == 0 && (rc = corio_sleep(0)) == 0 &&
            (rc = corio_lock_acquire(lock)) == 0) {
            ASSERT_EQ(++in_lock, 1);
            rc = corio_sleep(0.125);
            in_lock--;
            corio_lock_release(lock);
        }
    }
    for (int i = 0; i < 8; i++) ASSERT_EQ(mine[i], seed * 31 + depth * 7 + i);
    return rc;
}

static int copy_task(void *arg, void **res) {
    intptr_t k = (intptr_t)arg;
    int rc = deep((int)(k % 17), k);
    if (rc < 0) return rc;
    if ((rc = corio_queue_put(q, arg)) < 0) return rc;
    *res = arg;
    return 0;
}

static int consumer(void *arg, void **res) {
    long n = (long)(intptr_t)arg, sum = 0;
    for (long i = 0; i < n; i++) {
        void *v;
        corio_timeout *cm;
        int rc = corio_timeout_enter(100, &cm);
        if (rc == 0) rc = corio_queue_get(q, &v);
        rc = corio_timeout_exit(cm, rc);
        if (rc < 0) return rc;
        sum += (intptr_t)v;
    }
    *res = (void *)(intptr_t)sum;
    return 0;
}

enum { N = 300 };

static int driver(void *arg, void **res) {
    (void)arg;
    (void)res;
    static corio_aw aws[N + 1];
    static corio_outcome vals[N + 1];
    for (intptr_t i = 0; i < N; i++) aws[i] = CORIO_CORO(copy_task, (void *)i);
    aws[N] = CORIO_CORO(consumer, (void *)(intptr_t)N);
    ASSERT_EQ(corio_gather_wait(aws, N + 1, 0, vals), 0);
    for (intptr_t i = 0; i < N; i++) ASSERT(vals[i].value == (void *)i);
    ASSERT_EQ((intptr_t)vals[N].value, (intptr_t)N * (N - 1) / 2);
    /* A wait loop from a copy-mode task (its wait state on the heap). */
    corio_futset *pending;
    ASSERT_EQ(corio_futset_new(&pending), 0);
    for (intptr_t i = 0; i < 20; i++) {
        corio_task *t;
        ASSERT_EQ(corio_create_task(copy_task, (void *)(i + 1000), NULL, &t), 0);
        ASSERT_EQ(corio_futset_add(pending, t), 1);
        corio_future_unref(t);
    }
    corio_task *drain;
    ASSERT_EQ(corio_create_task(consumer, (void *)(intptr_t)20, NULL, &drain), 0);
    int seen = 0;
    while (corio_futset_size(pending) > 0) {
        corio_futset *done;
        ASSERT_EQ(corio_wait_set(pending, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done), 0);
        seen += corio_futset_size(done);
        corio_futset_free(done);
    }
    ASSERT_EQ(seen, 20);
    ASSERT_EQ(corio_await(drain, NULL), 0);
    corio_future_unref(drain);
    corio_futset_free(pending);
    return 0;
}

TEST(copy_stack_mode) {
    corio_loop *loop = vloop();
    ASSERT_EQ(corio_loop_set_stack_mode(loop, 7), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    ASSERT_EQ(corio_lock_new(&lock), 0);
    ASSERT_EQ(corio_queue_new(&q, 3), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, driver, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_lock_free(lock), 0);
    ASSERT_EQ(corio_queue_free(q), 0);
    close_loop(loop);
    return 0;
}

/* Copy-mode tasks still pending when the loop closes: their saved bytes
 * are freed (LSan checks). */
static int sleepy(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_sleep(100);
}

static void stop_it(void *arg) { corio_loop_stop(arg); }

static int r_item;

/* Copy-mode queue waiters live on the heap (their frames are copied
 * away). At close, one still waiting and one woken but not yet resumed are
 * both freed (LSan checks), and the queue is left with no waiter. */
static int getter(void *arg, void **res) {
    return corio_queue_get(arg, res);
}

static void put_and_stop(void *arg) {
    corio_loop *loop = corio_get_running_loop();
    ASSERT_EQ(corio_queue_put_nowait(arg, &r_item), 0); /* wakes the first getter */
    corio_loop_stop(loop);
}

TEST(copy_stack_queue_waiters_at_close) {
    corio_loop *loop = vloop();
    reports r = {0};
    corio_loop_set_exception_handler(loop, capture_report, &r);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    corio_queue *wq;
    ASSERT_EQ(corio_queue_new(&wq, 0), 0);
    for (int i = 0; i < 2; i++) ASSERT_EQ(corio_loop_create_task(loop, getter, wq, NULL, 0, NULL), 0);
    ASSERT_EQ(corio_call_later(loop, 1, put_and_stop, wq, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), 0);
    close_loop(loop);
    ASSERT_EQ(r.n, 2);
    ASSERT_EQ(corio_queue_qsize(wq), 1); /* the woken getter never took it */
    ASSERT_EQ(corio_queue_free(wq), 0);   /* no waiter left behind */
    return 0;
}

TEST(copy_stack_destroyed_pending) {
    corio_loop *loop = vloop();
    reports r = {0};
    corio_loop_set_exception_handler(loop, capture_report, &r);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    for (int i = 0; i < 5; i++) ASSERT_EQ(corio_loop_create_task(loop, sleepy, NULL, NULL, 0, NULL), 0);
    ASSERT_EQ(corio_call_later(loop, 1, stop_it, loop, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), 0);
    close_loop(loop);
    ASSERT_EQ(r.n, 5);
    return 0;
}
