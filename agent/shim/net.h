/* net.h - the network shim: asynchronous HTTP(S) requests with completion callbacks.
 *
 * The real implementation is agent/curl (libcurl multi, TLS 1.2+, peer and host
 * verified against the configured CA file). The simulator's simnet delivers the
 * same requests to an in-process mock cloud with latency and loss.
 *
 * Ownership and timing
 *   - request() copies everything it needs from *req before returning; the
 *     caller may free the request memory immediately.
 *   - done() is NEVER called from inside request() or cancel(). It is called
 *     later by the driver (the real main loop pumping curl, or the simulator's
 *     event queue), outside agent_step(), exactly once per accepted request,
 *     unless the request was cancelled first (then never).
 *   - The response (and its body and headers) is owned by the shim and valid
 *     only during the callback; copy what you keep.
 *   - After done() returns the driver calls agent_step() again so the agent
 *     can act on the result.
 *
 * Streaming (issue #17: an update is never held whole in memory)
 *   - With req->sink set, the body of a 200 response is not buffered: each
 *     piece goes to sink(user, data, len) as it arrives, from the driver,
 *     before done() and never inside request() or cancel(); done() then gets
 *     body NULL and body_len 0. max_response_bytes still bounds the total
 *     (NET_ETOOBIG). A sink that returns non-zero stops the transfer: done()
 *     gets NET_EABORTED. Other statuses are buffered as without a sink.
 *   - A shim may ignore sink and deliver the body to done() as usual; a caller
 *     that sets sink must accept both.
 */
#ifndef OUTPOST_SHIM_NET_H
#define OUTPOST_SHIM_NET_H

#include <stddef.h>
#include <stdint.h>

#define NET_MAX_HEADERS 16
#define NET_MAX_URL 2048

/* Transport-level results (negative). An HTTP status, even 500, is NET_OK. */
#define NET_OK          0
#define NET_ENOMEM     (-1)
#define NET_EINVAL     (-2)  /* bad URL, too many headers */
#define NET_EBUSY      (-3)  /* too many requests in flight */
#define NET_EDNS       (-10) /* name resolution failed */
#define NET_ECONNECT   (-11) /* connection refused / unreachable */
#define NET_ETLS       (-12) /* handshake or certificate verification failed */
#define NET_ETIMEDOUT  (-13) /* no complete response in time */
#define NET_ETOOBIG    (-14) /* response body over max_response_bytes */
#define NET_EIO        (-15) /* any other transport failure */
#define NET_EABORTED   (-16) /* the request's sink refused a piece of the body */

typedef struct net_header {
  const char *name;
  const char *value;
} net_header;

typedef struct net_request {
  const char *method;          /* "GET", "POST" */
  const char *url;             /* absolute URL, https:// in production */
  const net_header *headers;   /* n_headers entries, at most NET_MAX_HEADERS */
  size_t n_headers;
  const uint8_t *body;         /* may be NULL when body_len == 0 */
  size_t body_len;
  int64_t timeout_ms;          /* whole exchange, connect included */
  size_t max_response_bytes;   /* larger bodies fail with NET_ETOOBIG */
  /* NULL: buffer the body. Else see "Streaming" above; user is done()'s. */
  int (*sink)(void *user, const uint8_t *data, size_t len);
} net_request;

typedef struct net_response {
  int error;                   /* NET_OK or a negative NET_E* code */
  int status;                  /* HTTP status when error == NET_OK, else 0 */
  const uint8_t *body;
  size_t body_len;
  const net_header *headers;   /* response headers, names lower-cased */
  size_t n_headers;
  const char *error_text;      /* human-readable detail for errors, never NULL */
} net_response;

typedef void (*net_done_fn)(void *user, const net_response *resp);

typedef struct net_shim {
  void *ctx;
  /* Starts a request. Returns NET_OK and an id (> 0) in *id_out, or a
   * negative NET_E* code (then done() will not be called). */
  int (*request)(void *ctx, const net_request *req, net_done_fn done, void *user,
                 uint64_t *id_out);
  /* Cancels a request in flight; its done() will not be called. Unknown ids
   * are ignored. */
  void (*cancel)(void *ctx, uint64_t id);
} net_shim;

/* Case-insensitive header lookup in a response; NULL when absent. */
static inline const char *net_response_header(const net_response *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++) {
    const char *a = r->headers[i].name, *b = name;
    while (*a && *b) {
      char ca = *a, cb = *b;
      if (ca >= 'A' && ca <= 'Z') ca = (char)(ca - 'A' + 'a');
      if (cb >= 'A' && cb <= 'Z') cb = (char)(cb - 'A' + 'a');
      if (ca != cb) break;
      a++, b++;
    }
    if (*a == 0 && *b == 0) return r->headers[i].value;
  }
  return NULL;
}

#endif
