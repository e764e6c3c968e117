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
#include "mc_ecverify.h"
#include "mc_int.h"
#include "mc_metrics.h"

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

/* A fresh random id in hex: MC_OK or MC_ERANDOM. */
static int new_hex_id(mc_cloud *c, char out[MC_AGENT_ID_LEN + 1]) {
  unsigned char raw[MC_AGENT_ID_LEN / 2];
  if (mc__random(c, raw, sizeof raw) != MC_OK) return MC_ERANDOM;
  crypto_hex(raw, sizeof raw, out);
  return MC_OK;
}

/* Copies the agent's public key, revoked flag and workspace: MC_OK,
 * MC_EINVAL (no such agent, or a key larger than cap) or MC_EDB. A store
 * error must not answer "unknown agent": the agent would enroll anew. */
static int agent_key(mc_cloud *c, const char *agent_id, uint8_t *pub, size_t cap, size_t *len,
                     int *revoked, int64_t *ws) {
  sqlite3_stmt *s = mc__stmt(c, MC_ST_AGENT_KEY);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int step = sqlite3_step(s), rc = step == SQLITE_DONE ? MC_EINVAL : MC_EDB;
  if (step == SQLITE_ROW) {
    int n = sqlite3_column_bytes(s, 0);
    rc = MC_EINVAL;
    if (n > 0 && (size_t)n <= cap) {
      memcpy(pub, sqlite3_column_blob(s, 0), (size_t)n);
      *len = (size_t)n;
      *revoked = sqlite3_column_int(s, 1);
      *ws = sqlite3_column_int64(s, 2);
      rc = MC_OK;
    }
  }
  sqlite3_reset(s);
  return rc;
}

/* *same: whether workspace number id is called name. MC_OK or MC_EDB (a
 * store error is not "another workspace"). */
