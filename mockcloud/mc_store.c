/* mc_store.c - the mock cloud's SQLite store: open, schema, cached statements,
 * workspaces and the introspection calls of mc.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.h"
#include "mc_int.h"

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS workspaces("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " token_sha256 BLOB NOT NULL UNIQUE, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS agents("
    " agent_id TEXT PRIMARY KEY, workspace_id INTEGER NOT NULL REFERENCES workspaces(id),"
    " public_key BLOB NOT NULL, hostname TEXT NOT NULL, machine_id TEXT NOT NULL,"
    " agent_version TEXT NOT NULL, enrolled_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,"
    " records INTEGER NOT NULL DEFAULT 0, min_seq INTEGER NOT NULL DEFAULT 0,"
    " max_seq INTEGER NOT NULL DEFAULT 0,"
    " revoked INTEGER NOT NULL DEFAULT 0, cloned_from TEXT NOT NULL DEFAULT '',"
    " ratchet_cur TEXT NOT NULL DEFAULT 'none', ratchet_next TEXT NOT NULL DEFAULT 'none',"
    " ratchet_seen_t INTEGER NOT NULL DEFAULT 0, instance_cur TEXT NOT NULL DEFAULT '',"
    " cur_seen_ms INTEGER NOT NULL DEFAULT 0, probation_until_ms INTEGER NOT NULL DEFAULT 0,"
    " probation_owner TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS instances("
    " agent_id TEXT NOT NULL, instance TEXT NOT NULL, state TEXT NOT NULL,"
    " by_instance TEXT NOT NULL, at_t INTEGER NOT NULL,"
    " PRIMARY KEY(agent_id, instance)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS alerts("
    " id INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL, kind TEXT NOT NULL,"
    " agent_id TEXT NOT NULL, other_agent_id TEXT NOT NULL, instance TEXT NOT NULL,"
    " other_instance TEXT NOT NULL, detail TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events("
    " agent_id TEXT NOT NULL, instance TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, PRIMARY KEY(agent_id, instance, kind, detail)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS replay(sig TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS challenges("
    " challenge TEXT PRIMARY KEY, agent_id TEXT NOT NULL, expires_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sessions("
    " session_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, key BLOB NOT NULL,"
    " expires_ms INTEGER NOT NULL, instance TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS sessions_agent ON sessions(agent_id, expires_ms);"
    "CREATE TABLE IF NOT EXISTS records("
    " agent_id TEXT NOT NULL, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
    " source TEXT NOT NULL, line TEXT NOT NULL, received_ms INTEGER NOT NULL,"
    " PRIMARY KEY(agent_id, seq)) WITHOUT ROWID;"
    /* Shed reports (POST /v1/shed): what an agent deleted unsent to keep its
     * spool quota or its volume's free-space floor (docs/cloud-store.md). */
    "CREATE TABLE IF NOT EXISTS shed_reports("
    " agent_id TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
    " records INTEGER NOT NULL, bytes INTEGER NOT NULL, ts_first_ms INTEGER NOT NULL,"
    " ts_last_ms INTEGER NOT NULL, shed_ms INTEGER NOT NULL, reason TEXT NOT NULL,"
    " received_ms INTEGER NOT NULL, PRIMARY KEY(agent_id, first_seq)) WITHOUT ROWID;";

