/* wait, future sets, as_completed, any.
 *
 * Linear drains. CPython's wait() adds a done callback to every future on
 * each call and removes them all afterwards, so `while pending: wait(...,
 * FIRST_COMPLETED)` costs O(n) per call and O(n^2) in all. Here a set keeps
 * its watches between calls: a member's watch is started once, at the
 * first wait on its set; its `now` hook puts the member on the set's done
 * list inside the child's completion, and a call only touches what
 * completed. The timing is asyncio's all the same: a completion is seen by
 * the waiter's condition one iteration later (the done callback), and the
 * waiter resumes one iteration after that; members already done when a
 * wait starts are re-signalled, as asyncio's add_done_callback on a done
 * future schedules the callback at once. */
#define _GNU_SOURCE
#include "aio/aio.h"
#include "util/ptrmap.h"

#include <math.h>

/* ---- sets --------------------------------------------------------------- */

typedef struct waitstate waitstate;

typedef struct member {
    corio__watch w;         /* started at the first wait on the set */
    corio_future *f;        /* owned reference */
    corio_futset *set;      /* the set holding it now */
    size_t index;           /* position in set->v */
    uint8_t watched;        /* w was started */
    uint8_t done;           /* f completed (and we saw it) */
    corio__list link;       /* in set->fresh while not watched, then in set->done once done */
} member;

struct corio_futset {
    member **v;             /* owned array of owned members */
    size_t n, cap;
    corio__ptrmap index;    /* future -> member */
    corio__list fresh;      /* members not watched yet */
    corio__list done;       /* watched members whose future completed, in completion order */
    size_t ndone;
    waitstate *active;      /* the wait_set call in progress on this set, borrowed; set
                               until that call returns (woken or not): free says EBUSY */
    corio_loop *awaiting;   /* the loop of a corio_futset_await in progress (free says EBUSY
                               unless that loop closed, destroying the waiter) */
    uint64_t epoch;         /* registration number of the latest wait_set call */
};

struct waitstate {
    corio__task *task;      /* the waiting task */
    corio_futset *set;
    int when;               /* return_when */
    size_t counter;         /* completions still needed for ALL_COMPLETED */
    uint8_t released;       /* the waiter was woken */
    corio__timer timer;     /* the timeout, if any */
    uint8_t heap;           /* malloc'ed (copy mode): freed by wait_set, or by the cancel at close */
};

int corio_futset_new(corio_futset **out) {
    if (!out) return CORIO_EINVAL;
    corio_futset *s = corio__calloc(1, sizeof *s);
    *out = s;
    if (!s) return CORIO_ENOMEM;
    corio__list_init(&s->fresh);
    corio__list_init(&s->done);
    return 0;
}

