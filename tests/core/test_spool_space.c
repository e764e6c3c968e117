/* Spool space (issue #3) on the simulator's in-memory fs, whose free space is
 * exact: the quota is never crossed (database + journal), a full spool says
 * SPOOL_EFULL and changes nothing, shedding removes the oldest records with
 * an exact persisted account, the account survives a reopen until reported,
 * the free-space floor is kept and its deficit is given back, and an I/O
 * error is SPOOL_EIO. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/spool.h"
#include "sim_fs.h"
#include "sim_os.h"

typedef struct fx {
  int64_t now;
  sim_rng rng;
  sim_fs *fs;
  sim_os so;
  os_shim os;
  spool *sp;
  spool_source_state src;
} fx;

#define DB "/var/lib/outpost/spool.db"

static fx *make(uint64_t disk) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  sim_rng_seed(&f->rng, 1, 1);
  assert_int_equal(sim_fs_create(1, disk, NULL, NULL, &f->fs), OS_OK);
  assert_int_equal(sim_fs_mkdirs(f->fs, "/var/lib/outpost", 0700), OS_OK);
  assert_int_equal(sim_fs_mkdirs(f->fs, "/var/log", 0755), OS_OK);
  sim_os_init(&f->so, &f->now, 0, &f->rng, f->fs, "h", "m");
  sim_os_shim(&f->so, &f->os);
  char err[256];
  assert_int_equal(spool_open(&f->os, DB, &f->sp, err, sizeof err), SPOOL_OK);
  assert_int_equal(spool_source_load(f->sp, "/var/log/app.log", &f->src), SPOOL_OK);
  return f;
}

static void destroy(fx *f) {
  spool_close(f->sp);
  sim_fs_free(f->fs);
  free(f);
}

static int64_t spool_files(fx *f) {
  os_stat st;
  int64_t n = 0;
  if (sim_fs_stat(f->fs, DB, &st) == OS_OK) n += st.size;
  if (sim_fs_stat(f->fs, DB "-journal", &st) == OS_OK) n += st.size;
  return n;
}

/* Appends batches of 100 lines of 1000 bytes until the spool refuses;
 * returns the number of lines spooled. */
static int64_t fill(fx *f, int64_t quota, int max_batches) {
  static char text[1000];
  memset(text, 'x', sizeof text);
  spool_line lines[100];
  for (int i = 0; i < 100; i++) lines[i] = (spool_line){text, sizeof text, 1000 + i};
  int64_t n = 0;
  for (int b = 0; b < max_batches; b++) {
    f->src.offset += 100 * 1001;
    int rc = spool_append(f->sp, &f->src, lines, 100);
    if (quota) assert_true(spool_files(f) <= quota);
    if (rc != SPOOL_OK) {
      assert_int_equal(rc, SPOOL_EFULL);
      f->src.offset -= 100 * 1001;
      return n;
    }
    n += 100;
  }
  return n;
}

