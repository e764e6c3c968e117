/* report.html's pieces and the replay stream (issue #16): escaping, the
 * failing agent named in a detail, the timeline's memory bound, and the
 * trace reader's story lines and errors (line numbers, NUL, overlong). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim_replay.h"
#include "sim_report.h"

static char *escaped(const char *s) {
  static char out[4096];
  memset(out, 0, sizeof out);
  FILE *f = fmemopen(out, sizeof out, "w");
  assert_non_null(f);
  sim_report_html_text(f, s);
  fclose(f);
  return out;
}

static void escapes_html(void **state) {
  assert_string_equal(escaped("<script>alert('x')</script> & \"q\""),
                      "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
  assert_string_equal(escaped("a\x01" "b\nc\x7f"), "a?b\nc?");
  assert_string_equal(escaped(""), "");
}

static void names_the_agent(void **state) {
  assert_int_equal(sim_report_agent_of("agent 12: lines written 3"), 12);
  assert_int_equal(sim_report_agent_of("exactly_once: agent 1: x"), 1);
  assert_int_equal(sim_report_agent_of("source agent 7 re-enrolled"), 7);
  assert_int_equal(sim_report_agent_of("subagent 3 and agent x then agent 4"), 4);
  assert_int_equal(sim_report_agent_of("store holds 3 rows"), -1);
  assert_int_equal(sim_report_agent_of("agent 99999999999"), -1);
  assert_int_equal(sim_report_agent_of(NULL), -1);
}

static void timeline_is_bounded(void **state) {
  /* a 30-day run: still at most SIM_REPORT_MAX_SAMPLES + the final one */
  int64_t total = 30LL * 86400 * 1000;
  sim_report_timeline *tl = sim_report_timeline_new(total);
  assert_non_null(tl);
  assert_true(tl->interval_ms * SIM_REPORT_MAX_SAMPLES > total);
  assert_int_equal(tl->interval_ms % SIM_REPORT_MIN_INTERVAL_MS, 0);
  int n = 0;
  for (int64_t t = 0; t <= total && tl->next_ms != INT64_MAX; t += 1000)
    while (t >= tl->next_ms && sim_report_sample_add(tl, tl->next_ms, 0)) n++;
  assert_true(n <= SIM_REPORT_MAX_SAMPLES);
  /* whatever the caller does, no more than the cap */
  for (int i = 0; i < 2 * SIM_REPORT_MAX_SAMPLES; i++) sim_report_sample_add(tl, total, 0);
  assert_int_equal(tl->n, SIM_REPORT_MAX_SAMPLES);
  assert_int_equal(tl->next_ms, INT64_MAX);
  assert_null(sim_report_sample_add(tl, total, 0));
  assert_non_null(sim_report_sample_add(tl, total, 1));
  assert_true(tl->n <= SIM_REPORT_MAX_SAMPLES + 1);
  /* versions: named up to the cap, then "other" */
  char v[24];
  for (int i = 0; i < SIM_REPORT_MAX_VERSIONS + 3; i++) {
    snprintf(v, sizeof v, "1.%d.0", i);
    int slot = sim_report_version_slot(tl, v);
    assert_int_equal(slot, i < SIM_REPORT_MAX_VERSIONS ? i : SIM_REPORT_MAX_VERSIONS);
  }
  assert_int_equal(sim_report_version_slot(tl, "1.0.0"), 0);
  sim_report_timeline_free(tl);
  sim_report_timeline_free(NULL);
  /* a short run: every 10 s */
  tl = sim_report_timeline_new(600000);
  assert_int_equal(tl->interval_ms, SIM_REPORT_MIN_INTERVAL_MS);
  sim_report_timeline_free(tl);
}

typedef struct collected {
  char text[64][SIM_REPLAY_TEXT_MAX];
  int64_t t[64];
  int n;
} collected;

static int collect(void *user, int64_t t, const char *text) {
  collected *c = user;
  if (c->n < 64) {
    snprintf(c->text[c->n], sizeof c->text[0], "%s", text);
    c->t[c->n++] = t;
  }
  return 0;
}

static int run(const char *trace, size_t len, int32_t agent, int64_t from, int64_t to,
               collected *c, sim_replay_stats *st, char *err) {
  FILE *f = fmemopen((void *)trace, len, "r");
  assert_non_null(f);
  memset(c, 0, sizeof *c);
  sim_replay_options o = {.agent = agent, .from_ms = from, .to_ms = to};
  int rc = sim_replay_stream(f, "t.jsonl", &o, collect, c, st, err, 512);
  fclose(f);
  return rc;
}

