/* The echo server and client of ex17 over a Unix socket (a path in the
 * temporary directory, removed at the end). ex18_unix_echo.py is the
 * original. */
#include <corio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int handle_echo(corio_stream *s, void *arg) {                  /* (reader, writer) */
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
    corio_stream_close(s);                                          /* writer.close() */
    return corio_stream_wait_closed(s);                             /* await writer.wait_closed() */
}

static int unix_echo_client(const char *message, const char *path) {
    corio_stream *s;
    int rc = corio_open_unix_connection(path, &s);
    if (rc < 0) return rc;
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
    const char *tmp = getenv("TMPDIR");
    char path[256];
    snprintf(path, sizeof path, "%s/corio-ex18-%d.sock", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    corio_server *server;
    int rc = corio_start_unix_server(handle_echo, NULL, path, NULL, &server);
    if (rc < 0) return rc;
    printf("Serving on a Unix socket\n");
    rc = unix_echo_client("Hello World!", path);
    corio_server_close(server);
    int wc = corio_server_wait_closed(server);
    corio_server_free(server);
    unlink(path);
    return rc < 0 ? rc : wc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
