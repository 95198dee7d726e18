/* A hostile review of the TLS streams (io.md 5): wrong order, wrong input,
 * a raw OpenSSL peer (in a thread, blocking sockets) that updates its keys,
 * renegotiates, sends a record byte by byte, sends garbage, or drops the
 * connection without close_notify; two loops doing TLS in two threads at
 * once. Certificates are made here at run time. Without OpenSSL every test
 * skips (libssl-dev). */
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef CORIO_TEST_OPENSSL
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ---- certificates ---------------------------------------------------------------- */

static char dir[64];
static char ca_pem[96], srv_crt[96], srv_key[96], sub_crt[96];

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    ASSERT(e);
    ASSERT(X509_add_ext(x, e, -1));
    X509_EXTENSION_free(e);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer, EVP_PKEY *ikey) {
    static long serial = 1;
    X509 *x = X509_new();
    ASSERT(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509 *by = issuer ? issuer : x;
    add_ext(x, by, NID_basic_constraints, san ? "CA:FALSE" : "critical,CA:TRUE");
    if (san) add_ext(x, by, NID_subject_alt_name, san);
    else add_ext(x, by, NID_key_usage, "critical,keyCertSign,cRLSign");
    ASSERT(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
    return x;
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *key) {
    FILE *f = fopen(path, "w");
    ASSERT(f);
    if (x) ASSERT(PEM_write_X509(f, x));
    if (key) ASSERT(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    fclose(f);
}

static void certs_make(void) {
    snprintf(dir, sizeof dir, "/tmp/corio-tlsrev-XXXXXX");
    ASSERT(mkdtemp(dir));
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", dir);
    snprintf(srv_crt, sizeof srv_crt, "%s/server.pem", dir);
    snprintf(srv_key, sizeof srv_key, "%s/server.key", dir);
    snprintf(sub_crt, sizeof sub_crt, "%s/sub.pem", dir);
    EVP_PKEY *cakey = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    ASSERT(cakey && key);
    X509 *ca = make_cert(cakey, "review CA", NULL, NULL, NULL);
    X509 *srv = make_cert(key, "localhost", "DNS:localhost,IP:127.0.0.1", ca, cakey);
    X509 *sub = make_cert(key, "evil.localhost", "DNS:evil.localhost", ca, cakey);
    write_pem(ca_pem, ca, NULL);
    write_pem(srv_crt, srv, NULL);
    write_pem(srv_key, NULL, key);
    write_pem(sub_crt, sub, key);
    X509_free(ca), X509_free(srv), X509_free(sub);
    EVP_PKEY_free(cakey), EVP_PKEY_free(key);
}

static void certs_remove(void) {
    const char *files[] = {ca_pem, srv_crt, srv_key, sub_crt};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) unlink(files[i]);
    rmdir(dir);
}

/* ---- helpers ---------------------------------------------------------------------- */

static const char *errmsg(void) {
    const corio_error *e = corio_current_error();
    return e ? corio_error_message(e) : "";
}

static int port_of(corio_server *srv) {
    struct sockaddr_in a;
    unsigned int len = sizeof a;
    ASSERT_EQ(corio_server_sockname(srv, 0, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static corio_tls_context *client_ctx(void) {
    corio_tls_context *c;
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &c), 0);
    ASSERT_EQ(corio_tls_context_load_verify_locations(c, ca_pem, NULL), 0);
    return c;
}

static corio_tls_context *server_ctx(const char *crt, const char *key) {
    corio_tls_context *c;
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_SERVER, &c), 0);
    ASSERT_EQ(corio_tls_context_load_cert_chain(c, crt, key), 0);
    return c;
}

static int echo_handler(corio_stream *s, void *arg) {
    (void)arg;
    const void *data;
    size_t len;
    int rc;
    while ((rc = corio_stream_read_lent(s, 256 * 1024, &data, &len)) == 0 && len > 0)
        if ((rc = corio_stream_write(s, data, len)) < 0 || (rc = corio_stream_drain(s)) < 0) break;
    return rc == -ECONNRESET || rc == -EPIPE || rc == CORIO_EFDCLOSED ? 0 : rc;
}

static corio_server *tls_server(corio_stream_handler h, void *arg, corio_tls_context *ctx) {
    corio_server_options o = {.tls = ctx};
    corio_server *srv;
    ASSERT_EQ(corio_start_server(h, arg, "127.0.0.1", 0, &o, &srv), 0);
    return srv;
}

static void server_done(corio_server *srv) {
    ASSERT_EQ(corio_server_close(srv), 0);
    ASSERT_EQ(corio_server_abort_clients(srv), 0);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
}

static int run(corio_fn body) {
    corio_tls_context *probe;
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &probe), 0);
    corio_tls_context_free(probe);
    certs_make();
    on_loop(body, NULL);
    certs_remove();
    return 0;
}

static int ping(corio_stream *c, const char *line) {
    size_t n = strlen(line);
    const void *d;
    size_t len;
    int rc = corio_stream_write(c, line, n);
    if (rc == 0) rc = corio_stream_readline(c, &d, &len);
    if (rc == 0) {
        ASSERT_EQ(len, n);
        ASSERT(memcmp(d, line, n) == 0);
    }
    return rc;
}

/* ---- a raw OpenSSL peer in a thread --------------------------------------------- */

typedef struct raw_peer {
    int lfd, port;
    int mode;      /* what it does after the handshake */
    int max_ver;   /* 0 or TLS1_2_VERSION */
    int result;    /* 0 when it saw what it expected */
    char note[256];
    pthread_t th;
} raw_peer;

enum { RAW_KEYUPDATE, RAW_RENEGOTIATE, RAW_BYTE_BY_BYTE, RAW_GARBAGE_RECORD, RAW_TRUNCATE, RAW_HTTP };

static int raw_read_line(SSL *ssl, char *buf, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        int r = SSL_read(ssl, buf + n, 1);
        if (r <= 0) return -1;
        if (buf[n++] == '\n') break;
    }
    buf[n] = 0;
    return (int)n;
}

static int raw_write_all(SSL *ssl, const void *p, int n) { return SSL_write(ssl, p, n) == n ? 0 : -1; }

