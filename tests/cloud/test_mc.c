/* Tests for the mock cloud library: mc_handle driven directly with a fake env. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "common/crypto.h"
#include "common/wire.h"
#include "mc.h"
#include "mc_int.h" /* the store handle, to break it (issue #17) */
#include "mc_metrics.h"
#include "mc_rings.h"

typedef struct fake_env {
  int64_t now;
  uint64_t rng;
} fake_env;

static int64_t fake_wall(void *ctx) { return ((fake_env *)ctx)->now; }

static int fake_random(void *ctx, unsigned char *buf, size_t len) {
  uint64_t *s = &((fake_env *)ctx)->rng;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (unsigned char)(*s >> 24);
  }
  return 0;
}

typedef struct fixture {
  fake_env env;
  mc_cloud *c;
  char token[MC_TOKEN_MAX];
  uint8_t key[CRYPTO_KEY_DER_MAX];
  size_t key_len;
  char agent_id[MC_AGENT_ID_LEN + 1];
  char session_id[64];
  uint8_t session_key[32];
  char instance[33];
  char ratchet[33];
} fixture;

static int setup_with(void **state, int commit_every) {
  fixture *f = calloc(1, sizeof *f);
  f->env.now = 1764380000000;
  f->env.rng = 0x9e3779b97f4a7c15ull;
  mc_env env = {&f->env, fake_wall, fake_random};
  char err[128];
  mc_options mo = {.probation_s = 360, .commit_every = commit_every};
  assert_int_equal(mc_open(":memory:", &env, &mo, &f->c, err, sizeof err), MC_OK);
  assert_int_equal(mc_workspace_add(f->c, "acme", f->token, sizeof f->token), MC_OK);
  assert_int_equal(strncmp(f->token, "otk_", 4), 0);
  assert_int_equal(strlen(f->token), 47);
  assert_int_equal(crypto_ec_generate(fake_random, &f->env, f->key, sizeof f->key, &f->key_len),
                   CRYPTO_OK);
  strcpy(f->instance, "00000000000000000000000000000001");
  strcpy(f->ratchet, WIRE_RATCHET_NONE);
  *state = f;
  return 0;
}

static int setup(void **state) { return setup_with(state, 0); }
/* The simulator's store: requests are savepoints in a transaction that
 * commits every 2 of them (mc_options.commit_every). */
static int setup_batched(void **state) { return setup_with(state, 2); }

static int teardown(void **state) {
  fixture *f = *state;
  mc_close(f->c);
  free(f);
  return 0;
}

/* Sends a request; returns the status and keeps the body in *json (caller frees). */
static int send(fixture *f, const char *method, const char *path, const mc_header *h, size_t nh,
                const void *body, size_t len, cJSON **json) {
  mc_request req = {method, path, h, nh, body, len};
  mc_response resp;
  assert_int_equal(mc_handle(f->c, &req, &resp), MC_OK);
  assert_true(strlen(resp.date) > 20);
  assert_non_null(strstr(resp.date, " GMT"));
  assert_string_equal(resp.content_type, "application/json");
  cJSON *j = cJSON_ParseWithLength((const char *)resp.body, resp.body_len);
  assert_non_null(j);
  if (resp.status >= 400) {
    assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "error")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "message")));
  }
  int status = resp.status;
  mc_response_free(&resp);
  if (json)
    *json = j;
  else
    cJSON_Delete(j);
  return status;
}

