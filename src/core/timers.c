/* Timers: a wheel of buckets in front of two heaps, in exact (deadline,
 * arming order) order.
 *
 * A binary heap of every timer made firing cost O(log n) cache misses
 * (0.9 us per timer at a million) and cancel O(log n). Most timers are near
 * (sleeps, timeouts), so:
 *   - buckets: NB windows of 2^SHIFT ns from the cursor on (a deadline's
 *     window is its float value scaled and truncated: monotone, so windows
 *     keep the deadlines' order); arming appends
 *     to a bucket list, disarming unlinks: O(1). (Arrays were tried: their
 *     growth cost more than the list's one cache miss per append, 108 ns
 *     against 65 per arm at a million scrambled deadlines.) A bitmap finds
 *     the next non-empty bucket.
 *   - run: a bucket whose timers were armed in (deadline, seq) order (the
 *     common case: one delay, armed in turn) is spliced here whole when
 *     it opens, and fires from its front: no heap at all. Arming knows
 *     the order for free, since appending touches the tail anyway.
 *   - soon: a heap holding the timers of other windows already opened
 *     (window before the cursor). When soon and run are spent, the
 *     earliest non-empty bucket is opened, so it stays small (one
 *     window's timers).
 *   - far: a heap for timers beyond the buckets' reach.
 * Every bucket timer's window is at or after the cursor, every run and
 * soon timer's before it, so the earliest timer is the least of run's front, soon's and
 * far's minimum:
 * firing order and the virtual clock's jumps are exact.
 *
 * Lazy cancel (public handles, as asyncio's TimerHandle): the timer is
 * only marked; it leaves when it reaches the front or when a sweep finds
 * more dead timers than live ones. Its event then runs at once, outside
 * any order, and must only release its owner. Cancel costs a write to the
 * handle, not the cache misses of an unlink. */
#define _GNU_SOURCE
#include "core/internal.h"

#include <assert.h>
#include <string.h>

#define SHIFT 20 /* windows of 2^20 ns, about a millisecond */
/* Windows per second: 1e9 / 2^20, exact in binary. */
#define WINDOWS_PER_S (1e9 / (double)(1 << SHIFT))
#define NB 4096  /* buckets: about 4.3 s ahead */
#define WORDS (NB / 64)

/* A timer of an opened sorted window keeps W_BUCKET: it is in run exactly
 * when its window is before the cursor (no walk to relabel it). */
enum { W_NONE = 0, W_SOON, W_FAR, W_BUCKET }; /* W_NONE is 0: internal.h relies on it */

struct corio__timers {
    corio__timers_head head; /* first: the live and dead counts, used inline (internal.h) */
    corio__heap soon;        /* timers of windows before the cursor (array owned) */
    corio__heap far;         /* timers past the buckets' reach (array owned) */
    corio__list bucket[NB];  /* timers by window, in arming order */
    uint32_t count[NB];      /* timers per bucket, dead ones included */
    uint8_t unsorted[NB];    /* a bucket's timers are not in (when, seq) order */
    corio__list run;         /* an opened sorted window, in firing order */
    size_t in_run;           /* timers in run, dead ones included */
    uint64_t bits[WORDS];    /* non-empty buckets */
    int64_t cursor;          /* first window the buckets hold; windows before it are opened */
    size_t in_buckets;       /* timers in buckets, dead ones included */
};

int corio__timers_new(corio__timers **out) {
    corio__timers *T = corio__calloc(1, sizeof *T);
    if (!T) return CORIO_ENOMEM;
    for (int i = 0; i < NB; i++) corio__list_init(&T->bucket[i]);
    corio__list_init(&T->run);
    *out = T;
    return 0;
}

void corio__timers_free(corio__timers *T) {
    if (!T) return;
    corio__free(T->soon.v);
    corio__free(T->far.v);
    corio__free(T);
}

static int reserve(corio__heap *h, size_t need) {
    if (need <= h->cap) return 0;
    size_t cap = h->cap ? h->cap : 64;
    while (cap < need) cap *= 2;
    if (cap > UINT32_MAX) return CORIO_ENOMEM;
    corio__heap_node **v = corio__realloc(h->v, cap * sizeof *v);
    if (!v) return CORIO_ENOMEM;
    h->v = v;
    h->cap = (uint32_t)cap;
    return 0;
}

