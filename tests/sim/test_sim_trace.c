/* sim_trace's hash (issue #15): per-agent chains folded in agent order, so
 * the interleaving of different agents' events does not change it, while
 * any change in one agent's events, or their order, does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_trace.h"

typedef struct ev {
  int type;
  int64_t t;
  int32_t agent;
  int64_t result;
} ev;

static uint64_t hash_of(const ev *e, int n, int64_t agents) {
  sim_trace *t = NULL;
  assert_int_equal(sim_trace_open(NULL, 0, agents, &t), SIM_TRACE_OK);
  for (int i = 0; i < n; i++) sim_trace_event(t, e[i].type, "x", e[i].t, e[i].agent, e[i].result);
  uint64_t h = sim_trace_hash(t);
  assert_int_equal(sim_trace_events(t), n);
  assert_int_equal(sim_trace_close(t), SIM_TRACE_OK);
  return h;
}

static void interleaving_does_not_matter(void **state) {
  (void)state;
  const ev a[] = {{1, 10, 0, 1}, {1, 10, 1, 1}, {8, 10, -1, 0}, {2, 20, 1, 200}, {2, 20, 0, 200}};
  const ev b[] = {{1, 10, 1, 1}, {8, 10, -1, 0}, {1, 10, 0, 1}, {2, 20, 0, 200}, {2, 20, 1, 200}};
  assert_true(hash_of(a, 5, 2) == hash_of(b, 5, 2));
}

static void one_agents_order_and_content_matter(void **state) {
  (void)state;
  const ev a[] = {{1, 10, 0, 1}, {2, 20, 0, 200}, {1, 10, 1, 1}};
  const ev swapped[] = {{2, 20, 0, 200}, {1, 10, 0, 1}, {1, 10, 1, 1}};
  const ev other[] = {{1, 10, 0, 1}, {2, 20, 0, 500}, {1, 10, 1, 1}};
  const ev moved[] = {{1, 10, 1, 1}, {2, 20, 0, 200}, {1, 10, 0, 1}}; /* event 1 of agent 0 now agent 1's */
  uint64_t h = hash_of(a, 3, 2);
  assert_true(h != hash_of(swapped, 3, 2));
  assert_true(h != hash_of(other, 3, 2));
  assert_true(h != hash_of(moved, 3, 2));
}

/* A merge folds the shards' chains: the same as the run's own hash. */
static void chains_fold_to_the_hash(void **state) {
  (void)state;
  sim_trace *t = NULL;
  assert_int_equal(sim_trace_open(NULL, 0, 3, &t), SIM_TRACE_OK);
  sim_trace_event(t, 1, "x", 5, 2, 7);
  sim_trace_event(t, 9, "x", 6, -1, 0);
  sim_trace_event(t, 1, "x", 7, 0, 3);
  uint64_t x = SIM_TRACE_FNV_BASIS, ch;
  int64_t n;
  for (int64_t i = 0; i < 3; i++) {
    assert_int_equal(sim_trace_chain(t, i, &ch, &n), 0);
    x = sim_trace_hash_fold(x, i, ch, n);
  }
  assert_int_equal(sim_trace_chain(t, -1, &ch, &n), 0);
  assert_int_equal(n, 1);
  x = sim_trace_hash_fold(x, -1, ch, n);
  assert_true(x == sim_trace_hash(t));
  assert_int_equal(sim_trace_chain(t, 3, &ch, &n), -1);
  assert_int_equal(sim_trace_close(t), SIM_TRACE_OK);
  assert_int_equal(sim_trace_open(NULL, 0, SIM_TRACE_MAX_AGENTS + 1, &t), SIM_TRACE_EINVAL);
}

/* Hour lines: a shard's digest (its agents, no fleet term) plus the fleet's
 * term once is one run's digest, whatever the interleaving; a changed
 * event changes it. */
