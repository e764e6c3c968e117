#include "sim_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/version.h"
#include "common/wire.h"
#include "core/agent.h"
#include "core/caps.h"
#include "core/pstate.h"
#include "core/config.h"
#include "core/files.h"
#include "core/ident.h"
#include "core/update.h"
#include "core/upstate.h"
#include "core/upsup.h"
#include "mc.h"
#include "mc_rings.h"
#include "mc_metrics.h"
#include "sim_fs.h"
#include "sim_lie.h"
#include "sim_net.h"
#include "sim_os.h"
#include "sim_queue.h"
#include "sim_report.h"
#include "sim_rng.h"
#include "sim_trace.h"
#include "sim_update.h"

static const char *const ev_names[] = {"?",        "step",      "net_deliver", "net_complete",
                                       "log",      "scenario",  "outage_end",  "partition_end",
                                       "hour",     "end",       "drain_end",   "upd_tick",
                                       "tls_end"};

static int64_t shed_overlap_check(fleet *f, const char *db_path, char *detail, size_t cap);

static int64_t run_step(fleet *f, sim_agent *g) {
  if (!g->a) return 0;
  f->steps++;
  g->attack_mute--; /* the local attacker acts only inside the agent's own calls */
  int64_t d = agent_step(g->a, f->now);
  g->attack_mute++;
  if (f->upd && !g->cut && agent_exit_code(g->a) == UPDATE_EXIT_RESTART) {
    sim__supervise(f, g);
    return f->now;
  }
  sim__schedule_step(f, g, d);
  return d;
}

/* ---- updates (issue #6): end-of-run checks ------------------------------ */

static void upd_result(void *user, const char *name, int pass, const char *detail) {
  fleet *f = user;
  expectation *x = sim__add_expect(f, name);
  if (!x) return;
  x->pass = pass;
  snprintf(x->detail, sizeof x->detail, "%s", detail);
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

/* expect.update_rolled_back, update_promotes_refused, update_ring_order. */
static void upd_check_rings(fleet *f, const char **ids) {
  const sim_scenario *scn = f->scn;
  char d[400];
  if (scn->upd_rolled_back[0]) {
    rb_scan s = {scn->upd_rolled_back, ids, f->n, calloc((size_t)f->n + 1, 1)};
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
    upd_result(f, "update_rolled_back", rc == MC_OK && installed > 0 && bad == 0,
               rc == MC_OK && installed > 0 && bad == 0 ? "" : d);
    free(s.seen);
  }
  if (scn->upd_promotes_refused >= 0) {
    snprintf(d, sizeof d, "%lld promote events refused by the gate (expected %lld)",
             (long long)f->promotes_refused, (long long)scn->upd_promotes_refused);
    upd_result(f, "update_promotes_refused", f->promotes_refused == scn->upd_promotes_refused,
               f->promotes_refused == scn->upd_promotes_refused ? "" : d);
  }
  if (scn->upd_ring_order) {
    /* Each ring's agents installed the final version before any agent of
     * the next ring did: rings learnt from policy, not assumed. */
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
    upd_result(f, "update_ring_order", ok, ok ? "" : d);
  }
}

static void upd_check_end(fleet *f) {
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
  sim_update_check_end(f->upd, f->scn, f->cloud, ids, f->n, upd_result, f);
  upd_check_rings(f, ids);
  char d[400];
  if (f->scn->upd_switch_cut_steps > 0) {
    uint32_t want = (1u << f->scn->upd_switch_cut_steps) - 1;
    snprintf(d, sizeof d, "%lld switch power cuts; steps cut after (bit k = step k): 0x%x, wanted 0x%x",
             (long long)f->switch_cuts, (unsigned)f->switch_cut_steps, (unsigned)want);
    upd_result(f, "update_switch_cut_steps", (f->switch_cut_steps & want) == want,
               (f->switch_cut_steps & want) == want ? "" : d);
  }
  if (f->scn->upd_bin_valid) {
    /* issue #17: every agent ends on a valid version, its rollback target kept */
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
    upd_result(f, "update_bin_valid", bad == 0 && seen > 0, bad == 0 && seen > 0 ? "" : d);
  }
  free(ids);
}

/* ---- issue #13: entries of another user in a state dir ------------------ */

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

static int64_t count_alerts(fleet *f, const char *kind) {
  return mc_alert_count(f->cloud, strcmp(kind, "total") == 0 ? NULL : kind);
}

static void ident_check_end(fleet *f) {
  const sim_scenario *s = f->scn;
  for (int i = 0; i < s->n_alerts; i++) {
    expectation *e = sim__add_expect(f, "alerts");
    if (!e) break;
    int64_t n = count_alerts(f, s->alerts[i].kind);
    if (n < s->alerts[i].min || n > s->alerts[i].max) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "%s: %lld alerts, expected %lld..%lld",
               s->alerts[i].kind, (long long)n, (long long)s->alerts[i].min,
               (long long)s->alerts[i].max);
    }
  }
  if (s->clone_detect_within_s >= 0) {
    expectation *e = sim__add_expect(f, "clone_detect_within_s");
    for (int64_t i = 0; e && i < f->n; i++) {
      sim_agent *g = &f->ag[i];
      if (g->watch_at < 0) continue;
      int64_t lat = g->detected_at >= 0 ? g->detected_at - g->watch_at : -1;
      if (lat < 0 || lat > s->clone_detect_within_s * 1000) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail, "agent %d (copy of %d at t=%lld ms): %s %lld ms",
                 (int)i, (int)g->clone_of, (long long)g->watch_at,
                 lat < 0 ? "never detected, waited" : "detected after", (long long)(lat < 0 ? f->now - g->watch_at : lat));
        break;
      }
    }
  }
  if (s->attacks_refused) {
    expectation *e = sim__add_expect(f, "attacks_refused");
    if (e && (f->attacks == 0 || f->attacks_refused != f->attacks)) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "%lld of %lld attack requests refused",
               (long long)f->attacks_refused, (long long)f->attacks);
    }
  }
  if (s->originals_untouched) {
    expectation *e = sim__add_expect(f, "originals_untouched");
    for (int64_t i = 0; e && i < f->n; i++) {
      sim_agent *g = &f->ag[i];
      if (g->copies == 0 || !g->a) continue;
      agent_stats st;
      agent_get_stats(g->a, &st);
      if (st.clone_reenrollments != 0 || g->n_ids != 1) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail, "source agent %d re-enrolled %lld times",
                 (int)i, (long long)st.clone_reenrollments);
        break;
      }
    }
  }
  if (s->min_drift_events >= 0) {
    expectation *e = sim__add_expect(f, "min_drift_events");
    int64_t n = mc_event_count(f->cloud, "permission_drift");
    if (e && n < s->min_drift_events) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "the cloud holds %lld drift reports, expected >= %lld",
               (long long)n, (long long)s->min_drift_events);
    }
  }
  if (s->max_foreign_owned_state_files >= 0) {
    /* issue #13: nothing the agent keeps may belong to another user, and
     * nothing of another user's may stay where the agent keeps it. */
    expectation *e = sim__add_expect(f, "max_foreign_owned_state_files");
    int64_t total = 0;
    char first[160] = "", one[160];
    for (int64_t i = 0; e && i < f->n; i++) {
      int64_t k = foreign_owned(&f->ag[i], one, sizeof one);
      if (k && !first[0]) snprintf(first, sizeof first, "agent %d: %.140s", (int)i, one);
      total += k;
    }
    if (e && total > s->max_foreign_owned_state_files) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail,
               "%lld entries under state dirs owned by another uid than the agent's (first: %s)",
               (long long)total, first);
    }
  }
  if (s->planted_policy_refused) {
    expectation *e = sim__add_expect(f, "planted_policy_refused");
    for (int64_t i = 0; e && i < f->n; i++) {
      pstate_info pi;
      if (!f->ag[i].a) continue;
      agent_policy_info(f->ag[i].a, &pi);
      if (pi.version == SIM_SCN_PLANTED_POLICY_VERSION) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail, "agent %d runs the planted policy (version %lld)",
                 (int)i, (long long)pi.version);
        break;
      }
    }
  }
  expectation *rv = NULL;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    if (!g->revoked) continue;
    if (!rv) rv = sim__add_expect(f, "revoked_silent");
    int64_t n = mc_agent_record_count(f->cloud, g->revoked_id);
    agent_stats st;
    if (g->a) agent_get_stats(g->a, &st);
    if (rv && rv->pass && (n != g->revoked_count || !g->a || st.state != AGENT_STATE_REVOKED)) {
      rv->pass = 0;
      snprintf(rv->detail, sizeof rv->detail,
               "agent %d: the cloud holds %lld records of the revoked identity (had %lld), state %d",
               (int)i, (long long)n, (long long)g->revoked_count, g->a ? (int)st.state : -1);
    }
  }
}

