/* sim_supervise.c - the supervisor stand-in of the simulated hosts (issues
 * #6 and #17): what outpost-agent supervise does when an agent exits 75 to
 * take a staged update (the same decisions and switch plans, core/upsup.c,
 * carried out on the host's simulated disk, where a power cut can land
 * after any step), the update rings' groups, and the promotion gate. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/version.h"
#include "core/files.h"
#include "core/update.h"
#include "core/upstate.h"
#include "core/upsup.h"
#include "mc_rings.h"
#include "sim_int.h"

const char *const sim__ring_names[3] = {"canary", "early-access", "stable"};

/* The ring the agent really follows: update_ring of the policy it applied
 * and persisted (state_dir/policy.json), "stable" without one, as update.c. */
static void agent_ring(sim_agent *g, char out[24]) {
  snprintf(out, 24, "stable");
  char buf[65536];
  size_t n = 0;
  if (files_read_small(&g->osh, STATE_DIR "/policy.json", buf, sizeof buf, &n) != OS_OK) return;
  cJSON *o = cJSON_ParseWithLength(buf, n);
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "update_ring");
  if (cJSON_IsString(r) && strlen(r->valuestring) < 24) snprintf(out, 24, "%s", r->valuestring);
  cJSON_Delete(o);
}

static int is_broken(const fleet *f, const char *version) {
  for (int i = 0; i < f->n_broken; i++)
    if (strcmp(f->broken[i], version) == 0) return 1;
  return 0;
}

/* issue #6: the promotion gate, as outpost-cloud promote applies it. Returns
 * 1 when the promote is refused (traced and counted, not a failure). */
static int promote_gate(fleet *f, const sim_scn_event *e) {
  if (e->force) return 0;
  char why[256] = "", esc[300];
  int64_t n = mc_promote_rollbacks(f->cloud, e->version, why, sizeof why);
  if (n == 0) return 0;
  if (n < 0) {
    sim__set_failure(f, "promote %s: cannot read the update reports", e->version);
    f->stop = 1;
    return 1;
  }
  f->promotes_refused++;
  sim__json_escape(why, esc, sizeof esc);
  sim_trace_line(f->trace,
                 "{\"t\":%lld,\"type\":\"promote_refused\",\"version\":\"%s\",\"why\":\"%s\"}",
                 (long long)f->now, e->version, esc);
  return 1;
}

/* The update repository's events (release, freeze, replay_metadata, ...):
 * sim_update.c carries them out; a release "broken": true is remembered for
 * the probations. */
void sim__ev_update(fleet *f, const sim_scn_event *e) {
  char desc[200] = "", err[400] = "";
  if (e->type == SIM_SCN_UPD_RELEASE && e->broken && f->n_broken < SIM_SCN_MAX_EVENTS)
    snprintf(f->broken[f->n_broken++], sizeof f->broken[0], "%s", e->version);
  if (sim_update_event(f->upd, e, f->now, SIM_WALL_EPOCH_MS + f->now, desc, sizeof desc, err,
                       sizeof err) != SIM_UPD_OK) {
    sim__set_failure(f, "event %d (%s): %s", (int)(e - f->scn->events),
                     sim_scenario_event_name(e->type), err);
    f->stop = 1;
  }
  sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"fault\",\"fault\":\"%s\",%s}",
                 (long long)f->now, sim_scenario_event_name(e->type), desc);
}

/* A promote goes to the repository unless the gate refuses it. */
void sim__ev_promote(fleet *f, const sim_scn_event *e) {
  if (!promote_gate(f, e)) sim__ev_update(f, e);
}

/* ---- the supervisor stand-in's bin/ (issue #17) --------------------------
 *
 * Like outpost-agent supervise: bin/<version>/outpost-agent (+ .sig),
 * bin/current and bin/previous links holding a bare version, switched by
 * the steps core/upsup.c plans, each carried out here through the agent's
 * simulated disk, so that a power cut can land after any of them; at the
 * next "boot" core/upsup.c's upsup_boot decides, as it does for the real
 * supervisor. The packaged version's binary is a fixed text (the real one is
 * a copy of the supervisor's own binary); every other version verifies with
 * its .sig against the release key, as open_verified does. */

#define BIN_DIR STATE_DIR "/bin"
/* The packaged binary's text: "outpost-agent <version> (the packaged binary)\n". */
static size_t packaged_bin(char *buf, size_t cap) {
  int n = snprintf(buf, cap, "outpost-agent %s (the packaged binary)\n", outpost_version);
  return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}
