/* Queue, LifoQueue, PriorityQueue: asyncio 3.13's algorithm (with
 * shutdown), getters and putters as futures in FIFO lists, so wake-ups
 * happen when CPython's do. A getter or putter cancelled after being woken
 * wakes the next one instead, so no item and no free slot is lost. */
#define _GNU_SOURCE
#include "internal.h"

enum { Q_FIFO, Q_LIFO, Q_PRIO };

typedef struct slot {
    void *item;
    uint64_t seq; /* put order: ties in a priority queue keep it */
} slot;

typedef struct qwaiter {
    corio__list link;   /* in getters or putters while queued there */
    corio_future *fut;  /* points at `local` */
    struct corio_future local; /* lives in the waiting call's frame */
} qwaiter;

struct corio_queue {
    int kind;
    int maxsize;          /* <= 0: unbounded */
    int (*cmp)(const void *a, const void *b);
    slot *v;              /* owned storage: ring (FIFO), stack (LIFO) or heap (PRIO) */
    int cap, n, head;
    uint64_t seq;
    corio_loop *loop;     /* bound at first wait, borrowed */
    corio__list getters, putters;
    int unfinished;       /* items put and not yet task_done */
    corio_event *finished;/* owned: set while unfinished == 0 */
    uint8_t shutdown;
};

