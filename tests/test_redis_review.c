/* A hostile review of the hiredis adapter (corio_redis.h): probes of the
 * wrong order, cancellation at every point with replies verified by
 * unique values, a server killed and restarted, huge and deeply nested
 * replies, bad arguments, a resubscribe racing an unsubscribe, calls
 * from another thread, a pub/sub flood and descriptor reuse after
 * hiredis closed its socket. Against the real redis-server the tests
 * start (redis_server.h); without hiredis or redis-server they skip. */
#include "test.h"

#ifndef CORIO_TEST_REDIS

#define SKIP_NO_HIREDIS(n)                                                                \
    TEST(n) {                                                                             \
        printf("corio was built without hiredis (Debian: libhiredis-dev): skipped\n");   \
        return TEST_SKIP;                                                                 \
    }
SKIP_NO_HIREDIS(redis_rev_resubscribe)
SKIP_NO_HIREDIS(redis_rev_bad_format)
SKIP_NO_HIREDIS(redis_rev_other_thread)
SKIP_NO_HIREDIS(redis_rev_cancel_storm)
SKIP_NO_HIREDIS(redis_rev_restart)
SKIP_NO_HIREDIS(redis_rev_huge)
SKIP_NO_HIREDIS(redis_rev_args)
SKIP_NO_HIREDIS(redis_rev_wrong_order)
SKIP_NO_HIREDIS(redis_rev_flood)
SKIP_NO_HIREDIS(redis_rev_reuse_loop)
SKIP_NO_HIREDIS(redis_rev_loop_closed)
SKIP_NO_HIREDIS(redis_rev_replica)
SKIP_NO_HIREDIS(redis_rev_extra_reply)
SKIP_NO_HIREDIS(redis_rev_own_fd)
SKIP_NO_HIREDIS(redis_rev_limits)
SKIP_NO_HIREDIS(redis_rev_many_names)
SKIP_NO_HIREDIS(redis_rev_unix_pipe)
SKIP_NO_HIREDIS(redis_rev_close_race)

#else

#include "corio_redis.h"
#include "redis_server.h"

#include <hiredis/hiredis.h>

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/un.h>

typedef struct pending_cmd {
    corio_redis *r;
    int rc;
} pending_cmd;

static int ping_task(void *arg, void **res) {
    (void)res;
    pending_cmd *p = arg;
    redisReply *rep = NULL;
    p->rc = corio_redis_command(p->r, &rep, "PING");
    if (p->rc == 0 && strcmp(rep->str, "PONG") != 0) p->rc = -1;
    corio_redis_reply_free(rep);
    return 0;
}

typedef struct sub_job {
    corio_redis *r;
    int rc;
} sub_job;

static int sub_task(void *arg, void **res) {
    (void)res;
    sub_job *j = arg;
    const char *ch[] = {"ch"};
    j->rc = corio_redis_subscribe(j->r, ch, 1);
    return 0;
}

static corio_redis *rconn(void) {
    corio_redis *r = NULL;
    int rc = corio_redis_connect("127.0.0.1", srv.port, 5, &r);
    if (rc) fprintf(stderr, "connect: %s\n", corio_error_message(corio_current_error()));
    ASSERT_EQ(rc, 0);
    return r;
}

static void ok_cmd(corio_redis *r, const char *cmd) {
    redisReply *rep = NULL;
    int rc = corio_redis_command(r, &rep, cmd);
    if (rc) fprintf(stderr, "%s: %s\n", cmd, corio_error_message(corio_current_error()));
    ASSERT_EQ(rc, 0);
    corio_redis_reply_free(rep);
}

/* Publish on ch until n subscribers get it (the subscription confirmed). */
static void publish_until(corio_redis *p, const char *ch, const char *data, long long n) {
    for (int tries = 0; tries < 500; tries++) {
        redisReply *rep;
        ASSERT_EQ(corio_redis_command(p, &rep, "PUBLISH %s %s", ch, data), 0);
        long long got = rep->integer;
        corio_redis_reply_free(rep);
        if (got >= n) return;
        corio_sleep(0.01);
    }
    ASSERT(!"never subscribed");
}

/* ---- a subscribe sent while an unsubscribe of everything is in flight ---- */

/* hiredis 0.14 leaves subscribed mode on the "unsubscribe ... 0" reply and
 * asserts on the next subscribe confirmation if it arrives after that. */
static int resubscribe_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *s = rconn(), *p = rconn();
    const char *a[] = {"ra"}, *b[] = {"rb"};
    ASSERT_EQ(corio_redis_subscribe(s, a, 1), 0);
    ASSERT_EQ(corio_redis_unsubscribe(s, NULL, 0), 0);
    ASSERT_EQ(corio_redis_subscribe(s, b, 1), 0);
    publish_until(p, "rb", "hello", 1);
    corio_redis_message *m;
    ASSERT_EQ(corio_redis_get_message(s, &m), 0);
    ASSERT_STR(m->channel, "rb");
    ASSERT_STR(m->data, "hello");
    corio_redis_message_free(m);
    /* the same name again, unsubscribed and subscribed at once */
    ASSERT_EQ(corio_redis_unsubscribe(s, b, 1), 0);
    ASSERT_EQ(corio_redis_subscribe(s, b, 1), 0);
    publish_until(p, "rb", "again", 1);
    for (;;) { /* messages before the unsubscribe may still be queued */
        ASSERT_EQ(corio_redis_get_message(s, &m), 0);
        int last = strcmp(m->data, "again") == 0;
        corio_redis_message_free(m);
        if (last) break;
    }
    /* and out of it: commands work once redis confirmed */
    ASSERT_EQ(corio_redis_unsubscribe(s, NULL, 0), 0);
    redisReply *rep = NULL;
    int rc = CORIO_EINVALSTATE;
    for (int i = 0; i < 500 && rc == CORIO_EINVALSTATE; i++) {
        rc = corio_redis_command(s, &rep, "PING");
        if (rc == CORIO_EINVALSTATE) corio_sleep(0.01);
    }
    ASSERT_EQ(rc, 0);
    ASSERT_STR(rep->str, "PONG");
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_free(s), 0);
    ASSERT_EQ(corio_redis_free(p), 0);
    return 0;
}

