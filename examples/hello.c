/* The smallest corio program (also used to check an installed corio). */
#include <corio.h>
#include <stdio.h>

static int hello(void *arg, void **result) {
    (void)arg;
    (void)result;
    corio_loop *loop = corio_get_running_loop();
    double t0 = corio_loop_time(loop);
    int rc = corio_sleep(0.01);
    if (rc < 0) return rc;
    printf("hello from %s after %.2f s\n", corio_task_get_name(corio_current_task()),
           corio_loop_time(loop) - t0);
    return 0;
}

int main(void) {
    int rc = corio_run(hello, NULL, NULL);
    if (rc < 0) fprintf(stderr, "corio_run: %s\n", corio_strerror(rc));
    return rc < 0;
}
