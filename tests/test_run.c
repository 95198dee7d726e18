/* corio_run: asyncio.run's contract. */
#include "test.h"

static int leftover_done;

static int lingering(void *arg, void **res) {
    (void)arg;
    (void)res;
    int rc = corio_sleep(1000);
    if (rc == CORIO_ECANCELED) leftover_done++;
    return rc;
}

static int stubborn(void *arg, void **res) {
    (void)arg;
    (void)res;
    int rc = corio_sleep(1000);
    ASSERT_EQ(rc, CORIO_ECANCELED);
    /* Cleanup that takes a moment, then fails: reported at shutdown. */
    ASSERT_EQ(corio_sleep(0.01), 0);
    leftover_done++;
    return corio_raise(-EIO, "cleanup failed");
}

static int main_task(void *arg, void **res) {
    ASSERT_EQ(corio_create_task(lingering, NULL, NULL, NULL), 0);
    ASSERT_EQ(corio_create_task(stubborn, NULL, NULL, NULL), 0);
    ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT(corio_get_running_loop() != NULL);
    ASSERT_STR(corio_task_get_name(corio_current_task()), "Task-1");
    /* A nested run is refused. */
    ASSERT_EQ(corio_run(main_task, NULL, NULL), CORIO_ERUNNING);
    *res = arg;
    return 0;
}

TEST(run_main_and_cleanup) {
    void *res = NULL;
    ASSERT_EQ(corio_run(main_task, (void *)17, &res), 0);
    ASSERT(res == (void *)17);
    ASSERT_EQ(leftover_done, 2); /* both left-overs saw their cancel and finished */
    ASSERT(corio_get_running_loop() == NULL);
    ASSERT_EQ(corio_run(NULL, NULL, NULL), CORIO_EINVAL);
    return 0;
}

static int main_fails(void *arg, void **res) {
    (void)arg;
    (void)res;
    ASSERT_EQ(corio_sleep(0.001), 0);
    return corio_raise(-ENOENT, "no config");
}

TEST(run_main_error) {
    ASSERT_EQ(corio_run(main_fails, NULL, NULL), -ENOENT);
    return 0;
}
