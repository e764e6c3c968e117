/* mc_handle.c - request routing and the four endpoints of docs/protocol.md.
 *
 * Every refusal happens before the store changes: checks first, then one
 * statement or one transaction. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "common/crypto.h"
#include "common/wire.h"
#include "mc_int.h"

#define MC_FIELD_MAX 256 /* hostname, machine_id, agent_version, challenge */

/* ---- responses ---- */

static void format_date(int64_t ms, char out[40]) {
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t t = (time_t)(ms >= 0 ? ms / 1000 : 0);
  struct tm tm;
  if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
  /* By hand, not strftime: the names must not follow the locale. */
  snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
           months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int reply_raw(mc_response *resp, int status, const char *json, size_t len) {
  resp->status = status;
  snprintf(resp->content_type, sizeof resp->content_type, "application/json");
  resp->body = malloc(len + 1);
  if (!resp->body) return MC_ENOMEM;
  memcpy(resp->body, json, len);
  resp->body[len] = 0;
  resp->body_len = len;
  return MC_OK;
}

/* Replies with a cJSON object and frees it. */
static int reply_json(mc_response *resp, int status, cJSON *obj) {
  char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
  cJSON_Delete(obj);
  if (!s) return MC_ENOMEM;
  int rc = reply_raw(resp, status, s, strlen(s));
  cJSON_free(s);
  return rc;
}

static int reply_error(mc_cloud *c, mc_response *resp, int status, const char *code,
                       const char *message) {
  c->stats.rejected++;
  cJSON *o = cJSON_CreateObject();
  if (o && (!cJSON_AddStringToObject(o, "error", code) ||
            !cJSON_AddStringToObject(o, "message", message))) {
    cJSON_Delete(o);
    o = NULL;
  }
  return reply_json(resp, status, o);
}

/* ---- request helpers ---- */

static const char *header(const mc_request *req, const char *name) {
  for (size_t i = 0; i < req->n_headers; i++)
    if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
      return req->headers[i].value;
  return NULL;
}

/* Strict decimal, digits only, at most 18 of them (no overflow possible). */
static int parse_int(const char *s, int64_t *out) {
  if (!s) return 0;
  size_t n = strlen(s);
  if (n == 0 || n > 18) return 0;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 1;
}

/* Parses a small JSON object body; NULL when malformed. */
static cJSON *parse_body(const mc_request *req) {
  if (!req->body || req->body_len == 0) return NULL;
  const char *end = NULL;
  cJSON *o = cJSON_ParseWithLengthOpts((const char *)req->body, req->body_len, &end, 0);
  if (!o) return NULL;
  /* Only whitespace may follow the object. */
  const char *stop = (const char *)req->body + req->body_len;
  while (end < stop && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')) end++;
  if (!cJSON_IsObject(o) || end != stop) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* A required string field of at most max bytes; NULL if absent or wrong. */
static const char *get_str(const cJSON *o, const char *name, size_t max) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsString(v) || !v->valuestring) return NULL;
  size_t n = strlen(v->valuestring);
  if (n == 0 || n > max) return NULL;
  return v->valuestring;
}

static int new_hex_id(mc_cloud *c, char out[MC_AGENT_ID_LEN + 1]) {
  unsigned char raw[MC_AGENT_ID_LEN / 2];
  if (mc__random(c, raw, sizeof raw) != 0) return -1;
  crypto_hex(raw, sizeof raw, out);
  return 0;
}

/* ---- POST /v1/enroll ---- */

static int handle_enroll(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp) {
  cJSON *o = parse_body(req);
  if (!o) return reply_error(c, resp, 400, "bad_request", "body is not a JSON object");
  const char *token = get_str(o, "token", MC_TOKEN_MAX);
  const char *pub_b64 = get_str(o, "public_key", 512);
  const char *host = get_str(o, "hostname", MC_FIELD_MAX);
  const char *mid = get_str(o, "machine_id", MC_FIELD_MAX);
  const char *ver = get_str(o, "agent_version", 64);
  const char *bad = !token ? "token" : !pub_b64 ? "public_key" : !host ? "hostname"
                  : !mid   ? "machine_id" : !ver ? "agent_version" : NULL;
  int rc;
  if (bad) {
    char msg[96];
    snprintf(msg, sizeof msg, "field \"%s\" missing, empty, too long or not a string", bad);
    rc = reply_error(c, resp, 400, "bad_request", msg);
    goto out;
  }
  uint8_t pub[512];
  size_t pub_len = 0;
  if (crypto_b64_decode(pub_b64, strlen(pub_b64), pub, sizeof pub, &pub_len) != CRYPTO_OK) {
    rc = reply_error(c, resp, 400, "bad_request", "public_key is not base64");
    goto out;
  }
  uint8_t th[CRYPTO_SHA256_LEN];
  crypto_sha256(token, strlen(token), th);
  sqlite3_stmt *s = mc__stmt(c, MC_ST_WS_BY_TOKEN);
  sqlite3_bind_blob(s, 1, th, sizeof th, SQLITE_STATIC);
  if (sqlite3_step(s) != SQLITE_ROW) {
    sqlite3_reset(s);
    rc = reply_error(c, resp, 403, "unknown_token", "enrollment token is not known");
    goto out;
  }
  int64_t ws_id = sqlite3_column_int64(s, 0);
  char ws_name[80];
  snprintf(ws_name, sizeof ws_name, "%s", (const char *)sqlite3_column_text(s, 1));
  sqlite3_reset(s);

  const char *proof = header(req, WIRE_HDR_PROOF);
  uint8_t sig[CRYPTO_SIG_MAX + 16];
  size_t sig_len = 0;
  if (!proof ||
      crypto_b64_decode(proof, strlen(proof), sig, sizeof sig, &sig_len) != CRYPTO_OK) {
    rc = reply_error(c, resp, 401, "bad_proof", "X-Outpost-Proof missing or not base64");
    goto out;
  }
  int v = crypto_ec_verify(pub, pub_len, req->body, req->body_len, sig, sig_len);
  if (v == CRYPTO_EINVAL) {
    rc = reply_error(c, resp, 400, "bad_request", "public_key is not a P-256 public key");
    goto out;
  }
  if (v != CRYPTO_OK) {
    rc = reply_error(c, resp, 401, "bad_proof", "proof does not verify with public_key");
    goto out;
  }
  char agent_id[MC_AGENT_ID_LEN + 1];
  if (new_hex_id(c, agent_id) != 0) {
    rc = reply_error(c, resp, 500, "internal", "no randomness");
    goto out;
  }
  s = mc__stmt(c, MC_ST_AGENT_INSERT);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, ws_id);
  sqlite3_bind_blob(s, 3, pub, (int)pub_len, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, host, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 5, mid, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 6, ver, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 7, now);
  if (mc__exec(c, MC_ST_AGENT_INSERT) != 0) {
    rc = reply_error(c, resp, 500, "internal", "store failed");
    goto out;
  }
  c->stats.enrollments++;
  cJSON *r = cJSON_CreateObject();
  if (r && (!cJSON_AddStringToObject(r, "agent_id", agent_id) ||
            !cJSON_AddStringToObject(r, "workspace", ws_name))) {
    cJSON_Delete(r);
    r = NULL;
  }
  rc = reply_json(resp, 201, r);
out:
  cJSON_Delete(o);
  return rc;
}

