/* perm.h - self-protecting state files (PRIV-1, LOCAL-1): at every start,
 * before anything in it is read, the agent walks its state dir and decides,
 * entry by entry, whether it may go on trusting what is there.
 *
 * Who "the agent" is comes from the os shim (euid: the kernel's answer),
 * never from a file in the state dir: a file someone else created first says
 * who they are, not who we are (issue #13: a planted probe file once made a
 * root agent hand its key to the planter).
 *
 * The walk (bounded: PERM_MAX_DEPTH levels, PERM_DIR_MAX_ENTRIES names per
 * directory, PERM_MAX_ENTRIES in all; more than the agent ever creates there
 * refuses the start, PERM_ELIMIT) lstats every entry, never follows a link,
 * and never changes an owner: giving a file another user could have written
 * to the agent would make that user's content the agent's. The policy per
 * kind of entry (docs/threat-model.md T9, docs/hardening.md):
 *
 *   the state dir itself    owned by another uid: refused (PERM_EFOREIGN).
 *                           A symlink: refused (PERM_ESYMLINK). Mode not
 *                           0700: reset first (closing the door before the
 *                           walk) and reported.
 *   identity and trust      agent.key, agent.key.new, identity.json (and
 *                           their .tmp), everything under update/ (update
 *                           state, version floor, TUF trust roots) and bin/
 *                           (binaries, signatures): owned by another uid:
 *                           refused (PERM_EFOREIGN) - treating them as absent
 *                           would silently re-enroll or forget the version
 *                           floor, so a person must look.
 *   data the agent re-makes spool.db, spool.db-journal, spool.db-reserve,
 *                           policy.json, journal.cursor, status.json (and
 *                           .tmp): owned by another uid: removed (unlinked,
 *                           never followed), reported, treated as absent:
 *                           the cloud resends policy; a foreign spool is
 *                           records the agent did not write.
 *   any other name          owned by another uid: removed and reported (the
 *                           agent never reads it, and nothing of another
 *                           user's stays in its dir); owned by the agent:
 *                           left alone (no chmod: it may be a hard link).
 *   a directory             owned by another uid, at any name: refused
 *                           (PERM_EFOREIGN): its owner may still hold it open
 *                           and plant inside it after the walk.
 *   a symlink               at a name the agent uses: refused
 *                           (PERM_ESYMLINK, err names it); bin/current and
 *                           bin/previous (and their .new), the supervisor's
 *                           own version links, are allowed when owned by the
 *                           agent; at any other name: removed when foreign,
 *                           reported when the agent's own.
 *   mode drift              on the agent's own known files and dirs: reset
 *                           (chmod) and reported: dirs 0700, secrets and data
 *                           0600 at most, status.json 0640 at most, bin/
 *                           files 0755 at most (group/other write and set-id
 *                           bits cleared).
 *
 * Every finding is logged (os->log, WARN) and, up to PERM_MAX_DRIFT, kept in
 * drift for the next check-in (agent_ident.c sends it; the cloud stores each as a
 * permission_drift event). A refusal is not reported to the cloud (the agent
 * does not start): err says which path, which owner, and what to do.
 *
 * Return codes: PERM_OK (0) or negative:
 *   PERM_ESYMLINK  a symlink where a state file or the dir belongs (err names it)
 *   PERM_EIO       an entry could not be inspected or fixed (err says why)
 *   PERM_EFOREIGN  the dir, a directory in it, or a file whose content the agent
 *                  trusts is owned by another uid (err names path and uid)
 *   PERM_ENOUID    the os shim has no euid: own files cannot be told from planted ones
 *   PERM_ELIMIT    deeper than PERM_MAX_DEPTH or more entries than the limits
 */
#ifndef OUTPOST_CORE_PERM_H
#define OUTPOST_CORE_PERM_H

#include <stddef.h>
#include <stdint.h>

#include "shim/os.h"

#define PERM_OK 0
#define PERM_ESYMLINK (-1)
#define PERM_EIO (-2)
#define PERM_EFOREIGN (-3)
#define PERM_ENOUID (-4)
#define PERM_ELIMIT (-5)

/* The cloud stores at most 16 drift entries per check-in (mc_handle.c). */
#define PERM_MAX_DRIFT 16
/* The deepest the agent writes: update/metadata/<n>.root.json and
 * bin/<version>/outpost-agent are at depth 3 (the state dir's own entries
 * are at depth 1); one level of slack. */
#define PERM_MAX_DEPTH 4
/* bin/ keeps a few versions, update/metadata a root chain: far below these. */
#define PERM_DIR_MAX_ENTRIES 512
#define PERM_MAX_ENTRIES 4096

typedef struct perm_drift {
  char file[64];   /* path inside the state dir ("update/state.json"), "." for the dir */
  char action[12]; /* "chmod" (mode reset), "removed" (another user's file
                      unlinked), "reported" (left as found) */
  uint32_t was_mode, set_mode;
  uint32_t was_uid, uid; /* uid: the agent's euid */
  int repaired;    /* 1: the entry is now as it must be (mode reset, or removed) */
} perm_drift;

/* Inspects and repairs state_dir (which may not exist yet: then nothing to
 * do). Fills up to PERM_MAX_DRIFT entries of drift, *n_drift = how many (all
 * findings are logged through os->log, also those beyond the cap). Uses
 * os->euid, lstat, list_dir (NULL: only the names the agent writes at the
 * top level and in update/ are checked), chmod and unlink; never chown. */
int perm_assert(const os_shim *os, const char *state_dir, perm_drift *drift, int *n_drift,
                char *err, size_t err_cap);

#endif
