/* Futures: completion, results, done callbacks, references, and the
 * table of kinds (a task is the core's; a gather registers its own). */
#define _GNU_SOURCE
#include "core/internal.h"

#include <pthread.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A done callback: an event that sits in the future's list until the
 * future completes, then in the ready queue until it runs. */
typedef struct donecb {
    corio__event ev;    /* owned by fut->callbacks, then by loop->head.ready */
    corio_done_cb fn;
    void *arg;
    corio_future *fut;  /* borrowed while registered; a reference once scheduled */
} donecb;

static void donecb_run(corio__event *ev);
static void watch_run(corio__event *ev);

const corio__future_ops *corio__kind_ops[CORIO__KINDS] = {
    [CORIO__TASK] = &corio__task_ops,
};
static pthread_mutex_t kinds_lock = PTHREAD_MUTEX_INITIALIZER;

/* A layer above registers its kind here instead of the core naming it.
 * The lock orders the slot's write before any future of that kind exists
 * (its maker got the number from here, or from a cache it published with
 * release order after this returned). */
uint8_t corio__future_kind(const corio__future_ops *ops) {
    uint8_t k = 0;
    pthread_mutex_lock(&kinds_lock);
    for (int i = CORIO__TASK + 1; i < CORIO__KINDS && !k; i++) {
        if (!corio__kind_ops[i]) corio__kind_ops[i] = ops;
        if (corio__kind_ops[i] == ops) k = (uint8_t)i;
    }
    pthread_mutex_unlock(&kinds_lock);
    return k;
}

void corio__future_init(corio_future *f, corio_loop *loop, uint8_t kind) {
    corio__future_setup(f, loop, kind);
}

void corio__future_init_local(corio_future *f, corio_loop *loop) {
    memset(f, 0, sizeof *f);
    corio__future_setup(f, loop, CORIO__PLAIN);
}

void corio__future_drop_local(corio_future *f) {
    corio__list *n;
    while ((n = corio__list_pop_front(&f->callbacks))) {
    } /* only the waiting task's step: its destroy lets go of it */
    corio__error_unref(f->error);
    f->error = NULL;
    corio__loop_unref(f->loop);
}

void corio__future_fini_local(corio_future *f) {
    assert(f->refs == 1 && corio__list_empty(&f->callbacks));
    corio__error_unref(f->error);
    corio__loop_unref(f->loop);
}

int corio_future_new(corio_loop *loop, corio_future **out) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    if (!loop) return CORIO_EINVAL;
    if (loop->head.closed) return CORIO_ECLOSED;
    corio_future *f = corio__calloc(1, sizeof *f);
    if (!f) return CORIO_ENOMEM;
    corio__future_init(f, loop, CORIO__PLAIN);
    *out = f;
    return 0;
}

corio_future *corio_future_ref(corio_future *fut) {
    if (fut) fut->refs++;
    return fut;
}

#ifdef CORIO_DEBUG
/* A freed future's refs (a double unref reads it before the memory is
 * reused; ASan builds catch the rest). */
#define FREED_POISON 0xDEADDEADu
#endif

_Static_assert(sizeof(corio_release_fn) == sizeof(void *), "release hooks are kept as pointers");

static corio_release_fn release_of(corio_future *f, int remove) {
    corio_release_fn fn = NULL;
    void **slot = corio__ptrmap_find(&f->loop->releases, f);
    if (slot) memcpy(&fn, slot, sizeof fn);
    if (remove) corio__ptrmap_del(&f->loop->releases, f);
    return fn;
}

int corio_future_set_release(corio_future *f, corio_release_fn release) {
    if (!f) return CORIO_EINVAL;
    if (!release) {
        if (f->flags & CORIO__F_RELEASE) release_of(f, 1);
        f->flags &= (uint8_t)~CORIO__F_RELEASE;
        return 0;
    }
    void *v;
    memcpy(&v, &release, sizeof v);
    int rc = corio__ptrmap_put(&f->loop->releases, f, v);
    if (rc < 0) return rc;
    f->flags |= CORIO__F_RELEASE;
    return 0;
}

void corio__future_move_release(corio_future *from, corio_future *to) {
    if (!(from->flags & CORIO__F_RELEASE)) return;
    corio_release_fn fn = release_of(from, 0);
    if (fn && corio_future_set_release(to, fn) == 0) { /* else from keeps it */
        release_of(from, 1);
        from->flags &= (uint8_t)~CORIO__F_RELEASE;
    }
}

void corio_future_unref(corio_future *f) {
    if (!f) return;
#ifdef CORIO_DEBUG
    if (f->refs == FREED_POISON || f->refs == 0) {
        fprintf(stderr, "corio: corio_future_unref of a future already freed (%p)\n", (void *)f);
        abort();
    }
#endif
    if (--f->refs) return;
    corio__future_free(f);
}

/* A task that ended well with nothing to report, release or free but
 * itself (most tasks: a gather's children, spawned work): straight back
 * to its slab. */
