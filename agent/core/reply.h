/* reply.h - what the agent reads from the cloud's replies, as pure functions
 * over bytes, so each reader is tested and fuzzed on its own (fuzz/fuzz_reply.c)
 * while the agent (agent*.c) keeps the decisions (back-off, refusal, re-enrollment).
 *
 * Every function takes a body that need not be NUL-terminated (body_len
 * bytes; body may be NULL when body_len is 0), never keeps a pointer into it,
 * allocates nothing that outlives the call and never aborts on bad input.
 * The reply structs are plain values owned by the caller; on any return other
 * than REPLY_OK their contents are unspecified.
 *
 * Return codes: REPLY_OK (0) or REPLY_EBAD (-1, the body is not the reply
 * expected: not JSON, a field missing, of the wrong type or out of range).
 */
#ifndef OUTPOST_CORE_REPLY_H
#define OUTPOST_CORE_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define REPLY_OK 0
#define REPLY_EBAD (-1)

#define REPLY_MAX_RETRY_AFTER_MS (3600 * 1000LL)
#define REPLY_WORKSPACE_MAX 128   /* IDENT_WORKSPACE_MAX: NUL included */
#define REPLY_CHALLENGE_MAX 64    /* NUL included */
#define REPLY_SESSION_ID_MAX 33   /* NUL included */
#define REPLY_SESSION_TTL_MAX_S (7 * 86400)
#define REPLY_PROBATION_DEFAULT_MS 60000

/* Headers. An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") to Unix ms; 0
 * when NULL or not exactly that form. */
int64_t reply_http_date(const char *value);
/* Retry-After in its delta-seconds form to ms, capped at
 * REPLY_MAX_RETRY_AFTER_MS; 0 when NULL or not digits (an HTTP-date falls
 * back to the agent's own back-off). */
int64_t reply_retry_after_ms(const char *value);

/* Error replies {"error":CODE,"message":TEXT}. */
/* 1 when the body's "error" is exactly code, else 0. */
int reply_code_is(const uint8_t *body, size_t body_len, const char *code);
/* One log line: "transport error E: TEXT" when net_error != 0, else
 * "HTTP STATUS CODE: MESSAGE". Always NUL-terminates out (cap > 0). */
void reply_describe(int net_error, const char *error_text, int status, const uint8_t *body,
                    size_t body_len, char *out, size_t cap);
/* A 409 probation's "retry_after_s" (0..3600) in ms, else
 * REPLY_PROBATION_DEFAULT_MS. */
int64_t reply_probation_wait_ms(const uint8_t *body, size_t body_len);

/* 201 to POST /v1/enroll: agent_id is 32 lower-case hex (ident.json refuses
 * anything else, so accepting it would brick the next start). */
typedef struct reply_enroll {
  char agent_id[33];
  char workspace[REPLY_WORKSPACE_MAX];
} reply_enroll;
int reply_parse_enroll(const uint8_t *body, size_t body_len, reply_enroll *out);

/* 200 to POST /v1/challenge: a non-empty challenge shorter than the cap. */
int reply_parse_challenge(const uint8_t *body, size_t body_len, char out[REPLY_CHALLENGE_MAX]);

/* 200 to POST /v1/session. */
typedef struct reply_session {
  char session_id[REPLY_SESSION_ID_MAX]; /* non-empty */
  uint8_t key[32];                       /* base64 of exactly 32 bytes */
  int64_t ttl_s;                         /* 1..REPLY_SESSION_TTL_MAX_S */
} reply_session;
int reply_parse_session(const uint8_t *body, size_t body_len, reply_session *out);

/* 200 to POST /v1/checkin: ratchet_next, 32 lower-case hex. */
int reply_parse_checkin(const uint8_t *body, size_t body_len, char ratchet_next[33]);

/* 200 to POST /v1/ingest. acked_through must be an integer in int64 range
 * (the caller compares it with the batch); policy_version is optional. */
typedef struct reply_ingest {
  int64_t acked_through;
  int has_policy_version;
  int64_t policy_version;
} reply_ingest;
int reply_parse_ingest(const uint8_t *body, size_t body_len, reply_ingest *out);

#endif
