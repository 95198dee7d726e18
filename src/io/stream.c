/* Streams (asyncio's StreamReader and StreamWriter in one object).
 *
 * Reading is pulled by the reading task: a read that the buffer cannot
 * satisfy receives into the stream's own buffer (never the caller's), in
 * the task's context, and looks again. So a read that is cancelled or
 * times out has consumed nothing: what arrived stays buffered for the next
 * read (read-to-EOF included, where CPython loses what it gathered). Data
 * handed out by pointer (readuntil, readline, read_all) stays valid until
 * the next call on the stream, which drops it.
 *
 * Writing never suspends: write sends at once what the socket takes and
 * buffers the rest; a writer callback on the descriptor flushes the buffer
 * in the background. On a completion backend (io_uring) a socket's write
 * only buffers, and the backend sends in the background from a second
 * buffer that nobody touches until the send completes; the sends of one
 * loop iteration go to the kernel together. drain waits (an event, so
 * many tasks may drain at once) while the buffer is above the high-water
 * mark, until it is at or below the low one, and reports the connection's
 * error. close flushes,
 * then closes the descriptor through corio; wait_closed waits for that. */
#define _GNU_SOURCE
#include "io/stream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#define DEFAULT_LIMIT (64 * 1024)
#define DEFAULT_HIGH (64 * 1024)
#define RECV_CHUNK (64 * 1024)

/* ---- read buffers: a connection waiting for its next bytes holds none ------
 * A stream's read buffer goes back to a small per-thread pool whenever it
 * is empty and the stream is about to wait for data, and comes from it when
 * the data is there: ten thousand idle connections hold no buffer, and the
 * busy ones reuse a few hot ones (a loop runs in one thread). The pool is
 * freed when the thread ends. */
#define POOL_MAX 16
static _Thread_local char *pool[POOL_MAX];
static _Thread_local int npool;
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_drain(void *unused) {
    (void)unused;
    while (npool) corio__free(pool[--npool]);
}
static void pool_init(void) { (void)pthread_key_create(&pool_key, pool_drain); }

static char *buf_take(void) {
    if (npool) return pool[--npool];
    pthread_once(&pool_once, pool_init);
    (void)pthread_setspecific(pool_key, pool); /* any non-NULL: the destructor runs at thread exit */
    return corio__malloc(RECV_CHUNK);
}

static void buf_give(corio_stream *s) {
    if (s->rcap == RECV_CHUNK && npool < POOL_MAX) pool[npool++] = s->rbuf;
    else corio__free(s->rbuf);
    s->rbuf = NULL;
    s->rcap = s->rhead = 0;
}

/* ---- life cycle ---------------------------------------------------------- */

int corio__stream_new(corio_loop *loop, int fd, corio_stream **out) {
    corio_stream *s = corio__calloc(1, sizeof *s);
    if (!s) return CORIO_ENOMEM;
    s->fd = fd;
    s->loop = loop;
    s->limit = DEFAULT_LIMIT;
    s->drained = 1; /* nothing came yet: the first read waits first, with no buffer */
    s->high = DEFAULT_HIGH;
    s->low = DEFAULT_HIGH / 4;
    int rc = corio_event_new(&s->writable);
    if (rc == 0) rc = corio_event_new(&s->closed_ev);
    if (rc < 0) {
        corio_event_free(s->writable);
        corio__free(s);
        return rc;
    }
    corio_event_set(s->writable);
    struct stat st;
    s->is_sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    /* Sockets only: a pipe's write raises SIGPIPE in whichever thread the
     * kernel does it, which corio__write guards and the ring cannot. */
    s->bg = s->is_sock && corio__backend_completes(loop);
    corio__loop_hold(loop);
    *out = s;
    return 0;
}

