/* mc_int.h - internals shared by the mock cloud's source files (mc__ prefix).
 * Not a contract: only mockcloud/mc_*.c include it. */
#ifndef OUTPOST_MOCKCLOUD_MC_INT_H
#define OUTPOST_MOCKCLOUD_MC_INT_H

#include <sqlite3.h>

#include "common/wire.h"
#include "mc.h"

/* Every statement the cloud runs more than once, prepared by mc_open. */
enum mc__stmt {
  MC_ST_BEGIN,
  MC_ST_COMMIT,
  MC_ST_ROLLBACK,
  MC_ST_WS_INSERT,
  MC_ST_WS_BY_TOKEN,
  MC_ST_AGENT_INSERT,
  MC_ST_AGENT_KEY,
  MC_ST_AGENT_IDENT,
  MC_ST_AGENT_SET_IDENT,
  MC_ST_INST_GET,
  MC_ST_INST_PUT,
  MC_ST_INST_SUPERSEDED_BY,
  MC_ST_INST_DELETE,
  MC_ST_ALERT_INSERT,
  MC_ST_EVENT_INSERT,
  MC_ST_REPLAY_INSERT,
  MC_ST_REPLAY_PURGE,
  MC_ST_REC_LINE,
  MC_ST_AGENT_SUMMARY,
  MC_ST_AGENT_FROM,
  MC_ST_AGENT_INGESTED,
  MC_ST_AGENT_TOUCH,
  MC_ST_CHAL_INSERT,
  MC_ST_CHAL_GET,
  MC_ST_CHAL_DELETE,
  MC_ST_CHAL_PURGE,
  MC_ST_SESS_INSERT,
  MC_ST_SESS_GET,
  MC_ST_SESS_PURGE,
  MC_ST_REC_INSERT,
  MC_ST_TOTAL,
  MC_ST_SHED_UPSERT,
  MC_ST_SHED_SUMMARY,
  MC_ST_COUNT
};

struct mc_cloud {
  sqlite3 *db;
  mc_env env;
  mc_options opts;
  mc_stats stats;
  sqlite3_stmt *st[MC_ST_COUNT];
  /* issue #5 (mc_policy.c): tables made once, the ingest-path lookup cached. */
  int policy_ready;
  sqlite3_stmt *policy_ver;
  /* issue #4: session keys are derived from this and a per-session nonce;
   * the store keeps only the nonce (mc__session_key). */
  unsigned char master[32];
  /* issue #15: the ingest path's zstd context, kept between batches (NULL:
   * one per batch); requests are handled one at a time */
  wire_zctx *z;
  /* mc_options.commit_every: requests since the outer transaction began */
  int batched, since_commit;
};

#define MC_SESSION_NONCE_LEN 32
#define MC_MASTER_KEY_FILE "session-master.key"
/* The session key of a session: HMAC-SHA256(master, label | nonce | sid). A
 * copy of the store alone (nonces, ids) does not give it. */
void mc__session_key(const mc_cloud *c, const unsigned char *nonce, size_t nonce_len,
                     const char *sid, unsigned char out[32]);

/* Internal functions return the codes of mc.h (MC_OK or negative), listed
 * in each header comment; callers test != MC_OK. Results go through
 * out-parameters, and "absent" is a result (an out-parameter or MC_EINVAL
 * where listed), never what a store error turns into. */

/* Returns the cached statement, reset and with bindings cleared. */
sqlite3_stmt *mc__stmt(mc_cloud *c, enum mc__stmt id);
/* Runs a statement with no result rows: MC_OK when it ran to the end
 * (SQLITE_DONE), else MC_EDB. */
int mc__exec(mc_cloud *c, enum mc__stmt id);
/* Fills buf with len random bytes from the env: MC_OK or MC_ERANDOM. */
int mc__random(mc_cloud *c, unsigned char *buf, size_t len);

/* issue #5 (mc_policy.c). */
struct cJSON;
/* The policy version agent_id is served now in *out (0: none): ingest
 * replies carry it so agents fetch a new policy at once. MC_OK or MC_EDB:
 * an error is never read as "no policy". */
int mc__policy_version(mc_cloud *c, const char *agent_id, int64_t *out);
/* The policy agent_id is served now: MC_OK and a malloc'd body in *json
 * (the caller frees it; NULL and *len 0 when there is none), MC_EDB or
 * MC_ENOMEM (*json NULL). */
int mc__policy_get(mc_cloud *c, const char *agent_id, char **json, size_t *len);
/* Stores one report (the body o parsed by the caller): MC_OK, MC_EINVAL
 * with why (static text) for a 400, MC_EDB. */
int mc__policy_report(mc_cloud *c, const char *agent_id, const struct cJSON *o, int64_t now,
                      const char **why);

#endif
