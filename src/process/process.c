/* Subprocesses (asyncio.create_subprocess_exec / _shell and
 * asyncio.subprocess.Process).
 *
 * A child is started with posix_spawn (no fork of a big process: glibc
 * clones with CLONE_VM | CLONE_VFORK and reports an exec failure through
 * its return value) and watched through a pidfd: no SIGCHLD handler is
 * taken from the program and no waitpid(-1) reaps children that are not
 * ours. As asyncio's child watcher does, the loop reaps the child as soon
 * as it exits (a reader callback on the pidfd), whether or not a task
 * waits: no zombie stays while the program looks elsewhere, any number of
 * tasks can wait (an event), and a process freed while its child runs is
 * still reaped, in the background, later. The child gets what it was given
 * and nothing else: 0, 1 and 2 as asked, every other descriptor closed
 * (closefrom, as Python's close_fds=True), an empty signal mask, and
 * SIGPIPE and SIGXFSZ back at their defaults (Python's restore_signals).
 *
 * Cancelling a task that waits for the child, or that communicates with
 * it, does not touch the child; output read so far stays in the streams. */
#define _GNU_SOURCE
#include "io/stream.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define DEFAULT_LIMIT (64 * 1024)

struct corio_process {
    corio_loop *loop;      /* held (corio__loop_hold) until the record goes */
    int pid;               /* the child's, for messages and corio_process_pid */
    int pidfd;             /* owned; -1 once the child is reaped */
    int returncode;        /* once reaped: the exit status, or minus the signal */
    uint8_t reaped;        /* the child was reaped (returncode is known) */
    uint8_t watching;      /* pidfd is in the loop's backend with child_exited as its reader */
    uint8_t freed;         /* the program let go (corio_process_free): child_exited frees it */
    corio_stream *std[3];  /* owned; NULL where that stream is not a pipe */
    corio_event *exited;   /* owned: set once reaped */
    size_t inside;         /* tasks inside wait / communicate: free says EBUSY */
    corio__resource res;   /* in the loop's resources until the record goes */
    char name[48];         /* the program (argv[0]), for messages */
};

/* ---- reaping ------------------------------------------------------------------ */

/* The status of a child waitid reported, as asyncio's returncode. */
static int status_code(const siginfo_t *si) {
    return si->si_code == CLD_EXITED ? si->si_status : -si->si_status;
}

/* Reap the child if it has exited: 1 (returncode set), or 0 (it runs). */
static int try_reap(corio_process *p) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r;
    do r = waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0 && si.si_pid == 0) return 0;
    /* ECHILD: someone else reaped it (SIGCHLD ignored, a waitpid(-1)
     * elsewhere); asyncio reports 255 then. */
    p->returncode = r == 0 ? status_code(&si) : 255;
    p->reaped = 1;
    return 1;
}

/* Children nobody else will wait for (the loop is closed and the program
 * freed the process) are waited for by one detached thread of corio's
 * watching all their pidfds, not by a thread each: a program that frees
 * thousands of running children spawns no thousands of threads. The
 * thread ends (and its epoll descriptor closes) once none is left. */
static struct {
    pthread_mutex_t mu;
    int epfd;     /* the running thread's, -1 while none runs (under mu) */
    size_t count; /* pidfds in epfd (under mu) */
} reap = {PTHREAD_MUTEX_INITIALIZER, -1, 0};

static void *reaper(void *arg) {
    int epfd = (int)(intptr_t)arg;
    for (;;) {
        struct epoll_event ev[16];
        int n = epoll_wait(epfd, ev, 16, -1);
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;
            siginfo_t si;
            memset(&si, 0, sizeof si);
            int r = waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG);
            if (r == 0 && si.si_pid == 0) continue; /* not yet */
            pthread_mutex_lock(&reap.mu);
            epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
            close(fd);
            reap.count--;
            pthread_mutex_unlock(&reap.mu);
        }
        pthread_mutex_lock(&reap.mu);
        if (reap.count == 0) {
            close(epfd);
            reap.epfd = -1;
            pthread_mutex_unlock(&reap.mu);
            return NULL;
        }
        pthread_mutex_unlock(&reap.mu);
    }
}