TEST(redis_rev_resubscribe) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(resubscribe_body, NULL);
    server_stop();
    return 0;
}

/* ---- a bad format is CORIO_EINVAL with a message, not CORIO_ENOMEM ---- */

static int bad_format_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *r = rconn();
    redisReply *rep = (redisReply *)1;
    ASSERT_EQ(corio_redis_command(r, &rep, "GET %q"), CORIO_EINVAL);
    ASSERT(rep == NULL);
    ASSERT(strstr(corio_error_message(corio_current_error()), "format"));
    ASSERT_EQ(corio_redis_command(r, &rep, "GET %-q"), CORIO_EINVAL);
    ok_cmd(r, "PING"); /* nothing of it went out */
    ASSERT_EQ(corio_redis_free(r), 0);
    return 0;
}

TEST(redis_rev_bad_format) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(bad_format_body, NULL);
    server_stop();
    return 0;
}

/* ---- calls from another thread while the connection's loop runs ---- */

typedef struct xthread {
    corio_redis *r;
    atomic_int ready, done;
    int rc_cmd, rc_close, rc_unsub, rc_free, rc_msg;
} xthread;

static int other_loop_task(void *arg, void **res) {
    (void)res;
    xthread *x = arg;
    redisReply *rep = NULL;
    corio_redis_message *m = NULL;
    x->rc_cmd = corio_redis_command(x->r, &rep, "PING");
    x->rc_msg = corio_redis_get_message(x->r, &m);
    x->rc_unsub = corio_redis_unsubscribe(x->r, NULL, 0);
    x->rc_close = corio_redis_close(x->r);
    x->rc_free = corio_redis_free(x->r);
    corio_redis_reply_free(rep);
    corio_redis_message_free(m);
    return 0;
}

static void *other_thread(void *arg) {
    xthread *x = arg;
    while (!atomic_load(&x->ready)) usleep(1000);
    corio_loop *loop = NULL;
    if (corio_loop_new(&loop) == 0) {
        corio_task *t;
        if (corio_loop_create_task(loop, other_loop_task, x, NULL, 0, &t) == 0) {
            (void)corio_loop_run_until_complete(loop, t, NULL);
            corio_future_unref(t);
        }
        (void)corio_loop_close(loop);
        (void)corio_loop_free(loop);
    }
    atomic_store(&x->done, 1);
    return NULL;
}

static int home_body(void *arg, void **res) {
    (void)res;
    xthread *x = arg;
    x->r = rconn();
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, other_thread, x), 0);
    atomic_store(&x->ready, 1);
    while (!atomic_load(&x->done)) corio_sleep(0.001); /* the loop runs meanwhile */
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(x->rc_cmd, CORIO_EWRONGLOOP);
    ASSERT_EQ(x->rc_msg, CORIO_EWRONGLOOP);
    ASSERT_EQ(x->rc_unsub, CORIO_EWRONGLOOP);
    ASSERT_EQ(x->rc_close, CORIO_EWRONGLOOP);
    ASSERT_EQ(x->rc_free, CORIO_EWRONGLOOP);
    ASSERT(corio_redis_is_connected(x->r)); /* untouched */
    ok_cmd(x->r, "PING");
    ASSERT_EQ(corio_redis_free(x->r), 0);
    return 0;
}

TEST(redis_rev_other_thread) {
    int rc = server_start();
    if (rc) return rc;
    xthread x = {0};
    on_loop(home_body, &x);
    server_stop();
    return 0;
}

/* ---- cancellation at every point, replies verified by unique values ---- */

typedef struct storm {
    corio_redis *r;
    int id;
    double limit; /* the task's timeout scope; <0: cancelled from outside */
    int rc;
} storm;

/* SET a unique key to a unique value and GET it back inside a timeout
 * scope: either it fails with the scope's code, or the values match. */
static int storm_task(void *arg, void **res) {
    (void)res;
    storm *s = arg;
    char key[32], val[48];
    snprintf(key, sizeof key, "k%d", s->id);
    snprintf(val, sizeof val, "v%d-%d", s->id, s->id * 7919);
    corio_timeout *cm = NULL;
    if (s->limit >= 0) ASSERT_EQ(corio_timeout_enter(s->limit, &cm), 0);
    redisReply *rep = NULL;
    int rc = corio_redis_command(s->r, &rep, "SET %s %s", key, val);
    if (rc == 0) {
        ASSERT(rep->type == REDIS_REPLY_STATUS);
        ASSERT_STR(rep->str, "OK");
        corio_redis_reply_free(rep);
        rep = NULL;
        rc = corio_redis_command(s->r, &rep, "GET %s", key);
        if (rc == 0) {
            ASSERT(rep->type == REDIS_REPLY_STRING);
            if (strcmp(rep->str, val) != 0) fprintf(stderr, "%s: got %s, want %s\n", key, rep->str, val);
            ASSERT_STR(rep->str, val);
            corio_redis_reply_free(rep);
        }
    }
    if (cm) rc = corio_timeout_exit(cm, rc);
    ASSERT(rc == 0 || rc == CORIO_ETIMEDOUT || rc == CORIO_ECANCELED);
    s->rc = rc;
    return 0;
}

#define STORM 3000

