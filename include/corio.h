/*
 * corio — Python asyncio's task model in C.
 *
 * One public header, opaque types. Every fallible function returns 0 (or a
 * documented non-negative value) on success and a negative code on
 * failure: -errno values (CORIO_EINVAL == -EINVAL, ...) plus the library's
 * own CORIO_E* codes; corio_strerror() names any of them. errno is never
 * the channel. Each function below says what it returns and which codes it
 * can fail with; CORIO_EINVAL (a NULL or nonsense argument) is always
 * possible and not repeated.
 *
 * Ownership, in one rule: every `T **out` parameter hands the caller a
 * reference it owns and must release (corio_future_unref, corio_error_unref,
 * corio_handle_unref, or the type's _free); every pointer a function
 * returns is borrowed, and its comment says until when. One verb per kind
 * of release: _unref for counted objects (futures, tasks, errors,
 * handles), _free for owned ones (loops, sets, primitives, queues), _exit
 * for scopes (timeouts, task groups). Nothing is released twice: a second
 * _unref or _free of the same reference is a use after free (debug builds,
 * -DCORIO_CHECKS=ON, detect the common cases and abort with a message).
 *
 * Time, in one rule, for every timeout and delay argument: NaN is
 * CORIO_EINVAL; a negative value (-inf too) means "now"; CORIO_FOREVER
 * (+inf) means "no timeout"; a finite value beyond the clock's range
 * (about 292 years) saturates at its end and never wraps. Deadlines are
 * ordered as CPython orders its float deadlines.
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
#include <math.h>
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

/* The one source of the version (CMake reads these lines). */
#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 2
#define CORIO_VERSION_PATCH 0

/* ---- error codes ------------------------------------------------------ */

#define CORIO_EINVAL (-EINVAL)       /* NULL or nonsense argument */
#define CORIO_ENOMEM (-ENOMEM)       /* allocation failed */
#define CORIO_ECANCELED (-ECANCELED) /* asyncio.CancelledError */
#define CORIO_ETIMEDOUT (-ETIMEDOUT) /* asyncio.TimeoutError */
#define CORIO_EBUSY (-EBUSY)         /* in use: closing a running loop, freeing a primitive tasks wait on */
#define CORIO_EDEADLK (-EDEADLK)     /* awaiting yourself; a wait that can never end */
/* The library's own codes, outside the errno range (-4001 to -4999). */
#define CORIO_EINVALSTATE (-4001) /* asyncio.InvalidStateError: result of a pending future, ... */
#define CORIO_ENOTINTASK (-4002)  /* a suspending call made outside a task */
#define CORIO_ECLOSED (-4003)     /* the loop is closed (or closing) */
#define CORIO_ERUNNING (-4004)    /* the loop is already running */
#define CORIO_ENOLOOP (-4005)     /* no running loop in this thread */
#define CORIO_EWRONGLOOP (-4006)  /* the future belongs to another loop */
#define CORIO_ENOTTASK (-4007)    /* a task-only call on a plain future */
#define CORIO_EGROUP (-4008)      /* several errors together (ExceptionGroup) */
#define CORIO_EBROKEN (-4009)     /* the barrier is broken or was reset (BrokenBarrierError) */
#define CORIO_EFULL (-4010)       /* put_nowait on a full queue (QueueFull) */
#define CORIO_EEMPTY (-4011)      /* get_nowait on an empty queue (QueueEmpty) */
#define CORIO_ESHUTDOWN (-4012)   /* the queue is shut down (QueueShutDown) */
#define CORIO_ERUNTIME (-4013)    /* a generic failure (RuntimeError) for programs to raise */
#define CORIO_EINCOMPLETE (-4014) /* EOF before the bytes asked for (IncompleteReadError) */
#define CORIO_ELIMIT (-4015)      /* over the stream's limit without a separator (LimitOverrunError) */
#define CORIO_EFDCLOSED (-4016)   /* the descriptor was closed through corio while a task waited on it */
#define CORIO_ETLS (-4017)        /* a TLS failure (ssl.SSLError): the message has OpenSSL's reason */
#define CORIO_ECERT (-4018)       /* certificate verification failed (SSLCertVerificationError) */
#define CORIO_ENAME (-4019)       /* a name could not be resolved (socket.gaierror): gai_strerror in the message */
#define CORIO_ECURL (-4020)       /* libcurl failed (corio_curl.h): curl's message */
#define CORIO_EPQ (-4021)         /* libpq or the PostgreSQL server failed (corio_pq.h): its message */
#define CORIO_EREDIS (-4022)      /* hiredis failed or redis replied with an error (corio_redis.h) */
#define CORIO_EINTERRUPTED (-4023) /* corio_run ended by SIGINT (KeyboardInterrupt) */
/* The program's own codes: CORIO_EUSER(0) .. CORIO_EUSER(9999), that is
 * -10000 down to -19999. corio never returns them; corio_strerror names
 * them "program error N". Use them instead of borrowing errno values. */
#define CORIO_EUSER(n) (-10000 - (n))
#define CORIO_EUSER_MAX 9999

/* A readable name for any code (static storage; never NULL). */
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
/* Gives back a result nobody took (corio_future_set_release, to_thread). */
typedef void (*corio_release_fn)(void *result);

/* ---- errors (the exception stand-in) ---------------------------------- */

/* Errors are immutable, reference-counted values: code, message, cause. */
CORIO_API corio_error *corio_error_ref(const corio_error *err); /* returns err; NULL-safe */
CORIO_API void corio_error_unref(const corio_error *err);       /* NULL-safe */
CORIO_API int corio_error_code(const corio_error *err);         /* CORIO_EINVAL for NULL */
/* Borrowed, valid while err is; strerror(code) when it has no message. */
CORIO_API const char *corio_error_message(const corio_error *err);
/* Borrowed, valid while err is; NULL if none. */
CORIO_API const corio_error *corio_error_cause(const corio_error *err);
/* In a task: record an error (code < 0) with a message, to be attached to
 * the task if it returns that code; the cause is the error the task last
 * observed (from an await), as Python's implicit exception chaining.
 * Returns code, so `return corio_raise(-EIO, "read %s", path);` works
 * (also outside a task, where it records nothing). */
CORIO_API int corio_raise(int code, const char *fmt, ...) CORIO_PRINTF(2, 3);
/* The error the current task last raised or observed (sys.exc_info()), or
 * NULL; borrowed until the task's next raise or await. */
CORIO_API const corio_error *corio_current_error(void);
/* An error with code CORIO_EGROUP holds other errors, in the order they
 * happened (ExceptionGroup.exceptions); others hold none. */
CORIO_API size_t corio_error_group_size(const corio_error *err);
/* Borrowed, valid while err is; NULL when i is out of range. */
CORIO_API const corio_error *corio_error_group_get(const corio_error *err, size_t i);

/* Reports of errors nobody handled, and of objects left behind. The
 * default handler prints to stderr. `fut` and `err` are borrowed for the
 * call. */
typedef void (*corio_exception_handler)(corio_loop *loop, const char *message,
                                        corio_future *fut, const corio_error *err,
                                        void *arg);
/* fn NULL restores the default. 0. */
CORIO_API int corio_loop_set_exception_handler(corio_loop *loop, corio_exception_handler fn,
                                               void *arg);
CORIO_API void corio_loop_default_exception_handler(corio_loop *loop, const char *message,
                                                    corio_future *fut,
                                                    const corio_error *err, void *arg);
/* loop.call_exception_handler: report through the loop's handler. */
CORIO_API void corio_loop_call_exception_handler(corio_loop *loop, const char *message,
                                                 corio_future *fut, const corio_error *err);

/* ---- the loop ----------------------------------------------------------- */

/* A new loop, owned by the caller (corio_loop_free). 0, CORIO_ENOMEM, or
 * the -errno of a system call (eventfd, epoll). Its backend is the one the
 * CORIO_BACKEND environment variable names (epoll, io_uring or auto), else
 * epoll; corio_loop_new_with chooses in code. */
CORIO_API int corio_loop_new(corio_loop **out);

/* How a loop waits for I/O. EPOLL: readiness (try the call, wait, try
 * again). IO_URING: completion (the kernel does the operation; built when
 * liburing's headers were found). AUTO: io_uring where the kernel allows
 * it, else epoll. DEFAULT: what CORIO_BACKEND says, else EPOLL. A loop
 * that cannot have io_uring (no support built, ENOSYS, EPERM, a seccomp
 * filter, io_uring_disabled, a kernel without a feature corio needs) falls
 * back to epoll: corio_loop_backend says which one runs, and with
 * CORIO_DEBUG=1 in the environment each new loop prints it on stderr. */
enum {
    CORIO_BACKEND_DEFAULT = 0,
    CORIO_BACKEND_EPOLL = 1,
    CORIO_BACKEND_IO_URING = 2,
    CORIO_BACKEND_AUTO = 3
};
/* Zero-initialise (= {0}): a field added later means "as before" at 0. */
typedef struct corio_loop_options {
    int backend; /* CORIO_BACKEND_* */
} corio_loop_options;
/* corio_loop_new with options (NULL: the defaults). CORIO_EINVAL for an
 * unknown backend value. */
CORIO_API int corio_loop_new_with(corio_loop **out, const corio_loop_options *opts);
/* The backend the loop runs: CORIO_BACKEND_EPOLL or CORIO_BACKEND_IO_URING
 * (CORIO_EINVAL for NULL). */
