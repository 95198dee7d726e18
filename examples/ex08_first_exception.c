/* Seed scenario 8: FIRST_EXCEPTION over might_fail(1..3) returns at the
 * failure; the caller cancels the pending rest. ex08_first_exception.py. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>

#define VALUE_ERROR CORIO_EUSER(1) /* ValueError: the program's own code */

static int might_fail(void *arg, void **result) {
    intptr_t n = (intptr_t)arg;
    int rc = corio_sleep((double)n);
    if (rc < 0) return rc;
    if (n == 2) return corio_raise(VALUE_ERROR, "task %ld failed", (long)n);
    *result = (void *)(n * 10);
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_task *tasks[3] = {0};
    int rc = 0;
    for (intptr_t n = 1; n <= 3 && rc == 0; n++)
        rc = corio_create_task(might_fail, (void *)n, NULL, &tasks[n - 1]);
    corio_aw aws[3] = {CORIO_FUT(tasks[0]), CORIO_FUT(tasks[1]), CORIO_FUT(tasks[2])};
    corio_futset *done = NULL, *pending = NULL;
    if (rc == 0) rc = corio_wait(aws, 3, CORIO_FOREVER, CORIO_FIRST_EXCEPTION, &done, &pending);
    if (rc == 0) {
        printf("%zu done, %zu pending\n", corio_futset_size(done), corio_futset_size(pending));
        for (int i = 0; i < 3; i++) {
            if (!corio_futset_contains(done, tasks[i])) continue;
            corio_error *e;
            void *v;
            corio_future_exception(tasks[i], &e);
            if (e) printf("   error: %s\n", corio_error_message(e));
            else corio_future_result(tasks[i], &v), printf("   result: %ld\n", (long)(intptr_t)v);
            corio_error_unref(e);
        }
        for (size_t i = 0; i < corio_futset_size(pending); i++)   /* for t in pending: t.cancel() */
            corio_future_cancel(corio_futset_get(pending, i), NULL);
        corio_futset *gone;                                    /* await wait(pending) */
        if ((rc = corio_wait_set(pending, CORIO_FOREVER, CORIO_ALL_COMPLETED, &gone)) == 0) {
            int all = 1;
            for (size_t i = 0; i < corio_futset_size(gone); i++)
                all &= corio_future_cancelled(corio_futset_get(gone, i));
            printf("pending cancelled: %s\n", all ? "True" : "False");
            corio_futset_free(gone);
        }
    }
    corio_futset_free(done);
    corio_futset_free(pending);
    for (int i = 0; i < 3; i++) corio_future_unref(tasks[i]);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
