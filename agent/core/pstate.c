/* pstate.c - the live policy of one agent (see pstate.h). */
#include "core/pstate.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <stdlib.h>
#include <string.h>

#include "core/collect.h"
#include "core/files.h"
#include "core/jread.h"
#include "core/snapdelta.h"

typedef struct refusal {
  char path[POLICY_PATH_MAX];
  char why[POLICY_ERR_MAX];
  int reported;
} refusal;

struct pstate {
  /* Pointers and 64-bit fields first, then ints, then byte arrays: no padding.
   * Owned arrays are sized to use: thousands of simulated agents share one
   * process, and most have no policy files at all. */
  char (*cfg_paths)[CONFIG_PATH_MAX]; /* local sources win; n_cfg entries */
  tail_source *files;                 /* n_files entries, NULL when none */
  refusal *refused;             /* PSTATE_MAX_REFUSED entries, made at the first refusal */
  char (*exp)[POLICY_PATH_MAX]; /* glob expansion scratch, only during a rescan */
  const os_shim *exp_os;
  int64_t rejected_version, refused_total, rejected_total;
  int64_t announced; /* the latest version an ingest reply announced, 0 = none yet */
  int64_t next_rescan, next_fetch;
  int64_t report_version; /* version the report is about */
  int64_t snapshots_run, diags_run;
  /* snapshots and diagnostics: next due time (monotonic), INT64_MIN = now */
  int64_t next_snap[POLICY_SNAP_COUNT];
  int64_t next_diag[POLICY_DIAG_COUNT];
  int64_t next_delta[POLICY_SNAP_COUNT]; /* changes between full snapshots */
  snapdelta *delta[POLICY_SNAP_COUNT];   /* the last snapshot's item hashes; NULL = none */
  jread *journal;                        /* made at the first pass with a policy */
  const os_shim *journal_os;             /* whose journal shim jread holds open */
  policy cur;

  int n_cfg;
  int have_policy;
  int n_files;
  int n_refused;
  int fetch_first;
  /* The report: report_gen counts changes worth telling the cloud; the
   * cloud has acknowledged the state as of report_acked_gen. A change made
   * while a report is in flight (a refusal found by the first poll after
   * the policy was applied, say) is not in that report and keeps the next
   * one due (integration_sandbox (f) lost it under load). */
  int64_t report_gen, report_taken_gen, report_acked_gen;
  int report_inflight;
  int report_rejected;
  int exp_n;
  int overflow_said;  /* "more than PSTATE_MAX_REFUSED" said for this policy */
  int spool_said;     /* a policy file's spool refusal said; cleared by a good poll */
  int64_t summary_ms; /* cfg->unreadable_summary_ms */

  policy_limits lim;
  char last_error[POLICY_ERR_MAX];
  char state_dir[CONFIG_PATH_MAX];
};

