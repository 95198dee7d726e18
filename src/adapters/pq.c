/* The libpq adapter (include/corio_pq.h): libpq's asynchronous calls with
 * corio_wait_fd doing the waiting, on the public corio.h only.
 *
 * Why a duplicate of libpq's socket. libpq owns its descriptor and closes
 * it behind corio's back: PQconnectPoll replaces it when it moves to the
 * next host or retries without SSL, pqReadData drops it when the server
 * goes away, PQfinish and PQreset close it. corio's epoll backend keeps a
 * descriptor's registration after a wait returns (a stream that waits
 * again soon costs no epoll_ctl), so a number closed behind its back and
 * reused by the next socket would be watched under its old registration:
 * a wait in the same direction then never wakes (measured: a socketpair
 * closed with close(2) and reopened on the same number times out on
 * epoll, wakes on io_uring). So corio_pq waits on a duplicate it owns,
 * which keeps the socket alive whatever libpq does with its own number,
 * and closes it through corio_close_fd: when libpq's socket is gone or is
 * another one (compared by inode after each PQconnectPoll), at PQreset
 * and at PQfinish (a libpq event procedure, so a plain PQfinish by the
 * program is enough), and as soon as the connection went bad.
 *
 * Why a thread of its own for the cancel request. PQcancel blocks (a new
 * connection to the server, a packet, then it waits for the server to
 * close it). corio_to_thread would do, except that a job whose waiter is
 * cancelled before a worker took it never runs: the cancel request would
 * not go and its PGcancel would never be freed. A detached thread owns its
 * PGcancel and the write end of a pipe it closes when done; the task waits
 * for that end of file, and may stop waiting at any time. */
#define _GNU_SOURCE
#include "corio.h"
#include "corio_pq.h"

#include <fcntl.h>
#include <libpq-events.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef CORIO_PQ_OPENSSL
#include <openssl/ssl.h>
#endif

#define CANCEL_TIMEOUT 5.0 /* seconds: corio_pq_set_cancel_timeout's default */

/* What corio_pq keeps per connection: libpq's instance data of pq_event. */
typedef struct pqs {
    PGconn *conn;          /* borrowed; NULL once PQfinish ran while a call was inside (that call frees this) */
    int fd;                /* owned: our duplicate of libpq's socket, or -1; closed with corio_close_fd */
    int lib_fd;            /* libpq's number when fd was made */
    int busy;              /* a call is inside (one task per connection at a time) */
    double cancel_timeout; /* seconds; corio_pq_set_cancel_timeout */
} pqs;

static int pq_event(PGEventId id, void *info, void *pass);

/* ---- messages ------------------------------------------------------------ */

/* libpq's messages end in a newline and may hold several lines: one line. */
static const char *tidy(const char *msg, char *buf, size_t cap) {
    size_t n = 0;
    int space = 0;
    for (const char *p = msg ? msg : ""; *p && n + 2 < cap; p++) {
        if (*p == '\n' || *p == '\t' || *p == ' ') {
            space = n > 0;
            continue;
        }
        if (space) buf[n++] = ' ';
        space = 0;
        buf[n++] = *p;
    }
    buf[n] = 0;
    return n ? buf : "unknown error";
}

static void peer_of(const pqs *s, char *buf, size_t cap) {
    const char *host = PQhost(s->conn), *port = PQport(s->conn);
    snprintf(buf, cap, "%s:%s", host && *host ? host : "?", port && *port ? port : "?");
}

/* The connection failed: libpq's message, naming the operation and server. */
static int failed(const pqs *s, const char *op) {
    char peer[160], msg[512];
    peer_of(s, peer, sizeof peer);
    return corio_raise(CORIO_EPQ, "postgresql %s %s: %s", op, peer,
                       tidy(PQerrorMessage(s->conn), msg, sizeof msg));
}

/* A result that is an error: the server's primary message and SQLSTATE
 * (libpq's own errors, such as a lost connection, have neither). */
