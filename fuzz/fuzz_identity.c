/* fuzz_identity.c - libFuzzer target for the identity parsers (issue #4).
 *
 * Input: byte 0 = mode, the rest = text.
 *   mode bit 0 clear: ident_parse (the agent's identity.json).
 *   mode bit 0 set:   a correctly signed POST /v1/checkin with the text as body
 *                     through mc_handle (ratchet and instance rules, drift
 *                     reports into the events table).
 * Invariants: a parsed identity has a 32-hex agent id and a valid ratchet; a
 * check-in answers 200 with a 32-hex ratchet_next, or a 4xx; a check-in never
 * changes the record count and never raises a clone alert (one process, one
 * ratchet: nothing here is a clone).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/wire.h"
#include "core/ident.h"
#include "fz_cloud.h"
#include "mc.h"

/* ---- the mc_handle half: one enrolled agent with an open session ---- */

static struct {
  fz_cloud fz;
  unsigned runs;
} g;

static void checkin(const uint8_t *body, size_t len) {
  if (!g.fz.c || ++g.runs % 20000 == 0) fz_cloud_open(&g.fz);
  g.fz.now++; /* a new time per request: the same signed request twice is a replay */
  int64_t before = mc_total_records(g.fz.c);
  mc_response r = fz_signed_post(&g.fz, "/v1/checkin", NULL, 0, body, len);
  if (r.status == 200) {
    char next[64];
    fz_json_field(&r, "ratchet_next", next, sizeof next);
    if (!wire_is_hex_id(next)) abort();
    memcpy(g.fz.ratchet, next, 33); /* as the agent does: present it from now on */
  } else if (r.status < 400 || r.status > 499) {
    abort();
  }
  mc_response_free(&r);
  if (mc_total_records(g.fz.c) != before) abort();
  if (mc_alert_count(g.fz.c, NULL) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 1) {
    checkin(data + 1, size - 1);
    return 0;
  }
  ident id;
  memset(&id, 0, sizeof id);
  if (ident_parse(&id, (const char *)data + 1, size - 1) == IDENT_OK) {
    if (!wire_is_hex_id(id.agent_id)) abort();
    if (!wire_is_hex_id(id.ratchet) && strcmp(id.ratchet, WIRE_RATCHET_NONE) != 0) abort();
    if (id.cloned_from[0] && !wire_is_hex_id(id.cloned_from)) abort();
  }
  return 0;
}
