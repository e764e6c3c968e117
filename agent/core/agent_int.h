/* agent_int.h - internals shared by the agent's source files (agent__ prefix).
 * Not a contract: only agent/core/agent*.c include it; the API is agent.h.
 *
 * The files, each over this header (arrows point one way: no file calls
 * into one above it in this list):
 *   agent.c          lifecycle, the step, the request table and the shared
 *                    completion path (a failed reply: lost session, identity
 *                    refusal, permanent refusal, back-off)
 *   agent_ident.c    identity requests: enroll, re-enroll, challenge,
 *                    session, check-in; the identity refusals (issue #4)
 *   agent_collect.c  collection under the policy's caps (rate, memory)
 *   agent_ship.c     the data path's requests: ingest, policy fetch and
 *                    report (issue #5)
 *   agent_space.c    back-pressure, shedding and the shed report (issue #3)
 *   agent_update.c   the updater's place in the agent (issue #6)
 *   agent_net.c      the log, back-off, and sending one request
 */
#ifndef OUTPOST_AGENT_CORE_AGENT_INT_H
#define OUTPOST_AGENT_CORE_AGENT_INT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"
#include "core/agent.h"
#include "core/caps.h"
#include "core/ident.h"
#include "core/perm.h"
#include "core/policy.h"
#include "core/pstate.h"
#include "core/spool.h"
#include "core/tail.h"
#include "core/update.h"

/* A refusal that waits for a person (a config, the cloud's records) is
 * asked about again after this long, never in a tight loop. */
#define AGENT_REFUSED_RETRY_MS (3600 * 1000LL)

typedef enum agent__req_kind {
  AGENT_REQ_NONE,
  AGENT_REQ_ENROLL,
  AGENT_REQ_CHALLENGE,
  AGENT_REQ_SESSION,
  AGENT_REQ_INGEST,
  AGENT_REQ_SHED,
  AGENT_REQ_POLICY,        /* issue #5 */
  AGENT_REQ_POLICY_REPORT, /* issue #5 */
  AGENT_REQ_CHECKIN,       /* issue #4 */
  AGENT_REQ_REKEY,         /* issue #4: enrolling as a new identity, vouched for by the old */
  AGENT_REQ_COUNT
} agent__req_kind;

typedef struct agent__completion {
  int pending;
  size_t body_cap; /* body's size less its NUL: a longer reply is cut to it */
  int error;
  int status;
  int64_t retry_after_ms; /* 0 when absent */
  char error_text[160];
  uint8_t *body; /* body_cap + 1 bytes, owned by the agent */
  size_t body_len;
  int64_t date_ms; /* the reply's Date header, 0 when absent or unparsable */
} agent__completion;

/* issue #14: one ingest batch of the shipping window (agent_ship.c). The
 * window is a ring of cfg.ship_window flights in seq order, together
 * covering the spool from its first_seq up to ship_next - 1 without a gap;
 * only the acknowledged prefix of the ring is deleted from the spool, so the
 * spool still removes rows only from its low end. */
typedef enum agent__flight_state {
  AGENT_FL_SENT = 1, /* in flight: done is filled by the net callback */
  AGENT_FL_ACKED,    /* the cloud stored it; deleted once every batch below it is */
  AGENT_FL_RETRY,    /* failed: rebuilt from the spool and sent again after the back-off */
} agent__flight_state;

/* An ingest reply is ~100 bytes; an error reply's JSON is cut here. */
#define AGENT_INGEST_REPLY_MAX 2048

typedef struct agent__flight {
  agent__flight_state state;
  uint64_t req_id;
  uint64_t epoch;    /* a->ship_epoch when sent: one failure decision per burst */
  int64_t first, last;
  int64_t max_bytes; /* the batch's byte budget: a retry rebuilds the very same batch */
  agent *a;
  agent__completion done;
} agent__flight;

/* One kind of request: a row of the table in agent.c. Adding a kind is a
 * row, its build function and its success handler; everything a failed
 * reply can mean is the shared completion path's (agent.c), steered by the
 * flags and the optional hooks. */
