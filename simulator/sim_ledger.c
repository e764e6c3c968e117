/* sim_ledger.c - the no-loss ledger (sim_fleet.h states the rule) and the
 * space invariants, checked after every event for the agent it touched;
 * for an agent whose disk was copied or rolled back, the lineage ledger. */
#include <stdio.h>
#include <string.h>

#include "core/caps.h"
#include "core/update.h"
#include "sim_int.h"

const char *sim_ledger_verdict(int64_t produced, int64_t spooled, int64_t spool_first_seq,
                               int64_t shed, int64_t c, int64_t mn, int64_t mx, int64_t below,
                               int64_t lines_written) {
  /* The spool holds [low, produced]; every record below low is held by the
   * cloud or was shed. Above low the cloud may hold any part: batches of
   * the window (issue #14) stored out of order, or an ack lost. */
  int64_t low = spooled > 0 ? spool_first_seq : produced + 1;
  int64_t held_below = spooled > 0 ? below : c;
  if (spooled > 0 && spool_first_seq + spooled - 1 != produced)
    return "spool does not hold its first record through the last produced";
  if (produced > lines_written) return "produced more records than lines written";
  if (c != 0 && (mn < 1 || mx > produced)) return "cloud holds a record never produced";
  if (shed > 0) {
    /* A shed batch may also have reached the cloud (stored, ack lost): during
     * the run nothing may be MISSING; the exact account is checked at the end
     * by SQL over the store's records and shed_reports. */
    if (held_below + shed < low - 1) return "cloud holds a gap not shed";
    return NULL;
  }
  if (held_below != low - 1) return "cloud holds a gap";
  return NULL;
}

/* issue #5: from the moment an agent runs a rate-capped policy, it may
 * produce one second of burst plus the expected rate per second, never more
 * (an agent restarted after a crash starts a new window). */
static void rate_check(fleet *f, sim_agent *g, const agent_stats *s) {
  caps_info ci;
  agent_caps_info(g->a, &ci);
  if (ci.rate <= 0) return;
  if (g->cap_a != g->a) {
    g->cap_a = g->a;
    g->cap_t0 = f->now;
    g->cap_p0 = s->produced;
    f->capped_agents++;
    return;
  }
  int64_t r = f->scn->max_records_per_s;
  int64_t allowed = r + r * (f->now - g->cap_t0) / 1000;
  int64_t got = s->produced - g->cap_p0;
  if (f->now - g->cap_t0 >= 10000 && got * 1000 / (f->now - g->cap_t0) > f->cap_peak_rate)
    f->cap_peak_rate = got * 1000 / (f->now - g->cap_t0);
  if (got <= allowed) return;
  sim__set_failure(f,
              "max_records_per_s: agent %d produced %lld records in the %lld ms since it was "
              "capped (at most %lld allowed at %lld/s)",
              (int)g->idx, (long long)got, (long long)(f->now - g->cap_t0), (long long)allowed,
              (long long)r);
  f->stop = 1;
}

/* After every event an agent was touched by: its spool files never exceed
 * the quota, and nothing that is not the agent's own was deleted or cut. */
/* expect.floor_held (RES-3, the free-space floor itself): while another
 * program keeps the volume under the agent's floor, the agent gives back its
 * own oldest records (and their pages) until the floor holds or its spool is
 * empty. A volume under the floor for longer than FLOOR_GRACE_MS while the
 * agent still holds records is a violation; so is the spool's database
 * growing while the volume is under the floor. Without the floor the agent
 * keeps its data and the host stays short of space. */
