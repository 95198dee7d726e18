/* TLS streams (io.md 5) on loopback: certificates made here at run time
 * with OpenSSL (a CA, a server certificate for localhost and 127.0.0.1,
 * an expired one, a self-signed one), echo round trips of megabytes both
 * ways at once, readline/readuntil over TLS, start_tls, each verification
 * failure, a protocol mismatch, a peer that closes mid-handshake or never
 * answers, close_notify and the shutdown timeout, cancellation at every
 * step, a server with many TLS connections, bad input. Without OpenSSL
 * every test skips (libssl-dev). */
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef CORIO_TEST_OPENSSL
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ---- certificates, made at run time ------------------------------------------ */

static char dir[64];
static char ca_pem[96], srv_crt[96], srv_key[96], exp_crt[96], self_crt[96];

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    ASSERT(e);
    ASSERT(X509_add_ext(x, e, -1));
    X509_EXTENSION_free(e);
}

/* A certificate for key, named cn, valid from `from` to `to` seconds from
 * now, signed by issuer (NULL: itself). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, long from, long to,
                       int ca) {
    static long serial = 1;
    X509 *x = X509_new();
    ASSERT(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509 *by = issuer ? issuer : x;
    add_ext(x, by, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    add_ext(x, by, NID_subject_key_identifier, "hash");
    if (ca) add_ext(x, by, NID_key_usage, "critical,keyCertSign,cRLSign");
    else add_ext(x, by, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
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
    snprintf(dir, sizeof dir, "/tmp/corio-tls-XXXXXX");
    ASSERT(mkdtemp(dir));
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", dir);
    snprintf(srv_crt, sizeof srv_crt, "%s/server.pem", dir);
    snprintf(srv_key, sizeof srv_key, "%s/server.key", dir);
    snprintf(exp_crt, sizeof exp_crt, "%s/expired.pem", dir);
    snprintf(self_crt, sizeof self_crt, "%s/self.pem", dir);
    EVP_PKEY *cakey = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    ASSERT(cakey && key);
    X509 *ca = make_cert(cakey, "corio test CA", NULL, NULL, -3600, 86400, 1);
    X509 *srv = make_cert(key, "localhost", ca, cakey, -3600, 86400, 0);
    X509 *old = make_cert(key, "localhost", ca, cakey, -3 * 86400, -86400, 0);
    X509 *self = make_cert(key, "localhost", NULL, NULL, -3600, 86400, 0);
    write_pem(ca_pem, ca, NULL);
    write_pem(srv_crt, srv, NULL);
    write_pem(srv_key, NULL, key);
    write_pem(exp_crt, old, key); /* certificate and key in one file */
    write_pem(self_crt, self, key);
    X509_free(ca), X509_free(srv), X509_free(old), X509_free(self);
    EVP_PKEY_free(cakey), EVP_PKEY_free(key);
}

static void certs_remove(void) {
    const char *files[] = {ca_pem, srv_crt, srv_key, exp_crt, self_crt};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) unlink(files[i]);
    rmdir(dir);
}

/* ---- helpers ------------------------------------------------------------------ */

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

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + (i >> 9)); }

/* Echo until EOF: whatever comes goes back. */
static int echo_handler(corio_stream *s, void *arg) {
    int *handled = arg;
    if (handled) (*handled)++;
    const void *data;
    size_t len;
    int rc;
    while ((rc = corio_stream_read_lent(s, 256 * 1024, &data, &len)) == 0 && len > 0) {
        if ((rc = corio_stream_write(s, data, len)) < 0 || (rc = corio_stream_drain(s)) < 0) break;
    }
    /* a client that went away (cancelled, aborted): not the server's fault */
    return rc == -ECONNRESET || rc == -EPIPE || rc == CORIO_EFDCLOSED ? 0 : rc;
}

