/* A hostile review of the signals (io.md 7): calls in the wrong order,
 * bad numbers, the awaitable form's edges, corio_run's SIGINT against
 * what asyncio.run does (3.11 and 3.13, checked with the real
 * interpreter), a signal storm with no lost wake-up, loops freed while
 * signals fly. Every test leaves each disposition as it found it; the
 * ones that may end a process by SIGINT run in a child. */
#include "test.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct sigaction get_sa(int sig) {
    struct sigaction sa;
    ASSERT_EQ(sigaction(sig, NULL, &sa), 0);
    return sa;
}

static int is_dfl(int sig) { return get_sa(sig).sa_handler == SIG_DFL; }

static atomic_int own_calls; /* the program's own handlers count here */
static void own_handler(int sig) {
    (void)sig;
    atomic_fetch_add(&own_calls, 1);
}
static void own_info_handler(int sig, siginfo_t *si, void *ctx) {
    (void)sig, (void)si, (void)ctx;
    atomic_fetch_add(&own_calls, 1);
}

/* The program's own handler for sig (so that a test bug cannot kill the
 * runner); returns the disposition before. */
static struct sigaction own(int sig) {
    struct sigaction sa = {0}, old;
    sa.sa_handler = own_handler;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(sig, &sa, &old), 0);
    return old;
}

static void note(void *arg) { (*(int *)arg)++; }
static void stop_cb(void *arg) { corio_loop_stop(arg); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- wrong order ---------------------------------------------------------------- */

typedef struct order_state {
    corio_loop *loop;
    int usr1, usr2, close_rc, free_rc, add_rc, remove_rc;
} order_state;

static void usr2_removes_itself(void *arg) {
    order_state *st = arg;
    st->usr2++;
    st->remove_rc = corio_loop_remove_signal_handler(st->loop, SIGUSR2);
    corio_loop_stop(st->loop);
}

static void usr1_adds_usr2(void *arg) {
    order_state *st = arg;
    st->usr1++;
    st->add_rc = corio_loop_add_signal_handler(st->loop, SIGUSR2, usr2_removes_itself, st);
    st->close_rc = corio_loop_close(st->loop); /* running: refused */
    st->free_rc = corio_loop_free(st->loop);   /* the same */
    raise(SIGUSR2);
}

TEST(sig_rev_order) {
    struct sigaction o1 = own(SIGUSR1), o2 = own(SIGUSR2);
    order_state st = {0};
    ASSERT_EQ(corio_loop_new(&st.loop), 0);
    /* remove before add, add twice, remove twice */
    ASSERT_EQ(corio_loop_remove_signal_handler(st.loop, SIGUSR1), 0);
    int x = 0;
    ASSERT_EQ(corio_loop_add_signal_handler(st.loop, SIGUSR1, note, &x), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(st.loop, SIGUSR1, note, &x), 0);
    ASSERT(get_sa(SIGUSR1).sa_handler != own_handler);
    ASSERT_EQ(corio_loop_remove_signal_handler(st.loop, SIGUSR1), 1);
    ASSERT(get_sa(SIGUSR1).sa_handler == own_handler); /* one removal undoes two adds */
    ASSERT_EQ(corio_loop_remove_signal_handler(st.loop, SIGUSR1), 0);
    /* add from a handler, remove from a handler, close/free refused in one */
    ASSERT_EQ(corio_loop_add_signal_handler(st.loop, SIGUSR1, usr1_adds_usr2, &st), 0);
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_EQ(corio_loop_run_forever(st.loop), 0);
    ASSERT_EQ(st.usr1, 1);
    ASSERT_EQ(st.usr2, 1);
    ASSERT_EQ(st.add_rc, 0);
    ASSERT_EQ(st.remove_rc, 1);
    ASSERT_EQ(st.close_rc, CORIO_EBUSY);
    ASSERT_EQ(st.free_rc, CORIO_EBUSY);
    ASSERT(get_sa(SIGUSR2).sa_handler == own_handler);
    ASSERT_EQ(atomic_load(&own_calls), 0);
    /* freed with a handler still registered: the disposition comes back */
    ASSERT_EQ(corio_loop_free(st.loop), 0);
    ASSERT(get_sa(SIGUSR1).sa_handler == own_handler);
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_EQ(atomic_load(&own_calls), 1);
    ASSERT_EQ(sigaction(SIGUSR1, &o1, NULL), 0);
    ASSERT_EQ(sigaction(SIGUSR2, &o2, NULL), 0);
    return 0;
}

/* ---- numbers --------------------------------------------------------------------- */

static const int bad[] = {INT_MAX, INT_MIN, -1, 0, 65, 66, 128, 32, 33};

static int bad_numbers_task(void *arg, void **res) {
    (void)arg, (void)res;
    /* in a task, each refusal says the call and the number */
    int x = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_EQ(corio_loop_add_signal_handler(corio_get_running_loop(), bad[i], note, &x),
                  CORIO_EINVAL);
        const char *m = corio_error_message(corio_current_error());
        char num[32];
        snprintf(num, sizeof num, "%d", bad[i]);
        ASSERT(m && strstr(m, "add_signal_handler") && strstr(m, num));
    }
    int which = 5;
    int dup[] = {SIGUSR1, SIGUSR1, SIGUSR1};
    int mixed[] = {SIGUSR1, 32}; /* 32 passes the range check, sigaction refuses it */
    int huge[] = {SIGUSR1, INT_MIN};
    ASSERT_EQ(corio_wait_signal(dup, 0, &which), CORIO_EINVAL);
    ASSERT_EQ(which, 0);
    ASSERT_EQ(corio_wait_signal(NULL, 3, &which), CORIO_EINVAL);
    ASSERT_EQ(corio_wait_signal(huge, 2, &which), CORIO_EINVAL);
    ASSERT(strstr(corio_error_message(corio_current_error()), "invalid signal number -2147483648"));
    ASSERT_EQ(corio_wait_signal(mixed, 2, &which), CORIO_EINVAL);
    ASSERT(is_dfl(SIGUSR1)); /* the first one was let go of */
    return 0;
}

