/* Hostile review of the subprocesses (io.md 6): wrong order, wrong
 * thread, cancel at every point, odd descriptors, low limits, children
 * that misbehave. After each probe: no descriptor left (the runner checks)
 * and no child of ours left, zombie or not. */
#include "test.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

long corio__fail_after(long nth);

/* ---- helpers ---------------------------------------------------------------- */

static corio_process_options rmodes(int in, int out, int err) {
    corio_process_options o;
    memset(&o, 0, sizeof o);
    o.stdin_mode = in;
    o.stdout_mode = out;
    o.stderr_mode = err;
    return o;
}

/* Children of this process, and how many are zombies. */
static int kids(int *zombies) {
    int n = 0, z = 0;
    DIR *d = opendir("/proc");
    ASSERT(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        const char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || ppid != getpid()) continue;
        n++;
        if (state == 'Z') z++;
    }
    closedir(d);
    if (zombies) *zombies = z;
    return n;
}

static int nfds(void) {
    DIR *d = opendir("/proc/self/fd");
    ASSERT(d);
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static int nthreads(void) {
    DIR *d = opendir("/proc/self/task");
    ASSERT(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* Outside a task: until no child is left and the descriptors are back
 * to fds (bounded: 10 s). */
static void settle_outside(int fds) {
    int z = 0;
    for (int i = 0; i < 1000 && (kids(&z) > 0 || (fds >= 0 && nfds() != fds)); i++) usleep(10000);
    ASSERT_EQ(kids(&z), 0);
    ASSERT_EQ(z, 0);
    if (fds >= 0) ASSERT_EQ(nfds(), fds);
}

/* In a task: the same. */
static void settle_inside(void) {
    int z = 0;
    for (int i = 0; i < 1000 && kids(&z) > 0; i++) ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(kids(&z), 0);
    ASSERT_EQ(z, 0);
}

static void run_main(corio_fn body, void *arg) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_loop_set_exception_handler(loop, quiet, NULL);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, body, arg, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
}

/* ---- a bare name is looked up in the PATH of the env given (as Python) ---- */

static int env_path_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process *p = NULL;
    corio_process_options o = rmodes(0, CORIO_STDIO_PIPE, 0);
    const char *nopath[] = {"PATH=/nonexistent-corio-dir", NULL};
    o.env = nopath;
    /* Python: FileNotFoundError, the parent's PATH is not used */
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"true", NULL}, &o, &p), -ENOENT);
    ASSERT(p == NULL);
    /* a program only in the env's PATH is found */
    char dir[] = "/tmp/corio-procrev-XXXXXX";
    ASSERT(mkdtemp(dir));
    char prog[300];
    snprintf(prog, sizeof prog, "%s/corio-only-here", dir);
    FILE *f = fopen(prog, "we");
    ASSERT(f);
    fputs("#!/bin/sh\necho found-here\n", f);
    fclose(f);
    ASSERT_EQ(chmod(prog, 0755), 0);
    char pathvar[400];
    snprintf(pathvar, sizeof pathvar, "PATH=/nonexistent-corio-dir:%s:/usr/bin:/bin", dir);
    const char *env[] = {pathvar, NULL};
    o.env = env;
    int rc = corio_create_subprocess_exec((const char *[]){"corio-only-here", NULL}, &o, &p);
    if (rc == 0) {
        const void *d;
        size_t n;
        ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL), 0);
        ASSERT(n == 11 && memcmp(d, "found-here\n", 11) == 0);
        ASSERT_EQ(corio_process_free(p), 0);
    }
    unlink(prog);
    rmdir(dir);
    ASSERT_EQ(rc, 0);
    /* an env without PATH: Python's default path (/bin:/usr/bin) */
    const char *bare[] = {"X=1", NULL};
    o.env = bare;
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"sh", "-c", "echo ok", NULL}, &o, &p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_free(p), 0);
    settle_inside();
    return 0;
}
TEST(proc_rev_env_path) {
    if (getenv("CORIO_TEST_EMULATED")) {
        puts("skipped: qemu-user cannot report an exec failure through posix_spawn's return value");
        return TEST_SKIP;
    }
    on_loop(env_path_body, NULL);
    return 0;
}

/* ---- a given descriptor is checked before corio makes its own ------------- */