static void plog(const os_shim *os, os_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void plog(const os_shim *os, os_log_level lvl, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (os && os->log) os->log(os->ctx, lvl, msg);
}

/* say: log it here (a glob's refusal); 0 when the caller logs it through
 * the source's health (core/tail.h: once per change, then a summary). */
static void note_refusal_os(pstate *ps, const os_shim *os, const char *path, const char *why,
                            int say) {
  for (int i = 0; i < ps->n_refused; i++)
    if (strcmp(ps->refused[i].path, path) == 0) return; /* once per policy */
  ps->refused_total++;
  if (ps->n_refused >= PSTATE_MAX_REFUSED) {
    /* Not listed, so not deduplicated: said once per policy, not at every
     * rescan or recheck (issue #17). */
    if (say && !ps->overflow_said)
      plog(os, OS_LOG_WARN, "refused %.300s: %s (more than %d refused paths: the rest are "
           "counted, not listed)", path, why, PSTATE_MAX_REFUSED);
    ps->overflow_said = 1;
    return;
  }
  if (say) plog(os, OS_LOG_WARN, "refused %.300s: %s", path, why);
  if (!ps->refused && !(ps->refused = calloc(PSTATE_MAX_REFUSED, sizeof *ps->refused))) return;
  refusal *r = &ps->refused[ps->n_refused++];
  snprintf(r->path, sizeof r->path, "%s", path);
  snprintf(r->why, sizeof r->why, "%s", why);
  r->reported = 0;
  ps->report_gen++;
}

static void note_refusal(pstate *ps, const char *path, const char *why) {
  note_refusal_os(ps, ps->exp_os, path, why, 1);
}

void pstate_note_refusal(pstate *ps, const os_shim *os, const char *path, const char *why) {
  if (ps && path && why) note_refusal_os(ps, os, path, why, 0);
}

static void on_exp_ok(void *user, const char *resolved) {
  pstate *ps = user;
  for (int i = 0; i < ps->exp_n; i++)
    if (strcmp(ps->exp[i], resolved) == 0) return;
  for (int i = 0; i < ps->n_cfg; i++)
    if (strcmp(ps->cfg_paths[i], resolved) == 0) return;
  if (ps->exp_n >= POLICY_MAX_FILES) return;
  snprintf(ps->exp[ps->exp_n++], POLICY_PATH_MAX, "%s", resolved);
}

static void on_exp_refused(void *user, const char *path, const char *why) {
  note_refusal(user, path, why);
}

/* Re-expands every glob; keeps the tail state of files still matched. */
static void rescan(pstate *ps, const os_shim *os) {
  ps->exp_n = 0;
  ps->exp_os = os;
  if (!ps->have_policy) {
    for (int i = 0; i < ps->n_files; i++) tail_source_release(&ps->files[i]);
    free(ps->files);
    ps->files = NULL;
    ps->n_files = 0;
    return;
  }
  int starts[POLICY_MAX_FILES] = {0};
  ps->exp = ps->cur.n_logs ? calloc(POLICY_MAX_FILES, POLICY_PATH_MAX) : NULL;
  if (ps->cur.n_logs && !ps->exp) return; /* keep the current set; next rescan tries again */
  for (int g = 0; g < ps->cur.n_logs; g++) {
    char why[POLICY_ERR_MAX];
    int before = ps->exp_n;
    policy_expand_cb cb = {ps, on_exp_ok, on_exp_refused};
    int rc = policy_expand_glob(&ps->lim, os, ps->cur.logs[g].glob, POLICY_MAX_FILES - ps->exp_n,
                                &cb, why, sizeof why);
    if (rc < 0) note_refusal(ps, ps->cur.logs[g].glob, why);
    for (int i = before; i < ps->exp_n; i++) starts[i] = ps->cur.logs[g].from_beginning;
  }
  tail_source *old = ps->files, *nf = NULL;
  int n_old = ps->n_files;
  if (ps->exp_n > 0 && !(nf = calloc((size_t)ps->exp_n, sizeof *nf))) {
    free(ps->exp);
    ps->exp = NULL;
    ps->exp_n = 0;
    return; /* keep the current set; next rescan tries again */
  }
  for (int i = 0; i < ps->exp_n; i++) {
    tail_source *t = &nf[i];
    int kept = 0;
    for (int j = 0; j < n_old; j++) {
      if (old[j].path[0] && strcmp(old[j].path, ps->exp[i]) == 0) {
        *t = old[j]; /* with what it holds open */
        old[j].path[0] = 0;
        kept = 1;
        break;
      }
    }
    if (!kept) {
      memset(t, 0, sizeof *t);
      snprintf(t->path, sizeof t->path, "%s", ps->exp[i]);
      t->start = starts[i] ? CONFIG_START_BEGINNING : CONFIG_START_END;
    }
  }
  for (int j = 0; j < n_old; j++)
    if (old[j].path[0]) tail_source_release(&old[j]); /* no longer matched */
  ps->files = nf;
  ps->n_files = ps->exp_n;
  free(old);
  free(ps->exp);
  ps->exp = NULL;
}

int pstate_open(const agent_config *cfg, const os_shim *os, pstate **out) {
  *out = NULL;
  pstate *ps = calloc(1, sizeof *ps);
  if (!ps) return PSTATE_ENOMEM;
  if (cfg->n_sources > 0 &&
      !(ps->cfg_paths = calloc((size_t)cfg->n_sources, sizeof *ps->cfg_paths))) {
    free(ps);
    return PSTATE_ENOMEM;
  }
  for (int i = 0; i < cfg->n_allowed_log_roots && i < POLICY_MAX_ROOTS; i++)
    snprintf(ps->lim.roots[i], sizeof ps->lim.roots[i], "%s", cfg->allowed_log_roots[i]);
  ps->lim.n_roots = cfg->n_allowed_log_roots < POLICY_MAX_ROOTS ? cfg->n_allowed_log_roots
                                                                 : POLICY_MAX_ROOTS;
  snprintf(ps->lim.state_dir, sizeof ps->lim.state_dir, "%s", cfg->state_dir);
  snprintf(ps->state_dir, sizeof ps->state_dir, "%s", cfg->state_dir);
  for (int i = 0; i < cfg->n_sources; i++)
    snprintf(ps->cfg_paths[i], sizeof ps->cfg_paths[i], "%s", cfg->sources[i].path);
  ps->n_cfg = cfg->n_sources;
  ps->summary_ms = cfg->unreadable_summary_ms;
  policy_defaults(&ps->cur);
  ps->next_fetch = INT64_MIN;
  ps->fetch_first = 1;
  for (int i = 0; i < POLICY_SNAP_COUNT; i++) ps->next_snap[i] = INT64_MIN;
  for (int i = 0; i < POLICY_DIAG_COUNT; i++) ps->next_diag[i] = INT64_MIN;
  ps->next_rescan = INT64_MIN;

  char path[OS_PATH_MAX];
  char *buf = malloc(POLICY_MAX_BYTES);
  size_t len = 0;
  if (buf && files_join(path, sizeof path, cfg->state_dir, "policy.json") == OS_OK &&
      files_read_small(os, path, buf, POLICY_MAX_BYTES, &len) == OS_OK) {
    char err[POLICY_ERR_MAX];
    if (policy_parse(buf, len, &ps->cur, err, sizeof err) == POLICY_OK) {
      ps->have_policy = 1;
      plog(os, OS_LOG_INFO, "policy: version %lld loaded from %s", (long long)ps->cur.version,
           path);
    } else {
      plog(os, OS_LOG_WARN, "policy: ignoring %s: %s", path, err);
    }
  }
  free(buf);
  *out = ps;
  return PSTATE_OK;
}

void pstate_close(pstate *ps) {
  if (!ps) return;
  free(ps->exp);
  for (int i = 0; i < ps->n_files; i++) tail_source_release(&ps->files[i]);
  free(ps->files);
  free(ps->refused);
  free(ps->cfg_paths);
  for (int i = 0; i < POLICY_SNAP_COUNT; i++) snapdelta_free(ps->delta[i]);
  jread_close(ps->journal, ps->journal_os ? ps->journal_os->journal : NULL);
  free(ps);
}

const policy *pstate_policy(const pstate *ps) { return &ps->cur; }

void pstate_get_info(const pstate *ps, pstate_info *out) {
  memset(out, 0, sizeof *out);
  out->version = ps->have_policy ? ps->cur.version : 0;
  out->rejected_version = ps->rejected_version;
  snprintf(out->last_error, sizeof out->last_error, "%s", ps->last_error);
  out->n_files = ps->n_files;
  out->refused_total = ps->refused_total;
  out->rejected_total = ps->rejected_total;
  out->snapshots_run = ps->snapshots_run;
  out->diags_run = ps->diags_run;
  out->journal_state = ps->have_policy && !ps->cur.journal_enabled ? (int)JREAD_OFF
                                                                    : (int)jread_get_state(ps->journal);
}

/* The version a body claims, for the report of a rejected one (0 if none). */
/* The version a body claims, for the report of a rejected one: a whole
 * number in policy_parse's range (1 .. 2^52), else 0. A body too large is not
 * parsed at all. */
static int64_t claimed_version(const char *body, size_t len) {
  if (len > POLICY_MAX_BYTES) return 0;
  cJSON *o = cJSON_ParseWithLength(body, len);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
  int64_t r = 0;
  if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= (double)(INT64_C(1) << 52) &&
      v->valuedouble == (double)(int64_t)v->valuedouble)
    r = (int64_t)v->valuedouble;
  cJSON_Delete(o);
  return r;
}

