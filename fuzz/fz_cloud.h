/* fz_cloud.h - fuzz support: one mock cloud on an in-memory store with one
 * enrolled agent holding an open session, and correctly signed requests to
 * it, for the targets that fuzz the cloud's request path (fuzz_ingest,
 * fuzz_identity, fuzz_shed). Not a target itself (no fuzz_ prefix).
 *
 * Ownership: fz_cloud is a plain struct of the caller's; fz_cloud_open fills
 * it (closing a cloud it already holds), fz_cloud_close frees the cloud. A
 * returned mc_response is the caller's to mc_response_free. Every function
 * aborts on a set-up failure: that is a broken harness, not a finding.
 */
#ifndef OUTPOST_FUZZ_FZ_CLOUD_H
#define OUTPOST_FUZZ_FZ_CLOUD_H

#include <stddef.h>
#include <stdint.h>

#include "mc.h"

#define FZ_INSTANCE "0123456789abcdef0123456789abcdef"

typedef struct fz_cloud {
  int64_t now;  /* the cloud's wall clock; callers advance it per request */
  uint64_t rng; /* xorshift state: runs are reproducible */
  mc_cloud *c;
  char agent[MC_AGENT_ID_LEN + 1];
  char sid[64];
  uint8_t key[32];
  char ratchet[33]; /* presented on signed requests; WIRE_RATCHET_NONE at first */
} fz_cloud;

/* Opens the cloud, enrolls one agent with proof of possession and opens a
 * session for instance FZ_INSTANCE. */
void fz_cloud_open(fz_cloud *g);
void fz_cloud_close(fz_cloud *g); /* safe on a closed one */

/* An unsigned POST through mc_handle. */
mc_response fz_post(fz_cloud *g, const char *path, const mc_header *h, size_t nh,
                    const void *body, size_t len);
/* A POST signed with the session at time g->now (session, time, signature,
 * instance and ratchet headers, then up to 4 extra ones). */
mc_response fz_signed_post(fz_cloud *g, const char *path, const mc_header *extra,
                           size_t n_extra, const void *body, size_t len);
/* The string field name of a JSON reply into out (aborts when absent). */
char *fz_json_field(const mc_response *r, const char *name, char *out, size_t cap);

#endif