static void quota_holds_and_shedding_is_exact(void **state) {
  (void)state;
  fx *f = make(64 * 1024 * 1024);
  int64_t quota = 2 * 1024 * 1024;
  spool_limits lim = {quota, 5, 1LL << 30};
  assert_int_equal(spool_set_limits(f->sp, &lim), SPOOL_OK);
  int64_t n = fill(f, quota, 1000);
  assert_true(n > 500);   /* most of the quota is usable */
  assert_true(n < 2100);  /* ... and no more */
  spool_counters c;
  spool_get_counters(f->sp, &c);
  assert_int_equal(c.spooled, n);
  assert_int_equal(c.bytes, n * 1000);
  /* The refused batch changed nothing. */
  assert_int_equal(c.next_seq, n + 1);
  /* Full by its quota, on a volume with room: a shed gives back the quota's
   * chunk, and says the quota (it said "full", the volume, when the
   * threshold left out the reserve file). */
  int64_t chunk = 0;
  spool_shed_reason why = SPOOL_SHED_IO;
  assert_int_equal(spool_shed_plan(f->sp, &chunk, &why), SPOOL_OK);
  assert_int_equal(chunk, SPOOL_SHED_CHUNK(quota));
  assert_int_equal(why, SPOOL_SHED_QUOTA);

  spool_shed_entry e;
  /* 1032 bytes accounted per record (text + overhead): 97 records cover 100,000. */
  assert_int_equal(spool_shed(f->sp, 100 * 1000, SPOOL_SHED_QUOTA, 42, &e), SPOOL_OK);
  assert_int_equal(e.first_seq, 1);
  assert_int_equal(e.records, 97);
  assert_int_equal(e.last_seq, e.records);
  assert_int_equal(e.bytes, e.records * 1000);
  assert_int_equal(e.ts_first_ms, 1000);
  assert_int_equal(e.ts_last_ms, 1096);
  assert_int_equal(e.reason, SPOOL_SHED_QUOTA);
  spool_get_counters(f->sp, &c);
  assert_int_equal(c.shed, e.records);
  assert_int_equal(c.first_seq, e.records + 1);
  assert_int_equal(c.spooled + c.shed, n);
  /* Freed pages are reused: appending works again, within the quota. */
  assert_true(fill(f, quota, 1) == 100);

  /* The account survives a reopen until it is reported. */
  spool_close(f->sp);
  char err[256];
  assert_int_equal(spool_open(&f->os, DB, &f->sp, err, sizeof err), SPOOL_OK);
  spool_shed_entry got[4];
  int k = 0;
  assert_int_equal(spool_shed_pending(f->sp, got, 4, &k), SPOOL_OK);
  assert_int_equal(k, 1);
  assert_int_equal(got[0].records, e.records);
  assert_int_equal(got[0].bytes, e.bytes);
  assert_int_equal(got[0].at_ms, 42);
  spool_get_counters(f->sp, &c);
  assert_int_equal(c.shed, e.records);
  assert_int_equal(c.shed_reported, 0);
  assert_int_equal(spool_shed_reported(f->sp, got[0].id), SPOOL_OK);
  assert_int_equal(spool_shed_pending(f->sp, got, 4, &k), SPOOL_OK);
  assert_int_equal(k, 0);
  spool_get_counters(f->sp, &c);
  assert_int_equal(c.shed_reported, e.records);
  destroy(f);
}

/* spool_space's size (read from the file's header, and cached until the
 * next commit) is the file's committed size after every kind of change:
 * appends, acks, sheds, the floor's incremental vacuum, a reopen. A size
 * cached past a commit, or a header read wrongly, differs from the file. */
static void db_bytes_follow_every_commit(void **state) {
  (void)state;
  fx *f = make(8 * 1024 * 1024);
  spool_limits lim = {2 * 1024 * 1024, 5, 1LL << 30};
  assert_int_equal(spool_set_limits(f->sp, &lim), SPOOL_OK);
  spool_space_info si;
  os_stat st;
  int64_t acked = 0;
  for (int round = 0; round < 12; round++) {
    assert_true(fill(f, 0, 1 + round % 3) > 0);
    assert_int_equal(spool_space(f->sp, &si), SPOOL_OK);
    assert_int_equal(sim_fs_stat(f->fs, DB, &st), OS_OK);
    assert_int_equal(si.db_bytes, st.size);
    /* asked twice between commits: the cached answer is the same */
    spool_space_info again;
    assert_int_equal(spool_space(f->sp, &again), SPOOL_OK);
    assert_int_equal(again.db_bytes, si.db_bytes);
    acked += 150;
    assert_int_equal(spool_ack(f->sp, acked), SPOOL_OK);
    assert_int_equal(spool_space(f->sp, &si), SPOOL_OK);
    assert_int_equal(sim_fs_stat(f->fs, DB, &st), OS_OK);
    assert_int_equal(si.db_bytes, st.size);
  }
  /* A floor shed gives its pages back (incremental vacuum): the file
   * shrinks, and the size said shrinks with it. */
  int64_t before = si.db_bytes;
  spool_shed_entry e;
  assert_int_equal(spool_shed(f->sp, 1LL << 30, SPOOL_SHED_FLOOR, 1, &e), SPOOL_OK);
  assert_true(e.records > 0);
  assert_int_equal(spool_space(f->sp, &si), SPOOL_OK);
  assert_int_equal(sim_fs_stat(f->fs, DB, &st), OS_OK);
  assert_int_equal(si.db_bytes, st.size);
  assert_true(si.db_bytes < before);
  spool_close(f->sp);
  char err[256];
  assert_int_equal(spool_open(&f->os, DB, &f->sp, err, sizeof err), SPOOL_OK);
  assert_int_equal(spool_space(f->sp, &si), SPOOL_OK);
  assert_int_equal(si.db_bytes, st.size);
  destroy(f);
}

