/* Seed scenario 12: as_completed prints each result as it arrives, errors
 * included. ex12_as_completed.py is the original. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>

#define VALUE_ERROR CORIO_EUSER(1) /* ValueError: the program's own code */

typedef struct job {
    intptr_t n;
    double delay;
} job;

static int work(void *arg, void **result) {
    job *j = arg;
    int rc = corio_sleep(j->delay);
    if (rc < 0) return rc;
    if (j->n == 3) return corio_raise(VALUE_ERROR, "job %ld failed", (long)j->n);
    *result = (void *)j->n;
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    job jobs[4] = {{1, 3}, {2, 1}, {3, 2}, {4, 0.5}};
    corio_aw aws[4];
    for (int i = 0; i < 4; i++) aws[i] = CORIO_CORO(work, &jobs[i]);
    corio_as_completed *it;                      /* for aw in as_completed(...): */
    int rc = corio_as_completed_new(aws, 4, CORIO_FOREVER, &it);
    if (rc < 0) return rc;
    corio_future *f;
    while ((rc = corio_as_completed_next(it, &f)) == 1) {
        void *v;
        if (corio_future_result(f, &v) == 0)     /*     print("got", await aw) */
            printf("got %ld\n", (long)(intptr_t)v);
        else {                                   /* except RuntimeError as e: */
            corio_error *e;
            corio_future_exception(f, &e);
            printf("error: %s\n", corio_error_message(e));
            corio_error_unref(e);
        }
        corio_future_unref(f);                   /* next hands out a reference */
    }
    corio_as_completed_free(it);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
