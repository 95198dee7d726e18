/* The io_uring backend: the tasks' I/O done by the kernel, the completion
 * way. The contract is backend/backend.h; io.md section 8 gives the rules.
 *
 * A task's operation is one submission entry, queued when the task asks
 * and submitted with everything else the loop's tasks queued in the same
 * iteration (one io_uring_enter per poll phase, which also waits). The
 * task suspends until the operation's own completion; nothing else wakes
 * it. A cancel asks the kernel to cancel it (or turns an entry not yet
 * submitted into a no-op) and the task still waits for the completion:
 * CORIO_ECANCELED if the kernel cancelled it, else what the operation did,
 * with the cancel delivered at the task's next suspension. So no
 * operation is both done and reported cancelled, none is lost.
 *
 * Memory the kernel writes or reads after submission is the loop's: each
 * descriptor has a record (ufd) with the addresses, message headers and,
 * for copy-mode tasks (whose stack bytes move while they are suspended),
 * a bounce buffer per direction; an own-stack task's buffer stays in place
 * until its operation completes, and at close the loop cancels and awaits
 * every operation before any task is destroyed (quiesce). close_fd cancels
 * the descriptor's operations and awaits their completions before close(2).
 * One operation per direction per descriptor: a second reader or sender
 * gets CORIO_EBUSY, so bytes keep their order.
 *
 * Each operation's user_data is its index in the ring's table and a
 * generation, so a late cancel request can never reach a reused entry. */
#define _GNU_SOURCE
#include "core/internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum { RD = 0, WR = 1 };
enum { K_POLL, K_RECV, K_SEND, K_READ, K_RECVMSG, K_SENDMSG, K_ACCEPT, K_CONNECT };

#define TAG_WAKE UINT64_MAX         /* the wake-up eventfd's multishot poll */
#define TAG_IGNORE (UINT64_MAX - 1) /* a cancel request's own completion */
#define RING_ENTRIES 1024
#define BOUNCE_MAX ((size_t)64 << 10) /* a copy-mode task's operation moves at most this */
#define XFER_MAX ((size_t)1 << 30)    /* results are ints */

struct ufd;

typedef struct uop {
    uint32_t id;              /* immutable: its index in the ring's table */
    uint32_t gen;             /* bumped when handed out; in user_data beside id */
    corio_loop *loop;         /* borrowed: whose ring it is in */
    struct ufd *f;            /* its descriptor's record, borrowed; NULL once close_fd freed it */
    corio__task *task;        /* waits for it, borrowed; NULL: a callback's poll */
    uint64_t seq;             /* its entry's number among all the ring was given */
    struct io_uring_sqe *sqe; /* that entry (ours to rewrite until the kernel took it) */
    int dir;                  /* RD / WR: the slot of f it holds */
    int kind;                 /* K_*, for a task's operation */
    int res;                  /* the completion's result */
    uint8_t live;             /* handed out (not in the free list) */
    uint8_t done;             /* its completion came */
    uint8_t cancelled;        /* a cancel was asked for */
    uint8_t closing;          /* cancelled by close_fd: the task gets CORIO_EFDCLOSED */
    uint8_t nopped;           /* cancelled before submission: it became a no-op */
    uint8_t cb;               /* a callback's poll (f->cbop[dir]) */
    uint8_t bg;               /* a background send (f->op[WR] until its event ran) */
    const void *bg_buf;       /* borrowed: the stream's, unchanged until the callback */
    size_t bg_n;
    corio__sent_fn sent;      /* a background send's callback; NULL once close_fd dropped it */
    void *sent_arg;
    corio__event ev;          /* a background send's completion, in the ready queue while queued */
    corio__list link;         /* in the free list, or the cancel backlog */
} uop;

typedef struct ufd {
    corio_loop *loop;          /* borrowed: the loop whose table holds it */
    int fd;                    /* immutable */
    uint32_t gen;              /* immutable: tells a record from a later one at the same address */
    uint32_t inflight;         /* its operations the kernel has not completed */
    uint8_t regular;           /* a regular file or directory: no waiting on it (as epoll) */
    uint8_t whole;             /* datagrams or records: a copy-mode bounce takes them whole */
    corio__task *waiter[2];    /* the task holding the direction, borrowed */
    uop *op[2];                /* the task's operation per direction (until the task takes it) */
    corio_cb cb[2];            /* the reader / writer callback, or NULL */
    void *cbarg[2];
    uop *cbop[2];              /* the callback's poll in flight, or NULL */
    corio__event cbev[2];      /* a ready callback's run, in the ready queue while queued */
    char *bounce[2];           /* owned: copy-mode tasks' bytes per direction */
    size_t bcap[2];
    struct sockaddr_storage addr[2]; /* what the kernel reads or writes after submission */
    socklen_t addrlen[2];
    struct msghdr msg[2];
    struct iovec iov[2];
} ufd;

