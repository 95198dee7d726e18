/* echo_load PORT CONNS SIZE SECS [DEPTH] [PID]: the load generator of the
 * `echo` workload (performance.md). One thread, epoll, CONNS connections
 * to 127.0.0.1:PORT; each sends SIZE bytes and waits for them to come back
 * (DEPTH > 1: streaming, DEPTH messages in flight per connection), for a
 * 0.3 s warm-up and then SECS seconds. With the server's PID it reads the
 * server's CPU time (utime + stime, /proc/PID/stat) over the measured
 * window. Prints one line:
 *   echo conns=.. size=.. depth=.. rt_per_s=.. server_us_per_rt=..
 *        server_busy=.. client_us_per_rt=..
 * (server_busy: the server's CPU over the window's wall time; under 0.9,
 * the run was bound by this generator). No corio: it must cost less per
 * round trip than the servers it drives, and it must not share their
 * bugs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    size_t rpos;   /* bytes of the current message received back */
    size_t spos;   /* bytes of the current message sent */
    size_t unsent; /* bytes of requests not yet sent */
} conn;

static size_t size;
static char *msg, *sink;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The server's user + system CPU seconds, or -1. */
static double proc_cpu(int pid) {
    if (pid <= 0) return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command may hold spaces */
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    /* fields after ") ": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Send what is unsent, message by message, as far as the socket takes. */
static void pump(conn *c) {
    while (c->unsent) {
        size_t k = size - c->spos;
        if (k > c->unsent) k = c->unsent;
        ssize_t w = send(c->fd, msg + c->spos, k, MSG_NOSIGNAL);
        if (w <= 0) return; /* full: the echo's arrival calls again */
        c->unsent -= (size_t)w;
        c->spos = (c->spos + (size_t)w) % size;
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: echo_load PORT CONNS SIZE SECS [DEPTH] [PID]\n");
        return 2;
    }
    int port = atoi(argv[1]), nconns = atoi(argv[2]);
    size = (size_t)atol(argv[3]);
    double secs = atof(argv[4]);
    int depth = argc > 5 ? atoi(argv[5]) : 1, pid = argc > 6 ? atoi(argv[6]) : 0;
    if (nconns <= 0 || size == 0 || size > 65536 || secs <= 0 || depth <= 0) return 2;
    msg = malloc(size);
    sink = malloc(65536);
    memset(msg, 'x', size);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)nconns + 64 && rl.rlim_max >= (rlim_t)nconns + 64) {
        rl.rlim_cur = (rlim_t)nconns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    conn *cs = calloc((size_t)nconns, sizeof *cs);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < nconns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
            perror("echo_load: connect");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int fl = 1;
        ioctl(fd, FIONBIO, &fl);
        cs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        cs[i].unsent = (size_t)depth * size;
        pump(&cs[i]);
    }
    double t0 = now(), start = t0 + 0.3, end = start + secs, cpu0 = -1, mine0 = 0;
    long rts = 0, counted = 0;
    int measuring = 0;
    for (;;) {
        double t = now();
        if (!measuring && t >= start) {
            measuring = 1;
            counted = rts;
            cpu0 = proc_cpu(pid);
            mine0 = self_cpu();
            start = t;
        }
        if (measuring && t >= end) break;
        struct epoll_event evs[512];
        int n = epoll_wait(ep, evs, 512, 100);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            ssize_t r;
            /* One recv per event (level-triggered: it comes back): a loop
             * until EAGAIN could ping-pong with a fast server forever. */
            if ((r = recv(c->fd, sink, 65536, 0)) > 0) {
                if (sink[0] != 'x' || sink[r - 1] != 'x') { /* a cheap check: the generator sends only 'x' */
                    fprintf(stderr, "echo_load: the server sent back bytes it was not sent\n");
                    return 1;
                }
                c->rpos += (size_t)r; /* messages completed: counted, sent anew */
                size_t done = c->rpos / size;
                c->rpos %= size;
                rts += (long)done;
                c->unsent += done * size;
                pump(c);
            }
            if (r == 0) {
                fprintf(stderr, "echo_load: the server closed a connection\n");
                return 1;
            }
        }
    }
    double wall = now() - start, cpu1 = proc_cpu(pid), mine = self_cpu() - mine0;
    long n = rts - counted;
    double srv = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    printf("echo conns=%d size=%zu depth=%d rt_per_s=%.0f server_us_per_rt=%.3f server_busy=%.2f "
           "client_us_per_rt=%.3f\n",
           nconns, size, depth, n / wall, srv >= 0 && n ? srv * 1e6 / n : -1, srv >= 0 ? srv / wall : -1,
           n ? mine * 1e6 / n : -1);
    for (int i = 0; i < nconns; i++) close(cs[i].fd);
    if (n == 0) fprintf(stderr, "echo_load: no round trip in the measured window\n");
    return n > 0 ? 0 : 1;
}
