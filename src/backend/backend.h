/* The backend contract: how the loop waits. One file per backend (epoll.c
 * now); the loop calls nothing else of it. A backend sees the loop's full
 * struct (core/internal.h), as libuv's unix/ backends see theirs.
 *
 * Today the loop only polls: for its wake-up eventfd, with a timeout. The
 * I/O issue adds operations on descriptors (accept, connect, recv, send,
 * wait for readable/writable) to this contract, each submitted and later
 * completed, so that a completion backend (io_uring) runs them in the
 * kernel and a readiness backend (epoll) waits and then does them. */
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

#endif
