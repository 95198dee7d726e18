/* Names (io.md 4): getaddrinfo / getnameinfo on the thread pool, the
 * resolver hook, open_connection by name (all errors together, Happy
 * Eyeballs, interleave), servers bound to every address of a name. Names
 * the test controls only: "localhost" (in /etc/hosts), numeric hosts, and
 * made-up ".test" names answered by the loop's resolver hook; no lookup
 * ever leaves the machine. Real loops on loopback. */
#include "test.h"

#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- a resolver for made-up names ------------------------------------------ */

/* name -> numeric hosts, in the order the answer lists them. */
typedef struct fake_name {
    const char *name;
    const char *addrs[6];
} fake_name;

static fake_name fakes[8];
static atomic_int hook_calls;
static atomic_int hook_done;
static atomic_int hook_hold; /* a slow lookup: the hook waits (on its pool thread) while set */

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

static int fake_resolver(void *arg, const char *host, const char *port, const struct addrinfo *hints,
                         struct addrinfo **out) {
    (void)arg;
    atomic_fetch_add(&hook_calls, 1);
    while (atomic_load(&hook_hold)) sleep_ms(1);
    *out = NULL;
    int rc = EAI_NONAME;
    for (int i = 0; i < 8 && fakes[i].name; i++) {
        if (!host || strcmp(host, fakes[i].name) != 0) continue;
        if (strcmp(host, "system-error.test") == 0) {
            errno = EMFILE;
            rc = EAI_SYSTEM;
            break;
        }
        struct addrinfo **tail = out;
        for (int k = 0; k < 6 && fakes[i].addrs[k]; k++) {
            struct addrinfo *one;
            if (corio_getaddrinfo(fakes[i].addrs[k], port, hints, &one) != 0) continue; /* other family */
            *tail = one;
            while (*tail) tail = &(*tail)->ai_next;
        }
        rc = *out ? 0 : EAI_ADDRFAMILY;
        break;
    }
    atomic_fetch_add(&hook_done, 1);
    return rc;
}

static void fake(int i, const char *name, const char *a0, const char *a1, const char *a2,
                 const char *a3, const char *a4) {
    fakes[i] = (fake_name){name, {a0, a1, a2, a3, a4, NULL}};
}

/* ---- helpers ------------------------------------------------------------------ */

static int has_ipv6(void) {
    int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return 0;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

static int sock_port(const struct sockaddr *sa) {
    return sa->sa_family == AF_INET ? ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port)
                                    : ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
}

static int server_port(corio_server *srv, int i, int *family) {
    struct sockaddr_storage ss;
    unsigned int len = sizeof ss;
    ASSERT_EQ(corio_server_sockname(srv, i, (struct sockaddr *)&ss, &len), 0);
    if (family) *family = ss.ss_family;
    return sock_port((struct sockaddr *)&ss);
}

static int peer_of(corio_stream *s, char *buf, size_t cap) {
    struct sockaddr_storage ss;
    unsigned int len = sizeof ss;
    ASSERT_EQ(corio_stream_peername(s, (struct sockaddr *)&ss, &len), 0);
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&ss, len, NI_NUMERICHOST, buf, cap, NULL, 0), 0);
    return sock_port((struct sockaddr *)&ss);
}

/* A port of 127.0.0.1 with no listener (a bound socket keeps it ours):
 * connecting to it, or to the same port of 127.0.0.x, is refused. */
static int refused_port(int *keep) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *keep = s;
    return ntohs(a.sin_port);
}

static int accepted;
static int count_handler(corio_stream *s, void *arg) {
    (void)s;
    (void)arg;
    accepted++;
    return 0;
}

/* ---- getaddrinfo, getnameinfo -------------------------------------------------- */

static int has_addr(const struct addrinfo *ai, const char *numeric) {
    for (; ai; ai = ai->ai_next) {
        char h[64];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, h, sizeof h, NULL, 0, NI_NUMERICHOST) == 0 &&
            strcmp(h, numeric) == 0)
            return 1;
    }
    return 0;
}

static int localhost_body(void *arg, void **res) {
    (void)arg, (void)res;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    ASSERT_EQ(corio_getaddrinfo("localhost", "80", &hints, &ai), 0); /* /etc/hosts, on the pool */
    ASSERT(has_addr(ai, "127.0.0.1"));
    ASSERT_EQ(sock_port(ai->ai_addr), 80);
    ASSERT_EQ(ai->ai_socktype, SOCK_STREAM);
    corio_freeaddrinfo(ai);
    /* a service name (from /etc/services, a file) */
    ASSERT_EQ(corio_getaddrinfo("localhost", "http", &hints, &ai), 0);
    ASSERT_EQ(sock_port(ai->ai_addr), 80);
    corio_freeaddrinfo(ai);
    /* open_connection and start_server by name */
    corio_server *srv;
    accepted = 0;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "localhost", 0, NULL, &srv), 0);
    int fam, port = server_port(srv, 0, &fam);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection(fam == AF_INET ? "localhost" : "::1", port, &c), 0);
    char h[64];
    ASSERT_EQ(peer_of(c, h, sizeof h), port);
    ASSERT_EQ(corio_stream_free(c), 0);
    while (accepted < 1) ASSERT_EQ(corio_sleep(0.001), 0);
    corio_server_close(srv);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    return 0;
}

