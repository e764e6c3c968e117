/* rpmhdr.c - rpm header blobs and the SQLite rpmdb, read with every offset
 * checked (see rpmhdr.h). */
#include "core/rpmhdr.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "core/vfs.h"

/* rpm's data types (rpmtag.h): 0 NULL .. 9 I18NSTRING. */
#define T_NULL 0
#define T_CHAR 1
#define T_INT8 2
#define T_INT16 3
#define T_INT32 4
#define T_INT64 5
#define T_STRING 6
#define T_BIN 7
#define T_STRING_ARRAY 8
#define T_I18NSTRING 9

#define ENTRY_SIZE 16
#define ENTRIES_PER_READ 64 /* 1 KiB of index on the stack at a time */

enum { K_NAME, K_VERSION, K_RELEASE, K_EPOCH, K_ARCH, K_COUNT };

typedef struct kept {
  int found;
  uint32_t off;
} kept;

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Bytes per element of a fixed-size type, 0 for the string types. */
static uint32_t type_size(uint32_t type) {
  switch (type) {
    case T_CHAR:
    case T_INT8:
    case T_BIN: return 1;
    case T_INT16: return 2;
    case T_INT32: return 4;
    case T_INT64: return 8;
    default: return 0;
  }
}

static int kept_index(uint32_t tag) {
  switch (tag) {
    case RPMHDR_TAG_NAME: return K_NAME;
    case RPMHDR_TAG_VERSION: return K_VERSION;
    case RPMHDR_TAG_RELEASE: return K_RELEASE;
    case RPMHDR_TAG_EPOCH: return K_EPOCH;
    case RPMHDR_TAG_ARCH: return K_ARCH;
    default: return -1;
  }
}

/* One index entry against a store of dl bytes; kept tags are recorded. */
static int check_entry(const uint8_t *e, uint32_t dl, kept *k) {
  uint32_t tag = be32(e), type = be32(e + 4), off = be32(e + 8), count = be32(e + 12);
  /* off is an int32 on disk: a negative one is huge here, so one test covers both. */
  if (type > T_I18NSTRING || off > dl) return RPMHDR_EENTRY;
  uint64_t room = (uint64_t)dl - off;
  uint32_t size = type_size(type);
  if (size > 1 && off % size != 0) return RPMHDR_EENTRY;
  if (type != T_NULL) {
    /* A string element takes at least its NUL: count bytes is the least it needs. */
    uint64_t need = (uint64_t)count * (size ? size : 1);
    if (count == 0 || need > room) return RPMHDR_EENTRY;
  }
  int ki = kept_index(tag);
  if (ki < 0) return RPMHDR_OK;
  if (k[ki].found) return RPMHDR_ETAG;
  if (ki == K_EPOCH ? (type != T_INT32 || count != 1) : (type != T_STRING || count != 1))
    return RPMHDR_ETAG;
  k[ki].found = 1;
  k[ki].off = off;
  return RPMHDR_OK;
}

/* Copies the string at store offset off (at most RPMHDR_FIELD_MAX-1 bytes). */
static int read_string(rpmhdr_read_fn rd, void *ctx, uint64_t store, uint32_t dl, uint32_t off,
                       char *dst) {
  uint8_t tmp[RPMHDR_FIELD_MAX];
  uint64_t room = (uint64_t)dl - off;
  size_t want = room < sizeof tmp ? (size_t)room : sizeof tmp;
  if (want == 0) return RPMHDR_ESTRING;
  if (rd(ctx, tmp, want, store + off) != 0) return RPMHDR_EREAD;
  size_t n = 0;
  while (n < want && tmp[n] != 0) n++;
  if (n == want) {
    /* No NUL in the window: the store ends first (bad), or the value is long (cut). */
    if (want == room) return RPMHDR_ESTRING;
    n = RPMHDR_FIELD_MAX - 1;
  }
  for (size_t i = 0; i < n; i++) dst[i] = (tmp[i] < 0x20 || tmp[i] == 0x7f) ? '?' : (char)tmp[i];
  dst[n] = 0;
  return RPMHDR_OK;
}

