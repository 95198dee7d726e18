/* Servers (asyncio start_server / start_unix_server): a task accepts on
 * each listening socket, and each connection runs the handler as its own
 * named task with a stream the server owns. The stream outlives the
 * handler until it is closed (close flushes first), then it is freed.
 * Running out of descriptors while accepting pauses that acceptor (asyncio's
 * ACCEPT_RETRY_DELAY, 1 s) instead of spinning or dying. The server is a
 * resource of its loop: a loop closed under it frees what is left. */
#define _GNU_SOURCE
#include "io/stream.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_LISTENERS 8
#define ACCEPT_RETRY_DELAY 1.0

typedef struct conn {
    corio__list link;        /* in srv->conns while the stream is open or the handler runs */
    corio_server *srv;       /* borrowed */
    corio_stream *s;         /* owned: freed once closed and the handler is done */
    uint8_t handler_done;
    uint8_t closed;
    uint8_t self_managed;    /* no done callback could be registered: run_handler's end does it */
} conn;

struct corio_server {
    corio__resource res;     /* in the loop's resources: a loop closed under it frees it */
    corio_loop *loop;        /* borrowed */
    int fds[MAX_LISTENERS];  /* listening sockets, owned; -1 once closed */
    int nfds;
    corio_task *acceptors[MAX_LISTENERS]; /* owned references, NULL once let go */
    uint32_t refs;           /* the program's until corio_server_free + one per acceptor task
                                until its done callback: the acceptors read the server */
    uint8_t freed;           /* corio_server_free was called: destroyed when refs reach 0 */
    uint8_t orphaned;        /* its loop closed: only the struct is left, for corio_server_free */
    corio_stream_handler handler;
    void *arg;
    size_t limit;            /* each stream's read limit */
    corio_tls_context *tls;  /* borrowed (corio_server_options): each connection's TLS, or NULL */
    corio_tls_options tlsopts;
    corio__list conns;       /* live connections */
    size_t nconns;
    uint64_t seq;            /* connection numbers, for the handler tasks' names */
    corio_event *idle;       /* owned: set when closed and no connection is left */
    corio_event *stopped;    /* owned: set by close (serve_forever waits on it) */
    uint8_t closed;
    size_t inside;           /* tasks in serve_forever / wait_closed */
};

/* ---- connections -------------------------------------------------------- */

static void conn_gone(conn *c) {
    corio_server *srv = c->srv;
    corio__list_unlink(&c->link);
    srv->nconns--;
    c->s->on_closed = NULL;
    corio__stream_release(c->s);
    corio__free(c);
    if (srv->closed && srv->nconns == 0) corio_event_set(srv->idle);
}

static void conn_closed(corio_stream *s) {
    conn *c = s->owner;
    c->closed = 1;
    if (c->handler_done) conn_gone(c);
}

static void handler_over(conn *c) {
    c->handler_done = 1;
    if (c->closed) conn_gone(c);
    else corio_stream_close(c->s); /* flushes, then conn_closed frees it */
}

static int run_handler(void *arg, void **res) {
    (void)res;
    conn *c = arg;
    /* TLS first, as asyncio's server: a failed handshake closes the
     * connection without running the handler or reporting anything (an
     * SSLError is an OSError, which asyncio logs in debug mode only). */
    if (c->srv->tls && corio_start_tls(c->s, c->srv->tls, 1, NULL, &c->srv->tlsopts) < 0) {
        if (c->self_managed) handler_over(c);
        return 0;
    }
    int rc = c->srv->handler(c->s, c->srv->arg);
    if (c->self_managed) handler_over(c);
    return rc;
}

/* The handler's task is over, whether it ran or was cancelled before it
 * could (then the stream must still be closed and freed): a done callback,
 * not the task's own last lines. A failure is reported as asyncio logs an
 * exception of client_connected_cb. */