static void *raw_main(void *arg) {
    raw_peer *p = arg;
    p->result = -1;
    int fd = accept(p->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    if (p->mode == RAW_HTTP) { /* a plain client's request to nobody: only read it, then close */
        char b[256];
        ssize_t r = recv(fd, b, sizeof b - 1, 0);
        p->result = r > 0 ? 0 : -1;
        close(fd);
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    ASSERT(ctx);
    ASSERT(SSL_CTX_use_certificate_chain_file(ctx, srv_crt) == 1);
    ASSERT(SSL_CTX_use_PrivateKey_file(ctx, srv_key, SSL_FILETYPE_PEM) == 1);
    if (p->max_ver) SSL_CTX_set_max_proto_version(ctx, p->max_ver);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    char line[256];
    if (SSL_accept(ssl) != 1) {
        snprintf(p->note, sizeof p->note, "accept failed");
        goto out;
    }
    if (raw_read_line(ssl, line, sizeof line) < 0 || strcmp(line, "hello\n") != 0) goto out;
    switch (p->mode) {
    case RAW_KEYUPDATE:
        /* update ours and ask the peer to update its own; then talk */
        for (int i = 0; i < 3; i++) {
            if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1) goto out;
            if (raw_write_all(ssl, "updated\n", 8) < 0) goto out;
            if (raw_read_line(ssl, line, sizeof line) < 0 || strcmp(line, "again\n") != 0) goto out;
        }
        if (raw_write_all(ssl, "bye\n", 4) < 0) goto out;
        break;
    case RAW_RENEGOTIATE: {
        /* a HelloRequest, and time for the client to be in the middle of
         * the new handshake when its writer writes */
        if (SSL_renegotiate(ssl) != 1 || SSL_do_handshake(ssl) != 1) goto out;
        usleep(300 * 1000);
        size_t got = 0;
        while (got < 4096) {
            char b[1024];
            int r = SSL_read(ssl, b, sizeof b);
            if (r <= 0) goto out;
            got += (size_t)r;
        }
        if (raw_write_all(ssl, "done\n", 5) < 0) goto out;
        break;
    }
    case RAW_BYTE_BY_BYTE: {
        /* one 16 KiB record, passed to the socket one byte at a time */
        BIO *mem = BIO_new(BIO_s_mem());
        BIO *sock = SSL_get_wbio(ssl);
        BIO_up_ref(sock);
        SSL_set0_wbio(ssl, mem);
        static char rec[16384];
        for (size_t i = 0; i < sizeof rec; i++) rec[i] = (char)('a' + i % 26);
        rec[sizeof rec - 1] = '\n';
        if (raw_write_all(ssl, rec, (int)sizeof rec) < 0) goto out;
        char *data;
        long n = BIO_get_mem_data(mem, &data);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        for (long i = 0; i < n; i++)
            if (send(fd, data + i, 1, MSG_NOSIGNAL) != 1) goto out;
        BIO_reset(mem);
        SSL_set0_wbio(ssl, sock);
        break;
    }
    case RAW_GARBAGE_RECORD: {
        /* an application-data record header and bytes that decrypt to nothing */
        unsigned char bad[5 + 64] = {23, 3, 3, 0, 64};
        for (int i = 5; i < (int)sizeof bad; i++) bad[i] = (unsigned char)i;
        if (send(fd, bad, sizeof bad, MSG_NOSIGNAL) != (ssize_t)sizeof bad) goto out;
        usleep(200 * 1000);
        break;
    }
    case RAW_TRUNCATE:
        /* data, then a FIN without close_notify */
        if (raw_write_all(ssl, "last\n", 5) < 0) goto out;
        shutdown(fd, SHUT_WR);
        usleep(100 * 1000);
        break;
    }
    p->result = 0;
    if (p->mode == RAW_KEYUPDATE || p->mode == RAW_RENEGOTIATE || p->mode == RAW_BYTE_BY_BYTE)
        (void)SSL_shutdown(ssl);
out:
    if (p->result < 0 && !p->note[0]) {
        unsigned long e = ERR_peek_error();
        snprintf(p->note, sizeof p->note, "raw peer: %s", e ? ERR_reason_error_string(e) : "failed");
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    ERR_clear_error();
    return NULL;
}

static void raw_start(raw_peer *p, int mode, int max_ver) {
    memset(p, 0, sizeof *p);
    p->mode = mode;
    p->max_ver = max_ver;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(p->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(p->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(p->lfd, 4), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(p->lfd, (struct sockaddr *)&a, &len), 0);
    p->port = ntohs(a.sin_port);
    ASSERT_EQ(pthread_create(&p->th, NULL, raw_main, p), 0);
}

/* The thread's end, awaited without blocking the loop. */
static int raw_join(raw_peer *p) {
    ASSERT_EQ(pthread_join(p->th, NULL), 0);
    close(p->lfd);
    if (p->result) fprintf(stderr, "raw peer: %s\n", p->note);
    return p->result;
}

static int raw_connect(raw_peer *p, corio_tls_context *cctx, corio_stream **c) {
    int rc = corio_open_tls_connection("127.0.0.1", p->port, cctx, "localhost", NULL, c);
    if (rc < 0) return rc;
    return corio_stream_write(*c, "hello\n", 6);
}

/* ---- the peer updates its keys (TLS 1.3 KeyUpdate, asking for ours) ------------- */

static int keyupdate_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *cctx = client_ctx();
    raw_peer p;
    raw_start(&p, RAW_KEYUPDATE, 0);
    corio_stream *c;
    ASSERT_EQ(raw_connect(&p, cctx, &c), 0);
    const void *d;
    size_t len;
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(corio_stream_readline(c, &d, &len), 0);
        ASSERT_EQ(len, 8);
        ASSERT_EQ(corio_stream_write(c, "again\n", 6), 0);
    }
    ASSERT_EQ(corio_stream_readline(c, &d, &len), 0);
    ASSERT_EQ(len, 4);
    ASSERT_EQ(corio_stream_read_all(c, &d, &len), 0); /* its close_notify */
    ASSERT_EQ(len, 0);
    ASSERT_EQ(corio_stream_read_all(c, &d, &len), 0); /* and again */
    ASSERT_EQ(len, 0);
    int rc = corio_stream_write(c, "late\n", 5); /* after its close_notify: goes, or fails clearly */
    if (rc < 0) ASSERT(!strstr(errmsg(), "unknown OpenSSL error"));
    ASSERT_EQ(corio_stream_close(c), 0);
    rc = corio_stream_wait_closed(c); /* the peer has closed its socket: the late bytes may meet it */
    ASSERT(rc == 0 || rc == -EPIPE || rc == -ECONNRESET);
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(raw_join(&p), 0);
    corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_keyupdate) { return run(keyupdate_body); }

/* ---- the peer renegotiates (TLS 1.2) while our writer writes -------------------- */

static int reneg_reader(void *arg, void **res) {
    (void)res;
    corio_stream *c = arg;
    const void *d;
    size_t len;
    int rc = corio_stream_readline(c, &d, &len);
    if (rc == 0 && (len != 5 || memcmp(d, "done\n", 5) != 0)) rc = -EPROTO;
    return rc;
}

static int reneg_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *cctx = client_ctx();
    raw_peer p;
    raw_start(&p, RAW_RENEGOTIATE, TLS1_2_VERSION);
    corio_stream *c;
    ASSERT_EQ(raw_connect(&p, cctx, &c), 0);
    ASSERT_STR(corio_stream_tls_version(c), "TLSv1.2");
    corio_task *t;
    ASSERT_EQ(corio_create_task(reneg_reader, c, "reader", &t), 0);
    SSL *ssl = corio_stream_tls_ssl(c);
    /* wait until the reader has answered the HelloRequest (the new
     * handshake is then in flight), then write */
    for (int i = 0; i < 250 && !SSL_in_init(ssl); i++) ASSERT_EQ(corio_sleep(0.001), 0);
    fprintf(stderr, "writing %s the renegotiation\n", SSL_in_init(ssl) ? "in" : "after");
    char blk[1024];
    memset(blk, 'x', sizeof blk);
    /* a write OpenSSL cannot take yet fails clearly, having sent nothing
     * (it was "unknown OpenSSL error"); written again later, it goes */
    int rc = 0, refused = 0;
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 2000; k++) {
            rc = corio_stream_write(c, blk, sizeof blk);
            if (rc == 0) break;
            if (!refused++) fprintf(stderr, "write during renegotiation: %d %s\n", rc, errmsg());
            ASSERT_EQ(rc, CORIO_ETLS);
            ASSERT(strstr(errmsg(), "handshake is in progress"));
            ASSERT_EQ(corio_sleep(0.001), 0);
        }
        ASSERT_EQ(rc, 0);
    }
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(raw_join(&p), 0);
    corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_renegotiate) { return run(reneg_body); }