#define SUP_BIN_MAX ((size_t)SIM_SCN_MAX_BINARY_KB * 1024 + 1) /* the largest release binary_kb, and one byte to see more */

const char *sim__record_of(fleet *f, sim_agent *g) {
  const char *r = sim_update_version_of(f->upd, g->idx);
  return r[0] ? r : outpost_version;
}

/* bin/<name> (a link to a bare version) into out; -1 when absent or not one. */
static int sup_read_link(sim_agent *g, const char *name, char out[RELEASE_VERSION_MAX]) {
  char p[96], real[OS_PATH_MAX];
  os_stat st;
  release_version v;
  snprintf(p, sizeof p, "%s/%s", BIN_DIR, name);
  if (sim_fs_lstat(g->fs, p, &st) != OS_OK || !st.is_symlink ||
      sim_fs_realpath(g->fs, p, real, sizeof real) != OS_OK)
    return -1;
  const char *base = strrchr(real, '/');
  if (!base || (size_t)(base - real) != strlen(BIN_DIR) || strncmp(real, BIN_DIR, strlen(BIN_DIR)) != 0 ||
      release_version_parse(base + 1, &v) != RELEASE_OK)
    return -1;
  snprintf(out, RELEASE_VERSION_MAX, "%s", base + 1);
  return 0;
}

static int sup_set_link(sim_agent *g, const char *name, const char *version) {
  char p[96], tmp[96];
  snprintf(p, sizeof p, "%s/%s", BIN_DIR, name);
  snprintf(tmp, sizeof tmp, "%s/.%s.new", BIN_DIR, name);
  sim_fs_unlink(g->fs, tmp);
  int rc = sim_fs_symlink(g->fs, version, tmp);
  if (rc == OS_OK) rc = sim_fs_rename(g->fs, tmp, p);
  return rc;
}

/* 1 when bin/<version>/outpost-agent may be executed: the packaged text, or
 * its .sig verifies (and it matches pending.json when want is given). */
static int sup_verified(fleet *f, sim_agent *g, const char *version, const upstate_pending *want) {
  char p[128], sig[RELEASE_SIG_FILE_MAX + 1], hex[2 * CRYPTO_SHA256_LEN + 1], err[200];
  size_t len = 0, sig_len = 0;
  uint8_t sha[CRYPTO_SHA256_LEN];
  uint8_t *bin = malloc(SUP_BIN_MAX);
  int ok = 0;
  snprintf(p, sizeof p, "%s/%s/outpost-agent", BIN_DIR, version);
  if (!bin || files_read_small(&g->osh, p, bin, SUP_BIN_MAX, &len) != OS_OK) goto out;
  crypto_sha256(bin, len, sha);
  if (want) {
    crypto_hex(sha, sizeof sha, hex);
    if ((int64_t)len != want->length || strcmp(hex, want->sha256) != 0) goto out;
  }
  if (!want && strcmp(version, outpost_version) == 0) {
    char packaged[96];
    size_t plen = packaged_bin(packaged, sizeof packaged);
    ok = len == plen && memcmp(bin, packaged, len) == 0;
    goto out;
  }
  snprintf(p, sizeof p, "%s/%s/outpost-agent.sig", BIN_DIR, version);
  if (files_read_small(&g->osh, p, sig, sizeof sig, &sig_len) != OS_OK) goto out;
  release_expect e = {f->rel_der, f->rel_len, {0}, (int64_t)len, release_host_arch(), version};
  memcpy(e.sha256, sha, sizeof sha);
  ok = release_verify(&e, sig, sig_len, NULL, err, sizeof err) == RELEASE_OK;
out:
  free(bin);
  return ok;
}

static int sup_seed(sim_agent *g) {
  char p[128];
  snprintf(p, sizeof p, "%s/%s", BIN_DIR, outpost_version);
  int rc = sim_fs_mkdirs(g->fs, p, 0700);
  snprintf(p, sizeof p, "%s/%s/outpost-agent", BIN_DIR, outpost_version);
  char packaged[96];
  size_t plen = packaged_bin(packaged, sizeof packaged);
  if (rc == OS_OK) rc = files_write_atomic(&g->osh, p, packaged, plen, 0755);
  return rc;
}

