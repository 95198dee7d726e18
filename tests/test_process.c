/* Subprocesses (io.md 6): create_subprocess_exec / _shell, the stdio
 * modes, wait, communicate, signals and return codes, cancel, no zombie
 * and no descriptor left (the runner checks descriptors after each test). */
#include "test.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

long corio__fail_after(long nth);

/* ---- helpers ---------------------------------------------------------------- */

static corio_process_options modes(int in, int out, int err) {
    corio_process_options o;
    memset(&o, 0, sizeof o);
    o.stdin_mode = in;
    o.stdout_mode = out;
    o.stderr_mode = err;
    return o;
}

/* Children of this process, and how many of them are zombies. */
static int children(int *zombies) {
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
        const char *rp = strrchr(buf, ')'); /* the name may hold spaces */
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

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    ASSERT(d);
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* In a task: until no child of ours is left (bounded: 10 s). */
static void no_children_left(void) {
    int z = 0;
    for (int i = 0; i < 1000 && children(&z) > 0; i++) ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(children(&z), 0);
    ASSERT_EQ(z, 0);
}

/* Run cmd through sh with the given modes; communicate; free. */
static int sh_output(const char *cmd, const corio_process_options *o, const char *input, char *out,
                     size_t cap, int *rc_out) {
    corio_process *p;
    int rc = corio_create_subprocess_shell(cmd, o, &p);
    if (rc < 0) return rc;
    const void *d = NULL;
    size_t n = 0;
    rc = corio_process_communicate(p, input, input ? strlen(input) : 0, &d, &n, NULL, NULL);
    if (rc == 0) {
        ASSERT(n < cap);
        memcpy(out, d ? d : "", n);
        out[n] = 0;
        ASSERT_EQ(corio_process_returncode(p, rc_out), 0);
    }
    ASSERT_EQ(corio_process_free(p), 0);
    return rc;
}

/* ---- exec and shell -------------------------------------------------------- */

static int exec_shell_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process_options o = modes(0, CORIO_STDIO_PIPE, 0);
    const char *argv[] = {"printf", "%s-%s", "hello", "world", NULL};
    corio_process *p;
    ASSERT_EQ(corio_create_subprocess_exec(argv, &o, &p), 0); /* found in PATH */
    ASSERT(corio_process_pid(p) > 0);
    ASSERT(corio_process_stdin(p) == NULL);
    ASSERT(corio_process_stdout(p) != NULL);
    ASSERT(corio_process_stderr(p) == NULL);
    ASSERT_EQ(corio_stream_free(corio_process_stdout(p)), CORIO_EINVAL); /* the process's */
    const void *d;
    size_t n;
    ASSERT_EQ(corio_stream_read_all(corio_process_stdout(p), &d, &n), 0);
    ASSERT_EQ(n, 11);
    ASSERT(memcmp(d, "hello-world", 11) == 0);
    int rc = -1;
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_free(p), 0);

    char out[256];
    ASSERT_EQ(sh_output("echo $((1+2)); exit 3", &o, NULL, out, sizeof out, &rc), 0);
    ASSERT_STR(out, "3\n");
    ASSERT_EQ(rc, 3);

    /* cwd and env */
    const char *env[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
    o.cwd = "/";
    o.env = env;
    ASSERT_EQ(sh_output("pwd; echo \"$FOO\"; echo \"${HOME-unset}\"", &o, NULL, out, sizeof out, &rc), 0);
    ASSERT_STR(out, "/\nbar baz\nunset\n");
    /* An absolute path is used as it is; a relative one from the cwd. */
    const char *argv2[] = {"./bin/sh", "-c", "echo rel", NULL};
    o.env = NULL;
    o.cwd = "/usr";
    ASSERT_EQ(corio_create_subprocess_exec(argv2, &o, &p), 0);
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL), 0);
    ASSERT_EQ(n, 4);
    ASSERT(memcmp(d, "rel\n", 4) == 0);
    ASSERT_EQ(corio_process_free(p), 0);
    return 0;
}
TEST(proc_exec_shell) {
    on_loop(exec_shell_body, NULL);
    return 0;
}

/* ---- the stdio modes --------------------------------------------------------- */

