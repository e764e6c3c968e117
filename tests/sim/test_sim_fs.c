#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sim_fs.h"

static int64_t fake_now = 1000;
static int64_t clock_fn(void *ctx) { return *(int64_t *)ctx; }

static sim_fs *mk(uint64_t quota) {
  sim_fs *fs = NULL;
  assert_int_equal(sim_fs_create(7, quota, clock_fn, &fake_now, &fs), OS_OK);
  return fs;
}

static void write_str(sim_fs *fs, os_file *f, const char *s, int64_t off) {
  assert_int_equal(sim_fs_pwrite(fs, f, s, strlen(s), off), (int64_t)strlen(s));
}

static void read_is(sim_fs *fs, const char *path, const char *want) {
  os_file *f;
  assert_int_equal(sim_fs_open(fs, path, OS_O_READ, 0, &f), OS_OK);
  char buf[256] = {0};
  int64_t n = sim_fs_pread(fs, f, buf, sizeof buf - 1, 0);
  assert_int_equal(n, (int64_t)strlen(want));
  assert_string_equal(buf, want);
  sim_fs_close(fs, f);
}

/* issue #17: the supervisor stand-in prunes bin/<v>/ */
static void rmdir_only_empty(void **state) {
  (void)state;
  sim_fs *fs = mk(1 << 20);
  assert_int_equal(sim_fs_mkdirs(fs, "/b/1.0.0", 0700), OS_OK);
  assert_int_equal(sim_fs_append(fs, "/b/1.0.0/x", "y", 1, 1), OS_OK);
  assert_int_equal(sim_fs_rmdir(fs, "/b/1.0.0"), OS_EEXIST);
  assert_int_equal(sim_fs_rmdir(fs, "/b/1.0.0/x"), OS_ENOTDIR);
  assert_int_equal(sim_fs_unlink(fs, "/b/1.0.0/x"), OS_OK);
  assert_int_equal(sim_fs_rmdir(fs, "/b/1.0.0"), OS_OK);
  os_stat st;
  assert_int_equal(sim_fs_stat(fs, "/b/1.0.0", &st), OS_ENOENT);
  assert_int_equal(sim_fs_stat(fs, "/b", &st), OS_OK);
  assert_int_equal(sim_fs_rmdir(fs, "/b/nope"), OS_ENOENT);
  sim_fs_free(fs);
}

static void dirs_and_errors(void **state) {
  sim_fs *fs = mk(1 << 20);
  os_file *f;
  assert_int_equal(sim_fs_open(fs, "/var/log/x", OS_O_WRITE | OS_O_CREATE, 0644, &f), OS_ENOENT);
  assert_int_equal(sim_fs_mkdir(fs, "/var", 0755), OS_OK);
  assert_int_equal(sim_fs_mkdir(fs, "/var", 0755), OS_EEXIST);
  assert_int_equal(sim_fs_mkdirs(fs, "/var/lib/outpost/", 0700), OS_OK);
  os_stat st;
  assert_int_equal(sim_fs_stat(fs, "/var/lib//outpost", &st), OS_OK);
  assert_true(st.is_dir);
  assert_int_equal(st.mode, 0700);
  assert_int_equal(st.dev, 7);
  assert_int_equal(sim_fs_open(fs, "/var/lib/outpost/a", OS_O_WRITE | OS_O_CREATE, 0600, &f),
                   OS_OK);
  assert_int_equal(sim_fs_close(fs, f), OS_OK);
  assert_int_equal(sim_fs_open(fs, "/var/lib/outpost/a",
                               OS_O_WRITE | OS_O_CREATE | OS_O_EXCL, 0600, &f),
                   OS_EEXIST);
  assert_int_equal(sim_fs_mkdir(fs, "/var/lib/outpost/a/b", 0700), OS_ENOTDIR);
  assert_int_equal(sim_fs_open(fs, "/var/lib", OS_O_WRITE, 0, &f), OS_EISDIR);
  assert_int_equal(sim_fs_unlink(fs, "/var/lib"), OS_EISDIR);
  assert_int_equal(sim_fs_unlink(fs, "/nope"), OS_ENOENT);
  assert_int_equal(sim_fs_stat(fs, "/var/lib/outpost/a", &st), OS_OK);
  assert_int_equal(st.mode, 0600);
  assert_int_equal(st.mtime_ms, 1000);
  assert_int_equal(sim_fs_chmod(fs, "/var/lib/outpost/a", 0640), OS_OK);
  assert_int_equal(sim_fs_lstat(fs, "/var/lib/outpost/a", &st), OS_OK);
  assert_int_equal(st.mode, 0640);
  assert_false(st.is_symlink);
  assert_int_equal(sim_fs_stat(fs, "relative", &st), OS_EINVAL);
  sim_fs_free(fs);
}

static void read_write_and_unique_inodes(void **state) {
  sim_fs *fs = mk(1 << 20);
  os_file *a, *b;
  assert_int_equal(sim_fs_open(fs, "/a", OS_O_WRITE | OS_O_CREATE, 0644, &a), OS_OK);
  assert_int_equal(sim_fs_open(fs, "/b", OS_O_WRITE | OS_O_CREATE, 0644, &b), OS_OK);
  fake_now = 2000;
  write_str(fs, a, "hello", 0);
  write_str(fs, a, "world", 10); /* hole is zero-filled */
  char buf[32];
  assert_int_equal(sim_fs_pread(fs, a, buf, sizeof buf, 0), 15);
  assert_memory_equal(buf, "hello\0\0\0\0\0world", 15);
  assert_int_equal(sim_fs_pread(fs, a, buf, sizeof buf, 15), 0);
  os_stat sa, sb;
  assert_int_equal(sim_fs_fstat(fs, a, &sa), OS_OK);
  assert_int_equal(sim_fs_fstat(fs, b, &sb), OS_OK);
  assert_int_not_equal(sa.ino, sb.ino);
  assert_int_equal(sa.size, 15);
  assert_int_equal(sa.mtime_ms, 2000);
  assert_int_equal(sim_fs_truncate(fs, a, 5), OS_OK);
  assert_int_equal(sim_fs_fstat(fs, a, &sa), OS_OK);
  assert_int_equal(sa.size, 5);
  os_file *r;
  assert_int_equal(sim_fs_open(fs, "/a", OS_O_READ, 0, &r), OS_OK);
  assert_int_equal(sim_fs_pwrite(fs, r, "x", 1, 0), OS_EBADF); /* read-only handle */
  sim_fs_close(fs, r);
  assert_int_equal(sim_fs_open(fs, "/a", OS_O_WRITE | OS_O_TRUNC, 0, &r), OS_OK);
  assert_int_equal(sim_fs_fstat(fs, r, &sa), OS_OK);
  assert_int_equal(sa.size, 0);
  sim_fs_close(fs, r);
  sim_fs_close(fs, a);
  sim_fs_close(fs, b);
  assert_int_equal(sim_fs_open_handles(fs), 0);
  sim_fs_free(fs);
}

