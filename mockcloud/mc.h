/* mc.h - the mock cloud as a library: request -> response over a SQLite store.
 *
 * Two fronts call mc_handle(): the HTTPS server in outpost-cloud (libmicrohttpd,
 * for real agents) and the simulator's simnet (in process, for thousands of
 * simulated agents). The store's tables are documented in docs/cloud-store.md.
 *
 * Clock and randomness come from mc_env so the simulator can run the cloud on
 * virtual time with a seeded PRNG. The cloud is single-threaded: the caller
 * serialises calls on one mc_cloud.
 *
 * Return codes: MC_OK (0) or negative:
 *   MC_EDB      SQLite error opening or using the store (message in err)
 *   MC_EINVAL   bad argument (e.g. empty or overlong workspace name)
 *   MC_EEXIST   workspace name already taken
 *   MC_ENOMEM   allocation failed
 *   MC_ERANDOM  the env's random source failed
 * A store error is never reported as "absent" (unknown agent, no policy, no
 * report, none): functions that can say "absent" return MC_EDB when the
 * store could not tell. The internal functions (mc_int.h, static ones in
 * mc_*.c) use the same codes.
 * mc_handle() always produces a response (4xx/5xx for bad requests); it returns
 * MC_OK unless it could not even build a response (MC_ENOMEM).
 */
#ifndef OUTPOST_MOCKCLOUD_MC_H
#define OUTPOST_MOCKCLOUD_MC_H

#include <stddef.h>
#include <stdint.h>

#define MC_OK      0
#define MC_EDB    (-1)
#define MC_EINVAL (-2)
#define MC_EEXIST (-3)
#define MC_ENOMEM (-4)
#define MC_ERANDOM (-5) /* the env's random source failed */

#define MC_TOKEN_MAX 128
#define MC_AGENT_ID_LEN 32

typedef struct mc_cloud mc_cloud;

typedef struct mc_env {
  void *ctx;
  int64_t (*wall_ms)(void *ctx);                         /* Unix ms */
  int (*random)(void *ctx, unsigned char *buf, size_t len); /* 0 on success */
} mc_env;

#define MC_MAX_CACHE_KIB (1LL << 20) /* mc_options.cache_kib: at most 1 GiB */

typedef struct mc_options {
  int64_t session_ttl_s;   /* default 3600 */
  int64_t challenge_ttl_s; /* default 60 */
  int durable;             /* 1: synchronous=FULL WAL (serve); 0: fast, for simulation */
  /* A new process of an agent whose previous process was heard from less
   * than this long ago may check in but not ship data until this long after
   * that last word (409 probation): if the previous one is alive it speaks
   * first and the newcomer is quarantined with nothing attributed to the
   * identity. The price: after any restart (clean or not) data waits up to
   * this long. 0 = off (default); 360 = one check-in interval plus slack. */
  int64_t probation_s;
  /* Not durable only (the simulator): the store's transactions are nested in
   * one that commits after this many of them (0: each commits). A request's
   * work is still all or nothing (a savepoint); what is saved is writing the
   * same pages to the file at every request. mc_close commits the rest. */
  int commit_every;
  /* SQLite's page cache in KiB (0: SQLite's default, 2 MiB). The simulator
   * sizes it to its fleet: each agent's rows are appended on a page of
   * their own, and a cache smaller than those pages reads and writes them
   * again at every request. */
  int64_t cache_kib;
} mc_options;

/* Opens (creating if needed) the store at db_path. opts may be NULL (defaults).
 * env is copied. On failure *out is NULL and err (optional) says why. */
int mc_open(const char *db_path, const mc_env *env, const mc_options *opts, mc_cloud **out,
            char *err, size_t err_cap);
void mc_close(mc_cloud *c);

/* Creates a workspace and writes its enrollment token (NUL-terminated) to
 * token. MC_OK, MC_EINVAL (bad name, token_cap too small), MC_EEXIST,
 * MC_ERANDOM, MC_EDB. */
int mc_workspace_add(mc_cloud *c, const char *name, char *token, size_t token_cap);

typedef struct mc_header {
  const char *name;  /* case-insensitive */
  const char *value;
} mc_header;

typedef struct mc_request {
  const char *method;
  const char *path;  /* without query string */
  const mc_header *headers;
  size_t n_headers;
  const uint8_t *body;
  size_t body_len;
} mc_request;

typedef struct mc_response {
  int status;
  char content_type[64];
  uint8_t *body;     /* malloc'd; release with mc_response_free */
  size_t body_len;
  char date[40];     /* value for the Date header (RFC 7231 IMF-fixdate) */
} mc_response;

int mc_handle(mc_cloud *c, const mc_request *req, mc_response *resp);
void mc_response_free(mc_response *resp);

/* Introspection for tests and the simulator's ledger. */
/* -1 if unknown or on a store error: mc_agent_seq_summary tells them apart. */
int64_t mc_agent_record_count(mc_cloud *c, const char *agent_id);
/* Records held by the whole store, or MC_EDB. */
int64_t mc_total_records(mc_cloud *c);
/* Per-agent sequence summary, kept in the agents row by every ingest so it is
 * O(1): distinct records held, lowest and highest seq (0 when none). The
 * simulator's ledger uses it after every event: held records are gap-free
 * exactly when max - min + 1 == count (mc_agent_seq_count_from for the
 * part from a bound up). Returns MC_OK, MC_EINVAL (unknown) or
 * MC_EDB. */