static int stdio_modes_body(void *arg, void **res) {
    (void)arg, (void)res;
    char out[512];
    int rc;
    /* stdin PIPE: communicate's input reaches cat */
    corio_process_options o = modes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, 0);
    ASSERT_EQ(sh_output("cat", &o, "to cat\n", out, sizeof out, &rc), 0);
    ASSERT_STR(out, "to cat\n");
    /* stdin DEVNULL: EOF at once */
    o = modes(CORIO_STDIO_DEVNULL, CORIO_STDIO_PIPE, 0);
    ASSERT_EQ(sh_output("cat; echo end", &o, NULL, out, sizeof out, &rc), 0);
    ASSERT_STR(out, "end\n");
    /* stderr STDOUT: both in one pipe, in order */
    o = modes(0, CORIO_STDIO_PIPE, CORIO_STDIO_STDOUT);
    ASSERT_EQ(sh_output("echo out; echo err >&2; echo out2", &o, NULL, out, sizeof out, &rc), 0);
    ASSERT_STR(out, "out\nerr\nout2\n");
    /* stderr PIPE apart, stdout DEVNULL */
    corio_process *p;
    o = modes(0, CORIO_STDIO_DEVNULL, CORIO_STDIO_PIPE);
    ASSERT_EQ(corio_create_subprocess_shell("echo lost; echo kept >&2", &o, &p), 0);
    const void *d, *e;
    size_t n, en;
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, &e, &en), 0);
    ASSERT(d == NULL && n == 0);
    ASSERT_EQ(en, 5);
    ASSERT(memcmp(e, "kept\n", 5) == 0);
    ASSERT_EQ(corio_process_free(p), 0);
    /* A given descriptor: stdout into a pipe of the test's; stdin from
     * another. The caller keeps both. */
    int po[2], pi[2];
    ASSERT_EQ(pipe2(po, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(pi, O_CLOEXEC), 0);
    ASSERT_EQ(write(pi[1], "given\n", 6), 6);
    close(pi[1]);
    o = modes(CORIO_STDIO_FD, CORIO_STDIO_FD, 0);
    o.stdin_fd = pi[0];
    o.stdout_fd = po[1];
    ASSERT_EQ(corio_create_subprocess_shell("tr a-z A-Z", &o, &p), 0);
    ASSERT(corio_process_stdout(p) == NULL);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_free(p), 0);
    close(po[1]);
    ASSERT_EQ(read(po[0], out, sizeof out), 6);
    ASSERT(memcmp(out, "GIVEN\n", 6) == 0);
    close(po[0]);
    close(pi[0]);
    /* Given descriptors that are 0..2 themselves, crossed: stdout gets the
     * test's 2 and stderr the test's 1 (each moved out of the way first). */
    int save1 = dup(1), save2 = dup(2);
    int a[2], b[2];
    ASSERT_EQ(pipe2(a, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(b, O_CLOEXEC), 0);
    dup2(a[1], 1);
    dup2(b[1], 2);
    o = modes(0, CORIO_STDIO_FD, CORIO_STDIO_FD);
    o.stdout_fd = 2;
    o.stderr_fd = 1;
    rc = corio_create_subprocess_shell("echo to-out; echo to-err >&2", &o, &p);
    dup2(save1, 1);
    dup2(save2, 2);
    close(save1), close(save2), close(a[1]), close(b[1]);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(corio_process_free(p), 0);
    ssize_t k = read(a[0], out, sizeof out);
    ASSERT(k == 7 && memcmp(out, "to-err\n", 7) == 0);
    k = read(b[0], out, sizeof out);
    ASSERT(k == 7 && memcmp(out, "to-out\n", 7) == 0);
    close(a[0]), close(b[0]);
    /* Inherited (the default): the child writes to the test's own 1,
     * pointed at a pipe for the while. */
    int c[2];
    save1 = dup(1);
    ASSERT_EQ(pipe2(c, O_CLOEXEC), 0);
    dup2(c[1], 1);
    rc = corio_create_subprocess_shell("echo inherited", NULL, &p);
    dup2(save1, 1);
    close(save1), close(c[1]);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(corio_process_free(p), 0);
    k = read(c[0], out, sizeof out);
    ASSERT(k == 10 && memcmp(out, "inherited\n", 10) == 0);
    close(c[0]);
    /* A given descriptor that is its own target, close-on-exec: dup2 onto
     * itself clears the flag, so the child keeps it. */
    save1 = dup(1);
    ASSERT_EQ(pipe2(c, O_CLOEXEC), 0);
    ASSERT_EQ(dup3(c[1], 1, O_CLOEXEC), 1);
    o = modes(0, CORIO_STDIO_FD, 0);
    o.stdout_fd = 1;
    rc = corio_create_subprocess_shell("echo same", &o, &p);
    dup2(save1, 1);
    close(save1), close(c[1]);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(corio_process_free(p), 0);
    k = read(c[0], out, sizeof out);
    ASSERT(k == 5 && memcmp(out, "same\n", 5) == 0);
    close(c[0]);
    /* The streams' read limit */
    o = modes(0, CORIO_STDIO_PIPE, 0);
    o.limit = 4;
    ASSERT_EQ(corio_create_subprocess_shell("echo 123456789", &o, &p), 0);
    ASSERT_EQ(corio_stream_readline(corio_process_stdout(p), &d, &n), CORIO_ELIMIT);
    ASSERT_EQ(corio_process_wait(p, NULL), 0);
    ASSERT_EQ(corio_process_free(p), 0);
    return 0;
}
TEST(proc_stdio_modes) {
    on_loop(stdio_modes_body, NULL);
    return 0;
}