static int reserve(corio_futset *s, size_t extra) {
    if (s->n + extra <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 8;
    while (cap < s->n + extra) cap *= 2;
    member **v = corio__realloc(s->v, cap * sizeof *v);
    if (!v) return CORIO_ENOMEM;
    s->v = v;
    s->cap = cap;
    return 0;
}

/* Append a member (capacity and index room reserved by the caller). */
static int attach(corio_futset *s, member *m) {
    int rc = corio__ptrmap_put(&s->index, m->f, m);
    if (rc < 0) return rc;
    m->set = s;
    m->index = s->n;
    s->v[s->n++] = m;
    return 0;
}

static void detach(corio_futset *s, member *m) {
    corio__ptrmap_del(&s->index, m->f);
    member *last = s->v[--s->n];
    s->v[m->index] = last;
    last->index = m->index;
    if (m->done) {
        corio__list_unlink(&m->link);
        s->ndone--;
    } else if (!m->watched) {
        corio__list_unlink(&m->link);
    }
}

int corio_futset_add(corio_futset *s, corio_future *f) {
    if (!s || !f) return CORIO_EINVAL;
    if (corio__ptrmap_find(&s->index, f)) return 0;
    int rc = reserve(s, 1);
    if (rc < 0) return rc;
    member *m = corio__calloc(1, sizeof *m);
    if (!m) return CORIO_ENOMEM;
    m->f = f;
    if ((rc = attach(s, m)) < 0) {
        corio__free(m);
        return rc;
    }
    corio_future_ref(f);
    corio__list_init(&m->w.ev.link); /* not watched yet: stopping it is a no-op */
    corio__list_init(&m->link);
    corio__list_push_back(&s->fresh, &m->link);
    return 1;
}

size_t corio_futset_size(const corio_futset *s) { return s ? s->n : 0; }

corio_future *corio_futset_get(const corio_futset *s, size_t i) {
    return s && i < s->n ? s->v[i]->f : NULL;
}

int corio_futset_contains(const corio_futset *s, const corio_future *f) {
    return s && f && corio__ptrmap_find(&s->index, f) != NULL;
}

size_t corio_futset_cancel(corio_futset *s, const char *msg) {
    size_t k = 0;
    for (size_t i = 0; s && i < s->n; i++)
        if (corio_future_cancel(s->v[i]->f, msg) == 1) k++;
    return k;
}

int corio_futset_free(corio_futset *s) {
    if (!s) return 0;
    if (s->active || (s->awaiting && !corio__loop_closed(s->awaiting))) return CORIO_EBUSY; /* a task waits on it */
    for (size_t i = 0; i < s->n; i++) {
        member *m = s->v[i];
        corio__watch_stop(&m->w);
        corio_future_unref(m->f);
        corio__free(m);
    }
    corio__free(s->v);
    corio__ptrmap_free(&s->index);
    corio__free(s);
    return 0;
}

/* ---- wait ------------------------------------------------------------------ */

/* Woken, not resumed yet: only a close can still reach the waiter (it
 * destroys the task, and wait_set never returns to clean up). */
static int woken_cancel(corio__task *t, void *obj) {
    if (!corio__loop_closed(corio__task_fut(t)->loop)) return 0; /* a cancel now is delivered when it resumes */
    waitstate *ws = obj;
    ws->set->active = NULL;
    if (ws->heap) corio__free(ws);
    return 1;
}

static void release(waitstate *ws) {
    if (ws->released) return;
    ws->released = 1;
    corio__timer_disarm(corio__task_fut(ws->task)->loop, &ws->timer);
    corio__wake(ws->task, 0);
    corio__task_set_wait_cancel(ws->task, woken_cancel);
}

static void member_now(corio__watch *w) {
    member *m = w->owner;
    m->done = 1;
    corio__list_push_back(&m->set->done, &m->link);
    m->set->ndone++;
}

/* asyncio's _on_completion, one iteration after the completion. */
static void member_later(corio__watch *w) {
    member *m = w->owner;
    waitstate *ws = m->set->active;
    if (!ws || ws->released) return;
    if (ws->counter > 0) ws->counter--;
    corio_future *f = m->f;
    if (ws->counter == 0 || ws->when == CORIO_FIRST_COMPLETED ||
        (ws->when == CORIO_FIRST_EXCEPTION && f->state == CORIO__DONE && f->error))
        release(ws);
}

static void timeout_fired(corio__event *ev) {
    waitstate *ws = corio__container_of(ev, waitstate, timer.ev);
    if (!corio__loop_closed(corio__task_fut(ws->task)->loop)) release(ws);
}

static int wait_cancel(corio__task *t, void *obj) {
    waitstate *ws = obj;
    ws->released = 1; /* later completions leave it alone; active stays until wait_set returns */
    corio__timer_disarm(corio__task_fut(t)->loop, &ws->timer);
    corio__wake(t, CORIO_ECANCELED);
    if (corio__loop_closed(corio__task_fut(t)->loop)) { /* destroyed: wait_set never returns to clean up */
        ws->set->active = NULL;
        if (ws->heap) corio__free(ws);
    }
    return 1;
}

/* asyncio re-adds wait's callback to every future on each call, so it
 * runs after callbacks added in between; a member's watch takes its set's
 * latest epoch as order key to the same effect, at O(1) per call. */
static uint64_t member_key(corio__watch *w) { return ((member *)w->owner)->set->epoch; }

/* Watch the new members; re-signal the ones already done. */
static void arm_members(corio_futset *s) {
    corio_loop *loop = corio__running_loop;
    s->epoch = corio__loop_next_seq(loop);
    corio__list *n;
    while ((n = corio__list_pop_front(&s->fresh))) {
        member *m = corio__container_of(n, member, link);
        m->watched = 1;
        m->w.now = member_now;
        m->w.later = member_later;
        m->w.key = member_key;
        m->w.owner = m;
        corio__watch_start(&m->w, m->f);
    }
    corio__list_foreach(n, &s->done) {
        member *m = corio__container_of(n, member, link);
        if (!corio__list_linked(&m->w.ev.link)) corio__ready_push(loop, &m->w.ev);
    }
}

/* Move the done members, in completion order, into a new set. */
static int split_done(corio_futset *s, corio_futset **done) {
    corio_futset *d;
    int rc = corio_futset_new(&d);
    if (rc == 0) rc = reserve(d, s->ndone);
    if (rc == 0 && s->ndone) {
        /* Room in the index first, so that moving cannot fail half-way. */
        for (corio__list *n = s->done.next; n != &s->done && rc == 0; n = n->next)
            rc = corio__ptrmap_put(&d->index, corio__container_of(n, member, link)->f, NULL);
    }
    if (rc < 0) {
        corio_futset_free(d);
        return rc;
    }
    corio__list *n;
    while ((n = s->done.next) != &s->done) {
        member *m = corio__container_of(n, member, link);
        detach(s, m);
        attach(d, m); /* cannot fail: capacity and keys are in place */
        corio__list_push_back(&d->done, &m->link);
        d->ndone++;
    }
    *done = d;
    return 0;
}

static int check_when(int return_when) {
    return return_when == CORIO_ALL_COMPLETED || return_when == CORIO_FIRST_COMPLETED ||
           return_when == CORIO_FIRST_EXCEPTION;
}

int corio_wait_set(corio_futset *s, double timeout, int return_when, corio_futset **done) {
    if (done) *done = NULL;
    if (!s || !done || !check_when(return_when)) return CORIO_EINVAL;
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    if (s->n == 0) return CORIO_EINVAL; /* asyncio: "Set of Tasks/Futures is empty." */
    /* One waiter at a time: wait_set splits the set, which would move
     * members under an await walking it. */
    if (s->active || (s->awaiting && !corio__loop_closed(s->awaiting))) return CORIO_EBUSY;
    corio_loop *loop = corio__task_fut(t)->loop;
    /* Only members not yet watched need checking: O(new), not O(pending). */
    corio__list *it;
    corio__list_foreach(it, &s->fresh)
        if (corio__container_of(it, member, link)->f->loop != loop) return CORIO_EWRONGLOOP;
    waitstate local, *ws = &local; /* in the frame, unless that is copied away (copy mode) */
    if (corio__copy_mode() && !(ws = corio__malloc(sizeof *ws))) return CORIO_ENOMEM;
    *ws = (waitstate){.task = t, .set = s, .when = return_when, .counter = s->n, .heap = ws != &local};
    ws->timer.node.index = CORIO__HEAP_NONE;
    corio__list_init(&ws->timer.ev.link);
    ws->timer.ev.run = timeout_fired;
    double when;
    int rc = corio__deadline(loop, timeout, 1, &when);
    if (rc == 0 && when != INFINITY) rc = corio__timer_arm(loop, &ws->timer, when);
    if (rc == 0) {
        arm_members(s);
        s->active = ws;
        rc = corio__suspend(t, wait_cancel, ws);
        s->active = NULL;
        corio__timer_disarm(loop, &ws->timer);
    }
    if (ws != &local) corio__free(ws);
    if (rc < 0) return rc;
    return split_done(s, done);
}

/* A set of futures from awaitables (aws) or futures (futs); coroutines are
 * refused (asyncio 3.11+). */
static int set_of(const corio_aw *aws, corio_future *const *futs, size_t n, corio_futset **out) {
    *out = NULL;
    if (n && !aws && !futs) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!(aws ? aws[i].fut : futs[i])) return CORIO_EINVAL;
    corio_futset *s;
    int rc = corio_futset_new(&s);
    if (rc < 0) return rc;
    rc = reserve(s, n);
    for (size_t i = 0; i < n && rc >= 0; i++) rc = corio_futset_add(s, aws ? aws[i].fut : futs[i]);
    if (rc < 0) {
        corio_futset_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* What wait and any hold in their frames across a wait: if the task is
 * destroyed pending (loop close), the frame never resumes to let go of
 * it, so it is on the heap and among the task's scopes, which the loop
 * abandons. */
typedef struct held {
    corio__scope scope;   /* in the task's scopes while the call runs */
    corio_futset *set;    /* owned while held */
    corio_future **futs;  /* owned references, n of them, and the array */
    size_t n;
    corio_error **errs;   /* owned array (borrowed entries) */
    corio__ptrmap seen;   /* any's futures already taken */
} held;

static void held_drop(held *h) {
    corio_futset_free(h->set);
    for (size_t i = 0; h->futs && i < h->n; i++) corio_future_unref(h->futs[i]);
    corio__free(h->futs);
    corio__free(h->errs);
    corio__ptrmap_free(&h->seen);
    corio__free(h);
}

static void held_abandon(corio__scope *sc, corio__task *t, int report) {
    (void)t, (void)report;
    held_drop(corio__container_of(sc, held, scope));
}

static held *hold(corio__task *t) {
    if (corio__scope_reserve(t) < 0) return NULL;
    held *h = corio__calloc(1, sizeof *h);
    if (!h) return NULL;
    h->scope.abandon = held_abandon;
    corio__scope_push(t, &h->scope);
    return h;
}

/* The call returns: what is left in h is dropped. */
static void unhold(corio__task *t, held *h) {
    corio__scope_pop(t, &h->scope);
    held_drop(h);
}

static int wait_on(const corio_aw *aws, corio_future *const *futs, size_t n, double timeout,
                   int return_when, corio_futset **done, corio_futset **pending) {
    if (done) *done = NULL;
    if (pending) *pending = NULL;
    if (!done || !pending || isnan(timeout) || !check_when(return_when)) return CORIO_EINVAL;
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    held *h = hold(t);
    if (!h) return CORIO_ENOMEM;
    int rc = set_of(aws, futs, n, &h->set);
    if (rc == 0) rc = corio_wait_set(h->set, timeout, return_when, done);
    if (rc == 0) {
        *pending = h->set;
        h->set = NULL;
    }
    unhold(t, h);
    return rc;
}

int corio_wait(const corio_aw *aws, size_t n, double timeout, int return_when,
               corio_futset **done, corio_futset **pending) {
    return wait_on(aws, NULL, n, timeout, return_when, done, pending);
}

int corio_wait_tasks(corio_future *const *futs, size_t n, double timeout, int return_when,
                     corio_futset **done, corio_futset **pending) {
    return wait_on(NULL, futs, n, timeout, return_when, done, pending);
}

/* Member by member, quietly (a cancel of the caller stops the waiting,
 * not the members): each wait costs one suspension at most. */
int corio_futset_await(corio_futset *s) {
    if (!s) return CORIO_EINVAL;
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    if (s->active || (s->awaiting && !corio__loop_closed(s->awaiting))) return CORIO_EBUSY;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->f->loop != corio__task_fut(t)->loop) return CORIO_EWRONGLOOP;
    s->awaiting = corio__task_fut(t)->loop; /* a member's reference keeps it alive as long as the set */
    int rc = 0;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        corio_future *f = s->v[i]->f;
        if (!f->state) rc = corio__wait_done(t, f);
    }
    s->awaiting = NULL;
    return rc;
}

