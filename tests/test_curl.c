/* The libcurl adapter (io.md 9, include/corio_curl.h) against a real
 * server on loopback: corio's own small HTTP/1.1 server, written on corio
 * streams below (keep-alive, delays, any status, a reply cut in the
 * middle, chunked, a redirect, a stall), and Debian's nginx where it is
 * installed. Each test ends with the multi handle empty and freed; the
 * runner checks that no descriptor is left. */
#include "test.h"

#ifdef CORIO_HAVE_CURL
#include "corio_curl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the test's HTTP/1.1 server ------------------------------------------- */

typedef struct httpd {
    corio_server *srv; /* owned */
    int port;
    int accepted;      /* connections accepted so far */
    int live;          /* handlers running */
    int peer_closed;   /* connections the client closed (EOF or error on read) */
    int stalled;       /* /stall replies that have sent their first part */
    int stopping;      /* teardown: sleeping handlers give up */
} httpd;

static int reply(corio_stream *s, int status, const char *extra, const char *body, size_t len) {
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status,
                     len, extra ? extra : "");
    int rc = corio_stream_write(s, head, (size_t)n);
    if (rc == 0 && len) rc = corio_stream_write(s, body, len);
    return rc == 0 ? corio_stream_drain(s) : rc;
}

/* Sleep ms in small steps, giving up at teardown. */
static int nap(httpd *h, long ms) {
    for (long t = 0; t < ms && !h->stopping; t += 10)
        if (corio_sleep(0.01) < 0) return -1;
    return h->stopping ? -1 : 0;
}

static size_t content_length(const char *head, size_t len) {
    const char *k = "\ncontent-length:";
    size_t kl = strlen(k);
    for (size_t i = 0; i + kl < len; i++)
        if (strncasecmp(head + i, k, kl) == 0) return (size_t)strtoul(head + i + kl, NULL, 10);
    return 0;
}

/* One request: its path decides the reply. -1 ends the connection. */
static int serve_one(httpd *h, corio_stream *s) {
    const void *d;
    size_t n;
    if (corio_stream_readuntil(s, "\r\n\r\n", 4, &d, &n) < 0) return -1;
    char head[2048], path[256] = "", method[16] = "";
    if (n >= sizeof head) n = sizeof head - 1;
    memcpy(head, d, n);
    head[n] = 0;
    if (sscanf(head, "%15s %255s", method, path) != 2) return -1;
    char body[4096];
    size_t blen = content_length(head, n), got = 0;
    if (blen > sizeof body || (blen && corio_stream_readexactly(s, body, blen, &got) < 0)) return -1;
    char msg[256];
    long arg = 0;
    if (strcmp(path, "/hello") == 0) return reply(s, 200, NULL, "hello", 5);
    if (sscanf(path, "/status/%ld", &arg) == 1) {
        int m = snprintf(msg, sizeof msg, "status %ld", arg);
        return reply(s, (int)arg, NULL, msg, (size_t)m);
    }
    if (sscanf(path, "/delay/%ld", &arg) == 1) {
        if (nap(h, arg) < 0) return -1;
        return reply(s, 200, NULL, "late", 4);
    }
    if (strcmp(path, "/echo") == 0) {
        char extra[300] = "";
        const char *ct = strcasestr(head, "\ncontent-type:");
        if (ct) {
            ct += 14;
            while (*ct == ' ') ct++;
            snprintf(extra, sizeof extra, "X-Got-Type: %.*s\r\n", (int)strcspn(ct, "\r\n"), ct);
        }
        int m = snprintf(msg, sizeof msg, "%s %zu:", method, blen);
        char out[4400];
        memcpy(out, msg, (size_t)m);
        memcpy(out + m, body, blen);
        return reply(s, 200, extra, out, (size_t)m + blen);
    }
    if (strcmp(path, "/chunked") == 0) {
        const char *r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "6\r\nhello,\r\n8\r\n chunked\r\n6\r\n world\r\n0\r\n\r\n";
        int rc = corio_stream_write(s, r, strlen(r));
        return rc == 0 ? corio_stream_drain(s) : rc;
    }
    if (strcmp(path, "/redirect") == 0) return reply(s, 302, "Location: /hello\r\n", "", 0);
    if (strcmp(path, "/cut") == 0) { /* 100 bytes promised, 10 sent, then gone */
        const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
        if (corio_stream_write(s, r, strlen(r)) == 0) (void)corio_stream_drain(s);
        return -1;
    }
    if (strcmp(path, "/stall") == 0) { /* part of the body, then nothing until teardown */
        const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart";
        if (corio_stream_write(s, r, strlen(r)) < 0 || corio_stream_drain(s) < 0) return -1;
        h->stalled++;
        /* Wait for the client to go: the read ends at its close. */
        const void *x;
        size_t xn;
        (void)corio_stream_read_lent(s, 1, &x, &xn);
        h->peer_closed++;
        return -1;
    }
    return reply(s, 404, NULL, "not found", 9);
}

