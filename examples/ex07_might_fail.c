/* Seed scenario 7: might_fail(2) fails; gather without return_exceptions
 * delivers that error; with it, the list is [10, error, 30].
 * ex07_might_fail.py is the original. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>

#define VALUE_ERROR CORIO_EUSER(1) /* ValueError: the program's own code */

static int might_fail(void *arg, void **result) {
    intptr_t n = (intptr_t)arg;
    int rc = corio_sleep(0.1 * (double)n);
    if (rc < 0) return rc;
    if (n == 2) return corio_raise(VALUE_ERROR, "task %ld failed", (long)n); /* raise ValueError */
    *result = (void *)(n * 10);
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_aw aws[3];
    for (intptr_t n = 1; n <= 3; n++) aws[n - 1] = CORIO_CORO(might_fail, (void *)n);
    int rc = corio_gather_wait(aws, 3, 0, NULL); /* the values are not needed */
    if (rc == VALUE_ERROR) /* except ValueError as e: */
        printf("gather raised: %s\n", corio_error_message(corio_current_error()));
    corio_future *g;
    if ((rc = corio_gather(aws, 3, CORIO_RETURN_EXCEPTIONS, &g)) < 0) return rc;
    if ((rc = corio_await(g, NULL)) == 0) {
        printf("[");
        for (size_t i = 0; i < 3; i++) {
            void *v;
            corio_error *e;
            if (corio_gather_result(g, i, &v) == 0) {
                printf("%s%ld", i ? ", " : "", (long)(intptr_t)v);
            } else {
                corio_gather_exception(g, i, &e);
                printf("%s'error(%s)'", i ? ", " : "", corio_error_message(e));
                corio_error_unref(e);
            }
        }
        printf("]\n");
    }
    corio_future_unref(g);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
