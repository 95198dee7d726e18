/* The test harness: each test is a function `int test_NAME(void)` listed in
 * list.h; the runner executes one per process (ctest runs each as its own
 * test). Return 0 to pass, 77 to skip; a failed ASSERT aborts. */
#ifndef CORIO_TEST_H
#define CORIO_TEST_H

#include "corio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SKIP 77

#define ASSERT(c)                                                                  \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                               \
        }                                                                          \
    } while (0)

#define ASSERT_EQ(a, b)                                                            \
    do {                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                       \
        if (a_ != b_) {                                                            \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,     \
                    __LINE__, #a, #b, a_, b_);                                     \
            abort();                                                               \
        }                                                                          \
    } while (0)

#define ASSERT_STR(a, b)                                                           \
    do {                                                                           \
        const char *a_ = (a), *b_ = (b);                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                   \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, \
                    __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");     \
            abort();                                                               \
        }                                                                          \
    } while (0)

#define TEST(name) int test_##name(void)

/* A fresh loop on virtual time (tests never depend on real timing). */
static inline corio_loop *vloop(void) {
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_virtual_time(loop, 1), 0);
    return loop;
}

/* Every test ends with this: a clean close. */
static inline void close_loop(corio_loop *loop) {
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_loop_free(loop), 0);
}

/* Run body() as the main task of a virtual-time loop; it must return 0. */
typedef int (*test_body_fn)(void);
static inline int test_run_body(void *arg, void **res) {
    (void)res;
    return ((test_body_fn)arg)();
}
static inline void in_task(test_body_fn fn) {
    corio_loop *loop = vloop();
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, test_run_body, (void *)fn, NULL, 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
}

/* Run body(arg) as the main task of a fresh real-time loop (real I/O); it
 * must return 0, and the loop closes cleanly. */
static inline void on_loop(corio_fn body, void *arg) {
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, body, arg, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
}

/* The running loop completes operations (io_uring): a cancel may lose
 * the race to the data, and the operation then reports what it did. */
static inline int on_uring(void) {
    corio_loop *l = corio_get_running_loop();
    return l && corio_loop_backend(l) == CORIO_BACKEND_IO_URING;
}

/* An exception handler for reports a test expects (tasks it leaves pending). */
static inline void quiet(corio_loop *loop, const char *msg, corio_future *fut,
                         const corio_error *err, void *arg) {
    (void)loop, (void)msg, (void)fut, (void)err, (void)arg;
}

/* Reports captured instead of printed. */
typedef struct reports {
    int n;
    char last[256];
    int last_code;
} reports;

static inline void capture_report(corio_loop *loop, const char *msg, corio_future *fut,
                                  const corio_error *err, void *arg) {
    (void)loop;
    (void)fut;
    reports *r = arg;
    r->n++;
    snprintf(r->last, sizeof r->last, "%s", msg);
    r->last_code = err ? corio_error_code(err) : 0;
}

/* A growing trace of what happened, to compare orders. */
typedef struct trace {
    char buf[4096];
} trace;

static inline void trace_add(trace *t, const char *s) {
    size_t n = strlen(t->buf);
    snprintf(t->buf + n, sizeof t->buf - n, "%s%s", n ? " " : "", s);
}

#endif
