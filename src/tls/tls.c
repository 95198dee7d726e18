/* TLS streams (asyncio's sslproto) with OpenSSL through memory BIOs.
 *
 * A TLS stream is a plain corio_stream with a transport (stream.h's ops):
 * reading pulls ciphertext with the backend's recv into a buffer of the
 * TLS state's own (never a task's stack: io_uring may still write there),
 * hands it to OpenSSL's read BIO and SSL_reads plaintext into the stream's
 * read buffer; writing SSL_writes into the write BIO and passes the
 * ciphertext to the stream's own write machinery (background flushes on
 * epoll, background sends on io_uring). So every backend works, and a
 * cancelled read has consumed nothing: the ciphertext stays in the BIO,
 * the plaintext in the stream's buffer.
 *
 * OpenSSL's error queue is per thread and tasks share the thread: it is
 * cleared before every call and read right after it, with no suspension
 * in between, so one task's error never shows up in another's. */
#define _GNU_SOURCE
#include "io/stream.h"

#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define CBUF (64 * 1024)    /* ciphertext received at once */
#define WCHUNK (64 * 1024)  /* plaintext per SSL_write: the write BIO stays small */
#define HANDSHAKE_TIMEOUT 60.0
#define SHUTDOWN_TIMEOUT 30.0

struct corio_tls_context {
    SSL_CTX *ctx;      /* owned (a reference: each SSL holds its own) */
    int server;        /* CORIO_TLS_SERVER */
    int check_hostname; /* client: the host name (or address) is checked */
};

/* A server's ALPN protocols (wire format) hang on its SSL_CTX (ex_data,
 * freed with it), not on the corio context: a stream handshaking after
 * corio_tls_context_free still finds them (its SSL holds the SSL_CTX). */
typedef struct alpn_list {
    unsigned int len;
    unsigned char wire[];
} alpn_list;
static int alpn_index = -1;
static pthread_once_t alpn_once = PTHREAD_ONCE_INIT;

static void alpn_list_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    corio__free(ptr);
}
static void alpn_index_init(void) {
    alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, alpn_list_free);
}

typedef struct tls {
    SSL *ssl;              /* owned */
    BIO *rbio, *wbio;      /* owned by ssl */
    char *cbuf;            /* owned, io_uring only (made at the first receive): ciphertext
                              lands here, in flight, then goes to rbio */
    uint8_t full;          /* the last receive filled the buffer: the socket may hold more */
    double shutdown_timeout;
    corio_handle *timer;   /* owned reference: the shutdown deadline, or NULL */
    char peer[128];        /* for messages */
    char name[256];        /* the host name checked (a client's server_hostname), for messages */
    char alpn[256];        /* the protocol ALPN chose, "" for none */
} tls;

static const struct corio__stream_ops tls_ops;

/* ---- errors ------------------------------------------------------------------ */

/* The reasons OpenSSL queued, "; "-joined, and the queue cleared. */
static void reasons(char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        if (n + 3 >= cap) continue;
        if (n) n += (size_t)snprintf(buf + n, cap - n, "; ");
        ERR_error_string_n(e, buf + n, cap - n);
        n += strlen(buf + n);
    }
    ERR_clear_error();
    if (!buf[0]) snprintf(buf, cap, "unknown OpenSSL error");
}

/* A failed SSL call (ret, its return) during op: CORIO_ECERT when the
 * peer's certificate did not verify, else CORIO_ETLS with the reasons. */
