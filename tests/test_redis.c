/* The hiredis adapter (corio_redis.h, io.md 9) against a real redis-server
 * the test starts on loopback (a free port and a Unix socket in a temporary
 * directory) and always stops: it dies with the test process (parent-death
 * signal) even when an assertion aborts. Covered: commands and binary-safe
 * values of MBs, error replies, connection refused, a connect that times
 * out, a server killed under pending commands and one that stops
 * mid-reply, command timeouts (BLPOP) with the late reply dropped and
 * replies still matched, cancellation inside each call, pub/sub through the
 * queue, 1 000 concurrent commands on one connection and on several, bad
 * input, no stale event on a reused descriptor number, and no SIGPIPE from
 * hiredis's write(2) to a reset peer. Without hiredis
 * (libhiredis-dev) or redis-server (redis-server) each test skips. */
#include "test.h"

#ifndef CORIO_TEST_REDIS

#define SKIP_NO_HIREDIS(n)                                                                \
    TEST(n) {                                                                             \
        printf("corio was built without hiredis (Debian: libhiredis-dev): skipped\n");   \
        return TEST_SKIP;                                                                 \
    }
SKIP_NO_HIREDIS(redis_set_get)
SKIP_NO_HIREDIS(redis_error_reply)
SKIP_NO_HIREDIS(redis_connect_refused)
SKIP_NO_HIREDIS(redis_connect_timeout)
SKIP_NO_HIREDIS(redis_server_killed)
SKIP_NO_HIREDIS(redis_stops_mid_reply)
SKIP_NO_HIREDIS(redis_timeout_blpop)
SKIP_NO_HIREDIS(redis_cancel_each_call)
SKIP_NO_HIREDIS(redis_pubsub)
SKIP_NO_HIREDIS(redis_many_commands)
SKIP_NO_HIREDIS(redis_bad_input)
SKIP_NO_HIREDIS(redis_fd_reuse)
SKIP_NO_HIREDIS(redis_sigpipe)

#else

#include "corio_redis.h"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis_server.h"

/* ---- helpers ------------------------------------------------------------------ */

static corio_redis *conn(void) {
    corio_redis *r = NULL;
    ASSERT_EQ(corio_redis_connect("127.0.0.1", srv.port, 5, &r), 0);
    ASSERT(r && corio_redis_is_connected(r));
    return r;
}

/* A command whose reply must be the status or bulk string `want`. */
static void expect_str(corio_redis *r, const char *want, const char *fmt, const char *a, const char *b) {
    redisReply *rep;
    int rc = corio_redis_command(r, &rep, fmt, a, b);
    if (rc) fprintf(stderr, "%s: %s\n", fmt, corio_error_message(corio_current_error()));
    ASSERT_EQ(rc, 0);
    ASSERT(rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING);
    ASSERT_STR(rep->str, want);
    corio_redis_reply_free(rep);
}

static int contains(const char *s, const char *part) { return s && strstr(s, part) != NULL; }

static const char *last_message(void) { return corio_error_message(corio_current_error()); }

/* ---- success ------------------------------------------------------------------- */

static int set_get_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *r = conn();
    expect_str(r, "OK", "SET %s %s", "k", "v");
    expect_str(r, "v", "GET %s", "k", NULL);
    redisReply *rep;
    /* binary safe: NULs and CRLF inside, through %b and the argv form */
    const char bin[] = {'a', 0, '\r', '\n', 'b', 0};
    ASSERT_EQ(corio_redis_command(r, &rep, "SET bin %b", bin, sizeof bin), 0);
    corio_redis_reply_free(rep);
    const char *argv[] = {"GET", "bin"};
    ASSERT_EQ(corio_redis_command_argv(r, &rep, 2, argv, NULL), 0);
    ASSERT_EQ(rep->type, REDIS_REPLY_STRING);
    ASSERT_EQ(rep->len, sizeof bin);
    ASSERT(memcmp(rep->str, bin, sizeof bin) == 0);
    corio_redis_reply_free(rep);
    /* integers, nil, arrays */
    ASSERT_EQ(corio_redis_command(r, &rep, "INCRBY n %d", 41), 0);
    ASSERT_EQ(rep->type, REDIS_REPLY_INTEGER);
    ASSERT_EQ(rep->integer, 41);
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_command(r, &rep, "GET missing"), 0);
    ASSERT_EQ(rep->type, REDIS_REPLY_NIL);
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_command(r, &rep, "RPUSH l a b c"), 0);
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_command(r, &rep, "LRANGE l 0 -1"), 0);
    ASSERT_EQ(rep->type, REDIS_REPLY_ARRAY);
    ASSERT_EQ(rep->elements, 3);
    ASSERT_STR(rep->element[2]->str, "c");
    corio_redis_reply_free(rep);
    /* big values: 8 MiB each way, twice at once on the connection */
    size_t big = 8u << 20;
    char *v = malloc(big);
    for (size_t i = 0; i < big; i++) v[i] = (char)(i * 7 + (i >> 13));
    const char *sargv[] = {"SET", "big", v};
    size_t slen[] = {3, 3, big};
    ASSERT_EQ(corio_redis_command_argv(r, &rep, 3, sargv, slen), 0);
    ASSERT_STR(rep->str, "OK");
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_command(r, &rep, "GET big"), 0);
    ASSERT_EQ(rep->type, REDIS_REPLY_STRING);
    ASSERT_EQ(rep->len, big);
    ASSERT(memcmp(rep->str, v, big) == 0);
    corio_redis_reply_free(rep);
    free(v);
    ASSERT(corio_redis_fd(r) >= 0);
    ASSERT(fcntl(corio_redis_fd(r), F_GETFD) & FD_CLOEXEC);
    int nodelay = 0;
    socklen_t olen = sizeof nodelay;
    ASSERT_EQ(getsockopt(corio_redis_fd(r), IPPROTO_TCP, TCP_NODELAY, &nodelay, &olen), 0);
    ASSERT(nodelay);
    ASSERT_EQ(corio_redis_free(r), 0);
    /* the Unix socket */
    ASSERT_EQ(corio_redis_connect_unix(srv.sock, 5, &r), 0);
    expect_str(r, "v", "GET %s", "k", NULL);
    ASSERT_EQ(corio_redis_free(r), 0);
    /* IPv6 spelling is accepted; redis listens on 127.0.0.1 only */
    int rc = corio_redis_connect("[::1]", srv.port, 5, &r);
    ASSERT(rc == -ECONNREFUSED || rc == -EADDRNOTAVAIL || rc == -ENETUNREACH || rc == -EAFNOSUPPORT);
    ASSERT(r == NULL);
    return 0;
}

