/* fetch_many N C URL [BACKEND] (shared/spec/performance.md): fetch N small
 * responses, URL/0 .. URL/N-1, with C requests in flight, through libcurl
 * inside corio tasks (include/corio_curl.h), keep them in input order and
 * check every body (the server answers with the path it was asked for).
 * C worker tasks each reuse one easy handle, as a libcurl program would;
 * they share one multi handle (keep-alive: at most C connections). Prints
 * n=, inflight=, ok=, secs= (the fetching's wall time) and cpu= (this
 * process's user+system CPU over it, getrusage). BACKEND: epoll or
 * io_uring (default: the loop's default). */
#include "bench.h"

#include <corio_curl.h>
#include <sys/resource.h>

typedef struct run {
    corio_curl *c;
    const char *base;
    long n, next;     /* requests, and the next one a worker takes */
    char **bodies;    /* owned: body i, in input order */
    long failed;
} run;

typedef struct body {
    char *p;
    size_t len, cap;
} body;

static size_t on_data(char *data, size_t size, size_t n, void *arg) {
    body *b = arg;
    size_t m = size * n;
    if (b->len + m + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + m + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, m);
    b->len += m;
    b->p[b->len] = 0;
    return m;
}

static int worker(void *arg, void **res) {
    (void)res;
    run *r = arg;
    CURL *e = curl_easy_init();
    if (!e) return CORIO_ENOMEM;
    char url[512];
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    int rc = 0;
    while (rc == 0 && r->next < r->n) {
        long i = r->next++;
        body b = {0};
        snprintf(url, sizeof url, "%s/%ld", r->base, i);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
        rc = corio_curl_perform(r->c, e);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (rc < 0 || status != 200) {
            const corio_error *err = corio_current_error();
            fprintf(stderr, "fetch %s: %s (status %ld)\n", url,
                    err ? corio_error_message(err) : corio_strerror(rc), status);
            r->failed++;
            free(b.p);
            continue;
        }
        r->bodies[i] = b.p;
    }
    curl_easy_cleanup(e);
    return rc;
}

typedef struct args {
    long n, c;
    const char *base;
    double secs, cpu;
    long ok;
} args;

static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int fetch_all(void *arg, void **res) {
    (void)res;
    args *a = arg;
    run r = {.base = a->base, .n = a->n};
    int rc = corio_curl_new(&r.c);
    if (rc < 0) return rc;
    r.bodies = calloc((size_t)a->n, sizeof *r.bodies);
    corio_aw *aws = calloc((size_t)a->c, sizeof *aws);
    if (!r.bodies || !aws) return CORIO_ENOMEM;
    for (long k = 0; k < a->c; k++) aws[k] = CORIO_CORO(worker, &r);
    double t0 = bench_now(), c0 = cpu_now();
    rc = corio_gather_wait(aws, (size_t)a->c, 0, NULL);
    a->secs = bench_now() - t0;
    a->cpu = cpu_now() - c0;
    /* every body, in input order */
    char want[512];
    for (long i = 0; i < a->n; i++) {
        snprintf(want, sizeof want, "%s/%ld", strstr(a->base, "//") ? strchr(strstr(a->base, "//") + 2, '/') : "", i);
        if (r.bodies[i] && strcmp(r.bodies[i], want) == 0) a->ok++;
        free(r.bodies[i]);
    }
    free(r.bodies);
    free(aws);
    int frc = corio_curl_free(r.c);
    return rc < 0 ? rc : frc;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s N C URL [epoll|io_uring]\n", argv[0]);
        return 2;
    }
    args a = {.n = atol(argv[1]), .c = atol(argv[2]), .base = argv[3]};
    if (a.n <= 0 || a.c <= 0 || !strstr(a.base, "//") || !strchr(strstr(a.base, "//") + 2, '/')) {
        fprintf(stderr, "%s: N and C > 0, URL with a path (http://127.0.0.1:8080/item)\n", argv[0]);
        return 2;
    }
    corio_loop_options o = {0};
    if (argc > 4) o.backend = !strcmp(argv[4], "io_uring") ? CORIO_BACKEND_IO_URING : CORIO_BACKEND_EPOLL;
    corio_loop *loop;
    int rc = corio_loop_new_with(&loop, &o);
    if (rc < 0) return bench_fail("loop", rc);
    rc = corio_loop_run_main(loop, fetch_all, &a, NULL);
    corio_loop_free(loop);
    if (rc < 0) return bench_fail("fetch_many", rc);
    printf("fetch_many n=%ld inflight=%ld ok=%ld cpu=%.4f secs=%.4f\n", a.n, a.c, a.ok, a.cpu,
           a.secs);
    return a.ok == a.n ? 0 : 1;
}