static int parse(rpmhdr_read_fn rd, void *ctx, uint64_t blob_len, rpmhdr_pkg *out) {
  uint8_t intro[8];
  if (blob_len < sizeof intro) return RPMHDR_ESHORT;
  if (rd(ctx, intro, sizeof intro, 0) != 0) return RPMHDR_EREAD;
  uint32_t il = be32(intro), dl = be32(intro + 4);
  /* Unsigned compares: an int32 il or dl below zero is over the cap here. */
  if (il < 1 || il > RPMHDR_IL_MAX || dl < 1 || dl > RPMHDR_DL_MAX) return RPMHDR_ERANGE;
  uint64_t store = 8 + (uint64_t)il * ENTRY_SIZE;
  if (blob_len != store + dl) return RPMHDR_ESHORT;
  kept k[K_COUNT];
  memset(k, 0, sizeof k);
  uint8_t chunk[ENTRIES_PER_READ * ENTRY_SIZE];
  for (uint32_t i = 0; i < il; i += ENTRIES_PER_READ) {
    uint32_t n = il - i < ENTRIES_PER_READ ? il - i : ENTRIES_PER_READ;
    if (rd(ctx, chunk, (size_t)n * ENTRY_SIZE, 8 + (uint64_t)i * ENTRY_SIZE) != 0)
      return RPMHDR_EREAD;
    for (uint32_t j = 0; j < n; j++) {
      int rc = check_entry(chunk + (size_t)j * ENTRY_SIZE, dl, k);
      if (rc != RPMHDR_OK) return rc;
    }
  }
  if (!k[K_NAME].found || !k[K_VERSION].found || !k[K_RELEASE].found) return RPMHDR_EMISSING;
  char *dst[K_COUNT] = {out->name, out->version, out->release, NULL, out->arch};
  for (int i = 0; i < K_COUNT; i++) {
    if (!k[i].found || i == K_EPOCH) continue;
    int rc = read_string(rd, ctx, store, dl, k[i].off, dst[i]);
    if (rc != RPMHDR_OK) return rc;
  }
  if (k[K_EPOCH].found) {
    uint8_t v[4];
    if (rd(ctx, v, sizeof v, store + k[K_EPOCH].off) != 0) return RPMHDR_EREAD;
    out->epoch = (int32_t)be32(v);
    out->has_epoch = 1;
  }
  return RPMHDR_OK;
}

int rpmhdr_parse_read(rpmhdr_read_fn rd, void *ctx, uint64_t blob_len, rpmhdr_pkg *out) {
  if (!out) return RPMHDR_EINVAL;
  memset(out, 0, sizeof *out);
  if (!rd) return RPMHDR_EINVAL;
  int rc = parse(rd, ctx, blob_len, out);
  if (rc != RPMHDR_OK) memset(out, 0, sizeof *out);
  return rc;
}

typedef struct mem_blob {
  const uint8_t *p;
  size_t n;
} mem_blob;

static int mem_read(void *ctx, void *buf, size_t len, uint64_t off) {
  const mem_blob *m = ctx;
  if (off > m->n || len > m->n - off) return -1;
  memcpy(buf, m->p + off, len);
  return 0;
}

int rpmhdr_parse(const uint8_t *blob, size_t len, rpmhdr_pkg *out) {
  if (!blob && len) return out ? (memset(out, 0, sizeof *out), RPMHDR_EINVAL) : RPMHDR_EINVAL;
  mem_blob m = {blob, len};
  return rpmhdr_parse_read(mem_read, &m, len, out);
}

void rpmhdr_evr(const rpmhdr_pkg *p, char *out, size_t cap) {
  if (!cap) return;
  if (p->has_epoch)
    snprintf(out, cap, "%ld:%s-%s", (long)p->epoch, p->version, p->release);
  else
    snprintf(out, cap, "%s-%s", p->version, p->release);
}

/* ---- the database ---------------------------------------------------------- */

const char *rpmhdr_db_state_name(rpmhdr_db_state s) {
  switch (s) {
    case RPMHDR_DB_OK: return "ok";
    case RPMHDR_DB_ABSENT: return "not available";
    case RPMHDR_DB_BDB: return "not supported (bdb)";
    case RPMHDR_DB_NDB: return "not supported (ndb)";
    case RPMHDR_DB_ERROR: return "error";
  }
  return "error";
}

static int is_file(const os_shim *os, const char *dir, const char *name, char *path,
                   size_t cap) {
  os_stat st;
  int w = snprintf(path, cap, "%s/%s", dir, name);
  if (w < 0 || (size_t)w >= cap) return 0;
  return os->stat(os->ctx, path, &st) == OS_OK && !st.is_dir;
}

/* SQLite first wherever it is; then the formats we only name. */
static rpmhdr_db_state probe(const os_shim *os, const char *dir, char *path, size_t cap) {
  static const char *const dirs[] = {"/usr/lib/sysimage/rpm", "/var/lib/rpm"};
  const char *one[1] = {dir};
  const char *const *list = dir ? one : dirs;
  size_t n = dir ? 1 : sizeof dirs / sizeof dirs[0];
  for (size_t i = 0; i < n; i++)
    if (is_file(os, list[i], "rpmdb.sqlite", path, cap)) return RPMHDR_DB_OK;
  for (size_t i = 0; i < n; i++) {
    if (is_file(os, list[i], "Packages.db", path, cap)) return RPMHDR_DB_NDB;
    if (is_file(os, list[i], "Packages", path, cap)) return RPMHDR_DB_BDB;
  }
  return RPMHDR_DB_ABSENT;
}

/* "file:" URI of path: bytes that mean something in a URI are %-escaped. */
static int make_uri(const char *path, char *out, size_t cap) {
  static const char hex[] = "0123456789abcdef";
  static const char tail[] = "?mode=ro&immutable=1";
  size_t n = 0;
  if (cap < 6) return -1;
  memcpy(out, "file:", 5);
  n = 5;
  for (const char *p = path; *p; p++) {
    unsigned char c = (unsigned char)*p;
    int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '/' || c == '.' || c == '_' || c == '-';
    if (n + 4 >= cap) return -1;
    if (plain) {
      out[n++] = (char)c;
    } else {
      out[n++] = '%';
      out[n++] = hex[c >> 4];
      out[n++] = hex[c & 15];
    }
  }
  if (n + sizeof tail > cap) return -1;
  memcpy(out + n, tail, sizeof tail);
  return 0;
}

