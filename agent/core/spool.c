/* spool.c - SQLite spool (see spool.h). */
#include "core/spool.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "core/vfs.h"

enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_INSERT,
  ST_SRC_GET,
  ST_SRC_NEW,
  ST_SRC_SAVE,
  ST_SCAN,
  ST_ACK,
  ST_COUNTERS,
  ST_SHED_SCAN,
  ST_SHED_SUM,
  ST_SHED_LOG_ADD,
  ST_SHED_LOG_LAST,
  ST_SHED_LOG_MERGE,
  ST_SHED_LOG_COUNT,
  ST_SHED_LOG_PENDING,
  ST_SHED_LOG_DROP,
  ST_PAGE_COUNT,
  ST_COUNT
};

static const char *const spool_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT] = "INSERT INTO records(seq, ts_ms, source_id, line) VALUES(?,?,?,?)",
    [ST_SRC_GET] = ("SELECT id, known, dev, ino, offset, skipping, fp, fp_len FROM sources"
                    " WHERE path = ?"),
    [ST_SRC_NEW] = ("INSERT INTO sources(path, known, dev, ino, offset, skipping, fp, fp_len)"
                    " VALUES(?,0,0,0,0,0,0,0)"),
    [ST_SRC_SAVE] = ("UPDATE sources SET known=1, dev=?, ino=?, offset=?, skipping=?, fp=?, fp_len=?"
                     " WHERE id=?"),
    [ST_SCAN] = ("SELECT r.seq, r.ts_ms, s.path, r.line FROM records r JOIN sources s "
                 "ON s.id = r.source_id WHERE r.seq >= ? ORDER BY r.seq LIMIT ?"),
    [ST_ACK] = "DELETE FROM records WHERE seq <= ?",
    [ST_COUNTERS] = ("UPDATE counters SET next_seq=?, acked=?, shed=?, shed_bytes=?,"
                     " shed_events=?, shed_reported=? WHERE id=1"),
    [ST_SHED_SCAN] = "SELECT seq, length(line) FROM records WHERE seq >= ? ORDER BY seq",
    [ST_SHED_SUM] = ("SELECT count(*), coalesce(sum(length(line)), 0), min(ts_ms), max(ts_ms)"
                     " FROM records WHERE seq <= ?"),
    /* Explicit id: an emptied table would hand out id 1 again (no
     * AUTOINCREMENT), under ids already reported in this run (?9). */
    [ST_SHED_LOG_ADD] = ("INSERT INTO shed_log(first_seq, last_seq, records, bytes, ts_first,"
                         " ts_last, at_ms, reason, id) VALUES(?,?,?,?,?,?,?,?,"
                         " max(coalesce((SELECT max(id) FROM shed_log), 0), ?) + 1)"),
    [ST_SHED_LOG_LAST] = "SELECT max(id) FROM shed_log",
    [ST_SHED_LOG_MERGE] = ("UPDATE shed_log SET last_seq=?, records=records+?, bytes=bytes+?,"
                           " ts_first=min(ts_first, ?), ts_last=max(ts_last, ?), at_ms=?,"
                           " reason=? WHERE id=?"),
    [ST_SHED_LOG_COUNT] = "SELECT count(*) FROM shed_log",
    [ST_SHED_LOG_PENDING] = ("SELECT id, first_seq, last_seq, records, bytes, ts_first, ts_last,"
                             " at_ms, reason FROM shed_log WHERE id > ? ORDER BY id LIMIT ?"),
    [ST_SHED_LOG_DROP] = "DELETE FROM shed_log WHERE id <= ?",
    [ST_PAGE_COUNT] = "PRAGMA page_count",
};

static const char spool_schema[] =
    "CREATE TABLE IF NOT EXISTS counters(id INTEGER PRIMARY KEY CHECK(id=1),"
    " next_seq INTEGER NOT NULL, acked INTEGER NOT NULL, shed INTEGER NOT NULL,"
    " shed_bytes INTEGER NOT NULL, shed_events INTEGER NOT NULL,"
    " shed_reported INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO counters VALUES(1, 1, 0, 0, 0, 0, 0);"
    "CREATE TABLE IF NOT EXISTS shed_log(id INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL, records INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " ts_first INTEGER NOT NULL, ts_last INTEGER NOT NULL, at_ms INTEGER NOT NULL,"
    " reason INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sources(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,"
    " known INTEGER NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
    " offset INTEGER NOT NULL, skipping INTEGER NOT NULL, fp INTEGER NOT NULL,"
    " fp_len INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS records(seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
    " source_id INTEGER NOT NULL, line BLOB NOT NULL);";

struct spool {
  vfs_instance vfs;
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  spool_counters c;
  const os_shim *os;
  char path[OS_PATH_MAX];
  spool_limits lim;
  int64_t outside; /* the agent's bytes held outside the database, in the quota */
  int64_t page_size;
  int64_t max_pages; /* the page limit last given to SQLite */
  /* page_count's answer and the pager's data version it was read at. */
  int64_t pages_cached;
  unsigned pages_version;
  int pages_known;
  int last_rc;
  char reserve_path[OS_PATH_MAX + 16];
  int reserve_held; /* the reserve file exists at full size */
  /* Shed-log entries the cloud stored but whose removal from the log could
   * not be committed yet (a volume full to the last byte): the next report
   * starts after them; a restart re-sends them (the cloud is idempotent). */
  int64_t sent_through_id;
  int64_t sent_unpersisted; /* their records, counted in shed_reported */
  int64_t offered_through_id; /* last entry read for a report (maybe in flight) */
  char errmsg[256];
};

