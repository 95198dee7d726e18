/* The event loop: clock, lifetime, the phases of one iteration, run/stop,
 * public callbacks, and the sources of work from other threads. */
#define _GNU_SOURCE
#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_STACK_SIZE (64 * 1024)

_Thread_local corio_loop *corio__running_loop;
_Thread_local corio__task *volatile corio__current;

/* ---- clock ---------------------------------------------------------------- */

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double corio__loop_now(corio_loop *loop) {
    loop->now = loop->virtual_time ? loop->vnow : mono_s();
    return loop->now;
}

/* The one rule for every timeout and delay argument (corio.h): NaN is
 * CORIO_EINVAL; +inf is "forever" (*when = +inf, no deadline); anything
 * else is a deadline, `t` seconds from now or at `t` on the loop clock,
 * clamped to the clock's range so that it never wraps. A negative delay
 * gives a deadline in the past: due at once, and ordered before the
 * deadlines due later, as asyncio's call_later(-1) is. */
int corio__deadline(corio_loop *loop, double t, int relative, double *when) {
    if (isnan(t)) return CORIO_EINVAL;
    if (t == INFINITY) {
        *when = INFINITY;
        return 0;
    }
    double w = relative ? corio__loop_now(loop) + t : t;
    if (w > CORIO__CLOCK_END) w = CORIO__CLOCK_END;
    if (!(w >= -CORIO__CLOCK_END)) w = -CORIO__CLOCK_END; /* -inf, or now + -inf */
    *when = w;
    return 0;
}

double corio_loop_time(corio_loop *loop) {
    if (!loop) return -1;
    return corio__loop_now(loop);
}

/* ---- lifetime ------------------------------------------------------------- */

void corio_loop_default_exception_handler(corio_loop *loop, const char *message,
                                          corio_future *fut, const corio_error *err,
                                          void *arg) {
    (void)loop;
    (void)arg;
    char name[128] = "";
    if (fut && corio__is_task(fut)) corio__task_format_name(corio__as_task(fut), name, sizeof name);
    fprintf(stderr, "corio: %s", message ? message : "(no message)");
    if (fut) {
        if (corio__is_task(fut))
            fprintf(stderr, " (task '%s')", name);
        else
            fprintf(stderr, " (future %p)", (void *)fut);
    }
    for (const corio_error *e = err; e; e = e->cause)
        fprintf(stderr, "%s%s [%s]", e == err ? ": " : "; caused by: ", corio_error_message(e),
                corio_strerror(e->code));
    fputc('\n', stderr);
}

/* The core's part of corio_loop_new (runner/ adds the thread pool). */
int corio__loop_create(corio_loop **out, int backend) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    corio_loop *loop = corio__calloc(1, sizeof *loop);
    if (!loop) return CORIO_ENOMEM;
    corio__list_init(&loop->head.ready);
    corio__list_init(&loop->batch);
    corio__list_init(&loop->tasks);
    corio__list_init(&loop->resources);
    corio__list_init(&loop->sources);
    loop->refs = 1;
    loop->backend_fd = -1;
    loop->stack_size = DEFAULT_STACK_SIZE;
    loop->handler = corio_loop_default_exception_handler;
    corio__slab_init(&loop->task_slab, sizeof(corio__task), 0);
    corio__slab_init(&loop->rare_slab, sizeof(corio__task_rare), 0);
    corio__slab_init(&loop->handle_slab, sizeof(corio_handle), 0);
    for (int k = 0; k < CORIO__SAVED_CLASSES; k++)
        corio__slab_init(&loop->saved_slabs[k], 16 * (size_t)(k + 1), 1);
    loop->wake_fd = corio__eventfd();
    int rc = loop->wake_fd < 0 ? loop->wake_fd : 0;
    if (rc == 0) rc = corio__pools_new(&loop->pools);
    if (rc == 0) rc = corio__timers_new(&loop->timers);
    if (rc == 0) rc = corio__backend_init(loop, backend);
    if (rc == 0) rc = corio__backend_add_wakeup(loop, loop->wake_fd);
    if (rc < 0) {
        corio__backend_close(loop);
        corio__timers_free(loop->timers);
        corio__pools_free(loop->pools);
        if (loop->wake_fd >= 0) close(loop->wake_fd);
        corio__free(loop);
        return rc;
    }
    corio__loop_now(loop);
    *out = loop;
    return 0;
}

