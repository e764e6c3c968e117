/* upsup.h - the supervisor's decisions about an update on probation, as pure
 * functions (no OS call, no clock: times are passed in), so that
 * `outpost-agent supervise` (agent/posix/supervise.c) and the simulator's
 * supervisor stand-in (simulator/sim_supervise.c) decide with the same code
 * (docs/updates.md "The supervisor").
 *
 *   take a staged update?   upsup_check_pending, then upsup_begin_probation
 *   start the current one?  upsup_on_start   (too many starts on probation)
 *   it exited               upsup_on_exit    (crash loop within the window)
 *   while it runs           upsup_on_tick    (health -> pass; deadline -> roll back)
 *   rolled back             upsup_mark_bad   (bad list, probation cleared)
 *
 * The caller does the I/O: loads and saves state.json (upstate.h), switches
 * the bin/ links, writes the rollback report (upstate_add_report). A verdict
 * of UPSUP_ROLLBACK comes with its reason (the text the report carries).
 *
 * Ownership: plain values; nothing allocated.
 */
#ifndef OUTPOST_CORE_UPSUP_H
#define OUTPOST_CORE_UPSUP_H

#include <stddef.h>
#include <stdint.h>

#include "core/upstate.h"

#define UPSUP_CRASH_MAX 100 /* bound on crash_loop_max */
#define UPSUP_WHY_MAX 96

typedef struct upsup_cfg {
  int64_t probation_ms;    /* config update.probation_s */
  int crash_loop_max;      /* 1..UPSUP_CRASH_MAX */
  int64_t crash_window_ms; /* config update.crash_window_s */
} upsup_cfg;

/* Recent unrequested exits (monotonic ms), at most crash_loop_max kept. */
typedef struct upsup_exits {
  int64_t at[UPSUP_CRASH_MAX];
  int n;
} upsup_exits;

typedef enum upsup_verdict { UPSUP_NONE = 0, UPSUP_PASS = 1, UPSUP_ROLLBACK = 2 } upsup_verdict;

/* NULL when the staged version may be taken, else why not (static text):
 * no release key, already current, on the bad list, not above the floor. */
const char *upsup_check_pending(const upstate *st, const char *current, const char *version,
                                int have_release_key);

/* Puts version on probation from wall_ms (deadline wall_ms + probation_ms,
 * no start yet) and forgets earlier exits. */
void upsup_begin_probation(upstate *st, upsup_exits *ex, const char *version, int64_t wall_ms,
                           const upsup_cfg *cfg);

/* 1 when st (NULL: none) holds a probation for current. */
int upsup_on_probation(const upstate *st, const char *current);

/* Before starting current: counts the start when it is on probation (save
 * st afterwards, the count survives supervisor restarts). UPSUP_ROLLBACK
 * when that makes more than crash_loop_max starts. */
upsup_verdict upsup_on_start(upstate *st, const char *current, const upsup_cfg *cfg, char *why,
                             size_t why_cap);

/* Current exited unrequested at mono_ms: recorded; UPSUP_ROLLBACK when it is
 * on probation and crash_loop_max exits fell within crash_window_ms. */
upsup_verdict upsup_on_exit(upsup_exits *ex, const upstate *st /* NULL: unreadable */,
                            const char *current, int64_t mono_ms,
                            const upsup_cfg *cfg, char *why, size_t why_cap);

/* While current runs on probation: health (NULL when none) naming current,
 * written since the probation began, passes it (floor raised, probation
 * cleared in st: UPSUP_PASS); else the deadline passed at wall_ms is
 * UPSUP_ROLLBACK; else UPSUP_NONE. */
upsup_verdict upsup_on_tick(upstate *st, const char *current, const upstate_health *health,
                            int64_t wall_ms, char *why, size_t why_cap);

/* After a rollback decision: bad joins the bad list, no probation. */
void upsup_mark_bad(upstate *st, const char *bad);

/* ---- the switch of bin/current, bin/previous and state.json (issue #17) ----
 *
 * A switch is a short sequence of steps, each atomic on its own (state.json
 * by temp + sync + rename, a link by renaming a fresh one over the old) and
 * made durable before the next (the directory is fsynced). A power cut can
 * land between any two; the order below is what keeps every prefix safe,
 * with upsup_boot deciding at the next start:
 *
 *   take      SAVE_STATE (probation)  LINK_PREVIOUS cur  LINK_CURRENT next
 *             cut after 1: a probation for a version that is not current,
 *             dropped; after 2: current = previous = cur. The other order
 *             would run next with no probation, or on probation with no
 *             rollback target.
 *   rollback  SAVE_STATE (bad list)   LINK_CURRENT target  UNLINK_PREVIOUS
 *             cut after 1: bin/current is on the bad list, so upsup_boot
 *             goes on to bin/previous (the interrupted rollback finished
 *             and reported); after 2: current = previous = target.
 *   pass      SAVE_STATE (floor raised, probation cleared): one step.
 *
 * The real supervisor (agent/posix/supervise.c) and the simulator's stand-in
 * (simulator/sim_supervise.c, which can cut power after any step) both carry
 * out these plans. */
