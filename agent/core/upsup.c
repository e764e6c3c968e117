/* upsup.c - the supervisor's probation decisions (see upsup.h). */
#include "core/upsup.h"

#include <stdio.h>
#include <string.h>

static void put(char *why, size_t cap, const char *text) {
  if (why && cap) snprintf(why, cap, "%s", text);
}

const char *upsup_check_pending(const upstate *st, const char *current, const char *version,
                                int have_release_key) {
  int c = 0;
  if (!have_release_key) return "no release key compiled in: updates refused";
  if (strcmp(version, current) == 0) return "already the current version";
  if (upstate_is_bad(st, version)) return "version is on the bad list";
  if (st->floor[0] && (release_version_cmp_str(version, st->floor, &c) != RELEASE_OK || c <= 0))
    return "version is not above the floor";
  return NULL;
}

void upsup_begin_probation(upstate *st, upsup_exits *ex, const char *version, int64_t wall_ms,
                           const upsup_cfg *cfg) {
  st->on_probation = 1;
  snprintf(st->probation.version, sizeof st->probation.version, "%s", version);
  st->probation.since_ms = wall_ms;
  st->probation.deadline_ms = wall_ms + cfg->probation_ms;
  st->probation.starts = 0;
  if (ex) ex->n = 0;
}

int upsup_on_probation(const upstate *st, const char *current) {
  return st && st->on_probation && strcmp(st->probation.version, current) == 0;
}

upsup_verdict upsup_on_start(upstate *st, const char *current, const upsup_cfg *cfg, char *why,
                             size_t why_cap) {
  if (!upsup_on_probation(st, current)) return UPSUP_NONE;
  if (st->probation.starts < UPSTATE_STARTS_MAX) st->probation.starts++;
  if (st->probation.starts <= cfg->crash_loop_max) return UPSUP_NONE;
  put(why, why_cap, "crash loop: too many starts on probation");
  return UPSUP_ROLLBACK;
}

upsup_verdict upsup_on_exit(upsup_exits *ex, const upstate *st, const char *current, int64_t mono_ms,
                            const upsup_cfg *cfg, char *why, size_t why_cap) {
  int max = cfg->crash_loop_max;
  if (max < 1) max = 1;
  if (max > UPSUP_CRASH_MAX) max = UPSUP_CRASH_MAX;
  if (ex->n > max) ex->n = max;
  if (ex->n == max) {
    memmove(ex->at, ex->at + 1, (size_t)(max - 1) * sizeof ex->at[0]);
    ex->n--;
  }
  ex->at[ex->n++] = mono_ms;
  int recent = 0;
  for (int i = 0; i < ex->n; i++) recent += mono_ms - ex->at[i] <= cfg->crash_window_ms;
  if (!upsup_on_probation(st, current) || recent < max) return UPSUP_NONE;
  if (why && why_cap)
    snprintf(why, why_cap, "crash loop: %d exits within %lld s", recent,
             (long long)(cfg->crash_window_ms / 1000));
  return UPSUP_ROLLBACK;
}

upsup_verdict upsup_on_tick(upstate *st, const char *current, const upstate_health *health,
                            int64_t wall_ms, char *why, size_t why_cap) {
  if (!upsup_on_probation(st, current)) return UPSUP_NONE;
  if (health && strcmp(health->version, current) == 0 && health->at_ms >= st->probation.since_ms) {
    if (upstate_raise_floor(st, current) != 0) return UPSUP_NONE;
    st->on_probation = 0;
    return UPSUP_PASS;
  }
  if (wall_ms < st->probation.deadline_ms) return UPSUP_NONE;
  put(why, why_cap, "no health report before the probation deadline");
  return UPSUP_ROLLBACK;
}

void upsup_mark_bad(upstate *st, const char *bad) {
  upstate_add_bad(st, bad);
  st->on_probation = 0;
}

/* ---- the switch (issue #17) ---------------------------------------------- */

static void step(upsup_step *s, upsup_op op, const char *version) {
  s->op = op;
  snprintf(s->version, sizeof s->version, "%s", version ? version : "");
}

int upsup_plan_take(const char *cur, const char *next, upsup_step out[UPSUP_STEPS_MAX]) {
  /* Probation before the links; previous before current (see upsup.h). */
  step(&out[0], UPSUP_OP_SAVE_STATE, NULL);
  step(&out[1], UPSUP_OP_LINK_PREVIOUS, cur);
  step(&out[2], UPSUP_OP_LINK_CURRENT, next);
  return 3;
}

