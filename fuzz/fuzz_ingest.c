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
}

static void via_cloud(int64_t first, int64_t last, const uint8_t *body, size_t len) {
  /* Reopen now and then so the in-memory store does not grow without bound. */
  if (!g.c || ++g.runs % 20000 == 0 || g.quarantined) cloud_setup();
  g.quarantined = 0;
  g.env.now++; /* a new time per request: the same signed request twice is a replay */
  char t[32], fs[32], ls[32], mac[65];
  snprintf(t, sizeof t, "%lld", (long long)g.env.now);
  snprintf(fs, sizeof fs, "%lld", (long long)first);
  snprintf(ls, sizeof ls, "%lld", (long long)last);
  wire_request_mac(g.key, 32, "POST", "/v1/ingest", g.env.now, body, len, FUZZ_INSTANCE,
                   WIRE_RATCHET_NONE, mac);
  mc_header h[] = {{WIRE_HDR_SESSION, g.sid},         {WIRE_HDR_TIME, t},
                   {WIRE_HDR_SIGNATURE, mac},         {WIRE_HDR_FIRST_SEQ, fs},
                   {WIRE_HDR_LAST_SEQ, ls},           {WIRE_HDR_INSTANCE, FUZZ_INSTANCE},
                   {WIRE_HDR_RATCHET, WIRE_RATCHET_NONE}};
  int64_t before = mc_agent_record_count(g.c, g.agent);
  mc_response r = post("/v1/ingest", h, 7, body, len);
  /* A held seq with other content quarantines the instance (clone evidence):
   * start over with a fresh cloud so later inputs still reach the store. */
  if (r.status == 409) g.quarantined = 1;
  int64_t after = mc_agent_record_count(g.c, g.agent);
  if (r.status != 200 && after != before) abort(); /* a refusal changed the store */
  if (r.status == 200 && after - before > last - first + 1) abort();
  if (r.status != 200 && (r.status < 400 || r.status > 499)) abort();
  int64_t cnt, lo, hi;
  if (mc_agent_seq_summary(g.c, g.agent, &cnt, &lo, &hi) != MC_OK) abort();
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
