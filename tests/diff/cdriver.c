/* Runs scenarios (see LANGUAGE.md) on corio with virtual time and prints
 * their traces, line for line what pydriver.py prints for asyncio. */
#define _GNU_SOURCE
#include "corio.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXW 64   /* words in a step */
#define MAXOPS 16
#define MAXN 128  /* definitions, tasks, gathers per scenario */

typedef struct def {
    char name[32];
    char ops[MAXOPS][48];
    int nops;
} def;

typedef struct entry {
    char label[40];
    corio_future *f; /* a reference */
} entry;

enum { P_LOCK, P_EVENT, P_SEM, P_BSEM, P_COND, P_BARRIER, P_QUEUE, P_LIFO, P_PRIO };

typedef struct prim {
    char name[32];
    int kind;
    void *p;
} prim;

typedef struct step {
    char *w[MAXW];
    int n;
} step;

typedef struct scen {
    char name[128];
    def defs[MAXN];
    int ndefs;
    step steps[MAXN];
    int nsteps;
    entry tasks[MAXN * 4]; /* creation order */
    int ntasks;
    entry gathers[MAXN];
    int ngathers;
    corio_future *unnamed; /* the gather of the step running now, if not named */
    int counts[MAXN];
    corio_loop *loop;
    corio_task *main;
    prim prims[MAXN];
    int nprims;
    char *arena[MAXN * 8]; /* small allocations freed at the end */
    int narena;
} scen;

static scen *S;

static void *arena(size_t n) {
    void *p = calloc(1, n);
    if (!p || S->narena == (int)(sizeof S->arena / sizeof S->arena[0])) abort();
    S->arena[S->narena++] = p;
    return p;
}

