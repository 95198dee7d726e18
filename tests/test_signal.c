/* Signals (io.md 7): handlers run on the loop, the awaitable form,
 * dispositions put back, loops in two threads, and corio_run's Ctrl-C in
 * a child process. Every test leaves each signal's disposition as it
 * found it. */
#include "test.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

/* The disposition's handler now (SIG_DFL, SIG_IGN, or a function). */
static void (*disposition(int sig))(int) {
    struct sigaction sa;
    ASSERT_EQ(sigaction(sig, NULL, &sa), 0);
    return sa.sa_handler;
}

static int is_default(int sig) { return disposition(sig) == SIG_DFL; }

/* Wait for ev with a bound (never reached when things work: no timing
 * is asserted). */
static int wait_event(corio_event *ev) {
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(30, &cm), 0);
    return corio_timeout_exit(cm, corio_event_wait(ev));
}

/* ---- a handler runs on the loop --------------------------------------------- */

typedef struct on_loop_state {
    corio_loop *loop;
    corio_event *done;
    int calls;
    int on_loop;    /* the handler saw its own loop running, in no task */
    int task_ran;   /* the task it created ran */
} on_loop_state;

static int created_task(void *arg, void **res) {
    (void)res;
    on_loop_state *st = arg;
    st->task_ran = 1;
    return corio_event_set(st->done);
}

static void usr1_handler(void *arg) {
    on_loop_state *st = arg;
    st->calls++;
    st->on_loop = corio_get_running_loop() == st->loop && corio_current_task() == NULL;
    char *p = malloc(1000); /* not in signal context: allocating is fine */
    ASSERT(p);
    memset(p, 1, 1000);
    free(p);
    ASSERT_EQ(corio_create_task(created_task, st, "from-handler", NULL), 0);
}

static int handler_on_loop_main(void *arg, void **res) {
    (void)res;
    on_loop_state *st = arg;
    ASSERT_EQ(corio_event_new(&st->done), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(st->loop, SIGUSR1, usr1_handler, st), 0);
    ASSERT(!is_default(SIGUSR1));
    ASSERT_EQ(raise(SIGUSR1), 0); /* this thread: delivered before raise returns */
    ASSERT_EQ(st->calls, 0);      /* ... but the handler waits for the loop */
    ASSERT_EQ(wait_event(st->done), 0);
    ASSERT_EQ(corio_loop_remove_signal_handler(st->loop, SIGUSR1), 1);
    ASSERT(is_default(SIGUSR1));
    ASSERT_EQ(corio_event_free(st->done), 0);
    return 0;
}