typedef struct agent__req agent__req;
struct agent__req {
  const char *name;         /* in "<name> request not sent" and "<name>: out of memory" */
  const char *method;       /* "POST" or "GET" */
  const char *path;         /* below cloud_url */
  const char *content_type; /* sent first of the extra headers; NULL: none (no body) */
  const char *failed;       /* the failure line: "<failed>: <why>" */
  /* Builds the request and hands it to agent__send or agent__send_json
   * (row r), or sends nothing: then it backs off (or has nothing to say). */
  void (*build)(agent *a, const agent__req *r);
  /* The reply was ok_status: the kind's own work, then agent__succeeded()
   * or, when the reply cannot be used, agent__backoff(). */
  void (*on_success)(agent *a, const agent__completion *c);
  /* Optional, first for any other reply: what every failure of the kind
   * must do; returns 1 when the reply was an outcome of the kind's own that
   * it has dealt with (nothing more is done), else 0. */
  int (*on_failure)(agent *a, const agent__completion *c);
  /* Optional: the request failed and is retried later, not at once (after
   * an identity refusal, or before the back-off). */
  void (*on_retry_later)(agent *a);
  /* Optional: a refusal that is not transient (no identity refusal either)
   * is the kind's to say and to schedule, instead of a back-off. */
  void (*on_refused)(agent *a, const agent__completion *c, const char *why);
  /* Optional: writes the failure line's subject instead of failed. */
  void (*failed_text)(const agent *a, char *out, size_t cap);
  agent__req_kind kind;
  int authed;    /* signed with the session: a lost session (401 session_expired,
                    unknown_session) ends it and the request waits for a new one */
  int ident;     /* the identity refusals (agent__ident_refusal) apply to its replies */
  int ok_status; /* the status of success; 0: any 2xx */
  int quiet;     /* a failure is a warning, never an error: nothing waits on it */
};

/* What the agent reads of its configuration after agent_open: those fields
 * copied, not the whole agent_config (54 KiB, most of it the sources' and
 * roots' paths, which the sources and pstate hold already). A simulated
 * fleet opens thousands of agents in one process (issue #15). A field the
 * agent needs later is added here and in settings_from (agent.c). The batch
 * limits are the policy's once caps_refresh has run. */
typedef struct agent_settings {
  char cloud_url[CONFIG_URL_MAX];
  char state_dir[CONFIG_PATH_MAX];
  char enrollment_token[CONFIG_TOKEN_MAX];
  char update_trusted_root[CONFIG_PATH_MAX];
  char update_release_key_pem[CONFIG_PEM_MAX];
  int n_sources; /* those kept at agent_open: a->sources */
  int batch_max_records;
  int64_t batch_max_bytes, batch_max_age_ms;
  int64_t poll_interval_ms, request_timeout_ms, retry_base_ms, retry_max_ms;
  int64_t unreadable_summary_ms, checkin_interval_ms;
  int64_t spool_quota_bytes, backpressure_max_ms;
  int zstd_level, log_level;
  int update_enabled;
  int64_t update_check_interval_ms, update_first_check_ms, update_max_binary_bytes;
} agent_settings;

struct agent {
  agent_settings cfg;
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
  /* cfg.n_sources entries (at most CONFIG_MAX_SOURCES), owned: a simulated
   * host with one source no longer carries 32 slots of 2.8 KiB (issue #15). */
  tail_source *sources;
  /* issue #13: what every open of a local source is checked against (the
   * deny list and the state dir; the local config may name any root). */
  policy_limits src_limits;
  /* Scratch for reading sources: own_tb, or a set lent by the driver
   * (agent_lend_tail_buffers), which the agent never frees. */
  tail_buffers own_tb;
  tail_buffers *tb;
  char url[CONFIG_URL_MAX + 32];

  int64_t now;  /* monotonic ms, cached once per step */
  int64_t wall; /* wall ms, cached once per step */