static int result_failed(const pqs *s, const PGresult *r, const char *op, const char *what) {
    char peer[160], msg[512];
    peer_of(s, peer, sizeof peer);
    const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (primary && state)
        return corio_raise(CORIO_EPQ, "postgresql %s %s: %s%s (SQLSTATE %s)", op, peer, what,
                           primary, state);
    const char *m = PQresultErrorMessage(r);
    return corio_raise(CORIO_EPQ, "postgresql %s %s: %s%s", op, peer, what,
                       m && *m ? tidy(m, msg, sizeof msg) : PQresStatus(PQresultStatus(r)));
}

static int result_ok(const PGresult *r) {
    ExecStatusType st = PQresultStatus(r);
    return r && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY);
}

/* ---- the state and our descriptor ------------------------------------------ */

static void drop_fd(pqs *s) {
    if (s->fd < 0) return;
    /* corio forgets it before the number is free. From another thread while
     * its loop runs corio refuses (PQfinish belongs on the loop's thread):
     * closed all the same rather than leaked. */
    if (corio_close_fd(s->fd) == CORIO_EWRONGLOOP) close(s->fd);
    s->fd = -1;
}

static int pq_event(PGEventId id, void *info, void *pass) {
    (void)pass;
    PGconn *conn;
    if (id == PGEVT_CONNRESET) conn = ((PGEventConnReset *)info)->conn;
    else if (id == PGEVT_CONNDESTROY) conn = ((PGEventConnDestroy *)info)->conn;
    else return 1;
    pqs *s = PQinstanceData(conn, pq_event);
    if (!s) return 1;
    drop_fd(s); /* libpq's socket is another one, or none */
    if (id == PGEVT_CONNDESTROY) {
        if (s->busy) s->conn = NULL; /* the task inside wakes (CORIO_EFDCLOSED) and frees it */
        else free(s);
    }
    return 1;
}

/* The connection's state, made on first use. */
static int attach(PGconn *conn, pqs **out) {
    *out = NULL; /* (gcc -O3 cannot tell that a negative code is never 0) */
    pqs *s = PQinstanceData(conn, pq_event);
    if (!s) {
        if (!(s = calloc(1, sizeof *s))) return CORIO_ENOMEM;
        s->conn = conn;
        s->fd = s->lib_fd = -1;
        s->cancel_timeout = CANCEL_TIMEOUT;
        /* Registered already (an earlier attach ran out of memory) or not. */
        if (!PQsetInstanceData(conn, pq_event, s) &&
            (!PQregisterEventProc(conn, pq_event, "corio_pq", NULL) ||
             !PQsetInstanceData(conn, pq_event, s))) {
            free(s);
            return corio_raise(CORIO_ENOMEM, "postgresql: cannot attach corio's state to the connection");
        }
    }
    *out = s;
    return 0;
}

/* The start of a call that may suspend: one task per connection. */
static int enter(PGconn *conn, const char *op, pqs **out) {
    *out = NULL;
    if (!corio_current_task()) return CORIO_ENOTINTASK;
    pqs *s = NULL;
    int rc = attach(conn, &s);
    if (rc < 0) return rc;
    if (s->busy)
        return corio_raise(CORIO_EBUSY, "postgresql %s: another task is inside a call on this connection", op);
    /* PQflush and the PQsend* functions must not block the loop. */
    if (PQstatus(conn) == CONNECTION_OK && !PQisnonblocking(conn) && PQsetnonblocking(conn, 1) < 0)
        return failed(s, op);
    s->busy = 1;
    *out = s;
    return 0;
}

static int leave(pqs *s, int rc) {
    s->busy = 0;
    if (!s->conn) { /* finished while we were inside */
        free(s);
        return rc;
    }
    /* A connection gone bad holds its dead socket only through our
     * duplicate: let it go now, not at PQfinish. */
    if (PQstatus(s->conn) == CONNECTION_BAD || PQsocket(s->conn) < 0) drop_fd(s);
    return rc;
}