TEST(sig_handler_on_loop) {
    on_loop_state st = {0};
    ASSERT_EQ(corio_loop_new(&st.loop), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(st.loop, handler_on_loop_main, &st, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(st.loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(st.loop);
    ASSERT_EQ(st.calls, 1);
    ASSERT(st.on_loop);
    ASSERT(st.task_ran);
    return 0;
}

/* ---- several signals, each to its own handler ------------------------------------ */

typedef struct counts {
    int n[65];
    int total;
    corio_event *all;
} counts;

typedef struct sig_arg {
    counts *c;
    int sig;
} sig_arg;

static void count_handler(void *arg) {
    sig_arg *a = arg;
    a->c->n[a->sig]++;
    if (++a->c->total == 3) corio_event_set(a->c->all);
}

static int several_main(void *arg, void **res) {
    (void)arg, (void)res;
    corio_loop *loop = corio_get_running_loop();
    counts c = {0};
    ASSERT_EQ(corio_event_new(&c.all), 0);
    int sigs[] = {SIGUSR1, SIGUSR2, SIGHUP};
    sig_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (sig_arg){&c, sigs[i]};
        ASSERT_EQ(corio_loop_add_signal_handler(loop, sigs[i], count_handler, &args[i]), 0);
    }
    for (int i = 0; i < 3; i++) ASSERT_EQ(raise(sigs[i]), 0);
    ASSERT_EQ(wait_event(c.all), 0);
    ASSERT_EQ(c.n[SIGUSR1], 1);
    ASSERT_EQ(c.n[SIGUSR2], 1);
    ASSERT_EQ(c.n[SIGHUP], 1);
    /* A second round: each handler again, once. */
    ASSERT_EQ(corio_event_clear(c.all), 0);
    c.total = 0;
    for (int i = 2; i >= 0; i--) ASSERT_EQ(raise(sigs[i]), 0);
    ASSERT_EQ(wait_event(c.all), 0);
    ASSERT_EQ(c.n[SIGUSR1] + c.n[SIGUSR2] + c.n[SIGHUP], 6);
    for (int i = 0; i < 3; i++) ASSERT_EQ(corio_loop_remove_signal_handler(loop, sigs[i]), 1);
    for (int i = 0; i < 3; i++) ASSERT(is_default(sigs[i]));
    ASSERT_EQ(corio_event_free(c.all), 0);
    return 0;
}

TEST(sig_several_signals) {
    on_loop(several_main, NULL);
    return 0;
}

/* ---- remove, re-add, replace; the previous disposition comes back ------------- */

static atomic_int c_handler_calls; /* lock-free: safe in a handler, and in several threads */
static void c_handler(int sig) {
    (void)sig;
    atomic_fetch_add(&c_handler_calls, 1);
}

static void note(void *arg) { (*(int *)arg)++; }
static void stop_loop(void *arg) { corio_loop_stop(arg); }

TEST(sig_remove_readd_restores) {
    struct sigaction sa = {0}, old;
    sa.sa_handler = c_handler;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR2, &sa, &old), 0);
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    int a = 0, b = 0;
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, SIGUSR2), 0); /* none yet */
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR2, note, &a), 0);
    ASSERT(disposition(SIGUSR2) != c_handler);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, SIGUSR2), 1);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, SIGUSR2), 0);
    ASSERT(disposition(SIGUSR2) == c_handler);
    ASSERT_EQ(raise(SIGUSR2), 0);
    ASSERT_EQ(atomic_load(&c_handler_calls), 1);
    /* Re-added, then replaced: only the last callback runs. */
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR2, note, &a), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR2, note, &b), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR1, stop_loop, loop), 0);
    ASSERT_EQ(raise(SIGUSR2), 0);
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), 0); /* stopped by the SIGUSR1 handler */
    ASSERT_EQ(a, 0);
    ASSERT_EQ(b, 1);
    ASSERT_EQ(atomic_load(&c_handler_calls), 1);
    /* One removal leaves the other signal caught. */
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, SIGUSR2), 1);
    ASSERT(disposition(SIGUSR2) == c_handler);
    ASSERT(!is_default(SIGUSR1));
    /* Closing the loop removes what is left. */
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR2, note, &a), 0);
    close_loop(loop);
    ASSERT(disposition(SIGUSR2) == c_handler);
    ASSERT(is_default(SIGUSR1));
    ASSERT_EQ(sigaction(SIGUSR2, &old, NULL), 0);
    return 0;
}

/* ---- the awaitable form ------------------------------------------------------------ */

static int raiser(void *arg, void **res) {
    (void)res;
    return raise((int)(intptr_t)arg) == 0 ? 0 : CORIO_ERUNTIME;
}

static int waits_forever(void *arg, void **res) {
    (void)res;
    int sigs[] = {SIGUSR1};
    int which = -1;
    int rc = corio_wait_signal(sigs, 1, &which);
    *(int *)arg = which;
    return rc;
}

/* Other tasks write these: not in the frame, which copy mode moves. */
static int seen, got, got1, got2;