/* ---- as_completed (asyncio 3.13's _AsCompletedIterator) ------------------- */

typedef struct ac_item {
    corio__watch w;
    corio_future *f;    /* owned reference */
    uint8_t in_todo;    /* still awaited (not yet queued, not timed out) */
    uint8_t made;       /* a task made here for a coroutine (cancelled if construction fails) */
} ac_item;

struct corio_as_completed {
    corio_loop *loop;   /* borrowed; the items' references keep it */
    ac_item *items;     /* owned, fixed array */
    int nitems;
    int todo;           /* items still in asyncio's _todo */
    int todo_left;      /* items not handed out yet */
    int *queue;         /* owned ring of item indices, -1 = the timeout's sentinel */
    int qhead, qlen;
    corio__timer timer; /* the timeout */
    corio__task *getter; /* the task waiting in next() and not yet woken, borrowed */
    uint8_t inside;     /* a task is inside next(), woken or not: free says EBUSY */
};

/* Woken, not resumed: at a close that destroys it, the getter never
 * leaves next(). */
static int ac_woken_cancel(corio__task *t, void *obj) {
    if (!corio__loop_closed(corio__task_fut(t)->loop)) return 0;
    ((corio_as_completed *)obj)->inside = 0;
    return 1;
}

static void ac_put(corio_as_completed *it, int v) {
    it->queue[(it->qhead + it->qlen++) % it->nitems] = v;
    if (it->getter) {
        corio__task *g = it->getter;
        it->getter = NULL;
        corio__wake(g, 0);
        corio__task_set_wait_cancel(g, ac_woken_cancel);
    }
}