TEST(redis_set_get) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(set_get_body, NULL);
    server_stop();
    return 0;
}

/* ---- an error reply ----------------------------------------------------------------- */

static int error_reply_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *r = conn();
    expect_str(r, "OK", "SET %s %s", "s", "text");
    redisReply *rep = NULL;
    ASSERT_EQ(corio_redis_command(r, &rep, "INCR s"), CORIO_EREDIS);
    ASSERT(contains(last_message(), "redis INCR 127.0.0.1:"));
    ASSERT(contains(last_message(), "ERR value is not an integer"));
    ASSERT(rep && rep->type == REDIS_REPLY_ERROR); /* the reply stays the caller's */
    ASSERT(contains(rep->str, "not an integer"));
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_command(r, &rep, "NOSUCHCOMMAND x"), CORIO_EREDIS);
    ASSERT(contains(last_message(), "unknown command"));
    corio_redis_reply_free(rep);
    /* the connection goes on */
    expect_str(r, "text", "GET %s", "s", NULL);
    ASSERT_EQ(corio_redis_free(r), 0);
    return 0;
}

TEST(redis_error_reply) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(error_reply_body, NULL);
    server_stop();
    return 0;
}

/* ---- connecting: refused, timed out -------------------------------------------------- */

static int refused_body(void *arg, void **res) {
    (void)res;
    int port = *(int *)arg;
    corio_redis *r = (corio_redis *)1;
    ASSERT_EQ(corio_redis_connect("127.0.0.1", port, 5, &r), -ECONNREFUSED);
    ASSERT(r == NULL);
    char want[64];
    snprintf(want, sizeof want, "redis connect 127.0.0.1:%d: Connection refused", port);
    ASSERT_STR(last_message(), want);
    ASSERT_EQ(corio_redis_connect_unix("/nonexistent/corio-redis.sock", 5, &r), -ENOENT);
    ASSERT(contains(last_message(), "/nonexistent/corio-redis.sock"));
    return 0;
}

TEST(redis_connect_refused) {
    int port = free_port();
    on_loop(refused_body, &port);
    return 0;
}

/* A listener with a backlog of 0 and one connection queued: the next SYN
 * is dropped, and the connect waits until its timeout (or a cancel). */
static int connect_timeout_body(void *arg, void **res) {
    (void)res;
    int port = *(int *)arg;
    corio_redis *r = NULL;
    ASSERT_EQ(corio_redis_connect("127.0.0.1", port, 0.1, &r), CORIO_ETIMEDOUT);
    ASSERT(r == NULL);
    ASSERT(contains(last_message(), "timed out"));
    /* a timeout scope of the task does the same */
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(0.05, &cm), 0);
    int rc = corio_redis_connect("127.0.0.1", port, CORIO_FOREVER, &r);
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    ASSERT(r == NULL);
    return 0;
}

TEST(redis_connect_timeout) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(l, 0), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(l, (struct sockaddr *)&a, &len), 0);
    int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(filler, (struct sockaddr *)&a, sizeof a), 0); /* fills the queue */
    int port = ntohs(a.sin_port);
    on_loop(connect_timeout_body, &port);
    close(filler);
    close(l);
    return 0;
}

