/* cloud_serve.h - outpost-cloud serve (prefix srv_): the mock cloud
 * (mc_handle) behind libmicrohttpd with TLS, on loopback only, one internal
 * thread so mc_handle is never called concurrently. It also serves the
 * release repository's files (DATA/repo/metadata, DATA/repo/targets: GET
 * only, names of our own making only) and, when there is a repository,
 * re-signs timestamp/snapshot through the token on a timer. It never opens
 * the root keys' directory.
 */
#ifndef OUTPOST_MOCKCLOUD_CLOUD_SERVE_H
#define OUTPOST_MOCKCLOUD_CLOUD_SERVE_H

#include <stdint.h>

/* Accepts only 127.0.0.1:PORT or localhost:PORT (PORT 0: any free port)
 * into *port. 0, or -1 for anything else. */
int srv_parse_listen(const char *s, uint16_t *port);

/* Serves the store in dir on listen (as srv_parse_listen accepts it) until
 * SIGINT or SIGTERM, printing "listening on https://127.0.0.1:PORT" on
 * stdout once ready. probation_s: mc_options.probation_s (mc.h). Returns
 * the process exit code: 0 after a stop signal, 1 when the store,
 * certificates or token cannot be opened or the port not bound, 2 for a
 * listen address srv_parse_listen refuses. */
/* capture_dir (NULL: none): each signed request is written, as received and
 * before it is handled, to capture_dir/<session id>.req (method and path,
 * the X-Outpost-* and Content-Type headers, a blank line, the body),
 * replacing that session's previous one: what an attacker on the path past
 * TLS would hold, for `outpost-sim run --real` to replay. A test facility. */
/* refuse_ingest_s (0: none): for that many seconds after it listens, every
 * POST /v1/ingest is answered 503 unavailable or 429 rate_limited, in turn,
 * with Retry-After: 1, before it is read: the load test of issue #14 (an
 * agent under refusals keeps its memory flat and loses nothing). */
int srv_run(const char *dir, const char *listen, int64_t probation_s, const char *capture_dir,
            int64_t refuse_ingest_s);

#endif