/* expect.lost_lines / lost_middle_lines (issue #17): which written lines
 * never reached the store, and how many of them were a whole generation of
 * the log between two rotations (the middle one of a double rotation)
 * rather than an older file's unread tail. Lines are numbered per agent; a
 * generation is the lines written between two rotation marks. */
static void rotation_check_store(fleet *f, const char *db_path) {
  const sim_scenario *s = f->scn;
  if (s->lost_min < 0 && s->lost_middle_min < 0) return;
  expectation *e = sim__add_expect(f, s->lost_min >= 0 ? "lost_lines" : "lost_middle_lines");
  if (!e) return;
  uint8_t **bits = calloc((size_t)f->n, sizeof *bits);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int rc = bits ? sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) : SQLITE_NOMEM;
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
    e->pass = 0;
    snprintf(e->detail, sizeof e->detail, "cannot read the cloud store");
  } else {
    int ok = (s->lost_min < 0 || (lost >= s->lost_min && lost <= s->lost_max)) &&
             (s->lost_middle_min < 0 || (middle >= s->lost_middle_min && middle <= s->lost_middle_max));
    e->pass = ok;
    /* Said whether it passes: the report carries the measured figures. */
    snprintf(e->detail, sizeof e->detail,
             "%lld lines never read: %lld in %lld whole generations between two rotations, "
             "%lld unread tails of older files (expected lost %lld..%lld, middle %lld..%lld)",
             (long long)lost, (long long)middle, (long long)gens, (long long)(lost - middle),
             (long long)s->lost_min, (long long)s->lost_max, (long long)s->lost_middle_min,
             (long long)s->lost_middle_max);
  }
  for (int64_t i = 0; bits && i < f->n; i++) free(bits[i]);
  free(bits);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Reads the store: records under an identity their writer never had
 * (misattributed), and lines written since each agent's last copy/restore
 * that reached no identity of theirs (lost). */
static void ident_check_store(fleet *f, const char *db_path) {
  const sim_scenario *s = f->scn;
  if (s->max_misattributed < 0 && !s->at_least_once) return;
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int64_t *seen = calloc((size_t)f->n, sizeof *seen); /* lines since lineage_from found */
  uint8_t **bits = calloc((size_t)f->n, sizeof *bits);
  if (!seen || !bits) {
    free(seen);
    free(bits);
    expectation *e = sim__add_expect(f, s->at_least_once ? "at_least_once" : "max_misattributed");
    if (e) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "out of memory checking attribution");
    }
    return;
  }
  int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
  for (int64_t i = 0; rc == SQLITE_OK && i < f->n; i++) {
    int64_t span = f->ag[i].lines_written - f->ag[i].lineage_from;
    bits[i] = calloc((size_t)(span > 0 ? span : 0) / 8 + 1, 1);
    if (!bits[i]) rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db, "SELECT agent_id, substr(line, 1, 26) FROM records", -1, &st, NULL);
  int64_t mis = 0;
  char example[200] = "";
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
        snprintf(example, sizeof example, "line %lld of agent %d under %s", no, owner, aid);
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
  if (s->max_misattributed >= 0) {
    expectation *e = sim__add_expect(f, "max_misattributed");
    if (e && (rc != SQLITE_OK || mis > s->max_misattributed)) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "%lld records under an identity their host never had (%s)%s",
               (long long)mis, example, rc != SQLITE_OK ? "; store unreadable" : "");
    }
  }
  if (s->at_least_once) {
    expectation *e = sim__add_expect(f, "at_least_once");
    if (e && !seen) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "out of memory");
      e = NULL;
    }
    for (int64_t i = 0; e && seen && i < f->n; i++) {
      int64_t want = f->ag[i].lines_written - f->ag[i].lineage_from;
      if (rc != SQLITE_OK || seen[i] != want) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail,
                 "agent %d: %lld of the %lld lines written since t=%s reached its identities",
                 (int)i, (long long)seen[i], (long long)want,
                 f->ag[i].lineage ? "its copy/restore" : "0");
        break;
      }
    }
  }
  for (int64_t i = 0; bits && i < f->n; i++) free(bits[i]);
  free(bits);
  free(seen);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Cloud-side figures for the report, read while the cloud is open. */
static void ident_collect(fleet *f) {
  mc_get_stats(f->cloud, &f->ident_ms);
  f->alerts_total = mc_alert_count(f->cloud, NULL);
  f->drift_events = mc_event_count(f->cloud, "permission_drift");
}

static void ident_report(fleet *f, FILE *o) {
  const mc_stats ms = f->ident_ms;
  fprintf(o,
          "  \"identity\": {\"clones\": %lld, \"restores\": %lld, \"detected\": %lld,"
          " \"detect_max_ms\": %lld, \"alerts\": %lld, \"checkins\": %lld,"
          " \"clone_refusals\": %lld, \"superseded_refusals\": %lld, \"stale_requests\": %lld,"
          " \"probation_refusals\": %lld, \"replays_refused\": %lld, \"attacks\": %lld,"
          " \"attacks_refused\": %lld, \"drift_events\": %lld, \"misattributed\": %lld},\n",
          (long long)f->clones, (long long)f->restores, (long long)f->detected,
          (long long)f->detect_max_ms, (long long)f->alerts_total,
          (long long)ms.checkins, (long long)ms.clone_refusals, (long long)ms.superseded_refusals,
          (long long)ms.stale_requests, (long long)ms.probation_refusals,
          (long long)ms.replays_refused, (long long)f->attacks, (long long)f->attacks_refused,
          (long long)f->drift_events, (long long)f->misattributed);
}

/* ---- counters ----------------------------------------------------------- */

typedef struct totals {
  int64_t shed_bytes;
  int64_t lines, produced, acked, spooled, shed, batches_sent, batches_acked, batch_failures,
      enrollments, sessions, log_failures, restarts, crashes, power_cuts;
} totals;

