/* sim_fs.h - an in-memory filesystem per simulated agent, with the file
 * semantics of agent/shim/os.h (POSIX-like), a byte quota, crash durability
 * and write-fault injection.
 *
 * Semantics
 *   - Absolute paths only; repeated and trailing '/' are ignored.
 *   - Links and special files (issue #13): symlinks (sim_fs_symlink, absolute
 *     or relative targets, followed in any component as the kernel does, at
 *     most SIM_FS_MAX_HOPS, OS_O_NOFOLLOW refusing a final one and
 *     OS_O_NOFOLLOW_ANY any one with OS_ELOOP), hard links (sim_fs_link: one
 *     inode, nlink names; sim_fs_copy makes them separate files), FIFOs and
 *     character devices (sim_fs_mknod: read as empty; a FIFO opened without
 *     OS_O_NONBLOCK would block for ever on a real host, so here the open
 *     fails with OS_EIO and is counted in sim_fs_blocked_opens).
 *   - An open handle keeps its file alive after unlink or rename (like POSIX).
 *     Every file gets a new inode number, never reused within one fs.
 *   - mtime comes from the clock given at creation (virtual wall time).
 *   - Quota: the sum of all live files' current sizes (unlinked-but-open files
 *     included) never exceeds quota. A write or truncate that would cross it
 *     fails with OS_ENOSPC and changes nothing. free_space reports
 *     avail = quota - used, total = quota. Crash-undo copies are not counted.
 *   - Durability: sync(f) makes the file's current content its synced content.
 *     sim_fs_crash() reverts every file to its last synced content; a file
 *     created (or first written) but never synced reverts to empty and still
 *     exists. Directory operations (create, mkdir, rename, unlink, chmod) are
 *     durable at once: there is no directory fsync in the shim to wait for.
 *   - A crash kills every handle opened before it: reads through a dead handle
 *     return OS_EBADF, writes/truncates/syncs are silently ignored (OS_OK) so
 *     that a SQLite connection closed after the crash cannot write stale pages.
 *   - Frozen mode (sim_fs_set_frozen) makes every mutating path operation a
 *     silent no-op returning OS_OK and every open fail with OS_EIO; the fleet
 *     runner freezes the fs while it closes a crashed agent so that its
 *     clean-up (e.g. deleting a hot journal) cannot touch the "rebooted" disk.
 *
 * Ownership: the fs owns every file and every handle it returns; close()
 * frees a handle on every path; sim_fs_free() frees the fs, all files and any
 * handle still open (which then must not be used).
 *
 * Return codes: OS_OK or the negative OS_E* codes of os.h: OS_ENOENT,
 * OS_EEXIST, OS_ENOTDIR, OS_EISDIR, OS_EINVAL, OS_ENAMETOOLONG, OS_EBADF,
 * OS_ENOSPC, OS_ENOMEM, OS_EIO (injected or frozen).
 */
#ifndef OUTPOST_SIM_FS_H
#define OUTPOST_SIM_FS_H

#include <stddef.h>
#include <stdint.h>

#include "shim/os.h"

typedef struct sim_fs sim_fs;
typedef int64_t (*sim_fs_clock_fn)(void *ctx);

/* dev is reported in stat; clock (may be NULL: mtime 0) gives mtimes. */
int sim_fs_create(uint64_t dev, uint64_t quota, sim_fs_clock_fn clock, void *clock_ctx,
                  sim_fs **out);
void sim_fs_free(sim_fs *fs); /* safe on NULL */

/* Spare crash-undo blocks shared by the file systems of one thread (a
 * fleet): a sync's freed blocks wait there for the next transaction's
 * instead of going back to the allocator. At most max_blocks are kept
 * (capped at SIM_FS_SPARES_MAX); a sim_fs given one (sim_fs_set_spares,
 * inherited by sim_fs_copy) borrows it: it must outlive every such fs, and
 * must not be shared across threads. sim_fs_spares_new returns NULL on
 * ENOMEM; sim_fs_spares_free is safe on NULL. Without spares (the default)
 * every block is allocated and freed. */