static corio_server *tls_server(corio_stream_handler h, void *arg, corio_tls_context *ctx) {
    corio_server_options o = {.tls = ctx, .limit = 1 << 20};
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

/* ---- echo: megabytes both ways at once, lines ------------------------------- */

#define BIG (4u << 20)

static int big_writer(void *arg, void **res) {
    (void)res;
    corio_stream *c = arg;
    static unsigned char chunk[65536]; /* not on the task's stack */
    for (size_t off = 0; off < BIG; off += sizeof chunk) {
        for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = pattern(off + i);
        int rc = corio_stream_write(c, chunk, sizeof chunk);
        if (rc == 0) rc = corio_stream_drain(c);
        if (rc < 0) return rc;
    }
    return 0;
}

static int echo_body(void *arg, void **res) {
    (void)arg, (void)res;
    int handled = 0;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    corio_server *srv = tls_server(echo_handler, &handled, sctx);
    corio_stream *c;
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), 0);
    ASSERT_STR(corio_stream_tls_version(c), "TLSv1.3");
    ASSERT(corio_stream_tls_cipher(c) != NULL);
    ASSERT(corio_stream_tls_ssl(c) != NULL);
    char subj[128];
    ASSERT_EQ(corio_stream_tls_peer_subject(c, subj, sizeof subj), 0);
    ASSERT_STR(subj, "CN = localhost");
    ASSERT_EQ(corio_stream_can_write_eof(c), 0);
    /* lines, and a separator split across records */
    ASSERT_EQ(corio_stream_write(c, "hello\nwor", 9), 0);
    ASSERT_EQ(corio_stream_write(c, "ld\r\n--end--", 11), 0);
    const void *data;
    size_t len;
    ASSERT_EQ(corio_stream_readline(c, &data, &len), 0);
    ASSERT_EQ(len, 6);
    ASSERT(memcmp(data, "hello\n", 6) == 0);
    ASSERT_EQ(corio_stream_readuntil(c, "\r\n", 2, &data, &len), 0);
    ASSERT_EQ(len, 7);
    ASSERT(memcmp(data, "world\r\n", 7) == 0);
    ASSERT_EQ(corio_stream_readuntil(c, "--end--", 7, &data, &len), 0);
    /* megabytes both ways at once */
    corio_task *w;
    ASSERT_EQ(corio_create_task(big_writer, c, "writer", &w), 0);
    unsigned char *got = malloc(BIG);
    ASSERT(got);
    size_t n = 0;
    ASSERT_EQ(corio_stream_readexactly(c, got, BIG, &n), 0);
    ASSERT_EQ(n, BIG);
    for (size_t i = 0; i < BIG; i++)
        if (got[i] != pattern(i)) ASSERT_EQ(i, -1);
    free(got);
    ASSERT_EQ(corio_await(w, NULL), 0);
    corio_future_unref(w);
    /* close sends close_notify: the server reads EOF and closes too */
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_stream_wait_closed(c), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(handled, 1);
    server_done(srv);
    corio_tls_context_free(sctx);
    corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_echo_big) { return run(echo_body); }

/* ---- verification failures ------------------------------------------------------ */

static int expect_cert_error(corio_tls_context *sctx, corio_tls_context *cctx, const char *host,
                             const char *host_name, const char *why) {
    int handled = 0;
    corio_server *srv = tls_server(echo_handler, &handled, sctx);
    corio_stream *c = (corio_stream *)1;
    int rc = corio_open_tls_connection(host, port_of(srv), cctx, host_name, NULL, &c);
    ASSERT_EQ(rc, CORIO_ECERT);
    ASSERT(c == NULL);
    if (!strstr(errmsg(), why)) {
        fprintf(stderr, "message: %s (wanted %s)\n", errmsg(), why);
        ASSERT(0);
    }
    ASSERT(strstr(errmsg(), "certificate verify failed"));
    fprintf(stderr, "%s\n", errmsg());
    server_done(srv);
    ASSERT_EQ(handled, 0); /* the server's handshake failed too: no handler */
    return 0;
}

static int verify_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *good = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    corio_tls_context *expired = server_ctx(exp_crt, NULL), *self = server_ctx(self_crt, NULL);
    expect_cert_error(good, cctx, "127.0.0.1", "example.com", "Hostname mismatch");
    expect_cert_error(good, cctx, "127.0.0.1", "127.0.0.2", "IP address mismatch");
    expect_cert_error(expired, cctx, "127.0.0.1", "localhost", "certificate has expired");
    expect_cert_error(self, cctx, "127.0.0.1", "localhost", "self-signed certificate");
    /* The system store does not know the test CA. */
    corio_tls_context *sys;
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &sys), 0);
    expect_cert_error(good, sys, "127.0.0.1", "localhost", "unable to get local issuer certificate");
    /* ... a NULL context is that default one */
    expect_cert_error(good, NULL, "127.0.0.1", "localhost", "unable to get local issuer certificate");
    /* The host defaults to the address, checked against the IP names. */
    corio_server *srv = tls_server(echo_handler, NULL, good);
    corio_stream *c;
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, NULL, NULL, &c), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    /* Opting out: the self-signed one is taken. */
    ASSERT_EQ(corio_tls_context_set_verify(sys, 0), 0);
    server_done(srv);
    srv = tls_server(echo_handler, NULL, self);
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), sys, "wrong.name", NULL, &c), 0);
    ASSERT_EQ(corio_stream_write(c, "x\n", 2), 0);
    const void *d;
    size_t len;
    ASSERT_EQ(corio_stream_readline(c, &d, &len), 0);
    ASSERT_EQ(len, 2);
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    corio_tls_context_free(sys);
    corio_tls_context_free(good), corio_tls_context_free(cctx);
    corio_tls_context_free(expired), corio_tls_context_free(self);
    return 0;
}
TEST(tls_verify_errors) { return run(verify_body); }

/* ---- a protocol mismatch ------------------------------------------------------- */