CORIO_API int corio_loop_backend(const corio_loop *loop);
/* Its name, "epoll" or "io_uring" (static; "(none)" for NULL). */
CORIO_API const char *corio_loop_backend_name(const corio_loop *loop);
/* asyncio's loop.close(): tasks still pending are reported ("Task was
 * destroyed but it is pending!") and destroyed, callbacks not run are
 * released, posts from other threads are refused from now on, and every
 * run_coroutine_threadsafe future of the loop completes as cancelled. The
 * handle stays valid (corio_loop_is_closed says 1; most calls then give
 * CORIO_ECLOSED) until corio_loop_free. 0; CORIO_EBUSY while running;
 * CORIO_ECLOSED if already closed. */
CORIO_API int corio_loop_close(corio_loop *loop);
/* Close (if not closed yet) and give the handle up; no thread may use it
 * afterwards. Futures and handles of the loop still referenced keep its
 * memory until they are released, and are reported (a forgotten unref).
 * 0, or corio_loop_close's error (CORIO_EBUSY: nothing was freed). NULL: 0. */
CORIO_API int corio_loop_free(corio_loop *loop);
/* Default stack size for tasks created afterwards (rounded up to pages;
 * 2 pages to 1 TiB). 0 or CORIO_ECLOSED. */
CORIO_API int corio_loop_set_stack_size(corio_loop *loop, size_t bytes);
/* Stack mode for tasks created afterwards. CORIO_STACK_OWN (default): a
 * guarded stack per task. CORIO_STACK_COPY: tasks share one stack; a
 * suspended task keeps only the bytes it uses, copied out when it suspends
 * and back before it resumes (a few hundred bytes instead of a page).
 * Hazard: while such a task is suspended its stack addresses hold another
 * task's frames, so it must not lend out pointers to its locals (corio's
 * own waiters and result arrays handle this). If copying out fails for
 * lack of memory the process ends with a message. 0 or CORIO_ECLOSED. */
enum { CORIO_STACK_OWN = 0, CORIO_STACK_COPY = 1 };
CORIO_API int corio_loop_set_stack_mode(corio_loop *loop, int mode);
/* Eager tasks (asyncio 3.12's loop.set_task_factory(eager_task_factory)):
 * while the loop runs, a task created afterwards starts inside the
 * creating call and runs until it first suspends or finishes; then the
 * creator goes on. A task that finishes there never visits the ready
 * queue, and a gather of such tasks is done when corio_gather returns.
 * Outside a running loop, and for copy-mode tasks or creators, tasks start
 * on a later iteration as usual. Off by default. 0 or CORIO_ECLOSED. */
CORIO_API int corio_loop_set_eager_tasks(corio_loop *loop, int on);
/* Virtual time: the clock starts at 0 and jumps to the next deadline
 * whenever nothing is ready. 0, CORIO_ECLOSED, or CORIO_EBUSY while the
 * loop runs or a timer is armed. */
CORIO_API int corio_loop_set_virtual_time(corio_loop *loop, int on);
/* loop.time(): the loop's monotonic clock in seconds (virtual time: the
 * virtual clock). -1 for NULL. */
CORIO_API double corio_loop_time(corio_loop *loop);
/* Run until corio_loop_stop. 0, CORIO_ECLOSED, CORIO_ERUNNING (this loop
 * or another runs in this thread), CORIO_EDEADLK (virtual time with
 * nothing left that could ever happen), or a backend's -errno. */
CORIO_API int corio_loop_run_forever(corio_loop *loop);
/* Run until fut is done; then what corio_future_result gives. Also
 * CORIO_EWRONGLOOP, and the run_forever codes (fut then stays pending;
 * CORIO_EINVALSTATE if the loop was stopped first). */
CORIO_API int corio_loop_run_until_complete(corio_loop *loop, corio_future *fut,
                                            void **result);
/* Stop after the current iteration. 0 or CORIO_ECLOSED. */
CORIO_API int corio_loop_stop(corio_loop *loop);
CORIO_API int corio_loop_is_running(const corio_loop *loop); /* 0 or 1 (0 for NULL) */
CORIO_API int corio_loop_is_closed(const corio_loop *loop);  /* 0 or 1 (0 for NULL) */
/* The loop running in this thread, or NULL (asyncio.get_running_loop);
 * borrowed while it runs. */
CORIO_API corio_loop *corio_get_running_loop(void);

/* Callbacks. `out` may be NULL; if given, the caller owns a reference
 * (corio_handle_unref; cancel first if it wants). 0, CORIO_ENOMEM or
 * CORIO_ECLOSED. call_later/call_at follow the time rule (CORIO_FOREVER:
 * a handle that never runs). */
CORIO_API int corio_call_soon(corio_loop *loop, corio_cb fn, void *arg, corio_handle **out);
CORIO_API int corio_call_later(corio_loop *loop, double delay, corio_cb fn, void *arg,
                               corio_handle **out);
CORIO_API int corio_call_at(corio_loop *loop, double when, corio_cb fn, void *arg,
                            corio_handle **out);
/* Cancel (a no-op once it ran). 0. */
CORIO_API int corio_handle_cancel(corio_handle *h);
CORIO_API int corio_handle_cancelled(const corio_handle *h); /* 0 or 1 */
/* The deadline on the loop clock; NAN for call_soon handles and NULL. */
CORIO_API double corio_handle_when(const corio_handle *h);
CORIO_API void corio_handle_unref(corio_handle *h); /* NULL-safe */

/* ---- futures ------------------------------------------------------------ */

/* A new pending future, owned by the caller. 0, CORIO_ENOMEM, CORIO_ECLOSED. */
CORIO_API int corio_future_new(corio_loop *loop, corio_future **out);
/* A new reference to fut (returned; NULL-safe). */
CORIO_API corio_future *corio_future_ref(corio_future *fut);
/* Release a reference (NULL-safe). The last one frees the future; an error
 * nobody read is reported then ("exception was never retrieved"). */
CORIO_API void corio_future_unref(corio_future *fut);
/* Borrowed, valid while fut is. */
CORIO_API corio_loop *corio_future_loop(const corio_future *fut);
CORIO_API int corio_future_done(const corio_future *fut);      /* 0 or 1 */
CORIO_API int corio_future_cancelled(const corio_future *fut); /* 0 or 1 */
/* Complete a plain future. 0; CORIO_EINVALSTATE if done already;
 * CORIO_ECLOSED; CORIO_EINVAL for a task or a gather (they complete by
 * themselves). */
CORIO_API int corio_future_set_result(corio_future *fut, void *result);
/* Fail with code (< 0, not CORIO_ECANCELED) and a printf-style message
 * (fmt may be NULL). As set_result, and CORIO_ENOMEM. */
CORIO_API int corio_future_set_error(corio_future *fut, int code, const char *fmt, ...)
    CORIO_PRINTF(3, 4);
/* Fail with an existing error (the future takes a reference of its own). */
CORIO_API int corio_future_set_exception(corio_future *fut, const corio_error *err);
/* Request cancellation: 1 if requested, 0 if already done; CORIO_ECLOSED,
 * CORIO_ENOMEM (for the message). */
CORIO_API int corio_future_cancel(corio_future *fut, const char *msg);
/* The outcome: 0 with *result (result may be NULL), the error's code, or
 * CORIO_ECANCELED; CORIO_EINVALSTATE while pending. Marks it retrieved;
 * passing a non-NULL result takes the result (corio_future_set_release). */
CORIO_API int corio_future_result(corio_future *fut, void **result);
/* asyncio's exception(): 0 with *err = a new reference to the error
 * (NULL after success; for a cancelled future an error with code
 * CORIO_ECANCELED and the cancel message), or CORIO_EINVALSTATE while
 * pending. Marks it retrieved. */
CORIO_API int corio_future_exception(corio_future *fut, corio_error **err);
/* Done callbacks run on a later loop iteration, in registration order.
 * 0, CORIO_ENOMEM, CORIO_ECLOSED. */
CORIO_API int corio_future_add_done_callback(corio_future *fut, corio_done_cb fn, void *arg);
/* Removes every registration of (fn, arg); returns how many. */
CORIO_API size_t corio_future_remove_done_callback(corio_future *fut, corio_done_cb fn,
                                                   void *arg);
/* A result nobody takes is not lost: if fut completes with a result that
 * no one receives (no corio_future_result or corio_await with a non-NULL
 * result pointer, no gather handing it on), release(result) runs when fut
 * is freed. Set it before the result can be dropped (a task may set its
 * own: corio_future_set_release(corio_current_task(), free)). NULL turns
 * it off. 0, CORIO_ENOMEM. */
CORIO_API int corio_future_set_release(corio_future *fut, corio_release_fn release);

/* ---- tasks -------------------------------------------------------------- */

/* Schedule fn(arg) as a task of the running loop; it starts on a later
 * iteration. name NULL gives "Task-N". `out` may be NULL (the loop keeps
 * the task until it is done); if given, the caller owns a reference.
 * 0, CORIO_ENOLOOP, CORIO_ENOMEM. */
CORIO_API int corio_create_task(corio_fn fn, void *arg, const char *name, corio_task **out);
/* The same on a given loop (it need not run yet); stack_size 0 = the
 * loop's default, else 2 pages to 1 TiB. Also CORIO_ECLOSED. */
CORIO_API int corio_loop_create_task(corio_loop *loop, corio_fn fn, void *arg, const char *name,
                                     size_t stack_size, corio_task **out);
