/* A blocking call moved to a thread: the loop keeps ticking meanwhile.
 * ex16_to_thread.py is the original. */
#define _POSIX_C_SOURCE 200809L
#include <corio.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static int blocking_io(void *arg, void **result) {   /* runs on a pool thread */
    struct timespec half = {0, 500000000};
    nanosleep(&half, NULL);                           /* a call that blocks its thread */
    *result = (void *)((intptr_t)arg * 2);
    return 0;
}

static int to_thread(void *arg, void **result) {
    return corio_to_thread(blocking_io, arg, NULL, result); /* asyncio.to_thread(...) */
}

static int ticker(void *arg, void **result) {
    (void)arg;
    (void)result;
    for (int i = 0; i < 4; i++) {
        printf("tick %d\n", i);
        fflush(stdout);
        int rc = corio_sleep(0.1);
        if (rc < 0) return rc;
    }
    return 0;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_aw both[] = {CORIO_CORO(to_thread, (void *)21), CORIO_CORO(ticker, NULL)};
    corio_outcome res[2];
    int rc = corio_gather_wait(both, 2, 0, res);
    if (rc == 0) printf("blocking call returned %ld\n", (long)(intptr_t)res[0].value);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
