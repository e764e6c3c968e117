/* Tests for upsup: the supervisor's probation decisions, pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/upsup.h"

static const upsup_cfg cfg = {600000, 3, 300000};

static void test_check_pending(void **state) {
  (void)state;
  upstate st;
  upstate_init(&st);
  assert_null(upsup_check_pending(&st, "1.0.0", "1.1.0", 1));
  assert_string_equal(upsup_check_pending(&st, "1.0.0", "1.1.0", 0),
                      "no release key compiled in: updates refused");
  assert_string_equal(upsup_check_pending(&st, "1.1.0", "1.1.0", 1), "already the current version");
  assert_int_equal(upstate_add_bad(&st, "1.2.0"), 0);
  assert_string_equal(upsup_check_pending(&st, "1.0.0", "1.2.0", 1), "version is on the bad list");
  assert_int_equal(upstate_raise_floor(&st, "1.1.0"), 0);
  assert_string_equal(upsup_check_pending(&st, "1.1.0", "1.0.5", 1), "version is not above the floor");
  assert_string_equal(upsup_check_pending(&st, "1.1.0", "1.1.0", 1), "already the current version");
  assert_null(upsup_check_pending(&st, "1.1.0", "1.3.0", 1));
}

/* Crash loop: crash_loop_max exits within the window roll back; spread-out
 * exits do not; exits of a version not on probation never do. */
static void test_crash_loop(void **state) {
  (void)state;
  upstate st;
  upsup_exits ex;
  char why[UPSUP_WHY_MAX] = "";
  upstate_init(&st);
  memset(&ex, 0, sizeof ex);
  /* not on probation: never a rollback */
  for (int i = 0; i < 10; i++)
    assert_int_equal(upsup_on_exit(&ex, &st, "1.0.0", 1000 + i, &cfg, why, sizeof why), UPSUP_NONE);
  upsup_begin_probation(&st, &ex, "1.1.0", 5000, &cfg);
  assert_int_equal(ex.n, 0);
  assert_int_equal(st.probation.deadline_ms, 605000);
  assert_int_equal(upsup_on_exit(&ex, &st, "1.1.0", 1000, &cfg, why, sizeof why), UPSUP_NONE);
  assert_int_equal(upsup_on_exit(&ex, &st, "1.1.0", 400000, &cfg, why, sizeof why), UPSUP_NONE);
  assert_int_equal(upsup_on_exit(&ex, &st, "1.1.0", 800000, &cfg, why, sizeof why), UPSUP_NONE);
  assert_int_equal(upsup_on_exit(&ex, &st, "1.1.0", 800500, &cfg, why, sizeof why), UPSUP_NONE);
  assert_int_equal(upsup_on_exit(&ex, &st, "1.1.0", 801000, &cfg, why, sizeof why), UPSUP_ROLLBACK);
  assert_string_equal(why, "crash loop: 3 exits within 300 s");
  assert_true(ex.n <= cfg.crash_loop_max);
  upsup_mark_bad(&st, "1.1.0");
  assert_false(st.on_probation);
  assert_true(upstate_is_bad(&st, "1.1.0"));
  assert_string_equal(st.floor, "");
  /* NULL state (unreadable): counted, no rollback */
  assert_int_equal(upsup_on_exit(&ex, NULL, "1.1.0", 801001, &cfg, why, sizeof why), UPSUP_NONE);
}

/* Starts on probation are counted across supervisor restarts (in state). */
static void test_starts(void **state) {
  (void)state;
  upstate st;
  char why[UPSUP_WHY_MAX] = "";
  upstate_init(&st);
  assert_int_equal(upsup_on_start(&st, "1.1.0", &cfg, why, sizeof why), UPSUP_NONE);
  assert_int_equal(st.probation.starts, 0); /* not on probation: not counted */
  upsup_begin_probation(&st, NULL, "1.1.0", 0, &cfg);
  for (int i = 1; i <= 3; i++) {
    assert_int_equal(upsup_on_start(&st, "1.1.0", &cfg, why, sizeof why), UPSUP_NONE);
    assert_int_equal(st.probation.starts, i);
  }
  assert_int_equal(upsup_on_start(&st, "1.1.0", &cfg, why, sizeof why), UPSUP_ROLLBACK);
  assert_string_equal(why, "crash loop: too many starts on probation");
  /* another version's start does not count toward this probation */
  upsup_begin_probation(&st, NULL, "1.2.0", 0, &cfg);
  assert_int_equal(upsup_on_start(&st, "1.1.0", &cfg, why, sizeof why), UPSUP_NONE);
  assert_int_equal(st.probation.starts, 0);
}

static void test_tick(void **state) {
  (void)state;
  upstate st;
  char why[UPSUP_WHY_MAX] = "";
  upstate_init(&st);
  upstate_health h = {"1.1.0", 9999};
  assert_int_equal(upsup_on_tick(&st, "1.1.0", &h, 0, why, sizeof why), UPSUP_NONE);
  upsup_begin_probation(&st, NULL, "1.1.0", 10000, &cfg);
  /* stale health (written before the probation) and another version's: no pass */
  assert_int_equal(upsup_on_tick(&st, "1.1.0", &h, 20000, why, sizeof why), UPSUP_NONE);
  upstate_health other = {"1.0.0", 20000};
  assert_int_equal(upsup_on_tick(&st, "1.1.0", &other, 20000, why, sizeof why), UPSUP_NONE);
  assert_int_equal(upsup_on_tick(&st, "1.1.0", NULL, 609999, why, sizeof why), UPSUP_NONE);
  upstate saved = st;
  assert_int_equal(upsup_on_tick(&st, "1.1.0", NULL, 610000, why, sizeof why), UPSUP_ROLLBACK);
  assert_string_equal(why, "no health report before the probation deadline");
  st = saved;
  h.at_ms = 10000;
  assert_int_equal(upsup_on_tick(&st, "1.1.0", &h, 20000, why, sizeof why), UPSUP_PASS);
  assert_false(st.on_probation);
  assert_string_equal(st.floor, "1.1.0");
  assert_int_equal(upsup_on_tick(&st, "1.1.0", NULL, 999999999, why, sizeof why), UPSUP_NONE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check_pending),
      cmocka_unit_test(test_crash_loop),
      cmocka_unit_test(test_starts),
      cmocka_unit_test(test_tick),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
