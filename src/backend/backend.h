/* The backend contract: how the loop waits. One file per backend (epoll.c,
 * uring.c), each filling in a table of operations (corio__backend_ops);
 * the loop picks one at creation (backend.c: the option, CORIO_BACKEND,
 * the fallback to epoll) and calls nothing else of it. A backend sees the
 * loop's full struct (core/internal.h), as libuv's unix/ backends see theirs.
 *
 * Two halves. The loop's: init, the wake-up, poll, quiesce, close. The
 * tasks': each I/O operation (wait for a descriptor, recv, send, accept,
 * connect, recvfrom, sendto, close) is one call made from a task, which
 * returns when the operation is done: a readiness backend (epoll) tries the
 * system call, and on EAGAIN suspends the task until the descriptor is
 * ready and tries again, in the task's own context (so a buffer on a
 * copy-mode stack is only written while its frames are in place); a
 * completion backend (io_uring) submits the operation, suspends, and
 * returns its own completion. Either way the layers above (io/) never
 * assume readiness. Every call is a cancellation point: cancelled, it
 * returns CORIO_ECANCELED and has consumed nothing (epoll: the wait is
 * cancelled before any system call moved a byte; io_uring: the kernel
 * cancelled the operation). An io_uring operation the cancel reached too
 * late returns what it did, and the cancel is delivered at the task's next
 * suspension: never both, never neither, no byte lost. */
#ifndef CORIO_BACKEND_H
#define CORIO_BACKEND_H

#include "corio.h"

#include <stdint.h>

struct sockaddr;
typedef unsigned int corio__socklen; /* socklen_t, without <sys/socket.h> */

/* ---- the loop's half --------------------------------------------------- */

/* Pick the backend for a new loop (`want`: a CORIO_BACKEND_* value; DEFAULT
 * reads CORIO_BACKEND from the environment) and set it up. Falls back to
 * epoll when io_uring cannot be had; 0 or a negative code. */
int corio__backend_init(corio_loop *loop, int want);
/* Have the poll wake up when fd (an eventfd) becomes readable. */
int corio__backend_add_wakeup(corio_loop *loop, int fd);
/* Wait for I/O up to timeout_ns (-1: forever, 0: just look): 0 or -errno. */
int corio__backend_poll(corio_loop *loop, int64_t timeout_ns);
/* At close, before the pending tasks are destroyed: every operation still
 * in the kernel is cancelled and its completion awaited, so no memory a
 * destroyed task leaves can be touched afterwards. */
void corio__backend_quiesce(corio_loop *loop);
void corio__backend_close(corio_loop *loop);

/* ---- the tasks' half: called from a task running on loop -------------- */

/* Until fd is ready for `events` (CORIO_READABLE | CORIO_WRITABLE): the
 * ready mask (> 0), CORIO_EBUSY (another task or callback waits in that
 * direction), CORIO_ECANCELED, CORIO_EFDCLOSED (closed through corio
 * meanwhile), or -errno (EPERM: a regular file, which epoll cannot watch). */
int corio__backend_wait_fd(corio_loop *loop, int fd, int events);
/* Or-ed into wait_fd's events by the public corio_wait_fd: the number may
 * have been closed behind corio's back (a library's own close(2)) and
 * come back as another file, so a registration corio keeps from an
 * earlier wait is checked with the kernel (epoll: one epoll_ctl). */
#define CORIO__WAIT_RECHECK 0x100
/* recv/send (MSG_NOSIGNAL added): bytes, or a negative code. */
long corio__backend_recv(corio_loop *loop, int fd, void *buf, size_t n, int flags);
long corio__backend_send(corio_loop *loop, int fd, const void *buf, size_t n, int flags);
/* read/write, for what is not a socket (pipes, terminals). */
long corio__backend_read(corio_loop *loop, int fd, void *buf, size_t n);
long corio__backend_write(corio_loop *loop, int fd, const void *buf, size_t n);
long corio__backend_recvfrom(corio_loop *loop, int fd, void *buf, size_t n, int flags,
                             struct sockaddr *addr, corio__socklen *addrlen);
long corio__backend_sendto(corio_loop *loop, int fd, const void *buf, size_t n, int flags,
                           const struct sockaddr *addr, corio__socklen addrlen);
/* A new non-blocking, close-on-exec descriptor, or a negative code. */
int corio__backend_accept(corio_loop *loop, int fd, struct sockaddr *addr, corio__socklen *addrlen);
/* 0 once connected, or a negative code (the connection's error). */
int corio__backend_connect(corio_loop *loop, int fd, const struct sockaddr *addr,
                           corio__socklen addrlen);
