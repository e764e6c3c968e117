/* Tests for the Linux os shim, on a fresh temp dir under /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posix/os_posix.h"

typedef struct fixture {
  char dir[64];
  os_posix px;
  os_shim os;
  int log_pipe[2];
} fixture;

static void join(char *out, size_t cap, const fixture *fx, const char *name) {
  snprintf(out, cap, "%s/%s", fx->dir, name);
}

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  os_posix_options o;
  if (!fx) return -1;
  strcpy(fx->dir, "/tmp/outpost-posix-XXXXXX");
  if (!mkdtemp(fx->dir)) return -1;
  if (pipe(fx->log_pipe) != 0) return -1;
  os_posix_options_init(&o);
  o.log_fd = fx->log_pipe[1];
  o.log_level = OS_LOG_INFO;
  if (os_posix_init(&fx->os, &fx->px, &o) != OS_OK) return -1;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
  if (system(cmd) != 0) return -1;
  close(fx->log_pipe[0]);
  close(fx->log_pipe[1]);
  free(fx);
  return 0;
}

static void test_roundtrip(void **state) {
  fixture *fx = *state;
  os_shim *os = &fx->os;
  char path[128], buf[64];
  os_file *f = NULL;
  os_stat st;
  join(path, sizeof path, fx, "data");
  assert_int_equal(os->open(os->ctx, path, OS_O_WRITE | OS_O_CREATE, 0600, &f), OS_OK);
  assert_non_null(f);
  assert_int_equal(os->pwrite(os->ctx, f, "hello world", 11, 0), 11);
  assert_int_equal(os->pwrite(os->ctx, f, "XY", 2, 20), 2); /* leaves a hole */
  assert_int_equal(os->sync(os->ctx, f), OS_OK);
  assert_int_equal(os->fstat(os->ctx, f, &st), OS_OK);
  assert_int_equal(st.size, 22);
  assert_int_equal(st.mode, 0600);
  assert_int_equal(st.uid, getuid());
  assert_false(st.is_dir);
  memset(buf, 'z', sizeof buf);
  assert_int_equal(os->pread(os->ctx, f, buf, sizeof buf, 6), 16); /* short at EOF */
  assert_memory_equal(buf, "world", 5);
  assert_int_equal(buf[5], 0); /* hole reads as zeros */
  assert_memory_equal(buf + 14, "XY", 2);
  assert_int_equal(os->pread(os->ctx, f, buf, sizeof buf, 100), 0);
  assert_int_equal(os->truncate(os->ctx, f, 5), OS_OK);
  assert_int_equal(os->fstat(os->ctx, f, &st), OS_OK);
  assert_int_equal(st.size, 5);
  assert_int_equal(os->pread(os->ctx, f, buf, sizeof buf, 0), 5);
  assert_memory_equal(buf, "hello", 5);
  assert_int_equal(os->pwrite(os->ctx, f, "x", 1, -1), OS_EINVAL);
  assert_int_equal(os->truncate(os->ctx, f, -1), OS_EINVAL);
  assert_int_equal(os->close(os->ctx, f), OS_OK);

  /* Read-only handle: writes fail with a mapped code, not a crash. */
  assert_int_equal(os->open(os->ctx, path, OS_O_READ, 0, &f), OS_OK);
  assert_int_equal(os->pwrite(os->ctx, f, "x", 1, 0), OS_EBADF);
  assert_int_equal(os->close(os->ctx, f), OS_OK);

  /* O_TRUNC empties an existing file. */
  assert_int_equal(os->open(os->ctx, path, OS_O_WRITE | OS_O_TRUNC, 0, &f), OS_OK);
  assert_int_equal(os->fstat(os->ctx, f, &st), OS_OK);
  assert_int_equal(st.size, 0);
  assert_int_equal(os->close(os->ctx, f), OS_OK);
}

