/* The hostile review of streams' background sends on io_uring, kept as
 * regression tests (each probe that found a bug fails before its fix);
 * like every stream_ test they run on both backends. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

long corio__fail_after(long nth);

static const char *bk(void) { return on_uring() ? "io_uring" : "epoll"; }

/* 1. A pipe stream whose reader is gone: the write must report EPIPE
 * (epoll: write(2) with SIGPIPE blocked) and the process must not die of
 * SIGPIPE. */
static int sigpipe_body(void *arg, void **res) {
    (void)arg, (void)res;
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    corio_stream *w;
    ASSERT_EQ(corio_stream_from_fd(p[1], &w), 0);
    close(p[0]);
    int rc1 = corio_stream_write(w, "hello", 5);
    int rc2 = corio_stream_drain(w);
    for (int i = 0; i < 5; i++) ASSERT_EQ(corio_sleep(0.001), 0);
    int rc3 = corio_stream_write(w, "again", 5);
    int rc4 = corio_stream_close(w);
    int rc5 = corio_stream_wait_closed(w);
    fprintf(stderr, "[%s] pipe EPIPE: write=%d drain=%d write2=%d close=%d wait_closed=%d\n", bk(), rc1, rc2, rc3,
           rc4, rc5);
    ASSERT(rc1 == -EPIPE || rc2 == -EPIPE || rc3 == -EPIPE);
    ASSERT_EQ(corio_stream_free(w), 0);
    return 0;
}
TEST(stream_bgr_pipe_reader_gone) {
    on_loop(sigpipe_body, NULL);
    return 0;
}

/* 2. Peer gone: the error is never lost. epoll's first send is
 * synchronous: it shows at the write; io_uring's sends are background
 * ones: it shows once one completed, at wait_closed at the latest
 * (docs/api.md, Streams). */
static int reset_body(void *arg, void **res) {
    (void)arg, (void)res;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    corio_stream *s;
    ASSERT_EQ(corio_stream_from_fd(sv[0], &s), 0);
    close(sv[1]); /* peer gone: any send is EPIPE */
    int rc1 = corio_stream_write(s, "x", 1);
    int rc2 = corio_stream_drain(s);
    int rc3 = corio_stream_write(s, "y", 1);
    int rc4 = corio_stream_drain(s);
    fprintf(stderr, "[%s] peer gone: write=%d drain=%d write=%d drain=%d size=%zu\n", bk(), rc1, rc2, rc3, rc4,
           corio_stream_write_buffer_size(s));
    int rc5 = corio_stream_close(s);
    int rc6 = corio_stream_wait_closed(s);
    fprintf(stderr, "[%s]   close=%d wait_closed=%d\n", bk(), rc5, rc6);
    ASSERT_EQ(corio_stream_free(s), 0);
    if (on_uring()) ASSERT_EQ(rc6, -EPIPE);
    else ASSERT_EQ(rc1, -EPIPE);
    return 0;
}
TEST(stream_bgr_peer_gone_error_surfaces) {
    on_loop(reset_body, NULL);
    return 0;
}

/* 3. A server connection whose handler is over (its stream closing with
 * bytes in flight): the next background send cannot be queued (the
 * submission queue is full and the fault injector fails the flush), so
 * send_next closes the stream, conn_closed frees it, and after_flush reads
 * it afterwards. */