static int cancel_storm_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *r = rconn();
    ok_cmd(r, "FLUSHALL");
    static storm st[STORM];
    static corio_task *ts[STORM];
    int done = 0, cut = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < STORM; i++) {
            st[i] = (storm){.r = r, .id = round * STORM + i};
            /* a scope of 0, tiny ones, growing ones (up to 20 ms), a
             * cancel from outside, none */
            static const double unit[] = {0, 1e-6, 1e-4, -1, -1};
            st[i].limit = unit[i % 5] * (i % 200);
            if (i % 5 >= 3) st[i].limit = -1;
            ASSERT_EQ(corio_create_task(storm_task, &st[i], NULL, &ts[i]), 0);
        }
        for (int i = 3; i < STORM; i += 10) corio_task_cancel(ts[i], NULL); /* before it ran */
        corio_sleep(0);
        for (int i = 8; i < STORM; i += 10) corio_task_cancel(ts[i], NULL); /* inside a command */
        for (int i = 0; i < STORM; i++) {
            int rc = corio_await(ts[i], NULL);
            ASSERT(rc == 0 || rc == CORIO_ECANCELED);
            if (i % 5 == 4) ASSERT(rc == 0 && st[i].rc == 0); /* no scope, no cancel */
            if (rc == 0 && st[i].rc == 0) done++;
            else cut++;
            corio_future_unref(ts[i]);
        }
    }
    ASSERT(done > 0);
    ASSERT(cut > 0);
    /* the connection still answers in order */
    for (int i = 0; i < 50; i++) {
        char want[32];
        snprintf(want, sizeof want, "%d", i);
        redisReply *rep;
        ASSERT_EQ(corio_redis_command(r, &rep, "ECHO %s", want), 0);
        ASSERT_STR(rep->str, want);
        corio_redis_reply_free(rep);
    }
    ASSERT(corio_redis_is_connected(r));
    ASSERT_EQ(corio_redis_free(r), 0);
    /* connect under a scope of 0, tiny and growing ones */
    for (int i = 0; i < 300; i++) {
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(i == 0 ? 0 : 1e-6 * i, &cm), 0);
        corio_redis *c = NULL;
        int rc = corio_redis_connect("127.0.0.1", srv.port, 5, &c);
        rc = corio_timeout_exit(cm, rc);
        ASSERT(rc == 0 || rc == CORIO_ETIMEDOUT);
        ASSERT(rc == 0 ? c != NULL : c == NULL);
        if (c) {
            ok_cmd(c, "PING");
            ASSERT_EQ(corio_redis_free(c), 0);
        }
    }
    return 0;
}

TEST(redis_rev_cancel_storm) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(cancel_storm_body, NULL);
    /* again with eager tasks (each runs into its command inside
     * create_task) and copied stacks */
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_eager_tasks(loop, 1), 0);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, cancel_storm_body, NULL, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    server_stop();
    return 0;
}

/* ---- the server killed and restarted with commands in flight ---- */

typedef struct inflight {
    corio_redis *r;
    int rc;
} inflight;

static int debug_sleep_task(void *arg, void **res) {
    (void)res;
    inflight *f = arg;
    redisReply *rep = NULL;
    f->rc = corio_redis_command(f->r, &rep, "BLPOP nothing 0");
    corio_redis_reply_free(rep);
    return 0;
}

static int restart_body(void *arg, void **res) {
    (void)arg, (void)res;
    for (int round = 0; round < 3; round++) {
        corio_redis *r = rconn();
        inflight f[20];
        corio_task *t[20];
        for (int i = 0; i < 20; i++) {
            f[i] = (inflight){.r = r};
            ASSERT_EQ(corio_create_task(debug_sleep_task, &f[i], NULL, &t[i]), 0);
        }
        corio_sleep(0.02);
        int had = corio_redis_fd(r);
        server_kill();
        for (int i = 0; i < 20; i++) {
            ASSERT_EQ(corio_await(t[i], NULL), 0);
            corio_future_unref(t[i]);
            ASSERT_EQ(f[i].rc, -ECONNRESET);
        }
        ASSERT(!corio_redis_is_connected(r));
        ASSERT_EQ(corio_redis_fd(r), -1);
        ASSERT(fcntl(had, F_GETFD) < 0);
        redisReply *rep = NULL;
        ASSERT_EQ(corio_redis_command(r, &rep, "PING"), -ECONNRESET);
        ASSERT(rep == NULL);
        /* nothing there: refused, then the server back on its port */
        corio_redis *c = NULL;
        ASSERT_EQ(corio_redis_connect("127.0.0.1", srv.port, 5, &c), -ECONNREFUSED);
        ASSERT_EQ(server_launch(), 0);
        c = rconn();
        ok_cmd(c, "PING");
        ASSERT_EQ(corio_redis_free(c), 0);
        ASSERT_EQ(corio_redis_free(r), 0);
    }
    return 0;
}

TEST(redis_rev_restart) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(restart_body, NULL);
    server_stop();
    return 0;
}

/* ---- huge values and deeply nested arrays ---- */

static int huge_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *r = rconn();
    size_t n = 64u << 20;
    char *big = malloc(n);
    ASSERT(big);
    for (size_t i = 0; i < n; i++) big[i] = (char)(i * 131 + (i >> 16));
    redisReply *rep;
    ASSERT_EQ(corio_redis_command(r, &rep, "SET big %b", big, n), 0);
    corio_redis_reply_free(rep);
    /* a concurrent small command keeps its place behind it */
    ASSERT_EQ(corio_redis_command(r, &rep, "GET big"), 0);
    ASSERT_EQ(rep->type, REDIS_REPLY_STRING);
    ASSERT_EQ(rep->len, n);
    ASSERT(memcmp(rep->str, big, n) == 0);
    corio_redis_reply_free(rep);
    /* a command timeout while the value is still being written: the
     * write goes on, its reply is dropped, the next one is matched */
    ASSERT_EQ(corio_redis_set_timeout(r, 1e-4), 0);
    rep = NULL;
    ASSERT_EQ(corio_redis_command(r, &rep, "SET big2 %b", big, n), CORIO_ETIMEDOUT);
    ASSERT(rep == NULL);
    ASSERT_EQ(corio_redis_set_timeout(r, CORIO_FOREVER), 0);
    ASSERT_EQ(corio_redis_command(r, &rep, "ECHO %s", "after"), 0);
    ASSERT_STR(rep->str, "after");
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_command(r, &rep, "STRLEN big2"), 0);
    ASSERT_EQ(rep->integer, (long long)n);
    corio_redis_reply_free(rep);
    free(big);
    ok_cmd(r, "DEL big big2");
    /* depth 7 (hiredis's limit) arrives; deeper is a protocol error that
     * ends the connection with CORIO_EREDIS, not a crash */
    ASSERT_EQ(corio_redis_command(r, &rep, "EVAL %s 0", "return {{{{{{1}}}}}}"), 0);
    redisReply *e = rep;
    int depth = 0;
    while (e->type == REDIS_REPLY_ARRAY) {
        ASSERT_EQ(e->elements, 1u);
        e = e->element[0];
        depth++;
    }
    ASSERT_EQ(depth, 6);
    corio_redis_reply_free(rep);
    rep = NULL;
    int rc = corio_redis_command(r, &rep, "EVAL %s 0", "return {{{{{{{{{{{{1}}}}}}}}}}}}");
    ASSERT_EQ(rc, CORIO_EREDIS);
    ASSERT(rep == NULL);
    ASSERT(!corio_redis_is_connected(r));
    ASSERT_EQ(corio_redis_command(r, &rep, "PING"), CORIO_EREDIS);
    ASSERT_EQ(corio_redis_free(r), 0);
    /* a RESP3 switch is an error too (hiredis 0.14 reads RESP2 only) */
    r = rconn();
    rc = corio_redis_command(r, &rep, "HELLO 3");
    ASSERT(rc < 0);
    ASSERT(rep == NULL);
    ASSERT_EQ(corio_redis_free(r), 0);
    return 0;
}