static void open_handle_survives_unlink_and_rename(void **state) {
  sim_fs *fs = mk(1 << 20);
  os_file *f, *g;
  assert_int_equal(sim_fs_open(fs, "/old", OS_O_WRITE | OS_O_CREATE, 0644, &f), OS_OK);
  write_str(fs, f, "keep me", 0);
  os_stat st0;
  assert_int_equal(sim_fs_fstat(fs, f, &st0), OS_OK);
  assert_int_equal(sim_fs_rename(fs, "/old", "/new"), OS_OK);
  os_stat st;
  assert_int_equal(sim_fs_stat(fs, "/old", &st), OS_ENOENT);
  assert_int_equal(sim_fs_stat(fs, "/new", &st), OS_OK);
  assert_int_equal(st.ino, st0.ino);
  /* rename over an existing file replaces it; its open handle keeps the old one */
  assert_int_equal(sim_fs_open(fs, "/other", OS_O_WRITE | OS_O_CREATE, 0644, &g), OS_OK);
  write_str(fs, g, "other", 0);
  assert_int_equal(sim_fs_rename(fs, "/new", "/other"), OS_OK);
  read_is(fs, "/other", "keep me");
  char buf[16] = {0};
  assert_int_equal(sim_fs_pread(fs, g, buf, sizeof buf, 0), 5);
  assert_string_equal(buf, "other");
  assert_int_equal(sim_fs_unlink(fs, "/other"), OS_OK);
  assert_int_equal(sim_fs_stat(fs, "/other", &st), OS_ENOENT);
  memset(buf, 0, sizeof buf);
  assert_int_equal(sim_fs_pread(fs, f, buf, sizeof buf, 0), 7);
  assert_string_equal(buf, "keep me");
  assert_true(sim_fs_used(fs) == 12); /* both unlinked files still hold space */
  sim_fs_close(fs, f);
  sim_fs_close(fs, g);
  assert_int_equal(sim_fs_used(fs), 0);
  /* directory rename moves its children */
  assert_int_equal(sim_fs_mkdirs(fs, "/d/e", 0755), OS_OK);
  assert_int_equal(sim_fs_append(fs, "/d/e/f", "x", 1, 1), OS_OK);
  assert_int_equal(sim_fs_rename(fs, "/d", "/z"), OS_OK);
  read_is(fs, "/z/e/f", "x");
  assert_int_equal(sim_fs_stat(fs, "/d/e/f", &st), OS_ENOENT);
  sim_fs_free(fs);
}

static void quota_enospc_writes_nothing(void **state) {
  sim_fs *fs = mk(100);
  os_file *f;
  assert_int_equal(sim_fs_open(fs, "/f", OS_O_WRITE | OS_O_CREATE, 0644, &f), OS_OK);
  char big[80];
  memset(big, 'a', sizeof big);
  assert_int_equal(sim_fs_pwrite(fs, f, big, 80, 0), 80);
  uint64_t avail, total;
  assert_int_equal(sim_fs_free_space(fs, "/f", &avail, &total), OS_OK);
  assert_int_equal(avail, 20);
  assert_int_equal(total, 100);
  assert_int_equal(sim_fs_pwrite(fs, f, "0123456789012345678901234", 25, 80), OS_ENOSPC);
  os_stat st;
  assert_int_equal(sim_fs_fstat(fs, f, &st), OS_OK);
  assert_int_equal(st.size, 80); /* nothing written */
  assert_int_equal(sim_fs_used(fs), 80);
  assert_int_equal(sim_fs_truncate(fs, f, 101), OS_ENOSPC);
  /* overwriting inside the file needs no new space */
  assert_int_equal(sim_fs_pwrite(fs, f, "bbbb", 4, 10), 4);
  assert_int_equal(sim_fs_pwrite(fs, f, big, 20, 80), 20);
  assert_int_equal(sim_fs_pwrite(fs, f, "c", 1, 100), OS_ENOSPC);
  sim_fs_close(fs, f);
  sim_fs_free(fs);
}

