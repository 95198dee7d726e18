/* gather: asyncio._GatheringFuture, step for step.
 *
 * A gather is a future with one watch per distinct child. A child's watch
 * runs one iteration after the child completes (asyncio's _done_callback)
 * and decides: first error (or cancelled child) completes the gather at
 * once unless return_exceptions; otherwise the last child completes it with
 * every position's outcome. Cancelling the gather cancels every child not
 * yet done; the gather then ends with the cancel as its error. */
#define _GNU_SOURCE
#include "internal.h"
#include "ptrmap.h"

typedef struct kid {
    corio__watch w;   /* on f */
    corio_future *f;  /* owned reference */
} kid;

typedef struct gather {
    struct corio_future fut; /* must be first; kind CORIO__GATHER */
    size_t n;                /* positions */
    size_t nkids;            /* distinct children */
    size_t nfinished;        /* children whose watch has run */
    uint8_t return_exceptions;
    uint8_t cancel_requested; /* a cancel reached at least one child */
    kid **pos;               /* owned array: per position, its child (shared for duplicates) */
    void **values;           /* owned array: per position, the result once done */
    kid *kids;               /* owned array of nkids (fixed: watches point into it) */
} gather;

static int gather_cancel(corio_future *f, const char *msg);
static void gather_destroy(corio_future *f);
const corio__future_ops corio__gather_ops = {gather_cancel, gather_destroy};

static gather *as_gather(const corio_future *f) {
    return f && f->kind == CORIO__GATHER ? (gather *)(void *)f : NULL;
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

static void child_done(corio__watch *w) {
    gather *g = w->owner;
    corio_future *f = w->child;
    g->nfinished++;
    if (g->fut.state) { /* already done: a later error counts as read */
        f->retrieved = 1;
        return;
    }
    if (!g->return_exceptions) {
        if (f->state == CORIO__CANCELLED) {
            finish(g, cancel_error_of(f));
            return;
        }
        if (f->error) {
            f->retrieved = 1;
            finish(g, corio__error_ref(f->error));
            return;
        }
    }
    if (g->nfinished < g->nkids) return;
    for (size_t i = 0; i < g->n; i++) {
        corio_future *c = g->pos[i]->f;
        c->retrieved = 1;
        g->values[i] = c->state == CORIO__DONE && !c->error ? c->result : NULL;
    }
    if (g->cancel_requested) { /* cancelled gathers end cancelled, return_exceptions or not */
        finish(g, cancel_error_of(f));
        return;
    }
    finish(g, NULL);
}

static int gather_cancel(corio_future *f, const char *msg) {
    gather *g = as_gather(f);
    int any = 0;
    for (size_t i = 0; i < g->nkids; i++)
        if (corio_future_cancel(g->kids[i].f, msg) == 1) any = 1;
    if (any) g->cancel_requested = 1;
    return any;
}

static void gather_destroy(corio_future *f) {
    gather *g = as_gather(f);
    for (size_t i = 0; i < g->nkids; i++) {
        corio__watch_stop(&g->kids[i].w);
        /* Nobody will collect its outcome through us any more: as asyncio,
         * a gather's children count as retrieved. */
        g->kids[i].f->retrieved = 1;
        corio_future_unref(g->kids[i].f);
    }
    corio__free(g->kids);
    corio__free(g->pos);
    corio__free(g->values);
}

/* A failed construction: cancel the tasks we made (they have not run) and
 * let everything go. */
static void abandon(gather *g) {
    for (size_t i = 0; i < g->nkids; i++) corio_future_cancel(g->kids[i].f, NULL);
    corio_future_unref(&g->fut);
}

static corio_loop *pick_loop(const corio_aw *aws, size_t n) {
    if (corio__running_loop) return corio__running_loop;
    for (size_t i = 0; i < n; i++)
        if (aws[i].fut) return aws[i].fut->loop;
    return NULL;
}

int corio_gather(const corio_aw *aws, size_t n, int flags, corio_future **out) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    if ((n && !aws) || n > ((size_t)1 << 40)) return CORIO_EINVAL;
    corio_loop *loop = pick_loop(aws, n);
    if (!loop) return CORIO_ENOLOOP;
    if (loop->closed) return CORIO_ECLOSED;
    gather *g = corio__calloc(1, sizeof *g);
    if (!g) return CORIO_ENOMEM;
    corio__future_init(&g->fut, loop, CORIO__GATHER);
    g->n = n;
    g->return_exceptions = (flags & CORIO_RETURN_EXCEPTIONS) != 0;
    if (n == 0) { /* asyncio: an already-done gather with an empty list */
        finish(g, NULL);
        *out = &g->fut;
        return 0;
    }
    g->pos = corio__calloc(n, sizeof *g->pos);
    g->values = corio__calloc(n, sizeof *g->values);
    g->kids = corio__calloc(n, sizeof *g->kids);
    corio__ptrmap seen = {0};
    int rc = g->pos && g->values && g->kids ? 0 : CORIO_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        void **dup = aws[i].fut ? corio__ptrmap_find(&seen, aws[i].fut) : NULL;
        if (dup) { /* the same future twice: awaited once, both positions */
            g->pos[i] = *dup;
            continue;
        }
        kid *k = &g->kids[g->nkids];
        rc = corio__ensure_future(loop, &aws[i], &k->f);
        if (rc < 0) break;
        g->nkids++;
        g->pos[i] = k;
        if (aws[i].fut && (rc = corio__ptrmap_put(&seen, aws[i].fut, k)) < 0) break;
        k->w.later = child_done;
        k->w.owner = g;
        corio__watch_start(&k->w, k->f);
    }
    corio__ptrmap_free(&seen);
    if (rc < 0) {
        abandon(g);
        return rc;
    }
    *out = &g->fut;
    return 0;
}

int corio_gather_size(const corio_future *f) {
    gather *g = as_gather(f);
    return g ? (int)g->n : CORIO_EINVAL;
}

corio_future *corio_gather_child(const corio_future *f, size_t i) {
    gather *g = as_gather(f);
    return g && i < g->n ? g->pos[i]->f : NULL;
}

static corio_future *position(corio_future *f, size_t i, int *rc) {
    gather *g = as_gather(f);
    *rc = !g || i >= g->n ? CORIO_EINVAL : !g->fut.state ? CORIO_EINVALSTATE : 0;
    return *rc ? NULL : g->pos[i]->f;
}

int corio_gather_result(corio_future *f, size_t i, void **value) {
    int rc;
    corio_future *c = position(f, i, &rc);
    if (!c) return rc;
    return corio_future_result(c, value);
}

int corio_gather_exception(corio_future *f, size_t i, const corio_error **err) {
    if (err) *err = NULL;
    int rc;
    corio_future *c = position(f, i, &rc);
    if (!c) return rc;
    return corio_future_exception(c, err);
}

int corio_gather_wait(const corio_aw *aws, size_t n, int flags, void **values, int *codes) {
    if (!corio__running_task()) return CORIO_ENOTINTASK;
    if (n && !values) return CORIO_EINVAL;
    corio_future *g;
    int rc = corio_gather(aws, n, flags, &g);
    if (rc < 0) return rc;
    rc = corio_await(g, NULL);
    for (size_t i = 0; i < n; i++) {
        void *v = NULL;
        int c = corio_gather_result(g, i, &v);
        values[i] = c == 0 ? v : NULL;
        if (codes) codes[i] = c;
    }
    corio_future_unref(g);
    return rc;
}