CORIO_API int corio_is_task(const corio_future *fut); /* 0 or 1 */
/* 1 if the cancel was requested, 0 if already done; CORIO_ENOTTASK,
 * CORIO_ECLOSED, CORIO_ENOMEM. */
CORIO_API int corio_task_cancel(corio_task *task, const char *msg);
/* cancelling(): the requests not withdrawn (0 for NULL or a plain future). */
CORIO_API size_t corio_task_cancelling(const corio_task *task);
/* uncancel(): withdraw one request; returns the requests left. */
CORIO_API size_t corio_task_uncancel(corio_task *task);
/* Borrowed, valid until the task is renamed or freed; NULL for NULL or a
 * plain future. */
CORIO_API const char *corio_task_get_name(corio_task *task);
/* 0, CORIO_ENOTTASK, CORIO_ENOMEM. */
CORIO_API int corio_task_set_name(corio_task *task, const char *name);
/* The task running now, or NULL outside tasks; borrowed while it runs. */
CORIO_API corio_task *corio_current_task(void);
/* Fills up to cap live (not done) tasks of loop (NULL: the running loop)
 * into buf (borrowed pointers, valid while those tasks are) and returns
 * how many there are, which may exceed cap. */
CORIO_API size_t corio_all_tasks(corio_loop *loop, corio_task **buf, size_t cap);

/* ---- suspending calls (in a task only; each is a cancellation point) ---- */

/* Wait for fut; then as corio_future_result. A cancel of the awaiting task
 * is forwarded to fut (as asyncio does). Also CORIO_ENOTINTASK,
 * CORIO_EWRONGLOOP, CORIO_EDEADLK (awaiting itself). */
CORIO_API int corio_await(corio_future *fut, void **result);
/* asyncio.sleep(delay), by the time rule; delay <= 0 yields once to the
 * other ready tasks. 0, CORIO_ECANCELED, CORIO_ENOTINTASK, CORIO_ENOMEM. */
CORIO_API int corio_sleep(double delay);

/* ---- awaitables: what the combinators take ------------------------------- */

/* A task or future, or a coroutine (fn + arg, not yet scheduled) that the
 * combinator wraps into a task (asyncio.ensure_future). The combinator
 * reads it while the call lasts: it may live in the caller's frame. */
typedef struct corio_aw {
    corio_future *fut; /* a task or future (borrowed); NULL for a coroutine */
    corio_fn fn;       /* coroutine function (when fut is NULL) */
    void *arg;         /* its argument */
    const char *name;  /* name of the wrapping task (copied); NULL gives Task-N */
} corio_aw;
#ifdef __cplusplus
static inline corio_aw corio__aw(corio_future *f, corio_fn fn, void *arg, const char *name) {
    corio_aw a = {f, fn, arg, name};
    return a;
}
#define CORIO_FUT(f) corio__aw((f), NULL, NULL, NULL)
#define CORIO_CORO(fn, arg) corio__aw(NULL, (fn), (arg), NULL)
#define CORIO_CORO_NAMED(fn, arg, name) corio__aw(NULL, (fn), (arg), (name))
#else
#define CORIO_FUT(f) ((corio_aw){(f), NULL, NULL, NULL})
#define CORIO_CORO(fn, arg) ((corio_aw){NULL, (fn), (arg), NULL})
#define CORIO_CORO_NAMED(fn, arg, name) ((corio_aw){NULL, (fn), (arg), (name)})
#endif

/* "No timeout" for every timeout argument (asyncio's None): +inf. */
#define CORIO_FOREVER HUGE_VAL

/* ---- gather (asyncio.gather) -------------------------------------------- */

#define CORIO_RETURN_EXCEPTIONS 1
/* Wrap coroutines into tasks (in argument order) and return a future that
 * completes when all are done, with results in input order; the same
 * future twice is awaited once. Without CORIO_RETURN_EXCEPTIONS the first
 * error completes it at once (the others keep running); a cancelled child
 * counts as an error with code CORIO_ECANCELED. Cancelling the gather
 * cancels every child not done; awaiting it then gives CORIO_ECANCELED
 * (as in CPython, it ends with the cancel as its error, not "cancelled").
 * Awaiting it yields a `void **` array of the n results, owned by the
 * gather (valid while it is); taking that array (a non-NULL result
 * pointer) takes the results, otherwise each goes back through its
 * child's release hook (corio_future_set_release). *out: owned. 0, CORIO_ENOLOOP, CORIO_ECLOSED,
 * CORIO_EWRONGLOOP, CORIO_ENOMEM; CORIO_EINVAL for unknown flags. */
CORIO_API int corio_gather(const corio_aw *aws, size_t n, int flags, corio_future **out);
/* The same over futures and tasks the program holds (no corio_aw array). */
CORIO_API int corio_gather_tasks(corio_future *const *futs, size_t n, int flags,
                                 corio_future **out);
CORIO_API size_t corio_gather_size(const corio_future *g); /* 0 for NULL or not a gather */
/* The future at position i (the task wrapping a coroutine); borrowed,
 * valid while g is. NULL out of range. */
CORIO_API corio_future *corio_gather_child(corio_future *g, size_t i);
/* Position i's outcome once g is done: as corio_future_result and
 * corio_future_exception (*err owned); CORIO_EINVALSTATE while pending. */
CORIO_API int corio_gather_result(corio_future *g, size_t i, void **value);
CORIO_API int corio_gather_exception(corio_future *g, size_t i, corio_error **err);

/* One position's outcome: code 0 with value, or the child's code with its
 * error (an owned reference; NULL if there was no memory for one). */
typedef struct corio_outcome {
    int code;
    void *value;
    corio_error *error;
} corio_outcome;
/* Release the errors of n outcomes (and zero them). NULL-safe. */
CORIO_API void corio_outcomes_clear(corio_outcome *outs, size_t n);
/* In a task: gather and await in one call. If outs is not NULL, outs[i]
 * receives position i's outcome (release with corio_outcomes_clear);
 * positions whose child was still running when the gather failed fast
 * get CORIO_EINVALSTATE. Nothing is written after the call returns, and
 * nothing while it waits (copy mode included). Returns the gather's code.
 * Also CORIO_ENOTINTASK. */
CORIO_API int corio_gather_wait(const corio_aw *aws, size_t n, int flags, corio_outcome *outs);

/* ---- wait (asyncio.wait) -------------------------------------------------- */

enum { CORIO_ALL_COMPLETED = 0, CORIO_FIRST_COMPLETED = 1, CORIO_FIRST_EXCEPTION = 2 };
/* A set of futures (each held by a reference; duplicates kept once). */
typedef struct corio_futset corio_futset;
CORIO_API int corio_futset_new(corio_futset **out); /* 0, CORIO_ENOMEM */
/* 1 added, 0 already present; CORIO_ENOMEM. */
CORIO_API int corio_futset_add(corio_futset *s, corio_future *f);
CORIO_API size_t corio_futset_size(const corio_futset *s); /* 0 for NULL */
/* Member i (0 <= i < size, no particular order); borrowed, valid while it
 * is in the set. NULL out of range. */
CORIO_API corio_future *corio_futset_get(const corio_futset *s, size_t i);
CORIO_API int corio_futset_contains(const corio_futset *s, const corio_future *f); /* 0 or 1 */
/* Cancel every member not done; returns how many were cancelled. */
CORIO_API size_t corio_futset_cancel(corio_futset *s, const char *msg);
/* In a task: wait until every member is done (they stay in the set);
 * never fails on a member's error, and a cancel of the caller stops only
 * the waiting. 0, CORIO_ECANCELED, CORIO_ENOTINTASK, CORIO_EBUSY, CORIO_ENOMEM. */
CORIO_API int corio_futset_await(corio_futset *s);
/* Release the members and the set. 0; NULL: 0; CORIO_EBUSY (nothing
 * freed) while a task waits on it. */
CORIO_API int corio_futset_free(corio_futset *s);
/* Tasks and futures only (a coroutine is refused: CORIO_EINVAL, as asyncio
 * refuses them); empty input is CORIO_EINVAL. Never fails on a child's
 * error, never cancels anything, not on timeout either; *done and
 * *pending are new sets the caller frees. 0, CORIO_ECANCELED,
 * CORIO_ENOTINTASK, CORIO_EWRONGLOOP, CORIO_ENOMEM. */
CORIO_API int corio_wait(const corio_aw *aws, size_t n, double timeout, int return_when,
                         corio_futset **done, corio_futset **pending);
CORIO_API int corio_wait_tasks(corio_future *const *futs, size_t n, double timeout,
                               int return_when, corio_futset **done, corio_futset **pending);
/* The same on a set: the done ones move out of `pending` into a new set
 * *done, the pending ones stay. Loop `while size(pending) > 0` over this:
 * each call costs what completed, not what is pending (linear drain).
 * Also CORIO_EBUSY if another task waits on the set. */
CORIO_API int corio_wait_set(corio_futset *pending, double timeout, int return_when,
                             corio_futset **done);

/* ---- as_completed (asyncio.as_completed, 3.13) --------------------------- */

typedef struct corio_as_completed corio_as_completed;
/* *out: owned (corio_as_completed_free). 0, CORIO_ENOLOOP, CORIO_ECLOSED,
 * CORIO_EWRONGLOOP, CORIO_ENOMEM. */
CORIO_API int corio_as_completed_new(const corio_aw *aws, size_t n, double timeout,
                                     corio_as_completed **out);
