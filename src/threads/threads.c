/* The ways in from other threads and out to blocking code.
 *
 * call_soon_threadsafe: a mutex-protected queue of events and the loop's
 * wake-up (corio__loop_wakeup). The pool is a source of the loop's
 * (contract.h): the loop knows it only through the source's hooks, which
 * move what was posted into the ready queue, tell whether jobs are in
 * flight, and settle and free the pool when the loop closes.
 *
 * to_thread: a bounded pool of worker threads per loop, started lazily. A
 * finished job posts itself back through the same queue; the loop thread
 * completes the future the task awaits, or releases the result if nobody
 * waits any more. Jobs in flight keep a virtual-time loop from jumping
 * ahead or declaring a deadlock. */
#define _GNU_SOURCE
#include "threads/threads.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

typedef struct corio__threads {
    corio__source src;        /* first: the loop's view of the pool */
    pthread_mutex_t lock;     /* guards posted, cfutures, closed, and the pool below */
    corio__list posted;       /* events posted from other threads */
    corio__list cfutures;     /* run_coroutine_threadsafe futures the loop side holds */
    int closed;               /* the loop is closing or closed: refuse posts */
    int inflight;             /* loop thread only: to_thread jobs not yet back on the loop */
    /* the pool */
    pthread_cond_t work;      /* signalled when a job is queued or on stop */
    corio__list jobs;         /* queued jobs */
    pthread_t *threads;       /* owned array of started workers */
    size_t nthreads, max_threads, idle;
    int stopping;
} corio__threads;

static const corio__source_ops threads_ops;

/* The loop's pool. Any thread, until corio_loop_free. */
static corio__threads *threads_of(const corio_loop *loop) {
    return (corio__threads *)(void *)corio__loop_find_source(loop, &threads_ops);
}

/* ---- posting from any thread ------------------------------------------------- */

int corio__threads_attach(corio_loop *loop) {
    corio__threads *t = corio__calloc(1, sizeof *t);
    if (!t) return CORIO_ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->work, NULL);
    corio__list_init(&t->posted);
    corio__list_init(&t->cfutures);
    corio__list_init(&t->jobs);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    t->max_threads = ncpu > 0 && ncpu + 4 < 32 ? (size_t)ncpu + 4 : 32;
    t->src.ops = &threads_ops;
    corio__loop_add_source(loop, &t->src);
    return 0;
}

/* With t->lock held: queue ev and wake the loop. The wake-up is written
 * under the lock too, so that once a poster lets go of the lock it
 * touches nothing of the loop's again (close takes the lock first). */
static void post_locked(corio__threads *t, corio__event *ev) {
    corio__list_push_back(&t->posted, &ev->link);
    corio__loop_wakeup(t->src.loop);
}

/* Post ev to loop's ready queue from any thread; CORIO_ECLOSED once the
 * loop is closing (the handle stays valid until corio_loop_free). */
static int post(corio_loop *loop, corio__event *ev) {
    corio__threads *t = threads_of(loop);
    pthread_mutex_lock(&t->lock);
    int closed = t->closed;
    if (!closed) post_locked(t, ev);
    pthread_mutex_unlock(&t->lock);
    return closed ? CORIO_ECLOSED : 0;
}

/* Loop thread, after a wake-up: take what was posted. */
static void threads_ready(corio__source *s) {
    corio__threads *t = (corio__threads *)(void *)s;
    pthread_mutex_lock(&t->lock);
    corio__list *n;
    while ((n = corio__list_pop_front(&t->posted)))
        corio__ready_push(s->loop, corio__container_of(n, corio__event, link));
    pthread_mutex_unlock(&t->lock);
}

static int threads_busy(const corio__source *s) {
    return ((const corio__threads *)(const void *)s)->inflight > 0;
}

/* A threadsafe callback: an event that runs fn(arg) once; at a closed
 * loop it runs drop(arg) instead, if given, so what arg holds is let go. */
typedef struct ts_call {
    corio__event ev;
    corio_cb fn;
    corio_cb drop;
    void *arg;
    corio_loop *loop;
} ts_call;

static void ts_call_run(corio__event *ev) {
    ts_call *c = corio__container_of(ev, ts_call, ev);
    if (!corio__loop_closed(c->loop)) c->fn(c->arg);
    else if (c->drop) c->drop(c->arg);
    corio__free(c);
}

static ts_call *ts_call_new(corio_loop *loop, corio_cb fn, corio_cb drop, void *arg) {
    ts_call *c = corio__calloc(1, sizeof *c);
    if (!c) return NULL;
    corio__list_init(&c->ev.link);
    c->ev.run = ts_call_run;
    c->fn = fn;
    c->drop = drop;
    c->arg = arg;
    c->loop = loop;
    return c;
}