static const char *const stmt_sql[MC_ST_COUNT] = {
    [MC_ST_BEGIN] = "BEGIN",
    [MC_ST_COMMIT] = "COMMIT",
    [MC_ST_ROLLBACK] = "ROLLBACK",
    [MC_ST_WS_INSERT] = "INSERT INTO workspaces(name, token_sha256, created_ms) VALUES(?1,?2,?3)",
    [MC_ST_WS_BY_TOKEN] = "SELECT id, name FROM workspaces WHERE token_sha256 = ?1",
    [MC_ST_AGENT_INSERT] =
        "INSERT INTO agents(agent_id, workspace_id, public_key, hostname, machine_id,"
        " agent_version, enrolled_ms, last_seen_ms, cloned_from) VALUES(?1,?2,?3,?4,?5,?6,?7,?7,?8)",
    [MC_ST_AGENT_KEY] = "SELECT public_key, revoked, workspace_id FROM agents WHERE agent_id = ?1",
    [MC_ST_AGENT_IDENT] =
        "SELECT ratchet_cur, ratchet_next, instance_cur, ratchet_seen_t, workspace_id, revoked,"
        " cur_seen_ms, probation_until_ms, probation_owner FROM agents WHERE agent_id = ?1",
    [MC_ST_AGENT_SET_IDENT] =
        "UPDATE agents SET ratchet_cur = ?2, ratchet_next = ?3, instance_cur = ?4,"
        " ratchet_seen_t = ?5, cur_seen_ms = ?6, probation_until_ms = ?7, probation_owner = ?8"
        " WHERE agent_id = ?1",
    [MC_ST_INST_GET] =
        "SELECT state, by_instance, at_t FROM instances WHERE agent_id = ?1 AND instance = ?2",
    [MC_ST_INST_PUT] =
        "INSERT OR REPLACE INTO instances(agent_id, instance, state, by_instance, at_t)"
        " VALUES(?1,?2,?3,?4,?5)",
    [MC_ST_INST_SUPERSEDED_BY] =
        "SELECT instance FROM instances WHERE agent_id = ?1 AND by_instance = ?2"
        " AND state = 'superseded' ORDER BY at_t DESC LIMIT 1",
    [MC_ST_INST_DELETE] = "DELETE FROM instances WHERE agent_id = ?1 AND instance = ?2",
    [MC_ST_ALERT_INSERT] =
        "INSERT INTO alerts(workspace_id, kind, agent_id, other_agent_id, instance,"
        " other_instance, detail, created_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [MC_ST_EVENT_INSERT] =
        "INSERT OR IGNORE INTO events(agent_id, instance, kind, detail, created_ms)"
        " VALUES(?1,?2,?3,?4,?5)",
    [MC_ST_REPLAY_INSERT] = "INSERT OR IGNORE INTO replay(sig, expires_ms) VALUES(?1,?2)",
    [MC_ST_REPLAY_PURGE] = "DELETE FROM replay WHERE expires_ms < ?1",
    [MC_ST_REC_LINE] = "SELECT line, source FROM records WHERE agent_id = ?1 AND seq = ?2",
    [MC_ST_AGENT_SUMMARY] = "SELECT records, min_seq, max_seq FROM agents WHERE agent_id = ?1",
    [MC_ST_AGENT_FROM] = "SELECT count(*) FROM records WHERE agent_id = ?1 AND seq >= ?2",
    /* SET expressions all see the old row, so records = 0 means "first records". */
    [MC_ST_AGENT_INGESTED] =
        "UPDATE agents SET"
        " min_seq = CASE WHEN records = 0 THEN ?2 ELSE min(min_seq, ?2) END,"
        " max_seq = CASE WHEN records = 0 THEN ?3 ELSE max(max_seq, ?3) END,"
        " records = records + ?4, last_seen_ms = ?5 WHERE agent_id = ?1",
    [MC_ST_AGENT_TOUCH] = "UPDATE agents SET last_seen_ms = ?2 WHERE agent_id = ?1",
    [MC_ST_CHAL_INSERT] = "INSERT INTO challenges(challenge, agent_id, expires_ms) VALUES(?1,?2,?3)",
    [MC_ST_CHAL_GET] = "SELECT agent_id, expires_ms FROM challenges WHERE challenge = ?1",
    [MC_ST_CHAL_DELETE] = "DELETE FROM challenges WHERE challenge = ?1",
    [MC_ST_CHAL_PURGE] = "DELETE FROM challenges WHERE agent_id = ?1 OR expires_ms < ?2",
    [MC_ST_SESS_INSERT] =
        "INSERT INTO sessions(session_id, agent_id, key, expires_ms, instance)"
        " VALUES(?1,?2,?3,?4,?5)",
    [MC_ST_SESS_GET] =
        "SELECT agent_id, key, expires_ms, instance FROM sessions WHERE session_id = ?1",
    [MC_ST_SESS_PURGE] = "DELETE FROM sessions WHERE agent_id = ?1 AND expires_ms < ?2",
    [MC_ST_REC_INSERT] =
        "INSERT OR IGNORE INTO records(agent_id, seq, ts_ms, source, line, received_ms)"
        " VALUES(?1,?2,?3,?4,?5,?6)",
    [MC_ST_TOTAL] = "SELECT coalesce(sum(records), 0) FROM agents",
    /* An entry may come again, grown by merging on the agent (its first_seq
     * stays): the larger account wins, so a repeat never double-counts. */
    [MC_ST_SHED_UPSERT] =
        "INSERT INTO shed_reports(agent_id, first_seq, last_seq, records, bytes, ts_first_ms,"
        " ts_last_ms, shed_ms, reason, received_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
        " ON CONFLICT(agent_id, first_seq) DO UPDATE SET last_seq = excluded.last_seq,"
        " records = excluded.records, bytes = excluded.bytes, ts_first_ms = excluded.ts_first_ms,"
        " ts_last_ms = excluded.ts_last_ms, shed_ms = excluded.shed_ms, reason = excluded.reason"
        " WHERE excluded.records > shed_reports.records",
    [MC_ST_SHED_SUMMARY] =
        "SELECT count(*), coalesce(sum(records), 0), coalesce(sum(bytes), 0) FROM shed_reports"
        " WHERE agent_id = ?1",
};