static void floor_is_kept_and_deficit_given_back(void **state) {
  (void)state;
  uint64_t disk = 16 * 1024 * 1024;
  fx *f = make(disk);
  spool_limits lim = {256LL * 1024 * 1024, 10, 1LL << 30}; /* floor: 1.6 MiB */
  assert_int_equal(spool_set_limits(f->sp, &lim), SPOOL_OK);
  /* Someone else takes 4 MiB of the 16. */
  static char big[1024 * 1024];
  for (int i = 0; i < 4; i++)
    assert_int_equal(sim_fs_append(f->fs, "/var/log/ballast", big, sizeof big, 1), OS_OK);
  fill(f, 0, 1000);
  uint64_t avail = 0, total = 0;
  assert_int_equal(sim_fs_free_space(f->fs, DB, &avail, &total), OS_OK);
  assert_true(avail >= disk / 10); /* the spool stopped above the floor */
  assert_true(avail < disk / 10 + 512 * 1024); /* ... not far above it */
  /* Full by the volume's floor, far under its quota: said so. */
  int64_t chunk = 0;
  spool_shed_reason why = SPOOL_SHED_IO;
  assert_int_equal(spool_shed_plan(f->sp, &chunk, &why), SPOOL_OK);
  assert_int_equal(chunk, SPOOL_SHED_CHUNK(lim.quota_bytes));
  assert_int_equal(why, SPOOL_SHED_FULL);
  spool_space_info si;
  assert_int_equal(spool_space(f->sp, &si), SPOOL_OK);
  assert_int_equal(si.deficit, 0);
  assert_int_equal(si.floor_bytes, (int64_t)(disk / 100 * 10));
  /* The ballast grows past the floor: the spool sees the deficit and gives
   * pages back by shedding its oldest records. */
  os_stat st;
  assert_int_equal(sim_fs_stat(f->fs, DB, &st), OS_OK);
  int64_t before = st.size;
  for (uint64_t left = avail - 100000; left > 0;) {
    size_t k = left > sizeof big ? sizeof big : (size_t)left;
    assert_int_equal(sim_fs_append(f->fs, "/var/log/ballast", big, k, 1), OS_OK);
    left -= k;
  }
  assert_int_equal(spool_space(f->sp, &si), SPOOL_OK);
  assert_true(si.deficit > 0);
  for (int i = 0; i < 400 && si.deficit > 0; i++) {
    spool_shed_entry e;
    assert_int_equal(spool_shed(f->sp, si.deficit, SPOOL_SHED_FLOOR, 1, &e), SPOOL_OK);
    if (e.records == 0) break;
    assert_int_equal(spool_space(f->sp, &si), SPOOL_OK);
  }
  assert_int_equal(si.deficit, 0);
  assert_int_equal(sim_fs_stat(f->fs, DB, &st), OS_OK);
  assert_true(st.size < before);
  spool_counters c;
  spool_get_counters(f->sp, &c);
  assert_true(c.shed > 0);
  assert_int_equal(c.shed_bytes, c.shed * 1000);
  destroy(f);
}

static void io_error_is_reported_as_eio(void **state) {
  (void)state;
  fx *f = make(64 * 1024 * 1024);
  assert_int_equal(fill(f, 0, 2), 200);
  sim_fs_fail_write(f->fs, 1, OS_EIO);
  static const char t[] = "hello";
  spool_line l = {t, 5, 1};
  f->src.offset += 6;
  assert_int_equal(spool_append(f->sp, &f->src, &l, 1), SPOOL_EIO);
  assert_int_equal(spool_last_error(f->sp), SPOOL_EIO);
  spool_counters c;
  spool_get_counters(f->sp, &c);
  assert_int_equal(c.spooled, 200);
  /* Next time it works, and shedding after an I/O error is accounted. */
  assert_int_equal(spool_append(f->sp, &f->src, &l, 1), SPOOL_OK);
  spool_shed_entry e;
  assert_int_equal(spool_shed(f->sp, 0, SPOOL_SHED_IO, 5, &e), SPOOL_OK);
  assert_int_equal(e.records, 1);
  assert_int_equal(e.first_seq, 1);
  destroy(f);
}

