/* os_posix.c - Linux implementation of the os shim. See os_posix.h. */
/* O_PATH, AT_EMPTY_PATH: chown through a descriptor that never followed a link. */
#define _GNU_SOURCE
#include "posix/os_posix.h"
#include "posix/journal_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <limits.h>
#include <string.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* EINTR can in theory repeat forever; give up after this many in a row. */
#define POSIX_EINTR_RETRIES 1000
#define POSIX_HOSTNAME_MAX 256
#define POSIX_MACHINE_ID_MAX 256

struct os_file {
  int fd;
};

static int posix_err(int e) {
  switch (e) {
  case EPERM: return OS_EPERM;
  case ENOENT: return OS_ENOENT;
  case EIO: return OS_EIO;
  case EBADF: return OS_EBADF;
  case ENOMEM: return OS_ENOMEM;
  case EACCES: return OS_EACCES;
  case EEXIST: return OS_EEXIST;
  case ENOTDIR: return OS_ENOTDIR;
  case EISDIR: return OS_EISDIR;
  case EINVAL: return OS_EINVAL;
  case EFBIG: return OS_EFBIG;
  case ENOSPC: return OS_ENOSPC;
  case ENAMETOOLONG: return OS_ENAMETOOLONG;
  case ENOSYS: return OS_ENOSYS;
  case ELOOP: return OS_ELOOP;
  case EDQUOT: return OS_EDQUOT;
  default: return OS_EIO;
  }
}

/* Rejects NULL and over-long paths before they reach the kernel, so the
 * OS_PATH_MAX contract holds the same way in simulation and for real. */
static int posix_check_path(const char *path) {
  if (!path) return OS_EINVAL;
  if (strnlen(path, OS_PATH_MAX) >= OS_PATH_MAX) return OS_ENAMETOOLONG;
  return OS_OK;
}

static int64_t posix_clock_ms(clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0) return 0;
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t posix_mono_ms(void *ctx) { return posix_clock_ms(CLOCK_MONOTONIC); }
static int64_t posix_wall_ms(void *ctx) { return posix_clock_ms(CLOCK_REALTIME); }

static int posix_random(void *ctx, void *buf, size_t len) {
  uint8_t *p = buf;
  size_t done = 0;
  int eintr = 0;
  if (!buf && len) return OS_EIO;
  while (done < len) {
    ssize_t n = getrandom(p + done, len - done, 0);
    if (n < 0) {
      if (errno == EINTR && ++eintr < POSIX_EINTR_RETRIES) continue;
      return OS_EIO;
    }
    if (n == 0) return OS_EIO;
    eintr = 0;
    done += (size_t)n;
  }
  return OS_OK;
}

/* The O_NOFOLLOW walk for kernels without openat2 (before 5.6): every
 * directory from "/" is opened with O_PATH | O_NOFOLLOW | O_DIRECTORY
 * relative to the one before, so no component can be a symlink, and the
 * last with the caller's flags plus O_NOFOLLOW. ".." cannot occur: the
 * callers pass normalized absolute paths, and it is refused here too.
 * Returns the fd or -1 with errno set. */