/* In a task: 1 with *fut = a new reference to the next child to finish
 * (the original task or future; read its outcome with
 * corio_future_result), 0 when all were handed out, CORIO_ETIMEDOUT once
 * the timeout passed (the rest are not cancelled), CORIO_ECANCELED if the
 * caller is cancelled; CORIO_EBUSY if another task waits in next. */
CORIO_API int corio_as_completed_next(corio_as_completed *it, corio_future **fut);
/* 0; NULL: 0; CORIO_EBUSY (nothing freed) while a task waits in next. */
CORIO_API int corio_as_completed_free(corio_as_completed *it);

/* ---- timeouts and shields --------------------------------------------------- */

/* asyncio.timeout(delay) / timeout_at(when) as a scope of the current task:
 *     corio_timeout *cm; corio_timeout_enter(1.5, &cm);
 *     rc = ...body...;
 *     rc = corio_timeout_exit(cm, rc);   // CORIO_ETIMEDOUT if it fired
 * When the deadline passes the task is cancelled; exit turns that cancel
 * into CORIO_ETIMEDOUT unless a cancel from outside also came (it wins).
 * Exit frees the scope; scopes nest. A scope still open when its task
 * ends is disarmed, reported and freed. enter: 0, CORIO_ENOTINTASK,
 * CORIO_ENOMEM. */
CORIO_API int corio_timeout_enter(double delay, corio_timeout **out);
CORIO_API int corio_timeout_at_enter(double when, corio_timeout **out);
/* rc, CORIO_ETIMEDOUT in its place, or CORIO_EINVALSTATE (cm is not an
 * open scope of the calling task: exited already, or another task's). */
CORIO_API int corio_timeout_exit(corio_timeout *cm, int rc);
/* Move the deadline (absolute; CORIO_FOREVER: none). 0, CORIO_EINVALSTATE
 * once expiring. cm must be open (these three read it). */
CORIO_API int corio_timeout_reschedule(corio_timeout *cm, double when);
CORIO_API double corio_timeout_when(const corio_timeout *cm); /* CORIO_FOREVER: none */
CORIO_API int corio_timeout_expired(const corio_timeout *cm); /* 0 or 1 */
/* asyncio.wait_for (3.12): await aw; if not done within timeout, cancel it,
 * wait for the cancel to finish, then CORIO_ETIMEDOUT. A coroutine runs in
 * the calling task, as `await coro` would. As corio_await. */
CORIO_API int corio_wait_for(corio_aw aw, double timeout, void **result);
/* asyncio.shield: *out is a new future (owned) that follows aw, whose
 * cancel does not reach aw. 0, CORIO_ENOLOOP, CORIO_ECLOSED, CORIO_ENOMEM. */
CORIO_API int corio_shield(corio_aw aw, corio_future **out);

/* ---- task groups (asyncio.TaskGroup) ------------------------------------- */

typedef struct corio_taskgroup corio_taskgroup;
/*     corio_taskgroup *tg; corio_taskgroup_enter(&tg);
 *     corio_taskgroup_create_task(tg, fn, arg, NULL, NULL); ...
 *     rc = corio_taskgroup_exit(tg, rc);
 * exit waits for every task. The first task to fail cancels the others and
 * the body; then exit returns CORIO_EGROUP and corio_current_error() is the
 * group of all errors. A cancel from outside is returned as CORIO_ECANCELED.
 * Exit frees the group; a group still open when its task ends is
 * reported and freed (its tasks run on). enter: 0, CORIO_ENOTINTASK,
 * CORIO_ENOMEM. */
CORIO_API int corio_taskgroup_enter(corio_taskgroup **out);
/* On the group's loop (from its tasks or callbacks). *out (may be NULL):
 * owned. 0, CORIO_ENOMEM, CORIO_ENOLOOP, CORIO_EINVALSTATE once the group
 * is shutting down or has exited (detected, not a use after free). */
CORIO_API int corio_taskgroup_create_task(corio_taskgroup *tg, corio_fn fn, void *arg,
                                          const char *name, corio_task **out);
/* The group's outcome as above; CORIO_EINVALSTATE if tg is not an open
 * group of the calling task. */
CORIO_API int corio_taskgroup_exit(corio_taskgroup *tg, int rc);

/* ---- any: the first success wins --------------------------------------- */

/* In a task: run/await all, return the first successful result (its index
 * in *winner), cancel the others and wait until they have finished. If all
 * fail: CORIO_EGROUP with the errors as corio_current_error(); if all were
 * cancelled: CORIO_ECANCELED. A round's finishers are taken in input order;
 * the results of the others, and the winner's when `result` is NULL, are
 * released (corio_future_set_release). */
CORIO_API int corio_any(const corio_aw *aws, size_t n, size_t *winner, void **result);
CORIO_API int corio_any_tasks(corio_future *const *futs, size_t n, size_t *winner,
                              void **result);

/* ---- synchronisation primitives (asyncio.Event, Lock, ...) --------------- */
/* Each binds to the loop of its first waiting use (CORIO_EWRONGLOOP from
 * another loop). Waiters are served first come, first served; every wait
 * is a cancellation point and honours the task's timeout scopes (0 or
 * CORIO_ECANCELED, and CORIO_ENOTINTASK, CORIO_ENOMEM); a cancelled waiter
 * gives its place up without losing a wake-up or a permit. _free returns
 * CORIO_EBUSY (and frees nothing) while a task is inside a wait, woken or
 * not; _new returns 0 or CORIO_ENOMEM. */

typedef struct corio_event corio_event;
CORIO_API int corio_event_new(corio_event **out);
CORIO_API int corio_event_free(corio_event *ev);
CORIO_API int corio_event_set(corio_event *ev); /* wakes every waiter */
CORIO_API int corio_event_clear(corio_event *ev);
CORIO_API int corio_event_is_set(const corio_event *ev);
CORIO_API int corio_event_wait(corio_event *ev);

typedef struct corio_lock corio_lock;
CORIO_API int corio_lock_new(corio_lock **out);
CORIO_API int corio_lock_free(corio_lock *lock);
CORIO_API int corio_lock_acquire(corio_lock *lock);
CORIO_API int corio_lock_release(corio_lock *lock); /* unlock: CORIO_EINVALSTATE if not locked */
CORIO_API int corio_lock_locked(const corio_lock *lock);

typedef struct corio_semaphore corio_semaphore;
CORIO_API int corio_semaphore_new(corio_semaphore **out, size_t value);
/* A bounded one: releasing above the initial value is -EOVERFLOW. */
CORIO_API int corio_bounded_semaphore_new(corio_semaphore **out, size_t value);
CORIO_API int corio_semaphore_free(corio_semaphore *sem);
CORIO_API int corio_semaphore_acquire(corio_semaphore *sem);
/* 0; -EOVERFLOW above a bounded semaphore's value, or at SIZE_MAX. */
CORIO_API int corio_semaphore_release(corio_semaphore *sem);
CORIO_API int corio_semaphore_locked(const corio_semaphore *sem);
CORIO_API size_t corio_semaphore_value(const corio_semaphore *sem);

typedef struct corio_condition corio_condition;
/* lock NULL: the condition makes its own; else it borrows `lock` (which
 * must outlive it). */
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
/* Wake up to n waiters. 0, CORIO_EINVALSTATE without the lock. */
CORIO_API int corio_condition_notify(corio_condition *cond, size_t n);
CORIO_API int corio_condition_notify_all(corio_condition *cond);

typedef struct corio_barrier corio_barrier;
CORIO_API int corio_barrier_new(corio_barrier **out, size_t parties); /* parties >= 1 */
CORIO_API int corio_barrier_free(corio_barrier *b);
/* 0 with *index = the caller's arrival index (index may be NULL),
 * CORIO_EBROKEN, CORIO_ECANCELED. */
CORIO_API int corio_barrier_wait(corio_barrier *b, size_t *index);
CORIO_API int corio_barrier_reset(corio_barrier *b);
CORIO_API int corio_barrier_abort(corio_barrier *b);
CORIO_API size_t corio_barrier_parties(const corio_barrier *b);
CORIO_API size_t corio_barrier_n_waiting(const corio_barrier *b);
CORIO_API int corio_barrier_broken(const corio_barrier *b);

/* ---- queues (asyncio.Queue, LifoQueue, PriorityQueue; 3.13) -------------- */

typedef struct corio_queue corio_queue;
/* maxsize 0: unbounded. Items are the caller's pointers (never freed). */
CORIO_API int corio_queue_new(corio_queue **out, size_t maxsize);
CORIO_API int corio_lifo_queue_new(corio_queue **out, size_t maxsize);
/* Lowest first by cmp (< 0: a before b); equal ones in put order. */
CORIO_API int corio_priority_queue_new(corio_queue **out, size_t maxsize,
                                       int (*cmp)(const void *a, const void *b));
CORIO_API int corio_queue_free(corio_queue *q); /* items left are not freed */
/* Wait while full: 0, CORIO_ESHUTDOWN, CORIO_ECANCELED, CORIO_ENOMEM. */
CORIO_API int corio_queue_put(corio_queue *q, void *item);
/* Wait while empty: 0 with *item, CORIO_ESHUTDOWN (shut down and empty),
 * CORIO_ECANCELED. */
