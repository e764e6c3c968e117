/* sim_scenario.h - scenario files (docs/scenarios.md): parse and validate.
 *
 * A scenario is a fleet, a timeline of events and expectations, in JSON.
 * Unknown keys and bad values are errors whose message starts with the key
 * path ("events[2].agents: must be a count or a percentage like \"10%\"").
 * The parsed scenario is a plain value with fixed-size fields: nothing to free.
 *
 * Return codes: SIM_SCN_OK (0) or negative:
 *   SIM_SCN_EINVALID  not JSON, or a key/value is wrong (message in err)
 *   SIM_SCN_EIO       the file cannot be read, or is over SIM_SCN_MAX_FILE
 *   SIM_SCN_ENOMEM    allocation failed
 */
#ifndef OUTPOST_SIM_SCENARIO_H
#define OUTPOST_SIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#define SIM_SCN_OK 0
#define SIM_SCN_EINVALID (-1)
#define SIM_SCN_EIO (-2)
#define SIM_SCN_ENOMEM (-3)

#define SIM_SCN_MAX_FILE (1024 * 1024)
#define SIM_SCN_MAX_EVENTS 1024
#define SIM_SCN_MAX_CLAIMS 16
#define SIM_SCN_MAX_AGENTS 100000
#define SIM_SCN_MAX_DURATION_S (30LL * 86400)
/* plant_files: the version of the policy.json it plants (no cloud policy
 * in a scenario comes near it, so an agent running it trusted the plant). */
#define SIM_SCN_PLANTED_POLICY_VERSION 990013
/* fleet.secrets: the mark inside every secret file's lines. */
#define SIM_SCN_SECRET_MARK "SIM-SECRET"

typedef enum sim_scn_event_type {
  SIM_SCN_CLOUD_OUTAGE = 1, /* duration_s */
  SIM_SCN_NETWORK = 2,      /* loss, response_loss, latency_ms (each optional) */
  SIM_SCN_RESTART = 3,      /* agents */
  SIM_SCN_CRASH = 4,        /* agents */
  SIM_SCN_PARTITION = 5,    /* agents, duration_s */
  SIM_SCN_POWER_CUT = 6,    /* agents: crash in the middle of the agent's own disk writes */
  SIM_SCN_DISK_FILL = 7,    /* agents, free_mb: another program fills the disk (issue #3) */
  SIM_SCN_ROTATE = 8,       /* agents, style: the application's log is rotated (issue #3) */
  SIM_SCN_POLICY = 9,       /* policy: the cloud starts serving this policy (issue #5) */

  /* identity (issue #4) */
  SIM_SCN_CLONE = 10,       /* agents, copies, fingerprint: disk images copied into new agents */
  SIM_SCN_SNAPSHOT = 11,   /* agents: a snapshot of each one's disk is kept */
  SIM_SCN_RESTORE = 12,     /* every agent with a snapshot is rolled back to it */
  SIM_SCN_TAMPER = 13,      /* agents: state-file modes loosened, then the agent restarts */
  SIM_SCN_FOREIGN = 14,     /* agents: their key and id are tried against another workspace */
  SIM_SCN_REPLAY = 15,      /* agents: their last signed request is sent again */
  SIM_SCN_REVOKE = 16,      /* agents: the cloud revokes them */

  /* updates (issue #6): the repository the simulator serves (sim_update.h) */
  SIM_SCN_UPD_RELEASE = 17,    /* version, ring */
  SIM_SCN_UPD_PROMOTE = 18,    /* version, from, to */
  SIM_SCN_UPD_FREEZE = 19,     /* timestamp stops being re-signed and served anew */
  SIM_SCN_UPD_REPLAY = 20,     /* generation: an old timestamp is served */
  SIM_SCN_UPD_COMPROMISE = 21, /* version, ring: online keys stolen, no release key */
  SIM_SCN_UPD_TAMPER = 22,     /* version: its binary served with a byte changed */
  SIM_SCN_UPD_ENDLESS = 23,    /* timestamp.json served oversize */
  SIM_SCN_UPD_MIX = 24,        /* role, body_version: every N.<role>.json answered
                                  with <body_version>.<role>.json (mix-and-match) */

  /* issue #13 (PRIV-1, LOCAL-1): agents, uid: the state dir left 0777, and
   * user uid plants .outpost-uid-probe and a policy.json there (owned by
   * uid), then the agent restarts */
  SIM_SCN_PLANT = 25,
  /* issue #13 (COL-2, LOCAL-1, LOCAL-2): agents, duration_s, probability,
   * files (swap_first, n_swap into sim_scenario.swaps): for duration_s, each
   * open of one of the files by the agent swaps it, with the probability,
   * for a symlink to a secret or a FIFO (or back) right inside that open */
  SIM_SCN_LOCAL_ATTACK = 26,

  /* issue #16: attacks without C */
  SIM_SCN_CLOUD_LIE = 27,   /* agents, kind, duration_s: the replies to the agents lie */
  SIM_SCN_CLOCK_STEP = 28,  /* agents, step_s: their wall clocks step */
  SIM_SCN_TLS_FAILURE = 29, /* agents, duration_s: their requests fail the TLS handshake */
  SIM_SCN_UPD_STEAL = 30,   /* version: the release key stolen, not the online TUF keys */
} sim_scn_event_type;

