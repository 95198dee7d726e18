/* Internal structures shared by the core files. Every field says who owns
 * it or who may change it. Nothing here is exported from the shared
 * library (the version script exports corio_* only). */
#ifndef CORIO_INTERNAL_H
#define CORIO_INTERNAL_H

#include "corio.h"
#include "heap.h"
#include "list.h"
#include "ptrmap.h"
#include "sys.h"

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

#define CORIO__NS_PER_S 1000000000LL
/* The loop clock's range, in seconds: as many as int64 nanoseconds hold
 * (292 years) either side of 0. Deadlines beyond it are clamped to it. */
#define CORIO__CLOCK_END 9223372036.0

/* ---- the ready queue's unit ------------------------------------------- */

/* Something to do on a loop iteration. Lives embedded in its owner (a
 * task, a timer, a handle); it is linked into at most one list at a time:
 * the loop's ready queue or a future's done-callback list. */
typedef struct corio__event {
    corio__list link;                      /* owned by whichever list holds it */
    void (*run)(struct corio__event *ev);  /* set by the owner; called once per dequeue */
    uint64_t seq;                          /* order key: when it joined a future's callbacks,
                                              or, for an armed timer's, when it was armed */
} corio__event;

/* A timer: an event the heap moves to the ready queue when due. The event
 * first: see corio_handle's layout. While armed, the event is in no
 * future's callbacks (a bucket links it through ev.link), so ev.seq is
 * free to hold the arming order the heap breaks ties with. */
typedef struct corio__timer {
    corio__event ev;       /* pushed to loop->ready when due; ev.seq: arming order while armed */
    corio__heap_node node; /* position in loop->timers (index NONE when not armed) */
} corio__timer;

static inline uint64_t corio__heap_seq(const corio__heap_node *x) {
    return corio__container_of(x, const corio__timer, node)->ev.seq;
}

/* A combinator's hook on one child future: an event in the child's
 * callback list. `now` (optional) runs inside the child's completion, so
 * the owner knows at once what is done; `later` runs one iteration after,
 * where asyncio runs a done callback. The owner holds a reference on the
 * child while the watch exists. */
typedef struct corio__watch {
    corio__event ev;                        /* in child->callbacks, then in loop->ready */
    void (*now)(struct corio__watch *w);    /* set by the owner, may be NULL */
    void (*later)(struct corio__watch *w);  /* set by the owner */
    /* Optional: the order key to use instead of ev.seq, for watches that
     * stand for a callback asyncio re-adds on every call (wait's). */
    uint64_t (*key)(struct corio__watch *w);
    corio_future *child;                    /* borrowed (the owner holds a reference) */
    void *owner;                            /* the combinator's state, borrowed */
} corio__watch;

void corio__watch_run(corio__event *ev);
/* Start watching child (it may be done already: then `now` runs and the
 * event is queued at once, as asyncio's add_done_callback schedules it). */
void corio__watch_start(corio__watch *w, corio_future *child);
/* Stop: unlink the event from wherever it is. */
void corio__watch_stop(corio__watch *w);

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
    size_t left;                  /* fresh objects left there */
    size_t next_region;           /* bytes of the next region */
    struct slab_region *regions;  /* owned chain of mappings */
} corio__slab;

void corio__slab_init(corio__slab *s, size_t objsize);
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
/* Prepare a fresh stack so that switching to the returned sp calls
 * entry(arg) on it. entry either never returns, or returns the saved sp
 * of a context to resume instead of its own, which is then over. */
void *corio__ctx_make(void *top, void *(*entry)(void *), void *arg);

/* ---- futures and tasks ------------------------------------------------- */

enum { CORIO__PENDING = 0, CORIO__DONE, CORIO__CANCELLED };

/* What kind of future: plain futures have none; tasks and gathers cancel
 * and free in their own way. */
typedef struct corio__future_ops {
    int (*cancel)(corio_future *f, const char *msg); /* as corio_future_cancel on a pending f */
    void (*destroy)(corio_future *f);                /* free what the kind owns (not f itself) */
} corio__future_ops;

/* A future's kind is a byte (a million tasks: every byte counts). */
enum { CORIO__PLAIN = 0, CORIO__TASK, CORIO__GATHER, CORIO__KINDS };
extern const corio__future_ops corio__task_ops, corio__gather_ops;
extern const corio__future_ops *const corio__kind_ops[CORIO__KINDS]; /* NULL for plain */

