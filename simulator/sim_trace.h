/* sim_trace.h - the run's trace (trace.jsonl) and its running event hash.
 *
 * Every processed event is folded into an FNV-1a 64 hash chain (type, time,
 * agent, result as fixed-width little-endian integers), so comparing the hash
 * in two traces compares every event even when only summary lines are
 * written. With full = 1 every event is also written as a line. Nothing
 * machine-dependent (wall time, pointers, paths) may be written here: same
 * scenario + seed must give the same bytes.
 *
 * Ownership: sim_trace owns its FILE; sim_trace_close flushes and frees (safe
 * on NULL). Without a path nothing is written but the hash is still kept.
 * Return codes: SIM_TRACE_OK (0), SIM_TRACE_EIO (-1), SIM_TRACE_ENOMEM (-2).
 */
#ifndef OUTPOST_SIM_TRACE_H
#define OUTPOST_SIM_TRACE_H

#include <stdint.h>

#define SIM_TRACE_OK 0
#define SIM_TRACE_EIO (-1)
#define SIM_TRACE_ENOMEM (-2)

typedef struct sim_trace sim_trace;

int sim_trace_open(const char *path, int full, sim_trace **out);
/* Folds one event into the hash; writes it when full. name is the event kind. */
void sim_trace_event(sim_trace *t, int type, const char *name, int64_t time_ms, int32_t agent,
                     int64_t result);
/* Writes one JSON object line (fmt must produce a complete object). */
void sim_trace_line(sim_trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t sim_trace_hash(const sim_trace *t);
int64_t sim_trace_events(const sim_trace *t);
int sim_trace_full(const sim_trace *t);
/* SIM_TRACE_EIO if any write failed. */
int sim_trace_close(sim_trace *t);

#endif