/* cloud_lie kinds (issue #16) */
typedef enum sim_scn_lie_kind {
  SIM_LIE_SESSION_SWAP = 1,    /* a session request is answered with another agent's session */
  SIM_LIE_POLICY_ROLLBACK = 2, /* a policy with an older version and other content is pushed */
  SIM_LIE_ACK_BEYOND = 3,      /* ingest acks name seqs beyond what the batch carried */
} sim_scn_lie_kind;

#define SIM_SCN_MAX_SWAPS 8
#define SIM_SCN_SWAP_PATH 64

/* One file a local_attack swaps (scenario-wide table, events index into it). */
typedef struct sim_scn_swap {
  char path[SIM_SCN_SWAP_PATH];   /* the collected file the attacker can replace */
  int fifo;                       /* 1: swapped for a FIFO; 0: for a symlink to target */
  char target[SIM_SCN_SWAP_PATH];
  int64_t lines;                  /* lines written into path first (0 for the app's log) */
} sim_scn_swap;

#define SIM_SCN_MAX_ALERT_EXPECT 8

#define SIM_SCN_MAX_POLICIES 16
#define SIM_SCN_POLICY_MAX 4096

typedef enum sim_scn_rotate_style {
  SIM_ROTATE_RENAME = 1,       /* logrotate default: rename to .1, new file */
  SIM_ROTATE_COPYTRUNCATE = 2, /* copy to .1, truncate in place */
  SIM_ROTATE_TRUNCATE = 3,     /* truncate in place, nothing kept */
  SIM_ROTATE_RECREATE = 4,     /* delete, then a new file appears later */
} sim_scn_rotate_style;

#define SIM_SCN_MAX_BINARY_KB 8192 /* release.binary_kb */

