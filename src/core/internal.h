/* The core's own view: the full loop and task structs, seen only by the
 * files of core/ and by the backends (backend/). The layers above use
 * contract.h alone. Every field says who owns it or who may change it. */
#ifndef CORIO_CORE_INTERNAL_H
#define CORIO_CORE_INTERNAL_H

#include "backend/backend.h"
#include "core/contract.h"
#include "util/ptrmap.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if CORIO_HAVE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if CORIO_HAVE_TSAN
#include <sanitizer/tsan_interface.h>
#endif


/* ---- stacks ------------------------------------------------------------- */

/* A task's stack: one slot of a region of a pool (stack.c). */
typedef struct corio__stack {
    char *lo;    /* lowest usable byte (just above the guard page) */
    void *pool;  /* the pool it returns to, which knows the size */
} corio__stack;

typedef struct corio__pools corio__pools; /* per-loop, opaque outside stack.c */

int corio__pools_new(corio__pools **out);
void corio__pools_free(corio__pools *p);
/* Hand out a stack of at least `size` usable bytes (page multiple). */
int corio__stack_get(corio__pools *p, size_t size, corio__stack *out);
/* Give it back; its pages stay hot for the next task (up to a cap). */
void corio__stack_put(corio__stack *st);
/* Usable bytes (the guard page sits below lo). Async-signal-safe. Inline
 * (on every task start): a pool's first member is its usable size. */
static inline size_t corio__stack_size(const corio__stack *st) { return *(const size_t *)st->pool; }

/* The first member of corio__pools: the stack the last finished task gave
 * back, kept out of its pool so that the next task of its size (an eager
 * task starting where the last one ended, the next step of a gather)
 * takes it without a call. Owned by the pools; lo NULL when empty. */
typedef struct corio__pools_head {
    corio__stack spare;
} corio__pools_head;
/* corio__stack_get, with the spare first. size: a page multiple. */
static inline int corio__stack_take(corio__pools *p, size_t size, corio__stack *out) {
    corio__stack *sp = &((corio__pools_head *)(void *)p)->spare;
    if (sp->lo && corio__stack_size(sp) == size) {
        *out = *sp;
        sp->lo = NULL;
        return 0;
    }
    return corio__stack_get(p, size, out);
}
/* corio__stack_put, into the spare when it is empty. */
static inline void corio__stack_give(corio__pools *p, corio__stack *st) {
    corio__stack *sp = &((corio__pools_head *)(void *)p)->spare;
    if (sp->lo) {
        corio__stack_put(st);
        return;
    }
    *sp = *st;
    st->lo = NULL;
}
/* The page size, asked of the system once. */
extern _Atomic size_t corio__page;
size_t corio__page_size_slow(void);
static inline size_t corio__page_size(void) {
    size_t p = corio__page;
    return p ? p : corio__page_size_slow();
}
/* Overflow reporting for the calling thread, which is about to run a loop:
 * the SIGSEGV handler and this thread's alternate signal stack (stack.c).
 * 0, or CORIO_ENOMEM / -errno. */
int corio__overflow_guard_thread(void);

/* ---- the task slab (slab.c) --------------------------------------------- */

typedef struct corio__slab {
    size_t objsize;               /* rounded to 8 */
    void *free;                   /* LIFO of freed objects (link in their first word) */
    char *cur;                    /* next fresh object in the newest region */
    size_t left;                  /* fresh objects left there, up to the end of the part
                                     already filled in (slab.c) */
    char *end;                    /* end of the newest region */
    size_t handed;                /* bytes of fresh objects handed out so far (slab.c's fill-in) */
    size_t next_region;           /* bytes of the next region */
    struct slab_region *regions;  /* owned chain of mappings */
    int huge;                     /* immutable: regions of 2 MiB and more ask for huge pages */
} corio__slab;

/* huge: whether big regions ask for transparent huge pages (slab.c says
 * which objects gain from them). */