TEST(redis_rev_huge) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(huge_body, NULL);
    server_stop();
    return 0;
}

/* ---- arguments ---- */

static int args_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *r = rconn(), *c = NULL;
    redisReply *rep = NULL;
    const char *argv[] = {"SET", "a", "b"};
    ASSERT_EQ(corio_redis_command_argv(r, &rep, 0, argv, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command_argv(r, &rep, -1, argv, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command_argv(r, &rep, INT_MIN, argv, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command_argv(r, &rep, 3, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command_argv(r, NULL, 3, argv, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, ""), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, "   "), CORIO_EINVAL);
    /* %b with NULL and 0 is an empty value */
    ASSERT_EQ(corio_redis_command(r, &rep, "SET e %b", (const char *)NULL, (size_t)0), 0);
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_command(r, &rep, "STRLEN e"), 0);
    ASSERT_EQ(rep->integer, 0);
    corio_redis_reply_free(rep);
    /* binary argv with embedded NULs */
    const char *bv[] = {"SET", "bin", "a\0b\0c"};
    size_t bl[] = {3, 3, 5};
    ASSERT_EQ(corio_redis_command_argv(r, &rep, 3, bv, bl), 0);
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_command(r, &rep, "GET bin"), 0);
    ASSERT_EQ(rep->len, 5u);
    ASSERT(memcmp(rep->str, "a\0b\0c", 5) == 0);
    corio_redis_reply_free(rep);
    /* pub/sub names, commands and the like refused whatever their case */
    ASSERT_EQ(corio_redis_command(r, &rep, "subscribe x"), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, "client reply off"), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, "Monitor"), CORIO_EINVAL);
    ok_cmd(r, "PING");
    /* timeouts: NaN refused; -inf, negative: now; +inf none */
    ASSERT_EQ(corio_redis_set_timeout(r, NAN), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_set_timeout(r, -INFINITY), 0);
    ASSERT_EQ(corio_redis_command(r, &rep, "PING"), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_redis_set_timeout(r, -1), 0);
    ASSERT_EQ(corio_redis_command(r, &rep, "PING"), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_redis_set_timeout(r, INFINITY), 0);
    ok_cmd(r, "PING"); /* matched after the dropped replies */
    ASSERT_EQ(corio_redis_command(r, &rep, "ECHO %s", "mine"), 0);
    ASSERT_STR(rep->str, "mine");
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_set_timeout(r, 1e300), 0);
    ok_cmd(r, "PING");
    ASSERT_EQ(corio_redis_connect("127.0.0.1", srv.port, NAN, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("127.0.0.1", srv.port, -INFINITY, &c), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_redis_connect("127.0.0.1", srv.port, -1, &c), CORIO_ETIMEDOUT);
    ASSERT(c == NULL);
    ASSERT_EQ(corio_redis_connect("127.0.0.1", srv.port, INFINITY, &c), 0);
    ASSERT_EQ(corio_redis_free(c), 0);
    ASSERT_EQ(corio_redis_connect("127.0.0.1", 0, 1, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("127.0.0.1", 65536, 1, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("localhost", srv.port, 1, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("[::1", srv.port, 1, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("", srv.port, 1, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("[]", srv.port, 1, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect_unix("", 1, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect_unix("/nonexistent/redis.sock", 1, &c), -ENOENT);
    const char *none[] = {NULL};
    ASSERT_EQ(corio_redis_subscribe(r, none, 1), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_subscribe(r, none, 0), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_unsubscribe(r, NULL, 0), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_redis_unsubscribe(r, NULL, 3), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_free(r), 0);
    return 0;
}

TEST(redis_rev_args) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(args_body, NULL);
    server_stop();
    return 0;
}

/* ---- the wrong order ---- */

typedef struct waiter {
    corio_redis *r;
    int what; /* 0 BLPOP, 1 get_message, 2 close itself after a BLPOP of another */
    int rc;
} waiter;

static int waiter_task(void *arg, void **res) {
    (void)res;
    waiter *w = arg;
    redisReply *rep = NULL;
    corio_redis_message *m = NULL;
    if (w->what == 1) w->rc = corio_redis_get_message(w->r, &m);
    else w->rc = corio_redis_command(w->r, &rep, "BLPOP nothing 0");
    corio_redis_reply_free(rep);
    corio_redis_message_free(m);
    return 0;
}

static int closer_task(void *arg, void **res) {
    (void)res;
    waiter *w = arg;
    w->rc = corio_redis_close(w->r);
    return 0;
}

static int wrong_order_body(void *arg, void **res) {
    (void)arg, (void)res;
    /* free while others wait: EBUSY, nothing freed; close from another
     * task of the loop: the waiters end with CORIO_EFDCLOSED */
    corio_redis *r = rconn();
    waiter w[3] = {{.r = r}, {.r = r}, {.r = r}};
    corio_task *t[3];
    for (int i = 0; i < 3; i++) ASSERT_EQ(corio_create_task(waiter_task, &w[i], NULL, &t[i]), 0);
    corio_sleep(0.01);
    ASSERT_EQ(corio_redis_free(r), CORIO_EBUSY);
    waiter cl = {.r = r};
    corio_task *ct;
    ASSERT_EQ(corio_create_task(closer_task, &cl, NULL, &ct), 0);
    ASSERT_EQ(corio_await(ct, NULL), 0);
    corio_future_unref(ct);
    ASSERT_EQ(cl.rc, 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(corio_await(t[i], NULL), 0);
        corio_future_unref(t[i]);
        ASSERT_EQ(w[i].rc, CORIO_EFDCLOSED);
    }
    redisReply *rep = NULL;
    ASSERT_EQ(corio_redis_command(r, &rep, "PING"), CORIO_EFDCLOSED);
    ASSERT_EQ(corio_redis_close(r), 0);
    corio_redis_message *m;
    ASSERT_EQ(corio_redis_get_message(r, &m), CORIO_EFDCLOSED);
    const char *ch[] = {"x"};
    ASSERT_EQ(corio_redis_subscribe(r, ch, 1), CORIO_EFDCLOSED);
    ASSERT_EQ(corio_redis_unsubscribe(r, NULL, 0), CORIO_EFDCLOSED);
    ASSERT_EQ(corio_redis_fd(r), -1);
    ASSERT_EQ(corio_redis_free(r), 0);
    /* subscribe with commands pending: their replies stay theirs */
    r = rconn();
    corio_redis *p = rconn();
    waiter b = {.r = r};
    corio_task *bt;
    ASSERT_EQ(corio_create_task(waiter_task, &b, NULL, &bt), 0);
    corio_sleep(0.01);
    ASSERT_EQ(corio_redis_command(p, &rep, "RPUSH nothing mine"), 0);
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_subscribe(r, ch, 1), 0);
    ASSERT_EQ(corio_await(bt, NULL), 0);
    corio_future_unref(bt);
    ASSERT_EQ(b.rc, 0);
    ASSERT_EQ(corio_redis_command(r, &rep, "PING"), CORIO_EINVALSTATE);
    /* a get_message waiter and a close: the waiter sees the end */
    waiter g = {.r = r, .what = 1};
    corio_task *gt;
    ASSERT_EQ(corio_create_task(waiter_task, &g, NULL, &gt), 0);
    corio_sleep(0.01);
    ASSERT_EQ(corio_redis_free(r), CORIO_EBUSY);
    ASSERT_EQ(corio_redis_close(r), 0);
    ASSERT_EQ(corio_await(gt, NULL), 0);
    corio_future_unref(gt);
    ASSERT_EQ(g.rc, CORIO_EFDCLOSED);
    ASSERT_EQ(corio_redis_free(r), 0);
    ASSERT_EQ(corio_redis_free(p), 0);
    return 0;
}

TEST(redis_rev_wrong_order) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(wrong_order_body, NULL);
    server_stop();
    return 0;
}

/* ---- a pub/sub flood and a slow reader ---- */

#define FLOOD 100000

static int flood_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *s = rconn(), *p = rconn();
    const char *ch[] = {"flood"};
    ASSERT_EQ(corio_redis_subscribe(s, ch, 1), 0);
    /* publish everything pipelined from many tasks' worth of commands:
     * a script publishes in bulk, so ordering is redis's own */
    redisReply *rep;
    ASSERT_EQ(corio_redis_command(p, &rep, "EVAL %s 0 %d",
                                  "for i=1,tonumber(ARGV[1]) do redis.call('PUBLISH','flood',i) end return 1",
                                  FLOOD),
              0);
    corio_redis_reply_free(rep);
    /* the slow reader: the queue holds them all, in order */
    for (int i = 1; i <= FLOOD; i++) {
        corio_redis_message *m;
        ASSERT_EQ(corio_redis_get_message(s, &m), 0);
        ASSERT_EQ(atoi(m->data), i);
        corio_redis_message_free(m);
        if (i % 20000 == 0) corio_sleep(0.01);
    }
    /* and freeing with messages left */
    ASSERT_EQ(corio_redis_command(p, &rep, "EVAL %s 0",
                                  "for i=1,1000 do redis.call('PUBLISH','flood',i) end return 1"),
              0);
    corio_redis_reply_free(rep);
    publish_until(p, "flood", "last", 1);
    corio_sleep(0.05);
    ASSERT(corio_queue_qsize(corio_redis_messages(s)) > 0);
    ASSERT_EQ(corio_redis_free(s), 0);
    ASSERT_EQ(corio_redis_free(p), 0);
    return 0;
}

TEST(redis_rev_flood) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(flood_body, NULL);
    server_stop();
    return 0;
}

/* ---- the number hiredis closed, reused at once, many times ---- */

static int reuse_loop_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *killer = rconn();
    for (int i = 0; i < 100; i++) {
        corio_redis *r = rconn();
        ok_cmd(r, "PING"); /* accepted: CLIENT KILL sees it */
        int had = corio_redis_fd(r);
        inflight f = {.r = r};
        corio_task *t;
        ASSERT_EQ(corio_create_task(debug_sleep_task, &f, NULL, &t), 0);
        corio_sleep(0);
        redisReply *rep;
        ASSERT_EQ(corio_redis_command(killer, &rep, "CLIENT KILL TYPE normal SKIPME yes"), 0);
        corio_redis_reply_free(rep);
        ASSERT_EQ(corio_await(t, NULL), 0);
        corio_future_unref(t);
        ASSERT_EQ(f.rc, -ECONNRESET);
        /* the number at once for a pipe a task waits on */
        int pv[2];
        ASSERT_EQ(pipe2(pv, O_CLOEXEC | O_NONBLOCK), 0);
        int rd = pv[0] == had ? 0 : pv[1] == had ? 1 : -1;
        ASSERT(rd >= 0);
        if (rd == 0) {
            ASSERT_EQ(write(pv[1], "x", 1), 1);
            ASSERT_EQ(corio_wait_fd(pv[0], CORIO_READABLE), CORIO_READABLE);
        } else {
            ASSERT_EQ(corio_wait_fd(pv[1], CORIO_WRITABLE), CORIO_WRITABLE);
        }
        corio_sleep(0);
        ASSERT_EQ(corio_close_fd(pv[0]), 0);
        ASSERT_EQ(corio_close_fd(pv[1]), 0);
        ASSERT_EQ(corio_redis_free(r), 0);
    }
    ASSERT_EQ(corio_redis_free(killer), 0);
    return 0;
}

TEST(redis_rev_reuse_loop) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(reuse_loop_body, NULL);
    server_stop();
    return 0;
}