static const char good[] =
    "{\"t\":0,\"type\":\"start\",\"scenario\":\"x<y\",\"seed\":3,\"agents\":4,\"duration_s\":60,\"drain_s\":10}\n"
    "{\"t\":0,\"ev\":\"step\",\"agent\":1,\"result\":1000}\n"
    "{\"t\":0,\"ev\":\"step\",\"agent\":2,\"result\":1000}\n"
    "{\"t\":5,\"ev\":\"log\",\"agent\":1,\"result\":0}\n"
    "{\"t\":7,\"type\":\"agent_log\",\"agent\":1,\"level\":2,\"msg\":\"disk \\u0007full\"}\n"
    "{\"t\":9,\"type\":\"fault\",\"fault\":\"crash\",\"agents\":[3,1,2]}\n"
    "{\"t\":9,\"type\":\"fault\",\"fault\":\"crash\",\"agents\":[3]}\n"
    "{\"t\":10,\"type\":\"fault\",\"fault\":\"cloud_outage\",\"duration_s\":300}\n"
    "{\"t\":11,\"type\":\"install\",\"agent\":1,\"version\":\"1.1.0\",\"ring\":\"canary\"}\n"
    "{\"t\":12,\"type\":\"clone\",\"from\":1,\"agent\":5,\"fingerprint\":\"new\"}\n"
    "{\"t\":13,\"type\":\"space_violation\",\"agent\":1,\"what\":\"over quota\"}\n"
    "{\"t\":3600000,\"type\":\"hour\",\"hour\":1}\n"
    "{\"t\":3600001,\"type\":\"expect\",\"name\":\"ledger\",\"pass\":false}\n";

static void tells_one_agents_story(void **state) {
  collected c;
  sim_replay_stats st;
  char err[512];
  assert_int_equal(run(good, strlen(good), 1, 0, INT64_MAX, &c, &st, err), SIM_REPLAY_OK);
  assert_int_equal(st.lines, 13);
  assert_int_equal(st.full, 1);
  assert_int_equal(st.agents, 4);
  assert_string_equal(st.scenario, "x<y");
  const char *want[] = {"run of scenario x<y, seed 3, 4 agents, 60 s then 10 s of drain",
                        "... 1 step, 1 line written by the application (until 0:00:00.005)",
                        "log WARN: disk ?full",
                        "FAULT crash hits this agent (and 2 others)",
                        "fleet: fault cloud_outage duration_s=300",
                        "INSTALL version 1.1.0 (ring canary)",
                        "its disk is copied into agent 5 (fingerprint new)",
                        "space_violation what=over quota",
                        "expectation ledger: FAILED"};
  assert_int_equal(c.n, (int)(sizeof want / sizeof want[0]));
  for (int i = 0; i < c.n; i++) assert_string_equal(c.text[i], want[i]);
  assert_true(c.t[1] == 0 && c.t[2] == 7);
  /* a window: from 9 ms to 11 ms (the start line still names the run) */
  assert_int_equal(run(good, strlen(good), 1, 9, 11, &c, &st, err), SIM_REPLAY_OK);
  assert_int_equal(c.n, 4);
  assert_string_equal(c.text[3], "INSTALL version 1.1.0 (ring canary)");
  /* another agent: only the crash naming it and the fleet's lines */
  assert_int_equal(run(good, strlen(good), 3, 0, INT64_MAX, &c, &st, err), SIM_REPLAY_OK);
  assert_int_equal(st.matched, 2);
}

static void names_the_bad_line(void **state) {
  collected c;
  sim_replay_stats st;
  char err[512];
  const char *bad[][2] = {
      {"{\"t\":0,\"type\":\"start\"}\n{\"t\":1,\"ev\":\"step\",\"agent\":1}\nnot json\n",
       "t.jsonl: line 3: not JSON"},
      {"{\"t\":0,\"type\":\"start\"}\n[1,2]\n", "t.jsonl: line 2: not a JSON object"},
      {"{\"type\":\"start\"}\n", "t.jsonl: line 1: no numeric time \"t\""},
      {"{\"t\":1}\n", "t.jsonl: line 1: neither \"ev\" nor \"type\" (a string)"},
      {"{\"t\":1,\"ev\":3,\"agent\":1}\n",
       "t.jsonl: line 1: an event line needs \"ev\" (a string) and \"agent\" (a number)"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(run(bad[i][0], strlen(bad[i][0]), 1, 0, INT64_MAX, &c, &st, err),
                     SIM_REPLAY_EFORMAT);
    assert_string_equal(err, bad[i][1]);
  }
  static const char nul[] = "{\"t\":0,\"type\":\"start\"}\n{\"t\":1,\"ty\0pe\":\"x\"}\n{\"t\":2}\n";
  assert_int_equal(run(nul, sizeof nul - 1, 1, 0, INT64_MAX, &c, &st, err), SIM_REPLAY_EFORMAT);
  assert_string_equal(err, "t.jsonl: line 2: holds a NUL byte");
  /* over the line cap: an error, not a bigger buffer */
  size_t n = SIM_REPLAY_MAX_LINE + 100;
  char *big = malloc(n);
  assert_non_null(big);
  memset(big, ' ', n);
  big[n - 1] = '\n';
  assert_int_equal(run(big, n, 1, 0, INT64_MAX, &c, &st, err), SIM_REPLAY_EFORMAT);
  assert_string_equal(err, "t.jsonl: line 1: longer than 2097152 bytes");
  free(big);
  /* a blank line and a missing final newline are fine */
  static const char ok[] = "{\"t\":0,\"type\":\"start\"}\n\n{\"t\":1,\"type\":\"power_cut\",\"agent\":1}";
  assert_int_equal(run(ok, sizeof ok - 1, 1, 0, INT64_MAX, &c, &st, err), SIM_REPLAY_OK);
  assert_int_equal(st.matched, 1);
  assert_int_equal(st.full, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(escapes_html), cmocka_unit_test(names_the_agent),
      cmocka_unit_test(timeline_is_bounded), cmocka_unit_test(tells_one_agents_story),
      cmocka_unit_test(names_the_bad_line)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