TEST(sig_rev_bad_numbers) {
    if (getenv("CORIO_TEST_EMULATED")) {
        puts("skipped: qemu-user keeps the last real-time signals for itself");
        return TEST_SKIP;
    }
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    int x = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_EQ(corio_loop_add_signal_handler(loop, bad[i], note, &x), CORIO_EINVAL);
    for (size_t i = 0; i < 6; i++)
        ASSERT_EQ(corio_loop_remove_signal_handler(loop, bad[i]), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, 32), 0);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, 64), 0);
    /* 64 (SIGRTMAX) and SIGRTMIN are real signals: caught, and put back */
    ASSERT_EQ(corio_loop_add_signal_handler(loop, 64, stop_cb, loop), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGRTMIN, note, &x), 0);
    ASSERT_EQ(raise(SIGRTMIN), 0);
    ASSERT_EQ(raise(64), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), 0);
    ASSERT_EQ(x, 1);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, 64), 1);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, SIGRTMIN), 1);
    ASSERT(is_dfl(64) && is_dfl(SIGRTMIN));
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, bad_numbers_task, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    ASSERT(is_dfl(SIGUSR1));
    return 0;
}

/* ---- the awaitable form: cancel at every point, copy mode, close ------------------- */

static int wait_usr(void *arg, void **res) {
    (void)res;
    int sigs[] = {SIGUSR1, SIGUSR2, SIGUSR1}; /* a duplicate too */
    int which = -1;
    int rc = corio_wait_signal(sigs, 3, &which);
    if (arg) *(int *)arg = which;
    return rc;
}

static int cancelled_before_wait(void *arg, void **res) {
    (void)arg, (void)res;
    corio_task_cancel(corio_current_task(), NULL); /* pending before the wait starts */
    int sigs[] = {SIGUSR1};
    int rc = corio_wait_signal(sigs, 1, NULL);
    return rc == CORIO_ECANCELED && is_dfl(SIGUSR1) ? 0 : CORIO_EUSER(1);
}

/* Other tasks write these: not in the frame, which copy mode moves. */
static int ew_which, ew_h;

static int wait_edges_main(void *arg, void **res) {
    (void)arg, (void)res;
    /* a timeout already expired */
    corio_timeout *cm;
    int sigs[] = {SIGUSR1};
    ASSERT_EQ(corio_timeout_enter(0, &cm), 0);
    ASSERT_EQ(corio_timeout_exit(cm, corio_wait_signal(sigs, 1, NULL)), CORIO_ETIMEDOUT);
    ASSERT(is_dfl(SIGUSR1));
    /* a cancel pending before the wait */
    corio_task *t;
    ASSERT_EQ(corio_create_task(cancelled_before_wait, NULL, NULL, &t), 0);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    /* woken, then cancelled before it resumed: either outcome, nothing left */
    ew_which = -1;
    ASSERT_EQ(corio_create_task(wait_usr, &ew_which, NULL, &t), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT(!is_dfl(SIGUSR1) && !is_dfl(SIGUSR2));
    ASSERT_EQ(raise(SIGUSR2), 0);
    /* let the loop take it: a callback after the source phase */
    for (int i = 0; i < 3 && !corio_future_done(t); i++) {
        corio_task_cancel(t, NULL);
        ASSERT_EQ(corio_sleep(0), 0);
    }
    int rc = corio_await(t, NULL);
    ASSERT(rc == 0 || rc == CORIO_ECANCELED);
    if (rc == 0) ASSERT_EQ(ew_which, SIGUSR2);
    corio_future_unref(t);
    ASSERT(is_dfl(SIGUSR1) && is_dfl(SIGUSR2));
    /* a waiter and a handler of the same signal; the handler removed while
     * the task waits: the signal stays caught for the waiter */
    ew_h = 0;
    corio_loop *loop = corio_get_running_loop();
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR1, note, &ew_h), 0);
    ASSERT_EQ(corio_create_task(wait_usr, &ew_which, NULL, &t), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, SIGUSR1), 1);
    ASSERT(!is_dfl(SIGUSR1));
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_EQ(corio_await(t, NULL), 0);
    ASSERT_EQ(ew_which, SIGUSR1);
    ASSERT_EQ(ew_h, 0);
    corio_future_unref(t);
    ASSERT(is_dfl(SIGUSR1) && is_dfl(SIGUSR2));
    return 0;
}

