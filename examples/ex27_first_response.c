/* Section 12.2, first_response: the same file from three servers,
 * FIRST_COMPLETED, the other downloads cancelled, the winner's body
 * returned. Server A answers after 300 ms, B after 100 ms, C after 200 ms.
 * A cancelled download closes its connection: the servers that lost see
 * their clients hang up. The network counterpart of ex10_first_wins.c;
 * ex27_first_response.py is the original. */
#include <corio.h>
#include <corio_curl.h>

#include "http_server.h"

static corio_curl *session;

static int fetch(void *arg, void **result) {
    corio_future_set_release(corio_current_task(), free);
    corio_http_response r;
    int rc = corio_http_get(session, arg, &r);
    if (rc < 0) return rc;
    *result = r.body;
    r.body = NULL;
    corio_http_response_free(&r);
    return 0;
}

/* The winner's body (the caller's), the others cancelled and awaited. */
static int first_response(char urls[][96], int n, char **body) {
    corio_task *tasks[3] = {0};
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) rc = corio_create_task(fetch, urls[i], NULL, &tasks[i]);
    corio_futset *done = NULL, *pending = NULL;
    if (rc == 0)
        rc = corio_wait_tasks(tasks, (size_t)n, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done,
                              &pending);
    if (rc == 0) {
        corio_futset_cancel(pending, NULL);   /* for t in pending: t.cancel() */
        rc = corio_futset_await(pending);     /* await gather(*pending, return_exceptions=True) */
    }
    if (rc == 0) rc = corio_future_result(corio_futset_get(done, 0), (void **)body);
    corio_futset_free(done);
    corio_futset_free(pending);
    for (int i = 0; i < n; i++) corio_future_unref(tasks[i]);
    return rc;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    http_server servers[3];
    const char *names = "ABC";
    const int delays[3] = {300, 100, 200};
    char urls[3][96], path[32];
    int rc = 0, started = 0;
    for (; started < 3 && rc == 0; started++) {
        if ((rc = http_server_start(&servers[started])) < 0) break;
        snprintf(path, sizeof path, "/delay/%d/server-%c", delays[started], names[started]);
        http_server_url(&servers[started], path, urls[started], sizeof urls[started]);
    }
    if (rc == 0) rc = corio_curl_new(&session);
    if (rc == 0) {
        char *body = NULL;
        if ((rc = first_response(urls, 3, &body)) == 0) printf("first response: %s\n", body);
        free(body);
        for (int i = 0; i < 3 && rc == 0; i += 2) /* A and C */
            printf("server %c: %d connections open\n", names[i],
                   http_server_wait_idle(&servers[i], 2));
        corio_curl_free(session);
    }
    for (int i = 0; i < started; i++) {
        int sc = http_server_stop(&servers[i]);
        if (rc == 0) rc = sc;
    }
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