static void crash_reverts_unsynced_and_kills_handles(void **state) {
  sim_fs *fs = mk(1 << 20);
  os_file *f;
  assert_int_equal(sim_fs_open(fs, "/db", OS_O_WRITE | OS_O_CREATE, 0644, &f), OS_OK);
  char page[8192];
  memset(page, 'A', sizeof page);
  assert_int_equal(sim_fs_pwrite(fs, f, page, sizeof page, 0), 8192);
  assert_int_equal(sim_fs_sync(fs, f), OS_OK);
  /* overwrite one page, append more, never sync */
  memset(page, 'B', sizeof page);
  assert_int_equal(sim_fs_pwrite(fs, f, page, 100, 4000), 100);
  assert_int_equal(sim_fs_pwrite(fs, f, page, 5000, 8192), 5000);
  /* a second file created and written but never synced */
  assert_int_equal(sim_fs_append(fs, "/new", "lost", 4, 0), OS_OK);
  /* a synced file that is shrunk afterwards */
  assert_int_equal(sim_fs_append(fs, "/log", "line1\nline2\n", 12, 1), OS_OK);
  os_file *l;
  assert_int_equal(sim_fs_open(fs, "/log", OS_O_WRITE, 0, &l), OS_OK);
  assert_int_equal(sim_fs_truncate(fs, l, 3), OS_OK);
  write_str(fs, l, "XYZW", 1);

  sim_fs_crash(fs);

  char buf[16000];
  assert_int_equal(sim_fs_pread(fs, f, buf, 10, 0), OS_EBADF); /* dead handle */
  assert_int_equal(sim_fs_pwrite(fs, f, "zz", 2, 0), 2);       /* swallowed */
  assert_int_equal(sim_fs_truncate(fs, f, 0), OS_OK);          /* swallowed */
  assert_int_equal(sim_fs_close(fs, f), OS_OK);
  assert_int_equal(sim_fs_close(fs, l), OS_OK);
  os_file *g;
  assert_int_equal(sim_fs_open(fs, "/db", OS_O_READ, 0, &g), OS_OK);
  assert_int_equal(sim_fs_pread(fs, g, buf, sizeof buf, 0), 8192);
  for (int i = 0; i < 8192; i++) assert_int_equal(buf[i], 'A');
  sim_fs_close(fs, g);
  os_stat st;
  assert_int_equal(sim_fs_stat(fs, "/new", &st), OS_OK); /* exists, empty */
  assert_int_equal(st.size, 0);
  read_is(fs, "/log", "line1\nline2\n");
  assert_int_equal(sim_fs_used(fs), 8192 + 12);
  sim_fs_free(fs);
}

static void frozen_and_injected_faults(void **state) {
  sim_fs *fs = mk(1 << 20);
  assert_int_equal(sim_fs_append(fs, "/j", "journal", 7, 1), OS_OK);
  sim_fs_set_frozen(fs, 1);
  assert_int_equal(sim_fs_unlink(fs, "/j"), OS_OK);
  os_file *f;
  assert_int_equal(sim_fs_open(fs, "/j", OS_O_READ, 0, &f), OS_EIO);
  sim_fs_set_frozen(fs, 0);
  read_is(fs, "/j", "journal"); /* the frozen unlink did nothing */
  assert_int_equal(sim_fs_open(fs, "/j", OS_O_WRITE, 0, &f), OS_OK);
  sim_fs_fail_write(fs, 2, OS_EIO);
  assert_int_equal(sim_fs_pwrite(fs, f, "a", 1, 7), 1);
  assert_int_equal(sim_fs_pwrite(fs, f, "b", 1, 8), OS_EIO);
  assert_int_equal(sim_fs_pwrite(fs, f, "c", 1, 8), 1);
  sim_fs_fail_write(fs, 1, OS_ENOSPC);
  assert_int_equal(sim_fs_pwrite(fs, f, "d", 1, 9), OS_ENOSPC);
  sim_fs_close(fs, f);
  read_is(fs, "/j", "journalac");
  /* handles still open at free are released with the fs (ASan checks) */
  assert_int_equal(sim_fs_open(fs, "/j", OS_O_READ, 0, &f), OS_OK);
  sim_fs_free(fs);
}

static int cuts;
static void on_cut(void *user) { cuts += *(int *)user; }

static void power_cut_before_nth_write(void **state) {
  sim_fs *fs = mk(1 << 20);
  assert_int_equal(sim_fs_append(fs, "/log", "a\n", 2, 1), OS_OK);
  os_file *f;
  assert_int_equal(sim_fs_open(fs, "/db", OS_O_WRITE | OS_O_CREATE, 0644, &f), OS_OK);
  write_str(fs, f, "committed", 0);
  assert_int_equal(sim_fs_sync(fs, f), OS_OK);
  int one = 1;
  sim_fs_power_cut_at(fs, 3, on_cut, &one);
  write_str(fs, f, "XX", 0); /* 1st */
  assert_int_equal(sim_fs_append(fs, "/log", "b\n", 2, 1), OS_OK); /* not counted */
  write_str(fs, f, "YY", 2); /* 2nd */
  assert_int_equal(cuts, 0);
  write_str(fs, f, "ZZ", 4); /* 3rd: power cut, write lost (reported written) */
  assert_int_equal(cuts, 1);
  char buf[16];
  assert_int_equal(sim_fs_pread(fs, f, buf, sizeof buf, 0), OS_EBADF);
  sim_fs_close(fs, f);
  read_is(fs, "/db", "committed");
  read_is(fs, "/log", "a\nb\n");
  /* fires once */
  assert_int_equal(sim_fs_open(fs, "/db", OS_O_WRITE, 0, &f), OS_OK);
  for (int i = 0; i < 5; i++) write_str(fs, f, "w", i);
  assert_int_equal(cuts, 1);
  sim_fs_close(fs, f);
  sim_fs_free(fs);
}

static int add_name(void *user, const char *name) {
  char *acc = user;
  strcat(acc, name);
  strcat(acc, ",");
  return 0;
}

/* issue #13: owners of new files follow sim_fs_set_uid (copies keep it);
 * list_dir names a directory's direct children only. */