static int mismatch_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    ASSERT_EQ(corio_tls_context_set_versions(sctx, CORIO_TLS1_3, 0), 0);
    ASSERT_EQ(corio_tls_context_set_versions(cctx, 0, CORIO_TLS1_2), 0);
    ASSERT_EQ(corio_tls_context_set_versions(cctx, CORIO_TLS1_3, CORIO_TLS1_2), CORIO_EINVAL);
    ASSERT_EQ(corio_tls_context_set_versions(cctx, 0x0301, 0), CORIO_EINVAL);
    int handled = 0;
    corio_server *srv = tls_server(echo_handler, &handled, sctx);
    corio_stream *c;
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), CORIO_ETLS);
    fprintf(stderr, "mismatch: %s\n", errmsg());
    ASSERT(strstr(errmsg(), "protocol version"));
    ASSERT(strstr(errmsg(), "TLS handshake with 127.0.0.1:"));
    server_done(srv);
    ASSERT_EQ(handled, 0);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_protocol_mismatch) { return run(mismatch_body); }

/* ---- peers that break the handshake --------------------------------------------- */

static int read_some_and_close(corio_stream *s, void *arg) {
    (void)arg;
    char buf[8];
    size_t got;
    return corio_stream_read(s, buf, sizeof buf, &got);
}

static int read_forever(corio_stream *s, void *arg) {
    (void)arg;
    const void *d;
    size_t len;
    int rc = corio_stream_read_all(s, &d, &len); /* ends when the client gives up */
    return rc == -ECONNRESET ? 0 : rc;
}

static int broken_peers_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *cctx = client_ctx(), *sctx = server_ctx(srv_crt, srv_key);
    corio_server *srv;
    corio_stream *c;
    /* the peer closes mid-handshake: asyncio's ConnectionResetError */
    ASSERT_EQ(corio_start_server(read_some_and_close, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), -ECONNRESET);
    ASSERT(strstr(errmsg(), "connection lost"));
    server_done(srv);
    /* the peer never answers: the handshake timeout */
    ASSERT_EQ(corio_start_server(read_forever, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    corio_tls_options o = {.handshake_timeout = 0.2};
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", &o, &c), CORIO_ETIMEDOUT);
    ASSERT(strstr(errmsg(), "timed out"));
    /* a timeout scope around it works the same */
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(0.1, &cm), 0);
    int rc = corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c);
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    server_done(srv);
    /* a plain client to a TLS server: the server's handshake fails, no handler */
    int handled = 0;
    srv = tls_server(echo_handler, &handled, sctx);
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_write(c, "GET / HTTP/1.0\r\n\r\n", 18), 0);
    const void *d;
    size_t len;
    rc = corio_stream_read_all(c, &d, &len);
    ASSERT(rc == 0 || rc == -ECONNRESET);
    ASSERT_EQ(corio_stream_free(c), 0);
    /* a TLS client whose server side has a short handshake timeout */
    server_done(srv);
    corio_server_options so = {.tls = sctx, .tls_handshake_timeout = 0.1};
    ASSERT_EQ(corio_start_server(echo_handler, &handled, "127.0.0.1", 0, &so, &srv), 0);
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    rc = corio_stream_read_all(c, &d, &len); /* says nothing: the server gives up */
    ASSERT(rc == 0 || rc == -ECONNRESET);
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    ASSERT_EQ(handled, 0);
    corio_tls_context_free(cctx), corio_tls_context_free(sctx);
    return 0;
}
TEST(tls_broken_handshakes) { return run(broken_peers_body); }

/* ---- start_tls: STARTTLS on a plain connection ------------------------------------ */

static corio_tls_context *starttls_sctx;

static int starttls_handler(corio_stream *s, void *arg) {
    (void)arg;
    const void *d;
    size_t len;
    int rc = corio_stream_readline(s, &d, &len);
    if (rc < 0) return rc;
    ASSERT(len == 9 && memcmp(d, "STARTTLS\n", 9) == 0);
    ASSERT_EQ(corio_stream_write(s, "GO\n", 3), 0);
    if ((rc = corio_start_tls(s, starttls_sctx, 1, NULL, NULL)) < 0) return rc;
    ASSERT_STR(corio_stream_tls_version(s), "TLSv1.3");
    return echo_handler(s, NULL);
}

