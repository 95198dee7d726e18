/* Stand-in names for every allocation and system call the core makes, so
 * a test can make the Nth of them fail (corio__fail_after) and check that
 * the library answers with a clean error and leaks nothing. */
#ifndef CORIO_SYS_H
#define CORIO_SYS_H

#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_HAVE_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define CORIO_HAVE_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CORIO_HAVE_ASAN)
#define CORIO_HAVE_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(CORIO_HAVE_TSAN)
#define CORIO_HAVE_TSAN 1
#endif
#ifndef CORIO_HAVE_ASAN
#define CORIO_HAVE_ASAN 0
#endif
#ifndef CORIO_HAVE_TSAN
#define CORIO_HAVE_TSAN 0
#endif

void *corio__malloc(size_t n);
void *corio__calloc(size_t n, size_t size);
void *corio__realloc(void *p, size_t n);
void corio__free(void *p);
char *corio__strdup(const char *s);
/* Anonymous private read-write mapping, no swap reservation; NULL on failure. */
void *corio__mmap(size_t len);
int corio__munmap(void *p, size_t len);
/* The same for a mapping that lives as long as its thread (the alternate
 * signal stack): not counted by corio__live_maps. */
void *corio__mmap_thread(size_t len);
int corio__munmap_thread(void *p, size_t len);
/* These return 0 or -errno. */
int corio__madvise(void *p, size_t len, int advice);
int corio__mprotect(void *p, size_t len, int prot);
/* madvise over n ranges of this process in one system call
 * (process_madvise; every advice is allowed on oneself since Linux 6.13).
 * Returns the bytes advised, in range order (fewer than asked: it stopped
 * at a failure), or -errno (-ENOSYS where the call does not exist). */
struct iovec;
long corio__madvise_ranges(const struct iovec *ranges, size_t n, int advice);
int corio__epoll_create(void);
int corio__eventfd(void); /* non-blocking, close-on-exec */
/* Descriptors and sockets: the I/O paths' system calls, each returning its
 * result or -errno (EINTR retried inside), so every one can be failed in
 * turn. Sockets are made non-blocking and close-on-exec; sends never raise
 * SIGPIPE. */
struct sockaddr;
struct epoll_event;
int corio__epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int corio__socket(int domain, int type, int protocol);
int corio__close(int fd);
long corio__recv(int fd, void *buf, size_t n, int flags);
long corio__read(int fd, void *buf, size_t n);
long corio__write(int fd, const void *buf, size_t n);
long corio__send(int fd, const void *buf, size_t n, int flags);
long corio__recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                     unsigned int *addrlen);
long corio__sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                   unsigned int addrlen);
int corio__accept(int fd, struct sockaddr *addr, unsigned int *addrlen);
int corio__connect(int fd, const struct sockaddr *addr, unsigned int addrlen);
int corio__bind(int fd, const struct sockaddr *addr, unsigned int addrlen);
int corio__listen(int fd, int backlog);
int corio__setsockopt(int fd, int level, int name, const void *val, unsigned int len);

/* For calls made through another library (liburing in the io_uring
 * backend): counts one stand-in call and says whether it must fail, so
 * those calls take their turn in the same sequence. */
int corio__fail_point(void);

/* Test hook: the nth stand-in call from now on fails (1 = the next one);
 * 0 turns injection off. Returns how many calls were made since the last
 * reset, so a test can learn how many there are to fail. */
long corio__fail_after(long nth);

#endif

/* Test hook: mappings made by corio__mmap and not yet unmapped. */
long corio__live_maps(void);
