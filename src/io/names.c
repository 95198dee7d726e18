/* Names (io.md 4): getaddrinfo and getnameinfo that never block the loop,
 * and connecting to a name's addresses (one after the other, or raced as
 * RFC 8305's Happy Eyeballs, as asyncio's create_connection does).
 *
 * A lookup that may block runs on the loop's thread pool (corio_to_thread),
 * as asyncio runs socket.getaddrinfo in its executor; a numeric host (and
 * port) resolves inline, as asyncio's _ipaddr_info skips the executor. A
 * lookup whose task is cancelled stops waiting at once; its record stays
 * behind for the pool: freed by the release hook when the work ends, or, if
 * the pool dropped it unstarted, when the loop closes (a job that never ran
 * has no way back to us; the loop's resources list holds it until then).
 *
 * Lists handed out are corio's own nodes (one allocation each, freed by
 * corio_freeaddrinfo), so that a resolver hook can build its answer from
 * corio_getaddrinfo's numeric results and chain them. */
#define _GNU_SOURCE
#include "io/io.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- corio's address lists ------------------------------------------------------ */

typedef struct node {
    struct addrinfo ai;          /* first: the node is freed through &ai */
    struct sockaddr_storage ss;  /* ai.ai_addr points here */
    char canon[];                /* ai.ai_canonname points here, if any */
} node;

static struct addrinfo *node_copy(const struct addrinfo *src) {
    size_t cn = src->ai_canonname ? strlen(src->ai_canonname) + 1 : 0;
    node *n = corio__malloc(sizeof *n + cn);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->ai.ai_flags = src->ai_flags;
    n->ai.ai_family = src->ai_family;
    n->ai.ai_socktype = src->ai_socktype;
    n->ai.ai_protocol = src->ai_protocol;
    n->ai.ai_addrlen = src->ai_addrlen <= sizeof n->ss ? src->ai_addrlen : sizeof n->ss;
    if (src->ai_addr) memcpy(&n->ss, src->ai_addr, n->ai.ai_addrlen);
    n->ai.ai_addr = (struct sockaddr *)&n->ss;
    if (cn) {
        memcpy(n->canon, src->ai_canonname, cn);
        n->ai.ai_canonname = n->canon;
    }
    return &n->ai;
}

void corio_freeaddrinfo(struct addrinfo *ai) {
    while (ai) {
        struct addrinfo *next = ai->ai_next;
        corio__free(ai); /* &node.ai is the node */
        ai = next;
    }
}

/* The system's list as corio's nodes; the system's is freed. EAI_MEMORY
 * when a node could not be made. */
static int list_adopt(struct addrinfo *sys, struct addrinfo **out) {
    struct addrinfo *head = NULL, **tail = &head;
    int rc = 0;
    for (const struct addrinfo *a = sys; a && rc == 0; a = a->ai_next) {
        if (!(*tail = node_copy(a))) rc = EAI_MEMORY;
        else tail = &(*tail)->ai_next;
    }
    freeaddrinfo(sys);
    if (rc) corio_freeaddrinfo(head);
    *out = rc ? NULL : head;
    return rc;
}

/* ---- what a lookup's failure says ------------------------------------------------ */

/* "host:port" for messages ("[::1]:80" for an IPv6 literal, "*" for no host). */
static void name_format(const char *host, const char *port, char *buf, size_t cap) {
    const char *h = host ? host : "*";
    int v6 = host && strchr(host, ':') && host[0] != '[';
    snprintf(buf, cap, "%s%.200s%s%s%.60s", v6 ? "[" : "", h, v6 ? "]" : "", port ? ":" : "",
             port ? port : "");
}

/* getaddrinfo's or getnameinfo's code as corio's: EAI_SYSTEM is the errno,
 * EAI_MEMORY CORIO_ENOMEM, the others CORIO_ENAME (socket.gaierror), each
 * with a message naming the call and the name. */
