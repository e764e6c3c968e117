/* sim_summary.c - report.json from a run's values (sim_summary.h). */
#include "sim_summary.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const struct {
  const char *name;
  sim_merge_rule rule;
} counters[SIM_C_N] = {
    [SIM_C_EVENTS] = {"events", SIM_MERGE_SUM}, /* agents' events summed, the fleet's once */
    [SIM_C_STEPS] = {"steps", SIM_MERGE_SUM},
    [SIM_C_LINES_WRITTEN] = {"lines_written", SIM_MERGE_SUM},
    [SIM_C_LOG_WRITE_FAILURES] = {"log_write_failures", SIM_MERGE_SUM},
    [SIM_C_PRODUCED] = {"produced", SIM_MERGE_SUM},
    [SIM_C_RECORDS_ACKED] = {"records_acked", SIM_MERGE_SUM},
    [SIM_C_SPOOLED_AT_END] = {"spooled_at_end", SIM_MERGE_SUM},
    [SIM_C_SHED] = {"shed", SIM_MERGE_SUM},
    [SIM_C_CLOUD_RECORDS] = {"cloud_records", SIM_MERGE_SUM},
    [SIM_C_CLOUD_DUPLICATES] = {"cloud_duplicates", SIM_MERGE_SUM},
    [SIM_C_REQUESTS] = {"requests", SIM_MERGE_SUM},
    [SIM_C_DELIVERED] = {"delivered", SIM_MERGE_SUM},
    [SIM_C_LOST_REQUESTS] = {"lost_requests", SIM_MERGE_SUM},
    [SIM_C_LOST_RESPONSES] = {"lost_responses", SIM_MERGE_SUM},
    [SIM_C_REFUSED] = {"refused", SIM_MERGE_SUM},
    [SIM_C_TIMEOUTS] = {"timeouts", SIM_MERGE_SUM},
    [SIM_C_BATCHES_SENT] = {"batches_sent", SIM_MERGE_SUM},
    [SIM_C_BATCHES_ACKED] = {"batches_acked", SIM_MERGE_SUM},
    [SIM_C_BATCH_FAILURES] = {"batch_failures", SIM_MERGE_SUM},
    [SIM_C_ENROLLMENTS] = {"enrollments", SIM_MERGE_SUM},
    [SIM_C_SESSIONS] = {"sessions", SIM_MERGE_SUM},
    [SIM_C_RESTARTS] = {"restarts", SIM_MERGE_SUM},
    [SIM_C_CRASHES] = {"crashes", SIM_MERGE_SUM},
    [SIM_C_POWER_CUTS] = {"power_cuts", SIM_MERGE_SUM},
    [SIM_C_FAULTS] = {"faults", SIM_MERGE_SAME}, /* scenario events: every shard runs them */
    [SIM_C_LEDGER_CHECKS] = {"ledger_checks", SIM_MERGE_SUM},
    [SIM_C_QUOTA_CHECKS] = {"quota_checks", SIM_MERGE_SUM},
    [SIM_C_SHED_BYTES] = {"shed_bytes", SIM_MERGE_SUM},
    [SIM_C_CLONES] = {"clones", SIM_MERGE_SUM},
    [SIM_C_RESTORES] = {"restores", SIM_MERGE_SUM},
    [SIM_C_DETECTED] = {"detected", SIM_MERGE_SUM},
    [SIM_C_DETECT_MAX_MS] = {"detect_max_ms", SIM_MERGE_MAX},
    [SIM_C_ALERTS] = {"alerts", SIM_MERGE_SUM},
    [SIM_C_CHECKINS] = {"checkins", SIM_MERGE_SUM},
    [SIM_C_CLONE_REFUSALS] = {"clone_refusals", SIM_MERGE_SUM},
    [SIM_C_SUPERSEDED_REFUSALS] = {"superseded_refusals", SIM_MERGE_SUM},
    [SIM_C_STALE_REQUESTS] = {"stale_requests", SIM_MERGE_SUM},
    [SIM_C_PROBATION_REFUSALS] = {"probation_refusals", SIM_MERGE_SUM},
    [SIM_C_REPLAYS_REFUSED] = {"replays_refused", SIM_MERGE_SUM},
    [SIM_C_ATTACKS] = {"attacks", SIM_MERGE_SUM},
    [SIM_C_ATTACKS_REFUSED] = {"attacks_refused", SIM_MERGE_SUM},
    [SIM_C_DRIFT_EVENTS] = {"drift_events", SIM_MERGE_SUM},
    [SIM_C_MISATTRIBUTED] = {"misattributed", SIM_MERGE_SUM},
    [SIM_C_INSTALLS] = {"installs", SIM_MERGE_SUM},
    [SIM_C_ROLLBACKS] = {"rollbacks", SIM_MERGE_SUM},
    [SIM_C_SWITCH_POWER_CUTS] = {"switch_power_cuts", SIM_MERGE_SUM},
    [SIM_C_SWITCH_CUT_STEPS] = {"switch_cut_steps", SIM_MERGE_SUM},
    [SIM_C_BOOT_SWITCHES] = {"boot_switches", SIM_MERGE_SUM},
    [SIM_C_BIN_PRUNED] = {"bin_pruned", SIM_MERGE_SUM},
};

