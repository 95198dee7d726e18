/* Seed scenario 3: breakfast. Coffee (2 s) and toast (1 s) as tasks,
 * awaited in turn: about 2.00 s in all. ex03_breakfast.py is the original. */
#include <corio.h>
#include <stdio.h>

static int make_coffee(void *arg, void **result) {
    (void)arg;
    printf("Brewing coffee...\n");
    int rc = corio_sleep(2);
    if (rc < 0) return rc;
    printf("Coffee ready\n");
    *result = "coffee";
    return 0;
}

static int make_toast(void *arg, void **result) {
    (void)arg;
    printf("Toasting bread...\n");
    int rc = corio_sleep(1);
    if (rc < 0) return rc;
    printf("Toast ready\n");
    *result = "toast";
    return 0;
}

static int breakfast(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_loop *loop = corio_get_running_loop();
    double start = corio_loop_time(loop);
    corio_task *coffee_task, *toast_task;
    int rc = corio_create_task(make_coffee, NULL, "coffee", &coffee_task);
    if (rc < 0) return rc;
    rc = corio_create_task(make_toast, NULL, "toast", &toast_task);
    if (rc < 0) {
        corio_future_unref(coffee_task);
        return rc;
    }
    void *coffee = NULL, *toast = NULL;
    rc = corio_await(coffee_task, &coffee);
    if (rc == 0) rc = corio_await(toast_task, &toast);
    corio_future_unref(coffee_task);
    corio_future_unref(toast_task);
    if (rc < 0) return rc;
    printf("Breakfast is ready: %s and %s\n", (char *)coffee, (char *)toast);
    printf("Total time: %.2f seconds\n", corio_loop_time(loop) - start);
    return 0;
}

int main(void) {
    int rc = corio_run(breakfast, NULL, NULL);
    if (rc < 0) fprintf(stderr, "error: %s\n", corio_strerror(rc));
    return rc < 0;
}
