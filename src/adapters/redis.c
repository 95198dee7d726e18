/* hiredis inside corio tasks, on the public corio.h only (a user could
 * have written it): hiredis's five event hooks become add_reader /
 * add_writer registrations whose callbacks call redisAsyncHandleRead /
 * Write; a task sends a command and awaits a future its reply callback
 * completes; corio keeps the timeouts (hiredis 0.14 has no timer hook).
 *
 * Who closes the descriptor: hiredis 0.14's __redisAsyncFree runs the
 * pending callbacks (NULL replies), then the cleanup hook, then the
 * disconnect callback, then redisFree, which close(2)s c->fd. corio wants a
 * descriptor it watched closed through corio_close_fd, so that no
 * registration (nor an io_uring record of the number) outlives the
 * number. The cleanup hook therefore removes both callbacks, closes the
 * descriptor with corio_close_fd and sets c->fd to -1, so that redisFree
 * finds nothing to close. */
#define _GNU_SOURCE
#include "corio_redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A command (or a subscribe) between its task and hiredis. It lives in
 * its connection's list until both sides let go: hiredis once its
 * callback ran (exactly once for a command: with the reply, or with NULL
 * when the context goes; for a subscribe, once every name is confirmed or
 * the context went), the task once it left the wait. The task holds no
 * reference of its own, so a task destroyed inside the wait (its loop
 * closed) leaves nothing the connection's free does not find. */
typedef struct op {
    struct op *prev, *next; /* the connection's list of ops (it owns them) */
    struct op *qnext;       /* a subscribe: the FIFO of those awaiting confirmations */
    corio_redis *r;         /* borrowed */
    corio_future *fut;      /* owned: the reply or the error goes here */
    size_t left;            /* a subscribe: confirmations still to come */
    int waiting;            /* a task is inside the wait */
    int finished;           /* hiredis is done with it */
} op;

/* The names subscribed to, as sent (hiredis 0.14 asserts on an
 * unsubscribe reply for a name it has no callback for, so only these are
 * ever unsubscribed). */
typedef struct names {
    char **v; /* owned strings */
    size_t n, cap;
} names;

struct corio_redis {
    corio_loop *loop;          /* borrowed; anchor holds its memory */
    corio_future *anchor;      /* owned: a future of the loop, so the loop's memory outlives r */
    redisAsyncContext *ac;     /* hiredis's; NULL once it is gone (cleanup hook) */
    int fd;                    /* the descriptor while ac holds it, else -1 */
    int reading, writing;      /* a reader / writer callback is registered */
    int code;                  /* why the connection ended; 0 while it lives */
    char why[160];             /* the reason, for messages */
    char *peer;                /* owned: "host:port" or the path, for messages */
    double timeout;            /* per command; CORIO_FOREVER: none */
    corio_future *connecting;  /* owned reference while connecting */
    op *ops;                   /* owned: the live ops */
    op *subs, *subs_tail;      /* borrowed from ops: subscribes awaiting confirmations */
    names chans, pats;         /* owned */
    corio_queue *msgs;         /* owned: corio_redis_message pointers, each owned */
    size_t busy;               /* tasks inside a suspending call on r */
    corio_handle *failing;     /* owned: a scheduled close after a hook failed */
    corio_handle *flush;       /* owned: a write attempt scheduled for this iteration's end */
    int flushing;              /* inside that attempt */
    int guard_pipe;            /* SIGPIPE was not ignored at connect: block it around writes */
    int epipe;                 /* a write failed with EPIPE (its SIGPIPE is pending) */
    redisReplyObjectFunctions fns;       /* the reader's, wrapped (refuse_reply) */
    redisReplyObjectFunctions *fns0;     /* borrowed: hiredis's own, called by the wrappers */
};

/* ---- ops ------------------------------------------------------------------------- */

static int op_new(corio_redis *r, op **out) {
    op *o = calloc(1, sizeof *o);
    if (!o) return CORIO_ENOMEM;
    int rc = corio_future_new(r->loop, &o->fut);
    if (rc < 0) {
        free(o);
        return rc;
    }
    o->r = r;
    o->next = r->ops;
    if (r->ops) r->ops->prev = o;
    r->ops = o;
    *out = o;
    return 0;
}

static void op_free(op *o) {
    corio_redis *r = o->r;
    if (o->prev) o->prev->next = o->next;
    else r->ops = o->next;
    if (o->next) o->next->prev = o->prev;
    corio_future_unref(o->fut); /* a reply nobody took goes with it (its release hook) */
    free(o);
}

/* The side that lets go last frees it. */
static void op_done(op *o) {
    if (!o->waiting && o->finished) op_free(o);
}

/* ---- codes and messages -------------------------------------------------- */

/* The code for hiredis's I/O error text (hiredis keeps strerror's words,
 * not errno). */