/* Copies the agent's public key; 0 if the agent exists. */
static int agent_key(mc_cloud *c, const char *agent_id, uint8_t *pub, size_t cap, size_t *len) {
  sqlite3_stmt *s = mc__stmt(c, MC_ST_AGENT_KEY);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int found = -1;
  if (sqlite3_step(s) == SQLITE_ROW) {
    int n = sqlite3_column_bytes(s, 0);
    if (n > 0 && (size_t)n <= cap) {
      memcpy(pub, sqlite3_column_blob(s, 0), (size_t)n);
      *len = (size_t)n;
      found = 0;
    }
  }
  sqlite3_reset(s);
  return found;
}

/* ---- POST /v1/challenge ---- */

static int handle_challenge(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp) {
  cJSON *o = parse_body(req);
  if (!o) return reply_error(c, resp, 400, "bad_request", "body is not a JSON object");
  int rc;
  const char *agent_id = get_str(o, "agent_id", MC_AGENT_ID_LEN);
  uint8_t pub[512];
  size_t pub_len;
  if (!agent_id) {
    rc = reply_error(c, resp, 400, "bad_request", "field \"agent_id\" missing or not a string");
    goto out;
  }
  if (agent_key(c, agent_id, pub, sizeof pub, &pub_len) != 0) {
    rc = reply_error(c, resp, 401, "unknown_agent", "agent is not enrolled");
    goto out;
  }
  unsigned char raw[32];
  char chal[64];
  size_t clen;
  if (mc__random(c, raw, sizeof raw) != 0 ||
      crypto_b64_encode(raw, sizeof raw, chal, sizeof chal, &clen) != CRYPTO_OK) {
    rc = reply_error(c, resp, 500, "internal", "no randomness");
    goto out;
  }
  /* One live challenge per agent; expired ones of everyone go too. */
  sqlite3_stmt *s = mc__stmt(c, MC_ST_CHAL_PURGE);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, now);
  int ok = mc__exec(c, MC_ST_CHAL_PURGE) == 0;
  s = mc__stmt(c, MC_ST_CHAL_INSERT);
  sqlite3_bind_text(s, 1, chal, (int)clen, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, now + c->opts.challenge_ttl_s * 1000);
  ok = ok && mc__exec(c, MC_ST_CHAL_INSERT) == 0;
  if (!ok) {
    rc = reply_error(c, resp, 500, "internal", "store failed");
    goto out;
  }
  char json[160];
  int n = snprintf(json, sizeof json, "{\"challenge\":\"%s\",\"expires_in_s\":%" PRId64 "}", chal,
                   c->opts.challenge_ttl_s);
  rc = reply_raw(resp, 200, json, (size_t)n);