void corio__slab_init(corio__slab *s, size_t objsize, int huge);
void *corio__slab_alloc_slow(corio__slab *s); /* a new region (or, under ASan, calloc) */
/* Clears n bytes (a multiple of 8) with 16-byte stores: for a constant n
 * the loop unrolls into a dozen stores, where gcc would pick `rep stos`
 * or a call to memset (31 instructions per task). */
typedef uint64_t corio__u64x2 __attribute__((vector_size(16), aligned(8), may_alias));
typedef uint64_t corio__u64a __attribute__((aligned(8), may_alias));
static inline void corio__zero(void *p, size_t n) {
    char *c = p;
    size_t i = 0;
#pragma GCC unroll 16
    for (; i + 16 <= n; i += 16) *(corio__u64x2 *)(void *)(c + i) = (corio__u64x2){0, 0};
    if (i < n) *(corio__u64a *)(void *)(c + i) = 0;
}

/* An object, or NULL. The hot cases inline: the last freed object
 * (cleared when `clear` is nonzero: the slab's objsize, passed as the
 * caller's sizeof so that clearing is a few inline stores instead of a
 * call to memset), or the next fresh one of the newest region (zero
 * already). */
static inline void *corio__slab_take(corio__slab *s, size_t clear) {
    assert(clear == 0 || clear == s->objsize);
#if !CORIO_HAVE_ASAN
    void *p = s->free;
    if (p) {
        s->free = *(void **)p;
        if (clear) corio__zero(p, clear);
        return p;
    }
    if (s->left) {
        p = s->cur;
        s->cur += s->objsize;
        s->left--;
        return p;
    }
#endif
    return corio__slab_alloc_slow(s);
}
/* Zeroed. `size`: the slab's objsize, as the caller's sizeof. */
static inline void *corio__slab_alloc(corio__slab *s, size_t size) { return corio__slab_take(s, size); }
/* Contents unspecified: for a buffer the caller overwrites at once. */
static inline void *corio__slab_alloc_uninit(corio__slab *s) { return corio__slab_take(s, 0); }
#if CORIO_HAVE_ASAN
void corio__slab_free(corio__slab *s, void *p); /* free(): a use after free is still caught */
#else
static inline void corio__slab_free(corio__slab *s, void *p) { /* LIFO: reused hot */
    *(void **)p = s->free;
    s->free = p;
}
#endif
void corio__slab_destroy(corio__slab *s);

/* ---- context switching (switch_<arch>.S) ------------------------------- */

/* Save callee-saved state on the current stack, store its sp in *save,
 * continue on the stack whose saved sp is `load`. */
void corio__switch(void **save, void *load);
/* The same switch; it differs only in how the resumption is predicted
 * (switch_x86_64.S says which suits what; one and the same on aarch64).
 * Either may resume a context the other saved. */
void corio__switch_jmp(void **save, void *load);
/* A task's first step: save this context as the switches do and call
 * entry(arg) on the fresh stack whose top is `top`. entry either never
 * returns, or returns the saved sp of a context to resume instead of its
 * own, which is then over. */
void corio__switch_start(void **save, void *top, void *(*entry)(void *), void *arg);

/* ---- tasks (and the kinds table of future.c) ------------------------------ */

/* The task kind is the core's own; others register (corio__future_kind). */
enum { CORIO__PLAIN = 0, CORIO__TASK = 1, CORIO__KINDS = 256 };
extern const corio__future_ops corio__task_ops;
/* Per kind: its ops (NULL for plain); written once per kind, under a lock. */
extern const corio__future_ops *corio__kind_ops[CORIO__KINDS];

void corio__scopes_abandon(corio__task *t, int report);

/* What few tasks use, out of line (measured cold: each 24 bytes of a task
 * cost a million-task gather about a tenth of its time): made on first
 * need from loop->rare_slab, freed with the task. */
typedef struct corio__task_rare {
    char *name;                /* owned; NULL means the default "Task-<id>" (formatted lazily) */
    corio_error *exc;          /* owned: the error last raised or observed, for chaining */
    char *cancel_msg;          /* owned: message of the latest cancel request / observed cancel */
    corio__scope *scopes;      /* open timeout scopes and task groups, innermost first; owned
                                  by their enter/exit, abandoned when the task ends */
} corio__task_rare;

