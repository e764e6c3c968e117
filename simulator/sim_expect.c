/* sim_expect.c - the end-of-run expectations of a scenario's "expect"
 * section: one row {name, enabled, check} each, in the order report.json
 * lists them. end_rows run while the fleet is still up (sim__expect_end);
 * store_rows after the agents and the cloud are closed, reading the cloud's
 * store with SQL (sim__expect_store). A new expectation is a check function
 * and a row here. */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/caps.h"
#include "core/pstate.h"
#include "core/upstate.h"
#include "mc_metrics.h"
#include "sim_int.h"

/* What the checks of one phase share; one on the caller's stack a phase. */
typedef struct xrun {
  fleet *f;
  const char *db_path; /* the cloud's store (store rows) */
  int64_t lines;       /* lines the fleet wrote (store rows) */
  const char **ids;    /* update rows: agent i's identity, NULL until made */
  /* attribution (max_misattributed, at_least_once): one scan of the store */
  int64_t *seen; /* lines since lineage_from found, per agent */
  int64_t mis;
  char example[200];
  int attr_rc, attr_oom;
  int k; /* which of its row's expectations a check makes (alerts: the kind) */
} xrun;

typedef struct xrow {
  const char *name; /* NULL: the check adds its own rows (sim_update.c's) */
  int (*enabled)(const xrun *x); /* how many expectations of this name: 0 none */
  void (*check)(xrun *x, expectation *e);
} xrow;

static void fail(expectation *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(expectation *e, const char *fmt, ...) {
  va_list ap;
  e->pass = 0;
  va_start(ap, fmt);
  vsnprintf(e->detail, sizeof e->detail, fmt, ap);
  va_end(ap);
}

/* ---- issue #13: the local attacker --------------------------------------- */

static void x_blocked_opens(xrun *x, expectation *e) {
  fleet *f = x->f;
  int64_t total = 0, first = -1;
  for (int64_t i = 0; i < f->n; i++) {
    int64_t b = sim_fs_blocked_opens(f->ag[i].fs);
    if (b > 0 && first < 0) first = i;
    total += b;
  }
  if (total > f->scn->max_blocked_opens)
    fail(e,
         "%lld opens would have blocked for ever (a FIFO opened without O_NONBLOCK; "
         "first on agent %lld), bound %lld",
         (long long)total, (long long)first, (long long)f->scn->max_blocked_opens);
}

/* read off the hosts; the store's part is refusals_reported_to_cloud */
static void x_refusals_reported(xrun *x, expectation *e) {
  fleet *f = x->f;
  int64_t attacked = 0;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (g->swaps == 0) continue;
    attacked++;
    pstate_info pi;
    memset(&pi, 0, sizeof pi);
    if (g->a) agent_policy_info(g->a, &pi);
    if (pi.refused_total < 1) {
      fail(e, "agent %d: %lld files swapped under it, no path refused", (int)i,
           (long long)g->swaps);
      break;
    }
  }
  if (e->pass && attacked == 0) fail(e, "no local_attack swapped any file: nothing was tested");
}

/* Entries of the state dir another user owns (max_foreign_owned_state_files). */
typedef struct foreign_walk {
  sim_fs *fs;
  uint32_t uid;
  const char *dir;
  int64_t *n;  /* shared by the whole walk */
  char *first; /* the first one found, for the message */
  size_t cap;
} foreign_walk;

static void foreign_note(foreign_walk *fw, const char *p, const os_stat *st) {
  if (st->uid == fw->uid) return;
  if ((*fw->n)++ == 0) snprintf(fw->first, fw->cap, "%.120s (uid %u)", p, (unsigned)st->uid);
}

/* Counts entries under fw->dir not owned by fw->uid, recursively. Listing
 * and lstat change nothing, so the walk may recurse from the callback; it is
 * bounded by the fs itself (at most 4096 names, paths under OS_PATH_MAX). */
static int foreign_one(void *user, const char *name) {
  foreign_walk *fw = user;
  char p[OS_PATH_MAX];
  os_stat st;
  if (snprintf(p, sizeof p, "%s/%s", fw->dir, name) >= (int)sizeof p) return 0;
  if (sim_fs_lstat(fw->fs, p, &st) != OS_OK) return 0;
  foreign_note(fw, p, &st);
  if (st.is_dir) {
    foreign_walk sub = *fw;
    sub.dir = p;
    sim_fs_list_dir(fw->fs, p, 4096, foreign_one, &sub);
  }
  return 0;
}

/* Entries of g's state dir (the dir included) that another uid owns. */
static int64_t foreign_owned(sim_agent *g, char *first, size_t cap) {
  int64_t n = 0;
  foreign_walk fw = {g->fs, g->os.uid, STATE_DIR, &n, first, cap};
  os_stat st;
  first[0] = 0;
  if (sim_fs_lstat(g->fs, STATE_DIR, &st) != OS_OK) return 0;
  foreign_note(&fw, STATE_DIR, &st);
  sim_fs_list_dir(g->fs, STATE_DIR, 4096, foreign_one, &fw);
  return n;
}

/* Nothing the agent keeps may belong to another user, and nothing of
 * another user's may stay where the agent keeps it. */
static void x_foreign_owned(xrun *x, expectation *e) {
  fleet *f = x->f;
  int64_t total = 0;
  char first[160] = "", one[160];
  for (int64_t i = 0; i < f->n; i++) {
    int64_t k = foreign_owned(&f->ag[i], one, sizeof one);
    if (k && !first[0]) snprintf(first, sizeof first, "agent %d: %.140s", (int)i, one);
    total += k;
  }
  if (total > f->scn->max_foreign_owned_state_files)
    fail(e, "%lld entries under state dirs owned by another uid than the agent's (first: %s)",
         (long long)total, first);
}