static const char *jstr(cJSON *j, const char *k) {
  cJSON *v = cJSON_GetObjectItem(j, k);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

static void expect_error(cJSON *j, const char *code) {
  assert_string_equal(jstr(j, "error"), code);
  cJSON_Delete(j);
}

static int enroll_body(fixture *f, const char *token, char *body, size_t cap) {
  uint8_t pub[CRYPTO_PUB_DER_MAX];
  size_t plen, blen;
  char pub_b64[200];
  assert_int_equal(crypto_ec_public_from_private(f->key, f->key_len, pub, sizeof pub, &plen),
                   CRYPTO_OK);
  assert_int_equal(crypto_b64_encode(pub, plen, pub_b64, sizeof pub_b64, &blen), CRYPTO_OK);
  return snprintf(body, cap,
                  "{\"token\":\"%s\",\"public_key\":\"%s\",\"hostname\":\"h1\","
                  "\"machine_id\":\"m1\",\"agent_version\":\"0.1.0\"}",
                  token, pub_b64);
}

static void sign_b64(fixture *f, const void *msg, size_t len, char *out, size_t cap) {
  uint8_t sig[CRYPTO_SIG_MAX];
  size_t slen, olen;
  assert_int_equal(
      crypto_ec_sign(f->key, f->key_len, msg, len, fake_random, &f->env, sig, sizeof sig, &slen),
      CRYPTO_OK);
  assert_int_equal(crypto_b64_encode(sig, slen, out, cap, &olen), CRYPTO_OK);
}

static void do_enroll(fixture *f) {
  char body[512], proof[200];
  int n = enroll_body(f, f->token, body, sizeof body);
  sign_b64(f, body, (size_t)n, proof, sizeof proof);
  mc_header h = {"x-outpost-proof", proof};
  cJSON *j;
  assert_int_equal(send(f, "POST", "/v1/enroll", &h, 1, body, (size_t)n, &j), 201);
  assert_int_equal(strlen(jstr(j, "agent_id")), MC_AGENT_ID_LEN);
  assert_string_equal(jstr(j, "workspace"), "acme");
  strcpy(f->agent_id, jstr(j, "agent_id"));
  cJSON_Delete(j);
  assert_int_equal(mc_agent_record_count(f->c, f->agent_id), 0);
}

static void get_challenge(fixture *f, char *chal, size_t cap) {
  char body[128];
  int n = snprintf(body, sizeof body, "{\"agent_id\":\"%s\"}", f->agent_id);
  cJSON *j;
  assert_int_equal(send(f, "POST", "/v1/challenge", NULL, 0, body, (size_t)n, &j), 200);
  snprintf(chal, cap, "%s", jstr(j, "challenge"));
  cJSON_Delete(j);
}

static int session_request(fixture *f, const char *chal, int corrupt, cJSON **j) {
  char msg[256], sig[200], body[512];
  int m = wire_session_message(f->agent_id, chal, f->instance, msg, sizeof msg);
  assert_true(m > 0);
  if (corrupt) msg[m - 1] ^= 1;
  sign_b64(f, msg, (size_t)m, sig, sizeof sig);
  int n = snprintf(body, sizeof body,
                   "{\"agent_id\":\"%s\",\"challenge\":\"%s\",\"signature\":\"%s\","
                   "\"instance\":\"%s\"}",
                   f->agent_id, chal, sig, f->instance);
  return send(f, "POST", "/v1/session", NULL, 0, body, (size_t)n, j);
}

static void open_session(fixture *f) {
  char chal[128];
  get_challenge(f, chal, sizeof chal);
  cJSON *j;
  assert_int_equal(session_request(f, chal, 0, &j), 200);
  snprintf(f->session_id, sizeof f->session_id, "%s", jstr(j, "session_id"));
  size_t klen;
  const char *k = jstr(j, "session_key");
  assert_int_equal(crypto_b64_decode(k, strlen(k), f->session_key, sizeof f->session_key, &klen),
                   CRYPTO_OK);
  assert_int_equal(klen, 32);
  cJSON_Delete(j);
}

static uint8_t *make_batch(int64_t first, int64_t last, size_t *len) {
  wire_batch_enc e;
  wire_batch_enc_init(&e, 0);
  for (int64_t s = first; s <= last; s++) {
    char line[64];
    snprintf(line, sizeof line, "line %lld \"quoted\"\n", (long long)s);
    wire_record r = {s, 1764380000000 + s, "/var/log/app.log", 16, line, strlen(line)};
    assert_int_equal(wire_batch_enc_add(&e, &r), WIRE_OK);
  }
  uint8_t *out;
  assert_int_equal(wire_batch_enc_finish(&e, 1, &out, len), WIRE_OK);
  wire_batch_enc_free(&e);
  return out;
}

/* Signed ingest. time_off shifts the agent clock; mac_bad corrupts the MAC. */
static int ingest_raw(fixture *f, const char *sid, int64_t first, int64_t last, const uint8_t *b,
                      size_t len, int64_t time_off, int mac_bad, cJSON **j) {
  char t[32], fs[32], ls[32], mac[65];
  f->env.now++; /* every request a new time: an identical one is a replay */
  int64_t at = f->env.now + time_off;
  snprintf(t, sizeof t, "%lld", (long long)at);
  snprintf(fs, sizeof fs, "%lld", (long long)first);
  snprintf(ls, sizeof ls, "%lld", (long long)last);
  wire_request_mac(f->session_key, 32, "POST", "/v1/ingest", at, b, len, f->instance, f->ratchet,
                   mac);
  if (mac_bad) mac[0] = mac[0] == 'a' ? 'b' : 'a';
  mc_header h[] = {{WIRE_HDR_SESSION, sid},     {WIRE_HDR_TIME, t},
                   {WIRE_HDR_SIGNATURE, mac},   {WIRE_HDR_FIRST_SEQ, fs},
                   {WIRE_HDR_LAST_SEQ, ls},     {"Content-Encoding", "zstd"},
                   {WIRE_HDR_INSTANCE, f->instance}, {WIRE_HDR_RATCHET, f->ratchet}};
  return send(f, "POST", "/v1/ingest", h, 8, b, len, j);
}

static int ingest(fixture *f, int64_t first, int64_t last, cJSON **j) {
  size_t len;
  uint8_t *b = make_batch(first, last, &len);
  int st = ingest_raw(f, f->session_id, first, last, b, len, 0, 0, j);
  free(b);
  return st;
}

/* Signed ingest of one record of the given line at seq. */
static int ingest_one(fixture *f, int64_t seq, const char *line, cJSON **j) {
  wire_batch_enc e;
  wire_batch_enc_init(&e, 0);
  wire_record r = {seq, 1, "/var/log/app.log", 16, line, strlen(line)};
  assert_int_equal(wire_batch_enc_add(&e, &r), WIRE_OK);
  uint8_t *b;
  size_t len;
  assert_int_equal(wire_batch_enc_finish(&e, 1, &b, &len), WIRE_OK);
  wire_batch_enc_free(&e);
  int st = ingest_raw(f, f->session_id, seq, seq, b, len, 0, 0, j);
  free(b);
  return st;
}

static void test_full_flow_and_duplicates(void **state) {
  fixture *f = *state;
  do_enroll(f);
  open_session(f);
  cJSON *j;
  assert_int_equal(ingest(f, 1, 5, &j), 200);
  assert_int_equal(cJSON_GetObjectItem(j, "acked_through")->valueint, 5);
  assert_int_equal(cJSON_GetObjectItem(j, "stored")->valueint, 5);
  assert_int_equal(cJSON_GetObjectItem(j, "duplicates")->valueint, 0);
  cJSON_Delete(j);
  assert_int_equal(mc_agent_record_count(f->c, f->agent_id), 5);
  /* Re-sent batch (lost ack): nothing new stored. */
  assert_int_equal(ingest(f, 1, 5, &j), 200);
  assert_int_equal(cJSON_GetObjectItem(j, "acked_through")->valueint, 5);
  assert_int_equal(cJSON_GetObjectItem(j, "stored")->valueint, 0);
  assert_int_equal(cJSON_GetObjectItem(j, "duplicates")->valueint, 5);
  cJSON_Delete(j);
  /* Overlapping batch: only the new part is stored. */
  assert_int_equal(ingest(f, 4, 8, &j), 200);
  assert_int_equal(cJSON_GetObjectItem(j, "stored")->valueint, 3);
  assert_int_equal(cJSON_GetObjectItem(j, "duplicates")->valueint, 2);
  cJSON_Delete(j);
  int64_t n, lo, hi;
  assert_int_equal(mc_agent_seq_summary(f->c, f->agent_id, &n, &lo, &hi), MC_OK);
  assert_int_equal(n, 8);
  assert_int_equal(lo, 1);
  assert_int_equal(hi, 8);
  assert_int_equal(mc_total_records(f->c), 8);
  assert_int_equal(mc_agent_seq_summary(f->c, "nope", &n, &lo, &hi), MC_EINVAL);
  assert_int_equal(mc_agent_record_count(f->c, "nope"), -1);
  mc_stats st;
  mc_get_stats(f->c, &st);
  assert_int_equal(st.ingest_batches, 3);
  assert_int_equal(st.records_stored, 8);
  assert_int_equal(st.duplicates, 7);
  assert_int_equal(st.enrollments, 1);
  assert_int_equal(st.sessions, 1);
  assert_int_equal(st.rejected, 0);
}

static void test_enroll_refusals(void **state) {
  fixture *f = *state;
  char body[512], proof[200];
  cJSON *j;
  int n = enroll_body(f, "otk_not_a_real_token", body, sizeof body);
  sign_b64(f, body, (size_t)n, proof, sizeof proof);
  mc_header h = {WIRE_HDR_PROOF, proof};
  assert_int_equal(send(f, "POST", "/v1/enroll", &h, 1, body, (size_t)n, &j), 403);
  expect_error(j, "unknown_token");
  /* Proof over different bytes. */
  n = enroll_body(f, f->token, body, sizeof body);
  sign_b64(f, "other", 5, proof, sizeof proof);
  assert_int_equal(send(f, "POST", "/v1/enroll", &h, 1, body, (size_t)n, &j), 401);
  expect_error(j, "bad_proof");
  assert_int_equal(send(f, "POST", "/v1/enroll", NULL, 0, body, (size_t)n, &j), 401);
  expect_error(j, "bad_proof");
  assert_int_equal(send(f, "POST", "/v1/enroll", NULL, 0, "garbage", 7, &j), 400);
  expect_error(j, "bad_request");
  assert_int_equal(send(f, "POST", "/v1/enroll", NULL, 0, "{\"token\":1}", 11, &j), 400);
  expect_error(j, "bad_request");
  assert_int_equal(send(f, "GET", "/v1/enroll", NULL, 0, NULL, 0, &j), 405);
  expect_error(j, "method_not_allowed");
  assert_int_equal(send(f, "POST", "/v2/nothing", NULL, 0, NULL, 0, &j), 404);
  expect_error(j, "not_found");
  mc_stats st;
  mc_get_stats(f->c, &st);
  assert_int_equal(st.enrollments, 0);
  assert_int_equal(st.rejected, 7);
}

static void test_session_refusals(void **state) {
  fixture *f = *state;
  do_enroll(f);
  char chal[128];
  cJSON *j;
  get_challenge(f, chal, sizeof chal);
  assert_int_equal(session_request(f, chal, 1, &j), 401);
  expect_error(j, "bad_signature");
  assert_int_equal(session_request(f, "bm90LWlzc3VlZA==", 0, &j), 401);
  expect_error(j, "bad_challenge");
  /* Good one works once; the challenge is single use. */
  assert_int_equal(session_request(f, chal, 0, &j), 200);
  cJSON_Delete(j);
  assert_int_equal(session_request(f, chal, 0, &j), 401);
  expect_error(j, "bad_challenge");
  /* Expired challenge. */
  get_challenge(f, chal, sizeof chal);
  f->env.now += 61 * 1000;
  assert_int_equal(session_request(f, chal, 0, &j), 401);
  expect_error(j, "bad_challenge");
  /* Unknown agent. */
  char body[] = "{\"agent_id\":\"00000000000000000000000000000000\"}";
  assert_int_equal(send(f, "POST", "/v1/challenge", NULL, 0, body, strlen(body), &j), 401);
  expect_error(j, "unknown_agent");
}

/* Every ingest refusal leaves the record count unchanged. */
static void test_ingest_refusals(void **state) {
  fixture *f = *state;
  do_enroll(f);
  open_session(f);
  cJSON *j;
  assert_int_equal(ingest(f, 1, 3, &j), 200);
  cJSON_Delete(j);
  size_t len;
  uint8_t *b = make_batch(4, 6, &len);

  assert_int_equal(ingest_raw(f, f->session_id, 4, 6, b, len, 0, 1, &j), 401);
  expect_error(j, "bad_signature");
  assert_int_equal(ingest_raw(f, "ffffffffffffffffffffffffffffffff", 4, 6, b, len, 0, 0, &j), 401);
  expect_error(j, "unknown_session");
  assert_int_equal(ingest_raw(f, f->session_id, 4, 6, b, len, WIRE_CLOCK_SKEW_MS + 1, 0, &j), 401);
  expect_error(j, "clock_skew");
  assert_int_equal(ingest_raw(f, f->session_id, 4, 6, b, len, -WIRE_CLOCK_SKEW_MS - 1, 0, &j),
                   401);
  expect_error(j, "clock_skew");
  /* Sequence gap: headers say 4..7 but body holds 4..6. */
  assert_int_equal(ingest_raw(f, f->session_id, 4, 7, b, len, 0, 0, &j), 400);
  expect_error(j, "bad_batch");
  assert_int_equal(ingest_raw(f, f->session_id, 5, 7, b, len, 0, 0, &j), 400);
  expect_error(j, "bad_batch");
  assert_int_equal(ingest_raw(f, f->session_id, 0, 2, b, len, 0, 0, &j), 400);
  expect_error(j, "bad_batch");
  /* Garbage zstd. */
  assert_int_equal(ingest_raw(f, f->session_id, 4, 6, (const uint8_t *)"garbage!", 8, 0, 0, &j),
                   400);
  expect_error(j, "bad_encoding");
  /* Oversize body. */
  uint8_t *big = calloc(1, WIRE_MAX_BODY + 1);
  assert_int_equal(ingest_raw(f, f->session_id, 4, 6, big, WIRE_MAX_BODY + 1, 0, 0, &j), 413);
  expect_error(j, "too_large");
  free(big);
  assert_int_equal(mc_agent_record_count(f->c, f->agent_id), 3);

  /* A foreign session: agent 2 cannot write as agent 1; its records go to itself. */
  char a1[MC_AGENT_ID_LEN + 1];
  strcpy(a1, f->agent_id);
  assert_int_equal(crypto_ec_generate(fake_random, &f->env, f->key, sizeof f->key, &f->key_len),
                   CRYPTO_OK);
  do_enroll(f);
  open_session(f);
  assert_int_equal(ingest_raw(f, f->session_id, 4, 6, b, len, 0, 0, &j), 200);
  cJSON_Delete(j);
  assert_int_equal(mc_agent_record_count(f->c, a1), 3);
  assert_int_equal(mc_agent_record_count(f->c, f->agent_id), 3);

  /* Expired session. */
  f->env.now += 3601 * 1000;
  assert_int_equal(ingest_raw(f, f->session_id, 7, 9, b, len, 0, 0, &j), 401);
  expect_error(j, "session_expired");
  free(b);
  assert_int_equal(mc_total_records(f->c), 6);
}

static void test_workspace_add(void **state) {
  fixture *f = *state;
  char tok[MC_TOKEN_MAX];
  assert_int_equal(mc_workspace_add(f->c, "acme", tok, sizeof tok), MC_EEXIST);
  assert_int_equal(mc_workspace_add(f->c, "", tok, sizeof tok), MC_EINVAL);
  assert_int_equal(mc_workspace_add(f->c, "bad name", tok, sizeof tok), MC_EINVAL);
  assert_int_equal(mc_workspace_add(f->c, "other", tok, 10), MC_EINVAL);
  assert_int_equal(mc_workspace_add(f->c, "other", tok, sizeof tok), MC_OK);
  assert_string_not_equal(tok, f->token);
}


/* ---- identity (issue #4) ------------------------------------------------- */

/* One agent process: its session and instance, and the ratchet it presents. */
typedef struct copy {
  char instance[33], session_id[64], ratchet[33];
  uint8_t session_key[32];
} copy;

static void use(fixture *f, const copy *c) {
  strcpy(f->instance, c->instance);
  strcpy(f->session_id, c->session_id);
  strcpy(f->ratchet, c->ratchet);
  memcpy(f->session_key, c->session_key, 32);
}

static void keep(const fixture *f, copy *c) {
  strcpy(c->instance, f->instance);
  strcpy(c->session_id, f->session_id);
  strcpy(c->ratchet, f->ratchet);
  memcpy(c->session_key, f->session_key, 32);
}

/* Starts a process with instance inst presenting ratchet r: opens its session. */
static void start_copy(fixture *f, copy *c, const char *inst, const char *r) {
  strcpy(f->instance, inst);
  open_session(f);
  strcpy(f->ratchet, r);
  keep(f, c);
}

/* Signed POST of body to path at the agent time now + time_off. */
static int authed(fixture *f, const char *path, const char *body, int64_t time_off, cJSON **j) {
  char t[32], mac[65];
  f->env.now++;
  int64_t at = f->env.now + time_off;
  snprintf(t, sizeof t, "%lld", (long long)at);
  size_t len = strlen(body);
  wire_request_mac(f->session_key, 32, "POST", path, at, body, len, f->instance, f->ratchet, mac);
  mc_header h[] = {{WIRE_HDR_SESSION, f->session_id},  {WIRE_HDR_TIME, t},
                   {WIRE_HDR_SIGNATURE, mac},          {WIRE_HDR_INSTANCE, f->instance},
                   {WIRE_HDR_RATCHET, f->ratchet}};
  return send(f, "POST", path, h, 5, body, len, j);
}

/* A check-in; on 200 the copy takes the issued value, as the agent does. */
static int checkin(fixture *f, copy *c, int64_t time_off, int take, char *issued) {
  use(f, c);
  cJSON *j;
  int st = authed(f, "/v1/checkin", "{\"drift\":[]}", time_off, &j);
  if (st == 200) {
    const char *n = jstr(j, "ratchet_next");
    assert_true(wire_is_hex_id(n));
    if (issued) strcpy(issued, n);
    if (take) strcpy(c->ratchet, n);
    cJSON_Delete(j);
  } else if (issued) {
    snprintf(issued, 64, "%s", jstr(j, "error"));
    cJSON_Delete(j);
  } else {
    cJSON_Delete(j);
  }
  return st;
}

#define INST_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define INST_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define INST_A2 "cccccccccccccccccccccccccccccccc"

/* A lost reply must never look like a clone; a copy presenting a value its
 * identity has moved past is one. */
static void test_ratchet_lost_reply_and_stale_copy(void **state) {
  fixture *f = *state;
  do_enroll(f);
  copy a, b;
  start_copy(f, &a, INST_A, WIRE_RATCHET_NONE);
  char n1[64], again[64], n2[64], err[64];
  assert_int_equal(checkin(f, &a, 0, 0, n1), 200); /* reply "lost": a keeps none */
  assert_int_equal(checkin(f, &a, 0, 0, again), 200);
  assert_string_equal(n1, again);                  /* same value re-issued */
  assert_int_equal(checkin(f, &a, 0, 1, again), 200);
  assert_string_equal(a.ratchet, n1);
  assert_int_equal(checkin(f, &a, 0, 1, n2), 200); /* n1 seen: a successor */
  assert_string_not_equal(n1, n2);
  assert_int_equal(mc_alert_count(f->c, NULL), 0);
  /* A copy from an old image: presents none, long since superseded. */
  start_copy(f, &b, INST_B, WIRE_RATCHET_NONE);
  assert_int_equal(checkin(f, &b, 0, 1, err), 409);
  assert_string_equal(err, "clone_detected");
  assert_int_equal(mc_alert_count(f->c, "clone_stale_ratchet"), 1);
  /* Quarantined for good; the original goes on untouched. */
  assert_int_equal(checkin(f, &b, 0, 1, err), 409);
  assert_int_equal(checkin(f, &a, 0, 1, NULL), 200);
  use(f, &a);
  cJSON *j;
  assert_int_equal(ingest(f, 1, 3, &j), 200);
  cJSON_Delete(j);
  assert_int_equal(mc_alert_count(f->c, NULL), 1);
}

/* Two live processes with the same ratchet: the instance rule catches the
 * older one at its next request; a dead process's late request is no clone. */
static void test_live_copies_and_restart(void **state) {
  fixture *f = *state;
  do_enroll(f);
  copy a, a2, b;
  start_copy(f, &a, INST_A, WIRE_RATCHET_NONE);
  assert_int_equal(checkin(f, &a, 0, 1, NULL), 200);
  /* a restarts as a2 (same disk, same ratchet): takes over. */
  start_copy(f, &a2, INST_A2, a.ratchet);
  assert_int_equal(checkin(f, &a2, 0, 1, NULL), 200);
  /* a request a signed before a2 existed arrives late: refused, no alert */
  char err[64];
  assert_int_equal(checkin(f, &a, -10, 0, err), 409);
  assert_string_equal(err, "superseded_instance");
  assert_int_equal(mc_alert_count(f->c, NULL), 0);
  /* b: a clone of a2's disk started now; then a2 speaks again: two live
   * copies. The newcomer b is quarantined, a2 keeps the identity. */
  start_copy(f, &b, INST_B, a2.ratchet);
  assert_int_equal(checkin(f, &b, 0, 1, NULL), 200);
  assert_int_equal(checkin(f, &b, 0, 1, NULL), 200); /* b even moved the ratchet on */
  assert_int_equal(checkin(f, &a2, 0, 1, NULL), 200);
  assert_int_equal(mc_alert_count(f->c, "clone_live_copies"), 1);
  assert_int_equal(checkin(f, &b, 0, 1, err), 409);
  assert_string_equal(err, "clone_detected");
  assert_int_equal(checkin(f, &a2, 0, 1, NULL), 200);
  use(f, &a2);
  cJSON *j;
  /* a2 replaced a process heard from moments before: until that one would
   * have had to check in again, a2's data waits (it could be a's clone). */
  assert_int_equal(ingest(f, 1, 2, &j), 409);
  assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "retry_after_s")));
  expect_error(j, "probation");
  assert_int_equal(mc_agent_record_count(f->c, f->agent_id), 0);
  f->env.now += 361 * 1000;
  assert_int_equal(checkin(f, &a2, 0, 1, NULL), 200);
  use(f, &a2);
  assert_int_equal(ingest(f, 1, 2, &j), 200);
  cJSON_Delete(j);
  assert_int_equal(mc_alert_count(f->c, NULL), 1);
}