/* ---- communicate: 8 MiB in, 8 MiB out on each side at once ------------------- */

#define BIG (8u << 20)

static int communicate_big_body(void *arg, void **res) {
    (void)arg, (void)res;
    char *in = malloc(BIG);
    ASSERT(in);
    for (size_t i = 0; i < BIG; i++) in[i] = (char)(i * 7 + i / 4096);
    /* stderr is written by a second process while cat echoes stdin: the
     * child blocks on either pipe unless both are read while the input
     * is written. */
    corio_process_options o = modes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    corio_process *p;
    ASSERT_EQ(corio_create_subprocess_shell("head -c 8388608 /dev/zero >&2 & cat; wait", &o, &p), 0);
    const void *d, *e;
    size_t n, en;
    ASSERT_EQ(corio_process_communicate(p, in, BIG, &d, &n, &e, &en), 0);
    ASSERT_EQ(n, BIG);
    ASSERT(memcmp(d, in, BIG) == 0);
    ASSERT_EQ(en, BIG);
    const char *ez = e;
    for (size_t i = 0; i < BIG; i += 4093) ASSERT_EQ(ez[i], 0);
    int rc = -1;
    ASSERT_EQ(corio_process_returncode(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    /* Again: everything was read; the streams are at EOF. */
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, &e, &en), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(en, 0);
    ASSERT_EQ(corio_process_free(p), 0);
    free(in);
    return 0;
}
TEST(proc_communicate_big) {
    on_loop(communicate_big_body, NULL);
    return 0;
}

/* ---- return codes and signals ------------------------------------------------- */

static int returncodes_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process *p;
    int rc = 0;
    ASSERT_EQ(corio_create_subprocess_shell("exit 3", NULL, &p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 3);
    rc = 0;
    ASSERT_EQ(corio_process_wait(p, &rc), 0); /* twice: the same */
    ASSERT_EQ(rc, 3);
    ASSERT_EQ(corio_process_returncode(p, &rc), 0);
    ASSERT_EQ(rc, 3);
    /* asyncio's ProcessLookupError once it is reaped */
    ASSERT_EQ(corio_process_send_signal(p, SIGTERM), -ESRCH);
    ASSERT(strstr(corio_error_message(corio_current_error()), "exited"));
    ASSERT_EQ(corio_process_kill(p), -ESRCH);
    ASSERT_EQ(corio_process_terminate(p), -ESRCH);
    ASSERT_EQ(corio_process_free(p), 0);

    /* killed: minus the signal; running: no return code yet */
    corio_process_options o = modes(CORIO_STDIO_PIPE, 0, 0);
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p), 0);
    ASSERT_EQ(corio_process_returncode(p, &rc), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_process_send_signal(p, 12345), -EINVAL);
    ASSERT_EQ(corio_process_kill(p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, -SIGKILL);
    ASSERT_EQ(corio_process_free(p), 0);

    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p), 0);
    ASSERT_EQ(corio_process_terminate(p), 0);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, -SIGTERM);
    ASSERT_EQ(corio_process_free(p), 0);

    /* send_signal with a signal the shell traps */
    o = modes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, 0);
    ASSERT_EQ(corio_create_subprocess_shell("trap 'echo usr1; exit 7' USR1; echo ready; while :; do sleep 0.05; done", &o, &p), 0);
    const void *d;
    size_t n;
    ASSERT_EQ(corio_stream_readline(corio_process_stdout(p), &d, &n), 0);
    ASSERT_EQ(n, 6);
    ASSERT_EQ(corio_process_send_signal(p, SIGUSR1), 0);
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL), 0);
    ASSERT(n == 5 && memcmp(d, "usr1\n", 5) == 0);
    ASSERT_EQ(corio_process_returncode(p, &rc), 0);
    ASSERT_EQ(rc, 7);
    ASSERT_EQ(corio_process_free(p), 0);
    return 0;
}
TEST(proc_returncodes) {
    on_loop(returncodes_body, NULL);
    return 0;
}

