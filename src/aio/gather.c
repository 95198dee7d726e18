/* gather: asyncio._GatheringFuture, step for step.
 *
 * A gather is a future with one done callback (a kid) per distinct child.
 * A kid runs one iteration after the child completes (asyncio's _done_callback)
 * and decides: first error (or cancelled child) completes the gather at
 * once unless return_exceptions; otherwise the last child completes it with
 * every position's outcome. Cancelling the gather cancels every child not
 * yet done; the gather then ends with the cancel as its error.
 *
 * Children already done when the gather is made (eager tasks, done
 * futures) are seen right after the last child is added, in order, as
 * asyncio 3.12 does: a gather of tasks that all finished eagerly is done
 * when corio_gather returns.
 *
 * corio_gather_wait's gather never escapes, so it "collects": each
 * child's outcome goes straight into the caller's outcome array when
 * seen, and the child is let go then rather than with the gather. A
 * million eager children then reuse one task's memory instead of holding
 * a million. A copy-mode caller's array is on a stack that holds other
 * tasks' frames while it waits: the gather collects into an array of its
 * own then, copied to the caller's when it resumes. */
#define _GNU_SOURCE
#include "core/contract.h"
#include "util/ptrmap.h"

#include <stdatomic.h>

typedef struct gather gather;

/* One per distinct child: a bare event in the child's callback list (the
 * generic corio__watch carries hooks gather never uses: 72 bytes against
 * 32, and a million children are a million kids). */
typedef struct kid {
    corio__event ev;  /* in f->callbacks, then in loop->ready (kid_run) */
    corio_future *f;  /* owned reference; NULL once collected */
    gather *g;        /* the owner, borrowed */
    size_t at;        /* its first position */
    uint8_t shared;   /* more than one position: never collected early */
    uint8_t deferred; /* done when added: seen once every child is in (make_gather) */
} kid;

struct gather {
    struct corio_future fut; /* must be first; kind gather_kind() */
    size_t n;                /* positions */
    size_t nchildren;        /* distinct children */
    size_t nkids;            /* of them, those with a kid (all but the collected at once) */
    size_t nfinished;        /* children seen done */
    size_t ndeferred;        /* kids done when added, seen after construction */
    uint8_t return_exceptions;
    uint8_t cancel_requested; /* a cancel reached at least one child */
    uint8_t collect;         /* corio_gather_wait's: outcomes go to `outs` when seen */
    kid **pos;               /* owned array: per position, its child (shared for duplicates);
                                NULL: collected at construction */
    void **values;           /* per position, the result once done: owned (not collecting) */
    corio_outcome *outs;     /* collecting: where outcomes go (the caller's, or owned in
                                copy mode); NULL: nobody wants them */
    corio_outcome *owned_outs; /* copy mode's own outs until gather_wait resumes: freed
                                (with what it holds) if it never does */
    kid *kids;               /* owned array of nkids (fixed: their events point into it) */
};

static int gather_cancel(corio_future *f, const char *msg);
static void gather_destroy(corio_future *f);
static const corio__future_ops gather_ops = {gather_cancel, gather_destroy};

/* A gather is a kind of future the core does not know: registered on the
 * first gather (any thread), the number cached here. */
static _Atomic uint8_t kind_cache;

static uint8_t gather_kind(void) {
    uint8_t k = atomic_load_explicit(&kind_cache, memory_order_acquire);
    if (!k) {
        k = corio__future_kind(&gather_ops);
        atomic_store_explicit(&kind_cache, k, memory_order_release);
    }
    return k;
}

static gather *as_gather(const corio_future *f) {
    return f && f->kind && f->kind == atomic_load_explicit(&kind_cache, memory_order_acquire)
               ? (gather *)(void *)f
               : NULL;
}

/* The error a cancelled child stands for: its own, or a bare cancel. */
static corio_error *cancel_error_of(corio_future *f) {
    if (f->state == CORIO__CANCELLED && f->error) return corio__error_ref(f->error);
    return corio__error_cancelled();
}

static void finish(gather *g, corio_error *err) {
    if (err) {
        g->fut.error = err;
    } else {
        g->fut.result = g->values;
    }
    corio__future_complete(&g->fut, CORIO__DONE);
}

/* Position i's outcome into an outcome (the result is taken, the error
 * referenced); a pending child gives CORIO_EINVALSTATE. */
