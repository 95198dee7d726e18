/* The libpq adapter (include/corio_pq.h) against a real PostgreSQL on
 * loopback. Under ctest the server is the fixture's (pq_server_start /
 * pq_server_stop, tests/pq_server.sh: one cluster for the whole run,
 * CORIO_PQ_STATE names its state file); run alone, a test starts its own
 * with the same script and stops it at the end (its watchdog stops it if
 * the test dies first). Tests share the server: they use temporary tables
 * and touch only their own sessions. */
#include "test.h"

/* Every test, with libpq or without (then each skips naming the package). */
#define PQ_TESTS(X)                                                                                \
    X(pq_connect_exec)                                                                             \
    X(pq_server_error)                                                                             \
    X(pq_connect_refused)                                                                          \
    X(pq_connect_host_list)                                                                        \
    X(pq_connect_tls)                                                                              \
    X(pq_tls_large_records)                                                                        \
    X(pq_no_stale_registration)                                                                    \
    X(pq_connect_timeout)                                                                          \
    X(pq_server_terminates)                                                                        \
    X(pq_reset)                                                                                    \
    X(pq_timeout_cancels_query)                                                                    \
    X(pq_cancel_connect)                                                                           \
    X(pq_cancel_exec)                                                                              \
    X(pq_cancel_unresponsive)                                                                      \
    X(pq_concurrent_1000)                                                                          \
    X(pq_pipeline)                                                                                 \
    X(pq_results_copy_notify)                                                                      \
    X(pq_bad_input)

#ifndef CORIO_HAVE_PQ

#define PQ_SKIP(name)                                                                              \
    TEST(name) {                                                                                   \
        printf("libpq's headers were not found when corio was built (Debian: libpq-dev): "        \
               "skipped\n");                                                                       \
        return TEST_SKIP;                                                                          \
    }
PQ_TESTS(PQ_SKIP)

#else

#include "corio_pq.h"

#include <libpq-events.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the server ------------------------------------------------------------ */

static struct {
    int port;
    int ssl;             /* TLS on; role corio_ssl takes it, postgres is refused over it */
    char dir[256];       /* its directory (the Unix socket is there) */
    char conninfo[512];  /* TCP on 127.0.0.1 */
    char state[300];     /* the state file of a server this process started */
    int own;
} pg;

