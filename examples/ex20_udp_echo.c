/* The UDP echo server and client of the asyncio docs, in one program: the
 * server echoes each datagram; the client sends one and waits for the
 * echo. asyncio's original uses protocol callbacks; corio's are two tasks
 * around sock_recvfrom / sock_sendto. ex20_udp_echo.py is the original. */
#include <corio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int echo_server(void *arg, void **result) {              /* EchoServerProtocol */
    (void)result;
    int fd = (int)(intptr_t)arg;
    for (;;) {
        char data[2048];
        size_t n;
        struct sockaddr_storage addr;
        unsigned int alen = sizeof addr;
        int rc = corio_sock_recvfrom(fd, data, sizeof data, &n, (struct sockaddr *)&addr, &alen);
        if (rc < 0) return rc == CORIO_ECANCELED ? 0 : rc;
        printf("Received '%.*s'\n", (int)n, data);               /* datagram_received */
        printf("Send '%.*s'\n", (int)n, data);
        if ((rc = corio_sock_sendto(fd, data, n, (struct sockaddr *)&addr, alen)) < 0) return rc;
    }
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    int server, client;
    int rc = corio_open_datagram("127.0.0.1", 0, NULL, 0, &server);
    if (rc < 0) return rc;
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    getsockname(server, (struct sockaddr *)&a, &alen);
    corio_task *srv;
    corio_create_task(echo_server, (void *)(intptr_t)server, "udp echo server", &srv);
    if ((rc = corio_open_datagram(NULL, 0, "127.0.0.1", ntohs(a.sin_port), &client)) == 0) {
        const char *message = "Hello World!";
        printf("Send: %s\n", message);                            /* connection_made */
        rc = corio_sock_sendto(client, message, strlen(message), NULL, 0);
        char data[2048];
        size_t n = 0;
        if (rc == 0) rc = corio_sock_recvfrom(client, data, sizeof data, &n, NULL, NULL);
        if (rc == 0) printf("Received: %.*s\n", (int)n, data);   /* datagram_received */
        printf("Close the socket\n");
        corio_close_fd(client);
    }
    corio_task_cancel(srv, NULL);                                 /* server.close() */
    corio_await(srv, NULL);
    corio_future_unref(srv);
    corio_close_fd(server);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
