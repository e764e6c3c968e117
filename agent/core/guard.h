/* guard.h - opening a collected file so that the decision is made on the open
 * descriptor, never on a path checked earlier (issue #13: COL-2, LOCAL-1,
 * LOCAL-2).
 *
 * Every read of a collected log file (local config sources, files a policy
 * added, the rotated copy PATH.1) goes through guard_open, before every read:
 *   1. policy_check_path on the path, which is canonical (guard_canonical, or
 *      a policy file's resolved path): the compiled-in deny list, outside the
 *      state dir, under an allowed root; and it must still resolve to
 *      itself: a symlink that appeared in any component is refused.
 *   2. lstat of the canonical path: anything but a regular file (a FIFO, a
 *      device, a socket, a directory) is refused before it is ever opened,
 *      so opening it cannot block or have side effects.
 *   3. open(canonical, READ | NOFOLLOW_ANY | NONBLOCK): a symlink swapped into
 *      ANY component since step 1 makes the open fail (OS_ELOOP), so the file
 *      opened is the one at the checked path at the moment of the open; and
 *      the open never blocks.
 *   4. fstat of the descriptor: a regular file (type swapped since step 2?)
 *      with exactly one link (a hard link can give a denied file a harmless
 *      name in a log directory). The caller then reads only through this
 *      descriptor and compares its device and inode with what it knew.
 * What remains (docs/policy.md, "What the guard guarantees"): a bind mount
 * (root only) or a file the attacker owns and writes themselves (their own
 * data, not a secret).
 *
 * lim may be NULL: then the deny list and the state dir rule still apply
 * (every path is "under an allowed root"), as for the local config's sources.
 * Test builds compiled with OUTPOST_TEST_NO_USERSPACE_PATH_CHECK skip step 1
 * (to prove the kernel's Landlock wall alone keeps secrets out); the shipped
 * binaries never define it.
 *
 * Ownership: on GUARD_OK *out is an open handle the caller closes with
 * os->close; on any other result nothing is open.
 *
 * Return codes: GUARD_OK (0) or negative:
 *   GUARD_ENOENT    the file (or its directory) does not exist: may appear later
 *   GUARD_EREFUSED  refused by a rule above, or by the kernel (open: EACCES/EPERM,
 *                   e.g. Landlock); why names the rule and the path
 *   GUARD_EIO       the file could not be inspected or opened (*os_error)
 */
#ifndef OUTPOST_CORE_GUARD_H
#define OUTPOST_CORE_GUARD_H

#include <stddef.h>

#include "core/policy.h"
#include "shim/os.h"

#define GUARD_OK 0
#define GUARD_ENOENT (-1)
#define GUARD_EREFUSED (-2)
#define GUARD_EIO (-3)

#define GUARD_WHY_MAX 320
/* A refused file is looked at again this long after (the callers' slow
 * schedule, LOCAL-2): its offset is kept meanwhile, so nothing is lost. */
#define GUARD_RECHECK_MS 30000

int guard_open(const policy_limits *lim, const os_shim *os, const char *path, os_file **out,
               os_stat *st, int *os_error, char *why, size_t why_cap);

/* The canonical path to collect a configured path as, fixed once (at start
 * for the local config's sources): "." and ".." folded, the DIRECTORY
 * resolved through os->realpath (an administrator's /var/log -> /data/log
 * keeps working), the final component taken as it is, so the file itself is
 * never a symlink. A directory that does not exist yet stays lexical.
 * GUARD_OK or GUARD_EREFUSED (not a clean absolute path, or too long). */
int guard_canonical(const os_shim *os, const char *path, char *out, size_t cap);

/* A short name for an OS_TYPE_* ("FIFO", "character device", ...). */
const char *guard_type_name(int type);

#endif