int corio_call_soon_threadsafe(corio_loop *loop, corio_cb fn, void *arg) {
    if (!loop || !fn) return CORIO_EINVAL;
    ts_call *c = ts_call_new(loop, fn, NULL, arg);
    if (!c) return CORIO_ENOMEM;
    int rc = post(loop, &c->ev);
    if (rc < 0) corio__free(c);
    return rc;
}

/* ---- run_coroutine_threadsafe ------------------------------------------------- */

/* Shared by the waiting thread and the loop. Lock order: cf->lock, then
 * the loop's threads lock (cancel posts while holding cf->lock, so the
 * loop cannot be detached and freed under it); the loop side never holds
 * both. */
struct corio_cfuture {
    pthread_mutex_t lock;
    pthread_cond_t done_cond; /* on CLOCK_MONOTONIC */
    int refs;             /* the caller's + the loop side's until it completes the future */
    int done;             /* under lock; set once */
    int rc;
    void *result;
    corio_loop *loop;     /* under lock: NULL once done (the loop may be freed then) */
    corio__list link;     /* loop side: in threads->cfutures until completed */
    corio_fn fn;
    void *arg;
    corio_task *task;     /* loop thread only: owned reference, while it runs */
    int cancel_requested; /* loop thread only */
};

static void cf_unref(void *arg) {
    corio_cfuture *cf = arg;
    pthread_mutex_lock(&cf->lock);
    int last = --cf->refs == 0;
    pthread_mutex_unlock(&cf->lock);
    if (!last) return;
    pthread_mutex_destroy(&cf->lock);
    pthread_cond_destroy(&cf->done_cond);
    corio__free(cf);
}

/* Loop thread (or close): complete cf and let the loop side's reference go. */
static void cf_finish(corio_cfuture *cf, int rc, void *result) {
    pthread_mutex_lock(&cf->lock);
    cf->rc = rc;
    cf->result = result;
    cf->done = 1;
    cf->loop = NULL;
    pthread_cond_broadcast(&cf->done_cond);
    pthread_mutex_unlock(&cf->lock);
    cf_unref(cf);
}

/* Loop thread: cf leaves the loop's list, then completes. */
static void cf_complete(corio_loop *loop, corio_cfuture *cf, int rc, void *result) {
    corio__threads *t = threads_of(loop);
    pthread_mutex_lock(&t->lock);
    corio__list_unlink(&cf->link);
    pthread_mutex_unlock(&t->lock);
    cf_finish(cf, rc, result);
}

static void cf_task_done(corio_future *f, void *arg) {
    corio_cfuture *cf = arg;
    corio_loop *loop = f->loop;
    void *res = NULL;
    int rc = corio_future_result(f, &res);
    corio_future_unref(cf->task);
    cf->task = NULL;
    cf_complete(loop, cf, rc, res);
}

static void cf_start(void *arg) {
    corio_cfuture *cf = arg;
    corio_loop *loop = corio__running_loop;
    int rc = corio_loop_create_task(loop, cf->fn, cf->arg, NULL, 0, &cf->task);
    if (rc == 0) rc = corio_future_add_done_callback(cf->task, cf_task_done, cf);
    if (rc < 0) {
        if (cf->task) corio_future_cancel(cf->task, NULL), corio_future_unref(cf->task);
        cf->task = NULL;
        cf_complete(loop, cf, rc, NULL);
        return;
    }
    if (cf->cancel_requested) corio_task_cancel(cf->task, NULL);
}

int corio_run_coroutine_threadsafe(corio_loop *loop, corio_fn fn, void *arg, corio_cfuture **out) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    if (!loop || !fn) return CORIO_EINVAL;
    corio_cfuture *cf = corio__calloc(1, sizeof *cf);
    ts_call *c = cf ? ts_call_new(loop, cf_start, NULL, cf) : NULL;
    if (!c) {
        corio__free(cf);
        return CORIO_ENOMEM;
    }
    pthread_mutex_init(&cf->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cf->done_cond, &ca);
    pthread_condattr_destroy(&ca);
    cf->refs = 2;
    cf->loop = loop;
    cf->fn = fn;
    cf->arg = arg;
    corio__list_init(&cf->link);
    /* Listed and posted under one lock: close completes whatever it finds
     * listed, and nothing can be listed after it. */
    corio__threads *t = threads_of(loop);
    pthread_mutex_lock(&t->lock);
    int closed = t->closed;
    if (!closed) {
        corio__list_push_back(&t->cfutures, &cf->link);
        post_locked(t, &c->ev);
    }
    pthread_mutex_unlock(&t->lock);
    if (closed) {
        pthread_mutex_destroy(&cf->lock);
        pthread_cond_destroy(&cf->done_cond);
        corio__free(cf);
        corio__free(c);
        return CORIO_ECLOSED;
    }
    *out = cf;
    return 0;
}

