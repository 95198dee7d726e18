/* Seed scenario 13: the three exercises. ex13_exercises.py is the original. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define VALUE_ERROR CORIO_EUSER(1) /* ValueError: the program's own code */

static int job(void *arg, void **result) {
    intptr_t n = (intptr_t)arg;
    int rc = corio_sleep(0.1);
    if (rc < 0) return rc;
    if (n == 2 || n == 4) return corio_raise(VALUE_ERROR, "job %ld failed", (long)n);
    *result = arg;
    return 0;
}

static int rand_job(void *arg, void **result) {
    int rc = corio_sleep(0.1 + 0.9 * rand() / RAND_MAX);
    if (rc < 0) return rc;
    *result = arg;
    return 0;
}

static int short_job(void *arg, void **result) {
    int rc = corio_sleep(0.1 * (double)(intptr_t)arg);
    if (rc < 0) return rc;
    *result = arg;
    return 0;
}

/* Five tasks of fn(1..5) in a new set. */
static int spawn5(corio_fn fn, corio_futset **out) {
    int rc = corio_futset_new(out);
    for (intptr_t n = 1; n <= 5 && rc >= 0; n++) {
        corio_task *t;
        if ((rc = corio_create_task(fn, (void *)n, NULL, &t)) < 0) break;
        rc = corio_futset_add(*out, t);
        corio_future_unref(t);
    }
    return rc < 0 ? rc : 0;
}

static int exercise1(void) {
    corio_aw aws[5];
    for (intptr_t n = 1; n <= 5; n++) aws[n - 1] = CORIO_CORO(job, (void *)n);
    corio_future *g = NULL;
    int rc = corio_gather(aws, 5, CORIO_RETURN_EXCEPTIONS, &g);
    if (rc == 0 && (rc = corio_await(g, NULL)) == 0) {
        printf("successes: [");
        for (size_t i = 0, k = 0; i < 5; i++) {
            void *v;
            if (corio_gather_result(g, i, &v) == 0) printf("%s%ld", k++ ? ", " : "", (long)(intptr_t)v);
        }
        printf("]\nerrors: [");
        for (size_t i = 0, k = 0; i < 5; i++) {
            corio_error *e;
            if (corio_gather_exception(g, i, &e) == 0 && e)
                printf("%s'%s'", k++ ? ", " : "", corio_error_message(e));
            corio_error_unref(e);
        }
        printf("]\n");
    }
    corio_future_unref(g);
    return rc;
}

static int exercise2(void) {
    corio_futset *pending;
    int rc = spawn5(rand_job, &pending), rank = 0;
    while (rc == 0 && corio_futset_size(pending) > 0) {
        corio_futset *done;
        if ((rc = corio_wait_set(pending, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done)) < 0) break;
        for (size_t i = 0; i < corio_futset_size(done); i++) {
            void *v;
            corio_future_result(corio_futset_get(done, i), &v);
            printf("rank %d: job %ld\n", ++rank, (long)(intptr_t)v);
        }
        corio_futset_free(done);
    }
    corio_futset_free(pending);
    return rc;
}

static int exercise3(void) {
    corio_futset *pending, *done = NULL, *gone = NULL;
    int rc = spawn5(short_job, &pending);
    if (rc == 0) rc = corio_wait_set(pending, 0.3, CORIO_ALL_COMPLETED, &done);
    if (rc == 0) {
        printf("completed: %zu, pending: %zu\n", corio_futset_size(done), corio_futset_size(pending));
        for (size_t i = 0; i < corio_futset_size(pending); i++)
            corio_future_cancel(corio_futset_get(pending, i), NULL);
        rc = corio_wait_set(pending, CORIO_FOREVER, CORIO_ALL_COMPLETED, &gone);
    }
    if (rc == 0) {
        printf("pending now cancelled: [");
        for (size_t i = 0; i < corio_futset_size(gone); i++)
            printf("%s%s", i ? ", " : "", corio_future_cancelled(corio_futset_get(gone, i)) ? "True" : "False");
        printf("]\n");
    }
    corio_futset_free(gone);
    corio_futset_free(done);
    corio_futset_free(pending);
    return rc;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    int rc = exercise1();
    if (rc == 0) rc = exercise2();
    if (rc == 0) rc = exercise3();
    return rc;
}

int main(void) {
    srand(13);
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
