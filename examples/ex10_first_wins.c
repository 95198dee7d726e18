/* Seed scenario 10: first response wins. The Python original
 * (ex10_first_wins.py) spells it out: wait FIRST_COMPLETED, cancel the
 * others, await their cancellation, return the winner; first_response()
 * below is that, line by line. corio_any() is the same in one call. */
#include <corio.h>
#include <stdio.h>

typedef struct mirror {
    const char *name;
    double delay;
    char answer[64];
} mirror;

static int fetch(void *arg, void **result) {
    mirror *m = arg;
    int rc = corio_sleep(m->delay);
    if (rc < 0) return rc;
    snprintf(m->answer, sizeof m->answer, "answer from %s", m->name);
    *result = m->answer;
    return 0;
}

static int first_response(mirror *ms, int n, void **winner) {
    corio_task *tasks[8];                          /* tasks = [create_task(...) ...] */
    int rc = 0, made = 0;
    for (; made < n && rc == 0; made++)
        if ((rc = corio_create_task(fetch, &ms[made], NULL, &tasks[made])) < 0) break;
    corio_futset *done = NULL, *pending = NULL;    /* done, pending = await wait(tasks, */
    if (rc == 0)                                   /*     return_when=FIRST_COMPLETED) */
        rc = corio_wait_tasks(tasks, (size_t)n, CORIO_FOREVER, CORIO_FIRST_COMPLETED, &done, &pending);
    if (rc == 0) {
        corio_futset_cancel(pending, NULL);        /* for t in pending: t.cancel() */
        rc = corio_futset_await(pending);          /* await gather(*pending, re=True) */
        if (rc == 0) rc = corio_future_result(corio_futset_get(done, 0), winner);
    }
    corio_futset_free(done);
    corio_futset_free(pending);
    for (int i = 0; i < made; i++) corio_future_unref(tasks[i]);
    return rc;
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    mirror ms[3] = {{"eu", 1.5, ""}, {"us", 0.5, ""}, {"asia", 1.0, ""}};
    void *answer;
    int rc = first_response(ms, 3, &answer);
    if (rc == 0) printf("%s\n", (char *)answer);
    /* The same with corio_any, which also waits for the losers to finish. */
    corio_aw aws[3] = {CORIO_CORO(fetch, &ms[0]), CORIO_CORO(fetch, &ms[1]), CORIO_CORO(fetch, &ms[2])};
    size_t win;
    void *again;
    if (rc == 0) rc = corio_any(aws, 3, &win, &again);
    if (rc == 0 && (win != 1 || again != answer)) rc = CORIO_ERUNTIME; /* not the same winner */
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