out:
  cJSON_Delete(o);
  return rc;
}

/* ---- POST /v1/session ---- */

static int handle_session(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp) {
  cJSON *o = parse_body(req);
  if (!o) return reply_error(c, resp, 400, "bad_request", "body is not a JSON object");
  int rc;
  const char *agent_id = get_str(o, "agent_id", MC_AGENT_ID_LEN);
  const char *chal = get_str(o, "challenge", MC_FIELD_MAX);
  const char *sig_b64 = get_str(o, "signature", MC_FIELD_MAX);
  if (!agent_id || !chal || !sig_b64) {
    rc = reply_error(c, resp, 400, "bad_request",
                     "fields \"agent_id\", \"challenge\", \"signature\" must be strings");
    goto out;
  }
  uint8_t pub[512];
  size_t pub_len;
  if (agent_key(c, agent_id, pub, sizeof pub, &pub_len) != 0) {
    rc = reply_error(c, resp, 401, "unknown_agent", "agent is not enrolled");
    goto out;
  }
  sqlite3_stmt *s = mc__stmt(c, MC_ST_CHAL_GET);
  sqlite3_bind_text(s, 1, chal, -1, SQLITE_STATIC);
  int chal_ok = 0;
  if (sqlite3_step(s) == SQLITE_ROW) {
    const char *owner = (const char *)sqlite3_column_text(s, 0);
    chal_ok = owner && strcmp(owner, agent_id) == 0 && sqlite3_column_int64(s, 1) >= now;
  }
  sqlite3_reset(s);
  if (!chal_ok) {
    rc = reply_error(c, resp, 401, "bad_challenge", "challenge unknown, used, expired or foreign");
    goto out;
  }
  char msg[MC_AGENT_ID_LEN + MC_FIELD_MAX + 64];
  int mlen = wire_session_message(agent_id, chal, msg, sizeof msg);
  uint8_t sig[CRYPTO_SIG_MAX + 16];
  size_t sig_len = 0;
  if (mlen < 0 ||
      crypto_b64_decode(sig_b64, strlen(sig_b64), sig, sizeof sig, &sig_len) != CRYPTO_OK ||
      crypto_ec_verify(pub, pub_len, msg, (size_t)mlen, sig, sig_len) != CRYPTO_OK) {
    rc = reply_error(c, resp, 401, "bad_signature", "challenge signature does not verify");
    goto out;
  }
  char sid[MC_AGENT_ID_LEN + 1];
  unsigned char key[32];
  char key_b64[64];
  size_t klen;
  if (new_hex_id(c, sid) != 0 || mc__random(c, key, sizeof key) != 0 ||
      crypto_b64_encode(key, sizeof key, key_b64, sizeof key_b64, &klen) != CRYPTO_OK) {
    rc = reply_error(c, resp, 500, "internal", "no randomness");
    goto out;
  }
  int ok = mc__exec(c, MC_ST_BEGIN) == 0;
  s = mc__stmt(c, MC_ST_CHAL_DELETE);
  sqlite3_bind_text(s, 1, chal, -1, SQLITE_STATIC);
  ok = ok && mc__exec(c, MC_ST_CHAL_DELETE) == 0;
  s = mc__stmt(c, MC_ST_SESS_PURGE);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, now);
  ok = ok && mc__exec(c, MC_ST_SESS_PURGE) == 0;
  s = mc__stmt(c, MC_ST_SESS_INSERT);
  sqlite3_bind_text(s, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_blob(s, 3, key, sizeof key, SQLITE_STATIC);
  sqlite3_bind_int64(s, 4, now + c->opts.session_ttl_s * 1000);
  ok = ok && mc__exec(c, MC_ST_SESS_INSERT) == 0;
  s = mc__stmt(c, MC_ST_AGENT_TOUCH);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, now);
  ok = ok && mc__exec(c, MC_ST_AGENT_TOUCH) == 0;
  ok = ok && mc__exec(c, MC_ST_COMMIT) == 0;
  memset(key, 0, sizeof key);
  if (!ok) {
    mc__exec(c, MC_ST_ROLLBACK);
    rc = reply_error(c, resp, 500, "internal", "store failed");
    goto out;
  }
  c->stats.sessions++;
  char json[256];
  int n = snprintf(json, sizeof json,
                   "{\"session_id\":\"%s\",\"session_key\":\"%s\",\"expires_in_s\":%" PRId64 "}",
                   sid, key_b64, c->opts.session_ttl_s);
  memset(key_b64, 0, sizeof key_b64);
  rc = reply_raw(resp, 200, json, (size_t)n);
  memset(json, 0, sizeof json);