/* ---- the server goes away ------------------------------------------------------------- */

typedef struct pending {
    corio_redis *r;
    int rc;
    char msg[256];
} pending;

static int blpop_task(void *arg, void **res) {
    (void)res;
    pending *p = arg;
    redisReply *rep = NULL;
    p->rc = corio_redis_command(p->r, &rep, "BLPOP never 0");
    snprintf(p->msg, sizeof p->msg, "%s", last_message());
    corio_redis_reply_free(rep);
    return 0;
}

static int killed_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *r = conn();
    expect_str(r, "PONG", "PING", NULL, NULL);
    pending p[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) {
        p[i] = (pending){.r = r, .rc = 1};
        ASSERT_EQ(corio_create_task(blpop_task, &p[i], NULL, &t[i]), 0);
    }
    /* the server blocks in the first BLPOP; the others wait behind it */
    redisReply *rep;
    corio_redis *other = conn();
    for (int tries = 0; tries < 500; tries++) {
        ASSERT_EQ(corio_redis_command(other, &rep, "INFO clients"), 0);
        int blocked = contains(rep->str, "blocked_clients:1");
        corio_redis_reply_free(rep);
        if (blocked) break;
        corio_sleep(0.01);
    }
    server_kill();
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ(corio_await(t[i], NULL), 0);
        corio_future_unref(t[i]);
        ASSERT_EQ(p[i].rc, -ECONNRESET);
        ASSERT(contains(p[i].msg, "redis BLPOP 127.0.0.1:"));
    }
    ASSERT(!corio_redis_is_connected(r));
    ASSERT_EQ(corio_redis_fd(r), -1);
    /* later commands: the same code, at once */
    ASSERT_EQ(corio_redis_command(r, &rep, "PING"), -ECONNRESET);
    ASSERT(rep == NULL);
    ASSERT(contains(last_message(), "redis PING 127.0.0.1:"));
    ASSERT_EQ(corio_redis_free(r), 0);
    ASSERT_EQ(corio_redis_command(other, &rep, "PING"), -ECONNRESET);
    ASSERT_EQ(corio_redis_free(other), 0);
    return 0;
}

/* A server killed while a big value is being written: hiredis writes
 * with write(2), so the write after the reset would raise SIGPIPE (and
 * end the program: corio ignores none of its signals) without the guard. */
typedef struct bigset {
    corio_redis *r;
    int rc;
} bigset;

static int bigset_task(void *arg, void **res) {
    (void)res;
    bigset *b = arg;
    size_t big = 64u << 20;
    char *v = calloc(1, big);
    const char *argv[] = {"SET", "huge", v};
    size_t lens[] = {3, 4, big};
    redisReply *rep = NULL;
    b->rc = corio_redis_command_argv(b->r, &rep, 3, argv, lens);
    corio_redis_reply_free(rep);
    free(v);
    return 0;
}

static int killed_writing_body(void *arg, void **res) {
    (void)arg, (void)res;
    bigset b = {.r = conn(), .rc = 1};
    corio_task *t;
    ASSERT_EQ(corio_create_task(bigset_task, &b, NULL, &t), 0);
    for (int i = 0; i < 5; i++) corio_sleep(0); /* the write is under way */
    server_kill();
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT(b.rc == -ECONNRESET || b.rc == 0); /* reset or, if it all went, the reply lost */
    ASSERT_EQ(corio_redis_free(b.r), 0);
    return 0;
}

/* A peer that closed (FIN) and then reset (RST) before the connection
 * read its end: the next write(2) fails with EPIPE, which would raise
 * SIGPIPE and end the program (hiredis writes with write(2), not
 * send(MSG_NOSIGNAL)). The adapter blocks it around its writes. */
typedef struct connector {
    int port;
    corio_redis *r;
} connector;

static int connector_task(void *arg, void **res) {
    (void)res;
    connector *c = arg;
    return corio_redis_connect("127.0.0.1", c->port, 5, &c->r);
}

