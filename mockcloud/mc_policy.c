/* mc_policy.c - per-workspace (and per agent group, mc_rings.h) collection
 * policy and the agents' reports on it (issues #5, #6). Tables (docs/cloud-store.md): policies, policy_reports,
 * agent_groups, group_policies.
 *
 * The cloud checks the shape loosely (a JSON object of bounded size): the
 * agent is the one that enforces, and a mock cloud acting as an attacker
 * must be able to serve hostile policies. Statements are prepared per call:
 * policies change rarely and fetches are one per agent per interval. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mc_int.h"
#include "mc_rings.h"

#define MC_POLICY_MAX (64 * 1024)
#define MC_REPORT_FIELD_MAX 4096

static const char *const policy_schema =
    "CREATE TABLE IF NOT EXISTS policies("
    " workspace_id INTEGER PRIMARY KEY REFERENCES workspaces(id), version INTEGER NOT NULL,"
    " body TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS policy_reports("
    " id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, version INTEGER NOT NULL,"
    " status TEXT NOT NULL, applied_version INTEGER NOT NULL, error TEXT NOT NULL,"
    " refused TEXT NOT NULL, received_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS policy_reports_agent ON policy_reports(agent_id, id);"
    /* issue #6 (mc_rings.h): agent groups and their policies. */
    "CREATE TABLE IF NOT EXISTS agent_groups("
    " agent_id TEXT PRIMARY KEY, grp TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS group_policies("
    " workspace_id INTEGER NOT NULL REFERENCES workspaces(id), grp TEXT NOT NULL,"
    " version INTEGER NOT NULL, body TEXT NOT NULL, updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(workspace_id, grp)) WITHOUT ROWID;";

/* The policy an agent is served: its group's when that group has one, else
 * its workspace's. Primary-key lookups only: it runs on every ingest. */
#define EFFECTIVE_SQL(cols)                                                   \
  "SELECT " cols " FROM agents a"                                             \
  " LEFT JOIN agent_groups ag ON ag.agent_id = a.agent_id"                    \
  " LEFT JOIN group_policies g ON g.workspace_id = a.workspace_id AND g.grp = ag.grp" \
  " LEFT JOIN policies p ON p.workspace_id = a.workspace_id WHERE a.agent_id = ?1"

/* MC_OK or MC_EDB. */
static int ensure_schema(mc_cloud *c) {
  if (c->policy_ready) return MC_OK;
  if (sqlite3_exec(c->db, policy_schema, NULL, NULL, NULL) != SQLITE_OK) return MC_EDB;
  c->policy_ready = 1;
  return MC_OK;
}

int mc__policy_version(mc_cloud *c, const char *agent_id, int64_t *out) {
  *out = 0;
  if (ensure_schema(c) != MC_OK) return MC_EDB;
  if (!c->policy_ver &&
      sqlite3_prepare_v3(c->db, EFFECTIVE_SQL("coalesce(g.version, p.version, 0)"), -1,
                         SQLITE_PREPARE_PERSISTENT, &c->policy_ver, NULL) != SQLITE_OK)
    return MC_EDB;
  sqlite3_stmt *s = c->policy_ver;
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int step = sqlite3_step(s);
  /* No row: an unknown agent, served nothing. An error is not "no policy". */
  int rc = step == SQLITE_ROW || step == SQLITE_DONE ? MC_OK : MC_EDB;
  if (step == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return rc;
}

int64_t mc_policy_version_of(mc_cloud *c, const char *agent_id) {
  if (!c || !agent_id) return MC_EINVAL;
  int64_t v = 0;
  return mc__policy_version(c, agent_id, &v) == MC_OK ? v : MC_EDB;
}

static void put(char *err, size_t cap, const char *msg) {
  if (err && cap) snprintf(err, cap, "%s", msg);
}

static int valid_group(const char *g) {
  size_t n = g ? strlen(g) : 0;
  if (n == 0 || n > MC_GROUP_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)g[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_' || ch == '.'))
      return 0;
  }
  return 1;
}

/* One int64 from a query with one binding (t1 as text, else i2): *found 1
 * and *out set from the first row, *found 0 when there is none. MC_OK or
 * MC_EDB (then *found is 0, and must not be read as "none"). */
static int query_i64(mc_cloud *c, const char *sql, const char *t1, int64_t i2, int64_t *out,
                     int *found) {
  sqlite3_stmt *s = NULL;
  *found = 0;
  if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) return MC_EDB;
  if (t1) sqlite3_bind_text(s, 1, t1, -1, SQLITE_STATIC);
  else sqlite3_bind_int64(s, 1, i2);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  *found = rc == SQLITE_ROW;
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? MC_OK : MC_EDB;
}