/* Same process, a request signed before its ratchet moved on, arriving late. */
static void test_late_request_same_process(void **state) {
  fixture *f = *state;
  do_enroll(f);
  copy a;
  start_copy(f, &a, INST_A, WIRE_RATCHET_NONE);
  assert_int_equal(checkin(f, &a, 0, 1, NULL), 200);
  copy old = a;
  assert_int_equal(checkin(f, &a, 0, 1, NULL), 200);
  assert_int_equal(checkin(f, &a, 0, 1, NULL), 200);
  char err[64];
  assert_int_equal(checkin(f, &old, -50, 0, err), 409);
  assert_string_equal(err, "stale_request");
  assert_int_equal(mc_alert_count(f->c, NULL), 0);
}

static void test_replay_refused(void **state) {
  fixture *f = *state;
  do_enroll(f);
  open_session(f);
  size_t len;
  uint8_t *b = make_batch(1, 3, &len);
  char t[32], fs[] = "1", ls[] = "3", mac[65];
  int64_t at = f->env.now;
  snprintf(t, sizeof t, "%lld", (long long)at);
  wire_request_mac(f->session_key, 32, "POST", "/v1/ingest", at, b, len, f->instance, f->ratchet,
                   mac);
  mc_header h[] = {{WIRE_HDR_SESSION, f->session_id}, {WIRE_HDR_TIME, t},
                   {WIRE_HDR_SIGNATURE, mac},         {WIRE_HDR_FIRST_SEQ, fs},
                   {WIRE_HDR_LAST_SEQ, ls},           {WIRE_HDR_INSTANCE, f->instance},
                   {WIRE_HDR_RATCHET, f->ratchet}};
  cJSON *j;
  assert_int_equal(send(f, "POST", "/v1/ingest", h, 7, b, len, &j), 200);
  cJSON_Delete(j);
  f->env.now += 1000;
  assert_int_equal(send(f, "POST", "/v1/ingest", h, 7, b, len, &j), 401);
  expect_error(j, "replayed");
  /* To another endpoint: the MAC covers the path. */
  assert_int_equal(send(f, "POST", "/v1/checkin", h, 7, b, len, &j), 401);
  expect_error(j, "bad_signature");
  /* Another process's headers with this session: refused. */
  mc_header h2[7];
  memcpy(h2, h, sizeof h);
  h2[5].value = INST_B;
  f->env.now += 1;
  assert_int_equal(send(f, "POST", "/v1/ingest", h2, 7, b, len, &j), 401);
  expect_error(j, "bad_signature");
  /* Later than the window: refused as skew, with both times named. */
  f->env.now += 2 * WIRE_CLOCK_SKEW_MS;
  assert_int_equal(send(f, "POST", "/v1/ingest", h, 7, b, len, &j), 401);
  assert_non_null(strstr(jstr(j, "message"), "tolerance"));
  expect_error(j, "clock_skew");
  free(b);
  mc_stats st;
  mc_get_stats(f->c, &st);
  assert_int_equal(st.replays_refused, 1);
  assert_int_equal(mc_agent_record_count(f->c, f->agent_id), 3);
  assert_int_equal(mc_alert_count(f->c, NULL), 0);
}

