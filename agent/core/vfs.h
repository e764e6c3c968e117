/* vfs.h - a SQLite VFS built on the os shim, so the real SQLite code runs on the
 * real filesystem in production and on simfs in the simulator, where it really
 * sees SQLITE_FULL when a simulated disk fills.
 *
 * Each agent owns one vfs_instance (the os shim differs per agent); it is
 * registered with SQLite under a unique name derived from its address and must
 * be unregistered (vfs_unregister) after every connection using it is closed.
 *
 * Locking: the xLock family are no-ops. The spool is private to one agent
 * process (its state dir is 0700) and is opened with locking_mode=EXCLUSIVE;
 * two agents on one state dir are prevented at a higher level (issue #4).
 *
 * The main journal's writes are held in memory (at most 64 KiB, freed at each
 * flush) until its sync, a write that cannot join them, or its close, and are
 * read back from there: see vfs.c for why and for the rules.
 *
 * Return codes: VFS_OK (0) or VFS_EREGISTER (-1) when SQLite refuses.
 */
#ifndef OUTPOST_CORE_VFS_H
#define OUTPOST_CORE_VFS_H

#include <sqlite3.h>

#include "shim/os.h"

#define VFS_OK 0
#define VFS_EREGISTER (-1)

typedef struct vfs_instance {
  sqlite3_vfs base; /* first member: SQLite hands us back this pointer */
  const os_shim *os;
  char name[40];
  int registered;
  /* Last OS error seen, for messages ("spool write failed: no space"). */
  int last_os_error;
} vfs_instance;

int vfs_register(vfs_instance *v, const os_shim *os);
void vfs_unregister(vfs_instance *v);

#endif