/* Every policy of a workspace draws its version from one counter. MC_OK
 * and *v, or MC_EDB. */
static int next_version(mc_cloud *c, int64_t ws, int64_t *v) {
  int found = 0;
  *v = 0;
  int rc = query_i64(c,
                     "SELECT 1 + max(coalesce((SELECT version FROM policies WHERE workspace_id = ?1), 0),"
                     " coalesce((SELECT max(version) FROM group_policies WHERE workspace_id = ?1), 0))",
                     NULL, ws, v, &found);
  return rc == MC_OK && found ? MC_OK : MC_EDB; /* an aggregate always has a row */
}

/* Stores body (its "version" replaced by v) as the workspace's policy
 * (group NULL) or the group's. */
static int store_policy(mc_cloud *c, int64_t ws, const char *group, cJSON *o, int64_t v) {
  cJSON_DeleteItemFromObjectCaseSensitive(o, "version");
  cJSON *num = cJSON_CreateNumber((double)v);
  if (!num) return MC_ENOMEM;
  cJSON_AddItemToObject(o, "version", num);
  char *text = cJSON_PrintUnformatted(o);
  if (!text) return MC_ENOMEM;
  sqlite3_stmt *s = NULL;
  int rc = MC_EDB;
  const char *sql =
      group ? "INSERT INTO group_policies(workspace_id, grp, version, body, updated_ms)"
              " VALUES(?1,?5,?2,?3,?4) ON CONFLICT(workspace_id, grp) DO UPDATE SET"
              " version=excluded.version, body=excluded.body, updated_ms=excluded.updated_ms"
            : "INSERT INTO policies(workspace_id, version, body, updated_ms)"
              " VALUES(?1,?2,?3,?4) ON CONFLICT(workspace_id) DO UPDATE SET"
              " version=excluded.version, body=excluded.body,"
              " updated_ms=excluded.updated_ms";
  if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(s, 1, ws);
    sqlite3_bind_int64(s, 2, v);
    sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, c->env.wall_ms(c->env.ctx));
    if (group) sqlite3_bind_text(s, 5, group, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_DONE) rc = MC_OK;
  }
  sqlite3_finalize(s);
  cJSON_free(text);
  return rc;
}

static int set_policy(mc_cloud *c, const char *workspace, const char *group, const char *json,
                      size_t len, int64_t *version, char *err, size_t err_cap) {
  if (!c || !workspace || !json) return MC_EINVAL;
  if (group && !valid_group(group)) {
    put(err, err_cap, "group name must be 1-64 of A-Z a-z 0-9 . _ -");
    return MC_EINVAL;
  }
  if (len > MC_POLICY_MAX - 64) {
    put(err, err_cap, "policy larger than 64 KiB");
    return MC_EINVAL;
  }
  cJSON *o = cJSON_ParseWithLength(json, len);
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    put(err, err_cap, "policy is not a JSON object");
    return MC_EINVAL;
  }
  if (ensure_schema(c) != MC_OK) {
    cJSON_Delete(o);
    put(err, err_cap, sqlite3_errmsg(c->db));
    return MC_EDB;
  }
  int64_t ws = -1, v = 0;
  int rc = MC_EDB, found = 0;
  int q = query_i64(c, "SELECT id FROM workspaces WHERE name = ?1", workspace, 0, &ws, &found);
  if (q == MC_OK && !found) {
    put(err, err_cap, "no such workspace");
    rc = MC_EINVAL;
  } else if (q == MC_OK && next_version(c, ws, &v) == MC_OK) {
    /* The cloud owns the version: whatever the file says is replaced. */
    rc = store_policy(c, ws, group, o, v);
  }
  if (rc == MC_OK && version) *version = v;
  if (rc == MC_EDB) put(err, err_cap, sqlite3_errmsg(c->db));
  cJSON_Delete(o);
  return rc;
}