static int tls_failed(tls *t, const char *op, int ret) {
    int e = SSL_get_error(t->ssl, ret);
    long v = SSL_get_verify_result(t->ssl);
    char why[512];
    /* OpenSSL keeps a verification result even when nothing is verified
     * (CERT_NONE): only a failure that is the verification's is one. */
    if (v != X509_V_OK && e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        ERR_clear_error();
        /* Worded as CPython's _ssl.c words these two. */
        if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
            return corio_raise(CORIO_ECERT, "%s with %s: certificate verify failed: %s mismatch, certificate is not valid for '%s'",
                               op, t->peer, v == X509_V_ERR_HOSTNAME_MISMATCH ? "Hostname" : "IP address", t->name);
        return corio_raise(CORIO_ECERT, "%s with %s: certificate verify failed: %s", op, t->peer,
                           X509_verify_cert_error_string(v));
    }
    if (e == SSL_ERROR_ZERO_RETURN) { /* nothing queued: it said "unknown OpenSSL error" */
        ERR_clear_error();
        return corio_raise(CORIO_ETLS, "%s with %s: the TLS connection has been closed (the peer's close_notify)",
                           op, t->peer); /* CPython: SSLZeroReturnError */
    }
    reasons(why, sizeof why);
    return corio_raise(CORIO_ETLS, "%s with %s: %s", op, t->peer, why);
}

static int unsupported_version(int v) { return v != 0 && v != CORIO_TLS1_2 && v != CORIO_TLS1_3; }

/* ---- contexts --------------------------------------------------------------- */

int corio_tls_context_new(int side, corio_tls_context **out) {
    if (out) *out = NULL;
    if (!out || (side != CORIO_TLS_CLIENT && side != CORIO_TLS_SERVER)) return CORIO_EINVAL;
    corio_tls_context *c = corio__calloc(1, sizeof *c);
    if (!c) return CORIO_ENOMEM;
    ERR_clear_error();
    c->ctx = SSL_CTX_new(side == CORIO_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (!c->ctx) {
        char why[256];
        reasons(why, sizeof why);
        corio__free(c);
        return corio_raise(CORIO_ETLS, "SSL_CTX_new: %s", why);
    }
    c->server = side == CORIO_TLS_SERVER;
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    /* The write BIO is memory: a partial write is never needed, and the
     * buffer may move between calls (the stream copies out at once). */
    SSL_CTX_set_mode(c->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* OpenSSL's own record buffers go while a connection is idle. */
    SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS);
    if (side == CORIO_TLS_CLIENT) {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
        c->check_hostname = 1;
        if (!SSL_CTX_set_default_verify_paths(c->ctx)) ERR_clear_error(); /* no store: nothing trusted */
    }
    *out = c;
    return 0;
}

void corio_tls_context_free(corio_tls_context *ctx) {
    if (!ctx) return;
    SSL_CTX_free(ctx->ctx); /* and its ALPN list, once no stream holds it */
    corio__free(ctx);
}

int corio_tls_context_load_verify_locations(corio_tls_context *ctx, const char *cafile,
                                            const char *capath) {
    if (!ctx || (!cafile && !capath)) return CORIO_EINVAL;
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx->ctx, cafile, capath) == 1) return 0;
    char why[512];
    reasons(why, sizeof why);
    return corio_raise(CORIO_ETLS, "load_verify_locations %s: %s", cafile ? cafile : capath, why);
}

int corio_tls_context_load_cert_chain(corio_tls_context *ctx, const char *certfile,
                                      const char *keyfile) {
    if (!ctx || !certfile) return CORIO_EINVAL;
    if (!keyfile) keyfile = certfile;
    ERR_clear_error();
    const char *what = certfile;
    int ok = SSL_CTX_use_certificate_chain_file(ctx->ctx, certfile) == 1;
    if (ok) ok = (what = keyfile, SSL_CTX_use_PrivateKey_file(ctx->ctx, keyfile, SSL_FILETYPE_PEM) == 1);
    if (ok) ok = (what = "the key and certificate", SSL_CTX_check_private_key(ctx->ctx) == 1);
    if (ok) return 0;
    char why[512];
    reasons(why, sizeof why);
    return corio_raise(CORIO_ETLS, "load_cert_chain %s: %s", what, why);
}

