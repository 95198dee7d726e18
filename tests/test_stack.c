/* Stacks: per-loop and per-task sizes, deep use, reuse from the pool, many
 * tasks at once, and the overflow report. */
#include "test.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Uses about `depth` KiB of stack, then yields from the bottom. */
static int __attribute__((noinline)) dig(int depth) {
    volatile char pad[1024];
    pad[0] = (char)depth;
    if (depth == 0) {
        ASSERT_EQ(corio_sleep(0), 0);
        return pad[0];
    }
    return dig(depth - 1) + pad[0];
}

static int deep(void *arg, void **res) {
    *res = (void *)(intptr_t)dig((int)(intptr_t)arg);
    return 0;
}

TEST(stack_sizes) {
    corio_loop *loop = vloop();
    /* ~300 KiB of frames on a 1 MiB task stack, default stays 64 KiB
     * (sanitizers at -O0 about double each frame: keep the headroom). */
    corio_task *big, *small;
    ASSERT_EQ(corio_loop_create_task(loop, deep, (void *)300, "big", 1 << 20, &big), 0);
    ASSERT_EQ(corio_loop_create_task(loop, deep, (void *)20, "small", 0, &small), 0);
    ASSERT_EQ(corio_loop_create_task(loop, deep, NULL, NULL, 100, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_run_until_complete(loop, big, NULL), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, small, NULL), 0);
    corio_future_unref(big);
    corio_future_unref(small);
    /* Per-loop default. */
    ASSERT_EQ(corio_loop_set_stack_size(loop, 8 << 20), 0);
    ASSERT_EQ(corio_loop_create_task(loop, deep, (void *)1500, NULL, 0, &big), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, big, NULL), 0);
    corio_future_unref(big);
    close_loop(loop);
    return 0;
}

static int yield_n(void *arg, void **res) {
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++)
        if (corio_sleep(0) < 0) return CORIO_ECANCELED;
    *res = arg;
    return 0;
}

TEST(stack_many_tasks_and_reuse) {
    corio_loop *loop = vloop();
    enum { N = 20000 };
    /* Many at once (several regions), then again (reused stacks). */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++)
            ASSERT_EQ(corio_loop_create_task(loop, yield_n, (void *)3, NULL, 0, NULL), 0);
        ASSERT_EQ(corio_loop_run_forever(loop), CORIO_EDEADLK);
        ASSERT_EQ(corio_all_tasks(loop, NULL, 0), 0);
    }
    close_loop(loop);
    return 0;
}

static int recurse_forever(void *arg, void **res);
static volatile int bottomless = 1; /* hides the endless recursion from the compiler */
static int __attribute__((noinline)) blow(volatile char *prev) {
    volatile char pad[512];
    pad[0] = prev ? prev[0] : 1;
    return bottomless ? blow(pad) + pad[1] : 0;
}
static int recurse_forever(void *arg, void **res) {
    (void)arg;
    *res = (void *)(intptr_t)blow(NULL);
    return 0;
}

/* The process dies with a message naming the task. `crowd` tasks are
 * live first, so the diver's stack is a fresh slot the pool prepared in a
 * batch (stack.c) rather than one by one. */
static int overflow_child_says(int crowd) {
    if (getenv("CORIO_TEST_EMULATED")) {
        puts("skipped: qemu-user ignores MADV_GUARD_INSTALL, so there is no guard page");
        return TEST_SKIP;
    }
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        corio_loop *loop = vloop();
        corio_task *t;
        for (int i = 0; i < crowd; i++) /* started before the diver, still live when it dives */
            ASSERT_EQ(corio_loop_create_task(loop, yield_n, (void *)3, NULL, 0, NULL), 0);
        ASSERT_EQ(corio_loop_create_task(loop, recurse_forever, NULL, "deep-diver", 0, &t), 0);
        corio_loop_run_until_complete(loop, t, NULL);
        _exit(0); /* not reached */
    }
    close(fds[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    fprintf(stderr, "child said: %s", buf);
    ASSERT(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGSEGV);
    ASSERT(strstr(buf, "corio: task 'deep-diver' overflowed its stack (65536 bytes)"));
    return 0;
}

TEST(stack_overflow_message) { return overflow_child_says(0); }

TEST(stack_overflow_message_batched) { return overflow_child_says(100); }
