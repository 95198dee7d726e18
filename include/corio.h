/*
 * corio — Python asyncio's task model in C.
 *
 * One public header. Every fallible function returns 0 (or a documented
 * non-negative value) on success and a negative code on failure: -errno
 * values (CORIO_EINVAL == -EINVAL, ...) plus the library's own CORIO_E*
 * codes. corio_strerror() names any of them. errno is never the channel.
 *
 * Vocabulary (asyncio -> corio):
 *   coroutine function      corio_fn: int fn(void *arg, void **result)
 *   asyncio.run(main())     corio_run(main, arg, &result)
 *   create_task(coro)       corio_create_task(fn, arg, name, &task)
 *   await fut               corio_await(fut, &result)
 *   asyncio.sleep(d)        corio_sleep(d)
 *   raise / CancelledError  return a negative code / CORIO_ECANCELED
 *   Task is a Future        corio_task is the same type as corio_future
 */
#ifndef CORIO_H
#define CORIO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CORIO_API __attribute__((visibility("default")))
#define CORIO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CORIO_API
#define CORIO_PRINTF(f, a)
#endif

#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 1
#define CORIO_VERSION_PATCH 0

/* ---- error codes ------------------------------------------------------ */

#define CORIO_EINVAL (-EINVAL)       /* NULL or nonsense argument */
#define CORIO_ENOMEM (-ENOMEM)       /* allocation failed */
#define CORIO_ECANCELED (-ECANCELED) /* asyncio.CancelledError */
#define CORIO_ETIMEDOUT (-ETIMEDOUT) /* asyncio.TimeoutError */
#define CORIO_EBUSY (-EBUSY)         /* e.g. closing a running loop */
#define CORIO_EDEADLK (-EDEADLK)     /* awaiting yourself; a loop that can never finish */
/* The library's own codes, outside the errno range. */
#define CORIO_EINVALSTATE (-4001) /* asyncio.InvalidStateError: result of a pending future, ... */
#define CORIO_ENOTINTASK (-4002)  /* a suspending call made outside a task */
#define CORIO_ECLOSED (-4003)     /* the loop is closed */
#define CORIO_ERUNNING (-4004)    /* the loop is already running */
#define CORIO_ENOLOOP (-4005)     /* no running loop in this thread */
#define CORIO_EWRONGLOOP (-4006)  /* the future belongs to another loop */
#define CORIO_ENOTTASK (-4007)    /* a task-only call on a plain future */
#define CORIO_EGROUP (-4008)      /* several errors together (ExceptionGroup) */
#define CORIO_EBROKEN (-4009)     /* the barrier is broken or was reset (BrokenBarrierError) */
#define CORIO_EFULL (-4010)       /* put_nowait on a full queue (QueueFull) */
#define CORIO_EEMPTY (-4011)      /* get_nowait on an empty queue (QueueEmpty) */
#define CORIO_ESHUTDOWN (-4012)   /* the queue is shut down (QueueShutDown) */

/* A readable name for any code this library returns (static storage). */
CORIO_API const char *corio_strerror(int code);

/* ---- opaque types ----------------------------------------------------- */

typedef struct corio_loop corio_loop;
/* A future; a task is a future that runs a function (as in asyncio). */
typedef struct corio_future corio_future;
typedef struct corio_future corio_task;
typedef struct corio_handle corio_handle;
typedef struct corio_error corio_error;
typedef struct corio_timeout corio_timeout;

/* A task body ("coroutine function"). Return 0 and set *result, or return a
 * negative code to fail (attach a message with corio_raise first). Returning
 * CORIO_ECANCELED ends the task as cancelled. */
typedef int (*corio_fn)(void *arg, void **result);
/* A plain callback for call_soon / call_later / done callbacks. */
typedef void (*corio_cb)(void *arg);
typedef void (*corio_done_cb)(corio_future *fut, void *arg);

/* ---- errors (the exception stand-in) ---------------------------------- */

