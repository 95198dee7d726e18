/* A rate limiter with a semaphore: ten requests, at most three at a time.
 * ex15_rate_limit.py is the original. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>

static corio_semaphore *sem;
static int running, most; /* now, most at once */

static int request(void *arg, void **result) {
    int rc = corio_semaphore_acquire(sem);            /* async with sem: */
    if (rc < 0) return rc;
    if (++running > most) most = running;
    printf("request %ld starts\n", (long)(intptr_t)arg);
    rc = corio_sleep(0.2);
    running--;
    corio_semaphore_release(sem);                     /* (end of the with block) */
    if (rc < 0) return rc;
    *result = arg;
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    int rc = corio_semaphore_new(&sem, 3);
    if (rc < 0) return rc;
    corio_aw reqs[10];
    corio_outcome done[10];
    for (intptr_t i = 0; i < 10; i++) reqs[i] = CORIO_CORO(request, (void *)i);
    rc = corio_gather_wait(reqs, 10, 0, done);
    if (rc == 0) {
        printf("all done: [");
        for (int i = 0; i < 10; i++) printf("%s%ld", i ? ", " : "", (long)(intptr_t)done[i].value);
        printf("]\n");
        printf("at most %d ran at once\n", most);
    }
    corio_semaphore_free(sem);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