typedef struct sim_scn_event {
  int64_t at_s;
  sim_scn_event_type type;
  int64_t duration_s;
  /* network: -1 means "unchanged" */
  double loss, response_loss;
  int64_t latency_min_ms, latency_max_ms;
  /* agents: either a count (agents_pct < 0) or a percentage of the fleet */
  int64_t agents_count;
  double agents_pct;
  int64_t free_mb;  /* disk_fill: leave this much free (fills, or gives back what an
                       earlier fill took) */
  int rotate_style; /* rotate: sim_scn_rotate_style */
  int64_t copies;   /* clone: copies per chosen agent (default 1) */
  int same_fingerprint; /* clone: 1 = the copies run on identical hardware ids */
  int policy_index; /* policy: index into sim_scenario.policies */
  /* update events: version, ring (index into mc_repo_rings), to (promote),
   * generation (replay_metadata), role and body_version (mix_and_match) */
  char version[24];
  int ring, ring_to;
  int64_t generation;
  int broken; /* release: the version crashes at every start (its supervisor rolls back) */
  int force;  /* promote: past the promotion gate (mc_promote_rollbacks) */
  char role[16];        /* snapshot, targets, canary, early-access or stable */
  int64_t uid;          /* plant_files: the planting user (default 1000) */
  double probability;   /* local_attack: per open of a file (default 0.3) */
  int swap_first, n_swap; /* local_attack: its files in sim_scenario.swaps */
  int64_t body_version;
  int64_t binary_kb;    /* release: the binary's size (default 4 KiB; issue #17) */
  int during_download;  /* power_cut "during": "update_download": the cut lands
                           among the writes of the agent's next update download */
  /* power_cut (issue #17): SIM_SCN_CUT_WRITES (the default: within the
   * agent's next writes), or a cut in the supervisor's next switch after
   * step k >= 0 (0: before the first), SIM_SCN_CUT_SPREAD (the i-th agent
   * picked: step i mod (SIM_SCN_SWITCH_STEPS + 1)) or SIM_SCN_CUT_RANDOM */
  int switch_step;
  int64_t step_s;   /* clock_step: the wall clock moves by this (issue #16) */
  int64_t lie_kind; /* cloud_lie: sim_scn_lie_kind */
} sim_scn_event;

#define SIM_SCN_CUT_WRITES (-1)
#define SIM_SCN_CUT_SPREAD (-2)
#define SIM_SCN_CUT_RANDOM (-3)
#define SIM_SCN_SWITCH_STEPS 6 /* a take (3 steps) then a rollback (3): core/upsup.h */

typedef struct sim_scn_alert_expect {
  char kind[40];    /* an alert kind, or "total" */
  int64_t min, max;
} sim_scn_alert_expect;