static int posix_open_walk(const char *path, int of, mode_t mode) {
  char comp[NAME_MAX + 1];
  const char *p = path;
  if (*p != '/') {
    errno = EINVAL;
    return -1;
  }
  int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  for (int depth = 0;; depth++) {
    while (*p == '/') p++;
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t len = (size_t)(p - s);
    const char *rest = p;
    while (*rest == '/') rest++;
    if (len == 0 || len > NAME_MAX || depth >= OS_PATH_MAX / 2 ||
        (len == 2 && s[0] == '.' && s[1] == '.')) {
      close(dir);
      errno = len > NAME_MAX ? ENAMETOOLONG : EINVAL;
      return -1;
    }
    memcpy(comp, s, len);
    comp[len] = 0;
    int last = *rest == 0;
    int fd = last ? openat(dir, comp, of | O_NOFOLLOW, mode)
                  : openat(dir, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    if (fd < 0 && !last && e == ENOTDIR) {
      /* O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR: say ELOOP,
       * as openat2 does, when the component is in fact a link. */
      struct stat ls;
      if (fstatat(dir, comp, &ls, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(ls.st_mode)) e = ELOOP;
    }
    close(dir);
    if (fd < 0) {
      errno = e;
      return -1;
    }
    if (last) return fd;
    dir = fd;
  }
}

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
/* struct open_how and RESOLVE_* from linux/openat2.h, which Debian 12's
 * headers have; spelled out so an older libc still builds. */
struct posix_open_how {
  uint64_t flags, mode, resolve;
};
#define POSIX_RESOLVE_NO_MAGICLINKS 0x02
#define POSIX_RESOLVE_NO_SYMLINKS 0x04

/* openat2 with no symlink anywhere in the path; ENOSYS (an older kernel) or
 * EPERM (a seccomp filter that predates openat2) falls back to the walk. */
static int posix_open_nofollow_any(const char *path, int of, mode_t mode, int force_walk) {
  if (!force_walk) {
    struct posix_open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(of | O_NOFOLLOW);
    how.mode = (of & O_CREAT) ? (uint64_t)mode : 0;
    how.resolve = POSIX_RESOLVE_NO_SYMLINKS | POSIX_RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    if (fd >= 0) return (int)fd;
    if (errno != ENOSYS && errno != EPERM) return -1;
  }
  return posix_open_walk(path, of, mode);
}

static int posix_open(void *ctx, const char *path, int flags, uint32_t mode, os_file **out) {
  const int known = OS_O_READ | OS_O_WRITE | OS_O_CREATE | OS_O_EXCL | OS_O_TRUNC |
                    OS_O_NOFOLLOW | OS_O_NOFOLLOW_ANY | OS_O_NONBLOCK;
  os_posix *px = ctx;
  int rc, of, fd, eintr = 0;
  os_file *f;
  if (!out) return OS_EINVAL;
  *out = NULL;
  if ((rc = posix_check_path(path)) != OS_OK) return rc;
  if (flags & ~known) return OS_EINVAL;
  of = O_CLOEXEC | O_NOCTTY | ((flags & OS_O_WRITE) ? O_RDWR : O_RDONLY);
  if (flags & OS_O_CREATE) of |= O_CREAT;
  if (flags & OS_O_EXCL) of |= O_EXCL;
  if (flags & OS_O_TRUNC) of |= O_TRUNC;
  if (flags & OS_O_NOFOLLOW) of |= O_NOFOLLOW;
  if (flags & OS_O_NONBLOCK) of |= O_NONBLOCK;
  f = malloc(sizeof *f);
  if (!f) return OS_ENOMEM;
  for (;;) {
    if (flags & OS_O_NOFOLLOW_ANY)
      fd = posix_open_nofollow_any(path, of, (mode_t)(mode & 07777), px && px->force_walk);
    else
      fd = open(path, of, (mode_t)(mode & 07777));
    if (fd >= 0) break;
    if (errno == EINTR && ++eintr < POSIX_EINTR_RETRIES) continue;
    rc = posix_err(errno);
    free(f);
    return rc;
  }
  f->fd = fd;
  *out = f;
  return OS_OK;
}

static int posix_close(void *ctx, os_file *f) {
  int rc = OS_OK;
  if (!f) return OS_EBADF;
  /* No retry on EINTR: on Linux the fd is gone either way and a retry could
   * close a descriptor another open() just reused. */
  if (close(f->fd) != 0 && errno != EINTR) rc = posix_err(errno);
  free(f);
  return rc;
}

static int64_t posix_pread(void *ctx, os_file *f, void *buf, size_t len, int64_t off) {
  uint8_t *p = buf;
  size_t done = 0;
  int eintr = 0;
  if (!f) return OS_EBADF;
  if (off < 0 || len > (size_t)INT64_MAX || (!buf && len)) return OS_EINVAL;
  while (done < len) {
    ssize_t n = pread(f->fd, p + done, len - done, (off_t)(off + (int64_t)done));
    if (n < 0) {
      if (errno == EINTR && ++eintr < POSIX_EINTR_RETRIES) continue;
      return posix_err(errno);
    }
    if (n == 0) break; /* EOF */
    eintr = 0;
    done += (size_t)n;
  }
  return (int64_t)done;
}

static int64_t posix_pwrite(void *ctx, os_file *f, const void *buf, size_t len, int64_t off) {
  const uint8_t *p = buf;
  size_t done = 0;
  int eintr = 0;
  if (!f) return OS_EBADF;
  if (off < 0 || len > (size_t)INT64_MAX || (!buf && len)) return OS_EINVAL;
  while (done < len) {
    ssize_t n = pwrite(f->fd, p + done, len - done, (off_t)(off + (int64_t)done));
    if (n < 0) {
      if (errno == EINTR && ++eintr < POSIX_EINTR_RETRIES) continue;
      return posix_err(errno);
    }
    /* A zero-length write with bytes left would spin forever; the disk is
     * effectively full. */
    if (n == 0) return OS_ENOSPC;
    eintr = 0;
    done += (size_t)n;
  }
  return (int64_t)done;
}

static int posix_truncate(void *ctx, os_file *f, int64_t size) {
  int eintr = 0;
  if (!f) return OS_EBADF;
  if (size < 0) return OS_EINVAL;
  while (ftruncate(f->fd, (off_t)size) != 0) {
    if (errno == EINTR && ++eintr < POSIX_EINTR_RETRIES) continue;
    return posix_err(errno);
  }
  return OS_OK;
}

static int posix_sync(void *ctx, os_file *f) {
  int eintr = 0;
  if (!f) return OS_EBADF;
  for (;;) {
    if (fdatasync(f->fd) == 0) return OS_OK;
    if (errno == EINTR && ++eintr < POSIX_EINTR_RETRIES) continue;
    if (errno != EINVAL && errno != ENOSYS) return posix_err(errno);
    break;
  }
  /* Some special files refuse fdatasync but accept fsync. */
  eintr = 0;
  for (;;) {
    if (fsync(f->fd) == 0) return OS_OK;
    if (errno == EINTR && ++eintr < POSIX_EINTR_RETRIES) continue;
    return posix_err(errno);
  }
}

static void posix_fill_stat(const struct stat *s, os_stat *st) {
  memset(st, 0, sizeof *st);
  st->dev = (uint64_t)s->st_dev;
  st->ino = (uint64_t)s->st_ino;
  st->size = (int64_t)s->st_size;
  st->mtime_ms = (int64_t)s->st_mtim.tv_sec * 1000 + s->st_mtim.tv_nsec / 1000000;
  st->mode = (uint32_t)(s->st_mode & 07777);
  st->uid = (uint32_t)s->st_uid;
  st->is_dir = S_ISDIR(s->st_mode) ? 1 : 0;
  st->is_symlink = S_ISLNK(s->st_mode) ? 1 : 0;
  st->nlink = (uint32_t)s->st_nlink;
  st->type = S_ISREG(s->st_mode)    ? OS_TYPE_REG
             : S_ISDIR(s->st_mode)  ? OS_TYPE_DIR
             : S_ISLNK(s->st_mode)  ? OS_TYPE_LNK
             : S_ISFIFO(s->st_mode) ? OS_TYPE_FIFO
             : S_ISCHR(s->st_mode)  ? OS_TYPE_CHR
             : S_ISBLK(s->st_mode)  ? OS_TYPE_BLK
             : S_ISSOCK(s->st_mode) ? OS_TYPE_SOCK
                                    : OS_TYPE_OTHER;
}

static int posix_fstat(void *ctx, os_file *f, os_stat *st) {
  struct stat s;
  if (!f) return OS_EBADF;
  if (!st) return OS_EINVAL;
  if (fstat(f->fd, &s) != 0) return posix_err(errno);
  posix_fill_stat(&s, st);
  return OS_OK;
}

static int posix_stat(void *ctx, const char *path, os_stat *st) {
  struct stat s;
  int rc = posix_check_path(path);
  if (rc != OS_OK) return rc;
  if (!st) return OS_EINVAL;
  if (stat(path, &s) != 0) return posix_err(errno);
  posix_fill_stat(&s, st);
  return OS_OK;
}

static int posix_lstat(void *ctx, const char *path, os_stat *st) {
  struct stat s;
  int rc = posix_check_path(path);
  if (rc != OS_OK) return rc;
  if (!st) return OS_EINVAL;
  if (lstat(path, &s) != 0) return posix_err(errno);
  posix_fill_stat(&s, st);
  return OS_OK;
}

static int posix_unlink(void *ctx, const char *path) {
  int rc = posix_check_path(path);
  if (rc != OS_OK) return rc;
  return unlink(path) == 0 ? OS_OK : posix_err(errno);
}

static int posix_rename(void *ctx, const char *from, const char *to) {
  int rc = posix_check_path(from);
  if (rc == OS_OK) rc = posix_check_path(to);
  if (rc != OS_OK) return rc;
  return rename(from, to) == 0 ? OS_OK : posix_err(errno);
}

static int posix_mkdir(void *ctx, const char *path, uint32_t mode) {
  int rc = posix_check_path(path);
  if (rc != OS_OK) return rc;
  return mkdir(path, (mode_t)(mode & 07777)) == 0 ? OS_OK : posix_err(errno);
}

static int posix_chmod(void *ctx, const char *path, uint32_t mode) {
  int rc = posix_check_path(path);
  if (rc != OS_OK) return rc;
  return chmod(path, (mode_t)(mode & 07777)) == 0 ? OS_OK : posix_err(errno);
}

/* The path is opened as O_PATH|O_NOFOLLOW and the owner changed through that
 * descriptor, so a symlink swapped in between the check and the change cannot
 * redirect the chown to another file. */
static int posix_chown_nofollow(void *ctx, const char *path, uint32_t uid) {
  (void)ctx;
  int rc = posix_check_path(path);
  if (rc != OS_OK) return rc;
  int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return posix_err(errno);
  struct stat st;
  if (fstatat(fd, "", &st, AT_EMPTY_PATH) != 0) rc = posix_err(errno);
  else if (S_ISLNK(st.st_mode)) rc = OS_ELOOP;
  else if (fchownat(fd, "", (uid_t)uid, (gid_t)-1, AT_EMPTY_PATH) != 0) rc = posix_err(errno);
  close(fd);
  return rc;
}

/* geteuid, not getuid: the owner of what the agent creates and the uid the
 * kernel checks on every open is the effective one. */
static uint32_t posix_euid(void *ctx) {
  (void)ctx;
  return (uint32_t)geteuid();
}

static int posix_free_space(void *ctx, const char *path, uint64_t *avail, uint64_t *total) {
  struct statvfs v;
  int rc = posix_check_path(path);
  if (rc != OS_OK) return rc;
  if (!avail || !total) return OS_EINVAL;
  if (statvfs(path, &v) != 0) return posix_err(errno);
  /* f_bavail, not f_bfree: blocks reserved for root are not ours to fill. */
  *avail = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
  *total = (uint64_t)v.f_blocks * (uint64_t)v.f_frsize;
  return OS_OK;
}

/* Copies the trimmed text of src[0..n) into buf (cap-1 bytes at most).
 * Returns the copied length, or OS_ENOENT when nothing remains. */
static int posix_put_trimmed(const char *src, size_t n, char *buf, size_t cap) {
  size_t a = 0, b = n, len;
  while (a < b && (unsigned char)src[a] <= ' ') a++;
  while (b > a && (unsigned char)src[b - 1] <= ' ') b--;
  if (a == b) return OS_ENOENT;
  len = b - a;
  if (len > cap - 1) len = cap - 1;
  memcpy(buf, src + a, len);
  buf[len] = 0;
  return (int)len;
}

static int posix_read_small_file(const char *path, char *buf, size_t cap) {
  char tmp[POSIX_MACHINE_ID_MAX];
  size_t got = 0;
  int eintr = 0, fd;
  for (;;) {
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) break;
    if (errno == EINTR && ++eintr < POSIX_EINTR_RETRIES) continue;
    return errno == ENOENT ? OS_ENOENT : posix_err(errno);
  }
  eintr = 0;
  while (got < sizeof tmp) {
    ssize_t n = read(fd, tmp + got, sizeof tmp - got);
    if (n < 0) {
      if (errno == EINTR && ++eintr < POSIX_EINTR_RETRIES) continue;
      int rc = posix_err(errno);
      close(fd);
      return rc;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  close(fd);
  return posix_put_trimmed(tmp, got, buf, cap);
}

static int posix_mac_cmp(const void *a, const void *b) { return strcmp(a, b); }

/* "aa:bb:cc:dd:ee:ff", not all zero. */
static int posix_mac_ok(const char *m) {
  if (strlen(m) != 17) return 0;
  int nonzero = 0;
  for (int i = 0; i < 17; i++) {
    char c = m[i];
    if (i % 3 == 2) {
      if (c != ':') return 0;
    } else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
      nonzero |= c != '0';
    } else {
      return 0;
    }
  }
  return nonzero;
}

static int posix_read_macs(const char *dir, char *buf, size_t cap) {
  char macs[OS_POSIX_MAX_IFACES][18];
  size_t n = 0;
  DIR *d = opendir(dir);
  if (!d) return posix_err(errno);
  struct dirent *e;
  int seen = 0;
  while ((e = readdir(d)) != NULL && seen++ < 4 * OS_POSIX_MAX_IFACES && n < OS_POSIX_MAX_IFACES) {
    if (e->d_name[0] == '.') continue;
    char p[OS_PATH_MAX], val[64] = "";
    struct stat st;
    if (snprintf(p, sizeof p, "%s/%s/device", dir, e->d_name) >= (int)sizeof p) continue;
    if (stat(p, &st) != 0) continue; /* virtual interface */
    if (snprintf(p, sizeof p, "%s/%s/address", dir, e->d_name) >= (int)sizeof p) continue;
    val[0] = 0;
    int got = posix_read_small_file(p, val, sizeof val);
    if (got < 0) continue;
    for (char *c = val; *c; c++)
      if (*c >= 'A' && *c <= 'F') *c = (char)(*c - 'A' + 'a');
    if (!posix_mac_ok(val)) continue;
    memcpy(macs[n++], val, 18);
  }
  closedir(d);
  if (n == 0) return OS_ENOENT;
  qsort(macs, n, sizeof macs[0], posix_mac_cmp);
  char out[OS_POSIX_MAX_IFACES * 18];
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && strcmp(macs[i], macs[i - 1]) == 0) continue; /* bonds share a MAC */
    if (o) out[o++] = ',';
    memcpy(out + o, macs[i], 17);
    o += 17;
  }
  return posix_put_trimmed(out, o, buf, cap);
}

