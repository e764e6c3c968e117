/* reply.c - readers of the cloud's replies (see reply.h). */
#include "core/reply.h"

#include <cjson/cJSON.h>
#include <stdio.h> /* snprintf only */
#include <string.h>

#include "common/crypto.h"
#include "common/wire.h"
#include "shim/net.h"

int64_t reply_http_date(const char *d) {
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0, mon = -1;
  if (!d || strnlen(d, 30) != 29 || d[3] != ',' || strcmp(d + 25, " GMT") != 0) return 0;
  for (int i = 0; i < 12; i++)
    if (strncmp(months + 3 * i, d + 8, 3) == 0) mon = i;
  const char *digits[] = {d + 5, d + 12, d + 17, d + 20, d + 23};
  int widths[] = {2, 4, 2, 2, 2}, *outs[] = {&day, &year, &hh, &mm, &ss};
  for (int k = 0; k < 5; k++)
    for (int i = 0; i < widths[k]; i++) {
      char ch = digits[k][i];
      if (ch < '0' || ch > '9') return 0;
      *outs[k] = *outs[k] * 10 + (ch - '0');
    }
  if (mon < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970) return 0;
  /* days from civil (H. Hinnant), March-based year; his month is 1-based,
   * ours 0-based, hence +10 (a +9 here put every Date a month early). */
  int y = year - (mon < 2);
  int era = y / 400, yoe = y - era * 400;
  int mp = (mon + 10) % 12;
  int doy = (153 * mp + 2) / 5 + day - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = (int64_t)era * 146097 + doe - 719468;
  return ((days * 24 + hh) * 60 + mm) * 60000LL + ss * 1000LL;
}

int64_t reply_retry_after_ms(const char *ra) {
  if (!ra) return 0;
  int64_t secs = 0;
  int digits = 0;
  /* 9 digits at most: the product below cannot overflow before the cap. */
  for (const char *p = ra; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
    secs = secs * 10 + (*p - '0');
  if (digits == 0) return 0;
  int64_t ms = secs * 1000;
  return ms > REPLY_MAX_RETRY_AFTER_MS ? REPLY_MAX_RETRY_AFTER_MS : ms;
}

static cJSON *parse(const uint8_t *body, size_t body_len) {
  if (!body || body_len == 0) return NULL;
  return cJSON_ParseWithLength((const char *)body, body_len);
}

static const char *json_str(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An integral JSON number that fits int64_t. The bounds are the doubles
 * nearest inside the range: converting anything outside it is undefined. */
static int json_int64(const cJSON *v, int64_t *out) {
  if (!cJSON_IsNumber(v)) return 0;
  double d = v->valuedouble;
  if (!(d >= -9.2e18 && d <= 9.2e18)) return 0; /* also false for NaN */
  int64_t i = (int64_t)d;
  if ((double)i != d) return 0;
  *out = i;
  return 1;
}

int reply_code_is(const uint8_t *body, size_t body_len, const char *code) {
  cJSON *r = parse(body, body_len);
  const char *got = json_str(r, "error");
  int match = got && code && strcmp(got, code) == 0;
  cJSON_Delete(r);
  return match;
}

void reply_describe(int net_error, const char *error_text, int status, const uint8_t *body,
                    size_t body_len, char *out, size_t cap) {
  if (!out || cap == 0) return;
  if (net_error == NET_ETLS) { /* issue #16: say it is the certificate path, not the cloud */
    snprintf(out, cap, "TLS failure (handshake or certificate verification): %s",
             error_text ? error_text : "");
    return;
  }
  if (net_error != 0) {
    snprintf(out, cap, "transport error %d: %s", net_error, error_text ? error_text : "");
    return;
  }
  cJSON *r = parse(body, body_len);
  const char *code = json_str(r, "error"), *msg = json_str(r, "message");
  snprintf(out, cap, "HTTP %d %s%s%s", status, code ? code : "(no error code)", msg ? ": " : "",
           msg ? msg : "");
  cJSON_Delete(r);
}

int64_t reply_probation_wait_ms(const uint8_t *body, size_t body_len) {
  cJSON *r = parse(body, body_len);
  const cJSON *ra = cJSON_GetObjectItemCaseSensitive(r, "retry_after_s");
  int64_t wait = cJSON_IsNumber(ra) && ra->valuedouble >= 0 && ra->valuedouble <= 3600
                     ? (int64_t)ra->valuedouble * 1000
                     : REPLY_PROBATION_DEFAULT_MS;
  cJSON_Delete(r);
  return wait;
}

int reply_parse_enroll(const uint8_t *body, size_t body_len, reply_enroll *out) {
  cJSON *r = parse(body, body_len);
  const char *aid = json_str(r, "agent_id"), *ws = json_str(r, "workspace");
  int rc = REPLY_EBAD;
  if (aid && wire_is_hex_id(aid) && ws && strlen(ws) < sizeof out->workspace) {
    memcpy(out->agent_id, aid, sizeof out->agent_id);
    snprintf(out->workspace, sizeof out->workspace, "%s", ws);
    rc = REPLY_OK;
  }
  cJSON_Delete(r);
  return rc;
}

int reply_parse_challenge(const uint8_t *body, size_t body_len, char out[REPLY_CHALLENGE_MAX]) {
  cJSON *r = parse(body, body_len);
  const char *ch = json_str(r, "challenge");
  int rc = REPLY_EBAD;
  if (ch && ch[0] && strlen(ch) < REPLY_CHALLENGE_MAX) {
    snprintf(out, REPLY_CHALLENGE_MAX, "%s", ch);
    rc = REPLY_OK;
  }
  cJSON_Delete(r);
  return rc;
}

int reply_parse_session(const uint8_t *body, size_t body_len, reply_session *out) {
  cJSON *r = parse(body, body_len);
  const char *sid = json_str(r, "session_id"), *key = json_str(r, "session_key");
  const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(r, "expires_in_s");
  size_t key_len = 0;
  int rc = REPLY_EBAD;
  if (sid && sid[0] && strlen(sid) < sizeof out->session_id && key &&
      crypto_b64_decode(key, strlen(key), out->key, sizeof out->key, &key_len) == CRYPTO_OK &&
      key_len == sizeof out->key && cJSON_IsNumber(ttl) && ttl->valuedouble >= 1 &&
      ttl->valuedouble <= REPLY_SESSION_TTL_MAX_S) {
    snprintf(out->session_id, sizeof out->session_id, "%s", sid);
    out->ttl_s = (int64_t)ttl->valuedouble;
    rc = REPLY_OK;
  }
  cJSON_Delete(r);
  return rc;
}

int reply_parse_checkin(const uint8_t *body, size_t body_len, char ratchet_next[33]) {
  cJSON *r = parse(body, body_len);
  const char *next = json_str(r, "ratchet_next");
  int rc = REPLY_EBAD;
  if (next && wire_is_hex_id(next)) {
    memcpy(ratchet_next, next, 33);
    rc = REPLY_OK;
  }
  cJSON_Delete(r);
  return rc;
}

int reply_parse_ingest(const uint8_t *body, size_t body_len, reply_ingest *out) {
  cJSON *r = parse(body, body_len);
  int rc = REPLY_EBAD;
  out->has_policy_version = 0;
  out->policy_version = 0;
  if (json_int64(cJSON_GetObjectItemCaseSensitive(r, "acked_through"), &out->acked_through)) {
    out->has_policy_version =
        json_int64(cJSON_GetObjectItemCaseSensitive(r, "policy_version"), &out->policy_version);
    rc = REPLY_OK;
  }
  cJSON_Delete(r);
  return rc;
}
