/* Streams and servers (io.md 3) on loopback: an echo server, each reading
 * call and its edge cases (EOF mid-readexactly / readuntil, the limit,
 * readline's overlong line), cancel safety, write after close, many
 * drainers, close_clients, a Unix server. Real loops; every wait ends on
 * something the test does. */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

static int port_of(corio_server *srv) {
    struct sockaddr_in a;
    unsigned int len = sizeof a;
    ASSERT_EQ(corio_server_sockname(srv, 0, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* ---- an echo server: lines back until EOF ------------------------------- */

static int handled;
static int echo_handler(corio_stream *s, void *arg) {
    (void)arg;
    handled++;
    const void *line;
    size_t len;
    int rc;
    while ((rc = corio_stream_readline(s, &line, &len)) == 0 && len > 0) {
        if ((rc = corio_stream_write(s, line, len)) < 0) return rc;
        if ((rc = corio_stream_drain(s)) < 0) return rc;
    }
    return rc;
}

static int echo_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_server *srv;
    handled = 0;
    corio_server_options opts = {.limit = 2 << 20}; /* a 1 MiB line comes */
    ASSERT_EQ(corio_start_server(echo_handler, NULL, "127.0.0.1", 0, &opts, &srv), 0);
    ASSERT(corio_server_is_serving(srv));
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_write(c, "hello\nworld\n", 12), 0);
    const void *data;
    size_t len;
    ASSERT_EQ(corio_stream_readline(c, &data, &len), 0);
    ASSERT_EQ(len, 6);
    ASSERT(memcmp(data, "hello\n", 6) == 0);
    ASSERT_EQ(corio_stream_readuntil(c, "ld\n", 3, &data, &len), 0);
    ASSERT_EQ(len, 6);
    ASSERT(memcmp(data, "world\n", 6) == 0);
    /* a big one: more than the socket buffers, drained */
    size_t big = 1 << 20;
    char *buf = malloc(big + 1);
    for (size_t i = 0; i < big; i++) buf[i] = (char)('a' + i % 26);
    buf[big] = '\n';
    ASSERT_EQ(corio_stream_set_limit(c, big + 2), 0);
    ASSERT_EQ(corio_stream_write(c, buf, big + 1), 0);
    ASSERT_EQ(corio_stream_drain(c), 0);
    ASSERT_EQ(corio_stream_readexactly(c, buf, big + 1, NULL), 0);
    for (size_t i = 0; i < big; i++) ASSERT_EQ(buf[i], (char)('a' + i % 26));
    free(buf);
    /* EOF both ways */
    ASSERT_EQ(corio_stream_write_eof(c), 0);
    ASSERT_EQ(corio_stream_write(c, "x", 1), CORIO_EFDCLOSED); /* after write_eof: an error */
    ASSERT_EQ(corio_stream_read_all(c, &data, &len), 0);
    ASSERT_EQ(len, 0);
    ASSERT(corio_stream_at_eof(c));
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_stream_wait_closed(c), 0);
    ASSERT_EQ(corio_stream_write(c, "x", 1), CORIO_EFDCLOSED); /* after close: an error */
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(corio_server_close(srv), 0);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(handled, 1);
    ASSERT_EQ(corio_server_free(srv), 0);
    return 0;
}

TEST(stream_echo_server) {
    on_loop(echo_body, NULL);
    return 0;
}

/* ---- reading edge cases, against a server that sends a script ----------- */

typedef struct script {
    const char *bytes;
    size_t len;
    int then_close;
} script;

static int script_handler(corio_stream *s, void *arg) {
    script *sc = arg;
    int rc = corio_stream_write(s, sc->bytes, sc->len);
    if (rc == 0) rc = corio_stream_drain(s);
    if (sc->then_close) return rc; /* the server closes it */
    const void *d;
    size_t n;
    return corio_stream_read_all(s, &d, &n); /* until the client closes */
}