/* One rejection: reported once per distinct cause (version, error), under
 * the version the body claims when it is a valid one, else the version the
 * cloud announced in its ingest reply (so a report is never filed as
 * "version 0" and deduplicated away). The last good policy stays. */
static void reject(pstate *ps, const os_shim *os, int64_t claimed, const char *err) {
  int64_t v = claimed > 0 ? claimed : ps->announced;
  if (v == ps->rejected_version && strcmp(err, ps->last_error) == 0) return; /* said already */
  ps->rejected_total++;
  ps->rejected_version = v;
  snprintf(ps->last_error, sizeof ps->last_error, "%s", err);
  ps->report_gen++;
  ps->report_version = v;
  ps->report_rejected = 1;
  plog(os, OS_LOG_ERROR, "policy version %lld rejected, keeping version %lld: %s", (long long)v,
       (long long)(ps->have_policy ? ps->cur.version : 0), err);
}

void pstate_reject(pstate *ps, const os_shim *os, const char *err) {
  if (ps && err) reject(ps, os, 0, err);
}

int pstate_offer(pstate *ps, const os_shim *os, const char *body, size_t len, int64_t now) {
  policy p;
  char err[POLICY_ERR_MAX];
  ps->exp_os = os;
  if (policy_parse(body, len, &p, err, sizeof err) != POLICY_OK) {
    reject(ps, os, claimed_version(body, len), err);
    return PSTATE_EINVALID;
  }
  if (ps->have_policy && p.version == ps->cur.version) return PSTATE_ESAME;
  if (ps->have_policy && p.version < ps->cur.version) {
    /* issue #16: the cloud's versions only grow (one counter per
     * workspace): an older number with other content is a rollback or a
     * lie, refused and reported like a malformed policy. */
    snprintf(err, sizeof err, "policy: version %lld is older than version %lld in force (a rollback)",
             (long long)p.version, (long long)ps->cur.version);
    reject(ps, os, p.version, err);
    return PSTATE_EINVALID;
  }
  ps->cur = p;
  ps->have_policy = 1;
  ps->last_error[0] = 0;
  ps->n_refused = 0;
  ps->overflow_said = 0;
  ps->report_gen++;
  ps->report_version = p.version;
  ps->report_rejected = 0;
  char path[OS_PATH_MAX];
  if (files_join(path, sizeof path, ps->state_dir, "policy.json") == OS_OK) {
    int rc = files_write_atomic(os, path, body, len, 0600);
    if (rc != OS_OK)
      plog(os, OS_LOG_WARN, "policy: cannot persist %s: %s", path, files_strerror(rc));
  }
  rescan(ps, os);
  ps->next_rescan = now + PSTATE_RESCAN_MS;
  for (int i = 0; i < POLICY_SNAP_COUNT; i++) {
    ps->next_snap[i] = INT64_MIN;
    /* A full snapshot of each kind follows at once; its bounds may differ. */
    snapdelta_free(ps->delta[i]);
    ps->delta[i] = NULL;
  }
  for (int i = 0; i < POLICY_DIAG_COUNT; i++) ps->next_diag[i] = INT64_MIN;
  plog(os, OS_LOG_INFO, "policy version %lld applied: %d log globs -> %d files, %d diagnostics",
       (long long)p.version, p.n_logs, ps->n_files, p.n_diags);
  return PSTATE_OK;
}

