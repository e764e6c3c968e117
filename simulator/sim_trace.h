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
 * chains (sim_trace_hash_fold). With full = 1 every event is also written as
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
int sim_trace_full(const sim_trace *t);
/* SIM_TRACE_EIO if any write failed. */
int sim_trace_close(sim_trace *t);

#endif
