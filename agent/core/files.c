/* files.c - small-file helpers over the os shim (see files.h). */
#include "core/files.h"

#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

int files_join(char *out, size_t cap, const char *dir, const char *name) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  return n < 0 || (size_t)n >= cap ? OS_ENAMETOOLONG : OS_OK;
}

int files_read_small(const os_shim *os, const char *path, void *buf, size_t cap, size_t *len) {
  *len = 0;
  os_file *f = NULL;
  int rc = os->open(os->ctx, path, OS_O_READ | OS_O_NOFOLLOW, 0, &f);
  if (rc != OS_OK) return rc;
  os_stat st;
  rc = os->fstat(os->ctx, f, &st);
  if (rc == OS_OK && (st.size < 0 || (uint64_t)st.size > cap)) rc = OS_EFBIG;
  size_t got = 0;
  while (rc == OS_OK && got < (size_t)st.size) {
    int64_t n = os->pread(os->ctx, f, (char *)buf + got, (size_t)st.size - got, (int64_t)got);
    if (n < 0) rc = (int)n;
    else if (n == 0) break;
    else got += (size_t)n;
  }
  os->close(os->ctx, f);
  if (rc == OS_OK) *len = got;
  return rc;
}

int files_write_atomic(const os_shim *os, const char *path, const void *data, size_t len,
                       uint32_t mode) {
  char tmp[OS_PATH_MAX];
  int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (n < 0 || (size_t)n >= sizeof tmp) return OS_ENAMETOOLONG;
  os->unlink(os->ctx, tmp); /* a leftover from a crash */
  os_file *f = NULL;
  int rc = os->open(os->ctx, tmp, OS_O_READ | OS_O_WRITE | OS_O_CREATE | OS_O_EXCL | OS_O_NOFOLLOW,
                    mode, &f);
  if (rc != OS_OK) return rc;
  int64_t w = os->pwrite(os->ctx, f, data, len, 0);
  if (w < 0) rc = (int)w;
  if (rc == OS_OK) rc = os->sync(os->ctx, f);
  int crc = os->close(os->ctx, f);
  if (rc == OS_OK) rc = crc;
  if (rc == OS_OK) rc = os->chmod(os->ctx, tmp, mode);
  if (rc == OS_OK) rc = os->rename(os->ctx, tmp, path);
  if (rc != OS_OK) os->unlink(os->ctx, tmp);
  return rc;
}

int files_ensure_dir(const os_shim *os, const char *path, uint32_t mode) {
  os_stat st;
  int rc = os->lstat(os->ctx, path, &st);
  if (rc == OS_ENOENT) {
    rc = os->mkdir(os->ctx, path, mode);
    if (rc != OS_OK) return rc;
    return os->chmod(os->ctx, path, mode); /* umask may have narrowed it */
  }
  if (rc != OS_OK) return rc;
  if (st.is_symlink) return OS_ELOOP;
  if (!st.is_dir) return OS_ENOTDIR;
  if ((st.mode & 07777) != mode) return os->chmod(os->ctx, path, mode);
  return OS_OK;
}

const char *files_strerror(int e) {
  switch (e) {
    case OS_OK: return "ok";
    case OS_EPERM: return "operation not permitted";
    case OS_ENOENT: return "no such file or directory";
    case OS_EIO: return "I/O error";
    case OS_EBADF: return "bad file handle";
    case OS_ENOMEM: return "out of memory";
    case OS_EACCES: return "permission denied";
    case OS_EEXIST: return "already exists";
    case OS_ENOTDIR: return "not a directory";
    case OS_EISDIR: return "is a directory";
    case OS_EINVAL: return "invalid argument";
    case OS_EFBIG: return "file too large";
    case OS_ENOSPC: return "no space left on device";
    case OS_ENAMETOOLONG: return "path too long";
    case OS_ENOSYS: return "not supported";
    case OS_ELOOP: return "refusing to follow a symlink";
    case OS_EDQUOT: return "disk quota exceeded";
    default: return "unknown error";
  }
}