int pstate_fetch_due(const pstate *ps, int64_t now) { return now >= ps->next_fetch; }
int64_t pstate_next_fetch(const pstate *ps) { return ps->next_fetch; }
void pstate_fetch_soon(pstate *ps) {
  ps->next_fetch = INT64_MIN;
  ps->fetch_first = 1;
}

void pstate_hint(pstate *ps, int64_t version) {
  int64_t have = ps->have_policy ? ps->cur.version : 0;
  if (version > 0) ps->announced = version;
  if (version <= 0 || version == have || version == ps->rejected_version) return;
  if (ps->next_fetch != INT64_MIN) pstate_fetch_soon(ps);
}

int pstate_fetch_urgent(const pstate *ps, int64_t now) {
  if (now < ps->next_fetch) return 0;
  return ps->fetch_first || ps->next_fetch == INT64_MIN ||
         now - ps->next_fetch >= ps->cur.policy_interval_s * 1000;
}

void pstate_fetch_done(pstate *ps, int ok, int64_t now, int64_t jitter_ms) {
  ps->fetch_first = 0;
  if (jitter_ms < 0) jitter_ms = 0;
  int64_t every = ok > 0 ? ps->cur.policy_interval_s * 1000 : ok == 0 ? PSTATE_RETRY_MS
                                                                       : PSTATE_NO_POLICY_MS;
  ps->next_fetch = now + every + jitter_ms;
}