static void owners_and_listing(void **state) {
  (void)state;
  sim_fs *fs = mk(1 << 20);
  os_stat st;
  assert_int_equal(sim_fs_mkdirs(fs, "/s/sub", 0700), OS_OK);
  sim_fs_set_uid(fs, 1000);
  assert_int_equal(sim_fs_append(fs, "/s/planted", "x", 1, 1), OS_OK);
  sim_fs_set_uid(fs, 0);
  assert_int_equal(sim_fs_append(fs, "/s/sub/mine", "x", 1, 1), OS_OK);
  assert_int_equal(sim_fs_stat(fs, "/s/planted", &st), OS_OK);
  assert_int_equal(st.uid, 1000);
  assert_int_equal(sim_fs_stat(fs, "/s/sub/mine", &st), OS_OK);
  assert_int_equal(st.uid, 0);
  char acc[256] = "";
  assert_int_equal(sim_fs_list_dir(fs, "/s", 100, add_name, acc), 2);
  assert_true(strstr(acc, "sub,") && strstr(acc, "planted,") && !strstr(acc, "mine"));
  acc[0] = 0;
  assert_int_equal(sim_fs_list_dir(fs, "/s/", 1, add_name, acc), 1); /* bounded */
  assert_int_equal(sim_fs_list_dir(fs, "/nope", 10, add_name, acc), OS_ENOENT);
  assert_int_equal(sim_fs_list_dir(fs, "/s/planted", 10, add_name, acc), OS_ENOTDIR);
  sim_fs_set_uid(fs, 42);
  sim_fs *copy = NULL;
  assert_int_equal(sim_fs_copy(fs, 2, &copy), OS_OK);
  assert_int_equal(sim_fs_append(copy, "/s/new", "x", 1, 1), OS_OK);
  assert_int_equal(sim_fs_stat(copy, "/s/new", &st), OS_OK);
  assert_int_equal(st.uid, 42);
  assert_int_equal(sim_fs_stat(copy, "/s/planted", &st), OS_OK);
  assert_int_equal(st.uid, 1000);
  sim_fs_free(copy);
  sim_fs_free(fs);
}

/* issue #13: symlinks as the kernel walks them, hard links, FIFOs, the hook. */
static void links_and_special_files(void **state) {
  sim_fs *fs = mk(1 << 20);
  os_file *f;
  os_stat st;
  char rp[OS_PATH_MAX];
  assert_int_equal(sim_fs_mkdirs(fs, "/var/log/app", 0755), OS_OK);
  assert_int_equal(sim_fs_mkdirs(fs, "/etc", 0755), OS_OK);
  assert_int_equal(sim_fs_append(fs, "/etc/shadow", "secret\n", 7, 1), OS_OK);
  assert_int_equal(sim_fs_append(fs, "/var/log/app/x.log", "log\n", 4, 1), OS_OK);
  /* Final component: followed by default, refused by NOFOLLOW / NOFOLLOW_ANY. */
  assert_int_equal(sim_fs_symlink(fs, "/etc/shadow", "/var/log/evil.log"), OS_OK);
  read_is(fs, "/var/log/evil.log", "secret\n");
  assert_int_equal(sim_fs_open(fs, "/var/log/evil.log", OS_O_READ | OS_O_NOFOLLOW, 0, &f), OS_ELOOP);
  assert_int_equal(sim_fs_open(fs, "/var/log/evil.log", OS_O_READ | OS_O_NOFOLLOW_ANY, 0, &f), OS_ELOOP);
  assert_int_equal(sim_fs_lstat(fs, "/var/log/evil.log", &st), OS_OK);
  assert_int_equal(st.type, OS_TYPE_LNK);
  assert_true(st.is_symlink);
  assert_int_equal(sim_fs_stat(fs, "/var/log/evil.log", &st), OS_OK);
  assert_int_equal(st.type, OS_TYPE_REG);
  assert_string_equal(sim_fs_last_open(fs), "/etc/shadow");
  /* A directory in the middle, relative target with "..": followed by open
   * and realpath, refused by NOFOLLOW_ANY (which NOFOLLOW alone is not). */
  assert_int_equal(sim_fs_symlink(fs, "../log/app", "/var/log/dir"), OS_OK);
  read_is(fs, "/var/log/dir/x.log", "log\n");
  assert_int_equal(sim_fs_realpath(fs, "/var/log/dir/x.log", rp, sizeof rp), OS_OK);
  assert_string_equal(rp, "/var/log/app/x.log");
  assert_int_equal(sim_fs_open(fs, "/var/log/dir/x.log", OS_O_READ | OS_O_NOFOLLOW, 0, &f), OS_OK);
  sim_fs_close(fs, f);
  assert_int_equal(sim_fs_open(fs, "/var/log/dir/x.log", OS_O_READ | OS_O_NOFOLLOW_ANY, 0, &f), OS_ELOOP);
  assert_int_equal(sim_fs_realpath(fs, "/var/log/dir/none", rp, sizeof rp), OS_ENOENT);
  /* A loop ends in ELOOP, not a hang. */
  assert_int_equal(sim_fs_symlink(fs, "/var/log/b", "/var/log/a"), OS_OK);
  assert_int_equal(sim_fs_symlink(fs, "/var/log/a", "/var/log/b"), OS_OK);
  assert_int_equal(sim_fs_open(fs, "/var/log/a", OS_O_READ, 0, &f), OS_ELOOP);
  /* Hard links: one inode, nlink names; unlink drops one. */
  assert_int_equal(sim_fs_link(fs, "/etc/shadow", "/var/log/innocent.log"), OS_OK);
  assert_int_equal(sim_fs_stat(fs, "/var/log/innocent.log", &st), OS_OK);
  assert_int_equal(st.nlink, 2);
  assert_int_equal(sim_fs_unlink(fs, "/var/log/innocent.log"), OS_OK);
  assert_int_equal(sim_fs_stat(fs, "/etc/shadow", &st), OS_OK);
  assert_int_equal(st.nlink, 1);
  /* A FIFO: a blocking open is counted and failed; O_NONBLOCK opens, reads nothing. */
  assert_int_equal(sim_fs_mknod(fs, "/var/log/pipe.log", OS_TYPE_FIFO, 0644), OS_OK);
  assert_int_equal(sim_fs_open(fs, "/var/log/pipe.log", OS_O_READ, 0, &f), OS_EIO);
  assert_int_equal(sim_fs_blocked_opens(fs), 1);
  assert_int_equal(sim_fs_open(fs, "/var/log/pipe.log", OS_O_READ | OS_O_NONBLOCK, 0, &f), OS_OK);
  char buf[8];
  assert_int_equal(sim_fs_pread(fs, f, buf, sizeof buf, 0), 0);
  assert_int_equal(sim_fs_fstat(fs, f, &st), OS_OK);
  assert_int_equal(st.type, OS_TYPE_FIFO);
  sim_fs_close(fs, f);
  sim_fs_free(fs);
}