static int same_socket(int a, int b) {
    struct stat x, y;
    return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* Our duplicate of libpq's current socket. `check`: libpq may have replaced
 * it by one with the same number (during a connect). */
static int sync_fd(pqs *s, int check, const char *op) {
    int lib = PQsocket(s->conn);
    if (lib < 0) {
        drop_fd(s);
        return failed(s, op);
    }
    if (s->fd >= 0 && lib == s->lib_fd && (!check || same_socket(lib, s->fd))) return 0;
    drop_fd(s);
    int d = fcntl(lib, F_DUPFD_CLOEXEC, 0);
    if (d < 0) return corio_raise(-errno, "postgresql %s: duplicating the socket: %s", op, strerror(errno));
    s->fd = d;
    s->lib_fd = lib;
    return 0;
}

/* Bytes OpenSSL has decrypted and holds for libpq: the socket says nothing
 * of them (they left it already), so waiting for it to be readable could
 * last forever. A server that sends TLS records larger than libpq's read
 * leaves such bytes (async libpq clients hang on them: ruby-pg #588,
 * cockroach #148222); libpq's own waits look at them, ours must too. */
static int tls_pending(PGconn *conn) {
#ifdef CORIO_PQ_OPENSSL
    SSL *ssl = PQsslInUse(conn) ? PQsslStruct(conn, "OpenSSL") : NULL;
    return ssl && SSL_pending(ssl) > 0;
#else
    (void)conn;
    return 0;
#endif
}

/* Every suspension goes through here: after it, the connection may have
 * been finished by another task (then nothing of it may be touched). */
static int wait_sock(pqs *s, int events, int check, const char *op) {
    int rc = sync_fd(s, check, op);
    if (rc < 0) return rc;
    if (events & CORIO_READABLE && tls_pending(s->conn)) return CORIO_READABLE;
    rc = corio_wait_fd(s->fd, events);
    if (!s->conn)
        return corio_raise(CORIO_EFDCLOSED, "postgresql %s: the connection was finished (PQfinish) while a task used it", op);
    return rc;
}

/* ---- flushing and reading ------------------------------------------------------ */

/* Until libpq's output is written, reading meanwhile (the server may
 * answer earlier commands of a pipeline while we still write). A lost
 * connection is not this function's error: the results report it. */
static int flush_all(pqs *s, const char *op) {
    for (;;) {
        int f = PQflush(s->conn);
        if (f == 0) return 0;
        if (f < 0) return PQstatus(s->conn) == CONNECTION_BAD ? 0 : failed(s, op);
        int rc = wait_sock(s, CORIO_READABLE | CORIO_WRITABLE, 0, op);
        if (rc < 0) return rc;
        if (rc & CORIO_READABLE && !PQconsumeInput(s->conn) && PQstatus(s->conn) != CONNECTION_BAD)
            return failed(s, op);
    }
}

/* The next result: 1 with *out, 0 where PQgetResult gives NULL. PQisBusy
 * says whether PQgetResult would block (never once the connection is bad:
 * it then gives libpq's error result at once). What is still queued is
 * sent first: the answer may wait for it (a program that did not flush). */
static int next_result(pqs *s, PGresult **out, const char *op) {
    *out = NULL;
    for (;;) {
        if (!PQisBusy(s->conn)) {
            *out = PQgetResult(s->conn);
            return *out != NULL;
        }
        int rc = flush_all(s, op);
        if (rc < 0) return rc;
        rc = wait_sock(s, CORIO_READABLE, 0, op);
        if (rc < 0) return rc;
        if (!PQconsumeInput(s->conn) && PQstatus(s->conn) != CONNECTION_BAD) return failed(s, op);
    }
}

/* A COPY nobody asked corio_pq to do: COPY IN is ended with an error (the
 * server then fails the statement), COPY OUT's rows are read and dropped. */
static int skip_copy(pqs *s, ExecStatusType st, const char *op) {
    if (st == PGRES_COPY_IN) {
        int r;
        while ((r = PQputCopyEnd(s->conn, "COPY FROM STDIN is not supported by this call")) == 0) {
            int rc = flush_all(s, op);
            if (rc < 0) return rc;
        }
        return r < 0 && PQstatus(s->conn) != CONNECTION_BAD ? failed(s, op) : flush_all(s, op);
    }
    if (st == PGRES_COPY_OUT) {
        for (;;) {
            char *row;
            int n = PQgetCopyData(s->conn, &row, 1);
            if (n > 0) {
                PQfreemem(row);
                continue;
            }
            if (n < 0) return 0; /* the end (-1) or an error (-2): the next result says */
            int rc = wait_sock(s, CORIO_READABLE, 0, op);
            if (rc < 0) return rc;
            if (!PQconsumeInput(s->conn) && PQstatus(s->conn) != CONNECTION_BAD) return failed(s, op);
        }
    }
    /* COPY BOTH (replication) cannot be ended from here. */
    return corio_raise(CORIO_EPQ, "postgresql %s: COPY BOTH is not supported by this call", op);
}

/* One command's results, up to its NULL: the last is kept in *last, or
 * the first error (the server's, say a FATAL before it closes the
 * connection, rather than libpq's "server closed the connection" after). */
static int command_results(pqs *s, PGresult **last, const char *op) {
    for (;;) {
        PGresult *r;
        int rc = next_result(s, &r, op);
        if (rc <= 0) return rc;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            PQclear(r);
            if ((rc = skip_copy(s, st, op)) < 0) return rc;
        } else if (*last && PQresultStatus(*last) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(*last);
            *last = r;
        }
    }
}

