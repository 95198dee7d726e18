/* Tasks: stackful coroutines scheduled by the loop.
 *
 * A task's life: created pending with its `step` event in the ready queue;
 * the first step gives it a stack and enters fn; each suspension switches
 * back to the loop; whoever wakes it pushes `step` again (or `step` sits in
 * an awaited future's callback list and the future's completion schedules
 * it). When fn returns, the task completes as a future, switches back one
 * last time, and the loop returns its stack to the pool: a finished task
 * holds no stack, and a task that never started never had one. */
#define _GNU_SOURCE
#include "internal.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#endif

/* ---- switching, with the sanitizers told about it ---------------------- */

/* Loop -> task. Returns when a task switches back to the loop: this one
 * or, after direct switches (below), another; loop->back says which.
 * Loop and task resume at different places: the jump-resuming switch,
 * both ways (internal.h). */
static void switch_into(corio_loop *loop, corio__task *t) {
#if CORIO_HAVE_ASAN
    void *fake = NULL;
    loop->asan_from_loop = 1;
    __sanitizer_start_switch_fiber(&fake, t->stack.lo, corio__stack_size(&t->stack));
#endif
#if CORIO_HAVE_TSAN
    __tsan_switch_to_fiber(t->tsan_fiber, 0);
#endif
    corio__switch_jmp(&loop->sp, t->sp);
#if CORIO_HAVE_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

/* Task side, right after a switch into it. ASan tells us the bounds of the
 * stack we came from: the loop keeps the scheduler's. */
static void arrived(corio__task *t) {
#if CORIO_HAVE_ASAN
    corio_loop *loop = t->fut.loop;
    const void *bottom;
    size_t size;
    __sanitizer_finish_switch_fiber(t->asan_fake, &bottom, &size);
    if (loop->asan_from_loop) {
        loop->asan_stack_bottom = bottom;
        loop->asan_stack_size = size;
    }
#else
    (void)t;
#endif
}

/* Task -> loop. `last`: the task's stack will not be used again. */
static void switch_to_loop(corio_loop *loop, corio__task *t, int last) {
#if CORIO_HAVE_ASAN
    __sanitizer_start_switch_fiber(last ? NULL : &t->asan_fake, loop->asan_stack_bottom,
                                   loop->asan_stack_size);
#endif
#if CORIO_HAVE_TSAN
    __tsan_switch_to_fiber(loop->tsan_fiber, 0);
#endif
    (void)last;
    loop->back = t;
    corio__switch_jmp(&t->sp, loop->sp);
}

typedef void corio__switch_fn(void **save, void *load);

/* Task -> task, both with stacks of their own (see next_direct and eager
 * starts). `last`: t's stack will not be used again. `sw`: which switch
 * predicts u's resume address (internal.h). */
static inline void switch_tasks(corio_loop *loop, corio__task *t, corio__task *u, int last,
                                corio__switch_fn *sw) {
#if CORIO_HAVE_ASAN
    loop->asan_from_loop = 0;
    __sanitizer_start_switch_fiber(last ? NULL : &t->asan_fake, u->stack.lo,
                                   corio__stack_size(&u->stack));
#endif
#if CORIO_HAVE_TSAN
    __tsan_switch_to_fiber(u->tsan_fiber, 0);
#endif
    (void)loop, (void)last;
    sw(&t->sp, u->sp);
}

/* A suspending task to the next ready one, which most often suspended
 * at the same place (two tasks taking turns at the same wait). */
static void switch_peer(corio_loop *loop, corio__task *t, corio__task *u) {
    switch_tasks(loop, t, u, 0, corio__switch);
}

/* Creator to eager child and back: they resume at different places. */
static void switch_direct(corio_loop *loop, corio__task *t, corio__task *u, int last) {
    switch_tasks(loop, t, u, last, corio__switch_jmp);
}

/* ---- names --------------------------------------------------------------- */

/* Async-signal-safe (the overflow handler uses it): no allocation, no stdio. */
int corio__task_format_name(const corio__task *t, char *buf, size_t cap) {
    if (cap == 0) return 0;
    size_t i = 0;
    if (t->name) {
        for (; t->name[i] && i + 1 < cap; i++) buf[i] = t->name[i];
    } else {
        const char *p = "Task-";
        for (; p[i] && i + 1 < cap; i++) buf[i] = p[i];
        char digits[24];
        int d = 0;
        uint64_t v = t->id;
        do digits[d++] = (char)('0' + v % 10); while ((v /= 10) && d < 24);
        while (d > 0 && i + 1 < cap) buf[i++] = digits[--d];
    }
    buf[i] = 0;
    return (int)i;
}

const char *corio_task_get_name(corio_task *task) {
    if (!task || !corio__is_task(task)) return NULL;
    corio__task *t = corio__as_task(task);
    if (!t->name) { /* default name, made on first request */
        char buf[32];
        corio__task_format_name(t, buf, sizeof buf);
        t->name = corio__strdup(buf);
        if (!t->name) return "Task-?";
    }
    return t->name;
}

int corio_task_set_name(corio_task *task, const char *name) {
    if (!task || !name) return CORIO_EINVAL;
    if (!corio__is_task(task)) return CORIO_ENOTTASK;
    char *n = corio__strdup(name);
    if (!n) return CORIO_ENOMEM;
    corio__task *t = corio__as_task(task);
    corio__free(t->name);
    t->name = n;
    return 0;
}

/* ---- life cycle ---------------------------------------------------------- */

static void task_step(corio__event *ev);
static int step_prepare(corio_loop *loop, corio__task *t);
static void task_retire(corio__task *t);

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
        (parent && parent->copy_mode) || step_prepare(loop, t) < 0)
        return 0;
    corio__task *saved_task = loop->eager_task, *saved_parent = loop->eager_parent;
    corio_task *saved_current = loop->current;
    loop->eager_task = t;
    loop->eager_parent = parent;
    loop->current = &t->fut;
    corio__current = t;
    if (parent) {
        switch_direct(loop, parent, t, 0);
        arrived(parent);
    } else {
        switch_into(loop, t);
    }
    loop->eager_task = saved_task;
    loop->eager_parent = saved_parent;
    loop->current = saved_current;
    corio__current = parent;
    if (t->finished) task_retire(t); /* its stack is ours to release now that we left it */
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
    if (loop->closed) return CORIO_ECLOSED;
    if (stack_size && (stack_size < 2 * corio__page_size() || stack_size > ((size_t)1 << 40)))
        return CORIO_EINVAL;
    corio__task *t = corio__slab_alloc(&loop->task_slab, sizeof(corio__task));
    if (!t) return CORIO_ENOMEM;
    if (name && !(t->name = corio__strdup(name))) {
        corio__slab_free(&loop->task_slab, t);
        return CORIO_ENOMEM;
    }
    corio__future_init(&t->fut, loop, CORIO__TASK);
    t->fut.refs = out ? 2 : 1; /* the loop's until done (+ the caller's) */
    t->id = ++loop->task_ids;
    t->u.start.fn = fn;
    t->u.start.arg = arg;
    size_t page = corio__page_size(), want = stack_size ? stack_size : loop->stack_size;
    /* Rounded up, as the pools do; the page size is a power of two, so a
     * shift, not a 64-bit division (tens of cycles per task). */
    t->stack_pages = (uint32_t)((want + page - 1) >> __builtin_ctzl(page));
    t->copy_mode = loop->stack_mode == CORIO_STACK_COPY;
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