  /* At most one request that is not an ingest batch is in flight, and only
   * while no batch is: identity, session and policy requests see a quiet
   * line, as before the window. */
  agent__req_kind inflight; /* AGENT_REQ_NONE or the kind of that request */
  uint64_t req_id;
  agent__completion done;
  /* issue #14: the shipping window (agent__flight above), owned */
  agent__flight *ship;
  uint8_t *ship_bodies; /* the flights' reply buffers, one block */
  int ship_cap;         /* cfg.ship_window */
  int ship_head, ship_count;
  int ship_sent;        /* flights in state SENT */
  /* batches that may be in flight now, 1..ship_cap: back to 1 at every
   * failure, doubled by every acknowledgement since (slow start), so a
   * cloud that comes back from an outage sees one probe per agent, not a
   * window each */
  int ship_limit;
  int64_t ship_next;    /* the first seq in no flight (below the spool's first_seq: that) */
  uint64_t ship_epoch;  /* bumped by each failure that took the shared completion path */

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

  /* identity (issue #4): see agent_ident.c */
  char instance[33];      /* this process, random at agent_open */
  int checked_in;         /* the current session has checked in */
  int64_t next_checkin;   /* monotonic */
  int revoked;
  int rekey;              /* re-enrolling as a new identity; next_id holds its key */
  char clone_reason[24];  /* "hardware_changed" or "ratchet_conflict" */
  ident next_id;
  perm_drift drift[PERM_MAX_DRIFT];
  int n_drift;            /* drift reports not yet delivered */
  /* space (issue #3, agent_space.c): back-pressure since (INT64_MIN when reading freely),
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

/* ---- agent_net.c ---------------------------------------------------------- */

/* The agent's log: WARN and ERROR lines are also kept as st.last_error
 * (ERROR counted in st.errors); below cfg.log_level only that. */
void agent__log(agent *a, os_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A number in [0, bound) from the os shim's randomness (bound / 2 without). */
int64_t agent__random_below(agent *a, int64_t bound);
/* Sets retry_at: exponential back-off with full jitter, capped at
 * cfg.retry_max_ms; a longer Retry-After (ms, 0 = none) wins. */
void agent__backoff(agent *a, int64_t retry_after_ms);
/* The request worked: the next may go at once, the back-off starts over. */
void agent__succeeded(agent *a);
/* An error reply for the log: "401 session_expired: message". */
void agent__describe_reply(const agent__completion *c, char *out, size_t cap);
/* 1 when the reply's JSON error code is code. */
int agent__code_is(const agent__completion *c, const char *code);
/* 1 when the cloud no longer knows the session the request was signed with
 * (401 session_expired or unknown_session). */
int agent__session_lost(const agent__completion *c);
/* Sends a request of row r: its method, path and content type, signed when
 * the row is authed, the extra headers after those; the body is copied by
 * the net shim. Returns NET_OK when it is in flight (a->inflight = r->kind);
 * otherwise the net error, logged and backed off. */
int agent__send(agent *a, const agent__req *r, const net_header *extra, size_t n_extra,
                const uint8_t *body, size_t body_len);
/* agent__send for a batch of the window: the reply goes to fl->done, and
 * fl becomes SENT (a->ship_sent counted) when it is in flight. */
int agent__send_flight(agent *a, const agent__req *r, agent__flight *fl, const net_header *extra,
                       size_t n_extra, const uint8_t *body, size_t body_len);
/* agent__send with body's text; body is freed, also on failure. Returns
 * NET_ENOMEM (logged, backed off) when it cannot be printed. */
int agent__send_json(agent *a, const agent__req *r, cJSON *body);

/* ---- agent_ident.c (issue #4) --------------------------------------------- */

/* Build functions (rows enroll, re-enroll, challenge, session, check-in). */
void agent__send_enroll(agent *a, const agent__req *r);
void agent__send_challenge(agent *a, const agent__req *r);
void agent__send_session(agent *a, const agent__req *r);
/* Re-reads the fingerprint: a check-in, or on other hardware re-enrollment. */
void agent__send_checkin(agent *a, const agent__req *r);
/* Success handlers and hooks of those rows. */
void agent__on_enroll_done(agent *a, const agent__completion *c);
void agent__on_enroll_refused(agent *a, const agent__completion *c, const char *why);
void agent__on_rekey_done(agent *a, const agent__completion *c);
void agent__on_rekey_refused(agent *a, const agent__completion *c, const char *why);
void agent__on_challenge_done(agent *a, const agent__completion *c);
void agent__on_session_done(agent *a, const agent__completion *c);
int agent__on_session_failed(agent *a, const agent__completion *c);
void agent__on_checkin_done(agent *a, const agent__completion *c);
/* The refusals that concern identity rather than transport (revoked, clone,
 * probation, out of date, clock skew, a session that does not sign for us):
 * acts on them and returns 1; else 0. why: the reply described. */
int agent__ident_refusal(agent *a, const agent__completion *c, const char *why);
/* At agent_open: the instance id, drift counted, the fingerprint compared
 * (re-enrolling when copied). 0, or -1 with err set. */
int agent__ident_start(agent *a, char *err, size_t cap);

/* ---- agent_ship.c (ingest; policy: issue #5) ------------------------------ */

/* The window (issue #14). Sends one batch: the lowest flight waiting for a
 * retry, else a new one from ship_next when the ring has room. */
void agent__send_ingest(agent *a, const agent__req *r);
/* c is a flight's done (agent__flight_of). */
void agent__on_ingest_done(agent *a, const agent__completion *c);
int agent__on_ingest_failed(agent *a, const agent__completion *c);
void agent__ingest_failed_text(const agent *a, char *out, size_t cap);
agent__flight *agent__flight_of(const agent__completion *c);
/* The i-th flight of the ring, in seq order (0 <= i < ship_count). */
agent__flight *agent__flight_at(const agent *a, int i);
/* Deletes the acknowledged prefix of the ring from the spool and frees its
 * flights (a failed delete is logged and backed off; the flights stay). */
void agent__ship_release(agent *a);
/* Records the ring cannot send now: those of no flight, when the ring has
 * room, and whether a flight waits for a retry. */
int64_t agent__ship_unsent(const agent *a, const spool_counters *sc);
int agent__ship_retry_waiting(const agent *a);
/* The spool's low end was shed (nothing in flight): flights wholly shed go,
 * one partly shed starts at the new first_seq. */
void agent__ship_trim(agent *a);
void agent__send_policy_fetch(agent *a, const agent__req *r);
void agent__on_policy_done(agent *a, const agent__completion *c);
int agent__on_policy_failed(agent *a, const agent__completion *c);
void agent__policy_retry_later(agent *a);
void agent__send_policy_report(agent *a, const agent__req *r);
void agent__on_policy_report_done(agent *a, const agent__completion *c);
int agent__on_policy_report_failed(agent *a, const agent__completion *c);

/* ---- agent_space.c (issue #3) --------------------------------------------- */

/* Before reading: sheds while others hold the volume under its floor. */
void agent__space_before_collect(agent *a);
/* After a source's poll (its tail_poll result and lines): back-pressure,
 * then shedding. */
void agent__space_after_poll(agent *a, int rc, int64_t lines);
void agent__send_shed_report(agent *a, const agent__req *r);
void agent__on_shed_done(agent *a, const agent__completion *c);
void agent__on_shed_refused(agent *a, const agent__completion *c, const char *why);

/* ---- agent_collect.c ------------------------------------------------------ */

/* One pass over the sources and the policy's, under the caps. */
void agent__collect(agent *a);
/* When the rate cap has tokens for a tenth of a second again. */
int64_t agent__caps_resume_at(const agent *a);

/* ---- agent_update.c (issue #6) -------------------------------------------- */

/* At agent_open: the updater, when cfg.update_enabled (a failure is logged,
 * updates then off). */
void agent__update_open(agent *a);
/* The updater's step; returns the earlier of its deadline and deadline. */
int64_t agent__update_step(agent *a, int64_t deadline);
/* The check-in's "update" array; remembers which reports it carries. */
void agent__update_add_reports(agent *a, cJSON *body);

#endif