int corio_cfuture_wait(corio_cfuture *cf, double timeout, void **result) {
    if (!cf || isnan(timeout)) return CORIO_EINVAL;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    int forever = timeout == INFINITY;
    if (!forever && timeout > 0) {
        double s = timeout < 9.2e9 ? timeout : 9.2e9; /* the clock's end: no overflow */
        time_t whole = (time_t)s;
        dl.tv_sec += whole;
        dl.tv_nsec += (long)((s - (double)whole) * 1e9);
        if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&cf->lock);
    if (!cf->done && cf->loop == corio__running_loop) { /* its loop could never run */
        pthread_mutex_unlock(&cf->lock);
        return CORIO_EDEADLK;
    }
    int rc = 0;
    while (!cf->done && rc == 0)
        rc = forever ? pthread_cond_wait(&cf->done_cond, &cf->lock)
                     : pthread_cond_timedwait(&cf->done_cond, &cf->lock, &dl);
    int out = cf->done ? cf->rc : CORIO_ETIMEDOUT;
    if (cf->done && out == 0 && result) *result = cf->result;
    pthread_mutex_unlock(&cf->lock);
    return out;
}

static void cf_cancel_cb(void *arg) {
    corio_cfuture *cf = arg;
    cf->cancel_requested = 1;
    if (cf->task) corio_task_cancel(cf->task, NULL);
    cf_unref(cf);
}

int corio_cfuture_cancel(corio_cfuture *cf) {
    if (!cf) return CORIO_EINVAL;
    pthread_mutex_lock(&cf->lock);
    if (cf->done) {
        pthread_mutex_unlock(&cf->lock);
        return 0;
    }
    /* Not done: the loop has not detached cf, and cannot free itself
     * while we hold cf->lock (its close waits for it). */
    int rc = CORIO_ENOMEM;
    ts_call *c = ts_call_new(cf->loop, cf_cancel_cb, cf_unref, cf);
    if (c) {
        cf->refs++; /* for the posted cancel (dropped by it, or at a closed loop) */
        rc = post(cf->loop, &c->ev);
        if (rc < 0) {
            cf->refs--;
            corio__free(c);
        }
    }
    pthread_mutex_unlock(&cf->lock);
    return rc < 0 ? rc : 1;
}

void corio_cfuture_free(corio_cfuture *cf) {
    if (cf) cf_unref(cf);
}

/* ---- the pool ------------------------------------------------------------------ */

typedef struct job {
    corio__list link;        /* in the pool's jobs, then posted back */
    corio__event done_ev;    /* posted to the loop when the work ended */
    corio_fn fn;
    void *arg;
    void (*release)(void *result);
    int rc;
    void *result;
    atomic_int abandoned;    /* nobody waits: do not even start */
    int ran;
    corio_future *fut;       /* loop thread only: the awaited future, owned */
    corio__watch on_cancel;  /* loop thread only: marks the job abandoned */
    corio_loop *loop;
} job;

