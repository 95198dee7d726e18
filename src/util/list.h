/* Intrusive circular doubly-linked list (header-only).
 * A node is either linked in exactly one list or self-linked ("detached"),
 * so unlinking twice is harmless and "is it queued?" is one comparison.
 * Build with -DCORIO_DEBUG to check the neighbour invariant on every op. */
#ifndef CORIO_LIST_H
#define CORIO_LIST_H

#include <assert.h>
#include <stddef.h>

typedef struct corio__list {
    struct corio__list *next;
    struct corio__list *prev;
} corio__list;

#ifdef CORIO_DEBUG
#define CORIO__LIST_CHECK(n) \
    assert((n)->next->prev == (n) && (n)->prev->next == (n))
#else
#define CORIO__LIST_CHECK(n) ((void)0)
#endif

#define corio__container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void corio__list_init(corio__list *n) { n->next = n->prev = n; }
static inline int corio__list_empty(const corio__list *h) { return h->next == h; }
/* For a node: is it linked into some list? */
static inline int corio__list_linked(const corio__list *n) { return n->next != n; }

static inline void corio__list_push_back(corio__list *h, corio__list *n) {
    CORIO__LIST_CHECK(h);
    assert(!corio__list_linked(n));
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static inline void corio__list_unlink(corio__list *n) {
    CORIO__LIST_CHECK(n);
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

static inline corio__list *corio__list_pop_front(corio__list *h) {
    corio__list *n = h->next;
    if (n == h) return NULL;
    corio__list_unlink(n);
    return n;
}

/* Move every node of src to the end of dst, in order; src ends empty. */
static inline void corio__list_splice_back(corio__list *dst, corio__list *src) {
    if (corio__list_empty(src)) return;
    CORIO__LIST_CHECK(dst);
    CORIO__LIST_CHECK(src);
    src->next->prev = dst->prev;
    dst->prev->next = src->next;
    src->prev->next = dst;
    dst->prev = src->prev;
    corio__list_init(src);
}

#define corio__list_foreach(it, h) for ((it) = (h)->next; (it) != (h); (it) = (it)->next)

#endif