#define BIG (512 * 1024)
static int handler_done_flag;
static int writes_and_returns(corio_stream *s, void *arg) {
    (void)arg;
    static char buf[BIG];
    memset(buf, 'a', sizeof buf);
    int small = 4096;
    ASSERT_EQ(setsockopt(corio_stream_fd(s), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    ASSERT_EQ(corio_stream_write(s, buf, BIG / 2), 0);
    ASSERT_EQ(corio_sleep(0), 0); /* the first half in flight */
    ASSERT_EQ(corio_stream_write(s, buf, BIG / 2), 0);
    handler_done_flag = 1;
    return 0; /* the server closes it: flushes first */
}
static void nop_cb(void *arg) { (void)arg; }
static int srv_uaf_body(void *arg, void **res) {
    (void)arg, (void)res;
    if (!on_uring()) return 0;
    corio_server *srv;
    ASSERT_EQ(corio_start_server(writes_and_returns, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    struct sockaddr_storage ss;
    unsigned int len = sizeof ss;
    ASSERT_EQ(corio_server_sockname(srv, 0, (struct sockaddr *)&ss, &len), 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int small = 4096;
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    (void)connect(fd, (struct sockaddr *)&ss, len);
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    corio_loop *loop = corio_get_running_loop();
    size_t got = 0;
    int fill = arg ? (int)(intptr_t)arg : 1024;
    for (int it = 0; it < 200000 && got < BIG; it++) {
        ASSERT_EQ(corio_sleep(0), 0);
        corio__fail_after(0);
        char b[2048];
        ssize_t r = read(fd, b, sizeof b);
        if (r > 0) got += (size_t)r;
        if (r == 0 || (r < 0 && errno != EAGAIN)) break; /* the server closed it: the failed send did */
        if (!handler_done_flag) continue;
        for (int k = 0; k < fill; k++) { /* fill the submission queue with no-ops */
            ASSERT_EQ(corio_loop_add_reader(loop, p[0], nop_cb, NULL), 0);
            ASSERT_EQ(corio_loop_remove_reader(loop, p[0]), 1);
        }
        corio__fail_after(1);
    }
    corio__fail_after(0);
    fprintf(stderr, "[%s] got %zu of %d\n", bk(), got, BIG);
    close(fd);
    ASSERT_EQ(corio_server_close(srv), 0);
    ASSERT_EQ(corio_server_abort_clients(srv), 0);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    corio_close_fd(p[0]);
    close(p[1]);
    return 0;
}
TEST(stream_bgr_server_send_fails_after_handler) {
    const char *e = getenv("BGR_FILL");
    on_loop(srv_uaf_body, (void *)(intptr_t)(e ? atoi(e) : 1024));
    return 0;
}

/* ---- helpers: a socketpair stream with a small send buffer and a reader task ---- */
static void small_bufs(int fd) {
    int small = 4096;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
}
static unsigned char pat(size_t i) { return (unsigned char)(i * 131 + (i >> 9)); }

typedef struct rd_arg {
    corio_stream *r;
    size_t want;
    size_t got;
    int eof;
    int slow;
} rd_arg;
static int verify_reader(void *arg, void **res) {
    (void)res;
    rd_arg *a = arg;
    char b[3000];
    for (;;) {
        size_t n;
        int rc = corio_stream_read(a->r, b, a->slow ? 1000 : sizeof b, &n);
        if (rc < 0) return rc;
        if (n == 0) {
            a->eof = 1;
            return 0;
        }
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)b[i] != pat(a->got + i)) {
                fprintf(stderr, "byte %zu wrong\n", a->got + i);
                abort();
            }
        a->got += n;
        if (a->slow) corio_sleep(0.0002);
    }
}

/* 4. Free (or abort) a stream with a send in flight, k loop iterations after
 * the write: sweeps over "in the kernel", "completion reaped, event queued",
 * "event ran". */
static int free_sweep_body(void *arg, void **res) {
    (void)arg, (void)res;
    static char buf[200000];
    for (int mode = 0; mode < 3; mode++)
        for (int k = 0; k < 12; k++) {
            int sv[2];
            ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
            small_bufs(sv[0]);
            corio_stream *s;
            ASSERT_EQ(corio_stream_from_fd(sv[0], &s), 0);
            ASSERT_EQ(corio_stream_write(s, buf, (size_t)(1 + k * 1000)), 0);
            ASSERT_EQ(corio_stream_write(s, buf, sizeof buf), 0);
            for (int i = 0; i < k; i++) {
                char b[8192];
                (void)read(sv[1], b, sizeof b);
                ASSERT_EQ(corio_sleep(0), 0);
            }
            if (mode == 0) ASSERT_EQ(corio_stream_free(s), 0);
            else if (mode == 1) {
                ASSERT_EQ(corio_stream_abort(s), 0);
                ASSERT_EQ(corio_sleep(0), 0);
                ASSERT_EQ(corio_stream_free(s), 0);
            } else {
                ASSERT_EQ(corio_stream_abort(s), 0);
                ASSERT_EQ(corio_stream_free(s), 0);
                /* the number comes back at once: a new stream on it */
                int sv2[2];
                ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv2), 0);
                corio_stream *s2;
                ASSERT_EQ(corio_stream_from_fd(sv2[0], &s2), 0);
                ASSERT_EQ(corio_stream_write(s2, "hello", 5), 0);
                for (int i = 0; i < 3; i++) ASSERT_EQ(corio_sleep(0), 0);
                char b[16];
                ASSERT_EQ(read(sv2[1], b, sizeof b), 5);
                ASSERT_EQ(corio_stream_free(s2), 0);
                close(sv2[1]);
            }
            close(sv[1]);
        }
    for (int i = 0; i < 5; i++) ASSERT_EQ(corio_sleep(0), 0);
    return 0;
}
TEST(stream_bgr_free_sweep) {
    on_loop(free_sweep_body, NULL);
    return 0;
}

/* 5. Graceful close with megabytes buffered and a slow reader; write_eof
 * then close; every byte arrives, then EOF; wait_closed 0. */
#define MB4 (4u << 20)
static int close_big_body(void *arg, void **res) {
    (void)res;
    int eof_first = arg != NULL;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    small_bufs(sv[0]);
    corio_stream *w, *r;
    ASSERT_EQ(corio_stream_from_fd(sv[0], &w), 0);
    ASSERT_EQ(corio_stream_from_fd(sv[1], &r), 0);
    char *big = malloc(MB4);
    for (size_t i = 0; i < MB4; i++) big[i] = (char)pat(i);
    size_t off = 0;
    while (off < MB4) { /* odd sizes */
        size_t n = 1 + (off * 7919) % 70000;
        if (n > MB4 - off) n = MB4 - off;
        ASSERT_EQ(corio_stream_write(w, big + off, n), 0);
        off += n;
    }
    if (on_uring()) ASSERT_EQ(corio_stream_write_buffer_size(w), MB4);
    free(big);
    static rd_arg a;
    a = (rd_arg){.r = r, .want = MB4, .slow = 1};
    corio_task *t;
    ASSERT_EQ(corio_create_task(verify_reader, &a, NULL, &t), 0);
    if (eof_first) ASSERT_EQ(corio_stream_write_eof(w), 0);
    unsigned char x = pat(MB4);
    ASSERT_EQ(corio_stream_write(w, &x, 1), eof_first ? CORIO_EFDCLOSED : 0);
    ASSERT_EQ(corio_stream_close(w), 0);
    ASSERT_EQ(corio_stream_is_closing(w), 1);
    ASSERT_EQ(corio_stream_wait_closed(w), 0);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(a.eof, 1);
    ASSERT_EQ(a.got, MB4 + !eof_first);
    ASSERT_EQ(corio_stream_free(w), 0);
    ASSERT_EQ(corio_stream_free(r), 0);
    return 0;
}
TEST(stream_bgr_close_big_slow_reader) {
    on_loop(close_big_body, NULL);
    return 0;
}
TEST(stream_bgr_eof_then_close_big) {
    on_loop(close_big_body, (void *)1);
    return 0;
}

/* 6. Many writers and drainers on one stream; 1000+ writes of varying
 * sizes; a reader verifies every byte in order. Water marks: drain returns
 * only at or below low (in-flight counted). */
static corio_stream *MW;
static size_t mw_next; /* the next pattern offset to write: writers share one sequence */
static int mw_bad;
static int mw_writer(void *arg, void **res) {
    (void)res;
    unsigned seed = (unsigned)(uintptr_t)arg;
    unsigned char b[9000];
    for (int i = 0; i < 150; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 8) % sizeof b;
        for (size_t j = 0; j < n; j++) b[j] = pat(mw_next + j);
        ASSERT_EQ(corio_stream_write(MW, b, n), 0); /* no suspension between fill and write */
        mw_next += n;
        if (seed & 1) {
            int rc = corio_stream_drain(MW);
            ASSERT_EQ(rc, 0);
            /* drain returned: at or below low, or the event was set (below low once) */
        }
        if ((seed >> 3) % 4 == 0) ASSERT_EQ(corio_sleep(0), 0);
        if (corio_stream_write_buffer_size(MW) > 16u << 20) mw_bad = 1;
    }
    return 0;
}
static int drainer(void *arg, void **res) {
    (void)arg, (void)res;
    for (int i = 0; i < 200; i++) {
        ASSERT_EQ(corio_stream_drain(MW), 0);
        ASSERT_EQ(corio_sleep(0), 0);
    }
    return 0;
}
static int many_body(void *arg, void **res) {
    (void)arg, (void)res;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    small_bufs(sv[0]);
    corio_stream *r;
    ASSERT_EQ(corio_stream_from_fd(sv[0], &MW), 0);
    ASSERT_EQ(corio_stream_from_fd(sv[1], &r), 0);
    ASSERT_EQ(corio_stream_set_write_buffer_limits(MW, 20000, 5000), 0);
    static rd_arg a;
    a = (rd_arg){.r = r, .slow = 1};
    corio_task *rt, *w[8], *d[4];
    ASSERT_EQ(corio_create_task(verify_reader, &a, NULL, &rt), 0);
    for (int i = 0; i < 8; i++) ASSERT_EQ(corio_create_task(mw_writer, (void *)(uintptr_t)(i + 1), NULL, &w[i]), 0);
    for (int i = 0; i < 4; i++) ASSERT_EQ(corio_create_task(drainer, NULL, NULL, &d[i]), 0);
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ(corio_await(w[i], NULL), 0);
        corio_future_unref(w[i]);
    }
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(corio_await(d[i], NULL), 0);
        corio_future_unref(d[i]);
    }
    ASSERT_EQ(corio_stream_close(MW), 0);
    ASSERT_EQ(corio_stream_wait_closed(MW), 0);
    ASSERT_EQ(corio_await(rt, NULL), 0);
    corio_future_unref(rt);
    ASSERT_EQ(a.got, mw_next);
    ASSERT_EQ(a.eof, 1);
    ASSERT_EQ(mw_bad, 0);
    fprintf(stderr, "[%s] %zu bytes verified\n", bk(), mw_next);
    ASSERT_EQ(corio_stream_free(MW), 0);
    ASSERT_EQ(corio_stream_free(r), 0);
    return 0;
}
TEST(stream_bgr_many_writers_drainers) {
    on_loop(many_body, NULL);
    return 0;
}