/* ---- a 16 KiB record byte by byte; read 1 byte at a time ------------------------- */

static int bytewise_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *cctx = client_ctx();
    raw_peer p;
    raw_start(&p, RAW_BYTE_BY_BYTE, 0);
    corio_stream *c;
    ASSERT_EQ(raw_connect(&p, cctx, &c), 0);
    for (size_t i = 0; i < 16384; i++) {
        char b;
        size_t got;
        ASSERT_EQ(corio_stream_read(c, &b, 1, &got), 0);
        ASSERT_EQ(got, 1);
        ASSERT_EQ(b, i == 16383 ? '\n' : (char)('a' + i % 26));
    }
    const void *d;
    size_t len;
    ASSERT_EQ(corio_stream_read_all(c, &d, &len), 0);
    ASSERT_EQ(len, 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(raw_join(&p), 0);
    corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_byte_by_byte) { return run(bytewise_body); }

/* ---- a record that does not decrypt; FIN without close_notify -------------------- */

static int garbage_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *cctx = client_ctx();
    raw_peer p;
    raw_start(&p, RAW_GARBAGE_RECORD, 0);
    corio_stream *c;
    ASSERT_EQ(raw_connect(&p, cctx, &c), 0);
    char b[16];
    size_t got;
    int rc = corio_stream_read(c, b, sizeof b, &got);
    fprintf(stderr, "a bad record: %d %s\n", rc, errmsg());
    ASSERT_EQ(rc, CORIO_ETLS);
    ASSERT(strstr(errmsg(), "127.0.0.1"));
    ASSERT_EQ(corio_stream_read(c, b, sizeof b, &got), CORIO_ETLS); /* it stays */
    rc = corio_stream_write(c, "x", 1);
    ASSERT(rc < 0);
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_stream_close(c), 0); /* twice */
    corio_stream_wait_closed(c);
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(raw_join(&p), 0);
    /* truncation: the bytes, then EOF (as asyncio's reader: b'') */
    raw_start(&p, RAW_TRUNCATE, 0);
    ASSERT_EQ(raw_connect(&p, cctx, &c), 0);
    const void *d;
    size_t len;
    ASSERT_EQ(corio_stream_readline(c, &d, &len), 0);
    ASSERT_EQ(len, 5);
    ASSERT_EQ(corio_stream_read_all(c, &d, &len), 0);
    ASSERT_EQ(len, 0);
    ASSERT(corio_stream_at_eof(c));
    ASSERT_EQ(corio_stream_read_all(c, &d, &len), 0); /* again */
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(raw_join(&p), 0);
    corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_garbage_truncation) { return run(garbage_body); }

/* ---- verification off: a later failure is reported as itself, not as the
 * verification result OpenSSL kept (it records one even with CERT_NONE) --- */

static int noverify_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *cctx;
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &cctx), 0); /* no CA: the chain does not verify */
    ASSERT_EQ(corio_tls_context_set_verify(cctx, 0), 0);
    raw_peer p;
    raw_start(&p, RAW_GARBAGE_RECORD, 0);
    corio_stream *c;
    ASSERT_EQ(raw_connect(&p, cctx, &c), 0); /* verification off: it connects */
    char b[16];
    size_t got;
    int rc = corio_stream_read(c, b, sizeof b, &got);
    fprintf(stderr, "a bad record, verification off: %d %s\n", rc, errmsg());
    ASSERT_EQ(rc, CORIO_ETLS);
    ASSERT(strstr(errmsg(), "bad record mac") || strstr(errmsg(), "decryption failed"));
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(raw_join(&p), 0);
    corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_noverify_errors) { return run(noverify_body); }

/* ---- alerts instead of a ServerHello: a close_notify, a fatal alert ------- */

