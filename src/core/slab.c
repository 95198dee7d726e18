/* A per-loop slab of fixed-size objects (tasks, handles, copy-mode saved
 * stacks).
 *
 * Why: a million live tasks are a few hundred megabytes of fresh memory;
 * with malloc, its bookkeeping and page faults were half of spawn_gather's
 * time. The slab carves objects from regions that double in size. Freed
 * objects go on a LIFO list and are reused hot. Regions go back to the
 * system only when the loop's memory does (tasks may outlive
 * corio_loop_close).
 *
 * Huge pages, per slab (measured cold, in interleaved runs): a slab that
 * asks for them has its regions of 2 MiB and more 2 MiB-aligned with
 * MADV_HUGEPAGE, so they fault in once per 2 MiB. Tasks and handles do
 * not: on these VMs a fresh huge page is often cleared at host-fault speed
 * (free 8 MiB blocks go back to the host), so their cost is a gamble.
 * spawn_gather 1M took 0.51 s with them against 0.22 s with 4 KiB pages;
 * timers 1M armed in 25-42 ns in half the runs and 90-198 ns in the
 * others, against 41-74 ns on 4 KiB pages filled in ahead (below).
 *
 * Under ASan the slab steps aside (plain calloc/free), so that a use after
 * free is still caught. */
#define _GNU_SOURCE
#include "core/internal.h"

#include <string.h>
#include <sys/mman.h>

#define FIRST_REGION (64 * 1024)
#define MAX_REGION (64 * 1024 * 1024)
#define HUGE (2 * 1024 * 1024)
#define FILL (512 * 1024)       /* bytes of a region filled in at a time (4 KiB pages), */
#define FILL_AFTER (1024 * 1024) /* once a slab has handed out this much */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

typedef struct slab_region {
    struct slab_region *next; /* owned chain */
    void *map;                /* the mapping to unmap */
    size_t maplen;
} slab_region;

void corio__slab_init(corio__slab *s, size_t objsize, int huge) {
    memset(s, 0, sizeof *s);
    s->objsize = (objsize + 7) & ~(size_t)7; /* corio's objects need no more than 8 */
    s->huge = huge;
}

#if CORIO_HAVE_ASAN

void *corio__slab_alloc_slow(corio__slab *s) { return corio__calloc(1, s->objsize); }
void corio__slab_free(corio__slab *s, void *p) { (void)s, corio__free(p); }
void corio__slab_destroy(corio__slab *s) { (void)s; }

#else

/* The fresh objects from s->cur on, up to FILL bytes further. Once the
 * slab has grown past FILL_AFTER, on 4 KiB pages, they are filled in by
 * one call (MADV_POPULATE_WRITE, Linux 5.14+) before they are touched,
 * instead of a page fault each. A small slab faults them in as it uses
 * them: filling ahead is a cost where the pages are never used (1 000
 * timers armed 40-70 ns slower each when every region was filled). Best
 * effort: a kernel that refuses leaves them to fault one by one. */
static void fill(corio__slab *s) {
    size_t page = corio__page_size();
    char *lo = (char *)((uintptr_t)s->cur & ~(uintptr_t)(page - 1));
    char *hi = (size_t)(s->end - lo) > FILL ? lo + FILL : s->end;
    if (!s->huge && s->handed >= FILL_AFTER) (void)corio__madvise(lo, (size_t)(hi - lo), MADV_POPULATE_WRITE);
    s->left = (size_t)(hi - s->cur) / s->objsize;
    s->handed += s->left * s->objsize;
}

static int grow(corio__slab *s) {
    size_t len = s->next_region ? s->next_region : FIRST_REGION;
    slab_region *r = corio__calloc(1, sizeof *r);
    if (!r) return CORIO_ENOMEM;
    int huge = s->huge && len >= HUGE;
    r->maplen = len + (huge ? HUGE : 0); /* room to align to 2 MiB */
    r->map = corio__mmap(r->maplen);
    if (!r->map) {
        corio__free(r);
        return CORIO_ENOMEM;
    }
    char *base = r->map;
    if (huge) {
        base = (char *)(((uintptr_t)base + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
        (void)corio__madvise(base, len, MADV_HUGEPAGE);
    }
    r->next = s->regions;
    s->regions = r;
    s->cur = base;
    s->end = base + len;
    s->next_region = len < MAX_REGION ? len * 2 : MAX_REGION;
    return 0;
}

/* The inline part (internal.h) found no freed object and no fresh one
 * filled in: fill more of the newest region, or add a region. */
void *corio__slab_alloc_slow(corio__slab *s) {
    if ((size_t)(s->end - s->cur) < s->objsize && grow(s) < 0) return NULL;
    fill(s);
    void *p = s->cur; /* fresh region memory is zero already */
    s->cur += s->objsize;
    s->left--;
    return p;
}

void corio__slab_destroy(corio__slab *s) {
    slab_region *r = s->regions;
    while (r) {
        slab_region *next = r->next;
        corio__munmap(r->map, r->maplen);
        corio__free(r);
        r = next;
    }
    s->regions = NULL;
    s->free = NULL;
    s->cur = s->end = NULL;
    s->left = 0;
}

#endif
