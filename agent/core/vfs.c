/* vfs.c - SQLite VFS over the os shim (see vfs.h). */
#include "core/vfs.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

/* The rollback journal's writes are gathered before they reach the OS.
 * SQLite writes a journal as three calls per page (its number, the page, a
 * checksum) and syncs it before it touches the database, so a transaction's
 * journal becomes one pwrite at that sync instead of 3n+1 (issue #14: the
 * drain's time was syscalls). What the kernel may keep after a crash is
 * unchanged: without a sync it may keep any subset of unsynced writes, and
 * every sync still comes after all of them.
 *
 * The rules that keep every error where SQLite expects it (the first try
 * flushed from a read and lost an EIO; the second held writes that grow the
 * file, and a full volume then failed the rollback's own sync):
 * - only bytes the file already has are held (the journal is kept and
 *   overwritten under exclusive locking, so that is most of them); a write
 *   that grows the file goes out at once, so "no space" comes from the write
 *   that needs the space, and a flush never needs any;
 * - only xWrite (when the buffer cannot take the write), xSync and xClose
 *   flush, and each reports a failure as a write failure;
 * - reads and sizes are served from the file and the buffer together;
 * - a failed flush keeps what it could not write, so a rollback still reads
 *   every record SQLite was told was written.
 * The buffer lives only while a transaction writes its journal: it is freed
 * at each flush, so a fleet of idle simulated agents holds none.
 * tests/core/test_vfs.c has one test per rule. */
#define VFS_JOURNAL_BUF_BYTES (64 * 1024)
/* The first allocation holds a steady transaction's journal (the header's
 * sector and three page records); larger ones grow it, up to the bound. */
#define VFS_JOURNAL_BUF_FIRST (20 * 1024)

typedef struct vfs_file {
  sqlite3_file base; /* first member, as SQLite requires */
  vfs_instance *vfs;
  os_file *f;
  int delete_on_close;
  int gathers;          /* the main journal: writes go through buf */
  char *buf;            /* owned; NULL when empty */
  size_t buf_cap;
  size_t buf_len;       /* bytes held, at buf_off in the file */
  sqlite3_int64 buf_off;
  sqlite3_int64 disk_size; /* the file's size as this handle knows it, or -1 */
  char path[OS_PATH_MAX];
} vfs_file;

static const os_shim *os_of(sqlite3_vfs *v) { return ((vfs_instance *)v)->os; }

static int map_write_error(vfs_instance *v, int64_t rc) {
  v->last_os_error = (int)rc;
  if (rc == OS_ENOSPC || rc == OS_EDQUOT || rc == OS_EFBIG) return SQLITE_FULL;
  return SQLITE_IOERR_WRITE;
}

static int flush_gathered(vfs_file *p);

static int vf_close(sqlite3_file *file) {
  vfs_file *p = (vfs_file *)file;
  const os_shim *os = p->vfs->os;
  int rc = p->f ? flush_gathered(p) : SQLITE_OK;
  free(p->buf);
  p->buf = NULL;
  p->buf_cap = 0;
  p->buf_len = 0;
  if (p->f) {
    if (os->close(os->ctx, p->f) != OS_OK && rc == SQLITE_OK) rc = SQLITE_IOERR_CLOSE;
    p->f = NULL;
  }
  if (p->delete_on_close) os->unlink(os->ctx, p->path);
  return rc;
}

static int vf_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off) {
  vfs_file *p = (vfs_file *)file;
  const os_shim *os = p->vfs->os;
  int64_t got = 0;
  /* Bounded: each pread either makes progress or ends the loop. */
  while (got < amt) {
    int64_t n = os->pread(os->ctx, p->f, (char *)buf + got, (size_t)(amt - got), off + got);
    if (n < 0) {
      p->vfs->last_os_error = (int)n;
      return SQLITE_IOERR_READ;
    }
    if (n == 0) break;
    got += n;
  }
  /* SQLite requires the unread tail zero-filled on a short read. */
  if (got < amt) memset((char *)buf + got, 0, (size_t)(amt - got));
  sqlite3_int64 end = off + got; /* where the file's bytes end, for this read */
  if (p->buf_len > 0) {
    sqlite3_int64 b_end = p->buf_off + (sqlite3_int64)p->buf_len;
    sqlite3_int64 lo = off > p->buf_off ? off : p->buf_off;
    sqlite3_int64 hi = off + amt < b_end ? off + amt : b_end;
    if (lo < hi) memcpy((char *)buf + (lo - off), p->buf + (lo - p->buf_off), (size_t)(hi - lo));
    /* Held bytes lie inside the file (vf_write's rule), so this moves the
     * end only if the file was cut short behind our back: then what we
     * hold still counts as written, as a flush would make it. */
    if (b_end > end) end = b_end;
  }
  return end >= off + amt ? SQLITE_OK : SQLITE_IOERR_SHORT_READ;
}