CORIO_API int corio_queue_get(corio_queue *q, void **item);
CORIO_API int corio_queue_put_nowait(corio_queue *q, void *item);  /* CORIO_EFULL, CORIO_ESHUTDOWN */
CORIO_API int corio_queue_get_nowait(corio_queue *q, void **item); /* CORIO_EEMPTY, CORIO_ESHUTDOWN */
CORIO_API size_t corio_queue_qsize(const corio_queue *q);
CORIO_API size_t corio_queue_maxsize(const corio_queue *q);
CORIO_API int corio_queue_empty(const corio_queue *q);
CORIO_API int corio_queue_full(const corio_queue *q);
CORIO_API int corio_queue_task_done(corio_queue *q); /* CORIO_EINVAL if called too often */
CORIO_API int corio_queue_join(corio_queue *q);      /* 0, CORIO_ECANCELED */
/* Puts fail with CORIO_ESHUTDOWN from now on; gets too once the queue is
 * empty. immediate: drop the items left (counting them done). 0. */
CORIO_API int corio_queue_shutdown(corio_queue *q, int immediate);

/* ---- threads ------------------------------------------------------------- */

/* Schedule fn(arg) on loop from any thread; wakes the loop. 0,
 * CORIO_ENOMEM, CORIO_ECLOSED once the loop is closing or closed (safe at
 * any moment until corio_loop_free). */
CORIO_API int corio_call_soon_threadsafe(corio_loop *loop, corio_cb fn, void *arg);

/* asyncio.run_coroutine_threadsafe: from another thread, run fn(arg) as a
 * task of loop and get a future that thread can block on. *out: owned
 * (corio_cfuture_free, in any order with the loop's close and free).
 * 0, CORIO_ENOMEM, CORIO_ECLOSED. */
typedef struct corio_cfuture corio_cfuture;
CORIO_API int corio_run_coroutine_threadsafe(corio_loop *loop, corio_fn fn, void *arg,
                                             corio_cfuture **out);
/* Block until done or timeout seconds passed (the time rule): the task's
 * code (0 with *result), CORIO_ECANCELED (also when the loop closed
 * first), CORIO_ETIMEDOUT, or CORIO_EDEADLK from the loop's own thread
 * (it could never finish). */
CORIO_API int corio_cfuture_wait(corio_cfuture *cf, double timeout, void **result);
/* 1 if a cancel was sent, 0 if already done; CORIO_ECLOSED, CORIO_ENOMEM. */
CORIO_API int corio_cfuture_cancel(corio_cfuture *cf);
CORIO_API void corio_cfuture_free(corio_cfuture *cf); /* NULL-safe */

/* asyncio.to_thread: in a task, run blocking fn(arg) on the loop's thread
 * pool and await it. If the task is cancelled it stops waiting at once;
 * the work is not interrupted, and when it ends its result is passed to
 * release (if not NULL) instead of being lost. A job no pool thread has
 * taken yet when its task is cancelled never runs (asyncio's executor
 * drops a cancelled call too), and neither does one still queued at loop
 * close: fn is then never called, and what arg holds stays the caller's.
 * Work that must happen whatever the waiter does (a cancel request to a
 * server) runs in a shielded task (corio_shield). As corio_await, and
 * CORIO_ENOTINTASK, CORIO_ENOMEM. */
CORIO_API int corio_to_thread(corio_fn fn, void *arg, corio_release_fn release, void **result);
/* Threads of the pool (default: min(32, cores + 4), as asyncio; 1 to
 * 4096). 0, CORIO_ECLOSED. */
CORIO_API int corio_loop_set_thread_pool_size(corio_loop *loop, size_t threads);

/* ---- descriptors (io.md 1): one waiting primitive -------------------------- */

#define CORIO_READABLE 1
#define CORIO_WRITABLE 2
/* In a task: wait until fd is ready for `events` (CORIO_READABLE and/or
 * CORIO_WRITABLE; hang-up and error count as both). Returns the ready
 * ones (> 0), or CORIO_ECANCELED (timeout scopes included), CORIO_EBUSY
 * (another task, or a callback, waits on fd in that direction: one reader
 * and one writer per descriptor), CORIO_EFDCLOSED (corio_close_fd closed
 * it meanwhile), CORIO_ENOTINTASK, CORIO_EINVAL (no event asked),
 * -EBADF, -EPERM (a regular file: always ready, epoll cannot watch it).
 * A descriptor a library closes itself (close(2)) and whose number comes
 * back for another file is waited on correctly: each wait checks the
 * registration with the kernel (for a descriptor corio owns, close it
 * through corio_close_fd all the same: a waiter there must wake). */
CORIO_API int corio_wait_fd(int fd, int events);
/* Close a descriptor corio may be watching, on its loop's thread: tasks
 * waiting on it wake with CORIO_EFDCLOSED, its callbacks are removed, and
 * the registration is gone before close(2) frees the number. A descriptor
 * corio watches must be closed this way (a plain close(2) leaves corio's
 * registration to a number the next open may reuse). 0 or -errno. */
CORIO_API int corio_close_fd(int fd);
/* The callback form (asyncio add_reader / add_writer): fn(arg) runs on the
 * loop while fd is readable (writable), until removed; adding replaces the
 * callback in that direction. 0, CORIO_EBUSY (a task waits on fd in that
 * direction), CORIO_ECLOSED, CORIO_ENOMEM, -EBADF, -EPERM. */
CORIO_API int corio_loop_add_reader(corio_loop *loop, int fd, corio_cb fn, void *arg);
CORIO_API int corio_loop_add_writer(corio_loop *loop, int fd, corio_cb fn, void *arg);
/* 1 if a callback was removed, 0 if there was none; CORIO_EINVAL. */
CORIO_API int corio_loop_remove_reader(corio_loop *loop, int fd);
CORIO_API int corio_loop_remove_writer(corio_loop *loop, int fd);

/* ---- sockets (asyncio loop.sock_*; io.md 2) --------------------------------- */

/* Addresses are the system's (<sys/socket.h>); lengths are socklen_t,
 * spelt here as the unsigned int it is, so that this header does not pull
 * the socket API's names into every program. */
struct sockaddr;

/* In a task, on non-blocking sockets the caller owns (corio_socket makes
 * one). Each is a cancellation point while it waits; cancelled, it has
 * moved no byte (sendall: *sent says how many went before). Errors are
 * -errno with a message naming the operation (corio_current_error). */
/* A non-blocking, close-on-exec socket: 0 with *fd, or -errno. */
CORIO_API int corio_socket(int domain, int type, int protocol, int *fd);
/* 0 once connected; the connection's error (-ECONNREFUSED, ...). */
CORIO_API int corio_sock_connect(int fd, const struct sockaddr *addr, unsigned int addrlen);
/* 0 with *conn (non-blocking, close-on-exec) and the peer's address (addr
 * and addrlen may be NULL); -errno. */
CORIO_API int corio_sock_accept(int fd, int *conn, struct sockaddr *addr, unsigned int *addrlen);
/* sock_recv / sock_recv_into: 0 with *got bytes (0 at end of stream). */
CORIO_API int corio_sock_recv(int fd, void *buf, size_t n, size_t *got);
/* All n bytes: 0; else the error (or CORIO_ECANCELED) with *sent bytes
 * sent before it (sent may be NULL). */
CORIO_API int corio_sock_sendall(int fd, const void *buf, size_t n, size_t *sent);
/* One datagram: 0 with *got and the sender (addr, addrlen may be NULL). */
CORIO_API int corio_sock_recvfrom(int fd, void *buf, size_t n, size_t *got,
                                  struct sockaddr *addr, unsigned int *addrlen);
/* One datagram, whole (suspends only while the kernel's buffer is full);
 * addr NULL: a connected socket. 0 or -errno. */
CORIO_API int corio_sock_sendto(int fd, const void *buf, size_t n, const struct sockaddr *addr,
                                unsigned int addrlen);

/* A UDP endpoint (create_datagram_endpoint): a socket bound to
 * local_host:local_port and/or connected to remote_host:port (NULL leaves
 * that side out). Numeric addresses work anywhere; names need a task
 * (resolved on the pool, as corio_getaddrinfo): of each address family
 * both sides have, the first address of each, the first pair that works
 * (as asyncio). 0 with *fd (the caller's: corio_close_fd), -errno with a
 * message, CORIO_ENAME, CORIO_ENOTINTASK (a name outside a task),
 * CORIO_EINVAL (also: no address family in common). */
CORIO_API int corio_open_datagram(const char *local_host, int local_port, const char *remote_host,
                                  int remote_port, int *fd);

/* ---- streams (asyncio open_connection / StreamReader / StreamWriter; io.md 3) */

/* A connected stream: reader and writer in one object, owned by whoever
 * opened it (corio_stream_free), or, for a server's connection, by the
 * server (the handler borrows it until it returns). Reading calls are for
 * one task at a time: one that must wait while another task waits on the
 * same stream gets CORIO_EBUSY; a read the buffer satisfies returns at
 * once. A read that is cancelled or times out consumes nothing. Bytes
 * handed out by pointer are the stream's, valid until the next call on it. */
typedef struct corio_stream corio_stream;
/* In a task: connect to host (a name, or a numeric address: "127.0.0.1",
 * "::1" or "[::1]"), its addresses one after the other, TCP_NODELAY on;
 * corio_open_connection_with (names) says the rest. *out: owned. 0,
 * -errno with a message naming the peer, CORIO_EGROUP, CORIO_ENAME,
 * CORIO_EINVAL. */
CORIO_API int corio_open_connection(const char *host, int port, corio_stream **out);
/* A Unix socket: a path, or "@name" for an abstract one. */
CORIO_API int corio_open_unix_connection(const char *path, corio_stream **out);
/* open_connection(sock=...): a stream over a connected socket (or a
 * pipe) the stream takes over (closed with it), made non-blocking as
 * asyncio makes it. In a task. */