static int fd_checked_body(void *arg, void **res) {
    (void)arg, (void)res;
    /* the lowest free number: the stdin pipe would take it */
    int lowest = dup(0);
    ASSERT(lowest >= 0);
    close(lowest);
    corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_FD, 0);
    o.stdout_fd = lowest;
    corio_process *p = NULL;
    int rc = corio_create_subprocess_exec((const char *[]){"true", NULL}, &o, &p);
    if (p) {
        corio_process_wait(p, NULL);
        corio_process_free(p);
    }
    ASSERT_EQ(rc, -EBADF);
    /* INT_MAX and negatives */
    o = rmodes(0, CORIO_STDIO_FD, 0);
    o.stdout_fd = 2147483647;
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"true", NULL}, &o, &p), -EBADF);
    o.stdout_fd = -5;
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"true", NULL}, &o, &p), CORIO_EINVAL);
    /* the same descriptor for stdin and stdout: one end of a socketpair */
    int sp[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    o = rmodes(CORIO_STDIO_FD, CORIO_STDIO_FD, CORIO_STDIO_STDOUT);
    o.stdin_fd = o.stdout_fd = sp[1];
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"sh", "-c", "read x; echo got-$x; echo e >&2", NULL}, &o, &p), 0);
    ASSERT_EQ(write(sp[0], "hi\n", 3), 3);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_free(p), 0);
    char buf[64];
    ssize_t k = 0, r;
    while (k < 9 && (r = read(sp[0], buf + k, sizeof buf - (size_t)k)) > 0) k += r;
    ASSERT(k == 9 && memcmp(buf, "got-hi\ne\n", 9) == 0);
    close(sp[0]), close(sp[1]);
    settle_inside();
    return 0;
}
TEST(proc_rev_fd_checked_first) {
    on_loop(fd_checked_body, NULL);
    return 0;
}

/* ---- thousands freed unwaited at loop close: no thread per child -------- */

#define UNWAITED 300

typedef struct unwaited {
    int hold; /* the write end of every child's stdin: they run until it closes */
} unwaited;

static int unwaited_body(void *arg, void **res) {
    (void)res;
    unwaited *u = arg;
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    corio_process_options o = rmodes(CORIO_STDIO_FD, CORIO_STDIO_DEVNULL, CORIO_STDIO_DEVNULL);
    o.stdin_fd = fds[0];
    for (int i = 0; i < UNWAITED; i++) {
        corio_process *p;
        ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p), 0);
        ASSERT_EQ(corio_process_free(p), 0);
    }
    close(fds[0]);
    u->hold = fds[1];
    return 0;
}
TEST(proc_rev_unwaited_threads) {
    int fds = nfds();
    int threads = nthreads();
    unwaited u;
    run_main(unwaited_body, &u);
    /* the loop is closed, every child runs: whatever reaps them later, not
     * a thread each */
    int during = nthreads();
    close(u.hold);
    settle_outside(fds);
    fprintf(stderr, "threads: %d before, %d with %d children unwaited\n", threads, during, UNWAITED);
    ASSERT(during <= threads + 2);
    return 0;
}

/* ---- 0, 1 and 2 closed in the parent ------------------------------------- */

static int closed_stdio_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    corio_process *p;
    int rc = corio_create_subprocess_exec((const char *[]){"sh", "-c", "cat; echo err >&2; ls /proc/self/fd", NULL}, &o, &p);
    ASSERT_EQ(rc, 0);
    const void *d, *e;
    size_t n, en;
    ASSERT_EQ(corio_process_communicate(p, "in\n", 3, &d, &n, &e, &en), 0);
    ASSERT(n == 11 && memcmp(d, "in\n0\n1\n2\n3\n", 11) == 0);
    ASSERT(en == 4 && memcmp(e, "err\n", 4) == 0);
    ASSERT_EQ(corio_process_free(p), 0);
    /* DEVNULL and STDOUT with 0..2 closed */
    o = rmodes(CORIO_STDIO_DEVNULL, CORIO_STDIO_PIPE, CORIO_STDIO_STDOUT);
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"sh", "-c", "cat; echo out; echo err >&2", NULL}, &o, &p), 0);
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL), 0);
    ASSERT(n == 8 && memcmp(d, "out\nerr\n", 8) == 0);
    ASSERT_EQ(corio_process_free(p), 0);
    settle_inside();
    return 0;
}
TEST(proc_rev_closed_stdio) {
    int save[3];
    for (int i = 0; i < 3; i++) save[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
    /* the loop is made with 0..2 closed too: its own descriptors land there */
    for (int i = 0; i < 3; i++) close(i);
    corio_loop *loop;
    int rc = corio_loop_new(&loop);
    corio_task *t = NULL;
    if (rc == 0) rc = corio_loop_create_task(loop, closed_stdio_body, NULL, "main", 0, &t);
    if (rc == 0) rc = corio_loop_run_until_complete(loop, t, NULL);
    if (t) corio_future_unref(t);
    int rc2 = corio_loop_close(loop);
    int rc3 = corio_loop_free(loop);
    for (int i = 0; i < 3; i++) {
        dup2(save[i], i);
        close(save[i]);
    }
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(rc2, 0);
    ASSERT_EQ(rc3, 0);
    return 0;
}

/* ---- EMFILE at every step of a spawn ------------------------------------ */

static int emfile_body(void *arg, void **res) {
    (void)arg, (void)res;
    struct rlimit old;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    int base = nfds() - 1; /* (the directory's own) */
    int spawned = 0;
    for (int extra = 0; extra < 12; extra++) {
        int fds = nfds();
        /* the lowest free numbers are below base + extra: the limit bites */
        struct rlimit lim = {(rlim_t)(base + extra + 3), old.rlim_max};
        corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
        corio_process *p = NULL;
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
        int rc = corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p);
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
        if (rc == 0) {
            spawned++;
            const void *d;
            size_t n;
            ASSERT_EQ(corio_process_communicate(p, "x", 1, &d, &n, NULL, NULL), 0);
            ASSERT(n == 1);
            ASSERT_EQ(corio_process_free(p), 0);
        } else {
            ASSERT(p == NULL);
            ASSERT(rc == -EMFILE);
            ASSERT(strstr(corio_error_message(corio_current_error()), "cat"));
        }
        settle_inside();
        ASSERT_EQ(nfds(), fds);
    }
    ASSERT(spawned > 0);
    return 0;
}
TEST(proc_rev_emfile) {
    on_loop(emfile_body, NULL);
    return 0;
}

