/* Seed scenario 11: successes and failures collected separately, with
 * gather(return_exceptions) and with wait. ex11_split.py is the original. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define VALUE_ERROR CORIO_EUSER(1) /* ValueError: the program's own code */

static int work(void *arg, void **result) {
    intptr_t n = (intptr_t)arg;
    int rc = corio_sleep(0.1 * (double)n);
    if (rc < 0) return rc;
    if (n % 2 == 0) return corio_raise(VALUE_ERROR, "job %ld failed", (long)n);
    *result = arg;
    return 0;
}

/* Appends "n" or "'msg'" to a Python-looking list. */
static void add(char *list, size_t cap, const char *item) {
    size_t len = strlen(list);
    snprintf(list + len, cap - len, "%s%s", len > 1 ? ", " : "", item);
}

static void report(const char *how, corio_future **futs, int n) {
    char ok[256] = "[", bad[256] = "[", item[96];
    for (int i = 0; i < n; i++) {
        corio_error *e;
        void *v = NULL;
        corio_future_exception(futs[i], &e);
        if (e) {
            snprintf(item, sizeof item, "'%s'", corio_error_message(e));
            add(bad, sizeof bad, item);
        } else {
            corio_future_result(futs[i], &v);
            snprintf(item, sizeof item, "%ld", (long)(intptr_t)v);
            add(ok, sizeof ok, item);
        }
        corio_error_unref(e);
    }
    printf("%s: successes %s] failures %s]\n", how, ok, bad);
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_aw aws[5];
    for (intptr_t n = 1; n <= 5; n++) aws[n - 1] = CORIO_CORO(work, (void *)n);
    corio_future *g;
    int rc = corio_gather(aws, 5, CORIO_RETURN_EXCEPTIONS, &g);
    if (rc < 0) return rc;
    if ((rc = corio_await(g, NULL)) == 0) {
        corio_future *kids[5];
        for (size_t i = 0; i < 5; i++) kids[i] = corio_gather_child(g, i);
        report("gather", kids, 5);
    }
    corio_future_unref(g);

    corio_task *tasks[5] = {0};
    for (intptr_t n = 1; n <= 5 && rc == 0; n++)
        rc = corio_create_task(work, (void *)n, NULL, &tasks[n - 1]);
    corio_aw ts[5];
    for (int i = 0; i < 5; i++) ts[i] = CORIO_FUT(tasks[i]);
    corio_futset *done = NULL, *pending = NULL;
    if (rc == 0) rc = corio_wait(ts, 5, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done, &pending);
    if (rc == 0) report("wait", tasks, 5);
    corio_futset_free(done);
    corio_futset_free(pending);
    for (int i = 0; i < 5; i++) corio_future_unref(tasks[i]);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