TEST(name_localhost) {
    struct addrinfo *ai;
    /* a name outside a task: there is no pool to wait on */
    ASSERT_EQ(corio_getaddrinfo("localhost", "80", NULL, &ai), CORIO_ENOTINTASK);
    ASSERT(ai == NULL);
    on_loop(localhost_body, NULL);
    return 0;
}

static int numeric_body(void *arg, void **res) {
    (void)arg, (void)res;
    /* getnameinfo: numeric inline, a service name on the pool */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    char h[NI_MAXHOST], s[NI_MAXSERV];
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, sizeof a, NI_NUMERICHOST, h, sizeof h, s, sizeof s), 0);
    ASSERT_STR(h, "127.0.0.1");
    ASSERT_STR(s, "http");
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, sizeof a, NI_NUMERICSERV, NULL, 0, s, sizeof s), 0);
    ASSERT_STR(s, "80");
    /* too small a buffer: getnameinfo's EAI_OVERFLOW, as CORIO_ENAME */
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, sizeof a, NI_NUMERICHOST, h, 4, s, sizeof s), CORIO_ENAME);
    ASSERT(strstr(corio_error_message(corio_current_error()), "getnameinfo 127.0.0.1:80: "));
    return 0;
}

TEST(name_numeric) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    /* numeric hosts resolve inline: no task, no pool */
    ASSERT_EQ(corio_getaddrinfo("127.0.0.1", "8080", &hints, &ai), 0);
    ASSERT_EQ(ai->ai_family, AF_INET);
    ASSERT_EQ(sock_port(ai->ai_addr), 8080);
    ASSERT(ai->ai_next == NULL);
    corio_freeaddrinfo(ai);
    ASSERT_EQ(corio_getaddrinfo("::1", "0", &hints, &ai), 0);
    ASSERT_EQ(ai->ai_family, AF_INET6);
    corio_freeaddrinfo(ai);
    ASSERT_EQ(corio_getaddrinfo("127.0.0.1", NULL, NULL, &ai), 0);
    corio_freeaddrinfo(ai);
    /* no host, passive: the wildcard addresses */
    hints.ai_flags = AI_PASSIVE;
    ASSERT_EQ(corio_getaddrinfo(NULL, "0", &hints, &ai), 0);
    ASSERT(has_addr(ai, "0.0.0.0"));
    corio_freeaddrinfo(ai);
    hints.ai_flags = 0;
    /* the family must fit */
    hints.ai_family = AF_INET6;
    ASSERT_EQ(corio_getaddrinfo("127.0.0.1", "80", &hints, &ai), CORIO_ENAME);
    hints.ai_family = 0;
    /* AI_NUMERICHOST with a name fails inline, without a lookup */
    hints.ai_flags = AI_NUMERICHOST;
    ASSERT_EQ(corio_getaddrinfo("localhost", "80", &hints, &ai), CORIO_ENAME);
    /* numeric getnameinfo outside a task */
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(443), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    char h[64], s[16];
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a6, sizeof a6, NI_NUMERICHOST | NI_NUMERICSERV, h, sizeof h, s,
                                sizeof s), 0);
    ASSERT_STR(h, "::1");
    ASSERT_STR(s, "443");
    on_loop(numeric_body, NULL);
    return 0;
}

static int v6_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_server *srv;
    accepted = 0;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "::1", 0, NULL, &srv), 0);
    int fam, port = server_port(srv, 0, &fam);
    ASSERT_EQ(fam, AF_INET6);
    const char *forms[] = {"::1", "[::1]"};
    for (int i = 0; i < 2; i++) {
        corio_stream *c;
        ASSERT_EQ(corio_open_connection(forms[i], port, &c), 0);
        char h[64];
        ASSERT_EQ(peer_of(c, h, sizeof h), port);
        ASSERT_STR(h, "::1");
        ASSERT_EQ(corio_stream_free(c), 0);
    }
    /* family: AF_INET finds no IPv4 address in "::1" */
    corio_connect_options o = {.family = AF_INET};
    corio_stream *c;
    ASSERT_EQ(corio_open_connection_with("::1", port, &o, &c), CORIO_ENAME);
    while (accepted < 2) ASSERT_EQ(corio_sleep(0.001), 0);
    corio_server_close(srv);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    return 0;
}

TEST(name_v6) {
    if (!has_ipv6()) {
        fprintf(stderr, "no IPv6 loopback (::1) here\n");
        return TEST_SKIP;
    }
    on_loop(v6_body, NULL);
    return 0;
}

/* ---- the resolver hook ------------------------------------------------------------ */