out:
  cJSON_Delete(o);
  return rc;
}

/* ---- authentication of session requests ---- */

/* Returns 0 and the session's agent in agent_id, or replies with a 401. */
static int authenticate(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp,
                        char agent_id[MC_AGENT_ID_LEN + 1], int *rc) {
  const char *sid = header(req, WIRE_HDR_SESSION);
  const char *tstr = header(req, WIRE_HDR_TIME);
  const char *sig = header(req, WIRE_HDR_SIGNATURE);
  int64_t t;
  if (!sid || !tstr || !sig || !parse_int(tstr, &t) || strlen(sig) != 64) {
    *rc = reply_error(c, resp, 401, "bad_signature",
                      "X-Outpost-Session, X-Outpost-Time and X-Outpost-Signature are required");
    return -1;
  }
  sqlite3_stmt *s = mc__stmt(c, MC_ST_SESS_GET);
  sqlite3_bind_text(s, 1, sid, -1, SQLITE_STATIC);
  if (sqlite3_step(s) != SQLITE_ROW || sqlite3_column_bytes(s, 0) != MC_AGENT_ID_LEN) {
    sqlite3_reset(s);
    *rc = reply_error(c, resp, 401, "unknown_session", "session is not known");
    return -1;
  }
  memcpy(agent_id, sqlite3_column_text(s, 0), MC_AGENT_ID_LEN);
  agent_id[MC_AGENT_ID_LEN] = 0;
  uint8_t key[64];
  int klen = sqlite3_column_bytes(s, 1);
  if (klen <= 0 || klen > (int)sizeof key) klen = 0;
  if (klen > 0) memcpy(key, sqlite3_column_blob(s, 1), (size_t)klen);
  int64_t expires = sqlite3_column_int64(s, 2);
  sqlite3_reset(s);
  if (expires < now) {
    *rc = reply_error(c, resp, 401, "session_expired", "session expired; open a new one");
    return -1;
  }
  if (t > now + WIRE_CLOCK_SKEW_MS || t < now - WIRE_CLOCK_SKEW_MS) {
    *rc = reply_error(c, resp, 401, "clock_skew", "X-Outpost-Time is more than 300 s off");
    return -1;
  }
  char mac[65];
  wire_request_mac(key, (size_t)klen, req->method, req->path, t, req->body, req->body_len, mac);
  memset(key, 0, sizeof key);
  if (klen == 0 || !crypto_equal(mac, sig, 64)) {
    *rc = reply_error(c, resp, 401, "bad_signature", "request signature does not match");
    return -1;
  }
  return 0;
}

