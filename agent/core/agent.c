/* agent.c - the agent's state machine: collect -> spool -> ship (see agent.h).
 *
 * One request is in flight at a time, of one of the kinds in the request
 * table (reqs[], "requests" below): a row says how it is sent and what its
 * success does; what a failure does (a lost session, an identity refusal, a
 * back-off) is one shared path (complete_failed). The net callback only
 * copies the outcome into the agent; agent_step() acts on it with the
 * step's cached clock, so all decisions use one "now".
 */
#include "core/agent.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "common/crypto.h"
#include "common/version.h"
#include "common/wire.h"
#include "core/caps.h"
#include "core/files.h"
#include "core/ident.h"
#include "core/perm.h"
#include "core/policy.h"
#include "core/pstate.h"
#include "core/reply.h"
#include "core/spool.h"
#include "core/tail.h"
#include "core/update.h"

#define AGENT_SESSION_RENEW_MARGIN_MS 60000
#define AGENT_REFUSED_RETRY_MS (3600 * 1000LL)
#define AGENT_MAX_BACKOFF_SHIFT 30

typedef enum req_kind {
  REQ_NONE,
  REQ_ENROLL,
  REQ_CHALLENGE,
  REQ_SESSION,
  REQ_INGEST,
  REQ_SHED,
  REQ_POLICY,        /* issue #5 */
  REQ_POLICY_REPORT, /* issue #5 */
  REQ_CHECKIN,       /* issue #4 */
  REQ_REKEY,         /* issue #4: enrolling as a new identity, vouched for by the old */
  REQ__COUNT
} req_kind;

#define AGENT_SHED_REPORT_MAX 64 /* entries per POST /v1/shed (the cloud's limit) */
#define AGENT_FLOOR_SHEDS_PER_STEP 8

typedef struct completion {
  int pending;
  int error;
  int status;
  int64_t retry_after_ms; /* 0 when absent */
  char error_text[160];
  uint8_t *body; /* WIRE_MAX_JSON_REPLY + 1, owned by the agent */
  size_t body_len;
  int64_t date_ms; /* the reply's Date header, 0 when absent or unparsable */
} completion;

typedef struct req_row req_row;

/* One kind of request: a row of the table reqs[] ("requests" below). Adding a
 * kind is a row, its build function and its success handler; everything a
 * failed reply can mean is the shared path's (complete_failed), steered by
 * the flags and the optional hooks. */
struct req_row {
  const char *name;         /* in "<name> request not sent" and "<name>: out of memory" */
  const char *method;       /* "POST" or "GET" */
  const char *path;         /* below cloud_url */
  const char *content_type; /* sent first of the extra headers; NULL: none (no body) */
  const char *failed;       /* the failure line: "<failed>: <why>" */
  /* Builds the request and hands it to send_request or send_json (row r),
   * or sends nothing: then it backs off (or has nothing to say). */
  void (*build)(agent *a, const req_row *r);
  /* The reply was ok_status: the kind's own work, then succeeded() or,
   * when the reply cannot be used, backoff(). */
  void (*on_success)(agent *a, const completion *c);
  /* Optional, first for any other reply: what every failure of the kind
   * must do; returns 1 when the reply was an outcome of the kind's own that
   * it has dealt with (nothing more is done), else 0. */
  int (*on_failure)(agent *a, const completion *c);
  /* Optional: the request failed and is retried later, not at once (after
   * an identity refusal, or before the back-off). */
  void (*on_retry_later)(agent *a);
  /* Optional: a refusal that is not transient (no identity refusal either)
   * is the kind's to say and to schedule, instead of a back-off. */
  void (*on_refused)(agent *a, const completion *c, const char *why);
  /* Optional: writes the failure line's subject instead of failed. */
  void (*failed_text)(const agent *a, char *out, size_t cap);
  req_kind kind;
  int authed;    /* signed with the session: a lost session (401 session_expired,
                    unknown_session) ends it and the request waits for a new one */
  int ident;     /* the identity refusals (ident_refusal) apply to its replies */
  int ok_status; /* the status of success; 0: any 2xx */
  int quiet;     /* a failure is a warning, never an error: nothing waits on it */
};

struct agent {
  agent_config cfg;
  const os_shim *os;
  const net_shim *net;
  spool *sp;
  pstate *ps; /* issue #5: the live policy */
  int64_t last_contact_wall; /* issue #5: status file */
  /* issue #16: the cloud's clock minus ours, learnt from the Date of a
   * clock_skew refusal, added to the time our requests are signed with, so
   * a stepped wall clock does not cut the agent off (0 until then) */
  int64_t time_offset_ms;
  char sandbox_landlock[AGENT_SANDBOX_MAX]; /* issue 13: set by the driver */
  char sandbox_seccomp[AGENT_SANDBOX_MAX];
  ident id;
  tail_source sources[CONFIG_MAX_SOURCES];
  /* issue #13: what every open of a local source is checked against (the
   * deny list and the state dir; the local config may name any root). */
  policy_limits src_limits;
  tail_buffers tb;
  char url[CONFIG_URL_MAX + 32];

  int64_t now;  /* monotonic ms, cached once per step */
  int64_t wall; /* wall ms, cached once per step */

  req_kind inflight; /* REQ_NONE or the kind of the request in flight */
  uint64_t req_id;
  completion done;

  int have_session;
  char session_id[33];
  uint8_t session_key[32];
  int64_t session_expires; /* monotonic */
  char challenge[64];

  int refused;
  int attempt;
  int64_t retry_at;
  int64_t next_poll;
  int more_to_read;
  int64_t pending_since; /* monotonic time the spool became non-empty; INT64_MIN if empty */
  int flush_now;         /* ship the rest of a backlog without waiting for age */
  int64_t batch_first, batch_last;

  /* identity (issue #4): see the "identity" section below */
  char instance[33];      /* this process, random at agent_open */
  int checked_in;         /* the current session has checked in */
  int64_t next_checkin;   /* monotonic */
  int revoked;
  int rekey;              /* re-enrolling as a new identity; next_id holds its key */
  char clone_reason[24];  /* "hardware_changed" or "ratchet_conflict" */
  ident next_id;
  perm_drift drift[PERM_MAX_DRIFT];
  int n_drift;            /* drift reports not yet delivered */
  /* space (issue #3): back-pressure since (INT64_MIN when reading freely),
   * shedding allowed until the next successful append, report in flight */
  int64_t bp_since;
  int shedding;
  int z_owned;                 /* z is the agent's own (else lent by the driver) */
  int64_t shed_report_through; /* last shed-log id in the report in flight */
  int64_t shed_hold_until;     /* a refused report waits; shipping goes on meanwhile */
  wire_zctx *z;                /* batch compression (agent_set_zctx); NULL: one per batch */
  int64_t shed_failures;       /* failed sheds since the last that worked */
  char shed_error[160];        /* the failure last logged ("" = none since it worked) */
  /* caps (issue #5, core/caps.h): the policy's bounds, enforced. cfg's
   * batch_* fields hold the effective values; base keeps the local ones. */
  caps_base caps_base;
  caps_limits lim;
  caps_bucket bucket;
  caps_mem mem;
  int64_t caps_version; /* policy version lim was derived from; -1 = never */
  int64_t rate_limited_polls;
  int rate_limited;     /* the last pass left data for want of tokens */
  int rr;               /* first source of the next pass (fairness under the cap) */

  agent_stats st;
  updater *upd;             /* issue #6: NULL when updates are off */
  update_space upd_space;   /* issue #17: its downloads count in the spool's quota */
  int64_t upd_report_seq;   /* last update report in the check-in in flight */
};

static void agent_update_open(agent *a);
static int64_t agent_update_step(agent *a, int64_t deadline);
static void agent_update_add_reports(agent *a, cJSON *body);

static void space_before_collect(agent *a);
static void space_after_poll(agent *a, int rc, int64_t lines);
static void send_shed_report(agent *a, const req_row *r);
static void on_shed_done(agent *a, const completion *c);
static void on_shed_refused(agent *a, const completion *c, const char *why);

