/* The SQLite VFS's journal buffer (issue #14), on the simulator's exact
 * in-memory fs: a transaction's journal reaches the OS as one pwrite at its
 * sync; held bytes are read and sized as if written; a write that grows the
 * file is not held, so "no space" comes from that write; a failed flush keeps
 * what it held; a truncate clips it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/vfs.h"
#include "sim_fs.h"
#include "sim_os.h"

/* The simulator's shim, with open and pwrite counted for files whose path
 * ends in -journal. The shim's context is f->so, so the counters find the
 * fixture around it. */
typedef struct fx {
  int64_t now;
  sim_rng rng;
  sim_fs *fs;
  sim_os so;
  os_shim inner;
  os_shim os;
  os_file *journal;
  int journal_pwrites;
  vfs_instance vfs;
} fx;

static fx *fx_of(void *ctx) { return (fx *)(void *)((char *)ctx - offsetof(fx, so)); }

static int count_open(void *ctx, const char *path, int flags, uint32_t mode, os_file **out) {
  fx *f = fx_of(ctx);
  int rc = f->inner.open(ctx, path, flags, mode, out);
  size_t n = strlen(path);
  if (rc == OS_OK && n > 8 && strcmp(path + n - 8, "-journal") == 0) f->journal = *out;
  return rc;
}

static int64_t count_pwrite(void *ctx, os_file *file, const void *buf, size_t len, int64_t off) {
  fx *f = fx_of(ctx);
  if (file == f->journal) f->journal_pwrites++;
  return f->inner.pwrite(ctx, file, buf, len, off);
}

static fx *make(uint64_t disk) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  sim_rng_seed(&f->rng, 1, 1);
  assert_int_equal(sim_fs_create(1, disk, NULL, NULL, &f->fs), OS_OK);
  assert_int_equal(sim_fs_mkdirs(f->fs, "/s", 0700), OS_OK);
  sim_os_init(&f->so, &f->now, 0, &f->rng, f->fs, "h", "m");
  sim_os_shim(&f->so, &f->inner);
  assert_ptr_equal(f->inner.ctx, &f->so);
  f->os = f->inner;
  f->os.open = count_open;
  f->os.pwrite = count_pwrite;
  assert_int_equal(vfs_register(&f->vfs, &f->os), VFS_OK);
  return f;
}

static void destroy(fx *f) {
  vfs_unregister(&f->vfs);
  sim_fs_free(f->fs);
  free(f);
}

/* ---- through SQLite ------------------------------------------------------ */

static sqlite3 *open_db(fx *f) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2("/s/t.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                   f->vfs.name),
                   SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=DELETE;"
                                " PRAGMA synchronous=FULL;"
                                " CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB);",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  return db;
}

/* Rows 1..n of 1,000 bytes, in one transaction. */
static void insert_rows(sqlite3 *db, int from, int n) {
  char sql[160];
  snprintf(sql, sizeof sql,
           "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i+1 FROM c WHERE i<%d)"
           " INSERT OR REPLACE INTO t SELECT i, zeroblob(1000) FROM c",
           from, from + n - 1);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static void a_transaction_journal_is_one_pwrite(void **state) {
  (void)state;
  fx *f = make(64 * 1024 * 1024);
  sqlite3 *db = open_db(f);
  /* A first, larger transaction makes the journal file that later ones
   * overwrite (exclusive locking keeps it, its header zeroed). */
  insert_rows(db, 1, 200);
  assert_int_equal(sqlite3_exec(db, "UPDATE t SET v=zeroblob(999) WHERE id<=100", NULL, NULL,
                                NULL),
                   SQLITE_OK);
  /* Now a transaction that changes 8 pages: without the buffer it is 3 per
   * page plus the header, the record count and the zeroed header (27). */
  f->journal_pwrites = 0;
  assert_int_equal(sqlite3_exec(db, "UPDATE t SET v=zeroblob(998) WHERE id<=30", NULL, NULL,
                                NULL),
                   SQLITE_OK);
  print_message("journal pwrites for one 8-page transaction: %d\n", f->journal_pwrites);
  assert_true(f->journal_pwrites >= 1);
  assert_true(f->journal_pwrites <= 3);
  /* And the data is what was written, after a reopen. */
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
  db = open_db(f);
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), sum(length(v)) FROM t", -1, &q, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(q, 0), 200);
  assert_int_equal(sqlite3_column_int64(q, 1), 30 * 998 + 70 * 999 + 100 * 1000);
  sqlite3_finalize(q);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
  destroy(f);
}