/* ---- POST /v1/ingest ---- */

typedef struct ingest_ctx {
  mc_cloud *c;
  const char *agent_id;
  int64_t now;
  int64_t stored, dups, lo, hi;
  int db_failed;
} ingest_ctx;

static int store_record(void *user, const wire_record *r) {
  ingest_ctx *x = user;
  sqlite3_stmt *s = mc__stmt(x->c, MC_ST_REC_INSERT);
  sqlite3_bind_text(s, 1, x->agent_id, MC_AGENT_ID_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, r->seq);
  sqlite3_bind_int64(s, 3, r->ts_ms);
  sqlite3_bind_text(s, 4, r->source, (int)r->source_len, SQLITE_STATIC);
  sqlite3_bind_text(s, 5, r->line, (int)r->line_len, SQLITE_STATIC);
  sqlite3_bind_int64(s, 6, x->now);
  if (mc__exec(x->c, MC_ST_REC_INSERT) != 0) {
    x->db_failed = 1;
    return 1;
  }
  if (sqlite3_changes(x->c->db) > 0) {
    if (x->stored == 0 || r->seq < x->lo) x->lo = r->seq;
    if (x->stored == 0 || r->seq > x->hi) x->hi = r->seq;
    x->stored++;
  } else {
    x->dups++;
  }
  return 0;
}