static int wait_signal_main(void *arg, void **res) {
    (void)arg, (void)res;
    corio_loop *loop = corio_get_running_loop();
    /* Woken by one of two signals, and a handler of the same signal runs too. */
    seen = 0;
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR2, note, &seen), 0);
    ASSERT_EQ(corio_create_task(raiser, (void *)(intptr_t)SIGUSR2, NULL, NULL), 0);
    int sigs[] = {SIGUSR1, SIGUSR2};
    int which = 0;
    ASSERT_EQ(corio_wait_signal(sigs, 2, &which), 0);
    ASSERT_EQ(which, SIGUSR2);
    ASSERT_EQ(corio_sleep(0), 0); /* the handler's callback runs in the same pass */
    ASSERT_EQ(seen, 1);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, SIGUSR2), 1);
    ASSERT(is_default(SIGUSR1) && is_default(SIGUSR2));
    /* A timeout scope ends the wait; the signal is not caught afterwards. */
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(0.01, &cm), 0);
    ASSERT_EQ(corio_timeout_exit(cm, corio_wait_signal(sigs, 1, &which)), CORIO_ETIMEDOUT);
    ASSERT_EQ(which, 0);
    ASSERT(is_default(SIGUSR1));
    /* A cancel from another task. */
    corio_task *t;
    got = -1;
    ASSERT_EQ(corio_create_task(waits_forever, &got, NULL, &t), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT(!is_default(SIGUSR1)); /* caught while the task waits */
    ASSERT_EQ(corio_task_cancel(t, NULL), 1);
    ASSERT_EQ(corio_await(t, NULL), CORIO_ECANCELED);
    ASSERT_EQ(got, 0);
    corio_future_unref(t);
    ASSERT(is_default(SIGUSR1));
    /* Two waiters of the same signal both wake. */
    corio_task *w1, *w2;
    got1 = got2 = 0;
    ASSERT_EQ(corio_create_task(waits_forever, &got1, NULL, &w1), 0);
    ASSERT_EQ(corio_create_task(waits_forever, &got2, NULL, &w2), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_EQ(corio_await(w1, NULL), 0);
    ASSERT_EQ(corio_await(w2, NULL), 0);
    ASSERT_EQ(got1, SIGUSR1);
    ASSERT_EQ(got2, SIGUSR1);
    corio_future_unref(w1);
    corio_future_unref(w2);
    ASSERT(is_default(SIGUSR1));
    return 0;
}

TEST(sig_wait_signal) {
    on_loop(wait_signal_main, NULL);
    return 0;
}

/* The same in copy-stack mode (the waiter is not in the frame). */
TEST(sig_wait_signal_copy_mode) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, wait_signal_main, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

/* A task still waiting when its loop closes is destroyed; the signal is
 * let go of. */
TEST(sig_close_with_waiter) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    reports r = {0};
    ASSERT_EQ(corio_loop_set_exception_handler(loop, capture_report, &r), 0);
    int left = -1, dummy = 0;
    ASSERT_EQ(corio_loop_create_task(loop, waits_forever, &left, NULL, 0, NULL), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR2, note, &dummy), 0);
    ASSERT_EQ(corio_call_soon(loop, stop_loop, loop, NULL), 0);
    ASSERT_EQ(corio_loop_run_forever(loop), 0);
    ASSERT(!is_default(SIGUSR1) && !is_default(SIGUSR2));
    close_loop(loop);
    ASSERT_EQ(r.n, 1); /* "Task was destroyed but it is pending!" */
    ASSERT(is_default(SIGUSR1) && is_default(SIGUSR2));
    ASSERT_EQ(left, -1);
    return 0;
}

/* ---- bad input --------------------------------------------------------------------- */

static int bad_wait_main(void *arg, void **res) {
    (void)arg, (void)res;
    int which = 7;
    int bad[] = {SIGUSR1, SIGKILL};
    ASSERT_EQ(corio_wait_signal(bad, 2, &which), CORIO_EINVAL);
    ASSERT_EQ(which, 0);
    ASSERT(strstr(corio_error_message(corio_current_error()), "cannot be caught"));
    int range[] = {65};
    ASSERT_EQ(corio_wait_signal(range, 1, NULL), CORIO_EINVAL);
    ASSERT(strstr(corio_error_message(corio_current_error()), "invalid signal number 65"));
    ASSERT_EQ(corio_wait_signal(NULL, 1, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_wait_signal(bad, 0, NULL), CORIO_EINVAL);
    ASSERT(is_default(SIGUSR1));
    return 0;
}

TEST(sig_bad_input) {
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    int x = 0;
    int bad[] = {0, -1, 65, 1000, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_EQ(corio_loop_add_signal_handler(loop, bad[i], note, &x), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_add_signal_handler(NULL, SIGUSR1, note, &x), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR1, NULL, &x), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_remove_signal_handler(NULL, SIGUSR1), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, 0), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, 65), CORIO_EINVAL);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, SIGKILL), 0); /* in range, none: False */
    /* glibc keeps 32 and 33 for itself: sigaction refuses them. */
    ASSERT_EQ(corio_loop_add_signal_handler(loop, 32, note, &x), CORIO_EINVAL);
    ASSERT(is_default(SIGUSR1));
    int sigs[] = {SIGUSR1};
    ASSERT_EQ(corio_wait_signal(sigs, 1, NULL), CORIO_ENOTINTASK);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, bad_wait_main, NULL, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(loop, SIGUSR1, note, &x), CORIO_ECLOSED);
    ASSERT_EQ(corio_loop_remove_signal_handler(loop, SIGUSR1), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    ASSERT(is_default(SIGUSR1));
    ASSERT_STR(corio_strerror(CORIO_EINTERRUPTED), "interrupted by SIGINT (KeyboardInterrupt)");
    return 0;
}

