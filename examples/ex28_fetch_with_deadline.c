/* Section 12.3, fetch_with_deadline: wait with a 1 s timeout keeps the
 * bodies that arrived (100 and 200 ms) and cancels the slow transfers (1.5
 * and 5 s); the cancellations are awaited. The network counterpart of
 * ex09_deadline.c; ex28_fetch_with_deadline.py is the original. */
#include <corio.h>
#include <corio_curl.h>

#include "http_server.h"

#define N 4

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

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    const char *names[N] = {"fast", "quick", "slow", "slower"};
    const int delays[N] = {100, 200, 1500, 5000};
    http_server server;
    int rc = http_server_start(&server);
    if (rc < 0) return rc;
    if ((rc = corio_curl_new(&session)) < 0) goto out;
    char urls[N][96], path[32];
    corio_task *tasks[N] = {0};
    for (int i = 0; i < N && rc == 0; i++) {
        snprintf(path, sizeof path, "/delay/%d/%s", delays[i], names[i]);
        rc = corio_create_task(fetch, http_server_url(&server, path, urls[i], sizeof urls[i]),
                               NULL, &tasks[i]);
    }
    corio_futset *done = NULL, *pending = NULL;
    if (rc == 0) rc = corio_wait_tasks(tasks, N, 1.0, CORIO_ALL_COMPLETED, &done, &pending);
    if (rc == 0) {
        printf("%zu done, %zu pending\n", corio_futset_size(done), corio_futset_size(pending));
        for (int i = 0; i < N; i++) {
            void *body = NULL;
            if (corio_futset_contains(done, tasks[i]) && corio_future_result(tasks[i], &body) == 0)
                printf("arrived: %s\n", (char *)body);
            free(body);
        }
        corio_futset_cancel(pending, NULL);
        rc = corio_futset_await(pending);
    }
    if (rc == 0) {
        printf("cancelled: [");
        for (int i = 0, k = 0; i < N; i++)
            if (corio_future_cancelled(tasks[i])) printf("%s'%s'", k++ ? ", " : "", names[i]);
        printf("]\n");
    }
    corio_futset_free(done);
    corio_futset_free(pending);
    for (int i = 0; i < N; i++) corio_future_unref(tasks[i]);
    corio_curl_free(session);
out:;
    int sc = http_server_stop(&server);
    return rc < 0 ? rc : sc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