void corio__loop_free(corio_loop *loop) {
    /* Sources first, kept until now: late posts get CORIO_ECLOSED. */
    while (!corio__list_empty(&loop->sources)) {
        corio__source *src = corio__container_of(loop->sources.next, corio__source, link);
        corio__list_unlink(&src->link);
        src->ops->free(src);
    }
    close(loop->wake_fd);
    corio__slab_destroy(&loop->task_slab); /* tasks may outlive the close */
    corio__slab_destroy(&loop->rare_slab);
    corio__slab_destroy(&loop->handle_slab);
    for (int k = 0; k < CORIO__SAVED_CLASSES; k++) corio__slab_destroy(&loop->saved_slabs[k]);
    corio__timers_free(loop->timers);      /* so may handles, disarmed after it */
    corio__ptrmap_free(&loop->releases);   /* empty: each future deleted its entry */
    corio__ptrmap_free(&loop->registry);   /* empty: each object deleted its entry */
    corio__free(loop);
}

static void run_ready(corio_loop *loop);
static void take_wakeup(corio_loop *loop);

int corio_loop_close(corio_loop *loop) {
    if (!loop) return CORIO_EINVAL;
    if (loop->head.closed) return CORIO_ECLOSED;
    if (loop->running) return CORIO_EBUSY;
    loop->head.closed = 1;
    /* First the sources settle: the thread pool refuses posts, its workers
     * finish the job in hand, what they posted is released below, and
     * every run_coroutine_threadsafe future completes (cancelled). */
    corio__list *n;
    corio__list_foreach(n, &loop->sources) {
        corio__source *src = corio__container_of(n, corio__source, link);
        src->ops->close(src);
    }
    take_wakeup(loop);
    /* Nothing in the kernel may still point into a task's memory. */
    corio__backend_quiesce(loop);
    /* Tasks still pending are reported and destroyed (asyncio: "Task was
     * destroyed but it is pending!"); each destroy unlinks its events. */
    while (!corio__list_empty(&loop->tasks)) {
        corio__task *t = corio__container_of(loop->tasks.next, corio__task, link);
        corio__report(loop, "Task was destroyed but it is pending!", &t->fut, NULL);
        corio__task_destroy_pending(t);
    }
    /* What is left in the timers and the ready queue belongs to handles and
     * done callbacks: run them in closed mode, which only releases them. */
    corio__timer *t;
    while ((t = corio__timers_peek(loop->timers))) {
        corio__timers_pop(loop->timers, t);
        corio__ready_push(loop, &t->ev);
    }
    while (!corio__list_empty(&loop->head.ready)) run_ready(loop);
    while (!corio__list_empty(&loop->resources)) {
        corio__resource *r = corio__container_of(loop->resources.next, corio__resource, link);
        r->close(r);
    }
    corio__pools_free(loop->pools);
    loop->pools = NULL;
    corio__backend_close(loop);
    return 0;
}

int corio_loop_free(corio_loop *loop) {
    if (!loop) return 0;
    if (!loop->head.closed) {
        int rc = corio_loop_close(loop);
        if (rc < 0) return rc;
    }
    if (loop->refs > 1) { /* the program still holds futures or handles of it */
        char msg[160];
        snprintf(msg, sizeof msg,
                 "loop freed while %u future(s) or handle(s) of it are still referenced "
                 "(a missing corio_future_unref?); its memory stays until they are released",
                 loop->refs - 1);
        corio__report(loop, msg, NULL, NULL);
    }
    corio__loop_unref(loop);
    return 0;
}

int corio_loop_set_stack_size(corio_loop *loop, size_t bytes) {
    if (!loop || bytes < 2 * corio__page_size() || bytes > ((size_t)1 << 40)) return CORIO_EINVAL;
    if (loop->head.closed) return CORIO_ECLOSED;
    loop->stack_size = bytes;
    return 0;
}

int corio_loop_set_stack_mode(corio_loop *loop, int mode) {
    if (!loop || (mode != CORIO_STACK_OWN && mode != CORIO_STACK_COPY)) return CORIO_EINVAL;
    if (loop->head.closed) return CORIO_ECLOSED;
    loop->stack_mode = mode;
    return 0;
}