/* ---- cancelling ------------------------------------------------------------------- */

typedef struct canceller {
    PGcancel *cancel; /* owned by the thread */
    int done_fd;      /* owned by the thread: the pipe's write end, closed when the request went */
} canceller;

static void *cancel_thread(void *arg) {
    canceller *k = arg;
    char err[256];
    (void)PQcancel(k->cancel, err, sizeof err); /* a failure shows as a drain that does not end */
    PQfreeCancel(k->cancel);
    close(k->done_fd);
    free(k);
    return NULL;
}

/* Ask the server to cancel what runs, and wait until the request went:
 * then a cancel that comes too late finds the session idle (the server
 * ignores it there) instead of hitting the next command. */
static int request_cancel(pqs *s) {
    if (PQtransactionStatus(s->conn) != PQTRANS_ACTIVE) return 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    canceller *k = malloc(sizeof *k);
    PGcancel *c = k ? PQgetCancel(s->conn) : NULL;
    pthread_attr_t attr;
    pthread_t th;
    int started = 0;
    if (c && pthread_attr_init(&attr) == 0) {
        k->cancel = c;
        k->done_fd = p[1];
        started = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                  pthread_create(&th, &attr, cancel_thread, k) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started) {
        if (c) PQfreeCancel(c);
        free(k);
        close(p[0]);
        close(p[1]);
        return CORIO_ENOMEM;
    }
    int rc = corio_wait_fd(p[0], CORIO_READABLE);
    corio_close_fd(p[0]);
    if (!s->conn) return CORIO_EFDCLOSED;
    return rc < 0 ? rc : 0;
}

/* Read and drop results until the connection is idle. In pipeline mode a
 * sync of ours ends what is queued (a failed command makes the server skip
 * to the next sync), and two NULLs in a row with nothing in between mean
 * the queue is empty. */
static int drain(pqs *s, const char *op) {
    int pipeline = PQpipelineStatus(s->conn) != PQ_PIPELINE_OFF;
    if (pipeline && !PQpipelineSync(s->conn)) return failed(s, op);
    int rc = flush_all(s, op);
    for (int nulls = 0; rc == 0;) {
        PGresult *r;
        if ((rc = next_result(s, &r, op)) < 0) return rc;
        if (rc == 0) {
            if (!pipeline || ++nulls == 2) break;
            continue;
        }
        nulls = 0;
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        rc = st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH ? skip_copy(s, st, op) : 0;
    }
    if (rc < 0) return rc;
    return PQstatus(s->conn) == CONNECTION_OK ? 0 : failed(s, op);
}

/* Close the connection without freeing it: libpq reads the end of the
 * stream and drops it (PQstatus: CONNECTION_BAD); the program PQfinishes. */
static void shut_down(pqs *s) {
    int fd = s->fd >= 0 ? s->fd : PQsocket(s->conn);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    /* Bytes that came before the shutdown are read first: bounded. */
    for (int i = 0; i < 1024 && PQstatus(s->conn) != CONNECTION_BAD; i++)
        if (!PQconsumeInput(s->conn)) break;
    drop_fd(s);
}

