/* upsup.h - the supervisor's decisions about an update on probation, as pure
 * functions (no OS call, no clock: times are passed in), so that
 * `outpost-agent supervise` (agent/posix/supervise.c) and the simulator's
 * supervisor stand-in (simulator/sim_fleet.c) decide with the same code
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

#endif
