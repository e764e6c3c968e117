/* mc_metrics.c - the agents' latest self-metrics (see mc_metrics.h). */
#include "mc_metrics.h"

#include <stdio.h>
#include <string.h>

#include "mc_int.h"

static const char *const metrics_schema =
    "CREATE TABLE IF NOT EXISTS agent_metrics("
    " agent_id TEXT PRIMARY KEY, received_ms INTEGER NOT NULL, body TEXT NOT NULL)";

/* MC_OK or MC_EDB. */
static int ensure_schema(mc_cloud *c) {
  return sqlite3_exec(c->db, metrics_schema, NULL, NULL, NULL) == SQLITE_OK ? MC_OK : MC_EDB;
}

/* Readers work on a read-only store too: no table yet means no metrics.
 * *yes: whether the table exists. MC_OK or MC_EDB: a store that cannot say
 * is not a store without metrics. */
static int table_exists(mc_cloud *c, int *yes) {
  sqlite3_stmt *s = NULL;
  int step = SQLITE_ERROR;
  *yes = 0;
  if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_master WHERE name = 'agent_metrics'", -1,
                         &s, NULL) == SQLITE_OK)
    step = sqlite3_step(s);
  sqlite3_finalize(s);
  *yes = step == SQLITE_ROW;
  return step == SQLITE_ROW || step == SQLITE_DONE ? MC_OK : MC_EDB;
}

/* Flat, small, numbers and booleans only: the metrics are figures, and a
 * hostile agent must not make the cloud store arbitrary documents. */
static int valid(const cJSON *m) {
  if (!cJSON_IsObject(m)) return 0;
  int n = 0;
  const cJSON *v;
  cJSON_ArrayForEach(v, m) {
    if (++n > MC_METRICS_MAX_KEYS || !v->string || strlen(v->string) > 48) return 0;
    if (!cJSON_IsNumber(v) && !cJSON_IsBool(v)) return 0;
  }
  return 1;
}

int mc_metrics_store(mc_cloud *c, const char *agent_id, const cJSON *m, int64_t now) {
  if (!c || !agent_id || !valid(m)) return MC_EINVAL;
  char *text = cJSON_PrintUnformatted(m);
  if (!text) return MC_ENOMEM;
  int rc = MC_EINVAL;
  if (strlen(text) < MC_METRICS_MAX) {
    rc = MC_EDB;
    sqlite3_stmt *s = NULL;
    if (ensure_schema(c) == MC_OK &&
        sqlite3_prepare_v2(c->db,
                           "INSERT INTO agent_metrics(agent_id, received_ms, body) VALUES(?1,?2,?3)"
                           " ON CONFLICT(agent_id) DO UPDATE SET received_ms = ?2, body = ?3",
                           -1, &s, NULL) == SQLITE_OK) {
      sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 2, now);
      sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
      if (sqlite3_step(s) == SQLITE_DONE) rc = MC_OK;
    }
    sqlite3_finalize(s);
  }
  cJSON_free(text);
  return rc;
}

static void fill(sqlite3_stmt *s, mc_metrics_row *out) {
  memset(out, 0, sizeof *out);
  const unsigned char *id = sqlite3_column_text(s, 0);
  const unsigned char *body = sqlite3_column_text(s, 2);
  snprintf(out->agent_id, sizeof out->agent_id, "%s", id ? (const char *)id : "");
  out->received_ms = sqlite3_column_int64(s, 1);
  snprintf(out->json, sizeof out->json, "%s", body ? (const char *)body : "");
}

int mc_metrics_get(mc_cloud *c, const char *agent_id, mc_metrics_row *out) {
  if (!c || !agent_id || !out) return MC_EINVAL;
  int yes = 0;
  if (table_exists(c, &yes) != MC_OK) return MC_EDB;
  if (!yes) return MC_EINVAL;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT agent_id, received_ms, body FROM agent_metrics WHERE agent_id = ?1",
                         -1, &s, NULL) != SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int step = sqlite3_step(s), rc = step == SQLITE_DONE ? MC_EINVAL : MC_EDB;
  if (step == SQLITE_ROW) {
    fill(s, out);
    rc = MC_OK;
  }
  sqlite3_finalize(s);
  return rc;
}

int mc_metrics_foreach(mc_cloud *c, int (*fn)(void *user, const mc_metrics_row *row),
                       void *user) {
  if (!c || !fn) return MC_EINVAL;
  int yes = 0;
  if (table_exists(c, &yes) != MC_OK) return MC_EDB;
  if (!yes) return MC_OK;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT agent_id, received_ms, body FROM agent_metrics ORDER BY agent_id",
                         -1, &s, NULL) != SQLITE_OK)
    return MC_EDB;
  mc_metrics_row row;
  int rc = MC_OK, step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    fill(s, &row);
    if (fn(user, &row) != 0) break;
  }
  if (step != SQLITE_ROW && step != SQLITE_DONE) rc = MC_EDB;
  sqlite3_finalize(s);
  return rc;
}