int mc_policy_set(mc_cloud *c, const char *workspace, const char *json, size_t len,
                  int64_t *version, char *err, size_t err_cap) {
  return set_policy(c, workspace, NULL, json, len, version, err, err_cap);
}

int mc_policy_set_group(mc_cloud *c, const char *workspace, const char *group, const char *json,
                        size_t len, int64_t *version, char *err, size_t err_cap) {
  if (!group) return MC_EINVAL;
  return set_policy(c, workspace, group, json, len, version, err, err_cap);
}

int mc_agent_group(mc_cloud *c, const char *agent_id, char out[MC_GROUP_MAX + 1]) {
  if (!c || !agent_id || !out) return MC_EINVAL;
  out[0] = 0;
  if (ensure_schema(c) != MC_OK) return MC_EDB;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT coalesce(ag.grp, '') FROM agents a LEFT JOIN agent_groups ag"
                         " ON ag.agent_id = a.agent_id WHERE a.agent_id = ?1",
                         -1, &s, NULL) != SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int step = sqlite3_step(s), rc = step == SQLITE_DONE ? MC_EINVAL : MC_EDB;
  if (step == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(s, 0);
    snprintf(out, MC_GROUP_MAX + 1, "%s", t ? t : "");
    rc = MC_OK;
  }
  sqlite3_finalize(s);
  return rc;
}

/* After a move: the policy now served is re-stamped with the next version
 * when it is older than the one served before (see mc_rings.h). MC_OK or
 * MC_EDB. */
static int keep_monotonic(mc_cloud *c, const char *agent_id, int64_t before) {
  int64_t now_v = 0, ws = 0, v = 0;
  int found = 0;
  if (mc__policy_version(c, agent_id, &now_v) != MC_OK) return MC_EDB;
  if (now_v == 0 || now_v > before) return MC_OK;
  if (query_i64(c, "SELECT workspace_id FROM agents WHERE agent_id = ?1", agent_id, 0, &ws,
                &found) != MC_OK ||
      !found || next_version(c, ws, &v) != MC_OK)
    return MC_EDB;
  sqlite3_stmt *s = NULL;
  int in_group = 0;
  int64_t gv = 0;
  /* Which row serves the agent now: its group's policy, if that exists. A
   * store error here must not be taken for "no group policy": that would
   * re-stamp the workspace's policy instead. */
  if (query_i64(c,
                "SELECT g.version FROM agent_groups ag JOIN agents a ON a.agent_id = ag.agent_id"
                " JOIN group_policies g ON g.workspace_id = a.workspace_id AND g.grp = ag.grp"
                " WHERE ag.agent_id = ?1",
                agent_id, 0, &gv, &in_group) != MC_OK)
    return MC_EDB;
  const char *sql =
      in_group
          ? "UPDATE group_policies SET version = ?2, body = json_set(body, '$.version', ?2)"
            " WHERE workspace_id = ?1 AND grp = (SELECT grp FROM agent_groups WHERE agent_id = ?3)"
          : "UPDATE policies SET version = ?2, body = json_set(body, '$.version', ?2)"
            " WHERE workspace_id = ?1";
  if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) return MC_EDB;
  sqlite3_bind_int64(s, 1, ws);
  sqlite3_bind_int64(s, 2, v);
  if (in_group) sqlite3_bind_text(s, 3, agent_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s) == SQLITE_DONE ? MC_OK : MC_EDB;
  sqlite3_finalize(s);
  return rc;
}

