/* sim_int.h - internals shared by the source files of sim_run (sim__ prefix).
 * Not a contract: only the fleet runner's files include it. From the top
 * (the run) down to one simulated host; each file calls only files below it:
 *   sim_fleet.c      the run: set-up, the event loop, tear-down, the trace's
 *                    summary lines and report.json
 *   sim_expect.c     end-of-run expectations, rows of {name, enabled, check}
 *   sim_workload.c   log writers and scenario events: one handler per event
 *                    type, dispatched through a table
 *   sim_ident.c      identity: clones, restores, foreign and replay attacks,
 *                    tampered state dirs, attribution of stored lines
 *   sim_supervise.c  the supervisor stand-in, update rings, the promotion gate
 *   sim_ledger.c     the no-loss ledger and the space checks after every event
 *   sim_local.c      the local attacker inside a host's opens (issue #13)
 *   sim_agent.c      one simulated host: its agent's lifecycle (open,
 *                    restart, power cuts), config, and the helpers every
 *                    file uses (failure, expectations, events, agent picks)
 * Everything else in those files is static. */
#ifndef OUTPOST_SIM_INT_H
#define OUTPOST_SIM_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/wire.h"
#include "core/agent.h"
#include "core/config.h"
#include "core/tail.h"
#include "mc.h"
#include "sim_fleet.h"
#include "sim_fs.h"
#include "sim_lie.h"
#include "sim_net.h"
#include "sim_os.h"
#include "sim_queue.h"
#include "sim_report.h"
#include "sim_rng.h"
#include "sim_scenario.h"
#include "sim_summary.h"
#include "sim_trace.h"
#include "sim_update.h"

/* The run's event types (sim_queue events; the trace names them). */
enum {
  EV_STEP = 1,
  EV_NET_DELIVER,
  EV_NET_COMPLETE,
  EV_LOG,
  EV_SCENARIO,
  EV_OUTAGE_END,
  EV_PARTITION_END,
  EV_HOUR,
  EV_END,
  EV_DRAIN_END,
  EV_UPD_TICK,
  EV_TLS_END,
};

/* The cloud's store commits every this many requests (mc_options): the
 * simulated cloud never loses power, and its store is read at the end. */
#define SIM_CLOUD_COMMIT_EVERY 1024
/* ... and its page cache has this much per agent of the process (at least
 * SQLite's default 2 MiB, at most 64 MiB): each agent's rows are appended
 * on a page of their own (docs/cloud-store.md). */
#define SIM_CLOUD_CACHE_KIB_PER_AGENT 32

/* Paths on every simulated host. */
#define LOG_PATH "/var/log/app.log"
#define STATE_DIR "/var/lib/outpost"
#define CA_PATH "/etc/outpost/ca.pem"
#define ROOT_PATH "/etc/outpost/root.json"
#define BALLAST_PATH "/var/tmp/ballast"
#define MAX_EXPECT 24
#define SIM_MAX_IDS 8
#define SIM_CAP_HDRS 16

/* A signed request the attacker captured from the wire (replay). */
typedef struct captured {
  uint8_t *body;
  size_t len;
  size_t n;
  int have;
  char path[32];
  char names[SIM_CAP_HDRS][32];
  char values[SIM_CAP_HDRS][80];
} captured;