static int handle_ingest(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp) {
  int rc;
  char agent_id[MC_AGENT_ID_LEN + 1];
  if (req->body_len > WIRE_MAX_BODY)
    return reply_error(c, resp, 413, "too_large", "body over 4 MiB");
  if (authenticate(c, req, now, resp, agent_id, &rc) != 0) return rc;
  int64_t first, last;
  if (!parse_int(header(req, WIRE_HDR_FIRST_SEQ), &first) ||
      !parse_int(header(req, WIRE_HDR_LAST_SEQ), &last) || first < 1 || last < first)
    return reply_error(c, resp, 400, "bad_batch",
                       "X-Outpost-First-Seq and X-Outpost-Last-Seq must be 1 <= first <= last");
  if (last - first + 1 > WIRE_MAX_RECORDS)
    return reply_error(c, resp, 413, "too_large", "more than 10000 records");

  ingest_ctx x = {.c = c, .agent_id = agent_id, .now = now};
  char err[256] = "";
  if (mc__exec(c, MC_ST_BEGIN) != 0) return reply_error(c, resp, 500, "internal", "store failed");
  int w = wire_batch_decode(req->body, req->body_len, first, last, store_record, &x, err,
                            sizeof err);
  if (w == WIRE_OK) {
    sqlite3_stmt *s;
    if (x.stored > 0) {
      s = mc__stmt(c, MC_ST_AGENT_INGESTED);
      sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 2, x.lo);
      sqlite3_bind_int64(s, 3, x.hi);
      sqlite3_bind_int64(s, 4, x.stored);
      sqlite3_bind_int64(s, 5, now);
      if (mc__exec(c, MC_ST_AGENT_INGESTED) != 0) x.db_failed = 1;
    } else {
      s = mc__stmt(c, MC_ST_AGENT_TOUCH);
      sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 2, now);
      if (mc__exec(c, MC_ST_AGENT_TOUCH) != 0) x.db_failed = 1;
    }
    if (!x.db_failed && mc__exec(c, MC_ST_COMMIT) != 0) x.db_failed = 1;
    if (!x.db_failed) {
      c->stats.ingest_batches++;
      c->stats.records_stored += x.stored;
      c->stats.duplicates += x.dups;
      char json[160];
      int n = snprintf(json, sizeof json,
                       "{\"acked_through\":%" PRId64 ",\"stored\":%" PRId64
                       ",\"duplicates\":%" PRId64 "}",
                       last, x.stored, x.dups);
      return reply_raw(resp, 200, json, (size_t)n);
    }
  }
  mc__exec(c, MC_ST_ROLLBACK);
  if (x.db_failed || w == WIRE_ENOMEM || w == WIRE_EINVAL)
    return reply_error(c, resp, 500, "internal", "store failed");
  if (w == WIRE_EENCODING) return reply_error(c, resp, 400, "bad_encoding", err);
  if (w == WIRE_ETOOBIG && strstr(err, "decoded"))
    return reply_error(c, resp, 400, "bad_encoding", err);
  if (w == WIRE_ETOOBIG && strstr(err, "body is"))
    return reply_error(c, resp, 413, "too_large", err);
  return reply_error(c, resp, 400, "bad_batch", err);
}

/* ---- POST /v1/shed ---- */

/* A non-negative integral JSON number within 2^53; 0 when absent or wrong. */
static int get_count(const cJSON *o, const char *name, int64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsNumber(v)) return 0;
  double d = v->valuedouble;
  if (!(d >= 0 && d <= 9007199254740991.0) || d != (double)(int64_t)d) return 0;
  *out = (int64_t)d;
  return 1;
}

#define MC_MAX_SHED_ENTRIES 64

/* Body: {"reports":[{"first_seq","last_seq","records","bytes","ts_first",
 * "ts_last","at","reason"}, ...]} with 1..64 entries. All are validated
 * before any is stored; the store is idempotent by (agent, first_seq). */