int corio_loop_set_eager_tasks(corio_loop *loop, int on) {
    if (!loop) return CORIO_EINVAL;
    if (loop->head.closed) return CORIO_ECLOSED;
    loop->eager = on != 0;
    return 0;
}

int corio_loop_set_virtual_time(corio_loop *loop, int on) {
    if (!loop) return CORIO_EINVAL;
    if (loop->head.closed) return CORIO_ECLOSED;
    if (loop->running || corio__timers_count(loop->timers)) return CORIO_EBUSY;
    loop->virtual_time = on != 0;
    loop->vnow = 0;
    corio__loop_now(loop);
    return 0;
}

int corio_loop_set_exception_handler(corio_loop *loop, corio_exception_handler fn, void *arg) {
    if (!loop) return CORIO_EINVAL;
    loop->handler = fn ? fn : corio_loop_default_exception_handler;
    loop->handler_arg = fn ? arg : NULL;
    return 0;
}

void corio__report(corio_loop *loop, const char *msg, corio_future *fut, const corio_error *err) {
    loop->handler(loop, msg, fut, err, loop->handler_arg);
}

void corio_loop_call_exception_handler(corio_loop *loop, const char *message, corio_future *fut,
                                       const corio_error *err) {
    if (loop) corio__report(loop, message, fut, err);
}

int corio_loop_is_running(const corio_loop *loop) { return loop && loop->running; }
int corio_loop_is_closed(const corio_loop *loop) { return loop && loop->head.closed; }
corio_loop *corio_get_running_loop(void) { return corio__running_loop; }

/* ---- ready queue and timers ---------------------------------------------- */

int corio__timer_arm(corio_loop *loop, corio__timer *t, double when) {
    return corio__timers_arm(loop->timers, t, when, loop->timer_seq++);
}

/* Stop a timer whether it is still armed or already due in the ready queue. */
void corio__timer_disarm(corio_loop *loop, corio__timer *t) {
    corio__timers_disarm(loop->timers, t);
}

/* ---- what the layers above keep on the loop ------------------------------- */

uint64_t corio__loop_next_seq(corio_loop *loop) { return ++loop->cb_seq; }

void corio__loop_hold(corio_loop *loop) { corio__loop_ref(loop); }
void corio__loop_drop(corio_loop *loop) { corio__loop_unref(loop); }

void corio__loop_add_resource(corio_loop *loop, corio__resource *r) {
    corio__list_push_back(&loop->resources, &r->link);
}

int corio__loop_register(corio_loop *loop, const void *obj) {
    return corio__ptrmap_put(&loop->registry, obj, (void *)obj) < 0 ? CORIO_ENOMEM : 0;
}

void corio__loop_unregister(corio_loop *loop, const void *obj) {
    corio__ptrmap_del(&loop->registry, obj);
}

int corio__loop_registered(corio_loop *loop, const void *obj) {
    return corio__ptrmap_find(&loop->registry, obj) != NULL;
}

/* ---- sources of work from other threads --------------------------------- */

/* Added at creation, before the loop is handed to anyone: other threads
 * find a source by walking a list that no longer changes. */
void corio__loop_add_source(corio_loop *loop, corio__source *s) {
    s->loop = loop;
    corio__list_init(&s->link);
    corio__list_push_back(&loop->sources, &s->link);
}

corio__source *corio__loop_find_source(const corio_loop *loop, const corio__source_ops *ops) {
    const corio__list *n;
    corio__list_foreach(n, &loop->sources) {
        corio__source *src = corio__container_of(n, corio__source, link);
        if (src->ops == ops) return src;
    }
    return NULL;
}

/* Any thread. Writes are coalesced: only the first wake-up after the loop
 * took the last one writes the eventfd. */
void corio__loop_wakeup(corio_loop *loop) {
    if (!atomic_exchange(&loop->wake_pending, 1)) {
        uint64_t one = 1;
        ssize_t w = write(loop->wake_fd, &one, sizeof one);
        (void)w; /* EAGAIN: the counter is full, the loop wakes anyway */
    }
}

static int wakeup_pending(const corio_loop *loop) {
    return atomic_load_explicit(&loop->wake_pending, memory_order_acquire);
}

/* Clear the wake-up before the sources look, so that a post made while
 * they do wakes the next iteration. */
