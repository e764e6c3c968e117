#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_queue.h"
#include "sim_rng.h"

static void orders_by_time(void **state) {
  sim_queue *q;
  assert_int_equal(sim_queue_create(10000, &q), SIM_QUEUE_OK);
  sim_rng r;
  sim_rng_seed(&r, 1, 1);
  for (int i = 0; i < 5000; i++) {
    sim_event ev = {.time_ms = sim_rng_range(&r, 0, 1000), .type = 1, .agent = i, .arg = 0};
    assert_int_equal(sim_queue_push(q, &ev), SIM_QUEUE_OK);
  }
  assert_int_equal(sim_queue_size(q), 5000);
  sim_event prev = {.time_ms = -1}, e;
  for (int i = 0; i < 5000; i++) {
    assert_int_equal(sim_queue_pop(q, &e), SIM_QUEUE_OK);
    assert_true(e.time_ms > prev.time_ms || (e.time_ms == prev.time_ms && e.order > prev.order));
    prev = e;
  }
  assert_int_equal(sim_queue_pop(q, &e), SIM_QUEUE_EEMPTY);
  sim_queue_free(q);
}

static void ties_fire_in_insertion_order(void **state) {
  sim_queue *q;
  assert_int_equal(sim_queue_create(100, &q), SIM_QUEUE_OK);
  for (int i = 0; i < 50; i++) {
    sim_event ev = {.time_ms = (i % 2) ? 10 : 20, .agent = i};
    assert_int_equal(sim_queue_push(q, &ev), SIM_QUEUE_OK);
  }
  sim_event e;
  for (int i = 1; i < 50; i += 2) {
    assert_int_equal(sim_queue_pop(q, &e), SIM_QUEUE_OK);
    assert_int_equal(e.time_ms, 10);
    assert_int_equal(e.agent, i);
  }
  for (int i = 0; i < 50; i += 2) {
    assert_int_equal(sim_queue_pop(q, &e), SIM_QUEUE_OK);
    assert_int_equal(e.time_ms, 20);
    assert_int_equal(e.agent, i);
  }
  sim_queue_free(q);
}

static void bounded_capacity(void **state) {
  sim_queue *q;
  assert_int_equal(sim_queue_create(3, &q), SIM_QUEUE_OK);
  sim_event ev = {.time_ms = 5};
  for (int i = 0; i < 3; i++) assert_int_equal(sim_queue_push(q, &ev), SIM_QUEUE_OK);
  ev.time_ms = 1;
  assert_int_equal(sim_queue_push(q, &ev), SIM_QUEUE_EFULL);
  assert_int_equal(sim_queue_size(q), 3);
  sim_event e;
  assert_int_equal(sim_queue_peek(q, &e), SIM_QUEUE_OK);
  assert_int_equal(e.time_ms, 5); /* the rejected event did not get in */
  sim_queue_free(q);
  assert_int_equal(sim_queue_create(0, &q), SIM_QUEUE_EINVAL);
  assert_null(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(orders_by_time),
                                     cmocka_unit_test(ties_fire_in_insertion_order),
                                     cmocka_unit_test(bounded_capacity)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
