/* Tests for agent/core/upstate.c: strict parsing, round trips, bounds, and
 * the files under state_dir/update through the real os shim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/upstate.h"
#include "posix/os_posix.h"

typedef struct fx {
  char dir[64];
  os_posix px;
  os_shim os;
  char err[256];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/upstate-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(os_posix_init(&f->os, &f->px, NULL), OS_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

static int parse(fx *f, const char *text, upstate *st) {
  return upstate_parse(text, strlen(text), st, f->err, sizeof f->err);
}

static void test_parse_valid(void **state) {
  fx *f = *state;
  upstate st;
  assert_int_equal(parse(f, "{\"floor\":\"\",\"bad\":[],\"probation\":null}", &st), OS_OK);
  assert_string_equal(st.floor, "");
  assert_int_equal(st.on_probation, 0);
  assert_int_equal(parse(f,
                         "{\"floor\":\"1.2.3\",\"bad\":[\"1.3.0\",\"2.0.0\"],\"probation\":"
                         "{\"version\":\"1.4.0\",\"since\":1000,\"deadline\":61000,\"starts\":2}}",
                         &st),
                   OS_OK);
  assert_string_equal(st.floor, "1.2.3");
  assert_int_equal(st.n_bad, 2);
  assert_true(upstate_is_bad(&st, "2.0.0"));
  assert_false(upstate_is_bad(&st, "1.4.0"));
  assert_int_equal(st.on_probation, 1);
  assert_string_equal(st.probation.version, "1.4.0");
  assert_int_equal(st.probation.deadline_ms, 61000);
  assert_int_equal(st.probation.starts, 2);
  /* Round trip. */
  char buf[UPSTATE_FILE_MAX];
  upstate again;
  int n = upstate_render(&st, buf, sizeof buf);
  assert_true(n > 0);
  assert_int_equal(upstate_parse(buf, (size_t)n, &again, f->err, sizeof f->err), OS_OK);
  assert_memory_equal(&again, &st, sizeof st);
}

static void test_parse_strict(void **state) {
  fx *f = *state;
  static const struct {
    const char *text, *names;
  } cases[] = {
      {"", "not valid JSON"},
      {"[]", "top level"},
      {"{\"floor\":\"\",\"bad\":[],\"probation\":null,\"x\":1}", "x: unknown key"},
      {"{\"floor\":\"\",\"floor\":\"\",\"bad\":[],\"probation\":null}", "floor: duplicate"},
      {"{\"bad\":[],\"probation\":null}", "floor: missing"},
      {"{\"floor\":\"01.2.3\",\"bad\":[],\"probation\":null}", "floor: must be a version"},
      {"{\"floor\":1,\"bad\":[],\"probation\":null}", "floor: must be a string"},
      {"{\"floor\":\"\",\"probation\":null}", "bad: missing"},
      {"{\"floor\":\"\",\"bad\":[\"1.0\"],\"probation\":null}", "bad[0]"},
      {"{\"floor\":\"\",\"bad\":[\"1.0.0\",\"1.0.0\"],\"probation\":null}", "bad[1]: duplicate"},
      {"{\"floor\":\"\",\"bad\":[]}", "probation: missing"},
      {"{\"floor\":\"\",\"bad\":[],\"probation\":{\"version\":\"1.0.0\",\"since\":1,"
       "\"deadline\":-5,\"starts\":0}}",
       "probation.deadline"},
      {"{\"floor\":\"\",\"bad\":[],\"probation\":{\"version\":\"1.0.0\",\"since\":1,"
       "\"deadline\":5}}",
       "probation.starts: missing"},
      {"{\"floor\":\"\",\"bad\":[],\"probation\":{\"version\":\"1.0.0\",\"since\":1.5,"
       "\"deadline\":5,\"starts\":0}}",
       "probation.since"},
      {"{\"floor\":\"\",\"bad\":[],\"probation\":{\"version\":\"x\",\"since\":1,"
       "\"deadline\":5,\"starts\":0}}",
       "probation.version"},
      {"{\"floor\":\"\",\"bad\":[],\"probation\":{\"version\":\"1.0.0\",\"since\":1,"
       "\"deadline\":5,\"starts\":0,\"more\":1}}",
       "probation.more: unknown key"},
      {"{\"floor\":\"\",\"bad\":[],\"probation\":null} x", "bytes after"},
  };
  upstate st;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    f->err[0] = 0;
    int rc = parse(f, cases[i].text, &st);
    if (rc != UPSTATE_EPARSE || !strstr(f->err, cases[i].names) || !strstr(f->err, "state.json"))
      fail_msg("case %zu: rc %d err '%s'", i, rc, f->err);
  }
  /* Too many bad versions. */
  char big[4096];
  size_t n = (size_t)snprintf(big, sizeof big, "{\"floor\":\"\",\"probation\":null,\"bad\":[");
  for (int i = 0; i <= UPSTATE_MAX_BAD; i++)
    n += (size_t)snprintf(big + n, sizeof big - n, "%s\"1.0.%d\"", i ? "," : "", i);
  snprintf(big + n, sizeof big - n, "]}");
  assert_int_equal(parse(f, big, &st), UPSTATE_EPARSE);
  assert_non_null(strstr(f->err, "bad: at most"));
}

