/* A hostile review of the libpq adapter (include/corio_pq.h): wrong
 * orders, cancels at every point, the server going away, large and odd
 * inputs. Same server as tests/test_pq.c (the pq_server fixture; run
 * alone, a test starts its own); pq_rev_server_restart has a cluster of
 * its own, since it restarts it. */
#include "test.h"

#define PQ_REV_TESTS(X)                                                                            \
    X(pq_rev_blocking_conn)                                                                        \
    X(pq_rev_finish_mid_call)                                                                      \
    X(pq_rev_cancel_sweep)                                                                         \
    X(pq_rev_pipeline_bad)                                                                         \
    X(pq_rev_server_restart)                                                                       \
    X(pq_rev_cancel_server_hung)                                                                   \
    X(pq_rev_huge_result)                                                                          \
    X(pq_rev_copy_edges)                                                                           \
    X(pq_rev_notify_flood)                                                                         \
    X(pq_rev_bad_input)                                                                            \
    X(pq_rev_other_loops)                                                                          \
    X(pq_rev_copy_stack)                                                                           \
    X(pq_rev_loop_closed_inflight)                                                                 \
    X(pq_rev_run_shutdown)

#ifndef CORIO_HAVE_PQ

#define PQ_REV_SKIP(name)                                                                          \
    TEST(name) {                                                                                   \
        printf("libpq's headers were not found when corio was built (Debian: libpq-dev): "        \
               "skipped\n");                                                                       \
        return TEST_SKIP;                                                                          \
    }
PQ_REV_TESTS(PQ_REV_SKIP)

#else

#include "corio_pq.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* ---- the server (as test_pq.c) ------------------------------------------------ */

typedef struct server {
    int port;
    int ssl;
    char dir[256];
    char conninfo[512];
    char state[300];
    int own;
} server;

static server pg;

