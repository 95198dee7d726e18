/* The C side of the stream differential (streams.py): reads scenarios from
 * a file, feeds each one's fragments through a socket pair into a corio
 * stream, runs its reading operations, and prints what each returned, in
 * the reference's format. An operation that cannot finish with what was
 * fed is cancelled by a short timeout scope: the bytes are in the kernel
 * already when it starts, so whether it waits depends only on them. */
#define _GNU_SOURCE
#include <corio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *path;

static void hexdump(const void *p, size_t n) {
    if (!n) {
        putchar('-');
        return;
    }
    for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);
}

static size_t unhex(const char *h, unsigned char *out) {
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        if (sscanf(h, "%2x", &v) != 1) break;
        out[n++] = (unsigned char)v;
    }
    return n;
}

static void op(corio_stream *s, char *line) {
    char name[32] = "", argbuf[128] = "";
    sscanf(line, "%31s %127s", name, argbuf);
    corio_timeout *to;
    if (corio_timeout_enter(0.002, &to) < 0) abort();
    const void *d = NULL;
    size_t n = 0;
    unsigned char buf[256];
    int rc;
    if (!strcmp(name, "read")) {
        rc = corio_stream_read(s, buf, (size_t)atoi(argbuf), &n);
        d = buf;
    } else if (!strcmp(name, "read_all")) {
        rc = corio_stream_read_all(s, &d, &n);
    } else if (!strcmp(name, "readexactly")) {
        rc = corio_stream_readexactly(s, buf, (size_t)atoi(argbuf), &n);
        d = buf;
    } else if (!strcmp(name, "readuntil")) {
        unsigned char sep[32];
        size_t sl = unhex(argbuf, sep);
        rc = corio_stream_readuntil(s, sep, sl, &d, &n);
    } else if (!strcmp(name, "readuntil_any")) {
        unsigned char sepb[4][32];
        const void *seps[4];
        size_t lens[4], k = 0;
        for (char *tok = strtok(argbuf, ","); tok && k < 4; tok = strtok(NULL, ","), k++) {
            lens[k] = unhex(tok, sepb[k]);
            seps[k] = sepb[k];
        }
        rc = corio_stream_readuntil_any(s, seps, lens, k, &d, &n);
    } else if (!strcmp(name, "readline")) {
        rc = corio_stream_readline(s, &d, &n);
    } else {
        fprintf(stderr, "unknown op %s\n", name);
        exit(2);
    }
    int left = corio_timeout_exit(to, rc);
    printf("%s -> ", line);
    if (left == CORIO_ETIMEDOUT) {
        printf("cancelled\n");
    } else if (rc == 0) {
        printf("ok ");
        hexdump(d, n);
        putchar('\n');
    } else if (rc == CORIO_EINCOMPLETE) {
        printf("incomplete ");
        hexdump(d, n);
        putchar('\n');
    } else if (rc == CORIO_ELIMIT) {
        if (!strcmp(name, "readline")) printf("limit\n");
        else printf("limit %zu\n", n);
    } else {
        printf("error %s\n", corio_strerror(rc));
    }
}

static int run_all(void *arg, void **res) {
    (void)arg;
    (void)res;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    corio_stream *s = NULL;
    int peer = -1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "scenario ", 9)) {
            int sv[2];
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) return -1;
            if (corio_stream_from_fd(sv[0], &s) < 0) return -1;
            peer = sv[1];
            corio_stream_set_limit(s, (size_t)atoi(strstr(line, "limit ") + 6));
            printf("%s\n", line);
        } else if (!strncmp(line, "feed ", 5)) {
            unsigned char b[2048];
            size_t n = unhex(line + 5, b);
            if (write(peer, b, n) != (ssize_t)n) return -1;
        } else if (!strcmp(line, "eof")) {
            shutdown(peer, SHUT_WR);
        } else if (!strncmp(line, "op ", 3)) {
            op(s, line + 3);
        } else if (!strcmp(line, "end")) {
            printf("end\n");
            corio_stream_free(s);
            close(peer);
        }
    }
    fclose(f);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: streamdrv SCENARIOS\n");
        return 2;
    }
    path = argv[1];
    int rc = corio_run(run_all, NULL, NULL);
    if (rc < 0) fprintf(stderr, "streamdrv: %s\n", corio_strerror(rc));
    return rc < 0;
}