static void sum_agents(fleet *f, totals *t) {
  memset(t, 0, sizeof *t);
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    t->lines += g->lines_written;
    t->log_failures += g->log_failures;
    t->restarts += g->restarts;
    t->crashes += g->crashes;
    t->power_cuts += g->power_cuts;
    if (!g->a) continue;
    agent_stats s;
    agent_get_stats(g->a, &s);
    t->produced += s.produced;
    t->acked += s.acked;
    t->spooled += s.spooled;
    t->shed += s.shed;
    t->shed_bytes += s.shed_bytes;
    t->batches_sent += s.batches_sent;
    t->batches_acked += s.batches_acked;
    t->batch_failures += s.batch_failures;
    t->enrollments += s.enrollments;
    t->sessions += s.sessions;
  }
}

static void hour_line(fleet *f) {
  totals t;
  sum_agents(f, &t);
  sim_net_stats ns;
  sim_net_get_stats(f->net, &ns);
  sim_trace_line(f->trace,
                 "{\"t\":%lld,\"type\":\"hour\",\"hour\":%lld,\"events\":%lld,\"hash\":\"%016" PRIx64
                 "\",\"lines_written\":%lld,\"produced\":%lld,\"acked\":%lld,\"spooled\":%lld,"
                 "\"cloud_records\":%lld,\"requests\":%lld,\"lost_in\":%lld,\"lost_out\":%lld,"
                 "\"refused\":%lld,\"ledger_checks\":%lld}",
                 (long long)f->now, (long long)(f->now / 3600000), (long long)sim_trace_events(f->trace),
                 sim_trace_hash(f->trace), (long long)t.lines, (long long)t.produced,
                 (long long)t.acked, (long long)t.spooled, (long long)mc_total_records(f->cloud),
                 (long long)ns.requests, (long long)ns.lost_in, (long long)ns.lost_out,
                 (long long)ns.refused, (long long)f->ledger_checks);
}

/* report.html's timeline (sim_report.h): the fleet at time t, read between
 * events, so it is the state every event before t left. Reads only. */
static void timeline_sample(fleet *f, int64_t t, int final) {
  sim_report_sample *s = sim_report_sample_add(f->tl, t, final);
  if (!s) return;
  totals tt;
  sum_agents(f, &tt);
  s->spooled = tt.spooled;
  s->shed = tt.shed;
  s->produced = tt.produced;
  s->acked = tt.acked;
  s->restarts = tt.restarts;
  s->crashes = tt.crashes;
  s->power_cuts = tt.power_cuts;
  s->cloud_records = mc_total_records(f->cloud);
  s->alerts = mc_alert_count(f->cloud, NULL);
  for (int r = 0; r < SIM_REPORT_RINGS; r++) s->installs[r] = f->installs_by_ring[r];
  s->rollbacks = f->rollbacks;
  if (!f->upd) return;
  f->tl->updates = 1;
  f->tl->rings = f->rings_on;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *g = &f->ag[i];
    int r = f->rings_on && g->ring >= 0 && g->ring < 2 ? g->ring : 2;
    s->on_version[r][sim_report_version_slot(f->tl, sim__record_of(f, g))]++;
  }
}

/* ---- the event loop ----------------------------------------------------- */

static void progress(const fleet *f, int64_t popped, int done) {
  if (!f->opt->progress) return;
  sim_progress p = {f->now, f->drain_end_ms, f->n, popped, done};
  f->opt->progress(f->opt->progress_user, &p);
}

static void run_loop(fleet *f) {
  sim_event ev;
  int64_t popped = 0;
  while (!f->stop && sim_queue_pop(f->q, &ev) == SIM_QUEUE_OK) {
    /* at most SIM_REPORT_MAX_SAMPLES in all: next_ms ends at INT64_MAX */
    while (f->tl && ev.time_ms >= f->tl->next_ms) timeline_sample(f, f->tl->next_ms, 0);
    f->now = ev.time_ms;
    if (++popped % SIM_PROGRESS_EVENTS == 0) progress(f, popped, 0);
    sim_agent *g = ev.agent >= 0 && ev.agent < f->n ? &f->ag[ev.agent] : NULL;
    int64_t result = 0;
    switch (ev.type) {
      case EV_STEP:
        if (!g || ev.arg != g->step_gen || !g->step_pending) continue; /* stale */
        g->step_pending = 0;
        result = run_step(f, g);
        break;
      case EV_NET_DELIVER:
      case EV_NET_COMPLETE: {
        sim_net_result nr;
        sim_net_dispatch(f->net, &ev, &nr);
        if (ev.type == EV_NET_DELIVER && g) g->cloud_stale = 1;
        if (ev.type == EV_NET_DELIVER && f->rate) {
          int64_t m = f->now / 60000;
          if (m >= 0 && m < f->rate_len && ++f->rate[m] > f->rate_peak) {
            f->rate_peak = f->rate[m];
            f->rate_peak_min = m;
          }
        }
        result = nr.error ? nr.error : nr.status;
        if (nr.called && g) run_step(f, g);
        if (nr.called && g && g->a && nr.error == NET_ETLS) {
          /* issue #16: did the agent say what went wrong? */
          agent_stats ts;
          agent_get_stats(g->a, &ts);
          g->tls_errors++;
          g->tls_logged += strstr(ts.last_error, "TLS failure") != NULL;
        }
        break;
      }
      case EV_LOG:
        if (!g || !f->loggen_on) continue;
        result = sim__write_line(f, g);
        sim__push(f, EV_LOG, g->idx, f->now + sim__next_line_gap(f, g), 0);
        break;
      case EV_SCENARIO:
        sim__scenario_event(f, (int)ev.arg);
        result = (int64_t)ev.arg;
        break;
      case EV_OUTAGE_END:
        if (f->outages > 0 && --f->outages == 0) sim_net_set_cloud_down(f->net, 0);
        sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"fault_end\",\"fault\":\"cloud_outage\"}",
                       (long long)f->now);
        break;
      case EV_TLS_END:
        if (g && g->tls_fails > 0 && --g->tls_fails == 0) sim_net_set_tls_fail(f->net, g->idx, 0);
        break;
      case EV_PARTITION_END:
        if (g && g->partitions > 0 && --g->partitions == 0) sim_net_set_partition(f->net, g->idx, 0);
        break;
      case EV_HOUR:
        hour_line(f);
        if (f->now + 3600000 <= f->drain_end_ms) sim__push(f, EV_HOUR, -1, f->now + 3600000, 0);
        break;
      case EV_END:
        f->loggen_on = 0;
        /* no new faults in the drain: disarm power cuts that never fired */
        for (int64_t i = 0; i < f->n; i++) sim_fs_power_cut_at(f->ag[i].fs, 0, NULL, NULL);
        sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"drain_start\",\"drain_s\":%lld}",
                       (long long)f->now, (long long)f->scn->drain_s);
        break;
      case EV_DRAIN_END:
        f->stop = 2;
        break;
      case EV_UPD_TICK: /* outpost-cloud serve's 60 s re-signing timer */
        sim_update_tick(f->upd, SIM_WALL_EPOCH_MS + f->now);
        if (f->now + 60000 <= f->drain_end_ms) sim__push(f, EV_UPD_TICK, -1, f->now + 60000, 0);
        continue; /* not an event of the trace: keeps traces of runs without updates as they were */
      default:
        continue;
    }
    sim_trace_event(f->trace, ev.type, ev_names[ev.type], f->now, ev.agent, result);
    if (g && g->cut && g->a) sim__reboot_after_cut(f, g);
    if (g) sim__ledger_check(f, g);
    if (g) sim__ident_watch(f, g);
    if (g && f->rings_on) sim__ring_assign(f, g);
  }
  progress(f, popped, 1);
}

