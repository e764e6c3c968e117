/* sim_workload.c - what happens to the fleet: the applications' log lines,
 * and the scenario's events, each type dispatched through one table
 * (on_event) to its handler. The handlers of identity, the local attacker and
 * the update repository live with their concern (sim_int.h); the rest are
 * here. */
#include <stdio.h>
#include <string.h>

#include "sim_int.h"

/* ---- log generator ------------------------------------------------------ */

#define LINE_MAX_BYTES 16400
_Static_assert(LINE_MAX_BYTES + 1 <= SIM_FS_LINE_MAX, "a line and its newline fit sim_fs");

/* Line no of agent key's log, len bytes with its newline: "agent-K line-N "
 * then letters, 'a' + (no + i) % 26 at byte i. A pure function, so sim_fs
 * keeps only each line's length and makes the bytes again on read. */
static void line_bytes(uint32_t key, int64_t no, size_t len, char *out) {
  static const char letters[] = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";
  char head[48];
  int p = snprintf(head, sizeof head, "agent-%05d line-%09lld ", (int)key, (long long)no);
  size_t body = len - 1, h = (size_t)p < body ? (size_t)p : body;
  memcpy(out, head, h);
  /* After every 26 letters the phase is the same again. */
  size_t phase = (size_t)((no + (int64_t)h) % 26);
  for (size_t i = h; i < body;) {
    size_t k = body - i < 26 ? body - i : 26;
    memcpy(out + i, letters + phase, k);
    i += k;
  }
  out[body] = '\n';
}

int64_t sim__write_line(fleet *f, sim_agent *g) {
  int64_t len = sim_rng_range(&g->logrng, f->scn->line_min, f->scn->line_max);
  if (len > LINE_MAX_BYTES) len = LINE_MAX_BYTES;
  int64_t no = g->lines_written + 1;
  char head[48];
  int p = snprintf(head, sizeof head, "agent-%05d line-%09lld ", (int)g->idx, (long long)no);
  if (len < p) len = p;
  /* The application's log is synced per line: a crash must not unwrite lines
   * the ledger already counts as written. */
  char aside[96];
  int rc = sim_fs_append_line(g->fs, sim__app_log_path(g, aside, sizeof aside), line_bytes,
                              (uint32_t)g->idx, no, (size_t)len + 1);
  if (rc != OS_OK) {
    g->log_failures++;
    return rc;
  }
  g->lines_written = no;
  g->log_bytes += len + 1;
  f->log_lines++;
  return no;
}

/* ---- disk and log-file events (issue #3) ------------------------------- */

#define ROTATED_PATH LOG_PATH ".1"

/* Another program fills the disk until free bytes are left (never shrinks). */
static void disk_fill(sim_agent *g, int64_t free_bytes) {
  static const char zeros[65536];
  uint64_t avail = 0, total = 0;
  if (sim_fs_mkdirs(g->fs, "/var/tmp", 0755) != OS_OK) return;
  if (sim_fs_free_space(g->fs, "/var/tmp", &avail, &total) != OS_OK) return;
  g->ballast = 1;
  sim_fs_append(g->fs, BALLAST_PATH, "", 0, 1);
  if ((int64_t)avail < free_bytes) {
    /* The other program deletes some of what it wrote. */
    os_stat st;
    os_file *bf = NULL;
    if (sim_fs_stat(g->fs, BALLAST_PATH, &st) != OS_OK) return;
    int64_t give = free_bytes - (int64_t)avail, keep = st.size > give ? st.size - give : 0;
    if (sim_fs_open(g->fs, BALLAST_PATH, OS_O_WRITE, 0, &bf) != OS_OK) return;
    sim_fs_truncate(g->fs, bf, keep);
    sim_fs_sync(g->fs, bf);
    sim_fs_close(g->fs, bf);
    return;
  }
  for (int64_t left = (int64_t)avail - free_bytes; left > 0;) {
    size_t k = left > (int64_t)sizeof zeros ? sizeof zeros : (size_t)left;
    if (sim_fs_append(g->fs, BALLAST_PATH, zeros, k, 1) != OS_OK) break;
    left -= (int64_t)k;
  }
}