static int gai_failed(const char *op, const char *what, int gai, int err) {
    if (gai == EAI_MEMORY) return CORIO_ENOMEM;
    if (gai == EAI_SYSTEM && err > 0)
        return corio_raise(-err, "%s %s: %s", op, what, strerror(err));
    return corio_raise(CORIO_ENAME, "%s %s: %s", op, what, gai_strerror(gai));
}

/* ---- resolver hooks, per loop ------------------------------------------------------ */

typedef struct hook {
    corio__resource res;   /* in the loop's resources: its close drops the hook */
    corio_loop *loop;      /* borrowed: the key */
    corio_resolver_fn fn;
    void *arg;             /* the program's */
    struct hook *next;     /* in `hooks`, under hooks_lock */
} hook;

/* Loops may run in several threads: the hooks are one list under a lock
 * (a lookup reads it once, to copy fn and arg into its record). */
static pthread_mutex_t hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static hook *hooks;

static hook **hook_find(corio_loop *loop) {
    hook **h = &hooks;
    while (*h && (*h)->loop != loop) h = &(*h)->next;
    return h;
}

static void hook_drop(corio__resource *r) {
    hook *x = corio__container_of(r, hook, res);
    corio__list_unlink(&r->link);
    pthread_mutex_lock(&hooks_lock);
    hook **h = hook_find(x->loop);
    if (*h == x) *h = x->next;
    pthread_mutex_unlock(&hooks_lock);
    corio__free(x);
}

int corio_loop_set_resolver(corio_loop *loop, corio_resolver_fn fn, void *arg) {
    if (!loop) return CORIO_EINVAL;
    if (corio__loop_closed(loop)) return CORIO_ECLOSED;
    pthread_mutex_lock(&hooks_lock);
    hook *x = *hook_find(loop);
    if (x && fn) {
        x->fn = fn;
        x->arg = arg;
    }
    pthread_mutex_unlock(&hooks_lock);
    if (x && !fn) hook_drop(&x->res);
    if (x || !fn) return 0;
    if (!(x = corio__calloc(1, sizeof *x))) return CORIO_ENOMEM;
    x->loop = loop;
    x->fn = fn;
    x->arg = arg;
    x->res.close = hook_drop;
    corio__list_init(&x->res.link);
    corio__loop_add_resource(loop, &x->res);
    pthread_mutex_lock(&hooks_lock);
    x->next = hooks;
    hooks = x;
    pthread_mutex_unlock(&hooks_lock);
    return 0;
}

static void hook_get(corio_loop *loop, corio_resolver_fn *fn, void **arg) {
    pthread_mutex_lock(&hooks_lock);
    hook *x = *hook_find(loop);
    *fn = x ? x->fn : NULL;
    *arg = x ? x->arg : NULL;
    pthread_mutex_unlock(&hooks_lock);
}

/* ---- lookups on the pool -------------------------------------------------------------- */

enum { ADDRINFO, NAMEINFO };

typedef struct lookup {
    corio__resource res;          /* in the loop's resources from submission until freed */
    int kind;                     /* ADDRINFO or NAMEINFO */
    /* getaddrinfo's input, owned copies (the asking task's frame may move) */
    char *host, *port;            /* owned, may be NULL */
    struct addrinfo hints;
    int has_hints;
    corio_resolver_fn fn;         /* the loop's hook (NULL: the system's getaddrinfo) */
    void *fn_arg;
    /* getnameinfo's input */
    struct sockaddr_storage sa;
    socklen_t salen;
    int flags;
    socklen_t hostlen, servlen;   /* 0: that part is not asked for */
    /* the outcome, written by the worker, read on the loop after it posted back */
    int gai, err;                 /* the call's code and errno */
    struct addrinfo *list;        /* owned: corio's nodes */
    char nhost[NI_MAXHOST];
    char nserv[NI_MAXSERV];
} lookup;

static void lookup_free(lookup *l) {
    corio__list_unlink(&l->res.link);
    corio_freeaddrinfo(l->list);
    corio__free(l->host);
    corio__free(l->port);
    corio__free(l);
}

/* The loop closes with the record still there: the pool dropped its job
 * unstarted (jobs that ran were released before the loop's resources go). */