int mc_agent_seq_summary(mc_cloud *c, const char *agent_id, int64_t *count, int64_t *min_seq,
                         int64_t *max_seq);
/* Records held for the agent with seq >= from (an index range: O(that many),
 * which for the ledger's question is at most what the agent still spools).
 * The ledger asks when the cloud holds records at or above the agent's
 * spool (batches of its window stored out of order, issue #14; an ack not
 * yet back): MC_OK, MC_EINVAL, MC_EDB. */
int mc_agent_seq_count_from(mc_cloud *c, const char *agent_id, int64_t from, int64_t *count);
/* Shed reports an agent sent (POST /v1/shed, table shed_reports): number of
 * reports, records and bytes shed in total. MC_OK (zeros for an agent that
 * never shed) or MC_EINVAL / MC_EDB. Added for issue #3. */
int mc_agent_shed_summary(mc_cloud *c, const char *agent_id, int64_t *reports, int64_t *records,
                          int64_t *bytes);
/* Cloud counters for reports. */
typedef struct mc_stats {
  int64_t requests, ingest_batches, records_stored, duplicates, rejected, enrollments,
      sessions;
  /* identity (issue #4) */
  int64_t checkins, alerts, replays_refused, clone_refusals, superseded_refusals,
      stale_requests, revoked_refusals, clone_enrollments, probation_refusals;
  int64_t shed_reports; /* shed-report entries accepted (repeats included) */
} mc_stats;

/* ---- identity: revocation, alerts, events (docs/cloud-store.md) ---- */

/* Revokes an agent: every later request of it gets 403 revoked.
 * MC_OK, MC_EINVAL (unknown agent), MC_EDB. */
int mc_agent_revoke(mc_cloud *c, const char *agent_id);

/* Alerts of one kind (NULL: all kinds). MC_EDB on a store error. Kinds:
 * clone_new_hardware, clone_reenrolled, clone_stale_ratchet,
 * clone_live_copies, clone_content_conflict. */
int64_t mc_alert_count(mc_cloud *c, const char *kind);

typedef struct mc_alert {
  int64_t id, workspace_id, created_ms;
  const char *kind, *agent_id, *other_agent_id, *instance, *other_instance, *detail;
} mc_alert; /* strings valid only during the callback */
/* Calls fn for every alert in id order; fn returning non-zero stops.
 * MC_OK or MC_EDB. */
int mc_alerts_foreach(mc_cloud *c, int (*fn)(void *user, const mc_alert *a), void *user);

/* Events reported by agents at check-in (kind "permission_drift"), NULL: all. */
int64_t mc_event_count(mc_cloud *c, const char *kind);

/* issue #6: events of kinds starting with prefix (e.g. "update_"), oldest
 * first; strings valid only during the callback. MC_OK or MC_EDB. */
typedef struct mc_event {
  const char *agent_id, *instance, *kind, *detail;
  int64_t created_ms;
} mc_event;
int mc_events_foreach(mc_cloud *c, const char *prefix, int (*fn)(void *user, const mc_event *e),
                      void *user);

/* The agent this one was cloned from ("" if none) into out (33 bytes).
 * MC_OK, MC_EINVAL (unknown) or MC_EDB. */
int mc_agent_cloned_from(mc_cloud *c, const char *agent_id, char out[MC_AGENT_ID_LEN + 1]);
void mc_get_stats(mc_cloud *c, mc_stats *out);

/* ---- issue #5: collection policy (docs/policy.md, docs/cloud-store.md) ----
 * Sets the workspace's policy from JSON text (an object, < 64 KiB; its
 * "version" is replaced by the next version number, returned in *version).
 * Shape only: the agent validates and enforces. MC_OK, MC_EINVAL (not an
 * object, too large, unknown workspace: message in err), MC_EDB, MC_ENOMEM. */
int mc_policy_set(mc_cloud *c, const char *workspace, const char *json, size_t len,
                  int64_t *version, char *err, size_t err_cap);
/* The latest report an agent sent about its policy (POST /v1/policy/report). */
typedef struct mc_policy_report {
  int64_t version;         /* the version the report is about */
  int64_t applied_version; /* what the agent runs now */
  char status[16];         /* "applied" or "rejected" */
  char error[512];         /* exact validation error when rejected */
  char refused[4096];      /* JSON array of {"path","why"}, truncated */
  int64_t count;           /* reports ever received from this agent */
} mc_policy_report;
/* MC_OK, MC_EINVAL when the agent sent none, MC_EDB. */
int mc_policy_last_report(mc_cloud *c, const char *agent_id, mc_policy_report *out);
/* Number of "rejected" reports an agent sent (0 when none or unknown), or
 * MC_EDB. */
int64_t mc_policy_rejections(mc_cloud *c, const char *agent_id);

#endif