/* The agent's own reserve file beside the database: on a volume others
 * filled to the last byte, SQLite cannot even write the journal a DELETE
 * needs, so shedding (and marking a report sent) could never happen. The
 * reserve is given up for exactly those space-freeing transactions and made
 * again when the volume has room above its floor. It counts in the quota. */
#define SPOOL_RESERVE_BYTES (256 * 1024)

static void reserve_make(spool *s) {
  static const char zeros[16384];
  os_file *f = NULL;
  if (s->os->open(s->os->ctx, s->reserve_path, OS_O_WRITE | OS_O_CREATE | OS_O_NOFOLLOW, 0600,
                  &f) != OS_OK)
    return;
  int ok = 1;
  for (int64_t off = 0; ok && off < SPOOL_RESERVE_BYTES; off += (int64_t)sizeof zeros)
    ok = s->os->pwrite(s->os->ctx, f, zeros, sizeof zeros, off) == (int64_t)sizeof zeros;
  if (ok) ok = s->os->sync(s->os->ctx, f) == OS_OK;
  s->os->close(s->os->ctx, f);
  if (!ok) s->os->unlink(s->os->ctx, s->reserve_path);
  s->reserve_held = ok;
}

/* Gives the reserve back to the volume; 1 when there was one to give. */
static int reserve_release(spool *s) {
  if (!s->reserve_held) return 0;
  s->reserve_held = 0;
  return s->os->unlink(s->os->ctx, s->reserve_path) == OS_OK;
}

static int spool_fail(spool *s, int rc, const char *what) {
  const char *detail = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
  snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what, detail);
  if ((rc & 0xff) == SQLITE_FULL) return s->last_rc = SPOOL_EFULL;
  if ((rc & 0xff) == SQLITE_NOMEM) return s->last_rc = SPOOL_ENOMEM;
  if ((rc & 0xff) == SQLITE_IOERR) return s->last_rc = SPOOL_EIO;
  return s->last_rc = SPOOL_EDB;
}

static int spool_ok(spool *s) { return s->last_rc = SPOOL_OK; }