static void *worker(void *arg) {
    corio__threads *t = arg;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (corio__list_empty(&t->jobs) && !t->stopping) {
            t->idle++;
            pthread_cond_wait(&t->work, &t->lock);
            t->idle--;
        }
        if (t->stopping) break;
        job *j = corio__container_of(corio__list_pop_front(&t->jobs), job, link);
        pthread_mutex_unlock(&t->lock);
        if (!atomic_load(&j->abandoned)) {
            j->result = NULL;
            j->rc = j->fn(j->arg, &j->result);
            j->ran = 1;
        }
        pthread_mutex_lock(&t->lock);
        post_locked(t, &j->done_ev); /* even when closed: close drains it */
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* Loop thread: the work is over. */
static void job_done(corio__event *ev) {
    job *j = corio__container_of(ev, job, done_ev);
    corio_loop *loop = j->loop;
    threads_of(loop)->inflight--;
    corio__watch_stop(&j->on_cancel);
    corio_future *f = j->fut;
    if (!f->state && !corio__loop_closed(loop)) {
        if (j->rc >= 0) corio_future_set_result(f, j->result);
        else if (j->rc == CORIO_ECANCELED) corio__future_cancel_now(f, NULL);
        else corio_future_set_error(f, j->rc, NULL);
    } else if (j->ran && j->rc >= 0 && j->release) {
        j->release(j->result); /* the waiter left: the result is not lost */
    }
    corio_future_unref(f);
    corio__free(j);
}

static void job_abandoned(corio__watch *w) {
    job *j = corio__container_of(w, job, on_cancel);
    if (w->child->state == CORIO__CANCELLED) atomic_store(&j->abandoned, 1);
}

static int submit(corio_loop *loop, job *j) {
    corio__threads *t = threads_of(loop);
    pthread_mutex_lock(&t->lock);
    if (t->idle == 0 && t->nthreads < t->max_threads) {
        pthread_t *v = corio__realloc(t->threads, (t->nthreads + 1) * sizeof *v);
        if (v) {
            t->threads = v;
            if (pthread_create(&v[t->nthreads], NULL, worker, t) == 0) t->nthreads++;
        }
        if (t->nthreads == 0) { /* not even one worker: the job cannot run */
            pthread_mutex_unlock(&t->lock);
            return CORIO_ENOMEM;
        }
    }
    corio__list_push_back(&t->jobs, &j->link);
    pthread_cond_signal(&t->work);
    pthread_mutex_unlock(&t->lock);
    t->inflight++;
    return 0;
}

int corio_to_thread(corio_fn fn, void *arg, corio_release_fn release, void **result) {
    if (!fn) return CORIO_EINVAL;
    corio__task *task = corio__running_task();
    if (!task) return CORIO_ENOTINTASK;
    corio_loop *loop = corio__task_fut(task)->loop;
    job *j = corio__calloc(1, sizeof *j);
    if (!j) return CORIO_ENOMEM;
    int rc = corio_future_new(loop, &j->fut);
    if (rc < 0) {
        corio__free(j);
        return rc;
    }
    corio__list_init(&j->link);
    corio__list_init(&j->done_ev.link);
    j->done_ev.run = job_done;
    j->fn = fn;
    j->arg = arg;
    j->release = release;
    j->loop = loop;
    j->on_cancel.later = job_abandoned;
    j->on_cancel.owner = j;
    /* A result the awaiting call does not take (result NULL) goes back
     * too; without memory for the hook, only the waiter-left case does. */
    if (release) (void)corio_future_set_release(j->fut, release);
    corio__watch_start(&j->on_cancel, j->fut);
    /* No reference of our own across the await: a task destroyed pending
     * at close never comes back to drop it. The job holds the future
     * until job_done, the await holds its own while it waits. */
    corio_future *f = j->fut;
    if ((rc = submit(loop, j)) < 0) {
        corio__watch_stop(&j->on_cancel);
        corio_future_unref(j->fut);
        corio__free(j);
        return rc;
    }
    return corio_await(f, result);
}

int corio_loop_set_thread_pool_size(corio_loop *loop, size_t threads) {
    if (!loop || threads < 1 || threads > 4096) return CORIO_EINVAL;
    if (corio__loop_closed(loop)) return CORIO_ECLOSED;
    corio__threads *t = threads_of(loop);
    pthread_mutex_lock(&t->lock);
    t->max_threads = threads;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

/* Loop close: refuse posts, stop the workers (each finishes the job in
 * hand), run what they posted back in closed mode (results released), and
 * complete every run_coroutine_threadsafe future as cancelled. */
static void threads_close(corio__source *s) {
    corio__threads *t = (corio__threads *)(void *)s;
    corio__list cfs;
    corio__list_init(&cfs);
    pthread_mutex_lock(&t->lock);
    t->closed = 1;
    t->stopping = 1;
    corio__list_splice_back(&cfs, &t->cfutures);
    pthread_cond_broadcast(&t->work);
    pthread_mutex_unlock(&t->lock);
    /* The futures first: a worker may be blocked waiting for one of them
     * (a job that waits on a coroutine of this very loop). */
    corio__list *n;
    while ((n = corio__list_pop_front(&cfs))) {
        corio_cfuture *cf = corio__container_of(n, corio_cfuture, link);
        corio__list_init(&cf->link);
        if (cf->task) corio_future_unref(cf->task); /* destroyed pending: the ref is ours */
        cf->task = NULL;
        cf_finish(cf, CORIO_ECANCELED, NULL);
    }
    for (size_t i = 0; i < t->nthreads; i++) pthread_join(t->threads[i], NULL);
    /* Jobs never started: their waiters are gone; drop them. */
    while ((n = corio__list_pop_front(&t->jobs))) {
        job *j = corio__container_of(n, job, link);
        corio__list_push_back(&t->posted, &j->done_ev.link);
    }
    threads_ready(s);
}

static void threads_free(corio__source *s) {
    corio__threads *t = (corio__threads *)(void *)s;
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->work);
    corio__free(t->threads);
    corio__free(t);
}

static const corio__source_ops threads_ops = {threads_ready, threads_busy, threads_close, threads_free};
