/* Cancellation of tasks (cancel, cancelling, uncancel), their open
 * scopes, and their destruction at loop close. */
#define _GNU_SOURCE
#include "core/internal.h"

int corio__set_cancel_msg(corio__task *t, const char *msg) {
    if (!msg && !t->rare) return 0; /* none to clear */
    char *m = NULL;
    if (msg && !(m = corio__strdup(msg))) return CORIO_ENOMEM;
    corio__task_rare *r = corio__task_rare_get(t);
    if (!r) {
        corio__free(m);
        return CORIO_ENOMEM;
    }
    corio__free(r->cancel_msg);
    r->cancel_msg = m;
    return 0;
}

int corio_task_cancel(corio_task *task, const char *msg) {
    if (!task) return CORIO_EINVAL;
    if (!corio__is_task(task)) return CORIO_ENOTTASK;
    if (task->state) return 0;
    if (corio__loop_closed(task->loop)) return CORIO_ECLOSED;
    return corio__task_cancel_op(task, msg);
}

int corio__task_cancel_op(corio_future *task, const char *msg) {
    corio__task *t = corio__as_task(task);
    int rc = corio__set_cancel_msg(t, msg);
    if (rc < 0) return rc;
    t->num_cancels++;
    /* Forward to what it waits on; if that cannot take it, deliver at the
     * next resumption. */
    if (t->wait_cancel && t->wait_cancel(t, t->wait_obj)) return 1;
    t->must_cancel = 1;
    return 1;
}

void corio__task_defer_cancel(corio__task *t) {
    if (t->num_cancels) t->must_cancel = 1; /* unless uncancelled meanwhile */
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

/* Loop close: the task will never run again. What it waits on lets go of
 * it (its wait_cancel releases timers and registrations), except an await,
 * which must not cancel the awaited future: that one just drops its ref. */
void corio__task_destroy_pending(corio__task *t) {
    corio_loop *loop = t->fut.loop;
    if (t->wait_cancel == corio__await_cancel) corio_future_unref(t->wait_obj);
    else if (t->wait_cancel) t->wait_cancel(t, t->wait_obj);
    t->wait_cancel = NULL;
    if (corio__task_scopes(t)) corio__scopes_abandon(t, 0); /* open where it was suspended: no news */
    corio__timer_disarm(loop, &t->step); /* armed, or its event linked anywhere */
    corio__list_unlink(&t->link);
    loop->ntasks--;
    corio__task_retire(t);
}

/* ---- scopes (timeouts, task groups) --------------------------------------- */

int corio__scope_reserve(corio__task *t) { return corio__task_rare_get(t) ? 0 : CORIO_ENOMEM; }

void corio__scope_push(corio__task *t, corio__scope *s) {
    corio__task_rare *r = t->rare; /* made by corio__scope_reserve */
    s->next = r->scopes;
    r->scopes = s;
}

int corio__scope_pop(corio__task *t, corio__scope *s) {
    if (!t->rare) return CORIO_EINVALSTATE;
    for (corio__scope **p = &t->rare->scopes; *p; p = &(*p)->next) /* compares, reads no stale scope */
        if (*p == s) {
            *p = s->next;
            return 0;
        }
    return CORIO_EINVALSTATE;
}

int corio__scope_find(const corio__task *t, const corio__scope *s) {
    for (const corio__scope *p = corio__task_scopes(t); p; p = p->next)
        if (p == s) return 0;
    return CORIO_EINVALSTATE;
}

void corio__scopes_abandon(corio__task *t, int report) {
    corio__scope *s;
    while ((s = corio__task_scopes(t))) {
        t->rare->scopes = s->next;
        s->abandon(s, t, report);
    }
}

