/* What the I/O files share: the core contract, the backend's task
 * operations, and a few helpers. */
#ifndef CORIO_IO_H
#define CORIO_IO_H

#include "backend/backend.h"
#include "core/contract.h"

#include <errno.h>
#include <sys/socket.h>

/* The running task's loop: 0, CORIO_ENOTINTASK or CORIO_ECLOSED. */
int corio__io_loop(corio_loop **loop);
/* "127.0.0.1:80", "[::1]:80", the path of a Unix socket ("@name" for an
 * abstract one), or "?" for what it cannot name; always terminated. */
int corio__sockaddr_parse(const char *host, int port, struct sockaddr_storage *ss,
                          unsigned int *len);
/* The socket's peer (or, failing that, its own name, or "fd N"), for
 * messages and names; always terminated. */
void corio__peer_format(int fd, char *buf, size_t cap);
void corio__addr_format(const struct sockaddr *addr, socklen_t len, char *buf, size_t cap);

/* names.c. In a task: host and port as the stream calls take them ("[::1]"
 * too; NULL, or with AI_PASSIVE "", for none) resolved to corio's list
 * (corio_freeaddrinfo); numeric ones inline. 0 or corio_getaddrinfo's
 * codes. */
struct addrinfo;
int corio__resolve(const char *host, int port, int family, int socktype, int flags,
                   struct addrinfo **out);
/* In a task: a TCP socket connected to one of host's addresses, as
 * corio_open_connection_with says (o may be NULL): 0 with *fd. */
int corio__open_tcp(const char *host, int port, const corio_connect_options *o, int *fd);
/* corio_open_datagram's work: numeric hosts anywhere, names in a task. */
int corio__open_udp(const char *lhost, int lport, const char *rhost, int rport, int *fd);

#endif