static int sup_report(sim_agent *g, const char *kind, const char *version, const char *reason,
                      int64_t wall) {
  upstate_report r;
  memset(&r, 0, sizeof r);
  snprintf(r.kind, sizeof r.kind, "%s", kind);
  snprintf(r.version, sizeof r.version, "%s", version);
  snprintf(r.reason, sizeof r.reason, "%s", reason);
  r.at_ms = wall;
  return upstate_add_report(&g->osh, STATE_DIR, &r);
}

/* bin/current now names to: the fleet's record follows (an install is
 * checked against the scenario's rules; a move down is a rollback). -1 on
 * a rule broken (failure set). */
static int sup_record(fleet *f, sim_agent *g, const char *to, const char *why) {
  char was[RELEASE_VERSION_MAX], ring[24];
  int c = 0;
  snprintf(was, sizeof was, "%s", sim__record_of(f, g));
  if (release_version_cmp_str(to, was, &c) != RELEASE_OK || c == 0) return 0;
  if (c > 0) {
    agent_ring(g, ring);
    const char *no = sim_update_installed(f->upd, f->scn, g->idx, to, ring, f->now);
    sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"install\",\"agent\":%d,\"version\":\"%s\",\"ring\":\"%s\"}",
                   (long long)f->now, (int)g->idx, to, ring);
    f->installs_by_ring[f->rings_on && g->ring >= 0 && g->ring < 2 ? g->ring : 2]++;
    if (!no && strcmp(to, g->rolled_from) == 0) no = "a version its supervisor rolled back is installed again";
    if (no) {
      sim__set_failure(f, "agent %d: %s (ring %s) at t=%lld ms", (int)g->idx, no, ring, (long long)f->now);
      f->stop = 1;
      return -1;
    }
    if (f->scn->upd_rolled_back[0] && strcmp(to, f->scn->upd_rolled_back) == 0) g->installed_rb = 1;
    if (f->scn->upd_final_version[0] && strcmp(to, f->scn->upd_final_version) == 0) g->final_at = f->now;
    return 0;
  }
  sim_update_rolled_back(f->upd, g->idx, strcmp(to, outpost_version) == 0 ? "" : to);
  snprintf(g->rolled_from, sizeof g->rolled_from, "%s", was);
  f->rollbacks++;
  if (g->installed_rb && strcmp(was, f->scn->upd_rolled_back) == 0) g->rolled_back_rb = 1;
  if (f->scn->upd_final_version[0] && strcmp(was, f->scn->upd_final_version) == 0) g->final_at = -1;
  char esc[2 * UPSUP_WHY_MAX + 8];
  sim__json_escape(why ? why : "", esc, sizeof esc);
  sim_trace_line(f->trace,
                 "{\"t\":%lld,\"type\":\"rollback\",\"agent\":%d,\"version\":\"%s\",\"to\":\"%s\","
                 "\"why\":\"%s\"}",
                 (long long)f->now, (int)g->idx, was, to, esc);
  return 0;
}

/* One step of a switch plan. OS_OK, or an error (failure set by the caller). */
static int sup_step(fleet *f, sim_agent *g, const upstate *us, const upsup_step *st,
                    const char *why) {
  char p[96];
  int rc = OS_EINVAL;
  switch (st->op) {
    case UPSUP_OP_SAVE_STATE: rc = upstate_save(&g->osh, STATE_DIR, us); break;
    case UPSUP_OP_LINK_PREVIOUS: rc = sup_set_link(g, "previous", st->version); break;
    case UPSUP_OP_LINK_CURRENT:
      rc = sup_set_link(g, "current", st->version);
      if (rc == OS_OK && !g->cut && sup_record(f, g, st->version, why) != 0) rc = OS_EINVAL;
      break;
    case UPSUP_OP_UNLINK_PREVIOUS:
      snprintf(p, sizeof p, "%s/previous", BIN_DIR);
      rc = sim_fs_unlink(g->fs, p);
      if (rc == OS_ENOENT) rc = OS_OK;
      break;
  }
  return rc;
}

/* After each step (and before the first): 1 when the power goes here, an
 * armed switch cut (sw_cut == sw_step, or the last step of the switch when
 * last) or a power cut that fired in the step's own writes. */
