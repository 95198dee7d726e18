/* Failure injection (neco style): make the Nth allocation or system call
 * fail, for every N a scenario makes, and check each ends with a clean
 * error, a clean close and no leak (ASan/LSan checks the heap, the runner
 * checks fds and mappings). */
#include "test.h"

long corio__fail_after(long nth);

static int child(void *arg, void **res) {
    int rc = corio_sleep(0.5);
    if (rc < 0) return rc;
    *res = arg;
    return 0;
}

/* Enough children that the stack pool prepares fresh slots in a batch
 * (stack.c), so that call fails in turn too. */
enum { KIDS = 20 };

static int parent(void *arg, void **res) {
    (void)arg;
    corio_task *kids[KIDS];
    int made = 0, rc = 0;
    for (int i = 0; i < KIDS && rc == 0; i++) {
        rc = corio_create_task(child, (void *)(intptr_t)i, i == 1 ? "named" : NULL, &kids[i]);
        if (rc == 0) made++;
    }
    intptr_t sum = 0;
    for (int i = 0; i < made; i++) {
        void *r = NULL;
        int a = corio_await(kids[i], &r);
        if (a == 0) sum += (intptr_t)r;
        else if (rc == 0) rc = a;
        corio_future_unref(kids[i]);
    }
    if (rc == 0) rc = corio_sleep(0.1);
    if (rc == 0) rc = corio_raise(-EAGAIN, "with a message %d", 1) == -EAGAIN ? 0 : -1;
    *res = (void *)sum;
    return rc;
}

static int scenario(void) {
    corio_loop *loop;
    int rc = corio_loop_new(&loop);
    if (rc < 0) return rc;
    corio_loop_set_virtual_time(loop, 1);
    reports r = {0};
    corio_loop_set_exception_handler(loop, capture_report, &r);
    corio_task *t;
    rc = corio_loop_create_task(loop, parent, NULL, "parent", 0, &t);
    if (rc == 0) {
        void *res = NULL;
        rc = corio_loop_run_until_complete(loop, t, &res);
        if (rc == 0) ASSERT(res == (void *)(intptr_t)(KIDS * (KIDS - 1) / 2));
        corio_future_unref(t);
    }
    corio_future *f;
    if (rc == 0) rc = corio_future_new(loop, &f);
    if (rc == 0) {
        rc = corio_future_cancel(f, "msg");
        if (rc == 1) rc = 0;
        corio_future_unref(f);
    }
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
    return rc;
}

TEST(fail_every_call) {
    corio__fail_after(0);
    ASSERT_EQ(scenario(), 0);
    long calls = corio__fail_after(0);
    ASSERT(calls > 5);
    for (long n = 1; n <= calls; n++) {
        corio__fail_after(n);
        int rc = scenario();
        corio__fail_after(0);
        /* Every failure surfaces as an error code, never a crash. */
        ASSERT(rc == 0 || rc == CORIO_ENOMEM || rc == -EMFILE);
    }
    return 0;
}
