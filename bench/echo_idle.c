/* echo_idle N PID PORT: the `echo_idle` workload (performance.md) against
 * the echo server PID listening on 127.0.0.1:PORT: N connections that
 * stay idle, then each sends one byte and reads it back (so each is live
 * in the server: a task and its stack, or a callback's state). Prints the
 * server's memory per connection: its resident set after, minus before,
 * divided by N (kernel socket buffers aside: they are not in the RSS):
 *   echo_idle n=.. rss_before_kb=.. rss_after_kb=.. bytes_per_conn=..
 * No corio here either: only the server is measured. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static long rss_kb(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    fclose(f);
    return kb;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: echo_idle N PID PORT\n");
        return 2;
    }
    int n = atoi(argv[1]), pid = atoi(argv[2]), port = atoi(argv[3]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)n + 32 > rl.rlim_cur) {
        fprintf(stderr, "echo_idle: %d connections need more descriptors than %lu\n", n,
                (unsigned long)rl.rlim_cur);
        return 77;
    }
    usleep(100000);
    long before = rss_kb(pid);
    int *fds = malloc((size_t)n * sizeof *fds);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a)) {
            perror("echo_idle: connect");
            return 1;
        }
    }
    usleep(200000); /* idle: accepted, each waiting for its first byte */
    for (int i = 0; i < n; i++) {
        char c = 'x';
        if (send(fds[i], &c, 1, MSG_NOSIGNAL) != 1 || recv(fds[i], &c, 1, 0) != 1 || c != 'x') {
            fprintf(stderr, "echo_idle: connection %d got no echo of its byte\n", i);
            return 1;
        }
    }
    usleep(100000);
    long after = rss_kb(pid);
    printf("echo_idle n=%d rss_before_kb=%ld rss_after_kb=%ld bytes_per_conn=%.0f\n", n, before, after,
           (double)(after - before) * 1024.0 / n);
    for (int i = 0; i < n; i++) close(fds[i]);
    return 0;
}
