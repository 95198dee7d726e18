/* Timeout scopes (asyncio.timeouts.Timeout, 3.12), wait_for (3.12: a
 * timeout scope around an await) and shield. */
#define _GNU_SOURCE
#include "aio/aio.h"

#include <math.h>

/* ---- timeout scopes ------------------------------------------------------ */

enum { TO_ENTERED, TO_EXPIRING, TO_EXPIRED, TO_EXITED };

struct corio_timeout {
    corio__task *task;    /* the task the scope belongs to, borrowed */
    int state;            /* TO_* */
    size_t cancelling;    /* corio_task_cancelling(corio__task_fut(task)) at entry */
    double when;          /* deadline on the loop clock, s; +inf: none */
    corio__timer timer;   /* armed (or queued) while ENTERED with a deadline */
    corio__scope scope;   /* in task->scopes from enter to exit */
};

/* The task ended with the scope open: without this, the timer would
 * later cancel whatever task reused the memory. */
static void abandon(corio__scope *s, corio__task *t, int report) {
    corio_timeout *cm = corio__container_of(s, corio_timeout, scope);
    corio__timer_disarm(corio__task_fut(t)->loop, &cm->timer);
    if (report)
        corio__report(corio__task_fut(t)->loop, "timeout scope was never exited (corio_timeout_exit missing)",
                      corio__task_fut(t), NULL);
    corio__free(cm);
}

static void on_timeout(corio__event *ev) {
    corio_timeout *cm = corio__container_of(ev, corio_timeout, timer.ev);
    if (corio__loop_closed(corio__task_fut(cm->task)->loop) || cm->state != TO_ENTERED) return;
    corio_task_cancel(corio__task_fut(cm->task), NULL);
    cm->state = TO_EXPIRING;
}

static int schedule(corio_timeout *cm) {
    corio_loop *loop = corio__task_fut(cm->task)->loop;
    corio__timer_disarm(loop, &cm->timer);
    if (cm->when == INFINITY) return 0;
    if (cm->when <= corio__loop_now(loop)) { /* asyncio: call_soon */
        corio__ready_push(loop, &cm->timer.ev);
        return 0;
    }
    return corio__timer_arm(loop, &cm->timer, cm->when);
}

static int enter(double t, int relative, corio_timeout **out) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    corio__task *task = corio__running_task();
    if (!task) return CORIO_ENOTINTASK;
    double when;
    int rc = corio__deadline(corio__task_fut(task)->loop, t, relative, &when);
    if (rc == 0) rc = corio__scope_reserve(task);
    if (rc < 0) return rc;
    corio_timeout *cm = corio__calloc(1, sizeof *cm);
    if (!cm) return CORIO_ENOMEM;
    cm->task = task;
    cm->state = TO_ENTERED;
    cm->cancelling = corio_task_cancelling(corio__task_fut(task));
    cm->when = when;
    cm->timer.node.index = CORIO__HEAP_NONE;
    corio__list_init(&cm->timer.ev.link);
    cm->timer.ev.run = on_timeout;
    if ((rc = schedule(cm)) < 0) {
        corio__free(cm);
        return rc;
    }
    cm->scope.abandon = abandon;
    corio__scope_push(task, &cm->scope);
    *out = cm;
    return 0;
}

int corio_timeout_enter(double delay, corio_timeout **out) { return enter(delay, 1, out); }
int corio_timeout_at_enter(double when, corio_timeout **out) { return enter(when, 0, out); }

int corio_timeout_reschedule(corio_timeout *cm, double when) {
    if (!cm) return CORIO_EINVAL;
    if (cm->state != TO_ENTERED) return CORIO_EINVALSTATE; /* expiring or expired */
    int rc = corio__deadline(corio__task_fut(cm->task)->loop, when, 0, &cm->when);
    return rc < 0 ? rc : schedule(cm);
}

double corio_timeout_when(const corio_timeout *cm) { return cm ? cm->when : CORIO_FOREVER; }

