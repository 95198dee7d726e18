/* Threads: call_soon_threadsafe, run_coroutine_threadsafe, to_thread, a
 * saturated pool, several loops in several threads, and a stress of a
 * million hand-offs. Also run under TSan (label "threads"). */
#include "test.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <unistd.h>

/* ---- call_soon_threadsafe: a million hand-offs ------------------------- */

enum { POSTERS = 2 };
static long handoffs;
static long target;
static corio_loop *the_loop;
static corio_event *all_in;

static void count_one(void *arg) {
    (void)arg;
    if (++handoffs == target) corio_event_set(all_in);
}

static void *poster(void *arg) {
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++)
        while (corio_call_soon_threadsafe(the_loop, count_one, NULL) == CORIO_ENOMEM) {
        }
    return NULL;
}

static int wait_all(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_event_wait(all_in);
}

TEST(thread_million_handoffs) {
    const char *env = getenv("CORIO_STRESS_HANDOFFS");
    target = env ? atol(env) : 1000000;
    ASSERT_EQ(corio_loop_new(&the_loop), 0); /* real time: the loop blocks on its eventfd */
    ASSERT_EQ(corio_event_new(&all_in), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(the_loop, wait_all, NULL, NULL, 0, &t), 0);
    pthread_t th[POSTERS];
    for (int i = 0; i < POSTERS; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, poster, (void *)(intptr_t)(target / POSTERS)), 0);
    ASSERT_EQ(corio_loop_run_until_complete(the_loop, t, NULL), 0);
    for (int i = 0; i < POSTERS; i++) pthread_join(th[i], NULL);
    ASSERT_EQ(handoffs, target);
    corio_future_unref(t);
    ASSERT_EQ(corio_event_free(all_in), 0);
    close_loop(the_loop);
    /* A closed loop refuses (the struct lives on while futures hold it). */
    return 0;
}

/* ---- run_coroutine_threadsafe ---------------------------------------------- */

static int doubler(void *arg, void **res) {
    int rc = corio_sleep(0.01);
    if (rc < 0) return rc;
    *res = (void *)((intptr_t)arg * 2);
    return 0;
}

static int forever(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_sleep(1e6);
}

static atomic_int client_done;
static void *client(void *arg) {
    corio_loop *loop = arg;
    for (intptr_t i = 1; i <= 50; i++) {
        corio_cfuture *cf;
        ASSERT_EQ(corio_run_coroutine_threadsafe(loop, doubler, (void *)i, &cf), 0);
        void *r;
        ASSERT_EQ(corio_cfuture_wait(cf, CORIO_FOREVER, &r), 0);
        ASSERT_EQ((intptr_t)r, 2 * i);
        corio_cfuture_free(cf);
    }
    corio_cfuture *cf;
    ASSERT_EQ(corio_run_coroutine_threadsafe(loop, forever, NULL, &cf), 0);
    ASSERT_EQ(corio_cfuture_wait(cf, 0.01, NULL), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_cfuture_cancel(cf), 1);
    ASSERT_EQ(corio_cfuture_wait(cf, CORIO_FOREVER, NULL), CORIO_ECANCELED);
    ASSERT_EQ(corio_cfuture_cancel(cf), 0);
    corio_cfuture_free(cf);
    atomic_store(&client_done, 1);
    return NULL;
}

static int until_client_done(void *arg, void **res) {
    (void)arg;
    (void)res;
    while (!atomic_load(&client_done)) {
        int rc = corio_sleep(0.001);
        if (rc < 0) return rc;
    }
    return 0;
}

TEST(thread_run_coroutine_threadsafe) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, client, loop), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, until_client_done, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    pthread_join(th, NULL);
    corio_future_unref(t);
    close_loop(loop);
    ASSERT_EQ(corio_run_coroutine_threadsafe(NULL, doubler, NULL, &(corio_cfuture *){0}), CORIO_EINVAL);
    return 0;
}

/* ---- to_thread ----------------------------------------------------------------- */

static int blocking_square(void *arg, void **res) {
    usleep(1000);
    intptr_t n = (intptr_t)arg;
    *res = (void *)(n * n);
    return n < 0 ? -EDOM : 0;
}

static sem_t gate;
static atomic_int released;
static int blocked_job(void *arg, void **res) {
    while (sem_wait(&gate) != 0) {
    }
    int *p = malloc(sizeof *p); /* a result someone must free */
    *p = (int)(intptr_t)arg;
    *res = p;
    return 0;
}

static void release_int(void *p) {
    atomic_fetch_add(&released, 1);
    free(p);
}

static int ticks;
static int ticker(void *arg, void **res) {
    (void)arg;
    (void)res;
    for (int i = 0; i < 20; i++) {
        int rc = corio_sleep(0.001);
        if (rc < 0) return rc;
        ticks++;
    }
    for (int i = 0; i < 8; i++) sem_post(&gate); /* only a live loop gets here */
    return 0;
}

static int offload(void *arg, void **res) { return corio_to_thread(blocked_job, arg, release_int, res); }