/* ---- a child that stops reading stdin early: EPIPE, no SIGPIPE ---------- */

#define LOTS (4u << 20)

static int epipe_body(void *arg, void **res) {
    (void)arg, (void)res;
    char *in = calloc(1, LOTS);
    ASSERT(in);
    corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, 0);
    corio_process *p;
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"sh", "-c", "head -c 1 >/dev/null; echo done", NULL}, &o, &p), 0);
    const void *d;
    size_t n;
    ASSERT_EQ(corio_process_communicate(p, in, LOTS, &d, &n, NULL, NULL), 0);
    ASSERT(n == 5 && memcmp(d, "done\n", 5) == 0);
    int rc = -1;
    ASSERT_EQ(corio_process_returncode(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_free(p), 0);
    /* a child that has exited before the input is given */
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"true", NULL}, &o, &p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(corio_process_communicate(p, in, LOTS, &d, &n, NULL, NULL), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(corio_process_free(p), 0);
    /* a write by hand then drain: the child's closed stdin is an error, not a signal */
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"sh", "-c", "exec 0<&-; echo closed; sleep 30", NULL}, &o, &p), 0);
    ASSERT_EQ(corio_stream_readline(corio_process_stdout(p), &d, &n), 0);
    corio_stream *in_s = corio_process_stdin(p);
    int w = corio_stream_write(in_s, in, LOTS);
    if (w == 0) w = corio_stream_drain(in_s);
    ASSERT(w == -EPIPE || w == -ECONNRESET);
    ASSERT_EQ(corio_process_kill(p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, -SIGKILL);
    ASSERT_EQ(corio_process_free(p), 0);
    free(in);
    settle_inside();
    return 0;
}
TEST(proc_rev_epipe) {
    on_loop(epipe_body, NULL);
    return 0;
}

/* ---- a grandchild that keeps stdout open ---------------------------------- */

static int double_fork_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process_options o = rmodes(0, CORIO_STDIO_PIPE, 0);
    corio_process *p;
    ASSERT_EQ(corio_create_subprocess_shell("sleep 30 & echo $!", &o, &p), 0);
    const void *d;
    size_t n;
    ASSERT_EQ(corio_stream_readline(corio_process_stdout(p), &d, &n), 0);
    int grandchild = atoi(d);
    ASSERT(grandchild > 0);
    /* the shell exits; asyncio's communicate waits for EOF, which the
     * grandchild holds back: the timeout ends it */
    int rc = -1;
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(0.2, &to), 0);
    rc = corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
    ASSERT_EQ(kill(grandchild, SIGKILL), 0);
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(corio_process_free(p), 0);
    settle_inside();
    return 0;
}
TEST(proc_rev_double_fork) {
    on_loop(double_fork_body, NULL);
    return 0;
}

/* ---- wrong order ------------------------------------------------------------ */

typedef struct comm_arg {
    corio_process *p;
    size_t n;
} comm_arg;

static int communicator(void *arg, void **res) {
    (void)res;
    comm_arg *c = arg;
    const void *d;
    return corio_process_communicate(c->p, NULL, 0, &d, &c->n, NULL, NULL);
}

static int reader(void *arg, void **res) {
    (void)res;
    const void *d;
    size_t n;
    return corio_stream_read_all(arg, &d, &n);
}

static int rwaiter(void *arg, void **res) {
    (void)res;
    return corio_process_wait(arg, NULL);
}

