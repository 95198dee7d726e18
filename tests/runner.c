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

int main(int argc, char **argv) {
    size_t ntests = sizeof tests / sizeof tests[0];
    if (argc < 2) {
        for (size_t i = 0; i < ntests; i++) puts(tests[i].name);
        return 0;
    }
    for (size_t i = 0; i < ntests; i++) {
        if (strcmp(tests[i].name, argv[1]) != 0) continue;
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
