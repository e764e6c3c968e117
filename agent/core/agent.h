/* agent.h - one Outpost agent: everything it owns in one struct.
 *
 * The core is single-threaded and non-blocking. The driver (agent/main.c in
 * production, the simulator's event loop) calls agent_step() with the current
 * monotonic time; the agent does the work that is due and returns the next
 * monotonic deadline. Network completions arrive through the net shim's
 * callbacks, outside agent_step(); after any completion the driver calls
 * agent_step() again.
 *
 * The agent keeps no global or static mutable state, so thousands of agents
 * live in one process. It reaches the world only through the os and net shims,
 * which must outlive it.
 *
 * Return codes: AGENT_OK (0) or negative:
 *   AGENT_ECONFIG  the config cannot run (message in err)
 *   AGENT_ESTATE   the state dir or spool cannot be opened/created
 *   AGENT_ENOMEM   allocation failed
 *   AGENT_EINVAL   arguments that do not fit (agent_lend_tail_buffers)
 */
#ifndef OUTPOST_CORE_AGENT_H
#define OUTPOST_CORE_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "shim/net.h"
#include "shim/os.h"

#define AGENT_OK 0
#define AGENT_ECONFIG (-1)
#define AGENT_ESTATE (-2)
#define AGENT_ENOMEM (-3)
#define AGENT_EINVAL (-4)

typedef struct agent agent;

typedef enum agent_state {
  AGENT_STATE_ENROLLING = 0, /* no identity yet */
  AGENT_STATE_SESSION = 1,   /* identity, opening a session */
  AGENT_STATE_RUNNING = 2,   /* session open, shipping */
  AGENT_STATE_REFUSED = 3,   /* cloud refused permanently (bad token); backs off */
  AGENT_STATE_REVOKED = 4,   /* the cloud revoked this agent: collects, sends nothing, re-checks hourly */
  AGENT_STATE_REENROLLING = 5, /* identity found cloned or on other hardware: enrolling anew */
} agent_state;

typedef struct agent_stats {
  agent_state state;
  char agent_id[33];         /* "" until enrolled */
  int64_t produced;          /* records ever committed to the spool (persisted) */
  int64_t acked;             /* records acknowledged by the cloud (persisted) */
  int64_t shed;              /* records shed (persisted; issue #3) */
  int64_t spooled;           /* records in the spool now */
  int64_t spool_first_seq;   /* lowest seq in spool, 0 if empty */
  int64_t next_seq;          /* seq the next record will get */
  int64_t batches_sent, batches_acked, batch_failures;
  /* issue #14: ingest batches in flight now, and the most at once */
  int ingest_in_flight, ingest_in_flight_max;
  int64_t bytes_sent;
  int64_t enrollments, sessions;
  int64_t errors;
  char last_error[256];
  /* identity (issue #4) */
  int64_t checkins;             /* successful check-ins */
  int64_t clone_reenrollments;  /* identities replaced after a clone verdict */
  int64_t drift_repairs;        /* state-file permission drifts found at start */
  int fp_score;                 /* last machine-fingerprint score, 0..100 */
  int64_t clock_skew_ms;        /* agent wall clock minus the cloud's Date (last reply) */
  char cloned_from[33];         /* identity this one replaced, "" if none */
  /* issue #3 */
  int64_t shed_bytes;        /* line bytes shed (persisted) */
  int64_t shed_reported;     /* shed records the cloud has stored a report of */
  int64_t spool_bytes;       /* line bytes in the spool now */
  int backpressured;         /* reading paused: the spool is full */
  /* issue #14: the longest agent_step the driver timed (agent_note_step),
   * in wall time (which includes time the scheduler gave to others) and in
   * CPU time (the step's own work), and how many steps took longer than
   * AGENT_STEP_SLOW_MS of wall time; 0 in the simulator, whose steps take
   * no time. */
  int64_t step_max_ms;
  int64_t step_max_cpu_ms;
  int64_t steps_slow;
} agent_stats;

#define AGENT_STEP_SLOW_MS 100

/* Creates an agent from a validated config. Opens (creating if needed) the
 * state dir and spool through os. Does no network I/O until agent_step().
 * On failure *out is NULL and err says why. The agent copies cfg. */
int agent_open(const agent_config *cfg, const os_shim *os, const net_shim *net, agent **out,
               char *err, size_t err_cap);

/* Does the work due at now_ms (monotonic) and returns the next deadline
 * (monotonic ms, > now_ms). Never blocks. */
int64_t agent_step(agent *a, int64_t now_ms);

void agent_get_stats(const agent *a, agent_stats *out);

/* The driver's measurement of one agent_step: wall (monotonic) ms and
 * process CPU ms it took (cpu_ms < 0: unknown). The core reads no clock of
 * its own within a step. Kept in agent_stats. */
void agent_note_step(agent *a, int64_t took_ms, int64_t cpu_ms);

/* issue #5: the live policy's version, last error and refusal counts. */
struct pstate_info;
void agent_policy_info(const agent *a, struct pstate_info *out);
/* issue #5: the caps enforced now (core/caps.h), for status and metrics. */
struct caps_info;
void agent_caps_info(const agent *a, struct caps_info *out);
/* Wall-clock ms of the last HTTP reply from the cloud (any status), 0 = never. */
int64_t agent_last_contact_ms(const agent *a);

/* issue #6: non-zero when the process should exit with that code (75: an
 * update is staged in update/pending.json for the supervisor); 0 otherwise. */
int agent_exit_code(const agent *a);

/* Spools one record of the agent's own (source "outpost", one line the
 * caller formats, 1..1023 bytes, no newline): events for the operator's log
 * stream. main.c writes one when a version on probation has checked in but
 * had nothing to ship, so that a quiet host also proves its data path
 * before the deadline. AGENT_OK, AGENT_ECONFIG (bad line), AGENT_ESTATE
 * (the spool refused it: full, I/O error). */
#define AGENT_SELF_SOURCE "outpost"
int agent_self_record(agent *a, const char *line);

/* issue 13: how the driver sandboxed the process, for status.json
 * ("sandbox_landlock", "sandbox_seccomp"): the core only reports it. Each
 * string is copied (cut at AGENT_SANDBOX_MAX - 1 bytes); NULL leaves that
 * field as it was; both are "" until set. */
#define AGENT_SANDBOX_MAX 96
void agent_set_sandbox_status(agent *a, const char *landlock, const char *seccomp);
/* Copies both strings out (each buffer AGENT_SANDBOX_MAX bytes). */
void agent_sandbox_status(const agent *a, char *landlock, char *seccomp);

/* issue #15: the zstd context batches are compressed with. By default the
 * agent keeps its own from batch to batch (about 1 MiB at level 3 once a
 * large batch went through: ZSTD_sizeof_CCtx). A driver running many agents
 * on one thread (the simulator) lends them one instead: z is borrowed, must
 * outlive the agent and is never used by two threads at once. The bytes
 * sent are the same either way. */
struct wire_zctx;
void agent_set_zctx(agent *a, struct wire_zctx *z);

/* issue #15: the scratch buffers sources are read into (core/tail.h), lent
 * the same way: tb is borrowed, must outlive the agent, and its read chunk
 * and line sizes must be the agent's (else AGENT_EINVAL, nothing changes).
 * The agent frees its own set; a policy that later changes the read chunk
 * gives it its own again. The bytes read are the same either way. */
struct tail_buffers;
int agent_lend_tail_buffers(agent *a, struct tail_buffers *tb);

/* Cancels requests in flight, closes the spool, frees everything. Safe on NULL.
 * After it returns no callback will touch the agent. */
void agent_close(agent *a);

#endif