static void lookup_res_close(corio__resource *r) { lookup_free(corio__container_of(r, lookup, res)); }

/* The release hook: the work ended after its task stopped waiting. */
static void lookup_release(void *result) { lookup_free(result); }

/* On a pool thread: the call itself. */
static int lookup_run(void *arg, void **result) {
    lookup *l = arg;
    if (l->kind == ADDRINFO) {
        struct addrinfo *r = NULL;
        const struct addrinfo *hints = l->has_hints ? &l->hints : NULL;
        if (l->fn) { /* the hook answers with corio's nodes already */
            l->gai = l->fn(l->fn_arg, l->host, l->port, hints, &r);
            l->err = errno;
            if (l->gai == 0) l->list = r; /* on a failure *out is not read, as getaddrinfo's */
        } else {
            l->gai = getaddrinfo(l->host, l->port, hints, &r);
            l->err = errno;
            if (l->gai == 0) l->gai = list_adopt(r, &l->list);
        }
    } else {
        l->gai = getnameinfo((struct sockaddr *)&l->sa, l->salen, l->hostlen ? l->nhost : NULL,
                             l->hostlen, l->servlen ? l->nserv : NULL, l->servlen, l->flags);
        l->err = errno;
    }
    *result = l;
    return 0;
}

static lookup *lookup_new(int kind) {
    lookup *l = corio__calloc(1, sizeof *l);
    if (!l) return NULL;
    l->kind = kind;
    l->res.close = lookup_res_close;
    corio__list_init(&l->res.link); /* lookup_free unlinks it, linked or not */
    return l;
}

/* In a task: run l on the pool. 0: l is the caller's again (lookup_free).
 * Else (a cancel, a timeout, no memory) l is no longer the caller's. */
static int lookup_await(corio_loop *loop, lookup *l) {
    corio__loop_add_resource(loop, &l->res);
    void *r = NULL;
    return corio_to_thread(lookup_run, l, lookup_release, &r);
}

/* ---- getaddrinfo ------------------------------------------------------------------------ */

/* A hook's answer, before anything reads it: every node has an address
 * that fits a sockaddr_storage (the callers read its family, and bind,
 * connect to and compare ai_addrlen bytes of it). */
static int list_sound(const struct addrinfo *ai) {
    for (; ai; ai = ai->ai_next)
        if (!ai->ai_addr || ai->ai_addrlen < sizeof(sa_family_t) ||
            ai->ai_addrlen > sizeof(struct sockaddr_storage))
            return 0;
    return 1;
}