static void outcome_of(corio_outcome *o, corio_future *f) {
    if (f->state == CORIO__DONE && !f->error) { /* the common case, without a call */
        *o = (corio_outcome){.code = 0, .value = corio__future_take(f), .error = NULL};
        return;
    }
    void *v = NULL;
    o->code = corio_future_result(f, &v);
    o->value = o->code == 0 ? v : NULL;
    o->error = NULL;
    if (o->code < 0 && f->state)
        o->error = f->error ? corio__error_ref(f->error) : corio__error_cancelled();
}

/* Collecting: position i's outcome, if anyone wants it; else the child's
 * outcome only counts as seen (its result, untaken, goes to its release
 * hook). */
static void store(gather *g, size_t i, corio_future *f) {
    if (g->outs) outcome_of(&g->outs[i], f);
    else corio__future_mark_retrieved(f);
}

static void complete(gather *g, corio_future *last);

/* A child is done (asyncio's _done_callback). */
static void seen_done(gather *g, corio_future *f) {
    g->nfinished++;
    if (g->fut.state) { /* already done: a later error counts as read */
        corio__future_mark_retrieved(f);
        return;
    }
    if (!g->return_exceptions) {
        if (f->state == CORIO__CANCELLED) {
            finish(g, cancel_error_of(f));
            return;
        }
        if (f->error) {
            corio__future_mark_retrieved(f);
            finish(g, corio__error_ref(f->error));
            return;
        }
    }
    if (g->nfinished < g->nchildren) return;
    complete(g, f);
}

/* Every child is done; `last` was seen last (NULL: none was left to see). */
static void complete(gather *g, corio_future *last) {
    for (size_t i = 0; g->nkids && i < g->n; i++) { /* no kid: all collected, pos untouched */
        kid *k = g->pos[i];
        if (!k || !k->f) continue; /* collected */
        corio_future *c = k->f;
        corio__future_mark_retrieved(c);
        if (g->collect) continue; /* gather_wait stores these when it resumes */
        /* Read, not taken: the values reach the program only if the
         * gather's own result does (gather_destroy). */
        g->values[i] = c->state == CORIO__DONE && !c->error ? c->result : NULL;
    }
    if (g->cancel_requested) { /* cancelled gathers end cancelled, return_exceptions or not */
        finish(g, cancel_error_of(last));
        return;
    }
    finish(g, NULL);
}

/* Collected early (its outcome stored, the child let go at once) only when
 * nothing could be lost if the waiter never resumes (a task destroyed at
 * loop close): a plain success. A child with a release hook or an error
 * stays held, and its outcome is stored when the waiter resumes; if it
 * never does, the child's hook gets the result and the error is dropped
 * with the child. */
static int collectable(const gather *g, const corio_future *f) {
    return g->collect && f->state == CORIO__DONE && !f->error && !(f->flags & CORIO__F_RELEASE);
}

static void child_done(kid *k) {
    gather *g = k->g;
    corio_future *f = k->f;
    int early = !k->shared && collectable(g, f);
    if (early) store(g, k->at, f);
    seen_done(g, f);
    if (early) { /* its outcome is copied: let it go now */
        corio__future_mark_retrieved(f);
        k->f = NULL;
        corio_future_unref(f);
    }
}

/* The kid's event, one iteration after its child completed (asyncio's
 * _done_callback); a closed loop runs no callbacks. */
static void kid_run(corio__event *ev) {
    kid *k = corio__container_of(ev, kid, ev);
    if (!corio__loop_closed(k->f->loop)) child_done(k);
}

static int gather_cancel(corio_future *f, const char *msg) {
    gather *g = as_gather(f);
    int any = 0;
    for (size_t i = 0; i < g->nkids; i++)
        if (g->kids[i].f && corio_future_cancel(g->kids[i].f, msg) == 1) any = 1;
    if (any) g->cancel_requested = 1;
    return any;
}

