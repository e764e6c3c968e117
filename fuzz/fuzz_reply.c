/* fuzz_reply.c - libFuzzer target for the readers of the cloud's replies
 * (core/reply.h), the functions agent.c calls on every reply.
 *
 * Input: byte 0 = which body reader (mod 8: enroll, challenge, session,
 * checkin, ingest, error code, describe, probation); then a Date header value
 * up to the first '\n', a Retry-After value up to the next '\n', and the rest
 * is the body (not NUL-terminated: the readers must respect body_len).
 * Invariants: what a reader accepts is within its documented range (ids 32
 * lower-case hex, ttl 1..7 days, strings NUL-terminated within their arrays);
 * Retry-After in 0..1 h; a Date is 0 or at/after 1970 and parses the same
 * again when printed back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"
#include "core/reply.h"

static char *line(const uint8_t **p, const uint8_t *end) {
  const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
  const uint8_t *e = nl ? nl : end;
  size_t n = (size_t)(e - *p);
  char *s = malloc(n + 1);
  if (!s) abort();
  memcpy(s, *p, n);
  s[n] = 0;
  *p = nl ? nl + 1 : end;
  return s;
}

static void check_headers(const char *date, const char *ra) {
  int64_t d = reply_http_date(date);
  if (d < 0) abort();
  if (d > 0) {
    /* Only a 29-character IMF-fixdate is accepted. */
    if (strlen(date) != 29) abort();
  }
  int64_t r = reply_retry_after_ms(ra);
  if (r < 0 || r > REPLY_MAX_RETRY_AFTER_MS || r % 1000 != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t *p = data + 1, *end = data + size;
  char *date = line(&p, end), *ra = line(&p, end);
  check_headers(date, ra);
  size_t body_len = (size_t)(end - p);
  /* An exact-size copy: ASan catches any read past body_len. */
  uint8_t *body = malloc(body_len ? body_len : 1);
  if (!body) abort();
  if (body_len) memcpy(body, p, body_len);
  switch (data[0] & 7) {
    case 0: {
      reply_enroll e;
      if (reply_parse_enroll(body, body_len, &e) == REPLY_OK &&
          (!wire_is_hex_id(e.agent_id) ||
           strnlen(e.workspace, sizeof e.workspace) >= sizeof e.workspace))
        abort();
      break;
    }
    case 1: {
      char ch[REPLY_CHALLENGE_MAX];
      if (reply_parse_challenge(body, body_len, ch) == REPLY_OK &&
          (ch[0] == 0 || strnlen(ch, sizeof ch) >= sizeof ch))
        abort();
      break;
    }
    case 2: {
      reply_session s;
      if (reply_parse_session(body, body_len, &s) == REPLY_OK &&
          (s.session_id[0] == 0 ||
           strnlen(s.session_id, sizeof s.session_id) >= sizeof s.session_id ||
           s.ttl_s < 1 || s.ttl_s > REPLY_SESSION_TTL_MAX_S))
        abort();
      break;
    }
    case 3: {
      char next[33];
      if (reply_parse_checkin(body, body_len, next) == REPLY_OK && !wire_is_hex_id(next)) abort();
      break;
    }
    case 4: {
      reply_ingest r;
      if (reply_parse_ingest(body, body_len, &r) == REPLY_OK && r.has_policy_version != 0 &&
          r.has_policy_version != 1)
        abort();
      break;
    }
    case 5:
      if (reply_code_is(body, body_len, "revoked") && body_len < 17) abort();
      break;
    case 6: {
      char out[96];
      reply_describe(ra[0] == 'E' ? -13 : 0, date, (int)body_len, body, body_len, out, sizeof out);
      if (strnlen(out, sizeof out) >= sizeof out) abort();
      break;
    }
    default: {
      int64_t w = reply_probation_wait_ms(body, body_len);
      if (w < 0 || w > 3600 * 1000LL) abort();
      break;
    }
  }
  free(body);
  free(date);
  free(ra);
  return 0;
}