static int hook_calls;
static void swap_hook(void *user, sim_fs *fs, const char *path) {
  (void)user;
  hook_calls++;
  if (strcmp(path, "/var/log/x.log") == 0) { /* inside the open: swap the file */
    sim_fs_rename(fs, "/var/log/x.log", "/var/log/.aside");
    sim_fs_symlink(fs, "/etc/shadow", "/var/log/x.log");
  }
}

static void hook_swaps_inside_open(void **state) {
  sim_fs *fs = mk(1 << 20);
  os_file *f;
  os_stat st;
  assert_int_equal(sim_fs_mkdirs(fs, "/var/log", 0755), OS_OK);
  assert_int_equal(sim_fs_mkdirs(fs, "/etc", 0755), OS_OK);
  assert_int_equal(sim_fs_append(fs, "/etc/shadow", "secret\n", 7, 1), OS_OK);
  assert_int_equal(sim_fs_append(fs, "/var/log/x.log", "log\n", 4, 1), OS_OK);
  sim_fs_set_open_hook(fs, swap_hook, NULL);
  /* The caller checked a regular file; the open meets the symlink. */
  assert_int_equal(sim_fs_open(fs, "/var/log/x.log", OS_O_READ | OS_O_NOFOLLOW_ANY, 0, &f), OS_ELOOP);
  assert_true(hook_calls >= 1);
  sim_fs_set_open_hook(fs, NULL, NULL);
  assert_int_equal(sim_fs_lstat(fs, "/var/log/x.log", &st), OS_OK);
  assert_int_equal(st.type, OS_TYPE_LNK);
  sim_fs_free(fs);
}

/* Issue #15: zeros written at the end of a file (the spool's reserve) take
 * no memory, yet read, count against the quota, survive a crash and a copy
 * exactly as held bytes would. */
static void fill_file(sim_fs *fs, os_file *f, char c, int64_t len) {
  char buf[4096];
  memset(buf, c, sizeof buf);
  for (int64_t off = 0; off < len; off += (int64_t)sizeof buf)
    assert_int_equal(sim_fs_pwrite(fs, f, buf, sizeof buf, off), (int64_t)sizeof buf);
}

static void all_bytes_are(sim_fs *fs, os_file *f, char c, int64_t len) {
  char want[4096], got[4096];
  memset(want, c, sizeof want);
  for (int64_t off = 0; off < len; off += (int64_t)sizeof got) {
    assert_int_equal(sim_fs_pread(fs, f, got, sizeof got, off), (int64_t)sizeof got);
    assert_memory_equal(got, want, sizeof got);
  }
}

/* Blocks lent back by a sync (sim_fs_set_spares) carry another file's old
 * bytes: reused, they must hold exactly the saved bytes and zeros after
 * them, or a power cut would put stale bytes into a file. */
static void spare_blocks_restore_the_same_bytes(void **state) {
  (void)state;
  sim_fs_spares *sp = sim_fs_spares_new(4);
  assert_non_null(sp);
  sim_fs *fs = mk(1 << 20);
  sim_fs_set_spares(fs, sp);
  os_file *a, *z;
  /* Two blocks of 'A' saved, then lent back at the sync. */
  assert_int_equal(sim_fs_open(fs, "/a", OS_O_WRITE | OS_O_CREATE, 0600, &a), OS_OK);
  fill_file(fs, a, 'A', 8192);
  assert_int_equal(sim_fs_sync(fs, a), OS_OK);
  fill_file(fs, a, 'B', 8192);
  assert_int_equal(sim_fs_sync(fs, a), OS_OK);
  /* A synced file of zeros (held in no memory): its first block saved from
   * a spare must read back as zeros, not as 'A'. */
  assert_int_equal(sim_fs_open(fs, "/z", OS_O_WRITE | OS_O_CREATE, 0600, &z), OS_OK);
  fill_file(fs, z, 0, 8192);
  assert_int_equal(sim_fs_sync(fs, z), OS_OK);
  write_str(fs, z, "x", 100);
  /* And a block of 'B' saved into the other spare. */
  write_str(fs, a, "C", 5000);
  sim_fs_crash(fs);
  sim_fs_close(fs, a);
  sim_fs_close(fs, z);
  assert_int_equal(sim_fs_open(fs, "/z", OS_O_READ, 0, &z), OS_OK);
  all_bytes_are(fs, z, 0, 8192);
  assert_int_equal(sim_fs_open(fs, "/a", OS_O_READ, 0, &a), OS_OK);
  all_bytes_are(fs, a, 'B', 8192);
  /* A copy of the disk shares the spares and is freed before them. */
  sim_fs *copy = NULL;
  assert_int_equal(sim_fs_copy(fs, 8, &copy), OS_OK);
  sim_fs_free(fs);
  os_file *c;
  assert_int_equal(sim_fs_open(copy, "/a", OS_O_WRITE, 0, &c), OS_OK);
  write_str(copy, c, "D", 0);
  sim_fs_crash(copy);
  sim_fs_close(copy, c);
  assert_int_equal(sim_fs_open(copy, "/a", OS_O_READ, 0, &c), OS_OK);
  all_bytes_are(copy, c, 'B', 8192);
  sim_fs_free(copy);
  sim_fs_spares_free(sp);
}

/* A file past 1 MiB lives in a mapping of its own (sim_fs.c MAP_FROM):
 * grown, restored by a power cut, copied and freed like any other. */