static int starttls_body(void *arg, void **res) {
    (void)arg, (void)res;
    starttls_sctx = server_ctx(srv_crt, srv_key);
    corio_tls_context *cctx = client_ctx();
    corio_server *srv;
    ASSERT_EQ(corio_start_server(starttls_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT(corio_stream_tls_version(c) == NULL);
    ASSERT_EQ(corio_stream_write(c, "STARTTLS\n", 9), 0);
    const void *d;
    size_t len;
    ASSERT_EQ(corio_stream_readline(c, &d, &len), 0);
    ASSERT_EQ(len, 3);
    ASSERT_EQ(corio_start_tls(c, cctx, 0, "localhost", NULL), 0);
    ASSERT_EQ(corio_start_tls(c, cctx, 0, "localhost", NULL), CORIO_EINVAL); /* twice */
    ASSERT_EQ(corio_stream_write(c, "secret\n", 7), 0);
    ASSERT_EQ(corio_stream_readline(c, &d, &len), 0);
    ASSERT_EQ(len, 7);
    ASSERT(memcmp(d, "secret\n", 7) == 0);
    ASSERT_EQ(corio_stream_write_eof(c), -EOPNOTSUPP);
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_stream_wait_closed(c), 0);
    ASSERT_EQ(corio_start_tls(c, cctx, 0, "localhost", NULL), CORIO_EINVAL); /* TLS already */
    ASSERT_EQ(corio_stream_free(c), 0);
    /* start_tls on a closed plain stream */
    ASSERT_EQ(corio_open_connection("127.0.0.1", port_of(srv), &c), 0);
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_start_tls(c, cctx, 0, "localhost", NULL), CORIO_EFDCLOSED);
    ASSERT_EQ(corio_start_tls(c, NULL, 0, "localhost", NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_start_tls(NULL, cctx, 0, "localhost", NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    corio_tls_context_free(starttls_sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_start_tls) { return run(starttls_body); }

/* ---- shutdown: close_notify, and a peer that never reads --------------------------- */

static corio_event *release_ev;

static int never_reads(corio_stream *s, void *arg) {
    (void)s, (void)arg;
    return corio_event_wait(release_ev);
}

static int eof_reader(corio_stream *s, void *arg) {
    int *eof_seen = arg;
    const void *d;
    size_t len;
    int rc = corio_stream_read_all(s, &d, &len);
    if (rc == 0 && len == 5 && corio_stream_at_eof(s)) *eof_seen = 1;
    return rc;
}

static size_t counted;
static int count_rc = 1;

static int count_reader(corio_stream *s, void *arg) {
    (void)arg;
    const void *d;
    size_t len;
    int rc;
    while ((rc = corio_stream_read_lent(s, 1 << 20, &d, &len)) == 0 && len > 0) counted += len;
    count_rc = rc; /* set once: the end */
    return 0;
}

static int shutdown_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    int eof_seen = 0;
    corio_server *srv = tls_server(eof_reader, &eof_seen, sctx);
    corio_stream *c;
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), 0);
    ASSERT_EQ(corio_stream_write(c, "bye!\n", 5), 0);
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_stream_write(c, "x", 1), CORIO_EFDCLOSED);
    ASSERT_EQ(corio_stream_wait_closed(c), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(corio_server_close(srv), 0);
    ASSERT_EQ(corio_server_wait_closed(srv), 0); /* the server closed its side after the EOF */
    ASSERT_EQ(corio_server_free(srv), 0);
    ASSERT_EQ(eof_seen, 1);
    /* a client that only writes, then closes: every byte arrives (the
     * session tickets it never read must not turn its close into a reset,
     * which would drop the tail at the server) */
    srv = tls_server(count_reader, NULL, sctx);
    for (int round = 0; round < 4; round++) {
        counted = 0, count_rc = 1;
        ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), 0);
        size_t total = 24u << 20;
        char *blob = calloc(1, total);
        ASSERT(blob);
        ASSERT_EQ(corio_stream_write(c, blob, total), 0);
        free(blob);
        ASSERT_EQ(corio_stream_close(c), 0);
        ASSERT_EQ(corio_stream_wait_closed(c), 0);
        ASSERT_EQ(corio_stream_free(c), 0);
        for (int i = 0; i < 1000 && count_rc == 1; i++) ASSERT_EQ(corio_sleep(0.005), 0);
        ASSERT_EQ(count_rc, 0);
        ASSERT_EQ(counted, total);
    }
    server_done(srv);
    /* the server's close_notify reaches the client as EOF */
    srv = tls_server(read_some_and_close, NULL, sctx);
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), 0);
    ASSERT_EQ(corio_stream_write(c, "12345678", 8), 0);
    const void *d;
    size_t len;
    ASSERT_EQ(corio_stream_read_all(c, &d, &len), 0);
    ASSERT_EQ(len, 0);
    ASSERT(corio_stream_at_eof(c));
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    /* a peer that never reads: close gives up after shutdown_timeout */
    ASSERT_EQ(corio_event_new(&release_ev), 0);
    srv = tls_server(never_reads, NULL, sctx);
    corio_tls_options o = {.shutdown_timeout = 0.3};
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", &o, &c), 0);
    size_t big = 32u << 20;
    char *junk = calloc(1, big);
    ASSERT(junk);
    ASSERT_EQ(corio_stream_write(c, junk, big), 0);
    free(junk);
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_stream_wait_closed(c), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_stream_free(c), 0);
    corio_event_set(release_ev);
    server_done(srv);
    ASSERT_EQ(corio_event_free(release_ev), 0);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_shutdown) { return run(shutdown_body); }

/* ---- cancellation at every step --------------------------------------------------- */

