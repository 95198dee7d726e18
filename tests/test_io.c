/* Descriptors and sockets (io.md 1, 2): the waiting primitive, its
 * callback form, close through corio, and the sock_* calls on loopback.
 * Real loops (real I/O), no timing assertions: every wait ends on an event
 * the test itself causes. They run on the loop's backend: epoll, the only
 * one so far (the io_uring issue runs them on both). */
#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

long corio__fail_after(long nth);

static void nonblocking_pipe(int p[2]) { ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0); }

/* A listening TCP socket on 127.0.0.1, port chosen by the kernel. */
static int listener(struct sockaddr_in *addr) {
    int fd;
    ASSERT_EQ(corio_socket(AF_INET, SOCK_STREAM, 0, &fd), 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    ASSERT_EQ(listen(fd, 16), 0);
    return fd;
}

/* ---- the waiting primitive ------------------------------------------------ */

static int pipefd[2];

static int write_later(void *arg, void **res) {
    (void)res;
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(write(pipefd[1], arg, 1), 1);
    return 0;
}

static int second_reader(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_wait_fd(pipefd[0], CORIO_READABLE);
}

static void never_cb(void *arg) { (void)arg; }

static int wait_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    nonblocking_pipe(pipefd);
    /* writable at once; readable once written */
    ASSERT_EQ(corio_wait_fd(pipefd[1], CORIO_WRITABLE | CORIO_READABLE), CORIO_WRITABLE);
    corio_task *w, *r2;
    ASSERT_EQ(corio_create_task(write_later, "x", NULL, &w), 0);
    ASSERT_EQ(corio_create_task(second_reader, NULL, NULL, &r2), 0);
    ASSERT_EQ(corio_wait_fd(pipefd[0], CORIO_READABLE), CORIO_READABLE);
    /* the second reader came while this one waited: refused, not stolen */
    ASSERT_EQ(corio_await(r2, NULL), CORIO_EBUSY);
    char c;
    ASSERT_EQ(read(pipefd[0], &c, 1), 1);
    ASSERT_EQ(c, 'x');
    ASSERT_EQ(corio_await(w, NULL), 0);
    corio_future_unref(w);
    corio_future_unref(r2);
    /* bad input */
    ASSERT_EQ(corio_wait_fd(-1, CORIO_READABLE), -EBADF);
    ASSERT_EQ(corio_wait_fd(pipefd[0], 0), CORIO_EINVAL);
    int file = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ASSERT(file >= 0);
    /* a regular file is always ready: waiting on it is refused on every
     * backend (epoll cannot; io_uring's callbacks would spin) */
    ASSERT_EQ(corio_wait_fd(file, CORIO_READABLE), -EPERM);
    ASSERT_EQ(corio_loop_add_reader(corio_get_running_loop(), file, never_cb, NULL), -EPERM);
    close(file);
    ASSERT_EQ(corio_close_fd(pipefd[0]), 0);
    ASSERT_EQ(corio_close_fd(pipefd[1]), 0);
    return 0;
}

TEST(io_wait_fd) {
    ASSERT_EQ(corio_wait_fd(0, CORIO_READABLE), CORIO_ENOTINTASK);
    on_loop(wait_body, NULL);
    return 0;
}

/* A timed-out wait consumes nothing; the byte is there for the next one. */
static int timeout_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    nonblocking_pipe(pipefd);
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(0.01, &to), 0);
    int rc = corio_wait_fd(pipefd[0], CORIO_READABLE);
    ASSERT_EQ(rc, CORIO_ECANCELED);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
    /* the registration is not left behind as a waiter: a new wait works */
    ASSERT_EQ(write(pipefd[1], "y", 1), 1);
    ASSERT_EQ(corio_wait_fd(pipefd[0], CORIO_READABLE), CORIO_READABLE);
    char c;
    ASSERT_EQ(read(pipefd[0], &c, 1), 1);
    ASSERT_EQ(corio_close_fd(pipefd[0]), 0);
    ASSERT_EQ(corio_close_fd(pipefd[1]), 0);
    return 0;
}

TEST(io_wait_fd_timeout) {
    on_loop(timeout_body, NULL);
    return 0;
}

/* A library that closes its descriptor with plain close(2) (libpq, after
 * a failed connect attempt) and gets the number back for a new file: the
 * public wait still wakes (epoll kept the old registration, which went
 * with the old file). A timeout scope turns a hang into a failure. */
