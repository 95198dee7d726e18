/* A hostile review of names (io.md 4): probes of what the names work
 * merged (names.c, the opening calls, servers on every address of a name,
 * the eager acceptor) under wrong order, cancellation at every point, bad
 * numbers and bad hook answers, fault injection. Loopback only; no lookup
 * reaches glibc's DNS: made-up ".test" names go to the loop's resolver
 * hook, the rest are numeric. */
#include "test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long corio__fail_after(long nth);

/* ---- helpers ----------------------------------------------------------------- */

static void nap_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* A raw listener on ip:port (port 0: any), never accepting; *port set. */
static int raw_listener(const char *ip, int *port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ASSERT(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    ASSERT_EQ(listen(s, 4096), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return s;
}

static void drain(int l) {
    int c;
    while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) close(c);
}

/* A port of 127.0.0.x nobody listens on (kept bound, unlistened, by *keep). */
static int refused_port(int *keep) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *keep = s;
    return ntohs(a.sin_port);
}

static int count_handler(corio_stream *s, void *arg) {
    (void)s, (void)arg;
    return 0;
}

/* ---- a hostile resolver hook -------------------------------------------------- */

static const char *rev_list[16];   /* "list.test": these numeric hosts, in order */
static int rev_many;               /* "many.test": this many copies of 127.0.0.1 */
static atomic_int rev_hold;        /* "block.test" (and "hold.test") wait while set */
static atomic_int rev_calls;
static atomic_int rev_running;

static struct addrinfo *num(const char *h, const char *port, const struct addrinfo *hints) {
    struct addrinfo *one = NULL;
    return corio_getaddrinfo(h, port, hints, &one) == 0 ? one : NULL;
}

static int rev_hook(void *arg, const char *host, const char *port, const struct addrinfo *hints,
                    struct addrinfo **out) {
    atomic_fetch_add(&rev_calls, 1);
    *out = NULL;
    if (!host) return EAI_NONAME;
    if (arg) { /* the second hook: everything is 127.0.0.9 */
        *out = num("127.0.0.9", port, hints);
        return *out ? 0 : EAI_NONAME;
    }
    if (!strcmp(host, "block.test") || !strcmp(host, "hold.test")) {
        atomic_fetch_add(&rev_running, 1);
        while (atomic_load(&rev_hold)) nap_ms(1);
        atomic_fetch_sub(&rev_running, 1);
        *out = num("127.0.0.1", port, hints);
        return 0;
    }
    if (!strcmp(host, "empty.test")) return 0; /* 0 with no list */
    struct addrinfo **tail = out;
    if (!strcmp(host, "list.test")) {
        for (int i = 0; i < 16 && rev_list[i]; i++) {
            if (!(*tail = num(rev_list[i], port, hints))) continue;
            while (*tail) tail = &(*tail)->ai_next;
        }
        return *out ? 0 : EAI_NONAME;
    }
    if (!strcmp(host, "many.test") || !strcmp(host, "distinct.test")) {
        for (int i = 0; i < rev_many; i++) {
            char h[32];
            if (host[0] == 'm') snprintf(h, sizeof h, "127.0.0.1");
            else snprintf(h, sizeof h, "127.0.%d.%d", i / 250, i % 250 + 1);
            struct addrinfo h4 = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
            if (!(*tail = num(h, port, &h4))) break;
            tail = &(*tail)->ai_next;
        }
        return 0;
    }
    /* nodes corio made, then spoiled */
    struct addrinfo h4 = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *a = num("127.0.0.1", port, &h4), *b = num("127.0.0.1", port, &h4);
    if (!a || !b) {
        corio_freeaddrinfo(a);
        corio_freeaddrinfo(b);
        return EAI_MEMORY;
    }
    a->ai_next = b;
    *out = a;
    if (!strcmp(host, "unix.test")) a->ai_family = b->ai_family = AF_UNIX;
    else if (!strcmp(host, "garbagefamily.test")) a->ai_family = b->ai_family = 12345;
    else if (!strcmp(host, "biglen.test")) a->ai_addrlen = b->ai_addrlen = 4096;
    else if (!strcmp(host, "zerolen.test")) a->ai_addrlen = b->ai_addrlen = 0;
    else if (!strcmp(host, "nulladdr.test")) a->ai_addr = b->ai_addr = NULL;
    else {
        corio_freeaddrinfo(a);
        *out = NULL;
        return EAI_NONAME;
    }
    return 0;
}