static int run(spool *s, int which) {
  sqlite3_stmt *q = s->st[which];
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int load_counters(spool *s) {
  sqlite3_stmt *q = NULL;
  int rc = sqlite3_prepare_v2(s->db,
                              "SELECT next_seq, acked, shed, shed_bytes, shed_events, shed_reported"
                              " FROM counters WHERE id=1",
                              -1, &q, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    s->c.next_seq = sqlite3_column_int64(q, 0);
    s->c.acked = sqlite3_column_int64(q, 1);
    s->c.shed = sqlite3_column_int64(q, 2);
    s->c.shed_bytes = sqlite3_column_int64(q, 3);
    s->c.shed_events = sqlite3_column_int64(q, 4);
    s->c.shed_reported = sqlite3_column_int64(q, 5);
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_CORRUPT;
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_prepare_v2(s->db,
                          "SELECT count(*), coalesce(min(seq), 0), coalesce(sum(length(line)), 0)"
                          " FROM records",
                          -1, &q, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    s->c.spooled = sqlite3_column_int64(q, 0);
    s->c.first_seq = sqlite3_column_int64(q, 1);
    s->c.bytes = sqlite3_column_int64(q, 2);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(q);
  return rc;
}

/* Sets the page cache's limit to kib, its pages given back first. SQLite
 * makes a connection's first page allocation one bulk of
 * SQLITE_DEFAULT_PCACHE_INITSZ pages (20: 88 KiB at 4 KiB pages) and writes
 * into every one of them at once, so all are resident, where a spool in
 * steady state uses about 7. It frees the bulk when the cache is empty and
 * skips it when the limit is under 3 pages at that allocation: so the cache
 * is emptied under a 2-page limit, page 1 read alone, and the limit set
 * after; later pages are allocated as they are needed. Thousands of
 * simulated agents share one process (issue #15): 65 KiB each. Any error
 * is SQLite's (the pages are only a cache). */
static int cache_limit(spool *s, int64_t kib) {
  char sql[96];
  int rc = sqlite3_exec(s->db, "PRAGMA cache_size=2", NULL, NULL, NULL);
  if (rc != SQLITE_OK) return rc;
  sqlite3_db_release_memory(s->db);
  snprintf(sql, sizeof sql, "PRAGMA schema_version; PRAGMA cache_size=-%lld", (long long)kib);
  return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

int spool_open(const os_shim *os, const char *path, spool **out, char *err, size_t err_cap) {
  *out = NULL;
  spool *s = calloc(1, sizeof *s);
  if (!s) return SPOOL_ENOMEM;
  int ret = SPOOL_EDB;
  s->os = os;
  if (strlen(path) >= sizeof s->path) {
    snprintf(s->errmsg, sizeof s->errmsg, "spool path too long");
    goto fail;
  }
  snprintf(s->path, sizeof s->path, "%s", path);
  s->lim = (spool_limits){SPOOL_DEFAULT_QUOTA, 5, 1024LL * 1024 * 1024};
  if (vfs_register(&s->vfs, os) != VFS_OK) {
    snprintf(s->errmsg, sizeof s->errmsg, "cannot register the spool VFS");
    goto fail;
  }
  /* NOMUTEX: a spool is used by one thread at a time (the agent's loop, or
   * the simulator's worker that owns the host), so SQLite's per-connection
   * mutexes only cost (issue #14's profile: 4% of the drain's samples in
   * pthread_mutex_lock/unlock). */
  int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           s->vfs.name);
  if (rc != SQLITE_OK) {
    ret = spool_fail(s, rc, "cannot open the spool");
    goto fail;
  }
  /* EXCLUSIVE locking: the spool is private to this agent. DELETE journal with
   * synchronous=FULL: a committed transaction survives a crash. Incremental
   * auto-vacuum (takes effect only when the file is created) lets shedding
   * for the free-space floor give pages back to the volume. cache_limit
   * below caps SQLite's page cache at 256 KiB per agent (memory cap). */
  rc = sqlite3_exec(s->db,
                    "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA locking_mode=EXCLUSIVE;"
                    " PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;"
                    " PRAGMA temp_store=MEMORY;",
                    NULL, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, spool_schema, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    ret = spool_fail(s, rc, "cannot set up the spool");
    goto fail;
  }
  for (int i = 0; i < ST_COUNT; i++) {
    if (i >= ST_SHED_LOG_ADD && i <= ST_SHED_LOG_DROP) continue; /* shed_log_statements */
    rc = sqlite3_prepare_v3(s->db, spool_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
    if (rc != SQLITE_OK) {
      ret = spool_fail(s, rc, "cannot prepare spool statements");
      goto fail;
    }
  }
  rc = load_counters(s);
  if (rc != SQLITE_OK) {
    ret = spool_fail(s, rc, "cannot read spool counters");
    goto fail;
  }
  rc = cache_limit(s, 256);
  if (rc != SQLITE_OK) {
    ret = spool_fail(s, rc, "cannot set the spool's page cache");
    goto fail;
  }
  s->page_size = 4096;
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(s->db, "PRAGMA page_size", -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) >= 512)
    s->page_size = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  snprintf(s->reserve_path, sizeof s->reserve_path, "%s-reserve", path);
  os_stat rst;
  s->reserve_held = s->os->stat(s->os->ctx, s->reserve_path, &rst) == OS_OK &&
                    rst.size >= SPOOL_RESERVE_BYTES;
  /* Best effort: a volume whose free space cannot be read keeps the quota. */
  spool_space(s, NULL);
  *out = s;
  return SPOOL_OK;
fail:
  if (err && err_cap) snprintf(err, err_cap, "%s", s->errmsg);
  spool_close(s);
  return ret;
}

void spool_close(spool *s) {
  if (!s) return;
  for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
  if (s->db) sqlite3_close_v2(s->db);
  vfs_unregister(&s->vfs);
  free(s);
}

const char *spool_errmsg(const spool *s) { return s->errmsg; }

int spool_source_load(spool *s, const char *path, spool_source_state *st) {
  memset(st, 0, sizeof *st);
  for (int attempt = 0; attempt < 2; attempt++) {
    sqlite3_stmt *q = s->st[ST_SRC_GET];
    sqlite3_bind_text(q, 1, path, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
      st->id = sqlite3_column_int64(q, 0);
      st->known = sqlite3_column_int(q, 1);
      st->dev = (uint64_t)sqlite3_column_int64(q, 2);
      st->ino = (uint64_t)sqlite3_column_int64(q, 3);
      st->offset = sqlite3_column_int64(q, 4);
      st->skipping = sqlite3_column_int(q, 5);
      st->fp = (uint64_t)sqlite3_column_int64(q, 6);
      st->fp_len = sqlite3_column_int64(q, 7);
      sqlite3_reset(q);
      return SPOOL_OK;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) return spool_fail(s, rc, "cannot read source state");
    if (attempt == 1) break;
    q = s->st[ST_SRC_NEW];
    sqlite3_bind_text(q, 1, path, -1, SQLITE_TRANSIENT);
    rc = run(s, ST_SRC_NEW);
    if (rc != SQLITE_OK) return spool_fail(s, rc, "cannot add source");
  }
  return spool_fail(s, SQLITE_CORRUPT, "source row vanished");
}

static int bind_source(spool *s, const spool_source_state *st) {
  sqlite3_stmt *q = s->st[ST_SRC_SAVE];
  sqlite3_bind_int64(q, 1, (sqlite3_int64)st->dev);
  sqlite3_bind_int64(q, 2, (sqlite3_int64)st->ino);
  sqlite3_bind_int64(q, 3, st->offset);
  sqlite3_bind_int(q, 4, st->skipping);
  sqlite3_bind_int64(q, 5, (sqlite3_int64)st->fp);
  sqlite3_bind_int64(q, 6, st->fp_len);
  sqlite3_bind_int64(q, 7, st->id);
  return run(s, ST_SRC_SAVE);
}

int spool_source_save(spool *s, const spool_source_state *st) {
  int rc = bind_source(s, st);
  return rc == SQLITE_OK ? SPOOL_OK : spool_fail(s, rc, "cannot save source state");
}

static int write_counters(spool *s, const spool_counters *c) {
  sqlite3_stmt *q = s->st[ST_COUNTERS];
  sqlite3_bind_int64(q, 1, c->next_seq);
  sqlite3_bind_int64(q, 2, c->acked);
  sqlite3_bind_int64(q, 3, c->shed);
  sqlite3_bind_int64(q, 4, c->shed_bytes);
  sqlite3_bind_int64(q, 5, c->shed_events);
  sqlite3_bind_int64(q, 6, c->shed_reported);
  return run(s, ST_COUNTERS);
}

/* Ends a failed transaction. The in-memory counters were not touched yet, so
 * they still match the database after the rollback. */
static int abort_txn(spool *s, int rc, const char *what) {
  int ret = spool_fail(s, rc, what);
  if (!sqlite3_get_autocommit(s->db)) run(s, ST_ROLLBACK);
  return ret;
}

int spool_append(spool *s, const spool_source_state *st, const spool_line *lines, size_t n) {
  /* The page limit follows the volume: another process may have taken space. */
  if (n > 0) spool_space(s, NULL);
  int rc = run(s, ST_BEGIN);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot begin spool transaction");
  spool_counters next = s->c;
  sqlite3_stmt *q = s->st[ST_INSERT];
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int64(q, 1, next.next_seq);
    sqlite3_bind_int64(q, 2, lines[i].ts_ms);
    sqlite3_bind_int64(q, 3, st->id);
    sqlite3_bind_blob(q, 4, lines[i].data, (int)lines[i].len, SQLITE_STATIC);
    rc = run(s, ST_INSERT);
    if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot insert record");
    if (next.spooled == 0) next.first_seq = next.next_seq;
    next.next_seq++;
    next.spooled++;
    next.bytes += (int64_t)lines[i].len;
  }
  rc = bind_source(s, st);
  if (rc == SQLITE_OK) rc = write_counters(s, &next);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot update spool state");
  rc = run(s, ST_COMMIT);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot commit spool transaction");
  s->c = next;
  return spool_ok(s);
}

int spool_scan(spool *s, int64_t max_records, spool_row_fn fn, void *user) {
  return spool_scan_from(s, s->c.first_seq, max_records, fn, user);
}

int spool_scan_from(spool *s, int64_t from_seq, int64_t max_records, spool_row_fn fn, void *user) {
  if (s->c.spooled == 0 || max_records <= 0 || from_seq >= s->c.next_seq) return SPOOL_OK;
  sqlite3_stmt *q = s->st[ST_SCAN];
  sqlite3_bind_int64(q, 1, from_seq > s->c.first_seq ? from_seq : s->c.first_seq);
  sqlite3_bind_int64(q, 2, max_records);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    const char *src = (const char *)sqlite3_column_text(q, 2);
    size_t src_len = (size_t)sqlite3_column_bytes(q, 2);
    const char *line = (const char *)sqlite3_column_blob(q, 3);
    size_t line_len = (size_t)sqlite3_column_bytes(q, 3);
    if (!line) line = "";
    if (fn(user, sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), src ? src : "",
           src_len, line, line_len) != 0)
      break;
  }
  sqlite3_reset(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return spool_fail(s, rc, "cannot read spool");
  return spool_ok(s);
}

/* Count, text bytes and timestamp span of the records with seq <= through. */
static int sum_through(spool *s, int64_t through, int64_t *count, int64_t *bytes, int64_t *ts_min,
                       int64_t *ts_max) {
  sqlite3_stmt *q = s->st[ST_SHED_SUM];
  sqlite3_bind_int64(q, 1, through);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) {
    *count = sqlite3_column_int64(q, 0);
    *bytes = sqlite3_column_int64(q, 1);
    *ts_min = sqlite3_column_int64(q, 2);
    *ts_max = sqlite3_column_int64(q, 3);
    rc = SQLITE_OK;
  }
  sqlite3_reset(q);
  return rc;
}

