/* Queue, LifoQueue, PriorityQueue: asyncio 3.13's algorithm (with
 * shutdown), getters and putters in FIFO lists, so wake-ups happen when
 * CPython's do. asyncio parks each waiter on a future; here the waiter is
 * the task itself, woken straight into the ready queue, which is the one
 * hop a future's completion takes too. A getter or putter cancelled after
 * being woken wakes the next one instead, so no item and no free slot is
 * lost. */
#define _GNU_SOURCE
#include "core/contract.h"

enum { Q_FIFO, Q_LIFO, Q_PRIO };

typedef struct slot {
    void *item;
    uint64_t seq; /* put order: ties in a priority queue keep it */
} slot;

enum { W_WAITING, W_WOKEN, W_CANCELLED };

/* Lives in the waiting call's frame, or on the heap for a copy-mode task
 * (whose frame is copied away while it waits). */
typedef struct qwaiter {
    corio__list link;   /* in getters or putters while W_WAITING */
    corio__task *task;  /* borrowed: the task waiting in wait_turn */
    struct corio_queue *q; /* borrowed: the queue it waits in */
    uint8_t state;      /* W_*: a woken waiter is no longer in the list */
    uint8_t heap;       /* malloc'ed: freed by wait_turn, or by the cancel at loop close */
} qwaiter;

struct corio_queue {
    int kind;
    size_t maxsize;       /* 0: unbounded */
    int (*cmp)(const void *a, const void *b);
    slot *v;              /* owned storage: ring (FIFO), stack (LIFO) or heap (PRIO) */
    size_t cap, n, head;
    uint64_t seq;
    corio_loop *loop;     /* bound at first wait, borrowed */
    corio__list getters, putters;
    size_t inside;        /* tasks inside wait_turn, woken or not: free says EBUSY */
    size_t unfinished;    /* items put and not yet task_done */
    corio_event *finished;/* owned: set while unfinished == 0 */
    uint8_t shutdown;
};

static int queue_new(corio_queue **out, size_t maxsize, int kind, int (*cmp)(const void *, const void *)) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    corio_queue *q = corio__calloc(1, sizeof *q);
    if (!q) return CORIO_ENOMEM;
    int rc = corio_event_new(&q->finished);
    if (rc < 0) {
        corio__free(q);
        return rc;
    }
    corio_event_set(q->finished);
    q->kind = kind;
    q->maxsize = maxsize;
    q->cmp = cmp;
    corio__list_init(&q->getters);
    corio__list_init(&q->putters);
    *out = q;
    return 0;
}

int corio_queue_new(corio_queue **out, size_t maxsize) { return queue_new(out, maxsize, Q_FIFO, NULL); }
int corio_lifo_queue_new(corio_queue **out, size_t maxsize) { return queue_new(out, maxsize, Q_LIFO, NULL); }
int corio_priority_queue_new(corio_queue **out, size_t maxsize, int (*cmp)(const void *, const void *)) {
    if (!cmp) return CORIO_EINVAL;
    return queue_new(out, maxsize, Q_PRIO, cmp);
}

int corio_queue_free(corio_queue *q) {
    if (!q) return 0;
    if (q->inside) return CORIO_EBUSY; /* a woken waiter has left the lists but not the call */
    if (corio_event_free(q->finished) < 0) return CORIO_EBUSY; /* someone is in join() */
    corio__free(q->v);
    corio__free(q);
    return 0;
}

size_t corio_queue_qsize(const corio_queue *q) { return q ? q->n : 0; }
size_t corio_queue_maxsize(const corio_queue *q) { return q ? q->maxsize : 0; }
int corio_queue_empty(const corio_queue *q) { return q && q->n == 0; }
static int is_full(const corio_queue *q) { return q->maxsize && q->n >= q->maxsize; }
int corio_queue_full(const corio_queue *q) { return q && is_full(q); }

/* ---- storage ---------------------------------------------------------------- */

