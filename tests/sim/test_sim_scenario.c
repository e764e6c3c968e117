#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim_scenario.h"

static const char *GOOD =
    "{\"name\":\"t\",\"claims\":[\"DEL-1\"],\"description\":\"d\","
    "\"fleet\":{\"agents\":10},\"duration_s\":3600,"
    "\"log\":{\"lines_per_min\":2,\"line_bytes\":[40,160]},"
    "\"network\":{\"latency_ms\":[20,200],\"loss\":0.01,\"response_loss\":0.005},"
    "\"agent\":{\"batch_max_records\":500,\"batch_max_age_ms\":60000,\"poll_interval_ms\":10000},"
    "\"cloud\":{\"session_ttl_s\":3600},"
    "\"events\":[{\"at_s\":60,\"type\":\"cloud_outage\",\"duration_s\":600},"
    "{\"at_s\":120,\"type\":\"network\",\"loss\":0.3,\"response_loss\":0.1},"
    "{\"at_s\":900,\"type\":\"restart\",\"agents\":\"10%\"},"
    "{\"at_s\":950,\"type\":\"crash\",\"agents\":3},"
    "{\"at_s\":1000,\"type\":\"partition\",\"agents\":\"50%\",\"duration_s\":60}],"
    "\"expect\":{\"exactly_once\":true,\"drain_s\":1800,\"max_spooled_at_end\":0}}";

static void parses_full_example(void **state) {
  sim_scenario *s = malloc(sizeof *s);
  char err[256];
  assert_int_equal(sim_scenario_parse(GOOD, strlen(GOOD), s, err, sizeof err), SIM_SCN_OK);
  assert_string_equal(s->name, "t");
  assert_int_equal(s->agents, 10);
  assert_int_equal(s->duration_s, 3600);
  assert_int_equal(s->n_events, 5);
  assert_int_equal(s->events[0].type, SIM_SCN_CLOUD_OUTAGE);
  assert_int_equal(s->events[0].duration_s, 600);
  assert_true(s->events[1].loss > 0.29 && s->events[1].loss < 0.31);
  assert_int_equal(s->events[1].latency_min_ms, -1);
  assert_int_equal(sim_scenario_event_agents(&s->events[2], 1000), 100);
  assert_int_equal(sim_scenario_event_agents(&s->events[2], 5), 1);
  assert_int_equal(sim_scenario_event_agents(&s->events[3], 2), 2);
  assert_int_equal(s->batch_max_records, 500);
  assert_int_equal(s->request_timeout_ms, -1);
  assert_true(s->exactly_once);
  assert_int_equal(s->drain_s, 1800);
  assert_int_equal(s->max_spooled_at_end, 0);
  free(s);
}

/* Each bad file is rejected and the message names the key. */
static void rejects_with_key_path(void **state) {
  static const struct {
    const char *json;
    const char *key;
  } cases[] = {
      {"not json", "(root)"},
      {"[1,2]", "(root)"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"bogus\":1}", "bogus: unknown key"},
      {"{\"fleet\":{\"agents\":1},\"duration_s\":10}", "name: required"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":0},\"duration_s\":10}", "fleet.agents"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1.5},\"duration_s\":10}", "fleet.agents"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1,\"x\":2},\"duration_s\":10}", "fleet.x: unknown key"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":\"10\"}", "duration_s"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1}}", "duration_s: required"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"log\":{\"line_bytes\":[100,50]}}",
       "log.line_bytes"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"log\":{\"line_bytes\":[10]}}",
       "log.line_bytes"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"network\":{\"loss\":1.5}}",
       "network.loss"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"agent\":{\"batch_max_records\":0}}",
       "agent.batch_max_records"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"cloud\":{\"ttl\":1}}",
       "cloud.ttl: unknown key"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"events\":{}}", "events"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"events\":[{\"at_s\":1,\"type\":\"meteor\"}]}",
       "events[0].type"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"events\":[{\"at_s\":11,\"type\":\"crash\",\"agents\":1}]}",
       "events[0].at_s"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"events\":[{\"at_s\":1,\"type\":\"crash\",\"agents\":\"110%\"}]}",
       "events[0].agents"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"events\":[{\"at_s\":1,\"type\":\"crash\"}]}",
       "events[0].agents: required"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"events\":[{\"at_s\":1,\"type\":\"crash\",\"agents\":1,\"duration_s\":5}]}",
       "events[0].duration_s: unknown key"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"events\":[{\"at_s\":1,\"type\":\"power_cut\",\"agents\":0}]}",
       "events[0].agents"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"events\":[{\"at_s\":1,\"type\":\"cloud_outage\"}]}",
       "events[0].duration_s: required"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"events\":[{\"at_s\":1,\"type\":\"network\"}]}",
       "events[0]"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"expect\":{\"exactly_once\":1}}",
       "expect.exactly_once"},
      {"{\"name\":\"x\",\"name\":\"y\",\"fleet\":{\"agents\":1},\"duration_s\":10}", "name: duplicate key"},
  };
  sim_scenario *s = malloc(sizeof *s);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[256] = "";
    int rc = sim_scenario_parse(cases[i].json, strlen(cases[i].json), s, err, sizeof err);
    if (rc != SIM_SCN_EINVALID || strstr(err, cases[i].key) == NULL)
      fail_msg("case %zu: rc %d err \"%s\", want key \"%s\"", i, rc, err, cases[i].key);
  }
  free(s);
}

