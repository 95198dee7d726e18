/* The epoll backend: how the loop waits when nothing is ready. The
 * backend contract (backend/backend.h) is four calls; io_uring will be one more
 * file like this one. */
#define _GNU_SOURCE
#include "core/internal.h"

#include <errno.h>
#include <limits.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

int corio__backend_init(corio_loop *loop) {
    int fd = corio__epoll_create();
    if (fd < 0) return fd;
    loop->backend_fd = fd;
    return 0;
}

int corio__backend_add_wakeup(corio_loop *loop, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    return epoll_ctl(loop->backend_fd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
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

int corio__backend_poll(corio_loop *loop, int64_t timeout_ns) {
    /* Nothing registered and no wait wanted: spare the system call. */
    if (timeout_ns == 0 && !corio__backend_has_sources(loop)) return 0;
    struct epoll_event evs[64];
    int n = wait_events(loop->backend_fd, evs, 64, timeout_ns);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    return 0;
}

void corio__backend_close(corio_loop *loop) {
    if (loop->backend_fd >= 0) close(loop->backend_fd);
    loop->backend_fd = -1;
}