static int wrong_order_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    corio_process *p;
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"sleep", "30", NULL}, &o, &p), 0);
    /* a task in communicate: a second communicate, free, a read of stdout */
    comm_arg c = {p, 0};
    corio_task *t;
    ASSERT_EQ(corio_create_task(communicator, &c, "comm", &t), 0);
    ASSERT_EQ(corio_sleep(0.01), 0);
    const void *d;
    size_t n;
    char rbuf[10];
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL), CORIO_EBUSY);
    ASSERT_EQ(corio_process_free(p), CORIO_EBUSY);
    ASSERT_EQ(corio_stream_read(corio_process_stdout(p), rbuf, sizeof rbuf, &n), CORIO_EBUSY);
    ASSERT_EQ(corio_stream_free(corio_process_stdout(p)), CORIO_EINVAL);
    ASSERT_EQ(corio_process_kill(p), 0);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(c.n, 0);
    /* communicate twice after it finished: at EOF, nothing more */
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL), 0);
    ASSERT_EQ(n, 0);
    /* input now that stdin is closed: asyncio ignores it; corio says it was not sent or ignores */
    int rc = corio_process_communicate(p, "x", 1, &d, &n, NULL, NULL);
    ASSERT(rc == 0 || rc == CORIO_EINVAL || rc == CORIO_ECLOSED);
    ASSERT_EQ(corio_process_free(p), 0);

    /* free while another task reads stdout, and while one waits */
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p), 0);
    corio_task *r, *w;
    ASSERT_EQ(corio_create_task(reader, corio_process_stdout(p), "reader", &r), 0);
    ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(corio_process_free(p), CORIO_EBUSY);
    /* communicate while another task reads stdout: asyncio's RuntimeError */
    rc = corio_process_communicate(p, "abc", 3, &d, &n, NULL, NULL);
    ASSERT_EQ(rc, CORIO_EBUSY);
    ASSERT_EQ(corio_await(r, NULL), 0); /* the input went to cat, stdin closed */
    corio_future_unref(r);
    ASSERT_EQ(corio_create_task(rwaiter, p, "waiter", &w), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_await(w, NULL), 0);
    corio_future_unref(w);
    ASSERT_EQ(corio_process_free(p), 0);

    /* the user closes the process's streams, then communicates */
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"sh", "-c", "cat; echo err >&2", NULL}, &o, &p), 0);
    ASSERT_EQ(corio_stream_close(corio_process_stdin(p)), 0);
    ASSERT_EQ(corio_stream_close(corio_process_stdout(p)), 0);
    const void *e;
    size_t en;
    rc = corio_process_communicate(p, NULL, 0, &d, &n, &e, &en);
    fprintf(stderr, "communicate after the user closed stdout: %d\n", rc);
    /* the stream's own rule: a read of a stream closed by its user */
    ASSERT(rc == 0 || rc == CORIO_EFDCLOSED);
    if (rc == 0) ASSERT(en == 4);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(corio_process_free(p), 0);

    /* free while a task drains stdin, and the stream's wait_closed */
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"sleep", "30", NULL}, &o, &p), 0);
    char *big = calloc(1, 1 << 20);
    ASSERT(big);
    ASSERT_EQ(corio_stream_write(corio_process_stdin(p), big, 1 << 20), 0);
    free(big);
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(0.05, &to), 0);
    rc = corio_stream_drain(corio_process_stdin(p));
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_process_kill(p), 0);
    ASSERT_EQ(corio_process_free(p), 0); /* no task inside now; the loop reaps it */
    settle_inside();
    return 0;
}
TEST(proc_rev_wrong_order) {
    on_loop(wrong_order_body, NULL);
    return 0;
}

/* ---- wrong loop, wrong thread -------------------------------------------- */

typedef struct cross {
    corio_process *p;
    int wait_rc, comm_rc;
} cross;

static int other_loop_body(void *arg, void **res) {
    (void)res;
    cross *c = arg;
    c->wait_rc = corio_process_wait(c->p, NULL);
    const void *d;
    size_t n;
    c->comm_rc = corio_process_communicate(c->p, NULL, 0, &d, &n, NULL, NULL);
    return 0;
}

static void *other_thread(void *arg) {
    run_main(other_loop_body, arg);
    return NULL;
}

static pthread_t cross_th;

static int join_other(void *arg, void **res) {
    (void)arg, (void)res;
    return pthread_join(cross_th, NULL) == 0 ? 0 : CORIO_EINVAL;
}

static int wrong_loop_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, 0);
    cross c = {0};
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &c.p), 0);
    ASSERT_EQ(pthread_create(&cross_th, NULL, other_thread, &c), 0);
    /* this loop runs on while the other thread's task tries */
    ASSERT_EQ(corio_to_thread(join_other, NULL, NULL, NULL), 0);
    ASSERT_EQ(c.wait_rc, CORIO_EWRONGLOOP);
    ASSERT_EQ(c.comm_rc, CORIO_EWRONGLOOP);
    const void *d;
    size_t n;
    ASSERT_EQ(corio_process_communicate(c.p, "z", 1, &d, &n, NULL, NULL), 0);
    ASSERT(n == 1 && memcmp(d, "z", 1) == 0);
    ASSERT_EQ(corio_process_free(c.p), 0);
    settle_inside();
    return 0;
}
TEST(proc_rev_wrong_loop) {
    on_loop(wrong_loop_body, NULL);
    return 0;
}

/* ---- a loop in a thread closed with its children running ---------------- */

typedef struct thread_close {
    corio_process *p[8];
    int hold;
} thread_close;