static void with_rev_hook(corio_fn body, int eager, size_t pool) {
    corio_loop *loop = NULL;
    ASSERT_EQ(corio_loop_new(&loop), 0);
    ASSERT_EQ(corio_loop_set_resolver(loop, rev_hook, NULL), 0);
    if (eager) ASSERT_EQ(corio_loop_set_eager_tasks(loop, 1), 0);
    if (pool) ASSERT_EQ(corio_loop_set_thread_pool_size(loop, pool), 0);
    corio_loop_set_exception_handler(loop, quiet, NULL);
    corio_task *t;
    ASSERT_EQ(corio_loop_create_task(loop, body, NULL, "main", 0, &t), 0);
    ASSERT_EQ(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_future_unref(t);
    close_loop(loop);
}

/* ---- the eager acceptor when its done callback cannot be registered ------------- */

/* Each stand-in call of start_server failed in turn, with eager tasks (the
 * acceptor runs inside listen_on's create and waits in accept before its
 * done callback is registered): whatever fails, nothing reads the server
 * after it is freed (ASan) and nothing is left open (the runner). */
static int eager_oom_body(void *arg, void **res) {
    (void)arg, (void)res;
    rev_list[0] = "127.0.0.1";
    rev_list[1] = "127.0.0.2";
    const char *hosts[] = {"127.0.0.1", "list.test"};
    for (int h = 0; h < 2; h++) {
        int past_end = 0;
        long nth;
        for (nth = 1; nth < 500 && !past_end; nth++) {
            corio_server *srv = (void *)1;
            corio__fail_after(nth);
            int rc = corio_start_server(count_handler, NULL, hosts[h], 0, NULL, &srv);
            long made = corio__fail_after(0);
            if (rc == 0) {
                corio_server_close(srv);
                ASSERT_EQ(corio_server_free(srv), 0);
            } else {
                ASSERT(srv == NULL);
            }
            for (int k = 0; k < 3; k++) ASSERT_EQ(corio_sleep(0), 0); /* cancelled acceptors end */
            past_end = rc == 0 && made < nth;
        }
        ASSERT(past_end);
    }
    return 0;
}

TEST(name_rev_server_eager_oom) {
    with_rev_hook(eager_oom_body, 1, 0);
    return 0;
}

/* ---- bad answers from the hook -------------------------------------------------- */

static int garbage_body(void *arg, void **res) {
    (void)arg, (void)res;
    const char *names[] = {"empty.test", "unix.test", "garbagefamily.test", "biglen.test", "zerolen.test",
                           "nulladdr.test"};
    int keep, port = refused_port(&keep);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        struct addrinfo *ai = NULL;
        int rc = corio_getaddrinfo(names[i], "80", NULL, &ai);
        if (rc == 0) corio_freeaddrinfo(ai);
        else ASSERT(ai == NULL);
        corio_stream *c = (void *)1;
        ASSERT(corio_open_connection(names[i], port, &c) < 0);
        ASSERT(c == NULL);
        corio_connect_options o = {.happy_eyeballs_delay = 1e-6};
        ASSERT(corio_open_connection_with(names[i], port, &o, &c) < 0);
        corio_server *srv = (void *)1;
        rc = corio_start_server(count_handler, NULL, names[i], 0, NULL, &srv);
        if (rc == 0) {
            corio_server_close(srv);
            ASSERT_EQ(corio_server_free(srv), 0);
        } else {
            ASSERT(srv == NULL);
        }
        int u = -2;
        if (corio_open_datagram(names[i], 0, NULL, 0, &u) == 0) corio_close_fd(u);
        else ASSERT_EQ(u, -1);
    }
    /* an empty answer is the name's error, named */
    struct addrinfo *ai;
    ASSERT_EQ(corio_getaddrinfo("empty.test", "80", NULL, &ai), CORIO_ENAME);
    ASSERT(strstr(corio_error_message(corio_current_error()), "empty.test"));
    /* a node without an address, or longer than any: refused before use */
    const char *bad[] = {"nulladdr.test", "biglen.test", "zerolen.test"};
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(corio_getaddrinfo(bad[i], "80", NULL, &ai), CORIO_EINVAL);
        ASSERT(strstr(corio_error_message(corio_current_error()), "resolver hook answered a bad address"));
    }
    close(keep);
    return 0;
}