/* 7. drain's marks with the in-flight bytes counted: after drain returns,
 * write_buffer_size() <= low; a write above high clears writable. */
static int marks_body(void *arg, void **res) {
    (void)arg, (void)res;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    small_bufs(sv[0]);
    corio_stream *w, *r;
    ASSERT_EQ(corio_stream_from_fd(sv[0], &w), 0);
    ASSERT_EQ(corio_stream_from_fd(sv[1], &r), 0);
    ASSERT_EQ(corio_stream_set_write_buffer_limits(w, 30000, 10000), 0);
    static rd_arg a;
    a = (rd_arg){.r = r, .slow = 1};
    corio_task *rt;
    ASSERT_EQ(corio_create_task(verify_reader, &a, NULL, &rt), 0);
    static unsigned char b[100000];
    size_t off = 0;
    for (int i = 0; i < 50; i++) {
        size_t n = 1000 + (size_t)i * 1500;
        for (size_t j = 0; j < n; j++) b[j] = pat(off + j);
        ASSERT_EQ(corio_stream_write(w, b, n), 0);
        off += n;
        size_t before = corio_stream_write_buffer_size(w);
        ASSERT_EQ(corio_stream_drain(w), 0);
        size_t after = corio_stream_write_buffer_size(w);
        if (before > 30000 && after > 10000) {
            fprintf(stderr, "[%s] drain returned with %zu pending (before %zu)\n", bk(), after, before);
            abort();
        }
    }
    ASSERT_EQ(corio_stream_close(w), 0);
    ASSERT_EQ(corio_stream_wait_closed(w), 0);
    ASSERT_EQ(corio_await(rt, NULL), 0);
    corio_future_unref(rt);
    ASSERT_EQ(a.got, off);
    ASSERT_EQ(corio_stream_free(w), 0);
    ASSERT_EQ(corio_stream_free(r), 0);
    return 0;
}
TEST(stream_bgr_drain_marks) {
    on_loop(marks_body, NULL);
    return 0;
}

