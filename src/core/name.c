/* Task names: given at creation, or "Task-<id>" made on first request. */
#define _GNU_SOURCE
#include "core/internal.h"

/* Async-signal-safe (the overflow handler uses it): no allocation, no stdio. */
int corio__task_format_name(const corio__task *t, char *buf, size_t cap) {
    if (cap == 0) return 0;
    size_t i = 0;
    const char *name = corio__task_name_of(t);
    if (name) {
        for (; name[i] && i + 1 < cap; i++) buf[i] = name[i];
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
    if (!corio__task_name_of(t)) { /* default name, made on first request */
        char buf[32];
        corio__task_format_name(t, buf, sizeof buf);
        corio__task_rare *r = corio__task_rare_get(t);
        if (!r || !(r->name = corio__strdup(buf))) return "Task-?";
    }
    return t->rare->name;
}

int corio_task_set_name(corio_task *task, const char *name) {
    if (!task || !name) return CORIO_EINVAL;
    if (!corio__is_task(task)) return CORIO_ENOTTASK;
    corio__task_rare *r = corio__task_rare_get(corio__as_task(task));
    char *n = r ? corio__strdup(name) : NULL;
    if (!n) return CORIO_ENOMEM;
    corio__free(r->name);
    r->name = n;
    return 0;
}
