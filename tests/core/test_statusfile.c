/* Status file and Prometheus textfile: content, escaping, bounds, and the
 * atomic write through the real os shim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "core/statusfile.h"
#include "common/version.h"

static void fill(statusfile_data *d) {
  memset(d, 0, sizeof *d);
  d->st.state = AGENT_STATE_RUNNING;
  snprintf(d->st.agent_id, sizeof d->st.agent_id, "ab\"c\\d");
  d->st.produced = 120;
  d->st.acked = 100;
  d->st.shed = 3;
  d->st.spooled = 17;
  d->st.step_max_ms = 1234;
  d->st.steps_slow = 7;
  d->st.step_max_cpu_ms = 56;
  d->st.ingest_in_flight = 3;
  d->st.ingest_in_flight_max = 4;
  d->pol.version = 4;
  d->pol.refused_total = 2;
  snprintf(d->pol.last_error, sizeof d->pol.last_error, "diagnostics[0].name: unknown");
  d->wall_ms = 1764380000123;
  d->last_contact_ms = 1764380000999;
}

static void json_has_every_field(void **state) {
  statusfile_data d;
  fill(&d);
  char buf[STATUSFILE_MAX];
  int n = statusfile_render_json(&d, buf, sizeof buf);
  assert_true(n > 0);
  cJSON *o = cJSON_Parse(buf);
  assert_non_null(o);
  assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "running");
  assert_int_equal((int)cJSON_GetObjectItem(o, "records_shed")->valuedouble, 3);
  assert_int_equal((int)cJSON_GetObjectItem(o, "spool_records")->valuedouble, 17);
  assert_int_equal((int)cJSON_GetObjectItem(o, "policy_version")->valuedouble, 4);
  assert_int_equal((int)cJSON_GetObjectItem(o, "step_max_ms")->valuedouble, 1234);
  assert_int_equal((int)cJSON_GetObjectItem(o, "steps_slow")->valuedouble, 7);
  assert_int_equal((int)cJSON_GetObjectItem(o, "step_max_cpu_ms")->valuedouble, 56);
  assert_int_equal((int)cJSON_GetObjectItem(o, "ingest_in_flight")->valuedouble, 3);
  assert_int_equal((int)cJSON_GetObjectItem(o, "ingest_in_flight_max")->valuedouble, 4);
  assert_string_equal(cJSON_GetObjectItem(o, "version")->valuestring, outpost_version);
  assert_string_equal(cJSON_GetObjectItem(o, "policy_last_error")->valuestring,
                      "diagnostics[0].name: unknown");
  /* issue 13: the sandbox fields appear only when the driver set them. */
  assert_null(cJSON_GetObjectItem(o, "sandbox_landlock"));
  cJSON_Delete(o);
  snprintf(d.sandbox_landlock, sizeof d.sandbox_landlock, "enforced (ABI 7: fs, tcp, scopes)");
  snprintf(d.sandbox_seccomp, sizeof d.sandbox_seccomp, "allowlist (84 syscalls)");
  assert_true(statusfile_render_json(&d, buf, sizeof buf) > 0);
  o = cJSON_Parse(buf);
  assert_non_null(o);
  assert_string_equal(cJSON_GetObjectItem(o, "sandbox_landlock")->valuestring,
                      "enforced (ABI 7: fs, tcp, scopes)");
  assert_string_equal(cJSON_GetObjectItem(o, "sandbox_seccomp")->valuestring,
                      "allowlist (84 syscalls)");
  cJSON_Delete(o);
  assert_int_equal(statusfile_render_json(&d, buf, 16), -1);
}

static void prom_format(void **state) {
  statusfile_data d;
  fill(&d);
  char buf[STATUSFILE_MAX];
  assert_true(statusfile_render_prom(&d, buf, sizeof buf) > 0);
  assert_non_null(strstr(buf, "agent_id=\"ab\\\"c\\\\d\"")); /* escaped label */
  assert_non_null(strstr(buf, "\noutpost_records_shed_total 3\n"));
  assert_non_null(strstr(buf, "\noutpost_policy_version 4\n"));
  assert_non_null(strstr(buf, "\noutpost_step_max_seconds 1.234\n"));
  assert_non_null(strstr(buf, "\noutpost_steps_slow_total 7\n"));
  assert_non_null(strstr(buf, "\noutpost_ingest_in_flight 3\n"));
  assert_non_null(strstr(buf, "\noutpost_step_max_cpu_seconds 0.056\n"));
  assert_non_null(strstr(buf, "\noutpost_last_contact_timestamp_seconds 1764380000.999\n"));
  assert_int_equal(statusfile_render_prom(&d, buf, 64), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(json_has_every_field),
      cmocka_unit_test(prom_format),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