/* ---- the VFS's methods directly ------------------------------------------ */

typedef struct jfile {
  sqlite3_file *h;
  char mem[1024];
} jfile;

/* Opens /s/j-journal as SQLite's main journal, after making it size bytes of
 * 'o' on disk. */
static sqlite3_file *open_journal(fx *f, int64_t size) {
  char *fill = malloc((size_t)size + 1);
  assert_non_null(fill);
  memset(fill, 'o', (size_t)size);
  assert_int_equal(sim_fs_append(f->fs, "/s/j-journal", fill, (size_t)size, 1), OS_OK);
  free(fill);
  sqlite3_file *h = calloc(1, (size_t)f->vfs.base.szOsFile);
  assert_non_null(h);
  int out = 0;
  assert_int_equal(f->vfs.base.xOpen(&f->vfs.base, "/s/j-journal", h,
                                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_JOURNAL, &out),
                   SQLITE_OK);
  return h;
}

static void close_journal(sqlite3_file *h) {
  h->pMethods->xClose(h);
  free(h);
}

/* What the simulated disk holds at off, bypassing the VFS. */
static void disk_bytes(fx *f, int64_t off, char *out, size_t n) {
  os_file *raw = NULL;
  assert_int_equal(f->inner.open(f->inner.ctx, "/s/j-journal", OS_O_READ, 0, &raw), OS_OK);
  assert_int_equal(f->inner.pread(f->inner.ctx, raw, out, n, off), (int64_t)n);
  f->inner.close(f->inner.ctx, raw);
}

/* The 4 KiB page at off reads back through the VFS, the next sync succeeds,
 * and then the disk holds it. */
static void still_held_then_flushed(fx *f, sqlite3_file *h, const char *page, int64_t off) {
  char got[4096], disk[4096];
  assert_int_equal(h->pMethods->xRead(h, got, sizeof got, off), SQLITE_OK);
  assert_memory_equal(got, page, sizeof got);
  assert_int_equal(h->pMethods->xSync(h, SQLITE_SYNC_NORMAL), SQLITE_OK);
  disk_bytes(f, off, disk, sizeof disk);
  assert_memory_equal(disk, page, sizeof disk);
}

static void held_bytes_are_read_and_sized(void **state) {
  (void)state;
  fx *f = make(1024 * 1024);
  sqlite3_file *h = open_journal(f, 20000);
  const sqlite3_io_methods *m = h->pMethods;
  char a[100], b[4096], got[4196], disk[4196];
  memset(a, 'a', sizeof a);
  memset(b, 'b', sizeof b);
  f->journal_pwrites = 0;
  assert_int_equal(m->xWrite(h, a, sizeof a, 8000), SQLITE_OK);
  assert_int_equal(m->xWrite(h, b, sizeof b, 8100), SQLITE_OK);
  assert_int_equal(f->journal_pwrites, 0);
  /* The disk still has the old bytes; a read through the VFS has the new. */
  disk_bytes(f, 8000, disk, sizeof disk);
  assert_int_equal(disk[0], 'o');
  assert_int_equal(m->xRead(h, got, sizeof got, 8000), SQLITE_OK);
  assert_memory_equal(got, a, sizeof a);
  assert_memory_equal(got + 100, b, sizeof b);
  /* A read across the held range's edge: old bytes, then held ones. */
  assert_int_equal(m->xRead(h, got, 200, 7950), SQLITE_OK);
  assert_int_equal(got[0], 'o');
  assert_int_equal(got[49], 'o');
  assert_int_equal(got[50], 'a');
  /* A rewrite inside the held range stays held. */
  assert_int_equal(m->xWrite(h, "HDR", 3, 8000), SQLITE_OK);
  assert_int_equal(f->journal_pwrites, 0);
  sqlite3_int64 size = 0;
  assert_int_equal(m->xFileSize(h, &size), SQLITE_OK);
  assert_int_equal(size, 20000);
  /* The sync sends it all as one pwrite. */
  assert_int_equal(m->xSync(h, SQLITE_SYNC_NORMAL), SQLITE_OK);
  assert_int_equal(f->journal_pwrites, 1);
  disk_bytes(f, 8000, disk, sizeof disk);
  assert_memory_equal(disk, "HDR", 3);
  assert_memory_equal(disk + 3, a + 3, sizeof a - 3);
  assert_memory_equal(disk + 100, b, sizeof b);
  close_journal(h);
  destroy(f);
}