sqlite3_stmt *mc__stmt(mc_cloud *c, enum mc__stmt id) {
  sqlite3_stmt *s = c->st[id];
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return s;
}

/* Batched (mc_options.commit_every): BEGIN, COMMIT and ROLLBACK are a
 * savepoint's, inside the outer transaction, which commits every
 * commit_every requests. A failed outer COMMIT leaves SQLite's own
 * transaction state as it was: the next savepoint then runs on its own. */
static int end_request(mc_cloud *c, int rc) {
  if (++c->since_commit < c->opts.commit_every) return rc;
  c->since_commit = 0;
  if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return MC_EDB;
  return sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? rc : MC_EDB;
}

int mc__exec(mc_cloud *c, enum mc__stmt id) {
  sqlite3_stmt *s = c->st[id];
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  rc = rc == SQLITE_DONE ? MC_OK : MC_EDB;
  if (!c->batched) return rc;
  if (id == MC_ST_ROLLBACK) { /* ROLLBACK TO keeps the savepoint: pop it */
    if (sqlite3_exec(c->db, "RELEASE mc_request", NULL, NULL, NULL) != SQLITE_OK) rc = MC_EDB;
    return end_request(c, rc);
  }
  return id == MC_ST_COMMIT && rc == MC_OK ? end_request(c, rc) : rc;
}

int mc__random(mc_cloud *c, unsigned char *buf, size_t len) {
  return c->env.random(c->env.ctx, buf, len) == 0 ? MC_OK : MC_ERANDOM;
}