static int workspace_is(mc_cloud *c, int64_t id, const char *name, int *same) {
  sqlite3_stmt *s = NULL;
  *same = 0;
  if (sqlite3_prepare_v2(c->db, "SELECT name FROM workspaces WHERE id = ?1", -1, &s, NULL) !=
      SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_int64(s, 1, id);
  int step = sqlite3_step(s);
  *same = step == SQLITE_ROW && sqlite3_column_text(s, 0) &&
          strcmp((const char *)sqlite3_column_text(s, 0), name) == 0;
  sqlite3_finalize(s);
  return step == SQLITE_ROW || step == SQLITE_DONE ? MC_OK : MC_EDB;
}

static void add_alert(mc_cloud *c, int64_t ws, const char *kind, const char *agent,
                      const char *other, const char *inst, const char *other_inst,
                      const char *detail, int64_t now) {
  sqlite3_stmt *s = mc__stmt(c, MC_ST_ALERT_INSERT);
  sqlite3_bind_int64(s, 1, ws);
  sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, agent, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, other, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 5, inst, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 6, other_inst, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 7, detail, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 8, now);
  if (mc__exec(c, MC_ST_ALERT_INSERT) == MC_OK) c->stats.alerts++;
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
  /* Optional: this enrollment replaces a cloned identity (docs/protocol.md). */
  const cJSON *cf_item = cJSON_GetObjectItemCaseSensitive(o, "cloned_from");
  const char *cloned_from = get_str(o, "cloned_from", MC_AGENT_ID_LEN);
  const char *reason = get_str(o, "clone_reason", 32);
  const char *bad = !token ? "token" : !pub_b64 ? "public_key" : !host ? "hostname"
                  : !mid   ? "machine_id" : !ver ? "agent_version"
                  : (cf_item && (!cloned_from || !wire_is_hex_id(cloned_from))) ? "cloned_from"
                  : (cloned_from && (!reason || (strcmp(reason, "hardware_changed") != 0 &&
                                                 strcmp(reason, "ratchet_conflict") != 0)))
                      ? "clone_reason"
                      : NULL;
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
  int v = mc_ec_verify(pub, pub_len, req->body, req->body_len, sig, sig_len);
  if (v == CRYPTO_EINVAL) {
    rc = reply_error(c, resp, 400, "bad_request", "public_key is not a P-256 public key");
    goto out;
  }
  if (v != CRYPTO_OK) {
    rc = reply_error(c, resp, 401, "bad_proof", "proof does not verify with public_key");
    goto out;
  }
  if (cloned_from) {
    /* Only the holder of the old key can report a clone of it, and only in
     * the old identity's own workspace. */
    uint8_t old_pub[512];
    size_t old_len = 0;
    int revoked = 0;
    int64_t old_ws = 0;
    const char *cp = header(req, WIRE_HDR_CLONE_PROOF);
    uint8_t csig[CRYPTO_SIG_MAX + 16];
    size_t csig_len = 0;
    int k = agent_key(c, cloned_from, old_pub, sizeof old_pub, &old_len, &revoked, &old_ws);
    if (k != MC_OK) {
      rc = k == MC_EDB ? reply_error(c, resp, 500, "internal", "store failed")
                       : reply_error(c, resp, 400, "bad_request", "cloned_from names no agent");
      goto out;
    }
    if (old_ws != ws_id) {
      rc = reply_error(c, resp, 403, "foreign_workspace",
                       "cloned_from belongs to another workspace");
      goto out;
    }
    if (!cp || crypto_b64_decode(cp, strlen(cp), csig, sizeof csig, &csig_len) != CRYPTO_OK ||
        mc_ec_verify(old_pub, old_len, req->body, req->body_len, csig, csig_len) !=
            CRYPTO_OK) {
      rc = reply_error(c, resp, 401, "bad_clone_proof",
                       "X-Outpost-Clone-Proof is not the old key's signature over the body");
      goto out;
    }
  }
  char agent_id[MC_AGENT_ID_LEN + 1];
  if (new_hex_id(c, agent_id) != MC_OK) {
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
  sqlite3_bind_text(s, 8, cloned_from ? cloned_from : "", -1, SQLITE_STATIC);
  if (mc__exec(c, MC_ST_AGENT_INSERT) != MC_OK) {
    rc = reply_error(c, resp, 500, "internal", "store failed");
    goto out;
  }
  c->stats.enrollments++;
  if (cloned_from) {
    int hw = strcmp(reason, "hardware_changed") == 0;
    c->stats.clone_enrollments++;
    add_alert(c, ws_id, hw ? "clone_new_hardware" : "clone_reenrolled", agent_id, cloned_from, "",
              "", hw ? "identity found on other hardware; re-enrolled as a new agent"
                     : "quarantined copy re-enrolled as a new agent",
              now);
  }
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


/* ---- POST /v1/challenge ---- */

static int handle_challenge(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp) {
  cJSON *o = parse_body(req);
  if (!o) return reply_error(c, resp, 400, "bad_request", "body is not a JSON object");
  int rc;
  const char *agent_id = get_str(o, "agent_id", MC_AGENT_ID_LEN);
  uint8_t pub[512];
  size_t pub_len;
  int revoked = 0;
  int64_t ws = 0;
  if (!agent_id) {
    rc = reply_error(c, resp, 400, "bad_request", "field \"agent_id\" missing or not a string");
    goto out;
  }
  int k = agent_key(c, agent_id, pub, sizeof pub, &pub_len, &revoked, &ws);
  if (k != MC_OK) {
    rc = k == MC_EDB ? reply_error(c, resp, 500, "internal", "store failed")
                     : reply_error(c, resp, 401, "unknown_agent", "agent is not enrolled");
    goto out;
  }
  if (revoked) {
    c->stats.revoked_refusals++;
    rc = reply_error(c, resp, 403, "revoked", "this agent was revoked by the workspace");
    goto out;
  }
  unsigned char raw[32];
  char chal[64];
  size_t clen;
  if (mc__random(c, raw, sizeof raw) != MC_OK ||
      crypto_b64_encode(raw, sizeof raw, chal, sizeof chal, &clen) != CRYPTO_OK) {
    rc = reply_error(c, resp, 500, "internal", "no randomness");
    goto out;
  }
  /* One live challenge per agent; expired ones of everyone go too. */
  sqlite3_stmt *s = mc__stmt(c, MC_ST_CHAL_PURGE);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, now);
  int ok = mc__exec(c, MC_ST_CHAL_PURGE) == MC_OK;
  s = mc__stmt(c, MC_ST_CHAL_INSERT);
  sqlite3_bind_text(s, 1, chal, (int)clen, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, now + c->opts.challenge_ttl_s * 1000);
  ok = ok && mc__exec(c, MC_ST_CHAL_INSERT) == MC_OK;
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
  const char *inst = get_str(o, "instance", MC_AGENT_ID_LEN);
  if (!agent_id || !chal || !sig_b64 || !inst || !wire_is_hex_id(inst)) {
    rc = reply_error(c, resp, 400, "bad_request",
                     "fields \"agent_id\", \"challenge\", \"signature\" must be strings,"
                     " \"instance\" 32 hex");
    goto out;
  }
  uint8_t pub[512];
  size_t pub_len;
  int revoked = 0;
  int64_t ws = 0;
  int k = agent_key(c, agent_id, pub, sizeof pub, &pub_len, &revoked, &ws);
  if (k != MC_OK) {
    rc = k == MC_EDB ? reply_error(c, resp, 500, "internal", "store failed")
                     : reply_error(c, resp, 401, "unknown_agent", "agent is not enrolled");
    goto out;
  }
  if (revoked) {
    c->stats.revoked_refusals++;
    rc = reply_error(c, resp, 403, "revoked", "this agent was revoked by the workspace");
    goto out;
  }
  /* An agent names the workspace it enrolled in; credentials presented for
   * another one are refused even though key and id are genuine. */
  const char *ws_claim = get_str(o, "workspace", 64);
  int same = 1;
  if (ws_claim && workspace_is(c, ws, ws_claim, &same) != MC_OK) {
    rc = reply_error(c, resp, 500, "internal", "store failed");
    goto out;
  }
  if (!same) {
    rc = reply_error(c, resp, 403, "foreign_workspace",
                     "this agent belongs to another workspace");
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
  int mlen = wire_session_message(agent_id, chal, inst, msg, sizeof msg);
  uint8_t sig[CRYPTO_SIG_MAX + 16];
  size_t sig_len = 0;
  if (mlen < 0 ||
      crypto_b64_decode(sig_b64, strlen(sig_b64), sig, sizeof sig, &sig_len) != CRYPTO_OK ||
      mc_ec_verify(pub, pub_len, msg, (size_t)mlen, sig, sig_len) != CRYPTO_OK) {
    rc = reply_error(c, resp, 401, "bad_signature", "challenge signature does not verify");
    goto out;
  }
  char sid[MC_AGENT_ID_LEN + 1];
  /* The store keeps a random nonce; the key is derived from it and the
   * master key, which is not in the store (mc__session_key). */
  unsigned char nonce[MC_SESSION_NONCE_LEN], key[32];
  char key_b64[64];
  size_t klen;
  if (new_hex_id(c, sid) != MC_OK || mc__random(c, nonce, sizeof nonce) != MC_OK) {
    rc = reply_error(c, resp, 500, "internal", "no randomness");
    goto out;
  }
  mc__session_key(c, nonce, sizeof nonce, sid, key);
  int enc = crypto_b64_encode(key, sizeof key, key_b64, sizeof key_b64, &klen) == CRYPTO_OK;
  memset(key, 0, sizeof key);
  if (!enc) {
    rc = reply_error(c, resp, 500, "internal", "cannot encode the session key");
    goto out;
  }
  int ok = mc__exec(c, MC_ST_BEGIN) == MC_OK;
  s = mc__stmt(c, MC_ST_CHAL_DELETE);
  sqlite3_bind_text(s, 1, chal, -1, SQLITE_STATIC);
  ok = ok && mc__exec(c, MC_ST_CHAL_DELETE) == MC_OK;
  s = mc__stmt(c, MC_ST_SESS_PURGE);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, now);
  ok = ok && mc__exec(c, MC_ST_SESS_PURGE) == MC_OK;
  s = mc__stmt(c, MC_ST_SESS_INSERT);
  sqlite3_bind_text(s, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_blob(s, 3, nonce, sizeof nonce, SQLITE_STATIC);
  sqlite3_bind_int64(s, 4, now + c->opts.session_ttl_s * 1000);
  sqlite3_bind_text(s, 5, inst, -1, SQLITE_STATIC);
  ok = ok && mc__exec(c, MC_ST_SESS_INSERT) == MC_OK;
  s = mc__stmt(c, MC_ST_AGENT_TOUCH);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, now);
  ok = ok && mc__exec(c, MC_ST_AGENT_TOUCH) == MC_OK;
  ok = ok && mc__exec(c, MC_ST_COMMIT) == MC_OK;
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

/* What authenticate() learned about a request. */
typedef struct auth_info {
  char agent_id[MC_AGENT_ID_LEN + 1];
  char instance[MC_AGENT_ID_LEN + 1];
  char ratchet[MC_AGENT_ID_LEN + 1];
  int64_t t; /* the agent's X-Outpost-Time */
} auth_info;

#define MC_REPLAY_PURGE_EVERY 1024
/* ratchet_cur value meaning "adopt what the current instance presents next":
 * set when the identity is handed back to an instance after a quarantine. */
#define MC_RATCHET_ADOPT "*"

/* MC_OK and *ai filled, or MC_EINVAL after replying (401 / 403 / 500):
 * the caller returns *rc, mc_handle's result for that reply. */
static int authenticate(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp,
                        auth_info *ai, int *rc) {
  const char *sid = header(req, WIRE_HDR_SESSION);
  const char *tstr = header(req, WIRE_HDR_TIME);
  const char *sig = header(req, WIRE_HDR_SIGNATURE);
  const char *inst = header(req, WIRE_HDR_INSTANCE);
  const char *rat = header(req, WIRE_HDR_RATCHET);
  int64_t t;
  if (!sid || !tstr || !sig || !inst || !rat || !parse_int(tstr, &t) || strlen(sig) != 64 ||
      !wire_is_hex_id(inst) || (!wire_is_hex_id(rat) && strcmp(rat, WIRE_RATCHET_NONE) != 0)) {
    *rc = reply_error(c, resp, 401, "bad_signature",
                      "X-Outpost-Session, -Time, -Signature, -Instance and -Ratchet are required");
    return MC_EINVAL;
  }
  sqlite3_stmt *s = mc__stmt(c, MC_ST_SESS_GET);
  sqlite3_bind_text(s, 1, sid, -1, SQLITE_STATIC);
  int step = sqlite3_step(s);
  if (step != SQLITE_ROW && step != SQLITE_DONE) { /* not "unknown": the store failed */
    sqlite3_reset(s);
    *rc = reply_error(c, resp, 500, "internal", "store failed");
    return MC_EINVAL;
  }
  if (step != SQLITE_ROW || sqlite3_column_bytes(s, 0) != MC_AGENT_ID_LEN) {
    sqlite3_reset(s);
    *rc = reply_error(c, resp, 401, "unknown_session", "session is not known");
    return MC_EINVAL;
  }
  memcpy(ai->agent_id, sqlite3_column_text(s, 0), MC_AGENT_ID_LEN);
  ai->agent_id[MC_AGENT_ID_LEN] = 0;
  uint8_t key[32];
  int klen = sqlite3_column_bytes(s, 1) == MC_SESSION_NONCE_LEN ? (int)sizeof key : 0;
  if (klen > 0) mc__session_key(c, sqlite3_column_blob(s, 1), MC_SESSION_NONCE_LEN, sid, key);
  else memset(key, 0, sizeof key);
  int64_t expires = sqlite3_column_int64(s, 2);
  const char *sinst = (const char *)sqlite3_column_text(s, 3);
  int inst_ok = sinst && strcmp(sinst, inst) == 0;
  sqlite3_reset(s);
  if (expires < now) {
    memset(key, 0, sizeof key);
    *rc = reply_error(c, resp, 401, "session_expired", "session expired; open a new one");
    return MC_EINVAL;
  }
  if (t > now + WIRE_CLOCK_SKEW_MS || t < now - WIRE_CLOCK_SKEW_MS) {
    memset(key, 0, sizeof key);
    char msg[160];
    snprintf(msg, sizeof msg,
             "X-Outpost-Time %" PRId64 " is %" PRId64 " ms from the cloud's %" PRId64
             " (tolerance %d ms)",
             t, t - now, now, WIRE_CLOCK_SKEW_MS);
    *rc = reply_error(c, resp, 401, "clock_skew", msg);
    return MC_EINVAL;
  }
  char mac[65];
  wire_request_mac(key, (size_t)klen, req->method, req->path, t, req->body, req->body_len, inst,
                   rat, mac);
  memset(key, 0, sizeof key);
  if (klen == 0 || !crypto_equal(mac, sig, 64) || !inst_ok) {
    *rc = reply_error(c, resp, 401, "bad_signature",
                      inst_ok ? "request signature does not match"
                              : "session belongs to another agent process");
    return MC_EINVAL;
  }
  /* A MAC seen before within the skew window is a replay: refuse it before
   * it can touch anything (no clone verdict either). Older ones are already
   * refused as clock_skew, so the cache only needs the window. */
  if (c->stats.requests % MC_REPLAY_PURGE_EVERY == 0) {
    s = mc__stmt(c, MC_ST_REPLAY_PURGE);
    sqlite3_bind_int64(s, 1, now);
    mc__exec(c, MC_ST_REPLAY_PURGE);
  }
  s = mc__stmt(c, MC_ST_REPLAY_INSERT);
  sqlite3_bind_text(s, 1, sig, 64, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, now + 2LL * WIRE_CLOCK_SKEW_MS);
  if (mc__exec(c, MC_ST_REPLAY_INSERT) != MC_OK) {
    *rc = reply_error(c, resp, 500, "internal", "store failed");
    return MC_EINVAL;
  }
  if (sqlite3_changes(c->db) == 0) {
    c->stats.replays_refused++;
    *rc = reply_error(c, resp, 401, "replayed", "this request was already received");
    return MC_EINVAL;
  }
  memcpy(ai->instance, inst, MC_AGENT_ID_LEN + 1);
  snprintf(ai->ratchet, sizeof ai->ratchet, "%s", rat);
  ai->t = t;
  return 0;
}

/* ---- identity: instance and ratchet rules (docs/protocol.md) ---- */

typedef struct ident_row {
  char cur[MC_AGENT_ID_LEN + 1], next[MC_AGENT_ID_LEN + 1], inst[MC_AGENT_ID_LEN + 1];
  int64_t seen_t, ws;
  int revoked;
  int64_t cur_seen_ms, probation_until_ms;
  char probation_owner[MC_AGENT_ID_LEN + 1];
} ident_row;

/* The agent's identity row: MC_OK, MC_EINVAL (no such agent) or MC_EDB. */
static int load_ident(mc_cloud *c, const char *agent_id, ident_row *r) {
  sqlite3_stmt *s = mc__stmt(c, MC_ST_AGENT_IDENT);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int step = sqlite3_step(s), found = step == SQLITE_ROW;
  if (found) {
    snprintf(r->cur, sizeof r->cur, "%s", (const char *)sqlite3_column_text(s, 0));
    snprintf(r->next, sizeof r->next, "%s", (const char *)sqlite3_column_text(s, 1));
    snprintf(r->inst, sizeof r->inst, "%s", (const char *)sqlite3_column_text(s, 2));
    r->seen_t = sqlite3_column_int64(s, 3);
    r->ws = sqlite3_column_int64(s, 4);
    r->revoked = sqlite3_column_int(s, 5);
    r->cur_seen_ms = sqlite3_column_int64(s, 6);
    r->probation_until_ms = sqlite3_column_int64(s, 7);
    snprintf(r->probation_owner, sizeof r->probation_owner, "%s",
             (const char *)sqlite3_column_text(s, 8));
  }
  sqlite3_reset(s);
  return found ? MC_OK : step == SQLITE_DONE ? MC_EINVAL : MC_EDB;
}

/* MC_OK or MC_EDB. */
static int save_ident(mc_cloud *c, const char *agent_id, const ident_row *r) {
  sqlite3_stmt *s = mc__stmt(c, MC_ST_AGENT_SET_IDENT);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, r->cur, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, r->next, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, r->inst, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 5, r->seen_t);
  sqlite3_bind_int64(s, 6, r->cur_seen_ms);
  sqlite3_bind_int64(s, 7, r->probation_until_ms);
  sqlite3_bind_text(s, 8, r->probation_owner, -1, SQLITE_STATIC);
  return mc__exec(c, MC_ST_AGENT_SET_IDENT);
}

static void put_instance(mc_cloud *c, const char *agent_id, const char *inst, const char *state,
                         const char *by, int64_t t) {
  sqlite3_stmt *s = mc__stmt(c, MC_ST_INST_PUT);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, inst, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, state, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, by, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 5, t);
  mc__exec(c, MC_ST_INST_PUT);
}