static int sigpipe_body(void *arg, void **res) {
    (void)arg, (void)res;
    int l;
    ASSERT_EQ(corio_socket(AF_INET, SOCK_STREAM, 0, &l), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(l, 4), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(l, (struct sockaddr *)&a, &len), 0);
    connector c = {.port = ntohs(a.sin_port)};
    corio_task *t;
    ASSERT_EQ(corio_create_task(connector_task, &c, NULL, &t), 0);
    int peer;
    ASSERT_EQ(corio_sock_accept(l, &peer, NULL, NULL), 0);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    /* FIN, then RST, with no iteration of the loop between them and the
     * command: its write comes before the read that would see the end */
    ASSERT_EQ(shutdown(peer, SHUT_WR), 0);
    struct linger lg = {1, 0};
    ASSERT_EQ(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    ASSERT_EQ(corio_close_fd(peer), 0);
    redisReply *rep;
    int rc = corio_redis_command(c.r, &rep, "PING");
    ASSERT_EQ(rc, -ECONNRESET);
    ASSERT(contains(last_message(), "redis PING 127.0.0.1:"));
    ASSERT(!corio_redis_is_connected(c.r));
    ASSERT_EQ(corio_redis_free(c.r), 0);
    ASSERT_EQ(corio_close_fd(l), 0);
    return 0;
}

TEST(redis_sigpipe) {
    on_loop(sigpipe_body, NULL);
    /* a program that ignores SIGPIPE: no guard, the same outcome */
    ASSERT(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
    on_loop(sigpipe_body, NULL);
    ASSERT(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    return 0;
}

TEST(redis_server_killed) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(killed_body, NULL);
    server_stop();
    if ((rc = server_start())) return rc;
    on_loop(killed_writing_body, NULL);
    server_stop();
    return 0;
}

/* A fake server: reads a command, answers half a bulk string, hangs up. */
static int half_reply(corio_stream *s, void *arg) {
    (void)arg;
    char buf[256];
    size_t got;
    int rc = corio_stream_read(s, buf, sizeof buf, &got);
    if (rc < 0) return rc;
    rc = corio_stream_write(s, "$100000\r\nonly the beginning", 27);
    if (rc == 0) rc = corio_stream_drain(s);
    return rc;
}

static int mid_reply_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_server *fake;
    ASSERT_EQ(corio_start_server(half_reply, NULL, "127.0.0.1", 0, NULL, &fake), 0);
    struct sockaddr_in a;
    unsigned int len = sizeof a;
    ASSERT_EQ(corio_server_sockname(fake, 0, (struct sockaddr *)&a, &len), 0);
    corio_redis *r;
    ASSERT_EQ(corio_redis_connect("127.0.0.1", ntohs(a.sin_port), 5, &r), 0);
    redisReply *rep;
    ASSERT_EQ(corio_redis_command(r, &rep, "GET k"), -ECONNRESET);
    ASSERT(contains(last_message(), "redis GET 127.0.0.1:"));
    ASSERT(contains(last_message(), "Server closed the connection"));
    ASSERT_EQ(corio_redis_free(r), 0);
    ASSERT_EQ(corio_server_close(fake), 0);
    ASSERT_EQ(corio_server_wait_closed(fake), 0);
    ASSERT_EQ(corio_server_free(fake), 0);
    return 0;
}

TEST(redis_stops_mid_reply) {
    on_loop(mid_reply_body, NULL);
    return 0;
}

/* ---- timeouts ------------------------------------------------------------------------------ */

static int blpop_timeout_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *r = conn(), *b = conn();
    expect_str(r, "OK", "SET %s %s", "k", "v");
    /* a timeout scope around a command the server blocks in */
    redisReply *rep = (redisReply *)1;
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(0.05, &cm), 0);
    int rc = corio_redis_command(r, &rep, "BLPOP q1 0");
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    ASSERT(rep == NULL);
    /* its reply comes once q1 has an item; it must not reach GET */
    ASSERT_EQ(corio_redis_command(b, &rep, "RPUSH q1 late"), 0);
    corio_redis_reply_free(rep);
    expect_str(r, "v", "GET %s", "k", NULL);
    /* the connection's own command timeout */
    ASSERT_EQ(corio_redis_set_timeout(r, 0.05), 0);
    ASSERT_EQ(corio_redis_command(r, &rep, "BLPOP q2 0"), CORIO_ETIMEDOUT);
    ASSERT(contains(last_message(), "redis BLPOP 127.0.0.1:"));
    ASSERT(contains(last_message(), "timed out"));
    ASSERT_EQ(corio_redis_set_timeout(r, CORIO_FOREVER), 0);
    ASSERT_EQ(corio_redis_command(b, &rep, "RPUSH q2 late2"), 0);
    corio_redis_reply_free(rep);
    expect_str(r, "PONG", "PING", NULL, NULL);
    ASSERT_EQ(corio_redis_command(r, &rep, "LLEN q2"), 0); /* BLPOP took it */
    ASSERT_EQ(rep->integer, 0);
    corio_redis_reply_free(rep);
    ASSERT(corio_redis_is_connected(r));
    ASSERT_EQ(corio_redis_free(r), 0);
    ASSERT_EQ(corio_redis_free(b), 0);
    return 0;
}

TEST(redis_timeout_blpop) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(blpop_timeout_body, NULL);
    server_stop();
    return 0;
}

/* ---- cancellation inside each call ------------------------------------------------------------ */

static void reuse_number(int old);

typedef struct job {
    int what; /* 0 connect (hanging), 1 command, 2 subscribe, 3 get_message, 4 connect (server) */
    int port;
    corio_redis *r;
    int rc;
    int started;
} job;

