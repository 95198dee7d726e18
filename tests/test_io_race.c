/* Cancel races (issue 18): a cancel and the data arrive together, in every
 * order the loop can see them (cancel first; data first; data seen by the
 * poll and the cancel before the reader resumes). Each operation either
 * completed or was cancelled, never both and never neither, and no byte is
 * lost or read twice: the bytes read add up to the bytes written, in order. */
#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define ITERS 10000

enum { OP_READ, OP_READEXACTLY, OP_READLINE, OP_SOCK_RECV, OP_WAIT_FD, NOPS };
static const char *op_names[NOPS] = {"read", "readexactly", "readline", "sock_recv", "wait_fd"};

static int op;
static corio_stream *stream;
static int rfd, wfd;
static unsigned char next_in, next_out; /* the byte sequence written and read */
static long completed, cancelled, results, leftovers;

static int take(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') continue; /* readline's separators are not counted */
        ASSERT_EQ(p[i], next_in);
        next_in = (unsigned char)(next_in == 'z' ? 'a' : next_in + 1);
    }
    return (int)n;
}

static int reader(void *arg, void **res) {
    (void)arg;
    (void)res;
    unsigned char buf[8];
    const void *d;
    size_t n = 0;
    int rc;
    switch (op) {
    case OP_READ: rc = corio_stream_read(stream, buf, 1, &n), d = buf; break;
    case OP_READEXACTLY: rc = corio_stream_readexactly(stream, buf, 1, &n), d = buf; break;
    case OP_READLINE: rc = corio_stream_readline(stream, &d, &n); break;
    case OP_SOCK_RECV: rc = corio_sock_recv(rfd, buf, 1, &n), d = buf; break;
    default: rc = corio_wait_fd(rfd, CORIO_READABLE), d = NULL; break;
    }
    if (rc == CORIO_ECANCELED) {
        ASSERT(op == OP_WAIT_FD || op == OP_SOCK_RECV || n == 0); /* nothing consumed */
        cancelled++;
        results++;
        return 0;
    }
    if (op == OP_WAIT_FD) {
        ASSERT_EQ(rc, CORIO_READABLE);
        ASSERT_EQ(corio_sock_recv(rfd, buf, 1, &n), 0); /* ready: no wait */
        d = buf;
    } else {
        ASSERT_EQ(rc, 0);
    }
    ASSERT(n >= 1);
    take(d, n);
    completed++;
    results++;
    return 0;
}

static void put_one(void) {
    unsigned char b[2] = {next_out, '\n'};
    next_out = (unsigned char)(next_out == 'z' ? 'a' : next_out + 1);
    size_t k = op == OP_READLINE ? 2 : 1;
    ssize_t w = write(wfd, b, k);
    if (w != (ssize_t)k) perror("put_one");
    ASSERT_EQ(w, (ssize_t)k);
}

static int race_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    rfd = sv[0];
    wfd = sv[1];
    stream = NULL;
    if (op <= OP_READLINE) ASSERT_EQ(corio_stream_from_fd(rfd, &stream), 0);
    next_in = next_out = 'a';
    completed = cancelled = results = leftovers = 0;
    long written = 0;
    for (int i = 0; i < ITERS; i++) {
        corio_task *t;
        if (i % 4 == 3) put_one(); /* the data first: the reader needs no wait */
        ASSERT_EQ(corio_create_task(reader, NULL, NULL, &t), 0);
        ASSERT_EQ(corio_sleep(0), 0); /* it waits now, or has read */
        long before = cancelled, rbefore = results;
        switch (i % 4) {
        case 0: /* data, then the cancel, before any poll */
            put_one();
            corio_task_cancel(t, NULL);
            break;
        case 1: /* the cancel, then the data */
            corio_task_cancel(t, NULL);
            put_one();
            break;
        case 2: /* the poll wakes it; the cancel comes before it resumes */
            put_one();
            ASSERT_EQ(corio_sleep(0), 0);
            corio_task_cancel(t, NULL);
            break;
        default: /* it has read already, or waits for the poll to bring the
                  * bytes into its stream (as asyncio's reader does) */
            corio_task_cancel(t, NULL);
            break;
        }
        written++;
        ASSERT_EQ(corio_await(t, NULL), 0);
        corio_future_unref(t);
        /* epoll: the cancel won, nothing consumed. io_uring: the kernel may
         * have done the read first; then the reader has the bytes and the
         * cancel waits for its next suspension. Either way, exactly one. */
        if (i % 4 != 3 && !on_uring()) ASSERT_EQ(cancelled, before + 1);
        if (i % 4 != 3) ASSERT_EQ(results, rbefore + 1);
        /* What a cancelled reader left is taken now (it is there: no
         * wait), so that the next reader starts on an empty stream and
         * must wait: every iteration is a race. */
        if (written > completed) {
            size_t k = (size_t)(written - completed) * (op == OP_READLINE ? 2 : 1);
            unsigned char left[64];
            size_t n = 0;
            ASSERT(k <= sizeof left);
            if (stream) ASSERT_EQ(corio_stream_readexactly(stream, left, k, &n), 0);
            else
                for (size_t got; n < k; n += got) ASSERT_EQ(corio_sock_recv(rfd, left + n, k - n, &got), 0);
            take(left, n);
            completed = written; /* consumed, once */
            leftovers += (long)n;
        }
    }
    ASSERT_EQ(results, ITERS); /* never both, never neither */
    /* what the cancelled ones left is all there, in order */
    shutdown(wfd, SHUT_WR);
    unsigned char buf[64];
    size_t n;
    long got_bytes = 0;
    for (;;) {
        const void *d;
        if (stream) {
            ASSERT_EQ(corio_stream_read_all(stream, &d, &n), 0);
            take(d, n);
            got_bytes += (long)n;
            break;
        }
        ASSERT_EQ(corio_sock_recv(rfd, buf, sizeof buf, &n), 0);
        if (n == 0) break;
        take(buf, n);
        got_bytes += (long)n;
    }
    ASSERT_EQ(next_in, next_out); /* every byte written was read, once */
    fprintf(stderr, "%s: %ld cancelled of %d, %ld bytes left behind by them, %ld at the end\n",
            op_names[op], cancelled, ITERS, leftovers, got_bytes);
    ASSERT(cancelled >= (on_uring() ? 1 : ITERS / 4 * 3));
    (void)written;
    if (stream) ASSERT_EQ(corio_stream_free(stream), 0);
    else ASSERT_EQ(corio_close_fd(rfd), 0);
    ASSERT_EQ(corio_close_fd(wfd), 0);
    return 0;
}

