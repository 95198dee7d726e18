/* Soak: a long mixed workload (spawns, sleeps, awaits, cancels, errors,
 * callbacks) whose totals are checked. Also run under valgrind. */
#include "test.h"

typedef struct soak {
    long done, cancelled, failed;
} soak;

static soak st;

static int leaf(void *arg, void **res) {
    intptr_t k = (intptr_t)arg;
    int rc = corio_sleep((double)(k % 7) * 0.01);
    if (rc < 0) return rc;
    if (k % 11 == 0) return corio_raise(-EIO, "leaf %ld failed", (long)k);
    *res = arg;
    return 0;
}

static int branch(void *arg, void **res) {
    intptr_t base = (intptr_t)arg;
    corio_task *kids[8];
    for (int i = 0; i < 8; i++) {
        int rc = corio_create_task(leaf, (void *)(base + i), NULL, &kids[i]);
        ASSERT_EQ(rc, 0);
    }
    if (base % 3 == 0) corio_task_cancel(kids[base % 8], "pruned");
    intptr_t sum = 0;
    for (int i = 0; i < 8; i++) {
        void *r = NULL;
        int rc = corio_await(kids[i], &r);
        if (rc == 0) {
            sum += (intptr_t)r;
            st.done++;
        } else if (rc == CORIO_ECANCELED) {
            st.cancelled++;
        } else {
            ASSERT_EQ(rc, -EIO);
            st.failed++;
        }
        corio_future_unref(kids[i]);
    }
    *res = (void *)sum;
    return 0;
}

TEST(soak) {
    corio_loop *loop = vloop();
    long expect_done = 0, expect_cancelled = 0, expect_failed = 0;
    for (int round = 0; round < 20; round++) {
        corio_task *bs[50];
        for (int b = 0; b < 50; b++) {
            intptr_t base = (intptr_t)(round * 1000 + b * 8);
            ASSERT_EQ(corio_loop_create_task(loop, branch, (void *)base, NULL, 0, &bs[b]), 0);
            for (int i = 0; i < 8; i++) {
                intptr_t k = base + i;
                if (base % 3 == 0 && i == base % 8) expect_cancelled++;
                else if (k % 11 == 0) expect_failed++;
                else expect_done++;
            }
        }
        for (int b = 0; b < 50; b++) {
            ASSERT_EQ(corio_loop_run_until_complete(loop, bs[b], NULL), 0);
            corio_future_unref(bs[b]);
        }
    }
    ASSERT_EQ(st.done, expect_done);
    ASSERT_EQ(st.cancelled, expect_cancelled);
    ASSERT_EQ(st.failed, expect_failed);
    close_loop(loop);
    return 0;
}