static void take_wakeup(corio_loop *loop) {
    if (!wakeup_pending(loop)) return;
    /* The flag goes only with the write it stands for: a poster sets it,
     * then writes; read before the write lands, the eventfd would stay
     * readable with the flag clear, and the poll would spin on it. */
    uint64_t v;
    if (read(loop->wake_fd, &v, sizeof v) == (ssize_t)sizeof v) atomic_store(&loop->wake_pending, 0);
}

static int sources_busy(const corio_loop *loop) {
    if (wakeup_pending(loop)) return 1;
    const corio__list *n;
    corio__list_foreach(n, &loop->sources) {
        const corio__source *src = corio__container_of(n, const corio__source, link);
        if (src->ops->busy(src)) return 1;
    }
    return 0;
}

/* ---- one iteration, in phases (design.md: "The loop") -------------------- */

/* A deadline is due within the clock's resolution of now, as in CPython's
 * _run_once (1 ns: time.get_clock_info('monotonic')): deadlines closer
 * than that fire in the same pass, in their order. */
#define CLOCK_RESOLUTION 1e-9

/* How long the poll phase may block, in ns: not at all if work is ready;
 * never less than the time to the next deadline (rounded up), so the
 * poll does not wake just before it. Virtual time never waits for the
 * clock, only for work promised by another thread. */
static int64_t poll_timeout(corio_loop *loop) {
    if (!corio__list_empty(&loop->head.ready) || loop->stopping) return 0;
    corio__timer *next = corio__timers_peek(loop->timers);
    if (!next) return loop->virtual_time && !sources_busy(loop) ? 0 : -1;
    double d = next->node.when - corio__loop_now(loop);
    if (loop->virtual_time) return d < CLOCK_RESOLUTION || !sources_busy(loop) ? 0 : -1;
    if (d < CLOCK_RESOLUTION) return 0;
    if (d >= 9.2e9) return INT64_MAX; /* beyond int64 ns (292 years) */
    return (int64_t)ceil(d * 1e9);
}

/* Phase 1: wait for I/O (or a wake-up) as long as poll_timeout says. */
static int poll_io(corio_loop *loop) { return corio__backend_poll(loop, poll_timeout(loop)); }

/* Phase 2: what other threads posted joins the ready queue. Out of line:
 * the inline advance asks on every yield, and the rare path's loop and
 * calls would cost it a frame and three saved registers. */
static __attribute__((noinline, cold)) void take_posts(corio_loop *loop) {
    take_wakeup(loop);
    corio__list *n;
    corio__list_foreach(n, &loop->sources) {
        corio__source *src = corio__container_of(n, corio__source, link);
        src->ops->ready(src);
    }
}

static inline void run_sources(corio_loop *loop) {
    if (wakeup_pending(loop)) take_posts(loop);
}

/* Phase 3, virtual time only: an idle loop jumps its clock to the next
 * deadline instead of waiting for it. */
static void jump_clock(corio_loop *loop) {
    if (!loop->virtual_time || !corio__list_empty(&loop->head.ready) || loop->stopping ||
        !corio__timers_count(loop->timers) || sources_busy(loop))
        return;
    double when = corio__timers_peek(loop->timers)->node.when;
    if (when > loop->vnow) loop->vnow = when;
}

/* Phase 4: due timers join the ready queue after what is already there,
 * earliest (then first armed) first. Due means within the clock's
 * resolution of now (CLOCK_RESOLUTION, above). */
static void fire_timers(corio_loop *loop) {
    if (corio__timers_count(loop->timers) == 0) return; /* no clock read when nothing is armed */
    double now = corio__loop_now(loop);
    corio__timer *t;
    double end = now + CLOCK_RESOLUTION;
    /* (when <= now too: far along the clock, now + 1 ns rounds to now.) */
    while ((t = corio__timers_peek(loop->timers)) && (t->node.when < end || t->node.when <= now)) {
        corio__timers_pop(loop->timers, t);
        corio__ready_push(loop, &t->ev);
    }
}

/* Phase 5: run what was ready when the phase began (sched.c). */
static void run_ready(corio_loop *loop) { corio__run_batch(loop); }