typedef struct corio__uring {
    struct io_uring ring;
    ufd **by_fd;          /* owned array and records; NULL: none for that number */
    size_t cap;
    uint32_t fd_gen;      /* the last record generation given */
    uop **ops;            /* owned: every operation object, by id */
    uint32_t nops, opcap;
    corio__list free_ops; /* uop.link: not live */
    corio__list backlog;  /* uop.link: cancels that found the queue full */
    uint64_t queued;      /* entries filled since the ring was made */
    uint64_t taken;       /* of them, taken by the kernel (khead, widened) */
    unsigned khead_seen;  /* khead when `taken` was last brought up to date */
    int wake_fd;          /* borrowed (the loop's eventfd); -1 until added */
    uint8_t wake_armed;   /* its multishot poll is in the kernel (else armed at the next poll) */
} corio__uring;

static void cb_run(corio__event *ev);

/* liburing maps and unmaps a ring's memory by system calls TSan does not
 * see: a new ring at a freed one's addresses (another loop's, in another
 * thread) looks to it like memory shared without synchronisation. One
 * sync object orders every ring's end before any later ring's start. */
#if CORIO_HAVE_TSAN
static char ring_sync;
static void ring_fresh(void) { __tsan_acquire(&ring_sync); }
static void ring_gone(void) { __tsan_release(&ring_sync); }
#else
static void ring_fresh(void) {}
static void ring_gone(void) {}
#endif

/* ---- submission and completion ---------------------------------------------- */

static uint64_t ud_of(const uop *op) { return (uint64_t)op->gen << 32 | op->id; }

/* An entry to fill: when the queue is full, what is queued goes first.
 * NULL if even then there is none (the kernel refused the submission). */
static struct io_uring_sqe *sqe_get(corio__uring *r) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe && !corio__fail_point() && io_uring_submit(&r->ring) >= 0)
        sqe = io_uring_get_sqe(&r->ring);
    if (sqe) r->queued++;
    return sqe;
}

/* The kernel has not taken op's entry yet (no SQPOLL: it takes entries
 * only inside io_uring_enter). The queue's 32-bit head is widened here, so
 * an operation in flight across 2^31 later entries is still told right;
 * it is read at least once per submission (unsubmitted or enter). */
static uint64_t taken(corio__uring *r) {
    unsigned head = io_uring_smp_load_acquire(r->ring.sq.khead);
    r->taken += (unsigned)(head - r->khead_seen);
    r->khead_seen = head;
    return r->taken;
}

static int unsubmitted(corio__uring *r, const uop *op) { return op->seq >= taken(r); }

static uop *op_new(corio__uring *r) {
    uop *op;
    if (!corio__list_empty(&r->free_ops)) {
        op = corio__container_of(r->free_ops.next, uop, link);
        corio__list_unlink(&op->link);
    } else {
        if (r->nops == r->opcap) {
            uint32_t cap = r->opcap ? r->opcap * 2 : 64;
            uop **v = corio__realloc(r->ops, cap * sizeof *v);
            if (!v) return NULL;
            r->ops = v;
            r->opcap = cap;
        }
        if (!(op = corio__calloc(1, sizeof *op))) return NULL;
        op->id = r->nops;
        r->ops[r->nops++] = op;
        corio__list_init(&op->link);
        corio__list_init(&op->ev.link);
    }
    uint32_t id = op->id, gen = op->gen + 1;
    assert(!corio__list_linked(&op->ev.link));
    memset(op, 0, sizeof *op);
    op->id = id;
    op->gen = gen;
    op->live = 1;
    corio__list_init(&op->link);
    corio__list_init(&op->ev.link);
    return op;
}

static void op_free(corio__uring *r, uop *op) {
    if (corio__list_linked(&op->link)) corio__list_unlink(&op->link);
    op->live = 0;
    corio__list_push_back(&r->free_ops, &op->link);
}

/* A fresh operation and an entry for it: 0, or CORIO_ENOMEM / -ENOBUFS
 * (then neither is taken). */
static int op_take(corio__uring *r, uop **op, struct io_uring_sqe **sqe) {
    if (!(*op = op_new(r))) return CORIO_ENOMEM;
    if (!(*sqe = sqe_get(r))) {
        op_free(r, *op);
        return -ENOBUFS;
    }
    return 0;
}

/* Put op, prepared in sqe, in flight for f. */
static void op_queue(corio_loop *loop, ufd *f, uop *op, struct io_uring_sqe *sqe) {
    io_uring_sqe_set_data64(sqe, ud_of(op));
    op->sqe = sqe;
    op->seq = loop->uring->queued - 1;
    op->loop = loop;
    op->f = f;
    f->inflight++;
    loop->io_sources++;
}

/* Ask for op to end early; its completion still comes. */
static void op_cancel_now(corio_loop *loop, uop *op) {
    corio__uring *r = loop->uring;
    if (op->done || op->cancelled) return;
    op->cancelled = 1;
    if (unsubmitted(r, op)) { /* the kernel never sees it: a no-op in its place */
        io_uring_prep_nop(op->sqe);
        io_uring_sqe_set_data64(op->sqe, ud_of(op));
        op->nopped = 1;
        return;
    }
    struct io_uring_sqe *sqe = sqe_get(r);
    if (!sqe) { /* tried again at the next poll */
        corio__list_push_back(&r->backlog, &op->link);
        return;
    }
    io_uring_prep_cancel64(sqe, ud_of(op), 0);
    io_uring_sqe_set_data64(sqe, TAG_IGNORE);
}

