/* Task stacks.
 *
 * Stacks are slots carved from large anonymous mappings ("regions"), each
 * slot a guard page followed by the usable stack. One mapping holds many
 * stacks, so the kernel's limit of 65 530 mappings never caps the number of
 * tasks: the guard is installed with MADV_GUARD_INSTALL (Linux 6.13+),
 * which does not split the mapping. Older kernels fall back to mprotect
 * (two mappings per stack), and past the mapping limit to unguarded stacks
 * with one warning.
 *
 * Fresh slots are prepared in batches once a pool has handed out a few:
 * the guards of up to 1 024 slots in one system call, and their top pages
 * (the one a task touches first) filled in by one more, instead of a
 * madvise and a page fault per stack (measured here: 0.71 -> 0.46 us per
 * guard, 2.4 -> 1.8 us per page). Batches double with the pool, so the
 * pages filled ahead of use stay below the ones in use, and below 1 024.
 * Freed slots go on a LIFO list so the next task gets a stack whose pages
 * are already resident (a fresh page costs microseconds to fault in; a
 * hot one nanoseconds). Past HOT_MAX free stacks, released ones give
 * their pages back, 64 stacks to a call.
 *
 * Overflow: a thread running a loop gets an alternate signal stack and a
 * SIGSEGV handler that recognises a fault in the running task's guard page
 * and ends the process with a message naming the task. */
#define _GNU_SOURCE
#include "core/internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define REGION_FIRST_SLOTS 64
#define REGION_MAX_SLOTS 16384
#define HOT_MAX 1024
#define BATCH_MIN 16   /* fewer fresh slots to prepare: one madvise each */
#define BATCH_MAX 1024 /* UIO_MAXIOV: the most ranges one call takes */
#define COLD_BATCH 64  /* stacks whose pages go back together */

enum { GUARD_MADVISE, GUARD_MPROTECT, GUARD_NONE };
static _Atomic int guard_mode = GUARD_MADVISE; /* process-wide (loops in many threads); only degrades */
static _Atomic int batch_ok = 1; /* process_madvise takes guards on oneself; only degrades */

typedef struct region {
    struct region *next; /* owned chain of the pool's regions */
    char *base;          /* owned mapping of len bytes */
    size_t len;
    size_t nslots;       /* slots in the mapping */
    size_t used;         /* slots handed out at least once (prefix) */
    size_t ready;        /* slots [used, ready) have their guard and top page already (prepare) */
#ifdef CORIO_HAVE_VALGRIND
    unsigned *vg_ids;    /* owned; valgrind stack ids per used slot (NULL off valgrind) */
#endif
} region;

typedef struct pool {
    size_t usable;  /* first (corio__stack_size reads it inline): usable bytes per stack (page multiple) */
    struct pool *next; /* owned chain of the loop's pools (stacks point at their pool: never moved) */
    size_t stride;  /* usable + one guard page */
    region *regions;
    size_t total;   /* slots handed out at least once, over all regions */
    char **free;    /* owned array of free slots' `lo`, capacity == total */
    size_t nfree;
    /* Freed past HOT_MAX with their pages still resident: kept out of
     * `free` until release_cold gives the pages back, in one call. */
    struct iovec cold[COLD_BATCH];
    size_t ncold;
} pool;

struct corio__pools {
    corio__pools_head head; /* first (internal.h reads it inline): the spare stack */
    pool *first; /* owned list of pools, one per stack size in use */
};

_Atomic size_t corio__page; /* loops in several threads may ask at once */

size_t corio__page_size_slow(void) {
    size_t p = (size_t)sysconf(_SC_PAGESIZE);
    corio__page = p;
    return p;
}

int corio__pools_new(corio__pools **out) {
    corio__pools *p = corio__calloc(1, sizeof *p);
    if (!p) return CORIO_ENOMEM;
    *out = p;
    return 0;
}

void corio__pools_free(corio__pools *p) {
    if (!p) return;
    pool *pl = p->first;
    while (pl) {
        region *r = pl->regions;
        while (r) {
            region *next = r->next;
#ifdef CORIO_HAVE_VALGRIND
            if (r->vg_ids)
                for (size_t s = 0; s < r->used; s++) VALGRIND_STACK_DEREGISTER(r->vg_ids[s]);
            corio__free(r->vg_ids);
#endif
            corio__munmap(r->base, r->len);
            corio__free(r);
            r = next;
        }
        pool *next = pl->next;
        corio__free(pl->free);
        corio__free(pl);
        pl = next;
    }
    corio__free(p);
}

static pool *pool_for(corio__pools *p, size_t usable) {
    for (pool *pl = p->first; pl; pl = pl->next)
        if (pl->usable == usable) return pl;
    pool *np = corio__calloc(1, sizeof *np);
    if (!np) return NULL;
    np->usable = usable;
    np->stride = usable + corio__page_size();
    np->next = p->first;
    p->first = np;
    return np;
}