TEST(sig_rev_wait_edges) {
    on_loop(wait_edges_main, NULL);
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, wait_edges_main, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

/* Copy mode: a waiter (malloc'ed there) destroyed at close, pending or
 * already woken but not resumed; nothing leaks (ASan), dispositions back. */
static void raise_usr1(void *arg) {
    (void)arg;
    raise(SIGUSR1);
}

TEST(sig_rev_copy_mode_close) {
    for (int woken = 0; woken < 2; woken++) {
        corio_loop *loop;
        ASSERT_EQ(corio_loop_new(&loop), 0);
        ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
        ASSERT_EQ(corio_loop_set_exception_handler(loop, quiet, NULL), 0);
        for (int i = 0; i < 3; i++) ASSERT_EQ(corio_loop_create_task(loop, wait_usr, NULL, NULL, 0, NULL), 0);
        ASSERT_EQ(corio_call_soon(loop, woken ? raise_usr1 : stop_cb, loop, NULL), 0);
        /* woken: the stop comes in the iteration that takes the signal,
         * before the tasks resume */
        if (woken) ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR1, stop_cb, loop), 0);
        ASSERT_EQ(corio_loop_run_forever(loop), 0);
        ASSERT(!is_dfl(SIGUSR1));
        close_loop(loop);
        ASSERT(is_dfl(SIGUSR1) && is_dfl(SIGUSR2));
    }
    return 0;
}

/* ---- virtual time ------------------------------------------------------------------ */

static int raise_later(void *arg, void **res) {
    (void)res;
    ASSERT_EQ(corio_sleep(100), 0);
    return raise((int)(intptr_t)arg) == 0 ? 0 : CORIO_ERUNTIME;
}

static int vt_main(void *arg, void **res) {
    (void)arg, (void)res;
    ASSERT_EQ(corio_create_task(raise_later, (void *)(intptr_t)SIGUSR2, NULL, NULL), 0);
    int which = 0;
    ASSERT_EQ(wait_usr(&which, NULL), 0);
    ASSERT_EQ(which, SIGUSR2);
    ASSERT(corio_loop_time(corio_get_running_loop()) >= 100);
    /* nothing will send it: the wait is a deadlock, as documented */
    return 0;
}

static int vt_deadlock(void *arg, void **res) {
    (void)arg, (void)res;
    return wait_usr(NULL, NULL);
}

TEST(sig_rev_virtual_time) {
    corio_loop *loop = vloop();
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, vt_main, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT(is_dfl(SIGUSR1) && is_dfl(SIGUSR2));
    ASSERT_EQ(corio_loop_set_exception_handler(loop, quiet, NULL), 0);
    ASSERT_EQ(corio_loop_create_task(loop, vt_deadlock, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), CORIO_EDEADLK);
    corio_future_unref(t);
    close_loop(loop);
    ASSERT(is_dfl(SIGUSR1) && is_dfl(SIGUSR2));
    return 0;
}

/* ---- corio_run and SIGINT, against asyncio.run ---------------------------------------- */

/* Runs fn(fd) in a child with SIGINT at its default and unblocked; its
 * output (written to fd) in out; returns the wait status. */
static int in_child(void (*fn)(int fd), char *out, size_t cap) {
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        signal(SIGINT, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        fn(p[1]);
        _exit(0);
    }
    close(p[1]);
    size_t len = 0;
    for (;;) {
        struct pollfd pf = {p[0], POLLIN, 0};
        ASSERT(poll(&pf, 1, 60000) == 1);
        ASSERT(len + 1 < cap);
        ssize_t n = read(p[0], out + len, cap - 1 - len);
        ASSERT(n >= 0);
        if (n == 0) break;
        len += (size_t)n;
    }
    out[len] = 0;
    close(p[0]);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    return status;
}

static int child_fd;

static int other_sleeps(void *arg, void **res) {
    (void)arg, (void)res;
    int rc = corio_sleep(30);
    if (rc == CORIO_ECANCELED) dprintf(child_fd, "other cancelled|");
    return rc;
}

/* asyncio: main() sends itself SIGINT and returns 7 at once:
 * KeyboardInterrupt (3.11, 3.13). */
