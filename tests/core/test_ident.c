/* Identity on disk: fingerprint scoring, identity.json parsing, crash-safe
 * re-keying, and the state-dir guard (modes repaired, symlinks refused;
 * owners and planted files: test_perm.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/ident.h"
#include "core/perm.h"
#include "posix/os_posix.h"

typedef struct fx {
  os_posix px;
  os_shim os;
  char dir[64];
  char path[128];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  os_posix_options o;
  os_posix_options_init(&o);
  o.log_level = OS_LOG_ERROR;
  snprintf(f->dir, sizeof f->dir, "/tmp/outpost-ident-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->path, sizeof f->path, "%s/mid", f->dir);
  FILE *fp = fopen(f->path, "w");
  fputs("machine-one\n", fp);
  fclose(fp);
  o.machine_id_path = f->path;
  os_posix_init(&f->os, &f->px, &o);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  int rc = system(cmd);
  free(f);
  return rc == 0 ? 0 : -1;
}

static void set(ident_fp *p, const char *u, const char *m, const char *mid, const char *h) {
  memset(p, 0, sizeof *p);
  const char *v[4] = {u, m, mid, h};
  for (int i = 0; i < 4; i++)
    if (v[i]) snprintf(p->h[i], sizeof p->h[i], "%064d", v[i][0]);
}

static void fingerprint_scores(void **state) {
  (void)state;
  ident_fp a, b;
  set(&a, "u", "m", "i", "h");
  set(&b, "u", "m", "i", "h");
  assert_int_equal(ident_fp_score(&a, &b), 100);
  set(&b, "u", "m", "i", "H"); /* renamed host: same machine */
  assert_int_equal(ident_fp_score(&a, &b), 90);
  set(&b, "u", "M", "i", "h"); /* new NIC */
  assert_int_equal(ident_fp_score(&a, &b), 70);
  assert_true(ident_fp_score(&a, &b) >= IDENT_FP_SAME_MACHINE);
  set(&b, "U", "M", "i", "h"); /* disk copied to other hardware */
  assert_int_equal(ident_fp_score(&a, &b), 35);
  assert_true(ident_fp_score(&a, &b) < IDENT_FP_SAME_MACHINE);
  set(&b, NULL, NULL, "I", "h"); /* a container: only machine-id and hostname */
  set(&a, NULL, NULL, "i", "h");
  assert_true(ident_fp_score(&a, &b) < IDENT_FP_SAME_MACHINE);
  set(&b, NULL, NULL, NULL, NULL);
  assert_int_equal(ident_fp_score(&a, &b), 100); /* nothing to compare */
}

