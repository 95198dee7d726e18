/* The scheduler's hot path: tasks are created, started, stepped,
 * suspended, woken and finished here. It is one translation unit on
 * purpose: the ready phase (corio__run_batch) runs a task's step inline,
 * a suspending task switches straight to the next ready one (next_direct)
 * and a yield switches without the loop (yield_now); calls between files
 * would cost a call and a mispredicted return on every switch.
 *
 * A task's life: created pending with its `step` event in the ready queue;
 * the first step gives it a stack and enters fn; each suspension switches
 * back to the loop; whoever wakes it pushes `step` again (or `step` sits in
 * an awaited future's callback list and the future's completion schedules
 * it). When fn returns, the task completes as a future, switches back one
 * last time, and the loop returns its stack to the pool: a finished task
 * holds no stack, and a task that never started never had one. */
#define _GNU_SOURCE
#include "core/switch.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(void *) != 8 || CORIO_HAVE_ASAN || CORIO_HAVE_TSAN ||
                   sizeof(corio__task) <= 200,
               "a task grew: a million sleepers pay for every byte (internal.h)");

static void task_step(corio__event *ev);
static void *task_entry(void *arg);

/* ---- eager start --------------------------------------------------------- */

/* The first step of a new task, run inside the creating call (asyncio
 * 3.12's eager start): from the creating task by a direct switch, or from
 * the loop's own stack (a callback) as task_step would. The task comes
 * back here when it first suspends or finishes (switch_out, task_entry).
 * Nested eager starts chain through the saved pair. 0 when it cannot
 * start now: it is then queued as usual. */
static int eager_start(corio_loop *loop, corio__task *t) {
    corio__task *parent = corio__current;
    if (!loop->eager || !loop->running || corio__running_loop != loop || t->copy_mode ||
        (parent && parent->copy_mode) ||
        corio__stack_take(loop->pools, (size_t)t->stack_pages * corio__page_size(), &t->stack) < 0)
        return 0;
#if CORIO_HAVE_TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    corio__task *saved_task = loop->eager_task, *saved_parent = loop->eager_parent;
    corio_task *saved_current = loop->current;
    loop->eager_task = t;
    loop->eager_parent = parent;
    loop->current = &t->fut;
    corio__current = t;
    /* It has no context yet: it starts at the top of its stack. */
    if (parent) {
        switch_direct_at(loop, parent, t, task_entry);
        arrived(parent);
    } else {
        switch_into_at(loop, t, task_entry);
    }
    loop->eager_task = saved_task;
    loop->eager_parent = saved_parent;
    loop->current = saved_current;
    corio__current = parent;
    if (t->finished) corio__task_retire(t); /* its stack is ours to release now that we left it */
    return 1;
}

/* The eager task t leaves for its creator. */
static void eager_back(corio_loop *loop, corio__task *t, int last) {
    corio__task *p = loop->eager_parent;
    if (p) switch_direct(loop, t, p, last);
    else switch_to_loop(loop, t, last);
}

int corio_loop_create_task(corio_loop *loop, corio_fn fn, void *arg, const char *name,
                           size_t stack_size, corio_task **out) {
    if (out) *out = NULL;
    if (!loop || !fn) return CORIO_EINVAL;
    if (loop->head.closed) return CORIO_ECLOSED; /* before the size check, as always */
    if (stack_size && (stack_size < 2 * corio__page_size() || stack_size > ((size_t)1 << 40)))
        return CORIO_EINVAL;
    return corio__task_create(loop, fn, arg, name, stack_size, out);
}

/* A new task's name (it has no loop yet): 1, or 0 without memory. */
static int task_name_new(corio_loop *loop, corio__task *t, const char *name) {
    corio__task_rare *r = corio__slab_alloc(&loop->rare_slab, sizeof(corio__task_rare));
    if (r && (r->name = corio__strdup(name))) {
        t->rare = r;
        return 1;
    }
    if (r) corio__slab_free(&loop->rare_slab, r);
    return 0;
}