/* The application's log is rotated the way logrotate would. */
static void rotate_log(fleet *f, sim_agent *g, int style) {
  (void)f;
  g->rotations++;
  if (g->n_rot_mark < (int)(sizeof g->rot_mark / sizeof *g->rot_mark))
    g->rot_mark[g->n_rot_mark++] = g->lines_written;
  if (style == SIM_ROTATE_RENAME) {
    sim_fs_rename(g->fs, LOG_PATH, ROTATED_PATH);
    sim_fs_append(g->fs, LOG_PATH, "", 0, 1);
  } else if (style == SIM_ROTATE_COPYTRUNCATE || style == SIM_ROTATE_TRUNCATE) {
    os_file *src = NULL;
    if (sim_fs_open(g->fs, LOG_PATH, OS_O_WRITE, 0, &src) != OS_OK) return;
    if (style == SIM_ROTATE_COPYTRUNCATE) {
      sim_fs_unlink(g->fs, ROTATED_PATH);
      os_file *dst = NULL;
      if (sim_fs_open(g->fs, ROTATED_PATH, OS_O_WRITE | OS_O_CREATE, 0644, &dst) == OS_OK) {
        char buf[65536];
        int64_t off = 0, n;
        while ((n = sim_fs_pread(g->fs, src, buf, sizeof buf, off)) > 0) {
          if (sim_fs_pwrite(g->fs, dst, buf, (size_t)n, off) < 0) break;
          off += n;
        }
        sim_fs_sync(g->fs, dst);
        sim_fs_close(g->fs, dst);
      }
    }
    sim_fs_truncate(g->fs, src, 0);
    sim_fs_sync(g->fs, src);
    sim_fs_close(g->fs, src);
  } else {
    sim_fs_unlink(g->fs, LOG_PATH); /* the next line re-creates it */
  }
  g->log_bytes = 0;
}

/* ---- scenario events, one handler per type -------------------------------- */

/* The mock cloud as the attacker (or the operator): it serves this policy
 * from now on; agents learn of it from their next ingest reply. */
static void ev_policy(fleet *f, const sim_scn_event *e) {
  const char *text = f->scn->policies[e->policy_index];
  int64_t v = 0;
  char err[128] = "";
  if (mc_policy_set(f->cloud, "sim", text, strlen(text), &v, err, sizeof err) != MC_OK) {
    sim__set_failure(f, "policy event %d: the mock cloud refused it: %s", (int)(e - f->scn->events),
                     err);
    f->stop = 1;
  }
  sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"fault\",\"fault\":\"policy\",\"version\":%lld}",
                 (long long)f->now, (long long)v);
}

static void ev_cloud_outage(fleet *f, const sim_scn_event *e) {
  f->outages++;
  sim_net_set_cloud_down(f->net, 1);
  sim__push(f, EV_OUTAGE_END, -1, f->now + e->duration_s * 1000, 0);
  sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"fault\",\"fault\":\"cloud_outage\",\"duration_s\":%lld}",
                 (long long)f->now, (long long)e->duration_s);
}

static void ev_network(fleet *f, const sim_scn_event *e) {
  sim_net_params p;
  sim_net_get_params(f->net, &p);
  if (e->loss >= 0) p.loss = e->loss;
  if (e->response_loss >= 0) p.response_loss = e->response_loss;
  if (e->latency_min_ms >= 0) {
    p.latency_min_ms = e->latency_min_ms;
    p.latency_max_ms = e->latency_max_ms;
  }
  sim_net_set_params(f->net, &p);
  sim_trace_line(f->trace,
                 "{\"t\":%lld,\"type\":\"fault\",\"fault\":\"network\",\"loss\":%.6g,"
                 "\"response_loss\":%.6g,\"latency_ms\":[%lld,%lld]}",
                 (long long)f->now, p.loss, p.response_loss, (long long)p.latency_min_ms,
                 (long long)p.latency_max_ms);
}

/* restart and crash */
static void ev_restart(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k && !f->stop; i++) {
    sim_agent *g = &f->ag[f->perm[i]];
    if (!sim__owned(f, g->idx)) continue; /* another shard's agent (never opened) */
    if (sim__restart_agent(f, g, e->type == SIM_SCN_CRASH) == 0) sim__ledger_check(f, g);
  }
}

static void ev_power_cut(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k; i++) {
    sim_agent *g = &f->ag[f->perm[i]];
    /* the draws below are made for every agent picked, in every shard, so
     * the fault stream stays the whole fleet's (issue #15) */
    if (e->switch_step != SIM_SCN_CUT_WRITES) {
      /* issue #17: in the supervisor's next switch, after step sw_cut */
      g->sw_cut = e->switch_step == SIM_SCN_CUT_SPREAD ? (int)(i % (SIM_SCN_SWITCH_STEPS + 1))
                  : e->switch_step == SIM_SCN_CUT_RANDOM
                      ? (int)sim_rng_range(&f->fault_rng, 0, SIM_SCN_SWITCH_STEPS)
                      : e->switch_step;
      continue;
    }
    /* Somewhere in the next few dozen of its own writes: inside a SQLite
     * transaction, a journal write, an identity file... */
    int64_t nth = sim_rng_range(&f->fault_rng, 1, 40);
    if (!sim__owned(f, g->idx)) continue; /* another shard's agent */
    if (e->during_download) {
      g->cut_on_download = 1;
      g->cut_on_download_nth = nth;
      sim_fs_set_open_hook(g->fs, sim__attack_hook, g);
    } else {
      sim_fs_power_cut_at(g->fs, nth, sim__on_power_cut, g);
    }
  }
}