static int http_handler(corio_stream *s, void *arg) {
    httpd *h = arg;
    h->accepted++;
    h->live++;
    while (!h->stopping && serve_one(h, s) == 0) {}
    if (!h->stopping && corio_stream_at_eof(s)) h->peer_closed++;
    h->live--;
    return 0;
}

static void httpd_start(httpd *h) {
    memset(h, 0, sizeof *h);
    corio_server_options o = {.backlog = 1024};
    ASSERT_EQ(corio_start_server(http_handler, h, "127.0.0.1", 0, &o, &h->srv), 0);
    struct sockaddr_in a;
    unsigned int len = sizeof a;
    ASSERT_EQ(corio_server_sockname(h->srv, 0, (struct sockaddr *)&a, &len), 0);
    h->port = ntohs(a.sin_port);
}

static void httpd_stop(httpd *h) {
    h->stopping = 1;
    ASSERT_EQ(corio_server_close(h->srv), 0);
    ASSERT_EQ(corio_server_abort_clients(h->srv), 0);
    for (int i = 0; i < 1000 && h->live > 0; i++) ASSERT_EQ(corio_sleep(0.005), 0);
    ASSERT_EQ(h->live, 0);
    ASSERT_EQ(corio_server_wait_closed(h->srv), 0);
    ASSERT_EQ(corio_server_free(h->srv), 0);
}

static void url(char *buf, size_t cap, const httpd *h, const char *path) {
    snprintf(buf, cap, "http://127.0.0.1:%d%s", h->port, path);
}

/* Poll (bounded) until *flag reaches want. */
static void until(const int *flag, int want) {
    for (int i = 0; i < 2000 && *flag < want; i++) ASSERT_EQ(corio_sleep(0.005), 0);
    ASSERT(*flag >= want);
}

static const char *msg(void) {
    const corio_error *e = corio_current_error();
    return e ? corio_error_message(e) : "";
}

static void run(corio_fn body) {
    on_loop(body, NULL);
}

/* ---- success ------------------------------------------------------------ */