int corio__task_create(corio_loop *loop, corio_fn fn, void *arg, const char *name, size_t stack_size,
                       corio_task **out) {
    if (loop->head.closed) return CORIO_ECLOSED;
    corio__task *t = corio__slab_alloc(&loop->task_slab, sizeof(corio__task));
    if (!t) return CORIO_ENOMEM;
    if (name && !task_name_new(loop, t, name)) {
        corio__slab_free(&loop->task_slab, t);
        return CORIO_ENOMEM;
    }
    corio__future_setup(&t->fut, loop, CORIO__TASK);
    t->fut.refs = out ? 2 : 1; /* the loop's until done (+ the caller's) */
    t->id = ++loop->task_ids;
    t->u.start.fn = fn;
    t->u.start.arg = arg;
    size_t page = corio__page_size(), want = stack_size ? stack_size : loop->stack_size;
    /* Rounded up, as the pools do; the page size is a power of two, so a
     * shift, not a 64-bit division (tens of cycles per task). */
    t->stack_pages = (uint32_t)((want + page - 1) >> __builtin_ctzl(page));
    if (loop->stack_mode == CORIO_STACK_COPY) {
        t->copy_mode = 1;
        t->fut.flags = CORIO__F_COPY;
    }
    corio__list_init(&t->step.ev.link);
    t->step.ev.run = task_step;
    t->step.node.index = CORIO__HEAP_NONE;
    corio__list_init(&t->link);
    corio__list_push_back(&loop->tasks, &t->link);
    loop->ntasks++;
    if (out) *out = &t->fut;
    if (!eager_start(loop, t)) corio__ready_push(loop, &t->step.ev);
    return 0;
}

int corio_create_task(corio_fn fn, void *arg, const char *name, corio_task **out) {
    if (out) *out = NULL;
    if (!corio__running_loop) return CORIO_ENOLOOP;
    return corio_loop_create_task(corio__running_loop, fn, arg, name, 0, out);
}

int corio_is_task(const corio_future *fut) { return fut && corio__is_task(fut); }

/* A failure code from fn: the error it observed last if that is the one,
 * else a new error caused by it. */
static void task_fail(corio__task *t, int rc) {
    corio_error *exc = corio__task_exc(t);
    if (exc && exc->code == rc) {
        t->fut.error = corio__error_ref(exc); /* propagate what we observed */
    } else {
        t->fut.error = corio__error_make(rc, exc, NULL);
        if (!t->fut.error) /* keep the code even without memory for a message */
            t->fut.error = exc ? corio__error_ref(exc) : NULL;
    }
}

/* The task's outcome, from fn's return code. */
static void task_complete(corio__task *t, int rc, void *result) {
    corio_loop *loop = t->fut.loop;
    t->wait_cancel = NULL;
    corio__list_unlink(&t->link);
    loop->ntasks--;
    t->fut.result = rc >= 0 ? result : NULL;
    if (rc == CORIO_ECANCELED) {
        corio__future_cancel_now(&t->fut, corio__task_cancel_msg(t));
        return;
    }
    if (rc < 0) task_fail(t, rc);
    corio__future_complete(&t->fut, CORIO__DONE);
}


/* The body has returned: off to the eager creator, else the loop. A task
 * that finishes in its first step returns that context's saved sp to the
 * trampoline, which loads it with a `ret` the return predictor gets right
 * (switch_x86_64.S): a switch called from here would leave a return-stack
 * entry that no `ret` takes, and the creator's next returns would each be
 * mispredicted. A task that has suspended was resumed from elsewhere, so
 * the return stack knows nothing of its frames: returning to the
 * trampoline would miss, and so would its `ret`; it switches from here,
 * with the jump the branch predictor learns (1 000 tasks that sleep(0)
 * once, gathered 1 000 times: ~5% slower the other way). Only
 * the prediction depends on `started`: sleep(0)'s direct switch does not
 * mark it, to keep that path one store shorter.
 * Sanitizer builds always switch here, after their hooks: nothing may run
 * on this stack after them. */
