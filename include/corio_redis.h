/*
 * corio_redis — hiredis inside corio tasks (io.md 9).
 *
 * A task sends a command and suspends until its reply comes back; many
 * tasks share one connection (hiredis pipelines their commands, replies
 * stay matched to them). Built on corio.h's callback form of the waiting
 * primitive (add_reader / add_writer) and its timeouts: hiredis 0.14 has
 * no timer hook, so the connect and command timeouts are corio's.
 *
 * Replies are hiredis's own `redisReply` trees, handed over: the caller
 * owns what *reply receives and frees it with corio_redis_reply_free (or
 * hiredis's freeReplyObject). The adapter takes the reply from hiredis
 * without copying it, so a value of many MB costs no second copy.
 *
 * Codes: a redis error reply is CORIO_EREDIS with redis's message in
 * corio_current_error() (and the reply in *reply); a connection lost
 * (server gone, reset) is -ECONNRESET for every command pending and every
 * later one; a connection the program closed is CORIO_EFDCLOSED; hiredis
 * failing otherwise (protocol error, out of memory) is CORIO_EREDIS. Each
 * message names the command and the peer ("redis GET 127.0.0.1:6379:
 * Server closed the connection"). CORIO_EINVAL (NULL or nonsense) and,
 * for the suspending calls, CORIO_ENOTINTASK and CORIO_ECANCELED (a
 * cancel or a timeout scope of the task) are always possible.
 *
 * Cancelling a task that waits for a reply: the command was sent, so its
 * reply is read and dropped when it comes; the connection stays usable.
 */
#ifndef CORIO_REDIS_H
#define CORIO_REDIS_H

#include "corio.h"

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

struct redisReply; /* hiredis's reply (<hiredis/hiredis.h>: redisReply) */

/* A connection, owned by whoever opened it (corio_redis_free). Any number
 * of tasks of its loop may send commands on it at once. */
typedef struct corio_redis corio_redis;

/* In a task: connect to host:port (a numeric address: "127.0.0.1", "::1"
 * or "[::1]"; no name lookup blocks the loop) within timeout seconds (the
 * time rule; CORIO_FOREVER: none). *out: owned. 0, -errno with a message
 * naming the peer (-ECONNREFUSED, ...), CORIO_ETIMEDOUT, CORIO_EREDIS. */
CORIO_API int corio_redis_connect(const char *host, int port, double timeout, corio_redis **out);
/* The same over a Unix socket path. */
CORIO_API int corio_redis_connect_unix(const char *path, double timeout, corio_redis **out);

/* A deadline for each later command, from when it is sent (the time rule;
 * CORIO_FOREVER, the default: none); the task's own timeout scopes apply
 * as well. A command past it returns CORIO_ETIMEDOUT; its reply is
 * dropped when it comes. 0, CORIO_EINVAL (NaN). */
CORIO_API int corio_redis_set_timeout(corio_redis *r, double timeout);

/* In a task: send a command and wait for its reply. The format is
 * hiredis's (`%s` a C string, `%b` a pointer and a size_t: binary safe).
 * 0 with *reply (owned: corio_redis_reply_free); CORIO_EREDIS for an
 * error reply (*reply is set: the caller frees it); on any other failure
 * *reply is NULL. Commands whose replies would not come one per command
 * are refused (CORIO_EINVAL): (P|S)SUBSCRIBE and their UNSUBSCRIBE (use
 * corio_redis_subscribe), MONITOR, RESET, CLIENT REPLY, SYNC, PSYNC; so is any command
 * while the connection is subscribed (CORIO_EINVALSTATE). */
CORIO_API int corio_redis_command(corio_redis *r, struct redisReply **reply, const char *fmt, ...);
CORIO_API int corio_redis_vcommand(corio_redis *r, struct redisReply **reply, const char *fmt,
                                   va_list ap);
/* The same with argc arguments of argvlen[i] bytes each (binary safe;
 * argvlen NULL: C strings). */