#define UPSUP_STEPS_MAX 4

typedef enum upsup_op {
  UPSUP_OP_SAVE_STATE = 1,      /* update/state.json := the caller's upstate */
  UPSUP_OP_LINK_PREVIOUS = 2,   /* bin/previous := version */
  UPSUP_OP_LINK_CURRENT = 3,    /* bin/current := version */
  UPSUP_OP_UNLINK_PREVIOUS = 4, /* bin/previous removed */
} upsup_op;

typedef struct upsup_step {
  upsup_op op;
  char version[RELEASE_VERSION_MAX]; /* LINK_*: the link's new target */
} upsup_step;

/* Fills out with the steps of a take (cur -> next; the state to save holds
 * next's probation already) or of a rollback to target (the state holds the
 * bad list); returns how many (<= UPSUP_STEPS_MAX). */
int upsup_plan_take(const char *cur, const char *next, upsup_step out[UPSUP_STEPS_MAX]);
int upsup_plan_rollback(const char *target, upsup_step out[UPSUP_STEPS_MAX]);
/* Short name of a step ("save_state", "link_previous", ...), for logs. */
const char *upsup_op_name(upsup_op op);

/* What may run: NULL, or why version may not (static text): on the bad
 * list, below the floor; st NULL (state.json unreadable, the floor unknown)
 * allows only keep (the binary that was running goes on, nothing else is
 * switched to). */
const char *upsup_may_run(const upstate *st, const char *version, int keep);

/* At every start of the supervisor (and so after a power cut in the middle
 * of a switch): which version to start and which steps bring bin/ there. */
typedef struct upsup_boot_in {
  const upstate *st;    /* NULL: state.json exists but cannot be read */
  const char *current;  /* bin/current's version; NULL: absent or not a version */
  int current_ok;       /* its binary verifies (signature, or the installed one) */
  const char *previous; /* bin/previous likewise */
  int previous_ok;
  const char *self;     /* the installed version (its binary can always be seeded) */
} upsup_boot_in;

typedef enum upsup_boot_action {
  UPSUP_BOOT_RUN = 0,    /* start bin/current as it is */
  UPSUP_BOOT_SWITCH = 1, /* seed bin/<self> when seed_self, carry out steps, start run */
  UPSUP_BOOT_FAIL = 2,   /* nothing may run (why) */
} upsup_boot_action;

typedef struct upsup_boot_out {
  upsup_boot_action action;
  char run[RELEASE_VERSION_MAX]; /* the version to start (RUN, SWITCH) */
  int seed_self;
  upsup_step steps[UPSUP_STEPS_MAX];
  int n_steps;
  /* bin/current verified but was refused: report it. "rollback" when it is
   * on the bad list (a rollback a power cut interrupted), else "refused";
   * NULL when nothing was refused. */
  const char *report_kind;
  char why[2 * UPSUP_WHY_MAX];
} upsup_boot_out;

/* Decides (pure):
 *   bin/current verifies and may run   RUN (or SWITCH to an installed
 *                                      version newer than it: previous :=
 *                                      current, current := self)
 *   it verifies but may not run        SWITCH to bin/previous if it verifies
 *                                      and may run, else to self if self may,
 *                                      else FAIL; report_kind set
 *   absent or does not verify          SWITCH to self (unless self may not
 *                                      run: then bin/previous, else FAIL);
 *                                      bin/previous is left as it is */
void upsup_boot(const upsup_boot_in *in, upsup_boot_out *out);

/* bin/ keeps at most current, previous and one staged version (issue #17):
 * 1 when the entry name of bin/ is kept, 0 when it is a version directory
 * to delete. Names that are not a bare version (the links, their temp
 * files) are not the pruner's and are kept. Any argument may be NULL or "". */
#define UPSUP_BIN_MAX_ENTRIES 256 /* entries of bin/ looked at per prune */
int upsup_bin_keep(const char *name, const char *current, const char *previous, const char *staged);

#endif