static int hook_body(void *arg, void **res) {
    (void)arg, (void)res;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int before = atomic_load(&hook_calls);
    ASSERT_EQ(corio_getaddrinfo("two.test", "81", &hints, &ai), 0);
    ASSERT_EQ(atomic_load(&hook_calls), before + 1);
    ASSERT(has_addr(ai, "127.0.0.2") && has_addr(ai, "127.0.0.3"));
    ASSERT_EQ(sock_port(ai->ai_addr), 81);
    ASSERT(ai->ai_next && !ai->ai_next->ai_next);
    corio_freeaddrinfo(ai);
    /* the hints reach it: AF_INET6 leaves no address of "two.test" */
    hints.ai_family = AF_INET6;
    ASSERT_EQ(corio_getaddrinfo("two.test", "81", &hints, &ai), CORIO_ENAME);
    hints.ai_family = 0;
    /* numeric hosts never reach it */
    ASSERT_EQ(corio_getaddrinfo("127.0.0.9", "81", &hints, &ai), 0);
    corio_freeaddrinfo(ai);
    ASSERT_EQ(atomic_load(&hook_calls), before + 2);
    /* a server on the name, a connection by the name */
    corio_server *srv;
    accepted = 0;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "one.test", 0, NULL, &srv), 0);
    int port = server_port(srv, 0, NULL);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("one.test", port, &c), 0);
    char h[64];
    peer_of(c, h, sizeof h);
    ASSERT_STR(h, "127.0.0.4");
    ASSERT_EQ(corio_stream_free(c), 0);
    /* local_addr: bound first (a name too) */
    corio_connect_options o = {.local_host = "local.test"};
    ASSERT_EQ(corio_open_connection_with("one.test", port, &o, &c), 0);
    struct sockaddr_in me;
    unsigned int len = sizeof me;
    ASSERT_EQ(corio_stream_sockname(c, (struct sockaddr *)&me, &len), 0);
    inet_ntop(AF_INET, &me.sin_addr, h, sizeof h);
    ASSERT_STR(h, "127.0.0.5");
    ASSERT_EQ(corio_stream_free(c), 0);
    while (accepted < 2) ASSERT_EQ(corio_sleep(0.001), 0);
    corio_server_close(srv);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    /* unset: the system's getaddrinfo again (localhost still resolves) */
    ASSERT_EQ(atomic_load(&hook_calls), before + 6);
    ASSERT_EQ(corio_loop_set_resolver(corio_get_running_loop(), NULL, NULL), 0);
    ASSERT_EQ(corio_getaddrinfo("localhost", "81", &hints, &ai), 0);
    corio_freeaddrinfo(ai);
    ASSERT_EQ(atomic_load(&hook_calls), before + 6);
    return 0;
}

static void with_hook(corio_fn body) {
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_resolver(loop, fake_resolver, NULL), 0);
    ASSERT_EQ(corio_loop_set_resolver(loop, fake_resolver, NULL), 0); /* replaces, once */
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, body, NULL, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
}

TEST(name_resolver_hook) {
    fake(0, "two.test", "127.0.0.2", "127.0.0.3", NULL, NULL, NULL);
    fake(1, "one.test", "127.0.0.4", NULL, NULL, NULL, NULL);
    fake(2, "local.test", "127.0.0.5", NULL, NULL, NULL, NULL);
    with_hook(hook_body);
    return 0;
}

/* ---- failing names ---------------------------------------------------------------- */

static int failing_body(void *arg, void **res) {
    (void)arg, (void)res;
    struct addrinfo *ai = (void *)1;
    ASSERT_EQ(corio_getaddrinfo("nosuch.test", "80", NULL, &ai), CORIO_ENAME);
    ASSERT(ai == NULL);
    const corio_error *e = corio_current_error();
    ASSERT_EQ(corio_error_code(e), CORIO_ENAME);
    char want[128];
    snprintf(want, sizeof want, "getaddrinfo nosuch.test:80: %s", gai_strerror(EAI_NONAME));
    ASSERT_STR(corio_error_message(e), want);
    /* open_connection gives the lookup's error as it is */
    corio_stream *c;
    ASSERT_EQ(corio_open_connection("nosuch.test", 80, &c), CORIO_ENAME);
    ASSERT_STR(corio_error_message(corio_current_error()), want);
    ASSERT(c == NULL);
    corio_server *srv;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "nosuch.test", 0, NULL, &srv), CORIO_ENAME);
    /* EAI_SYSTEM is the errno */
    ASSERT_EQ(corio_getaddrinfo("system-error.test", "80", NULL, &ai), -EMFILE);
    ASSERT(strstr(corio_error_message(corio_current_error()), "getaddrinfo system-error.test:80: "));
    /* the system's getaddrinfo failing without a lookup: an unknown service */
    ASSERT_EQ(corio_loop_set_resolver(corio_get_running_loop(), NULL, NULL), 0);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    ASSERT_EQ(corio_getaddrinfo("localhost", "no-such-service", &hints, &ai), CORIO_ENAME);
    snprintf(want, sizeof want, "getaddrinfo localhost:no-such-service: %s", gai_strerror(EAI_SERVICE));
    ASSERT_STR(corio_error_message(corio_current_error()), want);
    return 0;
}

TEST(name_failing) {
    fake(0, "system-error.test", "127.0.0.1", NULL, NULL, NULL, NULL);
    with_hook(failing_body);
    return 0;
}

/* ---- cancelled lookups ---------------------------------------------------------------- */

static atomic_int blocker_hold; /* the pool's job below waits while set */
static int blocker(void *arg, void **res) {
    (void)arg, (void)res;
    while (atomic_load(&blocker_hold)) sleep_ms(1);
    return 0;
}

static int blocking_in_pool(void *arg, void **res) { return corio_to_thread(blocker, arg, NULL, res); }

static int slow_lookup(void *arg, void **res) {
    (void)arg, (void)res;
    struct addrinfo *ai;
    return corio_getaddrinfo("two.test", "80", NULL, &ai);
}