int mc_agent_set_group(mc_cloud *c, const char *agent_id, const char *group, char *err,
                       size_t err_cap) {
  if (!c || !agent_id) return MC_EINVAL;
  int none = !group || !group[0];
  if (!none && !valid_group(group)) {
    put(err, err_cap, "group name must be 1-64 of A-Z a-z 0-9 . _ -");
    return MC_EINVAL;
  }
  if (ensure_schema(c) != MC_OK) return MC_EDB;
  int64_t one = 0;
  int found = 0;
  int q = query_i64(c, "SELECT 1 FROM agents WHERE agent_id = ?1", agent_id, 0, &one, &found);
  if (q != MC_OK || !found) {
    put(err, err_cap, q == MC_OK ? "no such agent" : sqlite3_errmsg(c->db));
    return q == MC_OK ? MC_EINVAL : MC_EDB;
  }
  int64_t before = 0;
  if (mc__policy_version(c, agent_id, &before) != MC_OK) {
    put(err, err_cap, sqlite3_errmsg(c->db));
    return MC_EDB;
  }
  if (sqlite3_exec(c->db, "SAVEPOINT mc_group", NULL, NULL, NULL) != SQLITE_OK) return MC_EDB;
  sqlite3_stmt *s = NULL;
  int rc = MC_EDB;
  if (sqlite3_prepare_v2(c->db,
                         none ? "DELETE FROM agent_groups WHERE agent_id = ?1"
                              : "INSERT INTO agent_groups(agent_id, grp) VALUES(?1, ?2)"
                                " ON CONFLICT(agent_id) DO UPDATE SET grp = excluded.grp",
                         -1, &s, NULL) == SQLITE_OK) {
    sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
    if (!none) sqlite3_bind_text(s, 2, group, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_DONE) rc = MC_OK;
  }
  sqlite3_finalize(s);
  if (rc == MC_OK) rc = keep_monotonic(c, agent_id, before);
  if (rc == MC_OK) {
    sqlite3_exec(c->db, "RELEASE mc_group", NULL, NULL, NULL);
  } else {
    put(err, err_cap, sqlite3_errmsg(c->db));
    sqlite3_exec(c->db, "ROLLBACK TO mc_group; RELEASE mc_group", NULL, NULL, NULL);
  }
  return rc;
}

int mc__policy_get(mc_cloud *c, const char *agent_id, char **json, size_t *len) {
  *json = NULL;
  *len = 0;
  if (ensure_schema(c) != MC_OK) return MC_EDB;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db, EFFECTIVE_SQL("coalesce(g.body, p.body)"), -1, &s, NULL) !=
      SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  /* No row (unknown agent) or a NULL body: no policy. Any other step
   * result is a store error: an agent told "no policy" would drop the one
   * it runs (it was read as none until issue #17). */
  int step = sqlite3_step(s);
  int rc = step == SQLITE_ROW || step == SQLITE_DONE ? MC_OK : MC_EDB;
  if (step == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
    int n = sqlite3_column_bytes(s, 0);
    const unsigned char *t = sqlite3_column_text(s, 0);
    char *b = t ? malloc((size_t)n + 1) : NULL;
    if (b) {
      memcpy(b, t, (size_t)n);
      b[n] = 0;
      *json = b;
      *len = (size_t)n;
    } else {
      rc = t ? MC_ENOMEM : MC_EDB; /* sqlite3_column_text NULL: its own malloc failed */
    }
  }
  sqlite3_finalize(s);
  return rc;
}

/* A whole number from 0 to 2^53: anything else (1e300, -1, 2.5) would be
 * UB or nonsense once cast to int64. */