/* A million of these sleep at once in the sleepers benchmark: every field
 * counts (200 bytes on x86-64 without sanitizers: sched.c asserts it). */
struct corio__task {
    struct corio_future fut;   /* must be first: a task is a future */
    corio__list link;          /* in loop->tasks while not done; owned by the loop */
    /* step.ev resumes the task: in loop->ready, or in an awaited future's
     * callbacks. step.node is the sleep timer: inside corio_sleep the same
     * event waits in the timers (run = sleep_fired), then becomes the step
     * again; the task is never queued for two things at once. */
    corio__timer step;
    union {
        struct {               /* until the first step: what to run */
            corio_fn fn;       /* the body */
            void *arg;         /* the user's */
        } start;
        struct {               /* copy mode, while suspended after that */
            char *saved;       /* owned (loop->saved_slabs or malloc): the stack bytes from sp to the top */
            size_t saved_len;
        } copy;
    } u;
    corio__task_rare *rare;    /* owned (loop->rare_slab); NULL until a field of it is set */
    uint64_t id;               /* immutable; for the default name */
    void *sp;                  /* saved stack pointer while suspended; written by corio__switch */
    corio__stack stack;        /* lo == NULL until first run and again after the body returned */
    corio__wait_cancel_fn wait_cancel; /* set while suspended on something cancellable */
    void *wait_obj;            /* what it waits on (a future for await); borrowed */
    int wake_code;             /* what the pending suspension returns; written by the waker */
    uint32_t num_cancels;      /* cancel() requests not withdrawn by uncancel() */
    uint32_t stack_pages;      /* requested usable stack size, in pages */
    uint8_t must_cancel;       /* deliver CORIO_ECANCELED at the next resumption */
    uint8_t started;           /* the body has been entered (u.start is spent): 1, then 2
                                  once it has suspended through switch_out (task_exit) */
    uint8_t finished;          /* the body has returned; the loop frees the stack after the switch back */
    uint8_t copy_mode;         /* immutable: runs on loop->shared, its bytes saved while suspended;
                                  beside must_cancel so the hot path tests both at once (the
                                  layers read the same fact as CORIO__F_COPY) */
#if CORIO_HAVE_ASAN
    void *asan_fake;           /* ASan fake-stack handle across the switch */
#endif
#if CORIO_HAVE_TSAN
    void *tsan_fiber;          /* TSan fiber of this task while it has a stack */
#endif
};

static inline corio__task *corio__as_task(corio_future *f) { return (corio__task *)(void *)f; }
/* t's rare fields, made if need be (await.c): NULL without memory. */
corio__task_rare *corio__task_rare_get(corio__task *t);
/* Reading them: NULL when never set. */
static inline const char *corio__task_name_of(const corio__task *t) { return t->rare ? t->rare->name : NULL; }
static inline corio__scope *corio__task_scopes(const corio__task *t) { return t->rare ? t->rare->scopes : NULL; }
static inline int corio__is_task(const corio_future *f) { return f->kind == CORIO__TASK; }

/* ---- handles (public callbacks) ---------------------------------------- */

/* 72 bytes: the flags live in the heap node's spare bytes, the arming
 * order in the event's seq. The layout is
 * measured, not guessed (1M scrambled timers, interleaved runs): with the
 * node's flags and `loop` side by side (bytes 46..55), cancel reads one
 * cache line per handle; against node, ev, fn, arg, loop this order cut
 * cancel from 20 to 17 ns and firing from 313 to 283 ns per timer. */
struct corio_handle {
    corio__timer timer;  /* ev is the ready-queue entry; node used by call_later/call_at;
                            node.spare: [0] cancelled, [1] refs (the loop's while
                            scheduled + the user's if they asked for it) */
    corio_loop *loop;    /* strong reference (loop->refs) for the handle's lifetime */
    corio_cb fn;         /* user callback */
    void *arg;           /* user's */
};
#define corio__handle_cancelled(h) ((h)->timer.node.spare[0])
#define corio__handle_refs(h) ((h)->timer.node.spare[1])