static void put_err(char *err, size_t cap, const char *what, sqlite3 *db) {
  if (err && cap) snprintf(err, cap, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

void mc__session_key(const mc_cloud *c, const unsigned char *nonce, size_t nonce_len,
                     const char *sid, unsigned char out[32]) {
  static const char label[] = "outpost mock cloud session key v1";
  unsigned char msg[sizeof label + MC_SESSION_NONCE_LEN + 64];
  size_t sl = strlen(sid), n = 0;
  if (nonce_len > MC_SESSION_NONCE_LEN) nonce_len = MC_SESSION_NONCE_LEN;
  if (sl > 64) sl = 64;
  memcpy(msg, label, sizeof label); /* with its NUL: the label ends unambiguously */
  n += sizeof label;
  memcpy(msg + n, nonce, nonce_len);
  n += nonce_len;
  memcpy(msg + n, sid, sl);
  n += sl;
  crypto_hmac_sha256(c->master, sizeof c->master, msg, n, out);
  memset(msg, 0, sizeof msg);
}

/* Reads an existing master key: a regular file of exactly 32 bytes that no
 * one but the owner may read (0600 or stricter), never through a symlink.
 * MC_OK, or MC_EDB (the key file is part of the store) with why in err. */
static int read_master(mc_cloud *c, int fd, const char *path, char *err, size_t cap) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != (off_t)sizeof c->master) {
    if (err && cap) snprintf(err, cap, "%s: not a %zu-byte key file", path, sizeof c->master);
    return MC_EDB;
  }
  if (st.st_mode & 077) {
    if (err && cap)
      snprintf(err, cap, "%s: mode %04o lets others read the session master key; chmod 600 it",
               path, (unsigned)(st.st_mode & 07777));
    return MC_EDB;
  }
  size_t got = 0;
  int tries = 0;
  while (got < sizeof c->master && tries++ < 100) {
    ssize_t r = read(fd, c->master + got, sizeof c->master - got);
    if (r > 0) got += (size_t)r;
    else if (r == 0 || errno != EINTR) break;
  }
  if (got != sizeof c->master) {
    if (err && cap) snprintf(err, cap, "%s: cannot read the session master key", path);
    return MC_EDB;
  }
  return MC_OK;
}

/* The master key behind every session key. A store on disk keeps it in
 * MC_MASTER_KEY_FILE beside the database (mode 0600, made on first open), so
 * that a restarted cloud still knows its sessions but a copy of cloud.db alone
 * holds no session key. An in-memory store or a URI store (the simulator's,
 * private to one process) draws one from the env for this process only.
 * MC_OK, MC_EDB (the file: why in err) or MC_ERANDOM. */
static int load_master(mc_cloud *c, const char *db_path, char *err, size_t cap) {
  if (strcmp(db_path, ":memory:") == 0 || strncmp(db_path, "file:", 5) == 0) {
    if (mc__random(c, c->master, sizeof c->master) == MC_OK) return MC_OK;
    if (err && cap) snprintf(err, cap, "no randomness for the session master key");
    return MC_ERANDOM;
  }
  char path[4096];
  const char *slash = strrchr(db_path, '/');
  int n = slash ? snprintf(path, sizeof path, "%.*s/%s", (int)(slash - db_path), db_path,
                           MC_MASTER_KEY_FILE)
                : snprintf(path, sizeof path, "%s", MC_MASTER_KEY_FILE);
  if (n < 0 || (size_t)n >= sizeof path) {
    if (err && cap) snprintf(err, cap, "store path too long");
    return MC_EDB;
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      int rc = read_master(c, fd, path, err, cap);
      close(fd);
      return rc;
    }
    if (errno != ENOENT) break;
    if (mc__random(c, c->master, sizeof c->master) != MC_OK) {
      if (err && cap) snprintf(err, cap, "no randomness for the session master key");
      return MC_ERANDOM;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST) continue; /* another process made it first: read theirs */
      break;
    }
    int ok = write(fd, c->master, sizeof c->master) == (ssize_t)sizeof c->master &&
             fsync(fd) == 0;
    close(fd);
    if (ok) return MC_OK;
    unlink(path);
    break;
  }
  if (err && cap) snprintf(err, cap, "%s: cannot open or create: %s", path, strerror(errno));
  memset(c->master, 0, sizeof c->master);
  return MC_EDB;
}