/* ---- two loops in two threads --------------------------------------------------------- */

typedef struct thread_loop {
    corio_loop *loop;
    pthread_t self;
    pthread_barrier_t *ready;
    int mine;        /* the signal only this loop listens to */
    int got_mine, got_shared, wrong;
} thread_loop;

static void maybe_stop(thread_loop *tl) {
    if (tl->got_mine && tl->got_shared) corio_loop_stop(tl->loop);
}

static void on_mine(void *arg) {
    thread_loop *tl = arg;
    if (corio_get_running_loop() != tl->loop || !pthread_equal(pthread_self(), tl->self)) tl->wrong++;
    tl->got_mine++;
    maybe_stop(tl);
}

static void on_shared(void *arg) {
    thread_loop *tl = arg;
    if (corio_get_running_loop() != tl->loop || !pthread_equal(pthread_self(), tl->self)) tl->wrong++;
    tl->got_shared++;
    maybe_stop(tl);
}

static void *loop_thread(void *arg) {
    thread_loop *tl = arg;
    tl->self = pthread_self();
    ASSERT_EQ(corio_loop_new(&tl->loop), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(tl->loop, tl->mine, on_mine, tl), 0);
    ASSERT_EQ(corio_loop_add_signal_handler(tl->loop, SIGHUP, on_shared, tl), 0);
    pthread_barrier_wait(tl->ready);
    ASSERT_EQ(corio_loop_run_forever(tl->loop), 0);
    ASSERT_EQ(corio_loop_remove_signal_handler(tl->loop, tl->mine), 1);
    close_loop(tl->loop); /* removes the SIGHUP one */
    return NULL;
}

TEST(sig_thread_two_loops) {
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, 3);
    thread_loop a = {.ready = &ready, .mine = SIGUSR1}, b = {.ready = &ready, .mine = SIGUSR2};
    pthread_t ta, tb;
    ASSERT_EQ(pthread_create(&ta, NULL, loop_thread, &a), 0);
    ASSERT_EQ(pthread_create(&tb, NULL, loop_thread, &b), 0);
    pthread_barrier_wait(&ready);
    /* Process-directed: whichever thread the kernel picks runs corio's
     * handler, which wakes the loops that listen. */
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
    ASSERT_EQ(kill(getpid(), SIGHUP), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&ready);
    ASSERT_EQ(a.got_mine, 1);
    ASSERT_EQ(b.got_mine, 1);
    ASSERT_EQ(a.got_shared, 1);
    ASSERT_EQ(b.got_shared, 1);
    ASSERT_EQ(a.wrong + b.wrong, 0);
    ASSERT(is_default(SIGUSR1) && is_default(SIGUSR2) && is_default(SIGHUP));
    return 0;
}

/* Loops come and go (registering and removing SIGUSR1) while another
 * thread sends SIGUSR1 all the time: a handler never touches a loop that
 * went, and the program's own handler is back at the end. */
typedef struct churn {
    atomic_int stop;
    atomic_int sent;
} churn;

static void *sender(void *arg) {
    churn *c = arg;
    while (!atomic_load(&c->stop) && atomic_load(&c->sent) < 20000) {
        kill(getpid(), SIGUSR1);
        atomic_fetch_add(&c->sent, 1);
        sched_yield();
    }
    return NULL;
}