typedef struct sim_agent {
  sim_fs *fs;
  sim_rng rng, logrng;
  sim_rng cloud_rng; /* the cloud's draws while it handles this agent's requests */
  sim_os os;
  os_shim osh;
  net_shim neth;
  agent *a;
  int64_t step_at;
  uint64_t step_gen;
  int64_t lines_written;
  int64_t log_failures;
  int64_t restarts, crashes;
  /* The cloud's summary for this agent, re-read only when the cloud may have
   * changed it (a request delivered for this agent) or the agent's identity
   * changed: the ledger stays exact at a fraction of the SQL queries. */
  int64_t cloud_c, cloud_min, cloud_max;
  /* ... and how many of them lie below the spool's first record, when it
   * was cloud_below_for (-1: not asked since the store changed) */
  int64_t cloud_below, cloud_below_for;
  int64_t log_bytes;   /* bytes the application wrote to its current log file */
  /* The last space check that held (sim_ledger.c), and what it saw: while
   * the disk (fs, its generation) and these are the same, so is its verdict. */
  const sim_fs *space_fs;
  uint64_t space_gen;
  int64_t space_log_bytes, space_rotations, space_db, space_used;
  int64_t rotations;
  /* lines_written at each of the first SIM_ROT_MARKS rotations: the store
   * check tells an unread tail from a whole generation lost (issue #17) */
  int64_t rot_mark[16];
  int n_rot_mark;
  int64_t power_cuts;
  void *fleet;      /* back pointer for the power-cut callback */
  /* identity (issue #4) */
  int64_t lineage_from;     /* lines written before then may live elsewhere */
  int64_t copies;           /* copies made of this agent's disk */
  int64_t source_lines_at_clone;
  int64_t reenrolled;       /* clone_reenrollments last seen */
  int64_t watch_at, watch_base, watch_src_base, detected_at; /* -1: not watched */
  sim_fs *snap;             /* snapshot event: the kept disk image */
  captured cap;
  int64_t revoked_count;
  /* issue #5 expect.max_records_per_s: the agent object, time and produced
   * count when it was first seen rate-capped (cap_a NULL: not yet) */
  agent *cap_a;
  int64_t cap_t0, cap_p0;
  /* small fields last: no padding holes */
  char cloud_id[33];
  char inherited[33];       /* identity that came with the copied disk */
  char ids[SIM_MAX_IDS][33];/* identities this agent enrolled itself */
  char revoked_id[33];
  int32_t idx;
  int step_pending;
  int partitions; /* active partition events covering this agent */
  int cloud_stale;
  int ballast;         /* a disk_fill event put /var/tmp/ballast here */
  int cut_on_download; /* a power cut waits for the next update download */
  int64_t cut_on_download_nth;
  int cut;          /* power was cut during the agent's work: reboot it */
  int lineage;              /* disk copied or rolled back: lineage ledger */
  int32_t clone_of;         /* source agent of a copy, -1 */
  int n_ids;
  int revoked;
  /* issue #6 rings and rollbacks */
  int ring;            /* assigned: 0 canary, 1 early-access, 2 stable */
  int grouped;         /* its cloud identity was put in its ring's group */
  int installed_rb;    /* installed expect.update_rolled_back's version */
  int rolled_back_rb;  /* ... and its supervisor rolled it back */
  int64_t final_at;    /* when it installed expect.update_final_version, -1 never */
  /* issue #17: the supervisor's bin/ (seeded at its first switch) and a
   * power cut armed for its next switch: after step sw_cut (-1: none) */
  int bin_ready;
  int in_sup;          /* the supervisor stand-in is at work: a cut freezes the disk */
  int sw_cut, sw_step;
  char rolled_from[24]; /* the last version rolled back: never to be installed again */
  /* issue #13 local_attack: the attacker inside this host's opens */
  const int64_t *clock;   /* the fleet's now, for the hook */
  const sim_scenario *scn;
  int64_t attack_until;   /* ms; the attack stops (and restores) after */
  double attack_p;
  int attack_first, attack_n; /* its files in scn->swaps */
  uint32_t swapped;       /* bit k: scn->swaps[attack_first + k] is swapped now */
  /* > 0: the simulator's own fs work, not the agent's: the attacker's hook
   * stays still. 1 except inside agent_step and agent_open. */
  int attack_mute;
  int64_t swaps;          /* swaps made on this host */
  int64_t floor_prev_db;  /* expect.floor_held: spool.db's size at the last check */
  int64_t under_floor_since; /* ... and since when its volume is under the floor, -1 not */
  sim_rng attack_rng;
  /* issue #16 tls_failure: events covering it now, handshakes that failed,
   * and how many of those the agent logged as a TLS problem */
  int tls_fails;
  int tls_hit;
  int64_t tls_errors, tls_logged;
} sim_agent;

typedef struct expectation {
  const char *name;
  int pass;
  int64_t v[4]; /* the sums a merge of shards judges it on (sim_summary.h), 0 unless set */
  char detail[512];
} expectation;