static int reused_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    int a[2], b[2];
    nonblocking_pipe(a);
    ASSERT_EQ(write(a[1], "x", 1), 1);
    ASSERT_EQ(corio_wait_fd(a[0], CORIO_READABLE), CORIO_READABLE);
    ASSERT_EQ(close(a[0]), 0); /* behind corio's back */
    nonblocking_pipe(b);
    if (b[0] != a[0]) { /* the old number for the new file */
        ASSERT_EQ(dup2(b[0], a[0]), a[0]);
        ASSERT_EQ(close(b[0]), 0);
    }
    ASSERT_EQ(write(b[1], "y", 1), 1);
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(30, &to), 0);
    int rc = corio_wait_fd(a[0], CORIO_READABLE);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_READABLE);
    ASSERT_EQ(corio_wait_fd(a[0], CORIO_READABLE | 0x40), CORIO_EINVAL); /* no unknown bits */
    ASSERT_EQ(corio_close_fd(a[0]), 0);
    ASSERT_EQ(corio_close_fd(a[1]), 0);
    ASSERT_EQ(corio_close_fd(b[1]), 0);
    return 0;
}

TEST(io_wait_fd_reused_number) {
    on_loop(reused_body, NULL);
    return 0;
}

/* Close through corio while a task waits: it wakes with CORIO_EFDCLOSED;
 * the number, reused at once, carries no stale registration. */
static int waits_then_closed(void *arg, void **res) {
    (void)arg;
    (void)res;
    return corio_wait_fd(pipefd[0], CORIO_READABLE);
}

static int close_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    nonblocking_pipe(pipefd);
    corio_task *t;
    ASSERT_EQ(corio_create_task(waits_then_closed, NULL, NULL, &t), 0);
    ASSERT_EQ(corio_sleep(0), 0); /* it waits now */
    int old = pipefd[0];
    ASSERT_EQ(corio_close_fd(pipefd[0]), 0);
    ASSERT_EQ(corio_await(t, NULL), CORIO_EFDCLOSED);
    corio_future_unref(t);
    /* the same number again, for a pipe that stays empty */
    int q[2];
    nonblocking_pipe(q);
    ASSERT_EQ(q[0], old);
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(0.02, &to), 0);
    int rc = corio_wait_fd(q[0], CORIO_READABLE);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT); /* nothing fired */
    ASSERT_EQ(corio_close_fd(q[0]), 0);
    ASSERT_EQ(corio_close_fd(q[1]), 0);
    ASSERT_EQ(corio_close_fd(pipefd[1]), 0);
    return 0;
}

TEST(io_close_fd_wakes_waiter) {
    on_loop(close_body, NULL);
    return 0;
}

/* A loop closed while a task waits on a descriptor closes cleanly. */
static int waits_forever(void *arg, void **res) {
    (void)res;
    return corio_wait_fd((int)(intptr_t)arg, CORIO_READABLE);
}

TEST(io_loop_closed_while_waiting) {
    int p[2];
    nonblocking_pipe(p);
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_loop_set_exception_handler(loop, quiet, NULL);
    ASSERT_EQ(corio_loop_create_task(loop, waits_forever, (void *)(intptr_t)p[0], NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_stop(loop), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), 0);
    close_loop(loop);
    close(p[0]);
    close(p[1]);
    return 0;
}

/* ---- the callback form ------------------------------------------------------ */

static int fired;
static void on_readable(void *arg) {
    fired++;
    if (fired == 3) { /* level-triggered: it came back until drained */
        char c;
        ASSERT_EQ(read(*(int *)arg, &c, 1), 1);
    }
}

static int callback_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    corio_loop *loop = corio_get_running_loop();
    nonblocking_pipe(pipefd);
    fired = 0;
    ASSERT_EQ(corio_loop_add_reader(loop, pipefd[0], on_readable, &pipefd[0]), 0);
    /* a task may not wait where a callback reads */
    ASSERT_EQ(corio_wait_fd(pipefd[0], CORIO_READABLE), CORIO_EBUSY);
    ASSERT_EQ(write(pipefd[1], "a", 1), 1);
    for (int i = 0; i < 10 && fired < 3; i++) ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(fired, 3);
    for (int i = 0; i < 5; i++) ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(fired, 3); /* drained: no more calls */
    ASSERT_EQ(corio_loop_remove_reader(loop, pipefd[0]), 1);
    ASSERT_EQ(corio_loop_remove_reader(loop, pipefd[0]), 0);
    ASSERT_EQ(write(pipefd[1], "b", 1), 1);
    for (int i = 0; i < 5; i++) ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(fired, 3); /* removed: never again */
    ASSERT_EQ(corio_loop_add_reader(loop, pipefd[0], NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_add_reader(loop, -1, on_readable, NULL), -EBADF);
    ASSERT_EQ(corio_close_fd(pipefd[0]), 0);
    ASSERT_EQ(corio_close_fd(pipefd[1]), 0);
    return 0;
}

TEST(io_add_reader) {
    on_loop(callback_body, NULL);
    return 0;
}

/* ---- sockets ---------------------------------------------------------------- */