static int handle_shed(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp) {
  int rc;
  char agent_id[MC_AGENT_ID_LEN + 1];
  if (authenticate(c, req, now, resp, agent_id, &rc) != 0) return rc;
  cJSON *o = parse_body(req);
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "reports");
  int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
  if (n < 1 || n > MC_MAX_SHED_ENTRIES) {
    cJSON_Delete(o);
    return reply_error(c, resp, 400, "bad_request", "reports: an array of 1..64 entries");
  }
  static const char *const reasons[] = {"quota", "floor", "full", "io"};
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    int64_t first, last, recs, bytes, t0, t1, at;
    const char *why = get_str(e, "reason", 16);
    int known = 0;
    for (size_t i = 0; why && i < sizeof reasons / sizeof reasons[0]; i++)
      known |= strcmp(why, reasons[i]) == 0;
    if (!cJSON_IsObject(e) || !get_count(e, "first_seq", &first) ||
        !get_count(e, "last_seq", &last) || !get_count(e, "records", &recs) ||
        !get_count(e, "bytes", &bytes) || !get_count(e, "ts_first", &t0) ||
        !get_count(e, "ts_last", &t1) || !get_count(e, "at", &at) || !known || first < 1 ||
        last < first || recs < 1 || recs > last - first + 1 || t1 < t0) {
      cJSON_Delete(o);
      return reply_error(c, resp, 400, "bad_request",
                         "each report needs first_seq <= last_seq, 1 <= records <= span, bytes, "
                         "ts_first <= ts_last, at, reason quota|floor|full|io");
    }
  }
  int failed = mc__exec(c, MC_ST_BEGIN) != 0;
  int64_t stored = 0;
  cJSON_ArrayForEach(e, arr) {
    if (failed) break;
    int64_t v = 0; /* validated above; the optimiser cannot see that */
    sqlite3_stmt *s = mc__stmt(c, MC_ST_SHED_UPSERT);
    sqlite3_bind_text(s, 1, agent_id, MC_AGENT_ID_LEN, SQLITE_STATIC);
    static const char *const keys[] = {"first_seq", "last_seq", "records", "bytes",
                                       "ts_first",  "ts_last",  "at"};
    for (int i = 0; i < 7; i++) {
      get_count(e, keys[i], &v);
      sqlite3_bind_int64(s, 2 + i, v);
    }
    sqlite3_bind_text(s, 9, get_str(e, "reason", 16), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 10, now);
    if (mc__exec(c, MC_ST_SHED_UPSERT) != 0) failed = 1;
    else stored += sqlite3_changes(c->db) > 0;
  }
  if (!failed && mc__exec(c, MC_ST_COMMIT) != 0) failed = 1;
  cJSON_Delete(o);
  if (failed) {
    mc__exec(c, MC_ST_ROLLBACK);
    return reply_error(c, resp, 500, "internal", "store failed");
  }
  c->stats.shed_reports += n;
  char json[96];
  int len = snprintf(json, sizeof json, "{\"accepted\":%d,\"stored\":%" PRId64 "}", n, stored);
  return reply_raw(resp, 200, json, (size_t)len);
}

/* ---- routing ---- */

typedef int (*handler_fn)(mc_cloud *, const mc_request *, int64_t, mc_response *);

static const struct route {
  const char *path;
  handler_fn fn;
} routes[] = {
    {"/v1/enroll", handle_enroll},
    {"/v1/challenge", handle_challenge},
    {"/v1/session", handle_session},
    {"/v1/ingest", handle_ingest},
    {"/v1/shed", handle_shed},
};

int mc_handle(mc_cloud *c, const mc_request *req, mc_response *resp) {
  if (!resp) return MC_EINVAL;
  memset(resp, 0, sizeof *resp);
  if (!c || !req || !req->method || !req->path || (!req->body && req->body_len) ||
      (!req->headers && req->n_headers))
    return MC_EINVAL;
  int64_t now = c->env.wall_ms(c->env.ctx);
  format_date(now, resp->date);
  c->stats.requests++;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (strcmp(req->path, routes[i].path) != 0) continue;
    if (strcmp(req->method, "POST") != 0)
      return reply_error(c, resp, 405, "method_not_allowed", "use POST");
    if (routes[i].fn != handle_ingest && req->body_len > WIRE_MAX_JSON_REPLY)
      return reply_error(c, resp, 413, "too_large", "body over 64 KiB");
    return routes[i].fn(c, req, now, resp);
  }
  return reply_error(c, resp, 404, "not_found", "no such endpoint");
}

void mc_response_free(mc_response *resp) {
  if (!resp) return;
  free(resp->body);
  resp->body = NULL;
  resp->body_len = 0;
}