static int get_ok(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    ASSERT(corio_curl_multi(c) != NULL);
    char u[128];
    corio_http_response r;
    url(u, sizeof u, &h, "/hello");
    ASSERT_EQ(corio_http_get(c, u, &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR(r.body, "hello");
    ASSERT_EQ(r.body_len, 5);
    ASSERT(strncmp(r.headers, "HTTP/1.1 200", 12) == 0);
    ASSERT(strstr(r.headers, "Content-Length: 5\r\n") != NULL);
    ASSERT_EQ(r.headers_len, strlen(r.headers));
    corio_http_response_free(&r);
    ASSERT(r.body == NULL && r.headers == NULL);
    /* chunked */
    url(u, sizeof u, &h, "/chunked");
    ASSERT_EQ(corio_http_get(c, u, &r), 0);
    ASSERT_STR(r.body, "hello, chunked world");
    corio_http_response_free(&r);
    /* a redirect is followed; the headers are the last response's */
    url(u, sizeof u, &h, "/redirect");
    ASSERT_EQ(corio_http_get(c, u, &r), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR(r.body, "hello");
    ASSERT(strncmp(r.headers, "HTTP/1.1 200", 12) == 0);
    corio_http_response_free(&r);
    /* POST, with and without a content type, and an empty body */
    url(u, sizeof u, &h, "/echo");
    ASSERT_EQ(corio_http_post(c, u, "a=1&b=2", 7, "application/json", &r), 0);
    ASSERT_STR(r.body, "POST 7:a=1&b=2");
    ASSERT(strstr(r.headers, "X-Got-Type: application/json\r\n") != NULL);
    corio_http_response_free(&r);
    ASSERT_EQ(corio_http_post(c, u, NULL, 0, NULL, &r), 0);
    ASSERT_STR(r.body, "POST 0:");
    corio_http_response_free(&r);
    ASSERT_EQ(corio_curl_transfers(c), 0);
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}
TEST(curl_get_ok) {
    run(get_ok);
    return 0;
}

/* A caller's own easy handle: its callbacks and options, its getinfo. */
typedef struct sink {
    char data[64];
    size_t len;
} sink;
static size_t to_sink(char *p, size_t size, size_t n, void *arg) {
    sink *k = arg;
    size_t m = size * n;
    if (k->len + m >= sizeof k->data) return 0;
    memcpy(k->data + k->len, p, m);
    k->len += m;
    return m;
}

static int perform_easy(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    CURL *e = curl_easy_init();
    ASSERT(e != NULL);
    char u[128];
    sink k = {0};
    url(u, sizeof u, &h, "/status/201");
    curl_easy_setopt(e, CURLOPT_URL, u);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, to_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &k);
    for (int i = 0; i < 3; i++) { /* the same handle again and again */
        k.len = 0;
        ASSERT_EQ(corio_curl_perform(c, e), 0);
        long status = 0;
        ASSERT_EQ(curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status), CURLE_OK);
        ASSERT_EQ(status, 201);
        ASSERT_EQ(k.len, 10);
        ASSERT(memcmp(k.data, "status 201", 10) == 0);
    }
    ASSERT_EQ(h.accepted, 1);
    curl_easy_cleanup(e);
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}
TEST(curl_perform_easy) {
    run(perform_easy);
    return 0;
}

/* ---- failures --------------------------------------------------------------- */

static int server_errors(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    char u[128];
    corio_http_response r;
    static const int codes[] = {404, 500, 503};
    for (size_t i = 0; i < 3; i++) {
        char p[32];
        snprintf(p, sizeof p, "/status/%d", codes[i]);
        url(u, sizeof u, &h, p);
        ASSERT_EQ(corio_http_get(c, u, &r), 0); /* not an error, as aiohttp */
        ASSERT_EQ(r.status, codes[i]);
        char want[32];
        snprintf(want, sizeof want, "status %d", codes[i]);
        ASSERT_STR(r.body, want);
        corio_http_response_free(&r);
    }
    url(u, sizeof u, &h, "/nowhere");
    ASSERT_EQ(corio_http_get(c, u, &r), 0);
    ASSERT_EQ(r.status, 404);
    corio_http_response_free(&r);
    ASSERT_EQ(h.accepted, 1); /* all on one kept-alive connection */
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}
TEST(curl_server_errors) {
    run(server_errors);
    return 0;
}

/* A port nobody listens on: bound, never listening. */
static int dead_port(int *fd) {
    ASSERT_EQ(corio_socket(AF_INET, SOCK_STREAM, 0, fd), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static int refused(void *arg, void **res) {
    (void)arg, (void)res;
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    int fd;
    int port = dead_port(&fd);
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/x", port);
    corio_http_response r;
    r.status = 7;
    ASSERT_EQ(corio_http_get(c, u, &r), CORIO_ECURL);
    ASSERT(r.status == 0 && r.body == NULL && r.headers == NULL);
    ASSERT(strstr(msg(), u) != NULL);
    ASSERT(strstr(msg(), "onnect") != NULL); /* "Couldn't connect to server" */
    ASSERT_EQ(corio_curl_transfers(c), 0);
    /* again: the failure left nothing behind */
    ASSERT_EQ(corio_http_get(c, u, &r), CORIO_ECURL);
    ASSERT_EQ(corio_curl_free(c), 0);
    ASSERT_EQ(corio_close_fd(fd), 0);
    return 0;
}
TEST(curl_refused) {
    run(refused);
    return 0;
}

static int cut_reply(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    char u[128];
    corio_http_response r;
    url(u, sizeof u, &h, "/cut");
    ASSERT_EQ(corio_http_get(c, u, &r), CORIO_ECURL);
    ASSERT(r.body == NULL);
    ASSERT(strstr(msg(), u) != NULL);
    ASSERT(strstr(msg(), "90 bytes remaining") != NULL); /* curl's own words */
    /* the multi handle goes on, on a new connection */
    url(u, sizeof u, &h, "/hello");
    ASSERT_EQ(corio_http_get(c, u, &r), 0);
    ASSERT_STR(r.body, "hello");
    corio_http_response_free(&r);
    ASSERT_EQ(h.accepted, 2);
    ASSERT_EQ(corio_curl_transfers(c), 0);
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}
TEST(curl_cut_reply) {
    run(cut_reply);
    return 0;
}

/* ---- timeouts and cancellation ------------------------------------------------ */

static int timeout_scope(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    char u[128];
    corio_http_response r;
    url(u, sizeof u, &h, "/stall"); /* part of a reply, then nothing */
    corio_timeout *to;
    ASSERT_EQ(corio_timeout_enter(0.05, &to), 0);
    int rc = corio_http_get(c, u, &r);
    ASSERT_EQ(rc, CORIO_ECANCELED);
    ASSERT_EQ(corio_timeout_exit(to, rc), CORIO_ETIMEDOUT);
    ASSERT(r.body == NULL);
    ASSERT_EQ(corio_curl_transfers(c), 0);
    ASSERT_EQ(h.stalled, 1);
    until(&h.peer_closed, 1); /* the connection was closed, not left */
    /* and the multi handle still works */
    url(u, sizeof u, &h, "/hello");
    ASSERT_EQ(corio_http_get(c, u, &r), 0);
    ASSERT_STR(r.body, "hello");
    corio_http_response_free(&r);
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}
TEST(curl_timeout_scope) {
    run(timeout_scope);
    return 0;
}

typedef struct job {
    corio_curl *c;
    char url[128];
    corio_http_response r;
    int rc;
} job;

static int get_job(void *arg, void **res) {
    (void)res;
    job *j = arg;
    j->rc = corio_http_get(j->c, j->url, &j->r);
    return j->rc;
}

static int fd_count(void) {
    int n = 0;
    char p[64];
    for (int fd = 0; fd < 4096; fd++) {
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        if (access(p, F_OK) == 0) n++;
    }
    return n;
}

static int cancel_mid(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    int fds = fd_count();
    job j = {.c = c};
    url(j.url, sizeof j.url, &h, "/stall");
    corio_task *t;
    ASSERT_EQ(corio_create_task(get_job, &j, "getter", &t), 0);
    until(&h.stalled, 1); /* headers and part of the body are in */
    ASSERT_EQ(corio_curl_transfers(c), 1);
    ASSERT_EQ(fd_count(), fds + 2); /* the client's socket and the server's */
    ASSERT_EQ(corio_task_cancel(t, NULL), 1);
    ASSERT_EQ(corio_await(t, NULL), CORIO_ECANCELED);
    corio_future_unref(t);
    ASSERT_EQ(j.rc, CORIO_ECANCELED);
    ASSERT(j.r.body == NULL);
    /* out of the multi at once, and its socket closed at once */
    ASSERT_EQ(corio_curl_transfers(c), 0);
    until(&h.peer_closed, 1);
    for (int i = 0; i < 200 && fd_count() != fds; i++) ASSERT_EQ(corio_sleep(0.005), 0);
    ASSERT_EQ(fd_count(), fds);
    /* the multi handle still works */
    corio_http_response r;
    url(j.url, sizeof j.url, &h, "/hello");
    ASSERT_EQ(corio_http_get(c, j.url, &r), 0);
    ASSERT_STR(r.body, "hello");
    corio_http_response_free(&r);
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}
TEST(curl_cancel_mid_transfer) {
    run(cancel_mid);
    return 0;
}

/* A cancel at every moment of a transfer: before it starts, while it
 * connects, while it waits for the reply. */
static int cancel_any_time(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    for (int step = 0; step < 12; step++) {
        job j = {.c = c};
        url(j.url, sizeof j.url, &h, "/delay/20");
        corio_task *t;
        ASSERT_EQ(corio_create_task(get_job, &j, "getter", &t), 0);
        for (int i = 0; i < step; i++) ASSERT_EQ(corio_sleep(0), 0);
        if (step > 8) ASSERT_EQ(corio_sleep(0.001 * step), 0);
        corio_task_cancel(t, NULL);
        int rc = corio_await(t, NULL);
        ASSERT(rc == CORIO_ECANCELED || rc == 0);
        corio_future_unref(t);
        corio_http_response_free(&j.r);
        ASSERT_EQ(corio_curl_transfers(c), 0);
    }
    corio_http_response r;
    char u[128];
    url(u, sizeof u, &h, "/hello");
    ASSERT_EQ(corio_http_get(c, u, &r), 0);
    corio_http_response_free(&r);
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}
TEST(curl_cancel_any_time) {
    run(cancel_any_time);
    return 0;
}

/* ---- sharing: reuse and many at once -------------------------------------------- */

static int reuse(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    char u[128];
    corio_http_response r;
    url(u, sizeof u, &h, "/hello");
    for (int i = 0; i < 20; i++) {
        ASSERT_EQ(corio_http_get(c, u, &r), 0);
        corio_http_response_free(&r);
    }
    ASSERT_EQ(h.accepted, 1); /* keep-alive: one connection for all */
    /* 5 at once open at most 5 connections, and reuse the first */
    enum { N = 5 };
    job jobs[N];
    corio_aw aws[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){.c = c};
        url(jobs[i].url, sizeof jobs[i].url, &h, "/delay/20");
        aws[i] = CORIO_CORO(get_job, &jobs[i]);
    }
    ASSERT_EQ(corio_gather_wait(aws, N, 0, NULL), 0);
    for (int i = 0; i < N; i++) {
        ASSERT_STR(jobs[i].r.body, "late");
        corio_http_response_free(&jobs[i].r);
    }
    ASSERT(h.accepted <= N);
    int before = h.accepted;
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(corio_http_get(c, u, &r), 0);
        corio_http_response_free(&r);
    }
    ASSERT_EQ(h.accepted, before);
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}
TEST(curl_connection_reuse) {
    run(reuse);
    return 0;
}

static int many(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    /* curl queues what is over its limit: 1 000 requests, 64 connections */
    ASSERT_EQ(curl_multi_setopt(corio_curl_multi(c), CURLMOPT_MAX_HOST_CONNECTIONS, 64L), CURLM_OK);
    enum { N = 1000 };
    static const int codes[7] = {200, 201, 202, 203, 404, 500, 503}; /* each with a body */
    job *jobs = calloc(N, sizeof *jobs);
    corio_aw *aws = calloc(N, sizeof *aws);
    ASSERT(jobs && aws);
    for (int i = 0; i < N; i++) {
        jobs[i].c = c;
        char p[32];
        snprintf(p, sizeof p, "/status/%d", codes[i % 7]);
        url(jobs[i].url, sizeof jobs[i].url, &h, p);
        aws[i] = CORIO_CORO(get_job, &jobs[i]);
    }
    ASSERT_EQ(corio_gather_wait(aws, N, 0, NULL), 0);
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "status %d", codes[i % 7]);
        ASSERT_EQ(jobs[i].rc, 0);
        ASSERT_EQ(jobs[i].r.status, codes[i % 7]);
        ASSERT_STR(jobs[i].r.body, want);
        corio_http_response_free(&jobs[i].r);
    }
    ASSERT(h.accepted <= 64);
    ASSERT_EQ(corio_curl_transfers(c), 0);
    free(jobs);
    free(aws);
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}
TEST(curl_many_concurrent) {
    run(many);
    return 0;
}

