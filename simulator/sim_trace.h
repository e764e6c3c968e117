/* sim_trace.h - the run's trace (trace.jsonl) and its event hash.
 *
 * Every processed event is folded into an FNV-1a 64 hash chain (type, time,
 * agent, result as fixed-width little-endian integers), so comparing the hash
 * in two traces compares every event even when only summary lines are
 * written. There is one chain per agent (its events in order) and one for
 * the fleet's own events (agent -1, or an index past the agents), and the
 * run's hash is FNV over (agent index, its chain, its event count) for every
 * agent in index order, then the fleet's chain (issue #15): it does not
 * depend on how events of different agents interleave, so a fleet run in
 * shards (docs/scale.md) has the same hash as one run, from the shards'
 * chains (sim_trace_hash_fold). An hour line's hash is another, order-free
 * digest of the same chains (sim_trace_digest): a sum, so the merge of
 * shards adds their hour lines' digests instead of needing every agent's
 * chain at every hour. With full = 1 every event is also written as
 * a line. Nothing machine-dependent (wall time, pointers, paths) may be
 * written here: same scenario + seed must give the same bytes.
 *
 * Ownership: sim_trace owns its FILE; sim_trace_close flushes and frees (safe
 * on NULL). Without a path nothing is written but the hash is still kept.
 * Return codes: SIM_TRACE_OK (0), SIM_TRACE_EIO (-1), SIM_TRACE_ENOMEM (-2),
 * SIM_TRACE_EINVAL (-3: n_agents out of range).
 */
#ifndef OUTPOST_SIM_TRACE_H
#define OUTPOST_SIM_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define SIM_TRACE_OK 0
#define SIM_TRACE_EIO (-1)
#define SIM_TRACE_ENOMEM (-2)
#define SIM_TRACE_EINVAL (-3)

#define SIM_TRACE_FNV_BASIS UINT64_C(0xcbf29ce484222325)
#define SIM_TRACE_MAX_AGENTS 1000000

typedef struct sim_trace sim_trace;

/* n_agents (0..SIM_TRACE_MAX_AGENTS): agents with a chain of their own. */
int sim_trace_open(const char *path, int full, int64_t n_agents, sim_trace **out);
/* Folds one event into its chain; writes it when full. name is the event kind. */
void sim_trace_event(sim_trace *t, int type, const char *name, int64_t time_ms, int32_t agent,
                     int64_t result);
/* Writes one JSON object line (fmt must produce a complete object). */
void sim_trace_line(sim_trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The run's hash (above): O(agents). */
uint64_t sim_trace_hash(const sim_trace *t);
int64_t sim_trace_events(const sim_trace *t);
/* Agent i's chain and event count; i = -1: the fleet's. 0, or -1 when out of range. */
int sim_trace_chain(const sim_trace *t, int64_t i, uint64_t *hash, int64_t *events);
/* One step of the run's hash: h folded with (agent, chain, events). Start
 * from SIM_TRACE_FNV_BASIS, fold agents 0..n-1 in order, then agent -1. */
uint64_t sim_trace_hash_fold(uint64_t h, int64_t agent, uint64_t chain, int64_t events);
/* The order-free digest of the chains so far (hour lines): the sum, modulo
 * 2^64, of a mix of sim_trace_hash_fold(basis, i, chain, events) over the
 * agents with at least one event (an agent a shard does not run has none,
 * so a shard's sum is its share), plus the fleet's term when with_fleet.
 * O(agents). sim_trace_digest_fleet: the fleet's term alone. */
uint64_t sim_trace_digest(const sim_trace *t, int with_fleet);
uint64_t sim_trace_digest_fleet(const sim_trace *t);
int sim_trace_full(const sim_trace *t);

/* An hour line: the fleet's counters at a whole simulated hour. A shard's
 * (shard = 1) holds its agents' share of every counter, events counts the
 * fleet's own too, hash has no fleet term, and fleet_events/fleet_hash carry
 * the fleet's apart; one run's (and a merge's) has shard = 0. */
typedef struct sim_trace_hour {
  int64_t t, hour, events;
  uint64_t hash;
  int64_t lines_written, produced, acked, spooled, cloud_records, requests, lost_in, lost_out,
      refused, ledger_checks;
  int shard;
  int64_t fleet_events;
  uint64_t fleet_hash;
} sim_trace_hour;
void sim_trace_hour_line(sim_trace *t, const sim_trace_hour *h);

/* The run's last lines: an expect line per expectation, then the end line.
 * One run writes them with sim_trace_verdict; a merge after the shards'. */
typedef struct sim_trace_end {
  int64_t agents;                /* merge: an "ev" line of agent -1 or >= this is the fleet's */
  int64_t t;                     /* simulated ms of the expect and end lines */
  int64_t events, lines_written, ledger_checks;
  uint64_t hash;
  int n_exp;
  const char *const *exp_name;   /* [n_exp] */
  const int *exp_pass;           /* [n_exp] */
} sim_trace_end;
void sim_trace_verdict(sim_trace *t, const sim_trace_end *e);

/* Merges the trace.jsonl of shards 0..n-1 (in[k] is shard k's) into out
 * (written whole through a temporary file, then renamed): each shard's
 * lines keep their order; lines of equal time go agents' first, lower
 * shard first; the fleet's own lines (in every shard) are written once and
 * must be the same in every shard that has them; hour lines are summed
 * into the line one run writes; the shards' expect and end lines give way
 * to end's. A run stopped by a failure in one shard leaves that shard's
 * trace short: the lines after it come from the others. Every line must
 * start {"t":N, as the run writes them. SIM_TRACE_OK, or SIM_TRACE_EINVAL
 * (err names the file, line and what is wrong), SIM_TRACE_EIO,
 * SIM_TRACE_ENOMEM. */
#define SIM_TRACE_MERGE_MAX_LINE (64L << 20) /* a fault line lists up to 100,000 agents */
int sim_trace_merge(const char *const *in, int n, const char *out, const sim_trace_end *end,
                    char *err, size_t err_cap);
/* SIM_TRACE_EIO if any write failed. */
int sim_trace_close(sim_trace *t);

#endif
