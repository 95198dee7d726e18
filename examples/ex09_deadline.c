/* Seed scenario 9: fast (1 s) and slow (10 s) under a 2 s deadline: 1 done,
 * 1 pending; the pending one is cancelled and that cancellation awaited.
 * ex09_deadline.py is the original. */
#include <corio.h>
#include <stdio.h>

static int fetch(void *arg, void **result) {
    int rc = corio_sleep(*(double *)arg);
    if (rc < 0) return rc;
    *result = arg;
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    static double one = 1, ten = 10;
    corio_task *fast = NULL, *slow = NULL;
    int rc = corio_create_task(fetch, &one, "fast", &fast);
    if (rc == 0) rc = corio_create_task(fetch, &ten, "slow", &slow);
    corio_aw aws[] = {CORIO_FUT(fast), CORIO_FUT(slow)};
    corio_futset *done = NULL, *pending = NULL;
    if (rc == 0) rc = corio_wait(aws, 2, 2.0, CORIO_ALL_COMPLETED, &done, &pending);
    if (rc == 0) {
        printf("%zu done, %zu pending\n", corio_futset_size(done), corio_futset_size(pending));
        for (size_t i = 0; i < corio_futset_size(pending); i++)
            corio_future_cancel(corio_futset_get(pending, i), NULL);
        if (corio_await(slow, NULL) == CORIO_ECANCELED) /* except CancelledError: */
            printf("slow was cancelled: %s\n", corio_future_cancelled(slow) ? "True" : "False");
    }
    corio_futset_free(done);
    corio_futset_free(pending);
    corio_future_unref(fast);
    corio_future_unref(slow);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