static int run_once(corio_loop *loop) {
    int rc = poll_io(loop);      /* 1 */
    if (rc < 0) return rc;
    run_sources(loop);           /* 2 */
    jump_clock(loop);            /* 3 */
    fire_timers(loop);           /* 4 */
    run_ready(loop);             /* 5 */
    return 0;
}

/* The same phases, taken from a task when the batch is spent: only when
 * run_loop would go straight on (not stopping) and the poll could neither
 * block nor fail (work is ready, no I/O source to ask; virtual time has
 * nothing to jump then). Events keep exactly the order the loop would
 * give them. */
int corio__advance_inline(corio_loop *loop) {
    if (!loop->inline_ok || loop->stopping || corio__list_empty(&loop->head.ready) ||
        corio__backend_has_sources(loop))
        return 0;
    run_sources(loop);                                         /* 2 (1 would return at once) */
    fire_timers(loop);                                         /* 4 */
    corio__list_splice_back(&loop->batch, &loop->head.ready);  /* 5 goes on in the caller */
    return 1;
}

/* Nothing ready, no timer, no I/O source, no thread work: nothing can
 * happen, unless another thread posts (which only real time waits for). */
static int loop_idle(const corio_loop *loop) {
    return corio__list_empty(&loop->head.ready) && corio__timers_count(loop->timers) == 0 &&
           !corio__backend_has_sources(loop) && !sources_busy(loop);
}

/* ---- run / stop ---------------------------------------------------------- */

static int run_enter(corio_loop *loop) {
    if (!loop) return CORIO_EINVAL;
    if (loop->head.closed) return CORIO_ECLOSED;
    if (loop->running || corio__running_loop) return CORIO_ERUNNING;
    int rc = corio__overflow_guard_thread(); /* whichever thread runs it */
    if (rc < 0) return rc;
    loop->running = 1;
    corio__running_loop = loop;
#if CORIO_HAVE_TSAN
    loop->tsan_fiber = __tsan_get_current_fiber();
#endif
    return 0;
}

static void run_leave(corio_loop *loop) {
    loop->running = 0;
    loop->stopping = 0;
    corio__running_loop = NULL;
}

/* A virtual-time loop with nothing left to do stops with CORIO_EDEADLK
 * (nothing could ever complete `until`). In real time another thread may
 * still post, so the loop waits, as asyncio's does. */
static int run_loop(corio_loop *loop, corio_future *until, int stop_idle) {
    int rc = 0;
    loop->inline_ok = 1;
    for (;;) {
        rc = run_once(loop);
        if (rc < 0 || loop->stopping) break;
        if ((loop->virtual_time || stop_idle) && loop_idle(loop) && !(until && until->state)) {
            rc = CORIO_EDEADLK;
            break;
        }
    }
    loop->inline_ok = 0;
    return rc;
}

int corio_loop_run_forever(corio_loop *loop) {
    int rc = run_enter(loop);
    if (rc < 0) return rc;
    rc = run_loop(loop, NULL, 0);
    run_leave(loop);
    return rc;
}

typedef struct stopper {
    corio__event ev;
    corio_loop *loop;
} stopper;

static void stop_when_done(corio__event *ev) {
    stopper *s = corio__container_of(ev, stopper, ev);
    s->loop->stopping = 1;
}

static int run_until(corio_loop *loop, corio_future *fut, void **result, int stop_idle) {
    if (!fut) return CORIO_EINVAL;
    if (fut->loop != loop) return loop ? CORIO_EWRONGLOOP : CORIO_EINVAL;
    int rc = run_enter(loop);
    if (rc < 0) return rc;
    if (!fut->state) {
        /* A done callback on our own stack: unlinked below whatever happens. */
        stopper s = {.loop = loop};
        corio__list_init(&s.ev.link);
        s.ev.run = stop_when_done;
        corio__callbacks_add(fut, &s.ev);
        rc = run_loop(loop, fut, stop_idle);
        if (corio__list_linked(&s.ev.link)) corio__list_unlink(&s.ev.link);
    }
    run_leave(loop);
    if (!fut->state) return rc < 0 ? rc : CORIO_EINVALSTATE;
    return corio_future_result(fut, result);
}

int corio_loop_run_until_complete(corio_loop *loop, corio_future *fut, void **result) {
    return run_until(loop, fut, result, 0);
}