const char *sim_summary_counter_name(int i) { return i >= 0 && i < SIM_C_N ? counters[i].name : NULL; }

sim_merge_rule sim_summary_merge_rule(int i) {
  return i >= 0 && i < SIM_C_N ? counters[i].rule : SIM_MERGE_SAME;
}

static void json_escape(const char *s, char *out, size_t cap) {
  size_t o = 0;
  for (; *s && o + 7 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      out[o++] = '\\';
      out[o++] = (char)ch;
    } else if (ch < 0x20) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
    } else {
      out[o++] = (char)ch;
    }
  }
  out[o] = 0;
}

void sim_summary_rate_peak(sim_summary *s) {
  s->rate_peak = s->rate_peak_min = 0;
  for (int64_t m = 0; s->rate && m < s->rate_len; m++)
    if (s->rate[m] > s->rate_peak) {
      s->rate_peak = s->rate[m];
      s->rate_peak_min = m;
    }
}

void sim_summary_free(sim_summary *s) {
  if (!s) return;
  free(s->rate);
  s->rate = NULL;
}

#define C(i) ((long long)s->c[i])

int sim_summary_write_json(const char *path, const sim_summary *s) {
  FILE *o = fopen(path, "w");
  if (!o) return SIM_SUMMARY_EIO;
  char name[300];
  json_escape(s->scenario, name, sizeof name);
  fprintf(o, "{\n  \"scenario\": \"%s\",\n  \"seed\": %" PRIu64 ",\n  \"agents\": %lld,\n", name,
          s->seed, (long long)s->agents);
  fprintf(o, "  \"duration_s\": %lld,\n  \"drain_s\": %lld,\n  \"simulated_ms\": %lld,\n",
          (long long)s->duration_s, (long long)s->drain_s, (long long)s->simulated_ms);
  fprintf(o, "  \"counters\": {\n");
  for (int i = 0; i < SIM_C_N_COUNTERS; i++)
    fprintf(o, "    \"%s\": %lld%s\n", counters[i].name, C(i), i + 1 < SIM_C_N_COUNTERS ? "," : "");
  fprintf(o, "  },\n");
  fprintf(o, "  \"ledger_checks\": %lld,\n  \"trace_hash\": \"%016" PRIx64 "\",\n",
          C(SIM_C_LEDGER_CHECKS), s->trace_hash);
  fprintf(o, "  \"quota_checks\": %lld,\n  \"shed_bytes\": %lld,\n", C(SIM_C_QUOTA_CHECKS),
          C(SIM_C_SHED_BYTES));
  fprintf(o,
          "  \"identity\": {\"clones\": %lld, \"restores\": %lld, \"detected\": %lld,"
          " \"detect_max_ms\": %lld, \"alerts\": %lld, \"checkins\": %lld,"
          " \"clone_refusals\": %lld, \"superseded_refusals\": %lld, \"stale_requests\": %lld,"
          " \"probation_refusals\": %lld, \"replays_refused\": %lld, \"attacks\": %lld,"
          " \"attacks_refused\": %lld, \"drift_events\": %lld, \"misattributed\": %lld},\n",
          C(SIM_C_CLONES), C(SIM_C_RESTORES), C(SIM_C_DETECTED), C(SIM_C_DETECT_MAX_MS),
          C(SIM_C_ALERTS), C(SIM_C_CHECKINS), C(SIM_C_CLONE_REFUSALS),
          C(SIM_C_SUPERSEDED_REFUSALS), C(SIM_C_STALE_REQUESTS), C(SIM_C_PROBATION_REFUSALS),
          C(SIM_C_REPLAYS_REFUSED), C(SIM_C_ATTACKS), C(SIM_C_ATTACKS_REFUSED),
          C(SIM_C_DRIFT_EVENTS), C(SIM_C_MISATTRIBUTED));
  if (s->has_update)
    fprintf(o,
            "  \"update\": {\"installs\": %lld, \"rollbacks\": %lld, \"switch_power_cuts\": %lld, "
            "\"switch_cut_steps\": %u, \"boot_switches\": %lld, \"bin_pruned\": %lld},\n",
            C(SIM_C_INSTALLS), C(SIM_C_ROLLBACKS), C(SIM_C_SWITCH_POWER_CUTS),
            (unsigned)s->c[SIM_C_SWITCH_CUT_STEPS], C(SIM_C_BOOT_SWITCHES), C(SIM_C_BIN_PRUNED));
  /* The cloud's request-rate curve: [minute, requests arriving] for every
   * minute with traffic (outage minutes included: refused requests count). */
  fprintf(o, "  \"requests_per_min_peak\": [%lld, %lld],\n  \"requests_per_min\": [",
          (long long)s->rate_peak_min, (long long)s->rate_peak);
  for (int64_t m = 0, k = 0; s->rate && m < s->rate_len; m++)
    if (s->rate[m]) fprintf(o, "%s[%lld,%lld]", k++ ? "," : "", (long long)m, (long long)s->rate[m]);
  fprintf(o, "],\n");
  char fail[1100];
  char d[1100];
  json_escape(s->failure, fail, sizeof fail);
  fprintf(o, "  \"failure\": \"%s\",\n  \"expectations\": [", fail);
  for (int i = 0; i < s->n_exp; i++) {
    json_escape(s->exp[i].detail, d, sizeof d);
    fprintf(o, "%s\n    {\"name\": \"%s\", \"pass\": %s, \"detail\": \"%s\"}", i ? "," : "",
            s->exp[i].name, s->exp[i].pass ? "true" : "false", d);
  }
  fprintf(o, "\n  ]\n}\n");
  return fclose(o) == 0 ? SIM_SUMMARY_OK : SIM_SUMMARY_EIO;
}