static int thread_close_body(void *arg, void **res) {
    (void)res;
    thread_close *tc = arg;
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    corio_process_options o = rmodes(CORIO_STDIO_FD, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    o.stdin_fd = fds[0];
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &tc->p[i]), 0);
        if (i % 2) {
            ASSERT_EQ(corio_process_free(tc->p[i]), 0);
            tc->p[i] = NULL;
        }
        else ASSERT_EQ(corio_create_task(rwaiter, tc->p[i], "waiter", NULL), 0);
    }
    close(fds[0]);
    tc->hold = fds[1];
    ASSERT_EQ(corio_sleep(0), 0);
    return 0;
}

static void *thread_close_run(void *arg) {
    thread_close *tc = arg;
    run_main(thread_close_body, tc);
    /* the loop is closed and freed; the processes are still ours */
    for (int i = 0; i < 8; i++) {
        if (!tc->p[i]) continue;
        int rc;
        ASSERT_EQ(corio_process_returncode(tc->p[i], &rc), CORIO_EINVALSTATE);
        ASSERT_EQ(corio_process_send_signal(tc->p[i], 0), 0);
        if (i == 2) ASSERT_EQ(corio_process_kill(tc->p[i]), 0);
        if (i >= 4) {
            ASSERT_EQ(corio_process_free(tc->p[i]), 0);
            tc->p[i] = NULL;
        }
    }
    return NULL;
}

TEST(proc_rev_loop_close_in_thread) {
    int fds = nfds();
    thread_close tc;
    memset(&tc, 0, sizeof tc);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, thread_close_run, &tc), 0);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    close(tc.hold);
    int rc = 1;
    for (int i = 0; i < 1000 && corio_process_returncode(tc.p[2], &rc) < 0; i++) usleep(10000);
    ASSERT_EQ(rc, -SIGKILL);
    for (int i = 0; i < 4; i++) {
        if (!tc.p[i]) continue;
        for (int k = 0; k < 1000 && corio_process_returncode(tc.p[i], &rc) < 0; k++) usleep(10000);
        ASSERT_EQ(corio_process_returncode(tc.p[i], &rc), 0);
        ASSERT_EQ(corio_process_free(tc.p[i]), 0);
    }
    settle_outside(fds);
    return 0;
}

/* ---- cancel at every point of communicate ------------------------------- */

#define CIN (1u << 20)

static int cancel_sweep_body(void *arg, void **res) {
    (void)arg, (void)res;
    char *in = malloc(CIN);
    ASSERT(in);
    for (size_t i = 0; i < CIN; i++) in[i] = (char)(i * 13 + 1);
    static const double delays[] = {0, 1e-6, 1e-5, 1e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 3e-2, 0.1, 10};
    for (size_t k = 0; k < sizeof delays / sizeof delays[0]; k++) {
        corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
        corio_process *p;
        ASSERT_EQ(corio_create_subprocess_shell("cat; echo end >&2", &o, &p), 0);
        corio_timeout *to;
        const void *d, *e;
        size_t n = 0, en = 0;
        ASSERT_EQ(corio_timeout_enter(delays[k], &to), 0);
        int rc = corio_process_communicate(p, in, CIN, &d, &n, &e, &en);
        rc = corio_timeout_exit(to, rc);
        if (rc == CORIO_ETIMEDOUT) {
            /* the input is queued and goes on; a second call finishes */
            rc = corio_process_communicate(p, NULL, 0, &d, &n, &e, &en);
        }
        ASSERT_EQ(rc, 0);
        ASSERT_EQ(n, CIN);
        ASSERT(memcmp(d, in, CIN) == 0);
        ASSERT(en == 4 && memcmp(e, "end\n", 4) == 0);
        int code = -1;
        ASSERT_EQ(corio_process_returncode(p, &code), 0);
        ASSERT_EQ(code, 0);
        ASSERT_EQ(corio_process_free(p), 0);
        /* and a wait cancelled at each delay: the child lives on */
        ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p), 0);
        ASSERT_EQ(corio_timeout_enter(delays[k] > 1 ? 0.05 : delays[k], &to), 0);
        rc = corio_process_wait(p, &code);
        ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
        ASSERT_EQ(corio_process_send_signal(p, 0), 0); /* alive */
        ASSERT_EQ(corio_process_communicate(p, "q", 1, &d, &n, NULL, NULL), 0);
        ASSERT(n == 1);
        ASSERT_EQ(corio_process_free(p), 0);
    }
    free(in);
    settle_inside();
    return 0;
}
TEST(proc_rev_cancel_sweep) {
    on_loop(cancel_sweep_body, NULL);
    return 0;
}

/* ---- killed by a signal vs exit(128 + n); SIGCHLD handled by the program - */

static volatile sig_atomic_t chld_seen;
static void on_chld(int sig) {
    (void)sig;
    chld_seen++;
}