#define SIM_FS_SPARES_MAX 4096
typedef struct sim_fs_spares sim_fs_spares;
sim_fs_spares *sim_fs_spares_new(size_t max_blocks);
void sim_fs_spares_free(sim_fs_spares *s);
void sim_fs_set_spares(sim_fs *fs, sim_fs_spares *s);

int sim_fs_open(sim_fs *fs, const char *path, int flags, uint32_t mode, os_file **out);
int sim_fs_close(sim_fs *fs, os_file *f);
int64_t sim_fs_pread(sim_fs *fs, os_file *f, void *buf, size_t len, int64_t off);
int64_t sim_fs_pwrite(sim_fs *fs, os_file *f, const void *buf, size_t len, int64_t off);
int sim_fs_truncate(sim_fs *fs, os_file *f, int64_t size);
int sim_fs_sync(sim_fs *fs, os_file *f);
int sim_fs_fstat(sim_fs *fs, os_file *f, os_stat *st);
int sim_fs_stat(sim_fs *fs, const char *path, os_stat *st);
int sim_fs_lstat(sim_fs *fs, const char *path, os_stat *st);
int sim_fs_unlink(sim_fs *fs, const char *path);
int sim_fs_rename(sim_fs *fs, const char *from, const char *to);
int sim_fs_mkdir(sim_fs *fs, const char *path, uint32_t mode);
/* An empty directory: OS_OK; OS_EEXIST when it holds entries, OS_ENOTDIR. */
int sim_fs_rmdir(sim_fs *fs, const char *path);
int sim_fs_chmod(sim_fs *fs, const char *path, uint32_t mode);
/* Sets the owner stat reports (a file starts owned by the uid set with
 * sim_fs_set_uid, default 0). Durable at once, like chmod; there are no
 * symlinks to refuse. */
int sim_fs_chown(sim_fs *fs, const char *path, uint32_t uid);
int sim_fs_free_space(sim_fs *fs, const char *path, uint64_t *avail, uint64_t *total);
/* issue #13: the owner of every file and directory created from now on
 * (default 0): the simulated host's uid for its agent, or another user's
 * while the fleet plants files. */
void sim_fs_set_uid(sim_fs *fs, uint32_t uid);
/* Calls fn(user, name) for each entry directly in dir, as the os shim's
 * list_dir: at most max_entries calls, fn returning non-zero stops, fn must
 * not change the fs. Returns the number of calls, or OS_ENOENT, OS_ENOTDIR,
 * OS_EINVAL. */
int sim_fs_list_dir(sim_fs *fs, const char *dir, size_t max_entries,
                    int (*fn)(void *user, const char *name), void *user);

/* Creates path (mode 0644) if missing and appends len bytes; with do_sync the
 * data is durable at once. OS_OK or an error as for open/pwrite. */
int sim_fs_append(sim_fs *fs, const char *path, const void *data, size_t len, int do_sync);
/* Generated lines (issue #15's memory diet). A simulated application's log
 * line is a pure function of (key, no, len): fn writes its len bytes, the
 * final '\n' included, to out. sim_fs_append_line appends line no of len
 * bytes (1..SIM_FS_LINE_MAX) to path as sim_fs_append(fs, path, bytes, len,
 * 1) would: created 0644 if missing, durable at once, fault hooks not
 * counted, OS_ENOSPC when over quota (nothing written). A file that holds
 * only such lines, consecutive in no and of one (fn, key), keeps 2 bytes per
 * line (its length) instead of its bytes and makes them again on read. Any
 * other write, truncate or line out of sequence first turns it into an
 * ordinary file with the same bytes (OS_ENOMEM if that fails: nothing
 * changes). Readers cannot tell the two apart. */
#define SIM_FS_LINE_MAX 32768
typedef void (*sim_fs_line_fn)(uint32_t key, int64_t no, size_t len, char *out);
int sim_fs_append_line(sim_fs *fs, const char *path, sim_fs_line_fn fn, uint32_t key, int64_t no,
                       size_t len);
/* mkdir -p (each missing directory gets mode). */
int sim_fs_mkdirs(sim_fs *fs, const char *path, uint32_t mode);

