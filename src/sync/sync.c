/* Event, Lock, Semaphore, BoundedSemaphore, Condition, Barrier: asyncio's
 * algorithms (3.12, with 3.13's Condition), on the same futures, so that
 * who wakes when is exactly CPython's.
 *
 * A waiter is a plain future in the primitive's FIFO list; the node lives
 * on the waiting task's stack for the duration of the wait. Waking = the
 * future's result is set; a cancel of the waiting task is forwarded to the
 * future (corio_await), which is how asyncio tells "cancelled while
 * waiting" (future cancelled) from "cancelled after being woken" (future
 * done, but the task resumes with the cancel): the second must hand its
 * wake-up or permit on. */
#define _GNU_SOURCE
#include "core/contract.h"

#include <stdint.h>

/* ---- waiters ------------------------------------------------------------ */

typedef struct waiter {
    corio__list link;   /* in the primitive's list while waiting */
    corio_future *fut;  /* points at `local` */
    struct corio_future local; /* lives with the waiter */
    void *heap;         /* the waiter itself when malloc'ed (copy mode), else NULL */
} waiter;

static waiter *first_waiter(corio__list *l) {
    return corio__list_empty(l) ? NULL : corio__container_of(l->next, waiter, link);
}

#define foreach_waiter(w, l)                                                        \
    for (corio__list *n_ = (l)->next; n_ != (l) && ((w) = corio__container_of(n_, waiter, link)); \
         n_ = n_->next)

/* Bind the primitive to the running loop at first use. */
static int bind(corio_loop **bound) {
    if (!corio__running_task()) return CORIO_ENOTINTASK;
    if (!*bound) *bound = corio__running_loop;
    return *bound == corio__running_loop ? 0 : CORIO_EWRONGLOOP;
}

/* The waiting task's cancel hook. As corio_await's: the cancel goes to
 * the waiter's future. When the loop closes and destroys the task, which
 * then never resumes, the waiter leaves the primitive's list here: a node
 * on a stack that is gone must not stay linked. */
static int waiter_cancel(corio__task *t, void *obj) {
    waiter *w = obj;
    if (!corio__loop_closed(corio__task_fut(t)->loop)) return corio_future_cancel(w->fut, corio__task_cancel_msg(t)) == 1;
    corio__list_unlink(&w->link);
    corio__future_drop_local(w->fut);
    corio__free(w->heap);
    return 1;
}

/* Enqueue, wait, dequeue. Returns 0 (woken) or CORIO_ECANCELED; *woken
 * says whether the future had been set (cancelled after the wake-up). */
static int wait_in(corio_loop *loop, corio__list *l, int *woken) {
    corio__task *t = corio__running_task();
    waiter local, *w = &local; /* in the frame, unless that is copied away (copy mode) */
    if (corio__task_copy_mode(t) && !(w = corio__malloc(sizeof *w))) return CORIO_ENOMEM;
    w->heap = w != &local ? w : NULL;
    w->fut = &w->local;
    corio__future_init_local(w->fut, loop);
    corio__list_init(&w->link);
    corio__list_push_back(l, &w->link);
    corio__wake_on(t, w->fut); /* woken by the future's completion */
    int rc = corio__suspend(t, waiter_cancel, w);
    if (rc == 0 && w->fut->state == CORIO__CANCELLED) rc = CORIO_ECANCELED;
    corio__list_unlink(&w->link);
    if (woken) *woken = w->fut->state == CORIO__DONE;
    corio__future_fini_local(w->fut);
    corio__free(w->heap);
    return rc;
}

static int is_done(const waiter *w) { return w->fut->state != CORIO__PENDING; }
static void wake(waiter *w) { corio_future_set_result(w->fut, NULL); }

/* ---- Event ---------------------------------------------------------------- */

struct corio_event {
    corio_loop *loop;     /* bound at first wait, borrowed */
    corio__list waiters;  /* waiter nodes on the waiting tasks' stacks */
    uint8_t value;
};

int corio_event_new(corio_event **out) {
    if (!out) return CORIO_EINVAL;
    corio_event *e = corio__calloc(1, sizeof *e);
    *out = e;
    if (!e) return CORIO_ENOMEM;
    corio__list_init(&e->waiters);
    return 0;
}