static int read_state(const char *path) {
    FILE *f = fopen(path, "re");
    if (!f) {
        printf("no PostgreSQL state file %s (the pq_server fixture did not run): skipped\n", path);
        return 0;
    }
    char line[512] = "";
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    if (strncmp(line, "skip ", 5) == 0 || sscanf(line, "%d %255s %d", &pg.port, pg.dir, &pg.ssl) < 2) {
        printf("no PostgreSQL server: %s", line[0] ? line + 5 : "empty state file\n");
        return 0;
    }
    snprintf(pg.conninfo, sizeof pg.conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", pg.port);
    return 1;
}

/* 1 when a server is there; 0: skip (the reason is printed). */
static int pg_up(void) {
    const char *st = getenv("CORIO_PQ_STATE");
    if (st && *st) return read_state(st);
    snprintf(pg.state, sizeof pg.state, "/tmp/corio-pq-state.%ld", (long)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh '%s' start '%s' %ld", CORIO_PQ_SCRIPT, pg.state, (long)getpid());
    if (system(cmd) != 0) {
        printf("%s failed: skipped\n", CORIO_PQ_SCRIPT);
        return 0;
    }
    pg.own = 1;
    int ok = read_state(pg.state);
    if (!ok) unlink(pg.state);
    return ok;
}

static void pg_down(void) {
    if (!pg.own) return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh '%s' stop '%s' >/dev/null", CORIO_PQ_SCRIPT, pg.state);
    ASSERT_EQ(system(cmd), 0);
}

/* A test: the server, then body on a real-time loop (the backend that
 * CORIO_BACKEND names), then the server down. */
static int pq_test(corio_fn body) {
    if (!pg_up()) return TEST_SKIP;
    on_loop(body, NULL);
    pg_down();
    return 0;
}

/* ---- helpers ------------------------------------------------------------------- */

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    ASSERT(d);
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static const char *errmsg(void) {
    return corio_error_message(corio_current_error());
}

static PGconn *connect_ok(void) {
    PGconn *c = NULL;
    int rc = corio_pq_connect(pg.conninfo, &c);
    if (rc != 0) fprintf(stderr, "connect: %d %s\n", rc, errmsg());
    ASSERT_EQ(rc, 0);
    ASSERT(c && PQstatus(c) == CONNECTION_OK);
    return c;
}

/* Run sql (with up to 2 parameters) and return its first value, owned. */
static char *value(PGconn *c, const char *sql, const char *p1, const char *p2) {
    const char *params[2] = {p1, p2};
    PGresult *r = NULL;
    int rc = corio_pq_exec(c, sql, p2 ? 2 : p1 ? 1 : 0, params, &r);
    if (rc != 0) fprintf(stderr, "%s: %d %s\n", sql, rc, errmsg());
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
    ASSERT(PQntuples(r) >= 1);
    char *v = strdup(PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void expect(PGconn *c, const char *sql, const char *p1, const char *want) {
    char *v = value(c, sql, p1, NULL);
    ASSERT_STR(v, want);
    free(v);
}

/* The connection is idle and answers. */
static void usable(PGconn *c) {
    ASSERT_EQ(PQstatus(c), CONNECTION_OK);
    ASSERT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
    expect(c, "select $1::int + 1", "41", "42");
}

/* A port nothing listens on (bound, then closed). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A listener that never answers: libpq's connect completes in the kernel,
 * then waits for the server's reply forever. */
static int silent_listener(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ASSERT(listen(fd, 8) == 0);
    ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Until the backend `pid` sleeps in pg_sleep (seen from another session). */
static void wait_sleeping(PGconn *other, int pid) {
    char p[16];
    snprintf(p, sizeof p, "%d", pid);
    for (int i = 0; i < 2000; i++) {
        char *v = value(other,
                        "select count(*) from pg_stat_activity where pid = $1 and wait_event = 'PgSleep'",
                        p, NULL);
        int n = atoi(v);
        free(v);
        if (n == 1) return;
        ASSERT_EQ(corio_sleep(0.005), 0);
    }
    ASSERT(!"the backend never started sleeping");
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A task running one corio_pq_exec, for tests that cancel or race it. */
typedef struct execjob {
    PGconn *conn;
    const char *sql;
    const char *param;
    PGresult *res;
    int rc;
} execjob;

static int exec_task(void *arg, void **result) {
    (void)result;
    execjob *j = arg;
    j->rc = corio_pq_exec(j->conn, j->sql, j->param ? 1 : 0, &j->param, &j->res);
    return 0;
}

/* Cancel a task after `steps` loop iterations (sleep 0), or after `delay`. */
static int run_and_cancel(corio_fn fn, void *arg, int steps, double delay) {
    corio_task *t;
    ASSERT_EQ(corio_create_task(fn, arg, "victim", &t), 0);
    for (int i = 0; i < steps; i++) ASSERT_EQ(corio_sleep(0), 0);
    if (delay > 0) ASSERT_EQ(corio_sleep(delay), 0);
    int requested = corio_task_cancel(t, NULL);
    int rc = corio_await(t, NULL);
    corio_future_unref(t);
    ASSERT(rc == 0 || rc == CORIO_ECANCELED);
    return requested;
}

typedef struct connjob {
    const char *conninfo;
    PGconn *conn;
    int rc;
} connjob;

static int connect_task(void *arg, void **result) {
    (void)result;
    connjob *j = arg;
    j->rc = corio_pq_connect(j->conninfo, &j->conn);
    return 0;
}

/* ---- success and parameters ----------------------------------------------------------- */

static int connect_exec_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_ok();
    ASSERT(PQisnonblocking(c));
    expect(c, "select 1 + 1", NULL, "2");
    char *v = value(c, "select $1::int * $2::int", "6", "7");
    ASSERT_STR(v, "42");
    free(v);
    const char *nul[1] = {NULL};
    PGresult *r;
    ASSERT_EQ(corio_pq_exec(c, "select $1::text is null", 1, nul, &r), 0);
    ASSERT_STR(PQgetvalue(r, 0, 0), "t"); /* a NULL parameter is SQL NULL */
    PQclear(r);
    /* Parameters are values, never SQL. */
    expect(c, "select $1::text", "it's'; drop table x; --", "it's'; drop table x; --");
    ASSERT_EQ(corio_pq_exec(c, "", 0, NULL, &r), 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_EMPTY_QUERY);
    PQclear(r);
    ASSERT_EQ(corio_pq_exec(c, "create temp table t(a int, b text)", 0, NULL, &r), 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    const char *row[2] = {"7", "seven"};
    ASSERT_EQ(corio_pq_exec(c, "insert into t select $1::int + g, $2 from generate_series(1, 3) g", 2,
                            row, &r), 0);
    ASSERT_STR(PQcmdTuples(r), "3");
    PQclear(r);
    ASSERT_EQ(corio_pq_exec(c, "select a, b from t order by a", 0, NULL, &r), 0);
    ASSERT_EQ(PQntuples(r), 3);
    ASSERT_STR(PQgetvalue(r, 2, 0), "10");
    ASSERT_STR(PQgetvalue(r, 2, 1), "seven");
    PQclear(r);
    PQfinish(c);

    /* The Unix socket in the server's directory, and keyword/value arrays. */
    char port[16];
    snprintf(port, sizeof port, "%d", pg.port);
    const char *keys[] = {"host", "port", "user", "dbname", NULL};
    const char *vals[] = {pg.dir, port, "postgres", "postgres", NULL};
    ASSERT_EQ(corio_pq_connect_params(keys, vals, 0, &c), 0);
    ASSERT_STR(PQhost(c), pg.dir);
    expect(c, "select current_user", NULL, "postgres");
    PQfinish(c);
    return 0;
}

TEST(pq_connect_exec) { return pq_test(connect_exec_body); }

/* ---- server errors -------------------------------------------------------------------- */

static void server_error(PGconn *c, const char *sql, const char *state, const char *words) {
    PGresult *r = NULL;
    ASSERT_EQ(corio_pq_exec(c, sql, 0, NULL, &r), CORIO_EPQ);
    ASSERT(r); /* given out all the same */
    ASSERT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
    ASSERT_STR(PQresultErrorField(r, PG_DIAG_SQLSTATE), state);
    PQclear(r);
    char want[64], peer[64];
    snprintf(want, sizeof want, "(SQLSTATE %s)", state);
    snprintf(peer, sizeof peer, "postgresql exec 127.0.0.1:%d: ", pg.port);
    const char *m = errmsg();
    if (!strstr(m, want) || !strstr(m, words) || strncmp(m, peer, strlen(peer)) != 0)
        fprintf(stderr, "unexpected message: %s\n", m);
    ASSERT(strstr(m, want) && strstr(m, words) && strncmp(m, peer, strlen(peer)) == 0);
    usable(c); /* the error ended the statement, not the session */
}

static int server_error_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_ok();
    server_error(c, "selec 1", "42601", "syntax error");
    server_error(c, "select * from no_such_table", "42P01", "does not exist");
    server_error(c, "select 1 / 0", "22012", "division by zero");
    PGresult *r;
    ASSERT_EQ(corio_pq_exec(c, "create temp table u(a int primary key)", 0, NULL, &r), 0);
    PQclear(r);
    ASSERT_EQ(corio_pq_exec(c, "insert into u values (1)", 0, NULL, &r), 0);
    PQclear(r);
    server_error(c, "insert into u values (1)", "23505", "duplicate key");
    expect(c, "select count(*) from u", NULL, "1");
    /* A parameter the type refuses. */
    const char *p[1] = {"not a number"};
    ASSERT_EQ(corio_pq_exec(c, "select $1::int", 1, p, &r), CORIO_EPQ);
    ASSERT_STR(PQresultErrorField(r, PG_DIAG_SQLSTATE), "22P02");
    PQclear(r);
    usable(c);
    PQfinish(c);
    return 0;
}

TEST(pq_server_error) { return pq_test(server_error_body); }

/* ---- connecting: refused, a host list, bad input ---------------------------------------- */

static int connect_refused_body(void *arg, void **result) {
    (void)arg, (void)result;
    int fds = count_fds();
    char info[256];
    snprintf(info, sizeof info, "host=127.0.0.1 port=%d user=postgres", free_port());
    PGconn *c = (PGconn *)1;
    ASSERT_EQ(corio_pq_connect(info, &c), CORIO_EPQ);
    ASSERT(c == NULL);
    const char *m = errmsg();
    if (!strstr(m, "Connection refused") || strncmp(m, "postgresql connect: ", 20) != 0)
        fprintf(stderr, "unexpected message: %s\n", m);
    ASSERT(strstr(m, "Connection refused") && strstr(m, "127.0.0.1"));
    ASSERT_EQ(count_fds(), fds);
    /* Every host of a list refusing: libpq's message lists each. */
    snprintf(info, sizeof info, "host=127.0.0.1,127.0.0.1 port=%d,%d user=postgres", free_port(),
             free_port());
    ASSERT_EQ(corio_pq_connect(info, &c), CORIO_EPQ);
    ASSERT(c == NULL);
    ASSERT(strstr(errmsg(), "Connection refused"));
    /* A conninfo libpq cannot parse fails before any socket. */
    ASSERT_EQ(corio_pq_connect("this is not a conninfo", &c), CORIO_EPQ);
    ASSERT(c == NULL && strstr(errmsg(), "postgresql connect: "));
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

TEST(pq_connect_refused) { return pq_test(connect_refused_body); }

/* The process holds libpq's socket lib and one duplicate of it (corio_pq's):
 * a duplicate left on the refused attempt's socket instead would always be
 * ready, and the waiting would spin. */
static void one_duplicate(int lib) {
    struct stat want, st;
    ASSERT(fstat(lib, &want) == 0);
    DIR *d = opendir("/proc/self/fd");
    ASSERT(d);
    int dfd = dirfd(d), same = 0;
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dfd || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
        same += st.st_ino == want.st_ino;
    }
    closedir(d);
    ASSERT_EQ(same, 2);
}

/* The first host refuses: libpq closes that socket and opens another,
 * usually on the same number, and waits to write on it again. corio_pq
 * must notice the socket changed (a wait on the old registration would
 * never wake on epoll). */
static int host_list_body(void *arg, void **result) {
    (void)arg, (void)result;
    int fds = count_fds();
    for (int i = 0; i < 20; i++) {
        char info[256];
        snprintf(info, sizeof info, "host=127.0.0.1,127.0.0.1 port=%d,%d user=postgres dbname=postgres",
                 free_port(), pg.port);
        PGconn *c = NULL;
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(20, &cm), 0);
        int rc = corio_timeout_exit(cm, corio_pq_connect(info, &c));
        if (rc) fprintf(stderr, "host list connect: %d %s\n", rc, errmsg());
        ASSERT_EQ(rc, 0);
        char port[16];
        snprintf(port, sizeof port, "%d", pg.port);
        ASSERT_STR(PQport(c), port);
        usable(c);
        one_duplicate(PQsocket(c));
        PQfinish(c);
        ASSERT_EQ(count_fds(), fds);
    }
    return 0;
}

TEST(pq_connect_host_list) { return pq_test(host_list_body); }

/* TLS. With sslmode=prefer the server refuses `postgres` over TLS (its
 * pg_hba), and libpq retries without it on a new socket: the other way
 * libpq changes its socket mid-connect. corio_ssl gets TLS (the handshake
 * inside PQconnectPoll, waiting both ways), and its queries go through
 * OpenSSL, large values too. Cancelled at many points as well. */
static int tls_body(void *arg, void **result) {
    (void)arg, (void)result;
    int fds = count_fds();
    char prefer[256], require[256], refused[256];
    snprintf(prefer, sizeof prefer, "host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=prefer", pg.port);
    snprintf(require, sizeof require, "host=127.0.0.1 port=%d user=corio_ssl dbname=postgres sslmode=require", pg.port);
    snprintf(refused, sizeof refused, "host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=require", pg.port);
    for (int i = 0; i < 5; i++) {
        PGconn *c = NULL;
        ASSERT_EQ(corio_pq_connect(prefer, &c), 0);
        ASSERT_EQ(PQsslInUse(c), 0); /* fell back */
        one_duplicate(PQsocket(c));
        usable(c);
        PQfinish(c);
        ASSERT_EQ(corio_pq_connect(require, &c), 0);
        ASSERT_EQ(PQsslInUse(c), 1);
        one_duplicate(PQsocket(c));
        usable(c);
        expect(c, "select ssl::text from pg_stat_ssl where pid = pg_backend_pid()", NULL, "true");
        PGresult *r;
        ASSERT_EQ(corio_pq_exec(c, "select repeat('t', 2000000)", 0, NULL, &r), 0);
        ASSERT_EQ(PQgetlength(r, 0, 0), 2000000);
        PQclear(r);
        PQfinish(c);
        ASSERT_EQ(count_fds(), fds);
    }
    PGconn *c = (PGconn *)1;
    ASSERT_EQ(corio_pq_connect(refused, &c), CORIO_EPQ);
    ASSERT(c == NULL && strstr(errmsg(), "no pg_hba.conf entry") && strstr(errmsg(), "SSL"));
    int cancelled = 0;
    for (int k = 0; k < 60; k++) {
        connjob cj = {k % 2 ? prefer : require, NULL, CORIO_ECANCELED};
        run_and_cancel(connect_task, &cj, k % 30, k < 30 ? 0 : 0.0005 * (k - 30));
        if (cj.rc == CORIO_ECANCELED) {
            ASSERT(cj.conn == NULL);
            cancelled++;
        } else {
            ASSERT_EQ(cj.rc, 0);
            usable(cj.conn);
            PQfinish(cj.conn);
        }
        ASSERT_EQ(count_fds(), fds);
    }
    printf("TLS connects cancelled %d times of 60\n", cancelled);
    ASSERT(cancelled > 0);
    return 0;
}

TEST(pq_connect_tls) {
    if (!pg_up()) return TEST_SKIP;
    if (!pg.ssl) {
        printf("the test server has no TLS (openssl not found): skipped\n");
        pg_down();
        return TEST_SKIP;
    }
    on_loop(tls_body, NULL);
    pg_down();
    return 0;
}

/* A server that writes each reply in one SSL_write (PostgreSQL 17 sends
 * large messages so, CockroachDB too): OpenSSL cuts it into 16 KB records,
 * and when libpq's read has less room than a record, OpenSSL keeps the
 * rest decrypted, out of the socket's sight. A waiter looking only at the
 * socket then waits forever (ruby-pg #588). PostgreSQL 15's server writes
 * 8 KB at most, so a fake one speaks just enough of the protocol here:
 * TLS, startup, and one extended-protocol query answered with a value of
 * the size asked. (With libpq 15 no size tried here, 10 KB to 1.3 MB,
 * made a waiter that ignores OpenSSL's bytes hang; corio_pq still finds
 * such bytes about 30 times in this test and reads them without waiting.) */
#ifdef CORIO_PQ_TEST_OPENSSL
#include <openssl/ssl.h>
#include <pthread.h>

#define LARGE_VALUE 1000000 /* replies this large are one value, smaller ones many rows */

typedef struct fake {
    int lfd;            /* listening */
    SSL_CTX *ctx;
    const size_t *sizes; /* one connection per size */
    size_t n;
} fake;

static int ssl_read_full(SSL *ssl, void *buf, size_t n) {
    for (size_t got = 0; got < n;) {
        int r = SSL_read(ssl, (char *)buf + got, (int)(n - got));
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static char *put_msg(char *p, char type, const void *body, uint32_t len) {
    *p++ = type;
    uint32_t be = htonl(len + 4);
    memcpy(p, &be, 4);
    if (len) memcpy(p + 4, body, len);
    return p + 4 + len;
}

/* Reads one message: its type, or -1 at the end. */
static int read_msg(SSL *ssl) {
    unsigned char h[5];
    if (ssl_read_full(ssl, h, 5) < 0) return -1;
    uint32_t len;
    memcpy(&len, h + 1, 4);
    len = ntohl(len);
    char *body = malloc(len);
    int rc = len < 4 || ssl_read_full(ssl, body, len - 4) < 0 ? -1 : h[0];
    free(body);
    return rc;
}

static void fake_conn(fake *f, int c, size_t size) {
    char req[8];
    ASSERT_EQ(recv(c, req, 8, MSG_WAITALL), 8); /* SSLRequest */
    ASSERT_EQ(send(c, "S", 1, 0), 1);
    SSL *ssl = SSL_new(f->ctx);
    SSL_set_fd(ssl, c);
    ASSERT(SSL_accept(ssl) == 1);
    uint32_t len;
    ASSERT_EQ(ssl_read_full(ssl, &len, 4), 0); /* the startup packet */
    len = ntohl(len);
    char *startup = malloc(len);
    ASSERT_EQ(ssl_read_full(ssl, startup, len - 4), 0);
    free(startup);
    char hello[64], *p = hello;
    uint32_t zero = 0, key[2] = {htonl(4242), htonl(7)};
    p = put_msg(p, 'R', &zero, 4);  /* AuthenticationOk */
    p = put_msg(p, 'K', key, 8);    /* BackendKeyData */
    p = put_msg(p, 'Z', "I", 1);    /* ReadyForQuery */
    ASSERT(SSL_write(ssl, hello, (int)(p - hello)) == (int)(p - hello));
    int t;
    while ((t = read_msg(ssl)) != 'S') ASSERT(t > 0 && t != 'X'); /* Parse ... Sync */
    /* Small rows (libpq's buffer stays 16 KB, its reads are often smaller
     * than a record) or, for the last sizes, one large value. */
    size_t value = size >= LARGE_VALUE ? size : 24, rows = size >= LARGE_VALUE ? 1 : size / 35;
    char *reply = malloc(rows * (value + 11) + 256);
    p = put_msg(reply, '1', NULL, 0); /* ParseComplete */
    p = put_msg(p, '2', NULL, 0);     /* BindComplete */
    static const unsigned char rowdesc[] = {0, 1, 'v', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25,
                                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0};
    p = put_msg(p, 'T', rowdesc, sizeof rowdesc); /* one text column */
    char *row = malloc(value + 6);
    uint16_t one = htons(1);
    uint32_t vlen = htonl((uint32_t)value);
    memcpy(row, &one, 2);
    memcpy(row + 2, &vlen, 4);
    memset(row + 6, 'v', value);
    for (size_t i = 0; i < rows; i++) p = put_msg(p, 'D', row, (uint32_t)value + 6);
    free(row);
    char tag[32];
    snprintf(tag, sizeof tag, "SELECT %zu", rows);
    p = put_msg(p, 'C', tag, (uint32_t)strlen(tag) + 1);
    p = put_msg(p, 'Z', "I", 1);
    ASSERT(SSL_write(ssl, reply, (int)(p - reply)) == (int)(p - reply)); /* one write */
    free(reply);
    while ((t = read_msg(ssl)) > 0 && t != 'X') {
    }
    SSL_free(ssl);
    close(c);
}

static void *fake_server(void *arg) {
    fake *f = arg;
    for (size_t i = 0; i < f->n; i++) {
        int c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
        ASSERT(c >= 0);
        fake_conn(f, c, f->sizes[i]);
    }
    return NULL;
}

enum { NFAKE = 14 };
static size_t fake_sizes[NFAKE]; /* 10 000 to 129 000 bytes of rows, then two large values */
static int fake_port;

static int large_records_body(void *arg, void **result) {
    (void)arg, (void)result;
    char info[256];
    snprintf(info, sizeof info, "host=127.0.0.1 port=%d user=x sslmode=require gssencmode=disable", fake_port);
    for (int i = 0; i < NFAKE; i++) {
        PGconn *c;
        ASSERT_EQ(corio_pq_connect(info, &c), 0);
        ASSERT_EQ(PQsslInUse(c), 1);
        PGresult *r = NULL;
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(5, &cm), 0);
        int rc = corio_timeout_exit(cm, corio_pq_exec(c, "select v", 0, NULL, &r));
        if (rc) fprintf(stderr, "a %zu-byte reply over TLS: %d %s\n", fake_sizes[i], rc, errmsg());
        ASSERT_EQ(rc, 0);
        size_t big = fake_sizes[i] >= LARGE_VALUE;
        ASSERT_EQ(PQntuples(r), big ? 1 : (int)(fake_sizes[i] / 35));
        ASSERT_EQ(PQgetlength(r, 0, 0), big ? (int)fake_sizes[i] : 24);
        PQclear(r);
        PQfinish(c);
    }
    return 0;
}

TEST(pq_tls_large_records) {
    if (!pg_up()) return TEST_SKIP;
    if (!pg.ssl) {
        printf("no certificate (openssl not found): skipped\n");
        pg_down();
        return TEST_SKIP;
    }
    char crt[300], key[300];
    snprintf(crt, sizeof crt, "%s/server.crt", pg.dir);
    snprintf(key, sizeof key, "%s/server.key", pg.dir);
    for (int i = 0; i < NFAKE - 2; i++) fake_sizes[i] = 10000 + (size_t)i * 10817;
    fake_sizes[NFAKE - 2] = LARGE_VALUE;
    fake_sizes[NFAKE - 1] = 2 * LARGE_VALUE;
    fake f = {.sizes = fake_sizes, .n = NFAKE};
    f.ctx = SSL_CTX_new(TLS_server_method());
    ASSERT(f.ctx && SSL_CTX_use_certificate_file(f.ctx, crt, SSL_FILETYPE_PEM) == 1 &&
           SSL_CTX_use_PrivateKey_file(f.ctx, key, SSL_FILETYPE_PEM) == 1);
    f.lfd = silent_listener(&fake_port);
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, fake_server, &f) == 0);
    on_loop(large_records_body, NULL);
    ASSERT(pthread_join(th, NULL) == 0);
    close(f.lfd);
    SSL_CTX_free(f.ctx);
    pg_down();
    return 0;
}
#else
TEST(pq_tls_large_records) {
    printf("OpenSSL's headers were not found when corio was built (Debian: libssl-dev): skipped\n");
    return TEST_SKIP;
}
#endif

/* ---- no registration outlives PQfinish -------------------------------------------------------------- */

typedef struct poke {
    int fd;
} poke;

static int poke_task(void *arg, void **result) {
    (void)result;
    ASSERT_EQ(corio_sleep(0.02), 0);
    ASSERT_EQ(write(((poke *)arg)->fd, "x", 1), 1);
    return 0;
}

/* The numbers a connection used (libpq's socket, corio_pq's duplicate)
 * are free after PQfinish; new sockets that take them must be waited on
 * normally in both directions: a registration left behind would be found
 * instead of a new one (epoll keeps a watcher's mask after a wait). */
static int stale_body(void *arg, void **result) {
    (void)arg, (void)result;
    for (int round = 0; round < 3; round++) {
        char before[1024] = {0};
        for (int fd = 0; fd < 1024; fd++) before[fd] = fcntl(fd, F_GETFD) >= 0;
        PGconn *c = connect_ok();
        usable(c); /* waits to read on the connection: registered */
        int used[8], nused = 0;
        for (int fd = 0; fd < 1024 && nused < 8; fd++)
            if (!before[fd] && fcntl(fd, F_GETFD) >= 0) used[nused++] = fd;
        ASSERT(nused >= 1);
        PQfinish(c);
        int pairs[8][2], npairs = 0, covered = 0;
        while (covered < nused && npairs < 8) {
            ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pairs[npairs]) == 0);
            for (int k = 0; k < 2; k++)
                for (int u = 0; u < nused; u++) covered += pairs[npairs][k] == used[u];
            npairs++;
        }
        ASSERT_EQ(covered, nused);
        for (int p = 0; p < npairs; p++)
            for (int k = 0; k < 2; k++) {
                int fd = pairs[p][k], peer = pairs[p][!k];
                /* Reading first: the direction the connection waited in. */
                corio_timeout *cm;
                poke pk = {peer};
                ASSERT_EQ(corio_create_task(poke_task, &pk, NULL, NULL), 0);
                ASSERT_EQ(corio_timeout_enter(5, &cm), 0);
                int rc = corio_wait_fd(fd, CORIO_READABLE);
                ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_READABLE);
                char ch;
                ASSERT_EQ(read(fd, &ch, 1), 1);
                ASSERT_EQ(corio_timeout_enter(5, &cm), 0);
                rc = corio_wait_fd(fd, CORIO_WRITABLE);
                ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_WRITABLE);
            }
        for (int p = 0; p < npairs; p++) {
            ASSERT_EQ(corio_close_fd(pairs[p][0]), 0);
            ASSERT_EQ(corio_close_fd(pairs[p][1]), 0);
        }
    }
    return 0;
}

