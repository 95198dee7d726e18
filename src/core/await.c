/* await, a task's current error and rare fields, and the queries about
 * tasks (current, all). */
#define _GNU_SOURCE
#include "core/internal.h"

corio__task_rare *corio__task_rare_get(corio__task *t) {
    if (!t->rare) t->rare = corio__slab_alloc(&t->fut.loop->rare_slab, sizeof(corio__task_rare));
    return t->rare;
}

/* A cancel of the awaiting task goes to the awaited future (asyncio). */
int corio__await_cancel(corio__task *t, void *fut) {
    return corio_future_cancel(fut, corio__task_cancel_msg(t)) == 1;
}

/* The awaiting task observed fut's failure: it becomes the task's current
 * error (for chaining), and a cancel message travels on. Without memory
 * for the task's rare fields it is not recorded (as corio_raise records
 * nothing without memory for the error). */
void corio__set_exc(corio__task *t, corio_error *err) {
    corio__task_rare *r = corio__task_rare_get(t);
    if (!r) return;
    corio__error_ref(err);
    corio__error_unref(r->exc);
    r->exc = err;
}

void corio__observe(corio__task *t, corio_future *fut) {
    if (!fut->error) return;
    corio__set_exc(t, fut->error);
    if (fut->state == CORIO__CANCELLED && fut->error->message)
        (void)corio__set_cancel_msg(t, fut->error->message);
}

/* `owned`: the caller's reference is the one the wait holds, so a task
 * destroyed pending at close (whose frame never resumes) lets it go. */
static int await(corio_future *fut, void **result, int owned) {
    if (!fut) return CORIO_EINVAL;
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    if (fut == &t->fut) return CORIO_EDEADLK;
    if (fut->loop != t->fut.loop) return CORIO_EWRONGLOOP;
    if (!fut->state) {
        if (!owned) corio_future_ref(fut);
        corio__callbacks_add(fut, &t->step.ev);
        int rc = corio__suspend(t, corio__await_cancel, fut);
        if (rc == CORIO_ECANCELED) { /* the cancel came before fut's result */
            corio__future_mark_retrieved(fut);
            if (!owned) corio_future_unref(fut);
            return rc;
        }
        int res = corio_future_result(fut, result);
        if (res < 0) corio__observe(t, fut);
        if (!owned) corio_future_unref(fut);
        return res;
    }
    int res = corio_future_result(fut, result);
    if (res < 0) corio__observe(t, fut);
    return res;
}

int corio_await(corio_future *fut, void **result) { return await(fut, result, 0); }

int corio__await_owned(corio_future *fut, void **result) { return await(fut, result, 1); }

const corio_error *corio_current_error(void) {
    corio__task *t = corio__running_task();
    return t ? corio__task_exc(t) : NULL;
}

int corio_raise(int code, const char *fmt, ...) {
    corio__task *t = corio__running_task();
    if (!t || code >= 0) return code;
    va_list ap;
    va_start(ap, fmt);
    corio_error *e = corio__error_new(code, corio__task_exc(t), fmt, ap);
    va_end(ap);
    corio__task_rare *r = e ? corio__task_rare_get(t) : NULL;
    if (r) {
        corio__error_unref(r->exc);
        r->exc = e;
    } else {
        corio__error_unref(e);
    }
    return code;
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


/* ---- the rest of the waiting primitive's contract ------------------------- */

void corio__wake_on(corio__task *t, corio_future *f) { corio__callbacks_add(f, &t->step.ev); }

void corio__task_set_wait_cancel(corio__task *t, corio__wait_cancel_fn cancel) {
    t->wait_cancel = cancel;
}

corio_error *corio__task_exc(corio__task *t) { return t->rare ? t->rare->exc : NULL; }

const char *corio__task_cancel_msg(corio__task *t) { return t->rare ? t->rare->cancel_msg : NULL; }
