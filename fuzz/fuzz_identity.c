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
#include "mc.h"

/* ---- the mc_handle half: one enrolled agent with an open session ---- */

typedef struct fenv {
  int64_t now;
  uint64_t rng;
} fenv;

static int64_t f_wall(void *ctx) { return ((fenv *)ctx)->now; }
static int f_random(void *ctx, unsigned char *buf, size_t len) {
  uint64_t *s = &((fenv *)ctx)->rng;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (unsigned char)(*s >> 24);
  }
  return 0;
}

static struct {
  fenv env;
  mc_cloud *c;
  char agent[MC_AGENT_ID_LEN + 1];
  char sid[64];
  uint8_t key[32];
  unsigned runs;
  int quarantined;
  char ratchet[33];
} g;

#define FUZZ_INSTANCE "0123456789abcdef0123456789abcdef"

static char *json_field(const mc_response *r, const char *name, char *out, size_t cap) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", name);
  const char *p = r->body ? strstr((const char *)r->body, pat) : NULL;
  if (!p) abort();
  p += strlen(pat);
  const char *e = strchr(p, '"');
  if (!e || (size_t)(e - p) >= cap) abort();
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = 0;
  return out;
}

static mc_response post(const char *path, const mc_header *h, size_t nh, const void *b, size_t n) {
  mc_request req = {"POST", path, h, nh, b, n};
  mc_response resp;
  if (mc_handle(g.c, &req, &resp) != MC_OK) abort();
  return resp;
}

static void cloud_setup(void) {
  if (g.c) mc_close(g.c);
  memset(&g, 0, sizeof g);
  g.env.now = 1764380000000;
  g.env.rng = 0x12345;
  mc_env env = {&g.env, f_wall, f_random};
  char token[MC_TOKEN_MAX], body[512], b64[256], sig_b64[200], chal[128], msg[256];
  if (mc_open(":memory:", &env, NULL, &g.c, NULL, 0) != MC_OK) abort();
  if (mc_workspace_add(g.c, "fuzz", token, sizeof token) != MC_OK) abort();
  uint8_t key[CRYPTO_KEY_DER_MAX], pub[CRYPTO_PUB_DER_MAX], sig[CRYPTO_SIG_MAX];
  size_t klen, plen, slen, n;
  if (crypto_ec_generate(f_random, &g.env, key, sizeof key, &klen) ||
      crypto_ec_public_from_private(key, klen, pub, sizeof pub, &plen) ||
      crypto_b64_encode(pub, plen, b64, sizeof b64, &n))
    abort();
  int bl = snprintf(body, sizeof body,
                    "{\"token\":\"%s\",\"public_key\":\"%s\",\"hostname\":\"h\","
                    "\"machine_id\":\"m\",\"agent_version\":\"0\"}",
                    token, b64);
  if (crypto_ec_sign(key, klen, body, (size_t)bl, f_random, &g.env, sig, sizeof sig, &slen) ||
      crypto_b64_encode(sig, slen, sig_b64, sizeof sig_b64, &n))
    abort();
  mc_header ph = {WIRE_HDR_PROOF, sig_b64};
  mc_response r = post("/v1/enroll", &ph, 1, body, (size_t)bl);
  if (r.status != 201) abort();
  json_field(&r, "agent_id", g.agent, sizeof g.agent);
  mc_response_free(&r);
  bl = snprintf(body, sizeof body, "{\"agent_id\":\"%s\"}", g.agent);
  r = post("/v1/challenge", NULL, 0, body, (size_t)bl);
  json_field(&r, "challenge", chal, sizeof chal);
  mc_response_free(&r);
  int ml = wire_session_message(g.agent, chal, FUZZ_INSTANCE, msg, sizeof msg);
  if (ml < 0 ||
      crypto_ec_sign(key, klen, msg, (size_t)ml, f_random, &g.env, sig, sizeof sig, &slen) ||
      crypto_b64_encode(sig, slen, sig_b64, sizeof sig_b64, &n))
    abort();
  bl = snprintf(body, sizeof body,
                "{\"agent_id\":\"%s\",\"challenge\":\"%s\",\"signature\":\"%s\","
                "\"instance\":\"%s\"}",
                g.agent, chal, sig_b64, FUZZ_INSTANCE);
  r = post("/v1/session", NULL, 0, body, (size_t)bl);
  if (r.status != 200) abort();
  json_field(&r, "session_id", g.sid, sizeof g.sid);
  json_field(&r, "session_key", b64, sizeof b64);
  mc_response_free(&r);
  if (crypto_b64_decode(b64, strlen(b64), g.key, sizeof g.key, &n) || n != 32) abort();
  strcpy(g.ratchet, WIRE_RATCHET_NONE);
}

static void checkin(const uint8_t *body, size_t len) {
  if (!g.c || ++g.runs % 20000 == 0) cloud_setup();
  g.env.now++; /* a new time per request: the same signed request twice is a replay */
  char t[32], mac[65];
  snprintf(t, sizeof t, "%lld", (long long)g.env.now);
  wire_request_mac(g.key, 32, "POST", "/v1/checkin", g.env.now, body, len, FUZZ_INSTANCE,
                   g.ratchet, mac);
  mc_header h[] = {{WIRE_HDR_SESSION, g.sid},          {WIRE_HDR_TIME, t},
                   {WIRE_HDR_SIGNATURE, mac},          {WIRE_HDR_INSTANCE, FUZZ_INSTANCE},
                   {WIRE_HDR_RATCHET, g.ratchet}};
  int64_t before = mc_total_records(g.c);
  mc_response r = post("/v1/checkin", h, 5, body, len);
  if (r.status == 200) {
    char next[64];
    json_field(&r, "ratchet_next", next, sizeof next);
    if (!wire_is_hex_id(next)) abort();
    memcpy(g.ratchet, next, 33); /* as the agent does: present it from now on */
  } else if (r.status < 400 || r.status > 499) {
    abort();
  }
  mc_response_free(&r);
  if (mc_total_records(g.c) != before) abort();
  if (mc_alert_count(g.c, NULL) != 0) abort();
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