int mc_open(const char *db_path, const mc_env *env, const mc_options *opts, mc_cloud **out,
            char *err, size_t err_cap) {
  if (out) *out = NULL;
  if (!db_path || !env || !env->wall_ms || !env->random || !out) {
    if (err && err_cap) snprintf(err, err_cap, "bad argument");
    return MC_EINVAL;
  }
  mc_cloud *c = calloc(1, sizeof *c);
  if (!c) return MC_ENOMEM;
  c->env = *env;
  c->z = wire_zctx_new(); /* NULL only costs speed */
  c->opts.session_ttl_s = 3600;
  c->opts.challenge_ttl_s = 60;
  if (opts) {
    if (opts->session_ttl_s > 0) c->opts.session_ttl_s = opts->session_ttl_s;
    if (opts->challenge_ttl_s > 0) c->opts.challenge_ttl_s = opts->challenge_ttl_s;
    c->opts.durable = opts->durable;
    c->opts.probation_s = opts->probation_s > 0 ? opts->probation_s : 0;
    c->opts.commit_every = opts->commit_every > 0 ? opts->commit_every : 0;
    c->opts.cache_kib = opts->cache_kib > 0 ? opts->cache_kib : 0;
  }
  int mrc = load_master(c, db_path, err, err_cap);
  if (mrc != MC_OK) {
    mc_close(c);
    return mrc;
  }
  if (sqlite3_open_v2(db_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
      SQLITE_OK) {
    put_err(err, err_cap, db_path, c->db);
    mc_close(c);
    return MC_EDB;
  }
  /* Durable: survives power loss (serve). Fast: the simulator's cloud is
   * rebuilt every run; MEMORY (not OFF) keeps ROLLBACK working, and one
   * connection holds the file for the whole run, so SQLite need not look
   * for a hot journal and re-read the header at every transaction (that
   * fstat and pread were 9% of a simulated fleet's CPU). */
  const char *pragmas = c->opts.durable ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                        : "PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;"
                                          " PRAGMA locking_mode=EXCLUSIVE;";
  sqlite3_busy_timeout(c->db, 5000);
  char cache[64] = "";
  if (c->opts.cache_kib > 0)
    snprintf(cache, sizeof cache, "PRAGMA cache_size=-%lld;",
             (long long)(c->opts.cache_kib < MC_MAX_CACHE_KIB ? c->opts.cache_kib : MC_MAX_CACHE_KIB));
  if (sqlite3_exec(c->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_exec(c->db, cache, NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_exec(c->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
    put_err(err, err_cap, "schema", c->db);
    mc_close(c);
    return MC_EDB;
  }
  c->batched = !c->opts.durable && c->opts.commit_every > 1;
  if (c->batched && sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
    put_err(err, err_cap, "begin", c->db);
    mc_close(c);
    return MC_EDB;
  }
  static const char *const batched_sql[] = {[MC_ST_BEGIN] = "SAVEPOINT mc_request",
                                            [MC_ST_COMMIT] = "RELEASE mc_request",
                                            [MC_ST_ROLLBACK] = "ROLLBACK TO mc_request"};
  for (int i = 0; i < MC_ST_COUNT; i++) {
    const char *sql = c->batched && i <= MC_ST_ROLLBACK ? batched_sql[i] : stmt_sql[i];
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL) !=
        SQLITE_OK) {
      put_err(err, err_cap, "prepare", c->db);
      mc_close(c);
      return MC_EDB;
    }
  }
  *out = c;
  return MC_OK;
}

void mc_close(mc_cloud *c) {
  if (!c) return;
  for (int i = 0; i < MC_ST_COUNT; i++) sqlite3_finalize(c->st[i]);
  if (c->batched && !sqlite3_get_autocommit(c->db)) /* the last requests' work */
    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
  sqlite3_finalize(c->policy_ver);
  sqlite3_close(c->db);
  memset(c->master, 0, sizeof c->master);
  wire_zctx_free(c->z);
  free(c);
}

static int valid_ws_name(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_' || ch == '.'))
      return 0;
  }
  return 1;
}

int mc_workspace_add(mc_cloud *c, const char *name, char *token, size_t token_cap) {
  unsigned char raw[32];
  char b64[64];
  size_t blen = 0;
  if (!c || !token || !valid_ws_name(name)) return MC_EINVAL;
  if (token_cap < 4 + 43 + 1 || token_cap > 0x7fffffff) return MC_EINVAL;
  if (mc__random(c, raw, sizeof raw) != MC_OK) return MC_ERANDOM;
  if (crypto_b64_encode(raw, sizeof raw, b64, sizeof b64, &blen) != CRYPTO_OK) return MC_EINVAL;
  memset(raw, 0, sizeof raw);
  /* base64url without padding: printable and safe in shells and URLs. */
  size_t o = 0;
  memcpy(token, "otk_", 4);
  o = 4;
  for (size_t i = 0; i < blen && b64[i] != '='; i++)
    token[o++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
  token[o] = '\0';
  memset(b64, 0, sizeof b64);

  uint8_t h[CRYPTO_SHA256_LEN];
  crypto_sha256(token, o, h);
  sqlite3_stmt *s = mc__stmt(c, MC_ST_WS_INSERT);
  sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_blob(s, 2, h, sizeof h, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 3, c->env.wall_ms(c->env.ctx));
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc == SQLITE_DONE) return MC_OK;
  memset(token, 0, token_cap);
  return (rc & 0xff) == SQLITE_CONSTRAINT ? MC_EEXIST : MC_EDB;
}

int64_t mc_agent_record_count(mc_cloud *c, const char *agent_id) {
  int64_t n, lo, hi;
  return mc_agent_seq_summary(c, agent_id, &n, &lo, &hi) == MC_OK ? n : -1;
}

int mc_agent_seq_summary(mc_cloud *c, const char *agent_id, int64_t *count, int64_t *min_seq,
                         int64_t *max_seq) {
  if (!c || !agent_id) return MC_EINVAL;
  sqlite3_stmt *s = mc__stmt(c, MC_ST_AGENT_SUMMARY);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int step = sqlite3_step(s), rc = step == SQLITE_DONE ? MC_EINVAL : MC_EDB;
  if (step == SQLITE_ROW) {
    if (count) *count = sqlite3_column_int64(s, 0);
    if (min_seq) *min_seq = sqlite3_column_int64(s, 1);
    if (max_seq) *max_seq = sqlite3_column_int64(s, 2);
    rc = MC_OK;
  }
  sqlite3_reset(s);
  return rc;
}

int mc_agent_seq_count_from(mc_cloud *c, const char *agent_id, int64_t from, int64_t *count) {
  if (!c || !agent_id || !count) return MC_EINVAL;
  sqlite3_stmt *s = mc__stmt(c, MC_ST_AGENT_FROM);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, from);
  int rc = MC_EDB;
  if (sqlite3_step(s) == SQLITE_ROW) {
    *count = sqlite3_column_int64(s, 0);
    rc = MC_OK;
  }
  sqlite3_reset(s);
  return rc;
}