static void flush_backlog(corio_loop *loop) {
    corio__uring *r = loop->uring;
    while (!corio__list_empty(&r->backlog)) {
        uop *op = corio__container_of(r->backlog.next, uop, link);
        struct io_uring_sqe *sqe = sqe_get(r);
        if (!sqe) return;
        corio__list_unlink(&op->link);
        if (op->done) continue;
        io_uring_prep_cancel64(sqe, ud_of(op), 0);
        io_uring_sqe_set_data64(sqe, TAG_IGNORE);
    }
}

static int arm_wake(corio__uring *r) {
    struct io_uring_sqe *sqe = sqe_get(r);
    if (!sqe) return -ENOBUFS;
    io_uring_prep_poll_multishot(sqe, r->wake_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, TAG_WAKE);
    r->wake_armed = 1;
    return 0;
}

static int cb_arm(corio_loop *loop, ufd *f, int d);

/* A callback's poll completed: the callback runs as an event; cb_run
 * polls again afterwards while it stays set. */
static void cb_done(corio_loop *loop, ufd *f, uop *op) {
    int d = op->dir, res = op->res, asked = op->cancelled || f->cbop[d] != op;
    if (!asked) f->cbop[d] = NULL;
    op_free(loop->uring, op);
    if (asked || !f->cb[d]) return; /* removed or replaced meanwhile */
    if (res == -ECANCELED) { /* unasked: the thread that armed it ended; again */
        if (cb_arm(loop, f, d) == 0) return;
    } else if (res >= 0) {
        if (!corio__list_linked(&f->cbev[d].link)) corio__ready_push(loop, &f->cbev[d]);
        return;
    }
    /* The poll itself failed: running the callback again and again would
     * spin. It is dropped, and said. */
    f->cb[d] = NULL;
    char msg[160];
    snprintf(msg, sizeof msg, "io_uring: the %s callback of descriptor %d was dropped: its poll failed (%s)",
             d == RD ? "reader" : "writer", f->fd, strerror(res < 0 ? -res : ENOBUFS));
    corio__report(loop, msg, NULL, NULL);
}

/* A background send completed: its slot is free, its callback runs as an
 * event of the ready queue (the stream may close the descriptor there,
 * which must not happen inside the reaping). */
static void sent_run(corio__event *ev) {
    uop *op = corio__container_of(ev, uop, ev);
    corio_loop *loop = op->loop;
    corio__sent_fn fn = op->sent;
    void *arg = op->sent_arg;
    long res = op->res;
    if (op->f && op->f->op[WR] == op) op->f->op[WR] = NULL; /* the slot was held until now */
    op_free(loop->uring, op);
    if (fn && !corio__loop_closed(loop)) fn(arg, res);
}

static void sent_done(corio_loop *loop, uop *op) {
    op->ev.run = sent_run;
    corio__ready_push(loop, &op->ev);
}

static void bg_prep(uop *op, struct io_uring_sqe *sqe) {
    io_uring_prep_send(sqe, op->f->fd, op->bg_buf, op->bg_n, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud_of(op));
    op->sqe = sqe;
    op->seq = op->loop->uring->queued - 1;
}

/* A background send the kernel cancelled unasked (the thread that
 * submitted it ended) sent nothing: the same again. 1 if it went. */
static int bg_again(corio__uring *r, uop *op, int res) {
    if (op->cancelled || !op->f || res != -ECANCELED) return 0;
    struct io_uring_sqe *sqe = sqe_get(r);
    if (!sqe) return 0; /* the result stands */
    bg_prep(op, sqe);
    return 1;
}

static void complete(corio_loop *loop, uint64_t ud, int res, unsigned flags) {
    corio__uring *r = loop->uring;
    if (ud == TAG_IGNORE) return;
    if (ud == TAG_WAKE) { /* the sources' phase reads the eventfd */
        if (!(flags & IORING_CQE_F_MORE)) {
            r->wake_armed = 0; /* ended (overflow, its thread gone): again, now or next poll */
            (void)arm_wake(r);
        }
        return;
    }
    uint32_t id = (uint32_t)ud, gen = (uint32_t)(ud >> 32);
    uop *op = id < r->nops ? r->ops[id] : NULL;
    if (!op || !op->live || op->gen != gen || op->done) return; /* not ours any more */
    if (op->bg && bg_again(r, op, res)) return;
    op->done = 1;
    op->res = res;
    if (op->f) op->f->inflight--;
    loop->io_sources--;
    if (corio__list_linked(&op->link)) corio__list_unlink(&op->link); /* a backlogged cancel */
    if (op->cb) cb_done(loop, op->f, op);
    else if (op->task) corio__wake(op->task, 0); /* it reads op->res */
    else if (op->bg) sent_done(loop, op);
    else op_free(r, op);
}

static void reap(corio_loop *loop) {
    struct io_uring *ring = &loop->uring->ring;
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(ring, head, cqe) {
            complete(loop, cqe->user_data, cqe->res, cqe->flags);
            n++;
        }
        io_uring_cq_advance(ring, n);
        /* Completions the ring had no room for wait in the kernel
         * (IORING_FEAT_NODROP): peeking flushes them in. */
        if (io_uring_peek_cqe(ring, &cqe) != 0) return;
    }
}