static void test_open_errors(void **state) {
  fixture *fx = *state;
  os_shim *os = &fx->os;
  char path[128], link[128], longp[OS_PATH_MAX + 16];
  os_file *f = (os_file *)1;
  os_stat st;

  join(path, sizeof path, fx, "missing");
  assert_int_equal(os->open(os->ctx, path, OS_O_READ, 0, &f), OS_ENOENT);
  assert_null(f);
  assert_int_equal(os->stat(os->ctx, path, &st), OS_ENOENT);
  assert_int_equal(os->unlink(os->ctx, path), OS_ENOENT);

  join(path, sizeof path, fx, "excl");
  assert_int_equal(os->open(os->ctx, path, OS_O_WRITE | OS_O_CREATE | OS_O_EXCL, 0600, &f), OS_OK);
  assert_int_equal(os->close(os->ctx, f), OS_OK);
  assert_int_equal(os->open(os->ctx, path, OS_O_WRITE | OS_O_CREATE | OS_O_EXCL, 0600, &f),
                   OS_EEXIST);
  assert_null(f);

  join(link, sizeof link, fx, "link");
  assert_int_equal(symlink(path, link), 0);
  assert_int_equal(os->open(os->ctx, link, OS_O_READ | OS_O_NOFOLLOW, 0, &f), OS_ELOOP);
  assert_null(f);
  /* Without NOFOLLOW the link is followed. */
  assert_int_equal(os->open(os->ctx, link, OS_O_READ, 0, &f), OS_OK);
  assert_int_equal(os->close(os->ctx, f), OS_OK);
  assert_int_equal(os->lstat(os->ctx, link, &st), OS_OK);
  assert_true(st.is_symlink);
  assert_int_equal(os->stat(os->ctx, link, &st), OS_OK);
  assert_false(st.is_symlink);

  /* Opening a directory for writing. */
  assert_int_equal(os->open(os->ctx, fx->dir, OS_O_WRITE, 0, &f), OS_EISDIR);
  /* Parent is a file. */
  join(link, sizeof link, fx, "excl/child");
  assert_int_equal(os->open(os->ctx, link, OS_O_READ, 0, &f), OS_ENOTDIR);
  /* Path over the contract's bound never reaches the kernel. */
  memset(longp, 'a', sizeof longp - 1);
  longp[sizeof longp - 1] = 0;
  assert_int_equal(os->open(os->ctx, longp, OS_O_READ, 0, &f), OS_ENAMETOOLONG);
  assert_int_equal(os->open(os->ctx, path, 0x4000, 0, &f), OS_EINVAL);
  assert_int_equal(os->mkdir(os->ctx, fx->dir, 0700), OS_EEXIST);
}

static void test_rename_replace(void **state) {
  fixture *fx = *state;
  os_shim *os = &fx->os;
  char a[128], b[128], buf[16];
  os_file *f;
  os_stat st;
  join(a, sizeof a, fx, "new");
  join(b, sizeof b, fx, "current");
  assert_int_equal(os->open(os->ctx, b, OS_O_WRITE | OS_O_CREATE, 0600, &f), OS_OK);
  assert_int_equal(os->pwrite(os->ctx, f, "old", 3, 0), 3);
  assert_int_equal(os->close(os->ctx, f), OS_OK);
  assert_int_equal(os->open(os->ctx, a, OS_O_WRITE | OS_O_CREATE, 0600, &f), OS_OK);
  assert_int_equal(os->pwrite(os->ctx, f, "newer", 5, 0), 5);
  assert_int_equal(os->close(os->ctx, f), OS_OK);
  assert_int_equal(os->rename(os->ctx, a, b), OS_OK);
  assert_int_equal(os->stat(os->ctx, a, &st), OS_ENOENT);
  assert_int_equal(os->open(os->ctx, b, OS_O_READ, 0, &f), OS_OK);
  assert_int_equal(os->pread(os->ctx, f, buf, sizeof buf, 0), 5);
  assert_memory_equal(buf, "newer", 5);
  assert_int_equal(os->close(os->ctx, f), OS_OK);
  assert_int_equal(os->rename(os->ctx, a, b), OS_ENOENT);
}

static void test_mkdir_chmod(void **state) {
  fixture *fx = *state;
  os_shim *os = &fx->os;
  char d[128], p[160];
  os_stat st;
  os_file *f;
  join(d, sizeof d, fx, "state");
  assert_int_equal(os->mkdir(os->ctx, d, 0700), OS_OK);
  assert_int_equal(os->stat(os->ctx, d, &st), OS_OK);
  assert_true(st.is_dir);
  assert_int_equal(st.mode, 0700);
  assert_int_equal(os->mkdir(os->ctx, d, 0700), OS_EEXIST);
  assert_int_equal(os->chmod(os->ctx, d, 0750), OS_OK);
  assert_int_equal(os->stat(os->ctx, d, &st), OS_OK);
  assert_int_equal(st.mode, 0750);
  snprintf(p, sizeof p, "%s/key", d);
  assert_int_equal(os->open(os->ctx, p, OS_O_WRITE | OS_O_CREATE, 0644, &f), OS_OK);
  assert_int_equal(os->close(os->ctx, f), OS_OK);
  assert_int_equal(os->chmod(os->ctx, p, 0600), OS_OK);
  assert_int_equal(os->lstat(os->ctx, p, &st), OS_OK);
  assert_int_equal(st.mode, 0600);
  assert_false(st.is_dir);
  assert_int_equal(os->unlink(os->ctx, p), OS_OK);
  assert_int_equal(os->lstat(os->ctx, p, &st), OS_ENOENT);
}