static int write_through(vfs_file *p, const void *buf, size_t amt, sqlite3_int64 off) {
  const os_shim *os = p->vfs->os;
  int64_t n = os->pwrite(os->ctx, p->f, buf, amt, off);
  if (n < 0 || (size_t)n != amt) p->disk_size = -1; /* unknown after a failure */
  if (n < 0) return map_write_error(p->vfs, n);
  if ((size_t)n != amt) return SQLITE_IOERR_WRITE;
  if (p->disk_size >= 0 && off + (sqlite3_int64)amt > p->disk_size)
    p->disk_size = off + (sqlite3_int64)amt;
  return SQLITE_OK;
}

/* Writes what the buffer holds. On failure the unwritten tail stays held, at
 * its own offset, so reads still see it and a later flush retries it. */
static int flush_gathered(vfs_file *p) {
  const os_shim *os = p->vfs->os;
  size_t done = 0;
  /* Bounded: each pwrite either makes progress or ends the loop. */
  while (done < p->buf_len) {
    int64_t n = os->pwrite(os->ctx, p->f, p->buf + done, p->buf_len - done,
                           p->buf_off + (sqlite3_int64)done);
    if (n <= 0) {
      if (done > 0) {
        memmove(p->buf, p->buf + done, p->buf_len - done);
        p->buf_len -= done;
        p->buf_off += (sqlite3_int64)done;
      }
      return n < 0 ? map_write_error(p->vfs, n) : SQLITE_IOERR_WRITE;
    }
    done += (size_t)n;
  }
  free(p->buf);
  p->buf = NULL;
  p->buf_cap = 0;
  p->buf_len = 0;
  return SQLITE_OK;
}

/* The file's size on disk as far as this handle knows, or -1. */
static sqlite3_int64 disk_size(vfs_file *p) {
  if (p->disk_size < 0) {
    os_stat st;
    if (p->vfs->os->fstat(p->vfs->os->ctx, p->f, &st) == OS_OK) p->disk_size = st.size;
  }
  return p->disk_size;
}

static int vf_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off) {
  vfs_file *p = (vfs_file *)file;
  size_t n = (size_t)amt;
  if (!p->gathers) return write_through(p, buf, n, off);
  sqlite3_int64 b_end = p->buf_off + (sqlite3_int64)p->buf_len;
  if (p->buf_len > 0 && off >= p->buf_off && off + amt <= b_end) {
    /* A rewrite of held bytes (the header's record count). */
    memcpy(p->buf + (off - p->buf_off), buf, n);
    return SQLITE_OK;
  }
  int appends = p->buf_len == 0 || off == b_end;
  /* Only bytes the file already has are held: a write that grows the file
   * goes out now, so the volume's "no space" reaches SQLite from the write
   * that needs the space, as without the buffer. Held bytes overwrite
   * allocated ones, so the flush at the sync cannot fail for space and a
   * rollback's zeroing of the header (which syncs) still goes through on a
   * full volume (sim_disk_full's shed reports failed without this). */
  int fits = n <= VFS_JOURNAL_BUF_BYTES && off + amt <= disk_size(p);
  if (p->buf_len > 0 && (!appends || !fits || p->buf_len + n > VFS_JOURNAL_BUF_BYTES)) {
    int rc = flush_gathered(p);
    if (rc != SQLITE_OK) return rc;
  }
  if (!fits) return write_through(p, buf, n, off);
  if (p->buf_len + n > p->buf_cap) {
    size_t cap = p->buf_cap ? p->buf_cap * 2 : VFS_JOURNAL_BUF_FIRST;
    while (cap < p->buf_len + n) cap *= 2;
    if (cap > VFS_JOURNAL_BUF_BYTES) cap = VFS_JOURNAL_BUF_BYTES;
    char *grown = realloc(p->buf, cap);
    if (!grown) {
      int rc = flush_gathered(p);
      return rc != SQLITE_OK ? rc : write_through(p, buf, n, off);
    }
    p->buf = grown;
    p->buf_cap = cap;
  }
  if (p->buf_len == 0) p->buf_off = off;
  memcpy(p->buf + p->buf_len, buf, n);
  p->buf_len += n;
  return SQLITE_OK;
}