/* Submit what is queued and wait up to timeout_ns (-1: forever, 0: not)
 * for a completion. 0 or -errno. */
static int enter(corio__uring *r, int64_t timeout_ns) {
    if (corio__fail_point()) return -EAGAIN; /* nothing submitted: all stays queued */
    struct io_uring_cqe *cqe;
    int rc;
    if (timeout_ns == 0) {
        rc = io_uring_submit(&r->ring);
    } else if (timeout_ns < 0) {
        rc = io_uring_submit_and_wait(&r->ring, 1);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ns / CORIO__NS_PER_S,
                                       .tv_nsec = timeout_ns % CORIO__NS_PER_S};
        rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
    }
    (void)taken(r);
    return rc == -ETIME || rc == -EINTR ? 0 : rc < 0 ? rc : 0;
}

/* Until f has nothing in the kernel (close_fd; f NULL: the whole loop). */
static void drain(corio_loop *loop, ufd *f) {
    while (f ? f->inflight : loop->io_sources) {
        flush_backlog(loop); /* a cancel that found the queue full goes now */
        int rc = enter(loop->uring, -1);
        if (rc < 0 && rc != -EAGAIN && rc != -EBUSY) {
            /* The kernel refuses to run the ring: nothing can complete,
             * and nothing it holds can be let go of. Say so and stop. */
            corio__report(loop, "io_uring: the ring failed while operations were in flight",
                          NULL, NULL);
            abort();
        }
        reap(loop);
    }
}

/* ---- the loop's half ---------------------------------------------------------- */

static int probe_ops(struct io_uring *ring) {
    static const int need[] = {IORING_OP_NOP,      IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL,
                               IORING_OP_RECV,     IORING_OP_SEND,     IORING_OP_READ,
                               IORING_OP_RECVMSG,  IORING_OP_SENDMSG,
                               IORING_OP_ACCEPT,   IORING_OP_CONNECT};
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    if (!p) return -EOPNOTSUPP;
    int rc = 0;
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!io_uring_opcode_supported(p, need[i])) rc = -EOPNOTSUPP;
    io_uring_free_probe(p);
    return rc;
}

static int ur_init(corio_loop *loop) {
    if (corio__fail_point()) return -ENOMEM;
    corio__uring *r = corio__calloc(1, sizeof *r);
    if (!r) return CORIO_ENOMEM;
    /* SUBMIT_ALL (5.18): a submission takes every queued entry, so "not
     * yet submitted" is exact; EXT_ARG (5.11): a wait with a timeout in
     * the same call; NODROP: no completion is ever lost; FAST_POLL: a
     * socket operation that would block waits in the kernel.
     * COOP_TASKRUN (5.19), where accepted: completions are run when the
     * loop next enters the kernel instead of interrupting it. */
    static const unsigned extra[] = {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0};
    struct io_uring_params p;
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof extra / sizeof extra[0] && rc == -EINVAL; i++) {
        p = (struct io_uring_params){.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | extra[i],
                                     .cq_entries = 4 * RING_ENTRIES};
        rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p);
    }
    ring_fresh();
    if (rc == 0) {
        unsigned need = IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL;
        rc = (p.features & need) != need ? -EOPNOTSUPP : probe_ops(&r->ring);
        if (rc < 0) {
            ring_gone();
            io_uring_queue_exit(&r->ring);
        }
    }
    if (rc < 0) {
        corio__free(r);
        return rc;
    }
    corio__list_init(&r->free_ops);
    corio__list_init(&r->backlog);
    r->wake_fd = -1;
    loop->uring = r;
    return 0;
}

static int ur_add_wakeup(corio_loop *loop, int fd) {
    loop->uring->wake_fd = fd;
    return arm_wake(loop->uring);
}

static int ur_poll(corio_loop *loop, int64_t timeout_ns) {
    corio__uring *r = loop->uring;
    flush_backlog(loop);
    if (!r->wake_armed && r->wake_fd >= 0) (void)arm_wake(r);
    /* Nothing queued, nothing in flight, no wait wanted: spare the call. */
    if (timeout_ns == 0 && !loop->io_sources && !io_uring_sq_ready(&r->ring) &&
        !io_uring_cq_ready(&r->ring))
        return 0;
    int rc = enter(r, timeout_ns);
    reap(loop);
    /* A refused submission stays queued for the next poll. */
    return rc == -EAGAIN || rc == -EBUSY ? 0 : rc;
}

static void cancel_fd_ops(corio_loop *loop, ufd *f, int closing) {
    for (int d = RD; d <= WR; d++) {
        if (f->op[d]) {
            f->op[d]->closing |= (uint8_t)closing;
            op_cancel_now(loop, f->op[d]);
        }
        if (f->cbop[d]) op_cancel_now(loop, f->cbop[d]);
    }
}

static void ur_quiesce(corio_loop *loop) {
    corio__uring *r = loop->uring;
    for (size_t i = 0; i < r->cap; i++)
        if (r->by_fd[i]) cancel_fd_ops(loop, r->by_fd[i], 0);
    drain(loop, NULL);
}