/* Clone evidence against instance ai->instance: quarantine it, alert, and if
 * it had displaced an older instance, give the identity back to that one. */
static int quarantine(mc_cloud *c, const auth_info *ai, ident_row *r, const char *kind,
                      const char *other_inst, const char *detail, int64_t now,
                      mc_response *resp) {
  put_instance(c, ai->agent_id, ai->instance, "quarantined", other_inst, ai->t);
  if (strcmp(r->inst, ai->instance) == 0) {
    char prev[MC_AGENT_ID_LEN + 1] = "";
    sqlite3_stmt *s = mc__stmt(c, MC_ST_INST_SUPERSEDED_BY);
    sqlite3_bind_text(s, 1, ai->agent_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ai->instance, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
      snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_reset(s);
    if (prev[0]) {
      s = mc__stmt(c, MC_ST_INST_DELETE);
      sqlite3_bind_text(s, 1, ai->agent_id, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 2, prev, -1, SQLITE_STATIC);
      mc__exec(c, MC_ST_INST_DELETE);
    }
    memcpy(r->inst, prev, sizeof prev);
    if (prev[0]) snprintf(r->cur, sizeof r->cur, "%s", MC_RATCHET_ADOPT);
    save_ident(c, ai->agent_id, r);
  }
  add_alert(c, r->ws, kind, ai->agent_id, ai->agent_id, ai->instance, other_inst, detail, now);
  c->stats.clone_refusals++;
  return reply_error(c, resp, 409, "clone_detected",
                     "another live copy holds this identity: re-enroll as a new agent");
}

/* Applies the instance and ratchet rules to an authenticated request:
 * MC_OK (accepted; *r updated and saved), or MC_EINVAL after replying (401,
 * 403, 409, or 500 when the store failed) with mc_handle's result in *rc. */
static int check_identity(mc_cloud *c, const auth_info *ai, int64_t now, int data,
                          ident_row *r, mc_response *resp, int *rc) {
  int k = load_ident(c, ai->agent_id, r);
  if (k != MC_OK) {
    *rc = k == MC_EDB ? reply_error(c, resp, 500, "internal", "store failed")
                      : reply_error(c, resp, 401, "unknown_agent", "agent is not enrolled");
    return MC_EINVAL;
  }
  if (r->revoked) {
    c->stats.revoked_refusals++;
    *rc = reply_error(c, resp, 403, "revoked", "this agent was revoked by the workspace");
    return MC_EINVAL;
  }
  int is_cur = strcmp(ai->instance, r->inst) == 0;
  if (!is_cur) {
    sqlite3_stmt *s = mc__stmt(c, MC_ST_INST_GET);
    sqlite3_bind_text(s, 1, ai->agent_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ai->instance, -1, SQLITE_STATIC);
    char state[16] = "", by[MC_AGENT_ID_LEN + 1] = "";
    int64_t at_t = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
      snprintf(state, sizeof state, "%s", (const char *)sqlite3_column_text(s, 0));
      snprintf(by, sizeof by, "%s", (const char *)sqlite3_column_text(s, 1));
      at_t = sqlite3_column_int64(s, 2);
    }
    sqlite3_reset(s);
    if (strcmp(state, "quarantined") == 0) {
      c->stats.clone_refusals++;
      *rc = reply_error(c, resp, 409, "clone_detected",
                        "this copy was quarantined: re-enroll as a new agent");
      return MC_EINVAL;
    }
    if (strcmp(state, "superseded") == 0) {
      if (ai->t <= at_t) {
        /* Signed before its successor started: a dead process's late request. */
        c->stats.superseded_refusals++;
        *rc = reply_error(c, resp, 409, "superseded_instance",
                          "a newer process of this agent has taken over");
        return MC_EINVAL;
      }
      /* The process we took for dead is alive: two live copies. The newcomer
       * (started from a copy of this disk) loses; the original keeps its
       * identity, so what it sends stays its own. */
      put_instance(c, ai->agent_id, by, "quarantined", ai->instance, ai->t);
      if (r->inst[0] && strcmp(r->inst, by) != 0)
        put_instance(c, ai->agent_id, r->inst, "quarantined", ai->instance, ai->t);
      sqlite3_stmt *d = mc__stmt(c, MC_ST_INST_DELETE);
      sqlite3_bind_text(d, 1, ai->agent_id, -1, SQLITE_STATIC);
      sqlite3_bind_text(d, 2, ai->instance, -1, SQLITE_STATIC);
      mc__exec(c, MC_ST_INST_DELETE);
      memcpy(r->inst, ai->instance, sizeof r->inst);
      snprintf(r->cur, sizeof r->cur, "%s", MC_RATCHET_ADOPT);
      add_alert(c, r->ws, "clone_live_copies", ai->agent_id, ai->agent_id, by, ai->instance,
                "two processes used this identity at once; the newer one was quarantined", now);
      c->stats.clone_refusals++;
      is_cur = 1;
    }
  }
  if (is_cur && strcmp(r->cur, MC_RATCHET_ADOPT) == 0) {
    /* Given back after a quarantine: whatever the owner presents is its value. */
    snprintf(r->cur, sizeof r->cur, "%s", ai->ratchet);
    snprintf(r->next, sizeof r->next, "%s", ai->ratchet);
    r->seen_t = ai->t;
  }
  if (strcmp(ai->ratchet, r->next) == 0) {
    if (strcmp(r->cur, r->next) != 0) {
      memcpy(r->cur, r->next, sizeof r->cur);
      r->seen_t = ai->t;
    }
  } else if (strcmp(ai->ratchet, r->cur) != 0) {
    if (is_cur && ai->t <= r->seen_t) {
      /* The same process used this value before it moved on: a late request. */
      c->stats.stale_requests++;
      *rc = reply_error(c, resp, 409, "stale_request",
                        "request older than this agent's current ratchet");
      return MC_EINVAL;
    }
    *rc = quarantine(c, ai, r, "clone_stale_ratchet", r->inst,
                     "a copy presented a ratchet value its identity has moved past", now, resp);
    return MC_EINVAL;
  }
  if (!is_cur) {
    if (r->inst[0]) {
      put_instance(c, ai->agent_id, r->inst, "superseded", ai->instance, ai->t);
      /* The one we replace spoke recently: it may be alive (we may be its
       * clone). Until it would have had to check in, only it (the oldest
       * process of the chain) may ship data; a window already open keeps
       * its owner. */
      int64_t p = c->opts.probation_s > 0 ? c->opts.probation_s * 1000 : 0;
      if (now >= r->probation_until_ms && now - r->cur_seen_ms < p) {
        r->probation_until_ms = r->cur_seen_ms + p;
        memcpy(r->probation_owner, r->inst, sizeof r->probation_owner);
      }
    }
    memcpy(r->inst, ai->instance, sizeof r->inst);
  }
  r->cur_seen_ms = now;
  if (save_ident(c, ai->agent_id, r) != MC_OK) {
    *rc = reply_error(c, resp, 500, "internal", "store failed");
    return MC_EINVAL;
  }
  if (data && now < r->probation_until_ms && strcmp(ai->instance, r->probation_owner) != 0) {
    c->stats.probation_refusals++;
    char json[160];
    int64_t wait_s = (r->probation_until_ms - now + 999) / 1000;
    int n = snprintf(json, sizeof json,
                     "{\"error\":\"probation\",\"message\":\"a previous process of this agent"
                     " was active recently; data waits\",\"retry_after_s\":%" PRId64 "}",
                     wait_s);
    c->stats.rejected++;
    *rc = reply_raw(resp, 409, json, (size_t)n);
    return MC_EINVAL;
  }
  return 0;
}

