/* A producer/consumer pipeline with a bounded queue: the producer is held
 * back when the queue is full; join() waits until every item was
 * processed. ex14_pipeline.py is the original. */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>

static corio_queue *q;
static long results[16];
static int nresults;

static int producer(void *arg, void **result) {
    (void)result;
    for (intptr_t i = 1; i <= (intptr_t)arg; i++) {
        int rc = corio_queue_put(q, (void *)i);       /* await q.put(i) */
        if (rc < 0) return rc;
        printf("produced %ld (queue size %zu)\n", (long)i, corio_queue_qsize(q));
    }
    return corio_queue_put(q, NULL);                  /* no more items */
}

static int consumer(void *arg, void **result) {
    (void)arg;
    (void)result;
    for (;;) {
        void *item;
        int rc = corio_queue_get(q, &item);           /* item = await q.get() */
        if (rc < 0) return rc;
        if (!item) break;
        if ((rc = corio_sleep(0.1)) < 0) return rc;   /* some work */
        results[nresults++] = (long)(intptr_t)item * (long)(intptr_t)item;
        printf("consumed %ld\n", (long)(intptr_t)item);
        corio_queue_task_done(q);
    }
    return corio_queue_task_done(q);
}

static int main_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    int rc = corio_queue_new(&q, 2);                  /* Queue(maxsize=2) */
    if (rc < 0) return rc;
    corio_aw both[] = {CORIO_CORO(producer, (void *)5), CORIO_CORO(consumer, NULL)};
    rc = corio_gather_wait(both, 2, 0, NULL);       /* await gather(producer, consumer) */
    if (rc == 0) rc = corio_queue_join(q);
    if (rc == 0) {
        printf("results: [");
        for (int i = 0; i < nresults; i++) printf("%s%ld", i ? ", " : "", results[i]);
        printf("]\n");
    }
    corio_queue_free(q);
    return rc;
}

int main(void) {
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