static void ufd_free(corio_loop *loop, ufd *f) {
    for (int d = RD; d <= WR; d++) {
        if (corio__list_linked(&f->cbev[d].link)) corio__list_unlink(&f->cbev[d].link);
        if (f->op[d]) f->op[d]->f = NULL; /* done; its task, if it ever runs, is told */
        corio__free(f->bounce[d]);
    }
    loop->uring->by_fd[f->fd] = NULL;
    (void)corio__backend_owner_set(f->fd, NULL, loop);
    corio__free(f);
}

/* At loop close, after every task is gone: callbacks are dropped; the
 * descriptors stay the program's. */
static void ur_close(corio_loop *loop) {
    corio__uring *r = loop->uring;
    if (!r) return;
    ur_quiesce(loop);
    for (size_t i = 0; i < r->cap; i++)
        if (r->by_fd[i]) ufd_free(loop, r->by_fd[i]);
    corio__free(r->by_fd);
    for (uint32_t i = 0; i < r->nops; i++) {
        uop *op = r->ops[i];
        /* An accept that completed for a task destroyed before it ran: the
         * connection is nobody's. */
        if (op->live && op->done && op->task && op->kind == K_ACCEPT && op->res >= 0 && !op->nopped)
            corio__close(op->res);
        corio__free(op);
    }
    corio__free(r->ops);
    ring_gone();
    io_uring_queue_exit(&r->ring);
    corio__free(r);
    loop->uring = NULL;
}

/* ---- records ------------------------------------------------------------------- */