int64_t mc_total_records(mc_cloud *c) {
  if (!c) return MC_EINVAL;
  sqlite3_stmt *s = mc__stmt(c, MC_ST_TOTAL);
  int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : MC_EDB;
  sqlite3_reset(s);
  return n;
}

void mc_get_stats(mc_cloud *c, mc_stats *out) {
  if (!out) return;
  if (!c) {
    memset(out, 0, sizeof *out);
    return;
  }
  *out = c->stats;
}

int mc_agent_revoke(mc_cloud *c, const char *agent_id) {
  if (!c || !agent_id) return MC_EINVAL;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db, "UPDATE agents SET revoked = 1 WHERE agent_id = ?1", -1, &s,
                         NULL) != SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return MC_EDB;
  return sqlite3_changes(c->db) == 1 ? MC_OK : MC_EINVAL;
}

/* count(*) of table, of one kind or all: the count, MC_EINVAL or MC_EDB. */
static int64_t count_where_kind(mc_cloud *c, const char *table, const char *kind) {
  if (!c) return MC_EINVAL;
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s%s", table, kind ? " WHERE kind = ?1" : "");
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) return MC_EDB;
  if (kind) sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
  int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : MC_EDB;
  sqlite3_finalize(s);
  return n;
}

int64_t mc_alert_count(mc_cloud *c, const char *kind) { return count_where_kind(c, "alerts", kind); }