static const unsigned char *alert_bytes;

static int alert_server(corio_stream *s, void *arg) {
    (void)arg;
    const void *d;
    size_t len;
    if (corio_stream_read_lent(s, 4096, &d, &len) < 0 || !len) return 0; /* the ClientHello */
    (void)corio_stream_write(s, alert_bytes, 7);
    while (corio_stream_read_lent(s, 4096, &d, &len) == 0 && len) {}
    return 0;
}

static int alerts_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *cctx = client_ctx();
    corio_server *srv;
    ASSERT_EQ(corio_start_server(alert_server, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    static const unsigned char close_notify[] = {21, 3, 3, 0, 2, 1, 0}, fatal[] = {21, 3, 3, 0, 2, 2, 40};
    corio_stream *c;
    corio_tls_options o = {.handshake_timeout = 5};
    alert_bytes = close_notify;
    int rc = corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", &o, &c);
    fprintf(stderr, "close_notify for a ServerHello: %d %s\n", rc, errmsg());
    ASSERT(rc == -ECONNRESET || rc == CORIO_ETLS);
    ASSERT(!strstr(errmsg(), "unknown OpenSSL error"));
    alert_bytes = fatal;
    rc = corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", &o, &c);
    fprintf(stderr, "handshake_failure alert: %d %s\n", rc, errmsg());
    ASSERT_EQ(rc, CORIO_ETLS);
    ASSERT(strstr(errmsg(), "handshake failure"));
    server_done(srv);
    corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_alerts_in_handshake) { return run(alerts_body); }

/* ---- plain HTTP to a TLS server; a TLS client to a plain HTTP server ----------- */

static int handler_ran;
static int count_handler(corio_stream *s, void *arg) {
    (void)s, (void)arg;
    handler_ran++;
    return 0;
}

static int http_reply(corio_stream *s, void *arg) {
    (void)arg;
    const void *d;
    size_t len;
    (void)corio_stream_read_lent(s, 4096, &d, &len);
    const char *r = "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    (void)corio_stream_write(s, r, strlen(r));
    return 0;
}

static int http_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    handler_ran = 0;
    corio_server *srv = tls_server(count_handler, NULL, sctx);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ASSERT_EQ(corio_stream_write(c, req, strlen(req)), 0);
    const void *d;
    size_t len;
    int rc = corio_stream_read_all(c, &d, &len); /* an alert, then EOF */
    ASSERT(rc == 0 || rc == -ECONNRESET);
    ASSERT_EQ(handler_ran, 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    ASSERT_EQ(corio_start_server(http_reply, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    rc = corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c);
    fprintf(stderr, "TLS to plain HTTP: %d %s\n", rc, errmsg());
    ASSERT_EQ(rc, CORIO_ETLS);
    ASSERT(c == NULL);
    ASSERT(strstr(errmsg(), "wrong version number") || strstr(errmsg(), "packet length"));
    server_done(srv);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_plaintext_peers) { return run(http_body); }

/* ---- server_hostname: a leading dot, empty, long, an address, NULL -------------- */

static int hostname_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sub = server_ctx(sub_crt, NULL), *sctx = server_ctx(srv_crt, srv_key);
    corio_tls_context *cctx = client_ctx();
    corio_server *srv = tls_server(echo_handler, NULL, sub);
    corio_stream *c = NULL;
    /* a certificate for evil.localhost must not pass for ".localhost"
     * (OpenSSL reads a leading dot as "any subdomain"; CPython refuses it) */
    int rc = corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, ".localhost", NULL, &c);
    fprintf(stderr, "server_hostname \".localhost\": %d %s\n", rc, errmsg());
    ASSERT(rc == CORIO_EINVAL || rc == CORIO_ECERT);
    ASSERT(c == NULL);
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "evil.localhost", NULL, &c), 0);
    ASSERT_EQ(ping(c, "sub\n"), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    c = NULL;
    server_done(srv);
    srv = tls_server(echo_handler, NULL, sctx);
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "", NULL, &c), CORIO_EINVAL);
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, longname, NULL, &c), CORIO_EINVAL);
    ASSERT(c == NULL);
    /* NUL inside: the C string ends there ("localhost") */
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost\0.evil", NULL, &c), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    /* an address: checked against the IP SANs; NULL: the host */
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "127.0.0.1", NULL, &c), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, NULL, NULL, &c), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    rc = corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "127.0.0.2", NULL, &c);
    ASSERT_EQ(rc, CORIO_ECERT);
    ASSERT(strstr(errmsg(), "IP address mismatch"));
    server_done(srv);
    corio_tls_context_free(sub), corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_server_hostname) { return run(hostname_body); }

/* ---- timeouts: NaN, negative, infinite, huge ------------------------------------ */

static int timeouts_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    corio_server *srv = tls_server(echo_handler, NULL, sctx);
    int port = port_of(srv);
    corio_stream *c;
    corio_tls_options nan1 = {.handshake_timeout = NAN}, nan2 = {.shutdown_timeout = NAN};
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port, cctx, "localhost", &nan1, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port, cctx, "localhost", &nan2, &c), CORIO_EINVAL);
    /* negative: now (api.md's rule), not silently the 60 s default */
    double past[] = {-1.0, -INFINITY};
    for (size_t i = 0; i < sizeof past / sizeof *past; i++) {
        corio_tls_options o = {.handshake_timeout = past[i]};
        ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port, cctx, "localhost", &o, &c), CORIO_ETIMEDOUT);
        ASSERT(c == NULL);
        corio_tls_options o2 = {.shutdown_timeout = past[i]};
        ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port, cctx, "localhost", &o2, &c), 0);
        ASSERT_EQ(ping(c, "t\n"), 0);
        ASSERT_EQ(corio_stream_close(c), 0);
        int rc = corio_stream_wait_closed(c);
        ASSERT(rc == 0 || rc == CORIO_ETIMEDOUT);
        ASSERT_EQ(corio_stream_free(c), 0);
    }
    double fine[] = {INFINITY, 1e300, DBL_MAX, 1e-300};
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
        corio_tls_options o = {.handshake_timeout = fine[i] < 1e-200 ? 10 : fine[i], .shutdown_timeout = fine[i]};
        ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port, cctx, "localhost", &o, &c), 0);
        ASSERT_EQ(ping(c, "t\n"), 0);
        ASSERT_EQ(corio_stream_close(c), 0);
        ASSERT_EQ(corio_stream_wait_closed(c), 0);
        ASSERT_EQ(corio_stream_free(c), 0);
    }
    /* a server's options too */
    corio_server_options so = {.tls = sctx, .tls_handshake_timeout = NAN};
    corio_server *bad_srv = NULL;
    int rc = corio_start_server(echo_handler, NULL, "127.0.0.1", 0, &so, &bad_srv);
    if (rc == 0) server_done(bad_srv);
    ASSERT_EQ(rc, CORIO_EINVAL);
    server_done(srv);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_bad_timeouts) { return run(timeouts_body); }