TEST(name_rev_hook_garbage) {
    with_rev_hook(garbage_body, 0, 0);
    return 0;
}

/* ---- 10 000 addresses ---------------------------------------------------------------- */

static int huge_body(void *arg, void **res) {
    (void)arg, (void)res;
    int keep, port = refused_port(&keep);
    int fds = open_fds();
    rev_many = 10000;
    corio_stream *c;
    /* in turn: every attempt refused, all 10 000 errors in the group */
    ASSERT_EQ(corio_open_connection("many.test", port, &c), -ECONNREFUSED);
    ASSERT_EQ(corio_error_group_size(corio_current_error()), 10000);
    ASSERT_EQ(open_fds(), fds);
    /* raced, all at once: as many errors, whatever each was */
    corio_connect_options o = {.happy_eyeballs_delay = 1e-9};
    int rc = corio_open_connection_with("many.test", port, &o, &c);
    ASSERT(rc == -ECONNREFUSED || rc == CORIO_EGROUP);
    ASSERT_EQ(corio_error_group_size(corio_current_error()), 10000);
    ASSERT_EQ(open_fds(), fds);
    /* a server: 10 000 times one address binds it once */
    corio_server *srv;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "many.test", 0, NULL, &srv), 0);
    corio_server_close(srv);
    ASSERT_EQ(corio_server_free(srv), 0);
    /* 10 000 distinct ones: more than 8 listeners, refused, nothing left */
    ASSERT_EQ(corio_start_server(count_handler, NULL, "distinct.test", 0, NULL, &srv), CORIO_EINVAL);
    ASSERT(strstr(corio_error_message(corio_current_error()), "more than 8"));
    ASSERT_EQ(open_fds(), fds);
    /* nine: the same */
    rev_many = 9;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "distinct.test", 0, NULL, &srv), CORIO_EINVAL);
    ASSERT_EQ(open_fds(), fds);
    rev_many = 8;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "distinct.test", 0, NULL, &srv), 0);
    corio_server_close(srv);
    ASSERT_EQ(corio_server_free(srv), 0);
    ASSERT_EQ(open_fds(), fds);
    close(keep);
    return 0;
}

TEST(name_rev_huge_list) {
    with_rev_hook(huge_body, 0, 0);
    return 0;
}

/* ---- Happy Eyeballs cancelled at every point ---------------------------------------------- */

/* Two listeners on one port (127.0.0.1 and 127.0.0.2), both completing
 * connections in the kernel: with a tiny delay both attempts connect, one
 * is kept. A timeout of growing size lands during the lookup, between the
 * staggered starts, while both connect, after one won. Whatever the
 * outcome, exactly the winner's socket is open afterwards. */
static int he_sweep_body(void *arg, void **res) {
    (void)arg, (void)res;
    int l1 = -1, l2 = -1, port = 0;
    for (int tries = 0; tries < 50 && l2 < 0; tries++) {
        port = 0;
        if (l1 >= 0) close(l1);
        l1 = raw_listener("127.0.0.1", &port);
        l2 = raw_listener("127.0.0.2", &port);
    }
    ASSERT(l2 >= 0);
    rev_list[0] = "127.0.0.1";
    rev_list[1] = "127.0.0.2";
    rev_list[2] = NULL;
    int fds = open_fds();
    int outcomes[3] = {0};
    int rounds = 1500;
    for (int i = 0; i < rounds; i++) {
        corio_connect_options o = {.happy_eyeballs_delay = (i & 1) ? 1e-9 : 1e-5};
        corio_timeout *cm;
        ASSERT_EQ(corio_timeout_enter((i % 200) * 2e-6, &cm), 0);
        corio_stream *c = NULL;
        int rc = corio_open_connection_with(i & 2 ? "list.test" : "127.0.0.1", port, &o, &c);
        rc = corio_timeout_exit(cm, rc);
        if (rc == 0) {
            ASSERT(c != NULL);
            ASSERT_EQ(open_fds(), fds + 1); /* the winner only */
            ASSERT_EQ(corio_stream_free(c), 0);
            outcomes[0]++;
        } else {
            ASSERT(c == NULL);
            ASSERT_EQ(rc, CORIO_ETIMEDOUT);
            outcomes[1]++;
        }
        ASSERT_EQ(open_fds(), fds);
        drain(l1);
        drain(l2);
    }
    ASSERT(outcomes[0] > 0 && outcomes[1] > 0);
    close(l1);
    close(l2);
    return 0;
}

