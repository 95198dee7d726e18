/* libcurl inside corio tasks (io.md 9), on the public corio.h alone: the
 * multi-socket API driven by the loop. curl says which sockets to watch
 * (socket callback -> corio_loop_add_reader/add_writer) and when to call
 * it back (timer callback -> corio_call_later); the loop's callbacks call
 * curl_multi_socket_action and then collect finished transfers, whose
 * tasks wait on a future each. libcurl is never called from inside one of
 * its own callbacks (curl_multi_assign aside, which curl allows there):
 * even a zero timeout goes through a loop callback. */
#define _GNU_SOURCE
#include "corio_curl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A transfer in progress: heap, not the task's stack (a copy-mode task's
 * stack is someone else's while it waits). */
typedef struct xfer {
    struct xfer *hnext;            /* the next in its bucket of the owner's table */
    CURL *easy;                    /* borrowed from the performing task */
    corio_future *done;            /* owned: completed when curl is done with easy */
    CURLcode result;               /* curl's outcome, once finished */
    int finished;                  /* out of the multi (curl finished it) */
    void (*drop)(void *);          /* frees what the transfer owns (corio_http_*), or NULL */
    void *drop_arg;                /* owned through drop */
    char errbuf[CURL_ERROR_SIZE];  /* curl's detailed message (CURLOPT_ERRORBUFFER) */
} xfer;

/* A socket curl asked the loop to watch (curl_multi_assign'ed to it). */
typedef struct csock {
    struct csock *prev, *next; /* in the owner's list of sockets */
    corio_curl *c;             /* borrowed: the owner */
    curl_socket_t fd;          /* immutable */
    int in, out;               /* a reader / writer callback is registered */
} csock;

struct corio_curl {
    corio_loop *loop;  /* borrowed: the loop this multi handle is bound to */
    CURLM *multi;      /* owned */
    corio_handle *timer; /* owned: curl's pending timeout, or NULL */
    xfer **table;      /* owned: transfers in the multi by easy handle, chained */
    size_t nbuckets;   /* a power of two (0 before the first transfer) */
    csock socks;       /* list head: watched sockets */
    size_t n;          /* transfers in the multi */
    int freeing;       /* inside corio_curl_free: curl's callbacks change nothing */
};

/* ---- sockets: every descriptor curl opens is corio's to close ------------- */

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
    (void)clientp, (void)purpose;
    /* curl makes it non-blocking itself; close-on-exec is ours to add. */
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* clientp: the corio_curl the connection was opened for, while it is in
 * a transfer of ours (NULL afterwards: then nothing of ours watches it). */
static int close_socket(void *clientp, curl_socket_t fd) {
    corio_curl *c = clientp;
    /* corio_close_fd drops the loop's callbacks on fd: note it, so that a
     * later CURL_POLL_* on a reused number registers them again. */
    for (csock *k = c ? c->socks.next : NULL; k && k != &c->socks; k = k->next)
        if (k->fd == fd) k->in = k->out = 0;
    return corio_close_fd(fd) < 0 ? 1 : 0;
}

/* ---- the transfers in the multi, by easy handle: a chained hash table ----- */

static xfer **bucket(const corio_curl *c, const CURL *easy) {
    uint64_t h = (uint64_t)(uintptr_t)easy * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
    return &c->table[(size_t)(h >> 32) & (c->nbuckets - 1)];
}

static xfer *xfer_find(const corio_curl *c, const CURL *easy) {
    xfer *x = c->nbuckets ? *bucket(c, easy) : NULL;
    while (x && x->easy != easy) x = x->hnext;
    return x;
}

/* Room for one more (the table doubles at one transfer per bucket). */
static int xfer_reserve(corio_curl *c) {
    if (c->n < c->nbuckets) return 0;
    size_t nb = c->nbuckets ? c->nbuckets * 2 : 64;
    xfer **old = c->table, **t = calloc(nb, sizeof *t);
    if (!t) return CORIO_ENOMEM;
    size_t ob = c->nbuckets;
    c->table = t;
    c->nbuckets = nb;
    for (size_t i = 0; i < ob; i++)
        for (xfer *x = old[i], *next; x; x = next) {
            next = x->hnext;
            xfer **b = bucket(c, x->easy);
            x->hnext = *b;
            *b = x;
        }
    free(old);
    return 0;
}

static void xfer_insert(corio_curl *c, xfer *x) {
    xfer **b = bucket(c, x->easy);
    x->hnext = *b;
    *b = x;
    c->n++;
}

static void xfer_remove(corio_curl *c, xfer *x) {
    xfer **p = bucket(c, x->easy);
    while (*p != x) p = &(*p)->hnext;
    *p = x->hnext;
    c->n--;
}