/* The task's outcome, from fn's return code. */
static void task_complete(corio__task *t, int rc, void *result) {
    corio_loop *loop = t->fut.loop;
    if (t->scopes) corio__scopes_abandon(t, 1); /* left open by the body */
    t->wait_cancel = NULL;
    corio__list_unlink(&t->link);
    loop->ntasks--;
    t->fut.result = rc >= 0 ? result : NULL;
    if (rc == CORIO_ECANCELED) {
        corio__future_cancel_now(&t->fut, t->cancel_msg);
        return;
    }
    if (rc >= 0) {
        /* the result is in place */
    } else if (t->exc && t->exc->code == rc) {
        t->fut.error = corio__error_ref(t->exc); /* propagate what we observed */
    } else {
        t->fut.error = corio__error_make(rc, t->exc, NULL);
        if (!t->fut.error) /* keep the code even without memory for a message */
            t->fut.error = t->exc ? corio__error_ref(t->exc) : NULL;
    }
    corio__future_complete(&t->fut, CORIO__DONE);
}

static void eager_back(corio_loop *loop, corio__task *t, int last);

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
    task_complete(t, rc, t->fut.result);
    t->finished = 1;
    return task_exit(t->fut.loop, t);
}

/* ---- copy mode: tasks sharing one stack -------------------------------- */

#define SHARED_MIN (256 * 1024)

static char *shared_top(corio_loop *loop) { return loop->shared_top; }

/* Bytes of the shared stack carry ASan redzones of whichever task's
 * frames were there: clear them before copying in or out. */
static void unpoison(void *p, size_t n) {
#if CORIO_HAVE_ASAN
    __asan_unpoison_memory_region(p, n);
#endif
    (void)p, (void)n;
}

