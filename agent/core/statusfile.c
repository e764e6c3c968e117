/* statusfile.c - status.json and the Prometheus textfile (see statusfile.h). */
#include "core/statusfile.h"
#include "common/version.h"
#include "core/jread.h"

#include <cjson/cJSON.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "core/files.h"

static const char *const state_names[] = {"enrolling", "session", "running", "refused"};

static const char *state_name(agent_state s) {
  return (unsigned)s < 4 ? state_names[s] : "unknown";
}

int statusfile_render_json(const statusfile_data *d, char *out, size_t cap) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return -1;
  cJSON_AddStringToObject(o, "version", outpost_version);
  cJSON_AddStringToObject(o, "state", state_name(d->st.state));
  cJSON_AddStringToObject(o, "agent_id", d->st.agent_id);
  cJSON_AddNumberToObject(o, "updated_ms", (double)d->wall_ms);
  cJSON_AddNumberToObject(o, "last_contact_ms", (double)d->last_contact_ms);
  cJSON_AddNumberToObject(o, "records_produced", (double)d->st.produced);
  cJSON_AddNumberToObject(o, "records_acked", (double)d->st.acked);
  cJSON_AddNumberToObject(o, "records_shed", (double)d->st.shed);
  cJSON_AddNumberToObject(o, "spool_records", (double)d->st.spooled);
  cJSON_AddNumberToObject(o, "batches_sent", (double)d->st.batches_sent);
  cJSON_AddNumberToObject(o, "batch_failures", (double)d->st.batch_failures);
  cJSON_AddNumberToObject(o, "bytes_sent", (double)d->st.bytes_sent);
  cJSON_AddNumberToObject(o, "errors", (double)d->st.errors);
  cJSON_AddStringToObject(o, "last_error", d->st.last_error);
  cJSON_AddNumberToObject(o, "policy_version", (double)d->pol.version);
  cJSON_AddNumberToObject(o, "policy_files", d->pol.n_files);
  cJSON_AddNumberToObject(o, "policy_rejected_total", (double)d->pol.rejected_total);
  cJSON_AddNumberToObject(o, "policy_paths_refused_total", (double)d->pol.refused_total);
  cJSON_AddStringToObject(o, "policy_last_error", d->pol.last_error);
  cJSON_AddStringToObject(o, "journal", jread_state_name((jread_state)d->pol.journal_state));
  cJSON_AddNumberToObject(o, "spool_bytes", (double)d->st.spool_bytes);
  cJSON_AddNumberToObject(o, "records_shed_reported", (double)d->st.shed_reported);
  cJSON_AddNumberToObject(o, "cpu_ms", (double)d->cpu_ms);
  cJSON_AddNumberToObject(o, "step_max_ms", (double)d->st.step_max_ms);
  cJSON_AddNumberToObject(o, "step_max_cpu_ms", (double)d->st.step_max_cpu_ms);
  cJSON_AddNumberToObject(o, "steps_slow", (double)d->st.steps_slow);
  cJSON_AddNumberToObject(o, "ingest_in_flight", d->st.ingest_in_flight);
  cJSON_AddNumberToObject(o, "ingest_in_flight_max", d->st.ingest_in_flight_max);
  cJSON_AddNumberToObject(o, "rss_bytes", (double)d->caps.rss_bytes);
  cJSON_AddNumberToObject(o, "cap_records_per_s", (double)d->caps.rate);
  cJSON_AddNumberToObject(o, "cap_rate_limited_polls", (double)d->caps.rate_limited_polls);
  cJSON_AddNumberToObject(o, "cap_memory_bytes", (double)d->caps.memory_cap_bytes);
  cJSON_AddBoolToObject(o, "cap_memory_over", d->caps.memory_over);
  cJSON_AddNumberToObject(o, "cap_memory_over_events", (double)d->caps.memory_over_events);
  /* issue 13: what the kernel enforces on this process (Landlock, seccomp);
   * only the real driver sets them, the simulator leaves them out. */
  if (d->sandbox_landlock[0]) cJSON_AddStringToObject(o, "sandbox_landlock", d->sandbox_landlock);
  if (d->sandbox_seccomp[0]) cJSON_AddStringToObject(o, "sandbox_seccomp", d->sandbox_seccomp);
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  if (!text) return -1;
  size_t n = strlen(text);
  int rc = -1;
  if (n + 1 < cap) {
    memcpy(out, text, n);
    out[n] = '\n';
    out[n + 1] = 0;
    rc = (int)n + 1;
  }
  cJSON_free(text);
  return rc;
}

/* Label values are escaped per the text format: backslash, quote, newline. */
static void prom_escape(const char *in, char *out, size_t cap) {
  size_t n = 0;
  for (; *in && n + 3 < cap; in++) {
    if (*in == '\\' || *in == '"') out[n++] = '\\';
    if (*in == '\n') {
      out[n++] = '\\';
      out[n++] = 'n';
      continue;
    }
    out[n++] = *in;
  }
  out[n] = 0;
}

