/* core/guard.c over the real Linux shim on a real filesystem (issue #13):
 * every swap an attacker with write access to a log directory can make, both
 * before the check and between two shim calls (a wrapping shim swaps right
 * after guard_open's lstat), with openat2 and with the O_NOFOLLOW walk. Each
 * case fails when its defence is removed: see docs/policy.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/guard.h"
#include "posix/os_posix.h"

typedef struct fixture {
  char dir[64];
  char secret[128]; /* a file on the deny list: <dir>/vault/db.key */
  os_posix px;
  os_shim real;
  os_shim os; /* real, with lstat wrapped to swap after it returns */
  void (*swap)(struct fixture *);
  policy_limits lim;
} fixture;

static fixture *g_fx; /* the wrapper's way back to its fixture (tests only) */

static int wrap_lstat(void *ctx, const char *path, os_stat *st) {
  int rc = g_fx->real.lstat(ctx, path, st);
  if (g_fx->swap) {
    void (*swap)(fixture *) = g_fx->swap;
    g_fx->swap = NULL; /* once */
    swap(g_fx);
  }
  return rc;
}

static void path_of(const fixture *fx, const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", fx->dir, name);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup_mode(void **state, int force_walk) {
  fixture *fx = calloc(1, sizeof *fx);
  os_posix_options o;
  char p[160];
  if (!fx) return -1;
  strcpy(fx->dir, "/tmp/outpost-guard-XXXXXX");
  if (!mkdtemp(fx->dir)) return -1;
  os_posix_options_init(&o);
  o.log_level = OS_LOG_ERROR;
  o.force_walk = force_walk;
  if (os_posix_init(&fx->real, &fx->px, &o) != OS_OK) return -1;
  fx->os = fx->real;
  fx->os.lstat = wrap_lstat;
  path_of(fx, "logs", p, sizeof p);
  if (mkdir(p, 0755) != 0) return -1;
  path_of(fx, "logs/sub", p, sizeof p);
  if (mkdir(p, 0755) != 0) return -1;
  path_of(fx, "vault", p, sizeof p);
  if (mkdir(p, 0700) != 0) return -1;
  path_of(fx, "vault/db.key", fx->secret, sizeof fx->secret);
  write_file(fx->secret, "SECRET\n");
  path_of(fx, "logs/app.log", p, sizeof p);
  write_file(p, "line one\n");
  path_of(fx, "logs/sub/x.log", p, sizeof p);
  write_file(p, "sub line\n");
  /* The allowed root is the log dir; the vault is outside it and denied by
   * name (".key"), so only the guard stands between a swap and the secret. */
  fx->lim.n_roots = 1;
  path_of(fx, "logs", fx->lim.roots[0], sizeof fx->lim.roots[0]);
  g_fx = fx;
  *state = fx;
  alarm(20); /* a blocking open would hang the test: fail it instead */
  return 0;
}

static int setup(void **state) { return setup_mode(state, 0); }
static int setup_walk(void **state) { return setup_mode(state, 1); }

static int teardown(void **state) {
  fixture *fx = *state;
  char cmd[128];
  alarm(0);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
  if (system(cmd) != 0) return -1;
  free(fx);
  g_fx = NULL;
  return 0;
}