/* Before restoring: memcheck sees the range as below the stack pointer
 * (unaddressable); make it writable, the copy then carries definedness. */
static void writable(void *p, size_t n) {
    unpoison(p, n);
#ifdef CORIO_HAVE_VALGRIND
    VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#endif
}

/* Saved stacks: small ones from the loop's slabs, by 16-byte class. */
static char *saved_alloc(corio_loop *loop, size_t len) {
    size_t k = (len + 15) / 16;
    if (k == 0 || k > CORIO__SAVED_CLASSES) return corio__malloc(len);
    return corio__slab_alloc_uninit(&loop->saved_slabs[k - 1]); /* copy_out fills it */
}

static void saved_free(corio_loop *loop, corio__task *t) {
    size_t k = (t->u.copy.saved_len + 15) / 16;
    if (k == 0 || k > CORIO__SAVED_CLASSES) corio__free(t->u.copy.saved);
    else corio__slab_free(&loop->saved_slabs[k - 1], t->u.copy.saved);
    t->u.copy.saved = NULL;
}

/* Loop side, after t suspended: keep the bytes it uses. */
static void copy_out(corio_loop *loop, corio__task *t) {
    size_t used = (size_t)(shared_top(loop) - (char *)t->sp);
    unpoison(t->sp, used);
    char *saved = saved_alloc(loop, used);
    if (!saved) {
        corio__report(loop, "out of memory saving a copy-mode task's stack", &t->fut, NULL);
        abort(); /* its frames cannot be kept anywhere: documented */
    }
    memcpy(saved, t->sp, used);
    t->u.copy.saved = saved;
    t->u.copy.saved_len = used;
}

/* Loop side, before t resumes: put its bytes back unless nobody has used
 * the stack since it left. */
static void copy_in(corio_loop *loop, corio__task *t) {
    if (loop->shared_owner != t) {
        writable(t->sp, t->u.copy.saved_len);
        memcpy(t->sp, t->u.copy.saved, t->u.copy.saved_len);
    }
    saved_free(loop, t);
    loop->shared_owner = t;
}

static void release_stack(corio_loop *loop, corio__task *t) {
    if (t->copy_mode) {
        if (loop->shared_owner == t) loop->shared_owner = NULL;
        if (t->started && t->u.copy.saved) saved_free(loop, t);
    } else if (t->stack.lo) {
        corio__stack_put(&t->stack);
    }
    t->stack.lo = NULL;
}

/* Loop side, after the final switch (or when close destroys it): the stack
 * goes back to the pool and the loop drops the reference it held while the
 * task was live. */
static void task_retire(corio__task *t) {
    corio_loop *loop = t->fut.loop;
    release_stack(loop, t);
#if CORIO_HAVE_TSAN
    if (t->tsan_fiber) __tsan_destroy_fiber(t->tsan_fiber);
    t->tsan_fiber = NULL;
#endif
    corio_future_unref(&t->fut);
}

/* First step: a stack and a fresh context. */
static int task_start(corio_loop *loop, corio__task *t) {
    if (t->copy_mode) {
        size_t want = loop->stack_size > SHARED_MIN ? loop->stack_size : SHARED_MIN;
        if (!loop->shared.lo) {
            int rc = corio__stack_get(loop->pools, want, &loop->shared);
            if (rc < 0) return rc;
            loop->shared_top = loop->shared.lo + corio__stack_size(&loop->shared);
        }
        t->stack = loop->shared; /* borrowed: bounds for the overflow check and ASan */
        loop->shared_owner = t;
    } else {
        int rc = corio__stack_get(loop->pools, (size_t)t->stack_pages * corio__page_size(), &t->stack);
        if (rc < 0) return rc;
    }
    t->sp = corio__ctx_make(t->stack.lo + corio__stack_size(&t->stack), task_entry, t);
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
    if (t->sp) return 0;
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
        task_retire(t);
        return;
    }
    if (t->copy_mode && t->started) copy_in(loop, t); /* a fresh one starts on a clean stack */
    loop->current = &t->fut;
    corio__current = t;
    switch_into(loop, t);
    corio__task *b = loop->back; /* t, or the last of a chain of direct switches */
    loop->current = NULL;
    corio__current = NULL;
    if (b->finished) task_retire(b);
    else if (b->copy_mode) copy_out(loop, b);
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
    corio__list_splice_back(&loop->batch, &loop->ready);
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
    if (!u->sp && (u->must_cancel || u->wake_code == CORIO_ECANCELED)) return NULL;
    /* A started task without a cancel to take needs no preparing. */
    if (!u->sp || u->must_cancel) {
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
        switch_peer(loop, t, u);
    } else {
        switch_to_loop(loop, t, 0);
    }
    arrived(corio__current);
}