/* The descriptor goes (through corio: no registration outlives it). */
static void close_now(corio_stream *s) {
    if (s->fd < 0) return;
    if (s->ops) s->ops->closed(s);
    if (s->flushing) corio_loop_remove_writer(s->loop, s->fd);
    s->flushing = 0;
    corio_close_fd(s->fd);
    s->fd = -1;
    s->closing = 1;
    s->wlen = 0;
    s->olen = s->ohead = 0; /* close_fd awaited the send in flight: obuf is ours again */
    s->sending = 0;
    corio_event_set(s->writable); /* drainers see the end */
    corio_event_set(s->closed_ev);
    if (s->on_closed) s->on_closed(s);
}

int corio_stream_free(corio_stream *s) {
    if (!s) return 0;
    if (s->owner) return CORIO_EINVAL; /* a server's connection: the server frees it */
    /* Tasks inside a call on it: busy, unless the loop closed under them
     * (they were destroyed there and will never come back). */
    int gone = corio_loop_is_closed(s->loop);
    if (!gone && (s->reader || s->inside)) return CORIO_EBUSY;
    if (s->fd >= 0) close_now(s);
    if (corio_event_free(s->writable) < 0 || corio_event_free(s->closed_ev) < 0) return CORIO_EBUSY;
    if (s->ops) s->ops->free(s);
    if (s->rbuf) buf_give(s);
    corio__free(s->wbuf);
    corio__free(s->obuf);
    corio__loop_drop(s->loop);
    corio__free(s);
    return 0;
}

/* The server lets go of a connection's stream (the same, for its owner). */
int corio__stream_release(corio_stream *s) {
    s->owner = NULL;
    return corio_stream_free(s);
}

/* ---- reading ----------------------------------------------------------------- */

/* The unread bytes ("" while there is no buffer: never NULL + 0). */
static char *unread(corio_stream *s) { return s->rbuf ? s->rbuf + s->rhead : (char *)""; }

/* What the last call lent out by pointer is dropped now. */
static void drop_lent(corio_stream *s) {
    s->rhead += s->lent;
    s->rlen -= s->lent;
    s->lent = 0;
    /* Back to the start when empty, unless a task is receiving at the end
     * of the data now: it writes at rhead + rlen, which consuming keeps. */
    if (s->rlen == 0 && !s->reader) s->rhead = 0;
}

/* Room for `more` bytes after the unread ones (moved to the front). */
static int reserve(corio_stream *s, size_t more) {
    if (s->rhead && s->rhead + s->rlen + more > s->rcap) {
        memmove(s->rbuf, s->rbuf + s->rhead, s->rlen);
        s->rhead = 0;
    }
    if (more > SIZE_MAX / 4 - s->rlen) return CORIO_ENOMEM; /* no wrap below */
    if (s->rlen + more <= s->rcap) return 0;
    if (!s->rbuf && more <= RECV_CHUNK) {
        if (!(s->rbuf = buf_take())) return CORIO_ENOMEM;
        s->rcap = RECV_CHUNK;
        return 0;
    }
    size_t cap = s->rcap ? s->rcap : RECV_CHUNK;
    while (cap < s->rlen + more) cap *= 2;
    char *b = corio__realloc(s->rbuf, cap);
    if (!b) return CORIO_ENOMEM;
    s->rbuf = b;
    s->rcap = cap;
    return 0;
}

/* One receive into buf, waiting for bytes (wait 0: -EAGAIN instead). On a
 * readiness backend the wait is done here, not in the backend's
 * try-wait-retry: a writer callback of the same loop iteration may have
 * closed the stream between the wake-up and the retry, and a retry would
 * then receive on a closed number (-EBADF), or on one reused meanwhile. */
long corio__stream_recv(corio_stream *s, corio_loop *loop, void *buf, size_t n, int wait) {
    if (s->fd < 0) return CORIO_EFDCLOSED;
    if (wait && corio__backend_completes(loop))
        return s->is_sock ? corio__backend_recv(loop, s->fd, buf, n, 0) : corio__backend_read(loop, s->fd, buf, n);
    for (;;) {
        long r = s->is_sock ? corio__recv(s->fd, buf, n, 0) : corio__read(s->fd, buf, n);
        if ((r != -EAGAIN && r != -EWOULDBLOCK) || !wait) return r;
        int w = corio__backend_wait_fd(loop, s->fd, CORIO_READABLE);
        if (w < 0) return w;
        if (s->fd < 0) return CORIO_EFDCLOSED;
    }
}

