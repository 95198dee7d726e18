/* The backend contract: how the loop waits. One file per backend (epoll.c
 * now); the loop calls nothing else of it. A backend sees the loop's full
 * struct (core/internal.h), as libuv's unix/ backends see theirs.
 *
 * Two halves. The loop's: init, the wake-up, poll, close. The tasks': each
 * I/O operation (wait for a descriptor, recv, send, accept, connect,
 * recvfrom, sendto, close) is one call made from a task, which returns
 * when the operation is done: a readiness backend (epoll) tries the system
 * call, and on EAGAIN suspends the task until the descriptor is ready and
 * tries again, in the task's own context (so a buffer on a copy-mode stack
 * is only written while its frames are in place); a completion backend
 * (io_uring) submits the operation, suspends, and returns its completion.
 * Either way the layers above (io/) never assume readiness. Every call
 * is a cancellation point: cancelled, it returns CORIO_ECANCELED and has
 * consumed nothing (epoll: the wait is cancelled before any system call
 * moved a byte). */
#ifndef CORIO_BACKEND_H
#define CORIO_BACKEND_H

#include "corio.h"

#include <stdint.h>

int corio__backend_init(corio_loop *loop);
/* Have the poll wake up when fd (an eventfd) becomes readable. */
int corio__backend_add_wakeup(corio_loop *loop, int fd);
/* Wait for I/O up to timeout_ns (-1: forever, 0: just look): 0 or -errno. */
int corio__backend_poll(corio_loop *loop, int64_t timeout_ns);
void corio__backend_close(corio_loop *loop);

/* ---- the tasks' half: called from a task running on loop -------------- */

struct sockaddr;
typedef unsigned int corio__socklen; /* socklen_t, without <sys/socket.h> */

/* Until fd is ready for `events` (CORIO_READABLE | CORIO_WRITABLE): the
 * ready mask (> 0), CORIO_EBUSY (another task or callback waits in that
 * direction), CORIO_ECANCELED, CORIO_EFDCLOSED (closed through corio
 * meanwhile), or -errno (EPERM: a regular file, which epoll cannot watch). */
int corio__backend_wait_fd(corio_loop *loop, int fd, int events);
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
 * removed), then close it: the registration is gone before the number can
 * be reused. 0 or -errno from close. Any thread? No: the loop's. */
int corio__backend_close_fd(corio_loop *loop, int fd);
/* The loop whose watcher holds fd, or NULL; any thread. */
corio_loop *corio__backend_fd_owner(int fd);

/* The callback form (add_reader / add_writer): fn(arg) runs on the loop
 * whenever fd is ready in that direction (level-triggered: again and
 * again while it stays ready). One reader and one writer per descriptor;
 * adding replaces the previous callback (asyncio). 0, CORIO_EBUSY (a task
 * waits in that direction), CORIO_ENOMEM, -errno. */
int corio__backend_watch(corio_loop *loop, int fd, int events, corio_cb fn, void *arg);
/* 1 if a callback was removed, 0 if none was set. */
int corio__backend_unwatch(corio_loop *loop, int fd, int events);

#endif
