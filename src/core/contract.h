/* The core contract: all that the layers above the core (aio/, sync/,
 * threads/, io/, runner/) may use of it. Futures are shared (a combinator
 * is a kind of future); the loop and the task are opaque here, reached
 * through the calls below. One waiting primitive sits under every blocking
 * call: corio__suspend with a cancel hook, woken by corio__wake. Nothing
 * here is exported from the shared library (corio.map exports corio_*). */
#ifndef CORIO_CORE_CONTRACT_H
#define CORIO_CORE_CONTRACT_H

#include "corio.h"
#include "platform/sys.h"
#include "util/heap.h"
#include "util/list.h"

#include <stdarg.h>
#include <stdint.h>

#define CORIO__NS_PER_S 1000000000LL
/* The loop clock's range, in seconds: as many as int64 nanoseconds hold
 * (292 years) either side of 0. Deadlines beyond it are clamped to it. */
#define CORIO__CLOCK_END 9223372036.0

typedef struct corio__task corio__task; /* opaque above the core */

/* ---- events, timers, watches -------------------------------------------- */

/* Something to do on a loop iteration, embedded in its owner; linked into
 * at most one list at a time: the ready queue or a future's callbacks. */
typedef struct corio__event {
    corio__list link;                      /* owned by whichever list holds it */
    void (*run)(struct corio__event *ev);  /* set by the owner; called once per dequeue */
    uint64_t seq;                          /* order key: when it joined a future's callbacks,
                                              or, for an armed timer's, when it was armed */
} corio__event;

/* An event the loop's timers make ready when due (event first). */
typedef struct corio__timer {
    corio__event ev;       /* made ready when due; ev.seq: arming order while armed */
    corio__heap_node node; /* the timers' bookkeeping (index NONE when not armed) */
} corio__timer;
/* The heap's tie-breaker (util/heap.h): the arming order. */
static inline uint64_t corio__heap_seq(const corio__heap_node *x) {
    return corio__container_of(x, const corio__timer, node)->ev.seq;
}

/* A combinator's hook on one child future: `now` (optional) runs inside
 * the child's completion, `later` one iteration after (where asyncio runs
 * a done callback). The owner holds a reference on the child meanwhile. */
typedef struct corio__watch {
    corio__event ev;                        /* in child->callbacks, then ready */
    void (*now)(struct corio__watch *w);    /* set by the owner, may be NULL */
    void (*later)(struct corio__watch *w);  /* set by the owner */
    uint64_t (*key)(struct corio__watch *w); /* optional order key instead of ev.seq */
    corio_future *child;                    /* borrowed (the owner holds a reference) */
    void *owner;                            /* the combinator's state, borrowed */
} corio__watch;

/* Start watching child (done already: `now` runs, the event is queued). */
void corio__watch_start(corio__watch *w, corio_future *child);
void corio__watch_stop(corio__watch *w); /* unlink the event from wherever it is */

/* ---- futures ------------------------------------------------------------ */

enum { CORIO__PENDING = 0, CORIO__DONE, CORIO__CANCELLED };

/* How a kind of future (a task, a gather) cancels and frees itself. */
typedef struct corio__future_ops {
    int (*cancel)(corio_future *f, const char *msg); /* as corio_future_cancel on a pending f */
    void (*destroy)(corio_future *f);                /* free what the kind owns (not f itself) */
} corio__future_ops;
/* A kind for ops (registered once, then the same number): 0 when the
 * table is full (it holds 255 kinds). The core names no kind above it. */
uint8_t corio__future_kind(const corio__future_ops *ops);

struct corio_future {
    corio__list callbacks;   /* events to schedule on completion, in order */
    corio_loop *loop;        /* strong reference held for the future's lifetime */
    void *result;            /* set once by completion; never freed by corio (user value) */
    corio_error *error;      /* owned reference; set on failure, and on cancel */
    uint32_t refs;           /* user references + one per scheduled callback + the loop's while a task is live */
    uint8_t state;           /* CORIO__PENDING until completion, then DONE or CANCELLED */
    uint8_t retrieved;       /* someone read error/result: no "never retrieved" report */
    uint8_t kind;            /* immutable: 0 plain, else a corio__future_kind */
    uint8_t flags;           /* CORIO__F_*: written by the core only */
};
enum {
    CORIO__F_TAKEN = 1,   /* someone received the result: no release at free */
    CORIO__F_RELEASE = 2, /* a release hook is registered (corio_future_set_release) */
    CORIO__F_COPY = 4,    /* a task in copy-stack mode (immutable) */
};

/* The rest of f must be zero already (calloc). */
void corio__future_init(corio_future *f, corio_loop *loop, uint8_t kind);
void corio__future_complete(corio_future *f, uint8_t state);
/* Register ev as a done callback of pending f (asyncio's add_done_callback). */
void corio__callbacks_add(corio_future *f, corio__event *ev);
/* Cancel a pending plain future: 1, or CORIO_ENOMEM. */
int corio__future_cancel_now(corio_future *f, const char *msg);
/* A future in the waiting call's frame (a primitive's waiter); fini checks
 * nobody kept it; drop lets go of it unfinished (its task is destroyed). */