#define BIG (4u << 20) /* more than the socket buffers hold: the sender waits */

static int lfd;
static struct sockaddr_in laddr;

static int tcp_client(void *arg, void **res) {
    (void)arg;
    (void)res;
    int fd;
    ASSERT_EQ(corio_socket(AF_INET, SOCK_STREAM, 0, &fd), 0);
    ASSERT_EQ(corio_sock_connect(fd, (struct sockaddr *)&laddr, sizeof laddr), 0);
    unsigned char *buf = malloc(BIG);
    for (size_t i = 0; i < BIG; i++) buf[i] = (unsigned char)(i * 7);
    size_t sent;
    ASSERT_EQ(corio_sock_sendall(fd, buf, BIG, &sent), 0);
    ASSERT_EQ(sent, BIG);
    free(buf);
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
    char c;
    size_t got;
    ASSERT_EQ(corio_sock_recv(fd, &c, 1, &got), 0);
    ASSERT_EQ(got, 0); /* the server closed after reading everything */
    ASSERT_EQ(corio_close_fd(fd), 0);
    return 0;
}

static int tcp_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    lfd = listener(&laddr);
    corio_task *c;
    ASSERT_EQ(corio_create_task(tcp_client, NULL, "client", &c), 0);
    int conn;
    struct sockaddr_in peer;
    unsigned int plen = sizeof peer;
    ASSERT_EQ(corio_sock_accept(lfd, &conn, (struct sockaddr *)&peer, &plen), 0);
    ASSERT_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    ASSERT(fcntl(conn, F_GETFL) & O_NONBLOCK);
    ASSERT(fcntl(conn, F_GETFD) & FD_CLOEXEC);
    unsigned char *buf = malloc(65536);
    size_t total = 0, got;
    do {
        ASSERT_EQ(corio_sock_recv(conn, buf, 65536, &got), 0);
        for (size_t i = 0; i < got; i++) ASSERT_EQ(buf[i], (unsigned char)((total + i) * 7));
        total += got;
    } while (got > 0);
    ASSERT_EQ(total, BIG);
    free(buf);
    ASSERT_EQ(corio_close_fd(conn), 0);
    ASSERT_EQ(corio_await(c, NULL), 0);
    corio_future_unref(c);
    ASSERT_EQ(corio_close_fd(lfd), 0);
    return 0;
}

TEST(io_sock_tcp) {
    on_loop(tcp_body, NULL);
    return 0;
}

/* A refused connect names the operation and the peer. */
static int refused_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    int l = listener(&laddr); /* a port that is surely free once closed */
    close(l);
    int fd;
    ASSERT_EQ(corio_socket(AF_INET, SOCK_STREAM, 0, &fd), 0);
    ASSERT_EQ(corio_sock_connect(fd, (struct sockaddr *)&laddr, sizeof laddr), -ECONNREFUSED);
    char want[96];
    snprintf(want, sizeof want, "connect 127.0.0.1:%u: Connection refused", ntohs(laddr.sin_port));
    ASSERT_STR(corio_error_message(corio_current_error()), want);
    ASSERT_EQ(corio_close_fd(fd), 0);
    return 0;
}

TEST(io_sock_connect_refused) {
    on_loop(refused_body, NULL);
    return 0;
}

/* sendall cancelled part-way says how much went; the reader then gets
 * exactly that many bytes, in order: none lost, none twice. */
static int sendall_cancel_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    lfd = listener(&laddr);
    int cfd, sfd;
    ASSERT_EQ(corio_socket(AF_INET, SOCK_STREAM, 0, &cfd), 0);
    /* Small fixed buffers on both ends: with the system's (a 4 MiB send
     * buffer, a receive window that grows) the pair held all of BIG now
     * and then under load, and sendall finished before the timeout. */
    int small = 64 * 1024;
    ASSERT_EQ(setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    ASSERT_EQ(setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0); /* the accepted one's */
    ASSERT_EQ(corio_sock_connect(cfd, (struct sockaddr *)&laddr, sizeof laddr), 0);
    ASSERT_EQ(corio_sock_accept(lfd, &sfd, NULL, NULL), 0);
    unsigned char *buf = malloc(BIG);
    for (size_t i = 0; i < BIG; i++) buf[i] = (unsigned char)(i * 13);
    size_t sent = 0;
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(0.05, &to), 0); /* nobody reads: it must stop waiting */
    int rc = corio_sock_sendall(cfd, buf, BIG, &sent);
    ASSERT_EQ(rc, CORIO_ECANCELED);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
    ASSERT(sent > 0 && sent < BIG);
    ASSERT_EQ(shutdown(cfd, SHUT_WR), 0);
    size_t total = 0, got;
    do {
        ASSERT_EQ(corio_sock_recv(sfd, buf, 65536, &got), 0);
        for (size_t i = 0; i < got; i++) ASSERT_EQ(buf[i], (unsigned char)((total + i) * 13));
        total += got;
    } while (got > 0);
    ASSERT_EQ(total, sent);
    free(buf);
    ASSERT_EQ(corio_close_fd(sfd), 0);
    ASSERT_EQ(corio_close_fd(cfd), 0);
    ASSERT_EQ(corio_close_fd(lfd), 0);
    return 0;
}

