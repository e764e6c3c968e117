/* jread.h - the "journal" event-log source (issue #5).
 *
 * Reads the host's journal through a journal_shim (shim/journal.h) into the
 * spool with source "journal", one JSON object per entry:
 *   {"journal":"entry","ts_us":T,"priority":P,"ident":"sshd","message":"..."}
 * The position is a cursor persisted in state_dir/journal.cursor (written
 * atomically after the entries are in the spool: a crash in between sends
 * them again, never loses them). No cursor yet = start at the end (no flood
 * of history on first start); an unknown cursor (rotated away) = the end.
 * A host without a journal gets one record
 *   {"journal":"not available","reason":"..."}
 * and the state JREAD_UNAVAILABLE, tried again every JREAD_RETRY_MS. With
 * no journal shim at all (NULL: the simulator) the state is the same but no
 * record is sent (a simulated fleet's ledger counts log lines exactly).
 *
 * Ownership: jread_open allocates, jread_close frees (safe on NULL) and
 * closes the shim. The shim, os shim and spool are borrowed per call.
 * Return codes: JREAD_OK (0), JREAD_ENOMEM.
 */
#ifndef OUTPOST_CORE_JREAD_H
#define OUTPOST_CORE_JREAD_H

#include <stdint.h>

#include "core/spool.h"
#include "shim/journal.h"
#include "shim/os.h"

#define JREAD_OK 0
#define JREAD_ENOMEM (-1)

#define JREAD_RETRY_MS 600000
#define JREAD_SKIP_MAX 4096
#define JREAD_CURSOR_FILE "journal.cursor"

typedef enum jread_state {
  JREAD_UNKNOWN = 0,     /* not polled yet */
  JREAD_UNAVAILABLE = 1, /* no journal on this host (or no sd-journal) */
  JREAD_READING = 2,
  JREAD_ERROR = 3, /* read or spool error; retried */
  JREAD_OFF = 4,   /* the policy turned it off (journal.enabled false) */
} jread_state;

typedef struct jread jread;

int jread_open(const char *state_dir, jread **out);
void jread_close(jread *j, const journal_shim *js);

/* Spools at most max entries that are there now (max <= 0: nothing), only
 * those with a priority <= max_priority (0..7; an entry without one counts
 * as 6, info, as journald does); skipped entries move the cursor too, at most
 * JREAD_SKIP_MAX per call. *lines accumulates records spooled; *more is set
 * when entries remain. */
void jread_poll(jread *j, const journal_shim *js, const os_shim *os, spool *sp, int64_t wall,
                int64_t now, int64_t max, int max_priority, int64_t *lines, int *more);

/* Deletes the persisted cursor (the policy turned the journal off). */
void jread_forget(jread *j, const os_shim *os);

jread_state jread_get_state(const jread *j);
const char *jread_state_name(jread_state s); /* "not available", "reading", ... */

#endif