int corio_tls_context_set_verify(corio_tls_context *ctx, int on) {
    if (!ctx) return CORIO_EINVAL;
    int server = ctx->server;
    SSL_CTX_set_verify(ctx->ctx, on ? SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0)
                                    : SSL_VERIFY_NONE,
                       NULL);
    ctx->check_hostname = on && !server;
    return 0;
}

int corio_tls_context_set_versions(corio_tls_context *ctx, int min, int max) {
    if (!ctx || unsupported_version(min) || unsupported_version(max) || (min && max && min > max))
        return CORIO_EINVAL;
    SSL_CTX_set_min_proto_version(ctx->ctx, min ? min : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx->ctx, max);
    return 0;
}

/* A server picks its first protocol the client also offers (asyncio's
 * order: the server's preference); none in common: no ALPN at all. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)arg;
    const alpn_list *l = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_index);
    unsigned char *sel;
    if (!l || SSL_select_next_proto(&sel, outlen, l->wire, l->len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

int corio_tls_context_set_alpn_protocols(corio_tls_context *ctx, const char *const *protos, size_t n) {
    if (!ctx || !protos || n == 0) return CORIO_EINVAL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = protos[i] ? strlen(protos[i]) : 0;
        if (k == 0 || k > 255) return corio_raise(CORIO_EINVAL, "set_alpn_protocols: bad protocol name %zu", i);
        len += 1 + k;
    }
    if (len > 65535) return CORIO_EINVAL;
    alpn_list *l = corio__malloc(sizeof *l + len);
    if (!l) return CORIO_ENOMEM;
    l->len = (unsigned int)len;
    unsigned char *p = l->wire;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(protos[i]);
        *p++ = (unsigned char)k;
        memcpy(p, protos[i], k);
        p += k;
    }
    if (ctx->server) {
        pthread_once(&alpn_once, alpn_index_init);
        alpn_list *old = alpn_index < 0 ? NULL : SSL_CTX_get_ex_data(ctx->ctx, alpn_index);
        if (alpn_index < 0 || !SSL_CTX_set_ex_data(ctx->ctx, alpn_index, l)) {
            corio__free(l);
            ERR_clear_error();
            return CORIO_ENOMEM;
        }
        corio__free(old); /* replaced: set_ex_data does not free it */
        SSL_CTX_set_alpn_select_cb(ctx->ctx, alpn_select, NULL);
        return 0;
    }
    int rc = SSL_CTX_set_alpn_protos(ctx->ctx, l->wire, l->len); /* 0 is success here */
    corio__free(l);
    return rc == 0 ? 0 : CORIO_ENOMEM;
}

void *corio_tls_context_ssl_ctx(corio_tls_context *ctx) { return ctx ? ctx->ctx : NULL; }

/* ---- moving bytes --------------------------------------------------------------- */

/* What OpenSSL wrote goes to the socket: 0 or the stream's error. */
static int flush_out(corio_stream *s, int queue_only) {
    tls *t = s->xport;
    char *p;
    long n = BIO_get_mem_data(t->wbio, &p);
    if (n <= 0) return 0;
    int rc = queue_only ? corio__stream_raw_queue(s, p, (size_t)n) : corio__stream_raw_write(s, p, (size_t)n);
    (void)BIO_reset(t->wbio);
    /* Records that did not go are lost (no memory to buffer them): the
     * peer could read nothing after them (a wrong MAC), so the stream is
     * broken for good, not only this write (a later one said 0 before). */
    if (rc < 0 && rc != CORIO_EFDCLOSED && !s->werr) s->werr = rc; /* (closed: nothing more to say) */
    return rc;
}

/* Where a readiness backend's ciphertext lands on its way to the BIO: one
 * buffer per thread (the receive is synchronous and the bytes move on at
 * once, so no stream holds one while it waits), freed when the thread ends. */
static _Thread_local char *scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    corio__free(p);
    scratch = NULL;
}
static void scratch_init(void) { (void)pthread_key_create(&scratch_key, scratch_free); }