static void x_planted_policy(xrun *x, expectation *e) {
  fleet *f = x->f;
  for (int64_t i = 0; i < f->n; i++) {
    pstate_info pi;
    if (!f->ag[i].a) continue;
    agent_policy_info(f->ag[i].a, &pi);
    if (pi.version == SIM_SCN_PLANTED_POLICY_VERSION) {
      fail(e, "agent %d runs the planted policy (version %lld)", (int)i, (long long)pi.version);
      break;
    }
  }
}

/* Which of this run's agents (index) held agent_id: its last identity
 * (cloud_id, kept when the agents closed) or one it enrolled earlier; -1:
 * none. */
static int64_t agent_of_id(fleet *f, const char *agent_id) {
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (!sim__owned(f, i)) continue; /* another shard's cloud holds its records */
    if (strcmp(g->cloud_id, agent_id) == 0) return i;
    for (int k = 0; k < g->n_ids; k++)
      if (strcmp(g->ids[k], agent_id) == 0) return i;
  }
  return -1;
}

/* Fails on the first agent (by index) whose records in the cloud hold a
 * secret's mark: a shard's cloud holds its own agents' records, so the
 * merge of shards names the same agent as one run (sim_shard.c). Records
 * of no agent of this run still fail it, without an agent. */
static void x_no_secret_shipped(xrun *x, expectation *e) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int64_t first = -1, first_n = 0, orphans = 0;
  char first_src[160] = "", orphan_src[160] = "";
  int rc = SQLITE_ERROR;
  if (sqlite3_open_v2(x->db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "SELECT agent_id, count(*), min(source) FROM records WHERE "
                             "instr(line, '" SIM_SCN_SECRET_MARK "') > 0 GROUP BY agent_id",
                         -1, &st, NULL) == SQLITE_OK) {
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const unsigned char *id = sqlite3_column_text(st, 0);
      const unsigned char *src = sqlite3_column_text(st, 2);
      int64_t n = sqlite3_column_int64(st, 1);
      int64_t i = agent_of_id(x->f, id ? (const char *)id : "");
      if (i < 0) {
        if (!orphans) snprintf(orphan_src, sizeof orphan_src, "%s", src ? (const char *)src : "");
        orphans += n;
      } else if (first < 0 || i < first) {
        first = i;
        first_n = n;
        snprintf(first_src, sizeof first_src, "%s", src ? (const char *)src : "");
      }
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (rc != SQLITE_DONE)
    fail(e, "cannot read the cloud store");
  else if (first >= 0)
    fail(e, "agent %lld: the cloud holds %lld records from its secret files (first source %.120s)",
         (long long)first, (long long)first_n, first_src);
  else if (orphans > 0)
    fail(e, "the cloud holds %lld records from secret files, under no identity of this run's "
         "agents (first source %.120s)", (long long)orphans, orphan_src);
}

/* The cloud's half of refusals_reported. */
static void x_refusals_to_cloud(xrun *x, expectation *e) {
  fleet *f = x->f;
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  if (sqlite3_open_v2(x->db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "SELECT count(*) FROM policy_reports WHERE agent_id = ?1 AND "
                             "instr(refused, '/var/log/') > 0", -1, &st, NULL) != SQLITE_OK)
    fail(e, "cannot read the cloud store");
  for (int64_t i = 0; st && e->pass && i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (g->swaps == 0 || g->n_ids == 0) continue;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, g->ids[g->n_ids - 1], -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) < 1)
      fail(e, "agent %d: no policy report to the cloud names a refused /var/log/ path", (int)i);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* ---- issue #16: cloud_lie and tls_failure, agent by agent ---------------- */

static void x_lies_refused(xrun *x, expectation *e) {
  static const char *const kinds[] = {"?", "session_swap", "policy_rollback", "ack_beyond"};
  fleet *f = x->f;
  int64_t told = 0, refused = 0, hit = 0;
  for (int64_t i = 0; f->lie && i < f->n && e->pass; i++)
    for (int k = 1; k <= SIM_LIE_KINDS && e->pass; k++) {
      sim_lie_counts c;
      sim_lie_get(f->lie, i, k, &c);
      if (!c.hit) continue;
      hit++;
      told += c.told;
      refused += c.refused;
      if (c.believed > 0 || c.told == 0 || c.refused == 0)
        fail(e, "agent %lld, %s: %lld lies told, %lld refused, %lld believed%s", (long long)i,
             kinds[k], (long long)c.told, (long long)c.refused, (long long)c.believed,
             c.told == 0 ? " (the lie never reached it: the check proves nothing)" : "");
    }
  if (!f->lie) fail(e, "no cloud_lie event: nothing to refuse");
  if (e->pass)
    snprintf(e->detail, sizeof e->detail,
             "%lld agent-lies: %lld lies told, %lld refused, none believed", (long long)hit,
             (long long)told, (long long)refused);
}

static void x_tls_reported(xrun *x, expectation *e) {
  fleet *f = x->f;
  int64_t hit = 0, errs = 0;
  for (int64_t i = 0; i < f->n && e->pass; i++) {
    sim_agent *g = &f->ag[i];
    if (!g->tls_hit) continue;
    hit++;
    errs += g->tls_errors;
    if (g->tls_errors == 0 || g->tls_logged == 0)
      fail(e, "agent %lld: %lld failed handshakes, %lld logged as a TLS problem", (long long)i,
           (long long)g->tls_errors, (long long)g->tls_logged);
  }
  e->v[0] = hit; /* a merge of shards judges the fleet's half on the sums */
  e->v[1] = errs;
  if (e->pass) e->pass = sim_summary_verdict_tls(hit, errs, e->detail, sizeof e->detail);
}