static void growing_write_fails_at_the_write(void **state) {
  (void)state;
  fx *f = make(256 * 1024);
  sqlite3_file *h = open_journal(f, 8192);
  const sqlite3_io_methods *m = h->pMethods;
  /* Another program takes every free byte. */
  os_stat st;
  int64_t used = 0;
  for (int i = 0; i < 1000; i++) {
    static const char chunk[4096];
    if (sim_fs_append(f->fs, "/s/other", chunk, sizeof chunk, 1) != OS_OK) break;
    used += 4096;
  }
  assert_true(used > 0);
  assert_int_equal(sim_fs_stat(f->fs, "/s/other", &st), OS_OK);
  char page[4096];
  memset(page, 'p', sizeof page);
  /* Inside the file: held, no space needed. */
  assert_int_equal(m->xWrite(h, page, sizeof page, 0), SQLITE_OK);
  assert_int_equal(m->xWrite(h, page, sizeof page, 4096), SQLITE_OK);
  /* Past its end: refused now, by this write, as "full". */
  assert_int_equal(m->xWrite(h, page, sizeof page, 8192), SQLITE_FULL);
  /* What was held is still there and still flushes (it needs no space). */
  still_held_then_flushed(f, h, page, 4096);
  close_journal(h);
  destroy(f);
}

static void failed_flush_keeps_what_it_held(void **state) {
  (void)state;
  fx *f = make(1024 * 1024);
  sqlite3_file *h = open_journal(f, 16384);
  const sqlite3_io_methods *m = h->pMethods;
  char page[4096];
  memset(page, 'q', sizeof page);
  assert_int_equal(m->xWrite(h, page, sizeof page, 4096), SQLITE_OK);
  sim_fs_fail_write(f->fs, 1, OS_EIO);
  int rc = m->xSync(h, SQLITE_SYNC_NORMAL);
  assert_int_not_equal(rc, SQLITE_OK);
  assert_int_equal(f->vfs.last_os_error, OS_EIO);
  /* A rollback reads the journal back: the held page must still be there. */
  still_held_then_flushed(f, h, page, 4096);
  close_journal(h);
  destroy(f);
}

static void truncate_clips_what_is_held(void **state) {
  (void)state;
  fx *f = make(1024 * 1024);
  sqlite3_file *h = open_journal(f, 16384);
  const sqlite3_io_methods *m = h->pMethods;
  char page[4096];
  memset(page, 't', sizeof page);
  assert_int_equal(m->xWrite(h, page, sizeof page, 8192), SQLITE_OK);
  assert_int_equal(m->xTruncate(h, 10000), SQLITE_OK);
  sqlite3_int64 size = 0;
  assert_int_equal(m->xFileSize(h, &size), SQLITE_OK);
  assert_int_equal(size, 10000);
  char got[4096];
  assert_int_equal(m->xRead(h, got, sizeof got, 8192), SQLITE_IOERR_SHORT_READ);
  assert_memory_equal(got, page, 10000 - 8192);
  assert_int_equal(got[10000 - 8192], 0); /* SQLite's rule: the short tail is zeros */
  assert_int_equal(m->xSync(h, SQLITE_SYNC_NORMAL), SQLITE_OK);
  os_stat st;
  assert_int_equal(sim_fs_stat(f->fs, "/s/j-journal", &st), OS_OK);
  assert_int_equal(st.size, 10000);
  /* A truncate below the held range drops it all: nothing to flush. */
  assert_int_equal(m->xWrite(h, page, 1000, 5000), SQLITE_OK);
  assert_int_equal(m->xTruncate(h, 0), SQLITE_OK);
  f->journal_pwrites = 0;
  assert_int_equal(m->xSync(h, SQLITE_SYNC_NORMAL), SQLITE_OK);
  assert_int_equal(f->journal_pwrites, 0);
  assert_int_equal(sim_fs_stat(f->fs, "/s/j-journal", &st), OS_OK);
  assert_int_equal(st.size, 0);
  close_journal(h);
  destroy(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_transaction_journal_is_one_pwrite),
      cmocka_unit_test(held_bytes_are_read_and_sized),
      cmocka_unit_test(growing_write_fails_at_the_write),
      cmocka_unit_test(failed_flush_keeps_what_it_held),
      cmocka_unit_test(truncate_clips_what_is_held),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