static int sigint_then_return(void *arg, void **res) {
    (void)arg, (void)res;
    ASSERT_EQ(corio_create_task(other_sleeps, NULL, NULL, NULL), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    raise(SIGINT);
    return 7;
}

/* asyncio: a done callback of the main task sends SIGINT (the Ctrl-C
 * comes as main() ends): KeyboardInterrupt (3.11, 3.13). */
static void sigint_cb(corio_future *f, void *arg) {
    (void)f, (void)arg;
    raise(SIGINT);
}

static int sigint_from_done_cb(void *arg, void **res) {
    (void)arg, (void)res;
    ASSERT_EQ(corio_create_task(other_sleeps, NULL, NULL, NULL), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_future_add_done_callback(corio_current_task(), sigint_cb, NULL), 0);
    return 7;
}

/* asyncio: loop.remove_signal_handler(SIGINT) in main() is False (the
 * Runner's handler is not the loop's), and a later Ctrl-C still cancels
 * main(): KeyboardInterrupt after the clean-up (3.11, 3.13). */
static int removes_sigint(void *arg, void **res) {
    (void)arg, (void)res;
    ASSERT_EQ(corio_create_task(other_sleeps, NULL, NULL, NULL), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    dprintf(child_fd, "remove=%d|", corio_loop_remove_signal_handler(corio_get_running_loop(), SIGINT));
    raise(SIGINT);
    int rc = corio_sleep(30);
    if (rc == CORIO_ECANCELED) dprintf(child_fd, "main cancelled|");
    return rc;
}

static corio_fn child_main_fn;

static void run_child(int fd) {
    child_fd = fd;
    int rc = corio_run(child_main_fn, NULL, NULL);
    dprintf(fd, "rc=%d %s", rc, is_dfl(SIGINT) ? "default" : "caught");
}

static int child_run(corio_fn fn, char *out, size_t cap) {
    child_main_fn = fn;
    return in_child(run_child, out, cap);
}

TEST(sig_rev_run_sigint_as_main_returns) {
    char out[256];
    int st = child_run(sigint_then_return, out, sizeof out);
    ASSERT(WIFEXITED(st));
    ASSERT_STR(out, "other cancelled|rc=-4023 default");
    return 0;
}

TEST(sig_rev_run_sigint_in_done_callback) {
    char out[256];
    int st = child_run(sigint_from_done_cb, out, sizeof out);
    ASSERT(WIFEXITED(st));
    ASSERT_STR(out, "other cancelled|rc=-4023 default");
    return 0;
}

TEST(sig_rev_run_remove_sigint) {
    char out[256];
    int st = child_run(removes_sigint, out, sizeof out);
    ASSERT(WIFEXITED(st)); /* not killed by the raw signal */
    ASSERT_STR(out, "remove=0|main cancelled|other cancelled|rc=-4023 default");
    return 0;
}

/* Nested runs are refused and leave the run's SIGINT alone; a run in a
 * second thread during the main one takes no SIGINT; the main run still
 * turns Ctrl-C into its cancel. */
static void *thread_run(void *arg);

static int nested_inner(void *arg, void **res) {
    (void)arg, (void)res;
    return 0;
}

static int nested_main(void *arg, void **res) {
    (void)arg, (void)res;
    struct sigaction before = get_sa(SIGINT);
    dprintf(child_fd, "nested=%d|", corio_run(nested_inner, NULL, NULL));
    corio_loop *l2;
    ASSERT_EQ(corio_loop_new(&l2), 0);
    dprintf(child_fd, "nested_main=%d|", corio_loop_run_main(l2, nested_inner, NULL, NULL));
    ASSERT_EQ(corio_loop_free(l2), 0);
    pthread_t th;
    int trc = 1;
    ASSERT_EQ(pthread_create(&th, NULL, thread_run, &trc), 0);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    dprintf(child_fd, "thread=%d|", trc);
    ASSERT(get_sa(SIGINT).sa_handler == before.sa_handler);
    raise(SIGINT);
    int rc = corio_sleep(30);
    if (rc == CORIO_ECANCELED) dprintf(child_fd, "main cancelled|");
    return rc;
}

static int thread_inner(void *arg, void **res) {
    (void)res;
    *(int *)arg = is_dfl(SIGINT); /* the main run's handler, not this run's */
    return 0;
}

static void *thread_run(void *arg) {
    int seen = 1;
    int rc = corio_run(thread_inner, &seen, NULL);
    *(int *)arg = rc == 0 && !seen && !is_dfl(SIGINT) ? 0 : 1;
    return NULL;
}

TEST(sig_rev_run_nested_and_threads) {
    char out[256];
    int st = child_run(nested_main, out, sizeof out);
    ASSERT(WIFEXITED(st));
    ASSERT_STR(out, "nested=-4004|nested_main=-4004|thread=0|main cancelled|rc=-4023 default");
    return 0;
}

/* The program's own SIGINT handler (SA_SIGINFO, with a mask and flags)
 * is left to it by corio_run, and any handler's exact disposition comes
 * back after add/remove. */
static int own_sigint_main(void *arg, void **res) {
    (void)arg, (void)res;
    raise(SIGINT);
    return corio_sleep(0);
}

static int same_sa(struct sigaction a, struct sigaction b) {
    if (a.sa_flags != b.sa_flags) return 0;
    if ((a.sa_flags & SA_SIGINFO) ? a.sa_sigaction != b.sa_sigaction : a.sa_handler != b.sa_handler)
        return 0;
    for (int s = 1; s < 65; s++)
        if (s != 32 && s != 33 && sigismember(&a.sa_mask, s) != sigismember(&b.sa_mask, s)) return 0;
    return 1;
}

TEST(sig_rev_own_handler_preserved) {
    struct sigaction sa = {0}, old_int, old_usr;
    sa.sa_sigaction = own_info_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaddset(&sa.sa_mask, SIGTERM);
    ASSERT_EQ(sigaction(SIGINT, &sa, &old_int), 0);
    ASSERT_EQ(sigaction(SIGUSR1, &sa, &old_usr), 0);
    struct sigaction want = get_sa(SIGINT);
    atomic_store(&own_calls, 0);
    ASSERT_EQ(corio_run(own_sigint_main, NULL, NULL), 0);
    ASSERT_EQ(atomic_load(&own_calls), 1);
    ASSERT(same_sa(get_sa(SIGINT), want));
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    int x = 0;
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR1, note, &x), 0);
    ASSERT(!same_sa(get_sa(SIGUSR1), want));
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, SIGUSR1), 1);
    ASSERT(same_sa(get_sa(SIGUSR1), want));
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR1, note, &x), 0);
    close_loop(loop);
    ASSERT(same_sa(get_sa(SIGUSR1), want));
    ASSERT_EQ(sigaction(SIGINT, &old_int, NULL), 0);
    ASSERT_EQ(sigaction(SIGUSR1, &old_usr, NULL), 0);
    return 0;
}