/* ---- ALPN names ------------------------------------------------------------------ */

static int alpn_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *c = client_ctx();
    const char *empty[] = {"h2", ""};
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(c, empty, 2), CORIO_EINVAL);
    const char *nul[] = {NULL};
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(c, nul, 1), CORIO_EINVAL);
    char big[257];
    memset(big, 'p', 256);
    big[256] = 0;
    const char *toolong[] = {big};
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(c, toolong, 1), CORIO_EINVAL);
    big[255] = 0;
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(c, toolong, 1), 0);
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(c, toolong, 0), CORIO_EINVAL);
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(NULL, toolong, 1), CORIO_EINVAL);
    corio_tls_context_free(c);
    return 0;
}
TEST(tls_rev_alpn_names) { return run(alpn_body); }

/* ---- wrong order: start_tls with a reader, after write_eof, with writes buffered,
 * with unread bytes; zero-length writes; write after close --------------------- */

static corio_tls_context *order_sctx;

/* Plain: a line of plaintext, then "STARTTLS\n" and the client's TLS bytes
 * may already be buffered together; then echo over TLS. */
static int order_handler(corio_stream *s, void *arg) {
    (void)arg;
    const void *d;
    size_t len;
    size_t total = 0;
    int rc;
    /* the plain part: a megabyte, then the line */
    while (total < (1u << 20) && (rc = corio_stream_read_lent(s, (1u << 20) - total, &d, &len)) == 0 && len)
        total += len;
    if (corio_stream_readline(s, &d, &len) < 0) return 0; /* (the write_eof client, aborted) */
    if (len != 9 || memcmp(d, "STARTTLS\n", 9) != 0) return 0; /* (the write_eof client) */
    if ((rc = corio_start_tls(s, order_sctx, 1, NULL, NULL)) < 0) return rc;
    return echo_handler(s, NULL);
}

static int blocked_reader(void *arg, void **res) {
    (void)res;
    char b[4];
    size_t got;
    return corio_stream_read(arg, b, sizeof b, &got);
}

