/* The stand-ins of sys.h: thin wrappers with a failure-injection counter. */
#define _GNU_SOURCE
#include "platform/sys.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static _Thread_local long fail_at; /* 0: never; else the call number that fails */
static _Thread_local long calls;   /* stand-in calls since the last corio__fail_after */
static long live_maps;              /* mmaps not yet unmapped (a leak check for tests) */

long corio__live_maps(void) { return __atomic_load_n(&live_maps, __ATOMIC_RELAXED); }

long corio__fail_after(long nth) {
    long made = calls;
    calls = 0;
    fail_at = nth > 0 ? nth : 0;
    return made;
}

/* Counts the call; says whether this one must fail. */
static int fail_now(void) {
    calls++;
    return fail_at != 0 && calls == fail_at;
}

/* Arrays of a million entries (a gather's children, as_completed's queue)
 * ask for transparent huge pages: with 4 KiB pages their first touch
 * faulted once per 4 KiB, about 2 us a fault on these VMs (spawn_gather of
 * 1M spent a tenth of its time there). glibc serves such sizes with a
 * fresh mapping, not touched yet, so the advice comes before the faults.
 * Best effort, as the kernel may say no: not a stand-in call. Not for
 * realloc: what grows that way (heaps, sets) is mostly reserve, and a huge
 * page would clear 2 MiB for a few entries. */
#define HUGE_PAGE ((uintptr_t)2 << 20)
static void *advise_huge(void *p, size_t len) {
    if (p && len >= 2 * HUGE_PAGE) {
        uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        uintptr_t hi = ((uintptr_t)p + len) & ~(HUGE_PAGE - 1);
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
    return p;
}

int corio__fail_point(void) { return fail_now(); }

void *corio__malloc(size_t n) { return fail_now() ? NULL : malloc(n); }
void *corio__calloc(size_t n, size_t size) {
    if (fail_now()) return NULL;
    void *p = calloc(n, size);
    return p ? advise_huge(p, n * size) : NULL; /* calloc checked n * size */
}
void *corio__realloc(void *p, size_t n) { return fail_now() ? NULL : realloc(p, n); }
void corio__free(void *p) { free(p); }

char *corio__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = corio__malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void *corio__mmap(size_t len) {
    if (fail_now()) return NULL;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    __atomic_add_fetch(&live_maps, 1, __ATOMIC_RELAXED);
    return p;
}

int corio__munmap(void *p, size_t len) {
    if (munmap(p, len)) return -errno;
    __atomic_sub_fetch(&live_maps, 1, __ATOMIC_RELAXED);
    return 0;
}

void *corio__mmap_thread(size_t len) {
    if (fail_now()) return NULL;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int corio__munmap_thread(void *p, size_t len) { return munmap(p, len) ? -errno : 0; }

int corio__madvise(void *p, size_t len, int advice) {
    if (fail_now()) return -ENOMEM;
    return madvise(p, len, advice) ? -errno : 0;
}

int corio__mprotect(void *p, size_t len, int prot) {
    if (fail_now()) return -ENOMEM;
    return mprotect(p, len, prot) ? -errno : 0;
}

long corio__madvise_ranges(const struct iovec *ranges, size_t n, int advice) {
    if (fail_now()) return -ENOMEM;
#if defined(SYS_process_madvise) && defined(SYS_pidfd_open)
    /* A pidfd of our own for the call: open and closed here, so no file
     * descriptor outlives it (one per batch of ranges). */
    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (pidfd < 0) return -errno;
    long r = syscall(SYS_process_madvise, pidfd, ranges, n, advice, 0);
    int err = errno;
    close(pidfd);
    return r < 0 ? -err : r;
#else
    (void)ranges, (void)n, (void)advice;
    return -ENOSYS;
#endif
}

int corio__epoll_create(void) {
    if (fail_now()) return -EMFILE;
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int corio__eventfd(void) {
    if (fail_now()) return -EMFILE;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

/* ---- descriptors and sockets ----------------------------------------------- */

_Static_assert(sizeof(socklen_t) == sizeof(unsigned int), "socklen_t is an unsigned int here");

int corio__epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
    if (fail_now()) return -ENOMEM;
    return epoll_ctl(epfd, op, fd, ev) ? -errno : 0;
}

int corio__socket(int domain, int type, int protocol) {
    if (fail_now()) return -EMFILE;
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

/* Not counted as a failure point: a close that fails would leak the
 * descriptor in every caller (Linux frees it even on EINTR). */
int corio__close(int fd) { return close(fd) ? -errno : 0; }

long corio__recv(int fd, void *buf, size_t n, int flags) {
    if (fail_now()) return -ECONNRESET;
    ssize_t r;
    do r = recv(fd, buf, n, flags); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

long corio__read(int fd, void *buf, size_t n) {
    if (fail_now()) return -EIO;
    ssize_t r;
    do r = read(fd, buf, n); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

/* A pipe's reader gone is -EPIPE here: corio ignores nothing of the
 * program's signals, so the write is made with SIGPIPE blocked. */
long corio__write(int fd, const void *buf, size_t n) {
    if (fail_now()) return -EIO;
    sigset_t pipe_only, old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    ssize_t r;
    do r = write(fd, buf, n); while (r < 0 && errno == EINTR);
    int err = errno;
    if (r < 0 && err == EPIPE) { /* take the pending SIGPIPE back before unblocking */
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_only, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r < 0 ? -err : r;
}

long corio__send(int fd, const void *buf, size_t n, int flags) {
    if (fail_now()) return -EPIPE;
    ssize_t r;
    do r = send(fd, buf, n, flags | MSG_NOSIGNAL); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

long corio__recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                     unsigned int *addrlen) {
    if (fail_now()) return -ENOBUFS;
    ssize_t r;
    do r = recvfrom(fd, buf, n, flags, addr, addrlen); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

long corio__sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                   unsigned int addrlen) {
    if (fail_now()) return -ENOBUFS;
    ssize_t r;
    do r = sendto(fd, buf, n, flags | MSG_NOSIGNAL, addr, addrlen); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

int corio__accept(int fd, struct sockaddr *addr, unsigned int *addrlen) {
    if (fail_now()) return -EMFILE;
    int r;
    do r = accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

/* EINTR is not retried: the connection goes on in the background, as
 * after EINPROGRESS (the caller waits for writability either way). */
int corio__connect(int fd, const struct sockaddr *addr, unsigned int addrlen) {
    if (fail_now()) return -ENETUNREACH;
    if (connect(fd, addr, addrlen) == 0) return 0;
    return errno == EINTR ? -EINPROGRESS : -errno;
}

int corio__bind(int fd, const struct sockaddr *addr, unsigned int addrlen) {
    if (fail_now()) return -EADDRINUSE;
    return bind(fd, addr, addrlen) ? -errno : 0;
}

int corio__listen(int fd, int backlog) {
    if (fail_now()) return -EADDRINUSE;
    return listen(fd, backlog) ? -errno : 0;
}

int corio__setsockopt(int fd, int level, int name, const void *val, unsigned int len) {
    if (fail_now()) return -ENOMEM;
    return setsockopt(fd, level, name, val, len) ? -errno : 0;
}