TEST(sig_thread_churn) {
    struct sigaction sa = {0}, old;
    sa.sa_handler = c_handler;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
    churn c = {0};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, sender, &c), 0);
    int x = 0;
    for (int i = 0; i < 200; i++) {
        corio_loop *l1, *l2;
        ASSERT_EQ(corio_loop_new(&l1), 0);
        ASSERT_EQ(corio_loop_new(&l2), 0);
        ASSERT_EQ(corio_loop_add_signal_handler(l1, SIGUSR1, note, &x), 0);
        ASSERT_EQ(corio_loop_add_signal_handler(l2, SIGUSR1, note, &x), 0);
        if (i % 2) ASSERT_EQ(corio_loop_remove_signal_handler(l1, SIGUSR1), 1);
        close_loop(l1);
        close_loop(l2);
    }
    atomic_store(&c.stop, 1);
    pthread_join(th, NULL);
    ASSERT(disposition(SIGUSR1) == c_handler);
    ASSERT_EQ(sigaction(SIGUSR1, &old, NULL), 0);
    return 0;
}

/* ---- corio_run and SIGINT ------------------------------------------------------------- */

/* The SIGINT handler is there during the run only, and only when SIGINT
 * was at its default. */
static int sigint_caught_main(void *arg, void **res) {
    (void)res;
    *(int *)arg = !is_default(SIGINT) && disposition(SIGINT) != SIG_IGN;
    return 0;
}

static int sigint_ignored_main(void *arg, void **res) {
    (void)res;
    *(int *)arg = disposition(SIGINT) == SIG_IGN;
    return 0;
}

static void *run_in_thread(void *arg) {
    int *during = arg;
    *during = corio_run(sigint_caught_main, during, NULL) == 0 && *during;
    return NULL;
}

TEST(sig_run_sigint_disposition) {
    struct sigaction dfl = {0}, old;
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ASSERT_EQ(sigaction(SIGINT, &dfl, &old), 0);
    int during = 0;
    ASSERT_EQ(corio_run(sigint_caught_main, &during, NULL), 0);
    ASSERT(during);
    ASSERT(is_default(SIGINT)); /* no stray handler after the run */
    /* Another thread's run leaves SIGINT alone (asyncio: the main thread only). */
    pthread_t th;
    during = 1;
    ASSERT_EQ(pthread_create(&th, NULL, run_in_thread, &during), 0);
    pthread_join(th, NULL);
    ASSERT_EQ(during, 0);
    /* An ignored SIGINT stays ignored. */
    struct sigaction ign = dfl;
    ign.sa_handler = SIG_IGN;
    ASSERT_EQ(sigaction(SIGINT, &ign, NULL), 0);
    int ignored = 0;
    ASSERT_EQ(corio_run(sigint_ignored_main, &ignored, NULL), 0);
    ASSERT(ignored);
    ASSERT(disposition(SIGINT) == SIG_IGN);
    ASSERT_EQ(sigaction(SIGINT, &old, NULL), 0);
    return 0;
}

/* Ctrl-C: a child process runs corio_run; the test sends it SIGINT once
 * it has said "started" (and once more after "cleanup" in the second
 * scenario), then reads what it printed and how it ended. */
typedef struct child_args {
    int fd;      /* the pipe to the test */
    int catches; /* the main task returns normally after its clean-up */
    int slow;    /* the clean-up waits (for a second SIGINT) */
    int stuck;   /* the main task never yields */
} child_args;

static int other_task(void *arg, void **res) {
    (void)res;
    child_args *a = arg;
    int rc = corio_sleep(30);
    if (rc == CORIO_ECANCELED) dprintf(a->fd, "other cancelled\n");
    return rc;
}