static int client_round(void *arg, void **res) {
    (void)res;
    void **a = arg;
    corio_tls_context *cctx = a[0];
    int port = *(int *)a[1];
    corio_stream *c;
    int rc = corio_open_tls_connection("127.0.0.1", port, cctx, "localhost", NULL, &c);
    if (rc < 0) return rc;
    const void *d;
    size_t len;
    if ((rc = corio_stream_write(c, "ping\n", 5)) == 0 && (rc = corio_stream_readline(c, &d, &len)) == 0) {
        ASSERT_EQ(len, 5);
        ASSERT_EQ(corio_stream_close(c), 0);
        rc = corio_stream_wait_closed(c);
    }
    corio_stream_free(c);
    return rc;
}

static int cancel_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    corio_server *srv = tls_server(echo_handler, NULL, sctx);
    int port = port_of(srv), cancelled = 0, done = 0;
    void *a[2] = {cctx, &port};
    for (int k = 0; k < 60; k++) {
        corio_task *t;
        ASSERT_EQ(corio_create_task(client_round, a, "client", &t), 0);
        for (int i = 0; i < k; i++) ASSERT_EQ(corio_sleep(i % 3 ? 0 : 0.0005), 0);
        corio_task_cancel(t, NULL);
        int rc = corio_await(t, NULL);
        ASSERT(rc == 0 || rc == CORIO_ECANCELED);
        rc == 0 ? done++ : cancelled++;
        corio_future_unref(t);
    }
    ASSERT(cancelled > 0);
    /* a deadline that falls anywhere in the round: in connect, in each of
     * the handshake's steps (the keys take real time to compute), in the
     * reads and the close */
    int expired = 0;
    for (int k = 0; k < 80; k++) {
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(k * 0.00005, &cm), 0);
        int rc = corio_timeout_exit(cm, client_round(a, NULL));
        ASSERT(rc == 0 || rc == CORIO_ETIMEDOUT);
        rc == 0 ? done++ : expired++;
    }
    ASSERT(expired > 0);
    /* and with timeouts in the middle of reads over TLS */
    corio_stream *c;
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port, cctx, "localhost", NULL, &c), 0);
    for (int i = 0; i < 3; i++) {
        corio_timeout *cm;
        const void *d;
        size_t len;
        ASSERT_EQ(corio_timeout_enter(0.02, &cm), 0);
        int rc = corio_stream_readline(c, &d, &len);
        ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    }
    ASSERT_EQ(corio_stream_write(c, "after\n", 6), 0);
    const void *d;
    size_t len;
    ASSERT_EQ(corio_stream_readline(c, &d, &len), 0);
    ASSERT_EQ(len, 6);
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    fprintf(stderr, "cancelled %d, timed out %d, completed %d\n", cancelled, expired, done);
    return 0;
}
TEST(tls_cancel_everywhere) { return run(cancel_body); }

/* ---- a read cancelled in the middle of a record keeps it --------------------
 * A plain proxy between client and server passes the server's bytes on in
 * pieces of 5, a millisecond apart, once `slow` is set: each record comes in
 * hundreds of pieces, and reads with 3 ms deadlines time out in the middle
 * of one again and again; the line still comes whole. */

static int slow;
static int proxy_port;
static int ping(corio_stream *c);

typedef struct pipe_ends {
    corio_stream *from, *to;
} pipe_ends;

static int pump(void *arg, void **res) {
    (void)res;
    pipe_ends *p = arg;
    char buf[8192]; /* a task's stack is 64 KiB */
    size_t got;
    int rc;
    while ((rc = corio_stream_read(p->from, buf, slow ? 5 : sizeof buf, &got)) == 0 && got > 0) {
        if ((rc = corio_stream_write(p->to, buf, got)) < 0 || (rc = corio_stream_drain(p->to)) < 0) break;
        if (slow && (rc = corio_sleep(0.001)) < 0) break;
    }
    corio_stream_close(p->to);
    return 0;
}

static int proxy_handler(corio_stream *s, void *arg) {
    (void)arg;
    corio_stream *up;
    ASSERT_EQ(corio_open_connection("127.0.0.1", proxy_port, &up), 0);
    pipe_ends a = {s, up}, b = {up, s};
    corio_task *t;
    ASSERT_EQ(corio_create_task(pump, &a, "up", &t), 0);
    pump(&b, NULL);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    corio_stream_wait_closed(up);
    ASSERT_EQ(corio_stream_free(up), 0);
    return 0;
}