/* ---- a storm: no lost wake-up, whichever thread is interrupted where ---------------- */

#define ROUNDS 200
#define BURST 50

/* Under TSan a signal's handler is deferred to the next intercepted call
 * of the fiber it landed on (each corio task is a TSan fiber; liburing
 * enters the kernel by a raw syscall): one that lands in a task making no
 * such call would wait forever there, a hang of TSan's, not corio's. So
 * under TSan the loop threads block the storm's signals and the sender
 * takes them (kill); the plain and ASan runs interrupt the loop threads. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

typedef struct storm_loop {
    corio_loop *loop;
    pthread_t self;
    atomic_int usr1, usr2; /* handler runs (the sender reads usr2) */
    int wrong;             /* a handler ran in another thread or loop */
    corio_event *all;
    atomic_int done;
} storm_loop;

static void storm_usr1(void *arg) {
    storm_loop *s = arg;
    if (!pthread_equal(pthread_self(), s->self) || corio_get_running_loop() != s->loop) s->wrong++;
    atomic_fetch_add(&s->usr1, 1);
}

static void storm_usr2(void *arg) {
    storm_loop *s = arg;
    if (!pthread_equal(pthread_self(), s->self) || corio_get_running_loop() != s->loop) s->wrong++;
    atomic_fetch_add(&s->usr2, 1);
}

static void storm_end(void *arg) { corio_event_set(((storm_loop *)arg)->all); }

/* Yields in bursts, then sleeps a little: the loop is interrupted both
 * while running tasks and while blocked in its poll. */
static int storm_yielder(void *arg, void **res) {
    (void)res;
    storm_loop *s = arg;
    for (int i = 0; !atomic_load(&s->done); i++) {
        int rc = (i % 100 == 99) ? corio_sleep(0.0002) : corio_sleep(0);
        if (rc < 0) return rc;
    }
    return 0;
}

static int storm_main(void *arg, void **res) {
    (void)res;
    storm_loop *s = arg;
    ASSERT_EQ(corio_event_new(&s->all), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(s->loop, SIGUSR1, storm_usr1, s), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(s->loop, SIGUSR2, storm_usr2, s), 0);
    corio_task *y[3];
    for (int i = 0; i < 3; i++) ASSERT_EQ(corio_create_task(storm_yielder, s, NULL, &y[i]), 0);
    atomic_store(&s->done, -1); /* ready: the sender may start */
    atomic_store(&s->done, 0);
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(120, &cm), 0);
    int rc = corio_timeout_exit(cm, corio_event_wait(s->all));
    atomic_store(&s->done, 1);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(corio_await(y[i], NULL), 0);
        corio_future_unref(y[i]);
    }
    ASSERT_EQ(corio_loop_remove_signal_handler(s->loop, SIGUSR1), 1);
    ASSERT_EQ(corio_loop_remove_signal_handler(s->loop, SIGUSR2), 1);
    ASSERT_EQ(corio_event_free(s->all), 0);
    return rc;
}

static void *storm_loop_thread(void *arg) {
    storm_loop *s = arg;
    s->self = pthread_self(); /* published by the store to done in storm_main */
    if (UNDER_TSAN) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGUSR2);
        ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
    }
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(s->loop, storm_main, s, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(s->loop, t, NULL), 0);
    corio_future_unref(t);
    return NULL;
}

/* The sender: bursts of SIGUSR1 to the process and to each loop thread,
 * then SIGUSR2 (to the process, or to each loop thread: every loop gets
 * each of those); the next round starts once every loop ran its SIGUSR2
 * handler since (so that none is merged away): a lost wake-up stops it
 * here. */
static void storm_send(storm_loop *ls, int n) {
    for (int r = 0; r < ROUNDS; r++) {
        int before[4];
        for (int i = 0; i < n; i++) before[i] = atomic_load(&ls[i].usr2);
        for (int j = 0; j < BURST; j++) {
            if (j % 2 || UNDER_TSAN) ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
            else ASSERT_EQ(pthread_kill(ls[j / 2 % n].self, SIGUSR1), 0);
        }
        if (r % 2 || UNDER_TSAN) ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
        else
            for (int i = 0; i < n; i++) ASSERT_EQ(pthread_kill(ls[i].self, SIGUSR2), 0);
        double end = now_s() + 60;
        for (int i = 0; i < n; i++)
            while (atomic_load(&ls[i].usr2) <= before[i]) {
                if (now_s() > end) {
                    fprintf(stderr, "loop %d: round %d: the SIGUSR2 handler never ran (lost wake-up)\n", i, r);
                    abort();
                }
                sched_yield();
            }
    }
}

