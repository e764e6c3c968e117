/* sim_fleet.c - sim_run (sim_fleet.h): sets the run up, runs its event loop
 * and tears it down; writes the trace's summary lines and report.json. The
 * rest of the run is in the files sim_int.h lists. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/update.h"
#include "mc_rings.h"
#include "sim_int.h"
#include "sim_shard.h"

static const char *const ev_names[] = {"?",        "step",      "net_deliver", "net_complete",
                                       "log",      "scenario",  "outage_end",  "partition_end",
                                       "hour",     "end",       "drain_end",   "upd_tick",
                                       "tls_end"};

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

/* ---- counters --------------------------------------------------------- */

/* Cloud-side figures for the report, read while the cloud is open. */
static void ident_collect(fleet *f) {
  mc_get_stats(f->cloud, &f->ident_ms);
  f->alerts_total = mc_alert_count(f->cloud, NULL);
  f->drift_events = mc_event_count(f->cloud, "permission_drift");
}

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
  /* A shard's line holds its agents' share, and the fleet's own events and
   * digest term apart, so that the merge can add the shards' lines into the
   * line one run writes (sim_trace_merge). */
  uint64_t fleet_chain;
  int64_t fleet_events = 0;
  sim_trace_chain(f->trace, -1, &fleet_chain, &fleet_events);
  int shard = f->shard_n > 1;
  sim_trace_hour h = {.t = f->now, .hour = f->now / 3600000, .events = sim_trace_events(f->trace),
                      .hash = sim_trace_digest(f->trace, !shard), .lines_written = t.lines,
                      .produced = t.produced, .acked = t.acked, .spooled = t.spooled,
                      .cloud_records = mc_total_records(f->cloud), .requests = ns.requests,
                      .lost_in = ns.lost_in, .lost_out = ns.lost_out, .refused = ns.refused,
                      .ledger_checks = f->ledger_checks, .shard = shard,
                      .fleet_events = fleet_events, .fleet_hash = sim_trace_digest_fleet(f->trace)};
  sim_trace_hour_line(f->trace, &h);
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
        f->cloud_who = ev.type == EV_NET_DELIVER && g ? g->idx : -1;
        sim_net_dispatch(f->net, &ev, &nr);
        f->cloud_who = -1;
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

/* ---- report ------------------------------------------------------------- */