static int read_state(server *s, const char *path) {
    FILE *f = fopen(path, "re");
    if (!f) {
        printf("no PostgreSQL state file %s (the pq_server fixture did not run): skipped\n", path);
        return 0;
    }
    char line[512] = "";
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    if (strncmp(line, "skip ", 5) == 0 || sscanf(line, "%d %255s %d", &s->port, s->dir, &s->ssl) < 2) {
        printf("no PostgreSQL server: %s", line[0] ? line + 5 : "empty state file\n");
        return 0;
    }
    snprintf(s->conninfo, sizeof s->conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", s->port);
    return 1;
}

static int start_own(server *s, const char *tag) {
    snprintf(s->state, sizeof s->state, "/tmp/corio-pqrev-%s.%ld", tag, (long)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh '%s' start '%s' %ld >/dev/null", CORIO_PQ_SCRIPT, s->state, (long)getpid());
    if (system(cmd) != 0) {
        printf("%s failed: skipped\n", CORIO_PQ_SCRIPT);
        return 0;
    }
    s->own = 1;
    int ok = read_state(s, s->state);
    if (!ok) unlink(s->state);
    return ok;
}

static void stop_own(server *s) {
    if (!s->own) return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh '%s' stop '%s' >/dev/null", CORIO_PQ_SCRIPT, s->state);
    ASSERT_EQ(system(cmd), 0);
    s->own = 0;
}

static int pg_up(void) {
    const char *st = getenv("CORIO_PQ_STATE");
    if (st && *st) return read_state(&pg, st);
    return start_own(&pg, "shared");
}

static int pq_test(corio_fn body) {
    if (!pg_up()) return TEST_SKIP;
    on_loop(body, NULL);
    stop_own(&pg);
    return 0;
}

/* ---- helpers -------------------------------------------------------------------- */

static int count_dir(const char *path) {
    DIR *d = opendir(path);
    ASSERT(d);
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static int count_fds(void) { return count_dir("/proc/self/fd"); }
/* ThreadSanitizer starts a thread of its own with the first pthread_create. */
#if defined(__SANITIZE_THREAD__)
#define PQ_REV_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PQ_REV_TSAN 1
#endif
#endif
#ifdef PQ_REV_TSAN
#define TSAN_THREADS 1
#else
#define TSAN_THREADS 0
#endif

static int count_threads(void) { return count_dir("/proc/self/task") - 2; }

static const char *errmsg(void) { return corio_error_message(corio_current_error()); }

static PGconn *connect_to(const char *info) {
    PGconn *c = NULL;
    int rc = corio_pq_connect(info, &c);
    if (rc != 0) fprintf(stderr, "connect: %d %s\n", rc, errmsg());
    ASSERT_EQ(rc, 0);
    ASSERT(c && PQstatus(c) == CONNECTION_OK);
    return c;
}

static PGconn *connect_ok(void) { return connect_to(pg.conninfo); }

static char *value(PGconn *c, const char *sql, const char *p1) {
    PGresult *r = NULL;
    int rc = corio_pq_exec(c, sql, p1 ? 1 : 0, &p1, &r);
    if (rc != 0) fprintf(stderr, "%s: %d %s\n", sql, rc, errmsg());
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
    ASSERT(PQntuples(r) >= 1);
    char *v = strdup(PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void expect(PGconn *c, const char *sql, const char *p1, const char *want) {
    char *v = value(c, sql, p1);
    ASSERT_STR(v, want);
    free(v);
}

static void usable_at(PGconn *c, int line) {
    if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE ||
        PQpipelineStatus(c) != PQ_PIPELINE_OFF)
        fprintf(stderr, "line %d: status %d, transaction %d, pipeline %d: %s\n", line, PQstatus(c),
                PQtransactionStatus(c), PQpipelineStatus(c), PQerrorMessage(c));
    ASSERT_EQ(PQstatus(c), CONNECTION_OK);
    ASSERT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
    ASSERT_EQ(PQpipelineStatus(c), PQ_PIPELINE_OFF);
    expect(c, "select $1::int + 1", "41", "42");
}

#define usable(c) usable_at(c, __LINE__)

/* Idle and usable, or closed: never in between. Returns 1 when usable. */
static int usable_or_bad_at(PGconn *c, int line) {
    if (PQstatus(c) == CONNECTION_BAD) {
        ASSERT(PQsocket(c) < 0);
        return 0;
    }
    usable_at(c, line);
    return 1;
}

#define usable_or_bad(c) usable_or_bad_at(c, __LINE__)

static void wait_state(PGconn *other, int pid, const char *what) {
    char p[16];
    snprintf(p, sizeof p, "%d", pid);
    for (int i = 0; i < 2000; i++) {
        char *v = value(other, what, p);
        int n = atoi(v);
        free(v);
        if (n == 1) return;
        ASSERT_EQ(corio_sleep(0.005), 0);
    }
    ASSERT(!"the backend never got there");
}

#define SLEEPING "select count(*) from pg_stat_activity where pid = $1 and wait_event = 'PgSleep'"

typedef struct execjob {
    PGconn *conn;
    const char *sql;
    PGresult *res;
    int rc;
} execjob;

static int exec_task(void *arg, void **result) {
    (void)result;
    execjob *j = arg;
    j->rc = corio_pq_exec(j->conn, j->sql, 0, NULL, &j->res);
    return 0;
}

typedef struct pipejob {
    PGconn *conn;
    const corio_pq_query *q;
    size_t n;
    PGresult *res[4];
    int rc;
} pipejob;

static int pipe_task(void *arg, void **result) {
    (void)result;
    pipejob *j = arg;
    j->rc = corio_pq_exec_pipeline(j->conn, j->q, j->n, j->res);
    return 0;
}

/* ---- a connection made with blocking libpq, reset by the program ----------------- */

static int blocking_conn_body(void *arg, void **result) {
    (void)arg, (void)result;
    int fds = count_fds();
    PGconn *c = PQconnectdb(pg.conninfo); /* blocks the loop: the program's choice */
    ASSERT_EQ(PQstatus(c), CONNECTION_OK);
    ASSERT(!PQisnonblocking(c));
    usable(c);
    ASSERT(PQisnonblocking(c)); /* corio_pq set it */
    /* Blocking PQreset by the program: the next call waits on the new socket. */
    for (int i = 0; i < 3; i++) {
        PQreset(c);
        ASSERT_EQ(PQstatus(c), CONNECTION_OK);
        usable(c);
    }
    /* The program drives its own reset with corio_pq_wait: the new socket
     * takes the old one's number, and the old backend (stopped here, so its
     * socket stays silent and open) must not be what corio_pq_wait watches,
     * nor may it spin on an old socket at end of file. */
    for (int i = 0; i < 6; i++) {
        int old = PQbackendPID(c);
        char cmd[128];
        if (i % 2 == 0) {
            ASSERT_EQ(kill(old, SIGSTOP), 0);
            /* Continued whatever happens here, so the server can stop. */
            snprintf(cmd, sizeof cmd, "(sleep 3; kill -CONT %d) </dev/null >/dev/null 2>&1 &", old);
            ASSERT_EQ(system(cmd), 0);
        }
        ASSERT(PQresetStart(c));
        PostgresPollingStatusType st = PGRES_POLLING_WRITING;
        int waits = 0;
        while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
            corio_timeout *cm;
            ASSERT_EQ(corio_timeout_enter(2, &cm), 0);
            int rc = corio_pq_wait(c, st == PGRES_POLLING_READING ? CORIO_READABLE : CORIO_WRITABLE);
            rc = corio_timeout_exit(cm, rc);
            if (rc <= 0) fprintf(stderr, "reset %d: corio_pq_wait %d after %d waits\n", i, rc, waits);
            ASSERT(rc > 0);
            ASSERT(++waits < 2000);
            st = PQresetPoll(c);
        }
        ASSERT_EQ(st, PGRES_POLLING_OK);
        if (i % 2 == 0) ASSERT_EQ(kill(old, SIGCONT), 0);
        usable(c);
    }
    PQfinish(c);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

TEST(pq_rev_blocking_conn) { return pq_test(blocking_conn_body); }

/* ---- PQfinish by the program while a task is inside each call ---------------------- */

static int wait_task(void *arg, void **result) {
    (void)result;
    return corio_pq_wait(arg, CORIO_READABLE);
}

static int finish_mid_body(void *arg, void **result) {
    (void)arg, (void)result;
    int fds = count_fds();
    corio_pq_query q[3] = {{"select 1", 0, NULL}, {"select pg_sleep(0.01)", 0, NULL}, {"select 3", 0, NULL}};
    for (int k = 0; k < 60; k++) {
        PGconn *c = connect_ok();
        corio_task *t;
        execjob e = {c, "select pg_sleep(0.01)", NULL, 1};
        pipejob p = {c, q, 3, {NULL}, 1};
        int pipe = k % 2;
        ASSERT_EQ(corio_create_task(pipe ? pipe_task : exec_task, pipe ? (void *)&p : (void *)&e, "victim", &t), 0);
        for (int i = 0; i < 1 + k % 15; i++) ASSERT_EQ(corio_sleep(0), 0); /* the task is inside */
        if (k >= 30) { /* cancelled first: PQfinish lands in the settling */
            corio_task_cancel(t, NULL);
            for (int i = 0; i < (k % 5); i++) ASSERT_EQ(corio_sleep(0), 0);
        }
        PQfinish(c);
        ASSERT_EQ(corio_await(t, NULL), 0);
        corio_future_unref(t);
        int rc = pipe ? p.rc : e.rc;
        if (!(rc == 0 || rc == CORIO_EFDCLOSED || rc == CORIO_ECANCELED || rc == CORIO_EPQ))
            fprintf(stderr, "k=%d rc=%d %s\n", k, rc, errmsg());
        ASSERT(rc == 0 || rc == CORIO_EFDCLOSED || rc == CORIO_ECANCELED || rc == CORIO_EPQ);
        PQclear(e.res);
        for (int i = 0; i < 3; i++) PQclear(p.res[i]);
    }
    /* A blocking PQreset by the program while a task is inside exec: that
     * call ends (its socket is gone), the connection is the new one. */
    PGconn *c = connect_ok();
    for (int k = 0; k < 10; k++) {
        execjob e = {c, k % 2 ? "select pg_sleep(0.2)" : "select g from generate_series(1, 200000) g", NULL, 1};
        corio_task *t;
        ASSERT_EQ(corio_create_task(exec_task, &e, "victim", &t), 0);
        for (int i = 0; i < 1 + k; i++) ASSERT_EQ(corio_sleep(0), 0);
        PQreset(c);
        ASSERT_EQ(corio_await(t, NULL), 0);
        corio_future_unref(t);
        if (e.rc != 0 && e.rc != CORIO_EFDCLOSED && e.rc != CORIO_EPQ) fprintf(stderr, "reset k=%d: %d %s\n", k, e.rc, errmsg());
        ASSERT(e.rc == 0 || e.rc == CORIO_EFDCLOSED || e.rc == CORIO_EPQ);
        PQclear(e.res);
        usable(c);
    }
    /* PQfinish while a task waits for notifications. */
    PGresult *r = NULL;
    ASSERT_EQ(corio_pq_exec(c, "listen x", 0, NULL, &r), 0);
    PQclear(r);
    corio_task *t;
    ASSERT_EQ(corio_create_task(wait_task, c, "listener", &t), 0);
    ASSERT_EQ(corio_sleep(0.01), 0);
    PQfinish(c);
    ASSERT_EQ(corio_await(t, NULL), CORIO_EFDCLOSED);
    corio_future_unref(t);
    for (int i = 0; i < 500 && count_fds() != fds; i++) ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

TEST(pq_rev_finish_mid_call) { return pq_test(finish_mid_body); }

/* ---- timeout scopes of 0..20 ms around every call, hundreds of times ------------ */

static int sweep(const char *info, int rounds) {
    int threads = count_threads();
    PGconn *c = connect_to(info);
    int fds = count_fds();
    corio_pq_query q[3] = {{"select 1", 0, NULL}, {"select pg_sleep(0.005)", 0, NULL}, {"select 3", 0, NULL}};
    int timedout = 0, bad = 0, done = 0;
    for (int i = 0; i < rounds; i++) {
        double d = (i % 21) * 0.001;
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(d, &cm), 0);
        int rc = 0;
        PGresult *r = NULL, *res[3] = {NULL, NULL, NULL};
        PGconn *n = NULL;
        switch (i % 4) {
        case 0: rc = corio_pq_exec(c, "select pg_sleep(0.005)", 0, NULL, &r); break;
        case 1: rc = corio_pq_exec_pipeline(c, q, 3, res); break;
        case 2: rc = corio_pq_connect(info, &n); break;
        default: rc = corio_pq_exec(c, "select g from generate_series(1, 20000) g", 0, NULL, &r); break;
        }
        rc = corio_timeout_exit(cm, rc);
        if (rc != 0 && rc != CORIO_ETIMEDOUT) fprintf(stderr, "i=%d rc=%d %s\n", i, rc, errmsg());
        ASSERT(rc == 0 || rc == CORIO_ETIMEDOUT);
        if (rc == CORIO_ETIMEDOUT) {
            timedout++;
            ASSERT(!r && !res[0] && !res[1] && !res[2] && !n);
        } else {
            done++;
        }
        PQclear(r);
        for (int k = 0; k < 3; k++) PQclear(res[k]);
        if (n) {
            usable(n);
            PQfinish(n);
        }
        if (!usable_or_bad(c)) {
            bad++;
            PQfinish(c);
            c = connect_to(info);
        }
        ASSERT_EQ(count_fds(), fds);
    }
    printf("timed out %d, done %d, closed %d; threads %d before, %d now\n", timedout, done, bad,
           threads, count_threads());
    /* The cancel requests' threads are gone soon. */
    for (int i = 0; i < 500 && count_threads() > threads + TSAN_THREADS; i++) ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT(count_threads() <= threads + TSAN_THREADS);
    PQfinish(c);
    return 0;
}

static char tls_info[600];

static const char *tls_conninfo(void) {
    if (!pg.ssl) return NULL;
    snprintf(tls_info, sizeof tls_info, "host=127.0.0.1 port=%d user=corio_ssl dbname=postgres sslmode=require", pg.port);
    return tls_info;
}

static int cancel_sweep_body(void *arg, void **result) {
    (void)arg, (void)result;
    sweep(pg.conninfo, 300);
    if (tls_conninfo()) sweep(tls_conninfo(), 150); /* the same over TLS */
    else printf("no TLS on the server: the TLS half skipped\n");
    return 0;
}

TEST(pq_rev_cancel_sweep) { return pq_test(cancel_sweep_body); }

/* ---- a pipeline whose connection goes bad ---------------------------------------- */

static int pipeline_bad_body(void *arg, void **result) {
    (void)arg, (void)result;
    int fds = count_fds();
    PGconn *c = connect_ok(), *other = connect_ok();
    corio_pq_query q[3] = {{"select 1", 0, NULL}, {"select pg_sleep(30)", 0, NULL}, {"select 3", 0, NULL}};
    /* pg_terminate_backend during the pipeline. */
    pipejob j = {c, q, 3, {NULL}, 1};
    corio_task *t;
    ASSERT_EQ(corio_create_task(pipe_task, &j, "pipeline", &t), 0);
    wait_state(other, PQbackendPID(c), SLEEPING);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(c));
    expect(other, "select pg_terminate_backend($1)", pid, "t");
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(j.rc, CORIO_EPQ);
    for (int i = 0; i < 3; i++) PQclear(j.res[i]);
    ASSERT_EQ(PQstatus(c), CONNECTION_BAD);
    ASSERT_EQ(PQpipelineStatus(c), PQ_PIPELINE_OFF);
    ASSERT_EQ(corio_pq_reset(c), 0);
    usable(c);
    /* Cancelled with a cancel timeout of 0: closed at once; a reset makes
     * it usable again, out of pipeline mode. */
    ASSERT_EQ(corio_pq_set_cancel_timeout(c, 0), 0);
    PGresult *res[3] = {NULL, NULL, NULL};
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(0.05, &cm), 0);
    ASSERT_EQ(corio_timeout_exit(cm, corio_pq_exec_pipeline(c, q, 3, res)), CORIO_ETIMEDOUT);
    ASSERT_EQ(PQstatus(c), CONNECTION_BAD);
    PGresult *r = NULL;
    ASSERT_EQ(corio_pq_exec(c, "select 1", 0, NULL, &r), CORIO_EPQ);
    printf("closed in a pipeline: pipeline status %d, exec says: %s\n", PQpipelineStatus(c), errmsg());
    /* It left pipeline mode (as corio_pq.h says), and a call says it is closed. */
    ASSERT_EQ(PQpipelineStatus(c), PQ_PIPELINE_OFF);
    ASSERT(!strstr(errmsg(), "pipeline mode"));
    ASSERT_EQ(corio_pq_reset(c), 0);
    usable(c);
    /* A pipeline whose second statement libpq refuses (too many
     * parameters): nothing half-sent remains. */
    static const char *many[70000];
    for (int i = 0; i < 70000; i++) many[i] = "1";
    corio_pq_query q2[3] = {{"select 1", 0, NULL}, {"select $1", 70000, many}, {"select 3", 0, NULL}};
    ASSERT_EQ(corio_pq_set_cancel_timeout(c, 5), 0);
    ASSERT_EQ(corio_pq_exec_pipeline(c, q2, 3, res), CORIO_EPQ);
    for (int i = 0; i < 3; i++) PQclear(res[i]);
    usable(c);
    PQfinish(c);
    PQfinish(other);
    /* A cancel request's thread cut short (cancel timeout 0) ends soon. */
    for (int i = 0; i < 500 && count_fds() != fds; i++) ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

TEST(pq_rev_pipeline_bad) { return pq_test(pipeline_bad_body); }

/* ---- the server restarted mid-session ------------------------------------------- */

static server own;

static void restart_own(void) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "b=$(pg_config --bindir 2>/dev/null); [ -x \"$b/pg_ctl\" ] || b=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); "
             "as=; [ \"$(id -u)\" = 0 ] && as='runuser -u postgres --'; "
             "$as \"$b/pg_ctl\" -D '%s/data' -l '%s/log' -m immediate -w -t 60 restart >/dev/null 2>&1",
             own.dir, own.dir);
    ASSERT_EQ(system(cmd), 0);
}

static int restart_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_to(own.conninfo);
    int fds = count_fds();
    usable(c);
    execjob j = {c, "select pg_sleep(30)", NULL, 1};
    corio_task *t;
    ASSERT_EQ(corio_create_task(exec_task, &j, "sleeper", &t), 0);
    ASSERT_EQ(corio_sleep(0.2), 0);
    restart_own(); /* blocks the loop meanwhile: the task sees it after */
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(j.rc, CORIO_EPQ);
    PQclear(j.res);
    ASSERT_EQ(PQstatus(c), CONNECTION_BAD);
    ASSERT(count_fds() < fds);
    ASSERT_EQ(corio_pq_reset(c), 0);
    usable(c);
    /* Restarted while idle: the next call reports it, a reset mends it. */
    restart_own();
    PGresult *r = NULL;
    int rc = corio_pq_exec(c, "select 1", 0, NULL, &r);
    ASSERT_EQ(rc, CORIO_EPQ);
    PQclear(r);
    ASSERT_EQ(PQstatus(c), CONNECTION_BAD);
    ASSERT_EQ(corio_pq_reset(c), 0);
    usable(c);
    ASSERT_EQ(count_fds(), fds);
    PQfinish(c);
    return 0;
}