TEST(pq_no_stale_registration) { return pq_test(stale_body); }

/* ---- timeouts ---------------------------------------------------------------------------------------- */

static int connect_timeout_body(void *arg, void **result) {
    (void)arg, (void)result;
    int fds = count_fds();
    int port, lfd = silent_listener(&port);
    char info[256];
    snprintf(info, sizeof info, "host=127.0.0.1 port=%d user=postgres sslmode=disable", port);
    /* A timeout scope around the connect. */
    PGconn *c = (PGconn *)1;
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(0.1, &cm), 0);
    ASSERT_EQ(corio_timeout_exit(cm, corio_pq_connect(info, &c)), CORIO_ETIMEDOUT);
    ASSERT(c == NULL);
    /* libpq's connect_timeout (2 s at least, as libpq counts it). */
    snprintf(info, sizeof info, "host=127.0.0.1 port=%d user=postgres sslmode=disable connect_timeout=1", port);
    ASSERT_EQ(corio_pq_connect(info, &c), CORIO_ETIMEDOUT);
    ASSERT(c == NULL);
    ASSERT(strstr(errmsg(), "timeout expired"));
    close(lfd);
    ASSERT_EQ(count_fds(), fds);
    return 0;
}

TEST(pq_connect_timeout) { return pq_test(connect_timeout_body); }