/* Opens name under logs/ through the guard; on success reads it into buf. */
static int guarded(fixture *fx, const char *name, char *buf, size_t cap, char *why) {
  char p[160];
  os_file *f = NULL;
  os_stat st;
  int err = 0;
  path_of(fx, name, p, sizeof p);
  buf[0] = 0;
  int rc = guard_open(&fx->lim, &fx->os, p, &f, &st, &err, why, GUARD_WHY_MAX);
  if (rc == GUARD_OK) {
    int64_t n = fx->os.pread(fx->os.ctx, f, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    fx->os.close(fx->os.ctx, f);
  }
  return rc;
}

static void test_regular_file(void **state) {
  fixture *fx = *state;
  char buf[64], why[GUARD_WHY_MAX];
  assert_int_equal(guarded(fx, "logs/app.log", buf, sizeof buf, why), GUARD_OK);
  assert_string_equal(buf, "line one\n");
  assert_int_equal(guarded(fx, "logs/none.log", buf, sizeof buf, why), GUARD_ENOENT);
  assert_int_equal(guarded(fx, "logs/nodir/x.log", buf, sizeof buf, why), GUARD_ENOENT);
}

/* ln -s SECRET d/t; mv -T d/t d/app.log, before the check. */
static void test_symlink_before_check(void **state) {
  fixture *fx = *state;
  char buf[64], why[GUARD_WHY_MAX], p[160];
  path_of(fx, "logs/app.log", p, sizeof p);
  unlink(p);
  assert_int_equal(symlink(fx->secret, p), 0);
  assert_int_equal(guarded(fx, "logs/app.log", buf, sizeof buf, why), GUARD_EREFUSED);
  assert_null(strstr(buf, "SECRET"));
  assert_non_null(strstr(why, "resolves to"));
}

static void swap_file_for_symlink(fixture *fx) {
  char p[160], t[160];
  path_of(fx, "logs/t", t, sizeof t);
  path_of(fx, "logs/app.log", p, sizeof p);
  assert_int_equal(symlink(fx->secret, t), 0);
  assert_int_equal(rename(t, p), 0);
}

/* The race: the check sees a regular file, the open meets a symlink. */
static void test_symlink_between_check_and_open(void **state) {
  fixture *fx = *state;
  char buf[64], why[GUARD_WHY_MAX];
  fx->swap = swap_file_for_symlink;
  assert_int_equal(guarded(fx, "logs/app.log", buf, sizeof buf, why), GUARD_EREFUSED);
  assert_null(strstr(buf, "SECRET"));
  assert_non_null(strstr(why, "symlink appeared"));
}

static void swap_dir_for_symlink(fixture *fx) {
  char p[160], t[160], v[160];
  path_of(fx, "logs/sub", p, sizeof p);
  path_of(fx, "logs/sub.old", t, sizeof t);
  path_of(fx, "vault", v, sizeof v);
  assert_int_equal(rename(p, t), 0);
  assert_int_equal(symlink(v, p), 0);
  /* The vault now has an x.log of its own: following logs/sub would read it. */
  char x[160];
  path_of(fx, "vault/x.log", x, sizeof x);
  write_file(x, "SECRET\n");
}

/* A directory in the middle of the path swapped for a symlink in the race. */
static void test_dir_symlink_between_check_and_open(void **state) {
  fixture *fx = *state;
  char buf[64], why[GUARD_WHY_MAX];
  fx->swap = swap_dir_for_symlink;
  assert_int_equal(guarded(fx, "logs/sub/x.log", buf, sizeof buf, why), GUARD_EREFUSED);
  assert_null(strstr(buf, "SECRET"));
}

static void swap_file_for_fifo(fixture *fx) {
  char p[160];
  path_of(fx, "logs/app.log", p, sizeof p);
  unlink(p);
  assert_int_equal(mkfifo(p, 0644), 0);
}

/* A FIFO without a writer: refused at once, never blocks (alarm catches a hang). */
static void test_fifo(void **state) {
  fixture *fx = *state;
  char buf[64], why[GUARD_WHY_MAX], p[160];
  path_of(fx, "logs/pipe.log", p, sizeof p);
  assert_int_equal(mkfifo(p, 0644), 0);
  assert_int_equal(guarded(fx, "logs/pipe.log", buf, sizeof buf, why), GUARD_EREFUSED);
  assert_non_null(strstr(why, "FIFO"));
  /* Swapped in after the lstat: the non-blocking open returns, fstat refuses. */
  fx->swap = swap_file_for_fifo;
  assert_int_equal(guarded(fx, "logs/app.log", buf, sizeof buf, why), GUARD_EREFUSED);
  assert_non_null(strstr(why, "FIFO"));
}

/* A hard link gives the secret a harmless name inside the log dir. */
static void test_hard_link(void **state) {
  fixture *fx = *state;
  char buf[64], why[GUARD_WHY_MAX], p[160];
  path_of(fx, "logs/innocent.log", p, sizeof p);
  assert_int_equal(link(fx->secret, p), 0);
  assert_int_equal(guarded(fx, "logs/innocent.log", buf, sizeof buf, why), GUARD_EREFUSED);
  assert_null(strstr(buf, "SECRET"));
  assert_non_null(strstr(why, "hard links"));
}

/* A device node is refused before it is opened (root makes one; skip otherwise). */
static void test_device(void **state) {
  fixture *fx = *state;
  char buf[64], why[GUARD_WHY_MAX], p[160];
  path_of(fx, "logs/dev.log", p, sizeof p);
  if (mknod(p, S_IFCHR | 0644, makedev(1, 3)) != 0) {
    skip();
    return;
  }
  assert_int_equal(guarded(fx, "logs/dev.log", buf, sizeof buf, why), GUARD_EREFUSED);
  assert_non_null(strstr(why, "character device"));
}

/* The deny list holds whatever the roots say (lim NULL: every root). */
static void test_deny_list_without_roots(void **state) {
  fixture *fx = *state;
  os_file *f = NULL;
  os_stat st;
  char why[GUARD_WHY_MAX];
  assert_int_equal(guard_open(NULL, &fx->os, fx->secret, &f, &st, NULL, why, sizeof why),
                   GUARD_EREFUSED);
  assert_null(f);
  assert_non_null(strstr(why, ".key"));
}

/* The shim's own answer to OS_O_NOFOLLOW_ANY: a symlink anywhere is ELOOP. */
static void test_shim_nofollow_any(void **state) {
  fixture *fx = *state;
  char p[160], l[160];
  os_file *f = NULL;
  path_of(fx, "link", l, sizeof l);
  path_of(fx, "logs", p, sizeof p);
  assert_int_equal(symlink(p, l), 0);
  path_of(fx, "link/app.log", p, sizeof p);
  assert_int_equal(fx->real.open(fx->real.ctx, p, OS_O_READ, 0, &f), OS_OK);
  fx->real.close(fx->real.ctx, f);
  assert_int_equal(fx->real.open(fx->real.ctx, p, OS_O_READ | OS_O_NOFOLLOW_ANY, 0, &f), OS_ELOOP);
  path_of(fx, "logs/app.log", p, sizeof p);
  assert_int_equal(fx->real.open(fx->real.ctx, p, OS_O_READ | OS_O_NOFOLLOW_ANY, 0, &f), OS_OK);
  fx->real.close(fx->real.ctx, f);
  path_of(fx, "logs/missing/x", p, sizeof p);
  assert_int_equal(fx->real.open(fx->real.ctx, p, OS_O_READ | OS_O_NOFOLLOW_ANY, 0, &f),
                   OS_ENOENT);
}

#define BOTH(t) cmocka_unit_test_setup_teardown(t, setup, teardown), \
                cmocka_unit_test_setup_teardown(t, setup_walk, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      BOTH(test_regular_file),
      BOTH(test_symlink_before_check),
      BOTH(test_symlink_between_check_and_open),
      BOTH(test_dir_symlink_between_check_and_open),
      BOTH(test_fifo),
      BOTH(test_hard_link),
      BOTH(test_device),
      BOTH(test_deny_list_without_roots),
      BOTH(test_shim_nofollow_any),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
