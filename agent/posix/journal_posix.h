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

/* The shim; root "" = the host's journal (sd_journal_open, local only);
 * another root = the journal files below <root>/var/log/journal and
 * <root>/run/log/journal (sd_journal_open_directory, SD_JOURNAL_OS_ROOT):
 * tests read a journal written by systemd-journal-remote that way. */
const journal_shim *journal_posix(const char *root);

#endif