static int sup_cut_here(fleet *f, sim_agent *g, const char *what, int last) {
  int armed = g->sw_cut >= 0 && (g->sw_cut == g->sw_step || (last && g->sw_cut > g->sw_step));
  if (!armed && !g->cut) return 0;
  if (armed) {
    g->sw_cut = -1;
    sim_fs_crash(g->fs);
    f->switch_cuts++;
    f->switch_cut_steps |= 1u << (g->sw_step & 31);
    sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"switch_power_cut\",\"agent\":%d,\"after_step\":%d,\"step\":\"%s\"}",
                   (long long)f->now, (int)g->idx, g->sw_step, what);
  }
  sim_fs_set_frozen(g->fs, 0);
  return 1;
}

/* The check's own rule, not the supervisor's (upsup_may_run), so that
 * breaking the supervisor's cannot silence it: NULL when version may run. */
static const char *sup_check_may_run(const upstate *us, const char *version) {
  int c = 0;
  if (upstate_is_bad(us, version)) return "on the bad list";
  if (us->floor[0] && (release_version_cmp_str(version, us->floor, &c) != RELEASE_OK || c < 0))
    return "below the version floor";
  return NULL;
}

/* What is wrong with this host's bin/ (NULL: nothing): bin/current must
 * verify, may run (not bad, not below the floor), be what the fleet
 * recorded, and a probation for it must have a bin/previous that verifies
 * and may run (the rollback target). detail gets the versions. */
const char *sim__sup_bin_wrong(fleet *f, sim_agent *g, char *detail, size_t cap) {
  char cur[RELEASE_VERSION_MAX] = "", prev[RELEASE_VERSION_MAX] = "", e[200];
  upstate us;
  const char *w = NULL;
  int have_prev = sup_read_link(g, "previous", prev) == 0;
  if (sup_read_link(g, "current", cur) != 0) w = "bin/current is missing or not a version";
  else if (upstate_load(&g->osh, STATE_DIR, &us, e, sizeof e) != OS_OK) w = "update/state.json unreadable";
  else if (!sup_verified(f, g, cur, NULL)) w = "bin/current does not verify";
  else if (sup_check_may_run(&us, cur)) w = sup_check_may_run(&us, cur);
  else if (strcmp(cur, sim__record_of(f, g)) != 0) w = "bin/current is not the version the fleet recorded";
  else if (upsup_on_probation(&us, cur) &&
           (!have_prev || strcmp(prev, cur) == 0 || !sup_verified(f, g, prev, NULL) ||
            sup_check_may_run(&us, prev)))
    w = "on probation without a rollback target (bin/previous)";
  snprintf(detail, cap, "agent %d: current \"%s\", previous \"%s\", recorded \"%s\"", (int)g->idx,
           cur, have_prev ? prev : "", sim__record_of(f, g));
  return w;
}

static int sup_probation(fleet *f, sim_agent *g, upstate *us, const char *version);

/* bin/ pruned before the agent starts, as supervise.c prune_bin does, with
 * the same rule (core/upsup.c upsup_bin_keep). */
typedef struct sup_names {
  char name[UPSUP_BIN_MAX_ENTRIES][RELEASE_VERSION_MAX];
  int n;
} sup_names;

static int sup_name_cb(void *user, const char *name) {
  sup_names *l = user;
  if (l->n < UPSUP_BIN_MAX_ENTRIES && strlen(name) < RELEASE_VERSION_MAX)
    snprintf(l->name[l->n++], RELEASE_VERSION_MAX, "%s", name);
  return 0;
}

/* At most current, previous and one staged version in bin/. */
static int sup_bin_count_cb(void *user, const char *name) {
  release_version v;
  if (release_version_parse(name, &v) == RELEASE_OK) ++*(int *)user;
  return 0;
}

