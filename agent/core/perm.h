/* perm.h - self-protecting state files (PRIV-1): at every start the agent
 * re-asserts the owner and mode of its state dir and the files in it, refuses
 * symlinks there, and remembers each repair so the next check-in reports it.
 *
 * Checked: the state dir (0700) and, when present, agent.key, agent.key.new,
 * identity.json, spool.db, spool.db-journal (0600). A mode that differs is
 * reset (chmod) and reported; an owner other than the running user (learnt
 * from a probe file the agent creates, since the shim has no getuid) is given
 * back to the running user (os chown_nofollow, never through a symlink) and
 * reported; a shim without chown_nofollow, or a chown refused (an agent not
 * running as root), leaves the owner as found and reports it. A symlink in place
 * of any of them is refused: the agent does not start (PERM_ESYMLINK), because
 * following it would let whoever planted it redirect the key or the spool, and
 * moving it aside would silently drop the identity.
 *
 * Return codes: PERM_OK (0) or negative:
 *   PERM_ESYMLINK  a symlink where a state file or the dir belongs (err names it)
 *   PERM_EIO       a state file could not be inspected (err says why)
 */
#ifndef OUTPOST_CORE_PERM_H
#define OUTPOST_CORE_PERM_H

#include <stddef.h>
#include <stdint.h>

#include "shim/os.h"

#define PERM_OK 0
#define PERM_ESYMLINK (-1)
#define PERM_EIO (-2)

#define PERM_MAX_DRIFT 8

typedef struct perm_drift {
  char file[32];   /* name inside the state dir, "." for the dir itself */
  uint32_t was_mode, set_mode;
  uint32_t was_uid, uid;
  int repaired;    /* 1: mode and owner now as they must be; 0: something left as found */
} perm_drift;

/* Inspects and repairs state_dir (which may not exist yet: then nothing to do).
 * Fills up to PERM_MAX_DRIFT entries of drift, *n_drift = how many. */
int perm_assert(const os_shim *os, const char *state_dir, perm_drift *drift, int *n_drift,
                char *err, size_t err_cap);

#endif