TEST(io_sock_sendall_cancelled) {
    on_loop(sendall_cancel_body, NULL);
    return 0;
}

/* UDP on loopback: a datagram each way, the sender's address given. */
static int udp_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    int a, b;
    ASSERT_EQ(corio_socket(AF_INET, SOCK_DGRAM, 0, &a), 0);
    ASSERT_EQ(corio_socket(AF_INET, SOCK_DGRAM, 0, &b), 0);
    struct sockaddr_in aa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in ba = aa;
    ASSERT_EQ(bind(a, (struct sockaddr *)&aa, sizeof aa), 0);
    ASSERT_EQ(bind(b, (struct sockaddr *)&ba, sizeof ba), 0);
    socklen_t len = sizeof aa;
    ASSERT_EQ(getsockname(a, (struct sockaddr *)&aa, &len), 0);
    ASSERT_EQ(getsockname(b, (struct sockaddr *)&ba, &len), 0);
    ASSERT_EQ(corio_sock_sendto(a, "ping", 4, (struct sockaddr *)&ba, sizeof ba), 0);
    char buf[16];
    size_t got;
    struct sockaddr_in from;
    unsigned int flen = sizeof from;
    ASSERT_EQ(corio_sock_recvfrom(b, buf, sizeof buf, &got, (struct sockaddr *)&from, &flen), 0);
    ASSERT_EQ(got, 4);
    ASSERT(memcmp(buf, "ping", 4) == 0);
    ASSERT_EQ(from.sin_port, aa.sin_port);
    /* connected: no address needed */
    ASSERT_EQ(connect(b, (struct sockaddr *)&aa, sizeof aa), 0);
    ASSERT_EQ(corio_sock_sendto(b, "pong", 4, NULL, 0), 0);
    ASSERT_EQ(corio_sock_recvfrom(a, buf, sizeof buf, &got, NULL, NULL), 0);
    ASSERT_EQ(got, 4);
    ASSERT(memcmp(buf, "pong", 4) == 0);
    ASSERT_EQ(corio_close_fd(a), 0);
    ASSERT_EQ(corio_close_fd(b), 0);
    return 0;
}

TEST(io_sock_udp) {
    on_loop(udp_body, NULL);
    return 0;
}

/* Every system call of the socket path failed in turn: a clean error,
 * no descriptor or memory left behind (the runner checks descriptors). */
static int past_end;
static int fault_body(void *arg, void **res) {
    (void)res;
    long nth = (long)(intptr_t)arg;
    lfd = listener(&laddr);
    corio__fail_after(nth);
    int cfd = -1, sfd = -1, rc;
    rc = corio_socket(AF_INET, SOCK_STREAM, 0, &cfd);
    if (rc == 0) rc = corio_sock_connect(cfd, (struct sockaddr *)&laddr, sizeof laddr);
    if (rc == 0) rc = corio_sock_accept(lfd, &sfd, NULL, NULL);
    size_t n;
    char buf[8];
    if (rc == 0) rc = corio_sock_sendall(cfd, "hello", 5, &n);
    if (rc == 0) rc = corio_sock_recv(sfd, buf, sizeof buf, &n);
    long made = corio__fail_after(0);
    if (rc == 0) ASSERT_EQ(n, 5);
    else ASSERT(rc != CORIO_ECANCELED && rc > -4000); /* the failed call's own -errno */
    if (cfd >= 0) corio_close_fd(cfd);
    if (sfd >= 0) corio_close_fd(sfd);
    corio_close_fd(lfd);
    past_end = rc == 0 && made < nth;
    return 0;
}

static int fault_sweep(void *arg, void **res) {
    (void)arg;
    (void)res;
    for (long nth = 1; nth < 200; nth++) {
        corio_task *t;
        ASSERT_EQ(corio_create_task(fault_body, (void *)(intptr_t)nth, NULL, &t), 0);
        past_end = 0;
        ASSERT_EQ(corio_await(t, NULL), 0);
        corio_future_unref(t);
        if (past_end) { /* every call has been failed once */
            ASSERT(nth > 5); /* at least socket, connect, accept, send, recv */
            return 0;
        }
    }
    ASSERT(!"more than 200 calls on the socket path?");
    return 0;
}

TEST(io_sock_fault_injection) {
    on_loop(fault_sweep, NULL);
    return 0;
}