static void test_revoked(void **state) {
  fixture *f = *state;
  do_enroll(f);
  open_session(f);
  assert_int_equal(mc_agent_revoke(f->c, f->agent_id), MC_OK);
  assert_int_equal(mc_agent_revoke(f->c, "00000000000000000000000000000000"), MC_EINVAL);
  cJSON *j;
  assert_int_equal(ingest(f, 1, 2, &j), 403);
  expect_error(j, "revoked");
  char body[128];
  int n = snprintf(body, sizeof body, "{\"agent_id\":\"%s\"}", f->agent_id);
  assert_int_equal(send(f, "POST", "/v1/challenge", NULL, 0, body, (size_t)n, &j), 403);
  expect_error(j, "revoked");
  assert_int_equal(mc_agent_record_count(f->c, f->agent_id), 0);
}

static void test_content_conflict(void **state) {
  fixture *f = *state;
  do_enroll(f);
  open_session(f);
  cJSON *j;
  assert_int_equal(ingest(f, 1, 3, &j), 200);
  cJSON_Delete(j);
  /* seq 2 again with other content: what a clone sharing our seqs sends */
  assert_int_equal(ingest_one(f, 2, "not the same", &j), 409);
  expect_error(j, "clone_detected");
  assert_int_equal(mc_alert_count(f->c, "clone_content_conflict"), 1);
  assert_int_equal(mc_agent_record_count(f->c, f->agent_id), 3);
}