static void gather_destroy(corio_future *f) {
    gather *g = as_gather(f);
    int given = !g->collect && (f->flags & CORIO__F_TAKEN) && f->state == CORIO__DONE && !f->error;
    for (size_t i = 0; i < g->nkids; i++) {
        kid *k = &g->kids[i];
        if (corio__list_linked(&k->ev.link)) corio__list_unlink(&k->ev.link);
        if (!k->f) continue; /* collected */
        /* Nobody will collect its outcome through us any more: as asyncio,
         * a gather's children count as retrieved. Their results went out
         * in the gather's result if someone took that; if not, each goes
         * back through its child's release hook at the child's last unref. */
        if (given) (void)corio__future_take(k->f);
        else corio__future_mark_retrieved(k->f);
        corio_future_unref(k->f);
    }
    corio__free(g->kids);
    corio__free(g->pos);
    if (!g->collect) corio__free(g->values);
    if (g->owned_outs) {
        corio_outcomes_clear(g->owned_outs, g->n);
        corio__free(g->owned_outs);
    }
}

/* A failed construction: cancel the tasks we made (they have not run) and
 * let everything go. */
static void abandon(gather *g) {
    for (size_t i = 0; i < g->nkids; i++)
        if (g->kids[i].f) corio_future_cancel(g->kids[i].f, NULL);
    corio_future_unref(&g->fut);
}

/* Position i's awaitable: from the aws array, or a future of futs. */
static corio_aw item(const corio_aw *aws, corio_future *const *futs, size_t i) {
    return aws ? aws[i] : CORIO_FUT(futs[i]);
}

static corio_loop *pick_loop(const corio_aw *aws, corio_future *const *futs, size_t n) {
    if (corio__running_loop) return corio__running_loop;
    for (size_t i = 0; i < n; i++) {
        corio_aw a = item(aws, futs, i);
        if (a.fut) return a.fut->loop;
    }
    return NULL;
}

/* Position i's awaitable becomes a child: a kid watching it, or, for a
 * collecting gather and a new task that already finished well (eagerly),
 * its outcome at once and no kid at all: such a child only counts, so
 * counting it now is seeing it in order. */
static int add_child(gather *g, corio_loop *loop, const corio_aw *aw, size_t i, corio__ptrmap *seen) {
    void **dup = aw->fut ? corio__ptrmap_find(seen, aw->fut) : NULL;
    if (dup) { /* the same future twice: awaited once, both positions */
        kid *k = *dup;
        g->pos[i] = k;
        k->shared = 1;
        return 0;
    }
    corio_future *f;
    int rc = corio__ensure_future(loop, aw, &f);
    if (rc < 0) return rc;
    g->nchildren++;
    if (collectable(g, f) && !aw->fut) { /* finished eagerly */
        store(g, i, f);
        g->nfinished++;
        corio__future_drop(f);
        return 0;
    }
    kid *k = &g->kids[g->nkids++];
    k->f = f;
    k->at = i;
    g->pos[i] = k;
    k->g = g;
    corio__list_init(&k->ev.link);
    k->ev.run = kid_run;
    if (aw->fut && (rc = corio__ptrmap_put(seen, aw->fut, k)) < 0) return rc;
    if (f->state) { /* done already: seen once all are in (asyncio 3.12), not an iteration later */
        k->deferred = 1;
        g->ndeferred++;
    } else {
        corio__callbacks_add(f, &k->ev);
    }
    return 0;
}

/* The children done when added, in order; then, if none was left to see,
 * the gather may be complete already. */
static void see_deferred(gather *g) {
    for (size_t i = 0; g->ndeferred && i < g->nkids; i++) {
        if (!g->kids[i].deferred) continue;
        g->kids[i].deferred = 0;
        g->ndeferred--;
        child_done(&g->kids[i]);
    }
    if (!g->fut.state && g->nfinished == g->nchildren) complete(g, NULL);
}

/* Collecting gathers (corio_gather_wait) send outcomes to outs. aws or
 * futs holds the n awaitables. */