/* The run's results as values (sim_summary.h): report.json, or a shard's part. */
static void fill_summary(fleet *f, const totals *t, const sim_net_stats *ns, const mc_stats *ms,
                         sim_summary *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->scenario, sizeof o->scenario, "%s", f->scn->name);
  o->seed = f->opt->seed;
  o->agents = f->n;
  o->duration_s = f->scn->duration_s;
  o->drain_s = f->scn->drain_s;
  o->simulated_ms = f->now;
  int64_t *c = o->c;
  c[SIM_C_EVENTS] = sim_trace_events(f->trace);
  c[SIM_C_STEPS] = f->steps;
  c[SIM_C_LINES_WRITTEN] = t->lines;
  c[SIM_C_LOG_WRITE_FAILURES] = t->log_failures;
  c[SIM_C_PRODUCED] = t->produced;
  c[SIM_C_RECORDS_ACKED] = t->acked;
  c[SIM_C_SPOOLED_AT_END] = t->spooled;
  c[SIM_C_SHED] = t->shed;
  c[SIM_C_CLOUD_RECORDS] = ms->records_stored;
  c[SIM_C_CLOUD_DUPLICATES] = ms->duplicates;
  c[SIM_C_REQUESTS] = ns->requests;
  c[SIM_C_DELIVERED] = ns->delivered;
  c[SIM_C_LOST_REQUESTS] = ns->lost_in;
  c[SIM_C_LOST_RESPONSES] = ns->lost_out;
  c[SIM_C_REFUSED] = ns->refused;
  c[SIM_C_TIMEOUTS] = ns->timeouts;
  c[SIM_C_BATCHES_SENT] = t->batches_sent;
  c[SIM_C_BATCHES_ACKED] = t->batches_acked;
  c[SIM_C_BATCH_FAILURES] = t->batch_failures;
  c[SIM_C_ENROLLMENTS] = t->enrollments;
  c[SIM_C_SESSIONS] = t->sessions;
  c[SIM_C_RESTARTS] = t->restarts;
  c[SIM_C_CRASHES] = t->crashes;
  c[SIM_C_POWER_CUTS] = t->power_cuts;
  c[SIM_C_FAULTS] = f->faults;
  c[SIM_C_LEDGER_CHECKS] = f->ledger_checks;
  c[SIM_C_QUOTA_CHECKS] = f->quota_checks;
  c[SIM_C_SHED_BYTES] = t->shed_bytes;
  const mc_stats im = f->ident_ms;
  c[SIM_C_CLONES] = f->clones;
  c[SIM_C_RESTORES] = f->restores;
  c[SIM_C_DETECTED] = f->detected;
  c[SIM_C_DETECT_MAX_MS] = f->detect_max_ms;
  c[SIM_C_ALERTS] = f->alerts_total;
  c[SIM_C_CHECKINS] = im.checkins;
  c[SIM_C_CLONE_REFUSALS] = im.clone_refusals;
  c[SIM_C_SUPERSEDED_REFUSALS] = im.superseded_refusals;
  c[SIM_C_STALE_REQUESTS] = im.stale_requests;
  c[SIM_C_PROBATION_REFUSALS] = im.probation_refusals;
  c[SIM_C_REPLAYS_REFUSED] = im.replays_refused;
  c[SIM_C_ATTACKS] = f->attacks;
  c[SIM_C_ATTACKS_REFUSED] = f->attacks_refused;
  c[SIM_C_DRIFT_EVENTS] = f->drift_events;
  c[SIM_C_MISATTRIBUTED] = f->misattributed;
  if (f->upd) {
    o->has_update = 1;
    c[SIM_C_INSTALLS] = sim_update_installs(f->upd);
    c[SIM_C_ROLLBACKS] = f->rollbacks;
    c[SIM_C_SWITCH_POWER_CUTS] = f->switch_cuts;
    c[SIM_C_SWITCH_CUT_STEPS] = f->switch_cut_steps;
    c[SIM_C_BOOT_SWITCHES] = f->boot_switches;
    c[SIM_C_BIN_PRUNED] = f->bin_pruned;
  }
  o->trace_hash = sim_trace_hash(f->trace);
  o->rate = f->rate; /* borrowed: the caller does not free it */
  o->rate_len = f->rate ? f->rate_len : 0;
  o->rate_peak = f->rate_peak;
  o->rate_peak_min = f->rate_peak_min;
  snprintf(o->failure, sizeof o->failure, "%s", f->failure);
  for (int i = 0; i < f->n_exp && i < SIM_SUMMARY_MAX_EXPECT; i++) {
    sim_summary_exp *e = &o->exp[o->n_exp++];
    snprintf(e->name, sizeof e->name, "%s", f->exp[i].name);
    e->pass = f->exp[i].pass;
    e->agent = e->pass ? -1 : sim_report_agent_of(f->exp[i].detail);
    memcpy(e->v, f->exp[i].v, sizeof e->v);
    snprintf(e->detail, sizeof e->detail, "%s", f->exp[i].detail);
  }
}

/* A shard's shard.json (sim_shard.h): its summary, its agents' hash chains,
 * its timeline, and the run's failure as it stood before the expectations. */