static int io_code(const char *errstr, int fallback) {
    static const int known[] = {ECONNREFUSED, ECONNRESET, ENOENT,      EACCES,     ETIMEDOUT,
                                EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL, ENOTDIR,  EAGAIN,
                                EMFILE,       ENFILE,      EPIPE,       ECONNABORTED, EINVAL};
    size_t n = strlen(errstr);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        const char *s = strerror(known[i]); /* the end of it: "connect: ..." too */
        size_t k = strlen(s);
        if (n >= k && strcmp(errstr + n - k, s) == 0) return -known[i];
    }
    return fallback;
}

/* The code and reason of a context that ends (hiredis's err and errstr). */
static void note_end(corio_redis *r, const redisContext *c) {
    if (r->code) return; /* the first reason stands (the program's close, a hook failure) */
    if (c->err == REDIS_ERR_EOF || c->err == REDIS_ERR_IO || c->err == 0) {
        r->code = -ECONNRESET;
        snprintf(r->why, sizeof r->why, "%s", c->err ? c->errstr : "connection closed");
    } else {
        r->code = CORIO_EREDIS;
        snprintf(r->why, sizeof r->why, "%s", c->errstr[0] ? c->errstr : "hiredis failed");
    }
}

/* Argument i of an encoded command ("*N\r\n$L\r\nNAME\r\n..."),
 * upper-cased and printable, for messages and the commands refused ("?"
 * if there is none). */
static void cmd_arg(const char *buf, size_t len, int i, char *out, size_t cap) {
    const char *p = buf, *end = buf + len;
    snprintf(out, cap, "?");
    for (int k = 0; k <= i; k++) {
        p = memchr(p, '$', (size_t)(end - p));
        if (!p) return;
        char *e;
        unsigned long n = strtoul(p + 1, &e, 10);
        if (e + 2 > end || e[0] != '\r') return;
        const char *arg = e + 2;
        if (n > (size_t)(end - arg)) return;
        if (k == i) {
            size_t m = n < cap - 1 ? n : cap - 1;
            for (size_t j = 0; j < m; j++)
                out[j] = isprint((unsigned char)arg[j]) ? (char)toupper((unsigned char)arg[j]) : '?';
            out[m] = 0;
            return;
        }
        p = arg + n;
    }
}

/* Commands whose replies would not come one per command: hiredis 0.14
 * routes pub/sub and MONITOR replies to callbacks of its own (and asserts
 * on some), sharded pub/sub (redis 7) it does not know at all,
 * CLIENT REPLY OFF / SKIP would shift every later reply onto the wrong
 * command, and SYNC / PSYNC make the connection a replica's (an RDB
 * payload without its CRLF, then the replication stream). */
static int refused(const char *name, const char *sub) {
    static const char *const no[] = {"SUBSCRIBE",  "PSUBSCRIBE",   "UNSUBSCRIBE", "PUNSUBSCRIBE",
                                     "SSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR",     "RESET",
                                     "SYNC",       "PSYNC"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcmp(name, no[i]) == 0) return 1;
    return strcmp(name, "CLIENT") == 0 && strcmp(sub, "REPLY") == 0;
}

/* The connection's end as the caller's error (never 0). */
static int ended(corio_redis *r, const char *what) {
    return corio_raise(r->code ? r->code : -ECONNRESET, "redis %s %s: %s", what, r->peer,
                       r->why[0] ? r->why : "connection closed");
}

/* ---- the event hooks: registrations on the loop ------------------------------ */

static void on_readable(void *arg) {
    corio_redis *r = arg;
    if (r->ac) redisAsyncHandleRead(r->ac); /* may free the context (cleanup hook) */
}

/* hiredis writes with write(2), not send(MSG_NOSIGNAL): a peer gone makes
 * it raise SIGPIPE, which would end the program (corio ignores none of
 * its signals). So, as corio's own writes to pipes, the write is made
 * with SIGPIPE blocked, and one it raised is taken back before the mask
 * is restored (a program that ignores SIGPIPE pays nothing). */
