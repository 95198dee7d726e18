/* Copy mode: tasks share one stack; a suspended task's frames are saved
 * from its stack pointer to the top, and put back before it resumes. */
#define _GNU_SOURCE
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#endif

#define SHARED_MIN (256 * 1024)

static char *shared_top(corio_loop *loop) { return loop->shared_top; }

/* Bytes of the shared stack carry ASan redzones of whichever task's
 * frames were there: clear them before copying in or out. */
static void unpoison(void *p, size_t n) {
#if CORIO_HAVE_ASAN
    __asan_unpoison_memory_region(p, n);
#endif
    (void)p, (void)n;
}

/* Before restoring: memcheck sees the range as below the stack pointer
 * (unaddressable); make it writable, the copy then carries definedness. */
static void writable(void *p, size_t n) {
    unpoison(p, n);
#ifdef CORIO_HAVE_VALGRIND
    VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#endif
}

/* Saved stacks: small ones from the loop's slabs, by 16-byte class. */
static char *saved_alloc(corio_loop *loop, size_t len) {
    size_t k = (len + 15) / 16;
    if (k == 0 || k > CORIO__SAVED_CLASSES) return corio__malloc(len);
    return corio__slab_alloc_uninit(&loop->saved_slabs[k - 1]); /* copy_out fills it */
}

static void saved_free(corio_loop *loop, corio__task *t) {
    size_t k = (t->u.copy.saved_len + 15) / 16;
    if (k == 0 || k > CORIO__SAVED_CLASSES) corio__free(t->u.copy.saved);
    else corio__slab_free(&loop->saved_slabs[k - 1], t->u.copy.saved);
    t->u.copy.saved = NULL;
}

/* Loop side, after t suspended: keep the bytes it uses. */
void corio__copy_out(corio_loop *loop, corio__task *t) {
    size_t used = (size_t)(shared_top(loop) - (char *)t->sp);
    unpoison(t->sp, used);
    char *saved = saved_alloc(loop, used);
    if (!saved) {
        corio__report(loop, "out of memory saving a copy-mode task's stack", &t->fut, NULL);
        abort(); /* its frames cannot be kept anywhere: documented */
    }
    memcpy(saved, t->sp, used);
    t->u.copy.saved = saved;
    t->u.copy.saved_len = used;
}

/* Loop side, before t resumes: put its bytes back unless nobody has used
 * the stack since it left. */
void corio__copy_in(corio_loop *loop, corio__task *t) {
    if (loop->shared_owner != t) {
        writable(t->sp, t->u.copy.saved_len);
        memcpy(t->sp, t->u.copy.saved, t->u.copy.saved_len);
    }
    saved_free(loop, t);
    loop->shared_owner = t;
}

void corio__copy_release(corio_loop *loop, corio__task *t) {
    if (loop->shared_owner == t) loop->shared_owner = NULL;
    if (t->started && t->u.copy.saved) saved_free(loop, t);
}

/* The shared stack, taken from the pools on first use. */
int corio__copy_stack_get(corio_loop *loop) {
    if (loop->shared.lo) return 0;
    size_t want = loop->stack_size > SHARED_MIN ? loop->stack_size : SHARED_MIN;
    int rc = corio__stack_get(loop->pools, want, &loop->shared);
    if (rc < 0) return rc;
    loop->shared_top = loop->shared.lo + corio__stack_size(&loop->shared);
    return 0;
}
