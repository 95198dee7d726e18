/* echo_floor_uring PORT [OPTIONS]: io_uring's floor for the `echo`
 * workload, beside the epoll one (echo_floor.c): a plain liburing echo
 * server, no runtime. A multishot accept; per connection one recv, then
 * one send of what came (and the rest of a short send), then the next
 * recv; every entry of an iteration goes in one io_uring_enter, which also
 * waits. Same contract as echo_server (127.0.0.1:PORT, exits on SIGTERM or
 * after 60 s without a connection, prints "listening").
 *
 * OPTIONS, comma-separated, to measure what pays (issue 19):
 *   defer      SINGLE_ISSUER | DEFER_TASKRUN (completions run only when this
 *              thread waits; the default ring is COOP_TASKRUN, as corio's)
 *   plain      neither
 *   multishot  one multishot recv per connection into a provided-buffer ring
 *   fixed      registered (direct) descriptors: accept into the table, every
 *              operation by index
 *   pollfirst  recv with IORING_RECVSEND_POLL_FIRST (wait before trying)
 *   sendcall   replies by send(2), as corio's streams write; the ring only
 *              receives */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ACCEPT = 1, RECV = 2, SEND = 3 };
#define NBUFS 4096 /* provided buffers (multishot) */
#define BUFSZ 4096
#define QMAX 64    /* received chunks waiting for their send, per connection */

typedef struct conn {
    int fd;             /* a descriptor, or an index in the table (fixed) */
    unsigned sent, len; /* the message being echoed */
    unsigned short q[QMAX], qlen[QMAX]; /* multishot: buffer ids waiting, in order */
    unsigned qhead, qn;
    int sending;
    char buf[65536];
} conn;

static volatile sig_atomic_t stop;
static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

static struct io_uring ring;
static int multishot, fixed, pollfirst, syscall_send;
static struct io_uring_buf_ring *br;
static char *bufs;

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void tag(struct io_uring_sqe *sqe, conn *c, int kind) {
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | (uint64_t)kind);
    if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
}

static void queue_recv(conn *c) {
    struct io_uring_sqe *sqe = sqe_get();
    if (multishot) {
        io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 0;
    } else {
        io_uring_prep_recv(sqe, c->fd, c->buf, sizeof c->buf, 0);
        if (pollfirst) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST; /* the reply just went: nothing yet */
    }
    tag(sqe, c, RECV);
}

static void on_sent(conn *c, int res);

static void queue_send(conn *c) {
    char *from = multishot ? bufs + (size_t)c->q[c->qhead] * BUFSZ : c->buf;
    if (syscall_send && !fixed) { /* as corio's streams do: a send(2), the ring only waits */
        ssize_t w = send(c->fd, from + c->sent, c->len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            c->sending = 1;
            on_sent(c, (int)w);
            return;
        }
    }
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, c->fd, from + c->sent, c->len - c->sent, MSG_NOSIGNAL);
    tag(sqe, c, SEND);
    c->sending = 1;
}

static void recycle(unsigned short bid) {
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ, bid, io_uring_buf_ring_mask(NBUFS), 0);
    io_uring_buf_ring_advance(br, 1);
}

/* multishot: the next waiting chunk goes out, if none is in flight */
static void next_send(conn *c) {
    if (c->sending || !c->qn) return;
    c->sent = 0;
    c->len = c->qlen[c->qhead];
    queue_send(c);
}

static void arm_accept(int l) {
    struct io_uring_sqe *sqe = sqe_get();
    if (fixed) io_uring_prep_multishot_accept_direct(sqe, l, NULL, NULL, 0);
    else io_uring_prep_multishot_accept(sqe, l, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ACCEPT);
}

static void conn_close(conn *c) {
    if (fixed) {
        struct io_uring_sqe *sqe = sqe_get();
        io_uring_prep_close_direct(sqe, (unsigned)c->fd);
        io_uring_sqe_set_data64(sqe, 0);
    } else {
        close(c->fd);
    }
    while (multishot && c->qn) {
        recycle(c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % QMAX;
        c->qn--;
    }
    free(c);
}

static int ring_init(const char *opts) {
    unsigned flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    if (strstr(opts, "defer")) flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (strstr(opts, "plain")) flags = 0;
    struct io_uring_params p = {.flags = flags | IORING_SETUP_CQSIZE, .cq_entries = 16384};
    if (io_uring_queue_init_params(4096, &ring, &p) < 0) return -1;
    if (fixed && io_uring_register_files_sparse(&ring, 16384) < 0) return -1;
    if (multishot) {
        br = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        bufs = malloc((size_t)NBUFS * BUFSZ);
        if (br == MAP_FAILED || !bufs) return -1;
        io_uring_buf_ring_init(br);
        struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = NBUFS, .bgid = 0};
        if (io_uring_register_buf_ring(&ring, &reg, 0) < 0) return -1;
        for (unsigned short i = 0; i < NBUFS; i++) recycle(i);
    }
    return 0;
}

static void on_recv(conn *c, struct io_uring_cqe *cqe) {
    if (!multishot) {
        c->sent = 0;
        c->len = (unsigned)cqe->res;
        queue_send(c);
        return;
    }
    unsigned short bid = (unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    unsigned at = (c->qhead + c->qn) % QMAX;
    c->q[at] = bid;
    c->qlen[at] = (unsigned short)cqe->res;
    c->qn++;
    if (!(cqe->flags & IORING_CQE_F_MORE)) queue_recv(c); /* the kernel ended it: again */
    next_send(c);
}

static void on_sent(conn *c, int res) {
    if ((c->sent += (unsigned)res) < c->len) {
        queue_send(c);
        return;
    }
    c->sending = 0;
    if (!multishot) {
        queue_recv(c);
        return;
    }
    recycle(c->q[c->qhead]);
    c->qhead = (c->qhead + 1) % QMAX;
    c->qn--;
    next_send(c);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: echo_floor_uring PORT [defer,plain,multishot,fixed]\n");
        return 2;
    }
    const char *opts = argc > 2 ? argv[2] : "";
    multishot = strstr(opts, "multishot") != NULL;
    fixed = strstr(opts, "fixed") != NULL;
    pollfirst = strstr(opts, "pollfirst") != NULL;
    syscall_send = strstr(opts, "sendcall") != NULL;
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (ring_init(opts) < 0) {
        fprintf(stderr, "echo_floor_uring: io_uring (%s) refused here\n", opts);
        return 1;
    }
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* accepted sockets inherit it */
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
            if (ud == 0) continue; /* a direct close */
            if (kind == ACCEPT) {
                if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(l);
                if (res < 0 || !(c = calloc(1, sizeof *c))) continue;
                if (!fixed) setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c->fd = res;
                live++;
                queue_recv(c);
            } else if (res == -ENOBUFS && kind == RECV) { /* out of provided buffers */
                queue_recv(c);
            } else if (res <= 0) { /* EOF or error; a multishot recv's other CQEs may follow */
                if (kind == RECV && c->sending) {
                    c->fd = -c->fd - 1; /* closed once its send completes */
                    continue;
                }
                if (c->fd < 0 && kind == SEND) c->fd = -c->fd - 1;
                conn_close(c);
                if (--live == 0) idle_since = time(NULL);
            } else if (kind == RECV) {
                on_recv(c, cqe);
            } else {
                on_sent(c, res);
            }
        }
        io_uring_cq_advance(&ring, n);
    }
    io_uring_queue_exit(&ring);
    return 0;
}