TEST(pq_rev_server_restart) {
    if (!start_own(&own, "restart")) return TEST_SKIP;
    on_loop(restart_body, NULL);
    stop_own(&own);
    return 0;
}

/* ---- cancels while the postmaster does not answer ------------------------------------ */

/* The postmaster stopped (its backends run): a cancel request's thread
 * blocks in PQcancel until it answers. Each call still returns within the
 * cancel timeout (the connection closed); the threads wait meanwhile and
 * end once the postmaster runs again. Measured: one thread and two fds per
 * cancelled call while it is stopped. */
enum { HUNG = 10 };

static int hung_body(void *arg, void **result) {
    (void)arg, (void)result;
    int threads = count_threads(), fds = count_fds();
    PGconn *c[HUNG];
    for (int i = 0; i < HUNG; i++) {
        c[i] = connect_to(own.conninfo);
        ASSERT_EQ(corio_pq_set_cancel_timeout(c[i], 0.1), 0);
    }
    char pm[300];
    snprintf(pm, sizeof pm, "%s/data/postmaster.pid", own.dir);
    FILE *f = fopen(pm, "re");
    ASSERT(f);
    int pid = 0;
    ASSERT_EQ(fscanf(f, "%d", &pid), 1);
    fclose(f);
    ASSERT_EQ(kill(pid, SIGSTOP), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "(sleep 20; kill -CONT %d) </dev/null >/dev/null 2>&1 &", pid);
    ASSERT_EQ(system(cmd), 0);
    for (int i = 0; i < HUNG; i++) {
        PGresult *r = NULL;
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(0.02, &cm), 0);
        int rc = corio_timeout_exit(cm, corio_pq_exec(c[i], "select pg_sleep(30)", 0, NULL, &r));
        ASSERT_EQ(rc, CORIO_ETIMEDOUT);
        ASSERT(r == NULL);
        ASSERT_EQ(PQstatus(c[i]), CONNECTION_BAD);
        PQfinish(c[i]);
    }
    int hung = count_threads() - threads, hungfds = count_fds() - fds;
    printf("postmaster stopped: %d cancel threads and %d fds wait after %d cancelled calls\n", hung,
           hungfds, HUNG);
    ASSERT_EQ(kill(pid, SIGCONT), 0);
    for (int i = 0; i < 1000 && (count_threads() > threads + TSAN_THREADS || count_fds() != fds); i++)
        ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT(count_threads() <= threads + TSAN_THREADS);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