/* Re-enrollment after a clone verdict: the new key enrolls, the old one vouches. */
static void test_clone_enrollment(void **state) {
  fixture *f = *state;
  do_enroll(f);
  char old_id[33];
  strcpy(old_id, f->agent_id);
  uint8_t old_key[CRYPTO_KEY_DER_MAX];
  size_t old_len = f->key_len;
  memcpy(old_key, f->key, old_len);
  assert_int_equal(crypto_ec_generate(fake_random, &f->env, f->key, sizeof f->key, &f->key_len),
                   CRYPTO_OK);
  char body[1024], proof[200], cproof[200];
  int n = enroll_body(f, f->token, body, sizeof body);
  n--; /* reopen the object */
  n += snprintf(body + n, sizeof body - (size_t)n,
                ",\"cloned_from\":\"%s\",\"clone_reason\":\"hardware_changed\"}", old_id);
  sign_b64(f, body, (size_t)n, proof, sizeof proof);
  cJSON *j;
  /* without the old key's signature: refused */
  mc_header h1[] = {{WIRE_HDR_PROOF, proof}, {WIRE_HDR_CLONE_PROOF, proof}};
  assert_int_equal(send(f, "POST", "/v1/enroll", h1, 2, body, (size_t)n, &j), 401);
  expect_error(j, "bad_clone_proof");
  uint8_t new_key[CRYPTO_KEY_DER_MAX];
  size_t new_len = f->key_len;
  memcpy(new_key, f->key, new_len);
  memcpy(f->key, old_key, old_len);
  f->key_len = old_len;
  sign_b64(f, body, (size_t)n, cproof, sizeof cproof);
  memcpy(f->key, new_key, new_len);
  f->key_len = new_len;
  mc_header h2[] = {{WIRE_HDR_PROOF, proof}, {WIRE_HDR_CLONE_PROOF, cproof}};
  assert_int_equal(send(f, "POST", "/v1/enroll", h2, 2, body, (size_t)n, &j), 201);
  char cf[33];
  assert_int_equal(mc_agent_cloned_from(f->c, jstr(j, "agent_id"), cf), MC_OK);
  assert_string_equal(cf, old_id);
  cJSON_Delete(j);
  assert_int_equal(mc_alert_count(f->c, "clone_new_hardware"), 1);
  /* The same clone report into another workspace: refused. */
  char tok2[MC_TOKEN_MAX], body2[1024], p2[200], cp2[200];
  assert_int_equal(mc_workspace_add(f->c, "other", tok2, sizeof tok2), MC_OK);
  int n2 = enroll_body(f, tok2, body2, sizeof body2);
  n2--;
  n2 += snprintf(body2 + n2, sizeof body2 - (size_t)n2,
                 ",\"cloned_from\":\"%s\",\"clone_reason\":\"hardware_changed\"}", old_id);
  sign_b64(f, body2, (size_t)n2, p2, sizeof p2);
  memcpy(f->key, old_key, old_len);
  f->key_len = old_len;
  sign_b64(f, body2, (size_t)n2, cp2, sizeof cp2);
  mc_header h3[] = {{WIRE_HDR_PROOF, p2}, {WIRE_HDR_CLONE_PROOF, cp2}};
  assert_int_equal(send(f, "POST", "/v1/enroll", h3, 2, body2, (size_t)n2, &j), 403);
  expect_error(j, "foreign_workspace");
}

/* Whole file into memory (test files are small). */
static uint8_t *slurp(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  uint8_t *buf = NULL;
  size_t cap = 0, n = 0, r;
  do {
    if (n == cap) {
      cap = cap ? cap * 2 : 65536;
      uint8_t *nb = realloc(buf, cap);
      assert_non_null(nb);
      buf = nb;
    }
    r = fread(buf + n, 1, cap - n, fp);
    n += r;
  } while (r > 0);
  fclose(fp);
  *len = n;
  return buf;
}

static int contains(const uint8_t *hay, size_t n, const void *needle, size_t m) {
  for (size_t i = 0; m <= n && i <= n - m; i++)
    if (memcmp(hay + i, needle, m) == 0) return 1;
  return 0;
}

static void copy_file(const char *from, const char *to) {
  size_t n;
  uint8_t *b = slurp(from, &n);
  assert_non_null(b);
  FILE *fp = fopen(to, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(b, 1, n, fp), n);
  fclose(fp);
  free(b);
}