static void storm(int nloops) {
    struct sigaction o1 = own(SIGUSR1), o2 = own(SIGUSR2);
    storm_loop ls[4];
    pthread_t th[4];
    memset(ls, 0, sizeof ls);
    for (int i = 0; i < nloops; i++) {
        ASSERT_EQ(corio_loop_new(&ls[i].loop), 0);
        atomic_store(&ls[i].done, 2);
    }
    for (int i = 0; i < nloops; i++) {
        ASSERT_EQ(pthread_create(&th[i], NULL, storm_loop_thread, &ls[i]), 0);
    }
    for (int i = 0; i < nloops; i++)
        while (atomic_load(&ls[i].done) == 2) sched_yield(); /* its handlers are in */
    storm_send(ls, nloops);
    for (int i = 0; i < nloops; i++) ASSERT_EQ(corio_call_soon_threadsafe(ls[i].loop, storm_end, &ls[i]), 0);
    for (int i = 0; i < nloops; i++) {
        ASSERT_EQ(pthread_join(th[i], NULL), 0);
        ASSERT_EQ(ls[i].wrong, 0);
        ASSERT(atomic_load(&ls[i].usr2) >= ROUNDS);
        ASSERT(atomic_load(&ls[i].usr2) <= ROUNDS * nloops);
        ASSERT(atomic_load(&ls[i].usr1) >= ROUNDS); /* at least one per round */
        ASSERT(atomic_load(&ls[i].usr1) <= ROUNDS * BURST);
        close_loop(ls[i].loop);
    }
    ASSERT_EQ(atomic_load(&own_calls), 0); /* every one went to corio's handler */
    ASSERT(get_sa(SIGUSR1).sa_handler == own_handler && get_sa(SIGUSR2).sa_handler == own_handler);
    ASSERT_EQ(sigaction(SIGUSR1, &o1, NULL), 0);
    ASSERT_EQ(sigaction(SIGUSR2, &o2, NULL), 0);
}

TEST(sig_rev_storm_one_loop) {
    storm(1);
    return 0;
}

TEST(sig_rev_storm_three_loops) {
    storm(3);
    return 0;
}

/* Loops made, listening (handlers, waiting tasks, copy mode) and freed
 * without a close, in two threads, while a third sends signals all the
 * time: no crash, no leak, and the program's handler back at the end. */
static void *churn_thread(void *arg) {
    (void)arg;
    int x = 0;
    for (int i = 0; i < 150; i++) {
        corio_loop *l;
        ASSERT_EQ(corio_loop_new(&l), 0);
        ASSERT_EQ(corio_loop_set_exception_handler(l, quiet, NULL), 0);
        if (i % 2) ASSERT_EQ(corio_loop_set_stack_mode(l, CORIO_STACK_COPY), 0);
        ASSERT_EQ(corio_loop_add_signal_handler(l, SIGUSR1, note, &x), 0);
        ASSERT_EQ(corio_loop_create_task(l, wait_usr, NULL, NULL, 0, NULL), 0);
        ASSERT_EQ(corio_call_later(l, 0.0001 * (i % 3), stop_cb, l, NULL), 0);
        ASSERT_EQ(corio_loop_run_forever(l), 0);
        ASSERT_EQ(corio_loop_free(l), 0);
    }
    return NULL;
}

static void *churn_sender(void *arg) {
    atomic_int *stop = arg;
    for (int i = 0; i < 30000 && !atomic_load(stop); i++) {
        kill(getpid(), i % 3 ? SIGUSR1 : SIGUSR2);
        if (i % 16 == 0) sched_yield();
    }
    return NULL;
}

TEST(sig_rev_churn_free) {
    struct sigaction o1 = own(SIGUSR1), o2 = own(SIGUSR2);
    atomic_int stop = 0;
    pthread_t s, a, b;
    ASSERT_EQ(pthread_create(&s, NULL, churn_sender, &stop), 0);
    ASSERT_EQ(pthread_create(&a, NULL, churn_thread, NULL), 0);
    ASSERT_EQ(pthread_create(&b, NULL, churn_thread, NULL), 0);
    ASSERT_EQ(pthread_join(a, NULL), 0);
    ASSERT_EQ(pthread_join(b, NULL), 0);
    atomic_store(&stop, 1);
    ASSERT_EQ(pthread_join(s, NULL), 0);
    ASSERT(get_sa(SIGUSR1).sa_handler == own_handler && get_sa(SIGUSR2).sa_handler == own_handler);
    ASSERT_EQ(sigaction(SIGUSR1, &o1, NULL), 0);
    ASSERT_EQ(sigaction(SIGUSR2, &o2, NULL), 0);
    return 0;
}

/* More loops listening than the table holds: a clear CORIO_ENOMEM with a
 * message, and a slot let go of is taken again. */
static corio_loop *full_loop;

static int add_to_full(void *arg, void **res) {
    (void)arg, (void)res;
    int x = 0;
    ASSERT_EQ(corio_loop_add_signal_handler(full_loop, SIGUSR2, note, &x), CORIO_ENOMEM);
    ASSERT(strstr(corio_error_message(corio_current_error()), "add_signal_handler"));
    return 0;
}

