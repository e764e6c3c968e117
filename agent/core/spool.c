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
  ST_COUNT
};

static const char *const spool_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT] = "INSERT INTO records(seq, ts_ms, source_id, line) VALUES(?,?,?,?)",
    [ST_SRC_GET] = "SELECT id, known, dev, ino, offset, skipping FROM sources WHERE path = ?",
    [ST_SRC_NEW] = "INSERT INTO sources(path, known, dev, ino, offset, skipping) VALUES(?,0,0,0,0,0)",
    [ST_SRC_SAVE] = "UPDATE sources SET known=1, dev=?, ino=?, offset=?, skipping=? WHERE id=?",
    [ST_SCAN] = ("SELECT r.seq, r.ts_ms, s.path, r.line FROM records r JOIN sources s "
                 "ON s.id = r.source_id WHERE r.seq >= ? ORDER BY r.seq LIMIT ?"),
    [ST_ACK] = "DELETE FROM records WHERE seq <= ?",
    [ST_COUNTERS] = "UPDATE counters SET next_seq=?, acked=?, shed=? WHERE id=1",
};

static const char spool_schema[] =
    "CREATE TABLE IF NOT EXISTS counters(id INTEGER PRIMARY KEY CHECK(id=1),"
    " next_seq INTEGER NOT NULL, acked INTEGER NOT NULL, shed INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO counters VALUES(1, 1, 0, 0);"
    "CREATE TABLE IF NOT EXISTS sources(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,"
    " known INTEGER NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
    " offset INTEGER NOT NULL, skipping INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS records(seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
    " source_id INTEGER NOT NULL, line BLOB NOT NULL);";

struct spool {
  vfs_instance vfs;
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  spool_counters c;
  char errmsg[256];
};

static int spool_fail(spool *s, int rc, const char *what) {
  const char *detail = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
  snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what, detail);
  if (rc == SQLITE_FULL) return SPOOL_EFULL;
  if (rc == SQLITE_NOMEM) return SPOOL_ENOMEM;
  return SPOOL_EDB;
}

static int run(spool *s, int which) {
  sqlite3_stmt *q = s->st[which];
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int load_counters(spool *s) {
  sqlite3_stmt *q = NULL;
  int rc = sqlite3_prepare_v2(s->db, "SELECT next_seq, acked, shed FROM counters WHERE id=1", -1,
                              &q, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    s->c.next_seq = sqlite3_column_int64(q, 0);
    s->c.acked = sqlite3_column_int64(q, 1);
    s->c.shed = sqlite3_column_int64(q, 2);
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_CORRUPT;
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_prepare_v2(s->db, "SELECT count(*), coalesce(min(seq), 0) FROM records", -1, &q,
                          NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    s->c.spooled = sqlite3_column_int64(q, 0);
    s->c.first_seq = sqlite3_column_int64(q, 1);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(q);
  return rc;
}

int spool_open(const os_shim *os, const char *path, spool **out, char *err, size_t err_cap) {
  *out = NULL;
  spool *s = calloc(1, sizeof *s);
  if (!s) return SPOOL_ENOMEM;
  int ret = SPOOL_EDB;
  if (vfs_register(&s->vfs, os) != VFS_OK) {
    snprintf(s->errmsg, sizeof s->errmsg, "cannot register the spool VFS");
    goto fail;
  }
  int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                           s->vfs.name);
  if (rc != SQLITE_OK) {
    ret = spool_fail(s, rc, "cannot open the spool");
    goto fail;
  }
  /* EXCLUSIVE locking: the spool is private to this agent. DELETE journal with
   * synchronous=FULL: a committed transaction survives a crash. */
  rc = sqlite3_exec(s->db,
                    "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=DELETE;"
                    "PRAGMA synchronous=FULL; PRAGMA cache_size=-256; PRAGMA temp_store=MEMORY;",
                    NULL, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, spool_schema, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    ret = spool_fail(s, rc, "cannot set up the spool");
    goto fail;
  }
  for (int i = 0; i < ST_COUNT; i++) {
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
  sqlite3_bind_int64(q, 5, st->id);
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
  }
  rc = bind_source(s, st);
  if (rc == SQLITE_OK) rc = write_counters(s, &next);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot update spool state");
  rc = run(s, ST_COMMIT);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot commit spool transaction");
  s->c = next;
  return SPOOL_OK;
}

int spool_scan(spool *s, int64_t max_records, spool_row_fn fn, void *user) {
  if (s->c.spooled == 0 || max_records <= 0) return SPOOL_OK;
  sqlite3_stmt *q = s->st[ST_SCAN];
  sqlite3_bind_int64(q, 1, s->c.first_seq);
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
  return SPOOL_OK;
}

int spool_ack(spool *s, int64_t through_seq) {
  if (s->c.spooled == 0 || through_seq < s->c.first_seq) return SPOOL_OK;
  int64_t last = s->c.next_seq - 1;
  if (through_seq > last) through_seq = last;
  int rc = run(s, ST_BEGIN);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot begin spool transaction");
  sqlite3_stmt *q = s->st[ST_ACK];
  sqlite3_bind_int64(q, 1, through_seq);
  rc = run(s, ST_ACK);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot delete acknowledged records");
  int64_t removed = through_seq - s->c.first_seq + 1;
  spool_counters next = s->c;
  next.acked += removed;
  next.spooled -= removed;
  next.first_seq = next.spooled ? through_seq + 1 : 0;
  rc = write_counters(s, &next);
  if (rc == SQLITE_OK) rc = run(s, ST_COMMIT);
  if (rc != SQLITE_OK) return abort_txn(s, rc, "cannot commit acknowledgement");
  s->c = next;
  return SPOOL_OK;
}

void spool_get_counters(const spool *s, spool_counters *out) { *out = s->c; }