static void sup_prune(fleet *f, sim_agent *g) {
  char cur[RELEASE_VERSION_MAX] = "", prev[RELEASE_VERSION_MAX] = "", e[200], p[128];
  upstate_pending pend;
  memset(&pend, 0, sizeof pend);
  (void)sup_read_link(g, "current", cur);
  (void)sup_read_link(g, "previous", prev);
  if (upstate_load_pending(&g->osh, STATE_DIR, &pend, e, sizeof e) != OS_OK) pend.version[0] = 0;
  sup_names *l = calloc(1, sizeof *l);
  if (!l) return;
  (void)sim_fs_list_dir(g->fs, BIN_DIR, UPSUP_BIN_MAX_ENTRIES, sup_name_cb, l);
  for (int i = 0; i < l->n; i++) {
    if (upsup_bin_keep(l->name[i], cur, prev, pend.version)) continue;
    snprintf(p, sizeof p, "%s/%s/outpost-agent", BIN_DIR, l->name[i]);
    sim_fs_unlink(g->fs, p);
    snprintf(p, sizeof p, "%s/%s/outpost-agent.sig", BIN_DIR, l->name[i]);
    sim_fs_unlink(g->fs, p);
    snprintf(p, sizeof p, "%s/%s", BIN_DIR, l->name[i]);
    if (sim_fs_rmdir(g->fs, p) == OS_OK) f->bin_pruned++;
  }
  free(l);
  int versions = 0;
  (void)sim_fs_list_dir(g->fs, BIN_DIR, UPSUP_BIN_MAX_ENTRIES, sup_bin_count_cb, &versions);
  if (versions > 3) {
    sim__set_failure(f, "update: agent %d at t=%lld ms: bin/ holds %d versions after its supervisor pruned it "
                "(at most current, previous and one staged)", (int)g->idx, (long long)f->now, versions);
    f->stop = 1;
  }
}

/* The supervisor starts: a fresh bin/ is seeded, a switch a power cut
 * interrupted is finished (core/upsup.c upsup_boot), a stale probation is
 * dropped (as supervise_run's loop does), bin/ is checked, and a probation
 * still running goes on. Returns 1 when the agent was opened (by a nested
 * reboot), 0 when the caller opens it, -1 on failure (set). */
static int sup_boot(fleet *f, sim_agent *g) {
  char cur[RELEASE_VERSION_MAX], prev[RELEASE_VERSION_MAX], e[400], d[300];
  upstate us;
  if (sim_fs_mkdirs(g->fs, BIN_DIR, 0700) != OS_OK ||
      upstate_load(&g->osh, STATE_DIR, &us, e, sizeof e) != OS_OK) {
    sim__set_failure(f, "agent %d: the supervisor cannot start: bin/ or update/state.json: %s", (int)g->idx, e);
    f->stop = 1;
    return -1;
  }
  upsup_boot_in in = {&us, NULL, 0, NULL, 0, outpost_version};
  if (sup_read_link(g, "current", cur) == 0) {
    in.current = cur;
    in.current_ok = sup_verified(f, g, cur, NULL);
  }
  if (sup_read_link(g, "previous", prev) == 0) {
    in.previous = prev;
    in.previous_ok = sup_verified(f, g, prev, NULL);
  }
  upsup_boot_out b;
  upsup_boot(&in, &b);
  const int64_t wall = SIM_WALL_EPOCH_MS + f->now;
  if (b.report_kind && sup_report(g, b.report_kind, cur, b.why, wall) != OS_OK) b.action = UPSUP_BOOT_FAIL;
  int rc = b.action == UPSUP_BOOT_FAIL ? OS_EINVAL : OS_OK;
  if (rc == OS_OK && b.seed_self) rc = sup_seed(g);
  for (int i = 0; rc == OS_OK && b.action == UPSUP_BOOT_SWITCH && i < b.n_steps; i++)
    rc = sup_step(f, g, &us, &b.steps[i], b.why);
  if (b.action == UPSUP_BOOT_SWITCH && g->bin_ready) f->boot_switches++;
  if (rc == OS_OK && us.on_probation && !upsup_on_probation(&us, b.run)) {
    us.on_probation = 0; /* left over from an interrupted take */
    rc = upstate_save(&g->osh, STATE_DIR, &us);
  }
  g->bin_ready = 1;
  const char *w = rc == OS_OK ? sim__sup_bin_wrong(f, g, d, sizeof d) : "the supervisor cannot start";
  if (w) {
    sim__set_failure(f, "update: after a start of its supervisor at t=%lld ms: %s (%s; %s)",
                (long long)f->now, w, d, b.why);
    f->stop = 1;
    return -1;
  }
  if (upsup_on_probation(&us, b.run)) return sup_probation(f, g, &us, b.run);
  return 0;
}

/* A power cut in the supervisor: the host reboots, the supervisor starts
 * (sup_boot), then the agent. */
static void sup_reboot(fleet *f, sim_agent *g) {
  sim__power_cut_done(f, g);
  if (sup_boot(f, g) == 0) {
    g->in_sup = 0;
    sup_prune(f, g);
    sim__open_agent(f, g);
  }
}

/* Runs steps [0, n) of a plan with a cut point after each; between steps
 * after_first (may be NULL) runs after the first. Returns 0, 1 when the
 * power was cut (rebooted), -1 on failure. */