/* Errors are immutable, reference-counted values: code, message, cause. */
CORIO_API int corio_error_code(const corio_error *err);
CORIO_API const char *corio_error_message(const corio_error *err);
CORIO_API const corio_error *corio_error_cause(const corio_error *err);
/* In a task: record an error (code < 0) with a message, to be attached to
 * the task if it returns that code; the cause is the error the task last
 * observed (from an await), as Python's implicit exception chaining.
 * Returns code, so `return corio_raise(-EIO, "read %s", path);` works. */
CORIO_API int corio_raise(int code, const char *fmt, ...) CORIO_PRINTF(2, 3);
/* The error the current task last raised or observed (sys.exc_info()), or
 * NULL; borrowed until the task's next raise or await. */
CORIO_API const corio_error *corio_current_error(void);
/* An error with code CORIO_EGROUP holds other errors, in the order they
 * happened (ExceptionGroup.exceptions). Others hold none. */
CORIO_API int corio_error_group_size(const corio_error *err);
CORIO_API const corio_error *corio_error_group_get(const corio_error *err, int i);

/* Reports of errors nobody handled. The default handler prints to stderr. */
typedef void (*corio_exception_handler)(corio_loop *loop, const char *message,
                                        corio_future *fut, const corio_error *err,
                                        void *arg);
CORIO_API int corio_loop_set_exception_handler(corio_loop *loop, corio_exception_handler fn,
                                               void *arg);
CORIO_API void corio_loop_default_exception_handler(corio_loop *loop, const char *message,
                                                    corio_future *fut,
                                                    const corio_error *err, void *arg);

/* ---- the loop ----------------------------------------------------------- */

CORIO_API int corio_loop_new(corio_loop **out);
/* Close: fails with CORIO_EBUSY while running. Tasks still pending are
 * reported and destroyed. Releases the caller's reference; the memory goes
 * when the last future of the loop is released. */
CORIO_API int corio_loop_close(corio_loop *loop);
/* Default stack size for tasks created afterwards (rounded up to pages). */
CORIO_API int corio_loop_set_stack_size(corio_loop *loop, size_t bytes);
/* Stack mode for tasks created afterwards. CORIO_STACK_OWN (default): a
 * guarded stack per task. CORIO_STACK_COPY: tasks share one stack; a
 * suspended task keeps only the bytes it uses, copied out when it suspends
 * and back before it resumes (a few hundred bytes instead of a page).
 * Hazard: while such a task is suspended its stack addresses hold another
 * task's frames, so it must not lend out pointers to its locals (corio's
 * own waiters handle this). If copying out fails for lack of memory the
 * process ends with a message. */
enum { CORIO_STACK_OWN = 0, CORIO_STACK_COPY = 1 };
CORIO_API int corio_loop_set_stack_mode(corio_loop *loop, int mode);
/* Eager tasks (asyncio 3.12's loop.set_task_factory(eager_task_factory)):
 * while the loop runs, a task created afterwards starts inside the
 * creating call and runs until it first suspends or finishes; then the
 * creator goes on. A task that finishes there never visits the ready
 * queue, and a gather of such tasks is done when corio_gather returns.
 * Outside a running loop, and for copy-mode tasks or creators, tasks start
 * on a later iteration as usual. Off by default. */
CORIO_API int corio_loop_set_eager_tasks(corio_loop *loop, int on);
/* Virtual time: the clock starts at 0 and jumps to the next timer whenever
 * nothing is ready. Only while no timer is armed. */
CORIO_API int corio_loop_set_virtual_time(corio_loop *loop, int on);
/* Monotonic time in seconds (loop.time()). NAN-free: a NULL loop gives -1. */
CORIO_API double corio_loop_time(const corio_loop *loop);
CORIO_API int corio_loop_run_forever(corio_loop *loop);
/* Runs until fut is done; returns what corio_future_result would. */
CORIO_API int corio_loop_run_until_complete(corio_loop *loop, corio_future *fut,
                                            void **result);