int corio_timeout_expired(const corio_timeout *cm) {
    return cm && (cm->state == TO_EXPIRING || cm->state == TO_EXPIRED);
}

int corio_timeout_exit(corio_timeout *cm, int rc) {
    if (!cm) return CORIO_EINVAL;
    corio__task *t = corio__running_task();
    /* An open scope of this task? (Exited already, or another task's: cm
     * is not read.) */
    if (!t || corio__scope_pop(t, &cm->scope) < 0) return CORIO_EINVALSTATE;
    corio__timer_disarm(corio__task_fut(t)->loop, &cm->timer);
    if (cm->state == TO_EXPIRING) {
        cm->state = TO_EXPIRED;
        /* Ours was the only new cancel: turn it into the timeout. */
        if (corio_task_uncancel(corio__task_fut(t)) <= cm->cancelling && rc == CORIO_ECANCELED) {
            corio_error *e = corio__error_make(CORIO_ETIMEDOUT, corio__task_exc(t), NULL);
            if (e) {
                corio__set_exc(t, e);
                corio__error_unref(e);
            }
            rc = CORIO_ETIMEDOUT;
        }
    } else {
        cm->state = TO_EXITED;
    }
    corio__free(cm);
    return rc;
}

/* ---- waiting for a future without forwarding our cancel ------------------ */

/* asyncio's `waiter` future: the task waits for fut to complete (seen one
 * iteration later, through a done callback); a cancel of the task stops
 * the waiting only. Returns 0 or CORIO_ECANCELED. */
typedef struct quiet_wait {
    corio__watch w;
    corio__task *task;
    uint8_t woken;
    uint8_t heap;     /* malloc'ed (copy mode): freed by wait_done, or at a close */
} quiet_wait;

/* Woken, not resumed: a close that destroys the task frees what
 * wait_done would have. */
static int quiet_woken_cancel(corio__task *t, void *obj) {
    if (!corio__loop_closed(corio__task_fut(t)->loop)) return 0;
    quiet_wait *q = obj;
    if (q->heap) corio__free(q);
    return 1;
}

static void quiet_done(corio__watch *w) {
    quiet_wait *q = w->owner;
    if (q->woken) return;
    q->woken = 1;
    corio__wake(q->task, 0);
    corio__task_set_wait_cancel(q->task, quiet_woken_cancel);
}

static int quiet_cancel(corio__task *t, void *obj) {
    quiet_wait *q = obj;
    q->woken = 1;
    corio__watch_stop(&q->w);
    corio__wake(t, CORIO_ECANCELED);
    if (corio__loop_closed(corio__task_fut(t)->loop) && q->heap) corio__free(q);
    return 1;
}

int corio__wait_done(corio__task *t, corio_future *fut) {
    quiet_wait local, *q = &local; /* in the frame, unless that is copied away (copy mode) */
    if (corio__task_copy_mode(t) && !(q = corio__malloc(sizeof *q))) return CORIO_ENOMEM;
    *q = (quiet_wait){.task = t, .heap = q != &local};
    q->w.later = quiet_done;
    q->w.owner = q;
    corio__watch_start(&q->w, fut);
    int rc = corio__suspend(t, quiet_cancel, q);
    corio__watch_stop(&q->w);
    if (q != &local) corio__free(q);
    return rc;
}

/* ---- wait_for ---------------------------------------------------------------- */