/* ---- delivery, shedding, the cloud's load, policies ---------------------- */

static void x_exactly_once(xrun *x, expectation *e) {
  fleet *f = x->f;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (!sim__owned(f, i)) continue; /* another shard's */
    if (!g->a) {
      fail(e, "agent %d is not running", (int)i);
      break;
    }
    agent_stats st;
    agent_get_stats(g->a, &st);
    int64_t c = 0, mn = 0, mx = 0;
    if (st.agent_id[0]) mc_agent_seq_summary(f->cloud, st.agent_id, &c, &mn, &mx);
    /* Shed records are missing from the cloud by design (and accounted for
     * there: see shed_reported); a shed batch may also have arrived. */
    if (c + st.shed < g->lines_written || c > g->lines_written ||
        st.produced != g->lines_written) {
      fail(e, "agent %d: lines written %lld, produced %lld, cloud holds %lld (spooled %lld, shed %lld)",
           (int)i, (long long)g->lines_written, (long long)st.produced, (long long)c,
           (long long)st.spooled, (long long)st.shed);
      break;
    }
  }
}

static void x_shed_reported(xrun *x, expectation *e) {
  fleet *f = x->f;
  int64_t total = 0;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (!g->a) continue;
    agent_stats st;
    agent_get_stats(g->a, &st);
    int64_t reps = 0, recs = 0, bytes = 0;
    if (st.agent_id[0]) mc_agent_shed_summary(f->cloud, st.agent_id, &reps, &recs, &bytes);
    total += st.shed;
    if (e->pass && (recs != st.shed || bytes != st.shed_bytes || st.shed_reported != st.shed))
      fail(e,
           "agent %d shed %lld records (%lld bytes, %lld marked reported); the cloud "
           "stored %lld reports for %lld records (%lld bytes)",
           (int)i, (long long)st.shed, (long long)st.shed_bytes, (long long)st.shed_reported,
           (long long)reps, (long long)recs, (long long)bytes);
  }
  e->v[0] = total; /* a merge of shards judges min_shed on the sum */
  if (e->pass && !sim_summary_verdict_min_shed(total, f->scn->min_shed, e->detail, sizeof e->detail))
    e->pass = 0;
}

static void x_requests_per_min(xrun *x, expectation *e) {
  fleet *f = x->f;
  const sim_scenario *s = f->scn;
  e->pass = sim_summary_verdict_rate(f->rate, f->rate_len, s->rate_from_s, s->max_requests_per_min,
                                     e->detail, sizeof e->detail);
}

/* Every agent runs the expected version, and said so to the cloud. */
static void x_policy_applied(xrun *x, expectation *e) {
  fleet *f = x->f;
  int64_t rejected = 0;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    agent_stats st;
    mc_policy_report rep;
    if (!g->a) continue;
    agent_get_stats(g->a, &st);
    if (!st.agent_id[0] || mc_policy_last_report(f->cloud, st.agent_id, &rep) != MC_OK ||
        rep.applied_version != f->scn->policy_applied) {
      fail(e, "agent %d runs policy %lld (expected %lld)", (int)i,
           (long long)(st.agent_id[0] ? rep.applied_version : -1),
           (long long)f->scn->policy_applied);
      break;
    }
    if (mc_policy_rejections(f->cloud, st.agent_id) > 0) rejected++;
  }
  e->v[0] = rejected; /* a merge of shards says the sum */
  if (e->pass) sim_summary_detail_policy(rejected, f->n, e->detail, sizeof e->detail);
}

/* Violations stopped the run (sim__ledger_check); here: every agent was
 * capped, or the check proved nothing. */
static void x_records_per_s(xrun *x, expectation *e) {
  fleet *f = x->f;
  int64_t never = 0;
  for (int64_t i = 0; i < f->n; i++)
    if (sim__owned(f, i) && !f->ag[i].cap_a) never++; /* a shard judges its own */
  /* a merge of shards: the sums of the first two, the highest of the third */
  e->v[0] = never;
  e->v[1] = f->capped_agents;
  e->v[2] = f->cap_peak_rate;
  e->pass = sim_summary_verdict_capped(never, f->capped_agents, f->scn->max_records_per_s,
                                       f->cap_peak_rate, e->detail, sizeof e->detail);
}

/* Each agent's latest check-in metrics are stored, and agree with the
 * agent's own figures: the policy it runs, the cap it enforces. */
static void x_metrics_reported(xrun *x, expectation *e) {
  fleet *f = x->f;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (!g->a) continue;
    agent_stats st;
    pstate_info pi;
    caps_info ci;
    mc_metrics_row row;
    memset(&row, 0, sizeof row);
    agent_get_stats(g->a, &st);
    agent_policy_info(g->a, &pi);
    agent_caps_info(g->a, &ci);
    cJSON *m = NULL;
    if (mc_metrics_get(f->cloud, st.agent_id, &row) == MC_OK) m = cJSON_Parse(row.json);
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(m, "policy_version");
    const cJSON *cr = cJSON_GetObjectItemCaseSensitive(m, "cap_records_per_s");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(m, "records_produced");
    int ok = cJSON_IsNumber(pv) && (int64_t)pv->valuedouble == pi.version &&
             cJSON_IsNumber(cr) && (int64_t)cr->valuedouble == ci.rate && cJSON_IsNumber(pr) &&
             (int64_t)pr->valuedouble > 0 && (int64_t)pr->valuedouble <= st.produced;
    cJSON_Delete(m);
    if (!ok) {
      fail(e, "agent %d: cloud metrics missing or disagree (policy %lld, cap %lld): %.300s",
           (int)i, (long long)pi.version, (long long)ci.rate, row.json);
      break;
    }
  }
  if (e->pass) sim_summary_detail_metrics(f->n, e->detail, sizeof e->detail);
}