static void ac_completed(corio__watch *w) {
    corio_as_completed *it = w->owner;
    ac_item *item = corio__container_of(w, ac_item, w);
    if (!item->in_todo) return; /* the timeout came first */
    item->in_todo = 0;
    it->todo--;
    ac_put(it, (int)(item - it->items));
    if (it->todo == 0) corio__timer_disarm(it->loop, &it->timer);
}

static void ac_timeout(corio__event *ev) {
    corio_as_completed *it = corio__container_of(ev, corio_as_completed, timer.ev);
    if (corio__loop_closed(it->loop)) return;
    for (int i = 0; i < it->nitems; i++) {
        ac_item *item = &it->items[i];
        if (!item->in_todo) continue;
        corio__watch_stop(&item->w);
        item->in_todo = 0;
        ac_put(it, -1);
    }
    it->todo = 0;
}

int corio_as_completed_new(const corio_aw *aws, size_t n, double timeout,
                           corio_as_completed **out) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    if ((n && !aws) || isnan(timeout) || n > (size_t)1 << 30) return CORIO_EINVAL;
    corio_loop *loop = corio__running_loop;
    for (size_t i = 0; i < n && !loop; i++)
        if (aws[i].fut) loop = aws[i].fut->loop;
    if (!loop) return CORIO_ENOLOOP;
    if (corio__loop_closed(loop)) return CORIO_ECLOSED;
    corio_as_completed *it = corio__calloc(1, sizeof *it);
    if (!it) return CORIO_ENOMEM;
    it->loop = loop;
    it->timer.node.index = CORIO__HEAP_NONE;
    corio__list_init(&it->timer.ev.link);
    it->timer.ev.run = ac_timeout;
    it->items = corio__calloc(n ? n : 1, sizeof *it->items);
    it->queue = corio__calloc(n ? n : 1, sizeof *it->queue);
    corio__ptrmap seen = {0};
    int rc = it->items && it->queue ? 0 : CORIO_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (aws[i].fut && corio__ptrmap_find(&seen, aws[i].fut)) continue; /* duplicates once */
        ac_item *item = &it->items[it->nitems];
        rc = corio__ensure_future(loop, &aws[i], &item->f);
        if (rc < 0) break;
        item->made = !aws[i].fut;
        it->nitems++;
        if (aws[i].fut && (rc = corio__ptrmap_put(&seen, aws[i].fut, item)) < 0) break;
        item->in_todo = 1;
        item->w.later = ac_completed;
        item->w.owner = it;
        corio__watch_start(&item->w, item->f);
    }
    corio__ptrmap_free(&seen);
    it->todo = it->todo_left = it->nitems;
    double when;
    if (rc == 0 && it->nitems && (rc = corio__deadline(loop, timeout, 1, &when)) == 0 &&
        when != INFINITY)
        rc = corio__timer_arm(loop, &it->timer, when);
    if (rc < 0) {
        for (int i = 0; i < it->nitems; i++)
            if (it->items[i].made) corio_future_cancel(it->items[i].f, NULL);
        corio_as_completed_free(it);
        return rc;
    }
    *out = it;
    return 0;
}

