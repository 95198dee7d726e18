/* The TCP echo server and client of the asyncio docs, in one program: the
 * server listens on a port the system picks, the client talks to it once.
 * ex17_tcp_echo.py is the original. */
#include <corio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

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

static int tcp_echo_client(const char *message, int port) {
    corio_stream *s;
    int rc = corio_open_connection("127.0.0.1", port, &s);
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
    corio_server *server;
    int rc = corio_start_server(handle_echo, NULL, "127.0.0.1", 0, NULL, &server);
    if (rc < 0) return rc;
    struct sockaddr_in a;
    unsigned int len = sizeof a;
    corio_server_sockname(server, 0, (struct sockaddr *)&a, &len);
    printf("Serving on 127.0.0.1\n");
    rc = tcp_echo_client("Hello World!", ntohs(a.sin_port));
    corio_server_close(server);
    int wc = corio_server_wait_closed(server);
    corio_server_free(server);
    return rc < 0 ? rc : wc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
