// The public header as a C++17 program sees it: every macro a tutorial
// uses, compiled with -Wall -Wextra -pedantic -Werror (tests/CMakeLists.txt).
#include <corio.h>

static int body(void *arg, void **result) {
    *result = arg;
    return 0;
}

int main() {
    corio_aw aws[] = {CORIO_CORO(body, nullptr), CORIO_CORO_NAMED(body, nullptr, "named"),
                      CORIO_FUT(nullptr)};
    double forever = CORIO_FOREVER;
    corio_outcome o = {0, nullptr, nullptr};
    (void)aws;
    (void)o;
    return forever > 0 && CORIO_EUSER(1) < CORIO_ERUNTIME ? 0 : 1;
}