TEST(pq_rev_cancel_server_hung) {
    if (!start_own(&own, "hung")) return TEST_SKIP;
    on_loop(hung_body, NULL);
    stop_own(&own);
    return 0;
}

/* ---- 100 MB in one result, and cancelled midway ---------------------------------- */

static int huge(const char *info) {
    PGconn *c = connect_to(info);
    int fds = count_fds();
    PGresult *r = NULL;
    ASSERT_EQ(corio_pq_exec(c, "select repeat('x', 1048576) from generate_series(1, 100)", 0, NULL, &r), 0);
    ASSERT_EQ(PQntuples(r), 100);
    ASSERT_EQ(PQgetlength(r, 99, 0), 1048576);
    PQclear(r);
    for (int i = 0; i < 6; i++) {
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(0.005 * (i + 1), &cm), 0);
        int rc = corio_pq_exec(c, "select repeat('x', 1048576) from generate_series(1, 100)", 0, NULL, &r);
        rc = corio_timeout_exit(cm, rc);
        ASSERT(rc == 0 || rc == CORIO_ETIMEDOUT);
        PQclear(r);
        r = NULL;
        if (!usable_or_bad(c)) {
            PQfinish(c);
            c = connect_to(info);
        }
        ASSERT_EQ(count_fds(), fds);
    }
    PQfinish(c);
    return 0;
}