static corio_server *script_server(script *sc) {
    corio_server *srv;
    ASSERT_EQ(corio_start_server(script_handler, sc, "127.0.0.1", 0, NULL, &srv), 0);
    return srv;
}

static void done_server(corio_server *srv) {
    ASSERT_EQ(corio_server_close(srv), 0);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
}

static int reading_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    const void *d;
    size_t n, got;
    char buf[64];
    /* EOF in the middle of readexactly: the partial bytes */
    script a = {"abc", 3, 1};
    corio_server *srv = script_server(&a);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_readexactly(c, buf, 5, &got), CORIO_EINCOMPLETE);
    ASSERT_EQ(got, 3);
    ASSERT(memcmp(buf, "abc", 3) == 0);
    ASSERT(corio_stream_at_eof(c));
    ASSERT_EQ(corio_stream_free(c), 0);
    done_server(srv);
    /* EOF before the separator: the partial data */
    script b = {"no separator", 12, 1};
    srv = script_server(&b);
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_readuntil(c, "\r\n", 2, &d, &n), CORIO_EINCOMPLETE);
    ASSERT_EQ(n, 12);
    ASSERT(memcmp(d, "no separator", 12) == 0);
    ASSERT_EQ(corio_stream_readline(c, &d, &n), 0); /* EOF: an empty line, no error */
    ASSERT_EQ(n, 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    done_server(srv);
    /* over the limit: readuntil keeps the data, readline drops the line */
    script l = {"0123456789abcdef\nnext\n", 22, 0};
    srv = script_server(&l);
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_set_limit(c, 8), 0);
    ASSERT_EQ(corio_stream_readexactly(c, buf, 1, NULL), 0); /* wait for the bytes */
    ASSERT_EQ(corio_stream_readuntil(c, "\n", 1, &d, &n), CORIO_ELIMIT);
    ASSERT(d == NULL);
    ASSERT_EQ(corio_stream_readexactly(c, buf, 4, NULL), 0); /* still there */
    ASSERT(memcmp(buf, "1234", 4) == 0);
    ASSERT_EQ(corio_stream_readline(c, &d, &n), CORIO_ELIMIT); /* 56789abcdef\n goes */
    ASSERT_EQ(corio_stream_readline(c, &d, &n), 0);
    ASSERT_EQ(n, 5);
    ASSERT(memcmp(d, "next\n", 5) == 0);
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_stream_wait_closed(c), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    done_server(srv);
    return 0;
}

TEST(stream_reading_edges) {
    on_loop(reading_body, NULL);
    return 0;
}

/* ---- cancel safety: a read that times out consumes nothing ---------------- */

static corio_stream *slow_peer;
static int trickle_handler(corio_stream *s, void *arg) {
    (void)arg;
    slow_peer = s;
    const void *d;
    size_t n;
    return corio_stream_read_all(s, &d, &n); /* the test writes through slow_peer */
}

static int cancel_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_server *srv;
    slow_peer = NULL;
    ASSERT_EQ(corio_start_server(trickle_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    while (!slow_peer) ASSERT_EQ(corio_sleep(0.001), 0);
    ASSERT_EQ(corio_stream_write(slow_peer, "part", 4), 0);
    char buf[16];
    size_t got;
    const void *d;
    size_t n;
    /* readexactly(8) times out with 4 bytes in: they stay */
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(0.05, &to), 0);
    int rc = corio_stream_readexactly(c, buf, 8, &got);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
    /* read_all too (CPython would lose what it gathered) */
    ASSERT_EQ(corio_timeout_enter(0.05, &to), 0);
    rc = corio_stream_read_all(c, &d, &n);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_stream_write(slow_peer, "ial\n", 4), 0);
    ASSERT_EQ(corio_stream_readline(c, &d, &n), 0);
    ASSERT_EQ(n, 8);
    ASSERT(memcmp(d, "partial\n", 8) == 0);
    ASSERT_EQ(corio_stream_abort(c), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    done_server(srv);
    return 0;
}

TEST(stream_cancelled_read_keeps_bytes) {
    on_loop(cancel_body, NULL);
    return 0;
}