/* pg_sleep under a timeout scope: the query is cancelled on the server and
 * the connection is idle afterwards. Were the cancel request not to reach
 * the server, making the connection idle would take the sleep's 30 s, past
 * the 10 s cancel timeout, and the connection would be closed instead. */
static int timeout_query_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_ok(), *other = connect_ok();
    ASSERT_EQ(corio_pq_set_cancel_timeout(c, 10), 0);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(c));
    for (int i = 0; i < 3; i++) {
        PGresult *r = (PGresult *)1;
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(0.05 * (i + 1), &cm), 0);
        int rc = corio_pq_exec(c, "select pg_sleep(30)", 0, NULL, &r);
        ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
        ASSERT(r == NULL);
        usable(c);
        expect(other, "select state from pg_stat_activity where pid = $1", pid, "idle");
    }
    /* The same in a pipeline: it leaves pipeline mode too. */
    corio_pq_query q[3] = {{"select 1", 0, NULL}, {"select pg_sleep(30)", 0, NULL}, {"select 3", 0, NULL}};
    PGresult *res[3] = {(PGresult *)1, (PGresult *)1, (PGresult *)1};
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(0.1, &cm), 0);
    ASSERT_EQ(corio_timeout_exit(cm, corio_pq_exec_pipeline(c, q, 3, res)), CORIO_ETIMEDOUT);
    ASSERT(!res[0] && !res[1] && !res[2]);
    ASSERT_EQ(PQpipelineStatus(c), PQ_PIPELINE_OFF);
    usable(c);
    PQfinish(c);
    PQfinish(other);
    return 0;
}