int corio_wait_for(corio_aw aw, double timeout, void **result) {
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    if (isnan(timeout) || (!aw.fut && !aw.fn)) return CORIO_EINVAL;
    if (timeout <= 0) { /* cancel at once, wait for the cancel to finish */
        corio_future *fut;
        int rc = corio__ensure_future(corio__task_fut(t)->loop, &aw, &fut);
        if (rc < 0) return rc;
        int was_done = fut->state != CORIO__PENDING;
        if (!was_done) {
            corio_future_cancel(fut, NULL);
            rc = corio__wait_done(t, fut);
        }
        if (rc == 0) {
            rc = corio_future_result(fut, result);
            if (rc < 0) corio__observe(t, fut);
            if (rc == CORIO_ECANCELED && !was_done) { /* done already: its outcome as it is */
                corio_error *e = corio__error_make(CORIO_ETIMEDOUT, corio__task_exc(t), NULL);
                if (e) {
                    corio__set_exc(t, e);
                    corio__error_unref(e);
                }
                rc = CORIO_ETIMEDOUT;
            }
        }
        corio_future_unref(fut);
        return rc;
    }
    corio_timeout *cm;
    int rc = corio_timeout_enter(timeout, &cm);
    if (rc < 0) return rc;
    if (aw.fut) {
        rc = corio_await(aw.fut, result);
    } else { /* `await coro`: the coroutine runs in this task */
        void *r = NULL;
        rc = aw.fn(aw.arg, &r);
        if (rc >= 0 && result) *result = r;
        if (rc > 0) rc = 0;
    }
    return corio_timeout_exit(cm, rc);
}

/* ---- shield ------------------------------------------------------------------ */

/* inner and outer point at each other through done callbacks; the state
 * lives until one of them settles the matter, and the loop frees it at
 * close if neither ever does. */
typedef struct shield {
    corio__watch on_inner;  /* on inner: copy its outcome to outer */
    corio__watch on_outer;  /* on outer: if cancelled first, let go of inner */
    corio_future *inner;    /* owned reference */
    corio_future *outer;    /* owned reference */
    corio__resource res;    /* in loop->resources while alive */
} shield;

static void shield_free(shield *s) {
    corio__watch_stop(&s->on_inner);
    corio__watch_stop(&s->on_outer);
    corio__list_unlink(&s->res.link);
    corio_future_unref(s->inner);
    corio_future_unref(s->outer);
    corio__free(s);
}

static void shield_close(corio__resource *r) { shield_free(corio__container_of(r, shield, res)); }

static void inner_done(corio__watch *w) {
    shield *s = w->owner;
    corio_future *in = s->inner, *out = s->outer;
    if (out->state == CORIO__CANCELLED) {
        if (in->state != CORIO__CANCELLED) corio__future_mark_retrieved(in);
    } else if (!out->state) {
        if (in->state == CORIO__CANCELLED) {
            corio__future_cancel_now(out, NULL);
        } else if (in->error) {
            corio__future_mark_retrieved(in);
            out->error = corio__error_ref(in->error);
            corio__future_complete(out, CORIO__DONE);
        } else {
            out->result = corio__future_take(in);
            corio__future_move_release(in, out);
            corio__future_complete(out, CORIO__DONE);
        }
    }
    shield_free(s);
}

static void outer_done(corio__watch *w) {
    shield *s = w->owner;
    if (!s->inner->state) shield_free(s); /* inner goes on alone */
}

int corio_shield(corio_aw aw, corio_future **out) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    corio_loop *loop = aw.fut ? aw.fut->loop : corio__running_loop;
    if (!loop) return CORIO_ENOLOOP;
    if (corio__loop_closed(loop)) return CORIO_ECLOSED;
    corio_future *inner;
    int rc = corio__ensure_future(loop, &aw, &inner);
    if (rc < 0) return rc;
    if (inner->state) { /* done already: shield(x) is x */
        *out = inner;
        return 0;
    }
    shield *s = corio__calloc(1, sizeof *s);
    corio_future *outer = NULL;
    rc = s ? corio_future_new(loop, &outer) : CORIO_ENOMEM;
    if (rc < 0) {
        corio__free(s);
        if (!aw.fut) corio_future_cancel(inner, NULL);
        corio_future_unref(inner);
        return rc;
    }
    s->inner = inner;
    s->outer = corio_future_ref(outer);
    s->on_inner.later = inner_done;
    s->on_inner.owner = s;
    s->on_outer.later = outer_done;
    s->on_outer.owner = s;
    s->res.close = shield_close;
    corio__list_init(&s->res.link);
    corio__loop_add_resource(loop, &s->res);
    corio__watch_start(&s->on_inner, inner);
    corio__watch_start(&s->on_outer, outer);
    *out = outer;
    return 0;
}