TEST(name_rev_he_cancel_sweep) {
    with_rev_hook(he_sweep_body, 0, 0);
    with_rev_hook(he_sweep_body, 1, 0); /* eager: attempts start inside create */
    return 0;
}

/* ---- numbers at their limits ---------------------------------------------------------------- */

static int numbers_body(void *arg, void **res) {
    (void)arg, (void)res;
    int keep, refused = refused_port(&keep);
    (void)refused;
    int port = 0, l = raw_listener("127.0.0.1", &port);
    /* 127.0.0.2:port is refused (nobody there), 127.0.0.1:port connects */
    rev_list[0] = "127.0.0.2";
    rev_list[1] = "127.0.0.1";
    rev_list[2] = NULL;
    const double delays[] = {INFINITY, 1e-300, DBL_MAX, DBL_MIN, 5e-324};
    for (size_t i = 0; i < sizeof delays / sizeof *delays; i++) {
        corio_connect_options o = {.happy_eyeballs_delay = delays[i]};
        corio_stream *c;
        ASSERT_EQ(corio_open_connection_with("list.test", port, &o, &c), 0);
        ASSERT_EQ(corio_stream_free(c), 0);
    }
    const int ils[] = {1, 2, INT_MAX};
    for (size_t i = 0; i < 3; i++) {
        corio_connect_options o = {.interleave = ils[i]};
        corio_stream *c;
        ASSERT_EQ(corio_open_connection_with("list.test", port, &o, &c), 0);
        ASSERT_EQ(corio_stream_free(c), 0);
    }
    corio_stream *c = (void *)1;
    corio_connect_options o = {.happy_eyeballs_delay = -INFINITY};
    ASSERT_EQ(corio_open_connection_with("list.test", port, &o, &c), CORIO_EINVAL);
    o = (corio_connect_options){.interleave = INT_MIN};
    ASSERT_EQ(corio_open_connection_with("list.test", port, &o, &c), CORIO_EINVAL);
    o = (corio_connect_options){.family = -1};
    ASSERT_EQ(corio_open_connection_with("list.test", port, &o, &c), CORIO_EINVAL);
    o = (corio_connect_options){.family = 12345};
    ASSERT_EQ(corio_open_connection_with("list.test", port, &o, &c), CORIO_EINVAL);
    const int ports[] = {-1, 65536, INT_MAX, INT_MIN};
    for (size_t i = 0; i < 4; i++) {
        corio_server *srv = (void *)1;
        ASSERT_EQ(corio_open_connection("list.test", ports[i], &c), CORIO_EINVAL);
        ASSERT_EQ(corio_start_server(count_handler, NULL, "127.0.0.1", ports[i], NULL, &srv), CORIO_EINVAL);
        ASSERT(srv == NULL);
        o = (corio_connect_options){.local_host = "127.0.0.1", .local_port = ports[i]};
        ASSERT_EQ(corio_open_connection_with("127.0.0.1", port, &o, &c), CORIO_EINVAL);
        int u;
        ASSERT_EQ(corio_open_datagram("127.0.0.1", ports[i], NULL, 0, &u), CORIO_EINVAL);
    }
    drain(l);
    close(l);
    close(keep);
    return 0;
}

TEST(name_rev_numbers) {
    with_rev_hook(numbers_body, 0, 0);
    return 0;
}

/* ---- hosts that are not quite names ----------------------------------------------------------- */