/* A deadline's window. Deadlines are clamped to the clock's range
 * (|when| <= CORIO__CLOCK_END), so this fits in 44 bits: no overflow, and
 * no shift of a negative value. */
static int64_t window(double when) { return (int64_t)(when * WINDOWS_PER_S); }

static int bucket_of(int64_t w) { return (int)(w & (NB - 1)); } /* two's complement */

static void bucket_add(corio__timers *T, corio__timer *t, int b) {
    corio__list *h = &T->bucket[b];
    if (corio__list_empty(h)) {
        T->unsorted[b] = 0;
    } else {
        corio__timer *tail = corio__container_of(h->prev, corio__timer, ev.link);
        if (corio__heap_less(&t->node, &tail->node)) T->unsorted[b] = 1;
    }
    corio__list_push_back(h, &t->ev.link);
    T->count[b]++;
    T->bits[b / 64] |= 1ull << (b % 64);
    t->node.where = W_BUCKET;
    T->in_buckets++;
}

static void bucket_remove(corio__timers *T, corio__timer *t) {
    int b = bucket_of(window(t->node.when));
    corio__list_unlink(&t->ev.link);
    T->count[b]--;
    if (corio__list_empty(&T->bucket[b])) T->bits[b / 64] &= ~(1ull << (b % 64));
    T->in_buckets--;
}

int corio__timers_arm(corio__timers *T, corio__timer *t, double when, uint64_t seq) {
    assert(when >= -CORIO__CLOCK_END && when <= CORIO__CLOCK_END);
    t->node.when = when;
    t->ev.seq = seq;
    t->node.dead = 0;
    int64_t w = window(when);
    if (T->in_buckets == 0 && T->soon.n == 0 && T->in_run == 0) T->cursor = w;
    int near = w < T->cursor + NB;
    int soon = w < T->cursor; /* its window is open already */
    /* A near timer goes to soon now or when its bucket opens: keep room in
     * soon for it, so that opening a bucket cannot fail. */
    int rc = near ? reserve(&T->soon, (size_t)T->soon.n + T->in_buckets + 1)
                  : reserve(&T->far, (size_t)T->far.n + 1);
    if (rc < 0) return rc;
    if (soon) {
        corio__heap_insert(&T->soon, &t->node);
        t->node.where = W_SOON;
    } else if (near) {
        bucket_add(T, t, bucket_of(w));
    } else {
        corio__heap_insert(&T->far, &t->node);
        t->node.where = W_FAR;
    }
    T->head.n++;
    return 0;
}

/* Take t out of wherever it is armed. */
static void unarm(corio__timers *T, corio__timer *t) {
    switch (t->node.where) {
    case W_SOON: corio__heap_remove(&T->soon, &t->node); break;
    case W_FAR: corio__heap_remove(&T->far, &t->node); break;
    case W_BUCKET:
        if (window(t->node.when) < T->cursor) { /* opened: in run */
            corio__list_unlink(&t->ev.link);
            T->in_run--;
        } else {
            bucket_remove(T, t);
        }
        break;
    default: return;
    }
    t->node.where = W_NONE;
    if (t->node.dead) T->head.dead--;
    else T->head.n--;
}

/* A dead timer already taken out of its place: its owner's event runs
 * now, to release it. */
static void release_dead(corio__timers *T, corio__timer *t) {
    t->node.where = W_NONE;
    T->head.dead--;
    t->ev.run(&t->ev);
}

/* A dead timer leaves: its owner's event runs now, to release it. */
static void reap(corio__timers *T, corio__timer *t) {
    unarm(T, t);
    t->ev.run(&t->ev);
}

void corio__timers_disarm(corio__timers *T, corio__timer *t) {
    if (t->node.where != W_NONE) unarm(T, t);
    else if (corio__list_linked(&t->ev.link)) corio__list_unlink(&t->ev.link); /* due, in ready */
}