int corio__run_until_done_or_idle(corio_loop *loop, corio_future *fut) {
    return run_until(loop, fut, NULL, 1);
}

int corio_loop_stop(corio_loop *loop) {
    if (!loop) return CORIO_EINVAL;
    if (loop->head.closed) return CORIO_ECLOSED;
    loop->stopping = 1;
    return 0;
}

/* ---- public callbacks ---------------------------------------------------- */

_Static_assert(sizeof(void *) != 8 || sizeof(corio_handle) == 72, "handle layout (internal.h)");

static void handle_free(corio_handle *h) {
    corio_loop *loop = h->loop;
    corio__slab_free(&loop->handle_slab, h);
    corio__loop_unref(loop);
}

static void handle_run(corio__event *ev) {
    corio_handle *h = corio__container_of(ev, corio_handle, timer.ev);
    if (!corio__handle_cancelled(h) && !h->loop->head.closed) h->fn(h->arg);
    corio__handle_cancelled(h) = 1; /* ran: cancelling now does nothing */
    if (--corio__handle_refs(h) == 0) handle_free(h);
}

static int handle_new(corio_loop *loop, corio_cb fn, void *arg, corio_handle **out,
                      corio_handle **h) {
    if (out) *out = NULL;
    if (!loop || !fn) return CORIO_EINVAL;
    if (loop->head.closed) return CORIO_ECLOSED;
    corio_handle *n = corio__slab_alloc(&loop->handle_slab, sizeof(corio_handle));
    if (!n) return CORIO_ENOMEM;
    corio__list_init(&n->timer.ev.link);
    n->timer.ev.run = handle_run;
    n->timer.node.index = CORIO__HEAP_NONE;
    n->loop = loop;
    n->fn = fn;
    n->arg = arg;
    corio__handle_refs(n) = out ? 2 : 1;
    corio__loop_ref(loop);
    *h = n;
    return 0;
}

int corio_call_soon(corio_loop *loop, corio_cb fn, void *arg, corio_handle **out) {
    corio_handle *h;
    int rc = handle_new(loop, fn, arg, out, &h);
    if (rc < 0) return rc;
    h->timer.node.when = NAN; /* not a timer (corio_handle_when) */
    corio__ready_push(loop, &h->timer.ev);
    if (out) *out = h;
    return 0;
}

static int call_at_when(corio_loop *loop, double t, int relative, corio_cb fn, void *arg,
                        corio_handle **out) {
    if (out) *out = NULL;
    if (!loop) return CORIO_EINVAL;
    double when;
    int rc = corio__deadline(loop, t, relative, &when);
    if (rc < 0) return rc;
    corio_handle *h;
    if ((rc = handle_new(loop, fn, arg, out, &h)) < 0) return rc;
    if (when == INFINITY) { /* never due: the loop keeps nothing it will never run */
        h->timer.node.when = INFINITY;
        if (--corio__handle_refs(h) == 0) handle_free(h);
        else *out = h;
        return 0;
    }
    rc = corio__timer_arm(loop, &h->timer, when);
    if (rc < 0) {
        handle_free(h);
        return rc;
    }
    if (out) *out = h;
    return 0;
}

int corio_call_at(corio_loop *loop, double when, corio_cb fn, void *arg, corio_handle **out) {
    return call_at_when(loop, when, 0, fn, arg, out);
}

int corio_call_later(corio_loop *loop, double delay, corio_cb fn, void *arg,
                     corio_handle **out) {
    return call_at_when(loop, delay, 1, fn, arg, out);
}

/* As asyncio's: the handle stays where it is scheduled, marked; the loop
 * lets go of it when it comes up (or when a sweep finds it). */
int corio_handle_cancel(corio_handle *h) {
    if (!h) return CORIO_EINVAL;
    if (corio__handle_cancelled(h)) return 0;
    corio__handle_cancelled(h) = 1;
    corio__timers_cancel_lazy(h->loop->timers, &h->timer); /* last: may release h */
    return 0;
}

int corio_handle_cancelled(const corio_handle *h) { return h && corio__handle_cancelled(h); }

double corio_handle_when(const corio_handle *h) { return h ? h->timer.node.when : NAN; }

void corio_handle_unref(corio_handle *h) {
    if (h && --corio__handle_refs(h) == 0) handle_free(h);
}
