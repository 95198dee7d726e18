/* Signals (asyncio's add_signal_handler / remove_signal_handler, an
 * awaitable form, and corio_run's SIGINT): a signal reaches the loops that
 * asked for it, and their handlers run there as callbacks, never in
 * signal context.
 *
 * How a signal travels. A process-wide table of slots, one per loop that
 * listens to any signal, holds in atomics the loop, the mask of signals it
 * listens to and the mask of those that arrived. corio's sigaction handler
 * (async-signal-safe: atomics, write(2), no lock, no allocation) marks the
 * signal pending in every slot that listens to it and wakes that loop
 * through the core's wake-up (corio__loop_wakeup: an eventfd write). Each
 * loop has this layer as a source (contract.h): on the wake-up, its
 * `ready` hook takes the pending mask and schedules the handlers
 * (call_soon) and wakes the tasks in corio_wait_signal. Every loop that
 * listens to a signal gets it (not only the last one registered).
 *
 * Registration is the control side, under one mutex: the first listener
 * of a signal in the process installs the handler and keeps the previous
 * disposition; the last one to go puts it back. A slot is let go of only
 * once no signal handler is inside it (its `busy` count), so a handler
 * never touches a loop whose memory went. */
#define _GNU_SOURCE
#include "signal/signal.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#define NSIGS 65      /* signals 1..64 (Linux's _NSIG - 1), one bit each */
#define MAX_SLOTS 1024 /* loops listening to signals at once */

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2 &&
                   ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_POINTER_LOCK_FREE == 2,
               "the signal handler needs lock-free atomics");

static inline uint64_t sigbit(int sig) { return (uint64_t)1 << (sig - 1); }

/* ---- the process-wide table ---------------------------------------------- */

typedef struct slot {
    _Atomic(corio_loop *) loop; /* the listening loop, NULL when free; set under ctl */
    _Atomic uint64_t mask;      /* signals it listens to; set under ctl, read by the handler */
    _Atomic uint64_t pending;   /* arrived and not taken: or-ed by the handler, taken by the loop */
    atomic_int busy;            /* signal handlers inside this slot right now */
} slot;

static slot slots[MAX_SLOTS];
static atomic_int slots_used;   /* slots ever claimed: the handler scans [0, slots_used) */
static pthread_mutex_t ctl = PTHREAD_MUTEX_INITIALIZER; /* guards claims and `process` */
static struct {
    int listeners;              /* slots listening to the signal */
    struct sigaction old;       /* the disposition before the first one */
} process[NSIGS];

/* corio_run's loop (its slot + 1; 0: none): a SIGINT that finds the one
 * before still pending there means the loop is stuck (a task that never
 * yields), and ends the process as SIGINT's default action would, where
 * Python's second Ctrl-C raises KeyboardInterrupt in the running code. */
static atomic_int sigint_escape;

/* The one function that runs in signal context. It reads no thread-local
 * (the interrupted thread may be halfway through a switch between tasks)
 * and calls nothing but atomics, write(2), sigaction(2) and raise(3). */
static void on_signal(int sig) {
    int saved = errno;
    uint64_t bit = sigbit(sig);
    int stuck = 0;
    int n = atomic_load(&slots_used);
    for (int i = 0; i < n; i++) {
        slot *s = &slots[i];
        if (!(atomic_load(&s->mask) & bit)) continue;
        atomic_fetch_add(&s->busy, 1);
        /* Read again inside: a slot let go of and claimed again since
         * the first look belongs to its new loop. */
        corio_loop *loop = atomic_load(&s->loop);
        if (loop && (atomic_load(&s->mask) & bit)) {
            if ((atomic_fetch_or(&s->pending, bit) & bit) && sig == SIGINT &&
                atomic_load(&sigint_escape) == i + 1)
                stuck = 1;
            corio__loop_wakeup(loop);
        }
        atomic_fetch_sub(&s->busy, 1);
    }
    if (stuck) { /* delivered once this handler returns (SIGINT is blocked in it) */
        struct sigaction dfl = {0};
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGINT, &dfl, NULL);
        raise(SIGINT);
    }
    errno = saved;
}

