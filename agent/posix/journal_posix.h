/* journal_posix.h - the real journal shim (sd-journal), see shim/journal.h.
 *
 * "No journal" (OS_ENOENT from open) when journald is not running (no
 * /run/systemd/journal/socket) and no journal file exists under
 * /run/log/journal or /var/log/journal: containers. Built without
 * libsystemd (OUTPOST_HAVE_SYSTEMD unset), open returns OS_ENOSYS.
 * One reader per process (the agent has one): the context is static.
 */
#ifndef OUTPOST_POSIX_JOURNAL_POSIX_H
#define OUTPOST_POSIX_JOURNAL_POSIX_H

#include "shim/journal.h"

/* The shim; root "" = the real paths (tests point it at a fake tree to
 * check the "no journal" probe). */
const journal_shim *journal_posix(const char *root);

#endif