static int posix_read_identity(void *ctx, os_ident_kind kind, char *buf, size_t cap) {
  os_posix *px = ctx;
  if (!buf || cap == 0) return OS_EINVAL;
  buf[0] = 0;
  if (kind == OS_IDENT_HOSTNAME) {
    char host[POSIX_HOSTNAME_MAX + 1];
    if (gethostname(host, POSIX_HOSTNAME_MAX) != 0) return posix_err(errno);
    host[POSIX_HOSTNAME_MAX] = 0; /* gethostname may not terminate on truncation */
    return posix_put_trimmed(host, strlen(host), buf, cap);
  }
  if (kind == OS_IDENT_MACHINE_ID) {
    int rc;
    if (px->machine_id_path[0]) return posix_read_small_file(px->machine_id_path, buf, cap);
    rc = posix_read_small_file(OS_POSIX_DEFAULT_MACHINE_ID, buf, cap);
    if (rc >= 0) return rc;
    return posix_read_small_file(OS_POSIX_FALLBACK_MACHINE_ID, buf, cap);
  }
  if (kind == OS_IDENT_PRODUCT_UUID) {
    int rc = posix_read_small_file(
        px->product_uuid_path[0] ? px->product_uuid_path : OS_POSIX_DEFAULT_PRODUCT_UUID, buf, cap);
    for (char *c = buf; rc > 0 && *c; c++) /* firmware varies the case */
      if (*c >= 'A' && *c <= 'F') *c = (char)(*c - 'A' + 'a');
    return rc;
  }
  if (kind == OS_IDENT_MACS)
    return posix_read_macs(px->net_class_dir[0] ? px->net_class_dir : OS_POSIX_DEFAULT_NET_CLASS,
                           buf, cap);
  return OS_ENOENT;
}