typedef struct fleet {
  const sim_scenario *scn;
  /* --shard K/N (issue #15): this process runs agents i with i % shard_n ==
   * shard_k only (sim__owned); shard_n 0: the whole fleet */
  int shard_k, shard_n;
  const sim_run_options *opt;
  int64_t now;
  int64_t n;
  sim_agent *ag;
  sim_queue *q;
  sim_net *net;
  mc_cloud *cloud;
  wire_zctx *zctx; /* lent to every agent (agent_set_zctx): one thread, one context */
  /* lent to every agent (agent_lend_tail_buffers): one set of read buffers
   * for the thread, not 72 KiB an agent; chunk NULL: each its own */
  tail_buffers tb;
  sim_fs_spares *spares; /* lent to every agent's disk (sim_fs_set_spares); NULL: none */
  sim_rng cloud_rng, fault_rng;
  sim_trace *trace;
  agent_config cfg;
  char token[MC_TOKEN_MAX];
  int outages;
  int loggen_on;
  int stop;
  /* the agent whose request the cloud is handling now (its draws come from
   * that agent's cloud_rng), -1 outside a delivery (issue #15) */
  int32_t cloud_who;
  int64_t end_ms, drain_end_ms;
  int64_t failure_t; /* when the failure was set (simulated ms) */
  int64_t ledger_checks;
  int64_t capped_agents, cap_peak_rate; /* expect.max_records_per_s */
  int64_t steps, log_lines, faults;
  /* issue #14: crashes and power cuts that hit an agent with two or more
   * batches in flight (expect.window_under_faults) */
  int64_t crashes_in_window, cuts_in_window;
  char failure[512];
  expectation exp[MAX_EXPECT];
  int n_exp;
  int32_t *perm;
  /* issue #3: the cloud's request-rate curve (requests arriving per simulated
   * minute, outages included) and the space invariants */
  int64_t *rate;
  int64_t rate_len, rate_peak, rate_peak_min;
  int64_t quota_checks;
  /* identity (issue #4) */
  int64_t n_cap;         /* agents the arrays hold: the fleet plus every clone */
  void *lcs;             /* log_ctx[n_cap] */
  int ident_on;          /* the scenario has identity events or expectations */
  char other_token[MC_TOKEN_MAX];
  int64_t clones, restores, detected, detect_max_ms, attacks, attacks_refused, tampered,
      misattributed, alerts_total, drift_events;
  mc_stats ident_ms;
  sim_update *upd; /* issue #6: the repository; NULL when updates are off */
  sim_lie *lie;     /* issue #16: cloud_lie's filter; NULL without cloud_lie events */
  int rings_on;     /* fleet.rings given: agents are put in ring groups */
  int64_t ring_n[2]; /* agents 0..ring_n[0]-1 canary, then early-access */
  char broken[SIM_SCN_MAX_EVENTS][24]; /* versions released "broken": true */
  int n_broken;
  int64_t promotes_refused, rollbacks;
  /* issue #17: the release key the supervisor verifies with; switch cuts */
  uint8_t rel_der[CRYPTO_PUB_DER_MAX];
  size_t rel_len;
  int64_t switch_cuts, boot_switches;
  int64_t bin_pruned; /* version directories the supervisor stand-in deleted */
  uint32_t switch_cut_steps; /* bit k: a cut after step k happened */
  /* issue #16: report.html's timeline (NULL without out_dir) and the
   * installs by ring it charts (canary, early-access, stable) */
  sim_report_timeline *tl;
  int64_t installs_by_ring[SIM_REPORT_RINGS];
} fleet;

/* A clone's trace sink needs its host and the fleet (fleet.lcs[n_cap]). */
typedef struct log_ctx {
  fleet *f;
  sim_agent *g;
} log_ctx;

/* 1 when agent i runs in this process (every agent unless --shard). */
static inline int sim__owned(const fleet *f, int64_t i) {
  return f->shard_n <= 1 || i % f->shard_n == f->shard_k;
}

/* ---- sim_expect.c: end-of-run expectations ------------------------------- */

/* The expectations checked while the fleet is still up (after the ledger's
 * row), then, with the agents and the cloud closed, those that read the
 * cloud's store at db_path (lines: the lines the fleet wrote). */
void sim__expect_end(fleet *f);
void sim__expect_store(fleet *f, const char *db_path, int64_t lines);

/* ---- sim_workload.c: log lines and scenario events ----------------------- */

/* Appends g's next log line; its number, or a negative OS error. */
int64_t sim__write_line(fleet *f, sim_agent *g);
/* Scenario event idx, through the table of handlers by type. */
void sim__scenario_event(fleet *f, int idx);

/* ---- sim_ident.c: identity (issue #4) ------------------------------------ */

/* The scenario's identity events (sim_workload.c's table). */
void sim__ev_clone(fleet *f, const sim_scn_event *e);
void sim__ev_snapshot(fleet *f, const sim_scn_event *e);
void sim__ev_restore(fleet *f, const sim_scn_event *e);
void sim__ev_tamper(fleet *f, const sim_scn_event *e);  /* tamper_permissions */
void sim__ev_plant(fleet *f, const sim_scn_event *e);   /* plant_files */
void sim__ev_foreign(fleet *f, const sim_scn_event *e); /* foreign_workspace */
void sim__ev_replay(fleet *f, const sim_scn_event *e);
void sim__ev_revoke(fleet *f, const sim_scn_event *e);
/* After every event touching g: identities it enrolled, and whether a
 * watched copy of it (or it, restored) has been detected. */
void sim__ident_watch(fleet *f, sim_agent *g);
/* sim_net's tap (user: the fleet): keeps each agent's last signed request. */
void sim__capture(void *user, int32_t who, const mc_request *req);
/* 1 when line line_no of agent owner may be stored under agent_id. */
int sim__line_belongs(fleet *f, const char *agent_id, int64_t owner, int64_t line_no);