static void task_destroy(corio_future *f) {
    corio__task *t = corio__as_task(f);
    if (t->copy_mode && t->started && t->u.copy.saved) saved_free(t->fut.loop, t);
    /* Usually all NULL: skip the calls (every finished task comes here). */
    if (t->name) corio__free(t->name);
    if (t->cancel_msg) corio__free(t->cancel_msg);
    if (t->exc) corio__error_unref(t->exc);
}

static int task_cancel(corio_future *f, const char *msg);
const corio__future_ops corio__task_ops = {task_cancel, task_destroy};

static int await_cancel(corio__task *t);

/* Loop close: the task will never run again. What it waits on lets go of
 * it (its wait_cancel releases timers and registrations), except an await,
 * which must not cancel the awaited future: that one just drops its ref. */
void corio__task_destroy_pending(corio__task *t) {
    corio_loop *loop = t->fut.loop;
    if (t->wait_cancel == await_cancel) corio_future_unref(t->wait_obj);
    else if (t->wait_cancel) t->wait_cancel(t);
    t->wait_cancel = NULL;
    if (t->scopes) corio__scopes_abandon(t, 0); /* open where it was suspended: no news */
    corio__timer_disarm(loop, &t->step); /* armed, or its event linked anywhere */
    corio__list_unlink(&t->link);
    loop->ntasks--;
    task_retire(t);
}

/* ---- scopes (timeouts, task groups) --------------------------------------- */

void corio__scope_push(corio__task *t, corio__scope *s) {
    s->next = t->scopes;
    t->scopes = s;
}

int corio__scope_pop(corio__task *t, corio__scope *s) {
    for (corio__scope **p = &t->scopes; *p; p = &(*p)->next) /* compares, reads no stale scope */
        if (*p == s) {
            *p = s->next;
            return 0;
        }
    return CORIO_EINVALSTATE;
}

int corio__scope_find(const corio__task *t, const corio__scope *s) {
    for (const corio__scope *p = t->scopes; p; p = p->next)
        if (p == s) return 0;
    return CORIO_EINVALSTATE;
}

void corio__scopes_abandon(corio__task *t, int report) {
    corio__scope *s;
    while ((s = t->scopes)) {
        t->scopes = s->next;
        s->abandon(s, t, report);
    }
}

/* ---- suspension and cancellation --------------------------------------- */

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
    if (t->must_cancel && cancel && cancel(t)) corio__current->must_cancel = 0;
    switch_out(); /* t is corio__current, before and after */
    t = corio__current;
    t->wait_cancel = NULL;
    t->wait_obj = NULL;
    return t->wake_code;
}

void corio__wake(corio__task *t, int code) {
    t->wait_cancel = NULL;
    t->wake_code = code;
    t->step.ev.run = task_step; /* it may have been the sleep timer's event */
    corio__ready_push(t->fut.loop, &t->step.ev);
}

static int set_cancel_msg(corio__task *t, const char *msg) {
    char *m = NULL;
    if (msg && !(m = corio__strdup(msg))) return CORIO_ENOMEM;
    corio__free(t->cancel_msg);
    t->cancel_msg = m;
    return 0;
}

int corio_task_cancel(corio_task *task, const char *msg) {
    if (!task) return CORIO_EINVAL;
    if (!corio__is_task(task)) return CORIO_ENOTTASK;
    if (task->state) return 0;
    if (task->loop->closed) return CORIO_ECLOSED;
    return task_cancel(task, msg);
}

static int task_cancel(corio_future *task, const char *msg) {
    corio__task *t = corio__as_task(task);
    int rc = set_cancel_msg(t, msg);
    if (rc < 0) return rc;
    t->num_cancels++;
    /* Forward to what it waits on; if that cannot take it, deliver at the
     * next resumption. */
    if (t->wait_cancel && t->wait_cancel(t)) return 1;
    t->must_cancel = 1;
    return 1;
}

size_t corio_task_cancelling(const corio_task *task) {
    if (!task || !corio__is_task(task)) return 0;
    return corio__as_task((corio_future *)task)->num_cancels;
}

size_t corio_task_uncancel(corio_task *task) {
    if (!task || !corio__is_task(task)) return 0;
    corio__task *t = corio__as_task(task);
    if (t->num_cancels > 0 && --t->num_cancels == 0) t->must_cancel = 0; /* as 3.13 */
    return t->num_cancels;
}