static void *task_exit(corio_loop *loop, corio__task *t) {
#if !CORIO_HAVE_ASAN && !CORIO_HAVE_TSAN
    if (t->started == 1) {
        corio__task *p = t == loop->eager_task ? loop->eager_parent : NULL;
        if (p) return p->sp;
        loop->back = t;
        return loop->sp;
    }
#endif
    if (t == loop->eager_task) eager_back(loop, t, 1);
    else switch_to_loop(loop, t, 1);
    __builtin_unreachable();
}

/* Runs on the task's own stack, entered by the trampoline (switch_*.S). */
static void *task_entry(void *arg) {
    corio__task *t = arg;
    arrived(t);
    corio_fn fn = t->u.start.fn;
    void *fn_arg = t->u.start.arg;
    t->u.copy.saved = NULL; /* u.start is spent: the union is copy mode's from here on */
    t->u.copy.saved_len = 0;
    t->started = 1;
    /* The body writes its result straight into the future (nobody reads
     * it before completion; a failure clears it): no local to keep, so a
     * copy-mode task saves 16 bytes fewer per suspension. */
    int rc = fn(fn_arg, &t->fut.result);
    /* Scopes the body left open (here, not in task_complete, whose call
     * would then need a frame on every task's way out). */
    if (t->rare && t->rare->scopes) corio__scopes_abandon(t, 1);
    task_complete(t, rc, t->fut.result);
    t->finished = 1;
    return task_exit(t->fut.loop, t);
}

/* Loop side, after the final switch (or when close destroys it): the stack
 * goes back to the pool and the loop drops the reference it held while the
 * task was live. */
void corio__task_retire(corio__task *t) {
    corio_loop *loop = t->fut.loop;
    if (t->copy_mode) corio__copy_release(loop, t);
    else if (t->stack.lo) corio__stack_give(loop->pools, &t->stack);
    t->stack.lo = NULL;
#if CORIO_HAVE_TSAN
    if (t->tsan_fiber) __tsan_destroy_fiber(t->tsan_fiber);
    t->tsan_fiber = NULL;
#endif
    corio__future_drop(&t->fut);
}

/* First step: a stack. The switch into a task whose sp is still NULL
 * starts it at the top of that stack (corio__switch_start). From here on
 * the stack marks a task that has a context (its sp is only written when
 * it switches away). */
static int task_start(corio_loop *loop, corio__task *t) {
    if (t->copy_mode) {
        int rc = corio__copy_stack_get(loop);
        if (rc < 0) return rc;
        t->stack = loop->shared; /* borrowed: bounds for the overflow check and ASan */
        loop->shared_owner = t;
    } else {
        int rc = corio__stack_take(loop->pools, (size_t)t->stack_pages * corio__page_size(), &t->stack);
        if (rc < 0) return rc;
    }
#if CORIO_HAVE_TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    return 0;
}

/* What task_step does before the switch: a pending cancel becomes the
 * wake code; a task that never ran gets its stack. 0, or negative when it
 * must not run (cancelled before it started, or no stack). */
static int step_prepare(corio_loop *loop, corio__task *t) {
    if (t->must_cancel) {
        t->must_cancel = 0;
        t->wake_code = CORIO_ECANCELED;
    }
    if (t->stack.lo) return 0;
    return t->wake_code == CORIO_ECANCELED ? CORIO_ECANCELED : task_start(loop, t);
}

/* The ready-queue entry of a task: resume it where it suspended. Inlined
 * into corio__run_batch, its one caller in practice (see there). */
static inline __attribute__((always_inline)) void step(corio__event *ev) {
    corio__task *t = corio__container_of(ev, corio__task, step.ev);
    corio_loop *loop = t->fut.loop;
    int rc = step_prepare(loop, t);
    if (rc < 0) { /* it never runs */
        task_complete(t, rc, NULL);
        corio__task_retire(t);
        return;
    }
    if (t->copy_mode && t->started) corio__copy_in(loop, t); /* a fresh one starts on a clean stack */
    loop->current = &t->fut;
    corio__current = t;
    switch_into_at(loop, t, t->sp ? NULL : task_entry);
    corio__task *b = loop->back; /* t, or the last of a chain of direct switches */
    loop->current = NULL;
    corio__current = NULL;
    if (b->finished) corio__task_retire(b);
    else if (b->copy_mode) corio__copy_out(loop, b);
}

