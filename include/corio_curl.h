/*
 * corio_curl — libcurl inside corio tasks (io.md 9).
 *
 * A separate small library (libcorio_curl, pkg-config corio-curl) written
 * on the public corio.h alone, as a user could have written it. One
 * corio_curl holds one libcurl multi handle bound to one loop, driven by
 * it through the multi-socket API: curl's sockets go to the loop's
 * reader/writer callbacks, curl's timer to a loop timer. Tasks perform
 * easy handles on it and suspend until their transfer is done; they share
 * its connection cache (keep-alive, HTTP/2 multiplexing where curl has
 * it). Cancelling a task (or its timeout scope firing) takes its easy
 * handle out of the multi at once; a connection cut in the middle of a
 * transfer is closed then.
 *
 * Every easy handle the adapter runs gets an open-socket and a
 * close-socket callback of the adapter's (a close-on-exec socket, closed
 * through corio_close_fd so that the loop forgets it before its number is
 * reused): do not set CURLOPT_OPENSOCKETFUNCTION or
 * CURLOPT_CLOSESOCKETFUNCTION yourself. corio_curl_perform also sets
 * CURLOPT_ERRORBUFFER to its own for the transfer (its message goes into
 * corio's error) and clears it afterwards. An easy handle's callbacks
 * (CURLOPT_WRITEFUNCTION, ...) run on the loop, outside the performing
 * task: what they write to must not be on a copy-mode task's stack
 * (corio_loop_set_stack_mode), which is elsewhere while the task waits.
 *
 * Codes as in corio.h: 0 or a negative code, with a message
 * (corio_current_error) naming the URL.
 */
#ifndef CORIO_CURL_H
#define CORIO_CURL_H

#include <curl/curl.h>
#include <corio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_curl corio_curl; /* one multi handle, bound to one loop */

/* In a task: a new multi handle bound to the running loop. *out: owned
 * (corio_curl_free). 0, CORIO_ENOTINTASK, CORIO_ENOMEM, CORIO_ECURL. */
CORIO_API int corio_curl_new(corio_curl **out);
/* Close the cached connections (through corio_close_fd) and free. Call it
 * on the loop's thread, before the loop is freed. 0; CORIO_EBUSY (nothing
 * freed) while transfers run. Once the loop is closed, transfers whose
 * tasks it destroyed pending are taken out and freed here. NULL-safe. */
CORIO_API int corio_curl_free(corio_curl *c);
/* The multi handle, borrowed while c lives: for curl_multi_setopt
 * (CURLMOPT_MAX_HOST_CONNECTIONS, CURLMOPT_MAX_TOTAL_CONNECTIONS,
 * CURLMOPT_PIPELINING). Leave the socket and timer options alone. NULL
 * for NULL. */
CORIO_API CURLM *corio_curl_multi(corio_curl *c);
/* In a task of c's loop: run the transfer the easy handle describes and
 * suspend until it is done. The easy handle stays the caller's, and
 * between transfers it can be reused (curl_easy_getinfo works on it
 * afterwards). 0 (an HTTP error status is not a failure: ask
 * CURLINFO_RESPONSE_CODE), CORIO_ECURL with curl's error text and the URL
 * in the message, CORIO_ECANCELED (the handle is out of the multi when it
 * returns), CORIO_ETIMEDOUT through a timeout scope's exit,
 * CORIO_ENOTINTASK, CORIO_EWRONGLOOP (c belongs to another loop),
 * CORIO_EBUSY (the easy handle is already in a transfer), CORIO_ENOMEM. */
CORIO_API int corio_curl_perform(corio_curl *c, CURL *easy);
/* Transfers in progress on c (0 for NULL): 0 means the multi holds no
 * easy handle. */
CORIO_API size_t corio_curl_transfers(const corio_curl *c);

/* ---- convenience: a whole response in memory (aiohttp's session.get) ---- */

typedef struct corio_http_response {
    long status;                       /* HTTP status (404 is not an error: as aiohttp without raise_for_status) */
    char *body; size_t body_len;       /* owned, NUL-terminated */
    char *headers; size_t headers_len; /* owned, raw header block, NUL-terminated */
} corio_http_response;
/* In a task: GET url, following redirects (at most 10, as aiohttp), and
 * fill *out (the final response's status, headers and body; release with
 * corio_http_response_free). On failure *out is zeroed and owns nothing.
 * Codes as corio_curl_perform; CORIO_ENOMEM when the body outgrows memory. */
CORIO_API int corio_http_get(corio_curl *c, const char *url, corio_http_response *out);
/* POST len bytes of body (copied: it need not outlive the call's start),
 * with a Content-Type header when content_type is not NULL (CORIO_EINVAL
 * if it holds a CR or LF, as aiohttp's ValueError). As corio_http_get. */
CORIO_API int corio_http_post(corio_curl *c, const char *url, const void *body, size_t len,
                              const char *content_type, corio_http_response *out);
/* Free what *r owns and zero it. NULL-safe. */
CORIO_API void corio_http_response_free(corio_http_response *r);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_CURL_H */