TEST(sig_rev_table_full) {
    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2200 && rl.rlim_max >= 2200) {
        struct rlimit more = {2200, rl.rlim_max};
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &more), 0);
    } else if (rl.rlim_cur < 2200) {
        printf("fewer than 2200 descriptors allowed: skipped\n");
        return TEST_SKIP;
    }
    enum { N = 1025 };
    corio_loop **ls = calloc(N, sizeof *ls);
    ASSERT(ls);
    corio_loop_options eo = {CORIO_BACKEND_EPOLL};
    int x = 0, i;
    for (i = 0; i < N; i++) {
        ASSERT_EQ(corio_loop_new_with(&ls[i], &eo), 0);
        int rc = corio_loop_add_signal_handler(ls[i], SIGUSR1, note, &x);
        if (rc < 0) {
            ASSERT_EQ(rc, CORIO_ENOMEM);
            full_loop = ls[i];
            break;
        }
    }
    ASSERT_EQ(i, 1024);
    corio_loop *other;
    ASSERT_EQ(corio_loop_new_with(&other, &eo), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(other, add_to_full, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(other, t, NULL), 0);
    corio_future_unref(t);
    close_loop(other);
    ASSERT_EQ(corio_loop_remove_signal_handler(ls[7], SIGUSR1), 1);
    ASSERT_EQ(corio_loop_add_signal_handler(ls[1024], SIGUSR1, note, &x), 0);
    for (i = 0; i < N; i++) ASSERT_EQ(corio_loop_free(ls[i]), 0);
    free(ls);
    ASSERT(is_dfl(SIGUSR1));
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    return 0;
}

/* A main task that waits for Ctrl-C itself (the graceful-shutdown
 * pattern, with the awaitable form) gets it, and is not cancelled by
 * corio_run as well: its clean-up awaits run, and the run returns what
 * it returns. (trio's open_signal_receiver takes SIGINT from its
 * KeyboardInterrupt while open, as an asyncio add_signal_handler(SIGINT)
 * takes it from the Runner.) */
static int raise_sigint_soon(void *arg, void **res) {
    (void)arg, (void)res;
    raise(SIGINT);
    return 0;
}

static int waits_for_ctrl_c(void *arg, void **res) {
    (void)arg, (void)res;
    ASSERT_EQ(corio_create_task(other_sleeps, NULL, NULL, NULL), 0);
    ASSERT_EQ(corio_create_task(raise_sigint_soon, NULL, NULL, NULL), 0);
    int sigs[] = {SIGINT, SIGTERM}, which = 0;
    int rc = corio_wait_signal(sigs, 2, &which);
    dprintf(child_fd, "wait=%d which=%d|", rc, which);
    rc = corio_sleep(0.01); /* the graceful shutdown's awaits */
    dprintf(child_fd, "cleanup=%d|", rc);
    return rc;
}

TEST(sig_rev_run_wait_for_ctrl_c) {
    char out[256];
    int st = child_run(waits_for_ctrl_c, out, sizeof out);
    ASSERT(WIFEXITED(st));
    ASSERT_STR(out, "wait=0 which=2|cleanup=0|other cancelled|rc=0 default");
    return 0;
}

/* A main task that puts in its own SIGINT handler with sigaction keeps
 * it after corio_run: asyncio.Runner puts the default back only while the
 * handler is still its own (3.11, 3.13: signal.getsignal is the
 * program's after asyncio.run). */
static int installs_own_sigint(void *arg, void **res) {
    (void)arg, (void)res;
    struct sigaction sa = {0};
    sa.sa_handler = own_handler;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGINT, &sa, NULL), 0);
    return corio_sleep(0);
}

TEST(sig_rev_run_program_sigaction_kept) {
    struct sigaction dfl = {0}, old;
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ASSERT_EQ(sigaction(SIGINT, &dfl, &old), 0);
    ASSERT_EQ(corio_run(installs_own_sigint, NULL, NULL), 0);
    ASSERT(get_sa(SIGINT).sa_handler == own_handler);
    ASSERT_EQ(sigaction(SIGINT, &old, NULL), 0);
    return 0;
}

/* main() returns a value it owns (a release function), and a Ctrl-C comes
 * as it ends: corio_run returns CORIO_EINTERRUPTED (asyncio.run raises
 * KeyboardInterrupt and the value is dropped), so the value must not be
 * handed to a caller that sees an error: it is released, not leaked. */
static void release_note(void *p) {
    dprintf(child_fd, "released %s|", (const char *)p);
}

static int returns_owned(void *arg, void **res) {
    (void)arg;
    ASSERT_EQ(corio_future_set_release(corio_current_task(), release_note), 0);
    ASSERT_EQ(corio_future_add_done_callback(corio_current_task(), sigint_cb, NULL), 0);
    *res = "value";
    return 0;
}

static void run_child_result(int fd) {
    child_fd = fd;
    void *result = NULL;
    int rc = corio_run(returns_owned, NULL, &result);
    dprintf(fd, "rc=%d result=%s", rc, result ? (const char *)result : "none");
}