#define FLOOR_GRACE_MS 60000
static int floor_ok(fleet *f, sim_agent *g, int64_t spool_db) {
  int64_t prev = g->floor_prev_db;
  g->floor_prev_db = spool_db;
  uint64_t avail = 0, total = 0;
  if (!g->a || sim_fs_free_space(g->fs, "/", &avail, &total) != OS_OK) return 1;
  int64_t floor_b = (int64_t)(total / 100 * (uint64_t)f->cfg.spool_floor_pct);
  if (floor_b > f->cfg.spool_floor_max_bytes) floor_b = f->cfg.spool_floor_max_bytes;
  if ((int64_t)avail >= floor_b) {
    g->under_floor_since = -1;
    return 1;
  }
  if (spool_db > prev && prev > 0) return 0;
  if (g->under_floor_since < 0) g->under_floor_since = f->now;
  if (f->now - g->under_floor_since <= FLOOR_GRACE_MS) return 1;
  agent_stats st;
  agent_get_stats(g->a, &st);
  return st.spooled == 0;
}

static void space_check(fleet *f, sim_agent *g) {
  os_stat st;
  int64_t used = 0, spool_db = 0;
  char aside[96];
  const char *what = NULL;
  uint64_t gen = sim_fs_generation(g->fs);
  f->quota_checks++;
  if (g->space_fs == g->fs && g->space_gen == gen && g->space_log_bytes == g->log_bytes &&
      g->space_rotations == g->rotations) {
    /* Nothing on the disk changed since the last check, which held: the
     * same files, sizes and space give the same verdict (these stats, by
     * path, were 4.7% of a steady day's instructions). */
    spool_db = g->space_db;
    used = g->space_used;
  } else {
    /* issue #17: an update's download counts in the same quota, and grows
     * only above the floor; it is checked with the spool's database. */
    spool_db = sim__spool_db_bytes(g);
    used += spool_db;
    if (sim_fs_stat(g->fs, STATE_DIR "/spool.db-journal", &st) == OS_OK) used += st.size;
    if (sim_fs_stat(g->fs, STATE_DIR "/spool.db-reserve", &st) == OS_OK) used += st.size;
    if (used > f->cfg.spool_quota_bytes) what = "spool files exceed the quota";
    else if (sim_fs_stat(g->fs, CA_PATH, &st) != OS_OK) what = "the CA file is gone";
    else if (g->ballast && sim_fs_stat(g->fs, BALLAST_PATH, &st) != OS_OK) what = "the ballast file is gone";
    else if (g->log_bytes > 0 && (sim_fs_stat(g->fs, sim__app_log_path(g, aside, sizeof aside), &st) != OS_OK ||
                                  st.size < g->log_bytes))
      what = "the application's log lost bytes";
    if (!what) {
      g->space_fs = g->fs;
      g->space_gen = gen;
      g->space_log_bytes = g->log_bytes;
      g->space_rotations = g->rotations;
      g->space_db = spool_db;
      g->space_used = used;
    }
  }
  if (!what && f->scn->disk_floor_held && !floor_ok(f, g, spool_db))
    what = "the volume stayed under the free-space floor while the agent kept its records (or grew its spool)";
  if (!what) return;
  sim__set_failure(f, "space: agent %d at t=%lld ms: %s (spool files %lld bytes, quota %lld)",
              (int)g->idx, (long long)f->now, what, (long long)used,
              (long long)f->cfg.spool_quota_bytes);
  sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"space_violation\",\"agent\":%d,\"what\":\"%s\"}",
                 (long long)f->now, (int)g->idx, what);
  f->stop = 1;
}

/* Ledger for agents whose disk was copied or rolled back: the strict
 * balance no longer holds (two hosts share a history), so check what still
 * must: the current identity's holdings are gap-free and never ahead of what
 * this agent produced. Delivery is then checked at the end, by line content. */
static const char *lineage_verdict(const agent_stats *s, int64_t c, int64_t mn, int64_t mx,
                                   int64_t below) {
  if (c == 0 || s->shed != 0) return NULL;
  int64_t f = s->spool_first_seq;
  if (s->spooled > 0 && mx >= f) {
    /* the window's batches may have arrived out of order above f */
    if (mn < f && below != f - mn) return "identity's holdings have a gap";
    return NULL;
  }
  if (mx - mn + 1 != c) return "identity's holdings have a gap";
  return NULL;
}

