/* fz_cloud.c - see fz_cloud.h. */
#include "fz_cloud.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/wire.h"

static int64_t fz_wall(void *ctx) { return ((fz_cloud *)ctx)->now; }

static int fz_random(void *ctx, unsigned char *buf, size_t len) {
  uint64_t *s = &((fz_cloud *)ctx)->rng;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (unsigned char)(*s >> 24);
  }
  return 0;
}

char *fz_json_field(const mc_response *r, const char *name, char *out, size_t cap) {
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

mc_response fz_post(fz_cloud *g, const char *path, const mc_header *h, size_t nh,
                    const void *body, size_t len) {
  mc_request req = {"POST", path, h, nh, body, len};
  mc_response resp;
  if (mc_handle(g->c, &req, &resp) != MC_OK) abort();
  return resp;
}

mc_response fz_signed_post(fz_cloud *g, const char *path, const mc_header *extra,
                           size_t n_extra, const void *body, size_t len) {
  char t[32], mac[65];
  snprintf(t, sizeof t, "%lld", (long long)g->now);
  wire_request_mac(g->key, sizeof g->key, "POST", path, g->now, body, len, FZ_INSTANCE,
                   g->ratchet, mac);
  mc_header h[9] = {{WIRE_HDR_SESSION, g->sid},
                    {WIRE_HDR_TIME, t},
                    {WIRE_HDR_SIGNATURE, mac},
                    {WIRE_HDR_INSTANCE, FZ_INSTANCE},
                    {WIRE_HDR_RATCHET, g->ratchet}};
  size_t n = 5;
  for (size_t i = 0; i < n_extra && n < 9; i++) h[n++] = extra[i];
  return fz_post(g, path, h, n, body, len);
}

void fz_cloud_open(fz_cloud *g) {
  fz_cloud_close(g);
  memset(g, 0, sizeof *g);
  g->now = 1764380000000;
  g->rng = 0x12345;
  snprintf(g->ratchet, sizeof g->ratchet, "%s", WIRE_RATCHET_NONE);
  mc_env env = {g, fz_wall, fz_random};
  char token[MC_TOKEN_MAX], body[512], b64[256], sig_b64[200], chal[128], msg[256];
  if (mc_open(":memory:", &env, NULL, &g->c, NULL, 0) != MC_OK) abort();
  if (mc_workspace_add(g->c, "fuzz", token, sizeof token) != MC_OK) abort();
  uint8_t key[CRYPTO_KEY_DER_MAX], pub[CRYPTO_PUB_DER_MAX], sig[CRYPTO_SIG_MAX];
  size_t klen, plen, slen, n;
  if (crypto_ec_generate(fz_random, g, key, sizeof key, &klen) ||
      crypto_ec_public_from_private(key, klen, pub, sizeof pub, &plen) ||
      crypto_b64_encode(pub, plen, b64, sizeof b64, &n))
    abort();
  int bl = snprintf(body, sizeof body,
                    "{\"token\":\"%s\",\"public_key\":\"%s\",\"hostname\":\"h\","
                    "\"machine_id\":\"m\",\"agent_version\":\"0\"}",
                    token, b64);
  if (crypto_ec_sign(key, klen, body, (size_t)bl, fz_random, g, sig, sizeof sig, &slen) ||
      crypto_b64_encode(sig, slen, sig_b64, sizeof sig_b64, &n))
    abort();
  mc_header ph = {WIRE_HDR_PROOF, sig_b64};
  mc_response r = fz_post(g, "/v1/enroll", &ph, 1, body, (size_t)bl);
  if (r.status != 201) abort();
  fz_json_field(&r, "agent_id", g->agent, sizeof g->agent);
  mc_response_free(&r);
  bl = snprintf(body, sizeof body, "{\"agent_id\":\"%s\"}", g->agent);
  r = fz_post(g, "/v1/challenge", NULL, 0, body, (size_t)bl);
  fz_json_field(&r, "challenge", chal, sizeof chal);
  mc_response_free(&r);
  int ml = wire_session_message(g->agent, chal, FZ_INSTANCE, msg, sizeof msg);
  if (ml < 0 ||
      crypto_ec_sign(key, klen, msg, (size_t)ml, fz_random, g, sig, sizeof sig, &slen) ||
      crypto_b64_encode(sig, slen, sig_b64, sizeof sig_b64, &n))
    abort();
  bl = snprintf(body, sizeof body,
                "{\"agent_id\":\"%s\",\"challenge\":\"%s\",\"signature\":\"%s\","
                "\"instance\":\"%s\"}",
                g->agent, chal, sig_b64, FZ_INSTANCE);
  r = fz_post(g, "/v1/session", NULL, 0, body, (size_t)bl);
  if (r.status != 200) abort();
  fz_json_field(&r, "session_id", g->sid, sizeof g->sid);
  fz_json_field(&r, "session_key", b64, sizeof b64);
  mc_response_free(&r);
  if (crypto_b64_decode(b64, strlen(b64), g->key, sizeof g->key, &n) || n != 32) abort();
}

void fz_cloud_close(fz_cloud *g) {
  if (g->c) mc_close(g->c);
  g->c = NULL;
}
