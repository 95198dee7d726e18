/* Graceful shutdown of a server on SIGINT or SIGTERM: stop accepting, let
 * the handlers at work finish within a deadline, then cancel the ones still
 * running. The program sends itself SIGTERM once three clients are being
 * served, so that its output is always the same. ex25_graceful_shutdown.py
 * is the original. */
#define _POSIX_C_SOURCE 200809L /* kill */
#include <corio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    double work; /* seconds of work per request */
} WORK[] = {{"alice", 0.1}, {"bob", 0.2}, {"carol", 3600}};
#define NWORK 3
#define DEADLINE 1.0

static corio_futset *handlers; /* the handler tasks at work */
static corio_event *all_connected;
static int connected;
static int port;

static int handle(corio_stream *s, void *arg) {
    (void)arg;
    corio_futset_add(handlers, corio_current_task());          /* handlers.add(current_task()) */
    const void *line;
    size_t len;
    int rc = corio_stream_readline(s, &line, &len);
    if (rc < 0) return rc;
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(len > 0 ? len - 1 : 0), (const char *)line);
    printf("%s: working\n", name);
    if (++connected == NWORK) corio_event_set(all_connected);
    double work = 0;
    for (int i = 0; i < NWORK; i++)
        if (strcmp(WORK[i].name, name) == 0) work = WORK[i].work;
    rc = corio_sleep(work);
    if (rc == CORIO_ECANCELED) {
        /* Cancelled by the shutdown: this connection ends here. */
        printf("%s: cancelled\n", name);
        return 0;
    }
    if (rc == 0) rc = corio_stream_write(s, "done\n", 5);
    if (rc == 0) rc = corio_stream_drain(s);
    if (rc == 0) printf("%s: finished\n", name);
    return rc; /* the server closes the stream (Python: writer.close()) */
}

static int client(void *arg, void **result) {
    (void)result;
    const char *name = arg;
    corio_stream *s;
    int rc = corio_open_connection("127.0.0.1", port, &s);
    if (rc < 0) return rc;
    char line[32];
    snprintf(line, sizeof line, "%s\n", name);
    rc = corio_stream_write(s, line, strlen(line));
    if (rc == 0) rc = corio_stream_drain(s);
    const void *reply;
    size_t len = 0;
    if (rc == 0) rc = corio_stream_readline(s, &reply, &len);
    if (rc == 0 && len > 0)
        printf("client %s: %.*s\n", name, (int)len - 1, (const char *)reply);
    else if (rc == 0)
        printf("client %s: connection closed\n", name);
    corio_stream_close(s);
    if (rc == 0) rc = corio_stream_wait_closed(s);
    corio_stream_free(s);
    return rc;
}

typedef struct signal_arg {
    const char *name;
    corio_event *stop;
} signal_arg;

static void on_signal(void *arg) { /* runs on the loop, not in signal context */
    signal_arg *a = arg;
    printf("%s: shutting down\n", a->name);
    corio_event_set(a->stop);
}

static int serve(corio_event *stop) {
    corio_server *server;
    int rc = corio_start_server(handle, NULL, "127.0.0.1", 0, NULL, &server);
    if (rc < 0) return rc;
    struct sockaddr_in a;
    unsigned int alen = sizeof a;
    corio_server_sockname(server, 0, (struct sockaddr *)&a, &alen);
    port = ntohs(a.sin_port);
    printf("serving\n");
    corio_task *clients[NWORK];
    for (int i = 0; i < NWORK; i++)
        corio_create_task(client, (void *)WORK[i].name, NULL, &clients[i]);
    corio_event_wait(all_connected);
    kill(getpid(), SIGTERM);                                    /* as `kill PID` would */

    corio_event_wait(stop);
    corio_server_close(server);                                 /* 1. stop accepting */
    printf("no longer accepting\n");
    corio_futset *done;                                         /* 2. a deadline */
    rc = corio_wait_set(handlers, DEADLINE, CORIO_ALL_COMPLETED, &done);
    if (rc == 0) {
        printf("deadline: %zu finished, %zu still running\n", corio_futset_size(done),
               corio_futset_size(handlers));
        corio_futset_free(done);
        corio_futset_cancel(handlers, NULL);                    /* 3. cancel the rest */
        rc = corio_futset_await(handlers);
    }
    for (int i = 0; i < NWORK; i++) {
        int crc = corio_await(clients[i], NULL);
        if (rc == 0) rc = crc;
        corio_future_unref(clients[i]);
    }
    corio_stream *s;
    int refused = corio_open_connection("127.0.0.1", port, &s);
    if (refused == -ECONNREFUSED) printf("a new connection is refused\n");
    else if (refused == 0) corio_stream_free(s);
    int wc = corio_server_wait_closed(server);
    corio_server_free(server);
    return rc < 0 ? rc : wc;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_event *stop;
    corio_event_new(&stop);
    corio_event_new(&all_connected);
    corio_futset_new(&handlers);
    corio_loop *loop = corio_get_running_loop();
    signal_arg args[] = {{"SIGINT", stop}, {"SIGTERM", stop}};
    corio_loop_add_signal_handler(loop, SIGINT, on_signal, &args[0]);
    corio_loop_add_signal_handler(loop, SIGTERM, on_signal, &args[1]);
    int rc = serve(stop);
    corio_loop_remove_signal_handler(loop, SIGINT);
    corio_loop_remove_signal_handler(loop, SIGTERM);
    if (rc == 0) printf("shut down\n");
    corio_futset_free(handlers);
    corio_event_free(all_connected);
    corio_event_free(stop);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    /* corio_run's own Ctrl-C (a SIGINT before the handlers above are in
     * place) ends as Python's uncaught KeyboardInterrupt: by SIGINT. */
    if (rc == CORIO_EINTERRUPTED) raise(SIGINT);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