static void handler_task_done(corio_future *task, void *arg) {
    conn *c = arg;
    corio_error *err = NULL;
    if (!corio_future_cancelled(task) && corio_future_exception(task, &err) == 0 && err)
        corio_loop_call_exception_handler(c->srv->loop, "unhandled error in a server's connection handler",
                                          task, err);
    corio_error_unref(err);
    handler_over(c);
}

static void new_conn(corio_server *srv, int fd) {
    conn *c = corio__calloc(1, sizeof *c);
    int rc = c ? corio__stream_new(srv->loop, fd, &c->s) : CORIO_ENOMEM;
    if (rc < 0) {
        corio__free(c);
        corio_close_fd(fd);
        return;
    }
    c->srv = srv;
    c->s->limit = srv->limit;
    c->s->owner = c;
    c->s->on_closed = conn_closed;
    corio__list_init(&c->link);
    corio__list_push_back(&srv->conns, &c->link);
    srv->nconns++;
    char name[160], peer[128];
    corio__peer_format(fd, peer, sizeof peer);
    snprintf(name, sizeof name, "server connection %llu from %s", (unsigned long long)++srv->seq, peer);
    corio_task *t;
    if (corio_create_task(run_handler, c, name, &t) < 0) {
        c->handler_done = 1;
        corio_stream_abort(c->s); /* conn_closed frees it */
        return;
    }
    /* Without memory for the callback, the handler's last lines do it (a
     * task that never starts then keeps its connection until close). */
    if (corio_future_add_done_callback(t, handler_task_done, c) < 0) c->self_managed = 1;
    corio_future_unref(t);
}

/* ---- accepting --------------------------------------------------------------- */

/* One per listening socket: accept until the server closes. It reads the
 * server, which stays alive until this task's done callback (srv->refs);
 * it checks `closed` after every wait, so a listener's number that close
 * freed (and something else reused) is never accepted on. */