static int is_numeric_port(const char *port) {
    if (!port) return 1;
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

/* No lookup needed: no host or a numeric one (without a zone index, as
 * asyncio's _ipaddr_info), and no port or a numeric one. */
static int is_numeric(const char *host, const char *port, const struct addrinfo *hints) {
    int flags = hints ? hints->ai_flags : 0;
    if (!is_numeric_port(port) && !(flags & AI_NUMERICSERV)) return 0;
    if (!host || (flags & AI_NUMERICHOST)) return 1;
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* The caller's hints, the inputs only: getaddrinfo wants the rest zero. */
static struct addrinfo hints_of(const struct addrinfo *hints) {
    struct addrinfo h = {0};
    if (hints) {
        h.ai_flags = hints->ai_flags;
        h.ai_family = hints->ai_family;
        h.ai_socktype = hints->ai_socktype;
        h.ai_protocol = hints->ai_protocol;
    }
    return h;
}

static int inline_lookup(const char *host, const char *port, const struct addrinfo *hints,
                         struct addrinfo **out, const char *what) {
    struct addrinfo h = hints_of(hints), *r = NULL;
    if (host) h.ai_flags |= AI_NUMERICHOST;
    if (port) h.ai_flags |= AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &h, &r);
    int err = errno;
    if (gai == 0) gai = list_adopt(r, out);
    return gai ? gai_failed("getaddrinfo", what, gai, err) : 0;
}

int corio_getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
                      struct addrinfo **out) {
    if (out) *out = NULL;
    if (port && !*port) port = NULL; /* asyncio's _ipaddr_info: "" is no port */
    if (!out || (!host && !port)) return CORIO_EINVAL;
    char what[300];
    name_format(host, port, what, sizeof what);
    int rc;
    if (is_numeric(host, port, hints)) {
        rc = inline_lookup(host, port, hints, out, what);
    } else {
        corio_loop *loop;
        if ((rc = corio__io_loop(&loop)) < 0) return rc;
        lookup *l = lookup_new(ADDRINFO);
        if (!l) return CORIO_ENOMEM;
        if ((host && !(l->host = corio__strdup(host))) || (port && !(l->port = corio__strdup(port)))) {
            lookup_free(l);
            return CORIO_ENOMEM;
        }
        l->hints = hints_of(hints);
        l->has_hints = hints != NULL;
        hook_get(loop, &l->fn, &l->fn_arg);
        if ((rc = lookup_await(loop, l)) < 0) return rc;
        rc = l->gai ? gai_failed("getaddrinfo", what, l->gai, l->err) : 0;
        if (rc == 0 && !list_sound(l->list))
            rc = corio_raise(CORIO_EINVAL, "getaddrinfo %s: the resolver hook answered a bad address", what);
        if (rc == 0) {
            *out = l->list;
            l->list = NULL;
        }
        lookup_free(l);
    }
    if (rc == 0 && !*out) /* a hook's empty answer: asyncio's "getaddrinfo() returned empty list" */
        rc = corio_raise(CORIO_ENAME, "getaddrinfo %s: no address", what);
    return rc;
}

/* ---- getnameinfo --------------------------------------------------------------------------- */

int corio_getnameinfo(const struct sockaddr *addr, unsigned int addrlen, int flags, char *host,
                      size_t hostlen, char *serv, size_t servlen) {
    if (!addr || addrlen == 0 || addrlen > sizeof(struct sockaddr_storage) ||
        (!host && !serv) || (host && !hostlen) || (serv && !servlen))
        return CORIO_EINVAL;
    char what[160];
    corio__addr_format(addr, addrlen, what, sizeof what);
    if (host) host[0] = 0;
    if (serv) serv[0] = 0;
    int numeric = (!host || (flags & NI_NUMERICHOST)) && (!serv || (flags & NI_NUMERICSERV));
    if (numeric) {
        int gai = getnameinfo(addr, addrlen, host, host ? (socklen_t)hostlen : 0, serv,
                              serv ? (socklen_t)servlen : 0, flags);
        return gai ? gai_failed("getnameinfo", what, gai, errno) : 0;
    }
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    lookup *l = lookup_new(NAMEINFO);
    if (!l) return CORIO_ENOMEM;
    memcpy(&l->sa, addr, addrlen);
    l->salen = addrlen;
    l->flags = flags;
    l->hostlen = host ? (socklen_t)(hostlen < sizeof l->nhost ? hostlen : sizeof l->nhost) : 0;
    l->servlen = serv ? (socklen_t)(servlen < sizeof l->nserv ? servlen : sizeof l->nserv) : 0;
    if ((rc = lookup_await(loop, l)) < 0) return rc;
    if (l->gai) {
        rc = gai_failed("getnameinfo", what, l->gai, l->err);
    } else {
        if (host) snprintf(host, hostlen, "%s", l->nhost);
        if (serv) snprintf(serv, servlen, "%s", l->nserv);
    }
    lookup_free(l);
    return rc;
}

/* ---- host and port as the stream calls take them ------------------------------------------ */

int corio__resolve(const char *host, int port, int family, int socktype, int flags,
                   struct addrinfo **out) {
    *out = NULL;
    if (port < 0 || port > 65535) return corio_raise(CORIO_EINVAL, "port %d: out of range", port);
    char h[INET6_ADDRSTRLEN + 8], p[8];
    size_t hl = host ? strlen(host) : 0;
    /* "[::1]" as well as "::1", as a URL writes it */
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof h) {
        memcpy(h, host + 1, hl - 2);
        h[hl - 2] = 0;
        host = h;
    }
    if (host && !*host && (flags & AI_PASSIVE)) host = NULL; /* asyncio's create_server: "" is None */
    snprintf(p, sizeof p, "%d", port);
    struct addrinfo hints = {.ai_family = family, .ai_socktype = socktype, .ai_flags = flags};
    return corio_getaddrinfo(host, p, &hints, out);
}