int corio_event_free(corio_event *e) {
    if (!e) return 0;
    if (!corio__list_empty(&e->waiters)) return CORIO_EBUSY;
    corio__free(e);
    return 0;
}

int corio_event_set(corio_event *e) {
    if (!e) return CORIO_EINVAL;
    if (e->value) return 0;
    e->value = 1;
    waiter *w;
    foreach_waiter(w, &e->waiters) if (!is_done(w)) wake(w);
    return 0;
}

int corio_event_clear(corio_event *e) {
    if (!e) return CORIO_EINVAL;
    e->value = 0;
    return 0;
}

int corio_event_is_set(const corio_event *e) { return e && e->value; }

int corio_event_wait(corio_event *e) {
    if (!e) return CORIO_EINVAL;
    if (e->value) return 0; /* no suspension, as asyncio */
    int rc = bind(&e->loop);
    return rc < 0 ? rc : wait_in(e->loop, &e->waiters, NULL);
}

/* ---- Lock ------------------------------------------------------------------ */

struct corio_lock {
    corio_loop *loop;
    corio__list waiters;
    uint8_t locked;
};

int corio_lock_new(corio_lock **out) {
    if (!out) return CORIO_EINVAL;
    corio_lock *l = corio__calloc(1, sizeof *l);
    *out = l;
    if (!l) return CORIO_ENOMEM;
    corio__list_init(&l->waiters);
    return 0;
}

int corio_lock_free(corio_lock *l) {
    if (!l) return 0;
    if (!corio__list_empty(&l->waiters)) return CORIO_EBUSY;
    corio__free(l);
    return 0;
}

int corio_lock_locked(const corio_lock *l) { return l && l->locked; }

/* Only the head is woken, cancelled or not: it passes the lock on. */
static void lock_wake_first(corio_lock *l) {
    waiter *w = first_waiter(&l->waiters);
    if (w && !is_done(w)) wake(w);
}

static int all_cancelled(corio__list *l) {
    waiter *w;
    foreach_waiter(w, l) if (w->fut->state != CORIO__CANCELLED) return 0;
    return 1;
}

int corio_lock_acquire(corio_lock *l) {
    if (!l) return CORIO_EINVAL;
    int rc = bind(&l->loop);
    if (rc < 0) return rc;
    if (!l->locked && all_cancelled(&l->waiters)) {
        l->locked = 1;
        return 0;
    }
    rc = wait_in(l->loop, &l->waiters, NULL);
    if (rc < 0) {
        if (!l->locked) lock_wake_first(l); /* keep the line moving */
        return rc;
    }
    l->locked = 1;
    return 0;
}

int corio_lock_release(corio_lock *l) {
    if (!l) return CORIO_EINVAL;
    if (!l->locked) return CORIO_EINVALSTATE; /* RuntimeError('Lock is not acquired.') */
    l->locked = 0;
    lock_wake_first(l);
    return 0;
}

/* ---- Semaphore (3.12) -------------------------------------------------------- */

struct corio_semaphore {
    corio_loop *loop;
    corio__list waiters;
    size_t value;
    size_t bound; /* a bounded semaphore's initial value; SIZE_MAX when unbounded */
};

static int sem_new(corio_semaphore **out, size_t value, int bounded) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    corio_semaphore *s = corio__calloc(1, sizeof *s);
    if (!s) return CORIO_ENOMEM;
    corio__list_init(&s->waiters);
    s->value = value;
    s->bound = bounded ? value : SIZE_MAX;
    *out = s;
    return 0;
}

int corio_semaphore_new(corio_semaphore **out, size_t value) { return sem_new(out, value, 0); }
int corio_bounded_semaphore_new(corio_semaphore **out, size_t value) { return sem_new(out, value, 1); }

int corio_semaphore_free(corio_semaphore *s) {
    if (!s) return 0;
    if (!corio__list_empty(&s->waiters)) return CORIO_EBUSY;
    corio__free(s);
    return 0;
}

size_t corio_semaphore_value(const corio_semaphore *s) { return s ? s->value : 0; }