/* ---- each loop's side: the source ------------------------------------------ */

typedef struct entry {
    corio_cb fn;    /* the handler, or NULL */
    void *arg;      /* its argument, the program's */
    size_t uses;    /* the handler (1) plus the tasks waiting for the signal */
    uint8_t runner; /* fn is corio_run's own: not the program's to remove */
} entry;

typedef struct sigsrc {
    corio__source src;   /* first: the loop's view of this layer */
    int slot;            /* index in `slots`, or -1 while the loop listens to nothing */
    uint8_t closed;      /* the loop closed: nothing listens any more */
    entry *ents;         /* NSIGS entries, owned; made at first use */
    corio__list waiters; /* corio_wait_signal's nodes (on the waiting tasks' stacks) */
} sigsrc;

typedef struct waiter {
    corio__list link;   /* in sigsrc.waiters while waiting */
    corio_future local; /* completed with the signal's number */
    sigsrc *ss;         /* borrowed: the loop's source */
    uint64_t mask;      /* the signals it listens to (each counted in entry.uses) */
    void *heap;         /* the waiter itself when malloc'ed (copy mode), else NULL */
} waiter;

static const corio__source_ops sig_ops;

static sigsrc *src_of(corio_loop *loop) {
    return (sigsrc *)(void *)corio__loop_find_source(loop, &sig_ops);
}

/* Under ctl: the loop's slot, claimed if it has none. */
static int claim_slot(sigsrc *ss) {
    if (ss->slot >= 0) return 0;
    for (int i = 0; i < MAX_SLOTS; i++) {
        corio_loop *none = NULL;
        if (atomic_load(&slots[i].loop)) continue;
        atomic_store(&slots[i].pending, 0);
        if (!atomic_compare_exchange_strong(&slots[i].loop, &none, ss->src.loop)) continue;
        if (atomic_load(&slots_used) <= i) atomic_store(&slots_used, i + 1);
        ss->slot = i;
        return 0;
    }
    return corio_raise(CORIO_ENOMEM, "add_signal_handler: more than %d loops listen to signals",
                       MAX_SLOTS);
}

/* Under ctl, once the loop listens to nothing: no handler may be inside
 * the slot when this returns (one may be running in another thread). */
static void release_slot(sigsrc *ss) {
    slot *s = &slots[ss->slot];
    atomic_store(&s->mask, 0);
    atomic_store(&s->loop, NULL);
    while (atomic_load(&s->busy)) sched_yield();
    ss->slot = -1;
}

/* Under ctl: the loop starts listening to sig. */
static int listen_locked(sigsrc *ss, int sig, const char *op) {
    int rc = claim_slot(ss);
    if (rc < 0) return rc;
    /* The bit before the handler, and the handler out before the bit (in
     * unlisten): a signal arriving in between finds either the old
     * disposition or a listener, never corio's handler with nobody to
     * tell. */
    uint64_t had = atomic_fetch_or(&slots[ss->slot].mask, sigbit(sig));
    if (process[sig].listeners == 0) {
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART | SA_ONSTACK; /* other system calls go on, as asyncio's siginterrupt(sig, False) */
        sigemptyset(&sa.sa_mask);
        if (sigaction(sig, &sa, &process[sig].old) < 0) {
            rc = -errno;
            if (!(had & sigbit(sig))) atomic_fetch_and(&slots[ss->slot].mask, ~sigbit(sig));
            if (atomic_load(&slots[ss->slot].mask) == 0) release_slot(ss);
            return corio_raise(rc == -EINVAL ? CORIO_EINVAL : rc, "%s: sig %d cannot be caught", op,
                               sig);
        }
    }
    process[sig].listeners++;
    return 0;
}

/* Under ctl: the loop stops listening to sig; the last listener in the
 * process puts the old disposition back. */
static void unlisten_locked(sigsrc *ss, int sig) {
    if (--process[sig].listeners == 0) sigaction(sig, &process[sig].old, NULL);
    atomic_fetch_and(&slots[ss->slot].mask, ~sigbit(sig));
    if (atomic_load(&slots[ss->slot].mask) == 0) release_slot(ss);
}