static void handle_write(corio_redis *r) {
    if (!r->guard_pipe) {
        redisAsyncHandleWrite(r->ac);
        return;
    }
    sigset_t pipe_only, old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    r->epipe = 0;
    redisAsyncHandleWrite(r->ac); /* may free the context: the cleanup hook notes EPIPE */
    if (r->epipe) {
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&pipe_only, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void on_writable(void *arg) {
    corio_redis *r = arg;
    if (r->ac) handle_write(r);
}

static void fail_later(void *arg) {
    corio_redis *r = arg;
    corio_handle_unref(r->failing);
    r->failing = NULL;
    if (r->ac) redisAsyncFree(r->ac); /* r->code is set: pending commands get it */
}

/* A registration failed (no memory): hiredis cannot be told from inside
 * its hook, so the connection ends on the next iteration. */
static void hook_failed(corio_redis *r, int rc) {
    if (r->code) return;
    r->code = rc;
    snprintf(r->why, sizeof r->why, "cannot watch the descriptor: %s", corio_strerror(rc));
    if (corio_call_soon(r->loop, fail_later, r, &r->failing) < 0)
        corio_loop_call_exception_handler(r->loop, "redis: a connection could not be ended", NULL, NULL);
}

static void ev_add_read(void *arg) {
    corio_redis *r = arg;
    if (r->reading || r->fd < 0) return;
    int rc = corio_loop_add_reader(r->loop, r->fd, on_readable, r);
    if (rc < 0) hook_failed(r, rc);
    else r->reading = 1;
}

static void ev_del_read(void *arg) {
    corio_redis *r = arg;
    if (r->reading) (void)corio_loop_remove_reader(r->loop, r->fd);
    r->reading = 0;
}

/* Commands sent during an iteration go out together at its end, written
 * at once: a socket that takes them all (the usual case) costs no writer
 * registration (two epoll_ctl, or an io_uring poll, per batch). */
static void flush_now(void *arg) {
    corio_redis *r = arg;
    corio_handle_unref(r->flush);
    r->flush = NULL;
    if (!r->ac) return;
    r->flushing = 1;
    handle_write(r); /* what stays unwritten asks for a writer */
    r->flushing = 0;
}

static void ev_add_write(void *arg) {
    corio_redis *r = arg;
    if (r->writing || r->fd < 0) return;
    if (!r->connecting && !r->flushing) { /* connected: try writing first */
        if (r->flush || corio_call_soon(r->loop, flush_now, r, &r->flush) == 0) return;
    }
    int rc = corio_loop_add_writer(r->loop, r->fd, on_writable, r);
    if (rc < 0) hook_failed(r, rc);
    else r->writing = 1;
}

static void ev_del_write(void *arg) {
    corio_redis *r = arg;
    if (r->writing) (void)corio_loop_remove_writer(r->loop, r->fd);
    r->writing = 0;
}

static void fail_subs(corio_redis *r) {
    while (r->subs) {
        op *s = r->subs;
        r->subs = s->qnext;
        if (!corio_future_done(s->fut)) (void)corio_future_set_error(s->fut, r->code, "%s", r->why);
        s->finished = 1;
        op_done(s);
    }
    r->subs_tail = NULL;
}

/* The context goes (hiredis's __redisAsyncFree, after the pending
 * callbacks ran): the registrations first, then the descriptor through
 * corio, and hiredis keeps no number to close. */
static void ev_cleanup(void *arg) {
    corio_redis *r = arg;
    redisAsyncContext *ac = r->ac;
    if (r->flush) {
        (void)corio_handle_cancel(r->flush);
        corio_handle_unref(r->flush);
        r->flush = NULL;
    }
    if (ac) {
        note_end(r, &ac->c);
        r->epipe = ac->c.err == REDIS_ERR_IO && io_code(ac->c.errstr, 0) == -EPIPE;
    }
    ev_del_read(r);
    ev_del_write(r);
    if (r->fd >= 0) {
        if (ac && ac->c.fd == r->fd) ac->c.fd = -1;
        (void)corio_close_fd(r->fd);
        r->fd = -1;
    }
    r->ac = NULL;
    if (r->connecting && !corio_future_done(r->connecting))
        (void)corio_future_set_error(r->connecting, r->code, "%s", r->why);
    fail_subs(r);
    (void)corio_queue_shutdown(r->msgs, 0); /* readers take what is left, then the end */
}

/* ---- replies ---------------------------------------------------------------- */

/* hiredis 0.14 asserts (the program aborts) on a reply no command asked
 * for outside pub/sub, and on a pub/sub reply of a shape it does not
 * expect: a server that is not redis (a POP3 greeting "+OK ...") or a
 * broken proxy would end the program. The reader's object functions are
 * wrapped so that such a reply is refused as it is built: hiredis takes
 * that as a reader failure and ends the connection (CORIO_EREDIS with
 * this reason). Error replies stay hiredis's (it ends the connection with
 * their text). 1: refuse. */
static int refuse_reply(const redisReadTask *t, long long elements, int nil) {
    corio_redis *r = t->privdata;
    const redisAsyncContext *ac = r ? r->ac : NULL;
    int type = nil ? REDIS_REPLY_NIL : t->type; /* a nil's task has the type it lacks */
    if (!ac || ac->replies.head || type == REDIS_REPLY_ERROR) return 0; /* a command's */
    const char *why = NULL;
    if (!(ac->c.flags & REDIS_SUBSCRIBED)) {
        if (!t->parent) why = "a reply no command asked for";
    } else if (!t->parent) {
        if (type == REDIS_REPLY_ARRAY && elements < 3) why = "a malformed pub/sub reply";
    } else if (!t->parent->parent) {
        const redisReply *m = t->parent->obj;
        if (t->idx <= 1 && type != REDIS_REPLY_STRING) why = "a malformed pub/sub reply";
        if (t->idx == 2 && type != REDIS_REPLY_INTEGER && m && m->element[0] &&
            strcasestr(m->element[0]->str, "unsubscribe"))
            why = "a malformed pub/sub reply";
    }
    if (!why) return 0;
    if (!r->code) {
        r->code = CORIO_EREDIS;
        snprintf(r->why, sizeof r->why, "%s", why);
    }
    return 1;
}

static void *guard_string(const redisReadTask *t, char *s, size_t n) {
    corio_redis *r = t->privdata;
    return refuse_reply(t, 0, 0) ? NULL : r->fns0->createString(t, s, n);
}

static void *guard_array(const redisReadTask *t, int n) {
    corio_redis *r = t->privdata;
    return refuse_reply(t, n, 0) ? NULL : r->fns0->createArray(t, n);
}

static void *guard_integer(const redisReadTask *t, long long v) {
    corio_redis *r = t->privdata;
    return refuse_reply(t, 0, 0) ? NULL : r->fns0->createInteger(t, v);
}

static void *guard_nil(const redisReadTask *t) {
    corio_redis *r = t->privdata;
    return refuse_reply(t, 0, 1) ? NULL : r->fns0->createNil(t);
}

/* Take hiredis's reply without copying it: a new top node gets the tree,
 * and the node hiredis frees after the callback is left empty. */
static redisReply *take(redisReply *reply) {
    redisReply *mine = malloc(sizeof *mine);
    if (!mine) return NULL;
    *mine = *reply;
    reply->type = REDIS_REPLY_INTEGER; /* freeReplyObject frees nothing under it */
    reply->str = NULL;
    reply->len = 0;
    reply->element = NULL;
    reply->elements = 0;
    return mine;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
    op *c = privdata;
    corio_redis *r = c->r;
    /* A task that left (cancelled, timed out, destroyed) or a future
     * already done: the reply is dropped here and hiredis frees it. */
    if (c->waiting && !corio_future_done(c->fut)) {
        if (!reply) {
            note_end(r, &ac->c);
            (void)corio_future_set_error(c->fut, r->code, "%s", r->why);
        } else {
            redisReply *mine = take(reply);
            if (!mine) {
                (void)corio_future_set_error(c->fut, CORIO_ENOMEM, "redis: no memory for a reply");
            } else {
                /* A reply whose task left after it came is freed with the future. */
                (void)corio_future_set_release(c->fut, freeReplyObject);
                if (corio_future_set_result(c->fut, mine) < 0) freeReplyObject(mine);
            }
        }
    }
    c->finished = 1;
    op_done(c);
}

void corio_redis_reply_free(struct redisReply *reply) {
    if (reply) freeReplyObject(reply);
}

/* ---- waiting -------------------------------------------------------------------- */

static int in_task(corio_redis *r) {
    if (!corio_current_task()) return CORIO_ENOTINTASK;
    return corio_get_running_loop() == r->loop ? 0 : CORIO_EWRONGLOOP;
}

/* The calls that are not task calls (close, free, unsubscribe) touch the
 * loop's registrations and futures: only from the loop's own thread, or
 * while it runs nowhere (as corio_close_fd). */
static int not_ours(const corio_redis *r, const char *what) {
    corio_loop *cur = corio_get_running_loop();
    if (cur == r->loop || corio_loop_is_closed(r->loop) || (!cur && !corio_loop_is_running(r->loop)))
        return 0;
    return corio_raise(CORIO_EWRONGLOOP, "redis %s %s: the connection belongs to another loop", what,
                       r->peer);
}

/* Await o within the timeout (the task's scopes apply too), then let go
 * of it. *result may be NULL. */
static int await_op(corio_redis *r, op *o, double timeout, void **result) {
    corio_timeout *cm = NULL;
    int rc = 0;
    if (timeout != CORIO_FOREVER && (rc = corio_timeout_enter(timeout, &cm)) < 0)
        return rc; /* hiredis holds it: its callback (or the confirmations) free it */
    r->busy++;
    o->waiting = 1;
    rc = corio_await(o->fut, result);
    o->waiting = 0;
    r->busy--;
    op_done(o);
    if (cm) rc = corio_timeout_exit(cm, rc);
    return rc;
}

/* Send an encoded command (buf: hiredis's, freed here) and wait for its reply. */
static int send_encoded(corio_redis *r, char *buf, int len, redisReply **reply) {
    char name[40], sub[16];
    cmd_arg(buf, (size_t)len, 0, name, sizeof name);
    cmd_arg(buf, (size_t)len, 1, sub, sizeof sub);
    int rc = 0;
    if (len < 4 || strncmp(buf, "*0\r\n", 4) == 0) /* no argument: redis would never answer */
        rc = corio_raise(CORIO_EINVAL, "redis command %s: empty command", r->peer);
    else if (refused(name, sub))
        rc = corio_raise(CORIO_EINVAL, "redis %s %s: not through a command call (pub/sub: "
                         "corio_redis_subscribe)", name, r->peer);
    if (!rc && !r->ac) rc = ended(r, name);
    if (!rc && (r->ac->c.flags & REDIS_SUBSCRIBED))
        rc = corio_raise(CORIO_EINVALSTATE, "redis %s %s: the connection is subscribed", name, r->peer);
    op *c = NULL;
    if (!rc) rc = op_new(r, &c);
    if (!rc && redisAsyncFormattedCommand(r->ac, on_reply, c, buf, (size_t)len) != REDIS_OK) {
        op_free(c);
        rc = corio_raise(CORIO_EREDIS, "redis %s %s: hiredis refused the command", name, r->peer);
    }
    free(buf);
    if (rc < 0) return rc;
    void *res = NULL;
    rc = await_op(r, c, r->timeout, &res); /* c may be gone after it */
    if (rc == CORIO_ETIMEDOUT) return corio_raise(rc, "redis %s %s: timed out", name, r->peer);
    if (rc == CORIO_ECANCELED) return rc;
    if (rc < 0) return corio_raise(rc, "redis %s %s: %s", name, r->peer, r->code ? r->why : corio_strerror(rc));
    redisReply *rep = res;
    *reply = rep;
    if (rep->type == REDIS_REPLY_ERROR)
        return corio_raise(CORIO_EREDIS, "redis %s %s: %.*s", name, r->peer, (int)rep->len, rep->str);
    return 0;
}

static int check_cmd(corio_redis *r, struct redisReply **reply) {
    if (reply) *reply = NULL;
    if (!r || !reply) return CORIO_EINVAL;
    return in_task(r);
}

int corio_redis_vcommand(corio_redis *r, struct redisReply **reply, const char *fmt, va_list ap) {
    int rc = check_cmd(r, reply);
    if (rc < 0) return rc;
    if (!fmt) return CORIO_EINVAL;
    char *buf = NULL;
    int len = redisvFormatCommand(&buf, fmt, ap); /* -1: no memory, -2: a bad format */
    if (len == -1) return CORIO_ENOMEM;
    if (len <= 0 || !buf) {
        free(buf);
        return corio_raise(CORIO_EINVAL, "redis command %s: bad format \"%s\"", r->peer, fmt);
    }
    return send_encoded(r, buf, len, reply);
}

int corio_redis_command(corio_redis *r, struct redisReply **reply, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = corio_redis_vcommand(r, reply, fmt, ap);
    va_end(ap);
    return rc;
}

int corio_redis_command_argv(corio_redis *r, struct redisReply **reply, int argc,
                             const char *const *argv, const size_t *argvlen) {
    int rc = check_cmd(r, reply);
    if (rc < 0) return rc;
    if (argc < 1 || !argv) return CORIO_EINVAL;
    for (int i = 0; i < argc; i++)
        if (!argv[i]) return CORIO_EINVAL;
    char *buf = NULL;
    int len = redisFormatCommandArgv(&buf, argc, (const char **)argv, argvlen);
    if (len < 0 || !buf) return CORIO_ENOMEM;
    return send_encoded(r, buf, len, reply);
}

/* ---- pub/sub ------------------------------------------------------------------------- */

static corio_redis_message *message_new(const redisReply *pat, const redisReply *ch,
                                        const redisReply *data) {
    size_t pl = pat ? pat->len : 0, cl = ch->len, dl = data->len;
    corio_redis_message *m = malloc(sizeof *m + pl + cl + dl + 3);
    if (!m) return NULL;
    char *p = (char *)(m + 1);
    m->pattern = pat ? p : NULL;
    m->pattern_len = pl;
    if (pl) memcpy(p, pat->str, pl);
    p[pl] = 0;
    p += pl + 1;
    m->channel = p;
    m->channel_len = cl;
    if (cl) memcpy(p, ch->str, cl);
    p[cl] = 0;
    p += cl + 1;
    m->data = p;
    m->data_len = dl;
    if (dl) memcpy(p, data->str, dl);
    p[dl] = 0;
    return m;
}

void corio_redis_message_free(corio_redis_message *msg) { free(msg); }

static int is_str(const redisReply *e) {
    return e && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS);
}

/* Every reply of a subscribed connection: confirmations and messages (a
 * NULL reply is the context going: its cleanup hook deals with that). */
static void on_push(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    corio_redis *r = privdata;
    redisReply *m = reply;
    if (!m || m->type != REDIS_REPLY_ARRAY || m->elements < 3 || !is_str(m->element[0])) return;
    const char *kind = m->element[0]->str;
    if (strcasecmp(kind, "subscribe") == 0 || strcasecmp(kind, "psubscribe") == 0) {
        op *s = r->subs;
        if (s && --s->left == 0) {
            r->subs = s->qnext;
            if (!r->subs) r->subs_tail = NULL;
            if (!corio_future_done(s->fut)) (void)corio_future_set_result(s->fut, NULL);
            s->finished = 1;
            op_done(s);
        }
        return;
    }
    int pm = strcasecmp(kind, "pmessage") == 0;
    if (!pm && strcasecmp(kind, "message") != 0) return;
    if (m->elements < (pm ? 4u : 3u) || !is_str(m->element[1]) || !is_str(m->element[2]) ||
        (pm && !is_str(m->element[3])))
        return;
    corio_redis_message *msg = pm ? message_new(m->element[1], m->element[2], m->element[3])
                                  : message_new(NULL, m->element[1], m->element[2]);
    if (!msg || corio_queue_put_nowait(r->msgs, msg) < 0) {
        free(msg);
        corio_loop_call_exception_handler(r->loop, "redis: a pub/sub message was dropped", NULL, NULL);
    }
}

static int names_has(const names *s, const char *x) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0) return 1;
    return 0;
}