/* Receive once more into the buffer: 1 if bytes came, 0 at EOF (now or
 * before), or the error (cancel included: nothing was consumed). One task
 * at a time waits; another gets CORIO_EBUSY. */
static int fill(corio_stream *s) {
    if (s->eof) return 0;
    if (s->rerr) return s->rerr;
    if (s->fd < 0) return CORIO_EFDCLOSED;
    if (s->reader) return CORIO_EBUSY;
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    s->reader = corio__running_task();
    long r = 0;
    /* After a short read the socket is most likely drained: wait for it
     * first instead of a recv that would say EAGAIN (one system call per
     * message fewer, as libuv does), and wait without a buffer if nothing
     * is buffered. Not where the backend completes operations: there the
     * recv itself waits, in the kernel. */
    if (s->drained && (!s->ops || s->ops->idle(s)) && !corio__backend_completes(loop)) {
        if (!s->rlen && !s->lent && s->rbuf) buf_give(s);
        r = corio__backend_wait_fd(loop, s->fd, CORIO_READABLE);
        if (r >= 0 && s->fd < 0) r = CORIO_EFDCLOSED; /* closed between the wake-up and now */
    }
    size_t room = 0;
    if (r >= 0 && (r = reserve(s, RECV_CHUNK)) == 0) {
        room = s->rcap - s->rhead - s->rlen;
        char *at = s->rbuf + s->rhead + s->rlen;
        r = s->ops ? s->ops->fill(s, loop, at, room, 1) : corio__stream_recv(s, loop, at, room, 1);
    }
    s->reader = NULL;
    s->drained = r >= 0 && (size_t)r < room;
    if (r > 0) {
        s->rlen += (size_t)r;
        return 1;
    }
    if (r == 0) {
        s->eof = 1;
        return 0;
    }
    /* The connection's error stays; a local one (no memory, a full ring)
     * may pass, and the next read tries again. */
    if (r != CORIO_ECANCELED && r != CORIO_EBUSY && r != CORIO_ENOMEM && r != -ENOBUFS)
        s->rerr = (int)r;
    return (int)r;
}

/* Take what has arrived, without waiting: a read that the buffer cannot
 * satisfy answers from everything the peer has sent so far, as asyncio's
 * reader, whose transport moves bytes into its buffer as they come. Only
 * when some bytes are buffered already (an empty buffer goes the waiting
 * way, whose first recv takes the same bytes). */
static void fill_available(corio_stream *s) {
    if (s->eof || s->rerr || s->fd < 0 || s->reader || reserve(s, RECV_CHUNK) < 0) return;
    char *at = s->rbuf + s->rhead + s->rlen;
    size_t room = s->rcap - s->rhead - s->rlen;
    long r = s->ops ? s->ops->fill(s, s->loop, at, room, 0)
             : s->is_sock ? corio__recv(s->fd, at, room, 0) : corio__read(s->fd, at, room);
    if (r > 0) s->rlen += (size_t)r;
    else if (r == 0) s->eof = 1;
    else if (r != -EAGAIN && r != -EWOULDBLOCK) s->rerr = (int)r;
}

/* Every read starts here: drop what was lent; refuse a closed stream. */
static int read_begin(corio_stream *s) {
    if (!s) return CORIO_EINVAL;
    drop_lent(s);
    return 0;
}

int corio_stream_read(corio_stream *s, void *buf, size_t n, size_t *got) {
    if (got) *got = 0;
    if (!got || (!buf && n)) return CORIO_EINVAL;
    int rc = read_begin(s);
    if (rc < 0 || n == 0) return rc;
    if (s->rlen && s->rlen < n) fill_available(s);
    while (s->rlen == 0) {
        rc = fill(s);
        if (rc <= 0) return rc; /* 0: EOF, *got stays 0 */
    }
    size_t k = n < s->rlen ? n : s->rlen;
    memcpy(buf, unread(s), k);
    s->rhead += k;
    s->rlen -= k;
    *got = k;
    return 0;
}