/* ---- two readers; many drainers ------------------------------------------- */

static corio_stream *shared;
static int reads_one(void *arg, void **res) {
    (void)arg;
    (void)res;
    char c;
    size_t got;
    return corio_stream_read(shared, &c, 1, &got);
}
static int drains(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_stream_drain(shared);
}

static int sink_handler(corio_stream *s, void *arg) {
    (void)arg;
    slow_peer = s;
    const void *d;
    size_t n;
    /* wait for the go, then swallow everything */
    char go;
    size_t got;
    int rc = corio_stream_read(s, &go, 1, &got);
    if (rc == 0) rc = corio_stream_read_all(s, &d, &n);
    return rc;
}

static int many_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_server *srv;
    slow_peer = NULL;
    ASSERT_EQ(corio_start_server(sink_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &shared), 0);
    while (!slow_peer) ASSERT_EQ(corio_sleep(0.001), 0);
    /* two readers: the second is refused while the first waits */
    corio_task *r1, *r2;
    ASSERT_EQ(corio_create_task(reads_one, NULL, NULL, &r1), 0);
    ASSERT_EQ(corio_create_task(reads_one, NULL, NULL, &r2), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT(corio_future_done(r2));
    ASSERT_EQ(corio_await(r2, NULL), CORIO_EBUSY);
    ASSERT_EQ(corio_stream_write(slow_peer, "!", 1), 0);
    ASSERT_EQ(corio_await(r1, NULL), 0);
    corio_future_unref(r1);
    corio_future_unref(r2);
    /* three drainers over a full buffer; the peer reads once told to */
    /* More than the kernel holds for a peer that does not read: small
     * socket buffers (kernels since 6.x let a receive buffer grow to 32
     * MiB), and 16 MiB. */
    int small = 64 * 1024;
    ASSERT_EQ(setsockopt(corio_stream_fd(shared), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    ASSERT_EQ(setsockopt(corio_stream_fd(slow_peer), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    size_t big = 16 << 20;
    char *buf = calloc(1, big);
    ASSERT_EQ(corio_stream_write(shared, "g", 1), 0); /* the go */
    ASSERT_EQ(corio_stream_write(shared, buf, big), 0);
    free(buf);
    ASSERT(corio_stream_write_buffer_size(shared) > 64 * 1024);
    corio_task *d[3];
    for (int i = 0; i < 3; i++) ASSERT_EQ(corio_create_task(drains, NULL, NULL, &d[i]), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(corio_await(d[i], NULL), 0);
        corio_future_unref(d[i]);
    }
    ASSERT(corio_stream_write_buffer_size(shared) <= 16 * 1024);
    ASSERT_EQ(corio_stream_close(shared), 0);
    ASSERT_EQ(corio_stream_wait_closed(shared), 0);
    ASSERT_EQ(corio_stream_free(shared), 0);
    done_server(srv);
    return 0;
}

TEST(stream_two_readers_many_drainers) {
    on_loop(many_body, NULL);
    return 0;
}

/* ---- servers: close_clients, a Unix socket, refused connections ------------ */

static int idle_handler(corio_stream *s, void *arg) {
    (void)arg;
    const void *d;
    size_t n;
    int rc = corio_stream_read_all(s, &d, &n);
    return rc == CORIO_EFDCLOSED ? 0 : rc; /* close_clients closed it under us */
}

static int clients_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_server *srv;
    char path[64];
    snprintf(path, sizeof path, "@corio-test-%d", (int)getpid());
    ASSERT_EQ(corio_start_unix_server(idle_handler, NULL, path, NULL, &srv), 0);
    corio_stream *c[3];
    for (int i = 0; i < 3; i++) ASSERT_EQ(corio_open_unix_connection(path, &c[i]), 0);
    ASSERT_EQ(corio_sleep(0.01), 0); /* accepted */
    ASSERT_EQ(corio_server_close(srv), 0);
    ASSERT(!corio_server_is_serving(srv));
    corio_stream *late;
    ASSERT_EQ(corio_open_unix_connection(path, &late), -ECONNREFUSED); /* not listening */
    ASSERT_EQ(corio_server_free(srv), CORIO_EBUSY); /* connections are open */
    ASSERT_EQ(corio_server_close_clients(srv), 0);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    for (int i = 0; i < 3; i++) {
        const void *d;
        size_t n;
        ASSERT_EQ(corio_stream_read_all(c[i], &d, &n), 0); /* the server's side closed */
        ASSERT_EQ(corio_stream_free(c[i]), 0);
    }
    ASSERT_EQ(corio_server_free(srv), 0);
    /* bad input */
    corio_stream *x;
    ASSERT_EQ(corio_open_connection(NULL, 80, &x), CORIO_EINVAL); /* names: tests/test_names.c */
    ASSERT_EQ(corio_open_connection("127.0.0.1", 70000, &x), CORIO_EINVAL);
    ASSERT_EQ(corio_start_server(NULL, NULL, "127.0.0.1", 0, NULL, &srv), CORIO_EINVAL);
    return 0;
}

TEST(stream_server_close_clients_unix) {
    on_loop(clients_body, NULL);
    return 0;
}

/* A loop closed under a server with open connections frees everything. */
static corio_server *left_srv;
static corio_stream *left_client;
static int leaves_server(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_start_server(idle_handler, NULL, "127.0.0.1", 0, NULL, &left_srv), 0);
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(left_srv), &left_client), 0);
    return corio_sleep(0.01);
}