/* curl is done with some transfers: take them out and wake their tasks. */
static void collect(corio_curl *c) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle; /* msg dies with remove_handle */
        CURLcode result = msg->data.result;
        xfer *x = xfer_find(c, easy);
        curl_multi_remove_handle(c->multi, easy);
        if (!x) continue; /* not ours: cannot happen */
        xfer_remove(c, x);
        x->finished = 1;
        x->result = result;
        (void)corio_future_set_result(x->done, NULL); /* cancelled already: fine */
    }
}

static void act(corio_curl *c, curl_socket_t fd, int ev) {
    int running;
    (void)curl_multi_socket_action(c->multi, fd, ev, &running);
    collect(c);
}

/* The loop's callbacks. k may be freed inside socket_action (curl said
 * CURL_POLL_REMOVE): read it first. */
static void on_readable(void *arg) {
    csock *k = arg;
    act(k->c, k->fd, CURL_CSELECT_IN);
}

static void on_writable(void *arg) {
    csock *k = arg;
    act(k->c, k->fd, CURL_CSELECT_OUT);
}

static void on_timeout(void *arg) {
    corio_curl *c = arg;
    corio_handle_unref(c->timer); /* it ran; curl may ask for the next one now */
    c->timer = NULL;
    act(c, CURL_SOCKET_TIMEOUT, 0);
}

static void sock_forget(corio_curl *c, csock *k) {
    if (k->in) (void)corio_loop_remove_reader(c->loop, k->fd);
    if (k->out) (void)corio_loop_remove_writer(c->loop, k->fd);
    k->prev->next = k->next;
    k->next->prev = k->prev;
    free(k);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl says. */
static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    corio_curl *c = userp;
    csock *k = socketp;
    if (what == CURL_POLL_REMOVE) {
        /* fd may be closed already (close_socket forgot its callbacks). */
        if (k) {
            (void)curl_multi_assign(c->multi, fd, NULL);
            sock_forget(c, k);
        }
        return 0;
    }
    if (c->freeing) return 0;
    if (!k) {
        if (!(k = calloc(1, sizeof *k))) return -1;
        k->c = c;
        k->fd = fd;
        k->next = c->socks.next;
        k->prev = &c->socks;
        k->next->prev = k;
        c->socks.next = k;
        (void)curl_multi_assign(c->multi, fd, k);
    }
    int in = what == CURL_POLL_IN || what == CURL_POLL_INOUT;
    int out = what == CURL_POLL_OUT || what == CURL_POLL_INOUT;
    if (in && !k->in && corio_loop_add_reader(c->loop, fd, on_readable, k) < 0) return -1;
    if (!in && k->in) (void)corio_loop_remove_reader(c->loop, fd);
    k->in = in;
    if (out && !k->out && corio_loop_add_writer(c->loop, fd, on_writable, k) < 0) return -1;
    if (!out && k->out) (void)corio_loop_remove_writer(c->loop, fd);
    k->out = out;
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: one loop timer, replaced each time; a timeout
 * of 0 too goes through the loop (curl must not be re-entered here). */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    corio_curl *c = userp;
    if (c->timer) {
        (void)corio_handle_cancel(c->timer);
        corio_handle_unref(c->timer);
        c->timer = NULL;
    }
    if (timeout_ms < 0 || c->freeing) return 0;
    return corio_call_later(c->loop, (double)timeout_ms / 1000.0, on_timeout, c, &c->timer) < 0
               ? -1
               : 0;
}

/* ---- the multi handle -------------------------------------------------------- */

int corio_curl_new(corio_curl **out) {
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    corio_loop *loop = corio_get_running_loop();
    if (!loop || !corio_current_task()) return CORIO_ENOTINTASK;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return corio_raise(CORIO_ECURL, "curl_global_init failed");
    corio_curl *c = calloc(1, sizeof *c);
    if (!c || !(c->multi = curl_multi_init())) {
        free(c);
        curl_global_cleanup();
        return corio_raise(CORIO_ENOMEM, "curl_multi_init: out of memory");
    }
    c->loop = loop;
    c->socks.prev = c->socks.next = &c->socks;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    *out = c;
    return 0;
}

static void easy_release(CURL *easy);

/* The loop closed under transfers in flight: their tasks were destroyed
 * where they waited and will never take them out. */
static void drop_orphans(corio_curl *c) {
    for (size_t i = 0; i < c->nbuckets; i++)
        for (xfer *x = c->table[i], *next; x; x = next) {
            next = x->hnext;
            curl_multi_remove_handle(c->multi, x->easy);
            easy_release(x->easy);
            if (x->drop) x->drop(x->drop_arg);
            corio_future_unref(x->done);
            free(x);
        }
    c->n = 0;
}