/* ---- end-of-run checks -------------------------------------------------- */

/* issue #13 expectations read off the hosts (the store's part is in
 * local_check_store). */
static void local_check_end(fleet *f) {
  const sim_scenario *s = f->scn;
  if (s->max_blocked_opens >= 0) {
    expectation *e = sim__add_expect(f, "max_blocked_opens");
    int64_t total = 0, first = -1;
    for (int64_t i = 0; i < f->n; i++) {
      int64_t b = sim_fs_blocked_opens(f->ag[i].fs);
      if (b > 0 && first < 0) first = i;
      total += b;
    }
    if (e && total > s->max_blocked_opens) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail,
               "%lld opens would have blocked for ever (a FIFO opened without O_NONBLOCK; "
               "first on agent %lld), bound %lld",
               (long long)total, (long long)first, (long long)s->max_blocked_opens);
    }
  }
  if (s->refusals_reported) {
    expectation *e = sim__add_expect(f, "refusals_reported");
    int64_t attacked = 0;
    for (int64_t i = 0; e && i < f->n; i++) {
      sim_agent *g = &f->ag[i];
      if (g->swaps == 0) continue;
      attacked++;
      pstate_info pi;
      memset(&pi, 0, sizeof pi);
      if (g->a) agent_policy_info(g->a, &pi);
      if (pi.refused_total < 1) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail,
                 "agent %d: %lld files swapped under it, no path refused", (int)i,
                 (long long)g->swaps);
        break;
      }
    }
    if (e && e->pass && attacked == 0) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "no local_attack swapped any file: nothing was tested");
    }
  }
}

/* expect.no_secret_shipped and the cloud's half of refusals_reported. */
static void local_check_store(fleet *f, const char *db_path) {
  const sim_scenario *s = f->scn;
  if (!s->no_secret_shipped && !s->refusals_reported) return;
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
  if (s->no_secret_shipped) {
    expectation *e = sim__add_expect(f, "no_secret_shipped");
    int64_t n = -1;
    char first[160] = "";
    if (rc == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*), min(source) FROM records WHERE instr(line, '"
                               SIM_SCN_SECRET_MARK "') > 0", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
      const unsigned char *src = sqlite3_column_text(st, 1);
      snprintf(first, sizeof first, "%s", src ? (const char *)src : "");
    }
    sqlite3_finalize(st);
    st = NULL;
    if (e && n != 0) {
      e->pass = 0;
      if (n < 0)
        snprintf(e->detail, sizeof e->detail, "cannot read the cloud store");
      else
        snprintf(e->detail, sizeof e->detail,
                 "the cloud holds %lld records from secret files (first source %.120s)",
                 (long long)n, first);
    }
  }
  if (s->refusals_reported) {
    expectation *e = sim__add_expect(f, "refusals_reported_to_cloud");
    if (rc != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT count(*) FROM policy_reports WHERE agent_id = ?1 AND "
                               "instr(refused, '/var/log/') > 0", -1, &st, NULL) != SQLITE_OK) {
      if (e) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail, "cannot read the cloud store");
      }
    }
    for (int64_t i = 0; e && st && e->pass && i < f->n; i++) {
      sim_agent *g = &f->ag[i];
      if (g->swaps == 0 || g->n_ids == 0) continue;
      sqlite3_reset(st);
      sqlite3_bind_text(st, 1, g->ids[g->n_ids - 1], -1, SQLITE_STATIC);
      if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) < 1) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail,
                 "agent %d: no policy report to the cloud names a refused /var/log/ path",
                 (int)i);
      }
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
}

/* issue #16: cloud_lie and tls_failure, agent by agent. */
static void lie_check_end(fleet *f) {
  const sim_scenario *s = f->scn;
  static const char *const kinds[] = {"?", "session_swap", "policy_rollback", "ack_beyond"};
  if (s->lies_refused) {
    expectation *e = sim__add_expect(f, "lies_refused");
    int64_t told = 0, refused = 0, hit = 0;
    for (int64_t i = 0; e && f->lie && i < f->n && e->pass; i++)
      for (int k = 1; k <= SIM_LIE_KINDS && e->pass; k++) {
        sim_lie_counts c;
        sim_lie_get(f->lie, i, k, &c);
        if (!c.hit) continue;
        hit++;
        told += c.told;
        refused += c.refused;
        if (c.believed > 0 || c.told == 0 || c.refused == 0) {
          e->pass = 0;
          snprintf(e->detail, sizeof e->detail,
                   "agent %lld, %s: %lld lies told, %lld refused, %lld believed%s", (long long)i,
                   kinds[k], (long long)c.told, (long long)c.refused, (long long)c.believed,
                   c.told == 0 ? " (the lie never reached it: the check proves nothing)" : "");
        }
      }
    if (e && !f->lie) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "no cloud_lie event: nothing to refuse");
    }
    if (e && e->pass)
      snprintf(e->detail, sizeof e->detail,
               "%lld agent-lies: %lld lies told, %lld refused, none believed", (long long)hit,
               (long long)told, (long long)refused);
  }
  if (s->tls_reported) {
    expectation *e = sim__add_expect(f, "tls_reported");
    int64_t hit = 0, errs = 0;
    for (int64_t i = 0; e && i < f->n && e->pass; i++) {
      sim_agent *g = &f->ag[i];
      if (!g->tls_hit) continue;
      hit++;
      errs += g->tls_errors;
      if (g->tls_errors == 0 || g->tls_logged == 0) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail,
                 "agent %lld: %lld failed handshakes, %lld logged as a TLS problem", (long long)i,
                 (long long)g->tls_errors, (long long)g->tls_logged);
      }
    }
    if (e && hit == 0) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "no tls_failure event hit any agent");
    }
    if (e && e->pass)
      snprintf(e->detail, sizeof e->detail, "%lld agents, %lld failed handshakes, each agent logged them",
               (long long)hit, (long long)errs);
  }
}

