/* Seed scenario 4: three groups of 5, 3 and 9 coroutines with random 1-3 s
 * delays, gathered per group, all groups gathered together: nested lists.
 * Then again, cancelling group 2: only its members are cancelled.
 * ex04_groups.py is the original. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int worker(void *arg, void **result) {          /* async def worker(group, i): */
    int rc = corio_sleep(1 + 2.0 * rand() / RAND_MAX);  /* sleep(uniform(1, 3))        */
    if (rc < 0) return rc;
    *result = arg;                                      /* return group * 100 + i      */
    return 0;
}

static const int sizes[3] = {5, 3, 9};

/* [gather(*(worker(g, i) for i in range(n))) for g, n in ...] */
static int make_groups(corio_future *groups[3]) {
    for (int g = 0; g < 3; g++) {
        corio_aw aws[9];
        for (int i = 0; i < sizes[g]; i++)
            aws[i] = CORIO_CORO(worker, (void *)(intptr_t)((g + 1) * 100 + i));
        int rc = corio_gather(aws, (size_t)sizes[g], 0, &groups[g]);
        if (rc < 0) {
            while (g-- > 0) corio_future_cancel(groups[g], NULL), corio_future_unref(groups[g]);
            return rc;
        }
    }
    return 0;
}

static void print_list(corio_future *group) {
    void **values = NULL;
    corio_future_result(group, (void **)&values);
    printf("[");
    for (size_t i = 0; i < corio_gather_size(group); i++)
        printf("%s%ld", i ? ", " : "", (long)(intptr_t)values[i]);
    printf("]");
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_future *groups[3], *all;
    int rc = make_groups(groups);
    if (rc < 0) return rc;
    corio_aw g3[] = {CORIO_FUT(groups[0]), CORIO_FUT(groups[1]), CORIO_FUT(groups[2])};
    if ((rc = corio_gather(g3, 3, 0, &all)) == 0) {     /* print(await gather(*groups)) */
        if ((rc = corio_await(all, NULL)) == 0) {
            printf("[");
            for (int g = 0; g < 3; g++) fputs(g ? ", " : "", stdout), print_list(groups[g]);
            printf("]\n");
        }
        corio_future_unref(all);
    }
    for (int g = 0; g < 3; g++) corio_future_unref(groups[g]);
    if (rc < 0) return rc;

    if ((rc = make_groups(groups)) < 0) return rc;
    for (int g = 0; g < 3; g++) g3[g] = CORIO_FUT(groups[g]);
    rc = corio_gather(g3, 3, CORIO_RETURN_EXCEPTIONS, &all); /* everything = gather(..., re) */
    if (rc < 0) {
        for (int g = 0; g < 3; g++) corio_future_cancel(groups[g], NULL), corio_future_unref(groups[g]);
        return rc;
    }
    rc = corio_sleep(0.5);
    if (rc == 0) corio_future_cancel(groups[1], NULL);   /* groups[1].cancel()           */
    if (rc == 0) rc = corio_await(all, NULL);            /* results = await everything   */
    for (int g = 0; rc == 0 && g < 3; g++) {
        printf("group %d: ", g + 1);
        if (corio_gather_result(all, (size_t)g, NULL) == CORIO_ECANCELED) printf("cancelled");
        else print_list(groups[g]);
        printf("\n");
    }
    corio_future_unref(all);
    for (int g = 0; g < 3; g++) corio_future_unref(groups[g]);
    return rc;
}

int main(void) {
    srand(4);
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