/* Drop the dead timers of a heap, then restore the heap order. */
static void sweep_heap(corio__timers *T, corio__heap *h) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < h->n; i++) {
        corio__heap_node *x = h->v[i];
        if (x->dead) {
            x->index = CORIO__HEAP_NONE;
            release_dead(T, corio__container_of(x, corio__timer, node));
        } else {
            corio__heap_place(h, k++, x);
        }
    }
    h->n = k;
    for (uint32_t i = k / 2; i-- > 0;) corio__heap_down(h, i);
    corio__heap_check(h);
}

/* Reap the dead timers of a bucket or of the run. */
static void sweep_list(corio__timers *T, corio__list *h) {
    for (corio__list *n = h->next, *next; n != h; n = next) {
        next = n->next;
        corio__timer *t = corio__container_of(n, corio__timer, ev);
        if (t->node.dead) reap(T, t);
    }
}

/* More dead timers than live ones (corio__timers_cancel_lazy): remove
 * them all. */
void corio__timers_sweep(corio__timers *T) {
    for (int b = 0; b < NB; b++) sweep_list(T, &T->bucket[b]);
    sweep_list(T, &T->run);
    sweep_heap(T, &T->soon);
    sweep_heap(T, &T->far);
}

/* The first non-empty bucket from the cursor on, cyclically; -1 if none. */
static int next_bucket(const corio__timers *T) {
    int start = (int)(T->cursor & (NB - 1));
    for (int k = 0; k <= WORDS; k++) {
        int word = (start / 64 + k) % WORDS;
        uint64_t bits = T->bits[word];
        if (k == 0) bits &= ~0ull << (start % 64);            /* from start on */
        if (k == WORDS) bits &= (1ull << (start % 64)) - 1;  /* wrapped: before start */
        if (bits) return word * 64 + __builtin_ctzll(bits);
    }
    return -1;
}

/* soon and run are spent: open the earliest bucket. In order, it becomes
 * the run in O(1); else its timers go to soon (dead ones are reaped). */
static void open_next(corio__timers *T) {
    int b = next_bucket(T);
    if (b < 0) return;
    int64_t w = T->cursor + ((b - T->cursor) & (NB - 1));
    T->bits[b / 64] &= ~(1ull << (b % 64));
    T->cursor = w + 1;
    if (!T->unsorted[b]) {
        corio__list_splice_back(&T->run, &T->bucket[b]);
        T->in_run += T->count[b];
        T->in_buckets -= T->count[b];
        T->count[b] = 0;
        return;
    }
    T->count[b] = 0;
    corio__list *n;
    while ((n = corio__list_pop_front(&T->bucket[b]))) { /* capacity in soon reserved at arming */
        corio__timer *t = corio__container_of(n, corio__timer, ev);
        T->in_buckets--;
        if (t->node.dead) {
            release_dead(T, t);
        } else {
            corio__heap_insert(&T->soon, &t->node);
            t->node.where = W_SOON;
        }
    }
}

/* The earliest live timer; dead ones met at the front are reaped. */
corio__timer *corio__timers_peek(corio__timers *T) {
    for (;;) {
        /* An out-of-order bucket of cancelled timers only leaves nothing in
         * soon: open the next until something is there. (Each opening
         * empties a bucket; none left to open: none counted.) */
        while (T->soon.n == 0 && T->in_run == 0 && T->in_buckets) {
            size_t before = T->in_buckets;
            open_next(T);
            if (T->in_buckets == before) break;
        }
        corio__heap_node *m = NULL, *s1 = corio__heap_min(&T->soon), *f = corio__heap_min(&T->far);
        if (T->in_run) m = &corio__container_of(T->run.next, corio__timer, ev.link)->node;
        if (s1 && (!m || corio__heap_less(s1, m))) m = s1;
        if (f && (!m || corio__heap_less(f, m))) m = f;
        if (!m) return NULL;
        corio__timer *t = corio__container_of(m, corio__timer, node);
        if (!m->dead) return t;
        reap(T, t);
    }
}

void corio__timers_pop(corio__timers *T, corio__timer *t) { unarm(T, t); }