static int huge_body(void *arg, void **result) {
    (void)arg, (void)result;
    huge(pg.conninfo);
    if (tls_conninfo()) {
        PGconn *t = connect_to(tls_conninfo());
        ASSERT(PQsslInUse(t));
        PQfinish(t);
        huge(tls_conninfo());
    }
    return 0;
}

TEST(pq_rev_huge_result) { return pq_test(huge_body); }

/* ---- COPY -------------------------------------------------------------------------- */

static int copy_body(void *arg, void **result) {
    (void)arg, (void)result;
    int fds = count_fds();
    PGconn *c = connect_ok();
    PGresult *r = NULL;
    ASSERT_EQ(corio_pq_exec(c, "create temp table t (a int, b text)", 0, NULL, &r), 0);
    PQclear(r);
    /* COPY FROM STDIN through exec: refused by ending it with an error. */
    ASSERT_EQ(corio_pq_exec(c, "copy t from stdin", 0, NULL, &r), CORIO_EPQ);
    PQclear(r);
    usable(c);
    /* COPY TO STDOUT: rows dropped and counted. */
    ASSERT_EQ(corio_pq_exec(c, "copy (select g, repeat('y', 100) from generate_series(1, 100000) g) to stdout", 0, NULL, &r), 0);
    ASSERT_STR(PQcmdTuples(r), "100000");
    PQclear(r);
    usable(c);
    /* The program's own COPY FROM STDIN with the pieces. */
    ASSERT(PQsendQuery(c, "copy t from stdin"));
    ASSERT_EQ(corio_pq_flush(c), 0);
    ASSERT_EQ(corio_pq_get_result(c, &r), 1);
    ASSERT_EQ(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    char line[64];
    for (int i = 0; i < 50000; i++) {
        int n = snprintf(line, sizeof line, "%d\tv%d\n", i, i);
        int w;
        while ((w = PQputCopyData(c, line, n)) == 0) ASSERT(corio_pq_wait(c, CORIO_WRITABLE) > 0);
        ASSERT_EQ(w, 1);
    }
    ASSERT_EQ(PQputCopyEnd(c, NULL), 1);
    ASSERT_EQ(corio_pq_flush(c), 0);
    ASSERT_EQ(corio_pq_get_result(c, &r), 1);
    ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
    ASSERT_STR(PQcmdTuples(r), "50000");
    PQclear(r);
    ASSERT_EQ(corio_pq_get_result(c, &r), 0);
    usable(c);
    /* COPY in a pipeline: whatever the answer, the connection is idle after. */
    corio_pq_query q[2] = {{"copy t to stdout", 0, NULL}, {"select 2", 0, NULL}};
    PGresult *res[2] = {NULL, NULL};
    int rc = corio_pq_exec_pipeline(c, q, 2, res);
    printf("COPY in a pipeline: %d %s\n", rc, rc ? errmsg() : "");
    PQclear(res[0]);
    PQclear(res[1]);
    ASSERT(usable_or_bad(c));
    /* COPY TO STDOUT cancelled midway, many times. */
    for (int i = 0; i < 20; i++) {
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(0.001 * i, &cm), 0);
        rc = corio_pq_exec(c, "copy (select g, repeat('y', 100) from generate_series(1, 300000) g) to stdout", 0, NULL, &r);
        rc = corio_timeout_exit(cm, rc);
        ASSERT(rc == 0 || rc == CORIO_ETIMEDOUT);
        PQclear(r);
        r = NULL;
        ASSERT(usable_or_bad(c));
    }
    /* COPY FROM STDIN cancelled while the program writes (in a transaction, so
     * the cancel has something to hit). */
    ASSERT(PQsendQuery(c, "copy t from stdin"));
    ASSERT_EQ(corio_pq_flush(c), 0);
    ASSERT_EQ(corio_pq_get_result(c, &r), 1);
    PQclear(r);
    ASSERT_EQ(PQputCopyData(c, "1\tx\n", 4), 1);
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(0, &cm), 0);
    rc = corio_timeout_exit(cm, corio_pq_get_result(c, &r));
    printf("get_result in COPY IN under a 0 s scope: %d\n", rc);
    if (rc == 1) PQclear(r);
    ASSERT_EQ(corio_pq_set_cancel_timeout(c, 2), 0);
    /* Whatever it did, nothing hangs: the connection ends idle or closed. */
    for (int i = 0; i < 10 && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE; i++) {
        if (PQresultStatus(r = PQgetResult(c)) == PGRES_COPY_IN) PQputCopyEnd(c, "stop");
        PQclear(r);
        ASSERT_EQ(corio_pq_flush(c), 0);
        ASSERT(corio_pq_get_result(c, &r) >= 0);
        PQclear(r);
    }
    ASSERT(usable_or_bad(c));
    if (PQstatus(c) == CONNECTION_BAD) ASSERT_EQ(corio_pq_reset(c), 0);
    /* The program's COPY FROM STDIN, its flush cut short at growing times:
     * the copy is cancelled, the connection idle (or closed) after. */
    static char chunk[65536];
    for (size_t i = 0; i < sizeof chunk; i += 16) memcpy(chunk + i, "1\txxxxxxxxxxxxx\n", 16);
    int cut = 0, closed = 0;
    for (int i = 0; i < 12; i++) {
        ASSERT(PQsendQuery(c, "copy t from stdin"));
        ASSERT_EQ(corio_pq_flush(c), 0);
        ASSERT_EQ(corio_pq_get_result(c, &r), 1);
        ASSERT_EQ(PQresultStatus(r), PGRES_COPY_IN);
        PQclear(r);
        ASSERT_EQ(corio_timeout_enter(0.03 * i, &cm), 0);
        rc = 0;
        for (int k = 0; k < 300 && rc == 0; k++) { /* 19 MB */
            int w;
            while (rc == 0 && (w = PQputCopyData(c, chunk, sizeof chunk)) == 0) rc = corio_pq_flush(c);
            if (rc == 0) ASSERT_EQ(w, 1);
            if (rc == 0) rc = corio_pq_flush(c);
        }
        rc = corio_timeout_exit(cm, rc);
        if (rc == 0) {
            ASSERT_EQ(PQputCopyEnd(c, NULL), 1);
            ASSERT_EQ(corio_pq_flush(c), 0);
            ASSERT_EQ(corio_pq_get_result(c, &r), 1);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) fprintf(stderr, "copy %d: %s", i, PQresultErrorMessage(r));
            ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
            PQclear(r);
            ASSERT_EQ(corio_pq_get_result(c, &r), 0);
        } else {
            if (rc != CORIO_ETIMEDOUT) fprintf(stderr, "copy flush %d: %d %s\n", i, rc, errmsg());
            ASSERT_EQ(rc, CORIO_ETIMEDOUT);
            cut++;
        }
        if (!usable_or_bad(c)) {
            closed++;
            ASSERT_EQ(corio_pq_reset(c), 0);
        }
    }
    printf("COPY FROM STDIN flushes cut short: %d of 12, the connection closed %d times\n", cut, closed);
    PQfinish(c);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

