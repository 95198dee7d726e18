/* The TCP echo server and client of the asyncio docs over TLS, in one
 * program: a self-signed certificate for localhost made for the run (by
 * the openssl command, as the original), a server with it, a client that
 * trusts it, and one that does not (the system's CAs), whose handshake
 * fails. ex22_tls_echo.py is the original. Exits 77 when corio was built
 * without OpenSSL or there is no openssl command. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <corio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/corio-ex21-XXXXXX", cert[64], key[64];

static int make_certificate(void) {                                /* subprocess.run(['openssl', ...]) */
    if (!mkdtemp(dir)) return -errno;
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s -out %s "
             "-days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    return system(cmd) == 0 ? 0 : -ENOENT;
}

static void remove_certificate(void) {
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

static int handle_echo(corio_stream *s, void *arg) {                  /* (reader, writer): TLS already */
    (void)arg;
    char data[100];
    size_t n;
    int rc = corio_stream_read(s, data, sizeof data, &n);           /* await reader.read(100) */
    if (rc < 0) return rc;
    printf("Received '%.*s'\n", (int)n, data);
    printf("Send: '%.*s'\n", (int)n, data);
    if ((rc = corio_stream_write(s, data, n)) < 0) return rc;       /* writer.write(data) */
    if ((rc = corio_stream_drain(s)) < 0) return rc;                /* await writer.drain() */
    printf("Close the connection\n");
    corio_stream_close(s);                                          /* writer.close(): close_notify */
    return corio_stream_wait_closed(s);                             /* await writer.wait_closed() */
}

static int tls_echo_client(const char *message, int port, corio_tls_context *context) {
    corio_stream *s;                                                /* open_connection(ssl=context) */
    int rc = corio_open_tls_connection("127.0.0.1", port, context, "localhost", NULL, &s);
    if (rc < 0) return rc;
    printf("Connected with %s\n", corio_stream_tls_version(s));   /* ssl_object.version() */
    printf("Send: '%s'\n", message);
    rc = corio_stream_write(s, message, strlen(message));
    if (rc == 0) rc = corio_stream_drain(s);
    char data[100];
    size_t n = 0;
    if (rc == 0) rc = corio_stream_read(s, data, sizeof data, &n);
    if (rc == 0) printf("Received: '%.*s'\n", (int)n, data);
    printf("Close the connection\n");
    corio_stream_close(s);
    if (rc == 0) rc = corio_stream_wait_closed(s);
    corio_stream_free(s);
    return rc;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_tls_context *server_context, *client_context;
    int rc = corio_tls_context_new(CORIO_TLS_SERVER, &server_context); /* ssl.SSLContext(PROTOCOL_TLS_SERVER) */
    if (rc < 0) return rc;
    rc = corio_tls_context_load_cert_chain(server_context, cert, key);
    if (rc == 0) rc = corio_tls_context_new(CORIO_TLS_CLIENT, &client_context); /* create_default_context */
    if (rc < 0) {
        corio_tls_context_free(server_context);
        return rc;
    }
    rc = corio_tls_context_load_verify_locations(client_context, cert, NULL); /* cafile=cert */
    corio_server_options opts = {.tls = server_context};           /* start_server(ssl=server_context) */
    corio_server *server;
    if (rc == 0) rc = corio_start_server(handle_echo, NULL, "127.0.0.1", 0, &opts, &server);
    if (rc == 0) {
        struct sockaddr_in a;
        unsigned int len = sizeof a;
        corio_server_sockname(server, 0, (struct sockaddr *)&a, &len);
        printf("Serving TLS on 127.0.0.1\n");
        rc = tls_echo_client("Hello World!", ntohs(a.sin_port), client_context);
        corio_stream *s;                                            /* the system's CAs only */
        int vrc = corio_open_tls_connection("127.0.0.1", ntohs(a.sin_port), NULL, "localhost", NULL, &s);
        if (vrc == CORIO_ECERT) {                                    /* except SSLCertVerificationError */
            const char *m = corio_error_message(corio_current_error());
            const char *why = strstr(m, "certificate verify failed: ");
            printf("Without trusting it: %s\n", why ? why + strlen("certificate verify failed: ") : m);
        } else if (vrc == 0) {
            corio_stream_free(s);
        }
        corio_server_close(server);
        int wc = corio_server_wait_closed(server);
        corio_server_free(server);
        if (rc == 0) rc = wc;
    }
    corio_tls_context_free(client_context);
    corio_tls_context_free(server_context);
    return rc;
}

int main(void) {
    corio_tls_context *probe;
    if (corio_tls_context_new(CORIO_TLS_CLIENT, &probe) == -ENOTSUP) {
        fprintf(stderr, "corio was built without OpenSSL (make deps installs libssl-dev): skipped\n");
        return 77;
    }
    corio_tls_context_free(probe);
    if (make_certificate() < 0) {
        fprintf(stderr, "no openssl command (Debian: openssl): skipped\n");
        remove_certificate();
        return 77;
    }
    int rc = corio_run(main_task, NULL, NULL);
    remove_certificate();
    if (rc < 0) fprintf(stderr, "error: %s: %s\n", corio_strerror(rc), corio_error_message(corio_current_error()));
    return rc < 0;
}