static void check_end(fleet *f) {
  const sim_scenario *s = f->scn;
  local_check_end(f);
  lie_check_end(f);
  if (s->exactly_once) {
    expectation *e = sim__add_expect(f, "exactly_once");
    for (int64_t i = 0; e && i < f->n; i++) {
      sim_agent *g = &f->ag[i];
      if (!g->a) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail, "agent %d is not running", (int)i);
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
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail,
                 "agent %d: lines written %lld, produced %lld, cloud holds %lld (spooled %lld, shed %lld)",
                 (int)i, (long long)g->lines_written, (long long)st.produced, (long long)c,
                 (long long)st.spooled, (long long)st.shed);
        break;
      }
    }
  }
  if (s->shed_reported || s->min_shed > 0) {
    expectation *e = sim__add_expect(f, "shed_reported");
    int64_t total = 0;
    for (int64_t i = 0; e && i < f->n; i++) {
      sim_agent *g = &f->ag[i];
      if (!g->a) continue;
      agent_stats st;
      agent_get_stats(g->a, &st);
      int64_t reps = 0, recs = 0, bytes = 0;
      if (st.agent_id[0]) mc_agent_shed_summary(f->cloud, st.agent_id, &reps, &recs, &bytes);
      total += st.shed;
      if (e->pass && (recs != st.shed || bytes != st.shed_bytes || st.shed_reported != st.shed)) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail,
                 "agent %d shed %lld records (%lld bytes, %lld marked reported); the cloud "
                 "stored %lld reports for %lld records (%lld bytes)",
                 (int)i, (long long)st.shed, (long long)st.shed_bytes,
                 (long long)st.shed_reported, (long long)reps, (long long)recs,
                 (long long)bytes);
      }
    }
    if (e && e->pass && total < s->min_shed) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail,
               "the fleet shed %lld records; the scenario must make it shed at least %lld",
               (long long)total, (long long)s->min_shed);
    }
  }
  if (s->max_requests_per_min > 0) {
    expectation *e = sim__add_expect(f, "max_requests_per_min");
    int64_t peak = 0, at = 0;
    for (int64_t m = s->rate_from_s / 60; f->rate && m < f->rate_len; m++)
      if (f->rate[m] > peak) peak = f->rate[m], at = m;
    if (e && peak > s->max_requests_per_min) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail,
               "the cloud saw %lld requests in minute %lld (bound %lld from minute %lld)",
               (long long)peak, (long long)at, (long long)s->max_requests_per_min,
               (long long)(s->rate_from_s / 60));
    }
  }
  if (s->policy_applied > 0) {
    /* Every agent runs the expected version, and said so to the cloud. */
    expectation *e = sim__add_expect(f, "policy_applied");
    int64_t rejected = 0;
    for (int64_t i = 0; e && i < f->n; i++) {
      sim_agent *g = &f->ag[i];
      agent_stats st;
      mc_policy_report rep;
      if (!g->a) continue;
      agent_get_stats(g->a, &st);
      if (!st.agent_id[0] || mc_policy_last_report(f->cloud, st.agent_id, &rep) != MC_OK ||
          rep.applied_version != s->policy_applied) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail, "agent %d runs policy %lld (expected %lld)", (int)i,
                 (long long)(st.agent_id[0] ? rep.applied_version : -1),
                 (long long)s->policy_applied);
        break;
      }
      if (mc_policy_rejections(f->cloud, st.agent_id) > 0) rejected++;
    }
    if (e && e->pass)
      snprintf(e->detail, sizeof e->detail, "%lld of %lld agents rejected at least one policy",
               (long long)rejected, (long long)f->n);
  }
  if (s->max_records_per_s > 0) {
    /* Violations stopped the run (sim__set_failure); here: every agent was
     * capped, or the check proved nothing. */
    expectation *e = sim__add_expect(f, "max_records_per_s");
    int64_t never = 0;
    for (int64_t i = 0; i < f->n; i++)
      if (!f->ag[i].cap_a) never++;
    if (e && never > 0) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "%lld agents never ran a rate-capped policy",
               (long long)never);
    } else if (e) {
      snprintf(e->detail, sizeof e->detail,
               "%lld agent runs capped at %lld records/s; highest average over 10 s or more: "
               "%lld records/s",
               (long long)f->capped_agents, (long long)s->max_records_per_s,
               (long long)f->cap_peak_rate);
    }
  }
  if (s->metrics_reported) {
    /* Each agent's latest check-in metrics are stored, and agree with the
     * agent's own figures: the policy it runs, the cap it enforces. */
    expectation *e = sim__add_expect(f, "metrics_reported");
    for (int64_t i = 0; e && i < f->n; i++) {
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
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail,
                 "agent %d: cloud metrics missing or disagree (policy %lld, cap %lld): %.300s",
                 (int)i, (long long)pi.version, (long long)ci.rate, row.json);
        break;
      }
    }
    if (e && e->pass)
      snprintf(e->detail, sizeof e->detail, "%lld agents' metrics stored by the cloud",
               (long long)f->n);
  }
  if (s->no_denied_open) {
    expectation *e = sim__add_expect(f, "no_denied_open");
    int64_t refused = 0;
    for (int64_t i = 0; e && i < f->n; i++) {
      if (f->ag[i].os.denied_opens > 0) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail, "agent %d opened %s", (int)i,
                 f->ag[i].os.denied_first);
        break;
      }
      if (f->ag[i].a) {
        pstate_info pi;
        agent_policy_info(f->ag[i].a, &pi);
        refused += pi.refused_total;
      }
    }
    if (e && e->pass)
      snprintf(e->detail, sizeof e->detail,
               "no denied path opened; %lld path refusals reported by the fleet",
               (long long)refused);
  }
  if (s->max_spooled_at_end >= 0) {
    expectation *e = sim__add_expect(f, "max_spooled_at_end");
    for (int64_t i = 0; e && i < f->n; i++) {
      if (!f->ag[i].a) continue;
      agent_stats st;
      agent_get_stats(f->ag[i].a, &st);
      if (st.spooled > s->max_spooled_at_end) {
        e->pass = 0;
        snprintf(e->detail, sizeof e->detail, "agent %d has %lld records spooled (max %lld)",
                 (int)i, (long long)st.spooled, (long long)s->max_spooled_at_end);
        break;
      }
    }
  }
}