/* Forget fd (its waiters wake with CORIO_EFDCLOSED, its callbacks are
 * removed, io_uring's operations on it are cancelled and their completions
 * awaited), then close it: the registration is gone before the number can
 * be reused. 0 or -errno from close. The loop's thread only. */
int corio__backend_close_fd(corio_loop *loop, int fd);
/* The loop whose backend holds fd, or NULL; any thread. */
corio_loop *corio__backend_fd_owner(int fd);
/* 1 if the loop's backend completes operations (io_uring): a caller gains
 * nothing by waiting for readiness before a recv, it only adds a step. */
int corio__backend_completes(const corio_loop *loop);

/* Completion backends: send n bytes of buf on a socket in the
 * background, for a stream's writes. done(arg, res) runs later on the loop,
 * as an event of its own (never inside this call, nor inside the poll),
 * with the bytes sent or a negative code; buf must stay unchanged until
 * then. close_fd cancels it and done is not called after close_fd (nor
 * once the loop is closed). One per descriptor, the writing direction's
 * one operation: 0 once queued, CORIO_EBUSY, CORIO_ENOMEM, -errno, or
 * -ENOSYS from a readiness backend (the caller sends itself). */
typedef void (*corio__sent_fn)(void *arg, long res);
int corio__backend_send_bg(corio_loop *loop, int fd, const void *buf, size_t n, corio__sent_fn done,
                           void *arg);

/* The callback form (add_reader / add_writer): fn(arg) runs on the loop
 * whenever fd is ready in that direction (level-triggered: again and
 * again while it stays ready). One reader and one writer per descriptor;
 * adding replaces the previous callback (asyncio). 0, CORIO_EBUSY (a task
 * waits in that direction), CORIO_ENOMEM, -errno. */
int corio__backend_watch(corio_loop *loop, int fd, int events, corio_cb fn, void *arg);
/* 1 if a callback was removed, 0 if none was set. */
int corio__backend_unwatch(corio_loop *loop, int fd, int events);

/* ---- what a backend file provides (backend.c dispatches) ---------------- */

typedef struct corio__backend_ops {
    int kind;           /* CORIO_BACKEND_EPOLL / CORIO_BACKEND_IO_URING */
    const char *name;   /* "epoll", "io_uring" */
    int completes;      /* see corio__backend_completes */
    int (*init)(corio_loop *loop); /* 0, or -errno (then nothing is left to free) */
    int (*add_wakeup)(corio_loop *loop, int fd);
    int (*poll)(corio_loop *loop, int64_t timeout_ns);
    void (*quiesce)(corio_loop *loop); /* NULL: nothing is ever in the kernel */
    void (*close)(corio_loop *loop);
    int (*wait_fd)(corio_loop *loop, int fd, int events);
    long (*recv)(corio_loop *loop, int fd, void *buf, size_t n, int flags);
    long (*send)(corio_loop *loop, int fd, const void *buf, size_t n, int flags);
    long (*read)(corio_loop *loop, int fd, void *buf, size_t n);
    long (*write)(corio_loop *loop, int fd, const void *buf, size_t n);
    long (*recvfrom)(corio_loop *loop, int fd, void *buf, size_t n, int flags,
                     struct sockaddr *addr, corio__socklen *addrlen);
    long (*sendto)(corio_loop *loop, int fd, const void *buf, size_t n, int flags,
                   const struct sockaddr *addr, corio__socklen addrlen);
    int (*accept)(corio_loop *loop, int fd, struct sockaddr *addr, corio__socklen *addrlen);
    int (*connect)(corio_loop *loop, int fd, const struct sockaddr *addr, corio__socklen addrlen);
    int (*close_fd)(corio_loop *loop, int fd);
    int (*send_bg)(corio_loop *loop, int fd, const void *buf, size_t n, corio__sent_fn done,
                   void *arg); /* NULL: not a completion backend */
    int (*watch)(corio_loop *loop, int fd, int events, corio_cb fn, void *arg);
    int (*unwatch)(corio_loop *loop, int fd, int events);
} corio__backend_ops;

extern const corio__backend_ops corio__epoll_ops;
#ifdef CORIO_HAVE_URING
extern const corio__backend_ops corio__uring_ops;
#endif

/* A table of pointers indexed by descriptor, with *cap entries, grown to
 * hold index fd (new entries NULL; doubling from 64): the new array, or
 * NULL (out of memory: arr and *cap unchanged). */
void *corio__backend_grow(void *arr, size_t *cap, int fd, size_t elem);

/* The process-wide map from descriptor to the loop whose backend holds it
 * (backend.c): set when a backend starts keeping state for fd, cleared
 * (only if loop still holds it) when it stops. 0 or CORIO_ENOMEM. */
int corio__backend_owner_set(int fd, corio_loop *loop, corio_loop *only_if);

#endif
