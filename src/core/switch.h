/* Switching between the loop and tasks, and between tasks, with the
 * sanitizers told about every change of stack (ASan's fiber hooks, TSan's
 * fibers). Static inline: each is a few lines on the hottest path, used by
 * sched.c only. */
#ifndef CORIO_CORE_SWITCH_H
#define CORIO_CORE_SWITCH_H

#include "core/internal.h"

typedef void corio__switch_fn(void **save, void *load);

/* Loop -> task. Returns when a task switches back to the loop: this one
 * or, after direct switches (below), another; loop->back says which.
 * Loop and task resume at different places: the jump-resuming switch,
 * both ways (internal.h). */
/* Switch to u: where it suspended, or, when `fresh` is given, into
 * fresh(u) at the top of its stack (a task's first step). Always inline,
 * even unoptimised: it runs after TSan's fiber switch, and a call of its
 * own would enter on one fiber's shadow stack and leave on the other's. */
static inline __attribute__((always_inline)) void switch_go(void **save, corio__task *u, corio__switch_fn *sw,
                                                            void *(*fresh)(void *)) {
    if (fresh) corio__switch_start(save, u->stack.lo + corio__stack_size(&u->stack), fresh, u);
    else sw(save, u->sp);
}

static inline void switch_into_at(corio_loop *loop, corio__task *t, void *(*fresh)(void *)) {
#if CORIO_HAVE_ASAN
    void *fake = NULL;
    loop->asan_from_loop = 1;
    __sanitizer_start_switch_fiber(&fake, t->stack.lo, corio__stack_size(&t->stack));
#endif
#if CORIO_HAVE_TSAN
    __tsan_switch_to_fiber(t->tsan_fiber, 0);
#endif
    switch_go(&loop->sp, t, corio__switch_jmp, fresh);
#if CORIO_HAVE_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

/* Task side, right after a switch into it. ASan tells us the bounds of the
 * stack we came from: the loop keeps the scheduler's. */
static inline void arrived(corio__task *t) {
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
static inline void switch_to_loop(corio_loop *loop, corio__task *t, int last) {
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

/* Task -> task, both with stacks of their own (see next_direct and eager
 * starts). `last`: t's stack will not be used again. `sw`: which switch
 * predicts u's resume address (internal.h). */
static inline void switch_tasks(corio_loop *loop, corio__task *t, corio__task *u, int last,
                                corio__switch_fn *sw, void *(*fresh)(void *)) {
#if CORIO_HAVE_ASAN
    loop->asan_from_loop = 0;
    __sanitizer_start_switch_fiber(last ? NULL : &t->asan_fake, u->stack.lo,
                                   corio__stack_size(&u->stack));
#endif
#if CORIO_HAVE_TSAN
    __tsan_switch_to_fiber(u->tsan_fiber, 0);
#endif
    (void)loop, (void)last;
    switch_go(&t->sp, u, sw, fresh);
}

/* A suspending task to the next ready one, which most often suspended
 * at the same place (two tasks taking turns at the same wait). */
static inline void switch_peer(corio_loop *loop, corio__task *t, corio__task *u) {
    switch_tasks(loop, t, u, 0, corio__switch, NULL);
}

/* The same, into fresh(u) at the top of its stack when `fresh` is given. */
static inline void switch_peer_at(corio_loop *loop, corio__task *t, corio__task *u,
                                  void *(*fresh)(void *)) {
    switch_tasks(loop, t, u, 0, corio__switch, fresh);
}

/* Creator to eager child and back: they resume at different places. */
static inline void switch_direct(corio_loop *loop, corio__task *t, corio__task *u, int last) {
    switch_tasks(loop, t, u, last, corio__switch_jmp, NULL);
}

/* Creator to a new eager child, into fresh(u) on its stack. */
static inline void switch_direct_at(corio_loop *loop, corio__task *t, corio__task *u,
                                    void *(*fresh)(void *)) {
    switch_tasks(loop, t, u, 0, corio__switch_jmp, fresh);
}

#endif