static int write_part(fleet *f, const char *path, const sim_summary *sum, int stopped,
                      const char *run_failure, char *err, size_t err_cap) {
  int64_t n = 0;
  for (int64_t i = 0; i < f->n; i++) n += sim__owned(f, i);
  int64_t *idx = calloc((size_t)n + 1, sizeof *idx), *ev = calloc((size_t)n + 1, sizeof *ev);
  uint64_t *h = calloc((size_t)n + 1, sizeof *h);
  int rc = SIM_SHARD_ENOMEM;
  if (!idx || !ev || !h) {
    snprintf(err, err_cap, "out of memory");
    goto out;
  }
  for (int64_t i = 0, k = 0; i < f->n; i++)
    if (sim__owned(f, i)) {
      idx[k] = i;
      sim_trace_chain(f->trace, i, &h[k], &ev[k]);
      k++;
    }
  sim_shard_part p = {.k = f->shard_k, .n = f->shard_n,
                      .scenario_digest = sim_shard_digest(f->opt->scenario_text, f->opt->scenario_len),
                      .scenario_text = f->opt->scenario_text, .scenario_len = f->opt->scenario_len,
                      .scenario_path = f->opt->scenario_path, .trace_full = f->opt->trace_full,
                      .stopped = stopped, .failure_t = stopped ? f->failure_t : -1,
                      .failure_agent = stopped ? sim_report_agent_of(run_failure) : -1,
                      .run_failure = run_failure, .n_chains = n, .chain_idx = idx,
                      .chain_hash = h, .chain_events = ev, .tl = f->tl, .sum = sum};
  sim_trace_chain(f->trace, -1, &p.fleet_chain, &p.fleet_events);
  rc = sim_shard_write_part(path, &p, err, err_cap);
out:
  free(idx);
  free(ev);
  free(h);
  return rc;
}

/* ---- set-up and tear-down ----------------------------------------------- */

/* The fleet with every clone the scenario's events can make (f->n_cap, as
 * computed below), bounded by SIM_SCN_MAX_AGENTS. */
static int64_t trace_agents_bound(const sim_scenario *scn, int64_t n) {
  for (int i = 0; i < scn->n_events && n <= SIM_SCN_MAX_AGENTS; i++)
    if (scn->events[i].type == SIM_SCN_CLONE)
      n += sim_scenario_event_agents(&scn->events[i], n) * scn->events[i].copies;
  return n > SIM_SCN_MAX_AGENTS ? SIM_SCN_MAX_AGENTS : n;
}

