/* Regression tests for what a hostile review of the I/O layer found. */
#include "test.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* One task consumes buffered bytes while another waits to receive more:
 * the receiver's bytes land after the data, not over it. */
static corio_stream *S;
static int peer;
static int waits_for_ten(void *arg, void **res) {
    (void)arg;
    (void)res;
    char buf[16] = {0};
    size_t got = 0;
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(0.02, &to), 0);
    int rc = corio_stream_readexactly(S, buf, 10, &got);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_stream_readexactly(S, buf, 10, &got), 0);
    ASSERT(memcmp(buf, "ABCDEFGHIJ", 10) == 0);
    return 0;
}
static int interleaved_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    peer = sv[1];
    ASSERT_EQ(corio_stream_from_fd(sv[0], &S), 0);
    ASSERT_EQ(write(peer, "xyz", 3), 3);
    char c, b2[2];
    size_t got;
    ASSERT_EQ(corio_stream_read(S, &c, 1, &got), 0);
    corio_task *a;
    ASSERT_EQ(corio_create_task(waits_for_ten, NULL, "A", &a), 0);
    ASSERT_EQ(corio_sleep(0.1), 0); /* A timed out once and waits again */
    ASSERT_EQ(corio_stream_read(S, b2, 2, &got), 0); /* the buffered "yz" */
    ASSERT_EQ(got, 2);
    ASSERT_EQ(corio_stream_read(S, &c, 1, &got), CORIO_EBUSY); /* A waits */
    ASSERT_EQ(write(peer, "ABCDEFGHIJ", 10), 10);
    ASSERT_EQ(corio_await(a, NULL), 0);
    corio_future_unref(a);
    ASSERT_EQ(corio_stream_free(S), 0);
    close(peer);
    return 0;
}

TEST(io_review_interleaved_readers) {
    on_loop(interleaved_body, NULL);
    return 0;
}

/* corio_close_fd where no loop runs still takes the descriptor out of the
 * loop that watches it: the next descriptor with that number carries no
 * stale callback, and a wait on it works. */
static int stale_calls;
static void stale_cb(void *arg) {
    (void)arg;
    stale_calls++;
}
static int reused_fd;
static int waits_writable(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_wait_fd(reused_fd, CORIO_WRITABLE), CORIO_WRITABLE);
    for (int i = 0; i < 3; i++) ASSERT_EQ(corio_sleep(0), 0);
    return 0;
}

TEST(io_review_close_fd_without_running_loop) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    ASSERT_EQ(write(p[1], "x", 1), 1); /* readable: the old callback would fire */
    ASSERT_EQ(corio_loop_add_reader(loop, p[0], stale_cb, NULL), 0);
    int old = p[0];
    ASSERT_EQ(corio_close_fd(p[0]), 0); /* no loop runs here */
    int q[2];
    ASSERT_EQ(pipe2(q, O_NONBLOCK | O_CLOEXEC), 0);
    ASSERT_EQ(q[0], old);
    ASSERT_EQ(write(q[1], "y", 1), 1); /* readable too */
    reused_fd = q[0];
    corio_task *t;
    stale_calls = 0;
    /* a wait for writability on the read end never ends: use the write end */
    reused_fd = q[1];
    ASSERT_EQ(corio_loop_create_task(loop, waits_writable, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(stale_calls, 0);
    close_loop(loop);
    close(q[0]);
    close(q[1]);
    close(p[1]);
    return 0;
}

/* A server freed after its loop closed; a stream freed after its loop
 * closed under a task that was inside a read. */
static corio_server *orphan;
static corio_stream *orphan_stream;
static int orphan_peer;
static int reads_forever(void *arg, void **res) {
    (void)arg;
    (void)res;
    char c;
    size_t got;
    return corio_stream_read(orphan_stream, &c, 1, &got);
}
static int h_noop(corio_stream *s, void *arg) {
    (void)s, (void)arg;
    return 0;
}
static int orphan_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_start_server(h_noop, NULL, "127.0.0.1", 0, NULL, &orphan), 0);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    orphan_peer = sv[1];
    ASSERT_EQ(corio_stream_from_fd(sv[0], &orphan_stream), 0);
    ASSERT_EQ(corio_create_task(reads_forever, NULL, NULL, NULL), 0);
    return corio_sleep(0.01);
}