static int start_reaper(int epfd) {
    pthread_attr_t attr;
    pthread_t th;
    sigset_t all, old;
    if (pthread_attr_init(&attr)) return -1;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* The thread takes none of the program's signals. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&th, &attr, reaper, (void *)(intptr_t)epfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc ? -1 : 0;
}

static void reap_in_background(int pidfd) {
    pthread_mutex_lock(&reap.mu);
    int fresh = reap.epfd < 0;
    if (fresh) reap.epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = pidfd};
    int ok = reap.epfd >= 0 && epoll_ctl(reap.epfd, EPOLL_CTL_ADD, pidfd, &ev) == 0;
    if (ok) reap.count++;
    if (fresh && reap.epfd >= 0 && (!ok || start_reaper(reap.epfd) < 0)) {
        close(reap.epfd); /* (closing it drops pidfd from it) */
        reap.epfd = -1;
        if (ok) reap.count--;
        ok = 0;
    }
    pthread_mutex_unlock(&reap.mu);
    if (!ok) close(pidfd); /* no thread to spare: the child stays a zombie until we exit */
}

/* The record goes (the program freed it, and the child is settled). */
static void destroy(corio_process *p) {
    if (corio__list_linked(&p->res.link)) corio__list_unlink(&p->res.link);
    corio_event_free(p->exited);
    corio__loop_drop(p->loop);
    corio__free(p);
}

/* The child was reaped: its pidfd goes, waiters wake. */
static void settle(corio_process *p) {
    if (p->pidfd >= 0) corio_close_fd(p->pidfd); /* (the registration goes first) */
    p->pidfd = -1;
    p->watching = 0;
    corio_event_set(p->exited);
    if (p->freed) destroy(p);
}

/* The pidfd became readable: the child exited (a spurious wake-up reaps
 * nothing and waits on). */
static void child_exited(void *arg) {
    corio_process *p = arg;
    if (try_reap(p)) settle(p);
}

/* A child we cannot watch: stopped and reaped now (it is ours and not
 * reaped, so its pid cannot have been reused). */
static void abandon_child(int pid) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}

/* The loop closes while the child may run: the pidfd leaves the backend
 * (a copy stays the process's), and a child nobody holds any more is
 * waited for by a thread of its own. */
static void on_loop_close(corio__resource *r) {
    corio_process *p = corio__container_of(r, corio_process, res);
    corio__list_unlink(&r->link);
    if (p->reaped) return;
    if (try_reap(p)) {
        settle(p); /* (frees p if it was freed) */
        return;
    }
    int keep = fcntl(p->pidfd, F_DUPFD_CLOEXEC, 3);
    if (keep < 0) {
        /* No descriptor to spare (EMFILE): the registered one goes first
         * and a new pidfd takes its number. The child is ours and not
         * reaped, so its pid cannot have been reused meanwhile. */
        corio_close_fd(p->pidfd);
        p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
        if (p->pidfd >= 0) keep = p->pidfd;
    }
    if (keep < 0) { /* still none (another thread took it): no way to wait later, so it ends now */
        abandon_child(p->pid);
        p->pidfd = -1;
        p->returncode = -SIGKILL;
        p->reaped = 1;
        settle(p);
        return;
    }
    if (keep != p->pidfd) corio_close_fd(p->pidfd);
    p->pidfd = keep;
    p->watching = 0;
    if (p->freed) {
        reap_in_background(p->pidfd);
        p->pidfd = -1;
        destroy(p);
    }
}

/* ---- spawning ------------------------------------------------------------------ */

/* A new pipe, both ends close-on-exec and above 2 (a program whose 0, 1
 * or 2 is closed would get them, and the child's dup2 to 0..2 would then
 * clobber one end with the other). */
static int make_pipe(int fds[2]) {
    if (corio__fail_point()) return -EMFILE;
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
    for (int k = 0; k < 2; k++) {
        if (fds[k] > 2) continue;
        int up = fcntl(fds[k], F_DUPFD_CLOEXEC, 3);
        int e = errno;
        close(fds[k]);
        fds[k] = up;
        if (up < 0) {
            if (fds[1 - k] >= 0) close(fds[1 - k]);
            return -e;
        }
    }
    return 0;
}

