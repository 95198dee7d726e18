/* Names: the addresses of "localhost" (from /etc/hosts, looked up on the
 * thread pool, off the loop), a server on all of them, a client that
 * reaches it by name with Happy Eyeballs on, and a connection refused.
 * ex21_names.py is the original. */
#define _GNU_SOURCE /* struct addrinfo and NI_* under -std=c17 */
#include <corio.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int greet(corio_stream *s, void *arg) {
    (void)arg;
    const char *msg = "hello from the server\n";
    int rc = corio_stream_write(s, msg, strlen(msg));
    if (rc == 0) rc = corio_stream_drain(s);
    corio_stream_close(s);
    return rc < 0 ? rc : corio_stream_wait_closed(s);
}

static int port_of(const struct sockaddr_storage *ss) {
    return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)(const void *)ss)->sin_port
                                          : ((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
}

static int show_localhost(void) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int rc = corio_getaddrinfo("localhost", "80", &hints, &ai);        /* await loop.getaddrinfo(...) */
    if (rc < 0) return rc;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        char host[NI_MAXHOST], serv[NI_MAXSERV];
        corio_getnameinfo(a->ai_addr, a->ai_addrlen, NI_NUMERICHOST | NI_NUMERICSERV, host, sizeof host,
                          serv, sizeof serv);
        printf("localhost: %s %s %s\n", a->ai_family == AF_INET ? "AF_INET" : "AF_INET6", host, serv);
    }
    corio_freeaddrinfo(ai);
    return 0;
}

static int serve_and_connect(void) {
    corio_server *server;
    int rc = corio_start_server(greet, NULL, "localhost", 0, NULL, &server);
    if (rc < 0) return rc;
    struct sockaddr_storage ss;
    unsigned int len = sizeof ss;
    int n = 0;
    while (len = sizeof ss, corio_server_sockname(server, n, (struct sockaddr *)&ss, &len) == 0) n++;
    corio_server_sockname(server, 0, (struct sockaddr *)&ss, &len);
    printf("serving on %d address(es) of localhost\n", n);
    corio_connect_options o = {.happy_eyeballs_delay = 0.25};
    corio_stream *s;
    if ((rc = corio_open_connection_with("localhost", port_of(&ss), &o, &s)) == 0) {
        const void *line;
        size_t linelen;
        if ((rc = corio_stream_readline(s, &line, &linelen)) == 0)
            printf("got: %.*s\n", (int)(linelen > 0 ? linelen - 1 : 0), (const char *)line);
        corio_stream_close(s);
        int wc = corio_stream_wait_closed(s);
        if (rc == 0) rc = wc;
        corio_stream_free(s);
    }
    corio_server_close(server);
    int wc = corio_server_wait_closed(server);
    corio_server_free(server);
    return rc < 0 ? rc : wc;
}

static int refused(void) {
    int keep = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);   /* a port nobody listens on */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (keep < 0 || bind(keep, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(keep, (struct sockaddr *)&a, &len) < 0)
        return -1;
    corio_connect_options o = {.family = AF_INET};
    corio_stream *s;
    int rc = corio_open_connection_with("localhost", ntohs(a.sin_port), &o, &s);
    close(keep);
    if (rc == 0) {
        corio_stream_free(s);
        return -1;
    }
    printf("refused: %s %d\n", rc == -ECONNREFUSED ? "ConnectionRefusedError" : "OSError", -rc);
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    int rc = show_localhost();
    if (rc == 0) rc = serve_and_connect();
    if (rc == 0) rc = refused();
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