/* chown_nofollow: changes the owner of a file, never of what a symlink points
 * at (OS_ELOOP, nothing changed). Changing the owner needs root: as another
 * user only the refusals are checked. */
static void test_chown_nofollow(void **state) {
  fixture *fx = *state;
  os_shim *os = &fx->os;
  char p[160], l[160];
  os_file *f;
  os_stat st;
  assert_non_null(os->chown_nofollow);
  join(p, sizeof p, fx, "key");
  join(l, sizeof l, fx, "link");
  assert_int_equal(os->open(os->ctx, p, OS_O_WRITE | OS_O_CREATE, 0600, &f), OS_OK);
  assert_int_equal(os->close(os->ctx, f), OS_OK);
  assert_int_equal(symlink(p, l), 0);
  assert_int_equal(os->chown_nofollow(os->ctx, l, 4242), OS_ELOOP);
  assert_int_equal(os->stat(os->ctx, p, &st), OS_OK);
  assert_int_equal(st.uid, (uint32_t)geteuid()); /* the target was not touched */
  join(l, sizeof l, fx, "missing");
  assert_int_equal(os->chown_nofollow(os->ctx, l, 4242), OS_ENOENT);
  if (geteuid() != 0) {
    assert_int_equal(os->chown_nofollow(os->ctx, p, 4242), OS_EPERM);
    return;
  }
  assert_int_equal(os->chown_nofollow(os->ctx, p, 4242), OS_OK);
  assert_int_equal(os->lstat(os->ctx, p, &st), OS_OK);
  assert_int_equal(st.uid, 4242);
  assert_int_equal(st.mode, 0600);
  assert_int_equal(os->chown_nofollow(os->ctx, p, 0), OS_OK);
  assert_int_equal(os->lstat(os->ctx, p, &st), OS_OK);
  assert_int_equal(st.uid, 0);
}

static void test_free_space(void **state) {
  fixture *fx = *state;
  uint64_t avail = 0, total = 0;
  char p[128];
  assert_int_equal(fx->os.free_space(fx->os.ctx, fx->dir, &avail, &total), OS_OK);
  assert_true(total > 0);
  assert_true(avail <= total);
  join(p, sizeof p, fx, "nope/deeper");
  assert_int_equal(fx->os.free_space(fx->os.ctx, p, &avail, &total), OS_ENOENT);
}

