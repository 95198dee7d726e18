/*
 * corio_pq — libpq inside corio tasks (io.md 9). A separate library
 * (libcorio_pq, pkg-config corio-pq), written on the public corio.h only.
 *
 * A task calls a function that looks blocking; only that task suspends
 * while libpq waits for its socket. The connections are libpq's own
 * PGconn: everything libpq offers (PQgetvalue, PQescapeLiteral, prepared
 * statements, single-row mode, pipeline mode) works on them as usual;
 * corio_pq only replaces the waiting.
 *
 * Ownership: a PGconn from corio_pq_connect is the caller's; release it
 * with PQfinish (on the loop's thread, or once its loop runs nowhere).
 * PQfinish while another task is inside a call on it is safe: that call
 * returns CORIO_EFDCLOSED. Every PGresult handed out is the caller's
 * (PQclear), on success and on failure alike. A connection belongs to one
 * loop (libpq connections are not thread-safe).
 *
 * Names: PQconnectStart resolves a host name with a blocking getaddrinfo
 * (libpq's own rule); give a numeric `host` or `hostaddr`, or a Unix
 * socket directory, to keep the loop free.
 *
 * Waiting: corio_pq waits on a duplicate of libpq's socket that it owns
 * and closes through corio_close_fd (when libpq replaces or drops its
 * socket, at PQreset, and at PQfinish through a libpq event procedure),
 * so no registration of corio's outlives the number, whatever libpq does
 * with its own descriptor. A connection corio_pq has used carries that
 * event procedure and is in non-blocking mode (PQsetnonblocking).
 *
 * Cancelling: every call here is a cancellation point and honours the
 * task's timeout scopes. A cancelled connect frees its connection (*out
 * stays NULL). A cancelled query sends a cancel request to the server
 * (PQcancel, which blocks, on a short-lived thread of its own), then reads
 * and drops the rest of the command's results until the connection is
 * idle: it is usable afterwards. If that does not finish within the
 * connection's cancel timeout (corio_pq_set_cancel_timeout; default 5 s),
 * or fails, or is cancelled again, the connection is shut down instead
 * (PQstatus gives CONNECTION_BAD): closed, never stuck. The call then
 * returns CORIO_ECANCELED (and a timeout scope's exit turns it into
 * CORIO_ETIMEDOUT, as for any call).
 *
 * Errors: CORIO_EPQ with a message naming the operation and the server
 * ("postgresql exec 127.0.0.1:5432: relation \"t\" does not exist (SQLSTATE
 * 42P01)") in corio_current_error(); CORIO_EINVAL for NULL or nonsense
 * arguments; CORIO_ENOTINTASK outside a task; CORIO_EBUSY when another
 * task is inside a call on the same connection; CORIO_EFDCLOSED when the
 * connection was finished (PQfinish) by another task meanwhile;
 * CORIO_ENOMEM.
 */
#ifndef CORIO_PQ_H
#define CORIO_PQ_H

#include <libpq-fe.h>