static const char *posix_level_name(os_log_level level) {
  switch (level) {
  case OS_LOG_DEBUG: return "DEBUG";
  case OS_LOG_INFO: return "INFO";
  case OS_LOG_WARN: return "WARN";
  case OS_LOG_ERROR: return "ERROR";
  }
  return "ERROR";
}

static void posix_log(void *ctx, os_log_level level, const char *msg) {
  os_posix *px = ctx;
  char line[OS_POSIX_LOG_LINE_MAX + 64];
  struct timespec ts;
  struct tm tm;
  size_t n, i;
  int eintr = 0;
  if ((int)level < (int)px->log_level) return;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) memset(&ts, 0, sizeof ts);
  if (!gmtime_r(&ts.tv_sec, &tm)) memset(&tm, 0, sizeof tm);
  n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s ", ts.tv_nsec / 1000000L,
                        posix_level_name(level));
  if (!msg) msg = "";
  /* Control characters would let one message forge further log lines. */
  for (i = 0; i < OS_POSIX_LOG_LINE_MAX && msg[i] && n < sizeof line - 1; i++) {
    unsigned char c = (unsigned char)msg[i];
    line[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
  }
  line[n++] = '\n';
  while (write(px->log_fd, line, n) < 0 && errno == EINTR && ++eintr < POSIX_EINTR_RETRIES) {
  }
}

