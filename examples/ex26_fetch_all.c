/* Section 12.1, fetch_all: gather over real fetches gives the bodies in input
 * order; wait gives them in completion order. The server is local (the
 * example starts it): its handlers wait 200, 100 and 300 ms. The network
 * counterpart of ex06_fetch.c; ex26_fetch_all.py is the original. */
#include <corio.h>
#include <corio_curl.h>

#include "http_server.h"

static corio_curl *session; /* aiohttp.ClientSession(): one multi handle */

/* async def fetch(session, url): the body, NUL-terminated (the caller's). */
static int fetch(void *arg, void **result) {
    corio_future_set_release(corio_current_task(), free); /* a body nobody takes is freed */
    corio_http_response r;
    int rc = corio_http_get(session, arg, &r);
    if (rc < 0) return rc;
    *result = r.body; /* taken over: nothing else of r is left to free */
    r.body = NULL;
    corio_http_response_free(&r);
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    http_server server;
    int rc = http_server_start(&server);
    if (rc < 0) return rc;
    char urls[3][96];
    http_server_url(&server, "/delay/200/url1", urls[0], sizeof urls[0]);
    http_server_url(&server, "/delay/100/url2", urls[1], sizeof urls[1]);
    http_server_url(&server, "/delay/300/url3", urls[2], sizeof urls[2]);
    if ((rc = corio_curl_new(&session)) < 0) goto out;

    corio_aw aws[3];
    for (int i = 0; i < 3; i++) aws[i] = CORIO_CORO(fetch, urls[i]);
    corio_outcome res[3];
    if ((rc = corio_gather_wait(aws, 3, 0, res)) == 0)
        printf("gather: ['%s', '%s', '%s']\n", (char *)res[0].value, (char *)res[1].value,
               (char *)res[2].value);
    for (int i = 0; i < 3; i++) free(res[i].value); /* NULL where it failed */
    corio_outcomes_clear(res, 3);

    corio_futset *pending = NULL;
    if (rc == 0) rc = corio_futset_new(&pending);
    for (int i = 0; i < 3 && rc == 0; i++) {
        corio_task *t;
        if ((rc = corio_create_task(fetch, urls[i], NULL, &t)) < 0) break;
        rc = corio_futset_add(pending, t) < 0 ? CORIO_ENOMEM : 0;
        corio_future_unref(t);
    }
    while (rc == 0 && corio_futset_size(pending) > 0) { /* while pending: */
        corio_futset *done;
        if ((rc = corio_wait_set(pending, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done)) < 0) break;
        for (size_t i = 0; rc == 0 && i < corio_futset_size(done); i++) {
            void *body = NULL;
            if ((rc = corio_future_result(corio_futset_get(done, i), &body)) == 0)
                printf("wait: %s\n", (char *)body);
            free(body);
        }
        corio_futset_free(done);
    }
    corio_futset_free(pending);
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