static void agent_log(agent *a, os_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void agent_log(agent *a, os_log_level level, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (level >= OS_LOG_ERROR || level == OS_LOG_WARN) {
    a->st.errors += level >= OS_LOG_ERROR;
    size_t n = strnlen(msg, sizeof a->st.last_error - 1);
    memcpy(a->st.last_error, msg, n);
    a->st.last_error[n] = 0;
  }
  if ((int)level >= a->cfg.log_level && a->os->log) a->os->log(a->os->ctx, level, msg);
}

/* ---- helpers ----------------------------------------------------------- */

static int64_t random_below(agent *a, int64_t bound) {
  uint64_t r = 0;
  if (bound <= 0) return 0;
  if (a->os->random(a->os->ctx, &r, sizeof r) != OS_OK) return bound / 2;
  return (int64_t)(r % (uint64_t)bound);
}

/* Exponential back-off with full jitter, capped; a Retry-After wins when longer. */
static void backoff(agent *a, int64_t retry_after_ms) {
  int shift = a->attempt < AGENT_MAX_BACKOFF_SHIFT ? a->attempt : AGENT_MAX_BACKOFF_SHIFT;
  int64_t cap = a->cfg.retry_base_ms;
  for (int i = 0; i < shift && cap < a->cfg.retry_max_ms; i++) cap *= 2;
  if (cap > a->cfg.retry_max_ms) cap = a->cfg.retry_max_ms;
  int64_t delay = 10 + random_below(a, cap);
  if (retry_after_ms > delay) delay = retry_after_ms;
  if (a->attempt < 1000) a->attempt++;
  a->retry_at = a->now + delay;
}

static void succeeded(agent *a) {
  a->attempt = 0;
  a->retry_at = a->now;
}

/* Describes an error reply for the log: "401 session_expired: message". */
static void describe_reply(const completion *c, char *out, size_t cap) {
  reply_describe(c->error, c->error_text, c->status, c->body, c->body_len, out, cap);
}

static int code_is(const completion *c, const char *code) {
  return reply_code_is(c->body, c->body_len, code);
}

/* ---- requests ----------------------------------------------------------- */

static void on_done(void *user, const net_response *r) {
  agent *a = user;
  completion *c = &a->done;
  a->req_id = 0;
  c->pending = 1;
  c->error = r->error;
  c->status = r->status;
  snprintf(c->error_text, sizeof c->error_text, "%s", r->error_text ? r->error_text : "");
  c->body_len = r->body_len <= WIRE_MAX_JSON_REPLY ? r->body_len : WIRE_MAX_JSON_REPLY;
  if (c->body_len) memcpy(c->body, r->body, c->body_len);
  c->body[c->body_len] = 0;
  c->date_ms = reply_http_date(net_response_header(r, "date"));
  c->retry_after_ms = reply_retry_after_ms(net_response_header(r, "retry-after"));
}

/* Sends a request of row r (its method, path, content type; signed when the
 * row is authed) with the extra headers after those. Returns NET_OK when it
 * is in flight; otherwise the net error, logged and backed off. */
static int send_request(agent *a, const req_row *r, const net_header *extra, size_t n_extra,
                        const uint8_t *body, size_t body_len) {
  net_header h[NET_MAX_HEADERS];
  size_t n = 0;
  char time_text[24], mac[65];
  char url[sizeof a->url];
  const char *method = r->method, *path = r->path;
  snprintf(url, sizeof url, "%s%s", a->cfg.cloud_url, path);
  if (r->authed) {
    int64_t t = a->wall + a->time_offset_ms;
    snprintf(time_text, sizeof time_text, "%lld", (long long)t);
    wire_request_mac(a->session_key, sizeof a->session_key, method, path, t, body, body_len,
                     a->instance, a->id.ratchet, mac);
    h[n++] = (net_header){WIRE_HDR_SESSION, a->session_id};
    h[n++] = (net_header){WIRE_HDR_TIME, time_text};
    h[n++] = (net_header){WIRE_HDR_SIGNATURE, mac};
    h[n++] = (net_header){WIRE_HDR_INSTANCE, a->instance};
    h[n++] = (net_header){WIRE_HDR_RATCHET, a->id.ratchet};
  }
  if (r->content_type) h[n++] = (net_header){"Content-Type", r->content_type};
  for (size_t i = 0; i < n_extra && n < NET_MAX_HEADERS; i++) h[n++] = extra[i];
  net_request req = {
      .method = method,
      .url = url,
      .headers = h,
      .n_headers = n,
      .body = body,
      .body_len = body_len,
      .timeout_ms = a->cfg.request_timeout_ms,
      .max_response_bytes = WIRE_MAX_JSON_REPLY,
  };
  uint64_t id = 0;
  int rc = a->net->request(a->net->ctx, &req, on_done, a, &id);
  if (rc != NET_OK) {
    agent_log(a, OS_LOG_WARN, "%s request not sent: net error %d", r->name, rc);
    backoff(a, 0);
    return rc;
  }
  a->inflight = r->kind;
  a->req_id = id;
  return NET_OK;
}

/* send_request with body as its text (body is freed, also on failure). */
static int send_json(agent *a, const req_row *r, cJSON *body) {
  char *text = body ? cJSON_PrintUnformatted(body) : NULL;
  cJSON_Delete(body);
  if (!text) {
    agent_log(a, OS_LOG_ERROR, "%s: out of memory", r->name);
    backoff(a, 0);
    return NET_ENOMEM;
  }
  int rc = send_request(a, r, NULL, 0, (const uint8_t *)text, strlen(text));
  cJSON_free(text);
  return rc;
}

/* Signs data with a DER key into base64; 0 on success. */
static int sign_b64(agent *a, const ident *who, const char *data, size_t len, char *out,
                    size_t cap) {
  uint8_t sig[CRYPTO_SIG_MAX];
  size_t sig_len = 0, b64_len = 0;
  return crypto_ec_sign(who->key, who->key_len, data, len, ident_rng, (void *)a->os, sig,
                        sizeof sig, &sig_len) == CRYPTO_OK &&
                 crypto_b64_encode(sig, sig_len, out, cap, &b64_len) == CRYPTO_OK
             ? 0
             : -1;
}

/* REQ_ENROLL and REQ_REKEY (a->rekey): the same request, other replies. */
static void send_enroll(agent *a, const req_row *r) {
  char pub_b64[CRYPTO_PUB_DER_MAX * 2], host[256] = "", mid[128] = "";
  size_t pub_len = 0;
  /* Re-enrolling: the new identity's key enrolls, the old one vouches. */
  const ident *who = a->rekey ? &a->next_id : &a->id;
  crypto_b64_encode(who->pub, who->pub_len, pub_b64, sizeof pub_b64, &pub_len);
  if (a->os->read_identity(a->os->ctx, OS_IDENT_HOSTNAME, host, sizeof host) < 0) host[0] = 0;
  if (a->os->read_identity(a->os->ctx, OS_IDENT_MACHINE_ID, mid, sizeof mid) < 0) mid[0] = 0;
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "token", a->cfg.enrollment_token);
  cJSON_AddStringToObject(b, "public_key", pub_b64);
  cJSON_AddStringToObject(b, "hostname", host);
  cJSON_AddStringToObject(b, "machine_id", mid);
  cJSON_AddStringToObject(b, "agent_version", outpost_version);
  if (a->rekey) {
    cJSON_AddStringToObject(b, "cloned_from", a->id.agent_id);
    cJSON_AddStringToObject(b, "clone_reason", a->clone_reason);
  }
  char *text = cJSON_PrintUnformatted(b);
  cJSON_Delete(b);
  if (!text) {
    backoff(a, 0);
    return;
  }
  /* Proof of possession: sign the exact body bytes; a clone report is also
   * signed by the old key, so nobody else can claim a copy of it. */
  char sig_b64[CRYPTO_SIG_MAX * 2], old_b64[CRYPTO_SIG_MAX * 2];
  if (sign_b64(a, who, text, strlen(text), sig_b64, sizeof sig_b64) != 0 ||
      (a->rekey && sign_b64(a, &a->id, text, strlen(text), old_b64, sizeof old_b64) != 0)) {
    agent_log(a, OS_LOG_ERROR, "enroll: cannot sign the enrollment request");
    cJSON_free(text);
    backoff(a, 0);
    return;
  }
  net_header h[2] = {{WIRE_HDR_PROOF, sig_b64}, {WIRE_HDR_CLONE_PROOF, old_b64}};
  send_request(a, r, h, a->rekey ? 2 : 1, (const uint8_t *)text, strlen(text));
  cJSON_free(text);
}

static void send_challenge(agent *a, const req_row *r) {
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "agent_id", a->id.agent_id);
  send_json(a, r, b);
}

static void send_session(agent *a, const req_row *r) {
  char msg[256];
  int len = wire_session_message(a->id.agent_id, a->challenge, a->instance, msg, sizeof msg);
  uint8_t sig[CRYPTO_SIG_MAX];
  size_t sig_len = 0, b64_len = 0;
  char sig_b64[CRYPTO_SIG_MAX * 2];
  if (len < 0 ||
      crypto_ec_sign(a->id.key, a->id.key_len, msg, (size_t)len, ident_rng, (void *)a->os, sig,
                     sizeof sig, &sig_len) != CRYPTO_OK ||
      crypto_b64_encode(sig, sig_len, sig_b64, sizeof sig_b64, &b64_len) != CRYPTO_OK) {
    agent_log(a, OS_LOG_ERROR, "session: cannot sign the challenge");
    a->challenge[0] = 0;
    backoff(a, 0);
    return;
  }
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "agent_id", a->id.agent_id);
  cJSON_AddStringToObject(b, "challenge", a->challenge);
  cJSON_AddStringToObject(b, "signature", sig_b64);
  cJSON_AddStringToObject(b, "instance", a->instance);
  if (a->id.workspace[0]) cJSON_AddStringToObject(b, "workspace", a->id.workspace);
  send_json(a, r, b);
}

typedef struct batch_build {
  wire_batch_enc enc;
  int64_t max_records;
  int full;
  int64_t repaired;
} batch_build;

#define AGENT_POISON_MARKER " [cut by outpost: unsendable record]"

/* A record that cannot go out as it is (over the wire's line limit, a NUL
 * byte, a source path too long: only a spool written by another version or
 * damaged could hold one) must never wedge the queue: when it is first in
 * line it is sent cut to the limits, NULs as '?', with a marker. The seq is
 * kept, so the ledger still balances. */
static int add_repaired(batch_build *b, int64_t seq, int64_t ts_ms, const char *source,
                        size_t source_len, const char *line, size_t line_len) {
  static const char unsendable[] = "[outpost: unsendable record]";
  size_t keep = line_len < WIRE_MAX_LINE - 128 ? line_len : WIRE_MAX_LINE - 128;
  size_t src_keep = source_len < WIRE_MAX_SOURCE - 1 ? source_len : WIRE_MAX_SOURCE - 1;
  char *copy = malloc(keep + sizeof AGENT_POISON_MARKER);
  char *src = malloc(src_keep + 1);
  int rc = WIRE_ENOMEM;
  if (copy && src) {
    for (size_t i = 0; i < keep; i++) copy[i] = line[i] ? line[i] : '?';
    memcpy(copy + keep, AGENT_POISON_MARKER, sizeof AGENT_POISON_MARKER);
    for (size_t i = 0; i < src_keep; i++) src[i] = source[i] ? source[i] : '?';
    src[src_keep] = 0;
    wire_record r = {seq, ts_ms, src, src_keep, copy, keep + sizeof AGENT_POISON_MARKER - 1};
    rc = wire_batch_enc_add(&b->enc, &r);
  }
  if (rc != WIRE_OK) {
    wire_record r = {seq, ts_ms, "?", 1, unsendable, sizeof unsendable - 1};
    rc = wire_batch_enc_add(&b->enc, &r);
  }
  free(copy);
  free(src);
  if (rc == WIRE_OK) b->repaired++;
  return rc;
}

static int add_row(void *user, int64_t seq, int64_t ts_ms, const char *source, size_t source_len,
                   const char *line, size_t line_len) {
  batch_build *b = user;
  wire_record r = {seq, ts_ms, source, source_len, line, line_len};
  int rc = wire_batch_enc_add(&b->enc, &r);
  if (rc == WIRE_OK) return 0;
  if (b->enc.count == 0 && rc != WIRE_ENOMEM &&
      add_repaired(b, seq, ts_ms, source, source_len, line, line_len) == WIRE_OK)
    return 1; /* the repaired record travels alone */
  b->full = 1;
  return 1;
}