static int codes_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process *p;
    int rc = 0;
    ASSERT_EQ(corio_create_subprocess_shell("exit 143", NULL, &p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 143);
    ASSERT_EQ(corio_process_free(p), 0);
    ASSERT_EQ(corio_create_subprocess_shell("kill -TERM $$", NULL, &p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, -SIGTERM);
    ASSERT_EQ(corio_process_free(p), 0);
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"sh", "-c", "kill -SEGV $$", NULL}, NULL, &p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, -SIGSEGV);
    /* pid reuse cannot hurt: the pidfd is gone, the signal is refused */
    ASSERT_EQ(corio_process_send_signal(p, SIGKILL), -ESRCH);
    ASSERT_EQ(corio_process_free(p), 0);
    /* a child stopped and continued is not "exited" */
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"sleep", "30", NULL}, NULL, &p), 0);
    ASSERT_EQ(corio_process_send_signal(p, SIGSTOP), 0);
    ASSERT_EQ(corio_sleep(0.05), 0);
    ASSERT_EQ(corio_process_returncode(p, &rc), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_process_send_signal(p, SIGCONT), 0);
    ASSERT_EQ(corio_sleep(0.05), 0);
    ASSERT_EQ(corio_process_returncode(p, &rc), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_process_kill(p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, -SIGKILL);
    ASSERT_EQ(corio_process_free(p), 0);
    settle_inside();
    return 0;
}
TEST(proc_rev_codes_and_sigchld) {
    on_loop(codes_body, NULL);
    /* again with a SIGCHLD handler of the program's (no SA_RESTART): the
     * codes are right and the handler still runs */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sigaction(SIGCHLD, &sa, &old);
    chld_seen = 0;
    on_loop(codes_body, NULL);
    sigaction(SIGCHLD, &old, NULL);
    ASSERT(chld_seen > 0);
    return 0;
}

/* ---- huge argv and env, NULL in the middle -------------------------------- */

static int huge_body(void *arg, void **res) {
    (void)arg, (void)res;
    int fds = nfds();
    size_t count = 40000;
    const char **argv = calloc(count + 2, sizeof *argv);
    ASSERT(argv);
    char *arg4k = malloc(4096);
    ASSERT(arg4k);
    memset(arg4k, 'a', 4095);
    arg4k[4095] = 0;
    argv[0] = "true";
    for (size_t i = 1; i <= count; i++) argv[i] = arg4k;
    corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    corio_process *p = NULL;
    ASSERT_EQ(corio_create_subprocess_exec(argv, &o, &p), -E2BIG);
    ASSERT(p == NULL);
    ASSERT(strstr(corio_error_message(corio_current_error()), "true"));
    /* the same size in the environment */
    const char **env = calloc(count + 1, sizeof *env);
    ASSERT(env);
    memcpy(arg4k, "X=", 2);
    for (size_t i = 0; i < count; i++) env[i] = arg4k;
    o.env = env;
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"true", NULL}, &o, &p), -E2BIG);
    o.env = NULL;
    /* a NULL in the middle ends argv there */
    const char *cut[] = {"sh", "-c", "echo \"$#\"", "x", NULL, "y", NULL};
    ASSERT_EQ(corio_create_subprocess_exec(cut, &o, &p), 0);
    const void *d;
    size_t n;
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL), 0);
    ASSERT(n == 2 && memcmp(d, "0\n", 2) == 0);
    ASSERT_EQ(corio_process_free(p), 0);
    /* a long program name is named, cut short */
    char longname[8192];
    memset(longname, 'b', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    int rc = corio_create_subprocess_exec((const char *[]){longname, NULL}, NULL, &p);
    ASSERT(rc == -ENAMETOOLONG || rc == -ENOENT);
    /* the empty shell command: sh -c "" exits 0 (as asyncio) */
    ASSERT_EQ(corio_create_subprocess_shell("", NULL, &p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_free(p), 0);
    free(env);
    free(argv);
    free(arg4k);
    ASSERT_EQ(nfds(), fds);
    settle_inside();
    return 0;
}
TEST(proc_rev_huge_argv) {
    if (getenv("CORIO_TEST_EMULATED")) {
        puts("skipped: qemu-user cannot report an exec failure (E2BIG) through posix_spawn's return value");
        return TEST_SKIP;
    }
    on_loop(huge_body, NULL);
    return 0;
}

/* ---- a failure injected at every call, with every stdio mode -------------- */

static int rev_fault_end;

static int rev_fault_body(void *arg, void **res) {
    (void)res;
    long nth = (long)(intptr_t)arg;
    int pfd[2];
    ASSERT_EQ(pipe2(pfd, O_CLOEXEC), 0);
    corio_process_options o = rmodes(CORIO_STDIO_FD, CORIO_STDIO_PIPE, CORIO_STDIO_STDOUT);
    o.stdin_fd = pfd[0];
    corio_process *p = NULL, *q = NULL;
    corio__fail_after(nth);
    int rc = corio_create_subprocess_shell("cat; echo e >&2", &o, &p);
    close(pfd[0]);
    close(pfd[1]);
    corio_process_options o2 = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_DEVNULL, CORIO_STDIO_PIPE);
    if (rc == 0) rc = corio_create_subprocess_exec((const char *[]){"sh", "-c", "cat >&2", NULL}, &o2, &q);
    const void *d = NULL, *e = NULL;
    size_t n = 0, en = 0;
    if (rc == 0) rc = corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL);
    if (rc == 0) rc = corio_process_communicate(q, "ab", 2, NULL, NULL, &e, &en);
    int code = -1;
    if (rc == 0) rc = corio_process_wait(q, &code);
    long made = corio__fail_after(0);
    if (rc == 0) ASSERT(n == 2 && en == 2 && code == 0);
    if (p) {
        corio_process_kill(p);
        ASSERT_EQ(corio_process_wait(p, NULL), 0);
        ASSERT_EQ(corio_process_free(p), 0);
    }
    if (q) {
        corio_process_kill(q);
        ASSERT_EQ(corio_process_wait(q, NULL), 0);
        ASSERT_EQ(corio_process_free(q), 0);
    }
    rev_fault_end = rc == 0 && made < nth;
    return 0;
}
TEST(proc_rev_fault_points) {
    int fds = nfds();
    for (long nth = 1; nth < 600; nth++) {
        on_loop(rev_fault_body, (void *)(intptr_t)nth);
        if (rev_fault_end) {
            fprintf(stderr, "fault points: %ld calls failed in turn\n", nth - 1);
            break;
        }
    }
    ASSERT(rev_fault_end);
    settle_outside(fds);
    return 0;
}