/* Its address marks a task's step event; corio__run_batch runs it inline. */
static void task_step(corio__event *ev) { step(ev); }

/* The ready phase (loop.c): run what was ready when it began, in order;
 * what becomes ready meanwhile waits for the next iteration (asyncio's
 * ntodo). The batch lives in the loop because a suspending task may take
 * its next event itself (next_direct). It is here, not in loop.c, so that
 * a task's step runs inline: the switch into the task is called from this
 * frame, and when the task switches back (by a jump, from deep in its own
 * calls, which the return predictor knows nothing of) this loop goes on
 * without a `ret`; returning out of task_step missed every time. */
void corio__run_batch(corio_loop *loop) {
    corio__list_splice_back(&loop->batch, &loop->head.ready);
    corio__list *n;
    while ((n = corio__list_pop_front(&loop->batch))) {
        corio__event *ev = corio__container_of(n, corio__event, link);
        if (ev->run == task_step) step(ev);
        else ev->run(ev);
    }
}

/* A suspending task may run the next event itself when it is another
 * task's step: one switch instead of two (task -> loop -> task), same
 * order. When the batch is spent it may start the next iteration too
 * (corio__advance_inline). Copy-mode tasks are left to the loop, which
 * moves their bytes. Returns the task to switch to (its step taken from
 * the batch and prepared), the suspending task itself to just go on, or
 * NULL. Like switch_out, it keeps nothing across a call: the loop and the
 * batch's front are read again after one. */
static corio__task *next_direct(void) {
    corio__task *t = corio__current;
    corio_loop *loop = t->fut.loop;
    if (t->copy_mode) return NULL;
    if (corio__list_empty(&loop->batch)) {
        if (!corio__advance_inline(loop)) return NULL;
        loop = corio__current->fut.loop;
    }
    corio__event *ev = corio__container_of(loop->batch.next, corio__event, link);
    if (ev->run != task_step) return NULL;
    corio__task *u = corio__container_of(ev, corio__task, step.ev);
    if (u->copy_mode) return NULL;
    if (!u->stack.lo && (u->must_cancel || u->wake_code == CORIO_ECANCELED)) return NULL;
    /* A started task without a cancel to take needs no preparing. */
    if (!u->stack.lo || u->must_cancel) {
        if (step_prepare(loop, u) < 0) return NULL; /* no stack now: the loop reports it */
        loop = corio__current->fut.loop; /* preparing leaves the batch alone */
        ev = corio__container_of(loop->batch.next, corio__event, link);
        u = corio__container_of(ev, corio__task, step.ev);
    }
    corio__list_unlink(&ev->link);
    return u;
}

/* Leave the running task until something wakes it. Nothing is kept in a
 * register across a call here or in corio__suspend: the running task is
 * read again from corio__current afterwards (whoever resumes a task sets
 * it first). So corio__suspend's frame saves one register (the
 * thread-local's offset) instead of four and a padding word, which the
 * switch saves anyway: a copy-mode task keeps 32 bytes fewer per
 * suspension. */
static void switch_out(void) {
    corio__task *t = corio__current;
    corio_loop *loop = t->fut.loop;
    t->started = 2; /* it has suspended: task_exit */
    if (t == loop->eager_task) { /* its eager first step is over: back to the creator */
        eager_back(loop, t, 0);
        arrived(corio__current);
        return;
    }
    corio__task *u = next_direct();
    t = corio__current;
    if (u == t) return; /* its own step was next: no switch at all */
    loop = t->fut.loop;
    if (u) {
        loop->current = &u->fut;
        corio__current = u;
        switch_peer_at(loop, t, u, u->sp ? NULL : task_entry);
    } else {
        switch_to_loop(loop, t, 0);
    }
    arrived(corio__current);
}