struct corio_future {
    corio__list callbacks;   /* events to schedule on completion, in order; owned here until spliced to loop->ready */
    corio_loop *loop;        /* strong reference (loop->refs) held for the future's lifetime */
    void *result;            /* set once by completion; never freed by corio (user value) */
    corio_error *error;      /* owned reference; set on failure, and on cancel (code ECANCELED, message) */
    uint32_t refs;           /* user references + one per scheduled callback + the loop's while a task is live */
    uint8_t state;           /* CORIO__PENDING until completion, then DONE or CANCELLED; never changes again */
    uint8_t retrieved;       /* someone read error/result: suppresses the "never retrieved" report */
    uint8_t kind;            /* immutable: CORIO__PLAIN, TASK or GATHER (corio__kind_ops) */
    uint8_t flags;           /* CORIO__F_*: set by future.c (taken, release hook) */
};

enum {
    CORIO__F_TAKEN = 1,   /* someone received the result: no release at free */
    CORIO__F_RELEASE = 2, /* a release hook is registered in loop->releases */
};

/* The result moves on to another future (shield): so does the hook that
 * gives it back if nobody takes it. */
void corio__future_move_release(corio_future *from, corio_future *to);
/* The error or result was seen (an await, a combinator): no report. */
static inline void corio__future_mark_retrieved(corio_future *f) { f->retrieved = 1; }
/* Hand the result on (to a caller, a gather's array): done, no error.
 * The release hook will not see it. */
static inline void *corio__future_take(corio_future *f) {
    f->retrieved = 1;
    f->flags |= CORIO__F_TAKEN;
    return f->result;
}

typedef struct corio__task corio__task;

/* An open scope of a task (a timeout, a task group): the task keeps its
 * scopes innermost first, so that exit can tell an open scope from one
 * exited already (without reading it), and a task that ends with scopes
 * open can let go of them. */
typedef struct corio__scope {
    struct corio__scope *next;  /* the next outer open scope of the same task */
    /* The task ended (report: 1) or was destroyed (0) with the scope open:
     * disarm and free it. */
    void (*abandon)(struct corio__scope *s, corio__task *t, int report);
} corio__scope;

void corio__scope_push(corio__task *t, corio__scope *s);
/* 0, or CORIO_EINVALSTATE when s is not an open scope of t. */
int corio__scope_pop(corio__task *t, corio__scope *s);
int corio__scope_find(const corio__task *t, const corio__scope *s); /* the same, not removed */
void corio__scopes_abandon(corio__task *t, int report);

/* What a suspended task waits on decides how a cancel reaches it: the one
 * waiting primitive under sleep, await and everything built on them.
 * Returns 1 if the awaited object will wake the task itself (the cancel
 * was forwarded or delivered), 0 if it could not be delivered now. */
typedef int (*corio__wait_cancel_fn)(corio__task *t);

/* A million of these sleep at once in the sleepers benchmark: every field
 * counts (248 bytes on x86-64). */
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
    char *name;                /* owned; NULL means the default "Task-<id>" (formatted lazily) */
    uint64_t id;               /* immutable; for the default name */
    void *sp;                  /* saved stack pointer while suspended; written by corio__switch */
    corio__stack stack;        /* lo == NULL until first run and again after the body returned */
    corio__wait_cancel_fn wait_cancel; /* set while suspended on something cancellable */
    corio__scope *scopes;      /* open timeout scopes and task groups, innermost first; owned
                                  by their enter/exit, abandoned when the task ends */
    void *wait_obj;            /* what it waits on (a future for await); borrowed */
    corio_error *exc;          /* owned: the error last raised or observed, for chaining */
    char *cancel_msg;          /* owned: message of the latest cancel request / observed cancel */
    int wake_code;             /* what the pending suspension returns; written by the waker */
    uint32_t num_cancels;      /* cancel() requests not withdrawn by uncancel() */
    uint32_t stack_pages;      /* requested usable stack size, in pages */
    uint8_t must_cancel;       /* deliver CORIO_ECANCELED at the next resumption */
    uint8_t started;           /* the body has been entered (u.start is spent): 1, then 2
                                  once it has suspended through switch_out (task_exit) */
    uint8_t finished;          /* the body has returned; the loop frees the stack after the switch back */
    uint8_t copy_mode;         /* immutable: runs on loop->shared, its bytes saved while suspended */
#if CORIO_HAVE_ASAN
    void *asan_fake;           /* ASan fake-stack handle across the switch */
#endif
#if CORIO_HAVE_TSAN
    void *tsan_fiber;          /* TSan fiber of this task while it has a stack */
#endif
};