/* ---- bad input ------------------------------------------------------------------ */

static int bad_input(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_curl_new(&c), 0);
    corio_http_response r;
    ASSERT_EQ(corio_curl_perform(NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_curl_perform(c, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_http_get(c, NULL, &r), CORIO_EINVAL);
    ASSERT_EQ(corio_http_get(NULL, "http://127.0.0.1:1/", &r), CORIO_EINVAL);
    ASSERT_EQ(corio_http_get(c, "http://127.0.0.1:1/", NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_http_post(c, "http://127.0.0.1:1/", NULL, 5, NULL, &r), CORIO_EINVAL);
    ASSERT(corio_curl_multi(NULL) == NULL);
    ASSERT_EQ(corio_curl_transfers(NULL), 0);
    ASSERT_EQ(corio_curl_free(NULL), 0);
    corio_http_response_free(NULL);
    /* URLs curl refuses */
    ASSERT_EQ(corio_http_get(c, "http://[::1", &r), CORIO_ECURL);
    ASSERT(strstr(msg(), "http://[::1") != NULL);
    ASSERT_EQ(corio_http_get(c, "gopher-nope://127.0.0.1/", &r), CORIO_ECURL);
    ASSERT(strstr(msg(), "gopher-nope://127.0.0.1/") != NULL);
    ASSERT_EQ(corio_http_get(c, "", &r), CORIO_ECURL);
    /* a content type too long for a header line */
    char ct[400];
    memset(ct, 'x', sizeof ct - 1);
    ct[sizeof ct - 1] = 0;
    ASSERT_EQ(corio_http_post(c, "http://127.0.0.1:1/", "a", 1, ct, &r), CORIO_EINVAL);
    /* freeing a busy multi */
    job j = {.c = c};
    url(j.url, sizeof j.url, &h, "/delay/30");
    corio_task *t;
    ASSERT_EQ(corio_create_task(get_job, &j, "getter", &t), 0);
    ASSERT_EQ(corio_sleep(0), 0); /* it is in the multi now */
    ASSERT_EQ(corio_curl_transfers(c), 1);
    ASSERT_EQ(corio_curl_free(c), CORIO_EBUSY);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_STR(j.r.body, "late");
    corio_http_response_free(&j.r);
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}

static int busy_easy(void *arg, void **res) {
    (void)res;
    void **p = arg;
    return corio_curl_perform(p[0], p[1]);
}

static int same_easy_twice(void *arg, void **res) {
    (void)arg, (void)res;
    httpd h;
    httpd_start(&h);
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    char u[128];
    url(u, sizeof u, &h, "/delay/30");
    CURL *e = curl_easy_init();
    sink k = {0};
    curl_easy_setopt(e, CURLOPT_URL, u);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, to_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &k);
    void *p[2] = {c, e};
    corio_task *t;
    ASSERT_EQ(corio_create_task(busy_easy, p, "first", &t), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(corio_curl_perform(c, e), CORIO_EBUSY);
    ASSERT_EQ(corio_await(t, NULL), 0);
    corio_future_unref(t);
    ASSERT_STR(k.data, "late");
    curl_easy_cleanup(e);
    ASSERT_EQ(corio_curl_free(c), 0);
    httpd_stop(&h);
    return 0;
}

TEST(curl_bad_input) {
    corio_curl *c = NULL;
    ASSERT_EQ(corio_curl_new(&c), CORIO_ENOTINTASK);
    ASSERT(c == NULL);
    corio_http_response r;
    ASSERT_EQ(corio_http_get(NULL, "http://127.0.0.1:1/", &r), CORIO_EINVAL);
    run(bad_input);
    run(same_easy_twice);
    return 0;
}

/* ---- nginx: a real server's keep-alive and HTTP/1.1 ---------------------------- */

static const char *nginx_bin(void) {
    static const char *const where[] = {"/usr/sbin/nginx", "/usr/bin/nginx"};
    for (size_t i = 0; i < 2; i++)
        if (access(where[i], X_OK) == 0) return where[i];
    return NULL;
}

typedef struct nginx {
    char dir[64];
    pid_t pid;
    int port;    /* HTTP/1.1 */
    int h2port;  /* HTTP/2 over TLS (ALPN), a self-signed certificate; 0: no openssl(1) */
} nginx;

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* nginx on a loopback port of a socket we bound and released. */
static int nginx_start(nginx *n) {
    const char *bin = nginx_bin();
    if (!bin) return -1;
    snprintf(n->dir, sizeof n->dir, "/tmp/corio-nginx-XXXXXX");
    ASSERT(mkdtemp(n->dir) != NULL);
    n->port = free_port();
    n->h2port = free_port();
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -days 2 -keyout %s/key.pem -out %s/cert.pem "
             ">/dev/null 2>&1",
             n->dir, n->dir);
    if (system(cmd) != 0) n->h2port = 0;
    char h2[400] = "";
    if (n->h2port)
        snprintf(h2, sizeof h2,
                 " server { listen 127.0.0.1:%d ssl http2; ssl_certificate %s/cert.pem;\n"
                 "  ssl_certificate_key %s/key.pem; location = /conn { return 200 '$connection'; } }\n",
                 n->h2port, n->dir, n->dir);
    char path[160];
    snprintf(path, sizeof path, "%s/nginx.conf", n->dir);
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    fprintf(f,
            "worker_processes 1; daemon off; pid %s/nginx.pid; error_log %s/error.log;\n"
            "events { worker_connections 256; }\n"
            "http { access_log off; client_body_temp_path %s; proxy_temp_path %s;\n"
            " fastcgi_temp_path %s; uwsgi_temp_path %s; scgi_temp_path %s;\n"
            " keepalive_requests 100000;\n"
            " server { listen 127.0.0.1:%d; root %s;\n"
            "  location = /small { return 200 'small response'; } }\n%s}\n",
            n->dir, n->dir, n->dir, n->dir, n->dir, n->dir, n->dir, n->port, n->dir, h2);
    fclose(f);
    snprintf(path, sizeof path, "%s/file.txt", n->dir);
    f = fopen(path, "w");
    ASSERT(f != NULL);
    for (int i = 0; i < 1000; i++) fprintf(f, "line %04d\n", i);
    fclose(f);
    n->pid = fork();
    ASSERT(n->pid >= 0);
    if (n->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a test that dies takes nginx along */
        char conf[160];
        snprintf(conf, sizeof conf, "%s/nginx.conf", n->dir);
        execl(bin, bin, "-p", n->dir, "-c", conf, "-e", "stderr", (char *)NULL);
        _exit(127);
    }
    return 0;
}

static void nginx_stop(nginx *n) {
    kill(n->pid, SIGQUIT);
    int st;
    waitpid(n->pid, &st, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
    ASSERT_EQ(system(cmd), 0);
}

typedef struct h2job {
    corio_curl *c;
    char url[128];
    const char *cafile;
    sink body;
    long version;
    CURL *easy;
} h2job;

/* One request over HTTP/2, waiting to share a connection (PIPEWAIT). */
static int h2_get(void *arg, void **res) {
    (void)res;
    h2job *j = arg;
    CURL *e = curl_easy_init();
    ASSERT(e != NULL);
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_CAINFO, j->cafile);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, to_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &j->body);
    int rc = corio_curl_perform(j->c, e);
    if (rc < 0) fprintf(stderr, "h2: %s\n", msg());
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &j->version);
    j->easy = e;
    return rc;
}