/* What one spawn holds until the child runs (or the spawn failed). */
typedef struct spawn_state {
    int parent[3];  /* our ends of the pipes (owned until they become streams) */
    int child[3];   /* the child's ends (owned; closed after the spawn) */
    int temp[3];    /* copies of given descriptors 0..2 moved out of the way (owned) */
} spawn_state;

static void state_close(spawn_state *st, int parents_too) {
    for (int i = 0; i < 3; i++) {
        if (st->child[i] >= 0) close(st->child[i]);
        if (st->temp[i] >= 0) close(st->temp[i]);
        if (parents_too && st->parent[i] >= 0) close(st->parent[i]);
        st->child[i] = st->temp[i] = -1;
        if (parents_too) st->parent[i] = -1;
    }
}

static int valid_mode(int i, int mode, int fd) {
    switch (mode) {
    case CORIO_STDIO_INHERIT:
    case CORIO_STDIO_PIPE:
    case CORIO_STDIO_DEVNULL: return 1;
    case CORIO_STDIO_FD: return fd >= 0;
    case CORIO_STDIO_STDOUT: return i == 2;
    default: return 0;
    }
}

/* The file actions that give the child its 0, 1 and 2, and close the rest. */
static int stdio_actions(posix_spawn_file_actions_t *fa, spawn_state *st, const int mode[3],
                         const int fd[3]) {
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        switch (mode[i]) {
        case CORIO_STDIO_PIPE: {
            int fds[2];
            if ((rc = make_pipe(fds)) < 0) return rc;
            st->child[i] = fds[i == 0 ? 0 : 1];
            st->parent[i] = fds[i == 0 ? 1 : 0];
            rc = posix_spawn_file_actions_adddup2(fa, st->child[i], i);
            break;
        }
        case CORIO_STDIO_DEVNULL:
            rc = posix_spawn_file_actions_addopen(fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
            break;
        case CORIO_STDIO_FD: {
            int src = fd[i];
            /* A given 0..2 that an earlier dup2 may have replaced is
             * copied out of the way first (dup2 of a descriptor onto
             * itself only clears its close-on-exec flag). */
            if (src < 3 && src != i) {
                if ((st->temp[i] = fcntl(src, F_DUPFD_CLOEXEC, 3)) < 0) return -errno;
                src = st->temp[i];
            } else if (fcntl(src, F_GETFD) < 0) {
                return -errno; /* EBADF, said now rather than as the child's failure */
            }
            rc = posix_spawn_file_actions_adddup2(fa, src, i);
            break;
        }
        case CORIO_STDIO_STDOUT: rc = posix_spawn_file_actions_adddup2(fa, 1, 2); break;
        default: break; /* inherited: nothing to do */
        }
        if (rc > 0) rc = -rc;
    }
    if (rc < 0) return rc;
    /* Only what it was given: every descriptor above 2 closes (corio's own
     * are close-on-exec already; this also covers the program's). */
    rc = posix_spawn_file_actions_addclosefrom_np(fa, 3);
    return rc > 0 ? -rc : rc;
}

/* glibc's posix_spawn sets its two internal signals (32 and 33, which
 * have handlers in every threaded program) to SIG_IGN in the child, and
 * exec keeps SIG_IGN: a child would start with them ignored. sigaddset
 * refuses them, so their bits are set directly: they go back to SIG_DFL. */
static void add_libc_signals(sigset_t *set) {
#ifdef __GLIBC__
    const size_t bits = 8 * sizeof set->__val[0];
    for (size_t sig = 32; sig <= 33; sig++) set->__val[(sig - 1) / bits] |= 1UL << ((sig - 1) % bits);
#else
    (void)set;
#endif
}

/* A bare name with an environment of the caller's: looked up in that
 * environment's PATH, as Python's os.get_exec_path(env) (posix_spawnp
 * would use the parent's), with Python's default when it has none. The
 * first failure other than "not there" wins, as execvp. */