/* ---- exec failures ---------------------------------------------------------------- */

static int missing_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process_options o = modes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    corio_process *p = (corio_process *)1;
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"/nonexistent/corio-prog", NULL}, &o, &p), -ENOENT);
    ASSERT(p == NULL);
    const char *msg = corio_error_message(corio_current_error());
    ASSERT(strstr(msg, "/nonexistent/corio-prog") && strstr(msg, "No such file"));
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"corio-no-such-program", "x", NULL}, &o, &p), -ENOENT);
    ASSERT(strstr(corio_error_message(corio_current_error()), "corio-no-such-program"));
    /* not executable */
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"/etc/passwd", NULL}, NULL, &p), -EACCES);
    /* a missing cwd is named */
    o.cwd = "/nonexistent-dir";
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"true", NULL}, &o, &p), -ENOENT);
    ASSERT(strstr(corio_error_message(corio_current_error()), "/nonexistent-dir"));
    /* a given descriptor that is not open */
    o = modes(0, CORIO_STDIO_FD, 0);
    o.stdout_fd = 999;
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"true", NULL}, &o, &p), -EBADF);
    ASSERT_EQ(children(NULL), 0);
    return 0;
}
TEST(proc_missing_program) {
    if (getenv("CORIO_TEST_EMULATED")) {
        puts("skipped: qemu-user runs the spawned program itself and cannot report an exec failure through posix_spawn's return value");
        return TEST_SKIP;
    }
    on_loop(missing_body, NULL);
    return 0;
}

/* ---- cancel: the child lives on -------------------------------------------------- */

static int waiter(void *arg, void **res) {
    int rc = -1;
    int r = corio_process_wait(arg, &rc);
    *res = (void *)(intptr_t)rc;
    return r;
}