static int names_add(names *s, const char *x) {
    if (names_has(s, x)) return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) return CORIO_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(x))) return CORIO_ENOMEM;
    s->n++;
    return 0;
}

static void names_clear(names *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int subscribe(corio_redis *r, const char *verb, names *set, const char *const *v, size_t n) {
    if (!r || !v || n == 0 || n > 1000000) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!v[i]) return CORIO_EINVAL;
    int rc = in_task(r);
    if (rc < 0) return rc;
    if (!r->ac) return ended(r, verb);
    const char **argv = malloc((n + 1) * sizeof *argv);
    op *s = NULL;
    if (!argv || op_new(r, &s) < 0) {
        free(argv);
        return CORIO_ENOMEM;
    }
    argv[0] = verb;
    for (size_t i = 0; i < n; i++) argv[i + 1] = v[i];
    if (redisAsyncCommandArgv(r->ac, on_push, r, (int)n + 1, argv, NULL) != REDIS_OK)
        rc = corio_raise(CORIO_EREDIS, "redis %s %s: hiredis refused the command", verb, r->peer);
    free(argv);
    /* Only names sent are recorded (without memory one is just never
     * unsubscribed by name: n 0 still reaches the others). */
    for (size_t i = 0; rc == 0 && i < n; i++) (void)names_add(set, v[i]);
    if (rc < 0) {
        op_free(s);
        return rc;
    }
    s->left = n;
    if (r->subs_tail) r->subs_tail->qnext = s;
    else r->subs = s;
    r->subs_tail = s;
    rc = await_op(r, s, r->timeout, NULL);
    if (rc == CORIO_ETIMEDOUT) return corio_raise(rc, "redis %s %s: timed out", verb, r->peer);
    if (rc < 0 && rc != CORIO_ECANCELED && r->code) return ended(r, verb);
    if (rc < 0 && rc != CORIO_ECANCELED) return corio_raise(rc, "redis %s %s: %s", verb, r->peer, corio_strerror(rc));
    return rc;
}