TEST(pq_timeout_cancels_query) { return pq_test(timeout_query_body); }

/* ---- the server goes away mid-query ---------------------------------------------------------------------- */

static int terminates_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_ok(), *other = connect_ok();
    int fds = count_fds();
    execjob j = {c, "select pg_sleep(30)", NULL, NULL, 1};
    corio_task *t;
    ASSERT_EQ(corio_create_task(exec_task, &j, "sleeper", &t), 0);
    wait_sleeping(other, PQbackendPID(c));
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(c));
    expect(other, "select pg_terminate_backend($1)", pid, "t");
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(j.rc, CORIO_EPQ);
    const char *m = errmsg();
    (void)m;
    ASSERT(j.res && PQresultStatus(j.res) == PGRES_FATAL_ERROR);
    ASSERT_STR(PQresultErrorField(j.res, PG_DIAG_SQLSTATE), "57P01"); /* admin_shutdown */
    PQclear(j.res);
    ASSERT_EQ(PQstatus(c), CONNECTION_BAD);
    /* Both libpq's socket and corio_pq's duplicate are closed already. */
    ASSERT_EQ(count_fds(), fds - 2);
    /* Later calls fail at once. */
    PGresult *r;
    ASSERT_EQ(corio_pq_exec(c, "select 1", 0, NULL, &r), CORIO_EPQ);
    PQclear(r);
    PQfinish(c);
    usable(other);
    PQfinish(other);
    return 0;
}

TEST(pq_server_terminates) { return pq_test(terminates_body); }

/* ---- reset ------------------------------------------------------------------------------------------------ */

static int resets; /* PGEVT_CONNRESET seen by a program's own event procedure */

static int count_resets(PGEventId id, void *info, void *pass) {
    (void)info, (void)pass;
    resets += id == PGEVT_CONNRESET;
    return 1;
}

typedef struct resetjob {
    PGconn *conn;
    int rc;
} resetjob;

static int reset_task(void *arg, void **result) {
    (void)result;
    resetjob *j = arg;
    j->rc = corio_pq_reset(j->conn);
    return 0;
}

static int reset_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *other = connect_ok();
    int fds = count_fds();
    /* The server ends the session; a reset makes a new one. */
    PGconn *c = connect_ok();
    ASSERT(PQregisterEventProc(c, count_resets, "test", NULL));
    int pid = PQbackendPID(c);
    char p[16];
    snprintf(p, sizeof p, "%d", pid);
    expect(other, "select pg_terminate_backend($1)", p, "t");
    PGresult *r;
    while (corio_pq_exec(c, "select 1", 0, NULL, &r) == 0) { /* until it notices */
        PQclear(r);
        ASSERT_EQ(corio_sleep(0.01), 0);
    }
    PQclear(r);
    ASSERT_EQ(PQstatus(c), CONNECTION_BAD);
    ASSERT_EQ(corio_pq_reset(c), 0);
    ASSERT_EQ(resets, 1); /* PQresetPoll's event reaches the program's procedures too */
    ASSERT(PQbackendPID(c) != pid);
    usable(c);
    one_duplicate(PQsocket(c));
    /* A host list whose first host refuses: the socket changes mid-reset. */
    char info[256];
    snprintf(info, sizeof info, "host=127.0.0.1,127.0.0.1 port=%d,%d user=postgres dbname=postgres",
             free_port(), pg.port);
    PGconn *h;
    ASSERT_EQ(corio_pq_connect(info, &h), 0);
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ(corio_pq_reset(h), 0);
        usable(h);
        one_duplicate(PQsocket(h));
    }
    PQfinish(h);
    /* Cancelled at many points: cancelled means unusable until reset. */
    int cancelled = 0;
    for (int k = 0; k < 40; k++) {
        resetjob j = {c, CORIO_ECANCELED};
        run_and_cancel(reset_task, &j, k % 20, k < 20 ? 0 : 0.0005 * (k - 20));
        if (j.rc == CORIO_ECANCELED) {
            cancelled++;
            if (PQstatus(c) != CONNECTION_OK) {
                ASSERT_EQ(corio_pq_exec(c, "select 1", 0, NULL, &r), CORIO_EPQ);
                ASSERT(r == NULL);
                ASSERT_EQ(corio_pq_reset(c), 0);
            }
        } else {
            ASSERT_EQ(j.rc, 0);
        }
        usable(c);
    }
    printf("reset cancelled %d times of 40\n", cancelled);
    ASSERT(cancelled > 0);
    PQfinish(c);
    ASSERT_EQ(count_fds(), fds);
    PQfinish(other);
    return 0;
}

TEST(pq_reset) { return pq_test(reset_body); }

/* ---- cancellation in the middle of each call ---------------------------------------------------------------- */