static int spawn_in_env_path(pid_t *child, const char *file, const posix_spawn_file_actions_t *fa,
                             const posix_spawnattr_t *attr, char *const *args, char *const *envp) {
    const char *path = "/bin:/usr/bin";
    for (char *const *e = envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0) {
            path = *e + 5; /* the first, as getenv */
            break;
        }
    size_t flen = strlen(file);
    int saved = 0, last = ENOENT;
    for (const char *dir = path;; dir++) {
        const char *end = strchr(dir, ':');
        size_t dlen = end ? (size_t)(end - dir) : strlen(dir);
        char full[4096];
        if (dlen + 1 + flen < sizeof full) {
            /* an empty entry is the cwd, as execvp */
            snprintf(full, sizeof full, "%.*s%s%s", (int)dlen, dir, dlen ? "/" : "", file);
            last = posix_spawn(child, full, fa, attr, args, envp);
            if (last == 0) return 0;
            if (last != ENOENT && last != ENOTDIR && !saved) saved = last;
        } else if (!saved) {
            saved = ENAMETOOLONG;
        }
        if (!end) break;
        dir = end;
    }
    return saved ? saved : last;
}

/* posix_spawn(p) with the actions and a clean signal state: the child's
 * pid, or -errno (an exec failure included: glibc reports it here). */
static int spawn_child(const char *const *argv, const corio_process_options *o, spawn_state *st,
                       int *pid) {
    static const int none[3] = {0, 0, 0};
    const int mode[3] = {o ? o->stdin_mode : 0, o ? o->stdout_mode : 0, o ? o->stderr_mode : 0};
    const int *fd = none;
    int given[3];
    if (o) {
        given[0] = o->stdin_fd, given[1] = o->stdout_fd, given[2] = o->stderr_fd;
        fd = given;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    if (posix_spawn_file_actions_init(&fa)) return CORIO_ENOMEM;
    if (posix_spawnattr_init(&attr)) {
        posix_spawn_file_actions_destroy(&fa);
        return CORIO_ENOMEM;
    }
    int rc = stdio_actions(&fa, st, mode, fd);
    if (rc == 0 && o && o->cwd) rc = -posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    sigset_t empty, dfl;
    sigemptyset(&empty);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGXFSZ);
    add_libc_signals(&dfl);
    if (rc == 0) rc = -posix_spawnattr_setsigmask(&attr, &empty);
    if (rc == 0) rc = -posix_spawnattr_setsigdefault(&attr, &dfl);
    if (rc == 0) rc = -posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0 && corio__fail_point()) rc = -EAGAIN;
    if (rc == 0) {
        char *const *args = (char *const *)(uintptr_t)argv;
        char *const *envp = o && o->env ? (char *const *)(uintptr_t)o->env : environ;
        pid_t child = 0;
        /* A bare name is looked up in the child's PATH (as Python does); a
         * path is used as it is. */
        if (strchr(argv[0], '/')) rc = posix_spawn(&child, argv[0], &fa, &attr, args, envp);
        else if (o && o->env) rc = spawn_in_env_path(&child, argv[0], &fa, &attr, args, envp);
        else rc = posix_spawnp(&child, argv[0], &fa, &attr, args, envp);
        rc = -rc;
        *pid = rc == 0 ? child : 0;
    }
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

static int open_pidfd(int pid) {
    if (corio__fail_point()) return -EMFILE;
    long fd = syscall(SYS_pidfd_open, pid, 0); /* close-on-exec always */
    return fd < 0 ? -errno : (int)fd;
}

