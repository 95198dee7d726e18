/* Task groups: asyncio.TaskGroup (3.12), step for step. The body is the
 * code of the parent task between enter and exit. */
#define _GNU_SOURCE
#include "core/contract.h"

typedef struct tg_kid {
    corio__watch w;       /* on the task: _on_task_done */
    corio_future *task;   /* owned reference */
    corio__list link;     /* in tg->kids while not done */
} tg_kid;

struct corio_taskgroup {
    corio__task *parent;         /* the task that entered, borrowed */
    corio__scope scope;          /* in parent->scopes from enter to exit */
    corio__list kids;            /* tasks not yet done */
    size_t nkids;
    uint8_t exiting, aborting, parent_cancel_requested;
    corio_error **errors;        /* owned references, in the order they happened */
    int nerrors, caperrors;      /* ints: corio__error_group's count */
    corio_future *on_completed;  /* owned: set when the last task is done, during exit */
};

static void tg_free(corio_taskgroup *tg) {
    corio__loop_unregister(corio__task_fut(tg->parent)->loop, tg);
    for (int i = 0; i < tg->nerrors; i++) corio__error_unref(tg->errors[i]);
    corio__free(tg->errors);
    corio__free(tg);
}

/* The parent ended with the group open (no exit): its tasks run on, but
 * nothing of the group may reach them any more. */
static void abandon(corio__scope *s, corio__task *t, int report) {
    corio_taskgroup *tg = corio__container_of(s, corio_taskgroup, scope);
    if (report)
        corio__report(corio__task_fut(t)->loop, "task group was never exited (corio_taskgroup_exit missing); "
                                   "its tasks run on", corio__task_fut(t), NULL);
    corio__list *n;
    while ((n = corio__list_pop_front(&tg->kids))) {
        tg_kid *k = corio__container_of(n, tg_kid, link);
        corio__watch_stop(&k->w);
        corio_future_unref(k->task);
        corio__free(k);
    }
    corio_future_unref(tg->on_completed);
    tg_free(tg);
}

int corio_taskgroup_enter(corio_taskgroup **out) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    if (corio__scope_reserve(t) < 0) return CORIO_ENOMEM;
    corio_taskgroup *tg = corio__calloc(1, sizeof *tg);
    if (!tg) return CORIO_ENOMEM;
    tg->parent = t;
    corio__list_init(&tg->kids);
    /* Registered, so that create_task on a group that has exited is told
     * apart from a live one without reading it. */
    if (corio__loop_register(corio__task_fut(t)->loop, tg) < 0) {
        corio__free(tg);
        return CORIO_ENOMEM;
    }
    tg->scope.abandon = abandon;
    corio__scope_push(t, &tg->scope);
    *out = tg;
    return 0;
}

static void abort_all(corio_taskgroup *tg) {
    tg->aborting = 1;
    corio__list *n;
    corio__list_foreach(n, &tg->kids) {
        tg_kid *k = corio__container_of(n, tg_kid, link);
        if (!k->task->state) corio_future_cancel(k->task, NULL);
    }
}

static void add_error(corio_taskgroup *tg, corio_error *e) {
    if (tg->nerrors == tg->caperrors) {
        int cap = tg->caperrors ? tg->caperrors * 2 : 4;
        corio_error **v = corio__realloc(tg->errors, (size_t)cap * sizeof *v);
        if (!v) return; /* out of memory: this error cannot be kept */
        tg->errors = v;
        tg->caperrors = cap;
    }
    tg->errors[tg->nerrors++] = corio__error_ref(e);
}

/* asyncio's _on_task_done: the group's part of a task's end. */
static void task_done(corio_taskgroup *tg, corio_future *task) {
    if (task->state == CORIO__DONE && task->error) {
        corio__future_mark_retrieved(task);
        add_error(tg, task->error);
        if (corio__task_fut(tg->parent)->state) {
            corio__report(task->loop, "task group error after its parent finished", task, task->error);
        } else if (!tg->aborting && !tg->parent_cancel_requested) {
            /* The first failure stops the others and the body. */
            abort_all(tg);
            tg->parent_cancel_requested = 1;
            corio_task_cancel(corio__task_fut(tg->parent), NULL);
        }
    }
}

