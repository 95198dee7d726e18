/* Task names: given at creation, or "Task-<id>" made on first request. */
#define _GNU_SOURCE
#include "core/internal.h"

/* Async-signal-safe (the overflow handler uses it): no allocation, no stdio. */
int corio__task_format_name(const corio__task *t, char *buf, size_t cap) {
    if (cap == 0) return 0;
    size_t i = 0;
    if (t->name) {
        for (; t->name[i] && i + 1 < cap; i++) buf[i] = t->name[i];
    } else {
        const char *p = "Task-";
        for (; p[i] && i + 1 < cap; i++) buf[i] = p[i];
        char digits[24];
        int d = 0;
        uint64_t v = t->id;
        do digits[d++] = (char)('0' + v % 10); while ((v /= 10) && d < 24);
        while (d > 0 && i + 1 < cap) buf[i++] = digits[--d];
    }
    buf[i] = 0;
    return (int)i;
}

const char *corio_task_get_name(corio_task *task) {
    if (!task || !corio__is_task(task)) return NULL;
    corio__task *t = corio__as_task(task);
    if (!t->name) { /* default name, made on first request */
        char buf[32];
        corio__task_format_name(t, buf, sizeof buf);
        t->name = corio__strdup(buf);
        if (!t->name) return "Task-?";
    }
    return t->name;
}

int corio_task_set_name(corio_task *task, const char *name) {
    if (!task || !name) return CORIO_EINVAL;
    if (!corio__is_task(task)) return CORIO_ENOTTASK;
    char *n = corio__strdup(name);
    if (!n) return CORIO_ENOMEM;
    corio__task *t = corio__as_task(task);
    corio__free(t->name);
    t->name = n;
    return 0;
}
