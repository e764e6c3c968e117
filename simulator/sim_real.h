/* sim_real.h - a scenario on the real binaries (issue #16):
 *
 *   outpost-sim run SCENARIO.json --real N [--real-seconds S] [--seed N]
 *               [--agent-bin PATH] [--cloud-bin PATH] [--out DIR] [--quiet]
 *
 * N real `outpost-agent run` processes against one real `outpost-cloud
 * serve` on 127.0.0.1, each agent's state dir on its own tmpfs of the
 * scenario's disk size (a plain directory where mount(2) is refused: then
 * disk_fill is skipped). The scenario's timeline is played in S seconds of
 * wall time (default 60): an event at at_s happens at at_s * S / duration_s,
 * and the agents' intervals (batch age, poll, check-in, retry) and the
 * cloud's probation shrink by the same factor, down to what the config
 * accepts. Log lines are written at the scenario's rate in that scaled time
 * (at most SIM_REAL_MAX_LINES_PER_S per agent), each naming its writer and
 * index, so the cloud's store says what arrived, twice, or never.
 *
 * Events played: cloud_outage, restart, crash, power_cut (as a crash: the
 * page cache survives a kill -9, so unsynced writes are not lost as in a
 * power cut), disk_fill, rotate, policy, clone (the agent paused with
 * SIGSTOP while its state dir is copied: a point-in-time image), snapshot,
 * restore, tamper_permissions, revoke. Every other event is skipped and
 * named with the reason (sim_real_event_why).
 *
 * Expectations checked from the real cloud's store, the agents' state dirs
 * and status.json: exactly_once, at_least_once, shed_reported,
 * max_spooled_at_end, alerts, max_misattributed, originals_untouched,
 * policy_applied. The others are listed as not checked, with the reason
 * (docs/scenarios.md, "Real mode").
 *
 * Return codes of sim_real_run: SIM_REAL_OK (0, every checked expectation
 * held), SIM_REAL_EFAILED (1, one failed; the work dir is kept and named),
 * SIM_REAL_ESETUP (2, the run could not be set up: message in err).
 */
#ifndef OUTPOST_SIM_REAL_H
#define OUTPOST_SIM_REAL_H

#include <stddef.h>
#include <stdint.h>

#include "sim_scenario.h"

#define SIM_REAL_OK 0
#define SIM_REAL_EFAILED 1
#define SIM_REAL_ESETUP 2

#define SIM_REAL_MAX_AGENTS 16          /* --real N */
#define SIM_REAL_MAX_PROCS 64           /* with clones */
#define SIM_REAL_MAX_LINES_PER_S 50     /* per agent */
#define SIM_REAL_DEFAULT_SECONDS 60
#define SIM_REAL_MAX_SECONDS 3600

typedef struct sim_real_options {
  int64_t agents;        /* N, 1..SIM_REAL_MAX_AGENTS */
  uint64_t seed;
  int64_t wall_s;        /* the timeline's length in wall seconds; 0 = default */
  const char *agent_bin; /* NULL: agent/outpost-agent beside outpost-sim's build dir */
  const char *cloud_bin; /* NULL: mockcloud/outpost-cloud likewise */
  const char *out_dir;   /* the work dir (kept); NULL: a temp dir, removed when all held */
  int quiet;             /* no progress lines on stderr */
} sim_real_options;

/* Plays scn (already scaled to opt->agents) for real; prints what it did
 * and each expectation on stdout. */
int sim_real_run(const sim_scenario *scn, const sim_real_options *opt, char *err, size_t err_cap);

/* NULL when real mode plays the event; otherwise why it is skipped. */
const char *sim_real_event_why(const sim_scn_event *ev);

/* Writes into out a one-line verdict on the scenario in real mode: "yes",
 * or "partly: ..." / "no: ..." naming the events skipped and the
 * expectations not checked (docs/scenarios.md's column). */
void sim_real_verdict(const sim_scenario *scn, char *out, size_t cap);

#endif
