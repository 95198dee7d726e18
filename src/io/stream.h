/* The stream object, shared by stream.c and server.c. */
#ifndef CORIO_IO_STREAM_H
#define CORIO_IO_STREAM_H

#include "io/io.h"

struct sockaddr_storage;
struct sockaddr_un;

/* A transport between the stream's buffers and its socket (TLS: src/tls/),
 * or none (ops NULL: plain bytes, the one predictable branch per call). */
struct corio__stream_ops {
    /* Plaintext into at[0 .. room): > 0 bytes, 0 at EOF, or an error; with
     * wait 0 it never suspends (-EAGAIN when nothing is there). */
    long (*fill)(corio_stream *s, corio_loop *loop, char *at, size_t room, int wait);
    /* 1 when no plaintext can come before the socket is readable: the
     * stream may then wait for it holding no buffer (readiness backends). */
    int (*idle)(corio_stream *s);
    /* Plaintext out (n > 0): turned into bytes for corio__stream_raw_write. */
    int (*write)(corio_stream *s, const void *buf, size_t n);
    /* close was asked, before the last flush: queue the goodbye
     * (corio__stream_raw_queue only: nothing may close the stream here). */
    void (*close)(corio_stream *s);
    void (*closed)(corio_stream *s); /* the descriptor is gone */
    void (*free)(corio_stream *s);   /* the stream goes: free s->xport */
};

struct corio_stream {
    int fd;                 /* owned; -1 once closed (through corio_close_fd) */
    corio_loop *loop;       /* held (corio__loop_hold) until the stream is freed */
    uint8_t is_sock;        /* a socket (recv/send); else a pipe or the like (read/write) */
    /* reading: the unread bytes are rbuf[rhead .. rhead + rlen) */
    char *rbuf;             /* owned */
    size_t rcap, rhead, rlen;
    size_t lent;            /* of them, handed out by pointer by the last call: dropped at the next */
    size_t limit;           /* readuntil / readline: LimitOverrun past it */
    int rerr;               /* the read side's error, once seen (0: none) */
    uint8_t eof;            /* the peer's EOF was read */
    uint8_t drained;        /* the last recv was short: wait before the next one */
    corio__task *reader;    /* the task receiving into rbuf now (a second gets EBUSY), borrowed */
    /* writing: the unsent bytes are obuf[ohead .. olen) (in the kernel's
     * hands: a completion backend's background send), then
     * wbuf[whead .. whead + wlen) */
    char *wbuf;             /* owned */
    size_t wcap, whead, wlen;
    char *obuf;             /* owned: nobody writes it while a send from it is in flight */
    size_t ocap, ohead, olen;
    uint8_t bg;             /* the backend sends in the background (io_uring): no send(2) here */
    uint8_t sending;        /* a background send from obuf is in flight */
    size_t high, low;       /* drain's water marks */
    int werr;               /* the connection's error, for write, drain and wait_closed */
    corio_event *writable;  /* owned: set while drain need not wait */
    corio_event *closed_ev; /* owned: set once the descriptor is closed */
    uint8_t flushing;       /* a writer callback flushes wbuf in the background */
    uint8_t eof_pending;    /* write_eof asked: shut down writing once flushed */
    uint8_t eof_sent;
    uint8_t closing;        /* close asked: close once flushed */
    size_t inside;          /* tasks inside drain / wait_closed: free says EBUSY */
    void (*on_closed)(corio_stream *s); /* the server's count of its connections, or NULL */
    void *owner;            /* the server's per-connection record, or NULL */
    const struct corio__stream_ops *ops; /* the transport (TLS), or NULL: plain; static storage */
    void *xport;            /* the transport's state, owned (ops->free) */
};

int corio__stream_new(corio_loop *loop, int fd, corio_stream **out);
/* A server's connection: freed by its owner only (corio_stream_free refuses it). */
int corio__stream_release(corio_stream *s);
/* For a transport: bytes straight to the socket (as a plain write: sent
 * now or buffered and flushed in the background), or only appended to the
 * buffer (sent by the next flush). 0 or the error. */
int corio__stream_raw_write(corio_stream *s, const void *buf, size_t n);
int corio__stream_raw_queue(corio_stream *s, const void *buf, size_t n);
/* One receive from the socket into buf (the transport's own buffer):
 * bytes, 0 at EOF, or the error; CORIO_EFDCLOSED if the stream was closed
 * meanwhile; wait 0: -EAGAIN instead of waiting. */
long corio__stream_recv(corio_stream *s, corio_loop *loop, void *buf, size_t n, int wait);
int corio__unix_addr(const char *path, struct sockaddr_un *un, unsigned int *len);

#endif