static int task_free_plain(corio_future *f) {
    if (!corio__is_task(f) || f->error || (f->flags & CORIO__F_RELEASE) || !corio__list_empty(&f->callbacks))
        return 0;
    corio__task *t = corio__as_task(f);
    if (t->rare || t->copy_mode) return 0;
    corio_loop *loop = f->loop;
#ifdef CORIO_DEBUG
    f->refs = FREED_POISON;
#endif
    corio__slab_free(&loop->task_slab, f);
    corio__loop_unref(loop);
    return 1;
}

/* The last reference went: report, release, free. */
void corio__future_free(corio_future *f) {
    if (task_free_plain(f)) return;
    if (f->error && !f->retrieved && f->state == CORIO__DONE && f->error->code != CORIO_ECANCELED)
        corio__report(f->loop,
                      corio__is_task(f) ? "Task exception was never retrieved"
                                 : "Future exception was never retrieved",
                      f, f->error);
    if (f->flags & CORIO__F_RELEASE) { /* a result nobody received goes back */
        corio_release_fn fn = release_of(f, 1);
        if (fn && f->state == CORIO__DONE && !f->error && !(f->flags & CORIO__F_TAKEN) && f->result)
            fn(f->result);
    }
    /* Callbacks of a future nobody can complete any more never run. */
    corio__list *n;
    while ((n = corio__list_pop_front(&f->callbacks))) {
        corio__event *ev = corio__container_of(n, corio__event, link);
        if (ev->run == donecb_run) corio__free(corio__container_of(ev, donecb, ev));
    }
    if (f->error) corio__error_unref(f->error);
    corio_loop *loop = f->loop;
    if (f->kind) corio__kind_ops[f->kind]->destroy(f);
#ifdef CORIO_DEBUG
    f->refs = FREED_POISON;
#endif
    if (corio__is_task(f)) corio__slab_free(&loop->task_slab, f);
    else corio__free(f);
    corio__loop_unref(loop);
}

corio_loop *corio_future_loop(const corio_future *fut) { return fut ? fut->loop : NULL; }
int corio_future_done(const corio_future *fut) { return fut && fut->state != CORIO__PENDING; }
int corio_future_cancelled(const corio_future *fut) { return fut && fut->state == CORIO__CANCELLED; }

void corio__callbacks_add(corio_future *f, corio__event *ev) {
    ev->seq = ++f->loop->cb_seq;
    corio__list_push_back(&f->callbacks, &ev->link);
}

static uint64_t key_of(corio__event *ev) {
    if (ev->run == watch_run) {
        corio__watch *w = corio__container_of(ev, corio__watch, ev);
        if (w->key) return w->key(w);
    }
    return ev->seq;
}

/* Stable insertion sort by key, scanning from the back: the list is
 * nearly always sorted already, so this is linear in practice. */
static void sort_callbacks(corio__list *h) {
    corio__list sorted;
    corio__list_init(&sorted);
    corio__list *n;
    while ((n = corio__list_pop_front(h))) {
        uint64_t k = key_of(corio__container_of(n, corio__event, link));
        corio__list *at = sorted.prev;
        while (at != &sorted && key_of(corio__container_of(at, corio__event, link)) > k)
            at = at->prev;
        /* insert n after `at` */
        n->prev = at;
        n->next = at->next;
        at->next->prev = n;
        at->next = n;
    }
    corio__list_splice_back(h, &sorted);
}

/* Set the final state and schedule every callback, in registration order
 * (asyncio's call_soon per callback). Hooks that must see the completion
 * at once (a wait set's done list) run here. */
/* The callbacks of a future that just completed go to the ready queue. */
static __attribute__((noinline)) void schedule_callbacks(corio_future *f) {
    int in_order = 1;
    uint64_t prev = 0;
    corio__list *n;
    corio__list_foreach(n, &f->callbacks) {
        corio__event *ev = corio__container_of(n, corio__event, link);
        if (ev->run == donecb_run) {
            corio_future_ref(f); /* a scheduled callback keeps its future */
        } else if (ev->run == watch_run) {
            corio__watch *w = corio__container_of(ev, corio__watch, ev);
            if (w->now) w->now(w);
        }
        uint64_t k = key_of(ev);
        if (k < prev) in_order = 0;
        prev = k;
    }
    if (!in_order) sort_callbacks(&f->callbacks);
    corio__list_splice_back(&f->loop->head.ready, &f->callbacks);
}

void corio__future_complete(corio_future *f, uint8_t state) {
    f->state = state;
    /* Most tasks finish with nobody waiting (gathered eagerly, or never
     * awaited): no registers saved for a walk then. */
    if (!corio__list_empty(&f->callbacks)) schedule_callbacks(f);
}

static int check_settable(corio_future *f) {
    if (!f) return CORIO_EINVAL;
    if (f->kind) return CORIO_EINVAL; /* tasks and gathers complete by themselves */
    if (f->loop->head.closed) return CORIO_ECLOSED;
    if (f->state) return CORIO_EINVALSTATE;
    return 0;
}