static int vf_truncate(sqlite3_file *file, sqlite3_int64 size) {
  vfs_file *p = (vfs_file *)file;
  const os_shim *os = p->vfs->os;
  if (p->buf_len > 0 && size < p->buf_off + (sqlite3_int64)p->buf_len) {
    if (size <= p->buf_off) {
      free(p->buf);
      p->buf = NULL;
      p->buf_cap = 0;
      p->buf_len = 0;
    } else {
      p->buf_len = (size_t)(size - p->buf_off);
    }
  }
  int rc = os->truncate(os->ctx, p->f, size);
  p->disk_size = rc == OS_OK ? size : -1;
  if (rc != OS_OK) {
    p->vfs->last_os_error = rc;
    return SQLITE_IOERR_TRUNCATE;
  }
  return SQLITE_OK;
}

static int vf_sync(sqlite3_file *file, int flags) {
  vfs_file *p = (vfs_file *)file;
  const os_shim *os = p->vfs->os;
  int flushed = flush_gathered(p);
  if (flushed != SQLITE_OK) return flushed;
  int rc = os->sync(os->ctx, p->f);
  if (rc != OS_OK) {
    p->vfs->last_os_error = rc;
    return rc == OS_ENOSPC ? SQLITE_FULL : SQLITE_IOERR_FSYNC;
  }
  return SQLITE_OK;
}

static int vf_file_size(sqlite3_file *file, sqlite3_int64 *size) {
  vfs_file *p = (vfs_file *)file;
  const os_shim *os = p->vfs->os;
  os_stat st;
  int rc = os->fstat(os->ctx, p->f, &st);
  if (rc != OS_OK) {
    p->vfs->last_os_error = rc;
    return SQLITE_IOERR_FSTAT;
  }
  *size = st.size;
  if (p->buf_len > 0 && p->buf_off + (sqlite3_int64)p->buf_len > *size)
    *size = p->buf_off + (sqlite3_int64)p->buf_len;
  return SQLITE_OK;
}

static int vf_lock(sqlite3_file *file, int level) { return SQLITE_OK; }
static int vf_unlock(sqlite3_file *file, int level) { return SQLITE_OK; }
static int vf_check_reserved(sqlite3_file *file, int *out) {
  *out = 0;
  return SQLITE_OK;
}
static int vf_file_control(sqlite3_file *file, int op, void *arg) { return SQLITE_NOTFOUND; }
static int vf_sector_size(sqlite3_file *file) { return 4096; }
static int vf_device_characteristics(sqlite3_file *file) { return 0; }

static const sqlite3_io_methods vfs_io_methods = {
    .iVersion = 1,
    .xClose = vf_close,
    .xRead = vf_read,
    .xWrite = vf_write,
    .xTruncate = vf_truncate,
    .xSync = vf_sync,
    .xFileSize = vf_file_size,
    .xLock = vf_lock,
    .xUnlock = vf_unlock,
    .xCheckReservedLock = vf_check_reserved,
    .xFileControl = vf_file_control,
    .xSectorSize = vf_sector_size,
    .xDeviceCharacteristics = vf_device_characteristics,
};