/* ---- POST /v1/checkin ---- */

static void record_drift(mc_cloud *c, const auth_info *ai, const cJSON *drift, int64_t now) {
  int n = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, drift) {
    if (++n > 16) break; /* the agent sends at most 16; more is noise */
    char *text = cJSON_PrintUnformatted(d);
    if (!text) continue;
    if (strlen(text) <= 512) {
      sqlite3_stmt *s = mc__stmt(c, MC_ST_EVENT_INSERT);
      sqlite3_bind_text(s, 1, ai->agent_id, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 2, ai->instance, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 3, "permission_drift", -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 4, text, -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 5, now);
      mc__exec(c, MC_ST_EVENT_INSERT);
    }
    cJSON_free(text);
  }
}

/* issue #6: the updater's reports (docs/updates.md "Reports"): each object
 * becomes an event of kind "update_<kind>" (refused, staged, error; rollback
 * from the supervisor, relayed by the agent), detail
 * its JSON. The agent keeps a report until a check-in succeeds, so a repeat
 * is possible and harmless (events are keyed by their content). */
static void record_update(mc_cloud *c, const auth_info *ai, const cJSON *arr, int64_t now) {
  int n = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, arr) {
    if (++n > 16) break; /* the agent sends at most 8 */
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(d, "kind");
    if (!cJSON_IsObject(d) || !cJSON_IsString(k)) continue;
    char kind[40];
    if (strcmp(k->valuestring, "refused") != 0 && strcmp(k->valuestring, "staged") != 0 &&
        strcmp(k->valuestring, "error") != 0 && strcmp(k->valuestring, "rollback") != 0)
      continue;
    snprintf(kind, sizeof kind, "update_%s", k->valuestring);
    char *text = cJSON_PrintUnformatted(d);
    if (!text) continue;
    if (strlen(text) <= 1024) {
      sqlite3_stmt *s = mc__stmt(c, MC_ST_EVENT_INSERT);
      sqlite3_bind_text(s, 1, ai->agent_id, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 2, ai->instance, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 3, kind, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 4, text, -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 5, now);
      mc__exec(c, MC_ST_EVENT_INSERT);
    }
    cJSON_free(text);
  }
}