static int midrecord_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    corio_server *srv = tls_server(echo_handler, NULL, sctx), *proxy;
    proxy_port = port_of(srv);
    slow = 0;
    ASSERT_EQ(corio_start_server(proxy_handler, NULL, "127.0.0.1", 0, NULL, &proxy), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(proxy), cctx, "localhost", NULL, &c), 0);
    slow = 1;
    ASSERT_EQ(ping(c), 0); /* the pump's read asked for before `slow` ends with it */
    char line[3001];
    for (size_t i = 0; i < 3000; i++) line[i] = (char)('a' + i % 26);
    line[3000] = '\n';
    ASSERT_EQ(corio_stream_write(c, line, sizeof line), 0);
    int timeouts = 0, rc;
    const void *d;
    size_t len;
    do {
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter(0.003, &cm), 0);
        rc = corio_timeout_exit(cm, corio_stream_readline(c, &d, &len));
        if (rc == CORIO_ETIMEDOUT) timeouts++;
    } while (rc == CORIO_ETIMEDOUT && timeouts < 5000);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(len, sizeof line);
    ASSERT(memcmp(d, line, sizeof line) == 0);
    ASSERT(timeouts > 10);
    fprintf(stderr, "the line came whole after %d timed-out reads\n", timeouts);
    slow = 0;
    ASSERT_EQ(corio_stream_close(c), 0);
    ASSERT_EQ(corio_stream_wait_closed(c), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    ASSERT_EQ(corio_server_close(proxy), 0);
    ASSERT_EQ(corio_server_wait_closed(proxy), 0);
    ASSERT_EQ(corio_server_free(proxy), 0);
    server_done(srv);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_cancel_mid_record) { return run(midrecord_body); }

/* ---- a server with many TLS connections at once ------------------------------------ */

static int many_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx();
    int handled = 0;
    corio_server *srv = tls_server(echo_handler, &handled, sctx);
    int port = port_of(srv);
    void *a[2] = {cctx, &port};
    enum { N = 64 };
    corio_task *t[N];
    for (int i = 0; i < N; i++) ASSERT_EQ(corio_create_task(client_round, a, "client", &t[i]), 0);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(corio_await(t[i], NULL), 0);
        corio_future_unref(t[i]);
    }
    ASSERT_EQ(handled, N);
    server_done(srv);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx);
    return 0;
}
TEST(tls_server_many) { return run(many_body); }

/* ---- ALPN, and client certificates ------------------------------------------------ */

static char seen_alpn[32], seen_subject[64];

static int note_handler(corio_stream *s, void *arg) {
    const char *a = corio_stream_tls_alpn(s);
    snprintf(seen_alpn, sizeof seen_alpn, "%s", a ? a : "(none)");
    if (corio_stream_tls_peer_subject(s, seen_subject, sizeof seen_subject) < 0)
        snprintf(seen_subject, sizeof seen_subject, "(none)");
    return echo_handler(s, arg);
}

static int ping(corio_stream *c) {
    const void *d;
    size_t len;
    int rc = corio_stream_write(c, "ping\n", 5);
    if (rc == 0) rc = corio_stream_readline(c, &d, &len);
    if (rc == 0 && len != 5) rc = CORIO_EINCOMPLETE;
    return rc;
}

static int alpn_certs_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *sctx = server_ctx(srv_crt, srv_key), *cctx = client_ctx(), *other = client_ctx();
    const char *sp[] = {"h2", "http/1.1"}, *cp[] = {"http/1.1", "h2"}, *none[] = {"spdy/3"};
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(sctx, sp, 2), 0);
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(cctx, cp, 2), 0);
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(other, none, 1), 0);
    const char *bad[] = {""};
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(other, bad, 1), CORIO_EINVAL);
    ASSERT_EQ(corio_tls_context_set_alpn_protocols(other, NULL, 1), CORIO_EINVAL);
    corio_server *srv = tls_server(note_handler, NULL, sctx);
    corio_stream *c;
    /* the server's preference wins, as with CPython's ssl */
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), 0);
    ASSERT_STR(corio_stream_tls_alpn(c), "h2");
    ASSERT_EQ(ping(c), 0);
    ASSERT_STR(seen_alpn, "h2");
    ASSERT_STR(seen_subject, "(none)"); /* no client certificate asked */
    ASSERT_EQ(corio_stream_free(c), 0);
    /* nothing in common: no ALPN, the connection still works */
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), other, "localhost", NULL, &c), 0);
    ASSERT(corio_stream_tls_alpn(c) == NULL);
    ASSERT_EQ(ping(c), 0);
    ASSERT_STR(seen_alpn, "(none)");
    ASSERT_EQ(corio_stream_free(c), 0);
    server_done(srv);
    /* a server that asks for a client certificate signed by the CA */
    ASSERT_EQ(corio_tls_context_set_verify(sctx, 1), 0);
    ASSERT_EQ(corio_tls_context_load_verify_locations(sctx, ca_pem, NULL), 0);
    srv = tls_server(note_handler, NULL, sctx);
    ASSERT_EQ(corio_tls_context_load_cert_chain(cctx, srv_crt, srv_key), 0);
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", port_of(srv), cctx, "localhost", NULL, &c), 0);
    ASSERT_EQ(ping(c), 0);
    ASSERT_STR(seen_subject, "CN = localhost");
    ASSERT_EQ(corio_stream_free(c), 0);
    /* without one: TLS 1.3 finishes the client's handshake first, so the
     * server's refusal comes with the first read */
    int rc = corio_open_tls_connection("127.0.0.1", port_of(srv), other, "localhost", NULL, &c);
    if (rc == 0) {
        rc = ping(c);
        ASSERT_EQ(corio_stream_free(c), 0);
    }
    ASSERT_EQ(rc, CORIO_ETLS);
    fprintf(stderr, "no client certificate: %s\n", errmsg());
    ASSERT(strstr(errmsg(), "certificate required"));
    server_done(srv);
    corio_tls_context_free(sctx), corio_tls_context_free(cctx), corio_tls_context_free(other);
    return 0;
}
TEST(tls_alpn_client_certs) { return run(alpn_certs_body); }