/* ---- a loop closed with commands, subscribes and gets pending ---- */

static corio_redis *lc_r, *lc_s;

static int lc_main(void *arg, void **res) {
    (void)arg, (void)res;
    lc_r = rconn();
    lc_s = rconn();
    const char *ch[] = {"lc"};
    ASSERT_EQ(corio_redis_subscribe(lc_s, ch, 1), 0);
    static waiter w[4];
    w[0] = (waiter){.r = lc_r};
    w[1] = (waiter){.r = lc_r};
    w[2] = (waiter){.r = lc_s, .what = 1};
    w[3] = (waiter){.r = lc_s, .what = 1};
    for (int i = 0; i < 4; i++) ASSERT_EQ(corio_create_task(waiter_task, &w[i], NULL, NULL), 0);
    return corio_sleep(0.05);
}

TEST(redis_rev_loop_closed) {
    int rc = server_start();
    if (rc) return rc;
    for (int order = 0; order < 2; order++) {
        corio_loop *loop;
        ASSERT_EQ(corio_loop_new(&loop), 0);
        ASSERT_EQ(corio_loop_set_exception_handler(loop, quiet, NULL), 0);
        corio_task *t;
        ASSERT_EQ(corio_loop_create_task(loop, lc_main, NULL, NULL, 0, &t), 0);
        ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
        corio_future_unref(t);
        ASSERT_EQ(corio_loop_close(loop), 0);
        /* an unsubscribe after the close: no crash, no leak */
        int urc = corio_redis_unsubscribe(lc_s, NULL, 0);
        ASSERT(urc <= 0);
        if (order == 0) { /* freed before the loop's memory goes, or after */
            ASSERT_EQ(corio_redis_free(lc_r), 0);
            ASSERT_EQ(corio_redis_free(lc_s), 0);
            ASSERT_EQ(corio_loop_free(loop), 0);
        } else {
            (void)corio_loop_free(loop);
            ASSERT_EQ(corio_redis_free(lc_r), 0);
            ASSERT_EQ(corio_redis_free(lc_s), 0);
        }
    }
    server_stop();
    return 0;
}