static char *scratch_get(void) {
    if (scratch) return scratch;
    pthread_once(&scratch_once, scratch_init);
    if ((scratch = corio__malloc(CBUF))) (void)pthread_setspecific(scratch_key, scratch);
    return scratch;
}

/* Ciphertext in, waiting for it (or not): > 0 bytes passed to OpenSSL, 0
 * at EOF, or the error (-EAGAIN without wait). On io_uring the receive is
 * in flight while the task waits: it lands in the stream's own buffer. */
static long recv_cipher(corio_stream *s, corio_loop *loop, int wait) {
    tls *t = s->xport;
    long r;
    if (wait && corio__backend_completes(loop)) {
        if (!t->cbuf && !(t->cbuf = corio__malloc(CBUF))) return CORIO_ENOMEM;
        r = corio__stream_recv(s, loop, t->cbuf, CBUF, 1);
        if (r > 0 && BIO_write(t->rbio, t->cbuf, (int)r) != (int)r) return CORIO_ENOMEM;
        return r;
    }
    for (;;) {
        char *b = scratch_get();
        if (!b) return CORIO_ENOMEM;
        r = corio__stream_recv(s, loop, b, CBUF, 0);
        t->full = r == CBUF;
        if (r > 0 && BIO_write(t->rbio, b, (int)r) != (int)r) return CORIO_ENOMEM;
        if (r != -EAGAIN && r != -EWOULDBLOCK) return r;
        if (!wait) return r;
        int w = corio__backend_wait_fd(loop, s->fd, CORIO_READABLE);
        if (w < 0) return w;
        if (s->fd < 0) return CORIO_EFDCLOSED; /* closed between the wake-up and now */
    }
}

/* A memory BIO keeps the largest size it ever held; an empty one that grew
 * is swapped for a fresh one when the stream goes idle, so a connection
 * that once moved a megabyte does not keep its buffers while it waits. */
#define BIO_KEEP (32 * 1024)
static BIO *fresh_if_big(BIO *b) {
    BUF_MEM *bm = NULL;
    if (BIO_ctrl_pending(b) != 0 || BIO_get_mem_ptr(b, &bm) != 1 || !bm || bm->max <= BIO_KEEP) return NULL;
    BIO *n = BIO_new(BIO_s_mem());
    if (n) BIO_set_mem_eof_return(n, -1);
    return n;
}

static int tls_idle(corio_stream *s) {
    tls *t = s->xport;
    if (t->full || SSL_pending(t->ssl) > 0 || BIO_ctrl_pending(t->rbio) > 0) return 0;
    BIO *n = fresh_if_big(t->rbio);
    if (n) {
        SSL_set0_rbio(t->ssl, n); /* frees the old one */
        t->rbio = n;
    }
    if ((n = fresh_if_big(t->wbio))) {
        SSL_set0_wbio(t->ssl, n);
        t->wbio = n;
    }
    return 1;
}

static long tls_fill(corio_stream *s, corio_loop *loop, char *at, size_t room, int wait) {
    tls *t = s->xport;
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(t->ssl, at, room > INT_MAX ? INT_MAX : (int)room);
        int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, n);
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_ZERO_RETURN)
            return tls_failed(t, "TLS read", n);
        ERR_clear_error();
        int rc = flush_out(s, 0); /* a key update's answer, say */
        if (n > 0) return n;
        if (e == SSL_ERROR_ZERO_RETURN) return 0; /* close_notify: EOF */
        if (rc < 0) return rc;
        long r = recv_cipher(s, loop, wait);
        /* An EOF without close_notify is an EOF too, as asyncio reads it. */
        if (r <= 0) return r;
    }
}