static int job_task(void *arg, void **res) {
    (void)res;
    job *j = arg;
    redisReply *rep = NULL;
    corio_redis *c = NULL;
    const char *ch[] = {"chan"};
    corio_redis_message *m = NULL;
    j->started = 1;
    switch (j->what) {
    case 0:
    case 4: j->rc = corio_redis_connect("127.0.0.1", j->port, CORIO_FOREVER, &c); break;
    case 1: j->rc = corio_redis_command(j->r, &rep, "BLPOP cq 0"); break;
    case 2: j->rc = corio_redis_subscribe(j->r, ch, 1); break;
    case 3: j->rc = corio_redis_get_message(j->r, &m); break;
    }
    corio_redis_reply_free(rep);
    corio_redis_message_free(m);
    if (c) ASSERT_EQ(corio_redis_free(c), 0);
    return j->rc;
}

/* Run job j as a task, let it get inside its call, cancel it. */
static int run_and_cancel(job *j, int yields) {
    corio_task *t;
    ASSERT_EQ(corio_create_task(job_task, j, NULL, &t), 0);
    for (int i = 0; i < yields; i++) corio_sleep(0);
    ASSERT(j->started);
    corio_task_cancel(t, NULL);
    int rc = corio_await(t, NULL);
    corio_future_unref(t);
    return rc;
}

static int cancel_body(void *arg, void **res) {
    (void)res;
    int hanging = *(int *)arg;
    /* connect: to a listener whose queue is full */
    job j = {.what = 0, .port = hanging};
    ASSERT_EQ(run_and_cancel(&j, 3), CORIO_ECANCELED);
    /* connect to the server, cancelled at each of its first steps */
    for (int y = 1; y <= 3; y++) {
        job k = {.what = 4, .port = srv.port};
        int rc = run_and_cancel(&k, y);
        ASSERT(rc == CORIO_ECANCELED || rc == 0);
    }
    corio_redis *r = conn(), *b = conn();
    expect_str(r, "OK", "SET %s %s", "k", "v");
    /* a command: the task goes, the reply is dropped when it comes */
    for (int y = 1; y <= 3; y++) {
        job c = {.what = 1, .r = r};
        ASSERT_EQ(run_and_cancel(&c, y), CORIO_ECANCELED);
    }
    redisReply *rep;
    ASSERT_EQ(corio_redis_command(b, &rep, "RPUSH cq x y z"), 0);
    corio_redis_reply_free(rep);
    expect_str(r, "v", "GET %s", "k", NULL); /* matched: not a BLPOP's reply */
    ASSERT_EQ(corio_redis_command(r, &rep, "LLEN cq"), 0);
    ASSERT_EQ(rep->integer, 0); /* each cancelled BLPOP still took its item */
    corio_redis_reply_free(rep);
    /* a subscribe still subscribes; a get_message just stops waiting */
    job s = {.what = 2, .r = b};
    int rc = run_and_cancel(&s, 1);
    ASSERT(rc == CORIO_ECANCELED || rc == 0);
    job g = {.what = 3, .r = b};
    ASSERT_EQ(run_and_cancel(&g, 2), CORIO_ECANCELED);
    for (int tries = 0; tries < 500; tries++) { /* until the subscription is confirmed */
        ASSERT_EQ(corio_redis_command(r, &rep, "PUBLISH chan hello"), 0);
        long long n = rep->integer;
        corio_redis_reply_free(rep);
        if (n == 1) break;
        corio_sleep(0.01);
    }
    corio_redis_message *m;
    ASSERT_EQ(corio_redis_get_message(b, &m), 0);
    ASSERT_STR(m->data, "hello");
    corio_redis_message_free(m);
    int fr = corio_redis_fd(r), fb = corio_redis_fd(b);
    ASSERT_EQ(corio_redis_free(r), 0);
    ASSERT_EQ(corio_redis_free(b), 0);
    reuse_number(fr < fb ? fr : fb); /* nothing of them is left on the numbers */
    return 0;
}

TEST(redis_cancel_each_call) {
    int rc = server_start();
    if (rc) return rc;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(l, 0), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(l, (struct sockaddr *)&a, &len), 0);
    int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(filler, (struct sockaddr *)&a, sizeof a), 0);
    int port = ntohs(a.sin_port);
    on_loop(cancel_body, &port);
    close(filler);
    close(l);
    server_stop();
    return 0;
}

/* ---- pub/sub ------------------------------------------------------------------------------------- */