CORIO_API int corio_loop_stop(corio_loop *loop);
CORIO_API int corio_loop_is_running(const corio_loop *loop);
CORIO_API int corio_loop_is_closed(const corio_loop *loop);
/* The loop running in this thread, or NULL (asyncio.get_running_loop). */
CORIO_API corio_loop *corio_get_running_loop(void);

/* Callbacks. `out` may be NULL; if given, the caller owns a reference it
 * must release with corio_handle_release (cancel first if it wants). */
CORIO_API int corio_call_soon(corio_loop *loop, corio_cb fn, void *arg, corio_handle **out);
CORIO_API int corio_call_later(corio_loop *loop, double delay, corio_cb fn, void *arg,
                               corio_handle **out);
CORIO_API int corio_call_at(corio_loop *loop, double when, corio_cb fn, void *arg,
                            corio_handle **out);
CORIO_API int corio_handle_cancel(corio_handle *h);
CORIO_API int corio_handle_cancelled(const corio_handle *h);
CORIO_API double corio_handle_when(const corio_handle *h); /* timers only; -1 otherwise */
CORIO_API void corio_handle_release(corio_handle *h);

/* ---- futures ------------------------------------------------------------ */

CORIO_API int corio_future_new(corio_loop *loop, corio_future **out);
CORIO_API corio_future *corio_future_ref(corio_future *fut);
CORIO_API void corio_future_unref(corio_future *fut);
CORIO_API corio_loop *corio_future_loop(const corio_future *fut);
CORIO_API int corio_future_done(const corio_future *fut);
CORIO_API int corio_future_cancelled(const corio_future *fut);
CORIO_API int corio_future_set_result(corio_future *fut, void *result);
/* Fail with code (< 0, not CORIO_ECANCELED) and a printf-style message. */
CORIO_API int corio_future_set_error(corio_future *fut, int code, const char *fmt, ...)
    CORIO_PRINTF(3, 4);
/* Fail with an existing error (a new reference is taken). */
CORIO_API int corio_future_set_exception(corio_future *fut, const corio_error *err);
/* 1 if the cancel was requested, 0 if already done; negative on bad input. */
CORIO_API int corio_future_cancel(corio_future *fut, const char *msg);
/* 0 with *result, the error code, CORIO_ECANCELED, or CORIO_EINVALSTATE if
 * pending. Marks an error as retrieved. result may be NULL. */
CORIO_API int corio_future_result(corio_future *fut, void **result);
/* asyncio's exception(): 0 with *err = the error (NULL after success; for
 * a cancelled future an error with code CORIO_ECANCELED and the cancel
 * message), or CORIO_EINVALSTATE if pending. Marks it retrieved. The
 * pointer is valid while the future is. */
CORIO_API int corio_future_exception(corio_future *fut, const corio_error **err);
/* Done callbacks run on a later loop iteration, in registration order. */
CORIO_API int corio_future_add_done_callback(corio_future *fut, corio_done_cb fn, void *arg);
/* Removes every registration of (fn, arg); returns how many. */
CORIO_API int corio_future_remove_done_callback(corio_future *fut, corio_done_cb fn, void *arg);

/* ---- tasks -------------------------------------------------------------- */

/* Schedule fn(arg) as a task of the running loop; it starts on a later
 * iteration. name NULL gives "Task-N". `out` may be NULL (the loop keeps
 * the task until it is done); if given, the caller owns a reference. */
CORIO_API int corio_create_task(corio_fn fn, void *arg, const char *name, corio_task **out);
/* The same on a given loop (it need not run yet); stack_size 0 = default. */
CORIO_API int corio_loop_create_task(corio_loop *loop, corio_fn fn, void *arg, const char *name,
                                     size_t stack_size, corio_task **out);
