/* Seed scenario 1: gather two sleeping jobs: [1, 2] after ~2 s, not 3.
 * Line by line, ex01_two_jobs.py beside this file. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>

static int job(void *arg, void **result) {        /* async def job(n):          */
    intptr_t n = (intptr_t)arg;
    int rc = corio_sleep((double)n);              /*     await asyncio.sleep(n) */
    if (rc < 0) return rc;
    *result = (void *)n;                          /*     return n               */
    return 0;
}

static int main_task(void *arg, void **result) {  /* async def main():          */
    (void)arg;
    (void)result;
    corio_loop *loop = corio_get_running_loop();
    double start = corio_loop_time(loop);
    corio_aw jobs[] = {CORIO_CORO(job, (void *)1), CORIO_CORO(job, (void *)2)};
    corio_outcome res[2];                         /* results = await gather(    */
    int rc = corio_gather_wait(jobs, 2, 0, res);  /*     job(1), job(2))        */
    if (rc < 0) return rc;
    printf("[%ld, %ld]\n", (long)(intptr_t)res[0].value, (long)(intptr_t)res[1].value);
    printf("took %.2f s\n", corio_loop_time(loop) - start);
    return 0;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);    /* asyncio.run(main())        */
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
