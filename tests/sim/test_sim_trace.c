/* sim_trace's hash (issue #15): per-agent chains folded in agent order, so
 * the interleaving of different agents' events does not change it, while
 * any change in one agent's events, or their order, does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(interleaving_does_not_matter),
      cmocka_unit_test(one_agents_order_and_content_matter),
      cmocka_unit_test(chains_fold_to_the_hash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