TEST(pq_rev_copy_edges) { return pq_test(copy_body); }

/* ---- a flood of notifications ------------------------------------------------------ */

enum { NOTIFIES = 20000 };

static char channel[32];

static int notifier(void *arg, void **result) {
    (void)result;
    PGconn *o = arg;
    PGresult *r = NULL;
    const char *p[1] = {channel};
    ASSERT_EQ(corio_pq_exec(o, "select count(pg_notify($1, g::text)) from generate_series(1, 20000) g", 1, p, &r), 0);
    PQclear(r);
    return 0;
}

static int notify_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_ok(), *o = connect_ok();
    PGresult *r = NULL;
    /* A channel of this process's own: the cluster is shared (ctest -j2). */
    snprintf(channel, sizeof channel, "flood_%ld", (long)getpid());
    char sql[64];
    snprintf(sql, sizeof sql, "listen %s", channel);
    ASSERT_EQ(corio_pq_exec(c, sql, 0, NULL, &r), 0);
    PQclear(r);
    corio_task *t;
    ASSERT_EQ(corio_create_task(notifier, o, "notifier", &t), 0);
    int got = 0, last = 0, calls = 0;
    while (got < NOTIFIES) {
        /* Queries on the listening connection meanwhile: the notices wait. */
        if (++calls % 7 == 0) usable(c);
        PGnotify *n;
        while ((n = PQnotifies(c))) {
            int v = atoi(n->extra);
            ASSERT_EQ(v, last + 1);
            last = v;
            got++;
            PQfreemem(n);
        }
        if (got == NOTIFIES) break;
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(20, &cm), 0);
        int rc = corio_timeout_exit(cm, corio_pq_wait(c, CORIO_READABLE));
        ASSERT(rc > 0);
        ASSERT(PQconsumeInput(c));
    }
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    PQfinish(c);
    PQfinish(o);
    return 0;
}

TEST(pq_rev_notify_flood) { return pq_test(notify_body); }

/* ---- odd inputs -------------------------------------------------------------------- */