static void send_ingest(agent *a, const req_row *r) {
  batch_build b = {.max_records = a->cfg.batch_max_records};
  wire_batch_enc_init(&b.enc, (size_t)a->cfg.batch_max_bytes);
  int rc = spool_scan(a->sp, a->cfg.batch_max_records, add_row, &b);
  if (rc != SPOOL_OK || b.enc.count == 0) {
    /* A record that cannot fit an empty batch would wedge the queue; the
     * line limits make that impossible, so treat it as a spool fault. */
    agent_log(a, OS_LOG_ERROR, "ingest: cannot build a batch: %s",
              rc != SPOOL_OK ? spool_errmsg(a->sp) : "first record does not fit");
    wire_batch_enc_free(&b.enc);
    backoff(a, 0);
    return;
  }
  uint8_t *body = NULL;
  size_t body_len = 0;
  int64_t first = b.enc.first_seq, last = b.enc.last_seq;
  if (b.repaired)
    agent_log(a, OS_LOG_WARN, "ingest: record %lld could not be sent as stored; sent cut, marked",
              (long long)first);
  if (wire_batch_enc_finish_z(&b.enc, a->z, a->cfg.zstd_level, &body, &body_len) != WIRE_OK) {
    agent_log(a, OS_LOG_ERROR, "ingest: cannot compress the batch");
    wire_batch_enc_free(&b.enc);
    backoff(a, 0);
    return;
  }
  wire_batch_enc_free(&b.enc);
  char first_text[24], last_text[24];
  snprintf(first_text, sizeof first_text, "%lld", (long long)first);
  snprintf(last_text, sizeof last_text, "%lld", (long long)last);
  net_header h[3] = {{"Content-Encoding", "zstd"},
                     {WIRE_HDR_FIRST_SEQ, first_text},
                     {WIRE_HDR_LAST_SEQ, last_text}};
  if (send_request(a, r, h, 3, body, body_len) == NET_OK) {
    a->batch_first = first;
    a->batch_last = last;
    a->st.batches_sent++;
    a->st.bytes_sent += (int64_t)body_len;
  }
  free(body);
}

/* ---- completions -------------------------------------------------------- */

static int transient(const completion *c) {
  return c->error != NET_OK || c->status == 429 || c->status >= 500;
}

/* The cloud no longer knows the session an authenticated request was signed
 * with: not a failure of the request, which goes again under a new one. */
static int session_lost(const completion *c) {
  return c->error == NET_OK && c->status == 401 &&
         (code_is(c, "session_expired") || code_is(c, "unknown_session"));
}

/* ---- identity: check-in, ratchet, clones, revocation (issue #4) ---------- */

/* Starts re-enrolling as a new identity. The old identity stays on disk and
 * in a->id until the cloud has enrolled the new one (its key signs the clone
 * report). */
static void start_rekey(agent *a, const char *reason) {
  if (a->rekey) return;
  char err[256];
  if (ident_rekey_prepare(&a->next_id, a->os, a->cfg.state_dir, err, sizeof err) != IDENT_OK) {
    agent_log(a, OS_LOG_ERROR, "cannot prepare a new identity: %s", err);
    backoff(a, 0);
    return;
  }
  snprintf(a->clone_reason, sizeof a->clone_reason, "%s", reason);
  a->rekey = 1;
  a->have_session = 0;
  a->checked_in = 0;
  a->attempt = 0;
  a->retry_at = a->now;
}

static void on_rekey_done(agent *a, const completion *c) {
  reply_enroll e;
  if (reply_parse_enroll(c->body, c->body_len, &e) == REPLY_OK) {
    const char *aid = e.agent_id;
    ident *n = &a->next_id;
    memcpy(n->agent_id, e.agent_id, 33);
    snprintf(n->workspace, sizeof n->workspace, "%s", e.workspace);
    memcpy(n->cloned_from, a->id.agent_id, 33);
    n->enrolled_ms = a->wall;
    char err[256];
    if (ident_rekey_commit(n, a->os, a->cfg.state_dir, err, sizeof err) == IDENT_OK) {
      agent_log(a, OS_LOG_WARN,
                "re-enrolled as agent %s (was %s, reason %s); unacknowledged records follow "
                "under the new identity",
                aid, a->id.agent_id, a->clone_reason);
      a->id = *n;
      memset(n, 0, sizeof *n);
      a->rekey = 0;
      a->st.enrollments++;
      a->st.clone_reenrollments++;
      a->flush_now = 1;
      succeeded(a);
      return;
    }
    agent_log(a, OS_LOG_ERROR, "re-enroll: %s", err);
  } else {
    agent_log(a, OS_LOG_ERROR, "re-enroll: malformed reply");
  }
  backoff(a, c->retry_after_ms);
}

static void on_rekey_refused(agent *a, const completion *c, const char *why) {
  (void)c;
  /* Never loop: keep the identity we have, send nothing under it, ask again
   * in an hour. */
  agent_log(a, OS_LOG_ERROR, "re-enrollment refused: %s; keeping identity %s, retrying hourly",
            why, a->id.agent_id);
  a->retry_at = a->now + AGENT_REFUSED_RETRY_MS;
}

/* The refusals that concern identity rather than transport. Returns 1 when
 * it handled the reply. */
static int ident_refusal(agent *a, const completion *c, const char *why) {
  if (c->error != NET_OK) return 0;
  if (c->status == 403 && code_is(c, "revoked")) {
    if (!a->revoked)
      agent_log(a, OS_LOG_ERROR,
                "agent %s was revoked by the cloud (%s): sending stops, collection continues; "
                "re-checking hourly",
                a->id.agent_id, why);
    a->revoked = 1;
    a->have_session = 0;
    a->retry_at = a->now + AGENT_REFUSED_RETRY_MS;
    return 1;
  }
  if (c->status == 409 && code_is(c, "clone_detected")) {
    agent_log(a, OS_LOG_ERROR,
              "the cloud found another live copy of identity %s (%s): re-enrolling as a new "
              "agent",
              a->id.agent_id, why);
    start_rekey(a, "ratchet_conflict");
    return 1;
  }
  if (c->status == 409 && code_is(c, "probation")) {
    /* We replaced a process of this agent that spoke moments ago: the cloud
     * holds our data back until it is sure that one is gone (not a clone). */
    int64_t wait = reply_probation_wait_ms(c->body, c->body_len);
    agent_log(a, OS_LOG_INFO, "data held back for %lld s after a restart (%s)",
              (long long)(wait / 1000), why);
    a->attempt = 0;
    a->retry_at = a->now + wait + random_below(a, 1000);
    return 1;
  }
  if (c->status == 409) { /* superseded_instance, stale_request: a late request of ours */
    agent_log(a, OS_LOG_INFO, "request refused as out of date (%s); retrying", why);
    backoff(a, 0);
    return 1;
  }
  if (c->status == 401 && code_is(c, "clock_skew")) {
    agent_log(a, OS_LOG_ERROR,
              "clock skew: our wall clock %lld ms, the cloud's Date %lld ms (%s); fix the clock",
              (long long)a->wall, (long long)c->date_ms, why);
    /* Sign with the cloud's time from now on (issue #16): its skew window
     * judges freshness by its own clock, so this gives nothing away, and a
     * host whose clock stepped keeps delivering. Only the request time
     * moves: records keep the host's own timestamps. */
    if (c->date_ms > 0) {
      a->time_offset_ms = c->date_ms - a->wall;
      agent_log(a, OS_LOG_WARN, "signing requests with the cloud's time: offset %lld ms",
                (long long)a->time_offset_ms);
    }
    backoff(a, c->retry_after_ms);
    return 1;
  }
  if (c->status == 401 && code_is(c, "bad_signature") && a->have_session) {
    /* The session we were handed does not sign for us (issue #16: a
     * session of another agent, or a key mangled on the way): never keep
     * trying it until it expires; open a new one. */
    agent_log(a, OS_LOG_ERROR, "the cloud refuses our session (%s): opening a new one", why);
    a->have_session = 0;
    backoff(a, c->retry_after_ms);
    return 1;
  }
  a->revoked = 0;
  return 0;
}

/* issue #5: the self-metrics of status.json and the Prometheus textfile,
 * to the cloud in every check-in (docs/protocol.md: "metrics"). */
