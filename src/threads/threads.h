/* The thread layer: call_soon_threadsafe, run_coroutine_threadsafe and
 * to_thread, on the core contract. The loop knows the pool only as a
 * source (contract.h); runner/ attaches it to each new loop. */
#ifndef CORIO_THREADS_H
#define CORIO_THREADS_H

#include "core/contract.h"

/* Give a new loop (not yet handed out) its pool: 0 or CORIO_ENOMEM. */
int corio__threads_attach(corio_loop *loop);

#endif