static void shed_log_stays_bounded(void **state) {
  (void)state;
  fx *f = make(64 * 1024 * 1024);
  assert_int_equal(fill(f, 0, 5), 500);
  for (int i = 0; i < SPOOL_MAX_SHED_LOG + 20; i++) {
    spool_shed_entry e;
    assert_int_equal(spool_shed(f->sp, 0, SPOOL_SHED_QUOTA, i, &e), SPOOL_OK);
    assert_int_equal(e.records, 1);
  }
  spool_shed_entry *got = calloc(SPOOL_MAX_SHED_LOG + 50, sizeof *got);
  int k = 0;
  assert_int_equal(spool_shed_pending(f->sp, got, SPOOL_MAX_SHED_LOG + 50, &k), SPOOL_OK);
  assert_int_equal(k, SPOOL_MAX_SHED_LOG);
  int64_t total = 0;
  for (int i = 0; i < k; i++) total += got[i].records;
  assert_int_equal(total, SPOOL_MAX_SHED_LOG + 20);
  assert_int_equal(got[k - 1].last_seq, SPOOL_MAX_SHED_LOG + 20);
  free(got);
  destroy(f);
}

/* Regression (found by tests/integration/disk_full.sh): once every entry was
 * reported and dropped, the next shedding got id 1 again, under the ids
 * already reported in this run, so it was never offered and the agent wedged
 * with shed > shed_reported. */
static void shed_after_full_report_is_offered(void **state) {
  (void)state;
  fx *f = make(64 * 1024 * 1024);
  assert_int_equal(fill(f, 0, 2), 200);
  spool_shed_entry e, got[4];
  int k = 0;
  for (int round = 0; round < 3; round++) {
    assert_int_equal(spool_shed(f->sp, 0, SPOOL_SHED_QUOTA, round, &e), SPOOL_OK);
    assert_int_equal(e.records, 1);
    assert_int_equal(spool_shed_pending(f->sp, got, 4, &k), SPOOL_OK);
    assert_int_equal(k, 1);
    assert_int_equal(got[0].first_seq, round + 1);
    assert_int_equal(spool_shed_reported(f->sp, got[0].id), SPOOL_OK);
    spool_counters c;
    spool_get_counters(f->sp, &c);
    assert_int_equal(c.shed, round + 1);
    assert_int_equal(c.shed_reported, round + 1);
  }
  destroy(f);
}

/* An entry offered in a report (maybe in flight) is never merged into: its
 * ack must not count records the cloud did not get. */
static void offered_entry_is_not_merged_into(void **state) {
  (void)state;
  fx *f = make(64 * 1024 * 1024);
  assert_int_equal(fill(f, 0, 5), 500);
  spool_shed_entry e;
  for (int i = 0; i < SPOOL_MAX_SHED_LOG; i++)
    assert_int_equal(spool_shed(f->sp, 0, SPOOL_SHED_QUOTA, i, &e), SPOOL_OK);
  spool_shed_entry *got = calloc(SPOOL_MAX_SHED_LOG + 8, sizeof *got);
  assert_non_null(got);
  int k = 0;
  assert_int_equal(spool_shed_pending(f->sp, got, SPOOL_MAX_SHED_LOG + 8, &k), SPOOL_OK);
  assert_int_equal(k, SPOOL_MAX_SHED_LOG);
  int64_t offered = 0;
  for (int i = 0; i < k; i++) offered += got[i].records;
  int64_t offered_id = got[k - 1].id;
  /* While that report is in flight, two more sheddings. */
  assert_int_equal(spool_shed(f->sp, 0, SPOOL_SHED_QUOTA, 1000, &e), SPOOL_OK);
  assert_int_equal(spool_shed(f->sp, 0, SPOOL_SHED_QUOTA, 1001, &e), SPOOL_OK);
  assert_int_equal(spool_shed_reported(f->sp, offered_id), SPOOL_OK);
  spool_counters c;
  spool_get_counters(f->sp, &c);
  assert_int_equal(c.shed_reported, offered);
  assert_int_equal(c.shed, offered + 2);
  assert_int_equal(spool_shed_pending(f->sp, got, 8, &k), SPOOL_OK);
  int64_t rest = 0;
  for (int i = 0; i < k; i++) rest += got[i].records;
  assert_int_equal(rest, 2);
  free(got);
  destroy(f);
}