#define UPD_HEAD "{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"update\":{\"check_interval_s\":600},\"events\":["

/* mix_and_match (issue #6): role and body_version, both required and checked. */
static void parses_mix_and_match(void **state) {
  sim_scenario *s = malloc(sizeof *s);
  char err[256] = "";
  const char *ok = UPD_HEAD "{\"at_s\":1,\"type\":\"mix_and_match\",\"role\":\"stable\",\"body_version\":4}]}";
  assert_int_equal(sim_scenario_parse(ok, strlen(ok), s, err, sizeof err), SIM_SCN_OK);
  assert_int_equal(s->events[0].type, SIM_SCN_UPD_MIX);
  assert_string_equal(s->events[0].role, "stable");
  assert_int_equal(s->events[0].body_version, 4);
  assert_string_equal(sim_scenario_event_name(SIM_SCN_UPD_MIX), "mix_and_match");
  static const struct {
    const char *json;
    const char *key;
  } bad[] = {
      {UPD_HEAD "{\"at_s\":1,\"type\":\"mix_and_match\",\"role\":\"root\",\"body_version\":4}]}",
       "events[0].role"},
      {UPD_HEAD "{\"at_s\":1,\"type\":\"mix_and_match\",\"role\":\"stable\"}]}",
       "events[0].body_version: required"},
      {UPD_HEAD "{\"at_s\":1,\"type\":\"mix_and_match\",\"role\":\"stable\",\"body_version\":0}]}",
       "events[0].body_version"},
      {UPD_HEAD "{\"at_s\":1,\"type\":\"mix_and_match\",\"body_version\":2}]}", "events[0].role: required"},
      {UPD_HEAD "{\"at_s\":1,\"type\":\"mix_and_match\",\"role\":\"stable\",\"body_version\":2,\"version\":\"1.0.0\"}]}",
       "events[0].version: unknown key"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":1},\"duration_s\":10,\"events\":[{\"at_s\":1,\"type\":"
       "\"mix_and_match\",\"role\":\"stable\",\"body_version\":2}]}",
       "needs the top-level \"update\" section"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = sim_scenario_parse(bad[i].json, strlen(bad[i].json), s, err, sizeof err);
    if (rc != SIM_SCN_EINVALID || strstr(err, bad[i].key) == NULL)
      fail_msg("case %zu: rc %d err \"%s\", want \"%s\"", i, rc, err, bad[i].key);
  }
  free(s);
}

#define ATT_HEAD "{\"name\":\"x\",\"fleet\":{\"agents\":2},\"duration_s\":10,\"events\":["

/* issue #16: cloud_lie, clock_step, tls_failure, steal_release_key. */
static void parses_attacks_without_c(void **state) {
  (void)state;
  sim_scenario *s = malloc(sizeof *s);
  char err[256] = "";
  const char *ok = ATT_HEAD
      "{\"at_s\":1,\"type\":\"cloud_lie\",\"agents\":1,\"kind\":\"ack_beyond\",\"duration_s\":5},"
      "{\"at_s\":1,\"type\":\"clock_step\",\"agents\":\"50%\",\"step_s\":-86400},"
      "{\"at_s\":2,\"type\":\"tls_failure\",\"agents\":2,\"duration_s\":3}],"
      "\"expect\":{\"lies_refused\":true,\"tls_reported\":true}}";
  assert_int_equal(sim_scenario_parse(ok, strlen(ok), s, err, sizeof err), SIM_SCN_OK);
  assert_int_equal(s->events[0].type, SIM_SCN_CLOUD_LIE);
  assert_int_equal(s->events[0].lie_kind, SIM_LIE_ACK_BEYOND);
  assert_int_equal(s->events[1].type, SIM_SCN_CLOCK_STEP);
  assert_int_equal(s->events[1].step_s, -86400);
  assert_int_equal(s->events[2].type, SIM_SCN_TLS_FAILURE);
  assert_int_equal(s->lies_refused, 1);
  assert_int_equal(s->tls_reported, 1);
  const char *steal = UPD_HEAD "{\"at_s\":1,\"type\":\"steal_release_key\",\"version\":\"1.1.0\"}]}";
  assert_int_equal(sim_scenario_parse(steal, strlen(steal), s, err, sizeof err), SIM_SCN_OK);
  assert_int_equal(s->events[0].type, SIM_SCN_UPD_STEAL);
  static const struct {
    const char *json;
    const char *key;
  } bad[] = {
      {ATT_HEAD "{\"at_s\":1,\"type\":\"cloud_lie\",\"agents\":1,\"kind\":\"fib\",\"duration_s\":5}]}",
       "events[0].kind: must be one of"},
      {ATT_HEAD "{\"at_s\":1,\"type\":\"cloud_lie\",\"agents\":1,\"kind\":\"session_swap\"}]}",
       "events[0].duration_s: required"},
      {ATT_HEAD "{\"at_s\":1,\"type\":\"clock_step\",\"agents\":1,\"step_s\":0}]}",
       "events[0].step_s: must not be 0"},
      {ATT_HEAD "{\"at_s\":1,\"type\":\"clock_step\",\"agents\":1,\"step_s\":1e12}]}",
       "events[0].step_s: must be an integer"},
      {ATT_HEAD "{\"at_s\":1,\"type\":\"tls_failure\",\"agents\":1,\"duration_s\":1,\"x\":1}]}",
       "events[0].x: unknown key"},
      {ATT_HEAD "{\"at_s\":1,\"type\":\"steal_release_key\",\"version\":\"1.1.0\"}]}",
       "needs the top-level \"update\" section"},
      {ATT_HEAD "{\"at_s\":1,\"type\":\"tls_failure\",\"agents\":1,\"duration_s\":1}],\"expect\":{\"lies_refused\":1}}",
       "expect.lies_refused: must be true or false"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = sim_scenario_parse(bad[i].json, strlen(bad[i].json), s, err, sizeof err);
    if (rc != SIM_SCN_EINVALID || strstr(err, bad[i].key) == NULL)
      fail_msg("case %zu: rc %d err \"%s\", want \"%s\"", i, rc, err, bad[i].key);
  }
  free(s);
}

#define PLANT_HEAD "{\"name\":\"x\",\"fleet\":{\"agents\":2},\"duration_s\":10,\"events\":["

/* plant_files (issue #13): agents, uid (default 1000, not the agent's own),
 * no update section needed; its two expectations. */
static void parses_plant_files(void **state) {
  (void)state;
  sim_scenario *s = malloc(sizeof *s);
  char err[256] = "";
  const char *ok = PLANT_HEAD "{\"at_s\":1,\"type\":\"plant_files\",\"agents\":1}],"
                   "\"expect\":{\"max_foreign_owned_state_files\":0,\"planted_policy_refused\":true}}";
  assert_int_equal(sim_scenario_parse(ok, strlen(ok), s, err, sizeof err), SIM_SCN_OK);
  assert_int_equal(s->events[0].type, SIM_SCN_PLANT);
  assert_int_equal(s->events[0].uid, 1000);
  assert_int_equal(s->max_foreign_owned_state_files, 0);
  assert_true(s->planted_policy_refused);
  assert_int_equal(s->agent_uid, 0);
  assert_string_equal(sim_scenario_event_name(SIM_SCN_PLANT), "plant_files");
  const char *none = PLANT_HEAD "]}";
  assert_int_equal(sim_scenario_parse(none, strlen(none), s, err, sizeof err), SIM_SCN_OK);
  assert_int_equal(s->max_foreign_owned_state_files, -1);
  static const struct {
    const char *json;
    const char *key;
  } bad[] = {
      {PLANT_HEAD "{\"at_s\":1,\"type\":\"plant_files\",\"agents\":1,\"uid\":0}]}",
       "events[0].uid"},
      {"{\"name\":\"x\",\"fleet\":{\"agents\":2,\"uid\":1000},\"duration_s\":10,\"events\":["
       "{\"at_s\":1,\"type\":\"plant_files\",\"agents\":1}]}",
       "events[0].uid: must differ"},
      {PLANT_HEAD "{\"at_s\":1,\"type\":\"plant_files\",\"agents\":1,\"files\":2}]}",
       "events[0].files: unknown key"},
      {PLANT_HEAD "]],\"expect\":{\"max_foreign_owned_state_files\":-1}}", "not valid JSON"},
      {PLANT_HEAD "],\"expect\":{\"max_foreign_owned_state_files\":-1}}",
       "expect.max_foreign_owned_state_files"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = sim_scenario_parse(bad[i].json, strlen(bad[i].json), s, err, sizeof err);
    if (rc != SIM_SCN_EINVALID || strstr(err, bad[i].key) == NULL)
      fail_msg("case %zu: rc %d err \"%s\", want \"%s\"", i, rc, err, bad[i].key);
  }
  free(s);
}

/* --agents scaling (sim_scenario_scale): event-caused counts follow the
 * agents the events hit, fleet-wide volumes the fleet, per-agent bounds and
 * zeros stay. */
static void scales_counts_with_the_fleet(void **state) {
  static const char *J =
      "{\"name\":\"s\",\"fleet\":{\"agents\":10},\"duration_s\":3600,"
      "\"events\":[{\"at_s\":60,\"type\":\"tamper_permissions\",\"agents\":5},"
      "{\"at_s\":70,\"type\":\"clone\",\"agents\":\"20%\",\"copies\":3}],"
      "\"expect\":{\"min_drift_events\":15,\"alerts\":{\"total\":6,\"clone_reenrolled\":[2,8]},"
      "\"max_misattributed\":0,\"max_spooled_at_end\":0,\"min_shed\":1000,"
      "\"max_requests_per_min\":300,\"lost_lines\":[100,200]}}";
  sim_scenario *s = malloc(sizeof *s);
  char err[256];
  assert_int_equal(sim_scenario_parse(J, strlen(J), s, err, sizeof err), SIM_SCN_OK);
  assert_int_equal(sim_scenario_scale(s, 10), 0); /* same size: nothing moves */
  assert_int_equal(sim_scenario_scale(s, 0), SIM_SCN_EINVALID);
  assert_int_equal(sim_scenario_scale(s, 3), 1);
  assert_int_equal(s->agents, 3);
  assert_int_equal(s->min_drift_events, 9);    /* 5 tampered -> 3: 15 * 3/5 */
  assert_int_equal(s->alerts[0].min, 3);       /* 2 sources x 3 -> 1 x 3 */
  assert_int_equal(s->alerts[0].max, 3);
  assert_int_equal(s->alerts[1].min, 1);
  assert_int_equal(s->alerts[1].max, 4);
  assert_int_equal(s->max_misattributed, 0);
  assert_int_equal(s->max_spooled_at_end, 0);  /* per agent */
  assert_int_equal(s->min_shed, 300 - 52);     /* 300 - 3 sqrt(300), rounded down */
  assert_int_equal(s->max_requests_per_min, 90 + 29); /* 90 + 3 sqrt(90), rounded up */
  assert_int_equal(s->lost_min, 13);          /* 30 - 3 sqrt(30), rounded down */
  assert_int_equal(s->lost_max, 60 + 24);
  /* growing: event counts capped by the event's own count stay */
  assert_int_equal(sim_scenario_parse(J, strlen(J), s, err, sizeof err), SIM_SCN_OK);
  assert_int_equal(sim_scenario_scale(s, 20), 1);
  assert_int_equal(s->min_drift_events, 15);   /* still 5 tampered */
  assert_int_equal(s->alerts[0].min, 12);      /* 4 sources x 3 */
  assert_int_equal(s->min_shed, 2000);
  assert_int_equal(s->max_requests_per_min, 600);
  free(s);
}

static void every_shipped_scenario_parses(void **state) {
  static const char *files[] = {"steady-state.json",       "smoke.json",
                                "faults.json",             "compromised-online-keys.json",
                                "arbitrary-software.json", "endless-data.json",
                                "mix-and-match.json",      "planted-probe.json",
                                "tampered-permissions.json"};
  sim_scenario *s = malloc(sizeof *s);
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[1024], err[256] = "";
    snprintf(path, sizeof path, "%s/%s", SCENARIO_DIR, files[i]);
    int rc = sim_scenario_load(path, s, err, sizeof err);
    if (rc != SIM_SCN_OK) fail_msg("%s: %s", files[i], err);
  }
  char err[256];
  assert_int_equal(sim_scenario_load("/nonexistent/x.json", s, err, sizeof err), SIM_SCN_EIO);
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(parses_full_example),
                                     cmocka_unit_test(parses_plant_files),
                                     cmocka_unit_test(rejects_with_key_path),
                                     cmocka_unit_test(parses_mix_and_match),
                                     cmocka_unit_test(parses_attacks_without_c),
                                     cmocka_unit_test(every_shipped_scenario_parses),
                                     cmocka_unit_test(scales_counts_with_the_fleet)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