/* Power loss: see the header comment. */
void sim_fs_crash(sim_fs *fs);
void sim_fs_set_frozen(sim_fs *fs, int frozen);
/* Fault hook: the nth pwrite from now (1 = the next one) fails with err
 * (OS_EIO or OS_ENOSPC) and writes nothing. nth <= 0 clears the hook. */
void sim_fs_fail_write(sim_fs *fs, int64_t nth, int err);
/* Power cut in the middle of the agent's work: just before the nth pwrite
 * from now (1 = the next) the fs crashes (sim_fs_crash), that write is lost,
 * and cb(user) runs so the driver can stop and reboot the agent. nth <= 0
 * disarms. Writes by sim_fs_append do not count (nor for sim_fs_fail_write). */
void sim_fs_power_cut_at(sim_fs *fs, int64_t nth, void (*cb)(void *user), void *user);

/* A disk image of src as a new fs (device dev, same quota and clock): every
 * file with its last synced content, as a VM image or snapshot taken while
 * the host runs would hold (crash-consistent). Directories and modes are
 * copied; inode numbers are new. No handles are open in the copy.
 * OS_OK, OS_ENOMEM, OS_EINVAL. Used for clones (issue #4) and snapshots. */
int sim_fs_copy(sim_fs *src, uint64_t dev, sim_fs **out);

/* issue #13. sim_fs_symlink: path becomes a symlink to target (stored as
 * given). sim_fs_link: a second name for a regular file (OS_EPERM for a
 * directory). sim_fs_mknod: type OS_TYPE_FIFO or OS_TYPE_CHR. All return
 * OS_OK, OS_EEXIST, OS_ENOENT (missing parent), OS_ENOTDIR, OS_EINVAL,
 * OS_ENOMEM. sim_fs_realpath: every symlink followed (OS_ENOENT when the
 * result does not exist, OS_ELOOP past SIM_FS_MAX_HOPS). */
int sim_fs_symlink(sim_fs *fs, const char *target, const char *path);
int sim_fs_link(sim_fs *fs, const char *existing, const char *path);
int sim_fs_mknod(sim_fs *fs, const char *path, int type, uint32_t mode);
int sim_fs_realpath(sim_fs *fs, const char *path, char *out, size_t cap);

/* The attacker between two shim calls: hook(user, fs, path) runs at the
 * start of every sim_fs_open, sim_fs_stat, sim_fs_lstat and sim_fs_realpath
 * (not recursively: the hook may call sim_fs itself), before the path is
 * resolved, so a swap lands between any two of the agent's calls, inside
 * one step. NULL removes it. */
typedef void (*sim_fs_open_hook)(void *user, sim_fs *fs, const char *path);
void sim_fs_set_open_hook(sim_fs *fs, sim_fs_open_hook hook, void *user);

/* The resolved path of the last successful open (what was really opened). */
const char *sim_fs_last_open(const sim_fs *fs);
/* Opens that would have blocked for ever on a real host (a FIFO without
 * OS_O_NONBLOCK). */
int64_t sim_fs_blocked_opens(const sim_fs *fs);

uint64_t sim_fs_used(const sim_fs *fs);
/* Counts the calls that may have changed the file system's names, sizes,
 * types, modes or space used (every write, truncate, unlink, rename, new
 * node, mode or owner, crash, open that creates or truncates, last close of
 * an unlinked file; failed ones too): while it stays the same, so do they.
 * A check that reads only those can skip itself (the simulator's space
 * check after every event). Reads, syncs and other opens and closes leave
 * it as it is. */
uint64_t sim_fs_generation(const sim_fs *fs);
uint64_t sim_fs_quota(const sim_fs *fs);
int64_t sim_fs_open_handles(const sim_fs *fs);
/* Memory the files' contents take (issue #15's budget): buffers, saved
 * blocks and generated lines' tables, counted once per name (a hard-linked
 * file twice). A file's zero tail - zeros written at or past its last
 * non-zero byte, or growth by truncate - takes none. */
uint64_t sim_fs_held_bytes(const sim_fs *fs);

#endif