TEST(io_review_free_after_loop_closed) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_loop_set_exception_handler(loop, quiet, NULL);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, orphan_body, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_server_free(orphan), 0);        /* the struct was left for it */
    ASSERT_EQ(corio_stream_free(orphan_stream), 0); /* its reader was destroyed */
    ASSERT_EQ(corio_loop_free(loop), 0);
    close(orphan_peer);
    return 0;
}

/* A handler may not free the stream it borrows. */
static int freed_rc = 1;
static int frees_borrowed(corio_stream *s, void *arg) {
    (void)arg;
    freed_rc = corio_stream_free(s);
    return 0;
}
static int borrowed_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_server *srv;
    ASSERT_EQ(corio_start_server(frees_borrowed, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    struct sockaddr_storage ss;
    unsigned int len = sizeof ss;
    ASSERT_EQ(corio_server_sockname(srv, 0, (struct sockaddr *)&ss, &len), 0);
    int fd;
    ASSERT_EQ(corio_socket(AF_INET, SOCK_STREAM, 0, &fd), 0);
    ASSERT_EQ(corio_sock_connect(fd, (struct sockaddr *)&ss, len), 0);
    while (freed_rc == 1) ASSERT_EQ(corio_sleep(0.001), 0);
    ASSERT_EQ(freed_rc, CORIO_EINVAL);
    ASSERT_EQ(corio_close_fd(fd), 0);
    ASSERT_EQ(corio_server_close(srv), 0);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    return 0;
}

TEST(io_review_handler_frees_borrowed_stream) {
    on_loop(borrowed_body, NULL);
    return 0;
}

/* Streams over pipes; bogus descriptor numbers; sizes that would wrap. */
static int pipe_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    corio_stream *r, *w;
    ASSERT_EQ(corio_stream_from_fd(p[0], &r), 0);
    ASSERT_EQ(corio_stream_from_fd(p[1], &w), 0);
    ASSERT(!corio_stream_can_write_eof(w));
    ASSERT_EQ(corio_stream_write(w, "line\n", 5), 0);
    const void *d;
    size_t n;
    ASSERT_EQ(corio_stream_readline(r, &d, &n), 0);
    ASSERT_EQ(n, 5);
    /* with bytes queued (more than the pipe holds), a size that would wrap
     * the buffer's arithmetic is refused, not looped on */
    char *big = calloc(1, 256 * 1024);
    ASSERT_EQ(corio_stream_write(w, big, 256 * 1024), 0);
    free(big);
    ASSERT(corio_stream_write_buffer_size(w) > 0);
    ASSERT_EQ(corio_stream_write(w, "x", SIZE_MAX / 2 + 2), CORIO_ENOMEM);
    ASSERT_EQ(corio_stream_abort(w), 0);
    ASSERT_EQ(corio_stream_free(w), 0);
    ASSERT_EQ(corio_stream_read_all(r, &d, &n), 0); /* what the pipe held, then EOF */
    ASSERT(corio_stream_at_eof(r));
    ASSERT_EQ(corio_stream_free(r), 0);
    /* numbers that are no descriptor: refused before any table grows */
    ASSERT_EQ(corio_wait_fd(1 << 26, CORIO_READABLE), -EBADF);
    ASSERT_EQ(corio_loop_add_reader(corio_get_running_loop(), 1 << 27, stale_cb, NULL), -EBADF);
    return 0;
}

TEST(io_review_pipes_and_bad_sizes) {
    on_loop(pipe_body, NULL);
    return 0;
}