static int hosts_body(void *arg, void **res) {
    (void)arg, (void)res;
    int port = 0, l = raw_listener("127.0.0.1", &port);
    corio_stream *c;
    /* not names the hook knows, not numeric: the hook says no */
    const char *odd[] = {"", "[::1", "::1]", "[::1]:80", "127.0.0.1:80", "%", "127.0.0.1%lo", "[]", "[",
                         "]", "[[::1]]", " 127.0.0.1", "127.0.0.1 "};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        int calls = atomic_load(&rev_calls);
        ASSERT_EQ(corio_open_connection(odd[i], port, &c), CORIO_ENAME);
        ASSERT(atomic_load(&rev_calls) <= calls + 1);
    }
    /* 1 MB of name: the hook gets it, the message is bounded */
    size_t big = 1 << 20;
    char *h = malloc(big + 1);
    memset(h, 'a', big);
    h[big] = 0;
    ASSERT_EQ(corio_open_connection(h, port, &c), CORIO_ENAME);
    ASSERT(strlen(corio_error_message(corio_current_error())) < 1024);
    h[0] = '[';
    h[big - 1] = ']';
    ASSERT_EQ(corio_open_connection(h, port, &c), CORIO_ENAME);
    corio_server *srv = (void *)1;
    ASSERT_EQ(corio_start_server(count_handler, NULL, h, 0, NULL, &srv), CORIO_ENAME);
    ASSERT(srv == NULL);
    free(h);
    drain(l);
    close(l);
    return 0;
}

TEST(name_rev_odd_hosts) {
    with_rev_hook(hosts_body, 0, 0);
    return 0;
}

/* ---- local_host that cannot bind --------------------------------------------------------------- */

static int local_body(void *arg, void **res) {
    (void)arg, (void)res;
    int port = 0, l = raw_listener("127.0.0.1", &port);
    int lport = 0, busy = raw_listener("127.0.0.1", &lport);
    int fds = open_fds();
    corio_stream *c = (void *)1;
    /* a local address in use */
    corio_connect_options o = {.local_host = "127.0.0.1", .local_port = lport};
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", port, &o, &c), -EADDRINUSE);
    ASSERT(strstr(corio_error_message(corio_current_error()), "bind 127.0.0.1:"));
    ASSERT(c == NULL);
    o.happy_eyeballs_delay = 1e-9;
    rev_list[0] = "127.0.0.1";
    rev_list[1] = "127.0.0.1";
    rev_list[2] = NULL;
    ASSERT_EQ(corio_open_connection_with("list.test", port, &o, &c), -EADDRINUSE);
    ASSERT_EQ(corio_error_group_size(corio_current_error()), 2);
    /* an address not of this machine (TEST-NET-1): bind refuses, nothing is sent */
    o = (corio_connect_options){.local_host = "192.0.2.1"};
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", port, &o, &c), -EADDRNOTAVAIL);
    /* a local name that does not resolve */
    o = (corio_connect_options){.local_host = "nosuch.test"};
    ASSERT_EQ(corio_open_connection_with("127.0.0.1", port, &o, &c), CORIO_ENAME);
    ASSERT_EQ(open_fds(), fds);
    drain(l);
    close(l);
    close(busy);
    return 0;
}

TEST(name_rev_local_host) {
    with_rev_hook(local_body, 0, 0);
    return 0;
}

/* ---- a server on a name with an address in use ------------------------------------------------- */

static int partial_body(void *arg, void **res) {
    (void)arg, (void)res;
    int port = 0, busy = -1;
    for (int tries = 0; tries < 50 && busy < 0; tries++) {
        port = 0;
        int probe = raw_listener("127.0.0.3", &port); /* a port free on 127.0.0.3 */
        close(probe);
        busy = raw_listener("127.0.0.1", &port);
    }
    ASSERT(busy >= 0);
    int fds = open_fds();
    rev_list[0] = "127.0.0.3"; /* binds */
    rev_list[1] = "127.0.0.1"; /* in use */
    rev_list[2] = NULL;
    corio_server *srv = (void *)1;
    ASSERT_EQ(corio_start_server(count_handler, NULL, "list.test", port, NULL, &srv), -EADDRINUSE);
    ASSERT(srv == NULL);
    ASSERT(strstr(corio_error_message(corio_current_error()), "127.0.0.1:"));
    for (int k = 0; k < 3; k++) ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(open_fds(), fds); /* the 127.0.0.3 listener went too */
    /* and the port on 127.0.0.3 is free again */
    int again = raw_listener("127.0.0.3", &port);
    ASSERT(again >= 0);
    close(again);
    close(busy);
    return 0;
}

TEST(name_rev_server_partial) {
    with_rev_hook(partial_body, 0, 0);
    with_rev_hook(partial_body, 1, 0);
    return 0;
}