CORIO_API int corio_is_task(const corio_future *fut);
CORIO_API int corio_task_cancel(corio_task *task, const char *msg);
CORIO_API int corio_task_cancelling(const corio_task *task);
CORIO_API int corio_task_uncancel(corio_task *task);
CORIO_API const char *corio_task_get_name(const corio_task *task);
CORIO_API int corio_task_set_name(corio_task *task, const char *name);
/* The task running now, or NULL outside tasks. Borrowed pointer. */
CORIO_API corio_task *corio_current_task(void);
/* Fills up to cap live (not done) tasks of loop into buf (borrowed
 * pointers) and returns how many there are, which may exceed cap. */
CORIO_API int corio_all_tasks(corio_loop *loop, corio_task **buf, int cap);

/* ---- suspending calls (in a task only; each is a cancellation point) ---- */

/* Wait for fut; as corio_future_result. A cancel of the awaiting task is
 * forwarded to fut (as asyncio does). */
CORIO_API int corio_await(corio_future *fut, void **result);
/* asyncio.sleep(delay); delay <= 0 yields once to other ready tasks. */
CORIO_API int corio_sleep(double delay);

/* ---- awaitables: what the combinators take ------------------------------- */

/* A task or future, or a coroutine (fn + arg, not yet scheduled) that the
 * combinator wraps into a task (asyncio.ensure_future). */
typedef struct corio_aw {
    corio_future *fut; /* a task or future; NULL for a coroutine */
    corio_fn fn;       /* coroutine function (when fut is NULL) */
    void *arg;         /* its argument */
    const char *name;  /* name of the wrapping task; NULL gives Task-N */
} corio_aw;
#define CORIO_FUT(f) ((corio_aw){(f), NULL, NULL, NULL})
#define CORIO_CORO(fn, arg) ((corio_aw){NULL, (fn), (arg), NULL})

/* "No timeout" for every timeout argument (asyncio's None). */
#define CORIO_FOREVER (__builtin_inf())

/* ---- gather (asyncio.gather) -------------------------------------------- */

#define CORIO_RETURN_EXCEPTIONS 1
/* Wrap coroutines into tasks (in argument order) and return a future that
 * completes when all are done, with results in input order; the same
 * future twice is awaited once. Without CORIO_RETURN_EXCEPTIONS the first
 * error completes it at once (the others keep running); a cancelled child
 * counts as an error with code CORIO_ECANCELED. Cancelling the gather
 * cancels every child not done; awaiting it then gives CORIO_ECANCELED
 * (as in CPython, it ends with the cancel as its error, not "cancelled").
 * Awaiting it yields a `void **` array of the n results (owned by it). */
CORIO_API int corio_gather(const corio_aw *aws, size_t n, int flags, corio_future **out);
/* Per position, once the gather is done: value, or that child's code (with
 * CORIO_RETURN_EXCEPTIONS the child's error takes its place). */
CORIO_API int corio_gather_size(const corio_future *g);
/* The future at position i (the task wrapping a coroutine), borrowed. */
CORIO_API corio_future *corio_gather_child(const corio_future *g, size_t i);
CORIO_API int corio_gather_result(corio_future *g, size_t i, void **value);
CORIO_API int corio_gather_exception(corio_future *g, size_t i, const corio_error **err);
/* In a task: gather and await in one call; values[i] (and codes[i] if not
 * NULL: 0 or the child's code) per position. Returns the gather's code. */
CORIO_API int corio_gather_wait(const corio_aw *aws, size_t n, int flags, void **values, int *codes);

/* ---- wait (asyncio.wait) -------------------------------------------------- */

enum { CORIO_ALL_COMPLETED = 0, CORIO_FIRST_COMPLETED = 1, CORIO_FIRST_EXCEPTION = 2 };
/* A set of futures (each held by a reference; duplicates kept once). */
typedef struct corio_futset corio_futset;
CORIO_API int corio_futset_new(corio_futset **out);
CORIO_API int corio_futset_add(corio_futset *s, corio_future *f); /* 1 added, 0 present */
CORIO_API int corio_futset_size(const corio_futset *s);
CORIO_API corio_future *corio_futset_get(const corio_futset *s, int i); /* borrowed */
CORIO_API int corio_futset_contains(const corio_futset *s, const corio_future *f);
CORIO_API void corio_futset_free(corio_futset *s);
/* Tasks and futures only (a coroutine is refused: CORIO_EINVAL, as asyncio
 * refuses them); empty input is CORIO_EINVAL. Never fails on a child's
 * error, never cancels anything, not on timeout either; returns the done
 * and pending sets (the caller frees both). */