/* Cannot be acquired at once: no permit, or someone waits first (FIFO). */
int corio_semaphore_locked(const corio_semaphore *s) {
    if (!s) return 0;
    if (s->value == 0) return 1;
    waiter *w;
    foreach_waiter(w, &s->waiters) if (w->fut->state != CORIO__CANCELLED) return 1;
    return 0;
}

/* Hand a permit to the first waiter not yet woken. */
static int sem_wake_next(corio_semaphore *s) {
    waiter *w;
    foreach_waiter(w, &s->waiters) {
        if (!is_done(w)) {
            s->value--;
            wake(w);
            return 1;
        }
    }
    return 0;
}

int corio_semaphore_acquire(corio_semaphore *s) {
    if (!s) return CORIO_EINVAL;
    int rc = bind(&s->loop);
    if (rc < 0) return rc;
    if (!corio_semaphore_locked(s)) {
        s->value--;
        return 0;
    }
    int woken = 0;
    rc = wait_in(s->loop, &s->waiters, &woken);
    if (rc == CORIO_ECANCELED && woken) s->value++; /* the permit we got goes back */
    while (s->value > 0 && sem_wake_next(s)) {
    } /* newcomers held back for FIFO's sake */
    return rc;
}

int corio_semaphore_release(corio_semaphore *s) {
    if (!s) return CORIO_EINVAL;
    /* Released too many times (bounded), or the count would wrap. */
    if (s->value >= s->bound) return -EOVERFLOW;
    s->value++;
    sem_wake_next(s);
    return 0;
}

/* ---- Condition (3.13) ----------------------------------------------------------- */

struct corio_condition {
    corio_lock *lock;     /* borrowed, or owned when own_lock */
    uint8_t own_lock;
    corio_loop *loop;
    corio__list waiters;
};

int corio_condition_new(corio_condition **out, corio_lock *lock) {
    if (!out) return CORIO_EINVAL;
    corio_condition *c = corio__calloc(1, sizeof *c);
    *out = c;
    if (!c) return CORIO_ENOMEM;
    corio__list_init(&c->waiters);
    if (lock) {
        c->lock = lock;
    } else {
        int rc = corio_lock_new(&c->lock);
        if (rc < 0) {
            corio__free(c);
            *out = NULL;
            return rc;
        }
        c->own_lock = 1;
    }
    return 0;
}

int corio_condition_free(corio_condition *c) {
    if (!c) return 0;
    if (!corio__list_empty(&c->waiters) || (c->own_lock && !corio__list_empty(&c->lock->waiters)))
        return CORIO_EBUSY;
    if (c->own_lock) corio_lock_free(c->lock);
    corio__free(c);
    return 0;
}

int corio_condition_acquire(corio_condition *c) { return c ? corio_lock_acquire(c->lock) : CORIO_EINVAL; }
int corio_condition_release(corio_condition *c) { return c ? corio_lock_release(c->lock) : CORIO_EINVAL; }
int corio_condition_locked(const corio_condition *c) { return c && c->lock->locked; }

static void cond_notify(corio_condition *c, size_t n) {
    size_t idx = 0;
    waiter *w;
    foreach_waiter(w, &c->waiters) {
        if (idx >= n) break;
        if (!is_done(w)) {
            idx++;
            wake(w);
        }
    }
}

int corio_condition_wait(corio_condition *c) {
    if (!c) return CORIO_EINVAL;
    if (!c->lock->locked) return CORIO_EINVALSTATE; /* cannot wait on un-acquired lock */
    int rc = bind(&c->loop);
    if (rc < 0) return rc;
    corio_lock_release(c->lock);
    rc = wait_in(c->loop, &c->waiters, NULL);
    /* Take the lock back even when cancelled; remember the cancel. */
    for (;;) {
        int a = corio_lock_acquire(c->lock);
        if (a == 0) break;
        if (a != CORIO_ECANCELED) { /* out of memory: cannot even wait for it */
            rc = a;
            break;
        }
        rc = a;
    }
    /* Leaving with an error, we may have been notified: pass it on. */
    if (rc < 0) cond_notify(c, 1);
    return rc;
}

