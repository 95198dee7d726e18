/* The one waiting primitive on descriptors, its callback form, and close:
 * thin public calls over the backend's (backend/backend.h), which knows
 * how its kind of kernel interface waits. */
#define _GNU_SOURCE
#include "io/io.h"

#include <unistd.h>

/* The running task's loop, or an error for a call made outside a task. */
int corio__io_loop(corio_loop **loop) {
    if (!corio__running_task() || !corio__running_loop) return CORIO_ENOTINTASK;
    *loop = corio__running_loop;
    return corio__loop_closed(*loop) ? CORIO_ECLOSED : 0;
}

int corio_wait_fd(int fd, int events) {
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    if (fd < 0) return -EBADF;
    if (events & ~(CORIO_READABLE | CORIO_WRITABLE)) return CORIO_EINVAL;
    return corio__backend_wait_fd(loop, fd, events | CORIO__WAIT_RECHECK);
}

int corio_close_fd(int fd) {
    if (fd < 0) return -EBADF;
    corio_loop *owner = corio__backend_fd_owner(fd);
    if (!owner) return close(fd) ? -errno : 0; /* no loop watches it */
    /* The watching loop forgets it first: from its own thread, or while
     * it runs nowhere (nobody else touches it then). */
    if (owner != corio__running_loop && corio_loop_is_running(owner))
        return corio_raise(CORIO_EWRONGLOOP, "close fd %d: a loop running in another thread watches it", fd);
    return corio__backend_close_fd(owner, fd);
}

static int watch(corio_loop *loop, int fd, int events, corio_cb fn, void *arg) {
    if (!loop || !fn) return CORIO_EINVAL;
    if (corio__loop_closed(loop)) return CORIO_ECLOSED;
    if (fd < 0) return -EBADF;
    return corio__backend_watch(loop, fd, events, fn, arg);
}

int corio_loop_add_reader(corio_loop *loop, int fd, corio_cb fn, void *arg) {
    return watch(loop, fd, CORIO_READABLE, fn, arg);
}

int corio_loop_add_writer(corio_loop *loop, int fd, corio_cb fn, void *arg) {
    return watch(loop, fd, CORIO_WRITABLE, fn, arg);
}

int corio_loop_remove_reader(corio_loop *loop, int fd) {
    if (!loop) return CORIO_EINVAL;
    return corio__loop_closed(loop) ? 0 : corio__backend_unwatch(loop, fd, CORIO_READABLE);
}

int corio_loop_remove_writer(corio_loop *loop, int fd) {
    if (!loop) return CORIO_EINVAL;
    return corio__loop_closed(loop) ? 0 : corio__backend_unwatch(loop, fd, CORIO_WRITABLE);
}