static void x_no_denied_open(xrun *x, expectation *e) {
  fleet *f = x->f;
  int64_t refused = 0;
  for (int64_t i = 0; i < f->n; i++) {
    if (f->ag[i].os.denied_opens > 0) {
      fail(e, "agent %d opened %s", (int)i, f->ag[i].os.denied_first);
      break;
    }
    if (f->ag[i].a) {
      pstate_info pi;
      agent_policy_info(f->ag[i].a, &pi);
      refused += pi.refused_total;
    }
  }
  e->v[0] = refused; /* a merge of shards says the sum */
  if (e->pass) sim_summary_detail_denied(refused, e->detail, sizeof e->detail);
}

static void x_spooled_at_end(xrun *x, expectation *e) {
  fleet *f = x->f;
  for (int64_t i = 0; i < f->n; i++) {
    if (!f->ag[i].a) continue;
    agent_stats st;
    agent_get_stats(f->ag[i].a, &st);
    if (st.spooled > f->scn->max_spooled_at_end) {
      fail(e, "agent %d has %lld records spooled (max %lld)", (int)i, (long long)st.spooled,
           (long long)f->scn->max_spooled_at_end);
      break;
    }
  }
}

/* Sum over agents of (shed records the cloud does not also hold), from the
 * store's shed_reports and records; -1 with detail on a store error. */
static int64_t shed_overlap_check(const char *db_path, char *detail, size_t cap) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int64_t out = -1;
  int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(
        db,
        "SELECT coalesce((SELECT sum(records) FROM shed_reports), 0) - (SELECT count(*) FROM "
        "records r JOIN shed_reports s ON r.agent_id = s.agent_id AND r.seq BETWEEN "
        "s.first_seq AND s.last_seq)",
        -1, &st, NULL);
  if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) out = sqlite3_column_int64(st, 0);
  else snprintf(detail, cap, "cannot read shed reports: %s", db ? sqlite3_errmsg(db) : "open failed");
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

/* Independent of the cloud's own counters: reads its store with SQL. */
static void x_exactly_once_store(xrun *x, expectation *e) {
  char detail[512] = "";
  /* Records the cloud holds inside a reported shed range (a shed batch that
   * had also arrived) count once: lines = rows + shed - both. */
  int64_t shed_missing = shed_overlap_check(x->db_path, detail, sizeof detail);
  if (shed_missing < 0) {
    fail(e, "%s", detail);
    return;
  }
  int64_t total_lines = x->lines - shed_missing;
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_open_v2(x->db_path, &db, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db,
                            "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT agent_id, line "
                            "FROM records)) FROM records",
                            -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    fail(e, "cannot read the cloud store: %s", db ? sqlite3_errmsg(db) : "open failed");
  } else {
    int64_t rows = sqlite3_column_int64(st, 0), distinct = sqlite3_column_int64(st, 1);
    /* a merge of shards judges the sums (v[3] 1: they were read) */
    e->v[0] = rows, e->v[1] = distinct, e->v[2] = total_lines, e->v[3] = 1;
    e->pass = sim_summary_verdict_store(rows, distinct, total_lines, e->detail, sizeof e->detail);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* expect.lost_lines / lost_middle_lines (issue #17): which written lines
 * never reached the store, and how many of them were a whole generation of
 * the log between two rotations (the middle one of a double rotation)
 * rather than an older file's unread tail. Lines are numbered per agent; a
 * generation is the lines written between two rotation marks. */
static void x_lost_lines(xrun *x, expectation *e) {
  fleet *f = x->f;
  const sim_scenario *s = f->scn;
  uint8_t **bits = calloc((size_t)f->n, sizeof *bits);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int rc = bits ? sqlite3_open_v2(x->db_path, &db, SQLITE_OPEN_READONLY, NULL) : SQLITE_NOMEM;
  for (int64_t i = 0; rc == SQLITE_OK && i < f->n; i++)
    if (!(bits[i] = calloc((size_t)f->ag[i].lines_written / 8 + 1, 1))) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db, "SELECT substr(line, 1, 26) FROM records", -1, &st, NULL);
  while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const char *pre = (const char *)sqlite3_column_text(st, 0);
    if (!pre || strncmp(pre, "agent-", 6) != 0) continue;
    char *end = NULL;
    long owner = strtol(pre + 6, &end, 10);
    if (end != pre + 11 || strncmp(end, " line-", 6) != 0 || owner < 0 || owner >= f->n) continue;
    long long no = strtoll(end + 6, NULL, 10);
    if (no >= 1 && no <= f->ag[owner].lines_written)
      bits[owner][(no - 1) / 8] |= (uint8_t)(1u << ((no - 1) % 8));
  }
  int64_t lost = 0, middle = 0, gens = 0;
  for (int64_t i = 0; rc == SQLITE_OK && i < f->n; i++) {
    const sim_agent *g = &f->ag[i];
    for (int64_t no = 1; no <= g->lines_written; no++)
      lost += !(bits[i][(no - 1) / 8] & (1u << ((no - 1) % 8)));
    for (int k = 1; k < g->n_rot_mark; k++) {
      int64_t from = g->rot_mark[k - 1] + 1, to = g->rot_mark[k], miss = 0;
      for (int64_t no = from; no <= to; no++)
        miss += !(bits[i][(no - 1) / 8] & (1u << ((no - 1) % 8)));
      if (to >= from && miss == to - from + 1) {
        middle += miss;
        gens++;
      }
    }
  }
  if (rc != SQLITE_OK) {
    fail(e, "cannot read the cloud store"); /* v[3] 0: a merge keeps this verdict */
  } else {
    /* Said whether it passes: the report carries the measured figures; a
     * merge of shards judges the sums. */
    e->v[0] = lost;
    e->v[1] = middle;
    e->v[2] = gens;
    e->v[3] = 1;
    e->pass = sim_summary_verdict_lost(lost, middle, gens, s->lost_min, s->lost_max,
                                       s->lost_middle_min, s->lost_middle_max, e->detail,
                                       sizeof e->detail);
  }
  for (int64_t i = 0; bits && i < f->n; i++) free(bits[i]);
  free(bits);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* ---- identity (issue #4) ------------------------------------------------- */

static void x_alerts(xrun *x, expectation *e) {
  fleet *f = x->f;
  const sim_scn_alert_expect *a = &f->scn->alerts[x->k];
  int64_t n = mc_alert_count(f->cloud, strcmp(a->kind, "total") == 0 ? NULL : a->kind);
  e->v[0] = n; /* a merge of shards judges the sum */
  e->pass = sim_summary_verdict_alerts(a->kind, n, a->min, a->max, e->detail, sizeof e->detail);
}

static void x_clone_detect(xrun *x, expectation *e) {
  fleet *f = x->f;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (g->watch_at < 0) continue;
    int64_t lat = g->detected_at >= 0 ? g->detected_at - g->watch_at : -1;
    if (lat < 0 || lat > f->scn->clone_detect_within_s * 1000) {
      fail(e, "agent %d (copy of %d at t=%lld ms): %s %lld ms", (int)i, (int)g->clone_of,
           (long long)g->watch_at, lat < 0 ? "never detected, waited" : "detected after",
           (long long)(lat < 0 ? f->now - g->watch_at : lat));
      break;
    }
  }
}

static void x_attacks_refused(xrun *x, expectation *e) {
  fleet *f = x->f;
  if (f->attacks == 0 || f->attacks_refused != f->attacks)
    fail(e, "%lld of %lld attack requests refused", (long long)f->attacks_refused,
         (long long)f->attacks);
}

static void x_originals_untouched(xrun *x, expectation *e) {
  fleet *f = x->f;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (g->copies == 0 || !g->a) continue;
    agent_stats st;
    agent_get_stats(g->a, &st);
    if (st.clone_reenrollments != 0 || g->n_ids != 1) {
      fail(e, "source agent %d re-enrolled %lld times", (int)i, (long long)st.clone_reenrollments);
      break;
    }
  }
}

static void x_drift_events(xrun *x, expectation *e) {
  fleet *f = x->f;
  int64_t n = mc_event_count(f->cloud, "permission_drift");
  if (n < f->scn->min_drift_events)
    fail(e, "the cloud holds %lld drift reports, expected >= %lld", (long long)n,
         (long long)f->scn->min_drift_events);
}

static void x_revoked_silent(xrun *x, expectation *e) {
  fleet *f = x->f;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (!g->revoked) continue;
    int64_t n = mc_agent_record_count(f->cloud, g->revoked_id);
    agent_stats st;
    if (g->a) agent_get_stats(g->a, &st);
    if (e->pass && (n != g->revoked_count || !g->a || st.state != AGENT_STATE_REVOKED))
      fail(e, "agent %d: the cloud holds %lld records of the revoked identity (had %lld), state %d",
           (int)i, (long long)n, (long long)g->revoked_count, g->a ? (int)st.state : -1);
  }
}