/* ---- commands whose replies do not come one per command ---- */

/* SYNC and PSYNC turn the connection into a replica's: replies come that
 * no command asked for, and hiredis 0.14 asserts (the process aborts) on
 * a reply with no callback outside pub/sub. */
static int replica_body(void *arg, void **res) {
    (void)arg, (void)res;
    static const char *const cmds[] = {"SYNC", "PSYNC ? -1", "psync ? -1", "sync"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        corio_redis *r = rconn();
        redisReply *rep = NULL;
        int rc = corio_redis_command(r, &rep, cmds[i]);
        corio_redis_reply_free(rep);
        ASSERT_EQ(rc, CORIO_EINVAL);
        /* the server writes something meanwhile: nothing may abort */
        ok_cmd(r, "SET x y");
        corio_sleep(0.1);
        ok_cmd(r, "PING");
        ASSERT_EQ(corio_redis_free(r), 0);
    }
    return 0;
}

TEST(redis_rev_replica) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(replica_body, NULL);
    server_stop();
    return 0;
}

/* ---- a server that answers what nobody asked ---- */

/* A fake server on a Unix socket: it reads one command and answers it
 * twice (or answers before any command). hiredis 0.14 asserts on a reply
 * with no callback outside pub/sub: the process must not abort; the
 * connection ends with CORIO_EREDIS instead. */
