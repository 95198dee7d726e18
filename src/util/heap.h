/* Binary min-heap of timers keyed by (when, seq) — header-only.
 * `when` is a float deadline in seconds, as CPython's timer heap keys
 * them: two deadlines closer than a nanosecond still order by value.
 * seq is a per-loop counter, so timers with equal deadlines pop in the
 * order they were armed (asyncio's guarantee). The node does not hold it:
 * the includer defines corio__heap_seq (internal.h: the timer's event
 * keeps it, a field the event does not use while armed), 8 bytes less per
 * timer. Each timer stores its own index, so cancel is O(log n) with no
 * search. -DCORIO_DEBUG verifies the heap property after every change. */
#ifndef CORIO_HEAP_H
#define CORIO_HEAP_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define CORIO__HEAP_NONE UINT32_MAX

typedef struct corio__heap_node {
    double when;    /* deadline, seconds on the loop clock; never NaN (+inf: not armed) */
    uint32_t index; /* position in the heap, CORIO__HEAP_NONE when not in one */
    uint8_t where;  /* which structure of timers.c holds it (0: none) */
    uint8_t dead;   /* cancelled lazily: still in place, not counted (timers.c) */
    uint8_t spare[2]; /* the embedder's (padding otherwise): a handle keeps its flags here */
} corio__heap_node;

typedef struct corio__heap {
    corio__heap_node **v; /* owned array; nodes are owned by their users */
    uint32_t n;
    uint32_t cap;
} corio__heap;

/* The arming order of x, the tie-breaker: the includer's. */
static inline uint64_t corio__heap_seq(const corio__heap_node *x);

static inline int corio__heap_less(const corio__heap_node *a, const corio__heap_node *b) {
    return a->when < b->when || (a->when == b->when && corio__heap_seq(a) < corio__heap_seq(b));
}

static inline void corio__heap_place(corio__heap *h, uint32_t i, corio__heap_node *x) {
    h->v[i] = x;
    x->index = i;
}

static inline void corio__heap_up(corio__heap *h, uint32_t i) {
    corio__heap_node *x = h->v[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!corio__heap_less(x, h->v[p])) break;
        corio__heap_place(h, i, h->v[p]);
        i = p;
    }
    corio__heap_place(h, i, x);
}

static inline void corio__heap_down(corio__heap *h, uint32_t i) {
    corio__heap_node *x = h->v[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && corio__heap_less(h->v[c + 1], h->v[c])) c++;
        if (!corio__heap_less(h->v[c], x)) break;
        corio__heap_place(h, i, h->v[c]);
        i = c;
    }
    corio__heap_place(h, i, x);
}

#ifdef CORIO_DEBUG
static inline void corio__heap_check(const corio__heap *h) {
    for (uint32_t i = 0; i < h->n; i++) {
        assert(h->v[i]->index == i);
        if (i > 0) assert(!corio__heap_less(h->v[i], h->v[(i - 1) / 2]));
    }
}
#else
#define corio__heap_check(h) ((void)0)
#endif

/* The caller has ensured capacity (h->n < h->cap). */
static inline void corio__heap_insert(corio__heap *h, corio__heap_node *x) {
    assert(h->n < h->cap && x->index == CORIO__HEAP_NONE);
    h->v[h->n] = x;
    x->index = h->n++;
    corio__heap_up(h, x->index);
    corio__heap_check(h);
}

static inline void corio__heap_remove(corio__heap *h, corio__heap_node *x) {
    uint32_t i = x->index;
    assert(i < h->n && h->v[i] == x);
    x->index = CORIO__HEAP_NONE;
    if (--h->n != i) {
        corio__heap_node *last = h->v[h->n];
        corio__heap_place(h, i, last);
        corio__heap_up(h, i);
        corio__heap_down(h, last->index);
    }
    corio__heap_check(h);
}

static inline corio__heap_node *corio__heap_min(const corio__heap *h) {
    return h->n ? h->v[0] : NULL;
}

#endif