CORIO_API int corio_stream_from_fd(int fd, corio_stream **out);
/* Closes the descriptor now if still open (buffered writes are dropped:
 * close and wait_closed first to send them). 0; CORIO_EBUSY while a task
 * is inside a call on it. NULL-safe. */
CORIO_API int corio_stream_free(corio_stream *s);
/* read(n): up to n bytes (*got >= 1), or *got == 0 at EOF. */
CORIO_API int corio_stream_read(corio_stream *s, void *buf, size_t n, size_t *got);
/* read(n) without a copy: up to n bytes (*len >= 1, or 0 at EOF), lent. */
CORIO_API int corio_stream_read_lent(corio_stream *s, size_t n, const void **data, size_t *len);
/* read(-1): everything up to EOF, lent. On an error (a cancel too) the
 * bytes so far stay buffered for the next read. */
CORIO_API int corio_stream_read_all(corio_stream *s, const void **data, size_t *len);
/* readexactly(n): 0, or CORIO_EINCOMPLETE at EOF with the *got bytes that
 * came (consumed, in buf), as IncompleteReadError's `partial`. */
CORIO_API int corio_stream_readexactly(corio_stream *s, void *buf, size_t n, size_t *got);
/* readuntil(sep): the data through the separator, lent. CORIO_EINCOMPLETE
 * at EOF with the partial data (lent, consumed); CORIO_ELIMIT when more than
 * the limit came without the separator: *data NULL, *len asyncio's
 * `consumed`, and the data stays buffered. */
CORIO_API int corio_stream_readuntil(corio_stream *s, const void *sep, size_t seplen,
                                     const void **data, size_t *len);
/* readuntil((sep1, sep2, ...)), 3.13: the shortest data that ends with any
 * of the separators; otherwise as corio_stream_readuntil. */
CORIO_API int corio_stream_readuntil_any(corio_stream *s, const void *const *seps,
                                         const size_t *seplens, size_t nseps, const void **data,
                                         size_t *len);
/* readline, as asyncio's: the line with its newline; at EOF the partial
 * line (0 bytes: EOF) without an error; over the limit CORIO_ELIMIT, and
 * the overlong line's buffered part is dropped. */
CORIO_API int corio_stream_readline(corio_stream *s, const void **data, size_t *len);
/* EOF was read and nothing is left to read. */
CORIO_API int corio_stream_at_eof(const corio_stream *s);
/* The read limit (default 64 KiB). 0 or CORIO_EINVAL. */
CORIO_API int corio_stream_set_limit(corio_stream *s, size_t limit);
/* write: never suspends; what the socket does not take now is buffered
 * and sent in the background. 0; the connection's error; CORIO_EFDCLOSED
 * after close or write_eof (asyncio drops such bytes silently). */
CORIO_API int corio_stream_write(corio_stream *s, const void *buf, size_t n);
CORIO_API int corio_stream_writelines(corio_stream *s, const void *const *bufs,
                                      const size_t *lens, size_t n);
/* drain: in a task, wait while the buffer is above the high-water mark,
 * until it is at or below the low one; many tasks may drain at once. 0,
 * the connection's error, CORIO_ECANCELED. */
CORIO_API int corio_stream_drain(corio_stream *s);
/* Water marks (default 64 KiB and a quarter of it). 0 or CORIO_EINVAL. */
CORIO_API int corio_stream_set_write_buffer_limits(corio_stream *s, size_t high, size_t low);
CORIO_API size_t corio_stream_write_buffer_size(const corio_stream *s);
/* Shut down writing once the buffer is sent. */
CORIO_API int corio_stream_write_eof(corio_stream *s);
CORIO_API int corio_stream_can_write_eof(const corio_stream *s);
/* close: send what is buffered, then close the descriptor (at once if
 * nothing is). abort: close now, dropping it. wait_closed: in a task,
 * until closed; 0 or the connection's error. */
CORIO_API int corio_stream_close(corio_stream *s);
CORIO_API int corio_stream_abort(corio_stream *s);
CORIO_API int corio_stream_is_closing(const corio_stream *s);
CORIO_API int corio_stream_wait_closed(corio_stream *s);
/* get_extra_info: the descriptor (-1 once closed), the peer's and the
 * socket's own address. 0, -errno, CORIO_EFDCLOSED. */
CORIO_API int corio_stream_fd(const corio_stream *s);
CORIO_API int corio_stream_peername(const corio_stream *s, struct sockaddr *addr, unsigned int *len);
CORIO_API int corio_stream_sockname(const corio_stream *s, struct sockaddr *addr, unsigned int *len);

/* ---- servers (asyncio start_server; io.md 3) -------------------------------- */

typedef struct corio_server corio_server;
/* Runs as its own task per connection, named after the peer; the stream
 * is the server's, lent until the handler returns (then it is closed,
 * after what is buffered is sent, and freed). A failure is reported
 * through the loop's exception handler, as asyncio logs it. */
typedef int (*corio_stream_handler)(corio_stream *s, void *arg);
typedef struct corio_server_options {
    int backlog;       /* listen backlog; 0: 100 (asyncio's) */
    int reuse_address; /* SO_REUSEADDR: 0 on (asyncio's default here), -1 off */
    int reuse_port;    /* SO_REUSEPORT: 1 on */
    size_t limit;      /* each connection's read limit; 0: 64 KiB */
    /* TLS (io.md 5): each connection's handshake runs before its handler
     * (a failed one closes the connection, the handler does not run; as
     * asyncio, nothing is reported). Borrowed until corio_server_free. */
    struct corio_tls_context *tls;
    double tls_handshake_timeout; /* 0: 60 s */
    double tls_shutdown_timeout;  /* 0: 30 s */
} corio_server_options;
/* In a task: listen on every address of host (a name, resolved on the
 * thread pool, or a numeric address; NULL or "": every interface, 0.0.0.0
 * and :: as asyncio binds them; port 0: the system picks, for each
 * listener its own, see corio_server_sockname) and serve at once. An
 * address of a family the system lacks is left out, as asyncio does. opts
 * may be NULL. *out: owned (corio_server_free). 0, -errno with a message,
 * CORIO_ENAME, CORIO_EINVAL (more than 8 addresses too). */
CORIO_API int corio_start_server(corio_stream_handler handler, void *arg, const char *host,
                                 int port, const corio_server_options *opts, corio_server **out);
/* A Unix socket: a path (not removed afterwards), or "@name" (abstract). */
CORIO_API int corio_start_unix_server(corio_stream_handler handler, void *arg, const char *path,
                                      const corio_server_options *opts, corio_server **out);
/* In a task: serve until the server is closed (0) or the task cancelled
 * (the server is closed, CORIO_ECANCELED). CORIO_ECLOSED if closed. */
CORIO_API int corio_server_serve_forever(corio_server *srv);
/* Stop listening (connections go on). 0. */
CORIO_API int corio_server_close(corio_server *srv);
CORIO_API int corio_server_is_serving(const corio_server *srv);
/* In a task: until the server is closed and every connection of it is
 * closed (3.12), not its handler tasks. 0, CORIO_ECANCELED. */
CORIO_API int corio_server_wait_closed(corio_server *srv);
/* close (flushing) or abort every connection (3.13). 0. */
CORIO_API int corio_server_close_clients(corio_server *srv);
CORIO_API int corio_server_abort_clients(corio_server *srv);
/* The address listening socket i is bound to. 0, -errno, CORIO_EINVAL. */
CORIO_API int corio_server_sockname(const corio_server *srv, int i, struct sockaddr *addr,
                                    unsigned int *len);
/* Closes it if needed and frees it: CORIO_EBUSY while connections are
 * open or a task waits in it. NULL-safe. */
CORIO_API int corio_server_free(corio_server *srv);

/* ---- names (io.md 4) ------------------------------------------------------ */

/* Names resolve on the loop's thread pool (asyncio runs socket.getaddrinfo
 * in its executor), so a lookup never blocks the loop; a numeric host
 * (with a numeric port, or none) resolves inline, as asyncio skips the
 * executor for it. A lookup is a cancellation point and honours timeout
 * scopes: cancelled, it stops waiting at once, and its answer is freed
 * when it arrives (if the pool never started it, when the loop closes).
 * Addresses are the system's (<netdb.h>); the lists are corio's own nodes,
 * each one allocation: free them with corio_freeaddrinfo, never the
 * system's freeaddrinfo. Failures: CORIO_ENAME (socket.gaierror) with a
 * message holding gai_strerror and the name ("getaddrinfo nosuch.test:80:
 * Name or service not known"), -errno for EAI_SYSTEM, CORIO_ENOMEM. */
struct addrinfo;

/* loop.getaddrinfo: in a task (or anywhere for a numeric host), host
 * and/or port (a service name or number) with the usual hints (may be
 * NULL). 0 with *out, a non-empty list the caller owns; CORIO_ENAME,
 * -errno, CORIO_ENOMEM, CORIO_ECANCELED, CORIO_ENOTINTASK (a name outside
 * a task), CORIO_EINVAL (no host and no port). */
CORIO_API int corio_getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
                                struct addrinfo **out);
/* Frees a list corio_getaddrinfo gave (and its nodes chained by a hook).
 * NULL-safe. */
CORIO_API void corio_freeaddrinfo(struct addrinfo *ai);
/* loop.getnameinfo: host and/or service of addr (host or serv may be
 * NULL, not both) with the NI_* flags; inline when every part asked is
 * numeric (NI_NUMERICHOST, NI_NUMERICSERV). 0, or as corio_getaddrinfo. */