CORIO_API int corio_wait(const corio_aw *aws, size_t n, double timeout, int return_when,
                         corio_futset **done, corio_futset **pending);
/* The same on a set: the done ones move out of `pending` into a new set
 * *done, the pending ones stay. Loop `while size(pending) > 0` over this:
 * each call costs what completed, not what is pending (linear drain). */
CORIO_API int corio_wait_set(corio_futset *pending, double timeout, int return_when,
                             corio_futset **done);

/* ---- as_completed (asyncio.as_completed, 3.13) --------------------------- */

typedef struct corio_as_completed corio_as_completed;
CORIO_API int corio_as_completed_new(const corio_aw *aws, size_t n, double timeout,
                                     corio_as_completed **out);
/* In a task: 1 with *fut = the next child to finish (the original task or
 * future, borrowed; read its outcome with corio_future_result), 0 when all
 * were handed out, CORIO_ETIMEDOUT once the timeout passed (the rest are
 * not cancelled), CORIO_ECANCELED if the caller is cancelled. */
CORIO_API int corio_as_completed_next(corio_as_completed *it, corio_future **fut);
CORIO_API void corio_as_completed_free(corio_as_completed *it);

/* ---- timeouts and shields --------------------------------------------------- */

/* asyncio.timeout(delay) / timeout_at(when) as a scope of the current task:
 *     corio_timeout *cm; corio_timeout_enter(1.5, &cm);
 *     rc = ...body...;
 *     rc = corio_timeout_exit(cm, rc);   // CORIO_ETIMEDOUT if it fired
 * When the deadline passes the task is cancelled; exit turns that cancel
 * into CORIO_ETIMEDOUT unless a cancel from outside also came (it wins).
 * Exit frees the scope; scopes nest (exit the inner one first). */
CORIO_API int corio_timeout_enter(double delay, corio_timeout **out);
CORIO_API int corio_timeout_at_enter(double when, corio_timeout **out);
CORIO_API int corio_timeout_exit(corio_timeout *cm, int rc);
CORIO_API int corio_timeout_reschedule(corio_timeout *cm, double when); /* CORIO_FOREVER: none */
CORIO_API double corio_timeout_when(const corio_timeout *cm);          /* CORIO_FOREVER: none */
CORIO_API int corio_timeout_expired(const corio_timeout *cm);
/* asyncio.wait_for (3.12): await aw; if not done within timeout, cancel it,
 * wait for the cancel to finish, then CORIO_ETIMEDOUT. A coroutine runs in
 * the calling task, as `await coro` would. */
CORIO_API int corio_wait_for(corio_aw aw, double timeout, void **result);
/* asyncio.shield: a future that follows aw, whose cancel does not reach aw. */
CORIO_API int corio_shield(corio_aw aw, corio_future **out);

/* ---- task groups (asyncio.TaskGroup) ------------------------------------- */

typedef struct corio_taskgroup corio_taskgroup;
/*     corio_taskgroup *tg; corio_taskgroup_enter(&tg);
 *     corio_taskgroup_create_task(tg, fn, arg, NULL, NULL); ...
 *     rc = corio_taskgroup_exit(tg, rc);
 * exit waits for every task. The first task to fail cancels the others and
 * the body; then exit returns CORIO_EGROUP and corio_current_error() is the
 * group of all errors. A cancel from outside is returned as CORIO_ECANCELED. */
CORIO_API int corio_taskgroup_enter(corio_taskgroup **out);
CORIO_API int corio_taskgroup_create_task(corio_taskgroup *tg, corio_fn fn, void *arg,
                                          const char *name, corio_task **out);
