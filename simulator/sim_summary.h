/* sim_summary.h - a run's results as plain values, and report.json written
 * from them (issue #15). sim_fleet.c fills one from a finished run; a merge
 * of shards (sim_shard.h) fills one from the shards' partial results; both
 * write report.json with sim_summary_write_json, so one run and a merge of
 * its shards give the same bytes when their values are the same.
 *
 * Ownership: the summary owns nothing but rate, which the caller allocates
 * and frees (sim_summary_free frees it and sets it NULL).
 * Return codes: SIM_SUMMARY_OK (0), SIM_SUMMARY_EIO (-1).
 */
#ifndef OUTPOST_SIM_SUMMARY_H
#define OUTPOST_SIM_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#define SIM_SUMMARY_OK 0
#define SIM_SUMMARY_EIO (-1)
#define SIM_SUMMARY_MAX_EXPECT 24
#define SIM_SUMMARY_DETAIL 512

/* report.json's counters, in its order ("counters" then the rest). How a
 * merge combines each is sim_summary_merge_rule's. */
enum {
  SIM_C_EVENTS, SIM_C_STEPS, SIM_C_LINES_WRITTEN, SIM_C_LOG_WRITE_FAILURES, SIM_C_PRODUCED,
  SIM_C_RECORDS_ACKED, SIM_C_SPOOLED_AT_END, SIM_C_SHED, SIM_C_CLOUD_RECORDS,
  SIM_C_CLOUD_DUPLICATES, SIM_C_REQUESTS, SIM_C_DELIVERED, SIM_C_LOST_REQUESTS,
  SIM_C_LOST_RESPONSES, SIM_C_REFUSED, SIM_C_TIMEOUTS, SIM_C_BATCHES_SENT, SIM_C_BATCHES_ACKED,
  SIM_C_BATCH_FAILURES, SIM_C_ENROLLMENTS, SIM_C_SESSIONS, SIM_C_RESTARTS, SIM_C_CRASHES,
  SIM_C_POWER_CUTS, SIM_C_FAULTS,
  SIM_C_N_COUNTERS, /* the ones above are report.json's "counters" object */
  SIM_C_LEDGER_CHECKS = SIM_C_N_COUNTERS, SIM_C_QUOTA_CHECKS, SIM_C_SHED_BYTES,
  /* "identity" */
  SIM_C_CLONES, SIM_C_RESTORES, SIM_C_DETECTED, SIM_C_DETECT_MAX_MS, SIM_C_ALERTS,
  SIM_C_CHECKINS, SIM_C_CLONE_REFUSALS, SIM_C_SUPERSEDED_REFUSALS, SIM_C_STALE_REQUESTS,
  SIM_C_PROBATION_REFUSALS, SIM_C_REPLAYS_REFUSED, SIM_C_ATTACKS, SIM_C_ATTACKS_REFUSED,
  SIM_C_DRIFT_EVENTS, SIM_C_MISATTRIBUTED,
  /* "update" (written when has_update) */
  SIM_C_INSTALLS, SIM_C_ROLLBACKS, SIM_C_SWITCH_POWER_CUTS, SIM_C_SWITCH_CUT_STEPS,
  SIM_C_BOOT_SWITCHES, SIM_C_BIN_PRUNED,
  SIM_C_N
};

/* How shards' values of a counter combine into the run's. */
typedef enum {
  SIM_MERGE_SUM = 1, /* per agent: the run's value is the shards' sum */
  SIM_MERGE_SAME,    /* the fleet's own: every shard has the run's value */
  SIM_MERGE_MAX,     /* the run's value is the largest shard's */
} sim_merge_rule;

typedef struct sim_summary_exp {
  char name[40];
  int pass;
  /* for a merge (not written to report.json): the first agent the check
   * failed on (-1: none, or not an agent's failure) and the sums it used */
  int64_t agent;
  int64_t v[4];
  char detail[SIM_SUMMARY_DETAIL];
} sim_summary_exp;