TEST(sig_rev_run_interrupted_result_released) {
    char out[256];
    int st = in_child(run_child_result, out, sizeof out);
    ASSERT(WIFEXITED(st));
    ASSERT_STR(out, "released value|rc=-4023 result=none");
    return 0;
}

/* ---- failure injection ------------------------------------------------------------------ */

long corio__fail_after(long nth);

static int fail_waiter(void *arg, void **res) {
    (void)arg, (void)res;
    int sigs[] = {SIGUSR2, SIGHUP};
    int which = 0;
    int rc = corio_wait_signal(sigs, 2, &which);
    return rc == 0 && which != SIGUSR2 ? CORIO_EUSER(2) : rc;
}

static int fail_main(void *arg, void **res) {
    (void)arg, (void)res;
    corio_loop *loop = corio_get_running_loop();
    static int seen;
    seen = 0;
    int rc = corio_loop_add_signal_handler(loop, SIGUSR1, note, &seen);
    if (rc < 0) return rc;
    corio_task *t;
    if ((rc = corio_create_task(fail_waiter, NULL, NULL, &t)) < 0) return rc;
    rc = corio_sleep(0);
    if (rc == 0) {
        raise(SIGUSR1);
        raise(SIGUSR2);
    }
    int w = corio_await(t, NULL);
    corio_future_unref(t);
    if (rc == 0) rc = w;
    if (rc == 0) rc = corio_sleep(0);
    if (rc == 0 && seen != 1) rc = CORIO_EUSER(3);
    if (corio_loop_remove_signal_handler(loop, SIGUSR1) != 1 && rc == 0) rc = CORIO_EUSER(4);
    return rc;
}

/* One scenario (a handler, a waiting task, both signals arrive), every
 * allocation or system call in it failing in turn: each ends with a clean
 * error, no leak (ASan), and every disposition back. (Not in copy mode,
 * where no memory to save a stack aborts, as documented.) */
static reports fail_reports;

static int fail_scenario(void) {
    corio_loop *loop;
    int rc = corio_loop_new(&loop);
    if (rc < 0) return rc;
    memset(&fail_reports, 0, sizeof fail_reports);
    corio_loop_set_exception_handler(loop, capture_report, &fail_reports);
    corio_task *t;
    rc = corio_loop_create_task(loop, fail_main, NULL, NULL, 0, &t);
    if (rc == 0) {
        rc = corio_loop_run_until_complete(loop, t, NULL);
        corio_future_unref(t);
    }
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    /* no memory to schedule the handler: said, not silent */
    if (rc == CORIO_EUSER(3) && strstr(fail_reports.last, "could not be scheduled")) rc = CORIO_ENOMEM;
    return rc;
}

TEST(sig_rev_fail_every_call) {
    /* The program's handlers under SIGUSR1/2: a signal raised in a run
     * that failed before corio's went in must not end the test. */
    struct sigaction o1 = own(SIGUSR1), o2 = own(SIGUSR2), oh = own(SIGHUP);
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    ASSERT_EQ(sigaction(SIGUSR1, &dfl, NULL), 0);
    ASSERT_EQ(sigaction(SIGUSR2, &dfl, NULL), 0);
    ASSERT_EQ(sigaction(SIGHUP, &dfl, NULL), 0);
    corio__fail_after(0);
    ASSERT_EQ(fail_scenario(), 0);
    long calls = corio__fail_after(0);
    ASSERT(calls > 5);
    for (long n = 1; n <= calls; n++) {
        ASSERT_EQ(sigaction(SIGUSR1, &(struct sigaction){.sa_handler = own_handler}, NULL), 0);
        ASSERT_EQ(sigaction(SIGUSR2, &(struct sigaction){.sa_handler = own_handler}, NULL), 0);
        corio__fail_after(n);
        int rc = fail_scenario();
        corio__fail_after(0);
        ASSERT(rc == 0 || rc == CORIO_ENOMEM || rc == -EMFILE || rc == -EAGAIN);
        ASSERT(get_sa(SIGUSR1).sa_handler == own_handler);
        ASSERT(get_sa(SIGUSR2).sa_handler == own_handler);
        ASSERT(is_dfl(SIGHUP));
    }
    ASSERT_EQ(sigaction(SIGUSR1, &o1, NULL), 0);
    ASSERT_EQ(sigaction(SIGUSR2, &o2, NULL), 0);
    ASSERT_EQ(sigaction(SIGHUP, &oh, NULL), 0);
    return 0;
}

/* Two runs in a row, each interrupted: nothing of the first (its slot,
 * the stuck-loop check, the disposition) stands in the way of the
 * second. */
static void run_twice(int fd) {
    child_fd = fd;
    for (int i = 0; i < 2; i++) {
        int rc = corio_run(sigint_then_return, NULL, NULL);
        dprintf(fd, "rc=%d %s|", rc, is_dfl(SIGINT) ? "default" : "caught");
    }
}

TEST(sig_rev_run_twice_interrupted) {
    char out[256];
    int st = in_child(run_twice, out, sizeof out);
    ASSERT(WIFEXITED(st));
    ASSERT_STR(out, "other cancelled|rc=-4023 default|other cancelled|rc=-4023 default|");
    return 0;
}