static void on_task_done(corio__watch *w) {
    tg_kid *k = corio__container_of(w, tg_kid, w);
    corio_taskgroup *tg = w->owner;
    corio_future *task = k->task;
    corio__list_unlink(&k->link);
    tg->nkids--;
    if (tg->on_completed && tg->nkids == 0 && !tg->on_completed->state)
        corio_future_set_result(tg->on_completed, NULL);
    task_done(tg, task);
    corio_future_unref(task);
    corio__free(k);
}

int corio_taskgroup_create_task(corio_taskgroup *tg, corio_fn fn, void *arg, const char *name,
                                corio_task **out) {
    if (out) *out = NULL;
    if (!tg || !fn) return CORIO_EINVAL;
    corio_loop *loop = corio__running_loop;
    if (!loop) return CORIO_ENOLOOP;
    if (!corio__loop_registered(loop, tg)) return CORIO_EINVALSTATE; /* exited (or another loop's) */
    if (tg->exiting && tg->nkids == 0) return CORIO_EINVALSTATE; /* finished */
    if (tg->aborting) return CORIO_EINVALSTATE;                  /* shutting down */
    tg_kid *k = corio__calloc(1, sizeof *k);
    if (!k) return CORIO_ENOMEM;
    int rc = corio_loop_create_task(corio__task_fut(tg->parent)->loop, fn, arg, name, 0, &k->task);
    if (rc < 0) {
        corio__free(k);
        return rc;
    }
    if (k->task->state) { /* finished eagerly: seen at once, no watch (asyncio 3.12) */
        task_done(tg, k->task);
        if (out) *out = k->task;
        else corio_future_unref(k->task);
        corio__free(k);
        return 0;
    }
    corio__list_init(&k->link);
    corio__list_push_back(&tg->kids, &k->link);
    tg->nkids++;
    k->w.later = on_task_done;
    k->w.owner = tg;
    corio__watch_start(&k->w, k->task);
    if (out) *out = corio_future_ref(k->task);
    return 0;
}

int corio_taskgroup_exit(corio_taskgroup *tg, int rc) {
    if (!tg) return CORIO_EINVAL;
    corio__task *t = corio__running_task();
    /* An open group of this task? (Exited already, or another task's: tg
     * is not read.) It stays among the task's scopes while exit waits, so
     * that a loop closed meanwhile frees it with the task. */
    if (!t || corio__scope_find(t, &tg->scope) < 0) return CORIO_EINVALSTATE;
    tg->exiting = 1;
    int propagate_cancel = rc == CORIO_ECANCELED;
    if (tg->parent_cancel_requested && corio_task_uncancel(corio__task_fut(t)) == 0)
        propagate_cancel = 0; /* the cancel was our own doing */
    if (rc < 0 && !tg->aborting) abort_all(tg);
    while (tg->nkids > 0) {
        if (!tg->on_completed && corio_future_new(corio__task_fut(t)->loop, &tg->on_completed) < 0) {
            (void)corio_sleep(0); /* no memory for the waiter: poll */
            continue;
        }
        if (corio_await(tg->on_completed, NULL) == CORIO_ECANCELED && !tg->aborting) {
            propagate_cancel = 1; /* cancelled from outside while waiting */
            abort_all(tg);
        }
        corio_future_unref(tg->on_completed);
        tg->on_completed = NULL;
    }
    int out = 0;
    if (propagate_cancel && tg->nerrors == 0) {
        out = CORIO_ECANCELED;
    } else {
        if (rc < 0 && rc != CORIO_ECANCELED) { /* the body's own error joins the group */
            corio_error *e = corio__task_exc(t) && corio__task_exc(t)->code == rc ? corio__error_ref(corio__task_exc(t))
                                                          : corio__error_make(rc, corio__task_exc(t), NULL);
            if (e) {
                add_error(tg, e);
                corio__error_unref(e);
            }
        }
        if (tg->nerrors) {
            corio_error *g =
                corio__error_group("unhandled errors in a TaskGroup", tg->errors, tg->nerrors);
            if (g) {
                corio__set_exc(t, g);
                corio__error_unref(g);
            }
            out = g ? CORIO_EGROUP : CORIO_ENOMEM;
        }
    }
    corio__scope_pop(t, &tg->scope);
    tg_free(tg);
    return out;
}