int corio_stream_read_lent(corio_stream *s, size_t n, const void **data, size_t *len) {
    if (data) *data = NULL;
    if (len) *len = 0;
    if (!data || !len) return CORIO_EINVAL;
    int rc = read_begin(s);
    if (rc < 0 || n == 0) return rc;
    if (s->rlen && s->rlen < n) fill_available(s);
    while (s->rlen == 0) {
        rc = fill(s);
        if (rc <= 0) return rc; /* 0: EOF, *len stays 0 */
    }
    *data = unread(s);
    *len = s->lent = n < s->rlen ? n : s->rlen;
    return 0;
}

int corio_stream_read_all(corio_stream *s, const void **data, size_t *len) {
    if (data) *data = NULL;
    if (len) *len = 0;
    if (!data || !len) return CORIO_EINVAL;
    int rc = read_begin(s);
    if (rc < 0) return rc;
    while ((rc = fill(s)) > 0) {}
    if (rc < 0) return rc; /* the bytes so far stay buffered */
    *data = unread(s);
    *len = s->lent = s->rlen;
    return 0;
}

int corio_stream_readexactly(corio_stream *s, void *buf, size_t n, size_t *got) {
    if (got) *got = 0;
    if (!buf && n) return CORIO_EINVAL;
    int rc = read_begin(s);
    if (rc < 0) return rc;
    if (s->rlen && s->rlen < n) fill_available(s);
    while (s->rlen < n && (rc = fill(s)) > 0) {}
    if (rc < 0) return rc;
    size_t k = n < s->rlen ? n : s->rlen; /* all, or the partial bytes at EOF */
    memcpy(buf, unread(s), k);
    s->rhead += k;
    s->rlen -= k;
    if (got) *got = k;
    return k == n ? 0 : CORIO_EINCOMPLETE;
}

/* asyncio's readuntil (3.13, several separators): search from where the
 * last look stopped; the match whose end comes first wins (on a tie, the
 * shorter separator). *at: where the
 * winning separator starts and *end where it ends; for CORIO_ELIMIT *at is
 * asyncio's `consumed`. */
static int find_sep(corio_stream *s, const void *const *seps, const size_t *lens, size_t nseps,
                    size_t *at, size_t *end) {
    size_t from = 0, minlen = SIZE_MAX, maxlen = 0;
    for (size_t k = 0; k < nseps; k++) {
        if (lens[k] < minlen) minlen = lens[k];
        if (lens[k] > maxlen) maxlen = lens[k];
    }
    if (s->rlen) fill_available(s);
    for (;;) {
        if (s->rlen - from >= minlen) {
            size_t best_end = SIZE_MAX, best_at = 0;
            for (size_t k = 0; k < nseps; k++) {
                if (s->rlen - from < lens[k]) continue;
                const char *p = memmem(unread(s) + from, s->rlen - from, seps[k], lens[k]);
                if (!p) continue;
                size_t a = (size_t)(p - unread(s));
                /* On a tie the shorter separator wins (asyncio sorts them by length). */
                if (a + lens[k] < best_end || (a + lens[k] == best_end && a > best_at))
                    best_end = a + lens[k], best_at = a;
            }
            if (best_end != SIZE_MAX) {
                *at = best_at;
                *end = best_end;
                return best_at > s->limit ? CORIO_ELIMIT : 0; /* found, but past the limit */
            }
            from = s->rlen + 1 > maxlen ? s->rlen + 1 - maxlen : 0;
            if (from > s->limit) {
                *at = from;
                return CORIO_ELIMIT;
            }
        }
        int rc = fill(s);
        if (rc < 0) return rc;
        if (rc == 0) return CORIO_EINCOMPLETE;
    }
}