static int sup_run_plan(fleet *f, sim_agent *g, const upstate *us, const upsup_step *steps, int n,
                        int last_plan, const char *why, int (*after_first)(fleet *, sim_agent *, void *),
                        void *arg) {
  for (int i = 0; i < n; i++) {
    int rc = sup_step(f, g, us, &steps[i], why);
    if (rc != OS_OK && !g->cut) {
      if (!f->stop)
        sim__set_failure(f, "agent %d: switch step %s %s failed: %d", (int)g->idx,
                    upsup_op_name(steps[i].op), steps[i].version, rc);
      f->stop = 1;
      return -1;
    }
    g->sw_step++;
    if (sup_cut_here(f, g, upsup_op_name(steps[i].op), last_plan && i == n - 1)) {
      sup_reboot(f, g);
      return 1;
    }
    if (i == 0 && after_first && after_first(f, g, arg) != 0) return -1;
  }
  return 0;
}

typedef struct rb_note {
  const char *version, *reason;
  int64_t wall;
} rb_note;

static int rb_report(fleet *f, sim_agent *g, void *arg) {
  rb_note *n = arg;
  if (sup_report(g, "rollback", n->version, n->reason, n->wall) == OS_OK) return 0;
  sim__set_failure(f, "agent %d: cannot write update/report.json", (int)g->idx);
  f->stop = 1;
  return -1;
}

/* The probation of version (bin/current): a version released "broken"
 * exits non-zero at every start and the crash-loop rule rolls it back
 * (bad list, report.json, bin/current back to bin/previous or the packaged
 * version); any other version reports health at its first start and
 * passes (floor raised). The restarts of a crash loop take their back-off
 * (0.5 s doubling) in the decision's clock. Returns as sup_boot. */
static int sup_probation(fleet *f, sim_agent *g, upstate *us, const char *version) {
  upsup_cfg cfg = {f->cfg.update_probation_ms, f->cfg.update_crash_loop_max,
                   f->cfg.update_crash_window_ms};
  upsup_exits ex;
  char reason[UPSUP_WHY_MAX] = "", ver[RELEASE_VERSION_MAX];
  snprintf(ver, sizeof ver, "%s", version);
  memset(&ex, 0, sizeof ex);
  const int64_t wall = SIM_WALL_EPOCH_MS + f->now;
  int broken = is_broken(f, ver);
  upsup_verdict v = UPSUP_NONE;
  int64_t t = 0, backoff = 500;
  for (int i = 0; i < 2 * UPSUP_CRASH_MAX + 2 && v == UPSUP_NONE; i++) {
    v = upsup_on_start(us, ver, &cfg, reason, sizeof reason);
    if (v != UPSUP_NONE) break;
    if (!broken) {
      upstate_health h;
      snprintf(h.version, sizeof h.version, "%s", ver);
      h.at_ms = wall + t;
      v = upsup_on_tick(us, ver, &h, wall + t, reason, sizeof reason);
      break;
    }
    v = upsup_on_exit(&ex, us, ver, f->now + t, &cfg, reason, sizeof reason);
    t += backoff;
    backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
  }
  upsup_step steps[UPSUP_STEPS_MAX];
  int n = 0;
  if (v == UPSUP_PASS) {
    steps[n++].op = UPSUP_OP_SAVE_STATE;
    return sup_run_plan(f, g, us, steps, n, 1, NULL, NULL, NULL);
  }
  if (v != UPSUP_ROLLBACK) {
    sim__set_failure(f, "agent %d: the supervisor reached no verdict on %s", (int)g->idx, ver);
    f->stop = 1;
    return -1;
  }
  upsup_mark_bad(us, ver);
  /* The target: bin/previous if it verifies and may run, else the packaged
   * version (as roll_back in supervise.c). */
  char prev[RELEASE_VERSION_MAX], target[RELEASE_VERSION_MAX] = "";
  if (sup_read_link(g, "previous", prev) == 0 && strcmp(prev, ver) != 0 &&
      !upsup_may_run(us, prev, 0) && sup_verified(f, g, prev, NULL))
    snprintf(target, sizeof target, "%s", prev);
  else if (!upsup_may_run(us, outpost_version, 0) && sup_seed(g) == OS_OK)
    snprintf(target, sizeof target, "%s", outpost_version);
  if (!target[0]) {
    sim__set_failure(f, "agent %d: %s failed probation and there is nothing to roll back to", (int)g->idx, ver);
    f->stop = 1;
    return -1;
  }
  n = upsup_plan_rollback(target, steps);
  rb_note note = {ver, reason, wall + t};
  return sup_run_plan(f, g, us, steps, n, 1, reason, rb_report, &note);
}