static int ack_txn(spool *s, int64_t through_seq);

static int pick_shed_end(spool *s, int64_t min_bytes, int64_t max_seq, int64_t *through);
static uint64_t floor_of(const spool *s, uint64_t total);

/* Deleting acknowledged rows journals their pages too (a 5,000-record batch
 * is a journal of ~0.5 MiB), and the journal counts in the quota and lives on
 * the volume: delete in pieces the journal reserve (and, when the room above
 * the floor is tight, that room) can hold, oldest first, each its own
 * transaction (a crash in between only re-sends records the cloud already
 * holds: idempotent). A batch smaller than the reserve is one piece; the
 * crash-storm scenario found a 500-record ack over a 1 MiB quota's reserve. */
int spool_ack(spool *s, int64_t through_seq) {
  int rc = SPOOL_OK;
  /* Each piece removes at least one record: bounded by the batch size. */
  while (rc == SPOOL_OK && s->c.spooled > 0 && s->c.first_seq <= through_seq) {
    int64_t end = through_seq, piece = 0;
    if (pick_shed_end(s, INT64_MAX, through_seq, &piece) != SQLITE_OK || piece < s->c.first_seq)
      piece = through_seq;
    if (piece < end) end = piece;
    rc = ack_txn(s, end);
    if (rc == SPOOL_EFULL && reserve_release(s)) rc = ack_txn(s, end);
  }
  return rc;
}

