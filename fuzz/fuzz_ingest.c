/* fuzz_ingest.c - libFuzzer target for the cloud's ingest path.
 *
 * Input layout: byte 0 = mode, byte 1 = first_seq - 1, byte 2 = record count - 1,
 * the rest = the request body (a zstd frame when well formed).
 *   mode bit 0 clear: wire_batch_decode directly.
 *   mode bit 0 set:   a correctly signed POST /v1/ingest through mc_handle
 *                     against an in-memory store, so decode + store + reply run.
 * Invariants checked: a successful decode reports exactly count records with
 * consecutive seqs; a rejected ingest changes no record count.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/wire.h"
#include "fz_cloud.h"
#include "mc.h"

typedef struct check {
  int64_t next;
  size_t n;
} check;

static int on_record(void *user, const wire_record *r) {
  check *c = user;
  if (r->seq != c->next) abort();
  if (strlen(r->source) != r->source_len || strlen(r->line) != r->line_len) abort();
  if (r->source_len > WIRE_MAX_SOURCE || r->line_len > WIRE_MAX_LINE) abort();
  c->next++;
  c->n++;
  return 0;
}

/* ---- the mc_handle half: one enrolled agent with an open session ---- */

static struct {
  fz_cloud fz;
  unsigned runs;
  int quarantined;
} g;

static void via_cloud(int64_t first, int64_t last, const uint8_t *body, size_t len) {
  /* Reopen now and then so the in-memory store does not grow without bound. */
  if (!g.fz.c || ++g.runs % 20000 == 0 || g.quarantined) fz_cloud_open(&g.fz);
  g.quarantined = 0;
  g.fz.now++; /* a new time per request: the same signed request twice is a replay */
  char fs[32], ls[32];
  snprintf(fs, sizeof fs, "%lld", (long long)first);
  snprintf(ls, sizeof ls, "%lld", (long long)last);
  mc_header h[] = {{WIRE_HDR_FIRST_SEQ, fs}, {WIRE_HDR_LAST_SEQ, ls}};
  int64_t before = mc_agent_record_count(g.fz.c, g.fz.agent);
  mc_response r = fz_signed_post(&g.fz, "/v1/ingest", h, 2, body, len);
  /* A held seq with other content quarantines the instance (clone evidence):
   * start over with a fresh cloud so later inputs still reach the store. */
  if (r.status == 409) g.quarantined = 1;
  int64_t after = mc_agent_record_count(g.fz.c, g.fz.agent);
  if (r.status != 200 && after != before) abort(); /* a refusal changed the store */
  if (r.status == 200 && after - before > last - first + 1) abort();
  if (r.status != 200 && (r.status < 400 || r.status > 499)) abort();
  int64_t cnt, lo, hi;
  if (mc_agent_seq_summary(g.fz.c, g.fz.agent, &cnt, &lo, &hi) != MC_OK) abort();
  if (cnt > 0 && (lo < 1 || hi < lo || hi - lo + 1 < cnt)) abort();
  mc_response_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  int64_t first = 1 + (int64_t)data[1];
  int64_t last = first + (int64_t)data[2];
  const uint8_t *body = data + 3;
  size_t len = size - 3;
  if (data[0] & 1) {
    via_cloud(first, last, body, len);
    return 0;
  }
  check c = {first, 0};
  char err[256];
  int rc = wire_batch_decode(len ? body : NULL, len, first, last, on_record, &c, err, sizeof err);
  if (rc == WIRE_OK && c.n != (size_t)(last - first + 1)) abort();
  if (rc != WIRE_OK && c.n != 0) abort(); /* reported records from a rejected batch */
  if (rc != WIRE_OK && strlen(err) == 0) abort();
  return 0;
}