static int bad_input_body(void *arg, void **result) {
    (void)arg, (void)result;
    corio_timeout *cm0;
    int fds = count_fds();
    PGconn *c = connect_ok();
    PGresult *r = NULL;
    /* A NULL entry is SQL NULL. */
    const char *nul[1] = {NULL};
    ASSERT_EQ(corio_pq_exec(c, "select $1::text is null", 1, nul, &r), 0);
    ASSERT_STR(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    /* More parameters than the protocol carries: refused, the connection fine. */
    static const char *many[70000];
    for (int i = 0; i < 70000; i++) many[i] = "1";
    ASSERT_EQ(corio_pq_exec(c, "select $1", 70000, many, &r), CORIO_EPQ);
    ASSERT(r == NULL);
    usable(c);
    ASSERT_EQ(corio_pq_exec(c, "select 1", INT32_MIN, many, &r), CORIO_EINVAL);
    /* SQL with a NUL inside: C strings end there. */
    ASSERT_EQ(corio_pq_exec(c, "select 7\0 and garbage", 0, NULL, &r), 0);
    ASSERT_STR(PQgetvalue(r, 0, 0), "7");
    PQclear(r);
    /* The empty statement. */
    ASSERT_EQ(corio_pq_exec(c, "", 0, NULL, &r), 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_EMPTY_QUERY);
    PQclear(r);
    /* Several statements in one string: the extended protocol refuses. */
    ASSERT_EQ(corio_pq_exec(c, "select 1; select 2", 0, NULL, &r), CORIO_EPQ);
    PQclear(r);
    usable(c);
    /* conninfo garbage: an error, never a hang or a crash. */
    static char longinfo[100000];
    memset(longinfo, 'a', sizeof longinfo - 1);
    const char *garbage[] = {"", "=", "host=", "port=abc host=127.0.0.1", "host=127.0.0.1 port=99999",
                             "postgresql://[::1", "host=127.0.0.1 port=1 connect_timeout=-5",
                             "hostaddr=not.an.address", "host=/nonexistent/dir user=postgres",
                             "'unterminated", longinfo, "host=127.0.0.1 sslmode=bogus", "service=nonexistent"};
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++) {
        PGconn *n = (PGconn *)1;
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(10, &cm), 0);
        int rc = corio_timeout_exit(cm, corio_pq_connect(garbage[i], &n));
        if (rc != CORIO_EPQ) fprintf(stderr, "conninfo %zu: %d %s\n", i, rc, errmsg());
        ASSERT_EQ(rc, CORIO_EPQ);
        ASSERT(n == NULL);
    }
    /* Cancel timeouts: inf, -inf, negative, huge; NaN refused. */
    double tos[] = {INFINITY, -INFINITY, -1, 0, 1e308, 1e-300};
    for (size_t i = 0; i < sizeof tos / sizeof *tos; i++) {
        ASSERT_EQ(corio_pq_set_cancel_timeout(c, tos[i]), 0);
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(0.02, &cm), 0);
        int rc = corio_timeout_exit(cm, corio_pq_exec(c, "select pg_sleep(30)", 0, NULL, &r));
        ASSERT_EQ(rc, CORIO_ETIMEDOUT);
        ASSERT(r == NULL);
        int ok = usable_or_bad(c);
        /* No bound: the cancel went and the drain ended; <= 0: closed at once. */
        if (tos[i] > 1) ASSERT(ok);
        if (tos[i] <= 0) ASSERT(!ok);
        if (!ok) ASSERT_EQ(corio_pq_reset(c), 0);
    }
    ASSERT_EQ(corio_pq_set_cancel_timeout(c, NAN), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_set_cancel_timeout(c, -NAN), CORIO_EINVAL);
    /* Server-side timeouts: a statement's is an error (the connection
     * fine); an idle session's ends the session while a task waits on it. */
    char info[700];
    snprintf(info, sizeof info, "%s options='-c statement_timeout=50 -c idle_session_timeout=300'", pg.conninfo);
    PGconn *t = connect_to(info);
    ASSERT_EQ(corio_pq_exec(t, "select pg_sleep(5)", 0, NULL, &r), CORIO_EPQ);
    ASSERT(strstr(errmsg(), "57014"));
    PQclear(r);
    usable(t);
    for (int i = 0; i < 10 && PQstatus(t) == CONNECTION_OK; i++) {
        ASSERT_EQ(corio_timeout_enter(20, &cm0), 0);
        int w = corio_timeout_exit(cm0, corio_pq_wait(t, CORIO_READABLE));
        ASSERT_EQ(w, CORIO_READABLE);
        PQconsumeInput(t); /* the FATAL message, then the end of the stream */
    }
    ASSERT_EQ(PQstatus(t), CONNECTION_BAD);
    ASSERT_EQ(corio_pq_wait(t, CORIO_READABLE), CORIO_EPQ);
    ASSERT_EQ(corio_pq_exec(t, "select 1", 0, NULL, &r), CORIO_EPQ);
    PQclear(r);
    PQfinish(t);
    /* Over the Unix socket. */
    snprintf(info, sizeof info, "host=%s port=%d user=postgres dbname=postgres", pg.dir, pg.port);
    t = connect_to(info);
    usable(t);
    PQfinish(t);
    /* A connection the program started and never polled. */
    PGconn *s = PQconnectStart(pg.conninfo);
    ASSERT(s);
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(5, &cm), 0);
    int rc = corio_timeout_exit(cm, corio_pq_exec(s, "select 1", 0, NULL, &r));
    printf("exec on a connection still connecting: %d %s\n", rc, errmsg());
    ASSERT_EQ(rc, CORIO_EPQ);
    PQclear(r);
    PQfinish(s);
    PQfinish(c);
    /* The cancel requests' threads cut short finish soon (their socket and pipe). */
    for (int i = 0; i < 500 && count_fds() != fds; i++) ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

TEST(pq_rev_bad_input) { return pq_test(bad_input_body); }

/* ---- one connection, several loops in turn (and threads) --------------------------- */

static PGconn *roaming;

static int roam_connect(void *arg, void **result) {
    (void)arg, (void)result;
    roaming = connect_ok();
    usable(roaming);
    return 0;
}

static int roam_use(void *arg, void **result) {
    (void)arg, (void)result;
    usable(roaming);
    corio_timeout *cm;
    PGresult *r = NULL;
    ASSERT_EQ(corio_timeout_enter(0.01, &cm), 0);
    int rc = corio_timeout_exit(cm, corio_pq_exec(roaming, "select pg_sleep(30)", 0, NULL, &r));
    ASSERT_EQ(rc, CORIO_ETIMEDOUT);
    usable(roaming);
    return 0;
}

static void *roam_thread(void *arg) {
    (void)arg;
    on_loop(roam_use, NULL);
    return NULL;
}

