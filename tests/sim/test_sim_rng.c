#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_rng.h"

static void same_seed_same_stream(void **state) {
  sim_rng a, b;
  sim_rng_seed(&a, 42, 7);
  sim_rng_seed(&b, 42, 7);
  for (int i = 0; i < 1000; i++) assert_int_equal(sim_rng_u64(&a), sim_rng_u64(&b));
}

static void streams_and_seeds_differ(void **state) {
  sim_rng a, b, c;
  sim_rng_seed(&a, 42, 7);
  sim_rng_seed(&b, 42, 8);
  sim_rng_seed(&c, 43, 7);
  int same_ab = 0, same_ac = 0;
  for (int i = 0; i < 100; i++) {
    uint64_t x = sim_rng_u64(&a), y = sim_rng_u64(&b), z = sim_rng_u64(&c);
    same_ab += x == y;
    same_ac += x == z;
  }
  assert_true(same_ab < 2);
  assert_true(same_ac < 2);
}

/* A known answer pins the algorithm: a silent change would break replays of
 * recorded seeds. */
static void known_answer(void **state) {
  sim_rng a;
  sim_rng_seed(&a, 1, 0);
  uint64_t first = sim_rng_u64(&a);
  sim_rng b;
  sim_rng_seed(&b, 1, 0);
  assert_int_equal(first, sim_rng_u64(&b));
  assert_int_not_equal(first, 0);
  /* xoshiro256** reference: state {1,2,3,4} gives 11520 first */
  sim_rng r = {{1, 2, 3, 4}};
  assert_int_equal(sim_rng_u64(&r), 11520);
  assert_int_equal(sim_rng_u64(&r), 0);
  assert_int_equal(sim_rng_u64(&r), 1509978240);
}

static void range_bounds_and_coverage(void **state) {
  sim_rng r;
  sim_rng_seed(&r, 9, 1);
  int seen[11] = {0};
  for (int i = 0; i < 10000; i++) {
    int64_t v = sim_rng_range(&r, -5, 5);
    assert_true(v >= -5 && v <= 5);
    seen[v + 5]++;
  }
  for (int i = 0; i < 11; i++) assert_true(seen[i] > 700); /* ~909 expected */
  assert_int_equal(sim_rng_range(&r, 3, 3), 3);
  assert_int_equal(sim_rng_range(&r, 5, 1), 5);
  for (int i = 0; i < 1000; i++) {
    double d = sim_rng_double(&r);
    assert_true(d >= 0.0 && d < 1.0);
  }
}

static void bernoulli_rate(void **state) {
  sim_rng r;
  sim_rng_seed(&r, 5, 2);
  int hits = 0;
  for (int i = 0; i < 100000; i++) hits += sim_rng_bernoulli(&r, 0.1);
  assert_true(hits > 9000 && hits < 11000);
  for (int i = 0; i < 100; i++) {
    assert_int_equal(sim_rng_bernoulli(&r, 0.0), 0);
    assert_int_equal(sim_rng_bernoulli(&r, 1.0), 1);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(same_seed_same_stream), cmocka_unit_test(streams_and_seeds_differ),
      cmocka_unit_test(known_answer), cmocka_unit_test(range_bounds_and_coverage),
      cmocka_unit_test(bernoulli_rate)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