/* ---- connecting to a name ------------------------------------------------------------------ */

/* asyncio's _interleave_addrinfos: the first `first` - 1 addresses of the
 * first family, then one of each family in turn (families in the order
 * they first appear). v holds n pointers; reordered in place. */
static int interleave(const struct addrinfo **v, size_t n, int first) {
    const struct addrinfo **out = corio__calloc(n ? n : 1, sizeof *out);
    int fams[8];
    size_t nf = 0, k = 0;
    if (!out) return CORIO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t f = 0;
        while (f < nf && fams[f] != v[i]->ai_family) f++;
        if (f == nf && nf < sizeof fams / sizeof *fams) fams[nf++] = v[i]->ai_family;
    }
    uint8_t *used = corio__calloc(n ? n : 1, 1);
    if (!used) {
        corio__free(out);
        return CORIO_ENOMEM;
    }
    /* the head of the first family */
    for (size_t i = 0; i < n && k < (size_t)(first - 1); i++)
        if (v[i]->ai_family == fams[0]) {
            out[k++] = v[i];
            used[i] = 1;
        }
    /* then round-robin: each family's next unused address in turn (a
     * family beyond the eight tracked goes last, in order) */
    size_t pos[8] = {0};
    for (int progress = 1; progress;) {
        progress = 0;
        for (size_t f = 0; f < nf; f++) {
            while (pos[f] < n && (used[pos[f]] || v[pos[f]]->ai_family != fams[f])) pos[f]++;
            if (pos[f] < n) {
                out[k++] = v[pos[f]];
                used[pos[f]] = 1;
                progress = 1;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!used[i]) out[k++] = v[i];
    memcpy(v, out, n * sizeof *v);
    corio__free(out);
    corio__free(used);
    return 0;
}

/* Bind fd to the first of the local addresses of its family that binds
 * (asyncio's _connect_sock). */
static int bind_local(int fd, int family, const struct addrinfo *local) {
    int rc = 0, matched = 0;
    for (const struct addrinfo *l = local; l; l = l->ai_next) {
        if (l->ai_family != family) continue;
        matched = 1;
        if ((rc = corio__bind(fd, l->ai_addr, l->ai_addrlen)) == 0) return 0;
        char where[128];
        corio__addr_format(l->ai_addr, l->ai_addrlen, where, sizeof where);
        rc = corio_raise(rc, "bind %s: %s", where, strerror(-rc));
    }
    if (!matched) return corio_raise(CORIO_EINVAL, "no local address of family %d to bind", family);
    return rc;
}

/* One attempt: a socket, bound if asked, connected, TCP_NODELAY on (as
 * asyncio). 0 with *fd; else the error, with a message, and no socket. */
static int connect_one(const struct addrinfo *ai, const struct addrinfo *local, int *fd) {
    char where[128];
    *fd = -1;
    int s, rc = corio_socket(ai->ai_family, SOCK_STREAM, 0, &s);
    if (rc < 0) {
        corio__addr_format(ai->ai_addr, ai->ai_addrlen, where, sizeof where);
        return corio_raise(rc, "socket for %s: %s", where, strerror(-rc));
    }
    if (local) rc = bind_local(s, ai->ai_family, local);
    if (rc == 0) rc = corio_sock_connect(s, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0) {
        int one = 1;
        rc = corio__setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (rc < 0) {
        const corio_error *e = corio_current_error();
        if (rc != CORIO_ECANCELED && (!e || corio_error_code(e) != rc)) {
            corio__addr_format(ai->ai_addr, ai->ai_addrlen, where, sizeof where);
            rc = corio_raise(rc, "connect %s: %s", where, corio_strerror(rc));
        }
        corio_close_fd(s);
        return rc;
    }
    *fd = s;
    return 0;
}

/* The current error for a connection no address took: one attempt's error
 * as it is; several as a group, in the order they were tried. Returns the
 * code they share, else CORIO_EGROUP. */
static int all_failed(const char *host, int port, corio_error **errs, size_t n) {
    if (n == 1) {
        corio__set_exc(corio__running_task(), errs[0]);
        return errs[0]->code;
    }
    int code = errs[0]->code;
    for (size_t i = 1; i < n; i++)
        if (errs[i]->code != code) code = CORIO_EGROUP;
    char msg[300];
    snprintf(msg, sizeof msg, "connect %.200s:%d: all %zu addresses failed", host, port, n);
    corio_error *g = corio__error_group(msg, errs, (int)n);
    if (!g) return CORIO_ENOMEM;
    corio__set_exc(corio__running_task(), g);
    corio__error_unref(g);
    return code;
}

/* asyncio without happy_eyeballs_delay: each address in turn. */
static int connect_in_turn(const char *host, int port, const struct addrinfo **v, size_t n,
                           const struct addrinfo *local, int *fd) {
    corio_error **errs = corio__calloc(n, sizeof *errs);
    if (!errs) return CORIO_ENOMEM;
    int rc = 0;
    size_t nerr = 0;
    for (size_t i = 0; i < n; i++) {
        if ((rc = connect_one(v[i], local, fd)) == 0 || rc == CORIO_ECANCELED) break;
        const corio_error *e = corio_current_error();
        errs[nerr] = e && corio_error_code(e) == rc ? corio_error_ref(e) : corio__error_make(rc, NULL, NULL);
        if (!errs[nerr]) {
            rc = CORIO_ENOMEM;
            break;
        }
        nerr++;
    }
    if (rc < 0 && rc != CORIO_ECANCELED && rc != CORIO_ENOMEM) rc = all_failed(host, port, errs, nerr);
    for (size_t i = 0; i < nerr; i++) corio_error_unref(errs[i]);
    corio__free(errs);
    return rc;
}

/* ---- Happy Eyeballs: asyncio's staggered_race ----------------------------------------------- */

struct race;
typedef struct attempt {
    struct race *race;           /* borrowed: outlives the attempt's task */
    size_t i;
    const struct addrinfo *ai;   /* borrowed from the caller's list */
    int fd;                      /* owned while >= 0: connected, not yet handed out */
    corio_event *started;        /* owned: set when this attempt begins */
    corio_event *failed;         /* owned: set when it failed (the next may begin) */
} attempt;

typedef struct race {
    attempt *a;                  /* owned array of n */
    size_t n;
    double delay;
    const struct addrinfo *local;
} race;

/* Attempt i begins once attempt i - 1 has failed or `delay` after it
 * began, whichever is first (asyncio's run_one_coro). */
static int attempt_run(void *arg, void **result) {
    attempt *a = arg;
    int rc;
    if (a->i > 0) {
        attempt *prev = a - 1;
        if ((rc = corio_event_wait(prev->started)) < 0) return rc;
        corio_timeout *cm;
        if ((rc = corio_timeout_enter(a->race->delay, &cm)) < 0) return rc;
        rc = corio_timeout_exit(cm, corio_event_wait(prev->failed));
        if (rc < 0 && rc != CORIO_ETIMEDOUT) return rc;
    }
    corio_event_set(a->started);
    rc = connect_one(a->ai, a->race->local, &a->fd);
    if (rc < 0) {
        corio_event_set(a->failed);
        return rc;
    }
    *result = a;
    return 0;
}

static void race_free(race *r) {
    for (size_t i = 0; i < r->n; i++) {
        if (r->a[i].fd >= 0) corio_close_fd(r->a[i].fd);
        if (r->a[i].started) corio_event_free(r->a[i].started);
        if (r->a[i].failed) corio_event_free(r->a[i].failed);
    }
    corio__free(r->a);
    corio__free(r);
}

/* Every attempt is over once `any` returns, unless it failed before it
 * began (no memory): then cancel them and wait here. 1 when all are done
 * (the race may be freed), 0 if one could not be waited for. */
static int settle(corio_task **tasks, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (corio_future_done(tasks[i])) continue;
        corio_task_cancel(tasks[i], NULL);
        int rc = 0;
        while (!corio_future_done(tasks[i]) && (rc == 0 || rc == CORIO_ECANCELED))
            rc = corio_await(tasks[i], NULL);
        if (!corio_future_done(tasks[i])) return 0;
    }
    return 1;
}

static int connect_raced(const char *host, int port, const struct addrinfo **v, size_t n,
                         const struct addrinfo *local, double delay, int *fd) {
    race *r = corio__calloc(1, sizeof *r);
    corio_task **tasks = corio__calloc(n, sizeof *tasks);
    corio_error **errs = corio__calloc(n, sizeof *errs);
    int rc = r && tasks && errs && (r->a = corio__calloc(n, sizeof *r->a)) ? 0 : CORIO_ENOMEM;
    size_t made = 0;
    if (rc == 0) {
        r->delay = delay;
        r->local = local;
        r->n = n;
        for (size_t i = 0; i < n; i++)
            r->a[i] = (attempt){.race = r, .i = i, .ai = v[i], .fd = -1};
        for (size_t i = 0; i < n && rc == 0; i++)
            if ((rc = corio_event_new(&r->a[i].started)) == 0) rc = corio_event_new(&r->a[i].failed);
    }
    char name[160], where[128];
    while (rc == 0 && made < n) {
        corio__addr_format(v[made]->ai_addr, v[made]->ai_addrlen, where, sizeof where);
        snprintf(name, sizeof name, "connect %s (happy eyeballs)", where);
        if ((rc = corio_create_task(attempt_run, &r->a[made], name, &tasks[made])) == 0) made++;
    }
    if (rc < 0 && made > 0) /* not every attempt could be made: none runs */
        for (size_t i = 0; i < made; i++) corio_task_cancel(tasks[i], NULL);
    size_t winner = n;
    int raced = made > 0 ? corio_any_tasks(tasks, made, &winner, NULL) : rc;
    if (rc == 0) rc = raced;
    int settled = settle(tasks, made);
    if (rc == 0) {
        *fd = r->a[winner].fd; /* every other socket closes with the race */
        r->a[winner].fd = -1;
    } else if (rc == CORIO_EGROUP) { /* all failed: their errors in the order they were tried */
        size_t nerr = 0;
        for (size_t i = 0; i < made; i++)
            if (corio_future_exception(tasks[i], &errs[nerr]) == 0 && errs[nerr]) nerr++;
        rc = nerr == made ? all_failed(host, port, errs, nerr) : CORIO_ENOMEM;
        for (size_t i = 0; i < nerr; i++) corio_error_unref(errs[i]);
    }
    for (size_t i = 0; i < made; i++) corio_future_unref(tasks[i]);
    corio__free(tasks);
    corio__free(errs);
    if (r && settled) race_free(r); /* else an attempt may still read it: kept */
    return rc;
}

int corio__open_tcp(const char *host, int port, const corio_connect_options *o, int *fd) {
    *fd = -1;
    double delay = o ? o->happy_eyeballs_delay : 0;
    int family = o ? o->family : AF_UNSPEC;
    int il = o ? o->interleave : 0;
    if (!host || isnan(delay) || delay < 0 || il < 0 ||
        (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) ||
        (o && o->local_port && !o->local_host))
        return CORIO_EINVAL;
    corio_loop *loop;
    int rc = corio__io_loop(&loop);
    if (rc < 0) return rc;
    struct addrinfo *ais = NULL, *local = NULL;
    if ((rc = corio__resolve(host, port, family, SOCK_STREAM, 0, &ais)) < 0) return rc;
    if (o && o->local_host)
        rc = corio__resolve(o->local_host, o->local_port, family, SOCK_STREAM, AI_PASSIVE, &local);
    size_t n = 0;
    for (struct addrinfo *a = ais; a; a = a->ai_next) n++;
    const struct addrinfo **v = rc == 0 ? corio__calloc(n, sizeof *v) : NULL;
    if (rc == 0 && !v) rc = CORIO_ENOMEM;
    if (rc == 0) {
        n = 0;
        for (struct addrinfo *a = ais; a; a = a->ai_next) v[n++] = a;
        if (delay > 0 && il == 0) il = 1; /* asyncio: Happy Eyeballs interleaves by default */
        if (il > 0) rc = interleave(v, n, il);
    }
    if (rc == 0)
        rc = delay > 0 && n > 1 ? connect_raced(host, port, v, n, local, delay, fd)
                                : connect_in_turn(host, port, v, n, local, fd);
    corio__free(v);
    corio_freeaddrinfo(ais);
    corio_freeaddrinfo(local);
    return rc;
}

/* ---- datagram endpoints by name ------------------------------------------------------------ */

static const struct addrinfo *first_of(const struct addrinfo *ai, int family) {
    while (ai && ai->ai_family != family) ai = ai->ai_next;
    return ai;
}

/* One socket of family, bound to la and/or connected to ra (either may be
 * NULL). 0 with *fd, or the error with a message. */
static int udp_one(int family, const struct addrinfo *la, const struct addrinfo *ra, int *fd) {
    char where[128];
    int s, rc = corio_socket(family, SOCK_DGRAM, 0, &s);
    const struct addrinfo *at = la ? la : ra;
    const char *op = "socket for";
    if (rc == 0 && la && (rc = corio__bind(s, la->ai_addr, la->ai_addrlen)) < 0) op = "bind";
    if (rc == 0 && ra && (rc = corio__connect(s, ra->ai_addr, ra->ai_addrlen)) < 0) {
        op = "connect";
        at = ra;
    }
    if (rc < 0) {
        if (op[0] != 's') corio_close_fd(s);
        corio__addr_format(at->ai_addr, at->ai_addrlen, where, sizeof where);
        return corio_raise(rc, "%s %s: %s", op, where, strerror(-rc));
    }
    *fd = s;
    return 0;
}

/* asyncio's create_datagram_endpoint: for each address family both sides
 * have (in the order the local side, then the remote side, lists them),
 * the first address of each; the first pair that works. */
int corio__open_udp(const char *lhost, int lport, const char *rhost, int rport, int *fd) {
    struct addrinfo *local = NULL, *remote = NULL;
    int rc = 0;
    if (lhost) rc = corio__resolve(lhost, lport, AF_UNSPEC, SOCK_DGRAM, AI_PASSIVE, &local);
    if (rc == 0 && rhost) rc = corio__resolve(rhost, rport, AF_UNSPEC, SOCK_DGRAM, 0, &remote);
    int first_err = 0, tried = 0;
    corio_error *err = NULL;
    for (const struct addrinfo *a = local ? local : remote; rc == 0 && a; a = a->ai_next) {
        const struct addrinfo *la = local ? first_of(local, a->ai_family) : NULL;
        const struct addrinfo *ra = remote ? first_of(remote, a->ai_family) : NULL;
        if ((local && la != a) || (!local && ra != a) || (remote && !ra)) continue; /* seen, or no pair */
        tried = 1;
        int r = udp_one(a->ai_family, la, ra, fd);
        if (r == 0) break;
        if (!first_err) { /* asyncio raises the first one */
            first_err = r;
            err = corio_error_ref(corio_current_error());
        }
    }
    if (rc == 0 && !tried)
        rc = corio_raise(CORIO_EINVAL, "%s and %s: no address family in common", lhost, rhost);
    else if (rc == 0 && *fd < 0) {
        rc = first_err;
        if (err && corio_error_code(err) == rc) corio__set_exc(corio__running_task(), err);
    }
    corio_error_unref(err);
    corio_freeaddrinfo(local);
    corio_freeaddrinfo(remote);
    return rc;
}