/* ---- sim_supervise.c: the supervisor stand-in (issues #6, #17) ----------- */

extern const char *const sim__ring_names[3]; /* canary, early-access, stable */
/* g's agent exited 75: the supervisor takes the staged update (or fails the
 * run), runs its probation, and starts the agent again. */
void sim__supervise(fleet *f, sim_agent *g);
/* An enrolled agent joins its ring's group, once. */
void sim__ring_assign(fleet *f, sim_agent *g);
/* The update repository's events (release, promote through the gate, ...). */
void sim__ev_update(fleet *f, const sim_scn_event *e);
void sim__ev_promote(fleet *f, const sim_scn_event *e);
/* The version the fleet recorded for g (outpost_version: the packaged one). */
const char *sim__record_of(fleet *f, sim_agent *g);
/* What is wrong with g's bin/ (NULL: nothing); detail gets the versions. */
const char *sim__sup_bin_wrong(fleet *f, sim_agent *g, char *detail, size_t cap);

/* ---- sim_ledger.c: the ledger after every event ------------------------- */

/* The ledger and space checks for g after an event touched it (a cut host
 * waits for its reboot); the first violation fails and stops the run. */
void sim__ledger_check(fleet *f, sim_agent *g);

/* ---- sim_local.c: the local attacker (issue #13) ------------------------- */

/* local_attack (sim_workload.c's table): on each agent hit, a previous
 * attack's files put back, the attacked files given lines, the hook set. */
void sim__ev_local_attack(fleet *f, const sim_scn_event *e);
/* Puts every file the attacker swapped on g back. */
void sim__attack_restore(sim_agent *g);
/* sim_fs's open hook (user: the sim_agent): the attacker, and a power cut
 * armed for the update download. */
void sim__attack_hook(void *user, sim_fs *fs, const char *path);
/* Where g's application log is now (in buf while the attacker holds its path). */
const char *sim__app_log_path(const sim_agent *g, char *buf, size_t cap);

/* ---- sim_agent.c: one simulated host, and the helpers every file uses ---- */

/* JSON string contents of s into out (truncated to fit cap). */
void sim__json_escape(const char *s, char *out, size_t cap);
/* The run's first failure (later ones are dropped); the caller sets f->stop. */
void sim__set_failure(fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A new expectation named name (a static string), passing until told
 * otherwise; NULL when MAX_EXPECT are taken. */
expectation *sim__add_expect(fleet *f, const char *name);
/* Queues an event; a full queue fails the run (SIM_QUEUE_OK or its error). */
int sim__push(fleet *f, int type, int32_t who, int64_t at, uint64_t arg);
/* g's next step at at (never before now); a step queued before is stale. */
void sim__schedule_step(fleet *f, sim_agent *g, int64_t at);
/* The mock cloud's wall clock and randomness (ctx: the fleet). */
int64_t sim__cloud_wall(void *ctx);
int sim__cloud_random(void *ctx, unsigned char *buf, size_t len);
/* Sets up host idx in g (its disk, OS, network shim); lc is its trace
 * sink's context. 0, or -1 when a part cannot be made. */
int sim__setup_agent(fleet *f, sim_agent *g, int32_t idx, log_ctx *lc);
/* Opens g's agent and schedules its first step. 0, or -1 with the run
 * failed and stopped. */
int sim__open_agent(fleet *f, sim_agent *g);
/* Closes an agent whose disk was cut from under it (g->a NULL after). */
void sim__close_dead(sim_agent *g);
/* A cut host rebooted: disk thawed, network back, counted and traced. */
void sim__power_cut_done(fleet *f, sim_agent *g);
/* What expect.floor_held watches: the bytes of spool.db and of an update's
 * download in progress (both grow only above the floor). */
int64_t sim__spool_db_bytes(sim_agent *g);
/* sim_fs's power-cut callback (user: the sim_agent): the host is dead
 * until the current event is done (sim__reboot_after_cut). */
void sim__on_power_cut(void *user);
void sim__reboot_after_cut(fleet *f, sim_agent *g);
/* Restarts g's agent, after a crash of its disk when crash. 0 when it runs
 * again (the caller checks the ledger), -1 when it had none or did not open. */
int sim__restart_agent(fleet *f, sim_agent *g, int crash);
/* The agents' configuration (f->cfg) from the scenario. */
void sim__build_config(fleet *f);
/* Milliseconds to g's next log line (its log stream, the scenario's rate). */
int64_t sim__next_line_gap(fleet *f, sim_agent *g);
/* Picks the agents event e hits into f->perm[0..k) from the fault stream
 * and traces them; returns k. */
int64_t sim__pick_agents(fleet *f, const sim_scn_event *e);

#endif