int corio_stream_readuntil_any(corio_stream *s, const void *const *seps, const size_t *seplens,
                               size_t nseps, const void **data, size_t *len) {
    if (data) *data = NULL;
    if (len) *len = 0;
    if (!seps || !seplens || !nseps || !data || !len) return CORIO_EINVAL;
    for (size_t k = 0; k < nseps; k++)
        if (!seps[k] || !seplens[k]) return CORIO_EINVAL;
    int rc = read_begin(s);
    if (rc < 0) return rc;
    size_t at = 0, end = 0;
    rc = find_sep(s, seps, seplens, nseps, &at, &end);
    if (rc == CORIO_EINCOMPLETE) { /* the partial data, consumed (IncompleteReadError) */
        *data = unread(s);
        *len = s->lent = s->rlen;
        return rc;
    }
    if (rc == CORIO_ELIMIT) { /* the data stays; *len: asyncio's `consumed` */
        *len = at;
        return rc;
    }
    if (rc < 0) return rc;
    *data = unread(s);
    *len = s->lent = end;
    return 0;
}

int corio_stream_readuntil(corio_stream *s, const void *sep, size_t seplen, const void **data,
                           size_t *len) {
    const void *const seps[1] = {sep};
    return corio_stream_readuntil_any(s, seps, &seplen, 1, data, len);
}

int corio_stream_readline(corio_stream *s, const void **data, size_t *len) {
    int rc = corio_stream_readuntil(s, "\n", 1, data, len);
    if (rc == CORIO_EINCOMPLETE) return 0; /* at EOF: the partial line, no error */
    if (rc == CORIO_ELIMIT) {
        /* The overlong line goes: through its newline if that is where
         * the search stopped, else all that is buffered (asyncio's). */
        size_t at = *len;
        if (at < s->rlen && unread(s)[at] == '\n') at++;
        else at = s->rlen;
        s->rhead += at;
        s->rlen -= at;
        *len = 0;
    }
    return rc;
}

int corio_stream_at_eof(const corio_stream *s) { return s && s->eof && s->rlen == s->lent; }

int corio_stream_set_limit(corio_stream *s, size_t limit) {
    if (!s || limit == 0) return CORIO_EINVAL;
    s->limit = limit;
    return 0;
}

/* ---- writing ------------------------------------------------------------------- */

static void flush_cb(void *arg);

/* Send what the socket takes now, without waiting: 0, or the connection's
 * error (then the buffer is dropped and the stream closes). */
static int flush_some(corio_stream *s) {
    while (s->wlen) {
        long r = s->is_sock ? corio__send(s->fd, s->wbuf + s->whead, s->wlen, 0)
                            : corio__write(s->fd, s->wbuf + s->whead, s->wlen);
        if (r == -EAGAIN || r == -EWOULDBLOCK) break;
        if (r < 0) {
            s->werr = (int)r;
            close_now(s);
            return (int)r;
        }
        s->whead += (size_t)r;
        s->wlen -= (size_t)r;
    }
    if (!s->wlen) s->whead = 0;
    return 0;
}

/* Bytes written and not yet sent. */
static size_t pending(const corio_stream *s) { return s->wlen + (s->olen - s->ohead); }

static int send_next(corio_stream *s);
static void after_flush(corio_stream *s);

/* A background send completed (an event of the loop, never inside the
 * backend's poll): what it took is gone; the rest, or what was written
 * meanwhile, goes next. */
static void sent_cb(void *arg, long res) {
    corio_stream *s = arg;
    s->sending = 0;
    if (res < 0) {
        s->werr = (int)res;
        close_now(s);
        return;
    }
    s->ohead += (size_t)res;
    after_flush(s);
}

/* Background sends: the rest of obuf, else what wbuf gathered (the two
 * buffers swap: write appends to wbuf while obuf is in the kernel). 1 if
 * the stream was closed (and may be freed: a server's connection whose
 * handler is done goes with its descriptor): touch it no more. */