static int queue_new(corio_queue **out, int maxsize, int kind, int (*cmp)(const void *, const void *)) {
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

int corio_queue_new(corio_queue **out, int maxsize) { return queue_new(out, maxsize, Q_FIFO, NULL); }
int corio_lifo_queue_new(corio_queue **out, int maxsize) { return queue_new(out, maxsize, Q_LIFO, NULL); }
int corio_priority_queue_new(corio_queue **out, int maxsize, int (*cmp)(const void *, const void *)) {
    if (!cmp) return CORIO_EINVAL;
    return queue_new(out, maxsize, Q_PRIO, cmp);
}

int corio_queue_free(corio_queue *q) {
    if (!q) return 0;
    if (!corio__list_empty(&q->getters) || !corio__list_empty(&q->putters)) return CORIO_EBUSY;
    if (corio_event_free(q->finished) < 0) return CORIO_EBUSY; /* someone is in join() */
    corio__free(q->v);
    corio__free(q);
    return 0;
}

int corio_queue_qsize(const corio_queue *q) { return q ? q->n : CORIO_EINVAL; }
int corio_queue_maxsize(const corio_queue *q) { return q ? q->maxsize : CORIO_EINVAL; }
int corio_queue_empty(const corio_queue *q) { return q && q->n == 0; }
int corio_queue_full(const corio_queue *q) { return q && q->maxsize > 0 && q->n >= q->maxsize; }

/* ---- storage ---------------------------------------------------------------- */

static int prio_less(const corio_queue *q, const slot *a, const slot *b) {
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static int grow(corio_queue *q) {
    if (q->n < q->cap) return 0;
    int cap = q->cap ? q->cap * 2 : 16;
    slot *v = corio__malloc((size_t)cap * sizeof *v);
    if (!v) return CORIO_ENOMEM;
    for (int i = 0; i < q->n; i++) /* unroll the ring */
        v[i] = q->v[q->kind == Q_FIFO ? (q->head + i) % q->cap : i];
    corio__free(q->v);
    q->v = v;
    q->cap = cap;
    q->head = 0;
    return 0;
}

static int store(corio_queue *q, void *item) {
    int rc = grow(q);
    if (rc < 0) return rc;
    slot s = {item, q->seq++};
    if (q->kind == Q_FIFO) {
        q->v[(q->head + q->n) % q->cap] = s;
        q->n++;
    } else if (q->kind == Q_LIFO) {
        q->v[q->n++] = s;
    } else { /* sift up */
        int i = q->n++;
        while (i > 0 && prio_less(q, &s, &q->v[(i - 1) / 2])) {
            q->v[i] = q->v[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        q->v[i] = s;
    }
    return 0;
}

static void *take(corio_queue *q) {
    if (q->kind == Q_FIFO) {
        void *item = q->v[q->head].item;
        q->head = (q->head + 1) % q->cap;
        q->n--;
        return item;
    }
    if (q->kind == Q_LIFO) return q->v[--q->n].item;
    void *item = q->v[0].item; /* sift the last one down from the root */
    slot last = q->v[--q->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
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

/* Wake the first waiter not already woken or cancelled (asyncio pops them). */
static void wakeup_next(corio__list *l) {
    corio__list *n;
    while ((n = corio__list_pop_front(l))) {
        qwaiter *w = corio__container_of(n, qwaiter, link);
        if (!w->fut->state) {
            corio_future_set_result(w->fut, NULL);
            break;
        }
    }
}

static int bind(corio_queue *q) {
    if (!corio__running_task()) return CORIO_ENOTINTASK;
    if (!q->loop) q->loop = corio__running_loop;
    return q->loop == corio__running_loop ? 0 : CORIO_EWRONGLOOP;
}

/* Wait in `l` until woken. If cancelled after being woken, and the queue
 * could serve the next one (still_ok), wake it instead. */
static int wait_turn(corio_queue *q, corio__list *l, int (*still_ok)(const corio_queue *)) {
    qwaiter local, *w = &local; /* in the frame, unless that is copied away (copy mode) */
    if (corio__copy_mode() && !(w = corio__malloc(sizeof *w))) return CORIO_ENOMEM;
    w->fut = &w->local;
    corio__future_init_local(w->fut, q->loop);
    corio__list_init(&w->link);
    corio__list_push_back(l, &w->link);
    int rc = corio_await(w->fut, NULL);
    if (rc < 0) {
        corio_future_cancel(w->fut, NULL); /* just in case it is not done yet */
        if (corio__list_linked(&w->link)) corio__list_unlink(&w->link);
        if (still_ok(q) && w->fut->state != CORIO__CANCELLED) wakeup_next(l);
    } else if (corio__list_linked(&w->link)) {
        corio__list_unlink(&w->link);
    }
    corio__future_fini_local(w->fut);
    if (w != &local) corio__free(w);
    return rc;
}

static int not_full(const corio_queue *q) { return !corio_queue_full(q); }
static int not_empty(const corio_queue *q) { return q->n > 0; }

int corio_queue_put_nowait(corio_queue *q, void *item) {
    if (!q) return CORIO_EINVAL;
    if (q->shutdown) return CORIO_ESHUTDOWN;
    if (corio_queue_full(q)) return CORIO_EFULL;
    int rc = store(q, item);
    if (rc < 0) return rc;
    q->unfinished++;
    corio_event_clear(q->finished);
    wakeup_next(&q->getters);
    return 0;
}

int corio_queue_get_nowait(corio_queue *q, void **item) {
    if (!q || !item) return CORIO_EINVAL;
    if (q->n == 0) return q->shutdown ? CORIO_ESHUTDOWN : CORIO_EEMPTY;
    *item = take(q);
    wakeup_next(&q->putters);
    return 0;
}

int corio_queue_put(corio_queue *q, void *item) {
    if (!q) return CORIO_EINVAL;
    int rc = bind(q);
    if (rc < 0) return rc;
    while (corio_queue_full(q)) {
        if (q->shutdown) return CORIO_ESHUTDOWN;
        if ((rc = wait_turn(q, &q->putters, not_full)) < 0) return rc;
    }
    return corio_queue_put_nowait(q, item);
}

int corio_queue_get(corio_queue *q, void **item) {
    if (!q || !item) return CORIO_EINVAL;
    int rc = bind(q);
    if (rc < 0) return rc;
    while (q->n == 0) {
        if (q->shutdown) return CORIO_ESHUTDOWN;
        if ((rc = wait_turn(q, &q->getters, not_empty)) < 0) return rc;
    }
    return corio_queue_get_nowait(q, item);
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
    corio__list *n;
    while ((n = corio__list_pop_front(&q->getters))) {
        qwaiter *w = corio__container_of(n, qwaiter, link);
        if (!w->fut->state) corio_future_set_result(w->fut, NULL);
    }
    while ((n = corio__list_pop_front(&q->putters))) {
        qwaiter *w = corio__container_of(n, qwaiter, link);
        if (!w->fut->state) corio_future_set_result(w->fut, NULL);
    }
    return 0;
}
