/* Timeout scopes (asyncio.timeouts.Timeout, 3.12), wait_for (3.12: a
 * timeout scope around an await) and shield. */
#define _GNU_SOURCE
#include "internal.h"

#include <math.h>

/* ---- timeout scopes ------------------------------------------------------ */

enum { TO_ENTERED, TO_EXPIRING, TO_EXPIRED, TO_EXITED };

struct corio_timeout {
    corio__task *task;    /* the task the scope belongs to, borrowed */
    int state;            /* TO_* */
    int cancelling;       /* task->num_cancels at entry */
    int64_t when;         /* deadline, ns; meaningful when has_when */
    uint8_t has_when;
    corio__timer timer;   /* armed (or queued) while ENTERED with a deadline */
};

static void on_timeout(corio__event *ev) {
    corio_timeout *cm = corio__container_of(ev, corio_timeout, timer.ev);
    if (cm->task->fut.loop->closed || cm->state != TO_ENTERED) return;
    corio_task_cancel(&cm->task->fut, NULL);
    cm->state = TO_EXPIRING;
}

static int schedule(corio_timeout *cm) {
    corio_loop *loop = cm->task->fut.loop;
    corio__timer_disarm(loop, &cm->timer);
    if (!cm->has_when) return 0;
    if (cm->when <= corio__loop_now(loop)) { /* asyncio: call_soon */
        corio__ready_push(loop, &cm->timer.ev);
        return 0;
    }
    return corio__timer_arm(loop, &cm->timer, cm->when);
}

static int enter(double when_s, int absolute, corio_timeout **out) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    if (isnan(when_s)) return CORIO_EINVAL;
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    corio_timeout *cm = corio__calloc(1, sizeof *cm);
    if (!cm) return CORIO_ENOMEM;
    cm->task = t;
    cm->state = TO_ENTERED;
    cm->cancelling = t->num_cancels;
    cm->timer.node.index = CORIO__HEAP_NONE;
    corio__list_init(&cm->timer.ev.link);
    cm->timer.ev.run = on_timeout;
    if (!isinf(when_s) || when_s < 0) {
        int64_t base = absolute ? 0 : corio__loop_now(t->fut.loop);
        cm->when = base + corio__seconds_to_ns(when_s);
        cm->has_when = 1;
    }
    int rc = schedule(cm);
    if (rc < 0) {
        corio__free(cm);
        return rc;
    }
    *out = cm;
    return 0;
}

int corio_timeout_enter(double delay, corio_timeout **out) { return enter(delay, 0, out); }
int corio_timeout_at_enter(double when, corio_timeout **out) { return enter(when, 1, out); }

int corio_timeout_reschedule(corio_timeout *cm, double when) {
    if (!cm || isnan(when)) return CORIO_EINVAL;
    if (cm->state != TO_ENTERED) return CORIO_EINVALSTATE; /* expiring or expired */
    cm->has_when = !(isinf(when) && when > 0);
    if (cm->has_when) cm->when = corio__seconds_to_ns(when);
    return schedule(cm);
}

double corio_timeout_when(const corio_timeout *cm) {
    if (!cm || !cm->has_when) return CORIO_FOREVER;
    return (double)cm->when / 1e9;
}

int corio_timeout_expired(const corio_timeout *cm) {
    return cm && (cm->state == TO_EXPIRING || cm->state == TO_EXPIRED);
}

int corio_timeout_exit(corio_timeout *cm, int rc) {
    if (!cm) return CORIO_EINVAL;
    corio__task *t = cm->task;
    if (t != corio__running_task()) return CORIO_EINVALSTATE; /* exit in the task that entered */
    corio__timer_disarm(t->fut.loop, &cm->timer);
    if (cm->state == TO_EXPIRING) {
        cm->state = TO_EXPIRED;
        /* Ours was the only new cancel: turn it into the timeout. */
        if (corio_task_uncancel(&t->fut) <= cm->cancelling && rc == CORIO_ECANCELED) {
            corio_error *e = corio__error_make(CORIO_ETIMEDOUT, t->exc, NULL);
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
} quiet_wait;

static void quiet_done(corio__watch *w) {
    quiet_wait *q = w->owner;
    if (q->woken) return;
    q->woken = 1;
    corio__wake(q->task, 0);
}

static int quiet_cancel(corio__task *t) {
    quiet_wait *q = t->wait_obj;
    q->woken = 1;
    corio__watch_stop(&q->w);
    corio__wake(t, CORIO_ECANCELED);
    return 1;
}

int corio__wait_done(corio__task *t, corio_future *fut) {
    quiet_wait local, *q = &local; /* in the frame, unless that is copied away (copy mode) */
    if (t->copy_mode && !(q = corio__malloc(sizeof *q))) return CORIO_ENOMEM;
    *q = (quiet_wait){.task = t};
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
        int rc = corio__ensure_future(t->fut.loop, &aw, &fut);
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
                corio_error *e = corio__error_make(CORIO_ETIMEDOUT, t->exc, NULL);
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
        if (in->state != CORIO__CANCELLED) in->retrieved = 1;
    } else if (!out->state) {
        if (in->state == CORIO__CANCELLED) {
            corio__future_cancel_now(out, NULL);
        } else if (in->error) {
            in->retrieved = 1;
            out->error = corio__error_ref(in->error);
            corio__future_complete(out, CORIO__DONE);
        } else {
            out->result = in->result;
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
    if (loop->closed) return CORIO_ECLOSED;
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
    corio__list_push_back(&loop->resources, &s->res.link);
    corio__watch_start(&s->on_inner, inner);
    corio__watch_start(&s->on_outer, outer);
    *out = outer;
    return 0;
}