static void digest_adds_over_shards(void **state) {
  (void)state;
  const ev all[] = {{1, 10, 0, 1}, {1, 10, 2, 1}, {8, 10, -1, 0}, {2, 20, 1, 200}, {2, 30, 2, 5}};
  sim_trace *one = NULL, *s0 = NULL, *s1 = NULL, *changed = NULL;
  assert_int_equal(sim_trace_open(NULL, 0, 3, &one), SIM_TRACE_OK);
  assert_int_equal(sim_trace_open(NULL, 0, 3, &s0), SIM_TRACE_OK);
  assert_int_equal(sim_trace_open(NULL, 0, 3, &s1), SIM_TRACE_OK);
  assert_int_equal(sim_trace_open(NULL, 0, 3, &changed), SIM_TRACE_OK);
  static const int order[] = {3, 1, 0, 2, 4}; /* another interleaving; each agent's order kept */
  for (int j = 0; j < 5; j++) {
    const ev *e = &all[order[j]];
    sim_trace_event(one, e->type, "x", e->t, e->agent, e->result);
  }
  for (int i = 0; i < 5; i++) {
    const ev *e = &all[i];
    if (e->agent < 0 || e->agent % 2 == 0) sim_trace_event(s0, e->type, "x", e->t, e->agent, e->result);
    if (e->agent < 0 || e->agent % 2 == 1) sim_trace_event(s1, e->type, "x", e->t, e->agent, e->result);
    sim_trace_event(changed, e->type, "x", e->t, e->agent, i == 3 ? 201 : e->result);
  }
  assert_true(sim_trace_digest_fleet(s0) == sim_trace_digest_fleet(s1));
  assert_true(sim_trace_digest(one, 1) ==
              sim_trace_digest(s0, 0) + sim_trace_digest(s1, 0) + sim_trace_digest_fleet(s0));
  assert_true(sim_trace_digest(one, 1) != sim_trace_digest(changed, 1));
  assert_true(sim_trace_digest(one, 1) != sim_trace_digest(one, 0));
  sim_trace_close(one);
  sim_trace_close(s0);
  sim_trace_close(s1);
  sim_trace_close(changed);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char *b = calloc(1, 1 << 16);
  assert_non_null(b);
  size_t n = fread(b, 1, (1 << 16) - 1, f);
  b[n] = 0;
  fclose(f);
  return b;
}

#define HOUR(t, ev, hash, lines, fev, fhash)                                                          \
  "{\"t\":" #t ",\"type\":\"hour\",\"hour\":1,\"events\":" #ev ",\"hash\":\"" hash                 \
  "\",\"lines_written\":" #lines ",\"produced\":1,\"acked\":1,\"spooled\":0,\"cloud_records\":1,"      \
  "\"requests\":2,\"lost_in\":0,\"lost_out\":0,\"refused\":0,\"ledger_checks\":3,\"fleet_events\":" #fev \
  ",\"fleet_hash\":\"" fhash "\"}\n"

/* Two shards' traces of 3 agents: agents' lines by time (agents first at
 * one time), the fleet's once, hour lines summed, expect and end lines
 * replaced by the verdict; then what a merge refuses, naming file and line. */
