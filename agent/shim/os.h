/* os.h - the operating-system shim: everything agent/core needs from the host.
 *
 * The core never calls the OS. It calls through an os_shim: a table of
 * function pointers plus a context pointer (the sqlite3_vfs pattern). The real
 * implementation is agent/posix (Linux); the simulator provides simfs/simclock.
 *
 * Conventions
 *   - Every function takes `ctx` (the shim's own context) first.
 *   - Functions returning int return OS_OK (0) or a negative OS_E* code below.
 *     Byte-count functions return the count (>= 0) or a negative OS_E* code.
 *   - Paths are NUL-terminated, at most OS_PATH_MAX bytes including the NUL.
 *   - An os_file handle is owned by the caller from a successful open() until
 *     close(); close() frees it on every path, even when it reports an error.
 *   - No function blocks for long: file I/O is local, clocks and random are cheap.
 *   - Single-threaded: a shim instance is used by one agent on one thread.
 */
#ifndef OUTPOST_SHIM_OS_H
#define OUTPOST_SHIM_OS_H

#include <stddef.h>
#include <stdint.h>

#define OS_PATH_MAX 1024

/* Error codes (negative). Numbering mirrors Linux errno for easy mapping. */
#define OS_OK        0
#define OS_EPERM    (-1)
#define OS_ENOENT   (-2)
#define OS_EIO      (-5)
#define OS_EBADF    (-9)
#define OS_ENOMEM   (-12)
#define OS_EACCES   (-13)
#define OS_EEXIST   (-17)
#define OS_ENOTDIR  (-20)
#define OS_EISDIR   (-21)
#define OS_EINVAL   (-22)
#define OS_EFBIG    (-27)
#define OS_ENOSPC   (-28)
#define OS_ENAMETOOLONG (-36)
#define OS_ENOSYS   (-38)
#define OS_ELOOP    (-40)
#define OS_EDQUOT   (-122)

/* open() flags */
#define OS_O_READ     0x01
#define OS_O_WRITE    0x02 /* read-write */
#define OS_O_CREATE   0x04
#define OS_O_EXCL     0x08
#define OS_O_TRUNC    0x10
#define OS_O_NOFOLLOW 0x20 /* refuse if the final component is a symlink */
/* issue #13 (LOCAL-1): refuse (OS_ELOOP) if ANY component of the path is a
 * symlink, so the file opened is the one at exactly this path at the moment
 * of the open, whatever was swapped in before (Linux: openat2
 * RESOLVE_NO_SYMLINKS, or an O_NOFOLLOW walk from "/" where the kernel lacks
 * openat2). Implies OS_O_NOFOLLOW. */
#define OS_O_NOFOLLOW_ANY 0x40
/* issue #13 (LOCAL-2): never block in open (a FIFO without a writer, a
 * device): the open returns at once and the caller decides on fstat's type.
 * Reads of a regular file are unaffected. */
#define OS_O_NONBLOCK 0x80

typedef struct os_file os_file; /* opaque, defined by each implementation */

typedef struct os_stat {
  uint64_t dev;
  uint64_t ino;
  int64_t size;
  int64_t mtime_ms;
  uint32_t mode; /* permission bits only (0777 etc.) */
  uint32_t uid;
  int is_dir;
  int is_symlink; /* only meaningful from lstat */
  /* issue #13: the file's type and hard-link count, so callers decide on
   * what an open descriptor really is (fstat), never on a path checked
   * earlier. */
  int type;       /* OS_TYPE_* */
  uint32_t nlink;
} os_stat;

#define OS_TYPE_OTHER 0 /* unknown to the shim */
#define OS_TYPE_REG 1
#define OS_TYPE_DIR 2
#define OS_TYPE_LNK 3
#define OS_TYPE_FIFO 4
#define OS_TYPE_CHR 5
#define OS_TYPE_BLK 6
#define OS_TYPE_SOCK 7

/* System identity sources (issue #4 extends the list). */
typedef enum os_ident_kind {
  OS_IDENT_HOSTNAME = 1,
  OS_IDENT_MACHINE_ID = 2,
  /* DMI product UUID (/sys/class/dmi/id/product_uuid on Linux). */
  OS_IDENT_PRODUCT_UUID = 3,
  /* MAC addresses of the physical interfaces, lower-case, sorted, joined by
   * ','; all-zero addresses skipped. OS_ENOENT when there is none. */
  OS_IDENT_MACS = 4,
} os_ident_kind;

typedef enum os_log_level {
  OS_LOG_DEBUG = 0,
  OS_LOG_INFO = 1,
  OS_LOG_WARN = 2,
  OS_LOG_ERROR = 3,
} os_log_level;

