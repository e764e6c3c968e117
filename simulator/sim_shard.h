/* sim_shard.h - one simulated fleet over several processes or machines
 * (issue #15, docs/scale.md).
 *
 * `outpost-sim run SCN --shard K/N --out DIR` runs only the agents whose
 * index i has i % N == K (the rest of the fleet is never set up) and writes
 * DIR/shard.json, its partial result (sim_shard_write_part), beside its own
 * trace.jsonl and cloud.db. `outpost-sim merge DIR... --out DIR` reads the N
 * partial results and writes the report.json (and report.html) that one run
 * of the whole fleet writes: the same counters, request-rate curve,
 * timeline, trace hash and expectation verdicts. `run --jobs J` is J shards
 * as child processes of this one, then the merge.
 *
 * Exact because every draw that decides an agent's fate comes from a stream
 * of that agent (sim_rng.h), the fleet's own draws (which agents an event
 * hits) are made identically in every shard, agents of a shardable scenario
 * share nothing but counters through the cloud, and the trace hash is
 * per-agent chains folded in agent order (sim_trace.h). Which scenarios are
 * shardable: sim_shard_refusal.
 *
 * Return codes: SIM_SHARD_OK (0), SIM_SHARD_EINVAL (bad input: err names
 * what and where), SIM_SHARD_EIO (a file could not be read or written),
 * SIM_SHARD_ENOMEM.
 */
#ifndef OUTPOST_SIM_SHARD_H
#define OUTPOST_SIM_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "sim_fleet.h"
#include "sim_report.h"
#include "sim_scenario.h"
#include "sim_summary.h"

#define SIM_SHARD_OK 0
#define SIM_SHARD_EINVAL (-1)
#define SIM_SHARD_EIO (-2)
#define SIM_SHARD_ENOMEM (-3)

#define SIM_SHARD_MAX 4096                  /* N of --shard K/N and merge's directories */
#define SIM_SHARD_MAX_JOBS 64               /* --jobs */
#define SIM_SHARD_MAX_FILE (512L << 20)     /* shard.json */
#define SIM_SHARD_FORMAT "outpost-sim shard 2" /* 2: "build", and the hour lines of a shard's trace */

/* Parses "K/N" (0 <= K < N <= SIM_SHARD_MAX). 0, or SIM_SHARD_EINVAL with err. */
int sim_shard_parse(const char *s, int *k, int *n, char *err, size_t err_cap);

/* NULL when scn may run in shards (its agents do not interact, and every
 * expectation it has can be merged); else why not, in buf ("uses clone
 * events: ..."). */
const char *sim_shard_refusal(const sim_scenario *scn, char *buf, size_t cap);

/* The running program's GNU build id (the linker's note: a digest of the
 * binary) as hex into out, or "unknown" when it has none. Every shard and
 * the merge must be one build: the streams, the agent's code and the
 * cloud's all decide the result. */
void sim_shard_build_id(char *out, size_t cap);

/* FNV-1a 64 of a scenario file's bytes: shards of different files do not merge. */
uint64_t sim_shard_digest(const void *data, size_t len);

/* A shard's partial result (what the fleet hands to sim_shard_write_part).
 * Borrowed pointers; nothing is freed here. */
typedef struct sim_shard_part {
  int k, n;
  uint64_t scenario_digest;
  const char *scenario_text; /* the scenario file, embedded so the merge needs no path */
  size_t scenario_len;
  const char *scenario_path; /* as the shard was given it (report.html's replay commands) */
  int trace_full;
  int stopped;               /* a failure (the ledger's, ...) stopped the run */
  int64_t failure_t;         /* when (simulated ms), and on which agent (-1: none) */
  int64_t failure_agent;
  const char *run_failure;   /* the failure that stopped it ("" none), before the expectations */
  int64_t fleet_events;      /* events of the fleet itself (summary.c[SIM_C_EVENTS] is all) */
  uint64_t fleet_chain;
  int64_t n_chains;          /* this shard's agents, in index order */
  const int64_t *chain_idx;
  const uint64_t *chain_hash;
  const int64_t *chain_events;
  const sim_report_timeline *tl; /* NULL: none */
  const sim_summary *sum;
} sim_shard_part;

/* Writes path (DIR/shard.json), through a temporary file renamed at the end,
 * so a shard.json that exists is whole. */
int sim_shard_write_part(const char *path, const sim_shard_part *p, char *err, size_t err_cap);

/* Reads dirs[0..n_dirs)/shard.json, checks they are one shard each of one
 * run (same scenario file, seed, fleet size and shard count; no shard
 * missing or twice) and writes out_dir/report.json and report.html as the
 * unsharded run would. res gets what sim_run's result holds. SIM_RUN_OK,
 * SIM_RUN_EFAILED (an expectation failed), or SIM_RUN_ESETUP with err. */
int sim_shard_merge(const char *const *dirs, int n_dirs, const char *out_dir, sim_run_result *res,
                    char *err, size_t err_cap);

/* `outpost-sim merge DIR... --out DIR` (argv[0] is "merge"): exit 0, 1, 2
 * as `run`. */
int sim_shard_merge_main(int argc, char **argv);

#endif