static int ack_txn(spool *s, int64_t through_seq) {
  if (s->c.spooled == 0 || through_seq < s->c.first_seq) return SPOOL_OK;
  int64_t last = s->c.next_seq - 1;
  if (through_seq > last) through_seq = last;
  int rc = run(s, ST_BEGIN);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot begin spool transaction");
  int64_t gone_bytes = 0, ignored;
  rc = sum_through(s, through_seq, &ignored, &gone_bytes, &ignored, &ignored);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot size acknowledged records");
  sqlite3_stmt *q = s->st[ST_ACK];
  sqlite3_bind_int64(q, 1, through_seq);
  rc = run(s, ST_ACK);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot delete acknowledged records");
  int64_t removed = through_seq - s->c.first_seq + 1;
  spool_counters next = s->c;
  next.bytes -= gone_bytes;
  next.acked += removed;
  next.spooled -= removed;
  next.first_seq = next.spooled ? through_seq + 1 : 0;
  rc = write_counters(s, &next);
  if (rc == SQLITE_OK) rc = run(s, ST_COMMIT);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot commit acknowledgement");
  s->c = next;
  return spool_ok(s);
}

void spool_get_counters(const spool *s, spool_counters *out) {
  *out = s->c;
  out->shed_reported += s->sent_unpersisted;
}

int spool_last_error(const spool *s) { return s->last_rc; }

int spool_set_limits(spool *s, const spool_limits *lim) {
  if (!lim || lim->quota_bytes < 1024 * 1024 || lim->floor_pct < 0 || lim->floor_pct > 50 ||
      lim->floor_max_bytes < 0)
    return s->last_rc = SPOOL_EINVAL;
  s->lim = *lim;
  return spool_space(s, NULL);
}

int spool_set_outside_bytes(spool *s, int64_t bytes) {
  if (bytes < 0 || bytes > s->lim.quota_bytes) return s->last_rc = SPOOL_EINVAL;
  s->outside = bytes;
  return spool_space(s, NULL);
}

/* The in-header database size (SQLite file format, section 1.3: offset 28,
 * valid when the change counter at 24 equals the version-valid-for number
 * at 92), read through SQLite's own open file. 0 when it cannot be used. */
static int64_t header_pages(spool *s) {
  sqlite3_file *file = NULL;
  unsigned char h[100];
  if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
      !file || !file->pMethods || file->pMethods->xRead(file, h, sizeof h, 0) != SQLITE_OK)
    return 0;
  if (memcmp(h + 24, h + 92, 4) != 0) return 0;
  return (int64_t)h[28] << 24 | (int64_t)h[29] << 16 | (int64_t)h[30] << 8 | (int64_t)h[31];
}

/* The database's size in pages. PRAGMA page_count is re-prepared at every
 * run (SQLite marks every PRAGMA run-once), which at one spool_space a poll
 * was 15% of a simulated agent's CPU. Between transactions the committed
 * size is in the file's header; the pager's data version moves at every
 * commit, this connection's included (the spool holds the file in
 * exclusive mode, so there is no other writer), and the header is read
 * again only then. Inside a transaction the size may differ from the
 * committed one: there, and whenever the header is not valid, the PRAGMA. */
static int64_t page_count(spool *s) {
  unsigned version = 0;
  int between = sqlite3_get_autocommit(s->db) &&
                sqlite3_file_control(s->db, "main", SQLITE_FCNTL_DATA_VERSION, &version) ==
                    SQLITE_OK;
  if (between && s->pages_known && version == s->pages_version) return s->pages_cached;
  int64_t n = between ? header_pages(s) : 0;
  if (n <= 0) {
    sqlite3_stmt *q = s->st[ST_PAGE_COUNT];
    n = -1;
    if (sqlite3_step(q) == SQLITE_ROW) n = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
  }
  s->pages_known = between && n > 0;
  s->pages_cached = n;
  s->pages_version = version;
  return n;
}

static void set_max_pages(spool *s, int64_t pages) {
  if (pages < 1) pages = 1;
  if (pages == s->max_pages) return;
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA max_page_count=%lld", (long long)pages);
  /* SQLite never sets it below the current size; it reports what it set. */
  if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK) s->max_pages = pages;
}

/* The free space the volume keeps: min(floor_pct of its size, floor_max). */
static uint64_t floor_of(const spool *s, uint64_t total) {
  uint64_t pct = total / 100 * (uint64_t)s->lim.floor_pct;
  return pct < (uint64_t)s->lim.floor_max_bytes ? pct : (uint64_t)s->lim.floor_max_bytes;
}

