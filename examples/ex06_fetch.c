/* Seed scenario 6: gather gives results in input order; wait gives them in
 * completion order. ex06_fetch.py is the original. */
#include <corio.h>
#include <stdio.h>

typedef struct url {
    const char *name;
    double delay;
    char data[64];
} url;

static int fetch(void *arg, void **result) {   /* async def fetch(url, delay): */
    url *u = arg;
    int rc = corio_sleep(u->delay);
    if (rc < 0) return rc;
    snprintf(u->data, sizeof u->data, "data from %s", u->name);
    *result = u->data;
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    url urls[3] = {{"url1", 2, ""}, {"url2", 1, ""}, {"url3", 3, ""}};
    corio_aw aws[3];
    for (int i = 0; i < 3; i++) aws[i] = CORIO_CORO(fetch, &urls[i]);
    corio_outcome res[3];
    int rc = corio_gather_wait(aws, 3, 0, res);
    if (rc < 0) return rc;
    printf("gather: ['%s', '%s', '%s']\n", (char *)res[0].value, (char *)res[1].value,
           (char *)res[2].value);

    corio_futset *pending;
    if ((rc = corio_futset_new(&pending)) < 0) return rc;
    for (int i = 0; i < 3 && rc >= 0; i++) {
        corio_task *t;
        if ((rc = corio_create_task(fetch, &urls[i], NULL, &t)) < 0) break;
        rc = corio_futset_add(pending, t);
        corio_future_unref(t);
    }
    while (rc >= 0 && corio_futset_size(pending) > 0) { /* while pending: */
        corio_futset *done;
        rc = corio_wait_set(pending, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done);
        for (size_t i = 0; rc == 0 && i < corio_futset_size(done); i++) {
            void *data;
            corio_future_result(corio_futset_get(done, i), &data);
            printf("wait: %s\n", (char *)data);
        }
        corio_futset_free(done);
    }
    corio_futset_free(pending);
    return rc < 0 ? rc : 0;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
