#define _POSIX_C_SOURCE 200809L
/* sleepers N: N tasks that each sleep 1.0 s, all awaited; prints the check
 * line, wall time and peak RSS per task. The 1 000 000-task program. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static int sleeper(void *arg, void **result) {
    int rc = corio_sleep(1.0);
    if (rc < 0) return rc;
    *result = arg;
    return 0;
}

typedef struct {
    long n;
    long long sum;
    int copy;
} job;

static int main_task(void *arg, void **result) {
    (void)result;
    job *j = arg;
    if (j->copy) corio_loop_set_stack_mode(corio_get_running_loop(), CORIO_STACK_COPY);
    corio_task **ts = calloc((size_t)j->n, sizeof *ts);
    if (!ts) return CORIO_ENOMEM;
    int rc = 0;
    long made = 0;
    for (; made < j->n && rc == 0; made++)
        rc = corio_create_task(sleeper, (void *)(intptr_t)1, NULL, &ts[made]);
    if (rc < 0) made--;
    for (long i = 0; i < made; i++) {
        void *r = NULL;
        int a = corio_await(ts[i], &r);
        if (a == 0) j->sum += (intptr_t)r;
        else if (rc == 0) rc = a;
        corio_future_unref(ts[i]);
    }
    free(ts);
    return rc;
}

int main(int argc, char **argv) {
    job j = {.n = argc > 1 ? atol(argv[1]) : 100000};
    j.copy = argc > 2 && !strcmp(argv[2], "copy");
    if (j.n <= 0 || (argc > 2 && !j.copy && strcmp(argv[2], "default") != 0)) {
        fprintf(stderr, "usage: sleepers N [default|copy]\n");
        return 2;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = corio_run(main_task, &j, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (rc < 0) {
        fprintf(stderr, "sleepers: %s\n", corio_strerror(rc));
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double wall = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("sleepers n=%ld mode=%s sum=%lld rss_mb=%.1f bytes_per_task=%.0f secs=%.6f\n", j.n,
           j.copy ? "copy" : "default", j.sum, (double)ru.ru_maxrss / 1024, (double)ru.ru_maxrss * 1024 / (double)j.n, wall);
    return j.sum == j.n ? 0 : 1;
}