int sim_summary_verdict_min_shed(int64_t total, int64_t min_shed, char *detail, size_t cap) {
  detail[0] = 0;
  if (total >= min_shed) return 1;
  snprintf(detail, cap, "the fleet shed %lld records; the scenario must make it shed at least %lld",
           (long long)total, (long long)min_shed);
  return 0;
}

int sim_summary_verdict_rate(const int64_t *rate, int64_t len, int64_t from_s, int64_t max,
                             char *detail, size_t cap) {
  int64_t peak = 0, at = 0;
  detail[0] = 0;
  for (int64_t m = from_s / 60; rate && m < len; m++)
    if (rate[m] > peak) peak = rate[m], at = m;
  if (peak <= max) return 1;
  snprintf(detail, cap, "the cloud saw %lld requests in minute %lld (bound %lld from minute %lld)",
           (long long)peak, (long long)at, (long long)max, (long long)(from_s / 60));
  return 0;
}

int sim_summary_verdict_alerts(const char *kind, int64_t n, int64_t min, int64_t max, char *detail,
                               size_t cap) {
  detail[0] = 0;
  if (n >= min && n <= max) return 1;
  snprintf(detail, cap, "%s: %lld alerts, expected %lld..%lld", kind, (long long)n, (long long)min,
           (long long)max);
  return 0;
}