typedef struct sim_scenario {
  char name[128];
  char description[1024];
  char claims[SIM_SCN_MAX_CLAIMS][64];
  int n_claims;
  int64_t agents;
  int64_t disk_quota_bytes;  /* fleet.disk_quota_mb, default 64 MiB */
  int64_t clock_skew_ms;     /* fleet.clock_skew_ms: each agent's skew in [-x, x] */
  int64_t agent_uid;         /* fleet.uid: the uid every agent runs as (default 0, root) */
  sim_scn_swap swaps[SIM_SCN_MAX_SWAPS]; /* local_attack files (events index them) */
  /* expect.max_blocked_opens: opens that would block for ever (a FIFO opened
   * without O_NONBLOCK), fleet-wide, -1 = not checked */
  int64_t max_blocked_opens;
  int n_swaps;
  /* fleet.secrets: every host holds secret files at denied paths (each line
   * holds SIM_SCN_SECRET_MARK): /etc/shadow, /root/.ssh/id_rsa,
   * /home/alice/.ssh/id_rsa, /etc/ssl/private/server.key and
   * /var/log/vault.key (inside the default allowed root: only the deny list
   * keeps it out) */
  int secrets;
  /* expect.no_secret_shipped: no record in the cloud holds SIM_SCN_SECRET_MARK;
   * expect.refusals_reported: every agent a local_attack swapped a file on
   * refused at least one path, and the cloud got its report;
   * expect.floor_held (RES-3): the spool never grows while its volume is
   * under the free-space floor, nor keeps records there past 60 s (beside
   * planted_policy_refused, below: the struct's padding) */
  int no_secret_shipped;
  int refusals_reported;
  int64_t duration_s;
  double lines_per_min;
  int64_t line_min, line_max;
  int64_t latency_min_ms, latency_max_ms;
  double loss, response_loss;
  /* agent overrides; -1 = config default */
  int64_t batch_max_records, batch_max_age_ms, poll_interval_ms, request_timeout_ms,
      retry_base_ms, retry_max_ms;
  int64_t spool_quota_bytes;   /* agent.spool_quota_mb; -1 = default */
  int64_t backpressure_max_ms; /* agent.backpressure_max_ms; -1 = default */
  int64_t ship_window;         /* agent.ship_window (issue #14); -1 = default */
  int64_t session_ttl_s;     /* cloud.session_ttl_s, default 3600 */
  int64_t probation_s;       /* cloud.probation_s, default 0 = off (mc_options) */
  sim_scn_event events[SIM_SCN_MAX_EVENTS];
  int n_events;
  /* issue #5: policy events' documents (compact JSON) and expectations */
  char policies[SIM_SCN_MAX_POLICIES][SIM_SCN_POLICY_MAX];
  int n_policies;
  int64_t policy_applied; /* expect.policy_applied: every agent runs this version at the end */
  int no_denied_open;     /* expect.no_denied_open: checked after every event */
  /* expect.max_records_per_s: once an agent runs a rate-capped policy, what
   * it produces from then on stays within one second of burst plus this
   * rate; checked after every event; 0 = not checked */
  int64_t max_records_per_s;
  /* expect.metrics_reported: every agent's self-metrics are in the cloud
   * (check-in "metrics"), naming the policy it runs */
  int metrics_reported;
  int exactly_once;          /* expect.exactly_once */
  int64_t drain_s;           /* expect.drain_s, default 600 */
  int64_t max_spooled_at_end;/* expect.max_spooled_at_end; -1 = not checked */
  int64_t max_requests_per_min; /* expect.max_requests_per_min: peak the cloud sees; -1 = not checked */
  int64_t rate_from_s;       /* expect.rate_from_s: that peak counts from this time on (default 0) */
  int shed_reported;         /* expect.shed_reported: every shed record reported and stored */
  int64_t min_shed;          /* expect.min_shed: the scenario must make the fleet shed this many */
  /* expect.lost_lines / expect.lost_middle_lines (issue #17): [min, max]
   * of the fleet's lines written and never read (from the cloud's store),
   * and of those, the lines of whole generations lost between two
   * rotations; -1 = not checked. Needs no crash, restart or clone. */
  int64_t lost_min, lost_max, lost_middle_min, lost_middle_max;
  /* identity (issue #4) */
  int64_t checkin_interval_ms;   /* agent.checkin_interval_ms; -1 = default */
  sim_scn_alert_expect alerts[SIM_SCN_MAX_ALERT_EXPECT]; /* expect.alerts */
  int n_alerts;
  int at_least_once;             /* expect.at_least_once: lineage-aware delivery */
  int64_t clone_detect_within_s; /* expect.clone_detect_within_s; -1 = not checked */
  int64_t max_misattributed;     /* expect.max_misattributed; -1 = not checked */
  int attacks_refused;           /* expect.attacks_refused */
  int originals_untouched;       /* expect.originals_untouched: clone sources keep their id */
  int64_t min_drift_events;      /* expect.min_drift_events; -1 = not checked */
  /* issue #13: at the end, entries under any agent's state dir (the dir
   * included) owned by another uid than the agent's; -1 = not checked */
  int64_t max_foreign_owned_state_files;
  int planted_policy_refused; /* expect.planted_policy_refused: no agent runs the
                                 policy plant_files put in its state dir */
  int disk_floor_held;
  /* expect.window_under_faults (issue #14): every kind of fault the
   * scenario has (crash, power cut, a lost request or reply, the cloud's
   * outage) hit at least one agent while two or more of its batches were
   * in flight */
  int window_under_faults;
  /* expect.lies_refused (issue #16): every agent a cloud_lie hit refused
   * each lie (sim_expect.c says how per kind) and none was believed */
  int lies_refused;
  /* expect.tls_reported (issue #16): every agent a tls_failure hit saw the
   * handshake fail and logged it as a TLS problem (its last_error) */
  int tls_reported;
  /* updates (issue #6) */
  int64_t update_check_interval_s; /* update.check_interval_s; 0 = updates off */
  char upd_final_version[24];      /* expect.update_final_version: every agent runs it */
  char upd_never[24];              /* expect.update_never_installed */
  char upd_reported[64];           /* expect.update_reported: every agent's refusal
                                      naming this reached the cloud */
  int64_t upd_reported_within_s;   /* expect.update_reported_within_s (from the first
                                      attack event); -1 = not checked */
  int upd_no_install_after_attack; /* expect.update_no_install_after_attack */
  /* rings (issue #6): fleet.rings {"canary": "1%", "early-access": "10%"},
   * the rest stable; 0 = no rings (every agent follows the workspace) */
  double ring_pct[2];
  char upd_rolled_back[24];      /* expect.update_rolled_back: every agent that installed
                                    it rolled it back, bad-listed it, reported it */
  int64_t upd_promotes_refused;  /* expect.update_promotes_refused; -1 = not checked */
  int upd_ring_order;            /* expect.update_ring_order: the final version reached
                                    canary, then early-access, then stable agents */
  /* issue #17 (beside the other int: no padding between them) */
  int upd_bin_valid;             /* expect.update_bin_valid: at the end every agent's
                                    bin/current verifies, may run (not bad, not below the
                                    floor), is what the fleet recorded, and a probation
                                    has its bin/previous */
  int64_t upd_switch_cut_steps;  /* expect.update_switch_cut_steps: power was cut after
                                    each of the steps 0..n-1 of some supervisor's switch;
                                    -1 = not checked */
} sim_scenario;