static int slow_body(void *arg, void **res) {
    (void)arg, (void)res;
    atomic_store(&hook_hold, 1);
    int done = atomic_load(&hook_done), calls = atomic_load(&hook_calls);
    /* cancelled while the hook runs: the task goes on at once; the answer
     * is freed when it arrives (ASan's leak check sees it). The cancel
     * waits until the hook has begun: a job cancelled before a pool
     * thread takes it never runs (a timeout of 20 ms did that under load,
     * and the wait for hook_done below never ended) */
    corio_task *t;
    ASSERT_EQ(corio_create_task(slow_lookup, NULL, "slow lookup", &t), 0);
    while (atomic_load(&hook_calls) == calls) ASSERT_EQ(corio_sleep(0.001), 0);
    corio_task_cancel(t, NULL);
    ASSERT_EQ(corio_await(t, NULL), CORIO_ECANCELED);
    corio_future_unref(t);
    ASSERT_EQ(atomic_load(&hook_done), done); /* still running */
    corio_timeout *cm;
    int rc;
    atomic_store(&hook_hold, 0);
    while (atomic_load(&hook_done) == done) ASSERT_EQ(corio_sleep(0.01), 0);
    ASSERT_EQ(corio_sleep(0.01), 0); /* its release runs on the loop */
    /* the same through open_connection and getnameinfo */
    ASSERT_EQ(corio_timeout_enter(0.02, &cm), 0);
    corio_stream *c;
    atomic_store(&hook_hold, 1);
    rc = corio_open_connection("two.test", 80, &c);
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    atomic_store(&hook_hold, 0); /* it ends while the loop closes, or before */
    return 0;
}

TEST(name_cancel_slow_lookup) {
    fake(0, "two.test", "127.0.0.2", "127.0.0.3", NULL, NULL, NULL);
    with_hook(slow_body);
    return 0;
}

static int queued_body(void *arg, void **res) {
    (void)arg, (void)res;
    /* the pool's one thread is busy: a lookup waits in its queue when it
     * is cancelled, never runs, and its record goes with the loop */
    corio_task *b;
    atomic_store(&blocker_hold, 1);
    ASSERT_EQ(corio_create_task(blocking_in_pool, NULL, "blocker", &b), 0);
    ASSERT_EQ(corio_sleep(0), 0);
    int calls = atomic_load(&hook_calls);
    corio_timeout *cm;
    struct addrinfo *ai;
    ASSERT_EQ(corio_timeout_enter(0.02, &cm), 0);
    int rc = corio_getaddrinfo("two.test", "80", NULL, &ai);
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    char s[NI_MAXSERV];
    ASSERT_EQ(corio_timeout_enter(0.02, &cm), 0);
    rc = corio_getnameinfo((struct sockaddr *)&a, sizeof a, NI_NUMERICHOST, NULL, 0, s, sizeof s);
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    ASSERT_EQ(corio_sleep(0.01), 0); /* the cancels reach the pool's queue */
    atomic_store(&blocker_hold, 0);
    ASSERT_EQ(corio_await(b, NULL), 0);
    corio_future_unref(b);
    ASSERT_EQ(corio_sleep(0.05), 0);
    ASSERT_EQ(atomic_load(&hook_calls), calls); /* never ran */
    /* the pool works on */
    ASSERT_EQ(corio_getaddrinfo("two.test", "80", NULL, &ai), 0);
    corio_freeaddrinfo(ai);
    return 0;
}

TEST(name_cancel_queued_lookup) {
    fake(0, "two.test", "127.0.0.2", "127.0.0.3", NULL, NULL, NULL);
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_thread_pool_size(loop, 1), 0);
    ASSERT_EQ(corio_loop_set_resolver(loop, fake_resolver, NULL), 0);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, queued_body, NULL, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
    return 0;
}

/* The loop closes under tasks waiting for lookups (one in
 * open_connection): they are destroyed pending, the answers released when
 * the pool gives them back, nothing is left (ASan, fds). */
static int waits_forever(void *arg, void **res) {
    (void)res;
    struct addrinfo *ai;
    corio_connect_options o = {.happy_eyeballs_delay = 0.01};
    corio_stream *c;
    if (arg) return corio_open_connection_with("two.test", 80, &o, &c);
    return corio_getaddrinfo("two.test", "80", NULL, &ai);
}

static int short_nap(void *arg, void **res) {
    (void)arg, (void)res;
    return corio_sleep(0.03);
}

