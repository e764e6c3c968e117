#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_fleet.h"

/* args: produced, spooled, first, shed, cloud count, min, max, cloud count
 * below first, lines written */
static void balanced_states(void **state) {
  assert_null(sim_ledger_verdict(0, 0, 0, 0, 0, 0, 0, 0, 0));
  assert_null(sim_ledger_verdict(10, 10, 1, 0, 0, 0, 0, 0, 12));  /* nothing shipped */
  assert_null(sim_ledger_verdict(10, 4, 7, 0, 6, 1, 6, 6, 10));   /* 1..6 acked, 7..10 spooled */
  assert_null(sim_ledger_verdict(10, 4, 7, 0, 8, 1, 8, 6, 10));   /* 7..8 stored, ack lost */
  assert_null(sim_ledger_verdict(10, 4, 7, 0, 8, 1, 10, 6, 10));  /* 9..10 stored before 7..8 */
  assert_null(sim_ledger_verdict(10, 10, 1, 0, 3, 8, 10, 0, 10)); /* only a later batch so far */
  assert_null(sim_ledger_verdict(10, 0, 0, 0, 10, 1, 10, 10, 10)); /* all delivered */
  assert_null(sim_ledger_verdict(10, 2, 9, 3, 5, 1, 5, 5, 10));   /* 6..8 shed (issue #3) */
}

static void violations(void **state) {
  assert_non_null(sim_ledger_verdict(10, 4, 7, 0, 5, 2, 6, 5, 10));   /* gap at 1 */
  assert_non_null(sim_ledger_verdict(10, 4, 7, 0, 5, 1, 6, 5, 10));   /* gap inside */
  assert_non_null(sim_ledger_verdict(10, 3, 8, 0, 6, 1, 6, 6, 10));   /* record 7 lost */
  assert_non_null(sim_ledger_verdict(10, 4, 7, 0, 7, 1, 10, 5, 10));  /* 6 lost, 8..10 stored */
  assert_non_null(sim_ledger_verdict(10, 0, 0, 0, 9, 1, 9, 9, 10));   /* one never arrived */
  assert_non_null(sim_ledger_verdict(11, 0, 0, 0, 11, 1, 11, 11, 10)); /* more than written */
  assert_non_null(sim_ledger_verdict(10, 4, 8, 0, 7, 1, 7, 7, 10));   /* spool not [first, produced] */
  assert_non_null(sim_ledger_verdict(10, 4, 7, 0, 7, 1, 11, 6, 12));  /* 11 never produced */
  assert_non_null(sim_ledger_verdict(10, 2, 9, 2, 5, 1, 5, 5, 10));   /* 6..8: two shed, one lost */
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(balanced_states),
                                     cmocka_unit_test(violations)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