static __attribute__((noinline)) void rare_free(corio__task *t) {
    corio__task_rare *r = t->rare;
    corio__free(r->name);
    corio__free(r->cancel_msg);
    corio__error_unref(r->exc);
    corio__slab_free(&t->fut.loop->rare_slab, r);
    t->rare = NULL;
}

static void task_destroy(corio_future *f) {
    corio__task *t = corio__as_task(f);
    if (t->copy_mode) corio__copy_release(t->fut.loop, t);
    if (t->rare) rare_free(t); /* usually NULL (every finished task comes here) */
}

const corio__future_ops corio__task_ops = {corio__task_cancel_op, task_destroy};


/* ---- suspension ------------------------------------------------------------ */

/* Switch away until woken; returns the wake code. The caller has arranged
 * for a wake-up (step queued or registered somewhere). Never inlined:
 * callers reach it by a tail call, so their frames are gone while the task
 * is suspended (a copy-mode task saves fewer bytes). */
__attribute__((noinline)) int corio__suspend(corio__task *t, corio__wait_cancel_fn cancel, void *obj) {
    assert(t == corio__current);
    t->wait_cancel = cancel;
    t->wait_obj = obj;
    t->wake_code = 0;
    /* A cancel that arrived while running is delivered to the new wait. */
    if (t->must_cancel && cancel && cancel(t, obj)) corio__current->must_cancel = 0;
    switch_out(); /* t is corio__current, before and after */
    t = corio__current;
    t->wait_cancel = NULL;
    t->wait_obj = NULL;
    return t->wake_code;
}

void corio__wake_then(corio__task *t, int code, corio__wait_cancel_fn then) {
    t->wait_cancel = then;
    t->wake_code = code;
    t->step.ev.run = task_step; /* it may have been the sleep timer's event */
    corio__ready_push(t->fut.loop, &t->step.ev);
}

void corio__wake(corio__task *t, int code) { corio__wake_then(t, code, NULL); }

/* ---- sleep(0) and sleep ----------------------------------------------------- */

/* sleep(0): the task's step goes to the back of the ready queue and the
 * next event runs, as after any suspension. The common case is done here
 * with the least work: the next event is the step of another task that
 * already runs on a stack of its own and has no cancel to take, so it
 * is switched to straight away. Everything else (copy mode, the end of
 * an eager first step, a pending cancel, a callback next, a batch that
 * cannot be refilled without the loop) goes the general way. */
static int yield_now(corio_loop *loop, corio__task *t) {
    corio__ready_push(loop, &t->step.ev);
    if (t->copy_mode || t->must_cancel || t == loop->eager_task) goto general;
    if (corio__list_empty(&loop->batch)) {
        int more = corio__advance_inline(loop);
        /* Nothing is kept across a call on this path: t is taken again
         * from the running task, so no register needs saving here (the
         * switch below saves them anyway). */
        t = corio__current;
        loop = t->fut.loop;
        if (!more) goto general;
    }
    corio__event *ev = corio__container_of(loop->batch.next, corio__event, link);
    if (ev == &t->step.ev) { /* nothing else was ready: go on */
        corio__list_unlink(&ev->link);
        return 0;
    }
    if (ev->run != task_step) goto general;
    corio__task *u = corio__container_of(ev, corio__task, step.ev);
    if (u->copy_mode || u->must_cancel || !u->sp) goto general;
    corio__list_unlink(&ev->link);
    t->wake_code = 0;
    loop->current = &u->fut;
    corio__current = u;
    switch_peer(loop, t, u);
    t = corio__current; /* resumed: the running task again */
    arrived(t);
    return t->wake_code;
general:
    return corio__suspend(t, NULL, NULL);
}

int corio_sleep(double delay) {
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    if (delay <= 0) return yield_now(t->fut.loop, t); /* NaN compares false */
    return corio__sleep_timer(t, delay);
}