static inline corio__task *corio__as_task(corio_future *f) { return (corio__task *)(void *)f; }
static inline int corio__is_task(const corio_future *f) { return f->kind == CORIO__TASK; }

extern _Thread_local corio__task *volatile corio__current;
/* Is the running task in copy mode? Then nothing of corio's may live in
 * its frame while it is suspended: waiter nodes go to the heap. */
static inline int corio__copy_mode(void) {
    corio__task *t = corio__current;
    return t && t->copy_mode;
}

/* ---- errors ------------------------------------------------------------- */

struct corio_error {
    uint32_t refs;      /* one per holder (future, task->exc, cause of another error) */
    int code;           /* negative, immutable */
    corio_error *cause; /* owned reference or NULL, immutable */
    char *message;      /* owned, may be NULL (then strerror(code)) */
    corio_error **group; /* owned references (code CORIO_EGROUP), in order */
    int ngroup;
};

corio_error *corio__error_new(int code, corio_error *cause, const char *fmt, va_list ap);
/* msg is copied; NULL means "use strerror(code)". */
corio_error *corio__error_make(int code, corio_error *cause, const char *msg);
corio_error *corio__error_ref(corio_error *e);
/* A bare cancel error; never fails (static). */
corio_error *corio__error_cancelled(void);
/* A CORIO_EGROUP error holding references to errs[0..n). */
corio_error *corio__error_group(const char *msg, corio_error **errs, int n);
void corio__error_unref(corio_error *e);

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

/* Internal state the loop must free at close if nothing else did (objects
 * kept alive only by callbacks between futures, like a shield's). */
typedef struct corio__resource {
    corio__list link;                           /* in loop->resources */
    void (*close)(struct corio__resource *r);  /* unlink and free */
} corio__resource;

