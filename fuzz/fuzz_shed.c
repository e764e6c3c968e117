/* fuzz_shed.c - libFuzzer target for the cloud's POST /v1/shed handling.
 *
 * The input is the request body, sent as a correctly signed POST /v1/shed
 * through mc_handle against an in-memory store (decode + validate + store +
 * reply all run). Invariants checked:
 *   - the reply is 200 or a 4xx (never a 5xx on an in-memory store);
 *   - a refused report changes nothing (reports, records, bytes);
 *   - an accepted one never lowers the agent's shed account, adds at most as
 *     many report rows as it carried, and a repeat of it changes nothing
 *     (idempotent by agent and first_seq).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/wire.h"
#include "fz_cloud.h"
#include "mc.h"

/* ---- one enrolled agent with an open session (fz_cloud.h) ---- */

static struct {
  fz_cloud fz;
  unsigned runs;
} g;

typedef struct shed_sum {
  int64_t reports, records, bytes;
} shed_sum;

static shed_sum summary(void) {
  shed_sum s;
  if (mc_agent_shed_summary(g.fz.c, g.fz.agent, &s.reports, &s.records, &s.bytes) != MC_OK) abort();
  return s;
}

static int send_shed(const uint8_t *body, size_t len) {
  g.fz.now++; /* a new time per request: the same signed request twice is a replay */
  mc_response r = fz_signed_post(&g.fz, "/v1/shed", NULL, 0, body, len);
  int status = r.status;
  mc_response_free(&r);
  return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Reopen now and then so the in-memory store does not grow without bound. */
  if (!g.fz.c || ++g.runs % 20000 == 0) fz_cloud_open(&g.fz);
  shed_sum before = summary();
  int status = send_shed(size ? data : NULL, size);
  shed_sum after = summary();
  if (status != 200) {
    if (status < 400 || status > 499) abort();
    if (after.reports != before.reports || after.records != before.records ||
        after.bytes != before.bytes)
      abort(); /* a refusal changed the store */
    return 0;
  }
  if (after.records < before.records || after.reports < before.reports) abort();
  if (after.reports - before.reports > 64) abort(); /* at most one row per entry */
  if (send_shed(data, size) != 200) abort();       /* same report again */
  shed_sum again = summary();
  if (again.reports != after.reports || again.records != after.records ||
      again.bytes != after.bytes)
    abort(); /* not idempotent */
  return 0;
}
