/* vfs.c - SQLite VFS over the os shim (see vfs.h). */
#include "core/vfs.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

typedef struct vfs_file {
  sqlite3_file base; /* first member, as SQLite requires */
  vfs_instance *vfs;
  os_file *f;
  int delete_on_close;
  char path[OS_PATH_MAX];
} vfs_file;

static const os_shim *os_of(sqlite3_vfs *v) { return ((vfs_instance *)v)->os; }

static int map_write_error(vfs_instance *v, int64_t rc) {
  v->last_os_error = (int)rc;
  if (rc == OS_ENOSPC || rc == OS_EDQUOT || rc == OS_EFBIG) return SQLITE_FULL;
  return SQLITE_IOERR_WRITE;
}

static int vf_close(sqlite3_file *file) {
  vfs_file *p = (vfs_file *)file;
  const os_shim *os = p->vfs->os;
  int rc = SQLITE_OK;
  if (p->f) {
    if (os->close(os->ctx, p->f) != OS_OK) rc = SQLITE_IOERR_CLOSE;
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
  if (got < amt) {
    /* SQLite requires the unread tail zero-filled on a short read. */
    memset((char *)buf + got, 0, (size_t)(amt - got));
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

static int vf_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off) {
  vfs_file *p = (vfs_file *)file;
  const os_shim *os = p->vfs->os;
  int64_t n = os->pwrite(os->ctx, p->f, buf, (size_t)amt, off);
  if (n < 0) return map_write_error(p->vfs, n);
  if (n != amt) return SQLITE_IOERR_WRITE;
  return SQLITE_OK;
}

static int vf_truncate(sqlite3_file *file, sqlite3_int64 size) {
  vfs_file *p = (vfs_file *)file;
  const os_shim *os = p->vfs->os;
  int rc = os->truncate(os->ctx, p->f, size);
  if (rc != OS_OK) {
    p->vfs->last_os_error = rc;
    return SQLITE_IOERR_TRUNCATE;
  }
  return SQLITE_OK;
}

static int vf_sync(sqlite3_file *file, int flags) {
  vfs_file *p = (vfs_file *)file;
  const os_shim *os = p->vfs->os;
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