static int cancel_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process_options o = modes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, 0);
    corio_process *p;
    ASSERT_EQ(corio_create_subprocess_shell("cat; exit 5", &o, &p), 0);
    /* a wait that times out: cat waits for its stdin, it cannot be done */
    ASSERT_EQ(corio_wait_for(CORIO_CORO(waiter, p), 0.05, NULL), CORIO_ETIMEDOUT);
    int rc;
    ASSERT_EQ(corio_process_returncode(p, &rc), CORIO_EINVALSTATE);
    /* two waiters, one cancelled */
    corio_task *t1, *t2;
    ASSERT_EQ(corio_create_task(waiter, p, "w1", &t1), 0);
    ASSERT_EQ(corio_create_task(waiter, p, "w2", &t2), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_task_cancel(t1, NULL), 1);
    ASSERT_EQ(corio_await(t1, NULL), CORIO_ECANCELED);
    ASSERT_EQ(corio_process_free(p), CORIO_EBUSY); /* w2 waits in it */
    ASSERT_EQ(corio_stream_write(corio_process_stdin(p), "x\n", 2), 0);
    ASSERT_EQ(corio_stream_close(corio_process_stdin(p)), 0);
    void *got = NULL;
    ASSERT_EQ(corio_await(t2, &got), 0);
    ASSERT_EQ((intptr_t)got, 5);
    corio_future_unref(t1);
    corio_future_unref(t2);
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 5);
    const void *d;
    size_t n;
    ASSERT_EQ(corio_stream_read_all(corio_process_stdout(p), &d, &n), 0);
    ASSERT(n == 2 && memcmp(d, "x\n", 2) == 0);
    ASSERT_EQ(corio_process_free(p), 0);

    /* a cancelled communicate loses no output */
    o = modes(0, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    ASSERT_EQ(corio_create_subprocess_shell("echo first; echo err >&2; exec sleep 30", &o, &p), 0);
    ASSERT_EQ(corio_stream_readline(corio_process_stderr(p), &d, &n), 0); /* it runs */
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(0.1, &to), 0);
    rc = corio_process_communicate(p, NULL, 0, &d, &n, NULL, NULL);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_process_returncode(p, &rc), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_process_kill(p), 0);
    const void *e;
    size_t en;
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, &e, &en), 0);
    ASSERT(n == 6 && memcmp(d, "first\n", 6) == 0);
    ASSERT_EQ(en, 0); /* its line was read before */
    ASSERT_EQ(corio_process_returncode(p, &rc), 0);
    ASSERT_EQ(rc, -SIGKILL);
    ASSERT_EQ(corio_process_free(p), 0);

    /* cancelled while waiting for the exit, both outputs read already:
     * they are not lost either */
    ASSERT_EQ(corio_create_subprocess_shell("echo out; echo err >&2; exec sleep 30 >&- 2>&-", &o, &p), 0);
    ASSERT_EQ(corio_timeout_enter(0.2, &to), 0);
    rc = corio_process_communicate(p, NULL, 0, &d, &n, &e, &en);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_process_kill(p), 0);
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, &n, &e, &en), 0);
    ASSERT(n == 4 && memcmp(d, "out\n", 4) == 0);
    ASSERT(en == 4 && memcmp(e, "err\n", 4) == 0);
    ASSERT_EQ(corio_process_free(p), 0);
    return 0;
}
TEST(proc_cancel_wait) {
    on_loop(cancel_body, NULL);
    return 0;
}

/* ---- the child gets only what it was given ------------------------------------------ */

static int no_inherit_body(void *arg, void **res) {
    (void)arg, (void)res;
    /* A descriptor the program made without close-on-exec, and corio's
     * own (the backend's, a socket, a stream's pipe): none reaches it. */
    int leaky = dup(0);
    ASSERT(leaky > 2);
    int s;
    ASSERT_EQ(corio_socket(AF_INET, SOCK_STREAM, 0, &s), 0);
    /* a signal blocked and SIGPIPE ignored here: the child starts clean */
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old);
    struct sigaction ign = {.sa_handler = SIG_IGN}, oldpipe;
    sigaction(SIGPIPE, &ign, &oldpipe);
    corio_process_options o = modes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    char out[512];
    int rc;
    int r = sh_output("ls /proc/self/fd; grep -E 'SigBlk|SigIgn' /proc/self/status", &o, NULL, out,
                      sizeof out, &rc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGPIPE, &oldpipe, NULL);
    ASSERT_EQ(r, 0);
    /* 3 is ls's own directory */
    ASSERT_STR(out, "0\n1\n2\n3\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    close(leaky);
    ASSERT_EQ(corio_close_fd(s), 0);
    return 0;
}
TEST(proc_no_inherited_fds) {
    if (getenv("CORIO_TEST_EMULATED")) {
        puts("skipped: qemu-user keeps descriptors and signal state of its own in the child");
        return TEST_SKIP;
    }
    on_loop(no_inherit_body, NULL);
    return 0;
}

/* ---- a thousand children, fifty at a time ---------------------------------------- */

#define MANY 1000
#define AT_ONCE 50

static corio_semaphore *many_sem;
static int many_done;

