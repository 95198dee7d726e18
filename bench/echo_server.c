/* echo_server PORT [BACKEND] [MODE]: the corio echo server the `echo`
 * workload drives (performance.md): listens on 127.0.0.1:PORT, echoes every
 * byte of every connection (a task per connection: read what came, write
 * it back, drain). BACKEND: epoll (default) or io_uring (fails if the loop
 * cannot have it); MODE: own (default) or copy, the stack mode. Exits 0 on
 * SIGTERM, or after 60 s without a connection. Prints "listening" once
 * it accepts connections. */
#define _GNU_SOURCE
#include "bench.h"

#include <signal.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static int port, copy_mode;
static double last_active;
static long live;

static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

static int echo(corio_stream *s, void *arg) {
    (void)arg;
    live++;
    const void *data; /* lent by the stream: no copy, no buffer on the stack */
    size_t n;
    int rc;
    while ((rc = corio_stream_read_lent(s, 65536, &data, &n)) == 0 && n > 0) {
        if ((rc = corio_stream_write(s, data, n)) < 0) break;
        if ((rc = corio_stream_drain(s)) < 0) break;
    }
    live--;
    last_active = bench_now();
    return 0; /* a peer's reset is the load generator stopping */
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_server *srv;
    corio_server_options opts = {.backlog = 4096};
    int rc = corio_start_server(echo, NULL, "127.0.0.1", port, &opts, &srv);
    if (rc < 0) return bench_fail("start_server", rc), rc;
    printf("listening\n");
    fflush(stdout);
    last_active = bench_now();
    while (!stop && (live > 0 || bench_now() - last_active < 60)) corio_sleep(0.05);
    corio_server_close(srv);
    corio_server_abort_clients(srv);
    corio_server_wait_closed(srv);
    corio_server_free(srv);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: echo_server PORT [epoll|io_uring] [own|copy]\n");
        return 2;
    }
    port = atoi(argv[1]);
    corio_loop_options lo = {.backend = CORIO_BACKEND_EPOLL};
    if (argc > 2 && strcmp(argv[2], "io_uring") == 0) {
        lo.backend = CORIO_BACKEND_IO_URING;
    } else if (argc > 2 && strcmp(argv[2], "epoll") != 0 && strcmp(argv[2], "default") != 0) {
        fprintf(stderr, "echo_server: unknown backend %s (epoll or io_uring)\n", argv[2]);
        return 2;
    }
    copy_mode = argc > 3 && strcmp(argv[3], "copy") == 0;
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl; /* thousands of connections: as many descriptors as allowed */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    corio_loop *loop;
    if (corio_loop_new_with(&loop, &lo) < 0) return 1;
    if (corio_loop_backend(loop) != lo.backend) {
        fprintf(stderr, "echo_server: %s is not available here\n", argv[2]);
        return 1;
    }
    if (copy_mode) corio_loop_set_stack_mode(loop, CORIO_STACK_COPY);
    int rc = corio_loop_run_main(loop, main_task, NULL, NULL);
    corio_loop_free(loop);
    return rc < 0;
}