static int cancel_connect_body(void *arg, void **result) {
    (void)arg, (void)result;
    int fds = count_fds();
    /* Waiting for a server that never answers. */
    int port, lfd = silent_listener(&port);
    char info[256];
    snprintf(info, sizeof info, "host=127.0.0.1 port=%d user=postgres", port);
    connjob j = {info, (PGconn *)1, 1};
    run_and_cancel(connect_task, &j, 0, 0.05);
    ASSERT_EQ(j.rc, CORIO_ECANCELED);
    ASSERT(j.conn == NULL);
    close(lfd);
    ASSERT_EQ(count_fds(), fds);
    /* Against the real server, at every point of the connect. */
    int cancelled = 0, connected = 0;
    for (int k = 0; k < 60; k++) {
        connjob cj = {pg.conninfo, NULL, CORIO_ECANCELED}; /* cancelled before it ran */
        run_and_cancel(connect_task, &cj, k % 30, k < 30 ? 0 : 0.0005 * (k - 30));
        if (cj.rc == CORIO_ECANCELED) {
            ASSERT(cj.conn == NULL);
            cancelled++;
        } else {
            ASSERT_EQ(cj.rc, 0);
            usable(cj.conn);
            PQfinish(cj.conn);
            connected++;
        }
        ASSERT_EQ(count_fds(), fds);
    }
    printf("connect cancelled %d times, finished %d times\n", cancelled, connected);
    ASSERT(cancelled > 0);
    return 0;
}

TEST(pq_cancel_connect) { return pq_test(cancel_connect_body); }

typedef struct pipejob {
    PGconn *conn;
    PGresult *res[3];
    int rc;
} pipejob;

static int pipeline_task(void *arg, void **result) {
    (void)result;
    pipejob *j = arg;
    corio_pq_query q[3] = {{"select 1", 0, NULL}, {"select pg_sleep(0.002)", 0, NULL}, {"select 3", 0, NULL}};
    j->rc = corio_pq_exec_pipeline(j->conn, q, 3, j->res);
    return 0;
}

typedef struct getjob {
    PGconn *conn;
    int rc, results;
} getjob;

static int get_result_task(void *arg, void **result) {
    (void)result;
    getjob *j = arg;
    j->rc = PQsendQuery(j->conn, "select pg_sleep(0.002); select 2") ? corio_pq_flush(j->conn) : -1;
    PGresult *r;
    while (j->rc == 0 && (j->rc = corio_pq_get_result(j->conn, &r)) == 1) {
        j->results++;
        PQclear(r);
        j->rc = 0;
    }
    return 0;
}

/* Cancel exec, a pipeline and get_result at many points: each ends
 * cancelled or done, the connection idle and clean (the next query gets
 * its own answer, nothing left over from the cancelled one). */
static int cancel_exec_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_ok();
    int fds = count_fds();
    int cancelled = 0, done = 0;
    for (int k = 0; k < 90; k++) {
        int steps = k % 30;
        double delay = k < 30 ? 0 : 0.0005 * (k % 30);
        char n[16];
        snprintf(n, sizeof n, "%d", k);
        if (k % 3 == 0) {
            execjob j = {c, "select $1::int from pg_sleep(0.002)", n, NULL, CORIO_ECANCELED};
            run_and_cancel(exec_task, &j, steps, delay);
            if (j.rc == CORIO_ECANCELED) {
                ASSERT(!j.res);
                cancelled++;
            } else {
                ASSERT_EQ(j.rc, 0);
                ASSERT_STR(PQgetvalue(j.res, 0, 0), n);
                PQclear(j.res);
                done++;
            }
        } else if (k % 3 == 1) {
            pipejob j = {c, {NULL, NULL, NULL}, CORIO_ECANCELED};
            run_and_cancel(pipeline_task, &j, steps, delay);
            if (j.rc == CORIO_ECANCELED) {
                ASSERT(!j.res[0] && !j.res[1] && !j.res[2]);
                cancelled++;
            } else {
                ASSERT_EQ(j.rc, 0);
                ASSERT_STR(PQgetvalue(j.res[2], 0, 0), "3");
                for (int i = 0; i < 3; i++) PQclear(j.res[i]);
                done++;
            }
            ASSERT_EQ(PQpipelineStatus(c), PQ_PIPELINE_OFF);
        } else {
            getjob j = {c, CORIO_ECANCELED, 0};
            run_and_cancel(get_result_task, &j, steps, delay);
            if (j.rc == CORIO_ECANCELED) {
                cancelled++;
            } else {
                ASSERT_EQ(j.rc, 0);
                ASSERT_EQ(j.results, 2);
                done++;
            }
        }
        expect(c, "select $1::int", n, n);
        usable(c);
        ASSERT_EQ(count_fds(), fds);
    }
    printf("queries cancelled %d times, finished %d times\n", cancelled, done);
    ASSERT(cancelled > 0);
    PQfinish(c);
    return 0;
}

TEST(pq_cancel_exec) { return pq_test(cancel_exec_body); }

/* A backend that does not answer at all (stopped): the cancel request
 * goes, the drain cannot end, and after the cancel timeout the connection
 * is closed: the call returns, never stuck. */
static int unresponsive_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_ok();
    int fds = count_fds();
    ASSERT_EQ(corio_pq_set_cancel_timeout(c, 0.3), 0);
    int pid = PQbackendPID(c);
    ASSERT(kill(pid, SIGSTOP) == 0);
    PGresult *r = (PGresult *)1;
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(0.1, &cm), 0);
    int rc = corio_pq_exec(c, "select 1", 0, NULL, &r);
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    ASSERT(kill(pid, SIGCONT) == 0);
    ASSERT(r == NULL);
    ASSERT_EQ(PQstatus(c), CONNECTION_BAD);
    /* libpq's socket and the duplicate are closed; the cancel request's
     * thread, if the timeout cut its wait short, closes its pipe soon. */
    for (int i = 0; i < 500 && count_fds() != fds - 2; i++) ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(count_fds(), fds - 2);
    PQfinish(c);
    /* The server is fine. */
    PGconn *d = connect_ok();
    usable(d);
    PQfinish(d);
    return 0;
}

TEST(pq_cancel_unresponsive) { return pq_test(unresponsive_body); }

/* ---- load: 20 connections x 50 queries, then 20 pipelines of 50 ----------------------------------------------------- */

enum { NCONN = 20, NQ = 50 };

typedef struct worker {
    int id, pipelined, ok;
} worker;

static int worker_task(void *arg, void **result) {
    (void)result;
    worker *w = arg;
    PGconn *c = connect_ok();
    char in[NQ][16];
    const char *params[NQ][1];
    for (int i = 0; i < NQ; i++) {
        snprintf(in[i], sizeof in[i], "%d", w->id * 1000 + i);
        params[i][0] = in[i];
    }
    if (!w->pipelined) {
        for (int i = 0; i < NQ; i++) {
            PGresult *r;
            ASSERT_EQ(corio_pq_exec(c, "select $1::int + 1", 1, params[i], &r), 0);
            w->ok += atoi(PQgetvalue(r, 0, 0)) == w->id * 1000 + i + 1;
            PQclear(r);
        }
    } else {
        corio_pq_query q[NQ];
        PGresult *res[NQ];
        for (int i = 0; i < NQ; i++) q[i] = (corio_pq_query){"select $1::int + 1", 1, params[i]};
        ASSERT_EQ(corio_pq_exec_pipeline(c, q, NQ, res), 0);
        for (int i = 0; i < NQ; i++) {
            w->ok += atoi(PQgetvalue(res[i], 0, 0)) == w->id * 1000 + i + 1;
            PQclear(res[i]);
        }
    }
    PQfinish(c);
    return 0;
}