static int pubsub_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *sub = conn(), *pub = conn();
    const char *ch[] = {"news", "sport"};
    const char *pat[] = {"p.*"};
    ASSERT_EQ(corio_redis_subscribe(sub, ch, 2), 0);
    ASSERT_EQ(corio_redis_psubscribe(sub, pat, 1), 0);
    redisReply *rep;
    /* a subscribed connection takes no commands */
    ASSERT_EQ(corio_redis_command(sub, &rep, "GET k"), CORIO_EINVALSTATE);
    ASSERT(contains(last_message(), "subscribed"));
    const char payload[] = {'h', 'i', 0, '!'};
    ASSERT_EQ(corio_redis_command(pub, &rep, "PUBLISH news %b", payload, sizeof payload), 0);
    ASSERT_EQ(rep->integer, 1);
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_command(pub, &rep, "PUBLISH p.x world"), 0);
    ASSERT_EQ(rep->integer, 1);
    corio_redis_reply_free(rep);
    corio_redis_message *m;
    ASSERT_EQ(corio_redis_get_message(sub, &m), 0);
    ASSERT(m->pattern == NULL);
    ASSERT_STR(m->channel, "news");
    ASSERT_EQ(m->data_len, sizeof payload);
    ASSERT(memcmp(m->data, payload, sizeof payload) == 0);
    corio_redis_message_free(m);
    /* the queue itself, as any corio queue */
    void *item;
    ASSERT_EQ(corio_queue_get(corio_redis_messages(sub), &item), 0);
    m = item;
    ASSERT_STR(m->pattern, "p.*");
    ASSERT_STR(m->channel, "p.x");
    ASSERT_STR(m->data, "world");
    corio_redis_message_free(m);
    /* many, in order */
    for (int i = 0; i < 100; i++) {
        ASSERT_EQ(corio_redis_command(pub, &rep, "PUBLISH sport %d", i), 0);
        corio_redis_reply_free(rep);
    }
    for (int i = 0; i < 100; i++) {
        ASSERT_EQ(corio_redis_get_message(sub, &m), 0);
        ASSERT_EQ(atoi(m->data), i);
        corio_redis_message_free(m);
    }
    /* unsubscribe everything: commands work again once redis confirmed */
    ASSERT_EQ(corio_redis_unsubscribe(sub, NULL, 0), 0);
    ASSERT_EQ(corio_redis_punsubscribe(sub, pat, 1), 0);
    ASSERT_EQ(corio_redis_punsubscribe(sub, pat, 1), 0); /* nothing left to send */
    int rc = CORIO_EINVALSTATE;
    for (int tries = 0; tries < 500 && rc == CORIO_EINVALSTATE; tries++) {
        rc = corio_redis_command(sub, &rep, "PING");
        if (rc == CORIO_EINVALSTATE) corio_sleep(0.01);
    }
    ASSERT_EQ(rc, 0);
    ASSERT_STR(rep->str, "PONG");
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_unsubscribe(sub, ch, 1), CORIO_EINVALSTATE);
    /* subscribed again; a message left in the queue is freed with it */
    ASSERT_EQ(corio_redis_subscribe(sub, ch, 1), 0);
    ASSERT_EQ(corio_redis_command(pub, &rep, "PUBLISH news left"), 0);
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_command(pub, &rep, "PUBLISH news second"), 0);
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_get_message(sub, &m), 0);
    corio_redis_message_free(m);
    for (int tries = 0; tries < 500 && corio_queue_qsize(corio_redis_messages(sub)) == 0; tries++)
        corio_sleep(0.01);
    ASSERT_EQ(corio_queue_qsize(corio_redis_messages(sub)), 1);
    /* closed: what is queued is still read, then the connection's code */
    ASSERT_EQ(corio_redis_close(sub), 0);
    ASSERT_EQ(corio_redis_get_message(sub, &m), 0);
    ASSERT_STR(m->data, "second");
    corio_redis_message_free(m);
    ASSERT_EQ(corio_redis_get_message(sub, &m), CORIO_EFDCLOSED);
    ASSERT(m == NULL);
    ASSERT_EQ(corio_redis_subscribe(sub, ch, 1), CORIO_EFDCLOSED);
    ASSERT_EQ(corio_redis_free(sub), 0);
    ASSERT_EQ(corio_redis_free(pub), 0);
    return 0;
}

TEST(redis_pubsub) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(pubsub_body, NULL);
    server_stop();
    return 0;
}

/* ---- 1 000 concurrent commands ----------------------------------------------------------------------- */

typedef struct worker {
    corio_redis **conns;
    int nconns;
    int id;
} worker;

static int worker_task(void *arg, void **res) {
    (void)res;
    worker *w = arg;
    corio_redis *r = w->conns[w->id % w->nconns];
    char key[32], val[32];
    snprintf(key, sizeof key, "key:%d", w->id);
    snprintf(val, sizeof val, "value-%d", w->id * 31);
    redisReply *rep;
    int rc = corio_redis_command(r, &rep, "SET %s %s", key, val);
    if (rc) return rc;
    corio_redis_reply_free(rep);
    if ((rc = corio_redis_command(r, &rep, "GET %s", key))) return rc;
    int ok = rep->type == REDIS_REPLY_STRING && strcmp(rep->str, val) == 0;
    corio_redis_reply_free(rep);
    return ok ? 0 : CORIO_EUSER(1);
}