static int posix_realpath(void *ctx, const char *path, char *out, size_t cap) {
  char buf[PATH_MAX];
  size_t n;
  int rc = posix_check_path(path);
  if (rc != OS_OK) return rc;
  if (!out || cap == 0) return OS_EINVAL;
  if (!realpath(path, buf)) return posix_err(errno);
  n = strnlen(buf, sizeof buf);
  if (n >= cap || n >= OS_PATH_MAX) return OS_ENAMETOOLONG;
  memcpy(out, buf, n + 1);
  return OS_OK;
}

static int posix_list_dir(void *ctx, const char *dir, size_t max_entries,
                          int (*fn)(void *user, const char *name), void *user) {
  DIR *d;
  struct dirent *e;
  int calls = 0;
  int rc = posix_check_path(dir);
  if (rc != OS_OK) return rc;
  if (!fn) return OS_EINVAL;
  /* O_CLOEXEC via opendir is implicit in glibc (it opens with O_CLOEXEC). */
  d = opendir(dir);
  if (!d) return posix_err(errno);
  while ((size_t)calls < max_entries && calls < INT_MAX) {
    errno = 0;
    e = readdir(d);
    if (!e) {
      rc = errno ? posix_err(errno) : OS_OK;
      closedir(d);
      return rc == OS_OK ? calls : rc;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    calls++;
    if (fn(user, e->d_name) != 0) break;
  }
  closedir(d);
  return calls;
}

/* statm's second field: resident pages. Read with open/read, no stdio
 * buffer, so the check itself costs no heap. */
/* ASan maps shadow memory and keeps freed blocks in quarantine: the RSS of a
 * sanitizer build says nothing about the agent's own footprint (about 90 MiB
 * for what is 15-18 MiB in the release build), and acting on it would throttle
 * collection in every sanitizer test. The memory cap's reaction is still
 * tested under ASan through the simulator's settable RSS (tests/core/test_caps.c). */
#if defined(__SANITIZE_ADDRESS__)
#define POSIX_RSS_MEANINGLESS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POSIX_RSS_MEANINGLESS 1
#endif
#endif

static int posix_self_rss(void *ctx, uint64_t *bytes) {
  (void)ctx;
#ifdef POSIX_RSS_MEANINGLESS
  (void)bytes;
  return OS_ENOSYS;
#endif
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? OS_ENOSYS : OS_EIO;
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return OS_EIO;
  buf[n] = 0;
  const char *p = buf;
  while (*p && *p != ' ') p++; /* skip size */
  if (*p != ' ') return OS_EIO;
  p++;
  uint64_t pages = 0;
  int digits = 0;
  for (; *p >= '0' && *p <= '9' && digits < 19; p++, digits++) pages = pages * 10 + (uint64_t)(*p - '0');
  long psz = sysconf(_SC_PAGESIZE);
  if (digits == 0 || psz <= 0) return OS_EIO;
  *bytes = pages * (uint64_t)psz;
  return OS_OK;
}

static int posix_self_cpu_ms(void *ctx, int64_t *ms) {
  (void)ctx;
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return OS_ENOSYS;
  *ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  return OS_OK;
}

void os_posix_options_init(os_posix_options *opts) {
  if (!opts) return;
  memset(opts, 0, sizeof *opts);
  opts->log_level = OS_LOG_INFO;
  opts->log_fd = 2;
  opts->machine_id_path = NULL;
}

/* RTM_GETADDR dump over a netlink socket that is never bound: the kernel
 * binds it on the first send, so this works under the seccomp filter that
 * refuses bind(2) (glibc's getifaddrs binds, and fails there). */
static int posix_list_addrs(void *ctx, size_t max_addrs,
                            int (*fn)(void *user, const char *ifname, int family,
                                      const char *addr, unsigned prefix),
                            void *user) {
  if (!fn) return OS_EINVAL;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return OS_EIO;
  struct {
    struct nlmsghdr nh;
    struct ifaddrmsg ifa;
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
  req.nh.nlmsg_type = RTM_GETADDR;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.ifa.ifa_family = AF_UNSPEC;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    close(fd);
    return OS_EIO;
  }
  static char buf[32768]; /* single-threaded shim: no stack burst */
  int calls = 0, done = 0, rc = OS_OK;
  /* Bounded: a dump is a few messages; 1024 reads is far beyond any host. */
  for (int reads = 0; !done && reads < 1024; reads++) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = OS_EIO;
      break;
    }
    for (struct nlmsghdr *nh = (struct nlmsghdr *)(void *)buf; NLMSG_OK(nh, (size_t)n);
         nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
        if (nh->nlmsg_type == NLMSG_ERROR) rc = OS_EIO;
        done = 1;
        break;
      }
      if (nh->nlmsg_type != RTM_NEWADDR || done) continue;
      struct ifaddrmsg *ifa = NLMSG_DATA(nh);
      if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) continue;
      int alen = (int)IFA_PAYLOAD(nh);
      const void *local = NULL, *address = NULL;
      for (struct rtattr *ra = IFA_RTA(ifa); RTA_OK(ra, alen); ra = RTA_NEXT(ra, alen)) {
        if (ra->rta_type == IFA_LOCAL) local = RTA_DATA(ra);
        if (ra->rta_type == IFA_ADDRESS) address = RTA_DATA(ra);
      }
      /* IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer
       * on point-to-point links); IPv6 has IFA_ADDRESS only. */
      const void *a = local ? local : address;
      char text[INET6_ADDRSTRLEN], name[IF_NAMESIZE];
      if (!a || !inet_ntop(ifa->ifa_family, a, text, sizeof text) ||
          !if_indextoname(ifa->ifa_index, name))
        continue;
      if ((size_t)calls >= max_addrs || calls >= INT_MAX) {
        done = 1;
        break;
      }
      calls++;
      if (fn(user, name, ifa->ifa_family == AF_INET ? 4 : 6, text, ifa->ifa_prefixlen)) {
        done = 1;
        break;
      }
    }
  }
  close(fd);
  return rc == OS_OK || calls > 0 ? calls : rc;
}