/* ---- every stand-in call failing in turn ------------------------------------------
 * A whole TLS round (a server, a client's connect and handshake, a line
 * each way, close) with the Nth allocation or system call of corio
 * failing, for every N the round makes: whatever fails, nothing crashes,
 * hangs (every wait has a deadline), or leaks (ASan, the runner's
 * descriptor count). */
long corio__fail_after(long nth);

typedef struct fault_round {
    corio_tls_context *sctx, *cctx;
    corio_server *srv;
    corio_stream *c;
} fault_round;

static int bounded(int (*fn)(corio_stream *), corio_stream *s) {
    corio_timeout *cm;
    int rc = corio_timeout_enter(1.0, &cm);
    if (rc < 0) return rc;
    return corio_timeout_exit(cm, fn(s));
}

static int fault_main(void *arg, void **res) {
    (void)res;
    fault_round *f = arg;
    corio_server_options o = {.tls = f->sctx, .tls_handshake_timeout = 1.0, .tls_shutdown_timeout = 1.0};
    int rc = corio_start_server(echo_handler, NULL, "127.0.0.1", 0, &o, &f->srv);
    if (rc < 0) return rc;
    struct sockaddr_in a;
    unsigned int alen = sizeof a;
    if ((rc = corio_server_sockname(f->srv, 0, (struct sockaddr *)&a, &alen)) < 0) return rc;
    corio_tls_options co = {.handshake_timeout = 1.0, .shutdown_timeout = 1.0};
    rc = corio_open_tls_connection("127.0.0.1", ntohs(a.sin_port), f->cctx, "localhost", &co, &f->c);
    if (rc == 0) rc = bounded(ping, f->c);
    if (f->c) {
        corio_stream_close(f->c);
        int wc = bounded(corio_stream_wait_closed, f->c);
        if (rc == 0) rc = wc;
    }
    corio_server_close(f->srv);
    corio_server_abort_clients(f->srv);
    corio_timeout *cm;
    if (corio_timeout_enter(1.0, &cm) == 0) corio_timeout_exit(cm, corio_server_wait_closed(f->srv));
    return rc;
}

static long fault_calls;

static int fault_run(fault_round *f) {
    corio_loop *loop;
    int rc = corio_loop_new(&loop);
    if (rc < 0) return rc;
    corio_loop_set_exception_handler(loop, quiet, NULL);
    f->srv = NULL, f->c = NULL;
    corio_task *t;
    rc = corio_loop_create_task(loop, fault_main, f, "main", 0, &t);
    if (rc == 0) {
        rc = corio_loop_run_until_complete(loop, t, NULL);
        corio_future_unref(t);
    }
    fault_calls = corio__fail_after(0);
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_stream_free(f->c), 0);
    ASSERT_EQ(corio_server_free(f->srv), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    return rc;
}

static int fault_sweep(void) {
    fault_round f = {server_ctx(srv_crt, srv_key), client_ctx(), NULL, NULL};
    corio__fail_after(0);
    ASSERT_EQ(fault_run(&f), 0);
    long calls = fault_calls, failed = 0;
    for (long n = 1; n <= calls + 5; n++) {
        corio__fail_after(n);
        int rc = fault_run(&f);
        corio__fail_after(0);
        failed += rc < 0;
        if (getenv("TLS_SWEEP_V")) fprintf(stderr, "n=%ld rc=%d %s\n", n, rc, errmsg());
    }
    fprintf(stderr, "fault sweep over %ld calls: %ld rounds failed cleanly\n", calls, failed);
    ASSERT(failed > 0);
    ASSERT_EQ(fault_run(&f), 0); /* and all is well again */
    corio_tls_context_free(f.sctx), corio_tls_context_free(f.cctx);
    return 0;
}

TEST(tls_fault_sweep) {
    corio_tls_context *probe;
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &probe), 0);
    corio_tls_context_free(probe);
    certs_make();
    int rc = fault_sweep();
    certs_remove();
    return rc;
}

/* ---- bad input ------------------------------------------------------------------- */

