/* Seed scenario 2: the same two jobs as tasks under wait: prints "2 0".
 * ex02_wait.py is the original. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>

static int job(void *arg, void **result) {
    int rc = corio_sleep((double)(intptr_t)arg);
    if (rc < 0) return rc;
    *result = arg;
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_task *t1, *t2;                        /* tasks = [create_task(job(1)), */
    int rc = corio_create_task(job, (void *)1, NULL, &t1);
    if (rc < 0) return rc;                      /*          create_task(job(2))] */
    if ((rc = corio_create_task(job, (void *)2, NULL, &t2)) < 0) {
        corio_future_unref(t1);
        return rc;
    }
    corio_aw tasks[] = {CORIO_FUT(t1), CORIO_FUT(t2)};
    corio_futset *done, *pending;               /* done, pending = await wait(tasks) */
    rc = corio_wait(tasks, 2, CORIO_FOREVER, CORIO_ALL_COMPLETED, &done, &pending);
    if (rc == 0) {
        printf("%zu %zu\n", corio_futset_size(done), corio_futset_size(pending));
        corio_futset_free(done);
        corio_futset_free(pending);
    }
    corio_future_unref(t1);
    corio_future_unref(t2);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
