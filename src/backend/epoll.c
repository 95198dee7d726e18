/* The epoll backend: how the loop waits, and the tasks' I/O operations done
 * the readiness way (try the call; on EAGAIN wait for the descriptor, then
 * try again, in the task's own context). The contract is backend/backend.h.
 *
 * One watcher per descriptor, in a table indexed by its number: the task
 * waiting to read and the one waiting to write, the reader and writer
 * callbacks, and the mask registered with epoll (level-triggered). A
 * direction nobody waits on any more stays registered until an event for
 * it finds nobody (then it is dropped): a stream that reads, waits, reads
 * again costs no epoll_ctl per wait. Each registration carries the
 * watcher's generation beside the number, and close_fd takes the
 * descriptor out of the set and forgets the watcher before close(2), so
 * no event can reach a reused number. */
#define _GNU_SOURCE
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { RD = 0, WR = 1 };

typedef struct watcher {
    corio_loop *loop;          /* borrowed: the loop whose table holds it */
    int fd;                    /* immutable */
    uint32_t gen;              /* immutable: in the registration's data beside fd */
    uint32_t mask;             /* EPOLLIN | EPOLLOUT in the epoll set; 0: not in it */
    corio__task *waiter[2];    /* the task waiting to read / write, borrowed; the waker clears it */
    corio_cb cb[2];            /* the reader / writer callback, or NULL */
    void *cbarg[2];
    corio__event cbev[2];      /* a ready callback's run, in the ready queue while queued */
} watcher;

typedef struct corio__fdtab {
    watcher **by_fd;  /* owned array, and owned watchers; NULL: none for that number */
    size_t cap;
    uint32_t gen;     /* the last generation given (0 stands for the wake-up) */
} corio__fdtab;

/* ---- the loop's half ---------------------------------------------------- */

static int ep_init(corio_loop *loop) {
    loop->fdtab = corio__calloc(1, sizeof *loop->fdtab);
    if (!loop->fdtab) return CORIO_ENOMEM;
    int fd = corio__epoll_create();
    if (fd < 0) {
        corio__free(loop->fdtab);
        loop->fdtab = NULL;
        return fd;
    }
    loop->backend_fd = fd;
    return 0;
}

static int ep_add_wakeup(corio_loop *loop, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    return corio__epoll_ctl(loop->backend_fd, EPOLL_CTL_ADD, fd, &ev);
}

static void watcher_free(corio_loop *loop, watcher *w) {
    for (int d = RD; d <= WR; d++)
        if (corio__list_linked(&w->cbev[d].link)) corio__list_unlink(&w->cbev[d].link);
    if (w->mask) loop->io_sources--;
    loop->fdtab->by_fd[w->fd] = NULL;
    (void)corio__backend_owner_set(w->fd, NULL, loop);
    corio__free(w);
}

/* At loop close, after every task is gone: callbacks are dropped; the
 * descriptors stay the program's. */
static void ep_close(corio_loop *loop) {
    corio__fdtab *tab = loop->fdtab;
    for (size_t i = 0; tab && i < tab->cap; i++)
        if (tab->by_fd[i]) watcher_free(loop, tab->by_fd[i]);
    if (tab) corio__free(tab->by_fd);
    corio__free(tab);
    loop->fdtab = NULL;
    if (loop->backend_fd >= 0) close(loop->backend_fd);
    loop->backend_fd = -1;
}

/* epoll_pwait2 (Linux 5.11) takes nanoseconds; where it is missing (older
 * kernels, valgrind 3.19) epoll_wait gets the timeout rounded up to whole
 * milliseconds, so a timer is never polled for too early. */
static _Atomic int have_pwait2 = 1; /* loops in many threads ask */

static int wait_events(int fd, struct epoll_event *evs, int n, int64_t timeout_ns) {
    if (have_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = (time_t)(timeout_ns / CORIO__NS_PER_S);
            ts.tv_nsec = (long)(timeout_ns % CORIO__NS_PER_S);
            tsp = &ts;
        }
        int r = epoll_pwait2(fd, evs, n, tsp, NULL);
        if (r >= 0 || errno != ENOSYS) return r;
        have_pwait2 = 0;
    }
    int ms = -1;
    if (timeout_ns >= 0) {
        /* Rounded up without overflow: INT64_MAX stands for "beyond the
         * clock's end". */
        int64_t m = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
        ms = m > INT_MAX ? INT_MAX : (int)m;
    }
    return epoll_wait(fd, evs, n, ms);
}