int pstate_report_pending(const pstate *ps) {
  return ps->report_gen != ps->report_acked_gen && !ps->report_inflight;
}

char *pstate_report_take(pstate *ps) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddNumberToObject(o, "version", (double)ps->report_version);
  cJSON_AddStringToObject(o, "status", ps->report_rejected ? "rejected" : "applied");
  cJSON_AddNumberToObject(o, "applied_version", (double)(ps->have_policy ? ps->cur.version : 0));
  cJSON_AddStringToObject(o, "error", ps->report_rejected ? ps->last_error : "");
  cJSON *arr = cJSON_AddArrayToObject(o, "refused");
  for (int i = 0; arr && i < ps->n_refused; i++) {
    cJSON *r = cJSON_CreateObject();
    if (!r) break;
    cJSON_AddStringToObject(r, "path", ps->refused[i].path);
    cJSON_AddStringToObject(r, "why", ps->refused[i].why);
    cJSON_AddItemToArray(arr, r);
  }
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!text) return NULL;
  /* cJSON's allocator is malloc here; hand back a plain malloc'd copy so the
   * caller's free() is always right. */
  size_t n = strlen(text);
  char *copy = malloc(n + 1);
  if (copy) memcpy(copy, text, n + 1);
  cJSON_free(text);
  if (copy) {
    ps->report_inflight = 1;
    ps->report_taken_gen = ps->report_gen;
  }
  return copy;
}

void pstate_report_done(pstate *ps, int ok) {
  ps->report_inflight = 0;
  if (ok) ps->report_acked_gen = ps->report_taken_gen;
}

/* Spools snapshot/diagnostic lines in small transactions: memory is one
 * batch of lines, whatever the snapshot's size. */
#define PSTATE_SNAP_BATCH 64
typedef struct snap_sink {
  spool *sp;
  spool_source_state st;
  char (*buf)[COLLECT_LINE_MAX];
  spool_line lines[PSTATE_SNAP_BATCH];
  size_t n;
  int64_t wall, spooled;
  int failed;
} snap_sink;

static int snap_flush(snap_sink *k) {
  if (k->n == 0 || k->failed) return k->failed;
  k->st.offset += (int64_t)k->n; /* records this pseudo-source produced */
  if (spool_append(k->sp, &k->st, k->lines, k->n) != SPOOL_OK) {
    k->st.offset -= (int64_t)k->n;
    k->failed = 1;
  } else {
    k->spooled += (int64_t)k->n;
  }
  k->n = 0;
  return k->failed;
}

static int snap_line(void *user, const char *line, size_t len) {
  snap_sink *k = user;
  if (len >= COLLECT_LINE_MAX) len = COLLECT_LINE_MAX - 1;
  memcpy(k->buf[k->n], line, len);
  k->lines[k->n] = (spool_line){k->buf[k->n], len, k->wall};
  k->n++;
  return k->n == PSTATE_SNAP_BATCH ? snap_flush(k) : 0;
}

/* mode: 0 full snapshot or diagnostic, 1 full snapshot that also becomes
 * the delta base, 2 changes since that base ("delta:NAME" records). */