/* A command was interrupted (rc: a cancel, or a failure while it was in
 * flight): make the connection idle again within the cancel timeout, or
 * close it. Returns rc. */
static int settle(pqs *s, int rc, const char *op) {
    if (!s->conn || PQstatus(s->conn) == CONNECTION_BAD) return rc;
    if (PQtransactionStatus(s->conn) != PQTRANS_ACTIVE && PQpipelineStatus(s->conn) == PQ_PIPELINE_OFF)
        return rc; /* nothing in flight */
    corio_timeout *cm;
    int r = corio_timeout_enter(s->cancel_timeout, &cm);
    if (r == 0) {
        r = request_cancel(s);
        /* Without a cancel request the drain may still end in time. */
        if (s->conn && r != CORIO_ECANCELED && r != CORIO_EFDCLOSED) r = drain(s, op);
        r = corio_timeout_exit(cm, r);
    }
    if (s->conn && r < 0) shut_down(s);
    return rc;
}

/* ---- connecting -------------------------------------------------------------------- */

/* libpq's connect_timeout, which only its blocking connect applies
 * (under 2 s counts as 2, as libpq does); CORIO_FOREVER if none. */
static double connect_timeout_of(PGconn *conn) {
    double t = CORIO_FOREVER;
    PQconninfoOption *opts = PQconninfo(conn);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && *o->val) {
            int v = atoi(o->val);
            if (v > 0) t = v < 2 ? 2 : v;
        }
    PQconninfoFree(opts);
    return t;
}

/* The polling loop, as libpq's documentation gives it: first wait to
 * write, then as each PQconnectPoll says, on the socket it has now. */
static int connect_poll(pqs *s, PostgresPollingStatusType (*step)(PGconn *), const char *op) {
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (;;) {
        if (st == PGRES_POLLING_OK) return 0;
        if (st == PGRES_POLLING_FAILED) {
            char msg[512];
            return corio_raise(CORIO_EPQ, "postgresql %s: %s", op,
                               tidy(PQerrorMessage(s->conn), msg, sizeof msg));
        }
        int rc = wait_sock(s, st == PGRES_POLLING_READING ? CORIO_READABLE : CORIO_WRITABLE, 1, op);
        if (rc < 0) return rc;
        st = step(s->conn);
    }
}

static int connect_finish(PGconn *conn, PGconn **out) {
    char msg[512];
    if (!conn) return corio_raise(CORIO_ENOMEM, "postgresql connect: out of memory");
    if (PQstatus(conn) == CONNECTION_BAD) {
        int rc = corio_raise(CORIO_EPQ, "postgresql connect: %s", tidy(PQerrorMessage(conn), msg, sizeof msg));
        PQfinish(conn);
        return rc;
    }
    pqs *s = NULL;
    int rc = attach(conn, &s);
    if (rc < 0) {
        PQfinish(conn);
        return rc;
    }
    s->busy = 1; /* nobody else knows the connection yet: only for pq_event's sake */
    double limit = connect_timeout_of(conn);
    corio_timeout *cm = NULL;
    if (limit != CORIO_FOREVER) rc = corio_timeout_enter(limit, &cm);
    if (rc == 0) rc = connect_poll(s, PQconnectPoll, "connect");
    if (cm && (rc = corio_timeout_exit(cm, rc)) == CORIO_ETIMEDOUT) {
        char peer[160];
        peer_of(s, peer, sizeof peer);
        rc = corio_raise(CORIO_ETIMEDOUT, "postgresql connect %s: timeout expired (connect_timeout %g s)", peer, limit);
    }
    if (rc == 0 && PQsetnonblocking(conn, 1) < 0) rc = failed(s, "connect");
    s->busy = 0;
    if (rc < 0) {
        PQfinish(conn); /* closes our duplicate and frees s (pq_event) */
        return rc;
    }
    *out = conn;
    return 0;
}

