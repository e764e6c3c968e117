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
#include "mc.h"

/* ---- one enrolled agent with an open session (as in fuzz_ingest.c) ---- */

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
} g;

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
  int ml = wire_session_message(g.agent, chal, msg, sizeof msg);
  if (ml < 0 ||
      crypto_ec_sign(key, klen, msg, (size_t)ml, f_random, &g.env, sig, sizeof sig, &slen) ||
      crypto_b64_encode(sig, slen, sig_b64, sizeof sig_b64, &n))
    abort();
  bl = snprintf(body, sizeof body, "{\"agent_id\":\"%s\",\"challenge\":\"%s\",\"signature\":\"%s\"}",
                g.agent, chal, sig_b64);
  r = post("/v1/session", NULL, 0, body, (size_t)bl);
  if (r.status != 200) abort();
  json_field(&r, "session_id", g.sid, sizeof g.sid);
  json_field(&r, "session_key", b64, sizeof b64);
  mc_response_free(&r);
  if (crypto_b64_decode(b64, strlen(b64), g.key, sizeof g.key, &n) || n != 32) abort();
}

typedef struct shed_sum {
  int64_t reports, records, bytes;
} shed_sum;

static shed_sum summary(void) {
  shed_sum s;
  if (mc_agent_shed_summary(g.c, g.agent, &s.reports, &s.records, &s.bytes) != MC_OK) abort();
  return s;
}

static int send_shed(const uint8_t *body, size_t len) {
  char t[32], mac[65];
  snprintf(t, sizeof t, "%lld", (long long)g.env.now);
  wire_request_mac(g.key, 32, "POST", "/v1/shed", g.env.now, body, len, mac);
  mc_header h[] = {{WIRE_HDR_SESSION, g.sid}, {WIRE_HDR_TIME, t}, {WIRE_HDR_SIGNATURE, mac}};
  mc_response r = post("/v1/shed", h, 3, body, len);
  int status = r.status;
  mc_response_free(&r);
  return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Reopen now and then so the in-memory store does not grow without bound. */
  if (!g.c || ++g.runs % 20000 == 0) cloud_setup();
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