static void parse_identity_files(void **state) {
  (void)state;
  ident id;
  memset(&id, 0, sizeof id);
  const char *v1 = "{\"agent_id\":\"0123456789abcdef0123456789abcdef\",\"workspace\":\"w\","
                   "\"enrolled_ms\":1}";
  assert_int_equal(ident_parse(&id, v1, strlen(v1)), IDENT_OK);
  assert_string_equal(id.ratchet, "none");
  assert_false(id.have_fp);
  const char *bad[] = {
      "{\"agent_id\":\"0123456789abcdef0123456789abcdef\",\"workspace\":\"w\",\"enrolled_ms\":1,"
      "\"ratchet\":\"xyz\"}",
      "{\"agent_id\":\"0123456789abcdef0123456789abcdef\",\"workspace\":\"w\",\"enrolled_ms\":1,"
      "\"fp\":{\"product_uuid\":\"zz\"}}",
      "{\"agent_id\":\"0123456789ABCDEF0123456789abcdef\",\"workspace\":\"w\",\"enrolled_ms\":1}",
      /* found by fuzz_identity: a time no int64 holds (UB when cast) */
      "{\"agent_id\":\"0123456789abcdef0123456789abcdef\",\"workspace\":\"w\",\"enrolled_ms\":1.8e45}",
      "{\"agent_id\":\"0123456789abcdef0123456789abcdef\",\"workspace\":\"w\",\"enrolled_ms\":-5}",
      "{\"agent_id\":\"0123456789abcdef0123456789abcdef\",\"workspace\":\"w\",\"enrolled_ms\":1.5}",
      "[]", "", "{"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(ident_parse(&id, bad[i], strlen(bad[i])), IDENT_ECORRUPT);
}

/* A re-key interrupted before identity.json names the new key is discarded;
 * one interrupted after it is completed. */
static void rekey_is_crash_safe(void **state) {
  fx *f = *state;
  char sd[128], err[256], p[256];
  snprintf(sd, sizeof sd, "%s/state", f->dir);
  mkdir(sd, 0700);
  ident id, next;
  assert_int_equal(ident_load(&id, &f->os, sd, err, sizeof err), IDENT_OK);
  strcpy(id.agent_id, "0123456789abcdef0123456789abcdef");
  strcpy(id.workspace, "w");
  assert_int_equal(ident_save(&id, &f->os, sd, err, sizeof err), IDENT_OK);
  assert_true(id.have_fp);
  /* crash right after preparing: the old key and identity stay */
  assert_int_equal(ident_rekey_prepare(&next, &f->os, sd, err, sizeof err), IDENT_OK);
  ident again;
  assert_int_equal(ident_load(&again, &f->os, sd, err, sizeof err), IDENT_OK);
  assert_memory_equal(again.pub, id.pub, id.pub_len);
  snprintf(p, sizeof p, "%s/agent.key.new", sd);
  assert_int_not_equal(access(p, F_OK), 0);
  /* crash between identity.json and the rename: completed at load */
  assert_int_equal(ident_rekey_prepare(&next, &f->os, sd, err, sizeof err), IDENT_OK);
  strcpy(next.agent_id, "fedcba9876543210fedcba9876543210");
  strcpy(next.workspace, "w");
  strcpy(next.cloned_from, id.agent_id);
  assert_int_equal(ident_save(&next, &f->os, sd, err, sizeof err), IDENT_OK);
  assert_int_equal(ident_load(&again, &f->os, sd, err, sizeof err), IDENT_OK);
  assert_string_equal(again.agent_id, next.agent_id);
  assert_string_equal(again.cloned_from, id.agent_id);
  assert_memory_equal(again.pub, next.pub, next.pub_len);
  assert_int_not_equal(access(p, F_OK), 0);
  /* a key that is not the one identity.json names: refuse, never re-enroll silently */
  assert_int_equal(ident_rekey_prepare(&next, &f->os, sd, err, sizeof err), IDENT_OK);
  char kp[256];
  snprintf(kp, sizeof kp, "%s/agent.key", sd);
  assert_int_equal(rename(p, kp), 0);
  assert_int_equal(ident_load(&again, &f->os, sd, err, sizeof err), IDENT_ECORRUPT);
  assert_non_null(strstr(err, "names another key"));
}

static void guard_repairs_and_refuses_symlinks(void **state) {
  fx *f = *state;
  char sd[128], err[256], p[256];
  snprintf(sd, sizeof sd, "%s/state", f->dir);
  perm_drift d[PERM_MAX_DRIFT];
  int n = -1;
  assert_int_equal(perm_assert(&f->os, sd, d, &n, err, sizeof err), PERM_OK); /* absent: fine */
  assert_int_equal(n, 0);
  mkdir(sd, 0755);
  snprintf(p, sizeof p, "%s/agent.key", sd);
  FILE *fp = fopen(p, "w");
  fputs("k", fp);
  fclose(fp);
  chmod(p, 0644);
  assert_int_equal(perm_assert(&f->os, sd, d, &n, err, sizeof err), PERM_OK);
  assert_int_equal(n, 2);
  assert_string_equal(d[0].file, ".");
  assert_int_equal(d[0].was_mode, 0755);
  assert_int_equal(d[0].set_mode, 0700);
  assert_string_equal(d[1].file, "agent.key");
  assert_int_equal(d[1].was_mode, 0644);
  assert_true(d[1].repaired);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(stat(sd, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  /* second start: nothing to report */
  assert_int_equal(perm_assert(&f->os, sd, d, &n, err, sizeof err), PERM_OK);
  assert_int_equal(n, 0);
  /* a symlink where identity.json belongs: refused */
  char ip[256];
  snprintf(ip, sizeof ip, "%s/identity.json", sd);
  assert_int_equal(symlink("/etc/passwd", ip), 0);
  assert_int_equal(perm_assert(&f->os, sd, d, &n, err, sizeof err), PERM_ESYMLINK);
  assert_non_null(strstr(err, "identity.json is a symlink"));
  unlink(ip);
  /* the state dir itself a symlink: refused */
  char link[128];
  snprintf(link, sizeof link, "%s/linked", f->dir);
  assert_int_equal(symlink(sd, link), 0);
  assert_int_equal(perm_assert(&f->os, link, d, &n, err, sizeof err), PERM_ESYMLINK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fingerprint_scores),
      cmocka_unit_test(parse_identity_files),
      cmocka_unit_test_setup_teardown(rekey_is_crash_safe, setup, teardown),
      cmocka_unit_test_setup_teardown(guard_repairs_and_refuses_symlinks, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