static void large_file_in_its_own_mapping(void **state) {
  (void)state;
  sim_fs *fs = mk(16 << 20);
  os_file *f;
  static char chunk[65536];
  assert_int_equal(sim_fs_open(fs, "/big", OS_O_WRITE | OS_O_CREATE, 0600, &f), OS_OK);
  for (int i = 0; i < 48; i++) { /* 3 MiB, a different byte per chunk */
    memset(chunk, 'a' + i % 26, sizeof chunk);
    assert_int_equal(sim_fs_pwrite(fs, f, chunk, sizeof chunk, (int64_t)i * 65536), 65536);
  }
  assert_int_equal(sim_fs_sync(fs, f), OS_OK);
  memset(chunk, '#', sizeof chunk);
  assert_int_equal(sim_fs_pwrite(fs, f, chunk, sizeof chunk, 20 * 65536), 65536);
  assert_int_equal(sim_fs_pwrite(fs, f, chunk, sizeof chunk, 48 * 65536), 65536); /* grows */
  sim_fs_crash(fs);
  sim_fs_close(fs, f);
  sim_fs *copy = NULL;
  assert_int_equal(sim_fs_copy(fs, 9, &copy), OS_OK);
  sim_fs *each[2] = {fs, copy};
  for (int k = 0; k < 2; k++) {
    assert_int_equal(sim_fs_open(each[k], "/big", OS_O_READ, 0, &f), OS_OK);
    os_stat st;
    assert_int_equal(sim_fs_fstat(each[k], f, &st), OS_OK);
    assert_int_equal(st.size, 48 * 65536);
    for (int i = 0; i < 48; i++) {
      char want[65536];
      memset(want, 'a' + i % 26, sizeof want);
      assert_int_equal(sim_fs_pread(each[k], f, chunk, sizeof chunk, (int64_t)i * 65536), 65536);
      assert_memory_equal(chunk, want, sizeof want);
    }
    sim_fs_close(each[k], f);
  }
  assert_int_equal(sim_fs_unlink(fs, "/big"), OS_OK);
  sim_fs_free(fs);
  sim_fs_free(copy);
}

static void zero_tail_takes_no_memory(void **state) {
  (void)state;
  static const char zeros[16384];
  sim_fs *fs = mk(1 << 20);
  os_file *f;
  assert_int_equal(sim_fs_open(fs, "/r", OS_O_WRITE | OS_O_CREATE, 0600, &f), OS_OK);
  for (int64_t off = 0; off < 320 * 1024; off += (int64_t)sizeof zeros)
    assert_int_equal(sim_fs_pwrite(fs, f, zeros, sizeof zeros, off), (int64_t)sizeof zeros);
  assert_true(sim_fs_held_bytes(fs) < 4096);
  assert_int_equal(sim_fs_used(fs), 320 * 1024);
  os_stat st;
  assert_int_equal(sim_fs_fstat(fs, f, &st), OS_OK);
  assert_int_equal(st.size, 320 * 1024);
  char buf[64];
  memset(buf, 'q', sizeof buf);
  assert_int_equal(sim_fs_pread(fs, f, buf, sizeof buf, 320 * 1024 - 10), 10);
  assert_memory_equal(buf, zeros, 10);
  assert_int_equal(sim_fs_sync(fs, f), OS_OK);

  /* A non-zero byte inside the tail holds the bytes up to it. */
  write_str(fs, f, "x", 100000);
  assert_true(sim_fs_held_bytes(fs) >= 100001);
  assert_int_equal(sim_fs_pread(fs, f, buf, 4, 99998), 4);
  assert_memory_equal(buf, "\0\0x\0", 4);

  /* The power cut puts back the synced image: all zeros. */
  assert_int_equal(sim_fs_truncate(fs, f, 5), OS_OK);
  sim_fs_crash(fs);
  sim_fs_close(fs, f);
  assert_int_equal(sim_fs_open(fs, "/r", OS_O_READ | OS_O_WRITE, 0, &f), OS_OK);
  assert_int_equal(sim_fs_fstat(fs, f, &st), OS_OK);
  assert_int_equal(st.size, 320 * 1024);
  assert_int_equal(sim_fs_used(fs), 320 * 1024);
  for (int64_t off = 0; off < st.size; off += 4096) {
    char blk[4096];
    assert_int_equal(sim_fs_pread(fs, f, blk, sizeof blk, off), 4096);
    assert_memory_equal(blk, zeros, sizeof blk);
  }

  /* Held bytes, then a zero tail, in a copy: the same bytes. */
  write_str(fs, f, "head", 0);
  assert_int_equal(sim_fs_sync(fs, f), OS_OK);
  sim_fs_close(fs, f);
  sim_fs *copy = NULL;
  assert_int_equal(sim_fs_copy(fs, 8, &copy), OS_OK);
  assert_true(sim_fs_held_bytes(copy) < 100000); /* the tail past the old 'x' block stays */
  assert_int_equal(sim_fs_open(copy, "/r", OS_O_READ, 0, &f), OS_OK);
  assert_int_equal(sim_fs_fstat(copy, f, &st), OS_OK);
  assert_int_equal(st.size, 320 * 1024);
  assert_int_equal(sim_fs_pread(copy, f, buf, 6, 0), 6);
  assert_memory_equal(buf, "head\0\0", 6);
  assert_int_equal(sim_fs_pread(copy, f, buf, 8, 300000), 8);
  assert_memory_equal(buf, zeros, 8);
  sim_fs_close(copy, f);
  sim_fs_free(copy);
  sim_fs_free(fs);
}

/* issue #15: a log of generated lines keeps their lengths, not their bytes,
 * and reads exactly as the same lines appended as bytes. */
static void test_line(uint32_t key, int64_t no, size_t len, char *out) {
  for (size_t i = 0; i + 1 < len; i++) out[i] = (char)('A' + (key * 7 + (uint64_t)no + i) % 26);
  out[len - 1] = '\n';
}

/* Every read of the generated file g equals the plain file p: the whole,
 * and chunks of odd sizes at odd offsets that cut lines anywhere. */