static region *region_new(pool *pl) {
    size_t n = pl->regions ? pl->regions->nslots * 2 : REGION_FIRST_SLOTS;
    if (n > REGION_MAX_SLOTS) n = REGION_MAX_SLOTS;
    region *r = corio__calloc(1, sizeof *r);
    if (!r) return NULL;
    r->nslots = n;
    r->len = n * pl->stride;
    r->base = corio__mmap(r->len);
    if (!r->base) {
        corio__free(r);
        return NULL;
    }
    /* Huge pages would make one touched stack page cost 2 MiB. */
    (void)corio__madvise(r->base, r->len, MADV_NOHUGEPAGE);
#ifdef CORIO_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND) {
        r->vg_ids = corio__calloc(n, sizeof *r->vg_ids);
        if (!r->vg_ids) {
            corio__munmap(r->base, r->len);
            corio__free(r);
            return NULL;
        }
    }
#endif
    r->next = pl->regions;
    pl->regions = r;
    return r;
}

static void warn_unguarded(void) {
    static _Atomic int warned;
    if (warned++) return;
    fprintf(stderr, "corio: the kernel refused more guard pages (memory map limit); "
                    "further task stacks have no overflow guard\n");
}

/* Make the page below lo fault on touch. */
static int install_guard(char *guard) {
    size_t page = corio__page_size();
    if (guard_mode == GUARD_MADVISE) {
        int rc = corio__madvise(guard, page, MADV_GUARD_INSTALL);
        if (rc != -EINVAL) return rc;
        guard_mode = GUARD_MPROTECT; /* kernel older than 6.13 */
    }
    if (guard_mode == GUARD_MPROTECT) {
        int rc = corio__mprotect(guard, page, PROT_NONE);
        if (rc != -ENOMEM) return rc;
        guard_mode = GUARD_NONE;
        warn_unguarded();
    }
    return 0;
}

/* Can corio__madvise_ranges be tried? */
static int ranges_ok(void) {
#ifdef CORIO_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND) return 0; /* it does not know process_madvise */
#endif
    return batch_ok;
}

/* After a corio__madvise_ranges call: how many of its ranges were
 * advised (a prefix). A kernel or sandbox that refuses the call itself
 * turns batches off for good. */
static size_t ranges_done(long rc, size_t range_len) {
    if (rc == -ENOSYS || rc == -EINVAL || rc == -EPERM || rc == -EBADF) batch_ok = 0;
    return rc > 0 ? (size_t)rc / range_len : 0;
}

/* Best effort: the guards of the next fresh slots of r in one call, then
 * their top pages filled in by another; as many slots as the pool has
 * handed out so far (a pool that stays small never prepares any). What
 * this does not do, fresh_slot does one slot at a time. */
static void prepare(pool *pl, region *r) {
    size_t k = pl->total < BATCH_MAX ? pl->total : BATCH_MAX;
    if (k > r->nslots - r->used) k = r->nslots - r->used;
    if (k < BATCH_MIN || !ranges_ok() || guard_mode != GUARD_MADVISE) return;
    struct iovec *v = corio__malloc(k * sizeof *v); /* 16 KiB at most: not on a task's stack */
    if (!v) return;
    size_t page = corio__page_size();
    for (size_t i = 0; i < k; i++) {
        v[i].iov_base = r->base + (r->used + i) * pl->stride;
        v[i].iov_len = page;
    }
    size_t guarded = ranges_done(corio__madvise_ranges(v, k, MADV_GUARD_INSTALL), page);
    for (size_t i = 0; i < guarded; i++) v[i].iov_base = (char *)v[i].iov_base + pl->stride - page;
    if (guarded) (void)corio__madvise_ranges(v, guarded, MADV_POPULATE_WRITE); /* else on demand */
    corio__free(v);
    r->ready = r->used + guarded;
}

/* Hand out a never-used slot, growing the free array first so that the
 * later corio__stack_put can never fail. */
static int fresh_slot(pool *pl, char **lo) {
    region *r = pl->regions;
    if (!r || r->used == r->nslots) {
        r = region_new(pl);
        if (!r) return CORIO_ENOMEM;
    }
    char **nf = corio__realloc(pl->free, (pl->total + 1) * sizeof *nf);
    if (!nf) return CORIO_ENOMEM;
    pl->free = nf;
    if (r->used == r->ready) prepare(pl, r);
    char *guard = r->base + r->used * pl->stride;
    if (r->used == r->ready) { /* not prepared: its guard now */
        int rc = install_guard(guard);
        if (rc < 0) return rc;
        r->ready++;
    }
    *lo = guard + corio__page_size();
#ifdef CORIO_HAVE_VALGRIND
    if (r->vg_ids) r->vg_ids[r->used] = VALGRIND_STACK_REGISTER(*lo, *lo + pl->usable);
#endif
    r->used++;
    pl->total++;
    return 0;
}