static void add_metrics(agent *a, cJSON *b, const spool_counters *sc) {
  cJSON *m = cJSON_AddObjectToObject(b, "metrics");
  if (!m) return;
  pstate_info pi;
  pstate_get_info(a->ps, &pi);
  caps_info ci;
  agent_caps_info(a, &ci);
  int64_t cpu = -1;
  if (a->os->self_cpu_ms && a->os->self_cpu_ms(a->os->ctx, &cpu) != OS_OK) cpu = -1;
  const struct {
    const char *k;
    int64_t v;
  } f[] = {{"spool_records", sc->spooled},
           {"spool_bytes", sc->bytes},
           {"records_produced", sc->next_seq - 1},
           {"records_acked", sc->acked},
           {"records_shed", sc->shed},
           {"records_shed_reported", sc->shed_reported},
           {"batches_sent", a->st.batches_sent},
           {"batch_failures", a->st.batch_failures},
           {"bytes_sent", a->st.bytes_sent},
           {"errors", a->st.errors},
           {"cpu_ms", cpu},
           {"rss_bytes", ci.rss_bytes},
           {"peak_rss_bytes", ci.peak_rss_bytes},
           {"policy_version", pi.version},
           {"policy_rejected_total", pi.rejected_total},
           {"policy_paths_refused_total", pi.refused_total},
           {"cap_records_per_s", ci.rate},
           {"cap_rate_limited_polls", ci.rate_limited_polls},
           {"cap_memory_bytes", ci.memory_cap_bytes},
           {"cap_memory_over", ci.memory_over},
           {"cap_memory_over_events", ci.memory_over_events}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    cJSON_AddNumberToObject(m, f[i].k, (double)f[i].v);
}

static void send_checkin(agent *a, const req_row *r, int score) {
  cJSON *b = cJSON_CreateObject();
  cJSON *d = cJSON_CreateArray();
  for (int i = 0; d && i < a->n_drift; i++) {
    const perm_drift *p = &a->drift[i];
    cJSON *e = cJSON_CreateObject();
    char was[8], set[8];
    snprintf(was, sizeof was, "%04o", (unsigned)(p->was_mode & 07777));
    snprintf(set, sizeof set, "%04o", (unsigned)(p->set_mode & 07777));
    if (!e) continue;
    cJSON_AddStringToObject(e, "file", p->file);
    cJSON_AddStringToObject(e, "action", p->action);
    cJSON_AddStringToObject(e, "was_mode", was);
    cJSON_AddStringToObject(e, "set_mode", set);
    cJSON_AddNumberToObject(e, "was_uid", p->was_uid);
    cJSON_AddNumberToObject(e, "uid", p->uid);
    cJSON_AddBoolToObject(e, "repaired", p->repaired);
    cJSON_AddItemToArray(d, e);
  }
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  cJSON_AddNumberToObject(b, "fingerprint_score", score);
  cJSON_AddNumberToObject(b, "clock_skew_ms", (double)a->st.clock_skew_ms);
  cJSON_AddStringToObject(b, "agent_version", outpost_version);
  cJSON_AddNumberToObject(b, "produced", (double)(sc.next_seq - 1));
  cJSON_AddNumberToObject(b, "acked", (double)sc.acked);
  cJSON_AddNumberToObject(b, "shed", (double)sc.shed);
  cJSON_AddNumberToObject(b, "spooled", (double)sc.spooled);
  cJSON_AddItemToObject(b, "drift", d);
  add_metrics(a, b, &sc);
  agent_update_add_reports(a, b);
  send_json(a, r, b);
}

/* Re-reads the fingerprint; on other hardware starts re-enrollment instead. */
static void checkin_or_rekey(agent *a, const req_row *r) {
  ident_fp now;
  ident_fp_read(a->os, &now);
  int score = ident_fp_score(&a->id.fp, &now);
  a->st.fp_score = score;
  if (score < IDENT_FP_SAME_MACHINE) {
    agent_log(a, OS_LOG_WARN,
              "machine fingerprint score %d < %d: identity %s is on other hardware; "
              "re-enrolling as a new agent",
              score, IDENT_FP_SAME_MACHINE, a->id.agent_id);
    start_rekey(a, "hardware_changed");
    return;
  }
  send_checkin(a, r, score);
}

static void on_checkin_done(agent *a, const completion *c) {
  char next[33];
  if (reply_parse_checkin(c->body, c->body_len, next) != REPLY_OK) {
    agent_log(a, OS_LOG_ERROR, "checkin: malformed reply (no ratchet_next)");
    backoff(a, 0);
    return;
  }
  if (strcmp(next, a->id.ratchet) != 0) {
    /* Persist before use: a value presented but not on disk could be lost
     * in a crash and the restarted agent would look like a stale copy. */
    char old[33], err[256];
    memcpy(old, a->id.ratchet, sizeof old);
    memcpy(a->id.ratchet, next, 33);
    if (ident_save(&a->id, a->os, a->cfg.state_dir, err, sizeof err) != IDENT_OK) {
      /* Not persisted, so not used: the old value stays acceptable to the
       * cloud (it re-issues the same next), so shipping goes on while the
       * disk is full; only the ratchet stands still meanwhile. */
      memcpy(a->id.ratchet, old, sizeof old);
      agent_log(a, OS_LOG_WARN, "checkin: cannot persist the ratchet, keeping the old one: %s",
                err);
    }
  }
  if (a->n_drift > 0)
    agent_log(a, OS_LOG_INFO, "reported %d permission drift repair(s) to the cloud", a->n_drift);
  a->n_drift = 0;
  update_reports_sent(a->upd, a->upd_report_seq);
  a->checked_in = 1;
  /* +-10% jitter: agents started together must not check in together. */
  a->next_checkin = a->now + a->cfg.checkin_interval_ms * 9 / 10 +
                    random_below(a, a->cfg.checkin_interval_ms / 5 + 1);
  a->st.checkins++;
  succeeded(a);
}

static void on_enroll_done(agent *a, const completion *c) {
  reply_enroll e;
  /* The agent id must be what ident.json accepts (32 lower-case hex):
   * anything else would be saved and then refuse every later start. */
  if (reply_parse_enroll(c->body, c->body_len, &e) == REPLY_OK) {
    const char *aid = e.agent_id, *ws = e.workspace;
    memcpy(a->id.agent_id, e.agent_id, 33);
    snprintf(a->id.workspace, sizeof a->id.workspace, "%s", e.workspace);
    a->id.enrolled_ms = a->wall;
    char err[256];
    if (ident_save(&a->id, a->os, a->cfg.state_dir, err, sizeof err) == IDENT_OK) {
      agent_log(a, OS_LOG_INFO, "enrolled as agent %s in workspace %s", aid, ws);
      a->st.enrollments++;
      a->refused = 0;
      succeeded(a);
      return;
    }
    a->id.enrolled = 0;
    agent_log(a, OS_LOG_ERROR, "enroll: %s", err);
  } else {
    agent_log(a, OS_LOG_ERROR, "enroll: malformed reply (expected agent_id and workspace)");
  }
  backoff(a, c->retry_after_ms);
}

static void on_enroll_refused(agent *a, const completion *c, const char *why) {
  (void)c;
  /* A refusal (bad token, wrong workspace) is permanent until someone fixes
   * the config or the cloud: say so and retry rarely, never in a tight loop. */
  agent_log(a, OS_LOG_ERROR, "enrollment refused: %s", why);
  a->refused = 1;
  a->retry_at = a->now + AGENT_REFUSED_RETRY_MS;
}

static void on_challenge_done(agent *a, const completion *c) {
  if (reply_parse_challenge(c->body, c->body_len, a->challenge) == REPLY_OK) {
    succeeded(a);
    return;
  }
  a->challenge[0] = 0;
  agent_log(a, OS_LOG_ERROR, "challenge: malformed reply");
  backoff(a, 0);
}

static void on_session_done(agent *a, const completion *c) {
  a->challenge[0] = 0; /* single use, whatever happened */
  reply_session rs;
  int ok = reply_parse_session(c->body, c->body_len, &rs) == REPLY_OK;
  if (ok) {
    memcpy(a->session_id, rs.session_id, sizeof a->session_id);
    memcpy(a->session_key, rs.key, sizeof a->session_key);
    a->session_expires = a->now + rs.ttl_s * 1000;
    a->have_session = 1;
    a->revoked = 0;
    a->st.sessions++;
    agent_log(a, OS_LOG_DEBUG, "session open for %lld s", (long long)rs.ttl_s);
  }
  /* The key is a secret: no copy of it stays on the stack. */
  volatile uint8_t *k = rs.key;
  for (size_t i = 0; i < sizeof rs.key; i++) k[i] = 0;
  if (ok) {
    succeeded(a);
    return;
  }
  agent_log(a, OS_LOG_ERROR, "session: malformed reply");
  backoff(a, 0);
}

static int on_session_failed(agent *a, const completion *c) {
  (void)c;
  a->challenge[0] = 0; /* single use, whatever happened */
  return 0;
}

static void on_ingest_done(agent *a, const completion *c) {
  reply_ingest ri;
  int ok = reply_parse_ingest(c->body, c->body_len, &ri) == REPLY_OK &&
           ri.acked_through == a->batch_last;
  if (ok && ri.has_policy_version) pstate_hint(a->ps, ri.policy_version); /* issue #5 */
  if (!ok) {
    agent_log(a, OS_LOG_ERROR, "ingest: reply does not acknowledge seq %lld; keeping the batch",
              (long long)a->batch_last);
    a->st.batch_failures++;
    backoff(a, 0);
    return;
  }
  if (spool_ack(a->sp, a->batch_last) != SPOOL_OK) {
    /* The cloud has the records; re-sending them later is harmless. */
    agent_log(a, OS_LOG_ERROR, "ingest: cannot delete acknowledged records: %s",
              spool_errmsg(a->sp));
    backoff(a, 0);
    return;
  }
  a->st.batches_acked++;
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  a->flush_now = sc.spooled >= a->cfg.batch_max_records;
  if (sc.spooled == 0) a->pending_since = INT64_MIN;
  succeeded(a);
}

static int on_ingest_failed(agent *a, const completion *c) {
  a->st.batch_failures++;
  if (session_lost(c)) { /* the shared path opens a new one; said for the data path */
    char why[256];
    describe_reply(c, why, sizeof why);
    agent_log(a, OS_LOG_INFO, "session ended (%s); opening a new one", why);
  }
  return 0;
}

static void ingest_failed_text(const agent *a, char *out, size_t cap) {
  snprintf(out, cap, "ingest of %lld..%lld failed", (long long)a->batch_first,
           (long long)a->batch_last);
}

/* ---- policy (issue #5) --------------------------------------------------- */

/* Up to a tenth of the interval, so a fleet that reconnected together does
 * not fetch in lock-step forever. */
static int64_t policy_jitter(agent *a) {
  return random_below(a, pstate_policy(a->ps)->policy_interval_s * 100);
}

static void send_policy_fetch(agent *a, const req_row *r) { send_request(a, r, NULL, 0, NULL, 0); }

static void send_policy_report(agent *a, const req_row *r) {
  char *text = pstate_report_take(a->ps);
  if (!text) return;
  if (send_request(a, r, NULL, 0, (const uint8_t *)text, strlen(text)) != NET_OK)
    pstate_report_done(a->ps, 0);
  free(text);
}

static void on_policy_done(agent *a, const completion *c) {
  /* Whatever the body says, nothing in it is executed: it is data that
   * policy_parse validates and the path box bounds. */
  pstate_offer(a->ps, a->os, (const char *)c->body, c->body_len, a->now);
  pstate_fetch_done(a->ps, 1, a->now, policy_jitter(a));
  succeeded(a);
}

/* Two replies that are not 200 end the fetch as well as one. */
static int on_policy_failed(agent *a, const completion *c) {
  if (c->error == NET_ETOOBIG) {
    /* A body over the limit is a policy we refuse, not a network fault:
     * reported once, and the last good policy kept. */
    char err[POLICY_ERR_MAX];
    snprintf(err, sizeof err, "policy: the reply is larger than %u bytes", WIRE_MAX_JSON_REPLY);
    pstate_reject(a->ps, a->os, err);
    pstate_fetch_done(a->ps, 1, a->now, policy_jitter(a));
    succeeded(a);
    return 1;
  }
  if (c->error == NET_OK && c->status == 404 && code_is(c, "no_policy")) {
    pstate_fetch_done(a->ps, -1, a->now, policy_jitter(a)); /* none set: keep what we have */
    succeeded(a);
    return 1;
  }
  return 0;
}

static void policy_retry_later(agent *a) { pstate_fetch_done(a->ps, 0, a->now, policy_jitter(a)); }

static void on_policy_report_done(agent *a, const completion *c) {
  (void)c;
  pstate_report_done(a->ps, 1);
  succeeded(a);
}

static int on_policy_report_failed(agent *a, const completion *c) {
  (void)c;
  pstate_report_done(a->ps, 0);
  return 0;
}

/* ---- the request table ------------------------------------------------- */

#define JSON "application/json"

/* Every kind of request, by req_kind. A new kind: its row here, its build
 * function and its success handler; failures take the shared path. */
static const req_row reqs[REQ__COUNT] = {
    [REQ_ENROLL] = {.kind = REQ_ENROLL, .name = "enroll", .method = "POST", .path = "/v1/enroll",
                    .content_type = JSON, .ok_status = 201, .build = send_enroll,
                    .on_success = on_enroll_done, .failed = "enroll failed, will retry",
                    .on_refused = on_enroll_refused},
    [REQ_REKEY] = {.kind = REQ_REKEY, .name = "enroll", .method = "POST", .path = "/v1/enroll",
                   .content_type = JSON, .ok_status = 201, .build = send_enroll,
                   .on_success = on_rekey_done, .failed = "re-enroll failed, will retry",
                   .on_refused = on_rekey_refused},
    [REQ_CHALLENGE] = {.kind = REQ_CHALLENGE, .name = "challenge", .method = "POST",
                       .path = "/v1/challenge", .content_type = JSON, .ident = 1,
                       .ok_status = 200, .build = send_challenge,
                       .on_success = on_challenge_done, .failed = "challenge failed"},
    [REQ_SESSION] = {.kind = REQ_SESSION, .name = "session", .method = "POST",
                     .path = "/v1/session", .content_type = JSON, .ident = 1, .ok_status = 200,
                     .build = send_session, .on_success = on_session_done,
                     .on_failure = on_session_failed, .failed = "session failed"},
    [REQ_CHECKIN] = {.kind = REQ_CHECKIN, .name = "checkin", .method = "POST",
                     .path = "/v1/checkin", .content_type = JSON, .authed = 1, .ident = 1,
                     .ok_status = 200, .build = checkin_or_rekey, .on_success = on_checkin_done,
                     .failed = "checkin failed"},
    [REQ_POLICY] = {.kind = REQ_POLICY, .name = "policy", .method = "GET", .path = "/v1/policy",
                    .authed = 1, .ident = 1, .ok_status = 200, .quiet = 1,
                    .build = send_policy_fetch, .on_success = on_policy_done,
                    .on_failure = on_policy_failed, .on_retry_later = policy_retry_later,
                    .failed = "policy fetch failed"},
    [REQ_POLICY_REPORT] = {.kind = REQ_POLICY_REPORT, .name = "policy report", .method = "POST",
                           .path = "/v1/policy/report", .content_type = JSON, .authed = 1,
                           .ident = 1, .ok_status = 0, .quiet = 1, .build = send_policy_report,
                           .on_success = on_policy_report_done,
                           .on_failure = on_policy_report_failed,
                           .failed = "policy report failed"},
    [REQ_SHED] = {.kind = REQ_SHED, .name = "shed", .method = "POST", .path = "/v1/shed",
                  .content_type = JSON, .authed = 1, .ident = 1, .ok_status = 200,
                  .build = send_shed_report, .on_success = on_shed_done,
                  .on_refused = on_shed_refused, .failed = "shed report failed"},
    [REQ_INGEST] = {.kind = REQ_INGEST, .name = "ingest", .method = "POST", .path = "/v1/ingest",
                    .content_type = "application/x-ndjson", .authed = 1, .ident = 1,
                    .ok_status = 200, .build = send_ingest, .on_success = on_ingest_done,
                    .on_failure = on_ingest_failed, .failed_text = ingest_failed_text},
};

#undef JSON

static void start_request(agent *a, req_kind kind) { reqs[kind].build(a, &reqs[kind]); }

/* ---- the shared completion path ----------------------------------------- */

static int reply_ok(const req_row *r, const completion *c) {
  if (c->error != NET_OK) return 0;
  return r->ok_status ? c->status == r->ok_status : c->status >= 200 && c->status < 300;
}

/* Any reply but the row's success, in this order: the kind's own outcomes
 * (on_failure), a lost session (retried at once under a new one), an
 * identity refusal (ident_refusal schedules the retry), a permanent refusal
 * the kind handles (on_refused), else the failure line and a back-off
 * (Retry-After honoured). The order of the random draws (back-off jitter,
 * on_retry_later's) is part of a run's replay: keep it. */
static void complete_failed(agent *a, const req_row *r, const completion *c) {
  char why[256], what[96];
  if (r->on_failure && r->on_failure(a, c)) return;
  if (r->authed && session_lost(c)) {
    a->have_session = 0;
    succeeded(a);
    return;
  }
  describe_reply(c, why, sizeof why);
  if (r->ident && ident_refusal(a, c, why)) {
    if (r->on_retry_later) r->on_retry_later(a);
    return;
  }
  int t = transient(c);
  if (!t && r->on_refused) {
    r->on_refused(a, c, why);
    return;
  }
  if (r->failed_text) r->failed_text(a, what, sizeof what);
  else snprintf(what, sizeof what, "%s", r->failed);
  agent_log(a, t || r->quiet ? OS_LOG_WARN : OS_LOG_ERROR, "%s: %s", what, why);
  if (r->on_retry_later) r->on_retry_later(a);
  backoff(a, c->retry_after_ms);
}

static void handle_completion(agent *a) {
  completion *c = &a->done;
  req_kind kind = a->inflight;
  a->inflight = REQ_NONE;
  c->pending = 0;
  if (c->error == NET_OK && c->date_ms > 0) a->st.clock_skew_ms = a->wall - c->date_ms;
  if (c->error == NET_OK && c->status > 0) a->last_contact_wall = a->wall;
  if (kind <= REQ_NONE || kind >= REQ__COUNT) return;
  const req_row *r = &reqs[kind];
  if (reply_ok(r, c)) r->on_success(a, c);
  else complete_failed(a, r, c);
}

/* ---- collection --------------------------------------------------------- */

/* Applies a new policy's caps (once per version) and runs the RSS
 * self-check (every CAPS_RSS_CHECK_MS). */
static void caps_refresh(agent *a) {
  const policy *p = pstate_policy(a->ps);
  int changed = 0;
  if (p->version != a->caps_version) {
    caps_derive(p, &a->caps_base, &a->lim);
    a->caps_version = p->version;
    a->cfg.batch_max_records = a->lim.batch_max_records;
    a->cfg.batch_max_bytes = a->lim.batch_max_bytes;
    a->cfg.batch_max_age_ms = a->lim.batch_max_age_ms;
    if ((size_t)a->lim.read_chunk_bytes != a->tb.chunk_cap) {
      tail_buffers nb;
      /* Out of memory keeps the old buffers: still bounded, still working. */
      if (tail_buffers_init(&nb, (size_t)a->lim.read_chunk_bytes, a->tb.max_line) == 0) {
        tail_buffers_free(&a->tb);
        a->tb = nb;
      }
    }
    changed = 1;
    if (p->version >= 1)
      agent_log(a, OS_LOG_INFO,
                "policy v%lld caps: %lld records/s, memory %lld MiB (batch %d records / %lld "
                "bytes / %lld ms, read buffer %lld, page cache %lld KiB)",
                (long long)p->version, (long long)a->lim.rate,
                (long long)(a->lim.memory_bytes >> 20), a->lim.batch_max_records,
                (long long)a->lim.batch_max_bytes, (long long)a->lim.batch_max_age_ms,
                (long long)a->lim.read_chunk_bytes, (long long)a->lim.cache_kib);
  }
  if (a->os->self_rss && a->now >= a->mem.next_check_ms) {
    uint64_t b = 0;
    int64_t rss = a->os->self_rss(a->os->ctx, &b) == OS_OK ? (int64_t)b : -1;
    int t = caps_mem_observe(&a->mem, rss, a->lim.memory_bytes, a->now);
    if (t > 0)
      agent_log(a, OS_LOG_WARN,
                "RSS %lld KiB is over the memory cap (%lld MiB): page cache shrunk, collection "
                "slowed to %lld records/s until back under",
                (long long)(rss >> 10), (long long)(a->lim.memory_bytes >> 20),
                (long long)caps_effective_rate(&a->lim, &a->mem));
    else if (t < 0)
      agent_log(a, OS_LOG_INFO, "RSS %lld KiB back under the memory cap", (long long)(rss >> 10));
    changed |= t != 0;
  }
  if (changed) {
    spool_set_cache_kib(a->sp, a->mem.over ? CAPS_MIN_CACHE_KIB : a->lim.cache_kib);
    caps_bucket_set_rate(&a->bucket, caps_effective_rate(&a->lim, &a->mem), a->now);
  }
}

static int64_t caps_resume_at(const agent *a) {
  return caps_bucket_ready_at(&a->bucket, a->bucket.rate / 10, a->now);
}

static void collect(agent *a) {
  a->more_to_read = 0;
  a->rate_limited = 0;
  caps_refresh(a);
  space_before_collect(a);
  int n_src = a->cfg.n_sources;
  for (int k = 0; k < n_src; k++) {
    int i = (a->rr + k) % n_src;
    if (a->now < a->sources[i].recheck_at) continue;
    int64_t lines = 0;
    int more = 0, limited = 0, os_error = 0;
    int64_t budget = caps_bucket_avail(&a->bucket, a->now);
    int rc = tail_poll_max(&a->sources[i], a->os, a->sp, &a->tb, a->wall, budget, &lines, &more,
                           &limited, &os_error);
    caps_bucket_take(&a->bucket, lines);
    a->rate_limited |= limited;
    if (lines > 0 && a->pending_since == INT64_MIN) a->pending_since = a->now;
    a->more_to_read |= more;
    /* Unreadable (an OS error, or refused): said when it changes, then
     * summarised every unreadable_summary_ms, not once per poll (issue #17). */
    char said[512];
    os_log_level lvl = OS_LOG_WARN;
    if (tail_health_note(&a->sources[i], rc, os_error, a->now, a->wall,
                         a->cfg.unreadable_summary_ms, &lvl, said, sizeof said))
      agent_log(a, lvl, "%s", said);
    if (rc == TAIL_EREFUSED) {
      /* Reported to the cloud once per policy (with the path) and counted;
       * looked at again only after GUARD_RECHECK_MS: a FIFO or a swapped
       * symlink costs one check, not one per poll. The offset is kept:
       * nothing is lost. */
      pstate_note_refusal(a->ps, a->os, a->sources[i].path, a->sources[i].why);
      a->sources[i].recheck_at = a->now + GUARD_RECHECK_MS;
    } else if (rc == TAIL_EIO) {
      /* said above; the offset is kept and the next poll tries again */
    } else if (rc == TAIL_EFULL) {
      if (a->bp_since == INT64_MIN)
        agent_log(a, OS_LOG_WARN, "%s: spool full, reading paused (offset kept): %s",
                  a->sources[i].path, spool_errmsg(a->sp));
    } else if (rc != TAIL_OK) {
      agent_log(a, OS_LOG_ERROR, "%s: spool error: %s", a->sources[i].path, spool_errmsg(a->sp));
    }
    space_after_poll(a, rc, lines);
  }
  if (n_src > 0) a->rr = (a->rr + 1) % n_src;
  int64_t plines = 0;
  int pmore = 0, plimited = 0;
  pstate_collect_max(a->ps, a->os, a->sp, &a->tb, a->wall, a->now,
                     caps_bucket_avail(&a->bucket, a->now), &plines, &pmore, &plimited);
  caps_bucket_take(&a->bucket, plines);
  a->rate_limited |= plimited;
  if (a->rate_limited) a->rate_limited_polls++;
  if (plines > 0 && a->pending_since == INT64_MIN) a->pending_since = a->now;
  a->more_to_read |= pmore;
}

/* ---- step --------------------------------------------------------------- */

static int ingest_due(const agent *a, const spool_counters *sc, int64_t *due_at) {
  if (sc->spooled == 0) return 0;
  int64_t since = a->pending_since != INT64_MIN ? a->pending_since : a->now;
  int64_t at = since + a->cfg.batch_max_age_ms;
  if (a->flush_now || sc->spooled >= a->cfg.batch_max_records) at = a->now;
  *due_at = at;
  return 1;
}

static void start_network(agent *a) {
  if (a->inflight != REQ_NONE || a->now < a->retry_at) return;
  if (!a->id.enrolled) {
    if (!a->cfg.enrollment_token[0]) {
      agent_log(a, OS_LOG_ERROR, "not enrolled and no enrollment_token in the config");
      a->refused = 1;
      a->retry_at = a->now + AGENT_REFUSED_RETRY_MS;
      return;
    }
    start_request(a, a->rekey ? REQ_REKEY : REQ_ENROLL);
    return;
  }
  if (a->rekey) {
    start_request(a, REQ_REKEY);
    return;
  }
  if (!a->have_session || a->now >= a->session_expires - AGENT_SESSION_RENEW_MARGIN_MS) {
    a->have_session = 0;
    start_request(a, a->challenge[0] ? REQ_SESSION : REQ_CHALLENGE);
    return;
  }
  /* Nothing is shipped before this process has checked in once: a stale
   * copy is caught before any of its records could be taken for the
   * original's. Later sessions of the same process need no new check-in
   * (its instance is already known), which keeps hourly renewals small. */
  if (!a->checked_in || a->now >= a->next_checkin) {
    start_request(a, REQ_CHECKIN);
    return;
  }
  if (pstate_fetch_urgent(a->ps, a->now)) {
    start_request(a, REQ_POLICY);
    return;
  }
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  /* What was shed is reported before more is shipped: small, and the
   * operator's first question. */
  if (sc.shed > sc.shed_reported && a->now >= a->shed_hold_until) {
    start_request(a, REQ_SHED);
    return;
  }
  int64_t due = 0;
  if (ingest_due(a, &sc, &due) && a->now >= due) {
    start_request(a, REQ_INGEST);
    return;
  }
  if (pstate_fetch_due(a->ps, a->now)) start_request(a, REQ_POLICY);
  else if (pstate_report_pending(a->ps)) start_request(a, REQ_POLICY_REPORT);
}

static int64_t next_deadline(agent *a) {
  int64_t d = a->more_to_read ? a->now + 1 : a->next_poll;
  if (a->rate_limited && caps_resume_at(a) < d) d = caps_resume_at(a);
  if (a->inflight == REQ_NONE) {
    int64_t net = INT64_MAX;
    if (!a->id.enrolled || !a->have_session || a->rekey || !a->checked_in) {
      net = a->retry_at;
    } else {
      spool_counters sc;
      spool_get_counters(a->sp, &sc);
      int64_t due = 0;
      if (ingest_due(a, &sc, &due)) net = due > a->retry_at ? due : a->retry_at;
      if (sc.shed > sc.shed_reported && a->shed_hold_until <= a->retry_at) net = a->retry_at;
      int64_t renew = a->session_expires - AGENT_SESSION_RENEW_MARGIN_MS;
      if (renew < net) net = renew > a->retry_at ? renew : a->retry_at;
      if (a->next_checkin < net) net = a->next_checkin > a->retry_at ? a->next_checkin : a->retry_at;
      int64_t pol = pstate_report_pending(a->ps) ? a->now : pstate_next_fetch(a->ps);
      if (pol < net) net = pol > a->retry_at ? pol : a->retry_at;
    }
    if (net < d) d = net;
  }
  return d > a->now ? d : a->now + 1;
}

int64_t agent_step(agent *a, int64_t now_ms) {
  a->now = now_ms;
  a->wall = a->os->wall_ms(a->os->ctx);
  if (a->done.pending) handle_completion(a);
  if (a->now >= a->next_poll || a->more_to_read ||
      (a->rate_limited && a->now >= caps_resume_at(a))) {
    collect(a);
    if (a->now >= a->next_poll) a->next_poll = a->now + a->cfg.poll_interval_ms;
  }
  start_network(a);
  return agent_update_step(a, next_deadline(a));
}

/* ---- lifecycle ---------------------------------------------------------- */

/* Identity work at start: a fresh instance id, drift reports into the log,
 * the fingerprint compared with the one taken at enrollment. */
static int agent_ident_start(agent *a, char *err, size_t cap) {
  uint8_t raw[16];
  if (a->os->random(a->os->ctx, raw, sizeof raw) != OS_OK) {
    snprintf(err, cap, "no randomness for the instance id");
    return -1;
  }
  crypto_hex(raw, sizeof raw, a->instance);
  /* perm_assert logged each finding as it made it (also those beyond the
   * PERM_MAX_DRIFT kept for the check-in). */
  a->st.drift_repairs = a->n_drift;
  a->st.fp_score = 100;
  if (!a->id.enrolled) return 0;
  if (!a->id.have_fp) { /* version-1 identity: take the fingerprint now */
    if (ident_save(&a->id, a->os, a->cfg.state_dir, err, cap) != IDENT_OK) return -1;
    return 0;
  }
  ident_fp now;
  ident_fp_read(a->os, &now);
  a->st.fp_score = ident_fp_score(&a->id.fp, &now);
  if (a->st.fp_score < IDENT_FP_SAME_MACHINE) {
    agent_log(a, OS_LOG_WARN,
              "machine fingerprint score %d < %d at start: identity %s was copied from other "
              "hardware; re-enrolling as a new agent",
              a->st.fp_score, IDENT_FP_SAME_MACHINE, a->id.agent_id);
    start_rekey(a, "hardware_changed");
    if (!a->rekey) {
      snprintf(err, cap, "cannot prepare a new identity for a copied state dir");
      return -1;
    }
  }
  return 0;
}

int agent_open(const agent_config *cfg, const os_shim *os, const net_shim *net, agent **out,
               char *err, size_t err_cap) {
  *out = NULL;
  char scratch[8];
  if (!err) {
    err = scratch;
    err_cap = sizeof scratch;
  }
  err[0] = 0;
  agent *a = calloc(1, sizeof *a);
  if (!a) {
    snprintf(err, err_cap, "out of memory");
    return AGENT_ENOMEM;
  }
  a->cfg = *cfg;
  a->os = os;
  a->net = net;
  a->z = wire_zctx_new(); /* NULL only costs speed */
  a->z_owned = 1;
  int ret = AGENT_ESTATE;
  a->done.body = malloc(WIRE_MAX_JSON_REPLY + 1);
  if (!a->done.body ||
      tail_buffers_init(&a->tb, (size_t)cfg->read_chunk_bytes, (size_t)cfg->max_line_bytes) != 0) {
    snprintf(err, err_cap, "out of memory");
    ret = AGENT_ENOMEM;
    goto fail;
  }
  if (perm_assert(os, cfg->state_dir, a->drift, &a->n_drift, err, err_cap) != PERM_OK) goto fail;
  int rc = files_ensure_dir(os, cfg->state_dir, 0700);
  if (rc != OS_OK) {
    snprintf(err, err_cap, "state_dir %s: %s", cfg->state_dir, files_strerror(rc));
    goto fail;
  }
  if (ident_load(&a->id, os, cfg->state_dir, err, err_cap) != IDENT_OK) goto fail;
  if (agent_ident_start(a, err, err_cap) != 0) goto fail;
  char path[OS_PATH_MAX];
  if (files_join(path, sizeof path, cfg->state_dir, "spool.db") != OS_OK) {
    snprintf(err, err_cap, "state_dir: path too long");
    goto fail;
  }
  if (spool_open(os, path, &a->sp, err, err_cap) != SPOOL_OK) goto fail;
  spool_limits lim = {cfg->spool_quota_bytes, cfg->spool_floor_pct, cfg->spool_floor_max_bytes};
  if (spool_set_limits(a->sp, &lim) != SPOOL_OK) {
    snprintf(err, err_cap, "spool_quota_bytes/spool_floor_*: %s", spool_errmsg(a->sp));
    ret = AGENT_ECONFIG;
    goto fail;
  }
  a->bp_since = INT64_MIN;
  a->shed_hold_until = INT64_MIN;
  caps_base_from_config(cfg, &a->caps_base);
  caps_bucket_init(&a->bucket, 0, 0);
  caps_mem_init(&a->mem);
  a->caps_version = -1;
  if (pstate_open(cfg, os, &a->ps) != PSTATE_OK) {
    snprintf(err, err_cap, "out of memory");
    ret = AGENT_ENOMEM;
    goto fail;
  }
  /* The compiled-in deny list wins over the local config too (issue #5):
   * a denied source is dropped, said once, never opened. */
  policy_limits *own = &a->src_limits;
  own->n_roots = 1;
  memcpy(own->roots[0], "/", 2);
  snprintf(own->state_dir, sizeof own->state_dir, "%s", cfg->state_dir);
  int kept = 0;
  for (int i = 0; i < cfg->n_sources; i++) {
    char why[POLICY_ERR_MAX];
#ifndef OUTPOST_TEST_NO_USERSPACE_PATH_CHECK
    char lex[POLICY_PATH_MAX];
    const char *rule = NULL;
    if (policy_normalize(cfg->sources[i].path, lex, sizeof lex) == POLICY_OK &&
        policy_denied(lex, &rule)) {
      /* The configured name itself is denied: dropped for good. */
      agent_log(a, OS_LOG_ERROR, "source %s refused: denied by compiled-in rule \"%s\" (never opened)",
                cfg->sources[i].path, rule);
      continue;
    }
    /* Resolving to a denied file now (a symlink, perhaps swapped in just
     * before this start) is said, and the source kept: guard_open refuses
     * it at every check until it is a plain file again, so an attacker who
     * times a swap with a restart cannot switch the source off. */
    if (policy_check_path(own, os, cfg->sources[i].path, NULL, 0, why, sizeof why) ==
        POLICY_EDENIED)
      agent_log(a, OS_LOG_ERROR, "source %s refused: %s (never opened)", cfg->sources[i].path,
                why);
#endif
    tail_source *t = &a->sources[kept];
    /* Fixed now: the directories as the administrator laid them out, the
     * file itself never a symlink; every read re-checks it (core/guard.h). */
    if (guard_canonical(os, cfg->sources[i].path, t->open_path, sizeof t->open_path) != GUARD_OK) {
      agent_log(a, OS_LOG_ERROR, "source %s refused: path too long once resolved",
                cfg->sources[i].path);
      continue;
    }
    (void)why;
    a->cfg.sources[kept] = cfg->sources[i];
    memcpy(t->path, cfg->sources[i].path, sizeof t->path);
    t->start = cfg->sources[i].start;
    t->guard = own;
    kept++;
  }
  a->cfg.n_sources = kept;
  /* Times start at the first step: the driver's clock is the only clock. */
  a->next_poll = INT64_MIN;
  a->retry_at = INT64_MIN;
  a->pending_since = INT64_MIN;
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  a->flush_now = sc.spooled > 0; /* a backlog from before the restart ships at once */
  agent_log(a, OS_LOG_INFO, "agent %s started: %s, %lld records spooled",
            a->id.enrolled ? a->id.agent_id : "(not enrolled)", cfg->state_dir,
            (long long)sc.spooled);
  agent_update_open(a);
  *out = a;
  return AGENT_OK;
fail:
  agent_close(a);
  return ret;
}

void agent_get_stats(const agent *a, agent_stats *out) {
  *out = a->st;
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  out->state = a->refused           ? AGENT_STATE_REFUSED
               : !a->id.enrolled    ? AGENT_STATE_ENROLLING
               : !a->have_session   ? AGENT_STATE_SESSION
                                    : AGENT_STATE_RUNNING;
  memcpy(out->agent_id, a->id.enrolled ? a->id.agent_id : "", a->id.enrolled ? 33 : 1);
  if (a->revoked) out->state = AGENT_STATE_REVOKED;
  if (a->rekey) out->state = AGENT_STATE_REENROLLING;
  memcpy(out->cloned_from, a->id.cloned_from, sizeof out->cloned_from);
  out->produced = sc.next_seq - 1;
  out->acked = sc.acked;
  out->shed = sc.shed;
  out->shed_bytes = sc.shed_bytes;
  out->shed_reported = sc.shed_reported;
  out->spool_bytes = sc.bytes;
  out->backpressured = a->bp_since != INT64_MIN;
  out->spooled = sc.spooled;
  out->spool_first_seq = sc.first_seq;
  out->next_seq = sc.next_seq;
}

void agent_note_step(agent *a, int64_t took_ms, int64_t cpu_ms) {
  if (took_ms > a->st.step_max_ms) a->st.step_max_ms = took_ms;
  if (cpu_ms > a->st.step_max_cpu_ms) a->st.step_max_cpu_ms = cpu_ms;
  if (took_ms > AGENT_STEP_SLOW_MS) a->st.steps_slow++;
}

void agent_close(agent *a) {
  if (!a) return;
  if (a->req_id && a->net) a->net->cancel(a->net->ctx, a->req_id);
  update_close(a->upd);
  spool_close(a->sp);
  pstate_close(a->ps);
  for (int i = 0; i < CONFIG_MAX_SOURCES; i++) tail_source_release(&a->sources[i]);
  tail_buffers_free(&a->tb);
  free(a->done.body);
  if (a->z_owned) wire_zctx_free(a->z);
  volatile uint8_t *nk = a->next_id.key;
  for (size_t i = 0; i < sizeof a->next_id.key; i++) nk[i] = 0;
  /* The session key is a secret: do not leave it in freed memory. */
  volatile uint8_t *k = a->session_key;
  for (size_t i = 0; i < sizeof a->session_key; i++) k[i] = 0;
  free(a);
}

void agent_set_zctx(agent *a, wire_zctx *z) {
  if (!a) return;
  if (a->z_owned) wire_zctx_free(a->z);
  a->z = z;
  a->z_owned = 0;
}

void agent_policy_info(const agent *a, pstate_info *out) { pstate_get_info(a->ps, out); }

void agent_caps_info(const agent *a, caps_info *out) {
  memset(out, 0, sizeof *out);
  out->rate = a->bucket.rate;
  out->rate_limited_polls = a->rate_limited_polls;
  out->memory_cap_bytes = a->lim.memory_bytes;
  out->rss_bytes = a->mem.rss_bytes;
  out->peak_rss_bytes = a->mem.peak_rss_bytes;
  out->memory_over = a->mem.over;
  out->memory_over_events = a->mem.over_events;
  out->batch_max_records = a->cfg.batch_max_records;
  out->batch_max_bytes = a->cfg.batch_max_bytes;
  out->batch_max_age_ms = a->cfg.batch_max_age_ms;
  out->read_chunk_bytes = (int64_t)a->tb.chunk_cap;
  out->cache_kib = a->mem.over ? CAPS_MIN_CACHE_KIB : a->lim.cache_kib;
}
int64_t agent_last_contact_ms(const agent *a) { return a->last_contact_wall; }

void agent_set_sandbox_status(agent *a, const char *landlock, const char *seccomp) {
  if (landlock) snprintf(a->sandbox_landlock, sizeof a->sandbox_landlock, "%s", landlock);
  if (seccomp) snprintf(a->sandbox_seccomp, sizeof a->sandbox_seccomp, "%s", seccomp);
}

void agent_sandbox_status(const agent *a, char *landlock, char *seccomp) {
  memcpy(landlock, a->sandbox_landlock, AGENT_SANDBOX_MAX);
  memcpy(seccomp, a->sandbox_seccomp, AGENT_SANDBOX_MAX);
}
/* ---- space: back-pressure, then shedding (issue #3) --------------------- */

static const char *const shed_reason_names[] = {"?", "quota", "floor", "full", "io"};

static void log_shed(agent *a, const spool_shed_entry *e) {
  agent_log(a, OS_LOG_WARN,
            "shed %lld records (%lld bytes, seq %lld..%lld) to keep the spool %s; "
            "reported to the cloud next",
            (long long)e->records, (long long)e->bytes, (long long)e->first_seq,
            (long long)e->last_seq,
            e->reason == SPOOL_SHED_FLOOR  ? "above the volume's free-space floor"
            : e->reason == SPOOL_SHED_IO   ? "writable after an I/O error"
            : e->reason == SPOOL_SHED_FULL ? "writable on a full volume"
                                           : "within its quota");
}

static int shed_once(agent *a, int64_t min_bytes, spool_shed_reason why) {
  /* The oldest records may be the batch in flight: the cloud may store it, so
   * shedding them now would count them as both held and shed. Shed after its
   * reply (at most request_timeout_ms), when the ack has removed them. */
  if (a->inflight == REQ_INGEST) return -1;
  spool_shed_entry e;
  int rc = spool_shed(a->sp, min_bytes, why, a->wall, &e);
  if (rc != SPOOL_OK) {
    /* Said when it starts or its reason changes, not at every step: a
     * volume that stays full must not flood the log (issue #17's rule). */
    const char *msg = spool_errmsg(a->sp);
    a->shed_failures++;
    if (strcmp(msg, a->shed_error) != 0) {
      agent_log(a, OS_LOG_ERROR, "cannot shed: %s (said again only if the reason changes)", msg);
      snprintf(a->shed_error, sizeof a->shed_error, "%s", msg);
    }
    return -1;
  }
  if (a->shed_error[0]) {
    agent_log(a, OS_LOG_INFO, "shedding works again after %lld failed attempts", (long long)a->shed_failures);
    a->shed_error[0] = 0;
    a->shed_failures = 0;
  }
  if (e.records == 0) return -1;
  log_shed(a, &e);
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  if (sc.spooled == 0) a->pending_since = INT64_MIN;
  return 0;
}

/* Others took the volume under its floor: give back our oldest records (and
 * their pages) until the floor holds again or the spool is empty. Waiting
 * would not help here: the agent is not what fills the volume. */
static void space_before_collect(agent *a) {
  for (int i = 0; i < AGENT_FLOOR_SHEDS_PER_STEP; i++) {
    spool_space_info si;
    if (spool_space(a->sp, &si) != SPOOL_OK || si.deficit <= 0) return;
    if (shed_once(a, si.deficit, SPOOL_SHED_FLOOR) != 0) return;
  }
}

/* After a source was polled: a full spool first pauses reading (the offset
 * stays, the data waits in the log file); only when the pause has lasted
 * backpressure_max_ms (the cloud is not draining us) does the agent shed its
 * oldest records to make room for new ones. An I/O error sheds at once. */
static void space_after_poll(agent *a, int rc, int64_t lines) {
  if (rc == TAIL_OK) {
    if (lines > 0 && a->bp_since != INT64_MIN) {
      agent_log(a, OS_LOG_INFO, "spool has room again, reading resumed");
      a->bp_since = INT64_MIN;
      a->shedding = 0;
    }
    return;
  }
  int err = spool_last_error(a->sp);
  if (rc == TAIL_ESPOOL && err == SPOOL_EIO) {
    if (shed_once(a, 0, SPOOL_SHED_IO) == 0) a->more_to_read = 1;
    return;
  }
  if (rc != TAIL_EFULL) return;
  if (a->bp_since == INT64_MIN) a->bp_since = a->now;
  if (!a->shedding && a->now - a->bp_since < a->cfg.backpressure_max_ms) return;
  a->shedding = 1;
  spool_space_info si;
  spool_shed_reason why = SPOOL_SHED_QUOTA;
  if (spool_space(a->sp, &si) == SPOOL_OK &&
      si.max_db_bytes < a->cfg.spool_quota_bytes - SPOOL_JOURNAL_RESERVE(a->cfg.spool_quota_bytes) -
                            (int64_t)4096)
    why = SPOOL_SHED_FULL; /* the volume, not the quota, is the limit */
  if (shed_once(a, SPOOL_SHED_CHUNK(a->cfg.spool_quota_bytes), why) == 0) a->more_to_read = 1;
}

static void send_shed_report(agent *a, const req_row *r) {
  spool_shed_entry e[AGENT_SHED_REPORT_MAX];
  int n = 0;
  if (spool_shed_pending(a->sp, e, AGENT_SHED_REPORT_MAX, &n) != SPOOL_OK || n == 0) {
    agent_log(a, OS_LOG_ERROR, "cannot read the shed log: %s", spool_errmsg(a->sp));
    backoff(a, 0);
    return;
  }
  cJSON *b = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(b, "reports");
  for (int i = 0; arr && i < n; i++) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      break;
    }
    cJSON_AddNumberToObject(o, "first_seq", (double)e[i].first_seq);
    cJSON_AddNumberToObject(o, "last_seq", (double)e[i].last_seq);
    cJSON_AddNumberToObject(o, "records", (double)e[i].records);
    cJSON_AddNumberToObject(o, "bytes", (double)e[i].bytes);
    cJSON_AddNumberToObject(o, "ts_first", (double)e[i].ts_first_ms);
    cJSON_AddNumberToObject(o, "ts_last", (double)e[i].ts_last_ms);
    cJSON_AddNumberToObject(o, "at", (double)e[i].at_ms);
    int reason = e[i].reason >= 1 && e[i].reason <= 4 ? e[i].reason : 1;
    cJSON_AddStringToObject(o, "reason", shed_reason_names[reason]);
  }
  char *text = cJSON_PrintUnformatted(b);
  cJSON_Delete(b);
  if (!text) {
    backoff(a, 0);
    return;
  }
  if (send_request(a, r, NULL, 0, (const uint8_t *)text, strlen(text)) == NET_OK)
    a->shed_report_through = e[n - 1].id;
  cJSON_free(text);
}