/* Rounds: one query at a time, one pipeline each, and one query at a
 * time again with the tasks on copied stacks (CORIO_STACK_COPY: corio_pq
 * lends nothing on a task's stack to anyone while it waits). */
static int concurrent_body(void *arg, void **result) {
    (void)arg, (void)result;
    for (int round = 0; round < 3; round++) {
        int pipelined = round == 1;
        if (round == 2) ASSERT_EQ(corio_loop_set_stack_mode(corio_get_running_loop(), CORIO_STACK_COPY), 0);
        worker w[NCONN];
        corio_aw aws[NCONN];
        for (int i = 0; i < NCONN; i++) {
            w[i] = (worker){i, pipelined, 0};
            aws[i] = CORIO_CORO(worker_task, &w[i]);
        }
        double t0 = now();
        ASSERT_EQ(corio_gather_wait(aws, NCONN, 0, NULL), 0);
        double t = now() - t0;
        int ok = 0;
        for (int i = 0; i < NCONN; i++) ok += w[i].ok;
        ASSERT_EQ(ok, NCONN * NQ);
        printf("%d queries on %d connections, %s (connects included): %.3f s\n", ok, NCONN,
               round == 0 ? "one at a time" : round == 1 ? "one pipeline each" : "one at a time, copied stacks", t);
    }
    return 0;
}

TEST(pq_concurrent_1000) { return pq_test(concurrent_body); }

/* ---- pipelines ------------------------------------------------------------------------------------------ */

static int pipeline_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_ok();
    const char *p[1] = {"hello"};
    corio_pq_query ok[3] = {{"create temp table pl(a int)", 0, NULL},
                            {"insert into pl values (1), (2)", 0, NULL},
                            {"select $1::text || count(*) from pl", 1, p}};
    PGresult *res[3];
    ASSERT_EQ(corio_pq_exec_pipeline(c, ok, 3, res), 0);
    ASSERT_EQ(PQresultStatus(res[0]), PGRES_COMMAND_OK);
    ASSERT_STR(PQcmdTuples(res[1]), "2");
    ASSERT_STR(PQgetvalue(res[2], 0, 0), "hello2");
    for (int i = 0; i < 3; i++) PQclear(res[i]);
    ASSERT_EQ(PQpipelineStatus(c), PQ_PIPELINE_OFF);
    /* A failing statement: the rest are skipped, and the implicit
     * transaction up to the sync is rolled back. */
    corio_pq_query bad[3] = {{"insert into pl values (3)", 0, NULL}, {"selec 2", 0, NULL},
                             {"insert into pl values (4)", 0, NULL}};
    ASSERT_EQ(corio_pq_exec_pipeline(c, bad, 3, res), CORIO_EPQ);
    ASSERT(strstr(errmsg(), "statement 2: syntax error") && strstr(errmsg(), "(SQLSTATE 42601)"));
    ASSERT_EQ(PQresultStatus(res[0]), PGRES_COMMAND_OK);
    ASSERT_EQ(PQresultStatus(res[1]), PGRES_FATAL_ERROR);
    ASSERT_EQ(PQresultStatus(res[2]), PGRES_PIPELINE_ABORTED);
    for (int i = 0; i < 3; i++) PQclear(res[i]);
    expect(c, "select count(*) from pl", NULL, "2");
    usable(c);
    ASSERT_EQ(corio_pq_exec_pipeline(c, NULL, 0, NULL), 0);
    /* Big both ways: 3000 statements with a 2 KB parameter each go out
     * while 3000 results of 8 KB come back; a flush that did not read
     * meanwhile would deadlock with the server once both buffers fill. */
    enum { BIG = 3000 };
    corio_pq_query *many = calloc(BIG, sizeof *many);
    PGresult **out = calloc(BIG, sizeof *out);
    char *pad = malloc(2049);
    memset(pad, 'p', 2048);
    pad[2048] = 0;
    const char *bp[1] = {pad};
    for (int i = 0; i < BIG; i++) many[i] = (corio_pq_query){"select repeat('x', 8192), length($1)", 1, bp};
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(60, &cm), 0);
    ASSERT_EQ(corio_timeout_exit(cm, corio_pq_exec_pipeline(c, many, BIG, out)), 0);
    for (int i = 0; i < BIG; i++) {
        ASSERT_EQ(PQgetlength(out[i], 0, 0), 8192);
        ASSERT_STR(PQgetvalue(out[i], 0, 1), "2048");
        PQclear(out[i]);
    }
    free(pad);
    free(out);
    free(many);
    /* The pieces, driving libpq's pipeline mode directly. */
    ASSERT(PQenterPipelineMode(c));
    for (int i = 1; i <= 3; i++) {
        char n[8];
        snprintf(n, sizeof n, "%d", i);
        const char *pp[1] = {n};
        ASSERT(PQsendQueryParams(c, "select $1::int * 10", 1, NULL, pp, NULL, NULL, 0));
    }
    ASSERT(PQpipelineSync(c));
    ASSERT_EQ(corio_pq_flush(c), 0);
    PGresult *r;
    for (int i = 1; i <= 3; i++) {
        char want[8];
        snprintf(want, sizeof want, "%d", i * 10);
        ASSERT_EQ(corio_pq_get_result(c, &r), 1);
        ASSERT_STR(PQgetvalue(r, 0, 0), want);
        PQclear(r);
        ASSERT_EQ(corio_pq_get_result(c, &r), 0);
        ASSERT(r == NULL);
    }
    ASSERT_EQ(corio_pq_get_result(c, &r), 1);
    ASSERT_EQ(PQresultStatus(r), PGRES_PIPELINE_SYNC);
    PQclear(r);
    /* corio_pq_exec refuses pipeline mode. */
    ASSERT_EQ(corio_pq_exec(c, "select 1", 0, NULL, &r), CORIO_EPQ);
    ASSERT(r == NULL);
    ASSERT(PQexitPipelineMode(c));
    usable(c);
    PQfinish(c);
    return 0;
}

TEST(pq_pipeline) { return pq_test(pipeline_body); }

/* ---- several results, COPY, LISTEN/NOTIFY, large values --------------------------------------------------------- */

static int notifier_task(void *arg, void **result) {
    (void)result;
    PGconn *c = connect_ok();
    ASSERT_EQ(corio_sleep(0.05), 0);
    PGresult *r;
    ASSERT_EQ(corio_pq_exec(c, (const char *)arg, 0, NULL, &r), 0);
    PQclear(r);
    PQfinish(c);
    return 0;
}