static uint32_t wanted(const watcher *w) {
    return (w->waiter[RD] || w->cb[RD] ? EPOLLIN : 0) | (w->waiter[WR] || w->cb[WR] ? EPOLLOUT : 0);
}

/* Register `mask` for w (0: out of the set); `force`: tell the kernel
 * even if corio believes it knows (CORIO__WAIT_RECHECK). */
static int set_mask_as(watcher *w, uint32_t mask, int force) {
    if (mask == w->mask && !(force && mask)) return 0;
    corio_loop *loop = w->loop;
    struct epoll_event ev = {.events = mask, .data.u64 = (uint64_t)w->gen << 32 | (uint32_t)w->fd};
    int op = !w->mask ? EPOLL_CTL_ADD : mask ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
    int rc = corio__epoll_ctl(loop->backend_fd, op, w->fd, &ev);
    /* The program closed the number behind corio's back and it came back:
     * the old registration went with the old file. */
    if (rc == -ENOENT && op == EPOLL_CTL_MOD)
        rc = corio__epoll_ctl(loop->backend_fd, op = EPOLL_CTL_ADD, w->fd, &ev);
    if (rc == -ENOENT && op == EPOLL_CTL_DEL) rc = 0;
    if (rc < 0) return rc;
    if (!w->mask) loop->io_sources++;
    if (!mask) loop->io_sources--;
    w->mask = mask;
    return 0;
}

static int set_mask(watcher *w, uint32_t mask) { return set_mask_as(w, mask, 0); }

/* Wake t, which waited on w in some directions, with the ready ones. */
static void wake_waiter(watcher *w, corio__task *t, int ready) {
    int asked = 0;
    for (int d = RD; d <= WR; d++)
        if (w->waiter[d] == t) {
            asked |= d == RD ? CORIO_READABLE : CORIO_WRITABLE;
            w->waiter[d] = NULL;
        }
    corio__wake(t, ready > 0 ? (ready & asked ? ready & asked : asked) : ready);
}

static void dispatch(watcher *w, uint32_t ev) {
    int ready = (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR) ? CORIO_READABLE : 0) |
                (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR) ? CORIO_WRITABLE : 0);
    uint32_t nobody = 0;
    for (int d = RD; d <= WR; d++) {
        if (!(ready & (d == RD ? CORIO_READABLE : CORIO_WRITABLE))) continue;
        if (w->waiter[d]) wake_waiter(w, w->waiter[d], ready);
        else if (w->cb[d]) {
            if (!corio__list_linked(&w->cbev[d].link)) corio__ready_push(w->loop, &w->cbev[d]);
        } else {
            nobody |= d == RD ? EPOLLIN : EPOLLOUT;
        }
    }
    /* A direction an event found nobody waiting in leaves the set now (a
     * woken task's direction stays: it usually waits again soon). */
    if (w->mask & nobody) (void)set_mask(w, w->mask & ~nobody);
}

static int ep_poll(corio_loop *loop, int64_t timeout_ns) {
    /* Nothing registered and no wait wanted: spare the system call. */
    if (timeout_ns == 0 && !corio__backend_has_sources(loop)) return 0;
    struct epoll_event evs[64];
    int n = wait_events(loop->backend_fd, evs, 64, timeout_ns);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    corio__fdtab *tab = loop->fdtab;
    for (int i = 0; i < n; i++) {
        uint64_t data = evs[i].data.u64;
        if (data == 0) continue; /* the wake-up: the sources' phase looks at it */
        uint32_t fd = (uint32_t)data, gen = (uint32_t)(data >> 32);
        watcher *w = fd < tab->cap ? tab->by_fd[fd] : NULL;
        if (w && w->gen == gen) dispatch(w, evs[i].events);
    }
    return 0;
}

/* ---- watchers --------------------------------------------------------------- */

static void cb_run(corio__event *ev);