/* ---- the loop closes with no descriptor to spare: the child is not killed */

typedef struct emfile_close {
    corio_process *p;
    int hold;
} emfile_close;

static int emfile_close_body(void *arg, void **res) {
    (void)res;
    emfile_close *ec = arg;
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    corio_process_options o = rmodes(CORIO_STDIO_FD, CORIO_STDIO_DEVNULL, 0);
    o.stdin_fd = fds[0];
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &ec->p), 0);
    close(fds[0]);
    ec->hold = fds[1];
    return 0;
}
TEST(proc_rev_close_at_emfile) {
    int fds = nfds();
    emfile_close ec;
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, emfile_close_body, &ec, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    /* no new descriptor can be made while the loop closes: the table is
     * full up to the limit */
    struct rlimit old, lim;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    int top = 0;
    DIR *dir = opendir("/proc/self/fd");
    ASSERT(dir);
    struct dirent *de;
    while ((de = readdir(dir)))
        if (isdigit((unsigned char)de->d_name[0]) && atoi(de->d_name) > top) top = atoi(de->d_name);
    closedir(dir);
    lim = old;
    lim.rlim_cur = (rlim_t)top + 16;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
    static int filler[4096];
    int nfill = 0;
    while (nfill < 4096 && (filler[nfill] = fcntl(0, F_DUPFD_CLOEXEC, 0)) >= 0) nfill++;
    ASSERT(nfill < 4096 && errno == EMFILE);
    int rc_close = corio_loop_close(loop);
    while (nfill > 0) close(filler[--nfill]);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    ASSERT_EQ(rc_close, 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    /* the child runs on, as with a descriptor to spare */
    int rc = 1;
    int r = corio_process_returncode(ec.p, &rc);
    if (r == 0) fprintf(stderr, "the child was ended at the close: code %d\n", rc);
    ASSERT_EQ(r, CORIO_EINVALSTATE);
    close(ec.hold);
    for (int i = 0; i < 1000 && corio_process_returncode(ec.p, &rc) < 0; i++) usleep(10000);
    ASSERT_EQ(corio_process_returncode(ec.p, &rc), 0);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_free(ec.p), 0);
    settle_outside(fds);
    return 0;
}

/* ---- free, signal, returncode from a thread other than the loop's ------- */

typedef struct foreign {
    corio_process *p;
    atomic_int go, done; /* the main thread's turn, then the loop's again */
} foreign;

static int foreign_body(void *arg, void **res) {
    (void)res;
    foreign *f = arg;
    corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &f->p), 0);
    atomic_store(&f->go, 1);
    for (int i = 0; i < 10000 && !atomic_load(&f->done); i++) ASSERT_EQ(corio_sleep(0.001), 0);
    ASSERT(atomic_load(&f->done));
    /* still whole: the other thread was refused */
    const void *d;
    size_t n;
    ASSERT_EQ(corio_process_communicate(f->p, "ok", 2, &d, &n, NULL, NULL), 0);
    ASSERT(n == 2 && memcmp(d, "ok", 2) == 0);
    ASSERT_EQ(corio_process_free(f->p), 0);
    settle_inside();
    return 0;
}

static void *foreign_loop(void *arg) {
    run_main(foreign_body, arg);
    return NULL;
}