int sim_mkdir_p(char *dir) {
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
  f->cloud_who = -1;
  f->n = opt->agents > 0 ? opt->agents : scn->agents;
  int ret = SIM_RUN_ESETUP;
  if (opt->shard_n > 1) {
    /* --shard K/N: only a scenario whose agents do not interact (sim_shard.h) */
    char why[600];
    if (sim_shard_refusal(scn, why, sizeof why)) {
      snprintf(err, err_cap, "--shard: %s", why);
      free(f);
      free(scaled);
      return SIM_RUN_ESETUP;
    }
    if (opt->shard_k < 0 || opt->shard_k >= opt->shard_n || opt->shard_n > f->n ||
        !opt->out_dir || !opt->scenario_text) {
      snprintf(err, err_cap, "--shard %d/%d: %s", opt->shard_k, opt->shard_n,
               opt->shard_n > f->n ? "more shards than agents" : "needs --out DIR");
      free(f);
      free(scaled);
      return SIM_RUN_ESETUP;
    }
    f->shard_k = opt->shard_k;
    f->shard_n = opt->shard_n;
  }
  char dir[1024], db_path[1100], path[1100], tpath[1100];
  int temp_dir = 0;
  log_ctx *lcs = NULL;
  if (opt->out_dir) {
    snprintf(dir, sizeof dir, "%s", opt->out_dir);
    if (sim_mkdir_p(dir) != 0) {
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
  /* the fleet size with every clone is known only below: chains for the
   * largest fleet the scenario can make (clone copies fold as agents) */
  if (sim_trace_open(trace_path, opt->trace_full, trace_agents_bound(scn, f->n), &f->trace) !=
      SIM_TRACE_OK) {
    snprintf(err, err_cap, "%s: cannot write the trace", trace_path ? trace_path : "(in memory)");
    goto out;
  }
  mc_env env = {.ctx = f, .wall_ms = sim__cloud_wall, .random = sim__cloud_random};
  int64_t owned = f->shard_n > 1 ? (f->n - f->shard_k + f->shard_n - 1) / f->shard_n : f->n;
  int64_t cache_kib = owned * SIM_CLOUD_CACHE_KIB_PER_AGENT;
  mc_options mo = {.session_ttl_s = scn->session_ttl_s, .challenge_ttl_s = 60, .durable = 0,
                   .probation_s = scn->probation_s, .commit_every = SIM_CLOUD_COMMIT_EVERY,
                   .cache_kib = cache_kib < 2048 ? 2048 : cache_kib > 65536 ? 65536 : cache_kib};
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
  /* On failure it stays empty and every agent keeps its own (the same bytes). */
  (void)tail_buffers_init(&f->tb, (size_t)f->cfg.read_chunk_bytes, (size_t)f->cfg.max_line_bytes);
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
  /* Blocks saved between a write and its sync, 4 KiB each: a few per
   * transaction, and one agent steps at a time; NULL only costs speed. */
  f->spares = sim_fs_spares_new(256);
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
    f->ag[i].idx = (int32_t)i;
    if (!sim__owned(f, i)) continue; /* another shard's: never set up */
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
    if (!sim__owned(f, i)) continue;
    sim__open_agent(f, &f->ag[i]);
    if (f->loggen_on) sim__push(f, EV_LOG, (int32_t)i, sim__next_line_gap(f, &f->ag[i]), 0);
  }

  expectation *le = sim__add_expect(f, "ledger");
  if (!f->stop) run_loop(f);
  /* a shard's part says what stopped it apart from the expectations' verdicts */
  char run_failure[sizeof f->failure];
  snprintf(run_failure, sizeof run_failure, "%s", f->failure);
  const int stopped = f->stop == 1;
  if (f->stop == 1) {
    if (le) {
      le->pass = 0;
      snprintf(le->detail, sizeof le->detail, "%s", f->failure);
    }
  } else {
    sim__expect_end(f);
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
  /* Close the agents and the cloud before reading its store; cloud_id
   * keeps each agent's last identity for the store's checks. */
  for (int64_t i = 0; i < f->n; i++) {
    if (f->ag[i].a) {
      agent_stats s;
      agent_get_stats(f->ag[i].a, &s);
      memcpy(f->ag[i].cloud_id, s.agent_id, sizeof f->ag[i].cloud_id);
    }
    agent_close(f->ag[i].a);
    f->ag[i].a = NULL;
  }
  mc_close(f->cloud);
  f->cloud = NULL;
  if (f->stop != 1) sim__expect_store(f, db_path, t.lines);

  const char *names[MAX_EXPECT];
  int passes[MAX_EXPECT];
  for (int i = 0; i < f->n_exp; i++) {
    res->expectations++;
    if (!f->exp[i].pass) {
      res->expectations_failed++;
      sim__set_failure(f, "%s: %s", f->exp[i].name, f->exp[i].detail);
    }
    names[i] = f->exp[i].name;
    passes[i] = f->exp[i].pass;
  }
  sim_trace_end te = {.agents = f->n, .t = f->now, .events = sim_trace_events(f->trace),
                      .lines_written = t.lines, .ledger_checks = f->ledger_checks,
                      .hash = sim_trace_hash(f->trace), .n_exp = f->n_exp, .exp_name = names,
                      .exp_pass = passes};
  sim_trace_verdict(f->trace, &te);
  if (opt->out_dir) {
    sim_summary sum;
    fill_summary(f, &t, &ns, &ms, &sum);
    if (f->shard_n > 1) {
      snprintf(path, sizeof path, "%s/shard.json", dir);
      if (write_part(f, path, &sum, stopped, run_failure, err, err_cap) != SIM_SHARD_OK)
        ret = SIM_RUN_ESETUP;
    } else {
      snprintf(path, sizeof path, "%s/report.json", dir);
      if (sim_summary_write_json(path, &sum) != SIM_SUMMARY_OK) {
        snprintf(err, err_cap, "%s: cannot write the report", path);
        ret = SIM_RUN_ESETUP;
      }
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
  if (opt->out_dir && ret == SIM_RUN_OK && f->shard_n <= 1) {
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
  /* a shard's checks are partial: the merge gives the verdict */
  if (ret == SIM_RUN_OK && res->expectations_failed > 0 && f->shard_n <= 1) ret = SIM_RUN_EFAILED;
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
  tail_buffers_free(&f->tb);
  sim_fs_spares_free(f->spares);
  free(f);
  free(scaled);
  return ret;
}