/* What outpost-agent supervise does when its child exits 75, with the same
 * decisions and switch plans (core/upsup.c): pending.json read through
 * upstate and checked (not current, not bad, above the floor), the staged
 * binary verified (pending.json's length and sha256, its .sig), the
 * probation begun and the take's steps carried out (a power cut can land
 * after any: sup_cut_here), then the new version's probation (sup_probation).
 * The simulated agents all run the compiled-in outpost_version, so until
 * the floor says otherwise their updater would offer the version on
 * probation again. */
void sim__supervise(fleet *f, sim_agent *g) {
  upstate_pending p;
  char e[400] = "", cur[RELEASE_VERSION_MAX] = "";
  int rc = upstate_load_pending(&g->osh, STATE_DIR, &p, e, sizeof e);
  agent_close(g->a);
  g->a = NULL;
  g->step_pending = 0;
  g->step_gen++;
  g->in_sup = 1;
  if (!g->bin_ready) {
    int b = sup_boot(f, g); /* the supervisor's first start: bin/ seeded */
    if (b != 0) return;
  }
  if (rc == 0 && !sup_verified(f, g, p.version, &p)) {
    rc = -1;
    snprintf(e, sizeof e, "bin/%s/outpost-agent does not match pending.json or its .sig does not verify",
             p.version);
  }
  upstate us;
  if (rc == 0 && (upstate_load(&g->osh, STATE_DIR, &us, e, sizeof e) != 0 ||
                  upstate_clear_pending(&g->osh, STATE_DIR) != 0)) {
    rc = -1;
    if (!e[0]) snprintf(e, sizeof e, "update/state.json or pending.json unusable");
  }
  if (rc == 0 && (sup_read_link(g, "current", cur) != 0 || strcmp(cur, sim__record_of(f, g)) != 0)) {
    rc = -1;
    snprintf(e, sizeof e, "bin/current (\"%s\") is not the version the fleet recorded (%s)", cur,
             sim__record_of(f, g));
  }
  if (rc != 0) {
    sim__set_failure(f, "agent %d exited 75 at t=%lld ms but its staged update is unusable: %s",
                (int)g->idx, (long long)f->now, e);
    f->stop = 1;
    return;
  }
  const char *no = upsup_check_pending(&us, cur, p.version, 1);
  if (no) {
    sim__set_failure(f, "agent %d at t=%lld ms staged %s, which its supervisor refuses: %s",
                (int)g->idx, (long long)f->now, p.version, no);
    f->stop = 1;
    return;
  }
  upsup_cfg cfg = {f->cfg.update_probation_ms, f->cfg.update_crash_loop_max,
                   f->cfg.update_crash_window_ms};
  upsup_begin_probation(&us, NULL, p.version, SIM_WALL_EPOCH_MS + f->now, &cfg);
  upsup_step steps[UPSUP_STEPS_MAX];
  int n = upsup_plan_take(cur, p.version, steps);
  g->sw_step = 0;
  if (sup_cut_here(f, g, "pending_cleared", 0)) {
    sup_reboot(f, g);
    return;
  }
  rc = sup_run_plan(f, g, &us, steps, n, 0, NULL, NULL, NULL);
  if (rc == 0) rc = sup_probation(f, g, &us, p.version);
  if (rc != 0) return;
  g->in_sup = 0;
  sup_prune(f, g);
  sim__open_agent(f, g);
}

/* issue #6: an enrolled agent joins its ring's group once (stable agents
 * stay in none: the workspace's policy, or none, means stable). */
void sim__ring_assign(fleet *f, sim_agent *g) {
  if (!g->a || g->grouped) return;
  agent_stats s;
  agent_get_stats(g->a, &s);
  if (!s.agent_id[0]) return;
  g->grouped = 1;
  if (g->ring == 2) return;
  char err[128] = "";
  if (mc_agent_set_group(f->cloud, s.agent_id, sim__ring_names[g->ring], err, sizeof err) != MC_OK) {
    sim__set_failure(f, "agent %d: cannot join group %s: %s", (int)g->idx, sim__ring_names[g->ring], err);
    f->stop = 1;
  }
}
