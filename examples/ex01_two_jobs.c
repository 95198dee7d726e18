/* Seed scenario 1: two sleeping jobs run concurrently: [1, 2] after ~2 s,
 * not 3. Line by line, ex01_two_jobs.py beside this file. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>

static int job(void *arg, void **result) {       /* async def job(n):        */
    intptr_t n = (intptr_t)arg;
    int rc = corio_sleep((double)n);             /*     await asyncio.sleep(n) */
    if (rc < 0) return rc;
    *result = (void *)n;                         /*     return n              */
    return 0;
}

static int main_task(void *arg, void **result) { /* async def main():        */
    (void)arg;
    (void)result;
    corio_loop *loop = corio_get_running_loop();
    double start = corio_loop_time(loop);
    corio_task *t1, *t2;                         /* t1 = create_task(job(1)) */
    int rc = corio_create_task(job, (void *)1, NULL, &t1);
    if (rc < 0) return rc;
    rc = corio_create_task(job, (void *)2, NULL, &t2);
    if (rc < 0) {
        corio_future_unref(t1);
        return rc;
    }
    void *r1 = NULL, *r2 = NULL;                 /* [await t1, await t2]     */
    rc = corio_await(t1, &r1);
    if (rc == 0) rc = corio_await(t2, &r2);
    corio_future_unref(t1);
    corio_future_unref(t2);
    if (rc < 0) return rc;
    printf("[%ld, %ld]\n", (long)(intptr_t)r1, (long)(intptr_t)r2);
    printf("took %.2f s\n", corio_loop_time(loop) - start);
    return 0;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);   /* asyncio.run(main())      */
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