corio_task *corio_current_task(void) {
    corio__task *t = corio__current;
    return t ? &t->fut : NULL;
}

size_t corio_all_tasks(corio_loop *loop, corio_task **buf, size_t cap) {
    if (!loop) loop = corio__running_loop;
    if (!loop || (cap > 0 && !buf)) return 0;
    size_t i = 0;
    corio__list *n;
    corio__list_foreach(n, &loop->tasks) {
        if (i < cap) buf[i] = &corio__container_of(n, corio__task, link)->fut;
        i++;
    }
    return i;
}

/* ---- sleep --------------------------------------------------------------- */

/* The sleep is over: the event goes round once more as the step (asyncio
 * takes the same two hops: the timer's callback, then the task's wakeup). */
static void sleep_fired(corio__event *ev) {
    corio__task *t = corio__container_of(ev, corio__task, step.ev);
    corio__wake(t, 0);
}

static int sleep_cancel(corio__task *t) {
    corio__timer_disarm(t->fut.loop, &t->step);
    corio__wake(t, CORIO_ECANCELED);
    return 1;
}

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

/* A real sleep (or NaN), kept out of corio_sleep so that a yield does not
 * pay for this path's registers and spills. CORIO_FOREVER arms nothing:
 * only a cancel ends it. */
__attribute__((noinline)) static int sleep_timer(corio__task *t, double delay) {
    corio_loop *loop = t->fut.loop;
    double when;
    int rc = corio__deadline(loop, delay, 1, &when);
    if (rc < 0) return rc;
    if (when != INFINITY && (rc = corio__timer_arm(loop, &t->step, when)) < 0) return rc;
    t->step.ev.run = sleep_fired;
    return corio__suspend(t, sleep_cancel, NULL);
}

int corio_sleep(double delay) {
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    if (delay <= 0) return yield_now(t->fut.loop, t); /* NaN compares false */
    return sleep_timer(t, delay);
}

/* ---- await --------------------------------------------------------------- */

/* A cancel of the awaiting task goes to the awaited future (asyncio). */
static int await_cancel(corio__task *t) {
    return corio_future_cancel(t->wait_obj, t->cancel_msg) == 1;
}

/* The awaiting task observed fut's failure: it becomes the task's current
 * error (for chaining), and a cancel message travels on. */
void corio__set_exc(corio__task *t, corio_error *err) {
    corio__error_ref(err);
    corio__error_unref(t->exc);
    t->exc = err;
}

void corio__observe(corio__task *t, corio_future *fut) {
    if (!fut->error) return;
    corio__set_exc(t, fut->error);
    if (fut->state == CORIO__CANCELLED && fut->error->message)
        (void)set_cancel_msg(t, fut->error->message);
}

int corio_await(corio_future *fut, void **result) {
    if (!fut) return CORIO_EINVAL;
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    if (fut == &t->fut) return CORIO_EDEADLK;
    if (fut->loop != t->fut.loop) return CORIO_EWRONGLOOP;
    if (!fut->state) {
        corio_future_ref(fut);
        corio__callbacks_add(fut, &t->step.ev);
        int rc = corio__suspend(t, await_cancel, fut);
        if (rc == CORIO_ECANCELED) { /* the cancel came before fut's result */
            corio__future_mark_retrieved(fut);
            corio_future_unref(fut);
            return rc;
        }
        int res = corio_future_result(fut, result);
        if (res < 0) corio__observe(t, fut);
        corio_future_unref(fut);
        return res;
    }
    int res = corio_future_result(fut, result);
    if (res < 0) corio__observe(t, fut);
    return res;
}

const corio_error *corio_current_error(void) {
    corio__task *t = corio__running_task();
    return t ? t->exc : NULL;
}

int corio__ensure_future(corio_loop *loop, const corio_aw *aw, corio_future **out) {
    if (aw->fut) {
        if (aw->fut->loop != loop) return CORIO_EWRONGLOOP;
        *out = corio_future_ref(aw->fut);
        return 0;
    }
    if (!aw->fn) return CORIO_EINVAL;
    return corio_loop_create_task(loop, aw->fn, aw->arg, aw->name, 0, out);
}

int corio_raise(int code, const char *fmt, ...) {
    corio__task *t = corio__running_task();
    if (!t || code >= 0) return code;
    va_list ap;
    va_start(ap, fmt);
    corio_error *e = corio__error_new(code, t->exc, fmt, ap);
    va_end(ap);
    if (e) {
        corio__error_unref(t->exc);
        t->exc = e;
    }
    return code;
}