int corio_curl_free(corio_curl *c) {
    if (!c) return 0;
    if (c->n && !corio_loop_is_closed(c->loop))
        return corio_raise(CORIO_EBUSY, "corio_curl_free: %zu transfers still run", c->n);
    c->freeing = 1; /* curl's callbacks from here on change nothing of the loop's */
    drop_orphans(c);
    curl_multi_cleanup(c->multi); /* closes the cached connections: close_socket */
    while (c->socks.next != &c->socks) sock_forget(c, c->socks.next);
    if (c->timer) {
        (void)corio_handle_cancel(c->timer);
        corio_handle_unref(c->timer);
    }
    free(c->table);
    free(c);
    curl_global_cleanup();
    return 0;
}

CURLM *corio_curl_multi(corio_curl *c) {
    return c ? c->multi : NULL;
}

size_t corio_curl_transfers(const corio_curl *c) {
    return c ? c->n : 0;
}

/* ---- a task's transfer ------------------------------------------------------- */

static const char *easy_url(CURL *easy) {
    char *url = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || !url) return "?";
    return url;
}

/* curl's outcome as a corio code, with a message naming the URL. */
static int curl_failed(CURL *easy, CURLcode rc, const char *detail) {
    if (rc == CURLE_OK) return 0;
    if (rc == CURLE_OUT_OF_MEMORY) return corio_raise(CORIO_ENOMEM, "%s: out of memory", easy_url(easy));
    if (detail && *detail && strcmp(detail, curl_easy_strerror(rc)) != 0)
        return corio_raise(CORIO_ECURL, "%s: %s (%s)", easy_url(easy), curl_easy_strerror(rc), detail);
    return corio_raise(CORIO_ECURL, "%s: %s", easy_url(easy), curl_easy_strerror(rc));
}

/* The options every easy handle of the adapter carries (see the header). */
static CURLcode easy_prepare(corio_curl *c, CURL *easy, xfer *x) {
    CURLcode rc;
    if ((rc = curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket)) ||
        (rc = curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, NULL)) ||
        (rc = curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket)) ||
        (rc = curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, c)) ||
        (rc = curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, x->errbuf)))
        return rc;
    return CURLE_OK;
}

/* The easy handle back to the caller: nothing of this transfer's in it. */
static void easy_release(CURL *easy) {
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, NULL);
}

/* drop(drop_arg): what only the transfer's task would free, for
 * corio_curl_free if the loop closes while it waits. */
static int perform(corio_curl *c, CURL *easy, void (*drop)(void *), void *drop_arg) {
    if (!c || !easy) return CORIO_EINVAL;
    corio_loop *loop = corio_get_running_loop();
    if (!loop || !corio_current_task()) return CORIO_ENOTINTASK;
    if (loop != c->loop)
        return corio_raise(CORIO_EWRONGLOOP, "corio_curl_perform: the multi handle is another loop's");
    if (xfer_find(c, easy))
        return corio_raise(CORIO_EBUSY, "%s: the easy handle is in a transfer already", easy_url(easy));
    xfer *x = xfer_reserve(c) < 0 ? NULL : calloc(1, sizeof *x);
    if (!x) return CORIO_ENOMEM;
    int rc = corio_future_new(loop, &x->done);
    if (rc < 0) {
        free(x);
        return rc;
    }
    x->easy = easy;
    x->drop = drop;
    x->drop_arg = drop_arg;
    /* Into the multi first: an easy handle in a transfer elsewhere (another
     * corio_curl's) is refused before any of its options is touched. Its
     * transfer starts only when the loop next drives curl. */
    CURLMcode mc = curl_multi_add_handle(c->multi, easy);
    CURLcode cc = mc ? CURLE_OK : easy_prepare(c, easy, x);
    if (cc || mc) {
        if (!mc) {
            curl_multi_remove_handle(c->multi, easy);
            easy_release(easy);
        }
        corio_future_unref(x->done);
        free(x);
        if (cc) return curl_failed(easy, cc, NULL);
        return corio_raise(mc == CURLM_ADDED_ALREADY ? CORIO_EBUSY : CORIO_ECURL, "%s: %s",
                           easy_url(easy), curl_multi_strerror(mc));
    }
    xfer_insert(c, x);
    rc = corio_await(x->done, NULL);
    if (!x->finished) {
        /* Cancelled (or a timeout scope fired): out of the multi at once;
         * curl closes a connection cut mid-transfer (close_socket). */
        xfer_remove(c, x);
        curl_multi_remove_handle(c->multi, easy);
    }
    if (rc == 0) rc = curl_failed(easy, x->result, x->errbuf);
    easy_release(easy);
    corio_future_unref(x->done);
    free(x);
    return rc;
}