#include "corio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* In a task: connect (PQconnectStart, then PQconnectPoll each time the
 * socket is ready, re-reading the socket after each poll: a host list or
 * an SSL fallback replaces it). conninfo's connect_timeout, if set, bounds
 * the whole connect (libpq's blocking connect applies it per host):
 * CORIO_ETIMEDOUT. *out: the connection (owned: PQfinish), NULL on any
 * failure. 0, CORIO_EPQ with libpq's message, CORIO_ECANCELED. */
CORIO_API int corio_pq_connect(const char *conninfo, PGconn **out);
/* The same from keyword/value arrays (PQconnectStartParams). */
CORIO_API int corio_pq_connect_params(const char *const *keywords, const char *const *values,
                                      int expand_dbname, PGconn **out);

/* In a task: PQreset without blocking (PQresetStart, PQresetPoll): the
 * old connection is closed and a new one made with the same parameters,
 * say after the server went away. 0, CORIO_EPQ, CORIO_ECANCELED (then the
 * connection is left unusable, not CONNECTION_OK: reset it again or
 * PQfinish it). */
CORIO_API int corio_pq_reset(PGconn *conn);

/* In a task: run one statement with nparams text parameters ($1, $2...;
 * a NULL entry is SQL NULL), text results (PQsendQueryParams). *out: the
 * statement's result (owned: PQclear). 0 when it is PGRES_COMMAND_OK,
 * PGRES_TUPLES_OK or PGRES_EMPTY_QUERY; CORIO_EPQ with the server's
 * primary message and SQLSTATE when the statement failed, *out then being
 * the (first) error result (PQresultErrorField works on it), or with libpq's
 * message (the connection lost: *out is libpq's error result or NULL);
 * CORIO_ECANCELED (*out NULL; see Cancelling above). COPY ... FROM STDIN
 * fails (the copy is ended with an error); COPY ... TO STDOUT reads the
 * rows and drops them (PQcmdTuples says how many). */
CORIO_API int corio_pq_exec(PGconn *conn, const char *sql, int nparams,
                            const char *const *params, PGresult **out);

/* The pieces, for whatever libpq's PQsend* functions queue (several
 * statements in one string, prepared statements, single-row mode,
 * pipeline mode):
 *     PQsendQuery(conn, "select 1; select 2");
 *     rc = corio_pq_flush(conn);
 *     while (rc == 0 && (rc = corio_pq_get_result(conn, &res)) == 1) { ...; PQclear(res); }
 * (A connection not made by corio_pq_connect: PQsetnonblocking(conn, 1)
 * before its first PQsend*, else libpq may block writing; any corio_pq
 * call on it does that too.)
 * flush: in a task, until libpq has written everything queued (reading
 * meanwhile, so a server that answers while we write cannot deadlock us).
 * 0, CORIO_EPQ (connection lost: corio_pq_get_result gives libpq's error
 * result), CORIO_ECANCELED. */
CORIO_API int corio_pq_flush(PGconn *conn);
/* In a task: the next result (PQgetResult without blocking the loop;
 * what libpq still holds to send goes first, as PQgetResult does).
 * 1 with *out (owned: PQclear), whatever its status; 0 with *out NULL
 * where PQgetResult gives NULL (the end of one command's results);
 * CORIO_ECANCELED; CORIO_EPQ. A PGRES_COPY_* result is handed out as it is:
 * the caller does the copy (PQgetCopyData / PQputCopyData, with
 * corio_pq_wait and corio_pq_flush). Cancelled, the results not yet read
 * are dropped, those of later commands queued in pipeline mode too. */
CORIO_API int corio_pq_get_result(PGconn *conn, PGresult **out);
/* In a task: wait until the connection's socket is ready for `events`
 * (CORIO_READABLE and/or CORIO_WRITABLE): for LISTEN/NOTIFY (then
 * PQconsumeInput and PQnotifies) and COPY. Never corio_wait_fd on
 * PQsocket itself: libpq closes that number behind corio's back. The
 * ready ones (> 0), CORIO_EPQ (no connection), CORIO_ECANCELED (nothing
 * is sent to the server). */
CORIO_API int corio_pq_wait(PGconn *conn, int events);

/* One statement of a pipeline. */
typedef struct corio_pq_query {
    const char *sql;
    int nparams;
    const char *const *params; /* nparams text parameters (NULL entry: SQL NULL) */
} corio_pq_query;
/* In a task: run n statements in one round trip (libpq's pipeline mode,
 * one sync after the last: without an explicit BEGIN they form one
 * implicit transaction, and after a failing statement the server skips
 * the rest, whose results are PGRES_PIPELINE_ABORTED). results[i] gets
 * statement i's result (owned: PQclear; NULL where none came). 0 (at once
 * for n == 0), or CORIO_EPQ naming the first statement that failed
 * ("statement 2: ..."; results given out all the same), CORIO_ECANCELED
 * (results all NULL). The connection must be idle; it leaves pipeline
 * mode afterwards unless it was in it before. */
CORIO_API int corio_pq_exec_pipeline(PGconn *conn, const corio_pq_query *queries, size_t n,
                                     PGresult **results);

/* How long a cancelled call may spend making the connection idle again
 * (the cancel request, then reading the rest) before it shuts the
 * connection down: seconds, by corio's time rule (CORIO_FOREVER: no bound,
 * <= 0: shut down at once). Default 5. Not a task call. 0, CORIO_ENOMEM. */
CORIO_API int corio_pq_set_cancel_timeout(PGconn *conn, double seconds);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PQ_H */