TEST(name_loop_closed_during_lookup) {
    fake(0, "two.test", "127.0.0.2", "127.0.0.3", NULL, NULL, NULL);
    atomic_store(&hook_hold, 1);
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_resolver(loop, fake_resolver, NULL), 0);
    reports r = {0};
    ASSERT_EQ(corio_loop_set_exception_handler(loop, capture_report, &r), 0);
    corio_task *a, *b, *t;
    ASSERT_EQ(corio_loop_create_task(loop, waits_forever, NULL, "lookup", 0, &a), 0);
    ASSERT_EQ(corio_loop_create_task(loop, waits_forever, (void *)1, "connect", 0, &b), 0);
    ASSERT_EQ(corio_loop_create_task(loop, short_nap, NULL, "nap", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    ASSERT(!corio_future_done(a) && !corio_future_done(b));
    corio_future_unref(t);
    corio_future_unref(a);
    corio_future_unref(b);
    atomic_store(&hook_hold, 0); /* the close waits for the pool's threads */
    close_loop(loop);
    ASSERT_EQ(r.n, 2); /* "Task was destroyed but it is pending!", twice */
    return 0;
}

/* ---- all errors together ---------------------------------------------------------------- */

static int expect_group(int rc, int code, size_t n, const char *const *msgs) {
    ASSERT_EQ(rc, code);
    const corio_error *g = corio_current_error();
    ASSERT_EQ(corio_error_code(g), CORIO_EGROUP);
    ASSERT_EQ(corio_error_group_size(g), n);
    for (size_t i = 0; i < n; i++)
        if (msgs[i]) ASSERT_STR(corio_error_message(corio_error_group_get(g, i)), msgs[i]);
    return 0;
}

static int all_errors_body(void *arg, void **res) {
    (void)arg, (void)res;
    int keep, port = refused_port(&keep);
    char m[3][64];
    const char *msgs[3] = {m[0], m[1], m[2]};
    for (int i = 0; i < 3; i++)
        snprintf(m[i], sizeof m[i], "connect 127.0.0.%d:%d: Connection refused", i + 1, port);
    corio_stream *c;
    /* in turn */
    expect_group(corio_open_connection("three.test", port, &c), -ECONNREFUSED, 3, msgs);
    ASSERT(strstr(corio_error_message(corio_current_error()), "three.test"));
    /* raced, the same errors in the order tried */
    corio_connect_options o = {.happy_eyeballs_delay = 0.01};
    expect_group(corio_open_connection_with("three.test", port, &o, &c), -ECONNREFUSED, 3, msgs);
    /* one address: its own error, no group */
    ASSERT_EQ(corio_open_connection("127.0.0.1", port, &c), -ECONNREFUSED);
    ASSERT_STR(corio_error_message(corio_current_error()), m[0]);
    /* different errors: CORIO_EGROUP (a local IPv4 address cannot serve ::1) */
    if (has_ipv6()) {
        corio_connect_options l = {.local_host = "127.0.0.1"};
        const char *two[2] = {m[0], NULL};
        expect_group(corio_open_connection_with("mixed.test", port, &l, &c), CORIO_EGROUP, 2, two);
        ASSERT_EQ(corio_error_code(corio_error_group_get(corio_current_error(), 1)), CORIO_EINVAL);
    }
    close(keep);
    return 0;
}

TEST(name_all_errors) {
    fake(0, "three.test", "127.0.0.1", "127.0.0.2", "127.0.0.3", NULL, NULL);
    fake(1, "mixed.test", "127.0.0.1", "::1", NULL, NULL, NULL);
    with_hook(all_errors_body);
    return 0;
}

/* ---- Happy Eyeballs ---------------------------------------------------------------------- */

/* A listener on 127.0.0.2:port that never accepts, its backlog full: a
 * connect to it hangs (the SYN is dropped). Fills it until a connect stays
 * pending; returns the listener, the fillers in fill[]. */
static int hanging_listener(int port, int *fill, int *nfill) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
    ASSERT_EQ(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(l, 0), 0);
    *nfill = 0;
    for (int i = 0; i < 16; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        fill[(*nfill)++] = s;
        connect(s, (struct sockaddr *)&a, sizeof a);
        struct pollfd p = {.fd = s, .events = POLLOUT};
        if (poll(&p, 1, 100) == 0) return l; /* this one hangs: the queue is full */
    }
    ASSERT(!"the listener's backlog never filled");
    return -1;
}

static int he_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_server *srv;
    accepted = 0;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv, 0, NULL);
    int fill[16], nfill;
    int l = hanging_listener(port, fill, &nfill);
    /* "he.test" is 127.0.0.2 (hangs), then 127.0.0.1 (the server) */
    corio_connect_options o = {.happy_eyeballs_delay = 0.05};
    corio_stream *c;
    ASSERT_EQ(corio_open_connection_with("he.test", port, &o, &c), 0);
    char h[64];
    ASSERT_EQ(peer_of(c, h, sizeof h), port);
    ASSERT_STR(h, "127.0.0.1");
    ASSERT_EQ(corio_stream_free(c), 0); /* the hanging attempt's socket is closed (fd check) */
    /* without Happy Eyeballs the first address holds it up: a timeout ends it */
    corio_timeout *cm;
    ASSERT_EQ(corio_timeout_enter(0.2, &cm), 0);
    int rc = corio_open_connection("he.test", port, &c);
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    /* raced, every address hanging: a timeout cancels them all */
    ASSERT_EQ(corio_timeout_enter(0.2, &cm), 0);
    rc = corio_open_connection_with("hang.test", port, &o, &c);
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT);
    /* a delay of "now": both at once, the good one wins */
    o.happy_eyeballs_delay = 1e-9;
    ASSERT_EQ(corio_open_connection_with("he.test", port, &o, &c), 0);
    ASSERT_EQ(peer_of(c, h, sizeof h), port);
    ASSERT_STR(h, "127.0.0.1");
    ASSERT_EQ(corio_stream_free(c), 0);
    while (accepted < 2) ASSERT_EQ(corio_sleep(0.001), 0);
    for (int i = 0; i < nfill; i++) close(fill[i]);
    close(l);
    corio_server_close(srv);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    return 0;
}

TEST(name_happy_eyeballs) {
    fake(0, "he.test", "127.0.0.2", "127.0.0.1", NULL, NULL, NULL);
    fake(1, "hang.test", "127.0.0.2", "127.0.0.2", NULL, NULL, NULL);
    with_hook(he_body);
    return 0;
}

/* The same in copy-stack mode (the racing tasks share one stack; nothing
 * of the race may live in a frame) and with eager tasks (an attempt
 * starts inside the call that creates it). */
