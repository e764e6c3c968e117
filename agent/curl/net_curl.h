/* net_curl.h - the real net shim (agent/shim/net.h) on libcurl's multi interface.
 *
 * Usage (the production main loop)
 *   net_curl_options o; net_curl_options_init(&o); o.ca_file = "/etc/outpost/ca.pem";
 *   net_curl *nc; net_shim net;
 *   if (net_curl_create(&o, &nc) != NET_OK) ...
 *   net_curl_shim(nc, &net);            ... hand &net to the core ...
 *   for (;;) { deadline = agent_step(...); net_curl_wait(nc, ms_until_deadline); }
 *   net_curl_destroy(nc);
 *
 * Security (not configurable on purpose)
 *   - TLS 1.2 minimum; the peer certificate and host name are always verified
 *     against ca_file and nothing else (the system CA path is switched off).
 *     There is no option to turn verification off.
 *   - https only. allow_plain_http_loopback (tests and tools only) also lets
 *     http:// through, but only to 127.0.0.1 or localhost; any other non-https
 *     URL is refused with NET_EINVAL before a connection is made.
 *   - No redirects, no Expect: 100-continue, CURLOPT_NOSIGNAL.
 *   - Proxies: options.proxy (CONNECT tunnel, optional proxy CA) or, when
 *     unset, libcurl's environment handling (https_proxy, no_proxy).
 *
 * Ownership and timing
 *   - net_curl_create allocates the returned handle; net_curl_destroy frees it.
 *     Options are copied; the caller may free them after create returns.
 *   - request() copies method, URL, headers and body before it returns.
 *   - done() callbacks fire ONLY inside net_curl_wait(), never inside
 *     request(), cancel() or destroy(); exactly once per accepted request
 *     unless cancelled first. The response is valid only during done().
 *     A done() callback may call request() and cancel(); it must not call
 *     net_curl_wait() or net_curl_destroy().
 *   - net_curl_destroy cancels every transfer without calling done().
 *   - The shim from net_curl_shim() points into *nc: valid until destroy.
 *   - Calls curl_global_init on create and curl_global_cleanup on destroy
 *     (libcurl reference-counts them); create/destroy are not thread-safe.
 *
 * Return codes
 *   net_curl_create: NET_OK, NET_EINVAL (no readable ca_file while https is
 *   the only scheme allowed, NULL out), NET_ENOMEM, NET_EIO (libcurl init).
 *   request(): NET_OK, NET_EINVAL (URL too long/unparsable/not allowed, bad
 *   method, header with CR/LF or more than NET_MAX_HEADERS, timeout_ms <= 0,
 *   max_response_bytes == 0, https without a ca_file), NET_EBUSY
 *   (max_in_flight reached), NET_ENOMEM.
 *   done() errors: NET_EDNS, NET_ECONNECT, NET_ETLS, NET_ETIMEDOUT,
 *   NET_ETOOBIG, NET_ENOMEM, NET_EIO.
 *   net_curl_wait: the number of done() callbacks it fired (>= 0), or NET_EIO.
 */
#ifndef OUTPOST_CURL_NET_CURL_H
#define OUTPOST_CURL_NET_CURL_H

#include <stdint.h>

#include "shim/net.h"

#define NET_CURL_DEFAULT_IN_FLIGHT 8
#define NET_CURL_MAX_IN_FLIGHT 256
#define NET_CURL_HEADER_MAX 1024 /* a response header line longer than this is dropped */

typedef struct net_curl net_curl;

typedef struct net_curl_options {
  const char *ca_file;           /* PEM bundle; required for https */
  unsigned max_in_flight;        /* 0 = NET_CURL_DEFAULT_IN_FLIGHT; capped at NET_CURL_MAX_IN_FLIGHT */
  const char *user_agent;        /* NULL = "outpost-agent/<version>" */
  int allow_plain_http_loopback; /* default 0; 1 only for tests and tools */
  /* Enterprise proxy (issue #3). NULL/"" proxy: libcurl's environment
   * handling (https_proxy/HTTPS_PROXY, no_proxy/NO_PROXY) stays in force.
   * Set: every https request tunnels through it with CONNECT (the TLS
   * session to the cloud is end to end, verified against ca_file as
   * always); an https:// proxy is verified against proxy_ca_file. */
  const char *proxy;             /* http://host:port or https://host:port */
  const char *proxy_ca_file;     /* PEM for an https:// proxy; NULL = ca_file */
  const char *no_proxy;          /* comma-separated hosts that bypass the proxy */
} net_curl_options;

void net_curl_options_init(net_curl_options *opts);

int net_curl_create(const net_curl_options *opts, net_curl **out);

/* Fills *out with the net shim backed by nc. */
void net_curl_shim(net_curl *nc, net_shim *out);

/* Waits up to timeout_ms (clamped to 0..60000) for network activity, drives
 * every transfer, then fires done() for each finished one. */
int net_curl_wait(net_curl *nc, int64_t timeout_ms);

/* Number of requests accepted and not yet completed or cancelled. */
unsigned net_curl_in_flight(const net_curl *nc);

/* Cancels everything (no callbacks) and frees nc. Safe on NULL. */
void net_curl_destroy(net_curl *nc);

#endif
