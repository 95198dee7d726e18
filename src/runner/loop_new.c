/* corio_loop_new: the core's loop with the layers' sources attached (the
 * thread pool, the signals). It sits here, above both, so that the core names no layer
 * above it (libuv's loop knows its pool only through a wake-up handle). */
#define _GNU_SOURCE
#include "signal/signal.h"
#include "threads/threads.h"

int corio_loop_new_with(corio_loop **out, const corio_loop_options *opts) {
    int backend = opts ? opts->backend : CORIO_BACKEND_DEFAULT;
    if (backend < CORIO_BACKEND_DEFAULT || backend > CORIO_BACKEND_AUTO) {
        if (out) *out = NULL;
        return CORIO_EINVAL;
    }
    int rc = corio__loop_create(out, backend);
    if (rc < 0) return rc;
    if ((rc = corio__threads_attach(*out)) < 0 || (rc = corio__signal_attach(*out)) < 0) {
        corio_loop_free(*out);
        *out = NULL;
    }
    return rc;
}

int corio_loop_new(corio_loop **out) { return corio_loop_new_with(out, NULL); }