/* One more use of sig on this loop (a handler, a waiting task). */
static int use(sigsrc *ss, int sig, const char *op) {
    entry *e = &ss->ents[sig];
    if (e->uses == 0) {
        pthread_mutex_lock(&ctl);
        int rc = listen_locked(ss, sig, op);
        pthread_mutex_unlock(&ctl);
        if (rc < 0) return rc;
    }
    e->uses++;
    return 0;
}

static void unuse(sigsrc *ss, int sig) {
    if (--ss->ents[sig].uses > 0 || ss->closed) return;
    pthread_mutex_lock(&ctl);
    unlisten_locked(ss, sig);
    pthread_mutex_unlock(&ctl);
}

/* The loop's SIGINT is no longer corio_run's own (replaced, removed, closed). */
static void escape_off(const sigsrc *ss) {
    if (ss->slot >= 0 && atomic_load(&sigint_escape) == ss->slot + 1) atomic_store(&sigint_escape, 0);
}

static int ents_get(sigsrc *ss) {
    if (!ss->ents && !(ss->ents = corio__calloc(NSIGS, sizeof *ss->ents))) return CORIO_ENOMEM;
    return 0;
}

/* A task waits for sig (and has not been woken yet). */
static int waited(sigsrc *ss, int sig) {
    corio__list *n;
    corio__list_foreach(n, &ss->waiters) {
        waiter *w = corio__container_of(n, waiter, link);
        if ((w->mask & sigbit(sig)) && w->local.state == CORIO__PENDING) return 1;
    }
    return 0;
}

/* The loop side of a signal's arrival: handlers are scheduled, waiting
 * tasks woken. Several arrivals before the loop looks count as one (as
 * the kernel merges a pending signal's repeats); signals go in number
 * order. */
static void sig_ready(corio__source *s) {
    sigsrc *ss = (sigsrc *)(void *)s;
    if (ss->slot < 0) return;
    uint64_t bits = atomic_exchange(&slots[ss->slot].pending, 0);
    for (int sig = 1; bits && sig < NSIGS; sig++) {
        if (!(bits & sigbit(sig))) continue;
        bits &= ~sigbit(sig);
        entry *e = &ss->ents[sig];
        /* corio_run's SIGINT gives way to a task waiting for SIGINT: the
         * program takes Ctrl-C there (trio's open_signal_receiver takes it
         * from KeyboardInterrupt; asyncio's add_signal_handler from the
         * Runner), and its clean-up is not cancelled under it. */
        if (e->fn && !(e->runner && waited(ss, sig)) &&
            corio_call_soon(s->loop, e->fn, e->arg, NULL) < 0)
            corio__report(s->loop, "a signal handler could not be scheduled (no memory)", NULL,
                          NULL);
        corio__list *n;
        corio__list_foreach(n, &ss->waiters) {
            waiter *w = corio__container_of(n, waiter, link);
            if ((w->mask & sigbit(sig)) && w->local.state == CORIO__PENDING)
                corio_future_set_result(&w->local, (void *)(intptr_t)sig);
        }
    }
}

static int sig_busy(const corio__source *s) {
    const sigsrc *ss = (const sigsrc *)(const void *)s;
    return ss->slot >= 0 && atomic_load(&slots[ss->slot].pending) != 0;
}

/* Loop close: the loop stops listening to everything (the dispositions
 * come back); tasks still waiting are destroyed after this (waiter_cancel). */
static void sig_close(corio__source *s) {
    sigsrc *ss = (sigsrc *)(void *)s;
    escape_off(ss);
    pthread_mutex_lock(&ctl);
    for (int sig = 1; ss->slot >= 0 && sig < NSIGS; sig++)
        if (atomic_load(&slots[ss->slot].mask) & sigbit(sig)) unlisten_locked(ss, sig);
    pthread_mutex_unlock(&ctl);
    ss->closed = 1;
    if (ss->ents)
        for (int sig = 1; sig < NSIGS; sig++) ss->ents[sig].fn = NULL;
}

