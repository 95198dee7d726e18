/* Sockets, low level (asyncio's loop.sock_*): each call goes to the
 * backend's operation of the same name, which does it the backend's way
 * (epoll: try, wait, try again; io_uring: submit and wait for the
 * completion). Failures carry a message naming the operation and the peer. */
#define _GNU_SOURCE
#include "io/io.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

void corio__addr_format(const struct sockaddr *addr, socklen_t len, char *buf, size_t cap) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (!addr || cap == 0) {
        if (cap) snprintf(buf, cap, "?");
        return;
    }
    if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const void *)addr;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(buf, cap, "%s:%u", host, ntohs(a->sin_port));
    } else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const void *)addr;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(buf, cap, "[%s]:%u", host, ntohs(a->sin6_port));
    } else if (addr->sa_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path)) {
        const struct sockaddr_un *a = (const void *)addr;
        size_t n = len - offsetof(struct sockaddr_un, sun_path);
        if (n > sizeof a->sun_path) n = sizeof a->sun_path;
        if (a->sun_path[0] == 0) /* abstract: a name, not a path */
            snprintf(buf, cap, "@%.*s", (int)(n > 0 ? n - 1 : 0), a->sun_path + 1);
        else
            snprintf(buf, cap, "%.*s", (int)strnlen(a->sun_path, n), a->sun_path);
    } else {
        snprintf(buf, cap, "?");
    }
}

void corio__peer_format(int fd, char *buf, size_t cap) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 ||
        (len = sizeof ss, getsockname(fd, (struct sockaddr *)&ss, &len) == 0))
        corio__addr_format((struct sockaddr *)&ss, len, buf, cap);
    else
        snprintf(buf, cap, "fd %d", fd);
}

/* A failure of op on fd: the code, with a message naming both (a cancel
 * and the library's own codes pass as they are). */
static int failed(const char *op, int fd, const struct sockaddr *addr, socklen_t len, int rc) {
    if (rc >= 0 || rc == CORIO_ECANCELED || rc <= -4000) return rc;
    char who[128];
    if (addr) corio__addr_format(addr, len, who, sizeof who);
    else corio__peer_format(fd, who, sizeof who);
    return corio_raise(rc, "%s %s: %s", op, who, strerror(-rc));
}

int corio_socket(int domain, int type, int protocol, int *fd) {
    if (!fd) return CORIO_EINVAL;
    *fd = -1;
    int r = corio__socket(domain, type, protocol);
    if (r < 0) return r;
    *fd = r;
    return 0;
}

int corio_sock_connect(int fd, const struct sockaddr *addr, socklen_t addrlen) {
    if (!addr) return CORIO_EINVAL;
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    rc = corio__backend_connect(loop, fd, addr, addrlen);
    return failed("connect", fd, addr, addrlen, rc);
}

int corio_sock_accept(int fd, int *conn, struct sockaddr *addr, socklen_t *addrlen) {
    if (!conn || (addr && !addrlen)) return CORIO_EINVAL;
    *conn = -1;
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    rc = corio__backend_accept(loop, fd, addr, addr ? addrlen : NULL);
    if (rc < 0) return failed("accept on", fd, NULL, 0, rc);
    *conn = rc;
    return 0;
}

int corio_sock_recv(int fd, void *buf, size_t n, size_t *got) {
    if (!got || (!buf && n)) return CORIO_EINVAL;
    *got = 0;
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    long r = corio__backend_recv(loop, fd, buf, n, 0);
    if (r < 0) return failed("recv from", fd, NULL, 0, (int)r);
    *got = (size_t)r;
    return 0;
}

int corio_sock_sendall(int fd, const void *buf, size_t n, size_t *sent) {
    if (sent) *sent = 0;
    if (!buf && n) return CORIO_EINVAL;
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    size_t done = 0;
    while (done < n) {
        long r = corio__backend_send(loop, fd, (const char *)buf + done, n - done, 0);
        if (r < 0) {
            rc = failed("send to", fd, NULL, 0, (int)r);
            break;
        }
        done += (size_t)r;
        if (sent) *sent = done;
    }
    return rc;
}

int corio_sock_recvfrom(int fd, void *buf, size_t n, size_t *got, struct sockaddr *addr,
                        socklen_t *addrlen) {
    if (!got || (!buf && n) || (addr && !addrlen)) return CORIO_EINVAL;
    *got = 0;
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    long r = corio__backend_recvfrom(loop, fd, buf, n, 0, addr, addr ? addrlen : NULL);
    if (r < 0) return failed("recvfrom on", fd, NULL, 0, (int)r);
    *got = (size_t)r;
    return 0;
}

int corio_sock_sendto(int fd, const void *buf, size_t n, const struct sockaddr *addr,
                      socklen_t addrlen) {
    if (!buf && n) return CORIO_EINVAL;
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    long r = corio__backend_sendto(loop, fd, buf, n, 0, addr, addr ? addrlen : 0);
    if (r < 0) return failed("sendto", fd, addr, addrlen, (int)r);
    return 0;
}

/* A UDP endpoint (create_datagram_endpoint): bound to local and/or
 * connected to remote (NULL: not that side); names resolve in names.c. */
int corio_open_datagram(const char *local_host, int local_port, const char *remote_host,
                        int remote_port, int *fd) {
    if (fd) *fd = -1;
    if (!fd || (!local_host && !remote_host)) return CORIO_EINVAL;
    return corio__open_udp(local_host, local_port, remote_host, remote_port, fd);
}