static int send_next(corio_stream *s) {
    if (s->sending || s->fd < 0) return 0;
    if (s->ohead == s->olen) {
        if (!s->wlen) return 0;
        char *b = s->obuf;
        size_t cap = s->ocap;
        s->obuf = s->wbuf, s->ocap = s->wcap;
        s->ohead = s->whead, s->olen = s->whead + s->wlen;
        s->wbuf = b, s->wcap = cap;
        s->whead = s->wlen = 0;
    }
    int rc = corio__backend_send_bg(s->loop, s->fd, s->obuf + s->ohead, s->olen - s->ohead, sent_cb, s);
    if (rc < 0) {
        s->werr = rc;
        close_now(s);
        return 1;
    }
    s->sending = 1;
    return 0;
}

/* After a flush: wake drainers below the low mark; stop or start the
 * background writer (or send); finish a close or a write_eof once empty. */
static void after_flush(corio_stream *s) {
    if (s->fd < 0) return;
    if (pending(s) <= s->low) corio_event_set(s->writable);
    if (s->bg) {
        if (send_next(s)) return; /* the send could not be queued: closed, maybe freed */
    } else if (s->wlen && !s->flushing) {
        if (corio_loop_add_writer(s->loop, s->fd, flush_cb, s) == 0) s->flushing = 1;
        else close_now(s); /* no way to flush in the background */
        return;
    }
    if (!s->wlen && s->flushing) {
        corio_loop_remove_writer(s->loop, s->fd);
        s->flushing = 0;
    }
    if (!pending(s) && s->eof_pending && !s->eof_sent) {
        if (s->is_sock) shutdown(s->fd, SHUT_WR);
        s->eof_sent = 1; /* (a pipe has no half-close: can_write_eof says so) */
    }
    if (!pending(s) && s->closing) close_now(s);
}

static void flush_cb(void *arg) {
    corio_stream *s = arg;
    if (flush_some(s) == 0) after_flush(s);
}

/* A read error that says the connection is gone both ways. */
static int broken(int err) {
    return err == -ECONNRESET || err == -EPIPE || err == -ENOTCONN || err == -ETIMEDOUT ||
           err == -ECONNABORTED || err == -EHOSTUNREACH || err == -ENETUNREACH;
}

/* Append to wbuf (after what is there), without sending. */
static int wbuf_append(corio_stream *s, const void *buf, size_t n) {
    if (n > SIZE_MAX / 4 - s->whead - s->wlen) return CORIO_ENOMEM; /* no wrap below */
    size_t need = s->whead + s->wlen + n;
    if (need > s->wcap) {
        if (s->whead) {
            memmove(s->wbuf, s->wbuf + s->whead, s->wlen);
            s->whead = 0;
            need = s->wlen + n;
        }
        if (need > s->wcap) {
            size_t cap = s->wcap ? s->wcap : RECV_CHUNK;
            while (cap < need) cap *= 2;
            char *b = corio__realloc(s->wbuf, cap);
            if (!b) return CORIO_ENOMEM;
            s->wbuf = b;
            s->wcap = cap;
        }
    }
    memcpy(s->wbuf + s->whead + s->wlen, buf, n);
    s->wlen += n;
    if (pending(s) > s->high) corio_event_clear(s->writable);
    return 0;
}

static int raw_write(corio_stream *s, const void *buf, size_t n);

int corio_stream_write(corio_stream *s, const void *buf, size_t n) {
    if (!s || (!buf && n)) return CORIO_EINVAL;
    if (s->werr) return s->werr;
    if (s->closing || s->fd < 0 || s->eof_pending) return CORIO_EFDCLOSED;
    if (n == 0) return 0;
    if (s->ops) return s->ops->write(s, buf, n);
    return raw_write(s, buf, n);
}

int corio__stream_raw_write(corio_stream *s, const void *buf, size_t n) {
    if (s->werr) return s->werr;
    if (s->fd < 0) return CORIO_EFDCLOSED;
    return n ? raw_write(s, buf, n) : 0;
}

