/* sim_fleet.h - runs a scenario: N real agent cores (agent/core) against the
 * in-process mock cloud (mockcloud) on virtual time, deterministically from a
 * seed, checking the no-loss ledger after every event.
 *
 * Ledger, for the agent an event touched, with S = agent_stats and the
 * cloud's per-agent summary (count C, min, max, and B: how many of its
 * records lie below S.spool_first_seq):
 *   the spool holds [L, S.produced], L = S.spool_first_seq (S.produced + 1
 *   when empty), and every record below L is in the cloud or was shed:
 *     B == L - 1 (no shed)    B + S.shed >= L - 1 (some shed)
 *   above L the cloud may hold any part (the window's batches stored out of
 *   order, issue #14; an ack lost); nothing above S.produced, and
 *   S.produced <= lines written
 * The first violation stops the run (the trace ends at the offending event).
 *
 * Files in opt->out_dir (created if missing): trace.jsonl, report.json,
 * report.html (sim_report.h) and the cloud's store cloud.db. Without out_dir the store lives in a fresh
 * directory under /tmp that is removed afterwards and no files are written.
 *
 * Return codes: SIM_RUN_OK (0, every expectation held) or negative:
 *   SIM_RUN_EFAILED  an expectation or the ledger failed (res->failure says which)
 *   SIM_RUN_ESETUP   the run could not be set up (err says why; a scenario
 *                    whose agents interact cannot run as a shard)
 * A shard (opt->shard_n > 1) returns SIM_RUN_OK once its shard.json is
 * written, whatever its checks said: the verdict is the merge's.
 */
#ifndef OUTPOST_SIM_FLEET_H
#define OUTPOST_SIM_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "sim_scenario.h"

#define SIM_RUN_OK 0
#define SIM_RUN_EFAILED (-1)
#define SIM_RUN_ESETUP (-2)

/* Where a run is, for a progress display (issue #15): never part of the
 * trace or the report, so it cannot change a run's result. */
typedef struct sim_progress {
  int64_t now_ms, end_ms; /* simulated time, and where the run ends (drain included) */
  int64_t agents;
  int64_t events;         /* popped so far */
  int done;               /* 1 on the last call */
} sim_progress;

typedef struct sim_run_options {
  uint64_t seed;
  int64_t agents;      /* 0: the scenario's fleet size */
  const char *out_dir; /* NULL: no files */
  int trace_full;      /* every event (and agent log line) in the trace */
  /* NULL: none. Called every SIM_PROGRESS_EVENTS events and once at the end;
   * it decides itself, from its own clock, whether to show anything. */
  void (*progress)(void *user, const sim_progress *p);
  void *progress_user;
  const char *scenario_path; /* for the replay commands in report.html; NULL: the name */
  /* issue #15, sim_shard.h: run shard shard_k of shard_n (shard_n 0 or 1:
   * the whole fleet); a shard needs out_dir and the scenario file's bytes
   * (embedded in its shard.json), and writes shard.json instead of
   * report.json and report.html */
  int shard_k, shard_n;
  const char *scenario_text;
  size_t scenario_len;
} sim_run_options;

#define SIM_PROGRESS_EVENTS 4096

typedef struct sim_run_result {
  int64_t agents;
  int64_t sim_ms;       /* simulated time covered, drain included */
  int64_t events;
  int64_t lines_written;
  int64_t records_acked;
  int64_t cloud_records;
  int64_t requests;
  int64_t ledger_checks;
  int expectations, expectations_failed;
  uint64_t trace_hash;
  char failure[512];    /* first failure, "" when none */
} sim_run_result;

/* The ledger rule above as a pure function, so it can be tested on its own.
 * Returns NULL when the numbers balance, else what is wrong (static text). */
const char *sim_ledger_verdict(int64_t produced, int64_t spooled, int64_t spool_first_seq,
                               int64_t shed, int64_t cloud_count, int64_t cloud_min,
                               int64_t cloud_max, int64_t cloud_below_first,
                               int64_t lines_written);

/* mkdir -p for an output directory (dir is modified while it works and
 * restored): 0, or -1 with errno set. Shared by sim_run and the shard merge. */
int sim_mkdir_p(char *dir);

int sim_run(const sim_scenario *scn, const sim_run_options *opt, sim_run_result *res, char *err,
            size_t err_cap);

#endif