int sim_summary_verdict_store(int64_t rows, int64_t distinct, int64_t lines, char *detail,
                              size_t cap) {
  detail[0] = 0;
  if (rows == distinct && rows == lines) return 1;
  snprintf(detail, cap, "store holds %lld rows, %lld distinct (agent, line); %lld lines were written",
           (long long)rows, (long long)distinct, (long long)lines);
  return 0;
}

int sim_summary_verdict_tls(int64_t hit, int64_t errs, char *detail, size_t cap) {
  if (hit == 0) {
    snprintf(detail, cap, "no tls_failure event hit any agent");
    return 0;
  }
  snprintf(detail, cap, "%lld agents, %lld failed handshakes, each agent logged them", (long long)hit,
           (long long)errs);
  return 1;
}

void sim_summary_detail_policy(int64_t rejected, int64_t agents, char *detail, size_t cap) {
  snprintf(detail, cap, "%lld of %lld agents rejected at least one policy", (long long)rejected,
           (long long)agents);
}

void sim_summary_detail_denied(int64_t refused, char *detail, size_t cap) {
  snprintf(detail, cap, "no denied path opened; %lld path refusals reported by the fleet",
           (long long)refused);
}

void sim_summary_detail_metrics(int64_t agents, char *detail, size_t cap) {
  snprintf(detail, cap, "%lld agents' metrics stored by the cloud", (long long)agents);
}

int sim_summary_verdict_capped(int64_t never, int64_t capped, int64_t max_rate, int64_t peak,
                               char *detail, size_t cap) {
  if (never > 0) {
    snprintf(detail, cap, "%lld agents never ran a rate-capped policy", (long long)never);
    return 0;
  }
  snprintf(detail, cap,
           "%lld agent runs capped at %lld records/s; highest average over 10 s or more: "
           "%lld records/s",
           (long long)capped, (long long)max_rate, (long long)peak);
  return 1;
}

int sim_summary_verdict_lost(int64_t lost, int64_t middle, int64_t gens, int64_t lost_min,
                             int64_t lost_max, int64_t middle_min, int64_t middle_max, char *detail,
                             size_t cap) {
  snprintf(detail, cap,
           "%lld lines never read: %lld in %lld whole generations between two rotations, "
           "%lld unread tails of older files (expected lost %lld..%lld, middle %lld..%lld)",
           (long long)lost, (long long)middle, (long long)gens, (long long)(lost - middle),
           (long long)lost_min, (long long)lost_max, (long long)middle_min, (long long)middle_max);
  return (lost_min < 0 || (lost >= lost_min && lost <= lost_max)) &&
         (middle_min < 0 || (middle >= middle_min && middle <= middle_max));
}

int sim_summary_verdict_window(int crash, int cut, int loss, int outage, int64_t crashes,
                               int64_t cuts, int64_t lost, int64_t refused, char *detail,
                               size_t cap) {
  snprintf(detail, cap,
           "with 2+ batches in flight: %lld crashes, %lld power cuts, %lld requests or replies "
           "lost, %lld refused by the outage",
           (long long)crashes, (long long)cuts, (long long)lost, (long long)refused);
  return (!crash || crashes > 0) && (!cut || cuts > 0) && (!loss || lost > 0) &&
         (!outage || refused > 0) && (crash || cut || loss || outage);
}