static void sig_free(corio__source *s) {
    sigsrc *ss = (sigsrc *)(void *)s;
    corio__free(ss->ents);
    corio__free(ss);
}

static const corio__source_ops sig_ops = {sig_ready, sig_busy, sig_close, sig_free};

int corio__signal_attach(corio_loop *loop) {
    sigsrc *ss = corio__calloc(1, sizeof *ss);
    if (!ss) return CORIO_ENOMEM;
    ss->slot = -1;
    corio__list_init(&ss->waiters);
    ss->src.ops = &sig_ops;
    corio__loop_add_source(loop, &ss->src);
    return 0;
}

/* ---- the public calls ------------------------------------------------------ */

/* asyncio's checks: a number out of range is its ValueError ("invalid
 * signal number"), one that cannot be caught its RuntimeError; both are
 * CORIO_EINVAL here. corio also refuses the fault signals: a handler that
 * returns runs the faulting instruction again, so deferring them to the
 * loop would hang the program (and SIGSEGV is corio's stack-overflow
 * report). */
static int check_sig(int sig, const char *op) {
    if (sig < 1 || sig >= NSIGS)
        return corio_raise(CORIO_EINVAL, "%s: invalid signal number %d", op, sig);
    if (sig == SIGKILL || sig == SIGSTOP)
        return corio_raise(CORIO_EINVAL, "%s: sig %d cannot be caught", op, sig);
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL)
        return corio_raise(CORIO_EINVAL, "%s: sig %d is a fault signal, which a loop cannot defer",
                           op, sig);
    return 0;
}

int corio_loop_add_signal_handler(corio_loop *loop, int sig, corio_cb fn, void *arg) {
    if (!loop || !fn) return CORIO_EINVAL;
    int rc = check_sig(sig, "add_signal_handler");
    if (rc < 0) return rc;
    if (corio__loop_closed(loop)) return CORIO_ECLOSED;
    sigsrc *ss = src_of(loop);
    if (!ss) return CORIO_EINVAL;
    if ((rc = ents_get(ss)) < 0) return rc;
    entry *e = &ss->ents[sig];
    if (!e->fn && (rc = use(ss, sig, "add_signal_handler")) < 0) return rc;
    if (sig == SIGINT) escape_off(ss);
    e->fn = fn; /* replaces the one before, as asyncio does */
    e->arg = arg;
    e->runner = 0;
    return 0;
}

int corio_loop_remove_signal_handler(corio_loop *loop, int sig) {
    if (!loop) return CORIO_EINVAL;
    if (sig < 1 || sig >= NSIGS)
        return corio_raise(CORIO_EINVAL, "remove_signal_handler: invalid signal number %d", sig);
    sigsrc *ss = src_of(loop);
    /* corio_run's SIGINT is not the loop's handler to the program, as the
     * Runner's signal.signal one is not in asyncio's loop: False. */
    if (!ss || !ss->ents || !ss->ents[sig].fn || ss->ents[sig].runner) return 0;
    if (sig == SIGINT) escape_off(ss);
    ss->ents[sig].fn = NULL;
    ss->ents[sig].arg = NULL;
    unuse(ss, sig);
    return 1;
}

/* The waiting task's cancel hook, as sync.c's: the cancel goes to the
 * waiter's future. When the loop closes and destroys the task (it never
 * resumes), the waiter lets go of everything here. */
static int waiter_cancel(corio__task *t, void *obj) {
    waiter *w = obj;
    if (!corio__loop_closed(corio__task_fut(t)->loop))
        return corio_future_cancel(&w->local, corio__task_cancel_msg(t)) == 1;
    corio__list_unlink(&w->link);
    for (int sig = 1; sig < NSIGS; sig++)
        if (w->mask & sigbit(sig)) unuse(w->ss, sig);
    corio__future_drop_local(&w->local);
    corio__free(w->heap);
    return 1;
}