CORIO_API int corio_getnameinfo(const struct sockaddr *addr, unsigned int addrlen, int flags,
                                char *host, size_t hostlen, char *serv, size_t servlen);

/* A loop's own getaddrinfo (asyncio lets a loop override it; tests use it
 * to control names without /etc/hosts or DNS). Called on a pool thread in
 * place of the system's getaddrinfo, with its arguments, and answering as
 * it does: 0 with *out (an empty list is CORIO_ENAME), or an EAI_* code
 * (EAI_SYSTEM with errno set; *out is not read then). It may block (a slow
 * lookup holds a pool thread, never the loop), and several may run at
 * once. Its list must be corio's nodes: build it from corio_getaddrinfo on
 * numeric hosts (which needs no task) chained through ai_next; corio
 * frees it (a node without an address, or with an ai_addrlen beyond a
 * sockaddr_storage, fails the lookup: CORIO_EINVAL). Numeric hosts never
 * reach the hook. */
typedef int (*corio_resolver_fn)(void *arg, const char *host, const char *port,
                                 const struct addrinfo *hints, struct addrinfo **out);
/* From the loop's thread, or before it runs: fn NULL restores the
 * system's. arg must stay valid until the loop is closed. 0, CORIO_ECLOSED,
 * CORIO_ENOMEM. */
CORIO_API int corio_loop_set_resolver(corio_loop *loop, corio_resolver_fn fn, void *arg);

/* open_connection's keywords. Zero-initialise (= {0}): asyncio's defaults,
 * and a field added later means "as before" at 0. */
typedef struct corio_connect_options {
    /* Happy Eyeballs (RFC 8305; asyncio's happy_eyeballs_delay): 0, the
     * default, is asyncio's None: each address in turn, the next once the
     * one before failed. > 0: attempts are staggered that many seconds
     * (asyncio suggests 0.25): the next begins when the one before failed
     * or the delay passed; the first to connect wins, the others are
     * cancelled and their sockets closed. CORIO_FOREVER is allowed;
     * negative or NaN is CORIO_EINVAL (0 is taken by "off": a tiny delay
     * such as 1e-9 starts them all at once). */
    double happy_eyeballs_delay;
    /* asyncio's interleave: > 0 reorders the addresses by family, first
     * the first family's first interleave - 1, then one of each family in
     * turn (_interleave_addrinfos). 0: asyncio's None (1 when Happy
     * Eyeballs is on, else the resolver's order). Negative: CORIO_EINVAL. */
    int interleave;
    int family;             /* AF_INET or AF_INET6 only; 0 (AF_UNSPEC): any */
    const char *local_host; /* local_addr: bind first (a name too; NULL: no bind) */
    int local_port;         /* with local_host; 0: the system picks */
} corio_connect_options;
/* In a task: asyncio.open_connection(host, port, ...) with its keywords
 * (opts may be NULL). host is a name (resolved as corio_getaddrinfo, on
 * the pool) or a numeric address ("127.0.0.1", "::1", "[::1]"); each
 * address is tried as the options say, TCP_NODELAY on. *out: owned.
 * When no address connects, corio_current_error() is the one attempt's
 * error ("connect 127.0.0.1:9: Connection refused"), or, with several
 * addresses, a CORIO_EGROUP group of each attempt's error in the order
 * they were tried (asyncio 3.12's all_errors); the code returned is the
 * -errno every attempt failed with if they all share one (-ECONNREFUSED),
 * else CORIO_EGROUP. Also CORIO_ENAME and the other lookup codes,
 * CORIO_ECANCELED (every attempt's socket is closed first), CORIO_EINVAL. */
CORIO_API int corio_open_connection_with(const char *host, int port,
                                         const corio_connect_options *opts, corio_stream **out);

/* ---- TLS (io.md 5) -------------------------------------------------------- */

/* TLS over any stream (OpenSSL through memory BIOs, so on every backend).
 * A TLS stream is a corio_stream: every corio_stream_* call works on it,
 * on the plaintext (write_eof excepted: -EOPNOTSUPP, TLS has no
 * half-close; close sends close_notify, then closes once it is sent).
 * Failures: CORIO_ECERT (verification: a wrong host name, an expired,
 * self-signed or unknown certificate; the message says which, as
 * X509_verify_cert_error_string), CORIO_ETLS (anything else OpenSSL
 * refuses, with its reason: a protocol mismatch, a bad record),
 * -ECONNRESET (the peer closed mid-handshake, as asyncio),
 * CORIO_ETIMEDOUT (the handshake or the shutdown took too long). Built
 * without OpenSSL, every call here returns -ENOTSUP with a message. */
typedef struct corio_tls_context corio_tls_context;
#define CORIO_TLS_CLIENT 0
#define CORIO_TLS_SERVER 1
#define CORIO_TLS1_2 0x0303
#define CORIO_TLS1_3 0x0304
/* ssl.create_default_context() for a client (CORIO_TLS_CLIENT: the peer's
 * certificate and host name are checked against the system's CA store),
 * or a server's context (no client certificate asked). TLS 1.2 at least.
 * *out: owned (corio_tls_context_free). 0, CORIO_ETLS, -ENOTSUP. */
CORIO_API int corio_tls_context_new(int side, corio_tls_context **out);
/* NULL-safe. Streams made with it keep what they need (OpenSSL counts). */
CORIO_API void corio_tls_context_free(corio_tls_context *ctx);
/* Trust these CAs (PEM file and/or directory; either may be NULL). */
CORIO_API int corio_tls_context_load_verify_locations(corio_tls_context *ctx, const char *cafile,
                                                      const char *capath);
/* The certificate chain and its private key (PEM; keyfile NULL: in certfile). */
CORIO_API int corio_tls_context_load_cert_chain(corio_tls_context *ctx, const char *certfile,
                                                const char *keyfile);
/* 0: no verification and no host-name check (verify_mode = CERT_NONE,
 * check_hostname = False), the explicit opt-out; 1: both (a server then
 * asks the client for a certificate). */
CORIO_API int corio_tls_context_set_verify(corio_tls_context *ctx, int on);
/* minimum_version / maximum_version (CORIO_TLS1_2, CORIO_TLS1_3; 0: no bound). */
CORIO_API int corio_tls_context_set_versions(corio_tls_context *ctx, int min, int max);
/* set_alpn_protocols: a client offers them in this order; a server takes
 * the first of its own the client offers (none in common: no ALPN). */
CORIO_API int corio_tls_context_set_alpn_protocols(corio_tls_context *ctx, const char *const *protos,
                                                   size_t n);
/* The OpenSSL SSL_CTX, for anything else (borrowed, as long as ctx). */
CORIO_API void *corio_tls_context_ssl_ctx(corio_tls_context *ctx);
/* Timeouts in seconds; 0: asyncio's (handshake 60 s, shutdown 30 s); else
 * the rule for time (NaN: CORIO_EINVAL, negative: now, +inf: never). */
typedef struct corio_tls_options {
    double handshake_timeout; /* the handshake, or CORIO_ETIMEDOUT (the stream is closed) */
    double shutdown_timeout;  /* close: sending what is buffered and close_notify; then aborted */
} corio_tls_options;
/* In a task: open_connection(host, port, ssl=ctx, server_hostname=...):
 * connect, then handshake; the certificate must be valid for
 * server_hostname (NULL: host; a numeric address is checked against the
 * certificate's IP addresses), which goes as SNI unless it is an address.
 * ctx NULL: a default client context. opts may be NULL. *out: owned; on
 * any failure nothing is left open. */
CORIO_API int corio_open_tls_connection(const char *host, int port, corio_tls_context *ctx,
                                        const char *server_hostname, const corio_tls_options *opts,
                                        corio_stream **out);
/* In a task: StreamWriter.start_tls: upgrade an open stream (what is
 * buffered to write is sent first, as plain bytes; bytes read and not
 * consumed are the peer's first TLS bytes). server_hostname: as above
 * (NULL for a client: the peer's address). On failure the stream is
 * closed (the caller still frees it), as asyncio closes the transport.
 * CORIO_EINVAL (NULL ctx, TLS already, a context made for the other side,
 * a server_hostname empty or starting with a dot), CORIO_EFDCLOSED (closed,
 * or write_eof was called), CORIO_EBUSY (another task is reading it). */
CORIO_API int corio_start_tls(corio_stream *s, corio_tls_context *ctx, int server_side,
                              const char *server_hostname, const corio_tls_options *opts);
/* get_extra_info('ssl_object') and friends: NULL for a plain stream.
 * The SSL*, the version ("TLSv1.3"), the cipher's name (static storage
 * or the stream's: valid while it lives). */
CORIO_API void *corio_stream_tls_ssl(const corio_stream *s);
CORIO_API const char *corio_stream_tls_version(const corio_stream *s);
CORIO_API const char *corio_stream_tls_cipher(const corio_stream *s);
/* selected_alpn_protocol(): NULL when none was agreed. */
CORIO_API const char *corio_stream_tls_alpn(const corio_stream *s);
/* getpeercert(): the peer certificate's subject, one line ("CN = localhost"),
 * into buf. 0, CORIO_EINVAL (not TLS), -ENOENT (no certificate). */
CORIO_API int corio_stream_tls_peer_subject(const corio_stream *s, char *buf, size_t cap);

/* ---- subprocesses (io.md 6) ----------------------------------------------- */