static void test_identity(void **state) {
  fixture *fx = *state;
  char buf[300], small[4], path[128];
  int n;
  os_posix px;
  os_shim os;
  os_posix_options o;

  n = fx->os.read_identity(fx->os.ctx, OS_IDENT_HOSTNAME, buf, sizeof buf);
  assert_true(n > 0);
  assert_int_equal((size_t)n, strlen(buf));
  assert_int_equal(fx->os.read_identity(fx->os.ctx, (os_ident_kind)99, buf, sizeof buf), OS_ENOENT);

  join(path, sizeof path, fx, "machine-id");
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("  0123456789abcdef0123456789abcdef\n\n", fp);
  fclose(fp);
  os_posix_options_init(&o);
  o.machine_id_path = path;
  assert_int_equal(os_posix_init(&os, &px, &o), OS_OK);
  n = os.read_identity(os.ctx, OS_IDENT_MACHINE_ID, buf, sizeof buf);
  assert_int_equal(n, 32);
  assert_string_equal(buf, "0123456789abcdef0123456789abcdef");
  /* Truncated to cap-1, still terminated. */
  assert_int_equal(os.read_identity(os.ctx, OS_IDENT_MACHINE_ID, small, sizeof small), 3);
  assert_string_equal(small, "012");

  /* An override that does not exist does not fall back to the host's id. */
  join(path, sizeof path, fx, "no-machine-id");
  o.machine_id_path = path;
  assert_int_equal(os_posix_init(&os, &px, &o), OS_OK);
  assert_int_equal(os.read_identity(os.ctx, OS_IDENT_MACHINE_ID, buf, sizeof buf), OS_ENOENT);

  /* DMI product UUID (lower-cased) and MACs of physical interfaces from a
   * fake /sys/class/net: eth1 and eth0 have a device link, veth0 does not,
   * lo's address is all zero. Sorted, joined by ','. */
  char dir[160], p2[256];
  join(path, sizeof path, fx, "product_uuid");
  fp = fopen(path, "w");
  fputs("4C4C4544-0042-4810-8056-B4C04F4E3232\n", fp);
  fclose(fp);
  join(dir, sizeof dir, fx, "net");
  mkdir(dir, 0755);
  static const char *const ifs[][3] = {{"eth1", "AA:BB:CC:00:00:02", "y"},
                                       {"eth0", "aa:bb:cc:00:00:01", "y"},
                                       {"veth0", "02:42:ac:11:00:02", "n"},
                                       {"lo", "00:00:00:00:00:00", "y"}};
  for (size_t i = 0; i < 4; i++) {
    snprintf(p2, sizeof p2, "%s/%s", dir, ifs[i][0]);
    mkdir(p2, 0755);
    snprintf(p2, sizeof p2, "%s/%s/address", dir, ifs[i][0]);
    fp = fopen(p2, "w");
    fprintf(fp, "%s\n", ifs[i][1]);
    fclose(fp);
    if (ifs[i][2][0] == 'y') {
      snprintf(p2, sizeof p2, "%s/%s/device", dir, ifs[i][0]);
      mkdir(p2, 0755);
    }
  }
  os_posix_options_init(&o);
  o.product_uuid_path = path;
  o.net_class_dir = dir;
  assert_int_equal(os_posix_init(&os, &px, &o), OS_OK);
  n = os.read_identity(os.ctx, OS_IDENT_PRODUCT_UUID, buf, sizeof buf);
  assert_int_equal(n, 36);
  assert_string_equal(buf, "4c4c4544-0042-4810-8056-b4c04f4e3232");
  n = os.read_identity(os.ctx, OS_IDENT_MACS, buf, sizeof buf);
  assert_string_equal(buf, "aa:bb:cc:00:00:01,aa:bb:cc:00:00:02");
  assert_int_equal(n, 35);
  join(p2, sizeof p2, fx, "empty-net");
  mkdir(p2, 0755);
  o.net_class_dir = p2;
  assert_int_equal(os_posix_init(&os, &px, &o), OS_OK);
  assert_int_equal(os.read_identity(os.ctx, OS_IDENT_MACS, buf, sizeof buf), OS_ENOENT);
}

static void test_clocks_random(void **state) {
  fixture *fx = *state;
  os_shim *os = &fx->os;
  uint8_t a[32], b[32], zero[32] = {0};
  int64_t prev = os->mono_ms(os->ctx);
  for (int i = 0; i < 1000; i++) {
    int64_t now = os->mono_ms(os->ctx);
    assert_true(now >= prev);
    prev = now;
  }
  /* Wall clock is Unix time in ms: after 2020-01-01. */
  assert_true(os->wall_ms(os->ctx) > INT64_C(1577836800000));
  assert_int_equal(os->random(os->ctx, a, sizeof a), OS_OK);
  assert_int_equal(os->random(os->ctx, b, sizeof b), OS_OK);
  assert_memory_not_equal(a, b, sizeof a);
  assert_memory_not_equal(a, zero, sizeof a);
  assert_int_equal(os->random(os->ctx, a, 0), OS_OK);
}

static size_t read_log(fixture *fx, char *buf, size_t cap) {
  int fl = fcntl(fx->log_pipe[0], F_GETFL);
  ssize_t n;
  fcntl(fx->log_pipe[0], F_SETFL, fl | O_NONBLOCK);
  n = read(fx->log_pipe[0], buf, cap - 1);
  if (n < 0) n = 0;
  buf[n] = 0;
  return (size_t)n;
}

static void test_log(void **state) {
  fixture *fx = *state;
  char buf[512];
  fx->os.log(fx->os.ctx, OS_LOG_DEBUG, "hidden");
  fx->os.log(fx->os.ctx, OS_LOG_WARN, "disk low\nFAKE line");
  size_t n = read_log(fx, buf, sizeof buf);
  /* "2026-11-29T02:15:23.123Z WARN disk low FAKE line\n" */
  assert_int_equal(n, 24 + strlen(" WARN disk low FAKE line\n"));
  assert_string_equal(buf + 24, " WARN disk low FAKE line\n");
  assert_int_equal(buf[4], '-');
  assert_int_equal(buf[10], 'T');
  assert_int_equal(buf[19], '.');
  assert_int_equal(buf[23], 'Z');
  assert_null(strstr(buf, "hidden"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rename_replace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mkdir_chmod, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chown_nofollow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_free_space, setup, teardown),
      cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
      cmocka_unit_test_setup_teardown(test_clocks_random, setup, teardown),
      cmocka_unit_test_setup_teardown(test_log, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