static void on_shed_done(agent *a, const completion *c) {
  (void)c;
  if (spool_shed_reported(a->sp, a->shed_report_through) != SPOOL_OK)
    /* Remembered in memory: the next report goes on from there; after a
     * restart this one is sent again, which the cloud stores idempotently. */
    agent_log(a, OS_LOG_WARN, "cannot persist that the shed report was sent: %s",
              spool_errmsg(a->sp));
  agent_log(a, OS_LOG_INFO, "shed report stored by the cloud");
  succeeded(a);
}

static void on_shed_refused(agent *a, const completion *c, const char *why) {
  (void)c;
  agent_log(a, OS_LOG_ERROR, "shed report failed: %s", why);
  /* A cloud that refuses the report must not stop the data behind it:
   * keep the report (persisted) and try again in an hour. */
  a->shed_hold_until = a->now + AGENT_REFUSED_RETRY_MS;
  succeeded(a);
}

/* ---- updates (issue #6, core/update.h) ---------------------------------- */

/* A download's bytes: in the spool's quota, above the volume's floor. */
static int agent_update_hold(void *user, int64_t bytes, char *why, size_t cap) {
  agent *a = user;
  spool_space_info si;
  if (bytes == 0) {
    (void)spool_set_outside_bytes(a->sp, 0);
    return 0;
  }
  if (spool_space(a->sp, &si) != SPOOL_OK) {
    snprintf(why, cap, "spool: %s", spool_errmsg(a->sp));
    return -1;
  }
  if (bytes > si.quota_room) {
    snprintf(why, cap, "the spool's quota of %lld bytes has %lld free (records waiting for the cloud)",
             (long long)a->cfg.spool_quota_bytes, (long long)si.quota_room);
    return -1;
  }
  if (si.floor_room >= 0 && bytes > si.floor_room) {
    snprintf(why, cap, "the volume has %lld bytes free above its floor of %lld", (long long)si.floor_room,
             (long long)si.floor_bytes);
    return -1;
  }
  if (spool_set_outside_bytes(a->sp, bytes) != SPOOL_OK) {
    snprintf(why, cap, "spool: %s", spool_errmsg(a->sp));
    return -1;
  }
  return 0;
}