int corio_future_set_result(corio_future *f, void *result) {
    int rc = check_settable(f);
    if (rc < 0) return rc;
    f->result = result;
    corio__future_complete(f, CORIO__DONE);
    return 0;
}

int corio_future_set_exception(corio_future *f, const corio_error *err) {
    int rc = check_settable(f);
    if (rc < 0) return rc;
    if (!err || err->code >= 0 || err->code == CORIO_ECANCELED) return CORIO_EINVAL;
    f->error = corio__error_ref((corio_error *)err);
    corio__future_complete(f, CORIO__DONE);
    return 0;
}

int corio_future_set_error(corio_future *f, int code, const char *fmt, ...) {
    int rc = check_settable(f);
    if (rc < 0) return rc;
    if (code >= 0 || code == CORIO_ECANCELED) return CORIO_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    corio_error *e = corio__error_new(code, NULL, fmt, ap);
    va_end(ap);
    if (!e) return CORIO_ENOMEM;
    f->error = e;
    corio__future_complete(f, CORIO__DONE);
    return 0;
}

/* The error a cancelled future carries: code ECANCELED and the message. */
int corio__future_cancel_now(corio_future *f, const char *msg) {
    corio_error *e = msg ? corio__error_make(CORIO_ECANCELED, NULL, msg) : corio__error_cancelled();
    if (!e) e = corio__error_cancelled(); /* keep the cancel, lose the message */
    corio__error_unref(f->error);
    f->error = e;
    corio__future_complete(f, CORIO__CANCELLED);
    return 1;
}

int corio_future_cancel(corio_future *f, const char *msg) {
    if (!f) return CORIO_EINVAL;
    if (f->state) return 0;
    if (f->loop->head.closed) return CORIO_ECLOSED;
    if (f->kind) return corio__kind_ops[f->kind]->cancel(f, msg);
    return corio__future_cancel_now(f, msg);
}

int corio_future_result(corio_future *f, void **result) {
    if (!f) return CORIO_EINVAL;
    if (!f->state) return CORIO_EINVALSTATE;
    f->retrieved = 1;
    if (f->state == CORIO__CANCELLED) return CORIO_ECANCELED;
    if (f->error) return f->error->code;
    if (result) *result = corio__future_take(f);
    return 0;
}

int corio_future_exception(corio_future *f, corio_error **err) {
    if (err) *err = NULL;
    if (!f || !err) return CORIO_EINVAL;
    if (!f->state) return CORIO_EINVALSTATE;
    f->retrieved = 1;
    *err = f->error ? corio__error_ref(f->error) : NULL;
    return 0;
}

static void donecb_run(corio__event *ev) {
    donecb *d = corio__container_of(ev, donecb, ev);
    corio_future *f = d->fut;
    if (!f->loop->head.closed) d->fn(f, d->arg);
    corio__free(d);
    corio_future_unref(f);
}

int corio_future_add_done_callback(corio_future *f, corio_done_cb fn, void *arg) {
    if (!f || !fn) return CORIO_EINVAL;
    if (f->loop->head.closed) return CORIO_ECLOSED;
    donecb *d = corio__calloc(1, sizeof *d);
    if (!d) return CORIO_ENOMEM;
    corio__list_init(&d->ev.link);
    d->ev.run = donecb_run;
    d->fn = fn;
    d->arg = arg;
    d->fut = f;
    if (f->state) { /* already done: schedule it now */
        corio_future_ref(f);
        corio__ready_push(f->loop, &d->ev);
    } else {
        corio__callbacks_add(f, &d->ev);
    }
    return 0;
}

size_t corio_future_remove_done_callback(corio_future *f, corio_done_cb fn, void *arg) {
    if (!f || !fn) return 0;
    size_t removed = 0;
    corio__list *n = f->callbacks.next;
    while (n != &f->callbacks) {
        corio__list *next = n->next;
        corio__event *ev = corio__container_of(n, corio__event, link);
        if (ev->run == donecb_run) {
            donecb *d = corio__container_of(ev, donecb, ev);
            if (d->fn == fn && d->arg == arg) {
                corio__list_unlink(n);
                corio__free(d);
                removed++;
            }
        }
        n = next;
    }
    return removed;
}

/* ---- watches (the combinators' done callbacks) --------------------------- */

static void watch_run(corio__event *ev) {
    corio__watch *w = corio__container_of(ev, corio__watch, ev);
    if (!corio__loop_closed(w->child->loop)) w->later(w);
}

_Thread_local long corio__watch_starts; /* test hook: counts this thread's watch registrations */

void corio__watch_start(corio__watch *w, corio_future *child) {
    corio__watch_starts++;
    corio__list_init(&w->ev.link);
    w->ev.run = watch_run;
    w->child = child;
    if (child->state) {
        if (w->now) w->now(w);
        corio__ready_push(child->loop, &w->ev);
    } else {
        corio__callbacks_add(child, &w->ev);
    }
}

void corio__watch_stop(corio__watch *w) {
    if (corio__list_linked(&w->ev.link)) corio__list_unlink(&w->ev.link);
}