int corio_redis_subscribe(corio_redis *r, const char *const *channels, size_t n) {
    return subscribe(r, "SUBSCRIBE", r ? &r->chans : NULL, channels, n);
}

int corio_redis_psubscribe(corio_redis *r, const char *const *patterns, size_t n) {
    return subscribe(r, "PSUBSCRIBE", r ? &r->pats : NULL, patterns, n);
}

static int unsubscribe(corio_redis *r, const char *verb, names *set, const char *const *v, size_t n) {
    if (!r || (n && !v)) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!v[i]) return CORIO_EINVAL;
    int rc = not_ours(r, verb);
    if (rc < 0) return rc;
    if (!r->ac) return ended(r, verb);
    if (!(r->ac->c.flags & REDIS_SUBSCRIBED))
        return corio_raise(CORIO_EINVALSTATE, "redis %s %s: not subscribed", verb, r->peer);
    /* Only names subscribed to go out (never the bare verb: redis would
     * answer with a nil name, on which hiredis 0.14 asserts). */
    const char **argv = malloc((set->n + 1) * sizeof *argv);
    if (!argv) return CORIO_ENOMEM;
    int argc = 1;
    argv[0] = verb;
    for (size_t i = 0; i < set->n;) {
        int want = n == 0;
        for (size_t j = 0; j < n && !want; j++) want = strcmp(v[j], set->v[i]) == 0;
        if (!want) {
            i++;
            continue;
        }
        argv[argc++] = set->v[i];
        set->v[i] = set->v[--set->n]; /* hand the string to argv; freed below */
    }
    if (argc > 1 && redisAsyncCommandArgv(r->ac, NULL, NULL, argc, argv, NULL) != REDIS_OK)
        rc = corio_raise(CORIO_EREDIS, "redis %s %s: hiredis refused the command", verb, r->peer);
    for (int i = 1; i < argc; i++) free((char *)argv[i]);
    free(argv);
    return rc;
}