int corio__stream_raw_queue(corio_stream *s, const void *buf, size_t n) {
    if (s->werr) return s->werr;
    if (s->fd < 0) return CORIO_EFDCLOSED;
    return wbuf_append(s, buf, n);
}

static int raw_write(corio_stream *s, const void *buf, size_t n) {
    if (s->bg && broken(s->rerr)) { /* as a send would find it at once */
        int e = s->werr = s->rerr;
        close_now(s); /* (a server's connection may be freed here) */
        return e;
    }
    size_t off = 0;
    if (!s->wlen && !s->bg) { /* nothing queued: straight to the socket */
        long r = s->is_sock ? corio__send(s->fd, buf, n, 0) : corio__write(s->fd, buf, n);
        if (r < 0 && r != -EAGAIN && r != -EWOULDBLOCK) {
            s->werr = (int)r;
            close_now(s);
            return (int)r;
        }
        off = r > 0 ? (size_t)r : 0;
    }
    if (off < n) {
        int rc = wbuf_append(s, (const char *)buf + off, n - off);
        if (rc < 0) return rc;
    }
    after_flush(s);
    return 0;
}

int corio_stream_writelines(corio_stream *s, const void *const *bufs, const size_t *lens, size_t n) {
    if (!s || (n && (!bufs || !lens))) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = corio_stream_write(s, bufs[i], lens[i]);
        if (rc < 0) return rc;
    }
    return 0;
}

int corio_stream_drain(corio_stream *s) {
    if (!s) return CORIO_EINVAL;
    if (!corio__running_task()) return CORIO_ENOTINTASK;
    s->inside++;
    int rc = 0;
    while (rc == 0 && !s->werr && s->fd >= 0 && pending(s) > s->low && !corio_event_is_set(s->writable))
        rc = corio_event_wait(s->writable);
    s->inside--;
    if (rc < 0) return rc;
    return s->werr ? s->werr : 0;
}

int corio_stream_can_write_eof(const corio_stream *s) { return s && s->fd >= 0 && s->is_sock && !s->ops; }

int corio_stream_write_eof(corio_stream *s) {
    if (!s) return CORIO_EINVAL;
    if (s->ops) /* asyncio's SSL transport raises NotImplementedError */
        return corio_raise(-EOPNOTSUPP, "write_eof: TLS has no half-close (close sends close_notify)");
    if (s->werr) return s->werr;
    if (s->fd < 0 || s->closing) return CORIO_EFDCLOSED;
    s->eof_pending = 1;
    after_flush(s);
    return 0;
}

int corio_stream_set_write_buffer_limits(corio_stream *s, size_t high, size_t low) {
    if (!s || low > high) return CORIO_EINVAL;
    s->high = high;
    s->low = low;
    return 0;
}

size_t corio_stream_write_buffer_size(const corio_stream *s) { return s ? pending(s) : 0; }

/* ---- closing ---------------------------------------------------------------- */

int corio_stream_close(corio_stream *s) {
    if (!s) return CORIO_EINVAL;
    if (s->fd < 0 || s->closing) return 0;
    if (s->ops) s->ops->close(s);
    s->closing = 1;
    after_flush(s); /* closes now if nothing is buffered */
    return 0;
}

int corio_stream_abort(corio_stream *s) {
    if (!s) return CORIO_EINVAL;
    close_now(s);
    return 0;
}

int corio_stream_is_closing(const corio_stream *s) { return s && (s->closing || s->fd < 0); }

int corio_stream_wait_closed(corio_stream *s) {
    if (!s) return CORIO_EINVAL;
    if (!corio__running_task()) return CORIO_ENOTINTASK;
    s->inside++;
    int rc = corio_event_wait(s->closed_ev);
    s->inside--;
    if (rc < 0) return rc;
    return s->werr ? s->werr : 0;
}

/* ---- what the stream is ------------------------------------------------------ */

int corio_stream_fd(const corio_stream *s) { return s ? s->fd : CORIO_EINVAL; }