int os_posix_init(os_shim *out, os_posix *ctx, const os_posix_options *opts) {
  os_posix_options def;
  if (!out || !ctx) return OS_EINVAL;
  if (!opts) {
    os_posix_options_init(&def);
    opts = &def;
  }
  if ((int)opts->log_level < OS_LOG_DEBUG || (int)opts->log_level > OS_LOG_ERROR) return OS_EINVAL;
  if (opts->log_fd < 0) return OS_EINVAL;
  memset(ctx, 0, sizeof *ctx);
  if (opts->machine_id_path) {
    size_t len = strnlen(opts->machine_id_path, OS_PATH_MAX);
    if (len == 0 || len >= OS_PATH_MAX) return OS_EINVAL;
    memcpy(ctx->machine_id_path, opts->machine_id_path, len + 1);
  }
  if (opts->product_uuid_path) {
    size_t len = strnlen(opts->product_uuid_path, OS_PATH_MAX);
    if (len == 0 || len >= OS_PATH_MAX) return OS_EINVAL;
    memcpy(ctx->product_uuid_path, opts->product_uuid_path, len + 1);
  }
  if (opts->net_class_dir) {
    size_t len = strnlen(opts->net_class_dir, OS_PATH_MAX);
    if (len == 0 || len >= OS_PATH_MAX) return OS_EINVAL;
    memcpy(ctx->net_class_dir, opts->net_class_dir, len + 1);
  }
  ctx->log_level = opts->log_level;
  ctx->log_fd = opts->log_fd;
  ctx->force_walk = opts->force_walk != 0;

  memset(out, 0, sizeof *out);
  out->ctx = ctx;
  out->mono_ms = posix_mono_ms;
  out->wall_ms = posix_wall_ms;
  out->random = posix_random;
  out->open = posix_open;
  out->close = posix_close;
  out->pread = posix_pread;
  out->pwrite = posix_pwrite;
  out->truncate = posix_truncate;
  out->sync = posix_sync;
  out->fstat = posix_fstat;
  out->stat = posix_stat;
  out->lstat = posix_lstat;
  out->unlink = posix_unlink;
  out->rename = posix_rename;
  out->mkdir = posix_mkdir;
  out->chmod = posix_chmod;
  out->free_space = posix_free_space;
  out->read_identity = posix_read_identity;
  out->log = posix_log;
  out->realpath = posix_realpath;
  out->list_dir = posix_list_dir;
  out->self_rss = posix_self_rss;
  out->self_cpu_ms = posix_self_cpu_ms;
  out->chown_nofollow = posix_chown_nofollow;
  out->list_addrs = posix_list_addrs;
  out->journal = journal_posix("");
  out->euid = posix_euid;
  return OS_OK;
}