static int many_body(void *arg, void **res) {
    (void)res;
    int nconns = *(int *)arg;
    corio_redis *conns[8];
    for (int i = 0; i < nconns; i++) conns[i] = conn();
    enum { N = 1000 };
    static worker w[N];
    static corio_aw aws[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){conns, nconns, i};
        aws[i] = (corio_aw)CORIO_CORO(worker_task, &w[i]);
    }
    ASSERT_EQ(corio_gather_wait(aws, N, 0, NULL), 0);
    redisReply *rep;
    ASSERT_EQ(corio_redis_command(conns[0], &rep, "DBSIZE"), 0);
    ASSERT_EQ(rep->integer, N);
    corio_redis_reply_free(rep);
    for (int i = 0; i < nconns; i++) ASSERT_EQ(corio_redis_free(conns[i]), 0);
    return 0;
}

/* on_loop with copied stacks or eager tasks. */
static void on_loop_mode(corio_fn body, void *arg, int copy, int eager) {
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    if (copy) ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    if (eager) ASSERT_EQ(corio_loop_set_eager_tasks(loop, 1), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, body, arg, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
}

static int flush_db(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *r = conn();
    expect_str(r, "OK", "FLUSHALL", NULL, NULL);
    ASSERT_EQ(corio_redis_free(r), 0);
    return 0;
}

TEST(redis_many_commands) {
    int rc = server_start();
    if (rc) return rc;
    int one = 1, several = 8;
    on_loop(many_body, &one);
    on_loop(many_body, &several);
    /* the same with copied stacks (nothing of a waiting task's stack is
     * lent out) and with eager tasks */
    on_loop(flush_db, NULL);
    on_loop_mode(many_body, &one, 1, 0);
    on_loop(flush_db, NULL);
    on_loop_mode(many_body, &several, 0, 1);
    server_stop();
    return 0;
}

/* ---- bad input -------------------------------------------------------------------------------------------- */

static int bad_input_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_redis *r = NULL;
    ASSERT_EQ(corio_redis_connect(NULL, srv.port, 1, &r), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("127.0.0.1", srv.port, 1, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("127.0.0.1", 0, 1, &r), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("127.0.0.1", 70000, 1, &r), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("127.0.0.1", srv.port, NAN, &r), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect("localhost", srv.port, 1, &r), CORIO_EINVAL);
    ASSERT(contains(last_message(), "not a numeric address"));
    ASSERT_EQ(corio_redis_connect_unix(NULL, 1, &r), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_connect_unix("", 1, &r), CORIO_EINVAL);
    char longpath[200];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = 0;
    ASSERT_EQ(corio_redis_connect_unix(longpath, 1, &r), CORIO_EINVAL);
    ASSERT(r == NULL);
    r = conn();
    redisReply *rep = (redisReply *)1;
    ASSERT_EQ(corio_redis_command(NULL, &rep, "PING"), CORIO_EINVAL);
    ASSERT(rep == NULL);
    ASSERT_EQ(corio_redis_command(r, NULL, "PING"), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, ""), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command_argv(r, &rep, 0, NULL, NULL), CORIO_EINVAL);
    const char *nulls[] = {"GET", NULL};
    ASSERT_EQ(corio_redis_command_argv(r, &rep, 2, nulls, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, "subscribe x"), CORIO_EINVAL);
    ASSERT(contains(last_message(), "corio_redis_subscribe"));
    ASSERT_EQ(corio_redis_command(r, &rep, "MONITOR"), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, "ssubscribe x"), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, "CLIENT REPLY SKIP"), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, "RESET"), CORIO_EINVAL);
    const char *cargv[] = {"client", "reply", "off"};
    ASSERT_EQ(corio_redis_command_argv(r, &rep, 3, cargv, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_command(r, &rep, "CLIENT SETNAME corio"), 0); /* other CLIENT calls go */
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_redis_subscribe(r, NULL, 1), CORIO_EINVAL);
    const char *ch[] = {"c"};
    ASSERT_EQ(corio_redis_subscribe(r, ch, 0), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_unsubscribe(r, ch, 1), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_redis_unsubscribe(NULL, ch, 1), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_get_message(r, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_set_timeout(r, NAN), CORIO_EINVAL);
    ASSERT_EQ(corio_redis_set_timeout(NULL, 1), CORIO_EINVAL);
    ASSERT(corio_redis_messages(NULL) == NULL);
    ASSERT_EQ(corio_redis_fd(NULL), -1);
    ASSERT_EQ(corio_redis_is_connected(NULL), 0);
    ASSERT_EQ(corio_redis_close(NULL), CORIO_EINVAL);
    /* still fine after all that */
    expect_str(r, "PONG", "PING", NULL, NULL);
    /* freed while a task waits in it: refused; closed: the task wakes */
    pending p = {.r = r, .rc = 1};
    corio_task *t;
    ASSERT_EQ(corio_create_task(blpop_task, &p, NULL, &t), 0);
    corio_sleep(0.01);
    ASSERT_EQ(corio_redis_free(r), CORIO_EBUSY);
    ASSERT_EQ(corio_redis_close(r), 0);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(p.rc, CORIO_EFDCLOSED);
    ASSERT(contains(p.msg, "redis BLPOP 127.0.0.1:"));
    ASSERT(contains(p.msg, "closed"));
    ASSERT_EQ(corio_redis_free(r), 0);
    r = conn();
    /* use after close */
    ASSERT_EQ(corio_redis_close(r), 0);
    ASSERT_EQ(corio_redis_close(r), 0);
    ASSERT_EQ(corio_redis_command(r, &rep, "PING"), CORIO_EFDCLOSED);
    ASSERT(contains(last_message(), "closed"));
    ASSERT_EQ(corio_redis_subscribe(r, ch, 1), CORIO_EFDCLOSED);
    ASSERT_EQ(corio_redis_unsubscribe(r, ch, 1), CORIO_EFDCLOSED);
    ASSERT_EQ(corio_redis_free(r), 0);
    ASSERT_EQ(corio_redis_free(NULL), 0);
    corio_redis_reply_free(NULL);
    corio_redis_message_free(NULL);
    return 0;
}