static int acceptor(void *arg, void **res) {
    (void)res;
    corio_server *srv = arg;
    int i = 0;
    while (i < srv->nfds && srv->acceptors[i] != corio_current_task()) i++;
    /* Not found: an eager task (corio_loop_set_eager_tasks), started inside
     * listen_on's create before its slot was filled; its slot is nfds,
     * whose listener is set already. */
    corio_loop *loop = corio_get_running_loop();
    for (;;) {
        if (srv->closed || srv->fds[i] < 0) return 0;
        int conn_fd = corio__backend_accept(loop, srv->fds[i], NULL, NULL);
        if (srv->closed) { /* closed while it waited */
            if (conn_fd >= 0) corio_close_fd(conn_fd);
            return 0;
        }
        if (conn_fd == CORIO_ECANCELED) return 0;
        if (conn_fd >= 0) {
            int one = 1;
            (void)corio__setsockopt(conn_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            new_conn(srv, conn_fd);
            continue;
        }
        if (conn_fd == -EMFILE || conn_fd == -ENFILE || conn_fd == -ENOBUFS || conn_fd == -ENOMEM) {
            if (corio_sleep(ACCEPT_RETRY_DELAY) < 0) return 0; /* descriptors may come back */
            continue;
        }
        /* Anything else is the listener's own failure: report, stop. */
        corio_loop_call_exception_handler(loop, "accept failed; the server stops listening here",
                                          NULL, NULL);
        return conn_fd;
    }
}

static void server_destroy(corio_server *srv);

static void server_unref(corio_server *srv) {
    if (--srv->refs == 0) {
        corio__list_unlink(&srv->res.link);
        server_destroy(srv);
    }
}

/* An acceptor is over (it ran, or was cancelled before it could). */
static void acceptor_done(corio_future *task, void *arg) {
    corio_server *srv = arg;
    for (int i = 0; i < srv->nfds; i++)
        if (srv->acceptors[i] == task) {
            corio_future_unref(task);
            srv->acceptors[i] = NULL;
        }
    server_unref(srv);
}

/* ---- life cycle ------------------------------------------------------------------ */

/* Stop listening: each acceptor is woken (its socket closed) or, if it
 * has not started, cancelled; each ends on a later iteration. */
static void close_listeners(corio_server *srv) {
    for (int i = 0; i < srv->nfds; i++) {
        if (srv->fds[i] >= 0) corio_close_fd(srv->fds[i]);
        srv->fds[i] = -1;
        if (srv->acceptors[i]) corio_task_cancel(srv->acceptors[i], NULL);
    }
}

/* Everything but the struct: listeners, acceptors, connections, events. */
static void server_release(corio_server *srv) {
    close_listeners(srv);
    for (int i = 0; i < srv->nfds; i++) /* at loop close: the tasks are gone already */
        if (srv->acceptors[i]) corio_future_unref(srv->acceptors[i]);
    memset(srv->acceptors, 0, sizeof srv->acceptors);
    corio__list *n;
    while ((n = corio__list_pop_front(&srv->conns))) {
        conn *c = corio__container_of(n, conn, link);
        c->s->on_closed = NULL;
        c->s->reader = NULL; /* its task is gone with the loop */
        c->s->inside = 0;
        corio__stream_release(c->s);
        corio__free(c);
    }
    srv->nconns = 0;
    corio_event_free(srv->idle);
    corio_event_free(srv->stopped);
    srv->idle = srv->stopped = NULL;
}

static void server_destroy(corio_server *srv) {
    server_release(srv);
    corio__free(srv);
}

/* The loop closes under the server: everything goes but the struct, which
 * stays the program's until corio_server_free (already called: it goes). */
static void server_resource_close(corio__resource *r) {
    corio_server *srv = corio__container_of(r, corio_server, res);
    corio__list_unlink(&r->link);
    corio__list_init(&r->link);
    server_release(srv);
    srv->closed = srv->orphaned = 1;
    if (srv->freed) corio__free(srv);
}

static int server_new(corio_stream_handler handler, void *arg, const corio_server_options *opts,
                      corio_server **out) {
    if (opts && opts->tls && (opts->tls_handshake_timeout != opts->tls_handshake_timeout ||
                              opts->tls_shutdown_timeout != opts->tls_shutdown_timeout))
        return corio_raise(CORIO_EINVAL, "start_server: a TLS timeout is NaN"); /* api.md's rule for time */
    corio_server *srv = corio__calloc(1, sizeof *srv);
    if (!srv) return CORIO_ENOMEM;
    int rc = corio_event_new(&srv->idle);
    if (rc == 0) rc = corio_event_new(&srv->stopped);
    if (rc < 0) {
        corio_event_free(srv->idle);
        corio__free(srv);
        return rc;
    }
    srv->loop = corio__running_loop;
    srv->refs = 1;
    srv->handler = handler;
    srv->arg = arg;
    srv->limit = opts && opts->limit ? opts->limit : 64 * 1024;
    if (opts && opts->tls) {
        srv->tls = opts->tls;
        srv->tlsopts.handshake_timeout = opts->tls_handshake_timeout;
        srv->tlsopts.shutdown_timeout = opts->tls_shutdown_timeout;
    }
    corio__list_init(&srv->conns);
    for (int i = 0; i < MAX_LISTENERS; i++) srv->fds[i] = -1;
    srv->res.close = server_resource_close;
    corio__list_init(&srv->res.link);
    corio__loop_add_resource(srv->loop, &srv->res);
    *out = srv;
    return 0;
}

/* Bind and listen on addr; its acceptor starts. */
static int listen_on(corio_server *srv, const struct sockaddr *addr, unsigned int len,
                     const corio_server_options *opts) {
    if (srv->nfds == MAX_LISTENERS) return CORIO_EINVAL;
    int fd, rc, one = 1;
    if ((rc = corio_socket(addr->sa_family, SOCK_STREAM, 0, &fd)) < 0) return rc;
    int reuse_address = opts ? opts->reuse_address >= 0 : 1; /* asyncio: on, on Unix */
    if (addr->sa_family != AF_UNIX && reuse_address)
        rc = corio__setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rc == 0 && opts && opts->reuse_port > 0)
        rc = corio__setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (rc == 0 && addr->sa_family == AF_INET6) /* the IPv6 address only, as asyncio */
        rc = corio__setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (rc == 0) rc = corio__bind(fd, addr, len);
    if (rc == 0) rc = corio__listen(fd, opts && opts->backlog > 0 ? opts->backlog : 100);
    if (rc == 0) {
        char name[160], where[128];
        corio__addr_format(addr, len, where, sizeof where);
        snprintf(name, sizeof name, "server %s", where);
        srv->fds[srv->nfds] = fd;
        corio_task **t = &srv->acceptors[srv->nfds];
        rc = corio_create_task(acceptor, srv, name, t);
        if (rc == 0 && (rc = corio_future_add_done_callback(*t, acceptor_done, srv)) < 0) {
            /* An eager acceptor already waits in accept and reads the
             * server when it wakes: it must end before the server may go
             * (a lazy one, cancelled unstarted, never reads it). */
            corio_task_cancel(*t, NULL);
            int w = 0;
            while (!corio_future_done(*t) && (w == 0 || w == CORIO_ECANCELED)) {
                w = corio_await(*t, NULL);
                if (w == CORIO_ECANCELED && !corio_future_done(*t)) rc = CORIO_ECANCELED; /* ours */
            }
            corio_future_unref(*t);
            *t = NULL;
        }
        if (rc == 0) srv->refs++;
        if (rc < 0) srv->fds[srv->nfds] = -1;
    }
    if (rc < 0) {
        char where[128];
        corio__addr_format(addr, len, where, sizeof where);
        corio_close_fd(fd);
        if (rc != CORIO_ENOMEM && rc != CORIO_ECANCELED)
            rc = corio_raise(rc, "listen on %s: %s", where, corio_strerror(rc));
        return rc;
    }
    srv->nfds++;
    return 0;
}