void corio__future_init_local(corio_future *f, corio_loop *loop);
void corio__future_fini_local(corio_future *f);
void corio__future_drop_local(corio_future *f);
/* The result moves on to another future (shield), with its release hook. */
void corio__future_move_release(corio_future *from, corio_future *to);
/* The error or result was seen (an await, a combinator): no report. */
static inline void corio__future_mark_retrieved(corio_future *f) { f->retrieved = 1; }
/* Hand the result on (to a caller, a gather's array): the release hook
 * will not see it. */
static inline void *corio__future_take(corio_future *f) {
    f->retrieved = 1;
    f->flags |= CORIO__F_TAKEN;
    return f->result;
}
/* corio_loop_create_task once its arguments are known good (sched.c):
 * *out is written on success only. */
int corio__task_create(corio_loop *loop, corio_fn fn, void *arg, const char *name, size_t stack_size,
                       corio_task **out);
/* asyncio.ensure_future: a new reference to aw's future, or to a new task.
 * Inline: a gather of a million coroutines calls it per child. */
static inline int corio__ensure_future(corio_loop *loop, const corio_aw *aw, corio_future **out) {
    if (aw->fut) {
        if (aw->fut->loop != loop) return CORIO_EWRONGLOOP;
        *out = corio_future_ref(aw->fut);
        return 0;
    }
    if (!aw->fn) return CORIO_EINVAL;
    return corio__task_create(loop, aw->fn, aw->arg, aw->name, 0, out);
}
/* corio_future_unref for a reference known to be real, with the common
 * case (other references remain) inline; corio__future_free is the rest. */
void corio__future_free(corio_future *f);
static inline void corio__future_drop(corio_future *f) {
    if (--f->refs == 0) corio__future_free(f);
}

/* ---- tasks: the waiting primitive --------------------------------------- */

/* How a cancel reaches a suspended task: called with what it waits on.
 * 1 if the awaited object will wake the task itself, 0 if the cancel
 * could not be delivered now (it then is at the next resumption). */
typedef int (*corio__wait_cancel_fn)(corio__task *t, void *obj);

extern _Thread_local corio__task *volatile corio__current;
static inline corio__task *corio__running_task(void) { return corio__current; }
static inline corio_future *corio__task_fut(corio__task *t) { return (corio_future *)(void *)t; }
/* Copy mode: nothing of corio's may live in the task's frame while it is
 * suspended (its bytes are moved): waiter nodes go to the heap. */
static inline int corio__task_copy_mode(corio__task *t) {
    return (corio__task_fut(t)->flags & CORIO__F_COPY) != 0;
}
static inline int corio__copy_mode(void) {
    corio__task *t = corio__current;
    return t && corio__task_copy_mode(t);
}
/* Suspend t (the running task) until woken; returns the wake code. */
int corio__suspend(corio__task *t, corio__wait_cancel_fn cancel, void *obj);
void corio__wake(corio__task *t, int code);
/* corio__wake, with `then` as the hook a cancel reaches until t resumes
 * (corio__task_set_wait_cancel after the wake, in one call). */
void corio__wake_then(corio__task *t, int code, corio__wait_cancel_fn then);
/* Wake t when f completes (t suspends next; cancel forwarding is the caller's). */
void corio__wake_on(corio__task *t, corio_future *f);
/* corio_await of a future the caller holds one reference on, which the
 * wait uses as its own: at a close that destroys the waiting task (its
 * frame never resumes), the loop lets go of it. The caller still owns it
 * when this returns. */
int corio__await_owned(corio_future *fut, void **result);
/* Running t: a cancel its last wait took but could not honour (the
 * operation had completed) is delivered at its next suspension. */
void corio__task_defer_cancel(corio__task *t);
/* Replace the cancel hook of suspended t (a woken waiter's close-time hook). */
void corio__task_set_wait_cancel(corio__task *t, corio__wait_cancel_fn cancel);
/* The task saw fut fail: fut's error becomes its current error. */
void corio__observe(corio__task *t, corio_future *fut);
void corio__set_exc(corio__task *t, corio_error *err); /* takes a new reference */
corio_error *corio__task_exc(corio__task *t);          /* borrowed, may be NULL */
const char *corio__task_cancel_msg(corio__task *t);    /* borrowed, may be NULL */

/* An open scope of a task (a timeout, a task group), innermost first. */
typedef struct corio__scope {
    struct corio__scope *next;  /* the next outer open scope of the same task */
    /* The task ended (report 1) or was destroyed (0) with it open. */
    void (*abandon)(struct corio__scope *s, corio__task *t, int report);
} corio__scope;
/* Make room for t's scopes: 0, or CORIO_ENOMEM. Before building a scope,
 * so that corio__scope_push cannot fail. */