static int with_nginx(void *arg, void **res) {
    (void)res;
    nginx *n = arg;
    corio_curl *c;
    ASSERT_EQ(corio_curl_new(&c), 0);
    char u[128];
    corio_http_response r;
    snprintf(u, sizeof u, "http://127.0.0.1:%d/small", n->port);
    /* until nginx listens (bounded) */
    int rc = CORIO_ECURL;
    for (int i = 0; i < 400 && rc == CORIO_ECURL; i++)
        if ((rc = corio_http_get(c, u, &r)) == CORIO_ECURL) ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR(r.body, "small response");
    ASSERT(strstr(r.headers, "Server: nginx") != NULL);
    corio_http_response_free(&r);
    /* a static file, 200 times over kept-alive connections, 20 at once */
    enum { N = 200 };
    job *jobs = calloc(N, sizeof *jobs);
    corio_aw *aws = calloc(N, sizeof *aws);
    ASSERT(jobs && aws);
    for (int i = 0; i < N; i++) {
        jobs[i].c = c;
        snprintf(jobs[i].url, sizeof jobs[i].url, "http://127.0.0.1:%d/%s", n->port,
                 i % 2 ? "file.txt" : "missing");
        aws[i] = CORIO_CORO(get_job, &jobs[i]);
    }
    ASSERT_EQ(curl_multi_setopt(corio_curl_multi(c), CURLMOPT_MAX_HOST_CONNECTIONS, 20L), CURLM_OK);
    ASSERT_EQ(corio_gather_wait(aws, N, 0, NULL), 0);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(jobs[i].r.status, i % 2 ? 200 : 404);
        if (i % 2) {
            ASSERT_EQ(jobs[i].r.body_len, 10000);
            ASSERT(memcmp(jobs[i].r.body + 9990, "line 0999\n", 10) == 0);
        }
        corio_http_response_free(&jobs[i].r);
    }
    free(jobs);
    free(aws);
    /* HTTP/2 over TLS: 20 tasks at once multiplexed on one connection,
     * as nginx's $connection says. (Debian's curl 7.88 fails multiplexed
     * h2c with prior knowledge, "Error in the HTTP2 framing layer", its
     * own command-line tool too: hence TLS.) */
    if (!n->h2port) {
        printf("no openssl(1) for a certificate: the HTTP/2 part is skipped\n");
        ASSERT_EQ(corio_curl_free(c), 0);
        return 0;
    }
    enum { M = 20 };
    h2job h2[M];
    corio_aw aw2[M];
    char ca[160];
    snprintf(ca, sizeof ca, "%s/cert.pem", n->dir);
    for (int i = 0; i < M; i++) {
        h2[i] = (h2job){.c = c, .cafile = ca};
        snprintf(h2[i].url, sizeof h2[i].url, "https://127.0.0.1:%d/conn", n->h2port);
        aw2[i] = CORIO_CORO(h2_get, &h2[i]);
    }
    ASSERT_EQ(corio_gather_wait(aw2, M, 0, NULL), 0);
    for (int i = 0; i < M; i++) {
        ASSERT_EQ(h2[i].version, CURL_HTTP_VERSION_2_0);
        ASSERT(h2[i].body.len > 0);
        ASSERT_STR(h2[i].body.data, h2[0].body.data);
        curl_easy_cleanup(h2[i].easy);
    }
    ASSERT_EQ(corio_curl_transfers(c), 0);
    ASSERT_EQ(corio_curl_free(c), 0);
    return 0;
}

TEST(curl_nginx) {
    nginx n;
    if (nginx_start(&n) < 0) {
        printf("nginx not installed (Debian package nginx): skipped\n");
        return TEST_SKIP;
    }
    on_loop(with_nginx, &n);
    nginx_stop(&n);
    return 0;
}

#else /* no libcurl */

static int no_curl(void) {
    printf("libcurl's headers were not found at build time (Debian package "
           "libcurl4-openssl-dev): skipped\n");
    return TEST_SKIP;
}
TEST(curl_get_ok) { return no_curl(); }
TEST(curl_perform_easy) { return no_curl(); }
TEST(curl_server_errors) { return no_curl(); }
TEST(curl_refused) { return no_curl(); }
TEST(curl_cut_reply) { return no_curl(); }
TEST(curl_timeout_scope) { return no_curl(); }
TEST(curl_cancel_mid_transfer) { return no_curl(); }
TEST(curl_cancel_any_time) { return no_curl(); }
TEST(curl_connection_reuse) { return no_curl(); }
TEST(curl_many_concurrent) { return no_curl(); }
TEST(curl_bad_input) { return no_curl(); }
TEST(curl_nginx) { return no_curl(); }

#endif