static int bad_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_tls_context *c;
    ASSERT_EQ(corio_tls_context_new(7, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_SERVER, &c), 0);
    ASSERT_EQ(corio_tls_context_load_cert_chain(c, "/nonexistent.pem", NULL), CORIO_ETLS);
    ASSERT(strstr(errmsg(), "/nonexistent.pem"));
    ASSERT_EQ(corio_tls_context_load_cert_chain(c, srv_crt, ca_pem), CORIO_ETLS); /* no key there */
    ASSERT_EQ(corio_tls_context_load_verify_locations(c, "/nonexistent.pem", NULL), CORIO_ETLS);
    ASSERT_EQ(corio_tls_context_load_verify_locations(c, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_tls_context_load_cert_chain(NULL, srv_crt, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_tls_context_set_verify(NULL, 1), CORIO_EINVAL);
    ASSERT(corio_tls_context_ssl_ctx(c) != NULL);
    ASSERT(corio_tls_context_ssl_ctx(NULL) == NULL);
    corio_tls_context_free(c);
    corio_tls_context_free(NULL);
    corio_stream *s = (corio_stream *)1;
    ASSERT_EQ(corio_open_tls_connection(NULL, 1, NULL, NULL, NULL, &s), CORIO_EINVAL);
    ASSERT(s == NULL);
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", 1, NULL, NULL, NULL, NULL), CORIO_EINVAL);
    /* nothing listens on port 1: the connect's error, nothing left open */
    ASSERT_EQ(corio_open_tls_connection("127.0.0.1", 1, NULL, NULL, NULL, &s), -ECONNREFUSED);
    ASSERT(corio_stream_tls_version(NULL) == NULL);
    char buf[8];
    ASSERT_EQ(corio_stream_tls_peer_subject(NULL, buf, sizeof buf), CORIO_EINVAL);
    return 0;
}
TEST(tls_bad_input) { return run(bad_body); }

#endif

/* ---- a plain stream reset while its reader waits and a background flush
 * is armed: the reader sees the reset or the close, never -EBADF from a
 * receive on the closed number. (tls_echo_big met that race on epoll every
 * run before corio__stream_recv: the flush's failure closed the stream
 * between the reader's wake-up and its retry; here the reader usually runs
 * first, so this one checks the outcomes, not that order.) No OpenSSL
 * needed. ----------------------------------------------------------------- */

static int plain_rc = 1;

static int flood_then_read(corio_stream *s, void *arg) {
    (void)arg;
    size_t big = 8u << 20;
    char *junk = calloc(1, big);
    ASSERT(junk);
    ASSERT_EQ(corio_stream_write(s, junk, big), 0); /* the peer never reads: a flush stays armed */
    free(junk);
    char buf[16];
    size_t got;
    plain_rc = corio_stream_read(s, buf, sizeof buf, &got);
    return 0;
}

static int plain_race_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_server *srv;
    ASSERT_EQ(corio_start_server(flood_then_read, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    struct sockaddr_in a;
    unsigned int alen = sizeof a;
    ASSERT_EQ(corio_server_sockname(srv, 0, (struct sockaddr *)&a, &alen), 0);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("127.0.0.1", ntohs(a.sin_port), &c), 0);
    ASSERT_EQ(corio_sleep(0.05), 0); /* the handler writes, then waits to read */
    struct linger lg = {1, 0};       /* close with a reset: both directions fail at once */
    ASSERT_EQ(setsockopt(corio_stream_fd(c), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    ASSERT_EQ(corio_stream_free(c), 0);
    for (int i = 0; i < 200 && plain_rc == 1; i++) ASSERT_EQ(corio_sleep(0.005), 0);
    fprintf(stderr, "the reader saw %d\n", plain_rc);
    ASSERT(plain_rc == CORIO_EFDCLOSED || plain_rc == -ECONNRESET || plain_rc == -EPIPE || plain_rc == 0);
    ASSERT_EQ(corio_server_close(srv), 0);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    return 0;
}
TEST(tls_plain_reader_sees_close) {
    on_loop(plain_race_body, NULL);
    return 0;
}

#ifndef CORIO_TEST_OPENSSL /* built without OpenSSL */

static int no_tls(void) {
    corio_tls_context *c;
    ASSERT_EQ(corio_tls_context_new(CORIO_TLS_CLIENT, &c), -ENOTSUP);
    fprintf(stderr, "corio built without OpenSSL (Debian: libssl-dev): skipped\n");
    return TEST_SKIP;
}
TEST(tls_echo_big) { return no_tls(); }
TEST(tls_verify_errors) { return no_tls(); }
TEST(tls_protocol_mismatch) { return no_tls(); }
TEST(tls_broken_handshakes) { return no_tls(); }
TEST(tls_start_tls) { return no_tls(); }
TEST(tls_shutdown) { return no_tls(); }
TEST(tls_cancel_everywhere) { return no_tls(); }
TEST(tls_server_many) { return no_tls(); }
TEST(tls_bad_input) { return no_tls(); }
TEST(tls_alpn_client_certs) { return no_tls(); }
TEST(tls_cancel_mid_record) { return no_tls(); }
TEST(tls_fault_sweep) { return no_tls(); }

#endif