static int tls_write(corio_stream *s, const void *buf, size_t n) {
    tls *t = s->xport;
    for (size_t off = 0; off < n;) {
        size_t k = n - off < WCHUNK ? n - off : WCHUNK;
        ERR_clear_error();
        int w = SSL_write(t->ssl, (const char *)buf + off, (int)k);
        /* A TLS 1.2 peer renegotiating (or a write racing start_tls's
         * handshake from another task): OpenSSL takes no plaintext until the
         * reader has received the peer's part of the new handshake. Nothing
         * of this chunk was taken; say so clearly (it was "unknown OpenSSL
         * error"). asyncio would keep the bytes until then: not done here. */
        if (w <= 0 && SSL_get_error(t->ssl, w) == SSL_ERROR_WANT_READ) {
            ERR_clear_error();
            return corio_raise(CORIO_ETLS, "TLS write with %s: a handshake is in progress (the peer renegotiating, "
                                           "or start_tls not done): %zu bytes not sent; write again once a "
                                           "read has moved it on",
                               t->peer, n - off);
        }
        if (w <= 0) return tls_failed(t, "TLS write", w);
        off += (size_t)w;
        int rc = flush_out(s, 0);
        if (rc < 0) return rc;
    }
    return 0;
}

/* ---- closing ------------------------------------------------------------------ */

static void shutdown_expired(void *arg) {
    corio_stream *s = arg;
    if (!s->werr) s->werr = CORIO_ETIMEDOUT; /* wait_closed says so, as asyncio's */
    corio_stream_abort(s);
}

/* close_notify goes after what is buffered; the stream then closes once
 * it is sent (the peer's own close_notify is not awaited: nothing could
 * come after it), or is aborted after shutdown_timeout. */
static void tls_close(corio_stream *s) {
    tls *t = s->xport;
    ERR_clear_error();
    if (SSL_is_init_finished(t->ssl)) {
        (void)SSL_shutdown(t->ssl);
        ERR_clear_error();
        (void)flush_out(s, 1);
    }
    if (!t->timer && corio_stream_write_buffer_size(s) > 0)
        (void)corio_call_later(s->loop, t->shutdown_timeout, shutdown_expired, s, &t->timer);
}

static void stop_timer(tls *t) {
    if (!t->timer) return;
    corio_handle_cancel(t->timer);
    corio_handle_unref(t->timer);
    t->timer = NULL;
}

/* The descriptor is about to close. What the peer sent and nobody read
 * (TLS 1.3 session tickets, above all, which a client that only writes
 * never reads) would make close(2) send a reset instead of a FIN, and a
 * reset makes the peer's kernel drop the bytes it holds for its reader:
 * the tail of what this stream sent. So whatever is queued is read away
 * first (bounded: a peer still sending gets its reset). */
static void drain_unread(int fd) {
    char junk[16384];
    for (int i = 0; i < 64 && corio__recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0; i++) {}
}

static void tls_closed(corio_stream *s) {
    stop_timer(s->xport);
    drain_unread(s->fd);
}

static void tls_free_state(tls *t) {
    if (!t) return;
    stop_timer(t);
    SSL_free(t->ssl);
    corio__free(t->cbuf);
    corio__free(t);
}

static void tls_free(corio_stream *s) {
    tls_free_state(s->xport);
    s->xport = NULL;
    s->ops = NULL;
}

static const struct corio__stream_ops tls_ops = {tls_fill, tls_idle, tls_write, tls_close, tls_closed, tls_free};

/* ---- the handshake ------------------------------------------------------------ */

static int handshake_loop(corio_stream *s, corio_loop *loop) {
    tls *t = s->xport;
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        int rc = r == 1 ? 0 : SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ ? 1 : tls_failed(t, "TLS handshake", r);
        ERR_clear_error();
        int frc = flush_out(s, 0); /* our flight, or the alert that tells the peer why */
        if (rc <= 0) return rc;
        if (frc < 0) return frc;
        s->reader = corio__running_task();
        long n = recv_cipher(s, loop, 1);
        s->reader = NULL;
        if (n == 0)
            return corio_raise(-ECONNRESET, "TLS handshake with %s: connection lost (the peer closed it)", t->peer);
        if (n < 0) return n == CORIO_ECANCELED || n <= -4000 ? (int)n
                                                             : corio_raise((int)n, "TLS handshake with %s: %s", t->peer, strerror((int)-n));
    }
}