/* Copy-mode saved stacks up to this many 16-byte units come from slabs
 * (no allocator header, reused hot); larger ones from malloc. */
#define CORIO__SAVED_CLASSES 64

/* ---- the loop ----------------------------------------------------------- */

struct corio_loop {
    corio__loop_head head;        /* first: ready (FIFO, entries owned by their embedders) and
                                     closed, which the layers read inline (contract.h) */
    corio__list batch;            /* the part of ready this iteration runs (run_ready) */
    struct corio__timers *timers; /* owned: armed timers (timers.c); nodes owned by embedders */
    corio__list tasks;            /* live (not done) tasks, in creation order */
    corio__list resources;        /* corio__resource entries, freed at close */
    corio__ptrmap releases;       /* future -> its corio_release_fn (corio_future_set_release) */
    corio__ptrmap registry;       /* the layers' live objects (corio__loop_register) */
    corio__list sources;          /* corio__source entries (the thread pool), added at creation */
    int wake_fd;                  /* eventfd in the backend's set, owned; open until the memory goes */
    atomic_int wake_pending;      /* a wake-up write is outstanding (corio__loop_wakeup) */
    corio__pools *pools;          /* owned stack pools */
    corio__slab task_slab;        /* task objects; lives until the loop's memory goes */
    corio__slab rare_slab;        /* their out-of-line fields (corio__task_rare), as long */
    corio__slab handle_slab;      /* public handles (each holds a loop reference) */
    corio__slab saved_slabs[CORIO__SAVED_CLASSES]; /* copy-mode saved stacks by 16-byte class */
    int stack_mode;               /* CORIO_STACK_* for new tasks */
    corio__stack shared;          /* the copy-mode tasks' stack (lo NULL until needed); from pools */
    char *shared_top;             /* its top: copy-mode frames are saved from sp up to here */
    corio__task *shared_owner;    /* the task whose frames are on `shared` now, borrowed */
    corio_task *current;          /* the task running now, borrowed */
    struct corio__task *back;     /* the task that switched back to the loop last, borrowed */
    struct corio__task *eager_task;   /* in its eager first step now (sched.c), borrowed */
    struct corio__task *eager_parent; /* whom eager_task returns to; NULL: the loop's stack */
    void *sp;                     /* the scheduler's saved sp while a task runs */
    double now;                   /* clock at the last update, s (loop.time()) */
    double vnow;                  /* virtual clock, s (virtual mode): jumps to deadlines */
    uint64_t timer_seq;           /* next timer sequence number */
    uint64_t cb_seq;              /* last done-callback registration number */
    uint64_t task_ids;            /* last Task-N number given */
    size_t stack_size;            /* default usable stack bytes for new tasks */
    uint32_t refs;                /* the user's until close + one per live future */
    int ntasks;                   /* length of tasks */
    const struct corio__backend_ops *be; /* the backend it waits with (static table) */
    int backend_fd;               /* epoll fd, owned (backend/epoll.c) */
    size_t io_sources;            /* descriptors in the backend's set, or operations in
                                     flight (io_uring): the poll must ask */
    struct corio__fdtab *fdtab;   /* owned by the epoll backend: its watcher per descriptor */
    struct corio__uring *uring;   /* owned by the io_uring backend: its ring, records, ops */
    uint8_t virtual_time;
    uint8_t running;
    uint8_t stopping;
    uint8_t inline_ok;            /* run_loop is iterating: a task may advance it (advance_inline) */
    uint8_t eager;                /* new tasks start eagerly (corio_loop_set_eager_tasks) */
    corio_exception_handler handler; /* never NULL */
    void *handler_arg;
#if CORIO_HAVE_ASAN
    const void *asan_stack_bottom; /* the scheduler's stack, learnt at the first switch */
    size_t asan_stack_size;
    uint8_t asan_from_loop;        /* the switch under way left the scheduler's stack */
#endif
#if CORIO_HAVE_TSAN
    void *tsan_fiber;             /* the scheduler's fiber */
#endif
};

/* ---- loop.c --------------------------------------------------------------- */