CORIO_API int corio_taskgroup_exit(corio_taskgroup *tg, int rc);

/* ---- any: the first success wins --------------------------------------- */

/* In a task: run/await all, return the first successful result (its index
 * in *winner), cancel the others and wait until they have finished. If all
 * fail: CORIO_EGROUP with the errors as corio_current_error(); if all were
 * cancelled: CORIO_ECANCELED. A round's finishers are taken in input order. */
CORIO_API int corio_any(const corio_aw *aws, size_t n, size_t *winner, void **result);

/* ---- synchronisation primitives (asyncio.Event, Lock, ...) --------------- */
/* Each binds to the loop of its first waiting use (CORIO_EWRONGLOOP from
 * another loop). Waiters are served first come, first served; every wait
 * is a cancellation point and honours the task's timeout scopes; a
 * cancelled waiter gives its place up without losing a wake-up or a
 * permit. _free returns CORIO_EBUSY (and frees nothing) while tasks wait. */

typedef struct corio_event corio_event;
CORIO_API int corio_event_new(corio_event **out);
CORIO_API int corio_event_free(corio_event *ev);
CORIO_API int corio_event_set(corio_event *ev);   /* wakes every waiter */
CORIO_API int corio_event_clear(corio_event *ev);
CORIO_API int corio_event_is_set(const corio_event *ev);
CORIO_API int corio_event_wait(corio_event *ev);  /* 0, or CORIO_ECANCELED */

typedef struct corio_lock corio_lock;
CORIO_API int corio_lock_new(corio_lock **out);
CORIO_API int corio_lock_free(corio_lock *lock);
CORIO_API int corio_lock_acquire(corio_lock *lock);
CORIO_API int corio_lock_release(corio_lock *lock); /* CORIO_EINVALSTATE if not locked */
CORIO_API int corio_lock_locked(const corio_lock *lock);

typedef struct corio_semaphore corio_semaphore;
CORIO_API int corio_semaphore_new(corio_semaphore **out, int value);
/* A bounded one: releasing above the initial value is -EOVERFLOW. */
CORIO_API int corio_bounded_semaphore_new(corio_semaphore **out, int value);
CORIO_API int corio_semaphore_free(corio_semaphore *sem);
CORIO_API int corio_semaphore_acquire(corio_semaphore *sem);
CORIO_API int corio_semaphore_release(corio_semaphore *sem);
CORIO_API int corio_semaphore_locked(const corio_semaphore *sem);
CORIO_API int corio_semaphore_value(const corio_semaphore *sem);

typedef struct corio_condition corio_condition;
/* lock NULL: the condition makes its own; else it borrows `lock`. */
CORIO_API int corio_condition_new(corio_condition **out, corio_lock *lock);
CORIO_API int corio_condition_free(corio_condition *cond);
CORIO_API int corio_condition_acquire(corio_condition *cond);
CORIO_API int corio_condition_release(corio_condition *cond);
CORIO_API int corio_condition_locked(const corio_condition *cond);
/* Release the lock, wait for a notify, take the lock back (even when
 * cancelled). A waiter cancelled after being notified passes the notify
 * on (3.13). CORIO_EINVALSTATE without the lock. */
CORIO_API int corio_condition_wait(corio_condition *cond);
CORIO_API int corio_condition_wait_for(corio_condition *cond, int (*pred)(void *arg), void *arg);
CORIO_API int corio_condition_notify(corio_condition *cond, int n);
CORIO_API int corio_condition_notify_all(corio_condition *cond);

typedef struct corio_barrier corio_barrier;
CORIO_API int corio_barrier_new(corio_barrier **out, int parties);
CORIO_API int corio_barrier_free(corio_barrier *b);
/* The caller's arrival index (>= 0), or CORIO_EBROKEN, or CORIO_ECANCELED. */
CORIO_API int corio_barrier_wait(corio_barrier *b);
CORIO_API int corio_barrier_reset(corio_barrier *b);
CORIO_API int corio_barrier_abort(corio_barrier *b);
CORIO_API int corio_barrier_parties(const corio_barrier *b);
CORIO_API int corio_barrier_n_waiting(const corio_barrier *b);
CORIO_API int corio_barrier_broken(const corio_barrier *b);

