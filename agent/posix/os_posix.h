/* os_posix.h - the real os shim (agent/shim/os.h) for Linux.
 *
 * Usage
 *   os_posix px; os_shim os;
 *   os_posix_options o; os_posix_options_init(&o); o.log_level = OS_LOG_DEBUG;
 *   if (os_posix_init(&os, &px, &o) != OS_OK) ...
 *   ... hand &os to the core; px must outlive every use of os ...
 *
 * Ownership
 *   - The caller owns *ctx (any storage: stack, static, heap). os_posix_init
 *     fills it and points out->ctx at it; nothing is allocated, so there is no
 *     destroy function. ctx must outlive every use of the shim.
 *   - Options are copied; the caller may free opts (and machine_id_path)
 *     right after os_posix_init returns.
 *   - os_file handles come from malloc in open() and are freed by close()
 *     on every path (see os.h).
 *   - log_fd is borrowed: the shim never closes it.
 *
 * Behaviour notes
 *   - mono_ms/wall_ms read CLOCK_MONOTONIC/CLOCK_REALTIME through libc
 *     (clock_gettime), so LD_PRELOAD time fakers such as faketime work.
 *   - Files are opened O_CLOEXEC | O_NOCTTY; OS_O_NOFOLLOW maps to O_NOFOLLOW
 *     (a final symlink gives OS_ELOOP); OS_O_NOFOLLOW_ANY to openat2 with
 *     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, or, where openat2 is
 *     missing (ENOSYS) or filtered (EPERM), a walk from "/" opening each
 *     directory O_PATH | O_NOFOLLOW relative to the last (a symlink anywhere
 *     gives OS_ELOOP either way); OS_O_NONBLOCK to O_NONBLOCK. Unknown errno
 *     values map to OS_EIO.
 *   - os_stat.mode holds st_mode & 07777 (permission bits plus
 *     setuid/setgid/sticky, so drift checks can see those too).
 *   - sync() is fdatasync(), falling back to fsync() where fdatasync is not
 *     supported for the file.
 *   - log() writes "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL message\n" (UTC) with one
 *     write() call; messages are cut to OS_POSIX_LOG_LINE_MAX bytes and any
 *     control characters (CR, LF, ...) become spaces, so one call is always
 *     exactly one line.
 *
 *   - OS_IDENT_MACS: interfaces X in net_class_dir with an X/device entry
 *     (physical; veth, bridges, lo have none), X/address read, all-zero and
 *     malformed ones skipped, sorted, joined by ','. At most
 *     OS_POSIX_MAX_IFACES interfaces are looked at.
 *
 * Return codes: os_posix_init returns OS_OK, or OS_EINVAL for NULL out/ctx or
 * an empty or over-long machine_id_path / product_uuid_path / net_class_dir, a negative log_fd, or a log_level
 * out of range.
 */
#ifndef OUTPOST_POSIX_OS_POSIX_H
#define OUTPOST_POSIX_OS_POSIX_H

#include "shim/os.h"

#define OS_POSIX_LOG_LINE_MAX 4096
#define OS_POSIX_DEFAULT_MACHINE_ID "/etc/machine-id"
#define OS_POSIX_FALLBACK_MACHINE_ID "/var/lib/dbus/machine-id"
#define OS_POSIX_DEFAULT_PRODUCT_UUID "/sys/class/dmi/id/product_uuid"
#define OS_POSIX_DEFAULT_NET_CLASS "/sys/class/net"
#define OS_POSIX_MAX_IFACES 64 /* interfaces considered for OS_IDENT_MACS */

typedef struct os_posix_options {
  os_log_level log_level;      /* messages below this are dropped; default OS_LOG_INFO */
  int log_fd;                  /* destination; default 2 (stderr) */
  /* NULL (default): read /etc/machine-id, then /var/lib/dbus/machine-id.
   * Set: read only this file (tests, containers with a bind-mounted id). */
  const char *machine_id_path;
  /* NULL (default): /sys/class/dmi/id/product_uuid. Set: read only this file. */
  const char *product_uuid_path;
  /* NULL (default): /sys/class/net. Tests point it at a fake tree. */
  const char *net_class_dir;
  /* 0 (default): OS_O_NOFOLLOW_ANY uses openat2 where the kernel has it.
   * 1: always the O_NOFOLLOW walk (the pre-5.6 path), for its tests. */
  int force_walk;
} os_posix_options;

typedef struct os_posix {
  os_log_level log_level;
  int log_fd;
  char machine_id_path[OS_PATH_MAX]; /* "" = default search */
  char product_uuid_path[OS_PATH_MAX]; /* "" = OS_POSIX_DEFAULT_PRODUCT_UUID */
  char net_class_dir[OS_PATH_MAX];     /* "" = OS_POSIX_DEFAULT_NET_CLASS */
  int force_walk;
} os_posix;

/* Fills *opts with the defaults above. */
void os_posix_options_init(os_posix_options *opts);

/* Fills *ctx from opts (NULL = defaults) and *out with the Linux shim whose
 * ctx is ctx. Returns OS_OK or OS_EINVAL. */
int os_posix_init(os_shim *out, os_posix *ctx, const os_posix_options *opts);

#endif