int corio_curl_perform(corio_curl *c, CURL *easy) {
    return perform(c, easy, NULL, NULL);
}

/* ---- convenience: a whole response in memory --------------------------------- */

typedef struct buf {
    char *p;     /* owned; NUL-terminated while not NULL */
    size_t len, cap;
    int nomem;   /* growing failed: the transfer was stopped */
} buf;

static int buf_add(buf *b, const char *data, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return b->nomem = 1, -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
    return buf_add(arg, data, size * n) < 0 ? 0 : size * n;
}

/* Each response of a redirect chain starts again: keep the last one's. */
static size_t on_header(char *data, size_t size, size_t n, void *arg) {
    buf *b = arg;
    if (size * n >= 5 && memcmp(data, "HTTP/", 5) == 0) b->len = 0;
    return buf_add(b, data, size * n) < 0 ? 0 : size * n;
}

static int own(buf *b, char **p, size_t *len) {
    if (!b->p && buf_add(b, "", 0) < 0) return CORIO_ENOMEM;
    *p = b->p;
    *len = b->len;
    b->p = NULL;
    return 0;
}

/* What curl's callbacks write to: on the heap, since they run on the loop
 * while the task is suspended (a copy-mode task's stack is not there). */
typedef struct bufs {
    buf b, h;                  /* body, headers */
    CURL *easy;                /* owned */
    struct curl_slist *hdrs;   /* owned: the request's extra headers */
} bufs;

static void bufs_free(void *arg) {
    bufs *bb = arg;
    free(bb->b.p);
    free(bb->h.p);
    curl_slist_free_all(bb->hdrs);
    curl_easy_cleanup(bb->easy);
    free(bb);
}

static int http(corio_curl *c, const char *url, const void *body, size_t len, int post,
                const char *content_type, corio_http_response *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!c || !url || !out || (post && !body && len)) return CORIO_EINVAL;
    bufs *bb = calloc(1, sizeof *bb);
    CURL *easy = bb ? curl_easy_init() : NULL;
    if (!easy) {
        free(bb);
        return corio_raise(CORIO_ENOMEM, "%s: curl_easy_init: out of memory", url);
    }
    buf *const b = &bb->b, *const h = &bb->h;
    struct curl_slist *more;
    bb->easy = easy;
    char ct[256];
    int rc = 0;
    /* aiohttp's defaults: redirects followed (10 at most), no signals. */
    if (curl_easy_setopt(easy, CURLOPT_URL, url) || curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) ||
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L) ||
        curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L) ||
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body) ||
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, b) ||
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header) ||
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, h))
        rc = corio_raise(CORIO_ENOMEM, "%s: curl_easy_setopt: out of memory", url);
    if (!rc && post) {
        /* Copied: the caller's bytes may live on a stack that moves. No
         * "Expect: 100-continue" wait (aiohttp sends none). */
        if (content_type && snprintf(ct, sizeof ct, "Content-Type: %s", content_type) >= (int)sizeof ct)
            rc = corio_raise(CORIO_EINVAL, "%s: content type too long", url);
        else if (content_type && strpbrk(content_type, "\r\n")) /* it would add headers */
            rc = corio_raise(CORIO_EINVAL, "%s: a CR or LF in the content type", url);
        else if (!(more = curl_slist_append(NULL, "Expect:")) ||
                 (bb->hdrs = more, content_type && !(more = curl_slist_append(bb->hdrs, ct))) ||
                 curl_easy_setopt(easy, CURLOPT_HTTPHEADER, bb->hdrs) ||
                 curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) ||
                 curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, len ? body : ""))
            rc = corio_raise(CORIO_ENOMEM, "%s: POST setup: out of memory", url);
    }
    if (!rc) rc = perform(c, easy, bufs_free, bb);
    if (rc == CORIO_ECURL && (b->nomem || h->nomem))
        rc = corio_raise(CORIO_ENOMEM, "%s: response body: out of memory", url);
    if (!rc) {
        (void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &out->status);
        if ((rc = own(b, &out->body, &out->body_len)) < 0 ||
            (rc = own(h, &out->headers, &out->headers_len)) < 0)
            corio_http_response_free(out);
    }
    bufs_free(bb);
    return rc;
}

int corio_http_get(corio_curl *c, const char *url, corio_http_response *out) {
    return http(c, url, NULL, 0, 0, NULL, out);
}

int corio_http_post(corio_curl *c, const char *url, const void *body, size_t len,
                    const char *content_type, corio_http_response *out) {
    return http(c, url, body, len, 1, content_type, out);
}

void corio_http_response_free(corio_http_response *r) {
    if (!r) return;
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}