/* The cloud's records of the agent below its spool's first record: the
 * summary's count less those at or above it, which are asked for only when
 * there are some (issue #14's window, an ack not yet back) and then once
 * per (store change, first record). Counting those above, not those below,
 * keeps the query as small as the spool, not as large as the agent's
 * history. */
static int64_t held_below(fleet *f, sim_agent *g, const agent_stats *s) {
  if (s->spooled == 0 || g->cloud_max < s->spool_first_seq || !g->cloud_id[0]) return g->cloud_c;
  if (g->cloud_below_for != s->spool_first_seq) {
    int64_t from = 0;
    g->cloud_below = -1;
    if (mc_agent_seq_count_from(f->cloud, g->cloud_id, s->spool_first_seq, &from) == MC_OK)
      g->cloud_below = g->cloud_c - from;
    g->cloud_below_for = s->spool_first_seq;
  }
  return g->cloud_below;
}

void sim__ledger_check(fleet *f, sim_agent *g) {
  /* A host whose power was cut is checked after its reboot, not while its
   * in-memory state still describes writes the disk never kept. */
  if (!g->a || f->stop || g->cut) return;
  if (g->swapped && f->now >= g->attack_until) sim__attack_restore(g);
  agent_stats s;
  agent_get_stats(g->a, &s);
  if (g->cloud_stale || strcmp(s.agent_id, g->cloud_id) != 0) {
    memcpy(g->cloud_id, s.agent_id, sizeof g->cloud_id);
    g->cloud_c = g->cloud_min = g->cloud_max = 0;
    if (s.agent_id[0] &&
        mc_agent_seq_summary(f->cloud, s.agent_id, &g->cloud_c, &g->cloud_min, &g->cloud_max) !=
            MC_OK)
      g->cloud_c = g->cloud_min = g->cloud_max = 0;
    g->cloud_stale = 0;
    g->cloud_below_for = -1;
  }
  int64_t c = g->cloud_c, mn = g->cloud_min, mx = g->cloud_max;
  f->ledger_checks++;
  space_check(f, g);
  if (f->scn->no_denied_open && g->os.denied_opens > 0) {
    sim__set_failure(f, "no_denied_open: agent %d at t=%lld ms opened %s (denied; %lld attempts)",
                 (int)g->idx, (long long)f->now, g->os.denied_first,
                 (long long)g->os.denied_opens);
    sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"denied_open\",\"agent\":%d}",
                   (long long)f->now, (int)g->idx);
    f->stop = 1;
  }
  if (!f->stop && f->scn->max_records_per_s > 0) rate_check(f, g, &s);
  if (f->stop) return;
  int64_t below = held_below(f, g, &s);
  const char *what = g->lineage ? lineage_verdict(&s, c, mn, mx, below)
                               : sim_ledger_verdict(s.produced, s.spooled, s.spool_first_seq,
                                                    s.shed, c, mn, mx, below, g->lines_written);
  if (!what) return;
  sim__set_failure(f,
              "ledger: agent %d at t=%lld ms: %s (produced %lld, lines written %lld, cloud "
              "count %lld min %lld max %lld, spooled %lld first %lld, shed %lld)",
              (int)g->idx, (long long)f->now, what, (long long)s.produced,
              (long long)g->lines_written, (long long)c, (long long)mn, (long long)mx,
              (long long)s.spooled, (long long)s.spool_first_seq, (long long)s.shed);
  sim_trace_line(f->trace,
                 "{\"t\":%lld,\"type\":\"ledger_violation\",\"agent\":%d,\"what\":\"%s\","
                 "\"produced\":%lld,\"lines_written\":%lld,\"cloud_count\":%lld,\"cloud_min\":%lld,"
                 "\"cloud_max\":%lld,\"spooled\":%lld,\"spool_first_seq\":%lld,\"shed\":%lld}",
                 (long long)f->now, (int)g->idx, what, (long long)s.produced,
                 (long long)g->lines_written, (long long)c, (long long)mn, (long long)mx,
                 (long long)s.spooled, (long long)s.spool_first_seq, (long long)s.shed);
  f->stop = 1;
}
