/* The readers of the cloud's replies (core/reply.h): what each accepts, and
 * the inputs fuzzing showed must be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/reply.h"

#define B(s) (const uint8_t *)(s), strlen(s)
#define HEX32 "0123456789abcdef0123456789abcdef"

static void test_http_date(void **state) {
  (void)state;
  assert_int_equal(reply_http_date("Sat, 29 Nov 2025 00:00:00 GMT"), 1764374400000LL);
  assert_int_equal(reply_http_date("Thu, 01 Jan 1970 00:00:01 GMT"), 1000);
  /* Every month boundary the March-based arithmetic could get wrong. */
  assert_int_equal(reply_http_date("Thu, 29 Feb 2024 12:34:56 GMT"), 1709210096000LL);
  assert_int_equal(reply_http_date("Thu, 15 Jan 2026 00:00:00 GMT"), 1768435200000LL);
  assert_int_equal(reply_http_date("Sun, 01 Mar 2026 00:00:00 GMT"), 1772323200000LL);
  assert_int_equal(reply_http_date("Wed, 31 Dec 2025 23:59:59 GMT"), 1767225599000LL);
  assert_int_equal(reply_http_date(NULL), 0);
  assert_int_equal(reply_http_date("Sat, 29 Nov 2025 00:00:00 UTC"), 0);
  assert_int_equal(reply_http_date("Sat, 29 Xyz 2025 00:00:00 GMT"), 0);
  assert_int_equal(reply_http_date("Sat, 29 Nov 2025 24:00:00 GMT"), 0);
  assert_int_equal(reply_http_date("Sat, 29 Nov 2025 00:00:00 GMTX"), 0);
}

static void test_retry_after(void **state) {
  (void)state;
  assert_int_equal(reply_retry_after_ms("7"), 7000);
  assert_int_equal(reply_retry_after_ms("999999999999"), REPLY_MAX_RETRY_AFTER_MS);
  assert_int_equal(reply_retry_after_ms("Sat, 29 Nov 2025 00:00:00 GMT"), 0);
  assert_int_equal(reply_retry_after_ms(""), 0);
  assert_int_equal(reply_retry_after_ms(NULL), 0);
}

static void test_errors(void **state) {
  (void)state;
  char out[64];
  assert_true(reply_code_is(B("{\"error\":\"revoked\"}"), "revoked"));
  assert_false(reply_code_is(B("{\"error\":\"revoked2\"}"), "revoked"));
  assert_false(reply_code_is(B("{\"error\":7}"), "revoked"));
  assert_false(reply_code_is(NULL, 0, "revoked"));
  reply_describe(0, "", 401, B("{\"error\":\"x\",\"message\":\"y\"}"), out, sizeof out);
  assert_string_equal(out, "HTTP 401 x: y");
  reply_describe(-13, "slow", 0, NULL, 0, out, sizeof out);
  assert_string_equal(out, "transport error -13: slow");
  reply_describe(0, "", 500, B("not json"), out, 8);
  assert_string_equal(out, "HTTP 50");
  assert_int_equal(reply_probation_wait_ms(B("{\"retry_after_s\":5}")), 5000);
  assert_int_equal(reply_probation_wait_ms(B("{\"retry_after_s\":1e300}")),
                   REPLY_PROBATION_DEFAULT_MS);
  assert_int_equal(reply_probation_wait_ms(B("{\"retry_after_s\":-1}")),
                   REPLY_PROBATION_DEFAULT_MS);
}

