/* pstate.h - the agent's live policy: the last good policy, what it added to
 * collection, and what must be reported to the cloud.
 *
 * The agent (agent.c) owns one pstate and calls it at fixed points: at open
 * (load the persisted last good policy), after a GET /v1/policy (offer the
 * body), in every collection pass (tail the files the policy added), and
 * when the network is idle (fetch due? report pending?).
 *
 * A policy is applied whole or not at all: a body that fails policy_parse
 * leaves the current policy and its sources untouched and records the exact
 * error for the report. Every file a glob matches is re-checked with
 * policy_check_path right before each read, so a symlink planted after the
 * policy was applied is refused (and reported) rather than followed.
 *
 * Ownership: pstate_open allocates; pstate_close frees (safe on NULL). The
 * os shim and spool are borrowed for the duration of each call.
 *
 * Return codes: PSTATE_OK (0) or PSTATE_ENOMEM; pstate_offer returns
 * PSTATE_OK (applied), PSTATE_ESAME (same version as now: nothing to do) or
 * PSTATE_EINVALID (rejected, last good one kept).
 */
#ifndef OUTPOST_CORE_PSTATE_H
#define OUTPOST_CORE_PSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/policy.h"
#include "core/spool.h"
#include "core/tail.h"
#include "shim/os.h"

#define PSTATE_OK 0
#define PSTATE_ENOMEM (-1)
#define PSTATE_EINVALID (-2)
#define PSTATE_ESAME (-3)

#define PSTATE_MAX_REFUSED 32   /* refusals kept for one report */
#define PSTATE_RESCAN_MS 60000  /* globs are re-expanded this often */
#define PSTATE_RETRY_MS 60000   /* fetch retry after a failure */
#define PSTATE_NO_POLICY_MS 3600000 /* re-ask this often while the workspace has none */

typedef struct pstate pstate;

typedef struct pstate_info {
  int64_t version;          /* applied policy version, 0 = none */
  int64_t rejected_version; /* last version refused, 0 = none */
  char last_error[POLICY_ERR_MAX];
  int n_files;              /* files the policy adds now */
  int64_t refused_total;    /* path refusals ever */
  int64_t rejected_total;   /* policies rejected ever */
  int64_t snapshots_run, diags_run;
  int journal_state; /* jread_state (core/jread.h): 0 unknown, 1 not available, 2 reading */
} pstate_info;

/* Opens the policy state for cfg (copied: roots, state dir). Loads
 * state_dir/policy.json if present and valid; a bad file is ignored (and
 * logged), never fatal. */
int pstate_open(const agent_config *cfg, const os_shim *os, pstate **out);
void pstate_close(pstate *ps);

const policy *pstate_policy(const pstate *ps);
void pstate_get_info(const pstate *ps, pstate_info *out);

/* Validates and, when valid and new, applies body: persists it, re-expands
 * globs. now: monotonic ms. */
int pstate_offer(pstate *ps, const os_shim *os, const char *body, size_t len, int64_t now);

/* Fetch scheduling: due at the first session after start, then every
 * policy_interval_s (+ jitter_ms, chosen by the caller) after a success,
 * PSTATE_RETRY_MS (+ jitter_ms) after a failure (ok 0), PSTATE_NO_POLICY_MS
 * when the cloud has no policy for the workspace (ok -1): a fleet without a
 * policy costs the cloud one request per agent per hour. A session renewal does not
 * fetch by itself (it would add a burst when a fleet renews together). */
int pstate_fetch_due(const pstate *ps, int64_t now);
int64_t pstate_next_fetch(const pstate *ps);
void pstate_fetch_done(pstate *ps, int ok, int64_t now, int64_t jitter_ms);
/* 1 when the fetch should go before a due ingest: the first fetch of a
 * session, or one overdue by a whole interval (so a constant backlog cannot
 * starve policy updates). Otherwise ingest goes first. */
int pstate_fetch_urgent(const pstate *ps, int64_t now);
/* The cloud's hint (ingest replies carry "policy_version"): a version other
 * than the applied or the last rejected one makes the fetch due now. */
void pstate_hint(pstate *ps, int64_t version);
/* Forces a fetch at the next opportunity (a new session). */
void pstate_fetch_soon(pstate *ps);

/* A report to send? Builds it (malloc'd JSON, caller frees with free()) and
 * marks it in flight; pstate_report_done(ok) clears or re-arms it. */
int pstate_report_pending(const pstate *ps);
char *pstate_report_take(pstate *ps);
void pstate_report_done(pstate *ps, int ok);

/* With a policy applied, the journal source (core/jread.h, through
 * os->journal) is polled in every pass with what is left of the budget.
 * Runs at most one due snapshot, snapshot delta (core/snapdelta.h: every
 * interval/10, at least 10 s, between full ones; source "delta:NAME") or
 * diagnostic (core/collect.h; records with source "snapshot:NAME" /
 * "diag:NAME", spooled 64 lines per transaction so
 * memory does not grow with the snapshot), then tails every policy-added
 * file once (same contract as tail_poll), after re-checking its path;
 * re-expands the globs every PSTATE_RESCAN_MS. lines and more accumulate.
 * Errors are logged through os->log. */
/* A policy body that never reached pstate_offer (the reply was larger than
 * the transport's limit): rejected and reported like a malformed one, under
 * the version the cloud announced; the last good policy stays. */
void pstate_reject(pstate *ps, const os_shim *os, const char *err);

/* Records a refused file (path, why) for the next report to the cloud and
 * counts it in refused_total; once per path per applied policy. Used for the
 * local config's sources too (issue #13: every refusal reaches the cloud). */
void pstate_note_refusal(pstate *ps, const os_shim *os, const char *path, const char *why);

void pstate_collect(pstate *ps, const os_shim *os, spool *sp, tail_buffers *tb, int64_t wall,
                    int64_t now, int64_t *lines, int *more);
/* pstate_collect under a record budget (issue #5, core/caps.h): a due
 * snapshot or diagnostic starts only while max_lines > 0 (it then runs whole
 * and may spend more: the caller charges *lines to its bucket); policy files
 * are tailed with what is left (tail_poll_max). *limited (accumulates) is 1
 * when something waited for the budget. */
void pstate_collect_max(pstate *ps, const os_shim *os, spool *sp, tail_buffers *tb, int64_t wall,
                        int64_t now, int64_t max_lines, int64_t *lines, int *more, int *limited);

#endif