static int child_main(void *arg, void **res) {
    (void)res;
    child_args *a = arg;
    ASSERT_EQ(corio_create_task(other_task, a, NULL, NULL), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    dprintf(a->fd, "started\n");
    if (a->stuck) { /* 30 s without a yield: only SIGINT's default action ends it sooner */
        double end = corio_loop_time(corio_get_running_loop()) + 30;
        while (corio_loop_time(corio_get_running_loop()) < end) {
        }
    }
    int rc = corio_sleep(30);
    if (rc != CORIO_ECANCELED) return rc;
    dprintf(a->fd, "cleanup\n");
    rc = corio_sleep(a->slow ? 30 : 0); /* the clean-up takes a while */
    if (rc == CORIO_ECANCELED) {
        dprintf(a->fd, "cleanup cancelled\n");
        return rc;
    }
    if (a->catches) return 0;
    return CORIO_ECANCELED;
}

/* The child: SIGINT at its default, run, say how it went, then end the
 * way a C program that mirrors Python's uncaught KeyboardInterrupt does. */
static void child(int fd, int catches, int slow, int stuck) {
    signal(SIGINT, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    child_args a = {fd, catches, slow, stuck};
    int rc = corio_run(child_main, &a, NULL);
    dprintf(fd, "rc=%d %s\n", rc, is_default(SIGINT) ? "default" : "still caught");
    if (rc == CORIO_EINTERRUPTED) raise(SIGINT);
    _exit(rc == 0 ? 0 : 3);
}

/* Read from fd into buf (appending) until it holds `want`, or EOF with
 * want NULL; 30 s at most per read. */
static void read_until(int fd, char *buf, size_t cap, const char *want) {
    for (;;) {
        if (want && strstr(buf, want)) return;
        struct pollfd p = {fd, POLLIN, 0};
        ASSERT(poll(&p, 1, 30000) == 1);
        size_t len = strlen(buf);
        ASSERT(len + 1 < cap);
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        ASSERT(n >= 0);
        buf[len + (size_t)n] = 0;
        if (n == 0) {
            ASSERT(!want);
            return;
        }
    }
}

/* Runs the scenario; returns the child's wait status, its output in out.
 * sigints 3: the child is stuck, and gets SIGINT every 50 ms until it ends. */
static int ctrl_c(int catches, int sigints, char *out, size_t cap) {
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child(p[1], catches, sigints == 2, sigints == 3);
    }
    close(p[1]);
    out[0] = 0;
    read_until(p[0], out, cap, "started\n");
    ASSERT_EQ(kill(pid, SIGINT), 0);
    if (sigints == 2) {
        read_until(p[0], out, cap, "cleanup\n");
        ASSERT_EQ(kill(pid, SIGINT), 0);
    }
    /* Two SIGINTs sent at once may be merged into one by the kernel:
     * the stuck child gets them until one finds the one before pending. */
    for (int i = 0; sigints == 3 && i < 600; i++) {
        struct pollfd pf = {p[0], POLLIN, 0};
        if (poll(&pf, 1, 50) == 1) break; /* EOF: it ended */
        kill(pid, SIGINT);
    }
    read_until(p[0], out, cap, NULL);
    close(p[0]);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    return status;
}

TEST(sig_ctrl_c_cleanup) {
    char out[512];
    int status = ctrl_c(0, 1, out, sizeof out);
    /* The main task cleaned up, corio_run said KeyboardInterrupt after
     * the other task was cancelled, with SIGINT back at its default; the
     * child then died by SIGINT, as python3 does (returncode -2). */
    ASSERT_STR(out, "started\ncleanup\nother cancelled\nrc=-4023 default\n");
    ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    return 0;
}

TEST(sig_ctrl_c_caught) {
    char out[512];
    int status = ctrl_c(1, 1, out, sizeof out);
    /* The main task caught the cancel and returned: corio_run's result is
     * the task's (asyncio.run returns main()'s value). */
    ASSERT_STR(out, "started\ncleanup\nother cancelled\nrc=0 default\n");
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 0;
}

TEST(sig_ctrl_c_twice) {
    char out[512];
    int status = ctrl_c(0, 2, out, sizeof out);
    /* The second SIGINT stops the run (Python raises KeyboardInterrupt
     * out of the loop): the clean-up is cancelled with the rest. */
    ASSERT(strncmp(out, "started\ncleanup\n", 16) == 0);
    ASSERT(strstr(out, "cleanup cancelled\n"));
    ASSERT(strstr(out, "other cancelled\n"));
    ASSERT(strstr(out, "rc=-4023 default\n"));
    ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    return 0;
}

TEST(sig_ctrl_c_stuck) {
    char out[512];
    int status = ctrl_c(0, 3, out, sizeof out);
    /* The loop never took the first SIGINT: another one ends the process
     * by SIGINT's default action, with no clean-up (it could not run). */
    ASSERT_STR(out, "started\n");
    ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    return 0;
}
