/* sleep with a delay: the task's own step event waits in the timers. (A
 * yield, sleep(0), is the scheduler's: sched.c.) */
#define _GNU_SOURCE
#include "core/internal.h"

#include <math.h>

/* The sleep is over: the event goes round once more as the step (asyncio
 * takes the same two hops: the timer's callback, then the task's wakeup). */
static void sleep_fired(corio__event *ev) {
    corio__task *t = corio__container_of(ev, corio__task, step.ev);
    corio__wake(t, 0);
}

static int sleep_cancel(corio__task *t, void *obj) {
    (void)obj;
    corio__timer_disarm(t->fut.loop, &t->step);
    corio__wake(t, CORIO_ECANCELED);
    return 1;
}

/* Arm t's step as the sleep timer: 0, or CORIO_EINVAL (NaN) / ENOMEM.
 * Its own function: `when` has its address taken, so a frame holding it
 * could not end in a tail call; this one is gone before the task suspends
 * (a copy-mode sleeper saves 48 bytes fewer). */
__attribute__((noinline)) static int arm_sleep(corio__task *t, double delay) {
    corio_loop *loop = t->fut.loop;
    double when;
    int rc = corio__deadline(loop, delay, 1, &when);
    if (rc < 0) return rc;
    if (when != INFINITY && (rc = corio__timer_arm(loop, &t->step, when)) < 0) return rc;
    t->step.ev.run = sleep_fired;
    return 0;
}

/* A real sleep (or NaN), kept out of corio_sleep so that a yield does not
 * pay for this path's registers and spills. CORIO_FOREVER arms nothing:
 * only a cancel ends it. Ends in a tail call: no frame of it is saved. */
__attribute__((noinline)) int corio__sleep_timer(corio__task *t, double delay) {
    int rc = arm_sleep(t, delay);
    if (rc < 0) return rc;
    return corio__suspend(t, sleep_cancel, NULL);
}