/* Parses len bytes of JSON (need not be NUL-terminated). */
int sim_scenario_parse(const char *json, size_t len, sim_scenario *out, char *err, size_t err_cap);
/* Reads and parses a file. */
int sim_scenario_load(const char *path, sim_scenario *out, char *err, size_t err_cap);
/* Agents an event touches in a fleet of n (percentages round down, min 1). */
int64_t sim_scenario_event_agents(const sim_scn_event *ev, int64_t n);
const char *sim_scenario_event_name(sim_scn_event_type t);

/* Rewrites, in place, the expectations that are absolute counts for a run
 * of n agents instead of the file's s->agents (outpost-sim run --agents;
 * docs/scenarios.md "Fleet size"), so any scenario runs at any size:
 *  - counts the events cause scale with the agents those events hit at n
 *    over those they hit at s->agents: min_drift_events and
 *    max_foreign_owned_state_files with tamper_permissions/plant_files,
 *    alerts and max_misattributed with clone (x copies)/snapshot,
 *    max_blocked_opens with local_attack (an event count of "5" hits
 *    min(5, n) agents, a percentage scales with n);
 *  - fleet-wide volumes scale with n / s->agents: min_shed,
 *    max_requests_per_min, lost_lines, lost_middle_lines; scaled down,
 *    they get a margin of 3 * sqrt(x) (a smaller fleet is noisier);
 *  - update_switch_cut_steps is capped at n (one cut step per agent).
 * Lower bounds round down (but a non-zero one stays >= 1: a check that
 * cannot fail is no check), upper bounds round up. s->agents becomes n.
 * Returns 1 when a bound changed, 0 when none did (n == s->agents, or only
 * per-agent, zero or size-free bounds), SIM_SCN_EINVALID when n is out of
 * 1..SIM_SCN_MAX_AGENTS. */
int sim_scenario_scale(sim_scenario *s, int64_t n);

/* The kinds of fault the scenario has, each 0 or 1: crashes, power cuts,
 * lost requests or replies (its network or a network event), a cloud
 * outage (expect.window_under_faults, in a run and in a merge of shards). */
void sim_scenario_fault_kinds(const sim_scenario *s, int *crash, int *cut, int *loss, int *outage);

#endif