static int start(corio_stream_handler handler, void *arg, const struct sockaddr *addr,
                 unsigned int len, const corio_server_options *opts, corio_server **out) {
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    corio_server *srv;
    if ((rc = server_new(handler, arg, opts, &srv)) < 0) return rc;
    if ((rc = listen_on(srv, addr, len, opts)) < 0) {
        corio_server_close(srv);
        corio_server_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

static int same_addr(const struct addrinfo *a, const struct addrinfo *b) {
    return a->ai_addrlen == b->ai_addrlen && memcmp(a->ai_addr, b->ai_addr, a->ai_addrlen) == 0;
}

/* Listen on every address of the name, each once (asyncio binds them all;
 * host NULL or "": every interface, IPv4 and IPv6). As asyncio, an address
 * whose family the system lacks (no socket, or EADDRNOTAVAIL at bind) is
 * left out; any other failure fails the whole. */
int corio_start_server(corio_stream_handler handler, void *arg, const char *host, int port,
                       const corio_server_options *opts, corio_server **out) {
    if (out) *out = NULL;
    if (!handler || !out) return CORIO_EINVAL;
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    struct addrinfo *ais;
    if ((rc = corio__resolve(host, port, AF_UNSPEC, SOCK_STREAM, AI_PASSIVE, &ais)) < 0) return rc;
    corio_server *srv;
    if ((rc = server_new(handler, arg, opts, &srv)) < 0) {
        corio_freeaddrinfo(ais);
        return rc;
    }
    int skipped = 0;
    for (const struct addrinfo *a = ais; a && rc == 0; a = a->ai_next) {
        const struct addrinfo *b = ais;
        while (b != a && !same_addr(a, b)) b = b->ai_next;
        if (b != a) continue; /* listed twice */
        if (srv->nfds == MAX_LISTENERS) {
            rc = corio_raise(CORIO_EINVAL, "start_server %s: more than %d addresses", host ? host : "*", MAX_LISTENERS);
            break;
        }
        rc = listen_on(srv, a->ai_addr, a->ai_addrlen, opts);
        if (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL) {
            skipped = rc;
            rc = 0;
        }
    }
    corio_freeaddrinfo(ais);
    if (rc == 0 && srv->nfds == 0) rc = skipped; /* its message is the current error */
    if (rc < 0) {
        corio_server_close(srv);
        corio_server_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int corio_start_unix_server(corio_stream_handler handler, void *arg, const char *path,
                            const corio_server_options *opts, corio_server **out) {
    if (out) *out = NULL;
    if (!handler || !out) return CORIO_EINVAL;
    struct sockaddr_un un;
    unsigned int len = 0;
    int rc = corio__unix_addr(path, &un, &len);
    if (rc < 0) return rc;
    return start(handler, arg, (struct sockaddr *)&un, len, opts, out);
}

int corio_server_close(corio_server *srv) {
    if (!srv) return CORIO_EINVAL;
    if (srv->closed || srv->orphaned) return 0;
    srv->closed = 1;
    close_listeners(srv);
    corio_event_set(srv->stopped);
    if (srv->nconns == 0) corio_event_set(srv->idle);
    return 0;
}

int corio_server_is_serving(const corio_server *srv) { return srv && !srv->closed; }

static int each_conn(corio_server *srv, int (*fn)(corio_stream *)) {
    if (!srv) return CORIO_EINVAL;
    corio__list *n, *next;
    for (n = srv->conns.next; n != &srv->conns; n = next) { /* fn may free the current one */
        next = n->next;
        fn(corio__container_of(n, conn, link)->s);
    }
    return 0;
}

int corio_server_close_clients(corio_server *srv) { return each_conn(srv, corio_stream_close); }
int corio_server_abort_clients(corio_server *srv) { return each_conn(srv, corio_stream_abort); }

static int wait_event(corio_server *srv, corio_event *ev) {
    if (!srv) return CORIO_EINVAL;
    if (srv->orphaned) return CORIO_ECLOSED;
    if (!corio__running_task()) return CORIO_ENOTINTASK;
    srv->inside++;
    int rc = corio_event_wait(ev);
    srv->inside--;
    return rc;
}

int corio_server_wait_closed(corio_server *srv) {
    if (srv && !srv->closed) { /* 3.12: waits for the connections of a closed server */
        int rc = wait_event(srv, srv->stopped);
        if (rc < 0) return rc;
    }
    return wait_event(srv, srv ? srv->idle : NULL);
}

int corio_server_serve_forever(corio_server *srv) {
    if (!srv) return CORIO_EINVAL;
    if (srv->closed) return CORIO_ECLOSED;
    int rc = wait_event(srv, srv->stopped);
    if (rc == CORIO_ECANCELED) corio_server_close(srv); /* asyncio: cancelled, it closes */
    return rc;
}

int corio_server_sockname(const corio_server *srv, int i, struct sockaddr *addr, unsigned int *len) {
    if (!srv || !addr || !len || i < 0 || i >= srv->nfds) return CORIO_EINVAL;
    if (srv->fds[i] < 0) return CORIO_EFDCLOSED;
    return getsockname(srv->fds[i], addr, len) ? -errno : 0;
}

int corio_server_free(corio_server *srv) {
    if (!srv) return 0;
    if (srv->freed) return CORIO_EINVAL; /* freed twice */
    if (srv->orphaned) {
        corio__free(srv);
        return 0;
    }
    if (srv->inside || srv->nconns) return CORIO_EBUSY;
    corio_server_close(srv);
    srv->freed = 1;
    server_unref(srv); /* the acceptors' done callbacks let go of the rest */
    return 0;
}
