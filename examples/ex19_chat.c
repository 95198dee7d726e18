/* A line-based chat server: each client sends its name, then every line it
 * sends goes to all the other clients (broadcast, then drain each). Three
 * clients join, each says hello once, reads the two others' lines, leaves.
 * ex19_chat.py is the original. */
#include <corio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 3
static const char *names[N] = {"ada", "bob", "cy"};

typedef struct member {
    char name[32];
    corio_stream *s;
} member;
static member clients[N]; /* in the order they joined */
static int nclients;
static corio_event *everyone_in;
static int port;

static void leave(corio_stream *s) {
    for (int i = 0; i < nclients; i++)
        if (clients[i].s == s) {
            memmove(&clients[i], &clients[i + 1], (size_t)(nclients - i - 1) * sizeof *clients);
            nclients--;
            return;
        }
}

static int handle(corio_stream *s, void *arg) {
    (void)arg;
    const void *line;
    size_t len;
    int rc = corio_stream_readline(s, &line, &len);
    if (rc < 0) return rc;
    member *m = &clients[nclients++];
    snprintf(m->name, sizeof m->name, "%.*s", (int)(len ? len - 1 : 0), (const char *)line);
    m->s = s;
    if (nclients == N) corio_event_set(everyone_in);
    char name[32];
    snprintf(name, sizeof name, "%s", m->name);
    while ((rc = corio_stream_readline(s, &line, &len)) == 0 && len > 0) {
        char msg[256];
        int k = snprintf(msg, sizeof msg, "%s: %.*s", name, (int)len, (const char *)line);
        for (int i = 0; i < nclients; i++) /* broadcast */
            if (clients[i].s != s) corio_stream_write(clients[i].s, msg, (size_t)k);
        for (int i = 0; i < nclients; i++)
            if (clients[i].s != s && (rc = corio_stream_drain(clients[i].s)) < 0) break;
    }
    leave(s);
    corio_stream_close(s);
    corio_stream_wait_closed(s);
    return rc;
}

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

static int client(void *arg, void **result) {
    const char *name = arg;
    corio_stream *s;
    int rc = corio_open_connection("127.0.0.1", port, &s);
    if (rc < 0) return rc;
    char buf[64];
    int k = snprintf(buf, sizeof buf, "%s\n", name);
    corio_stream_write(s, buf, (size_t)k);
    if ((rc = corio_event_wait(everyone_in)) == 0) {
        k = snprintf(buf, sizeof buf, "hello from %s\n", name);
        corio_stream_write(s, buf, (size_t)k);
        rc = corio_stream_drain(s);
    }
    char(*got)[64] = calloc(2, sizeof *got);
    for (int i = 0; rc == 0 && i < 2; i++) {
        const void *line;
        size_t len;
        if ((rc = corio_stream_readline(s, &line, &len)) == 0)
            snprintf(got[i], sizeof got[i], "%.*s", (int)(len ? len - 1 : 0), (const char *)line);
    }
    qsort(got, 2, sizeof *got, cmp);
    corio_stream_close(s);
    if (rc == 0) rc = corio_stream_wait_closed(s);
    corio_stream_free(s);
    *result = got;
    return rc;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_event_new(&everyone_in);
    corio_server *server;
    int rc = corio_start_server(handle, NULL, "127.0.0.1", 0, NULL, &server);
    if (rc < 0) return rc;
    struct sockaddr_in a;
    unsigned int alen = sizeof a;
    corio_server_sockname(server, 0, (struct sockaddr *)&a, &alen);
    port = ntohs(a.sin_port);
    corio_aw clients_aw[N];
    for (int i = 0; i < N; i++) clients_aw[i] = CORIO_CORO(client, (void *)names[i]);
    corio_outcome results[N];
    rc = corio_gather_wait(clients_aw, N, 0, results);        /* asyncio.gather(*clients) */
    for (int i = 0; rc == 0 && i < N; i++) {
        char(*got)[64] = results[i].value;
        printf("%s heard: ['%s', '%s']\n", names[i], got[0], got[1]);
        free(got);
    }
    corio_outcomes_clear(results, N);
    corio_server_close(server);
    if (rc == 0) rc = corio_server_wait_closed(server);
    corio_server_free(server);
    printf("clients left: %d\n", nclients);
    corio_event_free(everyone_in);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