static int handle_checkin(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp) {
  int rc;
  auth_info ai;
  if (authenticate(c, req, now, resp, &ai, &rc) != MC_OK) return rc;
  cJSON *o = parse_body(req);
  if (!o) return reply_error(c, resp, 400, "bad_request", "body is not a JSON object");
  const cJSON *drift = cJSON_GetObjectItemCaseSensitive(o, "drift");
  if (drift && !cJSON_IsArray(drift)) {
    cJSON_Delete(o);
    return reply_error(c, resp, 400, "bad_request", "\"drift\" must be an array");
  }
  ident_row r;
  if (check_identity(c, &ai, now, 0, &r, resp, &rc) != MC_OK) {
    cJSON_Delete(o);
    return rc;
  }
  /* The check-in is where the ratchet moves: a value once presented (cur ==
   * next) gets a successor; an unchanged next is re-issued (its reply was lost). */
  if (strcmp(r.cur, r.next) == 0) {
    if (new_hex_id(c, r.next) != MC_OK || save_ident(c, ai.agent_id, &r) != MC_OK) {
      cJSON_Delete(o);
      return reply_error(c, resp, 500, "internal", "store failed");
    }
  }
  if (drift) record_drift(c, &ai, drift, now);
  /* issue #5: the agent's self-metrics; a malformed set is dropped, never
   * a reason to refuse the check-in (it moved the ratchet already). */
  const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(o, "metrics");
  if (metrics) mc_metrics_store(c, ai.agent_id, metrics, now);
  const cJSON *upd = cJSON_GetObjectItemCaseSensitive(o, "update");
  if (cJSON_IsArray(upd)) record_update(c, &ai, upd, now);
  cJSON_Delete(o);
  c->stats.checkins++;
  sqlite3_stmt *s = mc__stmt(c, MC_ST_AGENT_TOUCH);
  sqlite3_bind_text(s, 1, ai.agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, now);
  mc__exec(c, MC_ST_AGENT_TOUCH);
  char json[160];
  int n = snprintf(json, sizeof json,
                   "{\"ratchet_next\":\"%s\",\"server_time_ms\":%" PRId64 "}", r.next, now);
  return reply_raw(resp, 200, json, (size_t)n);
}