static void ev_disk_fill(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k; i++)
    if (sim__owned(f, f->perm[i])) disk_fill(&f->ag[f->perm[i]], e->free_mb * 1024 * 1024);
}

static void ev_rotate(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k; i++)
    if (sim__owned(f, f->perm[i])) rotate_log(f, &f->ag[f->perm[i]], e->rotate_style);
}

static void ev_partition(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k; i++) {
    sim_agent *g = &f->ag[f->perm[i]];
    if (!sim__owned(f, g->idx)) continue; /* another shard's agent */
    g->partitions++;
    sim_net_set_partition(f->net, g->idx, 1);
    sim__push(f, EV_PARTITION_END, g->idx, f->now + e->duration_s * 1000, 0);
  }
}

static void ev_cloud_lie(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k; i++)
    sim_lie_start(f->lie, f->perm[i], (int)e->lie_kind, f->now + e->duration_s * 1000);
}

/* The host's wall clock steps (an NTP step, a bad RTC): the agent's
 * monotonic clock does not move. */
static void ev_clock_step(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k; i++)
    if (sim__owned(f, f->perm[i])) f->ag[f->perm[i]].os.skew_ms += e->step_s * 1000;
}

static void ev_tls_failure(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k; i++) {
    sim_agent *g = &f->ag[f->perm[i]];
    if (!sim__owned(f, g->idx)) continue; /* another shard's agent */
    g->tls_fails++;
    g->tls_hit = 1;
    sim_net_set_tls_fail(f->net, g->idx, 1);
    sim__push(f, EV_TLS_END, g->idx, f->now + e->duration_s * 1000, 0);
  }
}

typedef void event_fn(fleet *f, const sim_scn_event *e);

/* A new event type: its handler in the file of its concern, and a row here. */
static event_fn *const on_event[] = {
    [SIM_SCN_CLOUD_OUTAGE] = ev_cloud_outage,
    [SIM_SCN_NETWORK] = ev_network,
    [SIM_SCN_RESTART] = ev_restart,
    [SIM_SCN_CRASH] = ev_restart,
    [SIM_SCN_PARTITION] = ev_partition,
    [SIM_SCN_POWER_CUT] = ev_power_cut,
    [SIM_SCN_DISK_FILL] = ev_disk_fill,
    [SIM_SCN_ROTATE] = ev_rotate,
    [SIM_SCN_POLICY] = ev_policy,
    /* identity (sim_ident.c) */
    [SIM_SCN_CLONE] = sim__ev_clone,
    [SIM_SCN_SNAPSHOT] = sim__ev_snapshot,
    [SIM_SCN_RESTORE] = sim__ev_restore,
    [SIM_SCN_TAMPER] = sim__ev_tamper,
    [SIM_SCN_FOREIGN] = sim__ev_foreign,
    [SIM_SCN_REPLAY] = sim__ev_replay,
    [SIM_SCN_REVOKE] = sim__ev_revoke,
    [SIM_SCN_PLANT] = sim__ev_plant,
    /* the local attacker (sim_local.c) */
    [SIM_SCN_LOCAL_ATTACK] = sim__ev_local_attack,
    /* the update repository (sim_supervise.c, sim_update.c) */
    [SIM_SCN_UPD_RELEASE] = sim__ev_update,
    [SIM_SCN_UPD_PROMOTE] = sim__ev_promote,
    [SIM_SCN_UPD_FREEZE] = sim__ev_update,
    [SIM_SCN_UPD_REPLAY] = sim__ev_update,
    [SIM_SCN_UPD_COMPROMISE] = sim__ev_update,
    [SIM_SCN_UPD_TAMPER] = sim__ev_update,
    [SIM_SCN_UPD_ENDLESS] = sim__ev_update,
    [SIM_SCN_UPD_MIX] = sim__ev_update,
    [SIM_SCN_UPD_STEAL] = sim__ev_update,
    [SIM_SCN_CLOUD_LIE] = ev_cloud_lie,
    [SIM_SCN_CLOCK_STEP] = ev_clock_step,
    [SIM_SCN_TLS_FAILURE] = ev_tls_failure,
};

void sim__scenario_event(fleet *f, int idx) {
  const sim_scn_event *e = &f->scn->events[idx];
  f->faults++;
  if ((size_t)e->type < sizeof on_event / sizeof on_event[0] && on_event[e->type])
    on_event[e->type](f, e);
  else
    sim__pick_agents(f, e); /* a type without a handler (the parser lets none through) */
}