static void run_collector(pstate *ps, const os_shim *os, spool *sp, int is_diag, int which,
                          int mode, int64_t wall, int64_t *lines) {
  char source[64];
  collect_source_name(is_diag, which, source, sizeof source);
  if (mode == 2) snprintf(source, sizeof source, "delta:%s", policy_snapshot_name(which));
  snap_sink *k = calloc(1, sizeof *k);
  if (k) k->buf = malloc((size_t)PSTATE_SNAP_BATCH * COLLECT_LINE_MAX);
  if (!k || !k->buf) {
    if (k) free(k);
    plog(os, OS_LOG_WARN, "%s: out of memory", source);
    return;
  }
  k->sp = sp;
  k->wall = wall;
  snapdelta *d = mode ? ps->delta[which] : NULL;
  int loaded = spool_source_load(sp, source, &k->st) == SPOOL_OK;
  if (!loaded) {
    plog(os, OS_LOG_WARN, "%s: spool refused the source", source);
  } else if (is_diag) {
    collect_diag((policy_diag)which, os, NULL, ps->state_dir, snap_line, k);
  } else if (d && snapdelta_begin(d, mode == 2, snap_line, k) == SNAPDELTA_OK) {
    int rc = collect_snapshot((policy_snapshot)which, os, NULL, ps->cur.snapshot_max_items,
                              snapdelta_line, d, NULL);
    snapdelta_end(d, rc == COLLECT_OK, NULL, NULL, NULL);
  } else {
    int64_t items = 0;
    collect_snapshot((policy_snapshot)which, os, NULL, ps->cur.snapshot_max_items, snap_line, k,
                     &items);
  }
  snap_flush(k);
  if (k->failed) plog(os, OS_LOG_WARN, "%s: spool full, snapshot cut short", source);
  *lines += k->spooled;
  if (loaded && is_diag) ps->diags_run++;
  else if (loaded) ps->snapshots_run++;
  free(k->buf);
  free(k);
}

/* Changes are sent every interval / PSTATE_DELTA_DIV (at least
 * PSTATE_DELTA_MIN_MS) between full snapshots; 0 = the interval is too
 * short for any. */
#define PSTATE_DELTA_DIV 10
#define PSTATE_DELTA_MIN_MS 10000
static int64_t delta_ms(int64_t every_s, int64_t policy_delta_s) {
  int64_t full = every_s * 1000, d = full / PSTATE_DELTA_DIV;
  if (policy_delta_s >= 0) return policy_delta_s * 1000; /* validated: 0 or below the interval */
  if (d < PSTATE_DELTA_MIN_MS) d = PSTATE_DELTA_MIN_MS;
  return d < full ? d : 0;
}

static void run_due_collectors(pstate *ps, const os_shim *os, spool *sp, int64_t wall,
                               int64_t now, int64_t *lines) {
  for (int i = 0; i < POLICY_SNAP_COUNT; i++) {
    int64_t every = ps->cur.snapshot_interval_s[i];
    if (every <= 0) continue;
    int64_t dms = delta_ms(every, ps->cur.snapshot_delta_s[i]);
    if (now >= ps->next_snap[i]) {
      ps->next_snap[i] = now + every * 1000;
      ps->next_delta[i] = now + dms;
      /* Without the tracker (no memory, or no deltas at this interval) the
       * full snapshot still goes. */
      if (dms > 0 && !ps->delta[i] &&
          snapdelta_new((policy_snapshot)i, ps->cur.snapshot_max_items, &ps->delta[i]) !=
              SNAPDELTA_OK)
        plog(os, OS_LOG_WARN, "snapshot %s: no delta tracker", policy_snapshot_name(i));
      run_collector(ps, os, sp, 0, i, ps->delta[i] ? 1 : 0, wall, lines);
      return; /* at most one collector per pass: the poll loop stays short */
    }
    if (dms > 0 && now >= ps->next_delta[i] && snapdelta_has_base(ps->delta[i])) {
      ps->next_delta[i] = now + dms;
      run_collector(ps, os, sp, 0, i, 2, wall, lines);
      return;
    }
  }
  for (int i = 0; i < ps->cur.n_diags; i++) {
    policy_diag d = ps->cur.diags[i].diag;
    if (now < ps->next_diag[d]) continue;
    ps->next_diag[d] = now + ps->cur.diags[i].interval_s * 1000;
    run_collector(ps, os, sp, 1, (int)d, 0, wall, lines);
    return;
  }
}