/* ---- POST /v1/ingest ---- */

typedef struct ingest_ctx {
  mc_cloud *c;
  const char *agent_id;
  int64_t now;
  int64_t stored, dups, lo, hi;
  int db_failed;
  int conflict;      /* a held seq arrived with other content: clone evidence */
  int64_t conflict_seq;
} ingest_ctx;

/* 1 if the record held at r->seq has other content than r. */
static int differs(ingest_ctx *x, const wire_record *r) {
  sqlite3_stmt *s = mc__stmt(x->c, MC_ST_REC_LINE);
  sqlite3_bind_text(s, 1, x->agent_id, MC_AGENT_ID_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, r->seq);
  int diff = 0;
  if (sqlite3_step(s) == SQLITE_ROW) {
    size_t ll = (size_t)sqlite3_column_bytes(s, 0), sl = (size_t)sqlite3_column_bytes(s, 1);
    const void *l = sqlite3_column_text(s, 0), *src = sqlite3_column_text(s, 1);
    diff = ll != r->line_len || sl != r->source_len || (ll && memcmp(l, r->line, ll) != 0) ||
           (sl && memcmp(src, r->source, sl) != 0);
  }
  sqlite3_reset(s);
  return diff;
}

static int store_record(void *user, const wire_record *r) {
  ingest_ctx *x = user;
  sqlite3_stmt *s = mc__stmt(x->c, MC_ST_REC_INSERT);
  sqlite3_bind_text(s, 1, x->agent_id, MC_AGENT_ID_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, r->seq);
  sqlite3_bind_int64(s, 3, r->ts_ms);
  sqlite3_bind_text(s, 4, r->source, (int)r->source_len, SQLITE_STATIC);
  sqlite3_bind_text(s, 5, r->line, (int)r->line_len, SQLITE_STATIC);
  sqlite3_bind_int64(s, 6, x->now);
  if (mc__exec(x->c, MC_ST_REC_INSERT) != MC_OK) {
    x->db_failed = 1;
    return 1;
  }
  if (sqlite3_changes(x->c->db) > 0) {
    if (x->stored == 0 || r->seq < x->lo) x->lo = r->seq;
    if (x->stored == 0 || r->seq > x->hi) x->hi = r->seq;
    x->stored++;
  } else {
    if (differs(x, r)) {
      x->conflict = 1;
      x->conflict_seq = r->seq;
      return 1;
    }
    x->dups++;
  }
  return 0;
}

