/* corio_loop_new: the core's loop with the layers' sources attached (the
 * thread pool). It sits here, above both, so that the core names no layer
 * above it (libuv's loop knows its pool only through a wake-up handle). */
#define _GNU_SOURCE
#include "threads/threads.h"

int corio_loop_new(corio_loop **out) {
    int rc = corio__loop_create(out);
    if (rc < 0) return rc;
    if ((rc = corio__threads_attach(*out)) < 0) {
        corio_loop_free(*out);
        *out = NULL;
    }
    return rc;
}