static int modes_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_server *srv;
    accepted = 0;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv, 0, NULL);
    corio_connect_options o = {.happy_eyeballs_delay = 0.01};
    corio_stream *c;
    ASSERT_EQ(corio_open_connection_with("refused-then-ok.test", port, &o, &c), 0);
    char h[64];
    peer_of(c, h, sizeof h);
    ASSERT_STR(h, "127.0.0.1");
    ASSERT_EQ(corio_stream_free(c), 0);
    expect_group(corio_open_connection_with("refused.test", port, &o, &c), -ECONNREFUSED, 2,
                 (const char *const[]){NULL, NULL});
    struct addrinfo *ai;
    ASSERT_EQ(corio_getaddrinfo("refused.test", "1", NULL, &ai), 0);
    corio_freeaddrinfo(ai);
    while (accepted < 1) ASSERT_EQ(corio_sleep(0.001), 0);
    corio_server_close(srv);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    return 0;
}

TEST(name_stack_modes) {
    fake(0, "refused-then-ok.test", "127.0.0.2", "127.0.0.1", NULL, NULL, NULL);
    fake(1, "refused.test", "127.0.0.2", "127.0.0.3", NULL, NULL, NULL);
    for (int mode = 0; mode < 2; mode++) {
        corio_loop *loop = NULL;
        ASSERT_EQ(corio_loop_new(&loop), 0);
        if (mode == 0) ASSERT_EQ(corio_loop_set_stack_mode(loop, CORIO_STACK_COPY), 0);
        else ASSERT_EQ(corio_loop_set_eager_tasks(loop, 1), 0);
        ASSERT_EQ(corio_loop_set_resolver(loop, fake_resolver, NULL), 0);
        corio_task *t;
        ASSERT_EQ(corio_loop_create_task(loop, modes_body, NULL, "main", 0, &t), 0);
        ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
        corio_future_unref(t);
        close_loop(loop);
    }
    return 0;
}

/* ---- interleave: asyncio's _interleave_addrinfos orders ------------------------------------ */

/* The order tried shows in the group of errors. */
static void order_of(char *buf, size_t cap) {
    const corio_error *g = corio_current_error();
    buf[0] = 0;
    for (size_t i = 0; i < corio_error_group_size(g); i++) {
        const char *m = corio_error_message(corio_error_group_get(g, i));
        const char *last = strrchr(m, '.'); /* "connect 127.0.0.5:P: ..." or "[::ffff:127.0.0.5]:P" */
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "%s%c%c", n ? " " : "", strchr(m, '[') ? '6' : '4', last ? last[1] : '?');
    }
}

static int interleave_body(void *arg, void **res) {
    (void)arg, (void)res;
    int keep, port = refused_port(&keep);
    corio_stream *c;
    char got[64];
    /* "five.test": v4 .1 .2 .3 then v6 .5 .6 (v4-mapped, refused as well) */
    struct {
        double delay;
        int interleave;
        const char *want; /* python3: _interleave_addrinfos(infos, n) */
    } cases[] = {
        {0, 0, "41 42 43 65 66"},    /* None: the resolver's order */
        {0, 1, "41 65 42 66 43"},    /* ['a1', 'b1', 'a2', 'b2', 'a3'] */
        {0, 2, "41 42 65 43 66"},    /* ['a1', 'a2', 'b1', 'a3', 'b2'] */
        {0, 3, "41 42 43 65 66"},    /* ['a1', 'a2', 'a3', 'b1', 'b2'] */
        {0.01, 0, "41 65 42 66 43"}, /* Happy Eyeballs: interleave 1 by default */
        {0.01, 2, "41 42 65 43 66"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        corio_connect_options o = {.happy_eyeballs_delay = cases[i].delay, .interleave = cases[i].interleave};
        ASSERT_EQ(corio_open_connection_with("five.test", port, &o, &c), -ECONNREFUSED);
        order_of(got, sizeof got);
        ASSERT_STR(got, cases[i].want);
    }
    /* family first in the answer: ['b1', 'a1', 'b2', 'a2', 'a3'] */
    corio_connect_options o = {.interleave = 1};
    ASSERT_EQ(corio_open_connection_with("six.test", port, &o, &c), -ECONNREFUSED);
    order_of(got, sizeof got);
    ASSERT_STR(got, "65 41 66 42 43");
    /* family: only the IPv6 ones */
    o = (corio_connect_options){.family = AF_INET6};
    ASSERT_EQ(corio_open_connection_with("five.test", port, &o, &c), -ECONNREFUSED);
    order_of(got, sizeof got);
    ASSERT_STR(got, "65 66");
    close(keep);
    return 0;
}

TEST(name_interleave) {
    int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        fprintf(stderr, "no IPv6 sockets here\n");
        return TEST_SKIP;
    }
    close(s);
    fake(0, "five.test", "127.0.0.1", "127.0.0.2", "127.0.0.3", "::ffff:127.0.0.5", "::ffff:127.0.0.6");
    fake(1, "six.test", "::ffff:127.0.0.5", "127.0.0.1", "127.0.0.2", "::ffff:127.0.0.6", "127.0.0.3");
    with_hook(interleave_body);
    return 0;
}

/* ---- servers on every address of a name ----------------------------------------------------- */