int64_t mc_event_count(mc_cloud *c, const char *kind) { return count_where_kind(c, "events", kind); }

static const char *col_text(sqlite3_stmt *s, int i) {
  const char *t = (const char *)sqlite3_column_text(s, i);
  return t ? t : "";
}

int mc_alerts_foreach(mc_cloud *c, int (*fn)(void *user, const mc_alert *a), void *user) {
  if (!c || !fn) return MC_EINVAL;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT id, workspace_id, created_ms, kind, agent_id, other_agent_id,"
                         " instance, other_instance, detail FROM alerts ORDER BY id",
                         -1, &s, NULL) != SQLITE_OK)
    return MC_EDB;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mc_alert a = {sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                  sqlite3_column_int64(s, 2), col_text(s, 3), col_text(s, 4), col_text(s, 5),
                  col_text(s, 6), col_text(s, 7), col_text(s, 8)};
    if (fn(user, &a) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? MC_OK : MC_EDB;
}

int mc_events_foreach(mc_cloud *c, const char *prefix, int (*fn)(void *user, const mc_event *e),
                      void *user) {
  if (!c || !fn) return MC_EINVAL;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT agent_id, instance, kind, detail, created_ms FROM events"
                         " WHERE substr(kind, 1, length(?1)) = ?1 ORDER BY created_ms, agent_id",
                         -1, &s, NULL) != SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_text(s, 1, prefix ? prefix : "", -1, SQLITE_TRANSIENT);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mc_event e = {col_text(s, 0), col_text(s, 1), col_text(s, 2), col_text(s, 3), sqlite3_column_int64(s, 4)};
    if (fn(user, &e) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? MC_OK : MC_EDB;
}

int mc_agent_cloned_from(mc_cloud *c, const char *agent_id, char out[MC_AGENT_ID_LEN + 1]) {
  if (!c || !agent_id || !out) return MC_EINVAL;
  out[0] = 0;
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(c->db, "SELECT cloned_from FROM agents WHERE agent_id = ?1", -1, &s,
                         NULL) != SQLITE_OK)
    return MC_EDB;
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int step = sqlite3_step(s), rc = step == SQLITE_DONE ? MC_EINVAL : MC_EDB;
  if (step == SQLITE_ROW) {
    snprintf(out, MC_AGENT_ID_LEN + 1, "%s", col_text(s, 0));
    rc = MC_OK;
  }
  sqlite3_finalize(s);
  return rc;
}

int mc_agent_shed_summary(mc_cloud *c, const char *agent_id, int64_t *reports, int64_t *records,
                          int64_t *bytes) {
  if (!c || !agent_id) return MC_EINVAL;
  sqlite3_stmt *s = mc__stmt(c, MC_ST_SHED_SUMMARY);
  sqlite3_bind_text(s, 1, agent_id, -1, SQLITE_STATIC);
  int rc = MC_EDB;
  if (sqlite3_step(s) == SQLITE_ROW) {
    if (reports) *reports = sqlite3_column_int64(s, 0);
    if (records) *records = sqlite3_column_int64(s, 1);
    if (bytes) *bytes = sqlite3_column_int64(s, 2);
    rc = MC_OK;
  }
  sqlite3_reset(s);
  return rc;
}