TEST(stream_loop_closed_under_server) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_loop_set_exception_handler(loop, quiet, NULL);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, leaves_server, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    ASSERT_EQ(corio_stream_free(left_client), 0);
    return 0;
}

/* ---- a peer that resets; EMFILE at accept; a small soak ------------------ */

static int reset_handler(corio_stream *s, void *arg) {
    (void)arg;
    struct linger lg = {1, 0}; /* close with RST */
    setsockopt(corio_stream_fd(s), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    char c;
    size_t n;
    int rc = corio_stream_read(s, &c, 1, &n); /* the client's byte */
    corio_stream_abort(s);
    return rc;
}

static int reset_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_server *srv;
    ASSERT_EQ(corio_start_server(reset_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_write(c, "x", 1), 0);
    char buf[8];
    size_t n;
    int rc = corio_stream_read(c, buf, sizeof buf, &n);
    ASSERT_EQ(rc, -ECONNRESET);
    ASSERT_EQ(corio_stream_read(c, buf, sizeof buf, &n), -ECONNRESET); /* it stays */
    /* writing to a reset peer is an error too, at once or at the drain */
    rc = corio_stream_write(c, "more", 4);
    if (rc == 0) rc = corio_stream_drain(c);
    ASSERT(rc == -EPIPE || rc == -ECONNRESET);
    ASSERT_EQ(corio_stream_free(c), 0);
    done_server(srv);
    return 0;
}

TEST(stream_peer_reset) {
    on_loop(reset_body, NULL);
    return 0;
}

/* Out of descriptors while accepting: the server pauses, then serves the
 * waiting connection once a descriptor is free again. */
static int emfile_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_server *srv;
    handled = 0;
    ASSERT_EQ(corio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_write(c, "one\n", 4), 0);
    const void *d;
    size_t n;
    ASSERT_EQ(corio_stream_readline(c, &d, &n), 0);
    /* use up every descriptor: the next accept fails with EMFILE */
    int hog[4096], nhog = 0;
    while (nhog < 4096 && (hog[nhog] = dup(0)) >= 0) nhog++;
    ASSERT(nhog < 4096); /* the limit was reached */
    close(hog[--nhog]);  /* one for the client's socket, none for the server's accept */
    corio_stream *c2;
    int rc = corio_open_connection("127.0.0.1", port_of(srv), &c2);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_stream_write(c2, "two\n", 4), 0);
    ASSERT_EQ(corio_sleep(0.05), 0); /* the acceptor met EMFILE and paused */
    for (int i = 0; i < nhog; i++) close(hog[i]);
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(10, &to), 0); /* the pause is 1 s */
    rc = corio_stream_readline(c2, &d, &n);
    ASSERT_EQ(corio_timeout_exit(to, rc), 0);
    ASSERT_EQ(n, 4);
    ASSERT_EQ(handled, 2);
    ASSERT_EQ(corio_stream_free(c2), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    done_server(srv);
    return 0;
}