static int blob_read(void *ctx, void *buf, size_t len, uint64_t off) {
  if (len > INT_MAX || off > INT_MAX) return -1;
  return sqlite3_blob_read((sqlite3_blob *)ctx, buf, (int)len, (int)off) == SQLITE_OK ? 0 : -1;
}

static void set_error(rpmhdr_db_result *res, const char *what, int rc) {
  res->state = RPMHDR_DB_ERROR;
  if (!res->error[0]) snprintf(res->error, sizeof res->error, "%s: %s", what, sqlite3_errstr(rc));
}

/* One row: its header through incremental blob I/O (only what is kept is read). */
static void one_row(sqlite3 *db, sqlite3_int64 rowid, rpmhdr_fn fn, void *user,
                    rpmhdr_db_result *res) {
  sqlite3_blob *b = NULL;
  int rc = sqlite3_blob_open(db, "main", "Packages", "blob", rowid, 0, &b);
  if (rc != SQLITE_OK) {
    sqlite3_blob_close(b);
    set_error(res, "blob", rc);
    res->bad++;
    return;
  }
  rpmhdr_pkg pkg;
  int prc = rpmhdr_parse_read(blob_read, b, (uint64_t)sqlite3_blob_bytes(b), &pkg);
  sqlite3_blob_close(b);
  if (prc != RPMHDR_OK) {
    res->bad++;
    res->state = RPMHDR_DB_ERROR;
    snprintf(res->error, sizeof res->error, "%lld header(s) did not parse (last: %d)",
             (long long)res->bad, prc);
    return;
  }
  res->listed++;
  if (fn && fn(user, &pkg) != 0) res->stopped = 1;
}

static void list_sqlite(sqlite3 *db, int64_t max_pkgs, rpmhdr_fn fn, void *user,
                        rpmhdr_db_result *res) {
  sqlite3_stmt *q = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT rowid FROM Packages ORDER BY rowid", -1, &q, NULL);
  if (rc != SQLITE_OK) {
    set_error(res, "query", rc);
    return;
  }
  /* Bounded by max_pkgs rows (good or bad) plus the one that tells "more". */
  int64_t seen = 0;
  while (!res->stopped) {
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      set_error(res, "read", rc);
      break;
    }
    if (seen >= max_pkgs) {
      res->more = 1;
      break;
    }
    seen++;
    one_row(db, sqlite3_column_int64(q, 0), fn, user, res);
  }
  sqlite3_finalize(q);
}

rpmhdr_db_state rpmhdr_db_list(const os_shim *os, const char *dir, int64_t max_pkgs,
                               rpmhdr_fn fn, void *user, rpmhdr_db_result *res) {
  memset(res, 0, sizeof *res);
  if (!os || !os->stat) return res->state; /* nothing can be looked at: absent */
  char path[OS_PATH_MAX];
  res->state = probe(os, dir, path, sizeof path);
  if (res->state == RPMHDR_DB_BDB || res->state == RPMHDR_DB_NDB) {
    snprintf(res->error, sizeof res->error, "rpm database format not supported (%s)",
             res->state == RPMHDR_DB_BDB ? "bdb" : "ndb");
    return res->state;
  }
  if (res->state != RPMHDR_DB_OK) return res->state;
  /* The VFS needs these; a partial shim (a test's fake) gets an error, not a crash. */
  if (!os->open || !os->close || !os->pread || !os->fstat || !os->stat || !os->random ||
      !os->wall_ms) {
    res->state = RPMHDR_DB_ERROR;
    snprintf(res->error, sizeof res->error, "os shim cannot read files");
    return res->state;
  }
  char uri[OS_PATH_MAX * 3 + 32];
  if (make_uri(path, uri, sizeof uri) != 0) {
    res->state = RPMHDR_DB_ERROR;
    snprintf(res->error, sizeof res->error, "path too long");
    return res->state;
  }
  vfs_instance vfs;
  if (vfs_register(&vfs, os) != VFS_OK) {
    res->state = RPMHDR_DB_ERROR;
    snprintf(res->error, sizeof res->error, "vfs registration failed");
    return res->state;
  }
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, vfs.name);
  if (rc == SQLITE_OK) {
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    /* The file is rpm's, not ours: no schema code of its runs with our rights. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%d", RPMHDR_DB_CACHE_KIB);
    rc = sqlite3_exec(db, pragma, NULL, NULL, NULL);
  }
  if (rc != SQLITE_OK)
    set_error(res, "open", rc);
  else
    list_sqlite(db, max_pkgs > 0 ? max_pkgs : 0, fn, user, res);
  sqlite3_close(db);
  vfs_unregister(&vfs);
  return res->state;
}