static int ufd_get(corio_loop *loop, int fd, ufd **out) {
    corio__uring *r = loop->uring;
    *out = NULL; /* (gcc -O3 cannot tell that -errno is never 0) */
    if (fd < 0) return -EBADF;
    /* A number that is no open descriptor must not grow the table. */
    if ((size_t)fd >= r->cap && fcntl(fd, F_GETFD) < 0) return -errno;
    if ((size_t)fd >= r->cap) {
        ufd **v = corio__backend_grow(r->by_fd, &r->cap, fd, sizeof *v);
        if (!v) return CORIO_ENOMEM;
        r->by_fd = v;
    }
    ufd *f = r->by_fd[fd];
    if (!f) {
        /* Once per descriptor: it is one (no record for a stale number),
         * and what kind. */
        struct stat st;
        int type = SOCK_STREAM;
        socklen_t len = sizeof type;
        if (fstat(fd, &st) < 0) return -errno;
        if (S_ISSOCK(st.st_mode) && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return -errno;
        if (!(f = corio__calloc(1, sizeof *f))) return CORIO_ENOMEM;
        f->regular = S_ISREG(st.st_mode) || S_ISDIR(st.st_mode);
        f->whole = type != SOCK_STREAM;
        if (corio__backend_owner_set(fd, loop, NULL) < 0) {
            corio__free(f);
            return CORIO_ENOMEM;
        }
        f->loop = loop;
        f->fd = fd;
        f->gen = ++r->fd_gen;
        for (int d = RD; d <= WR; d++) {
            corio__list_init(&f->cbev[d].link);
            f->cbev[d].run = cb_run;
            f->cbev[d].seq = (uint64_t)d; /* which of the pair, for cb_run */
        }
        r->by_fd[fd] = f;
    }
    *out = f;
    return 0;
}

static ufd *ufd_find(corio_loop *loop, int fd) {
    corio__uring *r = loop->uring;
    return r && fd >= 0 && (size_t)fd < r->cap ? r->by_fd[fd] : NULL;
}

/* ---- the callback form ------------------------------------------------------------ */

static int cb_arm(corio_loop *loop, ufd *f, int d) {
    uop *op;
    struct io_uring_sqe *sqe;
    int rc = op_take(loop->uring, &op, &sqe);
    if (rc < 0) return rc;
    io_uring_prep_poll_add(sqe, f->fd, d == RD ? POLLIN : POLLOUT);
    op->cb = 1;
    op->dir = d;
    op_queue(loop, f, op, sqe);
    f->cbop[d] = op;
    return 0;
}

static void cb_run(corio__event *ev) {
    int d = ev->seq == WR ? WR : RD; /* which of the pair: set at creation */
    ufd *f = corio__container_of(ev - d, ufd, cbev);
    corio_loop *loop = f->loop;
    if (!f->cb[d] || corio__loop_closed(loop)) return;
    int fd = f->fd;
    uint32_t gen = f->gen;
    f->cb[d](f->cbarg[d]);
    /* The callback may have closed the descriptor (its record is gone)
     * or removed itself; else poll again: level-triggered, as epoll's. */
    ufd *g = ufd_find(loop, fd);
    if (g && g == f && g->gen == gen && g->cb[d] && !g->cbop[d] &&
        !corio__list_linked(&g->cbev[d].link) && cb_arm(loop, g, d) < 0)
        corio__report(loop, "io_uring: a reader or writer callback could not be re-armed", NULL, NULL);
}

static int ur_watch(corio_loop *loop, int fd, int events, corio_cb fn, void *arg) {
    ufd *f;
    int rc = ufd_get(loop, fd, &f);
    if (rc < 0) return rc;
    if (f->regular) return -EPERM; /* always ready: a callback would spin (epoll refuses it too) */
    for (int d = RD; d <= WR; d++)
        if (events & (d == RD ? CORIO_READABLE : CORIO_WRITABLE) && f->waiter[d]) return CORIO_EBUSY;
    for (int d = RD; d <= WR; d++) {
        if (!(events & (d == RD ? CORIO_READABLE : CORIO_WRITABLE))) continue;
        corio_cb old = f->cb[d];
        void *oldarg = f->cbarg[d];
        f->cb[d] = fn;
        f->cbarg[d] = arg;
        if (!f->cbop[d] && !corio__list_linked(&f->cbev[d].link) && (rc = cb_arm(loop, f, d)) < 0) {
            f->cb[d] = old;
            f->cbarg[d] = oldarg;
            return rc;
        }
    }
    return 0;
}

static int ur_unwatch(corio_loop *loop, int fd, int events) {
    ufd *f = ufd_find(loop, fd);
    int removed = 0;
    for (int d = RD; f && d <= WR; d++) {
        if (!(events & (d == RD ? CORIO_READABLE : CORIO_WRITABLE)) || !f->cb[d]) continue;
        f->cb[d] = NULL;
        if (corio__list_linked(&f->cbev[d].link)) corio__list_unlink(&f->cbev[d].link);
        if (f->cbop[d]) {
            op_cancel_now(loop, f->cbop[d]); /* its completion frees it */
            f->cbop[d] = NULL;
        }
        removed = 1;
    }
    return removed;
}

/* ---- the tasks' half ----------------------------------------------------------------- */

/* What a task asks for; on its stack, read before it suspends and after
 * it resumes, never by the kernel. */
typedef struct req {
    int kind;
    int dir;                         /* RD / WR */
    int events;                      /* K_POLL: CORIO_READABLE | CORIO_WRITABLE */
    void *buf;                       /* data to fill (RD) or send (WR) */
    size_t n;
    int flags;
    struct sockaddr *addr;           /* recvfrom / accept: where the peer's address goes */
    corio__socklen *addrlen;
    const struct sockaddr *to;       /* sendto / connect */
    corio__socklen tolen;
} req;

static int op_cancel(corio__task *t, void *obj) {
    op_cancel_now(t->fut.loop, obj);
    return 1; /* its completion wakes the task */
}

/* Fill sqe for q on f. A copy-mode task's data goes through f's bounce
 * buffer; the kernel reads or writes only memory of f. */
static int prep(ufd *f, const req *q, struct io_uring_sqe *sqe, int copy) {
    int d = q->dir;
    void *buf = q->buf;
    size_t n = q->n < XFER_MAX ? q->n : XFER_MAX;
    if (copy && q->kind != K_POLL && q->kind != K_ACCEPT && q->kind != K_CONNECT) {
        /* A byte stream may move less; a datagram or record goes whole. */
        if (n > BOUNCE_MAX && !f->whole) n = BOUNCE_MAX;
        if (f->bcap[d] < n) {
            char *b = corio__realloc(f->bounce[d], n);
            if (!b) return CORIO_ENOMEM;
            f->bounce[d] = b;
            f->bcap[d] = n;
        }
        if (d == WR && n) memcpy(f->bounce[d], q->buf, n);
        buf = f->bounce[d];
    }
    switch (q->kind) {
    case K_POLL:
        io_uring_prep_poll_add(sqe, f->fd, (q->events & CORIO_READABLE ? POLLIN : 0) |
                                               (q->events & CORIO_WRITABLE ? POLLOUT : 0));
        break;
    case K_RECV: io_uring_prep_recv(sqe, f->fd, buf, n, q->flags); break;
    case K_SEND: io_uring_prep_send(sqe, f->fd, buf, n, q->flags | MSG_NOSIGNAL); break;
    case K_READ: io_uring_prep_read(sqe, f->fd, buf, (unsigned)n, (uint64_t)-1); break;
    case K_RECVMSG:
    case K_SENDMSG:
        f->iov[d] = (struct iovec){.iov_base = buf, .iov_len = n};
        f->msg[d] = (struct msghdr){.msg_iov = &f->iov[d], .msg_iovlen = 1};
        if (q->kind == K_RECVMSG) {
            f->msg[d].msg_name = &f->addr[d];
            f->msg[d].msg_namelen = sizeof f->addr[d];
            io_uring_prep_recvmsg(sqe, f->fd, &f->msg[d], (unsigned)q->flags);
        } else {
            if (q->to) {
                if (q->tolen > sizeof f->addr[d]) return CORIO_EINVAL;
                memcpy(&f->addr[d], q->to, q->tolen);
                f->msg[d].msg_name = &f->addr[d];
                f->msg[d].msg_namelen = q->tolen;
            }
            io_uring_prep_sendmsg(sqe, f->fd, &f->msg[d], (unsigned)q->flags | MSG_NOSIGNAL);
        }
        break;
    case K_ACCEPT:
        f->addrlen[d] = sizeof f->addr[d];
        io_uring_prep_accept(sqe, f->fd, (struct sockaddr *)&f->addr[d], &f->addrlen[d],
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case K_CONNECT:
        if (q->tolen > sizeof f->addr[d]) return CORIO_EINVAL;
        memcpy(&f->addr[d], q->to, q->tolen);
        io_uring_prep_connect(sqe, f->fd, (struct sockaddr *)&f->addr[d], q->tolen);
        break;
    }
    return 0;
}

/* After the completion, in the task's own context: the bytes and
 * addresses the kernel left in f go where the task asked. */
static void deliver(ufd *f, const req *q, int res, int copy) {
    int d = q->dir;
    if (copy && d == RD && res > 0 && q->kind != K_POLL && q->kind != K_ACCEPT) {
        size_t n = (size_t)res, room = q->n < f->bcap[d] ? q->n : f->bcap[d];
        memcpy(q->buf, f->bounce[d], n < room ? n : room); /* MSG_TRUNC reports more than came */
    }
    socklen_t len = q->kind == K_RECVMSG ? f->msg[d].msg_namelen : f->addrlen[d];
    if ((q->kind == K_RECVMSG || q->kind == K_ACCEPT) && q->addr && q->addrlen && res >= 0) {
        memcpy(q->addr, &f->addr[d], len < *q->addrlen ? len : *q->addrlen);
        *q->addrlen = len;
    }
}

static int poll_ready(int res, int asked) {
    int ready = (res & (POLLIN | POLLRDHUP | POLLHUP | POLLERR) ? CORIO_READABLE : 0) |
                (res & (POLLOUT | POLLHUP | POLLERR) ? CORIO_WRITABLE : 0);
    return ready & asked ? ready & asked : asked;
}

/* One submission of q and its completion: the operation's result, or a
 * corio code; *again: the kernel cancelled it unasked (the thread that
 * submitted it ended: the loop runs on another now), nothing was done, it
 * goes again. */
static long submit_wait(corio_loop *loop, ufd *f, const req *q, corio__task *t, int *again) {
    corio__uring *r = loop->uring;
    int copy = corio__task_copy_mode(t);
    uop *op;
    struct io_uring_sqe *sqe;
    int rc = op_take(r, &op, &sqe);
    if (rc < 0) return rc;
    if ((rc = prep(f, q, sqe, copy)) < 0) { /* the entry goes as a no-op nobody waits for */
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, TAG_IGNORE);
        op_free(r, op);
        return rc;
    }
    op->task = t;
    op->dir = q->dir;
    op->kind = q->kind;
    op_queue(loop, f, op, sqe);
    int dirs = q->kind == K_POLL ? q->events : q->dir == RD ? CORIO_READABLE : CORIO_WRITABLE;
    for (int d = RD; d <= WR; d++)
        if (dirs & (d == RD ? CORIO_READABLE : CORIO_WRITABLE)) f->waiter[d] = t;
    f->op[q->dir] = op;
    /* Only the completion wakes it; a cancel that came after it, before
     * the task resumed, turns the wake code into CORIO_ECANCELED. */
    int late_cancel = corio__suspend(t, op_cancel, op) == CORIO_ECANCELED;
    long res = op->res;
    int cancelled = op->cancelled || late_cancel, nopped = op->nopped, closing = op->closing;
    ufd *g = op->f; /* NULL: close_fd freed the record meanwhile */
    op_free(r, op);
    if (!g || closing) {
        if (q->kind == K_ACCEPT && res >= 0 && !nopped) corio__close((int)res); /* nobody takes it */
        return CORIO_EFDCLOSED;
    }
    for (int d = RD; d <= WR; d++)
        if (g->waiter[d] == t) g->waiter[d] = NULL;
    g->op[q->dir] = NULL;
    *again = res == -ECANCELED && !cancelled;
    if (cancelled && (nopped || res < 0 || q->kind == K_POLL)) return CORIO_ECANCELED;
    if (cancelled) corio__task_defer_cancel(t); /* it did its work: the cancel comes next */
    if (q->kind == K_POLL) return res < 0 ? res : poll_ready((int)res, q->events);
    deliver(g, q, (int)res, copy);
    return res;
}

static long perform(corio_loop *loop, int fd, req *q) {
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    ufd *f;
    int rc = ufd_get(loop, fd, &f);
    if (rc < 0) return rc;
    if (q->kind == K_POLL && f->regular) return -EPERM; /* as epoll: a file is never waited for */
    int dirs = q->kind == K_POLL ? q->events : q->dir == RD ? CORIO_READABLE : CORIO_WRITABLE;
    for (int d = RD; d <= WR; d++)
        if (dirs & (d == RD ? CORIO_READABLE : CORIO_WRITABLE) && (f->waiter[d] || f->cb[d] || f->op[d]))
            return CORIO_EBUSY;
    for (;;) {
        int again = 0;
        long res = submit_wait(loop, f, q, t, &again);
        if (again) continue;
        /* A descriptor opened non-blocking may answer EAGAIN instead of
         * waiting in the kernel (pipes): wait for it, then again. */
        if (res == -EAGAIN && q->kind != K_POLL) {
            req w = {.kind = K_POLL, .dir = q->dir, .events = dirs};
            long p = submit_wait(loop, f, &w, t, &again);
            if (p < 0 && !again) return p;
            continue;
        }
        /* A connection reset before it was taken is not the listener's
         * error: take the next (as asyncio and libuv). */
        if (res == -ECONNABORTED && q->kind == K_ACCEPT) continue;
        return res;
    }
}

static int ur_wait_fd(corio_loop *loop, int fd, int events) {
    events &= CORIO_READABLE | CORIO_WRITABLE;
    if (!corio__running_task()) return CORIO_ENOTINTASK;
    if (!events) return CORIO_EINVAL;
    req q = {.kind = K_POLL, .dir = events & CORIO_READABLE ? RD : WR, .events = events};
    return (int)perform(loop, fd, &q);
}

static long ur_recv(corio_loop *loop, int fd, void *buf, size_t n, int flags) {
    req q = {.kind = K_RECV, .dir = RD, .buf = buf, .n = n, .flags = flags};
    return perform(loop, fd, &q);
}

static long ur_send(corio_loop *loop, int fd, const void *buf, size_t n, int flags) {
    req q = {.kind = K_SEND, .dir = WR, .buf = (void *)buf, .n = n, .flags = flags};
    return perform(loop, fd, &q);
}

static long ur_read(corio_loop *loop, int fd, void *buf, size_t n) {
    req q = {.kind = K_READ, .dir = RD, .buf = buf, .n = n};
    return perform(loop, fd, &q);
}

/* A write (to a pipe) raises SIGPIPE in the thread that does it: done
 * here the readiness way, where corio__write takes the signal back,
 * never by the kernel inside io_uring_enter. */
static long ur_write(corio_loop *loop, int fd, const void *buf, size_t n) {
    for (;;) {
        long r = corio__write(fd, buf, n);
        if (r != -EAGAIN && r != -EWOULDBLOCK) return r;
        int w = ur_wait_fd(loop, fd, CORIO_WRITABLE);
        if (w < 0) return w;
    }
}

static long ur_recvfrom(corio_loop *loop, int fd, void *buf, size_t n, int flags,
                        struct sockaddr *addr, corio__socklen *addrlen) {
    req q = {.kind = K_RECVMSG, .dir = RD, .buf = buf, .n = n, .flags = flags, .addr = addr,
             .addrlen = addrlen};
    return perform(loop, fd, &q);
}

static long ur_sendto(corio_loop *loop, int fd, const void *buf, size_t n, int flags,
                      const struct sockaddr *addr, corio__socklen addrlen) {
    if (addr && addrlen == 0) return -EINVAL; /* as sendto(2) */
    req q = {.kind = K_SENDMSG, .dir = WR, .buf = (void *)buf, .n = n, .flags = flags, .to = addr,
             .tolen = addr ? addrlen : 0};
    return perform(loop, fd, &q);
}

static int ur_accept(corio_loop *loop, int fd, struct sockaddr *addr, corio__socklen *addrlen) {
    req q = {.kind = K_ACCEPT, .dir = RD, .addr = addr, .addrlen = addrlen};
    return (int)perform(loop, fd, &q);
}

static int ur_connect(corio_loop *loop, int fd, const struct sockaddr *addr, corio__socklen addrlen) {
    req q = {.kind = K_CONNECT, .dir = WR, .to = addr, .tolen = addrlen};
    return (int)perform(loop, fd, &q);
}

static int ur_send_bg(corio_loop *loop, int fd, const void *buf, size_t n, corio__sent_fn done,
                      void *arg) {
    if (!done || (!buf && n)) return CORIO_EINVAL;
    ufd *f;
    int rc = ufd_get(loop, fd, &f);
    if (rc < 0) return rc;
    if (f->waiter[WR] || f->op[WR] || f->cb[WR]) return CORIO_EBUSY;
    uop *op;
    struct io_uring_sqe *sqe;
    if ((rc = op_take(loop->uring, &op, &sqe)) < 0) return rc;
    op->dir = WR;
    op->bg = 1;
    op->bg_buf = buf;
    op->bg_n = n < XFER_MAX ? n : XFER_MAX;
    op->sent = done;
    op->sent_arg = arg;
    op_queue(loop, f, op, sqe);
    bg_prep(op, sqe);
    f->op[WR] = op;
    return 0;
}

static int ur_close_fd(corio_loop *loop, int fd) {
    ufd *f = ufd_find(loop, fd);
    if (f) {
        for (int d = RD; d <= WR; d++) {
            f->cb[d] = NULL;
            if (f->op[d]) {
                f->op[d]->closing = 1; /* in flight or not yet taken by its task */
                f->op[d]->sent = NULL; /* a background send: no callback after close_fd */
            }
        }
        cancel_fd_ops(loop, f, 1);
        drain(loop, f); /* the kernel lets go of the number before it can be reused */
        ufd_free(loop, f);
    }
    return corio__close(fd);
}

const corio__backend_ops corio__uring_ops = {
    .kind = CORIO_BACKEND_IO_URING,
    .name = "io_uring",
    .completes = 1,
    .init = ur_init,
    .add_wakeup = ur_add_wakeup,
    .poll = ur_poll,
    .quiesce = ur_quiesce,
    .close = ur_close,
    .wait_fd = ur_wait_fd,
    .recv = ur_recv,
    .send = ur_send,
    .read = ur_read,
    .write = ur_write,
    .recvfrom = ur_recvfrom,
    .sendto = ur_sendto,
    .accept = ur_accept,
    .connect = ur_connect,
    .close_fd = ur_close_fd,
    .send_bg = ur_send_bg,
    .watch = ur_watch,
    .unwatch = ur_unwatch,
};