int corio_redis_unsubscribe(corio_redis *r, const char *const *channels, size_t n) {
    return unsubscribe(r, "UNSUBSCRIBE", r ? &r->chans : NULL, channels, n);
}

int corio_redis_punsubscribe(corio_redis *r, const char *const *patterns, size_t n) {
    return unsubscribe(r, "PUNSUBSCRIBE", r ? &r->pats : NULL, patterns, n);
}

corio_queue *corio_redis_messages(corio_redis *r) { return r ? r->msgs : NULL; }

int corio_redis_get_message(corio_redis *r, corio_redis_message **msg) {
    if (msg) *msg = NULL;
    if (!r || !msg) return CORIO_EINVAL;
    int rc = in_task(r);
    if (rc < 0) return rc;
    void *item = NULL;
    r->busy++;
    rc = corio_queue_get(r->msgs, &item);
    r->busy--;
    if (rc == CORIO_ESHUTDOWN && r->code) return ended(r, "get_message");
    if (rc < 0) return rc;
    *msg = item;
    return 0;
}

/* ---- connecting ------------------------------------------------------------------------ */

static void on_connect(const redisAsyncContext *ac, int status) {
    corio_redis *r = ac->data;
    if (!r->connecting || corio_future_done(r->connecting)) return;
    if (status == REDIS_OK) {
        (void)corio_future_set_result(r->connecting, NULL);
        return;
    }
    r->code = ac->c.err == REDIS_ERR_IO ? io_code(ac->c.errstr, CORIO_EREDIS) : CORIO_EREDIS;
    snprintf(r->why, sizeof r->why, "%s", ac->c.errstr[0] ? ac->c.errstr : "connect failed");
    (void)corio_future_set_error(r->connecting, r->code, "%s", r->why);
}