static int server_body(void *arg, void **res) {
    (void)arg, (void)res;
    int v6 = has_ipv6();
    corio_server *srv;
    accepted = 0;
    ASSERT_EQ(corio_start_server(count_handler, NULL, v6 ? "both.test" : "both4.test", 0, NULL, &srv), 0);
    int f0, f1, p0 = server_port(srv, 0, &f0), p1 = server_port(srv, 1, &f1);
    struct sockaddr_storage ss;
    unsigned int len = sizeof ss;
    ASSERT_EQ(corio_server_sockname(srv, 2, (struct sockaddr *)&ss, &len), CORIO_EINVAL); /* two only */
    ASSERT_EQ(f0, AF_INET);
    ASSERT_EQ(f1, v6 ? AF_INET6 : AF_INET);
    corio_stream *a, *b;
    ASSERT_EQ(corio_open_connection("127.0.0.1", p0, &a), 0);
    ASSERT_EQ(corio_open_connection(v6 ? "::1" : "127.0.0.2", p1, &b), 0);
    while (accepted < 2) ASSERT_EQ(corio_sleep(0.001), 0);
    ASSERT_EQ(corio_stream_free(a), 0);
    ASSERT_EQ(corio_stream_free(b), 0);
    corio_server_close(srv);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    /* a name listing one address twice binds it once */
    ASSERT_EQ(corio_start_server(count_handler, NULL, "twice.test", 0, NULL, &srv), 0);
    ASSERT_EQ(corio_server_sockname(srv, 1, (struct sockaddr *)&ss, &len), CORIO_EINVAL);
    corio_server_close(srv);
    ASSERT_EQ(corio_server_free(srv), 0);
    /* no host: every interface, IPv4 and IPv6, as asyncio binds host=None */
    ASSERT_EQ(corio_start_server(count_handler, NULL, NULL, 0, NULL, &srv), 0);
    ASSERT_EQ(server_port(srv, 0, &f0) > 0, 1);
    ASSERT_EQ(f0, AF_INET);
    if (v6) {
        server_port(srv, 1, &f1);
        ASSERT_EQ(f1, AF_INET6);
    }
    ASSERT_EQ(corio_open_connection("127.0.0.1", server_port(srv, 0, NULL), &a), 0);
    while (accepted < 3) ASSERT_EQ(corio_sleep(0.001), 0);
    ASSERT_EQ(corio_stream_free(a), 0);
    corio_server_close(srv);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    return 0;
}

TEST(name_server_all_addresses) {
    fake(0, "both.test", "127.0.0.1", "::1", NULL, NULL, NULL);
    fake(1, "both4.test", "127.0.0.1", "127.0.0.2", NULL, NULL, NULL);
    fake(2, "twice.test", "127.0.0.1", "127.0.0.1", NULL, NULL, NULL);
    with_hook(server_body);
    return 0;
}

/* ---- datagram endpoints by name ------------------------------------------------------------ */