static int watcher_get(corio_loop *loop, int fd, watcher **out) {
    *out = NULL; /* (gcc -O3 cannot tell that -errno is never 0) */
    if (fd < 0) return -EBADF;
    corio__fdtab *tab = loop->fdtab;
    /* A number that is no open descriptor must not grow the table (the
     * check costs a system call only when it would grow). */
    if ((size_t)fd >= tab->cap && fcntl(fd, F_GETFD) < 0) return -errno;
    if ((size_t)fd >= tab->cap) {
        watcher **v = corio__backend_grow(tab->by_fd, &tab->cap, fd, sizeof *v);
        if (!v) return CORIO_ENOMEM;
        tab->by_fd = v;
    }
    watcher *w = tab->by_fd[fd];
    if (!w) {
        if (!(w = corio__calloc(1, sizeof *w))) return CORIO_ENOMEM;
        if (corio__backend_owner_set(fd, loop, NULL) < 0) {
            corio__free(w);
            return CORIO_ENOMEM;
        }
        w->loop = loop;
        w->fd = fd;
        w->gen = ++tab->gen ? tab->gen : ++tab->gen; /* never 0: that is the wake-up */
        for (int d = RD; d <= WR; d++) {
            corio__list_init(&w->cbev[d].link);
            w->cbev[d].run = cb_run;
            w->cbev[d].seq = (uint64_t)d; /* which of the pair, for cb_run */
        }
        tab->by_fd[fd] = w;
    }
    *out = w;
    return 0;
}

static void cb_run(corio__event *ev) {
    int d = ev->seq == WR ? WR : RD; /* which of the pair: set at watch time */
    watcher *w = corio__container_of(ev - d, watcher, cbev);
    if (w->cb[d] && !corio__loop_closed(w->loop)) w->cb[d](w->cbarg[d]);
}

static int ep_watch(corio_loop *loop, int fd, int events, corio_cb fn, void *arg) {
    watcher *w;
    int rc = watcher_get(loop, fd, &w);
    if (rc < 0) return rc;
    for (int d = RD; d <= WR; d++)
        if (events & (d == RD ? CORIO_READABLE : CORIO_WRITABLE) && w->waiter[d]) return CORIO_EBUSY;
    corio_cb old[2] = {w->cb[RD], w->cb[WR]};
    for (int d = RD; d <= WR; d++)
        if (events & (d == RD ? CORIO_READABLE : CORIO_WRITABLE)) {
            w->cb[d] = fn;
            w->cbarg[d] = arg;
        }
    if ((rc = set_mask(w, wanted(w) | w->mask)) < 0) {
        w->cb[RD] = old[RD], w->cb[WR] = old[WR];
        return rc;
    }
    return 0;
}

static int ep_unwatch(corio_loop *loop, int fd, int events) {
    corio__fdtab *tab = loop->fdtab;
    watcher *w = fd >= 0 && (size_t)fd < tab->cap ? tab->by_fd[fd] : NULL;
    int removed = 0;
    for (int d = RD; w && d <= WR; d++)
        if (events & (d == RD ? CORIO_READABLE : CORIO_WRITABLE) && w->cb[d]) {
            w->cb[d] = NULL;
            if (corio__list_linked(&w->cbev[d].link)) corio__list_unlink(&w->cbev[d].link);
            removed = 1;
        }
    if (removed && !wanted(w)) (void)set_mask(w, 0); /* nothing left: out of the set at once */
    return removed;
}

/* ---- the tasks' half ------------------------------------------------------- */

static int wait_cancel(corio__task *t, void *obj) {
    watcher *w = obj;
    for (int d = RD; d <= WR; d++)
        if (w->waiter[d] == t) w->waiter[d] = NULL;
    corio__wake(t, CORIO_ECANCELED);
    return 1;
}

static int ep_wait_fd(corio_loop *loop, int fd, int events) {
    corio__task *t = corio__running_task();
    if (!t) return CORIO_ENOTINTASK;
    int recheck = events & CORIO__WAIT_RECHECK;
    events &= CORIO_READABLE | CORIO_WRITABLE;
    if (!events) return CORIO_EINVAL;
    watcher *w;
    int rc = watcher_get(loop, fd, &w);
    if (rc < 0) return rc;
    for (int d = RD; d <= WR; d++)
        if (events & (d == RD ? CORIO_READABLE : CORIO_WRITABLE) && (w->waiter[d] || w->cb[d]))
            return CORIO_EBUSY;
    for (int d = RD; d <= WR; d++)
        if (events & (d == RD ? CORIO_READABLE : CORIO_WRITABLE)) w->waiter[d] = t;
    if ((rc = set_mask_as(w, wanted(w) | w->mask, recheck)) < 0) {
        for (int d = RD; d <= WR; d++)
            if (w->waiter[d] == t) w->waiter[d] = NULL;
        return rc; /* EPERM: a regular file or a directory, which epoll cannot watch */
    }
    return corio__suspend(t, wait_cancel, w);
}