/* The host name (or address) to check, and SNI for a name. */
static int set_peer_name(tls *t, const char *name, int check) {
    unsigned char a[16];
    int is_ip = inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1;
    if (!is_ip && !SSL_set_tlsext_host_name(t->ssl, name)) return 0;
    if (!check) return 1;
    X509_VERIFY_PARAM *p = SSL_get0_param(t->ssl);
    if (is_ip) return X509_VERIFY_PARAM_set1_ip_asc(p, name) == 1;
    X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(t->ssl, name) == 1;
}

/* 0: asyncio's default; otherwise api.md's one rule for time: NaN is
 * refused (CORIO_EINVAL), a negative value means now, +inf never. (A
 * negative value silently meant the default before.) */
static double or_default(double v, double d) { return v == 0 ? d : v; }
static int bad_timeout(double v) { return v != v; }

int corio_start_tls(corio_stream *s, corio_tls_context *ctx, int server_side,
                    const char *server_hostname, const corio_tls_options *opts) {
    if (!s || !ctx || s->ops) return CORIO_EINVAL;
    /* A context serves one side (TLS_client_method or TLS_server_method):
     * on the other the handshake failed with OpenSSL's unclear reason.
     * CPython refuses it up front, as here. */
    if (!server_side != !ctx->server)
        return corio_raise(CORIO_EINVAL, "start_tls: a %s context cannot make a %s-side stream",
                           ctx->server ? "server's" : "client's", server_side ? "server" : "client");
    if (opts && (bad_timeout(opts->handshake_timeout) || bad_timeout(opts->shutdown_timeout)))
        return corio_raise(CORIO_EINVAL, "start_tls: a timeout is NaN (handshake %g, shutdown %g)",
                           opts->handshake_timeout, opts->shutdown_timeout);
    if (s->fd < 0 || s->closing) return corio_raise(CORIO_EFDCLOSED, "start_tls: the stream is closed");
    /* asyncio's transport refuses any write after write_eof: so does the
     * handshake here, at once (it went out as a broken pipe on epoll and
     * a closed descriptor on io_uring, with no message). */
    if (s->eof_pending) return corio_raise(CORIO_EFDCLOSED, "start_tls: write_eof was called on the stream");
    if (!s->is_sock) return corio_raise(CORIO_EINVAL, "start_tls: not a socket");
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    if (s->reader) return corio_raise(CORIO_EBUSY, "start_tls: another task is reading the stream");
    tls *t = corio__calloc(1, sizeof *t);
    if (!t) return CORIO_ENOMEM;
    t->shutdown_timeout = or_default(opts ? opts->shutdown_timeout : 0, SHUTDOWN_TIMEOUT);
    corio__peer_format(s->fd, t->peer, sizeof t->peer);
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        tls_free_state(t);
        ERR_clear_error();
        return CORIO_ENOMEM;
    }
    BIO_set_mem_eof_return(t->rbio, -1); /* empty: "want more", not EOF */
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    if (server_side) SSL_set_accept_state(t->ssl);
    else SSL_set_connect_state(t->ssl);
    if (!server_side) {
        char host[sizeof t->peer];
        const char *name = server_hostname;
        if (!name) { /* the peer's address, as asyncio takes the host */
            snprintf(host, sizeof host, "%s", t->peer);
            char *colon = strrchr(host, ':');
            if (colon) *colon = 0;
            name = host;
            if (host[0] == '[') {
                name = host + 1;
                host[strlen(host) - 1] = 0;
            }
        }
        snprintf(t->name, sizeof t->name, "%s", name);
        /* OpenSSL reads a leading dot as "any subdomain of": ".example.com"
         * would accept a certificate for evil.example.com. CPython refuses
         * such a name (and an empty one) before anything is sent. */
        if (!name[0] || name[0] == '.') {
            tls_free_state(t);
            return corio_raise(CORIO_EINVAL, "start_tls: server_hostname '%s' cannot be empty or start with a dot",
                               name);
        }
        if (!set_peer_name(t, name, ctx->check_hostname)) {
            tls_free_state(t);
            char why[256];
            reasons(why, sizeof why);
            return corio_raise(CORIO_EINVAL, "start_tls: bad server_hostname '%s': %s", name, why);
        }
    }
    /* Bytes read and not consumed came after the peer started TLS. */
    if (s->rlen > s->lent) {
        size_t from = s->rhead + s->lent, n = s->rlen - s->lent;
        if (BIO_write(t->rbio, s->rbuf + from, (int)n) != (int)n) {
            tls_free_state(t);
            return CORIO_ENOMEM;
        }
        s->rlen = s->lent;
    }
    s->xport = t;
    s->ops = &tls_ops;
    corio_timeout *cm;
    rc = corio_timeout_enter(or_default(opts ? opts->handshake_timeout : 0, HANDSHAKE_TIMEOUT), &cm);
    if (rc == 0) {
        rc = handshake_loop(s, loop);
        rc = corio_timeout_exit(cm, rc);
        if (rc == CORIO_ETIMEDOUT) corio_raise(rc, "TLS handshake with %s: timed out", t->peer);
    }
    if (rc == 0) {
        const unsigned char *p;
        unsigned int n;
        SSL_get0_alpn_selected(t->ssl, &p, &n);
        snprintf(t->alpn, sizeof t->alpn, "%.*s", (int)n, p ? (const char *)p : "");
    }
    if (rc < 0) {
        /* As asyncio closes the transport: nothing stays half-made, and
         * the alert that says why still goes out first (a plain close
         * flushes it: a few bytes, which the socket takes at once). */
        tls_free(s);
        corio_stream_close(s);
        return rc;
    }
    return 0;
}