static int ac_cancel(corio__task *t, void *obj) {
    corio_as_completed *it = obj;
    it->getter = NULL;
    corio__wake(t, CORIO_ECANCELED);
    if (corio__loop_closed(corio__task_fut(t)->loop)) it->inside = 0; /* destroyed: it never leaves next() */
    return 1;
}

int corio_as_completed_next(corio_as_completed *it, corio_future **fut) {
    if (fut) *fut = NULL;
    if (!it || !fut) return CORIO_EINVAL;
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    if (corio__task_fut(t)->loop != it->loop) return CORIO_EWRONGLOOP;
    if (it->getter) return CORIO_EBUSY;
    if (it->todo_left == 0) return 0;
    it->todo_left--;
    while (it->qlen == 0) { /* asyncio.Queue.get */
        it->getter = t;
        it->inside = 1;
        int rc = corio__suspend(t, ac_cancel, it);
        it->inside = 0;
        if (rc < 0) {
            it->getter = NULL;
            it->todo_left++; /* nothing was handed out */
            return rc;
        }
    }
    int v = it->queue[it->qhead];
    it->qhead = (it->qhead + 1) % it->nitems;
    it->qlen--;
    if (v < 0) return CORIO_ETIMEDOUT;
    *fut = corio_future_ref(it->items[v].f);
    return 1;
}