/* Reads the store once for max_misattributed and at_least_once: records
 * under an identity their writer never had (misattributed, also in the
 * report), and lines written since each agent's last copy/restore that
 * reached no identity of theirs. */
static void attribution_scan(xrun *x) {
  fleet *f = x->f;
  const sim_scenario *s = f->scn;
  if (s->max_misattributed < 0 && !s->at_least_once) return;
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int64_t *seen = calloc((size_t)f->n, sizeof *seen);
  uint8_t **bits = calloc((size_t)f->n, sizeof *bits);
  if (!seen || !bits) {
    free(seen);
    free(bits);
    x->attr_oom = 1;
    return;
  }
  int rc = sqlite3_open_v2(x->db_path, &db, SQLITE_OPEN_READONLY, NULL);
  for (int64_t i = 0; rc == SQLITE_OK && i < f->n; i++) {
    int64_t span = f->ag[i].lines_written - f->ag[i].lineage_from;
    bits[i] = calloc((size_t)(span > 0 ? span : 0) / 8 + 1, 1);
    if (!bits[i]) rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db, "SELECT agent_id, substr(line, 1, 26) FROM records", -1, &st, NULL);
  int64_t mis = 0;
  while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const char *aid = (const char *)sqlite3_column_text(st, 0);
    const char *pre = (const char *)sqlite3_column_text(st, 1);
    if (!aid || !pre || strncmp(pre, "agent-", 6) != 0) continue;
    char *end = NULL;
    long owner_l = strtol(pre + 6, &end, 10);
    if (end != pre + 11 || strncmp(end, " line-", 6) != 0) continue;
    const char *num = end + 6;
    long long no = strtoll(num, &end, 10);
    if (end != num + 9 || owner_l < 0 || owner_l >= f->n) continue;
    int owner = (int)owner_l;
    if (!sim__line_belongs(f, aid, owner, no)) {
      if (!mis++)
        snprintf(x->example, sizeof x->example, "line %lld of agent %d under %s", no, owner, aid);
      continue;
    }
    sim_agent *g = &f->ag[owner];
    int64_t k = no - 1 - g->lineage_from;
    if (k >= 0 && no <= g->lines_written && !(bits[owner][k / 8] & (1u << (k % 8)))) {
      bits[owner][k / 8] |= (uint8_t)(1u << (k % 8));
      seen[owner]++;
    }
  }
  f->misattributed = mis;
  x->mis = mis;
  x->attr_rc = rc;
  x->seen = seen;
  for (int64_t i = 0; i < f->n; i++) free(bits[i]);
  free(bits);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static void x_misattributed(xrun *x, expectation *e) {
  if (x->attr_oom)
    fail(e, "out of memory checking attribution");
  else if (x->attr_rc != SQLITE_OK || x->mis > x->f->scn->max_misattributed)
    fail(e, "%lld records under an identity their host never had (%s)%s", (long long)x->mis,
         x->example, x->attr_rc != SQLITE_OK ? "; store unreadable" : "");
}