static int64_t rows_in_file(const char *db, const char *sql) {
  sqlite3 *h = NULL;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

/* The simulator's batched store (mc_options.commit_every) on a real file: a
 * refused batch takes back what it had stored (its savepoint), the others'
 * work stays, and mc_close writes the requests since the last commit. */
static void test_batched_store_file(void **state) {
  fixture *f = *state;
  char dir[] = "/tmp/outpost-mc-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char db[128], path[160];
  snprintf(db, sizeof db, "%s/cloud.db", dir);
  mc_env env = {&f->env, fake_wall, fake_random};
  mc_close(f->c);
  mc_options mo = {.commit_every = 1000, .cache_kib = 4096}; /* nothing commits before mc_close */
  assert_int_equal(mc_open(db, &env, &mo, &f->c, NULL, 0), MC_OK);
  sqlite3_stmt *cs = NULL;
  assert_int_equal(sqlite3_prepare_v2(f->c->db, "PRAGMA cache_size", -1, &cs, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(cs), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int64(cs, 0), -4096); /* KiB, as SQLite writes it */
  sqlite3_finalize(cs);
  assert_int_equal(mc_workspace_add(f->c, "acme", f->token, sizeof f->token), MC_OK);
  do_enroll(f);
  open_session(f);
  cJSON *j;
  assert_int_equal(ingest(f, 1, 3, &j), 200);
  cJSON_Delete(j);
  /* seq 5 arrives first with its own content; then a batch 4..6 stores 4
   * and meets 5 with other content: refused, and 4 is taken back */
  assert_int_equal(ingest_one(f, 5, "held first", &j), 200);
  cJSON_Delete(j);
  assert_int_equal(ingest(f, 4, 6, &j), 409);
  expect_error(j, "clone_detected");
  assert_int_equal(mc_agent_record_count(f->c, f->agent_id), 4);
  mc_close(f->c);
  f->c = NULL;
  assert_int_equal(rows_in_file(db, "SELECT count(*) FROM records"), 4);
  assert_int_equal(rows_in_file(db, "SELECT count(*) FROM records WHERE seq = 4"), 0);
  assert_int_equal(rows_in_file(db, "SELECT count(*) FROM alerts"), 1);
  unlink(db);
  snprintf(path, sizeof path, "%s/session-master.key", dir);
  unlink(path);
  rmdir(dir);
}

/* Session keys are not in the store: cloud.db holds a nonce, the key is
 * derived with a master key kept beside it in a 0600 file. A copy of cloud.db
 * alone holds no key bytes and cannot verify (or forge) the session's
 * requests; the real store, with its key file, still can after a restart. */
static void test_session_keys_not_in_store(void **state) {
  fixture *f = *state;
  char dir[] = "/tmp/outpost-mc-XXXXXX", dir2[] = "/tmp/outpost-mc-XXXXXX";
  assert_non_null(mkdtemp(dir));
  assert_non_null(mkdtemp(dir2));
  char db[128], db2[128], keyf[128], keyf2[128];
  snprintf(db, sizeof db, "%s/cloud.db", dir);
  snprintf(db2, sizeof db2, "%s/cloud.db", dir2);
  snprintf(keyf, sizeof keyf, "%s/session-master.key", dir);
  snprintf(keyf2, sizeof keyf2, "%s/session-master.key", dir2);
  mc_env env = {&f->env, fake_wall, fake_random};
  mc_close(f->c);
  f->c = NULL;
  assert_int_equal(mc_open(db, &env, NULL, &f->c, NULL, 0), MC_OK);
  assert_int_equal(mc_workspace_add(f->c, "acme", f->token, sizeof f->token), MC_OK);
  do_enroll(f);
  open_session(f);
  cJSON *j;
  assert_int_equal(ingest(f, 1, 3, &j), 200);
  cJSON_Delete(j);
  mc_close(f->c);
  f->c = NULL;
  struct stat st;
  assert_int_equal(stat(keyf, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(st.st_size, 32);
  /* the key's bytes, raw or base64, are nowhere in the store */
  char b64[64];
  size_t b64_len;
  assert_int_equal(crypto_b64_encode(f->session_key, 32, b64, sizeof b64, &b64_len), CRYPTO_OK);
  size_t n;
  uint8_t *img = slurp(db, &n);
  assert_non_null(img);
  assert_true(n > 4096);
  assert_true(contains(img, n, f->session_id, strlen(f->session_id))); /* the search works */
  assert_false(contains(img, n, f->session_key, 32));
  assert_false(contains(img, n, b64, b64_len));
  free(img);
  /* cloud.db copied alone: a new master key, the session's MACs no longer verify */
  copy_file(db, db2);
  assert_int_equal(mc_open(db2, &env, NULL, &f->c, NULL, 0), MC_OK);
  assert_int_equal(ingest(f, 4, 5, &j), 401);
  expect_error(j, "bad_signature"); /* frees j */
  mc_close(f->c);
  f->c = NULL;
  /* the real store with its key file: the session survives a restart */
  assert_int_equal(mc_open(db, &env, NULL, &f->c, NULL, 0), MC_OK);
  assert_int_equal(ingest(f, 4, 5, &j), 200);
  assert_int_equal(cJSON_GetObjectItem(j, "acked_through")->valueint, 5);
  cJSON_Delete(j);
  mc_close(f->c);
  f->c = NULL;
  /* a key file others can read is refused, with a message that says so */
  assert_int_equal(chmod(keyf, 0644), 0);
  char err[256] = "";
  assert_int_equal(mc_open(db, &env, NULL, &f->c, err, sizeof err), MC_EDB);
  assert_null(f->c);
  assert_non_null(strstr(err, "chmod 600"));
  /* clean up */
  const char *files[] = {db, keyf, db2, keyf2};
  for (size_t i = 0; i < 4; i++) unlink(files[i]);
  char extra[160];
  snprintf(extra, sizeof extra, "%s-journal", db);
  unlink(extra);
  snprintf(extra, sizeof extra, "%s-journal", db2);
  unlink(extra);
  assert_int_equal(rmdir(dir), 0);
  assert_int_equal(rmdir(dir2), 0);
}

/* ---- issue #6: agent groups (rings) and the promotion gate ---- */

/* Signed GET /v1/policy: status, and the served policy's version and ring. */
static int get_policy(fixture *f, int64_t *version, char *ring, size_t ring_cap) {
  char t[32], mac[65];
  f->env.now++;
  snprintf(t, sizeof t, "%lld", (long long)f->env.now);
  wire_request_mac(f->session_key, 32, "GET", "/v1/policy", f->env.now, "", 0, f->instance,
                   f->ratchet, mac);
  mc_header h[] = {{WIRE_HDR_SESSION, f->session_id}, {WIRE_HDR_TIME, t},
                   {WIRE_HDR_SIGNATURE, mac},         {WIRE_HDR_INSTANCE, f->instance},
                   {WIRE_HDR_RATCHET, f->ratchet}};
  cJSON *j;
  int st = send(f, "GET", "/v1/policy", h, 5, "", 0, &j);
  *version = 0;
  ring[0] = 0;
  if (st == 200) {
    cJSON *v = cJSON_GetObjectItem(j, "version"), *r = cJSON_GetObjectItem(j, "update_ring");
    assert_true(cJSON_IsNumber(v));
    *version = (int64_t)v->valuedouble;
    if (cJSON_IsString(r)) snprintf(ring, ring_cap, "%s", r->valuestring);
  }
  cJSON_Delete(j);
  return st;
}

static void expect_served(fixture *f, int64_t version, const char *ring) {
  int64_t v;
  char r[32];
  assert_int_equal(get_policy(f, &v, r, sizeof r), 200);
  assert_int_equal(v, version);
  assert_string_equal(r, ring);
  assert_int_equal(mc_policy_version_of(f->c, f->agent_id), version);
  /* the ingest reply's hint names the same version (agents fetch on it) */
  static int64_t seq = 0;
  cJSON *j;
  seq++;
  assert_int_equal(ingest(f, seq, seq, &j), 200);
  assert_int_equal((int64_t)cJSON_GetObjectItem(j, "policy_version")->valuedouble, version);
  cJSON_Delete(j);
}

#define RING(r) "{\"update_ring\":\"" r "\",\"version\":99}"

/* A policy report is agent input: versions that are not whole numbers in
 * range are refused with 400 (1e300 cast to int64 would be UB), a good one
 * is stored. */
static void test_policy_report_refuses_bad_numbers(void **state) {
  fixture *f = *state;
  do_enroll(f);
  open_session(f);
  static const char *const bad[] = {
      "{\"version\":1e300,\"applied_version\":1,\"status\":\"applied\",\"error\":\"\"}",
      "{\"version\":1,\"applied_version\":-1,\"status\":\"applied\",\"error\":\"\"}",
      "{\"version\":2.5,\"applied_version\":1,\"status\":\"applied\",\"error\":\"\"}",
      "{\"version\":\"1\",\"applied_version\":1,\"status\":\"applied\",\"error\":\"\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *j = NULL;
    assert_int_equal(authed(f, "/v1/policy/report", bad[i], 0, &j), 400);
    cJSON_Delete(j);
  }
  mc_policy_report rep;
  assert_int_equal(mc_policy_last_report(f->c, f->agent_id, &rep), MC_EINVAL);
  cJSON *j = NULL;
  assert_int_equal(authed(f, "/v1/policy/report",
                          "{\"version\":3,\"applied_version\":3,\"status\":\"applied\",\"error\":\"\"}",
                          0, &j),
                   200);
  cJSON_Delete(j);
  assert_int_equal(mc_policy_last_report(f->c, f->agent_id, &rep), MC_OK);
  assert_int_equal(rep.applied_version, 3);
}

static void test_group_policies(void **state) {
  fixture *f = *state;
  do_enroll(f);
  open_session(f);
  int64_t v = 0, pv;
  char ring[32], err[128] = "", grp[MC_GROUP_MAX + 1];
  assert_int_equal(get_policy(f, &pv, ring, sizeof ring), 404);
  assert_int_equal(mc_policy_version_of(f->c, f->agent_id), 0);
  assert_int_equal(mc_policy_set(f->c, "acme", RING("stable"), strlen(RING("stable")), &v, err,
                                 sizeof err), MC_OK);
  assert_int_equal(v, 1);
  expect_served(f, 1, "stable");
  /* a group policy: not served to agents outside the group */
  assert_int_equal(mc_policy_set_group(f->c, "acme", "canary", RING("canary"),
                                       strlen(RING("canary")), &v, err, sizeof err), MC_OK);
  assert_int_equal(v, 2); /* one counter per workspace */
  expect_served(f, 1, "stable");
  assert_int_equal(mc_agent_group(f->c, f->agent_id, grp), MC_OK);
  assert_string_equal(grp, "");
  assert_int_equal(mc_agent_set_group(f->c, f->agent_id, "canary", err, sizeof err), MC_OK);
  assert_int_equal(mc_agent_group(f->c, f->agent_id, grp), MC_OK);
  assert_string_equal(grp, "canary");
  expect_served(f, 2, "canary");
  /* the workspace's policy changes: a group member keeps its group's */
  assert_int_equal(mc_policy_set(f->c, "acme", RING("stable"), strlen(RING("stable")), &v, err,
                                 sizeof err), MC_OK);
  assert_int_equal(v, 3);
  expect_served(f, 2, "canary");
  /* out of the group: the workspace's, newer */
  assert_int_equal(mc_agent_set_group(f->c, f->agent_id, "", err, sizeof err), MC_OK);
  expect_served(f, 3, "stable");
  /* back into canary, whose policy (2) is older than what it was served
   * (3): re-stamped, never a lower version (the agent would skip one equal
   * to its own, and a lower one reads as a rollback) */
  assert_int_equal(mc_agent_set_group(f->c, f->agent_id, "canary", err, sizeof err), MC_OK);
  expect_served(f, 4, "canary");
  /* a group without a policy: the workspace's (3), re-stamped to 5 */
  assert_int_equal(mc_agent_set_group(f->c, f->agent_id, "early", err, sizeof err), MC_OK);
  expect_served(f, 5, "stable");
  /* the next policy set continues the counter */
  assert_int_equal(mc_policy_set_group(f->c, "acme", "early", RING("early-access"),
                                       strlen(RING("early-access")), &v, err, sizeof err), MC_OK);
  assert_int_equal(v, 6);
  expect_served(f, 6, "early-access");
  /* refusals */
  assert_int_equal(mc_agent_set_group(f->c, f->agent_id, "a/b", err, sizeof err), MC_EINVAL);
  assert_int_equal(mc_agent_set_group(f->c, "0123456789abcdef0123456789abcdef", "canary", err,
                                      sizeof err), MC_EINVAL);
  assert_string_equal(err, "no such agent");
  assert_int_equal(mc_policy_set_group(f->c, "acme", "", "{}", 2, &v, err, sizeof err), MC_EINVAL);
  assert_int_equal(mc_policy_set_group(f->c, "nope", "g", "{}", 2, &v, err, sizeof err), MC_EINVAL);
  assert_int_equal(mc_policy_set_group(f->c, "acme", "g", "[1]", 3, &v, err, sizeof err), MC_EINVAL);
  assert_int_equal(mc_agent_group(f->c, "nope", grp), MC_EINVAL);
  expect_served(f, 6, "early-access"); /* nothing changed by the refusals */
}

static void test_promote_gate(void **state) {
  fixture *f = *state;
  do_enroll(f);
  open_session(f);
  char why[256];
  assert_int_equal(mc_promote_rollbacks(f->c, "1.2.0", why, sizeof why), 0);
  assert_string_equal(why, "");
  cJSON *j;
  /* a staging and a refusal of 1.2.0 do not close the gate; a rollback does */
  assert_int_equal(authed(f, "/v1/checkin",
                          "{\"update\":[{\"kind\":\"staged\",\"ring\":\"canary\",\"version\":\"1.2.0\","
                          "\"message\":\"m\",\"at\":1},{\"kind\":\"refused\",\"version\":\"1.2.0\","
                          "\"message\":\"m\",\"at\":2}]}",
                          0, &j), 200);
  strcpy(f->ratchet, jstr(j, "ratchet_next"));
  cJSON_Delete(j);
  assert_int_equal(mc_promote_rollbacks(f->c, "1.2.0", why, sizeof why), 0);
  assert_int_equal(authed(f, "/v1/checkin",
                          "{\"update\":[{\"kind\":\"rollback\",\"ring\":\"\",\"version\":\"1.2.0\","
                          "\"message\":\"supervisor: crash loop\",\"at\":3}]}",
                          0, &j), 200);
  strcpy(f->ratchet, jstr(j, "ratchet_next"));
  cJSON_Delete(j);
  assert_int_equal(mc_promote_rollbacks(f->c, "1.2.0", why, sizeof why), 1);
  assert_non_null(strstr(why, f->agent_id));
  assert_int_equal(mc_promote_rollbacks(f->c, "1.1.0", why, sizeof why), 0);
  assert_int_equal(mc_promote_rollbacks(f->c, "1.2", why, sizeof why), 0);
  assert_int_equal(mc_promote_rollbacks(NULL, "1.2.0", why, sizeof why), MC_EINVAL);
}

/* issue #17: a store error is never read as "no policy" (it was: 0). */
static void test_policy_version_store_error(void **state) {
  fixture *f = *state;
  do_enroll(f);
  int64_t v = 0;
  char err[128] = "";
  assert_int_equal(mc_policy_set(f->c, "acme", "{}", 2, &v, err, sizeof err), MC_OK);
  assert_int_equal(mc_policy_version_of(f->c, f->agent_id), v);
  assert_int_equal(sqlite3_exec(f->c->db, "DROP TABLE group_policies", NULL, NULL, NULL), SQLITE_OK);
  int64_t got = mc_policy_version_of(f->c, f->agent_id);
  assert_true(got < 0);
  assert_int_equal(got, MC_EDB);
  assert_int_equal(mc_agent_set_group(f->c, f->agent_id, "canary", err, sizeof err), MC_EDB);
}

/* issue #17: every reader that can answer "absent" (unknown agent, no
 * policy, no report, no metrics, no group) answers MC_EDB, and the HTTP
 * front 500, when the store fails at step time. Before, each of these read
 * the error as "absent": GET /v1/policy said 404 no_policy (an agent would
 * drop the policy it runs), a signed request 401 (it would start over). */
static int always_interrupt(void *user) {
  (void)user;
  return 1;
}

static int metrics_none(void *user, const mc_metrics_row *row) {
  (void)user;
  (void)row;
  fail_msg("no row can be read from a failing store");
  return 1;
}

static void test_store_error_is_not_absent(void **state) {
  fixture *f = *state;
  do_enroll(f);
  open_session(f);
  int64_t v = 0, pv = 0;
  char err[128] = "", ring[32], grp[MC_GROUP_MAX + 1], cf[MC_AGENT_ID_LEN + 1];
  assert_int_equal(mc_policy_set(f->c, "acme", RING("stable"), strlen(RING("stable")), &v, err,
                                 sizeof err), MC_OK);
  expect_served(f, v, "stable");
  /* The body of the workspace's policy now fails when read (a view whose
   * body is malformed JSON): prepare succeeds, step fails. */
  assert_int_equal(sqlite3_exec(f->c->db,
                                "DROP TABLE policies; CREATE VIEW policies(workspace_id, version,"
                                " body, updated_ms) AS SELECT id, 1, json_extract('{', '$'), 0"
                                " FROM workspaces",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  assert_int_equal(get_policy(f, &pv, ring, sizeof ring), 500);
  char *body = (char *)"x";
  size_t len = 1;
  assert_int_equal(mc__policy_get(f->c, f->agent_id, &body, &len), MC_EDB);
  assert_null(body);

  /* Every statement fails from here on. */
  sqlite3_progress_handler(f->c->db, 1, always_interrupt, NULL);
  mc_policy_report rep;
  mc_metrics_row row;
  int64_t n = 0;
  assert_int_equal(mc_agent_group(f->c, f->agent_id, grp), MC_EDB);
  assert_int_equal(mc_agent_cloned_from(f->c, f->agent_id, cf), MC_EDB);
  assert_int_equal(mc_agent_seq_summary(f->c, f->agent_id, &n, NULL, NULL), MC_EDB);
  assert_int_equal(mc_policy_last_report(f->c, f->agent_id, &rep), MC_EDB);
  assert_int_equal(mc_policy_rejections(f->c, f->agent_id), MC_EDB);
  assert_int_equal(mc_metrics_get(f->c, f->agent_id, &row), MC_EDB);
  assert_int_equal(mc_metrics_foreach(f->c, metrics_none, NULL), MC_EDB);
  assert_true(mc_total_records(f->c) < 0);
  assert_true(mc_alert_count(f->c, NULL) < 0);
  assert_int_equal(mc_agent_set_group(f->c, f->agent_id, "canary", err, sizeof err), MC_EDB);
  cJSON *j = NULL;
  assert_int_equal(authed(f, "/v1/checkin", "{\"drift\":[]}", 0, &j), 500);
  assert_string_equal(jstr(j, "error"), "internal");
  cJSON_Delete(j);
  char body2[128];
  int bn = snprintf(body2, sizeof body2, "{\"agent_id\":\"%s\"}", f->agent_id);
  assert_int_equal(send(f, "POST", "/v1/challenge", NULL, 0, body2, (size_t)bn, &j), 500);
  cJSON_Delete(j);
  sqlite3_progress_handler(f->c->db, 0, NULL, NULL);
  /* And the absent cases still say absent. */
  assert_int_equal(mc_agent_group(f->c, "nope", grp), MC_EINVAL);
  assert_int_equal(mc_agent_cloned_from(f->c, "nope", cf), MC_EINVAL);
  assert_int_equal(mc_agent_seq_summary(f->c, "nope", &n, NULL, NULL), MC_EINVAL);
  assert_int_equal(mc_policy_last_report(f->c, f->agent_id, &rep), MC_EINVAL);
  assert_int_equal(mc_policy_rejections(f->c, f->agent_id), 0);
  assert_int_equal(mc_metrics_get(f->c, f->agent_id, &row), MC_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_full_flow_and_duplicates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_enroll_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ingest_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_workspace_add, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ratchet_lost_reply_and_stale_copy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_live_copies_and_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(test_late_request_same_process, setup, teardown),
      cmocka_unit_test_setup_teardown(test_replay_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_revoked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_content_conflict, setup, teardown),
      cmocka_unit_test_setup_teardown(test_clone_enrollment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_keys_not_in_store, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batched_store_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_policy_report_refuses_bad_numbers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_group_policies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_policy_version_store_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_promote_gate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_error_is_not_absent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_full_flow_and_duplicates, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_enroll_refusals, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_session_refusals, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_ingest_refusals, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_workspace_add, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_ratchet_lost_reply_and_stale_copy, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_live_copies_and_restart, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_late_request_same_process, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_replay_refused, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_revoked, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_content_conflict, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_clone_enrollment, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_session_keys_not_in_store, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_policy_report_refuses_bad_numbers, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_group_policies, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_policy_version_store_error, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_promote_gate, setup_batched, teardown),
      cmocka_unit_test_setup_teardown(test_store_error_is_not_absent, setup_batched, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
