/* The redis-server the redis tests start on loopback (a free port and a
 * Unix socket in a temporary directory) and always stop: it dies with the
 * test process (parent-death signal) even when an assertion aborts. Shared
 * by test_redis.c and test_redis_review.c (static: each file its own). */
#ifndef CORIO_TEST_REDIS_SERVER_H
#define CORIO_TEST_REDIS_SERVER_H

#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define REDIS_SERVER "/usr/bin/redis-server"

/* ---- the server ------------------------------------------------------------ */

static struct {
    pid_t pid;
    int port;
    char dir[64];
    char sock[128];
} srv = {.pid = -1};

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int server_ready(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    struct stat st;
    return ok && stat(srv.sock, &st) == 0;
}

/* Start (or start again, after server_kill: the same port and socket)
 * redis-server on srv's port. */
static int server_launch(void) {
    char port[16];
    snprintf(port, sizeof port, "%d", srv.port);
    pid_t parent = getpid();
    srv.pid = fork();
    ASSERT(srv.pid >= 0);
    if (srv.pid == 0) {
        /* Never a stray server: it dies with the test, whatever ends it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 1);
        dup2(nul, 2);
        execl(REDIS_SERVER, REDIS_SERVER, "--port", port, "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--daemonize", "no", "--unixsocket", srv.sock, "--dir",
              srv.dir, "--loglevel", "warning", "--enable-debug-command", "local", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000 && !server_ready(); i++) {
        int status;
        ASSERT_EQ(waitpid(srv.pid, &status, WNOHANG), 0); /* it did not die */
        usleep(10000);
    }
    ASSERT(server_ready());
    return 0;
}

/* Start redis-server; 0, or TEST_SKIP (with a message) where it is missing. */
static int server_start(void) {
    if (access(REDIS_SERVER, X_OK) != 0) {
        printf("no %s (Debian: redis-server): skipped\n", REDIS_SERVER);
        return TEST_SKIP;
    }
    snprintf(srv.dir, sizeof srv.dir, "/tmp/corio-redis-XXXXXX");
    ASSERT(mkdtemp(srv.dir));
    snprintf(srv.sock, sizeof srv.sock, "%s/redis.sock", srv.dir);
    srv.port = free_port();
    return server_launch();
}

static void server_kill(void) {
    if (srv.pid <= 0) return;
    kill(srv.pid, SIGKILL);
    ASSERT_EQ(waitpid(srv.pid, NULL, 0), srv.pid);
    srv.pid = -1;
}

static void server_stop(void) {
    server_kill();
    unlink(srv.sock);
    rmdir(srv.dir);
}

#endif