static int order_body(void *arg, void **res) {
    (void)arg, (void)res;
    order_sctx = server_ctx(srv_crt, srv_key);
    corio_tls_context *cctx = client_ctx();
    corio_server *srv;
    ASSERT_EQ(corio_start_server(order_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    /* a task reading: start_tls is refused, and the reader is unharmed */
    corio_task *t;
    ASSERT_EQ(corio_create_task(blocked_reader, c, "reader", &t), 0);
    ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(corio_start_tls(c, cctx, 0, "localhost", NULL), CORIO_EBUSY);
    ASSERT(corio_stream_tls_ssl(c) == NULL);
    corio_task_cancel(t, NULL);
    ASSERT_EQ(corio_await(t, NULL), CORIO_ECANCELED);
    corio_future_unref(t);
    /* a megabyte buffered plain, then the request, then start_tls at once:
     * the plain bytes go first, in order */
    char *mb = calloc(1, 1u << 20);
    ASSERT(mb);
    ASSERT_EQ(corio_stream_write(c, mb, 1u << 20), 0);
    free(mb);
    ASSERT_EQ(corio_stream_write(c, "STARTTLS\n", 9), 0);
    ASSERT_EQ(corio_stream_write(c, "", 0), 0);
    ASSERT_EQ(corio_start_tls(c, cctx, 0, "localhost", NULL), 0);
    ASSERT_EQ(corio_stream_write(c, "", 0), 0);
    ASSERT_EQ(corio_stream_write(c, NULL, 0), 0);
    ASSERT_EQ(ping(c, "over tls\n"), 0);
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_stream_write(c, "x", 1), CORIO_EFDCLOSED);
    ASSERT_EQ(corio_stream_wait_closed(c), 0);
    ASSERT_EQ(corio_stream_wait_closed(c), 0);
    char b[4];
    size_t got;
    ASSERT(corio_stream_read(c, b, 1, &got) <= 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    /* start_tls after write_eof: refused at once, as asyncio's write after
     * write_eof (not a handshake that can never finish) */
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_write_eof(c), 0);
    corio_tls_options o = {.handshake_timeout = 2};
    int rc = corio_start_tls(c, cctx, 0, "localhost", &o);
    fprintf(stderr, "start_tls after write_eof: %d %s\n", rc, errmsg());
    ASSERT_EQ(rc, CORIO_EFDCLOSED);
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    corio_tls_context_free(order_sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_wrong_order) { return run(order_body); }

/* ---- STARTTLS whose ClientHello is already in the server's read buffer
 * with the line (asyncio 3.11-3.13 strands it there: the handshake times
 * out); here it is passed on to TLS --------------------------------------- */

static int late_handler(corio_stream *s, void *arg) {
    int *rc = arg;
    const void *d;
    size_t len;
    ASSERT_EQ(corio_sleep(0.2), 0); /* the line and the ClientHello arrive together */
    if ((*rc = corio_stream_readline(s, &d, &len)) < 0) return 0;
    ASSERT_EQ(len, 9);
    if ((*rc = corio_start_tls(s, order_sctx, 1, NULL, NULL)) < 0) return 0;
    return echo_handler(s, NULL);
}

static int buffered_body(void *arg, void **res) {
    (void)arg, (void)res;
    order_sctx = server_ctx(srv_crt, srv_key);
    corio_tls_context *cctx = client_ctx();
    corio_server *srv;
    int hrc = 1;
    ASSERT_EQ(corio_start_server(late_handler, &hrc, "127.0.0.1", 0, NULL, &srv), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_write(c, "STARTTLS\n", 9), 0);
    corio_tls_options o = {.handshake_timeout = 5};
    ASSERT_EQ(corio_start_tls(c, cctx, 0, "localhost", &o), 0);
    ASSERT_EQ(hrc, 0);
    ASSERT_EQ(ping(c, "through\n"), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    corio_tls_context_free(order_sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_starttls_buffered_hello) { return run(buffered_body); }

/* ---- close / abort / free while the handshake is in flight; cancel in the
 * server's handshake; cancel in wait_closed during the shutdown timeout -------- */

static int silent_peer(corio_stream *s, void *arg) { /* plain: reads, never answers */
    (void)arg;
    const void *d;
    size_t len;
    int rc;
    while ((rc = corio_stream_read_lent(s, 1 << 20, &d, &len)) == 0 && len) {}
    return 0;
}

static int hs_client(void *arg, void **res) {
    corio_stream *c = arg;
    (void)res;
    corio_tls_context *cctx = client_ctx();
    int rc = corio_start_tls(c, cctx, 0, "localhost", NULL);
    corio_tls_context_free(cctx);
    return rc;
}

static int wc_task(void *arg, void **res) {
    (void)res;
    return corio_stream_wait_closed(arg);
}

static int midhs_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_server *plain;
    ASSERT_EQ(corio_start_server(silent_peer, NULL, "127.0.0.1", 0, NULL, &plain), 0);
    for (int how = 0; how < 3; how++) {
        corio_stream *c;
        ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(plain), &c), 0);
        corio_task *t;
        ASSERT_EQ(corio_create_task(hs_client, c, "hs", &t), 0);
        ASSERT_EQ(corio_sleep(0.02), 0); /* the ClientHello went; no answer */
        ASSERT_EQ(corio_stream_free(c), CORIO_EBUSY); /* a task is in it */
        if (how == 0) ASSERT_EQ(corio_stream_close(c), 0);
        if (how == 1) ASSERT_EQ(corio_stream_abort(c), 0);
        if (how == 2) corio_task_cancel(t, NULL);
        int rc = corio_await(t, NULL);
        fprintf(stderr, "handshake after %s: %d %s\n", how == 0 ? "close" : how == 1 ? "abort" : "cancel", rc,
                errmsg());
        ASSERT(rc < 0);
        corio_future_unref(t);
        ASSERT(corio_stream_tls_ssl(c) == NULL);
        ASSERT_EQ(corio_stream_wait_closed(c), 0);
        ASSERT_EQ(corio_stream_free(c), 0);
    }
    /* server side: clients that never send a ClientHello, the server closed
     * and its clients aborted while their handshakes wait */
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key);
    handler_ran = 0;
    corio_server *srv = tls_server(count_handler, NULL, sctx);
    corio_stream *cs[20];
    for (int i = 0; i < 20; i++) ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &cs[i]), 0);
    ASSERT_EQ(corio_sleep(0.05), 0);
    server_done(srv);
    ASSERT_EQ(handler_ran, 0);
    for (int i = 0; i < 20; i++) ASSERT_EQ(corio_stream_free(cs[i]), 0);
    /* shutdown timeout: a peer that never reads; a task waiting in
     * wait_closed is cancelled; the stream is freed with the timer armed */
    corio_tls_context *cctx = client_ctx();
    srv = tls_server(count_handler, NULL, sctx);
    for (int how = 0; how < 2; how++) {
        corio_stream *c;
        corio_tls_options o = {.shutdown_timeout = 0.2};
        /* the server's handler returns at once and the server closes its
         * side: use a plain sink instead, through start_tls on its side */
        ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", &o, &c), 0);
        size_t big = 16u << 20;
        char *junk = calloc(1, big);
        ASSERT(junk);
        (void)corio_stream_write(c, junk, big);
        free(junk);
        ASSERT_EQ(corio_stream_close(c), 0);
        corio_task *t;
        ASSERT_EQ(corio_create_task(wc_task, c, "wc", &t), 0);
        ASSERT_EQ(corio_sleep(0.01), 0);
        corio_task_cancel(t, NULL);
        int rc = corio_await(t, NULL);
        ASSERT(rc == CORIO_ECANCELED || rc < 0 || rc == 0);
        corio_future_unref(t);
        if (how == 0) {
            ASSERT_EQ(corio_stream_free(c), 0); /* the timer is armed, or the stream closed */
            ASSERT_EQ(corio_sleep(0.3), 0);     /* nothing fires on the freed stream */
        } else {
            rc = corio_stream_wait_closed(c);
            ASSERT(rc == 0 || rc == CORIO_ETIMEDOUT || rc == -ECONNRESET || rc == -EPIPE);
            ASSERT_EQ(corio_stream_free(c), 0);
        }
    }
    server_done(srv);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    server_done(plain);
    return 0;
}
TEST(tls_rev_midhandshake) { return run(midhs_body); }

/* ---- a server's connection whose close_notify never goes: its shutdown
 * timeout aborts it and the server frees it inside that timer's callback -- */

static int flood_and_return(corio_stream *s, void *arg) {
    (void)arg;
    size_t big = 16u << 20;
    char *junk = calloc(1, big);
    ASSERT(junk);
    (void)corio_stream_write(s, junk, big);
    free(junk);
    return 0; /* the server closes: close_notify waits behind 16 MiB */
}

static int srvshut_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    corio_server_options o = {.tls = sctx, .tls_shutdown_timeout = 0.2};
    corio_server *srv;
    ASSERT_EQ(corio_start_server(flood_and_return, NULL, "127.0.0.1", 0, &o, &srv), 0);
    corio_stream *c[3];
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c[i]), 0);
    ASSERT_EQ(corio_server_close(srv), 0);
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(5, &cm), 0);
    ASSERT_EQ(corio_timeout_exit(cm, corio_server_wait_closed(srv)), 0); /* the timeouts ended them */
    ASSERT_EQ(corio_server_free(srv), 0);
    for (int i = 0; i < 3; i++) {
        const void *d;
        size_t len;
        int rc;
        size_t total = 0;
        while ((rc = corio_stream_read_lent(c[i], 1 << 20, &d, &len)) == 0 && len) total += len;
        ASSERT(rc == -ECONNRESET || rc == 0);
        ASSERT(total < (16u << 20));
        ASSERT_EQ(corio_stream_free(c[i]), 0);
    }
    corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_server_shutdown_timeout) { return run(srvshut_body); }

