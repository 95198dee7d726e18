/* Runs one registered test by name (or lists them), then checks that it
 * left no file descriptor and no stack mapping behind. */
#include "test.h"

#include <dirent.h>

long corio__live_maps(void);

#define TEST_ENTRY(n) int test_##n(void);
#include "list.h"
#undef TEST_ENTRY

static const struct {
    const char *name;
    int (*fn)(void);
} tests[] = {
#define TEST_ENTRY(n) {#n, test_##n},
#include "list.h"
#undef TEST_ENTRY
};

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* The io_uring run of an I/O test (CORIO_BACKEND=io_uring, tests/
 * CMakeLists.txt) skips where a loop cannot have it: not built, or the
 * kernel refuses (the loop fell back to epoll). */
static int uring_refused(void) {
    const char *want = getenv("CORIO_BACKEND");
    if (!want || strcmp(want, "io_uring") != 0) return 0;
    corio_loop *loop;
    if (corio_loop_new(&loop) < 0) return 0; /* the test itself will say */
    int got = corio_loop_backend(loop);
    corio_loop_free(loop);
    if (got == CORIO_BACKEND_IO_URING) return 0;
    printf("io_uring unavailable (not built: make deps installs liburing-dev; or the kernel "
           "refuses it): skipped\n");
    return 1;
}

int main(int argc, char **argv) {
    size_t ntests = sizeof tests / sizeof tests[0];
    if (argc < 2) {
        for (size_t i = 0; i < ntests; i++) puts(tests[i].name);
        return 0;
    }
    for (size_t i = 0; i < ntests; i++) {
        if (strcmp(tests[i].name, argv[1]) != 0) continue;
        if (uring_refused()) return 77;
        int fds = count_fds();
        long maps = corio__live_maps();
        int rc = tests[i].fn();
        if (rc == 0) {
            if (count_fds() != fds) {
                fprintf(stderr, "%s: leaked file descriptors (%d before, %d after)\n",
                        argv[1], fds, count_fds());
                return 1;
            }
            if (corio__live_maps() != maps) {
                fprintf(stderr, "%s: leaked %ld stack mappings\n", argv[1],
                        corio__live_maps() - maps);
                return 1;
            }
        }
        return rc;
    }
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
}
