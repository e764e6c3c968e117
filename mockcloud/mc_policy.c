/* mc_policy.c - per-workspace collection policy and the agents' reports on
 * it (issue #5). Tables (docs/cloud-store.md): policies, policy_reports.
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
    "CREATE INDEX IF NOT EXISTS policy_reports_agent ON policy_reports(agent_id, id);";

static int ensure_schema(mc_cloud *c) {
  if (c->policy_ready) return 0;
  if (sqlite3_exec(c->db, policy_schema, NULL, NULL, NULL) != SQLITE_OK) return -1;
  c->policy_ready = 1;
  return 0;
}

int64_t mc__policy_version(mc_cloud *c, const char *agent_id) {
  if (ensure_schema(c) != 0) return 0;
  if (!c->policy_ver &&
      sqlite3_prepare_v3(c->db,
                         "SELECT p.version FROM policies p JOIN agents a"
                         " ON a.workspace_id = p.workspace_id WHERE a.agent_id = ?1",
                         -1, SQLITE_PREPARE_PERSISTENT, &c->policy_ver, NULL) != SQLITE_OK)
    return 0;
  sqlite3_stmt *s = c->policy_ver;
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return v;
}

static void put(char *err, size_t cap, const char *msg) {
  if (err && cap) snprintf(err, cap, "%s", msg);
}

int mc_policy_set(mc_cloud *c, const char *workspace, const char *json, size_t len,
                  int64_t *version, char *err, size_t err_cap) {
  if (!c || !workspace || !json) return MC_EINVAL;
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
  if (ensure_schema(c) != 0) {
    cJSON_Delete(o);
    put(err, err_cap, sqlite3_errmsg(c->db));
    return MC_EDB;
  }
  sqlite3_stmt *s = NULL;
  int rc = MC_EDB;
  int64_t ws = -1, v = 1;
  if (sqlite3_prepare_v2(c->db, "SELECT id FROM workspaces WHERE name = ?1", -1, &s, NULL) !=
      SQLITE_OK)
    goto out;
  sqlite3_bind_text(s, 1, workspace, -1, SQLITE_STATIC);
  if (sqlite3_step(s) == SQLITE_ROW) ws = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  s = NULL;
  if (ws < 0) {
    put(err, err_cap, "no such workspace");
    rc = MC_EINVAL;
    goto out;
  }
  if (sqlite3_prepare_v2(c->db, "SELECT version FROM policies WHERE workspace_id = ?1", -1, &s,
                         NULL) != SQLITE_OK)
    goto out;
  sqlite3_bind_int64(s, 1, ws);
  if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0) + 1;
  sqlite3_finalize(s);
  s = NULL;
  /* The cloud owns the version: whatever the file says is replaced. */
  cJSON_DeleteItemFromObjectCaseSensitive(o, "version");
  cJSON *num = cJSON_CreateNumber((double)v);
  if (!num) {
    rc = MC_ENOMEM;
    goto out;
  }
  cJSON_AddItemToObject(o, "version", num);
  char *text = cJSON_PrintUnformatted(o);
  if (!text) {
    rc = MC_ENOMEM;
    goto out;
  }
  if (sqlite3_prepare_v2(c->db,
                         "INSERT INTO policies(workspace_id, version, body, updated_ms)"
                         " VALUES(?1,?2,?3,?4) ON CONFLICT(workspace_id) DO UPDATE SET"
                         " version=excluded.version, body=excluded.body,"
                         " updated_ms=excluded.updated_ms",
                         -1, &s, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(s, 1, ws);
    sqlite3_bind_int64(s, 2, v);
    sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, c->env.wall_ms(c->env.ctx));
    if (sqlite3_step(s) == SQLITE_DONE) rc = MC_OK;
  }
  sqlite3_finalize(s);
  s = NULL;
  cJSON_free(text);
  if (rc == MC_OK && version) *version = v;
  if (rc == MC_EDB) put(err, err_cap, sqlite3_errmsg(c->db));
out:
  if (s) sqlite3_finalize(s);
  cJSON_Delete(o);
  return rc;
}

int mc__policy_get(mc_cloud *c, const char *agent_id, char **json, size_t *len) {
  *json = NULL;
  *len = 0;
  if (ensure_schema(c) != 0) return -1;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT p.body FROM policies p JOIN agents a"
                         " ON a.workspace_id = p.workspace_id WHERE a.agent_id = ?1",
                         -1, &s, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int rc = 1;
  if (sqlite3_step(s) == SQLITE_ROW) {
    int n = sqlite3_column_bytes(s, 0);
    const unsigned char *t = sqlite3_column_text(s, 0);
    char *b = t ? malloc((size_t)n + 1) : NULL;
    if (b) {
      memcpy(b, t, (size_t)n);
      b[n] = 0;
      *json = b;
      *len = (size_t)n;
      rc = 0;
    } else {
      rc = -1;
    }
  }
  sqlite3_finalize(s);
  return rc;
}

/* Stores one report; the body was parsed by the caller. 0, or -1 with a
 * message for a 400 in why. */
int mc__policy_report(mc_cloud *c, const char *agent_id, const cJSON *o, int64_t now,
                      const char **why) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
  const cJSON *av = cJSON_GetObjectItemCaseSensitive(o, "applied_version");
  const cJSON *er = cJSON_GetObjectItemCaseSensitive(o, "error");
  const cJSON *rf = cJSON_GetObjectItemCaseSensitive(o, "refused");
  *why = NULL;
  if (!cJSON_IsNumber(v) || !cJSON_IsNumber(av) || !cJSON_IsString(st) ||
      (strcmp(st->valuestring, "applied") != 0 && strcmp(st->valuestring, "rejected") != 0) ||
      !cJSON_IsString(er) || strlen(er->valuestring) > MC_REPORT_FIELD_MAX ||
      (rf && !cJSON_IsArray(rf))) {
    *why = "need version, applied_version (numbers), status (applied|rejected), error, refused[]";
    return -1;
  }
  if (ensure_schema(c) != 0) return -2;
  char *refused = rf ? cJSON_PrintUnformatted(rf) : NULL;
  sqlite3_stmt *s = NULL;
  int rc = -2;
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
    if (sqlite3_step(s) == SQLITE_DONE) rc = 0;
  }
  sqlite3_finalize(s);
  cJSON_free(refused);
  return rc;
}

int mc_policy_last_report(mc_cloud *c, const char *agent_id, mc_policy_report *out) {
  if (!c || !agent_id || !out) return MC_EINVAL;
  memset(out, 0, sizeof *out);
  if (ensure_schema(c) != 0) return MC_EDB;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT version, status, applied_version, error, refused,"
                         " (SELECT count(*) FROM policy_reports WHERE agent_id = ?1)"
                         " FROM policy_reports WHERE agent_id = ?1 ORDER BY id DESC LIMIT 1",
                         -1, &s, NULL) != SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int rc = MC_EINVAL;
  if (sqlite3_step(s) == SQLITE_ROW) {
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
  if (!c || !agent_id || ensure_schema(c) != 0) return 0;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT count(*) FROM policy_reports WHERE agent_id = ?1"
                         " AND status = 'rejected'",
                         -1, &s, NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
  sqlite3_finalize(s);
  return n;
}