typedef struct os_shim {
  void *ctx;

  /* Clocks, in milliseconds. mono never goes backwards (arbitrary origin);
   * wall is Unix time and may jump. Separate on purpose: see STYLE.md. */
  int64_t (*mono_ms)(void *ctx);
  int64_t (*wall_ms)(void *ctx);

  /* Fills buf with len bytes of cryptographic-quality randomness
   * (seeded PRNG in the simulator). OS_OK or OS_EIO. */
  int (*random)(void *ctx, void *buf, size_t len);

  /* Files. open: OS_OK and *out set, or OS_ENOENT/OS_EACCES/OS_EEXIST/
   * OS_ELOOP/OS_EISDIR/OS_ENOSPC/OS_EIO. mode applies on creation.
   * OS_ELOOP: a symlink where OS_O_NOFOLLOW / OS_O_NOFOLLOW_ANY forbid one. */
  int (*open)(void *ctx, const char *path, int flags, uint32_t mode, os_file **out);
  int (*close)(void *ctx, os_file *f);
  /* Positional read/write. read returns bytes read (0 at EOF). write writes
   * all len bytes or returns an error (OS_ENOSPC, OS_EDQUOT, OS_EIO). */
  int64_t (*pread)(void *ctx, os_file *f, void *buf, size_t len, int64_t off);
  int64_t (*pwrite)(void *ctx, os_file *f, const void *buf, size_t len, int64_t off);
  int (*truncate)(void *ctx, os_file *f, int64_t size);
  /* Durability point: data written before sync() survives a crash; data
   * written after the last sync may be lost (the simulator does lose it). */
  int (*sync)(void *ctx, os_file *f);
  int (*fstat)(void *ctx, os_file *f, os_stat *st);
  /* stat follows symlinks; lstat does not. */
  int (*stat)(void *ctx, const char *path, os_stat *st);
  int (*lstat)(void *ctx, const char *path, os_stat *st);
  int (*unlink)(void *ctx, const char *path);
  int (*rename)(void *ctx, const char *from, const char *to); /* atomic replace */
  int (*mkdir)(void *ctx, const char *path, uint32_t mode);   /* OS_EEXIST if present */
  int (*chmod)(void *ctx, const char *path, uint32_t mode);
  /* Bytes available to the agent and total size of the volume holding path. */
  int (*free_space)(void *ctx, const char *path, uint64_t *avail, uint64_t *total);

  /* Reads one identity value as text (trimmed, NUL-terminated, truncated to
   * cap-1). Returns length or OS_ENOENT when the host has no such source. */
  int (*read_identity)(void *ctx, os_ident_kind kind, char *buf, size_t cap);

  /* Agent log output. msg is one line without a newline. */
  void (*log)(void *ctx, os_log_level level, const char *msg);

  /* ---- issue #5 (bounded collection). Optional: NULL where a shim has no
   * such facility; callers must check and degrade (documented per caller). */

  /* Canonical absolute path of an existing path: every symlink followed,
   * "." and ".." removed (realpath(3)). out gets at most cap-1 bytes.
   * OS_OK, OS_ENOENT (a component is missing), OS_ELOOP, OS_EACCES,
   * OS_ENAMETOOLONG. Used to check a path before it is ever opened. */
  int (*realpath)(void *ctx, const char *path, char *out, size_t cap);

  /* Calls fn(user, name) for each entry of directory dir (never "." or
   * ".."), in no particular order, at most max_entries times. fn returning
   * non-zero stops the listing. Returns the number of calls made (>= 0) or
   * OS_ENOENT/OS_ENOTDIR/OS_EACCES/OS_EIO. */
  int (*list_dir)(void *ctx, const char *dir, size_t max_entries,
                  int (*fn)(void *user, const char *name), void *user);

  /* ---- issue #5 (caps). Optional (NULL: the caps module treats RSS as
   * unknown and never acts on it). */

  /* Resident set size of this agent process in bytes (Linux: the second
   * field of /proc/self/statm times the page size). OS_OK, OS_ENOSYS, OS_EIO. */
  int (*self_rss)(void *ctx, uint64_t *bytes);
  /* CPU time this process has used (user + system), in ms (Linux:
   * CLOCK_PROCESS_CPUTIME_ID). OS_OK, OS_ENOSYS. Optional (NULL). */
  int (*self_cpu_ms)(void *ctx, int64_t *ms);

  /* ---- issue #4 (self-protecting files, PRIV-1). Optional: NULL where the
   * shim cannot change owners; perm_assert then reports an owner that drifted
   * and leaves it as found. */

  /* Makes uid the owner of path (the group is left as it is) without ever
   * following a symlink: when path itself is a symlink nothing changes and
   * the answer is OS_ELOOP. OS_OK, OS_ENOENT, OS_EPERM (not privileged),
   * OS_ELOOP, OS_EACCES, OS_EIO. */
  int (*chown_nofollow)(void *ctx, const char *path, uint32_t uid);

  /* ---- issue #5 (interface addresses). Optional (NULL: the interfaces
   * snapshot falls back to PROC/net/if_inet6, IPv6 only). */

  /* Calls fn once per address of every interface (Linux: a netlink RTM_GETADDR dump, no
   * child process): family 4 or 6, addr in the usual text form
   * ("127.0.0.1", "::1"), prefix length. At most max_addrs calls; fn
   * returning non-zero stops. Returns the number of calls (>= 0) or
   * OS_EIO/OS_ENOMEM/OS_ENOSYS. */
  int (*list_addrs)(void *ctx, size_t max_addrs,
                    int (*fn)(void *user, const char *ifname, int family, const char *addr,
                              unsigned prefix),
                    void *user);

  /* ---- issue #5 (event logs). The host's journal (shim/journal.h), or
   * NULL: no journal (the simulator, or a shim without one): the journal
   * source then reports "not available". */
  const struct journal_shim *journal;

  /* ---- issue #13 (who the agent is: PRIV-1, LOCAL-1). Optional (NULL:
   * perm_assert cannot tell the agent's own files from planted ones and
   * refuses to start, PERM_ENOUID). */

  /* The effective uid of this process (Linux: geteuid(2); the simulator: the
   * host's configured uid). The effective uid is the one that matters: it
   * owns the files the agent creates and decides what it may read, so it is
   * the only "running uid" an owner check can compare against. It comes from
   * the kernel, never from a file in the state dir that someone else could
   * have created first. Cannot fail. (perm_assert no longer calls
   * chown_nofollow above: it never gives a file to anyone, see core/perm.h.) */
  uint32_t (*euid)(void *ctx);
} os_shim;

#endif