static int results_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_ok();
    PGresult *r;
    /* Several statements in one string: one result each, then 0. */
    ASSERT(PQsendQuery(c, "select 1; select 2; select 3"));
    ASSERT_EQ(corio_pq_flush(c), 0);
    for (int i = 1; i <= 3; i++) {
        ASSERT_EQ(corio_pq_get_result(c, &r), 1);
        ASSERT_EQ(atoi(PQgetvalue(r, 0, 0)), i);
        PQclear(r);
    }
    ASSERT_EQ(corio_pq_get_result(c, &r), 0);
    usable(c);
    /* COPY through exec: out is read and dropped, in fails cleanly. */
    ASSERT_EQ(corio_pq_exec(c, "copy (select generate_series(1, 1000)) to stdout", 0, NULL, &r), 0);
    ASSERT_STR(PQcmdTuples(r), "1000");
    PQclear(r);
    ASSERT_EQ(corio_pq_exec(c, "create temp table cp(a int)", 0, NULL, &r), 0);
    PQclear(r);
    ASSERT_EQ(corio_pq_exec(c, "copy cp from stdin", 0, NULL, &r), CORIO_EPQ);
    ASSERT(strstr(errmsg(), "COPY FROM STDIN is not supported"));
    PQclear(r);
    usable(c);
    /* COPY OUT by hand: corio_pq_wait, PQconsumeInput, PQgetCopyData. */
    ASSERT(PQsendQuery(c, "copy (select generate_series(1, 5)) to stdout"));
    ASSERT_EQ(corio_pq_flush(c), 0);
    ASSERT_EQ(corio_pq_get_result(c, &r), 1);
    ASSERT_EQ(PQresultStatus(r), PGRES_COPY_OUT);
    PQclear(r);
    int rows = 0, sum = 0;
    for (;;) {
        char *buf;
        int n = PQgetCopyData(c, &buf, 1);
        if (n > 0) {
            rows++;
            sum += atoi(buf);
            PQfreemem(buf);
        } else if (n == 0) {
            ASSERT(corio_pq_wait(c, CORIO_READABLE) & CORIO_READABLE);
            ASSERT(PQconsumeInput(c));
        } else {
            break;
        }
    }
    ASSERT_EQ(rows, 5);
    ASSERT_EQ(sum, 15);
    ASSERT_EQ(corio_pq_get_result(c, &r), 1);
    ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    ASSERT_EQ(corio_pq_get_result(c, &r), 0);
    usable(c);
    /* LISTEN/NOTIFY: wait on the connection, then read the notification. */
    ASSERT_EQ(corio_pq_exec(c, "listen corio_ch", 0, NULL, &r), 0);
    PQclear(r);
    ASSERT_EQ(corio_create_task(notifier_task, "notify corio_ch, 'hi'", NULL, NULL), 0);
    PGnotify *note = NULL;
    while (!note) {
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(10, &cm), 0);
        int rc = corio_timeout_exit(cm, corio_pq_wait(c, CORIO_READABLE));
        ASSERT(rc & CORIO_READABLE);
        ASSERT(PQconsumeInput(c));
        note = PQnotifies(c);
    }
    ASSERT_STR(note->relname, "corio_ch");
    ASSERT_STR(note->extra, "hi");
    PQfreemem(note);
    /* Large values both ways: many reads, and writes the socket takes in parts. */
    expect(c, "select length(repeat('x', 3000000))", NULL, "3000000");
    ASSERT_EQ(corio_pq_exec(c, "select repeat('y', 3000000)", 0, NULL, &r), 0);
    ASSERT_EQ(PQgetlength(r, 0, 0), 3000000);
    PQclear(r);
    char *big = malloc(4000001);
    memset(big, 'z', 4000000);
    big[4000000] = 0;
    expect(c, "select length($1)", big, "4000000");
    /* A program that does not flush: corio_pq_get_result sends what is queued. */
    const char *bp[1] = {big};
    ASSERT(PQsendQueryParams(c, "select length($1)", 1, NULL, bp, NULL, NULL, 0));
    ASSERT_EQ(corio_pq_get_result(c, &r), 1);
    ASSERT_STR(PQgetvalue(r, 0, 0), "4000000");
    PQclear(r);
    ASSERT_EQ(corio_pq_get_result(c, &r), 0);
    free(big);
    usable(c);
    PQfinish(c);
    return 0;
}

TEST(pq_results_copy_notify) { return pq_test(results_body); }

/* ---- bad input ------------------------------------------------------------------------------------------------- */

static int finisher_task(void *arg, void **result) {
    (void)result;
    ASSERT_EQ(corio_sleep(0.05), 0);
    PQfinish(arg);
    return 0;
}

static PGconn *kept; /* a connection used outside any task below */

static int bad_input_body(void *arg, void **result) {
    (void)arg, (void)result;
    PGconn *c = connect_ok();
    PGresult *r = (PGresult *)1;
    const char *p[1] = {"1"};
    ASSERT_EQ(corio_pq_connect(NULL, (PGconn **)&r), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_connect(pg.conninfo, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_connect_params(NULL, NULL, 0, (PGconn **)&r), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_exec(NULL, "select 1", 0, NULL, &r), CORIO_EINVAL);
    ASSERT(r == NULL);
    ASSERT_EQ(corio_pq_exec(c, NULL, 0, NULL, &r), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_exec(c, "select 1", 0, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_exec(c, "select $1", 1, NULL, &r), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_exec(c, "select 1", -1, p, &r), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_flush(NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_get_result(NULL, &r), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_get_result(c, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_wait(NULL, CORIO_READABLE), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_wait(c, 0), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_wait(c, 8), CORIO_EINVAL);
    corio_pq_query q[1] = {{NULL, 0, NULL}};
    PGresult *res[1];
    ASSERT_EQ(corio_pq_exec_pipeline(NULL, q, 1, res), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_exec_pipeline(c, q, 1, res), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_exec_pipeline(c, NULL, 1, res), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_set_cancel_timeout(NULL, 1), CORIO_EINVAL);
    ASSERT_EQ(corio_pq_set_cancel_timeout(c, NAN), CORIO_EINVAL);
    usable(c);

    /* Two tasks on one connection: the second is refused, not mixed in. */
    execjob j = {c, "select pg_sleep(0.1)", NULL, NULL, 1};
    corio_task *t;
    ASSERT_EQ(corio_create_task(exec_task, &j, "first", &t), 0);
    ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(corio_pq_exec(c, "select 1", 0, NULL, &r), CORIO_EBUSY);
    ASSERT(strstr(errmsg(), "another task"));
    ASSERT_EQ(corio_pq_wait(c, CORIO_READABLE), CORIO_EBUSY);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(j.rc, 0);
    PQclear(j.res);
    usable(c);

    /* PQfinish by another task while one waits: that one wakes with
     * CORIO_EFDCLOSED and touches nothing freed (ASan watches). */
    execjob w = {c, "select pg_sleep(0.5)", NULL, NULL, 1};
    ASSERT_EQ(corio_create_task(exec_task, &w, "waiter", &t), 0);
    ASSERT_EQ(corio_create_task(finisher_task, c, "finisher", NULL), 0);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(w.rc, CORIO_EFDCLOSED);
    ASSERT(w.res == NULL);

    kept = connect_ok(); /* for the calls outside a task */
    return 0;
}

TEST(pq_bad_input) {
    if (!pg_up()) return TEST_SKIP;
    PGconn *c = NULL;
    PGresult *r = NULL;
    ASSERT_EQ(corio_pq_connect(pg.conninfo, &c), CORIO_ENOTINTASK);
    ASSERT(c == NULL);
    on_loop(bad_input_body, NULL);
    ASSERT_EQ(corio_pq_exec(kept, "select 1", 0, NULL, &r), CORIO_ENOTINTASK);
    ASSERT(r == NULL);
    ASSERT_EQ(corio_pq_flush(kept), CORIO_ENOTINTASK);
    ASSERT_EQ(corio_pq_get_result(kept, &r), CORIO_ENOTINTASK);
    ASSERT_EQ(corio_pq_wait(kept, CORIO_READABLE), CORIO_ENOTINTASK);
    ASSERT_EQ(corio_pq_set_cancel_timeout(kept, 1), 0); /* not a task call */
    PQfinish(kept); /* after its loop is gone: a plain close */
    pg_down();
    return 0;
}

#endif