static void conn_free(corio_redis *r) {
    while (r->ops) op_free(r->ops); /* those of tasks destroyed inside a wait */
    if (r->flush) {
        (void)corio_handle_cancel(r->flush);
        corio_handle_unref(r->flush);
    }
    if (r->failing) {
        (void)corio_handle_cancel(r->failing);
        corio_handle_unref(r->failing);
    }
    corio_future_unref(r->connecting);
    corio_future_unref(r->anchor);
    if (r->msgs) { /* still there only where nobody can wait on it (a failed connect) */
        void *item;
        while (corio_queue_get_nowait(r->msgs, &item) == 0) free(item);
        (void)corio_queue_free(r->msgs);
    }
    names_clear(&r->chans);
    names_clear(&r->pats);
    free(r->peer);
    free(r);
}

static int conn_new(const char *peer, corio_redis **out) {
    corio_loop *loop = corio_get_running_loop();
    if (!corio_current_task() || !loop) return CORIO_ENOTINTASK;
    corio_redis *r = calloc(1, sizeof *r);
    if (!r) return CORIO_ENOMEM;
    r->loop = loop;
    r->fd = -1;
    r->timeout = CORIO_FOREVER;
    int rc = 0;
    if (!(r->peer = strdup(peer))) rc = CORIO_ENOMEM;
    if (!rc) rc = corio_future_new(loop, &r->anchor);
    if (!rc) rc = corio_future_new(loop, &r->connecting);
    if (!rc) rc = corio_queue_new(&r->msgs, 0);
    if (rc < 0) {
        conn_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* Take over the context hiredis made (connect started) and wait until it
 * is connected. */
static int attach_and_wait(corio_redis *r, redisAsyncContext *ac, double timeout, corio_redis **out) {
    if (!ac) {
        conn_free(r);
        return CORIO_ENOMEM;
    }
    if (ac->err) {
        /* hiredis reports a socket(2) that failed as REDIS_ERR_OTHER ("Can't
         * create socket: Too many open files"): its words still name the errno. */
        int rc = io_code(ac->errstr, CORIO_EREDIS);
        rc = corio_raise(rc, "redis connect %s: %s", r->peer, ac->errstr);
        redisAsyncFree(ac); /* no hook set, and hiredis closed its descriptor already */
        conn_free(r);
        return rc;
    }
    /* hiredis 0.14 asks for neither close-on-exec (corio's descriptors all
     * are) nor, in its non-blocking connect, TCP_NODELAY (asyncio's
     * streams have it: a command sent while an earlier one is unanswered
     * must not wait for an ACK). */
    int flags = fcntl(ac->c.fd, F_GETFD);
    if (flags >= 0) (void)fcntl(ac->c.fd, F_SETFD, flags | FD_CLOEXEC);
    if (ac->c.connection_type == REDIS_CONN_TCP) {
        int one = 1;
        (void)setsockopt(ac->c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    r->ac = ac;
    r->fd = ac->c.fd;
    r->fns0 = ac->c.reader->fn;
    r->fns = *r->fns0;
    r->fns.createString = guard_string;
    r->fns.createArray = guard_array;
    r->fns.createInteger = guard_integer;
    r->fns.createNil = guard_nil;
    ac->c.reader->fn = &r->fns;
    ac->c.reader->privdata = r; /* each read task's privdata */
    struct sigaction sa;
    r->guard_pipe = sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_IGN;
    ac->data = r;
    ac->ev.data = r;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    (void)redisAsyncSetConnectCallback(ac, on_connect);
    ev_add_write(r); /* the connect completes when the socket is writable */
    corio_timeout *cm = NULL;
    int rc = timeout == CORIO_FOREVER ? 0 : corio_timeout_enter(timeout, &cm);
    if (rc == 0) {
        r->busy++;
        rc = corio_await(r->connecting, NULL);
        r->busy--;
        if (cm) rc = corio_timeout_exit(cm, rc);
    }
    if (rc < 0) {
        if (!r->code) r->code = rc;
        if (r->ac) redisAsyncFree(r->ac); /* cancelled or timed out: hooks removed, fd closed */
        if (rc == CORIO_ETIMEDOUT) rc = corio_raise(rc, "redis connect %s: timed out", r->peer);
        else if (rc != CORIO_ECANCELED) rc = corio_raise(rc, "redis connect %s: %s", r->peer, r->why);
        conn_free(r);
        return rc;
    }
    corio_future_unref(r->connecting);
    r->connecting = NULL;
    *out = r;
    return 0;
}

int corio_redis_connect(const char *host, int port, double timeout, corio_redis **out) {
    if (out) *out = NULL;
    if (!host || !out || port <= 0 || port > 65535 || timeout != timeout) return CORIO_EINVAL;
    char h[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') host++, n -= 2; /* "[::1]" */
    if (n >= sizeof h) return corio_raise(CORIO_EINVAL, "redis connect %s: not a numeric address", host);
    memcpy(h, host, n);
    h[n] = 0;
    unsigned char a[16];
    int v6 = inet_pton(AF_INET6, h, a) == 1;
    if (!v6 && inet_pton(AF_INET, h, a) != 1)
        return corio_raise(CORIO_EINVAL, "redis connect %s: not a numeric address", h);
    char peer[INET6_ADDRSTRLEN + 16];
    snprintf(peer, sizeof peer, v6 ? "[%s]:%d" : "%s:%d", h, port);
    corio_redis *r;
    int rc = conn_new(peer, &r);
    if (rc < 0) return rc;
    return attach_and_wait(r, redisAsyncConnect(h, port), timeout, out);
}

int corio_redis_connect_unix(const char *path, double timeout, corio_redis **out) {
    if (out) *out = NULL;
    if (!path || !*path || !out || timeout != timeout) return CORIO_EINVAL;
    if (strlen(path) >= 108) return corio_raise(CORIO_EINVAL, "redis connect %s: path too long", path);
    corio_redis *r;
    int rc = conn_new(path, &r);
    if (rc < 0) return rc;
    return attach_and_wait(r, redisAsyncConnectUnix(path), timeout, out);
}

/* ---- the connection -------------------------------------------------------------------- */

int corio_redis_set_timeout(corio_redis *r, double timeout) {
    if (!r || timeout != timeout) return CORIO_EINVAL;
    r->timeout = timeout < 0 ? 0 : timeout;
    return 0;
}

int corio_redis_fd(const corio_redis *r) { return r ? r->fd : -1; }

int corio_redis_is_connected(const corio_redis *r) { return r && r->ac && !r->code; }

int corio_redis_close(corio_redis *r) {
    if (!r) return CORIO_EINVAL;
    int rc = not_ours(r, "close");
    if (rc < 0) return rc;
    if (!r->ac) return 0;
    if (!r->code) {
        r->code = CORIO_EFDCLOSED;
        snprintf(r->why, sizeof r->why, "the connection was closed");
    }
    redisAsyncFree(r->ac); /* pending callbacks run with NULL, then the cleanup hook */
    return 0;
}

int corio_redis_free(corio_redis *r) {
    if (!r) return 0;
    int rc = not_ours(r, "free");
    if (rc < 0) return rc;
    /* A loop closed under its tasks destroyed them inside their calls. */
    if (r->busy && !corio_loop_is_closed(r->loop)) return CORIO_EBUSY;
    corio_redis_close(r);
    /* The messages left are freed; a task still inside a get on the
     * queue itself keeps it (and r) alive. */
    void *item;
    while (corio_queue_get_nowait(r->msgs, &item) == 0) free(item);
    rc = corio_queue_free(r->msgs);
    if (rc < 0 && !corio_loop_is_closed(r->loop)) return rc;
    r->msgs = NULL; /* a loop closed under a waiter: the queue is left, r goes */
    conn_free(r);
    return 0;
}