TEST(stream_server_emfile_pauses) {
    struct rlimit old, low;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256; /* small enough to exhaust quickly */
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    on_loop(emfile_body, NULL);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    return 0;
}

/* A soak: many connections and requests through one server, descriptors
 * back to baseline at the end (the runner checks them). CORIO_SOAK_CONNS /
 * CORIO_SOAK_REQUESTS make it the full size by hand (10 000 and 1 000 000). */
static long soak_requests;
static int soak_port;
static int soak_client(void *arg, void **res) {
    (void)res;
    long each = (long)(intptr_t)arg;
    corio_stream *c;
    int rc = corio_open_connection("127.0.0.1", soak_port, &c);
    if (rc < 0) return rc;
    for (long i = 0; i < each && rc == 0; i++) {
        const void *d;
        size_t n;
        if ((rc = corio_stream_write(c, "ping\n", 5)) == 0) rc = corio_stream_readline(c, &d, &n);
        if (rc == 0 && n != 5) rc = CORIO_EINVAL;
        if (rc == 0) soak_requests++;
    }
    corio_stream_close(c);
    corio_stream_wait_closed(c);
    corio_stream_free(c);
    return rc;
}

static long soak_conns, soak_total;
static int soak_split; /* the clients in a child process (descriptor limits) */
static int port_pipe[2], done_pipe[2]; /* parent -> child: the port; child -> parent: done */

static int soak_clients(void *arg, void **res) {
    (void)arg;
    (void)res;
    soak_requests = 0;
    corio_aw *aws = calloc((size_t)soak_conns, sizeof *aws);
    for (long i = 0; i < soak_conns; i++)
        aws[i] = CORIO_CORO(soak_client, (void *)(intptr_t)(soak_total / soak_conns));
    int rc = corio_gather_wait(aws, (size_t)soak_conns, 0, NULL);
    free(aws);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(soak_requests, soak_total / soak_conns * soak_conns);
    return 0;
}

static int soak_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_server *srv;
    corio_server_options opts = {.backlog = 4096};
    ASSERT_EQ(corio_start_server(echo_handler, NULL, "127.0.0.1", 0, &opts, &srv), 0);
    soak_port = port_of(srv);
    if (soak_split) { /* the child's clients: tell the port, wait for their end */
        ASSERT_EQ(write(port_pipe[1], &soak_port, sizeof soak_port), (ssize_t)sizeof soak_port);
        ASSERT_EQ(corio_wait_fd(done_pipe[0], CORIO_READABLE), CORIO_READABLE);
        char c;
        ASSERT_EQ(read(done_pipe[0], &c, 1), 1);
        ASSERT_EQ(corio_close_fd(done_pipe[0]), 0); /* forgotten by the loop before it closes */
    } else {
        corio_task *t;
        ASSERT_EQ(corio_create_task(soak_clients, NULL, NULL, &t), 0);
        ASSERT_EQ(corio_await(t, NULL), 0);
        corio_future_unref(t);
    }
    done_server(srv);
    return 0;
}

static int raise_nofile(rlim_t want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur >= want) return 0;
    if (want > rl.rlim_max) return -1;
    rl.rlim_cur = want;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

