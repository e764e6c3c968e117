/* tail.h - follow one text log file into the spool.
 *
 * Only complete lines are consumed: the offset advances to just past the last
 * newline read, in the same spool transaction as the records it produced, so
 * a partial last line waits (on disk, not in memory) until it is completed.
 * NUL bytes are stored as '?': records are text (docs/architecture.md).
 * One '\r' right before the '\n' is dropped (CRLF); any other '\r' is kept.
 * A line longer than max_line bytes is cut to max_line bytes plus the marker
 * TAIL_TRUNCATED_MARKER, and the rest of it, up to its newline, is skipped.
 * Ownership: a tail_source may hold one open file between calls (a rotated
 * copy being drained); tail_source_release closes it.
 *
 * Identity and rotation (issue #3): a file is the same file while its device,
 * inode and fingerprint (its first up to TAIL_FP_BYTES bytes) match and it is
 * not shorter than the offset. Otherwise (rename rotation, copytruncate,
 * truncation, delete and re-create, inode reuse; also while the agent was
 * stopped) the rest of the old file is first read from its rotated copy
 * path + ".1" when that copy has the old fingerprint, then the new file from
 * offset 0. Copytruncate's one unavoidable window: lines written between the
 * copy and the truncate are in neither file (docs/operations.md). A missing
 * file is not an error: it may appear later.
 *
 * Every open goes through guard_open (core/guard.h) with src->guard, before
 * every read: the deny list and roots on the path, then no symlink at any
 * component, a regular file with one link, decided on the open descriptor
 * (issue #13). A refusal leaves the state as it was (nothing read) and says
 * why in src->why; the caller reports it and re-checks on a slow schedule.
 *
 * Return codes: TAIL_OK (0) or negative:
 *   TAIL_ESPOOL  the spool refused the write (spool_errmsg says why; SPOOL_EFULL
 *                shows as TAIL_EFULL); the offset did not advance
 *   TAIL_EFULL   the spool is full: back-pressure, try later
 *   TAIL_EIO     the file could not be read (OS error in *os_error)
 */
#ifndef OUTPOST_CORE_TAIL_H
#define OUTPOST_CORE_TAIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/guard.h"
#include "core/spool.h"
#include "shim/os.h"

#define TAIL_OK 0
#define TAIL_ESPOOL (-1)
#define TAIL_EFULL (-2)
#define TAIL_EIO (-3)
#define TAIL_EREFUSED (-4) /* guard_open refused the file: src->why says why */

#define TAIL_TRUNCATED_MARKER " [truncated by outpost]"
#define TAIL_MAX_LINES_PER_TXN 1024
#define TAIL_MAX_CHUNKS_PER_POLL 16
#define TAIL_FP_BYTES 256 /* identity: dev + inode + FNV-1a of up to the first 256 bytes */
/* Issue #17: while a source stays unreadable, one summary line this often. */
#define TAIL_SUMMARY_MS_DEFAULT INT64_C(3600000)
#define TAIL_SUMMARY_MS_MIN INT64_C(60000)

/* What the log has said about a source that cannot be read (issue #17): an
 * unreadable source is polled every poll_interval_ms (a refused one every
 * GUARD_RECHECK_MS), but said once when it changes, then summarised. Kept
 * per source, zeroed with it; bounded (one reason string, counters). */
typedef struct tail_health {
  int64_t failed;       /* polls failed in this episode; 0 = readable */
  int64_t since_mono;   /* the episode's first failed poll (the caller's now) */
  int64_t since_wall;   /* the same moment as wall ms, for the log */
  int64_t next_summary; /* mono ms of the next "still unreadable" line */
  char reason[GUARD_WHY_MAX]; /* the reason said last */
} tail_health;