/* ---- the resolver changed, the loop closed, while lookups are in flight ------------------------ */

static int looks_up(void *arg, void **res) {
    (void)res;
    struct addrinfo *ai = NULL;
    int rc = corio_getaddrinfo(arg, "80", NULL, &ai);
    if (rc == 0) {
        char h[64];
        ASSERT_EQ(getnameinfo(ai->ai_addr, ai->ai_addrlen, h, sizeof h, NULL, 0, NI_NUMERICHOST), 0);
        ASSERT_STR(h, "127.0.0.1"); /* the hook it started with answers */
        corio_freeaddrinfo(ai);
    }
    return rc;
}

static int swap_body(void *arg, void **res) {
    (void)arg, (void)res;
    corio_loop *loop = corio_get_running_loop();
    atomic_store(&rev_hold, 1);
    corio_task *t[3];
    for (int i = 0; i < 3; i++) ASSERT_EQ(corio_create_task(looks_up, "block.test", NULL, &t[i]), 0);
    while (atomic_load(&rev_running) < 2) ASSERT_EQ(corio_sleep(0.001), 0); /* pool of 2: one queued */
    ASSERT_EQ(corio_loop_set_resolver(loop, rev_hook, (void *)1), 0); /* another hook */
    ASSERT_EQ(corio_loop_set_resolver(loop, NULL, NULL), 0);
    ASSERT_EQ(corio_loop_set_resolver(loop, rev_hook, (void *)1), 0);
    atomic_store(&rev_hold, 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(corio_await(t[i], NULL), 0);
        corio_future_unref(t[i]);
    }
    /* the new hook for new lookups */
    struct addrinfo *ai;
    ASSERT_EQ(corio_getaddrinfo("block.test", "80", NULL, &ai), 0);
    char h[64];
    ASSERT_EQ(getnameinfo(ai->ai_addr, ai->ai_addrlen, h, sizeof h, NULL, 0, NI_NUMERICHOST), 0);
    ASSERT_STR(h, "127.0.0.9");
    corio_freeaddrinfo(ai);
    return 0;
}

static void *release_later(void *arg) {
    (void)arg;
    nap_ms(100);
    atomic_store(&rev_hold, 0);
    return NULL;
}

static int closing_body(void *arg, void **res) {
    (void)arg, (void)res;
    atomic_store(&rev_hold, 1);
    for (int i = 0; i < 6; i++) { /* 2 running, 4 queued; 2 of those cancelled */
        corio_task *t;
        ASSERT_EQ(corio_create_task(looks_up, "block.test", NULL, &t), 0);
        if (i >= 4) {
            ASSERT_EQ(corio_sleep(0), 0);
            corio_task_cancel(t, NULL);
        }
        corio_future_unref(t);
    }
    while (atomic_load(&rev_running) < 2) ASSERT_EQ(corio_sleep(0.001), 0);
    return 0; /* the loop closes under them; a thread lets the hooks go */
}

TEST(name_rev_resolver_swap) {
    with_rev_hook(swap_body, 0, 2);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, release_later, NULL), 0);
    with_rev_hook(closing_body, 0, 2);
    pthread_join(th, NULL);
    ASSERT_EQ(atomic_load(&rev_running), 0);
    return 0;
}

/* ---- a pool full of slow lookups ------------------------------------------------------------ */

static int quick(void *arg, void **res) {
    (void)arg;
    *res = (void *)7;
    return 0;
}

/* asyncio's lookups share the default executor with to_thread: slow ones
 * that fill it hold up every other user. corio does the same; the probe
 * pins it (and that everything goes on once they end). */
static int saturated_body(void *arg, void **res) {
    (void)arg, (void)res;
    atomic_store(&rev_hold, 1);
    corio_task *t[2];
    for (int i = 0; i < 2; i++) ASSERT_EQ(corio_create_task(looks_up, "hold.test", NULL, &t[i]), 0);
    while (atomic_load(&rev_running) < 2) ASSERT_EQ(corio_sleep(0.001), 0);
    corio_timeout *cm;
    void *r = NULL;
    ASSERT_EQ(corio_timeout_enter(0.05, &cm), 0);
    int rc = corio_to_thread(quick, NULL, NULL, &r);
    ASSERT_EQ(corio_timeout_exit(cm, rc), CORIO_ETIMEDOUT); /* waited behind the lookups */
    atomic_store(&rev_hold, 0);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(corio_await(t[i], NULL), 0);
        corio_future_unref(t[i]);
    }
    ASSERT_EQ(corio_to_thread(quick, NULL, NULL, &r), 0);
    ASSERT(r == (void *)7);
    return 0;
}