TEST(stream_soak) {
    soak_conns = getenv("CORIO_SOAK_CONNS") ? atol(getenv("CORIO_SOAK_CONNS")) : 200;
    soak_total = getenv("CORIO_SOAK_REQUESTS") ? atol(getenv("CORIO_SOAK_REQUESTS")) : 20000;
    if (soak_conns <= 0 || soak_total < soak_conns) return 2;
    /* Both ends in one process when the limit allows; else the clients in
     * a child of their own, each end within the limit. */
    soak_split = raise_nofile((rlim_t)(2 * soak_conns + 64)) != 0;
    if (soak_split && raise_nofile((rlim_t)(soak_conns + 64)) != 0) {
        printf("soak: cannot raise the descriptor limit to %ld: skipped\n", soak_conns + 64);
        return TEST_SKIP;
    }
    if (!soak_split) {
        on_loop(soak_body, NULL);
        return 0;
    }
    ASSERT_EQ(pipe2(port_pipe, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(done_pipe, O_CLOEXEC), 0);
    pid_t pid = fork(); /* before any loop: the child starts clean */
    ASSERT(pid >= 0);
    if (pid == 0) {
        close(port_pipe[1]);
        close(done_pipe[0]);
        if (read(port_pipe[0], &soak_port, sizeof soak_port) != (ssize_t)sizeof soak_port) _exit(3);
        int rc = corio_run(soak_clients, NULL, NULL);
        char c = 'x';
        if (write(done_pipe[1], &c, 1) != 1) _exit(4);
        _exit(rc == 0 ? 0 : 5);
    }
    close(port_pipe[0]);
    close(done_pipe[1]);
    on_loop(soak_body, NULL);
    close(port_pipe[1]);
    int st;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    printf("soak: %ld connections, %ld requests, the clients in a child process\n", soak_conns,
           soak_total / soak_conns * soak_conns);
    return 0;
}

/* Every stand-in call of the stream and server paths failed in turn: each
 * failure is a clean error, and nothing is left behind (descriptors: the
 * runner; memory: the ASan build's leak check). */
long corio__fail_after(long nth);
static int fault_past_end;

static int fault_stream_body(void *arg, void **res) {
    (void)res;
    long nth = (long)(intptr_t)arg;
    corio__fail_after(nth);
    corio_server *srv = NULL;
    corio_stream *c = NULL;
    handled = 0;
    int rc = corio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv);
    if (rc == 0) {
        struct sockaddr_in a;
        unsigned int len = sizeof a;
        rc = corio_server_sockname(srv, 0, (struct sockaddr *)&a, &len);
        if (rc == 0) rc = corio_open_connection("127.0.0.1", ntohs(a.sin_port), &c);
    }
    const void *d;
    size_t n = 0;
    if (rc == 0) rc = corio_stream_write(c, "hi\n", 3);
    if (rc == 0) rc = corio_stream_drain(c);
    corio_timeout *to = NULL;
    if (rc == 0) rc = corio_timeout_enter(0.5, &to); /* a failed server side: no echo */
    if (rc == 0) {
        rc = corio_stream_readline(c, &d, &n);
        rc = corio_timeout_exit(to, rc);
    }
    long made = corio__fail_after(0);
    if (rc == 0) ASSERT(n == 3 || n == 0); /* 0: the server's side failed, the client saw EOF */
    else ASSERT(rc < 0 && rc != CORIO_EINVALSTATE);
    if (c) {
        corio_stream_close(c);
        ASSERT_EQ(corio_stream_free(c), 0);
    }
    if (srv) {
        corio_server_close(srv);
        corio_server_abort_clients(srv);
        ASSERT_EQ(corio_server_wait_closed(srv), 0);
        ASSERT_EQ(corio_server_free(srv), 0);
    }
    fault_past_end = rc == 0 && n == 3 && made < nth;
    return 0;
}

static int fault_stream_sweep(void *arg, void **res) {
    (void)arg;
    (void)res;
    for (long nth = 1; nth < 400; nth++) {
        corio_task *t;
        ASSERT_EQ(corio_create_task(fault_stream_body, (void *)(intptr_t)nth, NULL, &t), 0);
        fault_past_end = 0;
        ASSERT_EQ(corio_await(t, NULL), 0);
        corio_future_unref(t);
        if (fault_past_end) {
            printf("stream path: each of %ld calls failed in turn\n", nth - 1);
            ASSERT(nth > 10);
            return 0;
        }
    }
    ASSERT(!"more than 400 calls on the stream path?");
    return 0;
}

