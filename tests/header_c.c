/* The public header under strict C17 (-pedantic): the same macros as the
 * C++ check, including in a static initializer. */
#include <corio.h>

static int body(void *arg, void **result) {
    *result = arg;
    return 0;
}

int main(void) {
    corio_aw aws[] = {CORIO_CORO(body, NULL), CORIO_CORO_NAMED(body, NULL, "named"), CORIO_FUT(NULL)};
    double forever = CORIO_FOREVER;
    (void)aws;
    return forever > 0 && CORIO_EUSER(1) < CORIO_ERUNTIME ? 0 : 1;
}
