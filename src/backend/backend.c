/* Which backend a loop waits with, and the calls that reach it: the
 * choice at creation (the option, else CORIO_BACKEND, with epoll as the
 * fallback when io_uring cannot be had), the dispatch through the chosen
 * table, and the map from descriptor to loop that both backends keep. */
#define _GNU_SOURCE
#include "core/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the choice ------------------------------------------------------------ */

static int parse_env(void) {
    const char *v = getenv("CORIO_BACKEND");
    if (!v || !*v || !strcmp(v, "default") || !strcmp(v, "epoll")) return CORIO_BACKEND_EPOLL;
    if (!strcmp(v, "io_uring") || !strcmp(v, "uring")) return CORIO_BACKEND_IO_URING;
    if (!strcmp(v, "auto")) return CORIO_BACKEND_AUTO;
    static _Atomic int warned; /* once per process, not once per loop */
    if (!warned++)
        fprintf(stderr, "corio: CORIO_BACKEND=%s is not epoll, io_uring or auto: using epoll\n", v);
    return CORIO_BACKEND_EPOLL;
}

static int debug_on(void) {
    const char *v = getenv("CORIO_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

/* io_uring for loop, if it can be had: 0, or why not (-errno). */
static int try_uring(corio_loop *loop) {
#ifdef CORIO_HAVE_URING
    loop->be = &corio__uring_ops;
    int rc = loop->be->init(loop);
    if (rc < 0) loop->be = NULL;
    return rc;
#else
    (void)loop;
    return -ENOSYS; /* built without liburing's headers */
#endif
}

int corio__backend_init(corio_loop *loop, int want) {
    if (want == CORIO_BACKEND_DEFAULT) want = parse_env();
    int why = 0; /* why io_uring was asked for and not had */
    if (want == CORIO_BACKEND_IO_URING || want == CORIO_BACKEND_AUTO) why = try_uring(loop);
    if (!loop->be) {
        int rc = corio__epoll_ops.init(loop);
        if (rc < 0) return rc;
        loop->be = &corio__epoll_ops;
    }
    if (debug_on()) {
        if (why)
            fprintf(stderr, "corio: loop %p: io_uring unavailable (%s): running on epoll\n",
                    (void *)loop, strerror(-why));
        else
            fprintf(stderr, "corio: loop %p: running on %s\n", (void *)loop, loop->be->name);
    }
    return 0;
}

int corio_loop_backend(const corio_loop *loop) {
    return loop && loop->be ? loop->be->kind : CORIO_EINVAL;
}

const char *corio_loop_backend_name(const corio_loop *loop) {
    return loop && loop->be ? loop->be->name : "(none)";
}

int corio__backend_completes(const corio_loop *loop) { return loop->be->completes; }

/* ---- the dispatch --------------------------------------------------------------
 * One indirect call per operation; the loop's own phases call the table
 * straight. */

int corio__backend_add_wakeup(corio_loop *loop, int fd) { return loop->be->add_wakeup(loop, fd); }

int corio__backend_poll(corio_loop *loop, int64_t timeout_ns) {
    return loop->be->poll(loop, timeout_ns);
}

void corio__backend_quiesce(corio_loop *loop) {
    if (loop->be && loop->be->quiesce) loop->be->quiesce(loop);
}

void corio__backend_close(corio_loop *loop) {
    if (loop->be) loop->be->close(loop);
}

int corio__backend_wait_fd(corio_loop *loop, int fd, int events) {
    return loop->be->wait_fd(loop, fd, events);
}

long corio__backend_recv(corio_loop *loop, int fd, void *buf, size_t n, int flags) {
    return loop->be->recv(loop, fd, buf, n, flags);
}

long corio__backend_send(corio_loop *loop, int fd, const void *buf, size_t n, int flags) {
    return loop->be->send(loop, fd, buf, n, flags);
}

long corio__backend_read(corio_loop *loop, int fd, void *buf, size_t n) {
    return loop->be->read(loop, fd, buf, n);
}

long corio__backend_write(corio_loop *loop, int fd, const void *buf, size_t n) {
    return loop->be->write(loop, fd, buf, n);
}

long corio__backend_recvfrom(corio_loop *loop, int fd, void *buf, size_t n, int flags,
                             struct sockaddr *addr, corio__socklen *addrlen) {
    return loop->be->recvfrom(loop, fd, buf, n, flags, addr, addrlen);
}

long corio__backend_sendto(corio_loop *loop, int fd, const void *buf, size_t n, int flags,
                           const struct sockaddr *addr, corio__socklen addrlen) {
    return loop->be->sendto(loop, fd, buf, n, flags, addr, addrlen);
}

int corio__backend_accept(corio_loop *loop, int fd, struct sockaddr *addr, corio__socklen *addrlen) {
    return loop->be->accept(loop, fd, addr, addrlen);
}

int corio__backend_connect(corio_loop *loop, int fd, const struct sockaddr *addr,
                           corio__socklen addrlen) {
    return loop->be->connect(loop, fd, addr, addrlen);
}

int corio__backend_close_fd(corio_loop *loop, int fd) { return loop->be->close_fd(loop, fd); }

int corio__backend_send_bg(corio_loop *loop, int fd, const void *buf, size_t n, corio__sent_fn done,
                           void *arg) {
    if (!loop->be->send_bg) return -ENOSYS;
    return loop->be->send_bg(loop, fd, buf, n, done, arg);
}

int corio__backend_watch(corio_loop *loop, int fd, int events, corio_cb fn, void *arg) {
    return loop->be->watch(loop, fd, events, fn, arg);
}

int corio__backend_unwatch(corio_loop *loop, int fd, int events) {
    return loop->be->unwatch(loop, fd, events);
}

void *corio__backend_grow(void *arr, size_t *cap, int fd, size_t elem) {
    size_t n = *cap ? *cap : 64;
    while (n <= (size_t)fd) n *= 2;
    char *v = corio__realloc(arr, n * elem);
    if (!v) return NULL;
    memset(v + *cap * elem, 0, (n - *cap) * elem);
    *cap = n;
    return v;
}

/* ---- which loop holds a descriptor (process-wide) --------------------------
 * corio_close_fd may be called where another loop, or none, runs: it finds
 * the loop whose backend keeps state for the number here, so that state
 * goes before the number can be reused whoever closes it. Written when a
 * backend starts or stops keeping state for a descriptor (once per
 * descriptor, not per operation). */
static pthread_mutex_t owners_lock = PTHREAD_MUTEX_INITIALIZER;
static corio_loop **owners; /* by descriptor number */
static size_t owners_cap;

int corio__backend_owner_set(int fd, corio_loop *loop, corio_loop *only_if) {
    int rc = 0;
    pthread_mutex_lock(&owners_lock);
    if ((size_t)fd >= owners_cap && loop) {
        corio_loop **v = corio__backend_grow(owners, &owners_cap, fd, sizeof *v);
        if (v) owners = v;
        else rc = CORIO_ENOMEM;
    }
    if (rc == 0 && (size_t)fd < owners_cap && (!only_if || owners[fd] == only_if)) owners[fd] = loop;
    pthread_mutex_unlock(&owners_lock);
    return rc;
}

corio_loop *corio__backend_fd_owner(int fd) {
    corio_loop *loop = NULL;
    pthread_mutex_lock(&owners_lock);
    if (fd >= 0 && (size_t)fd < owners_cap) loop = owners[fd];
    pthread_mutex_unlock(&owners_lock);
    return loop;
}