struct corio_loop {
    corio__list ready;            /* events to run, FIFO; entries owned by their embedders */
    corio__list batch;            /* the part of ready this iteration runs (run_ready) */
    struct corio__timers *timers; /* owned: armed timers (timers.c); nodes owned by embedders */
    corio__list tasks;            /* live (not done) tasks, in creation order */
    corio__list resources;        /* corio__resource entries, freed at close */
    corio__ptrmap releases;       /* future -> its corio_release_fn (corio_future_set_release) */
    corio__ptrmap groups;         /* open task groups (taskgroup.c): a stale pointer is told apart */
    corio__pools *pools;          /* owned stack pools */
    corio__slab task_slab;        /* task objects; lives until the loop's memory goes */
    corio__slab handle_slab;      /* public handles (each holds a loop reference) */
    corio__slab saved_slabs[CORIO__SAVED_CLASSES]; /* copy-mode saved stacks by 16-byte class */
    int stack_mode;               /* CORIO_STACK_* for new tasks */
    corio__stack shared;          /* the copy-mode tasks' stack (lo NULL until needed); from pools */
    char *shared_top;             /* its top: copy-mode frames are saved from sp up to here */
    corio__task *shared_owner;    /* the task whose frames are on `shared` now, borrowed */
    corio_task *current;          /* the task running now, borrowed */
    struct corio__task *back;     /* the task that switched back to the loop last, borrowed */
    struct corio__task *eager_task;   /* in its eager first step now (task.c), borrowed */
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
    int backend_fd;               /* epoll fd, owned (backend_epoll.c) */
    size_t io_sources;            /* I/O watchers registered with the backend (none exist yet) */
    struct corio__threads *threads; /* owned: thread-safe posting and the pool (threads.c) */
    int inflight;                 /* to_thread jobs not yet back on the loop */
    uint8_t virtual_time;
    uint8_t running;
    uint8_t stopping;
    uint8_t closed;
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

/* loop.c */
static inline void corio__loop_ref(corio_loop *loop) { loop->refs++; }
void corio__loop_free(corio_loop *loop); /* the last reference went */
static inline void corio__loop_unref(corio_loop *loop) {
    if (--loop->refs == 0) corio__loop_free(loop);
}
static inline void corio__ready_push(corio_loop *loop, corio__event *ev) {
    corio__list_push_back(&loop->ready, &ev->link);
}
double corio__loop_now(corio_loop *loop);              /* fresh clock read, s */
/* A timeout or delay argument as a deadline (loop.c says the rule): 0 with
 * *when (+inf: none), or CORIO_EINVAL for NaN. */
int corio__deadline(corio_loop *loop, double t, int relative, double *when);
int corio__timer_arm(corio_loop *loop, corio__timer *t, double when);
void corio__timer_disarm(corio_loop *loop, corio__timer *t);
void corio__report(corio_loop *loop, const char *msg, corio_future *fut, const corio_error *err);
int corio__run_once(corio_loop *loop);
/* run_until_complete that also gives up (CORIO_EDEADLK) when nothing
 * could ever happen, in real time too: for the shutdown of corio_run. */
int corio__run_until_done_or_idle(corio_loop *loop, corio_future *fut);
void corio__run_batch(corio_loop *loop); /* task.c: the ready phase */
/* Start the next iteration from a task when it cannot block: 1 if done. */
int corio__advance_inline(corio_loop *loop);
int corio__loop_idle(const corio_loop *loop);
/* Loops of this thread. */
extern _Thread_local corio_loop *corio__running_loop;
/* The running task of this thread (also read by the SIGSEGV handler). */
extern _Thread_local corio__task *volatile corio__current;

/* task.c */
/* The rest of f must be zero already (calloc, slab). */
static inline void corio__future_init(corio_future *f, corio_loop *loop, uint8_t kind) {
    corio__list_init(&f->callbacks);
    f->loop = loop;
    f->refs = 1;
    f->kind = kind;
    corio__loop_ref(loop);
}
/* A future living in the caller's frame (a primitive's waiter): it never
 * escapes the waiting call, so no allocation. Fini checks nobody kept it. */
void corio__future_init_local(corio_future *f, corio_loop *loop);
void corio__future_fini_local(corio_future *f);
/* The waiting task is destroyed at loop close: let go of it unfinished. */
void corio__future_drop_local(corio_future *f);
void corio__future_complete(corio_future *f, uint8_t state);
/* Register ev as a done callback of pending f (asyncio's add_done_callback). */
void corio__callbacks_add(corio_future *f, corio__event *ev);
/* Cancel a pending plain future (or finish a task as cancelled): 1, or ENOMEM. */
int corio__future_cancel_now(corio_future *f, const char *msg);
void corio__task_destroy_pending(corio__task *t); /* loop close */
int corio__task_format_name(const corio__task *t, char *buf, size_t cap);
static inline corio__task *corio__running_task(void) { return corio__current; }
/* Suspend the running task t (corio__current: it is read again from there
 * after every call) until woken (see task.c); returns the wake code. */
int corio__suspend(corio__task *t, corio__wait_cancel_fn cancel, void *obj);
void corio__wake(corio__task *t, int code);
/* The task saw fut fail: fut's error becomes its current error. */
void corio__observe(corio__task *t, corio_future *fut);
void corio__set_exc(corio__task *t, corio_error *err); /* takes a new reference */
/* Wait for fut to complete without forwarding a cancel of t to it (asyncio's
 * separate `waiter` future): 0, or CORIO_ECANCELED. */
int corio__wait_done(corio__task *t, corio_future *fut);
/* asyncio.ensure_future: a new reference to aw's future, or to a new task
 * running aw's coroutine on loop. */
int corio__ensure_future(corio_loop *loop, const corio_aw *aw, corio_future **out);

/* timers.c: buckets in front of two heaps, exact (when, seq) order */
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

/* threads.c */
typedef struct corio__threads corio__threads;
/* The start of struct corio__threads, so the loop can see without a call
 * whether anything was posted (like corio__timers_head). */
typedef struct corio__threads_head {
    atomic_int wake_pending; /* an eventfd write is outstanding; threads.c writes it */
} corio__threads_head;
static inline int corio__threads_pending(const corio_loop *loop) {
    const corio__threads_head *h = (const void *)loop->threads;
    return atomic_load_explicit(&h->wake_pending, memory_order_acquire);
}
int corio__threads_new(corio_loop *loop);
int corio__threads_fd(const corio_loop *loop);
void corio__threads_drain(corio_loop *loop);  /* after each poll */
int corio__threads_busy(const corio_loop *loop);
void corio__threads_close(corio_loop *loop);  /* join the workers */
void corio__threads_free(corio_loop *loop);

/* backend (one file per backend; epoll now) */
int corio__backend_init(corio_loop *loop);
/* Have the poll wake up when fd (an eventfd) becomes readable. */
int corio__backend_add_wakeup(corio_loop *loop, int fd);
/* Wait for I/O up to timeout_ns (-1: forever, 0: just look). */
int corio__backend_poll(corio_loop *loop, int64_t timeout_ns);
void corio__backend_close(corio_loop *loop);
/* Does anything outside the ready queue and timers promise work? Inline:
 * every inline iteration advance asks. */
static inline int corio__backend_has_sources(const corio_loop *loop) {
    return loop->io_sources != 0;
}

#endif