int corio_wait_signal(const int *sigs, size_t n, int *which) {
    if (which) *which = 0;
    if (!sigs || n == 0) return CORIO_EINVAL;
    corio__task *t = corio__running_task();
    corio_loop *loop = corio__running_loop;
    if (!t || !loop) return CORIO_ENOTINTASK;
    uint64_t mask = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = check_sig(sigs[i], "wait_signal");
        if (rc < 0) return rc;
        mask |= sigbit(sigs[i]);
    }
    if (corio__loop_closed(loop)) return CORIO_ECLOSED;
    sigsrc *ss = src_of(loop);
    if (!ss) return CORIO_EINVAL;
    int rc = ents_get(ss);
    if (rc < 0) return rc;
    waiter local, *w = &local; /* in the frame, unless that is copied away (copy mode) */
    if (corio__task_copy_mode(t) && !(w = corio__malloc(sizeof *w))) return CORIO_ENOMEM;
    w->heap = w != &local ? w : NULL;
    w->ss = ss;
    w->mask = 0;
    for (int sig = 1; sig < NSIGS && rc == 0; sig++) {
        if (!(mask & sigbit(sig))) continue;
        if ((rc = use(ss, sig, "wait_signal")) == 0) w->mask |= sigbit(sig);
    }
    if (rc == 0) {
        corio__future_init_local(&w->local, loop);
        corio__list_init(&w->link);
        corio__list_push_back(&ss->waiters, &w->link);
        corio__wake_on(t, &w->local);
        rc = corio__suspend(t, waiter_cancel, w);
        if (rc == 0 && w->local.state == CORIO__CANCELLED) rc = CORIO_ECANCELED;
        if (rc == 0 && which) *which = (int)(intptr_t)w->local.result;
        corio__list_unlink(&w->link);
        corio__future_fini_local(&w->local);
    }
    for (int sig = 1; sig < NSIGS; sig++)
        if (w->mask & sigbit(sig)) unuse(ss, sig);
    corio__free(w->heap);
    return rc;
}

/* ---- corio_run's SIGINT -------------------------------------------------------- */

int corio__signal_take_sigint(corio_loop *loop, corio_cb fn, void *arg) {
    if (getpid() != gettid()) return 0; /* asyncio: the main thread only */
    sigsrc *ss = src_of(loop);
    if (!ss || ss->closed) return 0;
    int rc = ents_get(ss);
    if (rc < 0) return rc;
    entry *e = &ss->ents[SIGINT];
    pthread_mutex_lock(&ctl);
    struct sigaction cur;
    int dfl = sigaction(SIGINT, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
              cur.sa_handler == SIG_DFL;
    if (dfl && process[SIGINT].listeners == 0 && e->uses == 0)
        rc = listen_locked(ss, SIGINT, "corio_run");
    else
        dfl = 0;
    pthread_mutex_unlock(&ctl);
    if (!dfl || rc < 0) return rc;
    e->uses = 1;
    e->fn = fn;
    e->arg = arg;
    e->runner = 1;
    atomic_store(&sigint_escape, ss->slot + 1);
    return 1;
}

int corio__signal_drop_if(corio_loop *loop, int sig, corio_cb fn, void *arg) {
    sigsrc *ss = src_of(loop);
    if (!ss || !ss->ents || ss->ents[sig].fn != fn || ss->ents[sig].arg != arg || ss->slot < 0)
        return 0;
    escape_off(ss);
    entry *e = &ss->ents[sig];
    e->fn = NULL;
    e->arg = NULL;
    e->runner = 0;
    int i = ss->slot;
    /* Under ctl, slot i is not claimed again: once the loop stops
     * listening (release_slot waits out the handlers inside), its pending
     * bit says whether a signal came that the loop never took. */
    pthread_mutex_lock(&ctl);
    struct sigaction now; /* the program may have put in its own with sigaction */
    int theirs = sigaction(sig, NULL, &now) == 0 &&
                 ((now.sa_flags & SA_SIGINFO) || now.sa_handler != on_signal);
    if (--e->uses == 0) unlisten_locked(ss, sig);
    /* ... which stays, as the Runner restores the default only over its own */
    if (theirs && process[sig].listeners == 0) sigaction(sig, &now, NULL);
    int arrived = (atomic_load(&slots[i].pending) & sigbit(sig)) != 0;
    pthread_mutex_unlock(&ctl);
    return arrived;
}
