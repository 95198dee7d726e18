/* TLS in a build without OpenSSL: every call exists and says why it
 * cannot work (the tests skip on -ENOTSUP). */
#include "io/stream.h"

#define NO_TLS(what) corio_raise(-ENOTSUP, "%s: corio was built without OpenSSL (make deps installs libssl-dev)", what)

int corio_tls_context_new(int side, corio_tls_context **out) {
    (void)side;
    if (out) *out = NULL;
    return NO_TLS("tls_context_new");
}
void corio_tls_context_free(corio_tls_context *ctx) { (void)ctx; }
int corio_tls_context_load_verify_locations(corio_tls_context *ctx, const char *cafile, const char *capath) {
    (void)ctx, (void)cafile, (void)capath;
    return NO_TLS("load_verify_locations");
}
int corio_tls_context_load_cert_chain(corio_tls_context *ctx, const char *certfile, const char *keyfile) {
    (void)ctx, (void)certfile, (void)keyfile;
    return NO_TLS("load_cert_chain");
}
int corio_tls_context_set_verify(corio_tls_context *ctx, int on) {
    (void)ctx, (void)on;
    return NO_TLS("set_verify");
}
int corio_tls_context_set_versions(corio_tls_context *ctx, int min, int max) {
    (void)ctx, (void)min, (void)max;
    return NO_TLS("set_versions");
}
int corio_tls_context_set_alpn_protocols(corio_tls_context *ctx, const char *const *protos, size_t n) {
    (void)ctx, (void)protos, (void)n;
    return NO_TLS("set_alpn_protocols");
}
void *corio_tls_context_ssl_ctx(corio_tls_context *ctx) {
    (void)ctx;
    return NULL;
}
int corio_open_tls_connection(const char *host, int port, corio_tls_context *ctx, const char *server_hostname,
                              const corio_tls_options *opts, corio_stream **out) {
    (void)host, (void)port, (void)ctx, (void)server_hostname, (void)opts;
    if (out) *out = NULL;
    return NO_TLS("open_tls_connection");
}
int corio_start_tls(corio_stream *s, corio_tls_context *ctx, int server_side, const char *server_hostname,
                    const corio_tls_options *opts) {
    (void)s, (void)ctx, (void)server_side, (void)server_hostname, (void)opts;
    return NO_TLS("start_tls");
}
void *corio_stream_tls_ssl(const corio_stream *s) {
    (void)s;
    return NULL;
}
const char *corio_stream_tls_version(const corio_stream *s) {
    (void)s;
    return NULL;
}
const char *corio_stream_tls_alpn(const corio_stream *s) {
    (void)s;
    return NULL;
}
const char *corio_stream_tls_cipher(const corio_stream *s) {
    (void)s;
    return NULL;
}
int corio_stream_tls_peer_subject(const corio_stream *s, char *buf, size_t cap) {
    (void)s, (void)buf, (void)cap;
    return CORIO_EINVAL;
}