void pstate_collect(pstate *ps, const os_shim *os, spool *sp, tail_buffers *tb, int64_t wall,
                    int64_t now, int64_t *lines, int *more) {
  int limited = 0;
  pstate_collect_max(ps, os, sp, tb, wall, now, INT64_MAX, lines, more, &limited);
}

void pstate_collect_max(pstate *ps, const os_shim *os, spool *sp, tail_buffers *tb, int64_t wall,
                        int64_t now, int64_t max_lines, int64_t *lines, int *more, int *limited) {
  ps->exp_os = os;
  int64_t budget = max_lines;
  /* A due collector waits (stays due) while the bucket is empty; once
   * started it runs whole and may overdraw the budget (core/caps.h). */
  if (ps->have_policy && budget > 0) {
    int64_t before = *lines;
    run_due_collectors(ps, os, sp, wall, now, lines);
    budget -= *lines - before;
  } else if (ps->have_policy && budget <= 0) {
    *limited = 1;
  }
  if (ps->have_policy && !ps->cur.journal_enabled && ps->journal) {
    /* Off by policy: what is logged while off is not collected later either,
     * so the position goes too (back on = from the end). */
    jread_forget(ps->journal, os);
    jread_close(ps->journal, ps->journal_os ? ps->journal_os->journal : NULL);
    ps->journal = NULL;
    ps->journal_os = NULL;
  }
  if (ps->have_policy && ps->cur.journal_enabled && budget > 0) {
    if (!ps->journal && jread_open(ps->state_dir, &ps->journal) == JREAD_OK) ps->journal_os = os;
    int64_t before = *lines;
    jread_poll(ps->journal, os->journal, os, sp, wall, now, budget, ps->cur.journal_max_priority,
               lines, more);
    budget -= *lines - before;
  }
  if (ps->have_policy && now >= ps->next_rescan) {
    rescan(ps, os);
    ps->next_rescan = now + PSTATE_RESCAN_MS;
  }
  for (int i = 0; i < ps->n_files; i++) {
    tail_source *t = &ps->files[i];
    if (budget <= 0) {
      *limited = 1;
      break;
    }
    if (now < t->recheck_at) continue; /* refused lately: the slow schedule */
    /* Re-checked before every read and decided on the open descriptor
     * (tail_poll_max -> guard_open): a symlink swapped in since the last
     * rescan, or between the check and the open, is refused. */
    t->guard = &ps->lim;
    int64_t n = 0;
    int m = 0, lim = 0, os_error = 0;
    int rc = tail_poll_max(t, os, sp, tb, wall, budget, &n, &m, &lim, &os_error);
    /* Unreadable: said when it changes, then summarised (issue #17). */
    char said[600];
    os_log_level lvl = OS_LOG_WARN;
    if (tail_health_note(t, rc, os_error, now, wall, ps->summary_ms, &lvl, said, sizeof said))
      plog(os, lvl, "%s", said);
    if (rc == TAIL_EREFUSED) {
      note_refusal_os(ps, os, t->path, t->why, 0);
      t->recheck_at = now + GUARD_RECHECK_MS;
      continue;
    }
    *lines += n;
    budget -= n;
    *more |= m;
    *limited |= lim;
    /* A full spool refuses every file of every poll: said once until a
     * poll goes through again (the agent says when space comes back). */
    if (rc == TAIL_EFULL || rc == TAIL_ESPOOL) {
      if (!ps->spool_said)
        plog(os, OS_LOG_WARN, "%s: spool refused records (%d); policy files wait, offsets kept",
             t->path, rc);
      ps->spool_said = 1;
    } else if (rc == TAIL_OK && n > 0) {
      ps->spool_said = 0;
    }
  }
}