static void logf_(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("t=%.3f ", corio_loop_time(S->loop));
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

/* ---- outcomes ------------------------------------------------------------ */

typedef struct buf {
    char s[4096];
} buf;

static void add(buf *b, const char *fmt, ...) {
    size_t n = strlen(b->s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->s + n, sizeof b->s - n, fmt, ap);
    va_end(ap);
}

static void fmt_error(buf *b, const corio_error *e, int code) {
    if (e) code = corio_error_code(e);
    if (code == CORIO_ECANCELED) add(b, "CANCELLED");
    else if (code == CORIO_ETIMEDOUT) add(b, "TIMEOUT");
    else if (code == CORIO_EGROUP && e) {
        add(b, "group[");
        for (size_t i = 0; i < corio_error_group_size(e); i++)
            fmt_error(b, corio_error_group_get(e, i), 0), add(b, i + 1 < corio_error_group_size(e) ? "," : "");
        add(b, "]");
    } else if (code <= CORIO_EUSER(0) && code >= CORIO_EUSER(CORIO_EUSER_MAX))
        add(b, "E%d", CORIO_EUSER(0) - code);
    else add(b, "error(%s)", corio_strerror(code));
}

static void fmt_future(buf *b, corio_future *f);

/* The gathers the scenario made (named, or the one of this step). */
static int is_gather(corio_future *f) {
    if (f && f == S->unnamed) return 1;
    for (int i = 0; i < S->ngathers; i++)
        if (S->gathers[i].f == f) return 1;
    return 0;
}

static void fmt_value(buf *b, corio_future *f, void *v) {
    if (is_gather(f)) { /* a gather: its list */
        add(b, "[");
        for (size_t i = 0; i < corio_gather_size(f); i++) {
            fmt_future(b, corio_gather_child(f, i));
            if (i + 1 < corio_gather_size(f)) add(b, ",");
        }
        add(b, "]");
    } else {
        add(b, "%ld", (long)(intptr_t)v);
    }
}

static void fmt_future(buf *b, corio_future *f) {
    if (!corio_future_done(f)) {
        add(b, "PENDING");
        return;
    }
    corio_error *e;
    corio_future_exception(f, &e);
    if (e) fmt_error(b, e, 0);
    else {
        void *v = NULL;
        corio_future_result(f, &v);
        fmt_value(b, f, v);
    }
    corio_error_unref(e);
}

/* The outcome of a call that returned rc (and *v / f on success). */
static const char *outcome(buf *b, int rc, corio_future *f, void *v) {
    b->s[0] = 0;
    if (rc < 0) fmt_error(b, rc == CORIO_EGROUP ? corio_current_error() : NULL, rc);
    else if (f) fmt_value(b, f, v);
    else add(b, "%ld", (long)(intptr_t)v);
    return b->s;
}

/* ---- names --------------------------------------------------------------- */

static def *find_def(const char *name) {
    for (int i = 0; i < S->ndefs; i++)
        if (!strcmp(S->defs[i].name, name)) return &S->defs[i];
    fprintf(stderr, "no definition %s\n", name);
    exit(3);
}

static void new_label(const char *d, char *out, size_t cap) {
    int k = ++S->counts[find_def(d) - S->defs];
    int len = k == 1 ? snprintf(out, cap, "%s", d) : snprintf(out, cap, "%s#%d", d, k);
    if (len < 0 || (size_t)len >= cap) abort(); /* a label too long for the table */
}

static void reg(const char *label, corio_future *f) {
    entry *e = &S->tasks[S->ntasks++];
    size_t len = strlen(label);
    if (len >= sizeof e->label) abort(); /* a label too long for the table */
    memcpy(e->label, label, len + 1);
    e->f = corio_future_ref(f);
}

static const char *label_of(corio_future *f) {
    for (int i = 0; i < S->ntasks; i++)
        if (S->tasks[i].f == f) return S->tasks[i].label;
    for (int i = 0; i < S->ngathers; i++)
        if (S->gathers[i].f == f) return S->gathers[i].label;
    return "?";
}

static corio_future *lookup(const char *label) {
    for (int i = 0; i < S->ngathers; i++)
        if (!strcmp(S->gathers[i].label, label)) return S->gathers[i].f;
    for (int i = 0; i < S->ntasks; i++)
        if (!strcmp(S->tasks[i].label, label)) return S->tasks[i].f;
    fprintf(stderr, "no task %s\n", label);
    exit(3);
}

/* ---- primitives -------------------------------------------------------------- */

static prim *find_prim(const char *name) {
    for (int i = 0; i < S->nprims; i++)
        if (!strcmp(S->prims[i].name, name)) return &S->prims[i];
    fprintf(stderr, "no primitive %s\n", name);
    exit(3);
}

static int cmp_int(const void *a, const void *b) {
    intptr_t x = (intptr_t)a, y = (intptr_t)b;
    return x < y ? -1 : x > y;
}

static void make_prim(const char *kind, const char *name, int n) {
    prim *p = &S->prims[S->nprims++];
    snprintf(p->name, sizeof p->name, "%s", name);
    int rc = -1;
    if (!strcmp(kind, "lock")) p->kind = P_LOCK, rc = corio_lock_new((corio_lock **)&p->p);
    else if (!strcmp(kind, "event")) p->kind = P_EVENT, rc = corio_event_new((corio_event **)&p->p);
    else if (!strcmp(kind, "sem")) p->kind = P_SEM, rc = corio_semaphore_new((corio_semaphore **)&p->p, n);
    else if (!strcmp(kind, "bsem")) p->kind = P_BSEM, rc = corio_bounded_semaphore_new((corio_semaphore **)&p->p, n);
    else if (!strcmp(kind, "cond")) p->kind = P_COND, rc = corio_condition_new((corio_condition **)&p->p, NULL);
    else if (!strcmp(kind, "barrier")) p->kind = P_BARRIER, rc = corio_barrier_new((corio_barrier **)&p->p, n);
    else if (!strcmp(kind, "queue")) p->kind = P_QUEUE, rc = corio_queue_new((corio_queue **)&p->p, n);
    else if (!strcmp(kind, "lifo")) p->kind = P_LIFO, rc = corio_lifo_queue_new((corio_queue **)&p->p, n);
    else if (!strcmp(kind, "prio")) p->kind = P_PRIO, rc = corio_priority_queue_new((corio_queue **)&p->p, n, cmp_int);
    if (rc < 0) abort();
}

static void free_prims(void) {
    for (int i = 0; i < S->nprims; i++) {
        prim *p = &S->prims[i];
        int rc = 0;
        switch (p->kind) {
        case P_LOCK: rc = corio_lock_free(p->p); break;
        case P_EVENT: rc = corio_event_free(p->p); break;
        case P_SEM: case P_BSEM: rc = corio_semaphore_free(p->p); break;
        case P_COND: rc = corio_condition_free(p->p); break;
        case P_BARRIER: rc = corio_barrier_free(p->p); break;
        default: rc = corio_queue_free(p->p); break;
        }
        if (rc < 0) fprintf(stderr, "%s: primitive %s still busy (deadlocked scenario)\n", S->name, p->name);
    }
}

static const char *qerr(int rc) {
    return rc == CORIO_EFULL ? "FULL" : rc == CORIO_EEMPTY ? "EMPTY" : rc == CORIO_ESHUTDOWN ? "SHUTDOWN" : "?";
}

static int release_prim(prim *p) {
    return p->kind == P_LOCK ? corio_lock_release(p->p)
           : p->kind == P_COND ? corio_condition_release(p->p) : corio_semaphore_release(p->p);
}

typedef struct child_arg child_arg;
static void held_add(child_arg *c, prim *p);
static void held_remove(child_arg *c, prim *p);

/* An op on a primitive; returns CORIO_ECANCELED to propagate, else 0. */
static int prim_op(child_arg *c, const char *label, const char *op, const char *name, const char *arg) {
    prim *p = find_prim(name);
    int rc = 0;
    if (!strcmp(op, "acquire")) {
        rc = p->kind == P_LOCK ? corio_lock_acquire(p->p)
             : p->kind == P_COND ? corio_condition_acquire(p->p) : corio_semaphore_acquire(p->p);
        if (rc == 0) held_add(c, p), logf_("%s: acquired %s", label, name);
    } else if (!strcmp(op, "release")) {
        rc = release_prim(p);
        if (rc == 0) held_remove(c, p), logf_("%s: released %s", label, name);
        else logf_("%s: release %s -> ERROR", label, name);
        return 0;
    } else if (!strcmp(op, "eset")) {
        corio_event_set(p->p);
    } else if (!strcmp(op, "eclear")) {
        corio_event_clear(p->p);
    } else if (!strcmp(op, "ewait")) {
        if ((rc = corio_event_wait(p->p)) == 0) logf_("%s: event %s", label, name);
    } else if (!strcmp(op, "cwait")) {
        rc = corio_condition_wait(p->p);
        if (rc == 0) logf_("%s: notified %s", label, name);
        if (rc == CORIO_EINVALSTATE) logf_("%s: cwait %s -> ERROR", label, name), rc = 0;
    } else if (!strcmp(op, "notify") || !strcmp(op, "notifyall")) {
        rc = op[6] ? corio_condition_notify_all(p->p) : corio_condition_notify(p->p, atoi(arg));
        if (rc == CORIO_EINVALSTATE) logf_("%s: %s %s -> ERROR", label, op, name);
        return 0;
    } else if (!strcmp(op, "bwait")) {
        size_t index;
        rc = corio_barrier_wait(p->p, &index);
        if (rc >= 0) logf_("%s: barrier %s -> %zu", label, name, index), rc = 0;
        else if (rc == CORIO_EBROKEN) logf_("%s: barrier %s -> BROKEN", label, name), rc = 0;
    } else if (!strcmp(op, "breset")) {
        rc = corio_barrier_reset(p->p);
    } else if (!strcmp(op, "babort")) {
        rc = corio_barrier_abort(p->p);
    } else if (!strcmp(op, "put")) {
        rc = corio_queue_put(p->p, (void *)(intptr_t)atol(arg));
        if (rc == 0) logf_("%s: put %s %s", label, name, arg);
        else if (rc == CORIO_ESHUTDOWN) logf_("%s: put %s %s -> SHUTDOWN", label, name, arg), rc = 0;
    } else if (!strcmp(op, "get")) {
        void *v;
        rc = corio_queue_get(p->p, &v);
        if (rc == 0) logf_("%s: get %s -> %ld", label, name, (long)(intptr_t)v);
        else if (rc == CORIO_ESHUTDOWN) logf_("%s: get %s -> SHUTDOWN", label, name), rc = 0;
    } else if (!strcmp(op, "putnw")) {
        rc = corio_queue_put_nowait(p->p, (void *)(intptr_t)atol(arg));
        logf_("%s: putnw %s %s -> %s", label, name, arg, rc == 0 ? "ok" : qerr(rc));
        return 0;
    } else if (!strcmp(op, "getnw")) {
        void *v;
        rc = corio_queue_get_nowait(p->p, &v);
        if (rc == 0) logf_("%s: getnw %s -> %ld", label, name, (long)(intptr_t)v);
        else logf_("%s: getnw %s -> %s", label, name, qerr(rc));
        return 0;
    } else if (!strcmp(op, "done")) {
        if (corio_queue_task_done(p->p) < 0) logf_("%s: done %s -> ERROR", label, name);
        return 0;
    } else if (!strcmp(op, "join")) {
        if ((rc = corio_queue_join(p->p)) == 0) logf_("%s: joined %s", label, name);
    } else if (!strcmp(op, "shutdown")) {
        corio_queue_shutdown(p->p, !strcmp(arg, "now"));
    } else {
        fprintf(stderr, "unknown op %s\n", op);
        exit(3);
    }
    return rc == CORIO_ECANCELED ? rc : 0;
}

/* ---- the coroutines --------------------------------------------------------- */

struct child_arg {
    char label[40];
    def *d;
    prim *held[MAXOPS]; /* acquired and not released: released if cancelled (async with) */
    int nheld;
};

static void held_add(child_arg *c, prim *p) {
    if (c && c->nheld < MAXOPS) c->held[c->nheld++] = p;
}

static void held_remove(child_arg *c, prim *p) {
    for (int i = 0; c && i < c->nheld; i++)
        if (c->held[i] == p) {
            memmove(&c->held[i], &c->held[i + 1], (size_t)(c->nheld - i - 1) * sizeof c->held[0]);
            c->nheld--;
            return;
        }
}

static int child(void *arg, void **res) {
    child_arg *c = arg;
    logf_("%s: start", c->label);
    for (int i = 0; i < c->d->nops; i++) {
        char op[16] = "", x[40] = "", y[40] = "";
        sscanf(c->d->ops[i], "%15s %39s %39s", op, x, y);
        int rc = 0;
        if (!strcmp(op, "sleep") || !strcmp(op, "sleepc") || !strcmp(op, "yield")) {
            rc = corio_sleep(op[0] == 'y' ? 0 : atof(x));
            if (rc == CORIO_ECANCELED && !strcmp(op, "sleepc")) {
                logf_("%s: caught", c->label);
                rc = 0;
            }
        } else if (!strcmp(op, "return")) {
            logf_("%s: return %s", c->label, x);
            *res = (void *)(intptr_t)atol(x);
            return 0;
        } else if (!strcmp(op, "fail")) {
            logf_("%s: fail %s", c->label, x);
            return corio_raise(CORIO_EUSER(atoi(x)), "E%s", x);
        } else if (!strcmp(op, "await")) {
            corio_future *f = lookup(x);
            void *v;
            rc = corio_await(f, &v);
            if (rc < 0) {
                buf b;
                logf_("%s: await %s -> %s", c->label, x, outcome(&b, rc, NULL, NULL));
                if (rc != CORIO_ECANCELED) return rc;
            }
        } else if (!strcmp(op, "cancel")) {
            corio_task_cancel(lookup(x), NULL);
        } else {
            rc = prim_op(c, c->label, op, x, y);
        }
        if (rc == CORIO_ECANCELED) {
            while (c->nheld > 0) release_prim(c->held[--c->nheld]);
            logf_("%s: cancelled", c->label);
            return rc;
        }
    }
    *res = 0;
    return 0;
}

/* An item: a task, a gather, or (~X) a new coroutine. */
static corio_aw item(const char *s, char *label, size_t cap) {
    if (s[0] == '~') {
        child_arg *c = arena(sizeof *c);
        c->d = find_def(s + 1);
        new_label(s + 1, c->label, sizeof c->label);
        snprintf(label, cap, "%s", c->label);
        return CORIO_CORO(child, c);
    }
    snprintf(label, cap, "%s", s);
    return CORIO_FUT(lookup(s));
}

/* asyncio.ensure_future + register the new task under its label. */
static corio_future *ensure(corio_aw aw, const char *label) {
    if (aw.fut) return aw.fut;
    corio_task *t;
    if (corio_create_task(aw.fn, aw.arg, NULL, &t) < 0) abort();
    reg(label, t);
    corio_future_unref(t);
    return t;
}

/* ---- steps ----------------------------------------------------------------- */

/* Main re-raises a cancel only when it is itself being cancelled. */
static int cancelled_main(int rc) {
    return rc == CORIO_ECANCELED && corio_task_cancelling(corio_current_task()) > 0;
}

typedef struct cancel_at {
    char target[40];
} cancel_at;

static void fire_cancel(void *arg) {
    cancel_at *c = arg;
    corio_future *f = !strcmp(c->target, "main") ? S->main : lookup(c->target);
    logf_("cancel %s -> %d", c->target, corio_future_cancel(f, NULL));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void labels_sorted(buf *b, corio_futset *s) {
    const char *v[MAXN * 4];
    int n = corio_futset_size(s);
    for (int i = 0; i < n; i++) v[i] = label_of(corio_futset_get(s, i));
    qsort(v, (size_t)n, sizeof v[0], cmp_str);
    for (int i = 0; i < n; i++) add(b, "%s%s", v[i], i + 1 < n ? "," : "");
}

static int run_step(step *st) {
    char **w = st->w;
    int n = st->n;
    buf b = {{0}};
    char label[40];
    void *v = NULL;
    int rc = 0;
    if (!strcmp(w[0], "spawn")) {
        for (int i = 1; i < n; i++) {
            child_arg *c = arena(sizeof *c);
            c->d = find_def(w[i]);
            new_label(w[i], c->label, sizeof c->label);
            corio_task *t;
            if (corio_create_task(child, c, NULL, &t) < 0) abort();
            reg(c->label, t);
            corio_future_unref(t);
        }
    } else if (!strcmp(w[0], "sleep")) {
        return corio_sleep(atof(w[1]));
    } else if (!strcmp(w[0], "make")) {
        make_prim(w[1], w[2], n > 3 ? atoi(w[3]) : 0);
    } else if (!strcmp(w[0], "gather") || !strcmp(w[0], "gatherwait")) {
        int i = 1;
        const char *name = NULL;
        if (w[0][6] == 0) name = w[i++];
        int flags = 0;
        if (i < n && !strcmp(w[i], "re")) flags = CORIO_RETURN_EXCEPTIONS, i++;
        corio_aw aws[MAXW] = {{0}};
        int k = 0;
        for (; i < n; i++) {
            corio_aw a = item(w[i], label, sizeof label);
            aws[k++] = CORIO_FUT(ensure(a, label));
        }
        corio_future *g;
        if (corio_gather(aws, (size_t)k, flags, &g) < 0) abort();
        if (name) {
            entry *e = &S->gathers[S->ngathers++];
            snprintf(e->label, sizeof e->label, "%s", name);
            e->f = g;
            return 0;
        }
        S->unnamed = g;
        rc = corio_await(g, &v);
        logf_("gather -> %s", outcome(&b, rc, g, v));
        S->unnamed = NULL;
        corio_future_unref(g);
        return cancelled_main(rc) ? rc : 0;
    } else if (!strcmp(w[0], "await")) {
        corio_future *f = lookup(w[1]);
        rc = corio_await(f, &v);
        logf_("await %s -> %s", w[1], outcome(&b, rc, f, v));
        return cancelled_main(rc) ? rc : 0;
    } else if (!strcmp(w[0], "wait") || !strcmp(w[0], "drain")) {
        double timeout = CORIO_FOREVER;
        int when = w[0][0] == 'd' ? CORIO_FIRST_COMPLETED : CORIO_ALL_COMPLETED;
        corio_futset *pending;
        if (corio_futset_new(&pending) < 0) abort();
        for (int i = 1; i < n; i++) {
            if (!strncmp(w[i], "t=", 2)) timeout = atof(w[i] + 2);
            else if (!strcmp(w[i], "first")) when = CORIO_FIRST_COMPLETED;
            else if (!strcmp(w[i], "exc")) when = CORIO_FIRST_EXCEPTION;
            else if (!strcmp(w[i], "all")) when = CORIO_ALL_COMPLETED;
            else corio_futset_add(pending, lookup(w[i]));
        }
        do {
            corio_futset *done;
            rc = corio_wait_set(pending, timeout, when, &done);
            if (rc < 0) break;
            b.s[0] = 0;
            if (w[0][0] == 'd') {
                add(&b, "[");
                labels_sorted(&b, done);
                logf_("drain -> %s]", b.s);
            } else {
                add(&b, "done=[");
                labels_sorted(&b, done);
                add(&b, "] pending=[");
                labels_sorted(&b, pending);
                logf_("wait -> %s]", b.s);
            }
            corio_futset_free(done);
        } while (w[0][0] == 'd' && corio_futset_size(pending) > 0);
        corio_futset_free(pending);
        return rc;
    } else if (!strcmp(w[0], "ascompleted")) {
        double timeout = CORIO_FOREVER;
        corio_aw aws[MAXW];
        int k = 0;
        for (int i = 1; i < n; i++) {
            if (!strncmp(w[i], "t=", 2)) {
                timeout = atof(w[i] + 2);
                continue;
            }
            corio_aw a = item(w[i], label, sizeof label);
            aws[k++] = CORIO_FUT(ensure(a, label));
        }
        corio_as_completed *it;
        if (corio_as_completed_new(aws, (size_t)k, timeout, &it) < 0) abort();
        corio_future *f;
        while ((rc = corio_as_completed_next(it, &f)) != 0) {
            if (rc == CORIO_ETIMEDOUT) {
                logf_("next -> TIMEOUT");
                continue;
            }
            if (rc < 0) break;
            fmt_future(&b, f);
            logf_("next -> %s %s", label_of(f), b.s);
            b.s[0] = 0;
            corio_future_unref(f); /* next hands out a reference */
        }
        corio_as_completed_free(it);
        return rc;
    } else if (!strcmp(w[0], "waitfor")) {
        corio_aw a = item(w[2], label, sizeof label);
        rc = corio_wait_for(a, atof(w[1]), &v);
        logf_("waitfor -> %s", outcome(&b, rc, a.fut, v));
        return cancelled_main(rc) ? rc : 0;
    } else if (!strcmp(w[0], "timeout")) {
        corio_aw a = item(w[2], label, sizeof label);
        corio_future *f = ensure(a, label);
        corio_timeout *cm;
        if (corio_timeout_enter(atof(w[1]), &cm) < 0) abort();
        rc = corio_await(f, &v);
        int expired = corio_timeout_expired(cm);
        rc = corio_timeout_exit(cm, rc);
        logf_("timeout -> %s expired=%d", outcome(&b, rc, f, v), expired);
        return cancelled_main(rc) ? rc : 0;
    } else if (!strcmp(w[0], "shield")) {
        corio_aw a = item(w[1], label, sizeof label);
        corio_future *f = ensure(a, label), *s;
        if (corio_shield(CORIO_FUT(f), &s) < 0) abort();
        rc = corio_await(s, &v);
        logf_("shield -> %s", outcome(&b, rc, f, v));
        corio_future_unref(s);
        return cancelled_main(rc) ? rc : 0;
    } else if (!strcmp(w[0], "cancel")) {
        logf_("cancel %s -> %d", w[1], corio_future_cancel(lookup(w[1]), NULL));
    } else if (!strcmp(w[0], "cancelat")) {
        cancel_at *c = arena(sizeof *c);
        snprintf(c->target, sizeof c->target, "%s", w[2]);
        if (corio_call_later(corio_get_running_loop(), atof(w[1]), fire_cancel, c, NULL) < 0) abort();
    } else if (!strcmp(w[0], "taskgroup")) {
        corio_taskgroup *tg;
        if (corio_taskgroup_enter(&tg) < 0) abort();
        for (int i = 2; i < n; i++) {
            const char *d = w[i][0] == '~' ? w[i] + 1 : w[i];
            child_arg *c = arena(sizeof *c);
            c->d = find_def(d);
            new_label(d, c->label, sizeof c->label);
            corio_task *t;
            int r = corio_taskgroup_create_task(tg, child, c, NULL, &t);
            if (r == CORIO_EINVALSTATE) { /* shutting down (an eager child failed) */
                logf_("taskgroup create %s -> ERROR", c->label);
                break;
            }
            if (r < 0) abort();
            reg(c->label, t);
            corio_future_unref(t);
        }
        rc = corio_sleep(atof(w[1]));
        rc = corio_taskgroup_exit(tg, rc);
        if (rc == 0) logf_("taskgroup -> ok");
        else logf_("taskgroup -> %s", outcome(&b, rc, NULL, NULL));
        return cancelled_main(rc) ? rc : 0;
    } else if (!strcmp(w[0], "any")) {
        corio_aw aws[MAXW];
        char labels[MAXW][40];
        int k = 0;
        for (int i = 1; i < n; i++, k++) {
            corio_aw a = item(w[i], labels[k], sizeof labels[k]);
            aws[k] = CORIO_FUT(ensure(a, labels[k]));
        }
        size_t win = 0;
        rc = corio_any(aws, (size_t)k, &win, &v);
        if (rc == 0) logf_("any -> %s %ld", labels[win], (long)(intptr_t)v);
        else logf_("any -> %s", outcome(&b, rc, NULL, NULL));
        return cancelled_main(rc) ? rc : 0;
    } else {
        fprintf(stderr, "unknown step %s\n", w[0]);
        exit(3);
    }
    return 0;
}

static int main_task(void *arg, void **res) {
    (void)arg;
    (void)res;
    for (int i = 0; i < S->nsteps; i++) {
        int rc = run_step(&S->steps[i]);
        if (rc == CORIO_ECANCELED) {
            logf_("main: CANCELLED");
            return 0;
        }
    }
    return 0;
}

static void quiet(corio_loop *loop, const char *m, corio_future *f, const corio_error *e, void *a) {
    (void)loop, (void)m, (void)f, (void)e, (void)a;
}

static int copy_mode, eager_mode; /* --copy, --eager: the same traces in every mode */

static void run(scen *sc) {
    S = sc;
    printf("=== %s\n", sc->name);
    if (corio_loop_new(&sc->loop) < 0 || corio_loop_set_virtual_time(sc->loop, 1) < 0) abort();
    if (copy_mode && corio_loop_set_stack_mode(sc->loop, CORIO_STACK_COPY) < 0) abort();
    if (eager_mode && corio_loop_set_eager_tasks(sc->loop, 1) < 0) abort();
    corio_loop_set_exception_handler(sc->loop, quiet, NULL);
    if (corio_loop_create_task(sc->loop, main_task, NULL, "main", 0, &sc->main) < 0) abort();
    int rc = corio_loop_run_until_complete(sc->loop, sc->main, NULL);
    if (rc == CORIO_EDEADLK) {
        printf("ERROR deadlock\n");
    } else {
        corio_aw left[MAXN * 4];
        int nleft = 0;
        for (int i = 0; i < sc->ntasks; i++) {
            buf b = {{0}};
            fmt_future(&b, sc->tasks[i].f);
            printf("final %s %s\n", sc->tasks[i].label, b.s);
            if (!corio_future_done(sc->tasks[i].f)) left[nleft++] = CORIO_FUT(sc->tasks[i].f);
        }
        /* Cancel what is left (in creation order) until all have ended:
         * a task may catch a cancel and block again. */
        for (int round = 0; round < 32 && nleft > 0; round++) {
            for (int i = 0; i < nleft; i++) corio_future_cancel(left[i].fut, NULL);
            corio_future *g;
            if (corio_gather(left, (size_t)nleft, CORIO_RETURN_EXCEPTIONS, &g) < 0) abort();
            if (corio_loop_run_until_complete(sc->loop, g, NULL) == CORIO_EDEADLK) printf("ERROR deadlock\n");
            corio_future_unref(g);
            int k = 0;
            for (int i = 0; i < nleft; i++)
                if (!corio_future_done(left[i].fut)) left[k++] = left[i];
            nleft = k;
        }
    }
    for (int i = 0; i < sc->ntasks; i++) corio_future_unref(sc->tasks[i].f);
    for (int i = 0; i < sc->ngathers; i++) corio_future_unref(sc->gathers[i].f);
    corio_future_unref(sc->main);
    free_prims();
    if (corio_loop_free(sc->loop) < 0) abort();
    for (int i = 0; i < sc->narena; i++) free(sc->arena[i]);
    fflush(stdout);
}

/* ---- parsing ------------------------------------------------------------- */

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) *--e = 0;
    return s;
}