static void same_bytes(sim_fs *gfs, const char *g, sim_fs *pfs, const char *p) {
  os_file *a, *b;
  os_stat sa, sb;
  assert_int_equal(sim_fs_open(gfs, g, OS_O_READ, 0, &a), OS_OK);
  assert_int_equal(sim_fs_open(pfs, p, OS_O_READ, 0, &b), OS_OK);
  assert_int_equal(sim_fs_fstat(gfs, a, &sa), OS_OK);
  assert_int_equal(sim_fs_fstat(pfs, b, &sb), OS_OK);
  assert_int_equal(sa.size, sb.size);
  static char x[1 << 17], y[1 << 17];
  assert_true(sa.size <= (int64_t)sizeof x);
  assert_int_equal(sim_fs_pread(gfs, a, x, sizeof x, 0), sa.size);
  assert_int_equal(sim_fs_pread(pfs, b, y, sizeof y, 0), sb.size);
  assert_memory_equal(x, y, (size_t)sa.size);
  uint64_t r = 12345;
  for (int i = 0; i < 400; i++) {
    r = r * 6364136223846793005ull + 1442695040888963407ull;
    int64_t off = (int64_t)((r >> 33) % (uint64_t)(sa.size + 10));
    size_t len = (size_t)((r >> 13) % 9000);
    int64_t got = sim_fs_pread(gfs, a, x, len, off);
    assert_int_equal(got, sim_fs_pread(pfs, b, y, len, off));
    if (got > 0) assert_memory_equal(x, y, (size_t)got);
  }
  sim_fs_close(gfs, a);
  sim_fs_close(pfs, b);
}

static void generated_lines_read_as_written(void **state) {
  (void)state;
  sim_fs *gfs = mk(1 << 20), *pfs = mk(1 << 20);
  char line[SIM_FS_LINE_MAX];
  int64_t total = 0;
  for (int64_t no = 1; no <= 700; no++) {
    size_t len = 1 + (size_t)((no * 37) % 190); /* 1..190 bytes: a bare "\n" too */
    if (no == 333) len = 5000;                /* one line longer than most reads */
    assert_int_equal(sim_fs_append_line(gfs, "/log", test_line, 3, no, len), OS_OK);
    test_line(3, no, len, line);
    assert_int_equal(sim_fs_append(pfs, "/log", line, len, 1), OS_OK);
    total += (int64_t)len;
  }
  same_bytes(gfs, "/log", pfs, "/log");
  assert_int_equal(sim_fs_used(gfs), total);
  assert_true(sim_fs_held_bytes(gfs) * 10 < (uint64_t)total); /* 2 bytes a line, not ~100 */

  /* Over quota: nothing written. */
  sim_fs *tiny = mk(100);
  assert_int_equal(sim_fs_append_line(tiny, "/log", test_line, 3, 1, 60), OS_OK);
  assert_int_equal(sim_fs_append_line(tiny, "/log", test_line, 3, 2, 60), OS_ENOSPC);
  assert_int_equal(sim_fs_used(tiny), 60);
  assert_int_equal(sim_fs_append_line(tiny, "/log", test_line, 3, 2, 0), OS_EINVAL);
  sim_fs_free(tiny);

  /* A power cut loses nothing: every line was synced. A copy (a disk image)
   * holds the same bytes, still as lengths; so does the file renamed. */
  sim_fs_crash(gfs);
  same_bytes(gfs, "/log", pfs, "/log");
  sim_fs *copy = NULL;
  assert_int_equal(sim_fs_copy(gfs, 9, &copy), OS_OK);
  assert_true(sim_fs_held_bytes(copy) * 10 < (uint64_t)total);
  same_bytes(copy, "/log", pfs, "/log");
  assert_int_equal(sim_fs_rename(copy, "/log", "/log.1"), OS_OK);
  same_bytes(copy, "/log.1", pfs, "/log");

  /* A line out of sequence, or of another key, turns the file into an
   * ordinary one with the same bytes, and appends go on from there. */
  assert_int_equal(sim_fs_append_line(copy, "/log.1", test_line, 4, 701, 50), OS_OK);
  assert_int_equal(sim_fs_append_line(gfs, "/log", test_line, 3, 705, 50), OS_OK);
  test_line(3, 705, 50, line);
  assert_int_equal(sim_fs_append(pfs, "/log", line, 50, 1), OS_OK);
  same_bytes(gfs, "/log", pfs, "/log");
  assert_true(sim_fs_held_bytes(gfs) >= (uint64_t)total);
  assert_int_equal(sim_fs_append_line(gfs, "/log", test_line, 3, 706, 40), OS_OK);
  test_line(3, 706, 40, line);
  assert_int_equal(sim_fs_append(pfs, "/log", line, 40, 1), OS_OK);
  same_bytes(gfs, "/log", pfs, "/log");
  test_line(4, 701, 50, line);
  assert_int_equal(sim_fs_append(pfs, "/other", line, 50, 1), OS_OK);
  os_file *f;
  char buf[64];
  assert_int_equal(sim_fs_open(copy, "/log.1", OS_O_READ, 0, &f), OS_OK);
  assert_int_equal(sim_fs_pread(copy, f, buf, 50, total), 50);
  assert_memory_equal(buf, line, 50);
  sim_fs_close(copy, f);
  sim_fs_free(copy);
  sim_fs_free(gfs);
  sim_fs_free(pfs);
}

/* Writes, truncates and power cuts on a generated file behave as on the
 * same bytes written plainly (it is turned into one first). */
