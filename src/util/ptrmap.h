/* Pointer -> pointer hash map (header-only), open addressing with linear
 * probing and backward-shift deletion. Used where a combinator must find a
 * future among many without a quadratic scan. NULL is not a valid key. */
#ifndef CORIO_PTRMAP_H
#define CORIO_PTRMAP_H

#include "platform/sys.h"

#include <stdint.h>
#include <string.h>

typedef struct corio__ptrmap {
    const void **keys; /* owned array of cap slots, NULL = empty */
    void **vals;       /* owned, parallel to keys */
    size_t cap;        /* power of two, or 0 */
    size_t n;
} corio__ptrmap;

static inline size_t corio__ptrmap_slot(const corio__ptrmap *m, const void *k) {
    uint64_t h = (uint64_t)(uintptr_t)k * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (m->cap - 1);
}

static inline void corio__ptrmap_free(corio__ptrmap *m) {
    corio__free(m->keys);
    corio__free(m->vals);
    memset(m, 0, sizeof *m);
}

static inline void **corio__ptrmap_find(const corio__ptrmap *m, const void *k) {
    if (!m->cap) return NULL;
    for (size_t i = corio__ptrmap_slot(m, k);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == k) return &m->vals[i];
        if (!m->keys[i]) return NULL;
    }
}

static inline void corio__ptrmap_put_fresh(corio__ptrmap *m, const void *k, void *v) {
    size_t i = corio__ptrmap_slot(m, k);
    while (m->keys[i]) i = (i + 1) & (m->cap - 1);
    m->keys[i] = k;
    m->vals[i] = v;
    m->n++;
}

/* Insert or overwrite; keeps the load under 1/2. 0 or CORIO_ENOMEM. */
static inline int corio__ptrmap_put(corio__ptrmap *m, const void *k, void *v) {
    void **slot = corio__ptrmap_find(m, k);
    if (slot) {
        *slot = v;
        return 0;
    }
    if ((m->n + 1) * 2 > m->cap) {
        corio__ptrmap old = *m;
        size_t cap = old.cap ? old.cap * 2 : 16;
        m->keys = corio__calloc(cap, sizeof *m->keys);
        m->vals = corio__calloc(cap, sizeof *m->vals);
        if (!m->keys || !m->vals) {
            corio__free(m->keys);
            corio__free(m->vals);
            *m = old;
            return -12; /* -ENOMEM */
        }
        m->cap = cap;
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i]) corio__ptrmap_put_fresh(m, old.keys[i], old.vals[i]);
        corio__free(old.keys);
        corio__free(old.vals);
    }
    corio__ptrmap_put_fresh(m, k, v);
    return 0;
}

static inline void corio__ptrmap_del(corio__ptrmap *m, const void *k) {
    void **slot = corio__ptrmap_find(m, k);
    if (!slot) return;
    size_t i = (size_t)(slot - m->vals);
    m->keys[i] = NULL;
    m->n--;
    /* Backward shift: move later entries of the run into the hole. */
    for (size_t j = (i + 1) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1)) {
        size_t home = corio__ptrmap_slot(m, m->keys[j]);
        int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (between) continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        m->keys[j] = NULL;
        i = j;
    }
}

#endif