/* The readiness way: the call, and on EAGAIN a wait and the call again. */
#define RETRY(dir, call)                                                        \
    for (;;) {                                                                  \
        long r_ = (call);                                                       \
        if (r_ != -EAGAIN && r_ != -EWOULDBLOCK) return r_;                     \
        int w_ = ep_wait_fd(loop, fd, dir);                         \
        if (w_ < 0) return w_;                                                  \
    }

static long ep_recv(corio_loop *loop, int fd, void *buf, size_t n, int flags) {
    RETRY(CORIO_READABLE, corio__recv(fd, buf, n, flags));
}

static long ep_send(corio_loop *loop, int fd, const void *buf, size_t n, int flags) {
    RETRY(CORIO_WRITABLE, corio__send(fd, buf, n, flags));
}

static long ep_read(corio_loop *loop, int fd, void *buf, size_t n) {
    RETRY(CORIO_READABLE, corio__read(fd, buf, n));
}

static long ep_write(corio_loop *loop, int fd, const void *buf, size_t n) {
    RETRY(CORIO_WRITABLE, corio__write(fd, buf, n));
}

static long ep_recvfrom(corio_loop *loop, int fd, void *buf, size_t n, int flags,
                             struct sockaddr *addr, corio__socklen *addrlen) {
    RETRY(CORIO_READABLE, corio__recvfrom(fd, buf, n, flags, addr, addrlen));
}

static long ep_sendto(corio_loop *loop, int fd, const void *buf, size_t n, int flags,
                           const struct sockaddr *addr, corio__socklen addrlen) {
    RETRY(CORIO_WRITABLE, corio__sendto(fd, buf, n, flags, addr, addrlen));
}

static int ep_accept(corio_loop *loop, int fd, struct sockaddr *addr, corio__socklen *addrlen) {
    /* A connection the peer reset before we took it is not an error of
     * the listener: take the next (ECONNABORTED, as asyncio and libuv). */
    for (;;) {
        corio__socklen len = addrlen ? *addrlen : 0;
        int r = corio__accept(fd, addr, addrlen ? &len : NULL);
        if (r >= 0) {
            if (addrlen) *addrlen = len;
            return r;
        }
        if (r == -ECONNABORTED) continue;
        if (r != -EAGAIN && r != -EWOULDBLOCK) return r;
        int w = ep_wait_fd(loop, fd, CORIO_READABLE);
        if (w < 0) return w;
    }
}

static int ep_connect(corio_loop *loop, int fd, const struct sockaddr *addr,
                           corio__socklen addrlen) {
    int r = corio__connect(fd, addr, addrlen);
    if (r != -EINPROGRESS) return r;
    int w = ep_wait_fd(loop, fd, CORIO_WRITABLE);
    if (w < 0) return w; /* cancelled: the caller closes the socket, as asyncio */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)) return -errno;
    return -err;
}

static int ep_close_fd(corio_loop *loop, int fd) {
    corio__fdtab *tab = loop->fdtab;
    watcher *w = fd >= 0 && tab && (size_t)fd < tab->cap ? tab->by_fd[fd] : NULL;
    if (w) {
        for (int d = RD; d <= WR; d++)
            if (w->waiter[d]) wake_waiter(w, w->waiter[d], CORIO_EFDCLOSED);
        (void)set_mask(w, 0); /* out of the set before the number is free */
        watcher_free(loop, w);
    }
    return corio__close(fd);
}

const corio__backend_ops corio__epoll_ops = {
    .kind = CORIO_BACKEND_EPOLL,
    .name = "epoll",
    .completes = 0,
    .init = ep_init,
    .add_wakeup = ep_add_wakeup,
    .poll = ep_poll,
    .quiesce = NULL, /* nothing of a task's is ever in the kernel */
    .close = ep_close,
    .wait_fd = ep_wait_fd,
    .recv = ep_recv,
    .send = ep_send,
    .read = ep_read,
    .write = ep_write,
    .recvfrom = ep_recvfrom,
    .sendto = ep_sendto,
    .accept = ep_accept,
    .connect = ep_connect,
    .close_fd = ep_close_fd,
    .watch = ep_watch,
    .unwatch = ep_unwatch,
    .send_bg = NULL, /* readiness: a stream sends itself, and flushes on a writer callback */
};