static int version_number(const cJSON *n) {
  return cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble <= 9007199254740992.0 &&
         n->valuedouble == (double)(int64_t)n->valuedouble;
}

/* mc_int.h: MC_OK, MC_EINVAL with why, MC_EDB. */
int mc__policy_report(mc_cloud *c, const char *agent_id, const cJSON *o, int64_t now,
                      const char **why) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
  const cJSON *av = cJSON_GetObjectItemCaseSensitive(o, "applied_version");
  const cJSON *er = cJSON_GetObjectItemCaseSensitive(o, "error");
  const cJSON *rf = cJSON_GetObjectItemCaseSensitive(o, "refused");
  *why = NULL;
  if (!version_number(v) || !version_number(av) || !cJSON_IsString(st) ||
      (strcmp(st->valuestring, "applied") != 0 && strcmp(st->valuestring, "rejected") != 0) ||
      !cJSON_IsString(er) || strlen(er->valuestring) > MC_REPORT_FIELD_MAX ||
      (rf && !cJSON_IsArray(rf))) {
    *why = "need version, applied_version (whole numbers from 0), status (applied|rejected), error, refused[]";
    return MC_EINVAL;
  }
  if (ensure_schema(c) != MC_OK) return MC_EDB;
  char *refused = rf ? cJSON_PrintUnformatted(rf) : NULL;
  sqlite3_stmt *s = NULL;
  int rc = MC_EDB;
  if (sqlite3_prepare_v2(c->db,
                         "INSERT INTO policy_reports(agent_id, version, status, applied_version,"
                         " error, refused, received_ms) VALUES(?1,?2,?3,?4,?5,?6,?7)",
                         -1, &s, NULL) == SQLITE_OK) {
    sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)v->valuedouble);
    sqlite3_bind_text(s, 3, st->valuestring, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (int64_t)av->valuedouble);
    sqlite3_bind_text(s, 5, er->valuestring, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, refused ? refused : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, now);
    if (sqlite3_step(s) == SQLITE_DONE) rc = MC_OK;
  }
  sqlite3_finalize(s);
  cJSON_free(refused);
  return rc;
}

int mc_policy_last_report(mc_cloud *c, const char *agent_id, mc_policy_report *out) {
  if (!c || !agent_id || !out) return MC_EINVAL;
  memset(out, 0, sizeof *out);
  if (ensure_schema(c) != MC_OK) return MC_EDB;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT version, status, applied_version, error, refused,"
                         " (SELECT count(*) FROM policy_reports WHERE agent_id = ?1)"
                         " FROM policy_reports WHERE agent_id = ?1 ORDER BY id DESC LIMIT 1",
                         -1, &s, NULL) != SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int step = sqlite3_step(s), rc = step == SQLITE_DONE ? MC_EINVAL : MC_EDB;
  if (step == SQLITE_ROW) {
    out->version = sqlite3_column_int64(s, 0);
    snprintf(out->status, sizeof out->status, "%s", (const char *)sqlite3_column_text(s, 1));
    out->applied_version = sqlite3_column_int64(s, 2);
    snprintf(out->error, sizeof out->error, "%s", (const char *)sqlite3_column_text(s, 3));
    snprintf(out->refused, sizeof out->refused, "%s", (const char *)sqlite3_column_text(s, 4));
    out->count = sqlite3_column_int64(s, 5);
    rc = MC_OK;
  }
  sqlite3_finalize(s);
  return rc;
}

int64_t mc_policy_rejections(mc_cloud *c, const char *agent_id) {
  if (!c || !agent_id) return MC_EINVAL;
  if (ensure_schema(c) != MC_OK) return MC_EDB;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT count(*) FROM policy_reports WHERE agent_id = ?1"
                         " AND status = 'rejected'",
                         -1, &s, NULL) != SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : MC_EDB;
  sqlite3_finalize(s);
  return n;
}