/* ---- a context used on the wrong side: refused at once, as CPython's
 * "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context" ------- */

static int wrong_side_handler(corio_stream *s, void *arg) {
    (void)arg;
    int *rc = arg;
    (void)s;
    (*rc)++;
    return 0;
}

static corio_tls_context *side_cctx;
static int side_rc = 1;
static int side_server(corio_stream *s, void *arg) {
    (void)arg;
    side_rc = corio_start_tls(s, side_cctx, 1, NULL, NULL); /* a client's context, server side */
    return 0;
}

static int side_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key);
    side_cctx = client_ctx();
    corio_server *srv;
    ASSERT_EQ(corio_start_server(side_server, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    for (int i = 0; i < 200 && side_rc == 1; i++) ASSERT_EQ(corio_sleep(0.005), 0);
    fprintf(stderr, "a client context on the server side: %d %s\n", side_rc, errmsg());
    ASSERT_EQ(side_rc, CORIO_EINVAL);
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    int handled = 0;
    srv = tls_server(wrong_side_handler, &handled, sctx);
    /* a server's context for a client */
    int rc = corio_open_tls_connection("127.0.0.1", port_of(srv), sctx, "localhost", NULL, &c);
    fprintf(stderr, "a server context on the client side: %d %s\n", rc, errmsg());
    ASSERT_EQ(rc, CORIO_EINVAL);
    server_done(srv);
    corio_tls_context_free(sctx), corio_tls_context_free(side_cctx);
    return 0;
}
TEST(tls_rev_wrong_side_context) { return run(side_body); }

/* ---- a failed allocation while a TLS write buffers its ciphertext: the
 * record OpenSSL made must not vanish (the peer would then find the next
 * one's MAC wrong), the write's failure must not turn into corruption ----- */

long corio__fail_after(long nth);

static corio_event *nomem_go;
static int nomem_rc = 1;
static size_t nomem_total;

static int nomem_reader(corio_stream *s, void *arg) {
    (void)arg;
    if (corio_event_wait(nomem_go) < 0) return 0;
    const void *d;
    size_t len;
    int rc;
    while ((rc = corio_stream_read_lent(s, 1 << 20, &d, &len)) == 0 && len) nomem_total += len;
    nomem_rc = rc;
    return 0;
}

static int nomem_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    ASSERT_EQ(corio_event_new(&nomem_go), 0);
    corio_server *srv = tls_server(nomem_reader, NULL, sctx);
    corio_stream *c;
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), 0);
    size_t big = 8u << 20, sent = 0;
    char *junk = calloc(1, big);
    ASSERT(junk);
    ASSERT_EQ(corio_stream_write(c, junk, big), 0); /* the peer does not read yet: most is buffered */
    sent += big;
    corio__fail_after(1);
    int rc = corio_stream_write(c, junk, big); /* the buffer must grow: that fails */
    corio__fail_after(0);
    fprintf(stderr, "a write whose buffer cannot grow: %d\n", rc);
    if (rc == 0) sent += big;
    int rc2 = corio_stream_write(c, "tail", 4);
    fprintf(stderr, "the next write: %d\n", rc2);
    if (rc2 == 0) sent += 4;
    free(junk);
    corio_event_set(nomem_go);
    (void)corio_stream_close(c);
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(10, &cm), 0);
    (void)corio_timeout_exit(cm, corio_stream_wait_closed(c));
    for (int i = 0; i < 1000 && nomem_rc == 1; i++) ASSERT_EQ(corio_sleep(0.005), 0);
    fprintf(stderr, "the server read %zu of %zu: %d\n", nomem_total, sent, nomem_rc);
    /* what the client was told went is what arrived, or the stream failed
     * for good; never a MAC failure at the peer after a write said 0 */
    if (rc2 == 0) {
        ASSERT_EQ(nomem_rc, 0);
        ASSERT_EQ(nomem_total, sent);
    }
    ASSERT(nomem_rc != CORIO_ETLS);
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    corio_event_free(nomem_go);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_write_nomem) { return run(nomem_body); }

/* ---- a context freed while streams use it (a server's with ALPN too) ------------ */

static int ctxfree_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    corio_server *srv = tls_server(echo_handler, NULL, sctx);
    corio_stream *c;
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), 0);
    corio_tls_context_free(cctx); /* the stream keeps what it needs */
    ASSERT_EQ(ping(c, "after free\n"), 0);
    /* a task in a read: free is refused; close wakes the reader */
    corio_task *t;
    ASSERT_EQ(corio_create_task(blocked_reader, c, "reader", &t), 0);
    ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(corio_stream_free(c), CORIO_EBUSY);
    ASSERT_EQ(corio_stream_close(c), 0);
    int rc = corio_await(t, NULL);
    fprintf(stderr, "a TLS read when its stream closes: %d\n", rc);
    ASSERT(rc == CORIO_EFDCLOSED || rc == 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_stream_wait_closed(c), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    corio_tls_context_free(sctx);
    return 0;
}
TEST(tls_rev_context_free) { return run(ctxfree_body); }

/* ---- a server's context with ALPN freed while its stream handshakes
 * (corio_tls_context_free: "streams made with it keep what they need") --- */

static corio_tls_context *alpn_sctx;
static char alpn_seen[16];
static int alpn_rc = 1;

static int alpn_server(corio_stream *s, void *arg) {
    (void)arg;
    const void *d;
    size_t len;
    if (corio_stream_readline(s, &d, &len) < 0) return 0;
    (void)corio_stream_write(s, "GO\n", 3);
    alpn_rc = corio_start_tls(s, alpn_sctx, 1, NULL, NULL); /* the context is freed while this waits */
    if (alpn_rc == 0 && corio_stream_tls_alpn(s)) snprintf(alpn_seen, sizeof alpn_seen, "%s", corio_stream_tls_alpn(s));
    return alpn_rc == 0 ? echo_handler(s, NULL) : 0;
}