static int datagram_body(void *arg, void **res) {
    (void)arg, (void)res;
    int a, b;
    ASSERT_EQ(corio_open_datagram("udp.test", 0, NULL, 0, &a), 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    ASSERT_EQ(getsockname(a, (struct sockaddr *)&sa, &len), 0);
    char h[64];
    inet_ntop(AF_INET, &sa.sin_addr, h, sizeof h);
    ASSERT_STR(h, "127.0.0.6");
    ASSERT_EQ(corio_open_datagram(NULL, 0, "udp.test", ntohs(sa.sin_port), &b), 0);
    ASSERT_EQ(corio_sock_sendto(b, "ping", 4, NULL, 0), 0);
    char buf[8];
    size_t got;
    ASSERT_EQ(corio_sock_recvfrom(a, buf, sizeof buf, &got, NULL, NULL), 0);
    ASSERT_EQ(got, 4);
    ASSERT(memcmp(buf, "ping", 4) == 0);
    /* no family in common */
    int c;
    ASSERT_EQ(corio_open_datagram("udp.test", 0, "::1", 9, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_open_datagram("nosuch.test", 0, NULL, 0, &c), CORIO_ENAME);
    ASSERT_EQ(c, -1);
    /* a bind that fails: its error, named */
    ASSERT_EQ(corio_open_datagram("udp.test", ntohs(sa.sin_port), NULL, 0, &c), -EADDRINUSE);
    ASSERT(strstr(corio_error_message(corio_current_error()), "bind 127.0.0.6:"));
    corio_close_fd(a);
    corio_close_fd(b);
    return 0;
}

TEST(name_datagram) {
    int fd;
    /* numeric hosts need no task; names do */
    ASSERT_EQ(corio_open_datagram("127.0.0.1", 0, NULL, 0, &fd), 0);
    corio_close_fd(fd);
    ASSERT_EQ(corio_open_datagram("localhost", 0, NULL, 0, &fd), CORIO_ENOTINTASK);
    fake(0, "udp.test", "127.0.0.6", NULL, NULL, NULL, NULL);
    with_hook(datagram_body);
    return 0;
}

/* ---- every allocation and system call failed in turn ------------------------------------------ */

long corio__fail_after(long nth);

static int fi_port, fi_listener;

/* Connections the raw listener queued: taken and closed, so none is left. */
static void fi_drain(void) {
    int c;
    while ((c = accept4(fi_listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) close(c);
}

static int fi_past_end;
static int fi_body(void *arg, void **res) {
    (void)res;
    long nth = (long)(intptr_t)arg >> 1;
    corio_connect_options o = {.happy_eyeballs_delay = ((intptr_t)arg & 1) ? 0.01 : 0};
    corio_stream *c = NULL;
    struct addrinfo *ai = NULL;
    corio__fail_after(nth);
    int rc = corio_open_connection_with("fi.test", fi_port, &o, &c);
    if (rc < 0) ASSERT(c == NULL);
    if (rc == 0 && (rc = corio_getaddrinfo("127.0.0.1", "80", NULL, &ai)) < 0) ASSERT(ai == NULL);
    corio_server *srv = NULL;
    if (rc == 0 && (rc = corio_start_server(count_handler, NULL, "fi.test", 0, NULL, &srv)) < 0)
        ASSERT(srv == NULL);
    int u = -1;
    if (rc == 0 && (rc = corio_open_datagram("fi.test", 0, NULL, 0, &u)) < 0) ASSERT_EQ(u, -1);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(80)};
    char serv[NI_MAXSERV];
    if (rc == 0) rc = corio_getnameinfo((struct sockaddr *)&sa, sizeof sa, NI_NUMERICHOST, NULL, 0, serv, sizeof serv);
    long made = corio__fail_after(0);
    if (srv) {
        corio_server_close(srv);
        ASSERT_EQ(corio_server_free(srv), 0);
    }
    if (u >= 0) corio_close_fd(u);
    corio_stream_free(c);
    corio_freeaddrinfo(ai);
    fi_drain();
    fi_past_end = rc == 0 && made < nth;
    return 0;
}

/* Each path (in turn, raced) with its Nth stand-in call failing, until a
 * run makes fewer calls than N: a clean outcome each time, nothing left
 * behind (descriptors: the runner; memory: ASan). */
static int fi_sweep(void *arg, void **res) {
    (void)arg, (void)res;
    corio_loop_set_exception_handler(corio_get_running_loop(), quiet, NULL);
    for (int he = 0; he < 2; he++) {
        fi_past_end = 0;
        long nth;
        for (nth = 1; nth < 1000 && !fi_past_end; nth++) {
            corio_task *t;
            ASSERT_EQ(corio_create_task(fi_body, (void *)(intptr_t)(nth << 1 | he), NULL, &t), 0);
            ASSERT_EQ(corio_await(t, NULL), 0);
            corio_future_unref(t);
        }
        ASSERT(fi_past_end);
        ASSERT(nth > 10);
    }
    return 0;
}

TEST(name_fault_injection) {
    fi_listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(fi_listener, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(fi_listener, 64), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(fi_listener, (struct sockaddr *)&a, &len), 0);
    fi_port = ntohs(a.sin_port);
    fake(0, "fi.test", "127.0.0.2", "127.0.0.1", NULL, NULL, NULL);
    with_hook(fi_sweep);
    close(fi_listener);
    return 0;
}

/* ---- bad input ----------------------------------------------------------------------------- */

static int bad_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_stream *c = (void *)1;
    corio_connect_options o = {.happy_eyeballs_delay = -1};
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", 80, &o, &c), CORIO_EINVAL);
    ASSERT(c == NULL);
    o.happy_eyeballs_delay = NAN;
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", 80, &o, &c), CORIO_EINVAL);
    o = (corio_connect_options){.interleave = -1};
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", 80, &o, &c), CORIO_EINVAL);
    o = (corio_connect_options){.family = AF_UNIX};
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", 80, &o, &c), CORIO_EINVAL);
    o = (corio_connect_options){.local_port = 5};
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", 80, &o, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_open_connection_with(NULL, 80, NULL, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", 80, NULL, NULL), CORIO_EINVAL);
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", -1, NULL, &c), CORIO_EINVAL);
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", 65536, NULL, &c), CORIO_EINVAL);
    corio_server *srv;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "127.0.0.1", 65536, NULL, &srv), CORIO_EINVAL);
    ASSERT_EQ(corio_getaddrinfo("localhost", "80", NULL, NULL), CORIO_EINVAL);
    /* "" is no host for a server (asyncio's None), and no name for a client */
    ASSERT_EQ(corio_open_connection("", 80, &c), CORIO_ENAME);
    return 0;
}

TEST(name_bad_input) {
    struct addrinfo *ai = (void *)1;
    ASSERT_EQ(corio_getaddrinfo(NULL, NULL, NULL, &ai), CORIO_EINVAL);
    ASSERT(ai == NULL);
    char h[64];
    struct sockaddr_in a = {.sin_family = AF_INET};
    ASSERT_EQ(corio_getnameinfo(NULL, 16, 0, h, sizeof h, NULL, 0), CORIO_EINVAL);
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, sizeof a, 0, NULL, 0, NULL, 0), CORIO_EINVAL);
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, sizeof a, 0, h, 0, NULL, 0), CORIO_EINVAL);
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, 4096, 0, h, sizeof h, NULL, 0), CORIO_EINVAL);
    /* a name needs a task */
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, sizeof a, 0, h, sizeof h, NULL, 0), CORIO_ENOTINTASK);
    corio_stream *c;
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", 80, NULL, &c), CORIO_ENOTINTASK);
    ASSERT_EQ(corio_loop_set_resolver(NULL, fake_resolver, NULL), CORIO_EINVAL);
    corio_freeaddrinfo(NULL);
    corio_loop *loop;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_close(loop), 0);
    ASSERT_EQ(corio_loop_set_resolver(loop, fake_resolver, NULL), CORIO_ECLOSED);
    ASSERT_EQ(corio_loop_free(loop), 0);
    on_loop(bad_body, NULL);
    return 0;
}