int corio_pq_connect(const char *conninfo, PGconn **out) {
    if (out) *out = NULL;
    if (!conninfo || !out) return CORIO_EINVAL;
    if (!corio_current_task()) return CORIO_ENOTINTASK;
    return connect_finish(PQconnectStart(conninfo), out);
}

int corio_pq_connect_params(const char *const *keywords, const char *const *values,
                            int expand_dbname, PGconn **out) {
    if (out) *out = NULL;
    if (!keywords || !values || !out) return CORIO_EINVAL;
    if (!corio_current_task()) return CORIO_ENOTINTASK;
    return connect_finish(PQconnectStartParams(keywords, values, expand_dbname), out);
}

/* PQresetStart closes the old connection and starts a new one with the
 * same parameters; PQresetPoll is PQconnectPoll plus the reset event at
 * the end, so the same loop drives it. A cancelled reset leaves the
 * connection unusable (not CONNECTION_OK): calls fail with libpq's "no
 * connection" until it is reset again or finished. */
int corio_pq_reset(PGconn *conn) {
    if (!conn) return CORIO_EINVAL;
    pqs *s = NULL;
    int rc = enter(conn, "reset", &s);
    if (rc < 0) return rc;
    drop_fd(s); /* the old socket goes now */
    if (!PQresetStart(conn)) {
        char msg[512];
        rc = corio_raise(CORIO_EPQ, "postgresql reset: %s", tidy(PQerrorMessage(conn), msg, sizeof msg));
    } else {
        rc = connect_poll(s, PQresetPoll, "reset"); /* fires PGEVT_CONNRESET */
    }
    if (rc == 0 && PQsetnonblocking(conn, 1) < 0) rc = failed(s, "reset");
    if (rc < 0 && s->conn) drop_fd(s);
    return leave(s, rc);
}

/* ---- queries ----------------------------------------------------------------------- */

static int check_params(int nparams, const char *const *params) {
    return nparams >= 0 && (nparams == 0 || params);
}

int corio_pq_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                  PGresult **out) {
    if (out) *out = NULL;
    if (!conn || !sql || !out || !check_params(nparams, params)) return CORIO_EINVAL;
    pqs *s = NULL;
    int rc = enter(conn, "exec", &s);
    if (rc < 0) return rc;
    if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF) {
        rc = corio_raise(CORIO_EPQ, "postgresql exec: the connection is in pipeline mode (use corio_pq_get_result)");
    } else if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
        rc = failed(s, "exec");
    } else {
        rc = flush_all(s, "exec");
        if (rc == 0) rc = command_results(s, out, "exec");
        if (rc < 0) {
            PQclear(*out);
            *out = NULL;
            rc = settle(s, rc, "exec");
        } else if (!*out) {
            rc = failed(s, "exec");
        } else if (!result_ok(*out)) {
            rc = result_failed(s, *out, "exec", "");
        }
    }
    return leave(s, rc);
}

int corio_pq_flush(PGconn *conn) {
    if (!conn) return CORIO_EINVAL;
    pqs *s = NULL;
    int rc = enter(conn, "flush", &s);
    if (rc < 0) return rc;
    rc = flush_all(s, "flush");
    if (rc < 0) rc = settle(s, rc, "flush");
    else if (PQstatus(conn) == CONNECTION_BAD) rc = failed(s, "flush");
    return leave(s, rc);
}

int corio_pq_get_result(PGconn *conn, PGresult **out) {
    if (out) *out = NULL;
    if (!conn || !out) return CORIO_EINVAL;
    pqs *s = NULL;
    int rc = enter(conn, "get_result", &s);
    if (rc < 0) return rc;
    rc = next_result(s, out, "get_result");
    if (rc < 0) rc = settle(s, rc, "get_result");
    return leave(s, rc);
}

int corio_pq_wait(PGconn *conn, int events) {
    if (!conn || !(events & (CORIO_READABLE | CORIO_WRITABLE)) ||
        events & ~(CORIO_READABLE | CORIO_WRITABLE))
        return CORIO_EINVAL;
    pqs *s = NULL;
    int rc = enter(conn, "wait", &s);
    if (rc < 0) return rc;
    /* The program may be polling its own PQconnectStart or PQresetStart
     * with this call: libpq then replaces its socket under the same number
     * (no event tells us), so compare the sockets themselves. */
    return leave(s, wait_sock(s, events, 1, "wait"));
}