static int alpnfree_body(void *arg, void **res) {
    (void)arg, (void)res;
    alpn_sctx = server_ctx(srv_crt, srv_key);
    corio_tls_context *cctx = client_ctx();
    const char *sp[] = {"h2", "http/1.1"}, *cp[] = {"http/1.1", "h2"};
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(alpn_sctx, sp, 2), 0);
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(cctx, cp, 2), 0);
    corio_server *srv;
    ASSERT_EQ(corio_start_server(alpn_server, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_write(c, "STARTTLS\n", 9), 0);
    const void *d;
    size_t len;
    ASSERT_EQ(corio_stream_readline(c, &d, &len), 0);
    ASSERT_EQ(corio_sleep(0.02), 0); /* the server is in its handshake, waiting for the ClientHello */
    corio_tls_context_free(alpn_sctx);
    ASSERT_EQ(corio_start_tls(c, cctx, 0, "localhost", NULL), 0);
    ASSERT_STR(corio_stream_tls_alpn(c), "h2"); /* the server's preference */
    ASSERT_EQ(ping(c, "alpn\n"), 0);
    ASSERT_EQ(alpn_rc, 0);
    ASSERT_STR(alpn_seen, "h2");
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_rev_alpn_context_freed) { return run(alpnfree_body); }

/* ---- many connections, then the loop closes with handshakes in flight ---------- */

static corio_server *loopclose_srv;
static corio_stream *loopclose_c[40];
static corio_tls_context *loopclose_sctx;

/* Plain clients that send half a ClientHello or nothing: the server's
 * handshakes wait when the loop closes and destroys their tasks. */
static int loopclose_main(void *arg, void **res) {
    (void)arg, (void)res;
    corio_server_options o = {.tls = loopclose_sctx};
    ASSERT_EQ(corio_start_server(echo_handler, NULL, "127.0.0.1", 0, &o, &loopclose_srv), 0);
    static const unsigned char half[] = {22, 3, 1, 2, 0, 1, 0, 1, 252, 3, 3};
    for (int i = 0; i < 40; i++) {
        ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(loopclose_srv), &loopclose_c[i]), 0);
        if (i % 2) ASSERT_EQ(corio_stream_write(loopclose_c[i], half, sizeof half), 0);
    }
    ASSERT_EQ(corio_sleep(0.05), 0);
    return 0;
}

TEST(tls_rev_loop_close_inflight) {
    corio_tls_context *probe;
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &probe), 0);
    corio_tls_context_free(probe);
    certs_make();
    loopclose_sctx = server_ctx(srv_crt, srv_key);
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_loop_set_exception_handler(loop, quiet, NULL);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, loopclose_main, NULL, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_server_free(loopclose_srv), 0);
    for (int i = 0; i < 40; i++) ASSERT_EQ(corio_stream_free(loopclose_c[i]), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    corio_tls_context_free(loopclose_sctx);
    certs_remove();
    return 0;
}

/* ---- two loops in two threads, with errors, at once (TSan) -------------------- */

typedef struct thread_job {
    int ok, bad;
    pthread_t th;
} thread_job;

static int thread_body(void *arg, void **res) {
    (void)res;
    thread_job *j = arg;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx(), *nocas;
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &nocas), 0);
    corio_server *srv = tls_server(echo_handler, NULL, sctx);
    for (int i = 0; i < 15; i++) {
        corio_stream *c;
        ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), 0);
        ASSERT_EQ(ping(c, "thread\n"), 0);
        ASSERT_EQ(corio_stream_free(c), 0);
        j->ok++;
        int rc = corio_open_tls_connection("127.0.0.1", port_of(srv), nocas, "localhost", NULL, &c);
        ASSERT_EQ(rc, CORIO_ECERT);
        ASSERT(strstr(errmsg(), "unable to get local issuer certificate"));
        rc = corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "wrong.example", NULL, &c);
        ASSERT_EQ(rc, CORIO_ECERT);
        ASSERT(strstr(errmsg(), "Hostname mismatch"));
        ASSERT(ERR_peek_error() == 0); /* this thread's queue is left empty */
        j->bad++;
    }
    server_done(srv);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx), corio_tls_context_free(nocas);
    return 0;
}

static void *thread_main(void *arg) {
    on_loop(thread_body, arg);
    return NULL;
}

TEST(tls_rev_threads) {
    corio_tls_context *probe;
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &probe), 0);
    corio_tls_context_free(probe);
    certs_make();
    thread_job j[3] = {{0}};
    for (int i = 0; i < 3; i++) ASSERT_EQ(pthread_create(&j[i].th, NULL, thread_main, &j[i]), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(pthread_join(j[i].th, NULL), 0);
        ASSERT_EQ(j[i].ok, 15);
        ASSERT_EQ(j[i].bad, 15);
    }
    certs_remove();
    return 0;
}

#else /* built without OpenSSL */

static int no_tls(void) {
    fprintf(stderr, "corio built without OpenSSL (Debian: libssl-dev): skipped\n");
    return TEST_SKIP;
}
TEST(tls_rev_keyupdate) { return no_tls(); }
TEST(tls_rev_renegotiate) { return no_tls(); }
TEST(tls_rev_byte_by_byte) { return no_tls(); }
TEST(tls_rev_garbage_truncation) { return no_tls(); }
TEST(tls_rev_plaintext_peers) { return no_tls(); }
TEST(tls_rev_server_hostname) { return no_tls(); }
TEST(tls_rev_bad_timeouts) { return no_tls(); }
TEST(tls_rev_alpn_names) { return no_tls(); }
TEST(tls_rev_wrong_order) { return no_tls(); }
TEST(tls_rev_midhandshake) { return no_tls(); }
TEST(tls_rev_context_free) { return no_tls(); }
TEST(tls_rev_alpn_context_freed) { return no_tls(); }
TEST(tls_rev_write_nomem) { return no_tls(); }
TEST(tls_rev_starttls_buffered_hello) { return no_tls(); }
TEST(tls_rev_alerts_in_handshake) { return no_tls(); }
TEST(tls_rev_wrong_side_context) { return no_tls(); }
TEST(tls_rev_noverify_errors) { return no_tls(); }
TEST(tls_rev_server_shutdown_timeout) { return no_tls(); }
TEST(tls_rev_loop_close_inflight) { return no_tls(); }
TEST(tls_rev_threads) { return no_tls(); }

#endif