static corio_redis *outside_conn;
static int connect_only(void *arg, void **res) {
    (void)arg, (void)res;
    outside_conn = conn();
    return 0;
}

static int settle(void *arg, void **res) {
    (void)arg, (void)res;
    return corio_sleep(0.05);
}

TEST(redis_bad_input) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(bad_input_body, NULL);
    /* outside a task */
    corio_redis *r = NULL;
    ASSERT_EQ(corio_redis_connect("127.0.0.1", srv.port, 1, &r), CORIO_ENOTINTASK);
    ASSERT_EQ(corio_redis_connect_unix(srv.sock, 1, &r), CORIO_ENOTINTASK);
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, connect_only, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    redisReply *rep;
    ASSERT_EQ(corio_redis_command(outside_conn, &rep, "PING"), CORIO_ENOTINTASK);
    corio_redis_message *m;
    ASSERT_EQ(corio_redis_get_message(outside_conn, &m), CORIO_ENOTINTASK);
    /* a task left inside a command when the loop closes (destroyed
     * there), then the connection freed after that close: no crash, no
     * leak */
    pending p = {.r = outside_conn};
    ASSERT_EQ(corio_loop_set_exception_handler(loop, quiet, NULL), 0);
    ASSERT_EQ(corio_loop_create_task(loop, blpop_task, &p, NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_create_task(loop, settle, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0); /* blpop_task waits meanwhile */
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_redis_free(outside_conn), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    server_stop();
    return 0;
}

/* ---- no stale event on a reused number ---------------------------------------------------------------------- */

/* The number the connection had comes back for a socketpair at once; a
 * task waits on it: no hiredis callback may fire (ASan would see the
 * freed connection) and nothing may hold the direction (CORIO_EBUSY). */
static void reuse_number(int old) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    int mine = sv[0] == old ? 0 : sv[1] == old ? 1 : -1;
    ASSERT(mine >= 0);
    ASSERT_EQ(write(sv[1 - mine], "x", 1), 1);
    ASSERT_EQ(corio_wait_fd(sv[mine], CORIO_READABLE), CORIO_READABLE);
    corio_sleep(0.01); /* a stale registration would fire now */
    char c;
    ASSERT_EQ(read(sv[mine], &c, 1), 1);
    ASSERT_EQ(corio_close_fd(sv[0]), 0);
    ASSERT_EQ(corio_close_fd(sv[1]), 0);
}

static int fd_reuse_body(void *arg, void **res) {
    (void)arg, (void)res;
    /* closed by the program */
    corio_redis *r = conn();
    expect_str(r, "PONG", "PING", NULL, NULL);
    int fd = corio_redis_fd(r);
    ASSERT_EQ(corio_redis_free(r), 0);
    ASSERT(fcntl(fd, F_GETFD) < 0); /* closed */
    reuse_number(fd);
    /* closed by hiredis, inside its read callback: the server hangs up */
    r = conn();
    int had = corio_redis_fd(r);
    redisReply *rep;
    pending p = {.r = r};
    corio_task *t;
    ASSERT_EQ(corio_create_task(blpop_task, &p, NULL, &t), 0);
    corio_redis *killer = conn();
    ASSERT_EQ(corio_redis_command(killer, &rep, "CLIENT KILL TYPE normal SKIPME yes"), 0);
    corio_redis_reply_free(rep);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(p.rc, -ECONNRESET);
    fd = corio_redis_fd(r);
    ASSERT_EQ(fd, -1); /* gone already, before the program frees it */
    ASSERT_EQ(corio_redis_free(r), 0);
    ASSERT_EQ(corio_redis_free(killer), 0);
    /* the lowest free number again: what the connection had */
    int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(probe, had);
    close(probe);
    reuse_number(had);
    return 0;
}

TEST(redis_fd_reuse) {
    int rc = server_start();
    if (rc) return rc;
    on_loop(fd_reuse_body, NULL);
    server_stop();
    return 0;
}

#endif /* CORIO_TEST_REDIS */
