/* libuv_echo PORT: the libuv peer of the `echo` workload: callbacks, a
 * read buffer per connection, each read written straight back. */
#include <stdlib.h>
#include <uv.h>

typedef struct {
    uv_tcp_t tcp;
    char buf[65536];
} conn_t;

static uv_loop_t *loop;

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)hint;
    conn_t *c = h->data;
    *b = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_close(uv_handle_t *h) { free(h->data); }

static void on_write(uv_write_t *req, int status) {
    (void)status;
    free(req);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (n == 0) return;
    uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
    /* Small messages go out at once; a queued write copies the bytes. */
    int r = uv_try_write(s, &out, 1);
    if (r == n) return;
    if (r < 0) r = 0;
    uv_write_t *req = malloc(sizeof *req + (size_t)(n - r));
    char *copy = (char *)(req + 1);
    for (ssize_t i = r; i < n; i++) copy[i - r] = b->base[i];
    uv_buf_t rest = uv_buf_init(copy, (unsigned)(n - r));
    uv_write(req, s, &rest, 1, on_write);
}

static void on_conn(uv_stream_t *server, int status) {
    if (status < 0) return;
    conn_t *c = malloc(sizeof *c);
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0) {
        uv_tcp_nodelay(&c->tcp, 1);
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &a);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&a, 0) || uv_listen((uv_stream_t *)&server, 4096, on_conn))
        return 1;
    puts("listening");
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