CORIO_API int corio_redis_command_argv(corio_redis *r, struct redisReply **reply, int argc,
                                       const char *const *argv, const size_t *argvlen);
/* freeReplyObject; NULL-safe. */
CORIO_API void corio_redis_reply_free(struct redisReply *reply);

/* ---- pub/sub -------------------------------------------------------------- */

/* A message, owned by the task that took it from the queue
 * (corio_redis_message_free). Each string is a copy ending with a NUL
 * beyond its length (binary safe through the length). */
typedef struct corio_redis_message {
    const char *pattern; /* the pattern matched (psubscribe), else NULL */
    size_t pattern_len;
    const char *channel;
    size_t channel_len;
    const char *data;
    size_t data_len;
} corio_redis_message;
CORIO_API void corio_redis_message_free(corio_redis_message *msg); /* NULL-safe */

/* In a task: subscribe to n channels (SUBSCRIBE) or patterns
 * (PSUBSCRIBE) and wait until redis confirmed each of them. From then on
 * the connection is a subscriber: its messages go into its queue
 * (corio_redis_messages), and commands are refused until every
 * subscription is gone. A cancelled subscribe still subscribes. 0, and the
 * command's codes. */
CORIO_API int corio_redis_subscribe(corio_redis *r, const char *const *channels, size_t n);
CORIO_API int corio_redis_psubscribe(corio_redis *r, const char *const *patterns, size_t n);
/* Not a task call: send UNSUBSCRIBE / PUNSUBSCRIBE for n names (n 0: all
 * of them); redis confirms in the background, and messages sent before
 * that still arrive. 0; CORIO_EINVALSTATE if not subscribed;
 * -ECONNRESET, CORIO_EFDCLOSED; CORIO_EWRONGLOOP from another loop or,
 * while its loop runs, another thread (so for close and free). */
CORIO_API int corio_redis_unsubscribe(corio_redis *r, const char *const *channels, size_t n);
CORIO_API int corio_redis_punsubscribe(corio_redis *r, const char *const *patterns, size_t n);
/* The queue messages arrive in (unbounded: a reader slower than the
 * publishers lets it grow). Items are corio_redis_message pointers, owned
 * by the task that gets them. When the connection is lost or closed the
 * queue is shut down: gets take what is left, then CORIO_ESHUTDOWN.
 * Borrowed until corio_redis_free (which frees the messages left). */
CORIO_API corio_queue *corio_redis_messages(corio_redis *r);
/* In a task: the next message (a corio_queue_get on that queue). 0 with
 * *msg (owned); once the queue is empty after the connection ended, the
 * connection's code (-ECONNRESET, CORIO_EFDCLOSED). */
CORIO_API int corio_redis_get_message(corio_redis *r, corio_redis_message **msg);

/* ---- the connection --------------------------------------------------------- */

/* The descriptor (-1 once closed), for diagnostics: corio owns it. */
CORIO_API int corio_redis_fd(const corio_redis *r);
/* 1 while connected, 0 once lost or closed (0 for NULL). */
CORIO_API int corio_redis_is_connected(const corio_redis *r);
/* Close now (not a task call): pending commands and subscribes fail with
 * CORIO_EFDCLOSED, replies on the way are dropped, the registrations go
 * and the descriptor is closed through corio (corio_close_fd) before its
 * number can be reused. 0 (also when closed already). */
CORIO_API int corio_redis_close(corio_redis *r);
/* Close if needed and free, with the messages left in the queue. 0;
 * CORIO_EBUSY (nothing freed) while a task is inside a call on it (close
 * first, and let the tasks return). NULL-safe. Safe after its loop closed;
 * a connection holds its loop's memory as a future does, so one still
 * open at corio_loop_free is reported there (and freeing it later is
 * still safe). */
CORIO_API int corio_redis_free(corio_redis *r);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_REDIS_H */
