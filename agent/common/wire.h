/* wire.h - the agent<->cloud protocol (docs/protocol.md), written once and linked
 * by both sides: limits, header names, the request MAC, and the ingest batch
 * encoding (agent) and decoding (cloud).
 *
 * Return codes: WIRE_OK (0) or negative:
 *   WIRE_ENOMEM     allocation failed
 *   WIRE_ETOOBIG    over a limit below (body, decoded size, record count, line)
 *   WIRE_EENCODING  not a valid zstd frame
 *   WIRE_EBATCH     malformed NDJSON / record / sequence; *err says what
 *   WIRE_EINVAL     bad argument
 */
#ifndef OUTPOST_COMMON_WIRE_H
#define OUTPOST_COMMON_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_OK         0
#define WIRE_ENOMEM   (-1)
#define WIRE_ETOOBIG  (-2)
#define WIRE_EENCODING (-3)
#define WIRE_EBATCH   (-4)
#define WIRE_EINVAL   (-5)

#define WIRE_MAX_BODY       (4u * 1024 * 1024)
#define WIRE_MAX_DECODED    (16u * 1024 * 1024)
#define WIRE_MAX_RECORDS    10000
#define WIRE_MAX_LINE       (64u * 1024)
#define WIRE_MAX_SOURCE     1024
#define WIRE_MAX_JSON_REPLY (64u * 1024) /* any non-ingest request or reply */
#define WIRE_CLOCK_SKEW_MS  (300 * 1000)

#define WIRE_HDR_SESSION   "X-Outpost-Session"
#define WIRE_HDR_TIME      "X-Outpost-Time"
#define WIRE_HDR_SIGNATURE "X-Outpost-Signature"
#define WIRE_HDR_PROOF     "X-Outpost-Proof"
#define WIRE_HDR_FIRST_SEQ "X-Outpost-First-Seq"
#define WIRE_HDR_LAST_SEQ  "X-Outpost-Last-Seq"
#define WIRE_HDR_INSTANCE  "X-Outpost-Instance"    /* 32 hex: this agent process */
#define WIRE_HDR_RATCHET   "X-Outpost-Ratchet"     /* 32 hex, or WIRE_RATCHET_NONE */
#define WIRE_HDR_CLONE_PROOF "X-Outpost-Clone-Proof" /* enroll: old key's signature */

/* The ratchet value an agent presents before its first check-in. */
#define WIRE_RATCHET_NONE "none"
#define WIRE_ID_HEX 32

#define WIRE_SESSION_CONTEXT "outpost-session-v1"

/* Request MAC: lower-case hex HMAC-SHA256(key, "outpost-v1\n" method "\n" path
 * "\n" time_ms "\n" hex(sha256(body)) "\n" instance "\n" ratchet). instance and
 * ratchet are the X-Outpost-Instance / X-Outpost-Ratchet header values (NULL
 * counts as ""). out holds 65 bytes. */
void wire_request_mac(const uint8_t *key, size_t key_len, const char *method, const char *path,
                      int64_t time_ms, const void *body, size_t body_len, const char *instance,
                      const char *ratchet, char out[65]);

/* The bytes an agent signs to open a session: "outpost-session-v1\n" agent_id
 * "\n" challenge "\n" instance (the session is bound to that process).
 * Returns the length written, or -1 if cap is too small. */
int wire_session_message(const char *agent_id, const char *challenge, const char *instance,
                         char *out, size_t cap);

/* 1 if s is exactly WIRE_ID_HEX lower-case hex characters. */
int wire_is_hex_id(const char *s);

typedef struct wire_record {
  int64_t seq;
  int64_t ts_ms;
  const char *source; /* NUL-terminated */
  size_t source_len;
  const char *line;   /* NUL-terminated; may contain any UTF-8 */
  size_t line_len;
} wire_record;

/* Batch encoder (agent side). Appends NDJSON to an internal buffer, then
 * compresses it as one zstd frame. Owned by the caller: init, add..., finish,
 * free (free is safe on every path, also after finish). */
typedef struct wire_batch_enc {
  char *buf;
  size_t len, cap;
  size_t max_decoded; /* stop accepting records beyond this */
  int64_t first_seq, last_seq;
  uint32_t count;
} wire_batch_enc;

void wire_batch_enc_init(wire_batch_enc *e, size_t max_decoded);
/* WIRE_OK, WIRE_ETOOBIG (the record does not fit; batch unchanged), WIRE_ENOMEM. */
int wire_batch_enc_add(wire_batch_enc *e, const wire_record *r);
/* zstd contexts kept from one batch to the next (issue #15: one made and
 * freed per batch cost 8.5% of a simulated fleet's profile). One per agent,
 * one per cloud; not for two threads at once. Made by wire_zctx_new (NULL
 * when out of memory), freed by wire_zctx_free (NULL is fine). Every
 * function taking one accepts NULL and then makes its own for the call:
 * the bytes and results are the same either way. */
typedef struct wire_zctx wire_zctx;
wire_zctx *wire_zctx_new(void);
void wire_zctx_free(wire_zctx *z);

/* Compresses into *out (malloc'd, caller frees). */
int wire_batch_enc_finish(wire_batch_enc *e, int zstd_level, uint8_t **out, size_t *out_len);
int wire_batch_enc_finish_z(wire_batch_enc *e, wire_zctx *z, int zstd_level, uint8_t **out,
                            size_t *out_len);
void wire_batch_enc_free(wire_batch_enc *e);

/* Batch decoder (cloud side, fuzzed). Decompresses body (bounded by
 * WIRE_MAX_DECODED), parses every line, checks field types and limits and that
 * seqs run first..last consecutively, then calls on_record for each record in
 * order. Nothing is reported through on_record unless the whole batch is
 * valid. on_record returning non-zero stops and is returned. err (optional)
 * receives a message naming what was wrong. */
typedef int (*wire_record_fn)(void *user, const wire_record *r);
int wire_batch_decode(const uint8_t *body, size_t body_len, int64_t first_seq, int64_t last_seq,
                      wire_record_fn on_record, void *user, char *err, size_t err_cap);
int wire_batch_decode_z(wire_zctx *z, const uint8_t *body, size_t body_len, int64_t first_seq,
                        int64_t last_seq, wire_record_fn on_record, void *user, char *err,
                        size_t err_cap);

#endif