int corio__scope_reserve(corio__task *t);
void corio__scope_push(corio__task *t, corio__scope *s); /* after corio__scope_reserve */
int corio__scope_pop(corio__task *t, corio__scope *s); /* 0, or CORIO_EINVALSTATE */
int corio__scope_find(const corio__task *t, const corio__scope *s);

/* ---- the loop ------------------------------------------------------------ */

extern _Thread_local corio_loop *corio__running_loop;
/* The first member of struct corio_loop: what the layers read inline. */
typedef struct corio__loop_head {
    corio__list ready; /* events to run, FIFO; entries owned by their embedders */
    uint8_t closed;    /* corio_loop_close has begun */
} corio__loop_head;
static inline int corio__loop_closed(const corio_loop *loop) {
    return ((const corio__loop_head *)(const void *)loop)->closed;
}
static inline void corio__ready_push(corio_loop *loop, corio__event *ev) {
    corio__list_push_back(&((corio__loop_head *)(void *)loop)->ready, &ev->link);
}
double corio__loop_now(corio_loop *loop); /* fresh clock read, s */
/* A reference on the loop's memory (as a live future holds): an object of
 * a layer that may outlive the loop's close (a stream) keeps it readable. */
void corio__loop_hold(corio_loop *loop);
void corio__loop_drop(corio_loop *loop);
/* A timeout or delay argument as a deadline: 0 with *when (+inf: none),
 * or CORIO_EINVAL for NaN (loop.c says the rule). */
int corio__deadline(corio_loop *loop, double t, int relative, double *when);
int corio__timer_arm(corio_loop *loop, corio__timer *t, double when);
void corio__timer_disarm(corio_loop *loop, corio__timer *t); /* armed or due */
/* A fresh done-callback order number (a callback asyncio re-adds). */
uint64_t corio__loop_next_seq(corio_loop *loop);
void corio__report(corio_loop *loop, const char *msg, corio_future *fut, const corio_error *err);
/* The core's part of corio_loop_new: a loop without the layers' sources. */
int corio__loop_create(corio_loop **out, int backend); /* backend: CORIO_BACKEND_* */
/* run_until_complete that also gives up (CORIO_EDEADLK) when nothing
 * could ever happen, in real time too (corio_run's shutdown). */
int corio__run_until_done_or_idle(corio_loop *loop, corio_future *fut);
/* Objects of the layers that a stale pointer must be told from (task
 * groups): 0 or CORIO_ENOMEM; registered: 1 or 0. */
int corio__loop_register(corio_loop *loop, const void *obj);
void corio__loop_unregister(corio_loop *loop, const void *obj);
int corio__loop_registered(corio_loop *loop, const void *obj);

/* State the loop frees at close if nothing else did. */
typedef struct corio__resource {
    corio__list link;                           /* in the loop's resources */
    void (*close)(struct corio__resource *r);  /* unlink and free */
} corio__resource;
void corio__loop_add_resource(corio_loop *loop, corio__resource *r);

/* A source of work from outside the loop's thread (the thread pool): the
 * loop knows it only through these hooks and a wake-up (below). */
typedef struct corio__source corio__source;
typedef struct corio__source_ops {
    void (*ready)(corio__source *s);     /* on the loop: take what was posted */
    int (*busy)(const corio__source *s); /* work promised (the loop is not idle) */
    void (*close)(corio__source *s);     /* loop close: settle, post nothing more */
    void (*free)(corio__source *s);      /* the loop's memory goes */
} corio__source_ops;
struct corio__source {
    const corio__source_ops *ops; /* set by the owner */
    corio_loop *loop;             /* set by corio__loop_add_source */
    corio__list link;             /* in the loop's sources */
};
/* At creation only, before the loop is handed out. */
void corio__loop_add_source(corio_loop *loop, corio__source *s);
/* The source with these ops, or NULL; any thread, until corio_loop_free. */
corio__source *corio__loop_find_source(const corio_loop *loop, const corio__source_ops *ops);
/* From any thread until the source's free: the loop runs the sources'
 * `ready` hooks on its next iteration (and wakes for it). */
void corio__loop_wakeup(corio_loop *loop);

/* ---- errors ------------------------------------------------------------- */

struct corio_error {
    uint32_t refs;       /* one per holder (future, task, cause of another error) */
    int code;            /* negative, immutable */
    corio_error *cause;  /* owned reference or NULL, immutable */
    char *message;       /* owned, may be NULL (then strerror(code)) */
    corio_error **group; /* owned references (code CORIO_EGROUP), in order */
    int ngroup;
};
corio_error *corio__error_new(int code, corio_error *cause, const char *fmt, va_list ap);
corio_error *corio__error_make(int code, corio_error *cause, const char *msg); /* msg copied */
corio_error *corio__error_ref(corio_error *e);
corio_error *corio__error_cancelled(void); /* a bare cancel error; never fails */
corio_error *corio__error_group(const char *msg, corio_error **errs, int n);
void corio__error_unref(corio_error *e);

#endif