static void test_enroll(void **state) {
  (void)state;
  reply_enroll e;
  assert_int_equal(reply_parse_enroll(B("{\"agent_id\":\"" HEX32 "\",\"workspace\":\"ws\"}"), &e),
                   REPLY_OK);
  assert_string_equal(e.agent_id, HEX32);
  assert_string_equal(e.workspace, "ws");
  /* 32 characters but not hex: ident.json would refuse it at the next start. */
  assert_int_equal(reply_parse_enroll(B("{\"agent_id\":\"0123456789ABCDEF0123456789abcdeZ\","
                                        "\"workspace\":\"ws\"}"),
                                      &e),
                   REPLY_EBAD);
  assert_int_equal(reply_parse_enroll(B("{\"agent_id\":\"" HEX32 "\"}"), &e), REPLY_EBAD);
  char big[400];
  snprintf(big, sizeof big, "{\"agent_id\":\"%s\",\"workspace\":\"%0*d\"}", HEX32,
           REPLY_WORKSPACE_MAX, 0);
  assert_int_equal(reply_parse_enroll(B(big), &e), REPLY_EBAD);
  assert_int_equal(reply_parse_enroll(B("[]"), &e), REPLY_EBAD);
}

static void test_challenge_checkin(void **state) {
  (void)state;
  char ch[REPLY_CHALLENGE_MAX], next[33];
  assert_int_equal(reply_parse_challenge(B("{\"challenge\":\"abc\"}"), ch), REPLY_OK);
  assert_string_equal(ch, "abc");
  assert_int_equal(reply_parse_challenge(B("{\"challenge\":\"\"}"), ch), REPLY_EBAD);
  assert_int_equal(reply_parse_challenge(B("{}"), ch), REPLY_EBAD);
  assert_int_equal(reply_parse_checkin(B("{\"ratchet_next\":\"" HEX32 "\"}"), next), REPLY_OK);
  assert_string_equal(next, HEX32);
  assert_int_equal(reply_parse_checkin(B("{\"ratchet_next\":\"abc\"}"), next), REPLY_EBAD);
}

static void test_session(void **state) {
  (void)state;
  reply_session s;
  /* 32 zero bytes in base64 */
  const char *key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  char body[256];
  snprintf(body, sizeof body, "{\"session_id\":\"s1\",\"session_key\":\"%s\",\"expires_in_s\":60}",
           key);
  assert_int_equal(reply_parse_session(B(body), &s), REPLY_OK);
  assert_string_equal(s.session_id, "s1");
  assert_int_equal(s.ttl_s, 60);
  snprintf(body, sizeof body, "{\"session_id\":\"s1\",\"session_key\":\"%s\",\"expires_in_s\":0}",
           key);
  assert_int_equal(reply_parse_session(B(body), &s), REPLY_EBAD);
  assert_int_equal(reply_parse_session(B("{\"session_id\":\"s1\",\"session_key\":\"AAAA\","
                                         "\"expires_in_s\":60}"),
                                       &s),
                   REPLY_EBAD);
}

static void test_ingest(void **state) {
  (void)state;
  reply_ingest r;
  assert_int_equal(reply_parse_ingest(B("{\"acked_through\":42,\"policy_version\":3}"), &r),
                   REPLY_OK);
  assert_int_equal(r.acked_through, 42);
  assert_true(r.has_policy_version);
  assert_int_equal(r.policy_version, 3);
  assert_int_equal(reply_parse_ingest(B("{\"acked_through\":42}"), &r), REPLY_OK);
  assert_false(r.has_policy_version);
  /* Converting 1e300 to int64 is undefined behaviour: refused. */
  assert_int_equal(reply_parse_ingest(B("{\"acked_through\":1e300}"), &r), REPLY_EBAD);
  assert_int_equal(reply_parse_ingest(B("{\"acked_through\":42,\"policy_version\":-1e300}"), &r),
                   REPLY_OK);
  assert_false(r.has_policy_version);
  assert_int_equal(reply_parse_ingest(B("{\"acked_through\":4.5}"), &r), REPLY_EBAD);
  assert_int_equal(reply_parse_ingest(B("{\"acked_through\":\"42\"}"), &r), REPLY_EBAD);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_http_date), cmocka_unit_test(test_retry_after),
      cmocka_unit_test(test_errors),    cmocka_unit_test(test_enroll),
      cmocka_unit_test(test_challenge_checkin), cmocka_unit_test(test_session),
      cmocka_unit_test(test_ingest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