int corio_as_completed_free(corio_as_completed *it) {
    if (!it) return 0;
    if (it->inside) return CORIO_EBUSY;
    /* The loop is borrowed from the items: with none (empty input, never
     * armed) it may be gone already. */
    if (it->nitems) corio__timer_disarm(it->loop, &it->timer);
    for (int i = 0; i < it->nitems; i++) {
        corio__watch_stop(&it->items[i].w);
        corio_future_unref(it->items[i].f);
    }
    corio__free(it->items);
    corio__free(it->queue);
    corio__free(it);
    return 0;
}

/* ---- any ------------------------------------------------------------------ */

/* Cancel the futures of futs[0..n) still pending in s, in input order,
 * and wait until they have all finished; a cancel of the caller meanwhile
 * is remembered, not lost. */
static int cancel_and_drain(corio_futset *s, corio_future **futs, size_t n) {
    int cancelled = 0;
    for (size_t i = 0; i < n; i++)
        if (futs[i] && corio_futset_contains(s, futs[i])) corio_future_cancel(futs[i], NULL);
    while (s->n > 0) {
        corio_futset *done = NULL;
        int rc = corio_wait_set(s, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done);
        if (rc == CORIO_ECANCELED) cancelled = 1;
        else if (rc < 0) return rc;
        for (size_t i = 0; done && i < done->n; i++) corio__future_mark_retrieved(done->v[i]->f);
        corio_futset_free(done);
    }
    return cancelled ? CORIO_ECANCELED : 0;
}

static int any_of(const corio_aw *aws, corio_future *const *in, size_t n, size_t *winner,
                  void **result) {
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    if (!n || (!aws && !in)) return CORIO_EINVAL;
    for (size_t i = 0; in && i < n; i++)
        if (!in[i]) return CORIO_EINVAL;
    held *h = hold(t);
    if (!h) return CORIO_ENOMEM;
    corio_future **futs = h->futs = corio__calloc(n, sizeof *futs);
    corio_error **errs = h->errs = corio__calloc(n, sizeof *errs);
    h->n = n;
    int rc = futs && errs ? corio_futset_new(&h->set) : CORIO_ENOMEM;
    corio_futset *s = h->set;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        corio_aw a = aws ? aws[i] : CORIO_FUT(in[i]);
        rc = corio__ensure_future(corio__task_fut(t)->loop, &a, &futs[i]);
        if (rc == 0) rc = corio_futset_add(s, futs[i]);
    }
    int nerr = 0;
    corio_future *win = NULL;
    while (rc >= 0 && s->n > 0 && !win) {
        corio_futset *done;
        rc = corio_wait_set(s, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done);
        if (rc < 0) break;
        /* A round's done futures are taken in input order (duplicates once). */
        for (size_t i = 0; i < n; i++) {
            corio_future *f = futs[i];
            if (!corio_futset_contains(done, f) || corio__ptrmap_find(&h->seen, f)) continue;
            if ((rc = corio__ptrmap_put(&h->seen, f, f)) < 0) break;
            corio__future_mark_retrieved(f); /* a second success's result is not taken */
            if (f->state == CORIO__DONE && !f->error && !win) win = f;
            else if (f->error && f->state == CORIO__DONE) errs[nerr++] = f->error;
        }
        corio_futset_free(done); /* errs stay alive: futs[] hold the futures */
    }
    int drained = s ? cancel_and_drain(s, futs, n) : 0;
    if (rc >= 0 && drained < 0) rc = drained;
    if (rc >= 0 && win) {
        if (result) *result = corio__future_take(win);
        else corio__future_mark_retrieved(win); /* untaken: its release hook has it */
        for (size_t i = 0; i < n; i++)
            if (futs[i] == win) {
                if (winner) *winner = i;
                break;
            }
        rc = 0;
    } else if (rc >= 0 && nerr == 0) {
        rc = CORIO_ECANCELED; /* every one was cancelled */
    } else if (rc >= 0) {
        corio_error *g = corio__error_group("all awaitables failed", errs, nerr);
        if (g) {
            corio__set_exc(t, g);
            corio__error_unref(g);
        }
        rc = g ? CORIO_EGROUP : CORIO_ENOMEM;
    }
    unhold(t, h);
    return rc;
}

int corio_any(const corio_aw *aws, size_t n, size_t *winner, void **result) {
    return any_of(aws, NULL, n, winner, result);
}

int corio_any_tasks(corio_future *const *futs, size_t n, size_t *winner, void **result) {
    return any_of(NULL, futs, n, winner, result);
}