static int one_child(void *arg, void **res) {
    (void)res;
    int i = (int)(intptr_t)arg;
    int rc = corio_semaphore_acquire(many_sem);
    if (rc < 0) return rc;
    char num[16], want[32];
    snprintf(num, sizeof num, "%d", i);
    const char *argv[] = {"/bin/sh", "-c", "echo \"child $1\"; echo \"err $1\" >&2; exit $(($1 % 7))", "sh", num, NULL};
    corio_process_options o = modes(CORIO_STDIO_DEVNULL, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    corio_process *p;
    rc = corio_create_subprocess_exec(argv, &o, &p);
    if (rc == 0) {
        const void *d, *e;
        size_t n, en;
        rc = corio_process_communicate(p, NULL, 0, &d, &n, &e, &en);
        ASSERT_EQ(rc, 0);
        int len = snprintf(want, sizeof want, "child %d\n", i);
        ASSERT(n == (size_t)len && memcmp(d, want, n) == 0);
        len = snprintf(want, sizeof want, "err %d\n", i);
        ASSERT(en == (size_t)len && memcmp(e, want, en) == 0);
        int code;
        ASSERT_EQ(corio_process_returncode(p, &code), 0);
        ASSERT_EQ(code, i % 7);
        ASSERT_EQ(corio_process_free(p), 0);
        many_done++;
    }
    corio_semaphore_release(many_sem);
    return rc;
}

static int thousand_body(void *arg, void **res) {
    (void)arg, (void)res;
    int fds = count_fds();
    ASSERT_EQ(corio_semaphore_new(&many_sem, AT_ONCE), 0);
    corio_aw *aws = calloc(MANY, sizeof *aws);
    ASSERT(aws);
    for (int i = 0; i < MANY; i++) aws[i] = CORIO_CORO(one_child, (void *)(intptr_t)i);
    ASSERT_EQ(corio_gather_wait(aws, MANY, 0, NULL), 0);
    ASSERT_EQ(many_done, MANY);
    free(aws);
    ASSERT_EQ(corio_semaphore_free(many_sem), 0);
    int z = -1;
    ASSERT_EQ(children(&z), 0);
    ASSERT_EQ(z, 0);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}
TEST(proc_thousand_children) {
    on_loop(thousand_body, NULL);
    return 0;
}

/* The same few in copy-stack mode (communicate's reader tasks read nothing
 * of a suspended task's frame). */
static int copy_body(void *arg, void **res) {
    (void)arg, (void)res;
    ASSERT_EQ(corio_semaphore_new(&many_sem, 4), 0);
    corio_aw aws[12];
    for (int i = 0; i < 12; i++) aws[i] = CORIO_CORO(one_child, (void *)(intptr_t)i);
    many_done = 0;
    ASSERT_EQ(corio_gather_wait(aws, 12, 0, NULL), 0);
    ASSERT_EQ(many_done, 12);
    ASSERT_EQ(corio_semaphore_free(many_sem), 0);
    return 0;
}
TEST(proc_copy_mode) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, copy_body, NULL, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

/* ---- freed while running: reaped all the same ----------------------------------- */

/* What a body hands back to the test after its loop closed. */
typedef struct held {
    int fd[2];        /* write ends of children's stdin, kept by the test */
    corio_process *p; /* a process the test frees after the loop closed */
    corio_process *q; /* one whose child exited, not yet reaped, when the loop closed */
} held;

static int free_running_body(void *arg, void **res) {
    (void)res;
    held *h = arg;
    corio_process_options o = modes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, 0);
    corio_process *p;
    /* Freed while cat runs: its stdin closes, it exits, the loop reaps it. */
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p), 0);
    ASSERT_EQ(corio_process_free(p), 0);
    no_children_left();
    /* Freed with a child that outlives the loop (stdin: a pipe the test
     * holds): a thread reaps it once it ends. */
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    o = modes(CORIO_STDIO_FD, CORIO_STDIO_DEVNULL, 0);
    o.stdin_fd = fds[0];
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p), 0);
    close(fds[0]);
    h->fd[0] = fds[1];
    ASSERT_EQ(corio_process_free(p), 0);
    /* And one the program still holds when the loop closes. */
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    o.stdin_fd = fds[0];
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p), 0);
    close(fds[0]);
    h->fd[1] = fds[1];
    /* a waiter the loop's close destroys */
    ASSERT_EQ(corio_create_task(waiter, p, "waiter", NULL), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    h->p = p;
    /* And one whose child has exited when the loop closes, with a waiter
     * the close destroys: the close reaps it. */
    o = modes(CORIO_STDIO_PIPE, 0, 0);
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p), 0);
    ASSERT_EQ(corio_create_task(waiter, p, "waiter2", NULL), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_stream_close(corio_process_stdin(p)), 0); /* cat ends */
    siginfo_t si;
    ASSERT_EQ(waitid(P_PID, (id_t)corio_process_pid(p), &si, WEXITED | WNOWAIT), 0); /* a zombie now */
    h->q = p;
    /* The loop stops in this iteration, before a poll could see the exit:
     * this task stays pending and the close destroys it. */
    ASSERT_EQ(corio_loop_stop(corio_get_running_loop()), 0);
    return corio_sleep(60);
}