static int prio_less(const corio_queue *q, const slot *a, const slot *b) {
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static int grow(corio_queue *q) {
    if (q->n < q->cap) return 0;
    size_t cap = q->cap ? q->cap * 2 : 16;
    if (cap > SIZE_MAX / sizeof(slot)) return CORIO_ENOMEM;
    slot *v = corio__malloc(cap * sizeof *v);
    if (!v) return CORIO_ENOMEM;
    for (size_t i = 0; i < q->n; i++) /* unroll the ring */
        v[i] = q->v[q->kind == Q_FIFO ? (q->head + i) % q->cap : i];
    corio__free(q->v);
    q->v = v;
    q->cap = cap;
    q->head = 0;
    return 0;
}

/* A FIFO ring with room: the hot path, kept small enough to inline (a
 * priority queue's sift would make every caller save registers). */
static inline int ring_put(corio_queue *q, void *item) {
    if (q->kind != Q_FIFO || q->n >= q->cap) return 0;
    size_t i = q->head + q->n; /* no division on the hot path */
    q->v[i >= q->cap ? i - q->cap : i].item = item;
    q->n++;
    return 1;
}

static inline int ring_take(corio_queue *q, void **item) {
    if (q->kind != Q_FIFO) return 0;
    *item = q->v[q->head].item;
    if (++q->head == q->cap) q->head = 0;
    q->n--;
    return 1;
}

__attribute__((noinline)) static int store(corio_queue *q, void *item) {
    int rc = grow(q);
    if (rc < 0) return rc;
    slot s = {item, q->seq++};
    if (ring_put(q, item)) {
        /* done: a FIFO needs no sequence number */
    } else if (q->kind == Q_LIFO) {
        q->v[q->n++] = s;
    } else { /* sift up */
        size_t i = q->n++;
        while (i > 0 && prio_less(q, &s, &q->v[(i - 1) / 2])) {
            q->v[i] = q->v[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        q->v[i] = s;
    }
    return 0;
}

__attribute__((noinline)) static void *take(corio_queue *q) {
    void *item;
    if (ring_take(q, &item)) return item;
    if (q->kind == Q_LIFO) return q->v[--q->n].item;
    item = q->v[0].item; /* sift the last one down from the root */
    slot last = q->v[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && prio_less(q, &q->v[c + 1], &q->v[c])) c++;
        if (!prio_less(q, &q->v[c], &last)) break;
        q->v[i] = q->v[c];
        i = c;
    }
    if (q->n > 0) q->v[i] = last;
    return item;
}

/* ---- waiting ------------------------------------------------------------------- */

/* A woken waiter is only the resuming task's to let go of, unless the
 * loop closes first and destroys the task: then its wait_cancel is all
 * that reaches it. */
static int woken_cancel(corio__task *t, void *obj) {
    if (!corio__loop_closed(corio__task_fut(t)->loop)) return 0; /* a cancel now is delivered when it resumes */
    qwaiter *w = obj;
    w->q->inside--;
    if (w->heap) corio__free(w);
    return 1;
}

__attribute__((noinline)) static void wake(qwaiter *w) {
    w->state = W_WOKEN;
    corio__wake_then(w->task, 0, woken_cancel);
}

/* Wake the first waiter (cancelled ones have left the list already).
 * The check inline, since most calls find nobody waiting. */
static inline void wakeup_next(corio__list *l) {
    if (corio__list_empty(l)) return;
    wake(corio__container_of(corio__list_pop_front(l), qwaiter, link));
}

/* The running task's loop is the running loop: one thread-local read. */
static int bind(corio_queue *q) {
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    corio_loop *loop = corio__task_fut(t)->loop;
    if (q->loop == loop) return 0;
    if (q->loop) return CORIO_EWRONGLOOP;
    q->loop = loop;
    return 0;
}

/* A cancel reaching a waiting task: it leaves the list and wakes with the
 * cancel. At loop close the task never resumes, so its heap waiter goes
 * here. */
static int waiter_cancel(corio__task *t, void *obj) {
    qwaiter *w = obj;
    corio__list_unlink(&w->link);
    w->state = W_CANCELLED;
    corio__wake(t, CORIO_ECANCELED);
    if (corio__loop_closed(corio__task_fut(t)->loop)) { /* destroyed: it never resumes to leave the call */
        w->q->inside--;
        if (w->heap) corio__free(w);
    }
    return 1;
}

/* Wait in `l` until woken. If cancelled after being woken, and the queue
 * could serve the next one (still_ok), wake it instead. */
static int wait_turn(corio_queue *q, corio__list *l, int (*still_ok)(const corio_queue *)) {
    corio__task *t = corio__running_task();
    qwaiter local, *w = &local;
    if (corio__task_copy_mode(t) && !(w = corio__malloc(sizeof *w))) return CORIO_ENOMEM;
    w->task = t;
    w->q = q;
    w->state = W_WAITING;
    w->heap = w != &local;
    corio__list_init(&w->link);
    corio__list_push_back(l, &w->link);
    q->inside++;
    int rc = corio__suspend(t, waiter_cancel, w);
    q->inside--;
    if (rc < 0 && w->state == W_WOKEN && still_ok(q)) wakeup_next(l);
    if (w->heap) corio__free(w);
    return rc;
}

static int not_full(const corio_queue *q) { return !is_full(q); }
static int not_empty(const corio_queue *q) { return q->n > 0; }

/* put_nowait and get_nowait once their checks passed; put and get come
 * here too, without checking again. */
static inline int put_checked(corio_queue *q, void *item) {
    if (!ring_put(q, item)) {
        int rc = store(q, item);
        if (rc < 0) return rc;
    }
    if (q->unfinished++ == 0) corio_event_clear(q->finished); /* set iff unfinished == 0 */
    wakeup_next(&q->getters);
    return 0;
}

static inline void get_checked(corio_queue *q, void **item) {
    if (!ring_take(q, item)) *item = take(q);
    wakeup_next(&q->putters);
}

int corio_queue_put_nowait(corio_queue *q, void *item) {
    if (!q) return CORIO_EINVAL;
    if (q->shutdown) return CORIO_ESHUTDOWN;
    if (is_full(q)) return CORIO_EFULL;
    return put_checked(q, item);
}

int corio_queue_get_nowait(corio_queue *q, void **item) {
    if (!q || !item) return CORIO_EINVAL;
    if (q->n == 0) return q->shutdown ? CORIO_ESHUTDOWN : CORIO_EEMPTY;
    get_checked(q, item);
    return 0;
}

int corio_queue_put(corio_queue *q, void *item) {
    if (!q) return CORIO_EINVAL;
    int rc = bind(q);
    if (rc < 0) return rc;
    while (is_full(q)) {
        if (q->shutdown) return CORIO_ESHUTDOWN;
        if ((rc = wait_turn(q, &q->putters, not_full)) < 0) return rc;
    }
    if (q->shutdown) return CORIO_ESHUTDOWN; /* as put_nowait would say */
    return put_checked(q, item);
}

int corio_queue_get(corio_queue *q, void **item) {
    if (!q || !item) return CORIO_EINVAL;
    int rc = bind(q);
    if (rc < 0) return rc;
    while (q->n == 0) {
        if (q->shutdown) return CORIO_ESHUTDOWN;
        if ((rc = wait_turn(q, &q->getters, not_empty)) < 0) return rc;
    }
    get_checked(q, item);
    return 0;
}

int corio_queue_task_done(corio_queue *q) {
    if (!q) return CORIO_EINVAL;
    if (q->unfinished <= 0) return CORIO_EINVAL; /* task_done() called too many times */
    if (--q->unfinished == 0) corio_event_set(q->finished);
    return 0;
}

int corio_queue_join(corio_queue *q) {
    if (!q) return CORIO_EINVAL;
    if (q->unfinished > 0) return corio_event_wait(q->finished);
    return 0;
}

int corio_queue_shutdown(corio_queue *q, int immediate) {
    if (!q) return CORIO_EINVAL;
    q->shutdown = 1;
    if (immediate) {
        while (q->n > 0) {
            take(q);
            if (q->unfinished > 0) q->unfinished--;
        }
        if (q->unfinished == 0) corio_event_set(q->finished);
    }
    /* Every waiter re-checks and meets the shutdown. */
    while (!corio__list_empty(&q->getters)) wakeup_next(&q->getters);
    while (!corio__list_empty(&q->putters)) wakeup_next(&q->putters);
    return 0;
}
