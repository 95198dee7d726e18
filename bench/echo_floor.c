/* echo_floor PORT: the floor of the `echo` workload (performance.md): a
 * plain C epoll echo server, one recv and one send per message, no
 * runtime. Same contract as echo_server (127.0.0.1:PORT, exits on SIGTERM
 * or after 60 s without a connection, prints "listening"). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: echo_floor PORT\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl; /* thousands of connections: as many descriptors as allowed */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096)) {
        perror("echo_floor: listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    printf("listening\n");
    fflush(stdout);
    static char buf[65536];
    long live = 0;
    time_t idle_since = time(NULL);
    while (!stop) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 100);
        if (n <= 0) {
            if (live == 0 && time(NULL) - idle_since >= 60) break;
            continue;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int c;
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                    live++;
                }
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r > 0) {
                ssize_t off = 0; /* small messages: the send takes them whole */
                while (off < r) {
                    ssize_t w = send(fd, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
                    if (w < 0 && errno != EAGAIN) break;
                    if (w > 0) off += w;
                }
                continue;
            }
            if (r < 0 && errno == EAGAIN) continue;
            close(fd); /* EOF or error: epoll forgets it with the file */
            if (--live == 0) idle_since = time(NULL);
        }
    }
    return 0;
}