TEST(proc_free_running) {
    int fds = count_fds();
    held hold;
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_loop_set_exception_handler(loop, quiet, NULL);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, free_running_body, &hold, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), CORIO_EINVALSTATE);
    corio_future_unref(t);
    corio_process *p = hold.p;
    ASSERT_EQ(children(NULL), 3);
    close_loop(loop);
    int rc;
    ASSERT_EQ(corio_process_returncode(hold.q, &rc), 0); /* reaped by the close */
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(children(NULL), 2);
    ASSERT_EQ(corio_process_free(hold.q), 0);
    ASSERT_EQ(corio_process_returncode(p, &rc), CORIO_EINVALSTATE);
    ASSERT_EQ(corio_process_wait(p, &rc), CORIO_ENOTINTASK);
    close(hold.fd[1]); /* the held one's cat ends */
    for (int i = 0; i < 1000 && corio_process_returncode(p, &rc) < 0; i++) usleep(10000);
    ASSERT_EQ(corio_process_returncode(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(corio_process_send_signal(p, SIGTERM), -ESRCH);
    ASSERT_EQ(corio_process_free(p), 0);
    close(hold.fd[0]); /* the freed one's cat ends; the thread reaps it */
    int z = 0;
    for (int i = 0; i < 1000 && (children(&z) > 0 || count_fds() != fds); i++) usleep(10000);
    ASSERT_EQ(children(&z), 0);
    ASSERT_EQ(z, 0);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

/* A process freed after the loop closed, its child still running: a
 * thread reaps it. */
static int free_after_close_body(void *arg, void **res) {
    (void)res;
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    corio_process_options o = modes(CORIO_STDIO_FD, 0, 0);
    o.stdin_fd = fds[0];
    corio_process *p;
    ASSERT_EQ(corio_create_subprocess_exec((const char *[]){"cat", NULL}, &o, &p), 0);
    close(fds[0]);
    held *h = arg;
    h->fd[0] = fds[1];
    h->p = p;
    return 0;
}
TEST(proc_free_after_loop_close) {
    int fds = count_fds();
    held hold;
    on_loop(free_after_close_body, &hold);
    corio_process *p = hold.p;
    ASSERT_EQ(corio_process_free(p), 0);
    close(hold.fd[0]);
    int z = 0;
    for (int i = 0; i < 1000 && (children(&z) > 0 || count_fds() != fds); i++) usleep(10000);
    ASSERT_EQ(children(&z), 0);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

/* ---- bad input ------------------------------------------------------------------------ */

static int bad_input_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process *p = (corio_process *)1;
    ASSERT_EQ(corio_create_subprocess_exec(NULL, NULL, &p), CORIO_EINVAL);
    ASSERT(p == NULL);
    const char *empty[] = {NULL};
    ASSERT_EQ(corio_create_subprocess_exec(empty, NULL, &p), CORIO_EINVAL);
    const char *blank[] = {"", NULL};
    ASSERT_EQ(corio_create_subprocess_exec(blank, NULL, &p), CORIO_EINVAL);
    const char *ok[] = {"true", NULL};
    ASSERT_EQ(corio_create_subprocess_exec(ok, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_create_subprocess_shell(NULL, NULL, &p), CORIO_EINVAL);
    corio_process_options o = modes(CORIO_STDIO_STDOUT, 0, 0); /* STDOUT for stdin */
    ASSERT_EQ(corio_create_subprocess_exec(ok, &o, &p), CORIO_EINVAL);
    o = modes(0, 0, 99);
    ASSERT_EQ(corio_create_subprocess_exec(ok, &o, &p), CORIO_EINVAL);
    o = modes(0, CORIO_STDIO_FD, 0);
    o.stdout_fd = -1;
    ASSERT_EQ(corio_create_subprocess_exec(ok, &o, &p), CORIO_EINVAL);
    int rc = 1;
    ASSERT_EQ(corio_process_pid(NULL), CORIO_EINVAL);
    ASSERT(corio_process_stdin(NULL) == NULL);
    ASSERT(corio_process_stdout(NULL) == NULL);
    ASSERT(corio_process_stderr(NULL) == NULL);
    ASSERT_EQ(corio_process_wait(NULL, &rc), CORIO_EINVAL);
    ASSERT_EQ(corio_process_returncode(NULL, &rc), CORIO_EINVAL);
    ASSERT_EQ(corio_process_communicate(NULL, NULL, 0, NULL, NULL, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_process_send_signal(NULL, SIGTERM), CORIO_EINVAL);
    ASSERT_EQ(corio_process_terminate(NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_process_kill(NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_process_free(NULL), 0);
    /* input for a stdin that is not a pipe; a NULL length pointer */
    ASSERT_EQ(corio_create_subprocess_exec(ok, NULL, &p), 0);
    ASSERT_EQ(corio_process_communicate(p, "x", 1, NULL, NULL, NULL, NULL), CORIO_EINVAL);
    const void *d;
    ASSERT_EQ(corio_process_communicate(p, NULL, 0, &d, NULL, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_process_returncode(p, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_process_wait(p, NULL), 0);
    ASSERT_EQ(corio_process_free(p), 0);
    return 0;
}
TEST(proc_bad_input) {
    on_loop(bad_input_body, NULL);
    /* outside a task */
    corio_process *p;
    const char *ok[] = {"true", NULL};
    ASSERT_EQ(corio_create_subprocess_exec(ok, NULL, &p), CORIO_ENOTINTASK);
    return 0;
}

/* ---- every stand-in call failed in turn -------------------------------------------- */

static int fault_past_end;

static int fault_body(void *arg, void **res) {
    (void)res;
    long nth = (long)(intptr_t)arg;
    corio_process_options o = modes(CORIO_STDIO_PIPE, CORIO_STDIO_PIPE, CORIO_STDIO_PIPE);
    corio_process *p = NULL;
    corio__fail_after(nth);
    int rc = corio_create_subprocess_shell("cat; echo e >&2", &o, &p);
    const void *d = NULL, *e = NULL;
    size_t n = 0, en = 0;
    if (rc == 0) rc = corio_process_communicate(p, "in", 2, &d, &n, &e, &en);
    long made = corio__fail_after(0);
    if (rc == 0) {
        ASSERT(n == 2 && en == 2);
    } else {
        ASSERT(rc < 0);
    }
    if (p) {
        if (rc < 0) corio_process_kill(p);
        ASSERT_EQ(corio_process_wait(p, NULL), 0);
        ASSERT_EQ(corio_process_free(p), 0);
    }
    fault_past_end = rc == 0 && made < nth;
    return 0;
}
TEST(proc_fault_injection) {
    int fds = count_fds();
    for (long nth = 1; nth < 400; nth++) {
        on_loop(fault_body, (void *)(intptr_t)nth);
        if (fault_past_end) break;
    }
    ASSERT(fault_past_end);
    ASSERT_EQ(children(NULL), 0);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

/* SIGCHLD ignored by the program: the kernel reaps the child itself, and
 * the code is asyncio's 255 for a child it could not wait for. */
static int sigchld_ignored_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_process *p;
    ASSERT_EQ(corio_create_subprocess_shell("exit 3", NULL, &p), 0);
    int rc = 0;
    ASSERT_EQ(corio_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 255);
    ASSERT_EQ(corio_process_free(p), 0);
    return 0;
}
TEST(proc_sigchld_ignored) {
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGCHLD, &ign, &old);
    on_loop(sigchld_ignored_body, NULL);
    sigaction(SIGCHLD, &old, NULL);
    ASSERT_EQ(children(NULL), 0);
    return 0;
}