int upsup_plan_rollback(const char *target, upsup_step out[UPSUP_STEPS_MAX]) {
  /* The bad list before the link: a cut in between is finished at boot. */
  step(&out[0], UPSUP_OP_SAVE_STATE, NULL);
  step(&out[1], UPSUP_OP_LINK_CURRENT, target);
  step(&out[2], UPSUP_OP_UNLINK_PREVIOUS, NULL);
  return 3;
}

const char *upsup_op_name(upsup_op op) {
  switch (op) {
    case UPSUP_OP_SAVE_STATE: return "save_state";
    case UPSUP_OP_LINK_PREVIOUS: return "link_previous";
    case UPSUP_OP_LINK_CURRENT: return "link_current";
    case UPSUP_OP_UNLINK_PREVIOUS: return "unlink_previous";
  }
  return "?";
}

const char *upsup_may_run(const upstate *st, const char *version, int keep) {
  int c = 0;
  if (!st) return keep ? NULL : "update/state.json unreadable: the version floor is unknown";
  if (upstate_is_bad(st, version)) return "on the bad list";
  if (st->floor[0] && (release_version_cmp_str(version, st->floor, &c) != RELEASE_OK || c < 0))
    return "below the version floor";
  return NULL;
}

static void boot_switch(upsup_boot_out *o, const char *to, int seed, const char *prev_from) {
  o->action = UPSUP_BOOT_SWITCH;
  o->seed_self = seed;
  snprintf(o->run, sizeof o->run, "%s", to);
  o->n_steps = 0;
  if (prev_from) step(&o->steps[o->n_steps++], UPSUP_OP_LINK_PREVIOUS, prev_from);
  step(&o->steps[o->n_steps++], UPSUP_OP_LINK_CURRENT, to);
}

void upsup_boot(const upsup_boot_in *in, upsup_boot_out *o) {
  memset(o, 0, sizeof *o);
  const upstate *st = in->st;
  const char *cur = in->current, *prev = in->previous, *self = in->self;
  int prev_usable = prev && in->previous_ok && (!cur || strcmp(prev, cur) != 0) &&
                    !upsup_may_run(st, prev, 0);
  if (cur && in->current_ok) {
    const char *no = upsup_may_run(st, cur, 1);
    if (!no) {
      int newer = 0;
      if (release_version_cmp_str(self, cur, &newer) == RELEASE_OK && newer > 0 &&
          !upsup_may_run(st, self, 0)) {
        boot_switch(o, self, 1, cur); /* the package installed a newer version */
        return;
      }
      o->action = UPSUP_BOOT_RUN;
      snprintf(o->run, sizeof o->run, "%s", cur);
      return;
    }
    o->report_kind = upstate_is_bad(st, cur) ? "rollback" : "refused";
    if (upstate_is_bad(st, cur))
      snprintf(o->why, sizeof o->why, "bin/current (%s) refused: %s", cur, no);
    else
      snprintf(o->why, sizeof o->why, "bin/current (%s) refused: version %s is below the version floor %s",
               cur, cur, st->floor);
    if (prev_usable) boot_switch(o, prev, 0, NULL);
    else if (strcmp(self, cur) != 0 && !upsup_may_run(st, self, 0)) boot_switch(o, self, 1, NULL);
    else o->action = UPSUP_BOOT_FAIL;
    return;
  }
  /* Nothing usable in bin/current (a fresh install, a damaged binary). */
  if (!upsup_may_run(st, self, 1)) boot_switch(o, self, 1, NULL);
  else if (prev_usable) boot_switch(o, prev, 0, NULL);
  else {
    o->action = UPSUP_BOOT_FAIL;
    snprintf(o->why, sizeof o->why, "no binary to start: the installed %s is %s", self,
             upsup_may_run(st, self, 1));
  }
}

int upsup_bin_keep(const char *name, const char *current, const char *previous, const char *staged) {
  release_version v;
  if (!name || release_version_parse(name, &v) != RELEASE_OK) return 1;
  const char *keep[3] = {current, previous, staged};
  for (int i = 0; i < 3; i++)
    if (keep[i] && keep[i][0] && strcmp(keep[i], name) == 0) return 1;
  return 0;
}