int main(int argc, char **argv) {
    for (; argc > 1 && !strncmp(argv[1], "--", 2); argc--, argv++) {
        if (!strcmp(argv[1], "--copy")) copy_mode = 1;
        else if (!strcmp(argv[1], "--eager")) eager_mode = 1;
        else {
            fprintf(stderr, "cdriver: unknown option %s (--copy, --eager)\n", argv[1]);
            return 2;
        }
    }
    FILE *in = argc > 1 ? fopen(argv[1], "r") : stdin;
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    static scen sc;
    int have = 0;
    char line[4096];
    while (fgets(line, sizeof line, in)) {
        if (!strncmp(line, "===", 3)) {
            if (have) run(&sc);
            for (int i = 0; i < sc.nsteps; i++)
                for (int j = 0; j < sc.steps[i].n; j++) free(sc.steps[i].w[j]);
            memset(&sc, 0, sizeof sc);
            snprintf(sc.name, sizeof sc.name, "%s", trim(line + 3));
            have = 1;
            continue;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = trim(line);
        if (!*s) continue;
        if (*s == '>') {
            step *st = &sc.steps[sc.nsteps++];
            for (char *tok = strtok(s + 1, " \t"); tok && st->n < MAXW; tok = strtok(NULL, " \t"))
                st->w[st->n++] = strdup(tok);
        } else {
            char *colon = strchr(s, ':');
            if (!colon) continue;
            *colon = 0;
            def *d = &sc.defs[sc.ndefs++];
            snprintf(d->name, sizeof d->name, "%s", trim(s));
            for (char *op = strtok(colon + 1, ";"); op && d->nops < MAXOPS; op = strtok(NULL, ";")) {
                char *t = trim(op);
                if (*t) snprintf(d->ops[d->nops++], sizeof d->ops[0], "%s", t);
            }
        }
    }
    if (have) run(&sc);
    for (int i = 0; i < sc.nsteps; i++)
        for (int j = 0; j < sc.steps[i].n; j++) free(sc.steps[i].w[j]);
    if (in != stdin) fclose(in);
    return 0;
}
