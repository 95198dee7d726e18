/* Section 12.5: as_completed over real fetches prints each body as it
 * arrives, errors included (a 404 at once; pages after 300, 100 and
 * 200 ms). The network counterpart of ex12_as_completed.c;
 * ex30_fetch_as_completed.py is the original. */
#include <corio.h>
#include <corio_curl.h>

#include "http_server.h"

#define N 4
#define FETCH_ERROR CORIO_EUSER(1) /* class FetchError(Exception) */

static corio_curl *session;

static int fetch(void *arg, void **result) {
    const char *url = arg;
    corio_future_set_release(corio_current_task(), free);
    corio_http_response r;
    int rc = corio_http_get(session, url, &r);
    if (rc < 0) return rc;
    if (r.status >= 400) rc = corio_raise(FETCH_ERROR, "%s: %ld", url, r.status);
    else *result = r.body, r.body = NULL;
    corio_http_response_free(&r);
    return rc;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    const char *paths[N] = {"/delay/300/one", "/delay/100/two", "/status/404", "/delay/200/four"};
    http_server server;
    int rc = http_server_start(&server);
    if (rc < 0) return rc;
    if ((rc = corio_curl_new(&session)) < 0) goto out;
    char urls[N][96];
    corio_aw aws[N];
    for (int i = 0; i < N; i++)
        aws[i] = CORIO_CORO(fetch, http_server_url(&server, paths[i], urls[i], sizeof urls[i]));
    corio_as_completed *it;                      /* for aw in as_completed(...): */
    if ((rc = corio_as_completed_new(aws, N, CORIO_FOREVER, &it)) == 0) {
        corio_future *f;
        while ((rc = corio_as_completed_next(it, &f)) == 1) {
            void *body = NULL;
            corio_error *e = NULL;
            char shown[160];
            if (corio_future_result(f, &body) == 0) /*     print("got", await aw) */
                printf("got %s\n", (char *)body);
            else if (corio_future_exception(f, &e) == 0 && corio_error_code(e) == FETCH_ERROR)
                printf("error: %s\n", show(corio_error_message(e), shown, sizeof shown));
            else
                rc = corio_error_code(e);            /* not a FetchError: raised on */
            free(body);
            corio_error_unref(e);
            corio_future_unref(f);
            if (rc < 0) break;
        }
        corio_as_completed_free(it);
    }
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