/* The pipeline's sync result, after the last statement's. */
static int expect_sync(pqs *s) {
    PGresult *r;
    int rc = next_result(s, &r, "pipeline");
    if (rc <= 0) return rc < 0 ? rc : failed(s, "pipeline");
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    return st == PGRES_PIPELINE_SYNC ? 0 : failed(s, "pipeline");
}

static int run_pipeline(pqs *s, const corio_pq_query *q, size_t n, PGresult **results) {
    for (size_t i = 0; i < n; i++)
        if (!PQsendQueryParams(s->conn, q[i].sql, q[i].nparams, NULL, q[i].params, NULL, NULL, 0))
            return failed(s, "pipeline");
    if (!PQpipelineSync(s->conn)) return failed(s, "pipeline");
    int rc = flush_all(s, "pipeline");
    for (size_t i = 0; rc == 0 && i < n; i++) rc = command_results(s, &results[i], "pipeline");
    return rc < 0 ? rc : expect_sync(s);
}

/* A connection closed in the middle of a pipeline (a cancel that could not
 * make it idle, the server gone) still holds the pipeline's queue, and
 * libpq refuses to leave pipeline mode while it does: collect it (with no
 * socket left, PQgetResult never waits), so the connection leaves pipeline
 * mode as promised and later calls say it is closed. Bounded. */
static void collect_closed(PGconn *conn, size_t n) {
    for (size_t i = 0; i < 2 * n + 4 && PQstatus(conn) == CONNECTION_BAD && PQsocket(conn) < 0 &&
                       PQpipelineStatus(conn) != PQ_PIPELINE_OFF;
         i++) {
        PGresult *r = PQgetResult(conn);
        PQclear(r);
        if (!r && PQexitPipelineMode(conn)) break;
    }
}

int corio_pq_exec_pipeline(PGconn *conn, const corio_pq_query *queries, size_t n,
                           PGresult **results) {
    if (!conn || (n && (!queries || !results))) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++) {
        results[i] = NULL;
        if (!queries[i].sql || !check_params(queries[i].nparams, queries[i].params)) return CORIO_EINVAL;
    }
    if (n == 0) return 0;
    pqs *s = NULL;
    int rc = enter(conn, "pipeline", &s);
    if (rc < 0) return rc;
    int entered = PQpipelineStatus(conn) == PQ_PIPELINE_OFF;
    if (PQtransactionStatus(conn) == PQTRANS_ACTIVE)
        rc = corio_raise(CORIO_EPQ, "postgresql pipeline: another command is already in progress");
    else if (entered && !PQenterPipelineMode(conn))
        rc = failed(s, "pipeline");
    else if ((rc = run_pipeline(s, queries, n, results)) < 0)
        rc = settle(s, rc, "pipeline");
    if (s->conn && entered) collect_closed(conn, n);
    if (s->conn && entered && PQpipelineStatus(conn) != PQ_PIPELINE_OFF && !PQexitPipelineMode(conn) &&
        rc >= 0)
        rc = failed(s, "pipeline");
    if (rc == 0) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            char what[48];
            snprintf(what, sizeof what, "statement %zu: ", i + 1);
            if (!results[i]) rc = corio_raise(CORIO_EPQ, "postgresql pipeline: %sno result", what);
            else if (!result_ok(results[i])) rc = result_failed(s, results[i], "pipeline", what);
        }
    } else if (rc == CORIO_ECANCELED || rc == CORIO_EFDCLOSED) {
        for (size_t i = 0; i < n; i++) {
            PQclear(results[i]);
            results[i] = NULL;
        }
    }
    return leave(s, rc);
}

int corio_pq_set_cancel_timeout(PGconn *conn, double seconds) {
    if (!conn || seconds != seconds) return CORIO_EINVAL;
    pqs *s = NULL;
    int rc = attach(conn, &s);
    if (rc < 0) return rc;
    s->cancel_timeout = seconds;
    return 0;
}
