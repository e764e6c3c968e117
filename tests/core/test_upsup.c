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

/* issue #17: the switch plans keep their order (probation before the links,
 * previous before current; the bad list before the link back). */
static void test_plans(void **state) {
  (void)state;
  upsup_step st[UPSUP_STEPS_MAX];
  assert_int_equal(upsup_plan_take("1.0.0", "1.1.0", st), 3);
  assert_int_equal(st[0].op, UPSUP_OP_SAVE_STATE);
  assert_int_equal(st[1].op, UPSUP_OP_LINK_PREVIOUS);
  assert_string_equal(st[1].version, "1.0.0");
  assert_int_equal(st[2].op, UPSUP_OP_LINK_CURRENT);
  assert_string_equal(st[2].version, "1.1.0");
  assert_int_equal(upsup_plan_rollback("1.0.0", st), 3);
  assert_int_equal(st[0].op, UPSUP_OP_SAVE_STATE);
  assert_int_equal(st[1].op, UPSUP_OP_LINK_CURRENT);
  assert_string_equal(st[1].version, "1.0.0");
  assert_int_equal(st[2].op, UPSUP_OP_UNLINK_PREVIOUS);
  assert_string_equal(upsup_op_name(UPSUP_OP_LINK_CURRENT), "link_current");
}

static void boot(const upstate *st, const char *cur, int cur_ok, const char *prev, int prev_ok,
                 upsup_boot_out *o) {
  upsup_boot_in in = {st, cur, cur_ok, prev, prev_ok, "1.0.0"};
  upsup_boot(&in, o);
}

/* issue #17: what a start makes of every state a cut switch can leave. */
static void test_boot(void **state) {
  (void)state;
  upstate st;
  upsup_boot_out o;
  upstate_init(&st);
  /* fresh install: the installed version is seeded */
  boot(&st, NULL, 0, NULL, 0, &o);
  assert_int_equal(o.action, UPSUP_BOOT_SWITCH);
  assert_true(o.seed_self);
  assert_string_equal(o.run, "1.0.0");
  assert_int_equal(o.n_steps, 1);
  assert_int_equal(o.steps[0].op, UPSUP_OP_LINK_CURRENT);
  /* a take cut after its probation: current runs (the probation is stale) */
  upsup_begin_probation(&st, NULL, "1.1.0", 0, &cfg);
  boot(&st, "1.0.0", 1, NULL, 0, &o);
  assert_int_equal(o.action, UPSUP_BOOT_RUN);
  assert_string_equal(o.run, "1.0.0");
  assert_null(o.report_kind);
  /* the take done: 1.1.0 on probation runs, 1.0.0 stays the target */
  boot(&st, "1.1.0", 1, "1.0.0", 1, &o);
  assert_int_equal(o.action, UPSUP_BOOT_RUN);
  assert_string_equal(o.run, "1.1.0");
  /* a rollback cut after its bad list: finished at boot, reported as one */
  upsup_mark_bad(&st, "1.1.0");
  boot(&st, "1.1.0", 1, "1.0.0", 1, &o);
  assert_int_equal(o.action, UPSUP_BOOT_SWITCH);
  assert_string_equal(o.run, "1.0.0");
  assert_int_equal(o.n_steps, 1);
  assert_int_equal(o.steps[0].op, UPSUP_OP_LINK_CURRENT);
  assert_string_equal(o.report_kind, "rollback");
  /* ... with no usable previous: the installed version */
  boot(&st, "1.1.0", 1, "1.1.0", 1, &o);
  assert_int_equal(o.action, UPSUP_BOOT_SWITCH);
  assert_true(o.seed_self);
  assert_string_equal(o.run, "1.0.0");
  /* below the floor: refused; previous at the floor taken; else nothing */
  upstate_init(&st);
  assert_int_equal(upstate_raise_floor(&st, "1.2.0"), 0);
  boot(&st, "1.0.5", 1, "1.2.0", 1, &o);
  assert_int_equal(o.action, UPSUP_BOOT_SWITCH);
  assert_string_equal(o.run, "1.2.0");
  assert_string_equal(o.report_kind, "refused");
  boot(&st, "1.0.5", 1, "1.1.0", 1, &o);
  assert_int_equal(o.action, UPSUP_BOOT_FAIL);
  /* unreadable state: the current binary is kept, nothing switched to */
  boot(NULL, "1.0.5", 1, "1.2.0", 1, &o);
  assert_int_equal(o.action, UPSUP_BOOT_RUN);
  assert_string_equal(o.run, "1.0.5");
  /* a newer installed binary is taken, the old current kept as previous */
  upstate_init(&st);
  upsup_boot_in in = {&st, "0.9.0", 1, NULL, 0, "1.0.0"};
  upsup_boot(&in, &o);
  assert_int_equal(o.action, UPSUP_BOOT_SWITCH);
  assert_int_equal(o.n_steps, 2);
  assert_int_equal(o.steps[0].op, UPSUP_OP_LINK_PREVIOUS);
  assert_string_equal(o.steps[0].version, "0.9.0");
}

/* issue #17: bin/ keeps current, previous, staged; everything not a bare
 * version is not the pruner's. */
static void test_bin_keep(void **st) {
  (void)st;
  assert_int_equal(upsup_bin_keep("1.1.0", "1.1.0", "1.0.0", ""), 1);
  assert_int_equal(upsup_bin_keep("1.0.0", "1.1.0", "1.0.0", NULL), 1);
  assert_int_equal(upsup_bin_keep("1.2.0", "1.1.0", "1.0.0", "1.2.0"), 1);
  assert_int_equal(upsup_bin_keep("0.9.0", "1.1.0", "1.0.0", "1.2.0"), 0);
  assert_int_equal(upsup_bin_keep("0.9.0", NULL, NULL, NULL), 0);
  assert_int_equal(upsup_bin_keep("current", "1.1.0", "1.0.0", ""), 1);
  assert_int_equal(upsup_bin_keep(".current.new", "1.1.0", "1.0.0", ""), 1);
  assert_int_equal(upsup_bin_keep("01.0.0", "1.1.0", "", ""), 1); /* not a version: not ours */
  assert_int_equal(upsup_bin_keep("..", "1.1.0", "", ""), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check_pending),
      cmocka_unit_test(test_crash_loop),
      cmocka_unit_test(test_starts),
      cmocka_unit_test(test_tick),
      cmocka_unit_test(test_plans),
      cmocka_unit_test(test_boot),
      cmocka_unit_test(test_bin_keep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