TEST(name_rev_pool_saturated) {
    with_rev_hook(saturated_body, 0, 2);
    return 0;
}

/* ---- getnameinfo with bad lengths ----------------------------------------------------------- */

static int nameinfo_body(void *arg, void **res) {
    (void)arg, (void)res;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char h[NI_MAXHOST], s[NI_MAXSERV];
    /* too short for the family: getnameinfo's error, inline and on the pool */
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, 1, NI_NUMERICHOST | NI_NUMERICSERV, h, sizeof h, s, sizeof s),
              CORIO_ENAME);
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, sizeof a - 1, NI_NUMERICHOST, h, sizeof h, s, sizeof s),
              CORIO_ENAME);
    /* huge buffers: clamped, the answer whole */
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, sizeof a, NI_NUMERICHOST, h, SIZE_MAX / 2, s, sizeof s), 0);
    ASSERT_STR(h, "127.0.0.1");
    /* one byte: too small, on the pool as inline */
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, sizeof a, NI_NUMERICHOST, h, sizeof h, s, 1), CORIO_ENAME);
    ASSERT_EQ(corio_getnameinfo((struct sockaddr *)&a, sizeof a, NI_NUMERICHOST | NI_NUMERICSERV, h, 1, s, sizeof s),
              CORIO_ENAME);
    /* an unknown family */
    struct sockaddr_storage ss = {.ss_family = 12345};
    ASSERT(corio_getnameinfo((struct sockaddr *)&ss, sizeof ss, NI_NUMERICHOST | NI_NUMERICSERV, h, sizeof h, s,
                             sizeof s) < 0);
    return 0;
}

TEST(name_rev_nameinfo_lengths) {
    with_rev_hook(nameinfo_body, 0, 0);
    return 0;
}

/* ---- a cancel that lands while the race settles ---------------------------------------------- */

/* The connecting task is cancelled once, by another task, after k turns
 * of the loop (k = 0, 1, 2, ...): during the lookup, between the staggered
 * starts, while both attempts connect, while the losers are put away. A
 * cancel that was requested while it waited must come out of some call
 * of it (open_connection, or the sleep after): never swallowed. */
static corio_task *victim;
static int victim_saw_cancel;
static int victim_port;
static int victim_started; /* a task cancelled before it starts never runs */

static int victim_body(void *arg, void **res) {
    (void)res;
    corio_connect_options o = {.happy_eyeballs_delay = arg ? 1e-9 : 1e-5};
    corio_stream *c = NULL;
    victim_started = 1;
    int rc = corio_open_connection_with("list.test", victim_port, &o, &c);
    if (rc == CORIO_ECANCELED) victim_saw_cancel = 1;
    if (rc == 0) corio_stream_free(c);
    if (corio_sleep(0.001) == CORIO_ECANCELED) victim_saw_cancel = 1;
    return 0;
}

static int lost_cancel_body(void *arg, void **res) {
    (void)arg, (void)res;
    int l1 = -1, l2 = -1, port = 0;
    for (int tries = 0; tries < 50 && l2 < 0; tries++) {
        port = 0;
        if (l1 >= 0) close(l1);
        l1 = raw_listener("127.0.0.1", &port);
        l2 = raw_listener("127.0.0.2", &port);
    }
    ASSERT(l2 >= 0);
    victim_port = port;
    rev_list[0] = "127.0.0.1";
    rev_list[1] = "127.0.0.2";
    rev_list[2] = NULL;
    int fds = open_fds(), lost = 0, delivered = 0;
    for (int i = 0; i < 1200; i++) {
        victim_saw_cancel = victim_started = 0;
        ASSERT_EQ(corio_create_task(victim_body, (void *)(intptr_t)(i & 1), "victim", &victim), 0);
        for (int k = 0; k < (i >> 1) % 40; k++) ASSERT_EQ(corio_sleep(0), 0);
        int requested = corio_task_cancel(victim, NULL) == 1;
        (void)corio_await(victim, NULL);
        corio_future_unref(victim);
        if (requested && victim_started && !victim_saw_cancel) lost++;
        if (requested && victim_saw_cancel) delivered++;
        drain(l1);
        drain(l2);
        ASSERT_EQ(open_fds(), fds);
    }
    if (lost) fprintf(stderr, "%d of %d cancels swallowed\n", lost, lost + delivered);
    ASSERT_EQ(lost, 0);
    ASSERT(delivered > 0);
    close(l1);
    close(l2);
    return 0;
}

