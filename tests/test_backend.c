/* The choice of backend: the option, CORIO_BACKEND, bad input, and the
 * fallback to epoll when io_uring cannot be had (a failing ring set-up
 * call, a seccomp filter that refuses io_uring_setup as a sandbox does). */
#include "test.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

long corio__fail_after(long nth);

/* Is io_uring to be had here at all (built, and the kernel says yes)? */
static int uring_here(void) {
    corio_loop *loop;
    corio_loop_options o = {.backend = CORIO_BACKEND_IO_URING};
    ASSERT_EQ(corio_loop_new_with(&loop, &o), 0);
    int yes = corio_loop_backend(loop) == CORIO_BACKEND_IO_URING;
    corio_loop_free(loop);
    return yes;
}

/* A byte each way over a socket pair: the loop's I/O works. */
static int exchange_body(void *arg, void **res) {
    (void)arg;
    (void)res;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    size_t n;
    char c = 0;
    ASSERT_EQ(corio_sock_sendall(sv[0], "x", 1, &n), 0);
    ASSERT_EQ(corio_sock_recv(sv[1], &c, 1, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(c, 'x');
    ASSERT_EQ(corio_close_fd(sv[0]), 0);
    ASSERT_EQ(corio_close_fd(sv[1]), 0);
    return 0;
}

static int exchange_on(corio_loop *loop) {
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, exchange_body, NULL, "exchange", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    return 0;
}

static int new_with(int backend) {
    corio_loop *loop;
    corio_loop_options o = {.backend = backend};
    ASSERT_EQ(corio_loop_new_with(&loop, &o), 0);
    int got = corio_loop_backend(loop);
    ASSERT_EQ(exchange_on(loop), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    return got;
}

TEST(backend_choice) {
    corio_loop *loop = (corio_loop *)1;
    corio_loop_options bad = {.backend = 99};
    ASSERT_EQ(corio_loop_new_with(&loop, &bad), CORIO_EINVAL);
    ASSERT(loop == NULL);
    bad.backend = -1;
    ASSERT_EQ(corio_loop_new_with(&loop, &bad), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_new_with(NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_backend(NULL), CORIO_EINVAL);
    ASSERT_EQ(strcmp(corio_loop_backend_name(NULL), "(none)"), 0);

    int uring = uring_here();
    ASSERT_EQ(new_with(CORIO_BACKEND_EPOLL), CORIO_BACKEND_EPOLL);
    int want = uring ? CORIO_BACKEND_IO_URING : CORIO_BACKEND_EPOLL;
    ASSERT_EQ(new_with(CORIO_BACKEND_IO_URING), want); /* asked, or the fallback */
    ASSERT_EQ(new_with(CORIO_BACKEND_AUTO), want);
    /* DEFAULT follows the environment; an unknown name is said once and
     * means epoll. */
    ASSERT_EQ(setenv("CORIO_BACKEND", "io_uring", 1), 0);
    ASSERT_EQ(new_with(CORIO_BACKEND_DEFAULT), want);
    ASSERT_EQ(setenv("CORIO_BACKEND", "auto", 1), 0);
    ASSERT_EQ(new_with(CORIO_BACKEND_DEFAULT), want);
    ASSERT_EQ(setenv("CORIO_BACKEND", "epoll", 1), 0);
    ASSERT_EQ(new_with(CORIO_BACKEND_DEFAULT), CORIO_BACKEND_EPOLL);
    ASSERT_EQ(setenv("CORIO_BACKEND", "kqueue", 1), 0);
    ASSERT_EQ(new_with(CORIO_BACKEND_DEFAULT), CORIO_BACKEND_EPOLL);
    ASSERT_EQ(unsetenv("CORIO_BACKEND"), 0);
    ASSERT_EQ(new_with(CORIO_BACKEND_DEFAULT), CORIO_BACKEND_EPOLL); /* the default */
    ASSERT_EQ(new_with(CORIO_BACKEND_IO_URING), want); /* an explicit option beats no variable */
    loop = NULL;
    ASSERT_EQ(corio_loop_new_with(&loop, NULL), 0);
    ASSERT_EQ(strcmp(corio_loop_backend_name(loop), "epoll"), 0);
    corio_loop_free(loop);
    return 0;
}

/* Every stand-in call of creating an io_uring loop fails in turn: the
 * loop is either refused cleanly or made, on io_uring or (the ring's own
 * calls failed) on epoll, and works. */
TEST(backend_fallback_fault) {
    if (!uring_here()) {
        printf("io_uring unavailable here: nothing to fall back from; skipped\n");
        return TEST_SKIP;
    }
    corio_loop_options o = {.backend = CORIO_BACKEND_IO_URING};
    int fallbacks = 0, refused = 0;
    for (long nth = 1;; nth++) {
        corio_loop *loop = NULL;
        corio__fail_after(nth);
        int rc = corio_loop_new_with(&loop, &o);
        long made = corio__fail_after(0);
        if (rc < 0) {
            ASSERT(loop == NULL);
            refused++;
        } else {
            fallbacks += corio_loop_backend(loop) == CORIO_BACKEND_EPOLL;
            ASSERT_EQ(exchange_on(loop), 0);
            ASSERT_EQ(corio_loop_free(loop), 0);
        }
        if (nth > made) break; /* every call has had its turn */
    }
    ASSERT(fallbacks > 0);
    printf("%d set-ups refused, %d fell back to epoll\n", refused, fallbacks);
    return 0;
}

/* A sandbox that refuses io_uring_setup (ENOSYS or EPERM, as Docker's
 * default profile and io_uring_disabled do): AUTO and IO_URING loops run
 * on epoll and work. In a child, since the filter cannot be undone. */
static int child_refusing(int err) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
        return 77;
    if (new_with(CORIO_BACKEND_AUTO) != CORIO_BACKEND_EPOLL) return 1;
    if (new_with(CORIO_BACKEND_IO_URING) != CORIO_BACKEND_EPOLL) return 1;
    return 0;
}

TEST(backend_fallback_seccomp) {
    int errs[] = {ENOSYS, EPERM};
    for (int i = 0; i < 2; i++) {
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) _exit(child_refusing(errs[i]));
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77) {
            printf("no seccomp filters here: skipped\n");
            return TEST_SKIP;
        }
        ASSERT_EQ(WEXITSTATUS(status), 0);
    }
    return 0;
}