static int handle_ingest(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp) {
  int rc;
  auth_info ai;
  const char *agent_id = ai.agent_id;
  if (req->body_len > WIRE_MAX_BODY)
    return reply_error(c, resp, 413, "too_large", "body over 4 MiB");
  if (authenticate(c, req, now, resp, &ai, &rc) != MC_OK) return rc;
  ident_row ir;
  if (check_identity(c, &ai, now, 1, &ir, resp, &rc) != MC_OK) return rc;
  int64_t first, last;
  if (!parse_int(header(req, WIRE_HDR_FIRST_SEQ), &first) ||
      !parse_int(header(req, WIRE_HDR_LAST_SEQ), &last) || first < 1 || last < first)
    return reply_error(c, resp, 400, "bad_batch",
                       "X-Outpost-First-Seq and X-Outpost-Last-Seq must be 1 <= first <= last");
  if (last - first + 1 > WIRE_MAX_RECORDS)
    return reply_error(c, resp, 413, "too_large", "more than 10000 records");

  ingest_ctx x = {.c = c, .agent_id = agent_id, .now = now};
  char err[256] = "";
  if (mc__exec(c, MC_ST_BEGIN) != MC_OK) return reply_error(c, resp, 500, "internal", "store failed");
  int w = wire_batch_decode_z(c->z, req->body, req->body_len, first, last, store_record, &x, err,
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
      if (mc__exec(c, MC_ST_AGENT_INGESTED) != MC_OK) x.db_failed = 1;
    } else {
      s = mc__stmt(c, MC_ST_AGENT_TOUCH);
      sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 2, now);
      if (mc__exec(c, MC_ST_AGENT_TOUCH) != MC_OK) x.db_failed = 1;
    }
    if (!x.db_failed && mc__exec(c, MC_ST_COMMIT) != MC_OK) x.db_failed = 1;
    if (!x.db_failed) {
      c->stats.ingest_batches++;
      c->stats.records_stored += x.stored;
      c->stats.duplicates += x.dups;
      char json[200];
      /* issue #5: new policy? fetch it. The batch is committed whatever the
       * lookup says: on a store error the hint is left out (next batch). */
      int64_t pv = 0;
      if (mc__policy_version(c, agent_id, &pv) != MC_OK) pv = 0;
      int n = snprintf(json, sizeof json,
                       "{\"acked_through\":%" PRId64 ",\"stored\":%" PRId64
                       ",\"duplicates\":%" PRId64,
                       last, x.stored, x.dups);
      if (pv > 0) /* absent when the workspace has no policy */
        n += snprintf(json + n, sizeof json - (size_t)n, ",\"policy_version\":%" PRId64, pv);
      n += snprintf(json + n, sizeof json - (size_t)n, "}");
      return reply_raw(resp, 200, json, (size_t)n);
    }
  }
  mc__exec(c, MC_ST_ROLLBACK);
  if (x.conflict) {
    char detail[128];
    snprintf(detail, sizeof detail, "seq %" PRId64 " arrived with other content than held",
             x.conflict_seq);
    return quarantine(c, &ai, &ir, "clone_content_conflict", "", detail, now, resp);
  }
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
  auth_info ai;
  const char *agent_id = ai.agent_id;
  if (authenticate(c, req, now, resp, &ai, &rc) != MC_OK) return rc;
  ident_row ir;
  if (check_identity(c, &ai, now, 1, &ir, resp, &rc) != MC_OK) return rc;
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
  int failed = mc__exec(c, MC_ST_BEGIN) != MC_OK;
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
    if (mc__exec(c, MC_ST_SHED_UPSERT) != MC_OK) failed = 1;
    else stored += sqlite3_changes(c->db) > 0;
  }
  if (!failed && mc__exec(c, MC_ST_COMMIT) != MC_OK) failed = 1;
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

