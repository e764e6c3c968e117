/* sim_local.c - the local attacker of issue #13 inside one host: during a
 * local_attack event, each open of an attacked file by the agent may swap it
 * for a symlink or a FIFO (or back), right inside that open (sim_fs's open
 * hook), after every check the agent made before it. The same hook arms a
 * power cut "during": "update_download" (issue #17). */
#include <stdio.h>
#include <string.h>

#include "core/update.h"
#include "sim_int.h"

static void aside_of(const sim_scn_swap *w, char *out, size_t cap) {
  snprintf(out, cap, "/var/log/.aside-%s", w->path + 9); /* path is /var/log/NAME */
}

/* Swaps file k of g's attack in (for a symlink or a FIFO, the real file kept
 * aside as an application with it open would keep writing to it) or back. */
static void attack_toggle(sim_agent *g, int k) {
  const sim_scn_swap *w = &g->scn->swaps[g->attack_first + k];
  char aside[96];
  aside_of(w, aside, sizeof aside);
  /* No muting needed: called from the hook (sim_fs does not re-enter it) or
   * outside the agent's calls (muted then). */
  if (!(g->swapped & (1u << k))) {
    if (sim_fs_rename(g->fs, w->path, aside) == OS_OK) {
      int rc = w->fifo ? sim_fs_mknod(g->fs, w->path, OS_TYPE_FIFO, 0644)
                       : sim_fs_symlink(g->fs, w->target, w->path);
      if (rc == OS_OK) {
        g->swapped |= 1u << k;
        g->swaps++;
      } else {
        sim_fs_rename(g->fs, aside, w->path);
      }
    }
  } else {
    sim_fs_unlink(g->fs, w->path);
    sim_fs_rename(g->fs, aside, w->path);
    g->swapped &= ~(1u << k);
  }
}

void sim__attack_restore(sim_agent *g) {
  for (int k = 0; k < g->attack_n; k++)
    if (g->swapped & (1u << k)) attack_toggle(g, k);
}

/* sim_fs's open hook: the attacker acts inside the agent's own open of one
 * of its files, after every check the agent made before that open. */
void sim__attack_hook(void *user, sim_fs *fs, const char *path) {
  sim_agent *g = user;
  (void)fs;
  if (!path || g->attack_mute) return; /* the simulator's own look at the disk */
  /* power_cut "during": "update_download" (issue #17): armed when the
   * download's file is opened, it lands among the pieces written to it. */
  size_t pl = strlen(path), dl = strlen("/" UPDATE_DOWNLOAD_FILE);
  if (g->cut_on_download && pl > dl && strcmp(path + pl - dl, "/" UPDATE_DOWNLOAD_FILE) == 0) {
    g->cut_on_download = 0;
    sim_fs_power_cut_at(g->fs, g->cut_on_download_nth, sim__on_power_cut, g);
  }
  if (g->attack_n == 0) return;
  if (*g->clock >= g->attack_until) {
    sim__attack_restore(g);
    return;
  }
  for (int k = 0; k < g->attack_n; k++)
    if (strcmp(path, g->scn->swaps[g->attack_first + k].path) == 0 &&
        sim_rng_bernoulli(&g->attack_rng, g->attack_p))
      attack_toggle(g, k);
}

static void local_attack(fleet *f, sim_agent *g, const sim_scn_event *e) {
  sim__attack_restore(g); /* a previous attack's files first */
  g->clock = &f->now;
  g->scn = f->scn;
  g->attack_until = f->now + e->duration_s * 1000;
  g->attack_p = e->probability;
  g->attack_first = e->swap_first;
  g->attack_n = e->n_swap;
  g->swapped = 0;
  sim_rng_seed(&g->attack_rng, f->opt->seed ^ 0x5a5a5a5aULL, SIM_RNG_AGENT_BASE + 500000u + (uint64_t)g->idx);
  /* The collected files the attack uses, with lines of their own first
   * (counted as written: they must arrive exactly once like the app's). */
  for (int k = 0; k < e->n_swap; k++) {
    const sim_scn_swap *w = &f->scn->swaps[e->swap_first + k];
    for (int64_t i = 0; i < w->lines; i++) {
      char line[128];
      int64_t no = g->lines_written + 1;
      int n = snprintf(line, sizeof line, "agent-%05d line-%09lld %s\n", (int)g->idx,
                       (long long)no, w->path);
      if (sim_fs_append(g->fs, w->path, line, (size_t)n, 1) != OS_OK) break;
      g->lines_written = no;
      f->log_lines++;
    }
  }
  sim_fs_set_open_hook(g->fs, sim__attack_hook, g);
}

void sim__ev_local_attack(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k && !f->stop; i++) local_attack(f, &f->ag[f->perm[i]], e);
}

/* Where the application's log is now: aside while the attacker has swapped it. */
const char *sim__app_log_path(const sim_agent *g, char *buf, size_t cap) {
  for (int k = 0; k < g->attack_n; k++) {
    const sim_scn_swap *w = &g->scn->swaps[g->attack_first + k];
    if ((g->swapped & (1u << k)) && strcmp(w->path, LOG_PATH) == 0) {
      aside_of(w, buf, cap);
      return buf;
    }
  }
  return LOG_PATH;
}