static int fake_listen(const char *path) {
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(l >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    unlink(path);
    ASSERT_EQ(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(l, 4), 0);
    return l;
}

static int extra_body(void *arg, void **res) {
    (void)res;
    const char *path = arg;
    for (int mode = 0; mode < 6; mode++) {
        int l = fake_listen(path);
        corio_redis *r = NULL;
        ASSERT_EQ(corio_redis_connect_unix(path, 5, &r), 0);
        int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        ASSERT(s >= 0);
        redisReply *rep = NULL;
        if (mode == 0) { /* before any command */
            ASSERT_EQ(write(s, "+HELLO\r\n", 8), 8);
            corio_sleep(0.05);
            ASSERT(!corio_redis_is_connected(r));
            ASSERT_EQ(corio_redis_command(r, &rep, "PING"), CORIO_EREDIS);
        } else if (mode >= 3) { /* subscribed, then a malformed push */
            const char *ch[] = {"ch"};
            sub_job sj = {.r = r};
            corio_task *t;
            ASSERT_EQ(corio_create_task(sub_task, &sj, NULL, &t), 0);
            char buf[128];
            ASSERT_EQ(corio_wait_fd(s, CORIO_READABLE), CORIO_READABLE);
            ASSERT(read(s, buf, sizeof buf) > 0);
            const char *ok = "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
            ASSERT_EQ(write(s, ok, strlen(ok)), (ssize_t)strlen(ok));
            ASSERT_EQ(corio_await(t, NULL), 0);
            corio_future_unref(t);
            ASSERT_EQ(sj.rc, 0);
            const char *bad = mode == 3   ? "*1\r\n$3\r\nfoo\r\n"
                              : mode == 4 ? "*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n$1\r\nx\r\n"
                                          : "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n";
            ASSERT_EQ(write(s, bad, strlen(bad)), (ssize_t)strlen(bad));
            corio_redis_message *m = NULL;
            ASSERT_EQ(corio_redis_get_message(r, &m), CORIO_EREDIS);
            ASSERT(!corio_redis_is_connected(r));
            (void)ch;
        } else { /* two replies to one command, in one write or two */
            pending_cmd pc = {.r = r};
            corio_task *t;
            ASSERT_EQ(corio_create_task(ping_task, &pc, NULL, &t), 0);
            char buf[64];
            ASSERT_EQ(corio_wait_fd(s, CORIO_READABLE), CORIO_READABLE);
            ASSERT(read(s, buf, sizeof buf) > 0);
            if (mode == 1) {
                ASSERT_EQ(write(s, "+PONG\r\n+EXTRA\r\n", 15), 15);
            } else {
                ASSERT_EQ(write(s, "+PONG\r\n", 7), 7);
                corio_sleep(0.02);
                ASSERT_EQ(write(s, "+EXTRA\r\n", 8), 8);
            }
            ASSERT_EQ(corio_await(t, NULL), 0);
            corio_future_unref(t);
            ASSERT_EQ(pc.rc, 0); /* its own reply came */
            corio_sleep(0.05);
            ASSERT(!corio_redis_is_connected(r));
            ASSERT_EQ(corio_redis_command(r, &rep, "PING"), CORIO_EREDIS);
        }
        ASSERT_EQ(corio_redis_free(r), 0);
        close(s);
        close(l);
        unlink(path);
    }
    return 0;
}

TEST(redis_rev_extra_reply) {
    char dir[] = "/tmp/corio-redis-fake-XXXXXX";
    ASSERT(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/fake.sock", dir);
    on_loop(extra_body, path);
    rmdir(dir);
    return 0;
}

/* ---- a user task waiting on the connection's own descriptor ---- */

typedef struct fdwait {
    int fd, events, rc;
} fdwait;

static int fdwait_task(void *arg, void **res) {
    (void)res;
    fdwait *w = arg;
    w->rc = corio_wait_fd(w->fd, w->events);
    return 0;
}

/* One reader and one writer per descriptor: a task that holds the
 * writing direction makes the adapter's writer registration fail. The
 * connection must end with a clear code (no abort, no leak), and the
 * task wakes when the descriptor is closed. */
static int own_fd_body(void *arg, void **res) {
    (void)res;
    const char *path = arg;
    int l = fake_listen(path);
    corio_redis *r = NULL;
    ASSERT_EQ(corio_redis_connect_unix(path, 5, &r), 0);
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC); /* a server that never reads */
    ASSERT(s >= 0);
    int fd = corio_redis_fd(r);
    /* the reading direction is the adapter's */
    ASSERT_EQ(corio_wait_fd(fd, CORIO_READABLE), CORIO_EBUSY);
    /* the socket full (bytes the fake server ignores), then a task holds
     * the writing direction */
    ASSERT_EQ(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    char junk[4096] = {0};
    while (write(fd, junk, sizeof junk) > 0) {
    }
    ASSERT_EQ(errno, EAGAIN);
    fdwait w = {.fd = fd, .events = CORIO_WRITABLE, .rc = 1};
    corio_task *t;
    ASSERT_EQ(corio_create_task(fdwait_task, &w, NULL, &t), 0);
    corio_sleep(0);
    ASSERT_EQ(w.rc, 1); /* waiting */
    redisReply *rep = NULL;
    int rc = corio_redis_command(r, &rep, "PING");
    ASSERT(rep == NULL);
    ASSERT_EQ(rc, CORIO_EBUSY);
    ASSERT(!corio_redis_is_connected(r));
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(w.rc, CORIO_EFDCLOSED);
    ASSERT_EQ(corio_redis_fd(r), -1);
    ASSERT_EQ(corio_redis_free(r), 0);
    close(s);
    close(l);
    unlink(path);
    return 0;
}

TEST(redis_rev_own_fd) {
    char dir[] = "/tmp/corio-redis-fake-XXXXXX";
    ASSERT(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/fake.sock", dir);
    on_loop(own_fd_body, path);
    rmdir(dir);
    return 0;
}

/* ---- out of descriptors, a subscribe the server denies, another loop ---- */

static corio_redis *seq_r;

static int seq_first(void *arg, void **res) {
    (void)arg, (void)res;
    seq_r = rconn();
    return 0;
}

static int seq_second(void *arg, void **res) {
    (void)arg, (void)res;
    redisReply *rep = NULL;
    ASSERT_EQ(corio_redis_command(seq_r, &rep, "PING"), CORIO_EWRONGLOOP);
    ASSERT_EQ(corio_redis_close(seq_r), CORIO_EWRONGLOOP);
    ASSERT_EQ(corio_redis_free(seq_r), CORIO_EWRONGLOOP);
    return 0;
}

static int limits_body(void *arg, void **res) {
    (void)arg, (void)res;
    /* no descriptor left: -EMFILE with a message, nothing leaked */
    struct rlimit old, low;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    int fds[64], n = 0;
    low = old;
    low.rlim_cur = 64;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (int fd; n < 64 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds[n++] = fd;
    corio_redis *r = NULL;
    int rc = corio_redis_connect("127.0.0.1", srv.port, 5, &r);
    int rcu = corio_redis_connect_unix(srv.sock, 5, &r);
    for (int i = 0; i < n; i++) close(fds[i]);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    ASSERT_EQ(rc, -EMFILE);
    ASSERT_EQ(rcu, -EMFILE);
    ASSERT(r == NULL);
    /* a subscribe the server denies (ACL): a clear error, no abort */
    corio_redis *a = rconn();
    ok_cmd(a, "ACL SETUSER default resetchannels");
    r = rconn();
    const char *ch[] = {"denied"};
    rc = corio_redis_subscribe(r, ch, 1);
    ASSERT_EQ(rc, CORIO_EREDIS);
    ASSERT(strstr(corio_error_message(corio_current_error()), "NOPERM"));
    ASSERT_EQ(corio_redis_free(r), 0);
    ok_cmd(a, "ACL SETUSER default allchannels");
    ASSERT_EQ(corio_redis_free(a), 0);
    return 0;
}

TEST(redis_rev_limits) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(limits_body, NULL);
    /* a connection of one loop used from another loop of the same thread */
    corio_loop *a;
    ASSERT_EQ(corio_loop_new(&a), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(a, seq_first, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(a, t, NULL), 0);
    corio_future_unref(t);
    on_loop(seq_second, NULL); /* loop a is open, not running */
    ASSERT_EQ(corio_redis_free(seq_r), 0); /* from no loop: fine */
    close_loop(a);
    server_stop();
    return 0;
}

/* ---- many names on one subscriber ---- */

#define MANY_NAMES 5000

static int many_names_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *s = rconn(), *p = rconn();
    static char buf[MANY_NAMES][16];
    static const char *names[MANY_NAMES];
    for (int i = 0; i < MANY_NAMES; i++) {
        snprintf(buf[i], sizeof buf[i], "n%d", i);
        names[i] = buf[i];
    }
    ASSERT_EQ(corio_redis_subscribe(s, names, MANY_NAMES), 0);
    publish_until(p, "n4999", "x", 1);
    corio_redis_message *m;
    ASSERT_EQ(corio_redis_get_message(s, &m), 0);
    ASSERT_STR(m->channel, "n4999");
    corio_redis_message_free(m);
    ASSERT_EQ(corio_redis_unsubscribe(s, names, MANY_NAMES / 2), 0);
    ASSERT_EQ(corio_redis_unsubscribe(s, NULL, 0), 0);
    ASSERT_EQ(corio_redis_free(s), 0);
    ASSERT_EQ(corio_redis_free(p), 0);
    return 0;
}

TEST(redis_rev_many_names) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(many_names_body, NULL);
    server_stop();
    return 0;
}

/* ---- SIGPIPE on a Unix socket ---- */

typedef struct big_set {
    corio_redis *r;
    const char *v;
    size_t n;
    int rc;
} big_set;

static int big_set_task(void *arg, void **res) {
    (void)res;
    big_set *b = arg;
    redisReply *rep = NULL;
    b->rc = 1;
    b->rc = corio_redis_command(b->r, &rep, "SET v %b", b->v, b->n);
    corio_redis_reply_free(rep);
    return 0;
}

/* The peer gone before the command is written: write(2) fails with
 * EPIPE and raises SIGPIPE, which must not end the program (SIGPIPE is
 * at its default here); twice, once through the end-of-iteration flush
 * and once through the writer callback (a value bigger than the socket
 * takes). */
static int unix_pipe_body(void *arg, void **res) {
    (void)res;
    const char *path = arg;
    for (int big = 0; big < 2; big++) {
        int l = fake_listen(path);
        corio_redis *r = NULL;
        ASSERT_EQ(corio_redis_connect_unix(path, 5, &r), 0);
        int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        ASSERT(s >= 0);
        size_t n = big ? 16u << 20 : 1;
        char *v = calloc(1, n);
        ASSERT(v);
        if (!big) ASSERT_EQ(close(s), 0);
        redisReply *rep = NULL;
        if (!big) {
            ASSERT_EQ(corio_redis_command(r, &rep, "SET v %b", v, n), -ECONNRESET);
            ASSERT(rep == NULL);
        } else { /* the value fills the socket; then the peer goes */
            big_set bs = {.r = r, .v = v, .n = n};
            corio_task *t;
            ASSERT_EQ(corio_create_task(big_set_task, &bs, NULL, &t), 0);
            corio_sleep(0.05);
            ASSERT_EQ(bs.rc, 1); /* still writing */
            ASSERT_EQ(close(s), 0);
            ASSERT_EQ(corio_await(t, NULL), 0);
            corio_future_unref(t);
            ASSERT_EQ(bs.rc, -ECONNRESET);
        }
        free(v);
        ASSERT(!corio_redis_is_connected(r));
        ASSERT_EQ(corio_redis_free(r), 0);
        close(l);
        unlink(path);
    }
    sigset_t pend;
    sigpending(&pend);
    ASSERT(!sigismember(&pend, SIGPIPE)); /* none left pending either */
    return 0;
}

TEST(redis_rev_unix_pipe) {
    char dir[] = "/tmp/corio-redis-fake-XXXXXX";
    ASSERT(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/fake.sock", dir);
    signal(SIGPIPE, SIG_DFL);
    on_loop(unix_pipe_body, path);
    rmdir(dir);
    return 0;
}

/* ---- closed while its reply is arriving ---- */

/* A reply is on its way (or its readable event already queued) when
 * another task closes the connection, after 0 to 7 yields: the waiter
 * ends with its reply or CORIO_EFDCLOSED, never a callback on a freed
 * connection (ASan), and the numbers are reused at once. */
static int close_race_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *p = rconn();
    for (int i = 0; i < 400; i++) {
        corio_redis *r = rconn();
        ok_cmd(r, "PING");
        pending_cmd pc = {.r = r};
        corio_task *t;
        ASSERT_EQ(corio_create_task(ping_task, &pc, NULL, &t), 0);
        for (int y = 0; y < i % 8; y++) corio_sleep(0);
        if (i % 16 >= 8) corio_sleep(0.0005 * (i % 5));
        ASSERT_EQ(corio_redis_close(r), 0);
        int pv[2];
        ASSERT_EQ(pipe2(pv, O_CLOEXEC | O_NONBLOCK), 0); /* the number again */
        ASSERT_EQ(corio_await(t, NULL), 0);
        corio_future_unref(t);
        ASSERT(pc.rc == 0 || pc.rc == CORIO_EFDCLOSED);
        ASSERT_EQ(write(pv[1], "x", 1), 1);
        ASSERT_EQ(corio_wait_fd(pv[0], CORIO_READABLE), CORIO_READABLE);
        ASSERT_EQ(corio_close_fd(pv[0]), 0);
        ASSERT_EQ(corio_close_fd(pv[1]), 0);
        ASSERT_EQ(corio_redis_free(r), 0);
    }
    ok_cmd(p, "PING");
    ASSERT_EQ(corio_redis_free(p), 0);
    return 0;
}

TEST(redis_rev_close_race) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(close_race_body, NULL);
    server_stop();
    return 0;
}

#endif /* CORIO_TEST_REDIS */