typedef struct tail_source {
  char path[CONFIG_PATH_MAX];
  config_start start;
  spool_source_state st;
  int loaded;
  /* The canonical path opened (guard.h); "" = path. path stays the key of
   * the state in the spool. */
  char open_path[CONFIG_PATH_MAX];
  /* The limits every open is checked against (borrowed; NULL: the deny list
   * and nothing else, see guard.h). */
  const policy_limits *guard;
  char why[GUARD_WHY_MAX];   /* the last refusal, for the caller's report */
  int64_t recheck_at;        /* the caller's: mono ms before which a refused file is skipped */
  int absent;                /* the last poll found no file (not an error: it may appear) */
  tail_health health;        /* the caller's, through tail_health_note */
  /* The rotated copy being drained (issue #14), kept open between polls so
   * that a drain spread over many steps reads the file it started on, even
   * if it is rotated again (PATH.1 -> PATH.2) or deleted meanwhile. Owned:
   * tail_source_release closes it. NULL when no drain is under way. */
  os_file *rotated;
  const os_shim *rotated_os;
} tail_source;

/* Closes what src holds open (a rotated copy being drained). Call before
 * a tail_source is freed or forgotten; safe on one that holds nothing.
 * The offsets are in the spool: the next tail_poll opens what it needs. */
void tail_source_release(tail_source *src);

/* Scratch memory owned by the agent and shared by all its sources. */
typedef struct tail_buffers {
  char *chunk;      /* read_chunk_bytes */
  size_t chunk_cap;
  char *line;       /* max_line + marker, for the truncated copy */
  size_t max_line;
  spool_line *lines; /* TAIL_MAX_LINES_PER_TXN */
} tail_buffers;

int tail_buffers_init(tail_buffers *b, size_t chunk_cap, size_t max_line);
void tail_buffers_free(tail_buffers *b);

/* Reads what is new in src into sp: at most TAIL_MAX_CHUNKS_PER_POLL chunks
 * per call, of the rotated copy being drained or of the file, so one call's
 * work is bounded whatever the backlog (issue #14).
 * *lines_out: records spooled; *more: 1 when data was left unread (call again
 * soon). ts_ms stamps the records. */
int tail_poll(tail_source *src, const os_shim *os, spool *sp, tail_buffers *b, int64_t ts_ms,
              int64_t *lines_out, int *more, int *os_error);

/* tail_poll with a record budget (issue #5, core/caps.h): spools at most
 * max_lines records; the offset stops after the last one, so the rest waits
 * on disk (back-pressure, nothing dropped). *limited is 1 when data was left
 * because of the budget (then *more is 0: wait for tokens, not for the next
 * millisecond). A rotated file left half-drained stays the current one
 * until it is drained. max_lines <= 0 reads nothing. */
int tail_poll_max(tail_source *src, const os_shim *os, spool *sp, tail_buffers *b, int64_t ts_ms,
                  int64_t max_lines, int64_t *lines_out, int *more, int *limited, int *os_error);

/* What a poll's result means for the agent's log (issue #17). The caller
 * passes tail_poll_max's rc and os_error, its cached now (monotonic ms) and
 * wall (ms since the epoch, only printed), and the summary period. Returns
 * 1 with one line in msg (at most cap bytes, NUL-terminated) and its level
 * in *level when something is to be said, else 0:
 *   - readable -> unreadable (TAIL_EIO: the OS error; TAIL_EREFUSED:
 *     src->why): WARN "source P unreadable: R", once;
 *   - the reason changed while unreadable: WARN, once per change;
 *   - still unreadable at the first poll period_ms after the change, then
 *     every period_ms: WARN "source P still unreadable since T (D s): R;
 *     N polls failed";
 *   - unreadable -> readable (TAIL_OK): INFO "source P readable again" with
 *     the episode's length and failed polls (or, when the file is gone
 *     rather than readable, that it will be read when it appears).
 * Spool results (TAIL_EFULL, TAIL_ESPOOL) say nothing about the file and
 * leave the health as it is. No state outside src->health; no clock read. */
int tail_health_note(tail_source *src, int rc, int os_error, int64_t now, int64_t wall,
                     int64_t period_ms, os_log_level *level, char *msg, size_t cap);

#endif