static void generated_lines_then_writes(void **state) {
  (void)state;
  for (int op = 0; op < 4; op++) {
    sim_fs *gfs = mk(1 << 20), *pfs = mk(1 << 20);
    char line[256];
    for (int64_t no = 10; no < 200; no++) {
      size_t len = 20 + (size_t)(no % 50);
      assert_int_equal(sim_fs_append_line(gfs, "/log", test_line, 1, no, len), OS_OK);
      test_line(1, no, len, line);
      assert_int_equal(sim_fs_append(pfs, "/log", line, len, 1), OS_OK);
    }
    os_file *a, *b;
    assert_int_equal(sim_fs_open(gfs, "/log", OS_O_READ | OS_O_WRITE, 0, &a), OS_OK);
    assert_int_equal(sim_fs_open(pfs, "/log", OS_O_READ | OS_O_WRITE, 0, &b), OS_OK);
    if (op == 0) { /* a write in the middle, not synced, then a power cut */
      write_str(gfs, a, "OVERWRITTEN", 777);
      write_str(pfs, b, "OVERWRITTEN", 777);
      same_bytes(gfs, "/log", pfs, "/log");
      sim_fs_crash(gfs);
      sim_fs_crash(pfs);
    } else if (op == 1) { /* copytruncate's truncate, then a power cut */
      assert_int_equal(sim_fs_truncate(gfs, a, 0), OS_OK);
      assert_int_equal(sim_fs_truncate(pfs, b, 0), OS_OK);
      sim_fs_crash(gfs);
      sim_fs_crash(pfs);
    } else if (op == 2) { /* cut inside a line, synced */
      assert_int_equal(sim_fs_truncate(gfs, a, 1001), OS_OK);
      assert_int_equal(sim_fs_truncate(pfs, b, 1001), OS_OK);
      assert_int_equal(sim_fs_sync(gfs, a), OS_OK);
      assert_int_equal(sim_fs_sync(pfs, b), OS_OK);
    } else { /* truncated to nothing and synced: lines may start again */
      assert_int_equal(sim_fs_truncate(gfs, a, 0), OS_OK);
      assert_int_equal(sim_fs_truncate(pfs, b, 0), OS_OK);
      assert_int_equal(sim_fs_sync(gfs, a), OS_OK);
      assert_int_equal(sim_fs_sync(pfs, b), OS_OK);
      assert_int_equal(sim_fs_append_line(gfs, "/log", test_line, 1, 500, 30), OS_OK);
      test_line(1, 500, 30, line);
      assert_int_equal(sim_fs_append(pfs, "/log", line, 30, 1), OS_OK);
      assert_true(sim_fs_held_bytes(gfs) < 2048);
    }
    sim_fs_close(gfs, a);
    sim_fs_close(pfs, b);
    same_bytes(gfs, "/log", pfs, "/log");
    assert_int_equal(sim_fs_used(gfs), sim_fs_used(pfs));
    sim_fs_free(gfs);
    sim_fs_free(pfs);
  }
}

/* sim_fs_generation moves with every change of names, sizes, modes or
 * space, and stays put for reads: the simulator's space check after every
 * event skips itself while it stays put (sim_ledger.c), so a change that
 * did not move it would hide a violation. */
static void generation_moves_with_every_change(void **state) {
  (void)state;
  sim_fs *fs = mk(1 << 20);
  os_file *f = NULL, *r = NULL;
  os_stat st;
  char buf[8];
  uint64_t g = sim_fs_generation(fs);
#define MOVED(call)                                   \
  do {                                                \
    (void)(call);                                     \
    assert_true(sim_fs_generation(fs) > g);           \
    g = sim_fs_generation(fs);                        \
  } while (0)
#define STILL(call)                                   \
  do {                                                \
    (void)(call);                                     \
    assert_true(sim_fs_generation(fs) == g);          \
  } while (0)
  MOVED(sim_fs_mkdirs(fs, "/d", 0755));
  MOVED(sim_fs_open(fs, "/d/a", OS_O_WRITE | OS_O_CREATE, 0644, &f));
  MOVED(sim_fs_pwrite(fs, f, "hello", 5, 0));
  MOVED(sim_fs_truncate(fs, f, 2));
  STILL(sim_fs_sync(fs, f));
  STILL(sim_fs_open(fs, "/d/a", OS_O_READ, 0, &r));
  STILL(sim_fs_pread(fs, r, buf, sizeof buf, 0));
  STILL(sim_fs_fstat(fs, r, &st));
  STILL(sim_fs_stat(fs, "/d/a", &st));
  STILL(sim_fs_close(fs, r));
  MOVED(sim_fs_append(fs, "/d/b", "x", 1, 0));
  MOVED(sim_fs_append_line(fs, "/d/c", test_line, 3, 1, 10));
  MOVED(sim_fs_rename(fs, "/d/b", "/d/b2"));
  MOVED(sim_fs_chmod(fs, "/d/b2", 0600));
  MOVED(sim_fs_chown(fs, "/d/b2", 7));
  MOVED(sim_fs_link(fs, "/d/b2", "/d/b3"));
  MOVED(sim_fs_symlink(fs, "/d/b2", "/d/s"));
  MOVED(sim_fs_mknod(fs, "/d/fifo", OS_TYPE_FIFO, 0600));
  MOVED(sim_fs_unlink(fs, "/d/a")); /* f still holds its space */
  MOVED(sim_fs_close(fs, f));        /* ...given back now */
  MOVED(sim_fs_open(fs, "/d/b2", OS_O_WRITE | OS_O_TRUNC, 0, &f));
  STILL(sim_fs_close(fs, f));
  MOVED(sim_fs_crash(fs));
  MOVED(sim_fs_rmdir(fs, "/d/none"));
#undef MOVED
#undef STILL
  sim_fs_free(fs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dirs_and_errors),
      cmocka_unit_test(rmdir_only_empty),
      cmocka_unit_test(read_write_and_unique_inodes),
      cmocka_unit_test(zero_tail_takes_no_memory),
      cmocka_unit_test(generated_lines_read_as_written),
      cmocka_unit_test(generated_lines_then_writes),
      cmocka_unit_test(spare_blocks_restore_the_same_bytes),
      cmocka_unit_test(large_file_in_its_own_mapping),
      cmocka_unit_test(open_handle_survives_unlink_and_rename),
      cmocka_unit_test(quota_enospc_writes_nothing),
      cmocka_unit_test(crash_reverts_unsynced_and_kills_handles),
      cmocka_unit_test(frozen_and_injected_faults),
      cmocka_unit_test(power_cut_before_nth_write),
      cmocka_unit_test(owners_and_listing),
      cmocka_unit_test(links_and_special_files),
      cmocka_unit_test(hook_swaps_inside_open),
      cmocka_unit_test(generation_moves_with_every_change)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