static int agent_update_room(void *user, int64_t bytes, char *why, size_t cap) {
  agent *a = user;
  spool_space_info si;
  if (spool_space(a->sp, &si) != SPOOL_OK) {
    snprintf(why, cap, "spool: %s", spool_errmsg(a->sp));
    return -1;
  }
  if (si.floor_room >= 0 && bytes > si.floor_room) {
    snprintf(why, cap, "the volume has %lld bytes free above its floor of %lld, %lld more to write",
             (long long)si.floor_room, (long long)si.floor_bytes, (long long)bytes);
    return -1;
  }
  return 0;
}

static void agent_update_open(agent *a) {
  if (!a->cfg.update_enabled) return;
  a->upd_space = (update_space){.user = a, .hold = agent_update_hold, .room = agent_update_room};
  update_config uc = {
      .state_dir = a->cfg.state_dir,
      .cloud_url = a->cfg.cloud_url,
      .running_version = outpost_version,
      .seed_root = a->cfg.update_trusted_root,
      .release_key = a->cfg.update_release_key_pem,
      .release_key_len = strnlen(a->cfg.update_release_key_pem, sizeof a->cfg.update_release_key_pem),
      .check_interval_ms = a->cfg.update_check_interval_ms,
      /* Spread a fleet's first checks over a window (default 5 minutes);
       * a small fleet, or a freshly switched version, may check at once. */
      .first_check_ms = a->cfg.update_first_check_ms > 0 ? random_below(a, a->cfg.update_first_check_ms) : 0,
      .retry_base_ms = a->cfg.retry_base_ms * 60,
      .request_timeout_ms = a->cfg.request_timeout_ms,
      .max_binary_bytes = (size_t)a->cfg.update_max_binary_bytes,
      .space = &a->upd_space,
  };
  char err[300];
  int rc = update_open(&uc, a->os, a->net, &a->upd, err, sizeof err);
  if (rc != UPDATE_OK) agent_log(a, OS_LOG_WARN, "update: %s; updates off", err);
  else agent_log(a, OS_LOG_INFO, "update: checking every %lld s", (long long)(uc.check_interval_ms / 1000));
}

