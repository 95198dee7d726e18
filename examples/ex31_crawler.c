/* Section 12.6, a crawler: 1 000 pages, at most 50 in flight (a
 * semaphore), each under a 1 s timeout, results in input order, and a
 * progress line while it runs (rewritten in place at every 100 pages: the
 * same bytes whichever page ends when). Pages 50, 150, ... take 5 s (they
 * time out), 125, 375, 625 and 875 are missing (404), the others take 0 to
 * 19 ms. ex31_crawler.py is the original. */
#include <corio.h>
#include <corio_curl.h>

#include "http_server.h"

#define N 1000
#define LIMIT 50
#define TIMEOUT 1.0

static corio_curl *session;
static http_server server;
static corio_semaphore *sem;
static int finished, running, most; /* pages done, in flight now, most at once */

static void page_path(int i, char *buf, size_t cap) {
    if (i % 100 == 50) snprintf(buf, cap, "/delay/5000/page-%d", i);
    else if (i % 250 == 125) snprintf(buf, cap, "/status/404");
    else snprintf(buf, cap, "/delay/%d/page-%d", i * 7 % 20, i);
}

static char *copy(const char *text) { /* strdup, which C17 lacks */
    char *c = malloc(strlen(text) + 1);
    return c ? strcpy(c, text) : NULL;
}

/* GET page i under the timeout: its body, "status <code>" or "timeout". */
static int fetch_page(int i, char **text) {
    char path[48], url[96];
    page_path(i, path, sizeof path);
    corio_http_response r;
    corio_timeout *cm;
    int rc = corio_timeout_enter(TIMEOUT, &cm);          /* async with asyncio.timeout(TIMEOUT): */
    if (rc < 0) return rc;
    http_server_url(&server, path, url, sizeof url);
    rc = corio_timeout_exit(cm, corio_http_get(session, url, &r));
    if (rc == CORIO_ETIMEDOUT) {
        *text = copy("timeout");
    } else if (rc < 0) {
        return rc;
    } else if (r.status >= 400) {
        char status[32];
        snprintf(status, sizeof status, "status %ld", r.status);
        *text = copy(status);
    } else {
        *text = r.body;
        r.body = NULL;
    }
    corio_http_response_free(&r);
    return *text ? 0 : CORIO_ENOMEM;
}

static int crawl(void *arg, void **result) {
    corio_future_set_release(corio_current_task(), free);
    int rc = corio_semaphore_acquire(sem);               /* async with sem: */
    if (rc < 0) return rc;
    if (++running > most) most = running;
    rc = fetch_page((int)(intptr_t)arg, (char **)result);
    running--;                                           /* finally: */
    if (++finished % 100 == 0) {
        printf("\rcrawled %d/%d", finished, N);
        fflush(stdout);
    }
    corio_semaphore_release(sem);
    return rc;
}

static corio_aw pages[N];
static corio_outcome results[N];

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    int rc = http_server_start(&server);
    if (rc < 0) return rc;
    if ((rc = corio_semaphore_new(&sem, LIMIT)) < 0) goto out;
    if ((rc = corio_curl_new(&session)) == 0) {
        for (intptr_t i = 0; i < N; i++) pages[i] = CORIO_CORO(crawl, (void *)i);
        rc = corio_gather_wait(pages, N, 0, results);
        corio_curl_free(session);
    }
    if (rc == 0) {
        printf("\n");
        int ok = 0;
        for (int i = 0; i < N; i++) ok += strncmp(results[i].value, "data from", 9) == 0;
        printf("%d pages: %d ok, at most %d in flight\n", N, ok, most);
        printf("first: %s - last: %s\n", (char *)results[0].value, (char *)results[N - 1].value);
        for (int i = 0; i < N; i++)
            if (strncmp(results[i].value, "data from", 9) != 0)
                printf("page %d: %s\n", i, (char *)results[i].value);
    }
    for (int i = 0; i < N; i++) free(results[i].value);
    corio_outcomes_clear(results, N);
    corio_semaphore_free(sem);
out:;
    int sc = http_server_stop(&server);
    return rc < 0 ? rc : sc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