int corio_condition_wait_for(corio_condition *c, int (*pred)(void *arg), void *arg) {
    if (!c || !pred) return CORIO_EINVAL;
    while (!pred(arg)) {
        int rc = corio_condition_wait(c);
        if (rc < 0) return rc;
    }
    return 0;
}

int corio_condition_notify(corio_condition *c, size_t n) {
    if (!c) return CORIO_EINVAL;
    if (!c->lock->locked) return CORIO_EINVALSTATE; /* cannot notify on un-acquired lock */
    cond_notify(c, n);
    return 0;
}

int corio_condition_notify_all(corio_condition *c) { return corio_condition_notify(c, SIZE_MAX); }

/* ---- Barrier (3.11+) ------------------------------------------------------------ */

enum { B_FILLING, B_DRAINING, B_RESETTING, B_BROKEN };

struct corio_barrier {
    corio_condition *cond; /* owned */
    size_t parties;
    int state;
    size_t count;          /* tasks inside wait() */
};

int corio_barrier_new(corio_barrier **out, size_t parties) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    if (parties < 1) return CORIO_EINVAL;
    corio_barrier *b = corio__calloc(1, sizeof *b);
    if (!b) return CORIO_ENOMEM;
    int rc = corio_condition_new(&b->cond, NULL);
    if (rc < 0) {
        corio__free(b);
        return rc;
    }
    b->parties = parties;
    *out = b;
    return 0;
}

int corio_barrier_free(corio_barrier *b) {
    if (!b) return 0;
    int rc = corio_condition_free(b->cond);
    if (rc < 0) return rc;
    corio__free(b);
    return 0;
}

static int not_draining(void *arg) {
    corio_barrier *b = arg;
    return b->state != B_DRAINING && b->state != B_RESETTING;
}

static int not_filling(void *arg) { return ((corio_barrier *)arg)->state != B_FILLING; }

static void barrier_exit(corio_barrier *b) {
    if (b->count == 0) {
        if (b->state == B_RESETTING || b->state == B_DRAINING) b->state = B_FILLING;
        corio_condition_notify_all(b->cond);
    }
}

int corio_barrier_wait(corio_barrier *b, size_t *index_out) {
    if (index_out) *index_out = 0;
    if (!b) return CORIO_EINVAL;
    int rc = corio_condition_acquire(b->cond);
    if (rc < 0) return rc;
    /* Block while the barrier drains or resets. */
    rc = corio_condition_wait_for(b->cond, not_draining, b);
    if (rc == 0 && b->state == B_BROKEN) rc = CORIO_EBROKEN;
    if (rc == 0) {
        size_t index = b->count++;
        if (index + 1 == b->parties) { /* the last one releases the others */
            b->state = B_DRAINING;
            corio_condition_notify_all(b->cond);
        } else {
            rc = corio_condition_wait_for(b->cond, not_filling, b);
            if (rc == 0 && (b->state == B_BROKEN || b->state == B_RESETTING)) rc = CORIO_EBROKEN;
        }
        b->count--;
        barrier_exit(b);
        if (rc == 0 && index_out) *index_out = index;
    }
    corio_condition_release(b->cond);
    return rc;
}

int corio_barrier_reset(corio_barrier *b) {
    if (!b) return CORIO_EINVAL;
    int rc = corio_condition_acquire(b->cond);
    if (rc < 0) return rc;
    if (b->count > 0) {
        if (b->state != B_RESETTING) b->state = B_RESETTING;
    } else {
        b->state = B_FILLING;
    }
    corio_condition_notify_all(b->cond);
    return corio_condition_release(b->cond);
}

int corio_barrier_abort(corio_barrier *b) {
    if (!b) return CORIO_EINVAL;
    int rc = corio_condition_acquire(b->cond);
    if (rc < 0) return rc;
    b->state = B_BROKEN;
    corio_condition_notify_all(b->cond);
    return corio_condition_release(b->cond);
}

size_t corio_barrier_parties(const corio_barrier *b) { return b ? b->parties : 0; }
size_t corio_barrier_n_waiting(const corio_barrier *b) { return b && b->state == B_FILLING ? b->count : 0; }
int corio_barrier_broken(const corio_barrier *b) { return b && b->state == B_BROKEN; }