static inline void corio__loop_ref(corio_loop *loop) { loop->refs++; }
void corio__loop_free(corio_loop *loop); /* the last reference went */
static inline void corio__loop_unref(corio_loop *loop) {
    if (--loop->refs == 0) corio__loop_free(loop);
}
/* Start the next iteration from a task when it cannot block: 1 if done. */
int corio__advance_inline(corio_loop *loop);

/* ---- sched.c: the ready phase ----------------------------------------------- */

void corio__run_batch(corio_loop *loop);

/* ---- future.c ------------------------------------------------------------- */

/* corio__future_init, inline for the core's hot paths (task creation). */
static inline void corio__future_setup(corio_future *f, corio_loop *loop, uint8_t kind) {
    corio__list_init(&f->callbacks);
    f->loop = loop;
    f->refs = 1;
    f->kind = kind;
    corio__loop_ref(loop);
}

/* ---- the task files: sched.c, cancel.c, name.c, stack_copy.c, await.c,
 * sleep.c (each declaration says its file) ------------------------------- */

void corio__task_destroy_pending(corio__task *t); /* loop close (cancel.c) */
int corio__task_format_name(const corio__task *t, char *buf, size_t cap); /* name.c */
/* Copy mode (stack_copy.c): after t suspended, keep the bytes it uses;
 * before it resumes, put them back; when it is over, let them go. */
void corio__copy_out(corio_loop *loop, corio__task *t);
void corio__copy_in(corio_loop *loop, corio__task *t);
void corio__copy_release(corio_loop *loop, corio__task *t);
int corio__copy_stack_get(corio_loop *loop); /* the shared stack, made on first use */
void corio__task_retire(corio__task *t);      /* sched.c: stack back, the loop's ref dropped */
int corio__await_cancel(corio__task *t, void *fut); /* await.c: the hook that marks an await */
int corio__set_cancel_msg(corio__task *t, const char *msg); /* cancel.c */
int corio__task_cancel_op(corio_future *f, const char *msg);  /* cancel.c: the kind's cancel */
int corio__sleep_timer(corio__task *t, double delay);          /* sleep.c: a delay > 0, or NaN */

/* ---- timers.c: buckets in front of two heaps, exact (when, seq) order ----- */
typedef struct corio__timers corio__timers;
int corio__timers_new(corio__timers **out);
void corio__timers_free(corio__timers *T);
/* The first member of corio__timers, so the loop's hot paths read the
 * count, and a lazy cancel is done, without a call. */
typedef struct corio__timers_head {
    size_t n;    /* timers armed and live, all places together; timers.c writes it */
    size_t dead; /* cancelled lazily, still in place */
} corio__timers_head;
static inline size_t corio__timers_count(const corio__timers *T) {
    return ((const corio__timers_head *)(const void *)T)->n;
}
int corio__timers_arm(corio__timers *T, corio__timer *t, double when, uint64_t seq);
void corio__timers_disarm(corio__timers *T, corio__timer *t); /* armed, or due in ready */
void corio__timers_sweep(corio__timers *T);
/* Cancel without removing (one-shot timers only): the timer stays until it
 * reaches the front or a sweep, then its event runs at once, out of order,
 * and must only release its owner. A timer already due (node.where 0) is
 * left alone. When dead timers outnumber live ones, all go (amortized O(1)
 * per cancel, and memory held by cancelled handles stays bounded). */
static inline void corio__timers_cancel_lazy(corio__timers *T, corio__timer *t) {
    corio__timers_head *h = (corio__timers_head *)(void *)T;
    if (t->node.where == 0) return; /* already due: the event sees the cancel */
    t->node.dead = 1;
    h->n--;
    h->dead++;
    if (h->dead > 1024 && h->dead > h->n) corio__timers_sweep(T);
}
corio__timer *corio__timers_peek(corio__timers *T);           /* the earliest, or NULL */
void corio__timers_pop(corio__timers *T, corio__timer *t);

/* Does anything registered with the backend promise work? Inline: every
 * inline iteration advance asks. */
static inline int corio__backend_has_sources(const corio_loop *loop) {
    return loop->io_sources != 0;
}

#endif
