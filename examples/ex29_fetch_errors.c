/* Section 12.4, fetch_collecting_errors: a refused port, a 404 and a reset
 * connection among good URLs; successes and failures apart, with
 * gather(return_exceptions) and with wait. Each failure names its URL and a
 * reason the program words itself (refused, reset, or the status), not the
 * library's text; ports are printed as PORT. fetch() drives its own easy
 * handle through corio_curl_perform, to ask curl which system error ended
 * the transfer. The network counterpart of ex11_split.c;
 * ex29_fetch_errors.py is the original. */
#include <corio.h>
#include <corio_curl.h>

#include "http_server.h"

#define N 5
#define FETCH_ERROR CORIO_EUSER(1) /* class FetchError(Exception) */

static corio_curl *session;

typedef struct buffer {
    char *data; /* owned, NUL-terminated */
    size_t len;
} buffer;

/* curl's write callback: append (a short count makes curl fail the transfer). */
static size_t collect(char *p, size_t size, size_t n, void *arg) {
    buffer *b = arg;
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown) return 0;
    memcpy(grown + b->len, p, n);
    b->data = grown;
    b->len += n;
    b->data[b->len] = '\0';
    (void)size; /* always 1 */
    return n;
}

/* The body, or FETCH_ERROR with "<url>: <reason>". */
static int fetch(void *arg, void **result) {
    const char *url = arg;
    corio_future_set_release(corio_current_task(), free);
    CURL *easy = curl_easy_init();
    if (!easy) return CORIO_ENOMEM;
    buffer body = {0};
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    int rc = corio_curl_perform(session, easy);
    long status = 0, err = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &err);
    curl_easy_cleanup(easy);
    if (rc == 0 && status < 400) {
        *result = body.data ? body.data : calloc(1, 1);
        return *result ? 0 : CORIO_ENOMEM;
    }
    free(body.data);
    if (rc == 0) return corio_raise(FETCH_ERROR, "%s: %ld", url, status);
    if (rc != CORIO_ECURL) return rc; /* cancelled, out of memory */
    return corio_raise(FETCH_ERROR, "%s: %s", url,
                       err == ECONNREFUSED ? "refused" : err == ECONNRESET ? "reset" : "failed");
}

/* Print "successes [...]" and "failures [...]" as Python prints the lists. */
static void report(const char *how, corio_future **futs) {
    printf("%s: successes [", how);
    for (int i = 0, k = 0; i < N; i++) {
        void *body = NULL;
        if (corio_future_result(futs[i], &body) == 0)
            printf("%s'%s'", k++ ? ", " : "", (char *)body);
        free(body);
    }
    printf("]\n%s: failures [", how);
    for (int i = 0, k = 0; i < N; i++) {
        corio_error *e = NULL;
        char shown[160];
        corio_future_exception(futs[i], &e);
        if (e) printf("%s'%s'", k++ ? ", " : "", show(corio_error_message(e), shown, sizeof shown));
        corio_error_unref(e);
    }
    printf("]\n");
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    http_server server;
    int rc = http_server_start(&server);
    if (rc < 0) return rc;
    char urls[N][96];
    http_server_url(&server, "/delay/100/one", urls[0], sizeof urls[0]);
    snprintf(urls[1], sizeof urls[1], "http://127.0.0.1:%d/nobody-listens", closed_port());
    http_server_url(&server, "/status/404", urls[2], sizeof urls[2]);
    http_server_url(&server, "/reset", urls[3], sizeof urls[3]);
    http_server_url(&server, "/delay/200/five", urls[4], sizeof urls[4]);
    if ((rc = corio_curl_new(&session)) < 0) goto out;

    corio_aw aws[N];
    for (int i = 0; i < N; i++) aws[i] = CORIO_CORO(fetch, urls[i]);
    corio_future *g;
    if ((rc = corio_gather(aws, N, CORIO_RETURN_EXCEPTIONS, &g)) == 0) {
        if ((rc = corio_await(g, NULL)) == 0) {
            corio_future *kids[N];
            for (size_t i = 0; i < N; i++) kids[i] = corio_gather_child(g, i);
            report("gather", kids);
        }
        corio_future_unref(g);
    }

    corio_task *tasks[N] = {0};
    for (int i = 0; i < N && rc == 0; i++) rc = corio_create_task(fetch, urls[i], NULL, &tasks[i]);
    corio_futset *done = NULL, *pending = NULL;
    if (rc == 0)
        rc = corio_wait_tasks(tasks, N, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done, &pending);
    if (rc == 0) report("wait", tasks);
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