static void merge_of_two_shards(void **state) {
  (void)state;
  char dir[] = "/tmp/test-sim-trace-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char p0[128], p1[128], out[128];
  snprintf(p0, sizeof p0, "%s/0", dir);
  snprintf(p1, sizeof p1, "%s/1", dir);
  snprintf(out, sizeof out, "%s/merged", dir);
  write_file(p0, "{\"t\":0,\"type\":\"start\",\"agents\":3}\n"
                 "{\"t\":5,\"ev\":\"write\",\"agent\":0,\"result\":1}\n"
                 "{\"t\":7,\"ev\":\"tick\",\"agent\":-1,\"result\":0}\n"
                 "{\"t\":7,\"type\":\"power_cut\",\"agent\":2}\n"
                 HOUR(3600000, 10, "0000000000000010", 4, 2, "0000000000000001")
                 "{\"t\":3600001,\"type\":\"expect\",\"name\":\"x\",\"pass\":true}\n"
                 "{\"t\":3600001,\"type\":\"end\",\"events\":10}\n");
  write_file(p1, "{\"t\":0,\"type\":\"start\",\"agents\":3}\n"
                 "{\"t\":6,\"ev\":\"write\",\"agent\":1,\"result\":1}\n"
                 "{\"t\":7,\"ev\":\"tick\",\"agent\":-1,\"result\":0}\n"
                 "{\"t\":7,\"ev\":\"write\",\"agent\":1,\"result\":2}\n"
                 HOUR(3600000, 7, "0000000000000020", 3, 2, "0000000000000001")
                 "{\"t\":3600001,\"type\":\"end\",\"events\":7}\n");
  const char *in[] = {p0, p1};
  const char *names[] = {"exactly_once"};
  const int pass[] = {0};
  sim_trace_end end = {.agents = 3, .t = 3600001, .events = 15, .lines_written = 7,
                       .ledger_checks = 6, .hash = 0xabcdef, .n_exp = 1, .exp_name = names,
                       .exp_pass = pass};
  char err[600] = "";
  assert_int_equal(sim_trace_merge(in, 2, out, &end, err, sizeof err), SIM_TRACE_OK);
  char *got = read_all(out);
  assert_string_equal(got,
      "{\"t\":0,\"type\":\"start\",\"agents\":3}\n"
      "{\"t\":5,\"ev\":\"write\",\"agent\":0,\"result\":1}\n"
      "{\"t\":6,\"ev\":\"write\",\"agent\":1,\"result\":1}\n"
      "{\"t\":7,\"ev\":\"tick\",\"agent\":-1,\"result\":0}\n"
      "{\"t\":7,\"type\":\"power_cut\",\"agent\":2}\n"
      "{\"t\":7,\"ev\":\"write\",\"agent\":1,\"result\":2}\n"
      "{\"t\":3600000,\"type\":\"hour\",\"hour\":1,\"events\":15,\"hash\":\"0000000000000031\","
      "\"lines_written\":7,\"produced\":2,\"acked\":2,\"spooled\":0,\"cloud_records\":2,"
      "\"requests\":4,\"lost_in\":0,\"lost_out\":0,\"refused\":0,\"ledger_checks\":6}\n"
      "{\"t\":3600001,\"type\":\"expect\",\"name\":\"exactly_once\",\"pass\":false}\n"
      "{\"t\":3600001,\"type\":\"end\",\"events\":15,\"hash\":\"0000000000abcdef\","
      "\"lines_written\":7,\"ledger_checks\":6}\n");
  free(got);

  /* the fleet's line differs between shards */
  write_file(p1, "{\"t\":0,\"type\":\"start\",\"agents\":3}\n"
                 "{\"t\":7,\"ev\":\"tick\",\"agent\":-1,\"result\":1}\n");
  assert_int_equal(sim_trace_merge(in, 2, out, &end, err, sizeof err), SIM_TRACE_EINVAL);
  assert_non_null(strstr(err, "line 2: the fleet's own line at 7 ms is not"));
  /* a shard's hour line carries its fleet's part: one run's does not */
  write_file(p1, "{\"t\":0,\"type\":\"start\",\"agents\":3}\n"
                 "{\"t\":7,\"ev\":\"tick\",\"agent\":-1,\"result\":0}\n"
                 "{\"t\":3600000,\"type\":\"hour\",\"hour\":1,\"events\":7,\"hash\":\"0000000000000020\"}\n");
  assert_int_equal(sim_trace_merge(in, 2, out, &end, err, sizeof err), SIM_TRACE_EINVAL);
  assert_non_null(strstr(err, "is it a shard's trace?"));
  /* cut short, and not a trace line at all */
  write_file(p1, "{\"t\":0,\"type\":\"start\",\"agents\":3}\n{\"t\":6,\"ev\":\"wr");
  assert_int_equal(sim_trace_merge(in, 2, out, &end, err, sizeof err), SIM_TRACE_EINVAL);
  assert_non_null(strstr(err, "/1 line 2: cut short"));
  write_file(p1, "{\"t\":0,\"type\":\"start\",\"agents\":3}\n{\"time\":6}\n");
  assert_int_equal(sim_trace_merge(in, 2, out, &end, err, sizeof err), SIM_TRACE_EINVAL);
  assert_non_null(strstr(err, "does not start with"));
  /* a failed merge leaves no output behind, nor its temporary file */
  unlink(out);
  assert_int_equal(sim_trace_merge(in, 2, out, &end, err, sizeof err), SIM_TRACE_EINVAL);
  assert_int_equal(access(out, F_OK), -1);
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  assert_int_equal(access(tmp, F_OK), -1);
  unlink(p0);
  unlink(p1);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(interleaving_does_not_matter),
      cmocka_unit_test(one_agents_order_and_content_matter),
      cmocka_unit_test(chains_fold_to_the_hash),
      cmocka_unit_test(digest_adds_over_shards),
      cmocka_unit_test(merge_of_two_shards),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
