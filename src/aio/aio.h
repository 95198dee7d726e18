/* What the combinator files share among themselves, on the core contract. */
#ifndef CORIO_AIO_H
#define CORIO_AIO_H

#include "core/contract.h"

/* Wait for fut without forwarding a cancel of t to it (asyncio's separate
 * `waiter` future): 0, or CORIO_ECANCELED (timeout.c). */
int corio__wait_done(corio__task *t, corio_future *fut);

#endif