static void test_bad_floor_bounds(void **state) {
  upstate st;
  char v[24];
  upstate_init(&st);
  assert_int_equal(upstate_add_bad(&st, "1.0"), UPSTATE_EINVAL);
  for (int i = 0; i < UPSTATE_MAX_BAD + 5; i++) {
    snprintf(v, sizeof v, "2.%d.0", i + 1);
    assert_int_equal(upstate_add_bad(&st, v), OS_OK);
    assert_true(st.n_bad <= UPSTATE_MAX_BAD);
  }
  assert_int_equal(st.n_bad, UPSTATE_MAX_BAD);
  /* The lowest were dropped, the newest kept. */
  assert_false(upstate_is_bad(&st, "2.1.0"));
  assert_true(upstate_is_bad(&st, "2.37.0"));
  assert_int_equal(upstate_add_bad(&st, "2.37.0"), OS_OK);
  assert_int_equal(st.n_bad, UPSTATE_MAX_BAD);

  assert_int_equal(upstate_raise_floor(&st, "1.10.0"), OS_OK);
  assert_string_equal(st.floor, "1.10.0");
  assert_int_equal(upstate_raise_floor(&st, "1.9.9"), OS_OK);
  assert_string_equal(st.floor, "1.10.0");
  assert_int_equal(upstate_raise_floor(&st, "1.10.1"), OS_OK);
  assert_string_equal(st.floor, "1.10.1");
  assert_int_equal(upstate_raise_floor(&st, "bogus"), UPSTATE_EINVAL);
}

static void test_files(void **state) {
  fx *f = *state;
  upstate st, got;
  /* Missing state.json is the empty state. */
  assert_int_equal(upstate_load(&f->os, f->dir, &got, f->err, sizeof f->err), OS_OK);
  assert_int_equal(got.n_bad, 0);
  upstate_init(&st);
  assert_int_equal(upstate_raise_floor(&st, "1.0.0"), OS_OK);
  assert_int_equal(upstate_add_bad(&st, "1.1.0"), OS_OK);
  st.on_probation = 1;
  strcpy(st.probation.version, "1.2.0");
  st.probation.since_ms = 5;
  st.probation.deadline_ms = 600005;
  assert_int_equal(upstate_save(&f->os, f->dir, &st), OS_OK);
  assert_int_equal(upstate_load(&f->os, f->dir, &got, f->err, sizeof f->err), OS_OK);
  assert_memory_equal(&got, &st, sizeof st);
  char path[256];
  snprintf(path, sizeof path, "%s/update/state.json.tmp", f->dir);
  assert_int_not_equal(access(path, F_OK), 0); /* renamed, not left behind */

  /* The agent-side hook: probation for 1.2.0 -> health.json once. */
  assert_int_equal(upstate_probation_for(&f->os, f->dir, "1.2.0"), 1);
  assert_int_equal(upstate_report_healthy(&f->os, f->dir, "1.1.9", 77), 0);
  upstate_health h;
  assert_int_equal(upstate_load_health(&f->os, f->dir, &h, f->err, sizeof f->err), OS_ENOENT);
  assert_int_equal(upstate_report_healthy(&f->os, f->dir, "1.2.0", 77), 1);
  assert_int_equal(upstate_load_health(&f->os, f->dir, &h, f->err, sizeof f->err), OS_OK);
  assert_string_equal(h.version, "1.2.0");
  assert_int_equal(h.at_ms, 77);
  assert_int_equal(upstate_report_healthy(&f->os, f->dir, "1.2.0", 78), 0);

  /* pending.json */
  upstate_pending p, q;
  memset(&p, 0, sizeof p);
  strcpy(p.version, "1.2.0");
  memset(p.sha256, 'a', 64);
  p.length = 12345;
  assert_int_equal(upstate_save_pending(&f->os, f->dir, &p), OS_OK);
  assert_int_equal(upstate_load_pending(&f->os, f->dir, &q, f->err, sizeof f->err), OS_OK);
  assert_memory_equal(&p, &q, sizeof p);
  assert_int_equal(upstate_clear_pending(&f->os, f->dir), OS_OK);
  assert_int_equal(upstate_load_pending(&f->os, f->dir, &q, f->err, sizeof f->err), OS_ENOENT);
  assert_int_equal(upstate_clear_pending(&f->os, f->dir), OS_OK);
  static const char bad_pending[] = "{\"version\":\"1.2.0\",\"sha256\":\"AB\",\"length\":1}";
  assert_int_equal(upstate_parse_pending(bad_pending, strlen(bad_pending), &q, f->err, sizeof f->err),
                   UPSTATE_EPARSE);
  assert_non_null(strstr(f->err, "pending.json: sha256"));

  /* report.json: bounded, oldest dropped. */
  upstate_report r, all[UPSTATE_MAX_REPORTS];
  int n = 0;
  memset(&r, 0, sizeof r);
  strcpy(r.kind, "rollback");
  strcpy(r.reason, "crash loop: 3 exits in 300 s");
  for (int i = 0; i < UPSTATE_MAX_REPORTS + 3; i++) {
    snprintf(r.version, sizeof r.version, "3.0.%d", i);
    r.at_ms = i;
    assert_int_equal(upstate_add_report(&f->os, f->dir, &r), OS_OK);
  }
  assert_int_equal(upstate_load_reports(&f->os, f->dir, all, UPSTATE_MAX_REPORTS, &n, f->err,
                                        sizeof f->err),
                   OS_OK);
  assert_int_equal(n, UPSTATE_MAX_REPORTS);
  assert_string_equal(all[0].version, "3.0.3");
  assert_string_equal(all[n - 1].version, "3.0.18");
  assert_string_equal(all[n - 1].reason, "crash loop: 3 exits in 300 s");
  strcpy(r.kind, "Bad Kind");
  assert_int_equal(upstate_add_report(&f->os, f->dir, &r), UPSTATE_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_parse_valid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parse_strict, setup, teardown),
      cmocka_unit_test(test_bad_floor_bounds),
      cmocka_unit_test_setup_teardown(test_files, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