TEST(pq_rev_other_loops) {
    if (!pg_up()) return TEST_SKIP;
    int fds = count_fds();
    on_loop(roam_connect, NULL);
    on_loop(roam_use, NULL); /* a new loop, the first one freed */
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, roam_thread, NULL), 0);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    /* Two loops alive at once, used one after the other on this thread. */
    corio_loop *a, *b;
    ASSERT_EQ(corio_loop_new(&a), 0);
    ASSERT_EQ(corio_loop_new(&b), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(a, roam_use, NULL, "a", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(a, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_create_task(b, roam_use, NULL, "b", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(b, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_create_task(a, roam_use, NULL, "a2", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(a, t, NULL), 0);
    corio_future_unref(t);
    close_loop(a);
    ASSERT_EQ(corio_loop_create_task(b, roam_use, NULL, "b2", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(b, t, NULL), 0);
    corio_future_unref(t);
    PQfinish(roaming); /* b still open, not running */
    close_loop(b);
    /* PQfinish between a loop's close and its free. */
    on_loop(roam_connect, NULL);
    corio_loop *d;
    ASSERT_EQ(corio_loop_new(&d), 0);
    ASSERT_EQ(corio_loop_create_task(d, roam_use, NULL, "d", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(d, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_close(d), 0);
    PQfinish(roaming);
    ASSERT_EQ(corio_loop_free(d), 0);
    for (int i = 0; i < 500 && count_fds() != fds; i++) usleep(10000);
    ASSERT_EQ(count_fds(), fds);
    stop_own(&pg);
    return 0;
}

/* ---- tasks on one shared stack (CORIO_STACK_COPY) ------------------------------------- */

/* Each worker: its own connection (TLS for odd ones when the server has
 * it), queries, pipelines and cancels; nothing it lends out may point into
 * its stack while it is suspended. */
static int copy_worker(void *arg, void **result) {
    (void)result;
    intptr_t id = (intptr_t)arg;
    const char *info = id % 2 && tls_conninfo() ? tls_info : pg.conninfo;
    PGconn *c = connect_to(info);
    corio_pq_query q[2] = {{"select $1::int * 2", 1, NULL}, {"select pg_sleep(0.002)", 0, NULL}};
    for (int i = 0; i < 30; i++) {
        char n[16];
        snprintf(n, sizeof n, "%d", i);
        const char *p[1] = {n};
        q[0].params = p;
        PGresult *res[2] = {NULL, NULL}, *r = NULL;
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(((int)id + i) % 5 * 0.001, &cm), 0);
        int rc = i % 2 ? corio_pq_exec_pipeline(c, q, 2, res) : corio_pq_exec(c, "select $1::int * 2 from pg_sleep(0.002)", 1, p, &r);
        rc = corio_timeout_exit(cm, rc);
        ASSERT(rc == 0 || rc == CORIO_ETIMEDOUT);
        PGresult *v = i % 2 ? res[0] : r;
        if (rc == 0) ASSERT_EQ(atoi(PQgetvalue(v, 0, 0)), 2 * i);
        PQclear(r);
        PQclear(res[0]);
        PQclear(res[1]);
        if (!usable_or_bad(c)) {
            PQfinish(c);
            c = connect_to(info);
        }
    }
    PQfinish(c);
    return 0;
}

static int copy_stack_body(void *arg, void **result) {
    (void)arg, (void)result;
    corio_task *t[8];
    for (intptr_t i = 0; i < 8; i++) ASSERT_EQ(corio_create_task(copy_worker, (void *)i, "worker", &t[i]), 0);
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ(corio_await(t[i], NULL), 0);
        corio_future_unref(t[i]);
    }
    return 0;
}

TEST(pq_rev_copy_stack) {
    if (!pg_up()) return TEST_SKIP;
    int fds = count_fds();
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, copy_stack_body, NULL, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    for (int i = 0; i < 500 && count_fds() != fds; i++) usleep(10000);
    ASSERT_EQ(count_fds(), fds);
    stop_own(&pg);
    return 0;
}

/* ---- the loop closed while a task is inside a call ----------------------------------- */

static PGconn *stranded;

static int strand_task(void *arg, void **result) {
    (void)result;
    PGresult *r = NULL;
    if (arg) { /* cancelled under a long cancel timeout: inside the settling */
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(0.05, &cm), 0);
        corio_timeout_exit(cm, corio_pq_exec(stranded, "select pg_sleep(30)", 0, NULL, &r));
    } else {
        corio_pq_exec(stranded, "select pg_sleep(30)", 0, NULL, &r);
    }
    PQclear(r);
    return 0;
}

static int strand_main(void *arg, void **result) {
    (void)result;
    stranded = connect_ok();
    ASSERT_EQ(corio_create_task(strand_task, arg, "stranded", NULL), 0);
    ASSERT_EQ(corio_sleep(0.2), 0);
    return 0; /* the loop closes with the task inside corio_pq_exec */
}

static int strand_after(void *arg, void **result) {
    (void)arg, (void)result;
    PGresult *r = NULL;
    int rc = corio_pq_exec(stranded, "select 1", 0, NULL, &r);
    printf("exec on a new loop after its task was destroyed: %d %s\n", rc, rc ? errmsg() : "");
    PQclear(r);
    return 0;
}

static void strand_run(void *arg) {
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_loop_set_exception_handler(loop, quiet, NULL);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, strand_main, arg, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
}

TEST(pq_rev_loop_closed_inflight) {
    if (!pg_up()) return TEST_SKIP;
    int fds = count_fds();
    /* Known (the adapter's author): a connection whose call was inside
     * when its loop closed keeps corio_pq's state busy: corio_pq calls on it
     * get CORIO_EBUSY from then on, and PQfinish leaves that state (32
     * bytes) unfreed. LeakSanitizer would report it: the case runs without. */
#if defined(__SANITIZE_ADDRESS__)
#define PQ_REV_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PQ_REV_LSAN 1
#endif
#endif
#ifdef PQ_REV_LSAN
    for (int k = 1; k < 2; k++) {
#else
    for (int k = 0; k < 2; k++) {
#endif
        strand_run(k ? (void *)1 : NULL);
        on_loop(strand_after, NULL);
        PQfinish(stranded); /* everything of corio_pq's goes with it */
    }
    for (int i = 0; i < 500 && count_fds() != fds; i++) usleep(10000);
    ASSERT_EQ(count_fds(), fds);
    stop_own(&pg);
    return 0;
}

/* ---- corio_run ending with tasks inside calls -------------------------------------------------- */

/* asyncio.run cancels what is left when main returns: tasks inside a
 * query send the cancel request and leave their connections idle. */
static PGconn *left[4];

static int left_task(void *arg, void **result) {
    (void)result;
    PGresult *r = NULL;
    int rc = corio_pq_exec(arg, "select pg_sleep(30)", 0, NULL, &r);
    PQclear(r);
    return rc;
}

static int run_main(void *arg, void **result) {
    (void)arg, (void)result;
    for (int i = 0; i < 4; i++) {
        left[i] = connect_ok();
        ASSERT_EQ(corio_create_task(left_task, left[i], "left", NULL), 0);
    }
    ASSERT_EQ(corio_sleep(0.1), 0);
    return 0;
}

TEST(pq_rev_run_shutdown) {
    if (!pg_up()) return TEST_SKIP;
    int fds = count_fds();
    double t0 = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = ts.tv_sec + ts.tv_nsec / 1e9;
    ASSERT_EQ(corio_run(run_main, NULL, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("corio_run's clean-up took %.3f s\n", ts.tv_sec + ts.tv_nsec / 1e9 - t0);
    /* Idle on the server: a blocking query of libpq's own answers at once. */
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(PQstatus(left[i]), CONNECTION_OK);
        ASSERT_EQ(PQtransactionStatus(left[i]), PQTRANS_IDLE);
        PQsetnonblocking(left[i], 0);
        PGresult *r = PQexec(left[i], "select 5");
        ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
        ASSERT_STR(PQgetvalue(r, 0, 0), "5");
        PQclear(r);
        PQfinish(left[i]);
    }
    ASSERT_EQ(count_fds(), fds);
    stop_own(&pg);
    return 0;
}

#endif