int corio__stack_get(corio__pools *p, size_t size, corio__stack *out) {
    size_t page = corio__page_size();
    size_t usable = (size + page - 1) & ~(page - 1); /* a power of two: no division */
    pool *pl = pool_for(p, usable);
    if (!pl) return CORIO_ENOMEM;
    char *lo;
    if (pl->nfree) {
        lo = pl->free[--pl->nfree];
    } else if (pl->ncold) { /* its pages are still there */
        lo = pl->cold[--pl->ncold].iov_base;
    } else {
        int rc = fresh_slot(pl, &lo);
        if (rc < 0) return rc;
    }
    out->lo = lo;
    out->pool = pl;
    return 0;
}

_Static_assert(offsetof(pool, usable) == 0, "corio__stack_size (internal.h) reads it first");
_Static_assert(offsetof(corio__pools, head) == 0, "corio__stack_take (internal.h) reads it first");

/* The cold stacks' pages go back, then the stacks join `free`. One call
 * for the batch, so one TLB flush (an interrupt to the other core when
 * the process last ran there) instead of one per stack. */
static void release_cold(pool *pl) {
    size_t i = 0;
    if (ranges_ok()) i = ranges_done(corio__madvise_ranges(pl->cold, pl->ncold, MADV_DONTNEED), pl->usable);
    for (; i < pl->ncold; i++) (void)corio__madvise(pl->cold[i].iov_base, pl->usable, MADV_DONTNEED);
    for (i = 0; i < pl->ncold; i++) pl->free[pl->nfree++] = pl->cold[i].iov_base;
    pl->ncold = 0;
}

void corio__stack_put(corio__stack *st) {
    pool *pl = st->pool;
    if (pl->nfree < HOT_MAX) {
        pl->free[pl->nfree++] = st->lo;
    } else { /* enough hot stacks: this one's pages go back, with a batch of others */
        pl->cold[pl->ncold].iov_base = st->lo;
        pl->cold[pl->ncold].iov_len = pl->usable;
        if (++pl->ncold == COLD_BATCH) release_cold(pl);
    }
    st->lo = NULL;
}

/* ---- overflow reporting ----------------------------------------------- */

static struct sigaction old_segv;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static pthread_key_t altstack_key;     /* this thread's alternate stack, freed at its exit */
static _Thread_local int guard_ready;  /* this thread can report an overflow */
#define ALTSTACK_SIZE (64 * 1024)
static void put_str(const char *s) {
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void put_num(size_t v) {
    char buf[24];
    int i = (int)sizeof buf;
    buf[--i] = 0;
    do buf[--i] = (char)('0' + v % 10); while ((v /= 10) && i > 0);
    put_str(buf + i);
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
    corio__task *t = corio__current;
    char *addr = si->si_addr;
    size_t page = corio__page_size();
    if (t && t->stack.lo && addr >= t->stack.lo - page && addr < t->stack.lo) {
        char name[128];
        corio__task_format_name(t, name, sizeof name);
        put_str("corio: task '");
        put_str(name);
        put_str("' overflowed its stack (");
        put_num(corio__stack_size(&t->stack));
        put_str(" bytes); give it a larger stack_size\n");
        signal(SIGSEGV, SIG_DFL); /* returning re-faults and ends the process */
        return;
    }
    /* Not ours: hand the fault to whoever had SIGSEGV before us. */
    if ((old_segv.sa_flags & SA_SIGINFO) && old_segv.sa_sigaction) {
        old_segv.sa_sigaction(sig, si, uc);
    } else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
    } else {
        signal(SIGSEGV, SIG_DFL);
    }
}

static void altstack_free(void *p) {
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    corio__munmap_thread(p, ALTSTACK_SIZE);
}

static void install_handler(void) {
    pthread_key_create(&altstack_key, altstack_free);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
}

/* The thread about to run a loop gets what the overflow report needs: the
 * handler (once per process) and an alternate signal stack (once per
 * thread, unless the program gave it one; freed when the thread exits).
 * Per running thread, not per loop: a loop created in one thread may run
 * in another. */
int corio__overflow_guard_thread(void) {
    if (guard_ready) return 0;
    pthread_once(&handler_once, install_handler);
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) {
        void *p = corio__mmap_thread(ALTSTACK_SIZE);
        if (!p) return CORIO_ENOMEM;
        stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
        if (sigaltstack(&ss, NULL) != 0 || pthread_setspecific(altstack_key, p) != 0) {
            int rc = -errno;
            altstack_free(p);
            return rc ? rc : CORIO_ENOMEM;
        }
    }
    guard_ready = 1;
    return 0;
}