TEST(io_cancel_races) {
    for (op = 0; op < NOPS; op++) {
        corio_loop *loop;
        ASSERT_EQ(corio_loop_new(&loop), 0);
        corio_task *t;
        ASSERT_EQ(corio_loop_create_task(loop, race_body, NULL, NULL, 0, &t), 0);
        ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
        corio_future_unref(t);
        close_loop(loop);
    }
    return 0;
}

/* The same race for accept: a connection and a cancel arrive together; the
 * accept either took it or was cancelled, and then the connection waits in
 * the backlog for the next accept: none lost, none taken twice. */
#define ACCEPT_ITERS 10000
static int lfd;
static long accepted;
static int acceptor_task(void *arg, void **res) {
    (void)arg;
    (void)res;
    int c;
    int rc = corio_sock_accept(lfd, &c, NULL, NULL);
    if (rc == CORIO_ECANCELED) return 0;
    ASSERT_EQ(rc, 0);
    accepted++;
    close(c);
    return 0;
}

static struct sockaddr_in laddr;
static void connect_one(void) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(c >= 0);
    ASSERT_EQ(connect(c, (struct sockaddr *)&laddr, sizeof laddr), 0); /* into the backlog */
    close(c);
}

static int accept_race_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_socket(AF_INET, SOCK_STREAM, 0, &lfd), 0);
    laddr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(lfd, (struct sockaddr *)&laddr, sizeof laddr), 0);
    socklen_t len = sizeof laddr;
    ASSERT_EQ(getsockname(lfd, (struct sockaddr *)&laddr, &len), 0);
    ASSERT_EQ(listen(lfd, 64), 0);
    accepted = 0;
    long made = 0, cancels = 0;
    for (int i = 0; i < ACCEPT_ITERS; i++) {
        corio_task *t;
        ASSERT_EQ(corio_create_task(acceptor_task, NULL, NULL, &t), 0);
        ASSERT_EQ(corio_sleep(0), 0);
        long before = accepted;
        if (i % 3 == 0) {
            connect_one();
            corio_task_cancel(t, NULL);
        } else if (i % 3 == 1) {
            corio_task_cancel(t, NULL);
            connect_one();
        } else {
            connect_one();
            ASSERT_EQ(corio_sleep(0), 0);
            corio_task_cancel(t, NULL);
        }
        made++;
        ASSERT_EQ(corio_await(t, NULL), 0);
        corio_future_unref(t);
        if (accepted == before) { /* cancelled: the connection is still there */
            cancels++;
            int c;
            ASSERT_EQ(corio_sock_accept(lfd, &c, NULL, NULL), 0);
            accepted++;
            close(c);
        }
    }
    ASSERT_EQ(accepted, made);
    ASSERT(cancels > 0);
    fprintf(stderr, "accept: %ld cancelled of %d, every connection accepted once\n", cancels, ACCEPT_ITERS);
    ASSERT_EQ(corio_close_fd(lfd), 0);
    return 0;
}

TEST(io_cancel_race_accept) {
    on_loop(accept_race_body, NULL);
    return 0;
}