/* The parent's pipe ends become streams (non-blocking, as asyncio makes them). */
static int make_streams(corio_process *p, spawn_state *st, size_t limit) {
    for (int i = 0; i < 3; i++) {
        if (st->parent[i] < 0) continue;
        int fl = fcntl(st->parent[i], F_GETFL);
        if (fl < 0 || fcntl(st->parent[i], F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
        int rc = corio__stream_new(p->loop, st->parent[i], &p->std[i]);
        if (rc < 0) return rc;
        st->parent[i] = -1; /* the stream's now */
        p->std[i]->owner = p; /* corio_stream_free refuses it: the process frees it */
        corio_stream_set_limit(p->std[i], limit);
    }
    return 0;
}

static void free_streams(corio_process *p) {
    for (int i = 0; i < 3; i++) {
        if (p->std[i]) corio__stream_release(p->std[i]);
        p->std[i] = NULL;
    }
}

static int check_options(const corio_process_options *o) {
    if (!o) return 0;
    const int mode[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
    const int fd[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    for (int i = 0; i < 3; i++)
        if (!valid_mode(i, mode[i], fd[i])) return CORIO_EINVAL;
    /* A given descriptor must be open now, before corio makes its pipes:
     * one of them could take a closed number and be given in its place. */
    for (int i = 0; i < 3; i++)
        if (mode[i] == CORIO_STDIO_FD && fcntl(fd[i], F_GETFD) < 0) return -errno;
    return 0;
}

int corio_create_subprocess_exec(const char *const *argv, const corio_process_options *opts,
                                 corio_process **out) {
    if (out) *out = NULL;
    if (!out || !argv || !argv[0] || !argv[0][0]) return CORIO_EINVAL;
    int rc = check_options(opts);
    if (rc < 0)
        return corio_raise(rc, "spawn %s: %s", argv[0],
                           rc == CORIO_EINVAL ? "bad stdio options" : "a given descriptor is not open");
    corio_loop *loop;
    if ((rc = corio__io_loop(&loop)) < 0) return rc;
    corio_process *p = corio__calloc(1, sizeof *p);
    if (!p) return CORIO_ENOMEM;
    if ((rc = corio_event_new(&p->exited)) < 0) {
        corio__free(p);
        return rc;
    }
    p->loop = loop;
    p->pidfd = -1;
    corio__loop_hold(loop);
    corio__list_init(&p->res.link);
    p->res.close = on_loop_close;
    snprintf(p->name, sizeof p->name, "%s", argv[0]);
    spawn_state st;
    memset(&st, -1, sizeof st);
    int pid = 0;
    rc = spawn_child(argv, opts, &st, &pid);
    state_close(&st, rc < 0);
    if (rc == 0) rc = make_streams(p, &st, opts && opts->limit ? opts->limit : DEFAULT_LIMIT);
    if (rc == 0 && (p->pidfd = open_pidfd(pid)) < 0) rc = p->pidfd;
    if (rc == -ESRCH) { /* gone already: SIGCHLD is ignored and the kernel reaped it */
        p->returncode = 255; /* (unknown: asyncio's code for a child it could not wait for) */
        p->reaped = 1;
        corio_event_set(p->exited);
        rc = 0;
    }
    if (rc == 0 && !p->reaped) rc = corio_loop_add_reader(loop, p->pidfd, child_exited, p);
    if (rc < 0) {
        state_close(&st, 1);
        if (pid > 0) abandon_child(pid);
        if (p->pidfd >= 0) close(p->pidfd);
        free_streams(p);
        corio_event_free(p->exited);
        corio__loop_drop(loop);
        corio__free(p);
        if (rc == CORIO_ENOMEM || rc == CORIO_ECLOSED) return rc;
        const char *cwd = opts && opts->cwd ? opts->cwd : NULL;
        if (cwd && rc == -ENOENT && access(cwd, X_OK) < 0)
            return corio_raise(rc, "spawn %s: cwd %s: %s", argv[0], cwd, strerror(errno));
        return corio_raise(rc, "spawn %s: %s", argv[0], strerror(-rc));
    }
    p->pid = pid;
    p->watching = !p->reaped;
    corio__loop_add_resource(loop, &p->res);
    *out = p;
    return 0;
}

int corio_create_subprocess_shell(const char *cmd, const corio_process_options *opts,
                                  corio_process **out) {
    if (out) *out = NULL;
    if (!cmd) return CORIO_EINVAL;
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    return corio_create_subprocess_exec(argv, opts, out);
}

/* ---- the process ------------------------------------------------------------------ */

int corio_process_pid(const corio_process *p) { return p ? p->pid : CORIO_EINVAL; }

static corio_stream *stream_of(corio_process *p, int i) { return p ? p->std[i] : NULL; }
corio_stream *corio_process_stdin(corio_process *p) { return stream_of(p, 0); }
corio_stream *corio_process_stdout(corio_process *p) { return stream_of(p, 1); }
corio_stream *corio_process_stderr(corio_process *p) { return stream_of(p, 2); }

/* free, send_signal and returncode need no task, but from a thread other
 * than the one running p's loop they would race with the loop reaping the
 * child (and closing the pidfd, whose number can then be reused): refused,
 * as corio_close_fd refuses. */
static int owner_thread(corio_process *p, const char *what) {
    if (corio_loop_is_running(p->loop) && corio_get_running_loop() != p->loop)
        return corio_raise(CORIO_EWRONGLOOP, "%s process %d (%s): its loop runs in another thread", what,
                           p->pid, p->name);
    return 0;
}

int corio_process_returncode(corio_process *p, int *returncode) {
    if (returncode) *returncode = 0;
    if (!p || !returncode) return CORIO_EINVAL;
    int rc = owner_thread(p, "returncode of");
    if (rc < 0) return rc;
    /* Once the loop is closed nobody reaps for us: look now. */
    if (!p->reaped && !p->watching && p->pidfd >= 0 && try_reap(p)) {
        close(p->pidfd);
        p->pidfd = -1;
    }
    if (!p->reaped) return CORIO_EINVALSTATE;
    *returncode = p->returncode;
    return 0;
}

/* A task of p's loop, or the reason why not. */
static int task_on(corio_process *p) {
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    return loop == p->loop ? 0 : CORIO_EWRONGLOOP;
}

int corio_process_wait(corio_process *p, int *returncode) {
    if (returncode) *returncode = 0;
    if (!p) return CORIO_EINVAL;
    int rc = 0;
    if (!p->reaped) {
        if ((rc = task_on(p)) < 0) return rc;
        p->inside++;
        while (rc == 0 && !p->reaped) rc = corio_event_wait(p->exited);
        p->inside--;
        if (rc < 0) return rc; /* cancelled: the child runs on */
    }
    if (returncode) *returncode = p->returncode;
    return 0;
}

/* What communicate reads from one pipe, in a task of its own when both
 * stdout and stderr are read (heap memory: copy-mode stacks move). */
typedef struct side {
    corio_stream *s;   /* borrowed from the process */
    const void *data;  /* lent by the stream */
    size_t len;
} side;

static int read_side(void *arg, void **result) {
    (void)result;
    side *sd = arg;
    int rc = corio_stream_read_all(sd->s, &sd->data, &sd->len);
    if (rc == 0) corio_stream_close(sd->s); /* as asyncio closes the pipe at EOF (lent data stays) */
    return rc;
}

/* Both outputs at once, each in its own task of a group: a cancel or a
 * failure stops both and waits for them. */
static int read_both(side *sd) {
    corio_taskgroup *tg;
    int rc = corio_taskgroup_enter(&tg);
    if (rc < 0) return rc;
    rc = corio_taskgroup_create_task(tg, read_side, &sd[0], "communicate stdout", NULL);
    if (rc == 0) rc = corio_taskgroup_create_task(tg, read_side, &sd[1], "communicate stderr", NULL);
    rc = corio_taskgroup_exit(tg, rc);
    if (rc == CORIO_EGROUP) { /* one side's failure, as asyncio's gather raises the first */
        const corio_error *g = corio_current_error();
        const corio_error *first = corio_error_group_get(g, 0);
        if (first) return corio_raise(corio_error_code(first), "%s", corio_error_message(first));
    }
    return rc;
}

/* The child closed its stdin or exited: asyncio ignores BrokenPipeError
 * and ConnectionResetError while feeding it. */
static int gone_reader(int err) { return err == -EPIPE || err == -ECONNRESET; }

int corio_process_communicate(corio_process *p, const void *input, size_t inlen, const void **out,
                              size_t *outlen, const void **err, size_t *errlen) {
    if (out) *out = NULL;
    if (outlen) *outlen = 0;
    if (err) *err = NULL;
    if (errlen) *errlen = 0;
    if (!p || (!input && inlen) || (out && !outlen) || (err && !errlen)) return CORIO_EINVAL;
    int rc = task_on(p);
    if (rc < 0) return rc;
    if (inlen && !p->std[0])
        return corio_raise(CORIO_EINVAL, "communicate with %s: input given, but stdin is not a pipe", p->name);
    /* The input is copied into stdin's buffer at once (write never
     * suspends), and stdin closes once it is sent: a child that exits
     * without reading it ends that (asyncio ignores BrokenPipeError). */
    if (p->std[0] && !corio_stream_is_closing(p->std[0])) {
        rc = inlen ? corio_stream_write(p->std[0], input, inlen) : 0;
        corio_stream_close(p->std[0]);
        if (rc < 0 && !gone_reader(rc))
            return corio_raise(rc, "communicate with %s: write to stdin: %s", p->name, corio_strerror(rc));
        rc = 0;
    }
    side *sd = corio__calloc(2, sizeof *sd);
    if (!sd) return CORIO_ENOMEM;
    sd[0].s = p->std[1];
    sd[1].s = p->std[2];
    p->inside++;
    if (sd[0].s && sd[1].s) rc = read_both(sd);
    else if (sd[0].s || sd[1].s) rc = read_side(sd[0].s ? &sd[0] : &sd[1], NULL);
    if (rc == 0) {
        while (rc == 0 && !p->reaped) rc = corio_event_wait(p->exited);
    }
    p->inside--;
    /* A failure of stdin's background sends, but for the child gone. */
    if (rc == 0 && p->std[0] && p->std[0]->werr && !gone_reader(p->std[0]->werr))
        rc = corio_raise(p->std[0]->werr, "communicate with %s: write to stdin: %s", p->name,
                         corio_strerror(p->std[0]->werr));
    if (rc < 0) { /* what was read stays unread, for the next call */
        for (int k = 0; k < 2; k++)
            if (sd[k].s && sd[k].data) sd[k].s->lent = 0;
    } else {
        if (out) *out = sd[0].data, *outlen = sd[0].len;
        if (err) *err = sd[1].data, *errlen = sd[1].len;
    }
    corio__free(sd);
    return rc;
}

int corio_process_send_signal(corio_process *p, int sig) {
    if (!p) return CORIO_EINVAL;
    int rc = owner_thread(p, "signal to");
    if (rc < 0) return rc;
    if (p->reaped || p->pidfd < 0)
        return corio_raise(-ESRCH, "signal %d to process %d (%s): it has exited", sig, p->pid, p->name);
    /* Through the pidfd: never a process that reused the number. */
    if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0) {
        int e = errno;
        return corio_raise(-e, "signal %d to process %d (%s): %s", sig, p->pid, p->name, strerror(e));
    }
    return 0;
}

int corio_process_terminate(corio_process *p) { return corio_process_send_signal(p, SIGTERM); }
int corio_process_kill(corio_process *p) { return corio_process_send_signal(p, SIGKILL); }

int corio_process_free(corio_process *p) {
    if (!p) return 0;
    if (p->freed) return CORIO_EINVAL;
    int rc = owner_thread(p, "free");
    if (rc < 0) return rc;
    /* Tasks inside a call on it: busy, unless the loop closed under them
     * (they were destroyed there and will never come back). */
    int gone = corio_loop_is_closed(p->loop);
    if (!gone) {
        if (p->inside) return CORIO_EBUSY;
        for (int i = 0; i < 3; i++)
            if (p->std[i] && (p->std[i]->reader || p->std[i]->inside)) return CORIO_EBUSY;
    }
    free_streams(p); /* our pipe ends close: the child sees EOF and EPIPE, as asyncio's close */
    p->freed = 1;
    if (p->reaped) {
        destroy(p);
    } else if (p->watching) {
        /* The child runs on; the loop reaps it when it exits (child_exited),
         * or hands it to a thread when the loop closes first. */
    } else if (try_reap(p)) { /* the loop closed: nobody reaps for us but us */
        close(p->pidfd);
        destroy(p);
    } else {
        reap_in_background(p->pidfd);
        destroy(p);
    }
    return 0;
}
