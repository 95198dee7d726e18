/* Error codes and error values (the stand-in for exceptions). */
#define _GNU_SOURCE
#include "core/internal.h"

#include <stdio.h>
#include <string.h>

const char *corio_strerror(int code) {
    switch (code) {
    case 0: return "success";
    case CORIO_ECANCELED: return "cancelled";
    case CORIO_ETIMEDOUT: return "timed out";
    case CORIO_EINVALSTATE: return "invalid state (the future is pending, or already done)";
    case CORIO_ENOTINTASK: return "a suspending call was made outside a task";
    case CORIO_ECLOSED: return "the event loop is closed";
    case CORIO_ERUNNING: return "an event loop is already running in this thread";
    case CORIO_ENOLOOP: return "no running event loop in this thread";
    case CORIO_EWRONGLOOP: return "the future belongs to a different event loop";
    case CORIO_ENOTTASK: return "the future is not a task";
    case CORIO_EGROUP: return "several errors (see the group)";
    case CORIO_EBROKEN: return "the barrier is broken";
    case CORIO_EFULL: return "the queue is full";
    case CORIO_EEMPTY: return "the queue is empty";
    case CORIO_ESHUTDOWN: return "the queue is shut down";
    case CORIO_ERUNTIME: return "runtime error";
    case CORIO_EINCOMPLETE: return "end of stream before the bytes asked for";
    case CORIO_ELIMIT: return "over the stream's limit without the separator";
    case CORIO_EFDCLOSED: return "the descriptor was closed while a task waited on it";
    case CORIO_ETLS: return "TLS failure";
    case CORIO_ECERT: return "certificate verification failed";
    case CORIO_ENAME: return "name resolution failed";
    case CORIO_ECURL: return "libcurl failure";
    case CORIO_EPQ: return "PostgreSQL failure";
    case CORIO_EREDIS: return "redis failure";
    case CORIO_EINTERRUPTED: return "interrupted by SIGINT (KeyboardInterrupt)";
    default: break;
    }
    if (code <= CORIO_EUSER(0) && code >= CORIO_EUSER(CORIO_EUSER_MAX)) {
        /* One static string per code would be 10 000 strings: a
         * thread-local buffer, rewritten by the next call in the thread. */
        static _Thread_local char buf[32];
        snprintf(buf, sizeof buf, "program error %d", CORIO_EUSER(0) - code);
        return buf;
    }
    if (code < 0 && code > -4096) {
        const char *s = strerrordesc_np(-code);
        if (s) return s;
    }
    return "unknown error";
}

/* A bare cancel that needs no allocation. Immortal and never counted:
 * loops in many threads share it, and a count would be a data race. */
static corio_error bare_cancel = {.refs = 1, .code = CORIO_ECANCELED};

corio_error *corio__error_cancelled(void) { return corio__error_ref(&bare_cancel); }

corio_error *corio__error_make(int code, corio_error *cause, const char *msg) {
    corio_error *e = corio__calloc(1, sizeof *e);
    if (!e) return NULL;
    if (msg && !(e->message = corio__strdup(msg))) {
        corio__free(e);
        return NULL;
    }
    e->refs = 1;
    e->code = code;
    e->cause = cause ? corio__error_ref(cause) : NULL;
    return e;
}

corio_error *corio__error_new(int code, corio_error *cause, const char *fmt, va_list ap) {
    if (!fmt) return corio__error_make(code, cause, NULL);
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) return corio__error_make(code, cause, NULL);
    if ((size_t)n < sizeof small) return corio__error_make(code, cause, small);
    char *big = corio__malloc((size_t)n + 1);
    if (!big) return NULL;
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    corio_error *e = corio__error_make(code, cause, big);
    corio__free(big);
    return e;
}

corio_error *corio__error_ref(corio_error *e) {
    if (e != &bare_cancel) e->refs++;
    return e;
}

corio_error *corio__error_group(const char *msg, corio_error **errs, int n) {
    corio_error *g = corio__error_make(CORIO_EGROUP, NULL, msg);
    if (!g) return NULL;
    g->group = corio__calloc((size_t)(n > 0 ? n : 1), sizeof *g->group);
    if (!g->group) {
        corio__error_unref(g);
        return NULL;
    }
    for (int i = 0; i < n; i++) g->group[i] = corio__error_ref(errs[i]);
    g->ngroup = n;
    return g;
}

size_t corio_error_group_size(const corio_error *err) { return err ? (size_t)err->ngroup : 0; }

const corio_error *corio_error_group_get(const corio_error *err, size_t i) {
    if (!err || i >= (size_t)err->ngroup) return NULL;
    return err->group[i];
}

/* The public counting: errors are immutable values, so a const pointer
 * may be counted (the count is not part of the value). */
corio_error *corio_error_ref(const corio_error *err) {
    return err ? corio__error_ref((corio_error *)err) : NULL;
}

void corio_error_unref(const corio_error *err) { corio__error_unref((corio_error *)err); }

void corio__error_unref(corio_error *e) {
    while (e && e != &bare_cancel && --e->refs == 0) {
        corio_error *cause = e->cause;
        for (int i = 0; i < e->ngroup; i++) corio__error_unref(e->group[i]);
        corio__free(e->group);
        corio__free(e->message);
        corio__free(e);
        e = cause;
    }
}

int corio_error_code(const corio_error *err) { return err ? err->code : CORIO_EINVAL; }

const char *corio_error_message(const corio_error *err) {
    if (!err) return "(null error)";
    return err->message ? err->message : corio_strerror(err->code);
}

const corio_error *corio_error_cause(const corio_error *err) { return err ? err->cause : NULL; }

#define CORIO__STR2(x) #x
#define CORIO__STR(x) CORIO__STR2(x)
const char *corio_version(void) {
    return CORIO__STR(CORIO_VERSION_MAJOR) "." CORIO__STR(CORIO_VERSION_MINOR) "." CORIO__STR(
        CORIO_VERSION_PATCH);
}