static int64_t agent_update_step(agent *a, int64_t deadline) {
  if (!a->upd) return deadline;
  const policy *p = pstate_policy(a->ps);
  int64_t d = update_step(a->upd, a->now, policy_ring_name(p ? p->update_ring : POLICY_RING_STABLE));
  return d < deadline ? d : deadline;
}

/* "update": refusals and stagings since the last check-in the cloud stored. */
static void agent_update_add_reports(agent *a, cJSON *body) {
  update_report r[UPDATE_MAX_REPORTS];
  int n = update_peek_reports(a->upd, r, UPDATE_MAX_REPORTS);
  a->upd_report_seq = n > 0 ? r[n - 1].seq : 0;
  if (n == 0) return;
  cJSON *arr = cJSON_AddArrayToObject(body, "update");
  for (int i = 0; arr && i < n; i++) {
    cJSON *e = cJSON_CreateObject();
    if (!e) continue;
    cJSON_AddStringToObject(e, "kind", r[i].kind);
    cJSON_AddStringToObject(e, "ring", r[i].ring);
    cJSON_AddStringToObject(e, "version", r[i].version);
    cJSON_AddStringToObject(e, "running", outpost_version);
    cJSON_AddStringToObject(e, "message", r[i].message);
    cJSON_AddNumberToObject(e, "at", (double)r[i].at_ms);
    cJSON_AddItemToArray(arr, e);
  }
}

int agent_exit_code(const agent *a) { return a ? update_exit_code(a->upd) : 0; }

int agent_self_record(agent *a, const char *line) {
  size_t len = line ? strnlen(line, 1024) : 0;
  if (!a || len == 0 || len >= 1024 || memchr(line, '\n', len)) return AGENT_ECONFIG;
  spool_source_state st;
  if (spool_source_load(a->sp, AGENT_SELF_SOURCE, &st) != SPOOL_OK) return AGENT_ESTATE;
  /* The offset of a source that is no file: one more per record. */
  st.offset++;
  spool_line l = {line, len, a->wall};
  if (spool_append(a->sp, &st, &l, 1) != SPOOL_OK) return AGENT_ESTATE;
  /* Ships with the next batch, like a line read at the last step. */
  if (a->pending_since == INT64_MIN) a->pending_since = a->now;
  return AGENT_OK;
}