int corio_open_tls_connection(const char *host, int port, corio_tls_context *ctx,
                              const char *server_hostname, const corio_tls_options *opts,
                              corio_stream **out) {
    if (out) *out = NULL;
    if (!out || !host) return CORIO_EINVAL;
    corio_tls_context *own = NULL;
    int rc = 0;
    if (!ctx && (rc = corio_tls_context_new(CORIO_TLS_CLIENT, &own)) < 0) return rc;
    corio_stream *s;
    rc = corio_open_connection(host, port, &s);
    if (rc == 0) {
        rc = corio_start_tls(s, ctx ? ctx : own, 0, server_hostname ? server_hostname : host, opts);
        if (rc < 0) corio_stream_free(s);
        else *out = s;
    }
    corio_tls_context_free(own);
    return rc;
}

/* ---- what the stream is ------------------------------------------------------ */

static SSL *ssl_of(const corio_stream *s) {
    return s && s->ops == &tls_ops ? ((tls *)s->xport)->ssl : NULL;
}

void *corio_stream_tls_ssl(const corio_stream *s) { return ssl_of(s); }

const char *corio_stream_tls_version(const corio_stream *s) {
    SSL *ssl = ssl_of(s);
    return ssl ? SSL_get_version(ssl) : NULL;
}

const char *corio_stream_tls_alpn(const corio_stream *s) {
    return ssl_of(s) && ((tls *)s->xport)->alpn[0] ? ((tls *)s->xport)->alpn : NULL;
}

const char *corio_stream_tls_cipher(const corio_stream *s) {
    SSL *ssl = ssl_of(s);
    return ssl ? SSL_get_cipher_name(ssl) : NULL;
}

int corio_stream_tls_peer_subject(const corio_stream *s, char *buf, size_t cap) {
    SSL *ssl = ssl_of(s);
    if (!ssl || !buf || cap == 0) return CORIO_EINVAL;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (!cert) return -ENOENT;
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return CORIO_ENOMEM;
    X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    snprintf(buf, cap, "%.*s", (int)(n > 0 ? n : 0), p);
    BIO_free(b);
    return 0;
}