static void x_at_least_once(xrun *x, expectation *e) {
  fleet *f = x->f;
  if (x->attr_oom) {
    fail(e, "out of memory checking attribution");
    return;
  }
  for (int64_t i = 0; i < f->n; i++) {
    int64_t want = f->ag[i].lines_written - f->ag[i].lineage_from;
    if (x->attr_rc != SQLITE_OK || x->seen[i] != want) {
      fail(e, "agent %d: %lld of the %lld lines written since t=%s reached its identities", (int)i,
           (long long)x->seen[i], (long long)want, f->ag[i].lineage ? "its copy/restore" : "0");
      break;
    }
  }
}

/* ---- updates (issues #6, #17) -------------------------------------------- */

static void upd_result(void *user, const char *name, int pass, const char *detail) {
  expectation *x = sim__add_expect(user, name);
  if (!x) return;
  x->pass = pass;
  snprintf(x->detail, sizeof x->detail, "%s", detail);
}

static void result(expectation *e, int pass, const char *detail) {
  e->pass = pass;
  snprintf(e->detail, sizeof e->detail, "%s", detail);
}

/* The repository's own expectations (sim_update.c names its rows), against
 * each agent's identity (x->ids, kept for update_rolled_back). */
static void x_update_repo(xrun *x, expectation *none) {
  fleet *f = x->f;
  (void)none;
  const char **ids = calloc((size_t)f->n, sizeof *ids);
  if (!ids) {
    upd_result(f, "update", 0, "out of memory");
    return;
  }
  for (int64_t i = 0; i < f->n; i++) {
    agent_stats s;
    if (f->ag[i].a) {
      agent_get_stats(f->ag[i].a, &s);
      memcpy(f->ag[i].cloud_id, s.agent_id, sizeof f->ag[i].cloud_id);
    }
    ids[i] = f->ag[i].cloud_id;
  }
  x->ids = ids;
  sim_update_check_end(f->upd, f->scn, f->cloud, ids, f->n, upd_result, f);
}

typedef struct rb_scan {
  const char *version;
  const char *const *ids;
  int64_t n;
  uint8_t *seen;
} rb_scan;

static int rb_cb(void *user, const mc_event *e) {
  rb_scan *s = user;
  cJSON *o = cJSON_Parse(e->detail);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
  if (strcmp(e->kind, "update_rollback") == 0 && cJSON_IsString(v) &&
      strcmp(v->valuestring, s->version) == 0)
    for (int64_t i = 0; i < s->n; i++)
      if (s->ids[i][0] && strcmp(s->ids[i], e->agent_id) == 0) s->seen[i] = 1;
  cJSON_Delete(o);
  return 0;
}

static void x_rolled_back(xrun *x, expectation *ex) {
  fleet *f = x->f;
  const sim_scenario *scn = f->scn;
  char d[400];
  rb_scan s = {scn->upd_rolled_back, x->ids, f->n, calloc((size_t)f->n + 1, 1)};
  int rc = s.seen ? mc_events_foreach(f->cloud, "update_", rb_cb, &s) : MC_ENOMEM;
  int64_t installed = 0, bad = 0, first = -1;
  const char *what = "";
  for (int64_t i = 0; i < f->n && s.seen; i++) {
    sim_agent *g = &f->ag[i];
    if (!g->installed_rb) continue;
    installed++;
    upstate us;
    char e[160];
    const char *w = NULL;
    if (!g->rolled_back_rb) w = "not rolled back";
    else if (strcmp(sim_update_version_of(f->upd, g->idx), scn->upd_rolled_back) == 0)
      w = "still runs it";
    else if (upstate_load(&g->osh, STATE_DIR, &us, e, sizeof e) != 0 ||
             !upstate_is_bad(&us, scn->upd_rolled_back))
      w = "not on its bad list";
    else if (!s.seen[i]) w = "no update_rollback report in the cloud";
    if (w && bad++ == 0) {
      first = i;
      what = w;
    }
  }
  snprintf(d, sizeof d, "%lld of %lld agents that installed %s: first agent %lld: %s",
           (long long)bad, (long long)installed, scn->upd_rolled_back, (long long)first, what);
  if (installed == 0)
    snprintf(d, sizeof d, "no agent installed %s (nothing was rolled back)", scn->upd_rolled_back);
  result(ex, rc == MC_OK && installed > 0 && bad == 0,
         rc == MC_OK && installed > 0 && bad == 0 ? "" : d);
  free(s.seen);
}

static void x_promotes_refused(xrun *x, expectation *e) {
  fleet *f = x->f;
  char d[400];
  snprintf(d, sizeof d, "%lld promote events refused by the gate (expected %lld)",
           (long long)f->promotes_refused, (long long)f->scn->upd_promotes_refused);
  result(e, f->promotes_refused == f->scn->upd_promotes_refused,
         f->promotes_refused == f->scn->upd_promotes_refused ? "" : d);
}