/* Regression (found by outpost-sim run scenarios/disk-full.json --real 3 on
 * real tmpfs volumes): under the free-space floor max_page_count is the
 * file's current size, so once the unreported shed log has filled its last
 * page, a shed whose deletes free no whole page could not add its log row:
 * SPOOL_EFULL at every step, "cannot shed" logged each time, the records
 * kept. The shed must go through (and the file not end up larger). */
static void shed_under_floor_with_a_full_log_page(void **state) {
  (void)state;
  fx *f = make(16 * 1024 * 1024);
  spool_limits lim = {4 * 1024 * 1024, 5, 1LL << 30};
  assert_int_equal(spool_set_limits(f->sp, &lim), SPOOL_OK);
  static char texts[50][100];
  spool_line lines[50];
  for (int b = 0; b < 8; b++) {
    for (int i = 0; i < 50; i++) {
      for (int k = 0; k < 100; k++) texts[i][k] = (char)('a' + (int)(sim_rng_u64(&f->rng) % 26));
      lines[i] = (spool_line){texts[i], 100, 1000 + i};
    }
    f->src.offset += 50 * 101;
    assert_int_equal(spool_append(f->sp, &f->src, lines, 50), SPOOL_OK);
  }
  /* Unreported shed-log entries, one record each (a cloud outage) */
  spool_shed_entry e;
  for (int i = 0; i < 150; i++) {
    assert_int_equal(spool_shed(f->sp, 1, SPOOL_SHED_QUOTA, 1000 + i, &e), SPOOL_OK);
    assert_int_equal(e.records, 1);
  }
  /* Another program takes the volume under its floor (800 KiB of 16 MiB). */
  uint64_t avail = 0, total = 0;
  assert_int_equal(sim_fs_free_space(f->fs, "/var/lib/outpost", &avail, &total), OS_OK);
  static char zeros[65536];
  for (uint64_t more = avail - 300 * 1024; more > 0;) {
    size_t n = more > sizeof zeros ? sizeof zeros : (size_t)more;
    assert_int_equal(sim_fs_append(f->fs, "/var/log/ballast", zeros, n, 0), OS_OK);
    more -= n;
  }
  spool_space_info si;
  assert_int_equal(spool_space(f->sp, &si), SPOOL_OK);
  assert_true(si.deficit > 0);
  int64_t before = spool_files(f);
  /* Shed one record at a time, as the agent's floor loop would on a spool
   * of small records: every one must succeed until the spool is empty. */
  spool_counters c;
  for (int i = 0; i < 400; i++) {
    spool_get_counters(f->sp, &c);
    if (c.spooled == 0) break;
    assert_int_equal(spool_space(f->sp, &si), SPOOL_OK);
    os_stat db_before, db_after;
    assert_int_equal(sim_fs_stat(f->fs, DB, &db_before), OS_OK);
    int rc = spool_shed(f->sp, 1, SPOOL_SHED_FLOOR, 5000 + i, &e);
    if (rc != SPOOL_OK) fail_msg("shed %d under the floor: %s", i, spool_errmsg(f->sp));
    /* under the floor the database never ends a shed larger (floor_held) */
    assert_int_equal(sim_fs_stat(f->fs, DB, &db_after), OS_OK);
    if (db_after.size > db_before.size)
      fail_msg("shed %d under the floor grew spool.db from %lld to %lld bytes", i, (long long)db_before.size,
               (long long)db_after.size);
  }
  spool_get_counters(f->sp, &c);
  assert_int_equal(c.spooled, 0);
  assert_int_equal(c.shed, 400);
  assert_true(spool_files(f) <= before);
  destroy(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(quota_holds_and_shedding_is_exact),
      cmocka_unit_test(db_bytes_follow_every_commit),
      cmocka_unit_test(floor_is_kept_and_deficit_given_back),
      cmocka_unit_test(io_error_is_reported_as_eio),
      cmocka_unit_test(shed_log_stays_bounded),
      cmocka_unit_test(shed_after_full_report_is_offered),
      cmocka_unit_test(offered_entry_is_not_merged_into),
      cmocka_unit_test(shed_under_floor_with_a_full_log_page),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