int spool_space(spool *s, spool_space_info *out) {
  spool_space_info info;
  memset(&info, 0, sizeof info);
  int64_t pages = page_count(s);
  if (pages < 0) return spool_fail(s, SQLITE_ERROR, "cannot read the spool size");
  info.db_bytes = pages * s->page_size;
  int64_t reserve = SPOOL_JOURNAL_RESERVE(s->lim.quota_bytes);
  int64_t quota_left = s->lim.quota_bytes - reserve - SPOOL_RESERVE_BYTES - s->outside;
  int64_t limit = (quota_left > 0 ? quota_left : 0) / s->page_size;
  info.outside_bytes = s->outside;
  info.quota_room = quota_left - info.db_bytes > 0 ? quota_left - info.db_bytes : 0;
  info.floor_room = -1;
  int rc = s->os->free_space ? s->os->free_space(s->os->ctx, s->path, &info.avail, &info.total)
                             : OS_ENOSYS;
  if (rc == OS_OK) {
    info.floor_bytes = (int64_t)floor_of(s, info.total);
    /* The file may grow into what is free above the floor, minus room for
     * the journal, which also lives on this volume. */
    int64_t avail = info.avail > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)info.avail;
    /* On a small volume the journal room scales down with it (shedding
     * then works in pieces that fit, see pick_shed_end). */
    int64_t jr = (int64_t)(info.total / 64) > 65536 ? (int64_t)(info.total / 64) : 65536;
    if (jr > reserve) jr = reserve;
    int64_t room = avail - info.floor_bytes - jr;
    info.floor_room = room > 0 ? room : 0;
    int64_t by_floor = pages + (room > 0 ? room / s->page_size : 0);
    if (by_floor < limit) limit = by_floor;
    info.deficit = avail < info.floor_bytes ? info.floor_bytes - avail : 0;
    if (!s->reserve_held && room > 2 * SPOOL_RESERVE_BYTES) reserve_make(s);
  }
  set_max_pages(s, limit);
  info.max_db_bytes = (limit > pages ? limit : pages) * s->page_size;
  if (out) *out = info;
  return spool_ok(s);
}

int spool_shed_plan(spool *s, int64_t *min_bytes, spool_shed_reason *why) {
  spool_space_info si;
  int64_t q = s->lim.quota_bytes;
  *min_bytes = SPOOL_SHED_CHUNK(q);
  *why = SPOOL_SHED_QUOTA;
  int rc = spool_space(s, &si);
  /* Under what the quota alone would allow (spool_space's own sum, less a
   * page of slack): the volume's floor is what stopped the append. The
   * reserve file and an update's download count against the quota too;
   * leaving them out called every quota-full spool "full" (found by the
   * issue #14 restructuring, core_spool_space). */
  int64_t by_quota = q - SPOOL_JOURNAL_RESERVE(q) - SPOOL_RESERVE_BYTES - s->outside;
  if (rc == SPOOL_OK && si.max_db_bytes < by_quota - (int64_t)4096) *why = SPOOL_SHED_FULL;
  return rc;
}

/* The shed log's statements are prepared at their first use, not at open:
 * a spool that never sheds (most, and every steady simulated host) never
 * holds them (17 KiB a spool; thousands of simulated hosts share a
 * process, issue #15). Preparing takes memory, not disk, so a full volume does not
 * stop it. SQLITE_OK or SQLite's error. */