TEST(proc_rev_foreign_thread) {
    foreign f;
    memset(&f, 0, sizeof f);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, foreign_loop, &f), 0);
    for (int i = 0; i < 1000 && !atomic_load(&f.go); i++) usleep(10000);
    ASSERT(atomic_load(&f.go));
    /* the process's loop runs in the other thread: each call is refused */
    int rc = 0;
    int r_sig = corio_process_send_signal(f.p, 0);
    int r_code = corio_process_returncode(f.p, &rc);
    int r_free = corio_process_free(f.p);
    atomic_store(&f.done, 1);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    fprintf(stderr, "from another thread: send_signal %d, returncode %d, free %d\n", r_sig, r_code, r_free);
    ASSERT_EQ(r_free, CORIO_EWRONGLOOP);
    ASSERT_EQ(r_sig, CORIO_EWRONGLOOP);
    ASSERT_EQ(r_code, CORIO_EWRONGLOOP);
    return 0;
}

/* ---- a timeout around the spawn itself; communicate past a tiny limit --- */

static int timeout_spawn_body(void *arg, void **res) {
    (void)arg, (void)res;
    static const double delays[] = {0, 1e-9, 1e-6, 1e-3};
    for (size_t k = 0; k < sizeof delays / sizeof delays[0]; k++) {
        corio_timeout *to;
        corio_process *p = NULL;
        corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
        ASSERT_EQ(corio_timeout_enter(delays[k], &to), 0);
        int rc = corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p);
        rc = corio_timeout_exit(to, rc);
        /* consistent either way: a process and 0, or neither */
        ASSERT((rc == 0) == (p != NULL));
        if (p) {
            const void *d;
            size_t n;
            ASSERT_EQ(corio_process_communicate(p, "abc", 3, &d, &n, NULL, NULL), 0);
            ASSERT(n == 3);
            ASSERT_EQ(corio_process_free(p), 0);
        } else {
            ASSERT_EQ(rc, CORIO_ETIMEDOUT);
        }
    }
    /* communicate reads past the streams' limit (asyncio's read() has none) */
    corio_process_options o = rmodes(0, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    o.limit = 4;
    corio_process *p;
    ASSERT_EQ(corio_create_subprocess_shell("head -c 200000 /dev/zero; echo long-line >&2", &o, &p), 0);
    const void *d, *e;
    size_t n, en;
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, &e, &en), 0);
    ASSERT_EQ(n, 200000);
    ASSERT_EQ(en, 10);
    ASSERT_EQ(corio_process_free(p), 0);
    settle_inside();
    return 0;
}
TEST(proc_rev_timeout_spawn) {
    on_loop(timeout_spawn_body, NULL);
    return 0;
}

/* ---- spawning from a task with a small stack ------------------------------ */

static int small_stack_task(void *arg, void **res) {
    (void)res;
    const char *const *env = arg;
    corio_process_options o = rmodes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    o.env = env;
    corio_process *p;
    int rc = corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p);
    if (rc < 0) return rc;
    const void *d, *e;
    size_t n, en;
    rc = corio_process_communicate(p, "s", 1, &d, &n, &e, &en);
    corio_process_free(p);
    return rc == 0 && n == 1 ? 0 : CORIO_EINVAL;
}

TEST(proc_rev_small_stack) {
    if (getenv("CORIO_TEST_EMULATED")) {
        puts("skipped: qemu-user's emulated spawn needs more stack than a small task has");
        return TEST_SKIP;
    }
    static const char *const env[] = {"PATH=/nonexistent:/usr/bin:/bin", NULL};
    static const size_t sizes[] = {16384, 65536};
    for (size_t k = 0; k < 2; k++) {
        for (int withenv = 0; withenv < 2; withenv++) {
            corio_loop *loop;
            ASSERT_EQ(corio_loop_new(&loop), 0);
            corio_task *t;
            ASSERT_EQ(corio_loop_create_task(loop, small_stack_task, withenv ? (void *)env : NULL, "small",
                                             sizes[k], &t), 0);
            ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
            corio_future_unref(t);
            close_loop(loop);
        }
    }
    settle_outside(-1);
    return 0;
}

/* ---- 2000 children freed at once, unwaited, while the loop runs ---------- */

static int unwaited_many_body(void *arg, void **res) {
    (void)arg, (void)res;
    int threads = nthreads();
    corio_process_options o = rmodes(CORIO_STDIO_DEVNULL, CORIO_STDIO_PIPE, CORIO_STDIO_DEVNULL);
    for (int i = 0; i < 2000; i++) {
        corio_process *p;
        ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"true", NULL}, &o, &p), 0);
        ASSERT_EQ(corio_process_free(p), 0);
        if (i % 100 == 99) ASSERT_EQ(corio_sleep(0), 0);
    }
    settle_inside(); /* the loop reaped every one: no zombie */
    ASSERT_EQ(nthreads(), threads);
    return 0;
}
TEST(proc_rev_unwaited_many) {
    int fds = nfds();
    on_loop(unwaited_many_body, NULL);
    settle_outside(fds);
    return 0;
}