/* Independent of the cloud's own counters: reads its store with SQL. */
static void check_store(fleet *f, const char *db_path, int64_t total_lines) {
  expectation *e = sim__add_expect(f, "exactly_once_store");
  char detail[512] = "";
  /* Records the cloud holds inside a reported shed range (a shed batch that
   * had also arrived) count once: lines = rows + shed - both. */
  int64_t shed_missing = shed_overlap_check(f, db_path, detail, sizeof detail);
  if (shed_missing < 0) {
    if (e) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail, "%s", detail);
    }
    return;
  }
  total_lines -= shed_missing;
  if (!e) return;
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db,
                            "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT agent_id, line "
                            "FROM records)) FROM records",
                            -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    e->pass = 0;
    snprintf(e->detail, sizeof e->detail, "cannot read the cloud store: %s",
             db ? sqlite3_errmsg(db) : "open failed");
  } else {
    int64_t rows = sqlite3_column_int64(st, 0), distinct = sqlite3_column_int64(st, 1);
    if (rows != distinct || rows != total_lines) {
      e->pass = 0;
      snprintf(e->detail, sizeof e->detail,
               "store holds %lld rows, %lld distinct (agent, line); %lld lines were written",
               (long long)rows, (long long)distinct, (long long)total_lines);
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Sum over agents of (shed records the cloud does not also hold), from the
 * store's shed_reports and records; -1 with detail on a store error. */
static int64_t shed_overlap_check(fleet *f, const char *db_path, char *detail, size_t cap) {
  (void)f;
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

/* ---- report ------------------------------------------------------------- */

static int write_report(fleet *f, const char *path, const totals *t, const sim_net_stats *ns,
                        const mc_stats *ms) {
  FILE *o = fopen(path, "w");
  if (!o) return -1;
  char name[300];
  sim__json_escape(f->scn->name, name, sizeof name);
  fprintf(o, "{\n  \"scenario\": \"%s\",\n  \"seed\": %" PRIu64 ",\n  \"agents\": %lld,\n", name,
          f->opt->seed, (long long)f->n);
  fprintf(o, "  \"duration_s\": %lld,\n  \"drain_s\": %lld,\n  \"simulated_ms\": %lld,\n",
          (long long)f->scn->duration_s, (long long)f->scn->drain_s, (long long)f->now);
  fprintf(o,
          "  \"counters\": {\n    \"events\": %lld,\n    \"steps\": %lld,\n    \"lines_written\": %lld,\n"
          "    \"log_write_failures\": %lld,\n    \"produced\": %lld,\n    \"records_acked\": %lld,\n"
          "    \"spooled_at_end\": %lld,\n    \"shed\": %lld,\n    \"cloud_records\": %lld,\n"
          "    \"cloud_duplicates\": %lld,\n    \"requests\": %lld,\n    \"delivered\": %lld,\n"
          "    \"lost_requests\": %lld,\n    \"lost_responses\": %lld,\n    \"refused\": %lld,\n"
          "    \"timeouts\": %lld,\n    \"batches_sent\": %lld,\n    \"batches_acked\": %lld,\n"
          "    \"batch_failures\": %lld,\n    \"enrollments\": %lld,\n    \"sessions\": %lld,\n"
          "    \"restarts\": %lld,\n    \"crashes\": %lld,\n    \"power_cuts\": %lld,\n"
          "    \"faults\": %lld\n  },\n",
          (long long)sim_trace_events(f->trace), (long long)f->steps, (long long)t->lines,
          (long long)t->log_failures, (long long)t->produced, (long long)t->acked,
          (long long)t->spooled, (long long)t->shed, (long long)ms->records_stored,
          (long long)ms->duplicates, (long long)ns->requests, (long long)ns->delivered,
          (long long)ns->lost_in, (long long)ns->lost_out, (long long)ns->refused,
          (long long)ns->timeouts, (long long)t->batches_sent, (long long)t->batches_acked,
          (long long)t->batch_failures, (long long)t->enrollments, (long long)t->sessions,
          (long long)t->restarts, (long long)t->crashes, (long long)t->power_cuts,
          (long long)f->faults);
  fprintf(o, "  \"ledger_checks\": %lld,\n  \"trace_hash\": \"%016" PRIx64 "\",\n",
          (long long)f->ledger_checks, sim_trace_hash(f->trace));
  fprintf(o, "  \"quota_checks\": %lld,\n  \"shed_bytes\": %lld,\n", (long long)f->quota_checks,
          (long long)t->shed_bytes);
  ident_report(f, o);
  /* The cloud's request-rate curve: [minute, requests arriving] for every
   * minute with traffic (outage minutes included: refused requests count). */
  if (f->upd)
    fprintf(o,
            "  \"update\": {\"installs\": %lld, \"rollbacks\": %lld, \"switch_power_cuts\": %lld, "
            "\"switch_cut_steps\": %u, \"boot_switches\": %lld, \"bin_pruned\": %lld},\n",
            (long long)sim_update_installs(f->upd), (long long)f->rollbacks,
            (long long)f->switch_cuts, (unsigned)f->switch_cut_steps, (long long)f->boot_switches,
            (long long)f->bin_pruned);
  fprintf(o, "  \"requests_per_min_peak\": [%lld, %lld],\n  \"requests_per_min\": [",
          (long long)f->rate_peak_min, (long long)f->rate_peak);
  for (int64_t m = 0, k = 0; f->rate && m < f->rate_len; m++)
    if (f->rate[m]) fprintf(o, "%s[%lld,%lld]", k++ ? "," : "", (long long)m, (long long)f->rate[m]);
  fprintf(o, "],\n");
  char fail[1100];
  char d[1100];
  sim__json_escape(f->failure, fail, sizeof fail);
  fprintf(o, "  \"failure\": \"%s\",\n  \"expectations\": [", fail);
  for (int i = 0; i < f->n_exp; i++) {
    sim__json_escape(f->exp[i].detail, d, sizeof d);
    fprintf(o, "%s\n    {\"name\": \"%s\", \"pass\": %s, \"detail\": \"%s\"}", i ? "," : "",
            f->exp[i].name, f->exp[i].pass ? "true" : "false", d);
  }
  fprintf(o, "\n  ]\n}\n");
  return fclose(o) == 0 ? 0 : -1;
}

/* ---- set-up and tear-down ----------------------------------------------- */

static int mkdir_p(char *dir) {
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int rc = mkdir(dir, 0755);
    *p = '/';
    if (rc != 0 && errno != EEXIST) return -1;
  }
  return mkdir(dir, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void store_uri(const char *path, char *out, size_t cap) {
  size_t o = (size_t)snprintf(out, cap, "file:");
  for (const char *p = path; *p && o + 4 < cap; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '?' || c == '#' || c == '%' || c <= ' ' || c >= 0x7f)
      o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
    else
      out[o++] = (char)c;
  }
  out[o] = 0;
  snprintf(out + o, cap - o, "?nolock=1");
}

static void remove_store(const char *db) {
  static const char *const suffix[] = {"", "-journal", "-wal", "-shm"};
  char p[1100];
  for (size_t i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s%s", db, suffix[i]);
    unlink(p);
  }
}

int sim_run(const sim_scenario *scn, const sim_run_options *opt, sim_run_result *res, char *err,
            size_t err_cap) {
  memset(res, 0, sizeof *res);
  if (err && err_cap) err[0] = 0;
  /* --agents other than the file's fleet: the expectations that are
   * absolute counts are scaled on a private copy (sim_scenario_scale) */
  sim_scenario *scaled = NULL;
  int scaled_changed = 0;
  const int64_t file_agents = scn->agents;
  if (opt->agents > 0 && opt->agents != scn->agents) {
    scaled = malloc(sizeof *scaled);
    if (!scaled) {
      snprintf(err, err_cap, "out of memory");
      return SIM_RUN_ESETUP;
    }
    *scaled = *scn;
    scaled_changed = sim_scenario_scale(scaled, opt->agents);
    if (scaled_changed < 0) {
      snprintf(err, err_cap, "--agents %lld: out of range", (long long)opt->agents);
      free(scaled);
      return SIM_RUN_ESETUP;
    }
    scn = scaled;
  }
  fleet *f = calloc(1, sizeof *f);
  if (!f) {
    snprintf(err, err_cap, "out of memory");
    free(scaled);
    return SIM_RUN_ESETUP;
  }
  f->scn = scn;
  f->opt = opt;
  f->n = opt->agents > 0 ? opt->agents : scn->agents;
  int ret = SIM_RUN_ESETUP;
  char dir[1024], db_path[1100], path[1100], tpath[1100];
  int temp_dir = 0;
  log_ctx *lcs = NULL;
  if (opt->out_dir) {
    snprintf(dir, sizeof dir, "%s", opt->out_dir);
    if (mkdir_p(dir) != 0) {
      snprintf(err, err_cap, "%s: cannot create: %s", dir, strerror(errno));
      goto out;
    }
  } else {
    snprintf(dir, sizeof dir, "/tmp/outpost-sim-XXXXXX");
    if (!mkdtemp(dir)) {
      snprintf(err, err_cap, "cannot create a temporary directory: %s", strerror(errno));
      goto out;
    }
    temp_dir = 1;
  }
  snprintf(db_path, sizeof db_path, "%s/cloud.db", dir);
  remove_store(db_path);

  sim_rng_seed(&f->cloud_rng, opt->seed, SIM_RNG_CLOUD);
  sim_rng_seed(&f->fault_rng, opt->seed, SIM_RNG_FAULTS);
  const char *trace_path = NULL; /* NULL: trace kept in memory only */
  if (opt->out_dir) {
    snprintf(tpath, sizeof tpath, "%s/trace.jsonl", dir);
    trace_path = tpath; /* kept: report.html reads it at the end */
  }
  if (sim_trace_open(trace_path, opt->trace_full, &f->trace) != SIM_TRACE_OK) {
    snprintf(err, err_cap, "%s: cannot write the trace", trace_path ? trace_path : "(in memory)");
    goto out;
  }
  mc_env env = {.ctx = f, .wall_ms = sim__cloud_wall, .random = sim__cloud_random};
  mc_options mo = {.session_ttl_s = scn->session_ttl_s, .challenge_ttl_s = 60, .durable = 0,
                   .probation_s = scn->probation_s};
  char mcerr[256] = "";
  /* The store is private to this process: "nolock" spares SQLite's fcntl
   * locking, which otherwise dominates the run (a lock per statement). */
  char uri[3400];
  store_uri(db_path, uri, sizeof uri);
  if (mc_open(uri, &env, &mo, &f->cloud, mcerr, sizeof mcerr) != MC_OK) {
    snprintf(err, err_cap, "mock cloud: %s", mcerr);
    goto out;
  }
  if (mc_workspace_add(f->cloud, "sim", f->token, sizeof f->token) != MC_OK) {
    snprintf(err, err_cap, "mock cloud: cannot add the workspace");
    goto out;
  }
  f->n_cap = f->n;
  for (int i = 0; i < scn->n_events; i++) {
    const sim_scn_event *e = &scn->events[i];
    if ((e->type >= SIM_SCN_CLONE && e->type <= SIM_SCN_REVOKE) || e->type == SIM_SCN_PLANT)
      f->ident_on = 1;
    if (e->type == SIM_SCN_CLONE) /* sources may themselves be earlier copies */
      f->n_cap += sim_scenario_event_agents(e, f->n_cap) * e->copies;
    if (e->type == SIM_SCN_FOREIGN && !f->other_token[0] &&
        mc_workspace_add(f->cloud, "other", f->other_token, sizeof f->other_token) != MC_OK) {
      snprintf(err, err_cap, "mock cloud: cannot add the second workspace");
      goto out;
    }
  }
  if (scn->n_alerts || scn->clone_detect_within_s >= 0 || scn->max_misattributed >= 0 ||
      scn->at_least_once || scn->originals_untouched || scn->min_drift_events >= 0 ||
      scn->max_foreign_owned_state_files >= 0 || scn->planted_policy_refused)
    f->ident_on = 1;
  if (f->n_cap > SIM_SCN_MAX_AGENTS) {
    snprintf(err, err_cap, "clones would make the fleet larger than %d agents", SIM_SCN_MAX_AGENTS);
    goto out;
  }
  size_t cap = (size_t)f->n_cap * 64 + 65536;
  if (sim_queue_create(cap, &f->q) != SIM_QUEUE_OK ||
      sim_net_create((int)f->n_cap, f->cloud, f->q, &f->now, opt->seed, EV_NET_DELIVER,
                     EV_NET_COMPLETE, &f->net) != SIM_NET_OK) {
    snprintf(err, err_cap, "out of memory");
    goto out;
  }
  sim_net_params np = {.latency_min_ms = scn->latency_min_ms,
                       .latency_max_ms = scn->latency_max_ms,
                       .loss = scn->loss,
                       .response_loss = scn->response_loss};
  sim_net_set_params(f->net, &np);
  sim__build_config(f);
  if (scn->update_check_interval_s > 0) {
    char uerr[400] = "";
    if (sim_update_create(opt->seed, SIM_WALL_EPOCH_MS, f->n_cap, &f->upd, uerr, sizeof uerr) !=
        SIM_UPD_OK) {
      snprintf(err, err_cap, "%s", uerr);
      goto out;
    }
    sim_net_set_handler(f->net, sim_update_serve, f->upd);
    f->cfg.update_enabled = 1;
    snprintf(f->cfg.update_trusted_root, sizeof f->cfg.update_trusted_root, "%s", ROOT_PATH);
    f->cfg.update_check_interval_ms = scn->update_check_interval_s * 1000;
    snprintf(f->cfg.update_release_key_pem, sizeof f->cfg.update_release_key_pem, "%s",
             sim_update_release_pem(f->upd));
    const char *pem = sim_update_release_pem(f->upd);
    if (release_key_load(pem, strlen(pem), f->rel_der, sizeof f->rel_der, &f->rel_len) != RELEASE_OK) {
      snprintf(err, err_cap, "the repository's release key does not load");
      goto out;
    }
    if (scn->ring_pct[0] > 0 || scn->ring_pct[1] > 0) {
      /* fleet.rings: the first agents by index are canary, the next
       * early-access, the rest stable; each ring but stable a group whose
       * policy names it (docs/scenarios.md "Rings"). */
      f->rings_on = 1;
      for (int k = 0; k < 2; k++) {
        int64_t m = (int64_t)floor((double)f->n * scn->ring_pct[k] / 100.0);
        f->ring_n[k] = scn->ring_pct[k] > 0 && m < 1 ? 1 : m;
        char pol[64], perr[128] = "";
        int64_t pv = 0;
        snprintf(pol, sizeof pol, "{\"update_ring\":\"%s\"}", sim__ring_names[k]);
        if (mc_policy_set_group(f->cloud, "sim", sim__ring_names[k], pol, strlen(pol), &pv, perr,
                                sizeof perr) != MC_OK) {
          snprintf(err, err_cap, "ring group %s: %s", sim__ring_names[k], perr);
          goto out;
        }
      }
    }
  }
  f->ag = calloc((size_t)f->n_cap, sizeof *f->ag);
  f->zctx = wire_zctx_new(); /* NULL: a context per batch (the same bytes) */
  f->perm = calloc((size_t)f->n_cap, sizeof *f->perm);
  lcs = calloc((size_t)f->n_cap, sizeof *lcs);
  f->lcs = lcs;
  for (int i = 0; i < scn->n_events; i++) {
    if (scn->events[i].type == SIM_SCN_REPLAY) sim_net_set_tap(f->net, sim__capture, f);
    if (scn->events[i].type == SIM_SCN_CLOUD_LIE && !f->lie) {
      if (sim_lie_create(f->n_cap, &f->now, &f->lie) != 0) {
        snprintf(err, err_cap, "out of memory");
        goto out;
      }
      sim_net_set_filter(f->net, sim_lie_filter, f->lie);
    }
  }
  if (!f->ag || !f->perm || !lcs) {
    snprintf(err, err_cap, "out of memory");
    goto out;
  }
  char esc[300];
  sim__json_escape(scn->name, esc, sizeof esc);
  sim_trace_line(f->trace,
                 "{\"t\":0,\"type\":\"start\",\"scenario\":\"%s\",\"seed\":%" PRIu64
                 ",\"agents\":%lld,\"duration_s\":%lld,\"drain_s\":%lld}",
                 esc, opt->seed, (long long)f->n, (long long)scn->duration_s,
                 (long long)scn->drain_s);
  if (scaled_changed) /* the bounds checked are not the file's: say so */
    sim_trace_line(f->trace, "{\"t\":0,\"type\":\"scaled\",\"from_agents\":%lld,\"to_agents\":%lld}",
                   (long long)file_agents, (long long)f->n);
  for (int64_t i = 0; i < f->n; i++) {
    if (sim__setup_agent(f, &f->ag[i], (int32_t)i, &lcs[i]) != 0) {
      snprintf(err, err_cap, "agent %lld: cannot set up its simulated host", (long long)i);
      goto out;
    }
  }
  f->end_ms = scn->duration_s * 1000;
  f->drain_end_ms = f->end_ms + scn->drain_s * 1000;
  f->rate_len = f->drain_end_ms / 60000 + 2;
  f->rate = calloc((size_t)f->rate_len, sizeof *f->rate);
  if (!f->rate) {
    snprintf(err, err_cap, "out of memory");
    goto out;
  }
  if (opt->out_dir && !(f->tl = sim_report_timeline_new(f->drain_end_ms))) {
    snprintf(err, err_cap, "out of memory");
    goto out;
  }
  f->loggen_on = scn->lines_per_min > 0;
  /* Timeline: scenario events first so a fault at t=0 precedes the agents. */
  for (int i = 0; i < scn->n_events; i++) sim__push(f, EV_SCENARIO, -1, scn->events[i].at_s * 1000, (uint64_t)i);
  sim__push(f, EV_HOUR, -1, 3600000, 0);
  if (f->upd) sim__push(f, EV_UPD_TICK, -1, 60000, 0);
  sim__push(f, EV_END, -1, f->end_ms, 0);
  sim__push(f, EV_DRAIN_END, -1, f->drain_end_ms, 0);
  ret = SIM_RUN_OK;
  for (int64_t i = 0; i < f->n && !f->stop; i++) {
    sim__open_agent(f, &f->ag[i]);
    if (f->loggen_on) sim__push(f, EV_LOG, (int32_t)i, sim__next_line_gap(f, &f->ag[i]), 0);
  }

  expectation *le = sim__add_expect(f, "ledger");
  if (!f->stop) run_loop(f);
  if (f->stop == 1) {
    if (le) {
      le->pass = 0;
      snprintf(le->detail, sizeof le->detail, "%s", f->failure);
    }
  } else {
    check_end(f);
    if (f->ident_on) ident_check_end(f);
    if (f->upd) upd_check_end(f);
  }
  ident_collect(f);
  if (f->tl) timeline_sample(f, f->now, 1);
  totals t;
  sum_agents(f, &t);
  sim_net_stats ns;
  sim_net_get_stats(f->net, &ns);
  mc_stats ms;
  mc_get_stats(f->cloud, &ms);
  res->cloud_records = mc_total_records(f->cloud);
  /* Close the agents and the cloud before reading its store. */
  for (int64_t i = 0; i < f->n; i++) {
    agent_close(f->ag[i].a);
    f->ag[i].a = NULL;
  }
  mc_close(f->cloud);
  f->cloud = NULL;
  if (f->stop != 1 && scn->exactly_once) check_store(f, db_path, t.lines);
  if (f->stop != 1) ident_check_store(f, db_path);
  if (f->stop != 1) rotation_check_store(f, db_path);
  if (f->stop != 1) local_check_store(f, db_path);

  for (int i = 0; i < f->n_exp; i++) {
    res->expectations++;
    if (!f->exp[i].pass) {
      res->expectations_failed++;
      sim__set_failure(f, "%s: %s", f->exp[i].name, f->exp[i].detail);
    }
    sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"expect\",\"name\":\"%s\",\"pass\":%s}",
                   (long long)f->now, f->exp[i].name, f->exp[i].pass ? "true" : "false");
  }
  sim_trace_line(f->trace,
                 "{\"t\":%lld,\"type\":\"end\",\"events\":%lld,\"hash\":\"%016" PRIx64
                 "\",\"lines_written\":%lld,\"ledger_checks\":%lld}",
                 (long long)f->now, (long long)sim_trace_events(f->trace), sim_trace_hash(f->trace),
                 (long long)t.lines, (long long)f->ledger_checks);
  if (opt->out_dir) {
    snprintf(path, sizeof path, "%s/report.json", dir);
    if (write_report(f, path, &t, &ns, &ms) != 0) {
      snprintf(err, err_cap, "%s: cannot write the report", path);
      ret = SIM_RUN_ESETUP;
    }
  }
  res->agents = f->n;
  res->sim_ms = f->now;
  res->events = sim_trace_events(f->trace);
  res->lines_written = t.lines;
  res->records_acked = t.acked;
  res->requests = ns.requests;
  res->ledger_checks = f->ledger_checks;
  res->trace_hash = sim_trace_hash(f->trace);
  snprintf(res->failure, sizeof res->failure, "%s", f->failure);
  /* report.html reads the finished trace (the failing agent's story). */
  if (sim_trace_close(f->trace) != SIM_TRACE_OK && ret == SIM_RUN_OK) {
    snprintf(err, err_cap, "the trace could not be written completely");
    ret = SIM_RUN_ESETUP;
  }
  f->trace = NULL;
  if (opt->out_dir && ret == SIM_RUN_OK) {
    sim_report_expect rx[MAX_EXPECT];
    for (int i = 0; i < f->n_exp; i++)
      rx[i] = (sim_report_expect){.name = f->exp[i].name, .pass = f->exp[i].pass,
                                  .detail = f->exp[i].detail};
    sim_report_input ri = {.scn = scn, .scenario_path = opt->scenario_path, .out_dir = opt->out_dir,
                           .seed = opt->seed, .agents = f->n, .sim_ms = f->now,
                           .lines_written = t.lines, .records_acked = t.acked,
                           .cloud_records = res->cloud_records, .requests = ns.requests,
                           .events = res->events, .trace_hash = res->trace_hash, .tl = f->tl,
                           .rate = f->rate, .rate_len = f->rate_len, .rate_peak = f->rate_peak,
                           .rate_peak_min = f->rate_peak_min, .exp = rx, .n_exp = f->n_exp,
                           .failure = f->failure, .trace_path = trace_path,
                           .trace_full = opt->trace_full};
    snprintf(path, sizeof path, "%s/report.html", dir);
    char rerr[600];
    if (sim_report_write_html(path, &ri, rerr, sizeof rerr) != SIM_REPORT_OK) {
      snprintf(err, err_cap, "%s", rerr);
      ret = SIM_RUN_ESETUP;
    }
  }
  if (ret == SIM_RUN_OK && res->expectations_failed > 0) ret = SIM_RUN_EFAILED;
out:
  if (f->ag)
    for (int64_t i = 0; i < f->n; i++) {
      agent_close(f->ag[i].a);
      sim_fs_free(f->ag[i].fs);
      sim_fs_free(f->ag[i].snap);
      free(f->ag[i].cap.body);
    }
  sim_net_free(f->net);
  sim_queue_free(f->q);
  mc_close(f->cloud);
  sim_update_free(f->upd);
  sim_lie_free(f->lie);
  if (sim_trace_close(f->trace) != SIM_TRACE_OK && ret == SIM_RUN_OK) {
    snprintf(err, err_cap, "the trace could not be written completely");
    ret = SIM_RUN_ESETUP;
  }
  if (temp_dir) {
    remove_store(db_path);
    rmdir(dir);
  }
  free(lcs);
  free(f->rate);
  sim_report_timeline_free(f->tl);
  free(f->perm);
  free(f->ag);
  wire_zctx_free(f->zctx);
  free(f);
  free(scaled);
  return ret;
}