static int shed_log_statements(spool *s) {
  for (int i = ST_SHED_LOG_ADD; i <= ST_SHED_LOG_DROP; i++) {
    if (s->st[i]) continue;
    int rc = sqlite3_prepare_v3(s->db, spool_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

/* Picks the highest seq to shed: the oldest records whose text adds up to at
 * least min_bytes, at most the chunk (one record always), never past max_seq
 * (an ack looks at its own batch only, not at the whole backlog). Each record
 * also counts a small overhead so that empty lines still make progress. */
static int pick_shed_end(spool *s, int64_t min_bytes, int64_t max_seq, int64_t *through) {
  int64_t chunk = SPOOL_SHED_CHUNK(s->lim.quota_bytes), acc = 0, rows = 0;
  /* Deleting rows journals the pages that held them (about 1.2 bytes of
   * journal per byte of text), and the journal lives on the same volume. Above
   * the floor, shed in pieces whose journal fits in the room above it, so that
   * shedding itself never takes the volume under its floor; under the floor
   * (others filled it), in pieces the journal can fit at all rather than not
   * at all. */
  uint64_t avail = 0, total = 0;
  if (s->os->free_space && s->os->free_space(s->os->ctx, s->path, &avail, &total) == OS_OK) {
    uint64_t floor = floor_of(s, total), fit = avail / 4;
    if (avail > floor + 2 * 16384) fit = (avail - floor) / 2;
    if (fit < (uint64_t)chunk) chunk = fit > 16384 ? (int64_t)fit : 16384;
  }
  sqlite3_stmt *q = s->st[ST_SHED_SCAN];
  sqlite3_bind_int64(q, 1, s->c.first_seq);
  int rc;
  *through = 0;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    int64_t len = sqlite3_column_int64(q, 1) + 32;
    if (rows > 0 && (acc + len > chunk || sqlite3_column_int64(q, 0) > max_seq)) break;
    *through = sqlite3_column_int64(q, 0);
    acc += len;
    rows++;
    if (acc >= min_bytes || rows >= 1000000) break;
  }
  sqlite3_reset(q);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int64_t last_log_id(spool *s) {
  sqlite3_stmt *l = s->st[ST_SHED_LOG_LAST];
  int64_t id = 0;
  if (sqlite3_step(l) == SQLITE_ROW) id = sqlite3_column_int64(l, 0);
  sqlite3_reset(l);
  return id;
}

static int64_t shed_log_count(spool *s) {
  sqlite3_stmt *q = s->st[ST_SHED_LOG_COUNT];
  int64_t n = -1;
  if (sqlite3_step(q) == SQLITE_ROW) n = sqlite3_column_int64(q, 0);
  sqlite3_reset(q);
  return n;
}

static int shed_txn(spool *s, int64_t min_bytes, spool_shed_reason reason, int64_t wall_ms,
                    spool_shed_entry *out);

/* Pages a shed may add for its own bookkeeping when the file may not grow. */
#define SPOOL_SHED_SLACK_PAGES 4

int spool_shed(spool *s, int64_t min_bytes, spool_shed_reason reason, int64_t wall_ms,
               spool_shed_entry *out) {
  int rc = shed_txn(s, min_bytes, reason, wall_ms, out);
  if (rc == SPOOL_EFULL && reserve_release(s)) rc = shed_txn(s, min_bytes, reason, wall_ms, out);
  if (rc == SPOOL_EFULL) {
    /* Under the floor (or at the quota) max_page_count is the file's size:
     * when the deletes free no whole page and the shed log's last page is
     * full, the log row has nowhere to go, and shedding, the one way out,
     * failed at every step (found on a real tmpfs by outpost-sim --real).
     * A few pages for this one transaction: it removes more than it adds,
     * and a floor shed's incremental vacuum then gives the pages back. */
    int64_t pages = page_count(s), was = s->max_pages;
    /* ... provided it frees more whole pages than the slack lends: a shed
     * of a few records can free none, and the file must not end larger
     * (floor_held). Twice the pages' bytes in records, oldest first. */
    int64_t at_least = 2 * (SPOOL_SHED_SLACK_PAGES + 1) * s->page_size;
    if (pages > 0) {
      set_max_pages(s, pages + SPOOL_SHED_SLACK_PAGES);
      rc = shed_txn(s, min_bytes > at_least ? min_bytes : at_least, reason, wall_ms, out);
      set_max_pages(s, was);
    }
  }
  return rc;
}

static int shed_txn(spool *s, int64_t min_bytes, spool_shed_reason reason, int64_t wall_ms,
                    spool_shed_entry *out) {
  spool_shed_entry e;
  memset(&e, 0, sizeof e);
  if (out) *out = e;
  if (reason < SPOOL_SHED_QUOTA || reason > SPOOL_SHED_IO) return s->last_rc = SPOOL_EINVAL;
  if (s->c.spooled == 0) return spool_ok(s);
  int rc = shed_log_statements(s);
  if (rc != SQLITE_OK) return spool_fail(s, rc, "cannot prepare the shed log's statements");
  rc = run(s, ST_BEGIN);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot begin shedding");
  int64_t through = 0;
  rc = pick_shed_end(s, min_bytes, INT64_MAX, &through);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot choose records to shed");
  if (through < s->c.first_seq) {
    run(s, ST_ROLLBACK);
    return spool_ok(s);
  }
  rc = sum_through(s, through, &e.records, &e.bytes, &e.ts_first_ms, &e.ts_last_ms);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot size records to shed");
  e.first_seq = s->c.first_seq;
  e.last_seq = through;
  e.at_ms = wall_ms;
  e.reason = (int)reason;
  sqlite3_stmt *q = s->st[ST_ACK];
  sqlite3_bind_int64(q, 1, through);
  rc = run(s, ST_ACK);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot delete shed records");
  /* The log stays bounded: past SPOOL_MAX_SHED_LOG unreported entries the
   * newest entry absorbs this shedding (counts stay exact; the range then
   * spans records acknowledged in between). */
  int64_t n_log = shed_log_count(s);
  if (n_log < 0) return abort_txn(s, SQLITE_ERROR, "cannot count the shed log");
  /* Never merge into an entry already offered in a report that may be in
   * flight: its ack would count the merged records as reported. */
  int64_t merge_above =
      s->offered_through_id > s->sent_through_id ? s->offered_through_id : s->sent_through_id;
  if (n_log >= SPOOL_MAX_SHED_LOG && last_log_id(s) > merge_above) {
    sqlite3_stmt *l = s->st[ST_SHED_LOG_LAST];
    int64_t last_id = 0;
    if (sqlite3_step(l) == SQLITE_ROW) last_id = sqlite3_column_int64(l, 0);
    sqlite3_reset(l);
    q = s->st[ST_SHED_LOG_MERGE];
    sqlite3_bind_int64(q, 1, e.last_seq);
    sqlite3_bind_int64(q, 2, e.records);
    sqlite3_bind_int64(q, 3, e.bytes);
    sqlite3_bind_int64(q, 4, e.ts_first_ms);
    sqlite3_bind_int64(q, 5, e.ts_last_ms);
    sqlite3_bind_int64(q, 6, e.at_ms);
    sqlite3_bind_int(q, 7, e.reason);
    sqlite3_bind_int64(q, 8, last_id);
    rc = run(s, ST_SHED_LOG_MERGE);
    e.id = last_id;
  } else {
    q = s->st[ST_SHED_LOG_ADD];
    sqlite3_bind_int64(q, 1, e.first_seq);
    sqlite3_bind_int64(q, 2, e.last_seq);
    sqlite3_bind_int64(q, 3, e.records);
    sqlite3_bind_int64(q, 4, e.bytes);
    sqlite3_bind_int64(q, 5, e.ts_first_ms);
    sqlite3_bind_int64(q, 6, e.ts_last_ms);
    sqlite3_bind_int64(q, 7, e.at_ms);
    sqlite3_bind_int(q, 8, e.reason);
    sqlite3_bind_int64(q, 9, merge_above);
    rc = run(s, ST_SHED_LOG_ADD);
    e.id = sqlite3_last_insert_rowid(s->db);
  }
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot write the shed log");
  spool_counters next = s->c;
  next.shed += e.records;
  next.shed_bytes += e.bytes;
  next.shed_events++;
  next.spooled -= e.records;
  next.bytes -= e.bytes;
  next.first_seq = next.spooled ? through + 1 : 0;
  rc = write_counters(s, &next);
  if (rc == SQLITE_OK) rc = run(s, ST_COMMIT);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot commit shedding");
  s->c = next;
  if (reason == SPOOL_SHED_FLOOR) {
    /* Give the freed pages back to the volume. Best effort: the records are
     * already gone and accounted for; a failure only keeps the file large. */
    sqlite3_exec(s->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
  }
  if (out) *out = e;
  return spool_ok(s);
}

int spool_shed_pending(spool *s, spool_shed_entry *out, int max, int *n) {
  *n = 0;
  if (max <= 0) return spool_ok(s);
  int rc = shed_log_statements(s);
  if (rc != SQLITE_OK) return spool_fail(s, rc, "cannot prepare the shed log's statements");
  sqlite3_stmt *q = s->st[ST_SHED_LOG_PENDING];
  sqlite3_bind_int64(q, 1, s->sent_through_id);
  sqlite3_bind_int(q, 2, max);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n < max) {
    spool_shed_entry *e = &out[(*n)++];
    e->id = sqlite3_column_int64(q, 0);
    e->first_seq = sqlite3_column_int64(q, 1);
    e->last_seq = sqlite3_column_int64(q, 2);
    e->records = sqlite3_column_int64(q, 3);
    e->bytes = sqlite3_column_int64(q, 4);
    e->ts_first_ms = sqlite3_column_int64(q, 5);
    e->ts_last_ms = sqlite3_column_int64(q, 6);
    e->at_ms = sqlite3_column_int64(q, 7);
    e->reason = sqlite3_column_int(q, 8);
    if (e->id > s->offered_through_id) s->offered_through_id = e->id;
  }
  sqlite3_reset(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return spool_fail(s, rc, "cannot read the shed log");
  return spool_ok(s);
}

static int reported_txn(spool *s, int64_t through_id);

int spool_shed_reported(spool *s, int64_t through_id) {
  int rc = reported_txn(s, through_id);
  if (rc == SPOOL_EFULL && reserve_release(s)) rc = reported_txn(s, through_id);
  if (rc == SPOOL_OK) {
    if (through_id >= s->sent_through_id) s->sent_unpersisted = 0;
    if (through_id > s->sent_through_id) s->sent_through_id = through_id;
    return rc;
  }
  if (through_id > s->sent_through_id) {
    int64_t recs = 0;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT coalesce(sum(records), 0) FROM shed_log WHERE id > ? AND id <= ?",
                           -1, &q, NULL) == SQLITE_OK) {
      sqlite3_bind_int64(q, 1, s->sent_through_id);
      sqlite3_bind_int64(q, 2, through_id);
      if (sqlite3_step(q) == SQLITE_ROW) recs = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    s->sent_unpersisted += recs;
    s->sent_through_id = through_id;
  }
  return rc;
}

static int reported_txn(spool *s, int64_t through_id) {
  int rc = shed_log_statements(s);
  if (rc != SQLITE_OK) return spool_fail(s, rc, "cannot prepare the shed log's statements");
  rc = run(s, ST_BEGIN);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot begin spool transaction");
  int64_t recs = 0;
  sqlite3_stmt *q = NULL;
  rc = sqlite3_prepare_v2(s->db, "SELECT coalesce(sum(records), 0) FROM shed_log WHERE id <= ?",
                          -1, &q, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(q, 1, through_id);
    if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
      recs = sqlite3_column_int64(q, 0);
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot read the shed log");
  q = s->st[ST_SHED_LOG_DROP];
  sqlite3_bind_int64(q, 1, through_id);
  rc = run(s, ST_SHED_LOG_DROP);
  spool_counters next = s->c;
  next.shed_reported += recs;
  if (rc == SQLITE_OK) rc = write_counters(s, &next);
  if (rc == SQLITE_OK) rc = run(s, ST_COMMIT);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot update the shed log");
  s->c = next;
  return spool_ok(s);
}

int spool_set_cache_kib(spool *s, int64_t kib) {
  if (!s || kib < 1 || kib > 1024 * 1024) return SPOOL_EINVAL;
  /* A smaller limit alone would keep the pages already cached. */
  return cache_limit(s, kib) == SQLITE_OK ? SPOOL_OK : SPOOL_EDB;
}