/* A child process (asyncio.subprocess.Process), owned by whoever created
 * it (corio_process_free). Started with posix_spawn, watched through a
 * pidfd: corio takes no SIGCHLD handler and reaps no child but its own.
 * The loop reaps the child as soon as it exits, whether a task waits or
 * not, so none is left a zombie. The child inherits 0, 1 and 2 as asked
 * and no other descriptor, with an empty signal mask and SIGPIPE and
 * SIGXFSZ at their defaults (Python's close_fds and restore_signals). */
typedef struct corio_process corio_process;
/* What the child's stdin, stdout or stderr is (asyncio's stdin=...). */
enum {
    CORIO_STDIO_INHERIT = 0, /* the parent's own (None): the default */
    CORIO_STDIO_PIPE = 1,    /* a pipe to a stream of the process (PIPE) */
    CORIO_STDIO_DEVNULL = 2, /* /dev/null (DEVNULL) */
    CORIO_STDIO_FD = 3,      /* the descriptor in the matching _fd field (the caller keeps it) */
    CORIO_STDIO_STDOUT = 4   /* stderr only: where stdout goes (STDOUT) */
};
/* Zero-initialise (= {0}): every stream inherited, the parent's cwd and
 * environment. */
typedef struct corio_process_options {
    int stdin_mode, stdout_mode, stderr_mode; /* CORIO_STDIO_* */
    int stdin_fd, stdout_fd, stderr_fd;       /* for CORIO_STDIO_FD */
    const char *cwd;                          /* NULL: the parent's */
    const char *const *env;                   /* "NAME=value" strings, NULL-ended; NULL: the parent's */
    size_t limit;                             /* the pipe streams' read limit; 0: 64 KiB */
} corio_process_options;
/* In a task: start argv[0] (a bare name is looked up in the PATH) with
 * arguments argv (NULL-ended). opts may be NULL. *out: owned. 0; -errno
 * with a message naming the program (-ENOENT: no such program, asyncio's
 * FileNotFoundError; -EACCES; -EMFILE), CORIO_EINVAL (NULL or empty argv,
 * a bad mode: STDOUT for other than stderr, FD with a negative fd),
 * CORIO_ENOTINTASK, CORIO_ECLOSED, CORIO_ENOMEM. */
CORIO_API int corio_create_subprocess_exec(const char *const *argv,
                                           const corio_process_options *opts,
                                           corio_process **out);
/* The same for /bin/sh -c cmd. */
CORIO_API int corio_create_subprocess_shell(const char *cmd, const corio_process_options *opts,
                                            corio_process **out);
/* The child's pid (CORIO_EINVAL for NULL). */
CORIO_API int corio_process_pid(const corio_process *p);
/* The PIPE streams (write to stdin, read stdout and stderr), or NULL where
 * the stream is not a pipe; borrowed, valid until corio_process_free. */
CORIO_API corio_stream *corio_process_stdin(corio_process *p);
CORIO_API corio_stream *corio_process_stdout(corio_process *p);
CORIO_API corio_stream *corio_process_stderr(corio_process *p);
/* In a task: until the child has exited, then its return code in
 * *returncode (may be NULL): the exit status, or minus the signal that
 * killed it (-9 for SIGKILL), as asyncio. Any number of tasks may wait.
 * Cancelled (CORIO_ECANCELED, timeout scopes too), it leaves the child
 * alone; a later wait gets the code. It returns once the child has exited,
 * whether or not its pipes are at EOF; as asyncio's, a child blocked on a
 * full pipe nobody reads never exits (communicate reads them). Also
 * CORIO_ENOTINTASK, CORIO_EWRONGLOOP. */
CORIO_API int corio_process_wait(corio_process *p, int *returncode);
/* asyncio's returncode, without waiting: 0 with it, or CORIO_EINVALSTATE
 * while the child runs (asyncio's None); CORIO_EWRONGLOOP from a thread
 * other than the one running p's loop (free and send_signal too). */
CORIO_API int corio_process_returncode(corio_process *p, int *returncode);
/* In a task: write input (inlen bytes; none: NULL, 0) to stdin and close
 * it, read stdout and stderr to EOF at the same time (no deadlock however
 * much each side sends), then wait for the child. Each output that is a
 * pipe is lent (out, err; either pointer may be NULL): the stream's bytes,
 * valid until the next call on that stream or corio_process_free; NULL, 0
 * where it is not a pipe. Cancelled, the child runs on, the input is all
 * queued already (it is sent in the background), and what was read stays
 * in the streams: call communicate again (without input) to finish. 0;
 * CORIO_EINVAL for input when stdin is not a pipe (asyncio ignores it);
 * a stream's error; as corio_process_wait. */
CORIO_API int corio_process_communicate(corio_process *p, const void *input, size_t inlen,
                                        const void **out, size_t *outlen, const void **err,
                                        size_t *errlen);
/* Send a signal through the pidfd (never to a process that reused the
 * pid). 0; -ESRCH with a message once the child was reaped (asyncio's
 * ProcessLookupError); -EINVAL for a bad signal number. terminate is
 * SIGTERM, kill SIGKILL. */
CORIO_API int corio_process_send_signal(corio_process *p, int sig);
CORIO_API int corio_process_terminate(corio_process *p);
CORIO_API int corio_process_kill(corio_process *p);
/* Close the pipes and free the process: 0; CORIO_EBUSY (nothing freed)
 * while a task is inside a call on it or on one of its streams. A child
 * still running is not killed: the loop reaps it when it exits, and once
 * the loop is closed a thread of corio's waits for it, so it never stays a
 * zombie. NULL: 0. */
CORIO_API int corio_process_free(corio_process *p);

/* ---- signals (io.md 7) ---------------------------------------------------- */

/* asyncio's loop.add_signal_handler: when signal sig arrives, fn(arg) runs
 * on loop as a callback (call_soon), never in signal context: it may
 * allocate, create tasks, stop the loop. Adding again replaces the
 * callback. Several arrivals before the loop looks run it once (as the
 * kernel merges a pending signal's repeats). Every loop that registered
 * sig gets it, in whatever thread each runs (a loop in any thread may
 * register, where asyncio allows the main thread only). The first
 * registration of sig in the process installs corio's handler and keeps
 * the disposition before it; the last removal (or the close of the last
 * loop that had it) puts that back. Call it on the loop's thread, or
 * while the loop runs nowhere. 0; CORIO_EINVAL for a number out of range
 * (asyncio's ValueError) or a signal that cannot be caught (SIGKILL,
 * SIGSTOP; asyncio's RuntimeError) or deferred (the fault signals SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL: corio refuses them), with a message;
 * CORIO_ECLOSED; CORIO_ENOMEM. Closing the loop removes its handlers. */
CORIO_API int corio_loop_add_signal_handler(corio_loop *loop, int sig, corio_cb fn, void *arg);
/* 1 if sig had a handler on loop (removed now), 0 if not (closed loops
 * have none; corio_run's own SIGINT handling is not one, and stays);
 * CORIO_EINVAL for a number out of range. A callback already scheduled
 * still runs, as in asyncio. */
CORIO_API int corio_loop_remove_signal_handler(corio_loop *loop, int sig);
/* In a task: wait until one of the n signals in sigs arrives; 0 with
 * *which (may be NULL) its number. The signals are caught only while the
 * task waits (one that came before is not seen: keep a handler for
 * that); handlers of the same signals run as well (not corio_run's
 * Ctrl-C: a task waiting for SIGINT takes it). A cancellation point
 * that honours timeout scopes: CORIO_ECANCELED. Also CORIO_ENOTINTASK,
 * CORIO_ECLOSED, CORIO_ENOMEM, and add_signal_handler's CORIO_EINVAL. */
CORIO_API int corio_wait_signal(const int *sigs, size_t n, int *which);

/* ---- asyncio.run -------------------------------------------------------- */

/* asyncio.run(main(), loop_factory=...): run fn(arg) as the main task of
 * loop (configured by the caller: virtual time, stack mode, eager tasks),
 * then cancel every task left, wait for them, and close the loop (the
 * caller still frees it). Returns the main task's outcome; CORIO_ERUNNING
 * if a loop runs in this thread; CORIO_ECLOSED.
 * Ctrl-C, as asyncio.Runner (3.11+): in the main thread, while SIGINT's
 * disposition is the default, the run handles SIGINT on the loop. The
 * first one cancels the main task (which may catch it and clean up); if
 * the task then ends cancelled, the result is CORIO_EINTERRUPTED
 * (KeyboardInterrupt) instead of CORIO_ECANCELED. A second one (or one
 * after the main task is done) stops the loop: CORIO_EINTERRUPTED. Either
 * way the remaining tasks are cancelled and awaited first, and SIGINT's
 * disposition is the default again when this returns (already during
 * that clean-up, as in asyncio; a handler the program put in with
 * sigaction meanwhile stays). corio does not raise the signal itself:
 * as with an uncaught KeyboardInterrupt, a program that wants to end as
 * killed by SIGINT (the shell's status 130) does `raise(SIGINT)` after its
 * own clean-up. */
CORIO_API int corio_loop_run_main(corio_loop *loop, corio_fn fn, void *arg, void **result);
/* asyncio.run(main()): the same on a fresh loop, freed at the end. */
CORIO_API int corio_run(corio_fn fn, void *arg, void **result);

/* "MAJOR.MINOR.PATCH" of the library linked (static storage). */
CORIO_API const char *corio_version(void);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_H */
