/* echo_floor_uring PORT: io_uring's floor for the `echo` workload, beside
 * the epoll one (echo_floor.c): a plain liburing echo server, no runtime.
 * A multishot accept; per connection one recv, then one send of what came
 * (and the rest of a short send), then the next recv; every entry of an
 * iteration goes in one io_uring_enter, which also waits. The ring asks
 * for SINGLE_ISSUER | DEFER_TASKRUN (completions run only when this
 * thread waits) and falls back to a plain ring where the kernel says no.
 * Same contract as echo_server (127.0.0.1:PORT, exits on SIGTERM or after
 * 60 s without a connection, prints "listening"). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ACCEPT = 1, RECV = 2, SEND = 3 };

typedef struct conn {
    int fd;
    unsigned sent, len; /* the message being echoed */
    char buf[65536];
} conn;

static volatile sig_atomic_t stop;
static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

static struct io_uring ring;

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void queue(conn *c, int kind) {
    struct io_uring_sqe *sqe = sqe_get();
    if (kind == RECV) io_uring_prep_recv(sqe, c->fd, c->buf, sizeof c->buf, 0);
    else io_uring_prep_send(sqe, c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | (uint64_t)kind);
}

static void arm_accept(int l) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, l, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ACCEPT);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: echo_floor_uring PORT\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    if (io_uring_queue_init_params(4096, &ring, &p) < 0) {
        struct io_uring_params q = {0};
        if (io_uring_queue_init_params(4096, &ring, &q) < 0) {
            fprintf(stderr, "echo_floor_uring: no io_uring here\n");
            return 1;
        }
    }
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096)) {
        perror("echo_floor_uring: listen");
        return 1;
    }
    arm_accept(l);
    printf("listening\n");
    fflush(stdout);
    long live = 0;
    time_t idle_since = time(NULL);
    while (!stop) {
        struct __kernel_timespec ts = {.tv_nsec = 100 * 1000 * 1000};
        struct io_uring_cqe *cqe;
        int rc = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
        if (rc == -ETIME || rc == -EINTR) {
            if (live == 0 && time(NULL) - idle_since >= 60) break;
            continue;
        }
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            n++;
            uint64_t ud = cqe->user_data;
            int res = cqe->res, kind = (int)(ud & 3);
            conn *c = (conn *)(uintptr_t)(ud & ~(uint64_t)3);
            if (kind == ACCEPT) {
                if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(l);
                if (res < 0 || !(c = malloc(sizeof *c))) continue;
                setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c->fd = res;
                live++;
                queue(c, RECV);
            } else if (res <= 0) { /* EOF or error */
                close(c->fd);
                free(c);
                if (--live == 0) idle_since = time(NULL);
            } else if (kind == RECV) {
                c->sent = 0;
                c->len = (unsigned)res;
                queue(c, SEND);
            } else if ((c->sent += (unsigned)res) < c->len) {
                queue(c, SEND);
            } else {
                queue(c, RECV);
            }
        }
        io_uring_cq_advance(&ring, n);
    }
    io_uring_queue_exit(&ring);
    return 0;
}