/* 8. Loop close with streams mid-send: a user stream with megabytes
 * pending (freed after the loop closed), a server connection whose handler
 * wrote and returned, another whose handler is blocked in drain, and a
 * pipe stream with its write waiting for room. */
static corio_stream *LC_s, *LC_p;
static int lc_peer, lc_pipe_r, lc_client1, lc_client2;
static int lc_handler(corio_stream *s, void *arg) {
    (void)arg;
    static char buf[1 << 20];
    int small = 4096;
    (void)setsockopt(corio_stream_fd(s), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ASSERT_EQ(corio_stream_write(s, buf, sizeof buf), 0);
    static int n;
    if (n++ == 0) return 0;        /* returns: the server closes (flushes) */
    return corio_stream_drain(s);  /* waits */
}
static int lc_body(void *arg, void **res) {
    (void)arg, (void)res;
    static char buf[3 << 20];
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    small_bufs(sv[0]);
    lc_peer = sv[1];
    ASSERT_EQ(corio_stream_from_fd(sv[0], &LC_s), 0);
    ASSERT_EQ(corio_stream_write(LC_s, buf, sizeof buf), 0);
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    lc_pipe_r = p[0];
    ASSERT_EQ(corio_stream_from_fd(p[1], &LC_p), 0);
    ASSERT_EQ(corio_stream_write(LC_p, buf, sizeof buf), 0);
    corio_server *srv;
    ASSERT_EQ(corio_start_server(lc_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    struct sockaddr_storage ss;
    unsigned int len = sizeof ss;
    ASSERT_EQ(corio_server_sockname(srv, 0, (struct sockaddr *)&ss, &len), 0);
    lc_client1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    lc_client2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    small_bufs(lc_client1);
    small_bufs(lc_client2);
    ASSERT_EQ(connect(lc_client1, (struct sockaddr *)&ss, len), 0);
    ASSERT_EQ(connect(lc_client2, (struct sockaddr *)&ss, len), 0);
    for (int i = 0; i < 20; i++) ASSERT_EQ(corio_sleep(0.001), 0);
    *(corio_server **)arg = srv;
    return 0; /* everything still sending */
}
TEST(stream_bgr_loop_close_mid_send) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_loop_set_exception_handler(loop, quiet, NULL);
    corio_task *t;
    corio_server *srv = NULL;
    ASSERT_EQ(corio_loop_create_task(loop, lc_body, &srv, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT(corio_stream_write_buffer_size(LC_s) > 0);
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_stream_free(LC_s), 0);
    ASSERT_EQ(corio_stream_free(LC_p), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    close(lc_peer);
    close(lc_pipe_r);
    close(lc_client1);
    close(lc_client2);
    return 0;
}

/* 9. Server close_clients / abort_clients while replies are being sent
 * (handlers still in drain, handlers returned). */
static int cc_handler(corio_stream *s, void *arg) {
    (void)arg;
    static char buf[1 << 20];
    int small = 4096;
    (void)setsockopt(corio_stream_fd(s), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    int rc = corio_stream_write(s, buf, sizeof buf);
    if (rc < 0) return 0;
    static unsigned n;
    if (n++ % 2) return 0;
    rc = corio_stream_drain(s);
    (void)corio_stream_write(s, buf, 100); /* after the close: EFDCLOSED or an error */
    return 0;
}
static int cc_body(void *arg, void **res) {
    (void)res;
    int abort_them = arg != NULL;
    corio_server *srv;
    ASSERT_EQ(corio_start_server(cc_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    struct sockaddr_storage ss;
    unsigned int len = sizeof ss;
    ASSERT_EQ(corio_server_sockname(srv, 0, (struct sockaddr *)&ss, &len), 0);
    int c[6];
    for (int i = 0; i < 6; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        small_bufs(c[i]);
        (void)connect(c[i], (struct sockaddr *)&ss, len);
    }
    for (int i = 0; i < 20; i++) ASSERT_EQ(corio_sleep(0.001), 0);
    ASSERT_EQ(corio_server_close(srv), 0);
    if (abort_them) ASSERT_EQ(corio_server_abort_clients(srv), 0);
    else ASSERT_EQ(corio_server_close_clients(srv), 0);
    /* the clients read everything (close) or see the end (abort) */
    size_t total = 0;
    for (int it = 0; it < 100000; it++) {
        int open = 0;
        for (int i = 0; i < 6; i++) {
            if (c[i] < 0) continue;
            static char b[65536];
            ssize_t r = read(c[i], b, sizeof b);
            if (r > 0) total += (size_t)r;
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                close(c[i]);
                c[i] = -1;
            } else open = 1;
        }
        if (!open) break;
        ASSERT_EQ(corio_sleep(0.0005), 0);
    }
    fprintf(stderr, "[%s] %s: clients got %zu bytes\n", bk(), abort_them ? "abort" : "close", total);
    if (!abort_them) ASSERT_EQ(total, 6u << 20);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    return 0;
}
TEST(stream_bgr_server_close_clients_sending) {
    on_loop(cc_body, NULL);
    return 0;
}
TEST(stream_bgr_server_abort_clients_sending) {
    on_loop(cc_body, (void *)1);
    return 0;
}

/* 10. Fault injection swept over a streaming scenario: every stand-in call
 * fails in turn; each run must end without crash, leak, hang or reordered
 * bytes. */
typedef struct fs_state {
    corio_stream *w, *r;
    size_t got;
    int reader_rc, writer_rc;
} fs_state;
static int fs_reader(void *arg, void **res) {
    (void)res;
    fs_state *st = arg;
    char b[5000];
    for (;;) {
        size_t n;
        int rc = corio_stream_read(st->r, b, sizeof b, &n);
        if (rc < 0) {
            corio_stream_abort(st->w);
            return st->reader_rc = rc;
        }
        if (n == 0) return 0;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)b[i] != pat(st->got + i)) {
                fprintf(stderr, "fault sweep: byte %zu wrong\n", st->got + i);
                abort();
            }
        st->got += n;
    }
}
static int fs_main(void *arg, void **res) {
    (void)res;
    fs_state *st = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
    small_bufs(sv[0]);
    int rc = corio_stream_from_fd(sv[0], &st->w);
    if (rc < 0) {
        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    rc = corio_stream_from_fd(sv[1], &st->r);
    if (rc < 0) {
        close(sv[1]);
        corio_stream_free(st->w);
        st->w = NULL;
        return rc;
    }
    corio_task *t = NULL;
    rc = corio_create_task(fs_reader, st, NULL, &t);
    static unsigned char b[20000];
    size_t off = 0;
    corio_timeout *wto = NULL;
    if (rc == 0) rc = corio_timeout_enter(0.5, &wto);
    for (int i = 0; i < 40 && rc == 0; i++) {
        size_t n = 1 + (size_t)(i * 4973) % sizeof b;
        for (size_t j = 0; j < n; j++) b[j] = pat(off + j);
        rc = corio_stream_write(st->w, b, n);
        if (rc == 0) off += n;
        if (rc == 0 && i % 3 == 0) rc = corio_stream_drain(st->w);
    }
    if (rc == 0) rc = corio_stream_write_eof(st->w);
    corio_stream_close(st->w);
    int wc = rc == 0 ? corio_stream_wait_closed(st->w) : 0;
    if (rc == 0) rc = wc;
    if (wto) rc = corio_timeout_exit(wto, rc);
    if (rc == CORIO_ETIMEDOUT) corio_stream_abort(st->w);
    st->writer_rc = rc;
    if (t) {
        corio_timeout *to = NULL;
        int rt = corio_timeout_enter(2.0, &to);
        int ra = corio_await(t, NULL);
        if (rt == 0) ra = corio_timeout_exit(to, ra);
        if (ra == CORIO_ETIMEDOUT) fprintf(stderr, "fault sweep: the reader hung (writer rc %d)\n", st->writer_rc);
        if (ra == CORIO_ETIMEDOUT) abort();
        corio_future_unref(t);
    }
    if (st->reader_rc == 0 && st->writer_rc == 0 && rc == 0 && st->got != off) {
        fprintf(stderr, "fault sweep: got %zu of %zu with no error\n", st->got, off);
        abort();
    }
    return rc;
}
static long fs_made;
static int fs_run(int copy) {
    corio_loop *loop;
    int rc = corio_loop_new(&loop);
    if (rc < 0) return rc;
    if (copy) corio_loop_set_stack_mode(loop, CORIO_STACK_COPY);
    corio_loop_set_exception_handler(loop, quiet, NULL);
    fs_state st = {0};
    corio_task *t;
    rc = corio_loop_create_task(loop, fs_main, &st, "main", 0, &t);
    if (rc == 0) {
        rc = corio_loop_run_until_complete(loop, t, NULL);
        corio_future_unref(t);
    }
    fs_made = corio__fail_after(0);
    ASSERT_EQ(corio_loop_close(loop), 0);
    if (st.w) ASSERT_EQ(corio_stream_free(st.w), 0);
    if (st.r) ASSERT_EQ(corio_stream_free(st.r), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    return rc;
}
static int fs_sweep(int copy) {
    corio__fail_after(0);
    ASSERT_EQ(fs_run(copy), 0);
    long calls = fs_made;
    long from = getenv("BGR_FROM") ? atol(getenv("BGR_FROM")) : 1;
    fprintf(stderr, "fault sweep over %ld calls\n", calls);
    for (long n = from; n <= calls + 5; n++) {
        corio__fail_after(n);
        int rc = fs_run(copy);
        corio__fail_after(0);
        if (getenv("BGR_V")) fprintf(stderr, "n=%ld rc=%d\n", n, rc);
    }
    return 0;
}
TEST(stream_bgr_fault_sweep_stream) { return fs_sweep(0); }
/* (Not in copy mode: a failed stack save there ends the process, by design.) */

/* 11. A blocking pipe (no O_NONBLOCK): a megabyte, nobody reads; abort
 * while the write waits for room; the loop must not hang. */
static int blk_body(void *arg, void **res) {
    (void)arg, (void)res;
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    corio_stream *w;
    ASSERT_EQ(corio_stream_from_fd(p[1], &w), 0);
    static char buf[1 << 20];
    ASSERT_EQ(corio_stream_write(w, buf, sizeof buf), 0);
    for (int i = 0; i < 5; i++) ASSERT_EQ(corio_sleep(0.001), 0);
    fprintf(stderr, "[%s] blocking pipe: %zu pending\n", bk(), corio_stream_write_buffer_size(w));
    ASSERT_EQ(corio_stream_abort(w), 0);
    ASSERT_EQ(corio_stream_free(w), 0);
    close(p[0]);
    return 0;
}
TEST(stream_bgr_blocking_pipe_abort) {
    on_loop(blk_body, NULL);
    return 0;
}

/* 12. A read error that is no connection error (ENOMEM from the fault
 * injector while taking the read buffer) must not abort the write side. */
static int rerr_body(void *arg, void **res) {
    (void)arg, (void)res;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    corio_stream *s;
    ASSERT_EQ(corio_stream_from_fd(sv[0], &s), 0);
    ASSERT_EQ(write(sv[1], "abc", 3), 3);
    char b[4];
    size_t got;
    corio__fail_after(1); /* the read buffer's allocation */
    int rr = corio_stream_read(s, b, sizeof b, &got);
    corio__fail_after(0);
    int rr2 = corio_stream_read(s, b, sizeof b, &got);
    int wr = corio_stream_write(s, "x", 1);
    fprintf(stderr, "[%s] read=%d read again=%d (got %zu) then write=%d closing=%d\n", bk(), rr, rr2, got, wr, corio_stream_is_closing(s));
    ASSERT_EQ(corio_stream_free(s), 0);
    close(sv[1]);
    ASSERT_EQ(wr, 0);
    return 0;
}
TEST(stream_bgr_read_enomem_then_write) {
    on_loop(rerr_body, NULL);
    return 0;
}

static void on_copy_loop(corio_fn body, void *arg) {
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, body, arg, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
}
TEST(stream_bgr_copy_mode_streams) {
    mw_next = 0;
    on_copy_loop(many_body, NULL);
    on_copy_loop(close_big_body, NULL);
    on_copy_loop(free_sweep_body, NULL);
    on_copy_loop(marks_body, NULL);
    return 0;
}

/* 13. The peer goes while a writer waits in drain with a megabyte pending:
 * drain reports the connection's error. */
static int pg_peer;
static int closes_peer_later(void *arg, void **res) {
    (void)arg, (void)res;
    ASSERT_EQ(corio_sleep(0.01), 0);
    close(pg_peer);
    return 0;
}
static int drain_peer_body(void *arg, void **res) {
    (void)arg, (void)res;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    small_bufs(sv[0]);
    pg_peer = sv[1];
    corio_stream *s;
    ASSERT_EQ(corio_stream_from_fd(sv[0], &s), 0);
    static char buf[1 << 20];
    ASSERT_EQ(corio_stream_write(s, buf, sizeof buf), 0);
    ASSERT_EQ(corio_create_task(closes_peer_later, NULL, NULL, NULL), 0);
    int rc = corio_stream_drain(s);
    int rc2 = corio_stream_write(s, "x", 1);
    int rc3 = corio_stream_wait_closed(s);
    fprintf(stderr, "[%s] drain=%d write=%d wait_closed=%d\n", bk(), rc, rc2, rc3);
    ASSERT(rc == -EPIPE || rc == -ECONNRESET);
    ASSERT_EQ(corio_stream_free(s), 0);
    return 0;
}
TEST(stream_bgr_drain_peer_gone) {
    on_loop(drain_peer_body, NULL);
    return 0;
}

/* 14. Streams freed (and aborted) from outside any task, while the loop is
 * stopped between runs, with sends in flight; then the loop runs again. */
static corio_stream *OUT_s[3];
static int out_peer[3];
static int out_body(void *arg, void **res) {
    (void)arg, (void)res;
    static char buf[1 << 20];
    for (int i = 0; i < 3; i++) {
        int sv[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        small_bufs(sv[0]);
        out_peer[i] = sv[1];
        ASSERT_EQ(corio_stream_from_fd(sv[0], &OUT_s[i]), 0);
        ASSERT_EQ(corio_stream_write(OUT_s[i], buf, sizeof buf), 0);
    }
    ASSERT_EQ(corio_sleep(0.005), 0);
    return 0;
}
static int out_again(void *arg, void **res) {
    (void)arg, (void)res;
    for (int i = 0; i < 5; i++) ASSERT_EQ(corio_sleep(0.001), 0);
    return 0;
}
TEST(stream_bgr_free_outside_loop) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, out_body, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_stream_free(OUT_s[0]), 0);
    ASSERT_EQ(corio_stream_abort(OUT_s[1]), 0);
    ASSERT_EQ(corio_stream_close(OUT_s[2]), 0);
    ASSERT_EQ(corio_loop_create_task(loop, out_again, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_stream_free(OUT_s[1]), 0);
    ASSERT_EQ(corio_stream_abort(OUT_s[2]), 0);
    ASSERT_EQ(corio_stream_free(OUT_s[2]), 0);
    close_loop(loop);
    for (int i = 0; i < 3; i++) close(out_peer[i]);
    return 0;
}

/* 1b. The same with SIGPIPE ignored by the program: the error itself. */
TEST(stream_bgr_pipe_reader_gone_sigign) {
    signal(SIGPIPE, SIG_IGN);
    on_loop(sigpipe_body, NULL);
    return 0;
}