TEST(stream_fault_injection) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_loop_set_exception_handler(loop, quiet, NULL); /* handlers that failed on purpose */
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, fault_stream_sweep, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

/* IPv6 on ::1 (skipped where the machine has no IPv6 loopback). */
static int v6_body(void *arg, void **res) {
    (void)arg;
    corio_server *srv;
    int rc = corio_start_server(echo_handler, NULL, "::1", 0, NULL, &srv);
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
        *res = (void *)(intptr_t)77;
        return 0;
    }
    ASSERT_EQ(rc, 0);
    struct sockaddr_in6 a;
    unsigned int len = sizeof a;
    ASSERT_EQ(corio_server_sockname(srv, 0, (struct sockaddr *)&a, &len), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("[::1]", ntohs(a.sin6_port), &c), 0);
    ASSERT_EQ(corio_stream_write(c, "six\n", 4), 0);
    const void *d;
    size_t n;
    ASSERT_EQ(corio_stream_readline(c, &d, &n), 0);
    ASSERT_EQ(n, 4);
    struct sockaddr_in6 peer;
    unsigned int plen = sizeof peer;
    ASSERT_EQ(corio_stream_peername(c, (struct sockaddr *)&peer, &plen), 0);
    ASSERT_EQ(peer.sin6_family, AF_INET6);
    ASSERT_EQ(corio_stream_free(c), 0);
    done_server(srv);
    return 0;
}

TEST(stream_ipv6) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, v6_body, NULL, NULL, 0, &t), 0);
    void *r = NULL;
    int rc = corio_loop_run_until_complete(loop, t, &r);
    corio_future_unref(t);
    close_loop(loop);
    ASSERT_EQ(rc, 0);
    if ((intptr_t)r == 77) {
        printf("no IPv6 loopback here: skipped\n");
        return TEST_SKIP;
    }
    return 0;
}

/* A megabyte through a pipe, far more than it holds: the writer drains,
 * the reader takes it all; every byte arrives once, in order (on io_uring
 * a write to a full non-blocking pipe may answer EAGAIN instead of
 * waiting in the kernel). */
#define BULK (1 << 20)
static int bulk_reader(void *arg, void **res) {
    (void)res;
    corio_stream *r = arg;
    const void *d;
    size_t n;
    ASSERT_EQ(corio_stream_read_all(r, &d, &n), 0);
    ASSERT_EQ(n, BULK);
    for (size_t i = 0; i < n; i++) ASSERT_EQ(((const unsigned char *)d)[i], (unsigned char)(i * 7));
    return 0;
}

static int bulk_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    corio_stream *r, *w;
    ASSERT_EQ(corio_stream_from_fd(p[0], &r), 0);
    ASSERT_EQ(corio_stream_from_fd(p[1], &w), 0);
    ASSERT_EQ(corio_stream_set_limit(r, 2 * BULK), 0);
    corio_task *t;
    ASSERT_EQ(corio_create_task(bulk_reader, r, NULL, &t), 0);
    unsigned char chunk[4096];
    for (size_t off = 0; off < BULK; off += sizeof chunk) {
        for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (unsigned char)((off + i) * 7);
        ASSERT_EQ(corio_stream_write(w, chunk, sizeof chunk), 0);
        ASSERT_EQ(corio_stream_drain(w), 0);
    }
    ASSERT_EQ(corio_stream_close(w), 0); /* flushes, then closes: the reader's EOF */
    ASSERT_EQ(corio_stream_wait_closed(w), 0);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_stream_free(w), 0);
    ASSERT_EQ(corio_stream_free(r), 0);
    return 0;
}

TEST(stream_pipe_bulk) {
    on_loop(bulk_body, NULL);
    return 0;
}
