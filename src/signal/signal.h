/* The signal layer: how a signal reaches the loops that asked for it
 * (signal.c says how). Each loop has it as a source (contract.h), which
 * runner/ attaches at creation; corio_run takes SIGINT through the two
 * calls below. */
#ifndef CORIO_SIGNAL_H
#define CORIO_SIGNAL_H

#include "core/contract.h"

/* Give a new loop (not yet handed out) its signal source: 0 or CORIO_ENOMEM. */
int corio__signal_attach(corio_loop *loop);
/* asyncio.Runner's SIGINT: if this is the main thread and SIGINT's
 * disposition is the default, handle SIGINT on loop with fn(arg) (as
 * corio_loop_add_signal_handler). 1 if it did, 0 if not, or a negative
 * code. Checked and installed in one step, so no other thread slips in. */
int corio__signal_take_sigint(corio_loop *loop, corio_cb fn, void *arg);
/* Remove sig's handler of loop if it still is (fn, arg): the program may
 * have put its own in its place, which then stays (as asyncio's Runner
 * leaves a handler that is no longer its own). 1 if sig had arrived and
 * the loop had not taken it yet (its handler will never run), else 0. */
int corio__signal_drop_if(corio_loop *loop, int sig, corio_cb fn, void *arg);

#endif