int corio_stream_peername(const corio_stream *s, struct sockaddr *addr, unsigned int *len) {
    if (!s || !addr || !len) return CORIO_EINVAL;
    if (s->fd < 0) return CORIO_EFDCLOSED;
    return getpeername(s->fd, addr, len) ? -errno : 0;
}

int corio_stream_sockname(const corio_stream *s, struct sockaddr *addr, unsigned int *len) {
    if (!s || !addr || !len) return CORIO_EINVAL;
    if (s->fd < 0) return CORIO_EFDCLOSED;
    return getsockname(s->fd, addr, len) ? -errno : 0;
}

/* ---- opening ------------------------------------------------------------------- */

int corio__sockaddr_parse(const char *host, int port, struct sockaddr_storage *ss,
                          unsigned int *len) {
    if (!host || port < 0 || port > 65535) return CORIO_EINVAL;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (void *)ss;
    struct sockaddr_in6 *a6 = (void *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
        return 0;
    }
    const char *h = host;
    char buf[INET6_ADDRSTRLEN + 2];
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof buf) {
        memcpy(buf, host + 1, hl - 2);
        buf[hl - 2] = 0;
        h = buf;
    }
    if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return 0;
    }
    return corio_raise(CORIO_EINVAL, "%s: not a numeric address (names: getaddrinfo)", host);
}

int corio__unix_addr(const char *path, struct sockaddr_un *un, unsigned int *len) {
    if (!path) return CORIO_EINVAL;
    size_t n = strlen(path);
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    if (path[0] == '@') { /* abstract: no file, the name after the @ */
        if (n > sizeof un->sun_path) return corio_raise(CORIO_EINVAL, "%s: name too long", path);
        memcpy(un->sun_path + 1, path + 1, n - 1);
        *len = (unsigned int)(offsetof(struct sockaddr_un, sun_path) + n);
        return 0;
    }
    if (n == 0 || n >= sizeof un->sun_path) return corio_raise(CORIO_EINVAL, "%s: path too long", path);
    memcpy(un->sun_path, path, n);
    *len = (unsigned int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/* A connected stream over a new socket; closed again on any failure. */
static int connect_to(int domain, const struct sockaddr *addr, unsigned int len,
                      corio_stream **out) {
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    int fd;
    if ((rc = corio_socket(domain, SOCK_STREAM, 0, &fd)) < 0) return rc;
    if ((rc = corio_sock_connect(fd, addr, len)) == 0 && domain != AF_UNIX) {
        int one = 1; /* as asyncio: small writes go out at once */
        rc = corio__setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (rc == 0) rc = corio__stream_new(loop, fd, out);
    if (rc < 0) corio_close_fd(fd);
    return rc;
}

int corio_stream_from_fd(int fd, corio_stream **out) {
    if (out) *out = NULL;
    if (!out || fd < 0) return CORIO_EINVAL;
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    /* Non-blocking, as asyncio makes a socket or pipe it is given: a
     * blocking one would stop the whole loop in write(2). */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) return -errno;
    return corio__stream_new(loop, fd, out);
}

int corio_open_connection(const char *host, int port, corio_stream **out) {
    return corio_open_connection_with(host, port, NULL, out);
}

/* The name's addresses are tried by names.c (in turn, or raced). */
int corio_open_connection_with(const char *host, int port, const corio_connect_options *opts,
                               corio_stream **out) {
    if (out) *out = NULL;
    if (!out) return CORIO_EINVAL;
    int fd, rc = corio__open_tcp(host, port, opts, &fd); /* in a task: its loop runs */
    if (rc < 0) return rc;
    if ((rc = corio__stream_new(corio__running_loop, fd, out)) < 0) corio_close_fd(fd);
    return rc;
}

int corio_open_unix_connection(const char *path, corio_stream **out) {
    if (out) *out = NULL;
    if (!out) return CORIO_EINVAL;
    struct sockaddr_un un;
    unsigned int len = 0;
    int rc = corio__unix_addr(path, &un, &len);
    if (rc < 0) return rc;
    return connect_to(AF_UNIX, (struct sockaddr *)&un, len, out);
}