/* ---- queues (asyncio.Queue, LifoQueue, PriorityQueue; 3.13) -------------- */

typedef struct corio_queue corio_queue;
/* maxsize <= 0: unbounded. Items are the caller's pointers. */
CORIO_API int corio_queue_new(corio_queue **out, int maxsize);
CORIO_API int corio_lifo_queue_new(corio_queue **out, int maxsize);
/* Lowest first by cmp (< 0: a before b); equal ones in put order. */
CORIO_API int corio_priority_queue_new(corio_queue **out, int maxsize,
                                       int (*cmp)(const void *a, const void *b));
CORIO_API int corio_queue_free(corio_queue *q); /* items left are not freed */
CORIO_API int corio_queue_put(corio_queue *q, void *item);     /* waits while full */
CORIO_API int corio_queue_get(corio_queue *q, void **item);    /* waits while empty */
CORIO_API int corio_queue_put_nowait(corio_queue *q, void *item); /* CORIO_EFULL */
CORIO_API int corio_queue_get_nowait(corio_queue *q, void **item); /* CORIO_EEMPTY */
CORIO_API int corio_queue_qsize(const corio_queue *q);
CORIO_API int corio_queue_maxsize(const corio_queue *q);
CORIO_API int corio_queue_empty(const corio_queue *q);
CORIO_API int corio_queue_full(const corio_queue *q);
CORIO_API int corio_queue_task_done(corio_queue *q); /* CORIO_EINVAL if called too often */
CORIO_API int corio_queue_join(corio_queue *q);
/* Puts fail with CORIO_ESHUTDOWN from now on; gets too once the queue is
 * empty. immediate: drop the items left (counting them done). */
CORIO_API int corio_queue_shutdown(corio_queue *q, int immediate);

/* ---- threads ------------------------------------------------------------- */

/* Schedule fn(arg) on loop from any thread; wakes the loop. */
CORIO_API int corio_call_soon_threadsafe(corio_loop *loop, corio_cb fn, void *arg);

/* asyncio.run_coroutine_threadsafe: from another thread, run fn(arg) as a
 * task of loop and get a future that thread can block on. */
typedef struct corio_cfuture corio_cfuture;
CORIO_API int corio_run_coroutine_threadsafe(corio_loop *loop, corio_fn fn, void *arg,
                                             corio_cfuture **out);
/* Block (not in a task of that loop!) until done or timeout seconds
 * passed: the task's code (0 with *result), or CORIO_ETIMEDOUT. */
CORIO_API int corio_cfuture_wait(corio_cfuture *cf, double timeout, void **result);
CORIO_API int corio_cfuture_cancel(corio_cfuture *cf);
CORIO_API void corio_cfuture_free(corio_cfuture *cf);

/* asyncio.to_thread: in a task, run blocking fn(arg) on the loop's thread
 * pool and await it. If the task is cancelled it stops waiting at once;
 * the work is not interrupted, and when it ends its result is passed to
 * release (if not NULL) instead of being lost. */
CORIO_API int corio_to_thread(corio_fn fn, void *arg, void (*release)(void *result),
                              void **result);
/* Threads of the pool (default: min(32, cores + 4), as asyncio). */
CORIO_API int corio_loop_set_thread_pool_size(corio_loop *loop, int threads);

/* ---- asyncio.run -------------------------------------------------------- */

/* Run fn(arg) as the main task of a fresh loop; then cancel what is left,
 * wait for it, close the loop. Returns the main task's outcome. */
CORIO_API int corio_run(corio_fn fn, void *arg, void **result);

CORIO_API const char *corio_version(void);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_H */