typedef struct sim_summary {
  char scenario[128];
  uint64_t seed;
  int64_t agents, duration_s, drain_s, simulated_ms;
  int64_t c[SIM_C_N];
  int has_update;
  uint64_t trace_hash;
  int64_t *rate; /* requests arriving per simulated minute, [rate_len] */
  int64_t rate_len, rate_peak, rate_peak_min;
  char failure[SIM_SUMMARY_DETAIL];
  sim_summary_exp exp[SIM_SUMMARY_MAX_EXPECT];
  int n_exp;
} sim_summary;

/* The counter's name in report.json and in a shard's partial result. */
const char *sim_summary_counter_name(int i);
sim_merge_rule sim_summary_merge_rule(int i);
/* report.json at path. */
int sim_summary_write_json(const char *path, const sim_summary *s);
/* The peak of the curve: the earliest minute with the most requests (0, 0
 * for none), as the run computes it while it goes. */
void sim_summary_rate_peak(sim_summary *s);
void sim_summary_free(sim_summary *s);

/* The verdicts of the expectations a merge recomputes from sums (the run's
 * checks in sim_expect.c call the same, so both word them alike): 1 when it
 * held (detail ""), 0 with detail set. */
/* shed_reported's fleet-wide half: the fleet shed at least min_shed records */
int sim_summary_verdict_min_shed(int64_t total, int64_t min_shed, char *detail, size_t cap);
/* max_requests_per_min over the curve from minute from_s / 60 on */
int sim_summary_verdict_rate(const int64_t *rate, int64_t len, int64_t from_s, int64_t max,
                             char *detail, size_t cap);
/* one alerts row: n alerts of kind in min..max */
int sim_summary_verdict_alerts(const char *kind, int64_t n, int64_t min, int64_t max, char *detail,
                               size_t cap);
/* exactly_once_store: rows == distinct (agent, line) == lines written and not shed */
int sim_summary_verdict_store(int64_t rows, int64_t distinct, int64_t lines, char *detail,
                              size_t cap);
/* tls_reported's fleet-wide half (each hit agent's own check is per agent):
 * some agent was hit. Says the figures when it held too. */
int sim_summary_verdict_tls(int64_t hit, int64_t errs, char *detail, size_t cap);
/* window_under_faults: every kind of fault the scenario has (crash, cut,
 * loss, outage: 0 or 1) hit an agent with two or more batches in flight
 * (the four counts), and it has at least one kind. Says the figures either
 * way. */
int sim_summary_verdict_window(int crash, int cut, int loss, int outage, int64_t crashes,
                               int64_t cuts, int64_t lost, int64_t refused, char *detail,
                               size_t cap);
/* lost_lines / lost_middle_lines: lost and middle within their bounds (a
 * min < 0: not checked). Says the figures either way. */
int sim_summary_verdict_lost(int64_t lost, int64_t middle, int64_t gens, int64_t lost_min,
                             int64_t lost_max, int64_t middle_min, int64_t middle_max, char *detail,
                             size_t cap);
/* The wording of checks that fail on an agent (the merge takes the first
 * such agent's row) and otherwise say a fleet-wide figure, summed over
 * shards: policy_applied (agents that rejected a policy, of the fleet's),
 * no_denied_open (path refusals), metrics_reported (the fleet's agents). */
void sim_summary_detail_policy(int64_t rejected, int64_t agents, char *detail, size_t cap);
void sim_summary_detail_denied(int64_t refused, char *detail, size_t cap);
void sim_summary_detail_metrics(int64_t agents, char *detail, size_t cap);
/* max_records_per_s's end check (violations stop the run as they happen):
 * every agent ran a rate-capped policy (never: agents that did not). Says
 * the runs capped and the highest average rate seen either way. */
int sim_summary_verdict_capped(int64_t never, int64_t capped, int64_t max_rate, int64_t peak,
                               char *detail, size_t cap);

#endif
