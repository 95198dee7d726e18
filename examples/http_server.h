/* The local HTTP/1.1 server the fetch examples (ex26..ex31) start for
 * themselves, on corio's streams; http_server.py is the same server for the
 * Python originals. Routes:
 *   /delay/<ms>/<name>  wait ms milliseconds, then 200 "data from <name>"
 *                       (if the client hangs up meanwhile, stop waiting)
 *   /status/<code>      that status at once, body "status <code>"
 *   /reset              abort the connection (a TCP reset, no response)
 *   anything else       404
 * Connections are kept alive (HTTP/1.1's default); `open` counts those whose
 * handler runs. A header of static inline functions: each example is one file. */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H

#include <corio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct http_server {
    corio_server *srv; /* owned */
    int port;
    int open;          /* connections whose handler runs */
    corio_event *idle; /* owned: set while open == 0 */
} http_server;

static inline const char *http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    default: return "Unknown";
    }
}

/* /reset: SO_LINGER with a zero timeout turns the close into a reset. */
static inline void http_reset(corio_stream *s) {
    struct linger now = {1, 0};
    (void)setsockopt(corio_stream_fd(s), SOL_SOCKET, SO_LINGER, &now, sizeof now);
    corio_stream_abort(s);
}

/* The delay, cut short if the client hangs up (it sends nothing else while
 * it waits for the answer, so any read ending is the end): 1 once it
 * passed, 0 if the connection is to end, or CORIO_ECANCELED. */
static inline int http_delay(corio_stream *s, int ms) {
    corio_timeout *cm;
    int rc = corio_timeout_enter(ms / 1000.0, &cm);
    if (rc < 0) return rc;
    char byte;
    size_t got;
    rc = corio_timeout_exit(cm, corio_stream_read(s, &byte, 1, &got));
    return rc == CORIO_ETIMEDOUT ? 1 : rc == CORIO_ECANCELED ? rc : 0;
}

/* One request: 1 to go on with the next, 0 when the connection is to end,
 * or CORIO_ECANCELED. */
static inline int http_serve_one(corio_stream *s) {
    const void *data;
    size_t len;
    int rc = corio_stream_readuntil(s, "\r\n\r\n", 4, &data, &len);
    if (rc < 0) return rc == CORIO_ECANCELED ? rc : 0;
    char head[512], target[256] = "", name[128] = "";  /* the lent bytes end in no NUL */
    snprintf(head, sizeof head, "%.*s", (int)(len < sizeof head ? len : sizeof head - 1),
             (const char *)data);
    char body[160], response[320];
    int ms, status;
    if (sscanf(head, "%*s %255s", target) != 1) return 0; /* GET <target> HTTP/1.1 */
    if (strcmp(target, "/reset") == 0) {
        http_reset(s);
        return 0;
    }
    if (sscanf(target, "/delay/%d/%127[^/]", &ms, name) == 2) {
        if ((rc = http_delay(s, ms)) <= 0) return rc;
        status = 200;
        snprintf(body, sizeof body, "data from %s", name);
    } else {
        if (sscanf(target, "/status/%d", &status) != 1) status = 404;
        snprintf(body, sizeof body, "status %d", status);
    }
    int n = snprintf(response, sizeof response,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                     status, http_reason(status), strlen(body), body);
    if (corio_stream_write(s, response, (size_t)n) < 0) return 0;
    rc = corio_stream_drain(s);
    return rc == CORIO_ECANCELED ? rc : rc == 0;
}

/* A connection's task: requests until the client or the server ends it.
 * I/O errors end it quietly (a client that hung up is no failure here). */
static inline int http_handle(corio_stream *s, void *arg) {
    http_server *server = arg;
    server->open++;
    corio_event_clear(server->idle);
    int rc;
    while ((rc = http_serve_one(s)) == 1) {}
    if (--server->open == 0) corio_event_set(server->idle);
    return rc;
}

/* In a task: listen on a loopback port the system picks. */
static inline int http_server_start(http_server *server) {
    memset(server, 0, sizeof *server);
    int rc = corio_event_new(&server->idle);
    if (rc < 0) return rc;
    corio_event_set(server->idle);
    rc = corio_start_server(http_handle, server, "127.0.0.1", 0, NULL, &server->srv);
    struct sockaddr_in a;
    unsigned int alen = sizeof a;
    if (rc == 0) rc = corio_server_sockname(server->srv, 0, (struct sockaddr *)&a, &alen);
    if (rc < 0) {
        corio_server_free(server->srv);
        corio_event_free(server->idle);
        return rc;
    }
    server->port = ntohs(a.sin_port);
    return 0;
}

/* The URL of path on this server, in buf. */
static inline char *http_server_url(const http_server *server, const char *path, char *buf,
                                    size_t cap) {
    snprintf(buf, cap, "http://127.0.0.1:%d%s", server->port, path);
    return buf;
}

/* In a task: wait (at most timeout seconds) until no connection is open;
 * the count then. */
static inline int http_server_wait_idle(http_server *server, double timeout) {
    corio_timeout *cm;
    if (corio_timeout_enter(timeout, &cm) == 0)
        (void)corio_timeout_exit(cm, corio_event_wait(server->idle));
    return server->open;
}

/* In a task: stop listening, end the connections (their handlers return),
 * wait until they are gone, free the server. (The Python original cancels
 * its handlers: asyncio 3.11 has no abort_clients.) */
static inline int http_server_stop(http_server *server) {
    corio_server_close(server->srv);
    corio_server_abort_clients(server->srv);
    int rc = corio_server_wait_closed(server->srv);
    corio_server_free(server->srv);
    corio_event_free(server->idle);
    return rc;
}

/* A loopback port nobody listens on: bound once, then let go. 0 on failure. */
static inline int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    unsigned int alen = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* text with the port numbers of its loopback URLs written as PORT, in buf. */
static inline const char *show(const char *text, char *buf, size_t cap) {
    static const char key[] = "127.0.0.1:";
    size_t n = 0;
    buf[0] = '\0';
    for (const char *at; n < cap && (at = strstr(text, key)) != NULL;) {
        size_t upto = (size_t)(at - text) + sizeof key - 1; /* through the colon */
        n += (size_t)snprintf(buf + n, cap - n, "%.*sPORT", (int)upto, text);
        text += upto;
        text += strspn(text, "0123456789");
    }
    if (n < cap) snprintf(buf + n, cap - n, "%s", text);
    return buf;
}

#endif