static int map_open_error(int rc) {
  if (rc == OS_EACCES || rc == OS_EPERM) return SQLITE_PERM;
  if (rc == OS_ENOSPC || rc == OS_EDQUOT) return SQLITE_FULL;
  return SQLITE_CANTOPEN;
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                  int *out_flags) {
  vfs_instance *v = (vfs_instance *)vfs;
  vfs_file *p = (vfs_file *)file;
  memset(p, 0, sizeof *p);
  p->vfs = v;
  if (name) {
    size_t n = strlen(name);
    if (n >= sizeof p->path) return SQLITE_CANTOPEN;
    memcpy(p->path, name, n + 1);
  } else {
    /* Temp files are rare (temp_store=MEMORY); name them randomly beside nothing
     * in particular: SQLite gives no directory, so they live under /tmp. */
    uint8_t rnd[8];
    if (v->os->random(v->os->ctx, rnd, sizeof rnd) != OS_OK) return SQLITE_CANTOPEN;
    snprintf(p->path, sizeof p->path, "/tmp/outpost-etilqs-%02x%02x%02x%02x%02x%02x%02x%02x",
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    flags |= SQLITE_OPEN_DELETEONCLOSE | SQLITE_OPEN_CREATE;
  }
  int of = OS_O_NOFOLLOW;
  if (flags & SQLITE_OPEN_READWRITE) of |= OS_O_READ | OS_O_WRITE;
  else of |= OS_O_READ;
  if (flags & SQLITE_OPEN_CREATE) of |= OS_O_CREATE;
  if (flags & SQLITE_OPEN_EXCLUSIVE) of |= OS_O_EXCL;
  int rc = v->os->open(v->os->ctx, p->path, of, 0600, &p->f);
  if (rc != OS_OK) {
    v->last_os_error = rc;
    return map_open_error(rc);
  }
  p->delete_on_close = (flags & SQLITE_OPEN_DELETEONCLOSE) != 0;
  p->gathers = (flags & SQLITE_OPEN_MAIN_JOURNAL) != 0;
  p->disk_size = -1;
  p->base.pMethods = &vfs_io_methods;
  if (out_flags) *out_flags = flags;
  return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  const os_shim *os = os_of(vfs);
  int rc = os->unlink(os->ctx, name);
  if (rc == OS_ENOENT) return SQLITE_IOERR_DELETE_NOENT;
  return rc == OS_OK ? SQLITE_OK : SQLITE_IOERR_DELETE;
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  const os_shim *os = os_of(vfs);
  os_stat st;
  int rc = os->stat(os->ctx, name, &st);
  /* Like the unix VFS: an empty regular file (a truncated journal) does not count. */
  *out = rc == OS_OK && (st.is_dir || st.size > 0);
  return SQLITE_OK;
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n_out, char *out) {
  size_t n = strlen(name);
  if (name[0] != '/' || n + 1 > (size_t)n_out) return SQLITE_CANTOPEN;
  memcpy(out, name, n + 1);
  return SQLITE_OK;
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out) {
  const os_shim *os = os_of(vfs);
  if (os->random(os->ctx, out, (size_t)n) != OS_OK) memset(out, 0, (size_t)n);
  return n;
}

/* The core never sleeps; SQLite only sleeps on busy locks, which we never have. */
static int v_sleep(sqlite3_vfs *vfs, int micros) { return micros; }

static int v_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
  const os_shim *os = os_of(vfs);
  /* Julian day in ms: Unix epoch is JD 2440587.5. */
  *out = os->wall_ms(os->ctx) + (sqlite3_int64)210866760000000LL;
  return SQLITE_OK;
}

static int v_current_time(sqlite3_vfs *vfs, double *out) {
  sqlite3_int64 ms;
  v_current_time64(vfs, &ms);
  *out = (double)ms / 86400000.0;
  return SQLITE_OK;
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *out) { return 0; }

int vfs_register(vfs_instance *v, const os_shim *os) {
  memset(v, 0, sizeof *v);
  v->os = os;
  snprintf(v->name, sizeof v->name, "outpost-%p", (void *)v);
  v->base.iVersion = 2;
  v->base.szOsFile = (int)sizeof(vfs_file);
  v->base.mxPathname = OS_PATH_MAX - 1;
  v->base.zName = v->name;
  v->base.pAppData = v;
  v->base.xOpen = v_open;
  v->base.xDelete = v_delete;
  v->base.xAccess = v_access;
  v->base.xFullPathname = v_full_pathname;
  v->base.xRandomness = v_randomness;
  v->base.xSleep = v_sleep;
  v->base.xCurrentTime = v_current_time;
  v->base.xGetLastError = v_last_error;
  v->base.xCurrentTimeInt64 = v_current_time64;
  if (sqlite3_vfs_register(&v->base, 0) != SQLITE_OK) return VFS_EREGISTER;
  v->registered = 1;
  return VFS_OK;
}

void vfs_unregister(vfs_instance *v) {
  if (v->registered) sqlite3_vfs_unregister(&v->base);
  v->registered = 0;
}
