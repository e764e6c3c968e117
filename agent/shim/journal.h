/* journal.h - the event-log shim: the host's systemd journal (issue #5).
 *
 * Kept apart from os.h so agent/core stays OS-free and the simulator needs
 * nothing: a NULL journal shim means "no journal on this host". The real
 * implementation is agent/posix/journal_posix.c (sd-journal); tests use a
 * fake one. Functions return OS_OK or a negative OS_E* code (shim/os.h).
 * Single-threaded, like os_shim.
 */
#ifndef OUTPOST_SHIM_JOURNAL_H
#define OUTPOST_SHIM_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "shim/os.h"

#define JOURNAL_CURSOR_MAX 512
#define JOURNAL_MESSAGE_MAX 1024
#define JOURNAL_IDENT_MAX 64

typedef struct journal_entry {
  char cursor[JOURNAL_CURSOR_MAX]; /* opaque position of this entry */
  char ident[JOURNAL_IDENT_MAX];   /* SYSLOG_IDENTIFIER or _COMM, "" if none */
  char message[JOURNAL_MESSAGE_MAX]; /* MESSAGE, cut to fit, NUL-terminated */
  int64_t realtime_us;              /* when it was logged (Unix time) */
  int priority;                     /* 0..7, -1 if none */
} journal_entry;

typedef struct journal_shim {
  void *ctx;
  /* OS_OK; OS_ENOENT: this host has no journal (no journald, no journal
   * files: containers); OS_ENOSYS: built without sd-journal; OS_EIO. */
  int (*open)(void *ctx);
  /* Positions just after cursor; NULL or "" = at the end (only entries
   * logged from now on). OS_OK, or OS_EINVAL when the cursor is unknown
   * (rotated away): the caller then seeks the end. */
  int (*seek)(void *ctx, const char *cursor);
  /* 1 and *out filled, 0 when there is no entry yet, or OS_EIO. */
  int (*next)(void *ctx, journal_entry *out);
  void (*close)(void *ctx); /* safe when not open */
} journal_shim;

#endif