static int to_thread_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    void *r;
    ASSERT_EQ(corio_to_thread(blocking_square, (void *)7, NULL, &r), 0);
    ASSERT_EQ((intptr_t)r, 49);
    ASSERT_EQ(corio_to_thread(blocking_square, (void *)-1, NULL, &r), -EDOM);
    ASSERT_EQ(corio_to_thread(NULL, NULL, NULL, &r), CORIO_EINVAL);
    /* A saturated pool (2 threads, 4 blocked jobs) leaves the loop live:
     * the jobs are released only by a task that has to keep running. */
    ASSERT_EQ(corio_loop_set_thread_pool_size(corio_get_running_loop(), 2), 0);
    corio_task *jobs[4], *tick;
    for (intptr_t i = 0; i < 4; i++) ASSERT_EQ(corio_create_task(offload, (void *)i, NULL, &jobs[i]), 0);
    ASSERT_EQ(corio_create_task(ticker, NULL, NULL, &tick), 0);
    ASSERT_EQ(corio_await(tick, NULL), 0);
    ASSERT_EQ(ticks, 20);
    corio_future_unref(tick);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(corio_await(jobs[i], &r), 0);
        ASSERT_EQ(*(int *)r, i);
        free(r);
        corio_future_unref(jobs[i]);
    }
    return 0;
}

TEST(thread_to_thread) {
    ASSERT_EQ(sem_init(&gate, 0, 0), 0);
    ASSERT_EQ(corio_run(to_thread_body, NULL, NULL), 0);
    ASSERT_EQ(corio_to_thread(blocking_square, NULL, NULL, NULL), CORIO_ENOTINTASK);
    sem_destroy(&gate);
    return 0;
}

/* Cancelled while the work runs: the task stops waiting at once; the work
 * finishes later and its result is released, not leaked. A job still
 * queued when its waiter leaves never runs. */
static atomic_int started;
static int counted_job(void *arg, void **res) {
    atomic_fetch_add(&started, 1);
    return blocked_job(arg, res);
}
static int offload_counted(void *arg, void **res) { return corio_to_thread(counted_job, arg, release_int, res); }

static int to_thread_cancel_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_loop_set_thread_pool_size(corio_get_running_loop(), 1), 0);
    corio_task *running, *queued;
    ASSERT_EQ(corio_create_task(offload_counted, (void *)1, NULL, &running), 0);
    ASSERT_EQ(corio_create_task(offload_counted, (void *)2, NULL, &queued), 0);
    while (atomic_load(&started) == 0) ASSERT_EQ(corio_sleep(0.001), 0);
    ASSERT_EQ(corio_task_cancel(running, NULL), 1);
    ASSERT_EQ(corio_task_cancel(queued, NULL), 1);
    ASSERT_EQ(corio_await(running, NULL), CORIO_ECANCELED); /* no waiting for the thread */
    ASSERT_EQ(corio_await(queued, NULL), CORIO_ECANCELED);
    ASSERT_EQ(sem_post(&gate), 0);
    while (atomic_load(&released) == 0) ASSERT_EQ(corio_sleep(0.001), 0);
    ASSERT_EQ(corio_sleep(0.05), 0);
    ASSERT_EQ(atomic_load(&started), 1); /* the queued job was dropped */
    ASSERT_EQ(atomic_load(&released), 1);
    corio_future_unref(running);
    corio_future_unref(queued);
    return 0;
}

TEST(thread_to_thread_cancel_releases) {
    ASSERT_EQ(sem_init(&gate, 0, 0), 0);
    ASSERT_EQ(corio_run(to_thread_cancel_body, NULL, NULL), 0);
    sem_destroy(&gate);
    return 0;
}

/* ---- one loop per thread, each on its own ---------------------------------- */

static int sleepy(void *arg, void **res) {
    int rc = corio_sleep(0.001 * (double)((intptr_t)arg % 7));
    if (rc == 0) *res = arg;
    return rc;
}

static int many(void *arg, void **res) {
    intptr_t base = (intptr_t)arg;
    corio_aw aws[200];
    corio_outcome vals[200];
    for (intptr_t i = 0; i < 200; i++) aws[i] = CORIO_CORO(sleepy, (void *)(base + i));
    int rc = corio_gather_wait(aws, 200, 0, vals);
    intptr_t sum = 0;
    for (int i = 0; rc == 0 && i < 200; i++) sum += (intptr_t)vals[i].value;
    *res = (void *)sum;
    return rc;
}

static void *loop_thread(void *arg) {
    void *res = NULL;
    intptr_t base = (intptr_t)arg;
    for (int round = 0; round < 5; round++) {
        ASSERT_EQ(corio_run(many, arg, &res), 0);
        ASSERT_EQ((intptr_t)res, 200 * base + 199 * 200 / 2);
    }
    return NULL;
}

TEST(thread_loops_per_thread) {
    pthread_t th[4];
    for (intptr_t i = 0; i < 4; i++) ASSERT_EQ(pthread_create(&th[i], NULL, loop_thread, (void *)(i * 1000)), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    return 0;
}