static int make_gather(const corio_aw *aws, corio_future *const *futs, size_t n, int flags,
                       int collect, corio_outcome *outs, corio_future **out) {
    *out = NULL;
    if ((n && !aws && !futs) || n > ((size_t)1 << 40) || (flags & ~CORIO_RETURN_EXCEPTIONS))
        return CORIO_EINVAL;
    for (size_t i = 0; futs && i < n; i++)
        if (!futs[i]) return CORIO_EINVAL;
    corio_loop *loop = pick_loop(aws, futs, n);
    if (!loop) return CORIO_ENOLOOP;
    if (corio__loop_closed(loop)) return CORIO_ECLOSED;
    uint8_t kind = gather_kind();
    gather *g = kind ? corio__calloc(1, sizeof *g) : NULL;
    if (!g) return CORIO_ENOMEM;
    corio__future_init(&g->fut, loop, kind);
    g->n = n;
    g->return_exceptions = (flags & CORIO_RETURN_EXCEPTIONS) != 0;
    g->collect = collect != 0;
    g->outs = outs;
    if (n == 0) { /* asyncio: an already-done gather with an empty list */
        finish(g, NULL);
        *out = &g->fut;
        return 0;
    }
    g->pos = corio__calloc(n, sizeof *g->pos);
    if (!g->collect) g->values = corio__calloc(n, sizeof *g->values);
    g->kids = corio__calloc(n, sizeof *g->kids);
    corio__ptrmap seen = {0};
    int rc = g->pos && (g->collect || g->values) && g->kids ? 0 : CORIO_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        corio_aw a = item(aws, futs, i);
        rc = add_child(g, loop, &a, i, &seen);
    }
    corio__ptrmap_free(&seen);
    if (rc < 0) {
        abandon(g);
        return rc;
    }
    see_deferred(g);
    *out = &g->fut;
    return 0;
}

int corio_gather(const corio_aw *aws, size_t n, int flags, corio_future **out) {
    if (!out) return CORIO_EINVAL;
    return make_gather(aws, NULL, n, flags, 0, NULL, out);
}

int corio_gather_tasks(corio_future *const *futs, size_t n, int flags, corio_future **out) {
    if (!out) return CORIO_EINVAL;
    return make_gather(NULL, futs, n, flags, 0, NULL, out);
}

size_t corio_gather_size(const corio_future *f) {
    gather *g = as_gather(f);
    return g ? g->n : 0;
}

corio_future *corio_gather_child(corio_future *f, size_t i) {
    gather *g = as_gather(f);
    return g && i < g->n && g->pos[i] ? g->pos[i]->f : NULL;
}

static corio_future *position(corio_future *f, size_t i, int *rc) {
    gather *g = as_gather(f);
    *rc = !g || i >= g->n ? CORIO_EINVAL : !g->fut.state ? CORIO_EINVALSTATE : 0;
    if (!*rc && (!g->pos[i] || !g->pos[i]->f)) *rc = CORIO_EINVALSTATE; /* collected: gather_wait's own */
    return *rc ? NULL : g->pos[i]->f;
}

int corio_gather_result(corio_future *f, size_t i, void **value) {
    int rc;
    corio_future *c = position(f, i, &rc);
    if (!c) return rc;
    return corio_future_result(c, value);
}

int corio_gather_exception(corio_future *f, size_t i, corio_error **err) {
    if (err) *err = NULL;
    int rc;
    corio_future *c = position(f, i, &rc);
    if (!c) return rc;
    return corio_future_exception(c, err);
}

void corio_outcomes_clear(corio_outcome *outs, size_t n) {
    for (size_t i = 0; outs && i < n; i++) {
        corio__error_unref(outs[i].error);
        outs[i] = (corio_outcome){0, NULL, NULL};
    }
}

int corio_gather_wait(const corio_aw *aws, size_t n, int flags, corio_outcome *outs) {
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    /* Nothing of the gather may write into a suspended copy-mode frame. */
    corio_outcome *dest = outs;
    if (outs && n && corio__task_copy_mode(t) && !(dest = corio__calloc(n, sizeof *dest))) return CORIO_ENOMEM;
    corio_future *f;
    int rc = make_gather(aws, NULL, n, flags, 1, dest, &f); /* n == 0: done at once */
    if (rc < 0) {
        if (dest != outs) corio__free(dest);
        return rc;
    }
    gather *g = as_gather(f);
    if (dest != outs) g->owned_outs = dest; /* freed with the gather if we never resume */
    rc = corio__await_owned(f, NULL);
    for (size_t i = 0; g->nkids && i < n; i++) { /* positions not collected: pending, or shared */
        kid *k = g->pos[i];
        if (k && k->f) store(g, i, k->f);
    }
    g->outs = NULL; /* nothing may write there once we return */
    g->collect = 0;
    if (dest != outs) {
        memcpy(outs, dest, n * sizeof *outs);
        g->owned_outs = NULL;
        corio__free(dest);
    }
    corio_future_unref(f);
    return rc;
}
