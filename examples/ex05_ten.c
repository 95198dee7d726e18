/* Seed scenario 5: ten coroutines with random 0.5-5 s delays: wait
 * FIRST_COMPLETED, print the first result and the unfinished count; then
 * wait the rest with a 2 s timeout; then wait all others. ex05_ten.py. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int work(void *arg, void **result) {
    int rc = corio_sleep(0.5 + 4.5 * rand() / RAND_MAX); /* sleep(uniform(0.5, 5)) */
    if (rc < 0) return rc;
    *result = arg;
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_futset *pending, *done;
    int rc = corio_futset_new(&pending);
    for (intptr_t i = 0; i < 10 && rc >= 0; i++) {   /* tasks = [create_task(work(i))...] */
        corio_task *t;
        if ((rc = corio_create_task(work, (void *)i, NULL, &t)) < 0) break;
        rc = corio_futset_add(pending, t);
        corio_future_unref(t);                       /* the set holds it now */
    }
    if (rc >= 0) rc = corio_wait_set(pending, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done);
    if (rc == 0) {
        void *first;
        corio_future_result(corio_futset_get(done, 0), &first);
        printf("first result: %ld, unfinished: %zu\n", (long)(intptr_t)first,
               corio_futset_size(pending));
        corio_futset_free(done);
        rc = corio_wait_set(pending, 2.0, CORIO_ALL_COMPLETED, &done); /* timeout=2 */
    }
    if (rc == 0) {
        printf("after 2 s more: %zu done, %zu pending\n", corio_futset_size(done),
               corio_futset_size(pending));
        corio_futset_free(done);
        rc = corio_wait_set(pending, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done);
    }
    if (rc == 0) {
        printf("at the end: %zu done, %zu pending\n", corio_futset_size(done),
               corio_futset_size(pending));
        corio_futset_free(done);
    }
    corio_futset_free(pending);
    return rc;
}

int main(void) {
    srand(5);
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