/* ---- GET /v1/policy, POST /v1/policy/report (issue #5) ---- */

static int handle_policy(mc_cloud *c, const mc_request *req, int64_t now, mc_response *resp) {
  int rc;
  auth_info ai;
  const char *agent_id = ai.agent_id;
  if (authenticate(c, req, now, resp, &ai, &rc) != MC_OK) return rc;
  ident_row ir;
  if (check_identity(c, &ai, now, 0, &ir, resp, &rc) != MC_OK) return rc;
  char *body = NULL;
  size_t len = 0;
  if (mc__policy_get(c, agent_id, &body, &len) != MC_OK)
    return reply_error(c, resp, 500, "internal", "store failed");
  if (!body) return reply_error(c, resp, 404, "no_policy", "no policy set for this workspace");
  rc = reply_raw(resp, 200, body, len);
  free(body);
  return rc;
}

static int handle_policy_report(mc_cloud *c, const mc_request *req, int64_t now,
                                mc_response *resp) {
  int rc;
  auth_info ai;
  const char *agent_id = ai.agent_id;
  if (authenticate(c, req, now, resp, &ai, &rc) != MC_OK) return rc;
  ident_row ir;
  if (check_identity(c, &ai, now, 0, &ir, resp, &rc) != MC_OK) return rc;
  cJSON *o = parse_body(req);
  if (!o) return reply_error(c, resp, 400, "bad_request", "body is not a JSON object");
  const char *why = NULL;
  int r = mc__policy_report(c, agent_id, o, now, &why);
  cJSON_Delete(o);
  if (r == MC_EINVAL) return reply_error(c, resp, 400, "bad_request", why);
  if (r != MC_OK) return reply_error(c, resp, 500, "internal", "store failed");
  return reply_raw(resp, 200, "{\"ok\":true}", 11);
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
    {"/v1/checkin", handle_checkin},
    {"/v1/shed", handle_shed},
    {"/v1/policy/report", handle_policy_report},
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
  if (strcmp(req->path, "/v1/policy") == 0) { /* the one GET: nothing to post */
    if (strcmp(req->method, "GET") != 0)
      return reply_error(c, resp, 405, "method_not_allowed", "use GET");
    return handle_policy(c, req, now, resp);
  }
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