TEST(name_rev_he_cancel_not_lost) {
    with_rev_hook(lost_cancel_body, 0, 0);
    with_rev_hook(lost_cancel_body, 1, 0);
    return 0;
}


/* ---- open_connection's every stand-in call failed, with eager tasks -------------------------- */

static int eager_connect_oom_body(void *arg, void **res) {
    (void)arg, (void)res;
    int port = 0, l = raw_listener("127.0.0.1", &port);
    int keep, refused = refused_port(&keep);
    (void)refused;
    rev_list[0] = "127.0.0.2"; /* refused */
    rev_list[1] = "127.0.0.1";
    rev_list[2] = NULL;
    int fds = open_fds();
    for (int he = 0; he < 3; he++) {
        int past_end = 0;
        long nth;
        for (nth = 1; nth < 2000 && !past_end; nth++) {
            corio_connect_options o = {.happy_eyeballs_delay = he == 0 ? 0 : he == 1 ? 1e-9 : 0.001};
            corio_stream *c = (void *)1;
            corio__fail_after(nth);
            int rc = corio_open_connection_with("list.test", port, &o, &c);
            long made = corio__fail_after(0);
            if (rc == 0) ASSERT_EQ(corio_stream_free(c), 0);
            else ASSERT(c == NULL);
            for (int k = 0; k < 3; k++) ASSERT_EQ(corio_sleep(0), 0);
            drain(l);
            ASSERT_EQ(open_fds(), fds);
            past_end = rc == 0 && made < nth;
        }
        ASSERT(past_end);
    }
    close(l);
    close(keep);
    return 0;
}

TEST(name_rev_connect_eager_oom) {
    with_rev_hook(eager_connect_oom_body, 1, 0);
    with_rev_hook(eager_connect_oom_body, 0, 0);
    return 0;
}

/* ---- the eager acceptor, each on its own listener ------------------------------------------ */

static int served;
static int serve_count(corio_stream *s, void *arg) {
    (void)s, (void)arg;
    served++;
    return 0;
}

/* With eager tasks each acceptor starts inside listen_on, before its slot
 * is filled: it must still accept on its own listener (a connection to
 * either address reaches the handler), and close must end every one. */
static int eager_both_body(void *arg, void **res) {
    (void)arg, (void)res;
    rev_list[0] = "127.0.0.1";
    rev_list[1] = "127.0.0.2";
    rev_list[2] = "127.0.0.3";
    rev_list[3] = NULL;
    int fds = open_fds();
    corio_server *srv;
    served = 0;
    ASSERT_EQ(corio_start_server(serve_count, NULL, "list.test", 0, NULL, &srv), 0);
    for (int i = 0; i < 3; i++) {
        struct sockaddr_in a;
        unsigned int len = sizeof a;
        ASSERT_EQ(corio_server_sockname(srv, i, (struct sockaddr *)&a, &len), 0);
        char h[32];
        inet_ntop(AF_INET, &a.sin_addr, h, sizeof h);
        corio_stream *c;
        ASSERT_EQ(corio_open_connection(h, ntohs(a.sin_port), &c), 0);
        while (served < i + 1) ASSERT_EQ(corio_sleep(0.001), 0);
        ASSERT_EQ(corio_stream_free(c), 0);
    }
    corio_server_close(srv);
    ASSERT_EQ(corio_server_wait_closed(srv), 0);
    ASSERT_EQ(corio_server_free(srv), 0);
    for (int k = 0; k < 3; k++) ASSERT_EQ(corio_sleep(0), 0);
    ASSERT_EQ(open_fds(), fds);
    return 0;
}

TEST(name_rev_eager_server_each_listener) {
    with_rev_hook(eager_both_body, 1, 0);
    with_rev_hook(eager_both_body, 0, 0);
    return 0;
}