/* Each ring's agents installed the final version before any agent of the
 * next ring did: rings learnt from policy, not assumed. */
static void x_ring_order(xrun *x, expectation *e) {
  fleet *f = x->f;
  const sim_scenario *scn = f->scn;
  char d[400];
  int64_t lo[3] = {INT64_MAX, INT64_MAX, INT64_MAX}, hi[3] = {-1, -1, -1};
  int ok = f->rings_on && scn->upd_final_version[0];
  for (int64_t i = 0; i < f->n && ok; i++) {
    sim_agent *g = &f->ag[i];
    if (g->final_at < 0) continue;
    if (g->final_at < lo[g->ring]) lo[g->ring] = g->final_at;
    if (g->final_at > hi[g->ring]) hi[g->ring] = g->final_at;
  }
  int prev = -1;
  for (int k = 0; k < 3 && ok; k++) {
    if (hi[k] < 0) continue;
    if (prev >= 0 && hi[prev] >= lo[k]) ok = 0;
    prev = k;
  }
  snprintf(d, sizeof d,
           "install times of %s (ms) canary %lld..%lld, early-access %lld..%lld, stable %lld..%lld%s",
           scn->upd_final_version, (long long)lo[0], (long long)hi[0], (long long)lo[1],
           (long long)hi[1], (long long)lo[2], (long long)hi[2],
           f->rings_on ? "" : " (no fleet.rings)");
  result(e, ok, ok ? "" : d);
}

static void x_switch_cut_steps(xrun *x, expectation *e) {
  fleet *f = x->f;
  char d[400];
  uint32_t want = (1u << f->scn->upd_switch_cut_steps) - 1;
  snprintf(d, sizeof d, "%lld switch power cuts; steps cut after (bit k = step k): 0x%x, wanted 0x%x",
           (long long)f->switch_cuts, (unsigned)f->switch_cut_steps, (unsigned)want);
  result(e, (f->switch_cut_steps & want) == want, (f->switch_cut_steps & want) == want ? "" : d);
}

/* issue #17: every agent ends on a valid version, its rollback target kept. */
static void x_bin_valid(xrun *x, expectation *e) {
  fleet *f = x->f;
  char d[400];
  int64_t bad = 0, seen = 0;
  char first[300] = "";
  const char *what = "";
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (!g->bin_ready) continue;
    seen++;
    char det[300];
    const char *w = sim__sup_bin_wrong(f, g, det, sizeof det);
    if (w && bad++ == 0) {
      what = w;
      snprintf(first, sizeof first, "%s", det);
    }
  }
  snprintf(d, sizeof d, "%lld of %lld agents with a supervisor's bin/: first %s: %s", (long long)bad,
           (long long)seen, first, what);
  if (seen == 0) snprintf(d, sizeof d, "no agent's supervisor ever switched (no bin/ to check)");
  result(e, bad == 0 && seen > 0, bad == 0 && seen > 0 ? "" : d);
}

/* ---- issue #14: the window under faults ---------------------------------- */

/* Every kind of fault the scenario has hit some agent while two or more of
 * its batches were in flight: the crash, loss and outage paths are proven
 * with the window open, not only with one batch at a time. */
static void x_window_under_faults(xrun *x, expectation *e) {
  fleet *f = x->f;
  int crash, cut, loss, outage;
  sim_scenario_fault_kinds(f->scn, &crash, &cut, &loss, &outage);
  sim_net_stats ns;
  sim_net_get_stats(f->net, &ns);
  char d[sizeof e->detail];
  /* a merge of shards judges the sums */
  e->v[0] = f->crashes_in_window;
  e->v[1] = f->cuts_in_window;
  e->v[2] = ns.lost_in_window;
  e->v[3] = ns.refused_in_window;
  int ok = sim_summary_verdict_window(crash, cut, loss, outage, e->v[0], e->v[1], e->v[2], e->v[3],
                                      d, sizeof d);
  result(e, ok, d);
}

/* ---- the tables ----------------------------------------------------------- */

#define SCN (x->f->scn)
/* identity expectations are checked when the scenario has identity events
 * or expectations; update ones when it has an update section (and, past the
 * repository's own rows, when their identities could be listed) */
#define IDENT (x->f->ident_on)
#define UPD (x->f->upd && x->ids)