int statusfile_render_prom(const statusfile_data *d, char *out, size_t cap) {
  char id[80];
  prom_escape(d->st.agent_id, id, sizeof id);
  int n = snprintf(
      out, cap,
      "# HELP outpost_agent_info Agent version and identity.\n"
      "# TYPE outpost_agent_info gauge\n"
      "outpost_agent_info{version=\"%s\",agent_id=\"%s\",state=\"%s\"} 1\n"
      "# TYPE outpost_records_produced_total counter\n"
      "outpost_records_produced_total %lld\n"
      "# TYPE outpost_records_acked_total counter\n"
      "outpost_records_acked_total %lld\n"
      "# TYPE outpost_records_shed_total counter\n"
      "outpost_records_shed_total %lld\n"
      "# TYPE outpost_spool_records gauge\n"
      "outpost_spool_records %lld\n"
      "# TYPE outpost_batches_sent_total counter\n"
      "outpost_batches_sent_total %lld\n"
      "# TYPE outpost_batch_failures_total counter\n"
      "outpost_batch_failures_total %lld\n"
      "# TYPE outpost_bytes_sent_total counter\n"
      "outpost_bytes_sent_total %lld\n"
      "# TYPE outpost_errors_total counter\n"
      "outpost_errors_total %lld\n"
      "# TYPE outpost_policy_version gauge\n"
      "outpost_policy_version %lld\n"
      "# TYPE outpost_policy_rejected_total counter\n"
      "outpost_policy_rejected_total %lld\n"
      "# TYPE outpost_policy_paths_refused_total counter\n"
      "outpost_policy_paths_refused_total %lld\n"
      "# TYPE outpost_last_contact_timestamp_seconds gauge\n"
      "outpost_last_contact_timestamp_seconds %lld.%03lld\n"
      "# TYPE outpost_spool_bytes gauge\n"
      "outpost_spool_bytes %lld\n"
      "# TYPE outpost_cpu_seconds_total counter\n"
      "outpost_cpu_seconds_total %lld.%03lld\n"
      "# TYPE outpost_resident_memory_bytes gauge\n"
      "outpost_resident_memory_bytes %lld\n"
      "# TYPE outpost_cap_records_per_second gauge\n"
      "outpost_cap_records_per_second %lld\n"
      "# TYPE outpost_cap_rate_limited_polls_total counter\n"
      "outpost_cap_rate_limited_polls_total %lld\n"
      "# TYPE outpost_cap_memory_bytes gauge\n"
      "outpost_cap_memory_bytes %lld\n"
      "# TYPE outpost_cap_memory_over gauge\n"
      "outpost_cap_memory_over %d\n"
      "# TYPE outpost_step_max_seconds gauge\n"
      "outpost_step_max_seconds %lld.%03lld\n"
      "# TYPE outpost_step_max_cpu_seconds gauge\n"
      "outpost_step_max_cpu_seconds %lld.%03lld\n"
      "# TYPE outpost_steps_slow_total counter\n"
      "outpost_steps_slow_total %lld\n"
      "# TYPE outpost_ingest_in_flight gauge\n"
      "outpost_ingest_in_flight %d\n",
      outpost_version, id, state_name(d->st.state), (long long)d->st.produced,
      (long long)d->st.acked, (long long)d->st.shed, (long long)d->st.spooled,
      (long long)d->st.batches_sent, (long long)d->st.batch_failures, (long long)d->st.bytes_sent,
      (long long)d->st.errors, (long long)d->pol.version, (long long)d->pol.rejected_total,
      (long long)d->pol.refused_total, (long long)(d->last_contact_ms / 1000),
      (long long)(d->last_contact_ms % 1000), (long long)d->st.spool_bytes,
      (long long)(d->cpu_ms / 1000), (long long)(d->cpu_ms < 0 ? 0 : d->cpu_ms % 1000),
      (long long)d->caps.rss_bytes, (long long)d->caps.rate, (long long)d->caps.rate_limited_polls,
      (long long)d->caps.memory_cap_bytes, d->caps.memory_over,
      (long long)(d->st.step_max_ms / 1000), (long long)(d->st.step_max_ms % 1000),
      (long long)(d->st.step_max_cpu_ms / 1000), (long long)(d->st.step_max_cpu_ms % 1000),
      (long long)d->st.steps_slow, d->st.ingest_in_flight);
  return n < 0 || (size_t)n >= cap ? -1 : n;
}

int statusfile_write(const os_shim *os, const agent *a, const char *state_dir,
                     const char *prom_path, int64_t wall_ms) {
  statusfile_data d;
  char buf[STATUSFILE_MAX], path[OS_PATH_MAX];
  memset(&d, 0, sizeof d);
  agent_get_stats(a, &d.st);
  agent_policy_info(a, &d.pol);
  agent_caps_info(a, &d.caps);
  d.cpu_ms = -1;
  if (os->self_cpu_ms && os->self_cpu_ms(os->ctx, &d.cpu_ms) != OS_OK) d.cpu_ms = -1;
  d.last_contact_ms = agent_last_contact_ms(a);
  agent_sandbox_status(a, d.sandbox_landlock, d.sandbox_seccomp);
  d.wall_ms = wall_ms;
  int n = statusfile_render_json(&d, buf, sizeof buf);
  if (n < 0) return OS_ENOMEM;
  int rc = files_join(path, sizeof path, state_dir, STATUSFILE_NAME);
  if (rc == OS_OK) rc = files_write_atomic(os, path, buf, (size_t)n, 0640);
  if (rc != OS_OK || !prom_path || !prom_path[0]) return rc;
  n = statusfile_render_prom(&d, buf, sizeof buf);
  if (n < 0) return OS_ENOMEM;
  return files_write_atomic(os, prom_path, buf, (size_t)n, 0644);
}