static int on_blocked_opens(const xrun *x) { return SCN->max_blocked_opens >= 0; }
static int on_refusals_reported(const xrun *x) { return SCN->refusals_reported != 0; }
static int on_lies_refused(const xrun *x) { return SCN->lies_refused != 0; }
static int on_tls_reported(const xrun *x) { return SCN->tls_reported != 0; }
static int on_exactly_once(const xrun *x) { return SCN->exactly_once != 0; }
static int on_shed_reported(const xrun *x) { return SCN->shed_reported || SCN->min_shed > 0; }
static int on_requests_per_min(const xrun *x) { return SCN->max_requests_per_min > 0; }
static int on_policy_applied(const xrun *x) { return SCN->policy_applied > 0; }
static int on_records_per_s(const xrun *x) { return SCN->max_records_per_s > 0; }
static int on_metrics_reported(const xrun *x) { return SCN->metrics_reported != 0; }
static int on_no_denied_open(const xrun *x) { return SCN->no_denied_open != 0; }
static int on_spooled_at_end(const xrun *x) { return SCN->max_spooled_at_end >= 0; }
static int on_alerts(const xrun *x) { return IDENT ? SCN->n_alerts : 0; } /* one per kind */
static int on_clone_detect(const xrun *x) { return IDENT && SCN->clone_detect_within_s >= 0; }
static int on_attacks_refused(const xrun *x) { return IDENT && SCN->attacks_refused; }
static int on_originals_untouched(const xrun *x) { return IDENT && SCN->originals_untouched; }
static int on_drift_events(const xrun *x) { return IDENT && SCN->min_drift_events >= 0; }
static int on_foreign_owned(const xrun *x) { return IDENT && SCN->max_foreign_owned_state_files >= 0; }
static int on_planted_policy(const xrun *x) { return IDENT && SCN->planted_policy_refused; }
static int on_revoked_silent(const xrun *x) {
  for (int64_t i = 0; IDENT && i < x->f->n; i++)
    if (x->f->ag[i].revoked) return 1;
  return 0;
}
static int on_update_repo(const xrun *x) { return x->f->upd != NULL; }
static int on_rolled_back(const xrun *x) { return UPD && SCN->upd_rolled_back[0]; }
static int on_promotes_refused(const xrun *x) { return UPD && SCN->upd_promotes_refused >= 0; }
static int on_ring_order(const xrun *x) { return UPD && SCN->upd_ring_order; }
static int on_switch_cut_steps(const xrun *x) { return UPD && SCN->upd_switch_cut_steps > 0; }
static int on_bin_valid(const xrun *x) { return UPD && SCN->upd_bin_valid; }
static int on_lost_lines(const xrun *x) { return SCN->lost_min >= 0; }
static int on_lost_middle(const xrun *x) { return SCN->lost_min < 0 && SCN->lost_middle_min >= 0; }
/* Out of memory for the attribution scan: one row, at_least_once's if it
 * is expected. */
static int on_misattributed(const xrun *x) {
  return SCN->max_misattributed >= 0 && !(x->attr_oom && SCN->at_least_once);
}
static int on_at_least_once(const xrun *x) { return SCN->at_least_once != 0; }
static int on_no_secret_shipped(const xrun *x) { return SCN->no_secret_shipped != 0; }
static int on_window_under_faults(const xrun *x) { return SCN->window_under_faults != 0; }

#undef SCN
#undef IDENT
#undef UPD

/* While the fleet is up (the agents and the cloud open). */
static const xrow end_rows[] = {
    {"max_blocked_opens", on_blocked_opens, x_blocked_opens},
    {"refusals_reported", on_refusals_reported, x_refusals_reported},
    {"lies_refused", on_lies_refused, x_lies_refused},
    {"tls_reported", on_tls_reported, x_tls_reported},
    {"exactly_once", on_exactly_once, x_exactly_once},
    {"shed_reported", on_shed_reported, x_shed_reported},
    {"max_requests_per_min", on_requests_per_min, x_requests_per_min},
    {"policy_applied", on_policy_applied, x_policy_applied},
    {"max_records_per_s", on_records_per_s, x_records_per_s},
    {"metrics_reported", on_metrics_reported, x_metrics_reported},
    {"no_denied_open", on_no_denied_open, x_no_denied_open},
    {"max_spooled_at_end", on_spooled_at_end, x_spooled_at_end},
    {"alerts", on_alerts, x_alerts},
    {"clone_detect_within_s", on_clone_detect, x_clone_detect},
    {"attacks_refused", on_attacks_refused, x_attacks_refused},
    {"originals_untouched", on_originals_untouched, x_originals_untouched},
    {"min_drift_events", on_drift_events, x_drift_events},
    {"max_foreign_owned_state_files", on_foreign_owned, x_foreign_owned},
    {"planted_policy_refused", on_planted_policy, x_planted_policy},
    {"revoked_silent", on_revoked_silent, x_revoked_silent},
    {NULL, on_update_repo, x_update_repo},
    {"update_rolled_back", on_rolled_back, x_rolled_back},
    {"update_promotes_refused", on_promotes_refused, x_promotes_refused},
    {"update_ring_order", on_ring_order, x_ring_order},
    {"update_switch_cut_steps", on_switch_cut_steps, x_switch_cut_steps},
    {"update_bin_valid", on_bin_valid, x_bin_valid},
    {"window_under_faults", on_window_under_faults, x_window_under_faults},
};

/* After the agents and the cloud are closed: the cloud's store, read with SQL. */
static const xrow store_rows[] = {
    {"exactly_once_store", on_exactly_once, x_exactly_once_store},
    {"max_misattributed", on_misattributed, x_misattributed},
    {"at_least_once", on_at_least_once, x_at_least_once},
    {"lost_lines", on_lost_lines, x_lost_lines},
    {"lost_middle_lines", on_lost_middle, x_lost_lines},
    {"no_secret_shipped", on_no_secret_shipped, x_no_secret_shipped},
    {"refusals_reported_to_cloud", on_refusals_reported, x_refusals_to_cloud},
};

/* Past MAX_EXPECT a row is not recorded, and neither is any after it. */
static void run_rows(xrun *x, const xrow *rows, size_t n) {
  for (size_t r = 0; r < n; r++) {
    int count = rows[r].enabled(x);
    if (!rows[r].name) {
      if (count) rows[r].check(x, NULL);
      continue;
    }
    for (x->k = 0; x->k < count; x->k++) {
      expectation *e = sim__add_expect(x->f, rows[r].name);
      if (!e) break;
      rows[r].check(x, e);
    }
  }
}

void sim__expect_end(fleet *f) {
  xrun x = {.f = f};
  run_rows(&x, end_rows, sizeof end_rows / sizeof end_rows[0]);
  free(x.ids);
}

void sim__expect_store(fleet *f, const char *db_path, int64_t lines) {
  xrun x = {.f = f, .db_path = db_path, .lines = lines};
  attribution_scan(&x);
  run_rows(&x, store_rows, sizeof store_rows / sizeof store_rows[0]);
  free(x.seen);
}
